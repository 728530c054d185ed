"""ember.distributions: values against closed forms and torch.distributions, gradients by
finite differences, sample moments, validation errors, and a policy gradient that learns."""

import math

import numpy as np
import pytest

import ember
import ember.distributions as D
from ember.autograd import gradcheck


def t64(a, grad=False):
    return ember.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


LOC, SCALE, POS2 = [0.3, -1.0, 2.0], [0.5, 2.0, 1.3], [1.5, 0.3, 4.0]
# name: (ember constructor args, a value in the support)
CASES = {
    "Normal": ((LOC, SCALE), [0.1, 0.7, -3.0]),
    "Laplace": ((LOC, SCALE), [0.1, 0.7, -3.0]),
    "LogNormal": ((LOC, SCALE), [0.5, 2.0, 7.0]),
    "Uniform": (([0.0, -1.0, 2.0], [1.0, 2.0, 2.5]), [0.1, 0.7, 2.2]),
    "Exponential": ((SCALE,), [0.1, 0.7, 3.0]),
    "Gamma": ((SCALE, POS2), [0.1, 0.7, 3.0]),
    "Beta": ((SCALE, POS2), [0.1, 0.7, 0.99]),
    "Poisson": ((SCALE,), [0.0, 3.0, 1.0]),
    "Bernoulli": (([0.2, 0.5, 0.9],), [0.0, 1.0, 1.0]),
    "Cauchy": ((LOC, SCALE), [0.1, 0.7, -3.0]),
    "HalfNormal": ((SCALE,), [0.1, 0.7, 3.0]),
    "Gumbel": ((LOC, SCALE), [0.1, 0.7, -3.0]),
    "Chi2": ((POS2,), [0.1, 0.7, 3.0]),
    "StudentT": (([0.7, 1.5, 3.0], LOC, SCALE), [0.1, 0.7, -3.0]),
    "Geometric": (([0.3, 1.0, 0.05],), [2.0, 0.0, 7.0]),
    "Binomial": (([5.0, 5.0, 5.0], [0.3, 0.9, 0.5]), [2.0, 5.0, 0.0]),
}


def make(lib, name, dtype=np.float64):
    args, _ = CASES[name]
    conv = (lambda a: ember.tensor(np.asarray(a, dtype))) if lib is D else None
    if conv is None:
        import torch

        conv = lambda a: torch.tensor(np.asarray(a, dtype))  # noqa: E731
    return getattr(lib, name)(*[conv(a) for a in args])


def as_np(t):
    return t.detach().numpy()


# --- against closed forms (no torch needed) ----------------------------------------------------


def test_normal_log_prob_cdf_entropy_closed_form():
    loc, scale, x = np.array(LOC), np.array(SCALE), np.array([0.1, 0.7, -3.0])
    d = D.Normal(t64(loc), t64(scale))
    ref = -((x - loc) ** 2) / (2 * scale**2) - np.log(scale) - 0.5 * np.log(2 * np.pi)
    np.testing.assert_allclose(as_np(d.log_prob(t64(x))), ref, rtol=1e-12)
    erf = np.vectorize(math.erf)
    cdf = 0.5 * (1 + erf((x - loc) / (scale * np.sqrt(2))))
    np.testing.assert_allclose(as_np(d.cdf(t64(x))), cdf, rtol=1e-12)
    np.testing.assert_allclose(as_np(d.icdf(t64(cdf))), x, rtol=1e-9)
    np.testing.assert_allclose(as_np(d.entropy()), 0.5 + 0.5 * np.log(2 * np.pi) + np.log(scale))


def test_categorical_closed_form():
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.0, 0.9]])
    d = D.Categorical(probs=t64(p * 4))  # unnormalised probs are normalised
    np.testing.assert_allclose(as_np(d.probs), p)
    np.testing.assert_allclose(as_np(d.log_prob(ember.tensor([2, 0]))), np.log([0.5, 0.1]))
    ent = -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), -1)
    np.testing.assert_allclose(as_np(d.entropy()), ent, rtol=1e-12)
    logits = np.log(p[0])
    d2 = D.Categorical(logits=t64(logits + 7.0))  # logits are shifted to log-probabilities
    np.testing.assert_allclose(as_np(d2.logits), logits, rtol=1e-12)
    np.testing.assert_allclose(as_np(d2.probs), p[0], rtol=1e-12)


