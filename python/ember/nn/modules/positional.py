"""Positional information for attention models: fixed sinusoids and learned embeddings.

Self-attention is permutation-equivariant: without positions, shuffling the tokens shuffles the
outputs the same way. Adding one of these breaks that symmetry.
"""

from __future__ import annotations

import numpy as np

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module, Parameter
from ember.tensor import Tensor, get_default_dtype


def sinusoidal_positional_encoding(length: int, d_model: int, dtype=np.float32) -> np.ndarray:
    """The (length, d_model) table of Vaswani et al. (2017): even columns sin(pos / 10000^(2i/d)),
    odd columns cos of the same (d_model may be odd)."""
    if length < 0 or d_model < 1:
        raise ValueError(
            f"sinusoidal_positional_encoding: need length >= 0 and d_model >= 1, got {length}, "
            f"{d_model}"
        )
    pos = np.arange(length, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * (-np.log(10000.0) / d_model))
    pe = np.zeros((length, d_model))
    pe[:, 0::2] = np.sin(pos * div)
    pe[:, 1::2] = np.cos(pos * div[: d_model // 2])
    return pe.astype(dtype)


def _check_input(x: Tensor, d_model: int, max_len: int, batch_first: bool, offset: int, op: str):
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(
            f"{op}: input must be (L, E), (L, N, E) or (N, L, E) with E = {d_model}, got {x.shape}"
        )
    length = x.shape[1] if (x.ndim == 3 and batch_first) else x.shape[0]
    if offset < 0 or offset + length > max_len:
        raise ValueError(
            f"{op}: positions {offset}..{offset + length - 1} exceed max_len {max_len}"
        )
    return length


def _broadcast_positions(table: Tensor, x: Tensor, batch_first: bool) -> Tensor:
    """(L, E) positions shaped to add to x: (L, E), (L, 1, E) or (1, L, E)."""
    if x.ndim == 2:
        return table
    return table.unsqueeze(0) if batch_first else table.unsqueeze(1)


class PositionalEncoding(Module):
    """Adds the fixed sinusoidal table (a non-persistent buffer ``pe``), then dropout.

    Args:
        d_model: embedding width E.
        dropout: dropout after the addition (PyTorch tutorial's default 0.1).
        max_len: longest sequence.
        batch_first: input (N, L, E) rather than (L, N, E).

    forward(x, offset=0): positions offset, offset+1, ... (offset for cached generation).

    Example::

        >>> pe = nn.PositionalEncoding(16, dropout=0.0, batch_first=True)
        >>> pe(ember.zeros(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000,
                 batch_first: bool = False, dtype=None):  # fmt: skip
        super().__init__()
        self.d_model, self.max_len, self.batch_first = d_model, max_len, batch_first
        self.p = dropout
        table = sinusoidal_positional_encoding(
            max_len, d_model, np.dtype(dtype or get_default_dtype())
        )
        self.register_buffer("pe", Tensor(table), persistent=False)

    def forward(self, x, offset: int = 0):
        x = F._float_input(x, "PositionalEncoding", "input", self.pe.dtype)
        length = _check_input(x, self.d_model, self.max_len, self.batch_first, offset,
                              "PositionalEncoding")  # fmt: skip
        table = Tensor(self.pe.data[offset : offset + length])
        return F.dropout(
            x + _broadcast_positions(table, x, self.batch_first), self.p, self.training
        )

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, max_len={self.max_len}, dropout={self.p}"


class LearnedPositionalEmbedding(Module):
    """Adds a learned (max_len, d_model) table ``weight`` (initialised N(0, 0.02^2), as GPT-2)
    to the input, position by position.

    Example::

        >>> pos = nn.LearnedPositionalEmbedding(32, 16, batch_first=True)
        >>> pos(ember.zeros(2, 5, 16)).shape
        (2, 5, 16)
    """

    def __init__(self, max_len: int, d_model: int, batch_first: bool = False, dtype=None):
        super().__init__()
        if max_len < 1 or d_model < 1:
            raise ValueError(
                f"LearnedPositionalEmbedding: max_len and d_model must be >= 1, got {max_len}, "
                f"{d_model}"
            )
        self.max_len, self.d_model, self.batch_first = max_len, d_model, batch_first
        self.weight = Parameter(
            np.empty((max_len, d_model), np.dtype(dtype or get_default_dtype()))
        )
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.normal_(self.weight, 0.0, 0.02)

    def forward(self, x, offset: int = 0):
        x = F._float_input(x, "LearnedPositionalEmbedding", "input", self.weight.dtype)
        length = _check_input(x, self.d_model, self.max_len, self.batch_first, offset,
                              "LearnedPositionalEmbedding")  # fmt: skip
        table = self.weight[offset : offset + length]
        return x + _broadcast_positions(table, x, self.batch_first)

    def extra_repr(self) -> str:
        return f"max_len={self.max_len}, d_model={self.d_model}"
