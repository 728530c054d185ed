"""The transforms, constraint registry and families ember added later, against
torch.distributions in float64: values, gradients (finite differences), sample moments and
KS statistics with ember's own RNG, KL pairs, and the errors bad arguments get."""

import math

import numpy as np
import pytest

import ember
import ember.distributions as D
from ember.autograd import gradcheck
from ember.distributions import constraints as C
from ember.distributions import transforms as T

rng = np.random.default_rng(1)


def e(x, grad=False):
    return ember.tensor(np.asarray(x, np.float64), requires_grad=grad)


@pytest.fixture
def torch64():
    torch = pytest.importorskip("torch")
    return torch, torch.distributions


def tt(torch, x):
    return torch.tensor(np.asarray(x, np.float64))


def close(a, b, tol=1e-9):
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(np.asarray(a.detach().data), b, rtol=tol, atol=tol, equal_nan=True)


def _random_corr_cholesky(n, d):
    a = rng.normal(size=(n, d, d))
    cov = a @ np.swapaxes(a, -1, -2) + d * np.eye(d)
    s = 1 / np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    return np.linalg.cholesky(cov * s[..., :, None] * s[..., None, :])


# --- transforms ---------------------------------------------------------------------------------

# name: (build(module T), input x in the domain)
TRANSFORMS = {
    "stick": (lambda T: T.StickBreakingTransform(), rng.normal(size=(3, 4))),
    "corr": (lambda T: T.CorrCholeskyTransform(), rng.normal(size=(2, 6))),
    "reshape": (lambda T: T.ReshapeTransform((2, 3), (6,)), rng.normal(size=(4, 2, 3))),
    "independent": (lambda T: T.IndependentTransform(T.ExpTransform(), 1), rng.normal(size=(3, 4))),
    "cat": (
        lambda T: T.CatTransform([T.ExpTransform(), T.AffineTransform(1.0, 2.0)], -1, [2, 3]),
        rng.normal(size=(4, 5)),
    ),
    "cat0": (
        lambda T: T.CatTransform([T.ExpTransform(), T.SigmoidTransform()], 0, [1, 2]),
        rng.normal(size=(3, 2)),
    ),
    "stack": (
        lambda T: T.StackTransform([T.ExpTransform(), T.SigmoidTransform()], 1),
        rng.normal(size=(4, 2)),
    ),
    "compose": (
        lambda T: T.ComposeTransform([T.StickBreakingTransform(), T.AffineTransform(0.5, 2.0)]),
        rng.normal(size=(2, 3)),
    ),
    "identity": (lambda T: T.identity_transform, rng.normal(size=(3,))),
}


@pytest.mark.parametrize("name", TRANSFORMS)
def test_transforms_match_torch(torch64, name):
    torch, TD = torch64
    build, x = TRANSFORMS[name]
    ours, ref = build(T), build(TD.transforms)
    y, ry = ours(e(x)), ref(tt(torch, x))
    close(y, ry)
    close(ours.inv(y), ref.inv(ry))
    close(ours.log_abs_det_jacobian(e(x), y), ref.log_abs_det_jacobian(tt(torch, x), ry))
    assert tuple(ours.forward_shape(x.shape)) == tuple(ref.forward_shape(torch.Size(x.shape)))
    assert tuple(ours.inverse_shape(y.shape)) == tuple(ref.inverse_shape(ry.shape))
    assert ours.domain.event_dim == ref.domain.event_dim
    assert ours.codomain.event_dim == ref.codomain.event_dim
    assert ours.bijective == ref.bijective
    assert bool(ours.codomain.check(y).all())


def test_matrix_and_simplex_transforms_match_torch(torch64):
    torch, TD = torch64
    x = rng.normal(size=(2, 3, 3))
    for name in ("LowerCholeskyTransform", "PositiveDefiniteTransform"):
        ours, ref = getattr(T, name)(), getattr(TD.transforms, name)()
        y, ry = ours(e(x)), ref(tt(torch, x))
        close(y, ry)
        close(ours.inv(y), ref.inv(ry), 1e-8)
        assert bool(ours.codomain.check(y).all())
    v = rng.normal(size=(3, 4))
    ours, ref = T.SoftmaxTransform(), TD.transforms.SoftmaxTransform()
    close(ours(e(v)), ref(tt(torch, v)))
    close(ours.inv(ours(e(v))), ref.inv(ref(tt(torch, v))))
    assert not ours.bijective and ours.forward_shape((3, 4)) == (3, 4)
    # the cdf transform of a distribution: values, inverse and log-density
    ours = T.CumulativeDistributionTransform(D.Normal(e(0.3), e(1.5)))
    ref = TD.transforms.CumulativeDistributionTransform(TD.Normal(tt(torch, 0.3), tt(torch, 1.5)))
    z = rng.normal(size=5)
    close(ours(e(z)), ref(tt(torch, z)))
    close(ours.inv(ours(e(z))), ref.inv(ref(tt(torch, z))))
    close(ours.log_abs_det_jacobian(e(z), None), ref.log_abs_det_jacobian(tt(torch, z), None))


def test_stick_breaking_and_corr_cholesky_round_trip_and_gradients():
    for t, shape in ((T.StickBreakingTransform(), (2, 3)), (T.CorrCholeskyTransform(), (2, 3))):
        x = e(rng.normal(size=shape), grad=True)
        close(t.inv(t(x)), x.detach(), 1e-10)
        assert gradcheck(lambda x, t=t: t(x), [x])
        assert gradcheck(lambda x, t=t: t.log_abs_det_jacobian(x, t(x)), [x])
    # the log-Jacobian is log|det dy/dx| (of the free coordinates), by finite differences
    x0 = rng.normal(size=3)
    t = T.StickBreakingTransform()
    f = lambda v: t(e(v)).data[:-1]  # noqa: E731
    J = np.stack([(f(x0 + h) - f(x0 - h)) / 2e-6 for h in np.eye(3) * 1e-6], -1)
    np.testing.assert_allclose(
        t.log_abs_det_jacobian(e(x0), t(e(x0))).item(), np.log(abs(np.linalg.det(J))), rtol=1e-6
    )


