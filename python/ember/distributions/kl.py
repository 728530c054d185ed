"""KL(p || q) for pairs of distribution types, dispatched on the most specific registered pair."""

from __future__ import annotations

import math

import ember
from ember.distributions.continuous import (
    Beta,
    Dirichlet,
    Exponential,
    Gamma,
    HalfNormal,
    Laplace,
    LogNormal,
    MultivariateNormal,
    Normal,
    Uniform,
    _mahalanobis,
)
from ember.distributions.discrete import (
    Bernoulli,
    Binomial,
    Categorical,
    Geometric,
    OneHotCategorical,
    Poisson,
)
from ember.distributions.distribution import Distribution, Independent, _sum_rightmost
from ember.distributions.matrix import LowRankMultivariateNormal, _lowrank_mahalanobis
from ember.distributions.univariate import ContinuousBernoulli, ExponentialFamily
from ember.nn import functional as F
from ember.tensor import Tensor

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


@register_kl(Geometric, Geometric)
def _kl_geometric_geometric(p, q):
    return -p.entropy() - (-q.probs).log1p() / p.probs - q.logits


@register_kl(Binomial, Binomial)
def _kl_binomial_binomial(p, q):
    if bool((p.total_count < q.total_count).any()):
        raise NotImplementedError(
            "KL between Binomials where q.total_count > p.total_count is not implemented"
        )
    kl = p.total_count * (p.probs * (p.logits - q.logits) + (-p.probs).log1p() - (-q.probs).log1p())
    return _inf_where(p.total_count > q.total_count, kl)


@register_kl(HalfNormal, HalfNormal)
def _kl_halfnormal_halfnormal(p, q):
    return _kl_normal_normal(p.base_dist, q.base_dist)


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
    return _sum_rightmost(kl_divergence(p.base_dist, q.base_dist), p.reinterpreted_batch_ndims)


@register_kl(ExponentialFamily, ExponentialFamily)
def _kl_expfamily_expfamily(p, q):
    """The Bregman divergence of the log normaliser, for two members of one family."""
    if type(p) is not type(q):
        raise NotImplementedError(
            f"The cross KL-divergence between different exponential families "
            f"({type(p).__name__} and {type(q).__name__}) cannot be computed using Bregman "
            "divergences"
        )
    p_params = [v.detach().requires_grad_() for v in p._natural_params]
    q_params = q._natural_params
    with ember.enable_grad():
        log_norm = p._log_normalizer(*p_params)
        grads = ember.autograd.grad(log_norm.sum(), p_params, create_graph=True)
    result = q._log_normalizer(*q_params) - log_norm
    batch_dims = len(ember.broadcast_shapes(p._batch_shape, q._batch_shape))
    for pp, qp, g in zip(p_params, q_params, grads):
        term = (qp - pp) * g  # summed over the parameter's own (non-batch) dims
        result = result - _sum_rightmost(term, term.dim() - batch_dims)
    return result


@register_kl(ContinuousBernoulli, ContinuousBernoulli)
def _kl_cb_cb(p, q):
    t1 = p.mean * (p.logits - q.logits)
    t2 = p._cont_bern_log_norm() + (-p.probs).log1p()
    t3 = -q._cont_bern_log_norm() - (-q.probs).log1p()
    return t1 + t2 + t3


def _kl_to_cb(p, q):
    """KL(p || CB) for p on [0, 1] with a known entropy and mean."""
    return -p.entropy() - p.mean * q.logits - (-q.probs).log1p() - q._cont_bern_log_norm()


register_kl(Beta, ContinuousBernoulli)(_kl_to_cb)


@register_kl(Uniform, ContinuousBernoulli)
def _kl_uniform_cb(p, q):
    outside = (p.high >= q.support.upper_bound) | (p.low <= q.support.lower_bound)
    return _inf_where(outside, _kl_to_cb(p, q))


@register_kl(ContinuousBernoulli, Exponential)
def _kl_cb_exponential(p, q):
    return -p.entropy() - q.rate.log() + q.rate * p.mean


