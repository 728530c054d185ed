"""ember: C++-accelerated tensors with a thin autograd and PyTorch's names.

Example::

    >>> import ember
    >>> x = ember.randn(4, 3, requires_grad=True)
    >>> y = (x @ x.T).sum()
    >>> y.backward()
    >>> x.grad.shape
    (4, 3)
"""

from __future__ import annotations

import os as _os

import numpy as _np

from ember import _C, autograd, data, datasets, io, nn, ops, optim, preprocessing, train  # noqa: E402
from ember._device import device
from ember.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ember.creation import (
    arange,
    as_tensor,
    bernoulli,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    multinomial,
    normal,
    ones,
    ones_like,
    poisson,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from ember.io import load, save
from ember.nn.functional import log_softmax, relu, sigmoid, softmax, tanh
from ember.ops import (
    abs,
    absolute,
    acos,
    acosh,
    add,
    addcdiv,
    addcmul,
    all,
    allclose,
    any,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    argmax,
    argmin,
    argsort,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    bmm,
    can_cast,
    cat,
    ceil,
    chunk,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    copysign,
    cos,
    cosh,
    cumsum,
    deg2rad,
    digamma,
    div,
    divide,
    eq,
    equal,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    expm1,
    fix,
    flatten,
    flip,
    float_power,
    floor,
    floor_divide,
    fmax,
    fmin,
    fmod,
    frac,
    gather,
    ge,
    greater,
    greater_equal,
    gt,
    heaviside,
    hypot,
    i0,
    index_select,
    is_complex,
    is_floating_point,
    is_nonzero,
    is_same_size,
    is_signed,
    is_tensor,
    isclose,
    isfinite,
    isin,
    isinf,
    isnan,
    isneginf,
    isposinf,
    isreal,
    ldexp,
    le,
    lerp,
    less,
    less_equal,
    lgamma,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logit,
    logsumexp,
    lt,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    mul,
    multiply,
    mvlgamma,
    nan_to_num,
    ne,
    neg,
    negative,
    nextafter,
    norm,
    not_equal,
    numel,
    permute,
    polygamma,
    positive,
    pow,
    prod,
    promote_types,
    rad2deg,
    reciprocal,
    remainder,
    reshape,
    result_type,
    round,
    rsqrt,
    rsub,
    sgn,
    sign,
    signbit,
    sin,
    sinc,
    sinh,
    sort,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    sub,
    subtract,
    sum,
    tan,
    topk,
    transpose,
    tril,
    triu,
    true_divide,
    trunc,
    unbind,
    unsqueeze,
    var,
    where,
    xlogy,
)
from ember.random import get_rng_state, initial_seed, manual_seed, seed, set_rng_state
from ember.summary import summary
from ember.tensor import Tensor, get_default_dtype, set_default_dtype  # noqa: I001  (Tensor first: the modules below build on it)

__version__ = _C.__version__

float32 = _np.float32
float64 = _np.float64
float16 = _np.float16
int64 = _np.int64
int32 = _np.int32
bool_ = _np.bool_
float = _np.float32  # noqa: A001  (torch.float)
double = _np.float64
long = _np.int64


def set_num_threads(n: int) -> None:
    """Threads every ember kernel may use (capped by OMP_NUM_THREADS / threadpoolctl)."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError(f"set_num_threads: n must be an int >= 1, got {n!r}")
    _C.set_num_threads(n)


def get_num_threads() -> int:
    """Threads ember's kernels use: the setting, capped by OpenMP's limit."""
    from builtins import min as _min

    return _min(_C.get_num_threads(), _C.omp_max_threads())


def show_config() -> None:
    """Print the version, compiler, OpenMP threads and the SIMD path in use."""
    print(f"ember {__version__}")
    print(f"  compiler:        {_C.compiler}")
    print(f"  OpenMP:          {_C.openmp_version} ({get_num_threads()} threads)")
    print(f"  GEMM ISA:        {_C.gemm_isa()} (EMBER_ISA={_os.environ.get('EMBER_ISA', 'unset')})")
    print(f"  NumPy:           {_np.__version__}")


# libgomp's thread pool does not survive fork(): forked children (DataLoader workers,
# multiprocessing) run single-threaded instead of hanging.
_os.register_at_fork(after_in_child=lambda: _C.set_num_threads(1))

__all__ = [
    "Tensor", "autograd", "nn", "optim", "datasets", "ops", "data", "io", "preprocessing",
    "train",
    "tensor", "from_numpy", "as_tensor", "zeros", "ones", "full", "empty", "zeros_like",
    "ones_like", "randn", "rand", "randint", "randperm", "arange", "linspace", "eye",
    "full_like", "empty_like", "randn_like", "rand_like", "normal", "bernoulli", "multinomial",
    "tanh", "sigmoid", "relu", "softmax", "log_softmax",
    "device", "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "manual_seed",
    "set_num_threads", "get_num_threads", "show_config",
    "abs", "argmax", "argmin", "cat", "clamp", "exp", "flatten", "log", "matmul", "max",
    "maximum", "mean", "min", "minimum", "permute", "reshape", "sqrt", "squeeze", "stack",
    "sum", "transpose", "unsqueeze", "var", "where", "chunk", "split", "gather", "masked_fill",
    "summary", "save", "load",
    "sin", "cos", "tan", "log1p", "expm1", "log2", "log10", "rsqrt", "reciprocal", "square",
    "sinh", "cosh", "asin", "acos", "atan", "sign", "floor", "ceil", "trunc", "round",
    "logsumexp", "prod", "cumsum", "norm", "tril", "triu", "flip", "index_select", "unbind",
    "sort", "argsort", "topk", "mm", "bmm", "isnan", "isinf", "isfinite", "all", "any",
    "allclose", "equal", "pow",
    "float32", "float64", "float16", "int64", "int32", "bool_", "float", "double", "long",
    "poisson", "absolute", "addcdiv", "addcmul", "isin", "ldexp", "lerp", "mvlgamma", "nextafter",
    "randint_like", "is_complex", "is_nonzero", "is_same_size", "is_signed", "seed", "initial_seed",
    "get_rng_state", "set_rng_state", "get_default_dtype", "set_default_dtype", "add", "sub", "mul",
    "div", "neg", "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
    "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "isclose",
    "isneginf", "isposinf", "isreal", "signbit", "fmax", "fmin", "subtract", "multiply", "divide",
    "true_divide", "floor_divide", "remainder", "fmod", "negative", "positive", "rsub",
    "float_power", "clamp_min", "clamp_max", "clip", "erf", "erfc", "erfinv", "lgamma", "digamma",
    "polygamma", "i0", "sinc", "logit", "xlogy", "atan2", "arctan2", "hypot", "logaddexp",
    "logaddexp2", "copysign", "heaviside", "exp2", "frac", "fix", "sgn", "deg2rad", "rad2deg",
    "nan_to_num", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh",
    "arctanh", "is_tensor", "is_floating_point", "numel", "result_type", "promote_types",
    "can_cast",
]  # fmt: skip
