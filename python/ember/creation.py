"""Tensor factories with PyTorch's names and defaults (the default dtype, float32 unless set)."""

from __future__ import annotations

import functools
import inspect
import math
import numbers
import operator

import ml_dtypes
import numpy as np

from ember import _C, _complex, _device, _layout, _lowp, _strides, random
from ember import ops as _ops
from ember._errors import BadDtype, BadShapeOrValue, not_implemented
from ember.random import rng
from ember.tensor import Tensor, _as_array, _leaf_types, _plain, get_default_dtype


def _size(shape, op: str) -> tuple:
    if type(shape) is tuple:  # zeros(32, 128): the checks below pass it unchanged
        for s in shape:  # (a loop: all() of a generator cost ~0.4 us of a ~2 us zeros)
            if type(s) is not int or s < 0:
                break
        else:
            if shape:
                return shape
            # zeros() with no size at all: torch's TypeError (zeros(()) is the 0-d tensor)
            raise TypeError(f'{op}() missing 1 required positional arguments: "size"')
    if len(shape) == 1 and isinstance(shape[0], tuple | list):
        shape = tuple(shape[0])
    try:
        if shape and type(shape[0]) is bool:  # (torch refuses a bool first size, takes others)
            raise TypeError
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: sizes must be ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise BadShapeOrValue(f"{op}: negative dimension in size {shape}")
    return shape


def _takes_device(fn):
    """PyTorch's factories take ``device=`` (ember's accept the CPU or None and refuse others),
    ``layout=`` (strided), ``pin_memory=`` (nothing to pin without a GPU), and the sizes as
    ``size=`` where they are ``*size`` (``torch.randn(size=(2, 3))``)."""
    first = next(iter(inspect.signature(fn).parameters.values()), None)
    sizes = first is not None and first.kind is first.VAR_POSITIONAL and first.name == "size"
    # torch.empty and the *_like factories also take memory_format= (the new tensor's strides)
    like = fn.__name__.endswith("_like")
    formats = like or fn.__name__ == "empty"

    @functools.wraps(fn)
    def factory(*args, device=None, layout=None, pin_memory=False, **kwargs):
        if layout is not None:
            _layout.check_layout(layout, fn.__name__)
        if kwargs.get("requires_grad") is None:  # (torch's factories read None as False)
            kwargs.pop("requires_grad", None)
        elif type(kwargs["requires_grad"]) is not bool:  # (but refuse 1, "x", tensors)
            rg = type(kwargs["requires_grad"]).__name__
            raise TypeError(f"{fn.__name__}(): argument 'requires_grad' must be bool, not {rg}")
        if sizes and "size" in kwargs:
            if args:
                raise TypeError(f"{fn.__name__}() got multiple values for argument 'size'")
            args = (kwargs.pop("size"),)
        fmt = kwargs.pop("memory_format", None) if formats else None
        meta = _device.meta_by_default() if device is None else _device.is_meta_device(device)
        if meta:  # (made, then dropped)
            return fn(*args, **kwargs).to("meta")
        out = fn(*args, **kwargs)
        if not formats:
            return out
        src = args[0] if args else kwargs.get("input")
        if fmt is None:  # the *_like default, preserve_format: a strided input's layout
            if not like or type(src) is not Tensor:
                return out
            d = src.data  # (a fresh array under 4-d: C-contiguous, see ops._laid; cheapest first)
            if d.base is None and d.ndim < 4:
                return out
            if d.flags.c_contiguous:  # (a view's size-1 dims may have other strides: kept)
                if d.base is not None and out.data.shape == d.shape:
                    out.data = _strides.keep_size1(out.data, d)
                return out
            fmt = _layout.preserve_format
        return _laid_out(out, fmt, src)

    return factory


def _laid_out(out: Tensor, fmt, like) -> Tensor:
    """A fresh factory result in memory format ``fmt``; preserve_format (the *_like default)
    follows ``like``'s layout as torch's empty_like: a dense input's strides (permuted,
    channels_last), else dense strides in its dim order (_strides.preserved)."""
    if fmt is _layout.preserve_format:
        like = like.data if isinstance(like, Tensor) else like
        if not isinstance(like, np.ndarray) or like.flags.c_contiguous:
            return out
        if out.data.shape != like.shape:
            return out
        laid = _strides.empty(like.shape, _strides.preserved(like), out.data.dtype)
        np.copyto(laid, out.data)
        out.data = laid
        return out
    out.data = _layout.relayout(out.data, fmt)
    return out


def _new(data: np.ndarray, requires_grad: bool) -> Tensor:
    """Tensor(data, requires_grad=...) for a factory's fresh array: one of ember's dtypes in
    native order skips the constructor's conversions (~1 us); others get its checks."""
    if data.dtype.kind not in "biuf" or not data.dtype.isnative:
        return Tensor(data, requires_grad=requires_grad)
    t = Tensor._make(data, False, None, 0)
    if requires_grad:
        t.requires_grad = True
    return t


def _dtype(dtype) -> np.dtype:
    return get_default_dtype() if dtype is None else np.dtype(dtype)


@_takes_device
def tensor(data, dtype=None, requires_grad: bool = False) -> Tensor:
    """A new tensor holding a copy of ``data`` (lists, scalars, arrays, tensors).

    Python floats become float32 and ints int64; NumPy arrays keep their dtype.
    """
    if (
        type(data) is np.ndarray
        and dtype is None
        and data.dtype.kind in "biufc"
        and data.dtype.isnative
        and 0 not in data.strides  # (an expanded array: _as_array lays its copy out)
        and data.dtype.itemsize <= 16
        and data.dtype != np.longdouble  # (float128: refused by _as_array)
    ):
        # a native array of a supported dtype (x[ember.tensor(idx)]): the copy _as_array would
        # make, without its conversion checks run twice (~3 us of a small tensor's ~4 us)
        t = Tensor._make(np.array(data, copy=True), False, None, 0)
        if requires_grad:
            t.requires_grad = True
        return t
    return Tensor(_as_array(_numbers_of(data), dtype, copy=True), requires_grad=requires_grad)


def _numbers_of(data):
    """torch reads a tensor inside a list as a number of its dtype (one element, any shape:
    tensor([t1, t2]) of shape-(1,) tensors has shape (2,)); other data as it is."""
    if isinstance(data, list | tuple) and any(issubclass(t, Tensor) for t in _leaf_types(data)):
        return [_number(v) if isinstance(v, Tensor) else _numbers_of(v) for v in data]
    return data


def _number(t: Tensor):
    if t.data.size != 1:  # (torch's ValueError)
        raise BadShapeOrValue(
            "only one element tensors can be converted to Python scalars (a tensor of shape "
            f"{tuple(t.shape)} in the data)"
        )
    return t.data.reshape(())[()]


_tensor = tensor


@functools.wraps(_tensor)
def tensor(data, *args, **kwargs) -> Tensor:  # noqa: F811  (the factory, with a fast front)
    # tensor([[1.0, 2.0], ...]): a list of Python floats (or of ints) and no options, parsed by
    # NumPy once (the factory parsed it twice, for its dtype and then its values: ~1.5 us of 5)
    if type(data) is list and not args and not kwargs and not _device._CONTEXT:
        try:
            arr = np.asarray(data)
        except (ValueError, TypeError):  # (ragged, or tensors NumPy cannot read: the factory)
            return _tensor(data)
        dt = arr.dtype
        if (dt == _F64 or dt == _I64) and arr.size:
            leaves = _leaf_types(data)  # (Python floats to float32 round once either way)
            if leaves == _FLOATS if dt == _F64 else leaves == _INTS:
                d = get_default_dtype() if dt == _F64 else dt
                return _plain(arr if d == dt else arr.astype(d))
    return _tensor(data, *args, **kwargs)