@register_kl(ContinuousBernoulli, Normal)
def _kl_cb_normal(p, q):
    t2 = 0.5 * (math.log(2.0 * math.pi) + (q.loc / q.scale).pow(2)) + q.scale.log()
    t3 = (p.variance + p.mean.pow(2) - 2.0 * q.loc * p.mean) / (2.0 * q.scale.pow(2))
    return -p.entropy() + t2 + t3


@register_kl(ContinuousBernoulli, Uniform)
def _kl_cb_uniform(p, q):
    result = -p.entropy() + (q.high - q.low).log()
    outside = (q.low >= p.support.lower_bound) | (q.high <= p.support.upper_bound)
    return _inf_where(outside, result)


def _trace_xxt(x):
    return x.pow(2).sum((-2, -1))


def _woodbury_factor(q):
    """A with q's precision = diag(1/D) - A^T A."""
    wt_dinv = q._unbroadcasted_cov_factor.mT / q._unbroadcasted_cov_diag.unsqueeze(-2)
    return ember.linalg.solve_triangular(q._capacitance_tril, wt_dinv, upper=False)


def _same_event(p, q):
    if p._event_shape != q._event_shape:
        raise ValueError(
            "KL-divergence between two (Low Rank) Multivariate Normals with different event "
            f"shapes cannot be computed: {p._event_shape} vs {q._event_shape}"
        )


def _lowrank_term3(p, q):
    W, D = q._unbroadcasted_cov_factor, q._unbroadcasted_cov_diag
    return _lowrank_mahalanobis(W, D, q.loc - p.loc, q._capacitance_tril)


@register_kl(LowRankMultivariateNormal, LowRankMultivariateNormal)
def _kl_lowrank_lowrank(p, q):
    _same_event(p, q)
    A, pD, qD = _woodbury_factor(q), p._unbroadcasted_cov_diag, q._unbroadcasted_cov_diag
    pW = p._unbroadcasted_cov_factor
    term2 = (
        (pD / qD).sum(-1)
        + _trace_xxt(pW * qD.rsqrt().unsqueeze(-1))
        - _trace_xxt(A * pD.sqrt().unsqueeze(-2))
        - _trace_xxt(A @ pW)
    )
    term1 = q._log_det() - p._log_det()
    return 0.5 * (term1 + term2 + _lowrank_term3(p, q) - p._event_shape[0])


@register_kl(MultivariateNormal, LowRankMultivariateNormal)
def _kl_mvn_lowrank(p, q):
    _same_event(p, q)
    A, qD, Lp = _woodbury_factor(q), q._unbroadcasted_cov_diag, p._unbroadcasted_scale_tril
    term1 = q._log_det() - 2 * p._half_log_det()
    term2 = _trace_xxt(Lp * qD.rsqrt().unsqueeze(-1)) - _trace_xxt(A @ Lp)
    return 0.5 * (term1 + term2 + _lowrank_term3(p, q) - p._event_shape[0])


@register_kl(LowRankMultivariateNormal, MultivariateNormal)
def _kl_lowrank_mvn(p, q):
    _same_event(p, q)
    term1 = 2 * q._half_log_det() - p._log_det()
    term3 = _mahalanobis(q._unbroadcasted_scale_tril, q.loc - p.loc)
    n = p._event_shape[0]
    Lq, pW = q._unbroadcasted_scale_tril, p._unbroadcasted_cov_factor
    batch = ember.broadcast_shapes(tuple(Lq.shape[:-2]), tuple(pW.shape[:-2]))
    Lq = Lq.expand(batch + (n, n))
    pW = pW.expand(batch + (n, pW.shape[-1]))
    pD = ember.diag_embed(p._unbroadcasted_cov_diag.sqrt()).expand(batch + (n, n))
    term2 = _trace_xxt(ember.linalg.solve_triangular(Lq, pW, upper=False)) + _trace_xxt(
        ember.linalg.solve_triangular(Lq, pD, upper=False)
    )
    return 0.5 * (term1 + term2 + term3 - n)


# the cross-family pairs, registered on import
from ember.distributions import kl_cross as _kl_cross  # noqa: E402, F401
