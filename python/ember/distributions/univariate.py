"""ExponentialFamily and the univariate families torch added later: ContinuousBernoulli,
InverseGamma, VonMises, Kumaraswamy, FisherSnedecor, GeneralizedPareto and LogisticNormal."""

from __future__ import annotations

import math

import numpy as np

import ember
from ember import random as _random
from ember.distributions import constraints
from ember.distributions.continuous import _EULER_GAMMA, Gamma, Normal, Uniform
from ember.distributions.distribution import (
    Distribution,
    ExponentialFamily,
    TransformedDistribution,
    _as_tensor,
    _broadcast_all,
    _clamp_probs,
    _draw,
    _finfo_tiny,
)
from ember.distributions.transforms import (
    AffineTransform,
    PowerTransform,
    StickBreakingTransform,
)
from ember.nn import functional as F

__all__ = [
    "ContinuousBernoulli", "ExponentialFamily", "FisherSnedecor", "GeneralizedPareto",
    "InverseGamma", "Kumaraswamy", "LogisticNormal", "VonMises",
]  # fmt: skip

_NAN, _INF = float("nan"), float("inf")


class ContinuousBernoulli(ExponentialFamily):
    """The continuous Bernoulli on [0, 1] (Loaiza-Ganem & Cunningham 2019), density
    C(λ) λ^x (1-λ)^(1-x): the proper likelihood for [0, 1]-valued VAE outputs. Near λ = 1/2
    (inside ``lims``) its normaliser and moments use Taylor expansions, as torch's."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    _mean_carrier_measure = 0
    has_rsample = True

    def __init__(self, probs=None, logits=None, lims=(0.499, 0.501), validate_args=None):
        if (probs is None) == (logits is None):
            raise ValueError("Either `probs` or `logits` must be specified, but not both.")
        if probs is not None:
            (p,) = _broadcast_all(probs)
            if validate_args is not None and not bool(
                self.arg_constraints["probs"].check(p.detach()).all()
            ):
                raise ValueError("The parameter probs has invalid values")
            self.probs = _clamp_probs(p)
            self._given = "probs"
        else:
            (self.logits,) = _broadcast_all(logits)
            self._given = "logits"
        self._lims = lims
        super().__init__(self.__dict__[self._given].shape, validate_args=validate_args)

    def __getattr__(self, name):
        given = self.__dict__.get("_given")
        if name == "probs" and given == "logits":
            return _clamp_probs(self.logits.sigmoid())
        if name == "logits" and given == "probs":
            p = _clamp_probs(self.probs)
            return p.log() - (-p).log1p()
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def expand(self, batch_shape, _instance=None):
        param = self.__dict__[self._given].expand(tuple(batch_shape))
        new = ContinuousBernoulli(**{self._given: param}, lims=self._lims, validate_args=False)
        return self._expanded(new)

    param_shape = property(lambda self: self.__dict__[self._given].size())

    def _outside_unstable_region(self):
        return (self.probs <= self._lims[0]) | (self.probs > self._lims[1])

    def _cut_probs(self):
        return ember.where(self._outside_unstable_region(), self.probs, self._lims[0])

    def _cont_bern_log_norm(self):
        cut = self._cut_probs()
        below = ember.where(cut <= 0.5, cut, 0.0)
        above = ember.where(cut >= 0.5, cut, 1.0)
        log_norm = ((-cut).log1p() - cut.log()).abs().log() - ember.where(
            cut <= 0.5, (-2.0 * below).log1p(), (2.0 * above - 1.0).log()
        )
        x = (self.probs - 0.5).pow(2)
        taylor = math.log(2.0) + (4.0 / 3.0 + 104.0 / 45.0 * x) * x
        return ember.where(self._outside_unstable_region(), log_norm, taylor)

    @property
    def mean(self):
        cut = self._cut_probs()
        mus = cut / (2.0 * cut - 1.0) + 1.0 / ((-cut).log1p() - cut.log())
        x = self.probs - 0.5
        taylor = 0.5 + (1.0 / 3.0 + 16.0 / 45.0 * x.pow(2)) * x
        return ember.where(self._outside_unstable_region(), mus, taylor)

    @property
    def variance(self):
        cut = self._cut_probs()
        var = cut * (cut - 1.0) / (1.0 - 2.0 * cut).pow(2) + 1.0 / ((-cut).log1p() - cut.log()).pow(
            2
        )
        x = (self.probs - 0.5).pow(2)
        taylor = 1.0 / 12.0 - (1.0 / 15.0 - 128.0 / 945.0 * x) * x
        return ember.where(self._outside_unstable_region(), var, taylor)

    def rsample(self, sample_shape=()):
        u = _draw("random", self._extended_shape(sample_shape), self.probs.dtype)
        return self.icdf(u)

    def log_prob(self, value):
        value = self._checked(value)
        logits, value = ember.broadcast_tensors(self.logits, value.to(self.probs.dtype))
        bce = F.binary_cross_entropy_with_logits(logits, value, reduction="none")
        return -bce + self._cont_bern_log_norm()

    def cdf(self, value):
        value = self._checked(value)
        cut = self._cut_probs()
        cdfs = (cut.pow(value) * (1.0 - cut).pow(1.0 - value) + cut - 1.0) / (2.0 * cut - 1.0)
        unbounded = ember.where(self._outside_unstable_region(), cdfs, value)
        return ember.where(value <= 0.0, 0.0, ember.where(value >= 1.0, 1.0, unbounded))

    def icdf(self, value):
        value = _as_tensor(value)
        cut = self._cut_probs()
        inside = ((-cut + value * (2.0 * cut - 1.0)).log1p() - (-cut).log1p()) / (
            cut.log() - (-cut).log1p()
        )
        return ember.where(self._outside_unstable_region(), inside, value)

    def entropy(self):
        log_p0, log_p1 = (-self.probs).log1p(), self.probs.log()
        return self.mean * (log_p0 - log_p1) - self._cont_bern_log_norm() - log_p0

    @property
    def _natural_params(self):
        return (self.logits,)

    def _log_normalizer(self, x):
        lo, hi = self._lims[0] - 0.5, self._lims[1] - 0.5
        outside = (x <= lo) | (x > hi)
        cut = ember.where(outside, x, lo)
        log_norm = cut.expm1().abs().log() - cut.abs().log()
        taylor = 0.5 * x + x.pow(2) / 24.0 - x.pow(4) / 2880.0
        return ember.where(outside, log_norm, taylor)

    def __repr__(self):
        p = self.__dict__[self._given]
        return f"ContinuousBernoulli({self._given}: {p if p.numel() == 1 else repr(p.size())})"


class _Reconstructed(TransformedDistribution):
    """A family built as a TransformedDistribution whose expand and repr go by its own
    parameters (so ``expand`` keeps the family's type)."""

    __repr__ = Distribution.__repr__

    def expand(self, batch_shape, _instance=None):
        return Distribution.expand(self, batch_shape)


class InverseGamma(_Reconstructed):
    """1 / X for X ~ Gamma(concentration, rate)."""

    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        base = Gamma(concentration, rate, validate_args=validate_args)
        self.concentration, self.rate = base.concentration, base.rate
        neg_one = -ember.ones((), dtype=base.rate.dtype)
        super().__init__(base, PowerTransform(neg_one), validate_args=validate_args)

    @property
    def mean(self):
        return ember.where(self.concentration > 1, self.rate / (self.concentration - 1), _INF)

    mode = property(lambda self: self.rate / (self.concentration + 1))

    @property
    def variance(self):
        c = self.concentration
        result = self.rate.pow(2) / ((c - 1).pow(2) * (c - 2))
        return ember.where(c > 2, result, _INF)

    def entropy(self):
        c = self.concentration
        return c + self.rate.log() + ember.lgamma(c) - (1 + c) * ember.digamma(c)


# Abramowitz & Stegun 9.8.1-9.8.4 polynomials for log I0 / log I1, as torch's
_I_COEF_SMALL = (
    [1.0, 3.5156229, 3.0899424, 1.2067492, 0.2659732, 0.360768e-1, 0.45813e-2],
    [0.5, 0.87890594, 0.51498869, 0.15084934, 0.2658733e-1, 0.301532e-2, 0.32411e-3],
)
_I_COEF_LARGE = (
    [0.39894228, 0.1328592e-1, 0.225319e-2, -0.157565e-2, 0.916281e-2, -0.2057706e-1,
     0.2635537e-1, -0.1647633e-1, 0.392377e-2],
    [0.39894228, -0.3988024e-1, -0.362018e-2, 0.163801e-2, -0.1031555e-1, 0.2282967e-1,
     -0.2895312e-1, 0.1787654e-1, -0.420059e-2],
)  # fmt: skip


def _eval_poly(y, coef):
    result = coef[-1]
    for c in reversed(coef[:-1]):
        result = c + y * result
    return result


def _log_modified_bessel_fn(x, order: int = 0):
    """log I_order(x) for x > 0 (order 0 or 1), differentiable in x."""
    y = (x / 3.75).pow(2)
    small = _eval_poly(y, _I_COEF_SMALL[order])
    if order == 1:
        small = x.abs() * small
    small = small.log()
    large = x - 0.5 * x.log() + _eval_poly(3.75 / x, _I_COEF_LARGE[order]).log()
    return ember.where(x < 3.75, small, large)


class VonMises(Distribution):
    """The circular normal on angles: density exp(κ cos(x - loc)) / (2π I0(κ)). Sampled by
    Best & Fisher's rejection method (not reparameterised, as torch's)."""

    arg_constraints = {"loc": constraints.real, "concentration": constraints.positive}
    support = constraints.real
    has_rsample = False

    def __init__(self, loc, concentration, validate_args=None):
        self.loc, self.concentration = _broadcast_all(loc, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    def log_prob(self, value):
        value = self._checked(value)
        return (
            self.concentration * (value - self.loc).cos()
            - math.log(2 * math.pi)
            - _log_modified_bessel_fn(self.concentration, order=0)
        )

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        loc = np.broadcast_to(self.loc.detach().data.astype(np.float64), shape)
        kappa = np.broadcast_to(self.concentration.detach().data.astype(np.float64), shape)
        tau = 1 + np.sqrt(1 + 4 * kappa**2)
        rho = (tau - np.sqrt(2 * tau)) / (2 * kappa)
        r = np.where(kappa < 1e-5, 1 / kappa + kappa, (1 + rho**2) / (2 * rho))
        x, done, g = np.zeros(shape), np.zeros(shape, bool), _random.rng()
        with np.errstate(divide="ignore", invalid="ignore"):
            while not done.all():
                u1, u2, u3 = g.random((3,) + shape)
                z = np.cos(math.pi * u1)
                f = (1 + r * z) / (r + z)
                c = kappa * (r - f)
                accept = ~done & (((c * (2 - c) - u2) > 0) | (np.log(c / u2) + 1 - c >= 0))
                x = np.where(accept, np.sign(u3 - 0.5) * np.arccos(f), x)
                done |= accept
        out = (x + math.pi + loc) % (2 * math.pi) - math.pi
        return ember.tensor(out.astype(self.loc.dtype))

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)

    @property
    def variance(self):
        k = self.concentration
        return 1 - (_log_modified_bessel_fn(k, 1) - _log_modified_bessel_fn(k, 0)).exp()


def _kumaraswamy_moment(a, b, n):
    arg1 = 1 + n / a
    return b * (ember.lgamma(arg1) + ember.lgamma(b) - ember.lgamma(arg1 + b)).exp()


class Kumaraswamy(_Reconstructed):
    """(1 - U^(1/b))^(1/a) for U ~ Uniform(0, 1): a Beta-like law with a closed-form cdf."""

    arg_constraints = {
        "concentration1": constraints.positive,
        "concentration0": constraints.positive,
    }
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, concentration1, concentration0, validate_args=None):
        self.concentration1, self.concentration0 = _broadcast_all(concentration1, concentration0)
        base = Uniform(
            ember.zeros_like(self.concentration0),
            ember.ones_like(self.concentration0),
            validate_args=validate_args,
        )
        transforms = [
            PowerTransform(exponent=self.concentration0.reciprocal()),
            AffineTransform(loc=1.0, scale=-1.0),
            PowerTransform(exponent=self.concentration1.reciprocal()),
        ]
        super().__init__(base, transforms, validate_args=validate_args)

    mean = property(lambda self: _kumaraswamy_moment(self.concentration1, self.concentration0, 1))

    @property
    def mode(self):
        a, b = self.concentration1, self.concentration0
        log_mode = b.reciprocal() * (-b).log1p() - (-b * a).log1p()
        return ember.where((b < 1) | (a < 1), _NAN, log_mode).exp()

    @property
    def variance(self):
        a, b = self.concentration1, self.concentration0
        return _kumaraswamy_moment(a, b, 2) - self.mean.pow(2)

    def entropy(self):
        a, b = self.concentration1, self.concentration0
        t1, t0 = 1 - a.reciprocal(), 1 - b.reciprocal()
        h0 = ember.digamma(b + 1) + _EULER_GAMMA
        return t0 + t1 * h0 - a.log() - b.log()


