"""The base class every distribution derives from, its helpers, and Independent."""

from __future__ import annotations

import numpy as np

import ember
from ember import random as _random
from ember.distributions import constraints
from ember.tensor import Tensor, get_default_dtype

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


def _sum_rightmost(x: Tensor, dims: int) -> Tensor:
    """x summed over its last ``dims`` dims (event dims folded into one log-probability)."""
    return x.sum(tuple(range(-dims, 0))) if dims > 0 else x


# --- the base class ----------------------------------------------------------------------------


class Distribution:
    """Base class: subclasses set ``arg_constraints``, ``support`` and the methods they have."""

    has_rsample = False
    has_enumerate_support = False
    arg_constraints: dict = {}
    support: constraints.Constraint | None = None
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
                if isinstance(constraint, constraints._Dependent) or name not in self.__dict__:
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

    def enumerate_support(self, expand: bool = True) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement enumerate_support")

    def sample_n(self, n: int) -> Tensor:
        return self.sample((n,))

    @property
    def mean(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mean")

    @property
    def mode(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement mode")

    @property
    def variance(self) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} does not implement variance")

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
        return self._expanded(type(self)(**params, validate_args=False))

    def _expanded(self, new):
        """``new`` (built without checks) validating as this distribution does, as torch's
        expand keeps ``_validate_args``."""
        new._validate_args = self._validate_args
        return new

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


class ExponentialFamily(Distribution):
    """Densities p(x; θ) = exp(<t(x), θ> - F(θ) + k(x)). Subclasses give the natural
    parameters θ (``_natural_params``), the log normaliser F (``_log_normalizer``) and
    E[k(x)] (``_mean_carrier_measure``); the entropy then follows from the Bregman divergence,
    F(θ) - <θ, ∇F(θ)> - E[k(x)], with ∇F from ember's autograd."""

    @property
    def _natural_params(self):
        raise NotImplementedError

    def _log_normalizer(self, *natural_params):
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self):
        raise NotImplementedError

    def entropy(self):
        result = -self._mean_carrier_measure
        params = [p.detach().requires_grad_() for p in self._natural_params]
        with ember.enable_grad():
            log_norm = self._log_normalizer(*params)
            grads = ember.autograd.grad(log_norm.sum(), params, create_graph=True)
        result = result + log_norm
        for p, g in zip(params, grads):
            result = result - (p * g).reshape(self._batch_shape + (-1,)).sum(-1)
        return result


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

    def expand(self, batch_shape, _instance=None):
        batch_shape = _shape(batch_shape)
        base = self.base_dist.expand(
            batch_shape + self._event_shape[: self.reinterpreted_batch_ndims]
        )
        return self._expanded(
            Independent(base, self.reinterpreted_batch_ndims, validate_args=False)
        )

    def sample(self, sample_shape=()):
        return self.base_dist.sample(sample_shape)

    def rsample(self, sample_shape=()):
        return self.base_dist.rsample(sample_shape)

    def log_prob(self, value):
        return _sum_rightmost(self.base_dist.log_prob(value), self.reinterpreted_batch_ndims)

    def entropy(self):
        return _sum_rightmost(self.base_dist.entropy(), self.reinterpreted_batch_ndims)

    def __repr__(self):
        return f"Independent({self.base_dist!r}, {self.reinterpreted_batch_ndims})"


