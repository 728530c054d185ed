"""ember.nn.functional: the single entry of every neural-network op.

Each op is a Function subclass (forward and backward side by side, calling the C++ kernel in
``ember._C``) followed by its lowercase functional wrapper, which checks the arguments and makes
the inputs contiguous and of the right dtype before anything reaches C++.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import math
import threading
import warnings

import ml_dtypes
import numpy as np

from ember import _C, _complex, _lowp, _sparse_grad, _strides, ops
from ember._errors import BadDtype, BadShapeOrValue, OutOfBounds
from ember.autograd import function as _autograd_function
from ember.autograd import graph as _graph
from ember.autograd.engine import unbroadcast
from ember.autograd.function import Function, is_grad_enabled, no_grad
from ember.tensor import Tensor, _plain, get_default_dtype

_REDUCTIONS = ("none", "mean", "sum")


# ---- argument helpers ---------------------------------------------------------------------


class _AssertionValueError(ValueError, AssertionError):
    """Where PyTorch asserts (AssertionError): ember's bad-input errors are ValueErrors, so
    this is both."""


class _IndexValueError(IndexError, ValueError):
    """A class index out of range: PyTorch's IndexError, and a ValueError as ember's other
    bad input."""


class _IndexRuntimeError(IndexError, BadShapeOrValue):
    """An index out of range where PyTorch raises RuntimeError (multilabel_margin_loss's
    target, embedding_bag's input): also the IndexError ember raised before."""


class _NoKernel(BadDtype, NotImplementedError):
    """A dtype the op has no kernel for: PyTorch's NotImplementedError ("... not implemented
    for 'Long'"), and ember's BadDtype."""


class _DtypeValueError(BadDtype, ValueError):
    """A dtype PyTorch refuses with a ValueError (affine_grid's theta), and ember's BadDtype."""


class _Unsupported(BadShapeOrValue, NotImplementedError):
    """A mode or rank the op does not implement (interpolate, pad): PyTorch's
    NotImplementedError, and ember's BadShapeOrValue."""


class _ComplexInput(_NoKernel):
    """A complex tensor where a real one is needed (tanh and sigmoid catch it: ember/_complex)."""


def _mixed_lowp(x, *params) -> bool:
    """A float16/bfloat16 input with a float32 parameter or statistic: torch's mixed-type norms
    (a bf16 Linear or conv under autocast feeding a float32 norm layer) normalise in float32
    and round the output back to the input's dtype; the statistics stay float32."""
    return (
        isinstance(x, Tensor)
        and x.data.dtype.char in "eE"
        and any(isinstance(t, Tensor) and t.data.dtype == np.float32 for t in params)
    )


def _float_input(x, op: str, name: str = "input", dtype=None) -> Tensor:
    """x as a float Tensor: arrays and lists are converted (to ``dtype`` when given);
    integer or bool Tensors are refused, as PyTorch refuses them."""
    if isinstance(x, Tensor):
        if x.data.dtype.kind != "f" and x.data.dtype != _lowp.bfloat16:
            err = _ComplexInput if x.data.dtype.kind == "c" else _NoKernel
            raise err(f"{op}: {name} must be a floating point tensor, got {x.dtype}")
        if dtype is not None and x.data.dtype != dtype:
            raise BadDtype(
                f"{op}: {name} is {x.dtype}, expected {np.dtype(dtype)} (input and parameters "
                "must share a dtype)"
            )
        return x
    if isinstance(x, list | tuple) and any(isinstance(e, Tensor) for e in x):
        # torch's TypeError: a list of tensors is not one input (NumPy would stack it)
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {name} must be numeric, got {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float32
    return Tensor(arr.astype(dtype, copy=False))


def _contig(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated size_average / reduce pair: when either is given it decides the
    reduction (with PyTorch's warning), else ``reduction`` stands."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    ret = "mean" if size_average and reduce else "sum" if reduce else "none"
    warnings.warn(
        f"size_average and reduce args will be deprecated, please use reduction='{ret}' instead.",
        UserWarning,
        stacklevel=3,
    )
    return ret


def _torch_loss_params(*torch_params: str):
    """Give a functional loss PyTorch's parameter list, whose deprecated size_average / reduce
    sit between the others (F.nll_loss(x, y, w, None, -100, None, "sum") is valid PyTorch).
    Calls that stay within the shared leading parameters go straight through."""

    def wrap(fn):
        sig = inspect.signature(fn)
        own = list(sig.parameters)
        shared = 0
        while shared < len(own) and own[shared] == torch_params[shared]:
            shared += 1
        name = fn.__name__

        @functools.wraps(fn)
        def loss(*args, **kwargs):
            if len(args) <= shared and "size_average" not in kwargs and "reduce" not in kwargs:
                return fn(*args, **kwargs)
            if len(args) > len(torch_params):
                raise TypeError(
                    f"{name}() takes at most {len(torch_params)} positional arguments "
                    f"({len(args)} given)"
                )
            for param, value in zip(torch_params, args):
                if param in kwargs:
                    raise TypeError(f"{name}() got multiple values for argument '{param}'")
                kwargs[param] = value
            size_average, reduce = kwargs.pop("size_average", None), kwargs.pop("reduce", None)
            if size_average is not None or reduce is not None:
                kwargs["reduction"] = _legacy_reduction(
                    size_average, reduce, kwargs.get("reduction", "mean")
                )
            return fn(**kwargs)

        legacy = inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
        loss.__signature__ = sig.replace(
            parameters=[
                sig.parameters[p] if p in sig.parameters else legacy.replace(name=p)
                for p in torch_params
            ]
        )
        return loss

    return wrap


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise BadShapeOrValue(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _check_ignore_index(op: str, ignore_index) -> int:
    """ignore_index as an int64 (torch's argument type): a float is refused, not truncated (1.5
    ignored class 1), and one past int64 is a ValueError (pybind's TypeError named no argument)."""
    if not isinstance(ignore_index, int | np.integer):
        raise TypeError(f"{op}: ignore_index must be an int, got {type(ignore_index).__name__}")
    if not -(2**63) <= ignore_index < 2**63:
        raise BadShapeOrValue(f"{op}: ignore_index {ignore_index} does not fit in int64")
    return int(ignore_index)


def _is_int(x) -> bool:
    """An integer (not bool) Tensor: PyTorch computes float ops of it in a float dtype."""
    return isinstance(x, Tensor) and x.data.dtype.kind in "iu"


def _as_float(x):
    """An integer Tensor in the default float dtype (as PyTorch promotes it); x otherwise."""
    return ops.cast(x, get_default_dtype()) if _is_int(x) else x


def _float_operands(
    op: str, names, *inputs, ints_alone: bool = True, dim0_weak: bool = False
) -> list:
    """inputs in one float dtype, as PyTorch's type promotion: the widest float dtype among
    them, integer inputs taking it (the default float dtype when all are integers, which
    ints_alone=False refuses as PyTorch's ops needing a float operand). Bools are refused.
    ``dim0_weak``: for ops that combine the operands without broadcasting them first, 0-d
    float operands count only when no float operand has dims (PyTorch's rule for 0-d tensors)."""
    xs = [x if _is_int(x) else _float_input(x, op, n) for x, n in zip(inputs, names)]
    floats = [x.data.dtype for x in xs if not _is_int(x)]
    if dim0_weak and any(x.ndim for x in xs if not _is_int(x)):
        floats = [x.data.dtype for x in xs if not _is_int(x) and x.ndim]
    if not floats and not ints_alone:
        got = ", ".join(str(x.dtype) for x in xs)
        raise BadDtype(f"{op}: expected a floating point operand, got {got}")  # (torch: Runtime)
    dt = floats[0] if floats else get_default_dtype()
    for f in floats[1:]:
        dt = dt if f == dt else np.promote_types(dt, f)
    return [x if x.data.dtype == dt else ops.cast(x, dt) for x in xs]


def _dim(dim, ndim: int, op: str) -> int:
    if isinstance(dim, Tensor):  # a 0-d integer tensor is an int to torch (not [1], not bool)
        dim = ops._index_dim(dim, op)
    if not isinstance(dim, int | np.integer) or isinstance(dim, bool):  # (True is no dim: torch)
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims")
    return int(dim) % n


# ---- linear -------------------------------------------------------------------------------


class Linear(Function):
    # x (..., in), w (out, in), b (out) -> y (..., out) = x @ w^T + b
    @staticmethod
    def _values(x, w, b):
        """(y (N, out), x2 (N, in), the GEMM's w) for x (..., in)."""
        x2 = _contig(x).reshape(math.prod(x.shape[:-1]), x.shape[-1])  # (-1 fails if in is 0)
        w = ops._gemm_operand(w)  # a flipped or broadcast weight view: copied for the GEMM
        if b is None:
            return _C.gemm(x2, w, trans_b=True), x2, w
        y = np.empty((x2.shape[0], w.shape[0]), dtype=x.dtype)
        y[...] = b
        _C.gemm(x2, w, y, trans_b=True, beta=1.0)
        return y, x2, w

    @staticmethod
    def forward(ctx, x, w, b):
        lead = x.shape[:-1]
        y, x2, w = Linear._values(x, w, b)
        # each operand kept only for the other's gradient, as torch's addmm saves them: an
        # optimiser step between a first layer's forward and backward leaves it valid
        nx, nw = ctx.needs_input_grad[:2]
        ctx.save_for_backward(x2 if nw else ops._shape_only(x2), w if nx else ops._shape_only(w))
        ctx.lead, ctx.has_bias = lead, b is not None  # (has_bias names the node after backward)
        return y.reshape(*lead, w.shape[0])

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad
        g2 = _contig(g).reshape(x2.shape[0], w.shape[0])
        dx = _C.gemm(g2, w).reshape(*ctx.lead, w.shape[1]) if nx else None
        dw = _C.gemm(g2, x2, trans_a=True) if nw else None
        db = None
        if nb:  # float16 / bfloat16 summed in float32 and rounded once, as torch's
            db = (
                g2.sum(axis=0, dtype=np.float32).astype(g2.dtype)
                if g2.dtype.char in "eE"
                else g2.sum(axis=0)
            )
        return dx, dw, db

    @staticmethod
    def backward_graph(ctx, g):
        x2, w0 = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad
        x, w = _graph.inputs(ctx, x2.reshape(*ctx.lead, x2.shape[1]) if nw else x2, w0)
        g2 = g.reshape(x2.shape[0], w0.shape[0])
        return (
            ops.matmul(g, w) if nx else None,
            ops.matmul(g2.t(), x.reshape(x2.shape)) if nw else None,
            g2.sum(0) if nb else None,
        )


def _linear_straight(x, w, b):
    """linear's common call -- float32/float64 Tensors of one dtype, a 2-D weight, a bias of
    (out_features,) or None -- by the GEMM straight outside the graph, by Linear.apply straight
    in it (the generic checks are ~1.5-3 us of a (1, 784) -> 10 call), or None for anything
    else (the generic path then gives the same values, or the error)."""
    if not (isinstance(x, Tensor) and isinstance(w, Tensor)):
        return None
    a, wa = x.data, w.data
    dt = wa.dtype
    if (dt is not _F32 and dt is not _F64) or a.dtype is not dt or wa.ndim != 2 or not a.ndim:
        return None
    if a.shape[-1] != wa.shape[1]:
        return None
    if b is not None and not (
        isinstance(b, Tensor) and b.data.dtype is dt and b.data.shape == (wa.shape[0],)
    ):
        return None
    if not (
        ops._outside_graph(x) and ops._outside_graph(w) and (b is None or ops._outside_graph(b))
    ):
        return Linear.apply(x, w, b)
    y = Linear._values(a, wa, None if b is None else b.data)[0]
    return Tensor._make(y.reshape(*a.shape[:-1], wa.shape[0]), False, None, 0)


def _complex_linear(x, w, b) -> Tensor:
    """torch's complex Linear (a Module.to(complex64)): x @ w^T + b by the complex matmul, whose
    gradients are torch's conjugate ones; all of one complex dtype, as torch's addmm asks."""
    parts = (x, w) if b is None else (x, w, b)
    if not all(isinstance(t, Tensor) for t in parts) or len({t.dtype for t in parts}) > 1:
        kinds = ", ".join(getattr(t, "dtype", type(t).__name__).__str__() for t in parts)
        raise BadDtype(f"linear: input, weight and bias must share one complex dtype, got {kinds}")
    if w.ndim != 2 or x.ndim == 0 or x.shape[-1] != w.shape[1]:
        raise BadShapeOrValue(f"linear: input shape {x.shape} does not match weight {w.shape}")
    if b is not None and b.shape != (w.shape[0],):
        raise BadShapeOrValue(f"linear: bias shape {b.shape} is not ({w.shape[0]},)")
    y = ops.matmul(x, w.transpose(0, 1))
    return y if b is None else y + b


def linear(input, weight, bias=None) -> Tensor:
    """y = input @ weight^T + bias.

    Shape:
        input (*, in_features), weight (out_features, in_features), bias (out_features,)
        -> (*, out_features)
    """
    if (y := _linear_straight(input, weight, bias)) is not None:
        return y
    if any(isinstance(t, Tensor) and t.data.dtype.kind == "c" for t in (input, weight, bias)):
        return _complex_linear(input, weight, bias)
    ts = [t for t in (input, weight, bias) if t is not None]
    if all(isinstance(t, Tensor) and t.data.dtype.kind in "iu" for t in ts):
        if len({t.data.dtype for t in ts}) == 1 and weight.ndim in (1, 2):  # torch's int addmm
            y = ops.matmul(input, weight.mT if weight.ndim == 2 else weight)
            return y if bias is None else y + bias
    weight = _float_input(weight, "linear", "weight")
    x = _float_input(input, "linear", "input", weight.dtype)
    if weight.ndim not in (1, 2):
        raise BadShapeOrValue(f"linear: weight must be 1-D or 2-D, got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[-1]:
        raise BadShapeOrValue(
            f"linear: input shape {x.shape} does not match weight shape {weight.shape} "
            f"(expected last dim {weight.shape[-1]})"
        )
    if bias is not None:
        if isinstance(bias, int | float | complex | np.number | list | tuple):  # torch's rule
            raise TypeError(f"linear(): argument 'bias' must be Tensor, not {type(bias).__name__}")
        bias = _float_input(bias, "linear", "bias", weight.dtype)
    if weight.ndim == 2 and (bias is None or bias.shape == (weight.shape[0],)):
        return Linear.apply(x, weight, bias)
    # as torch's matmul + add: a 1-D weight drops the feature dim, a bias broadcasts
    if weight.ndim == 1 and bias is not None and x.ndim == 2:  # (torch's addmm refuses it)
        raise BadShapeOrValue(f"linear: a 1-D weight {weight.shape} takes no bias with 2-D input")
    y = ops.matmul(x, weight) if weight.ndim == 1 else Linear.apply(x, weight, None)
    if bias is None:
        return y
    try:
        fits = np.broadcast_shapes(bias.shape, y.shape) == y.shape
    except ValueError:
        fits = False
    if not fits:
        raise BadShapeOrValue(f"linear: bias shape {bias.shape} does not broadcast to {y.shape}")
    return y + bias


# ---- activations --------------------------------------------------------------------------


def _backward_as_laid(kernel, g, saved):
    """kernel(dy, saved) -> dx for a saved array that may be a dense permutation (a permuted
    input runs as it lies: Activation.forward, Elu.forward): dy and saved taken in saved's C
    order (no copy when dy shares its layout), dx put back in saved's strides."""
    order = None if saved.flags.c_contiguous else ops._dense_order(saved)
    if order is not None:
        saved = saved.transpose(order)
        g = g if g.size == 1 else g.transpose(order)
    dx = kernel(_contig(g), saved)
    return dx if order is None else dx.transpose(np.argsort(order))


class Activation(Function):
    """One fused C++ pass each way for every pointwise activation. Backward reads the forward
    input x (leaky_relu, elu, gelu, softplus, silu, mish, hardswish, hardtanh, hardsigmoid,
    logsigmoid) or output y (sigmoid, tanh, and relu, whose y > 0 exactly where x > 0): what
    torch saves, so writing in place into x after the op leaves backward as valid as torch's."""

    _FROM_OUTPUT = ("sigmoid", "tanh", "relu")
    _broadcast_grad = True  # a full sum's gradient arrives unfilled: the kernel reads it once

    @staticmethod
    def _values(x, name, params):  # (see ops._unary_apply)
        # a dense permutation (F order, a permuted view) runs as it lies: _C.activation gives y
        # x's strides (a (4, 100, 1000) float32 permuted view: 2.0 -> 0.33 ms, torch 0.40)
        if not (x.flags.c_contiguous or x.flags.f_contiguous) and (
            not _strides.non_overlapping_and_dense(x.shape, _strides._elem_strides(x))
        ):
            x = np.ascontiguousarray(x)
        if "approximate" in params or "threshold" in params:  # (gelu's, softplus's options)
            return _C.activation_forward(name, x, **params)
        # the cheap positional entry: ~0.5 us less a small call
        return ops._act_forward(name, x, params.get("alpha", 0.0), params.get("beta", 1.0))

    @staticmethod
    def forward(ctx, x, name, params):
        # (a dense permuted x runs as it lies, y and the saved array in its strides; backward
        # takes them in C order: a transposed float32 silu forward and backward was 3.5x torch)
        if not x.flags.c_contiguous and ("saves_y" in params or ops._dense_order(x) is None):
            x = np.ascontiguousarray(x)
        if params is _NO_PARAMS:  # (relu, tanh, ...: _values' kernel call, its tests skipped)
            y = _C.activation(x, ops._ACT_ID[name], 0.0, 1.0, None)
        elif "saves_y" in params:  # in place (_in_place's piecewise): y into x's own array
            a, b = params.get("alpha", 0.0), params.get("beta", 1.0)
            y = _C.activation(x, ops._ACT_ID[name], a, b, x)
        else:
            y = Activation._values(x, name, params)
        ctx.save_for_backward(y if name in Activation._FROM_OUTPUT or "saves_y" in params else x)
        ctx.act, ctx.params = name, params
        return y

    @staticmethod
    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        if (one := ops._one_value(g)) is not None:  # one value broadcast: the kernel takes it
            g = one
        g = g.astype(saved.dtype, copy=False)
        p = ctx.params
        if "approximate" in p or "threshold" in p:
            kernel = lambda dy, s: _C.activation_backward(ctx.act, dy, s, **p)  # noqa: E731
        else:
            a, b = p.get("alpha", 0.0), p.get("beta", 1.0)
            kernel = lambda dy, s: ops._act_backward(ctx.act, dy, s, a, b)  # noqa: E731
        return _backward_as_laid(kernel, g, saved), None, None

    @staticmethod
    def backward_graph(ctx, g):
        name, params = ctx.act, ctx.params
        if name in _PIECEWISE_LINEAR:  # a constant slope per piece: linear in g
            back = lambda v: Activation.backward(ctx, v)[0]  # noqa: E731  (self-adjoint)
            return _graph.linear(ctx, g, back, mask_of=ctx.parents[0]), None, None
        if name in Activation._FROM_OUTPUT:
            y = _graph.output(ctx, ctx.saved_tensors[0])
            return g * (y * (1 - y) if name == "sigmoid" else 1 - y * y), None, None
        if name in _ACTIVATION_SLOPE:  # g * f'(x), f' in Tensor ops
            return g * _ACTIVATION_SLOPE[name](ctx.parents[0], **params), None, None
        if name not in _ACTIVATION_GRAPH:
            return Function.backward_graph(ctx, g)  # refuses
        f = _ACTIVATION_GRAPH[name]
        return _graph.recompute(ctx, (g,), lambda x: f(x, **params), ctx.parents[0])[0], None, None


_PIECEWISE_LINEAR = ("relu", "leaky_relu", "hardtanh", "hardsigmoid")
# Derivatives in Tensor ops where differentiating the forward again would take the wrong piece
# at a kink (relu'(0) = abs'(0) = 0 made softplus'(0) 0; clamp's closed ends gave hardswish'(3)
# 1.5): each as torch's backward, which its double backward then differentiates (elu's second
# derivative only where x < 0, so 0 at x = 0, as torch's elu_double_backward).
_ACTIVATION_SLOPE = {
    "elu": lambda x, alpha: ops.where(x > 0, 1.0, alpha * ops.exp(ops.where(x < 0, x, 0.0))),
    "softplus": lambda x, beta, threshold: ops.where(x * beta > threshold, 1.0, sigmoid(x * beta)),
    "logsigmoid": lambda x: sigmoid(-x),
    "hardswish": lambda x: ops.where(x >= 3, 1.0, ops.where(x > -3, x / 3 + 0.5, 0.0)),
}
_ACTIVATION_GRAPH = {  # the smooth activations' forwards in Tensor ops, for create_graph
    "gelu": lambda x, approximate: (
        x * 0.5 * (1 + ops.erf(x * (1 / math.sqrt(2))))
        if approximate == "none"
        else 0.5 * x * (1 + tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x * x * x)))
    ),
    "silu": lambda x: x * sigmoid(x),
    "mish": lambda x: x * tanh(softplus(x)),
}


def _integer_tensor(x) -> bool:
    return isinstance(x, Tensor) and x.data.dtype.kind in "iu"


def _promote_integer(x):
    """Integer and bool Tensors become the default float dtype for float-valued maps
    (sigmoid, tanh, ...), as PyTorch promotes them; anything else passes through."""
    if isinstance(x, Tensor) and x.data.dtype.kind in "biu":
        return Tensor(x.data.astype(get_default_dtype()))
    return x


_NO_PARAMS: dict = {}


def _activation(op: str, input, params=_NO_PARAMS) -> Tensor:
    if type(input) is not Tensor or input.data.dtype.kind != "f":  # (a float Tensor as it is)
        input = _float_input(input, op)
    if params is _NO_PARAMS:  # (Activation._values: the kernel with its default alpha, beta)
        return ops._kernel_unary(ops._ACT_ID[op], Activation, input, op, params)
    return ops._unary_apply(Activation, input, op, params)


def relu(input, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("relu", relu, input, piecewise=("relu", {}))
    if type(input) is not Tensor or input.data.dtype.kind != "f":  # (a float Tensor: no check)
        if _integer_tensor(input):  # integers stay integers, as in PyTorch (no gradient to carry)
            return Tensor(np.maximum(input.data, 0).astype(input.data.dtype))
    return _activation("relu", input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place(
            "leaky_relu", leaky_relu, input, negative_slope, piecewise=_leaky(negative_slope)
        )
    return _activation("leaky_relu", input, {"alpha": float(negative_slope)})


def elu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("elu", elu, input, alpha)
    return _activation("elu", input, {"alpha": float(alpha)})


def gelu(input, approximate: str = "none") -> Tensor:
    """x * Phi(x) (exact, with erf) or its tanh approximation (approximate='tanh')."""
    if not isinstance(approximate, str):  # (a tensor here compared elementwise)
        raise TypeError(f"gelu: approximate must be a str, got {type(approximate).__name__}")
    if approximate not in ("none", "tanh"):
        raise BadShapeOrValue(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation("gelu", input, {"approximate": approximate})


def sigmoid(input) -> Tensor:
    """1 / (1 + exp(-x)), without overflow for any x (complex input: by NumPy)."""
    try:
        return _activation("sigmoid", _promote_integer(input))
    except _ComplexInput:
        return _complex.sigmoid(input)


def tanh(input) -> Tensor:
    try:
        return _activation("tanh", _promote_integer(input))
    except _ComplexInput:  # (a try costs nothing on the float path)
        return _complex.tanh(input)


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule)."""
    if beta == 0:
        raise BadShapeOrValue("softplus: beta must be nonzero")
    return _activation("softplus", input, {"beta": float(beta), "threshold": float(threshold)})


# ---- softmax ------------------------------------------------------------------------------


class Softmax(Function):
    # x (..., D, ...) -> y, normalised along dim (log=True: log-probabilities)
    @staticmethod
    def forward(ctx, x, dim, log):
        y = _C.softmax_forward(_contig(x), dim, log)
        ctx.save_for_backward(y)
        ctx.dim, ctx.log = dim, log
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (
            # (asarray: a 0-d gradient may come as a NumPy scalar in a second-order pass)
            _C.softmax_backward(y, _contig(np.asarray(g, y.dtype)), ctx.dim, ctx.log),
            None,
            None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        y = _graph.output(ctx, ctx.saved_tensors[0])
        d = ctx.dim
        if ctx.log:
            return g - ops.exp(y) * g.sum(d, keepdim=True), None, None
        return y * (g - (g * y).sum(d, keepdim=True)), None, None


def _softmax_input(input, dtype, op: str) -> Tensor:
    if dtype is not None:  # cast first, as torch: an integer input with dtype=float64 runs
        input = (input if isinstance(input, Tensor) else Tensor(np.asarray(input))).to(dtype)
    if isinstance(input, Tensor) and input.data.size == 0 and input.data.dtype.kind in "biu":
        return input  # empty: torch's kernel never runs, so no dtype check (a copy results)
    return _float_input(input, op)


_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _softmax_straight(x, dim, log: bool):
    """The common call -- a float32/float64 Tensor, an int dim in range -- by the kernel
    straight outside the graph (the generic path's checks and apply are ~7 us of a 32x32
    call), by Softmax.apply straight in it (the checks ~1.5 us), or None for anything else."""
    if type(x) is not Tensor or type(dim) is not int:
        return None
    a = x.data
    n = a.ndim or 1
    if (a.dtype is not _F32 and a.dtype is not _F64) or not -n <= dim < n:
        return None
    if x._requires_grad and not ops._outside_graph(x):
        return Softmax.apply(x, dim % n, log)  # (the dim as _dim gives it)
    return _plain(_C.softmax_forward(a if a.flags.c_contiguous else _contig(a), dim, log))


def softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``; finite for any finite logits."""
    if type(_stacklevel) is not int:  # a dtype third: torch.softmax(x, dim, dtype), = ember's
        dtype = _stacklevel
    if dtype is None and (y := _softmax_straight(input, dim, False)) is not None:
        return y
    x = _softmax_input(input, dtype, "softmax")
    if dim is None:
        dim = _implicit_softmax_dim(x.ndim, "softmax", _stacklevel)
    dim = _dim(dim, x.ndim, "softmax")
    return x.clone() if x.data.dtype.kind in "biu" else Softmax.apply(x, dim, False)


def log_softmax(input, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x - logsumexp(x) along ``dim``, computed without overflow."""
    if type(_stacklevel) is not int:  # a dtype third: torch.log_softmax(x, dim, dtype), = ember's
        dtype = _stacklevel
    if dtype is None and (y := _softmax_straight(input, dim, True)) is not None:
        return y
    x = _softmax_input(input, dtype, "log_softmax")
    if dim is None:
        dim = _implicit_softmax_dim(x.ndim, "log_softmax", _stacklevel)
    dim = _dim(dim, x.ndim, "log_softmax")
    return x.clone() if x.data.dtype.kind in "biu" else Softmax.apply(x, dim, True)


def _int_dim_softmax(fn):
    """torch.softmax / torch.log_softmax (and torch.special's): dim is a required int there,
    None refused (TypeError), where F.softmax reads None as its implicit dim."""

    # (dim=None as a default, not required: _keywords' direct out= wrapper needs one; a
    # missing dim is refused as None is)
    def op(input, dim=None, dtype=None) -> Tensor:  # noqa: A002
        if dim is None:
            name = fn.__name__
            raise TypeError(f"{name}(): argument 'dim' (position 2) must be int, not NoneType")
        return fn(input, dim, dtype=dtype)

    op.__name__, op.__doc__ = fn.__name__, fn.__doc__
    return op


_torch_softmax, _torch_log_softmax = _int_dim_softmax(softmax), _int_dim_softmax(log_softmax)


# ---- more activations (breadth branch) ----------------------------------------------------
# Pointwise activations as NumPy pairs: f(x) and its derivative f'(x), both written to stay
# finite (and warning-free) for any finite x. Kinks take PyTorch's one-sided derivative.


def _np_sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))  # (ops._where: branch-free, np.where branches per element)
    return ops._where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e)).astype(x.dtype, copy=False)


class Pointwise(Function):
    # y = f(x), dx = g * df(x); f and df are NumPy functions of x
    @staticmethod
    def _values(x, f, df):  # (see ops._unary_apply)
        return np.asarray(f(x), dtype=x.dtype)

    @staticmethod
    def forward(ctx, x, f, df):
        ctx.save_for_backward(x)
        ctx.df = df
        return Pointwise._values(x, f, df)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return np.asarray(g * ctx.df(x), dtype=x.dtype), None, None

    @staticmethod
    def backward_graph(ctx, g):
        dgraph = getattr(ctx.df, "graph", None)
        if dgraph is None:
            raise NotImplementedError(
                f"double backward through {getattr(ctx.df, 'op', 'Pointwise')} is not supported"
            )
        (x,) = _graph.inputs(ctx, ctx.saved_tensors[0])
        if dgraph is _MASK:  # g * mask(x): linear in g, x only picks the pieces
            diag = lambda v: Pointwise.backward(ctx, v)[0]  # noqa: E731 (its own adjoint)
            return _graph.linear(ctx, g, diag, mask_of=x), None, None
        return g * dgraph(x), None, None


_MASK = "mask"  # a Pointwise f' that is piecewise constant (0 or 1)


def _pointwise(op: str, input, f, df, dgraph) -> Tensor:
    """f(x) with f' = df (NumPy), and f' again in Tensor ops (``dgraph``, or _MASK) for
    create_graph=True; the df function carries it to the node."""
    df.op, df.graph = op, dgraph
    return ops._unary_apply(Pointwise, _float_input(input, op), f, df)


def silu(input, inplace: bool = False) -> Tensor:
    """x * sigmoid(x) (also called swish)."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("silu", silu, input)
    try:
        return _activation("silu", input)
    except _ComplexInput:  # x * sigmoid(x), as PyTorch's complex silu (which has no gradient)
        if input.requires_grad and is_grad_enabled():
            raise BadDtype(
                "silu does not support automatic differentiation for outputs with complex dtype"
            ) from None
        return input * _complex.sigmoid(input)


def mish(input, inplace: bool = False) -> Tensor:
    """x * tanh(softplus(x))."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("mish", mish, input)
    return _activation("mish", input)


_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


def _elu_pair(alpha: float, scale: float = 1.0, input_scale: float = 1.0):
    """scale * (x if x > 0 else alpha * (exp(input_scale * x) - 1)) and its derivative."""

    # (ops._where: np.where's bits without its branch per element, ~10x at 64x4096)
    def f(x):  # where, not minimum: -0.0 stays -0.0 (expm1(-0) = -0), as PyTorch's
        pos = x > 0
        return scale * ops._where(pos, x, alpha * np.expm1(ops._where(pos, 0, x) * input_scale))

    def df(x):
        pos = x > 0
        return scale * ops._where(
            pos, 1.0, alpha * input_scale * np.exp(ops._where(pos, 0, x) * input_scale)
        )

    return f, df


def _elu_graph(alpha: float, scale: float = 1.0, input_scale: float = 1.0):
    """_elu_pair's derivative in Tensor ops (for create_graph=True)."""

    def dgraph(x):
        # exp of x only where x < 0: the second derivative is 0 at x = 0, as torch's
        neg = ops.exp(ops.where(x < 0, x, 0.0) * input_scale) * (scale * alpha * input_scale)
        return ops.where(x > 0, scale, neg)

    return dgraph


class Elu(Function):
    """selu / celu by _C.elu: PyTorch's elu kernel with its three coefficients (alpha, scale,
    input_scale), one C++ pass each way (NumPy's where / expm1 / multiply passes took twice
    torch's time); backward reads the input x, as torch's. Named EluBackward0 (Celu:
    CeluBackward0), as torch's nodes."""

    @staticmethod
    def _values(x, coef, grad_coef):  # (see ops._unary_apply)
        if not x.flags.c_contiguous and (order := ops._dense_order(x)) is not None:
            # a dense permutation runs as it lies, y in its strides (as Activation's)
            return _C.elu(x.transpose(order), *coef).transpose(np.argsort(order))
        return _C.elu(_contig(x), *coef)

    @staticmethod
    def forward(ctx, x, coef, grad_coef):
        if not x.flags.c_contiguous and ops._dense_order(x) is None:  # (a dense permutation
            x = np.ascontiguousarray(x)  # stays: _backward_as_laid)
        ctx.save_for_backward(x)
        ctx.coef = grad_coef
        return Elu._values(x, coef, grad_coef)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        if (one := ops._one_value(g)) is not None:  # one value broadcast: the kernel takes it
            g = one
        kernel = lambda dy, s: _C.elu_backward(dy, s, *ctx.coef)  # noqa: E731
        return _backward_as_laid(kernel, g.astype(x.dtype, copy=False), x), None, None

    @staticmethod
    def backward_graph(ctx, g):
        (x,) = _graph.inputs(ctx, ctx.saved_tensors[0])
        return g * _elu_graph(*ctx.coef)(x), None, None


class Celu(Elu):
    pass


def _elu_apply(fn, op: str, input, coef, grad_coef) -> Tensor:
    """fn (Elu or Celu) for float32 / float64 input; other float dtypes by _elu_pair."""
    x = _float_input(input, op)
    if x.data.dtype == np.float32 or x.data.dtype == np.float64:
        return ops._unary_apply(fn, x, coef, grad_coef)
    f, _ = _elu_pair(*coef)
    _, df = _elu_pair(*grad_coef)
    return _pointwise(op, x, f, df, _elu_graph(*grad_coef))


def selu(input, inplace: bool = False) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al. (2017)."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("selu", selu, input)
    coef = (_SELU_ALPHA, _SELU_SCALE, 1.0)
    return _elu_apply(Elu, "selu", input, coef, coef)


def celu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x / alpha) - 1)."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("celu", celu, input, alpha)
    if alpha == 0:
        raise BadShapeOrValue("celu: alpha cannot be 0")
    # PyTorch's backward takes input_scale = 1 / alpha rounded to float32, in float64 too
    grad_coef = (float(alpha), 1.0, 1.0 / float(np.float32(alpha)))
    return _elu_apply(Celu, "celu", input, (float(alpha), 1.0, 1.0 / alpha), grad_coef)


def hardtanh(input, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is 1 strictly inside, 0 elsewhere."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place(
            "hardtanh", hardtanh, input, min_val, max_val, piecewise=_clamped(min_val, max_val)
        )
    if min_val > max_val:
        raise BadShapeOrValue("hardtanh: min_val cannot be greater than max_val")
    if _integer_tensor(input):  # integers stay integers, as in PyTorch (no gradient to carry)
        if input.data.dtype.kind in "ub" and (min_val < 0 or max_val < 0):  # (torch's refusal)
            raise BadDtype("cannot do hardtanh on an unsigned type with negative limits")
        return Tensor(np.clip(input.data, min_val, max_val).astype(input.data.dtype))
    return _activation("hardtanh", input, {"alpha": float(min_val), "beta": float(max_val)})


def relu6(input, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6)."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("relu6", relu6, input, piecewise=_clamped(0.0, 6.0))
    return hardtanh(input, 0.0, 6.0)


def hardsigmoid(input, inplace: bool = False) -> Tensor:
    """relu6(x + 3) / 6."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("hardsigmoid", hardsigmoid, input)
    return _activation("hardsigmoid", input)


def hardswish(input, inplace: bool = False) -> Tensor:
    """x * relu6(x + 3) / 6 (Howard et al., 2019)."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("hardswish", hardswish, input)
    return _activation("hardswish", input)


def softsign(input) -> Tensor:
    """x / (1 + |x|) (complex x too: torch's composite, and its gradient)."""
    if _is_complex(input):
        return ops.div(input, ops.add(ops.abs(input), 1))
    return _pointwise(
        "softsign",
        _promote_integer(input),
        lambda x: x / (1 + np.abs(x)),
        # PyTorch differentiates x / (|x| + 1) as written: 1/b - sgn(x) (x/b)/b, NaN at +-inf
        lambda x: 1 / (1 + np.abs(x)) - np.sign(x) * (x / (1 + np.abs(x))) / (1 + np.abs(x)),
        lambda x: 1 / (1 + ops.abs(x)) - ops.sign(x) * (x / (1 + ops.abs(x))) / (1 + ops.abs(x)),
    )


def logsigmoid(input) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for any x."""
    out = _activation("logsigmoid", input)
    if not out.data.flags.c_contiguous:  # (torch's log_sigmoid_forward: always C order)
        out.data = np.ascontiguousarray(out.data)
    return out


def tanhshrink(input) -> Tensor:
    """x - tanh(x), composed as torch's: its backward keeps tanh's result, not x."""
    x = _promote_integer(input)
    return x - tanh(x)


def softshrink(input, lambd: float = 0.5) -> Tensor:
    """x - lambd if x > lambd, x + lambd if x < -lambd, else 0 (lambd >= 0)."""
    if not 0 <= lambd < np.inf:  # (torch: in [0, the dtype's largest finite value])
        raise BadShapeOrValue(f"softshrink: lambd must be >= 0 and finite, got {lambd}")
    lam = float(lambd)

    def shrunk(x):
        if ops._kernel_ok(x):  # x - clamp(x, -lambd, lambd): the same values in two passes
            return x - ops._act_forward("clamp", x, -lam, lam)  # (+0 within, NaN kept)
        return np.where(np.abs(x) <= lam, 0.0, x - np.sign(x) * lam)

    return _pointwise(
        "softshrink",
        input,
        shrunk,  # as PyTorch's kernels (|x| <= lambd gives 0): a NaN stays NaN, not 0
        lambda x: np.abs(x) > lam,
        _MASK,
    )


def hardshrink(input, lambd: float = 0.5) -> Tensor:
    """x if |x| > lambd else 0."""
    lam = float(lambd)
    return _pointwise(
        "hardshrink",
        input,
        # NaN stays NaN, as in softshrink (ops._where: np.where's branch per element ~1 ms)
        lambda x: ops._where(np.abs(x) <= lam, 0.0, x),
        lambda x: np.abs(x) > lam,
        _MASK,
    )


def threshold(input, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """x if x > threshold else value."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("threshold", globals()["threshold"], input, threshold, value)
    if isinstance(input, Tensor) and input.data.dtype.kind in "iu":  # (no gradient there)
        t, v = (_int_scalar(a, input.data.dtype, "threshold") for a in (threshold, value))
        return Tensor(np.where(input.data <= t, v, input.data).astype(input.data.dtype))
    input = _float_input(input, "threshold")
    t, v = float(threshold), float(value)
    # as torch: the threshold converts to the compute type (float32 for 16-bit floats), the
    # value to the input's dtype, each refused where it overflows (inf and NaN convert)
    top = float(ml_dtypes.finfo(input.data.dtype).max)
    for a, limit in ((t, max(top, float(np.finfo(np.float32).max))), (v, top)):
        if limit < abs(a) < math.inf:
            raise RuntimeError(f"threshold: value {a} cannot be converted to {input.dtype}")
    t = np.asarray(t, np.float64 if input.data.dtype == np.float64 else np.float32)
    # PyTorch tests x <= threshold: a NaN input stays NaN and passes the gradient
    return _pointwise(
        "threshold", input, lambda x: ops._where(x <= t, v, x), lambda x: ~(x <= t), _MASK
    )


def _int_scalar(value, dtype, op: str) -> int:
    """A Python number as torch's Scalar.to<int type>: a float truncated if it lies within
    the type's range, an int as is (a negative one wrapped into an unsigned type)."""
    info = np.iinfo(dtype)
    if isinstance(value, int | np.integer):
        v = int(value)
        if info.min <= v <= info.max:
            return v
        if info.min == 0 and -info.max <= v < 0:
            return v + info.max + 1
    elif info.min <= float(value) <= info.max:  # (NaN and inf overflow)
        return int(float(value))
    raise RuntimeError(
        f"{op}: value {value} cannot be converted to {np.dtype(dtype)} without overflow"
    )


def _implicit_softmax_dim(ndim: int, op: str | None = None, stacklevel: int = 3) -> int:
    # PyTorch's legacy choice when dim is None; softmax and log_softmax warn as PyTorch does
    dim = 0 if ndim in (0, 1, 3) else 1
    if op is not None:
        warnings.warn(
            f"Implicit dimension choice for {op} has been deprecated. "
            "Change the call to include dim=X as an argument.",
            UserWarning,
            stacklevel=stacklevel,
        )
    return dim


def softmin(input, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """softmax(-x) along ``dim`` (None: PyTorch's legacy choice, 0 for 0/1/3-D inputs, else 1)."""
    if np.asarray(input.data if isinstance(input, Tensor) else input).dtype == np.bool_:
        raise BadDtype("softmin: negating a bool tensor is not supported (as torch)")
    x = _softmax_input(input, dtype, "softmin")
    if dim is None:  # (torch's legacy choice, with its warning)
        dim = _implicit_softmax_dim(x.ndim, "softmin", _stacklevel)
    d = _dim(dim, x.ndim, "softmin")
    return x.clone() if x.data.dtype.kind in "biu" else Softmax.apply(-x, d, False)


class GLU(Function):
    # x split in halves a, b along dim -> a * sigmoid(b)
    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        if x.dtype.char in "fd":  # the fused kernel: one pass each way, no halves copied
            x = _contig(x)
            ctx.save_for_backward(x)
            return _C.glu(x, dim)
        a, b = np.split(x, 2, axis=dim)
        s = _np_sigmoid(b)
        ctx.save_for_backward(a, s)
        return a * s

    @staticmethod
    def backward(ctx, g):
        if len(ctx.saved_tensors) == 1:
            (x,) = ctx.saved_tensors
            return _C.glu_backward(_contig(g.astype(x.dtype, copy=False)), x, ctx.dim), None
        a, s = ctx.saved_tensors
        return np.concatenate([g * s, g * a * s * (1 - s)], axis=ctx.dim).astype(a.dtype), None

    @staticmethod
    def backward_graph(ctx, g):
        def glu_map(x):
            a, b = ops.chunk(x, 2, ctx.dim)
            return a * sigmoid(b)

        return _graph.recompute(ctx, (g,), glu_map, ctx.parents[0])[0], None


def glu(input, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the two halves of the input along ``dim``."""
    x = _float_input(input, "glu")
    if x.ndim == 0:
        raise BadShapeOrValue("glu: does not support scalars because halving size must be even")
    d = _dim(dim, x.ndim, "glu")
    if x.shape[d] % 2:
        raise BadShapeOrValue(
            f"glu: halving dimension must be even, but dimension {d} is size {x.shape[d]}"
        )
    return GLU.apply(x, d)


class PReLU(Function):
    # x if x > 0 else w * x; w has 1 entry or one per channel (dim 1 of x)
    @staticmethod
    def forward(ctx, x, w):
        wb = w.reshape((-1,) + (1,) * (x.ndim - 2)) if w.size != 1 else w.reshape(())  # (0: C = 0)
        ctx.wshape = w.shape
        # the fused kernel, one pass each way (not for an empty x: _C.prelu's (N, C, 0) view
        # reads as (N, C) rows and writes past the output)
        if x.dtype.char in "fd" and w.dtype == x.dtype and x.size:
            x, w = _contig(x), _contig(w.reshape(-1))
            ctx.save_for_backward(x, w)
            ctx.fused = True
            return _C.prelu(x, w)
        ctx.save_for_backward(x, wb)
        ctx.fused = False
        # (ops._where: branch-free, np.where branches per element: ~30x at 64x4096)
        return ops._where(x > 0, x, wb * x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        if ctx.fused:
            x, w = ctx.saved_tensors
            gx, gw = _C.prelu_backward(_contig(np.asarray(g, x.dtype)), x, w)
            return gx, gw.reshape(ctx.wshape)
        x, wb = ctx.saved_tensors
        pos = x > 0
        g = g if g.flags.c_contiguous else np.ascontiguousarray(g)  # (ascontiguousarray: >= 1-D)
        if wb.ndim == 0 and ops._kernel_ok(x) and g.dtype == x.dtype:
            gx = ops._act_backward("leaky_relu", g, x, float(wb))
        else:
            gx = ops._where(pos, g, wb * g).astype(x.dtype, copy=False)
        gw = ops._where(pos, 0, g * x)
        axes = tuple(i for i in range(x.ndim) if not (wb.ndim and i == 1))
        gw = gw.sum(axis=axes).reshape(ctx.wshape).astype(x.dtype, copy=False)
        return gx, gw

    @staticmethod
    def backward_graph(ctx, g):
        x0, wb = ctx.saved_tensors
        if ctx.fused:  # (saved flat: the per-channel view again)
            wb = wb.reshape((-1,) + (1,) * (x0.ndim - 2)) if wb.size != 1 else wb.reshape(())
        x, w = _graph.inputs(ctx, x0, wb.reshape(ctx.wshape))
        shape = wb.shape

        def prelu_map(x, w):
            return ops.where(x > 0, x, w.reshape(shape) * x)

        return _graph.recompute(ctx, (g,), prelu_map, x, w)


def prelu(input, weight) -> Tensor:
    """x if x > 0 else weight * x, with one learnable slope or one per channel (dim 1)."""
    x = _float_input(input, "prelu")
    w = _float_input(weight, "prelu", "weight", dtype=x.data.dtype)
    if w.ndim > 1:
        raise BadShapeOrValue(f"prelu: weight must be a scalar or 1-D, got shape {w.shape}")
    channels = x.shape[1] if x.ndim >= 2 else 1
    if w.data.size != 1 and w.data.size != channels:
        raise BadShapeOrValue(
            "prelu: mismatch of parameter numbers and input channel size. Found parameter "
            f"numbers = {w.data.size} and channel size = {channels}."
        )
    return PReLU.apply(x, w)


# ---- channel and alpha dropout, distances, one_hot (breadth branch) -----------------------


class _Noise(Function):
    # y = x * scale + shift (scale, shift: arrays broadcasting to x, or shift None)
    @staticmethod
    def forward(ctx, x, scale, shift):
        ctx.scale = scale
        y = x * scale
        return (y if shift is None else y + shift).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        return (g * ctx.scale).astype(g.dtype, copy=False), None, None

    @staticmethod
    def backward_graph(ctx, g):
        return g * _graph.constant(np.asarray(ctx.scale, g.dtype)), None, None


def _check_p(p) -> None:
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise BadShapeOrValue(f"dropout probability has to be between 0 and 1, but got {p!r}")


_SELU_NEG = _SELU_ALPHA * _SELU_SCALE  # SELU's negative saturation value is -_SELU_NEG


def _dropout_noise(x: Tensor, p: float, mask_shape: tuple | None, alpha: bool) -> Tensor:
    """Keeps each entry of a ``mask_shape`` mask (broadcast over x) with probability 1 - p.
    Plain: kept entries are scaled by 1 / (1 - p). Alpha (Klambauer et al., 2017): dropped
    entries are set to SELU's saturation value, then an affine map restores mean and variance."""
    from ember.random import rng as _global_rng

    # (the nodes named as torch's last op: its input * noise, then + shift for alpha)
    if p == 1.0:
        return _autograd_function.named(
            _Noise.apply(x, np.zeros((), x.dtype), None), "MulBackward0"
        )
    keep = (_global_rng().random(mask_shape) >= p).astype(x.dtype)
    if not alpha:
        return _autograd_function.named(
            _Noise.apply(x, keep * (1.0 / (1.0 - p)), None), "MulBackward0"
        )
    a = 1.0 / math.sqrt((_SELU_NEG * _SELU_NEG * p + 1) * (1 - p))
    shift = (keep - 1) * (_SELU_NEG * a) + _SELU_NEG * a * p
    return _autograd_function.named(
        _Noise.apply(x, keep * a, shift.astype(x.dtype)), "AddBackward0"
    )


def _feature_mask(shape: tuple, p: float) -> tuple:
    """One mask entry per (sample, channel): (N, C, 1, ..., 1). None for p = 1, which drops
    everything at any rank (torch's shortcut before its rank check)."""
    if p == 1.0:
        return None
    if len(shape) < 2:
        raise BadShapeOrValue(
            f"feature dropout needs at least 2 dims (N, C, ...), got shape {shape}"
        )
    return shape[:2] + (1,) * (len(shape) - 2)


def _dropout_input(input, op: str, p, training) -> Tensor:
    """A dropout's input: a Tensor of any dtype where the dropout is the identity (eval or
    p = 0: returned as is, as PyTorch's shortcut), else a float one."""
    if isinstance(input, Tensor) and (not training or p == 0.0):
        return input
    return _float_input(input, op)


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels: input (N, C, L) or (C, L); each channel is kept with probability
    1 - p and scaled by 1 / (1 - p)."""
    _check_p(p)
    training = _bool_arg(training, "feature_dropout", "train")
    x = _dropout_input(input, "dropout1d", p, training)
    if x.ndim not in (2, 3):
        raise BadShapeOrValue(
            f"dropout1d: expected a 2D or 3D input, but received a {x.ndim}D input"
        )
    if inplace:  # the input takes the result and is returned, as PyTorch
        if x.ndim == 2:
            return _in_place_unbatched("dropout1d", dropout1d, x, p, training)
        if not training or p == 0.0 or x.data.size == 0:
            return x
        return _in_place("dropout1d", dropout1d, input, p, training)
    return _unbatched_dropout(x, 3, p, training)


def _in_place_unbatched(op: str, fn, x: Tensor, p: float, training: bool) -> Tensor:
    """torch's in-place dropout1d / dropout3d of an unbatched x: unsqueeze_, dropout_, then
    squeeze_, whose node (SqueezeBackward4) x then has, even when nothing was dropped."""
    from ember import _inplace

    if not _inplace.recording(x):
        return _in_place(op, fn, x, p, training)
    named = lambda t, *a: _autograd_function.named(fn(t, *a), "SqueezeBackward4")  # noqa: E731
    return _in_place(op, named, x, p, training)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, H, W) inputs. PyTorch's rules for other ranks: a 3D
    input is read as (N, C, L), with a warning; other ranks warn and are read as (N, C, ...)."""
    _check_p(p)
    training = _bool_arg(training, "feature_dropout", "train")
    x = _dropout_input(input, "dropout2d", p, training)
    if x.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {x.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead.",
            stacklevel=2,
        )
    if x.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C "
            "is the channel dim. To maintain the 1D channel-wise dropout behavior, please "
            "switch to using dropout1d instead.",
            stacklevel=2,
        )
    if not training or p == 0.0 or x.data.size == 0:
        return x
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("dropout2d", dropout2d, input, p, training)
    return _dropout_noise(x, p, _feature_mask(x.shape, p), False)


def dropout3d(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Zeroes whole channels of (N, C, D, H, W) or (C, D, H, W) inputs."""
    if inplace:  # the input takes the result and is returned, as PyTorch
        if isinstance(input, Tensor) and input.ndim == 4:
            return _in_place_unbatched("dropout3d", dropout3d, input, p, training)
        return _in_place("dropout3d", dropout3d, input, p, training)
    _check_p(p)
    training = _bool_arg(training, "feature_dropout", "train")
    x = _dropout_input(input, "dropout3d", p, training)
    if x.ndim not in (4, 5):
        warnings.warn(
            f"dropout3d: Received a {x.ndim}-D input to dropout3d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead.",
            stacklevel=2,
        )
    return _unbatched_dropout(x, 5, p, training)


def _unbatched_dropout(x: Tensor, batched_ndim: int, p: float, training: bool) -> Tensor:
    """dropout1d / dropout3d of x, batched (batched_ndim dims) or not: an unbatched x runs as
    a batch of one, its node named as torch's squeeze. The identity returns x itself when
    batched and, as torch, a new view of x (unsqueezed then squeezed) when not."""
    if not training or p == 0.0 or x.data.size == 0:
        return x if x.ndim == batched_ndim else x.unsqueeze(0).squeeze(0)
    shape = x.shape if x.ndim == batched_ndim else (1,) + x.shape
    mask = _feature_mask(shape, p)
    y = _dropout_noise(x, p, mask if mask is None else mask[batched_ndim - x.ndim :], False)
    return y if x.ndim == batched_ndim else _autograd_function.named(y, "SqueezeBackward1")


def alpha_dropout(input, p: float = 0.5, training: bool = False, inplace: bool = False) -> Tensor:
    """Dropout for SELU networks: keeps zero mean and unit variance of standardised inputs.
    (Note PyTorch's default ``training=False`` for the functional form.)"""
    _check_p(p)
    training = _bool_arg(training, "alpha_dropout", "train")
    x = input if isinstance(input, Tensor) else _float_input(input, "alpha_dropout")
    if not training or p == 0.0 or x.data.size == 0:
        return x  # (any dtype, as torch's shortcut)
    x = _float_input(x, "alpha_dropout")
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("alpha_dropout", alpha_dropout, input, p, training)
    return _dropout_noise(x, p, x.shape, True)


def feature_alpha_dropout(
    input, p: float = 0.5, training: bool = False, inplace: bool = False
) -> Tensor:
    """Alpha dropout of whole channels (N, C, ...)."""
    _check_p(p)
    training = _bool_arg(training, "feature_alpha_dropout", "train")
    x = input if isinstance(input, Tensor) else _float_input(input, "feature_alpha_dropout")
    if not training or p == 0.0 or x.data.size == 0:
        return x  # (any dtype, as torch's shortcut)
    x = _float_input(x, "feature_alpha_dropout")
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("feature_alpha_dropout", feature_alpha_dropout, input, p, training)
    return _dropout_noise(x, p, _feature_mask(x.shape, p), True)


def rrelu(
    input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False, inplace=False
) -> Tensor:
    """Randomized leaky ReLU (Xu et al., 2015): x if x > 0 else a * x, with a ~ U(lower, upper)
    drawn per element while training (ember's generator) and a = (lower + upper) / 2 otherwise."""
    if type(inplace) is not bool and inplace is not None and not isinstance(inplace, int):
        # torch.rrelu's fifth argument is generator= (ember.rrelu is this function): a
        # Generator there is not a truthy inplace flag
        raise TypeError(
            f"rrelu: inplace must be a bool, got {type(inplace).__name__}; pass a generator "
            "as ember.rrelu(..., generator=g)"
        )
    return _rrelu(input, lower, upper, training, inplace, None)


def _rrelu(input, lower, upper, training, inplace, generator) -> Tensor:  # noqa: A002
    """rrelu's body; ``generator`` (torch.rrelu's keyword) draws the slopes (None: the
    global stream that ember.manual_seed seeds)."""
    training = _bool_arg(training, "rrelu", "training")
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place(
            "rrelu", lambda x, *a: _rrelu(x, *a, False, generator), input, lower, upper, training
        )
    if not lower <= upper:
        raise BadShapeOrValue(f"rrelu: lower ({lower}) must be <= upper ({upper})")
    x = _float_input(input, "rrelu")
    if not training:  # (torch's node is rrelu_with_noise's in both modes)
        return _autograd_function.named(
            leaky_relu(x, (lower + upper) / 2), "RreluWithNoiseBackward0"
        )
    from ember.random import rng as _rng

    a = _rng(generator).uniform(lower, upper, x.shape).astype(x.dtype)
    slope = np.where(x.data > 0, 1, a).astype(x.dtype)
    return _autograd_function.named(_Noise.apply(x, slope, None), "RreluWithNoiseBackward0")


class VectorNorm(Function):
    # ||x||_p along dim (keepdim); the gradient is 0 where the norm is 0 (as PyTorch's)
    @staticmethod
    def forward(ctx, x, p, dim, keepdim):
        ax = np.abs(x)
        if p == math.inf:
            n = ax.max(axis=dim, keepdims=True)
        elif p == 2:
            n = np.sqrt((x * x).sum(axis=dim, keepdims=True))
        else:
            n = (ax**p).sum(axis=dim, keepdims=True) ** (1.0 / p)
        ctx.save_for_backward(x, n)
        ctx.p, ctx.dim, ctx.keepdim = p, dim, keepdim
        return n if keepdim else n.squeeze(dim)

    @staticmethod
    def backward(ctx, g):
        x, n = ctx.saved_tensors
        p, dim = ctx.p, ctx.dim
        if not ctx.keepdim:
            g = np.expand_dims(g, dim)
        safe = np.where(n == 0, 1, n)
        if p == math.inf:
            hit = np.abs(x) == n
            local = np.sign(x) * hit / hit.sum(axis=dim, keepdims=True)
        elif p == 2:
            local = x / safe
        else:
            with np.errstate(divide="ignore"):
                local = np.sign(x) * np.abs(x) ** (p - 1) / safe ** (p - 1)
            if p < 1:  # |x|^(p-1) is inf at x = 0: PyTorch's gradient there is 0, not NaN
                local = np.where(x == 0, 0, local)  # (not local[...] =: a 0-d x gives a scalar)
        gx = np.where(n == 0, 0, g * local)
        return gx.astype(x.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        p, dim, keepdim = ctx.p, ctx.dim, ctx.keepdim
        norm = lambda x: ops.norm(x, p, dim, keepdim)  # noqa: E731  (Norm2 / NormP)
        return _graph.recompute(ctx, (g,), norm, ctx.parents[0])[0], None, None, None


def _norm(x: Tensor, p: float, dim: int, keepdim: bool) -> Tensor:
    if not p > 0:
        raise BadShapeOrValue(f"norm: p must be > 0, got {p}")
    if p == math.inf and x.ndim and x.shape[dim] == 0:  # (a max over nothing)
        raise BadShapeOrValue(
            f"norm: cannot compute the inf norm over dim {dim} of {x.shape}: it is empty"
        )
    return VectorNorm.apply(x, float(p), dim, keepdim)


class _Normalize2(Function):
    """x / max(||x||_2, eps) along dim as one node: PyTorch's gradients through the division,
    the clamp (which passes them where the norm >= eps) and the norm (0 where it is 0)."""

    @staticmethod
    def forward(ctx, x, dim, eps):
        n = np.sqrt(_dot(x, x, dim))
        c = np.maximum(n, np.asarray(eps, x.dtype))
        ctx.save_for_backward(x, n, c)
        ctx.meta = (dim, eps)
        return ops._bcast(np.true_divide, x, c)  # (the C++ row-broadcast division)

    @staticmethod
    def backward(ctx, g):
        x, n, c = ctx.saved_tensors
        dim, eps = ctx.meta
        dn = np.where(n >= eps, _dot(g, x, dim) / (c * c), 0)  # minus d(loss)/d(norm)
        gx = ops._bcast(np.true_divide, np.ascontiguousarray(g), c)
        gx -= ops._bcast(np.multiply, x, np.where(n == 0, 0, dn / np.where(n == 0, 1, n)))
        return gx.reshape(x.shape), None, None  # (ascontiguousarray made a 0-d g 1-d)

    @staticmethod
    def backward_graph(ctx, g):
        dim, eps = ctx.meta

        def normalize(x):  # the clamp passes gradients where the norm >= eps, as backward
            return x / ops.clamp(ops.norm(x, 2, dim, True), min=eps)

        return _graph.recompute(ctx, (g,), normalize, ctx.parents[0])[0], None, None


def normalize(input, p: float = 2.0, dim: int = 1, eps: float = 1e-12, out=None) -> Tensor:
    """input / max(||input||_p, eps) along ``dim``."""
    if out is not None:
        raise BadShapeOrValue("normalize: out= is not supported")
    if _is_complex(input):  # x / max(||x||_p, eps): torch's composite, the norm of the moduli
        from ember import linalg, ops

        n = linalg.vector_norm(input, p, _dim(dim, input.ndim, "normalize"), True)
        return input / ops.clamp(n, min=eps)
    x = _float_input(input, "normalize")
    d = _dim(dim, x.ndim, "normalize")
    if p == 2:
        return _Normalize2.apply(x, d, float(eps))
    from ember import linalg, ops

    # p = 0 (a count) or p < 0: linalg.vector_norm's, as PyTorch's input.norm(p)
    n = _norm(x, p, d, True) if not p <= 0 else linalg.vector_norm(x, p, d, True)
    return x / ops.clamp(n, min=eps)


def _same_dtype_pair(op: str, a, b):
    a, b = _float_operands(op, ("x1", "x2"), a, b, ints_alone=False)
    try:
        shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise BadShapeOrValue(f"{op}: shapes {a.shape} and {b.shape} do not broadcast") from None
    return a, b, shape


def _dot(u: np.ndarray, v: np.ndarray, d: int) -> np.ndarray:
    """sum(u * v) along d, kept: np.vecdot (no temporary) along the last axis, where it is
    fast; a product and a sum along the others."""
    if d == u.ndim - 1:
        return np.expand_dims(np.vecdot(u, v, axis=d), d)
    return (u * v).sum(axis=d, keepdims=True)


# float16's / float32's tiny / eps: a product of two norms below it lost its dot's low bits
_COS_SMALL = {c: float(np.finfo(c).tiny / np.finfo(c).eps) for c in "ef"}


def _cosine_sums_fit(r, ab, dtype) -> bool:
    """Whether cosine_similarity's norms r and dot product of ab, summed in dtype, neither
    overflowed nor (for a pair of nonzero norms) lost their low bits to underflow. (Reductions,
    not elementwise masks: a few us on small inputs.)"""
    rr = r[0] * r[1]  # (under forward's errstate: an overflow just sends the sums to float64)
    if rr.size == 0:
        return True
    # |dot| <= rr (Cauchy-Schwarz): finite norms keep it finite. A sum that overflows or is
    # NaN (an inf or NaN input: the float64 sums give the same NaN) sends them to float64
    if not rr.sum() < np.inf:
        return False
    lim = _COS_SMALL[dtype.char]
    # (nonzero norms, not rr > 0: a product that underflowed to 0 lost its bits too)
    if rr.min() < lim and ((r[0] > 0) & (r[1] > 0) & (rr < lim)).any():
        return False
    # a norm of 0 from squares that all underflowed (|x| < ~1e-23 in float32), not zeros
    return not any((v == 0).any() and np.any(x) for v, x in zip(r, ab, strict=True))


class CosineSimilarity(Function):
    # a, b (broadcast to one shape) -> y = (a.b / n_a) / n_b along d, n = max(||.||, eps); as
    # PyTorch clamps the norms outside autograd, the gradient takes ||.||'s own (a / ||a||, 0 at
    # a = 0) even where n = eps: three sums forward, two products back, not a graph of eight ops.
    @staticmethod
    def forward(ctx, a, b, d, eps):
        shape = np.broadcast_shapes(a.shape, b.shape)
        ab = np.broadcast_to(a, shape), np.broadcast_to(b, shape)
        with np.errstate(over="ignore", invalid="ignore"):  # (inf / inf is NaN, as torch's)
            r = [np.sqrt(_dot(v, v, d)) for v in ab]
            dot = _dot(ab[0], ab[1], d)
            ndt = a.dtype
            if a.dtype.char in "ef" and not _cosine_sums_fit(r, ab, a.dtype):
                # float16's squares overflow past 256, float32's past 1.8e19, and tiny pairs
                # underflow (torch divides by the norms first, its half sums in float): the
                # sums in float64 then (were NaN for float16 of norm 300, float32 of 1e20)
                w = [v.astype(np.float64) for v in ab]
                r = [np.sqrt(_dot(v, v, d)) for v in w]
                dot, ndt = _dot(w[0], w[1], d), np.float64
            n = [np.maximum(v, eps).astype(ndt, copy=False) for v in r]
            y = dot / n[0] / n[1]
        ctx.save_for_backward(a, b)
        ctx.meta = (d, eps, r, n, y)
        # (a copy, one value per row: an in-place write into the output, which torch allows,
        # leaves the y backward reads unchanged; np.vecdot of bfloat16 gives float32)
        return y.squeeze(d).astype(a.dtype)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        d, eps, r, n, y = ctx.meta
        g = np.expand_dims(g, d)
        s = g / n[0] / n[1]
        # dy/da = b / (na nb) - y a / (na ||a||), the second term only where ||a|| > 0
        k = []
        for rv, nv in zip(r, n):
            live = rv > 0
            safe = np.where(live, rv, 1)
            k.append(np.where(live, g * y / nv / safe, 0).astype(nv.dtype, copy=False))
        ga = (b * s - a * k[0]).astype(a.dtype, copy=False)  # (float64 sums: see forward)
        gb = (a * s - b * k[1]).astype(a.dtype, copy=False)
        return unbroadcast(ga, a.shape), unbroadcast(gb, b.shape), None, None

    @staticmethod
    def backward_graph(ctx, g):
        a, b = _graph.inputs(ctx, *ctx.saved_tensors)
        d, eps = ctx.meta[:2]

        def clamped_norm(v):  # max(||v||, eps) with ||v||'s gradient, as forward's
            r = ops.norm(v, 2, d, True)
            return r + (ops.clamp(r, min=eps) - r).detach()

        def cosine(a, b):  # the forward in Tensor ops, on the broadcast pair as forward's norms
            a, b = ops.broadcast_tensors(a, b)
            return ((a * b).sum(d, keepdim=True) / clamped_norm(a) / clamped_norm(b)).squeeze(d)

        return _graph.recompute(ctx, (g,), cosine, a, b) + (None, None)


def cosine_similarity(x1, x2, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum(x1 / max(||x1||, eps) * x2 / max(||x2||, eps)) along ``dim`` (inputs broadcast)."""
    a, b, shape = _same_dtype_pair("cosine_similarity", x1, x2)
    d = _dim(dim, len(shape), "cosine_similarity")
    if not eps >= 0:  # NaN too, as PyTorch
        raise BadShapeOrValue(f"cosine_similarity: eps must be non-negative, got: {eps}")
    # (torch's composite ends in a sum over dim: its node)
    return _autograd_function.named(CosineSimilarity.apply(a, b, d, float(eps)), "SumBackward1")


def one_hot(input, num_classes: int = -1) -> Tensor:  # noqa: A002 (torch's name)
    """int64 (..., num_classes) with a 1 at each index of ``input`` (num_classes=-1: max + 1)."""
    idx = input.data if isinstance(input, Tensor) else np.asarray(input)
    if idx.dtype.kind not in "iu":  # (torch: RuntimeError)
        raise BadDtype(f"one_hot: expected an integer index tensor, got {idx.dtype}")
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)):
        raise TypeError(
            f"one_hot: num_classes must be int, not {type(num_classes).__name__}"
        )  # (-1.0 == -1: checked before the value)
    if idx.size == 0 and num_classes in (-1, 0):  # (PyTorch refuses 0 here too)
        raise BadShapeOrValue("one_hot: can not infer the number of classes from an empty tensor")
    if num_classes == -1:
        num_classes = int(idx.max()) + 1
    elif num_classes < 0:
        raise BadShapeOrValue(
            f"one_hot: num_classes must be a non-negative int or -1, got {num_classes!r}"
        )
    if idx.size and idx.min() < 0:
        raise BadShapeOrValue("one_hot: class values must be non-negative")
    if idx.size and idx.max() >= num_classes:
        raise BadShapeOrValue("one_hot: class values must be smaller than num_classes")
    # the 1s by flat position (row * num_classes + class): ~2x put_along_axis on small inputs
    out = np.zeros(idx.size * num_classes, dtype=np.int64)
    out[np.arange(0, out.size, num_classes or 1) + idx.reshape(-1)] = 1
    return Tensor._make(out.reshape(idx.shape + (num_classes,)), False, None, 0)


# ---- losses -------------------------------------------------------------------------------


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _node(out, name: str):
    """out (a Tensor, or a pool's (values, indices)), its values' node named as torch's (ember
    reshapes or composes the op; torch's graph shows its own kernel's node)."""
    _autograd_function.named(out[0] if isinstance(out, tuple) else out, name)
    return out


def _class_node(loss: Tensor, ndim: int, reduction: str, smoothing: float = 0.0) -> Tensor:
    """nll_loss / cross_entropy (class indices), its node named as torch's (ember fuses them):
    the smoothing sum, else nll_loss for (C,) / (N, C), nll_loss2d for 4-D, which other dims
    view through (viewed back when unreduced)."""
    if smoothing > 0:
        name = "AddBackward0"
    elif ndim <= 2:
        name = "NllLossBackward0"
    else:
        name = "ViewBackward0" if ndim != 4 and reduction == "none" else "NllLoss2DBackward0"
    return _autograd_function.named(loss, name)


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, t, reduction):
        d = x - t
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        sq = d * d
        if reduction == "none":
            return sq
        with np.errstate(invalid="ignore"):  # an empty mean is NaN, without NumPy's warning
            total = sq.sum() / np.asarray(sq.size, x.dtype) if reduction == "mean" else sq.sum()
        return np.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        scale = 2.0 / max(d.size, 1) if ctx.reduction == "mean" else 2.0  # empty: no grad
        gx = (g * scale) * d
        nx, nt, _ = ctx.needs_input_grad
        return (gx if nx else None, -gx if nt else None, None)

    @staticmethod
    def backward_graph(ctx, g):
        (d,) = ctx.saved_tensors
        px, pt = ctx.parents[:2]  # (a constant one from the other and d = x - t)
        x = px if px is not None else _graph.constant(pt.data + d)
        t = pt if pt is not None else _graph.constant(px.data - d)
        scale = 2.0 / max(d.size, 1) if ctx.reduction == "mean" else 2.0
        gx = (g * scale) * (x - t)
        nx, nt, _ = ctx.needs_input_grad
        return (gx if nx else None, -gx if nt else None, None)


class RegressionLoss(Function):
    # x, t of one shape and float dtype -> loss('mse' | 'l1' | 'huber' | 'smooth_l1') of x - t,
    # one fused C++ pass each way; param is huber's delta or smooth_l1's beta
    @staticmethod
    def forward(ctx, x, t, loss, param, reduction):
        x, t = _contig(x), _contig(t)
        ctx.meta = (loss, param, reduction)
        if loss == "l1" and any(ctx.needs_input_grad[:2]):
            # l1 keeps d = x - t only (written by the forward pass itself; backward takes t None):
            # torch's l1 is abs(x - t), so x and t may be written in place before backward (its
            # mse / huber / smooth_l1 keep x and t, as here)
            out, d = _C.regression_loss_forward(x, t, loss, param, reduction, True)
            ctx.save_for_backward(d, None)
            return out
        ctx.save_for_backward(x, t)
        return _C.regression_loss_forward(x, t, loss, param, reduction)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors  # l1: d = x - t and None
        loss, param, reduction = ctx.meta
        g = np.asarray(g, dtype=x.dtype)
        two = 2.0 if loss == "mse" else 1.0
        if reduction == "none":
            dx = _C.regression_loss_backward(x, t, _contig(g), loss, param, two)
        else:  # the scale in the input's dtype: g * (2 / n) for mse's mean, g / n for the others
            if reduction == "mean" and x.size:
                scale = g * (2.0 / x.size) if loss == "mse" else g / x.size
            else:
                scale = g * two
            dx = _C.regression_loss_backward(x, t, None, loss, param, float(scale))
        nx, nt = ctx.needs_input_grad[:2]
        return (dx if nx else None), (-dx if nt else None), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        loss, param, reduction = ctx.meta
        if loss == "l1":  # sign(d) is piecewise constant
            d = ctx.saved_tensors[0]
            gx = _grad_scale(g, reduction, d.size) * _graph.constant(_sign(d))
            nx, nt = ctx.needs_input_grad[:2]
            return (gx if nx else None), (-gx if nt else None), None, None, None
        pointwise = _REGRESSION_GRAPH[loss]
        x, t = _graph.inputs(ctx, *ctx.saved_tensors)
        gx, gt = _graph.recompute(
            ctx, (g,), lambda x, t: _reduce(pointwise(x - t, param), reduction), x, t
        )
        return gx, gt, None, None, None


_REGRESSION_GRAPH = {  # RegressionLoss's pointwise losses of d = x - t in Tensor ops
    "mse": lambda d, p: d * d,
    "l1": lambda d, p: ops.abs(d),
    "huber": lambda d, p: ops.where(ops.abs(d) < p, 0.5 * d * d, p * (ops.abs(d) - 0.5 * p)),
    "smooth_l1": lambda d, p: (
        ops.where(ops.abs(d) < p, 0.5 * d * d / p, ops.abs(d) - 0.5 * p) if p > 0 else ops.abs(d)
    ),
}


def _fused_loss(x: Tensor, t: Tensor, loss: str, param: float, reduction: str):
    """RegressionLoss when x and t share a float32/float64 dtype, else None."""
    if x.data.dtype == t.data.dtype and x.data.dtype in (np.float32, np.float64):
        return RegressionLoss.apply(x, t, loss, float(param), reduction)
    return None


# Losses whose integer targets PyTorch refuses (the others promote them to input's dtype)
_FLOAT_TARGET_ONLY = frozenset(
    ("binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div")
)
# losses whose PyTorch formula subtracts the target itself: a bool target is refused there
_NO_BOOL_TARGET = frozenset(("l1_loss", "multilabel_soft_margin_loss"))


# Losses PyTorch computes in the wider of two float dtypes (float32 input, float64 target:
# a float64 loss); the others keep the input's dtype
_WIDEST_FLOAT = frozenset(
    ("mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits", "kl_div")
)


# Losses PyTorch computes for an integer input with a float target (in the target's dtype)
_INT_INPUT = frozenset(("mse_loss", "l1_loss", "smooth_l1_loss", "poisson_nll_loss"))


def _warn_target_broadcast(x, t) -> None:
    """torch's warning for a loss whose target broadcasts to a shape other than the input's,
    at the user's line (user -> the losses' torch-signature wrapper -> loss -> checker -> here)."""
    warnings.warn(
        f"Using a target size {t.shape} that is different to the input size {x.shape}. "
        "This will likely lead to incorrect results due to broadcasting. "
        "Please ensure they have the same size.",
        UserWarning,
        stacklevel=5,
    )


def _loss_pair(op, input, target, broadcast: str | None = None):
    """input and target as float Tensors of one shape. Shapes that differ are refused, unless
    ``broadcast`` lets them broadcast as PyTorch does: "warn" with its warning (mse/l1/huber/
    smooth_l1, so a (N, 1) prediction against an (N,) target runs), "quiet" without (kl_div,
    poisson_nll_loss, soft_margin_loss, multilabel_soft_margin_loss)."""
    if op in _INT_INPUT and _is_int(input) and isinstance(target, Tensor):
        input = ops.cast(input, target.data.dtype)  # a float target's (an integer one: refused)
    x = _float_input(input, op)
    t = _float_input(target, op, "target", x.dtype) if not isinstance(target, Tensor) else target
    if t.data.dtype.kind == "c":  # (a cast would drop the imaginary part silently)
        raise BadDtype(f"{op}: target must be real, got {t.dtype}")
    if not _lowp.is_float(t.data.dtype):
        if op in _FLOAT_TARGET_ONLY:
            raise BadDtype(f"{op}: target must be floating point, got {t.dtype}")
        if op in _NO_BOOL_TARGET and t.data.dtype == np.bool_:  # (torch: RuntimeError)
            raise BadDtype(f"{op}: a bool target is not supported (subtraction with bool)")
        t = ops.cast(t, x.data.dtype)  # PyTorch promotes an integer target to input's dtype
    elif t.data.dtype != x.data.dtype and broadcast == "quiet" and (x.ndim == 0) != (t.ndim == 0):
        # these losses compute on the operands as given (no broadcast_tensors first), so by
        # PyTorch's promotion a 0-d float operand does not widen the other's float dtype
        dt = t.data.dtype if x.ndim == 0 else x.data.dtype
        x, t = ops.cast(x, dt), ops.cast(t, dt)
    elif t.data.dtype != x.data.dtype and op in _WIDEST_FLOAT:
        wide = np.promote_types(x.data.dtype, t.data.dtype)
        x, t = ops.cast(x, wide), ops.cast(t, wide)
    if x.shape != t.shape:
        try:
            shape = np.broadcast_shapes(x.shape, t.shape) if broadcast else None
        except ValueError:
            shape = None
        if shape is None:
            raise BadShapeOrValue(f"{op}: input shape {x.shape} and target shape {t.shape} differ")
        if broadcast == "warn":
            _warn_target_broadcast(x, t)
        x, t = ops.expand(x, shape), ops.expand(t, shape)
    return x, t


def _weighted(op, loss_fn, x, t, weight, reduction, weight_mean=True) -> Tensor:
    """PyTorch's elementwise ``weight`` of mse/l1/huber (exactly input's shape): the unreduced
    loss times weight; 'mean' divides by sum(weight) (by the element count if not weight_mean)."""
    w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=x.dtype))
    if w.shape != x.shape:
        raise BadShapeOrValue(f"{op}: weight shape {w.shape} must equal input shape {x.shape}")
    loss = loss_fn(x, t, "none") * w
    if reduction == "mean" and weight_mean:
        return loss.sum() / w.sum()
    return _reduce(loss, reduction)


@_torch_loss_params("input", "target", "size_average", "reduce", "reduction", "weight")
def mse_loss(input, target, reduction: str = "mean", weight=None) -> Tensor:
    """Mean squared error. Shape: input and target of the same shape; ``weight`` (optional)
    of that shape too: 'mean' is then sum(w (x - t)^2) / sum(w), as PyTorch."""
    _check_reduction("mse_loss", reduction)
    x, t = _loss_pair("mse_loss", input, target, broadcast="warn")
    if weight is not None:
        return _weighted("mse_loss", MSELoss.apply, x, t, weight, reduction)
    fused = _fused_loss(x, t, "mse", 0.0, reduction)
    return fused if fused is not None else MSELoss.apply(x, t, reduction)


def _class_layout(op: str, x: np.ndarray, target: np.ndarray):
    """(N, C, d1, ...) input and (N, d1, ...) target -> rows (M, C) and flat targets (M,)."""
    if x.ndim == 1:  # unbatched (C,) with a 0-d target
        if target.ndim != 0:
            raise BadShapeOrValue(
                f"{op}: for 1-D input {x.shape} the target must be 0-d, got {target.shape}"
            )
        return x[None, :], target.reshape(1)
    expected = (x.shape[0],) + x.shape[2:]
    if target.shape != expected:
        raise BadShapeOrValue(
            f"{op}: input shape {x.shape} expects target shape {expected}, got {target.shape}"
        )
    # (the row count given: -1 is ambiguous with no classes, C = 0)
    rows = np.moveaxis(x, 1, -1).reshape(math.prod(expected), x.shape[1])
    return rows, target.reshape(-1)


class NLLLoss(Function):
    # logp (N, C, d...), target (N, d...) int -> loss; mean divides by the summed weights
    @staticmethod
    def forward(ctx, logp, target, weight, ignore_index, reduction):
        rows, t = _class_layout("nll_loss", logp, target)
        m, c = rows.shape
        valid = t != ignore_index
        bad = valid & ((t < 0) | (t >= c))
        if bad.any():
            raise _IndexValueError(
                f"nll_loss: target {int(t[bad][0])} is out of bounds for {c} classes"
            )
        tc = np.where(valid, t, 0)
        w = valid.astype(logp.dtype)
        if weight is not None and c:
            w *= weight[tc]
        # (no classes, C = 0: every target is ignored, else refused above; nothing to pick)
        picked = rows[np.arange(m), tc] if c else np.zeros(m, rows.dtype)
        losses = -picked * w
        ctx.meta = (logp.shape, tc, w, valid, reduction, target.shape)
        if reduction == "none":
            return losses.reshape(target.shape)
        total = losses.sum()
        if reduction == "mean":
            with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: NaN, as PyTorch
                total = total / w.sum()
        return np.asarray(total, dtype=logp.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, tc, w, valid, reduction, tshape = ctx.meta
        m = tc.shape[0]
        c = shape[1] if len(shape) > 1 else shape[0]
        coef = -w
        if reduction == "none":
            coef = coef * g.reshape(-1)
        elif reduction == "mean":
            tw = w.sum()  # 0: every target ignored (gradient 0) or of weight 0 (NaN), as PyTorch
            coef = coef * (g / tw) if tw != 0 else np.where(valid, np.nan, 0).astype(w.dtype)
        else:
            coef = coef * g
        grows = np.zeros((m, c), dtype=w.dtype)
        if c:  # (C = 0: no entries)
            grows[np.arange(m), tc] = coef
        if len(shape) == 1:
            return grows.reshape(shape), None, None, None, None
        moved = grows.reshape((shape[0],) + shape[2:] + (c,))
        return np.moveaxis(moved, -1, 1), None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        shape, tc, w, valid, reduction, tshape = ctx.meta

        def nll_map(v):  # the forward on v (linear): the weighted picked entries, reduced
            c = shape[1] if len(shape) > 1 else shape[0]
            rows = v.reshape(1, c) if v.ndim == 1 else np.moveaxis(v, 1, -1).reshape(-1, c)
            losses = -rows[np.arange(tc.shape[0]), tc] * w
            if reduction == "none":
                return losses.reshape(tshape)
            total = losses.sum() / w.sum() if reduction == "mean" else losses.sum()
            return np.asarray(total, v.dtype)

        return _graph.linear(ctx, g, nll_map, mask_of=ctx.parents[0]), None, None, None, None


def _targets(op: str, target) -> np.ndarray:
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise BadDtype(f"{op}: class-index targets must be integers, got {t.dtype}")
    return t.astype(np.int64, copy=False)


def _check_index_dtype(op: str, target) -> None:
    """torch's nll_loss / cross_entropy take class indices as int64 or uint8 only."""
    dt = np.asarray(target.data if isinstance(target, Tensor) else target).dtype
    if dt.kind in "biu" and dt not in (np.int64, np.uint8):
        raise BadDtype(f"{op}: expected target dtype int64 or uint8, got {dt}")


def _check_class_loss_args(op: str, x: Tensor, target, weight) -> None:
    """torch's checks of nll_loss / cross_entropy's target and weight: the target a Tensor (or
    a NumPy array, as ember's inputs may be), uint8 class indices only for (N, C) or (C,)
    input, and no inference tensor among those a recorded loss keeps for backward."""
    if not isinstance(target, Tensor | np.ndarray):
        raise TypeError(
            f"{op}(): argument 'target' (position 2) must be Tensor, not {type(target).__name__}"
        )
    if x.ndim > 2 and np.asarray(target.data if isinstance(target, Tensor) else target).dtype == (
        np.uint8
    ):
        raise BadDtype(f"{op}: expected scalar type Long but found Byte (target, input {x.shape})")
    if _autograd_function._inference_made and x.requires_grad and is_grad_enabled():
        for t in (target, weight):
            if isinstance(t, Tensor) and getattr(t, "_inference", False):
                _autograd_function._refuse_inference_saved((t,), (t.data,))


def _refuse_grad(op: str, name: str, t) -> None:
    """PyTorch's kernels without a gradient for an argument refuse one that requires grad (with
    grad mode on) rather than leaving it without a gradient."""
    if isinstance(t, Tensor) and t.requires_grad and is_grad_enabled():
        raise RuntimeError(
            f"The function '{op}' is not differentiable with respect to argument '{name}'. "
            "This input cannot have requires_grad True."
        )


def _class_weight(op: str, weight, c: int, dtype, strict: bool = False):
    """weight as a (c,) array of dtype; ``strict``: a weight Tensor of another dtype is refused,
    as torch's nll_loss kernel refuses it (class-index targets; NumPy arrays are cast)."""
    if weight is None:
        return None
    if strict and isinstance(weight, Tensor) and weight.dtype != dtype:
        raise BadDtype(f"{op}: weight must have the input's dtype {dtype}, got {weight.dtype}")
    if strict:
        _refuse_grad(op, "weight", weight)
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=dtype)
    if w.shape != (c,):
        raise BadShapeOrValue(f"{op}: weight must have shape ({c},) (one per class), got {w.shape}")
    return w


@_torch_loss_params(
    "input", "target", "weight", "size_average", "ignore_index", "reduce", "reduction"
)
def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of class-index targets given log-probabilities.

    Shape: input (N, C) or (N, C, d1, ...) or (C,); target (N,) / (N, d1, ...) / () of ints.
    """
    loss = _straight_class_loss(input, target, weight, ignore_index, reduction, 0.0, True)
    if loss is not None:
        return loss
    _check_reduction("nll_loss", reduction)
    ignore_index = _check_ignore_index("nll_loss", ignore_index)
    x = _float_input(input, "nll_loss")
    _check_class_loss_args("nll_loss", x, target, weight)
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype != np.int64:  # (int64, most targets, needs neither check nor cast)
        _check_index_dtype("nll_loss", t)
        t = _targets("nll_loss", t)
    if x.ndim == 0:
        raise BadShapeOrValue("nll_loss: input must have at least 1 dimension")
    if x.ndim == 1 and t.shape == (1,):  # PyTorch reads it as the 0-d target
        t = t.reshape(())
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = _class_weight("nll_loss", weight, c, x.dtype, strict=True)
    fused = _fused_rows(x, t, w, ignore_index, reduction, 0.0, True)
    loss = fused if fused is not None else NLLLoss.apply(x, t, w, int(ignore_index), reduction)
    return _class_node(loss, x.ndim, reduction)


class CrossEntropy(Function):
    # logits x (N, C) or (N, C, d1, ...) (log-probabilities when log_input: nll_loss), class
    # indices t (N,) / (N, d1, ...) int64 -> loss: log_softmax + nll (+ label smoothing) fused in
    # one C++ pass each way; backward recomputes softmax from the saved log_softmax. The non-tensor
    # arguments travel as one tuple `meta` = (t, weight, ignore_index, reduction,
    # label_smoothing, log_input): on a (64, 10) batch apply's per-argument work was a third of
    # the call.
    @staticmethod
    def forward(ctx, x, meta):
        t, weight, ignore_index, reduction, label_smoothing, log_input = meta
        keep = not log_input and ctx.needs_input_grad[0]
        loss, lse, wsum, logp = _C.cross_entropy_forward(
            x, t, weight, ignore_index, label_smoothing, reduction, log_input, keep
        )
        if keep:
            # keep log_softmax(x) (written by the same C++ pass; backward takes lse None), not x:
            # torch's cross_entropy keeps log_softmax's output, so x may be written in place
            # before backward
            x, lse = logp, None
        ctx.save_for_backward(x, lse)
        ctx.meta = (meta, wsum)
        ctx.held = (t, weight)  # (backward reads them: a write into either refuses, as torch)
        return loss

    @staticmethod
    def backward(ctx, g):
        x, lse = ctx.saved_tensors
        (t, weight, ignore_index, reduction, label_smoothing, log_input), wsum = ctx.meta
        g = _contig(np.asarray(g, dtype=x.dtype))
        dx = _C.cross_entropy_backward(
            x, lse, t, g, weight, ignore_index, label_smoothing, reduction, wsum, log_input
        )
        return dx, None

    @staticmethod
    def backward_graph(ctx, g):
        meta = ctx.meta[0]
        if meta[5]:  # log-probabilities in: the loss is linear in them

            def loss_map(v):
                return CrossEntropy.forward(_graph.scratch(CrossEntropy), _contig(v), meta)

            return _graph.linear(ctx, g, loss_map, mask_of=ctx.parents[0]), None
        # logits: the same loss of log_softmax(x), whose graph backward is known
        as_log = meta[:5] + (True,)
        x = ctx.parents[0]
        return _graph.recompute(
            ctx, (g,), lambda x: CrossEntropy.apply(log_softmax(x, 1), as_log), x
        )[0], None


def _straight_class_loss(x, t, w, ignore_index, reduction, smoothing, log_input):
    """nll_loss / cross_entropy's common call straight to the kernel, or in the graph to its
    node (the general path's checks and casts were ~3 us of a ~6 us (256, 100) nll_loss): x a
    C-contiguous float32/64 (N, C) Tensor, t an int64 C-contiguous (N,) Tensor or array, w None
    or a (C,) C-contiguous Tensor of x's dtype that needs no gradient; else None (the general
    path). A target out of range also gives None: the general path raises torch's error."""
    # (cheapest and most selective tests first: this is most of the call's Python time)
    if type(x) is not Tensor:
        return None
    graph = x._requires_grad and not ops._outside_graph(x)
    if graph and _autograd_function._inference_made:  # (the general path's refusals)
        return None
    xd = x.data
    td = t.data if type(t) is Tensor else t
    if not (
        type(td) is np.ndarray
        and td.dtype is _I64
        and (xd.dtype is _F32 or xd.dtype is _F64)
        and type(ignore_index) is int
        and reduction in _REDUCTIONS
        and type(smoothing) in _PY_REAL
        and 0 <= smoothing <= 1
        and -(2**63) <= ignore_index < 2**63
        and len(xd.shape) == 2
        and td.shape == xd.shape[:1]
        and xd.flags.c_contiguous
        and td.flags.c_contiguous
    ):
        return None
    if w is not None:
        if type(w) is not Tensor or w._requires_grad:
            return None
        w = w.data
        if w.dtype is not xd.dtype or w.shape != xd.shape[1:] or not w.flags.c_contiguous:
            return None
    try:
        if graph:  # the fused node straight (the general path's checks were ~2.5 us of ~5)
            meta = (td, w, ignore_index, reduction, float(smoothing), log_input)
            return _class_node(CrossEntropy.apply(x, meta), 2, reduction, smoothing)
        loss = _C.cross_entropy_forward(
            xd, td, w, ignore_index, float(smoothing), reduction, log_input, False
        )[0]
    except ValueError:
        return None
    return Tensor._make(loss, False, None, 0)


_I64 = np.dtype(np.int64)
_PY_REAL = (float, int)


def _fused_rows(x: Tensor, t: np.ndarray, w, ignore_index, reduction, label_smoothing, log_input):
    """The common case of cross_entropy / nll_loss, float input (N, C) or (N, C, d1, ...) and
    integer targets (N,) / (N, d1, ...), as one CrossEntropy node; None for any other layout
    (the composed path handles it)."""
    xd = x.data
    if xd.ndim == 1 and t.shape in ((), (1,)) and t.dtype.kind in "iu":
        # unbatched (C,) input, as PyTorch: a batch of one row (so an ignored target with
        # non-finite logits gives 0, not 0 x NaN)
        row = (x.unsqueeze(0), t.reshape(1), w, ignore_index, reduction, label_smoothing)
        one = _fused_rows(*row, log_input)
        return one.reshape(()) if one is not None and reduction == "none" else one
    if xd.ndim < 2 or t.dtype.kind not in "iu" or xd.dtype.char not in "fd":
        return None
    if t.shape != (xd.shape[0],) + xd.shape[2:]:
        if xd.ndim > 2:
            return None  # the composed path's error
        op = "nll_loss"  # the composed path's message
        raise BadShapeOrValue(
            f"{op}: input shape {xd.shape} expects target shape {xd.shape[:1]}, got {t.shape}"
        )
    if xd.ndim > 2 and xd.size == 0:
        return None  # the composed path's empty result
    if t.dtype != np.int64 or not t.flags.c_contiguous:
        t = np.ascontiguousarray(t, dtype=np.int64)
    w = None if w is None else _contig(w)
    ignore, smoothing = int(ignore_index), float(label_smoothing)
    meta = (t, w, ignore, reduction, smoothing, log_input)
    try:  # the kernel checks every target before it writes anything: no NumPy pass here
        if ops._outside_graph(x):  # no node to record: the kernel's loss straight (~1.5 us)
            loss = _C.cross_entropy_forward(
                _contig(xd), t, w, ignore, smoothing, reduction, log_input, False
            )[0]
            return Tensor._make(loss, False, None, 0)
        return CrossEntropy.apply(x if xd.flags.c_contiguous else x.contiguous(), meta)
    except ValueError:
        bad = (t != ignore_index) & ((t < 0) | (t >= xd.shape[1]))
        if bad.any():  # PyTorch's error is an IndexError
            c = xd.shape[1]
            raise _IndexValueError(
                f"nll_loss: target {int(t[bad][0])} is out of bounds for {c} classes"
            ) from None
        raise


@_torch_loss_params(
    "input",
    "target",
    "weight",
    "size_average",
    "ignore_index",
    "reduce",
    "reduction",
    "label_smoothing",
)
def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits and class-index or class-probability targets.

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,).
        target: class indices (N,) / (N, d1, ...) / (), or probabilities shaped like input.
        weight: per-class weights (C,).
        ignore_index: class-index targets equal to it add nothing (and are not counted).
        reduction: 'none' | 'mean' | 'sum'.
        label_smoothing: in [0, 1]: mixes the target with the uniform distribution.
    """
    loss = _straight_class_loss(
        input, target, weight, ignore_index, reduction, label_smoothing, False
    )
    if loss is not None:
        return loss
    _check_reduction("cross_entropy", reduction)
    ignore_index = _check_ignore_index("cross_entropy", ignore_index)
    if label_smoothing > 1.0:
        raise BadShapeOrValue(
            f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}"
        )
    if not label_smoothing > 0.0:  # PyTorch checks only the upper bound: <= 0 or NaN is none
        label_smoothing = 0.0
    x = _float_input(input, "cross_entropy")
    if x.ndim == 0:  # torch's errors: a 0-d target reads as class probabilities, else dim 1
        tr = np.asarray(target.data if isinstance(target, Tensor) else target)
        if tr.ndim == 0 and not _lowp.is_float(tr.dtype):
            raise BadDtype(
                "cross_entropy: a 0-d input takes a floating point (class probability) "
                f"target, got {tr.dtype}"
            )
        raise OutOfBounds(f"cross_entropy: input of shape {x.shape} has no class dim (dim 1)")
    _check_class_loss_args("cross_entropy", x, target, weight)
    class_dim = 0 if x.ndim == 1 else 1
    c = x.shape[class_dim]
    t_raw = target.data if isinstance(target, Tensor) else np.asarray(target)
    # (class probabilities promote with the weight; class indices need the input's dtype)
    w = _class_weight("cross_entropy", weight, c, x.dtype, strict=not _lowp.is_float(t_raw.dtype))
    _check_index_dtype("cross_entropy", t_raw)
    fused = _fused_rows(x, t_raw, w, ignore_index, reduction, label_smoothing, False)
    if fused is not None:
        return _class_node(fused, x.ndim, reduction, label_smoothing)
    logp = log_softmax(x, class_dim)

    if _lowp.is_float(t_raw.dtype):  # class probabilities
        if ignore_index >= 0:  # (PyTorch refuses it; a negative one is never a class index)
            raise BadShapeOrValue(
                "cross_entropy: ignore_index is not supported for floating point (class "
                f"probability) targets, got ignore_index={ignore_index}"
            )
        if t_raw.shape != x.shape:
            raise BadShapeOrValue(
                f"cross_entropy: probability target shape {t_raw.shape} must equal input "
                f"shape {x.shape}"
            )
        tgt = target if isinstance(target, Tensor) else Tensor(t_raw.astype(x.dtype))
        if label_smoothing > 0:
            tgt = tgt * (1 - label_smoothing) + label_smoothing / c
        prod = logp * tgt
        if w is not None:  # composed here, so a weight Tensor gets its gradient (as PyTorch)
            wt = weight if isinstance(weight, Tensor) else Tensor(w)
            prod = prod * wt.reshape((c,) + (1,) * (x.ndim - 1 - class_dim))
        if reduction == "none":
            return -prod.sum(dim=class_dim)
        loss = -prod.sum()  # (torch's nodes: Neg, then a Python number's Div for 'mean')
        if reduction == "mean":  # over the samples: 0 / 0 = NaN without classes, as torch
            # (torch fills an empty input's sum with NaN: its last node stays Neg)
            name = "DivBackward1" if x.data.size else "NegBackward0"
            return _autograd_function.named(loss / (x.data.size // c if c else np.nan), name)
        return loss

    t = _targets("cross_entropy", target)
    if x.ndim == 1 and t.shape == (1,):  # PyTorch reads it as the 0-d target
        t = t.reshape(())
    nll = NLLLoss.apply(logp, t, w, int(ignore_index), reduction)
    if label_smoothing == 0:
        return _class_node(nll, x.ndim, reduction)
    # PyTorch's rule: (1 - eps) * nll + eps / C * sum_c(-logp_c * w_c), ignored targets masked.
    wb = None if w is None else Tensor(w.reshape((c,) + (1,) * (x.ndim - 1 - class_dim)))
    smooth = -((logp * wb) if wb is not None else logp).sum(dim=class_dim)
    keep = t != ignore_index
    smooth = smooth * Tensor(keep.astype(x.dtype))
    if reduction == "mean":
        if w is None:
            denom = keep.sum()
        else:
            denom = w[np.where(keep, t, 0)][keep].sum()
        # every target ignored: nll is already NaN; keep the gradient 0 (0/0 would make it NaN)
        smooth = smooth.sum() / denom if denom != 0 else smooth.sum() * 0
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


# ---- layer norm (attention branch) --------------------------------------------------------


def _normalized_shape(normalized_shape, op: str) -> tuple:
    if isinstance(normalized_shape, int | np.integer):
        return (int(normalized_shape),)
    try:
        if isinstance(normalized_shape, str):
            raise TypeError
        shape = tuple(int(d) for d in normalized_shape)
    except (TypeError, ValueError):
        raise TypeError(
            f"{op}: normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}"
        ) from None
    if not shape:
        raise BadShapeOrValue(
            f"{op}: normalized_shape must be non-empty (at least one dim), got ()"
        )
    return shape


class LayerNorm(Function):
    # x (*, *normalized_shape), w, b (normalized_shape) or None -> y, normalised over the last dims
    @staticmethod
    def forward(ctx, x, w, b, m, eps):
        x2 = _contig(x).reshape(-1, m) if m else np.zeros((0, 0), x.dtype)  # -1 needs m > 0
        wf = None if w is None else _contig(w).reshape(m)
        bf = None if b is None else _contig(b).reshape(m)
        y, mean, rstd = _C.layer_norm_forward(x2, wf, bf, eps)
        ctx.save_for_backward(x2, mean, rstd, wf)
        ctx.eps = eps
        ctx.shapes = (x.shape, None if w is None else w.shape, None if b is None else b.shape)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, mean, rstd, wf = ctx.saved_tensors
        xs, ws, bs = ctx.shapes
        _, nw, nb = ctx.needs_input_grad[:3]
        g2 = _contig(g.astype(x2.dtype, copy=False)).reshape(x2.shape)
        dx, dw, db = _C.layer_norm_backward(g2, x2, mean, rstd, wf, bool(nw), bool(nb))
        return (
            dx.reshape(xs),
            dw.reshape(ws) if nw else None,
            db.reshape(bs) if nb else None,
            None,
            None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        x2 = ctx.saved_tensors[0]
        xs = ctx.shapes[0]
        x, w, b = _graph.inputs(ctx, x2.reshape(xs), ctx.saved_tensors[3], None)

        def norm(x, w, b):  # the forward in Tensor ops
            xr = x.reshape(x2.shape)
            xc = xr - xr.mean(1, keepdim=True)
            y = (xc / ops.sqrt((xc * xc).mean(1, keepdim=True) + ctx.eps)).reshape(xs)
            y = y if w is None else y * w
            return y if b is None else y + b

        args = (x, None if w is None else w.reshape(ctx.shapes[1]), b)
        return _graph.recompute(ctx, (g,), norm, *args) + (None, None)


class RmsNorm(Function):
    # x (*, *normalized_shape), w (normalized_shape) or None -> y, over the last m elements:
    # layer norm's kernels with no mean subtracted
    @staticmethod
    def forward(ctx, x, w, m, eps):
        x2 = _contig(x).reshape(-1, m)
        wf = None if w is None else _contig(w).reshape(m)
        y, rstd = _C.rms_norm_forward(x2, wf, eps)
        ctx.save_for_backward(x2, rstd, wf)
        ctx.eps = eps
        ctx.shapes = (x.shape, None if w is None else w.shape)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, rstd, wf = ctx.saved_tensors
        xs, ws = ctx.shapes
        nw = ctx.needs_input_grad[1]
        g2 = _contig(g.astype(x2.dtype, copy=False)).reshape(x2.shape)
        dx, dw = _C.rms_norm_backward(g2, x2, rstd, wf, bool(nw))
        return dx.reshape(xs), dw.reshape(ws) if nw else None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x2 = ctx.saved_tensors[0]
        xs, ws = ctx.shapes
        x, w = _graph.inputs(ctx, x2.reshape(xs), ctx.saved_tensors[2])

        def norm(x, w):  # the forward in Tensor ops
            xr = x.reshape(x2.shape)
            y = (xr * ((xr * xr).mean(1, keepdim=True) + ctx.eps).rsqrt()).reshape(xs)
            return y if w is None else y * w

        return _graph.recompute(ctx, (g,), norm, x, None if w is None else w.reshape(ws)) + (
            None,
            None,
        )


def _layer_norm_straight(x, shape, w, b, eps):
    """layer_norm's common call -- float32/float64 Tensors of one dtype outside the graph, shapes
    that fit -- by the kernel straight (the checks and apply are ~7 us of a 32x32 call), or
    None for anything else."""
    if type(x) is not Tensor or not ops._outside_graph(x):
        return None
    a = x.data
    if type(shape) is int:
        shape = (shape,)
    if (a.dtype is not _F32 and a.dtype is not _F64) or type(shape) is not tuple or not shape:
        return None
    m = math.prod(shape)
    if not m or a.shape[a.ndim - len(shape) :] != shape:
        return None
    flat = []
    for p in (w, b):
        if p is None:
            flat.append(None)
        elif type(p) is Tensor and p.data.dtype is a.dtype and p.data.shape == shape:
            if not ops._outside_graph(p):
                return None
            flat.append(_contig(p.data).reshape(m))
        else:
            return None
    y = _C.layer_norm_forward(_contig(a).reshape(-1, m), flat[0], flat[1], float(eps))[0]
    return Tensor._make(y.reshape(a.shape), False, None, 0)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` dims:
    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance.

    Shape:
        input (*, *normalized_shape); weight, bias (normalized_shape) or None -> input's shape.

    Example::

        >>> F.layer_norm(ember.randn(2, 5, 8), (8,)).shape
        (2, 5, 8)
    """
    if _mixed_lowp(input, weight, bias):
        return layer_norm(input.float(), normalized_shape, weight, bias, eps).to(input.dtype)
    if (y := _layer_norm_straight(input, normalized_shape, weight, bias, eps)) is not None:
        return y
    shape = _normalized_shape(normalized_shape, "layer_norm")
    dtype = None
    if weight is not None:
        weight = _float_input(weight, "layer_norm", "weight")
        dtype = weight.dtype
    if bias is not None:
        bias = _float_input(bias, "layer_norm", "bias", dtype)
        dtype = bias.dtype
    x = _float_input(input, "layer_norm", "input", dtype)
    k = len(shape)
    if k == 0 or any(d < 0 for d in shape):  # 0 is fine: an empty output, as in PyTorch
        raise BadShapeOrValue(
            f"layer_norm: normalized_shape must be non-empty and non-negative, got {shape}"
        )
    if x.ndim < k or tuple(x.shape[-k:]) != shape:
        raise BadShapeOrValue(
            f"layer_norm: input shape {x.shape} does not end with normalized_shape {shape}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise BadShapeOrValue(
                f"layer_norm: {name} shape {p.shape} must equal normalized_shape {shape}"
            )
    return LayerNorm.apply(x, weight, bias, math.prod(shape), float(eps))


# ---- attention ----------------------------------------------------------------------------


def _sdpa_mask(attn_mask, batch: tuple, lq: int, lk: int, dtype):
    """A mask broadcast over (*batch, Lq, Lk) as (contiguous base, per-batch offsets, row stride,
    column stride), all in elements: the kernel reads it by strides, nothing is expanded."""
    m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype == np.bool_:
        pass
    elif _lowp.is_float(m.dtype):
        # PyTorch takes a float mask of float32 or the query's dtype (a NumPy array, float64 by
        # default, is converted as any other input)
        if isinstance(attn_mask, Tensor) and m.dtype not in (np.float32, np.dtype(dtype)):
            raise BadDtype(  # (torch: RuntimeError)
                "scaled_dot_product_attention: expected attn_mask dtype to be bool or float32 or "
                f"to match the query's dtype {np.dtype(dtype)}, got {m.dtype}"
            )
        m = m.astype(dtype, copy=False)
    else:
        raise BadDtype(  # (torch: RuntimeError)
            f"scaled_dot_product_attention: attn_mask must be bool or float, got {m.dtype}"
        )
    full = batch + (lq, lk)
    if m.ndim > len(full):
        raise BadShapeOrValue(
            f"scaled_dot_product_attention: attn_mask shape {m.shape} has more dims than the "
            f"attention weights {full}"
        )
    m = np.ascontiguousarray(m)
    try:
        view = np.broadcast_to(m, full)
    except ValueError:
        raise BadShapeOrValue(
            f"scaled_dot_product_attention: attn_mask shape {m.shape} does not broadcast to the "
            f"attention weights' shape {full} (batch..., L, S)"
        ) from None
    st = [s // m.itemsize for s in view.strides]
    off = np.zeros(batch, dtype=np.int64)
    for d, n in enumerate(batch):
        if st[d]:
            shape = [1] * len(batch)
            shape[d] = n
            off = off + (np.arange(n, dtype=np.int64) * st[d]).reshape(shape)
    off = np.ascontiguousarray(np.broadcast_to(off, batch).reshape(-1))
    return m, off, int(st[-2]), int(st[-1])


class ScaledDotProductAttention(Function):
    # q (*, L, E), k (*, S, E), v (*, S, Ev) -> out (*, L, Ev); saves only the row logsumexp
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale, dropout_p, seed, unfused=False, group=1):
        # group: grouped-query attention, k and v with 1 / group of q's heads (dim -3)
        batch = q.shape[:-2]
        bh = int(np.prod(batch))
        q3 = _contig(q).reshape(bh, *q.shape[-2:])
        k3 = _contig(k).reshape(bh // group, *k.shape[-2:])
        v3 = _contig(v).reshape(bh // group, *v.shape[-2:])
        mbase, moff, msr, msc = mask if mask is not None else (None, None, 0, 0)
        if unfused:
            # where torch runs its math path (see _attention) it keeps v and the weights, not
            # q, k (scaled copies), the output or the mask: copies of those here, so writes
            # into them after the forward are not refused and leave the gradients as they were
            q3 = q3.copy() if np.may_share_memory(q3, q) else q3
            k3 = k3.copy() if np.may_share_memory(k3, k) else k3
            mbase = None if mbase is None else mbase.copy()
        else:
            ctx.mask = mbase  # torch's fused kernel keeps its mask: a write into it refuses
        opts = (mbase, moff, msr, msc, is_causal, scale, dropout_p, seed, group)
        out, lse = _C.sdpa_forward(q3, k3, v3, *opts)
        ctx.save_for_backward(q3, k3, v3, out, lse)
        ctx.meta = (opts, q.shape, k.shape, v.shape)
        y = out.reshape(*batch, q.shape[-2], v.shape[-1])
        return y.copy() if unfused else y

    @staticmethod
    def backward(ctx, g):
        q3, k3, v3, out, lse = ctx.saved_tensors
        opts, qs, ks, vs = ctx.meta
        g3 = _contig(g.astype(q3.dtype, copy=False)).reshape(out.shape)
        dq, dk, dv = _C.sdpa_backward(g3, q3, k3, v3, out, lse, *opts)
        nq, nk, nv = ctx.needs_input_grad[:3]
        return (
            dq.reshape(qs) if nq else None,
            dk.reshape(ks) if nk else None,
            dv.reshape(vs) if nv else None,
            None,
            None,
            None,
            None,
            None,
            None,
            None,
        )

    @staticmethod
    def backward_graph(ctx, g):
        opts, qs, ks, vs = ctx.meta
        mask_base, moff, msr, msc, is_causal, scale, dropout_p, _, group = opts
        if dropout_p > 0:  # the kernel's dropout mask is not reproduced in Tensor ops
            return Function.backward_graph(ctx, g)  # refuses
        q3, k3, v3 = ctx.saved_tensors[:3]
        q, k, v = _graph.inputs(ctx, q3.reshape(qs), k3.reshape(ks), v3.reshape(vs))
        lq, lk = qs[-2], ks[-2]
        if mask_base is None:
            mask = np.zeros((lq, lk), q3.dtype)
        else:  # the (*batch, Lq, Lk) mask the kernel read through its strides
            at = np.asarray(moff)[..., None, None] + np.arange(lq)[:, None] * msr
            mask = mask_base.reshape(-1)[at + np.arange(lk) * msc]
            if mask.dtype == np.bool_:  # True takes part, as torch
                mask = np.where(mask, 0.0, -np.inf).astype(q3.dtype)
        mask = _graph.constant(mask)

        def attend(q, k, v):  # the forward in Tensor ops
            if group > 1:
                k, v = (t.repeat_interleave(group, dim=-3) for t in (k, v))
            return _attention_composed(q, k, v, mask, 0.0, is_causal, scale)

        return _graph.recompute(ctx, (g,), attend, q, k, v) + (None,) * 7


def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value, fused (flash-attention style): the
    L x S weights are never stored, forward or backward.

    Args:
        query, key, value: (*, L, E), (*, S, E), (*, S, Ev) with the same leading dims.
        attn_mask: bool (True = takes part, as PyTorch) or float (added to the logits), any shape
            that broadcasts to (*, L, S). A float mask Tensor that requires grad gets its
            gradient (summed over the broadcast dims): attention then runs composed, with the
            L x S weights materialised (and a dropout pattern of its own).
        dropout_p: dropout on the attention weights, applied whenever > 0 (as PyTorch's
            functional form: pass 0.0 in evaluation). The mask comes from ember's generator.
        is_causal: query i attends to keys j <= i (top-left aligned, as PyTorch). Giving
            both is_causal and attn_mask is an error, as in PyTorch, except where PyTorch's
            fused CPU kernel runs (4-D inputs, a 2-D or 4-D mask: see _flash_takes), which
            applies both.
        scale: defaults to 1 / sqrt(E).
        enable_gqa: grouped-query attention: key and value's heads (dim -3) are repeated to
            match query's, whose head count they must divide.

    A row whose keys are all masked gives an output row of 0 and zero gradients (as PyTorch's
    CPU kernels in 2.x return).

    Shape:
        -> (*, L, Ev)

    Example::

        >>> q = k = v = ember.randn(2, 4, 16, 8)
        >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
        (2, 4, 16, 8)
    """
    from ember.nn.attention.bias import CausalBias, CausalVariant

    is_causal = _bool_arg(is_causal, "scaled_dot_product_attention", "is_causal")
    if isinstance(attn_mask, CausalBias):  # (torch.nn.attention.bias)
        if is_causal:
            raise BadShapeOrValue("CausalBias should not be used with causal=True")
        lq, lk = np.shape(query)[-2], np.shape(key)[-2]
        if attn_mask.shape != (lq, lk):
            raise BadShapeOrValue(
                f"scaled_dot_product_attention: CausalBias of shape {attn_mask.shape} for "
                f"{lq} queries and {lk} keys"
            )
        upper_left = attn_mask.variant == CausalVariant.UPPER_LEFT or lq == lk
        attn_mask, is_causal = (None, True) if upper_left else (attn_mask._materialize(), False)
    if attn_mask is not None and np.ndim(attn_mask) < 2 and np.ndim(query) == 4:
        _flash_takes(query, key, value, attn_mask, dropout_p, enable_gqa)  # (may refuse it)
    if is_causal and attn_mask is not None:
        if not _flash_takes(query, key, value, attn_mask, dropout_p, enable_gqa):
            raise BadShapeOrValue(
                "scaled_dot_product_attention: give attn_mask or is_causal=True, not both (as "
                "PyTorch's math path; its fused CPU kernel, for 4-D inputs and a 2-D or 4-D "
                "mask, applies both)"
            )
    if enable_gqa:
        op = "scaled_dot_product_attention"
        query = _float_input(query, op, "query")
        key = _float_input(key, op, "key", query.dtype)
        value = _float_input(value, op, "value", query.dtype)
        hq, hk, hv = (t.shape[-3] if t.ndim >= 3 else None for t in (query, key, value))
        # (0 key / value heads divide nothing: a clear error, not a ZeroDivisionError)
        if None in (hq, hk, hv) or 0 in (hk, hv) or hq % hk or hq % hv:
            raise BadShapeOrValue(
                "scaled_dot_product_attention: with enable_gqa the key and value heads (dim -3) "
                f"must divide the query's; got query {query.shape}, key {key.shape}, "
                f"value {value.shape}"
            )
        if hk == hv and hq > 0 and query.shape[:-3] == key.shape[:-3] == value.shape[:-3]:
            # the kernel reads each key/value head for its hq / hk query heads: no copies
            out = _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, hq // hk)
            return _sdpa_node(out, query, key, value, attn_mask, dropout_p, True)
        out = _attention(
            query,
            key.repeat_interleave(hq // hk, dim=-3),
            value.repeat_interleave(hq // hv, dim=-3),
            attn_mask,
            dropout_p,
            is_causal,
            scale,
        )
        return _sdpa_node(out, query, key, value, attn_mask, dropout_p, True)
    out = _attention(query, key, value, attn_mask, dropout_p, is_causal, scale)
    return _sdpa_node(out, query, key, value, attn_mask, dropout_p, False)


def _sdpa_node(out, query, key, value, attn_mask, dropout_p, enable_gqa):
    """out, its node named as torch's CPU path names it: an empty attention's Add, the fused
    kernel's node, else the math path's last matmul (Mm for 2-D, else UnsafeView)."""
    if out._ctx is None:
        return out
    qs, ks, vs = (t.shape if isinstance(t, Tensor) else np.shape(t) for t in (query, key, value))
    if 0 in qs[:-1] or 0 in ks[:-1] or 0 in vs:
        name = "AddBackward0"
    elif _flash_takes(query, key, value, attn_mask, dropout_p, enable_gqa):
        name = "ScaledDotProductFlashAttentionForCpuBackward0"
    else:
        name = "MmBackward0" if len(qs) == len(ks) == len(vs) == 2 else "UnsafeViewBackward0"
    return _autograd_function.named(out, name)


def _flash_takes(query, key, value, attn_mask, dropout_p, enable_gqa) -> bool:
    """Whether PyTorch accepts attn_mask with is_causal here: its fused CPU kernel
    (sdp_utils_cpp's use_flash_attention_cpp) applies both (a key takes part only if both
    allow it) and runs for 4-D inputs with one batch, key/value heads equal to or (enable_gqa)
    dividing the query's, one head dim, unit last-dim strides, no dropout, and a mask of 2 dims
    or 4 broadcast ones that needs no gradient; an empty attention returns before any check."""
    arrs = [getattr(t, "data", t) for t in (query, key, value)]
    # (a.shape, not np.shape: this runs for every attention's node name)
    shapes = [a.shape if isinstance(a, np.ndarray) else np.shape(a) for a in arrs]
    qs, ks, vs = shapes
    # torch returns before any of its checks when a size is 0, except the head dim E alone
    if 0 in qs[:-1] or 0 in ks[:-1] or 0 in vs:
        return True
    if len(qs) != 4 or len(ks) != 4 or len(vs) != 4 or dropout_p > 0:
        return False
    (b, hq, lq, e), (bk, hk, lk, ek), (bv, hv, _, ev) = shapes
    heads_ok = hq == hk == hv or (enable_gqa and hk == hv and hk > 0 and hq % hk == 0)
    if not (b == bk == bv and heads_ok):
        return False
    m = attn_mask
    if isinstance(m, Tensor) and m.requires_grad:
        return False
    ms = None if m is None else np.shape(getattr(m, "data", m))
    if ms is not None and len(ms) < 2:  # (torch's check reads the mask's dim -2 here)
        raise _IndexRuntimeError(
            f"scaled_dot_product_attention: a {len(ms)}-D attn_mask {ms} for 4-D query {qs}: "
            "dimension -2 is out of range (give it as (1, S))"
        )
    if e != ek or e != ev:
        return False
    for a in arrs:
        if isinstance(a, np.ndarray) and a.shape[-1] > 1 and a.strides[-1] != a.itemsize:
            return False
    if m is None:
        return True
    if len(ms) not in (2, 4) or ms[-2] not in (1, lq) or ms[-1] not in (1, lk):
        return False
    return len(ms) == 2 or (ms[0] in (1, b) and ms[1] in (1, hq))


def multi_head_attention_forward(
    query,
    key,
    value,
    embed_dim_to_check: int,
    num_heads: int,
    in_proj_weight,
    in_proj_bias,
    bias_k,
    bias_v,
    add_zero_attn: bool,
    dropout_p: float,
    out_proj_weight,
    out_proj_bias,
    training: bool = True,
    key_padding_mask=None,
    need_weights: bool = True,
    attn_mask=None,
    use_separate_proj_weight: bool = False,
    q_proj_weight=None,
    k_proj_weight=None,
    v_proj_weight=None,
    static_k=None,
    static_v=None,
    average_attn_weights: bool = True,
    is_causal: bool = False,
):
    """PyTorch's functional multi-head attention: query (L, N, E) or (L, E), key / value
    (S, N, kdim / vdim) -> (output like query, weights or None). nn.MultiheadAttention's forward
    (masks, checks, gradients) run with these tensors as its weights, nothing copied."""
    from ember.nn.modules.activation import MultiheadAttention
    from ember.nn.modules.linear import Linear
    from ember.nn.modules.module import Module

    op = "multi_head_attention_forward"
    t = lambda w: w if w is None or isinstance(w, Tensor) else Tensor(np.asarray(w))  # noqa: E731
    e = int(np.shape(query)[-1])
    static_k, static_v = t(static_k), t(static_v)
    if static_k is not None or static_v is not None:
        if bias_k is not None or bias_v is not None:  # (AssertionError in PyTorch)
            raise _AssertionValueError(f"{op}: bias cannot be added to static key / value")
        bsz = int(np.shape(query)[1]) if np.ndim(query) == 3 else 1
        h_dim = e // num_heads if num_heads > 0 else 0
        for name, st in (("static_k", static_k), ("static_v", static_v)):
            if st is not None and (
                st.ndim != 3 or st.shape[0] != bsz * num_heads or st.shape[2] != h_dim
            ):
                raise _AssertionValueError(
                    f"{op}: expecting {name} of shape (batch * num_heads, S, head_dim) = "
                    f"({bsz * num_heads}, S, {h_dim}), got {st.shape}"
                )
        s_key = int(np.shape(key)[0])
        if attn_mask is not None and static_k is not None and static_k.shape[1] != s_key:
            # torch checks attn_mask against key's length, then applies it to static_k's
            raise BadShapeOrValue(
                f"{op}: attn_mask with static_k needs static_k's length {static_k.shape[1]} "
                f"to equal key's {s_key} (as torch)"
            )
    if e != embed_dim_to_check:  # (PyTorch asserts these: AssertionError)
        raise _AssertionValueError(
            f"{op}: was expecting embedding dimension of {embed_dim_to_check}, got {e}"
        )
    if num_heads < 1 or e % num_heads:
        raise _AssertionValueError(f"{op}: embed_dim {e} not divisible by num_heads {num_heads}")
    m = MultiheadAttention.__new__(MultiheadAttention)
    Module.__init__(m)
    m.out_proj = Linear.__new__(Linear)
    Module.__init__(m.out_proj)
    m.out_proj.weight, m.out_proj.bias = t(out_proj_weight), t(out_proj_bias)
    m.in_proj_bias, m.bias_k, m.bias_v = t(in_proj_bias), t(bias_k), t(bias_v)
    if use_separate_proj_weight:
        m.q_proj_weight, m.k_proj_weight = t(q_proj_weight), t(k_proj_weight)
        m.v_proj_weight, m.in_proj_weight = t(v_proj_weight), None
        m.kdim, m.vdim = m.k_proj_weight.shape[-1], m.v_proj_weight.shape[-1]
    else:
        m.in_proj_weight, m.kdim, m.vdim = t(in_proj_weight), e, e
    m._qkv_same_embed_dim = not use_separate_proj_weight
    m.embed_dim, m.num_heads, m.head_dim = e, num_heads, e // num_heads
    m.add_zero_attn, m.dropout, m.batch_first = bool(add_zero_attn), float(dropout_p), False
    m.train(bool(training))
    m._static_kv = (static_k, static_v)
    return m(
        query,
        key,
        value,
        key_padding_mask=key_padding_mask,
        need_weights=need_weights,
        attn_mask=attn_mask,
        average_attn_weights=average_attn_weights,
        is_causal=is_causal,
    )


def _attention(query, key, value, attn_mask, dropout_p, is_causal, scale, group=1) -> Tensor:
    """scaled_dot_product_attention without the PyTorch rule against attn_mask with is_causal:
    here both apply (a key takes part only if both allow it), as MultiheadAttention needs.
    group > 1: grouped-query attention, key and value (at least 3-D, the batch dims before -3
    query's) with 1 / group of query's heads (dim -3), each read by `group` query heads."""
    op = "scaled_dot_product_attention"
    q = _float_input(query, op, "query")
    k = _float_input(key, op, "key", q.dtype)
    v = _float_input(value, op, "value", q.dtype)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise BadShapeOrValue(
            f"{op}: query, key and value must be at least 2-D (*, L, E), got {q.shape}, "
            f"{k.shape}, {v.shape}"
        )
    # k's and v's leading dims as the query heads see them (grouped: dim -3 times group)
    ks, vs = ((*t.shape[:-3], t.shape[-3] * group, *t.shape[-2:]) if group > 1 else t.shape
              for t in (k, v))  # fmt: skip
    # torch's CPU choice: its fused kernel for 4-D inputs of one batch and head shape and one
    # head dim, without dropout; else its math path, which keeps other values (see the Function)
    unfused = not (
        q.ndim == 4 and q.shape[:-2] == ks[:-2] == vs[:-2] and q.shape[-1] == v.shape[-1]
    )
    if not (q.shape[:-2] == ks[:-2] == vs[:-2]):  # broadcast, as PyTorch
        try:
            batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
        except ValueError:
            raise BadShapeOrValue(
                f"{op}: the leading (batch, head) dims of query, key and value must broadcast, "
                f"got {q.shape}, {k.shape}, {v.shape}"
            ) from None
        q, k, v = (ops.expand(t, batch + t.shape[-2:]) for t in (q, k, v))
    if q.shape[-1] != k.shape[-1]:
        raise BadShapeOrValue(
            f"{op}: query and key head dims differ: query {q.shape}, key {k.shape}"
        )
    if k.shape[-2] != v.shape[-2]:
        raise BadShapeOrValue(
            f"{op}: key and value sequence lengths differ: key {k.shape}, value {v.shape}"
        )
    if dropout_p > 1.0:
        raise BadShapeOrValue(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    if not dropout_p > 0.0:  # PyTorch drops out only when dropout_p > 0 (not for -0.5 or NaN)
        dropout_p = 0.0
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1]) if q.shape[-1] > 0 else 1.0
    elif not isinstance(scale, (int, float, np.integer, np.floating)):
        raise TypeError(f"{op}: scale must be a float or None, got {type(scale).__name__}")
    elif not np.isfinite(scale):
        raise BadShapeOrValue(f"{op}: scale must be finite, got {scale}")
    mask = None
    if attn_mask is not None:
        mask = _sdpa_mask(attn_mask, q.shape[:-2], q.shape[-2], k.shape[-2], q.dtype)
        # (no logits or no output, no mask gradient: torch leaves an empty attention's mask
        # without one)
        empty = q.shape[-2] == 0 or k.shape[-2] == 0 or 0 in q.shape[:-2] or v.shape[-1] == 0
        if isinstance(attn_mask, Tensor) and attn_mask.requires_grad and mask[0].dtype != bool:
            from ember.autograd import is_grad_enabled

            if is_grad_enabled() and not empty:  # the fused kernel has no mask gradient
                if group > 1:
                    k, v = (t.repeat_interleave(group, dim=-3) for t in (k, v))
                return _attention_composed(q, k, v, attn_mask, dropout_p, is_causal, scale)
        if mask[0].size == 0:  # nothing to read: an empty batch too (the kernel refused it)
            mask = None
    seed = 0
    if dropout_p > 0:
        from ember.random import rng as _global_rng

        seed = int(_global_rng().integers(0, 2**63))
    unfused = unfused or dropout_p > 0
    return ScaledDotProductAttention.apply(
        q, k, v, mask, bool(is_causal), float(scale), float(dropout_p), seed, unfused, group
    )


def _attention_composed(q, k, v, mask: Tensor, dropout_p, is_causal, scale) -> Tensor:
    """softmax(q k^T scale + mask) v from differentiable ops, so a float mask gets its gradient
    (Add reduces it to the mask's shape). Rows with no allowed key give 0, as the kernel."""
    # q and k each scaled by sqrt(scale), as torch's math path: its products keep these copies,
    # so writes into q or k after the forward are not refused (v is kept, as there)
    r = math.sqrt(abs(scale))
    scores = (q * math.copysign(r, scale)) @ (k.transpose(-2, -1) * r) + mask.to(q.dtype)
    lq, lk = scores.shape[-2:]
    blocked = np.isneginf(scores.data)
    if is_causal:
        blocked = blocked | np.triu(np.ones((lq, lk), dtype=bool), 1)
    dead = np.all(blocked, axis=-1, keepdims=True)
    if blocked.any():
        scores = ops.where(blocked & ~dead, -np.inf, ops.where(dead, 0.0, scores))
    w = softmax(scores, -1)
    if dead.any():
        w = w * (~dead).astype(q.dtype)
    if dropout_p > 0:
        w = dropout(w, dropout_p)
    return w @ v


# ---- dropout and the losses of the training toolkit ---------------------------------------


class Dropout(Function):
    # x, keep-mask already scaled by 1 / (1 - p) -> x * mask
    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None

    @staticmethod
    def backward_graph(ctx, g):
        return g * _graph.constant(ctx.saved_tensors[0]), None


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zeroes each element with probability p and scales the rest by
    1 / (1 - p), so evaluation (``training=False``) is the identity. Draws from ember's
    generator (``ember.manual_seed``)."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise BadShapeOrValue(f"dropout probability has to be between 0 and 1, but got {p!r}")
    training = _bool_arg(training, "dropout", "train")
    x = input
    empty = isinstance(input, Tensor) and input.data.size == 0  # (torch's identity too)
    if not (isinstance(input, Tensor) and input.data.dtype.kind in "biu"):
        x = _dropout_input(input, "dropout", p, training)
    elif training and 0.0 < p < 1.0 and not empty:  # PyTorch computes the integer cases
        raise TypeError(f"dropout: an {x.dtype} input takes only p = 0 or 1, got {p}")
    if not training or p == 0.0 or empty:  # the identity: x itself (in place too, on a leaf)
        return x
    if inplace:  # the input takes the result and is returned, as PyTorch
        return _in_place("dropout", dropout, x, p, training)
    if x.data.dtype.kind in "biu":  # p = 1
        return Tensor(np.zeros_like(x.data))
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    # (torch's CPU dropout: input * noise, its node a Mul)
    return _autograd_function.named(
        Dropout.apply(x, _keep_mask(x.shape, p, scale, x.dtype)), "MulBackward0"
    )


_DRAW_CHUNK = 1 << 15  # uniform draws per step of _keep_mask
_draw_buffers = threading.local()


def _keep_mask(shape: tuple, p: float, scale: float, dtype) -> np.ndarray:
    """(random(shape) >= p) * scale in ``dtype``: the values and generator stream of one
    ``random(shape)`` call (each float64 draw takes one generator output, so drawing in chunks
    changes nothing), drawn into one small reused per-thread buffer instead of two float64
    temporaries of x's size (8 bytes an element each, written and read again)."""
    from ember.random import rng as _global_rng

    gen = _global_rng()
    n = math.prod(shape)
    bufs = getattr(_draw_buffers, "bufs", None)
    if bufs is None:
        bufs = _draw_buffers.bufs = (np.empty(_DRAW_CHUNK), np.empty(_DRAW_CHUNK, bool))
    draws, keep = bufs
    mask = np.empty(n, dtype)
    s = np.asarray(scale, dtype)
    for i in range(0, n, _DRAW_CHUNK):
        m = min(_DRAW_CHUNK, n - i)
        gen.random(out=draws[:m])
        np.greater_equal(draws[:m], p, out=keep[:m])
        np.multiply(keep[:m], s, out=mask[i : i + m])
    return mask.reshape(shape)


# ---- elementwise losses -------------------------------------------------------------------


def _reduce_array(loss: np.ndarray, reduction: str, dtype) -> np.ndarray:
    if reduction == "none":
        return loss.astype(dtype, copy=False)
    if reduction == "mean" and not loss.size:  # NaN, without NumPy's "Mean of empty slice"
        return np.asarray(np.nan, dtype=dtype)
    return np.asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=dtype)


def _grad_scale(g, reduction: str, size: int):
    """The upstream gradient broadcast to every element: g (none), g / n (mean), g (sum)."""
    if reduction == "mean":
        return g / size
    return g


def _sign(d: np.ndarray) -> np.ndarray:
    """torch's sign for the l1 gradients: sign(NaN) = 0, so a NaN difference passes none."""
    return np.where(np.isnan(d), d.dtype.type(0), np.sign(d))


class L1Loss(Function):
    # |x - t|, reduced
    @staticmethod
    def forward(ctx, x, t, reduction):
        d = x - t
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        return _reduce_array(np.abs(d), reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = _grad_scale(g, ctx.reduction, d.size) * _sign(d)
        return gx, -gx, None

    @staticmethod
    def backward_graph(ctx, g):
        (d,) = ctx.saved_tensors
        gx = _grad_scale(g, ctx.reduction, d.size) * _graph.constant(_sign(d))
        return gx, -gx, None


@_torch_loss_params("input", "target", "size_average", "reduce", "reduction", "weight")
def l1_loss(input, target, reduction: str = "mean", weight=None) -> Tensor:
    """Mean absolute error. Shape: input and target of the same shape; ``weight`` (optional)
    of that shape too: 'mean' is then sum(w |x - t|) / sum(w), as PyTorch."""
    _check_reduction("l1_loss", reduction)
    if _is_complex(input) or _is_complex(target):
        return _complex_l1_loss(input, target, reduction, weight)
    x, t = _loss_pair("l1_loss", input, target, broadcast="warn")
    if weight is not None:
        return _weighted("l1_loss", L1Loss.apply, x, t, weight, reduction)
    fused = _fused_loss(x, t, "l1", 0.0, reduction)
    return fused if fused is not None else L1Loss.apply(x, t, reduction)


def _is_complex(x) -> bool:
    return isinstance(x, Tensor) and x.data.dtype.kind == "c"


def _complex_l1_loss(input, target, reduction, weight) -> Tensor:
    """l1_loss with a complex operand: |x - t| (real) reduced, as torch's composite (dtypes
    promoted, shapes broadcast with its warning)."""
    x, t = ops._tensor_operand(input), ops._tensor_operand(target)
    if x.shape != t.shape:
        try:
            np.broadcast_shapes(x.shape, t.shape)
        except ValueError:
            raise BadShapeOrValue(
                f"l1_loss: input shape {x.shape} and target shape {t.shape} do not broadcast"
            ) from None
        _warn_target_broadcast(x, t)
    loss = ops.abs(ops.sub(x, t))
    if weight is None:
        return _reduce(loss, reduction)
    w = ops._tensor_operand(weight)
    if w.shape != x.shape:
        raise BadShapeOrValue(f"l1_loss: weight shape {w.shape} must equal input shape {x.shape}")
    loss = loss * w
    return loss.sum() / w.sum() if reduction == "mean" else _reduce(loss, reduction)


class HuberLoss(Function):
    # 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta), d = x - t
    @staticmethod
    def forward(ctx, x, t, reduction, delta):
        d = x - t
        ad = np.abs(d)
        # m (|d| - m / 2), m = min(|d|, delta): 0.5 d^2 inside and delta (|d| - delta / 2)
        # beyond, bit for bit (|d| - |d| / 2 is exact), without np.where (slow on random masks)
        m = np.minimum(ad, delta)
        loss = m * (ad - 0.5 * m)
        ctx.save_for_backward(d)
        ctx.reduction, ctx.delta = reduction, delta
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        local = np.clip(d, -ctx.delta, ctx.delta)
        gx = (_grad_scale(g, ctx.reduction, d.size) * local).astype(d.dtype, copy=False)
        return gx, -gx, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return _regression_graph(ctx, g, "huber", ctx.delta)


def _regression_graph(ctx, g, loss: str, param: float) -> tuple:
    """HuberLoss's and SmoothL1Loss's backward_graph: the loss of d recomputed (as
    RegressionLoss's), d = x - t rebuilt from the one array they keep as d + (x - x's values)
    - (t - t's values): d's values exactly, with x's and t's derivatives."""
    (d0,) = ctx.saved_tensors

    def fn(x, t):
        d = _graph.constant(d0)
        if x is not None:
            d = d + (x - _graph.constant(x.data))
        if t is not None:
            d = d - (t - _graph.constant(t.data))
        return _reduce(_REGRESSION_GRAPH[loss](d, param), ctx.reduction)

    return _graph.recompute(ctx, (g,), fn, *ctx.parents[:2]) + (None, None)


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0, weight=None) -> Tensor:
    """Huber loss: quadratic for |x - t| < delta, linear beyond. Shape: same shapes; ``weight``
    (optional) of that shape too: 'mean' is then mean(w * loss), as PyTorch."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise BadShapeOrValue(f"huber_loss: delta must be positive, got {delta}")
    x, t = _loss_pair("huber_loss", input, target, broadcast="warn")
    if weight is not None:
        fn = lambda a, b, r: HuberLoss.apply(a, b, r, float(delta))  # noqa: E731
        return _weighted("huber_loss", fn, x, t, weight, reduction, weight_mean=False)
    fused = _fused_loss(x, t, "huber", delta, reduction)
    return fused if fused is not None else HuberLoss.apply(x, t, reduction, float(delta))


class SmoothL1Loss(Function):
    # 0.5 d^2 / beta if |d| < beta else |d| - 0.5 beta, d = x - t; beta = 0 is |d|
    @staticmethod
    def forward(ctx, x, t, reduction, beta):
        d = x - t
        ad = np.abs(d)
        if beta == 0:
            loss = ad
        else:  # the two branches added under complementary 0/1 masks (np.where is slow here)
            m = np.minimum(ad, beta)  # finite where the quadratic branch is masked out
            inside = ad < beta
            loss = 0.5 * m * m / beta * inside
            loss += (ad - 0.5 * beta) * ~inside
        ctx.save_for_backward(d)
        ctx.reduction, ctx.beta = reduction, beta
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        local = _sign(d) if ctx.beta == 0 else np.clip(d / ctx.beta, -1, 1)
        gx = (_grad_scale(g, ctx.reduction, d.size) * local).astype(d.dtype, copy=False)
        return gx, -gx, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return _regression_graph(ctx, g, "smooth_l1", ctx.beta)


@_torch_loss_params("input", "target", "size_average", "reduce", "reduction", "beta")
def smooth_l1_loss(input, target, reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """Smooth L1 (Girshick, 2015): 0.5 (x - t)^2 / beta for |x - t| < beta, |x - t| - 0.5 beta
    beyond; beta = 0 is l1_loss. Equals huber_loss(delta=beta) / beta. Shape: same shapes."""
    _check_reduction("smooth_l1_loss", reduction)
    if beta < 0:
        raise BadShapeOrValue(f"smooth_l1_loss: beta must be >= 0 (no negative values), got {beta}")
    if beta == 0:  # PyTorch runs l1_loss here (its graph, grad_fn names and all)
        return l1_loss(input, target, reduction=reduction)
    x, t = _loss_pair("smooth_l1_loss", input, target, broadcast="warn")
    fused = _fused_loss(x, t, "smooth_l1", beta, reduction)
    return fused if fused is not None else SmoothL1Loss.apply(x, t, reduction, float(beta))


def _broadcast_weight(op: str, weight, shape, dtype, name: str = "weight"):
    if weight is None:
        return None
    _refuse_grad(op, name, weight)  # (the BCE kernels have no weight gradient)
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=dtype)
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise BadShapeOrValue(
            f"{op}: {name} shape {w.shape} does not broadcast to {shape}"
        ) from None
    if np.broadcast_shapes(w.shape, shape) != tuple(shape):
        raise BadShapeOrValue(f"{op}: {name} shape {w.shape} does not broadcast to {shape}")
    return w


def _bce_graph_terms(ctx, g):
    """BCELoss's and BCEWithLogitsLoss's backward_graph: input, target and the upstream
    gradient of each element (reduction and weight applied), as Tensors."""
    x0, t0 = ctx.saved_tensors[:2]
    x, t = _graph.inputs(ctx, x0, t0)
    s = _grad_scale(g, ctx.reduction, x0.size)
    return x, t, s if ctx.w is None else s * _graph.constant(ctx.w)


_BCE_EPS = float(np.float32(1e-12))  # PyTorch's EPSILON, a float even for float64 input


class BCELoss(Function):
    # -w (t log x + (1 - t) log(1 - x)), each log clamped to >= -100 as PyTorch does
    @staticmethod
    def forward(ctx, x, t, w, reduction):
        ctx.save_for_backward(x, t)
        ctx.w, ctx.reduction = w, reduction
        if _bce_logits_fused(x, t, w, None):  # the ranges checked and the loss in one C++ pass
            return _C.regression_loss_forward(x, t, "bce_probs", 0.0, reduction)
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped to -100 next
            logx = np.maximum(np.log(x), -100)
            log1mx = np.maximum(np.log1p(-x), -100)
        loss = -(t * logx + (1 - t) * log1mx)
        if w is not None:
            loss = loss * w
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        eps = _BCE_EPS  # PyTorch's backward: (x - t) / max((1 - x) x, eps)
        s = _grad_scale(g, ctx.reduction, x.size)
        if ctx.w is not None:
            s = s * ctx.w
        gx = s * (x - t) / np.maximum((1 - x) * x, eps)
        gt = None
        if ctx.needs_input_grad[1]:  # PyTorch's -logit(x), unclamped: -+inf at x = 0 / 1
            with np.errstate(divide="ignore", invalid="ignore"):
                gt = (s * -np.log(x / (1 - x))).astype(x.dtype, copy=False)
        return gx.astype(x.dtype, copy=False), gt, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x, t, s = _bce_graph_terms(ctx, g)
        gx = s * (x - t) / ops.clamp((1 - x) * x, min=_BCE_EPS)  # as backward
        gt = None
        if ctx.needs_input_grad[1]:
            gt = -s * ops.log(x / (1 - x))
        return gx, gt, None, None


def _bce_sizes(op, input, target) -> None:
    """torch's order: input and target sizes are compared (ValueError) before the dtypes."""
    si, st = getattr(input, "shape", None), getattr(target, "shape", None)
    if si is not None and st is not None and tuple(si) != tuple(st):
        raise BadShapeOrValue(
            f"{op}: target shape {tuple(st)} differs from input shape {tuple(si)}"
        )


@_torch_loss_params("input", "target", "weight", "size_average", "reduce", "reduction")
def binary_cross_entropy(input, target, weight=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities ``input`` in [0, 1] and ``target``.

    Shape: input and target of the same shape; weight broadcastable to it.
    """
    _check_reduction("binary_cross_entropy", reduction)
    _bce_sizes("binary_cross_entropy", input, target)
    x, t = _loss_pair("binary_cross_entropy", input, target)
    if t.dtype != x.dtype:  # PyTorch refuses to mix them here (other losses promote)
        raise BadDtype(f"binary_cross_entropy: target is {t.dtype} but input is {x.dtype}")
    xd = x.data
    if weight is None and _bce_logits_fused(xd, t.data, None, None):
        # one C++ pass checks the ranges and sums the loss (NumPy's checks, logs and
        # temporaries were ~15 us of a ~19 us small call, 3x torch's)
        if ops._outside_graph(x) and ops._outside_graph(t):  # no node to record
            return Tensor._make(
                _C.regression_loss_forward(xd, t.data, "bce_probs", 0.0, reduction), False, None, 0
            )
        return _autograd_function.named(
            BCELoss.apply(x, t, None, reduction), "BinaryCrossEntropyBackward0"
        )
    # min and max: two passes and no temporaries (a NaN makes both NaN, failing the test)
    if xd.size and not (xd.min() >= 0 and xd.max() <= 1):
        raise BadShapeOrValue(
            "binary_cross_entropy: all elements of input should be between 0 and 1 "
            f"(got min {np.nanmin(xd) if not np.all(np.isnan(xd)) else 'nan'}, "
            f"max {np.nanmax(xd) if not np.all(np.isnan(xd)) else 'nan'}); for logits use "
            "binary_cross_entropy_with_logits"
        )
    td = t.data  # PyTorch refuses targets outside [0, 1] (NaN too) as it refuses such inputs
    if td.size and not (td.min() >= 0 and td.max() <= 1):
        raise BadShapeOrValue(
            "binary_cross_entropy: all elements of target should be between 0 and 1 "
            f"(got min {td.min()}, max {td.max()})"
        )
    w = _broadcast_weight("binary_cross_entropy", weight, x.shape, x.dtype)
    return _autograd_function.named(
        BCELoss.apply(x, t, w, reduction), "BinaryCrossEntropyBackward0"
    )


class BCEWithLogitsLoss(Function):
    # w ((1 - t) x + (1 + (pw - 1) t) softplus(-x)), softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)
    @staticmethod
    def forward(ctx, x, t, w, pw, reduction):
        ctx.w, ctx.pw, ctx.reduction = w, pw, reduction
        if _bce_logits_fused(x, t, w, pw):  # the loss and its reduction in one C++ pass
            ctx.save_for_backward(x, t, None)
            return _C.regression_loss_forward(x, t, "bce_logits", 0.0, reduction)
        # softplus(-x) = log1p(exp(-|x|)) + max(-x, 0) (finite for any x), one C++ pass
        # np.asarray: negating a 0-d array gives a NumPy scalar, which the binding refuses
        sp = _C.activation_forward("softplus", _contig(np.asarray(-x)), threshold=math.inf)
        lw = 1 if pw is None else 1 + (pw - 1) * t
        with np.errstate(invalid="ignore"):  # 0 * inf (t = 1, x = -inf) is NaN, as PyTorch's
            loss = (1 - t) * x + lw * sp
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, sp)
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t, sp = ctx.saved_tensors
        s = _grad_scale(g, ctx.reduction, x.size)
        if sp is None:  # (the fused forward's case): s (sigmoid(x) - t) in one C++ pass
            if ctx.reduction == "none":
                gx = _C.regression_loss_backward(x, t, _contig(g), "bce_logits")
            else:  # (s in x's dtype, as the product below: the same bits)
                gx = _C.regression_loss_backward(x, t, None, "bce_logits", scale=float(s))
            gt = (-s * x).astype(x.dtype, copy=False) if ctx.needs_input_grad[1] else None
            return gx, gt, None, None, None
        sig = _C.activation_forward("sigmoid", _contig(x))
        if ctx.w is not None:
            s = s * ctx.w
        nt = ctx.needs_input_grad[1]  # the target rarely wants a gradient: skip its passes
        gt = None
        if ctx.pw is None:
            gx = s * (sig - t)
            if nt:
                gt = (-s * x).astype(x.dtype, copy=False)
        else:
            lw = 1 + (ctx.pw - 1) * t
            gx = s * ((1 - t) - lw * (1 - sig))
            if nt:
                gt = (s * (-x + (ctx.pw - 1) * sp)).astype(x.dtype, copy=False)
        return gx.astype(x.dtype, copy=False), gt, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x, t, s = _bce_graph_terms(ctx, g)
        if ctx.pw is None:  # as backward
            return s * (sigmoid(x) - t), -s * x, None, None, None
        pw = _graph.constant(ctx.pw)
        gx = s * ((1 - t) - (1 + (pw - 1) * t) * (1 - sigmoid(x)))
        gt = s * (-x + (pw - 1) * softplus(-x, 1.0, math.inf))
        return gx, gt, None, None, None


def _bce_logits_fused(x, t, w, pw) -> bool:
    """Whether _C's fused bce_logits loss takes x and t: no weights, float32/float64 of one
    dtype and shape, C-contiguous."""
    return (
        w is None
        and pw is None
        and x.dtype.char in "fd"
        and t.dtype == x.dtype
        and t.shape == x.shape
        and x.flags.c_contiguous
        and t.flags.c_contiguous
    )


@_torch_loss_params(
    "input", "target", "weight", "size_average", "reduce", "reduction", "pos_weight"
)
def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction: str = "mean", pos_weight=None
) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable step (finite for logits of
    any size).

    Args:
        input: logits. target: same shape, in [0, 1].
        weight: broadcastable to input: rescales each element's loss.
        pos_weight: broadcastable to input (usually (C,)): weight of the positive term.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    _bce_sizes(op, input, target)
    x, t = _loss_pair(op, input, target)
    w = _broadcast_weight(op, weight, x.shape, x.dtype)
    pw = _broadcast_weight(op, pos_weight, x.shape, x.dtype, "pos_weight")
    loss = BCEWithLogitsLoss.apply(x, t, w, pw, reduction)
    # PyTorch builds the loss in place on (1 - target): it has the target's float dtype (a
    # float64 input with a float32 target gives float32)
    tdt = target.data.dtype if isinstance(target, Tensor) else None
    if tdt is not None and _lowp.is_float(tdt) and tdt != loss.data.dtype:
        loss = ops.cast(loss, tdt)
    return loss


class HingeEmbeddingLoss(Function):
    # x where t != -1, plus max(0, margin - x) where t != 1 (PyTorch's rule)
    @staticmethod
    def forward(ctx, x, t, margin, reduction):
        pos, neg = t != -1, t != 1
        z = margin - x
        loss = np.where(pos, x, 0) + np.where(neg & ~(z <= 0), z, 0)  # NaN stays, as clamp_min
        # PyTorch's clamp_min(margin - x, 0) passes the gradient at z == 0 too
        ctx.save_for_backward(pos, neg & (z >= 0))
        ctx.reduction = reduction
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        pos, active = ctx.saved_tensors
        s = _grad_scale(g, ctx.reduction, pos.size)
        gx = s * (pos.astype(np.int8) - active.astype(np.int8))
        return gx.astype(np.result_type(g), copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        pos, active = ctx.saved_tensors
        slope = _graph.constant((pos.astype(np.int8) - active.astype(np.int8)).astype(g.dtype))
        return (g / pos.size if ctx.reduction == "mean" else g) * slope, None, None, None


@_torch_loss_params("input", "target", "margin", "size_average", "reduce", "reduction")
def hinge_embedding_loss(input, target, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """x where target is 1, max(0, margin - x) where target is -1.

    Shape: input (any) and target (same shape) of 1 / -1 values.
    """
    op = "hinge_embedding_loss"
    _check_reduction(op, reduction)
    x = _float_input(input, op)
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.shape != x.shape:  # PyTorch broadcasts them (quietly)
        try:
            shape = np.broadcast_shapes(x.shape, t.shape)
        except ValueError:
            raise BadShapeOrValue(
                f"{op}: input shape {x.shape} and target shape {t.shape} differ"
            ) from None
        x, t = ops.expand(x, shape), np.broadcast_to(t, shape)
    loss = HingeEmbeddingLoss.apply(x, t.astype(x.dtype), float(margin), reduction)
    # torch's composition: where(t != 1, margin part) + where(t != -1, x), then reduced
    name = {"mean": "MeanBackward0", "sum": "SumBackward0"}.get(reduction, "AddBackward0")
    return _autograd_function.named(loss, name)


class MultiMarginLoss(Function):
    # x (N, C), y (N,): sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C
    @staticmethod
    def forward(ctx, x, y, p, margin, w, reduction):
        x2 = x.reshape(-1, x.shape[-1])
        n, c = x2.shape
        rows = np.arange(n)
        z = margin - x2[rows, y][:, None] + x2
        z[rows, y] = 0
        active = z > 0
        h = np.where(active, z if p == 1 else z * z, 0)
        if w is not None:
            h = h * w[y][:, None]
        loss = h.sum(axis=1) / c
        ctx.save_for_backward(z, active)
        ctx.meta = (x.shape, y, p, w, reduction)
        if reduction == "none":
            return loss.reshape(x.shape[:-1]).astype(x.dtype)
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        z, active = ctx.saved_tensors
        shape, y, p, w, reduction = ctx.meta
        n, c = z.shape
        rows = np.arange(n)
        d = np.where(active, 1.0 if p == 1 else 2 * z, 0) / c
        if w is not None:
            d = d * w[y][:, None]
        if reduction == "none":
            d = d * np.reshape(g, (n, 1))
        else:
            d = d * (g / n if reduction == "mean" else g)
        gx = d.copy()
        gx[rows, y] = -d.sum(axis=1)
        return gx.reshape(shape).astype(z.dtype, copy=False), None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        z0, _ = ctx.saved_tensors
        shape, y, p, w, reduction = ctx.meta
        n, c = z0.shape
        others = np.ones((n, c), z0.dtype)
        others[np.arange(n), y] = 0
        scale = np.full(n, 1 / c, z0.dtype) if w is None else (w[y] / c).astype(z0.dtype)

        def loss(x):  # forward in Tensor ops; relu's 0 gradient at 0 is forward's z > 0
            x2 = ops.reshape(x, (n, c))
            d = x2 - ops.gather(x2, 1, _graph.constant(y[:, None]))  # z - margin
            z = (d - _graph.constant(d.data) + _graph.constant(z0)) * _graph.constant(others)
            h = relu(z) if p == 1 else relu(z) ** 2
            out = ops.sum(h, 1) * _graph.constant(scale)
            if reduction == "none":
                return ops.reshape(out, shape[:-1])
            return ops.mean(out) if reduction == "mean" else ops.sum(out)

        return (_graph.recompute(ctx, (g,), loss, ctx.parents[0])[0],) + (None,) * 5


@_torch_loss_params(
    "input", "target", "p", "margin", "weight", "size_average", "reduce", "reduction"
)
def multi_margin_loss(
    input, target, p: int = 1, margin: float = 1.0, weight=None, reduction: str = "mean"
) -> Tensor:
    """Multi-class hinge loss (Weston & Watkins / Crammer-Singer style as PyTorch's).

    Shape: input (N, C) or (C,); target (N,) or () of class indices in [0, C).
    """
    op = "multi_margin_loss"
    _check_reduction(op, reduction)
    if p not in (1, 2):
        raise BadShapeOrValue(f"{op}: only p == 1 and p == 2 are supported, got {p!r}")
    x = _float_input(input, op)
    if (
        isinstance(target, Tensor)
        and target.data.dtype.kind in "iu"
        and target.data.dtype != np.int64
    ):
        # torch's kernel takes int64 class indices only (int32 targets were accepted)
        raise BadDtype(f"{op}: expected target dtype int64, got {target.dtype}")
    t = _targets(op, target)
    if x.ndim == 0:
        x = x.reshape(1)  # PyTorch reads a 0-d input as (C,) with C = 1
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise BadShapeOrValue(f"{op}: input must be (N, C) or (C,) with C > 0, got {x.shape}")
    if x.ndim == 1 and t.shape == (1,):
        x = x.reshape(1, -1)  # PyTorch reads (C,) with a (1,) target as one sample: loss (1,)
    if t.shape != x.shape[:-1]:
        raise BadShapeOrValue(f"{op}: input shape {x.shape} expects target shape {x.shape[:-1]}, "
                              f"got {t.shape}")  # fmt: skip
    c = x.shape[-1]
    if t.size and (t.min() < 0 or t.max() >= c):
        bad = t[(t < 0) | (t >= c)][0]
        raise BadShapeOrValue(f"{op}: target {int(bad)} is out of bounds for {c} classes")
    w = _class_weight(op, weight, c, x.dtype, strict=True)
    return MultiMarginLoss.apply(x, t.reshape(-1), int(p), float(margin), w, reduction)


# ---- divergence, embedding, ranking and likelihood losses ---------------------------------
# Rarely hot, so composed from differentiable ops (gradients flow to every float argument, as
# in PyTorch), except kl_div, whose 0 log 0 = 0 needs its own gradient rule.


class KLDiv(Function):
    # pointwise t (log t - x) (0 where t = 0), or exp(t) (t - x) with log_target
    @staticmethod
    def forward(ctx, x, t, log_target):
        ctx.log_target = log_target
        if log_target:
            # keeps exp(t) and t - x, not x and t, as torch's exp(t) * (t - x): writes into
            # either input after the forward are not refused (the gradients read the copies)
            et, d = np.exp(t), t - x
            ctx.save_for_backward(d, et, ops._Held(x), ops._Held(t))  # (x, t: double backward)
            return et * d
        # x is read only for the target's gradient (as torch, which keeps only the target)
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else ops._shape_only(x), t)
        with np.errstate(divide="ignore", invalid="ignore"):  # t < 0 gives NaN, as PyTorch
            tlogt = np.where(t == 0, 0, t * np.log(np.where(t == 0, 1, t)))
        return (tlogt - t * x).astype(x.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        nx, nt, _ = ctx.needs_input_grad  # the target rarely wants a gradient: skip its passes
        if ctx.log_target:
            d, et = ctx.saved_tensors[:2]
            return (-g * et if nx else None), (g * et * (d + 1) if nt else None), None
        x, t = ctx.saved_tensors
        gt = None
        if nt:
            gt = np.where(t == 0, 0, g * (np.log(np.where(t == 0, 1, t)) + 1 - x))
            gt = gt.astype(x.dtype, copy=False)
        return (-g * t if nx else None), gt, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, t0 = ctx.saved_tensors[-2:]
        x0, t0 = ops._held(x0), ops._held(t0)
        x, t = _graph.inputs(ctx, x0, t0)
        if ctx.log_target:
            kl = lambda x, t: ops.exp(t) * (t - x)  # noqa: E731
        else:
            zero = _graph.constant(t0 == 0)

            def kl(x, t):  # t log t is 0 at t = 0
                return ops.where(zero, 0.0, t * ops.log(ops.where(zero, 1.0, t))) - t * x

        return _graph.recompute(ctx, (g,), kl, x, t) + (None,)


class KLDivSum(Function):
    # the sum of KLDiv's pointwise t (log t - x) (0 where t = 0), over ``denom`` (mean: the
    # size, batchmean: the batch, sum: 1): the loss and its sum in one C++ pass (in double)
    @staticmethod
    def forward(ctx, x, t, denom):
        ctx.save_for_backward(x if ctx.needs_input_grad[1] else ops._shape_only(x), t)
        ctx.denom = denom
        total = _C.regression_loss_forward(x, t, "kl_div", 0.0, "sum")
        return total if denom == 1 else np.asarray(total / denom, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t = ctx.saved_tensors
        s = g / ctx.denom if ctx.denom != 1 else g  # (in g's dtype, as KLDiv's reduced g)
        gt = None
        if ctx.needs_input_grad[1]:
            gt = np.where(t == 0, 0, s * (np.log(np.where(t == 0, 1, t)) + 1 - x))
            gt = gt.astype(x.dtype, copy=False)
        return (-s * t if ctx.needs_input_grad[0] else None), gt, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, t0 = ctx.saved_tensors
        x, t = _graph.inputs(ctx, x0, t0)
        zero = _graph.constant(t0 == 0)

        def kl(x, t):  # KLDiv's, summed
            loss = ops.where(zero, 0.0, t * ops.log(ops.where(zero, 1.0, t))) - t * x
            return loss.sum() / ctx.denom if ctx.denom != 1 else loss.sum()

        return _graph.recompute(ctx, (g,), kl, x, t) + (None,)


@_torch_loss_params("input", "target", "size_average", "reduce", "reduction", "log_target")
def kl_div(input, target, reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence KL(target || exp(input)) pointwise: target (log target -
    input), or exp(target) (target - input) with ``log_target``. ``input`` is log-probabilities.

    Args:
        reduction: 'none' | 'mean' (over all elements) | 'sum' | 'batchmean' (sum / N, the
            true KL divergence per sample).

    Where target is 0, the pointwise loss and its target gradient are 0 (PyTorch's target
    gradient there is NaN).

    Shape: input and target of the same shape.
    """
    op = "kl_div"
    if reduction not in _REDUCTIONS + ("batchmean",):
        raise BadShapeOrValue(
            f"{op}: reduction must be one of {_REDUCTIONS + ('batchmean',)}, got {reduction!r}"
        )
    if reduction == "mean":  # PyTorch's warning, word for word
        warnings.warn(
            "reduction: 'mean' divides the total loss by both the batch size and the support "
            "size.'batchmean' divides only by the batch size, and aligns with the KL div math "
            "definition.'mean' will be changed to behave the same as 'batchmean' in the next "
            "major release.",
            stacklevel=2,
        )
    n = _float_input(input, op).shape[:1]  # batchmean divides by the input's own batch
    x, t = _loss_pair(op, input, target, broadcast="quiet")
    log_target = _bool_arg(log_target, "kl_div", "log_target")
    xd, td = x.data, t.data
    if (
        not log_target
        and reduction != "none"
        and xd.size
        and xd.dtype.char in "fd"
        and td.dtype == xd.dtype
        and td.shape == xd.shape
        and xd.flags.c_contiguous
        and td.flags.c_contiguous
    ):  # the common call: one fused pass (KLDivSum)
        denom = xd.size if reduction == "mean" else n[0] if reduction == "batchmean" and n else 1
        # (torch's batchmean of a 0-d input is its sum, undivided)
        name = "DivBackward0" if reduction == "batchmean" and n else "SumBackward0"
        name = "MeanBackward0" if reduction == "mean" else name
        return _autograd_function.named(KLDivSum.apply(x, t, denom), name)
    # torch's last op of the unreduced loss: exp(t) * (t - x), or xlogy(t, t) - t * x
    name = "MulBackward0" if log_target else "SubBackward0"
    loss = _autograd_function.named(KLDiv.apply(x, t, log_target), name)
    if reduction == "batchmean":
        return loss.sum() / n[0] if n else loss.sum()
    return _reduce(loss, reduction)


@_torch_loss_params("input1", "input2", "target", "margin", "size_average", "reduce", "reduction")
def cosine_embedding_loss(
    input1, input2, target, margin: float = 0, reduction: str = "mean"
) -> Tensor:
    """1 - cos(x1, x2) where target is 1, max(0, cos(x1, x2) - margin) where target is -1.

    Shape: input1, input2 (N, D) or (D,); target (N,) or () of 1 / -1.
    """
    op = "cosine_embedding_loss"
    _check_reduction(op, reduction)
    # bool inputs count as integers (torch's products and sums of bools are integer ones)
    input1, input2 = (
        ops.cast(v, np.int64) if getattr(v, "dtype", None) == np.bool_ else v
        for v in (input1, input2)
    )
    x1, x2 = _float_operands(op, ("input1", "input2"), input1, input2)  # (promoted, as torch)
    y = np.asarray(target.data if isinstance(target, Tensor) else target)
    # torch's rule: the target's rank fixes the inputs' ((N, D) for (N,), (D,) for ()); the
    # inputs, their per-row sums and the target then broadcast (a (1, D) input1 meets every row)
    want = 2 if y.ndim == 1 else 1
    try:
        if y.ndim > 1 or x1.ndim != want or x2.ndim != want:
            raise ValueError
        np.broadcast_shapes(x1.shape, x2.shape)
    except ValueError:  # (torch's RuntimeErrors, both)
        raise BadShapeOrValue(
            f"{op}: input1 and input2 must both be (N, D) with a (N,) target or (D,) with a () "
            f"target, got {x1.shape}, {x2.shape} and target {y.shape}"
        ) from None
    rows = np.broadcast_shapes(x1.shape[:-1], x2.shape[:-1])
    try:
        np.broadcast_shapes(y.shape, rows)
    except ValueError:
        raise BadShapeOrValue(f"{op}: target shape {y.shape} must broadcast with {rows}") from None
    y = y.astype(x1.dtype, copy=False)
    eps = 1e-12  # PyTorch's EPSILON on each squared magnitude
    prod = (x1 * x2).sum(-1)
    cos = prod / (((x1 * x1).sum(-1) + eps) * ((x2 * x2).sum(-1) + eps)).sqrt()
    pos = ops.where(y == 1, 1 - cos, 0.0)
    neg = ops.where(y == -1, (cos - margin).clamp(min=0), 0.0)
    return _reduce(pos + neg, reduction)


@_torch_loss_params("input1", "input2", "target", "margin", "size_average", "reduce", "reduction")
def margin_ranking_loss(
    input1, input2, target, margin: float = 0, reduction: str = "mean"
) -> Tensor:
    """max(0, -target (x1 - x2) + margin): target 1 wants x1 ranked above x2, -1 below.

    Shape: input1, input2, target with the same number of dims, broadcasting.
    """
    op = "margin_ranking_loss"
    _check_reduction(op, reduction)
    # promoted to one float dtype, as PyTorch's composite -target * (x1 - x2) + margin
    x1, x2, y = _float_operands(op, ("input1", "input2", "target"), input1, input2, target)
    if not x1.ndim == x2.ndim == y.ndim:
        raise BadShapeOrValue(
            f"{op}: input1, input2 and target must have the same number of dims, got "
            f"{x1.shape}, {x2.shape}, {y.shape}"
        )
    # y (x2 - x1) is -y (x1 - x2) bit for bit (negation is exact), one op fewer
    loss = _autograd_function.named((y * (x2 - x1) + margin).clamp(min=0), "ClampMinBackward0")
    return _reduce(loss, reduction)


@_torch_loss_params("input", "target", "size_average", "reduce", "reduction")
def soft_margin_loss(input, target, reduction: str = "mean") -> Tensor:
    """log(1 + exp(-target x)), the two-class logistic loss for targets 1 / -1.

    Shape: input and target of the same shape.
    """
    op = "soft_margin_loss"
    _check_reduction(op, reduction)
    _refuse_grad(op, "target", target)
    shape = _float_input(input, op).shape
    x, t = _loss_pair(op, input, target, broadcast="quiet")
    if x.shape != shape:  # PyTorch broadcasts the target to the input's shape only
        raise BadShapeOrValue(f"{op}: target does not broadcast to the input's shape {shape}")
    if t.data.dtype != x.data.dtype:  # PyTorch's loss is in the input's dtype (out=like input)
        t = ops.cast(t, x.data.dtype)
    # (torch's one node for it, whatever the reduction)
    return _autograd_function.named(_reduce(softplus(-x * t), reduction), "SoftMarginLossBackward0")


@_torch_loss_params("input", "target", "weight", "size_average", "reduce", "reduction")
def multilabel_soft_margin_loss(input, target, weight=None, reduction: str = "mean") -> Tensor:
    """One-vs-all logistic loss for multi-label targets in {0, 1}, averaged over the C classes.

    Shape: input and target (N, C) or (C,); weight broadcastable to input -> 'none' gives (N,).
    """
    op = "multilabel_soft_margin_loss"
    _check_reduction(op, reduction)
    # PyTorch sums the class dim of the input's own rank and divides by its own class count,
    # also when the target broadcasts it to more dims
    shape = _float_input(input, op).shape
    x, t = _loss_pair(op, input, target, broadcast="quiet")
    if not shape:  # (torch: IndexError, from its class-dim reduction)
        raise _IndexValueError(f"{op}: input must have at least 1 dimension")
    w = None
    if weight is not None:
        w = weight if isinstance(weight, Tensor) else Tensor(np.asarray(weight, dtype=x.dtype))
        _broadcast_weight(op, w.data, x.shape, x.dtype)
    # t softplus(-x) + (1 - t) softplus(x); a term whose weight is 0 and whose softplus is
    # inf (a logit of -inf for t = 0, inf for t = 1) is 0, not 0 * inf = NaN (PyTorch's)
    pos, neg = softplus(-x), softplus(x)
    pos_off = (t.data == 0) & (x.data == -np.inf)
    neg_off = (t.data == 1) & (x.data == np.inf)
    if pos_off.any():
        pos = ops.where(pos_off, 0.0, pos)
    if neg_off.any():
        neg = ops.where(neg_off, 0.0, neg)
    loss = t * pos + (1 - t) * neg
    if w is not None:
        loss = loss * w
    return _reduce(loss.sum(len(shape) - 1) / shape[-1], reduction)


@_torch_loss_params(
    "input", "target", "log_input", "full", "size_average", "eps", "reduce", "reduction"
)
def poisson_nll_loss(
    input,
    target,
    log_input: bool = True,
    full: bool = False,
    eps: float = 1e-8,
    reduction: str = "mean",
) -> Tensor:
    """Negative log-likelihood of a Poisson target: exp(x) - t x when ``input`` is the log-rate
    (``log_input``), else x - t log(x + eps). ``full`` adds Stirling's approximation of
    log(t!), t log t - t + 0.5 log(2 pi t), for targets > 1.

    Shape: input and target of the same shape.
    """
    op = "poisson_nll_loss"
    _check_reduction(op, reduction)
    if not isinstance(eps, int | float | np.floating | np.integer):  # (a bool passes: torch)
        raise TypeError(f"{op}: eps must be a float, got {eps!r}")
    if _is_int(input) and _is_int(target):  # both integers: the default float dtype (torch)
        input, target = _float_operands(op, ("input", "target"), input, target)
    x, t = _loss_pair(op, input, target, broadcast="quiet")
    loss = x.exp() - t * x if log_input else x - t * (x + eps).log()
    if full:
        big = t.data > 1
        # the term is 0 for t <= 1; its gradient there is 0 for t in (0, 1] but NaN for t <= 0
        # (torch's composite: the masked-out zero times log(t)'s NaN / -inf), so t is kept there
        ts = ops.where(big, t, ops.where(t.data > 0, 1.0, t))
        with np.errstate(divide="ignore", invalid="ignore"):  # (t <= 0: masked out below)
            stirling = ts * ts.log() - ts + 0.5 * (2 * np.pi * ts).log()
        loss = loss + ops.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(
    input, target, var, full: bool = False, eps: float = 1e-6, reduction: str = "mean"
) -> Tensor:
    """Negative log-likelihood of target under N(input, var): 0.5 (log var + (x - t)^2 / var),
    plus 0.5 log(2 pi) with ``full``. var is clamped to >= eps for the value only (its gradient
    passes the clamp unchanged, as PyTorch).

    Shape: input and target broadcast together; var input's shape, or one dim of it 1 or
    the last dim missing (one variance shared), or a float.
    """
    op = "gaussian_nll_loss"
    if _is_int(var):  # PyTorch clamps var's float copy in place into its integer dtype
        raise BadDtype(f"{op}: var must be a floating point tensor, got {var.dtype}")
    # one float dtype, as PyTorch's promotion (an integer input or target takes it)
    ishape = tuple(getattr(input, "shape", ()))
    if isinstance(var, Tensor) and ishape and var.shape == ishape[:-1]:
        var = var.unsqueeze(-1)  # (one variance per sample: torch unsqueezes it first)
    # one float dtype, by PyTorch's promotion in its composite's order: (input - target), a 0-d
    # one not widening the other, then that with var (likewise)
    input, target = _float_operands(op, ("input", "target"), input, target, dim0_weak=True)
    if isinstance(var, Tensor):
        diff_nd = max(input.ndim, target.ndim)
        v = _float_input(var, op, "var")
        if v.ndim == 0 and diff_nd:
            dt = input.data.dtype
        elif diff_nd == 0 and v.ndim:
            dt = v.data.dtype
        else:
            dt = np.promote_types(input.data.dtype, v.data.dtype)
        input, target, var = (
            x if x.data.dtype == dt else ops.cast(x, dt) for x in (input, target, v)
        )
    shape = input.shape  # var is checked against input's own shape
    x, t = _loss_pair(op, input, target, "quiet")
    if isinstance(var, int | float):
        if var < 0:
            raise BadShapeOrValue(f"{op}: var has negative entry/entries")
        var = Tensor(np.full(shape, var, dtype=x.dtype))
    v = _float_input(var, op, "var", x.dtype)
    if np.any(v.data < 0):
        raise BadShapeOrValue(f"{op}: var has negative entry/entries")
    if v.shape != shape:
        if v.shape == shape[:-1]:
            v = v.unsqueeze(-1)
        elif v.ndim != len(shape) or sum(b for a, b in zip(shape, v.shape) if a != b) != 1:
            raise BadShapeOrValue(f"{op}: var of shape {v.shape} is of incorrect size for {shape}")
    _check_reduction(op, reduction)
    # clamp the value, not the gradient (where, not max - v: an infinite var stays finite here)
    v = v + Tensor(np.where(v.data < eps, eps - v.data, 0).astype(v.dtype))
    loss = 0.5 * (v.log() + (x - t) * (x - t) / v)
    if full:
        loss = loss + 0.5 * float(np.log(2 * np.pi))
    return _reduce(loss, reduction)


def _pnorm(d: Tensor, p: float, keepdim: bool = False) -> Tensor:
    """The p-norm over the last dim; Tensor.norm's gradient is PyTorch's (0 at a zero vector,
    not sqrt's infinite slope times 0; p = inf shares it among tied maxima). A finite p < 0
    (a harmonic-like mean) is linalg.vector_norm's, as PyTorch's pairwise_distance allows."""
    if -np.inf < p < 0:
        return ops.NormP.apply(d, p, (d.ndim - 1,), keepdim)
    return d.norm(p, -1, keepdim)


def pairwise_distance(x1, x2, p: float = 2.0, eps: float = 1e-6, keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dim (broadcasting), as PyTorch.

    Shape: (N, D) or (D,) -> (N,) or () (keepdim keeps the last dim as 1).
    """
    op = "pairwise_distance"
    keepdim = _bool_arg(keepdim, op, "keepdim")
    a, b = _float_operands(op, ("x1", "x2"), x1, x2, dim0_weak=True)  # (x1 - x2: torch's rule)
    if a.ndim == 0 and b.ndim == 0:  # PyTorch: the norm of the one difference
        y = _pnorm(a.reshape(1) - b.reshape(1) + eps, float(p)).reshape(())
    elif (p < 0 or p == np.inf) and 0 in (a.shape[-1], b.shape[-1]):
        raise BadShapeOrValue(
            f"{op}: no {p}-norm over an empty last dim (shapes {a.shape}, {b.shape})"
        )
    else:
        y = _pnorm(a - b + eps, float(p), keepdim)
    return _autograd_function.named(y, "NormBackward1")  # (torch's norm node)


def _triplet(op, anchor, positive, negative):
    names = ("anchor", "positive", "negative")
    a, p, n = _float_operands(op, names, anchor, positive, negative)
    if not (a.ndim == p.ndim == n.ndim):  # (0-D too, as PyTorch)
        raise BadShapeOrValue(
            f"{op}: anchor, positive and negative must have the same number of dims, got "
            f"{a.shape}, {p.shape}, {n.shape}"
        )
    return a, p, n


def _triplet_loss(dist, a, p, n, margin, swap, reduction) -> Tensor:
    d_pos, d_neg = dist(a, p), dist(a, n)
    if swap:
        d_neg = ops.minimum(d_neg, dist(p, n))
    loss = _autograd_function.named((margin + d_pos - d_neg).clamp(min=0), "ClampMinBackward0")
    return _reduce(loss, reduction)


@_torch_loss_params(
    "anchor",
    "positive",
    "negative",
    "margin",
    "p",
    "eps",
    "swap",
    "size_average",
    "reduce",
    "reduction",
)
def triplet_margin_loss(
    anchor,
    positive,
    negative,
    margin: float = 1.0,
    p: float = 2,
    eps: float = 1e-6,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """max(0, margin + d(a, pos) - d(a, neg)) with d = pairwise_distance(p, eps); ``swap``
    uses min(d(a, neg), d(pos, neg)) as the negative distance (Balntas et al., 2016).

    Shape: anchor, positive, negative (*, D), broadcasting -> 'none' gives (*).
    """
    op = "triplet_margin_loss"
    _check_reduction(op, reduction)
    if margin <= 0:
        raise BadShapeOrValue(f"{op}: margin must be greater than 0, got {margin}")
    a, po, n = _triplet(op, anchor, positive, negative)
    dist = lambda u, v: pairwise_distance(u, v, p, eps)  # noqa: E731
    return _triplet_loss(dist, a, po, n, margin, _bool_arg(swap, op, "swap"), reduction)


def triplet_margin_with_distance_loss(
    anchor,
    positive,
    negative,
    *,
    distance_function=None,
    margin: float = 1.0,
    swap: bool = False,
    reduction: str = "mean",
) -> Tensor:
    """triplet_margin_loss with any ``distance_function(x1, x2)`` (default pairwise_distance).

    Shape: anchor, positive, negative (*, D), broadcasting -> 'none' gives (*).
    """
    op = "triplet_margin_with_distance_loss"
    _check_reduction(op, reduction)
    if margin <= 0:
        raise BadShapeOrValue(f"{op}: margin must be greater than 0, got {margin}")
    a, po, n = _triplet(op, anchor, positive, negative)
    return _triplet_loss(distance_function or pairwise_distance, a, po, n, margin, swap, reduction)


# ---- convolution, pooling, batch norm -------------------------------------------------------


def _int_arg(v, op: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return int(v)


def _bool_arg(v, op: str, name: str) -> bool:
    """A flag PyTorch passes to C++, which takes a bool only (not 0 / 1, None or a string)."""
    if not isinstance(v, bool):
        t = type(v)  # (numpy.bool, not bool: torch's qualified name for non-builtin types)
        kind = t.__name__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__name__}"
        raise TypeError(f"{op}(): argument '{name}' must be bool, not {kind}")
    return bool(v)


def _pair(v, op: str, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (h, w)."""
    if isinstance(v, tuple | list):
        if len(v) != 2:
            raise BadShapeOrValue(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
        return _int_arg(v[0], op, name), _int_arg(v[1], op, name)
    v = _int_arg(v, op, name)
    return v, v


def _one(v):
    """PyTorch's int[n] arguments (conv and pool sizes) take a 1-element list as n copies."""
    return v[0] if isinstance(v, tuple | list) and len(v) == 1 else v


def _conv_padding(padding, kernel, stride, dilation, op: str = "conv2d"):
    """padding -> (top, bottom, left, right). Strings as PyTorch: 'valid' none, 'same' keeps
    the size (stride 1 only; for an even extent the extra row/column goes bottom/right), and
    'full' pads dilation*(k-1) on every side (every partial overlap)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return th // 2, th - th // 2, tw // 2, tw - tw // 2
        if padding == "full":
            ph, pw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return ph, ph, pw, pw
        raise ValueError(
            f"{op}: padding must be an int, a pair, 'valid', 'same' or 'full', got {padding!r}"
        )
    ph, pw = _pair(_one(padding), op, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return ph, ph, pw, pw


def _nonfinite_weight(y: np.ndarray, w: np.ndarray, padded: bool) -> bool:
    """Whether a float32 convolution's zero padding may have met an inf/NaN weight: PyTorch's
    oneDNN kernels skip the padded taps, where ember's engines (as torch's float64 im2col path)
    multiply them by the weight (0 * NaN), giving NaN where torch's float32 results are finite
    (see _skip_padded_taps). Both the weight and the output y must hold a non-finite value:
    the smaller is tested first, a pass far cheaper than the convolution that made y."""
    if not padded or y.dtype == np.float64:
        return False
    a, b = (w, y) if w.size <= y.size else (y, w)
    return not np.isfinite(a).all() and not np.isfinite(b).all()


def _skip_padded_taps(y: np.ndarray, x: np.ndarray, w: np.ndarray, finite_conv, stride, pad,
                      dilation, groups: int) -> None:  # fmt: skip
    """y (N, O, *S) := conv(x, w) over the in-bounds taps only, in place: ``finite_conv(w_f)``
    (the engine's convolution with w's inf/NaN entries zeroed, bias included) plus each inf/NaN
    entry times the inputs it meets inside x (N, C, *I). ``pad``: the low padding per spatial
    axis. Rare (non-finite weights), so NumPy, one pass per kernel tap holding such entries.
    An input holding inf/NaN itself keeps the engine's result (0 * inf is NaN either way)."""
    bad = ~np.isfinite(w)
    if not bad.any() or not np.isfinite(x).all():
        return
    y[...] = finite_conv(np.where(bad, 0, w).astype(w.dtype))
    o_per_group, c_per_group = w.shape[0] // groups, w.shape[1]
    for tap in zip(*np.nonzero(bad.any(axis=0))):  # (c, k_1, ..., k_n) holding a bad entry
        out_sl, in_sl = [slice(None), None], [slice(None), slice(None)]
        for k, s, p, d, n_in, n_out in zip(tap[1:], stride, pad, dilation, x.shape[2:],
                                           y.shape[2:]):  # fmt: skip
            off = k * d - p  # output i reads input i * s + off
            lo, hi = max(0, -(off // s)), min(n_out, (n_in - 1 - off) // s + 1)
            if lo >= hi:
                break
            out_sl.append(slice(lo, hi))
            in_sl.append(slice(lo * s + off, (hi - 1) * s + off + 1, s))
        else:
            out_sl[1] = o = np.nonzero(bad[(slice(None), *tap)])[0]
            vals = w[(o, *tap)].reshape((1, -1) + (1,) * (x.ndim - 2))
            src = x[:, (o // o_per_group) * c_per_group + tap[0]][tuple(in_sl)]
            with np.errstate(invalid="ignore"):  # (inf * 0, inf - inf: NaN, as torch's)
                y[tuple(out_sl)] += vals * src


class Conv2d(Function):
    # x (N,C,H,W), w (O,C/g,KH,KW), b (O) -> y (N,O,OH,OW); padding (top, bottom, left, right)
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        x, w = _contig(x), _contig(w)  # (a double backward's operands may be views)
        y = _C.conv2d_forward(x, w, b, stride, padding, dilation, groups)
        if _nonfinite_weight(y, w, any(padding)):
            lo = padding[::2] if len(padding) == 4 else padding  # ((h, w) from conv_transpose2d)
            _skip_padded_taps(y, x, w, lambda wf: _C.conv2d_forward(x, wf, b, stride, padding,
                              dilation, groups), stride, lo, dilation, groups)  # fmt: skip
        ctx.save_for_backward(x, w)
        ctx.args = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = _contig(g.astype(x.dtype, copy=False))
        dx, dw, db = _C.conv2d_backward(
            g, x, w, *ctx.args, need_input=nx, need_weight=nw, need_bias=nb and ctx.has_bias
        )
        return dx, dw, db, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x, w = _graph.inputs(ctx, *ctx.saved_tensors)
        nx, nw, nb = ctx.needs_input_grad[:3]
        dx, dw = _Conv2dGrad.apply(g, x, w, ctx.args)
        return (
            dx if nx else None,
            dw if nw else None,
            g.sum((0, 2, 3)) if nb and ctx.has_bias else None,
            None,
            None,
            None,
            None,
        )


class _Conv2dGrad(Function):
    """Conv2d's backward as a node, for create_graph: (g, x, w) -> (dx, dw). conv is bilinear,
    y = B(x, w), and so is its backward; its gradients are B and B's backward again:
    d<ddx, dx> + d<ddw, dw> gives g: B(ddx, w) + B(x, ddw), x: dx(g, ddw), w: dw(g, ddx)."""

    @staticmethod
    def forward(ctx, g, x, w, args):
        g, x, w = _contig(g), _contig(x), _contig(w)
        ctx.save_for_backward(g, x, w)
        ctx.args = args
        dx, dw, _ = _C.conv2d_backward(g, x, w, *args, need_bias=False)
        return dx, dw

    @staticmethod
    def backward(ctx, ddx, ddw):
        g, x, w = ctx.saved_tensors
        args = ctx.args
        gg = _C.conv2d_forward(_contig(ddx), w, None, *args) + _C.conv2d_forward(
            x, _contig(ddw), None, *args
        )
        only_dx = {"need_weight": False, "need_bias": False}
        only_dw = {"need_input": False, "need_bias": False}
        gx = _C.conv2d_backward(_contig(g), x, _contig(ddw), *args, **only_dx)[0]
        gw = _C.conv2d_backward(_contig(g), _contig(ddx), w, *args, **only_dw)[1]
        return gg, gx, gw, None

    @staticmethod
    def backward_graph(ctx, ddx, ddw):
        g, x, w = _graph.inputs(ctx, *ctx.saved_tensors)
        args = ctx.args
        gg = Conv2d.apply(ddx, w, None, *args) + Conv2d.apply(x, ddw, None, *args)
        return (
            gg,
            _Conv2dGrad.apply(g, x, ddw, args)[0],
            _Conv2dGrad.apply(g, ddx, w, args)[1],
            None,
        )


def _no_empty_image(op: str, x: Tensor) -> None:
    """PyTorch's convolutions take an empty batch or channel dim, not an empty image."""
    if x.shape[0] and x.shape[1] and 0 in x.shape[2:]:
        raise BadShapeOrValue(
            f"{op}: only zero batch or zero channel inputs are supported, got input {x.shape}"
        )


def _abs_max(a) -> int:
    """max |a| of an int64 array as a Python int (no overflow at -2**63); 0 for None/empty."""
    if a is None or a.size == 0:
        return 0
    return max(-int(a.min()), int(a.max()))


def _exact_int_conv(fn, x: np.ndarray, w: np.ndarray, terms: int, args, kwargs) -> np.ndarray:
    """The int64 convolution fn(x, w) modulo 2**64, as PyTorch's wrapping integer kernels: x and
    w (two's complement, as uint64) are split into k-bit pieces small enough that each float64
    convolution of a piece pair is exact (2k bits per product plus the sum of ``terms``), and
    the pieces' results are shifted into place and added in uint64, which wraps."""
    k = (53 - terms.bit_length()) // 2
    mask = np.uint64((1 << k) - 1)

    def pieces(a):
        u = a.view(np.uint64)
        return [((u >> np.uint64(s)) & mask).astype(np.float64) for s in range(0, 64, k)]

    xs, ws = pieces(x), pieces(w)
    acc = None
    for i, xp in enumerate(xs):
        for j, wp in enumerate(ws):
            shift = k * (i + j)
            if shift >= 64:  # a multiple of 2**64: nothing modulo 2**64
                break
            part = np.rint(fn(Tensor(xp), Tensor(wp), None, *args, **kwargs).data)
            part = part.astype(np.uint64) << np.uint64(shift)
            acc = part if acc is None else acc + part
    return acc.view(np.int64)


def _integer_conv(op: str, int64_only: bool = False):
    """PyTorch convolves integer tensors too (input, weight and bias of one integer dtype;
    transposed: int64 only) in integer arithmetic, wrapping on overflow. ember convolves them
    in float64 when every sum stays below 2**53 (exact), else in exact float64 pieces (see
    _exact_int_conv), and wraps the result to the dtype."""

    def wrap(fn):
        @functools.wraps(fn)
        def conv(input, weight, bias=None, *args, **kwargs):
            if not (_is_int(input) and _is_int(weight)):
                return fn(input, weight, bias, *args, **kwargs)
            dt = input.data.dtype
            if weight.data.dtype != dt or (bias is not None and np.dtype(bias.dtype) != dt):
                raise TypeError(
                    f"{op}: input {dt}, weight {weight.data.dtype} and bias must have one dtype"
                )
            if int64_only and dt != np.int64:
                raise TypeError(f"{op}: integer input must be int64, got {dt}")
            x64, w64 = input.data.astype(np.int64), weight.data.astype(np.int64)
            b64 = None if bias is None else bias.data.astype(np.int64)
            terms = max(w64.size, 1)  # at least as many as any output sums
            bound = _abs_max(x64) * _abs_max(w64) * terms + _abs_max(b64)
            if bound < 2**53:  # every sum exact in float64
                f64 = lambda a: None if a is None else Tensor(a.astype(np.float64))  # noqa: E731
                y = np.rint(fn(f64(x64), f64(w64), f64(b64), *args, **kwargs).data)
                return Tensor(y.astype(np.int64).astype(dt))
            y = _exact_int_conv(fn, x64, w64, terms, args, kwargs)
            if b64 is not None:  # bias on the channel axis, before the weight.ndim - 2 spatial
                b = b64.reshape((-1,) + (1,) * (w64.ndim - 2)).view(np.uint64)
                y = (y.view(np.uint64) + b).view(np.int64)
            return Tensor(y.astype(dt))

        return conv

    return wrap


def _conv_api(op: str, fast=None):
    """torch's convolution front (outside _integer_conv): a batched result's node is
    ConvolutionBackward0, and complex operands (all of one complex dtype) are convolved as
    torch's composite, Gauss's three real convolutions of the parts:
    a = conv(xr, wr, br), b = conv(xi, wi), c = conv(xr + xi, wr + wi, br + bi),
    y = a - b + i (c - a - b) (so its node is AddBackward0, as torch's).
    ``fast`` (same arguments): the common call's result, or None where it needs fn's checks."""

    def wrap(fn):
        @functools.wraps(fn)
        def conv(input, weight, bias=None, *args, **kwargs):
            if fast is not None:
                y = fast(input, weight, bias, *args, **kwargs)
                if y is not None:
                    return _autograd_function.named(y, "ConvolutionBackward0")
            if _is_complex(input) or _is_complex(weight) or _is_complex(bias):
                return _complex_conv(op, fn, input, weight, bias, args, kwargs)
            y = fn(input, weight, bias, *args, **kwargs)
            if isinstance(weight, Tensor) and y.ndim == weight.ndim:
                _autograd_function.named(y, "ConvolutionBackward0")
            return y

        return conv

    return wrap


def _complex_conv(op, fn, x, w, b, args, kwargs) -> Tensor:
    """fn (a real convolution) on complex operands; see _conv_api."""
    kinds = [t.dtype for t in (x, w, b) if t is not None]
    if not all(isinstance(t, Tensor) for t in (x, w, b) if t is not None) or len(set(kinds)) > 1:
        raise BadDtype(
            f"{op}: input, weight and bias must be tensors of one complex dtype, got "
            f"{', '.join(str(k) for k in kinds)}"
        )
    unbatched = x.ndim == w.ndim - 1  # (squeezed last, as torch's)
    if unbatched:
        x = x.unsqueeze(0)
    xr, xi, wr, wi = x.real, x.imag, w.real, w.imag
    a = fn(xr, wr, None if b is None else b.real, *args, **kwargs)
    b_ = fn(xi, wi, None, *args, **kwargs)
    c = fn(xr + xi, wr + wi, None if b is None else b.real + b.imag, *args, **kwargs)
    y = a - b_ + 1j * (c - a - b_)
    return y.squeeze(0) if unbatched else y


def _fast_ints(v, n: int):
    """An int or n ints (a list or tuple) as an n-tuple of plain ints, else None."""
    if type(v) is int:
        return (v,) * n
    if type(v) in (tuple, list) and len(v) == n and all(type(e) is int for e in v):
        return tuple(v)
    return None


def _fast_operands(x, w, b, nd: int, s, p, d, groups, transposed: bool = False) -> bool:
    """Whether a convolution call is the common one whose checks the fast fronts make in a few
    steps (at 1x3x8x8 the full checks cost more than the convolution): float32/64 contiguous
    non-empty Tensors of one dtype, x (N, C, *S) and w of nd + 2 dims, a bias (O,) or None
    (transposed: (w.shape[1] * groups,)), positive strides and dilations, non-negative padding,
    an int groups >= 1."""
    if not (isinstance(x, Tensor) and isinstance(w, Tensor)) or s is None or p is None:
        return False
    xa, wa = x.data, w.data
    dt = xa.dtype
    if (
        (dt != np.float32 and dt != np.float64)
        or wa.dtype != dt
        or xa.ndim != nd + 2
        or wa.ndim != nd + 2
        or not (xa.flags.c_contiguous and wa.flags.c_contiguous)
        or 0 in xa.shape
        or 0 in wa.shape
        or d is None
        or min(s) < 1
        or min(d) < 1
        or min(p) < 0
        or type(groups) is not int
        or groups < 1
    ):
        return False
    if b is None:
        return True
    return (
        isinstance(b, Tensor)
        and b.data.dtype == dt
        and b.data.shape == ((wa.shape[1] * groups,) if transposed else (wa.shape[0],))
        and b.data.flags.c_contiguous
    )


def _fast_conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv2d's common call (see _fast_operands), or None."""
    s, d = _fast_ints(stride, 2), _fast_ints(dilation, 2)
    p = None if type(padding) is str else _fast_ints(padding, 2)
    if not _fast_operands(input, weight, bias, 2, s, p, d, groups):
        return None
    pad = (p[0], p[0], p[1], p[1])
    try:  # (channels, groups, a kernel over the padded input: the C call refuses them before
        # any work, and conv2d's own checks give their messages)
        return Conv2d.apply(input, weight, bias, s, pad, d, groups)
    except ValueError:
        return None


@_conv_api("conv2d", _fast_conv2d)
@_integer_conv("conv2d")
def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch) over an NCHW batch.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W) when C matches the weight.
        weight: (O, C/groups, KH, KW). bias: (O,) or None.
        stride, dilation: int or (h, w), >= 1.
        padding: int or (h, w) >= 0, or 'valid' (none), 'same' (output size = input size;
            stride 1 only; even kernels get the extra row/column at the bottom/right, as
            PyTorch) or 'full' (dilation*(k-1) on every side: every partial overlap).
        groups: splits the channels into independent groups (groups == C: depthwise).

    Shape:
        OH = (H + pad_top + pad_bottom - dilation*(KH-1) - 1) // stride + 1, OW likewise.

    Example::

        >>> F.conv2d(ember.randn(2, 3, 8, 8), ember.randn(4, 3, 3, 3), padding="same").shape
        (2, 4, 8, 8)
    """
    op = "conv2d"
    weight = _float_input(weight, op, "weight")
    x = _float_input(input, op, "input", weight.dtype)
    if weight.ndim != 4:
        raise ValueError(
            f"{op}: weight must be 4-D (O, C/groups, KH, KW), got shape {weight.shape}"
        )
    groups = _int_arg(groups, op, "groups")
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    if weight.shape[0] < groups:  # an empty O too (PyTorch refuses it, even with C = 0)
        raise ValueError(
            f"{op}: given groups={groups}, expected weight to be at least {groups} at "
            f"dimension 0, got weight of size {weight.shape}"
        )
    unbatched = False
    if x.ndim == 3:
        # PyTorch accepts an unbatched (C, H, W) image; anything else 3-D is refused.
        if x.shape[0] != weight.shape[1] * groups:
            raise ValueError(
                f"{op}: expected a 4-D (N, C, H, W) input, or an unbatched (C, H, W) one with "
                f"C = {weight.shape[1] * groups} for weight {weight.shape} and groups={groups}; "
                f"got shape {x.shape}"
            )
        unbatched = True
        x = x.unsqueeze(0)
    elif x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got {x.shape}")
    stride = _pair(_one(stride), op, "stride")
    dilation = _pair(_one(dilation), op, "dilation")
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be >= 1, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"{op}: dilation must be >= 1, got {dilation}")
    pad = _conv_padding(padding, weight.shape[2:], stride, dilation, op)
    if bias is not None:
        bias = _float_input(bias, op, "bias", weight.dtype)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    _no_empty_image(op, x)
    if x.shape[1] == 0 and weight.shape[1] == 0 and weight.shape[0] % groups == 0:
        # no input channels: PyTorch returns an empty (N, 0, OH, OW), whatever the weight's O
        out = [
            (n + lo + hi - d * (k - 1) - 1) // s + 1
            for n, lo, hi, d, k, s in zip(x.shape[2:], pad[::2], pad[1::2], dilation,
                                          weight.shape[2:], stride)
        ]  # fmt: skip
        if min(out) < 1:
            raise ValueError(
                f"{op}: kernel {weight.shape[2:]} (dilation {dilation}) is larger than the "
                f"padded input {x.shape[2:]} (padding {pad})"
            )
        y = _empty_conv((x.shape[0], 0, *out), x, weight, bias)
        return y.squeeze(0) if unbatched else y
    # Validates channels, groups, and a kernel larger than the padded input (ValueError).
    _C.conv2d_output_size(x.shape, weight.shape, stride, pad, dilation, groups)
    x, weight = x.contiguous(), weight.contiguous()
    if bias is not None:
        bias = bias.contiguous()
    y = Conv2d.apply(x, weight, bias, stride, pad, dilation, groups)
    return y.squeeze(0) if unbatched else y


def _stride_or(kernel, stride):
    """A pool's stride: None or an empty sequence (PyTorch's modules pass []) mean the kernel."""
    return kernel if stride is None or (isinstance(stride, tuple | list) and not stride) else stride


def _pool_args(op, kernel_size, stride, padding, dilation=1):
    plain = type(kernel_size) is type(padding) is type(dilation) is int
    if plain and (stride is None or type(stride) is int):  # (the common call: ~2 us less)
        s = kernel_size if stride is None else stride
        return (kernel_size,) * 2, (s, s), (padding,) * 2, (dilation,) * 2
    k = _pair(_one(kernel_size), op, "kernel_size")
    s, p, d = _one(_stride_or(k, stride)), _one(padding), _one(dilation)
    return k, _pair(s, op, "stride"), _pair(p, op, "padding"), _pair(d, op, "dilation")


def _int_tensor(x, dtype=None) -> bool:
    """An integer Tensor (of ``dtype`` if given), which PyTorch pools too (max: any integer
    dtype, average: int64); ember pools it in float64 (exact below 2**53) and casts back."""
    return isinstance(x, Tensor) and x.data.dtype.kind in "iu" and dtype in (None, x.data.dtype)


def _pool_input(input, op: str) -> Tensor:
    x = _float_input(input, op)
    if x.ndim not in (3, 4):
        raise BadShapeOrValue(
            f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {x.shape}"
        )
    return x if x.data.flags.c_contiguous else x.contiguous()


def _first_taps(n: int, k: int, s: int, p: int, d: int, out: int):
    """Per output position of a pooled axis: the first window tap at or past 0 (PyTorch's
    start index) and whether the window holds no input element (every tap in the padding,
    possible only with dilation)."""
    start = np.arange(out, dtype=np.int64) * s - p
    first = np.where(start < 0, start + (-start + d - 1) // d * d, start)
    return first, first >= n


def _empty_window_index(idx: np.ndarray, sizes, k, s, p, d) -> np.ndarray:
    """idx with PyTorch's index at each window that holds no input element: its first taps'
    flat position (d0 * H + h0) * W + w0, which may lie past the end or alias another element
    (torch's backward sends that window's gradient there). The kernels store -1."""
    taps = [_first_taps(*a) for a in zip(sizes, k, s, p, d, idx.shape[-len(sizes) :])]
    if not any(e.any() for _, e in taps):
        return idx
    flat = np.zeros((), np.int64)
    empty = np.zeros((), bool)
    for axis, (n, (first, e)) in enumerate(zip(sizes, taps)):
        shape = [1] * len(sizes)
        shape[axis] = -1
        flat = flat * n + first.reshape(shape)
        empty = empty | e.reshape(shape)
    return np.where(empty, flat, idx)


def _pool_out(n: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """PyTorch's pooled size of an axis (pooling_output_shape): a ceil_mode window that would
    start in the right padding is dropped."""
    span = n + 2 * p - d * (k - 1) - 1
    o = (-(-span // s) if ceil_mode else span // s) + 1
    return o - 1 if ceil_mode and (o - 1) * s >= n + p else o


def _has_empty_window(sizes, k, s, p, d, ceil_mode) -> bool:
    if max(d) == 1 or min(sizes, default=0) < 1 or min(k + s + d) < 1 or min(p) < 0:
        return False  # (no empty window, or a bad configuration the kernel refuses)
    for a in zip(sizes, k, s, p, d):
        o = _pool_out(*a, ceil_mode)
        if o > 0 and _first_taps(*a, o)[1].any():
            return True
    return False


def _spill_gather(v: np.ndarray, idx: np.ndarray, nd: int) -> np.ndarray:
    """v (.., *S) at idx (.., *O) flat per plane, PyTorch's way for an index past its plane:
    into the next planes' memory (0 past the end of v)."""
    plane = math.prod(v.shape[-nd:])
    pos = idx.reshape(-1, math.prod(idx.shape[-nd:])) + plane * np.arange(
        math.prod(idx.shape[:-nd]), dtype=np.int64
    ).reshape(-1, 1)
    inside = pos < v.size
    out = np.where(inside, v.reshape(-1)[np.where(inside, pos, 0)], 0)
    return out.reshape(idx.shape).astype(v.dtype, copy=False), pos, inside


class _MaxAt(Function):
    """A max pool whose maxima y and PyTorch indices idx are computed (x (.., *S) -> y, idx
    (.., *O), idx flat into prod(S) per plane), for the windows that hold no input element
    (dilation): PyTorch's backward adds their gradient at its index for them, the first taps'
    position, which may alias another element or spill into the next plane."""

    @staticmethod
    def forward(ctx, x, y, idx, nd):
        ctx.save_for_backward(idx)
        ctx.shape, ctx.nd = x.shape, nd
        return y.copy()

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        _, pos, inside = _spill_gather(np.zeros(ctx.shape, g.dtype), idx, ctx.nd)
        total = math.prod(ctx.shape)
        w = g.reshape(pos.shape)[inside]
        dx = np.bincount(pos[inside], weights=w, minlength=total)[:total]
        return dx.reshape(ctx.shape).astype(g.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        (idx,) = ctx.saved_tensors
        fwd = lambda v: _spill_gather(v, idx, ctx.nd)[0]  # noqa: E731
        return _graph.linear(ctx, g, fwd), None, None, None


class MaxPool2d(Function):
    # x (.., H, W) -> y (.., OH, OW), indices (.., OH, OW) int64 flat into H*W (y alone
    # without indices: a tuple's outputs cost ~1 us more each, as views). args: (k, s, p, d,
    # ceil_mode, with_indices), one argument (Function.apply's quick path for two)
    @staticmethod
    def forward(ctx, x, args):
        k, s, p, d, ceil_mode, with_indices = args
        y, idx = _C.max_pool2d_forward(x, k, s, p, d, ceil_mode)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.dtype = x.shape, x.dtype
        if not with_indices:
            return y
        ctx.mark_non_differentiable(1)
        return y, idx

    @staticmethod
    def backward(ctx, g, _gidx=None):
        (idx,) = ctx.saved_tensors
        g = _contig(g.astype(ctx.dtype, copy=False))
        return _C.max_pool2d_backward(g, idx, ctx.shape), None

    @staticmethod
    def backward_graph(ctx, g, _gidx=None):
        (idx,) = ctx.saved_tensors
        lead = idx.shape[:-2]

        def pick(v):  # the forward on v, its windows' maxima fixed: v at the argmax indices
            flat = np.take_along_axis(v.reshape(*lead, -1), idx.reshape(*lead, -1), axis=-1)
            return flat.reshape(idx.shape)

        return _graph.linear(ctx, g, pick, mask_of=ctx.parents[0]), None


def max_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """2-D max pooling; ``stride`` defaults to ``kernel_size``; implicit padding is -inf;
    padding must be at most half the kernel. With ``return_indices`` also returns the int64
    argmax of each window, flat into H*W (as PyTorch's, usable by max_unpool2d).

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW),
        OH = floor_or_ceil((H + 2p - d*(k-1) - 1) / s) + 1.
    """
    if _int_tensor(input):
        y, idx = max_pool2d(input.double(), kernel_size, stride, padding, dilation, ceil_mode, True)
        return (y.to(input.dtype), idx) if return_indices else y.to(input.dtype)
    x = _pool_input(input, "max_pool2d")
    k, s, p, d = _pool_args("max_pool2d", kernel_size, stride, padding, dilation)
    ceil_mode = _bool_arg(ceil_mode, "max_pool2d", "ceil_mode")
    if _has_empty_window(x.shape[-2:], k, s, p, d, ceil_mode):  # (rare: PyTorch's indices)
        y, idx = _C.max_pool2d_forward(x.data, k, s, p, d, ceil_mode)
        idx = _empty_window_index(idx, x.shape[-2:], k, s, p, d)
        y = _MaxAt.apply(x, y, idx, 2)
        return (y, Tensor(idx)) if return_indices else y
    return MaxPool2d.apply(x, (k, s, p, d, ceil_mode, bool(return_indices)))


class AvgPool2d(Function):
    # x (.., H, W) -> y (.., OH, OW): the mean of each window (PyTorch's divisor rules).
    # args: (k, s, p, ceil_mode, count_include_pad, divisor_override), one tuple (apply's
    # two-argument path: ~1 us less per call than seven arguments)
    @staticmethod
    def forward(ctx, x, args):
        ctx.args = args
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return _C.avg_pool2d_forward(x, *args)

    @staticmethod
    def backward(ctx, g):
        g = _contig(g.astype(ctx.dtype, copy=False))
        return _C.avg_pool2d_backward(g, ctx.shape, *ctx.args), None

    @staticmethod
    def backward_graph(ctx, g):
        args = ctx.args
        pool_map = lambda v: _C.avg_pool2d_forward(_contig(v), *args)  # noqa: E731
        return _graph.linear(ctx, g, pool_map, mask_of=ctx.parents[0]), None


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
) -> Tensor:
    """2-D average pooling; ``stride`` defaults to ``kernel_size``. ``count_include_pad``
    counts the zero padding in each window's divisor; ``divisor_override`` replaces it.

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW), OH = floor_or_ceil((H + 2p - k) / s) + 1.
    """
    if _int_tensor(input, np.int64):  # the mean truncated, as PyTorch
        y = avg_pool2d(
            input.double(),
            kernel_size,
            stride,
            padding,
            ceil_mode,
            count_include_pad,
            divisor_override,
        )
        return y.trunc().to(np.int64)
    x = _pool_input(input, "avg_pool2d")
    k, s, p, _ = _pool_args("avg_pool2d", kernel_size, stride, padding)
    if divisor_override is not None:
        divisor_override = _int_arg(divisor_override, "avg_pool2d", "divisor_override")
    ceil_mode = _bool_arg(ceil_mode, "avg_pool2d", "ceil_mode")
    count_include_pad = _bool_arg(count_include_pad, "avg_pool2d", "count_include_pad")
    args = (k, s, p, ceil_mode, count_include_pad, divisor_override)
    if not x._requires_grad:  # (no graph: the kernel's fresh array, no Function.apply)
        return Tensor._make(_C.avg_pool2d_forward(x.data, *args), False, None, 0)
    return AvgPool2d.apply(x, args)


class AdaptiveAvgPool2d(Function):
    # x (.., H, W) -> y (.., OH, OW): window i spans [floor(i*H/OH), ceil((i+1)*H/OH))
    @staticmethod
    def forward(ctx, x, out):
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return _C.adaptive_avg_pool2d_forward(x, out)

    @staticmethod
    def backward(ctx, g):
        g = _contig(g.astype(ctx.dtype, copy=False))
        return _C.adaptive_avg_pool2d_backward(g, ctx.shape), None

    @staticmethod
    def backward_graph(ctx, g):
        out = g.shape[-2:]
        pool_map = lambda v: _C.adaptive_avg_pool2d_forward(_contig(v), out)  # noqa: E731
        # x kept in the graph (its gradient 0), as torch's backward keeps it
        return _graph.linear(ctx, g, pool_map, mask_of=ctx.parents[0]), None


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed output size (an int, or (h, w) where None keeps that size).

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW).
    """
    x = _pool_input(input, "adaptive_avg_pool2d")
    if isinstance(output_size, tuple | list) and len(output_size) == 2:
        oh, ow = (
            (x.shape[-2] if output_size[0] is None else output_size[0]),
            (x.shape[-1] if output_size[1] is None else output_size[1]),
        )
        out = _pair((oh, ow), "adaptive_avg_pool2d", "output_size")
    else:
        out = _pair(output_size, "adaptive_avg_pool2d", "output_size")
    if x.shape[-3] == 0 and 0 not in x.shape[-2:]:  # no channels: PyTorch pools them too
        return _empty_pool(x, out, False)
    # (torch's node: a 1 x 1 output is its mean over H, W)
    name = "MeanBackward1" if tuple(out) == (1, 1) else "AdaptiveAvgPool2DBackward0"
    return _node(AdaptiveAvgPool2d.apply(x, out), name)


class BatchNorm(Function):
    # x (N, C, *) -> y = (x - mean) * invstd * weight + bias; batch statistics when training
    # (running statistics updated in place by the kernel), else the running statistics
    @staticmethod
    def forward(ctx, x, w, b, running_mean, running_var, training, momentum, eps):
        y, mean, invstd = _C.batch_norm_forward(
            x, w, b, running_mean, running_var, training, momentum, eps
        )
        ctx.save_for_backward(x, w, mean, invstd)
        ctx.training = training
        ctx.eps = eps
        # held as torch saves them: a user's write into them before backward is refused
        # (the kernel's own running-stat updates are not noted, nor counted by torch)
        ctx.stats = (running_mean, running_var)
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, mean, invstd = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = _contig(g.astype(x.dtype, copy=False))
        dx, dw, db = _C.batch_norm_backward(
            g, x, w, mean, invstd, ctx.training, need_input=nx, need_weight=nw, need_bias=nb
        )
        return dx, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, w0, mean, invstd = ctx.saved_tensors
        x, w, b = _graph.inputs(ctx, x0, w0, None)
        axes = (0,) + tuple(range(2, x0.ndim))
        per_channel = (1, -1) + (1,) * (x0.ndim - 2)

        def norm(x, w, b):  # the forward in Tensor ops (batch statistics when training)
            if ctx.training:
                xc = x - x.mean(axes, keepdim=True)
                y = xc / ops.sqrt((xc * xc).mean(axes, keepdim=True) + ctx.eps)
            else:
                y = (x - mean.reshape(per_channel)) * invstd.reshape(per_channel)
            y = y if w is None else y * w.reshape(per_channel)
            return y if b is None else y + b.reshape(per_channel)

        return _graph.recompute(ctx, (g,), norm, x, w, b) + (None,) * 5


def _stat_array(t, op: str, name: str):
    if t is None:
        return None
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
    return t.data


def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over (N, C), (N, C, L) or (N, C, H, W), per channel C.

    Training uses the batch statistics and, when running_mean/running_var are given, updates
    them in place: running = (1 - momentum) * running + momentum * batch (the unbiased batch
    variance, as PyTorch). Eval mode normalises with the running statistics.

    Args:
        running_mean, running_var: (C,) Tensors of the input's dtype, or None (training only).
        weight, bias: (C,) affine parameters, or None.
    """
    op = "batch_norm"
    training = _bool_arg(training, op, "training")
    x = _float_input(input, op)
    if x.ndim < 2:
        raise BadShapeOrValue(f"{op}: input must be at least 2-D (N, C, ...), got shape {x.shape}")
    if training and eps <= 0.0:  # PyTorch's checks (a NaN eps passes them)
        raise BadShapeOrValue(f"batch_norm eps must be positive during training, but got {eps}")
    if eps < 0.0:
        raise BadShapeOrValue(f"batch_norm eps must be non-negative, but got {eps}")
    if _mixed_lowp(x, weight, bias, running_mean, running_var):
        y = batch_norm(x.float(), running_mean, running_var, weight, bias, training, momentum, eps)
        return y.to(x.data.dtype)
    c = x.shape[1]
    args = []
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None:
            t = _float_input(t, op, name, x.dtype)
            if t.shape != (c,):
                raise BadShapeOrValue(f"{op}: {name} must have shape ({c},), got {t.shape}")
            if not t.data.flags.c_contiguous:
                t = t.contiguous()
        args.append(t)
    rm = _stat_array(running_mean, op, "running_mean")
    rv = _stat_array(running_var, op, "running_var")
    for a, name in ((rm, "running_mean"), (rv, "running_var")):
        if a is not None and a.dtype != x.data.dtype:  # (torch: RuntimeError)
            raise BadDtype(f"{op}: {name} is {a.dtype}, expected the input's {x.data.dtype}")
        if a is not None and a.shape != (c,):
            raise BadShapeOrValue(f"{op}: {name} must have shape ({c},), got {a.shape}")
    if momentum is None:  # (nn.BatchNorm's cumulative average passes its factor, a float)
        raise BadDtype(f"{op}: momentum must be a float, not None")
    if not training and (rm is None or rv is None):
        if x.data.size:
            raise BadShapeOrValue(
                f"{op}: running_mean and running_var are required when not training"
            )
        # nothing to normalise: PyTorch returns the empty result without them (batch statistics
        # of nothing, which touch no running statistic)
        training, rm, rv = True, None, None
    # strided running statistics (a stepped or flipped view): the kernel updates contiguous
    # copies, written back below, as PyTorch updates them in place
    rm_c, rv_c = (None if a is None else np.ascontiguousarray(a) for a in (rm, rv))
    y = BatchNorm.apply(
        x.contiguous(), args[0], args[1], rm_c, rv_c, bool(training), float(momentum), eps
    )
    for a, a_c in ((rm, rm_c), (rv, rv_c)):
        if training and a is not a_c:
            np.copyto(a, a_c)
    if not x.data.size:  # torch's empty shortcut: its node the affine's Add / Mul, or a clone
        w, b = args[:2]
        name = "Add" if b is not None else "Mul" if w is not None else "Clone"
        _autograd_function.named(y, name + "Backward0")
    return y


# ---- recurrent layers ---------------------------------------------------------------------
# One layer in one direction over a whole sequence, time-major (csrc/ops/rnn.cpp). nn.RNN /
# nn.LSTM / nn.GRU stack layers and directions on these; the cells are the T = 1 case.
# lengths: None or int64 (N,) in [1, T]: steps t >= lengths[n] leave sequence n's state unchanged,
# output zeros and get no gradient (pack_padded_sequence semantics).


def _grad_arr(g: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(g, dtype=dtype)


def _dy_arr(g: np.ndarray, dtype) -> np.ndarray:
    """A layer's output gradient for the backward kernels, which read rows of contiguous
    elements at any non-negative step / row strides: a slice of the joined directions' gradient
    or a batch_first one transposed is read in place (not copied: ~0.2 ms for 1.6 MB)."""
    e = g.itemsize
    s0, s1, s2 = g.strides if g.ndim == 3 else (-1, -1, -1)
    if (
        g.dtype == dtype
        and g.flags.aligned
        and (s2 == e or g.shape[2] <= 1)
        and s0 >= 0
        and s1 >= 0
        and s0 % e == 0
        and s1 % e == 0
    ):
        return g
    return np.ascontiguousarray(g, dtype=dtype)


def _rnn_records(ctx) -> bool:
    """Whether the layer's call is recorded for backward: when not (no_grad, or no input wants
    a gradient), the kernel saves nothing and the output needs no copy."""
    return is_grad_enabled() and any(ctx.needs_input_grad)


def _rnn_unsaved(ctx, x, w_ih, w_hh):
    """w_ih reaches only the input's gradient, and w_hh with one step only h0's: when those
    want none, the kernels still take them but their values reach no gradient asked for. Held
    apart from the saved values then, so a write into them before backward is not refused, as
    torch's per-step products never save them (RNNCell with hx None or no-grad, an RNN layer
    over an input that needs no gradient)."""
    needs = ctx.needs_input_grad  # (backward asks the kernels for dx, dh0 only where wanted)
    if not needs[0]:
        w_ih = ops._Held(w_ih)
    if x.shape[0] == 1 and not needs[1]:
        w_hh = ops._Held(w_hh)
    return w_ih, w_hh


class _GraphArgs:
    """A layer's array arguments, for its backward_graph only. Not a tuple, so the in-place
    write check (which scans a node's tuples) passes over them: it guards the values in
    saved_tensors, which the first-order backward reads (_rnn_unsaved leaves out the ones it
    does not)."""

    __slots__ = ("arrays",)

    def __init__(self, *arrays):
        self.arrays = arrays


def _rnn_unrolled(mode, lengths, reverse, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr):
    """The layer's forward in Tensor ops, one step at a time: what backward_graph
    differentiates for create_graph=True (double backward), as torch's non-fused CPU RNNs are.
    mode: 'lstm', 'gru', 'tanh' or 'relu'. -> (y, h_n) or (y, h_n, c_n) for the LSTM."""
    t_len = x.shape[0]
    mask = None if lengths is None else np.arange(t_len)[:, None, None] < lengths[None, :, None]
    if mask is not None:  # padding zeroed, as _rnn_masked_x: a nan there would reach every grad
        x = ops.where(mask, x, 0.0)
    xw = x @ w_ih.transpose(0, 1)
    if b_ih is not None:
        xw = xw + b_ih
    w_hh_t = w_hh.transpose(0, 1)
    hs = w_hh.shape[0] // {"lstm": 4, "gru": 3}.get(mode, 1)
    h, c, ys = h0, c0, [None] * t_len
    for t in reversed(range(t_len)) if reverse else range(t_len):
        hw = h @ w_hh_t
        if b_hh is not None:
            hw = hw + b_hh
        if mode == "lstm":
            gates = xw[t] + hw
            i, f = gates[:, :hs].sigmoid(), gates[:, hs : 2 * hs].sigmoid()
            g, o = gates[:, 2 * hs : 3 * hs].tanh(), gates[:, 3 * hs :].sigmoid()
            c_new = f * c + i * g
            h_new = o * c_new.tanh()
            if w_hr is not None:
                h_new = h_new @ w_hr.transpose(0, 1)
        elif mode == "gru":
            xt = xw[t]
            r = (xt[:, :hs] + hw[:, :hs]).sigmoid()
            z = (xt[:, hs : 2 * hs] + hw[:, hs : 2 * hs]).sigmoid()
            n = (xt[:, 2 * hs :] + r * hw[:, 2 * hs :]).tanh()
            h_new = (1 - z) * n + z * h
        else:
            pre = xw[t] + hw
            h_new = pre.tanh() if mode == "tanh" else pre.relu()
        if mask is None:
            h, ys[t] = h_new, h_new
            if mode == "lstm":
                c = c_new
        else:  # padded steps keep the state and output zeros
            m = Tensor(mask[t].astype(x.dtype))
            h, ys[t] = m * h_new + (1 - m) * h, m * h_new
            if mode == "lstm":
                c = m * c_new + (1 - m) * c
    y = ops.stack(ys)
    return (y, h, c) if mode == "lstm" else (y, h)


def _rnn_backward_graph(ctx, grads, mode):
    """backward_graph of a layer Function: its unrolled forward, differentiated recording."""
    # ctx.consts.arrays: the forward's array arguments in order (LSTM: x, h0, c0, w_ih, w_hh, b_ih,
    # b_hh, w_hr; GRU / RNN: x, h0, w_ih, w_hh, b_ih, b_hh); the others get no gradient
    args = _graph.inputs(ctx, *ctx.consts.arrays)
    lengths, reverse = ctx.opts[1], ctx.opts[2]

    def unrolled(*a):
        if mode != "lstm":  # no c0, no w_hr
            a = (a[0], a[1], None, *a[2:], None)
        return _rnn_unrolled(mode, lengths, reverse, *a)

    out = _graph.recompute(ctx, grads, unrolled, *args)
    return out + (None,) * (len(ctx.parents) - len(out))


def _rnn_masked_x(x, lengths, need_dw=True):
    """x for the kernels' backward, its padded steps (t >= lengths[n]) zeroed when any of them is
    not finite: dW_ih = sum dgates^T x pairs those steps with zero gradients, and 0 * inf or nan
    is nan (padding must change no gradient; a packed input's padding is zeros already). x
    reaches dW_ih only: without weight gradients (need_dw False) it is not read."""
    if lengths is None or not need_dw:
        return x
    pad = np.arange(x.shape[0])[:, None] >= lengths[None, :]
    if np.isfinite(x[pad]).all():
        return x
    x = x.copy()
    x[pad] = 0
    return x


def _rnn_out(y, joined: bool):
    """A recorded layer's output: a copy of the y backward reads (so a write into the output is
    allowed), except when joined: nn.RNN / LSTM / GRU then join it into a fresh array (the
    directions' cat, dropout) or pass it only to the next layer, which never writes into it,
    so the copy (~0.2 ms for T50 N32 H256, out of cache) is saved."""
    return y if joined else y.copy()


class LSTMLayer(Function):
    # x (T,N,I), h0 (N,P), c0 (N,H), w_ih (4H,I), w_hh (4H,P), b_ih, b_hh (4H,) or None,
    # w_hr (P,H) or None (P = H: no projections) -> y (T,N,P), h_n (N,P), c_n (N,H)
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lengths, reverse, joined):
        save = _rnn_records(ctx)
        y, h_n, c_n, gates, cells, hid = _C.lstm_forward(
            x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, w_hr, save
        )
        if not save:
            return y, h_n, c_n
        ctx.consts = _GraphArgs(x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr)
        w_ih, w_hh = _rnn_unsaved(ctx, x, w_ih, w_hh)
        need_dw = any(ctx.needs_input_grad[3:8])
        if need_dw:
            # a copy of the y backward reads, as RNNLayer's: torch's float64 lstm (and its
            # float32 one with projections or more layers or directions) keeps no output, so a
            # write into it is allowed (only its float32 mkldnn kernel keeps it and refuses).
            # Not when joined (see _rnn_out).
            out = _rnn_out(y, joined)
        else:
            # no weight wants a gradient (frozen): backward skips their products, and x, h0 and
            # y reach only those, so it reads none of them. Held apart from the values the
            # in-place write check guards (as torch's per-step products whose weights need no
            # gradient never save them), y not copied.
            x, h0, y = ops._Held(x), ops._Held(h0), ops._Held(y)
            out = y.array
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, w_hr, y, gates, cells, hid)
        ctx.opts = (b_ih is not None, lengths, reverse, need_dw)
        return out, h_n, c_n

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n):
        x, h0, c0, w_ih, w_hh, w_hr, y, gates, cells, hid = map(ops._held, ctx.saved_tensors)
        has_bias, lengths, reverse, need_dw = ctx.opts
        x = _rnn_masked_x(x, lengths, need_dw)
        dt = x.dtype
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr = _C.lstm_backward(
            _dy_arr(dy, dt), _grad_arr(dh_n, dt), _grad_arr(dc_n, dt),
            x, h0, c0, w_ih, w_hh, has_bias, lengths, reverse, y, gates, cells, w_hr, hid,
            *ctx.needs_input_grad[:2], need_dw,
        )  # fmt: skip
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, dw_hr, None, None, None

    @staticmethod
    def backward_graph(ctx, dy, dh_n, dc_n):
        return _rnn_backward_graph(ctx, (dy, dh_n, dc_n), "lstm")


class GRULayer(Function):
    # x (T,N,I), h0 (N,H), w_ih (3H,I), w_hh (3H,H), b_ih, b_hh (3H,) or None -> y, h_n
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, joined):
        save = _rnn_records(ctx)
        y, h_n, gates, hn = _C.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, save)
        if not save:
            return y, h_n
        ctx.consts = _GraphArgs(x, h0, w_ih, w_hh, b_ih, b_hh)
        w_ih, w_hh = _rnn_unsaved(ctx, x, w_ih, w_hh)
        need_dw = any(ctx.needs_input_grad[2:6])
        if not need_dw:  # (backward reads y and h0, the previous states, but not x)
            x = ops._Held(x)
        ctx.save_for_backward(x, h0, w_ih, w_hh, y, gates, hn)
        ctx.opts = (b_ih is not None, lengths, reverse, need_dw)
        return _rnn_out(y, joined), h_n  # (see RNNLayer)

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, y, gates, hn = map(ops._held, ctx.saved_tensors)
        has_bias, lengths, reverse, need_dw = ctx.opts
        x = _rnn_masked_x(x, lengths, need_dw)
        dt = x.dtype
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _C.gru_backward(
            _dy_arr(dy, dt), _grad_arr(dh_n, dt),
            x, h0, w_ih, w_hh, has_bias, lengths, reverse, y, gates, hn, *ctx.needs_input_grad[:2],
            need_dw,
        )  # fmt: skip
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None

    @staticmethod
    def backward_graph(ctx, dy, dh_n):
        return _rnn_backward_graph(ctx, (dy, dh_n), "gru")


class RNNLayer(Function):
    # x (T,N,I), h0 (N,H), w_ih (H,I), w_hh (H,H), b_ih, b_hh (H,) or None -> y, h_n
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity, joined):
        y, h_n = _C.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity)
        if not _rnn_records(ctx):
            return y, h_n
        ctx.consts = _GraphArgs(x, h0, w_ih, w_hh, b_ih, b_hh)
        w_ih, w_hh = _rnn_unsaved(ctx, x, w_ih, w_hh)
        need_dw = any(ctx.needs_input_grad[2:6])
        if not need_dw:  # (backward reads y, the activations' derivative, but not x nor h0)
            x, h0 = ops._Held(x), ops._Held(h0)
        ctx.save_for_backward(x, h0, w_ih, w_hh, y)
        ctx.opts = (b_ih is not None, lengths, reverse, nonlinearity, need_dw)
        # the output is a copy of the y backward reads: torch's (CPU) rnn keeps each step's
        # hidden state apart from its stacked output, so writing into the output is allowed
        return _rnn_out(y, joined), h_n

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, y = map(ops._held, ctx.saved_tensors)
        has_bias, lengths, reverse, nonlinearity, need_dw = ctx.opts
        x = _rnn_masked_x(x, lengths, need_dw)
        dt = x.dtype
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _C.rnn_backward(
            _dy_arr(dy, dt), _grad_arr(dh_n, dt),
            x, h0, w_ih, w_hh, has_bias, lengths, reverse, nonlinearity, y,
            *ctx.needs_input_grad[:2], need_dw,
        )  # fmt: skip
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None, None

    @staticmethod
    def backward_graph(ctx, dy, dh_n):
        return _rnn_backward_graph(ctx, (dy, dh_n), ctx.opts[3])


def _rnn_lengths(lengths, n: int, t: int, op: str):
    """lengths (list, array or Tensor of ints) -> int64 (N,) with values in [1, T], or None when
    every sequence is full (the kernels' fast path)."""
    if lengths is None:
        return None
    arr = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: lengths must be integers, got {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(
            f"{op}: lengths must have shape ({n},) (one per sequence), got {arr.shape}"
        )
    if arr.size and (arr.min() < 1 or arr.max() > t):
        bad = arr[(arr < 1) | (arr > t)][0]
        raise ValueError(
            f"{op}: every length must lie in [1, {t}] (the sequence length), got {int(bad)}"
        )
    if np.all(arr == t):
        return None
    return np.ascontiguousarray(arr, dtype=np.int64)


def _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, gates, w_hr=None):
    """Checked weights -> (w_ih, w_hh, b_ih, b_hh, w_hr, hidden_size, state size). The state
    size is the LSTM's proj_size when w_hr (proj_size, hidden_size) is given, else hidden_size."""
    w_ih = _float_input(w_ih, op, "w_ih")
    dt = w_ih.dtype
    w_hh = _float_input(w_hh, op, "w_hh", dt)
    if w_hr is not None:
        w_hr = _float_input(w_hr, op, "w_hr", dt)
        if w_hr.ndim != 2 or min(w_hr.shape) < 1:
            raise ValueError(
                f"{op}: w_hr must have shape (proj_size, hidden_size), got {w_hr.shape}"
            )
        p, h = w_hr.shape
        if w_hh.shape != (gates * h, p):
            raise ValueError(
                f"{op}: w_hh must have shape ({gates * h}, {p}) ({gates}*hidden_size, proj_size) "
                f"for w_hr of shape {w_hr.shape}, got {w_hh.shape}"
            )
    elif w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1] or w_hh.shape[1] < 1:
        raise ValueError(
            f"{op}: w_hh must have shape ({gates}*hidden_size, hidden_size), got {w_hh.shape}"
        )
    else:
        h = p = w_hh.shape[1]
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * h:
        raise ValueError(
            f"{op}: w_ih must have shape ({gates * h}, input_size) for hidden_size {h}, "
            f"got {w_ih.shape}"
        )
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{op}: b_ih and b_hh must both be given or both be None")
    if b_ih is not None:
        b_ih = _float_input(b_ih, op, "b_ih", dt)
        b_hh = _float_input(b_hh, op, "b_hh", dt)
        for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
            if b.shape != (gates * h,):
                raise ValueError(f"{op}: {name} must have shape ({gates * h},), got {b.shape}")
    # contiguous here, once, so the layers and cells pass them to _C as they are
    w_ih, w_hh = _contig_t(w_ih), _contig_t(w_hh)
    if b_ih is not None:
        b_ih, b_hh = _contig_t(b_ih), _contig_t(b_hh)
    if w_hr is not None:
        w_hr = _contig_t(w_hr)
    return w_ih, w_hh, b_ih, b_hh, w_hr, h, p


def _rnn_input(op, input, w_ih):
    x = _float_input(input, op, "input", w_ih.dtype)
    if x.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D (seq_len, batch, input_size), got {x.shape}")
    if x.shape[2] != w_ih.shape[1]:
        raise BadShapeOrValue(
            f"{op}: input.size(-1) must be equal to input_size. Expected {w_ih.shape[1]}, "
            f"got {x.shape[2]} (input shape {x.shape})"
        )
    if x.shape[0] < 1:  # an empty batch (N = 0) is fine, as in PyTorch
        raise BadShapeOrValue(
            f"{op}: input must have at least one step (seq_len > 0), got {x.shape}"
        )
    return x


def _rnn_state(op, s, name, n, h, dtype):
    if s is None:
        return np.zeros((n, h), dtype)
    s = _float_input(s, op, name, dtype)
    if s.shape != (n, h):
        raise BadShapeOrValue(f"{op}: Expected {name} of shape {(n, h)}, got {s.shape}")
    if not s._requires_grad and not getattr(s, "_inference", False):
        return _contig(s.data)
    # (an inference tensor stays one: the recorded layer refuses to save it, as torch)
    return _contig_t(s)


def _contig_t(t):
    """A Tensor argument's array must be C-contiguous before it reaches _C."""
    if isinstance(t, Tensor) and not t.data.flags.c_contiguous:
        return t.contiguous()
    return t


def lstm_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False, w_hr=None,
               *, _joined=False):  # fmt: skip
    """One LSTM layer in one direction over a whole sequence (PyTorch's formulation, gate order
    i, f, g, o).

    Args:
        input: (T, N, input_size), time-major.
        hx: (h0, c0), each (N, hidden_size), or None for zeros.
        w_ih (4H, input_size), w_hh (4H, H), b_ih, b_hh (4H,) or both None.
        lengths: None or N ints in [1, T]: sequence n uses steps [0, lengths[n]); padded steps
            output zeros and change neither the final state nor any gradient.
        reverse: run from the last step (each sequence from its own last valid step).
        w_hr: None, or (P, H) for an LSTM with projections (PyTorch's ``proj_size`` P):
            h_t = (o * tanh(c_t)) @ w_hr^T, so w_hh is (4H, P) and h0, h_n, the output are of
            width P (c0, c_n stay (N, H)).

    Returns:
        (output (T, N, H or P), (h_n (N, H or P), c_n (N, H)))
    """
    op = "lstm"
    w_ih, w_hh, b_ih, b_hh, w_hr, h, p = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 4, w_hr)
    return _lstm_layer(op, input, hx, w_ih, w_hh, b_ih, b_hh, w_hr, h, p, lengths, reverse, _joined)


def _lstm_layer(op, input, hx, w_ih, w_hh, b_ih, b_hh, w_hr, h, p, lengths, reverse, joined):
    """lstm_layer after _rnn_weights (the cell checks its weights once, not twice: a decoder
    calls it every step)."""
    x = _rnn_input(op, input, w_ih)
    n = x.shape[1]
    if hx is None:
        hx = (None, None)
    elif not isinstance(hx, tuple | list) or len(hx) != 2:
        raise TypeError(f"{op}: hx must be a tuple (h0, c0) or None")
    h0 = _rnn_state(op, hx[0], "h0", n, p, w_ih.dtype)
    c0 = _rnn_state(op, hx[1], "c0", n, h, w_ih.dtype)
    lens = _rnn_lengths(lengths, n, x.shape[0], op)
    # (the weights and states are contiguous already: _rnn_weights, _rnn_state)
    x = _contig_t(x)
    args = (x, h0, c0, w_ih, w_hh, b_ih, b_hh, w_hr, lens, bool(reverse), joined)
    y, h_n, c_n = LSTMLayer.apply(*args)
    return y, (h_n, c_n)


def gru_layer(
    input, hx, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False, *, _joined=False
):
    """One GRU layer in one direction (gate order r, z, n; r multiplies W_hn h + b_hn).

    Shape: input (T, N, I), hx (N, H) or None, w_ih (3H, I), w_hh (3H, H), b_* (3H,) or None
    -> (output (T, N, H), h_n (N, H)). ``lengths`` and ``reverse`` as in :func:`lstm_layer`.
    """
    op = "gru"
    w_ih, w_hh, b_ih, b_hh, _, h, _ = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 3)
    return _gru_layer(op, input, hx, w_ih, w_hh, b_ih, b_hh, h, lengths, reverse, _joined)


def _gru_layer(op, input, hx, w_ih, w_hh, b_ih, b_hh, h, lengths, reverse, joined):
    """gru_layer after _rnn_weights (see _lstm_layer)."""
    x = _rnn_input(op, input, w_ih)
    h0 = _rnn_state(op, hx, "h0", x.shape[1], h, w_ih.dtype)
    lens = _rnn_lengths(lengths, x.shape[1], x.shape[0], op)
    x = _contig_t(x)  # (the weights and h0 are contiguous already)
    return GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, lens, bool(reverse), joined)


def rnn_layer(
    input,
    hx,
    w_ih,
    w_hh,
    b_ih=None,
    b_hh=None,
    lengths=None,
    reverse=False,
    nonlinearity="tanh",
    *,
    _joined=False,
):
    """One Elman RNN layer in one direction: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    Shape: input (T, N, I), hx (N, H) or None, w_ih (H, I), w_hh (H, H), b_* (H,) or None
    -> (output (T, N, H), h_n (N, H)). ``nonlinearity`` is 'tanh' or 'relu'.
    """
    op = "rnn"
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    w_ih, w_hh, b_ih, b_hh, _, h, _ = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 1)
    return _rnn_layer(
        op, input, hx, w_ih, w_hh, b_ih, b_hh, h, lengths, reverse, nonlinearity, _joined
    )


def _rnn_layer(op, input, hx, w_ih, w_hh, b_ih, b_hh, h, lengths, reverse, nonlinearity, joined):
    """rnn_layer after _rnn_weights (see _lstm_layer)."""
    x = _rnn_input(op, input, w_ih)
    h0 = _rnn_state(op, hx, "h0", x.shape[1], h, w_ih.dtype)
    lens = _rnn_lengths(lengths, x.shape[1], x.shape[0], op)
    x = _contig_t(x)  # (the weights and h0 are contiguous already)
    args = (x, h0, w_ih, w_hh, b_ih, b_hh, lens, bool(reverse), nonlinearity, joined)
    return RNNLayer.apply(*args)


def _cell_input(op, input, w_ih):
    """A cell's input, checked -> (x, whether it was unbatched (I,)). The layer's own input
    checks would repeat these, so the cells call the Functions directly: a decoder calls a cell
    every step, and the checks are most of its cost."""
    x = _float_input(input, op, "input", w_ih.dtype)
    shape = x.data.shape
    if len(shape) not in (1, 2):
        raise ValueError(f"{op}: input must be 1-D or 2-D (batch, input_size), got {shape}")
    if shape[-1] != w_ih.data.shape[1]:
        raise BadShapeOrValue(
            f"{op}: input has inconsistent input_size: got {shape[-1]} expected {w_ih.shape[1]}"
        )
    return x, len(shape) == 1


def _cell_step(x, unbatched):
    """A recorded cell's input as one contiguous step (1, N, I)."""
    return _contig_t(x.reshape(1, 1, -1) if unbatched else x.reshape(1, *x.data.shape))


def _cell_direct(*args) -> bool:
    """Whether a cell's call is outside any graph (grad mode off, or no argument requires grad,
    and no forward-mode AD): the kernel is then called directly, without Function.apply and
    the Tensor ops around it (what apply would do there: the same kernel call, fresh arrays
    wrapped; ~5 us of a call)."""
    if _autograd_function._fw_level is not None:
        return False
    if not is_grad_enabled():
        return True
    for a in args:
        if isinstance(a, Tensor) and a._requires_grad:
            return False
    return True


def _raw(t):
    return t.data if isinstance(t, Tensor) else t


def _cell_out(a, unbatched):
    """A direct call's output array (1, N, H) or (N, H) as the cell's Tensor."""
    return Tensor._make(a.reshape(a.shape[-1]) if unbatched else a, False, None, 0)


def _unbatch(t, unbatched):
    return t.reshape(t.shape[1:]) if unbatched else t


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step. input (N, I) or (I,), hx (h, c) each (N, H) / (H,) or None
    -> (h', c')."""
    op = "lstm_cell"
    w_ih, w_hh, b_ih, b_hh, _, h, _ = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 4)
    return _lstm_cell(op, input, hx, w_ih, w_hh, b_ih, b_hh, h)


def _cell_fast(input, states, w_ih, h, weights):
    """The common cell call, tested in a few reads: a contiguous 2-D Tensor input of the
    weights' dtype and input_size, states each None or a contiguous (N, H) Tensor of that dtype,
    and no graph (what _cell_input, _rnn_state and _cell_direct would pass). -> (x (1, N, I),
    the state arrays, zeros for None) or None: anything else takes the checked path, which
    raises the errors. (A decoder calls the cell every step; this is ~2 us of a ~9 us front.)"""
    if type(input) is not Tensor or _autograd_function._fw_level is not None:
        return None
    a, wa = input.data, w_ih.data
    dt, shape = wa.dtype, a.shape
    if a.dtype != dt or len(shape) != 2 or shape[1] != wa.shape[1] or not a.flags.c_contiguous:
        return None
    grad = is_grad_enabled()
    if grad and (input._requires_grad or any(w is not None and w._requires_grad for w in weights)):
        return None
    n = shape[0]
    out = []
    for s in states:
        if s is None:
            out.append(np.zeros((n, h), dt))
            continue
        if type(s) is not Tensor or (grad and s._requires_grad):
            return None
        d = s.data
        if d.dtype != dt or d.shape != (n, h) or not d.flags.c_contiguous:
            return None
        out.append(d)
    return a.reshape(1, n, shape[1]), out


def _lstm_cell(op, input, hx, w_ih, w_hh, b_ih, b_hh, h):
    """lstm_cell after _rnn_weights (nn.LSTMCell checks its weights once, not every step)."""
    weights = (w_ih, w_hh, b_ih, b_hh)
    if hx is None or (type(hx) is tuple and len(hx) == 2):
        fast = _cell_fast(input, (None, None) if hx is None else hx, w_ih, h, weights)
        if fast is not None:
            x, (h0, c0) = fast
            _, h_n, c_n, _, _, _ = _C.lstm_forward(
                x, h0, c0, w_ih.data, w_hh.data, _raw(b_ih), _raw(b_hh), None, False, None, False
            )
            return Tensor._make(h_n, False, None, 0), Tensor._make(c_n, False, None, 0)
    x, unb = _cell_input(op, input, w_ih)
    hx = (None, None) if hx is None else hx
    if not isinstance(hx, tuple | list) or len(hx) != 2:
        raise TypeError(f"{op}: hx must be a tuple (h, c) or None")
    if unb:
        hx = [s if s is None else _unbatched_state(op, s, h) for s in hx]
    shape, dt = x.data.shape, x.data.dtype
    n = 1 if unb else shape[0]
    h0 = _rnn_state(op, hx[0], "h0", n, h, dt)
    c0 = _rnn_state(op, hx[1], "c0", n, h, dt)
    if _cell_direct(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        _, h_n, c_n, _, _, _ = _C.lstm_forward(
            _contig(x.data.reshape(1, n, shape[-1])), _raw(h0), _raw(c0), w_ih.data, w_hh.data,
            _raw(b_ih), _raw(b_hh), None, False, None, False,
        )  # fmt: skip
        return _cell_out(h_n, unb), _cell_out(c_n, unb)
    x = _cell_step(x, unb)
    _, h_n, c_n = LSTMLayer.apply(x, h0, c0, w_ih, w_hh, b_ih, b_hh, None, None, False, True)
    return _unbatch(h_n, unb), _unbatch(c_n, unb)


def _unbatched_state(op, s, h):
    # (an array or list stays one: _rnn_state casts it to the cell's dtype, as a batched one)
    s = s if isinstance(s, Tensor) else np.asarray(s)
    if s.ndim != 1:
        raise BadShapeOrValue(f"{op}: for 1-D input the state must be 1-D ({h},), got {s.shape}")
    return s.reshape(1, -1)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step. input (N, I) or (I,), hx (N, H) / (H,) or None -> h'."""
    op = "gru_cell"
    w_ih, w_hh, b_ih, b_hh, _, h, _ = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 3)
    return _h_cell(op, input, hx, w_ih, w_hh, b_ih, b_hh, h, None)


def _h_cell(op, input, hx, w_ih, w_hh, b_ih, b_hh, h, nonlinearity):
    """gru_cell (nonlinearity None) or rnn_cell after _rnn_weights (see _lstm_cell)."""
    gru = nonlinearity is None
    fast = _cell_fast(input, (hx,), w_ih, h, (w_ih, w_hh, b_ih, b_hh))
    if fast is not None:
        x, (h0,) = fast
        kernel, last = (_C.gru_forward, False) if gru else (_C.rnn_forward, nonlinearity)
        h_n = kernel(x, h0, w_ih.data, w_hh.data, _raw(b_ih), _raw(b_hh), None, False, last)[1]
        return Tensor._make(h_n, False, None, 0)
    x, unb = _cell_input(op, input, w_ih)
    if hx is not None and unb:
        hx = _unbatched_state(op, hx, h)
    shape = x.data.shape
    n = 1 if unb else shape[0]
    h0 = _rnn_state(op, hx, "h0", n, h, x.data.dtype)
    if _cell_direct(x, h0, w_ih, w_hh, b_ih, b_hh):
        kernel, last = (_C.gru_forward, False) if gru else (_C.rnn_forward, nonlinearity)
        h_n = kernel(  # (last: the GRU's save flag, the RNN's nonlinearity)
            _contig(x.data.reshape(1, n, shape[-1])), _raw(h0), w_ih.data, w_hh.data, _raw(b_ih),
            _raw(b_hh), None, False, last,
        )[1]  # fmt: skip
        return _cell_out(h_n, unb)
    x = _cell_step(x, unb)
    if gru:
        _, h_n = GRULayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, None, False, True)
    else:
        _, h_n = RNNLayer.apply(x, h0, w_ih, w_hh, b_ih, b_hh, None, False, nonlinearity, True)
    return _unbatch(h_n, unb)


def rnn_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step. input (N, I) or (I,), hx (N, H) / (H,) or None -> h'."""
    op = "rnn_cell"
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    w_ih, w_hh, b_ih, b_hh, _, h, _ = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 1)
    return _h_cell(op, input, hx, w_ih, w_hh, b_ih, b_hh, h, nonlinearity)


# ---- embedding ----------------------------------------------------------------------------


class Embedding(Function):
    # indices (*) int64, weight (V, D) -> (*, D) = weight[indices]; dweight: scatter-add of the
    # output gradient rows (repeated indices add up), zero at padding_idx; with
    # scale_grad_by_freq each row's gradient is divided by its index's count in the batch.
    # With sparse, dweight stays dense but is marked with the rows looked up (padding_idx left
    # out, as PyTorch's sparse gradient), which SparseAdam updates (ember/_sparse_grad.py).
    @staticmethod
    def forward(ctx, indices, weight, padding_idx, scale_grad_by_freq=False, sparse=False):
        ctx.meta = (indices, weight.shape, padding_idx, scale_grad_by_freq, sparse)
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        indices, shape, padding_idx, scale_grad_by_freq, sparse = ctx.meta
        if scale_grad_by_freq and sparse:  # as PyTorch, which refuses the pair in backward
            raise RuntimeError(
                "embedding_backward: scale_grad_by_freq not supported with sparse gradients"
            )
        flat = np.ascontiguousarray(indices.reshape(-1), dtype=np.int64)
        rows = g.reshape(-1, shape[1])
        if scale_grad_by_freq:
            counts = np.bincount(flat, minlength=shape[0])[flat]
            rows = rows / counts[:, None].astype(rows.dtype)
        pad = -1 if padding_idx is None else padding_idx
        dw = _C.embedding_backward(flat, _contig(rows), shape[0], pad)
        if sparse:
            dw = _sparse_grad.mark(dw, flat[flat != pad])
        return None, dw, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        indices, _, padding_idx, _, sparse = ctx.meta
        if sparse:
            return Function.backward_graph(ctx, g)  # refuses
        # the rows looked up, zero where backward drops the padding row's: the adjoint of
        # backward's scatter, as torch's embedding_dense_double_backward (which leaves out
        # scale_grad_by_freq's division: the scaled gradient is no derivative to be exact to)
        keep = np.ones(indices.shape + (1,), g.dtype)
        if padding_idx is not None:
            keep[indices == padding_idx] = 0
        return None, _graph.linear(ctx, g, lambda v: v[indices] * keep, 1), None, None, None


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` picked by integer indices.

    Args:
        input: integer indices of any shape, each in [0, num_embeddings).
        weight: (num_embeddings, embedding_dim).
        padding_idx: this row gets no gradient (negative values count from the end).
        max_norm: rows looked up whose norm_type-norm exceeds it are rescaled in place to
            max_norm / (norm + 1e-7) times themselves first, as PyTorch (outside the graph).
        scale_grad_by_freq: divide each row's gradient by its index's count in the batch.
        sparse: PyTorch's sparse gradient for ``weight``. ember's gradient stays dense (the
            same values) but remembers the rows looked up, so ``optim.SparseAdam`` updates only
            those rows and optimisers that refuse sparse gradients in PyTorch refuse it.

    Shape: input (*) -> (*, embedding_dim).
    """
    # an integer or bool table is looked up as torch does (no gradient: it cannot want one)
    int_table = isinstance(weight, Tensor) and weight.data.dtype.kind in "biu"
    if not int_table:
        weight = _float_input(weight, "embedding", "weight")
    if weight.ndim != 2:
        raise BadShapeOrValue(f"embedding: weight must be 2-D, got shape {weight.shape}")
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype != np.int64 and idx.dtype != np.int32:  # (as torch: not int8/16, uint8)
        raise BadDtype(
            f"embedding: indices must be int64 or int32 integers (as torch), got {idx.dtype}"
        )
    v = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= v):
        bad = idx[(idx < 0) | (idx >= v)].reshape(-1)[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for {v} embeddings")
    if padding_idx is not None:
        if isinstance(padding_idx, bool) or not isinstance(padding_idx, int | np.integer):
            raise TypeError(f"embedding: padding_idx must be int, not {type(padding_idx).__name__}")
        if not -v <= padding_idx < v:
            raise _AssertionValueError(  # (torch asserts)
                f"embedding: padding_idx must be within num_embeddings ({v}), got {padding_idx}"
            )
        padding_idx = int(padding_idx) % v
    if int_table:
        if max_norm is not None:
            raise TypeError(
                f"embedding: max_norm needs a floating point weight, got {weight.dtype}"
            )
        return Tensor(weight.data[idx])
    if max_norm is not None and idx.size:
        uniq = np.unique(idx)
        rows = weight.data[uniq]
        norms = np.linalg.norm(rows, ord=float(norm_type), axis=1)
        big = norms > max_norm
        if big.any():
            scale = (max_norm / (norms[big] + 1e-7)).astype(rows.dtype)
            weight.data[uniq[big]] = rows[big] * scale[:, None]
    if max_norm is not None:
        # an in-place write, as torch's embedding_renorm_ (which counts one even when no row
        # changes): nodes that saved the weight before now refuse to backward, as torch's
        from ember.autograd import function as _function

        _function.note_write(weight.data)
    return Embedding.apply(
        idx.astype(np.int64, copy=False),
        weight,
        padding_idx,
        _bool_arg(scale_grad_by_freq, "embedding", "scale_grad_by_freq"),
        _bool_arg(sparse, "embedding", "sparse"),
    )


# ---- 1-D convolution and pooling, transposed convolution ----------------------------------
# The 1-D ops are the 2-D kernels on (N, C, 1, L); the transposed convolution is conv2d's
# input gradient (its backward: conv2d forward for the input, conv2d's weight gradient).


def _single(v, op: str, name: str) -> int:
    if isinstance(v, tuple | list):
        if len(v) != 1:
            raise BadShapeOrValue(f"{op}: {name} must be an int or a 1-tuple, got {v!r}")
        v = v[0]
    return _int_arg(v, op, name)


def _seq_input(input, op: str, dtype=None) -> Tensor:
    x = _float_input(input, op, "input", dtype)
    if x.ndim not in (2, 3):
        raise BadShapeOrValue(
            f"{op}: input must be 2-D (C, L) or 3-D (N, C, L), got shape {x.shape}"
        )
    return x


class _Conv1d(Function):
    """Conv2d on (N, C, 1, L) views of conv1d's (N, C, L) arrays: one node, no view nodes
    around it (args: Conv2d's, the 2-D ones)."""

    @staticmethod
    def forward(ctx, x, w, b, *args):
        return Conv2d.forward(ctx, x[:, :, None], w[:, :, None], b, *args)[:, :, 0]

    @staticmethod
    def backward(ctx, g):
        dx, dw, db = Conv2d.backward(ctx, g[:, :, None])[:3]
        sq = lambda a: None if a is None else a[:, :, 0]  # noqa: E731
        return (sq(dx), sq(dw), db) + (None,) * 4

    @staticmethod
    def backward_graph(ctx, g):
        x, w = _graph.inputs(ctx, *ctx.saved_tensors)
        x, w = (t if t.ndim == 4 else t.unsqueeze(2) for t in (x, w))  # (parents: 3-D)
        nx, nw, nb = ctx.needs_input_grad[:3]
        dx, dw = _Conv2dGrad.apply(g.unsqueeze(2), x, w, ctx.args)
        return (
            dx.squeeze(2) if nx else None,
            dw.squeeze(2) if nw else None,
            g.sum((0, 2)) if nb and ctx.has_bias else None,
        ) + (None,) * 4


def _fast_conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """conv1d's common call (see _fast_operands), or None."""
    s, d = _fast_ints(stride, 1), _fast_ints(dilation, 1)
    p = None if type(padding) is str else _fast_ints(padding, 1)
    if not _fast_operands(input, weight, bias, 1, s, p, d, groups):
        return None
    s, pad, d = (1, s[0]), (0, 0, p[0], p[0]), (1, d[0])
    try:  # (channels, groups, a kernel over the padded input: the C call refuses them before
        # any work, and conv1d's own checks give their messages)
        return _Conv1d.apply(input, weight, bias, s, pad, d, groups)
    except ValueError:
        return None


@_conv_api("conv1d", _fast_conv1d)
@_integer_conv("conv1d")
def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """1-D convolution over (N, C, L) or unbatched (C, L): weight (O, C/groups, K), bias (O,).
    padding: int, 'valid', 'same' (stride 1) or 'full'. Output length
    (L + 2 padding - dilation (K - 1) - 1) // stride + 1."""
    op = "conv1d"
    weight = _float_input(weight, op, "weight")
    if weight.ndim != 3:
        raise ValueError(f"{op}: weight must be 3-D (O, C/groups, K), got shape {weight.shape}")
    x = _seq_input(input, op, weight.dtype)
    groups = _int_arg(groups, op, "groups")
    if groups >= 1 and x.shape[-2] != weight.shape[1] * groups:
        raise ValueError(
            f"{op}: input {x.shape} has {x.shape[-2]} channels but weight {weight.shape} with "
            f"groups={groups} expects {weight.shape[1] * groups}"
        )
    s, d = _single(stride, op, "stride"), _single(dilation, op, "dilation")
    pad = padding if isinstance(padding, str) else (0, _single(padding, op, "padding"))
    y = conv2d(x.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, s), pad, (1, d), groups)
    return y.squeeze(-2)


def max_pool1d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """1-D max pooling over (N, C, L) or (C, L); stride defaults to kernel_size."""
    op = "max_pool1d"
    if _int_tensor(input) and return_indices:  # (PyTorch's indexed 1-D kernel only)
        y, idx = max_pool1d(input.double(), kernel_size, stride, padding, dilation, ceil_mode, True)
        return y.to(input.dtype), idx
    x = _seq_input(input, op)
    k = _single(kernel_size, op, "kernel_size")
    s = _single(_stride_or(k, stride), op, "stride")
    p, d = _single(padding, op, "padding"), _single(dilation, op, "dilation")
    ceil_mode = _bool_arg(ceil_mode, op, "ceil_mode")
    n_out = (x.shape[-1] - k) // s + 1 if k >= 1 and s >= 1 else 0
    plain = (
        p == 0 and d == 1 and not ceil_mode and not return_indices and n_out >= 1 and x.data.size
    )
    if plain and not (x.requires_grad and is_grad_enabled()):
        # no graph, no indices: each window's max in one pass (NaN wins, as the 2-D kernel): C++
        # for float32 / float64, else the max of k strided views
        if x.data.dtype.char in "fd":
            return Tensor(_C.max_pool1d_forward(_contig(x.data), k, s))
        span = s * (n_out - 1) + 1
        y = x.data[..., 0:span:s].copy()
        for i in range(1, k):
            np.maximum(y, x.data[..., i : i + span : s], out=y)
        return Tensor(y)
    if d == 1 and k >= 1 and s >= 1 and 0 <= 2 * p <= k and _fast_pool_x(x, 1) is not None:
        if _pool_out(x.shape[-1], k, s, p, 1, ceil_mode) >= 1:  # (no window all padding)
            args = ((1, k), (1, s), (0, p), (1, 1), ceil_mode, bool(return_indices))
            return _node(_MaxPool1d.apply(x, args), "SqueezeBackward1")
    y, idx = max_pool2d(x.unsqueeze(-2), (1, k), (1, s), (0, p), (1, d), ceil_mode, True)
    y = y.squeeze(-2)
    return (y, idx.squeeze(-2)) if return_indices else y


class _MaxPool1d(Function):
    """MaxPool2d on (.., 1, L) views of max_pool1d's (.., L) arrays: one node, no view nodes
    (as _AvgPool1d)."""

    @staticmethod
    def forward(ctx, x, args):  # (MaxPool2d's args, with_indices last)
        out = MaxPool2d.forward(ctx, x[..., None, :], args)
        return tuple(o[..., 0, :] for o in out) if args[-1] else out[..., 0, :]

    @staticmethod
    def backward(ctx, g, _gidx=None):
        return MaxPool2d.backward(ctx, g[..., None, :])[0][..., 0, :], None

    @staticmethod
    def backward_graph(ctx, g, _gidx=None):
        (idx,) = ctx.saved_tensors  # (.., 1, OL), flat into L
        pick = lambda v: np.take_along_axis(v, idx[..., 0, :], axis=-1)  # noqa: E731
        return _graph.linear(ctx, g, pick, mask_of=ctx.parents[0]), None


def avg_pool1d(
    input, kernel_size, stride=None, padding=0, ceil_mode: bool = False, count_include_pad=True
) -> Tensor:
    """1-D average pooling over (N, C, L) or (C, L); stride defaults to kernel_size."""
    op = "avg_pool1d"
    if _int_tensor(input, np.int64):  # the mean truncated, as PyTorch
        y = avg_pool1d(input.double(), kernel_size, stride, padding, ceil_mode, count_include_pad)
        return y.trunc().to(np.int64)
    x = _seq_input(input, op)
    k = _single(kernel_size, op, "kernel_size")
    s = _single(_stride_or(k, stride), op, "stride")
    p = _single(padding, op, "padding")
    ceil_mode = _bool_arg(ceil_mode, op, "ceil_mode")
    count_include_pad = _bool_arg(count_include_pad, op, "count_include_pad")
    args = ((1, k), (1, s), (0, p), ceil_mode, count_include_pad, None)
    y = _AvgPool1d.apply(x if x.data.flags.c_contiguous else x.contiguous(), args)
    return _node(y, "SqueezeBackward1")  # (torch's: avg_pool2d between unsqueeze and squeeze)


class _AvgPool1d(Function):
    """AvgPool2d on (.., 1, L) views of avg_pool1d's (.., L) arrays: one node, no view nodes."""

    @staticmethod
    def forward(ctx, x, args):  # (AvgPool2d's args tuple)
        return AvgPool2d.forward(ctx, x[..., None, :], args)[..., 0, :]

    @staticmethod
    def backward(ctx, g):
        return AvgPool2d.backward(ctx, g[..., None, :])[0][..., 0, :], None

    @staticmethod
    def backward_graph(ctx, g):
        args = ctx.args
        fwd = lambda v: _C.avg_pool2d_forward(_contig(v[..., None, :]), *args)[..., 0, :]  # noqa: E731
        return _graph.linear(ctx, g, fwd, mask_of=ctx.parents[0]), None


def adaptive_avg_pool1d(input, output_size) -> Tensor:
    """Average pooling of (N, C, L) or (C, L) to a fixed length."""
    x = _seq_input(input, "adaptive_avg_pool1d")
    out = _single(output_size, "adaptive_avg_pool1d", "output_size")
    if out >= 1 and _fast_pool_x(x, 1) is not None:
        return _node(_AdaptiveAvgPool1d.apply(x, (1, out)), "SqueezeBackward1")
    return adaptive_avg_pool2d(x.unsqueeze(-2), (1, out)).squeeze(-2)


class _AdaptiveAvgPool1d(Function):
    """AdaptiveAvgPool2d on (.., 1, L) views of adaptive_avg_pool1d's (.., L) arrays: one
    node, no view nodes (as _AvgPool1d)."""

    @staticmethod
    def forward(ctx, x, out):
        return AdaptiveAvgPool2d.forward(ctx, x[..., None, :], out)[..., 0, :]

    @staticmethod
    def backward(ctx, g):
        return AdaptiveAvgPool2d.backward(ctx, g[..., None, :])[0][..., 0, :], None

    @staticmethod
    def backward_graph(ctx, g):
        out = (1, g.shape[-1])
        fwd = lambda v: _C.adaptive_avg_pool2d_forward(_contig(v[..., None, :]), out)[..., 0, :]  # noqa: E731
        return _graph.linear(ctx, g, fwd, mask_of=ctx.parents[0]), None


class ConvTranspose2d(Function):
    # x (N,Cin,H,W), w (Cin,Cout/g,KH,KW), b (Cout) -> y (N,Cout,OH,OW): conv2d's input gradient
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups, out_hw):
        x, w = _contig(x), _contig(w)
        args = (stride, padding, dilation, groups)
        y = _C.conv_transpose2d_forward(x, w, b, *args, out_hw)
        ctx.save_for_backward(x, w)
        ctx.args = args
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = _contig(g.astype(x.dtype, copy=False))
        dx = _C.conv2d_forward(g, w, None, *ctx.args) if nx else None
        stride, pad, dilation, groups = ctx.args  # (pad: (h, w))
        if nx and _nonfinite_weight(dx, w, any(pad)):  # (as Conv2d.forward's)
            _skip_padded_taps(dx, g, w, lambda wf: _C.conv2d_forward(g, wf, None, *ctx.args),
                              stride, pad, dilation, groups)  # fmt: skip
        dw = None
        if nw:
            _, dw, _ = _C.conv2d_backward(
                x, g, w, *ctx.args, need_input=False, need_weight=True, need_bias=False
            )
        db = g.sum(axis=(0, 2, 3)) if nb else None
        return dx, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        # conv_transpose2d(x, w) is conv2d's input gradient: its gradients are conv2d (for x)
        # and conv2d's weight gradient with x as the output gradient (for w)
        x, w = _graph.inputs(ctx, *ctx.saved_tensors)
        nx, nw, nb = ctx.needs_input_grad[:3]
        return (
            Conv2d.apply(g, w, None, *ctx.args) if nx else None,
            _Conv2dGrad.apply(x, g, w, ctx.args)[1] if nw else None,
            g.sum((0, 2, 3)) if nb else None,
        ) + (None,) * 5


def _transposed_size(op, x, weight, stride, padding, dilation, out_pad, groups=1) -> tuple:
    """The output size per spatial axis, (n - 1) s - 2 p + d (k - 1) + o + 1; PyTorch refuses
    an empty spatial input and any negative output size. A size of 0 it refuses too, except
    for an empty batch and where it runs oneDNN, which returns an empty output."""
    k = len(stride)
    ins, ks = x.shape[-k:], weight.shape[-k:]
    if 0 in ins:
        raise BadShapeOrValue(
            f"{op}: only an empty batch or channel dim is supported, got {x.shape}"
        )
    out = tuple(
        (n - 1) * s - 2 * p + d * (kk - 1) + o + 1
        for n, s, p, d, kk, o in zip(ins, stride, padding, dilation, ks, out_pad)
    )
    lowest = 0 if x.shape[0] == 0 or _onednn(x, ks, stride, dilation, out_pad, groups) else 1
    if min(out) < lowest:
        raise BadShapeOrValue(
            f"{op}: input {x.shape} and weight {weight.shape} give a non-positive output size "
            f"{out}: too small (every size must be >= {lowest})"
        )
    return out


def _onednn(x, ks, stride, dilation, out_pad, groups) -> bool:
    """Whether PyTorch's CPU transposed convolution runs oneDNN (its use_mkldnn): float32,
    output_padding below the stride, a kernel other than 1x1 or a stride, dilation or thread
    count (torch's default follows OMP_NUM_THREADS, as ember's) that favours it, and one of
    groups > 1, a kernel over 3x3, a batch over 1 or a large input."""
    if x.data.dtype != np.float32 or any(o >= s for o, s in zip(out_pad, stride)):
        return False
    from ember import get_num_threads

    last2 = (1,) * (2 - len(ks)) + tuple(ks[-2:])
    strided = max(stride) > 1 or max(dilation) > 1
    favoured = strided or last2 != (1, 1) or x.shape[0] >= 16 or get_num_threads() > 1
    big = min(last2) > 3 or x.shape[0] > 1 or math.prod(x.shape[:4]) > 20480
    return favoured and (groups > 1 or big)


def _empty_conv(shape, *operands) -> Tensor:
    """The empty output of a convolution with nothing to compute (an empty batch or a 0 output
    size), on the graph of its operands: their gradients are zeros, as PyTorch's."""
    link = sum((t.sum() * 0 for t in operands if t is not None), Tensor(np.zeros((), np.float64)))
    return Tensor(np.zeros(shape, operands[0].data.dtype)) + link.to(operands[0].data.dtype)


def _fast_transposed(x, w, b, nd, stride, padding, output_padding, groups, dilation):
    """A transposed convolution's common call (see _fast_operands; output_padding below the
    stride, channels divisible by groups, a positive output size) as nd-tuples and the output
    size, or None."""
    s, d = _fast_ints(stride, nd), _fast_ints(dilation, nd)
    p, o = _fast_ints(padding, nd), _fast_ints(output_padding, nd)
    if o is None or not _fast_operands(x, w, b, nd, s, p, d, groups, transposed=True):
        return None
    xs, ws = x.data.shape, w.data.shape
    if xs[1] != ws[0] or ws[0] % groups or min(o) < 0 or any(a >= c for a, c in zip(o, s)):
        return None
    out = tuple(
        (n - 1) * ss - 2 * pp + dd * (k - 1) + oo + 1
        for n, ss, pp, dd, k, oo in zip(xs[2:], s, p, d, ws[2:], o)
    )
    return None if min(out) < 1 else (s, p, d, out)


def _fast_conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """conv_transpose2d's common call (see _fast_transposed), or None."""
    a = _fast_transposed(input, weight, bias, 2, stride, padding, output_padding, groups, dilation)
    return None if a is None else ConvTranspose2d.apply(input, weight, bias, *a[:3], groups, a[3])


@_conv_api("conv_transpose2d", _fast_conv_transpose2d)
@_integer_conv("conv_transpose2d", int64_only=True)
def conv_transpose2d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
) -> Tensor:
    """2-D transposed convolution ("deconvolution"), the adjoint of conv2d, as PyTorch.

    input (N, Cin, H, W) or (Cin, H, W); weight (Cin, Cout/groups, KH, KW); bias (Cout,).
    OH = (H - 1) stride - 2 padding + dilation (KH - 1) + output_padding + 1 (likewise OW);
    output_padding (< stride) picks among the sizes a strided conv2d maps to (H, W).
    """
    op = "conv_transpose2d"
    weight = _float_input(weight, op, "weight")
    if weight.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D (Cin, Cout/groups, KH, KW), got {weight.shape}")
    x = _float_input(input, op, "input", weight.dtype)
    unbatched = x.ndim == 3
    if unbatched:
        x = x.unsqueeze(0)
    elif x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got {x.shape}")
    groups = _int_arg(groups, op, "groups")
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    if x.shape[1] != weight.shape[0]:
        raise ValueError(
            f"{op}: input {x.shape} has {x.shape[1]} channels but weight {weight.shape} "
            f"expects {weight.shape[0]}"
        )
    if weight.shape[0] % groups or weight.shape[0] == 0:  # (PyTorch refuses no channels)
        raise ValueError(
            f"{op}: in_channels {weight.shape[0]} must be positive and divisible by groups={groups}"
        )
    stride, dilation = _pair(_one(stride), op, "stride"), _pair(_one(dilation), op, "dilation")
    padding, out_pad = (
        _pair(_one(padding), op, "padding"),
        _pair(_one(output_padding), op, "output_padding"),
    )
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: stride and dilation must be >= 1, got {stride}, {dilation}")
    if min(padding) < 0 or min(out_pad) < 0:
        raise ValueError(f"{op}: padding and output_padding must be >= 0")
    # (PyTorch skips this check for an empty batch)
    if x.shape[0] and any(o >= max(s, d) for o, s, d in zip(out_pad, stride, dilation)):
        raise ValueError(
            f"{op}: output_padding {out_pad} must be smaller than either stride {stride} or "
            f"dilation {dilation}"
        )
    extra = any(o >= s for o, s in zip(out_pad, stride))  # allowed when dilation > stride
    full = tuple(
        (n - 1) * s + d * (k - 1) + 1
        for n, s, d, k in zip(x.shape[2:], stride, dilation, weight.shape[2:])
    )
    out_hw = _transposed_size(op, x, weight, stride, padding, dilation, out_pad, groups)
    if bias is not None:
        bias = _float_input(bias, op, "bias", weight.dtype)
        cout = weight.shape[1] * groups
        if bias.shape != (cout,):
            raise ValueError(f"{op}: bias must have shape ({cout},), got {bias.shape}")
        bias = bias.contiguous()
    if x.shape[0] == 0 or 0 in out_hw:
        y = _empty_conv((x.shape[0], weight.shape[1] * groups, *out_hw), x, weight, bias)
        return y.squeeze(0) if unbatched else y
    if extra:
        # conv2d's input gradient cannot give this size: compute the uncropped output, then
        # crop `padding` rows in front and keep out_hw (zeros past the last tap's reach).
        y = ConvTranspose2d.apply(
            x.contiguous(), weight.contiguous(), None, stride, (0, 0), dilation, groups, full
        )
        tail = [max(p + o - f, 0) for f, p, o in zip(full, padding, out_hw)]
        y = pad(y, (0, tail[1], 0, tail[0]))
        (ph, pw), (oh, ow) = padding, out_hw
        y = y[:, :, ph : ph + oh, pw : pw + ow]
        if bias is not None:
            y = y + bias.reshape(-1, 1, 1)
    else:
        y = ConvTranspose2d.apply(
            x.contiguous(), weight.contiguous(), bias, stride, padding, dilation, groups, out_hw
        )
    return y.squeeze(0) if unbatched else y


# ---- group / instance norm, resampling, padding, fold / unfold, adaptive max pool, unpool -----
# NumPy Functions (or compositions of existing ops) for the less hot layers. The norms reuse the
# layer-norm kernel (Welford statistics: stable for large means) on a (rows, M) reshape and add
# the per-channel affine with broadcasting ops, so their gradients come from those ops.


def _channel_view(t: Tensor, ndim: int) -> Tensor:
    """A (C,) parameter shaped (C, 1, ..., 1) to broadcast against (N, C, *spatial)."""
    return t.reshape(t.shape[0], *([1] * (ndim - 2)))


def _affine(y: Tensor, weight, bias) -> Tensor:
    if weight is not None:
        y = y * _channel_view(weight, y.ndim)
    if bias is not None:
        y = y + _channel_view(bias, y.ndim)
    return y


def _norm_params(op: str, weight, bias, c: int, dtype):
    out = []
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None:
            t = _float_input(t, op, name, dtype)
            if t.shape != (c,):
                raise BadShapeOrValue(f"{op}: {name} must have shape ({c},), got {t.shape}")
        out.append(t)
    return out


def _rows_normalized(x: Tensor, rows: int, eps: float) -> Tensor:
    """x normalised over each of ``rows`` equal contiguous chunks (biased variance)."""
    m = x.data.size // rows if rows else 0
    y = LayerNorm.apply(x.contiguous().reshape(rows, m), None, None, m, float(eps))
    return y.reshape(x.shape)


class GroupNorm(Function):
    # x (N, C, *), w, b (C) or None -> y: statistics per (sample, group), affine per channel;
    # one C++ pass each way (layer norm's statistics on the (N*G, C/G*S) rows)
    @staticmethod
    def forward(ctx, x, w, b, groups, eps, flat_is_zero=False):
        x, w, b = (None if a is None else _contig(a) for a in (x, w, b))
        y, mean, rstd = _C.group_norm_forward(x, w, b, groups, eps)
        if flat_is_zero:  # instance_norm: PyTorch's batch_norm rule, var == eps == 0 -> rstd 0
            flat = np.isinf(rstd)  # (N, G = C): such a row comes out as its bias (or 0)
            if flat.any():
                rstd[flat] = 0
                rows = y.reshape(flat.size, -1)
                rows[flat.reshape(-1)] = (
                    0 if b is None else np.broadcast_to(b, flat.shape)[flat][:, None]
                )
        ctx.save_for_backward(x, mean, rstd, w)
        ctx.groups, ctx.eps = groups, eps
        return y

    @staticmethod
    def backward(ctx, g):
        x, mean, rstd, w = ctx.saved_tensors
        _, nw, nb = ctx.needs_input_grad[:3]
        g = _contig(g.astype(x.dtype, copy=False))
        dx, dw, db = _C.group_norm_backward(g, x, mean, rstd, w, ctx.groups, bool(nw), bool(nb))
        return dx, dw, db, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        x0, _, _, w0 = ctx.saved_tensors
        x, w, b = _graph.inputs(ctx, x0, w0, None)
        n, c, groups = x0.shape[0], x0.shape[1], ctx.groups
        per_channel = (1, c) + (1,) * (x0.ndim - 2)

        def norm(x, w, b):  # the forward in Tensor ops
            rows = x.reshape(n * groups, -1)
            xc = rows - rows.mean(1, keepdim=True)
            y = (xc / ops.sqrt((xc * xc).mean(1, keepdim=True) + ctx.eps)).reshape(x0.shape)
            y = y if w is None else y * w.reshape(per_channel)
            return y if b is None else y + b.reshape(per_channel)

        rest = (None,) * (len(ctx.needs_input_grad) - 3)  # groups, eps (instance_norm: + flat)
        return _graph.recompute(ctx, (g,), norm, x, w, b) + rest


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Group normalisation (Wu & He, 2018): the C channels split into ``num_groups`` groups,
    each normalised over its channels and all spatial positions, then a per-channel affine.

    Shape:
        input (N, C, *) with C divisible by num_groups; weight, bias (C,) or None -> same shape.

    Example::

        >>> F.group_norm(ember.randn(2, 6, 4, 4), 3).shape
        (2, 6, 4, 4)
    """
    op = "group_norm"
    if _mixed_lowp(input, weight, bias):
        return group_norm(input.float(), num_groups, weight, bias, eps).to(input.dtype)
    dtype = None if weight is None else _float_input(weight, op, "weight").dtype
    x = _float_input(input, op, "input", dtype)
    if x.ndim < 2:
        raise BadShapeOrValue(f"{op}: input must be at least 2-D (N, C, *), got shape {x.shape}")
    g = _int_arg(num_groups, op, "num_groups")
    c = x.shape[1]
    if g < 1 or c % g:
        raise BadShapeOrValue(
            f"{op}: num_channels {c} of input {x.shape} must be divisible by num_groups={g}"
        )
    if x.data.size == g:  # PyTorch's check: one value per group cannot be normalised
        raise BadShapeOrValue(
            f"{op}: expected more than 1 value per channel when training, got input {x.shape}"
        )
    weight, bias = _norm_params(op, weight, bias, c, x.dtype)
    if x.data.dtype in (np.float32, np.float64) and x.data.size:
        return GroupNorm.apply(x, weight, bias, g, float(eps))
    y = _affine(_rows_normalized(x, x.shape[0] * g, eps), weight, bias)
    if weight is not None and x.shape[0] and not math.prod(x.shape[2:]):
        # empty groups: torch's statistics are mean 0, rstd NaN, so weight's gradient is NaN
        # (bias's 0); this term adds nothing to the empty output but carries that gradient
        y = y + (weight * math.nan).sum() * 0
    return _autograd_function.named(y, "NativeGroupNormBackward0")  # (torch's one node)


def instance_norm(
    input,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    use_input_stats: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Instance normalisation (Ulyanov et al., 2016): each (sample, channel) normalised over
    its spatial positions, then a per-channel affine.

    With ``use_input_stats`` the instance statistics are used and, when given, running_mean
    and running_var (C,) are updated in place as PyTorch does: by the batch average of the
    instance means and unbiased variances, with weight ``momentum``. Otherwise the running
    statistics normalise (as batch_norm in eval mode).

    Shape: input (N, C, *spatial) -> same shape ((N, C) too without input stats).
    """
    op = "instance_norm"
    use_input_stats = _bool_arg(use_input_stats, op, "use_input_stats")
    if _mixed_lowp(input, weight, bias, running_mean, running_var):
        y = instance_norm(
            input.float(), running_mean, running_var, weight, bias, use_input_stats, momentum, eps
        )
        return y.to(input.dtype)
    dtype = None if weight is None else _float_input(weight, op, "weight").dtype
    x = _float_input(input, op, "input", dtype)
    if x.ndim < (3 if use_input_stats else 2):  # (N, C) works from running statistics
        raise BadShapeOrValue(
            f"{op}: expected more than 1 spatial element when training: input must be "
            f"(N, C, *spatial) with spatial dims, got {x.shape}"
        )
    n, c = x.shape[:2]
    weight, bias = _norm_params(op, weight, bias, c, x.dtype)
    if n == 0 and (weight is not None or bias is not None):  # PyTorch's IndexError
        raise _IndexRuntimeError(f"{op}: an empty batch {x.shape} cannot take a weight or bias")
    rm = _stat_array(running_mean, op, "running_mean")
    rv = _stat_array(running_var, op, "running_var")
    for a, name in ((rm, "running_mean"), (rv, "running_var")):
        if a is not None and a.shape != (c,):
            raise BadShapeOrValue(f"{op}: {name} must have shape ({c},), got {a.shape}")
    if not use_input_stats:
        if rm is None or rv is None:
            raise BadShapeOrValue(
                f"{op}: running_mean and running_var are needed without input stats"
            )
        # copies of the statistics and weight, as torch's instance_norm repeats them per
        # sample: a write into them after the forward is not refused. Statistics of another
        # real dtype are taken in the input's, as PyTorch (and as in training)
        w = weight.clone() if isinstance(weight, Tensor) else weight
        cast = rm.dtype.kind in "fiu" and rv.dtype.kind in "fiu"
        rm, rv = (Tensor(a.astype(x.dtype) if cast else a.copy()) for a in (rm, rv))
        return _node(batch_norm(x, rm, rv, w, bias, False, momentum, eps), "ViewBackward0")
    spatial = math.prod(x.shape[2:])
    if spatial == 1:  # PyTorch's check; empty inputs are fine
        raise BadShapeOrValue(
            f"{op}: expected more than 1 spatial element when training, got input {x.shape}"
        )
    axes = tuple(range(2, x.ndim))
    if x.data.size == 0:  # no statistics to fold in: PyTorch leaves them as they are, but
        for a in (rm, rv) if n == 0 else ():  # an empty batch's mean of means is NaN
            if a is not None:
                a[...] = np.nan
        rm = rv = None
    if rm is not None:
        rm *= 1 - momentum
        rm += momentum * x.data.mean(axis=axes).mean(axis=0).astype(rm.dtype, copy=False)
    if rv is not None:
        var = x.data.var(axis=axes, ddof=1).mean(axis=0)
        rv *= 1 - momentum
        rv += momentum * var.astype(rv.dtype, copy=False)
    if x.data.dtype in (np.float32, np.float64) and x.data.size:  # group norm, one per channel
        # weight's copy (c values) is what the node keeps: torch's instance norm saves its
        # weight.repeat(n), so a write into weight (an optimiser step) leaves backward valid
        w = weight.clone() if isinstance(weight, Tensor) else weight
        return _node(GroupNorm.apply(x, w, bias, c, float(eps), eps == 0), "ViewBackward0")
    return _affine(_rows_normalized(x, n * c, eps), weight, bias)


# Resampling and padding gather along one axis at a time: output position j reads input
# positions idx_t[j] with weights w_t[j] (one tap for nearest / padding, two for linear), so
# one Function serves every mode and dim, and its backward scatters the gradient back.


def _scatter_last(g: np.ndarray, idx: np.ndarray, n_in: int) -> np.ndarray:
    """The adjoint of a per-row gather: sums g[r, j] into position idx[r, j] of row r
    (idx (n_out,) or (rows, n_out); float64)."""
    rows = int(np.prod(g.shape[:-1]))  # not g.size // n_out: n_out may be 0
    flat = (np.arange(rows)[:, None] * n_in + idx).ravel()
    out = np.bincount(flat, weights=g.reshape(-1), minlength=rows * n_in)
    return out.reshape(*g.shape[:-1], n_in)


def _scatter_axis(g: np.ndarray, idx: np.ndarray, n_in: int, axis: int) -> np.ndarray:
    """The adjoint of ``np.take(x, idx, axis)``: sums the slices of g that read the same input
    position, as runs of a stable sort of idx (np.add.reduceat, no per-element index array)."""
    order = np.argsort(idx, kind="stable")
    sidx = idx[order]
    if not np.array_equal(order, np.arange(idx.size)):  # resampling maps are already sorted
        g = np.take(g, order, axis=axis)
    starts = np.flatnonzero(np.r_[True, sidx[1:] != sidx[:-1]])
    shape = list(g.shape)
    shape[axis] = n_in
    dx = np.zeros(shape, g.dtype)
    sel = (slice(None),) * axis + (sidx[starts],)
    dx[sel] = np.add.reduceat(g, starts, axis=axis)
    return dx


class Gather(Function):
    # x (.., n_in, ..) -> y (.., n_out, ..) along ``axis``: y = sum_t take(x, idx_t) * w_t
    # (w_t None: weight 1); one C++ pass each way for float32 / float64
    @staticmethod
    def forward(ctx, x, axis, taps, keep_input=False):
        # keep_input: x stays in the double-backward graph (a reflect / replicate pad: torch's
        # backward keeps its input, so the gradient's gradient is 0, not "unused")
        ctx.axis, ctx.taps, ctx.n_in, ctx.keep_input = axis, taps, x.shape[axis], keep_input
        if x.dtype in (np.float32, np.float64):
            if len(taps) == 1:  # nearest, padding: a view (np.stack copies, ~1 us)
                idx = np.ascontiguousarray(taps[0][0], np.int64)[None]
            else:
                idx = np.stack([i for i, _ in taps]).astype(np.int64, copy=False)
            w = None
            if any(v is not None for _, v in taps):
                one = np.ones(idx.shape[1], x.dtype)
                w = np.stack([one if v is None else v for _, v in taps]).astype(x.dtype)
            ctx.packed = (idx, w, x.dtype)
            return _C.gather_axis_forward(_contig(x), axis, idx, w)
        ctx.packed = None
        tail = (1,) * (x.ndim - axis - 1)  # weights broadcast along the axis
        y = None
        for idx, w in taps:
            term = np.take(x, idx, axis=axis)
            if w is not None:
                term *= w.reshape(-1, *tail)
            y = term if y is None else y + term
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.packed is not None:
            idx, w, dtype = ctx.packed
            g = _contig(g.astype(dtype, copy=False))
            return _C.gather_axis_backward(g, ctx.axis, idx, w, ctx.n_in), None, None, None
        tail = (1,) * (g.ndim - ctx.axis - 1)
        dx = None
        for idx, w in ctx.taps:
            gw = g if w is None else g * w.reshape(-1, *tail)
            d = _scatter_axis(gw, idx, ctx.n_in, ctx.axis)
            dx = d if dx is None else dx + d
        return dx, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        fwd = lambda v: Gather.forward(_graph.scratch(Gather), v, ctx.axis, ctx.taps)  # noqa: E731
        keep = ctx.parents[0] if ctx.keep_input else None
        return _graph.linear(ctx, g, fwd, mask_of=keep), None, None, None


def _gather_axis(x: Tensor, axis: int, taps) -> Tensor:
    return Gather.apply(x, axis % x.ndim, taps)


def _nearest_taps(n_in: int, n_out: int, scale, exact: bool, shortcuts: bool, dtype):
    # PyTorch's CPU index rule, in its arithmetic (float32 for float32 input, float64 for
    # float64): source floor(j / scale), or floor((j + 0.5) / scale) for nearest-exact; this
    # decides which pixel a tie picks. Its 2-D 'nearest' kernel (only) first special-cases
    # n_out == n_in (copy) and n_out == 2 n_in (j // 2), whatever the given scale_factor.
    j = np.arange(n_out)
    if shortcuts and n_out == n_in:
        return [(j, None)]
    if shortcuts and n_out == 2 * n_in:
        return [(j >> 1, None)]
    t = dtype.type
    s = t(1.0 / scale) if scale else t(n_in) / t(n_out)
    pos = j.astype(dtype) + t(0.5) if exact else j.astype(dtype)
    return [(np.minimum(np.floor(pos * s).astype(np.int64), n_in - 1), None)]


def _linear_taps(n_in: int, n_out: int, scale, align_corners: bool, dtype):
    # PyTorch's area_pixel_compute_source_index, in the input's dtype: source position
    # j * (n_in - 1) / (n_out - 1) (align_corners) or (j + 0.5) / scale - 0.5 clamped at 0.
    one = dtype.type(1)
    j = np.arange(n_out, dtype=dtype)
    if align_corners:
        s = dtype.type(n_in - 1) / dtype.type(n_out - 1) if n_out > 1 else dtype.type(0)
        src = s * j
    else:
        s = dtype.type(1.0 / scale) if scale else dtype.type(n_in) / dtype.type(n_out)
        src = np.maximum(s * (j + dtype.type(0.5)) - dtype.type(0.5), 0)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    lam = np.clip(src - i0, 0, 1).astype(dtype)
    i1 = np.minimum(i0 + 1, n_in - 1)
    return [(i0, one - lam), (i1, lam)]


def _cubic_taps(n_in: int, n_out: int, scale, align_corners: bool, dtype):
    # PyTorch's upsample_bicubic2d: Keys' cubic convolution (A = -0.75) over the 4 source
    # pixels floor(src) - 1 .. floor(src) + 2, clamped to the edge; src is not clamped at 0.
    t = dtype.type
    j = np.arange(n_out, dtype=dtype)
    if align_corners:
        src = (t(n_in - 1) / t(n_out - 1) if n_out > 1 else t(0)) * j
    else:
        s = t(1.0 / scale) if scale else t(n_in) / t(n_out)
        src = s * (j + t(0.5)) - t(0.5)
    i0 = np.floor(src).astype(np.int64)
    weights = _cubic_weights((src - i0).astype(dtype))
    return [(np.clip(i0 + k - 1, 0, n_in - 1), w) for k, (w, _) in enumerate(weights)]


def _cubic_weights(d):
    """Keys' cubic convolution weights (A = -0.75, as PyTorch) of the 4 pixels around a point
    a fraction d past the second one, each with its derivative in d."""
    a = -0.75

    def near(x):  # |x| <= 1
        return ((a + 2) * x - (a + 3)) * x * x + 1

    def far(x):  # 1 < |x| < 2
        return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a

    def dnear(x):
        return (3 * (a + 2) * x - 2 * (a + 3)) * x

    def dfar(x):
        return (3 * a * x - 10 * a) * x + 8 * a

    return (
        (far(d + 1), dfar(d + 1)),
        (near(d), dnear(d)),
        (near(1 - d), -dnear(1 - d)),
        (far(2 - d), -dfar(2 - d)),
    )


def _antialias_taps(n_in: int, n_out: int, scale, align_corners: bool, cubic: bool, dtype):
    # PyTorch's antialiased kernels (as PIL): when shrinking, the filter (triangle, or cubic
    # with A = -0.5) widens by the scale, over every source pixel it reaches; weights sum to 1.
    if align_corners:
        s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1.0 / scale if scale else n_in / n_out
    support = (2.0 if cubic else 1.0) * max(s, 1.0)
    center = s * (np.arange(n_out) + 0.5)
    lo = np.maximum((center - support + 0.5).astype(np.int64), 0)
    hi = np.minimum((center + support + 0.5).astype(np.int64), n_in)
    d = np.abs(lo[:, None] + np.arange(int((hi - lo).max())) - center[:, None] + 0.5)
    d = d / max(s, 1.0)
    if cubic:
        w = np.where(d < 1, (1.5 * d - 2.5) * d * d + 1, ((-0.5 * d + 2.5) * d - 4) * d + 2)
        w = np.where(d < 2, w, 0.0)
    else:
        w = np.maximum(1 - d, 0.0)
    w = np.where(lo[:, None] + np.arange(w.shape[1]) < hi[:, None], w, 0.0)
    total = w.sum(1, keepdims=True)
    w = np.where(total != 0, w / np.where(total != 0, total, 1), 0.0).astype(dtype)
    return [(np.minimum(lo + k, n_in - 1), w[:, k]) for k in range(w.shape[1])]


_INTERP_DIMS = {"linear": 3, "bilinear": 4, "bicubic": 4, "trilinear": 5}


def _spatial_arg(v, n: int, op: str, name: str, kind):
    vals = tuple(v) if isinstance(v, tuple | list) else (v,) * n
    if len(vals) != n:
        raise BadShapeOrValue(
            f"{op}: {name} {v!r} must have one entry per spatial dim ({n} for this input)"
        )
    if not all(isinstance(a, kind) and not isinstance(a, bool) for a in vals):
        raise TypeError(f"{op}: {name} must be {kind} or a sequence of them, got {v!r}")
    return vals


def interpolate(
    input,
    size=None,
    scale_factor=None,
    mode: str = "nearest",
    align_corners=None,
    recompute_scale_factor=None,
    antialias: bool = False,
) -> Tensor:
    """Resizes (N, C, *spatial) to ``size`` or by ``scale_factor``, as PyTorch.

    Args:
        mode: 'nearest' / 'nearest-exact' (3-D, 4-D or 5-D input), 'linear' (3-D),
            'bilinear' / 'bicubic' (4-D), 'trilinear' (5-D), 'area' (adaptive average pooling).
        align_corners: linear modes only (default False): True maps the corner pixels' centres
            onto each other; False maps the corners' edges (source (j + 0.5) / scale - 0.5).
        recompute_scale_factor: with scale_factor, index from the rounded output size instead
            of the given factor.
        antialias: 'bilinear' / 'bicubic' only: when shrinking, widen the filter by the scale
            so every source pixel contributes (PyTorch's and PIL's antialiased resize).

    Shape: out = size, or floor(in * scale_factor) per spatial dim.

    Example::

        >>> F.interpolate(ember.randn(1, 2, 4, 4), scale_factor=2, mode="bilinear").shape
        (1, 2, 8, 8)
    """
    op = "interpolate"
    u8 = ("nearest", "nearest-exact", "bilinear", "bicubic")  # PyTorch's uint8 image modes
    if mode in u8 and isinstance(input, Tensor) and input.dtype == np.uint8:
        x = input
    else:
        x = _float_input(input, op)
    modes = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
    if mode not in modes:
        raise _Unsupported(f"{op}: mode must be one of {modes}, got {mode!r}")
    if x.ndim not in (3, 4, 5) or (mode in _INTERP_DIMS and x.ndim != _INTERP_DIMS[mode]):
        want = _INTERP_DIMS.get(mode, "3, 4 or 5")
        raise _Unsupported(f"{op}: mode {mode!r} expects a {want}-D input, got shape {x.shape}")
    if align_corners is not None and not isinstance(align_corners, bool):
        # (torch's TypeError: a str, number or tuple was read by its truth)
        raise TypeError(f"{op}: align_corners must be a bool or None, got {align_corners!r}")
    if align_corners is not None and mode not in _INTERP_DIMS:
        raise BadShapeOrValue(
            f"{op}: align_corners option can only be set with the interpolating modes: "
            f"linear | bilinear | trilinear (got mode {mode!r})"
        )
    if antialias and mode not in ("bilinear", "bicubic"):
        raise BadShapeOrValue(
            f"{op}: antialias=True needs mode 'bilinear' or 'bicubic', got {mode!r}"
        )
    n = x.ndim - 2
    if (size is None) == (scale_factor is None):
        raise BadShapeOrValue(f"{op}: exactly one of size or scale_factor must be given")
    if size is not None:
        if recompute_scale_factor:
            raise BadShapeOrValue(f"{op}: recompute_scale_factor is not meaningful with a size")
        out = tuple(int(s) for s in _spatial_arg(size, n, op, "size", int | np.integer))
        if max(out) >= 2**63:  # (torch's TypeError; a size of 2**63 gave an empty output)
            raise TypeError(f"{op}: size {out} does not fit in int64")
        scales = (None,) * n
    else:
        sf = _spatial_arg(scale_factor, n, op, "scale_factor", int | float | np.number)
        if not all(math.isfinite(s) for s in sf):  # (torch: RuntimeError)
            raise BadShapeOrValue(f"{op}: scale_factor {tuple(sf)} gives no int64 output size")
        out = tuple(int(np.floor(float(i) * float(s))) for i, s in zip(x.shape[2:], sf))
        if max(out) >= 2**63:  # (torch's RuntimeError; was NumPy's "Maximum allowed size")
            raise BadShapeOrValue(f"{op}: output size {out} cannot be converted to int64")
        scales = (None,) * n if recompute_scale_factor else tuple(float(s) for s in sf)
    if min(out) < (0 if mode == "area" else 1):  # area is adaptive pooling: may be empty
        raise BadShapeOrValue(f"{op}: input {x.shape} gives an empty output size {out}")
    if mode != "area" and 0 in x.shape[1:]:
        raise BadShapeOrValue(f"{op}: only the batch dim of the input may be empty, got {x.shape}")
    if mode == "area":
        pool = (adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d)[n - 1]
        return pool(x, out[0] if n == 1 else out)
    if x.dtype == np.uint8 and mode in ("bilinear", "bicubic"):
        return Tensor(_resize_uint8(x.numpy(), out, scales, bool(align_corners), mode, antialias))
    low = x.dtype if x.dtype in (np.float16, _lowp.bfloat16) and mode in _INTERP_DIMS else None
    if low is not None:  # as torch: taps and sums in float32, one rounding at the end
        x = x.to(np.float32)
    for axis in range(n):
        n_in = x.shape[2 + axis]
        if mode.startswith("nearest"):
            exact, shortcuts = mode == "nearest-exact", mode == "nearest" and n == 2
            dtype = np.dtype(np.float32) if x.dtype == np.uint8 else x.dtype
            taps = _nearest_taps(n_in, out[axis], scales[axis], exact, shortcuts, dtype)
        elif n_in == out[axis] and (mode != "bicubic" or antialias):
            continue  # PyTorch copies a dim whose size is unchanged (not in plain bicubic)
        elif antialias:
            taps = _antialias_taps(
                n_in, out[axis], scales[axis], bool(align_corners), mode == "bicubic", x.dtype
            )
        else:
            taps = (_cubic_taps if mode == "bicubic" else _linear_taps)(
                n_in, out[axis], scales[axis], bool(align_corners), x.dtype
            )
        x = _gather_axis(x, 2 + axis, taps)
    if low is not None:
        return x.to(low)
    if x is input:  # no dim resized: a new tensor all the same, as torch's
        x = x.clone()
    name = _INTERP_NODE[mode].format(n) + ("Aa" if antialias else "") + "Backward0"
    return _node(x, name)


def _uint8_taps(n_in: int, n_out: int, scale, align_corners: bool, cubic: bool, antialias: bool):
    # PyTorch's uint8 resize (as PIL): first source pixel and int16 fixed-point weights of
    # `prec` fraction bits per output pixel. Antialiased weights are PIL's filter over the
    # pixels inside its support, renormalised; plain ones are the float kernel's taps (cubic:
    # A = -0.75) with those past an edge added, in double, onto the edge pixel's weight.
    if align_corners:
        s = (n_in - 1) / (n_out - 1) if n_out > 1 else 0.0
    else:
        s = 1.0 / scale if scale else n_in / n_out
    if not antialias:  # (torch's _compute_indices_min_size_weights)
        j = np.arange(n_out)
        src = s * j if align_corners else s * (j + 0.5) - 0.5
        if not (cubic or align_corners):
            src = np.maximum(src, 0.0)
        i0 = np.minimum(np.floor(src.astype(np.float32)).astype(np.int64), n_in - 1)  # floorf
        lam = np.clip(src - i0, 0.0, 1.0)
        half = 2 if cubic else 1
        lo = np.maximum(i0 - half + 1, 0)
        size = np.clip(np.minimum(i0 + half + 1, n_in) - lo, 0, 2 * half)
        w = np.zeros((n_out, 2 * half))
        rows, at, w_max = np.arange(n_out), np.zeros(n_out, np.int64), 0.0
        if cubic:
            fs = [f for f, _ in _cubic_weights(lam)]
        else:
            fs = [1 - lam, 1 - (1 - lam)]  # (torch's triangle at |k - lam|)
        for k, f in enumerate(fs):  # in torch's order: the running sums set the precision
            pos = i0 - half + 1 + k
            at = np.where(pos <= 0, 0, np.where(pos >= n_in - 1, size - 1, at))
            w[rows, at] += f
            w_max = max(w_max, w[rows, at].max())
            at = at + 1
    else:
        wide = s >= 1.0
        support = (2.0 if cubic else 1.0) * (s if wide else 1.0)
        taps = int(math.ceil(support)) * 2 + 1
        center = s * (np.arange(n_out) + 0.5)
        lo = np.maximum((center - support + 0.5).astype(np.int64), 0)
        hi = np.minimum((center + support + 0.5).astype(np.int64), n_in)
        hi = np.clip(hi, lo, lo + taps)
        k = np.arange(taps)
        d = np.abs(lo[:, None] + k - center[:, None] + 0.5) / (s if wide else 1.0)
        if cubic:  # (A = -0.5, as PIL)
            w = np.where(d < 1, (1.5 * d - 2.5) * d * d + 1, ((-0.5 * d + 2.5) * d - 4) * d + 2)
            w = np.where(d < 2, w, 0.0)
        else:
            w = np.maximum(1 - d, 0.0)
        w = np.where(lo[:, None] + k < hi[:, None], w, 0.0)
        total = w.sum(1, keepdims=True)
        w = np.where(total != 0, w / np.where(total != 0, total, 1), 0.0)
        w_max = w.max()
    prec = 0  # the most fraction bits with which the largest weight still fits in int16
    while prec < 22 and int(0.5 + w_max * (1 << (prec + 1))) < (1 << 15):
        prec += 1
    v = w * (1 << prec)
    return lo, np.trunc(v + np.where(v < 0, -0.5, 0.5)).astype(np.int64), prec


def _resize_uint8(a, out, scales, align_corners: bool, mode: str, antialias: bool):
    """PyTorch's uint8 bilinear / bicubic resize of (N, C, H, W): width then height, each
    pass in integer arithmetic, rounded and clamped to 0..255."""
    for axis in (1, 0):
        n_in = a.shape[2 + axis]
        if n_in == out[axis]:
            continue
        cubic = mode == "bicubic"
        lo, w, prec = _uint8_taps(n_in, out[axis], scales[axis], align_corners, cubic, antialias)
        src = np.moveaxis(a, 2 + axis, -1).astype(np.int64)
        idx = np.clip(lo[:, None] + np.arange(w.shape[1]), 0, n_in - 1)
        acc = (src[..., idx] * w).sum(-1) + (1 << (prec - 1))
        a = np.moveaxis(np.clip(acc >> prec, 0, 255).astype(np.uint8), -1, 2 + axis)
    return np.array(a, order="C")  # (a copy even when no dim changed, as torch)


_INTERP_NODE = {"nearest": "UpsampleNearest{}D", "nearest-exact": "UpsampleNearestExact{}D",
                "linear": "UpsampleLinear1D", "bilinear": "UpsampleBilinear2D",
                "bicubic": "UpsampleBicubic2D", "trilinear": "UpsampleTrilinear3D"}  # fmt: skip


def upsample(input, size=None, scale_factor=None, mode="nearest", align_corners=None) -> Tensor:
    """Deprecated PyTorch alias of interpolate."""
    return interpolate(input, size, scale_factor, mode, align_corners)


def _shuffle_factor(input, r, op: str, name: str) -> tuple[Tensor, int]:
    x = _float_input(input, op) if not isinstance(input, Tensor) else input
    r = _int_arg(r, op, name)
    if r < 1:
        raise BadShapeOrValue(f"{op}: {name} must be >= 1, got {r}")
    if x.ndim < 3:
        raise BadShapeOrValue(f"{op}: input must be at least 3-D (*, C, H, W), got shape {x.shape}")
    return x, r


def pixel_shuffle(input, upscale_factor: int) -> Tensor:
    """(*, C r^2, H, W) -> (*, C, H r, W r): channel blocks become r x r pixel blocks.

    Example::

        >>> F.pixel_shuffle(ember.randn(1, 8, 3, 3), 2).shape
        (1, 2, 6, 6)
    """
    x, r = _shuffle_factor(input, upscale_factor, "pixel_shuffle", "upscale_factor")
    *lead, c, h, w = x.shape
    if c % (r * r):
        raise BadShapeOrValue(
            f"pixel_shuffle: channels {c} of input {x.shape} must be divisible by "
            f"upscale_factor**2 = {r * r}"
        )
    k = len(lead)
    y = x.reshape(*lead, c // (r * r), r, r, h, w)
    y = y.permute(*range(k), k, k + 3, k + 1, k + 4, k + 2)  # (.., C, H, r, W, r)
    return _node(_fresh(y.reshape(*lead, c // (r * r), h * r, w * r), x), "PixelShuffleBackward0")


def _fresh(y: Tensor, x: Tensor) -> Tensor:
    """y, copied if it is a view of x (a shuffle that moves nothing reshapes to a view; torch's
    kernels always write a new tensor)."""
    if np.shares_memory(y.data, x.data):
        return y.clone()
    return y


def pixel_unshuffle(input, downscale_factor: int) -> Tensor:
    """(*, C, H r, W r) -> (*, C r^2, H, W): the inverse of pixel_shuffle."""
    x, r = _shuffle_factor(input, downscale_factor, "pixel_unshuffle", "downscale_factor")
    *lead, c, h, w = x.shape
    if h % r or w % r:
        raise BadShapeOrValue(
            f"pixel_unshuffle: height and width of input {x.shape} must be divisible by "
            f"downscale_factor={r}"
        )
    if x.data.size == 0:  # PyTorch returns an empty input as it is (a copy), unshuffled
        return _node(x.clone(), "PixelUnshuffleBackward0")
    k = len(lead)
    y = x.reshape(*lead, c, h // r, r, w // r, r)
    y = y.permute(*range(k), k, k + 2, k + 4, k + 1, k + 3)  # (.., C, r, r, H/r, W/r)
    y = _fresh(y.reshape(*lead, c * r * r, h // r, w // r), x)
    return _node(y, "PixelUnshuffleBackward0")


def _shift_pad(x: np.ndarray, pads, value) -> np.ndarray:
    """x with (lo, hi) added per dim (negative: cropped), new cells = value: one C++ pass."""
    return _C.pad_constant(np.ascontiguousarray(x), pads, value)


class ConstantPad(Function):
    # x -> y with (lo, hi) added per dim (negative: cropped), new cells = value; backward crops
    # (the same map kernel with the pads negated)
    @staticmethod
    def forward(ctx, x, pads, value):
        if x.ndim and x.dtype.char in "fd":
            ctx.pads = pads
            return _shift_pad(x, pads, value)
        ctx.pads = None
        out_shape, src, dst = [], [], []
        for n, (lo, hi) in zip(x.shape, pads):
            out_shape.append(n + lo + hi)
            src.append(slice(max(-lo, 0), n - max(-hi, 0)))
            dst.append(slice(max(lo, 0), max(lo, 0) + n - max(-lo, 0) - max(-hi, 0)))
        y = np.full(out_shape, value, dtype=x.dtype)
        y[tuple(dst)] = x[tuple(src)]
        ctx.shape, ctx.src, ctx.dst = x.shape, tuple(src), tuple(dst)
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.pads is not None:
            return _shift_pad(g, [(-lo, -hi) for lo, hi in ctx.pads], 0.0), None, None
        dx = np.zeros(ctx.shape, dtype=g.dtype)
        dx[ctx.src] = g[ctx.dst]
        return dx, None, None

    @staticmethod
    def backward_graph(ctx, g):
        pads = ctx.pads  # (set for float input, the only kind with a gradient)
        pad_map = lambda v: _shift_pad(v, pads, 0.0)  # noqa: E731
        return _graph.linear(ctx, g, pad_map), None, None


class EdgePad(Function):
    # x -> y padded along several axes at once: y's centre is x, and axis by axis in the given
    # order, border position k of the axis copies its position idx[k] (at lo + idx[k] in y). One
    # copy of x plus the borders; the adjoint, axis by axis in reverse, a centre slice copy plus a
    # few adds: the same sums as Gather's (where an input position feeds several, a replicate
    # pad's edge, in y's order: the terms before the centre's, the centre's, those after).
    @staticmethod
    def forward(ctx, x, maps, keep_input=False):
        ctx.keep_input = keep_input  # reflect / replicate: torch's backward keeps its input
        if x.dtype.char in "fd":  # the same maps, every axis in one C++ pass
            full = [np.arange(n, dtype=np.int64) for n in x.shape]
            for axis, _, idx in maps:
                full[axis] = np.ascontiguousarray(idx, dtype=np.int64)
            ctx.maps, ctx.xshape = maps, x.shape  # the borders only when a backward asks
            return _C.pad_forward(np.ascontiguousarray(x), full)
        shape, centre = list(x.shape), [slice(None)] * x.ndim
        for axis, lo, idx in maps:
            shape[axis], centre[axis] = idx.size, slice(lo, lo + x.shape[axis])
        y = np.empty(shape, x.dtype)
        y[tuple(centre)] = x
        meta, done = [], list(centre)  # done: the part of y filled so far
        for axis, lo, idx in maps:
            n = x.shape[axis]
            border = np.r_[0:lo, lo + n : idx.size]
            dst, src = list(done), list(done)
            dst[axis], src[axis] = border, lo + idx[border]
            y[tuple(dst)] = y[tuple(src)]
            done[axis] = slice(None)
            meta.append((axis, lo, n, border, idx[border]))
        ctx.meta = meta
        return y

    @staticmethod
    def _meta(ctx):
        # per axis: (axis, lo, n, its border positions in y, the x positions they copy)
        if not hasattr(ctx, "meta"):
            ctx.meta = [
                (axis, lo, n, b, idx[b])
                for axis, lo, idx in ctx.maps
                for n in [ctx.xshape[axis]]
                for b in [np.r_[0:lo, lo + n : idx.size]]
            ]
        return ctx.meta

    @staticmethod
    def backward(ctx, g):
        for axis, lo, n, border, src in reversed(EdgePad._meta(ctx)):
            pre = (slice(None),) * axis
            d = g[pre + (slice(lo, lo + n),)].copy()
            if np.unique(src).size == src.size:  # no repeats: plain fancy += is exact
                d[pre + (src,)] += g[pre + (border,)]
            else:  # a replicate edge: each sum in y's order, as Gather's (its bits)
                before = {}  # the terms before the centre's, summed first
                for b, j in zip(border.tolist(), src.tolist()):
                    if b < lo and j in before:
                        before[j] += g[pre + (b,)]
                    elif b < lo:
                        before[j] = g[pre + (b,)].copy()
                for j, t in before.items():
                    d[pre + (j,)] += t
                for b, j in zip(border.tolist(), src.tolist()):
                    if b >= lo:
                        d[pre + (j,)] += g[pre + (b,)]
            g = d
        return g, None, None

    @staticmethod
    def backward_graph(ctx, g):
        maps = []  # forward's maps again, from meta: y's centre copies x, its border meta's src
        for axis, lo, n, border, src in EdgePad._meta(ctx):
            idx = np.empty(n + border.size, np.int64)
            idx[lo : lo + n], idx[border] = np.arange(n), src
            maps.append((axis, lo, idx))
        fwd = lambda v: EdgePad.forward(_graph.scratch(EdgePad), v, maps)  # noqa: E731
        # (so a gradient of a reflect / replicate pad's gradient is 0, not "unused", as torch)
        keep = ctx.parents[0] if ctx.keep_input else None
        return _graph.linear(ctx, g, fwd, mask_of=keep), None, None


def _pad_edges(x: Tensor, specs, mode: str) -> Tensor:
    """Reflect / replicate / circular padding of (axis, lo, hi) in order: one EdgePad node when
    every pad is non-negative, else a gather per axis (negative pads crop)."""
    if all(lo >= 0 and hi >= 0 for _, lo, hi in specs):
        maps = [(d, lo, _pad_taps(x.shape[d], lo, hi, mode)[0][0]) for d, lo, hi in specs]
        return EdgePad.apply(x, tuple(maps), mode != "circular")
    for d, lo, hi in specs:
        x = Gather.apply(x, d % x.ndim, _pad_taps(x.shape[d], lo, hi, mode), mode != "circular")
    return x


def _pad_taps(n: int, lo: int, hi: int, mode: str):
    j = np.arange(-lo, n + hi)
    if mode == "reflect":
        j = np.abs(j)
        j = np.where(j >= n, 2 * (n - 1) - j, j)
    elif mode == "replicate":
        j = np.clip(j, 0, n - 1)
    else:  # circular: wraps around what is left after negative pads crop (as PyTorch)
        lo_crop, m = max(-lo, 0), n - max(-lo, 0) - max(-hi, 0)
        j = lo_crop + (np.arange(-max(lo, 0), m + max(hi, 0)) % m)
    return [(j, None)]


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:
    """Pads the last len(pad) // 2 dims, as PyTorch: ``pad`` = (last_lo, last_hi,
    second_last_lo, second_last_hi, ...).

    Args:
        mode: 'constant' (fill with ``value``, default 0; negative pads crop), 'reflect'
            (mirror without the edge; pad < size), 'replicate' (repeat the edge) or
            'circular' (wrap around; pad <= size).

    Example::

        >>> F.pad(ember.randn(1, 2, 3, 3), (1, 1, 2, 0)).shape
        (1, 2, 5, 5)
    """
    op = "pad"
    if mode not in ("constant", "reflect", "replicate", "circular"):  # (PyTorch's first check)
        raise _Unsupported(
            f"{op}: mode must be 'constant', 'reflect', 'replicate' or 'circular', got {mode!r}"
        )
    kinds = "biuc" if mode in ("constant", "circular") else "iuc"  # (no bool reflect/replicate)
    if isinstance(input, Tensor) and input.data.dtype.kind in kinds:
        x = input  # any dtype, as PyTorch (token ids, masks); the fill value is cast to it
    else:
        x = _float_input(input, op)
    if not isinstance(pad, tuple | list):
        raise TypeError(f"{op}: pad must be a tuple of ints, got {pad!r}")
    pads = [_int_arg(p, op, "pad") for p in pad]
    if len(pads) % 2:
        raise BadShapeOrValue(f"{op}: padding length must be divisible by 2, got {len(pads)}")
    k = len(pads) // 2
    if k > x.ndim:
        raise BadShapeOrValue(
            f"{op}: padding length {len(pads)} is more than twice the input's {x.ndim} dims "
            f"(shape {x.shape})"
        )
    pairs = [(pads[2 * i], pads[2 * i + 1]) for i in range(k)][::-1]  # first padded dim first
    dims = range(x.ndim - k, x.ndim)
    if mode == "constant":
        full = [(0, 0)] * (x.ndim - k) + pairs
        # Negative pads crop first (as PyTorch's narrow), so the cropped size must be >= 0.
        cropped = (
            ()
            if min(pads, default=0) >= 0
            else tuple(n + min(lo, 0) + min(hi, 0) for n, (lo, hi) in zip(x.shape, full))
        )
        if min(cropped, default=0) < 0:
            raise BadShapeOrValue(
                f"{op}: negative padding in {tuple(pads)} crops more than input shape {x.shape}"
            )
        fill = 0.0 if value is None else float(value)
        if x.data.dtype.kind in "iu" and value is not None:
            info = np.iinfo(x.data.dtype)
            if not info.min <= value <= info.max:
                raise BadShapeOrValue(
                    f"{op}: value {value} cannot be converted to {x.dtype} without overflow"
                )
            fill = value  # exact for large int64 values
        if x._requires_grad and is_grad_enabled():
            return ConstantPad.apply(x, full, fill)
        # outside the graph: the same forward without the generic apply (~1 us, as ops._view)
        y = ConstantPad.forward(ConstantPad.__new__(ConstantPad), x.data, full, fill)
        return Tensor._make(y, False, None, 0)
    if value not in (None, 0):
        raise BadShapeOrValue(f"{op}: padding mode {mode!r} doesn't take a value argument")
    if not 1 <= k <= 3 or x.ndim not in (k + 1, k + 2):
        raise _Unsupported(
            f"{op}: mode {mode!r} pads the last 1 to 3 dims of a ({k + 1})-D or ({k + 2})-D "
            f"input; got pad {tuple(pads)} for shape {x.shape}"
        )
    outs = [x.shape[d] + lo + hi for d, (lo, hi) in zip(dims, pairs)]
    empty = 0 in outs or 0 in x.shape[: x.ndim - k]
    if min(outs) < 0 or (mode != "circular" and max(outs) < 1):
        raise BadShapeOrValue(
            f"{op}: {mode} padding {tuple(pads)} gives output size {tuple(outs)} for input shape "
            f"{x.shape}; sizes must be >= 0" + ("" if mode == "circular" else ", one non-empty")
        )
    if mode != "circular" and 0 in x.shape[x.ndim - k - 1 :]:
        # As PyTorch: only a batch dim (of a (k + 2)-D input) may be empty.
        raise BadShapeOrValue(
            f"{op}: {mode} padding needs non-empty dims except the batch dim, got shape {x.shape}"
        )
    for d, (lo, hi) in zip(dims, pairs):
        n = x.shape[d]
        # Negative pads crop (as PyTorch, whose reflect and replicate index the uncropped dim).
        # Circular wraps what the crop leaves, which must not be empty when the output is not.
        cropped = n + min(lo, 0) + min(hi, 0)
        if (mode == "reflect" and max(lo, hi) >= n) or (mode == "circular" and max(lo, hi) > n):
            raise BadShapeOrValue(
                f"{op}: {mode} padding ({lo}, {hi}) of dim {d} must be at most "
                f"{n - (mode == 'reflect')} for input shape {x.shape}"
                + (" (a larger pad wraps around more than once)" if mode == "circular" else "")
            )
        if mode == "circular" and cropped < 1 and not empty:
            raise BadShapeOrValue(
                f"{op}: circular padding ({lo}, {hi}) of dim {d} crops all of its {n} elements "
                f"and has nothing to wrap (shape {x.shape})"
            )
    # torch's node: its reflection/replication kernel's, or circular's slice copies
    name = {"reflect": f"ReflectionPad{k}DBackward0", "replicate": f"ReplicationPad{k}DBackward0"}
    name = name.get(mode, "torch::autograd::CopySlices")
    if empty:  # no taps to build
        empty_pads = [(0, o - n) for o, n in zip(outs, x.shape[x.ndim - k :])]
        return _node(ConstantPad.apply(x, [(0, 0)] * (x.ndim - k) + empty_pads, 0.0), name)
    specs = [(d, lo, hi) for d, (lo, hi) in zip(dims, pairs)]
    return _node(_pad_edges(x, specs, mode), name)


# im2col / col2im in torch's (N, C*kh*kw, L) layout, L = OH*OW blocks in row-major order.


def _im2col(x: np.ndarray, k, d, p, s, out_hw) -> np.ndarray:
    # x (N, C, H, W) -> (N, C*kh*kw, OH*OW): a strided view of the padded input, then one copy
    xp = np.pad(x, ((0, 0), (0, 0), (p[0], p[0]), (p[1], p[1])))
    n, c = x.shape[:2]
    sn, sc, sh, sw = xp.strides
    view = np.lib.stride_tricks.as_strided(
        xp,
        (n, c, k[0], k[1], out_hw[0], out_hw[1]),
        (sn, sc, sh * d[0], sw * d[1], sh * s[0], sw * s[1]),
        writeable=False,
    )
    cols = view.reshape(n, c * k[0] * k[1], out_hw[0] * out_hw[1])
    return cols if cols.flags.writeable else cols.copy()  # 1x1 kernels reshape to a view


def _col2im(cols: np.ndarray, c: int, hw, k, d, p, s, out_hw) -> np.ndarray:
    # cols (N, C*kh*kw, OH*OW) -> (N, C, H, W): overlapping blocks are summed (im2col's adjoint)
    n = cols.shape[0]
    (oh, ow), (h, w) = out_hw, hw
    c6 = cols.reshape(n, c, k[0], k[1], oh, ow)
    out = np.zeros((n, c, h + 2 * p[0], w + 2 * p[1]), dtype=cols.dtype)
    for i in range(k[0]):
        for j in range(k[1]):
            hi, wj = i * d[0], j * d[1]
            out[
                :, :, hi : hi + s[0] * (oh - 1) + 1 : s[0], wj : wj + s[1] * (ow - 1) + 1 : s[1]
            ] += c6[:, :, i, j]
    return out[:, :, p[0] : p[0] + h, p[1] : p[1] + w]


class Unfold(Function):
    # x (N, C, H, W) -> cols (N, C*kh*kw, L)
    @staticmethod
    def forward(ctx, x, k, d, p, s, out_hw):
        ctx.args = (x.shape[1], x.shape[2:], k, d, p, s, out_hw)
        return _im2col(x, k, d, p, s, out_hw)

    @staticmethod
    def backward(ctx, g):
        dx = _col2im(_contig(g), *ctx.args)
        return np.ascontiguousarray(dx), None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        fwd = lambda v: _im2col(v, *ctx.args[2:])  # noqa: E731 (the adjoint of col2im)
        return (_graph.linear(ctx, g, fwd),) + (None,) * 5


class Fold(Function):
    # cols (N, C*kh*kw, L) -> y (N, C, H, W)
    @staticmethod
    def forward(ctx, cols, c, hw, k, d, p, s, out_hw):
        ctx.args = (k, d, p, s, out_hw)
        return np.ascontiguousarray(_col2im(cols, c, hw, k, d, p, s, out_hw))

    @staticmethod
    def backward(ctx, g):
        return (_im2col(_contig(g), *ctx.args),) + (None,) * 7

    @staticmethod
    def backward_graph(ctx, g):
        c, hw = g.shape[1], g.shape[2:]
        fwd = lambda v: np.ascontiguousarray(_col2im(v, c, hw, *ctx.args))  # noqa: E731
        return (_graph.linear(ctx, g, fwd),) + (None,) * 7


def _block_args(op, size, kernel_size, dilation, padding, stride):
    """Checked pairs, and the (OH, OW) grid of blocks for a spatial ``size``."""
    k, d = _pair(kernel_size, op, "kernel_size"), _pair(dilation, op, "dilation")
    p, s = _pair(padding, op, "padding"), _pair(stride, op, "stride")
    if min(k) < 1 or min(d) < 1 or min(s) < 1 or min(p) < 0:
        raise BadShapeOrValue(
            f"{op}: kernel_size, dilation and stride must be >= 1 and padding >= 0, got "
            f"kernel_size={k}, dilation={d}, padding={p}, stride={s}"
        )
    out = tuple(
        (n + 2 * pp - dd * (kk - 1) - 1) // ss + 1 for n, kk, dd, pp, ss in zip(size, k, d, p, s)
    )
    if min(out) < 1:
        raise BadShapeOrValue(
            f"{op}: kernel_size={k} with dilation={d} does not fit the padded spatial size "
            f"{size} (padding={p}): no sliding blocks"
        )
    return k, d, p, s, out


def unfold(input, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Extracts sliding local blocks (im2col): (N, C, H, W) -> (N, C*kh*kw, L), where column l
    holds block l (row-major over the OH x OW grid), channel-major then kernel row/column.

    Shape: L = OH * OW, OH = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1.

    Example::

        >>> F.unfold(ember.randn(2, 3, 5, 5), 3).shape
        (2, 27, 9)
    """
    op = "unfold"
    # (bool too, as torch's im2col: a mask's blocks)
    x = (
        input
        if isinstance(input, Tensor) and input.data.dtype == np.bool_
        else _float_input(input, op)
    )
    unbatched = x.ndim == 3
    if x.ndim not in (3, 4):
        raise BadShapeOrValue(
            f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {x.shape}"
        )
    if unbatched:
        x = x.unsqueeze(0)
    if 0 in x.shape[1:]:  # as PyTorch: only the batch may be empty
        raise BadShapeOrValue(f"{op}: expected non-empty dims except the batch, got {x.shape}")
    args = _block_args(op, x.shape[2:], kernel_size, dilation, padding, stride)
    y = Unfold.apply(x.contiguous(), *args)
    return _node(y.squeeze(0) if unbatched else y, "Im2ColBackward0")  # (torch's node)


def fold(input, output_size, kernel_size, dilation=1, padding=0, stride=1) -> Tensor:
    """Combines sliding blocks into an image (col2im), summing overlaps: the adjoint of unfold.
    (N, C*kh*kw, L) or (C*kh*kw, L) -> (N, C, *output_size); L must equal the block count.

    Example::

        >>> F.fold(ember.randn(2, 27, 9), (5, 5), 3).shape
        (2, 3, 5, 5)
    """
    op = "fold"
    if isinstance(input, Tensor) and input.data.dtype == np.bool_:
        # torch's bool col2im: overlapping blocks summed in bool, i.e. or-ed
        x = Tensor(input.data.astype(np.float32))
        y = fold(x, output_size, kernel_size, dilation, padding, stride)
        return Tensor(y.data != 0)
    x = _float_input(input, op)
    unbatched = x.ndim == 2
    if x.ndim not in (2, 3):
        raise BadShapeOrValue(
            f"{op}: input must be 2-D (C*kh*kw, L) or 3-D (N, C*kh*kw, L), got {x.shape}"
        )
    if unbatched:
        x = x.unsqueeze(0)
    if x.shape[1] == 0:  # as PyTorch
        raise BadShapeOrValue(
            f"{op}: expected a non-empty dim 1 (C * kernel elements), got {x.shape}"
        )
    hw = _pair(output_size, op, "output_size")
    k, d, p, s, out = _block_args(op, hw, kernel_size, dilation, padding, stride)
    if x.shape[1] % (k[0] * k[1]):
        raise BadShapeOrValue(
            f"{op}: input {x.shape}: dim 1 must be divisible by the kernel's {k[0]}*{k[1]} "
            f"elements (kernel_size={k})"
        )
    if x.shape[2] != out[0] * out[1]:
        raise BadShapeOrValue(
            f"{op}: input {x.shape}: dim 2 must equal the {out[0]} * {out[1]} = "
            f"{out[0] * out[1]} sliding blocks of output_size={hw}, kernel_size={k}, "
            f"dilation={d}, padding={p}, stride={s}"
        )
    c = x.shape[1] // (k[0] * k[1])
    y = Fold.apply(x.contiguous(), c, hw, k, d, p, s, out)
    return _node(y.squeeze(0) if unbatched else y, "Col2ImBackward0")  # (torch's node)


def _argmax_as_torch(v: np.ndarray, axis: int) -> np.ndarray:
    """The window position PyTorch's CPU max pools pick: the first maximum, except that a NaN
    replaces the running maximum whenever one is met, so the last NaN when there is one."""
    a = v.argmax(axis)
    nan = np.isnan(v)
    if nan.any():
        last = v.shape[axis] - 1 - np.flip(nan, axis).argmax(axis)
        a = np.where(nan.any(axis), last, a)
    return a


class AdaptiveMaxPool2d(Function):
    # x (B, H, W) -> y, idx (B, OH, OW): window i spans [floor(i H / OH), ceil((i+1) H / OH))
    @staticmethod
    def forward(ctx, x, out, with_indices=True):
        # the first maximum in row-major order (the last NaN), as PyTorch (pool2d.cpp); as
        # (B, 1, H, W) of any leading dims (B may be 0); saved idx (B, OH, OW). y alone
        # without indices (a tuple's outputs cost ~1 us more each, as views)
        lead, (h, w) = x.shape[:-2], x.shape[-2:]
        y, idx = _C.adaptive_max_pool2d_forward(_contig(x).reshape(-1, 1, h, w), out)
        ctx.save_for_backward(idx[:, 0])
        ctx.shape = x.shape
        if not with_indices:
            return y.reshape(*lead, *out)
        ctx.mark_non_differentiable(1)
        return y.reshape(*lead, *out), idx.reshape(*lead, *out)

    @staticmethod
    def backward(ctx, g, _gidx=None):
        (idx,) = ctx.saved_tensors
        b, (h, w) = idx.shape[0], ctx.shape[-2:]
        g = _contig(g).reshape(b, 1, *idx.shape[1:])
        return _C.max_pool2d_backward(g, idx[:, None], (b, 1, h, w)).reshape(ctx.shape), None, None

    @staticmethod
    def backward_graph(ctx, g, gidx=None):
        return _max_at_graph(ctx, g), None, None


def _max_at_graph(ctx, g) -> Tensor:
    """backward_graph of a max pool whose ctx saves (idx,), the maxima's flat positions in
    each sample: linear in g, the input only picks the maxima."""
    (idx,) = ctx.saved_tensors
    b, shape = idx.shape[0], g.shape

    def fwd(v):  # a direction's values at the maxima
        return np.take_along_axis(v.reshape(b, -1), idx.reshape(b, -1), 1).reshape(shape)

    return _graph.linear(ctx, g, fwd, mask_of=ctx.parents[0])


def _adaptive_size(output_size, sizes, op: str):
    """output_size (an int, or one per dim of ``sizes``, None keeping that size) -> tuple."""
    if isinstance(output_size, tuple | list) and len(output_size) == len(sizes):
        output_size = tuple(n if o is None else o for o, n in zip(output_size, sizes))
    out = (_pair if len(sizes) == 2 else _triple)(output_size, op, "output_size")
    if min(out) < 0:  # 0 gives an empty output, as PyTorch
        raise BadShapeOrValue(f"{op}: output_size must be non-negative, got {out}")
    return out


def _empty_pool(x: Tensor, out: tuple, with_indices: bool):
    """An adaptive pool with nothing to pool, to a size with a 0 or of empty channels (PyTorch
    returns it empty): an empty gather, so the output stays on x's graph."""
    y = x.flatten(-len(out))[..., np.zeros(out, np.int64)]
    return (y, Tensor(np.zeros(y.shape, np.int64))) if with_indices else y


def adaptive_max_pool2d(input, output_size, return_indices: bool = False):
    """Max pooling to a fixed output size (an int, or (h, w) where None keeps that size); with
    ``return_indices`` also the int64 argmax of each window, flat into H*W.

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW).

    Example::

        >>> F.adaptive_max_pool2d(ember.randn(1, 3, 7, 9), (2, 4)).shape
        (1, 3, 2, 4)
    """
    op = "adaptive_max_pool2d"
    x = _pool_input(input, op)
    out = _adaptive_size(output_size, x.shape[-2:], op)
    if 0 in x.shape[-3:]:  # as PyTorch: only the batch may be empty
        raise BadShapeOrValue(f"{op}: input {x.shape} has an empty non-batch dim")
    return _node(
        AdaptiveMaxPool2d.apply(x, out, bool(return_indices)), "AdaptiveMaxPool2DBackward0"
    )


def adaptive_max_pool1d(input, output_size, return_indices: bool = False):
    """Max pooling of (N, C, L) or (C, L) to a fixed length."""
    x = _seq_input(input, "adaptive_max_pool1d")
    out = _single(output_size, "adaptive_max_pool1d", "output_size")
    y, idx = adaptive_max_pool2d(x.unsqueeze(-2), (1, out), True)
    return (y.squeeze(-2), idx.squeeze(-2)) if return_indices else y.squeeze(-2)


class MaxUnpool(Function):
    # x (.., *S), idx (B, L) (L = prod(S)) -> y (.., *O): per plane b, y[b, idx[b, l]] = x[b, l],
    # zeros elsewhere (the planes' reshapes inside: one node)
    @staticmethod
    def forward(ctx, x, idx, out):
        y = np.zeros((idx.shape[0], math.prod(out)), x.dtype)
        y[np.arange(idx.shape[0])[:, None], idx] = x.reshape(idx.shape)
        ctx.save_for_backward(idx)
        ctx.xshape, ctx.nd = x.shape, len(out)
        return y.reshape(*x.shape[: x.ndim - len(out)], *out)

    @staticmethod
    def backward(ctx, g):
        (idx,) = ctx.saved_tensors
        g = g.reshape(idx.shape[0], -1)
        return g[np.arange(idx.shape[0])[:, None], idx].reshape(ctx.xshape), None, None

    @staticmethod
    def backward_graph(ctx, g):
        (idx,) = ctx.saved_tensors
        out = g.shape[g.ndim - ctx.nd :]
        fwd = lambda v: MaxUnpool.forward(_graph.scratch(MaxUnpool), v, idx, out)  # noqa: E731
        return _graph.linear(ctx, g, fwd), None, None


def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of max_pool2d: each value goes to its argmax position (``indices``
    from max_pool2d(return_indices=True), flat into OH*OW), zeros elsewhere.

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW), OH = (H - 1) stride - 2 padding + kernel,
    or ``output_size`` ((OH, OW) or the full shape) within one stride of that.

    Example::

        >>> y, i = F.max_pool2d(ember.randn(1, 2, 4, 4), 2, return_indices=True)
        >>> F.max_unpool2d(y, i, 2).shape
        (1, 2, 4, 4)
    """
    op = "max_unpool2d"
    x = _pool_input(input, op)
    k, s, p, _ = _pool_args(op, kernel_size, stride, padding)
    return _unpool(op, x, indices, k, s, p, output_size, 2)


# ---- end of group / instance norm, resampling, padding, fold, adaptive max pool, unpool -----


# ---- breadth: RMS / local response norm, bilinear, channel shuffle, Lp, 3-D and fractional
# ---- pooling, unpooling, 3-D and transposed 1-D/3-D convolution, multilabel margin, gumbel
# ---- softmax, pdist, affine_grid / grid_sample, embedding_bag, ctc_loss ---------------------
# Rarely hot layers, composed from existing differentiable ops where possible (gradients come
# from those ops' rules), else NumPy Functions with their backward beside them. The 3-D pools
# are separable (a box's max or mean is the max or mean over depth of the (H, W) window
# results, padding and ceil_mode applying per axis), so they run the 2-D kernels twice; conv3d
# and conv_transpose3d sum one conv2d / conv_transpose2d call per kernel depth on depth slices,
# reusing the GEMM-backed kernels and their backward instead of new C++ kernels.


def rms_norm(input, normalized_shape, weight=None, eps=None) -> Tensor:
    """Root-mean-square normalisation (Zhang & Sennrich, 2019) over the trailing
    ``normalized_shape`` dims: x / sqrt(mean(x^2) + eps) * weight. ``eps=None`` uses the
    dtype's machine epsilon, as PyTorch.

    Example::

        >>> F.rms_norm(ember.randn(2, 5), (5,)).shape
        (2, 5)
    """
    op = "rms_norm"
    # complex input: torch's composite, x * rsqrt(mean(x * x) + eps) with the complex square
    cplx = isinstance(input, Tensor) and input.data.dtype.kind == "c"
    x = input if cplx else _float_input(input, op)
    if x.data.dtype.char in "eE":  # torch's fused kernel: float32 maths and float32's eps,
        # rounded once (a bfloat16 composite with bfloat16's eps was up to 1e2 ulps off)
        if weight is not None and weight.dtype != x.dtype:  # (torch's warning)
            warnings.warn(
                f"Mismatch dtype between input and weight: input dtype = {x.dtype}, weight "
                f"dtype = {weight.dtype}, Cannot dispatch to fused implementation.",
                UserWarning,
                stacklevel=2,
            )
        if weight is not None and weight.dtype in (_lowp.float16, _lowp.bfloat16):
            weight = weight.float()
        with warnings.catch_warnings():  # (warned above)
            warnings.simplefilter("ignore")
            y = rms_norm(x.float(), normalized_shape, weight, eps)
        return y.to(x.data.dtype)
    shape = _normalized_shape(normalized_shape, op)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        raise BadShapeOrValue(
            f"{op}: given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size {x.shape}"
        )
    eps = float(np.finfo(x.dtype).eps) if eps is None else float(eps)
    if weight is not None:
        if not (cplx and isinstance(weight, Tensor) and weight.data.dtype.kind == "c"):
            weight = _float_input(weight, op, "weight")
        if weight.shape != shape:
            raise BadShapeOrValue(f"{op}: weight must have shape {shape}, got {weight.shape}")
    m = math.prod(shape)
    if x.data.dtype.char in "fd" and x.data.size and (weight is None or weight.dtype == x.dtype):
        # the fused kernel (the composite: 3 passes more); torch's node, its last Mul, or
        # the .contiguous() clone after it when the Mul kept a permuted (dense) x's layout
        a = x.data
        permuted = not a.flags.c_contiguous and _strides.non_overlapping_and_dense(
            a.shape, _strides._elem_strides(a)
        )
        return _node(
            RmsNorm.apply(x, weight, m, eps), "CloneBackward0" if permuted else "MulBackward0"
        )
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    y = x * ((x * x).mean(dims, keepdim=True) + eps).rsqrt() if dims else x
    if weight is not None:
        if weight.dtype != x.dtype:  # PyTorch returns input's dtype (warning for float64)
            if x.dtype == np.float64:
                warnings.warn(
                    f"Mismatch dtype between input and weight: input dtype = {x.dtype}, weight "
                    f"dtype = {weight.dtype}, Cannot dispatch to fused implementation.",
                    UserWarning,
                    stacklevel=2,
                )
            return ops.cast(y * weight, x.dtype)
        y = y * weight
    return y


def _zeros_like_dims(x: Tensor, axis: int, n: int) -> Tensor:
    shape = list(x.shape)
    shape[axis] = n
    return Tensor(np.zeros(shape, x.dtype))


def local_response_norm(
    input, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0
) -> Tensor:
    """Local response normalisation across channels (Krizhevsky et al., 2012), as PyTorch:
    x / (k + alpha / size * sum of x^2 over a window of ``size`` channels) ** beta, the window
    running from c - size // 2 to c + (size - 1) // 2, zero-padded at the ends.

    Shape: (N, C, *) with at least one spatial dim -> same shape.
    """
    op = "local_response_norm"
    x = input if _is_int(input) else _float_input(input, op)
    if _is_int(x) and x.data.dtype != np.int64:  # (torch's avg_pool has an int64 kernel only)
        raise _NoKernel(f"{op}: not implemented for {x.dtype} (torch's avg_pool: int64 only)")
    if x.ndim < 3:
        raise BadShapeOrValue(
            f"{op}: expected 3D or higher dimensionality input (got {x.ndim} dims)"
        )
    size = _int_arg(size, op, "size")
    if size < 1:
        raise BadShapeOrValue(f"{op}: size must be >= 1, got {size}")
    if x.data.size == 0:
        return _as_float(x)
    c = x.shape[1]
    sq = ops.cat(
        [_zeros_like_dims(x, 1, size // 2), x * x, _zeros_like_dims(x, 1, (size - 1) // 2)], 1
    )
    total = sq[:, 0:c]
    for i in range(1, size):
        total = total + sq[:, i : i + c]
    if _is_int(x):  # PyTorch averages integer squares in integer arithmetic (truncating)
        return _as_float(x) / (_as_float(total // size) * alpha + k) ** beta
    return x / (total * (alpha / size) + k) ** beta


def bilinear(input1, input2, weight, bias=None) -> Tensor:
    """y = x1^T A x2 + b per output feature, as PyTorch.

    Shape: input1 (*, in1), input2 (*, in2) with the same leading dims, weight
    (out, in1, in2), bias (out,) -> (*, out).
    """
    op = "bilinear"
    args = [v for v in (input1, input2, weight, bias) if isinstance(v, Tensor)]
    dts = {v.data.dtype for v in args}
    if len(dts) > 1 and any(v.data.dtype.kind in "biu" for v in args):
        # torch refuses mixed dtypes ("All tensors must have the same dtype": RuntimeError)
        raise BadDtype(f"{op}: all tensors must have the same dtype, got {[v.dtype for v in args]}")
    # integer tensors of one dtype: an integer result, wrapping as torch's (no graph)
    ints = len(args) == 3 + (bias is not None) and dts.pop().kind in "iu"
    if ints:
        a, b = input1, input2
    else:
        weight = _float_input(weight, op, "weight")
        a = _float_input(input1, op, "input1", weight.dtype)
        b = _float_input(input2, op, "input2", weight.dtype)
    if weight.ndim != 3:
        raise BadShapeOrValue(f"{op}: weight must be 3-D (out, in1, in2), got shape {weight.shape}")
    if a.ndim == 0 or a.shape[:-1] != b.shape[:-1]:
        raise BadShapeOrValue(
            f"{op}: input1 {a.shape} and input2 {b.shape} must have the same leading dims"
        )
    o, i1, i2 = weight.shape
    if a.shape[-1] != i1 or b.shape[-1] != i2:
        raise BadShapeOrValue(
            f"{op}: inputs {a.shape} and {b.shape} do not match weight {weight.shape} "
            f"(expected last dims {i1} and {i2})"
        )
    if 0 in (i1, i2):  # (torch's RuntimeError: its reshape of the empty product)
        raise BadShapeOrValue(f"{op}: input features must be non-empty, got weight {weight.shape}")
    lead = a.shape[:-1]
    n = math.prod(lead)  # (explicit sizes: -1 is ambiguous when a dim is 0)
    if bias is not None:
        bias = bias if ints else _float_input(bias, op, "bias", weight.dtype)
        if bias.shape != (o,):
            raise BadShapeOrValue(f"{op}: bias must have shape ({o},), got {bias.shape}")
    if ints:
        y = np.einsum("...i,oij,...j->...o", a.data, weight.data, b.data).astype(weight.dtype)
        return Tensor(y if bias is None else y + bias.data)
    # (B, in1) @ (in1, out * in2) -> (B, out, in2), then contract in2 with x2.
    t = ops.matmul(a.reshape(n, i1), weight.permute((1, 0, 2)).reshape(i1, o * i2))
    y = (t.reshape(n, o, i2) * b.reshape(n, 1, i2)).sum(-1).reshape(*lead, o)
    return y if bias is None else y + bias  # (torch's order: its node is the Add)


def channel_shuffle(input, groups: int) -> Tensor:
    """(N, C, *) -> (N, C, *) with the channels regrouped: (N, g, C/g, *) transposed to
    (N, C/g, g, *), as ShuffleNet and PyTorch."""
    op = "channel_shuffle"
    x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
    g = _int_arg(groups, op, "groups")
    if x.ndim < 3:
        raise BadShapeOrValue(f"{op}: expects input with > 2 dims, got shape {x.shape}")
    if g < 1:
        raise BadShapeOrValue(f"{op}: number of groups must be positive, got {g}")
    n, c = x.shape[:2]
    if c % g:
        raise BadShapeOrValue(f"{op}: number of channels {c} must be divisible by groups {g}")
    rest = x.shape[2:]
    y = x.reshape(n, g, c // g, *rest).transpose(1, 2).reshape(n, c, *rest)
    return _node(_fresh(y, x), "ChannelShuffleBackward0")


native_channel_shuffle = channel_shuffle  # PyTorch's name for the same op


def _lp_pool(op, input, norm_type, kernel_size, stride, ceil_mode, window: int) -> Tensor:
    """PyTorch's composition, dtype for dtype: p = +-inf is the window's max (min) of |x| by
    max pooling (an integer input stays integer); otherwise avg_pool(x ** p) * window, to the
    1/p (an integer x ** int p pools with the integer average's truncation, as torch's)."""
    nd = int(op[-2])
    max_pool, avg_pool = {1: (max_pool1d, avg_pool1d), 2: (max_pool2d, avg_pool2d)}.get(
        nd, (max_pool3d, avg_pool3d)
    )
    x = input if isinstance(input, Tensor) else _float_input(input, op)
    if x.ndim not in (nd + 1, nd + 2):
        raise BadShapeOrValue(f"{op}: input must be {nd + 1}-D or {nd + 2}-D, got shape {x.shape}")
    if norm_type == 0:  # the root 1 / norm_type (PyTorch raises ZeroDivisionError)
        raise BadShapeOrValue(f"{op}: norm_type must be nonzero")
    if isinstance(norm_type, int | float) and abs(norm_type) == math.inf:
        a = ops.abs(x)
        if norm_type > 0:
            return max_pool(a, kernel_size, stride, 0, 1, ceil_mode)
        return -max_pool(-a, kernel_size, stride, 0, 1, ceil_mode)
    out = avg_pool(ops.pow(x, norm_type), kernel_size, stride, 0, ceil_mode)
    if isinstance(window, tuple | list):  # lp_pool1d's sequence kernel_size: PyTorch's
        raise TypeError(f"{op}: kernel_size must be an int, got {window!r}")  # mul refuses it
    # PyTorch's exact composition (sign * relu(abs)), so gradients at 0 agree too.
    return (out.sign() * out.abs().relu() * window) ** (1.0 / norm_type)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling: (sum over each window of x^p) ** (1/p), over (N, C, L) or (C, L).
    ``stride`` defaults to kernel_size."""
    k = _single(kernel_size, "lp_pool1d", "kernel_size")
    window = kernel_size if isinstance(kernel_size, tuple | list) else k  # (refused after pooling)
    return _lp_pool("lp_pool1d", input, norm_type, kernel_size, stride, ceil_mode, window)


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (N, C, H, W) or (C, H, W); see lp_pool1d."""
    kh, kw = _pair(kernel_size, "lp_pool2d", "kernel_size")
    return _lp_pool("lp_pool2d", input, norm_type, (kh, kw), stride, ceil_mode, kh * kw)


def lp_pool3d(input, norm_type, kernel_size, stride=None, ceil_mode: bool = False) -> Tensor:
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W); see lp_pool1d."""
    k = _triple(kernel_size, "lp_pool3d", "kernel_size")
    return _lp_pool("lp_pool3d", input, norm_type, k, stride, ceil_mode, k[0] * k[1] * k[2])


def _triple(v, op: str, name: str) -> tuple[int, int, int]:
    if isinstance(v, tuple | list):
        if len(v) != 3:
            raise BadShapeOrValue(f"{op}: {name} must be an int or 3 ints, got {v!r}")
        return tuple(_int_arg(a, op, name) for a in v)
    v = _int_arg(v, op, name)
    return v, v, v


def _vol_input(input, op: str, dtype=None) -> Tensor:
    x = _float_input(input, op, "input", dtype)
    if x.ndim not in (4, 5):
        raise BadShapeOrValue(
            f"{op}: input must be 4-D (C, D, H, W) or 5-D (N, C, D, H, W), got shape {x.shape}"
        )
    return x


def _depth_last(y: Tensor, lead: tuple, d: int) -> tuple:
    """(B*D, OH, OW) from a per-slice 2-D op -> (B, 1, D, OH*OW): depth as a pooled height."""
    oh, ow = y.shape[-2:]
    return y.reshape(int(np.prod(lead)), 1, d, oh * ow), (oh, ow)


def _pool3d(x: Tensor, pool2d, depth_args: tuple, hw_args: tuple, with_indices: bool):
    """Pool (.., D, H, W) over (H, W) with pool2d(x, *hw_args), then over D with
    pool2d(., *depth_args) on (B, 1, D, OH*OW) (kernel (kd, 1)). With indices, combines the two
    argmaxes into PyTorch's flat index into D*H*W (ties: first in (d, h, w) order, as PyTorch)."""
    lead, (d, h, w) = x.shape[:-3], x.shape[-3:]
    if 0 in x.shape[-4:]:  # as PyTorch: only the batch may be empty
        op = pool2d.__name__.replace("2d", "3d")
        raise BadShapeOrValue(f"{op}: expected non-empty (C, D, H, W), got input {x.shape}")
    flat = x.reshape(-1, 1, h, w)  # batched, so an empty batch stays a batch
    if with_indices:
        y, idx_hw = pool2d(flat, *hw_args, return_indices=True)
    else:
        y = pool2d(flat, *hw_args)
    y, (oh, ow) = _depth_last(y, lead, d)
    if not with_indices:
        y = pool2d(y, *depth_args)
        return y.reshape(*lead, y.shape[-2], oh, ow)
    y, idx_d = pool2d(y, *depth_args, return_indices=True)
    od = y.shape[-2]
    idx_d = idx_d.data.reshape(-1, od, oh * ow)  # d * (OH*OW) + j
    src_d = np.clip(idx_d // (oh * ow), 0, d - 1)  # (an empty window's is replaced below)
    idx_hw = idx_hw.data.reshape(-1, d, oh * ow)
    hw = np.take_along_axis(idx_hw, src_d, axis=1)
    idx = (src_d * (h * w) + hw).reshape(*lead, od, oh, ow)
    if pool2d is max_pool2d:
        # kernel, stride, padding, dilation as (depth, h, w) triples
        k, s, p, dil = ((a[0], *b) for a, b in zip(depth_args[:4], hw_args[:4]))
        idx = _empty_window_index(idx, (d, h, w), k, s, p, dil)
    return y.reshape(*lead, od, oh, ow), Tensor(idx)


class _AvgPool3d(Function):
    """avg_pool3d as one node: avg_pool2d over (H, W) of the (B*D, 1, H, W) slices, then over
    D of (B, 1, D, OH*OW) (kernel (kd, 1)); the backward is the two passes' in reverse.
    depth, hw: the passes' avg_pool2d arguments (kernel, stride, padding, ceil_mode, ...)."""

    @staticmethod
    def forward(ctx, x, depth, hw):
        lead, (d, h, w) = x.shape[:-3], x.shape[-3:]
        y = _C.avg_pool2d_forward(x.reshape(-1, 1, h, w), *hw)
        oh, ow = y.shape[-2:]
        z = _C.avg_pool2d_forward(y.reshape(-1, 1, d, oh * ow), *depth)
        ctx.args = (x.shape, y.shape, (y.shape[0] // d, 1, d, oh * ow), depth, hw)
        return z.reshape(*lead, z.shape[-2], oh, ow)

    @staticmethod
    def backward(ctx, g):
        xshape, yshape, dshape, depth, hw = ctx.args
        g = _contig(g.reshape(dshape[0], 1, -1, dshape[3]).astype(g.dtype, copy=False))
        gy = _C.avg_pool2d_backward(g, dshape, *depth).reshape(yshape)
        gx = _C.avg_pool2d_backward(gy, (yshape[0], 1) + xshape[-2:], *hw)
        return gx.reshape(xshape), None, None

    @staticmethod
    def backward_graph(ctx, g):
        _, _, _, depth, hw = ctx.args
        fwd = lambda v: _AvgPool3d.forward(_graph.scratch(_AvgPool3d), _contig(v), depth, hw)  # noqa: E731
        return _graph.linear(ctx, g, fwd, mask_of=ctx.parents[0]), None, None


def _fast_pool_x(x, nd: int):
    """A pool's common input for the fast fronts (a float32/64 C-contiguous Tensor of nd + 1
    or nd + 2 dims, nothing empty) as its array, else None (the full checks and messages)."""
    if not isinstance(x, Tensor):
        return None
    a = x.data
    ok = a.dtype.char in "fd" and a.ndim - nd in (1, 2) and a.flags.c_contiguous
    return a if ok and 0 not in a.shape else None


class _MaxPool3d(Function):
    """max_pool3d (dilation 1) as one node on (B, D, H, W) views of any leading dims: one C++
    pass (_C.max_pool3d_forward), its backward max_pool2d's scatter over (B, 1, 1, D*H*W)
    planes. args: (kernel, stride, padding (d, h, w), ceil_mode, with_indices), one argument
    (Function.apply's quick path for two)."""

    @staticmethod
    def forward(ctx, x, args):
        k, s, p, ceil_mode, with_indices = args
        lead, (d, h, w) = x.shape[:-3], x.shape[-3:]
        ctx.shape, ctx.dtype = x.shape, x.dtype
        x = _contig(x).reshape(-1, d, h, w)
        if x.size <= 4096:  # (small: one call; else the 2-D kernel's two passes are ~3x faster)
            y, idx = _C.max_pool3d_forward(x, k, s, p, ceil_mode)
        else:  # over (H, W) of the (B*D, 1, H, W) slices, then over D of (B, 1, D, OH*OW)
            one = (1, 1)
            y, idx_hw = _C.max_pool2d_forward(x.reshape(-1, 1, h, w), k[1:], s[1:], p[1:], one,
                                              ceil_mode)  # fmt: skip
            oh, ow = y.shape[-2:]
            y, idx_d = _C.max_pool2d_forward(y.reshape(-1, 1, d, oh * ow), (k[0], 1), (s[0], 1),
                                             (p[0], 0), one, ceil_mode)  # fmt: skip
            y = y.reshape(x.shape[0], -1, oh, ow)
            idx = None
            if with_indices or ctx.needs_input_grad[0]:  # flat into D*H*W, as the kernel's
                src = idx_d.reshape(x.shape[0], -1, oh * ow) // (oh * ow)
                at = np.take_along_axis(idx_hw.reshape(x.shape[0], d, oh * ow), src, axis=1)
                idx = (src * (h * w) + at).reshape(y.shape)
        ctx.save_for_backward(idx)
        y = y.reshape(*lead, *y.shape[1:])
        if not with_indices:
            return y
        ctx.mark_non_differentiable(1)
        return y, idx.reshape(y.shape)

    @staticmethod
    def backward(ctx, g, _gidx=None):
        (idx,) = ctx.saved_tensors
        b = idx.shape[0]
        g = _contig(g.astype(ctx.dtype, copy=False)).reshape(b, 1, 1, -1)
        plane = (b, 1, 1, math.prod(ctx.shape[-3:]))
        gx = _C.max_pool2d_backward(g, idx.reshape(b, 1, 1, -1), plane)
        return gx.reshape(ctx.shape), None

    @staticmethod
    def backward_graph(ctx, g, _gidx=None):
        return _max_at_graph(ctx, g), None


def _fast_max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices):
    """max_pool3d's common call (see _fast_pool_x; dilation 1, so no window is all padding),
    or None. The kernel checks the sizes: a ValueError there leaves the messages to
    max_pool3d's own checks."""
    k, p = _fast_ints(kernel_size, 3), _fast_ints(padding, 3)
    s = k if stride is None else _fast_ints(stride, 3)
    if _fast_pool_x(input, 3) is None or None in (k, s, p) or type(ceil_mode) is not bool:
        return None
    if _fast_ints(dilation, 3) != (1, 1, 1):
        return None
    try:
        out = _MaxPool3d.apply(input, (k, s, p, ceil_mode, bool(return_indices)))
    except ValueError:
        return None
    return _node(out, "MaxPool3DWithIndicesBackward0")


def _pool3d_args(op, kernel_size, stride, padding, dilation=1):
    k = _triple(_one(kernel_size), op, "kernel_size")
    s = _triple(_one(_stride_or(k, stride)), op, "stride")
    d = _triple(_one(dilation), op, "dilation")
    for name, v in (("kernel size", k), ("stride", s), ("dilation", d)):
        if min(v) <= 0:  # (before the output size divides by the stride)
            raise BadShapeOrValue(f"{op}: {name} should be greater than zero, but got {v}")
    return k, s, _triple(_one(padding), op, "padding"), d


def max_pool3d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W); stride defaults to kernel_size;
    -inf padding of at most half the kernel. Indices are flat into D*H*W, as PyTorch's.

    Example::

        >>> F.max_pool3d(ember.randn(1, 2, 4, 4, 4), 2).shape
        (1, 2, 2, 2, 2)
    """
    y = _fast_max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices)
    if y is not None:
        return y
    if _int_tensor(input):
        y, idx = max_pool3d(input.double(), kernel_size, stride, padding, dilation, ceil_mode, True)
        return (y.to(input.dtype), idx) if return_indices else y.to(input.dtype)
    op = "max_pool3d"
    x = _vol_input(input, op)
    k, s, p, d = _pool3d_args(op, kernel_size, stride, padding, dilation)
    if any(pp < 0 or pp > kk // 2 for pp, kk in zip(p, k)):
        raise BadShapeOrValue(
            f"{op}: pad should be at most half of kernel size, but got pad={p}, kernel_size={k}"
        )
    if 0 not in x.shape[-4:]:  # named as 3-D here, not by the 2-D passes below
        out = [_pool_out(*a, ceil_mode) for a in zip(x.shape[-3:], k, s, p, d)]
        if min(out) < 1:
            c, size = x.shape[-4], "x".join(map(str, x.shape[-3:]))
            raise BadShapeOrValue(
                f"{op}: given input size ({c}x{size}), calculated output size "
                f"({c}x{'x'.join(map(str, out))}) is too small"
            )
    hw = (k[1:], s[1:], p[1:], d[1:], ceil_mode)
    depth = ((k[0], 1), (s[0], 1), (p[0], 0), (d[0], 1), ceil_mode)
    if _has_empty_window(x.shape[-3:], k, s, p, d, ceil_mode):  # PyTorch's gradient there
        with no_grad():
            y, idx = _pool3d(x.detach(), max_pool2d, depth, hw, True)
        y = _MaxAt.apply(x, y.data, idx.data, 3)
        return _node((y, idx) if return_indices else y, "MaxPool3DWithIndicesBackward0")
    out = _pool3d(x, max_pool2d, depth, hw, bool(return_indices))
    return _node(out, "MaxPool3DWithIndicesBackward0")


def avg_pool3d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
) -> Tensor:
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W); see avg_pool2d. Divisors
    factor per axis, so this is avg_pool2d over (H, W) then over D (window sums when
    ``divisor_override`` is given, divided by it)."""
    op = "avg_pool3d"
    if _int_tensor(input, np.int64):  # the mean truncated, as PyTorch
        # sum / divisor in one division: the two passes below may round 4 to 3.999..
        args = (kernel_size, stride, padding, ceil_mode, count_include_pad)
        total = avg_pool3d(input.double(), *args, 1).data
        if divisor_override is None:
            ones = Tensor(np.ones(input.shape))
            count = avg_pool3d(ones, *args, 1).data
            divisor_override = np.round(count / avg_pool3d(ones, *args).data)
        elif _int_arg(divisor_override, op, "divisor_override") == 0:
            raise BadShapeOrValue(f"{op}: divisor must be not zero")
        return Tensor(np.trunc(total / divisor_override).astype(np.int64))
    x = _vol_input(input, op)
    k, s, p, _ = _pool3d_args(op, kernel_size, stride, padding)
    if any(i < kk for i, kk in zip(x.shape[-3:], k)):  # PyTorch's check, padding aside
        (t, h, w), (kt, kh, kw) = x.shape[-3:], k
        raise BadShapeOrValue(
            f"{op}: input image (T: {t} H: {h} W: {w}) smaller than kernel size "
            f"(kT: {kt} kH: {kh} kW: {kw})"
        )
    rest = (
        _bool_arg(ceil_mode, op, "ceil_mode"),
        _bool_arg(count_include_pad, op, "count_include_pad"),
    )
    if divisor_override is not None:
        divisor_override = _int_arg(divisor_override, op, "divisor_override")
        if divisor_override == 0:
            raise BadShapeOrValue(f"{op}: divisor must be not zero")
        rest = (*rest, 1)
    if 0 in x.shape[-4:]:  # as PyTorch: only the batch may be empty
        raise BadShapeOrValue(f"{op}: expected non-empty (C, D, H, W), got input {x.shape}")
    depth = ((k[0], 1), (s[0], 1), (p[0], 0), *rest)
    hw = (k[1:], s[1:], p[1:], *rest)
    y = _AvgPool3d.apply(x if x.data.flags.c_contiguous else x.contiguous(), depth, hw)
    return _node(y if divisor_override is None else y / divisor_override, "AvgPool3DBackward0")


class _AdaptiveAvgPool3d(Function):
    """adaptive_avg_pool3d as one node: the 2-D kernel over (H, W) of the (B*D, 1, H, W)
    slices, then over D of (B, 1, D, OH*OW) (the windows factor per axis); the backward is
    the two passes' in reverse."""

    @staticmethod
    def forward(ctx, x, out):
        x = _contig(x)
        lead, (d, h, w), (od, oh, ow) = x.shape[:-3], x.shape[-3:], out
        y = _C.adaptive_avg_pool2d_forward(x.reshape(-1, 1, h, w), (oh, ow))
        z = _C.adaptive_avg_pool2d_forward(y.reshape(-1, 1, d, oh * ow), (od, oh * ow))
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return z.reshape(*lead, *out)

    @staticmethod
    def backward(ctx, g):
        (d, h, w), (od, oh, ow) = ctx.shape[-3:], g.shape[-3:]
        b = math.prod(ctx.shape[:-3])
        g = _contig(g.astype(ctx.dtype, copy=False)).reshape(b, 1, od, oh * ow)
        gy = _C.adaptive_avg_pool2d_backward(g, (b, 1, d, oh * ow)).reshape(b * d, 1, oh, ow)
        gx = _C.adaptive_avg_pool2d_backward(gy, (b * d, 1, h, w))
        return gx.reshape(ctx.shape), None

    @staticmethod
    def backward_graph(ctx, g):
        out = g.shape[-3:]
        fwd = lambda v: _AdaptiveAvgPool3d.forward(_graph.scratch(_AdaptiveAvgPool3d), v, out)  # noqa: E731
        return _graph.linear(ctx, g, fwd, mask_of=ctx.parents[0]), None


def adaptive_avg_pool3d(input, output_size) -> Tensor:
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed size (an int, or a
    triple where None keeps that input size)."""
    op = "adaptive_avg_pool3d"
    x = _vol_input(input, op)
    od, oh, ow = _adaptive_size(output_size, x.shape[-3:], op)
    if 0 in (od, oh, ow) and 0 not in x.shape[-4:]:
        return _node(_empty_pool(x, (od, oh, ow), False), "AdaptiveAvgPool3DBackward0")
    if 0 in (od, oh, ow) or 0 in x.shape[-4:]:  # (the messages of the 2-D passes)
        y = _pool3d(x, adaptive_avg_pool2d, ((od, oh * ow),), ((oh, ow),), False)
    else:
        y = _AdaptiveAvgPool3d.apply(x, (od, oh, ow))
    name = "AdaptiveAvgPool3DBackward0"
    if (od, oh, ow) == (1, 1, 1):  # torch's node: the mean over D, H, W (restrided when the
        from ember._layout import channels_last_3d  # input is channels_last_3d)

        cl = x.ndim == 5 and not x.is_contiguous()
        cl = cl and x.is_contiguous(memory_format=channels_last_3d)
        name = "AsStridedBackward1" if cl else "MeanBackward1"
    return _node(y, name)


def adaptive_max_pool3d(input, output_size, return_indices: bool = False):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed size; indices flat into
    D*H*W."""
    op = "adaptive_max_pool3d"
    x = _vol_input(input, op)
    if min(x.shape[-3:]) < 1:
        raise BadShapeOrValue(f"{op}: input {x.shape} has an empty spatial dim")
    od, oh, ow = _adaptive_size(output_size, x.shape[-3:], op)
    if 0 in (od, oh, ow) and 0 not in x.shape[-4:]:
        return _node(
            _empty_pool(x, (od, oh, ow), bool(return_indices)), "AdaptiveMaxPool3DBackward0"
        )
    out = _pool3d(x, adaptive_max_pool2d, ((od, oh * ow),), ((oh, ow),), bool(return_indices))
    return _node(out, "AdaptiveMaxPool3DBackward0")


def max_pool1d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """max_pool1d returning (output, indices), as PyTorch's alias."""
    return max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool2d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """max_pool2d returning (output, indices), as PyTorch's alias."""
    return max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def max_pool3d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
):
    """max_pool3d returning (output, indices), as PyTorch's alias."""
    return max_pool3d(input, kernel_size, stride, padding, dilation, ceil_mode, True)


def adaptive_max_pool1d_with_indices(input, output_size, return_indices: bool = False):
    """adaptive_max_pool1d returning (output, indices), as PyTorch's alias."""
    return adaptive_max_pool1d(input, output_size, True)


def adaptive_max_pool2d_with_indices(input, output_size, return_indices: bool = False):
    """adaptive_max_pool2d returning (output, indices), as PyTorch's alias."""
    return adaptive_max_pool2d(input, output_size, True)


def adaptive_max_pool3d_with_indices(input, output_size, return_indices: bool = False):
    """adaptive_max_pool3d returning (output, indices), as PyTorch's alias."""
    return adaptive_max_pool3d(input, output_size, True)


def _unpool(op, x: Tensor, indices, k, s, p, output_size, nd: int) -> Tensor:
    """max_unpool over the last nd dims (indices flat into their product)."""
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if idx.dtype != np.int64:  # (PyTorch takes max_pool's int64 indices only)
        raise BadDtype(f"{op}: indices must be an int64 integer tensor, got {idx.dtype}")
    if idx.shape != x.shape:
        raise BadShapeOrValue(f"{op}: indices shape {idx.shape} must equal input shape {x.shape}")
    if 0 in x.shape[1:]:  # (the leading dim, batch or unbatched channels, may be empty)
        raise BadShapeOrValue(f"{op}: expected non-empty dims after the first, got input {x.shape}")
    dims = x.shape[-nd:]
    default = tuple((n - 1) * ss - 2 * pp + kk for n, ss, pp, kk in zip(dims, s, p, k))
    if output_size is None:
        out = default
    else:
        if len(output_size) not in (nd, nd + 2):
            raise BadShapeOrValue(
                f"{op}: output_size must have {nd} or {nd + 2} elements, got {output_size}"
            )
        out = tuple(int(o) for o in output_size)[-nd:]
        for dim, (o, dflt, ss) in enumerate(zip(out, default, s)):
            if not dflt - ss < o < dflt + ss:
                raise BadShapeOrValue(
                    f"{op}: invalid output_size {tuple(output_size)} (dim {dim} must be between "
                    f"{dflt - ss} and {dflt + ss})"
                )
    if min(out) < 0:
        raise BadShapeOrValue(f"{op}: input {x.shape} gives a negative output size {out}")
    if 0 in out:  # nothing to place: an empty output, as PyTorch (no index is checked)
        return x.reshape(-1)[:0].reshape(*x.shape[:-nd], *out)
    m = math.prod(out)
    idx2 = _contig(idx.reshape(-1, math.prod(dims)))
    if idx2.size and (idx2.view(np.uint64) >= m).any():  # (a negative index wraps round too)
        bad = int(idx2.min() if idx2.min() < 0 else idx2.max())
        raise BadShapeOrValue(f"{op}: found an invalid max index {bad} for an output of size {out}")
    y = MaxUnpool.apply(x, idx2, out)
    name = ("SqueezeBackward1", "MaxUnpool2DBackward0", "MaxUnpool3DBackward0")[nd - 1]
    return _node(y, name)


def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of max_pool1d over (N, C, L) or (C, L); see max_unpool2d."""
    op = "max_unpool1d"
    x = _seq_input(input, op)
    k = _single(kernel_size, op, "kernel_size")
    s = k if stride is None else _single(stride, op, "stride")
    p = _single(padding, op, "padding")
    return _unpool(op, x, indices, (k,), (s,), (p,), output_size, 1)


def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None) -> Tensor:
    """The partial inverse of max_pool3d over (N, C, D, H, W) or (C, D, H, W); see
    max_unpool2d."""
    op = "max_unpool3d"
    x = _vol_input(input, op)
    k, s, p, _ = _pool3d_args(op, kernel_size, stride, padding)
    return _unpool(op, x, indices, k, s, p, output_size, 3)


def _conv3d_operands(op: str, input, weight, stride, dilation):
    """conv3d's and conv_transpose3d's shared checks: (x batched, weight, unbatched, stride,
    dilation)."""
    weight = _float_input(weight, op, "weight")
    if weight.ndim != 5:
        raise BadShapeOrValue(
            f"{op}: weight must be 5-D (.., KD, KH, KW), got shape {weight.shape}"
        )
    x = _vol_input(input, op, weight.dtype)
    unbatched = x.ndim == 4
    s, d = _triple(_one(stride), op, "stride"), _triple(_one(dilation), op, "dilation")
    if min(s) < 1 or min(d) < 1:
        raise BadShapeOrValue(f"{op}: stride and dilation must be >= 1, got {s}, {d}")
    return (x.unsqueeze(0) if unbatched else x), weight, unbatched, s, d


class _DepthTaps(Function):
    # x (N, C, D, H, W) -> (N*OD, C*KD, H, W): out[n*OD + i, c*KD + a] = x[n, c, i*s - p + a*d]
    # (zero outside [0, D)): conv3d's depth taps laid out as conv2d input channels, copied by
    # threaded plane copies in C++ (_C.conv3d_depth_taps and its adjoint)
    @staticmethod
    def forward(ctx, x, kd, od, s, d, p):
        ctx.meta = (x.shape, kd, od, s, d, p)
        return _C.conv3d_depth_taps(np.ascontiguousarray(x), kd, od, s, d, p)

    @staticmethod
    def backward(ctx, g):
        shape, kd, od, s, d, p = ctx.meta
        dx = _C.conv3d_depth_taps_backward(np.ascontiguousarray(g), list(shape), kd, od, s, d, p)
        return dx, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        _, kd, od, s, d, p = ctx.meta

        def fwd(v):  # linear: the same taps of a direction v
            return _DepthTaps.forward(_graph.scratch(_DepthTaps), v, kd, od, s, d, p)

        return _graph.linear(ctx, g, fwd), None, None, None, None, None


class _Conv3dDirect(Function):
    # strided one-group conv3d through the direct forward (_C.conv3d_direct_forward); its
    # gradients are the depth-tap composition's (conv3d below): x's depth taps, recomputed here,
    # through conv2d's backward. args: (stride, (pd, ph, pw), dilation, padding as given)
    @staticmethod
    def engine(ctx, x, w, b, s, pad, d):
        return _C.conv3d_direct_forward(x, w, b, s, pad, d)

    @staticmethod
    def forward(ctx, x, w, b, s, pad, d, padding):
        x, w = _contig(x), _contig(w)
        y = type(ctx).engine(ctx, x, w, b, s, pad, d)
        if _nonfinite_weight(y, w, any(pad)):  # (see Conv2d.forward)
            bt = None if b is None else Tensor(b)
            with no_grad():
                fin = lambda wf: conv3d(Tensor(x), Tensor(wf), bt, s, padding, d).data  # noqa: E731
                _skip_padded_taps(y, x, w, fin, s, pad, d, 1)
        ctx.save_for_backward(x, w)
        ctx.args = (s, pad, d, padding)
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        s, pad, d, _ = ctx.args
        n, od, kd = x.shape[0], g.shape[2], w.shape[2]
        xu = getattr(ctx, "taps", None)  # (_Conv3dTaps keeps its forward's)
        if xu is None:
            xu = _C.conv3d_depth_taps(x, kd, od, s[0], d[0], pad[0])
        wu = w.reshape(w.shape[0], w.shape[1] * kd, *w.shape[3:])
        g2 = np.ascontiguousarray(g.astype(x.dtype, copy=False).swapaxes(1, 2))
        dxu, dwu, db = _C.conv2d_backward(
            g2.reshape(n * od, *g2.shape[2:]), xu, wu, s[1:], pad[1:], d[1:], 1,
            need_input=nx, need_weight=nw, need_bias=nb and ctx.has_bias,
        )  # fmt: skip
        dx = None
        if nx:
            dx = _C.conv3d_depth_taps_backward(dxu, list(x.shape), kd, od, s[0], d[0], pad[0])
        return dx, None if dwu is None else dwu.reshape(w.shape), db, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        s, _, d, padding = ctx.args
        x, w = _graph.inputs(ctx, *ctx.saved_tensors)
        b = ctx.parents[2]  # (only a bias that requires grad: it does not change x's, w's)

        def composed(x, w, *b):  # the depth-tap composition, recorded
            return conv3d(x, w, b[0] if b else None, s, padding, d, _direct=False)

        grads = _graph.recompute(ctx, (g,), composed, x, w, *([] if b is None else [b]))
        return (*grads, *([None] * (7 - len(grads))))


class _Conv3dTaps(_Conv3dDirect):
    """One-group conv3d through the depth-tap composition (see conv3d) as one node on arrays:
    x's depth taps (N*OD, C*KD, H, W) (kept for the backward), one conv2d, the output's (OD, O)
    axes swapped; gradients as _Conv3dDirect's. On small inputs conv3d's recorded composition
    (four nodes and their checks) cost more than the convolution."""

    @staticmethod
    def engine(ctx, x, w, b, s, pad, d):
        n, kd = x.shape[0], w.shape[2]
        od = (x.shape[2] + 2 * pad[0] - d[0] * (kd - 1) - 1) // s[0] + 1
        ctx.taps = _C.conv3d_depth_taps(x, kd, od, s[0], d[0], pad[0])
        wu = w.reshape(w.shape[0], w.shape[1] * kd, *w.shape[3:])
        y = _C.conv2d_forward(ctx.taps, wu, b, s[1:], pad[1:], d[1:], 1)
        return np.ascontiguousarray(y.reshape(n, od, *y.shape[1:]).swapaxes(1, 2))


def _fast_conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, **kw):
    """conv3d's common one-group call (see _fast_operands) past its pointwise path, or None."""
    s, d = _fast_ints(stride, 3), _fast_ints(dilation, 3)
    p = None if type(padding) is str else _fast_ints(padding, 3)
    if kw or groups != 1 or not _fast_operands(input, weight, bias, 3, s, p, d, groups):
        return None
    xs, ws = input.data.shape, weight.data.shape
    if xs[1] != ws[1] or (ws[2], ws[3], s[0], s[1], p[0], p[1]) == (1, 1, 1, 1, 0, 0):
        return None  # (wrong channels: conv3d's message; pointwise: conv3d's own path)
    if any(n + 2 * pp - dd * (k - 1) < 1 for n, pp, dd, k in zip(xs[2:], p, d, ws[2:])):
        return None  # (a kernel over the padded input: conv3d's message)
    direct = max(s) > 1 and ws[0] >= 16
    return (_Conv3dDirect if direct else _Conv3dTaps).apply(input, weight, bias, s, p, d, padding)


@_conv_api("conv3d", _fast_conv3d)
@_integer_conv("conv3d")
def conv3d(
    input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, _direct=True
) -> Tensor:
    """3-D convolution over (N, C, D, H, W) or unbatched (C, D, H, W): weight
    (O, C/groups, KD, KH, KW), bias (O,). padding: int, triple, 'valid' or 'same' (stride 1).

    Computed as one conv2d over the depth slices a*dilation + stride*i stacked as channels
    (c, a): rare enough not to justify its own kernel, and gradients come from conv2d's.
    Output size per axis: (n + 2 padding - dilation (k - 1) - 1) // stride + 1.
    """
    op = "conv3d"
    x, weight, unbatched, s, d = _conv3d_operands(op, input, weight, stride, dilation)
    groups = _int_arg(groups, op, "groups")
    if groups < 1:
        raise BadShapeOrValue(f"{op}: groups must be >= 1, got {groups}")
    if weight.shape[0] < groups:  # an empty O too (PyTorch refuses it, even with C = 0)
        raise BadShapeOrValue(
            f"{op}: given groups={groups}, expected weight to be at least {groups} at "
            f"dimension 0, got weight of size {weight.shape}"
        )
    if x.shape[1] != weight.shape[1] * groups:
        raise BadShapeOrValue(
            f"{op}: given groups={groups}, weight of size {weight.shape}, expected input "
            f"{x.shape} to have {weight.shape[1] * groups} channels, but got {x.shape[1]}"
        )
    kd = weight.shape[2]
    if min(weight.shape[2:]) < 1:
        raise BadShapeOrValue(f"{op}: weight {weight.shape} has an empty kernel")
    _no_empty_image(op, x)
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise BadShapeOrValue(f"{op}: padding must be an int, a triple, 'valid' or 'same'")
        if padding == "same" and s != (1, 1, 1):
            raise BadShapeOrValue(f"{op}: padding='same' is not supported for strided convolutions")
        total = d[0] * (kd - 1) if padding == "same" else 0
        depth_pad, hw_pad = (total // 2, total - total // 2), padding
    else:
        p = _triple(_one(padding), op, "padding")
        if min(p) < 0:
            raise BadShapeOrValue(f"{op}: padding must be non-negative, got {padding!r}")
        depth_pad, hw_pad = (p[0], p[0]), p[1:]
    n, c = x.shape[:2]
    dp = x.shape[2] + depth_pad[0] + depth_pad[1]
    od = (dp - d[0] * (kd - 1) - 1) // s[0] + 1
    if od < 1:
        raise BadShapeOrValue(
            f"{op}: kernel depth {kd} (dilation {d[0]}) is larger than the padded input depth {dp}"
        )
    if bias is not None:
        bias = _float_input(bias, op, "bias", weight.dtype)
        if bias.shape != (weight.shape[0],):
            raise BadShapeOrValue(
                f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}"
            )
    if (
        (kd, weight.shape[3], s[0], s[1], *depth_pad) == (1, 1, 1, 1, 0, 0)
        and c > 0
        and (isinstance(hw_pad, str) or hw_pad[0] == 0)
    ):
        # one tap across depth and rows, unstrided and unpadded there (a 1x1x1 pointwise
        # convolution, 1x1xk ones): the (depth, row) pairs are rows of one conv2d over
        # (N, C, D*H, W), its output already conv3d's layout. No depth-tap copy of x and no
        # transposed output (that copy and the layout change cost ~2x on 1x1x1 convolutions).
        hp = hw_pad if isinstance(hw_pad, str) else (0, hw_pad[1])
        xr = x.reshape(n, c, x.shape[2] * x.shape[3], x.shape[4])
        wr = weight.reshape(*weight.shape[:2], 1, weight.shape[4])
        y = conv2d(xr, wr, bias, (1, s[2]), hp, (1, d[2]), groups)
        y = y.reshape(n, y.shape[1], x.shape[2], x.shape[3], y.shape[3])
        return y.squeeze(0) if unbatched else y
    if (
        groups == 1
        and max(s) > 1
        and weight.shape[0] >= 16
        and c > 0
        and not isinstance(hw_pad, str)
        and x.data.dtype.char in "fd"
        and _direct
    ):
        # strided: the direct engine, reading x in place (no depth-tap copy, no im2col); in a
        # graph too (its backward recomputes the depth taps, a copy ~3% of that backward)
        y = _Conv3dDirect.apply(x, weight, bias, s, (depth_pad[0], *hw_pad), d, padding)
        return y.squeeze(0) if unbatched else y
    # one conv2d whose input channels are (c, a) pairs: the depth taps a beside each channel,
    # (N*OD, C*KD, H, W), against weight (O, C/g*KD, KH, KW) (a plain reshape, the same (c, a)
    # order; each group's channels stay contiguous): one GEMM of depth C*KD*KH*KW instead of KD
    # shallow convolutions, their sum, a padded copy and a bias pass
    xu = _DepthTaps.apply(x, kd, od, s[0], d[0], depth_pad[0])
    wu = weight.reshape(weight.shape[0], weight.shape[1] * kd, *weight.shape[3:])
    with_bias = bias is not None and c > 0
    y = conv2d(xu, wu, bias if with_bias else None, s[1:], hw_pad, d[1:], groups)
    y = y.reshape(n, od, *y.shape[1:]).transpose(1, 2)
    pad = (depth_pad[0], *_conv_padding(hw_pad, weight.shape[3:], s[1:], d[1:], op)[::2])
    if _nonfinite_weight(y.data, weight.data, any(pad)):  # (see Conv2d.forward: the depth too)
        with no_grad():
            fin = lambda wf: conv3d(x, wf, bias, s, padding, d, groups).data  # noqa: E731
            _skip_padded_taps(y.data, x.data, weight.data, fin, s, pad, d, groups)
    if bias is not None and not with_bias:
        # (no input channels: an empty output without them, bias still on the graph)
        y = _empty_conv(y.shape, y, bias)
    return y.squeeze(0) if unbatched else y


class _ConvTranspose1d(Function):
    """ConvTranspose2d on (N, C, 1, L) views of conv_transpose1d's (N, C, L) arrays: one node
    (args: ConvTranspose2d's, the 2-D ones)."""

    @staticmethod
    def forward(ctx, x, w, b, *args):
        return ConvTranspose2d.forward(ctx, x[:, :, None], w[:, :, None], b, *args)[:, :, 0]

    @staticmethod
    def backward(ctx, g):
        dx, dw, db = ConvTranspose2d.backward(ctx, g[:, :, None])[:3]
        sq = lambda a: None if a is None else a[:, :, 0]  # noqa: E731
        return (sq(dx), sq(dw), db) + (None,) * 5

    @staticmethod
    def backward_graph(ctx, g):  # (as ConvTranspose2d's)
        x, w = _graph.inputs(ctx, *ctx.saved_tensors)
        x, w = (t if t.ndim == 4 else t.unsqueeze(2) for t in (x, w))  # (parents: 3-D)
        nx, nw, nb = ctx.needs_input_grad[:3]
        g4 = g.unsqueeze(2)
        return (
            Conv2d.apply(g4, w, None, *ctx.args).squeeze(2) if nx else None,
            _Conv2dGrad.apply(x, g4, w, ctx.args)[1].squeeze(2) if nw else None,
            g.sum((0, 2)) if nb else None,
        ) + (None,) * 5


def _fast_conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
):
    """conv_transpose1d's common call (see _fast_transposed), or None."""
    a = _fast_transposed(input, weight, bias, 1, stride, padding, output_padding, groups, dilation)
    if a is None:
        return None
    (s,), (p,), (d,), (length,) = a
    args = ((1, s), (0, p), (1, d), groups, (1, length))
    return _ConvTranspose1d.apply(input, weight, bias, *args)


@_conv_api("conv_transpose1d", _fast_conv_transpose1d)
@_integer_conv("conv_transpose1d", int64_only=True)
def conv_transpose1d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1
) -> Tensor:
    """1-D transposed convolution over (N, Cin, L) or (Cin, L): weight (Cin, Cout/groups, K),
    bias (Cout,); conv_transpose2d on (N, Cin, 1, L). Output length (L - 1) stride
    - 2 padding + dilation (K - 1) + output_padding + 1."""
    op = "conv_transpose1d"
    weight = _float_input(weight, op, "weight")
    if weight.ndim != 3:
        raise ValueError(f"{op}: weight must be 3-D (Cin, Cout/groups, K), got {weight.shape}")
    x = _seq_input(input, op, weight.dtype)
    if x.shape[-2] != weight.shape[0]:
        raise ValueError(
            f"{op}: input {x.shape} has {x.shape[-2]} channels but weight {weight.shape} "
            f"expects {weight.shape[0]}"
        )
    s, d = _single(stride, op, "stride"), _single(dilation, op, "dilation")
    p, o = _single(padding, op, "padding"), _single(output_padding, op, "output_padding")
    if o >= max(s, d) and (x.ndim == 2 or x.shape[0]):  # (not checked for an empty batch)
        raise ValueError(
            f"{op}: output_padding {o} must be smaller than either stride {s} or dilation {d}"
        )
    batched = x if x.ndim == 3 else x.unsqueeze(0)
    _transposed_size(op, batched, weight, (s,), (p,), (d,), (o,), _int_arg(groups, op, "groups"))
    y = conv_transpose2d(
        x.unsqueeze(-2), weight.unsqueeze(-2), bias, (1, s), (0, p), (0, o), groups, (1, d)
    )
    return y.squeeze(-2)


class _ConvTranspose3d(Function):
    """conv_transpose3d as one node on arrays: conv3d's input gradient through the depth-tap
    composition (see conv3d), x's (D, Cin) axes swapped into the output gradient of one conv2d
    over the taps (N*D, Cout*KD, OH, OW), their adjoint summing the taps into the output.
    The recorded composition (KD conv_transpose2d, pads, a sum) cost ~10x torch per small call.
    args: (stride, padding, dilation, groups) as triples (groups an int); out: the output
    (OD, OH, OW)."""

    @staticmethod
    def forward(ctx, x, w, b, s, p, d, groups, out):
        x, w = _contig(x), _contig(w)
        n, cin, depth = x.shape[:3]
        kd, cout = w.shape[2], w.shape[1] * groups
        x2 = np.ascontiguousarray(x.swapaxes(1, 2)).reshape(n * depth, cin, *x.shape[3:])
        wu = w.reshape(cin, w.shape[1] * kd, *w.shape[3:])
        taps = np.empty((n * depth, cout * kd, *out[1:]), x.dtype)  # (shape only)
        gu, _, _ = _C.conv2d_backward(
            x2, taps, wu, s[1:], p[1:], d[1:], groups,
            need_input=True, need_weight=False, need_bias=False,
        )  # fmt: skip
        y = _C.conv3d_depth_taps_backward(gu, [n, cout, *out], kd, depth, s[0], d[0], p[0])
        if b is not None:
            y += b.reshape(-1, 1, 1, 1)
        ctx.save_for_backward(x2, w)
        ctx.args = (s, p, d, groups, depth)
        return y

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        s, p, d, groups, depth = ctx.args
        g = _contig(g.astype(x2.dtype, copy=False))
        kd, n = w.shape[2], g.shape[0]
        taps = _C.conv3d_depth_taps(g, kd, depth, s[0], d[0], p[0])
        wu = w.reshape(w.shape[0], w.shape[1] * kd, *w.shape[3:])
        dx = dw = None
        if nx:  # conv3d(g, w)
            y = _C.conv2d_forward(taps, wu, None, s[1:], p[1:], d[1:], groups)
            dx = np.ascontiguousarray(y.reshape(n, depth, *y.shape[1:]).swapaxes(1, 2))
            if _nonfinite_weight(dx, w, any(p)):  # (as Conv2d.forward's)
                with no_grad():
                    fin = lambda wf: conv3d(Tensor(g), Tensor(wf), None, s, p, d, groups).data  # noqa: E731
                    _skip_padded_taps(dx, g, w, fin, s, p, d, groups)
        if nw:
            _, dwu, _ = _C.conv2d_backward(
                x2, taps, wu, s[1:], p[1:], d[1:], groups,
                need_input=False, need_weight=True, need_bias=False,
            )  # fmt: skip
            dw = dwu.reshape(w.shape)
        db = g.sum(axis=(0, 2, 3, 4)) if nb else None
        return dx, dw, db, None, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        s, p, d, groups, depth = ctx.args
        x2, w = ctx.saved_tensors
        x, w = _graph.inputs(ctx, x2.reshape(-1, depth, *x2.shape[1:]).swapaxes(1, 2), w)
        b = ctx.parents[2]  # (only a bias that requires grad: it does not change x's, w's)
        o = tuple(n - ((i - 1) * ss - 2 * pp + dd * (k - 1) + 1) for n, i, ss, pp, dd, k in
                  zip(g.shape[2:], x.shape[2:], s, p, d, w.shape[2:]))  # fmt: skip

        def composed(x, w, *b):  # the recorded composition
            bb = b[0] if b else None
            return conv_transpose3d(x, w, bb, s, p, o, groups, d, _fast=False)

        grads = _graph.recompute(ctx, (g,), composed, x, w, *([] if b is None else [b]))
        return (*grads, *([None] * (8 - len(grads))))


def _fast_conv_transpose3d(
    input, weight, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1, **kw
):
    """conv_transpose3d's common call (see _fast_transposed), or None."""
    if kw:
        return None
    a = _fast_transposed(input, weight, bias, 3, stride, padding, output_padding, groups, dilation)
    return None if a is None else _ConvTranspose3d.apply(input, weight, bias, *a[:3], groups, a[3])


@_conv_api("conv_transpose3d", _fast_conv_transpose3d)
@_integer_conv("conv_transpose3d", int64_only=True)
def conv_transpose3d(
    input,
    weight,
    bias=None,
    stride=1,
    padding=0,
    output_padding=0,
    groups=1,
    dilation=1,
    *,
    _fast=True,
) -> Tensor:
    """3-D transposed convolution over (N, Cin, D, H, W) or (Cin, D, H, W): weight
    (Cin, Cout/groups, KD, KH, KW), bias (Cout,). Output size per axis (n - 1) stride
    - 2 padding + dilation (k - 1) + output_padding + 1.

    Composed as conv3d is: for each kernel depth a, conv_transpose2d of every input depth
    slice lands at depth i * stride + a * dilation of the uncropped output; the sum is then
    cropped by ``padding`` (gradients come from conv_transpose2d, pad and slicing).
    """
    op = "conv_transpose3d"
    x, weight, unbatched, s, d = _conv3d_operands(op, input, weight, stride, dilation)
    if x.shape[1] != weight.shape[0]:
        raise BadShapeOrValue(
            f"{op}: input {x.shape} has {x.shape[1]} channels but weight {weight.shape} "
            f"expects {weight.shape[0]}"
        )
    if weight.shape[0] == 0:  # (as conv_transpose2d)
        raise BadShapeOrValue(f"{op}: in_channels must be positive, got weight {weight.shape}")
    p, o = (
        _triple(_one(padding), op, "padding"),
        _triple(_one(output_padding), op, "output_padding"),
    )
    if min(p) < 0 or min(o) < 0:
        raise BadShapeOrValue(f"{op}: padding and output_padding must be >= 0")
    if x.shape[0] and any(oo >= max(ss, dd) for oo, ss, dd in zip(o, s, d)):  # (as 2-D)
        raise BadShapeOrValue(
            f"{op}: output_padding {o} must be smaller than either stride {s} or dilation {d}"
        )
    out = _transposed_size(op, x, weight, s, p, d, o, _int_arg(groups, op, "groups"))
    if x.shape[0] == 0 or 0 in out:
        if weight.shape[0] % max(_int_arg(groups, op, "groups"), 1):
            raise BadShapeOrValue(f"{op}: in_channels {weight.shape[0]} not divisible by groups")
        if bias is not None:
            bias = _float_input(bias, op, "bias", weight.dtype)
        y = _empty_conv((x.shape[0], weight.shape[1] * groups, *out), x, weight, bias)
        return y.squeeze(0) if unbatched else y
    out_d = out[0]
    n, cin, depth, h, w = x.shape
    kd = weight.shape[2]
    full = (depth - 1) * s[0] + d[0] * (kd - 1) + 1
    slices = x.transpose(1, 2).reshape(n * depth, cin, h, w)
    span = (depth - 1) * s[0] + 1  # the depths one kernel tap's slices cover, stride apart
    total = None
    for a in range(kd):
        y = conv_transpose2d(slices, weight[:, :, a], None, s[1:], p[1:], o[1:], groups, d[1:])
        y = y.reshape(n, depth, *y.shape[1:])
        if s[0] > 1:  # zero-stuff: slice i goes to depth i * stride
            zeros = Tensor(np.zeros((n, depth, s[0] - 1, *y.shape[2:]), y.dtype))
            y = ops.cat([y.unsqueeze(2), zeros], 2).reshape(n, depth * s[0], *y.shape[2:])
            y = y[:, :span]
        y = pad(y.transpose(1, 2), (0, 0, 0, 0, a * d[0], full - a * d[0] - span))
        total = y if total is None else total + y
    tail = max(p[0] + out_d - full, 0)  # output_padding past the last tap: zeros
    if tail:
        total = pad(total, (0, 0, 0, 0, 0, tail))
    y = total[:, :, p[0] : p[0] + out_d]
    if bias is not None:
        bias = _float_input(bias, op, "bias", weight.dtype)
        cout = weight.shape[1] * groups
        if bias.shape != (cout,):
            raise BadShapeOrValue(f"{op}: bias must have shape ({cout},), got {bias.shape}")
        y = y + bias.reshape(-1, 1, 1, 1)
    return y.squeeze(0) if unbatched else y


@_torch_loss_params("input", "target", "size_average", "reduce", "reduction")
def multilabel_margin_loss(input, target, reduction: str = "mean") -> Tensor:
    """Multi-class multi-label hinge loss, as PyTorch: for each sample,
    sum over its targets j and non-targets i of max(0, 1 - (x[j] - x[i])) / C. ``target``
    holds class indices, ended by the first -1 (the rest is ignored).

    Shape: input (C,) or (N, C), target the same shape (int64) -> () or (N,) with 'none'.
    """
    op = "multilabel_margin_loss"
    _check_reduction(op, reduction)
    x = _float_input(input, op)
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise BadDtype(f"{op}: target must be an integer tensor, got {t.dtype}")
    if x.ndim == 0 and t.ndim == 0:  # PyTorch reads 0-d input and target as (C,) with C = 1
        x, t = x.reshape(1), t.reshape(1)
    if x.ndim not in (1, 2) or t.shape != x.shape:
        raise BadShapeOrValue(
            f"{op}: inconsistent input {x.shape} and target {t.shape}: expected (C,) or (N, C) "
            "for both"
        )
    x2 = x.reshape(-1, x.shape[-1]) if x.ndim == 1 else x
    t2 = t.reshape(x2.shape).astype(np.int64)
    n, c = x2.shape
    valid = np.cumprod(t2 != -1, axis=1).astype(bool)  # targets before the first -1
    if np.any(valid & ((t2 < 0) | (t2 >= c))):
        raise _IndexRuntimeError(
            f"{op}: target values must be in [-1, {c}), got {t2.min()}..{t2.max()}"
        )
    tgt = np.where(valid, t2, 0)
    is_target = np.zeros((n, c), bool)
    rows = np.repeat(np.arange(n), c)[valid.ravel()]
    is_target[rows, tgt[valid]] = True
    xt = ops.gather(x2, 1, tgt)  # (N, K): the target scores
    z = 1.0 - xt.unsqueeze(2) + x2.unsqueeze(1)  # (N, K, C)
    # PyTorch adds the terms with z > 0 only: a NaN term (from a NaN score) is skipped too
    keep = valid[:, :, None] & ~is_target[:, None, :] & (z.data > 0)
    loss = ops.where(keep, z, 0.0).sum((1, 2)) / c
    if x.ndim == 1:
        loss = loss.reshape(())
    return _autograd_function.named(_reduce(loss, reduction), "MultilabelMarginLossBackward0")


def gumbel_softmax(
    logits, tau: float = 1.0, hard: bool = False, eps: float = 1e-10, dim: int = -1
) -> Tensor:
    """A sample from the Gumbel-softmax (concrete) distribution, as PyTorch: softmax((logits
    + g) / tau) with g = -log(Exponential(1)) noise from ember's generator (ember.manual_seed).
    ``hard`` returns the one-hot argmax in the forward pass with the soft sample's gradient
    (straight-through). ``eps`` is unused, as in PyTorch."""
    from ember.random import rng as _global_rng

    op = "gumbel_softmax"
    x = _float_input(logits, op, "logits")
    dim = _dim(dim, x.ndim, op)
    g = -np.log(_global_rng().exponential(size=x.shape).astype(x.dtype, copy=False))
    y = softmax((x + Tensor(g)) / tau, dim)
    if not hard:
        return y
    one = np.zeros(x.shape, x.dtype)
    if x.ndim == 0:  # (a 0-d sample is its own argmax)
        one[()] = 1
    else:
        np.put_along_axis(one, np.expand_dims(np.argmax(y.data, axis=dim), dim), 1, axis=dim)
    return Tensor(one) - y.detach() + y


def pdist(input, p: float = 2.0) -> Tensor:
    """The p-norm distance between every pair of rows of an (N, M) input: the (N (N - 1) / 2,)
    upper triangle of the distance matrix, row-major, as PyTorch."""
    op = "pdist"
    x = _float_input(input, op)
    if x.data.itemsize == 2:  # (float16 / bfloat16: torch has no kernel)
        raise _NoKernel(f"{op}: not implemented for {x.dtype}, as torch")
    if x.ndim != 2:
        raise BadShapeOrValue(f"{op}: only supports 2-D tensors, got {x.ndim}-D input {x.shape}")
    if not p >= 0:
        raise BadShapeOrValue(f"{op}: only supports non-negative p values, got {p}")
    return _autograd_function.named(_pdist_rows(x, p), "PdistBackward0")  # (torch's kernel)


def _pdist_rows(x: Tensor, p: float) -> Tensor:
    """pdist of a checked (N, M) x, composed."""
    i, j = np.triu_indices(x.shape[0], 1)
    d = x[i] - x[j]
    if p == 0:  # the count of differing coordinates: piecewise constant, a zero gradient
        count = (d.data != 0).sum(-1).astype(x.dtype)
        count[np.isnan(d.data).any(-1)] = np.nan  # (a NaN coordinate: NaN, as PyTorch's kernel)
        return ops.where(np.ones(count.shape, bool), Tensor(count), d.sum(-1))
    if p == 2:  # sqrt has an infinite slope at 0; PyTorch gives identical rows gradient 0
        sq = (d * d).sum(-1)
        zero = sq.data == 0
        return ops.where(zero, 0.0, ops.where(zero, 1.0, sq).sqrt())
    if p == np.inf and d.shape[0]:
        # PyTorch's pdist backward gives every tied maximum |d| the full gradient (the norm's
        # shares it): max + sum((|d| - max) over the ties), whose value is the max
        a = d.abs()
        m = a.data.max(-1, keepdims=True, initial=0)  # 0: the norm of an empty row
        return Tensor(m[:, 0]) + ((a - m) * (a.data == m)).sum(-1)
    return _pnorm(d, float(p))


_ALIGN_WARNING = (
    "Default grid_sample and affine_grid behavior has changed to align_corners=False since "
    "1.3.0. Please specify align_corners=True if the old behavior is desired. See the "
    "documentation of grid_sample for details."
)


def affine_grid(theta, size, align_corners=None) -> Tensor:
    """The sampling grid of an affine transform, for grid_sample, as PyTorch.

    theta (N, 2, 3) with size (N, C, H, W) -> grid (N, H, W, 2), or theta (N, 3, 4) with size
    (N, C, D, H, W) -> (N, D, H, W, 3); each grid point is theta @ (x, y[, z], 1) for the
    output pixel's normalised coordinates in [-1, 1] (pixel centres unless align_corners).
    """
    op = "affine_grid"
    if isinstance(theta, Tensor) and not _lowp.is_float(theta.data.dtype):
        raise _DtypeValueError(
            f"{op}: expected theta to have floating point type, got {theta.dtype}"
        )
    th = _float_input(theta, op, "theta")
    size = tuple(int(s) for s in size)
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=2)
        align_corners = False
    align_corners = _bool_arg(align_corners, op, "align_corners")
    nd = len(size) - 2
    if nd not in (2, 3):
        raise NotImplementedError(f"{op} only supports 4D and 5D sizes, got size {list(size)}")
    if th.ndim != 3 or th.shape != (size[0], nd, nd + 1):
        raise BadShapeOrValue(
            f"{op}: expected a batch of {nd}D affine matrices of shape (N, {nd}, {nd + 1}) for "
            f"size {list(size)}, got theta of shape {th.shape}"
        )
    if align_corners and min(size[2:]) == 1:
        warnings.warn(
            "Since version 1.3.0, affine_grid behavior has changed for unit-size grids when "
            "align_corners=True. This is not an intended use case of affine_grid. See the "
            "documentation of affine_grid for details.",
            UserWarning,
            stacklevel=2,
        )
    elif min(size) <= 0:  # (as PyTorch, also N and C; not checked after the warning above)
        raise BadShapeOrValue(f"{op}: expected non-zero, positive output size, got {list(size)}")

    def axis(n):  # the normalised coordinates of n pixels along one axis
        if n == 1:
            return np.zeros(1)
        c = np.linspace(-1.0, 1.0, n)
        return c if align_corners else c * (n - 1) / n

    spatial = size[2:]
    coords = np.meshgrid(*[axis(n) for n in spatial], indexing="ij")  # (D,) H, W order
    base = np.stack([*coords[::-1], np.ones(spatial)], axis=-1).astype(th.dtype)  # x, y[, z], 1
    base = Tensor(base.reshape(1, -1, nd + 1))
    grid = ops.matmul(base, th.transpose(1, 2))  # (N, P, nd)
    return _node(grid.reshape(size[0], *spatial, nd), "AffineGridGeneratorBackward0")


def _reflect(coord: np.ndarray, lo2: float, hi2: float):
    """PyTorch's reflect_coordinates: coord reflected into [lo2 / 2, hi2 / 2], and d/dcoord."""
    if lo2 == hi2:
        return np.zeros_like(coord), np.zeros_like(coord)
    mn, span = lo2 / 2, (hi2 - lo2) / 2
    below = coord < mn
    c = np.where(below, mn - coord, coord - mn)
    sign = np.where(below, -1.0, 1.0)
    extra, flips = np.fmod(c, span), np.floor(c / span)
    even = flips % 2 == 0
    return np.where(even, extra + mn, span - extra + mn), np.where(even, sign, -sign)


def _source_index(g: np.ndarray, n: int, padding_mode: str, align_corners: bool, nd: int = 2):
    """Normalised grid coordinates -> pixel coordinates along an axis of n pixels, after the
    padding mode, and the derivative of that map (for the grid's gradient)."""
    if align_corners:
        c, dc = (g + 1) / 2 * (n - 1), np.full(g.shape, (n - 1) / 2)
    else:
        c, dc = ((g + 1) * n - 1) / 2, np.full(g.shape, n / 2)
    if padding_mode == "reflection":
        c, dr = _reflect(c, 0.0, 2.0 * (n - 1)) if align_corners else _reflect(c, -1.0, 2.0 * n - 1)
        dc = dc * dr
    if padding_mode in ("border", "reflection"):  # clip_coordinates_set_grad
        inside = (c > 0) & (c < n - 1)
        # a NaN coordinate clips as torch's: to 0 in 2-D (its vector kernel's clamp_min(0, in)),
        # to n - 1 in 3-D (its scalar std::min(n - 1, std::max(in, 0)))
        if nd == 3:
            c = np.fmin(np.maximum(c, 0), n - 1)
        else:
            c = np.minimum(np.fmax(c, 0), n - 1)
        dc = dc * inside
    return c, dc


def _tap_index(i: np.ndarray, n: int, padding_mode: str, align_corners: bool) -> np.ndarray:
    # PyTorch's bicubic grid_sample pads each of the 4 x 4 tap indices, not the source point
    if padding_mode == "reflection":
        lo2, hi2 = (0.0, 2.0 * (n - 1)) if align_corners else (-1.0, 2.0 * n - 1)
        i = _reflect(i, lo2, hi2)[0]
    if padding_mode != "zeros":
        i = np.clip(i, 0, n - 1)
    return np.trunc(i)


def _grid_taps_numpy(x, grid, mode, padding_mode, align_corners):
    """grid_sample's taps in NumPy (bicubic; bilinear and nearest run in C++): per tap the
    per-axis weights and their derivatives, the flat positions (-1 outside) and weights."""
    n, sizes = x.shape[0], x.shape[2:]
    nd = len(sizes)
    cubic = mode == "bicubic"
    coords, slopes = [], []  # per spatial axis (D,) H, W: source coordinates, d/dgrid
    for a in range(nd):
        # grid's last dim is (x, y[, z]); (no -1: n or the output may be empty)
        g = grid[..., nd - 1 - a].reshape(n, math.prod(grid.shape[1:-1]))
        ci, dci = _source_index(g, sizes[a], "zeros" if cubic else padding_mode, align_corners, nd)
        coords.append(ci)
        slopes.append(dci)
    if mode == "nearest":
        base = [np.rint(ci) for ci in coords]  # nearbyint: halves to even, as PyTorch
        frac, bits = None, [(0,) * nd]
    elif cubic:
        base = [np.floor(ci) for ci in coords]
        frac = [_cubic_weights(ci - b) for ci, b in zip(coords, base)]
        bits = list(itertools.product(range(4), repeat=nd))
    else:
        base = [np.floor(ci) for ci in coords]
        frac = [ci - b for ci, b in zip(coords, base)]
        bits = list(itertools.product((0, 1), repeat=nd))
    p = coords[0].shape[1]
    # every tap's flat input position (-1 outside) and weight per point: the gather over
    # the channels and its adjoints run in C++ (resample.cpp, point_taps_*)
    idx = np.empty((n, len(bits), p), np.int64)
    wk = np.empty((n, len(bits), p), x.dtype)
    taps = []
    for k, bit in enumerate(bits):
        ok, flat, wts, dwts = True, 0, [], []  # per axis: weight, d weight / d coordinate
        for a in range(nd):
            if cubic:
                i = _tap_index(base[a] + bit[a] - 1, sizes[a], padding_mode, align_corners)
                wts.append(frac[a][bit[a]][0])
                dwts.append(frac[a][bit[a]][1])
            else:
                i = base[a] + bit[a]
                if frac is not None:
                    wts.append(frac[a] if bit[a] else 1 - frac[a])
                    dwts.append(1.0 if bit[a] else -1.0)
            inside = (i >= 0) & (i < sizes[a])  # (False for a NaN or huge coordinate,
            ok = ok & inside  # whose cast to int64 would be junk: never read)
            flat = flat * sizes[a] + np.where(inside, i, 0).astype(np.int64)
        idx[:, k] = np.where(ok, flat, -1)
        wk[:, k] = np.prod(wts, axis=0) if wts else 1
        if nd == 3:  # torch's 3-D kernel skips a tap outside (its 2-D one adds 0 * weight,
            wk[:, k] = np.where(ok, wk[:, k], 0)  # NaN for a NaN / inf coordinate)
        taps.append((dwts, wts))
    return taps, idx, wk, slopes


def _grid_taps(ctx):
    """The taps of ctx's grid_sample, made once for its backward: (taps, idx, wk, slopes) as
    _grid_taps_numpy's (bicubic's are made by its forward); bilinear / nearest from C++
    (resample.cpp, grid_sample_taps)."""
    if ctx.taps is None:
        x_shape, grid, mode, padding_mode, align_corners = ctx.args
        nd = len(x_shape) - 2
        idx, wk, frac, slope = _C.grid_sample_taps(
            grid, list(x_shape[2:]), mode, padding_mode, align_corners
        )
        taps = []  # per tap k (axis 0 its high bit): per axis the weight, d weight / d coord
        for k in range(idx.shape[1]):
            bits = [(k >> (nd - 1 - a)) & 1 for a in range(nd)] if mode != "nearest" else []
            wts = [frac[:, a] if b else 1 - frac[:, a] for a, b in enumerate(bits)]
            taps.append(([1.0 if b else -1.0 for b in bits], wts))
        ctx.taps = (taps, idx, wk, list(slope.transpose(1, 0, 2)))
    return ctx.taps


class GridSample(Function):
    # x (N, C, *S) with 2 or 3 spatial dims, grid (N, *O, nd) of normalised (x, y[, z])
    # -> y (N, C, *O): each output reads the 2^nd corners around its source point (bilinear /
    # trilinear weights), the 4 x 4 pixels around it (bicubic) or the nearest one. Bilinear and
    # nearest run whole in C++ (resample.cpp, grid_sample_forward); the backward's taps are
    # made when it runs (_grid_taps)
    @staticmethod
    @np.errstate(invalid="ignore", over="ignore")  # a NaN / inf grid point: silent, as PyTorch
    def forward(ctx, x, grid, mode, padding_mode, align_corners):
        n, c = x.shape[:2]
        ctx.args = (x.shape, grid, mode, padding_mode, align_corners)
        ctx.taps = None
        if mode != "bicubic":
            out = _C.grid_sample_forward(x, grid, mode, padding_mode, align_corners)
        else:
            ctx.taps = _grid_taps_numpy(x, grid, mode, padding_mode, align_corners)
            xf = x.reshape(n, c, math.prod(x.shape[2:]))
            out = _C.point_taps_forward(xf, ctx.taps[1], ctx.taps[2])
            out = out.reshape(n, c, *grid.shape[1:-1])
        if ctx.needs_input_grad[1] and mode != "nearest":  # the taps' values, for d grid
            ctx.save_for_backward(x.reshape(n, c, math.prod(x.shape[2:])))
        return out

    @staticmethod
    @np.errstate(invalid="ignore", over="ignore")
    def backward(ctx, g):
        shape, grid, mode = ctx.args[:3]
        gshape = grid.shape
        n, c = shape[:2]
        m = int(np.prod(shape[2:]))
        nd = len(shape) - 2
        if g.size == 0:  # no batch, channel or output point: nothing flows back
            dx, dgrid = np.zeros(shape, g.dtype), np.zeros(gshape, g.dtype)
            return dx, dgrid, None, None, None
        g = _contig(g.reshape(n, c, -1))
        taps, idx, wk, slopes = _grid_taps(ctx)
        dx = dgrid = None
        if ctx.needs_input_grad[0]:
            dx = _C.point_taps_backward(g, idx, wk.astype(g.dtype, copy=False), m).reshape(shape)
        if ctx.needs_input_grad[1]:
            dgrid = np.zeros(gshape, g.dtype)
            if mode != "nearest":  # d weight / d coordinate a: the other axes' weights times
                (xf,) = ctx.saved_tensors  # axis a's weight's derivative, times sum_c x g
                dots = _C.point_taps_dot(xf, g.astype(xf.dtype, copy=False), idx)
                for a in range(nd):
                    acc = 0
                    for k, (dwts, wts) in enumerate(taps):
                        others = np.prod([w for b, w in enumerate(wts) if b != a], axis=0)
                        acc = acc + dots[:, k] * (others * dwts[a])
                    dgrid[..., nd - 1 - a] = (acc * slopes[a]).reshape(gshape[:-1])
        return dx, dgrid, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        shape, gshape = ctx.args[0], ctx.args[1].shape
        if ctx.needs_input_grad[1] and ctx.args[2] != "nearest" and g.numel():
            # the weights' derivatives in the grid: the forward in Tensor ops, differentiated
            (xf,) = ctx.saved_tensors
            x, grid = _graph.inputs(ctx, xf.reshape(shape), ctx.args[1])
            gx, ggrid = _graph.recompute(
                ctx, (g,), lambda a, b: _grid_sample_graph(ctx, a, b), x, grid
            )
            return gx, ggrid, None, None, None
        _, idx, wk, _ = _grid_taps(ctx)
        n, c = shape[:2]

        def fwd(v):  # forward on a direction v, the grid fixed: linear in v
            vf = _contig(np.asarray(v).reshape(n, c, -1))
            out = _C.point_taps_forward(vf, idx, wk.astype(vf.dtype, copy=False))
            return out.reshape(n, c, *gshape[1:-1])

        # nearest: the grid's gradient is zero, in the graph (as torch's: differentiating it
        # gives zeros, not "unused")
        grid = ctx.parents[1]
        gx = _graph.linear(ctx, g, fwd, mask_of=grid) if ctx.needs_input_grad[0] else None
        ggrid = None
        if grid is not None:
            zero = lambda a, s: np.zeros(s, g.dtype)  # noqa: E731
            ggrid = _graph.LinearMap.apply(
                g, lambda a: zero(a, gshape), lambda v: zero(v, g.shape), grid
            )
        return gx, ggrid, None, None, None


def _grid_sample_graph(ctx, x: Tensor, grid: Tensor) -> Tensor:
    """GridSample's forward in Tensor ops at ctx's grid, for its second derivatives (torch
    differentiates its backward): near each point a source coordinate is linear in the grid
    (the slope of unnormalising, clipping and reflecting, as torch's *_set_grad), the taps'
    weights polynomials in the coordinate's fraction, the taps fixed."""
    shape, grid0, mode, padding_mode, align_corners = ctx.args
    taps, idx, _, slopes = _grid_taps(ctx)
    n, c = shape[:2]
    nd, p = len(shape) - 2, idx.shape[2]
    fracs = []
    for a in range(nd):
        ga = ops.reshape(grid[..., nd - 1 - a], (n, p))
        if mode == "bicubic":
            ci = _source_index(
                grid0[..., nd - 1 - a].reshape(n, p), shape[2 + a], "zeros", align_corners, nd
            )[0]
            t0 = ci - np.floor(ci)
        else:
            t0 = taps[-1][1][a]  # (the last tap's weights are the fractions themselves)
        fracs.append(_graph.constant(t0) + (ga - ga.detach()) * _graph.constant(slopes[a]))
    if mode == "bicubic":
        cubic = [[w for w, _ in _cubic_weights(t)] for t in fracs]
        bits = list(itertools.product(range(4), repeat=nd))
        per_axis = [[cubic[a][b] for a, b in enumerate(bit)] for bit in bits]
    else:
        per_axis = [
            [t if (k >> (nd - 1 - a)) & 1 else 1 - t for a, t in enumerate(fracs)]
            for k in range(idx.shape[1])
        ]
    xf = ops.reshape(x, (n, c, -1))
    out = 0
    for k, ws in enumerate(per_axis):
        ok = idx[:, k] >= 0
        at = np.broadcast_to(np.where(ok, idx[:, k], 0)[:, None, :], (n, c, p))
        w = functools.reduce(lambda u, v: u * v, ws) * _graph.constant(ok.astype(x.dtype))
        out = out + ops.gather(xf, 2, Tensor(np.ascontiguousarray(at))) * ops.unsqueeze(w, 1)
    return ops.reshape(out, (n, c, *grid0.shape[1:-1]))


def grid_sample(
    input, grid, mode: str = "bilinear", padding_mode: str = "zeros", align_corners=None
) -> Tensor:
    """Samples input (N, C, H, W) at the normalised (x, y) locations of grid (N, Ho, Wo, 2)
    -> (N, C, Ho, Wo), or (N, C, D, H, W) at (x, y, z) of grid (N, Do, Ho, Wo, 3), as PyTorch
    (spatial transformer networks); gradients reach input and grid.

    Args:
        mode: 'bilinear' (trilinear in 3-D), 'nearest' (ties round half to even, as
            PyTorch) or 'bicubic' (4-D input only).
        padding_mode: outside locations read 'zeros', the 'border' value, or the
            'reflection' of the image.
        align_corners: -1 and 1 are the corner pixels' centres (True) or the image's outer
            edges (False, the default after a warning, as PyTorch).
    """
    op = "grid_sample"
    x = _float_input(input, op)
    gr = _float_input(grid, op, "grid", x.dtype)
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise BadShapeOrValue(
            f"{op}: expected mode to be 'bilinear', 'nearest' or 'bicubic', but got: '{mode}'"
        )
    if padding_mode not in ("zeros", "border", "reflection"):
        raise BadShapeOrValue(
            f"{op}: expected padding_mode to be 'zeros', 'border', or 'reflection', but got: "
            f"'{padding_mode}'"
        )
    if mode == "bicubic" and x.ndim != 4:
        raise BadShapeOrValue(f"{op}: mode='bicubic' needs a 4-D input, got shape {x.shape}")
    if align_corners is None:
        warnings.warn(_ALIGN_WARNING, UserWarning, stacklevel=2)
        align_corners = False
    if (
        x.ndim not in (4, 5)
        or gr.ndim != x.ndim
        or gr.shape[-1] != x.ndim - 2
        or gr.shape[0] != x.shape[0]
    ):
        raise BadShapeOrValue(
            f"{op}: expected a 4-D input (N, C, H, W) with a grid (N, H_out, W_out, 2), or a "
            f"5-D input with a grid (N, D_out, H_out, W_out, 3), the same N; got input "
            f"{x.shape} and grid {gr.shape}"
        )
    if min(x.shape[2:]) < 1:
        raise BadShapeOrValue(f"{op}: input {x.shape} has an empty spatial dim")
    y = GridSample.apply(x.contiguous(), gr.contiguous(), mode, padding_mode, bool(align_corners))
    return _node(y, f"GridSampler{x.ndim - 2}DBackward0")


class _BagSum(Function):
    # rows (T, D), bag (T,) sorted bag ids -> (B, D): the sum of each bag's rows (empty: 0)
    @staticmethod
    def forward(ctx, rows, bag, nbags):
        out = np.zeros((nbags, rows.shape[1]), rows.dtype)
        np.add.at(out, bag, rows)
        ctx.bag = bag
        return out

    @staticmethod
    def backward(ctx, g):
        return g[ctx.bag], None, None

    @staticmethod
    def backward_graph(ctx, g):
        nbags = g.shape[0]
        fwd = lambda v: _BagSum.forward(_graph.scratch(_BagSum), v, ctx.bag, nbags)  # noqa: E731
        return _graph.linear(ctx, g, fwd), None, None


class _EmbeddingBagSum(Function):
    # weight (V, D), flat (T,) int64, bounds (B+1,) -> (B, D): each bag's sum of the rows it
    # indexes (padding_idx left out; mean: over their count), fused in C++ (embedding.cpp)
    @staticmethod
    def forward(ctx, weight, flat, bounds, pad, mean):
        ctx.meta = (flat, bounds, weight.shape[0], pad, mean)
        return _C.embedding_bag_forward(_contig(weight), flat, bounds, pad, mean)

    @staticmethod
    def backward(ctx, g):
        flat, bounds, v, pad, mean = ctx.meta
        dw = _C.embedding_bag_backward(_contig(g), flat, bounds, v, pad, mean)
        return dw, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        flat, bounds, _, pad, mean = ctx.meta
        fwd = lambda w: _C.embedding_bag_forward(_contig(w), flat, bounds, pad, mean)  # noqa: E731
        return _graph.linear(ctx, g, fwd), None, None, None, None


class _EmbeddingBagMax(Function):
    # weight (V, D), flat (T,) int64, bounds (B+1,) -> (B, D): each bag's per-column max over
    # its rows (padding_idx left out; empty: 0), the gradient to the first maximal row as
    # PyTorch; fused in C++ (embedding.cpp)
    @staticmethod
    def forward(ctx, weight, flat, bounds, pad):
        out, arg = _C.embedding_bag_max_forward(_contig(weight), flat, bounds, pad)
        ctx.meta = (arg, weight.shape[0])
        return out

    @staticmethod
    def backward(ctx, g):
        arg, v = ctx.meta
        return _C.embedding_bag_max_backward(_contig(g), arg, v), None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return _at_bag_maxima(ctx, g, ctx.meta[0]), None, None, None


def _at_bag_maxima(ctx, g, arg):
    """A max bag's gradient with a graph: linear in g through the source's values at each bag's
    maxima (arg (B, D): the source row of each maximum, -1 for an empty bag, which gives 0)."""
    b, d = np.nonzero(arg >= 0)

    def fwd(src):
        out = np.zeros(arg.shape, src.dtype)
        out[b, d] = src[arg[b, d], d]
        return out

    return _graph.linear(ctx, g, fwd, mask_of=ctx.parents[0])


class _BagMax(Function):
    # rows (T, D), bag (T,) sorted bag ids -> (B, D): each bag's per-dim max (empty: 0); the
    # gradient goes to the first maximal row, as PyTorch. PyTorch scans each bag from its first
    # row replacing on v > max, so a NaN first row stays and a later NaN never wins
    @staticmethod
    def forward(ctx, rows, bag, nbags):
        t, d = rows.shape
        out = np.zeros((nbags, d), rows.dtype)
        arg = np.full((nbags, d), -1, np.int64)
        if t:
            starts = np.flatnonzero(np.r_[True, bag[1:] != bag[:-1]])
            r = np.where(np.isnan(rows), -np.inf, rows)
            full = np.maximum.reduceat(r, starts, axis=0)
            own = full[np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, t]))]
            first = np.where(r == own, np.arange(t)[:, None], t)  # row ids of the maxima
            at = np.minimum.reduceat(first, starts, axis=0)
            lead = np.isnan(rows[starts])  # a bag whose first row is NaN keeps it
            full[lead], at[lead] = np.nan, np.broadcast_to(starts[:, None], lead.shape)[lead]
            out[bag[starts]] = full
            arg[bag[starts]] = at
        ctx.state = (arg, t)
        return out

    @staticmethod
    def backward(ctx, g):
        arg, t = ctx.state
        dr = np.zeros((t, g.shape[1]), g.dtype)
        b, d = np.nonzero(arg >= 0)
        dr[arg[b, d], d] = g[b, d]
        return dr, None, None

    @staticmethod
    def backward_graph(ctx, g):
        return _at_bag_maxima(ctx, g, ctx.state[0]), None, None


def embedding_bag(
    input,
    weight,
    offsets=None,
    max_norm=None,
    norm_type: float = 2,
    scale_grad_by_freq: bool = False,
    mode: str = "mean",
    sparse: bool = False,
    per_sample_weights=None,
    include_last_offset: bool = False,
    padding_idx=None,
) -> Tensor:
    """Sums, means or maxes of bags of embeddings without building the (*, D) lookup, as
    PyTorch.

    Args:
        input: (B, L) integer indices (each row a bag, offsets None), or 1-D with ``offsets``
            (B,) holding each bag's start (plus the end, with ``include_last_offset``).
        mode: 'sum', 'mean' or 'max' over each bag; an empty bag gives zeros.
        per_sample_weights: like input, float; scales each looked-up row ('sum' only).
        padding_idx: entries equal to it are left out of their bag (and its mean's count).
        max_norm, norm_type, scale_grad_by_freq, sparse: as nn.functional.embedding.

    Shape: -> (B, embedding_dim).
    """
    if (
        (mode == "sum" or mode == "mean")
        and max_norm is None
        and padding_idx is None
        and per_sample_weights is None
        and not scale_grad_by_freq
        and not sparse
        and isinstance(input, Tensor)
        and isinstance(offsets, Tensor)
        and isinstance(weight, Tensor)
    ):
        # the common call (1-D int64 indices and offsets, a plain float table) straight to the
        # C++ pass, which checks the bounds and indices itself; anything it refuses is checked
        # again below for the error torch gives
        idx, off = input.data, offsets.data
        if (
            idx.dtype == np.int64
            and off.dtype == np.int64
            and idx.ndim == 1
            and off.ndim == 1
            and off.size
            and off[0] == 0
            and weight.dtype in (np.float32, np.float64)
        ):
            bounds = off
            if not include_last_offset:
                bounds = np.empty(off.size + 1, np.int64)
                bounds[:-1], bounds[-1] = off, idx.size
            try:
                return _bag_node(_EmbeddingBagSum.apply(weight, idx, bounds, -1, mode == "mean"))
            except ValueError:
                pass
    op = "embedding_bag"
    if mode not in ("sum", "mean", "max"):
        raise BadShapeOrValue(f"{op}: mode has to be one of sum, mean or max, got {mode!r}")
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "biu":
        raise TypeError(f"{op}: input must be an integer tensor, got {idx.dtype}")
    wdt = weight.dtype if isinstance(weight, Tensor) else np.asarray(weight).dtype
    if not _lowp.is_float(wdt):  # (torch: a RuntimeError naming the scalar types it takes)
        raise BadDtype(f"{op}: weight must be a floating-point tensor, got {wdt}")
    # torch takes int64 or int32 indices, after promoting them with the offsets (a 2-D input's
    # offsets are of its own dtype): int8 or bool input with int64 offsets passes, alone not
    off_dt = idx.dtype
    if idx.ndim == 1 and offsets is not None:
        off_dt = np.asarray(offsets.data if isinstance(offsets, Tensor) else offsets).dtype
    common = np.promote_types(idx.dtype, off_dt) if off_dt.kind in "biu" else np.dtype(np.int64)
    if common != np.int64 and common != np.int32 and (idx.ndim == 2) == (offsets is None):
        raise TypeError(
            f"{op}: input and offsets must be int64 or int32 (as torch), got {idx.dtype} and "
            f"{off_dt}"
        )
    if idx.ndim == 2:
        if offsets is not None:
            raise BadShapeOrValue(
                f"{op}: if input is 2-D, then offsets has to be None, got offsets"
            )
        nb, length = idx.shape
        if length == 0:  # PyTorch steps its bag offsets by the bag length, and refuses 0
            raise RuntimeError(
                f"{op}: a 2-D input needs bags of at least one index, got {idx.shape}"
            )
        starts = np.arange(nb) * length
        ends = starts + length
    elif idx.ndim == 1:
        if offsets is None:
            raise BadShapeOrValue(f"{op}: offsets has to be a 1-D tensor but got None")
        off = np.asarray(offsets.data if isinstance(offsets, Tensor) else offsets)
        if off.ndim != 1 or off.dtype.kind not in "iu":
            raise BadShapeOrValue(f"{op}: offsets has to be a 1-D integer tensor, got {off.shape}")
        off = off.astype(np.int64)
        if include_last_offset and off.size == 0:  # torch's check and words
            raise RuntimeError("include_last_offset: number of offset should be at least 1")
        if off.size and off[0] != 0:
            raise BadShapeOrValue(f"{op}: offsets[0] has to be 0, got {int(off[0])}")
        bounds = off if include_last_offset else np.append(off, idx.size)  # (np.r_: ~25 us)
        if np.any(np.diff(bounds) < 0) or (bounds.size and bounds[-1] > idx.size):
            raise BadShapeOrValue(
                f"{op}: offsets must be non-decreasing and at most the input size {idx.size}, "
                f"got {off.tolist()}"
            )
        starts, ends = bounds[:-1], bounds[1:]
        nb = len(starts)
    else:
        raise BadShapeOrValue(f"{op}: input has to be 1-D or 2-D, got shape {idx.shape}")
    if scale_grad_by_freq and mode == "max":
        raise BadShapeOrValue(
            f"{op}: max mode does not support scaling the gradient by the frequency"
        )
    if sparse and mode == "max":  # torch's check and type
        raise BadShapeOrValue(f"{op}: max mode does not support sparse weights")
    if per_sample_weights is not None and mode != "sum":
        raise NotImplementedError(
            f"{op}: per_sample_weights was not None. per_sample_weights is only supported for "
            f"mode='sum' (got mode='{mode}')"
        )
    flat = idx.reshape(-1).astype(common, copy=False)  # (int8 with int64 offsets: promoted)
    lens = (ends - starts).astype(np.int64)
    used = flat[: int(ends[-1])] if nb else flat[:0]  # past the last offset: unused
    if (
        max_norm is None
        and not scale_grad_by_freq
        and not sparse
        and per_sample_weights is None
        and isinstance(weight, Tensor)
        and weight.ndim == 2
        and weight.dtype in (np.float32, np.float64)
        and used.dtype in (np.int32, np.int64)
    ):
        # sum / mean of plain rows: one C++ pass per bag (no (T, D) lookup, no np.add.at);
        # the errors are embedding's, so a bad index or padding_idx falls through to it below
        v = weight.shape[0]
        pad_ok = padding_idx is None or (
            isinstance(padding_idx, int | np.integer)
            and not isinstance(padding_idx, bool)
            and -v <= padding_idx < v
        )
        if pad_ok and (not used.size or (used.min() >= 0 and used.max() < v)):
            pad = -1 if padding_idx is None else int(padding_idx) % v
            bounds = np.concatenate((starts[:1], ends)) if nb else np.zeros(1, np.int64)
            bounds = np.ascontiguousarray(bounds, np.int64)
            used = np.ascontiguousarray(used, np.int64)
            if mode == "max":
                return _bag_node(_EmbeddingBagMax.apply(weight, used, bounds, pad))
            return _bag_node(_EmbeddingBagSum.apply(weight, used, bounds, pad, mode == "mean"))
    if used.size and (used.min() < 0 or used.max() >= np.shape(weight)[0]):
        bad = used[(used < 0) | (used >= np.shape(weight)[0])][0]
        raise _IndexRuntimeError(
            f"embedding_bag: index {int(bad)} is out of range for {np.shape(weight)[0]} embeddings"
        )
    bag = np.repeat(np.arange(nb), lens)
    # dense gradients with scale_grad_by_freq are scaled below, as torch scales them
    freq_in_lookup = scale_grad_by_freq and sparse  # (which torch refuses in backward)
    emb = embedding(used, weight, padding_idx, max_norm, norm_type, freq_in_lookup, sparse)
    if scale_grad_by_freq and not sparse and used.size:
        emb = _ScaleGrad.apply(emb, 1 / _bag_freq(flat, used).astype(emb.dtype)[:, None])
    keep = np.ones(used.shape, bool)
    if padding_idx is not None:  # in range: embedding checked it
        keep = used != int(padding_idx) % np.shape(weight)[0]
    if per_sample_weights is not None:
        psw = _float_input(per_sample_weights, op, "per_sample_weights", emb.dtype)
        if psw.shape != idx.shape:
            raise BadShapeOrValue(
                f"{op}: per_sample_weights {psw.shape} must have the shape of input {idx.shape}"
            )
        emb = emb * psw.reshape(-1, 1)[: used.size]
    if mode == "max":
        return _bag_node(_BagMax.apply(emb[np.flatnonzero(keep)], bag[keep], nb))
    coef = keep.astype(emb.dtype)
    if mode == "mean":
        counts = np.bincount(bag[keep], minlength=nb)
        coef = coef / np.maximum(counts, 1)[bag].astype(emb.dtype)
    return _bag_node(_BagSum.apply(emb * Tensor(coef[:, None]), bag, nb))


def _bag_node(out: Tensor) -> Tensor:
    """embedding_bag's result, its node named as torch's one (for every mode and path)."""
    return _autograd_function.named(out, "EmbeddingBagBackward0")


def _bag_freq(flat: np.ndarray, used: np.ndarray) -> np.ndarray:
    """The count torch's CPU embedding_bag (sum / mean) divides each used index's gradient by
    with scale_grad_by_freq: over the input sorted, the g-th smallest distinct index takes the
    count of the g-th sorted entry, not its own (torch's loop reads counts[sorted[g]]).
    [5, 1, 5] sorts to [1, 5, 5]: 1 takes count(1) = 1, 5 takes count(5) = 2, as expected;
    [0, 2, 2, 5] sorts to [0, 2, 2, 5]: 5, the third distinct index, takes count(2) = 2."""
    uniq, counts = np.unique(flat, return_counts=True)
    srt = np.sort(flat)[: uniq.size]
    return counts[np.searchsorted(uniq, srt)][np.searchsorted(uniq, used)]


class _ScaleGrad(Function):
    # y = x; dx = dy * scale (a fixed array broadcasting against x)
    @staticmethod
    def forward(ctx, x, scale):
        ctx.scale = scale
        return x

    @staticmethod
    def backward(ctx, g):
        return g * ctx.scale, None

    @staticmethod
    def backward_graph(ctx, g):
        return g * _graph.constant(ctx.scale), None


class CTCLoss(Function):
    # lp (T, N, C) log-probabilities, ext (N, L) blank-interleaved targets, lengths ->
    # nll (N,): -log of the summed probability of every alignment (Graves et al., 2006),
    # by the log-space forward recursion; backward runs the backward recursion.
    @staticmethod
    def forward(ctx, lp, ext, in_len, ext_len, zero_infinity):
        ext, in_len, ext_len = (np.ascontiguousarray(a, np.int64) for a in (ext, in_len, ext_len))
        nll, alpha = _C.ctc_loss_forward(_contig(lp), ext, in_len, ext_len)  # loss.cpp
        ctx.state = (lp, ext, in_len, ext_len, alpha, nll, zero_infinity)
        if zero_infinity:
            nll = np.where(np.isinf(nll), 0.0, nll)
        return nll.astype(lp.dtype)

    @staticmethod
    def backward(ctx, g):
        lp, ext, in_len, ext_len, alpha, nll, zero_infinity = ctx.state
        g = np.ascontiguousarray(g, np.float64)
        grad = _C.ctc_loss_backward(
            g, _contig(lp), ext, in_len, ext_len, alpha, nll, bool(zero_infinity)
        )
        return grad, None, None, None, None

    @staticmethod
    def backward_graph(ctx, g):
        # as torch (its _ctc_loss_backward has no derivative): the gradient is given, and
        # differentiating it again raises
        grad = Tensor._make(CTCLoss.backward(ctx, g.data)[0], True, None, 0)
        grad = _autograd_function._DelayedError.apply(grad, "ctc_loss", ctx.parents[0], g)
        return grad, None, None, None, None


def _lengths(v, n: int, op: str, name: str) -> np.ndarray:
    a = np.asarray(v.data if isinstance(v, Tensor) else v)
    if a.dtype.kind not in "iu":
        raise TypeError(f"{op}: {name} must be integers, got {a.dtype}")
    a = a.reshape(-1).astype(np.int64)
    if a.shape != (n,):
        raise BadShapeOrValue(f"{op}: {name} must have length {n} (the batch size), got {a.shape}")
    return a


def ctc_loss(
    log_probs,
    targets,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> Tensor:
    """Connectionist temporal classification loss (Graves et al., 2006), as PyTorch.

    Args:
        log_probs: (T, N, C) or unbatched (T, C) log-probabilities (log_softmax outputs).
        targets: (N, S) padded, or 1-D concatenated targets (class indices, not blank).
        input_lengths, target_lengths: (N,) integers (Tensors or sequences).
        blank: the blank class. reduction: 'mean' (each loss over its target length,
            then the batch mean), 'sum' or 'none'.
        zero_infinity: impossible alignments give loss 0 and gradient 0 instead of inf.

    The gradient is PyTorch's: exact for the logits behind a log_softmax (it differs from
    d loss / d log_probs by exp(log_probs), which log_softmax's backward removes).
    """
    op = "ctc_loss"
    _check_reduction(op, reduction)
    lp = _float_input(log_probs, op, "log_probs")
    unbatched = lp.ndim == 2
    if unbatched:
        lp = lp.unsqueeze(1)
    if lp.ndim != 3:
        raise BadShapeOrValue(f"{op}: log_probs must be (T, N, C) or (T, C), got shape {lp.shape}")
    t_max, n, c = lp.shape
    blank = _int_arg(blank, op, "blank")
    if not 0 <= blank < c:
        raise BadShapeOrValue(f"{op}: blank must be in label range [0, {c}), got {blank}")
    in_len = _lengths(input_lengths, n, op, "input_lengths")
    tg_len = _lengths(target_lengths, n, op, "target_lengths")
    if in_len.size and (in_len.min() < 0 or in_len.max() > t_max):
        raise BadShapeOrValue(f"{op}: input_lengths must be in [0, {t_max}], got {in_len.tolist()}")
    if tg_len.size and tg_len.min() < 0:
        raise BadShapeOrValue(f"{op}: target_lengths must be >= 0, got {tg_len.tolist()}")
    tg = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
    if tg.dtype.kind not in "iu":
        raise BadDtype(f"{op}: targets must be integers, got {tg.dtype}")
    if tg.ndim == 2:  # (unbatched log_probs take (1, S) padded or 1-D concatenated targets)
        if tg.shape[0] != n or (tg_len.size and tg.shape[1] < tg_len.max()):
            raise BadShapeOrValue(
                f"{op}: targets {tg.shape} must be (N, S) with N = {n} and S >= the longest "
                f"target length {int(tg_len.max()) if tg_len.size else 0}"
            )
        rows = [tg[i, : tg_len[i]] for i in range(n)]
    elif tg.ndim == 1:
        if tg.size != tg_len.sum():
            raise BadShapeOrValue(
                f"{op}: 1-D targets must have sum(target_lengths) = {int(tg_len.sum())} "
                f"elements, got {tg.size}"
            )
        rows = np.split(tg, np.cumsum(tg_len)[:-1])
    else:
        raise BadShapeOrValue(f"{op}: targets must be 1-D or 2-D, got shape {tg.shape}")
    if any(((r < 0) | (r >= c)).any() for r in rows):
        raise BadShapeOrValue(f"{op}: targets must be class indices in [0, {c})")
    ext_len = 2 * tg_len + 1
    ext = np.full((n, int(ext_len.max()) if n else 1), blank, np.int64)
    for i, r in enumerate(rows):
        ext[i, 1 : 2 * len(r) : 2] = r
    if n == 0 or t_max == 0:
        raise BadShapeOrValue(f"{op}: log_probs tensor must not be empty, got shape {lp.shape}")
    zero_infinity = _bool_arg(zero_infinity, op, "zero_infinity")
    # an empty input runs as one step against an empty target (always possible), so its
    # replaced loss below sends back 0, not 0 * the NaN gradient of an impossible alignment
    run_len = np.where(in_len > 0, ext_len, 1)
    nll = CTCLoss.apply(lp.contiguous(), ext, np.maximum(in_len, 1), run_len, zero_infinity)
    if (in_len == 0).any():  # as PyTorch: loss 0 for an empty target, else inf; no gradient
        inf = 0.0 if zero_infinity else np.inf
        none = Tensor(np.where(tg_len > 0, inf, 0.0).astype(lp.dtype))
        nll = ops.where(Tensor(in_len > 0), nll, none)
    if reduction == "mean":
        nll = (nll / Tensor(np.maximum(tg_len, 1).astype(lp.dtype))).mean()
    elif reduction == "sum":
        nll = nll.sum()
    elif unbatched:  # (torch's node: the squeeze)
        nll = _autograd_function.named(nll.reshape(()), "SqueezeBackward1")
    else:  # torch's node: the kernel's, or zero_infinity's where
        name = "WhereBackward0" if zero_infinity else "CtcLossBackward0"
        nll = _autograd_function.named(nll, name)
    return nll


def upsample_nearest(input, size=None, scale_factor=None) -> Tensor:
    """Deprecated PyTorch alias of interpolate(mode='nearest'); warns as PyTorch does."""
    warnings.warn(
        "`nn.functional.upsample_nearest` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="nearest")


def upsample_bilinear(input, size=None, scale_factor=None) -> Tensor:
    """Deprecated PyTorch alias of interpolate(mode='bilinear', align_corners=True)."""
    warnings.warn(
        "`nn.functional.upsample_bilinear` is deprecated. Use `nn.functional.interpolate` instead.",
        stacklevel=2,
    )
    return interpolate(input, size, scale_factor, mode="bilinear", align_corners=True)


def conv_tbc(input, weight, bias, pad: int = 0) -> Tensor:
    """1-D convolution in (time, batch, channels) layout, as torch.conv_tbc: input (T, B, Cin),
    weight (K, Cin, Cout), bias (Cout,) -> (T + 2 pad - K + 1, B, Cout); conv1d underneath."""
    op = "conv_tbc"
    weight = _float_input(weight, op, "weight")
    x = _float_input(input, op, "input", weight.dtype)
    if x.ndim != 3 or weight.ndim != 3:
        raise ValueError(
            f"{op}: input must be 3-D (T, B, Cin) and weight 3-D (K, Cin, Cout), got "
            f"{x.shape} and {weight.shape}"
        )
    if x.shape[2] != weight.shape[1]:
        raise ValueError(
            f"{op}: input {x.shape} has {x.shape[2]} channels but weight {weight.shape} "
            f"expects {weight.shape[1]}"
        )
    y = conv1d(x.permute((1, 2, 0)), weight.permute((2, 1, 0)), bias, 1, _int_arg(pad, op, "pad"))
    return y.permute((2, 0, 1))


class FractionalMaxPool(Function):
    # x (.., *S) -> y, idx (.., *O): the max of each window [start, start + k) per axis, the
    # starts (B, O_a) per axis (B: the planes) chosen by fractional_max_pool; idx flat into
    # prod(S). y alone without indices (a tuple's outputs cost ~1 us more each, as views)
    @staticmethod
    def forward(ctx, x, starts, k, with_indices=True):
        lead = x.shape[: x.ndim - len(k)]
        out = lead + tuple(st.shape[1] for st in starts)
        if x.dtype.char in "fd":  # (float16 / bfloat16: NumPy below)
            y, idx = _C.fractional_max_pool_forward(
                _contig(x).reshape(-1, *x.shape[len(lead) :]), list(starts), list(k)
            )
        else:
            y, idx = FractionalMaxPool._numpy(x.reshape(-1, *x.shape[len(lead) :]), starts, k)
        ctx.save_for_backward(idx)
        ctx.shape = x.shape
        if not with_indices:
            return y.reshape(out)
        ctx.mark_non_differentiable(1)
        return y.reshape(out), idx.reshape(out)

    @staticmethod
    def _numpy(x, starts, k):
        b, sizes = x.shape[0], x.shape[1:]
        nd, outs = len(sizes), tuple(st.shape[1] for st in starts)
        flat = np.zeros((b,) + (1,) * (2 * nd), np.int64)
        for a in range(nd):
            shape = [b] + [1] * (2 * nd)
            shape[1 + a] = outs[a]
            pos = starts[a].reshape(shape)
            shape = [1] * (1 + 2 * nd)
            shape[1 + nd + a] = k[a]
            flat = flat * sizes[a] + pos + np.arange(k[a]).reshape(shape)
        win = flat.reshape(b, int(np.prod(outs)), int(np.prod(k)))  # sizes: b may be 0
        xs = x.reshape(b, 1, int(np.prod(sizes)))
        vals = np.take_along_axis(xs, win.reshape(b, 1, win.shape[1] * win.shape[2]), 2).reshape(
            win.shape
        )
        arg = _argmax_as_torch(vals, -1)  # the first maximum in row-major order
        y = np.take_along_axis(vals, arg[..., None], -1)[..., 0]
        idx = np.take_along_axis(win, arg[..., None], -1)[..., 0]
        return y.reshape((b,) + outs), idx.reshape((b,) + outs)

    @staticmethod
    def backward(ctx, g, _gidx=None):
        (idx,) = ctx.saved_tensors  # (B, *O)
        b, nd = idx.shape[0], idx.ndim - 1
        m = math.prod(idx.shape[1:])  # not -1: b may be 0
        plane = math.prod(ctx.shape[len(ctx.shape) - nd :])
        dx = _scatter_last(g.reshape(b, m), idx.reshape(b, m), plane)
        return dx.reshape(ctx.shape).astype(g.dtype, copy=False), None, None, None

    @staticmethod
    def backward_graph(ctx, g, gidx=None):
        return _max_at_graph(ctx, g), None, None, None


def _fractional_intervals(u: np.ndarray, n_in: int, n_out: int, k: int) -> np.ndarray:
    """PyTorch's generate_intervals, in the input's dtype: starts (B, n_out) from samples u (B,)."""
    if u.dtype.char in "fd":  # (C++: NumPy's steps cost ~5 us per call on small inputs)
        return _C.fractional_intervals(_contig(u), n_in, n_out, k)
    seq = np.full((u.shape[0], n_out), n_in - k, np.int64)
    if n_out > 1:
        alpha = u.dtype.type(n_in - k) / u.dtype.type(n_out - 1)
        i = np.arange(n_out - 1, dtype=u.dtype)
        seq[:, :-1] = ((i + u[:, None]) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)[
            :, None
        ]
    return seq


def _fractional_max_pool(op, nd, input, kernel_size, output_size, output_ratio, samples,
                         with_indices=True):  # fmt: skip
    x = _float_input(input, op)
    if x.ndim not in (nd + 1, nd + 2):
        raise BadShapeOrValue(
            f"{op}: input must be {nd + 1}-D or {nd + 2}-D (N, C, spatial...), got {x.shape}"
        )
    if 0 in x.shape[x.ndim - nd - 1 :]:
        raise BadShapeOrValue(f"{op}: only the batch dim may be empty, got input {x.shape}")
    tup = _pair if nd == 2 else _triple
    k = tup(kernel_size, op, "kernel_size")
    sizes = x.shape[-nd:]
    if output_size is None:
        if output_ratio is None:
            raise BadShapeOrValue(
                f"{op} requires specifying either an output_size or an output_ratio"
            )
        r = output_ratio if isinstance(output_ratio, tuple | list) else (output_ratio,) * nd
        if len(r) != nd or not all(0 < v < 1 for v in r):
            raise BadShapeOrValue(f"{op}: output_ratio must be in (0, 1), got {output_ratio!r}")
        out = tuple(int(n * v) for n, v in zip(sizes, r))
    else:
        out = tup(output_size, op, "output_size")
    # PyTorch allows an empty output; its 3-D check is strict (output + kernel - 1 < input)
    slack = 0 if nd == 2 else 1
    for n, o, kk in zip(sizes, out, k):
        if kk < 1 or o < 0 or o + kk - 1 > n - slack:
            cmp = "<=" if nd == 2 else "<"
            raise BadShapeOrValue(
                f"{op}: kernel_size {k} and output_size {out} do not fit input {x.shape} "
                f"(need output + kernel - 1 {cmp} input per dim)"
            )
    unbatched = x.ndim == nd + 1
    n, c = (1, x.shape[0]) if unbatched else x.shape[:2]
    if samples is None:
        from ember.random import rng as _global_rng

        u = _global_rng().random((n, c, nd)).astype(x.dtype)
    else:
        u = np.asarray(samples.data if isinstance(samples, Tensor) else samples, x.dtype)
        # as torch: rows past the batch are ignored (an unbatched input is a batch of 1)
        if u.ndim != 3 or u.shape[0] < n or u.shape[1:] != (c, nd):
            raise BadShapeOrValue(
                f"{op}: _random_samples must have shape ({n} or more, {c}, {nd}), got {u.shape}"
            )
    u = u[:n].reshape(n * c, nd)
    # PyTorch's sample order: (W, H) in 2-D, (T, H, W) in 3-D
    which = (1, 0) if nd == 2 else (0, 1, 2)
    starts = [
        _fractional_intervals(u[:, w], sz, o, kk) for w, sz, o, kk in zip(which, sizes, out, k)
    ]
    out = FractionalMaxPool.apply(x, starts, k, bool(with_indices))
    return _node(out, f"FractionalMaxPool{nd}DBackward0")


def fractional_max_pool2d(
    input,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """Fractional max pooling (Graham, 2014) over (N, C, H, W) or (C, H, W): windows of
    ``kernel_size`` at pseudo-random starts that shrink the input to ``output_size`` (or
    ``output_ratio`` times it). The starts come from ``_random_samples`` (N, C, 2) in [0, 1),
    else from ember's generator; indices are flat into H*W."""
    if output_size is None and isinstance(output_ratio, int | float):  # as PyTorch's
        raise TypeError("fractional_max_pool2d: output_ratio must be a pair, not a number")
    return _fractional_max_pool(
        "fractional_max_pool2d", 2, input, kernel_size, output_size, output_ratio,
        _random_samples, bool(return_indices),
    )  # fmt: skip


def fractional_max_pool3d(
    input,
    kernel_size,
    output_size=None,
    output_ratio=None,
    return_indices: bool = False,
    _random_samples=None,
):
    """Fractional max pooling over (N, C, T, H, W) or (C, T, H, W); see fractional_max_pool2d
    (``_random_samples`` (N, C, 3))."""
    return _fractional_max_pool(
        "fractional_max_pool3d", 3, input, kernel_size, output_size, output_ratio,
        _random_samples, bool(return_indices),
    )  # fmt: skip


def fractional_max_pool2d_with_indices(
    input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
    _random_samples=None,
):  # fmt: skip
    """fractional_max_pool2d returning (output, indices), as PyTorch's alias."""
    return fractional_max_pool2d(
        input, kernel_size, output_size, output_ratio, True, _random_samples
    )


def fractional_max_pool3d_with_indices(
    input, kernel_size, output_size=None, output_ratio=None, return_indices=False,
    _random_samples=None,
):  # fmt: skip
    """fractional_max_pool3d returning (output, indices), as PyTorch's alias."""
    return fractional_max_pool3d(
        input, kernel_size, output_size, output_ratio, True, _random_samples
    )


def _in_place(op: str, fn, input, *args, piecewise=None) -> Tensor:
    """PyTorch's foo_(input, ...): input takes fn(input, ...)'s values and returns itself,
    recorded in the graph when input requires grad (ember/_inplace.py). ``piecewise``: (the
    activation, its params) when its output picks the same linear piece as its input (relu,
    leaky_relu with a slope >= 0, hardtanh): its node then saves y, as torch's relu_ does, and
    the input's old values need no copy."""
    from ember import _inplace

    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, got {type(input).__name__}")
    if _inplace.recording(input):
        node = _IN_PLACE_NODES.get(op.rstrip("_"))
        if node is not None:  # torch's in-place node, named apart (see _IN_PLACE_NODES)
            fn = lambda t, *a, f=fn: _autograd_function.named(f(t, *a), node)  # noqa: E731
        refusal = _refused_in_place(op.rstrip("_"), args)
        if refusal is not None:
            fn = lambda t, *a, f=fn: _refuses_backward(f(t, *a), refusal)  # noqa: E731
        if piecewise is not None and input.data.dtype.char in "fd":
            act, params = piecewise[0], {**piecewise[1], "saves_y": True}
            build = lambda t: ops._unary_apply(Activation, t, act, params)  # noqa: E731
            if node is not None:
                build = lambda t, b=build: _autograd_function.named(b(t), node)  # noqa: E731
            return _inplace.write(input, build, name=op, reads_output=True)
        return _inplace.write(input, fn, args, name=op)
    np.copyto(input.data, fn(input.detach(), *args).data)
    _inplace.note(input)
    return input


# torch's nodes of the in-place forms that save their result, not their input (a write into
# it after makes their backward refuse: _inplace._SAVES_RESULT), named apart from the others
_IN_PLACE_NODES = {"elu": "EluBackward1", "selu": "EluBackward1", "celu": "CeluBackward1",
                   "leaky_relu": "LeakyReluBackward1", "rrelu": "RreluWithNoiseBackward1",
                   "threshold": "ThresholdBackward1"}  # fmt: skip


_NEGATIVE_WORDS = (
    "backward calculation is triggered with a negative slope which is not supported. This is "
    "caused by calling in-place forward function with a negative slope, please call "
    "out-of-place version instead."
)


def _refused_in_place(op: str, args):
    """torch's message when its in-place node (which saves its result) refuses to backward: a
    negative slope / alpha makes y's sign no longer tell x's, or None."""
    if (
        op == "leaky_relu"
        and args[0] < 0
        # (rrelu in training saves its drawn slopes, so torch computes even with lower == upper)
        or (op == "rrelu" and not args[2] and args[0] + args[1] < 0)
    ):
        return (
            f"In-place leakyReLu {_NEGATIVE_WORDS} File an issue at "
            "https://github.com/pytorch/pytorch if you do require supporting in-place leakRelu "
            "backward calculation with negative slope"
        )
    if op in ("elu", "celu") and args[0] < 0:
        return f"In-place elu {_NEGATIVE_WORDS}"
    return None


def _refuses_backward(out: Tensor, message: str) -> Tensor:
    """out, its node refusing to backward with ``message`` (as torch's, at backward time)."""

    def refuse(ctx, *grads):
        raise RuntimeError(message)

    if out._ctx is not None:
        out._ctx.backward = out._ctx.backward_graph = refuse
    return out


def _leaky(slope):  # a negative slope flips the sign, so y does not pick x's piece
    return ("leaky_relu", {"alpha": float(slope)}) if slope >= 0 else None


def _clamped(lo, hi):  # (lo > hi is refused by hardtanh itself)
    return ("hardtanh", {"alpha": float(lo), "beta": float(hi)}) if lo <= hi else None


def relu_(input) -> Tensor:
    """In-place relu."""
    return _in_place("relu_", relu, input, piecewise=("relu", {}))


def elu_(input, alpha: float = 1.0) -> Tensor:
    """In-place elu."""
    return _in_place("elu_", elu, input, alpha)


def selu_(input) -> Tensor:
    """In-place selu."""
    return _in_place("selu_", selu, input)


def celu_(input, alpha: float = 1.0) -> Tensor:
    """In-place celu."""
    return _in_place("celu_", celu, input, alpha)


def leaky_relu_(input, negative_slope: float = 0.01) -> Tensor:
    """In-place leaky_relu."""
    return _in_place(
        "leaky_relu_", leaky_relu, input, negative_slope, piecewise=_leaky(negative_slope)
    )


def hardtanh_(input, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place hardtanh."""
    return _in_place(
        "hardtanh_", hardtanh, input, min_val, max_val, piecewise=_clamped(min_val, max_val)
    )


def threshold_(input, threshold: float, value: float) -> Tensor:
    """In-place threshold."""
    fn = globals()["threshold"]  # the function, shadowed here by its argument's name
    return _in_place("threshold_", fn, input, threshold, value)


def rrelu_(input, lower: float = 1.0 / 8, upper: float = 1.0 / 3, training: bool = False):
    """In-place rrelu."""
    return _in_place("rrelu_", rrelu, input, lower, upper, training)


def linear_cross_entropy(
    input,
    linear_weight,
    target,
    *,
    linear_bias=None,
    weight=None,
    reduction: str = "mean",
    ignore_index=None,
    label_smoothing: float = 0.0,
    options=None,
) -> Tensor:
    """cross_entropy(linear(input, linear_weight, linear_bias), target, ...), as PyTorch's
    reference path (ember always materialises the logits; ``options``, which selects
    PyTorch's chunked path, is accepted and ignored).

    Shape: input (N, in) or (in,); linear_weight (C, *out_features, in); linear_bias
    (C, *out_features) -> logits (N, C, *out_features) for a K-dimensional loss.
    """
    op = "linear_cross_entropy"
    w = _float_input(linear_weight, op, "linear_weight")
    x = _float_input(input, op, "input", w.dtype)
    if x.ndim not in (1, 2):
        raise BadShapeOrValue(f"{op}: expected input with dimensionality 1 or 2, got {x.ndim}")
    if w.ndim < 2:
        raise BadShapeOrValue(f"{op}: expected linear_weight with at least 2 dims, got {w.shape}")
    if x.shape[-1] != w.shape[-1]:
        raise BadShapeOrValue(
            f"{op}: expected equal input and linear_weight last dimensions (in_features), got "
            f"{x.shape[-1]} and {w.shape[-1]}"
        )
    c, out = w.shape[0], w.shape[1:-1]
    if linear_bias is not None:
        linear_bias = _float_input(linear_bias, op, "linear_bias", w.dtype)
        if linear_bias.shape != (c, *out):
            raise BadShapeOrValue(
                f"{op}: expected linear_bias shape {(c, *out)}, got {linear_bias.shape}"
            )
    if out and x.ndim == 1:
        raise BadShapeOrValue(
            f"{op}: a K-dimensional loss (linear_weight {w.shape}) needs (N, in) input"
        )
    m = int(np.prod(out)) if out else 1
    bias = None if linear_bias is None else linear_bias.reshape(c * m)
    logits = linear(x, w.reshape(c * m, w.shape[-1]), bias).reshape(*x.shape[:-1], c, *out)
    t = target.data if isinstance(target, Tensor) else np.asarray(target)
    if t.shape == logits.shape and ignore_index is not None:
        raise BadShapeOrValue(
            f"{op}: ignore_index cannot be specified when target contains probabilities"
        )
    ignore = -100 if ignore_index is None else ignore_index
    return cross_entropy(
        logits,
        target,
        weight,
        ignore_index=ignore,
        reduction=reduction,
        label_smoothing=label_smoothing,
    )


__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "adaptive_avg_pool3d",
    "adaptive_max_pool1d",
    "adaptive_max_pool1d_with_indices",
    "adaptive_max_pool2d",
    "adaptive_max_pool2d_with_indices",
    "adaptive_max_pool3d",
    "adaptive_max_pool3d_with_indices",
    "affine_grid",
    "alpha_dropout",
    "avg_pool1d",
    "avg_pool2d",
    "avg_pool3d",
    "batch_norm",
    "bilinear",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "celu",
    "celu_",
    "channel_shuffle",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_tbc",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
    "cosine_embedding_loss",
    "cosine_similarity",
    "cross_entropy",
    "ctc_loss",
    "dropout",
    "dropout1d",
    "dropout2d",
    "dropout3d",
    "elu",
    "elu_",
    "embedding",
    "embedding_bag",
    "feature_alpha_dropout",
    "fold",
    "fractional_max_pool2d",
    "fractional_max_pool2d_with_indices",
    "fractional_max_pool3d",
    "fractional_max_pool3d_with_indices",
    "gaussian_nll_loss",
    "gelu",
    "glu",
    "grid_sample",
    "group_norm",
    "gru_cell",
    "gru_layer",
    "gumbel_softmax",
    "hardshrink",
    "hardsigmoid",
    "hardswish",
    "hardtanh",
    "hardtanh_",
    "hinge_embedding_loss",
    "huber_loss",
    "instance_norm",
    "interpolate",
    "kl_div",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "leaky_relu_",
    "linear",
    "linear_cross_entropy",
    "local_response_norm",
    "log_softmax",
    "logsigmoid",
    "lp_pool1d",
    "lp_pool2d",
    "lp_pool3d",
    "lstm_cell",
    "lstm_layer",
    "margin_ranking_loss",
    "max_pool1d",
    "max_pool1d_with_indices",
    "max_pool2d",
    "max_pool2d_with_indices",
    "max_pool3d",
    "max_pool3d_with_indices",
    "max_unpool1d",
    "max_unpool2d",
    "max_unpool3d",
    "mish",
    "mse_loss",
    "multi_head_attention_forward",
    "multi_margin_loss",
    "multilabel_margin_loss",
    "multilabel_soft_margin_loss",
    "native_channel_shuffle",
    "nll_loss",
    "normalize",
    "one_hot",
    "pad",
    "pairwise_distance",
    "pdist",
    "pixel_shuffle",
    "pixel_unshuffle",
    "poisson_nll_loss",
    "prelu",
    "relu",
    "relu6",
    "relu_",
    "rms_norm",
    "rnn_cell",
    "rnn_layer",
    "rrelu",
    "rrelu_",
    "scaled_dot_product_attention",
    "selu",
    "selu_",
    "sigmoid",
    "silu",
    "smooth_l1_loss",
    "soft_margin_loss",
    "softmax",
    "softmin",
    "softplus",
    "softshrink",
    "softsign",
    "tanh",
    "tanhshrink",
    "threshold",
    "threshold_",
    "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
    "unfold",
    "upsample",
    "upsample_bilinear",
    "upsample_nearest",
]