_FLOATS, _INTS = {float}, {int}


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing ``array``'s memory (no copy)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"from_numpy: expected a numpy.ndarray, got {type(array).__name__}")
    if array.dtype.hasobject or not array.flags.writeable or array.dtype == np.longdouble:
        # (refused there, with Tensor's message; a read-only array, a broadcast one, keeps
        # its base chain: a write finds its writeable memory, and torch's refusal)
        return Tensor(array)
    # torch gives each from_numpy tensor a storage and version counter of its own (its
    # storage_offset() is 0, two of one array count their writes apart): ember's are the
    # owner array's, so the tensor takes a new array on the same memory with no NumPy base
    # chain to ``array``: its base a tuple holding ``array`` (_C.strided: ~2 us less than
    # NumPy's array from an __array_interface__ object)
    return _new(_C.strided(array, array.shape, array.strides, True, (array,)), False)


@_takes_device
def as_tensor(data, dtype=None) -> Tensor:
    """Like tensor(), but without a copy when data is already an array of that dtype."""
    if isinstance(data, Tensor) and (dtype is None or data.dtype == np.dtype(dtype)):
        return data
    if isinstance(data, list | tuple):
        data = _numbers_of(data)
    return Tensor(_as_array(data, dtype, copy=False))


@_takes_device
def asarray(obj, *, dtype=None, copy=None, requires_grad: bool = False) -> Tensor:
    """``obj`` as a tensor, as torch.asarray: arrays and tensors are shared when dtype allows
    (``copy=True`` always copies; ``copy=False`` refuses to), other data is copied."""
    if copy is False and not isinstance(obj, Tensor | np.ndarray):
        raise ValueError(f"asarray: copy=False, but a {type(obj).__name__} must be copied")
    if isinstance(obj, Tensor) and not copy and (dtype is None or obj.dtype == np.dtype(dtype)):
        t = obj
    else:
        a = _as_array(obj.data if isinstance(obj, Tensor) else obj, dtype, copy=bool(copy))
        if copy is False and isinstance(obj, np.ndarray) and not np.shares_memory(a, obj):
            raise ValueError(f"asarray: copy=False, but converting {obj.dtype} to {a.dtype} copies")
        t = Tensor(a)
    return t.requires_grad_() if requires_grad and not t.requires_grad else t


def frombuffer(buffer, *, dtype, count: int = -1, offset: int = 0, requires_grad: bool = False):
    """A 1-D tensor sharing the memory of an object exposing the buffer protocol."""
    a = np.frombuffer(buffer, dtype=np.dtype(dtype), count=count, offset=offset)
    return _new(a, requires_grad)


