"""Tensor math as autograd Functions: arithmetic, reductions, views, indexing, joining.

These are the cheap, memory-bound ops the design lets NumPy do (section 1); the matrix product
goes to the C++ GEMM. Each Function's forward and backward sit side by side, its functional
wrapper right after it. Broadcasting ops reduce gradients with ``unbroadcast``.
"""

from __future__ import annotations

import builtins
import cmath
import functools
import math
import operator
import warnings
from collections import namedtuple
from collections.abc import Iterable

import ml_dtypes
import numpy as np

from ember import _C, _complex, _lowp, _strides
from ember._errors import BadDtype, BadIndexDtype, BadShapeOrValue, not_implemented
from ember._errors import OutOfBounds as _OutOfBounds
from ember.autograd import function as _function
from ember.autograd import graph as _graph
from ember.autograd.engine import dim_run, hooks_moved, input_wanted, reduce_sum, unbroadcast
from ember.autograd.function import Function, _state, named
from ember.tensor import _NO_DIM, Tensor, _default_dtype, _given_dim, _plain, get_default_dtype


def _shape(x) -> tuple:
    """np.shape, without the array it builds for a Python scalar (~0.7 us: the second operand
    of most small ops, ``y * 2``, ``x - 0.5``)."""
    t = type(x)
    if t is np.ndarray:
        return x.shape
    return () if t is float or t is int or t is bool else np.shape(x)


def _data(x):
    return x._data if isinstance(x, Tensor) else x  # (the slot: a read on most ops' path)


def _check_broadcast(op: str, a, b) -> None:
    try:
        np.broadcast_shapes(_shape(a), _shape(b))
    except ValueError:
        # (torch's RuntimeError too: BadShapeOrValue is both)
        raise BadShapeOrValue(
            f"{op}: shapes {_shape(a)} and {_shape(b)} do not broadcast"
        ) from None


def _kind(x) -> str:
    dt = x.dtype if isinstance(x, Tensor | np.ndarray) else np.asarray(x).dtype
    return "f" if dt == _lowp.bfloat16 else dt.kind  # ml_dtypes' kind is "V"


def _to_dtype(x, dtype):
    if isinstance(x, Tensor):
        return Tensor._make(_astype(x.data, dtype), False, None, 0)
    if isinstance(x, np.ndarray):
        return x.astype(dtype)
    return x  # a Python int or bool stays weak, as in PyTorch


def _promote(a, b):
    """PyTorch's category rule: when a float meets an integer or bool tensor, the result takes the
    float operand's dtype (the default dtype for a Python float), not NumPy's float64."""
    ka, kb = _kind(a), _kind(b)
    if (type(b) is int and b >= 2**63) or (type(a) is int and a >= 2**63):
        _uint64_bool(a, b)
    if type(b) is int and ka in "iu" and isinstance(a, Tensor | np.ndarray):
        b = _wrapped(b, a.dtype)
    elif type(a) is int and kb in "iu" and isinstance(b, Tensor | np.ndarray):
        a = _wrapped(a, b.dtype)
    if ka == "c" or kb == "c":  # torch's result_type, the tensors cast (with gradients)
        dt = result_type(a, b)
        return _to_complex(a, dt), _to_complex(b, dt)
    arrays = isinstance(a, Tensor | np.ndarray) and isinstance(b, Tensor | np.ndarray)
    if (
        arrays
        and (ka == kb == "f" or (ka in "iu" and kb in "iu"))
        and a.ndim != b.ndim
        and 0 in (a.ndim, b.ndim)
        and a.dtype != b.dtype
    ):
        # a 0-d tensor does not widen a dimensioned one of its category: (3,) float32 + 0-d
        # float64 is float32, (3,) int8 + 0-d int64 is int8
        return (_recast(a, b.dtype), b) if a.ndim == 0 else (a, _recast(b, a.dtype))
    if ka == "f" and kb in "biu":
        b = _to_dtype(b, a.dtype if isinstance(a, Tensor | np.ndarray) else get_default_dtype())
    elif kb == "f" and ka in "biu":
        a = _to_dtype(a, b.dtype if isinstance(b, Tensor | np.ndarray) else get_default_dtype())
    return a, b


def _uint64_bool(a, b) -> None:
    """torch's refusal of a Python int only a uint64 Scalar holds beside a bool tensor (it has
    no bool-uint64 promotion)."""
    for x, y in ((a, b), (b, a)):
        if type(x) is int and x >= _INT_HI:
            _int_overflow(x)
        if type(x) is int and x >= 2**63 and _kind(y) == "b":
            raise BadDtype(f"promotion of bool and uint64 (the value {x}) is not supported")


def _wrapped(x: int, dtype, checked: bool = False):
    """A Python int operand of an integer tensor, as torch casts it to the tensor's dtype: wrapped
    modulo 2**bits where out of range (uint8 + -1 adds 255, and uint8 < -1 compares with 255).
    Checked (torch's fills, clamp and pow bounds: c10::overflows) refuses values outside the
    dtype's range, except that an unsigned one wraps negatives down to -max (uint8: -255)."""
    info = np.iinfo(dtype)
    if info.min <= x <= info.max:
        return x
    if not _INT_LO <= x < _INT_HI:
        _int_overflow(x)
    if not (info.min == 0 and -info.max <= x < 0) if checked else not -(2**63) <= x < 2**64:
        raise RuntimeError(
            f"value {x} cannot be converted to type {np.dtype(dtype)} without overflow"
        )
    return np.array(x & (2**64 - 1), np.uint64).astype(dtype)  # a 0-d array: NumPy keeps dtype


# The largest finite fill of each narrower float dtype (by dtype and by scalar type): torch
# refuses a finite one beyond it, where NumPy casts it to inf with a RuntimeWarning
_FILL_TOP = {
    k: float(ml_dtypes.finfo(d).max)
    for d in (np.float16, np.float32, ml_dtypes.bfloat16)
    for k in (d, np.dtype(d))
}


def _fill_value(value, dtype) -> np.ndarray:
    """A fill value (a number, array or 0-d tensor's data) as dtype, a Python int wrapped as
    torch casts it (filling uint8 with -2 writes 254; 300 overflows), a number torch's checked
    conversion refuses refused (_checked_scalar)."""
    return np.asarray(_checked_scalar(value, np.dtype(dtype)), dtype)


def _checked_scalar(value, dt: np.dtype):
    """A number (or 0-d array) as torch's checked Scalar conversion to dt takes it
    (c10::checked_convert; NumPy casts silently to junk): refused are a complex value with an
    imaginary part for a real dtype (without one, its real part), a NaN, infinite or
    out-of-range value for an integer dtype, and a finite value beyond float16 / bfloat16 /
    float32's range (complex64's parts too); bool takes any number. Arrays of more dims pass."""
    v = value[()] if type(value) is np.ndarray and value.ndim == 0 else value
    if type(v) is np.ndarray or isinstance(v, bool | np.bool_):
        return value
    if isinstance(v, complex | np.complexfloating):
        if dt.kind not in "bc":
            if v.imag != 0:
                raise BadShapeOrValue(
                    f"value {v} cannot be converted to type {dt} without overflow"
                )
            value = v = v.real
        parts = (float(v.real), float(v.imag))
    elif isinstance(v, int | np.integer):
        if not -(2**63) <= v < 2**64:  # (torch's Scalar holds an int64 or a uint64)
            raise OverflowError(f"value {v} is too large to convert to a number")
        if dt.kind in "iu":  # (a NumPy int as a Python one: uint8 -1 is 255)
            return _wrapped(int(v), dt, checked=True)
        parts = (float(v),)
    elif isinstance(v, float | np.floating) or (
        isinstance(v, np.generic) and _lowp.is_float(v.dtype)
    ):
        parts = (float(v),)  # (a bfloat16 scalar is not an np.floating)
    else:  # (NumPy reads None as NaN and a string as True; torch refuses Fraction, Decimal)
        raise TypeError(f"fill value must be a number, got {type(v).__name__}")
    if dt.kind in "iu":
        info = np.iinfo(dt)
        if not info.min <= parts[0] <= info.max:  # (NaN fails it too)
            raise BadShapeOrValue(
                f"value {parts[0]} cannot be converted to type {dt} without overflow"
            )
    elif (top := _FILL_TOP.get(dt if dt.kind == "f" else _complex.real_of(dt))) is not None:
        for p in parts:
            if top < builtins.abs(p) < math.inf:  # (abs here is ops.abs, a tensor op)
                raise BadShapeOrValue(
                    f"value {p} cannot be converted to type {dt} without overflow"
                )
    return value


def _int_bounds(dtype, *bounds) -> tuple:
    """clamp's Python int bounds as torch casts them to an integer tensor's dtype (range-checked,
    then wrapped); other bounds and dtypes as given."""
    if np.dtype(dtype).kind not in "iu":
        return bounds
    return tuple(_wrapped(v, dtype, checked=True) if type(v) is int else v for v in bounds)


def _to_complex(x, dt):
    """An operand of a complex op in the result dtype dt (Python real numbers stay weak)."""
    if isinstance(x, Tensor | np.ndarray):
        return x if x.dtype == dt else _recast(x, dt)
    return x


def _recast(x, dtype):
    """x (Tensor or array) as dtype, keeping a Tensor's gradient."""
    return cast(x, np.dtype(dtype)) if isinstance(x, Tensor) else x.astype(dtype)


def _no_promotion(a, b) -> bool:
    """The common operand pairs _promote leaves as they are (checked first: it costs ~2 us a
    call): two tensors of one dtype, or a float tensor and a Python int or float (an int
    torch's Scalar holds: _as_operand refuses the others)."""
    ta, tb = type(a), type(b)
    if ta is Tensor:
        if tb is Tensor:
            return a.data.dtype == b.data.dtype
        return (tb is float or (tb is int and _INT_LO <= b < _INT_HI)) and a.data.dtype.kind == "f"
    return (ta is float or (ta is int and _INT_LO <= a < _INT_HI)) and (
        tb is Tensor and b.data.dtype.kind == "f"
    )


_INT_LO, _INT_HI = -(2**63), 2**64  # the Python ints torch's Scalar holds (int64 or uint64)


def _broadcasting(fn, op: str, a, b) -> Tensor:
    """Apply a broadcasting Function; a shape mismatch becomes a ValueError naming both shapes."""
    if not _no_promotion(a, b):
        a, b = _as_operand(a, "input"), _as_operand(b)
        if (op == "mul" or op == "div") and (low := _lowp_with_scalar(a, b)) is not None:
            # float16/bfloat16 times or over a 0-d float tensor: torch's CPU mul and div read
            # that second operand at float32 (their opmath type) rather than rounded to 16
            # bits, compute in float32 and round once (f16 * tensor(0.1) uses 0.1f, not f16's
            # 0.09998); add and sub, and the 0-d tensor first, round it (measured, torch 2.13)
            y = _apply_broadcasting(fn, op, _recast(a, _F32), _recast(b, _F32))
            return cast(y, low) if isinstance(y, Tensor) else y
        a, b = _promote(a, b)
    return _apply_broadcasting(fn, op, a, b)


def _lowp_with_scalar(a, b):
    """The 16-bit float dtype of a dimensioned operand ``a`` whose partner ``b`` is a 0-d
    float tensor (or array) of another dtype, else None."""
    if not (isinstance(a, Tensor | np.ndarray) and isinstance(b, Tensor | np.ndarray)):
        return None
    if b.ndim or not a.ndim:
        return None
    if a.dtype in _lowp.LOWP and a.dtype != b.dtype and _kind(b) == "f":
        return a.dtype
    return None


def _apply_broadcasting(fn, op: str, a, b) -> Tensor:
    """fn.apply(a, b) for operands already promoted to one dtype. When neither takes part in
    autograd (no Tensor requiring grad; dual tensors of forward AD always do) and fn's forward
    is one ufunc (fn._plain), that ufunc runs without the node: ~2 us less a call, the same
    result as the node's forward."""
    try:
        plain = fn._plain
        if plain is not None and (arrays := _plain_pair(a, b)) is not None:
            y = _bcast(plain[0], *arrays, plain[1])
            a, b = arrays
            if (type(a) is _ND and a.base is not None) or (type(b) is _ND and b.base is not None):
                y = _laid(y, arrays)  # (a view among the operands: see _laid)
            return Tensor._make(y, False, None, 0)
        out = fn.apply(a, b)
    except ValueError:
        _check_broadcast(op, _data(a), _data(b))
        raise
    if isinstance(out, Tensor):  # (the slot itself: an op's own array needs no check)
        out._data = _laid(out.data, (_data(a), _data(b)))
    return out


_ND = np.ndarray  # (one global lookup in the hot tests before _laid's call)


def _laid(y, arrays):
    """An elementwise result ``y`` of ``arrays`` (arrays and Python numbers) with torch's
    strides: NumPy's order='K' layout differs from torch's for some non-contiguous inputs
    (see _strides); C-contiguous inputs leave it as it is."""
    for a in arrays:
        # (a view's base test first: ~30 ns where the flags cost ~150; an array an op made
        # fresh is C-contiguous but for NumPy's order='K' results, left as NumPy lays them.
        # A C-contiguous view may have a size-1 dim of another stride, x.t() of a (3, 1) x:
        # torch orders the dims by it)
        if (
            type(a) is np.ndarray
            and a.base is not None
            and (not a.flags.c_contiguous or _size1_strided(a))
        ):
            return _strides.as_torch(y, arrays) if type(y) is np.ndarray else y
    return y


def _size1_strided(a: np.ndarray) -> bool:
    """Whether a is a C-contiguous (by NumPy's flag) view whose size-1 dim has a stride not
    C order's (x.t() of a (3, 1) x): torch orders an elementwise result's dims by it (_laid)."""
    return (
        a.base is not None
        and 1 in a.shape
        and a.size
        and a.strides != _strides.c_strides(a)  # (a cached tuple: cheaper than the flags)
        and a.flags.c_contiguous
    )


def _permuted(a: np.ndarray) -> bool:
    """Whether a's strides grow somewhere along its dims (x.t(), x.permute(...)): only then
    can torch's elementwise result differ from C order (a row slice, x[:, :k] or a chunk,
    gives C order there too), so only then is _laid worth its price."""
    st = a.strides
    for k in range(len(st) - 1):
        if st[k] < st[k + 1]:
            return True
    return False


_PLAIN_OPERANDS = frozenset((float, int, np.ndarray))  # (bool, complex: the node's path)


def _outside_graph(x) -> bool:
    """x's op records no node (and no forward-mode tangent could be dropped), so the op may skip
    the generic apply (~1.5-2 us of a small op) and run its forward straight: x is a Tensor not
    requiring grad (or any Tensor while grad mode is off and forward AD is not running), a Python
    float or int, or an array."""
    if isinstance(x, Tensor):
        return not x._requires_grad or (not _state.enabled and _function._fw_level is None)
    return type(x) in _PLAIN_OPERANDS


def _unary_apply(fn, x, *args) -> Tensor:
    """fn.apply(x, *args) for an op whose forward's result is ``fn._values(x_array, *args)``:
    when x takes no part in autograd (see _outside_graph), those values alone, without the
    node, ctx or saved arrays (the generic apply is ~1.5 us of a ~3 us small op). One helper
    for every single-tensor op (unary maths, activations, clamp, x ** number)."""
    if type(x) is Tensor and (
        not x._requires_grad or (not _state.enabled and _function._fw_level is None)
    ):
        a = x.data
        y = fn._values(a, *args)
        if a.base is not None and not a.flags.c_contiguous and type(y) is np.ndarray:
            y = _strides.as_torch(y, (a,))  # (see _laid)
        return Tensor._make(y, False, None, 0)
    out = fn.apply(x, *args)
    if isinstance(out, Tensor) and isinstance(x, Tensor):
        out.data = _laid(out.data, (x.data,))
    return out


def _plain_pair(a, b):
    """(a's array, b's array) when neither operand takes part in autograd, else None: both
    _outside_graph tests and both _data calls in one (the hot test of every small binary op;
    a Tensor subclass, such as a Parameter, goes the node's way)."""
    if type(a) is Tensor:
        if a._requires_grad and (_state.enabled or _function._fw_level is not None):
            return None
        a = a.data
    elif type(a) not in _PLAIN_OPERANDS:
        return None
    if type(b) is Tensor:
        if b._requires_grad and (_state.enabled or _function._fw_level is not None):
            return None
        b = b.data
    elif type(b) not in _PLAIN_OPERANDS:
        return None
    return a, b


def _float_binary(fn, a, b):
    """fn's result (fn: Add, Sub, Mul or Div) for the hot case of a binary op, else None (the
    general path, which also words the errors): two plain Tensors of one float dtype.
    Promotion and the bool and integer rules have nothing to do there, so this is
    _broadcasting's tests in one call (~0.5 us of a ~2.5 us 32x32 add): fn.apply when an
    operand takes part in autograd, else fn._plain through _bcast (_apply_broadcasting's).
    Also a float Tensor in autograd with a Python float or int: the general path's fn.apply
    with the same operands (_no_promotion passes the pair), ~0.5 us sooner."""
    if type(a) is not Tensor:
        return None
    tb = type(b)
    if tb is not Tensor:
        if (
            (tb is float or (tb is int and _INT_LO <= b < _INT_HI))
            and a._requires_grad
            and (_state.enabled or _function._fw_level is not None)
            and a.data.dtype.kind == "f"
            # (else _laid's path: a view's size-1 dim of another stride orders torch's too)
            and (a.data.base is None or a.data.flags.c_contiguous and 1 not in a.data.shape)
        ):
            return fn.apply(a, b)
        return None
    da, db = a.data, b.data
    dt = da.dtype
    if dt is not db.dtype:
        # overhead37: a float32/float64 tensor with an integer one outside the graph
        # (x + idx): the other cast to the float dtype, as _promote's result type does
        # (torch's too: float beats integer whatever the dims), without its frames
        if not (
            (dt is _F32 or dt is _F64)
            and db.dtype.kind in "iu"  # (not bool: torch refuses x - mask)
            and db.flags.c_contiguous
            and not _size1_strided(db)
            and not a._requires_grad
        ):
            if not (
                (db.dtype is _F32 or db.dtype is _F64)
                and dt.kind in "iu"
                and da.flags.c_contiguous
                and not _size1_strided(da)
                and not b._requires_grad
            ):
                return None
            da = da.astype(db.dtype)
        else:
            db = db.astype(dt)
        dt = da.dtype
    elif dt.kind != "f":
        return None
    try:
        if (a._requires_grad or b._requires_grad) and (
            _state.enabled or _function._fw_level is not None
        ):
            if (da.base is not None or db.base is not None) and not (
                da.flags.c_contiguous
                and db.flags.c_contiguous
                and not (_size1_strided(da) or _size1_strided(db))
            ):
                return None  # (_apply_broadcasting lays the result out as torch: _laid)
            return fn.apply(a, b)
    except ValueError:  # shapes that do not broadcast: the general path raises its message
        return None
    ufunc, call = fn._plain
    if da.shape == db.shape:
        if (
            call is None
            and da.ndim == 2
            and (da.base is not None or db.base is not None)
            and da.size
            and 1 not in da.shape
            and (da.flags.c_contiguous or da.flags.f_contiguous)
            and (db.flags.c_contiguous or db.flags.f_contiguous)
        ):
            # overhead37: a transposed operand (x + y.t()): torch's result takes the first
            # operand's order, C or F, which NumPy's order= lays out at once (no _laid step)
            y = ufunc(da, db, order="C" if da.flags.c_contiguous else "F")
            return Tensor._make(y, False, None, 0)
        if call is None:
            if da.size < _SAME_SHAPE_MIN:  # (_bcast's first case)
                y = ufunc(da, db)
                if da.base is not None or db.base is not None:
                    y = _laid(y, (da, db))
                return Tensor._make(y, False, None, 0)
        elif (
            da.size >= _KERNEL_MIN
            and (dt is _F32 or dt is _F64)
            and da.flags.c_contiguous
            and db.flags.c_contiguous
        ):  # (div: _binary_kernel's first case straight, ~0.7 us of its frames and tests)
            return Tensor._make(
                _C.binary(da, db, _BINARY_CODE[ufunc], False, False, None), False, None, 0
            )
    try:  # (_bcast's other cases, inlined: its frame is ~0.2 us of a broadcast row's ~2.5)
        y = _binary_kernel(ufunc, da, db)
        if y is None:
            y = ufunc(da, db) if call is None else call(ufunc, da, db)
            y = _laid(y, (da, db))
        elif da.base is not None or db.base is not None:  # (the kernel's C order: see _laid)
            y = _laid(y, (da, db))
        return Tensor._make(y, False, None, 0)
    except ValueError:  # shapes that do not broadcast: the general path raises its message
        return None


def _tensor_operand(x) -> Tensor:
    """Any array-like as a Tensor (a NumPy array is wrapped, not copied) with torch.tensor's
    dtypes: for the ops that read the operand's dtype, shape or data. (Not Tensor(x): Tensor(2)
    is PyTorch's legacy size form, a tensor of two zeros.)"""
    if isinstance(x, Tensor):
        return x
    return Tensor(x if isinstance(x, np.ndarray) else np.asarray(x, _default_dtype(x)))


def _int_overflow(x: int):
    """torch's parser refuses a Python int no int64 or uint64 Scalar holds (OverflowError),
    whatever the other operand's dtype."""
    raise OverflowError(f"value {x} is too big to convert: outside [-2**63, 2**64)")


def _as_operand(x, name: str = "other"):
    """Lists and other array-likes become arrays; Tensors, arrays and scalars pass through.
    (``name``: torch's name of the argument, for its TypeError.)"""
    if type(x) is Tensor:  # the common case, before the isinstance chain
        return x
    if isinstance(x, int) and not _INT_LO <= x < _INT_HI:
        _int_overflow(x)
    if isinstance(x, np.generic) and x.dtype.kind in "biufc":
        # a NumPy scalar is a Python scalar to PyTorch: x * np.float64(2) stays float32; and
        # torch's argument parser reads np.bool_ as a float (int8_tensor + np.bool_(True) is
        # float32 in torch 2.13), not as a Python bool
        return float(x) if x.dtype.kind == "b" else x.item()
    if isinstance(x, Tensor | np.ndarray | int | float | bool | complex):
        return x
    if isinstance(x, list | tuple):  # torch's operands are Tensors or numbers, never sequences
        raise TypeError(f"argument '{name}' must be Tensor, not {type(x).__name__}")
    return _tensor_operand(x)


# ---- arithmetic ---------------------------------------------------------------------------

# Op codes of _C.binary and _C.binary_scalar.
_BINARY_CODE = {
    np.add: 0,
    np.subtract: 1,
    np.multiply: 2,
    np.true_divide: 3,
    np.maximum: 4,
    np.minimum: 5,
}


def _ignoring(**errs):
    """call(fn, *args) = fn(*args) under np.errstate(**errs), in errstate's decorator form: ~1 us
    a call cheaper than the with-statement, which builds an errstate object each time."""

    @np.errstate(**errs)
    def call(fn, *args):
        return fn(*args)

    return call


_quiet_div = _ignoring(divide="ignore", invalid="ignore")  # x/0 is inf or nan, silently
_quiet_pow = _ignoring(over="ignore", invalid="ignore", divide="ignore")  # as torch: inf/nan
_quiet_all = _ignoring(all="ignore")


@functools.lru_cache(maxsize=256)  # a few shape pairs recur: ~0.1 us looked up, ~0.8 us computed
def _row_or_col(big: tuple, small: tuple):
    """(rows, n, per_row) when ``small`` broadcast to ``big`` is a row repeated over the
    leading dims (per_row False) or one value per row of the leading dims (per_row True)."""
    nd = len(big)
    if len(small) > nd:
        return None
    s = (1,) * (nd - len(small)) + tuple(small)
    last = nd
    while last and s[last - 1] == 1:
        last -= 1
    if s[:last] == big[:last]:  # a column: small varies over the leading dims only
        rows, n, per_row = math.prod(big[:last]), math.prod(big[last:]), True
    else:
        first = 0
        while first < nd and s[first] == 1:
            first += 1
        if s[first:] != big[first:]:
            return None
        rows, n, per_row = math.prod(big[:first]), math.prod(big[first:]), False
    return (rows, n, per_row) if n >= 8 else None


# From this many elements the C++ kernels (_C.binary, _C.binary_scalar) run: they cost no more
# than NumPy's ufunc call even on small arrays (and less with a Python scalar, a broadcast
# row or column, or division's errstate), and use threads from 64K elements. Tinier operands
# (0-d values, whose NumPy results are scalars) stay with NumPy, and so do operands of one
# shape below _SAME_SHAPE_MIN when no errstate is needed (_bcast: NumPy's loop is as fast as
# one kernel thread there, and reached without the kernel path's checks, ~0.4 us).
_KERNEL_MIN = 16
_SAME_SHAPE_MIN = 65536
_KERNEL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # (native byte order)
_F32_MAX = float(np.finfo(np.float32).max)


def _kernel_scalar(s, dtype) -> bool:
    """Whether the kernels round the Python number s to dtype as NumPy does: an int through
    an exact double, a float in float32's range (NumPy warns beyond it)."""
    if type(s) is int:
        return -(2**53) <= s <= 2**53
    return dtype.char == "d" or not _F32_MAX < builtins.abs(s) < math.inf


def _may_overlap(x: np.ndarray, y: np.ndarray) -> bool:
    """np.may_share_memory(x, y), skipped (~0.3 us) when neither is a view: two arrays that
    each own their memory (NumPy's, or the kernels' fresh outputs) cannot overlap."""
    if x.base is None and y.base is None:
        return x is y
    return np.may_share_memory(x, y)


def _binary_kernel(ufunc, a, b, out=None):
    """``ufunc(a, b)`` by the threaded C++ kernels when they apply, else None: C-contiguous
    float32/float64 arrays of one dtype and one shape, or the larger with a size-1 array, a
    Python number or a broadcast row or column, of _KERNEL_MIN elements and more. ``out``
    (in-place updates: out is a) must be the larger operand, and may not overlap the other."""
    ta, tb = type(a), type(b)
    if ta is np.ndarray and tb is np.ndarray:
        if out is None:  # the tests below in one C++ call (~1 us less); None: they decide
            y = _C.binary_auto(a, b, _BINARY_CODE[ufunc])
            if y is not None:
                return y
        dt = a.dtype
        if dt is not b.dtype and dt != b.dtype or dt not in _KERNEL_DTYPES:
            return None
        if a.shape == b.shape:
            if a.size < _KERNEL_MIN or not (a.flags.c_contiguous and b.flags.c_contiguous):
                return None
            if out is not None and b is not out and _may_overlap(b, out):
                return None  # (NumPy buffers an overlapping operand)
            return _C.binary(a, b, _BINARY_CODE[ufunc], False, False, out)
        big, small, flip = (a, b, False) if a.size >= b.size else (b, a, True)
        if big.size < _KERNEL_MIN or not big.flags.c_contiguous or (flip and out is not None):
            return None
        if out is not None and _may_overlap(small, out):
            return None
        if small.size == 1 and small.ndim <= big.ndim:  # a 0-d or (1, 1) array: one number
            return _C.binary_scalar(big, small.item(), _BINARY_CODE[ufunc], flip, out)
        plan = _row_or_col(big.shape, small.shape)
        if plan is None:
            return None
        # the kernel sees big as (rows, n) beside the row's n or the column's rows values
        # (ravel copies a strided one, x[:, 0], to a contiguous one)
        return _C.binary(big, small.ravel(), _BINARY_CODE[ufunc], plan[2], flip, out)
    if ta is np.ndarray:
        big, s, flip = a, b, False
    elif tb is np.ndarray and out is None:
        big, s, flip = b, a, True
    else:
        return None
    if (
        big.size >= _KERNEL_MIN
        and (type(s) is float or type(s) is int)
        and big.dtype in _KERNEL_DTYPES
        and big.flags.c_contiguous
        and _kernel_scalar(s, big.dtype)
    ):
        return _C.binary_scalar(big, s, _BINARY_CODE[ufunc], flip, out)
    return None


def _bcast(ufunc, a, b, call=None):
    """``ufunc(a, b)`` (add, subtract, multiply, true_divide, maximum, minimum): C-contiguous
    float operands go to the threaded C++ kernels (_binary_kernel), one IEEE operation per
    element as NumPy, so NumPy's bits. ``call`` (one of the _ignoring helpers) runs the NumPy
    ufunc when it is used: the C++ kernel raises no floating-point warnings to silence."""
    if (
        call is None
        and type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.size < _SAME_SHAPE_MIN
        and a.shape == b.shape
    ):
        return ufunc(a, b)  # (see _SAME_SHAPE_MIN)
    y = _binary_kernel(ufunc, a, b)
    if y is not None:
        return y
    if _big_number(b) or _big_number(a):
        call = _quiet_all  # (NumPy warns casting 1e39 to float32: torch's inf, silently)
    if (ufunc is np.multiply or ufunc is np.true_divide) and (half := _half_by_number(a, b)):
        # float16 times or over a Python number: torch computes in float32 with the number
        # unrounded (NumPy rounds it to float16 first: x * 1e5 was inf, x * 3.3333 an ulp off)
        a, b = half
        y = ufunc(a, b) if call is None else call(ufunc, a, b)
        with np.errstate(over="ignore"):
            return y.astype(np.float16)
    return ufunc(a, b) if call is None else call(ufunc, a, b)


_FLOATS = frozenset((float, complex))  # (Python numbers NumPy may overflow casting)
_absolute = builtins.abs  # (ops.abs is the tensor op)


def _big_number(v) -> bool:
    """v a Python float or complex beyond float32's range (or inf, NaN): NumPy may warn
    casting it to a float32 / complex64 / float16 operand, where torch is silent."""
    return type(v) in _FLOATS and not _absolute(v) <= _F32_MAX


def _half_by_number(a, b):
    """(a, b) in float32 for a float16 array a and a Python number b (or b * a); else None.
    (torch's add and sub round the number to float16 first, as NumPy, and so does a number
    divided by a tensor.)"""
    if type(b) in (float, int) and type(a) is np.ndarray and a.dtype == np.float16:
        return a.astype(np.float32), _float32(b)
    if type(a) in (float, int) and type(b) is np.ndarray and b.dtype == np.float16:
        return _float32(a), b.astype(np.float32)
    return None


def _float32(v) -> np.float32:
    """np.float32(v), inf beyond float32's range without NumPy's warning (torch's cast)."""
    return np.float32(v) if -_F32_MAX <= v <= _F32_MAX else _quiet_all(np.float32, v)


class Add(Function):
    # the forward's ufunc and its errstate wrapper (or None): run without the node when no
    # operand takes part in autograd (_apply_broadcasting)
    _plain = (np.add, None)

    @staticmethod
    def forward(ctx, a, b):
        # (two arrays, the common operands: their shapes without _shape's calls; of one shape
        # and small, _bcast's first case straight: ~0.3 us of its frame, overhead36)
        if type(a) is np.ndarray and type(b) is np.ndarray:
            sa, sb = ctx.shapes = (a.shape, b.shape)
            if sa == sb and a.size < _SAME_SHAPE_MIN:
                return np.add(a, b)
        else:
            ctx.shapes = (_shape(a), _shape(b))
        return _bcast(np.add, a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (_graph.sum_to(g, sa) if na else None, _graph.sum_to(g, sb) if nb else None)


def _times_alpha(a, b, alpha):
    """alpha * b for add/sub (and add_/sub_): computed in the dtype of a + b, as torch, so an
    integer or bool b wraps there (uint8 + 2 * int8 is int16; bool + 2 * bool stays bool) and a
    narrower float b is widened first (float32 + 3 * float16 is 3 * b in float32). torch's
    alpha rules: no float alpha for an integer result, no complex alpha for a real one, a bool
    alpha only for a bool result."""
    if isinstance(alpha, list | tuple | str) or alpha is None:  # (torch's alpha is a Number)
        raise TypeError(f"argument 'alpha' must be Number, not {type(alpha).__name__}")
    if isinstance(b, np.number):
        b = b.item()  # a NumPy number is a Python number to torch (weak in promotion)
    dt = result_type(a, b)
    alpha_kind = (
        _kind(alpha) if isinstance(alpha, Tensor | np.ndarray)
        else "b" if isinstance(alpha, bool | np.bool_)
        else "c" if isinstance(alpha, complex | np.complexfloating)
        else "f" if isinstance(alpha, float | np.floating) else "i"
    )  # fmt: skip
    result_kind = "f" if dt == _lowp.bfloat16 else dt.kind
    if alpha_kind == "b" and result_kind != "b":
        raise BadDtype("Boolean alpha only supported for Boolean results.")
    if alpha_kind in "fc" and result_kind in "biu":
        raise BadDtype(
            "For integral input tensors, argument alpha must not be a floating point number."
        )
    if alpha_kind == "c" and result_kind != "c":
        raise BadDtype(
            "For non-complex input tensors, argument alpha must not be a complex number."
        )
    if isinstance(b, Tensor | np.ndarray):
        if _kind(b) in "biu":  # (wraps in dt; no gradient to an integer b)
            return _to_dtype(mul(_to_dtype(b, dt), alpha), dt)
        if b.dtype != dt:
            return mul(cast(b, dt) if isinstance(b, Tensor) else b.astype(dt), alpha)
    if type(b) is bool:
        # torch wraps the bool as a 0-d bool tensor: alpha * b is computed in a + b's dtype
        # (int32 0-d + True * 2 stays int32, a bool tensor stays bool; was int64)
        return np.asarray(np.asarray(b * alpha).astype(dt))
    if type(b) in (int, float, complex) and type(alpha) in (int, float, complex):
        return b * alpha  # a Python number stays weak (int tensor + 2.5 * 2 is float32)
    return mul(b, alpha)


def _addc_arrays(input, tensor1, tensor2, value, graph=False, bcast=False):  # noqa: A002
    """The arrays for _C.addc when input, tensor1 (and tensor2, unless None) are float Tensors
    of one dtype, of one shape and C-contiguous (the in-place ops' contract) or, with `bcast`,
    of shapes that broadcast and any strides (the kernel reads them in place, through zero
    strides), outside the graph unless `graph`, and value an int or float (not bool); else None.
    _C.addc computes as torch's kernels fuse: input + value * tensor1 as fma(tensor1, value,
    input) (op 0), addcmul fma(value * t1, t2, input) (op 1), addcdiv input + (value * t1) / t2
    (op 2)."""
    ts = (input, tensor1) if tensor2 is None else (input, tensor1, tensor2)
    if type(value) not in (int, float):
        return None
    for t in ts:  # (a loop: this module's any/all are the tensor reductions)
        if type(t) is not Tensor or not (graph or _outside_graph(t)):
            return None
    arrays = tuple(t.data for t in ts)
    a = arrays[0]
    if a.dtype.char not in "fd":
        return None
    same = True
    for x in arrays:
        if x.dtype != a.dtype:
            return None
        same = same and x.shape == a.shape
        if not bcast and (not same or not x.flags.c_contiguous):
            return None
    if not same:
        try:
            np.broadcast_shapes(*(x.shape for x in arrays))
        except ValueError:
            return None  # (the composition raises torch's error)
    return arrays if tensor2 is not None else (*arrays, None)


def _addc_values(arrays, value, op):
    """_C.addc's result, laid out as torch lays out the operands' broadcast."""
    return _laid(_C.addc(*arrays, value, op), arrays[:3] if op else arrays[:2])


class _AddAlpha(Function):
    """a + s * b in one rounding, fma(b, s, a), as torch's add / sub with alpha (s = +-alpha in
    the operands' dtype), on broadcasting operands; torch's gradients g and g * s."""

    @staticmethod
    def forward(ctx, a, b, s):
        ctx.shapes, ctx.meta = (a.shape, b.shape), s
        return _addc_values((a, b, None), s, 0)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad[:2]
        with np.errstate(all="ignore"):  # (as torch: inf/nan silently)
            gb = g * g.dtype.type(ctx.meta) if nb else None
        return (unbroadcast(g, sa) if na else None, unbroadcast(gb, sb) if nb else None, None)

    @staticmethod
    def backward_graph(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad[:2]
        return (
            _graph.sum_to(g, sa) if na else None,
            _graph.sum_to(g * ctx.meta, sb) if nb else None,
            None,
        )


def _fused_alpha(a, b, alpha, sign=1):
    """a + sign * alpha * b as torch's kernel fuses it, fma(b, +-alpha, a) (see _addc_arrays),
    recorded as one node when a or b requires grad (not under forward-mode AD); else None."""
    graph = _function._fw_level is None
    if (arrays := _addc_arrays(a, b, None, alpha, graph, bcast=True)) is None:
        return None
    if _outside_graph(a) and _outside_graph(b):
        return Tensor._make(_addc_values(arrays, sign * alpha, 0), False, None, 0)
    return named(
        _AddAlpha.apply(a, b, sign * alpha), "AddBackward0" if sign > 0 else "SubBackward0"
    )


def add(a, b, *, alpha=1) -> Tensor:
    if type(alpha) is not int or alpha != 1:  # (alpha=1.0 or True is checked, as torch)
        if (y := _fused_alpha(a, b, alpha)) is not None:
            return y
        return _broadcasting(Add, "add", a, _times_alpha(a, b, alpha))
    if (y := _C.fast_binary(a, b, 0)) is not None:  # (Tensor.__add__'s C path: speed27)
        return y
    if (y := _float_binary(Add, a, b)) is not None:
        return y
    if (p := _complex_pair(a, b)) is not None:
        return _complex_alpha(Tensor._make(np.add(*p), False, None, 0), a, b, np.add)
    return _complex_alpha(_broadcasting(Add, "add", a, b), a, b, np.add)


def _complex_pair(a, b):
    """overhead44: the arrays of two complex Tensors of one dtype and shape outside autograd,
    neither a view (no layout for _laid to mend), else None: add / sub / mul of them is the
    ufunc _apply_broadcasting runs, without _broadcasting's steps (a 32x32 complex64 a + b
    ~5.0 -> ~2.5 us, torch ~1.5)."""
    if type(a) is Tensor and type(b) is Tensor and not (a._requires_grad or b._requires_grad):
        x, y = a._data, b._data
        if (
            x.dtype is y.dtype
            and x.dtype.kind == "c"
            and x.shape == y.shape
            and x.base is None
            and y.base is None
        ):
            return x, y
    return None


def _complex_alpha(y, a, b, ufunc):
    """torch's complex add / sub compute a +- alpha * b, alpha = 1 + 0j even when not given:
    an infinite part of b makes its other part NaN (inf * 0), x + inf is inf + nanj (ember's
    values recomputed so, only then)."""
    if type(y) is not Tensor or y.data.dtype.kind != "c":
        return y
    bd = _times_one(b, y.data.dtype)
    if bd is not None:
        y.data[...] = ufunc(np.asarray(_data(a)), bd)
    return y


def _times_one(b, dtype):
    """b * (1 + 0j) in the complex dtype when b has an infinite or NaN part (what torch's
    complex add / sub add, see _complex_alpha), else None (b adds as it is)."""
    if type(b) is float or type(b) is complex:
        if _absolute(b) <= _F32_MAX:  # (finite in any complex dtype: the common case, fast)
            return None
        with np.errstate(over="ignore"):  # (as dtype: 1e39 is inf in complex64)
            b = np.asarray(b).astype(dtype)[()]
        if cmath.isfinite(b):
            return None
    bd = b.data if type(b) is Tensor else np.asarray(_data(b))
    if bd.dtype.kind not in "fc":
        return None
    if bd.flags.c_contiguous:  # (an inf or NaN makes the dot non-finite; an overflow only costs
        f = bd.reshape(-1)  # the recompute below: ~1 us less than isfinite().all() of a 32x32)
        if f.dtype.kind == "c":
            f = f.view(_F32 if f.dtype.itemsize == 8 else _F64)
        if math.isfinite(_quiet_all(np.dot, f, f)):
            return None
    elif np.isfinite(bd).all():
        return None
    with np.errstate(invalid="ignore"):
        return bd.astype(dtype) * dtype.type(1)


class Sub(Function):
    _plain = (np.subtract, None)

    @staticmethod
    def forward(ctx, a, b):
        if type(a) is np.ndarray and type(b) is np.ndarray:  # (see Add.forward)
            sa, sb = ctx.shapes = (a.shape, b.shape)
            if sa == sb and a.size < _SAME_SHAPE_MIN:
                return np.subtract(a, b)
        else:
            ctx.shapes = (_shape(a), _shape(b))
        return _bcast(np.subtract, a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(-g, sb) if nb else None)

    @staticmethod
    def backward_graph(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (_graph.sum_to(g, sa) if na else None, _graph.sum_to(-g, sb) if nb else None)


def check_bool_sub(a, b) -> None:
    """torch refuses ``-`` with a bool operand (``~`` / logical_not inverts a mask)."""
    for x in (a, b):
        if type(x) is Tensor:  # the common case, without the isinstance chain below
            is_bool = x.data.dtype.kind == "b"
        else:
            is_bool = type(x) is bool or (
                isinstance(x, Tensor | np.ndarray) and x.dtype.kind == "b"
            )
        if is_bool:
            for y in (a, b):  # (an int torch's parser refuses: its OverflowError first)
                if type(y) is int and not _INT_LO <= y < _INT_HI:
                    _int_overflow(y)
            raise BadDtype(
                "sub: subtraction with a bool tensor is not supported; to invert a mask use "
                "`~` or logical_not()"
            )


def sub(a, b, *, alpha=1) -> Tensor:
    if type(alpha) is int and alpha == 1 and (y := _C.fast_binary(a, b, 1)) is not None:
        return y  # (Tensor.__sub__'s C path: speed27)
    if type(alpha) is int and alpha == 1:
        if (y := _float_binary(Sub, a, b)) is not None:
            return y
        if (p := _complex_pair(a, b)) is not None:
            return _complex_alpha(Tensor._make(np.subtract(*p), False, None, 0), a, b, np.subtract)
    check_bool_sub(a, b)
    if type(alpha) is not int or alpha != 1:
        if (y := _fused_alpha(a, b, alpha, -1)) is not None:
            return y
        b = _times_alpha(a, b, alpha)
    return _complex_alpha(_broadcasting(Sub, "sub", a, b), a, b, np.subtract)


class Mul(Function):
    _plain = (np.multiply, None)

    @staticmethod
    def forward(ctx, a, b):
        # each operand is kept only for the other's gradient (its shape always), as torch: an
        # in-place write into h after y = h * 3 leaves y's backward valid
        na, nb = ctx.needs_input_grad
        ctx.save_for_backward(a if nb else _shape_only(a), b if na else _shape_only(b))
        if type(a) is _ND and type(b) is _ND and a.shape == b.shape:
            # speed28b: two arrays of one shape, the common recorded product: _bcast's first
            # case and _scalar_grad_ok's tests inline, the same decisions (same shapes that
            # fail _scalar_grad_ok fail _row_grad_ok too); ~0.4 us of frames a 32x32 a * b
            y = np.multiply(a, b) if a.size < _SAME_SHAPE_MIN else _bcast(np.multiply, a, b)
            dt = a.dtype
            if (
                dt is b.dtype
                and dt in _KERNEL_DTYPES
                and a.size >= _KERNEL_MIN
                and a.flags.c_contiguous
                and b.flags.c_contiguous
            ):
                ctx._broadcast_grad = True
            return y
        y = _bcast(np.multiply, a, b)
        if _scalar_grad_ok(a, b) or _row_grad_ok(a, b, y):  # a full sum's gradient may
            ctx._broadcast_grad = True  # arrive unfilled (_reads_broadcast)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        if "_broadcast_grad" in vars(ctx) and (one := _one_value(g)) is not None:
            # one value broadcast (same-shape kernel operands: see forward): value * the other
            # operand by the scalar kernel, one pass over one array where the filled gradient
            # took a fill and a two-array pass (the same products: g * b elementwise)
            v, code = one[0].item(), _BINARY_CODE[np.multiply]
            if a.shape != b.shape:  # x * row (see _row_grad_ok): speed24, x (1000, 1000) ~2x
                return _row_grads(g, a, b, na, nb)
            return (
                _C.binary_scalar(b, v, code, True, None) if na else None,
                _C.binary_scalar(a, v, code, True, None) if nb else None,
            )
        return (
            unbroadcast(_bcast(np.multiply, g, b), _shape(a)) if na else None,
            unbroadcast(_bcast(np.multiply, g, a), _shape(b)) if nb else None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        a, b = _graph.inputs(ctx, *ctx.saved_tensors)
        sa, sb = map(_shape, ctx.saved_tensors)
        na, nb = ctx.needs_input_grad
        return (_graph.sum_to(g * b, sa) if na else None, _graph.sum_to(g * a, sb) if nb else None)


def _scalar_grad_ok(a, b) -> bool:
    """Whether a binary op's backward may take a broadcast gradient value to the scalar
    kernel: same-shape C-contiguous float32/float64 operands of one dtype."""
    return (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.dtype is b.dtype
        and a.dtype in _KERNEL_DTYPES
        and a.shape == b.shape
        and a.size >= _KERNEL_MIN
        and a.flags.c_contiguous
        and b.flags.c_contiguous
    )


def _row_grad_ok(a, b, y) -> bool:
    """Whether Mul's backward may take a broadcast gradient value for x * row: C-contiguous
    float32/float64 operands of one dtype, one of them of y's shape (see _row_grads)."""
    return (
        y.size >= 16384  # (below, np.broadcast_to's ~2 us outweighs the fill it saves; first:
        # every small same-shape product asks, review24 measured 0.7 us spent before it)
        and type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.dtype is b.dtype
        and a.dtype in _KERNEL_DTYPES
        and (y.shape == a.shape or y.shape == b.shape)
        and a.flags.c_contiguous
        and b.flags.c_contiguous
    )


def _row_grads(g, a, b, na, nb):
    """Mul's gradients for g, one value v broadcast, where one operand (full) has g's shape and
    the other (row) broadcasts into it: v * row written into every row, and the row's sum of
    v * full, full itself when v is 1 (the same products, so the same bits, as the filled g
    gave; without its fill and, for v == 1, a pass writing the products)."""
    full, row, nf, nr = (a, b, na, nb) if a.shape == g.shape else (b, a, nb, na)
    v = g.reshape(-1)[0]
    gf = gr = None
    if nf:
        gf = np.empty(g.shape, g.dtype)
        np.multiply(row, v, out=gf)
    if nr:
        p = (
            full
            if v == 1
            else _C.binary_scalar(full, v.item(), _BINARY_CODE[np.multiply], True, None)
        )
        gr = unbroadcast(p, row.shape)
    return (gf, gr) if full is a else (gr, gf)


class _ShapeOnly:
    """A stand-in for a saved array that backward needs only the shape and dtype of."""

    __slots__ = ("shape", "dtype")

    def __init__(self, a):
        self.shape, self.dtype = a.shape, a.dtype


def _shape_only(a):
    return _ShapeOnly(a) if type(a) is np.ndarray else a


class _Held:
    """An array backward passes to a kernel but whose values reach no gradient asked for:
    kept outside the values the version check scans, so a write into it after the forward
    is not refused (torch never saved it)."""

    __slots__ = ("array",)

    def __init__(self, a):
        self.array = a


def _held(a):
    return a.array if type(a) is _Held else a


def _stand_in(a: np.ndarray) -> np.ndarray:
    """A saved operand backward reads only the shape, dtype and views of: a zero broadcast to
    a's shape (no memory, and not a's: writes into a leave the node valid)."""
    z = np.ndarray(a.shape, a.dtype, np.zeros(1, a.dtype), 0, (0,) * a.ndim)  # (broadcast_to's
    z.flags.writeable = False  # array, made directly: ~1 us where broadcast_to costs ~3)
    return z


def mul(a, b) -> Tensor:
    if (y := _C.fast_binary(a, b, 2)) is not None:  # (Tensor.__mul__'s C path: speed27)
        return y
    if (y := _float_binary(Mul, a, b)) is not None:
        return y
    if (p := _complex_pair(a, b)) is not None:
        return Tensor._make(np.multiply(*p), False, None, 0)
    if (type(a) is int or type(a) is float) and type(b) is Tensor and b.data.dtype in _lowp.LOWP:
        # torch.mul(number, float16 x) (not x * number): the number a 0-d tensor first, which
        # torch's kernel rounds to x's dtype (mul(70000, x) is inf there, inf * 0 NaN)
        a = np.asarray(float(a)).astype(b.data.dtype)
    return _broadcasting(Mul, "mul", a, b)


class Div(Function):
    _plain = (np.true_divide, _quiet_div)

    @staticmethod
    def forward(ctx, a, b):
        # b is always read (both gradients divide by it); a only for b's gradient (see Mul)
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else _shape_only(a), b)
        if _scalar_grad_ok(a, b):  # (see Mul)
            ctx._broadcast_grad = True
            # (such operands: _bcast's kernel call straight, ~0.4 us of its frames; overhead36)
            return _C.binary(a, b, _BINARY_CODE[np.true_divide], False, False, None)
        return _bcast(np.true_divide, a, b, _quiet_div)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        if "_broadcast_grad" in vars(ctx) and (one := _one_value(g)) is not None:
            # one value v broadcast (see Mul): v / b and -v * ((a / b) / b) by the kernels, the
            # same operations element by element without the fill and the negation pass
            v, div = one[0].item(), _BINARY_CODE[np.true_divide]
            gb = None
            if nb:
                gb = _C.binary(a, b, div, False, False, None)
                _C.binary(gb, b, div, False, False, gb)
                _C.binary_scalar(gb, -v, _BINARY_CODE[np.multiply], True, gb)
            return (_C.binary_scalar(b, v, div, True, None) if na else None), gb
        ga = _bcast(np.true_divide, g, b) if na else None
        # -g * ((a / b) / b) as PyTorch: b * b would underflow (or overflow) first
        gb = (
            _bcast(np.multiply, -g, _bcast(np.true_divide, _bcast(np.true_divide, a, b), b))
            if nb
            else None
        )
        return (
            unbroadcast(ga, _shape(a)) if na else None,
            unbroadcast(gb, _shape(b)) if nb else None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        a, b = _graph.inputs(ctx, *ctx.saved_tensors)
        sa, sb = map(_shape, ctx.saved_tensors)
        na, nb = ctx.needs_input_grad
        return (
            _graph.sum_to(g / b, sa) if na else None,
            _graph.sum_to(-g * ((a / b) / b), sb) if nb else None,
        )


class _NoMode:
    """div's rounding_mode left out (torch names an explicit None's node DivBackward2)."""

    def __repr__(self):
        return "None"


_NO_MODE = _NoMode()


def div(a, b, *, rounding_mode=_NO_MODE) -> Tensor:
    if rounding_mode is None:  # (given: the same values, torch's node of the rounding overload)
        return named(div(a, b), "DivBackward2")
    if rounding_mode is not _NO_MODE:  # 'trunc' or 'floor': see the pointwise API section
        return _rounded_div(a, b, rounding_mode)
    if (y := _C.fast_binary(a, b, 3)) is not None:  # (Tensor.__truediv__'s C path: speed27)
        return y
    if (y := _float_binary(Div, a, b)) is not None:
        return y
    if _no_promotion(a, b) and (type(a) is not Tensor or a.data.dtype.kind == "f"):
        # the common case (float operands of one dtype): none of the conversions below apply
        return _apply_broadcasting(Div, "div", a, b)
    a, b = _as_operand(a, "input"), _as_operand(b)
    if _kind(a) in "biu" and _kind(b) in "biu":  # true division of integers gives the default dtype
        _uint64_bool(a, b)
        a = _to_dtype(a, get_default_dtype()) if isinstance(a, Tensor | np.ndarray) else float(a)
    return _broadcasting(Div, "div", a, b)


def _pow_scalar(a: np.ndarray, e):
    """a ** e for a float array and a Python number e, by PyTorch's special cases: 2 and 3 by
    products, 0.5 and -0.5 by sqrt ((-inf) ** 0.5 is NaN, (-0.0) ** -0.5 is -inf), -1 and -2 by
    division. np.power's generic loop is also ~6x slower than np.square for the hot x ** 2."""
    if e in _POW_KERNEL and _kernel_ok(a):
        # the kernel at any size: it raises no floating-point warnings, so the ~1 us errstate
        # NumPy's loops need (overflow is a silent inf, as torch) is not paid
        return _act_forward(_POW_KERNEL[e], a)
    if type(e) is int and not -(2**63) <= e < 2**64:  # torch's Scalar: an int64 or a uint64
        raise OverflowError(f"pow: the exponent {e} fits in neither int64 nor uint64 (as torch)")
    return _quiet_pow(_pow_by_numpy, a, e)


# the exponents one unary kernel computes with the same bits (activation.cpp: x * x, x * x * x,
# sqrt, 1 / x, 1 / sqrt(x), 1 / (x * x))
_POW_KERNEL = {
    2: "square",
    3: "cube",
    0.5: "sqrt",
    -1: "reciprocal",
    -0.5: "rsqrt",
    -2: "inv_square",
}


# torch.pow's shortcuts for a Python exponent (complex tensors, and 0-d tensors as optimisers'
# bias corrections use them): sqrt, 1 / z and products, each op rounded in the input's dtype
# (C99's values at complex infinities: sqrt(inf+0j) is inf+0j, where np.power's exp(b log z)
# gives NaNs). +a: a copy of an array, a scalar as it is.
POW_SHORTCUTS = {
    0.5: np.sqrt,
    -0.5: lambda a: 1 / np.sqrt(a),
    -1: lambda a: 1 / a,
    2: lambda a: a * a,
    3: lambda a: a * a * a,
    -2: lambda a: 1 / (a * a),
    1: lambda a: +a,
}


def _pow_by_numpy(a: np.ndarray, e):
    if e == 1:
        return a.copy()
    if e == 2:
        return np.square(a)
    if e == 3:
        return a * a * a
    if e == 0.5:
        return np.sqrt(a)
    if e == -0.5:
        return 1 / np.sqrt(a)
    if e == -1:
        return 1 / a
    if e == -2:
        return 1 / (a * a)
    return np.power(a, e)


class Pow(Function):
    _plain = None  # (its forward is more than one ufunc: always the node, see _apply_broadcasting)

    @staticmethod
    def _values(a, b):  # (see _unary_apply: pow's fast path, b a Python number)
        if type(b) in (int, float) and a.dtype.kind == "f":
            return _pow_scalar(a, b)
        if type(b) in (int, float, complex) and _kind(a) == "c" and b.imag == 0:
            f = POW_SHORTCUTS.get(b.real)
            if f is not None:
                return _quiet_pow(lambda a, _: f(a), a, b)
        y = _pow_floats(a, b)  # as torch: inf/nan, silently
        if y.dtype.kind == "c":  # torch's exp(b log a): 0 ** b is inf + nanj for Re(b) < 0
            with np.errstate(invalid="ignore"):
                y = np.where((a == 0) & (np.real(b) < 0), y.dtype.type(complex(np.inf, np.nan)), y)
                # and 0 ** b for Re(b) > 0 is 0 - 0j, 0 + 0j where Im(b) < 0 (NumPy's 0 + 0j)
                if (zero := (a == 0) & (np.real(b) > 0)).any():
                    signed = np.where(
                        np.imag(b) < 0, y.dtype.type(0), y.dtype.type(complex(0.0, -0.0))
                    )
                    y = np.where(zero, signed, y)
            if type(b) is _ND:  # and, b a tensor, a ** 0 NaN where log(a) is not finite
                nan = y.dtype.type(complex(np.nan, np.nan))
                y = np.where((b == 0) & ((a == 0) | ~np.isfinite(a)), nan, y)
        return y

    @staticmethod
    def forward(ctx, a, b):
        ctx.scalar = type(b) in (int, float) and a.dtype.kind == "f"
        if type(b) is not _ND and not ctx.scalar:  # a complex x ** number: torch's pow.Scalar
            ctx._named = "PowBackward0"
        y = Pow._values(a, b)
        # y is read only for b's gradient, as torch keeps it only then
        ctx.save_for_backward(a, b, y if ctx.needs_input_grad[1] else _shape_only(y))
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            # d(a^b)/da = b * a^(b-1), and 0 where b == 0 (as PyTorch: 0 ** 0 has gradient 0).
            if ctx.scalar:  # a^(b-1) by the same special cases, as PyTorch
                if b == 0:
                    da = np.zeros_like(a)
                else:  # a^1 is a itself: no copy for the hot x ** 2
                    da = b * (a if b == 2 else _pow_scalar(a, b - 1))
            else:
                with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                    da = np.where(b == 0, 0, b * np.power(a, b - 1)).astype(g.dtype, copy=False)
            ga = unbroadcast(g * da, _shape(a))
        if nb and np.result_type(a, b).kind == "c":  # holomorphic in b: g y log(a)
            with np.errstate(all="ignore"):
                gb = np.where((a == 0) & (np.real(b) >= 0), 0, g * y * np.log(a))
            gb = unbroadcast(gb, _shape(b))
        elif nb:
            loga = np.where(a > 0, np.log(np.where(a > 0, a, 1)), np.where(a == 0, -np.inf, np.nan))
            # PyTorch's rule: 0 where a == 0 and b >= 0 (0 ** 0 included), else y * log(a)
            gb = np.where((a == 0) & (b >= 0), 0, g * y * loga)
            gb = unbroadcast(gb, _shape(b))
        return ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        a0, b0, y = ctx.saved_tensors
        a, b = _graph.inputs(ctx, a0, b0)
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            if ctx.scalar:
                da = _graph.constant(np.zeros_like(a0)) if b0 == 0 else b0 * a ** (b0 - 1)
            else:
                da = where(_graph.constant(b0 == 0), 0.0, b * a ** (b - 1))
            ga = _graph.sum_to(g * da, _shape(a0))
        if nb:  # as backward: 0 where a == 0 and b >= 0, else g * y * log(a)
            zero = _graph.constant((a0 == 0) & (b0 >= 0))  # (log reads 1 there: no 0 * -inf)
            gy = g * _graph.output(ctx, y) * log(where(zero, 1.0, _graph.constant(a)))
            gb = _graph.sum_to(where(zero, 0.0, gy), _shape(b0))
        return ga, gb


def _scalar_int_range(op, *vs) -> None:
    """torch's OverflowError for a Python int operand that a Scalar (int64 or uint64) cannot
    hold, whatever the tensor's dtype (a float result would otherwise round it to inf)."""
    for v in vs:
        if type(v) is int and not -(2**63) <= v < 2**64:
            raise OverflowError(f"{op}: the int {v} fits in neither int64 nor uint64 (as torch)")


def pow(a, b) -> Tensor:  # noqa: A001 (PyTorch's name)
    if type(a) is Tensor and (type(b) is float or type(b) is int) and a.data.dtype.kind == "f":
        # the common x ** 2: a float tensor and a Python number need none of the checks below
        if a.data.itemsize == 2:  # (but float16's: torch converts the exponent, checked)
            _lowp_exponent(b, a.data.dtype)
        return _unary_apply(Pow, a, b)
    if type(a) is Tensor and type(b) is Tensor and a.data.dtype.kind == "f":
        if a.data.dtype is b.data.dtype:  # two float tensors of one dtype: nothing to check
            if _outside_graph(a) and _outside_graph(b):  # Pow's forward without the node
                x, e = a.data, b.data
                try:
                    y = _pow_floats(x, e)
                except ValueError:
                    _check_broadcast("pow", x, e)
                    raise
                if type(y) is not _ND:  # (two 0-d arrays give a NumPy scalar: read-only)
                    return Tensor._make(y, False, None, 0)
                return _plain(_laid(y, (x, e)))
            return _apply_broadcasting(Pow, "pow", a, b)
    if (
        (type(a) is float or type(a) is int)
        and type(b) is Tensor
        and (b._data.dtype is _F32 or b._data.dtype is _F64)
        and _outside_graph(b)
        and -_LONG <= a < _LONG
    ):  # overhead42: 2 ** x outside the graph, Pow's values straight (~9 -> ~5 us of a 32x32:
        e = b._data  # _broadcasting's steps, whose forward reaches the same _pow_floats(a, e))
        y = _pow_floats(a, e)  # (torch's pow(Scalar, Tensor) is C-contiguous whatever e's
        return (
            _plain(np.ascontiguousarray(y)) if type(y) is _ND else Tensor._make(y, False, None, 0)
        )
    if isinstance(b, list | tuple):  # (torch's exponent is a tensor or a number)
        raise TypeError(f"pow(): exponent must be a Tensor or a number, not {type(b).__name__}")
    _scalar_int_range("pow", a, b)
    a, b = _as_operand(a, "input"), _as_operand(b)
    if not isinstance(a, Tensor | np.ndarray) and not isinstance(b, Tensor | np.ndarray):
        a = _tensor_operand(a)  # pow(2, 3): a tensor, as for any two numbers
    if _kind(a) == _kind(b) == "b":  # NumPy's would be int8
        if type(b) is not bool:  # (a Python bool base, or two bool tensors)
            raise not_implemented("pow", "bool", "two bool operands")
        # torch's scalar shortcuts: x ** 1 is a copy of x, x ** 0 ones, in x's dtype (bool)
        return Tensor(np.array(_data(a)) if b else np.ones(np.shape(_data(a)), np.bool_))
    if isinstance(a, Tensor) and a.data.dtype.kind in "biu" and isinstance(b, int) and b < 0:
        raise BadShapeOrValue("pow: integers to negative integer powers are not allowed")
    if isinstance(a, Tensor) and a.data.dtype.kind in "iu" and type(b) is int:
        _wrapped(b, a.data.dtype, checked=True)  # torch refuses exponents out of the dtype's range
    if isinstance(a, Tensor) and a.data.dtype in _lowp.LOWP and type(b) in (int, float):
        _lowp_exponent(b, a.data.dtype)
    if type(a) is int and isinstance(b, Tensor) and b.data.dtype.kind in "iu":
        a = _wrapped(a, b.data.dtype)  # (torch's base in the exponent's dtype: 2**63-1 is -1)
    if _kind(a) in "biu" and _kind(b) in "iu":
        if isinstance(b, Tensor | np.ndarray):  # torch casts the exponent to the result dtype
            b = _to_dtype(b, result_type(a, b))  # first (a 0-d uint8 255 under int8 is -1)
        if np.any(np.asarray(_data(b)) < 0):
            return _int_pow_negative(np.asarray(_data(a)), np.asarray(_data(b)))
    out = _broadcasting(Pow, "pow", a, b)
    if isinstance(a, Tensor | np.ndarray):
        return out
    # a number base (2 ** x): torch's pow.Scalar node, and its C-contiguous result (overhead42)
    if isinstance(out, Tensor) and type(out.data) is _ND and not out.data.flags.c_contiguous:
        out.data = np.ascontiguousarray(out.data)
    return named(out, "PowBackward2")


def _lowp_exponent(b, dt) -> None:
    """torch's checked conversion of a number exponent to a float16 / bfloat16 base's dtype."""
    if _FILL_TOP[dt] < builtins.abs(b) < math.inf:
        raise BadShapeOrValue(f"pow: value {b} cannot be converted to type {dt} without overflow")


def _int_pow_negative(a: np.ndarray, b: np.ndarray) -> Tensor:
    """Integer a ** b with some b < 0, as PyTorch's integer kernel (NumPy refuses): 1 ** b is 1,
    (-1) ** b is +-1 by parity, anything else (0 too) truncates to 0."""
    _check_broadcast("pow", a, b)
    dtype = result_type(a, b)
    with np.errstate(over="ignore"):  # (wraps, as PyTorch's)
        pos = np.power(a.astype(dtype), np.maximum(b, 0).astype(dtype), dtype=dtype)
    unit = np.where(a == 1, 1, np.where(a == -1, 1 - 2 * (b % 2), 0))
    return Tensor(np.asarray(np.where(b < 0, unit, pos), dtype))


class Neg(Function):
    @staticmethod
    def _values(a):
        return _threaded_kernel("neg", a, np.negative)

    @staticmethod
    def forward(ctx, a):
        return _threaded_kernel("neg", a, np.negative)  # (Neg._values, without its frame)

    @staticmethod
    def backward(ctx, g):
        return _threaded_kernel("neg", g, operator.neg)

    @staticmethod
    def backward_graph(ctx, g):
        return -g


def neg(a) -> Tensor:
    if type(a) is not Tensor:
        a = _as_operand(a, "input")
    try:
        return _unary_apply(Neg, a)
    except TypeError:  # NumPy's message for bool; checked only here, off the hot path
        if _kind(a) != "b":
            raise
    raise BadDtype("neg: negating a bool tensor is not supported; use ~ or logical_not()")


# ---- pointwise API: comparisons, arithmetic forms, special functions --------------------------
# PyTorch's everyday pointwise functions. Each is both ember.X and Tensor.X (via _EXTRAS); the
# in-place X_ methods are made from them in tensor.py. Smooth ones are `Elementwise` (unary) or
# `Binary` Functions with their derivative beside f; piecewise-constant and bool-valued ones
# give results outside the graph, as the comparisons do.


def _operands(op: str, a, b, floats: bool = False):
    """Both operands with PyTorch's category promotion, after a broadcast check that names the
    shapes; a non-numeric operand is a TypeError. With floats, an integer/bool pair first becomes
    the default dtype, each cast on its own as torch's: a (4,) uint8 with a 0-d int16 -3 computes
    with -3.0, not the uint8 253."""
    for x in (a, b):
        if isinstance(x, str | bytes | dict | set | type(None)):
            raise TypeError(f"{op}: expected a tensor or a number, got {type(x).__name__}")
    a, b = _as_operand(a, "input"), _as_operand(b)
    if floats and _kind(a) in "biu" and _kind(b) in "biu":
        _uint64_bool(a, b)  # (before the ints become floats)
        dt = get_default_dtype()
        a, b = (
            _to_dtype(x, dt) if isinstance(x, Tensor | np.ndarray) else float(x) for x in (a, b)
        )
    if not isinstance(a, Tensor | np.ndarray) and not isinstance(b, Tensor | np.ndarray):
        a = _tensor_operand(a)  # two Python numbers: the result is still a tensor
    a, b = _promote(a, b)
    _check_broadcast(op, _data(a), _data(b))
    return a, b


def _float_pair_operands(op: str, a, b):
    """As _operands, then integer/bool pairs become the default dtype (float-valued maths)."""
    return _operands(op, a, b, floats=True)


def _bool_result(name: str, ufunc):
    def op(input, other) -> Tensor:  # noqa: A002  (PyTorch's names)
        a, b = _operands(name, input, other)
        if ufunc in _ORDERING:
            _no_kernel(name, a, b)
        a, b = _data(a), _data(b)
        y = np.asarray(ufunc(a, b))
        if (type(a) is _ND and a.base is not None) or (type(b) is _ND and b.base is not None):
            y = _laid(y, (a, b))  # (see _laid)
        return Tensor._make(y, False, None, 0)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} with broadcasting: a bool tensor, no gradient."
    return op


eq = _bool_result("eq", np.equal)
ne = not_equal = _bool_result("ne", np.not_equal)
lt = less = _bool_result("lt", np.less)
le = less_equal = _bool_result("le", np.less_equal)
gt = greater = _bool_result("gt", np.greater)
ge = greater_equal = _bool_result("ge", np.greater_equal)
logical_and = _bool_result("logical_and", np.logical_and)
logical_or = _bool_result("logical_or", np.logical_or)
logical_xor = _bool_result("logical_xor", np.logical_xor)


# torch has no bool kernel of these (two bool operands)
_NO_BOOL_FORM = frozenset(("gcd", "lcm", "bitwise_left_shift", "bitwise_right_shift"))


def _integer_op(name: str, ufunc):
    """torch.bitwise_*, gcd, lcm: logical on bool tensors, bitwise on integers, a TypeError on
    floats; no gradient."""

    def op(input, other=None) -> Tensor:  # noqa: A002
        if name in ("gcd", "lcm"):  # (no Scalar overload in torch, unlike bitwise_*)
            _tensors_only(name, input, other)
        elif isinstance(other, list | tuple) or isinstance(input, list | tuple):
            raise TypeError(f"{name}(): argument 'other' must be Tensor or a number, not list")
        # lists as arrays (their own dtype, not Tensor()'s float), Python scalars stay weak
        a, b = (
            x if isinstance(x, Tensor | int) else _as_operand(np.asarray(x)) for x in (input, other)
        )
        args = (a,) if ufunc is np.invert else (a, b)
        _no_kernel(name, *args, kinds="fcV", detail="needs integer or bool operands")  # (V: bf16)
        args = tuple(map(_data, args if ufunc is np.invert else _promote(a, b)))
        if name in _NO_BOOL_FORM and result_type(a, b).kind == "b":
            raise not_implemented(name, "bool")
        y = np.asarray(ufunc(*args))
        if builtins.any(type(x) is _ND and x.base is not None for x in args):
            y = _laid(y, args)  # (see _laid)
        return Tensor._make(y, False, None, 0)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} with broadcasting (no gradient)."
    return op


bitwise_and = _integer_op("bitwise_and", np.bitwise_and)
bitwise_or = _integer_op("bitwise_or", np.bitwise_or)
bitwise_xor = _integer_op("bitwise_xor", np.bitwise_xor)
bitwise_not = _integer_op("bitwise_not", np.invert)
bitwise_left_shift = _integer_op("bitwise_left_shift", np.left_shift)
bitwise_right_shift = _integer_op("bitwise_right_shift", np.right_shift)
gcd = _integer_op("gcd", np.gcd)
lcm = _integer_op("lcm", np.lcm)
Frexp = namedtuple("Frexp", ["mantissa", "exponent"])


def frexp(input) -> Frexp:  # noqa: A002
    """input = mantissa * 2 ** exponent with |mantissa| in [0.5, 1): (mantissa, int32 exponent)."""
    x = _tensor_operand(input)
    if not _lowp.is_float(x.dtype):
        raise TypeError(f"frexp: needs a floating tensor, got {x.dtype}")
    m, e = np.frexp(x.data)
    e = e.astype(np.int32)
    mt = _FrexpMantissa.apply(x, m, e) if x.requires_grad else Tensor._make(m, False, None, 0)
    return Frexp(mt, Tensor._make(e, False, None, 0))


class _FrexpMantissa(Function):
    # x -> mantissa = x / 2**exponent, the exponent held fixed (torch's grad / exponent.exp2())
    @staticmethod
    def forward(ctx, x, m, e):
        ctx.scale = np.exp2(-e.astype(x.dtype))
        return m

    @staticmethod
    def backward(ctx, g):
        return g * ctx.scale, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return _graph.linear(ctx, g, lambda v: v * ctx.scale), None, None


def logical_not(input) -> Tensor:  # noqa: A002
    return Tensor._make(np.asarray(np.logical_not(_data(_tensor_operand(input)))), False, None, 0)


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):  # noqa: A002
    """|input - other| <= atol + rtol * |other| elementwise (a bool tensor)."""
    _tensors_only("isclose", input, other)
    if rtol < 0 or atol < 0:
        raise BadShapeOrValue(
            f"isclose: rtol and atol must be greater than or equal to zero, got {rtol}, {atol}"
        )
    _one_dtype("isclose", input, other)
    a, b = _operands("isclose", input, other)
    return Tensor(np.asarray(np.isclose(_data(a), _data(b), rtol, atol, equal_nan)))


def _one_dtype(op: str, a, b) -> None:
    """torch's isclose / allclose compare tensors of one dtype ('Float did not match Double')."""
    da, db = np.dtype(_data(a).dtype), np.dtype(_data(b).dtype)
    if da != db:
        raise BadDtype(f"{op}: {da} did not match {db} (the tensors must have one dtype)")


def _bool_unary(name: str, f, real_only=False):
    def op(input) -> Tensor:  # noqa: A002
        x = _tensor_operand(input)
        if real_only:
            _no_kernel(name, x)
        return Tensor._make(np.asarray(f(x.data)), False, None, 0)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (a bool tensor, no gradient)."
    return op


isneginf = _bool_unary("isneginf", np.isneginf, real_only=True)
isposinf = _bool_unary("isposinf", np.isposinf, real_only=True)
isreal = _bool_unary(
    "isreal", lambda a: np.imag(a) == 0 if a.dtype.kind == "c" else np.ones(a.shape, bool)
)
signbit = _bool_unary("signbit", np.signbit, real_only=True)


class Binary(Function):
    """y = f(a, b) with broadcasting; df(a, b, y, g) gives both (unreduced) input gradients."""

    @staticmethod
    def forward(ctx, a, b, f, df):
        # the operands' dtype (np.log(b) may widen a scalar); _quiet_all: errstate's cheap form
        # (the array first: NumPy's result_type(2.5, a bfloat16 array) is float32)
        dt = np.result_type(b, a) if type(a) is float or type(a) is int else np.result_type(a, b)
        y = np.asarray(_quiet_all(f, a, b)).astype(dt, copy=False)
        if (type(a) is _ND and a.base is not None) or (type(b) is _ND and b.base is not None):
            y = _laid(y, (a, b))  # (see _laid)
        if df in _GRAD_A_IS_G:  # a's gradient is g: a and b only for b's, never y (as torch)
            keep = ctx.needs_input_grad[1]
            ctx.save_for_backward(*(v if keep else _shape_only(v) for v in (a, b)), None)
        else:
            # what each gradient reads, as torch keeps it (atan2 / xlogy / fmax: a and b, not y;
            # copysign: a and y, not b): an in-place write into the other leaves backward valid
            reads = _BINARY_READS.get(df, "aby")
            if "b" not in reads and type(b) is np.ndarray:  # (b may be a number)
                b = _stand_in(b)
            ctx.save_for_backward(a, b, y if "y" in reads else None)
        ctx.df = df
        node = _BINARY_NODES.get(_BINARY_NAME.get(df))
        if node is not None:  # torch's overload: (Tensor, Tensor) or (Tensor, Scalar); a
            ctx._named = node[0 if type(b) is _ND else 1]  # number a: _binary names it

        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        na, nb = ctx.needs_input_grad[:2]
        if not nb and ctx.df in _GRAD_A_IS_G:
            return unbroadcast(g, _shape(a)), None, None, None
        ga, gb = ctx.df(a, b, y, g)
        return (
            unbroadcast(np.asarray(ga, g.dtype), _shape(a)) if na else None,
            unbroadcast(np.asarray(gb, g.dtype), _shape(b)) if nb else None,
            None,
            None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        a0, b0, y0 = ctx.saved_tensors
        if not ctx.needs_input_grad[1] and ctx.df in _GRAD_A_IS_G:  # (a, b were not kept)
            return _graph.sum_to(g, _shape(a0)), None, None, None
        # a number operand becomes a constant of the gradient's dtype (float32 stays float32)
        a, b = (
            t if isinstance(t, Tensor) else _graph.constant(np.asarray(t, g.dtype))
            for t in _graph.inputs(ctx, a0, b0)
        )
        name = _BINARY_NAME.get(ctx.df)
        if name in _BINARY_GRAPH:
            ga, gb = _BINARY_GRAPH[name](a, b, None if y0 is None else _graph.output(ctx, y0), g)
        elif name in _BINARY_PIECEWISE:  # g times piecewise-constant factors of a and b
            one = np.ones((), g.dtype)
            ga, gb = (g * _graph.constant(np.asarray(d, g.dtype)) for d in ctx.df(a0, b0, y0, one))
        else:
            raise NotImplementedError(
                f"double backward through Binary ({name or 'a custom function'}) is not supported"
            )
        na, nb = ctx.needs_input_grad[:2]
        return (
            _graph.sum_to(ga, _shape(a0)) if na else None,
            _graph.sum_to(gb, _shape(b0)) if nb else None,
            None,
            None,
        )


_BINARY_NAME = {}  # a Binary op's df: its name (for its graph backward in _BINARY_GRAPH)

# torch's node of each Binary op for (tensor, tensor), (tensor, number), (number, tensor)
_BINARY_NODES = {
    "atan2": ("Atan2Backward0",) * 3,
    "xlogy": ("XlogyBackward0", "XlogyBackward2", "XlogyBackward1"),
    "fmod": ("FmodBackward1", "FmodBackward0", "FmodBackward1"),
    "remainder": ("RemainderBackward1", "RemainderBackward0", "RemainderBackward1"),
    "copysign": ("CopysignBackward0", "CopysignBackward1", "CopysignBackward0"),
    "fmax": ("FmaxBackward0",) * 3,
    "fmin": ("FminBackward0",) * 3,
    "hypot": ("HypotBackward0",) * 3,
    "logaddexp": ("LogaddexpBackward0",) * 3,
    "logaddexp2": ("Logaddexp2Backward0",) * 3,
    "div": ("DivBackward2",) * 3,  # (with a rounding mode)
}


def _binary(
    name: str,
    f,
    df,
    floating: bool = True,
    straight=None,
    straight_number=False,
    any_shape=False,
    real_only=False,
):
    """The op ``name``: f(a, b) with gradients df. ``straight(a, b)``, when given, is f on two
    arrays of one float dtype and shape: tensors of those outside the graph take it without
    the operand checks and the node (~10 us of a 32x32 call); with ``straight_number`` also
    on a float array and a Python number; with ``any_shape`` also on two arrays of shapes
    that broadcast (None: the general path, whose errors others get). ``real_only``: complex
    input is refused (_real_only's test, after the straight cases: ~0.15 us of its frame)."""
    _BINARY_NAME[df] = name

    def op(input, other) -> Tensor:  # noqa: A002
        if straight is not None and type(input) is Tensor and type(other) is Tensor:
            a, b = input.data, other.data
            if (
                a.dtype is b.dtype
                and (a.dtype is _F32 or a.dtype is _F64)
                and (any_shape or a.shape == b.shape)
            ):
                if not (input._requires_grad or other._requires_grad) or (
                    _outside_graph(input) and _outside_graph(other)
                ):  # (the first test alone: ~0.15 us less of a 32x32 call)
                    y = straight(a, b)
                    if y is not None:
                        if type(y) is not _ND:  # (0-d operands: a NumPy scalar, read-only)
                            return Tensor._make(y, False, None, 0)
                        if a.base is not None or b.base is not None:
                            y = _laid(y, (a, b))  # (see _laid)
                        return _plain(y)
                elif a.shape == b.shape:
                    # in autograd: the node on the operands as they are, which the operand
                    # checks below (~4 us of a 32x32 call) leave unchanged for these
                    return Binary.apply(input, other, f, df)
        elif straight_number and type(input) is Tensor and type(other) in (float, int):
            a = input.data  # a float tensor and a Python number: straight(a, number), or None
            if (a.dtype is _F32 or a.dtype is _F64) and _outside_graph(input):
                y = straight(a, other)
                if y is not None:
                    if a.base is not None:
                        y = _laid(y, (a, other))  # (see _laid)
                    return Tensor._make(y, False, None, 0)
        if real_only:
            _no_kernel(name, input, other)
        if name in _TENSORS_ONLY:
            _tensors_only(name, input, other)
        if name in _FLOAT_ONLY:
            _refuse_integral(name, input, other)
        pair = _float_pair_operands if floating else _operands
        out = Binary.apply(*pair(name, input, other), f, df)
        if not isinstance(input, Tensor | np.ndarray) and name in _BINARY_NODES:
            named(out, _BINARY_NODES[name][2])  # (torch's (Scalar, Tensor) overload)
        return out

    op._real_only = real_only  # (_real_only leaves it as it is)
    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (broadcasting, with gradients)."
    return op


# torch's signatures of these take two Tensors (no Scalar overload). (torch refuses atan2,
# hypot, logaddexp(2) and logical_* with a Python number too; ember takes it, as tests pin)
_TENSORS_ONLY = frozenset(("fmax", "fmin"))

# torch implements these for floating (and complex) dtypes only and refuses integer or bool
# operands (after promotion), where NumPy would compute a float result (or, for nextafter, an
# integer one): ember refuses them with a TypeError
_FLOAT_ONLY = frozenset(("logaddexp", "logaddexp2", "hypot", "nextafter", "lerp"))


def _refuse_integral(op: str, a, b) -> None:
    known = Tensor | np.ndarray | bool | int | float | complex | np.generic
    if isinstance(a, known) and isinstance(b, known) and result_type(a, b).kind in "biu":
        raise not_implemented(
            op, result_type(a, b), "integer or bool operands: convert them to a floating dtype"
        )


def _no_kernel(op: str, *xs, kinds: str = "c", detail: str = "") -> None:
    """torch's NotImplementedError ("atan2_cpu" not implemented for 'ComplexFloat') for an
    operand of a dtype kind in ``kinds`` (complex by default), which op has no kernel for."""
    for x in xs:
        if x is not None and _kind(x) in kinds:
            for y in xs:  # (an int torch's parser refuses: its OverflowError comes first)
                if type(y) is int and not _INT_LO <= y < _INT_HI:
                    _int_overflow(y)
            raise not_implemented(op, np.asarray(_data(x)).dtype, detail)


def _zero_grads(a, b, y, g):
    return np.zeros_like(g), np.zeros_like(g)


_BINARY_NAME[_zero_grads] = "div"  # div with a rounding mode


def _fmax_grads(a, b, y, g):  # ties and a NaN in b give a the gradient, as torch.fmax
    pick_a = (a >= b) | np.isnan(b)  # (from a and b, not y: torch keeps only those)
    return g * pick_a, g * ~pick_a


def _fmin_grads(a, b, y, g):  # as _fmax_grads
    pick_a = (a <= b) | np.isnan(b)
    return g * pick_a, g * ~pick_a


def _copysign_grads(a, b, y, g):  # PyTorch's y / a: NaN at a = +-inf
    return g * np.where(a == 0, 0, y / np.where(a == 0, 1, a)), 0 * g


def _first_on_ties(f):  # fmax(0.0, -0.0) is the first operand in PyTorch, NumPy's the second
    return lambda a, b: np.where(a == b, a, f(a, b))


fmax = _binary("fmax", _first_on_ties(np.fmax), _fmax_grads, floating=False, real_only=True)
fmin = _binary("fmin", _first_on_ties(np.fmin), _fmin_grads, floating=False, real_only=True)


def _atan2_grads(a, b, y, g):
    r = a * a + b * b
    with np.errstate(divide="ignore"):
        inv = np.where(r == 0, 0, 1 / r)  # at (0, 0) PyTorch's gradients are 0, not NaN
    return g * b * inv, -g * a * inv


def _float_pair(name: str, fallback, symmetric: bool = True):
    """fallback(a, b) by _C.<name> (hypot: NumPy's bits; logaddexp(2), nextafter, copysign:
    torch's; threaded) for float32/float64 arrays of one dtype or beside a Python number:
    straight for C-contiguous ones of one shape or beside one value (b's, or a's for a symmetric
    op), else on C-contiguous broadcast copies (the kernel's values whatever the layout)."""

    def run(a, b):
        if type(a) is np.ndarray and a.dtype.char in "fd":
            if type(b) is float or type(b) is int:
                if _kernel_scalar(b, a.dtype):
                    return run(a, np.array(b, a.dtype))
            elif type(b) is np.ndarray and b.dtype is a.dtype:
                if a.flags.c_contiguous and (
                    a.shape == b.shape and b.flags.c_contiguous or b.size == 1 and b.ndim <= a.ndim
                ):
                    return getattr(_C, name)(a, b)
                if symmetric and b.flags.c_contiguous and a.size == 1 and a.ndim <= b.ndim:
                    return getattr(_C, name)(b, a)  # (bit for bit the same)
                a, b = np.broadcast_arrays(a, b)  # (raises as NumPy for shapes that do not)
                return getattr(_C, name)(a.copy(), b.copy())
        if symmetric and type(b) is np.ndarray and type(a) in (float, int):
            return run(b, a)
        return fallback(a, b)

    return run


def _float_pair_straight(name: str):
    """_binary's straight case (two arrays of one float32/float64 dtype and shape): _float_pair's
    kernel call without its tests (C-contiguous copies of other layouts)."""
    return lambda a, b: getattr(_C, name)(
        a if a.flags.c_contiguous else a.copy(), b if b.flags.c_contiguous else b.copy()
    )


_hypot_floats = _float_pair("hypot", np.hypot)
# a ** b of float arrays (Pow, float_power): _C.pow (C99's and torch's special cases, float64
# within ~0.74 ulp, float32 rounded once from double: ~0.5), np.power for other operand types.
# NumPy's AVX-512 SVML loops are faster still (float32 0.67 / float64 2.2 ms per 1e6, _C.pow
# 4.1 / 11, torch 2.5 / 5.5) and within 0.96 / 0.74 ulp: taken where NumPy has them.
_pow_floats = _float_pair("pow", lambda a, b: _quiet_pow(np.power, a, b), symmetric=False)
if (np._core if hasattr(np, "_core") else np.core)._multiarray_umath.__cpu_features__.get(
    "AVX512_SKX"
):  # (NumPy 1.x: np.core)
    _pow_floats = functools.partial(_quiet_pow, np.power)


atan2 = arctan2 = _binary(
    "atan2",
    np.arctan2,
    _atan2_grads,
    straight=lambda a, b: _quiet_all(np.arctan2, a, b),
    real_only=True,
)


hypot = _binary(
    "hypot",
    _hypot_floats,
    lambda a, b, y, g: (g * a / y, g * b / y),
    straight=_float_pair_straight("hypot"),
    real_only=True,
)


# PyTorch's g / (1 + e^(b - a)): finite where a is +inf and b is not (e^(a - y) is NaN there)
def _logaddexp_grads(a, b, y, g):
    return g / (1 + np.exp(b - a)), g / (1 + np.exp(a - b))


def _logaddexp2_grads(a, b, y, g):
    return g / (1 + np.exp2(b - a)), g / (1 + np.exp2(a - b))


_logaddexp = _binary(
    "logaddexp",
    _float_pair("logaddexp", np.logaddexp),
    _logaddexp_grads,
    straight=_float_pair_straight("logaddexp"),
)


def logaddexp(input, other) -> Tensor:  # noqa: A002
    """log(exp(input) + exp(other)); a real input beside a complex other takes torch's complex
    form too (as a complex input does, by _real_only's _COMPLEX_FORMS)."""
    if type(other) is not Tensor or other.data.dtype.kind == "c":
        if _kind(other) == "c" and _kind(input) != "c":
            return _complex_logaddexp(_tensor_operand(input), other)
    return _logaddexp(input, other)


logaddexp2 = _binary(
    "logaddexp2",
    _float_pair("logaddexp2", np.logaddexp2),
    _logaddexp2_grads,
    straight=_float_pair_straight("logaddexp2"),
    real_only=True,
)
copysign = _binary(
    "copysign",
    _float_pair("copysign", np.copysign, symmetric=False),
    _copysign_grads,
    straight=_float_pair_straight("copysign"),
    real_only=True,
)


def xlog_x_grad(a, b, g, log_b, pole):
    """d/dx of x log(b) as torch's xlogy / xlog1py backward computes it: xlogy(g, .), so 0 where
    g is 0 (unless b is NaN: 0 * log(inf) is not NaN there), and 0 where x is 0 and b is at or
    past log's pole."""
    return np.where(((g == 0) & ~np.isnan(b)) | ((a == 0) & (b <= pole)), 0, g * log_b)


def _xlogy_grads(a, b, y, g):
    return xlog_x_grad(a, b, g, np.log(b), 0), g * a / b


def _xlogy(a, b):
    # log(b) in the common dtype: a float32 b beside a float64 a is logged in float64, as torch;
    # bfloat16 (no NumPy log loop for it) in float32, rounded once
    dt = np.result_type(a, b)
    if dt == _lowp.bfloat16:
        f32 = np.dtype(np.float32)
        return _xlogy(np.asarray(a, f32), np.asarray(b, f32)).astype(dt)
    return np.where((a == 0) & ~np.isnan(b), 0, a * np.log(b, dtype=dt))


xlogy = _binary("xlogy", _xlogy, _xlogy_grads, real_only=True)


def _masked(cond, value, f, x):
    """where(cond, value, f(x)) with f never seeing x where cond (x is 1 there), so no NaN
    of f's bad points leaks into the gradients through the unpicked branch."""
    return where(cond, value, f(where(cond, 1.0, x)))


def _atan2_graph(a, b, y, g):
    r = a * a + b * b
    inv = _masked(r == 0, 0.0, reciprocal, r)
    return g * b * inv, -g * a * inv


_BINARY_GRAPH = {  # Binary's gradients in Tensor ops, for create_graph: name: (a, b, y, g) -> grads
    "atan2": _atan2_graph,
    "hypot": lambda a, b, y, g: (g * a / y, g * b / y),
    "logaddexp": lambda a, b, y, g: (g / (1 + exp(b - a)), g / (1 + exp(a - b))),
    "logaddexp2": lambda a, b, y, g: (g / (1 + exp2(b - a)), g / (1 + exp2(a - b))),
    # d/da as torch's: xlogy(g, b) (0 where g is 0, not 0 * log(inf)), in the graph
    "xlogy": lambda a, b, y, g: (where((a == 0) & (b <= 0), 0.0, xlogy(g, b)), g * a / b),
    "xlog1py": lambda a, b, y, g: (
        where((a == 0) & (b <= -1), 0.0, _xlog1py(g, b)),
        g * a / (1 + b),
    ),
}


def _xlog1py(a, b):
    from ember.special import xlog1py  # (special builds on ops)

    return xlog1py(a, b)


_BINARY_READS = {  # Binary's gradients that read less than a, b and y
    _atan2_grads: "ab",
    _xlogy_grads: "ab",
    _fmax_grads: "ab",
    _fmin_grads: "ab",
    _copysign_grads: "ay",
    _logaddexp_grads: "ab",
    _logaddexp2_grads: "ab",
}
_BINARY_PIECEWISE = {"fmax", "fmin", "copysign", "remainder", "fmod", "div", "nextafter"}


def _div_floor(a, b):
    """PyTorch's floor division of floats (fmod based: inf // x is NaN, 0 // -x is -0)."""
    if np.result_type(a, b).kind not in "fc" and np.result_type(a, b) != _lowp.bfloat16:
        return np.floor_divide(a, b)
    mod = np.fmod(a, b)
    div = (a - mod) / b
    div = np.where((mod != 0) & ((b < 0) != (mod < 0)), div - 1, div)
    floor = np.floor(div)
    floor = np.where(div - floor > 0.5, floor + 1, floor)
    zero = np.copysign(np.zeros_like(div), a / b)
    return np.where(b == 0, a / b, np.where(div != 0, floor, zero))


def _mod_kernel(a, b, rem: bool):
    """_C's remainder (fmod unless rem) when a and b are float32/float64 arrays of one dtype, or
    one of them a Python number (rounded to that dtype, as NumPy's ufunc rounds it): exact and
    threaded, where NumPy's fmod is a libm call per element. Operands of other shapes are
    broadcast to one contiguous shape first (a copy costs less than those calls); else None."""
    if type(a) is np.ndarray and (type(b) is float or type(b) is int):
        if a.dtype.char not in "fd" or not _kernel_scalar(b, a.dtype):
            return None
        b = np.array(b, a.dtype)
    elif type(b) is np.ndarray and (type(a) is float or type(a) is int):
        if b.dtype.char not in "fd" or not _kernel_scalar(a, b.dtype):
            return None
        a = np.array(a, b.dtype)
    if not (
        type(a) is np.ndarray
        and type(b) is np.ndarray
        and a.dtype == b.dtype
        and a.dtype.char in "fd"
    ):
        return None
    if a.shape == b.shape:
        shape = a.shape
    else:
        try:
            shape = np.broadcast(a, b).shape
        except ValueError:  # the caller's general path says so in its words
            return None
    return (_C.remainder if rem else _C.fmod)(_filled(a, shape), _filled(b, shape))


def _filled(v: np.ndarray, shape: tuple) -> np.ndarray:
    """v as a C-contiguous array of ``shape`` (which v broadcasts to): v itself when it is one,
    else a copy (np.copyto broadcasts in C: ~10 us less than np.broadcast_to's Python)."""
    if v.shape == shape and v.flags.c_contiguous:
        return v
    out = np.empty(shape, v.dtype)
    np.copyto(out, v)
    return out


def _fmod_floats(a, b):
    """C's fmod (exact)."""
    y = _mod_kernel(a, b, False)
    return np.fmod(a, b) if y is None else y


def _remainder_floats(a, b):
    """PyTorch's remainder: fmod, plus b where the signs differ (0 % -x is +0, not -0)."""
    y = _mod_kernel(a, b, True)
    if y is not None:
        return y
    if np.result_type(a, b).kind not in "fc" and np.result_type(a, b) != _lowp.bfloat16:
        return np.remainder(a, b)
    mod = np.fmod(a, b)
    return np.where((mod != 0) & ((b < 0) != (mod < 0)), mod + b, mod)


def _remainder_grads(a, b, y, g):
    return g, -g * _div_floor(a, b)


def _fmod_grads(a, b, y, g):
    return g, -g * np.trunc(a / b)


_GRAD_A_IS_G = {_remainder_grads, _fmod_grads}  # Binary's ops whose gradient in a is g itself
_remainder = _binary(
    "remainder",
    _remainder_floats,
    _remainder_grads,
    floating=False,
    straight=lambda a, b: _mod_kernel(a, b, True),
    straight_number=True,
    any_shape=True,
)
_fmod = _binary(
    "fmod",
    _fmod_floats,
    _fmod_grads,
    floating=False,
    straight=lambda a, b: _mod_kernel(a, b, False),
    straight_number=True,
    any_shape=True,
)


def _check_int_divisor(op: str, a, b) -> None:
    _no_kernel(op, a, b)
    if _kind(a) == _kind(b) == "b":
        raise not_implemented(op, "bool", "two bool operands")
    if type(b) is int and isinstance(a, Tensor | np.ndarray) and _kind(a) in "iu":
        b = _wrapped(b, a.dtype)  # as the division will see it
    elif isinstance(a, Tensor | np.ndarray) and isinstance(b, Tensor | np.ndarray):
        a, b = _promote(a, b)  # (so is a 0-d divisor: int8 % 0-d int64 256 divides by 0)
    if (
        _kind(a) in "biu"
        and _kind(b) in "biu"
        and np.size(_data(a))
        and np.any(np.asarray(_data(b)) == 0)
    ):
        raise RuntimeError(f"{op}: ZeroDivisionError (integer division by zero)")


def remainder(input, other) -> Tensor:  # noqa: A002
    """Python's modulo: the result takes the divisor's sign (torch.remainder)."""
    if type(input) is not Tensor or input.data.dtype.kind != "f" or _kind(other) == "c":
        _check_int_divisor("remainder", input, other)  # (floats: nothing to check)
    return _remainder(input, other)


def fmod(input, other) -> Tensor:  # noqa: A002
    """C's fmod: the result takes the dividend's sign (torch.fmod)."""
    if not isinstance(input, Tensor):  # (remainder takes a number first; fmod does not)
        _tensors_only("fmod", input, names=("input",))
    if type(input) is not Tensor or input.data.dtype.kind != "f" or _kind(other) == "c":
        _check_int_divisor("fmod", input, other)  # (floats: nothing to check)
    return _fmod(input, other)


def _rounded_div(input, other, rounding_mode, df=_zero_grads):  # noqa: A002
    if rounding_mode not in ("trunc", "floor"):
        raise BadShapeOrValue(  # (torch: RuntimeError)
            f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
        )
    a, b = _operands("div", input, other)
    _check_int_divisor("div", a, b)
    if _kind(a) in "biu" and _kind(b) in "biu":  # exact integer division, integer result
        q = np.floor_divide if rounding_mode == "floor" else _trunc_div_int
        a, b = _data(a), _data(b)
        out = np.asarray(q(a, b)).astype(np.result_type(a, b), copy=False)
        return Tensor(_laid(out, (a, b)))
    f = _div_floor if rounding_mode == "floor" else lambda x, y: np.trunc(x / y)
    return Binary.apply(a, b, f, df)  # zero gradient, as torch


def _trunc_div_int(x, y):
    """Integer division rounded toward zero, exactly (x / y in float64 loses int64's low bits):
    floor division, plus one where it rounded a negative inexact quotient down."""
    q = np.floor_divide(x, y)
    return np.where((np.fmod(x, y) != 0) & ((np.asarray(x) < 0) != (np.asarray(y) < 0)), q + 1, q)


def _floor_divide_grads(a, b, y, g):
    raise RuntimeError("derivative for aten::floor_divide is not implemented")


def floor_divide(input, other) -> Tensor:  # noqa: A002
    """Division rounded down (torch.floor_divide). As torch, a result of an input that requires
    grad requires grad too, and its backward raises (torch's NotImplemented node)."""
    return named(_rounded_div(input, other, "floor", _floor_divide_grads), _NOT_IMPLEMENTED)


_NOT_IMPLEMENTED = "torch::autograd::NotImplemented"


def true_divide(input, other) -> Tensor:  # noqa: A002
    return div(input, other)


divide = div


def subtract(input, other, *, alpha=1) -> Tensor:  # noqa: A002
    return sub(input, other, alpha=alpha)


def multiply(input, other) -> Tensor:  # noqa: A002
    return mul(input, other)


negative = neg


def positive(input) -> Tensor:  # noqa: A002
    """The input itself (torch.positive); bool tensors are refused."""
    if _kind(input) == "b":
        raise BadDtype("positive: not supported for bool tensors")
    return _tensor_operand(input)


def rsub(input, other, *, alpha=1) -> Tensor:  # noqa: A002
    """other - alpha * input."""
    kind = "RsubBackward0" if isinstance(other, Tensor) else "RsubBackward1"
    return named(sub(other, input, alpha=alpha), kind)


def float_power(input, exponent) -> Tensor:  # noqa: A002
    """input ** exponent computed in float64, complex128 for complex operands (torch.float_power).
    Tensors are cast before any promotion: an int64 tensor is not rounded through float32."""
    _scalar_int_range("float_power", input, exponent)
    for x in (input, exponent):  # (no promotion checks: torch casts first, so a bool tensor
        if isinstance(x, str | bytes | dict | set | type(None)):  # meets a uint64 number)
            raise TypeError(f"float_power: expected a tensor or a number, got {type(x).__name__}")
    a, b = _as_operand(input, "input"), _as_operand(exponent, "exponent")
    _check_broadcast("float_power", _data(a), _data(b))
    if not isinstance(a, Tensor | np.ndarray) and not isinstance(b, Tensor | np.ndarray):
        a = _tensor_operand(a)
    dt = np.dtype(np.complex128 if "c" in (_kind(a), _kind(b)) else np.float64)
    return pow(*(cast(_tensor_operand(x), dt) if isinstance(x, Tensor | np.ndarray) else x
                 for x in (a, b)))  # fmt: skip


def clamp_min(input, min) -> Tensor:  # noqa: A002
    return clamp(input, min=min)


def clamp_max(input, max) -> Tensor:  # noqa: A002
    return clamp(input, max=max)


def clip(input, min=None, max=None) -> Tensor:  # noqa: A002
    return clamp(input, min, max)


def heaviside(input, values) -> Tensor:  # noqa: A002
    """0 where input < 0, values where input == 0, 1 where input > 0; no gradient."""
    a, b = _tensor_operand(input), _tensor_operand(values)
    if a.dtype != b.dtype:
        raise BadDtype(f"heaviside: input ({a.dtype}) and values ({b.dtype}) must share a dtype")
    _check_broadcast("heaviside", a.data, b.data)
    y = np.where(a.data == 0, b.data, a.data > 0)  # NaN -> 0 as PyTorch (NumPy's is NaN)
    return Tensor(_laid(np.asarray(y).astype(a.dtype, copy=False), (a.data, b.data)))


def _dense_order(a: np.ndarray):
    """For a non-C-contiguous array that is a dense permutation of one (F order, a permuted
    view): the axis order, by falling stride, in which it is C-contiguous (an elementwise
    kernel runs a.transpose(order) and transposes the result back by np.argsort(order): x's
    strides, torch's layout, no copy either way); None for any other array."""
    if a.ndim < 2:
        return None
    order = np.argsort(a.strides, kind="stable")[::-1]
    return order if a.transpose(order).flags.c_contiguous else None


def _special(name: str, x, order: int = 0):
    if type(x) is np.ndarray and not x.flags.c_contiguous and (p := _dense_order(x)) is not None:
        return _C.special(name, x.transpose(p), order).transpose(np.argsort(p))
    # ascontiguousarray makes a 0-d input 1-d: give the result the input's shape back
    return _C.special(name, np.ascontiguousarray(x), order).reshape(np.shape(x))


def _sinc_grad(x):
    """PyTorch's (pi x cos(pi x) - sin(pi x)) / (pi x^2), 0 where pi x^2 is 0 (underflows)."""
    px, den = x * np.pi, x * x * np.pi
    return np.where(den == 0, 0, (px * np.cos(px) - np.sin(px)) / np.where(den == 0, 1, den))


def _i1_grad(x, y):
    """PyTorch's i0(x) - i1(x) / x, 1/2 at 0."""
    return np.where(x == 0, 0.5, _special("i0", x) - y / np.where(x == 0, 1, x)).astype(x.dtype)


_SQRT_PI = float(np.sqrt(np.pi))  # Python floats keep float32 gradients float32
_UNARY = {  # name: (f, derivative as a function of x and y = f(x))
    "erf": (lambda x: _special("erf", x), lambda x, y: 2 / _SQRT_PI * np.exp(-x * x)),
    "erfc": (lambda x: _special("erfc", x), lambda x, y: -2 / _SQRT_PI * np.exp(-x * x)),
    "erfinv": (lambda x: _special("erfinv", x), lambda x, y: _SQRT_PI / 2 * np.exp(y * y)),
    "lgamma": (lambda x: _special("lgamma", x), lambda x, y: _special("digamma", x)),
    "digamma": (lambda x: _special("digamma", x), lambda x, y: _special("polygamma", x, 1)),
    "i0": (lambda x: _special("i0", x), lambda x, y: _special("i1", x)),
    "sinc": (
        lambda x: np.where(x == 0, 1, np.sin(np.pi * x) / (np.pi * x)),
        lambda x, y: _sinc_grad(x),
    ),
    "i1": (lambda x: _special("i1", x), lambda x, y: _i1_grad(x, y)),
    "exp2": (np.exp2, lambda x, y: y * float(np.log(2))),
    "frac": (
        lambda x: _special("frac", x) if x.dtype.char in "fd" else x - np.trunc(x),
        lambda x, y: np.ones_like(y),
    ),
    "deg2rad": (np.deg2rad, lambda x, y: np.full_like(y, np.pi / 180)),
    "rad2deg": (np.rad2deg, lambda x, y: np.full_like(y, 180 / np.pi)),
    "asinh": (np.arcsinh, lambda x, y: 1 / np.sqrt(x * x + 1)),
    "acosh": (np.arccosh, lambda x, y: _acosh_grad(x)),
    "atanh": (np.arctanh, lambda x, y: 1 / (1 - x * x)),
}


def _acosh_grad(x):
    if x.dtype.kind == "c":  # the principal branch's derivative (1 / sqrt(z^2 - 1) flips sign)
        return 1 / (np.sqrt(x - 1) * np.sqrt(x + 1))
    return 1 / np.sqrt(x * x - 1)


_SPECIAL_STRAIGHT = ("erf", "erfc", "erfinv", "lgamma", "digamma", "i0", "i1", "frac")  # (_C's)


def _unary(name: str):
    f, df = _UNARY[name]
    straight = name in _SPECIAL_STRAIGHT

    def op(input) -> Tensor:  # noqa: A002
        if straight and type(input) is Tensor and _outside_graph(input):
            # a float32/float64 C-contiguous tensor of some dims: the kernel straight, the
            # values f gives (~3 us less a small call than the checks and Elementwise's frames)
            a = input.data
            if (a.dtype is _F32 or a.dtype is _F64) and a.ndim and a.flags.c_contiguous:
                return Tensor._make(_C.special(name, a, 0), False, None, 0)
        if name == "frac" and _tensor_operand(input).data.dtype.kind in "iub":  # (as torch)
            raise not_implemented("frac", _tensor_operand(input).dtype)
        try:
            x = _float_operand(input, name)
        except TypeError:
            if name in _COMPLEX_FORMS and _kind(input) == "c":  # (torch's complex form)
                return _COMPLEX_FORMS[name](None, _tensor_operand(input))
            raise
        return _unary_apply(Elementwise, x, lambda a: np.asarray(f(a), a.dtype), df)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (integer input becomes float32)."
    return op


erf, erfc, erfinv = _unary("erf"), _unary("erfc"), _unary("erfinv")
lgamma, digamma, i0, sinc = _unary("lgamma"), _unary("digamma"), _unary("i0"), _unary("sinc")
_i1 = _unary("i1")  # i0's derivative, for its graph backward
exp2, frac, deg2rad, rad2deg = _unary("exp2"), _unary("frac"), _unary("deg2rad"), _unary("rad2deg")
asinh = arcsinh = _unary("asinh")
acosh = arccosh = _unary("acosh")
atanh = arctanh = _unary("atanh")


def arcsin(input) -> Tensor:  # noqa: A002
    return asin(input)


def arccos(input) -> Tensor:  # noqa: A002
    return acos(input)


def arctan(input) -> Tensor:  # noqa: A002
    return atan(input)


def fix(input) -> Tensor:  # noqa: A002
    return trunc(input)


def sgn(input) -> Tensor:  # noqa: A002
    """sign for real input; z / |z| (0 at 0) for complex."""
    return _complex.sgn(input) if _kind(input) == "c" else named(sign(input), "SgnBackward0")


def angle(input) -> Tensor:  # noqa: A002
    """The argument: of a complex number in (-pi, pi]; of a real one pi below 0, else 0 (NaN
    stays), with zero gradient."""
    if _kind(input) == "c":
        return _complex.angle(_tensor_operand(input))
    x = _float_operand(input, "angle")
    y = Piecewise.apply(
        x, lambda a: np.where(np.isnan(a), a, np.where(a < 0, np.pi, 0)).astype(a.dtype)
    )
    return named(y, "AngleBackward0")


def polygamma(n: int, input) -> Tensor:  # noqa: A002
    """The n-th derivative of digamma (torch.polygamma(n, input)); n = 0 is digamma."""
    n = _index_dim(n, "polygamma", "n")  # (torch's TypeError for a float, bool, str, [1])
    if n < 0:  # (torch's RuntimeError)
        raise BadShapeOrValue(f"polygamma: n must be an int >= 0, got {n!r}")

    def df(x, y):
        return _special("polygamma", x, n + 1)

    df.graph = lambda x, y: polygamma(n + 1, x)  # for Elementwise.backward_graph
    return Elementwise.apply(
        _float_operand(input, "polygamma"), lambda a: _special("polygamma", a, n), df
    )


def logit(input, eps=None) -> Tensor:  # noqa: A002
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given (zero gradient outside)."""
    x = _float_operand(input, "logit")
    if not (eps is None or isinstance(eps, int | float | np.number)):  # (NumPy's clip error)
        raise TypeError(f"logit: eps must be a float, got {type(eps).__name__}")
    lo, hi = (None, None) if eps is None else (float(eps), 1 - float(eps))  # (keep x's dtype)

    def f(a):
        z = a if eps is None else np.clip(a, lo, hi)
        return np.log(z / (1 - z))

    def df(a, y):
        d = 1 / (a * (1 - a))
        if eps is not None:
            return np.where((a < lo) | (a > hi), 0, d)
        # PyTorch's: NaN outside [0, 1] and +inf at 0 and 1 (even at -0.0)
        d = np.where((a == 0) | (a == 1), np.inf, d)
        return np.where((a < 0) | (a > 1), np.nan, d).astype(a.dtype, copy=False)

    def dgraph(a, y):  # df in Tensor ops, for Elementwise.backward_graph (inside [0, 1])
        if eps is None:
            return 1 / (a * (1 - a))
        return _masked((a < lo) | (a > hi), 0.0, lambda t: 1 / (t * (1 - t)), a)

    df.graph = dgraph
    return Elementwise.apply(x, f, df)


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:  # noqa: A002
    """NaN, +inf and -inf replaced (by default with 0 and the dtype's largest/lowest values)."""
    x = _tensor_operand(input)
    if not _lowp.is_float(x.dtype):
        return x.clone()

    def f(a):
        if a.dtype == _lowp.bfloat16:  # (NumPy's nan_to_num leaves ml_dtypes' kind 'V' as is)
            big = float(ml_dtypes.finfo(a.dtype).max)
            hi, lo = big if posinf is None else posinf, -big if neginf is None else neginf
            return np.nan_to_num(a.astype(np.float32), nan=nan, posinf=hi, neginf=lo).astype(
                a.dtype
            )
        return np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    out = Elementwise.apply(x, f, _nan_to_num_grad)
    out.data = _laid(out.data, (x.data,))  # (NumPy's order='K' of an expanded x: see _laid)
    return out


def _nan_to_num_grad(a, y):  # (in _FROM_INPUT: y is not kept, as torch keeps only a)
    return np.isfinite(a).astype(a.dtype)


# for Elementwise.backward_graph: the same 0/1 mask, constant (its derivative is zero)
_nan_to_num_grad.graph = lambda a, y: _graph.constant(_nan_to_num_grad(a.data, None))


def absolute(input) -> Tensor:  # noqa: A002
    return abs(input)


def ldexp(input, other) -> Tensor:  # noqa: A002
    """input * 2 ** other (a float result, in torch's promotion of the two: an int64 input
    with a float64 exponent gives float64)."""
    _tensors_only("ldexp", input, other)
    x, other = _tensor_operand(input), _as_operand(other)
    if _kind(x) == "f" and isinstance(other, Tensor) and _kind(other) in "biu":
        # torch's kernel for a float input and an integer exponent: int32 exponents (int64
        # ones wrap), none for bool
        if _kind(other) == "b" or (_kind(other) == "u" and other.data.dtype != np.uint8):
            raise not_implemented("ldexp_cpu_exp", str(other.data.dtype))  # (torch has none)
        if other.data.dtype.itemsize > 4 or other.data.dtype == np.uint32:
            other = Tensor(other.data.astype(np.int32))
    dt = result_type(x, other)
    dt = get_default_dtype() if dt.kind in "biu" else dt
    e = exp2(cast(other, dt) if isinstance(other, Tensor) else other)
    return mul(x if x.dtype == dt else cast(x, dt), e)


def _lerp_operands(input, end, weight):  # noqa: A002
    """(a, b, w) for _C.lerp when input and end are Tensors of one float dtype and shape and
    weight a Python number (kernel-exact) or such a Tensor of theirs (w its C-contiguous array);
    else None."""
    if type(input) is not Tensor or type(end) is not Tensor:
        return None
    a, b = input.data, end.data
    if not (a.dtype is b.dtype and (a.dtype is _F32 or a.dtype is _F64) and a.shape == b.shape):
        return None
    if type(weight) is float or type(weight) is int:
        if not _kernel_scalar(weight, a.dtype):
            return None
        return a, b, weight
    if type(weight) is Tensor:
        w = weight.data
        if w.dtype is not a.dtype or w.shape != a.shape:
            return None
        return a, b, w
    return None


def _lerp_broadcast(input, end, weight):  # noqa: A002
    """(a, b, w) as _lerp_operands gives them for float Tensors of one dtype whose shapes
    broadcast (the kernel reads them through zero strides); else None."""
    if type(input) is not Tensor or type(end) is not Tensor:
        return None
    a, b = input.data, end.data
    if not (a.dtype is b.dtype and (a.dtype is _F32 or a.dtype is _F64)):
        return None
    if type(weight) is float or type(weight) is int:
        w = weight if _kernel_scalar(weight, a.dtype) else None
    else:
        w = weight.data if type(weight) is Tensor and weight.data.dtype is a.dtype else None
    if w is None:
        return None
    try:
        np.broadcast_shapes(a.shape, b.shape, np.shape(w))
    except ValueError:
        return None  # (the composition raises torch's error)
    return a, b, w


def _lerp_values(a, b, w):
    """_C.lerp's values (broadcasting operands of any strides, read in place), laid out as
    torch's."""
    return _laid(_C.lerp(a, b, w), (a, b, w))


def _lerp_straight(input, end, weight):  # noqa: A002
    """lerp's values by _C.lerp (one rounding per operation, as the composition below: its bits)
    when _lerp_operands takes the operands and none is in the graph; else None."""
    ops = _lerp_operands(input, end, weight)
    if ops is None or not (_outside_graph(input) and _outside_graph(end)):
        return None
    if type(weight) is Tensor and not _outside_graph(weight):
        return None
    return Tensor._make(_lerp_values(*ops), False, None, 0)


class Lerp(Function):
    """lerp by _C.lerp, its gradients torch's formulas: g * (1 - w), g * w and g * (end - input)
    (one node, where the two-sided composition below took seven and rounded g - g * w)."""

    @staticmethod
    def forward(ctx, a, b, w):
        scalar = type(w) is not np.ndarray
        ctx.save_for_backward(a, b, None if scalar else w)
        ctx.meta = w if scalar else None
        return _lerp_values(a, b, w)  # (broadcast operands: zero strides, no copies)

    @staticmethod
    def backward(ctx, g):
        a, b, w = ctx.saved_tensors
        na, nb, nw = ctx.needs_input_grad[:3]
        dt = g.dtype.type
        if w is None:  # a number: 1 - w in double, then a scalar of g's dtype (as torch's)
            w = ctx.meta
            return (
                unbroadcast(g * dt(1 - w), a.shape) if na else None,
                unbroadcast(g * dt(w), b.shape) if nb else None,
                None,
            )
        return (
            unbroadcast(g * (dt(1) - w), a.shape) if na else None,
            unbroadcast(g * w, b.shape) if nb else None,
            unbroadcast(g * (b - a), w.shape) if nw else None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        a0, b0, w0 = ctx.saved_tensors
        na, nb, nw = ctx.needs_input_grad[:3]
        sa, sb = _shape(a0), _shape(b0)
        if w0 is None:
            w = ctx.meta
            return (
                _graph.sum_to(g * (1 - w), sa) if na else None,
                _graph.sum_to(g * w, sb) if nb else None,
                None,
            )
        a, b, w = _graph.inputs(ctx, a0, b0, w0)
        return (
            _graph.sum_to(g * (1 - w), sa) if na else None,
            _graph.sum_to(g * w, sb) if nb else None,
            _graph.sum_to(g * (b - a), _shape(w0)) if nw else None,
        )


def lerp_dtypes(input, end, weight) -> None:  # noqa: A002
    """torch's lerp takes end, and a weight tensor of some dims, of input's own dtype only (a
    0-d weight tensor is read as a number)."""
    dt = _data(input).dtype if isinstance(input, Tensor | np.ndarray) else None
    for name, v, need in (("end", end, True), ("weight", weight, _shape(weight) != ())):
        if dt is not None and need and isinstance(v, Tensor | np.ndarray) and v.dtype != dt:
            raise RuntimeError(f"lerp: expected dtype {dt} for `{name}` but got dtype {v.dtype}")
    if dt is not None and dt.kind in "biu":  # (lerp_ too: torch has no integer lerp kernel)
        raise not_implemented("lerp", dt, "integer or bool operands: use a floating dtype")


def lerp(input, end, weight) -> Tensor:  # noqa: A002
    """input + weight * (end - input), with PyTorch's two-sided form (exact at 0 and 1)."""
    if type(end) is not Tensor:  # (torch: end a Tensor; weight a Tensor or a number)
        _tensors_only("lerp", end, names=("end",))
    if isinstance(weight, list | tuple):
        raise TypeError(f"lerp(): argument 'weight' must be Tensor, not {type(weight).__name__}")
    y = _lerp_straight(input, end, weight)
    if y is not None:
        return y
    if _function._fw_level is None:  # (forward-mode AD: the composition's tangents below)
        ops = _lerp_operands(input, end, weight) or _lerp_broadcast(input, end, weight)
        if ops is not None:
            if type(weight) is Tensor:  # (torch's lerp.Tensor node)
                return named(Lerp.apply(input, end, weight), "LerpBackward1")
            return Lerp.apply(input, end, ops[2])
    _refuse_integral("lerp", input, end)
    lerp_dtypes(input, end, weight)
    d = sub(end, input)
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    small = np.abs(w) < 0.5
    if np.all(small):
        return add(input, mul(weight, d))
    if not np.any(small):
        one_minus_w = rsub(weight, 1) if isinstance(weight, Tensor | np.ndarray) else 1 - weight
        return sub(end, mul(d, one_minus_w))
    # each side reads only its own weights: the other side's zero gradient times an infinite
    # weight would make NaN where torch's gradients are g * (1 - w), g * w
    w_low, w_high = where(small, weight, 0.0), where(small, 1.0, weight)
    return where(small, add(input, mul(w_low, d)), sub(end, mul(d, rsub(w_high, 1))))


def _addc_operands(op, input, tensor1, tensor2, value):  # noqa: A002
    """tensor1, tensor2 and value as torch's addcmul / addcdiv use them: the factors in the
    dtype of all three tensors before they meet (uint8 200 * 200 is 40000 in a float32 sum,
    not a wrapped 64), value in that dtype (an integer result truncates 0.5 to 0)."""
    _tensors_only(op, input, tensor1, tensor2, names=("input", "tensor1", "tensor2"))
    t1, t2 = _tensor_operand(tensor1), _tensor_operand(tensor2)
    x = _tensor_operand(input)
    first = np.empty((1,) if x.ndim or t1.ndim else (), result_type(x, t1))  # (its rank too)
    dt = result_type(first, t2)
    if dt.kind == "b" and op == "addcmul":
        raise not_implemented(op, "bool")
    if op == "addcdiv" and t1.dtype.kind in "biu" and t2.dtype.kind in "biu":
        raise RuntimeError(
            "addcdiv: integer division is not supported (as torch); divide floats instead"
        )
    if dt.kind in "iu" and isinstance(value, float):
        value = int(value)
    return cast(t1, dt), cast(t2, dt), value


class Addc(Function):
    """addcmul (op 1) / addcdiv (op 2) by _C.addc on the operands broadcast to one C-contiguous
    shape (torch's fused bits in every path: recorded and broadcast too), one node with torch's
    three edges and its gradients: g; g * (t2 * value), g * (t1 * value) (addcmul); g * (value /
    t2), -g * (value * t1 / (t2 * t2)) (addcdiv)."""

    @staticmethod
    def forward(ctx, x, t1, t2, value, op):
        ctx.save_for_backward(x, t1, t2)
        ctx.meta = (value, op)
        return _addc_values((x, t1, t2), value, op)  # (broadcast: zero strides, no copies)

    @staticmethod
    def _grads(g, t1, t2, value, op):
        if op == 1:
            return g * (t2 * value), g * (t1 * value)
        return g * (value / t2), -g * (value * t1 / (t2 * t2))

    @staticmethod
    def backward(ctx, g):
        x, t1, t2 = ctx.saved_tensors
        value, op = ctx.meta
        nx, n1, n2 = ctx.needs_input_grad[:3]
        with np.errstate(all="ignore"):  # (as torch: inf/nan silently)
            g1, g2 = Addc._grads(g, t1, t2, g.dtype.type(value), op)
        return (
            unbroadcast(g, x.shape) if nx else None,
            unbroadcast(g1, t1.shape) if n1 else None,
            unbroadcast(g2, t2.shape) if n2 else None,
            None,
            None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        x0, a0, b0 = ctx.saved_tensors
        value, op = ctx.meta
        nx, n1, n2 = ctx.needs_input_grad[:3]
        _, a, b = _graph.inputs(ctx, x0, a0, b0)
        g1, g2 = Addc._grads(g, a, b, value, op)
        return (
            _graph.sum_to(g, _shape(x0)) if nx else None,
            _graph.sum_to(g1, _shape(a0)) if n1 else None,
            _graph.sum_to(g2, _shape(b0)) if n2 else None,
            None,
            None,
        )


def _addc_node(input, t1, t2, value, op, name):  # noqa: A002
    """Addc's result for float32/float64 tensors of one dtype (t1, t2 as _addc_operands gives
    them) and a Python number value outside forward-mode AD; else None (the composition)."""
    if _function._fw_level is not None or type(value) not in (int, float):
        return None
    if type(input) is not Tensor or input.data.dtype.char not in "fd":
        return None
    dt = input.data.dtype
    for t in (t1, t2):
        if not isinstance(t, Tensor | np.ndarray) or t.dtype != dt:
            return None
    return named(Addc.apply(input, t1, t2, value, op), name)


def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    if (arrays := _addc_arrays(input, tensor1, tensor2, value, bcast=True)) is not None:
        return Tensor._make(_addc_values(arrays, value, 1), False, None, 0)  # (torch's bits)
    t1, t2, value = _addc_operands("addcmul", input, tensor1, tensor2, value)
    if (y := _addc_node(input, t1, t2, value, 1, "AddcmulBackward0")) is not None:
        return y
    return named(add(input, mul(t1, t2), alpha=value), "AddcmulBackward0")


def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    if (arrays := _addc_arrays(input, tensor1, tensor2, value, bcast=True)) is not None:
        return Tensor._make(_addc_values(arrays, value, 2), False, None, 0)  # (torch's bits)
    t1, t2, value = _addc_operands("addcdiv", input, tensor1, tensor2, value)
    if (y := _addc_node(input, t1, t2, value, 2, "AddcdivBackward0")) is not None:
        return y
    return named(add(input, div(t1, t2), alpha=value), "AddcdivBackward0")


_nextafter_floats = _float_pair("nextafter", np.nextafter, symmetric=False)


def nextafter(input, other) -> Tensor:  # noqa: A002
    """The next float after input towards other (no gradient)."""
    _tensors_only("nextafter", input, other)
    _no_kernel("nextafter", input, other)
    _refuse_integral("nextafter", input, other)
    a, b = _operands("nextafter", input, other)
    return named(Binary.apply(a, b, _nextafter_floats, _nextafter_grads), "NextafterBackward0")


def _nextafter_grads(a, b, y, g):  # torch 2.13's: input's gradient passes, other's is 0
    return g, np.zeros_like(g)


_BINARY_NAME[_nextafter_grads] = "nextafter"  # (constant factors 1 and 0: _BINARY_PIECEWISE)


def mvlgamma(input, p: int) -> Tensor:  # noqa: A002
    """The multivariate log-gamma of dimension p: sum_i lgamma(x - i/2) + p(p-1)/4 log(pi)."""
    x = _float_operand(input, "mvlgamma")
    p = _index_dim(p, "mvlgamma", "p")  # (torch's TypeError for a float, bool, str, [1])
    if p < 1:  # (torch's RuntimeError)
        raise BadShapeOrValue(f"mvlgamma: p must be an int >= 1, got {p!r}")
    out = lgamma(x)
    for i in range(1, p):
        out = add(out, lgamma(sub(x, i / 2)))
    return add(out, p * (p - 1) / 4 * np.log(np.pi))


class GammaInc(Function):
    """P(a, x) or Q(a, x) = 1 - P(a, x), the regularised incomplete gamma functions."""

    @staticmethod
    def forward(ctx, a, x, upper):
        a2, x2 = (np.ascontiguousarray(v) for v in np.broadcast_arrays(a, x))
        ctx.save_for_backward(a, x)
        ctx.upper = upper
        # (ascontiguousarray makes 0-d operands 1-d: the result takes the broadcast shape back)
        return _C.gammainc(a2, x2, upper).reshape(np.broadcast_shapes(a.shape, x.shape))

    @staticmethod
    def backward(ctx, g):
        a, x = ctx.saved_tensors
        if input_wanted(ctx, 0):  # (only when this pass asks for a's, as torch)
            raise NotImplementedError(
                "gammainc: the derivative with respect to the first argument (a) is not "
                "implemented (PyTorch has none either); detach it"
            )
        # dP/dx = x^(a-1) e^-x / Gamma(a), in logs (x^(a-1) and Gamma(a) overflow separately)
        with np.errstate(all="ignore"):
            d = np.exp(xlogy(a - 1, x).data - x - _special("lgamma", np.asarray(a)))
        d = (-d if ctx.upper else d).astype(g.dtype, copy=False)
        return None, unbroadcast(g * d, _shape(x)), None

    @staticmethod
    def backward_graph(ctx, g):
        if input_wanted(ctx, 0):
            return GammaInc.backward(ctx, g.data)  # (refuses a's)
        a0, x0 = ctx.saved_tensors
        a, x = _graph.inputs(ctx, a0, x0)
        d = exp(xlogy(a - 1, x) - x - lgamma(a))  # (differentiable in a too, as torch's)
        return None, _graph.sum_to(g * (-d if ctx.upper else d), _shape(x0)), None


def _gammainc_operands(op: str, input, other):  # noqa: A002
    """Float operands; two integer/bool ones are refused, as torch's kernel has no integer
    form (a Python number with a float tensor computes in its dtype)."""
    a, b = _operands(op, input, other)
    _no_kernel(op, a, b)
    dt = result_type(a, b)
    if dt.kind in "biu":
        name = {"?": "Bool", "b": "Char", "B": "Byte", "h": "Short", "i": "Int"}.get(
            dt.char, "Long"
        )
        kernel = "igammac_cpu" if op == "gammaincc" else "igamma_cpu"
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{name}'")
    return _float_pair_operands(op, a, b)


def gammainc(input, other) -> Tensor:  # noqa: A002
    """The regularised lower incomplete gamma function P(input, other), as
    torch.special.gammainc; differentiable in ``other`` only (as PyTorch)."""
    a, b = _gammainc_operands("gammainc", input, other)
    out = GammaInc.apply(a, b, False)
    out.data = _laid(out.data, (_data(a), _data(b)))  # (see _laid)
    return out


def gammaincc(input, other) -> Tensor:  # noqa: A002
    """The regularised upper incomplete gamma function Q = 1 - P, as torch.special.gammaincc."""
    a, b = _gammainc_operands("gammaincc", input, other)
    out = GammaInc.apply(a, b, True)
    out.data = _laid(out.data, (_data(a), _data(b)))  # (see _laid)
    return out


def isin(
    elements=None,
    test_elements=None,
    *,
    assume_unique: bool = False,
    invert: bool = False,
    element=None,
    test_element=None,
):
    """Whether each element occurs in test_elements (a bool tensor); torch's scalar
    overloads name a number ``element`` or ``test_element``."""
    if element is not None or test_element is not None:
        if (element is not None and elements is not None) or (
            test_element is not None and test_elements is not None
        ):
            raise TypeError("isin(): got both a tensor and a scalar for one argument")
        elements = element if element is not None else elements
        test_elements = test_element if test_element is not None else test_elements
    if elements is None or test_elements is None:
        raise TypeError("isin(): missing elements or test_elements")
    e, t = np.asarray(_data(elements)), np.asarray(_data(test_elements))
    return Tensor(np.asarray(np.isin(e, t, assume_unique=assume_unique, invert=invert)))


# dtype questions and type tests (torch.result_type & co.): categories bool < integer < float.


def _category(dt: np.dtype) -> int:
    if np.dtype(dt) == _lowp.bfloat16:
        return 2
    return {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}[np.dtype(dt).kind]


def promote_types(type1, type2) -> np.dtype:
    """The smallest dtype both cast to, with PyTorch's rule that an integer meeting a float gives
    the float dtype (NumPy would widen int64 + float32 to float64)."""
    t1, t2 = np.dtype(type1), np.dtype(type2)
    c1, c2 = _category(t1), _category(t2)
    if c1 != c2 and builtins.max(c1, c2) >= 2 and builtins.min(c1, c2) < 2:
        return t1 if c1 > c2 else t2  # (complex with float: NumPy's, complex64 + float64 -> c128)
    return np.promote_types(t1, t2)


def can_cast(from_, to) -> bool:
    """Whether torch's casting rules allow from_ -> to: never to a lower category."""
    return _category(from_) <= _category(to)


def result_type(tensor1, tensor2) -> np.dtype:
    """The dtype of an arithmetic op on the two operands (torch.result_type): tensors with
    dimensions outrank 0-d tensors, which outrank Python numbers, unless a lower-ranked
    operand is of a higher category."""
    return _result_type(tensor1, tensor2)


def _result_type(*xs) -> np.dtype:
    """result_type's rule over any number of operands (block_diag's tensors, ...)."""
    groups = [[], [], []]  # dimensioned tensors, 0-d tensors, Python numbers
    for x in xs:
        if isinstance(x, Tensor | np.ndarray):
            groups[0 if x.ndim else 1].append(x.dtype)
        elif isinstance(x, bool | int | float | complex | np.generic):
            kind = np.asarray(x).dtype.kind
            groups[2].append(
                np.dtype(bool) if kind == "b" else np.dtype(np.int64) if kind in "iu"
                else _complex.default_complex() if kind == "c" else get_default_dtype()
            )  # fmt: skip
        else:
            raise TypeError(f"result_type: expected a tensor or a number, got {type(x).__name__}")
    out = None
    for group in groups:
        if not group:
            continue
        dt = functools.reduce(promote_types, group)
        if out is not None and dt.kind == "c" and _category(out) == 2:  # (bfloat16 too)
            out = _complex.complex_of(out)  # float64 (3,) + 0-d complex64: complex128, as torch
        elif out is None or _category(dt) > _category(out):
            out = dt
    return out


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(input) -> bool:  # noqa: A002
    return _tensor_operand(input).is_floating_point()


def numel(input) -> int:  # noqa: A002
    return _tensor_operand(input).numel()


def is_nonzero(input) -> bool:  # noqa: A002
    return _tensor_operand(input).is_nonzero()


def is_same_size(input, other) -> bool:  # noqa: A002
    return _tensor_operand(input).is_same_size(_tensor_operand(other))


def is_signed(input) -> bool:  # noqa: A002
    return _tensor_operand(input).is_signed()


def is_complex(input) -> bool:  # noqa: A002
    return _tensor_operand(input).is_complex()


# ---- matrix product -----------------------------------------------------------------------


def _gemm_pair(op, a, b):
    """Both operands as arrays of one float dtype (the wider), as the GEMM needs."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.dtype == b.dtype:
        if a.dtype.char in "fd":  # already one GEMM dtype: nothing to promote
            return a, b, True
    a, b = np.asarray(a), np.asarray(b)
    dt = np.result_type(a, b)
    if not _lowp.is_float(dt):
        return a, b, False
    # float16 / bfloat16 stay so: the GEMM computes them in float32 and rounds (ember/_lowp.py)
    return a.astype(dt, copy=False), b.astype(dt, copy=False), True


def _gemm_operand(a: np.ndarray) -> np.ndarray:
    """A 2-D array the GEMM reads in place (row- or column-major with any leading dimension);
    anything else (broadcast zeros strides, doubly strided slices) is copied."""
    item = a.itemsize
    s0, s1 = a.strides
    if (s1 == item and s0 >= a.shape[1] * item) or (s0 == item and s1 >= a.shape[0] * item):
        return a
    return np.ascontiguousarray(a)


def _batched_operand(a: np.ndarray):
    """(array, transposed) for _C.matmul: a C-contiguous, or the swapaxes view of a C-contiguous
    array (k.transpose(-2, -1)) as that array, used transposed; anything else copied."""
    if a.flags.c_contiguous:
        return a, False
    t = np.swapaxes(a, -1, -2)
    return (t, True) if t.flags.c_contiguous else (np.ascontiguousarray(a), False)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (..., M, K) @ b (..., K, N) on the GEMM core (2-D: strided views need no copy; batched:
    transposed views need none)."""
    if a.ndim == 2 and b.ndim == 2:
        return _C.gemm(_gemm_operand(a), _gemm_operand(b))
    (a, ta), (b, tb) = _batched_operand(a), _batched_operand(b)
    return _C.matmul(a, b, ta, tb)


class MatMul(Function):
    b_cols = False  # (b a column-major 2-D operand needing a gradient: w.t())

    @staticmethod
    def forward(ctx, a_in, b_in):
        if (
            type(a_in) is _ND
            and type(b_in) is _ND
            and a_in.dtype is b_in.dtype
            and (a_in.dtype is _F32 or a_in.dtype is _F64)
        ):
            # the common recorded products of one float dtype: nothing to promote or reshape,
            # the kernel called straight (the general steps below: ~0.5-1 us of frames and tests)
            da, db = a_in.ndim, b_in.ndim
            if (
                # overhead36: two matrices (_mm's GEMM call)
                (da == 2 == db and a_in.shape[1] == b_in.shape[0])
                # overhead37: matrix-vector, either side: a row reduction (_C.matvec), as
                # matmul's path outside the graph, not a one-column GEMM
                or (da + db == 3 and a_in.shape[-1] == b_in.shape[0])
                # overhead41: bmm's shapes
                or (
                    da == 3 == db
                    and a_in.shape[0] == b_in.shape[0]
                    and a_in.shape[2] == b_in.shape[1]
                )
                # overhead43: dot's two vectors (the GEMM of (1, n) by (n, 1), as below)
                or (da == 1 == db and 0 < a_in.shape[0] == b_in.shape[0])
            ):
                na, nb = ctx.needs_input_grad
                ctx.save_for_backward(
                    a_in if nb else _stand_in(a_in), b_in if na else _stand_in(b_in)
                )
                ctx.dims = (da, db)
                if da == 1 == db:
                    n = a_in.shape[0]
                    a2, b2 = _gemm_operand(a_in.reshape(1, n)), _gemm_operand(b_in.reshape(n, 1))
                    return _C.gemm(a2, b2).reshape(())
                if da == 2 == db:
                    if nb and b_in.strides[0] < b_in.strides[1]:  # (x @ w.t(): see backward)
                        ctx.b_cols = True
                    return _C.gemm(_gemm_operand(a_in), _gemm_operand(b_in))
                if da == 3:
                    if a_in.flags.c_contiguous and b_in.flags.c_contiguous:
                        return _C.matmul(a_in, b_in, False, False)
                    return _mm(a_in, b_in)
                m, v = (b_in, a_in) if da == 1 else (a_in, b_in)
                if not (m.flags.c_contiguous or m.flags.f_contiguous):
                    m = np.ascontiguousarray(m)
                return _C.matvec(m, np.ascontiguousarray(v), da == 1)
        a, b, is_float = _gemm_pair("matmul", a_in, b_in)
        if a.ndim == 0 or b.ndim == 0:
            raise BadShapeOrValue(  # (torch: RuntimeError)
                f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and "
                f"{b.shape}"
            )
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise BadShapeOrValue(
                f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({k_a} != {k_b})"
            )
        # each operand kept only for the other's gradient, as torch's mm: an in-place write
        # into w after y = w @ x (x needing no gradient) leaves y's backward valid
        na, nb = ctx.needs_input_grad
        ctx.save_for_backward(a if nb else _stand_in(a), b if na else _stand_in(b))
        ctx.dims = (a.ndim, b.ndim)  # (torch's node name: dot, mv, mm)
        if nb and b.ndim == 2 and b.strides[0] < b.strides[1]:  # (x @ w.t(): see backward)
            ctx.b_cols = True
        if not is_float:  # integer matmul: exact in NumPy, no BLAS involved (complex too)
            if a.dtype != b.dtype and np.result_type(a, b).kind == "c":
                raise BadDtype(  # (torch: RuntimeError)
                    f"matmul: expected operands of one dtype, got {a.dtype} and {b.dtype} "
                    "(as torch: convert the real one with .to())"
                )
            return np.matmul(a, b)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        y = _mm(a2, b2)
        if b.ndim == 1:
            y = y[..., 0]
        if a.ndim == 1:
            y = y[..., 0, :] if b.ndim > 1 else y[..., 0]
        if a is a_in and b is b_in:  # computed in the inputs' own dtype
            return y
        # float16 (alone or mixed) is computed in float32 and returned in the result type
        return y.astype(np.result_type(a_in, b_in), copy=False)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        dt = a.dtype
        if a.ndim + b.ndim == 3 and g.ndim == 1 and (dt is _F32 or dt is _F64) and g.dtype is dt:
            # matrix-vector (forward's _C.matvec): the vector's gradient is another, the
            # matrix's an outer product (no one-column GEMMs)
            vec_first = a.ndim == 1
            m, v = (b, a) if vec_first else (a, b)
            gm = gv = None
            if na if vec_first else nb:
                if not (m.flags.c_contiguous or m.flags.f_contiguous):
                    m = np.ascontiguousarray(m)
                gv = _C.matvec(m, np.ascontiguousarray(g), not vec_first)
            if nb if vec_first else na:
                gm = np.multiply.outer(v, g) if vec_first else np.multiply.outer(g, v)
            return (gv, gm) if vec_first else (gm, gv)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        g2 = g2.astype(a2.dtype, copy=False)
        ga = gb = None
        if a2.dtype.kind == "c":  # (no complex GEMM: NumPy's; the conjugates: _complex.py)
            if na:
                ga = unbroadcast(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape)
            if nb:
                gb = unbroadcast(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape)
            return (None if ga is None else ga.reshape(a.shape),
                    None if gb is None else gb.reshape(b.shape))  # fmt: skip
        if na:
            if g2.ndim == 2 and b2.ndim == 2:
                ga = _C.gemm(_gemm_operand(g2), _gemm_operand(b2), trans_b=True)
            else:
                ga = _mm(g2, np.swapaxes(b2, -1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if nb:
            if g2.ndim == 2 and a2.ndim == 2:
                if ctx.b_cols:  # (x @ w.t(): torch's layout)
                    # b is column-major: its gradient too, (g^T a)^T, so w.t()'s backward
                    # hands w a row-major .grad without a transposing copy
                    gb = _C.gemm(_gemm_operand(g2), _gemm_operand(a2), trans_a=True).T
                else:
                    gb = _C.gemm(_gemm_operand(a2), _gemm_operand(g2), trans_a=True)
            else:
                gb = _mm(np.swapaxes(a2, -1, -2), g2)
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb

    @staticmethod
    def backward_graph(ctx, g):
        a0, b0 = ctx.saved_tensors
        a, b = _graph.inputs(ctx, a0, b0)
        na, nb = ctx.needs_input_grad
        # as backward: 1-D operands as a row / a column
        a2 = unsqueeze(a, 0) if a0.ndim == 1 else a
        b2 = unsqueeze(b, 1) if b0.ndim == 1 else b
        g2 = unsqueeze(g, -1) if b0.ndim == 1 else g
        g2 = unsqueeze(g2, -2) if a0.ndim == 1 else g2
        ga = gb = None
        if na:
            ga = _graph.sum_to(matmul(g2, transpose(b2, -1, -2)), a2.shape).reshape(a0.shape)
        if nb:
            gb = _graph.sum_to(matmul(transpose(a2, -1, -2), g2), b2.shape).reshape(b0.shape)
        return ga, gb


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and broadcasting batch dims. Two
    tensors must share a dtype, as torch's (no silent float64 from float32 @ int64)."""
    if type(a) is Tensor and type(b) is Tensor:
        x, y = a.data, b.data
        dt = x.dtype
        if dt is not y.dtype and dt != y.dtype:
            raise BadDtype(  # (torch: RuntimeError)
                f"matmul: expected operands of one dtype, got {a.dtype} {tuple(a.shape)} and "
                f"{b.dtype} {tuple(b.shape)} (as torch: convert one with .to())"
            )
        if (dt is _F32 or dt is _F64) and (
            not (a._requires_grad or b._requires_grad)
            or (not _state.enabled and _function._fw_level is None)
        ):  # (both _outside_graph) the common products outside the graph (apply is ~3 us):
            if x.ndim == 2 and y.ndim == 2 and x.shape[1] == y.shape[0]:  # the GEMM straight
                if not x.flags.c_contiguous:  # (as _gemm_operand leaves a C-contiguous one)
                    x = _gemm_operand(x)
                if not y.flags.c_contiguous:
                    y = _gemm_operand(y)
                return _plain(_C.gemm(x, y))
            if x.ndim + y.ndim == 3 and x.shape[-1] == y.shape[0]:  # matrix-vector: a row
                # reduction (_C.matvec), not a one-column GEMM (~6x NumPy's time at 1000)
                vec_first = x.ndim == 1
                m, v = (y, x) if vec_first else (x, y)
                if not (m.flags.c_contiguous or m.flags.f_contiguous):
                    m = np.ascontiguousarray(m)
                return _plain(_C.matvec(m, np.ascontiguousarray(v), vec_first))
            if (
                x.ndim == 3
                and y.ndim == 3
                and x.shape[0] == y.shape[0]
                and x.shape[2] == y.shape[1]
            ):
                return _plain(_mm(x, y))  # bmm's shapes: the forward's _mm straight
            if x.ndim == 3 and y.ndim == 2 and x.shape[2] == y.shape[0]:
                return _plain(_mm(x, y))  # overhead42: a batch by one matrix, as the forward
        elif dt is _F32 or dt is _F64:  # recorded: nothing below applies (bool, operands)
            return MatMul.apply(a, b)
    else:
        a, b = _as_operand(a, "input"), _as_operand(b)
    if _kind(a) == _kind(b) == "b":  # (torch has no bool product kernel)
        raise not_implemented("matmul", "bool", f"shapes {_shape(a)} and {_shape(b)}")
    return MatMul.apply(a, b)


# ---- elementwise math ---------------------------------------------------------------------


def _float_input(x):
    """x as an operand (_as_operand) of float-valued maths: integer and bool inputs become the
    default dtype (float32)."""
    if type(x) is Tensor and x.data.dtype.kind == "f":  # the common case, before _kind
        return x
    x = _as_operand(x, "input")
    return _to_dtype(x, get_default_dtype()) if _kind(x) in "biu" else x


# The unary maths run in C++ (csrc/ops/activation.cpp's unary_forward / unary_backward: SIMD,
# threaded, output written once) for C-contiguous float32 / float64 arrays, the common case;
# anything else (strided views, float16, bfloat16, complex, integers) keeps NumPy's loops.
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)
_I64, _I32 = np.dtype(np.int64), np.dtype(np.int32)
_ACT_ID = {name: i for i, name in enumerate(_C.activation_names)}


def _act_forward(name: str, x: np.ndarray, alpha: float = 0.0, beta: float = 1.0, out=None):
    """activation_forward(name, x, alpha, beta, out=out) by its positional, by-index entry
    (_C.activation): ~0.5 us cheaper a call. Not for gelu's approximate or softplus's
    threshold (activation_forward's own keywords)."""
    return _C.activation(x, _ACT_ID[name], alpha, beta, out)


def _act_backward(name: str, dy: np.ndarray, saved: np.ndarray, alpha=0.0, beta=1.0):
    """activation_backward(name, dy, saved, alpha, beta), as _act_forward."""
    return _C.activation_grad(dy, saved, _ACT_ID[name], alpha, beta)


_quiet_over = _ignoring(over="ignore")  # exp(1000) is inf, silently as in torch
_INF = math.inf


def _kernel_ok(a) -> bool:
    """Whether the C++ unary kernels take array a (identity tests: ~0.1 us, the hot path)."""
    return type(a) is np.ndarray and (a.dtype is _F32 or a.dtype is _F64) and a.flags.c_contiguous


def _kernel_ok_laid(a) -> bool:
    """_kernel_ok, or a dense permutation of such an array (F order, a permuted view): the
    activation kernel runs it as it lies, y in its strides (torch's layout). NumPy's float64 sin
    of a permuted view took 2.8x torch's time, erf's copies in and out 2x."""
    return _kernel_ok(a) or (
        type(a) is np.ndarray
        and (a.dtype is _F32 or a.dtype is _F64)
        and _strides.non_overlapping_and_dense(a.shape, _strides._elem_strides(a))
    )


def _kernel_unary(act: int, fn, x, *args) -> Tensor:
    """_unary_apply(fn, x, *args) for an op whose _values are the unary kernel number ``act``
    (_ACT_ID, default alpha and beta) on a _kernel_ok array: a plain float32/float64
    C-contiguous Tensor outside autograd goes to that kernel straight, the same call _values
    makes (~0.3 us of frames and tests less: the hot case of exp, log, relu, rsqrt, ...)."""
    if type(x) is Tensor:
        if (y := _C.fast_unary(x, act)) is not None:  # (the same call in C, outside autograd)
            return y
        d = x.data
        if (
            (d.dtype is _F32 or d.dtype is _F64)
            and (not x._requires_grad or (not _state.enabled and _function._fw_level is None))
            and d.flags.c_contiguous
        ):
            return Tensor._make(_C.activation(d, act, 0.0, 1.0, None), False, None, 0)
        if x._requires_grad and _state.enabled and (d.base is None or d.flags.c_contiguous):
            return fn.apply(x, *args)  # a node: _unary_apply's test has no case left
    return _unary_apply(fn, x, *args)  # (which also lays a strided x's result out as torch)


# abs and neg: NumPy's own SIMD loop is as fast on one thread and no dearer to reach, so the kernel
# only takes arrays it splits across threads (activation.cpp: 64K a thread). (x ** 2 and kin take
# the kernel at any size: NumPy's loops would need an errstate there, see _pow_scalar.)
_THREADED = 2 * 65536


def _threaded_kernel(name: str, a, numpy_fn, *args):
    """The unary kernel `name` on a when its threads pay, else numpy_fn(a, *args)."""
    if type(a) is np.ndarray and a.size >= _THREADED and _kernel_ok(a):
        return _act_forward(name, a)
    return numpy_fn(a, *args)


def _grad_kernel(name: str, g, saved, lo: float = 0.0, hi: float = 1.0):
    """activation_backward(name, g, saved) when the kernel takes them, else None (the caller's
    NumPy formula then runs): saved a kernel array, g of its dtype and shape, or one value
    broadcast (a full sum's gradient, see _reads_broadcast: read once, never filled in)."""
    if type(g) is not np.ndarray or g.dtype is not saved.dtype or not _kernel_ok(saved):
        return None
    if (one := _one_value(g)) is not None:
        g = one
    elif g.shape != saved.shape or not g.flags.c_contiguous:
        return None
    return _act_backward(name, g, saved, lo, hi)


class Exp(Function):
    @staticmethod
    def _values(x):  # (see _unary_apply)
        return _act_forward("exp", x) if _kernel_ok_laid(x) else _quiet_over(np.exp, x)

    @staticmethod
    def forward(ctx, x):
        # (Exp._values, without its frame)
        y = _act_forward("exp", x) if _kernel_ok(x) else _quiet_over(np.exp, x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y

    @staticmethod
    def backward_graph(ctx, g):
        return g * _graph.output(ctx, ctx.saved_tensors[0])


def exp(x) -> Tensor:
    return _kernel_unary(_ACT_ID["exp"], Exp, _float_input(x))


class Log(Function):
    _broadcast_grad = True  # (see _grad_kernel)

    @staticmethod
    def _values(x):
        return _act_forward("log", x) if _kernel_ok_laid(x) else _quiet_div(np.log, x)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return Log._values(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        dx = _grad_kernel("log", g, x)
        return g / x if dx is None else dx

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = _graph.inputs(ctx, *ctx.saved_tensors)
        return g / x


def log(x) -> Tensor:
    return _kernel_unary(_ACT_ID["log"], Log, _float_input(x))


class Sqrt(Function):
    _broadcast_grad = True

    @staticmethod
    def _values(x):
        return _act_forward("sqrt", x) if _kernel_ok_laid(x) else _quiet_div(np.sqrt, x)

    @staticmethod
    def forward(ctx, x):
        y = Sqrt._values(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        dx = _grad_kernel("sqrt", g, y)
        return _quiet_div(np.divide, g, 2 * y) if dx is None else dx

    @staticmethod
    def backward_graph(ctx, g):
        return g / (2 * _graph.output(ctx, ctx.saved_tensors[0]))


def sqrt(x) -> Tensor:
    return _kernel_unary(_ACT_ID["sqrt"], Sqrt, _float_input(x))


class Abs(Function):
    _broadcast_grad = True

    @staticmethod
    def _values(x):
        return _threaded_kernel("abs", x, np.abs)

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return Abs._values(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        dx = _grad_kernel("abs", g, x)
        return g * _sign(x) if dx is None else dx  # 0 at NaN, as PyTorch

    @staticmethod
    def backward_graph(ctx, g):
        return _graph.linear(ctx, g, lambda v: Abs.backward(ctx, v), mask_of=ctx.parents[0])


def abs(x) -> Tensor:  # noqa: A001
    if type(x) is Tensor and x.data.dtype.kind == "f":  # the common case: no check below applies
        d = x.data
        if not x._requires_grad and d.size < _THREADED and d.flags.c_contiguous:
            # (_unary_apply's values without its 3 frames: ~0.3 us; _make: a 0-d x's scalar)
            return Tensor._make(np.abs(d), False, None, 0)
        return _unary_apply(Abs, x)
    x = _as_operand(x, "input")
    if type(x) is Tensor and x.data.dtype.kind == "c":
        return _complex.abs(x)
    if _kind(x) == "b":
        raise not_implemented("abs", "bool")
    return _unary_apply(Abs, x)


def _is_zero(v) -> bool:
    if v is None:
        return False
    return v == 0 if isinstance(v, int | float) else bool(np.all(np.asarray(v) == 0))


def _scalar_bound(v) -> bool:
    return (
        v is None or type(v) is float or type(v) is int or isinstance(v, np.floating | np.integer)
    )


def _clamp_kernel_bounds(x, lo, hi):
    """(lo, hi) as the clamp kernel takes them when it takes x and the bounds, else None:
    missing bounds as -inf / inf."""
    if _kernel_ok(x) and _scalar_bound(lo) and _scalar_bound(hi):
        return (-_INF if lo is None else float(lo), _INF if hi is None else float(hi))
    return None


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        kernel = _clamp_kernel_bounds(x, lo, hi)
        if kernel is not None:
            ctx.kernel = kernel
            ctx._broadcast_grad = True
            return _act_forward("clamp", x, *kernel)  # (_values' kernel call, not tested again)
        return Clamp._values(x, lo, hi)

    @staticmethod
    def _values(x, lo, hi):
        kernel = _clamp_kernel_bounds(x, lo, hi)
        if kernel is not None:
            # the kernel's min(max(x, lo), hi) with PyTorch's NaN and tie rules (clamp(-0.0,
            # min=0) is -0.0), one pass
            return _act_forward("clamp", x, *kernel)
        # max then min (np.clip's order: lo > hi gives hi everywhere), NaN kept as PyTorch
        y = x if lo is None else np.maximum(x, lo)
        if hi is not None:
            y = np.minimum(y, hi, out=y if y is not x and type(y) is np.ndarray else None)
        if y is x or type(y) is not np.ndarray or y.dtype != x.dtype:  # (0-d: NumPy scalars)
            y = np.array(y, x.dtype)
        if x.dtype.kind == "f" and (_is_zero(lo) or _is_zero(hi)):  # PyTorch keeps x where
            np.copyto(y, x, where=x == 0)  # x == bound: clamp(-0.0, min=0) is -0.0 there
        return y

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        kernel = ctx.__dict__.get("kernel")
        if kernel is not None and (dx := _grad_kernel("clamp", g, x, *kernel)) is not None:
            return dx, None, None
        lo, hi = ctx.bounds
        mask = np.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        return np.where(mask, g, g.dtype.type(0)), None, None  # (g * mask: inf * 0 = NaN)

    @staticmethod
    def backward_graph(ctx, g):
        return _graph.linear(ctx, g, lambda v: Clamp.backward(ctx, v)[0]), None, None


def _clamp_masks(x, lo, hi):
    """Where x, min and max take clamp's gradient (torch's clamp_backward and
    clamp_backward_min_max): x inside [min, max]; min where x < min < max; max where x > max or
    max < min (min > max gives max everywhere). NaN anywhere: no gradient."""
    if lo is None:
        return x <= hi, None, x > hi
    if hi is None:
        return x >= lo, x < lo, None
    return (x >= lo) & (x <= hi), (x < lo) & (lo < hi), (x > hi) | (hi < lo)


class ClampFn(Function):
    """clamp with tensor bounds (None for an absent one) broadcast together, computed in
    ``dt`` (torch's result type): torch's ClampBackward0, an edge per x, min and max."""

    @staticmethod
    def forward(ctx, x, lo, hi, dt):
        ctx.dtypes = tuple(None if v is None else v.dtype for v in (x, lo, hi))
        x, lo, hi = (None if v is None else v.astype(dt, copy=False) for v in (x, lo, hi))
        ctx.save_for_backward(x, lo, hi)
        y = x if lo is None else np.where(x < lo, lo, x)  # (ties go to x)
        y = y if hi is None else np.where(y > hi, hi, y)
        y = np.array(y, dt)
        if _lowp.is_float(y.dtype):  # a NaN in x or a bound: NaN there
            nan = np.isnan(x)
            for b in (lo, hi):
                nan = nan if b is None else nan | np.isnan(b)
            y[np.broadcast_to(nan, y.shape)] = np.nan
        return y

    @staticmethod
    def backward(ctx, g):
        args = ctx.saved_tensors
        zero = g.dtype.type(0)
        return (*(
            unbroadcast(np.where(m, g, zero), np.shape(a)).astype(dt, copy=False)
            if need and a is not None else None
            for m, a, need, dt in zip(_clamp_masks(*args), args, ctx.needs_input_grad, ctx.dtypes)
        ), None)  # fmt: skip

    @staticmethod
    def backward_graph(ctx, g):
        args = ctx.saved_tensors
        return (*(
            cast(_graph.sum_to(where(_graph.constant(m), g, 0.0), np.shape(a)), dt)
            if need and a is not None else None
            for m, a, need, dt in zip(_clamp_masks(*args), args, ctx.needs_input_grad, ctx.dtypes)
        ), None)  # fmt: skip


_NUMBER_OR_NONE = frozenset((float, int, type(None)))
_CLAMP = _ACT_ID["clamp"]


def _clamp_bounds(op: str, x, min, max) -> None:  # noqa: A002
    """torch's refusals of clamp's bounds: none given (RuntimeError), a bool x with bool
    bounds (NotImplementedError), a number beside a tensor that torch's parser cannot read
    as a number (one with dims or requiring grad: its TypeError)."""
    if min is None and max is None:
        raise BadShapeOrValue(f"{op}: at least one of min or max must not be None")
    number = (bool, int, float, np.generic)
    if isinstance(min, number) or isinstance(max, number):
        for name, v in (("min", min), ("max", max)):
            if isinstance(v, Tensor) and (v.ndim or v.requires_grad):
                raise TypeError(
                    f"{op}(): a number bound beside a tensor {name} of shape {tuple(v.shape)}"
                    f"{' requiring grad' if v.requires_grad else ''}: give both as tensors or "
                    "both as numbers"
                )
    if _kind(x) == "b" and builtins.all(type(v) in (bool, type(None)) for v in (min, max)):
        raise not_implemented(op, np.bool_, "bool bounds")


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002
    if min is None and max is None:
        raise BadShapeOrValue("clamp: at least one of 'min' or 'max' must not be None")
    if (
        type(x) is Tensor
        and x.data.dtype.kind == "f"
        and type(min) in _NUMBER_OR_NONE
        and type(max) in _NUMBER_OR_NONE
    ):  # the common case (a float tensor, number bounds): none of the conversions below apply
        d = x.data
        if not (_plain_bound(min) and _plain_bound(max)) or d.itemsize == 2:  # (float16)
            _clamp_range(d.dtype, min, max)
        if not x._requires_grad and (d.dtype is _F32 or d.dtype is _F64) and d.flags.c_contiguous:
            # Clamp._values' kernel call straight (_clamp_kernel_bounds' bounds): ~0.4 us of
            # frames less
            lo = -_INF if min is None else float(min)
            hi = _INF if max is None else float(max)
            return _plain(_C.activation(d, _CLAMP, lo, hi, None))
        return _unary_apply(Clamp, x, min, max)
    x = _tensor_operand(x)
    for name, bound in (("min", min), ("max", max)):  # (torch's bounds: numbers or tensors)
        if isinstance(bound, list | tuple | str):
            t = type(bound).__name__
            raise TypeError(f"clamp(): argument '{name}' must be Number, not {t}")
    _complex.refuse("clamp", x, min, max)
    # a NumPy scalar bound is a Python number to torch (int8 x clamped to np.float32(1.5) is
    # float32, not 1.5 cut to int8; bool x with np.int64(2) computes in int64), and its
    # parser reads an np.bool_ as a float
    if isinstance(min, np.generic) and min.dtype.kind in "biuf":
        min = float(min) if min.dtype.kind == "b" else min.item()  # noqa: A001
    if isinstance(max, np.generic) and max.dtype.kind in "biuf":
        max = float(max) if max.dtype.kind == "b" else max.item()  # noqa: A001
    _clamp_bounds("clamp", x, min, max)
    if isinstance(min, Tensor) != isinstance(max, Tensor) and None not in (min, max):
        # a 0-d tensor beside a number is a number to torch's parser (clamp's Scalar overload)
        min, max = (v.item() if isinstance(v, Tensor) else v for v in (min, max))  # noqa: A001
    if isinstance(min, Tensor) or isinstance(max, Tensor):
        # tensor bounds: one ClampBackward0 in torch's result type (its edges straight to the
        # tensors, each gradient in its own dtype)
        dt = _result_type(*(v for v in (x, min, max) if v is not None))
        lo, hi = (
            v if v is None or isinstance(v, Tensor) else np.asarray(v, dt) for v in (min, max)
        )
        y = ClampFn.apply(x, lo, hi, dt)
        y.data = _laid(y.data, (x.data, _data(lo), _data(hi)))  # (see _laid)
        return y
    if _kind(x) in "biu" and builtins.any(isinstance(v, float) for v in (min, max)):
        x = _to_dtype(x, get_default_dtype())  # an int tensor clamped to a float bound
    elif _kind(x) == "b" and builtins.any(type(v) is int for v in (min, max)):
        x = _to_dtype(x, np.int64)  # bool with an int bound computes in int64, as torch
    _clamp_range(x.dtype, min, max)
    min, max = _int_bounds(x.dtype, min, max)  # noqa: A001
    return _unary_apply(Clamp, x, _data(min), _data(max))


def _plain_bound(v) -> bool:
    """A clamp bound no dtype's range check refuses (most calls: None, a float float32 holds,
    a small int)."""
    return (
        v is None
        or (type(v) is float and -_F32_MAX <= v <= _F32_MAX)
        or (type(v) is int and -(2**31) <= v < 2**31)
    )


def _clamp_range(dt, *bounds) -> None:
    """torch's checks of clamp's number bounds against the dtype they are cast to: a Python
    int outside [-2**63, 2**64) does not convert (its parser's OverflowError), a finite number
    beyond a float dtype's largest (float32: 1e300, float16: 65520) does not either (its
    RuntimeError); integer dtypes' ranges are _int_bounds'."""
    for v in bounds:
        if type(v) is int and not -(2**63) <= v < 2**64:
            raise OverflowError(f"clamp: the bound {v} is too big to convert (int too big)")
        if (type(v) is float or type(v) is int) and _lowp.is_float(np.dtype(dt)):
            top = float(ml_dtypes.finfo(dt).max)
            if abs(v) > top and math.isfinite(v):
                raise BadShapeOrValue(
                    f"clamp: value {v} cannot be converted to type {np.dtype(dt)} without overflow"
                )


def _where(cond: np.ndarray, a, b):
    """np.where(cond, a, b); a bool C-contiguous cond of 16 elements and more with a and b
    float32/float64 C-contiguous arrays of its shape and one dtype (or one of them a Python
    number) by the branch-free, threaded _C.where (NumPy's where branches per element: ~40x
    slower on a random mask)."""
    if type(cond) is np.ndarray and cond.size >= _KERNEL_MIN and cond.dtype == np.bool_:
        dt = (a if type(a) is np.ndarray else b).dtype if np.ndarray in (type(a), type(b)) else None
        if dt in _KERNEL_DTYPES and cond.flags.c_contiguous and _where_side(a, dt, cond.shape):
            if _where_side(b, dt, cond.shape):
                return _C.where(cond, a, b)
    try:
        return np.where(cond, a, b)
    except ValueError:  # (NumPy's broadcast refusal: torch's RuntimeError)
        shapes = " and ".join(str(np.shape(v)) for v in (cond, a, b))
        raise BadShapeOrValue(f"where: shapes {shapes} do not broadcast") from None


def _where_side(x, dtype, shape) -> bool:
    """x fits _C.where beside a bool mask of shape: a C-contiguous array of that shape and
    dtype, or a Python number the kernel rounds as NumPy does."""
    if type(x) is np.ndarray:
        return x.dtype == dtype and x.shape == shape and x.flags.c_contiguous
    return (type(x) is float or type(x) is int) and _kernel_scalar(x, dtype)


def _c_laid(a: np.ndarray) -> bool:
    """a is C-contiguous as torch lays it: an elementwise result of such operands needs no
    _laid step."""
    return a.flags.c_contiguous and (a.base is None or not _size1_strided(a))


class Where(Function):
    """where(cond, a, b); with flip, where(cond, b, a) (masked_fill: x first, the fill second,
    as torch's inputs). The condition comes last: it takes no gradient, and torch's node has no
    edge for it (next_functions lists a and b alone)."""

    @staticmethod
    def forward(ctx, a, b, cond, flip=False):
        if (
            type(a) is _ND
            and type(b) is _ND
            and type(cond) is _ND
            and cond.dtype == np.bool_
            and a.dtype is b.dtype
            and a.dtype in _KERNEL_DTYPES
            and a.shape == b.shape == cond.shape
            and cond.size >= _KERNEL_MIN
            and a.flags.c_contiguous
            and b.flags.c_contiguous
            and cond.flags.c_contiguous
        ):  # overhead40: where()'s recorded call, _where's kernel choice and the shapes
            # without their helpers' frames (~0.8 us of a 32x32 one)
            ctx.save_for_backward(cond)
            ctx.shapes = (a.shape, a.shape, flip)
            return _C.where(cond, b, a) if flip else _C.where(cond, a, b)
        if (
            type(b) is float
            and type(a) is _ND
            and type(cond) is _ND
            and cond.dtype == np.bool_
            and a.dtype in _KERNEL_DTYPES
            and a.shape == cond.shape
            and cond.size >= _KERNEL_MIN
            and a.flags.c_contiguous
            and cond.flags.c_contiguous
            and _kernel_scalar(b, a.dtype)
        ):  # overhead43: masked_fill's recorded call (a float fill), as _where chooses it
            ctx.save_for_backward(cond)
            ctx.shapes = (a.shape, (), flip)
            return _C.where(cond, b, a) if flip else _C.where(cond, a, b)
        cond = np.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        ctx.shapes = (_shape(a), _shape(b), flip)
        return _where(cond, b, a) if flip else _where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        sa, sb, flip = ctx.shapes
        na, nb = ctx.needs_input_grad[:2]
        taken, other = _where(cond, g, 0), _where(cond, 0, g)  # (g where cond holds, where not)
        if flip:
            taken, other = other, taken
        return (
            unbroadcast(taken, sa) if na else None,
            unbroadcast(other, sb) if nb else None,
            None,
            None,
        )[: len(ctx.needs_input_grad)]

    @staticmethod
    def backward_graph(ctx, g):
        cond = _graph.constant(ctx.saved_tensors[0])
        sa, sb, flip = ctx.shapes
        na, nb = ctx.needs_input_grad[:2]
        taken, other = where(cond, g, 0.0), where(cond, 0.0, g)
        if flip:
            taken, other = other, taken
            if vars(ctx).get("_named", "").startswith("MaskedFill") and na:
                # masked_fill's node: x's gradient as torch's grad.masked_fill(mask, 0), its
                # node of that name with the one edge, g's
                taken = named(Where.apply(g, 0.0, cond, True), "MaskedFillBackward0")
        return (
            _graph.sum_to(taken, sa) if na else None,
            _graph.sum_to(other, sb) if nb else None,
            None,
            None,
        )[: len(ctx.needs_input_grad)]


def where(condition, a=None, b=None, _flip=False) -> Tensor:
    """Elements of a where condition holds, else of b (broadcasting); where(condition) alone is
    nonzero(condition, as_tuple=True). (_flip: masked_fill's node, its inputs in torch's order,
    b first.)"""
    if a is None and b is None:
        return nonzero(condition, as_tuple=True)
    if type(condition) is Tensor and type(a) is Tensor and type(b) is Tensor:
        c, x, y = condition.data, a.data, b.data
        if (
            c.dtype == np.bool_
            and (x.dtype is _F32 or x.dtype is _F64)
            and x.dtype is y.dtype
            and _outside_graph(a)
            and _outside_graph(b)
        ):  # a bool mask and two float tensors of one dtype: the general path's values,
            # without its operand checks (~1 us of an 8x8 one)
            if (
                c.shape == x.shape == y.shape
                and c.size >= _KERNEL_MIN
                and c.flags.c_contiguous
                and x.flags.c_contiguous
                and y.flags.c_contiguous
            ):
                return _plain(_C.where(c, x, y))  # (_where's choice, its tests made here)
            out = _where(c, x, y)
            if c.base is not None or x.base is not None or y.base is not None:
                out = _laid(out, (c, x, y))  # (see _laid)
            return _plain(out)
        if (
            c.dtype == np.bool_
            and (x.dtype is _F32 or x.dtype is _F64)
            and x.dtype is y.dtype
            and c.shape == x.shape == y.shape
            and _c_laid(c)
            and _c_laid(x)
            and _c_laid(y)
        ):  # overhead37: the same in the graph: the node straight (C order, nothing to lay;
            # the condition last, as its Tensor, not requiring grad: no edge, as torch's)
            return Where.apply(b, a, condition, True) if _flip else Where.apply(a, b, condition)
    elif type(condition) is Tensor and type(a) is Tensor and (type(b) is int or type(b) is float):
        c, x = condition.data, a.data
        if (
            c.dtype == np.bool_
            and x.dtype.kind in "fiu"
            and _outside_graph(a)
            and _where_plain(b, a)
        ):  # overhead44: where(mask, x, number) outside the graph, a number x's dtype takes
            # as it is: the general path's _where and layout without its operand and promotion
            # steps (where(mask, int64 x, 3) at 32x32 ~8.2 -> ~3 us, torch ~3.5)
            y = _where(c, x, b)
            if c.base is not None or x.base is not None:
                y = _laid(y, (c, x, b))  # (see _laid)
            return Tensor._make(y, False, None, 0)
    if isinstance(condition, Tensor) and condition.data.dtype == np.uint8:
        warnings.warn(  # torch computes it, with this notice
            "where received a uint8 condition tensor. This behavior is deprecated and will be "
            "removed in a future version of PyTorch. Use a boolean condition instead.",
            UserWarning,
            stacklevel=2,
        )
        condition = condition != 0
    if isinstance(condition, Tensor) and condition.data.dtype != np.bool_:
        raise BadDtype(
            "where expected condition to be a boolean tensor, but got a tensor with dtype "
            f"{condition.dtype}"
        )
    a, b = _as_operand(a, "input"), _as_operand(b)
    if not isinstance(a, Tensor | np.ndarray) and not isinstance(b, Tensor | np.ndarray):
        a = np.asarray(a, get_default_dtype() if isinstance(a, float) else None)  # two scalars
    elif type(a) in _NUMBERS and isinstance(b, Tensor) and not _where_plain(a, b):
        a = _where_number(a, b)
    elif type(b) in _NUMBERS and isinstance(a, Tensor) and not _where_plain(b, a):
        b = _where_number(b, a)
    if not _no_promotion(a, b):
        a, b = _promote(a, b)
    if (arrays := _plain_pair(a, b)) is not None:  # no node, as _apply_broadcasting
        cond = np.asarray(_data(condition), dtype=bool)
        y = _where(cond, *arrays)
        a, b = arrays
        if (
            cond.base is not None
            or (type(a) is _ND and a.base is not None)
            or (type(b) is _ND and b.base is not None)
        ):
            y = _laid(y, (cond, a, b))  # (see _laid)
        return Tensor._make(y, False, None, 0)
    cond = _data(condition)
    out = Where.apply(b, a, cond, True) if _flip else Where.apply(a, b, cond)
    out.data = _laid(out.data, (np.asarray(_data(condition)), _data(a), _data(b)))
    return out


def _where_plain(v, t: Tensor) -> bool:
    """Whether number v beside tensor t needs none of _where_number's work (the common
    where(c, x, 0.0) of a float32/float64/float16 x, or an int in an integer x's range)."""
    dt = t.data.dtype
    if dt.kind == "f" and (type(v) is float or type(v) is int):
        return dt is not _F32 or not _F32_MAX < builtins.abs(v) < math.inf
    if dt.kind in "iu" and type(v) is int:
        info = _IINFO.get(dt) or _IINFO.setdefault(dt, np.iinfo(dt))
        return info.min <= v <= info.max
    return False


_F32_MAX = float(np.finfo(np.float32).max)
_IINFO = {}


def _where_number(v, t: Tensor) -> np.ndarray:
    """A Python number beside tensor t in where, as torch converts it to the result dtype
    (0-d, so it does not widen t): checked for the integer dtypes, float32 and complex64
    (where(c, int32_x, 2**40) is torch's RuntimeError); float16 / bfloat16 round to inf."""
    dt = result_type(t, v)
    if dt.kind in "iu":
        v = _wrapped(v, dt, checked=True) if type(v) is int else v
    elif dt == _F32 or dt == np.complex64:
        _checked_scalar(v, dt)
    return np.asarray(v, dt)


_NUMBERS = (bool, int, float, complex)
_ORDERING = {np.less, np.less_equal, np.greater, np.greater_equal}


def compare(ufunc, a, b=None) -> Tensor:
    """Comparisons and logical ops: bool results, outside the graph."""
    if type(a) is Tensor and (type(b) is Tensor or type(b) is float):
        # two real float tensors of one dtype, or one and a Python float: none of the checks
        # below applies (~0.8 us of an 8x8 x < y)
        x = a.data
        y = b if type(b) is float else b.data
        if (x.dtype is _F32 or x.dtype is _F64) and (y is b or y.dtype is x.dtype):
            if y is b and x.dtype is _F32 and not -_F32_MAX <= y <= _F32_MAX:
                out = _quiet_all(ufunc, x, y)  # (NumPy warns casting 1e39 to float32's inf)
            else:
                out = ufunc(x, y)
            if type(out) is not _ND:  # (a 0-d x: a NumPy bool, read-only)
                return Tensor._make(out, False, None, 0)
            if x.base is not None or (y is not b and y.base is not None):
                out = _laid(out, (x, y))  # (see _laid)
            return _plain(out)
    if type(b) is int and not 0 <= b < 2**63:  # (out of a Scalar's range, or a uint64 one)
        if not _INT_LO <= b < _INT_HI:
            _int_overflow(b)
        _uint64_bool(a, b)
    if ufunc in _ORDERING:
        if isinstance(b, list | tuple):  # (torch: x < [1, 2] is Python's TypeError)
            raise TypeError(
                f"'{ufunc.__name__}' not supported between a Tensor and a {type(b).__name__}"
            )
        _no_kernel(ufunc.__name__, _data(a), _data(b))
    if isinstance(b, np.generic) and not isinstance(b, np.bool_):
        b = b.item()  # torch reads a NumPy scalar as a Python number: x32 == np.float64(0.1)
    if type(b) is int and _data(a).dtype.kind in "iu":
        b = _wrapped(b, _data(a).dtype)  # as torch casts it (uint8 < -1 compares with 255)
    elif (
        isinstance(a, Tensor | np.ndarray)
        and isinstance(b, Tensor | np.ndarray)
        and (a.ndim == 0) != (b.ndim == 0)
        and a.dtype != b.dtype
    ):
        # both in torch's result dtype: a 0-d tensor of the other's category takes its dtype
        # (float32 x == float64 0-d 0.1 holds where x is 0.1f; an int8 x < int16 0-d 1000
        # compares with 1000 wrapped to -24)
        a, b = _promote(a, b)
    a, b = _data(a), _data(b)
    if b is None:
        out = ufunc(a)
    else:  # (a number NumPy casts with a warning, 1e39 to float32: torch's inf, silently)
        out = _quiet_all(ufunc, a, b) if _big_number(b) else ufunc(a, b)
    if (type(a) is _ND and a.base is not None) or (type(b) is _ND and b.base is not None):
        out = _laid(out, (a,) if b is None else (a, b))  # (see _laid)
    return Tensor._make(out, False, None, 0)


# ---- dtype and copies ---------------------------------------------------------------------


# Bytes from which _C.copy / _C.cast (threads over the flat array) beat NumPy's copy loop.
_COPY_MIN = 1 << 18


def _copy(x: np.ndarray) -> np.ndarray:
    """x.copy() (C order): a large C-contiguous numeric array by the threaded _C.copy."""
    if x.nbytes >= _COPY_MIN and x.dtype.kind in "biufc":
        if x.flags.c_contiguous:
            return _C.copy(x)
        if x.ndim == 2 and x.flags.f_contiguous and x.itemsize <= 8:
            return _C.transpose_copy(x.T)  # (a transposed matrix: the tiled kernel, ~3x)
    return x.copy()


def _astype(x: np.ndarray, dtype) -> np.ndarray:
    """x.astype(dtype): float32 <-> float64 of a large C-contiguous array by _C.cast, float32
    <-> float16/bfloat16 by _lowp's kernel; a
    strided x laid out as torch's .to(dtype) (preserve_format, as clone)."""
    if type(x) is not np.ndarray or x.base is None or x.flags.c_contiguous:  # (see _laid)
        if (
            x.nbytes >= _COPY_MIN
            and x.dtype in _KERNEL_DTYPES
            and dtype in _KERNEL_DTYPES
            and x.flags.c_contiguous
        ):
            return _C.cast(x, dtype)
        if x.dtype == np.float32 and (dtype == _lowp.float16 or dtype == _lowp.bfloat16):
            if x.flags.c_contiguous:  # the kernel at any size: ~2 us less than NumPy's at 32x32
                out = np.empty(x.shape, dtype)
                _C.cast16(x, out.view(_U16), dtype == _lowp.bfloat16)
                return out
            return _lowp.narrow(x, dtype)
        if dtype == np.float32 and (x.dtype == _lowp.float16 or x.dtype == _lowp.bfloat16):
            return _lowp.widen(x)
        if x.dtype == _lowp.bfloat16 and np.dtype(dtype).kind in "iu":
            # through float32, as torch's (ml_dtypes' own casts saturate: -2.7 -> uint8 0)
            return _np_cast(_lowp.widen(x), dtype)
        return _np_cast(x, dtype)
    out = _strides.empty(x.shape, _strides.preserved(x), dtype)
    try:
        np.copyto(out, x, casting="unsafe")
    except RuntimeWarning:  # (see _np_cast)
        if not _cast_warns(x.dtype, out.dtype):
            raise
        _quiet_all(np.copyto, out, x, "unsafe")
    return out


def _cast_warns(src: np.dtype, dst: np.dtype) -> bool:
    """NumPy warns casting src to dst (NaN / inf to an integer, a float beyond a narrower
    float's range) where torch casts silently."""
    return src.kind in "fc" and (dst.kind in "iu" or dst.itemsize < src.itemsize)


def _np_cast(x: np.ndarray, dtype) -> np.ndarray:
    """x.astype(dtype) with torch's silence: NumPy's cast warnings ignored (ember's module
    filter does that too, but a user's ``-W error`` comes first and would raise them)."""
    try:
        return x.astype(dtype)
    except RuntimeWarning:  # (a user's error filter: checked only then, no cost otherwise)
        if not _cast_warns(x.dtype, np.dtype(dtype)):
            raise
        return _quiet_all(x.astype, dtype)


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.src = x.dtype
        if _lowp.is_float(x.dtype) and _lowp.is_float(dtype):
            ctx._broadcast_grad = True  # a full sum's gradient may arrive unfilled: see backward
        y = _astype(x, dtype)
        if x.base is not None and x.flags.c_contiguous:  # (as clone: see keep_size1)
            y = _strides.keep_size1(y, x)
        return y

    @staticmethod
    def backward(ctx, g):
        if "_broadcast_grad" in vars(ctx) and (one := _one_value(g)) is not None:
            # one value broadcast: the value cast once and filled in (one pass, in the source
            # dtype) where the filled gradient was filled, then cast (the same bits)
            return _value_filled(g.shape, _astype(one, ctx.src)), None
        if ctx.src.kind == "f" and g.dtype.kind == "c":  # real -> complex: the real part
            g = g.real
        return _astype(g, ctx.src) if _lowp.is_float(ctx.src) or ctx.src.kind == "c" else None, None

    @staticmethod
    def backward_graph(ctx, g):
        if ctx.src.kind == "f" and g.dtype.kind == "c":
            g = real(g)
        return cast(g, ctx.src) if _lowp.is_float(ctx.src) or ctx.src.kind == "c" else None, None


Cast._complex_native = True


def cast(x, dtype) -> Tensor:
    if x.data.dtype == dtype:
        return x
    if x.data.dtype.kind == "c" and dtype.kind in "fiu":
        x = _complex.to_real(x, dtype)  # the real part (torch warns), copied below (a view
        # of it would write into x's memory; torch's is a fresh ToCopy)
    if type(x) is Tensor and not x._requires_grad:  # outside autograd: the cast, no node
        y = _astype(x.data, dtype)
        if x.data.base is not None and x.data.flags.c_contiguous:  # (as clone: see keep_size1)
            y = _strides.keep_size1(y, x.data)
        return Tensor._make(y, False, None, 0)
    out = Cast.apply(x, dtype)
    if dtype.kind not in "fc" and dtype != _lowp.bfloat16 and out.requires_grad:
        out = out.detach()
    return out


def _clone_array(x: np.ndarray) -> np.ndarray:
    """x's copy laid out as torch's clone (preserve_format): x's own strides when x is dense,
    else dense in x's dim order (_strides.preserved); C order for a C-contiguous x."""
    if type(x) is not np.ndarray or x.base is None:  # (see _laid)
        return _copy(x)
    if x.flags.c_contiguous:
        return _strides.keep_size1(_copy(x), x)
    out = _strides.empty(x.shape, _strides.preserved(x), x.dtype)
    np.copyto(out, x)
    return out


class Clone(Function):
    @staticmethod
    def forward(ctx, x, c_order=False):
        if c_order:
            # x.t().contiguous(): a full sum's gradient passes unfilled (_reads_broadcast) to
            # x's view, whose leaf copies one value (~20 us a MB) where a filled gradient was
            # transposed back (~125 us a MB)
            ctx._broadcast_grad = True
            return _copy(x)
        return _clone_array(x)

    @staticmethod
    def backward(ctx, g):
        return g, None

    @staticmethod
    def backward_graph(ctx, g):
        return g, None


def clone(x, *, memory_format=None) -> Tensor:
    if memory_format is not None:  # (Tensor.clone's, which lays the copy out)
        return _tensor_operand(x).clone(memory_format)
    if type(x) is Tensor and not x._requires_grad:  # outside autograd: the copy, no node
        d = x.data  # (an array owning its memory: _copy straight, see _clone_array)
        return Tensor._make(_copy(d) if d.base is None else _clone_array(d), False, None, 0)
    return Clone.apply(_tensor_operand(x))


def contiguous_copy(x: Tensor) -> Tensor:
    """x's copy in C order (Tensor.contiguous() of a strided x), in the graph as clone."""
    if not x._requires_grad:
        return Tensor._make(_copy(x.data), False, None, 0)
    return Clone.apply(x, True)


# ---- reductions ---------------------------------------------------------------------------


def _index_dim(d, op: str, what: str = "dim") -> int:
    """One dim (or the int ``what`` names) as an int: Python and NumPy integers, as torch; a
    bool is refused (torch's TypeError: True is not read as dim 1), as are floats and other
    non-integers."""
    if isinstance(d, bool | np.bool_):
        raise TypeError(f"{op}: {what} must be an int, not bool ({d!r})")
    if isinstance(d, Tensor) and (d.ndim or d.dtype == np.bool_):
        # (torch's int takes a 0-d integer tensor: not [1], not a bool one)
        raise TypeError(f"{op}(): argument '{what}' must be int, not Tensor")
    try:
        d = operator.index(d)
    except TypeError:
        raise TypeError(f"{op}: {what} must be an int, got {type(d).__name__} ({d!r})") from None
    return _int64(d)


def _tname(v) -> str:
    """A value's type as torch's argument errors name it (numpy.int64, Tensor, NoneType)."""
    t = type(v)
    return (
        t.__name__
        if t.__module__ in ("builtins", "ember.tensor")
        else f"{t.__module__}.{t.__name__}"
    )


def _int64(n: int) -> int:
    """n, refused as torch's ValueError when it does not fit an int64 (2**63 is not read as
    an out-of-range dim, nor a shift, size or count that computes)."""
    if not -_LONG <= n < _LONG:
        raise ValueError(f"Overflow when unpacking long long: {n}")
    return n


_LONG = 1 << 63


def _list_dim(d: Tensor, op: str) -> int:
    """A tensor as one dim of torch's int lists (sum, flip, permute, ...): any one-element
    integer tensor, 0-d or not, and a one-element bool tensor too (its __index__, torch's)."""
    a = d.data
    if a.size == 1 and a.dtype.kind in "iub":
        return int(a.reshape(()))
    return _index_dim(d, op)


def _refuse_keepdim(op: str, keepdim):
    """torch's TypeError for a keepdim that is not a bool (1, np.int64, np.bool_ too)."""
    raise TypeError(f"{op}(): argument 'keepdim' must be bool, not {type(keepdim).__name__}")


def _axis(dim, ndim: int, op: str) -> int:
    """One dim as a NumPy axis: an int, as torch (None or a list is refused, not read as all
    dims or its first)."""
    (axis,) = _axes(dim if type(dim) is int else _index_dim(dim, op), ndim, op)
    return axis


def _axes(dim, ndim: int, op: str):
    """PyTorch's dim argument (None, int or sequence) as a tuple of NumPy axes."""
    if dim is None or (isinstance(dim, list | tuple) and not dim):
        return tuple(range(ndim))  # PyTorch: dim=[] reduces everything
    if type(dim) is int and -ndim <= dim < ndim:  # the common case needs none of the checks
        return (dim % ndim,)
    # (a bool or float is one bad dim, refused by _index_dim, not an iterable; a tensor is one
    # dim, as torch's dim lists take a one-element integer tensor, 0-d or not, not a list)
    dims = (dim,) if isinstance(dim, int | np.integer | np.bool_ | float | Tensor) else tuple(dim)
    out = []
    for d in dims:
        d = _index_dim(d, op) if type(d) is not Tensor else _list_dim(d, op)
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % builtins.max(ndim, 1) if ndim else 0)
    if len(set(out)) != len(out):  # (torch's RuntimeError: "dim 0 appears multiple times")
        raise BadShapeOrValue(f"{op}: dim {dim} names a dimension twice")
    return tuple(out) if ndim else ()


def _reads_broadcast(ctx) -> bool:
    """Whether the node that made ctx's input reads a broadcast gradient as it is (its class
    sets _broadcast_grad, as Activation: one value, read once) and no hook of that tensor sees
    the gradient first."""
    p = ctx.parents[0]
    node = None if p is None else p._ctx
    return getattr(node, "_broadcast_grad", False) and node._tensor_hooks is None


def _one_value(g: np.ndarray):
    """The one value of a gradient broadcast from it (a full sum's, arriving unfilled: see
    _reads_broadcast) as a 1-element array, else None."""
    return g.reshape(-1)[:1] if g.size > 1 and not builtins.any(g.strides) else None


def _value_filled(shape, one: np.ndarray) -> np.ndarray:
    """An array of shape filled with one's one value, in its dtype (~10 us for 1 MiB by
    _C.fill's full-width stores, ~18 us by NumPy's fill)."""
    out = np.empty(shape, one.dtype)
    if out.size >= 4096 and one.dtype.char in "fd":
        _C.fill(out, one.reshape(()).item())
    else:
        out.fill(one.reshape(()))
    return out


def _expand_grad(g, shape, axes, keepdim, view: bool = False):
    if g.shape == shape:  # nothing reduced (a scalar loss's .sum()): g as it is, no view
        return g
    if g.size == 1 and len(shape) > 0:
        if view:  # the consumer reads the one value itself (see _reads_broadcast): no fill
            return np.broadcast_to(g.reshape(()), shape)
        # a full reduction's gradient: filled in, not a stride-0 view that NumPy reads several
        # times slower in every later op and copies into a leaf's .grad
        return _value_filled(shape, g)
    k = len(shape) - len(axes)
    if g.size >= 16 and g.dtype.char in "fd" and axes == tuple(range(k, len(shape))):
        # trailing dims reduced (x.sum(-1)): each row filled with its value, for the same
        # reason (~10 us for 1 MiB, ~20 us for NumPy's copy of a broadcast view)
        n = math.prod(shape[k:])
        if n >= 16 and g.size * n >= 4096:
            out = np.empty(shape, g.dtype)
            _C.fill_rows(out.reshape(-1, n), np.ascontiguousarray(g).reshape(-1))
            return out
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def _c_result(y):
    """A reduction's result in C order, as torch's (NumPy's keeps a permuted input's layout,
    so x.permute(...).sum(1).view(-1) failed). Results of fewer than 2 dims always are."""
    if y.ndim < 2:
        return y
    if not y.flags.c_contiguous:
        return y.copy()
    return _strides.c_order(y) if 1 in y.shape else y  # (torch's strides for size-1 dims)


def _dim_runs(axes: tuple) -> list:
    """The reduced dims as ascending runs of adjacent dims [lo, hi): (0, 2, 3) -> [0, 1], [2, 4]."""
    runs = []
    for d in sorted(axes):
        if runs and runs[-1][1] == d:
            runs[-1][1] = d + 1
        else:
            runs.append([d, d + 1])
    return runs


def _reduce_sum(a: np.ndarray, axes: tuple, keepdim: bool) -> np.ndarray:
    """reduce_sum, and for dims in several runs of a C-contiguous float array (x.sum((0, 2)))
    the sum_dim kernel once per run, the last run first (~4x NumPy's strided sum; NumPy's and
    torch's orders differ from it in the last bits, as they do from one another)."""
    if len(axes) > 1 and a.size >= 1024 and a.dtype.char in "fd" and a.flags.c_contiguous:
        runs = _dim_runs(axes)
        if len(runs) > 1:
            y = a
            for lo, hi in reversed(runs):
                y = _C.sum_dim(y, lo, hi, True, False)
            return y if keepdim else y.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return reduce_sum(a, axes, keepdim)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        if x.dtype.char in "fd":
            # overhead36: the common float sums, _reduce_sum's own calls for them straight
            # (~0.6 us of its frames and tests): a small full sum (a 0-d result needs no
            # _c_result), and dims in one ascending run of a large C-contiguous x (sum_dim)
            if not keepdim and len(axes) == x.ndim and x.size < 1024:
                return np.add.reduce(x, axis=axes)
            if x.size >= 1024 and axes and x.flags.c_contiguous:
                lo, hi = axes[0], axes[0] + len(axes)
                if axes == tuple(range(lo, hi)):
                    return _c_result(_C.sum_dim(x, lo, hi, keepdim, False))
        return _c_result(_reduce_sum(x, axes, keepdim))

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _expand_grad(g, shape, axes, keepdim, _reads_broadcast(ctx)), None, None

    @staticmethod
    def backward_graph(ctx, g):
        _, axes, keepdim = ctx.meta
        return _graph.linear(ctx, g, lambda v: reduce_sum(v, axes, keepdim)), None, None


_U16 = np.dtype(np.uint16)


def _sum16(a: np.ndarray, axes: tuple, keepdim: bool) -> np.ndarray:
    """The float32 sums of a float16 / bfloat16 array: _reduce_sum of its float32 copy, bit for
    bit. Where that runs the sum_dim kernel on the copy (1024 elements and more, C order, the
    dims in ascending runs), _C.sum_dim16 reads the 16-bit values instead, widening a block at
    a time: no float32 copy (a fresh array twice a's size: most of the time of a large sum)."""
    if a.size >= 1024 and a.flags.c_contiguous and axes:
        lo, hi = axes[0], axes[-1] + 1
        if hi - lo == len(axes) and (hi - lo == 1 or axes == tuple(range(lo, hi))):  # one run
            return _C.sum_dim16(a.view(_U16), lo, hi, keepdim, False, a.dtype == _lowp.bfloat16)
        runs = _dim_runs(axes)
        if len(runs) > 1 or list(axes) == sorted(axes):  # (_reduce_sum's kernel calls)
            lo, hi = runs[-1]  # the last run first, as _reduce_sum
            bf16 = a.dtype == _lowp.bfloat16
            y = _C.sum_dim16(a.view(_U16), lo, hi, keepdim or len(runs) > 1, False, bf16)
            if len(runs) == 1:
                return y
            for lo, hi in reversed(runs[:-1]):
                y = _C.sum_dim(y, lo, hi, True, False)
            return y if keepdim else y.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return np.asarray(_c_result(_reduce_sum(_astype(a, _F32), axes, keepdim)))


class SumLowp(Sum):
    """sum of a float16 / bfloat16 x: in float32, rounded once, as torch's; the gradient
    expanded in x's dtype, as torch's (Sum's backward; one node where cast, Sum and cast took
    three, and the gradient was expanded in float32 and narrowed: the same values)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        if ctx is not None:
            ctx.meta = (x.shape, axes, keepdim)
        y = _sum16(x, axes, keepdim)
        return y.astype(x.dtype) if y.ndim == 0 else _astype(y, x.dtype)  # (_astype's, for 0-d)

    @staticmethod
    def backward_graph(ctx, g):
        _, axes, keepdim = ctx.meta
        return _graph.linear(ctx, g, lambda v: SumLowp.forward(None, v, axes, keepdim)), None, None


def _as_dtype(x, dtype) -> Tensor:
    """The reductions' ``dtype=``: the input is cast to it first, as PyTorch does."""
    x = _tensor_operand(x)
    if dtype is None:
        return x
    dt = np.dtype(dtype)
    if dt.kind in "biu" and not _outside_graph(x):  # no gradient could reach x: torch refuses
        name = {
            "?": "Bool",
            "b": "Char",
            "B": "Byte",
            "h": "Short",
            "i": "Int",
            "l": "Long",
            "q": "Long",
        }
        raise RuntimeError(f"Autograd not support dtype: {name.get(dt.char, dt.name)}")
    return cast(x, dt)


def _int_total(out: Tensor, dtype) -> Tensor:
    """Sums and products of integers are int64 in torch (NumPy's are uint64 for unsigned
    input), or ``dtype`` when given (NumPy's int64 accumulation wraps to the same values)."""
    if out.dtype.kind not in "biu":
        return out
    want = np.dtype(np.int64 if dtype is None else dtype)
    return out if out.dtype == want else cast(out, want)


def _runs_sum(a: np.ndarray, axes: tuple, keepdim: bool, nan: bool = False) -> np.ndarray:
    """The sum over axes (not empty) of a C-contiguous float32/float64/int64 a by _C.sum_dim
    (_C.nansum_dim when nan, _C.isum_dim for int64) once per run of dims, the last run first
    (as _reduce_sum)."""
    runs = _dim_runs(axes)
    lo, hi = runs[-1]
    run_sum = _C.isum_dim if a.dtype == np.int64 else _C.sum_dim
    y = (_C.nansum_dim if nan else run_sum)(a, lo, hi, keepdim or len(runs) > 1)
    for lo, hi in reversed(runs[:-1]):  # (no NaNs left)
        y = run_sum(y, lo, hi, True)
    if len(runs) > 1 and not keepdim:
        y = y.reshape([n for i, n in enumerate(a.shape) if i not in axes])
    return y


def sum(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:  # noqa: A001
    if keepdim.__class__ is not bool:
        _refuse_keepdim("sum", keepdim)
    if dtype is None and type(x) is Tensor and x.data.size:
        a = x.data
        if a.dtype.kind in "bi" or (a.dtype.kind == "u" and a.dtype.itemsize < 8):
            # integers and bools: torch's int64 total by the C++ sum (NumPy's integer sums over
            # a short last dim ran ~9x torch's time)
            axes = _axes(dim, a.ndim, "sum")
            a = a if a.dtype == np.int64 else a.astype(np.int64)  # (x's layout kept)
            if not axes:  # (a 0-d x)
                return Tensor._make(a.copy(), False, None, 0)
            if a.ndim > 1 and not a.flags.c_contiguous and a.flags.f_contiguous:  # x.t(): a.T's
                ft = tuple(sorted(a.ndim - 1 - d for d in axes))
                return Tensor._make(_c_result(_runs_sum(a.T, ft, keepdim).T), False, None, 0)
            return Tensor._make(_runs_sum(np.ascontiguousarray(a), axes, keepdim), False, None, 0)
    if dtype is None and type(x) is Tensor and x._requires_grad and _state.enabled:
        # x.sum() and x.sum(d) in autograd (Tensor.sum's one path): the node straight
        nd = x.data.ndim
        if x.data.dtype.char in "fd":
            if dim is None and not keepdim:
                return Sum.apply(x, tuple(range(nd)), False)
            if type(dim) is int and -nd <= dim < nd:
                out = Sum.apply(x, (dim % nd,), keepdim)
                out._ctx._named = "SumBackward1"  # (torch's sum(dim) node; named's body)
                return out
    if dim is None and dtype is None and type(x) is Tensor and not keepdim:  # x.sum()
        a = x.data
        if a.size >= 1024 and a.dtype.char in "fd" and a.flags.c_contiguous and _outside_graph(x):
            # reduce_sum's kernel call for every dim, straight (~1 us of a small sum)
            return Tensor._make(_C.sum_dim(a, 0, a.ndim, False, False), False, None, 0)
        if a.size < 1024 and a.dtype.char in "fd" and _outside_graph(x):
            # reduce_sum's NumPy call for a small one, straight (~1 us of 2.5 at 8x8)
            return Tensor._make(np.add.reduce(a, axis=tuple(range(a.ndim))), False, None, 0)
    if dtype is None and type(x) is Tensor and x.data.dtype.char in "fdeE":  # the common case
        axes = _axes(dim, x.data.ndim, "sum")
        lowp = x.data.dtype.char in "eE"  # float16 / bfloat16: summed in float32, as torch's
        if _outside_graph(x):  # Sum.forward's result
            if lowp:
                return Tensor._make(SumLowp.forward(None, x.data, axes, keepdim), False, None, 0)
            return Tensor._make(_c_result(_reduce_sum(x.data, axes, keepdim)), False, None, 0)
        out = (SumLowp if lowp else Sum).apply(x, axes, keepdim)
        if dim is not None and out._ctx is not None:  # (torch's sum(dim) node; named's body)
            out._ctx._named = "SumBackward1"
        return out
    x = _as_dtype(x, dtype)
    axes = _axes(dim, x.ndim, "sum")
    if x.data.dtype.char in "eE":  # float16 / bfloat16: summed in float32, as torch's
        if _outside_graph(x):
            return Tensor._make(SumLowp.forward(None, x.data, axes, keepdim), False, None, 0)
        out = SumLowp.apply(x, axes, keepdim)
        return out if dim is None else named(out, "SumBackward1")
    if x.data.dtype == np.bool_:
        x = x.long()
    out = Sum.apply(x, axes, keepdim)
    return _int_total(out if dim is None else named(out, "SumBackward1"), dtype)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        count = 1
        for a in axes:
            count *= x.shape[a]
        ctx.count = count
        if count and x.dtype.char in "fd":  # NumPy's mean: the sum, then one division
            # by the count in x's dtype: a full reduction's NumPy scalar divides by a scalar
            # ~10x faster than np.true_divide(..., dtype=) does (same rounding)
            return _c_result(_reduce_sum(x, axes, keepdim)) / x.dtype.type(count)
        if count and x.dtype.char in "eE":  # float16 / bfloat16: in float32, rounded once
            return (reduce_sum(x.astype(np.float32), axes, keepdim) / count).astype(x.dtype)
        if not count:  # nothing to average: NaN, without NumPy's "Mean of empty slice" warning
            return np.full(np.sum(x, axis=axes, keepdims=keepdim).shape, np.nan, x.dtype)
        return _c_result(np.mean(x, axis=axes, keepdims=keepdim))

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        if not ctx.count:  # an empty input: an empty gradient (no 0 / 0)
            return np.zeros(shape, g.dtype), None, None
        return _expand_grad(g / ctx.count, shape, axes, keepdim, _reads_broadcast(ctx)), None, None

    @staticmethod
    def backward_graph(ctx, g):
        _, axes, keepdim = ctx.meta
        count = ctx.count
        return (
            _graph.linear(ctx, g, lambda v: reduce_sum(v, axes, keepdim) / v.dtype.type(count)),
            None,
            None,
        )


def mean(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    if keepdim.__class__ is not bool:
        _refuse_keepdim("mean", keepdim)
    if dtype is None and type(x) is Tensor and x.data.dtype.char in "fd":  # the common case
        a = x.data
        axes = _axes(dim, a.ndim, "mean")
        if _outside_graph(x) and a.size:  # divided as Mean.forward divides
            y = _c_result(_reduce_sum(a, axes, keepdim))
            return Tensor._make(y / a.dtype.type(a.size // builtins.max(y.size, 1)), False, None, 0)
        out = Mean.apply(x, axes, keepdim)
        if dim is not None and out._ctx is not None:  # (torch's mean(dim) node; named's body)
            out._ctx._named = "MeanBackward1"
        return out
    x = _as_dtype(x, dtype)
    if x.data.dtype.kind not in "fc" and x.data.dtype != _lowp.bfloat16:
        raise BadDtype(f"mean: input dtype should be floating point, got {x.dtype}")
    out = Mean.apply(x, _axes(dim, x.ndim, "mean"), keepdim)
    return out if dim is None else named(out, "MeanBackward1")


def _f_run(x: np.ndarray, axes: tuple):
    """(x.T, lo, hi) when x is F-contiguous (a transposed C array, not C-contiguous too) and the
    axes are consecutive dims of x.T (dim_run's): the C++ reductions read x.T in place, their
    result transposed back (a reduction of x.t() copied x first, ~10x torch's time)."""
    if x.ndim < 2 or x.flags.c_contiguous or not x.flags.f_contiguous:
        return None
    xt = x.T
    run = dim_run(xt, tuple(sorted(x.ndim - 1 - a for a in axes)))
    return None if run is None else (xt, run[0], run[1])


class Var(Function):
    """var over axes, or std (root=True). Narrower floats are summed in float64 and the result
    rounded once, as PyTorch's (so a float32 std of 1e38-sized values is finite there too)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, correction, root=False):
        count = 1
        for a in axes:
            count *= x.shape[a]
        denom = builtins.max(0, count - correction)  # PyTorch: max(0, N - c) (0 for a NaN c)
        run = dim_run(x, axes) if x.size else None
        frun = _f_run(x, axes) if x.size and run is None else None
        if run is not None:  # float32/float64 over consecutive dims: the same two passes in C++
            y = _C.var_dim(x, run[0], run[1], keepdim, denom, root)
        elif frun is not None:  # (x.t(): the same over x.T's dims)
            y = _c_result(_C.var_dim(frun[0], frun[1], frun[2], keepdim, denom, root).T)
        else:
            wide = x.astype(np.promote_types(x.dtype, np.float64), copy=False)
            with np.errstate(divide="ignore", invalid="ignore"):  # an empty dim: nan, no warning
                xc = wide - np.sum(wide, axis=axes, keepdims=True) / count
                v = np.sum(xc * xc, axis=axes, keepdims=keepdim) / denom
            y = _c_result(np.asarray(np.sqrt(v) if root else v).astype(x.dtype, copy=False))
        ctx.save_for_backward(x, y if root else _shape_only(y))  # (std reads y, var does not)
        ctx.meta = (axes, keepdim, count, np.asarray(denom, x.dtype), root)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        axes, keepdim, count, denom, root = ctx.meta
        with np.errstate(divide="ignore", invalid="ignore"):  # in x's dtype, as PyTorch
            xc = x - np.sum(x, axis=axes, keepdims=True) / np.asarray(count, x.dtype)
        if root:  # d sqrt(v) = dv / (2 sqrt(v)); a zero spread gets a zero gradient, as PyTorch
            g = np.where(y == 0, 0, g / (2 * y)).astype(y.dtype, copy=False)
        if not keepdim and axes:
            g = np.expand_dims(g, axes)
        return g * (2 / denom) * xc, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, y0 = ctx.saved_tensors
        axes, keepdim, count, denom, root = ctx.meta
        (x,) = _graph.inputs(ctx, x0)
        keep = tuple(1 if i in axes else n for i, n in enumerate(x0.shape))
        g = g.reshape(keep)
        if root:  # as backward: a zero spread gets a zero gradient
            y = _graph.output(ctx, y0).reshape(keep)
            g = where(_graph.constant((y0 == 0).reshape(keep)), 0.0, g / (2 * y))
        return g * (2 / denom) * (x - mean(x, axes, True)), None, None, None, None


def var(x, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None) -> Tensor:
    """Variance over dim with correction (default 1; unbiased=False means 0), in PyTorch's
    argument order: var(x, dim, unbiased, keepdim) and var(x, unbiased)."""
    return _var("var", x, dim, unbiased, keepdim, correction)


def _var(op, x, dim, unbiased, keepdim, correction):
    if keepdim.__class__ is not bool:
        _refuse_keepdim(op, keepdim)
    if isinstance(dim, bool):  # the var(x, unbiased) overload
        dim, unbiased = None, dim
    x = _tensor_operand(x)
    if correction is None:
        correction = 1 if unbiased else 0
    if x.data.dtype.kind == "c":  # |z - mean|^2 summed is the parts' squared deviations summed
        axes = _axes(dim, x.ndim, op)
        v = Var.apply(real(x), axes, keepdim, correction, False)
        v = v + Var.apply(imag(x), axes, keepdim, correction, False)
        return sqrt(v) if op == "std" else v
    if not _lowp.is_float(x.data.dtype):
        raise BadDtype(f"{op}: input dtype should be floating point, got {x.dtype}")
    axes = _axes(dim, x.ndim, op)
    if _outside_graph(x):
        y = Var.forward(Var.__new__(Var), x.data, axes, keepdim, correction, op == "std")
        return Tensor._make(y, False, None, 0)
    return Var.apply(x, axes, keepdim, correction, op == "std")


MaxMin = namedtuple("MaxMin", ["values", "indices"])


class ReduceExtreme(Function):
    """max/min (or a given value of x, as the median) over everything: the gradient is shared
    evenly among the entries equal to it, as PyTorch's."""

    @staticmethod
    def forward(ctx, x, use_max, value=None):
        y = value if value is not None else _extreme_all(x, use_max)
        ctx.save_for_backward(x, y)
        ctx.kind = (
            "MedianBackward0" if value is not None else ("MinBackward1", "MaxBackward1")[use_max]
        )
        return np.asarray(y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        mask = (x == y) | (np.isnan(x) & np.isnan(y))  # a NaN result: the NaNs share the grad
        return g * mask / np.count_nonzero(mask), None, None

    @staticmethod
    def backward_graph(ctx, g):
        # the entries equal to the extreme share g: weights constant in x
        weights = ReduceExtreme.backward(ctx, np.ones_like(g.data))[0]
        return g * _graph.constant(weights.astype(g.dtype, copy=False)), None, None


_EXTREME_DTYPES = (_F32, _F64, _I32, _I64)  # _C.extreme_dim's


def _extreme_all(x: np.ndarray, use_max: bool):
    """max (min) of every element of a nonempty x, NaN if any (torch's): _C.extreme_dim's SIMD
    pass over a contiguous float32/float64/int32/int64 x (~1.6x NumPy's np.max), else NumPy."""
    if x.ndim and x.dtype in _EXTREME_DTYPES and x.flags.c_contiguous:
        return _C.extreme_dim(x, 0, x.ndim, False, use_max)
    return np.max(x) if use_max else np.min(x)


def _extreme_along(x: np.ndarray, dim: int, use_max: bool, indices: bool, keepdim: bool = True):
    """The max (min) along dim, and with indices its first int64 index (NaN wins, as PyTorch):
    by _C.extreme_dim for float32/float64/int32/int64 (NumPy's argmax and take_along_axis cost
    ~3x more, and its max does not vectorise along the last dim), else by NumPy."""
    if x.dtype in _EXTREME_DTYPES and x.flags.c_contiguous:
        return _C.extreme_dim(x, dim, dim + 1, keepdim, use_max, indices)
    if not indices:
        return (np.max if use_max else np.min)(x, axis=dim, keepdims=keepdim)
    idx = (np.argmax if use_max else np.argmin)(x, axis=dim, keepdims=True)
    vals, idx = np.take_along_axis(x, idx, axis=dim), idx.astype(np.int64, copy=False)
    return (vals, idx) if keepdim else (vals.squeeze(dim), idx.squeeze(dim))


class ExtremeDim(Function):
    """max/min along one dim: values and indices; the gradient goes to the chosen index."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, use_max):
        vals, idx = _extreme_along(x, dim, use_max, True)
        ctx.save_for_backward(idx)
        ctx.meta = (x.shape, dim, keepdim)
        ctx.use_max = use_max  # (torch's node name)
        ctx.mark_non_differentiable(1)
        if not keepdim:
            vals, idx = vals.squeeze(dim), idx.squeeze(dim)
        return vals, idx

    @staticmethod
    def backward(ctx, g, _gidx):
        (idx,) = ctx.saved_tensors
        shape, dim, keepdim = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, dim)
        out = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(out, idx, g, axis=dim)
        return out, None, None, None

    @staticmethod
    def backward_graph(ctx, g, _gidx=None):
        shape, dim, keepdim = ctx.meta
        one_hot = ExtremeDim.backward(ctx, np.ones_like(g.data), None)[0]  # the chosen entries
        g = g if keepdim else unsqueeze(g, dim)
        return g * _graph.constant(one_hot.astype(g.dtype, copy=False)), None, None, None


def _extreme(x, dim, keepdim, use_max, name):
    if dim is None and type(x) is Tensor and (a := x.data).size and a.dtype.char in "fd":
        if _outside_graph(x):  # x.max(): the kernel straight, without the checks or the node
            return Tensor._make(np.asarray(_extreme_all(a, use_max)), False, None, 0)
    if isinstance(dim, Tensor | np.ndarray):  # torch.max(a, b): elementwise
        return maximum(x, dim) if use_max else minimum(x, dim)
    if keepdim.__class__ is not bool:
        _refuse_keepdim(name, keepdim)
    x = _tensor_operand(x)
    _complex.refuse(name, x)
    if dim is None:
        if x.data.size == 0:
            raise BadShapeOrValue(f"{name}: the input is empty (shape {x.shape}); give a dim")
        return ReduceExtreme.apply(x, use_max)
    if x.ndim == 0:  # dim 0 or -1 of a scalar, as PyTorch allows
        _axes(dim, 0, name)
        return MaxMin(x, Tensor(np.zeros((), np.int64)))
    axis = _axis(dim, x.ndim, name)
    if x.shape[axis] == 0:
        raise IndexError(f"{name}: dim {dim} of shape {x.shape} is empty: nothing to reduce")
    if _outside_graph(x):
        vals, idx = _extreme_along(x.data, axis, use_max, True, keepdim)
        return MaxMin(Tensor._make(vals, False, None, 0), Tensor._make(idx, False, None, 0))
    return MaxMin(*ExtremeDim.apply(x, axis, keepdim, use_max))


def _dim_or_other(given, keepdim, dim, other, op: str):
    """torch.max/min's overloads: (input, other) elementwise, (input, dim, keepdim=False). A
    Tensor second is ``other`` unless a keepdim True follows it; a Tensor as ``dim=`` (or with
    that keepdim) is a dim, read as an int: a 0-d integer tensor only, as torch's parser."""
    if given is not _NO_DIM:
        if dim is not _NO_DIM:
            raise TypeError(f"{op}() got multiple values for argument 'dim'")
        if isinstance(given, Tensor | np.ndarray) and keepdim is not True:
            return given if other is None else _refuse_other_twice(op)
        dim = given
    dim = _given_dim(dim, None, op)
    if isinstance(dim, Tensor | np.ndarray):
        if dim.ndim or _kind(dim) not in "iu":
            raise TypeError(f"{op}(): argument 'dim' must be int, not Tensor of {dim.dtype}")
        dim = int(_data(dim))
    return dim if other is None else other


def _refuse_other_twice(op: str):
    raise TypeError(f"{op}() got multiple values for argument 'other'")


def max(x, _dim=_NO_DIM, keepdim: bool = False, *, dim=_NO_DIM, other=None):  # noqa: A001
    """The largest element, or (values, indices) along ``dim``, or elementwise with a tensor
    (``other``, or second as torch.max(a, b)). (``_dim``: dim or other given second, so that
    dim= is known as torch's keyword.)"""
    return _extreme(x, _dim_or_other(_dim, keepdim, dim, other, "max"), keepdim, True, "max")


def min(x, _dim=_NO_DIM, keepdim: bool = False, *, dim=_NO_DIM, other=None):  # noqa: A001
    return _extreme(x, _dim_or_other(_dim, keepdim, dim, other, "min"), keepdim, False, "min")


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b, use_max):
        ctx.save_for_backward(a, b)
        ctx.use_max = use_max
        if not use_max:
            ctx._named = "MinimumBackward0"
        return _bcast(np.maximum if use_max else np.minimum, a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        # torch's rule: the loser gets 0, a tie 1/2 each, and both get g where a NaN makes
        # the comparisons false
        lose_a = (a < b) if ctx.use_max else (a > b)
        lose_b = (a > b) if ctx.use_max else (a < b)
        tie = a == b
        # Weights in g's dtype: bool * 0.5 alone is float64 and would promote float32 grads.
        wa = np.where(tie, 0.5, ~lose_a).astype(g.dtype, copy=False)
        wb = np.where(tie, 0.5, ~lose_b).astype(g.dtype, copy=False)
        ga, gb = g * wa, g * wb
        return unbroadcast(ga, _shape(a)), unbroadcast(gb, _shape(b)), None

    @staticmethod
    def backward_graph(ctx, g):
        a, b = _graph.inputs(ctx, *ctx.saved_tensors)
        wins, loses = (gt, lt) if ctx.use_max else (lt, gt)

        def pick(a, b):  # the forward in Tensor ops: as backward, a tie gives half to each
            return where(wins(a, b), a, where(loses(a, b), b, (a + b) / 2))

        return _graph.recompute(ctx, (g,), pick, a, b) + (None,)


def _bool_args(op: str, **flags) -> None:
    """torch's bool parameters take a bool only (upper=1 or None is its TypeError)."""
    for name, v in flags.items():
        if type(v) is not bool and type(v) is not np.bool_:
            raise TypeError(f"{op}(): argument '{name}' must be bool, not {type(v).__name__}")


def _tensors_only(op: str, *args, names=("input", "other")) -> None:
    """torch's maximum / minimum / fmax / fmin / atan2 / ... take tensors, never a Python
    number or a sequence."""
    for name, v in zip(names, args, strict=True):
        if isinstance(v, int | float | complex | np.generic | list | tuple):
            raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(v).__name__}")


def _extremum(a, b, use_max: bool) -> Tensor:
    if type(a) is Tensor and type(b) is Tensor:
        da, db = a.data, b.data
        if (
            da.dtype is db.dtype
            and da.dtype.kind == "f"
            and da.shape == db.shape
            and da.size < _SAME_SHAPE_MIN
            and _plain_pair(a, b) is not None
        ):  # the common call: _bcast's first case straight (the tests below ~1 us)
            y = (np.maximum if use_max else np.minimum)(da, db)
            if da.base is not None or db.base is not None:
                y = _laid(y, (da, db))  # (see _laid)
            return Tensor._make(y, False, None, 0)
    op = "maximum" if use_max else "minimum"
    if type(a) is Tensor and type(b) is Tensor and a.data.dtype == b.data.dtype:
        if a.data.dtype.kind == "c":
            _no_kernel(op, a, b)
    else:
        _tensors_only(op, a, b)
        _no_kernel(op, a, b)
        a, b = _promote(_as_operand(a, "input"), _as_operand(b))
    try:
        if (arrays := _plain_pair(a, b)) is not None:  # the ufunc without the node
            y = _bcast(np.maximum if use_max else np.minimum, *arrays)
            return Tensor._make(_laid(y, arrays), False, None, 0)
        out = Maximum.apply(a, b, use_max)
        out.data = _laid(out.data, (_data(a), _data(b)))
        return out
    except ValueError:
        _check_broadcast(op, _data(a), _data(b))
        raise


def maximum(a, b) -> Tensor:
    return _extremum(a, b, True)


def minimum(a, b) -> Tensor:
    return _extremum(a, b, False)


def _refuse_empty_arg(op: str, x, dim) -> None:
    """torch's IndexError for an index of nothing: all of an empty x, or an empty dim (NumPy's
    ValueError before)."""
    if x.data.size:
        return
    if dim is None:
        raise IndexError(f"{op}: cannot reduce an empty input of shape {x.shape} (give a dim)")
    if x.ndim:
        axis = _axis(dim, x.ndim, op)
        if not x.shape[axis]:
            raise IndexError(f"{op}: cannot reduce over the empty dim {axis} of shape {x.shape}")


def argmax(x, dim=None, keepdim: bool = False) -> Tensor:
    if keepdim.__class__ is not bool:
        _refuse_keepdim("argmax", keepdim)
    if type(x) is Tensor and type(dim) is int and x.data.dtype in _EXTREME_DTYPES:
        a = x.data  # x.argmax(1): the kernel call below, straight (~1 us)
        if -a.ndim <= dim < a.ndim and a.shape[dim]:
            d = dim % a.ndim
            if a.flags.c_contiguous:  # (_extreme_along's kernel call, without its frame)
                return _plain(_C.extreme_dim(a, d, d + 1, keepdim, True, True)[1])
            return _plain(_extreme_along(a, d, True, True, keepdim)[1])
    if dim is None and type(x) is Tensor and x.data.dtype.char in "fd" and x.data.size:
        i = np.asarray(x.data.argmax(), np.int64)  # the common call: ~2.5 us of frames less
        return _plain(i.reshape((1,) * x.data.ndim) if keepdim else i)
    x = _tensor_operand(x)
    _complex.refuse("argmax", x)
    if x.data.dtype == np.bool_:
        raise BadDtype("argmax: bool tensors are not supported (as in PyTorch)")
    _refuse_empty_arg("argmax", x, dim)
    if dim is None:
        i = np.asarray(np.argmax(x.data), dtype=np.int64)  # keepdim: torch's (1, ..., 1)
        return Tensor(i.reshape((1,) * x.ndim) if keepdim else i)
    if x.ndim == 0:
        _axes(dim, 0, "argmax")
        return Tensor(np.zeros((), np.int64))
    axis = _axis(dim, x.ndim, "argmax")
    if x.data.dtype.char in "fd" and x.shape[axis]:
        idx = _extreme_along(x.data, axis, True, True, keepdim)[1]
        return Tensor._make(idx, False, None, 0)
    return Tensor(np.argmax(x.data, axis=axis, keepdims=keepdim).astype(np.int64))


def argmin(x, dim=None, keepdim: bool = False) -> Tensor:
    if keepdim.__class__ is not bool:
        _refuse_keepdim("argmin", keepdim)
    if dim is None and type(x) is Tensor and x.data.dtype.char in "fd" and x.data.size:
        i = np.asarray(x.data.argmin(), np.int64)  # the common call: ~2.5 us of frames less
        return _plain(i.reshape((1,) * x.data.ndim) if keepdim else i)
    x = _tensor_operand(x)
    _complex.refuse("argmin", x)
    if x.data.dtype == np.bool_:
        raise BadDtype("argmin: bool tensors are not supported (as in PyTorch)")
    _refuse_empty_arg("argmin", x, dim)
    if dim is None:
        i = np.asarray(np.argmin(x.data), dtype=np.int64)  # keepdim: torch's (1, ..., 1)
        return Tensor(i.reshape((1,) * x.ndim) if keepdim else i)
    if x.ndim == 0:
        _axes(dim, 0, "argmin")
        return Tensor(np.zeros((), np.int64))
    axis = _axis(dim, x.ndim, "argmin")
    if x.data.dtype.char in "fd" and x.shape[axis]:
        idx = _extreme_along(x.data, axis, False, True, keepdim)[1]
        return Tensor._make(idx, False, None, 0)
    return Tensor(np.argmin(x.data, axis=axis, keepdims=keepdim).astype(np.int64))


# ---- shapes and views ---------------------------------------------------------------------


class Reshape(Function):
    _reusable = True  # (backward reads shapes alone)

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        y = x.reshape(shape)
        if x.base is not None and 1 in y.shape and not isinstance(ctx, Squeeze | Unsqueeze):
            return _strides.viewed(y, x)
        return y

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None

    @staticmethod
    def backward_graph(ctx, g):
        return g.reshape(ctx.shape), None


class Unsqueeze(Reshape):
    """unsqueeze: a Reshape that torch names UnsqueezeBackward0."""


class ReshapeAlias(Reshape):
    """reshape of a non-contiguous tensor that a view gives: torch's ReshapeAliasBackward0."""


class UnsafeView(Reshape):
    """reshape of a non-contiguous tensor that only a copy gives: torch's UnsafeViewBackward0."""


def _reshape_node(x, shape):
    """torch's node for x.reshape(shape) in the graph: a view of a contiguous x (View), else
    an alias when strides give it (ReshapeAlias), else a copy (UnsafeView)."""
    d = x.data
    if not (x._requires_grad and _state.enabled) or d.flags.c_contiguous:
        # (no node: the name is never read; NumPy's C-contiguous flag is torch's
        # is_contiguous, size-1 dims' strides and empty arrays alike)
        return Reshape
    strides = _strides._elem_strides(d)
    if _strides._is_contiguous(d.shape, strides):
        return Reshape
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        shape = tuple(d.size // known if s == -1 and known else s for s in shape)
    return ReshapeAlias if _strides.view_strides(d.shape, strides, shape) else UnsafeView


class Squeeze(Reshape):
    """squeeze(): SqueezeBackward0 in torch; squeeze(dim) is SqueezeDim, squeeze(dims)
    SqueezeDims (SqueezeBackward1 and 2)."""


class SqueezeDim(Squeeze):
    pass


class SqueezeDims(Squeeze):
    pass


class Repeat(Reshape):
    """repeat's last step, the expanded tensor reshaped: torch's RepeatBackward0."""


class CopySlices(Reshape):
    """The node a tensor takes when written in place through one of its views (its new values
    at last reshaped to its shape, ember/_inplace.py): torch's CopySlices."""


class OverlapCopySlices(CopySlices):
    """CopySlices of a fill (zero_, fill_) through an expand()ed view, whose elements repeat
    memory locations: torch writes it, and refuses its backward."""

    _reusable = False

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(
            "unsupported operation: more than one element of the written-to tensor refers to "
            "a single memory location. Please clone() the tensor before performing the operation."
        )

    backward_graph = backward


def _view(fn, x, arg) -> Tensor:
    """fn.apply(x, arg) for the view Functions (Reshape, Permute and their subclasses, which
    differ only in torch's node names): a tensor outside the graph skips the generic apply's
    argument scan and node (~1 us of a ~2 us view)."""
    if (x._requires_grad and _state.enabled) or _function._fw_level is not None:
        return fn.apply(x, arg)  # (forward-mode AD: apply carries or refuses the tangent)
    d = x.data
    if fn is Reshape or not (fn is Permute or issubclass(fn, Permute)):
        y = d.reshape(arg)
        # (a fresh array has C-order strides, and so has its reshape, as torch's; unsqueeze
        # sets its strides itself)
        if d.base is not None and 1 in y.shape and fn is not Unsqueeze:
            y = _strides.viewed(y, d)
        return _outside_view(y, x)
    return _outside_view((d if d.size else _strides.laid(d)).transpose(arg), x)


def _outside_view_py(a: np.ndarray, x) -> Tensor:
    """The Tensor of ``a``, a view of x's array made outside the graph (the view fast paths):
    linked to x as the generic apply links it."""
    out = Tensor._make(a, False, None, 0)
    if x._requires_grad:  # (grad mode off: the view still requires grad, as torch's)
        _function.no_grad_view(out, (x,))
    else:
        _function.mark_view(out, x)
    return _function.view_made(out, x) if _function._open_blocks[0] else out


# overhead38: _outside_view_py's common case in C (bind_fast.cpp's outside_view: Tensor._make's
# and mark_view's frames were ~0.5 us of a ~1.4 us 32x32 transpose); the rest calls it
_outside_view = _C.make_outside_view(_outside_view_py, Tensor, vars(_function))


def _plain_shape(shape) -> bool:
    """A tuple of Python ints >= -1 with at most one -1: the shapes _shape_arg passes as given."""
    for s in shape:
        if type(s) is not int or s < -1:
            return False
    return -1 not in shape or shape.count(-1) == 1


def _shape_arg(shape, op, one_inferred=True):
    if type(shape) is int:  # x.reshape(-1), x.view(n): as a tuple, the common case below
        shape = (shape,)
    if type(shape) is tuple and one_inferred and _plain_shape(shape):
        return shape  # the common case, without the conversions below
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be a sequence of ints, got {shape!r}") from None
    if builtins.any(s < -1 for s in shape) or (one_inferred and shape.count(-1) > 1):
        raise BadShapeOrValue(f"{op}: invalid shape {shape}")  # (torch's RuntimeError)
    return shape


def reshape(x, shape, *, _as_view: bool = False) -> Tensor:
    if type(x) is Tensor and type(shape) is tuple and x.data.flags.c_contiguous:
        # the common call: a C-contiguous x, whose node is Reshape either way (_reshape_node);
        # a bad shape takes the path below, which words it
        if _plain_shape(shape):
            try:
                return _view(Reshape, x, shape)
            except ValueError:
                pass
    x = _tensor_operand(x)
    shape = _shape_arg(shape, "reshape")
    try:  # (x.view(shape) is torch's View node whatever x's strides: _as_view)
        return _view(Reshape if _as_view else _reshape_node(x, shape), x, shape)
    except ValueError:  # (torch's RuntimeError)
        raise BadShapeOrValue(
            f"reshape: shape {shape} is invalid for input of shape {x.shape} ({x.numel()} elements)"
        ) from None


class Permute(Function):
    _reusable = True  # (backward reads shapes alone)

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return (x if x.size else _strides.laid(x)).transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.transpose(np.argsort(ctx.dims)), None

    @staticmethod
    def backward_graph(ctx, g):
        return permute(g, [int(d) for d in np.argsort(ctx.dims)]), None


class Transpose(Permute):
    """transpose / swapaxes / mT: a Permute that torch names TransposeBackward0."""


class _T(Permute):
    """Tensor.t(): TBackward0 in torch."""


def permute(x, dims) -> Tensor:
    if type(x) is Tensor and type(dims) is tuple and len(dims) == x.data.ndim:
        for d in dims:  # the common call, a permutation as non-negative ints: its view straight
            if type(d) is not int:
                break
        else:
            if sorted(dims) == list(range(len(dims))):
                return _view(Permute, x, dims)
    x = _tensor_operand(x)
    n = builtins.max(x.ndim, 1)
    axes = []
    for d in dims:  # (one loop: a comprehension's frame is a tenth of this cheap view)
        if type(d) is not int:  # NumPy ints, as torch; a bool or float is refused
            d = _index_dim(d, "permute") if type(d) is not Tensor else _list_dim(d, "permute")
        if not -n <= d < n:  # (the modulo below would wrap dim 5 of a 2-D tensor onto dim 1)
            raise IndexError(f"permute: dim {d} is out of range for a tensor with {x.ndim} dims")
        axes.append(d % n)
    axes = tuple(axes)
    if sorted(axes) != list(range(x.ndim)):
        raise BadShapeOrValue(f"permute: dims {tuple(dims)} are not a permutation of {x.ndim} dims")
    return _view(Permute, x, axes)


def transpose(x, dim0: int, dim1: int) -> Tensor:
    if type(x) is Tensor and type(dim0) is int and type(dim1) is int:  # the common case
        nd = x.data.ndim
        if -nd <= dim0 < nd and -nd <= dim1 < nd:  # (a 0-d x: below)
            dims = list(range(nd))
            d0, d1 = dim0 % nd, dim1 % nd
            dims[d0], dims[d1] = d1, d0
            return _view(Transpose, x, tuple(dims))
    x = _tensor_operand(x)
    # (each dim one int, as torch: None or an empty list is no dim, not _axes' "all dims")
    dim0, dim1 = _index_dim(dim0, "transpose", "dim0"), _index_dim(dim1, "transpose", "dim1")
    if x.ndim == 0:
        _axes(dim0, 0, "transpose"), _axes(dim1, 0, "transpose")
        return Transpose.apply(x, ())
    d0, d1 = _axes(dim0, x.ndim, "transpose")[0], _axes(dim1, x.ndim, "transpose")[0]
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return _view(Transpose, x, tuple(dims))


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if type(x) is Tensor and type(start_dim) is int and type(end_dim) is int:  # the common case
        shape = x.data.shape
        nd = len(shape)
        if -nd <= start_dim < nd and -nd <= end_dim < nd:  # (a 0-d x: below)
            s, e = start_dim % nd, end_dim % nd
            if s == e:
                return x
            if s < e:
                shape = shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]
                if not x._requires_grad and _function._fw_level is None:
                    d = x._data  # (_view's reshape branch inlined: ~0.2 us of a 1 us view)
                    if d.base is None or 1 not in shape:
                        return _outside_view(d.reshape(shape), x)
                return _view(_reshape_node(x, shape), x, shape)
    x = _tensor_operand(x)
    if type(start_dim) is not int or type(end_dim) is not int:  # (0-d integer tensors too)
        start_dim = _index_dim(start_dim, "flatten", "start_dim")
        end_dim = _index_dim(end_dim, "flatten", "end_dim")
    if x.ndim == 0:  # dims address a 0-d tensor as if it had one (torch's rule)
        _axes(start_dim, 1, "flatten"), _axes(end_dim, 1, "flatten")
        return reshape(x, (1,))
    d = x.data  # its shape and ndim, read once (each Tensor property read costs a call)
    nd, shape = d.ndim, d.shape
    s = _axes(start_dim, nd, "flatten")[0]
    e = _axes(end_dim, nd, "flatten")[0]
    if s > e:  # (torch's RuntimeError)
        raise BadShapeOrValue(f"flatten: start_dim {start_dim} cannot come after end_dim {end_dim}")
    if s == e:  # nothing to merge: x itself, as torch's (x.flatten() is x for a 1-d x)
        return x
    shape = shape[:s] + (math.prod(shape[s : e + 1]),) + shape[e + 1 :]
    return _view(_reshape_node(x, shape), x, shape)


def squeeze(x, dim=_NO_DIM) -> Tensor:
    if type(x) is Tensor:  # the common cases: no size-1 or empty dim kept
        shape = x.data.shape
        if dim is _NO_DIM:
            if 1 not in shape and 0 not in shape:
                return _view(Squeeze, x, shape)
        elif type(dim) is int and -len(shape) <= dim < len(shape):
            k = dim % len(shape)
            new = shape[:k] + shape[k + 1 :] if shape[k] == 1 else shape
            if 1 not in new and 0 not in new:
                return _view(SqueezeDim, x, new)
        elif type(dim) is tuple and dim:  # overhead42: distinct int dims in range (~4.9 ->
            nd = len(shape)  # ~2 us of a (32, 1, 32, 1) x: _axes and the stride fix below)
            axes = []
            for d in dim:
                if type(d) is not int or not -nd <= d < nd:
                    break
                axes.append(d % nd)
            else:
                if len(set(axes)) == len(axes):
                    new = tuple([n for i, n in enumerate(shape) if n != 1 or i not in axes])
                    if 1 not in new and 0 not in new:
                        return _view(SqueezeDims, x, new)
    x = _tensor_operand(x)
    node = Squeeze
    if dim is None or (type(dim) is Tensor and dim.ndim):  # (torch: an int or ints, given)
        raise TypeError(
            f"squeeze(): argument 'dim' must be int or tuple of ints, not {_tname(dim)}"
        )
    shape = x.data.shape
    if dim is _NO_DIM:
        kept = [i for i, s in enumerate(shape) if s != 1]
    elif isinstance(dim, tuple | list) and not dim:  # no dims named: none squeezed (torch)
        kept, node = range(len(shape)), SqueezeDims
    else:
        axes = _axes(dim, len(shape), "squeeze")
        kept = [i for i, s in enumerate(shape) if s != 1 or i not in axes]
        node = SqueezeDims if isinstance(dim, tuple | list) else SqueezeDim
    new = tuple([shape[i] for i in kept])
    out = _view(node, x, new)
    if 1 in new or 0 in new:
        # torch keeps the other dims' strides; NumPy's reshape lays an empty array anew and
        # may rewrite a kept size-1 dim's stride
        d, st = out.data, x.stride()
        want = tuple(st[i] * d.itemsize for i in kept)
        if d.strides != want and (d.size or any(want)):
            out.data = np.lib.stride_tricks.as_strided(d, strides=want, writeable=d.flags.writeable)
    return out


def unsqueeze(x, dim: int) -> Tensor:
    if type(x) is Tensor and type(dim) is int:
        d = x.data
        shape = d.shape
        n = len(shape) + 1
        k = dim % n
        if -n <= dim < n and k < n - 1 and d.size and 1 not in shape and 0 not in d.strides:
            # the common case, whose strides NumPy's reshape gives as torch's (below)
            return _view(Unsqueeze, x, shape[:k] + (1,) + shape[k:])
    x = _tensor_operand(x)
    n = x.ndim + 1
    if type(dim) is not int:
        dim = _index_dim(dim, "unsqueeze")
    if not -n <= dim < n:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for {x.ndim} dims")
    dim %= n
    out = _view(Unsqueeze, x, x.shape[:dim] + (1,) + x.shape[dim:])
    d, st = out.data, x.data.strides
    if not d.size:  # (NumPy's reshape of an empty array lays it out anew: x's torch strides)
        st = tuple(s * d.itemsize for s in x.stride())
    if dim == n - 1 or 1 in x.shape or 0 in st or not d.size:
        # torch's strides: the new dim's is size * stride of the dim it stands before (1 at the
        # end), the others x's (NumPy's reshape may rewrite a size-1 dim's, repeat the last one)
        want = st[:dim] + ((x.shape[dim] * st[dim]) if dim < n - 1 else d.itemsize,) + st[dim:]
        if d.strides != want and (d.size or any(want)):
            out.data = np.lib.stride_tricks.as_strided(d, strides=want, writeable=d.flags.writeable)
    return out


class Expand(Function):
    _reusable = True  # (backward reads shapes alone)

    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return _expanded(x, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape), None

    @staticmethod
    def backward_graph(ctx, g):
        return _graph.sum_to(g, ctx.shape), None


def _expanded(x: np.ndarray, shape: tuple) -> np.ndarray:
    """Expand's view of x: torch's strides, written through only where no entry repeats."""
    if 0 in shape:  # (NumPy's all-zero strides: torch's from x's, as below)
        if len(shape) < x.ndim or np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError(f"cannot expand {x.shape} to {shape}")  # (a size-0 dim kept)
        lx = _strides.laid(x)
        st = _strides._expanded(x.shape, _strides._elem_strides(lx), shape)
        want = tuple(s * x.itemsize for s in st)
        return np.lib.stride_tricks.as_strided(lx, shape, want, writeable=False)
    # torch's strides (inferExpandGeometry: its stride(), and the layout rules that read
    # it): a kept dim keeps x's stride (a size-1 one too), an expanded one takes 0, a new
    # size-1 dim the next dim's size * stride (NumPy's broadcast_to gives every size-1 dim
    # 0); built by _C.strided (broadcast_to and as_strided were ~3 us of a 32x32 expand)
    nd, lead, xs, xst = len(shape), len(shape) - x.ndim, x.shape, x.strides
    if xs == shape:  # (every dim kept: x's strides, the loop's result without its steps)
        return _C.strided(x, shape, xst, x.flags.writeable)
    if lead < 0:
        raise ValueError(f"cannot expand {xs} to {shape}")
    st = [0] * nd
    # (writeable: no entry read twice, only size-1 dims added or kept; torch lets in-place
    # ops write through it then, as through any view)
    writeable = x.flags.writeable
    for i in range(nd - 1, -1, -1):
        n, d = shape[i], i - lead
        if d >= 0:
            if xs[d] == n:
                st[i] = xst[d]
            elif xs[d] != 1:
                raise ValueError(f"cannot expand {xs} to {shape}")
        elif n == 1:
            st[i] = shape[i + 1] * st[i + 1] if i + 1 < nd else x.itemsize
        if n > 1 and not st[i]:
            writeable = False
    return _C.strided(x, shape, tuple(st), writeable)


def expand(x, shape) -> Tensor:
    if type(x) is Tensor and type(shape) is tuple and not x._requires_grad:
        # overhead41: new leading dims of size > 1 before x's own (a bias row to a batch),
        # outside the graph: strides (0, ..., x's), read-only (~0.6 us of the general steps)
        d = x._data
        lead = len(shape) - d.ndim
        if lead > 0 and shape[lead:] == d.shape and d.size and _function._fw_level is None:
            for s in shape[:lead]:
                if type(s) is not int or s < 2:
                    break
            else:
                st = (0,) * lead + d.strides
                return _outside_view(_C.strided(d, shape, st, False), x)
    elif (
        type(x) is Tensor
        and type(shape) is tuple
        and _state.enabled
        and _function._fw_level is None
        and _positive_ints(shape)
        and len(shape) >= x._data.ndim
    ):  # overhead42: recorded with sizes given (no -1), its node straight (~0.7 us of steps)
        try:
            return Expand.apply(x, shape)
        except ValueError:  # (shapes that do not expand: the error below)
            pass
    x = _tensor_operand(x)
    if type(shape) is not tuple or not _plain_shape(shape):  # (else as _shape_arg returns it)
        shape = _shape_arg(shape, "expand", one_inferred=False)  # -1 keeps any existing dim
    xs = x.data.shape
    lead = len(shape) - len(xs)
    if lead < 0 or -1 in shape[:lead]:  # a new leading dim has no size to keep
        raise BadShapeOrValue(f"expand: cannot expand shape {x.shape} to {shape}")
    full = shape
    if -1 in shape:
        full = tuple(xs[i - lead] if s == -1 else s for i, s in enumerate(shape))
    try:
        if (x._requires_grad and _state.enabled) or _function._fw_level is not None:
            return Expand.apply(x, full)
        return _outside_view(_expanded(x.data, full), x)  # (as _view: no node, no apply)
    except ValueError:  # (torch's RuntimeError)
        raise BadShapeOrValue(f"expand: cannot expand shape {x.shape} to {shape}") from None


# ---- indexing -----------------------------------------------------------------------------


_BASIC = (slice, int, type(None), type(Ellipsis))


def positive_steps(index) -> None:
    """PyTorch refuses a slice step below 1 in x[...] where NumPy would walk backwards (ember's
    own ops still index their arrays with negative steps, so only Tensor's [] checks)."""
    for p in index if type(index) is tuple else (index,):
        if type(p) is slice and p.step is not None and p.step <= 0:
            raise ValueError(f"step must be greater than zero, got {p} (flip reverses a dim)")


def _index_array(t: Tensor) -> np.ndarray:
    """An index Tensor's array. A uint8 one is a mask, as in torch (which deprecates it with
    this warning); NumPy would read it as positions, silently other values. Other dtypes
    than torch's (int64, int32, uint8, bool) are refused, as torch (NumPy took int8 / int16)."""
    d = t.data.dtype
    if d != np.uint8:
        if d.kind == "b" or (d.kind == "i" and d.itemsize >= 4):
            return t.data
        raise IndexError(
            f"tensors used as indices must be long, int, byte or bool tensors, got {d} (as torch)"
        )
    warnings.warn(
        "indexing with dtype uint8 is deprecated, please use a bool tensor instead "
        "(it is read as a mask, as torch reads it)",
        UserWarning,
        stacklevel=4,
    )
    return t.data != 0


def _index_arg(index, x=None):
    """Tensors inside an index become arrays; report whether it is an advanced index. With
    ``x``, the tensor indexed (getitem's), an advanced key also gets check_empty_masks and
    drop_empty_ellipsis, called only when the one scan here saw an empty mask / an Ellipsis
    (so x[:, j] pays no scans beyond this one)."""
    if type(index) in _BASIC:  # the common cases, without the scan below
        return index, False
    if type(index) is Tensor:  # x[idx] / x[mask]: one array, an advanced index
        index = _index_array(index)
        if x is not None and index.dtype == np.bool_ and not index.size:
            check_empty_masks(index, x.shape)
        return index, True
    if type(index) is tuple and builtins.all(type(p) in _BASIC for p in index):
        return index, False
    one = type(index) is not tuple
    parts, advanced, empty_mask, ellipsis = [], False, False, False
    for p in (index,) if one else index:
        t = type(p)
        if t in _BASIC:
            ellipsis = ellipsis or p is Ellipsis
        elif isinstance(p, Tensor | np.ndarray):
            if isinstance(p, Tensor):
                p = _index_array(p)
            advanced = True
            empty_mask = empty_mask or (p.dtype == np.bool_ and not p.size)
        elif t is np.bool_:
            # (a numpy.bool_ key: NumPy reads it as True / False, torch refuses it)
            raise IndexError(
                "only integers, slices (`:`), ellipsis (`...`), None and long or byte Variables "
                "are valid indices (got numpy.bool)"
            )
        # (a bool is torch's index tensor of one or no position at a new dim: a copy, laid out
        # by the index kernel)
        elif isinstance(p, list | tuple | bool):
            advanced = True
            p = list(p) if type(p) is tuple else p  # (a tuple in the key: torch's sequence)
        parts.append(p)
    index = parts[0] if one else tuple(parts)
    if advanced and x is not None:
        if empty_mask:
            check_empty_masks(index, x.shape)
        if ellipsis:
            index = drop_empty_ellipsis(index, x.ndim)
    return index, advanced


def drop_empty_ellipsis(index, ndim: int):
    """``index`` without an Ellipsis that stands for no dim: NumPy counts it as a separator of
    the advanced indices on either side (x[:, i, ..., j] of a 3-D x then puts the index dims
    first), torch does not (they stay in place, as adjacent ones)."""
    if type(index) is not tuple or not builtins.any(p is Ellipsis for p in index):
        return index
    used = builtins.sum(
        p.ndim if type(p) is np.ndarray and p.dtype == np.bool_ else 1
        for p in index
        if p is not None and p is not Ellipsis and type(p) is not bool
    )
    return tuple(p for p in index if p is not Ellipsis) if used == ndim else index


def check_empty_masks(index, shape) -> None:
    """NumPy takes an empty bool mask of any length (read as no positions); torch refuses a mask
    whose shape is not that of the dims it indexes, empty or not (IndexError, as NumPy's own
    for a nonempty one). ``index``: _index_arg's, for a tensor of ``shape``."""
    parts = index if type(index) is tuple else (index,)
    if not builtins.any(
        type(p) is np.ndarray and p.dtype == np.bool_ and not p.size for p in parts
    ):
        return
    masks = [type(p) is np.ndarray and p.dtype == np.bool_ for p in parts]
    # (None, True and False stand for a new dim: no dim of x)
    used = builtins.sum(p.ndim if m else 1 for p, m in zip(parts, masks) if p is not None
                        and p is not Ellipsis and type(p) is not bool)  # fmt: skip
    dim = 0
    for p, m in zip(parts, masks):
        if p is None or type(p) is bool:
            continue
        if p is Ellipsis:
            dim += len(shape) - used
        elif not m:
            dim += 1
        else:
            for j, n in enumerate(p.shape):
                if dim + j >= len(shape) or shape[dim + j] != n:
                    raise IndexError(
                        f"The shape of the mask {list(p.shape)} at index {j} does not match the "
                        f"shape of the indexed tensor {list(shape)} at index {dim + j}"
                    )
            dim += p.ndim


def _none_strides(x: np.ndarray, index, out: np.ndarray) -> np.ndarray:
    """``out = x[index]`` (a basic index with None) with torch's strides for the new dims:
    torch unsqueezes as it walks the index, so a None's stride is the size * stride of the
    dim of x it stands before (1 at the end), where NumPy gives 0."""
    key = index if type(index) is tuple else (index,)
    items = []
    for k in key:
        if k is Ellipsis:
            items += [slice(None)] * (
                x.ndim
                - builtins.sum(j is not None and j is not ... and type(j) is not bool for j in key)
            )
        else:
            items.append(k)
    st, i, o, new = list(out.strides), 0, 0, []  # (i: x's dim, o: out's; new: the None dims)
    for k in items:
        if k is None or type(k) is bool:  # (a bool adds a dim of size 1 or 0, as None)
            st[o] = x.shape[i] * x.strides[i] if i < x.ndim else x.itemsize
            new.append(o)
            o += 1
        else:
            i += 1
            o += isinstance(k, slice)
    st = tuple(st)
    if st == out.strides:
        return out
    # NumPy's reshape gives inserted size-1 dims these strides in the common cases, ~20x
    # cheaper than as_strided (x[:, None] is everyday broadcasting code)
    r = out.squeeze(tuple(d for d in new if out.shape[d] == 1)).reshape(out.shape)
    if r.strides == st:
        return r
    return np.lib.stride_tricks.as_strided(out, strides=st, writeable=out.flags.writeable)


def _empty_slice_strides(x: np.ndarray, index, out: np.ndarray) -> np.ndarray:
    """``out = x[index]`` (a basic index, empty) with torch's strides and storage offset: a
    stepped slice's dim has stride * step even when it picks nothing, where NumPy keeps the
    stride, and a slice starts at its start clamped to the dim (x[18::2] of 10 elements at
    offset 10), where NumPy's empty result starts at x's first element."""
    key = index if type(index) is tuple else (index,)
    items = []
    for k in key:
        if k is Ellipsis:
            n = builtins.sum(j is not None and j is not ... and type(j) is not bool for j in key)
            items += [slice(None)] * (x.ndim - n)
        else:
            items.append(k)
    st, i, o, off = list(out.strides), 0, 0, 0  # (i: x's dim, o: out's; off in bytes)
    for k in items:
        if k is None or type(k) is bool:
            o += 1
            continue
        if type(k) is slice:
            start, _, step = k.indices(x.shape[i])
            off += start * x.strides[i]
            if step != 1 and not out.shape[o]:
                st[o] = x.strides[i] * step
            o += 1
        else:
            j = operator.index(k)
            off += (j + x.shape[i] if j < 0 else j) * x.strides[i]
        i += 1
    at = x.__array_interface__["data"][0] + off
    if at == out.__array_interface__["data"][0] and tuple(st) == out.strides:
        return out
    face = dict(out.__array_interface__, data=(at, not out.flags.writeable), strides=tuple(st))
    return np.asarray(_strides.Face(face, x))


def _index_laid(x: np.ndarray, index, out: np.ndarray) -> np.ndarray:
    """out = x[index] (advanced) with torch's strides (_strides.advanced): NumPy moves a
    trailing index's dims first, the index_select kernel lays out C order, where torch's index
    kernel orders dims by x's and the indices' strides. Cached per layout (the rule is a sort)."""
    if out.ndim < 2:
        return out
    if type(index) is not tuple:
        if type(index) is np.ndarray:
            # x[i] of a C-contiguous x without size-1 dims (whose strides NumPy's flag passes
            # over): C order, as NumPy's result (the hot path: no sort, no cache)
            if index.ndim == 1 and x.flags.c_contiguous and 1 not in x.shape:
                return out
        elif type(index) is not bool:
            return out
        index = (index,)
    if builtins.any(type(k) is list for k in index):  # (torch reads a list as a tensor)
        index = tuple(np.asarray(k) if type(k) is list else k for k in index)
        if builtins.any(type(k) is np.ndarray and k.dtype.kind not in "biu" for k in index):
            return out
    # (x in torch's C order and every index array C-contiguous: torch's result is C order,
    # so the sort and its cache are skipped)
    dense = x.flags.c_contiguous and x.strides == _strides.c_strides(x)
    sig = []
    for k in index:
        if type(k) is np.ndarray:
            # (torch's C order: NumPy's flag passes over the strides of size-1 dims, which
            # order torch's result as any other's)
            dense = (
                dense
                and k.flags.c_contiguous
                and (k.ndim < 2 or 1 not in k.shape or k.strides == _strides.c_strides(k))
            )
            sig.append((k.shape, k.strides, k.dtype.kind, k.itemsize))
            if k.dtype == np.bool_ and not dense:  # (its count is in torch's strides)
                sig.append(int(np.count_nonzero(k)))
        elif type(k) is slice:
            sig.append((k.start, k.stop, k.step))
            dense = dense and (k.step is None or k.step == 1)  # (a step reorders size-1 dims)
        elif k is None or k is Ellipsis or type(k) is bool:
            sig.append(k)
        else:  # (lists, integers: NumPy's layout stays)
            return out
    if dense and out.size:
        return _strides.c_order(out if out.flags.c_contiguous else np.ascontiguousarray(out))
    key = (x.shape, x.strides, x.itemsize, out.shape, *sig)
    try:
        want = _INDEX_STRIDES.get(key, False)
    except TypeError:  # (a slice of Tensors)
        return out
    if want is False:
        try:
            want = _strides.advanced(x, index, out.shape)
        except (TypeError, IndexError, ValueError):
            want = None
        if len(_INDEX_STRIDES) >= 4096:
            _INDEX_STRIDES.clear()
        _INDEX_STRIDES[key] = want
    if want is None or _strides._elem_strides(out) == want:
        return out
    laid = _strides.empty(out.shape, want, out.dtype)
    if out.size:
        np.copyto(laid, out)
    return laid


_INDEX_STRIDES: dict = {}


class GetItem(Function):
    _reusable = True  # (basic indexing's backward reads shapes alone)

    @staticmethod
    def forward(ctx, x, index, advanced):
        ctx.meta = (x.shape, x.dtype, index, advanced)
        if advanced:  # (torch's IndexBackward saves the index tensors, freed after backward)
            ctx._reusable = False
        if advanced and type(index) is np.ndarray:
            if not x.size and x.ndim and index.dtype.kind in "iu":
                shape = index.shape + x.shape[1:]
                if index.size and not x.shape[0]:  # (torch: any position of a size-0 dim)
                    raise IndexError(
                        f"index {index.flat[0]} is out of bounds for dimension 0 with size 0"
                    )
                if not math.prod(shape):  # (torch reads no position: none is refused)
                    return np.empty(shape, x.dtype)
            if (
                index.dtype is _I64
                and index.ndim == 1
                and index.size
                and index.flags.c_contiguous
                and x.ndim
                and x.flags.c_contiguous
                and x.dtype.char in _SELECT_CHARS
            ):  # rows by the index_select kernel (x[idx] outside the graph comes here too)
                try:  # (a negative index: the kernel refuses it, the paths below wrap it)
                    return _C.index_select(x, index, 0)
                except IndexError:
                    pass
            out = _take(x, index)
            if out is not None:  # a fresh array: none of the checks below apply
                return out
        if advanced and type(index) is tuple:
            picked = _axis_select(x.shape, index)
            if picked is not None and not x.size:
                axis, idx, shape = picked
                if idx.size and not x.shape[axis]:  # (torch: any position of a size-0 dim)
                    raise IndexError(
                        f"index {idx.flat[0]} is out of bounds for dimension {axis} with size 0"
                    )
                return np.empty(shape, x.dtype)  # (torch reads no position: none is refused)
            if picked is not None and x.dtype.char in _SELECT_CHARS:
                axis, idx, shape = picked
                a = x if x.flags.c_contiguous else np.ascontiguousarray(x)
                return _index_laid(x, index, _C.index_select(a, idx, axis).reshape(shape))
        out = x[index]
        if not isinstance(out, np.ndarray) and not advanced:
            # integers for every dim: NumPy gives a scalar, torch a 0-d view (x[0].mul_(2)
            # writes into x); an Ellipsis makes NumPy's result that view
            return x[(*index, Ellipsis) if type(index) is tuple else (index, Ellipsis)]
        if not isinstance(out, np.ndarray) or (advanced and np.may_share_memory(out, x)):
            return np.array(out)  # a scalar, or a 0-d integer array index that made a view
        if not advanced and (index is None or (type(index) is tuple and None in index)):
            if not out.size:  # (an empty x: its torch strides, which the Nones' follow)
                x = _strides.laid(x)
                out = x[index]
            out = _none_strides(x, index, out)
        if not advanced and not out.size:
            return _empty_slice_strides(x, index, out)
        if advanced:
            return _index_laid(x, index, out)
        return out  # a basic index's view

    @staticmethod
    def backward(ctx, g):
        shape, dtype, index, advanced = ctx.meta
        picked = _axis_select(shape, index) if advanced and g.dtype.kind == "f" else None
        if picked is not None:  # x[:, i]: the index_select kernel's adjoint (np.add.at's sums)
            axis, idx, _ = picked
            g = np.ascontiguousarray(g).reshape(shape[:axis] + (idx.size,) + shape[axis + 1 :])
            return _C.index_select_backward(g, idx, axis, shape[axis]), None, None
        rows = _index_rows(index, shape) if advanced and g.dtype.kind == "f" else None
        if rows is not None:
            # One integer array or one bool mask picks whole rows: scatter-add them in
            # occurrence order (the sums np.add.at makes) with the embedding kernel, ~50x faster.
            idx, nrows, width = rows
            g = np.ascontiguousarray(g).reshape(idx.size, width)
            return _C.embedding_backward(idx, g, nrows, -1).reshape(shape), None, None
        out = np.zeros(shape, dtype=g.dtype)
        if advanced:
            np.add.at(out, index, g)  # repeated indices add up (scatter-add)
        else:
            out[index] = g
        return out, None, None

    @staticmethod
    def backward_graph(ctx, g):
        index = ctx.meta[2]
        return _graph.linear(ctx, g, lambda v: np.asarray(v[index])), None, None


class AsStridedGather(GetItem):
    """A view regathered from its base after an in-place write through it (ember/_inplace.py):
    torch's AsStridedBackward0."""


# np.take and np.compress cost ~1.5 us more a call than x[index]: they pay from these sizes on
# (values copied; mask entries), measured here.
_TAKE_MIN = 1 << 17
_COMPRESS_MIN = 4096


def _take(x: np.ndarray, index: np.ndarray):
    """x[index] for one index array by NumPy's faster equivalents, where they apply: an intp
    array picks rows (np.take, ~10% faster: one copy per row), a bool mask over x's leading
    dims picks by np.compress (~5x faster than the mask indexing loop). The same values in the
    same order, in a fresh array (and the same IndexError for an index out of range); None for
    every other index, which x[index] itself takes."""
    if index.ndim and x.ndim and x.shape[0]:
        if index.dtype == np.intp and index.size * (x.size // x.shape[0]) >= _TAKE_MIN:
            return np.take(x, index, axis=0)
        if (
            index.dtype == np.bool_
            and index.size >= _COMPRESS_MIN
            and index.shape == x.shape[: index.ndim]
        ):
            lead = math.prod(index.shape)
            return np.compress(index.reshape(-1), x.reshape((lead,) + x.shape[index.ndim :]), 0)
    return None


def _axis_select(shape, index):
    """(axis, int64 positions, result shape) when a tuple ``index`` is full slices around one
    integer array (x[:, i], x[:, :, i, :]): the index_select kernel's x[..., i, ...], several
    times faster than NumPy's fancy indexing off axis 0. None for every other index, or when a
    position is out of range (x[index] then raises NumPy's IndexError)."""
    if type(index) is not tuple or len(index) > len(shape):  # (a 0-d array index has no len)
        return None
    axis = None
    for d, v in enumerate(index):
        if (
            type(v) is np.ndarray
            and (v.dtype.kind == "i" or (v.dtype.kind == "u" and v.dtype.itemsize < 8))
            and v.ndim
            and axis is None
        ):
            axis = d
        elif type(v) is not slice or v != _FULL:
            return None
    if axis is None:
        return None
    n, picked = shape[axis], index[axis]
    idx = np.ascontiguousarray(picked.reshape(-1), np.int64)
    if idx.size and not _out_of_range(idx, False, n):  # (all in [0, n): the C scan, overhead37)
        return axis, idx, shape[:axis] + picked.shape + shape[axis + 1 :]
    if idx.size and (idx.min() < -n or idx.max() >= n):
        if math.prod(shape):
            return None
        idx = np.zeros_like(idx)  # an empty x: no position is read, none is out of range
    if idx.size and idx.min() < 0:
        idx = np.where(idx < 0, idx + n, idx)
    return axis, idx, shape[:axis] + picked.shape + shape[axis + 1 :]


_FULL = slice(None)


def _index_rows(index, shape):
    """(int64 row numbers, row count, row width) when ``index`` is one integer array (rows of
    dim 0) or one bool mask (rows of its leading dims), else None."""
    if isinstance(index, tuple) and len(index) == 1:
        index = index[0]
    if not isinstance(index, np.ndarray) or index.ndim == 0 or not shape:
        return None
    if index.dtype.kind == "b":
        lead = index.ndim
        if index.shape != shape[:lead]:
            return None
        idx = np.flatnonzero(index)
    elif index.dtype.kind in "iu":
        lead = 1
        idx = index.ravel().astype(np.int64)
        idx[idx < 0] += shape[0]  # the forward indexing checked the range
    else:
        return None
    return idx, math.prod(shape[:lead]), math.prod(shape[lead:])


def _new_dims_view(x, index):
    """overhead42: x[None, ..., None] (Nones, full slices and one Ellipsis) of a C-contiguous
    non-empty x outside the graph as reshape's view, whose strides are torch's (see getitem's
    x[None]; ~7 -> ~1.5 us of a 32x32), else None."""
    d = x.data
    # (a view's size-1 dim may have another stride, which reshape would rewrite: x.t()[..., None])
    if not (d.flags.c_contiguous and d.size and (d.base is None or 1 not in d.shape)):
        return None
    kept = 0
    for p in index:
        if type(p) is slice:
            if not (p.start is None and p.stop is None and p.step is None):
                return None
            kept += 1
        elif p is not None and p is not Ellipsis:
            return None
    if kept > d.ndim or index.count(Ellipsis) > 1:  # (too many: the generic path's error)
        return None
    shape, i = [], 0
    for p in index:
        if p is None:
            shape.append(1)
        elif p is Ellipsis:
            k = d.ndim - kept
            shape += d.shape[i : i + k]
            i += k
        else:
            shape.append(d.shape[i])
            i += 1
    shape += d.shape[i:]
    return _outside_view(d.reshape(shape), x)


def basic_view(x, index):
    """x[index] for a tuple of ints and slices (x[:, j], x[1:3, 0]) outside the graph, else
    None: GetItem's basic view (its x[index] with Ellipsis appended, so all ints give a 0-d
    view) without the generic apply, ~1.5 us of ~3 (getitem's x[i] path, for tuples: speed27).
    An IndexError takes the generic path, which names the shape."""
    if (
        type(x) is not Tensor
        or (x._requires_grad and _state.enabled)
        or _function._fw_level is not None
        or not x.data.ndim
    ):
        return None
    ellipsis = False
    for p in index:
        if type(p) is not slice and type(p) is not int:
            if p is Ellipsis and not ellipsis:  # (one: x[..., 0], overhead41)
                ellipsis = True
                continue
            return _new_dims_view(x, index) if p is None else None
    try:
        a = x.data[index if ellipsis else (*index, Ellipsis)]
    except IndexError:
        return None
    # an empty result takes the generic path, which gives stepped slices torch's strides
    return _outside_view(a, x) if a.size else None


def getitem(x, index) -> Tensor:
    if (
        type(index) is int
        and type(x) is Tensor
        and not (x._requires_grad and _state.enabled)
        and _function._fw_level is None
        and x.data.ndim
    ):
        # x[i] outside the graph: GetItem's view (x[i, ...], a 0-d view of a 1-D x) without
        # the apply (~1 us of 3); out of range takes the generic path, which names the shape
        try:
            return _outside_view(x.data[index, ...], x)
        except IndexError:
            pass
    elif (
        index is None
        and type(x) is Tensor
        and not (x._requires_grad and _state.enabled)
        and _function._fw_level is None
        and x.data.flags.c_contiguous
        and x.data.size  # (an empty x: the generic path's strides, torch's)
    ):  # overhead40: x[None] outside the graph, a C-contiguous x: reshape's view has
        # torch's strides (the new dim's: size * stride of the first, _none_strides' rule),
        # without the generic path's index walk (~3 us of 3.6; torch ~0.6)
        a = x.data
        return _outside_view(a.reshape((1, *a.shape)), x)
    index, advanced = _index_arg(index, x)
    try:
        return GetItem.apply(x, index, advanced)
    except IndexError as e:
        if type(index) is tuple and (spread := ellipses(index, x.ndim)) is not index:
            return getitem(x, spread)
        raise IndexError(f"index {index!r} into a tensor of shape {x.shape}: {e}") from None


def ellipses(index: tuple, ndim: int) -> tuple:
    """A key with several ``...`` as torch reads it (NumPy refuses it): each spans the dims
    the other entries leave (ndim less their count; a mask counts its dims), and spans past
    the last dim at the end are dropped. ``index`` itself when it has one ``...`` or none."""
    count, taken = 0, 0
    for p in index:
        if p is Ellipsis:
            count += 1
        elif p is not None and type(p) is not bool:
            dt = getattr(p, "dtype", None)  # (a mask, an array or Tensor, spans its dims)
            taken += p.ndim if dt is not None and dt == np.bool_ else 1
    if count < 2:
        return index
    span = (slice(None),) * builtins.max(ndim - taken, 0)
    out = []
    for p in index:
        out.extend(span if p is Ellipsis else (p,))
    while out and type(out[-1]) is slice and out[-1] == slice(None):
        out.pop()  # (whole slices at the end change nothing, and may pass the last dim)
    return tuple(out) or (Ellipsis,)


# ---- joining ------------------------------------------------------------------------------


def _pieces(a: np.ndarray, axis: int, sizes) -> list:
    """The consecutive pieces of ``sizes`` along axis, as views (np.split costs ~1 us a piece
    more): split's outputs and cat's gradients."""
    pre, start, out = (slice(None),) * axis, 0, []
    for n in sizes:
        # (axis 0: a[i:j], without the key tuple)
        out.append(a[start : start + n] if not axis else a[pre + (slice(start, start + n),)])
        start += n
    return out


class Join(Function):
    """torch.cat (stack=False) and torch.stack: one C++ copy (_C.concat); the gradient of each
    input is its slice of the output's gradient, a view. Its arguments are the tensors, then
    dim and stack, all positional (apply's C path takes no keywords: a recorded 32x32 cat of
    two ~4 -> ~2.5 us); dim and stack get no gradient."""

    _NO_GRADS = (None, None)  # (dim's and stack's)

    @staticmethod
    def forward(ctx, *args):
        *xs, dim, stack = args
        y, sizes = _C.concat(xs, dim, stack)
        ctx.meta = (dim % y.ndim, sizes, stack)
        return y

    # a full sum's gradient arrives unfilled (_reads_broadcast): each input's filled fresh, where
    # the filled g's views made the engine copy all but the first into its leaf (cat of two
    # (1000, 1000): a fill of 8 MB and a 4 MB copy, now two 4 MB fills)
    _broadcast_grad = True

    @staticmethod
    def backward(ctx, g):
        axis, sizes, stack = ctx.meta
        if (one := _one_value(g)) is not None:  # one value broadcast: see above
            shape = list(g.shape)
            if stack:
                del shape[axis]
                return (*(_value_filled(shape, one) for _ in sizes), *Join._NO_GRADS)
            out = []
            for n in sizes:
                shape[axis] = n
                out.append(_value_filled(shape, one) if n >= 0 else np.zeros(0, g.dtype))
            return (*out, *Join._NO_GRADS)
        if stack:
            return (*np.moveaxis(g, axis, 0), *Join._NO_GRADS)
        views = iter(_pieces(g, axis, [n for n in sizes if n >= 0]))
        # a legacy (0,) input cat skipped (size -1) gets an empty gradient
        grads = (next(views) if n >= 0 else np.zeros(0, g.dtype) for n in sizes)
        return (*grads, *Join._NO_GRADS)

    @staticmethod
    def backward_graph(ctx, g):
        axis, sizes, stack = ctx.meta
        pre, start, out = (slice(None),) * axis, 0, []
        for k, n in enumerate(sizes):
            if stack:
                out.append(g[pre + (k,)])
            elif n < 0:
                out.append(_graph.constant(np.zeros(0, g.dtype)))
            else:
                out.append(g[pre + (slice(start, start + n),)])
                start += n
        return (*out, *Join._NO_GRADS)


def _join(tensors, dim, stack: bool) -> Tensor:
    if type(tensors) is list or type(tensors) is tuple:
        # the common case, Tensors outside the graph, in one pass (~5 us less for 64 of them;
        # a loop: a comprehension's frame is ~0.1 us of a 32x32 cat)
        datas, dt0 = [], None
        for t in tensors:
            if type(t) is not Tensor or t._requires_grad:
                break
            d = t.data
            dt = d.dtype  # (once a tensor: a dtype fetch is ~40 ns, ~10% of cat(64 rows))
            if dt is not dt0 and datas and dt != dt0:
                break  # (_C.concat's dtype test takes float16 and bfloat16 for one: promote)
            datas.append(d)
            dt0 = dt
        if datas and len(datas) == len(tensors):
            try:
                d = dim if type(dim) is int else _index_dim(dim, "cat")
                return _plain(_C.concat(datas, d, stack)[0])
            except TypeError:
                pass  # mixed dtypes (promoted below, or refused with the same error), bad dim
        elif tensors and type(dim) is int and type(tensors[0]) is Tensor:
            # Tensors of one float dtype, some requiring grad: the node straight (the general
            # path below promotes, converts and tests nothing for them, ~1.5 us)
            dt = tensors[0].data.dtype
            if dt.kind == "f":
                for t in tensors:  # (a loop: all() of a generator was ~0.4 us of a cat of 2)
                    if type(t) is not Tensor or t.data.dtype is not dt:
                        break
                else:
                    return Join.apply(*tensors, dim, stack)
    op = "stack" if stack else "cat"
    if isinstance(tensors, Tensor) or not isinstance(tensors, Iterable):
        raise TypeError(f"{op}: expected a sequence of tensors, got {type(tensors).__name__}")
    tensors = _promote_list([_tensor_operand(t) for t in tensors])
    dim = _index_dim(dim, op)
    if tensors and tensors[0].data.dtype.kind == "c":  # (no complex copy kernel: as float pairs)
        return _complex.join(tensors, dim, stack)
    if builtins.any(t._requires_grad for t in tensors):
        return Join.apply(*tensors, dim, stack)
    return Tensor._make(_C.concat([t.data for t in tensors], dim, stack)[0], False, None, 0)


def _promote_list(tensors):
    """All members in one dtype, as torch.cat: the highest category present (bool < integer <
    float < complex) decides, and within it the widest of its members' dtypes (float32 with
    float64 is float64; an int64 with float32 is float32; complex64 with float64 is
    complex128 and float16 with bfloat16 float32, as promote_types: NumPy's result_type of the
    top category alone missed those two)."""
    dtypes = [t.data.dtype for t in tensors]
    if not tensors or len(set(dtypes)) == 1:
        return tensors  # one dtype: nothing to promote
    target = functools.reduce(promote_types, dtypes)
    return [t if t.data.dtype == target else cast(t, target) for t in tensors]


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate along an existing dim (legacy empty tensors of shape (0,) are skipped, as
    PyTorch skips them: ``out = cat([out, x])`` starting from an empty one)."""
    return _join(tensors, dim, False)


def stack(tensors, dim: int = 0) -> Tensor:
    """Join along a new dim; all shapes must be equal."""
    return _join(tensors, dim, True)


class Split(Function):
    """split / chunk: the consecutive pieces of x along axis, views (as x[..., a:b] each), from
    one node (a getitem per piece cost ~2 us each)."""

    @staticmethod
    def forward(ctx, x, axis, sizes):
        ctx.meta = (x.shape, axis, sizes)
        return tuple(_pieces(x, axis, sizes))

    @staticmethod
    def backward(ctx, *grads):
        shape, axis, sizes = ctx.meta
        g = np.empty(shape, grads[0].dtype)
        pre, start = (slice(None),) * axis, 0
        for n, gi in zip(sizes, grads):
            g[pre + (slice(start, start + n),)] = gi
            start += n
        return g, None, None

    @staticmethod
    def backward_graph(ctx, *grads):
        return cat(list(grads), ctx.meta[1]), None, None


class SplitWithSizes(Split):
    """split with a list of sizes: torch's SplitWithSizesBackward0."""


class UnsafeSplit(Split):
    """unsafe_split / unsafe_chunk: as torch's, pieces that autograd does not treat as views
    (an in-place write into one is allowed and does not reach the base's graph)."""

    _not_view = True


class UnsafeSplitWithSizes(UnsafeSplit):
    pass


class Unbind(Function):
    """unbind: the slices along axis, that axis removed, views from one node (torch's
    UnbindBackward0: one multi-output view node, whose outputs refuse in-place writes)."""

    @staticmethod
    def forward(ctx, x, axis):
        ctx.meta = (x.shape, axis)
        return tuple(_slices(x, axis))

    @staticmethod
    def backward(ctx, *grads):
        return np.stack(grads, ctx.meta[1]), None

    @staticmethod
    def backward_graph(ctx, *grads):
        return stack(list(grads), ctx.meta[1]), None


def _slices(a: np.ndarray, axis: int) -> list:
    """The views a[..., i, ...] along axis (the Ellipsis: a 0-d view, not NumPy's scalar)."""
    if axis == 0 and a.ndim > 1:  # (iteration's views are a[i]'s: ~0.2 us less a piece)
        return list(a)
    pre = (slice(None),) * axis
    return [a[(*pre, i, Ellipsis)] for i in range(a.shape[axis])]


def split(x, split_size_or_sections, dim: int = 0, _unsafe: bool = False) -> tuple:
    """Pieces of ``split_size`` along dim (the last may be smaller), or of the given sizes."""
    x = _tensor_operand(x)
    if not x.ndim:  # (torch's RuntimeError)
        raise BadShapeOrValue("split expects at least a 1-dimensional tensor, got shape ()")
    axis = _axis(dim, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, Tensor) and not split_size_or_sections.ndim:
        split_size_or_sections = _index_dim(split_size_or_sections, "split", "split_size")
    if isinstance(split_size_or_sections, int | np.integer):
        if isinstance(split_size_or_sections, bool):  # (torch's TypeError: True is no size)
            raise TypeError("split(): split_size must be an int or a tuple of ints, not bool")
        size = _int64(int(split_size_or_sections))
        if size < 0 or (size == 0 and n):  # (0 splits an empty dim, as in torch)
            raise BadShapeOrValue(f"split: split_size must be positive, got {size}")
        sizes = _even_sizes(n, size) if n else [0]  # an empty dim: one empty piece, as PyTorch
    else:
        if not isinstance(split_size_or_sections, list | tuple | Tensor):  # (not a str's digits)
            t = type(split_size_or_sections).__name__
            raise TypeError(f"split(): split_size must be an int or a tuple of ints, not {t}")
        sizes = [_index_dim(s, "split", "split size") for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.min(sizes, default=0) < 0:
            raise BadShapeOrValue(f"split: sizes {sizes} do not add up to dim {dim} of {x.shape}")
        return _split(x, axis, sizes, UnsafeSplitWithSizes if _unsafe else SplitWithSizes)
    return _split(x, axis, sizes, UnsafeSplit if _unsafe else Split)


def _even_sizes(n: int, size: int) -> list:
    """n split into pieces of ``size``, the last smaller when size does not divide n."""
    return [size] * (n // size) + ([n % size] if n % size else [])


def _split(x: Tensor, axis: int, sizes, node=Split) -> tuple:
    """node.apply(x, axis, sizes) (Split and its kinds); a tensor outside the graph skips
    the generic apply (as _view): its pieces are plain views."""
    unsafe = node is UnsafeSplit or node is UnsafeSplitWithSizes
    if x._requires_grad and (_state.enabled or _function._fw_level is not None):
        out = node.apply(x, axis, tuple(sizes))  # (forward-mode AD: apply carries tangents)
        return out if unsafe else _function.multi_view(out)
    if unsafe:  # (not views for autograd: under no_grad, pieces that need no gradient)
        return tuple(Tensor._make(p, False, None, 0) for p in _pieces(x.data, axis, sizes))
    return _outside_views(_pieces(x.data, axis, sizes), x)


def _outside_views(pieces, x: Tensor) -> tuple:
    """The Tensors of a multi-output view op's (split, unbind) ``pieces`` of x's array, made
    outside the graph: plain views, or views that still require grad (grad mode off)."""
    out = []
    for p in pieces:  # (a loop of _plain, Tensor._make's marking included: a genexpr's frame
        out.append(_plain(p))  # costs a tenth here)
    out = tuple(out)
    if x._requires_grad:  # (grad mode off: the pieces still require grad, as torch's)
        for t in out:
            _function.no_grad_view(t, (x,))
    else:  # (torch's in grad mode: a write with a graph value is refused, and its use
        # after a write and requires_grad_())
        _function.mark_views(out, x, _function.MULTI_VIEW if _state.enabled else None)
    return out


def chunk(x, chunks: int, dim: int = 0, _node=Split) -> tuple:
    """``chunks`` pieces of (nearly) equal size along dim, as torch.chunk."""
    if type(x) is Tensor and type(chunks) is int and type(dim) is int and _node is Split:
        a = x.data
        if 0 < chunks < _LONG and -a.ndim <= dim < a.ndim:
            # overhead36: the common call, which none of the checks below refuse, straight to
            # _split's views outside autograd (~1 us of its frames and tests); overhead38: in
            # it, to _split itself
            axis = dim % a.ndim
            n = a.shape[axis]
            if n:
                sizes = _even_sizes(n, -(-n // chunks))
                if x._requires_grad:
                    return _split(x, axis, sizes)
                return _outside_views(_pieces(a, axis, sizes), x)
    chunks = _index_dim(chunks, "chunk", "chunks")  # (True is not one chunk)
    if chunks <= 0:
        raise BadShapeOrValue(f"chunk: chunks must be positive, got {chunks}")
    if chunks >= _LONG:
        _int64(chunks)
    x = _tensor_operand(x)
    if not x.data.ndim:  # (torch's RuntimeError)
        raise BadShapeOrValue("chunk expects at least a 1-dimensional tensor, got shape ()")
    axis = _axis(dim, x.data.ndim, "chunk")
    n = x.data.shape[axis]
    if n == 0:  # PyTorch: ``chunks`` empty pieces, by its split_with_sizes
        _node = {Split: SplitWithSizes, UnsafeSplit: UnsafeSplitWithSizes}.get(_node, _node)
        return _split(x, axis, [0] * chunks, _node)
    return _split(x, axis, _even_sizes(n, -(-n // chunks)), _node)


def masked_fill(x, mask, value) -> Tensor:
    """x with ``value`` where ``mask`` (broadcast) is True; no gradient flows there."""
    if (
        type(x) is Tensor
        and type(mask) is Tensor
        and (type(value) is float or type(value) is int)
        and _outside_graph(x)
    ):
        # the common call, a float tensor and a bool mask of its shape: the fill straight
        # (where()'s operand checks were ~3 us of an 8x8 one); the same values as below
        a, m = x.data, mask.data
        if (
            (a.dtype is _F32 or a.dtype is _F64)
            and m.dtype == np.bool_
            and m.shape == a.shape
            and a.flags.c_contiguous
            and m.flags.c_contiguous
        ):
            return _plain(_where(m, float(_fill_value(value, a.dtype)), a))
    if (
        type(x) is Tensor
        and type(mask) is Tensor
        and (type(value) is float or type(value) is int)
        and (x.data.dtype is _F32 or x.data.dtype is _F64)
        and mask.data.dtype == np.bool_
        and mask.data.shape == x.data.shape
        and _c_laid(x.data)
        and _c_laid(mask.data)
    ):  # overhead37: the same call in the graph, where()'s node straight (~6 us less)
        # (the mask as the Tensor it is: a plain Tensor first takes apply's C path; the value
        # as a Python float, exact in the dtype, takes _C.where as the path above)
        node = Where.apply(x, float(_fill_value(value, x.data.dtype)), mask, True)
        return named(node, "MaskedFillBackward0")
    mask = np.asarray(_data(mask))
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be bool, got {mask.dtype}")
    x = _tensor_operand(x)
    try:
        np.broadcast_shapes(mask.shape, x.shape)
    except ValueError:  # (torch's RuntimeError)
        raise BadShapeOrValue(
            f"masked_fill: a mask of shape {mask.shape} does not broadcast with {x.shape}"
        ) from None
    if isinstance(value, Tensor):
        if value.ndim:
            raise BadShapeOrValue(
                f"masked_fill: value must be a 0-d tensor, got shape {value.shape}"
            )
        if value.requires_grad:  # it gets the filled entries' gradient summed, as in torch
            out = where(mask, cast(value, x.dtype), x, _flip=True)
            return named(_c_order(out), "MaskedFillBackward1")
    kind = "MaskedFillBackward1" if isinstance(value, Tensor) else "MaskedFillBackward0"
    return named(_c_order(where(mask, _fill_value(_data(value), x.dtype), x, _flip=True)), kind)


def _preserved(t: Tensor, a: np.ndarray) -> Tensor:
    """t (a fresh result of a's shape) laid out as torch's preserve_format clone of ``a``: the
    out-of-place select/slice/diagonal_scatter, index_fill and put write into one."""
    want = _strides.preserved(a)
    y = t.data
    if y.size and _strides._elem_strides(y) != want:
        out = _strides.empty(a.shape, want, y.dtype)
        np.copyto(out, y)
        t.data = out
    return t


def _c_order(t: Tensor) -> Tensor:
    """t's array in C order: torch's masked_fill fills a contiguous clone of its input (a
    transposed input gives a C-contiguous result, unlike the elementwise ops)."""
    if not t.data.flags.c_contiguous:
        t.data = np.ascontiguousarray(t.data)
    return t


class _IndexRangeError(IndexError, RuntimeError):
    """An out-of-range gather index: torch raises RuntimeError, older callers catch IndexError."""


def _gather_rows(x: np.ndarray, index: np.ndarray, axis: int) -> np.ndarray:
    """_C.gather_forward (which range-checks the index), its range error an _IndexRangeError."""
    try:
        return _C.gather_forward(np.ascontiguousarray(x), index, axis)
    except IndexError as e:
        raise _IndexRangeError(str(e)) from None


class Gather(Function):
    @staticmethod
    def forward(ctx, x, axis, index, unique=False, kernel=None):
        # kernel: whether _C.gather_* take it (None: decide here)
        if kernel is None:
            kernel = _gather_kernel(x.shape, x.dtype, axis, index)
        ctx.meta = (x.shape, axis, index, unique, kernel)
        if kernel:  # one C++ pass, which checks the range too
            return _gather_rows(x, index, axis)
        # torch.gather reads the leading index.shape block of x in the other dims (no broadcast)
        x = x[tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(index.shape))]
        return np.take_along_axis(x, index, axis=axis)

    @staticmethod
    def backward(ctx, g):
        shape, axis, index, unique, kernel = ctx.meta
        if kernel and g.dtype.char in "fd":
            dx = _C.gather_backward(np.ascontiguousarray(g), index, axis, shape[axis])
            return dx, None, None
        out = np.zeros(shape, dtype=g.dtype)
        if unique:  # sort/topk: no index repeats along the axis, so a plain scatter does
            np.put_along_axis(out, index, g, axis=axis)
            return out, None, None
        grids = list(np.indices(index.shape, sparse=True))
        grids[axis] = index
        np.add.at(out, tuple(grids), g)  # repeated indices add up
        return out, None, None

    @staticmethod
    def backward_graph(ctx, g):
        _, axis, index, unique, kernel = ctx.meta

        def gather_map(v):  # the forward on v (it sets meta on the ctx it is given)
            return Gather.forward(_graph.scratch(Gather), v, axis, index, unique, kernel)

        return _graph.linear(ctx, g, gather_map), None, None


def _gather_kernel(shape: tuple, dtype, axis: int, index: np.ndarray) -> bool:
    """Whether _C.gather_* takes this: an int64 C-contiguous index of the input's shape outside
    axis (ember.gather hands it over so), and elements plain numbers of 1 to 8 bytes."""
    return (
        index.dtype == np.int64
        and index.flags.c_contiguous
        and dtype.kind in "biufc"
        and dtype.itemsize <= 8
        and shape[:axis] + shape[axis + 1 :] == index.shape[:axis] + index.shape[axis + 1 :]
    )


def gather(x, dim: int, index, *, sparse_grad: bool = False) -> Tensor:
    """out[i][j] = x[index[i][j]][j] (dim 0) etc., as torch.gather. ``sparse_grad`` is
    accepted; the gradient is dense (the same values)."""
    if type(x) is Tensor and type(index) is Tensor and type(dim) is int and _outside_graph(x):
        a = x.data  # the common call: the kernel straight, its own checks (~1.5 us of a small one)
        if -a.ndim <= dim < a.ndim:
            try:
                y = _C.gather_forward_or_none(a, index.data, dim % a.ndim)
            except IndexError as e:
                raise _IndexRangeError(str(e)) from None
            if y is not None:
                return Tensor._make(y, False, None, 0)
    x = _tensor_operand(x)
    index = np.asarray(_data(index))
    if (x.ndim == 0 or index.ndim == 0) and x.ndim <= 1 and index.ndim <= 1:
        # torch counts a 0-d input or index as 1-d of one element: the result is index's shape
        return reshape(gather(reshape(x, (-1,)), dim, index.reshape(-1)), index.shape)
    nd = x.data.ndim or 1  # (a 0-d input's dim as a 1-d one's, as torch's)
    if type(dim) is int and -nd <= dim < nd:
        axis = dim % nd  # the common case, without _axes' general parsing
    else:
        axis = _axis(dim, nd, "gather")
    _int_array(index, "gather", int32=True)
    if index.ndim != nd:  # (torch's RuntimeError)
        raise BadShapeOrValue(f"gather: index has {index.ndim} dims, input has {x.ndim}")
    index = np.ascontiguousarray(index, dtype=np.int64)
    # (the kernel checks the range itself)
    if _gather_kernel(x.data.shape, x.data.dtype, axis, index):
        if _outside_graph(x):  # Gather.forward's kernel call, without the apply (~1.5 us)
            y = _gather_rows(x.data, index, axis)
            return Tensor._make(y, False, None, 0)
        return Gather.apply(x, axis, index, kernel=True)
    if index.size and (index.min() < 0 or index.max() >= x.shape[axis]):
        raise _IndexRangeError(
            f"gather: index out of range [0, {x.shape[axis]}) for dim {dim} of shape {x.shape}"
        )
    if builtins.any(i > n for d, (i, n) in enumerate(zip(index.shape, x.shape)) if d != axis):
        raise BadShapeOrValue(  # (torch's class)
            f"gather: index {index.shape} is larger than input {x.shape} outside dim {dim}"
        )
    return Gather.apply(x, axis, index)


class IndexPut(Function):
    """base[key] = value, written into base's own array; the gradient of value is g[key]."""

    _not_view = True  # (its output is base's own array: see Function._not_view)

    @staticmethod
    def forward(ctx, base, value, key):
        try:
            base[key] = value
        except ValueError as e:  # (a value that does not broadcast: torch's RuntimeError)
            if "broadcast" not in str(e):
                raise
            raise BadShapeOrValue(f"index assignment: {e}") from None
        ctx.meta = (key, _shape(value))
        return base

    @staticmethod
    def backward(ctx, g):
        key, vshape = ctx.meta
        g_base = g_value = None
        if ctx.needs_input_grad[0]:  # the overwritten elements get none
            g_base = np.array(g)
            g_base[key] = 0
        if ctx.needs_input_grad[1]:
            g_value = unbroadcast(np.array(g[key]), vshape)
        return g_base, g_value, None

    @staticmethod
    def backward_graph(ctx, g):
        key, vshape = ctx.meta
        put = lambda b, v: IndexPut.forward(_graph.scratch(IndexPut), b.copy(), v, key)  # noqa: E731
        return _graph_scatter(ctx, g, put, vshape) + (None,)


def _graph_scatter(ctx, g, fwd, src_shape) -> tuple:
    """backward_graph of an op linear in (x, src) together (index_put, scatter, ...): the
    adjoint of each input's gradient is the forward ``fwd(x, src)`` with the other one zero."""
    zero = lambda shape: np.zeros(shape, g.dtype)  # noqa: E731
    need = ctx.needs_input_grad
    return (
        _graph.linear(ctx, g, lambda v: fwd(v, zero(src_shape)), 0) if need[0] else None,
        _graph.linear(ctx, g, lambda v: fwd(zero(g.shape), v), 1) if need[1] else None,
    )


def index_put_(x: Tensor, key, value) -> None:
    """x[key] = value recorded in the graph (value in the graph, or x already in it): x becomes
    this node's output; its earlier node is the base, which gets the gradient outside key.
    A node that saved x's old values refuses to backward, as PyTorch's version counter does."""
    from ember import _inplace

    base = x
    if x._ctx is not None:  # (IndexPut needs none of base's values: base shares x's array)
        base = Tensor._make(x.data, True, x._ctx, x._idx)
    # x's node keeps what it saved of x, unless torch's saved x itself (tanh's: it refuses);
    # nodes that used x before keep its old place in the graph
    _inplace._noting_write(x, None)
    out = IndexPut.apply(base, value, key)
    joined = x._ctx is None
    x._ctx, x._idx, x._requires_grad = out._ctx, out._idx, True
    hooks_moved(x)
    if joined:  # (x's views made outside the graph follow it in)
        _inplace.views_join(x)


def repeat(x, *sizes) -> Tensor:
    """Tile x: repeat(2, 1) doubles dim 0 (torch.Tensor.repeat)."""
    if type(x) is Tensor and _outside_graph(x):
        # the common call, counts as ints: np.tile's C-order copy (~5x less Python than the
        # reshape, expand and copy below, the same values and layout)
        reps = sizes[0] if len(sizes) == 1 and type(sizes[0]) in (tuple, list) else sizes
        if len(reps) >= x.data.ndim and builtins.all(type(s) is int and s >= 0 for s in reps):
            y = np.tile(x.data, reps)  # (all ones: NumPy's copy keeps x's order; torch's is C)
            return Tensor._make(
                y if y.flags.c_contiguous else np.ascontiguousarray(y), False, None, 0
            )
    x = _tensor_operand(x)
    sizes = _shape_arg(sizes[0] if len(sizes) == 1 else sizes, "repeat")
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor with {x.ndim} dims")
    if builtins.any(s < 0 for s in sizes):  # (expand would read -1 as "keep": a silent no-op)
        raise ValueError(f"repeat: negative repeat count in {sizes} for shape {x.shape}")
    lead = len(sizes) - x.ndim
    base = reshape(x, (1,) * lead + x.shape)
    expanded = expand(_unsqueeze_all(base), _interleave(sizes, base.shape))
    out = _view(Repeat, expanded, tuple(s * d for s, d in zip(sizes, base.shape)))
    if out.data.flags.c_contiguous and not builtins.all(s == 1 for s in sizes):
        return out  # (reshape's copy)
    # always a new C-contiguous tensor, as torch (reshape of an expanded x can be a view)
    return contiguous_copy(out) if not out.data.flags.c_contiguous else clone(out)


def _unsqueeze_all(x):
    """(a, b) -> (1, a, 1, b): a size-1 axis before each dim, for repeat's broadcasting."""
    shape = []
    for d in x.shape:
        shape += [1, d]
    return reshape(x, tuple(shape))


def _interleave(sizes, shape):
    out = []
    for s, d in zip(sizes, shape):
        out += [s, d]
    return tuple(out)


# ---- more elementwise math, reductions and selections (PyTorch's everyday extras) ----------


# the float-valued maps torch defines on complex input too (holomorphic: see ember/_complex.py)
_COMPLEX_OK = frozenset(
    "sin cos tan log1p expm1 log2 log10 rsqrt reciprocal square sinh cosh asin acos atan asinh "
    "acosh atanh".split()
)


def _float_operand(x, op: str):
    """Integer and bool inputs become the default dtype (float32) for float-valued ops."""
    x = _tensor_operand(x)
    kind = x.data.dtype.kind
    if kind in "iub":
        return cast(x, get_default_dtype())
    if kind == "c" and op not in _COMPLEX_OK:
        _no_kernel(op, x)
    elif kind not in "fc" and x.data.dtype != _lowp.bfloat16:
        raise TypeError(f"{op}: expected a numeric tensor, got dtype {x.dtype}")
    return x


class Elementwise(Function):
    """y = f(x), dy/dx = df(x, y): the smooth elementwise functions below share it."""

    @staticmethod
    def _values(x, f, df):  # (see _unary_apply)
        kernel = _KERNEL_OPS.get(df)  # (keyed by df: each op's derivative is its own lambda)
        # (a transposed or permuted x too: the kernel runs it as it lies, y in x's strides,
        # torch's layout; NumPy's float64 sin of one took 2.8-4.5x torch's time)
        if kernel is not None and _kernel_ok_laid(x):
            return _act_forward(kernel, x)
        return _quiet_all(f, x)

    @staticmethod
    def forward(ctx, x, f, df):
        kernel = _KERNEL_OPS.get(df)
        if kernel is not None and _kernel_ok(x):
            ctx.kernel, ctx._broadcast_grad = kernel, True  # (see _grad_kernel)
        y = Elementwise._values(x, f, df)
        # where the derivative reads only y, x is not kept, and where it reads only x, y is
        # not, as torch keeps one of them: an in-place write into the other afterwards leaves
        # the backward valid
        ctx.save_for_backward(
            _shape_only(x) if df in _FROM_OUTPUT else x,
            _shape_only(y) if df in _FROM_INPUT else _stand_in(y) if df in _FROM_SHAPE else y,
        )
        ctx.df = df
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        kernel = ctx.__dict__.get("kernel")
        if kernel is not None:
            dx = _grad_kernel(kernel, g, y if ctx.df in _FROM_OUTPUT else x)
            if dx is not None:
                return dx, None, None
        return g * ctx.df(x, y), None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, y0 = ctx.saved_tensors
        name = _DF_NAME.get(ctx.df)
        dgraph = _DF_GRAPH.get(name) or getattr(ctx.df, "graph", None)
        if dgraph is None:
            raise NotImplementedError(
                f"double backward through Elementwise ({name or 'a custom function'}) is not "
                "supported: its second derivative is not defined"
            )
        (x,) = _graph.inputs(ctx, x0)
        y = None if type(y0) is _ShapeOnly else _graph.output(ctx, y0)  # (see forward)
        return g * dgraph(x, y), None, None


def _in_double(f):
    """f evaluated in float64 and rounded once for narrower floats: within a last bit of
    PyTorch's float32 log2/log10/log1p/expm1/sinh/cosh, where NumPy's float32 loops are off by
    one or two in up to half of all inputs."""

    def g(x):
        if x.dtype.kind == "f" and x.dtype.itemsize < 8:
            return f(x.astype(np.float64)).astype(x.dtype)
        return f(x)

    return g


_SMOOTH = {  # name: (f, derivative as a function of x and y = f(x))
    "sin": (np.sin, lambda x, y: np.cos(x)),
    "cos": (np.cos, lambda x, y: -np.sin(x)),
    "tan": (np.tan, lambda x, y: 1 + y * y),
    "log1p": (_in_double(np.log1p), lambda x, y: 1 / (1 + x)),
    "expm1": (_in_double(np.expm1), lambda x, y: y + 1),
    "log2": (_in_double(np.log2), lambda x, y: 1 / (x * np.log(2).astype(x.dtype))),
    "log10": (_in_double(np.log10), lambda x, y: 1 / (x * np.log(10).astype(x.dtype))),
    "rsqrt": (lambda x: 1 / np.sqrt(x), lambda x, y: -0.5 * y * y * y),
    "reciprocal": (lambda x: 1 / x, lambda x, y: -y * y),
    "square": (np.square, lambda x, y: 2 * x),
    "sinh": (_in_double(np.sinh), lambda x, y: np.cosh(x)),
    "cosh": (_in_double(np.cosh), lambda x, y: np.sinh(x)),
    "asin": (np.arcsin, lambda x, y: 1 / np.sqrt(1 - x * x)),
    "acos": (np.arccos, lambda x, y: -1 / np.sqrt(1 - x * x)),
    "atan": (np.arctan, lambda x, y: 1 / (1 + x * x)),
}


_SMOOTH_KERNELS = ("sin", "cos", "log1p", "expm1", "rsqrt", "reciprocal", "square", "log2", "log10")
_SMOOTH_KERNELS += ("sinh", "cosh", "exp2", "atanh", "atan", "asin", "acos")
# (exp2 and atanh are _UNARY's: their kernels are found by derivative, see _KERNEL_OPS)


def _smooth(name: str):
    f, df = _SMOOTH[name]
    act = _ACT_ID[name] if name in _SMOOTH_KERNELS else None  # (Elementwise._values' kernel)

    def op(x) -> Tensor:
        if type(x) is not Tensor or x.data.dtype.kind != "f":  # (a float Tensor passes as is)
            x = _float_operand(x, name)
        if act is not None:
            return _kernel_unary(act, Elementwise, x, f, df)
        return _unary_apply(Elementwise, x, f, df)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (integer input becomes float32)."
    return op


sin, cos, tan = _smooth("sin"), _smooth("cos"), _smooth("tan")
log1p, expm1, log2, log10 = _smooth("log1p"), _smooth("expm1"), _smooth("log2"), _smooth("log10")
rsqrt, reciprocal, _square = _smooth("rsqrt"), _smooth("reciprocal"), _smooth("square")


def square(x) -> Tensor:
    """Elementwise x * x; integer and bool inputs stay integer (int64 for bool), as torch."""
    if type(x) is Tensor and not x._requires_grad:  # _kernel_unary's plain case, 3 frames less
        d = x.data
        if (d.dtype is _F32 or d.dtype is _F64) and d.flags.c_contiguous:
            return _plain(_C.activation(d, _SQUARE_ACT, 0.0, 1.0, None))
    if _kind(x) in "biu":
        a = _data(_tensor_operand(x))
        return Tensor(np.square(a.astype(np.int64) if a.dtype == np.bool_ else a))
    return _square(x)


_SQUARE_ACT = _ACT_ID["square"]
sinh, cosh = _smooth("sinh"), _smooth("cosh")
asin, acos, atan = _smooth("asin"), _smooth("acos"), _smooth("atan")

_DF_NAME = {df: name for name, (_, df) in (_UNARY | _SMOOTH).items()}
# the Elementwise ops with a C++ kernel each way (csrc/ops/activation.cpp), by derivative
_KERNEL_OPS = {(_UNARY | _SMOOTH)[name][1]: name for name in _SMOOTH_KERNELS}
_FROM_OUTPUT = {  # the derivatives that read only y = f(x)
    (_UNARY | _SMOOTH)[name][1]
    for name in ("tan", "expm1", "rsqrt", "reciprocal", "exp2", "erfinv", "frac", "deg2rad")
    + ("rad2deg",)
}
_FROM_SHAPE = {  # (of _FROM_OUTPUT) the constant derivatives: they read only y's shape
    (_UNARY | _SMOOTH)[name][1] for name in ("frac", "deg2rad", "rad2deg")
}
_FROM_INPUT = {  # the derivatives that read only x
    (_UNARY | _SMOOTH)[name][1]
    for name in ("sin", "cos", "log1p", "log2", "log10", "square", "sinh", "cosh", "asin")
    + ("acos", "atan", "erf", "erfc", "lgamma", "digamma", "i0", "sinc", "asinh", "acosh")
    + ("atanh",)
} | {_nan_to_num_grad}
_LN2, _LN10 = math.log(2), math.log(10)


def _sinc_graph(x):
    px = x * np.pi
    return (px * cos(px) - sin(px)) / (x * px)


_DF_GRAPH = {  # Elementwise's derivatives in Tensor ops, for create_graph: name: f'(x, y)
    "sin": lambda x, y: cos(x),
    "cos": lambda x, y: -sin(x),
    "tan": lambda x, y: 1 + y * y,
    "log1p": lambda x, y: 1 / (1 + x),
    "expm1": lambda x, y: y + 1,
    "log2": lambda x, y: 1 / (x * _LN2),
    "log10": lambda x, y: 1 / (x * _LN10),
    "rsqrt": lambda x, y: -0.5 * y * y * y,
    "reciprocal": lambda x, y: -y * y,
    "square": lambda x, y: 2 * x,
    "sinh": lambda x, y: cosh(x),
    "cosh": lambda x, y: sinh(x),
    "asin": lambda x, y: rsqrt(1 - x * x),
    "acos": lambda x, y: -rsqrt(1 - x * x),
    "atan": lambda x, y: 1 / (1 + x * x),
    "erf": lambda x, y: 2 / _SQRT_PI * exp(-x * x),
    "erfc": lambda x, y: -2 / _SQRT_PI * exp(-x * x),
    "erfinv": lambda x, y: _SQRT_PI / 2 * exp(y * y),
    "exp2": lambda x, y: y * _LN2,
    "asinh": lambda x, y: rsqrt(x * x + 1),
    # complex: the principal branch's derivative (1 / sqrt(z^2 - 1) flips sign), as _acosh_grad
    "acosh": lambda x, y: (
        1 / (sqrt(x - 1) * sqrt(x + 1)) if x.dtype.kind == "c" else rsqrt(x * x - 1)
    ),
    "atanh": lambda x, y: 1 / (1 - x * x),
    "frac": lambda x, y: _graph.constant(np.ones_like(y.data)),
    "lgamma": lambda x, y: digamma(x),
    "digamma": lambda x, y: polygamma(1, x),
    "i0": lambda x, y: _i1(x),
    "i1": lambda x, y: _masked(x == 0, 0.5, lambda t: i0(t) - _i1(t) / t, x),
    # at 0 sinc'(x) = -(pi^2 / 3) x + O(x^3): 0 there, and sinc''(0) = -pi^2 / 3 (torch's
    # constant 0 makes its second derivative 0)
    "sinc": lambda x, y: _masked(x * x * np.pi == 0, 0.0 - x * (np.pi**2 / 3), _sinc_graph, x),
    "deg2rad": lambda x, y: _graph.constant(np.full_like(y.data, np.pi / 180)),
    "rad2deg": lambda x, y: _graph.constant(np.full_like(y.data, 180 / np.pi)),
}


class Piecewise(Function):
    """Piecewise-constant functions (sign, floor, ...): zero gradient, as PyTorch."""

    @staticmethod
    def _values(x, f):  # (see _unary_apply)
        return f(x)

    @staticmethod
    def forward(ctx, x, f):
        node = _PIECEWISE_NODES.get(f)
        if node is not None:
            ctx._named = node
        return f(x)

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g), None

    @staticmethod
    def backward_graph(ctx, g):
        return _graph.constant(np.zeros_like(g.data)), None


_PIECEWISE_NODES = {}  # a Piecewise f: torch's node (FloorBackward0, SignBackward0, ...)


def _piecewise(name: str, f, bools: bool = False):
    kinds = "iubf" if bools else "iuf"  # torch's floor / ceil / trunc / round refuse bool
    _PIECEWISE_NODES[f] = f"{name.capitalize()}Backward0"

    def op(x) -> Tensor:
        x = _tensor_operand(x)
        if x.data.dtype.kind not in kinds and x.data.dtype != _lowp.bfloat16:
            raise not_implemented(name, x.dtype)
        return _unary_apply(Piecewise, x, f)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name}; its gradient is zero."
    return op


def _sign(a: np.ndarray) -> np.ndarray:
    """np.sign, but 0 at NaN as PyTorch's (x > 0) - (x < 0)."""
    if a.dtype == np.bool_:
        return a.copy()
    if _kernel_ok(a):  # (np.sign and a NaN pass: ~4x slower)
        return _act_forward("sign", a)
    s = np.sign(a)
    if s.dtype.kind != "f":
        return s
    if type(s) is np.ndarray:  # (fresh: its NaNs, if any, zeroed in place; ~2 us less)
        nan = np.isnan(s)
        if nan.any():
            s[nan] = 0
        return s
    return np.where(np.isnan(s), 0, s).astype(s.dtype, copy=False)  # (a NumPy scalar)


sign = _piecewise("sign", _sign, bools=True)
floor = _piecewise("floor", np.floor)
ceil = _piecewise("ceil", np.ceil)
trunc = _piecewise("trunc", np.trunc)
_round = _piecewise("round", np.round)


def round(x, *, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round half to even (to ``decimals`` places), as torch.round; its gradient is zero."""
    if type(decimals) is not int:  # (torch's TypeError for a bool or float)
        decimals = _index_dim(decimals, "round", "decimals")
    if decimals == 0:
        return _round(x)
    x = _tensor_operand(x)
    if x.data.dtype.kind in "biuc":  # (torch's round_cpu: floats only)
        raise not_implemented(f"round: decimals={decimals}", x.data.dtype)
    if x.data.dtype.itemsize == 2:  # float16 / bfloat16: scaled and rounded in float32, as torch
        return Piecewise.apply(
            x, lambda a: np.round(a.astype(np.float32), decimals).astype(a.dtype)
        )
    return Piecewise.apply(x, lambda a: np.round(a, decimals))


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        if x.dtype.char in "eE":  # float16 / bfloat16: in float32, rounded once
            lse = LogSumExp.forward(ctx, x.astype(np.float32), axes, keepdim).astype(x.dtype)
            ctx.save_for_backward(x, lse if keepdim else np.expand_dims(lse, axes))
            return lse
        run = dim_run(x, axes)
        if run is not None:  # float32/float64 over consecutive dims: one C++ pass, threaded
            lse = _C.logsumexp_dim(x, run[0], run[1], True)
        else:
            m = np.max(x, axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
            m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) rows: no shift
            with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
                lse = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, lse)
        ctx.meta = (axes, keepdim)
        return _c_result(lse if keepdim else np.squeeze(lse, axis=axes))

    @staticmethod
    def backward(ctx, g):
        x, lse = ctx.saved_tensors
        axes, keepdim = ctx.meta
        if not keepdim and axes:
            g = np.expand_dims(g, axes)
        # torch's rule exactly: rows whose result is +-inf or NaN get NaN gradients
        with np.errstate(invalid="ignore"):
            p = np.exp(x - lse)
        return g * p, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, lse0 = ctx.saved_tensors
        axes, keepdim = ctx.meta
        (x,) = _graph.inputs(ctx, x0)
        lse = _graph.output(ctx, lse0 if keepdim else np.squeeze(lse0, axis=axes))
        return g.reshape(lse0.shape) * exp(x - lse.reshape(lse0.shape)), None, None


def logsumexp(x, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over dim, computed without overflow."""
    if dim is None:  # (torch's dim is required: None is not "every dim")
        raise TypeError("logsumexp(): argument 'dim' must be tuple of ints, not NoneType")
    if keepdim.__class__ is not bool:
        _refuse_keepdim("logsumexp", keepdim)
    if type(x) is Tensor and type(dim) is int and _outside_graph(x):
        # one float32/float64 dim outside the graph: the kernel straight (~15 us less at 32x32)
        a = x.data
        if (
            (a.dtype is _F32 or a.dtype is _F64)
            and a.flags.c_contiguous
            and -a.ndim <= dim < a.ndim
        ):
            d = dim % a.ndim
            return Tensor._make(_C.logsumexp_dim(a, d, d + 1, bool(keepdim)), False, None, 0)
    x = _float_operand(x, "logsumexp")
    if isinstance(dim, list | tuple) and not dim:  # (torch refuses it, not reduces all)
        raise BadShapeOrValue(f"logsumexp: dim={dim!r} names no dimension (shape {x.shape})")
    return LogSumExp.apply(x, _axes(dim, x.ndim, "logsumexp"), keepdim)


class Prod(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdim):
        # float32/float64 contiguous: the C++ product (threaded, in lanes; NumPy's multiplies
        # one element after another), else NumPy's
        axes = tuple(range(x.ndim)) if axis is None else (axis,)
        run = dim_run(x, axes) if x.ndim else None
        frun = _f_run(x, axes) if run is None else None
        if run is not None:
            y = _C.prod_dim(x, run[0], run[1], keepdim and axis is not None)
        elif frun is not None:  # (x.t(): the same over x.T's dims)
            y = _c_result(_C.prod_dim(frun[0], frun[1], frun[2], keepdim and axis is not None).T)
        else:
            y = _c_result(np.prod(x, axis=axis, keepdims=keepdim))
        ctx.save_for_backward(x, y)
        ctx.meta = (axis, keepdim)
        return y

    @staticmethod
    def backward(ctx, g):
        # PyTorch's rule, bit for bit: prod / x_i when x has no zero (so a NaN, or an inf over
        # an inf, spreads as there), else the product of all the others.
        x, y = ctx.saved_tensors
        axis, keepdim = ctx.meta
        if x.ndim == 0:
            return g, None, None
        flat = axis is None
        if not flat and not keepdim:
            g, y = np.expand_dims(g, axis), np.expand_dims(y, axis)
        zeros = np.count_nonzero(x == 0)
        if zeros == 0:
            return g * (y / x), None, None
        if flat and zeros > 1:  # every product of the others holds a zero
            return np.zeros_like(x), None, None
        xs = x.reshape(-1) if flat else x
        ax = 0 if flat else axis
        # exclusive products from both ends: exact where x has zeros, unlike prod / x_i
        ones = np.ones_like(np.take(xs, [0], axis=ax))
        left = _cumprod(np.concatenate([ones, np.delete(xs, -1, axis=ax)], axis=ax), ax)
        rev = np.flip(xs, axis=ax)
        right = _cumprod(np.concatenate([ones, np.delete(rev, -1, axis=ax)], axis=ax), ax)
        others = left * np.flip(right, axis=ax)
        return g * others.reshape(x.shape), None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, y0 = ctx.saved_tensors
        axis, keepdim = ctx.meta
        if x0.ndim == 0:
            return g, None, None
        (x,) = _graph.inputs(ctx, x0)
        if axis is not None and not keepdim:
            g = unsqueeze(g, axis)
        if np.any(x0 == 0):  # the products of the others, recorded: exact at zeros, as torch's
            xs = reshape(x, (-1,)) if axis is None else x
            ax = 0 if axis is None else axis
            others = _exclusive_prods(xs, ax) * flip(_exclusive_prods(flip(xs, (ax,)), ax), (ax,))
            return g * reshape(others, x0.shape), None, None
        y = _graph.output(ctx, y0)
        if axis is not None and not keepdim:
            y = unsqueeze(y, axis)
        return g * (y / x), None, None


def _exclusive_prods(x, ax: int) -> Tensor:
    """The recorded products of the entries before each one along ax (1 at the first)."""
    n = x.shape[ax]
    # (a constant: narrow(x) * 0 + 1 made NaN of an inf first entry, and NaN along the line)
    ones = Tensor(np.ones(x.shape[:ax] + (1,) + x.shape[ax + 1 :], x.data.dtype))
    return cumprod(cat([ones, narrow(x, ax, 0, n - 1)], ax), ax)


def prod(x, dim=_NO_DIM, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Product of all elements, or along one dim (torch.prod)."""
    dim = _given_dim(dim, None, "prod")
    if keepdim.__class__ is not bool:
        _refuse_keepdim("prod", keepdim)
    if dtype is None and type(x) is Tensor and type(dim) is int and _outside_graph(x):
        # one dim of a float32/float64 C-contiguous tensor: Prod's kernel call straight
        a = x.data
        nd = a.ndim
        if (a.dtype is _F32 or a.dtype is _F64) and a.flags.c_contiguous and -nd <= dim < nd:
            d = dim % nd
            return Tensor._make(_C.prod_dim(a, d, d + 1, bool(keepdim)), False, None, 0)
    if dim is None and not keepdim and dtype is None and type(x) is Tensor and _outside_graph(x):
        a = x.data  # every element's product: Prod's kernel call straight (~2 us less at 32x32)
        if (a.dtype is _F32 or a.dtype is _F64) and a.flags.c_contiguous and a.ndim:
            return _plain(_C.prod_dim(a, 0, a.ndim, False))
    x = _as_dtype(x, dtype)
    if dim is None or x.ndim == 0:
        _axes(dim, x.ndim, "prod")
        return _int_total(Prod.apply(x, None, False), dtype)
    axis = _axis(dim, x.ndim, "prod")
    return named(_int_total(Prod.apply(x, axis, keepdim), dtype), "ProdBackward1")


def _scan(x: np.ndarray, axis: int, reverse: bool) -> np.ndarray:
    """cumsum along axis (from the end when reverse): float32/float64 by the C++ scan, which
    sums in double as PyTorch's (NumPy's runs ~8x slower along the last dim, ~100x along the
    first, and sums float32 in float32)."""
    if x.dtype.char in "eE":  # float16 / bfloat16: the float32 scan, rounded (as torch's)
        return _scan(x.astype(np.float32), axis, reverse).astype(x.dtype)
    if x.dtype.char not in "fd":
        if reverse:
            return np.flip(np.cumsum(np.flip(x, axis=axis), axis=axis), axis=axis)
        return np.cumsum(x, axis=axis)
    shape = x.shape
    x3 = np.ascontiguousarray(x).reshape(
        math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
    )
    return _C.cumsum(x3, reverse).reshape(shape)


class CumSum(Function):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return _scan(x, axis, False)

    @staticmethod
    def backward(ctx, g):
        return _scan(g, ctx.axis, True), None

    @staticmethod
    def backward_graph(ctx, g):
        axis = ctx.axis
        return _graph.linear(ctx, g, lambda v: _scan(v, axis, False)), None


def cumsum(x, dim: int, *, dtype=None) -> Tensor:
    """Running sum along dim (torch.cumsum)."""
    if dtype is None and type(x) is Tensor and type(dim) is int:
        a = x.data
        nd = a.ndim
        if -nd <= dim < nd and a.dtype.char in "fd":
            if not x._requires_grad or _outside_graph(x):
                # the common case: _scan's kernel call straight, along dim of x as it is
                c = a if a.flags.c_contiguous else np.ascontiguousarray(a)
                return _plain(_C.cumsum(c, False, dim))
            return CumSum.apply(x, dim % nd)  # (the node the general path makes for x)
        if -nd <= dim < nd and (a.dtype is _I32 or a.dtype is _I64 or a.dtype == np.bool_):
            # integers and bools: torch's int64 running sums, wrapping (NumPy's ~1.5x slower)
            return _plain(_C.icumsum(a if a.flags.c_contiguous else np.ascontiguousarray(a), dim))
    x = _as_dtype(x, dtype)
    if x.data.dtype == np.bool_:
        x = x.long()
    axis = _axis(dim, builtins.max(x.ndim, 1), "cumsum")
    if x.ndim == 0:
        return _int_total(x.clone(), dtype)
    return _int_total(CumSum.apply(x, axis), dtype)


_NORM2_P = (str, int, float)


def norm(x, p="fro", dim=None, keepdim: bool = False) -> Tensor:
    """Vector p-norm over dim (all elements by default): p = 'fro' or 2, 1, inf, -inf, or any
    number, negative too (sum(|x|^p)^(1/p), torch.norm). The gradient at a zero vector is
    zero, as PyTorch's."""
    if keepdim.__class__ is not bool:
        _refuse_keepdim("norm", keepdim)
    if type(p) in _NORM2_P and p in (2, "fro") and type(x) is Tensor and x.data.dtype.char in "fd":
        if _outside_graph(x):  # the common case: Norm2.forward straight
            a = x.data
            if dim is None and not keepdim and a.size >= 1024 and a.flags.c_contiguous:
                # x.norm(): Norm2.forward's kernel sum, rooted by math.sqrt in place (np.sqrt's
                # call and the frames cost ~1.7 of 3 us at 32x32). The same bits: a double's
                # correctly rounded root of a float32 rounds to float32's correctly rounded one.
                s = _C.sum_dim(a, 0, a.ndim, False, True)
                s[()] = math.sqrt(s)
                return Tensor._make(s, False, None, 0)
            axes = _axes(dim, x.data.ndim, "norm")
            y = Norm2.forward(Norm2.__new__(Norm2), x.data, axes, keepdim)
            return Tensor._make(y, False, None, 0)
    x = _tensor_operand(x)
    if x.data.dtype.kind == "c" and p == "nuc":  # not a norm of the moduli: linalg refuses it
        return _linalg.matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim)
    if x.data.dtype.kind == "c":  # of complex entries: the norm of their moduli
        x = abs(x)
    if not _lowp.is_float(x.data.dtype):
        raise BadDtype(f"norm: input dtype should be floating point, got {x.dtype}")
    if not (p is None or isinstance(p, str | int | float | np.number)):  # (== compared a tensor)
        raise TypeError(f"norm: p must be a number or a str, got {type(p).__name__}")
    if p == "fro" or p is None:
        p = 2
    if p == "nuc":  # a matrix norm: over dim, or the whole of a 2-D tensor, as torch.norm
        if dim is None and x.ndim != 2:
            raise ValueError(f"norm: p='nuc' needs a 2-D input or a dim pair, got {x.shape}")
        return _linalg.matrix_norm(x, "nuc", (-2, -1) if dim is None else dim, keepdim)
    if isinstance(p, str):
        raise ValueError(f"norm: p should be 'fro' or a number, got {p!r}")
    axes = _axes(dim, x.ndim, "norm")
    if p == 2:
        return Norm2.apply(x, axes, keepdim)
    # (torch.norm runs linalg.vector_norm for every p, and names its node so)
    return named(NormP.apply(x, float(p), axes, keepdim), "LinalgVectorNormBackward0")


class NormP(Function):
    """sum(|x|^p)^(1/p) for p other than 2; p = 0 counts the non-zeros, +-inf take max/min |x|.
    The gradient is PyTorch's norm_backward, branch for branch (sgn(x) for p = 1, none for
    p = 0, shared among the extremes and NaNs for +-inf)."""

    @staticmethod
    def forward(ctx, x, p, axes, keepdim):
        ctx.meta = (p, axes, keepdim)
        if p == 0:
            y = np.sum(x != 0, axis=axes, keepdims=keepdim).astype(x.dtype)
        elif math.isinf(p):
            y = (np.max if p > 0 else np.min)(np.abs(x), axis=axes, keepdims=keepdim)
        elif p == 1:
            y = np.sum(np.abs(x), axis=axes, keepdims=keepdim)
        else:
            with np.errstate(divide="ignore"):  # p < 0: |0|^p is inf, and the norm is 0
                y = np.sum(np.abs(x) ** p, axis=axes, keepdims=keepdim) ** (1 / p)
        y = _c_result(np.asarray(y))
        ctx.save_for_backward(x, y)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        p, axes, keepdim = ctx.meta
        if p == 0:  # no gradient (x's stays None), as PyTorch's undefined one
            return None, None, None, None
        g = _expand_grad(g, x.shape, axes, keepdim)
        if p == 1:
            return _sign(x) * g, None, None, None
        y = _expand_grad(y, x.shape, axes, keepdim)
        if math.isinf(p):  # the extremes (and NaNs) share the gradient
            mask = (np.abs(x) == y) | np.isnan(x)
            count = _expand_grad(np.sum(mask, axis=axes, keepdims=keepdim), x.shape, axes, keepdim)
            return (_sign(x) * (g / count * mask)).astype(x.dtype, copy=False), None, None, None
        if p < 1:
            scaled = _sign(x) * np.where(x == 0, 0, np.abs(x) ** (p - 1))
            return (scaled * g * y ** (1 - p)).astype(x.dtype, copy=False), None, None, None
        scaled = _sign(x) * np.abs(x) ** (p - 1) if p < 2 else x * np.abs(x) ** (p - 2)
        scale = np.where(y == 0, 0, g / y ** (p - 1))
        return (scaled * scale).astype(x.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, y0 = ctx.saved_tensors
        p, axes, keepdim = ctx.meta
        if p == 0:
            return None, None, None, None
        (x,) = _graph.inputs(ctx, x0)
        keep = tuple(1 if i in axes else n for i, n in enumerate(x0.shape))
        g = g.reshape(keep)
        if math.isinf(p):  # g times a constant: sgn(x) on the extremes over their count
            return g * _graph.constant(NormP.backward(ctx, np.ones_like(y0))[0]), None, None, None
        sign = _graph.constant(_sign(x0))
        if p == 1:
            return sign * g, None, None, None
        if p < 1:  # as backward: sgn(x) |x|^(p-1) g y^(1-p), 0 where x == 0
            y = _graph.output(ctx, y0).reshape(keep)
            scaled = _masked(x == 0, 0.0, lambda t: abs(t) ** (p - 1), x)
            return sign * scaled * g * y ** (1 - p), None, None, None
        # as backward: sgn(x) |x|^(p-1) g / y^(p-1), 0 where y == 0
        y = _graph.output(ctx, y0).reshape(keep)
        scale = where(_graph.constant((y0 == 0).reshape(keep)), 0.0, g / y ** (p - 1))
        return sign * abs(x) ** (p - 1) * scale, None, None, None


class Norm2(Function):
    """The 2-norm in one node: the same sums and roots as |x|^2 -> sum -> ^(1/2), without the
    pointwise powers and their gradient passes."""

    @staticmethod
    def forward(ctx, x, axes, keepdim):
        if x.dtype.char in "eE":  # float16 / bfloat16: in float32 (no overflow), y rounded
            s = reduce_sum(x.astype(np.float32), axes, keepdim, square=True)
            y = _c_result(np.asarray(np.sqrt(s).astype(x.dtype)))
        else:
            y = _c_result(np.asarray(np.sqrt(reduce_sum(x, axes, keepdim, square=True))))
        # torch's two saved values: its input and its result, the output array itself (a 0-d
        # one too: NumPy's scalar root was saved apart from it, so hooks skipped it and a
        # write to the result went unseen)
        ctx.save_for_backward(x, y)
        ctx.meta = (axes, keepdim)
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        axes, keepdim = ctx.meta
        # g * (x / norm) as PyTorch: 0 at a zero vector (x / inf), NaN only at an infinite
        # entry; two passes over x, the reduced operands broadcast rather than expanded
        if not keepdim and axes:
            y, g = np.expand_dims(y, axes), np.expand_dims(g, axes)
        dx = np.divide(x, np.where(y == 0, np.inf, y).astype(x.dtype, copy=False))
        if dx.ndim == 0:  # a 0-d x: NumPy returned a scalar, which out= cannot take
            return np.asarray(dx * g, x.dtype), None, None
        return np.multiply(dx, g, out=dx), None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, y0 = ctx.saved_tensors
        axes, keepdim = ctx.meta
        (x,) = _graph.inputs(ctx, x0)
        keep = tuple(1 if i in axes else n for i, n in enumerate(x0.shape))
        y = _graph.output(ctx, y0).reshape(keep)
        # g * x / norm, 0 at a zero vector (x is 0 there: divide by 1 instead)
        safe = where(_graph.constant((y0 == 0).reshape(keep)), 1.0, y)
        return g.reshape(keep) * x / safe, None, None


def _root(p):
    """s^(1/p), with the gradient 0 where s = 0 (PyTorch's choice at a zero vector)."""
    return (
        lambda s: s ** (1.0 / p),
        lambda s, y: np.where(s == 0, 0, y / (p * s)).astype(s.dtype),
    )


@functools.lru_cache(maxsize=32)
def _triangle_mask(n: int, m: int, d: int, lower: bool) -> np.ndarray:
    """tril/triu's (n, m) keep-mask, read-only and cached: causal masks repeat every step."""
    keep = np.tri(n, m, d, dtype=bool) if lower else ~np.tri(n, m, d - 1, dtype=bool)
    keep.flags.writeable = False
    return keep


class Tril(Function):
    """tril (triu: Triu) of a fresh float matrix, recorded: the where() node's forward and
    backward (the kept elements and their gradients, zeros elsewhere) as one node without
    where's operand checks (overhead43: a 32x32 ~7 -> ~3 us)."""

    @staticmethod
    def forward(ctx, x, keep):
        ctx.keep = keep
        return _C.where(keep, x, 0.0)

    @staticmethod
    def backward(ctx, g):
        return _where(ctx.keep, g, 0), None

    @staticmethod
    def backward_graph(ctx, g):
        return _graph.linear(ctx, g, lambda v: _where(ctx.keep, v, 0)), None


class Triu(Tril):
    pass


def _triangle(name: str, lower: bool):
    def op(x, diagonal: int = 0) -> Tensor:
        if type(x) is Tensor and type(diagonal) is int and -_LONG <= diagonal < _LONG:
            a = x.data  # the common call, a fresh float matrix: where()'s kernel straight,
            # its tests made here (~3 us of where's operand checks)
            if (
                a.ndim == 2
                and (a.dtype is _F32 or a.dtype is _F64)
                and a.base is None
                and a.size >= _KERNEL_MIN
                and a.flags.c_contiguous
            ):
                keep = _triangle_mask(a.shape[0], a.shape[1], diagonal, lower)
                if not x._requires_grad:
                    return _plain(_C.where(keep, a, 0.0))
                return node.apply(x, keep)
        x = _tensor_operand(x)
        if x.ndim < 2:
            raise BadShapeOrValue(f"{name}: input must have at least 2 dims, got shape {x.shape}")
        d = _index_dim(diagonal, name, "diagonal")  # (True is not diagonal 1, as torch)
        keep = _triangle_mask(x.shape[-2], x.shape[-1], d, lower)
        # a float zero as a Python number: _C.where's branch-free kernel takes it (a 0-d
        # array sent float32 rows through np.where, ~4x slower); other dtypes keep theirs
        zero = 0.0 if x.dtype.kind == "f" else np.zeros((), dtype=x.dtype)
        return named(where(keep, x, zero), node_name)

    node_name = name.capitalize() + "Backward0"  # (torch's TrilBackward0, TriuBackward0)
    node = Tril if lower else Triu

    op.__name__ = name
    op.__doc__ = f"The {name[-1]} triangle of the last two dims, from diagonal on (torch.{name})."
    return op


tril = _triangle("tril", lower=True)
triu = _triangle("triu", lower=False)


_REVERSED = slice(None, None, -1)  # (_ALL: below)


def _flip_copy(a: np.ndarray, axes) -> np.ndarray:
    """a reversed along axes, a copy laid out as torch's flip lays it (empty_like(a) with
    preserve_format: C order for a C-contiguous a). One NumPy copy of the reversed view;
    cloning the view instead costs ~10x, its negative strides read as a transposed layout."""
    if a.flags.c_contiguous and a.ndim and (a.ndim - 1) in axes and a.dtype.char in _SELECT_CHARS:
        y = _C.flip_last(a)  # (NumPy's copy of a reversed last dim: one element at a time, ~3x)
        axes = tuple(d for d in axes if d != a.ndim - 1)
        return _strides.keep_size1(y if not axes else _flip_copy(y, axes), a)
    index = [_ALL] * a.ndim  # (a list, not a genexpr: its frames were ~1 us of a 32x32 flip)
    for d in axes:
        index[d] = _REVERSED
    v = a[tuple(index)]
    if a.flags.c_contiguous:
        return _strides.keep_size1(v.copy(), a)
    out = _strides.empty(a.shape, _strides.preserved(a), a.dtype)
    np.copyto(out, v)
    return out


class Flip(Function):
    # a full sum's gradient arrives unfilled (_reads_broadcast): one value's flip is a fill,
    # where the filled gradient took a fill and a flipped copy
    _broadcast_grad = True

    @staticmethod
    def forward(ctx, x, axes):
        ctx.axes = axes
        return _flip_copy(x, axes)

    @staticmethod
    def backward(ctx, g):  # flip is its own adjoint
        if (one := _one_value(g)) is not None:  # one value broadcast: see above
            return _value_filled(g.shape, one), None
        return _flip_copy(g, ctx.axes), None

    @staticmethod
    def backward_graph(ctx, g):
        return flip(g, ctx.axes), None


def flip(x, dims) -> Tensor:
    """Reverse the order along dims (torch.flip): a copy, as torch's."""
    if type(x) is Tensor and type(dims) in (tuple, list) and len(dims) == 1 and _outside_graph(x):
        d, nd = dims[0], x._data.ndim  # overhead42: one int dim outside the graph (~4.7 ->
        if type(d) is int and -nd <= d < nd:  # ~2.2 us of a 32x32: the checks below)
            return _plain(_flip_copy(x._data, (d % nd,)))
    x = _tensor_operand(x)
    if not isinstance(dims, list | tuple):  # (torch's dims is a tuple of ints: not None, not
        # one int, x.flip(1)'s varargs excepted)
        raise TypeError(
            f"flip(): argument 'dims' (position 2) must be tuple of ints, not {_tname(dims)}"
        )
    # (dims=[] flips nothing, as torch's: not _axes' "every dim" of a reduction)
    axes = () if isinstance(dims, list | tuple) and not dims else _axes(dims, x.ndim, "flip")
    if _outside_graph(x):
        return Tensor._make(_flip_copy(x.data, axes), False, None, 0)
    return Flip.apply(x, axes)


class IndexSelect(Function):
    """x's slices at a 1-D int64 index along axis: _C.index_select (its index range-checked in
    C++), and its adjoint, the slices of g added at the index in index order (deterministic)."""

    @staticmethod
    def forward(ctx, x, axis, index):
        ctx.meta = (x.shape, axis, index)
        return _C.index_select(x if x.flags.c_contiguous else np.ascontiguousarray(x), index, axis)

    @staticmethod
    def backward(ctx, g):
        shape, axis, index = ctx.meta
        if g.dtype.char not in "fd":  # (complex: NumPy's scatter-add, the same order)
            out = np.zeros(shape, g.dtype)
            np.add.at(out, (slice(None),) * axis + (index,), g)
            return out, None, None
        dx = _C.index_select_backward(np.ascontiguousarray(g), index, axis, shape[axis])
        return dx, None, None

    @staticmethod
    def backward_graph(ctx, g):
        index, axis = ctx.meta[2], ctx.meta[1]
        return _graph.linear(ctx, g, lambda v: np.take(v, index, axis)), None, None


# x's dtypes _C.index_select copies (numbers of 1 to 8 bytes; others take getitem's path)
_SELECT_CHARS = frozenset("?bBhHiIlLqQefdF")


def index_select(x, dim: int, index) -> Tensor:
    """x's entries at the 1-D integer ``index`` along dim (torch.index_select)."""
    if type(x) is Tensor and type(index) is Tensor and type(dim) is int:
        # the common call straight to the kernel, which range-checks the index (~8 us less
        # at 32x32 than the checks below and getitem's)
        a, i = x.data, index.data
        nd = a.ndim
        if (
            i.dtype is _I64
            and i.ndim == 1
            and i.flags.c_contiguous
            and -nd <= dim < nd
            and a.dtype.char in _SELECT_CHARS
        ):
            if _outside_graph(x):
                if not a.flags.c_contiguous:
                    a = np.ascontiguousarray(a)
                return Tensor._make(_C.index_select(a, i, dim % nd), False, None, 0)
            return IndexSelect.apply(x, dim % nd, i)
    x = _tensor_operand(x)
    index = np.asarray(_data(index))
    if x.ndim == 0 and index.size == 1:  # a scalar selects itself with index 0, as PyTorch
        return reshape(index_select(reshape(x, (1,)), dim, index.reshape(1)), ())
    if x.ndim == 0:  # (torch's RuntimeError)
        _axes(dim, 0, "index_select")
        raise BadShapeOrValue(
            f"index_select(): Index to scalar can have only 1 value, got {index.size} value(s)"
        )
    axis = _axis(dim, x.ndim, "index_select")
    if index.ndim > 1:
        raise TypeError(f"index_select: index must be a 1-D integer array, got {index.shape}")
    index = np.ascontiguousarray(_int_array(index, "index_select", int32=True).reshape(-1))
    if x.dtype.char in _SELECT_CHARS:
        return IndexSelect.apply(x, axis, index)  # (no negative indices in torch: C++ checks)
    n = x.shape[axis]
    if index.size and (index.min() < 0 or index.max() >= n):  # no negative indices in torch
        raise IndexError(f"index_select: index out of range for dim {dim} of size {n}")
    return getitem(x, (slice(None),) * axis + (index,))


def unbind(x, dim: int = 0) -> tuple:
    """The slices along dim, that dim removed (torch.unbind)."""
    x = _tensor_operand(x)
    if not x.ndim:  # (torch's IndexError, whatever dim)
        raise IndexError("unbind: Dimension specified as 0 but tensor has no dimensions")
    axis = _axis(dim, x.ndim, "unbind")
    if x._requires_grad and (_state.enabled or _function._fw_level is not None):
        return _function.multi_view(Unbind.apply(x, axis))
    return _outside_views(_slices(x.data, axis), x)


SortResult = namedtuple("SortResult", ["values", "indices"])
_new_tuple = tuple.__new__


def sort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """Values sorted along dim and their indices (NaN sorts last ascending, first descending;
    equal values in the order PyTorch's stable or unstable CPU sort gives)."""
    rows = None if stable else _rows_straight(x, dim)
    if rows is not None and (rows.size <= 65536 or _radix_lines(rows, 1)):
        if x._requires_grad and not _outside_graph(x):
            res = _graph_result(x, _C.sort_indices(rows, descending), "SortBackward0")
        else:
            res = _straight_result(x, _C.sort_indices(rows, descending, True))
        a = x.data
        return _sort_laid(res, a) if a.base is not None and not a.flags.c_contiguous else res
    if type(x) is not Tensor or x.data.dtype.kind == "c":  # (_real_only's test, in here)
        _complex.refuse("sort", _data(x))
    x = _tensor_operand(x)
    axis = _axis(dim, builtins.max(x.ndim, 1), "sort")
    if x.ndim == 0:
        return SortResult(x.clone(), Tensor(np.zeros((), np.int64)))
    a = x.data
    if (
        not stable
        and a.size
        and a.dtype.char in "fd"
        and (a.size <= 65536 or _radix_lines(a, axis))
    ):
        # PyTorch's unstable order by _C straight: below ~64K elements NumPy's argsort and the
        # tie checks of _argsort cost more (~4x at 32x32) than sorting every line in C++
        idx = _from_rows(_C.sort_indices(_select_rows(a, axis), descending), a.shape, axis)
    else:
        # PyTorch radix-sorts long 1-D integer tensors ascending, which is stable.
        radix = x.ndim == 1 and x.numel() >= 32768 and a.dtype.kind in "iu" and not descending
        rows = _select_rows(a, axis) if a.size and a.dtype.kind != "c" else None
        if rows is not None and (stable or radix):
            # the stable order is unique: _C's radix sort of order keys gives it (~2-10x
            # NumPy's stable argsort, which _argsort would run after its quicksort)
            idx = _from_rows(_C.stable_sort_indices(rows, descending), a.shape, axis)
        elif rows is not None and a.dtype.kind in "biu":
            # integers hold ties on most lines: PyTorch's introsort order straight by _C,
            # not after NumPy's argsort and the tie checks
            idx = _from_rows(_C.sort_indices(rows, descending), a.shape, axis)
        else:
            idx = _argsort(a, axis, descending, stable or radix)
    idx = np.ascontiguousarray(idx)  # (a moved axis' lines: torch's are laid out as x)
    res = SortResult(
        named(_take_along(x, axis, idx), "SortBackward0"), Tensor._make(idx, False, None, 0)
    )
    return res if a.flags.c_contiguous else _sort_laid(res, a)


def _sort_laid(res: SortResult, a: np.ndarray) -> SortResult:
    """sort's values and indices laid out as torch's: as its input ``a`` (a preserve_format
    clone of it, sorted in place)."""
    want = _strides.preserved(a)
    for t in res:
        d = t.data
        if tuple(s // d.itemsize for s in d.strides) != want:
            out = _strides.empty(d.shape, want, d.dtype)
            np.copyto(out, d)
            t.data = out
    return res


def _rows_straight(x, dim):
    """x's lines along dim as C-contiguous (rows, n) for the selection kernels' values-and-indices
    call (the generic path's checks, moves and second gather are ~6 us of a 32x32 sort or
    topk): a float32/float64 Tensor, not empty, dim its last (an int); else None. (A Tensor
    in the graph too: its caller then takes the values by the Gather node, _graph_result.)"""
    if type(x) is not Tensor or type(dim) is not int:
        return None
    a = x.data
    nd = a.ndim
    if not nd or (dim != -1 and dim != nd - 1) or (a.dtype is not _F32 and a.dtype is not _F64):
        return None
    if not a.size:
        return None
    if nd == 2 and a.flags.c_contiguous:
        return a  # (its lines already: no conversion or view to make)
    return np.ascontiguousarray(a).reshape(-1, a.shape[-1])


def _graph_result(x: Tensor, idx: np.ndarray, name: str) -> SortResult:
    """SortResult of the kernel's index lines for an x in the graph: the values by the Gather
    node along x's last dim, as the general path's _take_along takes them (the node named as
    torch's, ``name``)."""
    a = x.data
    if a.ndim != 2:
        idx = idx.reshape(a.shape[:-1] + (idx.shape[1],))
    return SortResult(named(Gather.apply(x, a.ndim - 1, idx, unique=True), name), _plain(idx))


def _straight_result(x: Tensor, pair) -> SortResult:
    """SortResult of the kernel's (values, indices) lines, in x's leading shape (a 2-D x's
    lines are its shape already)."""
    v, idx = pair
    if x.data.ndim != 2:
        shape = x.data.shape[:-1] + (v.shape[1],)
        v, idx = v.reshape(shape), idx.reshape(shape)
    # (tuple.__new__: the namedtuple's own __new__ is a Python frame, ~0.25 us)
    return _new_tuple(SortResult, (_plain(v), _plain(idx)))


def _radix_lines(a: np.ndarray, axis: int) -> bool:
    """Whether _C.sort_indices beats NumPy's argsort (and _argsort's tie checks) on big a: float32
    lines (it radix-sorts a line of distinct values, ~5x NumPy's argsort with the checks; a line
    with ties it sorts by its keys, which the NumPy route runs too after its own argsort: ~2.5x
    at 16x100000 and 1000x5000), or float64 lines of up to 112 (ranks of distinct
    values: ~1.4x at 10000x100) or of over 256 (a radix sort of the distinct values' keys:
    ~4x NumPy's indirect argsort with the tie checks on 1e6 values, ~2.5x at 1000x1000, ~1.4x
    at 1000x384; between, NumPy's SIMD sorting network stays ahead, ~2x at 1000x256). The
    one threshold: _C.sort_indices radix-sorts every float64 line past its short ones."""
    if a.size == a.shape[axis]:
        return a.dtype.char in "fd"
    n = a.shape[axis]
    if a.dtype.char == "d":
        return n <= 112 or n > 256
    return a.dtype.char == "f" and 2 <= n


def _take_along(x: Tensor, axis: int, idx: np.ndarray) -> Tensor:
    """x's values at sort/topk's indices along axis (unique, in range): outside the graph without
    the generic apply, by the gather kernel straight when it takes them."""
    if not _outside_graph(x):
        return Gather.apply(x, axis, idx, unique=True)
    a = x.data
    if a.dtype.char in "fd" and idx.flags.c_contiguous:  # _gather_kernel's conditions hold
        return Tensor._make(_C.gather_forward(np.ascontiguousarray(a), idx, axis), False, None, 0)
    return Tensor._make(Gather.forward(Gather.__new__(Gather), a, axis, idx, True), False, None, 0)


def _sort_key(a: np.ndarray, descending: bool) -> np.ndarray:
    """Ascending order of the key = the wanted order of a. ~a (= -a - 1) reverses integers
    without -a's wrap-around (unsigned, and the most negative signed value)."""
    return (~a if a.dtype.kind in "biu" else -a) if descending else a


def _tied_lines(sorted_key: np.ndarray, axis: int) -> np.ndarray:
    """Per line along axis (the axis removed): two neighbours equal, or a NaN. Lines without
    either have one order, so any sort of them is the stable one."""
    pre = (slice(None),) * axis  # views, where take(range) copied the lines
    head, tail = sorted_key[pre + (slice(1, None),)], sorted_key[pre + (slice(None, -1),)]
    bad = np.any(head == tail, axis=axis)
    if sorted_key.dtype.kind == "f":  # NaNs sort last: a line has one iff it ends in one
        bad |= np.isnan(sorted_key[pre + (-1,)])
    return bad


def _argsort(a: np.ndarray, axis: int, descending: bool, stable: bool = True) -> np.ndarray:
    """int64 indices of the stable (else PyTorch's unstable) sort along axis; NaN last
    ascending, first descending."""
    if a.dtype.kind in "iuf" and a.size:
        # NumPy's default (SIMD quick)sort is ~8x faster than its stable merge/timsort; it gives
        # the only order of every line whose keys are distinct. Lines with ties (or NaNs)
        # are sorted again, by the stable path or by _C's copy of PyTorch's unstable sort.
        key = _sort_key(a, descending)
        idx = np.argsort(key, axis=axis).astype(np.int64, copy=False)
        # (the sorted keys by np.sort: the same values, ~10x faster than take_along_axis)
        bad = _tied_lines(np.sort(key, axis=axis), axis)
        if bad.any():
            lines = np.moveaxis(idx, axis, -1)  # a view: writes land in idx
            tied = np.moveaxis(a, axis, -1)[bad]
            rows = None if stable else _select_rows(tied, 1)
            lines[bad] = (
                _stable_argsort_slow(tied, 1, descending)
                if rows is None
                else _C.sort_indices(rows, descending)
            )
        return idx
    return _stable_argsort_slow(a, axis, descending)


def _stable_argsort_slow(a: np.ndarray, axis: int, descending: bool) -> np.ndarray:
    key = _sort_key(a, descending)  # stable: ties keep order
    idx = np.argsort(key, axis=axis, kind="stable")
    if descending and a.dtype.kind == "f":  # -NaN still sorts last: NaNs belong first here
        nan_first = np.argsort(~np.isnan(np.take_along_axis(a, idx, axis)), axis, kind="stable")
        idx = np.take_along_axis(idx, nan_first, axis)
    return idx.astype(np.int64, copy=False)


def _select_rows(a: np.ndarray, axis: int):
    """a as C-contiguous (rows, n) lines along axis in a dtype of _C's selection kernels (which
    break ties as PyTorch's CPU kernels), or None for a dtype they cannot order exactly."""
    if not _selectable(a.dtype):
        return None
    if a.dtype.kind in "biu":
        kernel_dtype = np.int64
    else:
        kernel_dtype = np.float64 if a.dtype == np.float64 else np.float32
    if axis == a.ndim - 1:  # the common cases need no moveaxis (~2 us)
        lines = a
    else:
        lines = a.T if a.ndim == 2 else np.moveaxis(a, axis, -1)
    if not lines.flags.c_contiguous and lines.dtype == kernel_dtype and lines.itemsize < 8:
        # (a matrix's columns: the tiled transpose, ~1.4x NumPy's copy at 4 bytes; at 8 bytes
        # NumPy's copy is ~2.9x the tiled kernel's speed)
        lines = _copy(lines)
    return np.ascontiguousarray(lines, kernel_dtype).reshape(-1, a.shape[axis])


def _selectable(dt: np.dtype) -> bool:
    """Whether _select_rows can hand lines of dtype dt to _C's kernels (in a dtype that orders
    them exactly: not uint64 nor complex)."""
    return (
        (dt.kind == "f" and dt.itemsize <= 8)
        or dt == _lowp.bfloat16
        or dt.kind in "bi"
        or (dt.kind == "u" and dt.itemsize < 8)
    )


def _from_rows(idx: np.ndarray, shape: tuple, axis: int) -> np.ndarray:
    """Indices (rows, m) of _select_rows's lines back to shape with axis of size m."""
    shape = tuple(shape)  # (plain tuple slicing: np.delete cost ~5 us)
    lines = idx.reshape(shape[:axis] + shape[axis + 1 :] + (idx.shape[1],))
    return lines if axis == len(shape) - 1 else np.moveaxis(lines, -1, axis)


sort._real_only = True  # (the refusal is in sort itself, after its straight case)


def argsort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    rows = None if stable else _rows_straight(x, dim)
    if (
        rows is not None
        and x.data.flags.c_contiguous
        and (rows.size <= 65536 or _radix_lines(rows, 1))
    ):
        # sort's straight path without the values (their gather: ~15% of a 10000x100 argsort)
        return _plain(_C.sort_indices(rows, descending).reshape(x.data.shape))
    return sort(x, dim, descending, stable).indices


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> SortResult:  # noqa: A002
    """The k largest (or smallest) entries along dim and their indices (torch.topk)."""
    rows = _rows_straight(x, dim)
    if rows is not None and type(k) is int and 0 <= k <= rows.shape[1]:
        if x._requires_grad and not _outside_graph(x):
            return _graph_result(x, _C.topk_indices(rows, k, largest, sorted), "TopkBackward0")
        return _straight_result(x, _C.topk_indices(rows, k, largest, sorted, True))
    if type(x) is not Tensor or x.data.dtype.kind == "c":  # (_real_only's test, in here)
        _complex.refuse("topk", _data(x))
    x = _tensor_operand(x)
    if x.data.dtype == np.bool_:
        raise BadDtype("topk: bool tensors are not supported (as in PyTorch)")
    if type(k) is not int:  # torch: an int (True is not read as k 1)
        try:
            n = operator.index(k) if not isinstance(k, bool | np.bool_) else None
        except TypeError:
            n = None
        if n is None:
            raise TypeError(f"topk: k must be an int, got {type(k).__name__} ({k!r})")
        k = n
    axis = _axis(dim, builtins.max(x.ndim, 1), "topk")
    n = x.shape[axis] if x.ndim else 1
    if not 0 <= k <= n:
        raise BadShapeOrValue(f"topk: k ({k}) out of range for dim {dim} of size {n}")
    if x.ndim == 0:  # PyTorch returns the scalar for k 0 or 1
        return SortResult(getitem(x, ...), Tensor(np.zeros((), np.int64)))
    rows = _select_rows(x.data, axis) if x.data.size else None
    if rows is None:
        idx = _argsort(x.data, axis, largest).take(range(k), axis)
    else:
        idx = _from_rows(_C.topk_indices(rows, k, largest, sorted), x.data.shape, axis)
    idx = np.ascontiguousarray(idx)  # (torch's topk results are C-contiguous)
    return SortResult(
        named(_take_along(x, axis, idx), "TopkBackward0"), Tensor._make(idx, False, None, 0)
    )


topk._real_only = True  # (as sort's)


def mm(a, b) -> Tensor:
    """The product of two matrices (2-D only, as torch.mm)."""
    if type(a) is Tensor and type(b) is Tensor and a._data.ndim == 2 == b._data.ndim:
        return matmul(a, b)
    if np.ndim(_data(a)) != 2 or np.ndim(_data(b)) != 2:
        raise BadShapeOrValue(f"mm: expected 2-D inputs, got shapes {_shape(_data(a))} and "
                         f"{_shape(_data(b))}")  # fmt: skip
    return matmul(a, b)


def bmm(a, b) -> Tensor:
    """Batched matrix product of (B, n, m) and (B, m, p) (torch.bmm: no broadcasting)."""
    if type(a) is Tensor and type(b) is Tensor:
        x, y = a._data, b._data
        sa, sb = x.shape, y.shape
        if (
            not (a._requires_grad or b._requires_grad)
            and len(sa) == 3 == len(sb)
            and sa[0] == sb[0]
            and sa[2] == sb[1]
            and x.dtype is y.dtype
            and (x.dtype is _F32 or x.dtype is _F64)
            and x.flags.c_contiguous
            and y.flags.c_contiguous
        ):  # the common product outside the graph: the batched GEMM straight (~0.5 us)
            return _plain(_C.matmul(x, y, False, False))
    else:
        sa, sb = _shape(_data(a)), _shape(_data(b))
    if len(sa) != 3 or len(sb) != 3 or sa[0] != sb[0]:
        raise BadShapeOrValue(f"bmm: expected (B, n, m) and (B, m, p), got shapes {sa} and {sb}")
    return named(matmul(a, b), "BmmBackward0")


def _predicate(name: str, f):
    def op(x) -> Tensor:
        return Tensor(np.asarray(f(np.asarray(_data(x)))))

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (a bool tensor, no gradient)."
    return op


isnan = _predicate("isnan", np.isnan)
isinf = _predicate("isinf", np.isinf)
isfinite = _predicate("isfinite", np.isfinite)


def _all_or_any(x, dim, keepdim, op: str, ufunc) -> Tensor:
    """all / any (``ufunc``: logical_and / logical_or); the reductions by the array's own
    method (np.all costs ~1.3 us more a call; the method also takes a NumPy scalar)."""
    if keepdim.__class__ is not bool:
        _refuse_keepdim(op, keepdim)
    if type(x) is Tensor and x.data.dtype == np.bool_:  # the common calls: ~4 us of frames less
        a = x.data
        if dim is None and not keepdim:
            return _plain(np.array(getattr(a, op)()))
        if type(dim) is int and -a.ndim <= dim < a.ndim:
            return _plain(_c_result(ufunc.reduce(a, dim, keepdims=keepdim)))
    a = np.asarray(_data(x))
    return _truth(a, getattr(a, op)(axis=_truth_axes(dim, a.ndim, op), keepdims=keepdim))


def all(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return _all_or_any(x, dim, keepdim, "all", np.logical_and)


def any(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    return _all_or_any(x, dim, keepdim, "any", np.logical_or)


def _truth_axes(dim, ndim: int, op: str):
    """all/any's axes: dim=() reduces over no dim (each element's truth), as torch's all and any
    (where torch's sum and mean take () as every dim)."""
    if isinstance(dim, Tensor):  # (all/any's dim is an int or a tuple: not a [1] tensor)
        dim = _index_dim(dim, op)
    return () if isinstance(dim, tuple | list) and not dim else _axes(dim, ndim, op)


def _truth(a: np.ndarray, result) -> Tensor:
    """all/any's result: bool, but uint8 for a uint8 input, as PyTorch's."""
    dtype = np.uint8 if a.dtype == np.uint8 else np.bool_
    return Tensor(_c_result(np.asarray(result).astype(dtype)))


def allclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    _tensors_only("allclose", a, b)
    _one_dtype("allclose", a, b)
    try:
        np.broadcast_shapes(np.shape(_data(a)), np.shape(_data(b)))
    except ValueError:  # (torch: RuntimeError)
        raise BadShapeOrValue(
            f"allclose: shapes {_shape(a)} and {_shape(b)} do not broadcast"
        ) from None
    return bool(np.allclose(_data(a), _data(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(a, b) -> bool:
    """Same shape and the same values (torch.equal)."""
    return bool(np.array_equal(_data(a), _data(b)))


# ---- views and shapes (PyTorch's everyday extras) -----------------------------------------


def _dim(dim, ndim: int, op: str) -> int:
    """One dim as a NumPy axis; IndexError when out of range, as PyTorch (a 0-d tensor takes
    dims 0 and -1)."""
    axes = _axes(dim if type(dim) is int else _index_dim(dim, op), ndim, op)
    return axes[0] if axes else 0


def _int_array(index, op: str, int32: bool | None = None) -> np.ndarray:
    """index as int64. ``int32`` set: an index argument, int64 only as torch takes it (or
    int32 too, when True: gather, scatter, index_add/select/reduce); None: any integers."""
    index = np.asarray(_data(index))
    if index.dtype.kind not in "iu":
        raise BadDtype(f"{op}: index must be an integer tensor, got {index.dtype}")  # (torch: RE)
    if int32 is not None and index.dtype != np.int64 and (not int32 or index.dtype != np.int32):
        want = "int64 or int32" if int32 else "int64"
        raise TypeError(f"{op}: index must be {want} (as torch), got {index.dtype}")
    return index.astype(np.int64, copy=False)


def broadcast_shapes(*shapes) -> tuple:
    """The shape all the given shapes broadcast to (torch.broadcast_shapes)."""
    shapes = [(s,) if isinstance(s, int | np.integer) else tuple(s) for s in shapes]
    try:
        return tuple(int(n) for n in np.broadcast_shapes(*shapes))
    except ValueError:  # (torch's RuntimeError)
        raise BadShapeOrValue(f"broadcast_shapes: shapes {shapes} do not broadcast") from None


def broadcast_to(x, size) -> Tensor:
    """x expanded to ``size`` (torch.broadcast_to; -1 keeps a dim)."""
    return expand(x, size)


def _broadcast_pair(sa: tuple, sb: tuple):
    """The broadcast shape of two shapes, None if they do not broadcast (the general path's
    error)."""
    if sa == sb:
        return sa
    if len(sa) < len(sb):
        sa, sb = sb, sa
    lead = len(sa) - len(sb)
    out = list(sa)
    for i, n in enumerate(sb, lead):
        if sa[i] != n:
            if sa[i] == 1:
                out[i] = n
            elif n != 1:
                return None
    return tuple(out)


def broadcast_tensors(*tensors) -> tuple:
    """The tensors expanded to their common broadcast shape."""
    if len(tensors) == 2:
        a, b = tensors
        if (
            type(a) is Tensor
            and type(b) is Tensor
            and not (a._requires_grad or b._requires_grad)
            and _function._fw_level is None
        ):  # overhead42: two tensors outside the graph, expand's views straight (~9 -> ~3 us
            # of a 32x32 and a 32-vector: NumPy's broadcast_shapes and expand's checks)
            x, y = a._data, b._data
            shape = _broadcast_pair(x.shape, y.shape)
            if shape is not None and 0 not in shape:
                return (
                    a if x.shape == shape else _outside_view(_expanded(x, shape), a),
                    b if y.shape == shape else _outside_view(_expanded(y, shape), b),
                )
    tensors = [_tensor_operand(t) for t in tensors]
    if len(tensors) == 1:  # (overhead43: no shapes to combine)
        return (tensors[0],)
    shape = broadcast_shapes(*(t.shape for t in tensors))
    # a tensor of the broadcast shape is itself, as torch's (broadcast_tensors(a)[0] is a)
    return tuple(t if t.shape == shape else expand(t, shape) for t in tensors)


def _plain_dims(dims: tuple, nd: int):
    """dims (Python ints in range, none twice) as axes, else None (the checks' errors)."""
    out = []
    for d in dims:
        if type(d) is not int or not -nd <= d < nd:
            return None
        out.append(d % nd)
    return out if len(set(out)) == len(out) else None


def movedim(x, source, destination) -> Tensor:
    """Move the dims ``source`` to the positions ``destination``; the others keep their order."""
    if type(x) is Tensor and type(source) is int and type(destination) is int:
        nd = x.data.ndim  # the common call, one int dim moved: permute's view straight
        if -nd <= source < nd and -nd <= destination < nd:
            s = source % nd
            order = [d for d in range(nd) if d != s]
            order.insert(destination % nd, s)
            return _view(Permute, x, tuple(order))
    if type(x) is Tensor and type(source) is tuple and type(destination) is tuple:
        nd = x._data.ndim  # overhead42: tuples of distinct int dims in range (~9 -> ~2 us)
        src, dst = _plain_dims(source, nd), _plain_dims(destination, nd)
        if src is not None and dst is not None and len(src) == len(dst):
            order = [d for d in range(nd) if d not in src]
            for d, s in sorted(zip(dst, src)):
                order.insert(d, s)
            return _view(Permute, x, tuple(order))
    x = _tensor_operand(x)
    if isinstance(source, Tensor):  # (a 0-d integer tensor is an int to torch; [1] is not)
        source = _index_dim(source, "movedim", "source")
    if isinstance(destination, Tensor):
        destination = _index_dim(destination, "movedim", "destination")
    if isinstance(source, int | np.integer) != isinstance(destination, int | np.integer):
        raise TypeError(
            "movedim(): source and destination must both be ints or both sequences of ints, "
            f"got {type(source).__name__} and {type(destination).__name__}"
        )
    src = _axes(source, x.ndim, "movedim")  # (a 0-d tensor takes dim 0 or -1, as torch's)
    dst = _axes(destination, x.ndim, "movedim")
    if len(src) != len(dst):
        raise ValueError(f"movedim: source {source} and destination {destination} differ in length")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return permute(x, order)


moveaxis = movedim


def swapaxes(x, axis0: int, axis1: int) -> Tensor:
    return transpose(x, axis0, axis1)


def swapdims(input, dim0: int, dim1: int) -> Tensor:  # noqa: A002 (torch's names differ from swapaxes')
    return transpose(input, dim0, dim1)


def narrow(x, dim: int, start, length: int) -> Tensor:
    """The slice [start, start + length) of dim (a view in PyTorch)."""
    x = _tensor_operand(x)
    if x.ndim == 0:  # (_dim takes dim 0 of a 0-d tensor: torch refuses it here)
        raise BadShapeOrValue("narrow: cannot be applied to a 0-dim tensor")
    axis = _dim(dim, x.ndim, "narrow")
    n, start = x.shape[axis], operator.index(start)
    if not -n <= start <= n:
        raise IndexError(f"narrow: start {start} out of range [-{n}, {n}] for dim {dim}")
    start += n if start < 0 else 0
    if length < 0:  # (torch's RuntimeErrors)
        raise BadShapeOrValue(f"narrow: length must be non-negative, got {length}")
    if start + length > n:
        raise BadShapeOrValue(
            f"narrow: start ({start}) + length ({length}) exceeds dim {dim} of size {n}"
        )
    key = (slice(None),) * axis + (slice(start, start + length),)
    out = basic_view(x, key)  # (outside the graph: the view straight, as x[key] takes it)
    if out is not None:
        return out
    out = getitem(x, key)
    return out if out._ctx is None else named(out, "SliceBackward0")  # (a whole slice too)


def select(x, dim: int, index: int) -> Tensor:
    """x[..., index, ...] at dim, that dim removed."""
    x = _tensor_operand(x)
    axis = _dim(dim, x.ndim, "select")
    n, index = x.shape[axis], operator.index(index)
    if not -n <= index < n:
        raise IndexError(f"select: index {index} out of range for dim {dim} of size {n}")
    key = (slice(None),) * axis + (index,)
    out = basic_view(x, key)  # (outside the graph: the view straight, as x[key] takes it)
    if out is None and type(x) is Tensor and x._requires_grad and _state.enabled:
        # overhead40: in the graph, getitem's node straight: key (full slices, an int in
        # range) is what its _index_arg returns unchanged (~1 us of a ~2.8 us x.select(1, 3))
        return GetItem.apply(x, key, False)
    return getitem(x, key) if out is None else out


def ravel(x) -> Tensor:
    """x's elements in C order, one dim: torch's contiguous().view(-1) (never a strided view)."""
    return reshape(_tensor_operand(x).contiguous(), (-1,))


def _positive_ints(sizes) -> bool:
    for s in sizes:
        if type(s) is not int or s <= 0:
            return False
    return True


def unflatten(x, dim: int, sizes) -> Tensor:
    """Split dim into ``sizes`` (one entry may be -1)."""
    if (
        type(x) is Tensor
        and type(dim) is int
        and type(sizes) in (tuple, list)
        and not x._requires_grad
        and _function._fw_level is None
    ):  # overhead42: positive int sizes outside the graph, flatten's view straight (~3.4 ->
        d = x._data  # ~1.3 us of a 32x32: the checks and reshape's frames below)
        nd = d.ndim
        if -nd <= dim < nd and d.flags.c_contiguous and _positive_ints(sizes):
            axis = dim % nd
            shape = d.shape
            if math.prod(sizes) == shape[axis]:
                shape = shape[:axis] + tuple(sizes) + shape[axis + 1 :]
                if d.base is None or 1 not in shape:  # (else _strides.viewed's size-1 strides)
                    return _outside_view(d.reshape(shape), x)
    x = _tensor_operand(x)
    if not x.ndim:  # (torch: RuntimeError, where _dim's range says IndexError)
        raise _OutOfBounds(f"unflatten: dim {dim} of a 0-d tensor (it has no dims)")
    axis = _dim(dim, x.ndim, "unflatten")
    # torch's refusals (overhead43): sizes a sequence, not a number or a tensor (TypeError);
    # its first entry no bool (its argument parser reads the first alone); a bool tensor entry
    # no size (RuntimeError)
    if type(sizes) is Tensor and sizes.numel() > 1:  # (torch's: its bool() is ambiguous)
        raise BadShapeOrValue(f"unflatten: sizes must be a tuple of ints, not a tensor {sizes}")
    if isinstance(sizes, int | np.integer | np.bool_ | Tensor):
        raise TypeError(
            f"unflatten(): argument 'sizes' must be tuple of ints, not {type(sizes).__name__}"
        )
    if isinstance(sizes, tuple | list) and sizes and isinstance(sizes[0], bool | np.bool_):
        raise TypeError(
            "unflatten(): argument 'sizes' must be tuple of ints, but found element of type "
            f"bool at pos 0: {sizes}"
        )
    if builtins.any(type(s) is Tensor and s.dtype == np.bool_ for s in sizes):
        raise BadShapeOrValue(f"unflatten: sizes {sizes} hold a bool tensor, not a size")
    sizes = _shape_arg(sizes, "unflatten", one_inferred=False)
    if sizes.count(-1) > 1:  # (torch's RuntimeError)
        raise BadShapeOrValue(f"unflatten: only one of sizes {sizes} can be -1")
    # (math.prod: exact Python ints, ~1.5 us less each than np.prod's array of a list)
    known = math.prod(s for s in sizes if s != -1)
    n = x.shape[axis]
    if -1 in sizes and known:
        sizes = tuple(n // known if s == -1 else s for s in sizes)
    if not sizes or math.prod(sizes) != n:
        raise BadShapeOrValue(f"unflatten: sizes {sizes} do not multiply to dim {dim} of {x.shape}")
    # (splitting one dim is always a view: torch's node is ViewBackward0 whatever x's strides)
    return named(reshape(x, x.shape[:axis] + sizes + x.shape[axis + 1 :]), "ViewBackward0")


def unfold(x, dimension: int, size: int, step: int) -> Tensor:
    """All windows of ``size`` along ``dimension`` every ``step``: that dim becomes the window
    count and the window is a new last dim (torch.Tensor.unfold)."""
    if (
        type(x) is Tensor
        and type(dimension) is int
        and type(size) is int
        and type(step) is int
        and not (x._requires_grad and _state.enabled)
        and _function._fw_level is None
    ):  # overhead42: outside the graph, Unfold's view straight (~14 -> ~2 us of a 32x32)
        a = x._data
        nd = a.ndim
        if nd and -nd <= dimension < nd and a.size and 0 <= size <= a.shape[dimension % nd]:
            if 0 < step < _LONG:
                return _outside_view(Unfold.forward(_Scratch(), a, dimension % nd, size, step), x)
    x = _tensor_operand(x)
    axis = _dim(dimension, x.ndim, "unfold")
    n = x.shape[axis] if x.ndim else 1
    if size >= _LONG or step >= _LONG:
        _int64(builtins.max(size, step))
    if step <= 0 or size < 0:
        raise BadShapeOrValue(
            f"unfold: step ({step}) must be positive and size ({size}) non-negative"
        )
    if size > n:
        raise BadShapeOrValue(f"unfold: size {size} exceeds dim {dimension} of size {n}")
    if x.ndim == 0:  # (torch: one window of size 0 or 1)
        out = narrow(reshape(x, (1,)), 0, 0, size)
        return out if out._ctx is None else named(out, "UnfoldBackward0")
    return Unfold.apply(x, axis, size, step)


class _Scratch:
    """A ctx for a Function's forward called outside the graph (its notes dropped)."""


class Unfold(Function):
    _reusable = True  # (backward reads shapes alone)

    @staticmethod
    def forward(ctx, x, axis, size, step):
        ctx.meta = (x.shape, axis, size, step)
        # a view, no copy, as torch's; writable where the windows do not overlap
        writable = step >= size and x.flags.writeable
        if x.size:  # overhead42: the view's strides straight (~14 -> ~3 us of a 32x32:
            # sliding_window_view's Python; the same view)
            st = x.strides
            shape = x.shape[:axis] + ((x.shape[axis] - size) // step + 1,) + x.shape[axis + 1 :]
            st = st[:axis] + (st[axis] * step,) + st[axis + 1 :] + (st[axis],)
            return _C.strided(x, shape + (size,), st, writable)
        windows = np.lib.stride_tricks.sliding_window_view(
            x if x.size else _strides.laid(x), size, axis, writeable=writable
        )
        return windows[(slice(None),) * axis + (slice(None, None, step),)]

    @staticmethod
    def backward(ctx, g):
        shape, axis, size, step = ctx.meta
        out = np.zeros(shape, g.dtype)
        count = g.shape[axis]
        for j in range(size):  # window offset j covers j, j + step, ... (overlaps add up)
            out[(slice(None),) * axis + (slice(j, j + step * (count - 1) + 1, step),)] += g[..., j]
        return out, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        args = ctx.meta[1:]
        windows_map = lambda v: Unfold.forward(_graph.scratch(Unfold), v, *args)  # noqa: E731
        return _graph.linear(ctx, g, windows_map), None, None, None


class AsStrided(Function):
    _reusable = True  # (backward reads shapes alone)
    """A strided view of x's elements taken in row-major order (as torch.as_strided of a
    contiguous tensor); backward adds each view element's gradient to the element it reads."""

    @staticmethod
    def forward(ctx, x, size, stride, offset):
        storage = _storage_of(x)
        if storage is not None:
            # torch's: a view of the memory x views (its storage), from x's own first element
            # unless an offset is given, whatever x's strides
            flat, x_offset, x_strides = storage
            offset = x_offset if offset is None else offset
            ctx.meta = (x.shape, size, stride, offset, (flat.size, x_offset, x_strides))
        else:
            offset = 0 if offset is None else offset
            ctx.meta = (x.shape, size, stride, offset)
            if not x.flags.c_contiguous:  # a copy's elements, read in row-major order
                return AsStrided.forward(ctx, np.ascontiguousarray(x), size, stride, offset)
            flat = x.reshape(-1)
        # a view, as torch's; writable unless two of its elements share memory (torch
        # refuses writes into such overlapping windows too)
        distinct = _strides_apart(size, stride)
        if not distinct:  # (the strides' test below cannot tell: the elements' own)
            index = AsStrided._index(size, stride, offset).reshape(-1)
            distinct = np.unique(index).size == index.size
        item = flat.itemsize  # (_C.strided: NumPy's as_strided is ~3 us of Python)
        st = tuple([s * item for s in stride])
        return _C.strided(flat[offset:], size, st, bool(distinct and x.flags.writeable))

    @staticmethod
    def _index(size, stride, offset):
        """The flat index each element of the view reads."""
        index = offset + builtins.sum(
            np.arange(n).reshape((-1,) + (1,) * (len(size) - d - 1)) * st
            for d, (n, st) in enumerate(zip(size, stride))
        )
        return np.broadcast_to(index, size)

    @staticmethod
    def backward(ctx, g):
        shape, size, stride, offset, *storage = ctx.meta
        if storage:  # (torch's as_strided_backward: through the storage, gathered at x's places)
            n, x_offset, x_strides = storage[0]
            out = np.zeros(n, g.dtype)
            np.add.at(out, AsStrided._index(size, stride, offset).reshape(-1), g.reshape(-1))
            at = AsStrided._index(shape, x_strides, x_offset)
            grad = out[at]
            count = np.bincount(at.reshape(-1), minlength=n) if grad.size else None
            if count is not None and count.max() > 1:  # (x's elements overlap: shared evenly)
                grad = grad / count[at]
            return grad.astype(g.dtype, copy=False), None, None, None
        out = np.zeros(int(np.prod(shape)), g.dtype)
        np.add.at(out, AsStrided._index(size, stride, offset).reshape(-1), g.reshape(-1))
        return out.reshape(shape), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        # backward is linear in g: its adjoint (a direction v of x's shape placed in the
        # storage, shared elements split as backward splits them, then read at the view's
        # places) makes the second derivative, overlapping strides included
        shape, size, stride, offset, *storage = ctx.meta

        def fwd(v):
            v = np.asarray(v)
            if not storage:
                return np.ascontiguousarray(v).reshape(-1)[AsStrided._index(size, stride, offset)]
            n, x_offset, x_strides = storage[0]
            at = AsStrided._index(shape, x_strides, x_offset).reshape(-1)
            flat = np.zeros(n, v.dtype)
            count = np.bincount(at, minlength=n)
            np.add.at(flat, at, v.reshape(-1) / np.maximum(count[at], 1))
            return flat[AsStrided._index(size, stride, offset)]

        return _graph.linear(ctx, g, fwd), None, None, None


def _strides_apart(size, stride) -> bool:
    """overhead42: whether each dim's stride passes the span of the smaller-strided dims (then
    no two elements share memory; ~40 us less than np.unique's test of a 16x16 view). False:
    unknown."""
    if len(size) == 2:  # (overhead43: the common 2-d view's test straight, ~1 -> ~0.3 us)
        (n0, n1), (s0, s1) = size, stride
        if n0 > 1 and n1 > 1:
            if s0 > s1:
                n0, n1, s0, s1 = n1, n0, s1, s0
            return 0 < s0 and (n0 - 1) * s0 < s1
        return (n0 <= 1 or s0 > 0) and (n1 <= 1 or s1 > 0)
    span = 0
    for st, n in sorted([(st, n) for n, st in zip(size, stride) if n > 1]):
        if st <= span:
            return False
        span += (n - 1) * st
    return True


def _storage_of(x: np.ndarray):
    """(the flat memory x views, x's offset and strides in it, in elements) when x views one
    dense array of its dtype (torch's storage), else None."""
    owner = _function.array_owner(x)
    if owner is x and x.flags.c_contiguous:
        return x.reshape(-1), 0, _strides._elem_strides(x)
    if owner.dtype != x.dtype or not owner.size:
        return None
    if owner.flags.c_contiguous:
        flat = owner.reshape(-1)
    elif _strides.non_overlapping_and_dense(owner.shape, _strides._elem_strides(owner)):
        # (an op's result in torch's permuted layout: its memory in address order)
        flat = np.lib.stride_tricks.as_strided(owner, (owner.size,), (owner.itemsize,))
    else:
        return None
    item = x.itemsize
    start = x.__array_interface__["data"][0] - owner.__array_interface__["data"][0]
    if start % item or builtins.any(s % item for s in x.strides):
        return None
    return flat, start // item, tuple(s // item for s in x.strides)


def as_strided(input, size, stride, storage_offset=None) -> Tensor:  # noqa: A002
    """The elements of the memory ``input`` views (its storage) at ``storage_offset + sum(i_d *
    stride_d)`` for each index of ``size``: sliding windows and diagonals without copies. A
    view, as torch's (read-only where its elements overlap), whatever input's strides; the
    offset defaults to input's own (``input.storage_offset()``). (Memory ember cannot see as
    one flat array, of another dtype or not C-ordered, is read from a row-major copy.)
    overhead43: a fresh C-ordered x outside the graph (its own storage, offset 0) with plain
    int tuples takes AsStrided.forward's view straight (a 32x32's ~7 -> ~2 us, torch ~1).
    overhead44: such an x in the graph, the general path's node once these checks passed
    (~6.2 -> ~3 us, torch ~1.5)."""
    if (
        type(input) is Tensor
        and type(size) is tuple
        and type(stride) is tuple
        and len(size) == len(stride)
        and (storage_offset is None or type(storage_offset) is int)
    ):
        a = input.data
        if a.base is None and a.flags.c_contiguous and a.size:
            offset = storage_offset or 0
            need = offset + 1  # (the last element's index + 1, as the general path's bound)
            for n, st in zip(size, stride):
                if (
                    type(n) is not int
                    or type(st) is not int
                    or not 0 <= n < 2**48
                    or not 0 <= st < 2**48
                ):
                    break
                need += (n - 1) * st
            else:
                if (
                    0 not in size
                    and 0 <= offset
                    and need <= a.size
                    and _strides_apart(size, stride)
                ):
                    if not _outside_graph(input):
                        return AsStrided.apply(input, size, stride, storage_offset)
                    item = a.itemsize
                    y = _C.strided(
                        a.reshape(-1)[offset:],
                        size,
                        tuple([s * item for s in stride]),
                        a.flags.writeable,
                    )
                    return _outside_view(y, input)
    x = _tensor_operand(input)
    size, stride = _shape_arg(size, "as_strided"), _shape_arg(stride, "as_strided")
    if len(size) != len(stride):
        raise BadShapeOrValue(
            f"as_strided: mismatch in length of strides and shape: size {size}, stride {stride}"
        )
    storage = _storage_of(x.data)
    offset = storage_offset
    if offset is None:
        offset = 0 if storage is None else storage[1]
    if builtins.any(v < 0 for v in size + stride) or offset < 0:
        raise BadShapeOrValue(
            f"as_strided: negative size, stride or offset: {size}, {stride}, {offset}"
        )
    if builtins.any(v >= 2**48 for v in size + stride + (offset,)):
        raise BadShapeOrValue(f"as_strided: size {size} or stride {stride} is out of range")
    need = offset + (
        0 if 0 in size else 1 + builtins.sum((n - 1) * st for n, st in zip(size, stride))
    )
    have = x.numel() if storage is None else storage[0].size
    if 0 not in size and need > have:
        raise BadShapeOrValue(
            f"as_strided: sizes {list(size)}, strides {list(stride)} and storage offset "
            f"{offset} need a storage of {need} elements, out of bounds for {have} elements"
        )
    return AsStrided.apply(x, size, stride, None if storage_offset is None else int(offset))


def tile(x, dims) -> Tensor:
    """Repeat x along each dim; fewer dims than x has are padded with 1s in front."""
    if type(x) is Tensor and type(dims) in (tuple, list) and len(dims) <= x.data.ndim:
        return repeat(x, (1,) * (x.data.ndim - len(dims)) + tuple(dims))
    x = _tensor_operand(x)
    dims = _shape_arg(dims, "tile")
    return repeat(x, (1,) * (x.ndim - len(dims)) + dims)


class Roll(Function):
    @staticmethod
    def forward(ctx, x, shifts, axes):
        ctx.meta = (shifts, axes)
        return _roll_values(x, shifts, axes)  # (torch's: C order)

    @staticmethod
    def backward(ctx, g):
        shifts, axes = ctx.meta
        return np.roll(g, tuple(-s for s in shifts), axes), None, None

    @staticmethod
    def backward_graph(ctx, g):
        shifts, axes = ctx.meta
        return _graph.linear(ctx, g, lambda v: np.roll(v, shifts, axes)), None, None


def _roll_values(a: np.ndarray, shifts: tuple, axes: tuple) -> np.ndarray:
    """np.roll(a, shifts, axes) in C order (torch's), as block copies into a fresh array: two
    slices for each rolled axis (np.roll's own blocks, without its ~5 us of a 32x32 call in
    axis normalising and itertools; the same values)."""
    y = np.empty(a.shape, a.dtype)
    if len(axes) == 1:  # (the common call: its two blocks straight)
        ax = axes[0]
        n = a.shape[ax]
        k = shifts[0] % n if n else 0
        lead = (_ALL,) * ax
        y[lead + (slice(k, None),)] = a[lead + (slice(None, n - k),)]
        y[lead + (slice(None, k),)] = a[lead + (slice(n - k, None),)]
        return y
    offsets = dict.fromkeys(axes, 0)
    for s, ax in zip(shifts, axes):
        offsets[ax] += s
    blocks = [((), ())]  # (source, destination) index tuples, up to the last rolled axis
    for ax in range(builtins.max(axes) + 1):
        n = a.shape[ax]
        k = offsets.get(ax, 0) % n if n else 0
        if k:
            pairs = ((slice(None, n - k), slice(k, None)), (slice(n - k, None), slice(None, k)))
        else:
            pairs = ((_ALL, _ALL),)
        blocks = [(s + (p,), d + (q,)) for s, d in blocks for p, q in pairs]
    for s, d in blocks:
        y[d] = a[s]
    return y


_ALL = slice(None)


def roll(x, shifts, dims=None) -> Tensor:
    """Rotate entries along dims; without dims, over the flattened tensor (torch.roll).
    overhead36: outside autograd, _roll_values straight (a 32x32 roll(x, 1, 0) ~10 -> ~2.5 us,
    torch ~2)."""
    if type(x) is Tensor and type(shifts) is int and type(dims) is int and -_LONG <= shifts < _LONG:
        a = x.data
        if -a.ndim <= dims < a.ndim:
            # the common call roll(x, k, dim), which none of the checks below refuse
            if _outside_graph(x):
                return Tensor._make(_roll_values(a, (shifts,), (dims % a.ndim,)), False, None, 0)
            return Roll.apply(x, (shifts,), (dims % a.ndim,))  # (overhead43: ~9 -> ~4 us)
    x = _tensor_operand(x)
    # shifts are ints as torch's (a bool, float or str is a TypeError); dims=() is no dims, as
    # torch's; a count mismatch is torch's RuntimeError
    shifts = (shifts,) if not isinstance(shifts, list | tuple) else shifts
    # (a Python int in range needs none of _index_dim's tests, nor a dim in range _dim's)
    shifts = tuple(
        s if type(s) is int and -_LONG <= s < _LONG else _index_dim(s, "roll", "shift")
        for s in shifts
    )
    if dims is None or (isinstance(dims, list | tuple) and not dims):
        if len(shifts) != 1:
            raise BadShapeOrValue(f"roll: {len(shifts)} shifts need as many dims")
        if _outside_graph(x):  # (no node: the flat values, in x's shape)
            a = x.data
            return Tensor._make(
                _roll_values(a.reshape(-1), shifts, (0,)).reshape(a.shape), False, None, 0
            )
        # (torch's node is RollBackward0 for the flat roll too)
        return named(reshape(Roll.apply(reshape(x, (-1,)), shifts, (0,)), x.shape), "RollBackward0")
    dims = (dims,) if isinstance(dims, int | np.integer | Tensor) else tuple(dims)
    dims = tuple(d if type(d) is not Tensor else _list_dim(d, "roll") for d in dims)
    if len(shifts) != len(dims):
        raise BadShapeOrValue(f"roll: shifts {shifts} and dims {dims} differ in length")
    nd = x.data.ndim
    if not nd:  # (torch's IndexError; NumPy's AxisError as before, a ValueError too)
        raise np.exceptions.AxisError(
            f"roll: dimension specified as {dims[0]} but tensor has no dimensions"
        )
    axes = tuple(d % nd if type(d) is int and -nd <= d < nd else _dim(d, nd, "roll") for d in dims)
    if _outside_graph(x):  # (no node)
        return Tensor._make(_roll_values(x.data, shifts, axes), False, None, 0)
    return Roll.apply(x, tuple(int(s) for s in shifts), axes)


def rot90(x, k: int = 1, dims=(0, 1)) -> Tensor:
    """Rotate by 90 degrees k times in the plane dims, from dims[0] towards dims[1]."""
    x = _tensor_operand(x)
    if len(dims) != 2 or x.ndim < 2:
        raise BadShapeOrValue(  # (torch's class)
            f"rot90: needs 2 dims and a tensor of >= 2 dims, got {dims}, {x.shape}"
        )
    # (dims is torch's int list: a one-element integer tensor is a dim there)
    d0, d1 = (
        _dim(_list_dim(d, "rot90") if type(d) is Tensor else d, x.ndim, "rot90") for d in dims
    )
    if d0 == d1:
        raise BadShapeOrValue(f"rot90: dims {tuple(dims)} must differ")
    k = _index_dim(k, "rot90", "k") % 4  # (True is not one turn)
    if _outside_graph(x):
        return Tensor._make(Rot90.forward(None, x.data, k, d0, d1), False, None, 0)
    return Rot90.apply(x, k, d0, d1)


class Rot90(Function):
    """rot90 as one node, torch's Rot90Backward0 (overhead43: before, the nodes of the flip
    and transpose it is made of); its values and strides are theirs: k = 1 and 3 a transposed
    view of x's copy flipped in dims[1] / dims[0], 2 a flipped copy, 0 a C-order copy. The
    gradient: g turned back."""

    @staticmethod
    def forward(ctx, x, k, d0, d1):
        if ctx is not None:
            ctx.meta = (k, d0, d1)
        if k == 0:  # (torch's: a C-order clone whatever x's layout)
            return _copy(x)
        if k == 2:
            return _flip_copy(x, (d0, d1))
        if k == 1:
            return _strides.laid(_flip_copy(x, (d1,))).swapaxes(d0, d1)
        return _strides.laid(_flip_copy(x, (d0,))).swapaxes(d0, d1)  # (torch's, so its strides)

    @staticmethod
    def backward(ctx, g):
        k, d0, d1 = ctx.meta
        return np.rot90(g, -k, (d0, d1)), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        k, d0, d1 = ctx.meta
        fwd = lambda v: np.rot90(np.asarray(v), k, (d0, d1))  # noqa: E731
        return _graph.linear(ctx, g, fwd), None, None, None


def fliplr(x) -> Tensor:
    x = _tensor_operand(x)
    if x.ndim < 2:
        raise BadShapeOrValue(f"fliplr: input must have >= 2 dims, got shape {x.shape}")
    return flip(x, (1,))


def flipud(x) -> Tensor:
    x = _tensor_operand(x)
    if x.ndim < 1:
        raise BadShapeOrValue("flipud: input must have >= 1 dim, got a 0-d tensor")
    return flip(x, (0,))


def _exact_sum(counts: np.ndarray) -> int:
    """The sum of non-negative integer counts as a Python int: NumPy's own sum when it cannot
    overflow int64, else exactly, one by one."""
    if not counts.size:
        return 0
    if int(counts.max()) <= (2**63 - 1) // counts.size:
        return int(counts.sum(dtype=np.int64))
    return builtins.sum(int(k) for k in counts.reshape(-1))


def repeat_interleave(x, repeats=None, dim=None, *, output_size=None) -> Tensor:
    """Repeat each entry along dim (of the flattened tensor without dim) ``repeats`` times; with
    one integer tensor alone, the indices 0, 0, 1, ... repeated by its counts."""
    if repeats is None:
        _repeats_dtype(x)
        counts = _int_array(x, "repeat_interleave")
        if counts.ndim != 1:  # (torch's RuntimeError)
            raise BadShapeOrValue(
                f"repeat_interleave: repeats must be a 1-D tensor, got shape {counts.shape}"
            )
        if (counts < 0).any():  # (torch's RuntimeError, not np.repeat's ValueError)
            raise BadShapeOrValue("repeat_interleave: repeats must be non-negative")
        if _exact_sum(counts) >= 2**63:  # (np.repeat overflows)
            raise BadShapeOrValue("repeat_interleave: the repeats' sum overflows int64")
        _output_size(output_size, _exact_sum(counts))
        dt = x.data.dtype if isinstance(x, Tensor) else np.int64  # (torch: the counts' dtype)
        return Tensor(np.repeat(np.arange(counts.size, dtype=dt), counts.reshape(-1)))
    x = _tensor_operand(x)
    if dim is None:
        x, axis = reshape(x, (-1,)), 0
    else:
        axis = _dim(dim, x.ndim, "repeat_interleave")
    n = x.shape[axis] if x.ndim else 1
    _repeats_dtype(repeats)
    r = np.asarray(_data(repeats))
    if r.dtype.kind not in "iu" or r.ndim > 1:
        raise TypeError("repeat_interleave: repeats must be an int or a 1-D integer tensor")
    if r.ndim == 1 and r.size not in (1, n):
        raise BadShapeOrValue(f"repeat_interleave: {r.size} repeats for dim {dim} of size {n}")
    if (r < 0).any():
        raise BadShapeOrValue("repeat_interleave: repeats must be non-negative")
    # (Python ints: NumPy's np.repeat overflowed and crashed on x.repeat_interleave(2**62))
    total = _exact_sum(r) * (n if r.size == 1 else 1)
    if total * (x.numel() // n if n else 0) >= 2**63:
        raise BadShapeOrValue(
            f"repeat_interleave: {total} repeats along dim {dim} of {tuple(x.shape)} overflow int64"
        )
    _output_size(output_size, total)
    if r.size == 1 and x.ndim:  # one count: np.repeat, and a reshaped sum back
        return _RepeatEach.apply(x, int(r.reshape(())), axis)
    idx = np.repeat(np.arange(n), r.reshape(-1) if r.ndim else int(r))
    return getitem(x, (slice(None),) * axis + (idx,)) if x.ndim else getitem(x.reshape(1), idx)


def _repeats_dtype(repeats) -> None:
    """A repeats tensor not int32/int64: torch's NotImplementedError (no kernel)."""
    if isinstance(repeats, Tensor) and repeats.data.dtype not in (np.int32, np.int64):
        raise not_implemented("repeat_interleave", repeats.dtype)


def _output_size(output_size, total: int) -> None:
    if output_size is not None and output_size != total:  # (torch's RuntimeError)
        raise BadShapeOrValue(
            f"repeat_interleave: invalid output_size, expected {total} but got {output_size}"
        )


class _RepeatEach(Function):
    """Each entry along axis repeated r times; its gradient sums each run of r."""

    @staticmethod
    def forward(ctx, x, r, axis):
        ctx.meta = (r, axis, x.shape)
        return np.repeat(x, r, axis)

    @staticmethod
    def backward(ctx, g):
        r, axis, shape = ctx.meta
        runs = g.reshape(shape[:axis] + (shape[axis], r) + shape[axis + 1 :])
        return runs.sum(axis + 1), None, None

    @staticmethod
    def backward_graph(ctx, g):
        r, axis, _ = ctx.meta
        return _graph.linear(ctx, g, lambda v: np.repeat(v, r, axis)), None, None


def _split_spec(name, indices_or_sections, sections, indices, tensor_indices_or_sections):
    """The one of torch's spellings given: positionally, ``sections=``, ``indices=`` or
    ``tensor_indices_or_sections=`` (its three overloads); exactly one may be given."""
    given = [
        v
        for v in (indices_or_sections, sections, indices, tensor_indices_or_sections)
        if v is not None
    ]
    if len(given) != 1:
        raise TypeError(
            f"{name}(): takes one of indices_or_sections, sections, indices or "
            f"tensor_indices_or_sections, got {len(given)}"
        )
    return given[0]


def tensor_split(
    x,
    indices_or_sections=None,
    dim: int = 0,
    *,
    sections=None,
    indices=None,
    tensor_indices_or_sections=None,
) -> tuple:
    """Split into n nearly equal parts (the first n % size one longer), or at the given indices."""
    if (
        type(x) is Tensor
        and type(indices_or_sections) is int
        and type(dim) is int
        and sections is None
        and indices is None
        and tensor_indices_or_sections is None
        and not (x._requires_grad and _state.enabled)
        and _function._fw_level is None
    ):
        # overhead39: n sections, none empty, outside the graph: getitem's views straight
        # (~18 -> ~4 us of a 32x32 in 3; its frames and key tuples were the cost)
        a, parts = x.data, indices_or_sections
        if -a.ndim <= dim < a.ndim and 0 < parts <= a.shape[dim % a.ndim]:
            axis = dim % a.ndim
            q, r = divmod(a.shape[axis], parts)
            out = []
            for p in _pieces(a, axis, [q + 1] * r + [q] * (parts - r)):
                out.append(_outside_view(p, x))
            return tuple(out)
    indices_or_sections = _split_spec(
        "tensor_split", indices_or_sections, sections, indices, tensor_indices_or_sections
    )
    x = _tensor_operand(x)
    if x.ndim == 0:  # (torch's RuntimeError)
        raise BadShapeOrValue(
            "tensor_split: expected at least a 1-dimensional tensor, got a 0-d tensor"
        )
    axis = _dim(dim, x.ndim, "tensor_split")
    n = x.shape[axis]
    spec = _data(indices_or_sections)
    if isinstance(indices_or_sections, Tensor) and spec.dtype.kind not in "iu":
        raise BadDtype(  # (torch: RuntimeError)
            "tensor_split: expected tensor_indices_or_sections to have an integer dtype, got "
            f"{spec.dtype}"
        )
    if np.ndim(spec) == 0:
        parts = operator.index(spec)
        if parts <= 0:
            raise BadShapeOrValue(f"tensor_split: number of sections must be positive, got {parts}")
        sizes = [n // parts + 1] * (n % parts) + [n // parts] * (parts - n % parts)
        bounds = np.cumsum([0] + sizes)
    else:
        # indices as Python slices read them: negative from the end, clamped to [0, n]
        cuts = [builtins.min(builtins.max(int(i) + n if i < 0 else int(i), 0), n) for i in spec]
        bounds = [0] + cuts + [n]
    out = tuple(
        getitem(
            x, (slice(None),) * axis + (slice(bounds[i], builtins.max(bounds[i], bounds[i + 1])),)
        )
        for i in range(len(bounds) - 1)
    )
    # torch slices every piece, the one whole piece too (getitem names that an alias)
    return tuple(p if p._ctx is None else named(p, "SliceBackward0") for p in out)


def _dir_split(name: str, dim: int, min_dims: int):
    def op(x, indices_or_sections=None, *, sections=None, indices=None) -> tuple:
        indices_or_sections = _split_spec(name, indices_or_sections, sections, indices, None)
        x = _tensor_operand(x)
        if x.ndim < min_dims:
            raise BadShapeOrValue(  # (torch's RuntimeError)
                f"{name}: needs a tensor of >= {min_dims} dims, got shape {x.shape}"
            )
        axis = dim if x.ndim > 1 else 0
        if isinstance(indices_or_sections, int | np.integer):
            if indices_or_sections <= 0 or x.shape[axis] % indices_or_sections:
                raise BadShapeOrValue(  # (torch's class)
                    f"{name}: dim {axis} of size {x.shape[axis]} is not divisible into "
                    f"{indices_or_sections} equal sections"
                )
        return tensor_split(x, indices_or_sections, axis)

    op.__name__ = name
    op.__doc__ = f"tensor_split along dim {dim} (torch.{name}); sections must divide it."
    return op


hsplit = _dir_split("hsplit", 1, 1)
vsplit = _dir_split("vsplit", 0, 2)
dsplit = _dir_split("dsplit", 2, 3)


def split_with_sizes(x, split_sizes, dim: int = 0) -> tuple:
    return split(x, list(split_sizes), dim)


def _atleast(nd: int):
    def one(t):
        t = _tensor_operand(t)
        if t.ndim >= nd:
            return t
        if nd == 3 and t.ndim:  # (n,) -> (1, n, 1), (m, n) -> (m, n, 1), as NumPy
            return reshape(t, (1,) + t.shape + (1,) if t.ndim == 1 else t.shape + (1,))
        return reshape(t, (1,) * (nd - t.ndim) + t.shape)

    def op(*tensors):
        if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
            return tuple(one(t) for t in tensors[0])
        return one(tensors[0]) if len(tensors) == 1 else tuple(one(t) for t in tensors)

    op.__name__ = f"atleast_{nd}d"
    op.__doc__ = f"The tensor(s) with at least {nd} dims (as torch.atleast_{nd}d)."
    return op


atleast_1d, atleast_2d, atleast_3d = _atleast(1), _atleast(2), _atleast(3)


def _dims_at_least(tensors, nd: int) -> bool:
    """tensors is a list or tuple of Tensors of >= nd dims each (atleast_Nd has nothing to do:
    h/vstack's common call goes to cat as it is, ~1.5 us sooner)."""
    if type(tensors) is not list and type(tensors) is not tuple:
        return False
    for t in tensors:
        if type(t) is not Tensor or t.data.ndim < nd:
            return False
    return True


def hstack(tensors) -> Tensor:
    """Join along dim 1 (dim 0 for 1-D tensors)."""
    if tensors and _dims_at_least(tensors, 2):
        return cat(tensors, 1)
    tensors = atleast_1d(tuple(tensors))
    if not tensors:  # (cat's own message then)
        return cat(tensors, 0)
    return cat(tensors, 0 if tensors[0].ndim == 1 else 1)


def _plain_vectors(tensors):
    """The arrays of non-empty 1-D Tensors of one dtype and length outside the graph (a list
    or tuple of them), else None: vstack / column_stack's rows or columns, written straight
    into the result (overhead42: ~5 -> ~2 us for two 32-vectors, atleast_2d's and cat's
    steps)."""
    if type(tensors) not in (list, tuple) or not tensors or _function._fw_level is not None:
        return None
    out = []
    for t in tensors:
        if type(t) is not Tensor or t._requires_grad:
            return None
        out.append(t._data)
    a = out[0]
    for b in out:
        if b.ndim != 1 or b.dtype is not a.dtype or b.shape != a.shape or not b.size:
            return None
    return out


def vstack(tensors) -> Tensor:
    if (rows := _plain_vectors(tensors)) is not None:
        out = np.empty((len(rows), rows[0].shape[0]), rows[0].dtype)
        for i, r in enumerate(rows):
            out[i] = r
        return _plain(out)
    if _dims_at_least(tensors, 2):
        return cat(tensors, 0)
    return cat(atleast_2d(tuple(tensors)), 0)


row_stack = vstack


def dstack(tensors) -> Tensor:
    return cat(atleast_3d(tuple(tensors)), 2)


def column_stack(tensors) -> Tensor:
    """1-D (and 0-d) tensors become columns, then all join along dim 1."""
    if (cols := _plain_vectors(tensors)) is not None:
        out = np.empty((cols[0].shape[0], len(cols)), cols[0].dtype)
        for i, c in enumerate(cols):
            out[:, i] = c
        return _plain(out)
    cols = [_tensor_operand(t) for t in tensors]
    return cat([reshape(t, (-1, 1)) if t.ndim < 2 else t for t in cols], 1)


def concat(tensors, dim: int = 0) -> Tensor:
    return cat(tensors, dim)


def concatenate(tensors, dim: int = 0) -> Tensor:
    return cat(tensors, dim)


def t(x) -> Tensor:
    """Transpose of a tensor with <= 2 dims (torch.t)."""
    return _tensor_operand(x).t()


# ---- indexing, scatter and diagonals ------------------------------------------------------


def _kept_key(ctx, key):
    """key for backward: its index arrays copied when recording (they are a user's index
    tensors' memory, which an in-place write before backward would change under the graph)."""
    if not any(getattr(ctx, "needs_input_grad", ())):
        return key
    own = lambda k: k.copy() if isinstance(k, np.ndarray) else k  # noqa: E731
    return tuple(own(k) for k in key) if isinstance(key, tuple) else own(key)


class Put(Function):
    """out = x with out[key] = src (src broadcast): index_copy, index_fill, index_put, scatter,
    masked_scatter. The overwritten entries of x get no gradient."""

    @staticmethod
    def forward(ctx, x, src, key):
        out = x.copy()
        out[key] = src
        ctx.meta = (_kept_key(ctx, key), _shape(src))
        return out

    @staticmethod
    def backward(ctx, g):
        key, sshape = ctx.meta
        gx = g.copy()
        gx[key] = 0
        gs = unbroadcast(np.array(g[key]), sshape) if ctx.needs_input_grad[1] else None
        return gx, gs, None

    @staticmethod
    def backward_graph(ctx, g):
        key, sshape = ctx.meta
        put = lambda x, src: Put.forward(_graph.scratch(Put), x, src, key)  # noqa: E731
        return _graph_scatter(ctx, g, put, sshape) + (None,)


class AddAt(Function):
    """out = x with alpha * src added at key, repeated keys adding up: index_add, scatter_add,
    index_put(accumulate=True)."""

    @staticmethod
    def forward(ctx, x, src, key, alpha, kernel=None):
        # kernel: None for np.add.at, or (path, axis) of a C++ path the caller found to apply,
        # each adding in np.add.at's order (the same sums), 5-20x faster: "rows" (index_add:
        # whole slices along axis) or "scatter" (scatter_add's index covers x outside axis)
        alpha = _int_alpha(src.dtype, alpha)
        src = src * alpha if alpha != 1 else src
        ctx.meta = (_kept_key(ctx, key), _shape(src), alpha)
        if kernel is None:
            out = x.copy()
            np.add.at(out, key, src)
        elif kernel[0] == "scatter":
            axis = kernel[1]
            index = np.ascontiguousarray(key[axis], np.int64)
            out = _scatter_add_kernel(x, axis, index, src)
            ctx.meta = (ctx.meta[0], _shape(src), alpha, (_kept_key(ctx, index), axis))
        else:  # slices along any axis added in place into out (a fresh C-contiguous copy)
            axis = kernel[1]
            out = _index_add_kernel(x, axis, np.ascontiguousarray(key[-1], np.int64), src)
        return out

    @staticmethod
    def backward(ctx, g):
        key, sshape, alpha = ctx.meta[:3]
        gs = None
        if ctx.needs_input_grad[1] and len(ctx.meta) == 4 and g.dtype.char in "fd":
            index, axis = ctx.meta[3]  # (scatter_add's kernel: the gather kernel reads g[key])
            gs = unbroadcast(_C.gather_forward(np.ascontiguousarray(g), index, axis), sshape)
        elif ctx.needs_input_grad[1]:
            gs = np.asarray(g[key])  # an index array in key: a fresh array (not a view)
            if alpha != 1:
                gs = alpha * gs
            elif np.may_share_memory(gs, g):  # g also goes to x: gs must be its own
                gs = gs.copy()
            gs = unbroadcast(gs, sshape)
        return g, gs, None, None

    @staticmethod
    def backward_graph(ctx, g):
        key, sshape, alpha = ctx.meta[:3]
        add = lambda x, src: AddAt.forward(_graph.scratch(AddAt), x, src, key, alpha)  # noqa: E731
        return _graph_scatter(ctx, g, add, sshape) + (None, None)


def _int_alpha(dtype, alpha):
    """alpha as torch applies it to integer tensors: a float truncated to an int (index_add of
    int64 with alpha=1.5 adds the source once)."""
    return int(alpha) if dtype.kind in "iu" and isinstance(alpha, float) else alpha


def _scatter_add_kernel(x, axis, index, src):
    """x's copy with src added at index along axis (index: C-contiguous int64 of src's shape,
    covering x outside axis) by the gather-backward kernel, which checks the index's range."""
    out = x.copy()
    try:
        _C.gather_backward(np.ascontiguousarray(src), index, axis, x.shape[axis], out=out)
    except IndexError:  # (scatter_add's words)
        raise _scatter_range_error("scatter_add", x.shape, axis, index) from None
    return out


def _index_add_kernel(x, axis, index, src):
    """x's copy with src's slices along axis added at index (1-D C-contiguous int64) by the
    index-select-backward kernel, which checks the index's range."""
    out = x.copy()
    try:
        _C.index_select_backward(np.ascontiguousarray(src), index, axis, x.shape[axis], out=out)
    except IndexError:  # (index_add's words; torch's IndexError or RuntimeError by shape)
        n = x.shape[axis]
        raise _OutOfBounds(f"index_add: index out of range for dim {axis} of size {n}") from None
    return out


def _same_dtype(op, x, src):
    if isinstance(src, Tensor | np.ndarray) and src.dtype != x.dtype:
        raise BadDtype(  # (torch: RuntimeError, "Expected self.dtype to be equal to src.dtype")
            f"{op}: self ({x.dtype}) and source ({src.dtype}) dtypes must match"
        )
    return src


def _scatter_range_error(op, shape, dim, index) -> _OutOfBounds:
    """The error for an index of scatter / scatter_add with a value outside dim's range of
    ``shape``, in ember's words and torch's (the first bad value, as torch names it)."""
    axis = dim % len(shape) if shape else 0
    n = shape[axis] if shape else 1
    i = np.asarray(_data(index)).ravel()
    bad = i[(i < 0) | (i >= n)]
    words = (
        f" (index {bad[0]} is out of bounds for dimension {axis} with size {n})" if bad.size else ""
    )
    return _OutOfBounds(
        f"{op}: index out of range [0, {n}) for dim {dim} of shape {tuple(shape)}{words}"
    )


def _scatter_key(op, x, dim, index, src=None, check_range=True):
    """The NumPy index that scatter's ``index`` denotes along dim, after PyTorch's checks."""
    axis, index = _scatter_index(op, x, dim, index, src, check_range)
    grids = list(np.indices(index.shape, sparse=True))
    if grids:
        grids[axis] = index
    return tuple(grids), index.shape


def _scatter_index(op, x, dim, index, src=None, check_range=True):
    """(axis, index as int64) after PyTorch's checks of scatter's arguments (the range of its
    values too, unless the caller's kernel checks it)."""
    axis = _dim(dim, x.ndim, op)
    dt = getattr(_data(index), "dtype", None)
    if dt is not None and dt != _I64 and dt != _I32:  # (torch: RuntimeError, BadDtype's family)
        raise BadDtype(
            f"{op}: index must be an integer tensor of int64 or int32 (as torch: Expected dtype "
            f"int32/int64 for index), got {dt}"
        )
    index = _int_array(index, op, int32=True)
    # (torch's RuntimeErrors; a 0-d src of a 1-D index was NumPy's "too many indices" IndexError)
    if index.ndim != x.ndim:
        raise BadShapeOrValue(
            f"{op}: index has {index.ndim} dims, self has {x.ndim} (shape {x.shape})"
        )
    if builtins.any(i > n for d, (i, n) in enumerate(zip(index.shape, x.shape)) if d != axis):
        raise BadShapeOrValue(
            f"{op}: index {index.shape} is larger than self {x.shape} outside dim {dim}"
        )
    if isinstance(src, Tensor | np.ndarray) and builtins.max(src.ndim, 1) != builtins.max(
        index.ndim, 1
    ):
        raise BadShapeOrValue(f"{op}: index {index.shape} and src {src.shape} differ in dims")
    # (a 0-d src reads as size 1 in every dim, as torch's)
    src_shape = getattr(src, "shape", None) or (1,) * index.ndim
    if src is not None and builtins.any(i > n for i, n in zip(index.shape, src_shape)):
        raise BadShapeOrValue(f"{op}: index {index.shape} is larger than src {src.shape}")
    n = x.shape[axis] if x.ndim else 1
    if check_range and index.size and (index.min() < 0 or index.max() >= n):
        raise _scatter_range_error(op, x.shape, dim, index)
    return axis, index


def _scatter_src(src, shape):
    """The leading ``shape`` block of src (what scatter reads), differentiably."""
    if src.ndim != len(shape):  # a 0-d src or index: size 1 in every dim, as torch reads it
        src = reshape(src, (1,)) if len(shape) else getitem(src, 0)
    return src if src.shape == shape else getitem(src, tuple(slice(0, n) for n in shape))


def scatter(x, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """out = x, then out[index[i][j]][j] = src[i][j] (dim 0) etc.; ``src`` may be a scalar
    ``value``; reduce='add' or 'multiply' combines instead of overwriting (torch.scatter)."""
    if reduce is None and type(x) is Tensor and type(index) is Tensor and type(dim) is int:
        out = _straight_scatter(x, dim, index, src if value is None else value)
        if out is not None:
            return out
    x = _tensor_operand(x)
    if src is not None and not isinstance(src, Tensor | np.ndarray):
        src, value = None, src
    if src is None and value is None:
        raise TypeError("scatter: give src or value")
    src = None if src is None else _same_dtype("scatter", x, _tensor_operand(src))
    if reduce is None and src is not None:
        out = _kernel_scatter(x, dim, index, src)
        if out is not None:
            return out
    key, shape = _scatter_key("scatter", x, dim, index, src)
    v = _scatter_src(src, shape) if src is not None else _fill_value(_data(value), x.dtype)
    if reduce is None:
        return named(Put.apply(x, v, key), "ScatterBackward1")
    if reduce == "add":
        return AddAt.apply(x, v, key, 1)
    if reduce != "multiply":
        raise BadShapeOrValue(f"scatter: reduce must be 'add' or 'multiply', got {reduce!r}")
    return scatter_reduce(x, dim, index, expand(v, shape) if src is None else v, "prod")


class _ScatterPut(Put):
    """scatter of a src Tensor whose index covers x outside axis, by the C++ kernels: _C.scatter
    forward; backward gathers g at the index for src (_C.gather_forward) and zeroes the
    overwritten entries of g's copy for x (_C.scatter of zeros), ~5x NumPy's fancy indexing.
    (Put's meta is kept too, for its graph backward.)"""

    @staticmethod
    def forward(ctx, x, src, key, index, axis):
        out = x.copy()  # (C order)
        _C.scatter(out, np.ascontiguousarray(src), index, axis)
        ctx.meta = (key, _shape(src))
        ctx.kernel = (index, axis)
        return out

    @staticmethod
    def backward(ctx, g):
        index, axis = ctx.kernel
        g = np.ascontiguousarray(g)
        gx = gs = None
        if ctx.needs_input_grad[0]:
            gx = g.copy()
            _C.scatter(gx, np.zeros(index.shape, g.dtype), index, axis)
        if ctx.needs_input_grad[1]:
            gs = _C.gather_forward(g, index, axis)
        return gx, gs, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return Put.backward_graph(ctx, g) + (None, None)


def _kernel_scatter(x, dim, index, src):
    """scatter(x, dim, index, src) as a _ScatterPut node, or None for the general path: x and
    src float Tensors of one dtype, an int64/int32 index of x's ndim covering x outside dim and
    no larger than src (the kernel range-checks its values)."""
    if not (type(x) is Tensor and type(src) is Tensor and x.ndim and type(dim) is int):
        return None
    a, s = x.data, src.data
    i = index.data if type(index) is Tensor else index
    nd = a.ndim
    if not (
        isinstance(i, np.ndarray)
        and (i.dtype == _I64 or i.dtype == _I32)
        and i.ndim == nd == s.ndim
        and a.dtype.char in "fd"
        and s.dtype is a.dtype
        and -nd <= dim < nd
    ):
        return None
    axis = dim % nd
    if i.shape[:axis] + i.shape[axis + 1 :] != a.shape[:axis] + a.shape[axis + 1 :]:
        return None
    if not builtins.all(k <= n for k, n in zip(i.shape, s.shape)):
        return None
    key, shape = _scatter_key("scatter", x, dim, i, src, check_range=False)
    idx = np.ascontiguousarray(key[axis], np.int64)
    try:
        return named(
            _ScatterPut.apply(x, _scatter_src(src, shape), key, idx, axis), "ScatterBackward0"
        )
    except IndexError:  # (the general path's words)
        raise _scatter_range_error("scatter", a.shape, dim, idx) from None


def _straight_scatter(x, dim, index, src, out=None):
    """scatter's common call by _C.scatter (a C-order copy of x written at the index, which the
    kernel range-checks: ~5-10x NumPy's fancy-index assignment), or None for the general path:
    x and a src Tensor of its dtype (or a Python number) outside the graph, x not 0-d, an
    int64/int32 index of x's ndim covering x outside dim and no larger than src. ``out``:
    x's own C-contiguous array, written in place (scatter_; the kernel checks the whole index
    before it writes, so a bad index leaves it as it was)."""
    a, i = x.data, index.data
    nd = a.ndim
    if not (
        nd
        and -nd <= dim < nd
        and (i.dtype is _I64 or i.dtype is _I32)
        and i.ndim == nd
        and a.dtype.char in _SELECT_CHARS
        and _outside_graph(x)
    ):
        return None
    axis = dim % nd
    if i.shape[:axis] + i.shape[axis + 1 :] != a.shape[:axis] + a.shape[axis + 1 :]:
        return None
    if type(src) is Tensor:
        s = src.data
        if s.dtype is not a.dtype or s.ndim != nd or not _outside_graph(src):
            return None
        if s.shape != i.shape:
            if not builtins.all(k <= n for k, n in zip(i.shape, s.shape)):
                return None
            s = s[tuple(slice(0, k) for k in i.shape)]
        s = np.ascontiguousarray(s)
    elif type(src) in (int, float, bool):
        s = np.full(i.shape, _fill_value(src, x.dtype), a.dtype)
    else:
        return None
    if out is None:
        out = a.copy()  # (C order, as the general path's)
    elif not _apart(out, s) and np.may_share_memory(out, s):
        s = s.copy()  # (a non-dense view of x's own memory: read before x is written, as a copy)
    try:
        _C.scatter(out, s, np.ascontiguousarray(i, np.int64), axis)
    except IndexError:  # (the general path's words)
        raise _scatter_range_error("scatter", a.shape, dim, i) from None
    return x if out is a else Tensor._make(out, False, None, 0)


_ADD_DTYPES = (_F32, _F64, _I32, _I64)  # the C++ adding kernels' (integers wrap around)


def _straight_add(x, dim, index, src):
    """(x's data, the axis, index as a C-contiguous int64 array, src's data) when index_add or
    scatter_add may skip the operand checks and the node (~5-10 us of a 32x32 call): x and
    src float32/float64/int32/int64 Tensors of one dtype (the adding kernels' types) outside
    the graph, x not 0-d, dim an int in range, index an int64 or int32 Tensor (the C++ kernels
    check the index's shape and range); else None."""
    if not (type(x) is Tensor and type(src) is Tensor and type(index) is Tensor):
        return None
    a, s, i = x.data, src.data, index.data
    nd = a.ndim
    if not (
        a.dtype is s.dtype
        and a.dtype in _ADD_DTYPES
        and (i.dtype is _I64 or i.dtype is _I32)
        and type(dim) is int
        and -nd <= dim < nd
        and _outside_graph(x)
        and _outside_graph(src)
    ):
        return None
    return a, dim % nd, np.ascontiguousarray(i, np.int64), s


def scatter_add(x, dim: int, index, src) -> Tensor:
    """out = x, then out[index[i][j]][j] += src[i][j] (dim 0) etc.; repeats add up."""
    go = _straight_add(x, dim, index, src)
    if go is not None:
        a, axis, i, s = go
        # the gather-backward kernel applies when the index covers x outside dim and is no
        # larger than src (whose leading block it reads): else the general path's checks
        if (
            (i.shape == a.shape and i.shape == s.shape)
            or (  # (the common call, tested first)
                i.ndim == a.ndim == s.ndim  # (a 0-d src: the general path's RuntimeError)
                and i.shape[:axis] + i.shape[axis + 1 :] == a.shape[:axis] + a.shape[axis + 1 :]
                and builtins.all(k <= n for k, n in zip(i.shape, s.shape))
            )
        ):
            if s.shape != i.shape:
                s = s[tuple(slice(0, k) for k in i.shape)]
            return Tensor._make(_scatter_add_kernel(a, axis, i, s), False, None, 0)
    x = _tensor_operand(x)
    src = _same_dtype("scatter_add", x, _tensor_operand(src))
    axis = _dim(dim, x.ndim, "scatter_add") if x.ndim else None
    ishape = np.shape(_data(index))
    # the index covers x outside dim: the gather-backward kernel adds into x's copy (and
    # range-checks the index in C++, without NumPy's two passes of min and max)
    fused = (
        axis is not None
        and x.data.dtype in _ADD_DTYPES
        and len(ishape) == x.ndim
        and ishape[:axis] + ishape[axis + 1 :] == x.data.shape[:axis] + x.data.shape[axis + 1 :]
    )
    key, shape = _scatter_key("scatter_add", x, dim, index, src, check_range=not fused)
    src = _scatter_src(src, shape)
    if fused:
        return named(AddAt.apply(x, src, key, 1, kernel=("scatter", axis)), "ScatterAddBackward0")
    return named(AddAt.apply(x, src, key, 1), "ScatterAddBackward0")


_REDUCE_UFUNC = {
    "sum": np.add,
    "mean": np.add,
    "prod": np.multiply,
    "amax": np.maximum,
    "amin": np.minimum,
}


class ScatterReduce(Function):
    @staticmethod
    def forward(ctx, x, src, key, reduce, include_self, fast=None):
        if fast is not None:  # (axis, int64 index): one C++ pass for the values and counts
            # (the counts only where the forward reads them, means divided there too; backward
            # counts for itself)
            out, count = _C.scatter_reduce(
                x, np.ascontiguousarray(src), fast[1], fast[0], reduce, include_self, False
            )
        else:
            ufunc = _REDUCE_UFUNC[reduce]
            count = np.zeros(x.shape, np.int64)
            np.add.at(count, key, 1)
            out = x.copy()
            if not include_self:  # targets start from the reduction's identity
                ident = ufunc.identity
                if reduce in ("amax", "amin"):  # (complex: only with an empty index)
                    kind = "f" if _lowp.is_float(x.dtype) else x.dtype.kind  # (bfloat16: 'V')
                    if kind in "fc":
                        lo, hi = -np.inf, np.inf
                    elif kind == "b":
                        lo, hi = False, True
                    else:
                        lo, hi = np.iinfo(x.dtype).min, np.iinfo(x.dtype).max
                    ident = lo if reduce == "amax" else hi
                out[count > 0] = ident
            ufunc.at(out, key, src)
            if reduce == "mean":
                n = np.maximum(count + include_self, 1)  # (int64: the division in float64)
                out = (out // n if x.dtype.kind in "iu" else out / n).astype(x.dtype)
        ctx.save_for_backward(x, src, out)
        ctx.meta = (key, reduce, include_self)
        ctx.count, ctx.fast = count, fast
        return out

    @staticmethod
    def backward(ctx, g):
        x, src, out = ctx.saved_tensors
        key, reduce, include_self = ctx.meta
        count, fast = ctx.count, ctx.fast
        if fast is None:

            def pick(a):
                return a[key]

        else:  # the C++ forward's (axis, int64 index): gathers and sums by the kernels

            def pick(a):  # take_along_axis's copy by the gather kernel (~4x at (256, 1024))
                return _C.gather_forward(np.ascontiguousarray(a), fast[1], fast[0])

        if count is None:  # (the C++ forward skipped them: fast is set)
            _, count = _C.scatter_reduce(
                x, np.ascontiguousarray(src), fast[1], fast[0], "sum", True, True
            )
        keep = (count == 0) | include_self  # where x's own value takes part
        if reduce in ("sum", "mean"):
            if reduce == "mean":  # counts in g's dtype: float32 stays float32
                g = g / np.maximum(count + include_self, 1).astype(g.dtype)
            return np.where(keep, g, 0), np.array(pick(g)), None, None, None
        if reduce in ("amax", "amin"):
            # shared evenly among the tied values; like PyTorch, an excluded self still counts
            tie_x = x == out
            tie_s = src == pick(out)
            ties = np.array(tie_x, g.dtype)  # (an array also for 0-d x: np.add.at needs one)
            if fast is None or ties.dtype.char not in "fd":
                np.add.at(ties, key, tie_s)
            else:  # (whole counts: the same sums as np.add.at's)
                s = np.ascontiguousarray(tie_s, g.dtype)
                ties = _C.scatter_reduce(ties, s, fast[1], fast[0], "sum")[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                # torch's products, not selections: where no value attains the result (a NaN
                # one) the share is g / 0 and the gradients there NaN, as in torch
                share = g / ties
                gx = np.where(keep, tie_x * share, 0)
                return gx, tie_s * pick(share), None, None, None
        # prod: d out / d x = out / x, x's zeros read as 1 (torch's formula: a NaN or infinite x
        # gets NaN); d out / d src = out / src, and for a zero src the product of the others
        masked = np.where(x == 0, np.ones_like(x), x)
        others = masked.copy()
        np.multiply.at(others, key, src)
        with np.errstate(divide="ignore", invalid="ignore"):
            others /= masked
        gs = np.where(src != 0, out[key] / src, 0)
        full = [np.broadcast_to(k, src.shape) for k in key]
        flat_src = src.reshape(-1)
        targets = np.stack([k.reshape(-1) for k in full], 1) if full else np.zeros((1, 0), int)
        for j in np.flatnonzero(flat_src == 0):
            same = (targets == targets[j]).all(1)
            same[j] = False
            t = tuple(targets[j])
            p = np.prod(flat_src[same]) * (x[t] if include_self else 1)
            gs.reshape(-1)[j] = p
        return np.where(keep, g * others, 0), g[key] * gs, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x, src, out = ctx.saved_tensors
        key, reduce, include_self = ctx.meta
        if reduce in ("amax", "amin"):
            # linear in g: the shares of the tied values are constants (torch's comparisons)
            sx, ss = ScatterReduce.backward(ctx, np.ones(g.shape, g.dtype))[:2]
            return g * _graph.constant(sx), g[key] * _graph.constant(ss), None, None, None
        if reduce == "prod":  # torch's formulas, in Tensor ops (the product again inside)
            return ScatterReduce._prod_graph(ctx, g, x, src, out) + (None,) * 3
        scratch = _graph.scratch(ScatterReduce)
        fwd = lambda a, b: ScatterReduce.forward(scratch, a, b, key, reduce, include_self)  # noqa: E731
        return _graph_scatter(ctx, g, fwd, src.shape) + (None,) * 3

    @staticmethod
    def _prod_graph(ctx, g, x0, src0, out0):
        """prod's input gradients as torch's scatter_reduce backward: g * prod(others), the
        product of the others recomputed with a zero x read as 1, and for a src the only
        zero at its target, with that zero read as 1 (more than one: src's gradient cannot
        be differentiated again, as torch's)."""
        key, _, include_self = ctx.meta
        x, src = _graph.inputs(ctx, x0, src0)
        count = ctx.count
        if count is None:  # (the C++ forward skipped them)
            count = np.zeros(x0.shape, np.int64)
            np.add.at(count, key, 1)
        keep = _graph.constant(((count == 0) | include_self).astype(g.dtype))
        gx = gs = None
        if ctx.needs_input_grad[0]:
            one_x = where(_graph.constant(x0 == 0), 1.0, x)
            others = ScatterReduce.apply(one_x, src, key, "prod", include_self) / one_x
            gx = g * others * keep
        if ctx.needs_input_grad[1]:
            zero = src0 == 0
            zeros_at = np.zeros(x0.shape, np.int64)
            np.add.at(zeros_at, key, zero)
            if (zeros_at[key][zero] > 1).any():  # backward's values; the next order refuses
                gs = Tensor._make(ScatterReduce.backward(ctx, g.data)[1], True, None, 0)
                op = "scatter_reduce 'prod' with more than one zero src reduced into a target"
                return gx, _function._DelayedError.apply(gs, op, *ctx.parents, g)
            single = _graph.constant(zero)
            rest = ScatterReduce.apply(x, where(single, 1.0, src), key, "prod", include_self)
            out = _graph.output(ctx, out0)
            gs = where(single, (g * rest)[key], (g * out)[key] / where(single, 1.0, src))
        return gx, gs


def scatter_reduce(x, dim: int, index, src, reduce: str, *, include_self: bool = True) -> Tensor:
    """Reduce src's entries into x at index along dim: reduce in 'sum', 'prod', 'mean', 'amax',
    'amin'; include_self=False leaves x's own values at the targets out (torch.scatter_reduce).
    'max'/'min' are torch's aliases of 'amax'/'amin'."""
    reduce = {"max": "amax", "min": "amin"}.get(reduce, reduce)
    if reduce in _REDUCE_UFUNC and type(include_self) is bool:
        go = _straight_add(x, dim, index, src)  # (its conditions: ScatterReduce's fast ones)
        if go is not None:
            a, axis, i, s = go
            if (
                i.ndim == a.ndim
                and i.shape == s.shape
                and i.shape[:axis] + i.shape[axis + 1 :] == a.shape[:axis] + a.shape[axis + 1 :]
            ):
                # the common call outside the graph: the kernel straight (~4x less Python)
                s = np.ascontiguousarray(s)
                try:
                    out = _C.scatter_reduce(a, s, i, axis, reduce, include_self, False)[0]
                except IndexError:  # (torch's RuntimeError too, as the general path's)
                    raise _scatter_range_error("scatter_reduce", a.shape, dim, i) from None
                return Tensor._make(out, False, None, 0)
    x = _tensor_operand(x)
    if reduce not in _REDUCE_UFUNC:
        raise BadShapeOrValue(  # (torch: RuntimeError)
            f"scatter_reduce: reduce must be one of {sorted(_REDUCE_UFUNC)}, got {reduce!r}"
        )
    if reduce in ("amax", "amin") and x.dtype.kind == "c" and np.size(_data(index)):
        # (an empty index reduces nothing: torch returns x's values, complex or not)
        raise TypeError(
            f"scatter_reduce: reduce={reduce!r} is not implemented for complex, as in torch"
        )
    if reduce == "mean" and x.dtype == np.bool_:
        raise TypeError("scatter_reduce: reduce='mean' is not implemented for bool, as in torch")
    src = _same_dtype("scatter_reduce", x, _tensor_operand(src))
    key, shape = _scatter_key("scatter_reduce", x, dim, index, src)
    fast, a = None, x.data
    if a.dtype in _ADD_DTYPES and a.ndim:  # the C++ kernel: index of x's shape outside dim
        axis = _dim(dim, a.ndim, "scatter_reduce")
        if shape[:axis] + shape[axis + 1 :] == a.shape[:axis] + a.shape[axis + 1 :]:
            fast = (axis, np.ascontiguousarray(key[axis], np.int64))
    src = _scatter_src(src, shape)
    return ScatterReduce.apply(x, src, key, reduce, bool(include_self), fast=fast)


def _along(op, x, dim, index, source=None, check_range=True):
    """index_add/index_copy/index_fill's checks (only index_fill takes negative indices, as
    PyTorch; the range not when the caller's kernel checks it); the NumPy key of ``index``
    along dim."""
    shape = x.data.shape  # (the array's: Tensor.shape's property calls were ~0.3 us here)
    nd = len(shape)
    # (a dim in range, the common call, without _dim's checks)
    axis = dim % nd if type(dim) is int and -nd <= dim < nd else _dim(dim, nd, op)
    index = _int_array(index, op, int32=op in ("index_add", "index_reduce"))
    if index.ndim > 1:
        raise ValueError(f"{op}: index must be 0-D or 1-D, got shape {index.shape}")
    n = shape[axis] if nd else 1
    if check_range and index.size and _out_of_range(index, source is None, n):
        raise IndexError(f"{op}: index out of range for dim {dim} of size {n}")
    if source is not None:
        want = shape[:axis] + (index.size,) + shape[axis + 1 :] if nd else ()
        if source.data.shape != want and not (nd == 0 and source.numel() == 1):
            # (torch's classes: index_copy's IndexError for a rank or count mismatch)
            count = source.ndim != len(want) or source.shape[axis] != index.size
            raise (IndexError if op == "index_copy" and count else RuntimeError)(
                f"{op}: source shape {source.shape} should be {want} "
                f"(self {x.shape}, {index.size} indices at dim {dim})"
            )
    return (slice(None),) * axis + (index.reshape(-1),) if x.ndim else ()


def _out_of_range(index: np.ndarray, negative: bool, n: int) -> bool:
    """Whether an int64 index has a value outside [0, n) (or [-n, n) with ``negative``). A 1-D
    one's by index_select's C++ scan, on an array of n empty rows (no values to copy): ~0.3 us
    where NumPy's min and max were ~2 us."""
    if index.ndim == 1 and index.flags.c_contiguous:
        try:
            _C.index_select(np.empty((n, 0), np.int8), index, 0)
        except IndexError:  # (a negative one may still be in range: NumPy's test below)
            if not negative:
                return True
        else:
            return False
    return index.min() < (-n if negative else 0) or index.max() >= n


def index_add(x, dim: int, index, source, *, alpha=1) -> Tensor:
    """out = x, then out[..., index[i], ...] += alpha * source[..., i, ...] (repeats add up)."""
    go = _straight_add(x, dim, index, source)
    if go is not None and (type(alpha) is int or type(alpha) is float):
        a, axis, i, s = go
        alpha = _int_alpha(a.dtype, alpha)
        # a 0-d or 1-D non-empty index and source of x's shape but the index's length at dim
        # (else the general path's checks and np.add.at)
        if (
            0 < i.size
            and i.ndim <= 1
            and s.shape == a.shape[:axis] + (i.size,) + a.shape[axis + 1 :]
        ):
            s = s * alpha if alpha != 1 else s  # (as AddAt: alpha in source's dtype)
            return Tensor._make(_index_add_kernel(a, axis, i.reshape(-1), s), False, None, 0)
    x = _tensor_operand(x)
    source = _same_dtype("index_add", x, _tensor_operand(source))
    fused = x.ndim and x.data.dtype in _ADD_DTYPES  # (the kernel checks the index's range)
    key = _along("index_add", x, dim, index, source, check_range=not fused)
    rows = ("rows", len(key) - 1) if fused else None
    if rows and not key[-1].size:  # no indices: nothing for the row kernel to add
        rows = None
    return named(AddAt.apply(x, source, key, alpha, kernel=rows), "IndexAddBackward0")


def _index_copy_into(d: np.ndarray, s: np.ndarray, index, dim) -> bool:
    """index_copy's slices of ``s`` written into the C-contiguous array ``d`` by _C.index_copy
    when ``index`` is a 1-D int64 tensor and the shapes agree: False (nothing written) for any
    other call or an index out of range, whose error _along then gives in its words."""
    i = index._data if type(index) is Tensor else None
    nd = d.ndim
    if not (
        i is not None
        and i.dtype is _I64
        and i.ndim == 1
        and type(dim) is int
        and -nd <= dim < nd
        and d.flags.c_contiguous
        and s.shape == d.shape[: dim % nd] + i.shape + d.shape[dim % nd + 1 :]
    ):
        return False
    try:
        _C.index_copy(d, np.ascontiguousarray(s), np.ascontiguousarray(i), dim % nd)
    except IndexError:
        return False
    return True


def index_copy(x, dim: int, index, source) -> Tensor:
    if (
        type(x) is Tensor
        and type(source) is Tensor
        and _outside_graph(x)
        and _outside_graph(source)
    ):
        # overhead36: outside autograd, Put's forward straight after the same checks (the
        # node's ~1.5 us of a 32x32 call)
        if source._data.dtype is not x._data.dtype:
            _same_dtype("index_copy", x, source)
        # overhead41: index_copy_'s kernel on a copy (_along's checks and NumPy's fancy
        # assignment: ~2 us of a 32x32 call)
        out = x._data.copy()
        if _index_copy_into(out, source._data, index, dim):
            return _plain(out)
        key = _along("index_copy", x, dim, index, source)
        out = x.data.copy()
        out[key] = source.data
        return Tensor._make(out, False, None, 0)
    if type(x) is Tensor and type(source) is Tensor and type(index) is Tensor and type(dim) is int:
        # overhead42: recorded, a 1-D int64 index and a source of the right shape, _along's
        # steps without its conversions (~5.7 -> ~4 us of a 32x32 call); else the checks below
        d, s, i = x._data, source._data, index._data
        nd = d.ndim
        if nd and -nd <= dim < nd and i.dtype is _I64 and i.ndim == 1 and s.dtype is d.dtype:
            axis = dim % nd
            if (
                s.shape == d.shape[:axis] + i.shape + d.shape[axis + 1 :]
                and i.flags.c_contiguous
                and not _out_of_range(i, False, d.shape[axis])
            ):
                key = (_ALL,) * axis + (i,)
                return named(Put.apply(x, source, key), "IndexCopyBackward0")
    x = _tensor_operand(x)
    source = _same_dtype("index_copy", x, _tensor_operand(source))
    return named(
        Put.apply(x, source, _along("index_copy", x, dim, index, source)), "IndexCopyBackward0"
    )


def _fill_index(index) -> None:
    """torch's refusals of index_fill's index: not int64 (IndexError), more than 1-D."""
    if isinstance(index, Tensor | np.ndarray):
        if index.dtype != np.int64:
            raise BadIndexDtype(f"index_fill: expected dtype int64 for index, got {index.dtype}")
        if index.ndim > 1:
            raise BadShapeOrValue(
                f"index_fill: index has to be a vector or scalar, got shape {tuple(index.shape)}"
            )


def index_fill(x, dim: int, index, value) -> Tensor:
    """x with ``value`` (a number or a 0-d tensor) at the given indices along dim."""
    x = _tensor_operand(x)
    _fill_index(index)
    if isinstance(value, Tensor):
        if value.ndim:
            raise BadShapeOrValue(
                f"index_fill: value must be a 0-d tensor, got shape {tuple(value.shape)}"
            )
        value = cast(value, x.dtype)
    else:
        if isinstance(value, complex) and _kind(x) != "c":  # (torch: RuntimeError)
            raise BadDtype(
                f"index_fill: converting the complex value {value} to {x.dtype} is not supported"
            )
        value = _fill_value(value, x.dtype)
    key = _along("index_fill", x, dim, index)
    if key and key[-1].size > 1:  # each entry once: value's gradient counts it once, as torch's
        key = key[:-1] + (np.unique(key[-1] % x.shape[len(key) - 1]),)
    return named(_preserved(Put.apply(x, value, key), x.data), "IndexFillBackward0")


def index_put(x, indices, values, accumulate: bool = False) -> Tensor:
    """x with x[indices] = values (or += with accumulate, repeats adding up), out of place,
    laid out as x (torch's clone of x, preserve_format)."""
    x = _tensor_operand(x)
    for n, i in enumerate(indices):  # (torch takes Tensors only; ember arrays and lists too)
        if not isinstance(i, Tensor | np.ndarray | list | tuple):
            raise TypeError(
                f"index_put: expected Tensor as element {n} in argument 0, but got "
                f"{type(i).__name__}"
            )
    if x.ndim == 0 and len(indices):  # (x[True] is fine, index_put's key on a 0-d x is not)
        raise IndexError(
            f"index_put: too many indices for tensor of dimension 0 (got {len(indices)})"
        )
    out = _index_put(x, indices, values, accumulate)
    a, y = x.data, out.data
    if not a.flags.c_contiguous:
        want = _strides.preserved(a)
        if _strides._elem_strides(y) != want:  # (nothing saved the fresh result: relaid)
            out.data = _strides.empty(y.shape, want, y.dtype)
            np.copyto(out.data, y)
    return out


def _index_put(x, indices, values, accumulate: bool) -> Tensor:
    key = tuple(_index_array(i) if isinstance(i, Tensor) else np.asarray(i) for i in indices)
    check_empty_masks(key, x.shape)
    values = _same_dtype("index_put", x, _tensor_operand(values))
    if accumulate and len(key) == 1 and x.data.dtype.char in "fd" and x.ndim:
        # one integer index along dim 0 with values of the indexed shape: index_add's kernel
        # (the same sums in the same order as np.add.at, ~3x faster; no x[key] gather to
        # check the shapes), negatives wrapped first; others (and bad indices) below
        i, n = key[0], x.shape[0]
        if (
            i.dtype.kind in "iu"
            and i.ndim == 1
            and values.shape == (i.size,) + x.shape[1:]
            and (not i.size or (-n <= i.min() and i.max() < n))
        ):
            i = np.ascontiguousarray(i, np.int64)
            if i.size and i.min() < 0:
                i = np.where(i < 0, i + n, i)
            if _outside_graph(x) and _outside_graph(values):
                return Tensor._make(_index_add_kernel(x.data, 0, i, values.data), False, None, 0)
            return named(AddAt.apply(x, values, (i,), 1, kernel=("rows", 0)), "IndexPutBackward0")
    fit = f"index_put: values {values.shape} do not fit the indexed shape"
    try:
        k = key[0] if len(key) == 1 else None
        if k is not None and k.dtype.kind in "iu" and x.ndim:
            # one integer index: the indexed shape without the gather (bounds: below)
            shape = k.shape + x.data.shape[1:]
        else:
            shape = x.data[key].shape
        if values.data.shape != shape:
            np.broadcast_to(values.data, shape)
    except (IndexError, ValueError) as e:
        raise type(e)(f"{fit}: {e}") from None
    try:
        out = AddAt.apply(x, values, key, 1) if accumulate else Put.apply(x, values, key)
        return named(out, "IndexPutBackward0")
    except IndexError as e:  # an index out of bounds (found by the write itself)
        raise IndexError(f"{fit}: {e}") from None


def take(x, index) -> Tensor:
    """x's entries at flat (row-major) ``index``; the result has index's shape."""
    if type(x) is Tensor and type(index) is Tensor and _outside_graph(x):
        a, i = x._data, index._data  # overhead42: an int64 index in range, outside the graph:
        if i.dtype is _I64 and a.flags.c_contiguous and a.size:  # index_select's kernel on
            try:  # the flat x (~6.9 -> ~2 us of a 32x32; negatives: the general path)
                out = _C.index_select(a.reshape(-1), np.ascontiguousarray(i).reshape(-1), 0)
                return _plain(out.reshape(i.shape))
            except IndexError:
                pass
    x = _tensor_operand(x)
    index = _int_array(index, "take", int32=False)
    n = x.numel()
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f"take: index out of range for a tensor of {n} elements")
    return named(getitem(reshape(x, (-1,)), index), "TakeBackward0")


def take_along_dim(x, indices, dim=None) -> Tensor:
    """Pick values along dim at ``indices`` (broadcast against x outside dim); without dim over
    the flattened tensor (torch.take_along_dim)."""
    if type(x) is Tensor and type(indices) is Tensor and type(dim) is int:
        # the common call (an int64 index of x's shape outside dim, none negative) straight
        # to the gather kernel, which range-checks it: ~3x less Python at 32x32
        a, i = x.data, indices.data
        nd = a.ndim
        if i.dtype is _I64 and i.ndim == nd and -nd <= dim < nd:
            axis = dim % nd
            if _gather_kernel(a.shape, a.dtype, axis, i):
                try:
                    if _outside_graph(x):
                        y = _C.gather_forward(np.ascontiguousarray(a), i, axis)
                        return Tensor._make(y, False, None, 0)
                    return Gather.apply(x, axis, i, kernel=True)
                except IndexError:  # (a negative index wraps: the general path below)
                    pass
    x = _tensor_operand(x)
    indices = _int_array(indices, "take_along_dim", int32=dim is None)
    if dim is None:
        # (torch gathers from the flat x: no wrapping, and gather's error)
        bad = indices[(indices < 0) | (indices >= x.numel())] if indices.size else indices
        if bad.size:
            raise _IndexRangeError(
                f"take_along_dim: index {int(bad[0])} is out of bounds for dimension 0 "
                f"with size {x.numel()}"
            )
        return take(x, indices.reshape(-1))
    axis = _dim(dim, x.ndim, "take_along_dim")
    if indices.ndim != x.ndim:
        raise BadShapeOrValue(
            f"take_along_dim: indices {indices.shape} and input {x.shape} "
            "must have the same number of dims"
        )
    n = x.shape[axis]
    if indices.shape[:axis] + indices.shape[axis + 1 :] != x.shape[:axis] + x.shape[axis + 1 :]:
        try:
            rest = np.broadcast_shapes(
                x.shape[:axis] + x.shape[axis + 1 :],
                indices.shape[:axis] + indices.shape[axis + 1 :],
            )
        except ValueError:  # (torch's RuntimeError)
            raise BadShapeOrValue(
                f"take_along_dim: indices {indices.shape} do not broadcast with input {x.shape} "
                f"outside dim {dim}"
            ) from None
        x = expand(x, rest[:axis] + (n,) + rest[axis:])
        indices = np.broadcast_to(indices, rest[:axis] + (indices.shape[axis],) + rest[axis:])
    # (the same shapes outside dim, the common call: no expand or broadcast, ~2x faster small)
    if n and indices.size and (indices.min() < 0 or indices.max() >= n):
        indices = np.mod(indices, n)  # torch 2.13 wraps any index modulo the dim's size
    return gather(x, axis, indices)


def _bool_mask(op, mask):
    mask = np.asarray(_data(mask))
    if mask.dtype != np.bool_:
        raise BadDtype(f"{op}: mask must be a bool tensor, got {mask.dtype}")
    return mask


class MaskedSelect(Function):
    """x (broadcast to the mask's shape) read where mask holds: one node, its edge x itself, as
    torch's MaskedSelectBackward0 (not an expand's node, then an index's)."""

    @staticmethod
    def forward(ctx, x, mask):
        ctx.meta = (x.shape, mask)
        return (x if x.shape == mask.shape else np.broadcast_to(x, mask.shape))[mask]

    @staticmethod
    def backward(ctx, g):
        shape, mask = ctx.meta
        out = np.zeros(mask.shape, g.dtype)
        out[mask] = g
        return unbroadcast(out, shape), None

    @staticmethod
    def backward_graph(ctx, g):
        shape, mask = ctx.meta
        zeros = _graph.constant(np.zeros(mask.shape, g.dtype))
        return _graph.sum_to(masked_scatter(zeros, mask, g), shape), None


def masked_select(x, mask) -> Tensor:
    """The 1-D tensor of x's entries where mask (broadcast with x) is True."""
    if type(x) is Tensor and type(mask) is Tensor:
        a, m = x.data, mask.data
        if m.dtype == np.bool_ and m.shape == a.shape and a.ndim:  # the common call: one
            if _outside_graph(x):  # NumPy mask read (~5x less Python)
                return Tensor._make(a[m], False, None, 0)
            if _state.enabled and _function._fw_level is None:
                # overhead39: in the graph, the node straight (~16 -> ~5 us of a 32x32)
                return named(MaskedSelect.apply(x, m), "MaskedSelectBackward0")
    x = _tensor_operand(x)
    mask = _bool_mask("masked_select", mask)
    shape = broadcast_shapes(x.shape, mask.shape)
    if x._requires_grad and _state.enabled and _function._fw_level is None:
        mask = np.broadcast_to(mask, shape)
        return named(MaskedSelect.apply(x, mask), "MaskedSelectBackward0")
    return named(getitem(expand(x, shape), np.broadcast_to(mask, shape)), "MaskedSelectBackward0")


def masked_scatter(x, mask, source) -> Tensor:
    """x with its entries where mask is True replaced, in order, by source's first entries."""
    x = _tensor_operand(x)
    mask = _bool_mask("masked_scatter", mask)
    shape = np.broadcast_shapes(x.shape, mask.shape)  # torch broadcasts x against the mask too
    x, mask = (x if x.shape == shape else x.expand(*shape)), np.broadcast_to(mask, shape)
    source = _same_dtype("masked_scatter", x, _tensor_operand(source))
    count = int(mask.sum())
    if source.numel() < count:
        raise ValueError(
            f"masked_scatter: source has {source.numel()} elements, mask selects {count}"
        )
    return named(
        Put.apply(x, getitem(reshape(source, (-1,)), slice(0, count)), mask),
        "MaskedScatterBackward0",
    )


def nonzero(x, *, as_tuple: bool = False):
    """Indices of the non-zero entries: (n, ndim) int64, or a tuple of 1-D index tensors."""
    a = np.asarray(_data(x))
    if a.ndim >= 2 and not as_tuple:  # the (n, ndim) result written in one pass (_C.nonzero):
        # np.nonzero's per-dim arrays and their stack took ~2.5x as long
        return Tensor(
            _by_columns(_C.nonzero(np.ascontiguousarray(a if a.dtype == np.bool_ else a != 0)))
        )
    idx = np.nonzero(np.atleast_1d(a) if as_tuple else a) if a.ndim or as_tuple else ()
    # (np.nonzero's indices are fresh intp arrays: int64 here, so no second copy; of more than
    # one dim, column views of one (n, ndim) array: contiguous copies, as torch's)
    if as_tuple:
        return tuple(Tensor(np.ascontiguousarray(i, np.int64)) for i in idx)
    if a.ndim == 0:
        return Tensor(np.zeros((int(a != 0), 0), np.int64))
    if a.ndim == 1:  # (n, 1): the indices as they are, not a stacked copy
        return Tensor(_by_columns(idx[0].astype(np.int64, copy=False).reshape(-1, 1)))
    return Tensor(_by_columns(np.stack(idx, 1).astype(np.int64, copy=False)))


def _by_columns(out: np.ndarray) -> np.ndarray:
    """nonzero's (n, ndim) result with torch's CPU strides (1, n): a column per dim."""
    n, dims = out.shape
    if out.strides == (8, 8 * n):
        return out
    if n > 1 and dims > 1:  # (a transposed C copy has those strides: ~4x cheaper than below,
        return np.ascontiguousarray(out.T).T  # which also sets torch's strides of size-1 dims)
    y = _strides.empty(out.shape, (1, n), np.int64)
    np.copyto(y, out)
    return y


def argwhere(x) -> Tensor:
    return nonzero(x)


def count_nonzero(x, dim=None) -> Tensor:
    if type(dim) is Tensor and dim.ndim:  # (torch: an int or ints; [1] is neither)
        raise TypeError("count_nonzero(): argument 'dim' must be int or tuple of ints, not Tensor")
    a = np.asarray(_data(x))
    axes = _axes(dim, a.ndim, "count_nonzero")
    if len(axes) == a.ndim:  # (NumPy's whole-array count is ~8x its count over all axes)
        return Tensor(np.asarray(np.count_nonzero(a), np.int64))
    if a.dtype == np.bool_ and a.size < 2**31:  # bytes summed in int32: ~2x NumPy's intp sums
        return Tensor(a.view(np.uint8).sum(axes, dtype=np.int32).astype(np.int64))
    return Tensor(np.asarray(np.count_nonzero(a, axis=axes), np.int64))


def _tri_indices(name, f):
    def op(
        row: int, col: int, offset: int = 0, *, dtype=np.int64, device=None, layout=None,
        pin_memory=False, requires_grad=False,
    ):  # fmt: skip
        from ember import _device, _layout

        if device is not None:
            _device.check(device)
        _layout.check_layout(layout, name)
        for arg, v in (("row", row), ("col", col), ("offset", offset)):  # (torch: 1.5 refused)
            if isinstance(v, bool) or not hasattr(type(v), "__index__"):
                raise TypeError(f"{name}(): argument '{arg}' must be int, not {type(v).__name__}")
        if row < 0 or col < 0:
            raise ValueError(f"{name}: row ({row}) and col ({col}) must be non-negative")
        if np.dtype(dtype) not in (np.int32, np.int64):  # torch implements these two only
            raise NotImplementedError(f"{name}: not implemented for {np.dtype(dtype)}")
        out = np.stack(f(row, offset, col)).astype(dtype).reshape(2, -1)
        return Tensor(out, requires_grad=requires_grad)  # (the setter refuses it for ints)

    op.__name__ = name
    op.__doc__ = f"The (2, N) row-major indices of the {name[:4]} triangle (torch.{name})."
    return op


tril_indices = _tri_indices("tril_indices", np.tril_indices)
triu_indices = _tri_indices("triu_indices", np.triu_indices)


def _diag_rows_cols(n1: int, n2: int, offset: int):
    length = builtins.max(
        builtins.min(n1 - builtins.max(-offset, 0), n2 - builtins.max(offset, 0)), 0
    )
    return np.arange(length) + builtins.max(-offset, 0), np.arange(length) + builtins.max(offset, 0)


def _write_diagonal(shape, dtype, values, offset, d1, d2):
    """A zero array of ``shape`` whose (offset, d1, d2) diagonal is ``values`` (last axis)."""
    out = np.zeros(shape, dtype)
    rows, cols = _diag_rows_cols(shape[d1], shape[d2], offset)
    np.moveaxis(out, (d1, d2), (-2, -1))[..., rows, cols] = values
    return out


class Diagonal(Function):
    _reusable = True  # (backward reads shapes alone)

    @staticmethod
    def forward(ctx, x, offset, d1, d2):
        ctx.meta = (x.shape, offset, d1, d2)
        # a view, as torch's: x.diagonal().zero_() writes x
        d = np.diagonal(x if x.size else _strides.laid(x), offset, d1, d2)
        if not d.size and offset:  # (torch moves an empty diagonal's start by no offset)
            w = x.flags.writeable
            return np.lib.stride_tricks.as_strided(
                _strides.laid(x), d.shape, d.strides, writeable=w
            )
        d.flags.writeable = x.flags.writeable  # (NumPy makes it read-only by default)
        return d

    @staticmethod
    def backward(ctx, g):
        shape, offset, d1, d2 = ctx.meta
        return _write_diagonal(shape, g.dtype, g, offset, d1, d2), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        _, offset, d1, d2 = ctx.meta
        diagonal_map = lambda v: np.diagonal(v, offset, d1, d2).copy()  # noqa: E731
        return _graph.linear(ctx, g, diagonal_map), None, None, None


def _two_dims(op, ndim, dim1, dim2):
    d1, d2 = _dim(dim1, ndim, op), _dim(dim2, ndim, op)
    if d1 == d2:
        raise BadShapeOrValue(f"{op}: dim1 and dim2 must differ, got {dim1} and {dim2}")
    return d1, d2


def diagonal(x, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """The diagonal of the (dim1, dim2) planes as a new last dim (torch.diagonal)."""
    if (
        type(x) is Tensor
        and type(offset) is int
        and type(dim1) is int
        and type(dim2) is int
        and not (x._requires_grad and _state.enabled)
        and _function._fw_level is None
    ):  # overhead42: outside the graph, NumPy's view straight (~4 -> ~1.3 us of a 32x32)
        a = x._data
        nd = a.ndim
        if (
            -nd <= dim1 < nd
            and -nd <= dim2 < nd
            and dim1 % nd != dim2 % nd
            and a.size
            and -_LONG <= offset < _LONG  # (past int64: _index_dim's overflow error)
        ):
            d = a.diagonal(offset, dim1, dim2)
            if d.size or not offset:  # (an empty diagonal's start: Diagonal's forward)
                d.flags.writeable = a.flags.writeable  # (NumPy makes it read-only)
                return _outside_view(d, x)
    x = _tensor_operand(x)
    if x.ndim < 2:
        raise _OutOfBounds(  # (torch: dim1 / dim2 out of range, an IndexError)
            f"diagonal: input must have >= 2 dims, got shape {x.shape}"
        )
    offset = _index_dim(offset, "diagonal", "offset")  # (True is not offset 1, nor 1.5 one)
    return Diagonal.apply(x, offset, *_two_dims("diagonal", x.ndim, dim1, dim2))


class DiagEmbed(Function):
    @staticmethod
    def forward(ctx, x, offset, d1, d2):
        ctx.meta = (offset, d1, d2)
        n = x.shape[-1] + builtins.abs(offset)
        out = _write_diagonal(x.shape[:-1] + (n, n), x.dtype, x, offset, -2, -1)
        # (torch writes into a fresh contiguous result whatever dim1, dim2)
        return _strides.c_order(np.ascontiguousarray(np.moveaxis(out, (-2, -1), (d1, d2))))

    @staticmethod
    def backward(ctx, g):
        offset, d1, d2 = ctx.meta
        return np.diagonal(g, offset, d1, d2).copy(), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        args = ctx.meta
        embed_map = lambda v: DiagEmbed.forward(_graph.scratch(DiagEmbed), v, *args)  # noqa: E731
        return _graph.linear(ctx, g, embed_map), None, None, None


def diag_embed(x, offset: int = 0, dim1: int = -2, dim2: int = -1) -> Tensor:
    """Matrices (in dims dim1, dim2 of the result) whose offset diagonal is x's last dim."""
    if (
        type(x) is Tensor
        and type(offset) is int
        and dim1 == -2
        and dim2 == -1
        and type(dim1) is int
        and type(dim2) is int
        and _outside_graph(x)
        and x._data.ndim
    ):  # overhead42: the default dims outside the graph, the diagonal written through a
        # strided view of the flat result (~20 -> ~3 us of a 32x32: DiagEmbed's fancy index)
        a = x._data
        m = a.shape[-1]
        n = m + builtins.abs(offset)
        out = np.zeros(a.shape[:-1] + (n, n), a.dtype)
        if out.size:
            flat = out.reshape(-1, n * n)  # (the diagonal starts at row 0, column offset,
            start = offset if offset >= 0 else -offset * n  # or at row -offset, column 0)
            flat[:, start :: n + 1][:, :m] = a.reshape(flat.shape[0], m)
        return _plain(out)
    x = _tensor_operand(x)
    if x.ndim < 1:
        raise IndexError("diag_embed: input must have >= 1 dim (dim1 -2 is out of range)")
    return DiagEmbed.apply(x, int(offset), *_two_dims("diag_embed", x.ndim + 1, dim1, dim2))


def diag(x, diagonal: int = 0) -> Tensor:
    """A 1-D tensor as the given diagonal of a square matrix, or a matrix's diagonal as 1-D."""
    if type(x) is Tensor and type(diagonal) is int and _outside_graph(x):
        # overhead39: outside the graph, the array straight (a 32-vector's ~16 -> ~2 us: the
        # generic apply and np.moveaxis's frames were the cost); the same values and C strides
        a, k = x.data, diagonal
        if a.ndim == 1:
            n = a.shape[0] + builtins.abs(k)
            out = np.zeros((n, n), a.dtype)
            # (the diagonal starts at row 0, column k, or at row -k, column 0)
            out.reshape(-1)[k if k >= 0 else -k * n :: n + 1][: a.shape[0]] = a
            return _plain(out)
        if a.ndim == 2:
            return _plain(np.diagonal(a, k).copy())
    x = _tensor_operand(x)
    if x.ndim == 1:
        return diag_embed(x, diagonal, 0, 1)
    if x.ndim == 2:
        # a copy, as torch.diag (its node's name in torch 2.13)
        return named(clone(Diagonal.apply(x, int(diagonal), 0, 1)), "DiagonalBackward0_copy")
    raise BadShapeOrValue(f"diag: supports 1-D or 2-D tensors, got shape {x.shape}")


def diagflat(x, offset: int = 0) -> Tensor:
    return diag(reshape(x, (-1,)), offset)


def trace(x) -> Tensor:
    """Sum of a matrix's main diagonal."""
    x = _tensor_operand(x)
    if x.ndim != 2:
        raise ValueError(f"trace: expected a 2-D tensor, got shape {x.shape}")
    if x.data.dtype == np.bool_:  # (torch: "trace" not implemented for 'Bool'; sum counts)
        raise TypeError("trace: not implemented for bool tensors")
    return named(sum(Diagonal.apply(x, 0, 0, 1)), "TraceBackward0")


def fill_diagonal_(x: Tensor, fill_value, wrap: bool = False) -> Tensor:
    """Fill the main diagonal in place (all dims equal beyond 2-D; wrap continues it below a
    tall matrix's first block, as NumPy and PyTorch)."""
    if x.ndim < 2 or (x.ndim > 2 and len(set(x.shape)) > 1):
        raise ValueError(f"fill_diagonal_: needs >= 2 dims, all equal beyond 2, got {x.shape}")
    out = x.data.copy()
    np.fill_diagonal(out, fill_value, wrap=wrap)
    return x._assign(out)


def _plain_meshgrid(tensors, indexing):
    """overhead42: meshgrid of fresh non-empty 1-D tensors of one dtype outside the graph, each
    grid expand's view of its array straight (~11 -> ~4 us of two 32-vectors: the Tensor
    reshapes and expands below; the same views); else None."""
    if not tensors or _function._fw_level is not None:
        return None
    dt = tensors[0]._data.dtype if type(tensors[0]) is Tensor else None
    for t in tensors:
        if type(t) is not Tensor or t._requires_grad:
            return None
        d = t._data
        if d.ndim != 1 or d.base is not None or not d.size or d.dtype is not dt:
            return None
    ts = list(tensors)
    if indexing == "xy" and len(ts) > 1:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple([t._data.shape[0] for t in ts])
    k = len(ts)
    grids = [
        _outside_view(_expanded(t._data.reshape((1,) * i + (-1,) + (1,) * (k - i - 1)), shape), t)
        for i, t in enumerate(ts)
    ]
    if indexing == "xy" and len(ts) > 1:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def meshgrid(*tensors, indexing: str = "ij") -> tuple:
    """Coordinate grids from 1-D tensors ('ij': matrix indexing, 'xy': Cartesian)."""
    if len(tensors) == 1 and isinstance(tensors[0], list | tuple):
        tensors = tensors[0]
    if indexing not in ("ij", "xy"):
        raise BadShapeOrValue(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    if (grids := _plain_meshgrid(tensors, indexing)) is not None:
        return grids
    ts = [_tensor_operand(t) for t in tensors]
    if builtins.any(t.ndim > 1 for t in ts):
        raise BadShapeOrValue(f"meshgrid: expects 0-D or 1-D tensors, got {[t.shape for t in ts]}")
    if not ts:  # (torch's RuntimeErrors)
        raise BadShapeOrValue("meshgrid: expects a non-empty list of tensors")
    if len({t.dtype for t in ts}) > 1:
        raise BadDtype(f"meshgrid: expects tensors of one dtype, got {[str(t.dtype) for t in ts]}")
    if indexing == "xy" and len(ts) > 1:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.numel() for t in ts)
    grids = [
        expand(reshape(t, (1,) * i + (-1,) + (1,) * (len(ts) - i - 1)), shape)
        for i, t in enumerate(ts)
    ]
    if indexing == "xy" and len(ts) > 1:
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


def cartesian_prod(*tensors) -> Tensor:
    """All combinations of the 1-D tensors' entries, one per row (torch.cartesian_prod)."""
    if len(tensors) == 1:
        return _tensor_operand(tensors[0])
    return stack([reshape(g, (-1,)) for g in meshgrid(*tensors)], 1)


def unique(
    x,
    sorted: bool = True,
    return_inverse: bool = False,
    return_counts: bool = False,
    dim=None,
):
    """The distinct values (sorted), and optionally the inverse indices and the counts; with
    dim, the distinct slices along dim."""
    a = np.asarray(_data(x))
    if dim is not None and a.ndim == 0:  # NumPy's AxisError otherwise
        raise IndexError(f"unique: dim {dim} given for a 0-d tensor, which has no dims")
    if dim is None and a.size and _selectable(a.dtype):
        return _unique_flat(a, return_inverse, return_counts)
    axis = None if dim is None else _dim(dim, a.ndim, "unique")
    if axis is not None:
        _unique_dim_check(a.shape, axis)
        if a.dtype.kind == "f" and a.size and np.isnan(a).any():
            return _unique_dim_nan(a, axis, return_inverse, return_counts)
    # equal_nan=False: each NaN is its own value, as in PyTorch
    vals, inv, counts = np.unique(
        a, return_inverse=True, return_counts=True, axis=axis, equal_nan=False
    )
    inv = inv.reshape(a.shape) if dim is None else inv.reshape(-1)
    return _unique_result(vals, inv, counts, return_inverse, return_counts)


def _unique_flat(a: np.ndarray, return_inverse: bool, return_counts: bool):
    """unique of all of a (not empty, _selectable) as torch's: its unstable sort, then the runs
    of equal values (each NaN a run of its own), each run's value its first sorted entry. Any
    sort gives the same runs; only which of -0 and +0 stands for a run of zeros holding both,
    and which NaN is which (the inverse), follow torch's order of ties. So _C's copy of torch's
    sort for short float inputs; else a stable radix sort (~2-5x NumPy's unique, whose sort is
    not SIMD here), or none for a sorted input, and torch's sort only when those ties occur."""
    flat = v = a.reshape(-1)
    n = v.size
    rows = idx = None  # (idx None: v is in order already)
    exact = v.dtype.kind == "f" and n <= 4096  # (short: checking for the ties costs more)
    # a long sorted input (no NaN) keeps its order: one pass to check, ~3x less than the sort
    if n <= 4096 or (v[1:] < v[:-1]).any() or (v.dtype.kind == "f" and np.isnan(v).any()):
        rows = _select_rows(v.reshape(1, -1), 1)
        sort_rows = _C.sort_indices if exact else _C.stable_sort_indices
        if rows.dtype == a.dtype:  # (the values read by the kernel, in its cache)
            v, idx = sort_rows(rows, False, True)
            v, idx = v[0], idx[0]
        else:  # (a's own values: bool, float16, ... compare as themselves)
            idx = sort_rows(rows, False)[0]
            v = flat[idx]
    if v.dtype.kind == "f" and not exact and _unique_ties(v, return_inverse):
        if rows is None:
            rows = _select_rows(flat.reshape(1, -1), 1)
        idx = _C.sort_indices(rows, False)[0]
        v = flat[idx]
    return _runs_result(v, a.shape, idx, return_inverse, return_counts)


def _runs_result(v, shape, idx, return_inverse, return_counts):
    """unique's results from 1-D v (not empty) in order: its runs of equal values (NaN != NaN),
    the inverse of the entry at position idx[k] (k when idx is None) reshaped to shape."""
    n = v.size
    starts = np.empty(n, np.bool_)
    starts[0] = True
    np.not_equal(v[1:], v[:-1], out=starts[1:])
    first = np.flatnonzero(starts)
    inv = counts = None
    if return_inverse:
        inv = rank = np.cumsum(starts, dtype=np.int64)
        rank -= 1
        if idx is not None:  # (sorted position k holds a's entry idx[k])
            inv = np.empty_like(rank)
            inv[idx] = rank
        inv = inv.reshape(shape)
    if return_counts:
        counts = np.empty(first.size, np.int64)
        np.subtract(first[1:], first[:-1], out=counts[:-1])
        counts[-1] = n - first[-1]
    return _unique_result(v[first], inv, counts, return_inverse, return_counts)


def _unique_ties(v: np.ndarray, inverse: bool) -> bool:
    """Whether sorted float v's run of zeros holds both -0 and +0, or (for the inverse) v ends
    in two NaNs: the ties whose order shows in unique's results."""
    if inverse and v.size > 1 and np.isnan(v[-2]):
        return True
    zeros = np.signbit(v[np.searchsorted(v, 0, "left") : np.searchsorted(v, 0, "right")])
    return bool(zeros.any()) and not zeros.all()


def _unique_dim_nan(a: np.ndarray, axis: int, return_inverse: bool, return_counts: bool):
    """unique over axis of a float array holding NaN, in torch's order: torch sorts the slices
    with std::sort and a lexicographic < that skips NaN positions (not a strict weak order, so
    the order is that algorithm's), then each slice holding NaN is a run of its own."""
    moved = np.moveaxis(a, axis, 0)
    rows = moved.reshape(moved.shape[0], -1)
    items = rows.tolist()

    def less(i, j):  # torch's comparator: the first position where neither is NaN decides
        for p, q in zip(items[i], items[j], strict=True):
            if p < q:
                return True
            if p > q:
                return False
        return False

    order = _libstdcxx_sort(len(items), less)
    srt = rows[order]
    starts = np.ones(len(order), np.bool_)
    starts[1:] = (srt[1:] != srt[:-1]).any(1)
    inv = np.empty(len(order), np.int64)
    inv[order] = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    counts = np.diff(np.append(first, len(order)))
    vals = np.moveaxis(moved[np.asarray(order)[first]], 0, axis)
    return _unique_result(vals, inv, counts, return_inverse, return_counts)


def _libstdcxx_sort(n: int, less) -> list:
    """range(n) in the order libstdc++'s std::sort (introsort: median-of-three quicksort above
    16 elements, heapsort past depth 2 * log2(n), then insertion sort) leaves it under
    less(i, j): torch's CPU sorts with a comparator, whose ties (or inconsistencies) show in
    the order. The unguarded scans are bounded here."""
    v = list(range(n))

    def sift_down(lo, hole, n, val):  # std::__adjust_heap on v[lo : lo + n]
        top, child = hole, hole
        while child < (n - 1) // 2:
            child = 2 * (child + 1)
            if less(v[lo + child], v[lo + child - 1]):
                child -= 1
            v[lo + hole] = v[lo + child]
            hole = child
        if n % 2 == 0 and child == (n - 2) // 2:
            child = 2 * (child + 1)
            v[lo + hole] = v[lo + child - 1]
            hole = child - 1
        parent = (hole - 1) // 2  # std::__push_heap
        while hole > top and less(v[lo + parent], val):
            v[lo + hole] = v[lo + parent]
            hole = parent
            parent = (hole - 1) // 2
        v[lo + hole] = val

    def heap_sort(lo, hi):  # std::__partial_sort(first, last, last)
        n = hi - lo
        for parent in range((n - 2) // 2, -1, -1):
            sift_down(lo, parent, n, v[lo + parent])
        while n > 1:
            n -= 1
            val, v[lo + n] = v[lo + n], v[lo]
            sift_down(lo, 0, n, val)

    def linear_insert(i, lo):  # std::__unguarded_linear_insert (bounded at lo)
        val = v[i]
        while i > lo and less(val, v[i - 1]):
            v[i] = v[i - 1]
            i -= 1
        v[i] = val

    def introsort(lo, hi, depth):
        while hi - lo > 16:
            if depth == 0:
                heap_sort(lo, hi)
                return
            depth -= 1
            a, b, c = lo + 1, lo + (hi - lo) // 2, hi - 1  # std::__move_median_to_first
            if less(v[a], v[b]):
                m = b if less(v[b], v[c]) else c if less(v[a], v[c]) else a
            else:
                m = a if less(v[a], v[c]) else c if less(v[b], v[c]) else b
            v[lo], v[m] = v[m], v[lo]
            first, last = lo + 1, hi  # std::__unguarded_partition
            while True:
                while first < hi and less(v[first], v[lo]):
                    first += 1
                last -= 1
                while last > lo and less(v[lo], v[last]):
                    last -= 1
                if first >= last:
                    break
                v[first], v[last] = v[last], v[first]
                first += 1
            introsort(first, hi, depth)
            hi = first

    if n > 1:
        introsort(0, n, 2 * (n.bit_length() - 1))
        for i in range(1, n):  # std::__final_insertion_sort
            if i < 16 and less(v[i], v[0]):
                v.insert(0, v.pop(i))
            else:
                linear_insert(i, 0)
    return v


def _unique_dim_check(shape, axis) -> None:
    """torch's refusal of unique over dim of a tensor with a size-0 dim other than dim (or
    with more than one): its slices are all empty, and torch does not call them equal."""
    zeros = shape.count(0)
    if zeros > 1:
        raise BadShapeOrValue(
            f"Number of zero sized dimensions is more than one, so unique cannot be applied "
            f"(shape {shape})"
        )
    if zeros and shape[axis] != 0:
        raise BadShapeOrValue(
            f"There are 0 sized dimensions, and they aren't selected, so unique cannot be "
            f"applied (shape {shape}, dim {axis})"
        )


def _unique_result(vals, inv, counts, return_inverse, return_counts):
    out = [Tensor(vals)]
    if return_inverse:
        out.append(Tensor(inv.astype(np.int64, copy=False)))
    if return_counts:
        out.append(Tensor(counts.astype(np.int64, copy=False)))
    return out[0] if len(out) == 1 else tuple(out)


def unique_consecutive(x, return_inverse: bool = False, return_counts: bool = False, dim=None):
    """Collapse runs of equal consecutive values (or slices along dim) into one."""
    a = np.asarray(_data(x))
    _no_kernel("unique", a)  # (torch has no complex kernel, not even for an empty input)
    shape = a.shape
    if dim is None and a.size:  # (one flat comparison: the lines' .any(1) ran ~6x torch's time)
        return _runs_result(a.reshape(-1), shape, None, return_inverse, return_counts)
    if dim is None:
        a, axis = a.reshape(-1), 0
    elif a.ndim == 0:  # NumPy's AxisError otherwise
        raise IndexError(f"unique_consecutive: dim {dim} given for a 0-d tensor, which has no dims")
    else:
        axis = _dim(dim, a.ndim, "unique_consecutive")
        _unique_dim_check(a.shape, axis)
    moved = np.moveaxis(a, axis, 0).reshape(a.shape[axis] if a.ndim else 1, -1 if a.size else 0)
    starts = np.ones(moved.shape[0], bool)
    starts[1:] = (moved[1:] != moved[:-1]).any(1)
    inv = np.cumsum(starts) - 1
    counts = np.diff(np.append(np.flatnonzero(starts), moved.shape[0]))
    vals = np.take(a, np.flatnonzero(starts), axis=axis)
    return _unique_result(
        vals, inv.reshape(shape) if dim is None else inv, counts, return_inverse, return_counts
    )


def bincount(x, weights=None, minlength: int = 0) -> Tensor:
    """Count of each value in a 1-D non-negative integer tensor (weighted sums with weights)."""
    a = _int_array(x, "bincount")
    if a.ndim != 1:  # (before ascontiguousarray, which makes a 0-d array 1-d)
        raise BadShapeOrValue(f"bincount: input must be 1-D and non-negative, got shape {a.shape}")
    a = np.ascontiguousarray(a)
    if weights is None:  # (_C: ~2x NumPy's bincount, whose range search is a scalar loop)
        return Tensor(_C.bincount(a, None, operator.index(minlength)))
    w = np.asarray(_data(weights))
    if w.shape != a.shape:
        raise BadShapeOrValue(f"bincount: weights {w.shape} must match input {a.shape}")
    # float32 weights give float32 and all others (float16 too) float64, as torch's; the sums
    # are in float64 (NumPy's bits)
    dt = np.float32 if w.dtype == np.float32 else np.float64
    if w.dtype.kind == "c":  # (torch's warning, then the real part)
        warnings.warn(
            "Casting complex values to real discards the imaginary part", UserWarning, stacklevel=2
        )
        w = w.real
    w = np.ascontiguousarray(w, dt)
    return Tensor(_C.bincount(a, w, operator.index(minlength)).astype(dt, copy=False))


def histc(x, bins: int = 100, min=0, max=0) -> Tensor:  # noqa: A002
    """Histogram of ``bins`` equal bins over [min, max] (the data's range when both are 0);
    entries outside are ignored."""
    a = np.asarray(_data(x))
    if not _lowp.is_float(a.dtype):
        raise BadDtype(f"histc: expected a floating point tensor, got {a.dtype}")
    bins = _index_dim(bins, "histc", "bins")  # (torch's TypeError for a bool or float)
    if bins <= 0 or min > max:
        raise BadShapeOrValue(
            f"histc: bins ({bins}) must be positive and min ({min}) <= max ({max})"
        )
    lo, hi = float(min), float(max)
    given = lo != hi  # (a range of the caller's, not the data's widened by 1)
    if lo == hi and a.size:
        lo, hi = float(a.min()), float(a.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):  # (torch's RuntimeError; NaN data too)
        raise BadShapeOrValue(f"histc: range of [{lo}, {hi}] is not finite")
    if lo == hi:
        lo, hi = lo - 1, hi + 1
    if a.dtype.char in "fd" and type(bins) is int:
        lo_t, hi_t = a.dtype.type(lo), a.dtype.type(hi)
        if lo_t == hi_t and np.isfinite(lo_t):
            # the range rounds to one value in x's dtype (NumPy refused: "Too many bins"):
            # torch's bin 0 takes the entries equal to it for the caller's range (float32
            # [1, 1 + 1e-9]), its middle bin for the data's one value widened by 1 (float32
            # 3e30 +- 1: its binning divides 0 by 0 there)
            counts = np.zeros(bins, a.dtype)
            counts[0 if given else bins // 2] = np.count_nonzero(a == lo_t)
            return Tensor._make(counts, False, None, 0)
    if a.dtype.char in "fd" and type(bins) is int and a.dtype.type(lo) < a.dtype.type(hi):
        # torch's own binning in x's dtype (its bin of a value near an edge, not NumPy's
        # float64 one), counted in C++
        counts = _C.histc(np.ascontiguousarray(a).reshape(-1), bins, lo, hi)
        return Tensor._make(counts.astype(a.dtype), False, None, 0)
    return Tensor(np.histogram(a, bins, (lo, hi))[0].astype(a.dtype))


def searchsorted(
    sorted_sequence,
    input,  # noqa: A002
    *,
    out_int32: bool = False,
    right: bool = False,
    side=None,
    sorter=None,
) -> Tensor:
    """Insertion indices of input's values in the sorted last dim of sorted_sequence
    (side='right' / right=True: after equal values)."""
    _tensors_only("searchsorted", sorted_sequence, names=("sorted_sequence",))
    if isinstance(input, list | tuple):  # (a number is torch's Scalar overload; no sequence)
        raise BadDtype(
            f"searchsorted(): argument 'input' must be Tensor, not {type(input).__name__}"
        )
    seq = np.asarray(_data(sorted_sequence))
    v = np.asarray(_data(input))
    # torch compares in result_type(sorted_sequence, input): a Python int or a 0-d integer
    # tensor takes a uint8 sequence's dtype (-1 wraps to 255), a float one makes both float
    dt = result_type(seq, input if isinstance(input, Tensor | int | float) else v)
    if dt == np.bool_:  # (a bool tensor against numbers compares as numbers, as in torch)
        raise BadDtype("searchsorted: not implemented for bool tensors")
    seq, v = seq.astype(dt, copy=False), v.astype(dt, copy=False)
    if side is not None and side not in ("left", "right") or (side == "left" and right):
        raise BadShapeOrValue("searchsorted: side must be 'left' or 'right' (and agree with right)")
    side = side or ("right" if right else "left")
    srt = None if sorter is None else _int_array(sorter, "searchsorted")
    if seq.dtype.kind == "f" and seq.size and np.isnan(seq).any():
        out = _nan_sequence_bound(seq, v, side == "right", srt)
    elif seq.ndim <= 1:
        out = np.searchsorted(seq, v, side, srt)
    else:
        if v.shape[:-1] != seq.shape[:-1]:
            raise BadShapeOrValue(
                f"searchsorted: leading dims of sorted_sequence {seq.shape} and "
                f"input {v.shape} must match"
            )
        lead = math.prod(seq.shape[:-1])  # (not -1: a dim may be empty)
        srts = [None] * lead if srt is None else srt.reshape(lead, seq.shape[-1])
        rows = zip(seq.reshape(lead, seq.shape[-1]), v.reshape(lead, v.shape[-1]), srts)
        out = np.zeros(v.shape, np.int64)
        for o, (s, r, so) in zip(out.reshape(lead, v.shape[-1]), rows):
            o[...] = np.searchsorted(s, r, side, so)
    return Tensor(np.asarray(out, np.int32 if out_int32 else np.int64))


def _nan_sequence_bound(seq: np.ndarray, v: np.ndarray, right: bool, srt) -> np.ndarray:
    """searchsorted of a sequence holding NaN (where torch.sort puts them, last), as torch's
    binary search: NumPy orders NaN above everything, torch's lower bound steps right while
    !(mid >= value) (upper: !(mid > value)), so a NaN it meets sends the search right
    (searchsorted([0, 1, nan], inf) is 3 in torch, 2 in NumPy). Vectorised over all values,
    one step per halving."""
    n = seq.shape[-1]
    if seq.ndim > 1 and v.shape[:-1] != seq.shape[:-1]:
        raise ValueError(
            f"searchsorted: leading dims of sorted_sequence {seq.shape} and "
            f"input {v.shape} must match"
        )
    rows = seq.reshape(-1, n)
    if srt is not None:  # the sequence in sorted order, row by row
        rows = np.take_along_axis(rows, np.asarray(srt).reshape(-1, n), axis=1)
    vals = v.reshape(rows.shape[0], -1) if seq.ndim > 1 else v.reshape(1, -1)
    lo = np.zeros(vals.shape, np.int64)
    hi = np.full(vals.shape, n, np.int64)
    row = np.arange(rows.shape[0])[:, None]
    with np.errstate(invalid="ignore"):
        while (active := lo < hi).any():
            mid = lo + (hi - lo) // 2
            m = rows[row, np.minimum(mid, n - 1)]
            step = ~(m > vals) if right else ~(m >= vals)
            lo = np.where(active & step, mid + 1, lo)
            hi = np.where(active & ~step, mid, hi)
    return lo.reshape(v.shape)


def bucketize(input, boundaries, *, out_int32: bool = False, right: bool = False) -> Tensor:  # noqa: A002
    """Index of the bucket of each value given sorted 1-D boundaries (right: b[i-1] <= x < b[i])."""
    if np.ndim(_data(boundaries)) != 1:
        raise BadShapeOrValue(
            f"bucketize: boundaries must be 1-D, got shape {_shape(_data(boundaries))}"
        )
    return searchsorted(boundaries, input, out_int32=out_int32, right=right)


def _dense(a: np.ndarray) -> bool:
    """a's elements fill the bytes they span (no gaps, no repeats: torch's non-overlapping
    and dense)."""
    if a.flags.forc:  # C or Fortran contiguous, most arrays: no span to add up
        return True
    span = a.itemsize + builtins.sum((n - 1) * builtins.abs(s) for n, s in zip(a.shape, a.strides))
    return span == a.nbytes


def _apart(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether a and b surely share no memory without NumPy's bounds test (~0.2 us): two
    distinct arrays that each own their memory (the common operands: fresh results)."""
    return a is not b and a.flags.owndata and b.flags.owndata


def _refuse_overlap(name: str, x: Tensor, args) -> None:
    """torch's assert_no_overlap for in-place index/scatter writes: a tensor argument sharing
    x's memory is refused where both are dense (where torch can tell; a strided view passes
    there too). Else the writes read sources they already changed: silently wrong values."""
    d = x.data
    for a in args:
        if isinstance(a, Tensor) and not _apart(d, a.data):  # (most calls: fresh arrays)
            if (
                a.data.size
                and d.size
                and _dense(a.data)
                and _dense(d)
                and np.may_share_memory(d, a.data)
            ):
                raise RuntimeError(
                    f"{name}: unsupported operation: some elements of the input tensor and the "
                    "written-to tensor refer to a single memory location; clone() the input"
                )


def _in_place(name: str, op, no_overlap: bool = False):
    def method(x: Tensor, *args, **kwargs) -> Tensor:
        if no_overlap:  # (the index/scatter writes torch checks)
            _refuse_overlap(name, x, (*args, *kwargs.values()))
        out = op(x, *args, **kwargs)
        deps = [a for a in (*args, *kwargs.values()) if isinstance(a, Tensor) and a.requires_grad]
        return x._assign(out.data, deps[0] if deps else None)

    method.__name__ = name
    method.__doc__ = f"In-place {op.__name__} (outside the autograd graph, as tensor.py's)."
    return method


_scatter_copy = _in_place("scatter_", scatter, no_overlap=True)
_scatter_add_copy = _in_place("scatter_add_", scatter_add, no_overlap=True)


def scatter_(x: Tensor, dim: int, index, src=None, *, value=None, reduce=None) -> Tensor:
    """In-place scatter (outside the autograd graph, as tensor.py's). overhead36: a plain
    writeable C-contiguous x that _straight_scatter takes is written by the kernel in place (a
    32x32 call ~7.7 -> ~3.9 us, torch ~3.6): the general path copied x, scattered into the copy
    and copied it back; the same checks first, the same kernel and values."""
    if reduce is None and type(x) is Tensor and type(index) is Tensor and type(dim) is int:
        d = x.data
        if not x._requires_grad and x._ctx is None and d.flags.c_contiguous and d.flags.writeable:
            v = src if value is None else value
            _refuse_overlap("scatter_", x, (index, v))
            if _straight_scatter(x, dim, index, v, out=d) is not None:
                return x
    return _scatter_copy(x, dim, index, src, value=value, reduce=reduce)


def scatter_add_(x: Tensor, dim: int, index, src) -> Tensor:
    """In-place scatter_add (outside the autograd graph, as tensor.py's). A float tensor whose
    index covers it outside dim takes the gather-backward kernel's sums directly: no copy of x
    and no copy back (the same additions in the same order). overhead36: the common call (the
    tests of _straight_add, which the general checks below would pass) goes first, without
    those checks (a 32x32 call ~9.4 -> ~5.2 us, torch ~3.4)."""
    d = x.data
    _refuse_overlap("scatter_add_", x, (index, src))
    go = _straight_add(x, dim, index, src)
    if go is not None and x._ctx is None and d.flags.c_contiguous and d.flags.writeable:
        _, axis, idx, s = go
        # (x, index and src of one shape, most calls, tested first)
        if idx.shape == s.shape == d.shape or (
            idx.ndim == d.ndim == s.ndim
            and idx.shape[:axis] + idx.shape[axis + 1 :] == d.shape[:axis] + d.shape[axis + 1 :]
            and builtins.all(k <= n for k, n in zip(idx.shape, s.shape))
        ):
            if s.shape != idx.shape:
                s = s[tuple(slice(0, n) for n in idx.shape)]
            if _apart(d, src.data) or not np.may_share_memory(d, s):
                n = d.shape[axis]
                try:  # (the kernel checks every index before it writes; out d positional:
                    # pybind11's keyword was ~0.3 us)
                    _C.gather_backward(np.ascontiguousarray(s), idx, axis, n, d)
                except IndexError:  # (_scatter_index's words)
                    raise _scatter_range_error("scatter_add", d.shape, dim, idx) from None
                return x
    if isinstance(src, Tensor) and d.dtype.char in "fd" and d.ndim and d.flags.c_contiguous:
        _same_dtype("scatter_add", x, src)
        # (the range check is the kernel's below: NumPy's min and max were ~2 us of 32x32)
        axis, idx = _scatter_index("scatter_add", x, dim, index, src, check_range=False)
        s = src.data
        if s.shape != idx.shape:
            s = s[tuple(slice(0, n) for n in idx.shape)]
        if (
            idx.shape[:axis] + idx.shape[axis + 1 :] == d.shape[:axis] + d.shape[axis + 1 :]
            and d.flags.writeable
            and not np.may_share_memory(d, s)
        ):
            x._needs_record(src if src.requires_grad else None, rebind=False)
            idx, n = np.ascontiguousarray(idx), d.shape[axis]
            try:  # (the kernel checks every index before it writes)
                _C.gather_backward(np.ascontiguousarray(s), idx, axis, n, d)
            except IndexError:  # (_scatter_index's words)
                raise _scatter_range_error("scatter_add", d.shape, dim, idx) from None
            return x
    return _scatter_add_copy(x, dim, index, src)


_index_add_copy = _in_place("index_add_", index_add, no_overlap=True)


def index_add_(x: Tensor, dim: int, index, source, *, alpha=1) -> Tensor:
    """In-place index_add (outside the autograd graph, as tensor.py's). Rows of a C-contiguous
    float tensor (dim 0) are added into it directly by the row kernel: no copy of x and no copy
    back (the same additions in the same order). An index out of range: OutOfBounds, an
    IndexError and a RuntimeError (torch's type is either, by x's dims)."""
    try:
        return _index_add_inplace(x, dim, index, source, alpha)
    except IndexError as e:
        if isinstance(e, _OutOfBounds):
            raise
        raise _OutOfBounds(str(e)) from None


def _index_add_inplace(x: Tensor, dim: int, index, source, alpha) -> Tensor:
    d = x.data
    _refuse_overlap("index_add_", x, (index, source))
    plain = isinstance(source, Tensor) and type(alpha) in (int, float)
    if plain and d.dtype.char in "fd" and d.ndim and d.flags.c_contiguous:
        _same_dtype("index_add", x, source)
        key = _along("index_add", x, dim, index, source)
        s = source.data * alpha if alpha != 1 else source.data
        if len(key) == 1 and key[0].size and d.flags.writeable and not np.may_share_memory(d, s):
            if x._requires_grad or x._ctx is not None or source._requires_grad:
                # (its refusals; a writeable x outside the graph passes them)
                x._needs_record(source if source.requires_grad else None, rebind=False)
            rows = key[0].astype(np.int64, copy=False)
            _C.index_add_rows(
                d.reshape(d.shape[0], -1), rows, np.ascontiguousarray(s).reshape(rows.size, -1)
            )
            return x
    return _index_add_copy(x, dim, index, source, alpha=alpha)


# ---- reductions: extremes, spreads, order statistics, running reductions -------------------


class AMax(Function):
    """max/min over several dims; the gradient is shared evenly among ties (torch.amax)."""

    @staticmethod
    def forward(ctx, x, axes, keepdim, use_max):
        run = dim_run(x, axes)
        if run is not None:  # consecutive dims: _C's vectorised, NaN-propagating max
            y = _C.extreme_dim(x, run[0], run[1], True, use_max)
        else:
            y = (np.max if use_max else np.min)(x, axis=axes, keepdims=True)
        ctx.save_for_backward(x, y)
        ctx.meta = (axes, keepdim)
        ctx.use_max = use_max  # (torch's node name)
        return y if keepdim else np.squeeze(y, axes)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        axes, keepdim = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, axes)
        mask = x == y
        # a NaN result matches no element: 0 / 0, NaN gradients for the slice, as torch
        with np.errstate(invalid="ignore"):
            return g * mask / mask.sum(axes, keepdims=True), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x, y = ctx.saved_tensors
        weights = AMax.backward(ctx, np.ones_like(g.data))[0]  # ties share: constant in x
        weights = _graph.constant(weights.astype(g.dtype, copy=False))  # (the count is int64)
        return g.reshape(y.shape) * weights, None, None, None


def _amax_amin(x, dim, keepdim, use_max, op):
    if keepdim.__class__ is not bool:
        _refuse_keepdim(op, keepdim)
    if type(x) is Tensor and type(dim) is int and _outside_graph(x):
        a = x.data  # the common call, x.amax(1): the kernel straight (the checks below ~2 us)
        nd = a.ndim
        if -nd <= dim < nd and a.size and a.dtype in _EXTREME_DTYPES and a.flags.c_contiguous:
            d = dim % nd
            return Tensor._make(_C.extreme_dim(a, d, d + 1, keepdim, use_max), False, None, 0)
    x = _tensor_operand(x)
    data = x.data
    axes = _axes(dim, data.ndim, op)
    if data.size and _outside_graph(x):  # (an empty dim is refused below)
        run = dim_run(data, axes)
        if run is not None:  # AMax.forward's kernel, the dims kept or dropped by it
            y = _C.extreme_dim(data, run[0], run[1], keepdim, use_max)
            return Tensor._make(y, False, None, 0)
        m = sorted(data.ndim - 1 - a for a in axes)
        if (
            data.ndim > 1
            and m
            and data.flags.f_contiguous
            and data.dtype in _EXTREME_DTYPES
            and m == list(builtins.range(m[0], m[0] + len(m)))
        ):  # x.T of a C array: the kernel over its C twin's mirrored dims (NumPy's reduce of
            # the strided view: (100000, 10).T.amax(0) ~30x torch's time)
            y = _C.extreme_dim(data.T, m[0], m[-1] + 1, keepdim, use_max)
            return Tensor._make(y.T.copy(), False, None, 0)  # (C order, as torch's)
    if builtins.any(x.shape[a] == 0 for a in axes):  # (torch: IndexError, RuntimeError with no dim)
        raise _IndexRangeError(f"{op}: cannot reduce over an empty dim of shape {x.shape}")
    if _outside_graph(x):
        y = AMax.forward(AMax.__new__(AMax), x.data, axes, keepdim, use_max)
        return Tensor._make(_c_result(y), False, None, 0)
    out = AMax.apply(x, axes, keepdim, use_max)
    out.data = _c_result(out.data)
    return out


def amax(x, dim=(), keepdim: bool = False) -> Tensor:
    """Largest value over dim (an int or tuple; all dims by default)."""
    return _amax_amin(x, dim, keepdim, True, "amax")


def amin(x, dim=(), keepdim: bool = False) -> Tensor:
    return _amax_amin(x, dim, keepdim, False, "amin")


MinMax = namedtuple("MinMax", ["min", "max"])


def aminmax(x, *, dim=None, keepdim: bool = False) -> MinMax:
    dims = () if dim is None else _index_dim(dim, "aminmax")  # one int dim, as torch's
    lo, hi = amin(x, dims, keepdim), amax(x, dims, keepdim)
    return MinMax(named(lo, "AminmaxBackward0"), named(hi, "AminmaxBackward0"))


def std(x, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None) -> Tensor:
    """Standard deviation (the square root of var, same arguments)."""
    return _var("std", x, dim, unbiased, keepdim, correction)


def var_mean(x, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None):
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    v, m = var(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)
    return named(v, "VarMeanBackward0"), named(m, "VarMeanBackward0")


def std_mean(x, dim=None, unbiased: bool = True, keepdim: bool = False, *, correction=None):
    if isinstance(dim, bool):
        dim, unbiased = None, dim
    s, m = std(x, dim, unbiased, keepdim, correction=correction), mean(x, dim, keepdim)
    return named(s, "StdMeanBackward0"), named(m, "StdMeanBackward0")


def nansum(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Sum treating NaN as zero (no gradient flows to NaN entries)."""
    x = _as_dtype(x, dtype)
    a = x.data
    if a.dtype.char in "fd" and a.size and _outside_graph(x):
        # no node: the kernel skips the NaNs as it sums (where(isnan) and a sum took ~10x torch)
        if keepdim.__class__ is not bool:
            _refuse_keepdim("nansum", keepdim)
        axes = _axes(dim, a.ndim, "nansum")
        if not axes:  # (a 0-d x)
            return Tensor._make(np.where(np.isnan(a), a.dtype.type(0), a), False, None, 0)
        return Tensor._make(_runs_sum(np.ascontiguousarray(a), axes, keepdim, True), False, None, 0)
    if a.dtype.kind == "f":
        x = where(np.isnan(a), np.zeros((), x.dtype), x)
    return named(sum(x, dim, keepdim, dtype=dtype), "NansumBackward0")


def nanmean(x, dim=None, keepdim: bool = False, *, dtype=None) -> Tensor:
    """Mean of the non-NaN entries."""
    x = _tensor_operand(x)
    if not _lowp.is_float(x.data.dtype):  # before dtype=: torch refuses int input even with it
        raise BadDtype(f"nanmean: input dtype should be floating point, got {x.dtype}")
    x = _as_dtype(x, dtype)
    if not _lowp.is_float(x.data.dtype):
        raise BadDtype(f"nanmean: dtype should be floating point, got {x.dtype}")
    count = np.sum(~np.isnan(x.data), axis=_axes(dim, x.ndim, "nanmean"), keepdims=keepdim)
    return nansum(x, dim, keepdim) / count.astype(x.dtype)


_SELECTION_NODES = {
    "kthvalue": "KthvalueBackward0",
    "mode": "ModeBackward0",
    "median": "MedianBackward1",
    "nanmedian": "NanmedianBackward1",
}


def _pick(op, x, axis, idx, keepdim):
    """(values, indices) at the int64 ``idx`` (kept dim) along axis; values carry gradients
    (their node named as torch's for op)."""
    values = gather(x, axis, idx)
    if not keepdim:
        values, idx = squeeze(values, axis), idx.squeeze(axis)
    return SortResult(named(values, _SELECTION_NODES[op]), Tensor(idx))


def _order_stat(op, x, dim, keepdim, rank):
    """The entry at sorted position ``rank(sorted values, nan mask)`` along dim."""
    x = _tensor_operand(x)
    if x.ndim == 0:
        _dim(dim, 0, op)
        return SortResult(getitem(x, ...), Tensor(np.zeros((), np.int64)))
    axis = _dim(dim, x.ndim, op)
    if x.shape[axis] == 0:
        raise IndexError(f"{op}: dim {dim} of shape {x.shape} is empty")
    order = np.argsort(x.data, axis=axis, kind="stable")  # NaN sorts last
    nan = np.isnan(x.data) if x.data.dtype.kind == "f" else np.zeros(x.shape, bool)
    pos = rank(np.sum(~nan, axis=axis, keepdims=True), nan.any(axis=axis, keepdims=True))
    idx = np.take_along_axis(
        order, np.broadcast_to(pos, order.shape[:axis] + (1,) + order.shape[axis + 1 :]), axis
    )
    return _pick(op, x, axis, idx.astype(np.int64), keepdim)


def _no_bool_median(op, x, dim) -> None:
    x = _data(x)
    dt = np.asarray(x).dtype
    if dt == np.bool_ and (dim is not None or np.size(x)):
        raise BadDtype(f"{op}: not implemented for bool tensors")  # (as torch)
    if dt.kind == "u" and dt != np.uint8 and (dim is not None or np.size(x)):
        # (torch's barebones unsigned types: its median kernels are not built for them)
        raise TypeError(f"{op}: not implemented for {dt} tensors (as torch)")


def median(x, dim=_NO_DIM, keepdim: bool = False):
    """The lower median (not the mean of the two middle values), NaN if any entry is; along dim
    the (values, indices) pair."""
    dim = _given_dim(dim, None, "median")
    _no_bool_median("median", x, dim)
    if dim is None:
        return _global_median("median", x, False)
    return _median_dim("median", x, dim, keepdim, False)


def nanmedian(x, dim=_NO_DIM, keepdim: bool = False):
    """median ignoring NaNs (NaN only where all entries are)."""
    dim = _given_dim(dim, None, "nanmedian")
    _no_bool_median("nanmedian", x, dim)
    if dim is None:
        return _global_median("nanmedian", x, True)
    return _median_dim("nanmedian", x, dim, keepdim, True)


def _selection_straight(x, dim, keepdim, kernel):
    """The common selection call, outside the graph, by the kernel's values and indices straight
    (kernel: rows -> ((rows, 1) values, (rows, 1) positions)): SortResult, or None for the
    general path (_selection's; its checks and gather: ~2x the time of a 32x32 call)."""
    if type(x) is Tensor and type(dim) is int and _outside_graph(x):
        a = x.data
        nd = a.ndim
        if nd and -nd <= dim < nd and a.shape[dim] and _selectable(a.dtype):
            axis = dim % nd
            v, idx = kernel(_select_rows(a, axis))
            shape = a.shape[:axis] + ((1,) if keepdim else ()) + a.shape[axis + 1 :]
            v = v.reshape(shape)  # (the kernel's dtype: x's, or int64 / float32 exactly)
            return _new_tuple(
                SortResult, (_plain(v.astype(a.dtype, copy=False)), _plain(idx.reshape(shape)))
            )
    return None


def _median_dim(op, x, dim, keepdim, ignore_nan):
    """median / nanmedian along dim by _C's selection (PyTorch's nth_element on (value,
    position): its entry and index among ties), ~10x faster than a full stable argsort; the
    sort's path for dtypes the kernel cannot order exactly (uint64)."""
    res = _selection_straight(
        x, dim, keepdim, lambda rows: _C.median_indices(rows, ignore_nan, True)
    )
    if res is not None:
        return res
    x = _tensor_operand(x)
    if _selectable(x.data.dtype):
        kernel = lambda rows: _C.median_indices(rows, ignore_nan)  # noqa: E731
        return _selection(op, x, dim, keepdim, kernel)
    return _order_stat(op, x, dim, keepdim, _median_rank(ignore_nan))


def _global_median(op, x, ignore_nan):
    if type(x) is Tensor and _outside_graph(x) and _median_by_value(x.data):
        # the common call outside the graph: the value alone, without the reshape and the
        # node (~2x the selection's cost at 32x32)
        return Tensor._make(_median_value(x.data.reshape(-1), ignore_nan), False, None, 0)
    x = reshape(x, (-1,))
    if x.numel() == 0:  # PyTorch: NaN in x's dtype, converted as x86 converts it
        dt = x.data.dtype
        if dt.kind in "iu":  # the most negative int64 / int32, 0 for narrower integers
            if dt == np.uint64:  # (x86's NaN -> uint64 is 2^63, as torch's)
                return Tensor(np.asarray(1 << 63, dt))
            return Tensor(np.asarray(np.iinfo(dt).min if dt.itemsize >= 4 else 0, dt))
        if dt.kind == "b":
            return Tensor(np.asarray(True))
        return x.sum() * math.nan  # (in the graph: x's gradient, empty, flows as torch's)
    a = x.data
    if _median_by_value(a):
        value = _median_value(a, ignore_nan)
    else:
        value = _median_dim(op, x.detach(), 0, False, ignore_nan).values.data
    y = ReduceExtreme.apply(x, False, value)  # ties share the gradient, as PyTorch
    return named(y, "NanmedianBackward0") if ignore_nan else y


def _median_by_value(a: np.ndarray) -> bool:
    """Whether _median_value takes a's median: non-empty, an integer or float dtype NumPy
    orders exactly."""
    return a.size > 0 and a.dtype.kind in "iuf" and a.dtype.itemsize <= 8


def _median_value(a: np.ndarray, ignore_nan: bool) -> np.ndarray:
    """The lower median of flat ``a`` as a 0-d array (NaN if any entry is, unless ignore_nan).
    No index to report: the value alone is unique, so NumPy's introselect on the values finds
    it (~3x the pair selection, which orders positions among ties too)."""
    nan = np.isnan(a) if a.dtype.kind == "f" else None
    if nan is not None and nan.any():
        vals = a[~nan] if ignore_nan else None
    else:
        vals = a
    if vals is None or not vals.size:  # median of a NaN, or nanmedian of all NaN
        return np.asarray(np.nan, a.dtype)
    k = (vals.size - 1) // 2
    return np.asarray(np.partition(vals, k)[k])


def _median_rank(ignore_nan: bool):
    def rank(count, has_nan):
        if ignore_nan:
            return np.maximum((count - 1) // 2, 0)
        return np.where(has_nan, count, (count - 1) // 2)  # the first NaN, else the middle

    return rank


def kthvalue(x, k: int, dim: int = -1, keepdim: bool = False):
    """The k-th smallest entry (1-based) along dim and its index (among equal entries the one
    PyTorch's quickselect picks)."""
    a = x.data if type(x) is Tensor else np.asarray(_data(x))
    if a.dtype == np.bool_:
        raise BadDtype("kthvalue: bool tensors are not supported (as in PyTorch)")
    if type(k) is not int:
        k = _index_dim(k, "kthvalue", "k")  # (True is not k = 1)
    n = a.shape[dim] if a.ndim else 1
    if n == 0:  # (torch's IndexError)
        raise _IndexRangeError(f"kthvalue(): Expected reduction dim {dim} to have non-zero size.")
    if not 1 <= k <= n:
        raise BadShapeOrValue(f"kthvalue: k ({k}) out of range [1, {n}] for dim {dim}")
    res = _selection_straight(x, dim, keepdim, lambda rows: _C.kthvalue_indices(rows, k - 1, True))
    if res is not None:
        return res
    return _selection("kthvalue", x, dim, keepdim, lambda rows: _C.kthvalue_indices(rows, k - 1))


def mode(x, dim: int = -1, keepdim: bool = False):
    """The most frequent value along dim (the smallest among equally frequent ones) and an index
    of it (the one PyTorch's CPU kernel gives)."""
    res = _selection_straight(x, dim, keepdim, lambda rows: _C.mode_indices(rows, True))
    return res if res is not None else _selection("mode", x, dim, keepdim, _C.mode_indices)


def _selection(op, x, dim, keepdim, kernel):
    """(values, indices) of one entry per line along dim, its position from kernel (rows,)."""
    x = _tensor_operand(x)
    if x.ndim == 0:
        _dim(dim, 0, op)
        return SortResult(getitem(x, ...), Tensor(np.zeros((), np.int64)))
    axis = _dim(dim, x.ndim, op)
    if x.shape[axis] == 0:
        raise IndexError(f"{op}: dim {dim} of shape {x.shape} is empty")
    rows = _select_rows(x.data, axis)
    if rows is None:
        raise TypeError(f"{op}: unsupported dtype {x.dtype}")
    return _pick(op, x, axis, _from_rows(kernel(rows)[:, None], x.data.shape, axis), keepdim)


_INTERPOLATIONS = ("linear", "lower", "higher", "midpoint", "nearest")


def _quantile(op, x, q, dim, keepdim, interpolation, ignore_nan):
    x = _tensor_operand(x)
    if not _lowp.is_float(x.data.dtype):
        raise BadDtype(f"{op}: input must be float32 or float64, got {x.dtype}")
    _lowp.refuse(op, x.data.dtype)
    if isinstance(q, Tensor) and q.dtype != x.dtype:
        raise TypeError(f"{op}: q tensor must have the input's dtype {x.dtype}, got {q.dtype}")
    if not x.data.size:  # (torch refuses any empty input, whichever dim is reduced)
        raise _IndexRangeError(f"{op}: input tensor must be non-empty, got shape {x.shape}")
    qa = np.asarray(_data(q), x.dtype)
    if qa.ndim > 1 or not np.all((qa >= 0) & (qa <= 1)):  # (a NaN q fails too)
        raise BadShapeOrValue(f"{op}: q must be a scalar or 1-D with values in [0, 1], got {q}")
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"{op}: interpolation must be one of {_INTERPOLATIONS}")
    shape = x.shape
    if dim is None:
        x, axis = reshape(x, (-1,)), 0
    else:
        axis = _dim(dim, x.ndim, op)
    xs = movedim(x, axis, -1) if x.ndim else reshape(x, (1,))
    if xs.shape[-1] == 0:
        raise IndexError(f"{op}: cannot take a quantile of an empty dim (shape {shape})")
    nan = np.isnan(xs.data)
    count = (
        np.sum(~nan, -1, keepdims=True)
        if ignore_nan
        else np.full(xs.shape[:-1] + (1,), xs.shape[-1])
    )
    rank = np.maximum(qa.reshape(-1) * (count - 1).astype(x.dtype), 0)
    if not ignore_nan:  # torch's rank in a slice holding NaN: the last sorted entry, a NaN (so
        # the output is NaN and its gradient goes to that entry, as torch's)
        rank = np.where(nan.any(-1, keepdims=True), (count - 1).astype(x.dtype), rank)
    if interpolation in ("lower", "higher", "nearest"):
        rank = {"lower": np.floor, "higher": np.ceil, "nearest": np.round}[interpolation](rank)
    lo, hi = np.floor(rank), np.ceil(rank)
    weight = np.where(hi > lo, 0.5, 0) if interpolation == "midpoint" else rank - lo
    s = sort(xs, -1).values
    low, high = gather(s, -1, lo.astype(np.int64)), gather(s, -1, hi.astype(np.int64))
    if interpolation in ("lower", "higher", "nearest"):  # a pick: inf stays inf, not inf - inf
        out = low
    else:
        w = weight.astype(x.dtype)
        with np.errstate(invalid="ignore"):  # (inf - inf at an infinite end: torch's NaN)
            if (w >= 0.5).any():  # torch's lerp from the high end past the middle: [-inf, 2]
                # at 0.6 is -inf, not -inf + inf's NaN; [0, inf] at 0.6 NaN, not inf
                diff = high - low
                out = where(Tensor(w < 0.5), low + diff * w, high - diff * (1 - w))
            else:
                out = low + (high - low) * w
        if interpolation == "linear" and isinstance(q, Tensor) and q.requires_grad:
            # d out / d q = (high - low) * (count - 1), on a zero-valued term (a NaN slice's
            # gradient is 0, not NaN: its output is NaN whatever q is)
            dq = reshape(q, (-1,)) - reshape(q, (-1,)).detach()
            # (high - low) stays in the graph: the mixed second derivative d2 out / dq dx is
            # (count - 1) d(high - low)/dx, as torch's (its q reaches the lerp's weight)
            diff = high - low
            nans = np.isnan(diff.data)
            if nans.any():
                diff = where(Tensor(nans), Tensor(np.zeros((), x.dtype)), diff)
            out = out + dq * (diff * Tensor(np.maximum(count - 1, 0).astype(x.dtype)))
    out = movedim(out, -1, 0)  # q's dim first
    if keepdim:
        kept = tuple(1 if dim is None or d == axis else n for d, n in enumerate(shape))
        out = reshape(out, (out.shape[0],) + kept)
    # (torch's last step, whatever q and keepdim: a squeeze, SqueezeBackward4)
    return named(select(out, 0, 0) if qa.ndim == 0 else out, "SqueezeBackward4")


def quantile(x, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """The q-th quantiles over dim (all entries by default); a 1-D q adds a leading dim. NaN
    where the reduced entries hold a NaN."""
    return _quantile("quantile", x, q, dim, keepdim, interpolation, False)


def nanquantile(x, q, dim=None, keepdim: bool = False, *, interpolation: str = "linear") -> Tensor:
    """quantile ignoring NaNs."""
    return _quantile("nanquantile", x, q, dim, keepdim, interpolation, True)


def _running_extreme(op, x, dim, ufunc):
    """cummax/cummin: the running extreme and the index it was last reached at (a NaN wins)."""
    if type(x) is Tensor and type(dim) is int and _outside_graph(x):
        a = x.data
        nd = a.ndim
        if (
            (a.dtype is _F32 or a.dtype is _F64 or a.dtype == np.int64)
            and a.size
            and -nd <= dim < nd
        ):
            # the common call: the kernel and two plain Tensors (~3x less Python at 32x32; int64
            # through NumPy's accumulate, equality and index passes took ~10x torch's time)
            axis, shape = dim % nd, a.shape
            outer = 1
            for n in shape[:axis]:
                outer *= n
            lines = np.ascontiguousarray(a).reshape(outer, shape[axis], -1)
            v, idx = _C.cumextreme(lines, ufunc is np.maximum)
            return _new_tuple(
                SortResult,
                (Tensor._make(v.reshape(shape), False, None, 0), _plain(idx.reshape(shape))),
            )
    x = _tensor_operand(x)
    axis = _dim(dim, x.ndim, op)
    if x.ndim == 0:
        return SortResult(getitem(x, ...), Tensor(np.zeros((), np.int64)))
    a = x.data
    if _lowp.is_float(a.dtype) and a.size:  # one C++ pass for the values and positions
        # (16-bit floats through _C's float32 copies: exact, the values are picked, not made)
        shape = a.shape
        v, idx = _C.cumextreme(
            np.ascontiguousarray(a).reshape(
                math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
            ),
            ufunc is np.maximum,
        )
        idx = idx.reshape(shape)
        if _outside_graph(x):
            return SortResult(Tensor._make(v.reshape(shape), False, None, 0), Tensor(idx))
        if a.dtype.char in "fd":  # the kernel's values on gather's node (no second gather pass)
            values = _Gathered.apply(x, axis, idx, v.reshape(shape))
        else:
            values = gather(x, axis, idx)
        return SortResult(named(values, op.capitalize() + "Backward0"), Tensor(idx))
    a = np.ascontiguousarray(a)  # (C-order positions: torch's result layout)
    run = ufunc.accumulate(a, axis=axis)
    hit = (a == run) | (np.isnan(a) if _lowp.is_float(a.dtype) else False)
    pos = np.arange(x.shape[axis]).reshape((-1,) + (1,) * (x.ndim - axis - 1))
    idx = np.maximum.accumulate(np.where(hit, pos, 0), axis=axis).astype(np.int64)
    return SortResult(named(gather(x, axis, idx), op.capitalize() + "Backward0"), Tensor(idx))


class _Gathered(Gather):
    """gather(x, axis, index) whose values are already known (``values``, e.g. cummax's kernel
    made them): Gather's node and backward without the gather pass. index: int64 C-contiguous
    of x's shape (what _gather_kernel takes)."""

    @staticmethod
    def forward(ctx, x, axis, index, values):
        ctx.meta = (x.shape, axis, index, False, True)
        return values

    @staticmethod
    def backward(ctx, g):
        return (*Gather.backward(ctx, g), None)

    @staticmethod
    def backward_graph(ctx, g):
        return (*Gather.backward_graph(ctx, g), None)


def cummax(x, dim: int):
    return _running_extreme("cummax", x, dim, np.maximum)


def cummin(x, dim: int):
    return _running_extreme("cummin", x, dim, np.minimum)


def _cumprod(x: np.ndarray, axis: int) -> np.ndarray:
    """np.cumprod, float32 accumulated in float64 and rounded per entry, as PyTorch's CPU scan."""
    if not _lowp.is_float(x.dtype):  # (C order, as torch's result whatever x's layout)
        return np.cumprod(np.ascontiguousarray(x), axis=axis)
    if x.dtype.char in "fd":  # the C++ scan (in double, as _scan's cumsum)
        shape = x.shape
        x3 = np.ascontiguousarray(x).reshape(
            math.prod(shape[:axis]), shape[axis], math.prod(shape[axis + 1 :])
        )
        return _C.cumprod(x3).reshape(shape)
    x = np.ascontiguousarray(x)
    return np.cumprod(x, axis=axis, dtype=np.promote_types(x.dtype, np.float64)).astype(x.dtype)


class CumProd(Function):
    @staticmethod
    def forward(ctx, x, axis):
        y = _cumprod(x, axis)
        ctx.save_for_backward(x, y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        a = ctx.axis
        if x.size <= 1 or x.shape[a] == 1:  # the identity: g, as torch's (not inf / inf = NaN)
            return g, None
        # d y_j / d x_i = y_j / x_i for j >= i, summed; in a row with zeros, as PyTorch: that
        # before the first zero z1 (from the terms before it), the product of the others at
        # z1 (from the terms up to the second zero), and 0 after it
        w = g * y
        with np.errstate(divide="ignore", invalid="ignore"):
            out = _scan(w, a, True) / x
            xm, wm, gm, om = (np.moveaxis(v, a, -1) for v in (x, w, g, out))
            for r in map(tuple, np.argwhere((xm == 0).any(-1))):  # argwhere: 1-D rows too
                row, grow = xm[r], gm[r]
                zeros = np.flatnonzero(row == 0)
                z = zeros[0]
                z2 = zeros[1] if len(zeros) > 1 else len(row)
                om[r][:z] = _scan(wm[r][:z], 0, True) / row[:z]
                after = np.concatenate([np.ones(1, row.dtype), _cumprod(row[z + 1 : z2], 0)])
                om[r][z] = np.sum(grow[z:z2] * after) * np.prod(row[:z])
                om[r][z + 1 :] = 0
        return out, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, y0 = ctx.saved_tensors
        if x0.size <= 1 or x0.shape[ctx.axis] == 1:  # the identity (as backward)
            return g, None
        (x,) = _graph.inputs(ctx, x0)
        a = ctx.axis
        if np.any(x0 == 0):
            # d y_j / d x_i = prod_{k <= j, k != i} x_k (j >= i), recorded as the running
            # products of n copies of x, copy i with x_i set to 1: O(n^2) per line, exact at
            # zeros (torch's double backward there is exact too)
            n = x0.shape[a]
            if x0.size * n > _CUMPROD_GRAPH_MAX:
                raise NotImplementedError(
                    f"cumprod: the recorded gradient of {tuple(x0.shape)} with zeros along dim "
                    f"{a} would hold {x0.size * n} products (n^2 per line; at most "
                    f"{_CUMPROD_GRAPH_MAX})"
                )
            xm, gm = movedim(x, a, -1), movedim(g, a, -1)
            eye = np.eye(n, dtype=bool)
            copies = where(Tensor(eye), 1.0, unsqueeze(xm, -2))  # [..., i, k]
            # j >= i by where, not a 0/1 product (inf * 0 = NaN)
            runs = where(Tensor(np.triu(np.ones((n, n), bool))), cumprod(copies, -1), 0.0)
            return movedim((runs * unsqueeze(gm, -2)).sum(-1), -1, a), None
        return flip(cumsum(flip(g * _graph.output(ctx, y0), (a,)), a), (a,)) / x, None


# cumprod's recorded gradient through zeros holds n^2 products per line: refused beyond this
_CUMPROD_GRAPH_MAX = 2**25


def cumprod(x, dim: int, *, dtype=None) -> Tensor:
    """Running product along dim (torch.cumprod); exact gradients where x has zeros."""
    if dtype is None and type(x) is Tensor and type(dim) is int and _outside_graph(x):
        a = x.data  # a float tensor outside the graph: the scan straight (~2 us of 4.4 at 8x8)
        if (a.dtype is _F32 or a.dtype is _F64) and -a.ndim <= dim < a.ndim:
            return Tensor._make(_cumprod(a, dim % a.ndim), False, None, 0)
    x = _as_dtype(x, dtype)
    if x.data.dtype == np.bool_:
        x = x.long()
    axis = _dim(dim, x.ndim, "cumprod")
    return _int_total(CumProd.apply(x, axis) if x.ndim else getitem(x, ...), dtype)


class LogCumSumExp(Function):
    @staticmethod
    def forward(ctx, x, axis):
        if x.dtype.itemsize < 4:  # float16 / bfloat16: accumulated in float32, as torch's
            y = np.logaddexp.accumulate(x.astype(np.float32) + 0.0, axis=axis).astype(x.dtype)
        else:
            y = np.logaddexp.accumulate(x + 0.0, axis=axis)  # -0 -> +0: PyTorch starts from -inf
        y = np.ascontiguousarray(y)  # (torch's C order, whatever x's layout)
        ctx.save_for_backward(x, y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        a = ctx.axis

        def rev(v):  # reverse running logsumexp
            return np.flip(np.logaddexp.accumulate(np.flip(v, a), axis=a), a)

        # grad_i = sum_{j >= i} g_j exp(x_i - y_j), in log space for the positive and the
        # negative parts of g
        pos = rev(np.where(g > 0, np.log(np.abs(g)), -np.inf) - y)
        neg = rev(np.where(g < 0, np.log(np.abs(g)), -np.inf) - y)
        return np.exp(pos + x) - np.exp(neg + x), None

    @staticmethod
    def backward_graph(ctx, g):
        # y_j = logsumexp_i (x_i + [0 if i <= j else -inf]): LogSumExp's graph backward,
        # with an n x n mask along the axis
        a = ctx.axis
        (x,) = _graph.inputs(ctx, ctx.saved_tensors[0])
        n, trail = x.shape[a], x.ndim - a - 1
        mask = np.where(np.tri(n, dtype=bool).T, 0.0, -np.inf).astype(x.dtype)
        mask = _graph.constant(mask.reshape((n, n) + (1,) * trail))
        return _graph.recompute(
            ctx, (g,), lambda t: logsumexp(unsqueeze(t, a + 1) + mask, a), x
        )[0], None  # fmt: skip


def logcumsumexp(x, dim: int) -> Tensor:
    """log(cumsum(exp(x))) along dim, without overflow."""
    x = _tensor_operand(x)
    if not _lowp.is_float(x.data.dtype):  # as PyTorch, which has no integer logcumsumexp
        raise BadDtype(f"logcumsumexp: input dtype should be floating point, got {x.dtype}")
    axis = _dim(dim, x.ndim, "logcumsumexp")
    return LogCumSumExp.apply(x, axis) if x.ndim else getitem(x, ...)


def diff(x, n: int = 1, dim: int = -1, prepend=None, append=None) -> Tensor:
    """n-th forward difference along dim, after joining prepend and append (bool: xor)."""
    x = _tensor_operand(x)
    if x.ndim == 0:
        raise ValueError("diff: expects a tensor with at least 1 dim")
    axis = _dim(dim, x.ndim, "diff")
    n = _index_dim(n, "diff", "n")  # (True is not n = 1)
    if n < 0:
        raise BadShapeOrValue(f"diff: order must be non-negative but got {n}")
    if n >= _LONG:
        _int64(n)
    if n == 0:  # torch: the input itself, prepend and append unused
        return clone(x)
    parts = [p for p in (prepend, x, append) if p is not None]
    if len(parts) > 1:
        x = cat(
            [
                expand(p, x.shape[:axis] + (1,) + x.shape[axis + 1 :])
                if np.ndim(_data(p)) == 0
                else _tensor_operand(p)
                for p in parts
            ],
            axis,
        )
    for _ in range(n):
        if x.shape[axis] == 0:
            break
        a = narrow(x, axis, 1, x.shape[axis] - 1)
        b = narrow(x, axis, 0, x.shape[axis] - 1)
        x = compare(np.not_equal, a, b) if x.dtype == np.bool_ else a - b
    return x


def msort(x) -> Tensor:
    return sort(x, 0).values


def cov(x, *, correction: int = 1, fweights=None, aweights=None) -> Tensor:
    """Covariance of the variables in the rows of x (observations in columns), optionally with
    integer frequency and float observation weights, as torch.cov."""
    x = _float_operand(x, "cov")
    if x.ndim > 2:
        raise BadShapeOrValue(f"cov: expects a 1-D or 2-D tensor, got shape {x.shape}")
    x = reshape(x, (1, -1)) if x.ndim < 2 else x
    n_obs = x.shape[1]
    w = None
    for name, wt in (("fweights", fweights), ("aweights", aweights)):
        if wt is None:
            continue
        wa = np.asarray(_data(wt))
        if wa.shape != (n_obs,) or (wa < 0).any():
            raise ValueError(f"cov: {name} must be 1-D, non-negative, with {n_obs} entries")
        if name == "fweights" and wa.dtype.kind not in "iu":
            raise BadDtype(f"cov: fweights must be integers, got {wa.dtype}")
        wa = wa.astype(x.dtype)
        if name == "aweights" and isinstance(wt, Tensor) and wt.requires_grad:
            wa = wt.to(x.dtype)  # torch differentiates through the observation weights
        w = wa if w is None else w * wa
    if w is None:
        avg, w_sum = mean(x, 1, keepdim=True), n_obs
        factor = n_obs - correction
    else:
        w_sum = w.sum()
        avg = sum(x * w, 1, keepdim=True) / w_sum
        if correction == 0:
            factor = w_sum
        elif aweights is None:
            factor = w_sum - correction
        else:
            aw = aweights if isinstance(w, Tensor) else np.asarray(_data(aweights), x.dtype)
            factor = w_sum - correction * (w * aw).sum() / w_sum
    xm = x - avg
    if isinstance(factor, Tensor):
        factor = clamp(factor, min=0)
    else:
        factor = np.asarray(builtins.max(factor, 0), x.dtype)
    c = matmul(xm if w is None else xm * w, transpose(xm, 0, 1)) / factor
    return reshape(c, ()) if c.shape == (1, 1) else c


def corrcoef(x) -> Tensor:
    """Pearson correlation coefficients of the rows of x, clipped to [-1, 1]."""
    c = cov(x)
    if c.ndim == 0:
        return c / c
    d = sqrt(diagonal(c))
    return clamp(c / reshape(d, (-1, 1)) / reshape(d, (1, -1)), -1, 1)


# ---- products ------------------------------------------------------------------------------


def _float_only(op: str, x) -> Tensor:
    """Ops PyTorch defines for floating point only (norms, distances, linear algebra)."""
    x = _tensor_operand(x)
    if not _lowp.is_float(x.dtype):
        raise BadDtype(f"{op}: expected a floating point tensor, got {x.dtype}")
    return x


def _vector_pair(op, a, b):
    a, b = _tensor_operand(a), _tensor_operand(b)
    if a.ndim != 1 or b.ndim != 1 or a.shape != b.shape:
        raise BadShapeOrValue(
            f"{op}: expected two 1-D tensors of one size, got {a.shape} and {b.shape}"
        )
    if a.dtype != b.dtype:
        raise BadDtype(
            f"{op}: expected both vectors to have one dtype, got {a.dtype} and {b.dtype}"
        )
    return a, b


def dot(a, b) -> Tensor:
    """Inner product of two 1-D tensors of the same size and dtype."""
    if (y := _plain_dot(a, b)) is not None:
        return y
    if type(a) is Tensor and type(b) is Tensor:  # (overhead43: recorded, the checks' own)
        x, y = a._data, b._data
        if x.dtype is y.dtype and (x.dtype is _F32 or x.dtype is _F64) and x.ndim == 1 == y.ndim:
            if 0 < x.shape[0] == y.shape[0]:
                return MatMul.apply(a, b)
    return matmul(*_vector_pair("dot", a, b))


def _plain_dot(a, b):
    """overhead42: dot of two float vectors of one dtype and size outside the graph, matmul's
    GEMM of (1, n) by (n, 1) straight (~8.6 -> ~2 us at 32: _vector_pair and the node); the
    same values. None for any other call. (overhead44: C-contiguous vectors outside autograd
    by _C.fast_dot, the same GEMM call in C: ~2.3 -> ~1.1 us at 32.)"""
    if (y := _C.fast_dot(a, b)) is not None:
        return y
    if type(a) is Tensor and type(b) is Tensor and _outside_graph(a) and _outside_graph(b):
        x, y = a._data, b._data
        dt = x.dtype
        if (dt is _F32 or dt is _F64) and y.dtype is dt and x.ndim == 1 == y.ndim:
            n = x.shape[0]
            if n and y.shape[0] == n:
                x, y = x.reshape(1, n), y.reshape(n, 1)
                if not (x.flags.c_contiguous and y.flags.c_contiguous):  # (overhead43: the
                    x, y = _gemm_operand(x), _gemm_operand(y)  # common case needs no test)
                return _plain(_C.gemm(x, y).reshape(()))
    return None


def vdot(a, b) -> Tensor:
    if (y := _plain_dot(a, b)) is not None:  # (real: no conjugate)
        return y
    a, b = _vector_pair("vdot", a, b)
    return named(matmul(conj(a), b), "VdotBackward0")  # the first conjugated


def inner(a, b) -> Tensor:
    """Sum of products over the last dims (a product when either is 0-d)."""
    if (y := _plain_dot(a, b)) is not None:  # (two vectors: dot's GEMM, overhead42)
        return y
    a, b = _tensor_operand(a), _tensor_operand(b)
    if a.ndim == 0 or b.ndim == 0:
        return mul(a, b)
    return tensordot(a, b, ([-1], [-1]))


def outer(a, b) -> Tensor:
    """a[i] * b[j] of two 1-D tensors."""
    if type(a) is Tensor and type(b) is Tensor:  # the common call: one _C.outer product (~10 us
        # less at 128 x 128 than the reshapes and broadcasting mul; NumPy's outer ~4x slower)
        x, y = a.data, b.data
        if (
            x.ndim == 1
            and y.ndim == 1
            and x.dtype.char in "fd"
            and x.dtype == y.dtype
            and _outside_graph(a)
            and _outside_graph(b)
        ):
            if x.size and y.size:
                x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
                return Tensor._make(_C.outer(x, y, 2), False, None, 0)
            # (C strides when empty too, as torch's; NumPy gives an empty array zero strides)
            out = _strides.empty((x.size, y.size), (builtins.max(y.size, 1), 1), x.dtype)
            return Tensor._make(np.multiply(x[:, None], y[None, :], out=out), False, None, 0)
        if (
            x.ndim == 1
            and y.ndim == 1
            and x.dtype.char in "fd"
            and x.dtype is y.dtype
            and x.size
            and y.size
            and x.flags.c_contiguous
            and y.flags.c_contiguous
            and _state.enabled
            and _function._fw_level is None
        ):  # overhead40: recorded, the same node (Mul of a's (n, 1) view and b), its values
            # by _C.outer (Mul's broadcasting forward was ~2.5 us of a ~7.5 us outer of 32)
            return _OuterMul.apply(reshape(a, (-1, 1)), b)
    a, b = _tensor_operand(a), _tensor_operand(b)
    if a.ndim != 1 or b.ndim != 1:
        raise BadShapeOrValue(f"outer: expected 1-D tensors, got shapes {a.shape} and {b.shape}")
    # (b broadcast as it is: torch's a.reshape(-1, 1) * b, its node's edges a view's and b's)
    return mul(reshape(a, (-1, 1)), b)


class _OuterMul(Mul):
    """outer's recorded node: Mul's (a (n, 1), b (m,)) with the products _C.outer makes
    (one IEEE multiply each, as np.multiply's), its backward Mul's."""

    @staticmethod
    def forward(ctx, a, b):
        na, nb = ctx.needs_input_grad
        ctx.save_for_backward(a if nb else _shape_only(a), b if na else _shape_only(b))
        return _C.outer(a.reshape(-1), b, 2)


ger = outer


def mv(mat, vec) -> Tensor:
    if type(mat) is Tensor and type(vec) is Tensor:  # overhead42: checked, to matmul straight
        a, v = mat._data, vec._data
        if a.ndim == 2 and v.ndim == 1 and a.shape[1] == v.shape[0]:
            return matmul(mat, vec)
    mat, vec = _tensor_operand(mat), _tensor_operand(vec)
    if mat.ndim != 2 or vec.ndim != 1 or mat.shape[1] != vec.shape[0]:
        raise BadShapeOrValue(
            f"mv: expected (n, m) and (m,), got shapes {mat.shape} and {vec.shape}"
        )
    return matmul(mat, vec)


def _scaled_add(op, input, product, beta, alpha) -> Tensor:
    """beta * input + alpha * product, input broadcast to the product's shape; beta = 0 ignores
    input, and for addmm, addmv and addbmm (BLAS calls in torch) alpha = 0 the product: NaN in
    what is ignored does not propagate, as in PyTorch."""
    input = _tensor_operand(input)
    if broadcast_shapes(input.shape, product.shape) != product.shape:
        raise BadShapeOrValue(
            f"{op}: input of shape {input.shape} does not broadcast to {product.shape}"
        )
    kind = product.data.dtype.kind
    if kind in "iub":  # torch casts the scalars to the dtype (0.5 is 0 for integers)
        if op == "addr" and isinstance(alpha + beta, builtins.float | np.floating):
            raise BadDtype(
                "addr: for integral input tensors, argument beta and alpha must not be floating "
                f"point numbers, got beta={beta}, alpha={alpha}"
            )
        cast = builtins.bool if kind == "b" else builtins.int
        alpha, beta = cast(alpha), cast(beta)
    if kind == "b":  # (alpha and product) or (beta and input)
        out = logical_and(product, alpha)
        return logical_or(out, input) if beta else out
    out = product if alpha == 1 else product * alpha
    if alpha == 0 and op in ("addmm", "addmv", "addbmm"):  # zeros, the product's gradient 0
        out = where(np.zeros(product.shape, bool), product, np.zeros((), product.dtype))
    if beta == 0:  # input's gradient is zeros, not None, as torch's (out's values, untouched)
        out = where(np.zeros((), bool), input, out) if input.requires_grad else out
    else:
        out = out + (input if beta == 1 else input * beta)
    # torch's one node for the op (its name; ember's graph composes it from mm, mul and add)
    return named(out, _SCALED_ADD_NODES[op])


_SCALED_ADD_NODES = {
    "addmm": "AddmmBackward0", "addmv": "AddmvBackward0", "addbmm": "AddbmmBackward0",
    "baddbmm": "BaddbmmBackward0", "addr": "AddrBackward0",
}  # fmt: skip


# the operands' dims each op takes (mat1/mat2, mat/vec, vec1/vec2, batch1/batch2), and input's most
_SCALED_DIMS = {"addmm": (2, 2, 2), "addmv": (2, 1, 1), "addr": (1, 1, 2), "baddbmm": (3, 3, 3),
                "addbmm": (3, 3, 2)}  # fmt: skip


def _scaled_product(op, c, a, b, beta, alpha):
    """beta * c + alpha * (a op b) in one pass where the GEMM takes c (addmm, addbmm: its
    C := beta*C + alpha*A*B), c broadcast to the product; beta = 0 never reads c. a, b and c
    are arrays of one float dtype, checked; alpha != 0."""
    if op == "addr":  # overhead42: a rank-1 GEMM update of c (outer's copy and the sum: ~2x)
        op, a, b = "addmm", a.reshape(a.shape[0], 1), b.reshape(1, b.shape[0])
    if op == "addmm" or op == "addbmm":
        if op == "addbmm":  # sum_b a[b] @ b[b]: (n, B*m) @ (B*m, p), one GEMM
            nb, n, m = a.shape
            p = b.shape[2]
            a = a.transpose(1, 0, 2).reshape(n, nb * m)  # (explicit sizes: -1 fails when empty)
            b = b.reshape(nb * m, p)
        out_shape = (a.shape[0], b.shape[1])
        if beta == 0:
            out = None
        elif c.shape == out_shape:
            out = np.array(c, order="C")  # (a fresh copy the GEMM writes into)
        else:
            out = np.empty(out_shape, c.dtype)
            out[...] = c
        # (positional: pybind11's keywords cost ~0.4 us a call)
        return _C.gemm(_gemm_operand(a), _gemm_operand(b), out, False, False, alpha, beta)
    if op == "addmv":
        if not (a.flags.c_contiguous or a.flags.f_contiguous):
            a = np.ascontiguousarray(a)
        out = _C.matvec(a, np.ascontiguousarray(b), False)
    else:
        out = _mm(a, b)
    if alpha != 1:
        out *= alpha
    if beta == 1:
        out += c
    elif beta != 0:
        out += beta * c
    return out


class ScaledMatmul(Function):
    """addmm, addmv, addr, baddbmm, addbmm (float32/float64, alpha != 0) as torch records them:
    one node with edges (input, operand 1, operand 2), the product and the sum in one pass."""

    @staticmethod
    def forward(ctx, c, a, b, beta, alpha, op):
        nc, na, nb = ctx.needs_input_grad[:3]
        ctx.save_for_backward(a if nb else _stand_in(a), b if na else _stand_in(b))
        ctx.meta = (op, beta, alpha, c.shape)
        ctx._named = _SCALED_ADD_NODES[op]
        return _scaled_product(op, c, a, b, beta, alpha)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        op, beta, alpha, c_shape = ctx.meta
        nc, na, nb = ctx.needs_input_grad[:3]
        gc = ga = gb = None
        if nc:
            gc = unbroadcast(g if beta == 1 else g * beta, c_shape)
        if op == "addmm":
            g = _gemm_operand(g)
            if na:
                ga = _C.gemm(g, _gemm_operand(b), trans_b=True, alpha=alpha)
            if nb:
                gb = _C.gemm(_gemm_operand(a), g, trans_a=True, alpha=alpha)
            return gc, ga, gb, None, None, None
        if op == "addmv":  # g (n,), a (n, m), b (m,)
            if na:
                ga = np.multiply.outer(g, b)
            if nb:
                if not (a.flags.c_contiguous or a.flags.f_contiguous):
                    a = np.ascontiguousarray(a)
                gb = _C.matvec(a, np.ascontiguousarray(g), True)
        elif op == "addr":  # g (n, m), a (n,), b (m,)
            if not (g.flags.c_contiguous or g.flags.f_contiguous):
                g = np.ascontiguousarray(g)
            if na:
                ga = _C.matvec(g, np.ascontiguousarray(b), False)
            if nb:
                gb = _C.matvec(g, np.ascontiguousarray(a), True)
        elif op == "baddbmm":  # g (B, n, p)
            if na:
                ga = _mm(g, np.swapaxes(b, -1, -2))
            if nb:
                gb = _mm(np.swapaxes(a, -1, -2), g)
        else:  # addbmm: g (n, p), the same for every batch
            if na:
                ga = _mm(np.broadcast_to(g, (b.shape[0], *g.shape)), np.swapaxes(b, -1, -2))
            if nb:
                gb = _mm(np.swapaxes(a, -1, -2), np.broadcast_to(g, (a.shape[0], *g.shape)))
        if alpha != 1:
            ga = None if ga is None else ga * alpha
            gb = None if gb is None else gb * alpha
        return gc, ga, gb, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        a0, b0 = ctx.saved_tensors
        op, beta, alpha, c_shape = ctx.meta
        pc, pa, pb = ctx.parents[:3]  # (a stand-in operand: its values are not read)
        c = pc if pc is not None else _graph.constant(np.zeros(c_shape, a0.dtype))
        a = pa if pa is not None else _graph.constant(a0)
        b = pb if pb is not None else _graph.constant(b0)
        composite = _SCALED_COMPOSITE[op]

        def fn(c, a, b):
            return _scaled_add(op, c, composite(a, b), beta, alpha)

        return _graph.recompute(ctx, (g,), fn, c, a, b) + (None, None, None)


_SCALED_COMPOSITE = {
    "addmm": lambda a, b: mm(a, b), "addmv": lambda a, b: mv(a, b),
    "addr": lambda a, b: outer(a, b), "baddbmm": lambda a, b: bmm(a, b),
    "addbmm": lambda a, b: sum(bmm(a, b), 0),
}  # fmt: skip


def _scaled(op, input, a, b, beta, alpha):
    """The five ops' front: their fused node for float32/float64 operands of one dtype and
    the right dims, alpha != 0; else the composite (_scaled_add: integers, bool, float16,
    complex, mixed dtypes, alpha = 0, errors)."""
    if (
        type(input) is Tensor
        and type(a) is Tensor
        and type(b) is Tensor
        and alpha != 0
        and type(alpha) in (int, float)
        and type(beta) in (int, float)
    ):
        c, x, y = input._data, a._data, b._data
        dt = x.dtype
        da, db, _ = _SCALED_DIMS[op]
        if (
            (dt is _F32 or dt is _F64)
            and y.dtype is dt
            and c.dtype is dt
            and x.ndim == da
            and y.ndim == db
            and c.ndim <= _SCALED_DIMS[op][2]
        ):
            sx, sy = x.shape, y.shape
            if op == "addr":
                ps = (sx[0], sy[0])
            elif op == "addmv":
                ps = sx[:1] if sx[1] == sy[0] else None
            elif op == "addmm":
                ps = (sx[0], sy[1]) if sx[1] == sy[0] else None
            else:
                ok = sx[0] == sy[0] and sx[2] == sy[1]
                ps = None if not ok else (sx[1], sy[2]) if op == "addbmm" else (sx[0], sx[1], sy[2])
            if ps is not None and (c.shape == ps or _broadcasts_to(c.shape, ps)):
                if not (input._requires_grad or a._requires_grad or b._requires_grad):
                    return _plain(_scaled_product(op, c, x, y, beta, alpha))
                return ScaledMatmul.apply(input, a, b, beta, alpha, op)
    return None


def _broadcasts_to(shape, target) -> bool:
    if len(shape) > len(target):
        return False
    return builtins.all(s == 1 or s == t for s, t in zip(shape[::-1], target[::-1]))


def addmm(input, mat1, mat2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * (mat1 @ mat2)."""
    if (
        type(input) is Tensor
        and type(mat1) is Tensor
        and type(mat2) is Tensor
        and not (input._requires_grad or mat1._requires_grad or mat2._requires_grad)
        and (type(beta) is int or type(beta) is float)
        and (type(alpha) is int or type(alpha) is float)
        and alpha != 0
    ):  # the common call outside the graph: the GEMM into a copy of input (~1 us of checks)
        c, a, b = input._data, mat1._data, mat2._data
        dt = c.dtype
        if (
            (dt is _F32 or dt is _F64)
            and a.dtype is dt
            and b.dtype is dt
            and a.ndim == 2 == b.ndim
            and a.shape[1] == b.shape[0]
            and c.shape == (a.shape[0], b.shape[1])
        ):
            out = None if beta == 0 else np.array(c, order="C")
            return _plain(_C.gemm(_gemm_operand(a), _gemm_operand(b), out, False, False,
                                  alpha, beta))  # fmt: skip
    if (y := _scaled("addmm", input, mat1, mat2, beta, alpha)) is not None:
        return y
    return _scaled_add("addmm", input, mm(mat1, mat2), beta, alpha)


def _plain_scaled(input, a, b, beta, alpha):
    """The arrays of addmv's and addr's common call outside the graph (three float Tensors of
    one dtype, number scales, alpha != 0), else None: _scaled's steps without its table."""
    if (
        type(input) is Tensor
        and type(a) is Tensor
        and type(b) is Tensor
        and not (input._requires_grad or a._requires_grad or b._requires_grad)
        and (type(beta) is int or type(beta) is float)
        and (type(alpha) is int or type(alpha) is float)
        and alpha != 0
    ):
        c, x, y = input._data, a._data, b._data
        dt = c.dtype
        if (dt is _F32 or dt is _F64) and x.dtype is dt and y.dtype is dt:
            return c, x, y
    return None


def addmv(input, mat, vec, *, beta=1, alpha=1) -> Tensor:
    if (p := _plain_scaled(input, mat, vec, beta, alpha)) is not None:
        c, a, v = p  # overhead42: the common call's product straight (~2.5 -> ~1.8 us at 16)
        if a.ndim == 2 and v.ndim == 1 and a.shape[1] == v.shape[0] and c.shape == a.shape[:1]:
            return _plain(_scaled_product("addmv", c, a, v, beta, alpha))
    if (y := _scaled("addmv", input, mat, vec, beta, alpha)) is not None:
        return y
    return _scaled_add("addmv", input, mv(mat, vec), beta, alpha)


def addbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    """beta * input + alpha * sum_b batch1[b] @ batch2[b]."""
    if (y := _scaled("addbmm", input, batch1, batch2, beta, alpha)) is not None:
        return y
    product = bmm(batch1, batch2)  # (summed in its dtype: uint8 stays uint8, as torch's)
    return _scaled_add("addbmm", input, sum(product, 0, dtype=product.dtype), beta, alpha)


def baddbmm(input, batch1, batch2, *, beta=1, alpha=1) -> Tensor:
    if (y := _scaled("baddbmm", input, batch1, batch2, beta, alpha)) is not None:
        return y
    return _scaled_add("baddbmm", input, bmm(batch1, batch2), beta, alpha)


def addr(input, vec1, vec2, *, beta=1, alpha=1) -> Tensor:
    if (p := _plain_scaled(input, vec1, vec2, beta, alpha)) is not None:
        c, a, b = p  # overhead42: the common call's rank-1 GEMM update of a copy of input
        # straight (~3.1 -> ~2.2 us at 16: _scaled's and _scaled_product's steps)
        m, n = a.shape[0] if a.ndim == 1 else -1, b.shape[0] if b.ndim == 1 else -1
        if c.shape == (m, n):
            out = None if beta == 0 else np.array(c, order="C")  # (beta = 0 never reads c)
            a, b = _gemm_operand(a.reshape(m, 1)), _gemm_operand(b.reshape(1, n))
            y = _C.gemm(a, b, out, False, False, alpha, beta)
            return _plain(y if c.flags.c_contiguous else _addr_layout(y, c))
    y = _scaled("addr", input, vec1, vec2, beta, alpha)
    if y is None:
        y = _scaled_add("addr", input, outer(vec1, vec2), beta, alpha)
    if type(input) is Tensor and not input.data.flags.c_contiguous:
        y._data = _addr_layout(y._data, input.data)
    return y


def _addr_layout(y: np.ndarray, c: np.ndarray) -> np.ndarray:
    """addr's result y (C order) laid out as torch's for the input c: c's dim order when c
    has y's shape (a transposed input: a transposed result), else C order (overhead43)."""
    if c.shape != y.shape or y.ndim != 2:
        return y
    want = _strides.preserved(c)
    if want == _strides._elem_strides(y):
        return y
    out = _strides.empty(y.shape, want, y.dtype)
    np.copyto(out, y)
    return out


def kron(a, b) -> Tensor:
    """Kronecker product: out[i*m + k] = a[i] * b[k] in every dim."""
    if (p := _plain_pair(a, b)) is not None and type(a) is Tensor and type(b) is Tensor:
        x, y = p
        if x.dtype is y.dtype and (x.dtype is _F32 or x.dtype is _F64):
            # overhead42: two float tensors outside the graph, the arrays' product straight
            # (~17 -> ~4 us of 8x8 by 4x4: the Tensor reshapes and mul below); the same values
            if x.ndim == 2 == y.ndim:  # (the common call, without the tuple building below)
                (m, n), (p, q) = x.shape, y.shape
                return _plain((x.reshape(m, 1, n, 1) * y.reshape(1, p, 1, q)).reshape(m * p, n * q))
            if x.ndim == 1 == y.ndim:  # (overhead44: two vectors likewise, ~4.3 -> ~2 us at 32)
                m, p = x.shape[0], y.shape[0]
                return _plain((x.reshape(m, 1) * y.reshape(1, p)).reshape(m * p))
            nd = builtins.max(x.ndim, y.ndim)
            sa, sb = (1,) * (nd - x.ndim) + x.shape, (1,) * (nd - y.ndim) + y.shape
            prod = x.reshape(_interleave(sa, (1,) * nd)) * y.reshape(_interleave((1,) * nd, sb))
            return _plain(prod.reshape(tuple(p * q for p, q in zip(sa, sb))))
    a, b = _tensor_operand(a), _tensor_operand(b)
    nd = builtins.max(a.ndim, b.ndim)
    sa, sb = (1,) * (nd - a.ndim) + a.shape, (1,) * (nd - b.ndim) + b.shape
    ai = reshape(a, _interleave(sa, (1,) * nd))  # (a0, 1, a1, 1, ...)
    bi = reshape(b, _interleave((1,) * nd, sb))  # (1, b0, 1, b1, ...)
    # torch's kron multiplies _unsafe_view's of a and b: the product keeps views with version
    # counters of their own, so a write into a or b after the forward is not refused and
    # backward reads the new values; the same here (the product's operands own no memory)
    ai.data, bi.data = _own_owner(ai.data), _own_owner(bi.data)
    out = reshape(ai * bi, tuple(p * q for p, q in zip(sa, sb)))
    return named(out, "UnsafeViewBackward0")  # (torch's node: a view of its product's copy)


def _own_owner(a: np.ndarray) -> np.ndarray:
    """a's memory as an array that is its own owner for the in-place version check (torch's
    _unsafe_view): writes into a's base are not counted as writes into it."""
    try:
        return np.asarray(memoryview(a))  # (its base is the memoryview: array_owner stops there)
    except (TypeError, ValueError, BufferError):  # a dtype without a buffer format: a view
        return a


def _td_axes(d, nd: int):
    """tensordot's dim list d (ints in range, no repeats) as axes, else None."""
    if type(d) not in (list, tuple) or not builtins.all(
        type(i) is int and -nd <= i < nd for i in d
    ):
        return None
    axes = tuple(i % nd for i in d)
    return axes if len(set(axes)) == len(axes) else None


def _tensordot_straight(x: np.ndarray, y: np.ndarray, dims):
    """tensordot's product of float arrays of one dtype as the general path computes it (the
    same operands to the same GEMM), without its Tensor reshapes and permutes (~4x less Python
    at 4x16x16); None for other operands and for bad dims (the general path's errors)."""
    if x.dtype is not y.dtype or not (x.dtype is _F32 or x.dtype is _F64):
        return None
    if type(dims) is int:
        if not 0 <= dims <= builtins.min(x.ndim, y.ndim):
            return None
        da, db = tuple(range(x.ndim - dims, x.ndim)), tuple(range(dims))
    elif type(dims) in (list, tuple) and len(dims) == 2:
        da, db = _td_axes(dims[0], x.ndim), _td_axes(dims[1], y.ndim)
        if da is None or db is None:
            return None
    else:
        return None
    if len(da) != len(db) or builtins.any(x.shape[i] != y.shape[j] for i, j in zip(da, db)):
        return None
    fa = [d for d in range(x.ndim) if d not in da]
    fb = [d for d in range(y.ndim) if d not in db]
    m = math.prod([x.shape[d] for d in fa])
    k = math.prod([x.shape[d] for d in da])
    n = math.prod([y.shape[d] for d in fb])
    x2 = x.transpose(fa + list(da)).reshape(m, k)
    y2 = y.transpose(list(db) + fb).reshape(k, n)
    out = _C.gemm(
        x2 if x2.flags.c_contiguous else _gemm_operand(x2),
        y2 if y2.flags.c_contiguous else _gemm_operand(y2),
    )
    return out.reshape(tuple(x.shape[d] for d in fa) + tuple(y.shape[d] for d in fb))


def tensordot(a, b, dims=2) -> Tensor:
    """Contract the last ``dims`` dims of a with the first of b, or the listed dim pairs."""
    if type(a) is Tensor and type(b) is Tensor and _outside_graph(a) and _outside_graph(b):
        y = _tensordot_straight(a.data, b.data, dims)
        if y is not None:
            return _plain(y)
    a, b = _tensor_operand(a), _tensor_operand(b)
    if isinstance(dims, Tensor) and dims.ndim == 0:  # (torch takes a 0-d tensor as the int)
        dims = dims.item()
    if isinstance(dims, int | np.integer):
        if not 0 <= dims <= builtins.min(a.ndim, b.ndim):
            raise BadShapeOrValue(  # (torch: RuntimeError)
                f"tensordot: dims {dims} out of range for {a.shape} and {b.shape}"
            )
        da, db = tuple(range(a.ndim - dims, a.ndim)), tuple(range(dims))
    else:
        da, db = dims
        da = _axes(da, a.ndim, "tensordot") if np.ndim(da) or da != [] else ()
        db = _axes(db, b.ndim, "tensordot") if np.ndim(db) or db != [] else ()
    if len(da) != len(db) or builtins.any(
        a.shape[i] != b.shape[j] and 1 not in (a.shape[i], b.shape[j]) for i, j in zip(da, db)
    ):
        raise BadShapeOrValue(
            f"tensordot: contracted dims {da} of {a.shape} and {db} of {b.shape} must match in size"
        )
    # a size-1 dim contracted with a size-k one broadcasts, as torch: sum the other side first
    sum_a = [i for i, j in zip(da, db) if a.shape[i] != b.shape[j] and b.shape[j] == 1]
    sum_b = [j for i, j in zip(da, db) if a.shape[i] != b.shape[j] and a.shape[i] == 1]
    a = sum(a, sum_a, keepdim=True) if sum_a else a
    b = sum(b, sum_b, keepdim=True) if sum_b else b
    fa = [d for d in range(a.ndim) if d not in da]
    fb = [d for d in range(b.ndim) if d not in db]
    m, k, n = (
        math.prod(s)
        for s in ([a.shape[d] for d in fa], [a.shape[d] for d in da], [b.shape[d] for d in fb])
    )  # (no -1: k may be 0)
    a2 = reshape(permute(a, fa + list(da)), (m, k))
    b2 = reshape(permute(b, list(db) + fb), (k, n))
    return reshape(matmul(a2, b2), tuple(a.shape[d] for d in fa) + tuple(b.shape[d] for d in fb))


class EinSum(Function):
    """einsum; the gradient of each operand is the einsum of the output gradient with the other
    operands onto its subscripts (broadcast over its letters summed alone, written onto the
    diagonal for repeated letters)."""

    @staticmethod
    def forward(ctx, *operands, subs, out):
        ctx.save_for_backward(*operands)
        ctx.meta = (subs, out)
        return _einsum_gemm(subs, operands, out)

    @staticmethod
    def backward(ctx, g):
        operands = ctx.saved_tensors
        subs, out = ctx.meta
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            if not need:
                grads.append(None)
                continue
            sk, x = subs[k], operands[k]
            uniq = "".join(dict.fromkeys(sk))
            others = [j for j in range(len(subs)) if j != k]
            present = set(out).union(*(subs[j] for j in others))
            target = "".join(c for c in uniq if c in present)
            gk = _einsum_gemm(
                [out] + [subs[j] for j in others], [g] + [operands[j] for j in others], target
            )
            size = {c: x.shape[sk.index(c)] for c in uniq}
            gk = np.broadcast_to(
                gk.reshape([size[c] if c in present else 1 for c in uniq]),
                [size[c] for c in uniq],
            )
            if len(uniq) < len(sk):  # repeated letters: a writeable diagonal view of zeros
                full = np.zeros(x.shape, gk.dtype)
                np.einsum(sk + "->" + uniq, full)[...] = gk
                gk = full
            grads.append(gk)
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx, g):
        # backward's einsums as EinSum nodes: each differentiates to any order
        subs, out = ctx.meta
        xs = _graph.inputs(ctx, *ctx.saved_tensors)
        grads = []
        for k, need in enumerate(ctx.needs_input_grad):
            sk = subs[k]
            if not need:
                grads.append(None)
                continue
            uniq = "".join(dict.fromkeys(sk))
            others = [j for j in range(len(subs)) if j != k]
            present = set(out).union(*(subs[j] for j in others))
            target = "".join(c for c in uniq if c in present)
            gk = EinSum.apply(
                g, *[xs[j] for j in others], subs=[out] + [subs[j] for j in others], out=target
            )
            size = {c: n for c, n in zip(sk, xs[k].shape)}
            gk = reshape(gk, [size[c] if c in present else 1 for c in uniq])
            gk = expand(gk, [size[c] for c in uniq])
            if len(uniq) < len(sk):  # repeated letters: onto the diagonal, by identities
                free = (
                    c
                    for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                    if c not in set(out).union(*subs)
                )
                full, eyes, eye_subs = "", [], []
                for c in sk:
                    if c in full:  # a later occurrence: a fresh letter tied to c by an identity
                        f = next(free)
                        eyes.append(_graph.constant(np.eye(size[c], dtype=g.data.dtype)))
                        eye_subs.append(c + f)
                        c = f
                    full += c
                gk = EinSum.apply(gk, *eyes, subs=[uniq] + eye_subs, out=full)
            grads.append(gk)
        return tuple(grads)


def _einsum1(sub: str, out: str, a: np.ndarray) -> np.ndarray:
    """np.einsum(sub -> out) of one operand; a transposed view (no einsum call, ~10 us less
    each) when out only reorders sub's distinct letters."""
    if len(out) == len(sub) == len(set(sub)):
        return a if sub == out else a.transpose([sub.index(c) for c in out])
    return np.einsum(f"{sub}->{out}", a)


def _einsum_gemm(subs, arrays, out):
    """np.einsum(subs -> out) with each pairwise product on the GEMM core (never NumPy's BLAS):
    every operand first takes its diagonals and sums the letters no one else needs, then the
    operands are multiplied left to right as batched (batch, M, K) @ (batch, K, N) products."""
    ops = []
    for k, (sub, a) in enumerate(zip(subs, arrays)):
        needed = set(out).union(*(subs[j] for j in range(len(subs)) if j != k))
        keep = "".join(c for c in dict.fromkeys(sub) if c in needed)
        ops.append((keep, _einsum1(sub, keep, a)))  # one operand: no BLAS
    while len(ops) > 1:
        (sa, a), (sb, b) = ops[0], ops[1]
        rest = set(out).union(*(s for s, _ in ops[2:]))
        batch = [c for c in sa if c in sb and c in rest]
        summed = [c for c in sa if c in sb and c not in rest]
        fa, fb = [c for c in sa if c not in sb], [c for c in sb if c not in sa]
        size = dict(zip(sa, a.shape)) | dict(zip(sb, b.shape))
        nb, m, n, k = (math.prod(size[c] for c in cs) for cs in (batch, fa, fb, summed))
        a3 = _einsum1(sa, "".join(batch + fa + summed), a).reshape(nb, m, k)
        b3 = _einsum1(sb, "".join(batch + summed + fb), b).reshape(nb, k, n)
        a3, b3, is_float = _gemm_pair("einsum", a3, b3)
        if is_float and m == 1 and n == 1:  # batched dot products ('ij,ij->i'): the products
            # summed along each row, not nb 1 x 1 GEMMs (~40x faster at 256 x 512)
            a2, b2 = a3.reshape(nb, k), b3.reshape(nb, k)
            if nb * k >= 1024 and a2.flags.c_contiguous and b2.flags.c_contiguous:
                # (the same bits without the products' array: ~1.5x at 1000 x 1000)
                c3 = _C.dot_rows(a2, b2).reshape(nb, 1, 1)
            else:
                c3 = reduce_sum(a2 * b2, (1,), False).reshape(nb, 1, 1)
        else:
            c3 = _mm(a3, b3) if is_float and a3.size and b3.size else np.matmul(a3, b3)
        ops = [("".join(batch + fa + fb), c3.reshape([size[c] for c in batch + fa + fb]))] + ops[2:]
    sub, a = ops[0]
    return np.asarray(_einsum1(sub, out, a))


def _einsum_subscripts(equation: str, shapes):
    """Explicit subscripts (ellipses spelled out with unused letters) and the output."""
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    subs = lhs.split(",")
    if len(subs) != len(shapes):
        raise BadShapeOrValue(f"einsum: {equation!r} names {len(subs)} operands, got {len(shapes)}")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz" if c not in eq]
    n_ell = builtins.max(
        [len(s) - len(sub) + 3 for sub, s in zip(subs, shapes) if "..." in sub], default=0
    )
    ell = "".join(spare[:n_ell])
    for i, (sub, shape) in enumerate(zip(subs, shapes)):
        if "..." in sub:
            sub = sub.replace("...", ell[n_ell - (len(shape) - len(sub) + 3) :])
        if len(sub) != len(shape) or (sub and not sub.isalpha()):  # ('...' of a 0-d is '')
            raise BadShapeOrValue(
                f"einsum: subscripts {subs[i]!r} do not fit operand {i} of shape {shape}"
            )
        if len(set(sub)) < len(sub):  # a diagonal: torch refuses sizes that differ (even a 1)
            size = {}
            for c, n in zip(sub, shape):
                if size.setdefault(c, n) != n:
                    raise BadShapeOrValue(
                        f"einsum: subscript {c} is repeated for operand {i} but the sizes "
                        f"don't match, {size[c]} != {n} (shape {shape})"
                    )
        subs[i] = sub
    if arrow:
        out = rhs.replace("...", ell)
        for c in out:  # (torch's RuntimeErrors; NumPy's einsum would say ValueError)
            if out.count(c) > 1 or c not in "".join(subs):
                why = "appears more than once in" if out.count(c) > 1 else "is in no input of"
                raise BadShapeOrValue(f"einsum: output subscript {c} {why} {equation!r}")
    else:
        letters = "".join(subs)
        out = ell + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell)
        )
    return subs, out


@functools.lru_cache(maxsize=256)
def _einsum2_plan(equation: str, shape_a: tuple, shape_b: tuple):
    """_einsum_gemm's steps for two operands of these shapes, as (transpose of a or None,
    a's (batch, M, K), of b, b's (batch, K, N), the product's shape, its transpose to the
    output or None), or None where einsum's general path is needed: a letter repeated in or
    summed within one operand, a size-1 dim to broadcast, a batched dot product, a bad
    equation (which that path reports)."""
    try:
        subs, out = _einsum_subscripts(equation, [shape_a, shape_b])
    except ValueError:
        return None
    (sa, sb), both = subs, set(subs[0]) | set(subs[1])
    if len(set(sa)) < len(sa) or len(set(sb)) < len(sb) or not set(out) <= both:
        return None
    if len(set(out)) < len(out) or not set(sa) <= set(sb) | set(out):
        return None  # (a letter summed within a alone: _einsum1's np.einsum)
    if not set(sb) <= set(sa) | set(out):
        return None
    size = dict(zip(sa, shape_a))
    for c, n in zip(sb, shape_b):
        if size.setdefault(c, n) != n:
            return None  # (broadcast size-1 dims, or a mismatch the general path reports)
    rest = set(out)
    batch = [c for c in sa if c in sb and c in rest]
    summed = [c for c in sa if c in sb and c not in rest]
    fa, fb = [c for c in sa if c not in sb], [c for c in sb if c not in sa]
    nb, m, n, k = (math.prod(size[c] for c in cs) for cs in (batch, fa, fb, summed))
    if m == 1 and n == 1:
        return None  # (_einsum_gemm's batched dot products)

    def perm(sub, to):
        return None if sub == to else tuple(sub.index(c) for c in to)

    prod = "".join(batch + fa + fb)
    return (
        perm(sa, "".join(batch + fa + summed)),
        (nb, m, k),
        perm(sb, "".join(batch + summed + fb)),
        (nb, k, n),
        tuple(size[c] for c in prod),
        perm(prod, out),
    )


def _einsum_sublists(first, rest):
    """torch's sublist form einsum(a, [0, 1], b, [1, 2], [0, 2]) as (equation, operands):
    the ints 0..51 as letters (torch's: 0..25 'A'..'Z', then 'a'..'z', so an output left
    implicit is ordered as torch orders it), Ellipsis as '...'."""
    args = (first, *rest)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

    def sub(sl):
        if not isinstance(sl, list | tuple):
            raise TypeError(f"einsum: the equation must be a string, got {type(first).__name__}")
        out = ""
        for v in sl:
            if v is Ellipsis:
                out += "..."
            elif isinstance(v, int | np.integer) and 0 <= v < 52:
                out += letters[int(v)]
            else:
                raise BadShapeOrValue(f"einsum: sublist entries must be in [0, 52), got {v!r}")
        return out

    ops, subs = args[0:-1:2] if len(args) % 2 else args[0::2], args[1::2]
    eq = ",".join(sub(sl) for sl in subs[: len(ops)])
    return (eq + "->" + sub(args[-1]) if len(args) % 2 else eq), list(ops)


def einsum(equation: str, *operands) -> Tensor:
    """Einstein summation, as torch.einsum ('ij,jk->ik', ellipses and broadcasting of size-1
    dims included)."""
    if not isinstance(equation, str):
        equation, operands = _einsum_sublists(equation, operands)
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = operands[0]
    if len(operands) == 2 and type(operands[0]) is Tensor and type(operands[1]) is Tensor:
        x, y = operands[0].data, operands[1].data
        if (
            (x.dtype is _F32 or x.dtype is _F64)
            and x.dtype is y.dtype
            and _outside_graph(operands[0])
            and _outside_graph(operands[1])
            and (plan := _einsum2_plan(equation, x.shape, y.shape)) is not None
        ):  # the common product of two, planned once per equation and shapes (~2x at 8x8)
            pa, sa, pb, sb, sc, pc = plan
            a3 = (x if pa is None else x.transpose(pa)).reshape(sa)
            b3 = (y if pb is None else y.transpose(pb)).reshape(sb)
            c3 = _mm(a3, b3) if a3.size and b3.size else np.matmul(a3, b3)
            c = c3.reshape(sc)
            return _plain(np.asarray(c if pc is None else c.transpose(pc)))
    ts = [_tensor_operand(o) for o in operands]
    dtypes = list(dict.fromkeys(t.dtype for t in ts))
    if len(dtypes) > 1:  # torch refuses rather than promotes, as matmul does
        raise BadDtype(
            f"einsum: expected operands of one dtype, got {', '.join(map(str, dtypes))} "
            "(as torch: convert with .to())"
        )
    subs, out = _einsum_subscripts(equation, [t.shape for t in ts])
    size = {}
    for sub, t in zip(subs, ts):
        for c, n in zip(sub, t.shape):
            if size.get(c, 1) == 1:
                size[c] = n
            elif n not in (1, size[c]):
                raise BadShapeOrValue(f"einsum: {c!r} has sizes {size[c]} and {n} in {equation!r}")
    # size-1 dims broadcast against the others (np.einsum would refuse them)
    shapes = [tuple(size[c] for c in sub) for sub in subs]
    ts = [t if t.shape == s else expand(t, s) for t, s in zip(ts, shapes)]
    return EinSum.apply(*ts, subs=subs, out=out)


def chain_matmul(*matrices) -> Tensor:
    if len(matrices) == 1:  # PyTorch: one matrix is its own product (multi_dot needs two)
        m = _tensor_operand(matrices[0])
        if m.ndim != 2:
            raise ValueError(f"chain_matmul: expected 2-D tensors, got {m.ndim}-D {m.shape}")
        return m.clone()
    return _linalg.multi_dot(matrices)


def cross(a, b, dim=None) -> Tensor:
    """Cross product of 3-vectors along dim (by default the first dim of size 3, as torch.cross)."""
    a, b = _tensor_operand(a), _tensor_operand(b)
    if dim is None:
        shape = broadcast_shapes(a.shape, b.shape)
        dim = next((d for d, n in enumerate(shape) if n == 3), None)
        if dim is None:
            raise BadShapeOrValue(f"cross: no dim of size 3 in shapes {a.shape} and {b.shape}")
    return _linalg.cross(a, b, dim=dim)


_CDIST_MODES = (None, "use_mm_for_euclid_dist_if_necessary", "use_mm_for_euclid_dist",
                "donot_use_mm_for_euclid_dist")  # fmt: skip


def _plain_euclid(x1, x2, compute_mode):
    """overhead42: cdist's matrix-product distances of two float matrices of one dtype outside
    the graph, the steps below on the arrays straight (~28 -> ~12 us of 32x8 by 24x8: eight
    ops' fronts); the same operations, so the same values. None for any other call."""
    if not (type(x1) is Tensor and type(x2) is Tensor and _outside_graph(x1)):
        return None
    a, b = x1._data, x2._data
    dt = a.dtype
    if (
        not (dt is _F32 or dt is _F64)
        or b.dtype is not dt
        or a.ndim != 2
        or b.ndim != 2
        or a.shape[1] != b.shape[1]
        or not (a.size and b.size)
        or not _outside_graph(x2)
        or not (compute_mode == "use_mm_for_euclid_dist" or a.shape[0] > 25 or b.shape[0] > 25)
    ):
        return None
    sq1 = reduce_sum(a * a, (1,), False)[:, None]
    sq2 = reduce_sum(b * b, (1,), False)[None, :]
    d2 = sq1 + sq2
    d2 -= 2 * _C.gemm(_gemm_operand(a), _gemm_operand(b.T))
    np.maximum(d2, 0, out=d2)  # (clamp's: NaN stays NaN)
    return d2**0.5


def cdist(x1, x2, p: float = 2.0, compute_mode=None) -> Tensor:
    """p-norm distances between the rows of x1 (..., P, M) and x2 (..., R, M) -> (..., P, R).
    Euclidean distances of more than 25 rows go through one matrix product
    (|a|^2 + |b|^2 - 2 a.b, PyTorch's default compute_mode) instead of all the differences."""
    if compute_mode not in _CDIST_MODES:
        raise ValueError(f"cdist: unknown compute_mode {compute_mode!r}")
    if (p == 2 and compute_mode != "donot_use_mm_for_euclid_dist"
            and (y := _plain_euclid(x1, x2, compute_mode)) is not None):  # fmt: skip
        return _plain(y)
    x1, x2 = _float_only("cdist", x1), _float_only("cdist", x2)
    _lowp.refuse("cdist", x1.dtype, x2.dtype)
    if x1.dtype != x2.dtype:  # PyTorch's kernel does not promote
        raise BadDtype(f"cdist: x1 and x2 must share a dtype, got {x1.dtype} and {x2.dtype}")
    if x1.ndim < 2 or x2.ndim < 2 or x1.shape[-1] != x2.shape[-1]:  # (torch: RuntimeErrors)
        raise BadShapeOrValue(
            f"cdist: expected (..., P, M) and (..., R, M), got {x1.shape} and {x2.shape}"
        )
    if p < 0:
        raise BadShapeOrValue(f"cdist: p must be non-negative, got {p}")
    big = x1.shape[-2] > 25 or x2.shape[-2] > 25
    if p == 2 and (
        compute_mode == "use_mm_for_euclid_dist" or (big and compute_mode in _CDIST_MODES[:2])
    ):
        sq1 = unsqueeze(sum(x1 * x1, -1), -1)
        sq2 = unsqueeze(sum(x2 * x2, -1), -2)
        d2 = clamp(sq1 + sq2 - 2 * matmul(x1, transpose(x2, -2, -1)), 0)
        # gradient 0 at distance 0, as PyTorch
        return named(Elementwise.apply(d2, *_root(2)), "CdistBackward0")
    d = unsqueeze(x1, -2) - unsqueeze(x2, -3)
    n = _linalg.vector_norm(d, p, -1)
    if p == 0:  # PyTorch's cdist backward gives the count a zero gradient (its norm's: none)
        count = n.data.copy()
        count[np.isnan(d.data).any(-1)] = np.nan  # (NaN, not counted as differing: PyTorch's)
        n = where(np.ones(n.shape, bool), Tensor(count), sum(d, -1))
    return named(n, "CdistBackward0")


def dist(a, b, p: float = 2) -> Tensor:
    """The p-norm of a - b."""
    _tensors_only("dist", a, b)
    return named(_linalg.vector_norm(sub(a, b), p), "DistBackward0")


def renorm(x, p: float, dim: int, maxnorm: float) -> Tensor:
    """Each slice along dim scaled down to p-norm maxnorm where its norm exceeds it."""
    x = _float_only("renorm", x)
    if x.ndim < 2:
        raise ValueError(f"renorm: input needs at least 2 dimensions, got shape {x.shape}")
    axis = _dim(dim, x.ndim, "renorm")
    if not p > 0:  # (NaN too, as torch)
        raise BadShapeOrValue(f"renorm: non-positive-norm not supported, got p={p}")
    if not maxnorm >= 0:
        raise BadShapeOrValue(f"renorm: expected maxnorm to be >= 0 but got {maxnorm}")
    dims = tuple(d for d in range(x.ndim) if d != axis)
    big = _linalg.vector_norm(x.detach(), p, dims, True).data > maxnorm
    # the norm's gradient only from the slices it scales: a NaN slice (not scaled) keeps g
    norms = _linalg.vector_norm(where(big, x, np.zeros((), x.dtype)), p, dims, True)
    scale = where(big, maxnorm / (norms + 1e-7), np.ones((), x.dtype))
    return x * scale


def matrix_power(A, n: int) -> Tensor:
    return _linalg.matrix_power(A, n)


def det(A) -> Tensor:
    return _linalg.det(A)


def inverse(A) -> Tensor:
    return _linalg.inv(A)


def lu_unpack(LU_data, LU_pivots, unpack_data: bool = True, unpack_pivots: bool = True):  # noqa: N803
    """(P, L, U) from linalg.lu_factor's packed LU and pivots (torch.lu_unpack)."""
    return _linalg.lu_unpack(LU_data, LU_pivots, unpack_data, unpack_pivots)


def slogdet(A):
    return _linalg.slogdet(A)


def logdet(A) -> Tensor:
    """log(det(A)): NaN where det < 0, -inf where it is 0; complex A: log(sign) + log|det|."""
    sign, logabs = _linalg.slogdet(A)
    if sign.dtype.kind == "c":
        return log(sign) + logabs
    return where(sign.data < 0, np.asarray(np.nan, logabs.dtype), logabs)


# ---- more shapes and scatters: block_diag, combinations, trapezoid, put, *_scatter --------


class BlockDiag(Function):
    """block_diag of tensors of <= 2 dims (1-d and 0-d ones as a row): one node, torch's
    BlockDiagBackward0, each input's gradient its block of g (overhead43: the Put chain
    before it cost ~20 us of two recorded 16x16s)."""

    @staticmethod
    def forward(ctx, *xs):
        arrays = [a if a.ndim == 2 else a.reshape(1, -1) for a in xs]
        dtype = arrays[0].dtype  # (one dtype throughout: that dtype, without the promotion)
        if builtins.any([a.dtype != dtype for a in arrays]):
            dtype = _result_type(*xs)  # (torch's: a 0-d tensor ranks lower)
        rows = cols = 0
        for a in arrays:
            rows, cols = rows + a.shape[0], cols + a.shape[1]
        out = np.zeros((rows, cols), dtype)
        r = c = 0
        for a in arrays:
            h, w = a.shape
            out[r : r + h, c : c + w] = a
            r, c = r + h, c + w
        if ctx is not None:
            ctx.meta = [(a.shape, a.dtype) for a in xs]
        return out

    @staticmethod
    def backward(ctx, g):
        grads, r, c = [], 0, 0
        for shape, dtype in ctx.meta:
            h, w = shape if len(shape) == 2 else (1, math.prod(shape))
            grads.append(g[r : r + h, c : c + w].reshape(shape).astype(dtype, copy=False))
            r, c = r + h, c + w
        return tuple(grads)

    @staticmethod
    def backward_graph(ctx, g):
        zeros = [np.zeros(shape, g.dtype) for shape, _ in ctx.meta]

        def fwd(i):  # the forward with input i's direction v, the others zero
            return lambda v: BlockDiag.forward(None, *zeros[:i], np.asarray(v), *zeros[i + 1 :])

        need = ctx.needs_input_grad
        return tuple(
            _graph.linear(ctx, g, fwd(i), i) if need[i] else None for i in range(len(zeros))
        )


def block_diag(*tensors) -> Tensor:
    """The tensors (0-D, 1-D as a row, or 2-D) as blocks along the diagonal of a zero matrix."""
    ts = [_tensor_operand(t) for t in tensors]
    if builtins.any(t.ndim > 2 for t in ts):
        raise BadShapeOrValue(
            f"block_diag: expects tensors of <= 2 dims, got {[t.shape for t in ts]}"
        )
    if not ts:  # PyTorch: block_diag() is (1, 0)
        return Tensor(np.zeros((1, 0), np.float32))
    if builtins.all([_outside_graph(t) for t in ts]):  # (no node: its forward straight)
        return Tensor._make(BlockDiag.forward(None, *[t.data for t in ts]), False, None, 0)
    return BlockDiag.apply(*ts)


def combinations(x, r: int = 2, with_replacement: bool = False) -> Tensor:
    """All length-r combinations of a 1-D tensor's entries, one per row (itertools order)."""
    import itertools

    x = _tensor_operand(x)
    if x.ndim != 1 or r < 0:
        raise BadShapeOrValue(
            f"combinations: expects a 1-D tensor and r >= 0, got {x.shape}, r={r}"
        )
    pick = itertools.combinations_with_replacement if with_replacement else itertools.combinations
    if r == 0:
        return Tensor(np.zeros((0,), x.dtype))
    n = x.shape[0]
    count = math.comb(n + r - 1, r) if with_replacement else math.comb(n, r)
    # fromiter with a count allocates the result first: 4096 choose 3 is a MemoryError at once,
    # not a list of 10^10 tuples growing through all the memory there is
    flat = itertools.chain.from_iterable(pick(range(n), r))
    idx = np.fromiter(flat, np.int64, count * r).reshape(-1, r)
    if not idx.size:
        return Tensor(np.zeros((0, r), x.dtype))
    return getitem(x, idx)


def _trapezoid_parts(op, y, x, dx, dim):
    """The per-interval areas along dim, and that dim as an axis."""
    y = _tensor_operand(y)
    if y.dtype == np.bool_:
        raise TypeError(f"{op}: bool input for y is not supported")
    axis = _dim(dim, y.ndim, op)
    m = builtins.max(y.shape[axis] - 1, 0)
    pair = narrow(y, axis, 0, m) + narrow(y, axis, y.shape[axis] - m, m)
    if x is None:
        return pair * (0.5 * dx), axis
    x = _tensor_operand(x)
    spacing = diff(x, dim=0 if x.ndim == 1 else dim)
    if x.ndim == 1:  # sample points along dim only
        spacing = reshape(spacing, (-1,) + (1,) * (y.ndim - axis - 1))
    return pair * spacing * 0.5, axis


def trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """Integral of y along dim by the trapezoid rule, at sample points x or spacing dx (1)."""
    parts, axis = _trapezoid_parts("trapezoid", y, x, 1.0 if dx is None else dx, dim)
    return sum(parts, axis)


trapz = trapezoid


def cumulative_trapezoid(y, x=None, *, dx=None, dim: int = -1) -> Tensor:
    """Running trapezoid-rule integral along dim (one entry shorter than y)."""
    parts, axis = _trapezoid_parts("cumulative_trapezoid", y, x, 1.0 if dx is None else dx, dim)
    return cumsum(parts, axis)


def vander(x, N=None, increasing: bool = False) -> Tensor:
    """Columns x^(N-1), ..., x^0 (or increasing powers) of a 1-D tensor."""
    x = _tensor_operand(x)
    if x.ndim != 1:
        raise BadShapeOrValue(f"vander: expects a 1-D tensor, got shape {x.shape}")
    N = x.shape[0] if N is None else N
    if N < 0:
        raise BadShapeOrValue(f"vander: N must be non-negative, got {N}")
    x = x.long() if x.dtype == np.bool_ else x
    n = x.shape[0]
    base = cat(
        [
            Tensor(np.ones((n, 1), x.dtype)),
            expand(reshape(x, (-1, 1)), (n, builtins.max(N - 1, 0))),
        ],
        1,
    )
    powers = np.arange(N) if increasing else np.arange(N - 1, -1, -1)
    return getitem(cumprod(base, 1), (slice(None), powers))  # columns 1, x, x^2, ...


def unravel_index(indices, shape) -> tuple:
    """Flat (row-major) indices as a tuple of coordinate tensors (int64)."""
    idx = _int_array(indices, "unravel_index")
    shape = _shape_arg(shape, "unravel_index")
    n = int(np.prod(shape))
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"unravel_index: index out of range for shape {shape}")
    return tuple(
        Tensor(c.astype(np.int64)) for c in np.unravel_index(idx % builtins.max(n, 1), shape)
    )


def put(x, index, source, accumulate: bool = False) -> Tensor:
    """x with source written (or added) at flat ``index``, out of place (torch.put)."""
    x = _tensor_operand(x)
    index = _int_array(index, "put", int32=False)
    source = _same_dtype("put", x, _tensor_operand(source))
    n = x.numel()
    if index.size != source.numel():
        raise ValueError(f"put: {index.size} indices for a source of {source.numel()} elements")
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f"put: index out of range for a tensor of {n} elements")
    key, flat, src = (index.reshape(-1),), reshape(x, (-1,)), reshape(source, (-1,))
    out = AddAt.apply(flat, src, key, 1) if accumulate else Put.apply(flat, src, key)
    return _preserved(reshape(out, x.shape), x.data)


def select_scatter(x, src, dim: int, index: int) -> Tensor:
    """x with src written at index along dim (the dim src lacks)."""
    x = _tensor_operand(x)
    src = _same_dtype("select_scatter", x, _tensor_operand(src))
    axis = _dim(dim, x.ndim, "select_scatter")
    key = (slice(None),) * axis + (operator.index(index),)
    if x.data[key].shape != src.shape:
        raise ValueError(f"select_scatter: src {src.shape} should be {x.data[key].shape}")
    return _preserved(Put.apply(x, src, key), x.data)


def slice_scatter(x, src, dim: int = 0, start=None, end=None, step: int = 1) -> Tensor:
    """x with src written at the slice start:end:step of dim."""
    x = _tensor_operand(x)
    src = _same_dtype("slice_scatter", x, _tensor_operand(src))
    axis = _dim(dim, x.ndim, "slice_scatter")
    key = (slice(None),) * axis + (slice(start, end, step),)
    if x.data[key].shape != src.shape:
        raise ValueError(f"slice_scatter: src {src.shape} should be {x.data[key].shape}")
    return _preserved(Put.apply(x, src, key), x.data)


def _from_cholesky(L, upper: bool) -> Tensor:
    """A = L L^H (or U^H U) from its Cholesky factor."""
    L = _tensor_operand(L)
    return matmul(adjoint(L), L) if upper else matmul(L, adjoint(L))


def _no_cholesky_kernel(op: str, *ts) -> None:
    """torch's LAPACK-backed cholesky ops have no integer, bool or float16/bfloat16 kernel:
    its NotImplementedError ('"cholesky_cpu" not implemented for 'Long'')."""
    for t in ts:
        dt = t.data.dtype
        if dt.kind in "biu" or dt == np.float16 or dt == _lowp.bfloat16:
            raise not_implemented(op, t.dtype, f"shape {t.shape}")


def cholesky_solve(B, L, upper: bool = False) -> Tensor:
    """X with A X = B given A's Cholesky factor L (A = L L^H, or U^H U with upper).

    B is always a batch of matrices (*, n, k), as in torch: its batch is broadcast against
    L's up front so linalg.solve never reads it as a batch of vectors."""
    _bool_args("cholesky_solve", upper=upper)
    B, L = _tensor_operand(B), _tensor_operand(L)
    _no_cholesky_kernel("cholesky_solve", B, L)
    if B.ndim < 2:
        raise RuntimeError(
            f"cholesky_solve: b should have at least 2 dimensions, got shape {B.shape}"
        )
    if L.ndim < 2:
        raise RuntimeError(
            f"cholesky_solve: A should have at least 2 dimensions, got shape {L.shape}"
        )
    if B.shape[-2] != L.shape[-1]:
        raise RuntimeError(
            f"cholesky_solve: incompatible matrix sizes, A is {L.shape[-2]} by {L.shape[-1]} "
            f"but b is {B.shape[-2]} by {B.shape[-1]}"
        )
    batch = _linalg._batch("cholesky_solve", B, L)
    X = _linalg.solve(_from_cholesky(L, upper), B.expand(*batch, *B.shape[-2:]))
    return named(X, "CholeskySolveBackward0")


def cholesky_inverse(L, upper: bool = False) -> Tensor:
    """inv(A) given A's Cholesky factor: only its lower (or, with upper, upper) triangle is
    read, as LAPACK's potri that torch calls."""
    _bool_args("cholesky_inverse", upper=upper)
    L = _tensor_operand(L)
    _no_cholesky_kernel("cholesky_inverse", L)
    tri = triu(L) if upper else tril(L)
    Y = _linalg.inv(_from_cholesky(tri.detach(), upper))  # the value reads one triangle
    if _state.enabled and L.requires_grad:
        # torch's gradient, -(Y (g + g^H) Y) L with all of L (the unread triangle too): that of
        # Y - Y (A - A0) Y at A = A0 = L L^H, whose value is Y
        A = _from_cholesky(L, upper)
        Y = Y - Y @ (A - A.detach()) @ Y
    return named(Y, "CholeskyInverseBackward0")


def index_reduce(x, dim: int, index, source, reduce: str, *, include_self: bool = True):
    """Reduce source's slices into x at index along dim: 'prod', 'mean', 'amax', 'amin'."""
    if reduce not in ("prod", "mean", "amax", "amin"):
        raise ValueError(f"index_reduce: reduce must be prod, mean, amax or amin, got {reduce!r}")
    x, source = _tensor_operand(x), _tensor_operand(source)
    if not x.ndim:  # torch: a 0-d source and one index, read as one entry along a size-1 dim
        _dim(dim, 0, "index_reduce")
        if source.ndim:
            raise BadShapeOrValue(
                f"index_reduce: source shape {source.shape} should be () (self ())"
            )
        if np.size(_data(index)) != 1:
            raise IndexError("index_reduce: a 0-d self takes exactly one index")
        one = index_reduce(
            reshape(x, (1,)), 0, reshape(index, (1,)), reshape(source, (1,)), reduce,
            include_self=include_self,
        )  # fmt: skip
        return reshape(one, ())
    key = _along("index_reduce", x, dim, index, source)
    axis = len(key) - 1
    shape = (1,) * axis + (-1,) + (1,) * (x.ndim - axis - 1)
    full = np.broadcast_to(key[-1].reshape(shape), source.shape)
    return scatter_reduce(x, axis, full, source, reduce, include_self=include_self)


def diagonal_scatter(x, src, offset: int = 0, dim1: int = 0, dim2: int = 1) -> Tensor:
    """x with src written onto the diagonal diagonal(x, offset, dim1, dim2) reads."""
    if (
        type(x) is Tensor
        and type(src) is Tensor
        and type(offset) is int
        and dim1 == 0
        and dim2 == 1
        and type(dim1) is int
        and type(dim2) is int
        and _outside_graph(x)
        and _outside_graph(src)
    ):  # overhead42: a C-contiguous matrix outside the graph, the diagonal written through a
        a, v = x._data, src._data  # strided view of a copy (~14 -> ~3 us of a 32x32)
        if a.ndim == 2 and a.flags.c_contiguous and v.dtype is a.dtype and a.size:
            n, m = a.shape
            k = builtins.max(
                0, builtins.min(n + builtins.min(offset, 0), m - builtins.max(offset, 0))
            )
            if v.shape == (k,) and -_LONG <= offset < _LONG:
                out = a.copy()
                start = offset if offset >= 0 else -offset * m
                out.reshape(-1)[start :: m + 1][:k] = v
                return _plain(out)
    x = _tensor_operand(x)
    src = _same_dtype("diagonal_scatter", x, _tensor_operand(src))
    if x.ndim < 2:
        raise ValueError(f"diagonal_scatter: input must have >= 2 dims, got shape {x.shape}")
    d1, d2 = _two_dims("diagonal_scatter", x.ndim, dim1, dim2)
    want = np.diagonal(x.data, offset, d1, d2).shape
    if src.shape != want:
        raise BadShapeOrValue(f"diagonal_scatter: src {src.shape} should be {want}")  # (torch: RE)
    moved = movedim(x, (d1, d2), (-2, -1))
    rows, cols = _diag_rows_cols(x.shape[d1], x.shape[d2], int(offset))
    out = movedim(Put.apply(moved, src, (Ellipsis, rows, cols)), (-2, -1), (d1, d2))
    return _preserved(out, x.data)


class NarrowCopy(Function):
    """narrow_copy in the graph: one node, torch's NarrowCopyBackward0 (not a clone of a
    slice's view); the gradient is g in the slice's place, zeros elsewhere."""

    @staticmethod
    def forward(ctx, x, key):
        ctx.meta = (x.shape, key)
        return np.array(x[key], order="C")  # (torch's: C order whatever x's layout)

    @staticmethod
    def backward(ctx, g):
        shape, key = ctx.meta
        out = np.zeros(shape, g.dtype)
        out[key] = g
        return out, None

    @staticmethod
    def backward_graph(ctx, g):
        key = ctx.meta[1]
        return _graph.linear(ctx, g, lambda v: np.asarray(v)[key]), None


def narrow_copy(x, dim: int, start, length: int) -> Tensor:
    if type(x) is Tensor and type(dim) is int and type(start) is int and type(length) is int:
        a = x.data  # overhead43: Python ints in range, narrow's checks made here (~2.8 -> ~1.6
        nd = a.ndim  # us of a 32x32 outside the graph)
        if nd and -nd <= dim < nd:
            axis = dim % nd
            n = a.shape[axis]
            s = start + n if -n <= start < 0 else start
            if 0 <= s and 0 <= length and s + length <= n:
                key = (_ALL,) * axis + (slice(s, s + length),)
                if _outside_graph(x):
                    return _plain(np.array(a[key], order="C"))
                return NarrowCopy.apply(x, key)
    y = narrow(x, dim, start, length)
    if type(y) is Tensor and not y._requires_grad:  # (overhead42: clone's steps, ~1 us)
        return _plain(np.array(y._data, order="C"))  # (torch's: C order whatever x's layout)
    x = _tensor_operand(x)  # (the arguments narrow took, as their slice)
    axis = _dim(dim, x.ndim, "narrow_copy")
    s, n = operator.index(start), x.shape[axis]
    s += n if s < 0 else 0
    return NarrowCopy.apply(x, (_ALL,) * axis + (slice(s, s + operator.index(length)),))


def nonzero_static(x, *, size: int, fill_value: int = -1) -> Tensor:
    """nonzero padded with fill_value (or cut) to exactly ``size`` rows."""
    idx = nonzero(x).data[:size]
    pad = np.full((size - idx.shape[0], idx.shape[1]), fill_value, np.int64)
    return Tensor(np.concatenate([idx, pad]))


Histogram = namedtuple("Histogram", ["hist", "bin_edges"])


def histogram(x, bins=100, *, range=None, weight=None, density: bool = False) -> Histogram:  # noqa: A002
    """Counts (or weighted sums, or a density) in bins: a count or the edges (torch.histogram)."""
    a = np.asarray(_data(x))
    if not _lowp.is_float(a.dtype):
        raise BadDtype(f"histogram: expected a floating point tensor, got {a.dtype}")
    edges = _data(bins) if isinstance(bins, Tensor) else bins
    if a.dtype.itemsize == 2 and range is None and a.size and np.ndim(edges) == 0:
        # torch finds a 16-bit input's range with a kernel it lacks (edges or a range work)
        raise not_implemented("histogram", a.dtype, "give range=(min, max) or the bin edges")
    w = None if weight is None else np.asarray(_data(weight))
    hist, out_edges = np.histogram(a, edges, range, density=density, weights=w)
    return Histogram(Tensor(hist.astype(a.dtype)), Tensor(out_edges.astype(a.dtype)))


HistogramDD = namedtuple("histogramdd", ["hist", "bin_edges"])


def histogramdd(input, bins=10, *, range=None, weight=None, density: bool = False):  # noqa: A002
    """Counts of the N points of ``input`` (N, D) in a D-dimensional grid of bins
    (torch.histogramdd): (hist, [edges along each dim])."""
    a = np.asarray(_data(input))
    if not _lowp.is_float(a.dtype):
        raise BadDtype(f"histogramdd: expected a floating point tensor, got {a.dtype}")
    if a.ndim < 1:
        raise BadShapeOrValue(f"histogramdd: input must have at least one dim, got shape {a.shape}")
    points = a.reshape(-1, a.shape[-1])
    if isinstance(bins, list | tuple) and bins and isinstance(bins[0], Tensor):
        bins = [np.asarray(_data(b)) for b in bins]
    if range is not None:  # torch's flat (min0, max0, min1, max1, ...)
        range = [tuple(range[i : i + 2]) for i in builtins.range(0, len(range), 2)]  # noqa: A001
    w = None if weight is None else np.asarray(_data(weight)).reshape(-1)
    hist, edges = np.histogramdd(points, bins, range, density=density, weights=w)
    return HistogramDD(Tensor(hist.astype(a.dtype)), [Tensor(e.astype(a.dtype)) for e in edges])


def gradient(input, *, spacing=1, dim=None, edge_order: int = 1) -> tuple:  # noqa: A002
    """Estimates of d(input)/d(coordinate) along each of ``dim`` by central differences
    inside and one-sided ones of ``edge_order`` (1 or 2) at the ends, as torch.gradient
    (and numpy.gradient); ``spacing``: one step for all dims, one per dim, or 1-D coordinate
    tensors. Differentiable in input."""
    x = _float_operand(input, "gradient")
    if edge_order not in (1, 2):
        raise ValueError(
            f"torch.gradient only supports edge_order=1 and edge_order=2, got {edge_order}"
        )
    dims = builtins.range(x.ndim) if dim is None else ([dim] if isinstance(dim, int) else dim)
    dims = [_dim(d, x.ndim, "gradient") for d in dims]
    if len(set(dims)) != len(dims):
        raise ValueError(f"torch.gradient: a dim appears multiple times in {dim}")
    spacing = 1 if spacing is None else spacing  # (torch's default, passed explicitly)
    steps = list(spacing) if isinstance(spacing, list | tuple) else [spacing] * len(dims)
    if len(steps) != len(dims):
        raise BadShapeOrValue(
            f"torch.gradient expected spacing to be unspecified, a scalar or it's spacing and dim "
            f"arguments to have the same length, but got a spacing argument of length "
            f"{len(steps)} and a dim argument of length {len(dims)}."
        )
    out = []
    for d, step in zip(dims, steps):
        n = x.shape[d]
        if n < edge_order + 1:
            raise ValueError(
                f"torch.gradient expected each dimension size to be at least edge_order+1, "
                f"got size {n} along dim {d}"
            )
        coords = (
            np.asarray(_data(step), np.float64)
            if isinstance(step, Tensor)
            else np.arange(n, dtype=np.float64) * float(step)
        )
        if coords.shape != (n,):
            raise ValueError(
                f"gradient: coordinates of shape {coords.shape} along a dim of size {n}"
            )
        out.append(_gradient_along(x, d, coords, edge_order))
    return tuple(out)


def _gradient_along(x: Tensor, d: int, c: np.ndarray, edge_order: int) -> Tensor:
    """Second-order accurate differences for non-uniform coordinates c (numpy.gradient's)."""
    n = x.shape[d]

    def part(start, length):
        return narrow(x, d, start, length)

    def coef(v):  # per-position coefficients broadcast along dim d
        return Tensor(np.asarray(v, x.dtype).reshape((-1,) + (1,) * (x.ndim - d - 1)))

    pieces = []
    h = np.diff(c)
    if edge_order == 1:
        pieces.append((part(1, 1) - part(0, 1)) / float(h[0]))
    else:
        a, b = h[0], h[1]
        pieces.append(
            part(0, 1) * float(-(2 * a + b) / (a * (a + b)))
            + part(1, 1) * float((a + b) / (a * b))
            + part(2, 1) * float(-a / (b * (a + b)))
        )
    if n > 2:
        hl, hr = h[:-1], h[1:]
        pieces.append(
            part(0, n - 2) * coef(-hr / (hl * (hl + hr)))
            + part(1, n - 2) * coef((hr - hl) / (hl * hr))
            + part(2, n - 2) * coef(hl / (hr * (hl + hr)))
        )
    if edge_order == 1:
        pieces.append((part(n - 1, 1) - part(n - 2, 1)) / float(h[-1]))
    else:
        a, b = h[-2], h[-1]
        pieces.append(
            part(n - 3, 1) * float(b / (a * (a + b)))
            + part(n - 2, 1) * float(-(a + b) / (a * b))
            + part(n - 1, 1) * float((2 * b + a) / (b * (a + b)))
        )
    return cat(pieces, d)


real, imag, conj = _complex.real, _complex.imag, _complex.conj
conj_physical = conj


def resolve_conj(input) -> Tensor:  # noqa: A002
    """The tensor itself: ember conjugates at once, so no lazy conjugate is left to resolve."""
    return _tensor_operand(input)


resolve_neg = resolve_conj


def is_conj(input) -> bool:  # noqa: A002
    return False  # ember's conj() is conj_physical (see ember/_complex.py)


def is_neg(input) -> bool:  # noqa: A002
    return False


def fill(input, value) -> Tensor:  # noqa: A002
    """A new tensor of input's shape and dtype filled with value (torch.fill)."""
    x = _tensor_operand(input)
    return Tensor(np.full(x.shape, _data(value), x.dtype))


def detach(input) -> Tensor:  # noqa: A002
    return _tensor_operand(input).detach()


igamma, igammac = gammainc, gammaincc


def matrix_exp(A) -> Tensor:
    return _linalg.matrix_exp(A)


def cholesky(A, upper: bool = False) -> Tensor:
    """torch.cholesky (the older name of linalg.cholesky)."""
    _no_cholesky_kernel("cholesky", _tensor_operand(A))
    return named(_linalg.cholesky(A, upper=upper), "CholeskyBackward0")


def qr(A, some: bool = True):
    """torch.qr: (Q, R), reduced unless some=False."""
    return _linalg.qr(A, "reduced" if some else "complete")


SVDResult = namedtuple("SVDResult", ["U", "S", "V"])


def svd(A, some: bool = True, compute_uv: bool = True) -> SVDResult:
    """torch.svd: (U, S, V) with A = U diag(S) V^H (V, not linalg.svd's Vh); without
    compute_uv, U and V are zeros of the full shapes (m, m) and (n, n), whatever ``some``, as
    torch's."""
    if not compute_uv:
        S = _linalg.svdvals(A)
        A = _tensor_operand(A)
        *batch, m, n = A.shape
        zeros = [Tensor(np.zeros((*batch, d, d), A.dtype)) for d in (m, n)]
        return SVDResult(zeros[0], S, zeros[1])
    U, S, Vh = _linalg.svd(A, full_matrices=not some)
    return SVDResult(U, S, adjoint(Vh))


def frobenius_norm(x, dim, keepdim: bool = False) -> Tensor:
    return norm(x, 2, dim, keepdim)


def pinverse(x, rcond: float = 1e-15) -> Tensor:
    return _linalg.pinv(x, rtol=rcond)


def _view_in_place(name: str, op):
    """x.t_(), x.squeeze_(0), ...: x itself takes the new view of its data (outside the graph,
    as the other named in-place methods)."""

    def method(x: Tensor, *args, **kwargs) -> Tensor:
        x._needs_record(None, rebind=False)
        x.data = op(x, *args, **kwargs).data
        return x

    method.__name__ = name
    method.__doc__ = f"In-place {op.__name__}: x becomes the view."
    return method


t_ = _view_in_place("t_", t)
transpose_ = _view_in_place("transpose_", transpose)
swapaxes_ = _view_in_place("swapaxes_", swapaxes)
swapdims_ = _view_in_place("swapdims_", swapdims)
squeeze_ = _view_in_place("squeeze_", squeeze)
unsqueeze_ = _view_in_place("unsqueeze_", unsqueeze)


def adjoint(x, _name="adjoint()") -> Tensor:
    """The conjugate transpose of the last two dims (the transpose for real tensors)."""
    if np.ndim(_data(x)) < 2:  # (torch: a 0-D tensor's own conj, deprecated; 1-D refused)
        up = 3 if _name == "adjoint()" else 4  # (the warning at the user's line: mH's lambda)
        return conj(below_matrices(x, _name, "Consider using x.conj().", up))
    return conj(transpose(x, -2, -1))


def below_matrices(x, name: str, advice: str, stacklevel: int = 3) -> Tensor:
    """mT / mH / adjoint of fewer than 2 dims, as torch: a 0-D tensor itself with torch's
    deprecation warning, a 1-D one refused in torch's words."""
    if x.ndim == 0:
        warnings.warn(
            f"{name} is deprecated on 0-D tensors. {advice}", UserWarning, stacklevel=stacklevel
        )
        return x
    raise BadShapeOrValue(
        f"tensor.{name.removeprefix('Tensor.')} is only supported on matrices or batches of "
        f"matrices. Got {x.ndim}-D tensor."
    )


_index_copy_copy = _in_place("index_copy_", index_copy, no_overlap=True)


def index_copy_(x: Tensor, dim: int, index, source) -> Tensor:
    """In-place index_copy (outside the autograd graph, as tensor.py's). speed28: a plain x and
    source outside autograd take source's slices into x's array directly (a 32x32 call ~15 ->
    ~6 us, torch ~2): the out-of-place path copied x, built a Put node and copied back. The
    same checks in the same order and the same NumPy assignment (the last repeat wins)."""
    if (
        type(x) is Tensor
        and type(source) is Tensor
        and not (x._requires_grad or source._requires_grad)
        and x._ctx is None  # (with the tests above: _needs_record's refusals cannot apply)
        and x.data.flags.writeable
    ):
        _refuse_overlap("index_copy_", x, (index, source))
        if source.data.dtype is not x.data.dtype:
            _same_dtype("index_copy", x, source)
        # overhead37: the slices copied by _C.index_copy (~3 us of NumPy's fancy assignment
        # and _along's checks less)
        if _index_copy_into(x.data, source.data, index, dim):
            return x
        key = _along("index_copy", x, dim, index, source)
        x.data[key] = source.data
        return x
    return _index_copy_copy(x, dim, index, source)


_index_fill_copy = _in_place("index_fill_", index_fill)


def index_fill_(x: Tensor, dim: int, index, value) -> Tensor:
    """In-place index_fill (outside the autograd graph, as tensor.py's). overhead39: a plain
    writeable x outside autograd and a number: the value written into x's array at _along's key
    (the same checks; a 32x32 call ~17 -> ~5 us: the general path copied x, built a Put node
    with its np.unique of the index, and copied back)."""
    if (
        type(x) is Tensor
        and (type(value) is float or type(value) is int)
        and not x._requires_grad
        and x._ctx is None  # (with the test above: _needs_record's refusals cannot apply)
        and x.data.flags.writeable
    ):
        d = x.data
        _fill_index(index)
        key = _along("index_fill", x, dim, index)
        if (d.dtype is _F32 or d.dtype is _F64) and -_F32_MAX <= value <= _F32_MAX:
            d[key] = value  # (a finite number either float dtype holds: nothing to check)
        else:
            d[key] = _fill_value(value, d.dtype)
        return x
    d = x.data
    if not d.flags.writeable and x._ctx is None and not x._requires_grad:
        from ember.tensor import _writeable_alias  # (a rare path)

        alias = _writeable_alias(d)
        if alias is not None and any(st == 0 and n > 1 for n, st in zip(d.shape, d.strides)):
            # torch writes an expand()ed tensor's memory (every element at a filled place gets
            # the value, so the order does not matter), with its deprecation warning
            out = index_fill(x, dim, index, value)
            key = _along("index_fill", x, dim, index)
            warnings.warn(
                "Use of index_fill_ on expanded tensors is deprecated. Please clone() the "
                "tensor before performing this operation.",
                UserWarning,
                stacklevel=2,
            )
            alias[key] = out.data[key]
            x.data = alias
            return x
    return _index_fill_copy(x, dim, index, value)


index_reduce_ = _in_place("index_reduce_", index_reduce)
_masked_scatter_copy = _in_place("masked_scatter_", masked_scatter)


def masked_scatter_(x: Tensor, mask, source) -> Tensor:
    """In-place masked_scatter: the mask broadcasts to x's shape, never x to the mask's."""
    shape = np.shape(_data(mask))
    try:
        grows = np.broadcast_shapes(x.shape, shape) != x.shape
    except ValueError:
        grows = True
    if grows:
        raise RuntimeError(f"masked_scatter_: mask {shape} does not broadcast to self {x.shape}")
    return _masked_scatter_copy(x, mask, source)


scatter_reduce_ = _in_place("scatter_reduce_", scatter_reduce, no_overlap=True)
put_ = _in_place("put_", put, no_overlap=True)
addmm_ = _in_place("addmm_", addmm)
addmv_ = _in_place("addmv_", addmv)
addbmm_ = _in_place("addbmm_", addbmm)
baddbmm_ = _in_place("baddbmm_", baddbmm)
addr_ = _in_place("addr_", addr)
renorm_ = _in_place("renorm_", renorm)
cumprod_ = _in_place("cumprod_", cumprod)
cumsum_ = _in_place("cumsum_", cumsum)
tril_ = _in_place("tril_", tril)
triu_ = _in_place("triu_", triu)


# The extras are Tensor methods too (x.sin(), x.norm(dim=1), x.topk(3), ...): each takes the
# tensor as its first argument, so the function itself is the method.
_EXTRAS = (
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
    "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "isclose",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
    "bitwise_right_shift", "gcd", "lcm", "frexp", "allclose", "equal",
    "isneginf", "isposinf", "isreal", "signbit", "fmax", "fmin", "maximum", "minimum",
    "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "fmod",
    "negative", "positive", "float_power", "clamp_min", "clamp_max", "erf", "erfc", "erfinv",
    "lgamma", "digamma", "i0", "sinc", "logit", "xlogy", "atan2", "arctan2", "hypot",
    "logaddexp", "logaddexp2", "copysign", "heaviside", "exp2", "frac", "fix", "sgn", "deg2rad",
    "rad2deg", "nan_to_num", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan",
    "arcsinh", "arccosh", "arctanh", "absolute", "ldexp", "lerp", "addcmul", "addcdiv",
    "nextafter", "mvlgamma", "angle",
    "sin", "cos", "tan", "log1p", "expm1", "log2", "log10", "rsqrt", "reciprocal", "square",
    "sinh", "cosh", "asin", "acos", "atan", "sign", "floor", "ceil", "trunc", "round",
    "logsumexp", "prod", "cumsum", "norm", "tril", "triu", "flip", "index_select", "unbind",
    "sort", "argsort", "topk", "mm", "bmm", "isnan", "isinf", "isfinite", "all", "any",
    "broadcast_to", "movedim", "moveaxis", "swapaxes", "swapdims", "narrow", "select", "ravel",
    "unflatten", "unfold", "tile", "roll", "rot90", "fliplr", "flipud", "repeat_interleave",
    "tensor_split", "hsplit", "vsplit", "dsplit", "split_with_sizes",
    "take", "take_along_dim", "masked_select", "masked_scatter", "scatter", "scatter_",
    "scatter_add", "scatter_add_", "scatter_reduce", "index_add", "index_add_", "index_fill",
    "index_copy", "index_put", "nonzero", "argwhere", "count_nonzero", "diag", "diagonal",
    "diag_embed", "diagflat", "trace", "fill_diagonal_", "unique", "unique_consecutive",
    "bincount", "histc",
    "amax", "amin", "aminmax", "nansum", "nanmean", "median", "nanmedian", "mode", "kthvalue",
    "quantile", "nanquantile", "cummax", "cummin", "cumprod", "logcumsumexp", "diff", "msort",
    "cov", "corrcoef",
    "dot", "vdot", "inner", "outer", "ger", "mv", "addmm", "addmv", "addbmm", "baddbmm", "addr",
    "kron", "cross", "dist", "renorm", "matrix_power", "det", "inverse", "logdet", "slogdet",
    "put", "select_scatter", "slice_scatter", "pinverse", "index_copy_", "index_fill_",
    "masked_scatter_", "scatter_reduce_", "put_", "addmm_", "addmv_", "addbmm_", "baddbmm_",
    "addr_", "renorm_", "cumprod_", "cholesky_solve", "cholesky_inverse", "index_reduce",
    "index_reduce_", "diagonal_scatter", "narrow_copy", "nonzero_static",
    "histogram", "t_", "transpose_", "swapaxes_", "swapdims_", "squeeze_", "unsqueeze_",
    "adjoint", "matrix_exp", "cholesky", "qr", "svd", "cumsum_", "tril_", "triu_", "as_strided",
    "conj", "resolve_conj", "resolve_neg", "conj_physical", "is_conj", "is_neg", "igamma",
    "igammac",
)  # fmt: skip


def _complex_logaddexp(a, b):
    """torch's complex logaddexp: the operand of larger real part plus log1p(exp(other - it))."""
    first = (_complex.real(a) >= _complex.real(_tensor_operand(b))).detach()
    hi, lo = where(first, a, b), where(first, b, a)
    return named(add(hi, log1p(exp(sub(lo, hi)))), "LogaddexpBackward0")


def _complex_logsumexp(fn, x, dim, keepdim=False):
    """torch's: log(sum(exp(x - m))) + m, m the (real) max of x's real parts (0 where infinite)."""
    axes = _axes(dim, x.ndim, "logsumexp")
    m = amax(_complex.real(x), axes, keepdim=True).detach()
    m = where(isinf(m), 0.0, m)
    y = add(log(sum(exp(sub(x, m)), axes, keepdim=True)), m)
    return y if keepdim else squeeze(y, axes)


def _complex_logcumsumexp(fn, x, dim):
    """torch's scan: y[0] = x[0], y[i] = logaddexp(y[i - 1], x[i]) along dim (its branch of the
    log, as torch's; a Python loop of ops: complex input only)."""
    if x.ndim == 0:
        return getitem(x, ...)
    axis = _dim(dim, x.ndim, "logcumsumexp")
    if x.shape[axis] == 0:
        return clone(x)
    parts = unbind(x, axis)
    out = [parts[0]]
    for p in parts[1:]:
        # (the new entry first: on a tie of real parts torch's scan takes it as the larger)
        out.append(_complex_logaddexp(p, out[-1]))
    return stack(out, axis)


def _complex_sinc(fn, x):
    """sin(pi x) / (pi x), 1 at 0 (torch's complex sinc)."""
    zero = (x == 0).detach()
    px = mul(where(zero, 1.0, x), float(np.pi))
    return where(zero, 1.0 + 0j, div(sin(px), px)).to(x.dtype)


def _complex_exp2_grad(x, y):  # (complex exp2 by np.exp2: C99's values, as torch's, where
    return y * _LN2  # exp(x ln 2) gives inf+NaNj at inf+0j)


_complex_exp2_grad.graph = _complex_exp2_grad  # (its double backward: y ln 2 again)


# complex input to ops real-only otherwise: torch's forms (fn: the real op)
_COMPLEX_FORMS = {
    "cumprod": lambda fn, x, *args, **kwargs: fn(x, *args, **kwargs),  # (its own node's)
    "exp2": lambda fn, x: Elementwise.apply(x, np.exp2, _complex_exp2_grad),
    "sinc": _complex_sinc,
    "logaddexp": lambda fn, a, b: _complex_logaddexp(_tensor_operand(a), b),
    "logsumexp": _complex_logsumexp,
    "logcumsumexp": _complex_logcumsumexp,
    "cummax": lambda fn, x, *args, **kwargs: _unordered_complex(fn, x, *args, **kwargs),
    "cummin": lambda fn, x, *args, **kwargs: _unordered_complex(fn, x, *args, **kwargs),
}


def _unordered_complex(fn, x, *args, **kwargs):
    """cummax/cummin of a complex tensor with nothing to order, 0-d or empty: torch takes it
    (and refuses any other complex tensor)."""
    x = _tensor_operand(x)
    if x.ndim and x.data.size:
        _complex.refuse(fn.__name__, x.data)
    return fn(x, *args, **kwargs)


def _real_only(fn):
    """fn, refusing complex input (orderings, and reductions not defined for complex here)."""

    @functools.wraps(fn)
    def op(input, *args, **kwargs):  # noqa: A002 (torch's name, which input= gives)
        if type(input) is not Tensor or input.data.dtype.kind == "c":  # (a real Tensor: no refusal)
            form = _COMPLEX_FORMS.get(fn.__name__)
            if form is not None and _kind(input) == "c":  # (torch's complex form)
                return form(fn, input, *args, **kwargs)
            _no_kernel(fn.__name__, _data(input))
        return fn(input, *args, **kwargs) if kwargs else fn(input, *args)

    return op


for _name in (
    "sort", "argsort", "topk", "msort", "median", "nanmedian", "kthvalue", "amax", "amin",
    "aminmax", "cummax", "cummin", "logsumexp",
    "cumprod", "nansum", "nanmean", "quantile", "nanquantile", "mode", "unique",
    "histc", "histogram", "fmax", "fmin", "logcumsumexp", "logaddexp", "logaddexp2", "hypot",
    "atan2", "arctan2", "copysign", "remainder", "fmod", "floor_divide", "heaviside", "xlogy",
):  # fmt: skip
    if _name in globals() and not getattr(globals()[_name], "_real_only", False):
        globals()[_name] = _real_only(globals()[_name])
for _name in _EXTRAS:
    setattr(Tensor, _name, globals()[_name])


def _varargs_dims(fn):
    """PyTorch's methods also take the dims as varargs: x.flip(1, 2), x.tile(2, 1)."""

    def method(self, *dims, **kwargs):
        if not dims:
            return fn(self, **kwargs)
        one = len(dims) == 1 and isinstance(dims[0], list | tuple)  # x.flip((1, 2))
        return fn(self, dims[0] if one else dims, **kwargs)

    method.__name__, method.__doc__ = fn.__name__, fn.__doc__
    return method


def unsafe_chunk(x, chunks: int, dim: int = 0) -> tuple:
    """chunk whose pieces autograd does not treat as views (see UnsafeSplit)."""
    return chunk(x, chunks, dim, UnsafeSplit)


def unsafe_split(x, split_size, dim: int = 0) -> tuple:
    return split(x, split_size, dim, _unsafe=True)


def unsafe_split_with_sizes(x, split_sizes, dim: int = 0) -> tuple:
    return split(x, list(split_sizes), dim, _unsafe=True)


_TriangularSolve = namedtuple("triangular_solve", ["solution", "cloned_coefficient"])


def triangular_solve(b, A, upper: bool = True, transpose: bool = False, unitriangular=False):
    """torch.triangular_solve (torch's older spelling of linalg.solve_triangular): X with
    A X = b (A^T X = b with ``transpose``, no conjugate, as torch), and a copy of A."""
    _bool_args("triangular_solve", upper=upper, transpose=transpose, unitriangular=unitriangular)
    coefficient = A.mT if transpose else A
    x = _linalg.solve_triangular(
        coefficient, b, upper=upper != bool(transpose), unitriangular=unitriangular
    )
    # (the copy of A is broadcast to the solution's batch, as torch's)
    return _TriangularSolve(x, clone(A.expand(*x.shape[:-2], *A.shape[-2:])))


def _as_strided_(x, size, stride, storage_offset=None) -> Tensor:
    """x becomes as_strided(x, ...), a view of its own elements (in the graph: _inplace.py)."""
    x.data = as_strided(x.detach(), size, stride, storage_offset).data
    return x


for _name in ("unsafe_chunk", "unsafe_split", "unsafe_split_with_sizes", "triangular_solve"):
    setattr(Tensor, _name, globals()[_name])
Tensor.as_strided_ = _as_strided_
Tensor.flip = _varargs_dims(flip)


def _count_nonzero_method(self, dim=None):
    # (torch's method takes a one-element integer tensor as the dim; its function does not)
    return count_nonzero(self, _list_dim(dim, "count_nonzero") if type(dim) is Tensor else dim)


_count_nonzero_method.__name__ = "count_nonzero"
_count_nonzero_method.__doc__ = count_nonzero.__doc__
Tensor.count_nonzero = _count_nonzero_method
Tensor.tile = _varargs_dims(tile)
# index_put_ (module level) is __setitem__'s graph helper; the method is PyTorch's
_index_put_copy = _in_place("index_put_", index_put, no_overlap=True)


def _index_put_method(x, indices, values, accumulate=False):
    """x.index_put_((i,), v): overhead41, a plain 2-D float x and v outside autograd with one
    1-D int64 index take the rows straight (accumulate: index_add_rows' kernel, in index order;
    else NumPy's assignment), not index_put's copy of x and _assign's copy back (~15 us of a
    32x32 call, torch ~2). Anything else, and a bad index (its words), the general path."""
    if (
        type(x) is Tensor
        and type(values) is Tensor
        and type(indices) is tuple
        and len(indices) == 1
        and type(indices[0]) is Tensor
        and not (x._requires_grad or values._requires_grad)
        and x._ctx is None
        and (accumulate is True or accumulate is False)
    ):
        d, v, i = x._data, values._data, indices[0]._data
        if (
            d.ndim == 2
            and (d.dtype is _F32 or d.dtype is _F64)
            and v.dtype is d.dtype
            and i.dtype is _I64
            and i.ndim == 1
            and i.size
            and d.flags.c_contiguous
            and d.flags.writeable
            and v.shape in ((i.size, d.shape[1]), (d.shape[1],))
        ):
            _refuse_overlap("index_put_", x, (values,))
            try:
                if accumulate:
                    rows = np.ascontiguousarray(np.broadcast_to(v, (i.size, d.shape[1])))
                    _C.index_add_rows(d, np.ascontiguousarray(i), rows)
                else:
                    d[i] = v
            except IndexError:  # (a negative index, or out of range: the general path)
                pass
            else:
                return x
    return _index_put_copy(x, indices, values, accumulate)


Tensor.index_put_ = _index_put_method
Tensor.mH = property(
    lambda x: adjoint(x, "Tensor.mH")
)  # real tensors: the conjugate transpose is the transpose


def _h(x) -> Tensor:
    if x.ndim not in (0, 2):  # (torch's RuntimeError; a 0-d tensor is its own transpose)
        raise BadShapeOrValue(
            f"tensor.H is only supported on matrices (2-D tensors). Got {x.ndim}-D tensor."
        )
    return conj(transpose(x, 0, 1) if x.ndim == 2 else x)


Tensor.H = property(_h)

from ember import linalg as _linalg  # noqa: E402  (linalg builds on these ops)
