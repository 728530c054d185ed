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

from __future__ import annotations

import math

import numpy as np

import ember
from ember import random as _random
from ember.nn import functional as F
from ember.tensor import Tensor, get_default_dtype

__all__ = [
    "Bernoulli", "Beta", "Categorical", "Dirichlet", "Distribution", "Exponential", "Gamma",
    "Independent", "Laplace", "LogNormal", "MultivariateNormal", "Normal", "OneHotCategorical",
    "Poisson", "Uniform", "constraints", "kl_divergence", "register_kl",
]  # fmt: skip


# --- constraints -------------------------------------------------------------------------------


class Constraint:
    """A set of valid values: ``check(value)`` is a bool tensor over the batch."""

    is_discrete = False
    event_dim = 0

    def check(self, value: Tensor) -> Tensor:
        raise NotImplementedError

    def __repr__(self) -> str:
        return type(self).__name__.lstrip("_") + "()"


class _Real(Constraint):
    def check(self, value):
        return value == value  # False at NaN only


class _GreaterThan(Constraint):
    def __init__(self, lower_bound, inclusive: bool = False):
        self.lower_bound, self.inclusive = lower_bound, inclusive

    def check(self, value):
        return value >= self.lower_bound if self.inclusive else value > self.lower_bound

    def __repr__(self):
        return f"GreaterThan{'Eq' if self.inclusive else ''}(lower_bound={self.lower_bound})"


class _Interval(Constraint):
    def __init__(self, lower_bound, upper_bound, half_open: bool = False):
        self.lower_bound, self.upper_bound, self.half_open = lower_bound, upper_bound, half_open

    def check(self, value):
        upper = value < self.upper_bound if self.half_open else value <= self.upper_bound
        return (value >= self.lower_bound) & upper

    def __repr__(self):
        name = "HalfOpenInterval" if self.half_open else "Interval"
        return f"{name}(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _IntegerInterval(_Interval):
    is_discrete = True

    def check(self, value):
        return (value % 1 == 0) & super().check(value)

    def __repr__(self):
        return f"IntegerInterval(lower_bound={self.lower_bound}, upper_bound={self.upper_bound})"


class _NonnegativeInteger(Constraint):
    is_discrete = True

    def check(self, value):
        return (value % 1 == 0) & (value >= 0)

    def __repr__(self):
        return "IntegerGreaterThan(lower_bound=0)"


class _Boolean(Constraint):
    is_discrete = True

    def check(self, value):
        return (value == 0) | (value == 1)


class _Independent(Constraint):
    """``base`` on each element, all of the last ``event_dim`` dims valid together."""

    def __init__(self, base: Constraint, event_dim: int):
        self.base, self.event_dim = base, event_dim

    def check(self, value):
        ok = self.base.check(value)
        return ok.reshape(ok.shape[: ok.dim() - self.event_dim] + (-1,)).all(-1)

    def __repr__(self):
        return f"IndependentConstraint({self.base!r}, {self.event_dim})"


class _Simplex(Constraint):
    event_dim = 1

    def check(self, value):
        return (value >= 0).all(-1) & ((value.sum(-1) - 1).abs() < 1e-6)


class _OneHot(Constraint):
    is_discrete = True
    event_dim = 1

    def check(self, value):
        return ((value == 0) | (value == 1)).all(-1) & (value.sum(-1) == 1)


class _LowerCholesky(Constraint):
    event_dim = 2

    def check(self, value):
        lower = (value.tril() == value).reshape(value.shape[:-2] + (-1,)).all(-1)
        return lower & (value.diagonal(dim1=-2, dim2=-1) > 0).all(-1)


class _PositiveDefinite(Constraint):
    event_dim = 2

    def check(self, value):
        a = value.data
        symmetric = np.all(np.abs(a - np.swapaxes(a, -1, -2)) <= 1e-6 * (1 + np.abs(a)), (-2, -1))
        with np.errstate(invalid="ignore"):
            positive = np.all(np.linalg.eigvalsh(a) > 0, -1) if a.size else np.ones(a.shape[:-2])
        return ember.tensor(symmetric & positive)


class _Dependent(Constraint):
    """A constraint that depends on other parameters: not checked on its own."""


