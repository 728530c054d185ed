"""torch.distributions.utils: the helpers families share."""

from __future__ import annotations

import functools

import numpy as np

import ember
from ember.distributions.distribution import _broadcast_all, _clamp_probs
from ember.nn import functional as F
from ember.tensor import Tensor

__all__ = [
    "broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs", "probs_to_logits",
    "tril_matrix_to_vec", "vec_to_tril_matrix",
]  # fmt: skip


def broadcast_all(*values):
    """Tensors and numbers broadcast to one shape; numbers take the first float tensor's
    dtype (the default dtype without one)."""
    for v in values:
        if not isinstance(v, Tensor | int | float | np.number) or isinstance(v, bool):
            raise ValueError(
                "Input arguments must all be instances of numbers.Number, torch.Tensor or "
                f"objects implementing __torch_function__. Got {type(v).__name__}"
            )
    return _broadcast_all(*values)


def clamp_probs(probs: Tensor) -> Tensor:
    """probs clamped to [eps, 1 - eps] of their dtype (so log and log1p stay finite)."""
    return _clamp_probs(probs)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """sigmoid(logits) if ``is_binary`` else softmax over the last dim."""
    return logits.sigmoid() if is_binary else F.softmax(logits, dim=-1)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """log-odds if ``is_binary`` else log-probabilities, of the clamped probs."""
    p = _clamp_probs(probs)
    return p.log() - (-p).log1p() if is_binary else p.log()


def tril_matrix_to_vec(mat: Tensor, diag: int = 0) -> Tensor:
    from ember.distributions.transforms import _tril_to_vec

    return _tril_to_vec(mat, diag)


def vec_to_tril_matrix(vec: Tensor, diag: int = 0) -> Tensor:
    from ember.distributions.transforms import _vec_to_tril

    return _vec_to_tril(vec, diag)


class lazy_property:  # noqa: N801 (torch's name)
    """A property computed on first access and then stored on the instance; read on the
    class it is the descriptor itself."""

    def __init__(self, wrapped):
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)

    def __get__(self, instance, obj_type=None):
        if instance is None:
            return self
        with ember.enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value
