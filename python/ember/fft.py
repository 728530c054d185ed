"""Discrete Fourier transforms with torch.fft's names, arguments and gradients.

NumPy's pocketfft computes (in float64 / complex128: results are cast back to the input's
precision, float32 -> complex64 as torch). Three Functions carry the gradients: ``_FftC2C``
(fft/ifft and their n-d forms), ``_FftR2C`` (rfft) and ``_FftC2R`` (irfft); the Hermitian transforms
(hfft, ihfft) are written with them, as NumPy writes them. ``norm`` is torch's: "backward"
(default: 1/n on the inverse), "ortho" (1/sqrt(n) both ways) or "forward" (1/n on the forward).
"""

from __future__ import annotations

import operator

import numpy as np

from ember import _complex, _keywords, _lowp, ops
from ember._errors import BadDtype, BadShapeOrValue
from ember.autograd.function import Function, named
from ember.tensor import Tensor, get_default_dtype

_NORMS = (None, "backward", "ortho", "forward")
_SWAP = {None: "forward", "backward": "forward", "ortho": "ortho", "forward": "backward"}


def _norm(norm, op: str):
    if norm not in _NORMS:
        raise BadShapeOrValue(
            f"{op}: invalid normalization mode: {norm!r} (backward, ortho, forward)"
        )
    return norm or "backward"


def _resize(a: np.ndarray, axes, sizes) -> np.ndarray:
    """a trimmed or zero-padded to ``sizes`` along ``axes`` (torch's n / s)."""
    for ax, n in zip(axes, sizes):
        have = a.shape[ax]
        if have > n:
            a = a[(slice(None),) * ax + (slice(0, n),)]
        elif have < n:
            pad = [(0, 0)] * a.ndim
            pad[ax] = (0, n - have)
            a = np.pad(a, pad)
    return a


def _resize_t(t: Tensor, axes, sizes) -> Tensor:
    """_resize on a Tensor, in the graph (for create_graph: the backward's own graph)."""
    for ax, n in zip(axes, sizes):
        have = t.shape[ax]
        if have > n:
            t = ops.narrow(t, ax, 0, n)
        elif have < n:
            shape = list(t.shape)
            shape[ax] = n - have
            t = ops.cat([t, Tensor(np.zeros(shape, t.dtype))], ax)
    return t


class _FftC2C(Function):
    """y = F P x: P resizes x to s, F the (inverse) DFT over axes. ember's conjugated backward
    of complex outputs (ember/_complex.py) needs the transpose P^T F^T g, and F is symmetric."""

    @staticmethod
    def forward(ctx, x, axes, s, norm, inverse):
        ctx.meta = (x.shape, axes, norm, inverse)
        f = np.fft.ifftn if inverse else np.fft.fftn
        return f(_resize(x, axes, s), axes=axes, norm=norm).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        shape, axes, norm, inverse = ctx.meta
        f = np.fft.ifftn if inverse else np.fft.fftn
        gx = f(g, axes=axes, norm=norm).astype(g.dtype, copy=False)
        return _resize(gx, axes, [shape[a] for a in axes]), None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        shape, axes, norm, inverse = ctx.meta
        gx = _FftC2C.apply(g, axes, [g.shape[a] for a in axes], norm, inverse)
        return _resize_t(gx, axes, [shape[a] for a in axes]), None, None, None, None


