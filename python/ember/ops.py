"""Tensor math as autograd Functions: arithmetic, reductions, views, indexing, joining.

These are the cheap, memory-bound ops the design lets NumPy do (section 1); the matrix product
goes to the C++ GEMM. Each Function's forward and backward sit side by side, its functional
wrapper right after it. Broadcasting ops reduce gradients with ``unbroadcast``.
"""

from __future__ import annotations

import builtins
import operator
from collections import namedtuple

import numpy as np

from ember import _C
from ember.autograd.engine import unbroadcast
from ember.autograd.function import Function
from ember.tensor import Tensor, get_default_dtype

_shape = np.shape


def _data(x):
    return x.data if isinstance(x, Tensor) else x


def _check_broadcast(op: str, a, b) -> None:
    try:
        np.broadcast_shapes(_shape(a), _shape(b))
    except ValueError:
        raise ValueError(f"{op}: shapes {_shape(a)} and {_shape(b)} do not broadcast") from None


def _kind(x) -> str:
    return x.dtype.kind if isinstance(x, Tensor | np.ndarray) else np.asarray(x).dtype.kind


def _to_dtype(x, dtype):
    if isinstance(x, Tensor):
        return Tensor._make(x.data.astype(dtype), False, None, 0)
    if isinstance(x, np.ndarray):
        return x.astype(dtype)
    return x  # a Python int or bool stays weak, as in PyTorch


def _promote(a, b):
    """PyTorch's category rule: when a float meets an integer or bool tensor, the result takes the
    float operand's dtype (the default dtype for a Python float), not NumPy's float64."""
    ka, kb = _kind(a), _kind(b)
    if ka == "f" and kb in "biu":
        b = _to_dtype(b, a.dtype if isinstance(a, Tensor | np.ndarray) else get_default_dtype())
    elif kb == "f" and ka in "biu":
        a = _to_dtype(a, b.dtype if isinstance(b, Tensor | np.ndarray) else get_default_dtype())
    return a, b


def _broadcasting(fn, op: str, a, b) -> Tensor:
    """Apply a broadcasting Function; a shape mismatch becomes a ValueError naming both shapes."""
    a, b = _promote(_as_operand(a), _as_operand(b))
    try:
        return fn.apply(a, b)
    except ValueError:
        _check_broadcast(op, _data(a), _data(b))
        raise


def _tensor_operand(x) -> Tensor:
    """Any array-like as a Tensor (a NumPy array is wrapped, not copied): for the ops that read
    the operand's dtype, shape or data."""
    return x if isinstance(x, Tensor) else Tensor(x)


def _as_operand(x):
    """Lists and other array-likes become arrays; Tensors, arrays and scalars pass through."""
    if isinstance(x, np.generic) and x.dtype.kind in "biuf":
        # a NumPy scalar is a Python scalar to PyTorch: x * np.float64(2) stays float32
        return x.item()
    if isinstance(x, Tensor | np.ndarray | int | float | bool):
        return x
    return Tensor(x)


# ---- arithmetic ---------------------------------------------------------------------------


class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return np.add(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(g, sb) if nb else None)


def add(a, b, *, alpha=1) -> Tensor:
    return _broadcasting(Add, "add", a, b if alpha == 1 else mul(b, alpha))


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.shapes = (_shape(a), _shape(b))
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        sa, sb = ctx.shapes
        na, nb = ctx.needs_input_grad
        return (unbroadcast(g, sa) if na else None, unbroadcast(-g, sb) if nb else None)


def sub(a, b, *, alpha=1) -> Tensor:
    return _broadcasting(Sub, "sub", a, b if alpha == 1 else mul(b, alpha))


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        return (
            unbroadcast(g * b, _shape(a)) if na else None,
            unbroadcast(g * a, _shape(b)) if nb else None,
        )


def mul(a, b) -> Tensor:
    return _broadcasting(Mul, "mul", a, b)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        with np.errstate(divide="ignore", invalid="ignore"):  # x/0 is inf or nan, silently
            return np.true_divide(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        with np.errstate(divide="ignore", invalid="ignore"):
            ga = g / b if na else None
            gb = -g * a / (b * b) if nb else None
        return (
            unbroadcast(ga, _shape(a)) if na else None,
            unbroadcast(gb, _shape(b)) if nb else None,
        )


def div(a, b, *, rounding_mode=None) -> Tensor:
    if rounding_mode is not None:  # 'trunc' or 'floor': see the pointwise API section
        return _rounded_div(a, b, rounding_mode)
    a, b = _as_operand(a), _as_operand(b)
    if _kind(a) in "biu" and _kind(b) in "biu":  # true division of integers gives the default dtype
        a = _to_dtype(a, get_default_dtype()) if isinstance(a, Tensor | np.ndarray) else float(a)
    return _broadcasting(Div, "div", a, b)


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        y = np.power(a, b)
        ctx.save_for_backward(a, b, y)
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:
            # d(a^b)/da = b * a^(b-1), and 0 where b == 0 (as PyTorch: 0 ** 0 has gradient 0).
            with np.errstate(divide="ignore", invalid="ignore"):
                da = np.where(b == 0, 0, b * np.power(a, b - 1)).astype(g.dtype, copy=False)
            ga = unbroadcast(g * da, _shape(a))
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                loga = np.where(
                    a > 0, np.log(np.where(a > 0, a, 1)), np.where(a == 0, -np.inf, np.nan)
                )
            gb = unbroadcast(np.where(y == 0, 0, g * y * loga), _shape(b))
        return ga, gb


def pow(a, b) -> Tensor:  # noqa: A001 (PyTorch's name)
    a, b = _as_operand(a), _as_operand(b)
    if isinstance(a, Tensor) and a.data.dtype.kind in "iu" and isinstance(b, int) and b < 0:
        raise ValueError("pow: integers to negative integer powers are not allowed")
    return _broadcasting(Pow, "pow", a, b)


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


def neg(a) -> Tensor:
    return Neg.apply(_as_operand(a))


# ---- pointwise API: comparisons, arithmetic forms, special functions --------------------------
# PyTorch's everyday pointwise functions. Each is both ember.X and Tensor.X (via _EXTRAS); the
# in-place X_ methods are made from them in tensor.py. Smooth ones are `Elementwise` (unary) or
# `Binary` Functions with their derivative beside f; piecewise-constant and bool-valued ones
# give results outside the graph, as the comparisons do.


def _operands(op: str, a, b):
    """Both operands with PyTorch's category promotion, after a broadcast check that names the
    shapes; a non-numeric operand is a TypeError."""
    for x in (a, b):
        if isinstance(x, str | bytes | dict | set | type(None)):
            raise TypeError(f"{op}: expected a tensor or a number, got {type(x).__name__}")
    a, b = _promote(_as_operand(a), _as_operand(b))
    _check_broadcast(op, _data(a), _data(b))
    return a, b


def _float_pair_operands(op: str, a, b):
    """As _operands, then integer/bool pairs become the default dtype (float-valued maths)."""
    a, b = _operands(op, a, b)
    if _kind(a) in "biu" and _kind(b) in "biu":
        a = _to_dtype(a, get_default_dtype()) if isinstance(a, Tensor | np.ndarray) else float(a)
        a, b = _promote(a, b)
    return a, b


def _bool_result(name: str, ufunc):
    def op(input, other) -> Tensor:  # noqa: A002  (PyTorch's names)
        a, b = _operands(name, input, other)
        return Tensor._make(np.asarray(ufunc(_data(a), _data(b))), False, None, 0)

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


def logical_not(input) -> Tensor:  # noqa: A002
    return Tensor._make(np.asarray(np.logical_not(_data(_tensor_operand(input)))), False, None, 0)


def isclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):  # noqa: A002
    """|input - other| <= atol + rtol * |other| elementwise (a bool tensor)."""
    a, b = _operands("isclose", input, other)
    return Tensor(np.asarray(np.isclose(_data(a), _data(b), rtol, atol, equal_nan)))


