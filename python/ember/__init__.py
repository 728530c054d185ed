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

from ember import _C, autograd, data, datasets, io, linalg, nn, ops, optim, preprocessing, train  # noqa: E402
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
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from ember.nn.functional import log_softmax, relu, sigmoid, softmax, tanh
from ember.ops import (
    abs,
    acos,
    addbmm,
    addmm,
    addmv,
    addr,
    adjoint,
    all,
    allclose,
    amax,
    amin,
    aminmax,
    any,
    argmax,
    argmin,
    argsort,
    argwhere,
    asin,
    atan,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    baddbmm,
    bincount,
    block_diag,
    bmm,
    broadcast_shapes,
    broadcast_tensors,
    broadcast_to,
    bucketize,
    cartesian_prod,
    cat,
    cdist,
    ceil,
    chain_matmul,
    cholesky_inverse,
    cholesky_solve,
    chunk,
    clamp,
    column_stack,
    combinations,
    concat,
    concatenate,
    corrcoef,
    cos,
    cosh,
    count_nonzero,
    cov,
    cross,
    cummax,
    cummin,
    cumprod,
    cumsum,
    cumulative_trapezoid,
    det,
    diag,
    diag_embed,
    diagflat,
    diagonal,
    diagonal_scatter,
    diff,
    dist,
    dot,
    dsplit,
    dstack,
    einsum,
    equal,
    exp,
    expm1,
    flatten,
    flip,
    fliplr,
    flipud,
    floor,
    gather,
    ger,
    histc,
    histogram,
    hsplit,
    hstack,
    index_add,
    index_copy,
    index_fill,
    index_put,
    index_reduce,
    index_select,
    inner,
    inverse,
    isfinite,
    isinf,
    isnan,
    kron,
    kthvalue,
    log,
    log1p,
    log2,
    log10,
    logcumsumexp,
    logdet,
    logsumexp,
    masked_fill,
    masked_scatter,
    masked_select,
    matmul,
    matrix_power,
    max,
    maximum,
    mean,
    median,
    meshgrid,
    min,
    minimum,
    mm,
    mode,
    moveaxis,
    movedim,
    msort,
    mv,
    nanmean,
    nanmedian,
    nanquantile,
    nansum,
    narrow,
    narrow_copy,
    nonzero,
    nonzero_static,
    norm,
    outer,
    permute,
    pinverse,
    pow,
    prod,
    put,
    quantile,
    ravel,
    reciprocal,
    renorm,
    repeat_interleave,
    reshape,
    roll,
    rot90,
    round,
    row_stack,
    rsqrt,
    scatter,
    scatter_add,
    scatter_reduce,
    searchsorted,
    select,
    select_scatter,
    sign,
    sin,
    sinh,
    slice_scatter,
    slogdet,
    sort,
    split,
    split_with_sizes,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    std_mean,
    sum,
    swapaxes,
    swapdims,
    t,
    take,
    take_along_dim,
    tan,
    tensor_split,
    tensordot,
    tile,
    topk,
    trace,
    transpose,
    trapezoid,
    trapz,
    tril,
    tril_indices,
    triu,
    triu_indices,
    trunc,
    unbind,
    unflatten,
    unique,
    unique_consecutive,
    unravel_index,
    unsqueeze,
    vander,
    var,
    var_mean,
    vdot,
    vsplit,
    vstack,
    where,
)
from ember.random import manual_seed
from ember.summary import summary
from ember.tensor import Tensor  # noqa: I001  (Tensor first: the modules below build on it)

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
    "summary",
    "sin", "cos", "tan", "log1p", "expm1", "log2", "log10", "rsqrt", "reciprocal", "square",
    "sinh", "cosh", "asin", "acos", "atan", "sign", "floor", "ceil", "trunc", "round",
    "logsumexp", "prod", "cumsum", "norm", "tril", "triu", "flip", "index_select", "unbind",
    "sort", "argsort", "topk", "mm", "bmm", "isnan", "isinf", "isfinite", "all", "any",
    "allclose", "equal", "pow",
    "broadcast_shapes", "broadcast_to", "broadcast_tensors", "movedim", "moveaxis", "swapaxes",
    "swapdims", "narrow", "select", "ravel", "unflatten", "tile", "roll", "rot90", "fliplr",
    "flipud", "repeat_interleave", "tensor_split", "hsplit", "vsplit", "dsplit",
    "split_with_sizes", "atleast_1d", "atleast_2d", "atleast_3d", "hstack", "vstack", "row_stack",
    "dstack", "column_stack", "concat", "concatenate", "t",
    "scatter", "scatter_add", "scatter_reduce", "index_add", "index_copy", "index_fill",
    "index_put", "take", "take_along_dim", "masked_select", "masked_scatter", "nonzero",
    "argwhere", "count_nonzero", "tril_indices", "triu_indices", "diagonal", "diag_embed", "diag",
    "diagflat", "trace", "meshgrid", "cartesian_prod", "unique", "unique_consecutive", "bincount",
    "histc", "searchsorted", "bucketize",
    "amax", "amin", "aminmax", "std", "var_mean", "std_mean", "nansum", "nanmean", "median",
    "nanmedian", "mode", "kthvalue", "quantile", "nanquantile", "cummax", "cummin", "cumprod",
    "logcumsumexp", "diff", "msort", "cov", "corrcoef",
    "dot", "vdot", "inner", "outer", "ger", "mv", "addmm", "addmv", "addbmm", "baddbmm", "addr",
    "kron", "tensordot", "einsum", "chain_matmul", "cross", "cdist", "dist", "renorm",
    "matrix_power", "det", "inverse", "logdet", "slogdet", "linalg",
    "block_diag", "combinations", "trapezoid", "trapz", "cumulative_trapezoid", "vander",
    "unravel_index", "put", "select_scatter", "slice_scatter", "pinverse",
    "cholesky_solve", "cholesky_inverse",
    "index_reduce", "diagonal_scatter", "narrow_copy", "nonzero_static", "histogram",
    "adjoint",
    "float32", "float64", "float16", "int64", "int32", "bool_", "float", "double", "long",
]  # fmt: skip