class TransformedDistribution(Distribution):
    """The distribution of ``t_n(...t_1(x))`` for x from ``base_distribution``:
    ``log_prob(y) = base.log_prob(x) - sum log|dt_i/dx|``, with x found through the inverses
    (or the transforms' cache). E.g. a tanh-squashed Gaussian policy::

        pi = TransformedDistribution(Normal(mu, std), [TanhTransform(cache_size=1)])
        a = pi.rsample(); logp = pi.log_prob(a)
    """

    arg_constraints = {}

    def __init__(self, base_distribution, transforms, validate_args=None):
        from ember.distributions.transforms import ComposeTransform, Transform

        if isinstance(transforms, Transform):
            transforms = [transforms]
        elif not (
            isinstance(transforms, list | tuple)
            and all(isinstance(t, Transform) for t in transforms)
        ):
            raise ValueError(
                f"transforms must be a Transform or a list of Transforms but was {transforms}"
            )
        if not isinstance(base_distribution, Distribution):
            raise TypeError(
                f"TransformedDistribution: expected a Distribution, got "
                f"{type(base_distribution).__name__}"
            )
        self.transforms = list(transforms)
        self._transform = t = ComposeTransform(self.transforms)
        shape = base_distribution._batch_shape + base_distribution._event_shape
        base_event_dim = len(base_distribution._event_shape)
        if len(shape) < t.domain.event_dim:
            raise ValueError(
                f"base_distribution needs at least {t.domain.event_dim} dims, but got shape {shape}"
            )
        forward_shape = tuple(t.forward_shape(shape))
        expanded = tuple(t.inverse_shape(forward_shape))
        if expanded != shape:  # the transforms' parameters broadcast the base's batch
            base_distribution = base_distribution.expand(expanded[: len(expanded) - base_event_dim])
        if t.domain.event_dim > base_event_dim:
            base_distribution = Independent(base_distribution, t.domain.event_dim - base_event_dim)
        self.base_dist = base_distribution
        event_dim = max(
            t.codomain.event_dim, base_event_dim + t.codomain.event_dim - t.domain.event_dim
        )
        cut = len(forward_shape) - event_dim
        super().__init__(forward_shape[:cut], forward_shape[cut:], validate_args=validate_args)

    has_rsample = property(lambda self: self.base_dist.has_rsample)

    @property
    def support(self):
        if not self.transforms:
            return self.base_dist.support
        codomain = self.transforms[-1].codomain
        extra = len(self._event_shape) - codomain.event_dim
        return constraints.independent(codomain, extra) if extra > 0 else codomain

    def sample(self, sample_shape=()):
        with ember.no_grad():
            x = self.base_dist.sample(sample_shape)
            for t in self.transforms:
                x = t(x)
            return x

    def rsample(self, sample_shape=()):
        x = self.base_dist.rsample(sample_shape)
        for t in self.transforms:
            x = t(x)
        return x

    def log_prob(self, value):
        value = self._checked(value)
        event_dim = len(self._event_shape)
        log_prob = 0.0
        y = value
        for t in reversed(self.transforms):
            x = t.inv(y)
            event_dim += t.domain.event_dim - t.codomain.event_dim
            log_prob = log_prob - _sum_rightmost(
                t.log_abs_det_jacobian(x, y), event_dim - t.domain.event_dim
            )
            y = x
        base = _sum_rightmost(
            self.base_dist.log_prob(y), event_dim - len(self.base_dist._event_shape)
        )
        return log_prob + base

    def _monotonize(self, value):
        """The cdf of a decreasing map is 1 minus the base's (per element for a sign tensor)."""
        sign = self._transform.sign
        if isinstance(sign, int) and sign == 1:
            return value
        return sign * (value - 0.5) + 0.5

    def cdf(self, value):
        y = value if isinstance(value, Tensor) else _as_tensor(value)
        for t in reversed(self.transforms):
            y = t.inv(y)
        if self._validate_args:  # in the base's space, as torch's (cdf(0) of a Weibull is 0)
            self.base_dist._validate_sample(y)
        return self._monotonize(self.base_dist.cdf(y))

    def icdf(self, value):
        x = self.base_dist.icdf(self._monotonize(value))
        for t in self.transforms:
            x = t(x)
        return x

    def expand(self, batch_shape, _instance=None):
        shape = _shape(batch_shape) + self._event_shape
        for t in reversed(self.transforms):
            shape = tuple(t.inverse_shape(shape))
        base = self.base_dist.expand(shape[: len(shape) - len(self.base_dist._event_shape)])
        return self._expanded(TransformedDistribution(base, self.transforms, validate_args=False))

    def __repr__(self):
        return f"TransformedDistribution({self.base_dist!r}, {self.transforms!r})"
