"""Complex tensors (complex64 / complex128, stored as NumPy's complex arrays) and their autograd.

Gradients follow PyTorch's convention: for a real loss L of a complex z, ``z.grad`` holds
dL/dRe(z) + i dL/dIm(z). ember's ops write their backward as the chain rule of a holomorphic
function, g * f'(z); for a complex output, Function.apply replaces that node's backward by
conj(backward(conj(g))) = g * conj(f'(z)) (``conj_grads``), which is torch's rule for every
holomorphic op and for every real-linear one with real coefficients (reshape, index, sum, ...).
The ops that are neither (abs, angle, real, imag, conj, view_as_real, complex, polar, the casts
between real and complex) set ``_complex_native`` and write torch's rule themselves.
"""

from __future__ import annotations

import warnings

import numpy as np

from ember._errors import BadDtype, BadShapeOrValue, not_implemented
from ember.autograd.engine import unbroadcast
from ember.autograd.function import Function, named
from ember.tensor import Tensor, get_default_dtype

# ---- dtypes --------------------------------------------------------------------------------


class _ComplexHalf:
    """torch.complex32 (chalf): NumPy, ember's storage, has no 32-bit complex dtype, so ember
    names it but refuses it. NumPy reads a dtype argument's ``.dtype``, so every factory,
    conversion and op that takes ``dtype=ember.complex32`` raises this one refusal."""

    itemsize = 4
    is_complex = True
    is_floating_point = False
    is_signed = True

    @property
    def dtype(self):
        raise not_implemented(
            "ember",
            "complex32",
            "ember stores tensors as NumPy arrays, which have no 32-bit complex dtype; "
            "use complex64 (cfloat)",
        )

    def __repr__(self) -> str:
        return "ember.complex32"

    def __reduce__(self) -> str:
        return "complex32"  # (one object: pickle and copy give it back)


complex32 = chalf = _ComplexHalf()


def complex_of(dt) -> np.dtype:
    """The complex dtype whose parts are ``dt`` (float16 and float32 -> complex64)."""
    dt = np.dtype(dt)
    if dt.kind == "c":
        return dt
    return np.dtype(np.complex128 if dt == np.float64 else np.complex64)


def real_of(dt) -> np.dtype:
    dt = np.dtype(dt)
    return np.dtype(np.float64 if dt == np.complex128 else np.float32) if dt.kind == "c" else dt


def default_complex() -> np.dtype:
    """torch's default complex dtype: complex128 when the default float is float64."""
    return complex_of(get_default_dtype())


def refuse(op: str, *xs) -> None:
    """torch's "not implemented for 'ComplexFloat'" (NotImplementedError, a RuntimeError; and
    ember's TypeError): ops with no meaning (ordering: max, sort, clamp, ...) or no support
    for complex input."""
    for x in xs:
        dt = getattr(x, "dtype", None)
        if (dt is not None and dt.kind == "c") or type(x) is complex:
            raise not_implemented(op, np.dtype(dt or "c16"))


# ---- the conjugated backward of complex-valued nodes ---------------------------------------


def _conj(g):
    if g is None:
        return None
    if isinstance(g, Tensor):
        return conj(g) if g.data.dtype.kind == "c" else g
    return np.conj(g) if g.dtype.kind == "c" else g


def conj_grads(ctx, cls) -> None:
    """Give ``ctx`` (a node of ``cls`` with a complex output) torch's gradient convention:
    its backward (and backward_graph) run on conj(g) and return conjugated gradients."""
    backward, backward_graph = cls.backward, cls.backward_graph

    def conj_backward(node, *grads):
        out = backward(node, *map(_conj, grads))
        return tuple(map(_conj, out)) if isinstance(out, tuple) else _conj(out)

    def conj_backward_graph(node, *grads):
        out = backward_graph(node, *map(_conj, grads))
        return tuple(map(_conj, out)) if isinstance(out, tuple) else _conj(out)

    ctx.backward = conj_backward
    ctx.backward_graph = ctx._conj_backward_graph = conj_backward_graph  # (forward AD reads it)


# ---- parts, conjugate, modulus, argument ---------------------------------------------------


def _native(cls):
    cls._complex_native = True
    return cls


def _c_zeros(shape, dt) -> np.ndarray:
    return np.zeros(shape, complex_of(dt))


@_native
class Part(Function):
    """z.real or z.imag, a view (writes through it reach z, as torch's); the gradient of a
    part is g or i g."""

    @staticmethod
    def forward(ctx, z, part):
        ctx.meta = (z.dtype, part)
        return getattr(z, part)

    @staticmethod
    def backward(ctx, g):
        dt, part = ctx.meta
        out = _c_zeros(g.shape, dt)
        setattr(out, part, g)
        return out, None

    @staticmethod
    def backward_graph(ctx, g):
        z = zeros_like_real(g)
        return (complex(g, z) if ctx.meta[1] == "real" else complex(z, g)), None


def zeros_like_real(g: Tensor) -> Tensor:
    return Tensor._make(np.zeros(g.shape, g.dtype), False, None, 0)