def test_mvn_closed_form():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3))
    cov, loc, x = a @ a.T + np.eye(3), rng.standard_normal(3), rng.standard_normal((4, 3))
    diff = x - loc
    ref = -0.5 * (
        3 * np.log(2 * np.pi)
        + np.linalg.slogdet(cov)[1]
        + np.einsum("ni,ij,nj->n", diff, np.linalg.inv(cov), diff)
    )
    for kw in ({"covariance_matrix": cov}, {"precision_matrix": np.linalg.inv(cov)},
               {"scale_tril": np.linalg.cholesky(cov)}):  # fmt: skip
        d = D.MultivariateNormal(t64(loc), **{k: t64(v) for k, v in kw.items()})
        np.testing.assert_allclose(as_np(d.log_prob(t64(x))), ref, rtol=1e-10)
        np.testing.assert_allclose(as_np(d.covariance_matrix), cov, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(as_np(d.variance), np.diag(cov), rtol=1e-10)
        ent = 0.5 * (3 * (1 + np.log(2 * np.pi)) + np.linalg.slogdet(cov)[1])
        np.testing.assert_allclose(float(d.entropy()), ent, rtol=1e-12)


# --- against torch.distributions ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch(name):
    torch = pytest.importorskip("torch")
    td = pytest.importorskip("torch.distributions")
    e, t = make(D, name), make(td, name)
    _, value = CASES[name]
    close = lambda a, b: np.testing.assert_allclose(  # noqa: E731
        as_np(a), b.detach().numpy(), rtol=1e-10, atol=1e-12, equal_nan=True
    )
    close(e.log_prob(t64(value)), t.log_prob(torch.tensor(value, dtype=torch.float64)))
    for attr in ("mean", "variance", "stddev", "mode"):
        close(getattr(e, attr), getattr(t, attr))
    if name != "Poisson":  # torch has no Poisson entropy
        close(e.entropy(), t.entropy())
    u = [0.3, 0.6, 0.05]
    for f in ("cdf", "icdf"):
        try:
            ref = getattr(t, f)(torch.tensor(u if f == "icdf" else value, dtype=torch.float64))
        except NotImplementedError:
            continue
        close(getattr(e, f)(t64(u if f == "icdf" else value)), ref)
    assert tuple(e.batch_shape) == tuple(t.batch_shape)
    assert tuple(e.sample((4, 2)).shape) == tuple(t.sample((4, 2)).shape)


def test_discrete_and_multivariate_match_torch():
    torch = pytest.importorskip("torch")
    td = pytest.importorskip("torch.distributions")
    T = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731
    p = [[0.2, 0.3, 0.5], [0.1, 0.0, 0.9]]
    for kw in ("probs", "logits"):
        e, t = D.OneHotCategorical(**{kw: t64(p)}), td.OneHotCategorical(**{kw: T(p)})
        v = [[0, 0, 1], [1, 0, 0]]
        np.testing.assert_allclose(as_np(e.log_prob(t64(v))), t.log_prob(T(v)).numpy())
        np.testing.assert_allclose(as_np(e.entropy()), t.entropy().numpy())
        np.testing.assert_allclose(as_np(e.mode), t.mode.numpy())
        assert tuple(e.enumerate_support().shape) == tuple(t.enumerate_support().shape)
    d, t = (
        D.Dirichlet(t64([[1.0, 2, 3], [0.5, 0.2, 0.9]])),
        td.Dirichlet(T([[1.0, 2, 3], [0.5, 0.2, 0.9]])),
    )
    v = [[0.2, 0.3, 0.5], [0.1, 0.6, 0.3]]
    np.testing.assert_allclose(as_np(d.log_prob(t64(v))), t.log_prob(T(v)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(as_np(d.entropy()), t.entropy().numpy(), rtol=1e-10)
    np.testing.assert_allclose(as_np(d.mode), t.mode.numpy(), rtol=1e-10)
    np.testing.assert_allclose(as_np(d.variance), t.variance.numpy(), rtol=1e-10)
    base = D.Normal(t64([[0.0, 1], [2, 3]]), t64([[1.0, 2], [3, 4]]))
    tbase = td.Normal(T([[0.0, 1], [2, 3]]), T([[1.0, 2], [3, 4]]))
    i, ti = D.Independent(base, 1), td.Independent(tbase, 1)
    assert tuple(i.batch_shape) == (2,) and tuple(i.event_shape) == (2,)
    v = [[0.3, 0.1], [1.0, -2.0]]
    np.testing.assert_allclose(as_np(i.log_prob(t64(v))), ti.log_prob(T(v)).numpy())
    np.testing.assert_allclose(as_np(i.entropy()), ti.entropy().numpy())


PAIRS = [
    ("Normal", (LOC, SCALE)),
    ("Laplace", (LOC, SCALE)),
    ("LogNormal", (LOC, SCALE)),
    ("Exponential", (SCALE,)),
    ("Gamma", (SCALE, POS2)),
    ("Beta", (SCALE, POS2)),
    ("Poisson", (SCALE,)),
    ("Uniform", ([0.0, -1.0, 2.0], [3.0, 2.0, 2.5])),
    ("Bernoulli", ([0.3, 0.0, 1.0],)),
    ("Categorical", ([[0.2, 0.8], [0.0, 1.0], [0.5, 0.5]],)),
    ("Geometric", ([0.3, 0.8, 0.5],)),
    ("Binomial", ([4.0, 4.0, 4.0], [0.3, 0.8, 0.5])),
    ("HalfNormal", (SCALE,)),
]


@pytest.mark.parametrize("name,args", PAIRS)
def test_kl_matches_torch(name, args):
    torch = pytest.importorskip("torch")
    td = pytest.importorskip("torch.distributions")
    T = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731
    rev = [list(reversed(a)) for a in args]  # a different member of the family
    for a, b in ((args, rev), (rev, args), (args, args)):
        e = D.kl_divergence(getattr(D, name)(*map(t64, a)), getattr(D, name)(*map(t64, b)))
        t = td.kl_divergence(getattr(td, name)(*map(T, a)), getattr(td, name)(*map(T, b)))
        np.testing.assert_allclose(as_np(e), t.numpy(), rtol=1e-10, atol=1e-12)


def test_kl_mvn_and_independent_match_torch():
    torch = pytest.importorskip("torch")
    td = pytest.importorskip("torch.distributions")
    T = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731
    c1, c2 = [[2.0, 0.3], [0.3, 1.0]], [[1.0, -0.2], [-0.2, 0.5]]
    e = D.kl_divergence(D.MultivariateNormal(t64([0.3, 1]), t64(c1)), D.MultivariateNormal(
        t64([[0.0, 0], [1, 1]]), precision_matrix=t64(c2)))  # fmt: skip
    t = td.kl_divergence(td.MultivariateNormal(T([0.3, 1]), T(c1)), td.MultivariateNormal(
        T([[0.0, 0], [1, 1]]), precision_matrix=T(c2)))  # fmt: skip
    np.testing.assert_allclose(as_np(e), t.numpy(), rtol=1e-10)
    p = D.Independent(D.Normal(t64([[0.0, 1]]), t64([[1.0, 2]])), 1)
    q = D.Independent(D.Normal(t64([[0.5, 0]]), t64([[2.0, 1]])), 1)
    tp = td.Independent(td.Normal(T([[0.0, 1]]), T([[1.0, 2]])), 1)
    tq = td.Independent(td.Normal(T([[0.5, 0]]), T([[2.0, 1]])), 1)
    np.testing.assert_allclose(as_np(D.kl_divergence(p, q)), td.kl_divergence(tp, tq).numpy())


# --- gradients ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    ["Normal", "Laplace", "LogNormal", "Exponential", "Gamma", "Beta", "Cauchy", "HalfNormal",
     "Gumbel", "Chi2", "StudentT"],
)  # fmt: skip
def test_log_prob_and_entropy_gradients(name):
    args, value = CASES[name]
    params = [t64(a, grad=True) for a in args]
    x = t64(value)
    assert gradcheck(lambda *p: getattr(D, name)(*p).log_prob(x), params)
    assert gradcheck(lambda *p: getattr(D, name)(*p).entropy(), params)


def test_discrete_log_prob_gradients():
    logits = t64([[0.2, -1.0, 0.5], [1.0, 0.0, 2.0]], grad=True)
    a = ember.tensor([2, 0])
    assert gradcheck(lambda lg: D.Categorical(logits=lg).log_prob(a), [logits])
    assert gradcheck(lambda lg: D.Categorical(logits=lg).entropy(), [logits])
    probs = t64([0.2, 0.7], grad=True)
    assert gradcheck(lambda p: D.Bernoulli(probs=p).log_prob(t64([1.0, 0.0])), [probs])
    assert gradcheck(lambda p: D.Bernoulli(p).entropy(), [probs])


@pytest.mark.parametrize(
    "name",
    ["Normal", "Laplace", "LogNormal", "Exponential", "Uniform", "Cauchy", "HalfNormal", "Gumbel"],
)
def test_rsample_is_differentiable(name):
    args, _ = CASES[name]
    params = [t64(a, grad=True) for a in args]

    def draw(*p):
        ember.manual_seed(3)  # the same noise on every call of the finite differences
        return getattr(D, name)(*p).rsample((5,))

    assert gradcheck(draw, params)


def test_mvn_rsample_and_log_prob_gradients():
    loc = t64([0.3, -1.0], grad=True)
    tril = t64([[1.2, 0.0], [0.4, 0.7]], grad=True)

    def draw(loc, tril):
        ember.manual_seed(5)
        return D.MultivariateNormal(loc, scale_tril=tril.tril()).rsample((3,))

    assert gradcheck(draw, [loc, tril])
    x = t64([[0.1, 0.2], [1.0, -2.0]])
    assert gradcheck(
        lambda m, s: D.MultivariateNormal(m, scale_tril=s.tril()).log_prob(x), [loc, tril]
    )


def test_gamma_rsample_rate_gradient():
    c, r = t64([2.0, 0.5]), t64([1.5, 3.0], grad=True)

    def draw(r):
        ember.manual_seed(7)
        return D.Gamma(c, r).rsample((4,))

    assert gradcheck(draw, [r])  # (the concentration's: tests/test_distributions_extra.py)
    assert D.Gamma(t64([2.0], grad=True), t64([1.0])).sample((3,)).shape == (3, 1)


# --- sampling ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "dist,mean,var",
    [
        (lambda: D.Normal(0.5, 2.0), 0.5, 4.0),
        (lambda: D.Laplace(-1.0, 0.5), -1.0, 0.5),
        (lambda: D.LogNormal(0.0, 0.5), math.exp(0.125), (math.exp(0.25) - 1) * math.exp(0.25)),
        (lambda: D.Uniform(-1.0, 3.0), 1.0, 16 / 12),
        (lambda: D.Exponential(2.0), 0.5, 0.25),
        (lambda: D.Gamma(3.0, 2.0), 1.5, 0.75),
        (lambda: D.Beta(2.0, 5.0), 2 / 7, 10 / (49 * 8)),
        (lambda: D.Poisson(3.5), 3.5, 3.5),
        (lambda: D.Bernoulli(0.3), 0.3, 0.21),
        (lambda: D.Categorical(ember.tensor([0.2, 0.0, 0.5, 0.3])), 1.9, 1.09),
        (lambda: D.HalfNormal(2.0), 2 * math.sqrt(2 / math.pi), 4 * (1 - 2 / math.pi)),
        (lambda: D.Gumbel(1.0, 2.0), 1 + 2 * 0.5772156649, 4 * math.pi**2 / 6),
        (lambda: D.Chi2(3.0), 3.0, 6.0),
        (lambda: D.StudentT(8.0, 1.0, 2.0), 1.0, 4 * 8 / 6),
        (lambda: D.Geometric(0.3), 1 / 0.3 - 1, (1 / 0.3 - 1) / 0.3),
        (lambda: D.Binomial(10, 0.3), 3.0, 2.1),
    ],
)
def test_sample_moments(dist, mean, var):
    x = dist().sample((40000,)).double().numpy()
    assert abs(x.mean() - mean) < 4 * math.sqrt(var / x.size)
    assert abs(x.var() / var - 1) < 0.06