def test_transform_caching_equality_and_inverse():
    t = T.ExpTransform(cache_size=1)
    x = e([0.5, 1.0])
    y = t(x)
    assert t(x) is y and t.inv(y) is x
    assert T.ExpTransform()(x) is not T.ExpTransform()(x)
    assert T.ExpTransform().with_cache(1)._cache_size == 1
    assert T.AffineTransform(1.0, 2.0).with_cache(1)._cache_size == 1
    assert T.ExpTransform() == T.ExpTransform() and T.ExpTransform() != T.SigmoidTransform()
    assert T.AffineTransform(1.0, 2.0) == T.AffineTransform(1.0, 2.0)
    assert T.AffineTransform(1.0, 2.0) != T.AffineTransform(1.0, 3.0)
    assert T.AffineTransform(e([1.0, 2.0]), 2.0) == T.AffineTransform(e([1.0, 2.0]), 2.0)
    assert T.ExpTransform().inv == T.ExpTransform().inv
    assert T.ComposeTransform([T.ExpTransform()]) == T.ComposeTransform([T.ExpTransform()])
    assert T.identity_transform == T.ComposeTransform([])
    assert T.ExpTransform().inv.inv == T.ExpTransform()
    compose = T.ComposeTransform([T.ExpTransform(), T.AffineTransform(1.0, 2.0)], cache_size=1)
    assert all(p._cache_size == 1 for p in compose.parts)
    assert T.ExpTransform().sign == 1 and T.AffineTransform(0.0, -2.0).sign == -1
    with pytest.raises(NotImplementedError):
        _ = T.SoftmaxTransform().sign
    with pytest.raises(ValueError, match="cache_size"):
        T.ExpTransform(cache_size=2)
    with pytest.raises(ValueError, match="different numbers of elements"):
        T.ReshapeTransform((2, 3), (5,))
    with pytest.raises(ValueError, match="must equal"):
        T.CatTransform([T.ExpTransform()], 0, [2])(e([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="flattened lower-diagonal"):
        T.CorrCholeskyTransform().forward_shape((4,))
    with pytest.raises(TypeError, match="Transform"):
        T.IndependentTransform(D.Normal(0.0, 1.0), 1)


# --- the constraint registry -------------------------------------------------------------------

CONSTRAINTS = {
    "real": (lambda C: C.real, (4,)),
    "real_vector": (lambda C: C.real_vector, (2, 3)),
    "positive": (lambda C: C.positive, (4,)),
    "nonnegative": (lambda C: C.nonnegative, (4,)),
    "greater_than": (lambda C: C.greater_than(1.5), (4,)),
    "greater_than_eq": (lambda C: C.greater_than_eq(-1.0), (4,)),
    "less_than": (lambda C: C.less_than(2.0), (4,)),
    "unit_interval": (lambda C: C.unit_interval, (4,)),
    "interval": (lambda C: C.interval(-2.0, 3.0), (4,)),
    "half_open": (lambda C: C.half_open_interval(-2.0, 3.0), (4,)),
    "simplex": (lambda C: C.simplex, (2, 3)),
    "lower_cholesky": (lambda C: C.lower_cholesky, (2, 3, 3)),
    "positive_definite": (lambda C: C.positive_definite, (2, 3, 3)),
    "positive_semidefinite": (lambda C: C.positive_semidefinite, (3, 3)),
    "corr_cholesky": (lambda C: C.corr_cholesky, (2, 3)),
    "independent": (lambda C: C.independent(C.positive, 1), (2, 3)),
    "cat": (lambda C: C.cat([C.positive, C.real], 0, [2, 1]), (3,)),
    "stack": (lambda C: C.stack([C.positive, C.unit_interval], 1), (4, 2)),
}


def _names(t):
    if type(t).__name__ == "ComposeTransform":
        return ["Compose"] + [n for p in t.parts for n in _names(p)]
    if hasattr(t, "base_transform"):
        return [type(t).__name__] + _names(t.base_transform)
    return [type(t).__name__]


@pytest.mark.parametrize("name", CONSTRAINTS)
@pytest.mark.parametrize("registry", ["biject_to", "transform_to"])
def test_constraint_registry_matches_torch(torch64, name, registry):
    torch, TD = torch64
    build, shape = CONSTRAINTS[name]
    ref_c = build(TD.constraints)
    assert repr(build(C)) == repr(ref_c)
    assert build(C).event_dim == ref_c.event_dim and build(C).is_discrete == ref_c.is_discrete
    try:
        ref = getattr(TD, registry)(ref_c)
    except NotImplementedError:
        with pytest.raises(NotImplementedError, match="Cannot transform"):
            getattr(D, registry)(build(C))
        return
    ours = getattr(D, registry)(build(C))
    assert _names(ours) == _names(ref)
    x = rng.normal(size=shape)
    y = ours(e(x))
    close(y, ref(tt(torch, x)), 1e-8)
    assert bool(build(C).check(y).all())
    assert ours.bijective == ref.bijective
    if ours.bijective:
        close(ours.inv(y), x, 1e-7)


def test_constraints_check_and_refuse():
    assert bool(C.corr_cholesky.check(e(_random_corr_cholesky(2, 3))).all())
    assert not bool(C.corr_cholesky.check(e(2 * np.eye(3))).any())
    assert C.cat([C.positive, C.real], 0, [1, 1]).check(e([-1.0, -1.0])).tolist() == [False, True]
    assert C.stack([C.positive, C.real], 0).event_dim == 0
    assert C.independent(C.positive, 2).event_dim == 2
    assert C.is_dependent(C.dependent) and not C.is_dependent(C.real)
    assert not bool(C.symmetric.check(e([[1.0, 2.0], [0.0, 1.0]])))
    assert bool(C.positive_semidefinite.check(e(np.zeros((2, 2)))))
    assert not bool(C.positive_definite.check(e(np.zeros((2, 2)))))
    with pytest.raises(NotImplementedError, match="Cannot transform _Boolean"):
        D.biject_to(C.boolean)
    with pytest.raises(NotImplementedError, match="Cannot transform"):
        D.biject_to(C.lower_cholesky)  # torch registers it with transform_to only
    with pytest.raises(TypeError, match="Constraint subclass or instance"):
        D.constraint_registry.ConstraintRegistry().register(3, lambda c: c)
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        C.independent(C.real, -1)


def test_biject_to_an_unconstrained_optimisation():
    """Fit a positive scale and a simplex through biject_to, as a VI guide would."""
    pos, simplex = D.biject_to(C.positive), D.biject_to(C.simplex)
    u, v = e([0.0], grad=True), e([0.0, 0.0], grad=True)
    opt = ember.optim.Adam([u, v], lr=0.1)
    for _ in range(300):
        opt.zero_grad()
        loss = (pos(u) - 3.0).pow(2).sum() + (simplex(v) - e([0.2, 0.3, 0.5])).pow(2).sum()
        loss.backward()
        opt.step()
    close(pos(u), [3.0], 1e-3)
    close(simplex(v), [0.2, 0.3, 0.5], 1e-3)


# --- families ----------------------------------------------------------------------------------

P3 = rng.uniform(0.05, 0.95, 3)
P3[1] = 0.5003  # inside the Taylor region of ContinuousBernoulli
POS3, POS3B = rng.uniform(0.5, 3.0, 3), rng.uniform(2.5, 6.0, 3)
W = rng.normal(size=(2, 4, 2))
DIAG = rng.uniform(0.5, 1.5, (2, 4))
LOC4 = rng.normal(size=(2, 4))
A = rng.normal(size=(2, 3, 3))
COV = A @ np.swapaxes(A, -1, -2) + 3 * np.eye(3)

# name: (constructor kwargs (arrays), a value in the support, methods torch has)
FAMILIES = {
    "ContinuousBernoulli": (
        {"probs": P3},
        rng.uniform(0.01, 0.99, (2, 3)),
        "mean variance entropy cdf icdf",
    ),
    "ContinuousBernoulli_logits": (
        {"logits": rng.normal(size=3)},
        rng.uniform(0.01, 0.99, (2, 3)),
        "mean variance entropy cdf",
    ),
    "InverseGamma": (
        {"concentration": POS3B, "rate": POS3},
        rng.uniform(0.1, 3, (2, 3)),
        "mean mode variance entropy cdf",
    ),
    "VonMises": (
        {"loc": rng.normal(size=3), "concentration": [0.5, 2.0, 8.0]},
        rng.uniform(-3, 3, (2, 3)),
        "mean mode variance",
    ),
    "Kumaraswamy": (
        {"concentration1": POS3B, "concentration0": POS3},
        rng.uniform(0.01, 0.99, (2, 3)),
        "mean mode variance entropy cdf icdf",
    ),
    "FisherSnedecor": (
        {"df1": [3.0, 5.0, 1.5], "df2": [5.0, 6.0, 3.0]},
        rng.uniform(0.1, 4, (2, 3)),
        "mean mode variance",
    ),
    "GeneralizedPareto": (
        {"loc": [0.0, 1.0, -1.0], "scale": POS3, "concentration": [0.3, 0.0, -0.2]},
        rng.uniform(0.0, 1.0, (2, 3)) + [0.0, 1.0, -1.0],
        "mean mode variance entropy cdf icdf",
    ),
    "LogisticNormal": (
        {"loc": rng.normal(size=(2, 3)), "scale": rng.uniform(0.5, 1.5, (2, 3))},
        rng.dirichlet(np.ones(4), (5, 2)),
        "",
    ),
    "LowRankMultivariateNormal": (
        {"loc": LOC4, "cov_factor": W, "cov_diag": DIAG},
        rng.normal(size=(3, 2, 4)),
        "mean mode variance entropy covariance_matrix precision_matrix scale_tril",
    ),
    "Wishart": (
        {"df": [4.0, 6.5], "covariance_matrix": COV},
        None,
        "mean mode variance entropy covariance_matrix precision_matrix scale_tril",
    ),
    "Wishart_tril": (
        {"df": [4.0, 6.5], "scale_tril": np.linalg.cholesky(COV)},
        None,
        "mean variance entropy precision_matrix",
    ),
    "Wishart_precision": (
        {"df": [4.0, 6.5], "precision_matrix": np.linalg.inv(COV)},
        None,
        "mean variance entropy scale_tril",
    ),
    "LKJCholesky": (
        {"dim": 3, "concentration": [0.5, 1.0, 2.5]},
        _random_corr_cholesky(2, 3)[:, None],
        "",
    ),
}


def _make(module, name, kwargs, conv):
    cls = getattr(module, name.split("_")[0])
    return cls(**{k: v if isinstance(v, int) else conv(v) for k, v in kwargs.items()})


def _wishart_value():
    a = rng.normal(size=(4, 2, 3, 3))
    return a @ np.swapaxes(a, -1, -2) + np.eye(3)


@pytest.mark.parametrize("name", FAMILIES)
def test_families_match_torch(torch64, name):
    torch, TD = torch64
    kwargs, value, methods = FAMILIES[name]
    ours = _make(D, name, kwargs, e)
    ref = _make(TD, name, kwargs, lambda v: tt(torch, v))
    value = _wishart_value() if value is None else value
    if name == "GeneralizedPareto":  # torch's log_prob compares with a default-dtype 0.0
        torch.set_default_dtype(torch.float64)
    try:
        _compare_family(torch, ours, ref, value, methods)
    finally:
        torch.set_default_dtype(torch.float32)


def _compare_family(torch, ours, ref, value, methods):
    assert ours.batch_shape == ref.batch_shape and ours.event_shape == ref.event_shape
    close(ours.log_prob(e(value)), ref.log_prob(tt(torch, value)))
    for m in methods.split():
        if m in ("cdf", "icdf"):
            v = value if m == "cdf" else rng.uniform(0.01, 0.99, (2, 3))
            close(getattr(ours, m)(e(v)), getattr(ref, m)(tt(torch, v)))
        elif m == "entropy":
            close(ours.entropy(), ref.entropy())
        else:
            close(getattr(ours, m), getattr(ref, m))
    big = ours.expand((5,) + tuple(ours.batch_shape))
    assert type(big) is type(ours) and big.batch_shape == (5,) + tuple(ours.batch_shape)
    close(
        big.log_prob(e(value[0])),
        ref.expand((5,) + tuple(ref.batch_shape)).log_prob(tt(torch, value[0])),
    )
    s = ours.sample((7,))
    assert s.shape == (7,) + tuple(ours.batch_shape) + tuple(ours.event_shape)
    assert bool(ours.support.check(s).all())
    assert ours.has_rsample == ref.has_rsample
    assert ours.support.event_dim == ref.support.event_dim


def test_module_paths_and_names(torch64):
    torch, TD = torch64
    from ember.distributions.lowrank_multivariate_normal import LowRankMultivariateNormal
    from ember.distributions.von_mises import VonMises
    from ember.distributions.wishart import Wishart

    assert (VonMises, Wishart, LowRankMultivariateNormal) == (
        D.VonMises,
        D.Wishart,
        D.LowRankMultivariateNormal,
    )
    assert set(TD.__all__) <= set(dir(D))
    assert set(TD.transforms.__all__) <= set(T.__all__)
    assert set(TD.constraints.__all__) <= set(dir(C))
    modules = {n for n in dir(TD) if type(getattr(TD, n)).__name__ == "module"}
    assert {n for n in modules if not hasattr(D, n)} == set()
    x = rng.normal(size=(2, 3))
    close(D.utils.logits_to_probs(e(x)), TD.utils.logits_to_probs(tt(torch, x)))
    close(D.utils.probs_to_logits(e(P3), True), TD.utils.probs_to_logits(tt(torch, P3), True))
    close(D.utils.clamp_probs(e([0.0, 1.0])), TD.utils.clamp_probs(tt(torch, [0.0, 1.0])))
    a, b = D.utils.broadcast_all(e([1.0, 2.0]), 3.0)
    assert a.shape == b.shape == (2,) and b.tolist() == [3.0, 3.0]
    v = rng.normal(size=(2, 6))
    close(D.utils.vec_to_tril_matrix(e(v[:, :3])), TD.utils.vec_to_tril_matrix(tt(torch, v[:, :3])))
    close(D.utils.vec_to_tril_matrix(e(v), -1), TD.utils.vec_to_tril_matrix(tt(torch, v), -1))
    m = rng.normal(size=(2, 4, 4))
    close(D.utils.tril_matrix_to_vec(e(m)), TD.utils.tril_matrix_to_vec(tt(torch, m)))

    class Lazy:
        calls = 0

        @D.utils.lazy_property
        def value(self):
            Lazy.calls += 1
            return 7

    obj = Lazy()
    assert obj.value == obj.value == 7 and Lazy.calls == 1


def test_exponential_family_entropy_by_bregman_divergence(torch64):
    torch, TD = torch64
    ours, ref = D.ContinuousBernoulli(probs=e(P3)), TD.ContinuousBernoulli(probs=tt(torch, P3))
    assert isinstance(ours, D.ExponentialFamily)
    close(D.ExponentialFamily.entropy(ours), TD.ExponentialFamily.entropy(ref))
    close(D.ExponentialFamily.entropy(ours), ours.entropy(), 1e-6)
    kw = FAMILIES["Wishart"][0]
    ours = _make(D, "Wishart", kw, e)
    ref = _make(TD, "Wishart", kw, lambda v: tt(torch, v))
    close(D.ExponentialFamily.entropy(ours), TD.ExponentialFamily.entropy(ref))
    close(D.ExponentialFamily.entropy(ours), ours.entropy(), 1e-8)


KL_PAIRS = [
    (("ContinuousBernoulli", {"probs": P3}), ("ContinuousBernoulli", {"probs": P3[::-1].copy()})),
    (
        ("Beta", {"concentration1": POS3, "concentration0": POS3B}),
        ("ContinuousBernoulli", {"probs": P3}),
    ),
    (
        ("Uniform", {"low": [0.1, 0.2, 0.3], "high": [0.5, 0.9, 0.6]}),
        ("ContinuousBernoulli", {"probs": P3}),
    ),
    (("ContinuousBernoulli", {"probs": P3}), ("Exponential", {"rate": POS3})),
    (("ContinuousBernoulli", {"probs": P3}), ("Normal", {"loc": POS3, "scale": POS3B})),
    (
        ("ContinuousBernoulli", {"probs": P3}),
        ("Uniform", {"low": [-0.1, 0.0, -1.0], "high": [1.5, 1.0, 2.0]}),
    ),
    (("Normal", {"loc": POS3, "scale": POS3B}), ("ContinuousBernoulli", {"probs": P3})),
    (
        ("LowRankMultivariateNormal", {"loc": LOC4, "cov_factor": W, "cov_diag": DIAG}),
        (
            "LowRankMultivariateNormal",
            {"loc": LOC4[::-1].copy(), "cov_factor": W[::-1].copy(), "cov_diag": DIAG},
        ),
    ),
    (
        ("MultivariateNormal", {"loc": LOC4, "covariance_matrix": np.eye(4) * 2}),
        (
            "LowRankMultivariateNormal",
            {"loc": LOC4[::-1].copy(), "cov_factor": W, "cov_diag": DIAG},
        ),
    ),
    (
        ("LowRankMultivariateNormal", {"loc": LOC4, "cov_factor": W, "cov_diag": DIAG}),
        ("MultivariateNormal", {"loc": LOC4[:1], "covariance_matrix": np.eye(4) * 2}),
    ),
    (
        ("Wishart", {"df": 4.0, "covariance_matrix": COV[0]}),
        ("Wishart", {"df": 5.5, "covariance_matrix": COV[1]}),
    ),
]


@pytest.mark.parametrize("pair", KL_PAIRS, ids=lambda p: f"{p[0][0]}-{p[1][0]}")
def test_kl_pairs_match_torch(torch64, pair):
    torch, TD = torch64
    (pn, pk), (qn, qk) = pair
    ours = D.kl_divergence(_make(D, pn, pk, e), _make(D, qn, qk, e))
    conv = lambda v: tt(torch, v)  # noqa: E731
    close(ours, TD.kl_divergence(_make(TD, pn, pk, conv), _make(TD, qn, qk, conv)), 1e-8)


def test_kl_between_different_exponential_families_is_refused():
    class Other(D.ExponentialFamily):
        pass

    with pytest.raises(NotImplementedError, match="different exponential families"):
        D.kl_divergence(D.ContinuousBernoulli(probs=e(P3)), Other())


# --- sampling ----------------------------------------------------------------------------------


def _ks(samples, cdf_values):
    """Kolmogorov-Smirnov distance of sorted samples from their model cdf values."""
    n = len(samples)
    i = np.arange(1, n + 1)
    return max(np.max(i / n - cdf_values), np.max(cdf_values - (i - 1) / n))


@pytest.mark.parametrize(
    "dist",
    [
        lambda: D.ContinuousBernoulli(probs=e(0.2)),
        lambda: D.ContinuousBernoulli(probs=e(0.5)),
        lambda: D.Kumaraswamy(e(2.0), e(3.5)),
        lambda: D.GeneralizedPareto(e(1.0), e(2.0), e(0.3)),
        lambda: D.GeneralizedPareto(e(0.0), e(1.0), e(-0.4)),
        lambda: D.InverseGamma(e(3.0), e(2.0)),
    ],
)
def test_samples_follow_the_cdf(dist):
    ember.manual_seed(0)
    d = dist()
    x = ember.tensor(np.sort(d.sample((4000,)).data))
    # 1.63 / sqrt(n): the KS test at the 1% level
    assert _ks(x.data, d.cdf(x).data) < 1.63 / math.sqrt(4000)


def test_sample_moments():
    ember.manual_seed(1)
    n = 20000
    vm = D.VonMises(e([0.5, -2.5]), e([0.3, 4.0]))
    s = vm.sample((n,)).data
    assert np.all(np.abs(s) <= math.pi)
    mean_angle = np.angle(np.exp(1j * s).mean(0))
    np.testing.assert_allclose(mean_angle, [0.5, -2.5], atol=0.1)
    circ_var = 1 - np.abs(np.exp(1j * s).mean(0))
    np.testing.assert_allclose(circ_var, vm.variance.data, atol=0.02)
    fs = D.FisherSnedecor(e(6.0), e(12.0))
    np.testing.assert_allclose(fs.sample((n,)).data.mean(), fs.mean.item(), rtol=0.03)
    lr = D.LowRankMultivariateNormal(e(LOC4[0]), e(W[0]), e(DIAG[0]))
    s = lr.sample((n,)).data
    np.testing.assert_allclose(s.mean(0), LOC4[0], atol=0.06)
    np.testing.assert_allclose(np.cov(s.T), lr.covariance_matrix.data, atol=0.1)
    ln = D.LogisticNormal(e([0.2, -0.4]), e([0.5, 0.8]))
    s = ln.sample((n,))
    assert s.shape == (n, 3) and np.allclose(s.data.sum(-1), 1)
    z = T.StickBreakingTransform().inv(s).data
    np.testing.assert_allclose(z.mean(0), [0.2, -0.4], atol=0.03)
    wi = D.Wishart(e(5.0), covariance_matrix=e(COV[0]))
    np.testing.assert_allclose(wi.sample((4000,)).data.mean(0), wi.mean.data, rtol=0.08, atol=0.3)
    lkj = D.LKJCholesky(3, e(2.0))
    L = lkj.sample((n,)).data
    corr = L @ np.swapaxes(L, -1, -2)
    np.testing.assert_allclose(np.diagonal(corr, axis1=-2, axis2=-1), 1, atol=1e-12)
    # LKJ(eta) marginals: (r + 1) / 2 ~ Beta(a, a) with a = eta - 1 + d/2: variance 1/(2a + 1)
    np.testing.assert_allclose(corr[:, 1, 0].var(), 1 / (2 * (2.0 - 1 + 3 / 2) + 1), rtol=0.05)
    np.testing.assert_allclose(corr[:, 2, 1].mean(), 0, atol=0.02)


# --- gradients ----------------------------------------------------------------------------------


def test_log_prob_gradients():
    x = e(rng.uniform(0.1, 0.9, 3))
    wishart_x, lkj_x = e(_wishart_value()[0]), e(_random_corr_cholesky(1, 3)[0])
    cases = [
        (lambda p: D.ContinuousBernoulli(probs=p).log_prob(x), [e(P3, True)]),
        (lambda c, r: D.InverseGamma(c, r).log_prob(x), [e(POS3B, True), e(POS3, True)]),
        (
            lambda m, k: D.VonMises(m, k).log_prob(x),
            [e([0.1, 0.2, 0.3], True), e([0.5, 2.0, 8.0], True)],
        ),
        (lambda a, b: D.Kumaraswamy(a, b).log_prob(x), [e(POS3B, True), e(POS3, True)]),
        (lambda a, b: D.FisherSnedecor(a, b).log_prob(x), [e(POS3B, True), e(POS3, True)]),
        (
            lambda m, s, c: D.GeneralizedPareto(m, s, c).log_prob(x + 0.2),
            [e([0.0, 0.1, 0.2], True), e(POS3, True), e([0.3, -0.2, 0.1], True)],
        ),
        (
            lambda m, f, d: D.LowRankMultivariateNormal(m, f, d).log_prob(e(LOC4[::-1].copy())),
            [e(LOC4, True), e(W, True), e(DIAG, True)],
        ),
        (
            lambda df, c: D.Wishart(df, covariance_matrix=c @ c.mT + 3 * ember.eye(3)).log_prob(
                wishart_x
            ),
            [e([4.0, 6.5], True), e(A, True)],
        ),
        (
            lambda c: D.LKJCholesky(3, c).log_prob(lkj_x),
            [e([0.5, 2.0], True)],
        ),
    ]
    for fn, inputs in cases:
        assert gradcheck(fn, inputs)


def test_rsample_is_reparameterised(torch64):
    """The pathwise gradient of rsample equals the finite difference of the same draws."""
    torch, TD = torch64

    def draws(params, cls):
        ember.manual_seed(3)
        return cls(*params).rsample((5,))

    cases = [
        (D.ContinuousBernoulli, [e(P3, True)]),
        (D.Kumaraswamy, [e(POS3B, True), e(POS3, True)]),
        (D.GeneralizedPareto, [e([0.0, 1.0, 2.0], True), e(POS3, True), e([0.3, -0.2, 0.1], True)]),
        (D.LowRankMultivariateNormal, [e(LOC4, True), e(W, True), e(DIAG, True)]),
        (D.LogisticNormal, [e([0.2, -0.4], True), e([0.5, 0.8], True)]),
    ]
    for cls, inputs in cases:
        assert gradcheck(lambda *p, cls=cls: draws(p, cls), inputs)
    # and log_prob of a reparameterised sample carries the gradient through both
    p = e(P3, True)
    d = D.ContinuousBernoulli(probs=p)
    d.log_prob(d.rsample((4,))).sum().backward()
    assert p.grad is not None and np.all(np.isfinite(p.grad.data))


# --- bad arguments ------------------------------------------------------------------------------


def test_bad_arguments_get_torchs_errors(torch64):
    torch, TD = torch64
    bad = [
        (lambda M, t: M.ContinuousBernoulli(probs=t([1.5]), validate_args=True), "invalid values"),
        (lambda M, t: M.ContinuousBernoulli(), "Either `probs` or `logits`"),
        (lambda M, t: M.InverseGamma(t([-1.0]), t([1.0])), "concentration"),
        (lambda M, t: M.VonMises(t([0.0]), t([-1.0])), "concentration"),
        (lambda M, t: M.Kumaraswamy(t([1.0]), t([0.0])), "concentration0"),
        (lambda M, t: M.FisherSnedecor(t([-1.0]), t([1.0])), "concentration"),
        (lambda M, t: M.GeneralizedPareto(t([0.0]), t([-1.0]), t([0.1])), "scale"),
        (lambda M, t: M.LogisticNormal(t([0.0]), t([-1.0])), "scale"),
        (lambda M, t: M.LKJCholesky(1), "Expected dim to be an integer greater than or equal to 2"),
        (lambda M, t: M.LKJCholesky(3, t([-1.0])), "concentration"),
        (
            lambda M, t: M.Wishart(t(1.0), covariance_matrix=t(np.eye(3))),
            "expected to be greater than ndim - 1",
        ),
        (
            lambda M, t: M.LowRankMultivariateNormal(
                t(np.zeros(3)), t(np.ones((2, 1))), t(np.ones(3))
            ),
            "cov_factor must be a batch of matrices with shape 3 x m",
        ),
        (
            lambda M, t: M.LowRankMultivariateNormal(
                t(np.zeros(3)), t(np.ones((3, 1))), t(np.ones(2))
            ),
            "cov_diag must be a batch of vectors",
        ),
        (lambda M, t: M.ContinuousBernoulli(probs=t([0.3])).log_prob(t([1.5])), "support"),
        (lambda M, t: M.Kumaraswamy(t([1.0]), t([2.0])).log_prob(t([1.5])), "support"),
        (
            lambda M, t: M.GeneralizedPareto(t([0.0]), t([1.0]), t([-0.5])).log_prob(t([3.0])),
            "support",
        ),
        (lambda M, t: M.LKJCholesky(2).log_prob(t(np.eye(2) * 2)), "support"),
    ]
    with pytest.raises(NotImplementedError, match="enumerate_support"):
        D.Normal(0.0, 1.0).enumerate_support()
    assert D.Bernoulli(logits=e([[0.1, 0.2]])).param_shape == (1, 2)
    assert D.Binomial(3, probs=e([0.1, 0.2])).param_shape == (2,)
    for attr in ("mean", "mode", "variance", "stddev"):  # not implemented, as torch's
        with pytest.raises(NotImplementedError, match="does not implement"):
            getattr(D.LogisticNormal(e([0.0]), e([1.0])), attr)
        with pytest.raises(NotImplementedError):
            getattr(TD.LogisticNormal(tt(torch, [0.0]), tt(torch, [1.0])), attr)
    # torch's cholesky fails first on these (a LinAlgError); ember validates first
    with pytest.raises(ValueError, match="covariance_matrix"):
        D.Wishart(e(4.0), covariance_matrix=e(-np.eye(3)))
    with pytest.raises(ValueError, match="cov_diag"):
        D.LowRankMultivariateNormal(e(np.zeros(3)), e(np.ones((3, 1))), e(-np.ones(3)))
    for make, match in bad:
        with pytest.raises(ValueError, match=match):
            make(TD, lambda v: tt(torch, v))
        with pytest.raises(ValueError, match=match):
            make(D, e)


EF_CASES = {
    "Normal": {"loc": POS3, "scale": POS3B},
    "Exponential": {"rate": POS3},
    "Gamma": {"concentration": POS3, "rate": POS3B},
    "Chi2": {"df": POS3B},
    "Beta": {"concentration1": POS3, "concentration0": POS3B},
    "Dirichlet": {"concentration": rng.uniform(0.5, 3.0, (2, 4))},
    "Poisson": {"rate": POS3},
    "Bernoulli": {"probs": P3},
    "ContinuousBernoulli": {"probs": P3},
    "Wishart": {"df": 4.5, "covariance_matrix": COV[0]},
}


@pytest.mark.parametrize("name", EF_CASES)
def test_exponential_families_match_torch(torch64, name):
    """torch's ExponentialFamily members are ember's, with the same natural parameters: the
    Bregman entropy and KL (computed by autograd) agree with torch's."""
    torch, TD = torch64
    kw = EF_CASES[name]
    conv = lambda v: tt(torch, v)  # noqa: E731
    ours, ref = _make(D, name, kw, e), _make(TD, name, kw, conv)
    assert isinstance(ours, D.ExponentialFamily)
    for a, b in zip(ours._natural_params, ref._natural_params):
        close(a, b)
    if name not in ("Beta", "Dirichlet", "Poisson", "Chi2"):  # torch has no carrier measure
        close(D.ExponentialFamily.entropy(ours), TD.ExponentialFamily.entropy(ref))
        close(D.ExponentialFamily.entropy(ours), ours.entropy(), 1e-8)
    kq = {k: (v * 1.3 if k != "probs" else v[::-1].copy()) for k, v in kw.items()}
    close(
        D.kl._kl_expfamily_expfamily(ours, _make(D, name, kq, e)),
        TD.kl._kl_expfamily_expfamily(ref, _make(TD, name, kq, conv)),
    )


GRAD_FAMILIES = [
    "ContinuousBernoulli", "InverseGamma", "VonMises", "Kumaraswamy", "FisherSnedecor",
    "GeneralizedPareto", "LogisticNormal", "LowRankMultivariateNormal", "Wishart",
    "Wishart_precision", "LKJCholesky",
]  # fmt: skip


@pytest.mark.parametrize("name", GRAD_FAMILIES)
def test_family_gradients_match_torch(torch64, name):
    """d/dθ of log_prob + entropy + mean (those torch has), against torch's autograd."""
    torch, TD = torch64
    kwargs, value, methods = FAMILIES[name]
    value = _wishart_value() if value is None else value
    if name == "GeneralizedPareto":
        torch.set_default_dtype(torch.float64)
    try:
        grads = []
        for module, conv in ((D, lambda v: e(v, True)), (TD, lambda v: tt(torch, v))):
            params = {k: v if isinstance(v, int) else conv(v) for k, v in kwargs.items()}
            if module is TD:
                for p in params.values():
                    if not isinstance(p, int):
                        p.requires_grad_()
            d = _make(module, name, params, lambda v: v)
            x = e(value) if module is D else tt(torch, value)
            total = d.log_prob(x).sum()
            for m in ("entropy", "mean"):
                if m in methods.split():
                    total = total + (d.entropy() if m == "entropy" else d.mean).sum()
            total.backward()
            grads.append([params[k].grad for k in kwargs if not isinstance(kwargs[k], int)])
    finally:
        torch.set_default_dtype(torch.float32)
    for a, b in zip(*grads):
        close(a, b, 1e-8)


TRANSFORMED = {
    "stick": (lambda M, t: M.Normal(t(LOC4), t(DIAG)), lambda T: [T.StickBreakingTransform()],
              lambda: rng.dirichlet(np.ones(5), (3, 2))),
    "corr": (lambda M, t: M.Normal(t(LOC4[:, :3]), t(np.ones((2, 3)))),
             lambda T: [T.CorrCholeskyTransform()], lambda: _random_corr_cholesky(2, 3)),
    "reshape": (lambda M, t: M.Normal(t(LOC4), t(DIAG)),
                lambda T: [T.ReshapeTransform((4,), (2, 2))],
                lambda: rng.normal(size=(3, 2, 2, 2))),
    "independent_affine": (lambda M, t: M.Normal(t(LOC4), t(DIAG)),
                           lambda T: [T.IndependentTransform(T.AffineTransform(1.0, 2.0), 1),
                                      T.ExpTransform()],
                           lambda: rng.uniform(0.1, 3.0, (3, 2, 4))),
}  # fmt: skip


@pytest.mark.parametrize("name", TRANSFORMED)
def test_transformed_distributions_with_shape_changing_transforms(torch64, name):
    torch, TD = torch64
    base, transforms, value = TRANSFORMED[name]
    ours = D.TransformedDistribution(base(D, e), transforms(T))
    ref = TD.TransformedDistribution(base(TD, lambda v: tt(torch, v)), transforms(TD.transforms))
    assert ours.batch_shape == ref.batch_shape and ours.event_shape == ref.event_shape
    v = value()
    close(ours.log_prob(e(v)), ref.log_prob(tt(torch, v)))
    s = ours.sample((4,))
    assert s.shape == (4,) + tuple(ref.batch_shape) + tuple(ref.event_shape)
    assert bool(ours.support.check(s).all())
    assert ours.support.event_dim == ref.support.event_dim
    assert ours.expand((6,) + tuple(ours.batch_shape)).batch_shape == (6,) + tuple(ours.batch_shape)


def test_wishart_rsample_is_reparameterised_in_the_scale():
    def draws(L):
        ember.manual_seed(4)
        return D.Wishart(e(5.0), scale_tril=L.tril(-1) + L.diagonal().exp().diag_embed()).rsample(
            (3,)
        )

    assert gradcheck(draws, [e(rng.normal(size=(3, 3)) * 0.3, True)])
    with pytest.warns(UserWarning, match="Low df"):
        D.Wishart(e(2.5), covariance_matrix=e(np.eye(3)))


def test_float32_families_from_numbers():
    """Built from Python numbers (the default dtype, float32), as user code does."""
    ember.manual_seed(5)
    eye = ember.eye(3)
    dists = [
        D.ContinuousBernoulli(0.3),
        D.ContinuousBernoulli(logits=-1.0),
        D.InverseGamma(3.0, 2.0),
        D.VonMises(0.5, 2.0),
        D.Kumaraswamy(2.0, 3.0),
        D.FisherSnedecor(4.0, 6.0),
        D.GeneralizedPareto(0.0, 1.0, 0.2),
        D.LogisticNormal(ember.zeros(2), ember.ones(2)),
        D.LowRankMultivariateNormal(ember.zeros(3), ember.ones(3, 1), ember.ones(3)),
        D.Wishart(4.0, covariance_matrix=eye),
        D.LKJCholesky(3, 1.5),
    ]
    for d in dists:
        s = d.sample((5,))
        assert s.dtype == ember.float32, type(d).__name__
        lp = d.log_prob(s)
        assert lp.dtype == ember.float32 and lp.shape == (5,) + tuple(d.batch_shape)
        assert np.all(np.isfinite(lp.data)), type(d).__name__


_UNI = {
    "Beta": {"concentration1": POS3, "concentration0": POS3B},
    "Exponential": {"rate": POS3},
    "Gamma": {"concentration": POS3B, "rate": POS3},
    "Gumbel": {"loc": [0.1, -0.5, 0.3], "scale": POS3},
    "Laplace": {"loc": [0.1, -0.5, 0.3], "scale": POS3},
    "Normal": {"loc": [0.1, -0.5, 0.3], "scale": POS3B},
    "Cauchy": {"loc": [0.1, -0.5, 0.3], "scale": POS3},
    "Pareto": {"scale": [0.5, 1.0, 0.2], "alpha": [0.8, 1.5, 3.0]},
    "Uniform": {"low": [0.1, -0.5, 0.3], "high": [0.6, 0.9, 2.0]},
    "Poisson": {"rate": POS3},
    "Bernoulli": {"probs": P3},
    "Binomial": {"total_count": 5, "probs": P3},
    "HalfCauchy": {"scale": POS3},
    "ContinuousBernoulli": {"probs": P3},
}
_Q = {
    "Pareto": {"scale": [0.4, 1.2, 0.1], "alpha": [2.5, 1.0, 3.5]},
    "Uniform": {"low": [0.0, -1.0, 0.5], "high": [0.7, 1.0, 1.5]},
    "HalfCauchy": {"scale": POS3B},
}


def test_every_kl_pair_torch_registers_matches(torch64):
    torch, TD = torch64
    from torch.distributions.kl import _KL_REGISTRY

    conv = lambda v: tt(torch, v)  # noqa: E731
    checked = 0
    for tp, tq in _KL_REGISTRY:
        if tp.__name__ not in _UNI or tq.__name__ not in _UNI:
            continue
        pk, qk = _UNI[tp.__name__], _Q.get(tq.__name__, _UNI[tq.__name__])
        if tq.__name__ == tp.__name__:
            qk = {k: v if isinstance(v, int) else np.asarray(v)[::-1].copy() for k, v in qk.items()}
        ref = TD.kl_divergence(_make(TD, tp.__name__, pk, conv), _make(TD, tq.__name__, qk, conv))
        ours = D.kl_divergence(_make(D, tp.__name__, pk, e), _make(D, tq.__name__, qk, e))
        assert ours.shape == tuple(ref.shape), (tp, tq)
        close(ours, ref, 1e-8)
        checked += 1
    assert checked >= 75
    # a TransformedDistribution pair needs equal transforms, as torch's
    k = D.Kumaraswamy(e(POS3), e(POS3B))
    with pytest.raises(NotImplementedError, match="equal transforms"):
        D.kl_divergence(k, D.Kumaraswamy(e(POS3B), e(POS3)))


# --- the concentration's pathwise gradient (implicit reparameterisation) -----------------------


def test_standard_gamma_grad_against_the_incomplete_gamma():
    """dx/dalpha = -(dP/dalpha) / p(x) at fixed quantile, dP/dalpha by finite differences of
    ember.special.gammainc."""
    from ember.distributions.continuous import _standard_gamma_grad

    alpha = np.repeat([0.05, 0.4, 1.0, 3.0, 20.0, 300.0], 5)
    x = np.maximum(rng.gamma(alpha), 1e-12)
    h = 1e-5 * alpha
    P = lambda a: ember.special.gammainc(e(a), e(x)).data  # noqa: E731
    dP = (P(alpha + h) - P(alpha - h)) / (2 * h)
    logpdf = (alpha - 1) * np.log(x) - x - np.array([math.lgamma(a) for a in alpha])
    np.testing.assert_allclose(_standard_gamma_grad(alpha, x), -dP / np.exp(logpdf), rtol=1e-5)


def test_standard_gamma_grad_against_torch(torch64):
    torch, TD = torch64
    from ember.distributions.continuous import _standard_gamma_grad

    alpha = rng.uniform(0.1, 30.0, 2000)
    x = rng.gamma(alpha)
    ref = torch._standard_gamma_grad(tt(torch, alpha), tt(torch, x)).numpy()
    # torch's is a fitted approximation (about 1e-3 relative); ember's sums the series
    np.testing.assert_allclose(_standard_gamma_grad(alpha, x), ref, rtol=5e-3)


def test_rsample_gradients_in_the_concentration():
    """Monte Carlo: d/dc of the sample mean of rsample matches d/dc of the closed-form mean."""
    n = 40000
    cases = [
        (lambda c: D.Gamma(c, e([1.5, 1.5, 1.5])), lambda c: c / 1.5),
        (lambda c: D.Beta(c, e([2.0, 2.0, 2.0])), lambda c: c / (c + 2.0)),
        (lambda c: D.InverseGamma(c, e([2.0, 2.0, 2.0])), lambda c: 2.0 / (c - 1)),
        (lambda c: D.Chi2(c), lambda c: c),
        (lambda c: D.Dirichlet(c.unsqueeze(0).expand(2, 3)), lambda c: 2 * c / c.sum()),
    ]
    for make, mean in cases:
        c = e([4.0, 6.0, 9.0], True)
        ember.manual_seed(6)
        make(c).rsample((n,)).mean(0).sum().backward()
        c_ref = e([4.0, 6.0, 9.0], True)
        mean(c_ref).sum().backward()
        np.testing.assert_allclose(c.grad.data, c_ref.grad.data, rtol=0.03, atol=2e-3)
    # F and Wishart draws are differentiable in their degrees of freedom too
    df = e([5.0, 8.0], True)
    D.FisherSnedecor(df, e([9.0, 9.0])).rsample((3,)).sum().backward()
    assert np.all(np.isfinite(df.grad.data))
    df = e(5.0, True)
    D.Wishart(df, covariance_matrix=e(COV[0])).rsample((2,)).sum().backward()
    assert np.isfinite(df.grad.item()) and df.grad.item() != 0


def test_variational_fit_through_biject_to_and_implicit_gradients():
    """Fit q = Gamma(a, b) to p = Gamma(3, 2) by minimising a reparameterised Monte Carlo
    estimate of KL(q || p) over unconstrained parameters; the exact KL then nears zero."""
    ember.manual_seed(8)
    to_pos = D.biject_to(C.positive)
    u = e([0.0, 0.0], True)
    p = D.Gamma(e(3.0), e(2.0))
    opt = ember.optim.Adam([u], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        a, b = to_pos(u).unbind(0)
        q = D.Gamma(a, b)
        x = q.rsample((64,))
        (q.log_prob(x) - p.log_prob(x)).mean().backward()
        opt.step()
    a, b = to_pos(u).detach().unbind(0)
    assert D.kl_divergence(D.Gamma(a, b), p).item() < 5e-3
