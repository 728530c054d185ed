"""Parameter initialisers with PyTorch's names and formulas, drawn from ember's seeded
generator (``ember.manual_seed``). Each fills a Tensor in place and returns it."""

from __future__ import annotations

import math

import numpy as np

from ember.random import default_generator
from ember.tensor import Tensor

_GAINS = {
    "linear": 1.0,
    "conv1d": 1.0,
    "conv2d": 1.0,
    "conv3d": 1.0,
    "conv_transpose1d": 1.0,
    "conv_transpose2d": 1.0,
    "conv_transpose3d": 1.0,
    "sigmoid": 1.0,
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


def _check_tensor(tensor, op: str) -> None:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"{op}: expected a Tensor, got {type(tensor).__name__}")


def _calculate_fan_in_and_fan_out(tensor) -> tuple[int, int]:
    _check_tensor(tensor, "init")
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need a tensor with at least 2 dims, got shape {shape}"
        )
    receptive = int(np.prod(shape[2:])) if len(shape) > 2 else 1
    return shape[1] * receptive, shape[0] * receptive


def _fill(tensor: Tensor, values) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init: expected a Tensor, got {type(tensor).__name__}")
    tensor.data[...] = values
    return tensor


def uniform_(tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    _check_tensor(tensor, "uniform_")
    if not (math.isfinite(a) and math.isfinite(b) and a <= b):
        raise ValueError(f"uniform_: a ({a}) and b ({b}) must be finite with a <= b")
    return _fill(tensor, default_generator().uniform(a, b, tensor.shape))


def normal_(tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    _check_tensor(tensor, "normal_")
    if not std >= 0:
        raise ValueError(f"normal_: std must be >= 0, got {std}")
    return _fill(tensor, default_generator().normal(mean, std, tensor.shape))


def _q(z):
    """The upper tail P(Z > z) of the standard normal, accurate far into the tail."""
    return 0.5 * np.asarray(_ERFC(np.asarray(z) / math.sqrt(2.0)), dtype=np.float64)


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def _upper_tail(rng, lo: float, hi: float, shape) -> np.ndarray:
    """Standard normal truncated to [lo, hi] with lo >= 0, by inverting the tail function."""
    q_lo, q_hi = float(_q(lo)), float(_q(hi))
    if q_lo == 0.0:  # beyond double precision: the tail is lo + Exp(lo), as Z | Z > lo for big lo
        return np.minimum(lo + rng.exponential(1.0 / lo, shape), hi)
    u = rng.uniform(q_hi, q_lo, shape)
    z0 = np.full(shape, lo)
    z1 = np.full(shape, min(hi, lo + 40.0))
    for _ in range(64):  # bisection: _q is decreasing
        mid = 0.5 * (z0 + z1)
        above = _q(mid) > u
        z0, z1 = np.where(above, mid, z0), np.where(above, z1, mid)
    return 0.5 * (z0 + z1)


def trunc_normal_(tensor, mean=0.0, std=1.0, a=-2.0, b=2.0) -> Tensor:
    """Normal(mean, std) truncated to [a, b]: redrawn while that is cheap, else sampled through
    the inverse tail function (a window far from the mean must not loop for ever)."""
    _check_tensor(tensor, "trunc_normal_")
    if not (std > 0 and a <= b) or math.isnan(mean):
        raise ValueError(f"trunc_normal_: need std > 0 and a <= b, got std={std}, [{a}, {b}]")
    rng = default_generator()
    lo, hi = (a - mean) / std, (b - mean) / std
    mass = float(_q(lo) - _q(hi))
    if mass >= 0.05:
        out = rng.normal(mean, std, tensor.shape)
        bad = (out < a) | (out > b)
        while bad.any():
            out[bad] = rng.normal(mean, std, int(bad.sum()))
            bad = (out < a) | (out > b)
        return _fill(tensor, np.clip(out, a, b))
    if lo <= 0 <= hi:  # a narrow window around the mean: uniform proposal, almost always kept
        z = rng.uniform(lo, hi, tensor.shape)
        bad = rng.random(tensor.shape) > np.exp(-0.5 * z * z)
        while bad.any():
            z[bad] = rng.uniform(lo, hi, int(bad.sum()))
            bad[bad] = rng.random(int(bad.sum())) > np.exp(-0.5 * z[bad] ** 2)
    elif lo > 0:
        z = _upper_tail(rng, lo, hi, tensor.shape)
    else:
        z = -_upper_tail(rng, -hi, -lo, tensor.shape)
    return _fill(tensor, np.clip(mean + std * z, a, b))


def constant_(tensor, val: float) -> Tensor:
    return _fill(tensor, val)


def ones_(tensor) -> Tensor:
    return _fill(tensor, 1)


def zeros_(tensor) -> Tensor:
    return _fill(tensor, 0)


def eye_(tensor) -> Tensor:
    if tensor.ndim != 2:
        raise ValueError(f"eye_: only 2-D tensors are supported, got shape {tensor.shape}")
    return _fill(tensor, np.eye(*tensor.shape))


def xavier_uniform_(tensor, gain: float = 1.0) -> Tensor:
    """U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010)."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    a = gain * math.sqrt(6.0 / float(fan_in + fan_out))
    return uniform_(tensor, -a, a)


def xavier_normal_(tensor, gain: float = 1.0) -> Tensor:
    """N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def _kaiming_std(tensor, a, mode, nonlinearity):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"kaiming: mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    gain = calculate_gain(nonlinearity, a)
    return gain / math.sqrt(fan) if fan > 0 else 0.0


def kaiming_uniform_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """U(-b, b) with b = gain * sqrt(3 / fan) (He et al., 2015)."""
    if 0 in tensor.shape:
        return tensor
    bound = math.sqrt(3.0) * _kaiming_std(tensor, a, mode, nonlinearity)
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor, a: float = 0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"):
    """N(0, std^2) with std = gain / sqrt(fan)."""
    if 0 in tensor.shape:
        return tensor
    return normal_(tensor, 0.0, _kaiming_std(tensor, a, mode, nonlinearity))


def orthogonal_(tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix from the QR decomposition of a normal draw."""
    if tensor.ndim < 2:
        raise ValueError("orthogonal_: only tensors with 2 or more dims are supported")
    rows = tensor.shape[0]
    cols = tensor.data.size // rows
    flat = default_generator().normal(0.0, 1.0, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q *= np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(tensor, gain * q.reshape(tensor.shape))
