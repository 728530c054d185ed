"""Continuous distributions."""

from __future__ import annotations

import math

import numpy as np

import ember
from ember import random as _random
from ember.distributions import constraints
from ember.distributions.distribution import (
    Distribution,
    ExponentialFamily,
    _as_tensor,
    _broadcast_all,
    _draw,
    _finfo_tiny,
)
from ember.tensor import Tensor


class _LocScale(Distribution):
    """A location-scale family on the real line: loc + scale * (a standard draw)."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)


class Normal(_LocScale, ExponentialFamily):
    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)
    stddev = property(lambda self: self.scale)
    variance = property(lambda self: self.scale.pow(2))

    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (self.loc / self.scale.pow(2), -0.5 * self.scale.pow(2).reciprocal())

    def _log_normalizer(self, x, y):
        return -0.25 * x.pow(2) / y + 0.5 * (-math.pi / y).log()

    def rsample(self, sample_shape=()):
        eps = _draw("standard_normal", self._extended_shape(sample_shape), self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        value = self._checked(value)
        var = self.scale**2
        return (
            -((value - self.loc) ** 2) / (2 * var)
            - self.scale.log()
            - math.log(math.sqrt(2 * math.pi))
        )

    def cdf(self, value):
        value = self._checked(value)
        return 0.5 * (1 + ember.erf((value - self.loc) * self.scale.reciprocal() / math.sqrt(2)))

    def icdf(self, value):
        return self.loc + self.scale * ember.erfinv(2 * value - 1) * math.sqrt(2)

    def entropy(self):
        return 0.5 + 0.5 * math.log(2 * math.pi) + self.scale.log()


class LogNormal(Distribution):
    """exp of a Normal(loc, scale) variable."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.base_dist = Normal(loc, scale, validate_args=validate_args)
        self.loc, self.scale = self.base_dist.loc, self.base_dist.scale
        super().__init__(self.loc.shape, validate_args=validate_args)

    mean = property(lambda self: (self.loc + self.scale.pow(2) / 2).exp())
    mode = property(lambda self: (self.loc - self.scale.pow(2)).exp())
    variance = property(
        lambda self: self.scale.pow(2).expm1() * (2 * self.loc + self.scale.pow(2)).exp()
    )

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape).exp()

    def log_prob(self, value):
        value = self._checked(value)
        y = value.log()
        return self.base_dist.log_prob(y) - y

    def cdf(self, value):
        # validated in the base's space, as torch's TransformedDistribution (cdf(0) is 0)
        return self.base_dist.cdf(_as_tensor(value).log())

    def icdf(self, value):
        return self.base_dist.icdf(value).exp()

    def entropy(self):
        return self.base_dist.entropy() + self.loc


class Uniform(Distribution):
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = _broadcast_all(low, high)
        super().__init__(self.low.shape, validate_args=validate_args)

    @property
    def arg_constraints(self):
        return {"low": constraints.less_than(self.high), "high": constraints.greater_than(self.low)}

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        # closed, as torch's: log_prob(high) is -inf rather than an error
        return constraints.interval(self.low, self.high)

    mean = property(lambda self: (self.high + self.low) / 2)
    mode = property(lambda self: ember.full_like(self.high, float("nan")))
    stddev = property(lambda self: (self.high - self.low) / 12**0.5)
    variance = property(lambda self: (self.high - self.low).pow(2) / 12)

    def rsample(self, sample_shape=()):
        u = _draw("random", self._extended_shape(sample_shape), self.low.dtype)
        return self.low + u * (self.high - self.low)

    def log_prob(self, value):
        value = self._checked(value)
        inside = ((self.low <= value) & (self.high > value)).to(self.low.dtype)
        return inside.log() - (self.high - self.low).log()

    def cdf(self, value):
        value = self._checked(value)
        return ((value - self.low) / (self.high - self.low)).clamp(0, 1)

    def icdf(self, value):
        return value * (self.high - self.low) + self.low

    def entropy(self):
        return (self.high - self.low).log()

    def __repr__(self):
        parts = [
            f"{n}: {p if p.numel() == 1 else repr(p.size())}"
            for n, p in (("low", self.low), ("high", self.high))
        ]
        return f"Uniform({', '.join(parts)})"