def test_categorical_samples_avoid_zero_probabilities_and_follow_rows():
    p = ember.tensor([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5], [0.0, 0.0, 1.0]])
    s = D.Categorical(p).sample((2000,)).numpy()
    assert s.shape == (2000, 3) and s.dtype == np.int64
    assert (s[:, 0] == 1).all() and (s[:, 2] == 2).all()
    assert set(np.unique(s[:, 1])) == {0, 2}
    assert abs((s[:, 1] == 0).mean() - 0.5) < 0.05
    masked = D.Categorical(logits=ember.tensor([0.0, -float("inf"), 1.0]))
    assert 1 not in masked.sample((500,)).numpy()
    assert np.isfinite(float(masked.entropy()))


def test_samples_are_seeded_and_keep_dtype():
    ember.manual_seed(11)
    a = D.Normal(ember.zeros(3), ember.ones(3)).sample((2,))
    ember.manual_seed(11)
    b = D.Normal(ember.zeros(3), ember.ones(3)).sample((2,))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == ember.float32 and tuple(a.shape) == (2, 3)
    d = D.Normal(t64([0.0]), t64([1.0]))
    assert d.sample().dtype == ember.float64 and d.rsample().dtype == ember.float64
    assert D.Normal(0.0, 1.0).sample().shape == ()
    assert not D.Normal(t64([0.0], grad=True), 1.0).sample().requires_grad


