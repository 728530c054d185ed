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

import builtins as _builtins
import os as _os
import warnings as _warnings

import ml_dtypes as _ml_dtypes
import numpy as _np

from ember import (  # noqa: E402
    _C,
    _lowp,
    accelerator,
    amp,
    autograd,
    backends,
    compiler,
    cpu,
    cuda,
    data,
    datasets,
    distributed,
    distributions,
    func,
    io,
    jit,
    linalg,
    nn,
    ops,
    optim,
    preprocessing,
    profiler,
    special,
    testing,
    train,
    utils,  # torch.utils.data's path
    version,
)
from ember._aliases import (  # torch's top-level forms of nn.functional ops
    adaptive_avg_pool1d,
    adaptive_max_pool1d,
    affine_grid_generator,
    alias_copy,
    alpha_dropout,
    as_strided_,
    as_strided_copy,
    avg_pool1d,
    batch_norm,
    bilinear,
    binary_cross_entropy_with_logits,
    binomial,
    celu,
    channel_shuffle,
    constant_pad_nd,
    conv1d,
    conv2d,
    conv3d,
    conv_transpose1d,
    conv_transpose2d,
    conv_transpose3d,
    convolution,
    cosine_embedding_loss,
    cosine_similarity,
    ctc_loss,
    detach_copy,
    diagonal_copy,
    dropout,
    embedding,
    embedding_renorm_,
    expand_copy,
    feature_alpha_dropout,
    feature_dropout,
    grid_sampler,
    group_norm,
    gru_cell,
    hardshrink,
    hinge_embedding_loss,
    instance_norm,
    is_inference,
    kl_div,
    layer_norm,
    lstm_cell,
    lu,
    lu_solve,
    margin_ranking_loss,
    max_pool1d,
    max_pool1d_with_indices,
    max_pool2d,
    max_pool3d,
    native_batch_norm,
    native_dropout,
    native_group_norm,
    native_layer_norm,
    nuclear_norm,
    pairwise_distance,
    pca_lowrank,
    permute_copy,
    pixel_shuffle,
    pixel_unshuffle,
    poisson_nll_loss,
    prelu,
    rms_norm,
    rnn_relu_cell,
    rnn_tanh_cell,
    rrelu,
    select_copy,
    selu,
    slice_copy,
    split_copy,
    split_with_sizes_copy,
    squeeze_copy,
    svd_lowrank,
    t_copy,
    threshold,
    transpose_copy,
    triplet_margin_loss,
    unbind_copy,
    unfold_copy,
    unsqueeze_copy,
    view_copy,
)
from ember._device import device, get_default_device, set_default_device
from ember._errors import BadShapeOrValue as _BadShapeOrValue
from ember._layout import (
    channels_last,
    channels_last_3d,
    contiguous_format,
    layout,
    memory_format,
    preserve_format,
    strided,
)
from ember.amp import autocast
from ember.autograd import (
    enable_grad,
    inference_mode,
    is_grad_enabled,
    is_inference_mode_enabled,
    no_grad,
    set_grad_enabled,
)
from ember.creation import (
    BoolTensor,
    ByteTensor,
    CharTensor,
    DoubleTensor,
    FloatTensor,
    HalfTensor,
    IntTensor,
    LongTensor,
    ShortTensor,
    arange,
    as_tensor,
    asarray,
    bartlett_window,
    bernoulli,
    blackman_window,
    empty,
    empty_like,
    empty_strided,
    eye,
    from_numpy,
    frombuffer,
    full,
    full_like,
    hamming_window,
    hann_window,
    kaiser_window,
    linspace,
    logspace,
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
    scalar_tensor,
    tensor,
    zeros,
    zeros_like,
)
from ember.creation import inclusive_range as range  # noqa: A004 (torch.range)
from ember.func import vmap
from ember.io import load, save
from ember.nn.functional import _torch_log_softmax as log_softmax
from ember.nn.functional import _torch_softmax as softmax
from ember.nn.functional import pdist, relu, sigmoid, tanh
from ember.ops import (
    abs,
    absolute,
    acos,
    acosh,
    add,
    addbmm,
    addcdiv,
    addcmul,
    addmm,
    addmv,
    addr,
    adjoint,
    all,
    allclose,
    amax,
    amin,
    aminmax,
    angle,
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
    argwhere,
    as_strided,
    asin,
    asinh,
    atan,
    atan2,
    atanh,
    atleast_1d,
    atleast_2d,
    atleast_3d,
    baddbmm,
    bincount,
    bitwise_and,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    block_diag,
    bmm,
    broadcast_shapes,
    broadcast_tensors,
    broadcast_to,
    bucketize,
    can_cast,
    cartesian_prod,
    cat,
    cdist,
    ceil,
    chain_matmul,
    cholesky,
    cholesky_inverse,
    cholesky_solve,
    chunk,
    clamp,
    clamp_max,
    clamp_min,
    clip,
    clone,
    column_stack,
    combinations,
    concat,
    concatenate,
    conj,
    conj_physical,
    copysign,
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
    deg2rad,
    det,
    detach,
    diag,
    diag_embed,
    diagflat,
    diagonal,
    diagonal_scatter,
    diff,
    digamma,
    dist,
    div,
    divide,
    dot,
    dsplit,
    dstack,
    einsum,
    eq,
    equal,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    expm1,
    fill,
    fix,
    flatten,
    flip,
    fliplr,
    flipud,
    float_power,
    floor,
    floor_divide,
    fmax,
    fmin,
    fmod,
    frac,
    frexp,
    frobenius_norm,
    gather,
    gcd,
    ge,
    ger,
    gradient,
    greater,
    greater_equal,
    gt,
    heaviside,
    histc,
    histogram,
    histogramdd,
    hsplit,
    hstack,
    hypot,
    i0,
    igamma,
    igammac,
    imag,
    index_add,
    index_copy,
    index_fill,
    index_put,
    index_reduce,
    index_select,
    inner,
    inverse,
    is_complex,
    is_conj,
    is_floating_point,
    is_neg,
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
    kron,
    kthvalue,
    lcm,
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
    logcumsumexp,
    logdet,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logit,
    logsumexp,
    lt,
    lu_unpack,
    masked_fill,
    masked_scatter,
    masked_select,
    matmul,
    matrix_exp,
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
    mul,
    multiply,
    mv,
    mvlgamma,
    nan_to_num,
    nanmean,
    nanmedian,
    nanquantile,
    nansum,
    narrow,
    narrow_copy,
    ne,
    neg,
    negative,
    nextafter,
    nonzero,
    nonzero_static,
    norm,
    not_equal,
    numel,
    outer,
    permute,
    pinverse,
    polygamma,
    positive,
    pow,
    prod,
    promote_types,
    put,
    qr,
    quantile,
    rad2deg,
    ravel,
    real,
    reciprocal,
    remainder,
    renorm,
    repeat_interleave,
    reshape,
    resolve_conj,
    resolve_neg,
    result_type,
    roll,
    rot90,
    round,
    row_stack,
    rsqrt,
    rsub,
    scatter,
    scatter_add,
    scatter_reduce,
    searchsorted,
    select,
    select_scatter,
    sgn,
    sign,
    signbit,
    sin,
    sinc,
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
    sub,
    subtract,
    sum,
    svd,
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
    triangular_solve,
    tril,
    tril_indices,
    triu,
    triu_indices,
    true_divide,
    trunc,
    unbind,
    unflatten,
    unique,
    unique_consecutive,
    unravel_index,
    unsafe_chunk,
    unsafe_split,
    unsafe_split_with_sizes,
    unsqueeze,
    vander,
    var,
    var_mean,
    vdot,
    vsplit,
    vstack,
    where,
    xlogy,
)
from ember.random import (
    Generator,
    default_generator,
    get_rng_state,
    initial_seed,
    manual_seed,
    seed,
    set_rng_state,
)
from ember.summary import summary
from ember.tensor import Size, Tensor, get_default_dtype, set_default_dtype, set_printoptions  # noqa: I001  (Tensor first: the modules below build on it)

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
# torch.int / torch.bool and the small integer types (not in __all__: a star import would
# shadow the builtins int and bool).
int = _np.int32  # noqa: A001
bool = _np.bool_  # noqa: A001
int8, uint8, int16 = _np.int8, _np.uint8, _np.int16
uint16, uint32, uint64 = _np.uint16, _np.uint32, _np.uint64
# torch's constants
pi, e, inf, nan = _np.pi, _np.e, _np.inf, _np.nan
newaxis = None
short = _np.int16
half = _np.float16
bfloat16 = _ml_dtypes.bfloat16  # ml_dtypes' NumPy bfloat16, computed in float32 (ember/_lowp.py)
# dtype limits (eps, max, min, tiny, bits), as torch.finfo / torch.iinfo (bfloat16's too)
from ember._lowp import finfo, iinfo  # noqa: E402


