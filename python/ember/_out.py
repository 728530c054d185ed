"""PyTorch's ``out=`` keyword for the top-level, ``linalg`` and ``special`` functions that take
it: the result is computed as usual, then written into ``out`` (a Tensor, or a tuple of them
for ops that return several), which is returned. As in torch: an ``out`` of another shape is
resized (with torch's warning when it held elements), a result that cannot be cast to
``out``'s dtype within its kind is refused, and so is ``out=`` while autograd records (a
differentiable input, or an ``out`` that requires grad)."""

from __future__ import annotations

import functools
import warnings

import numpy as np

from ember.autograd import is_grad_enabled
from ember.tensor import Tensor

# torch's functions with an ``out=`` keyword, by namespace (from torch 2.13's signatures)
TOP_LEVEL = """
abs absolute acos acosh add addbmm addcdiv addcmul addmm addmv addr all amax amin aminmax angle
any arange arccos arccosh arcsin arcsinh arctan arctan2 arctanh asin asinh atan atan2 atanh
baddbmm bernoulli bitwise_and bitwise_left_shift bitwise_not bitwise_or bitwise_right_shift
bitwise_xor bmm bucketize cat ceil chain_matmul cholesky cholesky_inverse cholesky_solve clamp
clamp_max clamp_min clip column_stack concat concatenate conj_physical copysign cos cosh cross
cummax cummin cumprod cumsum deg2rad diag diff digamma div divide dot dstack empty eq erf erfc
erfinv exp exp2 expm1 eye fix float_power floor floor_divide fmax fmin fmod frac frexp full
gather gcd ge ger greater greater_equal gt heaviside histc histogram hstack hypot i0 igamma
igammac index_select inner inverse isneginf isposinf kron kthvalue lcm ldexp le lerp less
less_equal lgamma linspace log log10 log1p log2 log_softmax logaddexp logaddexp2 logcumsumexp
logical_and logical_not logical_or logical_xor logit logspace logsumexp lt masked_select matmul
matrix_power max maximum mean median min minimum mm mode msort mul multinomial multiply mv
mvlgamma nan_to_num nanmean nanmedian nanquantile nansum narrow_copy ne neg negative nextafter
nonzero norm normal not_equal ones outer polygamma pow prod qr quantile rad2deg rand randint
randn randperm range reciprocal remainder renorm round row_stack rsqrt searchsorted sgn sigmoid
sign signbit sin sinc sinh slice_scatter softmax sort sqrt square stack std sub subtract sum svd
take take_along_dim tan tanh tensordot threshold topk tril triu true_divide trunc var vdot
vstack where xlogy zeros
""".split()
LINALG = """
cholesky cond cross det eigh eigvalsh inv matmul matrix_norm matrix_power matrix_rank multi_dot
norm pinv qr slogdet solve solve_triangular svd svdvals tensorinv tensorsolve vecdot vector_norm
""".split()
SPECIAL = """
digamma entr erf erfc erfinv exp2 expit expm1 gammainc gammaincc gammaln i0 log1p logit
logsumexp multigammaln ndtr ndtri polygamma psi round sinc xlog1py xlogy
""".split()


def with_out(fn):
    """``fn`` taking torch's ``out=`` keyword; without it, ``fn`` runs as before."""

    @functools.wraps(fn)
    def op(*args, out=None, **kwargs):
        if out is None:
            return fn(*args, **kwargs)
        result = fn(*args, **kwargs)
        name = fn.__name__
        if isinstance(result, tuple):
            if not (isinstance(out, tuple | list) and len(out) == len(result)):
                raise TypeError(
                    f"{name}(): out must be a tuple of {len(result)} Tensors, "
                    f"got {type(out).__name__}"
                )
            written = [_write(name, r, o) for r, o in zip(result, out, strict=True)]
            return type(result)(*written) if hasattr(result, "_fields") else tuple(written)
        return _write(name, result, out)

    return op


def _write(name: str, result, out):
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}(): argument 'out' must be Tensor, not {type(out).__name__}")
    if is_grad_enabled() and (out.requires_grad or getattr(result, "requires_grad", False)):
        raise RuntimeError(
            f"{name}(): functions with out=... arguments don't support automatic "
            "differentiation, but one of the arguments requires grad."
        )
    value = np.asarray(result.data if isinstance(result, Tensor) else result)
    if not np.can_cast(value.dtype, out.data.dtype, casting="same_kind"):
        raise RuntimeError(
            f"result type {value.dtype} can't be cast to the desired output type {out.dtype}"
        )
    if not out.data.flags.writeable:
        raise ValueError(f"{name}(): out is a read-only tensor")
    if out.shape != value.shape:
        if out.data.size:
            warnings.warn(
                f"An output with one or more elements was resized since it had shape "
                f"{list(out.shape)}, which does not match the required output shape "
                f"{list(value.shape)}. This behavior is deprecated, and in a future PyTorch "
                "release outputs will not be resized unless they have zero elements.",
                UserWarning,
                stacklevel=3,
            )
        out.data = np.empty(value.shape, out.data.dtype)
    np.copyto(out.data, value, casting="unsafe")
    return out


def install(namespace: dict, names) -> None:
    """Replace each named function in ``namespace`` (a module's globals) by its ``out=`` form."""
    for name in names:
        namespace[name] = with_out(namespace[name])