@_takes_device
def empty_strided(size, stride, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """An uninitialised tensor of ``size`` with element strides ``stride`` (a view of a fresh
    buffer just large enough), as torch.empty_strided."""
    size, stride = tuple(int(s) for s in size), tuple(int(s) for s in stride)
    if len(size) != len(stride):
        raise ValueError(f"empty_strided: size {size} and stride {stride} must have one length")
    if any(s < 0 for s in size) or any(s < 0 for s in stride):
        raise ValueError(f"empty_strided: negative size or stride: {size}, {stride}")
    dt = _dtype(dtype)
    n = 0 if 0 in size else 1 + sum((d - 1) * s for d, s in zip(size, stride))
    base = np.zeros(n, dt)
    a = np.lib.stride_tricks.as_strided(base, size, tuple(s * dt.itemsize for s in stride))
    return _new(a, requires_grad)


def zeros(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _size(size, "zeros"), _dtype(dtype)
    if math.prod(shape) * dt.itemsize >= _FILL_MIN and dt in _FILL_DTYPES:
        # threads fill (and so first-touch) their own parts: ~2x NumPy's calloc at 2 threads
        out = np.empty(shape, dt)
        _C.fill(out, 0.0)
        return _new(out, requires_grad)
    return _new(np.zeros(shape, dt), requires_grad)


_F32, _F64, _I64 = np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64)
_F32_TOP = float(np.finfo(np.float32).max)
_FILL_DTYPES = (_F32, _F64)  # _C.fill's (native byte order; also tested by identity: dtypes
# of the builtin types are singletons)
_FILL_MIN = 1 << 18  # bytes
_zeros = _takes_device(zeros)


@functools.wraps(_zeros)
def zeros(*size, **kwargs) -> Tensor:  # noqa: F811  (the factory above, with a fast front)
    # zeros(32, 32): int sizes, no keywords, no device context, the default float dtype, below
    # the fill kernel's size: np.zeros straight (the factory's keyword handling, device and
    # dtype checks were ~1 us of its 2.5)
    if not kwargs and not _device._CONTEXT:
        shape, dt = _size(size, "zeros"), get_default_dtype()
        if dt is _F32 or dt is _F64:
            if math.prod(shape) * dt.itemsize < _FILL_MIN:
                return _plain(np.zeros(shape, dt))
            return _plain(_filled(shape, dt, 0.0))  # (the factory's _C.fill, ~2.5 us sooner)
    return _zeros(*size, **kwargs)


_SMALL_FILL = 1 << 15  # bytes: below, ndarray.fill; from here _C.fill's vector stores (NumPy's
# fill ran ~14 GB/s: 256x256 float32 ~5 us of fill, _C.fill ~2.5 us; torch.ones ~3.8 us)


def _filled(shape: tuple, dt, value: float) -> np.ndarray:
    """A fresh float32/float64 array of ``value`` (no np.ones/np.full: their 0-d copy and
    NumPy's fill loop)."""
    out = np.empty(shape, dt)
    if out.nbytes < _SMALL_FILL:
        out.fill(value)
    else:
        _C.fill(out, value)
    return out


def ones(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _new(np.ones(_size(size, "ones"), _dtype(dtype)), requires_grad)


_ones = _takes_device(ones)


@functools.wraps(_ones)
def ones(*size, **kwargs) -> Tensor:  # noqa: F811  (as zeros: a fast front, ~1 us of 2)
    if not kwargs and not _device._CONTEXT:
        dt = get_default_dtype()
        if dt is _F32 or dt is _F64:
            return _plain(_filled(_size(size, "ones"), dt, 1.0))
    return _ones(*size, **kwargs)


def full(size, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """As torch.full: without dtype, a bool fill gives bool, an int fill int64, else float32."""
    if dtype is None and isinstance(fill_value, bool | np.bool_):
        dtype = np.bool_
    elif dtype is None and isinstance(fill_value, int | np.integer):
        dtype = np.int64
    elif dtype is None and isinstance(fill_value, complex | np.complexfloating):
        dtype = _complex.default_complex()
    # torch's checked conversion (uint8 -1: 255; 1e39 into int64 or 1 + 2j into float32 refused)
    fill_value = _ops._fill_value(_ops._data(fill_value), _dtype(dtype))
    return _new(np.full(_size((size,), "full"), fill_value, _dtype(dtype)), requires_grad)


_full = _takes_device(full)


@functools.wraps(_full)
def full(*args, **kwargs) -> Tensor:  # noqa: F811  (a fast front for full(size, 0.5))
    # a Python float fill, no dtype: the default float dtype, none of the checks apply
    # (~2 us of 3.5 at 8x8)
    if not kwargs and len(args) == 2 and type(args[1]) is float and not _device._CONTEXT:
        size, dt = args[0], get_default_dtype()
        if type(size) is tuple and (dt is _F32 or dt is _F64):
            for s in size:  # (as _size's first test: non-negative ints pass unchanged)
                if type(s) is not int or s < 0:
                    break
            else:
                if dt is _F32 and abs(args[1]) > _F32_TOP:
                    return _full(*args, **kwargs)  # (its overflow check)
                return _plain(_filled(size, dt, args[1]))  # (np.full: ~0.5 us more)
    return _full(*args, **kwargs)


def empty(*size, dtype=None, requires_grad: bool = False) -> Tensor:
    return _new(np.empty(_size(size, "empty"), _dtype(dtype)), requires_grad)


_empty = _takes_device(empty)


@functools.wraps(_empty)
def empty(*size, **kwargs) -> Tensor:  # noqa: F811  (as zeros: a fast front, ~0.7 us of 1.6)
    if not kwargs and not _device._CONTEXT:
        dt = get_default_dtype()
        if dt is _F32 or dt is _F64:
            return _plain(np.empty(_size(size, "empty"), dt))
    return _empty(*size, **kwargs)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    t = np.asarray(t)
    return Tensor(np.zeros(t.shape, dtype or t.dtype), requires_grad=requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    t = np.asarray(t)
    return Tensor(np.ones(t.shape, dtype or t.dtype), requires_grad=requires_grad)


_zeros_like, _ones_like = _takes_device(zeros_like), _takes_device(ones_like)


_FLOAT_TYPES = {np.float32: _F32, np.float64: _F64, _F32: _F32, _F64: _F64}


def _plain_like(args, kwargs, n=1):
    """(shape, dtype) of the *_like(x) fast fronts: x a fresh float32/float64 Tensor (C order,
    no layout to preserve) given alone (with the fill value: n=2), or with a float32/float64
    dtype= (overhead42: ~2.6 -> ~1.2 us of a 32x32's zeros_like), else None."""
    if len(args) == n and type(args[0]) is Tensor and not _device._CONTEXT:
        d = args[0].data
        if (d.dtype is _F32 or d.dtype is _F64) and d.flags.c_contiguous and d.base is None:
            if not kwargs:
                return d.shape, d.dtype
            dt = kwargs.get("dtype")
            if len(kwargs) == 1 and type(dt) in (type, np.dtype) and dt in _FLOAT_TYPES:
                return d.shape, _FLOAT_TYPES[dt]
    return None


@functools.wraps(_zeros_like)
def zeros_like(*args, **kwargs) -> Tensor:  # noqa: F811  (overhead36: ~1.2 us of a 32x32's 2)
    like = _plain_like(args, kwargs)
    if like is not None:
        return _plain(np.zeros(*like))
    return _zeros_like(*args, **kwargs)


@functools.wraps(_ones_like)
def ones_like(*args, **kwargs) -> Tensor:  # noqa: F811  (overhead36: ~1.5 us of a 32x32's 2.8)
    like = _plain_like(args, kwargs)
    if like is not None:
        return _plain(_filled(*like, 1.0))
    return _ones_like(*args, **kwargs)


@_takes_device
def randn(*size, generator=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Standard normal samples from ember's seeded generator (or ``generator``)."""
    dt, shape = _dtype(dtype), _size(size, "randn")
    if dt.kind == "c":  # real and imaginary parts each N(0, 1/2), as torch
        return _new(_complex.randn(rng(generator).standard_normal, shape, dt), requires_grad)
    return _new(random.normal_samples(generator, shape, dt), requires_grad)


_randn = randn


@functools.wraps(_randn)
def randn(*size, **kwargs) -> Tensor:  # noqa: F811  (the factory above, with a fast front)
    # randn(32, 32): int sizes, no keywords, no device context, float32/float64 default: the
    # samples straight (the factory's keyword handling, size and dtype checks ~2 us of ~8.5)
    if not kwargs and not _device._CONTEXT:
        dt = get_default_dtype()
        if dt is _F32 or dt is _F64:  # (normal_samples(None, ...) inlined: ~0.5 us of 2)
            out = np.empty(_size(size, "randn"), dt)
            _C.normal_fill(out, random._generator.bit_generator.random_raw())
            return _plain(out)
    return _randn(*size, **kwargs)


@_takes_device
def rand(*size, generator=None, dtype=None, requires_grad: bool = False) -> Tensor:
    """Uniform samples in [0, 1) from ember's seeded generator (or ``generator``)."""
    dt, shape = _dtype(dtype), _size(size, "rand")
    if dt.kind == "c":  # real and imaginary parts each uniform in [0, 1), as torch
        parts = rng(generator).random(shape + (2,), dtype=_complex.real_of(dt))
        return _new(_complex._as_complex(parts), requires_grad)
    return _new(_lowp.draw(rng(generator).random, shape, dt), requires_grad)


_rand = rand


@functools.wraps(_rand)
def rand(*size, **kwargs) -> Tensor:  # noqa: F811  (as randn: a fast front, ~1.5 us of 3.4)
    if not kwargs and not _device._CONTEXT:
        dt = get_default_dtype()
        if dt is _F32 or dt is _F64:  # (the factory's draw: the same stream and bits)
            return _plain(random._generator.random(_size(size, "rand"), dtype=dt))
    return _rand(*size, **kwargs)


@_takes_device
def randint(
    low=None, high=None, size=(), generator=None, dtype=np.int64, requires_grad=False
) -> Tensor:
    """Integers uniform in [low, high): ``randint(low, high, size)`` or, as torch,
    ``randint(high, size)`` (and ``randint(high=h, size=s)``)."""
    if low is None:  # randint(high=..., size=...), torch's keywords
        low = 0
    elif isinstance(high, tuple | list) and size == ():
        low, high, size = 0, low, high  # randint(high, size)
    elif high is None:
        low, high = 0, low
    _int_args("randint", low=low, high=high)  # (torch refuses randint(1.5, ...))
    for name, v in (("low", low), ("high", high)):
        if type(v) is int and not -(2**63) <= v < 2**63:  # (torch's ValueError: int64s)
            raise BadShapeOrValue(f"randint: {name}={v} overflows int64")
    if high <= low:
        raise BadShapeOrValue(f"randint: high ({high}) must be greater than low ({low})")
    shape, dt = _size((size,), "randint"), np.dtype(dtype)
    if dt.kind == "c":  # (torch's random_ refuses it)
        raise BadDtype(f"randint: cannot draw integers into dtype {dt}")
    if dt.kind == "b":  # 0/1 draws, as torch's; bounds past them refused with its messages
        if low < 0:
            raise BadShapeOrValue(f"randint: from is out of bounds for bool (low={low})")
        if high > 2:
            raise BadShapeOrValue(f"randint: to - 1 is out of bounds for bool (high={high})")
        return Tensor(rng(generator).integers(low, high, shape).astype(bool))
    if dt.kind in "iu":  # (requires_grad=True: the setter refuses it, as torch)
        info = np.iinfo(dt)  # bounds past the dtype: torch's refusals (NumPy's words differ)
        if low < info.min:
            raise BadShapeOrValue(f"randint: from is out of bounds for {dt} (low={low})")
        if high - 1 > info.max:
            raise BadShapeOrValue(f"randint: to - 1 is out of bounds for {dt} (high={high})")
        return Tensor(
            rng(generator).integers(low, high, shape, dtype=dt), requires_grad=requires_grad
        )
    draws = rng(generator).integers(low, high, shape).astype(dt)  # float dtypes, as torch
    return Tensor(draws, requires_grad=requires_grad)


_randint = randint


@functools.wraps(_randint)
def randint(*args, **kwargs) -> Tensor:  # noqa: F811  (overhead39: ~12 -> ~9 us of a 32x32)
    # randint(low, high, size) of ints, no keywords: the same draws, past _takes_device's
    # keyword handling, the checks (which all pass) and Tensor's constructor; overhead43:
    # randint(high, size) and a size= keyword alone too (~15 -> ~10 us)
    n = len(args)
    if kwargs:
        size = kwargs.get("size") if len(kwargs) == 1 and n in (1, 2) else None
        low, high = (0, args[0]) if n == 1 else args[:2] if size is not None else (None, None)
    elif n == 3:
        low, high, size = args
    elif n == 2 and type(args[1]) is tuple:
        low, (high, size) = 0, args
    else:
        size = None
    if (
        type(size) is tuple
        and size
        and type(low) is int
        and type(high) is int
        and -(2**63) <= low < high < 2**63  # (else the factory's refusals)
        and not _device._CONTEXT
    ):
        for s in size:  # (as _size's first test: non-negative ints pass unchanged)
            if type(s) is not int or s < 0:
                break
        else:  # (overhead44: NumPy's draws by _C.integers, ~9 -> ~2.5 us of a 32x32)
            bits = random._generator.bit_generator
            y = _C.integers(bits, low, high, size)
            return _plain(
                random._generator.integers(low, high, size, dtype=_I64) if y is None else y
            )
    return _randint(*args, **kwargs)


@_takes_device
def randint_like(input, low=0, high=None, *, generator=None, dtype=None) -> Tensor:  # noqa: A002
    """Integers uniform in [low, high) of input's shape and (by default) dtype;
    ``randint_like(x, high)`` draws from [0, high)."""
    if high is None:
        low, high = 0, low
    t = np.asarray(input.data if isinstance(input, Tensor) else input)
    dt = t.dtype if dtype is None else np.dtype(dtype)
    if high <= low:
        raise ValueError(f"randint_like: high ({high}) must be greater than low ({low})")
    return Tensor(rng(generator).integers(low, high, t.shape).astype(dt))


@_takes_device
def randperm(n: int, generator=None, dtype=np.int64, requires_grad=False) -> Tensor:
    if isinstance(n, bool | np.bool_):  # (torch's TypeError: True is no count)
        raise TypeError("randperm(): argument 'n' (position 1) must be int, not bool")
    n = operator.index(n)  # (torch's TypeError for a float n)
    if n < 0:
        raise BadShapeOrValue(f"randperm: n must be >= 0, got {n}")  # (torch's RuntimeError)
    dt = np.dtype(dtype)
    if dt.kind in "bc":  # (torch's "not implemented for 'Bool'")
        raise RuntimeError(f"randperm: not implemented for {dt}")
    # torch's bounds: the largest value n - 1 must fit the dtype (floats: every integer up to it)
    top = {"e": 2049, "f": 2**24 + 1, "d": 2**53 + 1}.get(dt.char)
    if top is None and dt.kind in "iu" and n - 1 > np.iinfo(dt).max:
        raise RuntimeError(
            f"randperm: value {n - 1} cannot be converted to type {dt} without overflow"
        )
    if top is not None and n > top:
        raise RuntimeError(f"randperm: n cannot be greater than {top} for {dt}, got {n}")
    # Fisher-Yates in C++ keyed by one draw of the generator's stream (~2.5x NumPy's permutation)
    data = np.empty(n, np.int64)
    _C.randperm_fill(data, rng(generator).bit_generator.random_raw())
    return Tensor(data.astype(dtype, copy=False), requires_grad=requires_grad)


_randperm = randperm


@functools.wraps(_randperm)
def randperm(*args, **kwargs) -> Tensor:  # noqa: F811
    # overhead44: randperm(n) of an int n >= 0, no keywords, no device context: the factory's
    # draw and fill straight, past _takes_device and the checks that all pass (~2.1x torch)
    if not kwargs and len(args) == 1 and type(n := args[0]) is int and n >= 0:
        if not _device._CONTEXT:
            data = np.empty(n, _I64)
            _C.randperm_fill(data, random._generator.bit_generator.random_raw())
            return _plain(data)
    return _randperm(*args, **kwargs)


def arange(start=None, end=None, step=1, dtype=None, requires_grad: bool = False) -> Tensor:
    """Values from start to end (exclusive); int64 for int arguments, else float32."""
    if end is None:
        start, end = 0, start
    elif start is None:  # arange(end=n), torch's keyword
        start = 0
    if end is None:
        raise TypeError("arange() missing required argument 'end'")
    start, end, step = (v.item() if isinstance(v, Tensor) else v for v in (start, end, step))
    if step == 0:
        raise BadShapeOrValue("arange: step must be nonzero")
    if not all(np.isfinite(v) for v in (start, end, step)):  # (NumPy: "cannot compute length")
        raise BadShapeOrValue(f"arange: unsupported range {start} -> {end} (step {step})")
    if any(isinstance(v, int) and not -(2**63) <= v < 2**63 for v in (start, end, step)):
        raise BadShapeOrValue(  # (torch's message)
            "arange: value cannot be converted to type int64_t without overflow"
        )
    if dtype is None:
        ints = all(isinstance(v, int | np.integer) for v in (start, end, step))
        dtype = np.int64 if ints else get_default_dtype()
    elif _dtype(dtype).kind in "bc":  # (torch has no bool or complex arange kernel)
        raise not_implemented("arange", _dtype(dtype), f"arange({start}, {end}, {step})")
    # torch's length: exact for int64, else from the bounds as doubles (2**62 + 1 - 2**62 is
    # 0 there: arange(2**62, 2**62 + 1, dtype=float64) is empty)
    span = end - start if np.dtype(dtype) == np.int64 else float(end) - float(start)
    if span * step < 0:
        raise BadShapeOrValue(
            f"arange: upper bound and lower bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    integral = np.dtype(dtype).kind in "iu"
    if requires_grad and integral:  # (torch refuses it first)
        raise RuntimeError("arange: only floating point tensors can require gradients")
    if integral and int(step) == 0 and np.dtype(dtype) == np.int64:
        # torch casts the step to the dtype first: int64's length divides by it (its
        # ValueError); the other integer dtypes repeat the start, their length from the floats
        raise ValueError(f"arange: step {step} is 0 as {np.dtype(dtype)}")
    try:
        if integral and all(isinstance(v, int | np.integer) for v in (start, end, step)):
            if np.dtype(dtype) == np.int64:
                data = np.arange(start, end, step).astype(dtype)
            else:  # the length from the doubles, the values in int64, wrapped (uint8's -3)
                n = max(math.ceil(span / step), 0)
                data = (start + step * np.arange(n, dtype=np.int64)).astype(dtype)
        elif integral:  # float bounds: torch truncates them to int64 (its accumulate type) first
            istart, iend, istep = int(start), int(end), int(step)
            if np.dtype(dtype) == np.int64:  # int64's length is integer maths on those
                n = max(abs(iend - istart + istep - (1 if istep > 0 else -1)) // abs(istep), 0)
                n = n if (iend - istart) * istep >= 0 else 0
            else:  # the other integer dtypes take the length from the float bounds
                n = max(math.ceil(span / step), 0)
            data = (istart + istep * np.arange(n, dtype=np.int64)).astype(dtype)
        elif np.dtype(dtype) in (np.float32, np.float64):
            n = max(math.ceil(span / step), 0)  # (torch's length, and NumPy's)
            data = _float_range(float(start), float(step), n, np.dtype(dtype))
        elif _lowp.is_float(np.dtype(dtype)):  # 16-bit: float32 values rounded, as torch's
            n = max(math.ceil(span / step), 0)
            data = _lowp.narrow(_float_range(float(start), float(step), n, _F32), dtype)
        else:
            data = np.arange(start, end, step, dtype=dtype)
    except ValueError:  # NumPy's "Maximum allowed size exceeded"
        raise ValueError(f"arange: {start} -> {end} (step {step}) has too many values") from None
    return _new(data, requires_grad)


_arange = _takes_device(arange)


@functools.wraps(_arange)
def arange(*args, **kwargs) -> Tensor:  # noqa: F811  (a fast front for arange(n), arange(a, b))
    # Python int bounds with step 1 and no keywords: int64 values, none of the checks can fail
    # (~3.5 us of 5.5 at n = 64)
    if not kwargs and 0 < len(args) <= 3 and not _device._CONTEXT:
        start, end = (0, args[0]) if len(args) == 1 else args[:2]
        step = args[2] if len(args) == 3 else 1
        if type(start) is int and type(end) is int and step == 1 and type(step) is int:
            if -(2**62) < start <= end < 2**62:
                return _plain(np.arange(start, end, dtype=np.int64))
        elif (
            _numbers(start, end, step)
            and (type(start) is float or type(end) is float or type(step) is float)
            and step != 0
        ):
            # overhead36: float bounds (arange(0., 1., .01)), finite, step's sign towards end,
            # the default float32/float64: the general path's length and _float_range straight
            # (its checks were ~6 us of a 32-value call)
            dt = get_default_dtype()
            if (dt is _F32 or dt is _F64) and (end - start) * step >= 0:
                n = max(math.ceil((end - start) / step), 0)
                if n < 2**40:
                    return _plain(_float_range(float(start), float(step), n, dt))
    return _arange(*args, **kwargs)


def _numbers(*values) -> bool:
    """Python ints (not bools) small enough for float maths to read them exactly, and finite
    Python floats."""
    for v in values:
        if type(v) is float:
            if not math.isfinite(v):
                return False
        elif type(v) is not int or not -(2**53) < v < 2**53:
            return False
    return True


def _float_range(start: float, step: float, n: int, dtype: np.dtype) -> np.ndarray:
    """torch's float32 / float64 arange bit for bit. Its CPU kernel works in double, value i
    as fma(step, i, start) (the compiler contracts start + step * i), but in AVX2 vectors of
    w = 8 floats / 4 doubles: a vector's first value fma(step, i, start) is rounded to the
    dtype first, and its lanes are fma(k, step, that base) (k < w). Vectors go two at a time
    from each thread's first index; the last (n mod 2w) of a thread's range take the scalar
    value. Threads (ember's count, as torch's) split ranges over 32768: that split is passed
    to the kernel (_C.arange), so the values follow it whatever runs the chunks."""
    if n > _INTP_MAX // dtype.itemsize:
        raise ValueError("too many values")  # (arange names the range)
    threads = min(_threads(), -(-n // 32768)) if n > 32768 else 1
    return _C.arange(start, step, n, max(-(-n // threads), 1), dtype)


_INTP_MAX = int(np.iinfo(np.intp).max)


def _threads() -> int:
    from ember import get_num_threads

    return get_num_threads()


def _int_args(op: str, **args) -> None:
    """torch's int arguments: anything with __index__ (a 0-d integer tensor too), not a bool
    or a float (TypeError, as torch's argument parser)."""
    for name, v in args.items():
        if isinstance(v, bool) or not hasattr(type(v), "__index__"):
            raise TypeError(f"{op}(): argument '{name}' must be int, not {type(v).__name__}")


def _steps(steps, op: str) -> int:
    if isinstance(steps, bool):  # (torch's signature takes an int, not a bool)
        raise TypeError(f"{op}: steps must be an int, got bool")
    steps = operator.index(steps)
    if steps < 0:
        raise BadShapeOrValue(f"{op}: number of steps must be non-negative, got {steps}")
    return steps


def _complex_ends_fit(dtype, op: str) -> None:
    """torch refuses complex ends with a real ``dtype=`` (the imaginary parts would be lost)."""
    if _dtype(dtype).kind != "c":
        raise BadDtype(
            f"{op}(): inferred dtype complex64 can't be safely cast to passed dtype {_dtype(dtype)}"
        )


def _ends_fit(op: str, dtype: np.dtype, *ends) -> None:
    """torch's range check of linspace / logspace's ends against the dtype (c10::overflows):
    an int end as clamp's bounds (an unsigned dtype takes negatives down to -max), a float
    end within the integer range, a finite end within a float dtype's largest."""
    for v in ends:
        if isinstance(v, complex):
            continue
        if dtype.kind in "iu":
            info = np.iinfo(dtype)
            if isinstance(v, int | np.integer):
                ok = info.min <= v <= info.max or (info.min == 0 and -int(info.max) <= v < 0)
            else:
                ok = not math.isfinite(v) or info.min <= v <= info.max
        elif _lowp.is_float(dtype):
            ok = not math.isfinite(v) or abs(v) <= float(ml_dtypes.finfo(dtype).max)
        else:
            ok = True
        if not ok:
            raise BadShapeOrValue(
                f"{op}: value {v} cannot be converted to type {dtype} without overflow"
            )


def linspace(start, end, steps: int, dtype=None, requires_grad: bool = False) -> Tensor:
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    complex_ends = isinstance(start, complex) or isinstance(end, complex)
    if complex_ends and dtype is not None:
        _complex_ends_fit(dtype, "linspace")
        complex_ends = False
    steps, dtype = _steps(steps, "linspace"), _dtype(dtype)
    _ends_fit("linspace", dtype, start, *((end,) if steps != 1 else ()))  # (torch's checks)
    if dtype.kind == "b" and steps > 1:  # (torch: its kernel's bool form only fills 0 or 1)
        raise not_implemented("linspace", dtype, f"steps={steps}")
    if complex_ends:  # torch: complex ends give the default dtype's complex counterpart
        dtype = np.result_type(dtype, np.complex64)
    if dtype.kind in "iu" and steps:  # torch's integer kernel: truncated ends, double steps
        data = _int_linspace(_int_end(start, dtype), _int_end(end, dtype), steps, dtype)
    else:
        data = np.linspace(start, end, steps, dtype=dtype)
    return Tensor(data, requires_grad=requires_grad)


_linspace = _takes_device(linspace)


@functools.wraps(_linspace)
def linspace(*args, **kwargs) -> Tensor:  # noqa: F811  (a fast front for linspace(a, b, n))
    # overhead36: Python number ends, n >= 2 and the default float32/float64: np.linspace's
    # own float64 arithmetic (i * step + start, the end exact, then the cast) without its
    # Python layers and the factory's (~6 us of a 1024-value call, torch ~2.5)
    if not kwargs and len(args) == 3 and not _device._CONTEXT and type(args[2]) is int:
        start, end, steps = args
        dt = get_default_dtype()
        if steps >= 2 and (dt is _F32 or dt is _F64) and _numbers(start, end):
            step = (float(end) - float(start)) / (steps - 1)
            if step != 0:  # (np.linspace divides before it multiplies then)
                k = _COUNTS.get(steps)
                if k is None:  # (overhead37: a small count's 0..n-1 kept, read-only)
                    k = np.arange(steps, dtype=np.float64)
                    if steps <= 4096 and len(_COUNTS) < 64:
                        k.flags.writeable = False
                        _COUNTS[steps] = k
                y = k * step
                y += float(start)
                y[-1] = end
                return _plain(y.astype(dt, copy=False))
    return _linspace(*args, **kwargs)


_COUNTS: dict = {}  # steps -> np.arange(steps) in float64 (linspace's front, small counts)


def _int_end(v, dtype: np.dtype) -> int:
    """An end of an integer linspace / logspace as torch's kernel holds it: truncated, cast
    to the dtype (a negative end of an unsigned dtype wraps: linspace(7, -1, 3, uint8) is
    7, 131, 255)."""
    return int(np.array(int(v), np.int64).astype(dtype)) if dtype.kind == "u" else int(v)


def _int_linspace(start: int, end: int, steps: int, dtype: np.dtype) -> np.ndarray:
    """torch's integer linspace bit for bit: double values truncated to the dtype."""
    if steps == 1:
        return np.array([start], dtype=dtype)
    out = np.trunc(_two_sided(start, end, (end - start) / (steps - 1), steps))
    return out.astype(np.int64).astype(dtype)


def _two_sided(start, end, step: float, steps: int, fma: bool = True) -> np.ndarray:
    """torch's linspace / logspace points in double: the first half counted up from start, the
    rest down from end (so both ends are exact). In linspace's kernel the compiler contracts
    start + step * i into one fma (the long double product and sum, rounded once to double, give
    the same values); logspace's loop is built without fma."""
    ld = np.longdouble if fma else np.float64
    i = np.arange(steps, dtype=ld)
    up = ld(start) + ld(step) * i
    down = ld(end) - ld(step) * (steps - 1 - i)
    return np.where(i < steps // 2, up, down).astype(np.float64)


@_takes_device
def logspace(
    start, end, steps: int, base: float = 10.0, dtype=None, requires_grad: bool = False
) -> Tensor:
    """``steps`` values from base**start to base**end, evenly spaced in the exponent."""
    start, end = (v.item() if isinstance(v, Tensor) else v for v in (start, end))
    complex_ends = isinstance(start, complex) or isinstance(end, complex)
    if complex_ends and dtype is not None:
        _complex_ends_fit(dtype, "logspace")
        complex_ends = False
    steps, dtype = _steps(steps, "logspace"), _dtype(dtype)
    _ends_fit("logspace", dtype, start, *((end,) if steps != 1 else ()))  # (torch's checks)
    if steps == 1 and dtype.kind in "iu":  # its one value base**start is checked instead
        with np.errstate(over="ignore"):
            one = np.power(float(base), float(start))
        if not np.iinfo(dtype).min <= one <= np.iinfo(dtype).max:
            raise BadShapeOrValue(
                f"logspace: value {one} cannot be converted to type {dtype} without overflow"
            )
    if dtype.kind == "b" and steps > 1:  # (as linspace)
        raise not_implemented("logspace", dtype, f"steps={steps}")
    if complex_ends:  # torch: complex ends give the default dtype's complex counterpart
        dtype = np.result_type(dtype, np.complex64)
    if dtype.kind in "iuf" and steps:
        # torch's kernel: the ends cast to the dtype first (integers truncate), the exponents
        # and the power in double, then cast (integers truncate); one step: pow(base, start)
        if steps == 1:
            start = end = step = float(start)
            base = float(base)
        elif dtype.kind == "f":
            start, end = dtype.type(start), dtype.type(end)
            step = float(end - start) / (steps - 1)  # end - start in the dtype, as torch
            base = float(base)
        else:
            start, end = _int_end(start, dtype), _int_end(end, dtype)
            step = (end - start) / (steps - 1)
            base = float(np.float32(base))  # torch's integer path holds the base as a float
        exps = _two_sided(float(start), float(end), step, steps, fma=False)
        with np.errstate(over="ignore", invalid="ignore"):
            data = np.power(base, exps)
            if dtype.kind in "iu":  # (through int32 as C's cast for the small types, whose
                # out-of-range values become INT32_MIN: 2.0**42.5 is 0 in uint8)
                small = dtype.itemsize < 4 or dtype == np.int32
                data = np.trunc(data).astype(np.int32 if small else np.int64)
            data = data.astype(dtype)
    else:
        exps = np.linspace(start, end, steps)
        with np.errstate(over="ignore", invalid="ignore"):
            data = np.power(float(base), exps).astype(dtype)
    return Tensor(data, requires_grad=requires_grad)


class _NotGiven:
    """eye's m not given (help() shows ``m: int = n``): torch's eye(3, None) and
    eye(3, m=None) are TypeErrors, so None cannot be the default."""

    def __repr__(self) -> str:
        return "n"


_NO_M = _NotGiven()


def eye(n: int, m: int = _NO_M, dtype=None, requires_grad: bool = False) -> Tensor:
    if m is None:
        raise TypeError("eye(): argument 'm' must be int, not NoneType")
    m = None if m is _NO_M else m
    if type(n) is not int or (m is not None and type(m) is not int):  # (ints: nothing to test)
        _int_args("eye", n=n, m=0 if m is None else m)  # (torch refuses eye(3, 1.5))
    if n < 0 or (m is not None and m < 0):
        raise BadShapeOrValue(f"eye: n ({n}) and m ({m}) must be non-negative")
    # np.eye's own steps without its frames (~0.5 us of a 32x32): the ones of the first
    # min(n, cols) rows, every cols + 1 elements
    cols = n if m is None else m
    a = np.zeros((n, cols), _dtype(dtype))
    a[:cols].reshape(-1)[:: cols + 1] = 1
    return Tensor(a, requires_grad=requires_grad)


_eye = _takes_device(eye)


@functools.wraps(_eye)
def eye(*args, **kwargs) -> Tensor:  # noqa: F811  (overhead39: ~2.5 -> ~1.3 us of eye(32))
    # eye(n) or eye(n, m) of non-negative ints in the default float dtype: its array straight,
    # past _takes_device's keyword handling and eye's checks, which all pass
    if not kwargs and 0 < len(args) < 3 and not _device._CONTEXT:
        dt = get_default_dtype()
        n, cols = args[0], args[-1]
        if type(n) is int and type(cols) is int and n >= 0 and cols >= 0 and dt.kind == "f":
            a = np.zeros((n, cols), dt)
            a[:cols].reshape(-1)[:: cols + 1] = 1
            return _plain(a)
    return _eye(*args, **kwargs)


@_takes_device
def full_like(t, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    t = t.data if type(t) is Tensor else np.asarray(t)  # (its __array__'s: the array itself)
    dt = np.dtype(dtype or t.dtype)
    fill_value = _ops._fill_value(_ops._data(fill_value), dt)
    out = np.empty(t.shape, dt)  # (np.full's steps, without its frames: ~1 us)
    np.copyto(out, fill_value, casting="unsafe")
    return Tensor(out, requires_grad=requires_grad)


_full_like = full_like


@functools.wraps(_full_like)
def full_like(*args, **kwargs) -> Tensor:  # noqa: F811  (overhead39: ~3.6 -> ~1.2 us of a 32x32)
    # a fresh float32/float64 Tensor (no layout to preserve: _plain_like's test) and a finite
    # number either dtype holds: its array straight, past _takes_device's keyword handling
    like = _plain_like(args, kwargs, 2)
    if like is not None:
        v = args[1]
        if (type(v) is float or type(v) is int) and -_F32_TOP <= v <= _F32_TOP:
            return _plain(_filled(*like, v))
    return _full_like(*args, **kwargs)


def empty_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    t = np.asarray(t)
    return Tensor(np.empty(t.shape, dtype or t.dtype), requires_grad=requires_grad)


_empty_like = _takes_device(empty_like)


@functools.wraps(_empty_like)
def empty_like(*args, **kwargs) -> Tensor:  # noqa: F811  (a fast front for empty_like(x))
    # a C-contiguous float Tensor alone: its shape and dtype, no layout to preserve (~1 us of 1.7)
    like = _plain_like(args, kwargs)
    if like is not None:
        return _plain(np.empty(*like))
    return _empty_like(*args, **kwargs)


def _float_like(t, dtype, op: str) -> tuple:
    t = np.asarray(t)
    dt = np.dtype(dtype) if dtype is not None else t.dtype
    if not _lowp.is_float(dt):
        raise TypeError(f"{op}: needs a floating dtype, got {dt} (pass dtype=)")
    return t.shape, dt


@_takes_device
def randn_like(t, *, generator=None, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _float_like(t, dtype, "randn_like")
    return Tensor(random.normal_samples(generator, shape, dt), requires_grad=requires_grad)


@_takes_device
def rand_like(t, *, generator=None, dtype=None, requires_grad: bool = False) -> Tensor:
    shape, dt = _float_like(t, dtype, "rand_like")
    return Tensor(_lowp.draw(rng(generator).random, shape, dt), requires_grad=requires_grad)


@_takes_device
def normal(
    mean=0.0, std=1.0, size=None, *, generator=None, dtype=None, requires_grad: bool = False
) -> Tensor:
    """Normal samples, as torch.normal: ``normal(mean, std, size)`` with float mean and std, or
    tensor mean and/or std (broadcast together; the result has their float dtype)."""
    m, s = (np.asarray(v.data if isinstance(v, Tensor) else v) for v in (mean, std))
    if not np.all(s >= 0):  # NaN too, as torch (every sample would be NaN)
        raise ValueError(f"normal: std must be >= 0, got {std}")
    if size is None:
        arrays = [v.dtype for v in (mean, std) if isinstance(v, Tensor | np.ndarray)]
        if not arrays:
            raise TypeError("normal: give size= when mean and std are both numbers")
        if any(not _lowp.is_float(d) for d in arrays):
            raise TypeError(f"normal: mean and std tensors must be floating point, got {arrays}")
        dt = np.result_type(*arrays) if dtype is None else np.dtype(dtype)
        shape = np.broadcast_shapes(m.shape, s.shape)
    else:
        dt, shape = _dtype(dtype), _size((size,), "normal")
    draw = random.normal_samples(generator, shape, np.float64)
    return Tensor((draw * s + m).astype(dt, copy=False), requires_grad=requires_grad)


def poisson(input, generator=None) -> Tensor:  # noqa: A002
    """Poisson samples with rates ``input`` (elementwise), in its float dtype."""
    rates = np.asarray(input.data if isinstance(input, Tensor) else input)
    if not _lowp.is_float(rates.dtype):
        raise TypeError(f"poisson: rates must be floating point, got {rates.dtype}")
    if not np.all(rates >= 0):
        raise ValueError("poisson: rates must be non-negative")
    if not np.all(np.isfinite(rates)):  # (NumPy's "lam value too large"; PyTorch returns junk)
        raise ValueError("poisson: rates must be finite")
    return Tensor(np.asarray(rng(generator).poisson(rates)).astype(rates.dtype))


def bernoulli(input, p=None, *, generator=None) -> Tensor:  # noqa: A002
    """1 with probability ``input`` (elementwise), else 0, in its dtype; as torch.bernoulli,
    ``bernoulli(input, p)`` draws with the one probability p in input's shape and dtype."""
    if p is not None:
        like = np.asarray(input.data if isinstance(input, Tensor) else input)
        draw = bernoulli(np.full(like.shape, p, dtype=np.float64), generator=generator)
        return Tensor(draw.data.astype(like.dtype))
    p = np.asarray(input.data if isinstance(input, Tensor) else input)
    if not _lowp.is_float(p.dtype):
        raise TypeError(f"bernoulli: probabilities must be floating point, got {p.dtype}")
    if p.size and not (np.all(p >= 0) and np.all(p <= 1)):
        raise ValueError("bernoulli: probabilities must be in [0, 1]")
    return Tensor((rng(generator).random(p.shape) < p).astype(p.dtype))


def multinomial(
    input,
    num_samples: int,
    replacement: bool = False,
    *,
    generator=None,  # noqa: A002
) -> Tensor:
    """Indices drawn from each row of non-negative weights ``input`` (1-D or 2-D; rows need not
    sum to 1), as torch.multinomial: int64 of shape (num_samples,) or (rows, num_samples)."""
    w = np.asarray(input.data if isinstance(input, Tensor) else input)
    if not _lowp.is_float(w.dtype):  # (as torch: integer or bool weights are refused)
        raise TypeError(f"multinomial: input must be floating point, got {w.dtype}")
    if w.ndim not in (1, 2):
        raise ValueError(f"multinomial: input must be 1-D or 2-D, got shape {w.shape}")
    n = w.shape[-1]
    if n == 0:  # (reshape(-1, 0) is ambiguous: it raised NumPy's error)
        raise ValueError(f"multinomial: input of shape {w.shape} has no categories to draw from")
    if num_samples <= 0:  # (torch's RuntimeError, as the checks below)
        raise BadShapeOrValue(f"multinomial: num_samples must be positive, got {num_samples}")
    if not replacement and num_samples > n:  # (torch's RuntimeError)
        raise BadShapeOrValue(
            f"multinomial: cannot draw {num_samples} samples without replacement from {n} "
            "categories"
        )
    # float32 or float64 rows (16-bit weights widen exactly), checked before any draw so a
    # refused call leaves the generator where it was
    rows = np.ascontiguousarray(
        w.reshape(-1, n), np.float64 if w.dtype == np.float64 else np.float32
    )
    try:
        _C.multinomial_check(rows)  # negative, NaN or inf weights, rows of zero total
    except ValueError as e:
        raise BadShapeOrValue(str(e)) from None
    g = rng(generator)
    nr = rows.shape[0]
    if replacement:  # inverse CDF in C++: the first category whose running total passes u
        out = _C.multinomial_draw(rows, g.random((nr, num_samples)))
    else:  # torch's own draw: the num_samples largest of w / Exp(1), largest first, which
        # samples categories one after another without replacement in proportion to w (and,
        # as torch's, zero-weight ones last once the others are drawn)
        with np.errstate(divide="ignore"):
            keys = -(rows.astype(np.float64) / g.standard_exponential((nr, n)))
        if num_samples < n:
            top = np.argpartition(keys, num_samples - 1, axis=1)[:, :num_samples]
            keys = np.take_along_axis(keys, top, 1)
            out = np.take_along_axis(top, np.argsort(keys, axis=1, kind="stable"), 1)
        else:
            out = np.argsort(keys, axis=1, kind="stable")
        out = out.astype(np.int64)
    return Tensor(out.reshape(w.shape[:-1] + (num_samples,)))


class _LegacyTensorType(type):
    """PyTorch's legacy typed constructors: ``LongTensor([1, 2])`` copies data,
    ``FloatTensor(2, 3)`` makes that shape (zero-filled here, uninitialised in PyTorch);
    ``isinstance`` checks the dtype."""

    def __call__(cls, *args, device=None):
        _device.check(device)
        if len(args) == 1 and not isinstance(args[0], int | np.integer):
            (data,) = args
            if isinstance(data, Tensor):
                if data.dtype != cls.dtype:
                    raise TypeError(
                        f"{cls.__name__}: expected a {cls.dtype} tensor, got {data.dtype}"
                    )
                return data
            return Tensor(np.array(data, dtype=cls.dtype))
        return Tensor(np.zeros(_size(args, cls.__name__) if args else (0,), cls.dtype))

    def __instancecheck__(cls, obj):
        return isinstance(obj, Tensor) and obj.dtype == cls.dtype


def _legacy(name: str, dtype) -> type:
    return _LegacyTensorType(name, (), {"dtype": np.dtype(dtype)})


FloatTensor = _legacy("FloatTensor", np.float32)
DoubleTensor = _legacy("DoubleTensor", np.float64)
HalfTensor = _legacy("HalfTensor", np.float16)
LongTensor = _legacy("LongTensor", np.int64)
IntTensor = _legacy("IntTensor", np.int32)
ShortTensor = _legacy("ShortTensor", np.int16)
CharTensor = _legacy("CharTensor", np.int8)
ByteTensor = _legacy("ByteTensor", np.uint8)
BoolTensor = _legacy("BoolTensor", np.bool_)


def _window(name: str, length: int, periodic: bool, dtype, requires_grad: bool, f) -> Tensor:
    """A window of ``length`` points from f(n, N) for n = 0..length-1, with N = length for a
    symmetric window and length + 1 for a periodic one (the first point of the next period
    dropped, as for spectral analysis), as torch's window functions."""
    if not isinstance(length, int | np.integer) or isinstance(length, bool):  # (torch's parser)
        raise TypeError(
            f"{name}(): argument 'window_length' must be int, not {type(length).__name__}"
        )
    if length < 0:
        raise BadShapeOrValue(
            f"{name} requires non-negative window_length, got window_length={length}"
        )
    dt = _dtype(dtype)
    if dt.kind == "c":  # torch: ones for 0 or 1 points, and no complex kernel past those
        if length > 1:
            raise not_implemented(name, dt, f"window_length={length}")
    elif not _lowp.is_float(dt):
        raise BadDtype(f"{name} expects floating point dtypes, got {dt}")
    if length <= 1:
        return _new(np.ones(length, dt), requires_grad)
    n = np.arange(length, dtype=np.float64)
    return _new(np.asarray(f(n, length + 1 if periodic else length)).astype(dt), requires_grad)


@_takes_device
def hann_window(window_length: int, periodic: bool = True, *, dtype=None, requires_grad=False):
    return _window("hann_window", window_length, periodic, dtype, requires_grad,
                   lambda n, N: 0.5 - 0.5 * np.cos(2 * np.pi * n / (N - 1)))  # fmt: skip


@_takes_device
def hamming_window(
    window_length: int, periodic: bool = True, alpha: float = 0.54, beta: float = 0.46, *,
    dtype=None, requires_grad=False,
):  # fmt: skip
    return _window("hamming_window", window_length, periodic, dtype, requires_grad,
                   lambda n, N: alpha - beta * np.cos(2 * np.pi * n / (N - 1)))  # fmt: skip


@_takes_device
def blackman_window(window_length: int, periodic: bool = True, *, dtype=None, requires_grad=False):
    def f(n, N):
        t = 2 * np.pi * n / (N - 1)
        return 0.42 - 0.5 * np.cos(t) + 0.08 * np.cos(2 * t)

    return _window("blackman_window", window_length, periodic, dtype, requires_grad, f)


@_takes_device
def bartlett_window(window_length: int, periodic: bool = True, *, dtype=None, requires_grad=False):
    return _window("bartlett_window", window_length, periodic, dtype, requires_grad,
                   lambda n, N: 1 - np.abs(2 * n / (N - 1) - 1))  # fmt: skip


@_takes_device
def kaiser_window(
    window_length: int, periodic: bool = True, beta: float = 12.0, *, dtype=None,
    requires_grad=False,
):  # fmt: skip
    def f(n, N):
        return np.i0(beta * np.sqrt(np.clip(1 - (2 * n / (N - 1) - 1) ** 2, 0, 1))) / np.i0(beta)

    return _window("kaiser_window", window_length, periodic, dtype, requires_grad, f)


@_takes_device
def inclusive_range(start, end=None, step=1, *, dtype=None, requires_grad: bool = False):
    """Deprecated torch.range: start..end with ``end`` included, default float dtype."""
    import warnings

    warnings.warn(
        "ember.range is deprecated (as torch.range): its end is included, unlike Python's "
        "range; use ember.arange",
        UserWarning,
        stacklevel=3,  # the caller, past the device-argument wrapper
    )
    if end is None:
        start, end = 0, start
    if _dtype(dtype).kind in "bc":  # (torch has no bool or complex range kernel)
        raise not_implemented("range", _dtype(dtype), f"range({start}, {end}, {step})")
    if step == 0:
        raise BadShapeOrValue("range: step must be nonzero")
    if (end - start) * step < 0:
        raise BadShapeOrValue(
            f"range: upper bound and lower bound inconsistent with step sign "
            f"(start={start}, end={end}, step={step})"
        )
    count = int(np.floor((end - start) / step)) + 1
    values = start + step * np.arange(max(count, 0), dtype=np.float64)
    return _new(values.astype(_dtype(dtype)), requires_grad)


@_takes_device
def scalar_tensor(s, *, dtype=None, requires_grad: bool = False) -> Tensor:
    """A 0-d tensor holding the number ``s`` (default float dtype, as torch.scalar_tensor)."""
    if isinstance(s, Tensor):
        s = s.item()
    if not isinstance(s, numbers.Number):  # (NumPy would hold None as NaN)
        raise TypeError(f"scalar_tensor(): argument 's' must be Number, not {type(s).__name__}")
    return _new(np.asarray(s, dtype=_dtype(dtype)), requires_grad)