def set_num_threads(n: int) -> None:
    """Threads every ember kernel may use (capped by OMP_NUM_THREADS / threadpoolctl)."""
    if not isinstance(n, _builtins.int) or isinstance(n, _builtins.bool):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    _C.set_num_threads(_builtins.min(n, 2**31 - 1))  # more threads than OpenMP has are capped


def get_num_threads() -> int:
    """Threads ember's kernels use: the setting, capped by OpenMP's limit."""
    from builtins import min as _min

    return _min(_C.get_num_threads(), _C.omp_max_threads())


# inf - inf, 0 * inf and overflow give IEEE's NaN / inf silently in PyTorch; NumPy warns. The
# warnings NumPy raises inside ember's own code are ignored (the user's NumPy code keeps its
# warnings); a filter that turns them into errors (pytest -W error) still comes first.
_warnings.filterwarnings("ignore", category=RuntimeWarning, module=r"ember(\.|$)")


dtype = _np.dtype  # torch.dtype: ember's dtypes are NumPy's (``isinstance(x.dtype, ember.dtype)``)


complex64 = cfloat = _np.complex64
from ember._complex import chalf, complex32  # noqa: E402, I001  (named, refused: NumPy has none)

complex128 = cdouble = _np.complex128
from ember._complex import complex, polar, view_as_complex, view_as_real  # noqa: E402, I001
from ember import fft  # noqa: E402, I001  (torch.fft)
from ember._stft import istft, stft  # noqa: E402, I001