def _bool_unary(name: str, f):
    def op(input) -> Tensor:  # noqa: A002
        return Tensor._make(np.asarray(f(_tensor_operand(input).data)), False, None, 0)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (a bool tensor, no gradient)."
    return op


isneginf = _bool_unary("isneginf", np.isneginf)
isposinf = _bool_unary("isposinf", np.isposinf)
isreal = _bool_unary("isreal", lambda a: np.ones(a.shape, bool))  # ember holds no complex data
signbit = _bool_unary("signbit", np.signbit)


class Binary(Function):
    """y = f(a, b) with broadcasting; df(a, b, y, g) gives both (unreduced) input gradients."""

    @staticmethod
    def forward(ctx, a, b, f, df):
        with np.errstate(all="ignore"):  # the operands' dtype (np.log(b) may widen a scalar)
            y = np.asarray(f(a, b)).astype(np.result_type(a, b), copy=False)
        ctx.save_for_backward(a, b, y)
        ctx.df = df
        return y

    @staticmethod
    def backward(ctx, g):
        a, b, y = ctx.saved_tensors
        na, nb = ctx.needs_input_grad[:2]
        with np.errstate(all="ignore"):
            ga, gb = ctx.df(a, b, y, g)
        return (
            unbroadcast(np.asarray(ga, g.dtype), _shape(a)) if na else None,
            unbroadcast(np.asarray(gb, g.dtype), _shape(b)) if nb else None,
            None,
            None,
        )


def _binary(name: str, f, df, floating: bool = True):
    def op(input, other) -> Tensor:  # noqa: A002
        pair = _float_pair_operands if floating else _operands
        return Binary.apply(*pair(name, input, other), f, df)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (broadcasting, with gradients)."
    return op


def _zero_grads(a, b, y, g):
    return np.zeros_like(g), np.zeros_like(g)


def _fmax_grads(a, b, y, g):  # ties and a NaN in b give a the gradient, as torch.fmax
    pick_a = (a == y) | np.isnan(b)
    return g * pick_a, g * ~pick_a


def _copysign_grads(a, b, y, g):
    return g * np.where(a == 0, 0, np.sign(a) * np.where(np.signbit(b), -1, 1)), 0 * g


fmax = _binary("fmax", np.fmax, _fmax_grads, floating=False)
fmin = _binary("fmin", np.fmin, _fmax_grads, floating=False)
atan2 = arctan2 = _binary(
    "atan2", np.arctan2, lambda a, b, y, g: (g * b / (a * a + b * b), -g * a / (a * a + b * b))
)
hypot = _binary("hypot", np.hypot, lambda a, b, y, g: (g * a / y, g * b / y))
logaddexp = _binary(
    "logaddexp", np.logaddexp, lambda a, b, y, g: (g * np.exp(a - y), g * np.exp(b - y))
)
logaddexp2 = _binary(
    "logaddexp2", np.logaddexp2, lambda a, b, y, g: (g * np.exp2(a - y), g * np.exp2(b - y))
)
copysign = _binary("copysign", np.copysign, _copysign_grads)
xlogy = _binary(
    "xlogy",
    lambda a, b: np.where((a == 0) & ~np.isnan(b), 0, a * np.log(b)),
    lambda a, b, y, g: (g * np.where(a == 0, 0, np.log(b)), g * a / b),
)
_remainder = _binary(
    "remainder", np.remainder, lambda a, b, y, g: (g, -g * np.floor_divide(a, b)), floating=False
)
_fmod = _binary("fmod", np.fmod, lambda a, b, y, g: (g, -g * np.trunc(a / b)), floating=False)


def _check_int_divisor(op: str, a, b) -> None:
    if _kind(a) in "biu" and _kind(b) in "biu" and np.any(np.asarray(_data(b)) == 0):
        raise RuntimeError(f"{op}: ZeroDivisionError (integer division by zero)")


def remainder(input, other) -> Tensor:  # noqa: A002
    """Python's modulo: the result takes the divisor's sign (torch.remainder)."""
    _check_int_divisor("remainder", input, other)
    return _remainder(input, other)


def fmod(input, other) -> Tensor:  # noqa: A002
    """C's fmod: the result takes the dividend's sign (torch.fmod)."""
    _check_int_divisor("fmod", input, other)
    return _fmod(input, other)


def _rounded_div(input, other, rounding_mode):  # noqa: A002
    rnd = {"trunc": np.trunc, "floor": np.floor}.get(rounding_mode)
    if rnd is None:
        raise ValueError(
            f"div: rounding_mode must be None, 'trunc' or 'floor', got {rounding_mode!r}"
        )
    a, b = _operands("div", input, other)
    _check_int_divisor("div", a, b)
    if _kind(a) in "biu" and _kind(b) in "biu":  # exact integer division, integer result
        q = np.floor_divide if rounding_mode == "floor" else lambda x, y: np.trunc(x / y)
        out = np.asarray(q(_data(a), _data(b)))
        return Tensor(out.astype(np.result_type(_data(a), _data(b)), copy=False))
    return Binary.apply(a, b, lambda x, y: rnd(x / y), _zero_grads)  # zero gradient, as torch


def floor_divide(input, other) -> Tensor:  # noqa: A002
    """Division rounded down (torch.floor_divide), no gradient."""
    return _rounded_div(input, other, "floor").detach()


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
        raise TypeError("positive: not supported for bool tensors")
    return _tensor_operand(input)


def rsub(input, other, *, alpha=1) -> Tensor:  # noqa: A002
    """other - alpha * input."""
    return sub(other, input, alpha=alpha)


def float_power(input, exponent) -> Tensor:  # noqa: A002
    """input ** exponent computed in float64 (torch.float_power)."""
    a, b = _operands("float_power", input, exponent)
    f64 = np.dtype(np.float64)
    return pow(*(cast(_tensor_operand(x), f64) if isinstance(x, Tensor | np.ndarray) else x
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
        raise TypeError(f"heaviside: input ({a.dtype}) and values ({b.dtype}) must share a dtype")
    _check_broadcast("heaviside", a.data, b.data)
    return Tensor(np.asarray(np.heaviside(a.data, b.data)).astype(a.dtype, copy=False))


def _special(name: str, x, order: int = 0):
    return _C.special(name, np.ascontiguousarray(x), order)


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
        lambda x, y: np.where(x == 0, 0, (np.cos(np.pi * x) - y) / x),
    ),
    "exp2": (np.exp2, lambda x, y: y * float(np.log(2))),
    "frac": (lambda x: x - np.trunc(x), lambda x, y: np.ones_like(x)),
    "deg2rad": (np.deg2rad, lambda x, y: np.full_like(x, np.pi / 180)),
    "rad2deg": (np.rad2deg, lambda x, y: np.full_like(x, 180 / np.pi)),
    "asinh": (np.arcsinh, lambda x, y: 1 / np.sqrt(x * x + 1)),
    "acosh": (np.arccosh, lambda x, y: 1 / np.sqrt(x * x - 1)),
    "atanh": (np.arctanh, lambda x, y: 1 / (1 - x * x)),
}


def _unary(name: str):
    f, df = _UNARY[name]

    def op(input) -> Tensor:  # noqa: A002
        x = _float_operand(input, name)
        return Elementwise.apply(x, lambda a: np.asarray(f(a), a.dtype), df)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (integer input becomes float32)."
    return op


erf, erfc, erfinv = _unary("erf"), _unary("erfc"), _unary("erfinv")
lgamma, digamma, i0, sinc = _unary("lgamma"), _unary("digamma"), _unary("i0"), _unary("sinc")
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
    return sign(input)