def test_expand_and_shapes():
    d = D.Normal(0.0, 1.0).expand((3, 2))
    assert tuple(d.batch_shape) == (3, 2) and tuple(d.sample((4,)).shape) == (4, 3, 2)
    c = D.Categorical(logits=ember.zeros(5)).expand((2,))
    assert tuple(c.batch_shape) == (2,) and tuple(c.sample().shape) == (2,)
    m = D.MultivariateNormal(ember.zeros(2), ember.eye(2)).expand((4,))
    assert tuple(m.batch_shape) == (4,) and tuple(m.event_shape) == (2,)
    assert tuple(m.rsample((3,)).shape) == (3, 4, 2)


# --- errors ------------------------------------------------------------------------------------


def test_invalid_parameters_and_values_are_value_errors():
    with pytest.raises(ValueError, match="scale.*GreaterThan"):
        D.Normal(0.0, -1.0)
    with pytest.raises(ValueError, match="Simplex"):
        D.Categorical(ember.tensor([0.5, -0.1]))
    with pytest.raises(ValueError, match="not both"):
        D.Bernoulli()
    with pytest.raises(ValueError, match="not both"):
        D.Categorical(probs=ember.ones(2), logits=ember.ones(2))
    with pytest.raises(ValueError, match="low .*LessThan"):
        D.Uniform(1.0, 0.0)
    with pytest.raises(ValueError, match="support"):
        D.Exponential(1.0).log_prob(ember.tensor(-1.0))
    with pytest.raises(ValueError, match="support"):
        D.Categorical(ember.ones(2)).log_prob(ember.tensor([2]))
    with pytest.raises(ValueError, match="broadcastable"):
        D.Normal(ember.zeros(2), ember.ones(2)).log_prob(ember.zeros(3))
    with pytest.raises(ValueError, match="must be a Tensor"):
        D.Normal(0.0, 1.0).log_prob(0.5)
    with pytest.raises(ValueError, match="Exactly one"):
        D.MultivariateNormal(ember.zeros(2))
    with pytest.raises(ValueError, match=r"\(2, 2\)"):
        D.MultivariateNormal(ember.zeros(2), ember.eye(3))
    with pytest.raises(ValueError, match="PositiveDefinite"):
        D.MultivariateNormal(ember.zeros(2), ember.tensor([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="reinterpreted_batch_ndims"):
        D.Independent(D.Normal(ember.zeros(2), 1.0), 2)
    with pytest.raises(TypeError, match="str"):
        D.Normal("a", 1.0)
    with pytest.raises(NotImplementedError, match="rsample"):
        D.Bernoulli(0.5).rsample()
    with pytest.raises(ValueError, match="probs"):
        D.Geometric(0.0)
    with pytest.raises(ValueError, match="total_count"):
        D.Binomial(2.5, 0.5)
    with pytest.raises(ValueError, match="support"):
        D.Binomial(3, 0.5).log_prob(ember.tensor(4.0))
    with pytest.raises(ValueError, match="df"):
        D.StudentT(-1.0)
    with pytest.raises(NotImplementedError, match="Poisson"):
        D.kl_divergence(D.Normal(0.0, 1.0), D.Poisson(1.0))


def test_validation_can_be_switched_off():
    d = D.Normal(0.0, -1.0, validate_args=False)
    assert math.isnan(float(d.log_prob(ember.tensor(0.0))))
    D.Distribution.set_default_validate_args(False)
    try:
        D.Exponential(1.0).log_prob(ember.tensor(-1.0))  # no error
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Exponential(-1.0)


def test_register_kl_for_a_new_pair():
    class MyNormal(D.Normal):
        pass

    calls = []

    @D.register_kl(MyNormal, D.Normal)
    def _kl(p, q):
        calls.append(1)
        return ember.zeros(())

    try:
        assert float(D.kl_divergence(MyNormal(0.0, 1.0), D.Normal(1.0, 1.0))) == 0.0
        assert calls == [1]
        # the parent pair still serves plain Normals
        assert float(D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(1.0, 1.0))) == 0.5
    finally:
        del D.kl._KL_REGISTRY[MyNormal, D.Normal]


# --- training ----------------------------------------------------------------------------------


def test_reinforce_learns_the_best_arm():
    """A softmax policy trained with REINFORCE (-log_prob * reward) on a 4-armed bandit."""
    ember.manual_seed(0)
    logits = ember.zeros(4, requires_grad=True)
    opt = ember.optim.Adam([logits], lr=0.1)
    rewards = ember.tensor([0.1, 0.2, 1.0, 0.3])
    for _ in range(200):
        dist = D.Categorical(logits=logits)
        a = dist.sample((32,))
        r = rewards[a]
        loss = -(dist.log_prob(a) * (r - r.mean())).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert D.Categorical(logits=logits).probs[2].item() > 0.9


def test_gaussian_fit_by_rsample_elbo():
    """Fitting N(m, s) to N(2, 0.5) by minimising a reparameterised KL estimate."""
    ember.manual_seed(0)
    m, log_s = ember.zeros(1, requires_grad=True), ember.zeros(1, requires_grad=True)
    target = D.Normal(2.0, 0.5)
    opt = ember.optim.Adam([m, log_s], lr=0.05)
    for _ in range(400):
        q = D.Normal(m, log_s.exp())
        z = q.rsample((64,))
        loss = (q.log_prob(z) - target.log_prob(z)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert abs(m.item() - 2.0) < 0.1 and abs(log_s.exp().item() - 0.5) < 0.1


def test_binomial_inhomogeneous_total_count():
    d = D.Binomial(ember.tensor([2.0, 3.0]), ember.tensor([0.5, 0.5]))
    np.testing.assert_allclose(
        d.log_prob(ember.tensor([1.0, 3.0])).numpy(), np.log([0.5, 0.125]), rtol=1e-6
    )
    with pytest.raises(NotImplementedError, match="Inhomogeneous"):
        d.entropy()


# --- transforms --------------------------------------------------------------------------------

TR = D.transforms


def test_transformed_closed_forms():
    mu, sd = np.array([0.3, -1.0]), np.array([0.5, 2.0])
    base = D.Normal(t64(mu), t64(sd))
    y = np.array([0.4, 3.0])
    lognormal = D.TransformedDistribution(base, [TR.ExpTransform()])
    np.testing.assert_allclose(
        as_np(lognormal.log_prob(t64(y))), as_np(D.LogNormal(t64(mu), t64(sd)).log_prob(t64(y)))
    )
    a = np.array([0.5, -0.9])
    squashed = D.TransformedDistribution(base, TR.TanhTransform())
    x = np.arctanh(a)
    ref = -((x - mu) ** 2) / (2 * sd**2) - np.log(sd) - 0.5 * np.log(2 * np.pi) - np.log(1 - a**2)
    np.testing.assert_allclose(as_np(squashed.log_prob(t64(a))), ref, rtol=1e-12)
    assert squashed.sample((5,)).abs().max().item() <= 1


def test_transforms_invert_and_compose():
    x = t64([-2.0, 0.1, 3.0])
    root_of_exp = TR.ComposeTransform([TR.ExpTransform(), TR.PowerTransform(0.5)])
    for t in [TR.ExpTransform(), TR.SigmoidTransform(), TR.TanhTransform(), TR.SoftplusTransform(),
              TR.AffineTransform(1.0, -2.0), root_of_exp]:  # fmt: skip
        np.testing.assert_allclose(as_np(t.inv(t(x))), as_np(x), rtol=1e-9)
        assert t.inv.inv is t
        # log|dy/dx| by central differences
        h = 1e-6
        fd = np.log(np.abs((as_np(t(x + h)) - as_np(t(x - h))) / (2 * h)))
        np.testing.assert_allclose(as_np(t.log_abs_det_jacobian(x, t(x))), fd, rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(
            as_np(t.inv.log_abs_det_jacobian(t(x), x)), -fd, rtol=1e-6, atol=1e-8
        )


def test_tanh_cache_keeps_saturated_log_prob_finite():
    base = D.Normal(t64([30.0]), t64([1.0]))
    cached = D.TransformedDistribution(base, [TR.TanhTransform(cache_size=1)])
    a = cached.rsample()
    assert a.item() == 1.0 and np.isfinite(cached.log_prob(a).item())
    plain = D.TransformedDistribution(base, [TR.TanhTransform()], validate_args=False)
    with np.errstate(invalid="ignore"):  # ember's forward arithmetic warns on inf - inf
        assert not np.isfinite(plain.log_prob(t64([1.0])).item())  # atanh(1) = inf


def test_transformed_gradients_and_shapes():
    mu, sd = t64([0.3, -1.0], grad=True), t64([0.5, 2.0], grad=True)
    v = t64([0.2, -0.7])

    def lp(m, s):
        d = D.TransformedDistribution(
            D.Normal(m, s), [TR.AffineTransform(0.5, 2.0), TR.TanhTransform()]
        )
        return d.log_prob(v)

    assert gradcheck(lp, [mu, sd])
    d = D.TransformedDistribution(
        D.Normal(ember.zeros(3, 2), 1.0), TR.AffineTransform(0.0, 2.0, event_dim=1)
    )
    assert tuple(d.batch_shape) == (3,) and tuple(d.event_shape) == (2,)
    assert tuple(d.log_prob(ember.zeros(3, 2)).shape) == (3,)
    assert tuple(d.expand((4, 3)).batch_shape) == (4, 3)
    with pytest.raises(ValueError, match="Transform"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), [lambda x: x])
    with pytest.raises(ValueError, match="cache_size"):
        TR.TanhTransform(cache_size=2)
    with pytest.raises(ValueError, match="support"):
        D.TransformedDistribution(D.Normal(0.0, 1.0), TR.ExpTransform()).log_prob(
            ember.tensor(-1.0)
        )


def test_transformed_matches_torch():
    torch = pytest.importorskip("torch")
    td = pytest.importorskip("torch.distributions")
    T = lambda a: torch.tensor(np.asarray(a, np.float64))  # noqa: E731
    mu, sd = [0.3, -1.0], [0.5, 2.0]
    cases = [
        lambda M, X: [M.TanhTransform()],
        lambda M, X: [M.SigmoidTransform()],
        lambda M, X: [M.AffineTransform(1.0, 2.0), M.TanhTransform()],
        lambda M, X: [M.SoftplusTransform()],
        lambda M, X: [M.AffineTransform(X([1.0, 2.0]), X([2.0, -3.0]))],
        lambda M, X: [M.ExpTransform(), M.PowerTransform(2.0)],
        lambda M, X: [M.AffineTransform(0.0, 2.0, event_dim=1)],
    ]
    for make_ts in cases:
        e = D.TransformedDistribution(D.Normal(t64(mu), t64(sd)), make_ts(TR, t64))
        t = td.TransformedDistribution(td.Normal(T(mu), T(sd)), make_ts(td.transforms, T))
        v = t.sample((3,)).numpy()
        np.testing.assert_allclose(as_np(e.log_prob(t64(v))), t.log_prob(T(v)).numpy(), rtol=1e-10)
        assert tuple(e.batch_shape) == tuple(t.batch_shape)
        assert tuple(e.event_shape) == tuple(t.event_shape)
        if not e.event_shape:
            np.testing.assert_allclose(as_np(e.cdf(t64(v))), t.cdf(T(v)).numpy(), rtol=1e-10)
            u = [[0.2, 0.7]]
            np.testing.assert_allclose(as_np(e.icdf(t64(u))), t.icdf(T(u)).numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    "make",
    [lambda: D.Gamma(2.0, 1.0), lambda: D.Poisson(3.0), lambda: D.Binomial(4, 0.5),
     lambda: D.StudentT(3.0), lambda: D.Chi2(2.0), lambda: D.Beta(2.0, 3.0),
     lambda: D.Geometric(0.3), lambda: D.Bernoulli(0.3), lambda: D.Categorical(ember.ones(3))],
)  # fmt: skip
def test_scalar_parameters_sample_zero_dim_tensors(make):
    d = make()
    s = d.sample()
    assert isinstance(s, ember.Tensor) and s.shape == ()
    assert d.sample((4,)).shape == (4,)
    assert np.isfinite(d.log_prob(s).item())