class Exponential(ExponentialFamily):
    arg_constraints = {"rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, rate, validate_args=None):
        (self.rate,) = _broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    mean = property(lambda self: self.rate.reciprocal())
    mode = property(lambda self: ember.zeros_like(self.rate))
    stddev = property(lambda self: self.rate.reciprocal())
    variance = property(lambda self: self.rate.pow(-2))

    _mean_carrier_measure = 0
    _natural_params = property(lambda self: (-self.rate,))

    def _log_normalizer(self, x):
        return -(-x).log()

    def rsample(self, sample_shape=()):
        e = _draw("standard_exponential", self._extended_shape(sample_shape), self.rate.dtype)
        return e / self.rate

    def log_prob(self, value):
        value = self._checked(value)
        return self.rate.log() - self.rate * value

    def cdf(self, value):
        return 1 - (-self.rate * self._checked(value)).exp()

    def icdf(self, value):
        return -(-value).log1p() / self.rate

    def entropy(self):
        return 1.0 - self.rate.log()


class Laplace(_LocScale):
    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)
    stddev = property(lambda self: 2**0.5 * self.scale)
    variance = property(lambda self: 2 * self.scale.pow(2))

    def rsample(self, sample_shape=()):
        # u uniform on (-1, 1): PyTorch's inverse-CDF draw, the open end kept off -1
        eps = float(np.finfo(self.loc.dtype).eps)
        u = _draw("uniform", self._extended_shape(sample_shape), self.loc.dtype, eps - 1, 1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value):
        value = self._checked(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value):
        d = self._checked(value) - self.loc
        return 0.5 - 0.5 * d.sign() * (-d.abs() / self.scale).expm1()

    def icdf(self, value):
        t = value - 0.5
        return self.loc - self.scale * t.sign() * (-2 * t.abs()).log1p()

    def entropy(self):
        return 1 + (2 * self.scale).log()


class Cauchy(_LocScale):
    mean = property(lambda self: ember.full_like(self.loc, float("nan")))
    mode = property(lambda self: self.loc)
    variance = property(lambda self: ember.full_like(self.loc, float("inf")))

    def rsample(self, sample_shape=()):
        eps = _draw("standard_cauchy", self._extended_shape(sample_shape), self.loc.dtype)
        return self.loc + eps * self.scale

    def log_prob(self, value):
        value = self._checked(value)
        z = (value - self.loc) / self.scale
        return -math.log(math.pi) - self.scale.log() - z.pow(2).log1p()

    def cdf(self, value):
        return ((self._checked(value) - self.loc) / self.scale).atan() / math.pi + 0.5

    def icdf(self, value):
        return (math.pi * (value - 0.5)).tan() * self.scale + self.loc

    def entropy(self):
        return math.log(4 * math.pi) + self.scale.log()