def real(x) -> Tensor:
    """The real part, a view (a real tensor is returned as it is, as torch's)."""
    x = _tensor(x)
    return Part.apply(x, "real") if x.data.dtype.kind == "c" else x


def imag(x) -> Tensor:
    """The imaginary part, a view; real tensors have none (RuntimeError, as torch)."""
    x = _tensor(x)
    if x.data.dtype.kind != "c":
        raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
    return Part.apply(x, "imag")


def set_part(x: Tensor, part: str, value) -> None:
    """``x.real = v`` / ``x.imag = v``: written into x's storage, as torch's setters."""
    if x.data.dtype.kind != "c":
        if part == "imag":
            raise RuntimeError("imag is not implemented for tensors with non-complex dtypes.")
        x.copy_(value)
        return
    x._needs_record(None, rebind=False)  # graph tensors: refused, not wrong gradients
    v = value.data if isinstance(value, Tensor) else value
    getattr(x.data, part)[...] = v


@_native
class Conj(Function):
    @staticmethod
    def forward(ctx, z):
        return np.conj(z)

    @staticmethod
    def backward(ctx, g):
        return np.conj(g)

    @staticmethod
    def backward_graph(ctx, g):
        return conj(g)


def conj(x) -> Tensor:
    """The complex conjugate. ember conjugates at once (a new tensor, ``is_conj()`` False)
    where torch sets a lazy flag; the values and gradients are the same. Real tensors are
    returned as they are, as torch's."""
    x = _tensor(x)
    return Conj.apply(x) if x.data.dtype.kind == "c" else x


def _sgn(z: np.ndarray) -> np.ndarray:
    """z / |z|, and 0 at 0 (torch.sgn)."""
    a = np.abs(z)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(a == 0, 0, z / np.where(a == 0, 1, a)).astype(z.dtype)


