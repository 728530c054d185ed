"""Distributions built from others: mixtures, the relaxed (Gumbel-softmax / Concrete) families,
the straight-through one-hot categorical, and the transformed families torch defines the same
way (HalfCauchy, Weibull, Pareto)."""

from __future__ import annotations

import math

import ember
from ember.distributions import constraints
from ember.distributions.continuous import Cauchy, Exponential
from ember.distributions.discrete import Categorical, OneHotCategorical, _Binary
from ember.distributions.distribution import (
    Distribution,
    TransformedDistribution,
    _broadcast_all,
    _clamp_probs,
    _draw,
    _shape,
)
from ember.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    ExpTransform,
    PowerTransform,
    SigmoidTransform,
)

# --- mixtures ----------------------------------------------------------------------------------


class MixtureSameFamily(Distribution):
    """A mixture of ``component_distribution``'s last batch dim, weighted by the Categorical
    ``mixture_distribution`` (a Gaussian mixture: ``MixtureSameFamily(Categorical(w),
    Normal(mu, sigma))``). log_prob is a logsumexp over the components."""

    arg_constraints = {}
    has_rsample = False

    def __init__(self, mixture_distribution, component_distribution, validate_args=None):
        if not isinstance(mixture_distribution, Categorical):
            raise ValueError(
                "The Mixture distribution needs to be an instance of torch.distributions."
                "Categorical"
            )
        if not isinstance(component_distribution, Distribution):
            raise ValueError(
                "The Component distribution need to be an instance of torch.distributions."
                "Distribution"
            )
        mb, cb = mixture_distribution._batch_shape, component_distribution._batch_shape
        if len(cb) < 1:
            raise ValueError("`component_distribution` needs a batch dim for the components")
        for m, c in zip(reversed(mb), reversed(cb[:-1])):
            if m != 1 and c != 1 and m != c:
                raise ValueError(
                    f"`mixture_distribution.batch_shape` ({mb}) is not compatible with "
                    f"`component_distribution.batch_shape`({cb[:-1]})"
                )
        km, kc = mixture_distribution._num_events, cb[-1]
        if km != kc:
            raise ValueError(
                f"`mixture_distribution component` ({km}) does not equal "
                f"`component_distribution.batch_shape[-1]` ({kc})"
            )
        self._mixture_distribution = mixture_distribution
        self._component_distribution = component_distribution
        self._event_ndims = len(component_distribution._event_shape)
        super().__init__(cb[:-1], component_distribution._event_shape, validate_args)

    mixture_distribution = property(lambda self: self._mixture_distribution)
    component_distribution = property(lambda self: self._component_distribution)
    support = property(
        lambda self: constraints.MixtureSameFamilyConstraint(self._component_distribution.support)
    )

    def _pad(self, x):  # a dim for the components, before the event dims
        return x.unsqueeze(-1 - self._event_ndims)

    def _weights(self):  # mixture probabilities, broadcastable against component values
        p = self._mixture_distribution.probs
        return p.reshape(tuple(p.shape) + (1,) * self._event_ndims)

    @property
    def mean(self):
        return (self._weights() * self._component_distribution.mean).sum(-1 - self._event_ndims)

    @property
    def variance(self):  # the law of total variance
        w, dim = self._weights(), -1 - self._event_ndims
        comp = self._component_distribution
        mean_cond_var = (w * comp.variance).sum(dim)
        var_cond_mean = (w * (comp.mean - self._pad(self.mean)) ** 2).sum(dim)
        return mean_cond_var + var_cond_mean

    def cdf(self, x):
        x = self._pad(self._checked(x))
        cdf_x = self._component_distribution.cdf(x)
        return (cdf_x * self._mixture_distribution.probs).sum(-1)

    def log_prob(self, x):
        x = self._pad(self._checked(x))
        log_prob_x = self._component_distribution.log_prob(x)  # [S, B, k]
        log_mix_prob = self._mixture_distribution.logits.log_softmax(-1)  # [B, k]
        return (log_prob_x + log_mix_prob).logsumexp(-1)

    def sample(self, sample_shape=()):
        with ember.no_grad():
            sample_shape = _shape(sample_shape)
            mix = self._mixture_distribution.sample(sample_shape)  # [S, B]
            comp = self._component_distribution.sample(sample_shape)  # [S, B, k, E]
            index = mix.reshape(tuple(mix.shape) + (1,) * (1 + self._event_ndims))
            index = index.expand(tuple(mix.shape) + (1,) + self._event_shape)
            return comp.gather(len(mix.shape), index).squeeze(len(mix.shape))

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        k = self._component_distribution._batch_shape[-1]
        new = MixtureSameFamily(
            self._mixture_distribution.expand(batch_shape),
            self._component_distribution.expand(batch_shape + (k,)),
            validate_args=False,
        )
        return self._expanded(new)

    def __repr__(self):
        return (
            f"MixtureSameFamily(\n  {self._mixture_distribution!r},\n"
            f"  {self._component_distribution!r})"
        )