class HalfNormal(Distribution):
    """|X| for X ~ Normal(0, scale)."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        self.base_dist = Normal(0.0, scale, validate_args=validate_args)
        self.scale = self.base_dist.scale
        super().__init__(self.scale.shape, validate_args=validate_args)

    mean = property(lambda self: self.scale * math.sqrt(2 / math.pi))
    mode = property(lambda self: ember.zeros_like(self.scale))
    variance = property(lambda self: self.scale.pow(2) * (1 - 2 / math.pi))

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape).abs()

    def log_prob(self, value):
        value = self._checked(value)
        lp = self.base_dist.log_prob(value) + math.log(2)
        return ember.where(value >= 0, lp, float("-inf"))

    def cdf(self, value):
        return 2 * self.base_dist.cdf(self._checked(value)) - 1

    def icdf(self, value):
        return self.base_dist.icdf((value + 1) / 2)

    def entropy(self):
        return self.base_dist.entropy() - math.log(2)


class Gumbel(_LocScale):
    mean = property(lambda self: self.loc + self.scale * _EULER_GAMMA)
    mode = property(lambda self: self.loc)
    stddev = property(lambda self: (math.pi / math.sqrt(6)) * self.scale)
    variance = property(lambda self: self.stddev.pow(2))

    def rsample(self, sample_shape=()):
        # u on (tiny, 1 - eps]: both logs finite, as PyTorch clamps its uniform draw
        finfo = np.finfo(self.loc.dtype)
        u = _draw(
            "uniform", self._extended_shape(sample_shape), self.loc.dtype, finfo.tiny, 1 - finfo.eps
        )
        return self.loc - self.scale * (-u.log()).log()

    def log_prob(self, value):
        value = self._checked(value)
        z = (self.loc - value) / self.scale
        return z - z.exp() - self.scale.log()

    def cdf(self, value):
        return (-((self.loc - self._checked(value)) / self.scale).exp()).exp()

    def icdf(self, value):
        # torch inverts through its Uniform(tiny, 1 - eps) base: finite at 0 and 1
        finfo = np.finfo(self.loc.dtype)
        u = value * (1 - finfo.eps - finfo.tiny) + finfo.tiny
        return self.loc - self.scale * (-u.log()).log()

    def entropy(self):
        return self.scale.log() + (1 + _EULER_GAMMA)


_EULER_GAMMA = 0.57721566490153286060


class Gamma(ExponentialFamily):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = _broadcast_all(concentration, rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    mean = property(lambda self: self.concentration / self.rate)
    mode = property(lambda self: ((self.concentration - 1) / self.rate).clamp(min=0))
    variance = property(lambda self: self.concentration / self.rate.pow(2))

    _mean_carrier_measure = 0
    _natural_params = property(lambda self: (self.concentration - 1, -self.rate))

    def _log_normalizer(self, x, y):
        return ember.lgamma(x + 1) + (x + 1) * (-y.reciprocal()).log()

    def rsample(self, sample_shape=()):
        g = _standard_gamma(self.concentration, self._extended_shape(sample_shape))
        return (g / self.rate).clamp(min=_finfo_tiny(self.rate))

    def cdf(self, value):
        return ember.special.gammainc(self.concentration, self.rate * self._checked(value))

    def log_prob(self, value):
        # numbers are taken as tensors before the check, as torch's Gamma does
        value = self._checked(_as_tensor(value, self.rate.dtype))
        c, r = self.concentration, self.rate
        return ember.xlogy(c, r) + ember.xlogy(c - 1, value) - r * value - ember.lgamma(c)

    def entropy(self):
        c = self.concentration
        return c - self.rate.log() + ember.lgamma(c) + (1.0 - c) * ember.digamma(c)


class Chi2(Gamma):
    """Gamma(df / 2, 1 / 2)."""

    arg_constraints = {"df": constraints.positive}

    def __init__(self, df, validate_args=None):
        (self.df,) = _broadcast_all(df)
        super().__init__(0.5 * self.df, ember.full_like(self.df, 0.5), validate_args=validate_args)


class StudentT(Distribution):
    arg_constraints = {
        "df": constraints.positive,
        "loc": constraints.real,
        "scale": constraints.positive,
    }
    support = constraints.real
    has_rsample = True

    def __init__(self, df, loc=0.0, scale=1.0, validate_args=None):
        self.df, self.loc, self.scale = _broadcast_all(df, loc, scale)
        super().__init__(self.df.shape, validate_args=validate_args)

    @property
    def mean(self):
        return ember.where(self.df > 1, self.loc, float("nan"))

    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        var = self.scale.pow(2) * self.df / (self.df - 2)
        var = ember.where(self.df > 2, var, float("inf"))
        return ember.where(self.df > 1, var, float("nan"))

    def rsample(self, sample_shape=()):
        # X / sqrt(Z / df) for X ~ N(0, 1) and Z ~ Chi2(df)
        shape = self._extended_shape(sample_shape)
        x = _draw("standard_normal", shape, self.df.dtype)
        z = _standard_gamma(0.5 * self.df, shape) * 2
        return self.loc + self.scale * x * (z / self.df).rsqrt()

    def log_prob(self, value):
        value = self._checked(value)
        y = (value - self.loc) / self.scale
        half_df = 0.5 * self.df
        z = (
            self.scale.log()
            + 0.5 * self.df.log()
            + 0.5 * math.log(math.pi)
            + ember.lgamma(half_df)
            - ember.lgamma(half_df + 0.5)
        )
        return -0.5 * (self.df + 1.0) * (y.pow(2) / self.df).log1p() - z

    def entropy(self):
        half_df = 0.5 * self.df
        lbeta = ember.lgamma(half_df) + math.lgamma(0.5) - ember.lgamma(half_df + 0.5)
        return (
            self.scale.log()
            + (half_df + 0.5) * (ember.digamma(half_df + 0.5) - ember.digamma(half_df))
            + 0.5 * self.df.log()
            + lbeta
        )


def _standard_gamma_grad(alpha: np.ndarray, x: np.ndarray) -> np.ndarray:
    """dx/dalpha of a Gamma(alpha, 1) draw x holding its quantile u = P(alpha, x) fixed
    (implicit reparameterisation): -(dP/dalpha) / p(x). With P = sum_n t_n,
    t_n = x^(alpha+n) e^-x / Gamma(alpha+n+1), dt_n/dalpha = t_n (log x - digamma(alpha+n+1))
    and t_n / p(x) = x^(n+1) / (alpha (alpha+1) ... (alpha+n)), so no exponentials are needed;
    float64 throughout (about 1e-10 relative against 40-digit arithmetic)."""
    x = np.maximum(x, np.finfo(np.float64).tiny)
    log_x = np.log(x)
    a = alpha + 1.0
    r = x / alpha  # t_0 / p(x)
    psi = ember.digamma(ember.tensor(a)).data
    total = r * (log_x - psi)
    past_peak = float(np.max(x - alpha))  # terms grow until n ~ x - alpha, then shrink
    for n in range(1_000_000):
        psi = psi + 1.0 / a
        r = r * x / a
        a = a + 1.0
        total = total + r * (log_x - psi)
        if n > past_peak and np.all(r <= 1e-17 * np.abs(total)):
            break
    return -total


def _standard_gamma(concentration: Tensor, shape: tuple) -> Tensor:
    """Gamma(concentration, 1) draws of ``shape``, differentiable in the concentration by
    implicit reparameterisation (as torch's): x + (alpha - alpha.detach()) * dx/dalpha has the
    draw's value and its pathwise gradient."""
    c = np.broadcast_to(concentration.detach().data, shape)
    x = np.asarray(_random.rng().standard_gamma(c), dtype=np.float64)
    draw = ember.tensor(x.astype(concentration.dtype))
    if not (concentration.requires_grad and ember.is_grad_enabled()):
        return draw
    grad = _standard_gamma_grad(c.astype(np.float64), x)
    alpha = concentration.expand(shape)
    return draw + (alpha - alpha.detach()) * ember.tensor(grad.astype(concentration.dtype))


class Dirichlet(ExponentialFamily):
    arg_constraints = {"concentration": constraints.independent(constraints.positive, 1)}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, concentration, validate_args=None):
        concentration = _as_tensor(concentration)
        if concentration.dim() < 1:
            raise ValueError("`concentration` parameter must be at least one-dimensional.")
        self.concentration = (
            concentration if concentration.is_floating_point() else concentration.float()
        )
        shape = tuple(self.concentration.shape)
        super().__init__(shape[:-1], shape[-1:], validate_args=validate_args)

    def _expand_params(self):
        return {"concentration": 1}

    _natural_params = property(lambda self: (self.concentration,))

    def _log_normalizer(self, x):
        return ember.lgamma(x).sum(-1) - ember.lgamma(x.sum(-1))

    def rsample(self, sample_shape=()):
        g = _standard_gamma(self.concentration, self._extended_shape(sample_shape))
        g = g.clamp(min=_finfo_tiny(g))
        return g / g.sum(-1, keepdim=True)

    def log_prob(self, value):
        value = self._checked(value)
        c = self.concentration
        return (
            ember.xlogy(c - 1.0, value).sum(-1) + ember.lgamma(c.sum(-1)) - ember.lgamma(c).sum(-1)
        )

    @property
    def mean(self):
        return self.concentration / self.concentration.sum(-1, keepdim=True)

    @property
    def mode(self):
        c = (self.concentration - 1).clamp(min=0.0)
        mode = c / c.sum(-1, keepdim=True)
        below = (self.concentration < 1).all(-1)
        if bool(below.any()):  # every concentration below 1: each vertex is a mode; the first
            vertex = ember.zeros(c.shape[-1], dtype=mode.dtype)  # as PyTorch picks
            vertex[0] = 1
            mode = ember.where(below.unsqueeze(-1), vertex, mode)
        return mode

    @property
    def variance(self):
        c0 = self.concentration.sum(-1, keepdim=True)
        return self.concentration * (c0 - self.concentration) / (c0.pow(2) * (c0 + 1))

    def entropy(self):
        c = self.concentration
        k = c.shape[-1]
        c0 = c.sum(-1)
        return (
            ember.lgamma(c).sum(-1)
            - ember.lgamma(c0)
            - (k - c0) * ember.digamma(c0)
            - ((c - 1.0) * ember.digamma(c)).sum(-1)
        )


