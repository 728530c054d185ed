"""Tensor factories with PyTorch's names and defaults (float32 unless told otherwise)."""

from __future__ import annotations

import operator

import numpy as np

from ember.random import default_generator
from ember.tensor import Tensor, _as_array

_DEFAULT_FLOAT = np.dtype(np.float32)


def _size(shape, op: str) -> tuple:
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: sizes must be ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"{op}: negative dimension in size {shape}")
    return shape


def _dtype(dtype, default=_DEFAULT_FLOAT) -> np.dtype:
    return default if dtype is None else np.dtype(dtype)


def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (lists, scalars, arrays, tensors).

    Python floats become float32 and ints int64; NumPy arrays keep their dtype.
    """
    return Tensor(_as_array(data, dtype, copy=True), requires_grad=requires_grad)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    return Tensor(array)


def as_tensor(data, dtype=None) -> Tensor:
    """Like tensor(), but without a copy when data is already an array of that dtype."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    return Tensor(_as_array(data, dtype, copy=False))


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.zeros(_size(size, "zeros"), _dtype(dtype)), requires_grad=requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.ones(_size(size, "ones"), _dtype(dtype)), requires_grad=requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """As torch.full: without dtype, a bool fill gives bool, an int fill int64, else float32."""
    if dtype is None and isinstance(fill_value, bool | np.bool_):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, int | np.integer):
        dtype = np.int64
    return Tensor(
        np.full(_size((size,), "full"), fill_value, _dtype(dtype)), requires_grad=requires_grad
    )


def empty(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return Tensor(np.empty(_size(size, "empty"), _dtype(dtype)), requires_grad=requires_grad)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    t = np.asarray(t)
    return Tensor(np.zeros(t.shape, dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    t = np.asarray(t)
    return Tensor(np.ones(t.shape, dtype or t.dtype), requires_grad=requires_grad)


def randn(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ember's seeded generator."""
    dt = _dtype(dtype)
    data = default_generator().standard_normal(_size(size, "randn"), dtype=dt)
    return Tensor(data, requires_grad=requires_grad)


def rand(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from ember's seeded generator."""
    dt = _dtype(dtype)
    data = default_generator().random(_size(size, "rand"), dtype=dt)
    return Tensor(data, requires_grad=requires_grad)


def randint(low, high=None, size=(), dtype=np.int64) -> Tensor:
    if high is None:
        low, high = 0, low
    if high <= low:
        raise ValueError(f"randint: high ({high}) must be greater than low ({low})")
    return Tensor(default_generator().integers(low, high, _size((size,), "randint"), dtype=dtype))


def randperm(n: int, dtype=np.int64) -> Tensor:
    if n < 0:
        raise ValueError(f"randperm: n must be >= 0, got {n}")
    return Tensor(default_generator().permutation(n).astype(dtype))


def arange(start, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Values from start to end (exclusive); int64 for int arguments, else float32."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise ValueError("arange: step must be nonzero")
    if dtype is None:
        ints = all(isinstance(v, int | np.integer) for v in (start, end, step))
        dtype = np.int64 if ints else _DEFAULT_FLOAT
    return Tensor(np.arange(start, end, step, dtype=dtype), requires_grad=requires_grad)


def linspace(start, end, steps: int, dtype=None) -> Tensor:
    return Tensor(np.linspace(start, end, steps, dtype=_dtype(dtype)))


def eye(n: int, m: int | None = None, dtype=None) -> Tensor:
    return Tensor(np.eye(n, m, dtype=_dtype(dtype)))
