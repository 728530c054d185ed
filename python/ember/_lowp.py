"""16-bit floats (float16, bfloat16): stored as themselves, computed in float32.

ember's kernels are float32/float64 only, as PyTorch's CPU half ops compute in float32 and round
at the op boundary. The conversion happens in one place: every ``ember._C`` function is wrapped
(csrc/bindings/module.cpp) so that a call refused with TypeError comes here; if any argument is a
16-bit float array, the kernel runs again on float32 copies and its float32 results are rounded
to the 16-bit dtype. float32/float64 calls never reach this module. The price is on the 16-bit
side: each of their kernel calls first throws the kernel's C++ TypeError (~20 us on a 2-core
Zen 5; a look at the arguments' dtypes in module.cpp would save it at ~30 ns a float32 call).
"""

from __future__ import annotations

import ml_dtypes
import numpy as np

from . import _C
from ._errors import BadDtype

bfloat16 = np.dtype(ml_dtypes.bfloat16)
float16 = np.dtype(np.float16)
LOWP = (float16, bfloat16)
_KERNEL_MIN = 1 << 12  # elements: below it NumPy's astype costs less than the call


def widen(a: np.ndarray) -> np.ndarray:
    """A 16-bit float array's float32 copy in C order (0-d kept; exact). Large C-contiguous
    arrays go through _C.cast16: NumPy's astype has no SIMD for these dtypes."""
    if a.size >= _KERNEL_MIN and a.flags.c_contiguous:
        out = np.empty(a.shape, np.float32)
        _C.cast16(a.view(np.uint16), out, a.dtype == bfloat16)
        return out
    return np.array(a, np.float32, order="C")


def narrow(r: np.ndarray, dt) -> np.ndarray:
    """A float32 array rounded to dt (float16 or bfloat16) to nearest even, as torch's."""
    if r.size >= _KERNEL_MIN and r.flags.c_contiguous:
        out = np.empty(r.shape, dt)
        _C.cast16(r, out.view(np.uint16), dt == bfloat16)
        return out
    with np.errstate(over="ignore"):  # beyond dt's range rounds to inf silently, as torch's
        return r.astype(dt)


def refuse(op: str, *dtypes) -> None:
    """What torch's CPU build refuses for float16/bfloat16 (LAPACK-backed linear algebra,
    quantile, cdist, zeta) ember refuses too."""
    for dt in dtypes:
        if dt == float16 or dt == bfloat16:
            raise BadDtype(
                f"{op}: low-precision dtypes are not supported, got {dt} (as in torch; "
                "convert with .float())"
            )


def is_float(dt) -> bool:
    """Floating point, bfloat16 included (ml_dtypes' dtypes have NumPy kind 'V')."""
    return dt.kind == "f" or dt == bfloat16


def draw(method, shape, dt):
    """A NumPy Generator draw (``rng.standard_normal``, ``rng.random``) of dtype dt: 16-bit
    floats are drawn in float32 and rounded, as torch does (NumPy draws only float32/64)."""
    if dt == float16 or dt == bfloat16:
        return narrow(method(shape, dtype=np.float32), dt)
    return method(shape, dtype=dt)


def _convert(a, memo: dict):
    """a's float32 copy when a is a 16-bit float array (lists and tuples of arrays too)."""
    if isinstance(a, np.ndarray):
        if a.dtype == float16 or a.dtype == bfloat16:
            hit = memo.get(id(a))
            if hit is None:  # the same array twice (an in-place out=x) gets one copy
                tmp = widen(a)
                # a read-only array's copy too: a kernel writing into it refuses it, as it
                # refuses a read-only float32 array (a writeable copy lost the update silently)
                tmp.flags.writeable = a.flags.writeable
                hit = memo[id(a)] = (a, tmp)
            return hit[1]
        if a.dtype.kind == "f":
            memo[None] = None  # a float32/float64 array too: a mixed call stays refused
        return a
    if isinstance(a, list | tuple) and any(isinstance(v, np.ndarray) for v in a):
        return type(a)(_convert(v, memo) for v in a)
    return a