class Beta(ExponentialFamily):
    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = _broadcast_all(concentration1, concentration0)
        pair = ember.stack([self.concentration1, self.concentration0], -1)
        self._dirichlet = Dirichlet(pair, validate_args=validate_args)
        super().__init__(self._dirichlet.batch_shape, validate_args=validate_args)

    mean = property(lambda self: self.concentration1 / (self.concentration1 + self.concentration0))
    mode = property(lambda self: self._dirichlet.mode[..., 0])
    variance = property(
        lambda self: (
            self.concentration1
            * self.concentration0
            / (
                (self.concentration1 + self.concentration0).pow(2)
                * (self.concentration1 + self.concentration0 + 1)
            )
        )
    )

    _natural_params = property(lambda self: (self.concentration1, self.concentration0))

    def _log_normalizer(self, x, y):
        return ember.lgamma(x) + ember.lgamma(y) - ember.lgamma(x + y)

    def rsample(self, sample_shape=()):
        return self._dirichlet.rsample(sample_shape)[..., 0]

    def log_prob(self, value):
        value = self._checked(value)
        return self._dirichlet.log_prob(ember.stack([value, 1.0 - value], -1))

    def entropy(self):
        return self._dirichlet.entropy()


class MultivariateNormal(Distribution):
    """N(loc, Σ) with Σ given as covariance_matrix, precision_matrix or scale_tril (one of)."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "covariance_matrix": constraints.positive_definite,
        "precision_matrix": constraints.positive_definite,
        "scale_tril": constraints.lower_cholesky,
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(
        self,
        loc,
        covariance_matrix=None,
        precision_matrix=None,
        scale_tril=None,
        validate_args=None,
    ):
        loc = _as_tensor(loc)
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        given = [m for m in (covariance_matrix, precision_matrix, scale_tril) if m is not None]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        matrix = _as_tensor(given[0], loc.dtype if loc.is_floating_point() else None)
        if matrix.dim() < 2:
            raise ValueError(
                "scale_tril, covariance_matrix or precision_matrix must be at least "
                "two-dimensional, with optional leading batch dimensions"
            )
        d = loc.shape[-1]
        if tuple(matrix.shape[-2:]) != (d, d):
            raise ValueError(
                f"MultivariateNormal: the matrix must be ({d}, {d}) to match loc of shape "
                f"{tuple(loc.shape)}, got {tuple(matrix.shape)}"
            )
        batch = ember.broadcast_shapes(tuple(matrix.shape[:-2]), tuple(loc.shape[:-1]))
        matrix = matrix.expand(batch + (d, d))
        self.loc = loc.expand(batch + (d,))
        if not self.loc.is_floating_point():
            self.loc = self.loc.to(matrix.dtype)
        name = (
            "scale_tril"
            if scale_tril is not None
            else "covariance_matrix"
            if covariance_matrix is not None
            else "precision_matrix"
        )
        self.__dict__[name] = matrix  # beneath the property of the same name
        self._given = name
        super().__init__(batch, (d,), validate_args=validate_args)
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = matrix
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = ember.linalg.cholesky(matrix)
        else:  # L with L L^T = P^-1, via the flipped Cholesky factor of P, as PyTorch
            flip = matrix.flip(-2, -1)
            lf = ember.linalg.cholesky(flip)
            eye = ember.eye(d, dtype=matrix.dtype).expand(matrix.shape)
            self._unbroadcasted_scale_tril = ember.linalg.solve_triangular(
                lf.flip(-2, -1).mT, eye, upper=False
            )

    def _expand_params(self):
        return {"loc": 1, self._given: 2}

    @property
    def scale_tril(self):
        return self.__dict__.get("scale_tril", self._unbroadcasted_scale_tril)

    @property
    def covariance_matrix(self):
        if "covariance_matrix" in self.__dict__:
            return self.__dict__["covariance_matrix"]
        L = self._unbroadcasted_scale_tril
        return L @ L.mT

    @property
    def precision_matrix(self):
        if "precision_matrix" in self.__dict__:
            return self.__dict__["precision_matrix"]
        return ember.cholesky_inverse(self._unbroadcasted_scale_tril)

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        return (
            self._unbroadcasted_scale_tril.pow(2)
            .sum(-1)
            .expand(self._batch_shape + self._event_shape)
        )

    def rsample(self, sample_shape=()):
        eps = _draw("standard_normal", self._extended_shape(sample_shape), self.loc.dtype)
        return self.loc + (self._unbroadcasted_scale_tril @ eps.unsqueeze(-1)).squeeze(-1)

    def _half_log_det(self) -> Tensor:
        return self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)

    def log_prob(self, value):
        value = self._checked(value)
        m = _mahalanobis(self._unbroadcasted_scale_tril, value - self.loc)
        d = self._event_shape[0]
        return -0.5 * (d * math.log(2 * math.pi) + m) - self._half_log_det()

    def entropy(self):
        d = self._event_shape[0]
        h = 0.5 * d * (1.0 + math.log(2 * math.pi)) + self._half_log_det()
        return h.expand(self._batch_shape) if self._batch_shape else h

    def __repr__(self):
        return (
            f"MultivariateNormal(loc: {self.loc.size()!r}, "
            f"{self._given}: {self.__dict__[self._given].size()!r})"
        )


def _mahalanobis(L: Tensor, x: Tensor) -> Tensor:
    """|L^-1 x|^2 over the last dim, with L's batch broadcast against x's."""
    batch = ember.broadcast_shapes(tuple(L.shape[:-2]), tuple(x.shape[:-1]))
    d = x.shape[-1]
    y = ember.linalg.solve_triangular(
        L.expand(batch + (d, d)), x.expand(batch + (d,)).unsqueeze(-1), upper=False
    )
    return y.squeeze(-1).pow(2).sum(-1)