class FisherSnedecor(Distribution):
    """The F distribution: (X1 / df1) / (X2 / df2) for chi-squared X1, X2."""

    arg_constraints = {"df1": constraints.positive, "df2": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, df1, df2, validate_args=None):
        self.df1, self.df2 = _broadcast_all(df1, df2)
        self._gamma1 = Gamma(self.df1 * 0.5, self.df1)  # (validating as torch's do)
        self._gamma2 = Gamma(self.df2 * 0.5, self.df2)
        super().__init__(self.df1.shape, validate_args=validate_args)

    @property
    def mean(self):
        df2 = ember.where(self.df2 <= 2, _NAN, self.df2)
        return df2 / (df2 - 2)

    @property
    def mode(self):
        mode = (self.df1 - 2) / self.df1 * self.df2 / (self.df2 + 2)
        return ember.where(self.df1 <= 2, _NAN, mode)

    @property
    def variance(self):
        df2 = ember.where(self.df2 <= 4, _NAN, self.df2)
        return 2 * df2.pow(2) * (self.df1 + df2 - 2) / (self.df1 * (df2 - 2).pow(2) * (df2 - 4))

    def rsample(self, sample_shape=()):
        x1, x2 = self._gamma1.rsample(sample_shape), self._gamma2.rsample(sample_shape)
        tiny = _finfo_tiny(x2)
        return (x1 / x2.clamp(min=tiny)).clamp(min=tiny)

    def log_prob(self, value):
        value = self._checked(value)
        ct1, ct2, ct3 = self.df1 * 0.5, self.df2 * 0.5, self.df1 / self.df2
        t1 = ember.lgamma(ct1 + ct2) - ember.lgamma(ct1) - ember.lgamma(ct2)
        t2 = ct1 * ct3.log() + (ct1 - 1) * value.log()
        t3 = (ct1 + ct2) * (ct3 * value).log1p()
        return t1 + t2 - t3