@_native
class Abs(Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return np.abs(z)

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        return g * _sgn(z)  # d|z|: z / |z|, 0 at 0 (as torch)

    @staticmethod
    def backward_graph(ctx, g):
        from ember.autograd import graph

        (z,) = graph.inputs(ctx, *ctx.saved_tensors)
        return g * sgn(z)


def abs(x) -> Tensor:  # noqa: A001
    return Abs.apply(x)


@_native
class Angle(Function):
    @staticmethod
    def forward(ctx, z):
        ctx.save_for_backward(z)
        return np.angle(z).astype(real_of(z.dtype))

    @staticmethod
    def backward(ctx, g):
        (z,) = ctx.saved_tensors
        a2 = (z * np.conj(z)).real
        with np.errstate(invalid="ignore", divide="ignore"):  # d angle: i z / |z|^2, 0 at 0
            return np.where(a2 == 0, 0, g * 1j * z / np.where(a2 == 0, 1, a2)).astype(z.dtype)

    @staticmethod
    def backward_graph(ctx, g):
        from ember import ops
        from ember.autograd import graph

        (z0,) = ctx.saved_tensors
        (z,) = graph.inputs(ctx, z0)
        zero = graph.constant(z0 == 0)
        a2 = real(z * conj(z)) + graph.constant((z0 == 0).astype(real_of(z0.dtype)))
        return ops.where(zero, 0.0, g * 1j * z / a2)


def angle(x) -> Tensor:
    return Angle.apply(x)


def sgn(x) -> Tensor:
    """z / |z| (0 at 0): a composite, so its gradient is torch's."""
    a = abs(x)
    safe = Tensor._make(np.where(a.data == 0, 1, 0).astype(a.dtype), False, None, 0)
    from ember import ops

    y = ops.where(Tensor._make(a.data == 0, False, None, 0), 0.0, x / (a + safe))
    return named(y, "SgnBackward0")


# ---- building complex tensors ----------------------------------------------------------------


@_native
class ViewAsReal(Function):
    @staticmethod
    def forward(ctx, z):
        r = z.real
        return np.lib.stride_tricks.as_strided(
            r, z.shape + (2,), r.strides + (r.itemsize,), writeable=z.flags.writeable
        )

    @staticmethod
    def backward(ctx, g):
        return _as_complex(np.ascontiguousarray(g))

    @staticmethod
    def backward_graph(ctx, g):
        return view_as_complex(g.contiguous())


def view_as_real(x) -> Tensor:
    """A complex tensor's (..., 2) real view: real and imaginary parts in the last dim."""
    x = _tensor(x)
    if x.data.dtype.kind != "c":
        raise RuntimeError("view_as_real is only supported for complex tensors")
    return ViewAsReal.apply(x)


def _as_complex(a: np.ndarray) -> np.ndarray:
    return a.view(complex_of(a.dtype))[..., 0]


@_native
class ViewAsComplex(Function):
    @staticmethod
    def forward(ctx, x):
        return _as_complex(x)

    @staticmethod
    def backward(ctx, g):
        return np.ascontiguousarray(ViewAsReal.forward(None, g))

    @staticmethod
    def backward_graph(ctx, g):
        return view_as_real(g)


def view_as_complex(x) -> Tensor:
    """A (..., 2) float32/float64 tensor seen as complex (last dim: real, imaginary)."""
    x = _tensor(x)
    a = x.data
    if a.dtype not in (np.float32, np.float64):
        raise BadDtype(f"view_as_complex: expected a float32 or float64 tensor, got {a.dtype}")
    if a.ndim == 0 or a.shape[-1] != 2:
        raise RuntimeError(f"view_as_complex: the last dim must have size 2, got shape {a.shape}")
    if a.size and a.strides[-1] != a.itemsize:  # (an empty array's strides are arbitrary)
        raise RuntimeError("view_as_complex: the last dimension must have stride 1")
    if a.size and any(s % (2 * a.itemsize) for s in a.strides[:-1]):
        raise RuntimeError("view_as_complex: the other strides must be divisible by 2")
    return ViewAsComplex.apply(x)


@_native
class Complex(Function):
    @staticmethod
    def forward(ctx, re, im):
        ctx.shapes = (re.shape, im.shape)
        out = np.empty(np.broadcast_shapes(re.shape, im.shape), complex_of(re.dtype))
        out.real, out.imag = re, im
        return out

    @staticmethod
    def backward(ctx, g):
        sr, si = ctx.shapes
        return unbroadcast(np.ascontiguousarray(g.real), sr), unbroadcast(
            np.ascontiguousarray(g.imag), si
        )

    @staticmethod
    def backward_graph(ctx, g):
        from ember.autograd import graph

        sr, si = ctx.shapes
        return graph.sum_to(real(g), sr), graph.sum_to(imag(g), si)


def _real_pair(op: str, a, b):
    a, b = _tensor(a), _tensor(b)
    if op == "polar" and np.float16 in (a.data.dtype, b.data.dtype):  # (torch: no kernel)
        raise not_implemented(op, np.dtype(np.float16))
    for x in (a, b):
        if x.data.dtype not in (np.float32, np.float64):
            raise BadDtype(f"{op}: expected float32 or float64 tensors, got {x.dtype}")
    if a.dtype != b.dtype:
        raise BadDtype(f"{op}: both tensors must have one dtype, got {a.dtype} and {b.dtype}")
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise BadShapeOrValue(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a, b


def complex(real, imag) -> Tensor:  # noqa: A001  (torch.complex)
    """real + i imag, elementwise (float32 -> complex64, float64 -> complex128)."""
    return Complex.apply(*_real_pair("complex", real, imag))


def polar(abs, angle) -> Tensor:  # noqa: A002
    """abs * (cos(angle) + i sin(angle)), elementwise (torch.polar)."""
    from ember import ops

    r, t = _real_pair("polar", abs, angle)
    return named(complex(r * ops.cos(t), r * ops.sin(t)), "PolarBackward0")


def _tensor(x) -> Tensor:
    from ember.ops import _tensor_operand

    return _tensor_operand(x)


# ---- casts, random draws, elementwise maps the C++ kernels do not have ------------------------


def to_real(x: Tensor, dtype) -> Tensor:
    """complex -> real cast: the real part, with torch's warning."""
    warnings.warn(
        "Casting complex values to real discards the imaginary part", UserWarning, stacklevel=3
    )
    return real(x)


def randn(draw, shape, dtype) -> np.ndarray:
    """torch's complex normal: real and imaginary parts each N(0, 1/2) (so E|z|^2 = 1)."""
    parts = draw(shape + (2,), dtype=real_of(dtype)) * real_of(dtype).type(np.sqrt(0.5))
    return _as_complex(parts)


def tanh(x: Tensor) -> Tensor:
    from ember.ops import Elementwise

    return named(Elementwise.apply(x, np.tanh, _tanh_grad), "TanhBackward0")


def _tanh_grad(x, y):
    return 1 - y * y


def sigmoid(x: Tensor) -> Tensor:
    from ember.ops import Elementwise

    return named(Elementwise.apply(x, _sigmoid, _sigmoid_grad), "SigmoidBackward0")


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _sigmoid_grad(x, y):
    return y * (1 - y)


def join(tensors, dim: int, stack: bool) -> Tensor:
    """cat / stack of complex tensors: of their (..., 2) real views, by the C++ copy."""
    from ember import ops

    nd = tensors[0].ndim + stack
    if not -max(nd, 1) <= dim < max(nd, 1):
        raise IndexError(f"{'stack' if stack else 'cat'}: dim {dim} is out of range for {nd} dims")
    return view_as_complex(ops._join([view_as_real(t) for t in tensors], dim % nd, stack))


_tanh_grad.graph = _tanh_grad  # (their Tensor forms for create_graph: the same expressions)
_sigmoid_grad.graph = _sigmoid_grad

# torch's x.cfloat() / x.cdouble(), beside x.float() / x.double()
Tensor.cfloat = lambda self: self.to(np.complex64)
Tensor.cdouble = lambda self: self.to(np.complex128)
