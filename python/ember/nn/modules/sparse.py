"""Embedding (a lookup table of learnable vectors) and EmbeddingBag."""

from __future__ import annotations

import numpy as np

from ember import _device
from ember.autograd.function import no_grad
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module, Parameter, _check_size
from ember.tensor import Tensor, get_default_dtype


class Embedding(Module):
    """Rows of a (num_embeddings, embedding_dim) weight picked by integer indices.

    Args:
        num_embeddings: size of the vocabulary.
        embedding_dim: size of each vector.
        padding_idx: this row is initialised to zeros and never gets a gradient.
        dtype: weight dtype (float32 by default).

    Shape:
        input (*) integers in [0, num_embeddings) -> (*, embedding_dim). The weight is
        initialised N(0, 1) as PyTorch's; its gradient is a scatter-add of the output rows.

    Example::

        >>> emb = nn.Embedding(10, 3, padding_idx=0)
        >>> emb(ember.tensor([[1, 2, 0]])).shape
        (1, 3, 3)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight=None,
        _freeze: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        _device.check(device)
        # 0 is allowed, as torch (an empty table or zero-width vectors)
        num_embeddings = _check_size("Embedding", "num_embeddings", num_embeddings, 0)
        embedding_dim = _check_size("Embedding", "embedding_dim", embedding_dim, 0)
        if padding_idx is not None:
            # an int, as F.embedding (torch fails indexing the weight with a float or bool)
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, int | np.integer):
                raise TypeError(
                    f"Embedding: padding_idx must be int, not {type(padding_idx).__name__}"
                )
            if not -num_embeddings <= padding_idx < num_embeddings:  # (torch asserts)
                raise F._AssertionValueError(
                    f"Embedding: padding_idx must be within num_embeddings ({num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx = int(padding_idx) % num_embeddings
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        # as given: F.embedding refuses a non-bool, as PyTorch's does
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        dtype = np.dtype(dtype or get_default_dtype())
        if _weight is None:
            self.weight = Parameter(
                np.empty((num_embeddings, embedding_dim), dtype), requires_grad=not _freeze
            )
            self.reset_parameters()
        else:
            # the given array itself, not a copy: torch's Parameter(_weight) shares its storage
            w = np.asarray(_weight.data if isinstance(_weight, Tensor) else _weight)
            if w.shape != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"Embedding: _weight must have shape {(num_embeddings, embedding_dim)}, "
                    f"got {w.shape}"
                )
            self.weight = Parameter(w, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            with no_grad():
                self.weight.data[self.padding_idx] = 0

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        padding_idx=None,
        max_norm=None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ):
        """An Embedding whose weight is ``embeddings`` (2-D; shared, not copied, as torch's);
        frozen unless freeze=False."""
        w = np.asarray(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if w.ndim != 2:
            raise F._AssertionValueError(  # (torch asserts)
                f"Embedding.from_pretrained: embeddings must be 2-D, got {w.shape}"
            )
        return cls(
            w.shape[0], w.shape[1], padding_idx, max_norm, norm_type, scale_grad_by_freq, sparse,
            _weight=w, _freeze=freeze,
        )  # fmt: skip

    def forward(self, input):
        return F.embedding(
            input, self.weight, self.padding_idx, self.max_norm, self.norm_type,
            self.scale_grad_by_freq, self.sparse,
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s


class EmbeddingBag(Embedding):
    """Sums, means or maxes of bags of embeddings, as ``torch.nn.EmbeddingBag``; see
    ``nn.functional.embedding_bag``. ``forward(input, offsets=None, per_sample_weights=None)``.

    Example::

        >>> bag = nn.EmbeddingBag(10, 3, mode="sum")
        >>> bag(ember.tensor([1, 2, 4, 5, 4]), ember.tensor([0, 2])).shape
        (2, 3)
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        _weight=None,
        include_last_offset: bool = False,
        padding_idx: int | None = None,
        device=None,
        dtype=None,
    ):
        super().__init__(
            num_embeddings, embedding_dim, padding_idx, max_norm, norm_type, scale_grad_by_freq,
            sparse, _weight, device=device, dtype=dtype,
        )  # fmt: skip
        self.mode = mode
        self.include_last_offset = include_last_offset

    @classmethod
    def from_pretrained(
        cls,
        embeddings,
        freeze: bool = True,
        max_norm=None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        mode: str = "mean",
        sparse: bool = False,
        include_last_offset: bool = False,
        padding_idx=None,
    ):
        """An EmbeddingBag whose weight is ``embeddings`` (2-D; shared, as torch's); frozen
        unless freeze=False."""
        w = np.asarray(embeddings.data if isinstance(embeddings, Tensor) else embeddings)
        if w.ndim != 2:
            raise F._AssertionValueError(  # (torch asserts)
                f"EmbeddingBag.from_pretrained: embeddings must be 2-D, got {w.shape}"
            )
        bag = cls(
            w.shape[0], w.shape[1], max_norm, norm_type, scale_grad_by_freq, mode, sparse, w,
            include_last_offset, padding_idx,
        )  # fmt: skip
        bag.weight.requires_grad = not freeze
        return bag

    def forward(self, input, offsets=None, per_sample_weights=None):
        return F.embedding_bag(
            input, self.weight, offsets, self.max_norm, self.norm_type,
            self.scale_grad_by_freq, self.mode, self.sparse, per_sample_weights,
            self.include_last_offset, self.padding_idx,
        )  # fmt: skip

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += f", scale_grad_by_freq={self.scale_grad_by_freq}"
        s += f", mode={self.mode!r}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        return s
