"""Parameter initialisers with PyTorch's names and formulas, drawn from ember's seeded
generator (``ember.manual_seed``). Each fills a Tensor in place and returns it; a NumPy array
(``m.weight.data``, as PyTorch code writes ``nn.init.normal_(m.weight.data, 0, 0.02)``) is
filled in place and returned likewise."""

from __future__ import annotations

import functools
import math
import numbers
import warnings

import numpy as np

from ember import _inplace, _lowp, random
from ember._errors import BadShapeOrValue
from ember.nn.functional import _NoKernel
from ember.ops import _special
from ember.random import rng
from ember.tensor import Tensor

# torch returns the int 1 for the linear family
_GAINS = {
    "linear": 1,
    "conv1d": 1,
    "conv2d": 1,
    "conv3d": 1,
    "conv_transpose1d": 1,
    "conv_transpose2d": 1,
    "conv_transpose3d": 1,
    "sigmoid": 1,
    "tanh": 5.0 / 3,
    "relu": math.sqrt(2.0),
    "selu": 3.0 / 4,
}


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for a nonlinearity (leaky_relu takes its negative slope)."""
    if nonlinearity in _GAINS:
        return _GAINS[nonlinearity]
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif isinstance(param, bool) or not isinstance(param, int | float):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a number")
        else:
            slope = param
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


def _tensor_or_array(init):
    """Let ``init`` take a parameter's ``.data`` array: it fills a Tensor viewing the array."""

    @functools.wraps(init)
    def wrapper(tensor, *args, **kwargs):
        if isinstance(tensor, np.ndarray):
            init(Tensor(tensor), *args, **kwargs)
            return tensor
        return init(tensor, *args, **kwargs)

    return wrapper


def _check_tensor(tensor, op: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    _check_tensor(tensor, "init")
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(tensor: Tensor, values) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init: expected a Tensor, got {type(tensor).__name__}")
    if not tensor.is_meta:  # a meta tensor has no values to set (torch's init skips it too)
        tensor.data[...] = values
        _inplace.note(tensor)  # nodes that saved the old values refuse to backward
    return tensor


def _rng(tensor, op: str, generator) -> np.random.Generator:
    """The generator to draw ``tensor``'s random values from (``rng(generator)``). An integer
    or bool tensor would silently truncate the draw: refused with PyTorch's NotImplementedError
    (also a BadDtype, ember's TypeError)."""
    if tensor.data.dtype.kind not in "fc" and not _lowp.is_float(tensor.data.dtype):
        raise _NoKernel(f"{op}: needs a floating-point tensor, got {tensor.data.dtype}")
    return rng(generator)


def _check_range(a, b) -> None:
    if a > b:  # PyTorch's error (RuntimeError) and message
        raise RuntimeError(
            f"uniform_ expects to return a [from, to) range, but found from={a} > to={b}"
        )


@_tensor_or_array
def uniform_(tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    _check_tensor(tensor, "uniform_")
    if not (math.isfinite(a) and math.isfinite(b)):
        raise ValueError(f"uniform_: a ({a}) and b ({b}) must be finite")
    _check_range(a, b)
    return _fill(tensor, _rng(tensor, "uniform_", generator).uniform(a, b, tensor.shape))


@_tensor_or_array
def normal_(tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    _check_tensor(tensor, "normal_")
    if not std >= 0:
        raise RuntimeError(f"normal expects std >= 0.0, but found std {std}")
    _rng(tensor, "normal_", generator)  # (its dtype check)
    if tensor.data.dtype.kind == "c":
        return _fill(tensor, rng(generator).normal(mean, std, tensor.shape))
    return _fill(
        tensor, random.normal_samples(generator, tensor.shape, tensor.data.dtype, mean, std)
    )


@_tensor_or_array
def trunc_normal_(
    tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, generator=None
):
    """Normal(mean, std^2) truncated to [a, b] (absolute bounds), by inverting the normal CDF
    on a uniform draw between CDF(a) and CDF(b), as PyTorch does: exact in distribution and
    without retries however far [a, b] is in the tail."""
    _check_tensor(tensor, "trunc_normal_")
    if math.isnan(mean) or math.isnan(std) or math.isnan(a) or math.isnan(b):
        raise ValueError(f"trunc_normal_: NaN in mean={mean}, std={std}, a={a}, b={b}")
    if std < 0:
        raise ValueError(f"trunc_normal_: std must be >= 0, got {std}")
    _check_range(a, b)
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn(
            "mean is more than 2 std from [a, b] in nn.init.trunc_normal_. "
            "The distribution of values may be incorrect.",
            stacklevel=2,
        )
    if std == 0:
        return _fill(tensor, min(max(mean, a), b))

    def cdf(x):  # standard normal CDF mapped to erf's range [-1, 1]
        return math.erf((x - mean) / (std * math.sqrt(2.0)))

    lo, hi = cdf(a), cdf(b)
    u = _rng(tensor, "trunc_normal_", generator).uniform(lo, hi, tensor.shape)
    u = np.clip(u, np.nextafter(-1.0, 0.0), np.nextafter(1.0, 0.0))
    out = mean + std * math.sqrt(2.0) * _special("erfinv", u)
    return _fill(tensor, np.clip(out, a, b))


@_tensor_or_array
def constant_(tensor, val: float) -> Tensor:
    # torch's fill_: a number or a 0-d Tensor (a list, an array or None is a TypeError)
    if isinstance(val, Tensor):
        if val.ndim != 0:
            raise BadShapeOrValue(
                "fill_ only supports 0-dimension value tensor but got tensor with "
                f"{val.ndim} dimensions."
            )
        val = val.item()
    elif not isinstance(val, numbers.Number | np.generic):
        raise TypeError(f"constant_: val must be a number or a 0-d Tensor, got {val!r}")
    try:
        return _fill(tensor, val)
    except (OverflowError, ValueError, TypeError):  # NaN, inf or complex into a real dtype...
        raise BadShapeOrValue(  # (torch: RuntimeError)
            f"constant_: value {val} cannot be converted to type {tensor.dtype} without overflow"
        ) from None


@_tensor_or_array
def ones_(tensor) -> Tensor:
    return _fill(tensor, 1)


@_tensor_or_array
def zeros_(tensor) -> Tensor:
    return _fill(tensor, 0)


@_tensor_or_array
def eye_(tensor) -> Tensor:
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


@_tensor_or_array
def xavier_uniform_(tensor, gain: float = 1.0, generator=None) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a, generator)


@_tensor_or_array
def xavier_normal_(tensor, gain: float = 1.0, generator=None) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)), generator)


