"""Probability distributions with PyTorch's ``torch.distributions`` API.

Each distribution holds its parameters as tensors (broadcast to one batch shape) and offers
``sample`` / ``rsample`` (reparameterised: differentiable in the parameters), ``log_prob``,
``entropy``, ``mean``, ``mode``, ``variance``, ``stddev`` and, where closed forms exist, ``cdf``
and ``icdf``. ``kl_divergence(p, q)`` dispatches on the pair of types; ``register_kl`` adds
pairs. Everything is built from ember's differentiable ops, so policy gradients
(``-dist.log_prob(action) * advantage``) and VAEs (``dist.rsample()``) train as in PyTorch.
Draws come from ember's generator (``ember.manual_seed``). ``transforms`` holds torch's
invertible maps, and ``biject_to(constraint)`` / ``transform_to(constraint)`` map the reals onto
a constraint's set (``constraints``) for unconstrained optimisation and variational inference.

Arguments are validated by default, as in PyTorch: a parameter outside its constraint (a
negative scale, probabilities off the simplex) or a ``log_prob`` value outside the support is a
ValueError. ``validate_args=False`` or ``Distribution.set_default_validate_args(False)`` turns
the checks off.
"""

import sys as _sys
import types as _types

from ember.distributions import constraint_registry, constraints, transforms, utils
from ember.distributions.compound import (
    ExpRelaxedCategorical,
    HalfCauchy,
    LogitRelaxedBernoulli,
    MixtureSameFamily,
    OneHotCategoricalStraightThrough,
    Pareto,
    RelaxedBernoulli,
    RelaxedOneHotCategorical,
    Weibull,
)
from ember.distributions.constraint_registry import biject_to, transform_to
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
    Multinomial,
    NegativeBinomial,
    OneHotCategorical,
    Poisson,
)
from ember.distributions.distribution import Distribution, Independent, TransformedDistribution
from ember.distributions.kl import kl_divergence, register_kl
from ember.distributions.matrix import LKJCholesky, LowRankMultivariateNormal, Wishart
from ember.distributions.transforms import (
    AbsTransform,
    AffineTransform,
    CatTransform,
    ComposeTransform,
    CorrCholeskyTransform,
    CumulativeDistributionTransform,
    ExpTransform,
    IndependentTransform,
    LowerCholeskyTransform,
    PositiveDefiniteTransform,
    PowerTransform,
    ReshapeTransform,
    SigmoidTransform,
    SoftmaxTransform,
    SoftplusTransform,
    StackTransform,
    StickBreakingTransform,
    TanhTransform,
    Transform,
    identity_transform,
)
from ember.distributions.univariate import (
    ContinuousBernoulli,
    ExponentialFamily,
    FisherSnedecor,
    GeneralizedPareto,
    InverseGamma,
    Kumaraswamy,
    LogisticNormal,
    VonMises,
)

__all__ = [
    "AbsTransform", "AffineTransform", "Bernoulli", "Beta", "Binomial", "CatTransform",
    "Categorical", "Cauchy", "Chi2", "ComposeTransform", "ContinuousBernoulli",
    "CorrCholeskyTransform", "CumulativeDistributionTransform", "Dirichlet", "Distribution",
    "ExpTransform", "Exponential", "ExponentialFamily", "FisherSnedecor", "Gamma",
    "GeneralizedPareto", "Geometric", "Gumbel", "HalfCauchy", "HalfNormal", "Independent",
    "IndependentTransform", "InverseGamma", "Kumaraswamy", "LKJCholesky", "Laplace",
    "LogNormal", "LogisticNormal", "LowRankMultivariateNormal", "LowerCholeskyTransform",
    "MixtureSameFamily", "Multinomial", "MultivariateNormal", "NegativeBinomial", "Normal",
    "OneHotCategorical", "OneHotCategoricalStraightThrough", "Pareto", "Poisson",
    "PositiveDefiniteTransform", "PowerTransform", "RelaxedBernoulli",
    "RelaxedOneHotCategorical", "ReshapeTransform", "SigmoidTransform", "SoftmaxTransform",
    "SoftplusTransform", "StackTransform", "StickBreakingTransform", "StudentT",
    "TanhTransform", "Transform", "TransformedDistribution", "Uniform", "VonMises", "Weibull",
    "Wishart", "biject_to", "constraint_registry", "constraints", "identity_transform",
    "kl_divergence", "register_kl", "transform_to", "transforms", "utils",]  # fmt: skip

# torch's one-module-per-family paths (``from torch.distributions.normal import Normal``)
_MODULES = {
    "bernoulli": [Bernoulli], "beta": [Beta], "binomial": [Binomial],
    "categorical": [Categorical], "cauchy": [Cauchy], "chi2": [Chi2], "dirichlet": [Dirichlet],
    "exponential": [Exponential], "gamma": [Gamma], "geometric": [Geometric],
    "gumbel": [Gumbel], "half_cauchy": [HalfCauchy], "half_normal": [HalfNormal],
    "independent": [Independent], "laplace": [Laplace], "log_normal": [LogNormal],
    "mixture_same_family": [MixtureSameFamily], "multinomial": [Multinomial],
    "multivariate_normal": [MultivariateNormal], "negative_binomial": [NegativeBinomial],
    "normal": [Normal],
    "one_hot_categorical": [OneHotCategorical, OneHotCategoricalStraightThrough],
    "pareto": [Pareto], "poisson": [Poisson],
    "relaxed_bernoulli": [LogitRelaxedBernoulli, RelaxedBernoulli],
    "relaxed_categorical": [ExpRelaxedCategorical, RelaxedOneHotCategorical],
    "studentT": [StudentT], "transformed_distribution": [TransformedDistribution],
    "uniform": [Uniform], "weibull": [Weibull],
    "continuous_bernoulli": [ContinuousBernoulli], "exp_family": [ExponentialFamily],
    "fishersnedecor": [FisherSnedecor], "generalized_pareto": [GeneralizedPareto],
    "inverse_gamma": [InverseGamma], "kumaraswamy": [Kumaraswamy],
    "lkj_cholesky": [LKJCholesky], "logistic_normal": [LogisticNormal],
    "lowrank_multivariate_normal": [LowRankMultivariateNormal], "von_mises": [VonMises],
    "wishart": [Wishart],
}  # fmt: skip
for _name, _classes in _MODULES.items():
    _module = _types.ModuleType(f"{__name__}.{_name}", f"torch.distributions.{_name}'s path")
    for _cls in _classes:
        setattr(_module, _cls.__name__, _cls)
    _sys.modules[_module.__name__] = _module
    globals()[_name] = _module
del _name, _classes, _module, _cls