def polygamma(n: int, input) -> Tensor:  # noqa: A002
    """The n-th derivative of digamma (torch.polygamma(n, input)); n = 0 is digamma."""
    if not isinstance(n, int | np.integer) or isinstance(n, bool) or n < 0:
        raise ValueError(f"polygamma: n must be an int >= 0, got {n!r}")
    n = int(n)
    return Elementwise.apply(
        _float_operand(input, "polygamma"),
        lambda a: _special("polygamma", a, n),
        lambda x, y: _special("polygamma", x, n + 1),
    )


def logit(input, eps=None) -> Tensor:  # noqa: A002
    """log(p / (1 - p)), p clamped to [eps, 1 - eps] when eps is given (zero gradient outside)."""
    x = _float_operand(input, "logit")
    lo, hi = (None, None) if eps is None else (eps, 1 - eps)

    def f(a):
        z = a if eps is None else np.clip(a, lo, hi)
        return np.log(z / (1 - z))

    def df(a, y):
        d = 1 / (a * (1 - a))
        return d if eps is None else np.where((a < lo) | (a > hi), 0, d)

    return Elementwise.apply(x, f, df)


def nan_to_num(input, nan: float = 0.0, posinf=None, neginf=None) -> Tensor:  # noqa: A002
    """NaN, +inf and -inf replaced (by default with 0 and the dtype's largest/lowest values)."""
    x = _tensor_operand(input)
    if x.dtype.kind != "f":
        return x.clone()

    def f(a):
        return np.nan_to_num(a, nan=nan, posinf=posinf, neginf=neginf)

    return Elementwise.apply(x, f, lambda a, y: np.isfinite(a).astype(a.dtype))


def absolute(input) -> Tensor:  # noqa: A002
    return abs(input)


def ldexp(input, other) -> Tensor:  # noqa: A002
    """input * 2 ** other (a float result)."""
    return mul(_float_operand(input, "ldexp"), exp2(other))


def lerp(input, end, weight) -> Tensor:  # noqa: A002
    """input + weight * (end - input), with PyTorch's two-sided form (exact at 0 and 1)."""
    d = sub(end, input)
    w = weight.data if isinstance(weight, Tensor) else np.asarray(weight)
    low = add(input, mul(weight, d))
    if np.all(np.abs(w) < 0.5):
        return low
    one_minus_w = rsub(weight, 1) if isinstance(weight, Tensor | np.ndarray) else 1 - weight
    return where(np.abs(w) < 0.5, low, sub(end, mul(d, one_minus_w)))


