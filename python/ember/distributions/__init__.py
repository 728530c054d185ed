"""Probability distributions with PyTorch's ``torch.distributions`` API.

Each distribution holds its parameters as tensors (broadcast to one batch shape) and offers
``sample`` / ``rsample`` (reparameterised: differentiable in the parameters), ``log_prob``,
``entropy``, ``mean``, ``mode``, ``variance``, ``stddev`` and, where closed forms exist, ``cdf``
and ``icdf``. ``kl_divergence(p, q)`` dispatches on the pair of types; ``register_kl`` adds
pairs. Everything is built from ember's differentiable ops, so policy gradients
(``-dist.log_prob(action) * advantage``) and VAEs (``dist.rsample()``) train as in PyTorch.
Draws come from ember's generator (``ember.manual_seed``).

Arguments are validated by default, as in PyTorch: a parameter outside its constraint (a
negative scale, probabilities off the simplex) or a ``log_prob`` value outside the support is a
ValueError. ``validate_args=False`` or ``Distribution.set_default_validate_args(False)`` turns
the checks off.
"""

from ember.distributions import constraints, transforms
from ember.distributions.continuous import (
    Beta,
    Cauchy,
    Chi2,
    Dirichlet,
    Exponential,
    Gamma,
    Gumbel,
    HalfNormal,
    Laplace,
    LogNormal,
    MultivariateNormal,
    Normal,
    StudentT,
    Uniform,
)
from ember.distributions.discrete import (
    Bernoulli,
    Binomial,
    Categorical,
    Geometric,
    OneHotCategorical,
    Poisson,
)
from ember.distributions.distribution import Distribution, Independent, TransformedDistribution
from ember.distributions.kl import kl_divergence, register_kl

__all__ = [
    "Bernoulli", "Beta", "Binomial", "Categorical", "Cauchy", "Chi2", "Dirichlet", "Distribution",
    "Exponential", "Gamma", "Geometric", "Gumbel", "HalfNormal", "Independent", "Laplace",
    "LogNormal", "MultivariateNormal", "Normal", "OneHotCategorical", "Poisson", "StudentT",
    "TransformedDistribution", "Uniform", "constraints", "kl_divergence", "register_kl",
    "transforms",
]  # fmt: skip