def compile(model=None, **kwargs):  # noqa: A001  (torch.compile)
    """``torch.compile``: ember has no graph compiler, so the model (or function) comes back
    as it is; ``@ember.compile`` and ``@ember.compile(mode=...)`` work as decorators."""
    if model is None:
        return lambda fn: fn
    return model


_matmul_precision = "highest"


def set_float32_matmul_precision(precision: str) -> None:
    """Recorded only: ember's float32 matmul always runs in full float32 ('highest')."""
    global _matmul_precision
    if precision not in ("highest", "high", "medium"):
        import warnings

        warnings.warn(
            f"{precision} is not one of 'highest', 'high', or 'medium'; the current "
            "set_float32_matmul_precision call has no effect.",
            UserWarning,
            stacklevel=2,
        )
        return
    _matmul_precision = precision


def get_float32_matmul_precision() -> str:
    return _matmul_precision


_deterministic = False


def use_deterministic_algorithms(mode: bool, *, warn_only: bool = False) -> None:
    """Recorded only: ember's CPU kernels are deterministic already."""
    global _deterministic, _deterministic_warn_only
    _deterministic = _builtins.bool(mode)
    _deterministic_warn_only = _builtins.bool(warn_only) and _deterministic


def are_deterministic_algorithms_enabled() -> bool:
    return _deterministic


_deterministic_warn_only = False


def is_deterministic_algorithms_warn_only_enabled() -> bool:
    return _deterministic_warn_only


def set_deterministic_debug_mode(debug_mode) -> None:
    """0 / 'default', 1 / 'warn', 2 / 'error', as torch: use_deterministic_algorithms."""
    modes = {"default": 0, "warn": 1, "error": 2}
    mode = modes.get(debug_mode, debug_mode)
    if mode not in (0, 1, 2):
        raise RuntimeError(
            f"invalid value of debug_mode, expected one of `default`, `warn`, `error`, but "
            f"got {debug_mode}"
        )
    use_deterministic_algorithms(mode > 0, warn_only=mode == 1)


def get_deterministic_debug_mode() -> int:
    return 0 if not _deterministic else (1 if _deterministic_warn_only else 2)


_warn_always = False


def set_warn_always(b: bool) -> None:
    """Recorded only (torch uses it to repeat warnings it would give once)."""
    global _warn_always
    _warn_always = _builtins.bool(b)


def is_warn_always_enabled() -> bool:
    return _warn_always


def init_num_threads() -> None:
    """A no-op: ember's OpenMP pool starts with the first kernel."""


# what torch was built with, as ember is: OpenMP yes; MKL no (OpenBLAS-free GEMM of its own);
# LAPACK and spectral ops through NumPy
has_openmp, has_mkl, has_lapack, has_spectral = True, False, True, True


