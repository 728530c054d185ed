"""Discrete distributions."""

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
    _clamp_probs,
    _draw,
    _finfo_tiny,
    _shape,
)
from ember.nn import functional as F
from ember.tensor import get_default_dtype


def _probs_or_logits(probs, logits):
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")
    if probs is not None:
        return ("probs", _as_tensor(probs))
    return ("logits", _as_tensor(logits))


class _Binary(Distribution):
    """A family parameterised by a success probability, given as ``probs`` or as ``logits``
    (log-odds); the other is computed from it on use."""

    def __init__(self, probs=None, logits=None, validate_args=None):
        name, p = _probs_or_logits(probs, logits)
        (p,) = _broadcast_all(p)
        setattr(self, name, p)
        self._given = name
        super().__init__(p.shape, validate_args=validate_args)

    def __getattr__(self, name):
        given = self.__dict__.get("_given")
        if name == "probs" and given == "logits":
            return self.logits.sigmoid()
        if name == "logits" and given == "probs":
            p = _clamp_probs(self.probs)
            return p.log() - (-p).log1p()
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _expand_params(self):
        return {self._given: 0}

    param_shape = property(lambda self: self.__dict__[self._given].size())


class Bernoulli(_Binary, ExponentialFamily):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    mean = property(lambda self: self.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    @property
    def mode(self):
        p = self.probs
        mode = (p >= 0.5).to(p.dtype)
        return ember.where(p == 0.5, ember.full_like(p, float("nan")), mode)

    _mean_carrier_measure = 0

    @property
    def _natural_params(self):
        return (self.probs.log() - (-self.probs).log1p(),)

    def _log_normalizer(self, x):
        return x.exp().log1p()

    def sample(self, sample_shape=()):
        p = self.probs.detach()
        shape = self._extended_shape(sample_shape)
        return ember.tensor((_random.rng().random(shape) < p.data).astype(p.dtype))

    def log_prob(self, value):
        value = self._checked(value)
        logits, value = ember.broadcast_tensors(self.logits, value.to(self.logits.dtype))
        return -F.binary_cross_entropy_with_logits(logits, value, reduction="none")

    def entropy(self):
        return F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")

    def enumerate_support(self, expand: bool = True):
        values = ember.arange(2, dtype=self.probs.dtype).reshape(
            (2,) + (1,) * len(self._batch_shape)
        )
        return values.expand((2,) + self._batch_shape) if expand else values


class Categorical(Distribution):
    """Over 0..K-1, from ``probs`` (normalised over the last dim) or unnormalised ``logits``."""

    arg_constraints = {
        "probs": constraints.simplex,
        "logits": constraints.independent(constraints.real, 1),
    }
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        name, p = _probs_or_logits(probs, logits)
        if p.dim() < 1:
            raise ValueError(f"`{name}` parameter must be at least one-dimensional.")
        if not p.is_floating_point():
            p = p.to(get_default_dtype())
        if name == "probs":
            self.probs = p / p.sum(-1, keepdim=True)
        else:
            self.logits = p - p.logsumexp(-1, keepdim=True)
        self._given = name
        self._num_events = p.shape[-1]
        super().__init__(tuple(p.shape[:-1]), validate_args=validate_args)

    def __getattr__(self, name):  # the parameter not given, computed from the other on use
        given = self.__dict__.get("_given")
        if name == "probs" and given == "logits":
            return self.logits.softmax(-1)
        if name == "logits" and given == "probs":
            return _clamp_probs(self.probs).log()
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _expand_params(self):
        return {self._given: 1}

    @property
    def support(self):
        return constraints.integer_interval(0, self._num_events - 1)

    param_shape = property(lambda self: self.__dict__[self._given].size())
    mean = property(
        lambda self: ember.full(self._batch_shape, float("nan"), dtype=self.probs.dtype)
    )
    mode = property(lambda self: self.probs.argmax(-1))
    variance = property(
        lambda self: ember.full(self._batch_shape, float("nan"), dtype=self.probs.dtype)
    )

    def sample(self, sample_shape=()):
        sample_shape = _shape(sample_shape)
        p = np.asarray(self.probs.detach().data, np.float64).reshape(-1, self._num_events)
        n = int(np.prod(sample_shape))
        cdf = np.cumsum(p, axis=1)
        cdf /= cdf[:, -1:]  # the last category's bound is 1 exactly
        # one searchsorted over all rows: row r's bounds shifted into (r, r + 1]
        rows = np.arange(len(cdf))[:, None]
        u = _random.rng().random((n, len(cdf)))
        idx = np.searchsorted((cdf + rows).ravel(), (u + rows.T).ravel(), side="right")
        idx = idx.reshape(n, len(cdf)) - rows.T * self._num_events
        idx = np.minimum(idx, self._num_events - 1)
        return ember.tensor(idx.reshape(sample_shape + self._batch_shape).astype(np.int64))

    def log_prob(self, value):
        value = self._checked(value)
        value = value.long().unsqueeze(-1)
        value, log_pmf = ember.broadcast_tensors(value, self.logits)
        return log_pmf.gather(-1, value[..., :1]).squeeze(-1)

    def entropy(self):
        logits = self.logits.clamp(min=float(np.finfo(self.logits.dtype).min))
        return -(logits * self.probs).sum(-1)

    def enumerate_support(self, expand: bool = True):
        values = ember.arange(self._num_events).reshape((-1,) + (1,) * len(self._batch_shape))
        return values.expand((-1,) + self._batch_shape) if expand else values


class _OverCategories(Distribution):
    """A family whose events are vectors over a Categorical's K categories (event shape (K,))."""

    arg_constraints = Categorical.arg_constraints

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        self._given = self._categorical._given
        n = self._categorical._num_events
        super().__init__(self._categorical.batch_shape, (n,), validate_args=validate_args)

    probs = property(lambda self: self._categorical.probs)
    logits = property(lambda self: self._categorical.logits)
    param_shape = property(lambda self: self._categorical.param_shape)


class OneHotCategorical(_OverCategories):
    support = constraints.one_hot
    has_enumerate_support = True

    mean = property(lambda self: self.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    def _expand_params(self):
        return {self._given: 1}

    def expand(self, batch_shape, _instance=None):
        p = getattr(self, self._given)
        new = type(self)(
            **{self._given: p.expand(_shape(batch_shape) + (p.shape[-1],))}, validate_args=False
        )
        return self._expanded(new)

    @property
    def mode(self):
        return F.one_hot(self.probs.argmax(-1), self._event_shape[0]).to(self.probs.dtype)

    def sample(self, sample_shape=()):
        idx = self._categorical.sample(sample_shape)
        return F.one_hot(idx, self._event_shape[0]).to(self.probs.dtype)

    def log_prob(self, value):
        value = self._checked(value)
        return self._categorical.log_prob(value.argmax(-1))

    def entropy(self):
        return self._categorical.entropy()

    def enumerate_support(self, expand: bool = True):
        n = self._event_shape[0]
        values = ember.eye(n, dtype=self.probs.dtype).reshape(
            (n,) + (1,) * len(self._batch_shape) + (n,)
        )
        return values.expand((n,) + self._batch_shape + (n,)) if expand else values

    def __repr__(self):
        return repr(self._categorical).replace("Categorical", type(self).__name__, 1)


class Poisson(ExponentialFamily):
    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = _broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    mean = property(lambda self: self.rate)
    mode = property(lambda self: self.rate.floor())
    variance = property(lambda self: self.rate)

    _natural_params = property(lambda self: (self.rate.log(),))

    def _log_normalizer(self, x):
        return x.exp()

    def sample(self, sample_shape=()):
        r = np.broadcast_to(self.rate.detach().data, self._extended_shape(sample_shape))
        return ember.tensor(np.asarray(_random.rng().poisson(r)).astype(self.rate.dtype))

    def log_prob(self, value):
        value = self._checked(value)
        return ember.xlogy(value, self.rate) - self.rate - ember.lgamma(value + 1)


class Geometric(_Binary):
    """The number of failures before the first success, each trial succeeding with ``probs``."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.nonnegative_integer

    def __init__(self, probs=None, logits=None, validate_args=None):
        super().__init__(probs, logits, validate_args)
        p = self.__dict__.get("probs")
        if self._validate_args and p is not None and not bool((p > 0).all()):
            raise ValueError(
                f"Expected parameter probs (Tensor of shape {tuple(p.shape)}) of distribution "
                f"{self!r} to satisfy the constraint HalfOpenInterval(lower_bound=0.0, "
                f"upper_bound=1.0), but found invalid values:\n{p}"
            )

    mean = property(lambda self: self.probs.reciprocal() - 1)
    mode = property(lambda self: ember.zeros_like(self.probs))
    variance = property(lambda self: (self.probs.reciprocal() - 1) / self.probs)

    def sample(self, sample_shape=()):
        p = self.probs.detach()
        tiny = _finfo_tiny(p)
        u = _draw("uniform", self._extended_shape(sample_shape), p.dtype, tiny, 1)
        return (u.log() / (-p).log1p()).floor()

    def log_prob(self, value):
        value = self._checked(value)
        value, p = ember.broadcast_tensors(value.to(self.probs.dtype), self.probs)
        # at p = 1 the outcome 0 is certain: 0 * log(1 - p) taken as 0, as PyTorch does
        p_fail = ember.where((p == 1) & (value == 0), 0.0, p)
        return value * (-p_fail).log1p() + p.log()

    def entropy(self):
        return (
            F.binary_cross_entropy_with_logits(self.logits, self.probs, reduction="none")
            / self.probs
        )


class _Trials(_Binary):
    """A count over ``total_count`` trials, each succeeding with ``probs`` (or ``logits``)."""

    def __init__(self, total_count=1, probs=None, logits=None, validate_args=None):
        name, p = _probs_or_logits(probs, logits)
        self.total_count, p = _broadcast_all(total_count, p)
        self.total_count = self.total_count.to(p.dtype)
        super().__init__(**{name: p}, validate_args=validate_args)

    def _expand_params(self):
        return {"total_count": 0, self._given: 0}


class Binomial(_Trials):
    """Successes in ``total_count`` trials, each succeeding with ``probs``."""

    arg_constraints = {
        "total_count": constraints.nonnegative_integer,
        "probs": constraints.unit_interval,
        "logits": constraints.real,
    }
    has_enumerate_support = True

    @property
    def support(self):
        return constraints.integer_interval(0, self.total_count)

    mean = property(lambda self: self.total_count * self.probs)
    mode = property(
        lambda self: ((self.total_count + 1) * self.probs).floor().clamp(max=self.total_count)
    )
    variance = property(lambda self: self.total_count * self.probs * (1 - self.probs))

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        n = np.broadcast_to(self.total_count.data, shape).astype(np.int64)
        p = np.broadcast_to(self.probs.detach().data, shape)
        return ember.tensor(np.asarray(_random.rng().binomial(n, p)).astype(self.probs.dtype))

    def log_prob(self, value):
        value = self._checked(value)
        n, logits = self.total_count, self.logits
        # n log(1 + e^logits), stable for either sign of the logits; max(logits, 0) written as
        # PyTorch does, so the gradient at logits = 0 is its 1/2
        relu = (logits.clamp(min=0) + logits - logits.clamp(max=0)) / 2
        normalize = n * relu + n * (-logits.abs()).exp().log1p() - ember.lgamma(n + 1)
        return value * logits - ember.lgamma(value + 1) - ember.lgamma(n - value + 1) - normalize

    def entropy(self):
        n = self.total_count
        if not bool((n == n.max()).all()):
            raise NotImplementedError("Inhomogeneous total count not supported by `entropy`.")
        values = self.enumerate_support(expand=False)
        log_prob = self.log_prob(values)
        return -(log_prob.exp() * log_prob).sum(0)

    def enumerate_support(self, expand: bool = True):
        n = int(self.total_count.max()) if self.total_count.numel() else 0
        if not bool((self.total_count == n).all()):
            raise NotImplementedError(
                "Inhomogeneous total count not supported by `enumerate_support`."
            )
        values = ember.arange(n + 1, dtype=self.probs.dtype).reshape(
            (-1,) + (1,) * len(self._batch_shape)
        )
        return values.expand((-1,) + self._batch_shape) if expand else values


class Multinomial(_OverCategories):
    """Counts of ``total_count`` draws from a Categorical over the last dim of ``probs`` /
    ``logits``."""

    def __init__(self, total_count: int = 1, probs=None, logits=None, validate_args=None):
        if isinstance(total_count, bool) or not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        if total_count < 0:  # torch's inner Binomial refuses it, whatever validate_args
            raise ValueError(
                f"Expected parameter total_count of distribution Multinomial to satisfy the "
                f"constraint IntegerGreaterThan(lower_bound=0), but found {total_count}"
            )
        self.total_count = total_count
        super().__init__(probs, logits, validate_args)

    support = property(lambda self: constraints.multinomial(self.total_count))
    mean = property(lambda self: self.probs * self.total_count)
    variance = property(lambda self: self.total_count * self.probs * (1 - self.probs))

    def expand(self, batch_shape, _instance=None):
        p = getattr(self._categorical, self._given)
        p = p.expand(_shape(batch_shape) + (p.shape[-1],))
        return self._expanded(
            Multinomial(self.total_count, **{self._given: p}, validate_args=False)
        )

    def sample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        p = np.asarray(self.probs.detach().data, np.float64)
        p = np.broadcast_to(p / p.sum(-1, keepdims=True), shape)
        counts = _random.rng().multinomial(self.total_count, p)
        return ember.tensor(counts.astype(self.probs.dtype))

    def log_prob(self, value):
        value = self._checked(value)
        logits, value = ember.broadcast_tensors(self.logits, value.to(self.logits.dtype))
        # a count of 0 on an impossible category (logit -inf) contributes 0, not nan
        logits = ember.where((value == 0) & (logits == -math.inf), 0.0, logits)
        # n! from the value's own count, as torch (the support allows sums below total_count)
        log_factorial_n = ember.lgamma(value.sum(-1) + 1)
        log_factorial_xs = ember.lgamma(value + 1).sum(-1)
        return log_factorial_n - log_factorial_xs + (logits * value).sum(-1)

    def entropy(self):
        n = self.total_count
        binomial = Binomial(n, probs=self.probs, validate_args=False)
        support = binomial.enumerate_support(expand=False)[1:]
        binomial_probs = binomial.log_prob(support).exp()
        weights = ember.lgamma(support + 1)
        term1 = n * self._categorical.entropy() - math.lgamma(n + 1)
        return term1 + (binomial_probs * weights).sum((0, -1))


class NegativeBinomial(_Trials):
    """The number of successes before ``total_count`` failures, each trial succeeding with
    ``probs``."""

    arg_constraints = {
        "total_count": constraints.greater_than_eq(0),
        "probs": constraints.half_open_interval(0.0, 1.0),
        "logits": constraints.real,
    }
    support = constraints.nonnegative_integer

    def __init__(self, total_count, probs=None, logits=None, validate_args=None):
        super().__init__(total_count, probs, logits, validate_args)

    mean = property(lambda self: self.total_count * self.logits.exp())
    mode = property(lambda self: ((self.total_count - 1) * self.logits.exp()).floor().clamp(min=0))
    variance = property(lambda self: self.mean / (-self.logits).sigmoid())

    def sample(self, sample_shape=()):
        # Gamma-Poisson: rate ~ Gamma(total_count, scale = p / (1 - p)), count ~ Poisson(rate)
        shape = self._extended_shape(sample_shape)
        g = _random.rng()
        n = np.broadcast_to(self.total_count.data, shape)
        odds = np.broadcast_to(self.logits.detach().exp().data, shape)
        rate = g.gamma(np.where(n > 0, n, 1.0), odds) * (n > 0)
        return ember.tensor(np.asarray(g.poisson(rate)).astype(self.probs.dtype))

    def log_prob(self, value):
        value = self._checked(value)
        n, logits = self.total_count, self.logits
        unnormalized = n * F.logsigmoid(-logits) + value * F.logsigmoid(logits)
        normalization = -ember.lgamma(n + value) + ember.lgamma(1.0 + value) + ember.lgamma(n)
        normalization = ember.where(n + value == 0, 0.0, normalization)
        return unnormalized - normalization
