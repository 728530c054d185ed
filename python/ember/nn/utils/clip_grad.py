"""Gradient clipping with PyTorch's rules: gradients are scaled in place."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ember import _C, _lowp
from ember.nn.functional import _NoKernel
from ember.tensor import Tensor


def _grads(parameters) -> list[np.ndarray]:
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    out = []
    for p in parameters:
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad: expected Tensors, got {type(p).__name__}")
        if p.grad is not None:
            out.append(p.grad.data)
    return out


def _vector_norm(a: np.ndarray, p: float) -> float:
    """torch.linalg.vector_norm's p-norm of all of ``a`` in float64: p = inf / -inf the largest /
    smallest |a|, p = 0 the count of non-zeros, else (sum |a|^p)^(1/p) (p < 0 included)."""
    a = (
        np.abs(a).astype(np.float64, copy=False)
        if a.dtype.kind == "c"
        else np.abs(a.astype(np.float64, copy=False))
    )
    if math.isinf(p):
        return float((a.max() if p > 0 else a.min()) if a.size else (0.0 if p > 0 else math.inf))
    if p == 0:
        return float(np.count_nonzero(a))
    with np.errstate(divide="ignore"):  # 0 ** (p < 0) is inf, as in PyTorch
        return float(np.sum(a**p)) ** (1.0 / p)


def get_total_norm(
    tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False, foreach=None
) -> Tensor:
    """The norm of the vector of the ``tensors``' norms (the norm of all their elements
    together), as a 0-d Tensor; ``foreach`` is accepted for PyTorch compatibility.

    Args:
        tensors: a Tensor or an iterable of Tensors (usually gradients).
        norm_type: p of the p-norm, or ``math.inf`` for the largest absolute value (any p that
            torch.linalg.vector_norm takes: 0 counts non-zeros, -inf is the smallest).
        error_if_nonfinite: raise RuntimeError when the total norm is nan or inf.
    """
    if isinstance(tensors, Tensor):
        tensors = [tensors]
    arrays = []
    for t in tensors:
        if not isinstance(t, Tensor):
            raise TypeError(f"get_total_norm: expected Tensors, got {type(t).__name__}")
        arrays.append(t.data)
    norm_type = float(norm_type)
    # PyTorch's nan norm is |x| for one element, 0 for none and nan otherwise: refused instead
    if math.isnan(norm_type):
        raise ValueError(f"get_total_norm: norm_type must be a number, got {norm_type}")
    if not arrays:
        return Tensor(np.asarray(0.0, dtype=np.float32))
    if math.isinf(norm_type) and any(a.size == 0 for a in arrays):
        raise RuntimeError(
            f"get_total_norm: cannot compute the {norm_type} norm of an empty tensor "
            "(its max/min has no identity), as PyTorch"
        )
    dtype = np.result_type(*arrays)  # float32 and float64 gradients: float64, as PyTorch's stack
    if dtype.kind == "c":  # complex gradients: the norm of their moduli, a real number
        dtype = np.abs(np.zeros(0, dtype)).dtype
    if norm_type == 2.0 and all(g.dtype in (np.float32, np.float64) for g in arrays):
        # the sums of squares in float64 in one C++ call, without a float64 copy of each;
        # each norm rounded to its gradient's dtype, as PyTorch's per-tensor norms are (by
        # np.float32 directly: the generic rounding below was ~3 us a gradient)
        sums = _C.sum_squares([np.ascontiguousarray(g) for g in arrays])
        f32 = np.float32
        per = [float(f32(s**0.5)) if g.dtype == f32 else s**0.5 for s, g in zip(sums, arrays)]
    else:
        per = [_vector_norm(g, norm_type) for g in arrays]
        # each norm rounded to its gradient's dtype first, as PyTorch's per-tensor norms are
        per = [
            float(np.asarray(v).astype(np.abs(g.reshape(-1)[:0]).dtype))
            for v, g in zip(per, arrays)
        ]
    total = _vector_norm(np.asarray(per), norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            "non-finite, so it cannot be clipped. To disable this error and scale the "
            "gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    return Tensor(np.asarray(total, dtype=dtype))


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale the gradients of ``parameters`` in place by ``max_norm / (total_norm + 1e-6)``
    when that is below 1 (``total_norm`` from ``get_total_norm``)."""
    grads = _grads(parameters)
    max_norm = float(max_norm)
    if max_norm < 0 or math.isnan(max_norm):
        raise ValueError(f"clip_grads_with_norm_: max_norm must be >= 0, got {max_norm}")
    total = np.asarray(total_norm.data if isinstance(total_norm, Tensor) else total_norm)
    # PyTorch's arithmetic in the norm's dtype: max_norm / (total + 1e-6) is Tensor.__rtruediv__,
    # reciprocal(total + 1e-6) * max_norm, each step rounded (to float32 for float32 norms)
    ft = (
        total.dtype.type if total.dtype.kind == "f" or total.dtype == _lowp.bfloat16 else np.float64
    )
    # float16 steps are computed in float32 (PyTorch's opmath) and rounded to float16, so a tiny
    # max_norm is not flushed to zero before the multiplication
    mt = np.float32 if np.dtype(ft).itemsize < 4 else ft
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        den = ft(mt(total) + mt(1e-6))
        coef = float(min(ft(ft(mt(1.0) / mt(den)) * mt(max_norm)), ft(1.0)))
    if coef < 1.0 or math.isnan(coef):
        with np.errstate(invalid="ignore"):  # inf * 0 -> nan, silently as PyTorch
            for g in grads:
                if g.dtype.itemsize == 2:  # float16 / bfloat16: in float32, rounded once (the
                    # coefficient is not rounded to the gradient's dtype first, as PyTorch's)
                    g[...] = (g.astype(np.float32) * np.float32(coef)).astype(g.dtype)
                else:
                    g *= g.dtype.type(coef)


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their joint norm (the norm of
    the vector of per-parameter norms) is at most ``max_norm``.

    Args:
        parameters: a Tensor or an iterable of Tensors; those without a gradient are skipped.
        max_norm: the largest norm allowed (>= 0).
        norm_type: p of the p-norm, as in ``get_total_norm``.
        error_if_nonfinite: raise RuntimeError when the total norm is nan or inf.
        foreach: accepted for PyTorch compatibility (the loop is over NumPy arrays).

    Returns:
        The total norm before clipping, as a 0-d Tensor (PyTorch's coefficient rule:
        ``scale = min(1, max_norm / (total + 1e-6))``).
    """
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    parameters = list(parameters)
    grads = [Tensor._make(g, False, None, 0) for g in _grads(parameters)]
    total = get_total_norm(grads, norm_type, error_if_nonfinite)
    clip_grads_with_norm_(parameters, max_norm, total)
    return total


def clip_grad_norm(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """Deprecated alias of ``clip_grad_norm_`` (with PyTorch's FutureWarning)."""
    warnings.warn(
        "`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
        "`torch.nn.utils.clip_grad_norm_`.",
        FutureWarning,
        stacklevel=2,
    )
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient element of ``parameters`` to [-clip_value, clip_value] in place
    (``foreach``, PyTorch's implementation switch, changes nothing)."""
    clip_value = float(clip_value)
    if clip_value < 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    grads = _grads(parameters)
    if any(g.dtype.kind == "c" for g in grads):  # (np.clip would order complex numbers)
        raise _NoKernel("clip_grad_value_: clamp is not supported for complex types")
    for g in grads:
        np.clip(g, -clip_value, clip_value, out=g)
