"""torch.testing for ember: ``assert_close`` with PyTorch's per-dtype tolerances and messages,
and ``make_tensor`` for random test inputs."""

from __future__ import annotations

import collections.abc
import math

import numpy as np

from ember import _device, _lowp
from ember.creation import _dtype as to_dtype
from ember.random import rng
from ember.tensor import Tensor

__all__ = ["assert_close", "make_tensor"]

# dtype: (rtol, atol), as torch.testing's defaults; integers and bools compare exactly
_TOLERANCES = {
    np.dtype(np.float16): (1e-3, 1e-5),
    _lowp.bfloat16: (1.6e-2, 1e-5),
    np.dtype(np.float32): (1.3e-6, 1e-5),
    np.dtype(np.float64): (1e-7, 1e-7),
}


def _tolerances(*dtypes) -> tuple:
    pairs = [_TOLERANCES.get(np.dtype(d), (0.0, 0.0)) for d in dtypes]
    return max(p[0] for p in pairs), max(p[1] for p in pairs)


def _fail(message: str, msg, path: str):
    if path:
        message += f"\n\nThe failure occurred for item {path}"
    if callable(msg):
        message = msg(message)
    elif msg is not None:
        message = msg
    raise AssertionError(message)


def _is_number(x) -> bool:
    return isinstance(x, int | float | bool | np.number | np.bool_) and not isinstance(x, Tensor)


def assert_close(
    actual,
    expected,
    *,
    allow_subclasses: bool = True,
    rtol=None,
    atol=None,
    equal_nan: bool = False,
    check_device: bool = True,
    check_dtype: bool = True,
    check_layout: bool = True,
    check_stride: bool = False,
    msg=None,
) -> None:
    """Raise AssertionError unless ``actual`` and ``expected`` are close: tensors (or NumPy
    arrays) of one shape and dtype with ``|a - e| <= atol + rtol * |e|`` everywhere, numbers
    alike, or sequences and mappings of those, compared item by item. Without rtol/atol the
    tolerances are PyTorch's for the dtype (float32: 1.3e-6 and 1e-5)."""
    if (rtol is None) != (atol is None):
        missing = "atol" if atol is None else "rtol"
        raise ValueError(
            f"Both 'rtol' and 'atol' must be either specified or omitted, but got no {missing}."
        )
    _compare(actual, expected, rtol, atol, equal_nan, check_dtype, check_stride, msg, "")


def _compare(actual, expected, rtol, atol, equal_nan, check_dtype, check_stride, msg, path):
    array_like = (Tensor, np.ndarray)
    if isinstance(actual, array_like) and isinstance(expected, array_like):
        _compare_arrays(
            actual, expected, rtol, atol, equal_nan, check_dtype, check_stride, msg, path
        )
    elif _is_number(actual) and _is_number(expected):
        _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype, msg, path)
    elif (
        isinstance(actual, collections.abc.Sequence)
        and isinstance(expected, collections.abc.Sequence)
        and not isinstance(actual, str | bytes)
        and not isinstance(expected, str | bytes)
    ):
        if len(actual) != len(expected):
            _fail(
                f"The length of the sequences mismatch: {len(actual)} != {len(expected)}",
                msg,
                path,
            )
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, rtol, atol, equal_nan, check_dtype, check_stride, msg, f"{path}[{i}]")
    elif isinstance(actual, collections.abc.Mapping) and isinstance(
        expected, collections.abc.Mapping
    ):
        if set(actual) != set(expected):
            missing = sorted(set(expected) - set(actual), key=str)
            extra = sorted(set(actual) - set(expected), key=str)
            _fail(
                f"The keys of the mappings do not match:\nMissing keys in the actual mapping: "
                f"{missing}\nAdditional keys in the actual mapping: {extra}",
                msg,
                path,
            )
        for k in expected:
            _compare(
                actual[k], expected[k], rtol, atol, equal_nan, check_dtype, check_stride, msg,
                f"{path}[{k!r}]",
            )  # fmt: skip
    else:
        raise TypeError(
            f"No comparison pair was able to handle inputs of type {type(actual)} and "
            f"{type(expected)}."
        )