class _FftR2C(Function):
    """y = H F P x for real x: H keeps the first n//2 + 1 bins of the last axis. The gradient
    is Re(P^T F^H H^T g): H^T fills the dropped bins with zeros."""

    @staticmethod
    def forward(ctx, x, axes, s, norm):
        ctx.meta = (x.shape, axes, s, norm)
        y = np.fft.rfftn(_resize(x, axes, s), axes=axes, norm=norm)
        return y.astype(_complex.complex_of(x.dtype), copy=False)

    @staticmethod
    def backward(ctx, g):
        shape, axes, s, norm = ctx.meta
        full = _resize(g, axes[-1:], s[-1:])  # the dropped bins as zeros
        gx = np.fft.fftn(full, axes=axes, norm=norm).real.astype(_complex.real_of(g.dtype))
        return _resize(gx, axes, [shape[a] for a in axes]), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        shape, axes, s, norm = ctx.meta
        full = _resize_t(g, axes[-1:], s[-1:])
        gx = _complex.real(_FftC2C.apply(full, axes, s, norm, False))
        return _resize_t(gx, axes, [shape[a] for a in axes]), None, None, None


class _FftC2R(Function):
    """y = irfftn of the half spectrum x resized to s (last axis: s[-1] // 2 + 1 bins). torch's
    gradient: the rfft of g with the forward's scaling, the bins that stand for two (all but
    the first and, for even n, the last) doubled."""

    @staticmethod
    def forward(ctx, x, axes, s, norm):
        half = list(s[:-1]) + [s[-1] // 2 + 1]
        ctx.meta = (x.shape, axes, half, norm)
        y = np.fft.irfftn(_resize(x, axes, half), s=s, axes=axes, norm=norm)
        return y.astype(_complex.real_of(x.dtype), copy=False)

    @staticmethod
    def backward(ctx, g):
        shape, axes, half, norm = ctx.meta
        gx = np.fft.rfftn(g, axes=axes, norm=_SWAP[norm]).astype(_complex.complex_of(g.dtype))
        gx *= _doubled(g.shape[axes[-1]], half[-1], axes[-1], gx.ndim, gx.real.dtype)
        return _resize(gx, axes, [shape[a] for a in axes]), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        shape, axes, half, norm = ctx.meta
        gx = _FftR2C.apply(g, axes, [g.shape[a] for a in axes], _SWAP[norm])
        scale = _doubled(g.shape[axes[-1]], half[-1], axes[-1], gx.ndim, gx.dtype)
        return _resize_t(gx * Tensor(scale), axes, [shape[a] for a in axes]), None, None, None


def _doubled(n: int, m: int, axis: int, ndim: int, dtype) -> np.ndarray:
    """The weights of irfft's gradient along axis: 2 for the m bins that stand for two (all but
    the first and, for even n, the last), 1 for the others; shaped to broadcast."""
    w = np.ones(m, _complex.real_of(dtype))
    w[1 : 1 + max(n - m, 0)] = 2
    return w.reshape((m,) + (1,) * (ndim - axis - 1))


# ---- argument handling -------------------------------------------------------------------


def _input(x, op: str, want: str) -> Tensor:
    """x as a tensor of the kind the transform reads: 'c' casts real input to complex (as
    torch), 'r' refuses complex input, 'any' keeps it; integers become the default dtype."""
    x = ops._tensor_operand(x)
    kind = x.data.dtype.kind
    if kind in "biu":
        x = ops.cast(x, get_default_dtype())
    elif x.data.dtype in (np.float16, _lowp.bfloat16):  # (torch's CPU FFT has no half kernel)
        name = "Half" if x.data.dtype == np.float16 else "BFloat16"
        raise BadDtype(f"{op}: Unsupported dtype {name} (convert with .float())")
    elif kind not in "fc":
        raise TypeError(f"{op}: expected a numeric tensor, got {x.dtype}")
    if want == "c" and x.data.dtype.kind == "f":
        x = ops.cast(x, _complex.complex_of(x.dtype))
    if want == "r" and x.data.dtype.kind == "c":
        raise BadDtype(f"{op}: expects a real input tensor, but got {x.dtype}")
    return x


def _plan(x: Tensor, s, dim, op: str, default_dims):
    """(axes, sizes): torch's rules for s and dim (s alone names the last len(s) dims)."""
    nd = x.ndim
    if dim is None and s is not None and not isinstance(s, int | np.integer) and len(s) > nd:
        raise BadShapeOrValue(f"{op}: got s with {len(s)} values but the input has {nd} dims")
    if dim is None:
        dims = list(range(nd - len(s), nd)) if s is not None else default_dims(nd)
    else:
        dims = [dim] if isinstance(dim, int | np.integer) else list(dim)
    axes = []
    for d in dims:
        d = ops._index_dim(d, op)  # a bool dim is refused (TypeError), as torch
        if not -nd <= d < nd:
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {nd} dims")
        axes.append(d % nd)
    if len(set(axes)) != len(axes):
        raise RuntimeError(f"{op}: dims must be unique, got {dims}")
    if s is None:
        sizes = [None] * len(axes)
    else:
        s = [s] if isinstance(s, int | np.integer) else list(s)
        if len(s) != len(axes):
            raise BadShapeOrValue(
                f"{op}: s has {len(s)} sizes for {len(axes)} dims (dim and s must match in length)"
            )
        sizes = [None if n == -1 else operator.index(n) for n in s]
    _check_points(op, [n for n in sizes if n is not None])
    return tuple(axes), sizes


def _check_points(op: str, sizes) -> None:
    for n in sizes:
        if n < 1:
            raise BadShapeOrValue(f"{op}: invalid number of data points ({n}) specified")


def _all_dims(nd):
    return list(range(nd))


def _last_two(nd):
    return [-2, -1]


def _index(op: str, n) -> int:
    """n as an int; a bool is refused, as torch's argument parser does."""
    if isinstance(n, bool | np.bool_):
        raise TypeError(f"{op}: n must be an int, not bool")
    return operator.index(n)


def _one(x, n, dim, op):
    if n is not None:  # (in s, -1 means "keep the size"; a 1-D transform's n has no such value)
        if _index(op, n) < 1:  # (torch checks dim first: an IndexError for a bad dim)
            _plan(ops._tensor_operand(x), None, dim, op, _all_dims)
        _check_points(op, [_index(op, n)])
    return (None if n is None else [n]), [dim]


def _c2c(op, x, s, dim, norm, inverse, default_dims=_all_dims):
    x = _input(x, op, "c")
    axes, sizes = _plan(x, s, dim, op, default_dims)
    sizes = [x.shape[a] if n is None else n for a, n in zip(axes, sizes)]
    if not axes:  # (torch's node is still the transform's)
        return named(ops.clone(x), "FftC2CBackward0")
    _check_points(op, sizes)
    return _FftC2C.apply(x, axes, sizes, _norm(norm, op), inverse)


def _r2c(op, x, s, dim, norm, default_dims=_all_dims):
    x = _input(x, op, "r")
    axes, sizes = _plan(x, s, dim, op, default_dims)
    if not axes:
        raise BadShapeOrValue(f"{op}: must transform at least one axis")
    sizes = [x.shape[a] if n is None else n for a, n in zip(axes, sizes)]
    _check_points(op, sizes)
    return _FftR2C.apply(x, axes, sizes, _norm(norm, op))


def _c2r(op, x, s, dim, norm, default_dims=_all_dims):
    x = _input(x, op, "c")
    axes, sizes = _plan(x, s, dim, op, default_dims)
    if not axes:
        raise BadShapeOrValue(f"{op}: must transform at least one axis")
    # without s, the last dim's output length is 2 * (m - 1), as torch
    sizes = [x.shape[a] if n is None else n for a, n in zip(axes[:-1], sizes[:-1])] + [
        2 * (x.shape[axes[-1]] - 1) if sizes[-1] is None else sizes[-1]
    ]
    _check_points(op, sizes)
    return _FftC2R.apply(x, axes, sizes, _norm(norm, op))


# ---- torch.fft ----------------------------------------------------------------------------


def fft(input, n=None, dim: int = -1, norm=None) -> Tensor:  # noqa: A002
    """The 1-D discrete Fourier transform along ``dim`` (real input becomes complex)."""
    y = _c2c("fft", input, *_one(input, n, dim, "fft"), norm, False)
    return named(y, "FftR2CBackward0") if _is_real(input) else y  # (torch's 1-D real path)


def ifft(input, n=None, dim: int = -1, norm=None) -> Tensor:  # noqa: A002
    y = _c2c("ifft", input, *_one(input, n, dim, "ifft"), norm, True)
    return named(y, "ConjBackward0") if _is_real(input) else y  # (torch: conj of a real fft)


def _is_real(x) -> bool:
    return isinstance(x, Tensor) and x.data.dtype.kind != "c"


def fft2(input, s=None, dim=(-2, -1), norm=None) -> Tensor:  # noqa: A002
    return _c2c("fft2", input, s, dim, norm, False, _last_two)


def ifft2(input, s=None, dim=(-2, -1), norm=None) -> Tensor:  # noqa: A002
    return _c2c("ifft2", input, s, dim, norm, True, _last_two)


def fftn(input, s=None, dim=None, norm=None) -> Tensor:  # noqa: A002
    return _c2c("fftn", input, s, dim, norm, False)


def ifftn(input, s=None, dim=None, norm=None) -> Tensor:  # noqa: A002
    return _c2c("ifftn", input, s, dim, norm, True)


def rfft(input, n=None, dim: int = -1, norm=None) -> Tensor:  # noqa: A002
    """The FFT of real input: the n // 2 + 1 non-negative frequencies."""
    return _r2c("rfft", input, *_one(input, n, dim, "rfft"), norm)


def irfft(input, n=None, dim: int = -1, norm=None) -> Tensor:  # noqa: A002
    """The inverse of rfft: a real signal of length n (default 2 * (m - 1))."""
    return _c2r("irfft", input, *_one(input, n, dim, "irfft"), norm)


def rfft2(input, s=None, dim=(-2, -1), norm=None) -> Tensor:  # noqa: A002
    return _r2c("rfft2", input, s, dim, norm, _last_two)


def irfft2(input, s=None, dim=(-2, -1), norm=None) -> Tensor:  # noqa: A002
    return _c2r("irfft2", input, s, dim, norm, _last_two)


def rfftn(input, s=None, dim=None, norm=None) -> Tensor:  # noqa: A002
    return _r2c("rfftn", input, s, dim, norm)


def irfftn(input, s=None, dim=None, norm=None) -> Tensor:  # noqa: A002
    return _c2r("irfftn", input, s, dim, norm)


# Hermitian transforms, as NumPy writes them: hfft(x) = irfft(conj(x)) with the scaling
# swapped, ihfft(x) = conj(rfft(x)) with the scaling swapped.


def _check_norm(norm, op):
    _norm(norm, op)
    return _SWAP[norm]


def hfft(input, n=None, dim: int = -1, norm=None) -> Tensor:  # noqa: A002
    """The FFT of a Hermitian-symmetric signal given by its first half: a real result."""
    x = _input(input, "hfft", "c")
    return _c2r("hfft", _complex.conj(x), *_one(x, n, dim, "hfft"), _check_norm(norm, "hfft"))


def ihfft(input, n=None, dim: int = -1, norm=None) -> Tensor:  # noqa: A002
    """The inverse of hfft: the n // 2 + 1 first bins of the inverse FFT of real input."""
    y = _r2c("ihfft", input, *_one(input, n, dim, "ihfft"), _check_norm(norm, "ihfft"))
    return _complex.conj(y)


def hfft2(input, s=None, dim=(-2, -1), norm=None) -> Tensor:  # noqa: A002
    x = _input(input, "hfft2", "c")
    return _c2r("hfft2", _complex.conj(x), s, dim, _check_norm(norm, "hfft2"), _last_two)


def _ihfftn(op, x, s, dim, norm, default_dims=_all_dims):
    axes = _plan(_input(x, op, "any"), s, dim, op, default_dims)[0]  # (dims first, as torch)
    y = _complex.conj(_r2c(op, x, s, dim, _check_norm(norm, op), default_dims))
    return named(y, "FftC2CBackward0") if len(axes) > 1 else y  # (torch's last node)


def ihfft2(input, s=None, dim=(-2, -1), norm=None) -> Tensor:  # noqa: A002
    return _ihfftn("ihfft2", input, s, dim, norm, _last_two)


def hfftn(input, s=None, dim=None, norm=None) -> Tensor:  # noqa: A002
    x = _input(input, "hfftn", "c")
    return _c2r("hfftn", _complex.conj(x), s, dim, _check_norm(norm, "hfftn"))


def ihfftn(input, s=None, dim=None, norm=None) -> Tensor:  # noqa: A002
    return _ihfftn("ihfftn", input, s, dim, norm)


def _freq_dtype(dtype):
    dt = get_default_dtype() if dtype is None else np.dtype(dtype)
    if dt.kind not in "fc":
        raise TypeError(f"fftfreq: dtype must be floating point, got {dt}")
    return dt


def _freqs(op: str, n, d, dtype, half: bool) -> np.ndarray:
    """torch's frequencies: the integer bins in ``dtype`` times that dtype's 1 / (n d) (a d
    of 0 gives infinities and a NaN, as torch's, not an error)."""
    n = _index(op, n)
    if n < 0:  # (torch's RuntimeError: a negative dimension)
        raise BadShapeOrValue(f"{op}: n must be non-negative, got {n}")
    dt = _freq_dtype(dtype)
    if half:
        k = np.arange(n // 2 + 1)
    else:
        k = np.concatenate([np.arange((n - 1) // 2 + 1), np.arange(-(n // 2), 0)])
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.float64(1.0) / np.float64(n * float(d))
        return k.astype(dt) * dt.type(scale)


def fftfreq(n: int, d: float = 1.0, *, dtype=None, requires_grad: bool = False, **_device):
    """The sample frequencies of an n-point FFT with sample spacing d: [0, 1, ..., -1] / (d n)."""
    return Tensor(_freqs("fftfreq", n, d, dtype, False), requires_grad=requires_grad)


def rfftfreq(n: int, d: float = 1.0, *, dtype=None, requires_grad: bool = False, **_device):
    """The non-negative sample frequencies of rfft: [0, 1, ..., n // 2] / (d n)."""
    return Tensor(_freqs("rfftfreq", n, d, dtype, True), requires_grad=requires_grad)


def _shift(x, dim, sign: int) -> Tensor:
    x = ops._tensor_operand(x)
    dims = range(x.ndim) if dim is None else [dim] if isinstance(dim, int | np.integer) else dim
    dims = [ops._dim(d, x.ndim, "fftshift") for d in dims]
    if not dims:
        return x
    shifts = [(x.shape[d] // 2) if sign > 0 else -(x.shape[d] // 2) for d in dims]
    return ops.roll(x, shifts, dims)


def fftshift(input, dim=None) -> Tensor:  # noqa: A002
    """The zero frequency moved to the centre of ``dim`` (all dims by default)."""
    return _shift(input, dim, 1)


def ifftshift(input, dim=None) -> Tensor:  # noqa: A002
    """The inverse of fftshift."""
    return _shift(input, dim, -1)


__all__ = [
    "fft", "ifft", "fft2", "ifft2", "fftn", "ifftn", "rfft", "irfft", "rfft2", "irfft2", "rfftn",
    "irfftn", "hfft", "ihfft", "hfft2", "ihfft2", "hfftn", "ihfftn", "fftfreq", "rfftfreq",
    "fftshift", "ifftshift",
]  # fmt: skip

_keywords.install(globals(), [n for n in __all__ if not n.endswith("shift")])
