"""torch.nn.attention.bias: causal masks for queries and keys of different lengths, passed to
``scaled_dot_product_attention`` as its ``attn_mask``. Upper-left is the usual causal mask
(query i sees keys j <= i); lower-right aligns the last query with the last key (query i sees
keys j <= i + S - L), as a decoder with a key-value cache needs."""

from __future__ import annotations

import enum

import numpy as np

__all__ = ["CausalBias", "CausalVariant", "causal_lower_right", "causal_upper_left"]


class CausalVariant(enum.IntEnum):
    UPPER_LEFT = 1
    LOWER_RIGHT = 2


class CausalBias:
    """A causal mask of shape (seq_len_q, seq_len_kv), kept as its description: SDPA runs
    the upper-left one as ``is_causal`` and the lower-right one as a boolean mask."""

    def __init__(self, variant: CausalVariant, seq_len_q: int, seq_len_kv: int):
        if not isinstance(variant, CausalVariant):
            raise TypeError(f"CausalBias: variant must be a CausalVariant, got {variant!r}")
        self.variant = variant
        self.seq_len_q, self.seq_len_kv = int(seq_len_q), int(seq_len_kv)
        if self.seq_len_q < 0 or self.seq_len_kv < 0:
            raise ValueError(f"CausalBias: negative lengths {seq_len_q}, {seq_len_kv}")

    @property
    def shape(self) -> tuple:
        return (self.seq_len_q, self.seq_len_kv)

    @property
    def dtype(self):
        return np.dtype(np.bool_)

    def _upper_left(self, device=None):
        return self._tril(0)

    def _lower_right(self, device=None):
        return self._tril(self.seq_len_kv - self.seq_len_q)

    def _tril(self, offset: int):
        from ember.tensor import Tensor

        return Tensor(np.tri(self.seq_len_q, self.seq_len_kv, offset, dtype=np.bool_))

    def _materialize(self, device=None):
        """The mask as a boolean tensor (True: the query attends to that key)."""
        if self.variant == CausalVariant.UPPER_LEFT:
            return self._upper_left(device)
        return self._lower_right(device)

    def __repr__(self) -> str:
        return repr(self._materialize())


def causal_upper_left(*size) -> CausalBias:
    """The causal mask aligned at the top left: ``causal_upper_left(seq_len_q, seq_len_kv)``."""
    if len(size) != 2:
        raise ValueError(f"causal_upper_left: expected (seq_len_q, seq_len_kv), got {size}")
    return CausalBias(CausalVariant.UPPER_LEFT, *size)


def causal_lower_right(*size) -> CausalBias:
    """The causal mask aligned at the bottom right (the last query sees every key)."""
    if len(size) != 2:
        raise ValueError(f"causal_lower_right: expected (seq_len_q, seq_len_kv), got {size}")
    return CausalBias(CausalVariant.LOWER_RIGHT, *size)