class GeneralizedPareto(Distribution):
    """Excesses over a threshold (extreme-value theory): shape ``concentration`` ξ, with the
    exponential law at ξ = 0 and a bounded support for ξ < 0."""

    arg_constraints = {
        "loc": constraints.real,
        "scale": constraints.positive,
        "concentration": constraints.real,
    }
    has_rsample = True

    def __init__(self, loc, scale, concentration, validate_args=None):
        self.loc, self.scale, self.concentration = _broadcast_all(loc, scale, concentration)
        super().__init__(self.loc.shape, validate_args=validate_args)

    @constraints.dependent_property(is_discrete=False, event_dim=0)
    def support(self):
        upper = ember.where(
            self.concentration < 0, self.loc - self.scale / self.concentration, _INF
        )
        return constraints.interval(self.loc, upper)

    def _safe_concentration(self):
        eq_zero = self.concentration.abs() <= 1e-8  # torch.isclose(ξ, 0)
        return eq_zero, ember.where(eq_zero, 1.0, self.concentration)

    def rsample(self, sample_shape=()):
        return self.icdf(_draw("random", self._extended_shape(sample_shape), self.loc.dtype))

    def log_prob(self, value):
        value = self._checked(value)
        z = (value - self.loc) / self.scale
        eq_zero, safe = self._safe_concentration()
        y = 1 / safe + ember.ones_like(z)
        nonzero = ember.where(y == 0, y, y * (safe * z).log1p())
        return -self.scale.log() - ember.where(eq_zero, z, nonzero)

    def log_survival_function(self, value):
        value = self._checked(value)
        z = (value - self.loc) / self.scale
        eq_zero, safe = self._safe_concentration()
        return ember.where(eq_zero, -z, -(safe * z).log1p() / safe)

    def log_cdf(self, value):
        return (-self.log_survival_function(value).exp()).log1p()

    def cdf(self, value):
        return self.log_cdf(value).exp()

    def icdf(self, value):
        value = _as_tensor(value)
        eq_zero, safe = self._safe_concentration()
        logu = (-value).log1p()
        nonzero = self.loc + self.scale / safe * (-safe * logu).expm1()
        return ember.where(eq_zero, self.loc - self.scale * logu, nonzero)

    @property
    def mean(self):
        valid = self.concentration < 1
        safe = ember.where(valid, self.concentration, 0.5)
        return ember.where(valid, self.loc + self.scale / (1 - safe), _NAN)

    @property
    def variance(self):
        valid = self.concentration < 0.5
        safe = ember.where(valid, self.concentration, 0.25)
        return ember.where(valid, self.scale.pow(2) / ((1 - safe).pow(2) * (1 - 2 * safe)), _NAN)

    mode = property(lambda self: self.loc)

    def entropy(self):
        return (self.scale.log() + self.concentration + 1).expand(self._batch_shape)


class LogisticNormal(_Reconstructed):
    """The stick-breaking image of a Normal(loc, scale) vector: a distribution on the simplex
    with one more coordinate than ``loc``."""

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.simplex
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        base = Normal(loc, scale, validate_args=validate_args)
        if not base._batch_shape:
            base = base.expand((1,))
        self.loc, self.scale = base.loc, base.scale
        super().__init__(base, StickBreakingTransform(), validate_args=validate_args)

    def _expand_params(self):
        return {"loc": 1, "scale": 1}