def addcmul(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    return add(input, mul(tensor1, tensor2), alpha=value)


def addcdiv(input, tensor1, tensor2, *, value=1) -> Tensor:  # noqa: A002
    return add(input, div(tensor1, tensor2), alpha=value)


def nextafter(input, other) -> Tensor:  # noqa: A002
    """The next float after input towards other (no gradient)."""
    a, b = _operands("nextafter", input, other)
    return Tensor(np.asarray(np.nextafter(_data(a), _data(b))).astype(np.result_type(a, b)))


def mvlgamma(input, p: int) -> Tensor:  # noqa: A002
    """The multivariate log-gamma of dimension p: sum_i lgamma(x - i/2) + p(p-1)/4 log(pi)."""
    x = _float_operand(input, "mvlgamma")
    if not isinstance(p, int) or p < 1:
        raise ValueError(f"mvlgamma: p must be an int >= 1, got {p!r}")
    if not np.all(x.data > (p - 1) / 2):
        raise ValueError(f"mvlgamma: all elements must be greater than (p-1)/2 = {(p - 1) / 2}")
    out = lgamma(x)
    for i in range(1, p):
        out = add(out, lgamma(sub(x, i / 2)))
    return add(out, p * (p - 1) / 4 * np.log(np.pi))


def isin(elements, test_elements, *, assume_unique: bool = False, invert: bool = False):
    """Whether each element occurs in test_elements (a bool tensor)."""
    e, t = np.asarray(_data(elements)), np.asarray(_data(test_elements))
    return Tensor(np.asarray(np.isin(e, t, assume_unique=assume_unique, invert=invert)))


# dtype questions and type tests (torch.result_type & co.): categories bool < integer < float.


def _category(dt: np.dtype) -> int:
    return {"b": 0, "u": 1, "i": 1, "f": 2}[np.dtype(dt).kind]


def promote_types(type1, type2) -> np.dtype:
    """The smallest dtype both cast to, with PyTorch's rule that an integer meeting a float gives
    the float dtype (NumPy would widen int64 + float32 to float64)."""
    t1, t2 = np.dtype(type1), np.dtype(type2)
    c1, c2 = _category(t1), _category(t2)
    if c1 != c2 and 2 in (c1, c2):
        return t1 if c1 == 2 else t2
    return np.promote_types(t1, t2)


def can_cast(from_, to) -> bool:
    """Whether torch's casting rules allow from_ -> to: never to a lower category."""
    return _category(from_) <= _category(to)


def result_type(tensor1, tensor2) -> np.dtype:
    """The dtype of an arithmetic op on the two operands (torch.result_type): tensors with
    dimensions outrank 0-d tensors, which outrank Python numbers, unless a lower-ranked
    operand is of a higher category."""
    groups = [[], [], []]  # dimensioned tensors, 0-d tensors, Python numbers
    for x in (tensor1, tensor2):
        if isinstance(x, Tensor | np.ndarray):
            groups[0 if x.ndim else 1].append(x.dtype)
        elif isinstance(x, bool | int | float | np.generic):
            kind = np.asarray(x).dtype.kind
            groups[2].append(
                np.dtype(bool) if kind == "b" else np.dtype(np.int64) if kind in "iu"
                else get_default_dtype()
            )  # fmt: skip
        else:
            raise TypeError(f"result_type: expected a tensor or a number, got {type(x).__name__}")
    out = None
    for group in groups:
        if not group:
            continue
        dt = group[0] if len(group) == 1 else promote_types(*group)
        if out is None or _category(dt) > _category(out):
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
    return False  # ember holds no complex data


# ---- matrix product -----------------------------------------------------------------------


def _float_pair(op, a, b):
    """Both operands as arrays of one float dtype (the wider), as the GEMM needs."""
    a, b = np.asarray(a), np.asarray(b)
    dt = np.result_type(a, b)
    if dt.kind not in "f":
        return a, b, False
    if dt not in (np.float32, np.float64):
        dt = np.dtype(np.float64)
    return a.astype(dt, copy=False), b.astype(dt, copy=False), True


def _gemm_operand(a: np.ndarray) -> np.ndarray:
    """A 2-D array the GEMM reads in place (row- or column-major with any leading dimension);
    anything else (broadcast zeros strides, doubly strided slices) is copied."""
    item = a.itemsize
    s0, s1 = a.strides
    if (s1 == item and s0 >= a.shape[1] * item) or (s0 == item and s1 >= a.shape[0] * item):
        return a
    return np.ascontiguousarray(a)


def _mm(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a (..., M, K) @ b (..., K, N) on the GEMM core (2-D: strided views need no copy)."""
    if a.ndim == 2 and b.ndim == 2:
        return _C.gemm(_gemm_operand(a), _gemm_operand(b))
    return _C.matmul(np.ascontiguousarray(a), np.ascontiguousarray(b))


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        a, b, is_float = _float_pair("matmul", a, b)
        if a.ndim == 0 or b.ndim == 0:
            raise ValueError(
                f"matmul: both operands need at least 1 dimension, got shapes {a.shape} and "
                f"{b.shape}"
            )
        k_a = a.shape[-1]
        k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
        if k_a != k_b:
            raise ValueError(
                f"matmul: shapes {a.shape} and {b.shape} cannot be multiplied ({k_a} != {k_b})"
            )
        ctx.save_for_backward(a, b)
        if not is_float:  # integer matmul: exact in NumPy, no BLAS involved
            return np.matmul(a, b)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        y = _mm(a2, b2)
        if b.ndim == 1:
            y = y[..., 0]
        if a.ndim == 1:
            y = y[..., 0, :] if b.ndim > 1 else y[..., 0]
        return y

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        na, nb = ctx.needs_input_grad
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if b.ndim == 1:
            g2 = g2[..., None]
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        g2 = g2.astype(a2.dtype, copy=False)
        ga = gb = None
        if na:
            if g2.ndim == 2 and b2.ndim == 2:
                ga = _C.gemm(_gemm_operand(g2), _gemm_operand(b2), trans_b=True)
            else:
                ga = _mm(g2, np.swapaxes(b2, -1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if nb:
            if g2.ndim == 2 and a2.ndim == 2:
                gb = _C.gemm(_gemm_operand(a2), _gemm_operand(g2), trans_a=True)
            else:
                gb = _mm(np.swapaxes(a2, -1, -2), g2)
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy's rules for 1-D operands and broadcasting batch dims."""
    return MatMul.apply(_as_operand(a), _as_operand(b))


# ---- elementwise math ---------------------------------------------------------------------


def _float_input(x):
    """Integer and bool inputs of float-valued maths become the default dtype (float32)."""
    return _to_dtype(x, get_default_dtype()) if _kind(x) in "biu" else x


class Exp(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.exp(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


def exp(x) -> Tensor:
    return Exp.apply(_float_input(_as_operand(x)))


class Log(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.log(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / x


def log(x) -> Tensor:
    return Log.apply(_float_input(_as_operand(x)))


class Sqrt(Function):
    @staticmethod
    def forward(ctx, x):
        with np.errstate(invalid="ignore"):
            y = np.sqrt(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        with np.errstate(divide="ignore", invalid="ignore"):
            return g / (2 * y)


def sqrt(x) -> Tensor:
    return Sqrt.apply(_float_input(_as_operand(x)))


class Abs(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.abs(x)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * np.sign(x)


def abs(x) -> Tensor:  # noqa: A001
    return Abs.apply(_as_operand(x))


class Clamp(Function):
    @staticmethod
    def forward(ctx, x, lo, hi):
        ctx.save_for_backward(x)
        ctx.bounds = (lo, hi)
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        lo, hi = ctx.bounds
        mask = np.ones(x.shape, dtype=bool)
        if lo is not None:
            mask &= x >= lo
        if hi is not None:
            mask &= x <= hi
        return g * mask, None, None


def clamp(x, min=None, max=None) -> Tensor:  # noqa: A002
    if min is None and max is None:
        raise ValueError("clamp: at least one of min and max must be given")
    return Clamp.apply(_as_operand(x), _data(min), _data(max))


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        cond = np.asarray(cond, dtype=bool)
        ctx.save_for_backward(cond)
        ctx.shapes = (_shape(a), _shape(b))
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved_tensors
        sa, sb = ctx.shapes
        _, na, nb = ctx.needs_input_grad
        return (
            None,
            unbroadcast(np.where(cond, g, 0), sa) if na else None,
            unbroadcast(np.where(cond, 0, g), sb) if nb else None,
        )


def where(condition, a, b) -> Tensor:
    """Elements of a where condition holds, else of b (broadcasting)."""
    return Where.apply(_data(condition), _as_operand(a), _as_operand(b))


def compare(ufunc, a, b=None) -> Tensor:
    """Comparisons and logical ops: bool results, outside the graph."""
    out = ufunc(_data(a)) if b is None else ufunc(_data(a), _data(b))
    return Tensor._make(out, False, None, 0)


# ---- dtype and copies ---------------------------------------------------------------------


class Cast(Function):
    @staticmethod
    def forward(ctx, x, dtype):
        ctx.src = x.dtype
        return x.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.src) if ctx.src.kind == "f" else None, None


def cast(x, dtype) -> Tensor:
    if x.data.dtype == dtype:
        return x
    out = Cast.apply(x, dtype)
    if dtype.kind != "f" and out.requires_grad:
        out = out.detach()
    return out


class Clone(Function):
    @staticmethod
    def forward(ctx, x):
        return x.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def clone(x) -> Tensor:
    return Clone.apply(x)


# ---- reductions ---------------------------------------------------------------------------


def _axes(dim, ndim: int, op: str):
    """PyTorch's dim argument (None, int or sequence) as a tuple of NumPy axes."""
    if dim is None or (isinstance(dim, list | tuple) and not dim):
        return tuple(range(ndim))  # PyTorch: dim=[] reduces everything
    dims = (dim,) if isinstance(dim, int | np.integer) else tuple(dim)
    out = []
    for d in dims:
        d = int(d)
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise IndexError(f"{op}: dim {d} is out of range for a tensor with {ndim} dimensions")
        out.append(d % builtins.max(ndim, 1) if ndim else 0)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: dim {dim} names a dimension twice")
    return tuple(out) if ndim else ()


def _expand_grad(g, shape, axes, keepdim):
    if not keepdim and axes:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        return np.sum(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _expand_grad(g, shape, axes, keepdim), None, None


def sum(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    x = _tensor_operand(x)
    axes = _axes(dim, x.ndim, "sum")
    if x.data.dtype == np.bool_:
        x = x.long()
    return Sum.apply(x, axes, keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        ctx.meta = (x.shape, axes, keepdim)
        count = 1
        for a in axes:
            count *= x.shape[a]
        ctx.count = count
        return np.mean(x, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _expand_grad(g / ctx.count, shape, axes, keepdim), None, None


def mean(x, dim=None, keepdim: bool = False) -> Tensor:
    x = _tensor_operand(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"mean: input dtype should be floating point, got {x.dtype}")
    return Mean.apply(x, _axes(dim, x.ndim, "mean"), keepdim)


class Var(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim, correction):
        count = 1
        for a in axes:
            count *= x.shape[a]
        with np.errstate(divide="ignore", invalid="ignore"):  # an empty dim: nan, no warning
            xc = x - np.sum(x, axis=axes, keepdims=True) / np.asarray(count, x.dtype)
        ctx.save_for_backward(xc)
        denom = np.asarray(
            builtins.max(count - correction, 0), dtype=x.dtype
        )  # PyTorch: max(0, N - c)
        ctx.meta = (axes, keepdim, denom)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.sum(xc * xc, axis=axes, keepdims=keepdim) / denom

    @staticmethod
    def backward(ctx, g):
        (xc,) = ctx.saved_tensors
        axes, keepdim, denom = ctx.meta
        if not keepdim and axes:
            g = np.expand_dims(g, axes)
        with np.errstate(divide="ignore", invalid="ignore"):
            return g * (2 / denom) * xc, None, None, None


def var(x, dim=None, keepdim: bool = False, unbiased: bool = True, correction=None) -> Tensor:
    x = _tensor_operand(x)
    if x.data.dtype.kind != "f":
        raise TypeError(f"var: input dtype should be floating point, got {x.dtype}")
    if correction is None:
        correction = 1 if unbiased else 0
    return Var.apply(x, _axes(dim, x.ndim, "var"), keepdim, correction)


MaxMin = namedtuple("MaxMin", ["values", "indices"])


class ReduceExtreme(Function):
    """max/min over everything: the gradient is shared evenly among tied extremes."""

    @staticmethod
    def forward(ctx, x, use_max):
        y = np.max(x) if use_max else np.min(x)
        ctx.save_for_backward(x, y)
        return np.asarray(y)

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        mask = x == y
        return g * mask / np.count_nonzero(mask), None


class ExtremeDim(Function):
    """max/min along one dim: values and indices; the gradient goes to the chosen index."""

    @staticmethod
    def forward(ctx, x, dim, keepdim, use_max):
        idx = (
            np.argmax(x, axis=dim, keepdims=True)
            if use_max
            else np.argmin(x, axis=dim, keepdims=True)
        )
        vals = np.take_along_axis(x, idx, axis=dim)
        ctx.save_for_backward(idx)
        ctx.meta = (x.shape, dim, keepdim)
        ctx.mark_non_differentiable(1)
        if not keepdim:
            vals, idx = vals.squeeze(dim), idx.squeeze(dim)
        return vals, idx.astype(np.int64)

    @staticmethod
    def backward(ctx, g, _gidx):
        (idx,) = ctx.saved_tensors
        shape, dim, keepdim = ctx.meta
        if not keepdim:
            g = np.expand_dims(g, dim)
        out = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(out, idx, g, axis=dim)
        return out, None, None, None


def _extreme(x, dim, keepdim, use_max, name):
    if isinstance(dim, Tensor | np.ndarray):  # torch.max(a, b): elementwise
        return maximum(x, dim) if use_max else minimum(x, dim)
    x = _tensor_operand(x)
    if dim is None:
        if x.data.size == 0:
            raise ValueError(f"{name}: the input is empty (shape {x.shape}); give a dim")
        return ReduceExtreme.apply(x, use_max)
    if x.ndim == 0:  # dim 0 or -1 of a scalar, as PyTorch allows
        _axes(dim, 0, name)
        return MaxMin(x, Tensor(np.zeros((), np.int64)))
    (axis,) = _axes(dim, x.ndim, name)
    if x.shape[axis] == 0:
        raise IndexError(f"{name}: dim {dim} of shape {x.shape} is empty: nothing to reduce")
    return MaxMin(*ExtremeDim.apply(x, axis, keepdim, use_max))


def max(x, dim=None, keepdim: bool = False):  # noqa: A001
    """The largest element, or (values, indices) along ``dim``, or elementwise with a tensor."""
    return _extreme(x, dim, keepdim, True, "max")


def min(x, dim=None, keepdim: bool = False):  # noqa: A001
    return _extreme(x, dim, keepdim, False, "min")


class Maximum(Function):
    @staticmethod
    def forward(ctx, a, b, use_max):
        ctx.save_for_backward(a, b)
        ctx.use_max = use_max
        return np.maximum(a, b) if use_max else np.minimum(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        pick_a = (a > b) if ctx.use_max else (a < b)
        tie = a == b
        # Weights in g's dtype: bool * 0.5 alone is float64 and would promote float32 grads.
        wa = (pick_a + 0.5 * tie).astype(g.dtype, copy=False)
        wb = ((~pick_a & ~tie) + 0.5 * tie).astype(g.dtype, copy=False)
        ga, gb = g * wa, g * wb
        return unbroadcast(ga, _shape(a)), unbroadcast(gb, _shape(b)), None


def maximum(a, b) -> Tensor:
    return Maximum.apply(_as_operand(a), _as_operand(b), True)


def minimum(a, b) -> Tensor:
    return Maximum.apply(_as_operand(a), _as_operand(b), False)


def argmax(x, dim=None, keepdim: bool = False) -> Tensor:
    x = _tensor_operand(x)
    if dim is None:
        return Tensor(np.asarray(np.argmax(x.data), dtype=np.int64))
    if x.ndim == 0:
        _axes(dim, 0, "argmax")
        return Tensor(np.zeros((), np.int64))
    (axis,) = _axes(dim, x.ndim, "argmax")
    return Tensor(np.argmax(x.data, axis=axis, keepdims=keepdim).astype(np.int64))


def argmin(x, dim=None, keepdim: bool = False) -> Tensor:
    x = _tensor_operand(x)
    if dim is None:
        return Tensor(np.asarray(np.argmin(x.data), dtype=np.int64))
    if x.ndim == 0:
        _axes(dim, 0, "argmin")
        return Tensor(np.zeros((), np.int64))
    (axis,) = _axes(dim, x.ndim, "argmin")
    return Tensor(np.argmin(x.data, axis=axis, keepdims=keepdim).astype(np.int64))


# ---- shapes and views ---------------------------------------------------------------------


class Reshape(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return x.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.shape), None


def _shape_arg(shape, op):
    if isinstance(shape, int | np.integer):
        shape = (shape,)
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{op}: shape must be a sequence of ints, got {shape!r}") from None
    if builtins.any(s < -1 for s in shape) or shape.count(-1) > 1:
        raise ValueError(f"{op}: invalid shape {shape}")
    return shape


def reshape(x, shape) -> Tensor:
    x = _tensor_operand(x)
    shape = _shape_arg(shape, "reshape")
    try:
        return Reshape.apply(x, shape)
    except ValueError:
        raise ValueError(
            f"reshape: shape {shape} is invalid for input of shape {x.shape} ({x.numel()} elements)"
        ) from None


class Permute(Function):
    @staticmethod
    def forward(ctx, x, dims):
        ctx.inverse = tuple(np.argsort(dims))
        return np.transpose(x, dims)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, ctx.inverse), None


def permute(x, dims) -> Tensor:
    x = _tensor_operand(x)
    axes = tuple(int(d) % builtins.max(x.ndim, 1) for d in dims)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"permute: dims {tuple(dims)} are not a permutation of {x.ndim} dims")
    return Permute.apply(x, axes)


def transpose(x, dim0: int, dim1: int) -> Tensor:
    x = _tensor_operand(x)
    if x.ndim == 0:
        _axes(dim0, 0, "transpose"), _axes(dim1, 0, "transpose")
        return Permute.apply(x, ())
    d0, d1 = _axes(dim0, x.ndim, "transpose")[0], _axes(dim1, x.ndim, "transpose")[0]
    dims = list(range(x.ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Permute.apply(x, tuple(dims))


def flatten(x, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    x = _tensor_operand(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s = _axes(start_dim, x.ndim, "flatten")[0]
    e = _axes(end_dim, x.ndim, "flatten")[0]
    if s > e:
        raise ValueError("flatten: start_dim cannot come after end_dim")
    shape = x.shape[:s] + (int(np.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
    return Reshape.apply(x, shape)


def squeeze(x, dim=None) -> Tensor:
    x = _tensor_operand(x)
    if dim is None:
        shape = tuple(s for s in x.shape if s != 1)
    else:
        axes = _axes(dim, x.ndim, "squeeze")
        shape = tuple(s for i, s in enumerate(x.shape) if not (i in axes and s == 1))
    return Reshape.apply(x, shape)


def unsqueeze(x, dim: int) -> Tensor:
    x = _tensor_operand(x)
    n = x.ndim + 1
    if not -n <= dim < n:
        raise IndexError(f"unsqueeze: dim {dim} is out of range for {x.ndim} dims")
    dim %= n
    return Reshape.apply(x, x.shape[:dim] + (1,) + x.shape[dim:])


class Expand(Function):
    @staticmethod
    def forward(ctx, x, shape):
        ctx.shape = x.shape
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return unbroadcast(g, ctx.shape), None


def expand(x, shape) -> Tensor:
    x = _tensor_operand(x)
    shape = _shape_arg(shape, "expand")
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {shape}")
    full = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
    try:
        return Expand.apply(x, full)
    except ValueError:
        raise ValueError(f"expand: cannot expand shape {x.shape} to {shape}") from None


# ---- indexing -----------------------------------------------------------------------------


def _index_arg(index):
    """Tensors inside an index become arrays; report whether it is an advanced index."""
    if isinstance(index, tuple):
        parts = tuple(p.data if isinstance(p, Tensor) else p for p in index)
    else:
        parts = (index.data if isinstance(index, Tensor) else index,)
    advanced = builtins.any(isinstance(p, np.ndarray | list) for p in parts)
    if isinstance(index, tuple):
        return parts, advanced
    return parts[0], advanced


class GetItem(Function):
    @staticmethod
    def forward(ctx, x, index, advanced):
        ctx.meta = (x.shape, x.dtype, index, advanced)
        out = x[index]
        return np.array(out) if advanced or not isinstance(out, np.ndarray) else out

    @staticmethod
    def backward(ctx, g):
        shape, dtype, index, advanced = ctx.meta
        out = np.zeros(shape, dtype=g.dtype)
        if advanced:
            np.add.at(out, index, g)  # repeated indices add up (scatter-add)
        else:
            out[index] = g
        return out, None, None


def getitem(x, index) -> Tensor:
    index, advanced = _index_arg(index)
    try:
        return GetItem.apply(x, index, advanced)
    except IndexError as e:
        raise IndexError(f"index {index!r} into a tensor of shape {x.shape}: {e}") from None


# ---- joining ------------------------------------------------------------------------------


class Cat(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.meta = (dim, np.cumsum([x.shape[dim] for x in xs])[:-1])
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        dim, splits = ctx.meta
        return tuple(np.split(g, splits, axis=dim))


def _promote_list(tensors):
    """Integer/bool members of a float list take the floats' dtype (PyTorch's categories)."""
    kinds = [_kind(t) for t in tensors]
    if "f" in kinds and any(k in "biu" for k in kinds):
        fdt = np.result_type(
            *[np.asarray(_data(t)).dtype for t, k in zip(tensors, kinds) if k == "f"]
        )
        tensors = [_to_dtype(t, fdt) if k in "biu" else t for t, k in zip(tensors, kinds)]
    return tensors


def cat(tensors, dim: int = 0) -> Tensor:
    """Concatenate along an existing dim."""
    tensors = _promote_list([_tensor_operand(t) for t in tensors])
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    nd = np.ndim(_data(tensors[0]))
    (axis,) = _axes(dim, nd, "cat")
    ref = _shape(_data(tensors[0]))
    for t in tensors[1:]:
        s = _shape(_data(t))
        others_differ = builtins.any(a != b for i, (a, b) in enumerate(zip(s, ref)) if i != axis)
        if len(s) != len(ref) or others_differ:
            raise ValueError(f"cat: shapes {ref} and {s} differ outside dim {dim}")
    return Cat.apply(*tensors, dim=axis)


class Stack(Function):
    @staticmethod
    def forward(ctx, *xs, dim):
        ctx.dim = dim
        return np.stack(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.moveaxis(g, ctx.dim, 0))


def stack(tensors, dim: int = 0) -> Tensor:
    """Join along a new dim; all shapes must be equal."""
    tensors = _promote_list([_tensor_operand(t) for t in tensors])
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    ref = _shape(_data(tensors[0]))
    for t in tensors[1:]:
        if _shape(_data(t)) != ref:
            raise ValueError(f"stack: shapes {ref} and {_shape(_data(t))} differ")
    n = len(ref) + 1
    if not -n <= dim < n:
        raise IndexError(f"stack: dim {dim} is out of range for {len(ref)} dims")
    return Stack.apply(*tensors, dim=dim % n)


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of ``split_size`` along dim (the last may be smaller), or of the given sizes."""
    x = _tensor_operand(x)
    (axis,) = _axes(dim, x.ndim, "split")
    n = x.shape[axis]
    if isinstance(split_size_or_sections, int | np.integer):
        size = int(split_size_or_sections)
        if size <= 0:
            raise ValueError(f"split: split_size must be positive, got {size}")
        sizes = [size] * (n // size) + ([n % size] if n % size else [])
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if builtins.sum(sizes) != n or builtins.min(sizes, default=0) < 0:
            raise ValueError(f"split: sizes {sizes} do not add up to dim {dim} of {x.shape}")
    out, start = [], 0
    for s in sizes:
        index = (slice(None),) * axis + (slice(start, start + s),)
        out.append(getitem(x, index))
        start += s
    return tuple(out)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """``chunks`` pieces of (nearly) equal size along dim, as torch.chunk."""
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    x = _tensor_operand(x)
    (axis,) = _axes(dim, x.ndim, "chunk")
    n = x.shape[axis]
    size = -(-n // chunks) if n else 1
    return split(x, size, dim)


def masked_fill(x, mask, value) -> Tensor:
    """x with ``value`` where ``mask`` (broadcast) is True; no gradient flows there."""
    mask = np.asarray(_data(mask))
    if mask.dtype != np.bool_:
        raise TypeError(f"masked_fill: mask must be bool, got {mask.dtype}")
    x = _tensor_operand(x)
    return where(mask, np.asarray(value, dtype=x.dtype), x)


class Gather(Function):
    @staticmethod
    def forward(ctx, x, axis, index):
        ctx.meta = (x.shape, axis, index)
        # torch.gather reads the leading index.shape block of x in the other dims (no broadcast)
        x = x[tuple(slice(None) if d == axis else slice(0, n) for d, n in enumerate(index.shape))]
        return np.take_along_axis(x, index, axis=axis)

    @staticmethod
    def backward(ctx, g):
        shape, axis, index = ctx.meta
        out = np.zeros(shape, dtype=g.dtype)
        grids = list(np.indices(index.shape, sparse=True))
        grids[axis] = index
        np.add.at(out, tuple(grids), g)  # repeated indices add up
        return out, None, None


def gather(x, dim: int, index) -> Tensor:
    """out[i][j] = x[index[i][j]][j] (dim 0) etc., as torch.gather."""
    x = _tensor_operand(x)
    (axis,) = _axes(dim, x.ndim, "gather")
    index = np.asarray(_data(index))
    if index.dtype.kind not in "iu":
        raise TypeError(f"gather: index must be integer, got {index.dtype}")
    if index.ndim != x.ndim:
        raise ValueError(f"gather: index has {index.ndim} dims, input has {x.ndim}")
    if index.size and (index.min() < 0 or index.max() >= x.shape[axis]):
        raise IndexError(
            f"gather: index out of range [0, {x.shape[axis]}) for dim {dim} of shape {x.shape}"
        )
    if builtins.any(i > n for d, (i, n) in enumerate(zip(index.shape, x.shape)) if d != axis):
        raise ValueError(
            f"gather: index {index.shape} is larger than input {x.shape} outside dim {dim}"
        )
    return Gather.apply(x, axis, index)


class IndexPut(Function):
    """base[key] = value, written into base's own array; the gradient of value is g[key]."""

    @staticmethod
    def forward(ctx, base, value, key):
        base[key] = value
        ctx.meta = (key, _shape(value))
        return base

    @staticmethod
    def backward(ctx, g):
        key, vshape = ctx.meta
        return None, unbroadcast(np.array(g[key]), vshape), None


def index_put_(x: Tensor, key, value: Tensor) -> None:
    """x[key] = value where value is in the graph and x is a plain tensor: x joins the graph."""
    out = IndexPut.apply(x, value, key)
    x._ctx, x._idx, x._requires_grad = out._ctx, out._idx, True


def repeat(x, *sizes) -> Tensor:
    """Tile x: repeat(2, 1) doubles dim 0 (torch.Tensor.repeat)."""
    x = _tensor_operand(x)
    sizes = _shape_arg(sizes[0] if len(sizes) == 1 else sizes, "repeat")
    if len(sizes) < x.ndim:
        raise ValueError(f"repeat: {len(sizes)} sizes for a tensor with {x.ndim} dims")
    lead = len(sizes) - x.ndim
    base = reshape(x, (1,) * lead + x.shape)
    shape = tuple(builtins.max(d, 1) for d in base.shape)
    expanded = expand(_unsqueeze_all(base), _interleave(sizes, shape))
    return reshape(expanded, tuple(s * d for s, d in zip(sizes, base.shape)))


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


def _float_operand(x, op: str):
    """Integer and bool inputs become the default dtype (float32) for float-valued ops."""
    x = _tensor_operand(x)
    kind = x.data.dtype.kind
    if kind in "iub":
        return cast(x, get_default_dtype())
    if kind != "f":
        raise TypeError(f"{op}: expected a numeric tensor, got dtype {x.dtype}")
    return x


class Elementwise(Function):
    """y = f(x), dy/dx = df(x, y): the smooth elementwise functions below share it."""

    @staticmethod
    def forward(ctx, x, f, df):
        with np.errstate(all="ignore"):
            y = f(x)
        ctx.save_for_backward(x, y)
        ctx.df = df
        return y

    @staticmethod
    def backward(ctx, g):
        x, y = ctx.saved_tensors
        with np.errstate(all="ignore"):
            return g * ctx.df(x, y), None, None


_SMOOTH = {  # name: (f, derivative as a function of x and y = f(x))
    "sin": (np.sin, lambda x, y: np.cos(x)),
    "cos": (np.cos, lambda x, y: -np.sin(x)),
    "tan": (np.tan, lambda x, y: 1 + y * y),
    "log1p": (np.log1p, lambda x, y: 1 / (1 + x)),
    "expm1": (np.expm1, lambda x, y: y + 1),
    "log2": (np.log2, lambda x, y: 1 / (x * np.log(2).astype(x.dtype))),
    "log10": (np.log10, lambda x, y: 1 / (x * np.log(10).astype(x.dtype))),
    "rsqrt": (lambda x: 1 / np.sqrt(x), lambda x, y: -0.5 * y * y * y),
    "reciprocal": (lambda x: 1 / x, lambda x, y: -y * y),
    "square": (np.square, lambda x, y: 2 * x),
    "sinh": (np.sinh, lambda x, y: np.cosh(x)),
    "cosh": (np.cosh, lambda x, y: np.sinh(x)),
    "asin": (np.arcsin, lambda x, y: 1 / np.sqrt(1 - x * x)),
    "acos": (np.arccos, lambda x, y: -1 / np.sqrt(1 - x * x)),
    "atan": (np.arctan, lambda x, y: 1 / (1 + x * x)),
}


def _smooth(name: str):
    f, df = _SMOOTH[name]

    def op(x) -> Tensor:
        return Elementwise.apply(_float_operand(x, name), f, df)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name} (integer input becomes float32)."
    return op


sin, cos, tan = _smooth("sin"), _smooth("cos"), _smooth("tan")
log1p, expm1, log2, log10 = _smooth("log1p"), _smooth("expm1"), _smooth("log2"), _smooth("log10")
rsqrt, reciprocal, square = _smooth("rsqrt"), _smooth("reciprocal"), _smooth("square")
sinh, cosh = _smooth("sinh"), _smooth("cosh")
asin, acos, atan = _smooth("asin"), _smooth("acos"), _smooth("atan")


class Piecewise(Function):
    """Piecewise-constant functions (sign, floor, ...): zero gradient, as PyTorch."""

    @staticmethod
    def forward(ctx, x, f):
        return f(x)

    @staticmethod
    def backward(ctx, g):
        return np.zeros_like(g), None


def _piecewise(name: str, f):
    def op(x) -> Tensor:
        x = _tensor_operand(x)
        if x.data.dtype.kind not in "iubf":
            raise TypeError(f"{name}: expected a numeric tensor, got dtype {x.dtype}")
        return Piecewise.apply(x, f)

    op.__name__ = name
    op.__doc__ = f"Elementwise {name}, as torch.{name}; its gradient is zero."
    return op


sign = _piecewise("sign", np.sign)
floor = _piecewise("floor", np.floor)
ceil = _piecewise("ceil", np.ceil)
trunc = _piecewise("trunc", np.trunc)
round = _piecewise("round", np.round)  # noqa: A001  (half to even, as torch.round)


class LogSumExp(Function):
    @staticmethod
    def forward(ctx, x, axes, keepdim):
        m = np.max(x, axis=axes, keepdims=True) if x.size else np.zeros((1,) * x.ndim, x.dtype)
        m = np.where(np.isfinite(m), m, 0)  # all -inf (or inf) rows: no shift
        with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
            lse = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
        ctx.save_for_backward(x, lse)
        ctx.meta = (axes, keepdim)
        return lse if keepdim else np.squeeze(lse, axis=axes)

    @staticmethod
    def backward(ctx, g):
        x, lse = ctx.saved_tensors
        axes, keepdim = ctx.meta
        if not keepdim and axes:
            g = np.expand_dims(g, axes)
        with np.errstate(invalid="ignore"):
            p = np.exp(x - lse)
        return g * np.nan_to_num(p, nan=0.0), None, None


def logsumexp(x, dim, keepdim: bool = False) -> Tensor:
    """log(sum(exp(x))) over dim, computed without overflow."""
    x = _float_operand(x, "logsumexp")
    return LogSumExp.apply(x, _axes(dim, x.ndim, "logsumexp"), keepdim)


class Prod(Function):
    @staticmethod
    def forward(ctx, x, axis, keepdim):
        ctx.save_for_backward(x)
        ctx.meta = (axis, keepdim)
        return np.prod(x, axis=axis, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        axis, keepdim = ctx.meta
        flat = axis is None
        xs = x.reshape(-1) if flat else x
        ax = 0 if flat else axis
        # d prod / d x_i = product of all the others: exclusive products from both ends (exact
        # where x has zeros, unlike prod / x_i).
        ones = np.ones_like(np.take(xs, [0], axis=ax)) if xs.shape[ax] else None
        if ones is None:
            return np.zeros_like(x), None, None
        left = np.cumprod(np.concatenate([ones, np.delete(xs, -1, axis=ax)], axis=ax), axis=ax)
        rev = np.flip(xs, axis=ax)
        right = np.cumprod(np.concatenate([ones, np.delete(rev, -1, axis=ax)], axis=ax), axis=ax)
        others = left * np.flip(right, axis=ax)
        if flat:
            return (g * others).reshape(x.shape), None, None
        if not keepdim:
            g = np.expand_dims(g, ax)
        return g * others, None, None


def prod(x, dim=None, keepdim: bool = False) -> Tensor:
    """Product of all elements, or along one dim (torch.prod)."""
    x = _tensor_operand(x)
    if dim is None:
        return Prod.apply(x, None, False)
    (axis,) = _axes(dim, x.ndim, "prod")
    return Prod.apply(x, axis, keepdim)


class CumSum(Function):
    @staticmethod
    def forward(ctx, x, axis):
        ctx.axis = axis
        return np.cumsum(x, axis=axis)

    @staticmethod
    def backward(ctx, g):
        a = ctx.axis
        return np.flip(np.cumsum(np.flip(g, axis=a), axis=a), axis=a), None


def cumsum(x, dim: int) -> Tensor:
    """Running sum along dim (torch.cumsum)."""
    x = _tensor_operand(x)
    if x.data.dtype == np.bool_:
        x = x.long()
    (axis,) = _axes(dim, builtins.max(x.ndim, 1), "cumsum")
    if x.ndim == 0:
        return x.clone()
    return CumSum.apply(x, axis)


def norm(x, p="fro", dim=None, keepdim: bool = False) -> Tensor:
    """Vector p-norm over dim (all elements by default): p = 'fro' or 2, 1, inf, -inf, or any
    positive number (torch.norm). The gradient at a zero vector is zero, as PyTorch's."""
    x = _float_operand(x, "norm")
    if p == "fro":
        p = 2
    if isinstance(p, str):
        raise ValueError(f"norm: p should be 'fro' or a number, got {p!r}")
    axes = _axes(dim, x.ndim, "norm")
    if p in (float("inf"), float("-inf")):
        sign = 1 if p > 0 else -1  # min |x| = -max(-|x|)
        return sign * _amax(sign * abs(x), axes, keepdim)
    if p <= 0:
        raise ValueError(f"norm: p must be positive (or +-inf), got {p}")
    s = sum(Elementwise.apply(x, *_pow_abs(p)), dim=axes, keepdim=keepdim)
    return Elementwise.apply(s, *_root(p))


def _pow_abs(p):
    """|x|^p, with the gradient 0 at x = 0."""
    return (
        lambda x: np.abs(x) ** p,
        lambda x, y: np.where(x == 0, 0, p * np.sign(x) * np.abs(x) ** (p - 1)).astype(x.dtype),
    )


def _root(p):
    """s^(1/p), with the gradient 0 where s = 0 (PyTorch's choice at a zero vector)."""
    return (
        lambda s: s ** (1.0 / p),
        lambda s, y: np.where(s == 0, 0, y / (p * s)).astype(s.dtype),
    )


def _amax(x, axes, keepdim):
    """max over several dims at once (gradient shared among ties, as max over all)."""
    if not axes:
        return x
    moved = permute(x, [d for d in range(x.ndim) if d not in axes] + list(axes))
    kept = [x.shape[d] for d in range(x.ndim) if d not in axes]
    out = max(reshape(moved, tuple(kept) + (-1,)), dim=-1).values
    if keepdim:
        out = reshape(out, tuple(1 if d in axes else x.shape[d] for d in range(x.ndim)))
    return out


def _triangle(name: str, f):
    def op(x, diagonal: int = 0) -> Tensor:
        x = _tensor_operand(x)
        if x.ndim < 2:
            raise ValueError(f"{name}: input must have at least 2 dims, got shape {x.shape}")
        keep = f(np.ones(x.shape[-2:], dtype=bool), int(diagonal))
        return where(keep, x, np.zeros((), dtype=x.dtype))

    op.__name__ = name
    op.__doc__ = f"The {name[-1]} triangle of the last two dims, from diagonal on (torch.{name})."
    return op


tril = _triangle("tril", np.tril)
triu = _triangle("triu", np.triu)


def flip(x, dims) -> Tensor:
    """Reverse the order along dims (torch.flip)."""
    x = _tensor_operand(x)
    axes = _axes(dims, x.ndim, "flip")
    index = tuple(slice(None, None, -1) if d in axes else slice(None) for d in range(x.ndim))
    return getitem(x, index)


def index_select(x, dim: int, index) -> Tensor:
    """x's entries at the 1-D integer ``index`` along dim (torch.index_select)."""
    x = _tensor_operand(x)
    (axis,) = _axes(dim, x.ndim, "index_select")
    index = np.asarray(_data(index))
    if index.dtype.kind not in "iu" or index.ndim > 1:
        raise TypeError(f"index_select: index must be a 1-D integer array, got {index.dtype}")
    n = x.shape[axis]
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f"index_select: index out of range for dim {dim} of size {n}")
    return getitem(x, (slice(None),) * axis + (index.reshape(-1),))


def unbind(x, dim: int = 0) -> tuple:
    """The slices along dim, that dim removed (torch.unbind)."""
    x = _tensor_operand(x)
    (axis,) = _axes(dim, x.ndim, "unbind")
    return tuple(getitem(x, (slice(None),) * axis + (i,)) for i in range(x.shape[axis]))


SortResult = namedtuple("SortResult", ["values", "indices"])


def sort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> SortResult:
    """Values sorted along dim and their indices (stable; NaN sorts last ascending, first
    descending, as PyTorch)."""
    x = _tensor_operand(x)
    (axis,) = _axes(dim, builtins.max(x.ndim, 1), "sort")
    if x.ndim == 0:
        return SortResult(x.clone(), Tensor(np.zeros((), np.int64)))
    a = x.data
    idx = np.argsort(-a if descending and a.dtype.kind != "b" else a, axis=axis, kind="stable")
    if descending and a.dtype.kind == "f":  # -NaN still sorts last: NaNs belong first here
        nan_first = np.argsort(~np.isnan(np.take_along_axis(a, idx, axis)), axis, kind="stable")
        idx = np.take_along_axis(idx, nan_first, axis)
    if descending and a.dtype.kind == "b":
        idx = np.flip(np.argsort(a, axis=axis, kind="stable"), axis=axis)
    idx = idx.astype(np.int64)
    return SortResult(gather(x, axis, idx), Tensor(idx))


def argsort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    return sort(x, dim, descending, stable).indices


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> SortResult:  # noqa: A002
    """The k largest (or smallest) entries along dim and their indices (torch.topk)."""
    x = _tensor_operand(x)
    (axis,) = _axes(dim, builtins.max(x.ndim, 1), "topk")
    n = x.shape[axis] if x.ndim else 1
    if not 0 <= k <= n:
        raise ValueError(f"topk: k ({k}) out of range for dim {dim} of size {n}")
    s = sort(x, dim, descending=largest)
    sl = (slice(None),) * axis + (slice(0, k),)
    return SortResult(getitem(s.values, sl), Tensor(s.indices.data[sl]))


def mm(a, b) -> Tensor:
    """The product of two matrices (2-D only, as torch.mm)."""
    if np.ndim(_data(a)) != 2 or np.ndim(_data(b)) != 2:
        raise ValueError(f"mm: expected 2-D inputs, got shapes {_shape(_data(a))} and "
                         f"{_shape(_data(b))}")  # fmt: skip
    return matmul(a, b)


def bmm(a, b) -> Tensor:
    """Batched matrix product of (B, n, m) and (B, m, p) (torch.bmm: no broadcasting)."""
    sa, sb = _shape(_data(a)), _shape(_data(b))
    if len(sa) != 3 or len(sb) != 3 or sa[0] != sb[0]:
        raise ValueError(f"bmm: expected (B, n, m) and (B, m, p), got shapes {sa} and {sb}")
    return matmul(a, b)


def _predicate(name: str, f):
    def op(x) -> Tensor:
        return Tensor(np.asarray(f(np.asarray(_data(x)))))

    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (a bool tensor, no gradient)."
    return op


isnan = _predicate("isnan", np.isnan)
isinf = _predicate("isinf", np.isinf)
isfinite = _predicate("isfinite", np.isfinite)


def all(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    a = np.asarray(_data(x))
    return Tensor(np.asarray(np.all(a, axis=_axes(dim, a.ndim, "all"), keepdims=keepdim)))


def any(x, dim=None, keepdim: bool = False) -> Tensor:  # noqa: A001
    a = np.asarray(_data(x))
    return Tensor(np.asarray(np.any(a, axis=_axes(dim, a.ndim, "any"), keepdims=keepdim)))


def allclose(a, b, rtol: float = 1e-5, atol: float = 1e-8, equal_nan: bool = False) -> bool:
    return bool(np.allclose(_data(a), _data(b), rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(a, b) -> bool:
    """Same shape and the same values (torch.equal)."""
    return bool(np.array_equal(_data(a), _data(b)))


# The extras are Tensor methods too (x.sin(), x.norm(dim=1), x.topk(3), ...): each takes the
# tensor as its first argument, so the function itself is the method.
_EXTRAS = (
    "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less", "less_equal",
    "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "isclose",
    "isneginf", "isposinf", "isreal", "signbit", "fmax", "fmin", "maximum", "minimum",
    "subtract", "multiply", "divide", "true_divide", "floor_divide", "remainder", "fmod",
    "negative", "positive", "float_power", "clamp_min", "clamp_max", "erf", "erfc", "erfinv",
    "lgamma", "digamma", "i0", "sinc", "logit", "xlogy", "atan2", "arctan2", "hypot",
    "logaddexp", "logaddexp2", "copysign", "heaviside", "exp2", "frac", "fix", "sgn", "deg2rad",
    "rad2deg", "nan_to_num", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan",
    "arcsinh", "arccosh", "arctanh", "absolute", "ldexp", "lerp", "addcmul", "addcdiv",
    "nextafter", "mvlgamma",
    "sin", "cos", "tan", "log1p", "expm1", "log2", "log10", "rsqrt", "reciprocal", "square",
    "sinh", "cosh", "asin", "acos", "atan", "sign", "floor", "ceil", "trunc", "round",
    "logsumexp", "prod", "cumsum", "norm", "tril", "triu", "flip", "index_select", "unbind",
    "sort", "argsort", "topk", "mm", "bmm", "isnan", "isinf", "isfinite", "all", "any",
)  # fmt: skip
for _name in _EXTRAS:
    setattr(Tensor, _name, globals()[_name])