def _calculate_correct_fan(tensor, mode: str) -> int:
    """fan_in or fan_out of ``tensor`` (PyTorch's helper of the same name)."""
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of fan_in, fan_out")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


def _kaiming_std(tensor, a, mode, nonlinearity):
    fan = _calculate_correct_fan(tensor, mode)
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan) if fan > 0 else 0.0


def _zero_element(tensor) -> bool:
    if 0 in tensor.shape:
        warnings.warn("Initializing zero-element tensors is a no-op", UserWarning, stacklevel=3)
        return True
    return False


@_tensor_or_array
def kaiming_uniform_(
    tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
):
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015)."""
    if _zero_element(tensor):
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound, generator)


@_tensor_or_array
def kaiming_normal_(
    tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu", generator=None
):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if _zero_element(tensor):
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity), generator)


@_tensor_or_array
def orthogonal_(tensor, gain: float = 1.0, generator=None) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw."""
    if tensor.ndim < 2:
        raise ValueError("orthogonal_: only tensors with 2 or more dims are supported")
    if tensor.data.size == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = _rng(tensor, "orthogonal_", generator).normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))


@_tensor_or_array
def dirac_(tensor, groups: int = 1) -> Tensor:
    """The identity convolution: a 3-5-D weight (out, in, *kernel) that is 1 at the kernel's
    centre where out channel == in channel (within each of ``groups``), 0 elsewhere, so a
    convolution with it copies as many input channels as it can."""
    if tensor.ndim not in (3, 4, 5):
        raise ValueError("dirac_: only tensors with 3, 4, or 5 dimensions are supported")
    if isinstance(groups, bool) or not isinstance(groups, int) or groups < 1:
        raise ValueError(f"dirac_: groups must be a positive int, got {groups!r}")
    out, cin = tensor.shape[:2]
    if out % groups:
        raise ValueError("dirac_: dim 0 must be divisible by groups")
    per_group = out // groups
    w = np.zeros(tensor.shape, dtype=tensor.data.dtype)
    centre = tuple(k // 2 for k in tensor.shape[2:])
    for g in range(groups):
        for d in range(min(per_group, cin)):
            w[(g * per_group + d, d) + centre] = 1
    return _fill(tensor, w)


@_tensor_or_array
def sparse_(tensor, sparsity: float, std: float = 0.01, generator=None) -> Tensor:
    """A 2-D matrix drawn from N(0, std^2) with ceil(sparsity * rows) entries of every column
    set to zero, at random rows (Martens, 2010). As torch, any sparsity is taken: the count
    slices a permutation of the rows (past 1 all of them, a negative one all but the last)."""
    if tensor.ndim != 2:
        raise ValueError("sparse_: only tensors with 2 dimensions are supported")
    if std < 0:
        raise BadShapeOrValue(f"sparse_: std must be >= 0, got {std}")  # (torch: RuntimeError)
    rows, cols = tensor.shape
    g = _rng(tensor, "sparse_", generator)
    w = g.normal(0.0, std, (rows, cols))
    num_zeros = int(math.ceil(sparsity * rows))
    for c in range(cols):
        w[g.permutation(rows)[:num_zeros], c] = 0
    return _fill(tensor, w)


def _deprecated(new):
    name = new.__name__[:-1]

    def old(*args, **kwargs):
        warnings.warn(
            f"`nn.init.{name}` is now deprecated in favor of `nn.init.{new.__name__}`.",
            FutureWarning,
            stacklevel=2,
        )
        return new(*args, **kwargs)

    old.__name__ = old.__qualname__ = name
    old.__doc__ = f"Deprecated alias of :func:`{new.__name__}` (PyTorch's)."
    return old


# PyTorch's deprecated names without the trailing underscore
uniform = _deprecated(uniform_)
normal = _deprecated(normal_)
constant = _deprecated(constant_)
eye = _deprecated(eye_)
dirac = _deprecated(dirac_)
xavier_uniform = _deprecated(xavier_uniform_)
xavier_normal = _deprecated(xavier_normal_)
kaiming_uniform = _deprecated(kaiming_uniform_)
kaiming_normal = _deprecated(kaiming_normal_)
orthogonal = _deprecated(orthogonal_)
sparse = _deprecated(sparse_)