def _compare_arrays(actual, expected, rtol, atol, equal_nan, check_dtype, check_stride, msg, path):
    a = actual.data if isinstance(actual, Tensor) else actual
    e = expected.data if isinstance(expected, Tensor) else expected
    if a.shape != e.shape:
        _fail(
            f"The values for attribute 'shape' do not match: {_size(a.shape)} != {_size(e.shape)}.",
            msg,
            path,
        )
    if check_dtype and a.dtype != e.dtype:
        _fail(
            f"The values for attribute 'dtype' do not match: {_dtype(a.dtype)} != "
            f"{_dtype(e.dtype)}.",
            msg,
            path,
        )
    if check_stride and a.strides != e.strides:
        _fail(
            f"The values for attribute 'stride()' do not match: "
            f"{tuple(s // a.itemsize for s in a.strides)} != "
            f"{tuple(s // e.itemsize for s in e.strides)}.",
            msg,
            path,
        )
    if rtol is None:
        rtol, atol = _tolerances(a.dtype, e.dtype)
    dtype = np.promote_types(a.dtype, e.dtype)
    if dtype.kind == "b":
        dtype = np.dtype(np.int64)
    af, ef = a.astype(np.float64), e.astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        ok = af == ef  # exact matches (infinities of one sign included)
        finite = np.isfinite(af) & np.isfinite(ef)
        ok |= finite & (np.abs(af - ef) <= atol + rtol * np.abs(ef))
        if equal_nan:
            ok |= np.isnan(af) & np.isnan(ef)
    if ok.all():
        return
    bad = ~ok
    kind = "close" if (rtol or atol) else "equal"
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        abs_diff = np.abs(af - ef)
        rel_diff = abs_diff / np.abs(ef)
    lines = [
        f"Tensor-likes are not {kind}!",
        "",
        f"Mismatched elements: {int(bad.sum())} / {bad.size} ({100 * bad.sum() / bad.size:.1f}%)",
    ]
    for name, diff, tol in (("absolute", abs_diff, atol), ("relative", rel_diff, rtol)):
        d = np.where(bad, diff, -np.inf)
        nan = np.isnan(d)
        i = np.unravel_index(int(np.argmax(nan)) if nan.any() else int(np.argmax(d)), a.shape)
        value = diff[i]
        shown = (
            int(value)
            if dtype.kind in "iu" and np.isfinite(value) and name == "absolute"
            else float(value)
        )
        line = f"Greatest {name} difference: {shown} at index {tuple(int(j) for j in i)}"
        if kind == "close":
            line += f" (up to {tol} allowed)"
        lines.append(line)
    _fail("\n".join(lines), msg, path)


def _compare_numbers(actual, expected, rtol, atol, equal_nan, check_dtype, msg, path):
    if (
        check_dtype
        and type(actual) is not type(expected)
        and not (isinstance(actual, np.number) or isinstance(expected, np.number))
    ):
        _fail(
            f"The values for attribute 'dtype' do not match: {type(actual).__name__} != "
            f"{type(expected).__name__}.",
            msg,
            path,
        )
    a, e = float(actual), float(expected)
    if rtol is None:  # PyTorch's: exact for integers, float32's tolerances for floats
        exact = isinstance(actual, int | bool) and isinstance(expected, int | bool)
        rtol, atol = (0.0, 0.0) if exact else _tolerances(np.float32)
    if a == e or (equal_nan and math.isnan(a) and math.isnan(e)):
        return
    if math.isfinite(a) and math.isfinite(e) and abs(a - e) <= atol + rtol * abs(e):
        return
    rel = abs(a - e) / abs(e) if e != 0 else math.inf
    _fail(
        f"Scalars are not {'close' if (rtol or atol) else 'equal'}!\n\n"
        f"Expected {expected} but got {actual}.\n"
        f"Absolute difference: {abs(a - e)} (up to {atol} allowed)\n"
        f"Relative difference: {rel} (up to {rtol} allowed)",
        msg,
        path,
    )


def _size(shape) -> str:
    return f"ember.Size({list(shape)})"


def _dtype(dt) -> str:
    return f"ember.{np.dtype(dt).name}"


def make_tensor(
    *shape,
    dtype,
    device=None,
    low=None,
    high=None,
    requires_grad: bool = False,
    noncontiguous: bool = False,
    exclude_zero: bool = False,
    memory_format=None,
) -> Tensor:
    """A tensor of ``shape`` filled with values drawn uniformly from [low, high) from ember's
    generator, as torch.testing.make_tensor: floats default to [-9, 9), integers to [-9, 10),
    bools are random."""
    _device.check(device)
    if len(shape) == 1 and isinstance(shape[0], list | tuple):
        shape = tuple(shape[0])
    dt = to_dtype(dtype)
    g = rng()
    if dt.kind == "b":
        a = g.random(shape) < 0.5
    else:
        lo = -9 if low is None else low
        hi = (9 if dt.kind == "f" else 10) if high is None else high
        if lo > hi:
            raise ValueError(f"make_tensor: low ({lo}) must not exceed high ({hi})")
        if dt.kind == "f":
            a = g.uniform(lo, hi, shape) if hi > lo else np.full(shape, lo, float)
        else:
            a = g.integers(math.ceil(lo), max(math.ceil(hi), math.ceil(lo) + 1), shape)
        a = a.astype(dt)
        if exclude_zero:
            tiny = np.finfo(dt).tiny if dt.kind == "f" else 1
            a[a == 0] = tiny
    if noncontiguous and a.size > 1:
        wide = np.repeat(a[..., None], 2, axis=-1)
        a = wide[..., 0]
    t = Tensor(np.asarray(a, dtype=dt))
    if requires_grad:
        if not _lowp.is_float(dt):
            raise ValueError("make_tensor: requires_grad=True needs a floating dtype")
        t.requires_grad_()
    return t