def set_default_tensor_type(t) -> None:
    """Deprecated torch API: ``set_default_tensor_type(torch.DoubleTensor)`` (or its name
    'torch.DoubleTensor') sets the default float dtype."""
    _warnings.warn(
        "torch.set_default_tensor_type() is deprecated as of PyTorch 2.1, please use "
        "torch.set_default_dtype() and torch.set_default_device() as alternatives.",
        UserWarning,
        stacklevel=2,
    )
    if isinstance(t, str):
        t = globals().get(t.rpartition(".")[2])
    dt = getattr(t, "dtype", None)
    if not isinstance(dt, _np.dtype) or not _lowp.is_float(dt):
        raise TypeError("only floating-point types are supported as the default type")
    set_default_dtype(dt)


_interop_threads = 1


def set_num_interop_threads(n: int) -> None:
    """Recorded only: ember runs one op at a time (its kernels use ``set_num_threads``)."""
    global _interop_threads
    if not isinstance(n, _builtins.int) or isinstance(n, _builtins.bool):
        raise TypeError(f"set_num_interop_threads: n must be an int, got {type(n).__name__}")
    if n < 1:  # (PyTorch: "set_num_interop_threads expects a positive integer")
        raise ValueError(f"set_num_interop_threads: n must be >= 1, got {n}")
    _interop_threads = n


def get_num_interop_threads() -> int:
    return _interop_threads


def set_flush_denormal(mode: bool) -> bool:
    """False, as PyTorch answers where it cannot: ember does not change the FPU's mode."""
    return False


def to_dlpack(tensor):
    """The tensor's memory for a DLPack consumer (torch.utils.dlpack.to_dlpack): its NumPy
    array, which carries ``__dlpack__`` (NumPy reads no bare capsules, so none is returned)."""
    return tensor.data


# torch's autocast and anomaly-mode queries, and small helpers libraries call
from ember.amp import (  # noqa: E402
    GradScaler,
    clear_autocast_cache,
    get_autocast_dtype,
    is_autocast_cache_enabled,
    is_autocast_enabled,
    set_autocast_cache_enabled,
    set_autocast_dtype,
    set_autocast_enabled,
)
from ember.autograd import is_anomaly_check_nan_enabled, is_anomaly_enabled  # noqa: E402


def is_autocast_cpu_enabled() -> bool:
    return is_autocast_enabled("cpu")


def get_autocast_cpu_dtype():
    return get_autocast_dtype("cpu")


def get_autocast_gpu_dtype():
    return get_autocast_dtype("cuda")


def set_autocast_cpu_enabled(enabled: bool) -> None:
    set_autocast_enabled("cpu", enabled)


def set_autocast_cpu_dtype(dtype) -> None:
    set_autocast_dtype("cpu", dtype)


def set_anomaly_enabled(enabled: bool, check_nan: bool = True) -> None:
    autograd.set_detect_anomaly(enabled, check_nan)


def typename(obj) -> str:
    """'ember.float32' for a tensor (its type()), else the object's qualified type name."""
    if isinstance(obj, Tensor):
        return obj.type()
    cls = obj if isinstance(obj, type) else type(obj)
    return f"{cls.__module__}.{cls.__qualname__}" if cls.__module__ != "builtins" else cls.__name__


def empty_permuted(size, physical_layout, *, dtype=None, requires_grad: bool = False, **kwargs):
    """An uninitialised tensor of ``size`` whose memory holds its dims in ``physical_layout``
    order (dims[physical_layout[-1]] varies fastest), as torch.empty_permuted."""
    size, order = tuple(size), tuple(physical_layout)
    if sorted(order) != list(_builtins.range(len(size))):
        raise _BadShapeOrValue(  # (torch's RuntimeError)
            f"empty_permuted: {order} is not a permutation of the {len(size)} dims"
        )
    stored = empty(tuple(size[d] for d in order), dtype=dtype, **kwargs)
    out = stored.permute(tuple(order.index(d) for d in _builtins.range(len(size))))
    return out.requires_grad_() if requires_grad else out


# torch's symbolic-shape helpers: on plain numbers they are the Python builtins
def sym_int(a):
    return _builtins.int(a)


def sym_float(a):
    return _builtins.float(a)


def sym_max(a, b):
    return _builtins.max(a, b)


def sym_min(a, b):
    return _builtins.min(a, b)


def sym_not(a):
    return not a


def sym_sqrt(a):
    import math

    return math.sqrt(a)