class constraints:  # noqa: N801 (torch.distributions.constraints, a module in PyTorch)
    real = _Real()
    real_vector = _Independent(_Real(), 1)
    positive = _GreaterThan(0.0)
    nonnegative = _GreaterThan(0.0, inclusive=True)
    unit_interval = _Interval(0.0, 1.0)
    boolean = _Boolean()
    nonnegative_integer = _NonnegativeInteger()
    simplex = _Simplex()
    one_hot = _OneHot()
    lower_cholesky = _LowerCholesky()
    positive_definite = _PositiveDefinite()
    dependent = _Dependent()
    greater_than = _GreaterThan
    greater_than_eq = staticmethod(lambda lower: _GreaterThan(lower, inclusive=True))
    interval = _Interval
    half_open_interval = staticmethod(lambda lo, hi: _Interval(lo, hi, half_open=True))
    integer_interval = _IntegerInterval
    independent = _Independent


# --- helpers -----------------------------------------------------------------------------------


def _as_tensor(x, dtype=None) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, bool) or not isinstance(x, int | float | np.ndarray | np.generic | list):
        raise TypeError(f"expected a tensor or a number, got {type(x).__name__}")
    return ember.tensor(np.asarray(x, dtype=dtype or get_default_dtype()))


def _broadcast_all(*values) -> tuple:
    """Parameters as float tensors of one shape: numbers take the first tensor's dtype."""
    floats = [v.dtype for v in values if isinstance(v, Tensor) and v.is_floating_point()]
    dtype = floats[0] if floats else get_default_dtype()
    tensors = []
    for v in values:
        t = _as_tensor(v, dtype)
        tensors.append(t if t.is_floating_point() else t.to(dtype))
    return tuple(ember.broadcast_tensors(*tensors))


def _shape(sample_shape) -> tuple:
    if isinstance(sample_shape, int):
        return (sample_shape,)
    try:
        return tuple(int(s) for s in sample_shape)
    except TypeError:
        raise TypeError(f"sample_shape must be a tuple of ints, got {sample_shape!r}") from None


def _draw(kind: str, shape: tuple, dtype, *args) -> Tensor:
    """A constant tensor of draws from ember's generator, in ``dtype``."""
    g = _random.rng()
    a = getattr(g, kind)(*args, size=shape) if args else getattr(g, kind)(size=shape)
    return ember.tensor(np.asarray(a).astype(dtype, copy=False))


def _clamp_probs(p: Tensor) -> Tensor:
    eps = float(np.finfo(p.dtype).eps)
    return p.clamp(eps, 1 - eps)


def _finfo_tiny(t: Tensor) -> float:
    return float(np.finfo(t.dtype).tiny)


# --- the base class ----------------------------------------------------------------------------