def _round(r, dt):
    if isinstance(r, np.ndarray):
        return narrow(r, dt) if r.dtype == np.float32 else r
    if isinstance(r, tuple | list):
        return type(r)(_round(v, dt) for v in r)
    return r


def call_f32(error, fn, *args, **kwargs):
    """Run ``fn`` (which refused its arguments with ``error``) on float32 copies of its 16-bit
    float arrays: writeable ones get the kernel's writes back (in-place kernels, ``out=``), and
    float32 results come back in the arguments' 16-bit dtype. Calls mixing them with float32 or
    float64 arrays stay refused (the Python layer promotes first, as torch's type promotion)."""
    memo: dict = {}
    args = tuple(_convert(a, memo) for a in args)
    kwargs = {k: _convert(v, memo) for k, v in kwargs.items()}
    if not memo or None in memo:
        raise error
    if len({orig.dtype for orig, _ in memo.values()}) > 1:
        raise error  # float16 with bfloat16: promoted to float32 by the Python layer, as torch
    out = fn(*args, **kwargs)
    # (an np.empty placeholder's garbage NaNs would warn, as a cast of NaN to bfloat16 does)
    with np.errstate(invalid="ignore"):
        for orig, tmp in memo.values():
            if orig.flags.writeable:  # rounding back an unchanged copy gives the same bits
                orig[...] = tmp
        return _round(out, next(iter(memo.values()))[0].dtype)


class finfo:  # noqa: N801  (torch's name)
    """torch.finfo: a float (or complex: its parts') dtype's limits as Python floats, ``dtype``
    its name; finfo() is the default dtype's."""

    def __init__(self, type=None):  # noqa: A002  (torch's name)
        if type is None:
            from .tensor import get_default_dtype

            type = get_default_dtype()  # noqa: A001
        dt = np.dtype(type)
        if dt.kind == "c":
            dt = np.dtype(dt.char.lower())  # (complex64's parts are float32)
        if dt.kind != "f" and dt != bfloat16:
            raise BadDtype(
                "torch.finfo() requires a floating point input type. Use torch.iinfo to "
                f"handle '{dt}'"
            )
        f = ml_dtypes.finfo(dt)
        self.bits = int(f.bits)
        self.eps, self.max, self.min = float(f.eps), float(f.max), float(f.min)
        self.tiny = self.smallest_normal = float(f.smallest_normal)
        self.resolution = 10.0 ** -int(f.precision)  # (torch: exact powers of ten)
        self.dtype = str(dt)

    def __repr__(self) -> str:
        names = ("resolution", "min", "max", "eps", "smallest_normal", "tiny")
        body = ", ".join(f"{n}={getattr(self, n):g}" for n in names)
        return f"finfo({body}, dtype={self.dtype})"

    def __eq__(self, other) -> bool:  # (torch's compare by dtype and are unhashable)
        return type(other) is type(self) and self.dtype == other.dtype

    __hash__ = None


class iinfo:  # noqa: N801  (torch's name)
    """torch.iinfo: an integer dtype's bits, min and max as Python ints (bool refused)."""

    def __init__(self, type):  # noqa: A002  (torch's name)
        dt = np.dtype(type)
        if dt.kind == "b":
            raise BadDtype("torch.bool is not supported by torch.iinfo")
        if dt.kind not in "iu":
            raise BadDtype(
                f"torch.iinfo() requires an integer input type. Use torch.finfo to handle '{dt}'"
            )
        i = np.iinfo(dt)
        self.bits, self.min, self.max, self.dtype = int(i.bits), int(i.min), int(i.max), str(dt)

    def __repr__(self) -> str:
        return f"iinfo(min={self.min:g}, max={self.max:g}, dtype={self.dtype})"  # (torch's %g)

    def __eq__(self, other) -> bool:  # (torch's compare by dtype and are unhashable)
        return type(other) is type(self) and self.dtype == other.dtype

    __hash__ = None