def sym_ite(b, t, f):
    return t if b else f


def sym_sum(args):
    return _builtins.sum(args)


def from_dlpack(ext_tensor) -> Tensor:
    """A tensor sharing the memory of any DLPack-capable CPU array (NumPy, torch, JAX)."""
    if not hasattr(ext_tensor, "__dlpack__"):
        raise TypeError(f"from_dlpack: expected a DLPack array, got {type(ext_tensor).__name__}")
    return Tensor(_np.from_dlpack(ext_tensor))


def get_device(t) -> int:
    return -1  # torch's answer for a CPU tensor


def is_storage(obj) -> bool:
    return False  # ember has no storage objects apart from the arrays


def _inplace_function(name: str):
    def fn(input, *args, **kwargs):  # noqa: A002
        if not isinstance(input, Tensor):
            raise TypeError(
                f"{name}(): argument 'input' must be Tensor, not {type(input).__name__}"
            )
        return getattr(input, name)(*args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``torch.{name}(x, ...)``: ``x.{name}(...)``, in place."
    return fn


# torch's top-level in-place functions (torch.relu_(x) is x.relu_())
for _name in (
    "abs_", "acos_", "acosh_", "arccos_", "arccosh_", "arcsin_", "arcsinh_", "arctan_",
    "arctanh_", "asin_", "asinh_", "atan_", "atanh_", "ceil_", "clamp_", "clamp_max_",
    "clamp_min_", "clip_", "cos_", "cosh_", "deg2rad_", "detach_", "erf_", "erfc_", "exp2_",
    "exp_", "expm1_", "fill_", "fix_", "floor_", "frac_", "gcd_", "i0_", "lcm_", "ldexp_",
    "log10_", "log1p_", "log2_", "log_", "logit_", "nan_to_num_", "neg_", "negative_",
    "rad2deg_", "reciprocal_", "relu_", "round_", "rsqrt_", "sigmoid_", "sin_", "sinc_",
    "sinh_", "sqrt_", "square_", "tan_", "tanh_", "trunc_", "xlogy_", "zero_", "index_put_",
    "addmv_", "resize_as_",
):  # fmt: skip
    if hasattr(Tensor, _name):
        globals()[_name] = _inplace_function(_name)
celu_, selu_, threshold_ = nn.functional.celu_, nn.functional.selu_, nn.functional.threshold_
from ember._aliases import rrelu_  # noqa: E402  (torch.rrelu_ takes generator=)


def dropout_(input, p: float, train: bool) -> Tensor:
    return nn.functional.dropout(input, p, train, inplace=True)


def alpha_dropout_(input, p: float, train: bool) -> Tensor:
    return nn.functional.alpha_dropout(input, p, train, inplace=True)


def feature_alpha_dropout_(input, p: float, train: bool) -> Tensor:
    return nn.functional.feature_alpha_dropout(input, p, train, inplace=True)


def show_config() -> None:
    """Print the version, compiler, OpenMP threads and the SIMD path in use."""
    print(f"ember {__version__}")
    print(f"  compiler:        {_C.compiler}")
    print(f"  OpenMP:          {_C.openmp_version} ({get_num_threads()} threads)")
    print(f"  GEMM ISA:        {_C.gemm_isa()} (EMBER_ISA={_os.environ.get('EMBER_ISA', 'unset')})")
    print(f"  NumPy:           {_np.__version__}")
    tuned = "keeps freed memory" if _C.malloc_tuned else "defaults"
    setting = _os.environ.get("EMBER_MALLOC_TUNING", "unset")
    print(f"  malloc:          {tuned} (EMBER_MALLOC_TUNING={setting})")


# libgomp's thread pool does not survive fork(): forked children (DataLoader workers,
# multiprocessing) run single-threaded instead of hanging.
_os.register_at_fork(after_in_child=lambda: _C.set_num_threads(1))

__all__ = [
    "Tensor", "Size", "autograd", "cuda", "accelerator", "backends", "amp", "autocast",
    "FloatTensor", "DoubleTensor", "HalfTensor", "LongTensor", "IntTensor", "ShortTensor",
    "CharTensor", "ByteTensor", "BoolTensor",
    "nn", "optim", "datasets", "ops", "data", "io", "preprocessing",
    "train", "utils", "Generator",
    "tensor", "from_numpy", "as_tensor", "asarray", "frombuffer", "empty_strided", "zeros",
    "ones", "full", "empty", "zeros_like",
    "ones_like", "randn", "rand", "randint", "randperm", "arange", "linspace", "logspace", "eye",
    "full_like", "empty_like", "randn_like", "rand_like", "normal", "bernoulli", "multinomial",
    "tanh", "sigmoid", "relu", "softmax", "log_softmax",
    "device", "no_grad", "enable_grad", "inference_mode", "finfo", "iinfo",
    "set_grad_enabled", "is_grad_enabled", "manual_seed",
    "set_num_threads", "get_num_threads", "show_config", "compile", "compiler", "cpu",
    "distributed", "to_dlpack", "GradScaler", "clear_autocast_cache", "get_autocast_dtype",
    "is_autocast_cache_enabled", "is_autocast_enabled", "set_autocast_cache_enabled",
    "set_autocast_dtype", "set_autocast_enabled", "is_autocast_cpu_enabled",
    "get_autocast_cpu_dtype", "get_autocast_gpu_dtype", "set_autocast_cpu_enabled",
    "set_autocast_cpu_dtype", "is_anomaly_enabled", "is_anomaly_check_nan_enabled",
    "set_anomaly_enabled", "typename", "empty_permuted", "unsafe_chunk", "unsafe_split",
    "triangular_solve",
    "unsafe_split_with_sizes", "sym_int", "sym_float", "sym_max", "sym_min", "sym_not",
    "sym_sqrt", "sym_ite", "sym_sum", "celu_", "selu_", "rrelu_", "threshold_", "dropout_",
    "alpha_dropout_", "feature_alpha_dropout_",
    "set_float32_matmul_precision", "get_float32_matmul_precision",
    "use_deterministic_algorithms", "are_deterministic_algorithms_enabled",
    "abs", "argmax", "argmin", "cat", "clamp", "exp", "flatten", "log", "matmul", "max",
    "maximum", "mean", "min", "minimum", "permute", "reshape", "sqrt", "squeeze", "stack",
    "sum", "transpose", "unsqueeze", "var", "where", "chunk", "split", "gather", "masked_fill",
    "summary", "save", "load",
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
    "matrix_power", "det", "inverse", "logdet", "slogdet", "linalg", "distributions", "special",
    "version", "profiler", "testing", "func", "jit", "vmap", "dtype", "bfloat16", "complex64",
    "complex128", "complex32", "chalf",
    "cfloat",
    "cdouble", "range", "scalar_tensor", "hann_window",
    "hamming_window", "blackman_window", "bartlett_window", "kaiser_window", "as_strided", "conj",
    "conj_physical",
    "detach", "fill", "gradient", "histogramdd", "igamma", "igammac", "imag", "real", "is_conj",
    "is_neg", "resolve_conj", "resolve_neg", "adaptive_avg_pool1d", "adaptive_max_pool1d",
    "alpha_dropout", "avg_pool1d", "batch_norm", "bilinear", "celu", "channel_shuffle",
    "constant_pad_nd", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
    "conv_transpose3d", "cosine_similarity", "dropout", "embedding", "feature_alpha_dropout",
    "group_norm", "hardshrink", "instance_norm", "layer_norm", "max_pool1d",
    "max_pool1d_with_indices", "max_pool2d", "max_pool3d", "pairwise_distance", "pixel_shuffle",
    "pixel_unshuffle", "prelu", "rms_norm", "rrelu", "selu", "threshold",
    "block_diag", "combinations", "trapezoid", "trapz", "cumulative_trapezoid", "vander",
    "unravel_index", "put", "select_scatter", "slice_scatter", "pinverse", "lu_unpack",
    "cholesky_solve", "cholesky_inverse",
    "index_reduce", "diagonal_scatter", "narrow_copy", "nonzero_static", "histogram",
    "adjoint",
    "matrix_exp", "cholesky", "qr", "svd", "frobenius_norm",
    "float32", "float64", "float16", "int64", "int32", "bool_", "float", "double", "long",
    "int8", "uint8", "int16", "short", "half",
    "poisson", "absolute", "addcdiv", "addcmul", "isin", "ldexp", "lerp", "mvlgamma", "nextafter",
    "randint_like", "is_complex", "is_nonzero", "is_same_size", "is_signed", "seed", "initial_seed",
    "get_rng_state", "set_rng_state", "get_default_dtype", "set_default_dtype",
    "get_default_device", "set_default_device", "set_default_tensor_type",
    "set_num_interop_threads", "get_num_interop_threads", "set_flush_denormal", "from_dlpack",
    "get_device", "is_storage", "memory_format", "contiguous_format", "layout", "strided",
    "preserve_format", "channels_last", "channels_last_3d", "add", "sub", "mul",
    "div", "neg", "eq", "ne", "lt", "le", "gt", "ge", "greater", "greater_equal", "less",
    "less_equal", "not_equal", "logical_and", "logical_or", "logical_xor", "logical_not", "isclose",
    "bitwise_and", "bitwise_or", "bitwise_xor", "bitwise_not", "bitwise_left_shift",
    "bitwise_right_shift", "clone", "frexp", "gcd", "lcm", "pdist", "set_printoptions",
    "isneginf", "isposinf", "isreal", "signbit", "fmax", "fmin", "subtract", "multiply", "divide",
    "true_divide", "floor_divide", "remainder", "fmod", "negative", "positive", "rsub",
    "float_power", "clamp_min", "clamp_max", "clip", "erf", "erfc", "erfinv", "lgamma", "digamma",
    "polygamma", "i0", "sinc", "logit", "xlogy", "atan2", "arctan2", "hypot", "logaddexp",
    "logaddexp2", "copysign", "heaviside", "exp2", "frac", "fix", "sgn", "deg2rad", "rad2deg",
    "nan_to_num", "asinh", "acosh", "atanh", "arcsin", "arccos", "arctan", "arcsinh", "arccosh",
    "arctanh", "is_tensor", "is_floating_point", "numel", "result_type", "promote_types",
    "can_cast", "angle",
    "uint16", "uint32", "uint64", "pi", "e", "inf", "nan", "newaxis", "default_generator",
    "is_inference_mode_enabled", "is_deterministic_algorithms_warn_only_enabled",
    "set_deterministic_debug_mode", "get_deterministic_debug_mode", "set_warn_always",
    "is_warn_always_enabled", "init_num_threads", "has_openmp", "has_mkl", "has_lapack",
    "has_spectral",
    "convolution",
    "grid_sampler",
    "affine_grid_generator",
    "lu",
    "lu_solve",
    "nuclear_norm",
    "svd_lowrank",
    "pca_lowrank",
    "as_strided_",
    "is_inference",
    "alias_copy",
    "as_strided_copy",
    "binary_cross_entropy_with_logits",
    "binomial",
    "cosine_embedding_loss",
    "ctc_loss",
    "detach_copy",
    "diagonal_copy",
    "embedding_renorm_",
    "expand_copy",
    "feature_dropout",
    "gru_cell",
    "hinge_embedding_loss",
    "kl_div",
    "lstm_cell",
    "margin_ranking_loss",
    "native_batch_norm",
    "native_dropout",
    "native_group_norm",
    "native_layer_norm",
    "permute_copy",
    "poisson_nll_loss",
    "rnn_relu_cell",
    "rnn_tanh_cell",
    "select_copy",
    "slice_copy",
    "split_copy",
    "split_with_sizes_copy",
    "squeeze_copy",
    "t_copy",
    "transpose_copy",
    "triplet_margin_loss",
    "unbind_copy",
    "unfold_copy",
    "unsqueeze_copy",
    "view_copy",
]  # fmt: skip

__all__ += ["complex", "polar", "view_as_real", "view_as_complex", "fft", "stft", "istft"]

# torch's out= and NumPy's axis=/keepdims= keywords (ember/_keywords.py)
from ember import _keywords  # noqa: E402

_keywords.install(globals(), _keywords.TOP_LEVEL)
_keywords.install(vars(linalg), _keywords.LINALG)
_keywords.install(vars(special), _keywords.SPECIAL)
_keywords.check_methods(Tensor)

# in-place methods on tensors of the autograd graph are recorded (ember/_inplace.py)
from ember import _inplace  # noqa: E402
from ember.tensor import _install_fast_inplace  # noqa: E402

_inplace.install(Tensor)
_install_fast_inplace()  # (C add_, mul_, ...: after the wraps above)

# pickle finds every public function by its name (wrappers and factory-made functions say where
# they live), as spawn DataLoader workers need (ember/_keywords.py)
_keywords.name_for_pickle(__name__, globals())
for _module in (linalg, special, fft, nn.functional):
    _keywords.name_for_pickle(_module.__name__, vars(_module))
_keywords.name_for_pickle("ember.tensor", vars(Tensor), "Tensor.")
del _module