class Distribution:
    """Base class: subclasses set ``arg_constraints``, ``support`` and the methods they have."""

    has_rsample = False
    has_enumerate_support = False
    arg_constraints: dict = {}
    support: Constraint | None = None
    _validate_default = True

    @staticmethod
    def set_default_validate_args(value: bool) -> None:
        if value not in (True, False):
            raise ValueError(f"set_default_validate_args expects a bool, got {value!r}")
        Distribution._validate_default = value

    def __init__(self, batch_shape=(), event_shape=(), validate_args=None):
        self._batch_shape = tuple(batch_shape)
        self._event_shape = tuple(event_shape)
        if validate_args is not None:
            self._validate_args = bool(validate_args)
        else:
            self._validate_args = Distribution._validate_default
        if self._validate_args:
            for name, constraint in self.arg_constraints.items():
                if isinstance(constraint, _Dependent) or name not in self.__dict__:
                    continue  # a parameter given in its other form (probs vs logits)
                value = self.__dict__[name]
                ok = constraint.check(value.detach())
                if not bool(ok.all()):
                    raise ValueError(
                        f"Expected parameter {name} (Tensor of shape {tuple(value.shape)}) of "
                        f"distribution {self!r} to satisfy the constraint {constraint!r}, but "
                        f"found invalid values:\n{value}"
                    )

    @property
    def batch_shape(self) -> ember.Size:
        return ember.Size(self._batch_shape)

    @property
    def event_shape(self) -> ember.Size:
        return ember.Size(self._event_shape)

    def _extended_shape(self, sample_shape=()) -> tuple:
        return _shape(sample_shape) + self._batch_shape + self._event_shape

    def sample(self, sample_shape=()) -> Tensor:
        with ember.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape=()) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} has no reparameterised sample (rsample); use sample()"
        )

    def log_prob(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no log_prob")

    def cdf(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no cdf")

    def icdf(self, value) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no icdf")

    def entropy(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no entropy")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    @property
    def stddev(self) -> Tensor:
        return self.variance.sqrt()

    def perplexity(self) -> Tensor:
        return self.entropy().exp()

    def _validate_sample(self, value) -> None:
        if not isinstance(value, Tensor):
            raise ValueError("The value argument to log_prob must be a Tensor")
        event_dims = len(self._event_shape)
        if tuple(value.shape[value.dim() - event_dims :]) != self._event_shape:
            raise ValueError(
                f"The right-most size of value must match event_shape: {tuple(value.shape)} vs "
                f"{self._event_shape}."
            )
        actual = tuple(value.shape)
        expected = self._batch_shape + self._event_shape
        for i, j in zip(reversed(actual), reversed(expected)):
            if i != 1 and j != 1 and i != j:
                raise ValueError(
                    f"Value is not broadcastable with batch_shape+event_shape: {actual} vs "
                    f"{expected}."
                )
        ok = self.support.check(value.detach())
        if not bool(ok.all()):
            raise ValueError(
                f"Expected value argument (Tensor of shape {actual}) to be within the support "
                f"({self.support!r}) of the distribution {self!r}, but found invalid values:\n"
                f"{value}"
            )

    def _checked(self, value) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        elif not isinstance(value, Tensor):
            value = _as_tensor(value)
        return value

    def expand(self, batch_shape, _instance=None):
        """The same distribution with parameters broadcast to ``batch_shape``."""
        batch_shape = _shape(batch_shape)
        params = {}
        for name, event_dims in self._expand_params().items():
            p = self.__dict__[name]
            params[name] = p.expand(batch_shape + tuple(p.shape[p.dim() - event_dims :]))
        return type(self)(**params, validate_args=False)

    def _expand_params(self) -> dict:
        """The constructor's arguments as given: {name: number of event dims}."""
        return {n: 0 for n in self.arg_constraints if n in self.__dict__}

    def __repr__(self) -> str:
        parts = []
        for name in self.arg_constraints:
            if name in self.__dict__:
                p = self.__dict__[name]
                parts.append(f"{name}: {p if p.numel() == 1 else repr(p.size())}")
        return f"{type(self).__name__}({', '.join(parts)})"


# --- continuous --------------------------------------------------------------------------------


class Normal(Distribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)
    stddev = property(lambda self: self.scale)
    variance = property(lambda self: self.scale.pow(2))

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
        return self.base_dist.cdf(self._checked(value).log())

    def icdf(self, value):
        return self.base_dist.icdf(value).exp()

    def entropy(self):
        return self.base_dist.entropy() + self.loc


class Uniform(Distribution):
    arg_constraints = {"low": constraints.dependent, "high": constraints.dependent}
    has_rsample = True

    def __init__(self, low, high, validate_args=None):
        self.low, self.high = _broadcast_all(low, high)
        super().__init__(self.low.shape, validate_args=validate_args)
        if self._validate_args and not bool((self.low < self.high).all()):
            raise ValueError("Uniform is not defined when low>= high")

    @property
    def support(self):
        return constraints.half_open_interval(self.low, self.high)

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


class Exponential(Distribution):
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


class Laplace(Distribution):
    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc, scale, validate_args=None):
        self.loc, self.scale = _broadcast_all(loc, scale)
        super().__init__(self.loc.shape, validate_args=validate_args)

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


class Gamma(Distribution):
    arg_constraints = {"concentration": constraints.positive, "rate": constraints.positive}
    support = constraints.nonnegative
    has_rsample = True

    def __init__(self, concentration, rate, validate_args=None):
        self.concentration, self.rate = _broadcast_all(concentration, rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    mean = property(lambda self: self.concentration / self.rate)
    mode = property(lambda self: ((self.concentration - 1) / self.rate).clamp(min=0))
    variance = property(lambda self: self.concentration / self.rate.pow(2))

    def rsample(self, sample_shape=()):
        g = _standard_gamma(self.concentration, self._extended_shape(sample_shape))
        return (g / self.rate).clamp(min=_finfo_tiny(self.rate))

    def cdf(self, value):
        return ember.special.gammainc(self.concentration, self.rate * self._checked(value))

    def log_prob(self, value):
        value = self._checked(value)
        c, r = self.concentration, self.rate
        return ember.xlogy(c, r) + ember.xlogy(c - 1, value) - r * value - ember.lgamma(c)

    def entropy(self):
        c = self.concentration
        return c - self.rate.log() + ember.lgamma(c) + (1.0 - c) * ember.digamma(c)


def _standard_gamma(concentration: Tensor, shape: tuple) -> Tensor:
    """Gamma(concentration, 1) draws of ``shape``. The pathwise gradient in the concentration
    (PyTorch's implicit reparameterisation) is not implemented: refused, not returned as 0."""
    if concentration.requires_grad and ember.is_grad_enabled():
        raise NotImplementedError(
            "rsample: the gradient of a Gamma/Beta/Dirichlet sample with respect to its "
            "concentration is not implemented; detach the concentration or use sample() with "
            "a score-function (log_prob) estimator"
        )
    c = np.broadcast_to(concentration.data, shape)
    return ember.tensor(_random.rng().standard_gamma(c).astype(concentration.dtype, copy=False))


class Dirichlet(Distribution):
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


class Beta(Distribution):
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


# --- discrete ----------------------------------------------------------------------------------


def _probs_or_logits(probs, logits, binary: bool):
    if (probs is None) == (logits is None):
        raise ValueError("Either `probs` or `logits` must be specified, but not both.")
    if probs is not None:
        return ("probs", _as_tensor(probs))
    return ("logits", _as_tensor(logits))


class Bernoulli(Distribution):
    arg_constraints = {"probs": constraints.unit_interval, "logits": constraints.real}
    support = constraints.boolean
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        name, p = _probs_or_logits(probs, logits, True)
        (p,) = _broadcast_all(p)
        setattr(self, name, p)
        self._given = name
        super().__init__(p.shape, validate_args=validate_args)

    def __getattr__(self, name):  # the parameter not given, computed from the other on use
        given = self.__dict__.get("_given")
        if name == "probs" and given == "logits":
            return self.logits.sigmoid()
        if name == "logits" and given == "probs":
            p = _clamp_probs(self.probs)
            return p.log() - (-p).log1p()
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def _expand_params(self):
        return {self._given: 0}

    mean = property(lambda self: self.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    @property
    def mode(self):
        p = self.probs
        mode = (p >= 0.5).to(p.dtype)
        return ember.where(p == 0.5, ember.full_like(p, float("nan")), mode)

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
        name, p = _probs_or_logits(probs, logits, False)
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


class OneHotCategorical(Distribution):
    arg_constraints = Categorical.arg_constraints
    support = constraints.one_hot
    has_enumerate_support = True

    def __init__(self, probs=None, logits=None, validate_args=None):
        self._categorical = Categorical(probs, logits, validate_args=validate_args)
        self._given = self._categorical._given
        n = self._categorical._num_events
        super().__init__(self._categorical.batch_shape, (n,), validate_args=validate_args)

    probs = property(lambda self: self._categorical.probs)
    logits = property(lambda self: self._categorical.logits)
    mean = property(lambda self: self.probs)
    variance = property(lambda self: self.probs * (1 - self.probs))

    def _expand_params(self):
        return {self._given: 1}

    def expand(self, batch_shape, _instance=None):
        p = getattr(self, self._given)
        return OneHotCategorical(
            **{self._given: p.expand(_shape(batch_shape) + (p.shape[-1],))}, validate_args=False
        )

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
        return repr(self._categorical).replace("Categorical", "OneHotCategorical", 1)


class Poisson(Distribution):
    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate, validate_args=None):
        (self.rate,) = _broadcast_all(rate)
        super().__init__(self.rate.shape, validate_args=validate_args)

    mean = property(lambda self: self.rate)
    mode = property(lambda self: self.rate.floor())
    variance = property(lambda self: self.rate)

    def sample(self, sample_shape=()):
        r = np.broadcast_to(self.rate.detach().data, self._extended_shape(sample_shape))
        return ember.tensor(_random.rng().poisson(r).astype(self.rate.dtype))

    def log_prob(self, value):
        value = self._checked(value)
        return ember.xlogy(value, self.rate) - self.rate - ember.lgamma(value + 1)


class Independent(Distribution):
    """Reinterpret the last ``reinterpreted_batch_ndims`` batch dims of ``base_distribution`` as
    event dims: log_prob and entropy sum over them (a diagonal Normal as one multivariate)."""

    arg_constraints = {}

    def __init__(self, base_distribution, reinterpreted_batch_ndims: int, validate_args=None):
        if not isinstance(base_distribution, Distribution):
            raise TypeError(
                f"Independent: expected a Distribution, got {type(base_distribution).__name__}"
            )
        shape = base_distribution._batch_shape + base_distribution._event_shape
        n = reinterpreted_batch_ndims
        if not isinstance(n, int) or n < 0 or n > len(base_distribution._batch_shape):
            raise ValueError(
                f"Expected reinterpreted_batch_ndims <= len(base_distribution.batch_shape), "
                f"actual {n} vs {len(base_distribution._batch_shape)}"
            )
        self.base_dist = base_distribution
        self.reinterpreted_batch_ndims = n
        event_dim = n + len(base_distribution._event_shape)
        split = len(shape) - event_dim
        super().__init__(shape[:split], shape[split:], validate_args=validate_args)

    has_rsample = property(lambda self: self.base_dist.has_rsample)
    has_enumerate_support = property(lambda self: False)
    support = property(
        lambda self: constraints.independent(self.base_dist.support, self.reinterpreted_batch_ndims)
    )
    mean = property(lambda self: self.base_dist.mean)
    mode = property(lambda self: self.base_dist.mode)
    variance = property(lambda self: self.base_dist.variance)

    def _sum_rightmost(self, x: Tensor) -> Tensor:
        n = self.reinterpreted_batch_ndims
        return x.sum(tuple(range(-n, 0))) if n else x

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        base = self.base_dist.expand(
            batch_shape + self._event_shape[: self.reinterpreted_batch_ndims]
        )
        return Independent(base, self.reinterpreted_batch_ndims, validate_args=False)

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return self._sum_rightmost(self.base_dist.log_prob(value))

    def entropy(self):
        return self._sum_rightmost(self.base_dist.entropy())

    def __repr__(self):
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"


# --- KL divergence -----------------------------------------------------------------------------

_KL_REGISTRY: dict = {}


def register_kl(type_p, type_q):
    """Decorator registering ``fn(p, q)`` as KL(p || q) for that pair of types (subclasses
    inherit it; the most specific registered pair wins)."""
    for t in (type_p, type_q):
        if not (isinstance(t, type) and issubclass(t, Distribution)):
            raise TypeError(f"register_kl expects Distribution subclasses, got {t!r}")

    def decorator(fn):
        _KL_REGISTRY[type_p, type_q] = fn
        return fn

    return decorator


def kl_divergence(p: Distribution, q: Distribution) -> Tensor:
    """KL(p || q) over the batch, for a registered pair of distribution types."""
    matches = [(tp, tq) for tp, tq in _KL_REGISTRY if isinstance(p, tp) and isinstance(q, tq)]
    if not matches:
        raise NotImplementedError(
            f"No KL(p || q) is implemented for p type {type(p).__name__} and q type "
            f"{type(q).__name__}"
        )
    tp, tq = min(matches, key=lambda m: (type(p).__mro__.index(m[0]), type(q).__mro__.index(m[1])))
    return _KL_REGISTRY[tp, tq](p, q)


def _inf_where(mask, x: Tensor) -> Tensor:
    return ember.where(mask, ember.full_like(x, float("inf")), x)


def _zero_where(mask, x: Tensor) -> Tensor:
    return ember.where(mask, ember.zeros_like(x), x)


@register_kl(Normal, Normal)
def _kl_normal_normal(p, q):
    var_ratio = (p.scale / q.scale).pow(2)
    t1 = ((p.loc - q.loc) / q.scale).pow(2)
    return 0.5 * (var_ratio + t1 - 1 - var_ratio.log())


@register_kl(LogNormal, LogNormal)
def _kl_lognormal_lognormal(p, q):
    return _kl_normal_normal(p.base_dist, q.base_dist)


@register_kl(Laplace, Laplace)
def _kl_laplace_laplace(p, q):
    scale_ratio = p.scale / q.scale
    loc_abs_diff = (p.loc - q.loc).abs()
    t1 = -scale_ratio.log()
    t2 = loc_abs_diff / q.scale
    t3 = scale_ratio * (-loc_abs_diff / p.scale).exp()
    return t1 + t2 + t3 - 1


@register_kl(Exponential, Exponential)
def _kl_exponential_exponential(p, q):
    rate_ratio = q.rate / p.rate
    return -rate_ratio.log() + rate_ratio - 1


@register_kl(Uniform, Uniform)
def _kl_uniform_uniform(p, q):
    result = ((q.high - q.low) / (p.high - p.low)).log()
    return _inf_where((q.low > p.low) | (q.high < p.high), result)


@register_kl(Gamma, Gamma)
def _kl_gamma_gamma(p, q):
    t1 = q.concentration * (p.rate / q.rate).log()
    t2 = ember.lgamma(q.concentration) - ember.lgamma(p.concentration)
    t3 = (p.concentration - q.concentration) * ember.digamma(p.concentration)
    t4 = (q.rate - p.rate) * (p.concentration / p.rate)
    return t1 + t2 + t3 + t4


@register_kl(Dirichlet, Dirichlet)
def _kl_dirichlet_dirichlet(p, q):
    sum_p = p.concentration.sum(-1)
    sum_q = q.concentration.sum(-1)
    t1 = ember.lgamma(sum_p) - ember.lgamma(sum_q)
    t2 = (ember.lgamma(p.concentration) - ember.lgamma(q.concentration)).sum(-1)
    t3 = p.concentration - q.concentration
    t4 = ember.digamma(p.concentration) - ember.digamma(sum_p).unsqueeze(-1)
    return t1 - t2 + (t3 * t4).sum(-1)


@register_kl(Beta, Beta)
def _kl_beta_beta(p, q):
    return _kl_dirichlet_dirichlet(p._dirichlet, q._dirichlet)


@register_kl(Bernoulli, Bernoulli)
def _kl_bernoulli_bernoulli(p, q):
    t1 = p.probs * (F.softplus(-q.logits) - F.softplus(-p.logits))
    t1 = _zero_where(p.probs == 0, _inf_where(q.probs == 0, t1))
    t2 = (1 - p.probs) * (F.softplus(q.logits) - F.softplus(p.logits))
    t2 = _zero_where(p.probs == 1, _inf_where(q.probs == 1, t2))
    return t1 + t2


@register_kl(Categorical, Categorical)
def _kl_categorical_categorical(p, q):
    t = p.probs * (p.logits - q.logits)
    q_zero, p_zero = ember.broadcast_tensors(q.probs == 0, p.probs == 0)
    t = _zero_where(p_zero, _inf_where(q_zero, t))
    return t.sum(-1)


@register_kl(OneHotCategorical, OneHotCategorical)
def _kl_onehot_onehot(p, q):
    return _kl_categorical_categorical(p._categorical, q._categorical)


@register_kl(Poisson, Poisson)
def _kl_poisson_poisson(p, q):
    return p.rate * (p.rate.log() - q.rate.log()) - (p.rate - q.rate)


@register_kl(MultivariateNormal, MultivariateNormal)
def _kl_mvn_mvn(p, q):
    if p._event_shape != q._event_shape:
        raise ValueError(
            "KL-divergence between two Multivariate Normals with different event shapes "
            f"cannot be computed: {p._event_shape} vs {q._event_shape}"
        )
    half_term1 = q._half_log_det() - p._half_log_det()
    d = p._event_shape[0]
    batch = ember.broadcast_shapes(p._batch_shape, q._batch_shape)
    Lq = q._unbroadcasted_scale_tril.expand(batch + (d, d))
    Lp = p._unbroadcasted_scale_tril.expand(batch + (d, d))
    term2 = ember.linalg.solve_triangular(Lq, Lp, upper=False).pow(2).sum((-2, -1))
    term3 = _mahalanobis(q._unbroadcasted_scale_tril, q.loc - p.loc)
    return half_term1 + 0.5 * (term2 + term3 - d)


@register_kl(Independent, Independent)
def _kl_independent_independent(p, q):
    if p.reinterpreted_batch_ndims != q.reinterpreted_batch_ndims:
        raise NotImplementedError(
            "KL between Independent distributions with different reinterpreted_batch_ndims"
        )
    return p._sum_rightmost(kl_divergence(p.base_dist, q.base_dist))
