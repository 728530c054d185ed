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
from ember.autograd import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from ember.creation import (
    arange,
    as_tensor,
    empty,
    eye,
    from_numpy,
    full,
    linspace,
    ones,
    ones_like,
    rand,
    randint,
    randn,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from ember.ops import (
    abs,
    argmax,
    argmin,
    cat,
    chunk,
    clamp,
    exp,
    flatten,
    gather,
    log,
    masked_fill,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    norm,
    permute,
    pow,
    reshape,
    split,
    sqrt,
    squeeze,
    stack,
    sum,
    transpose,
    unsqueeze,
    var,
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
    "no_grad", "enable_grad", "set_grad_enabled", "is_grad_enabled", "manual_seed",
    "set_num_threads", "get_num_threads", "show_config",
    "abs", "argmax", "argmin", "cat", "clamp", "exp", "flatten", "log", "matmul", "max",
    "maximum", "mean", "min", "minimum", "permute", "reshape", "sqrt", "squeeze", "stack",
    "sum", "transpose", "unsqueeze", "var", "where", "chunk", "split", "gather", "masked_fill",
    "summary", "pow", "softmax", "log_softmax", "relu", "sigmoid", "tanh", "mm", "bmm",
    "allclose", "norm",
    "float32", "float64", "float16", "int64", "int32", "bool_", "float", "double", "long",
]  # fmt: skip


def softmax(input, dim: int) -> Tensor:
    return nn.functional.softmax(input, dim)


def log_softmax(input, dim: int) -> Tensor:
    return nn.functional.log_softmax(input, dim)


def relu(input) -> Tensor:
    return nn.functional.relu(input)


def sigmoid(input) -> Tensor:
    return nn.functional.sigmoid(input)


def tanh(input) -> Tensor:
    return nn.functional.tanh(input)


def mm(input, mat2) -> Tensor:
    """2-D matrix product (torch.mm): both operands must be 2-D."""
    if _np.ndim(input) != 2 or _np.ndim(mat2) != 2:
        raise ValueError(
            f"mm: both operands must be 2-D, got {_np.shape(input)} and {_np.shape(mat2)}"
        )
    return matmul(input, mat2)


def bmm(input, mat2) -> Tensor:
    """Batched matrix product (torch.bmm): (B, n, m) @ (B, m, p)."""
    a, b = _np.shape(input), _np.shape(mat2)
    if len(a) != 3 or len(b) != 3 or a[0] != b[0]:
        raise ValueError(f"bmm: expected (B, n, m) and (B, m, p), got {a} and {b}")
    return matmul(input, mat2)


def allclose(input, other, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False):
    return bool(_np.allclose(_np.asarray(input), _np.asarray(other), rtol, atol, equal_nan))