# --- relaxed (Concrete / Gumbel-softmax) families ----------------------------------------------


def _uniform(shape, like):
    return _clamp_probs(_draw("random", shape, like.dtype))


class LogitRelaxedBernoulli(_Binary):
    """The logit of a RelaxedBernoulli draw (Maddison et al., 2017)."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.real
    has_rsample = False  # (torch's flag, though rsample works: RelaxedBernoulli's is True)

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        super().__init__(probs, logits, validate_args)
        given = self.__dict__[self._given]
        self.temperature, given = _broadcast_all(temperature, given)
        setattr(self, self._given, given)
        self._batch_shape = tuple(given.shape)

    def _expand_params(self):
        return {"temperature": 0, self._given: 0}

    def rsample(self, sample_shape=()):
        logits = self.logits
        u = _uniform(self._extended_shape(sample_shape), logits)
        return (u.log() - (-u).log1p() + logits) / self.temperature

    def log_prob(self, value):
        value = self._checked(value)
        logits, value = ember.broadcast_tensors(self.logits, value)
        diff = logits - value * self.temperature
        return self.temperature.log() + diff - 2 * diff.exp().log1p()


class RelaxedBernoulli(TransformedDistribution):
    """A continuous relaxation of Bernoulli on (0, 1): reparameterised draws that approach
    0/1 as ``temperature`` goes to 0."""

    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.unit_interval
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = LogitRelaxedBernoulli(temperature, probs, logits, validate_args)
        super().__init__(base, SigmoidTransform(), validate_args=validate_args)

    temperature = property(lambda self: self.base_dist.temperature)
    logits = property(lambda self: self.base_dist.logits)
    probs = property(lambda self: self.base_dist.probs)

    def expand(self, batch_shape, _instance=None):
        b = self.base_dist.expand(batch_shape)
        new = RelaxedBernoulli(
            b.temperature, **{b._given: getattr(b, b._given)}, validate_args=False
        )
        return self._expanded(new)


class ExpRelaxedCategorical(Distribution):
    """The log of a RelaxedOneHotCategorical draw: ``log_softmax((logits + Gumbel) / T)``."""

    arg_constraints = Categorical.arg_constraints
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        self.temperature = _broadcast_all(temperature, self._categorical.logits[..., 0])[0]
        n = self._categorical._num_events
        super().__init__(self._categorical.batch_shape, (n,), validate_args=validate_args)

    probs = property(lambda self: self._categorical.probs)
    logits = property(lambda self: self._categorical.logits)

    def rsample(self, sample_shape=()):
        u = _uniform(self._extended_shape(sample_shape), self.logits)
        gumbels = -(-u.log()).log()
        scores = (self.logits + gumbels) / self.temperature.unsqueeze(-1)
        return scores - scores.logsumexp(-1, keepdim=True)

    def log_prob(self, value):
        value = self._checked(value)
        k = self._categorical._num_events
        t = self.temperature
        log_scale = math.lgamma(k) + (k - 1) * t.log()
        score = self.logits - value * t.unsqueeze(-1)
        score = (score - score.logsumexp(-1, keepdim=True)).sum(-1)
        return score + log_scale

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        given = self._categorical._given
        p = getattr(self._categorical, given)
        new = type(self)(
            self.temperature.expand(batch_shape),
            **{given: p.expand(batch_shape + (p.shape[-1],))},
            validate_args=False,
        )
        return self._expanded(new)


class RelaxedOneHotCategorical(TransformedDistribution):
    """The Concrete / Gumbel-softmax distribution on the simplex: reparameterised draws
    ``softmax((logits + Gumbel) / temperature)`` (Jang et al.; Maddison et al., 2017)."""

    arg_constraints = Categorical.arg_constraints
    support = constraints.simplex
    has_rsample = True

    def __init__(self, temperature, probs=None, logits=None, validate_args=None):
        base = ExpRelaxedCategorical(temperature, probs, logits, validate_args)
        super().__init__(base, ExpTransform(), validate_args=validate_args)

    temperature = property(lambda self: self.base_dist.temperature)
    logits = property(lambda self: self.base_dist.logits)
    probs = property(lambda self: self.base_dist.probs)

    def expand(self, batch_shape, _instance=None):
        b = self.base_dist.expand(batch_shape)
        given = b._categorical._given
        new = RelaxedOneHotCategorical(
            b.temperature, **{given: getattr(b._categorical, given)}, validate_args=False
        )
        return self._expanded(new)


class OneHotCategoricalStraightThrough(OneHotCategorical):
    """OneHotCategorical whose ``rsample`` passes gradients straight through: the one-hot
    draw plus ``probs - probs.detach()`` (Bengio et al., 2013)."""

    has_rsample = True

    def rsample(self, sample_shape=()):
        samples = self.sample(sample_shape)
        probs = self._categorical.probs
        return samples + (probs - probs.detach())


# --- transformed families ----------------------------------------------------------------------


class HalfCauchy(TransformedDistribution):
    """|X| for X ~ Cauchy(0, scale)."""

    arg_constraints = {"scale": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, scale, validate_args=None):
        base = Cauchy(0.0, scale, validate_args=False)
        self.scale = base.scale
        super().__init__(base, AbsTransform(), validate_args=validate_args)

    mean = property(lambda self: ember.full(self._batch_shape, math.inf, dtype=self.scale.dtype))
    mode = property(lambda self: ember.zeros_like(self.scale))
    variance = property(
        lambda self: ember.full(self._batch_shape, math.inf, dtype=self.scale.dtype)
    )

    def log_prob(self, value):
        value = self._checked(value).to(self.scale.dtype)
        log_prob = self.base_dist.log_prob(value) + math.log(2)
        return ember.where(value >= 0, log_prob, -math.inf)

    def cdf(self, value):
        return 2 * self.base_dist.cdf(self._checked(value)) - 1

    def icdf(self, prob):
        return self.base_dist.icdf((prob + 1) / 2)

    def entropy(self):
        return self.base_dist.entropy() - math.log(2)

    __repr__ = Distribution.__repr__

    def expand(self, batch_shape, _instance=None):
        return self._expanded(
            HalfCauchy(self.scale.expand(_shape(batch_shape)), validate_args=False)
        )


class Weibull(TransformedDistribution):
    """``scale * E ** (1 / concentration)`` for E ~ Exponential(1)."""

    arg_constraints = {"scale": constraints.positive, "concentration": constraints.positive}
    support = constraints.positive
    has_rsample = True

    def __init__(self, scale, concentration, validate_args=None):
        self.scale, self.concentration = _broadcast_all(scale, concentration)
        self.concentration_reciprocal = self.concentration.reciprocal()
        base = Exponential(ember.ones_like(self.scale), validate_args=validate_args)
        transforms = [
            PowerTransform(exponent=self.concentration_reciprocal),
            AffineTransform(loc=0, scale=self.scale),
        ]
        super().__init__(base, transforms, validate_args=validate_args)

    def _expand_params(self):
        return {"scale": 0, "concentration": 0}

    @property
    def mean(self):
        return self.scale * ember.lgamma(1 + self.concentration_reciprocal).exp()

    @property
    def mode(self):
        c = self.concentration  # NaN below 1, as torch's
        return self.scale * ((c - 1) / c) ** self.concentration_reciprocal

    @property
    def variance(self):
        r = self.concentration_reciprocal
        return self.scale**2 * (ember.lgamma(1 + 2 * r).exp() - ember.lgamma(1 + r).exp() ** 2)

    def entropy(self):
        euler = 0.5772156649015329
        return (
            euler * (1 - self.concentration_reciprocal)
            + (self.scale * self.concentration_reciprocal).log()
            + 1
        )

    __repr__ = Distribution.__repr__

    def expand(self, batch_shape, _instance=None):
        return Distribution.expand(self, batch_shape)


class Pareto(TransformedDistribution):
    """``scale * exp(E)`` for E ~ Exponential(alpha)."""

    arg_constraints = {"alpha": constraints.positive, "scale": constraints.positive}
    has_rsample = True

    def __init__(self, scale, alpha, validate_args=None):
        self.scale, self.alpha = _broadcast_all(scale, alpha)
        base = Exponential(self.alpha, validate_args=validate_args)
        transforms = [ExpTransform(), AffineTransform(loc=0, scale=self.scale)]
        super().__init__(base, transforms, validate_args=validate_args)

    def _expand_params(self):
        return {"scale": 0, "alpha": 0}

    support = property(lambda self: constraints.greater_than_eq(self.scale))
    mode = property(lambda self: self.scale)

    @property
    def mean(self):
        a = self.alpha.clamp(min=1)  # infinite for alpha <= 1
        return a * self.scale / (a - 1)

    @property
    def variance(self):
        a = self.alpha.clamp(min=2)  # infinite for alpha <= 2
        return self.scale**2 * a / ((a - 1) ** 2 * (a - 2))

    def entropy(self):
        return (self.scale / self.alpha).log() + (1 + self.alpha.reciprocal())

    __repr__ = Distribution.__repr__

    def expand(self, batch_shape, _instance=None):
        return Distribution.expand(self, batch_shape)


__all__ = [
    "ExpRelaxedCategorical", "HalfCauchy", "LogitRelaxedBernoulli", "MixtureSameFamily",
    "OneHotCategoricalStraightThrough", "Pareto", "RelaxedBernoulli",
    "RelaxedOneHotCategorical", "Weibull",
]  # fmt: skip
