"""MixtureSameFamily, the relaxed (Gumbel-softmax) families, the straight-through one-hot,
Multinomial, NegativeBinomial, HalfCauchy, Weibull and Pareto against torch.distributions, and
torch's per-family module paths."""

import numpy as np
import pytest

import ember
import ember.distributions as D
from ember.autograd import gradcheck

rng = np.random.default_rng(0)
LOGITS = rng.normal(size=(3, 4))
MU = rng.normal(size=(3, 4))
SD = rng.uniform(0.5, 2.0, (3, 4))


def e(x):
    return ember.tensor(np.asarray(x, np.float64))


@pytest.fixture
def torch64():
    torch = pytest.importorskip("torch")
    return torch, torch.distributions


def close(a, b, tol=1e-9):
    b = b.detach().numpy() if hasattr(b, "detach") else b
    np.testing.assert_allclose(a.data, b, rtol=tol, atol=tol, equal_nan=True)


def t(torch, x):
    return torch.tensor(np.asarray(x, np.float64))


def test_mixture_of_normals_matches_torch(torch64):
    torch, TD = torch64
    ours = D.MixtureSameFamily(D.Categorical(logits=e(LOGITS)), D.Normal(e(MU), e(SD)))
    ref = TD.MixtureSameFamily(
        TD.Categorical(logits=t(torch, LOGITS)), TD.Normal(t(torch, MU), t(torch, SD))
    )
    x = rng.normal(size=(5, 3))
    close(ours.log_prob(e(x)), ref.log_prob(t(torch, x)))
    close(ours.cdf(e(x)), ref.cdf(t(torch, x)))
    close(ours.mean, ref.mean)
    close(ours.variance, ref.variance)
    assert ours.sample((7,)).shape == (7, 3) and ours.expand((2, 3)).batch_shape == (2, 3)


def test_mixture_of_multivariate_components_matches_torch(torch64):
    torch, TD = torch64
    loc, scale = rng.normal(size=(3, 2)), rng.uniform(0.5, 1.5, (3, 2))
    ours = D.MixtureSameFamily(
        D.Categorical(logits=e(LOGITS[0, :3])), D.Independent(D.Normal(e(loc), e(scale)), 1)
    )
    ref = TD.MixtureSameFamily(
        TD.Categorical(logits=t(torch, LOGITS[0, :3])),
        TD.Independent(TD.Normal(t(torch, loc), t(torch, scale)), 1),
    )
    x = rng.normal(size=(4, 2))
    close(ours.log_prob(e(x)), ref.log_prob(t(torch, x)))
    close(ours.mean, ref.mean)
    close(ours.variance, ref.variance)
    assert ours.sample((5,)).shape == (5, 2)


def test_mixture_log_prob_gradients():
    x = e(rng.normal(size=(4, 3)))

    def f(logits, mu, sd):
        return D.MixtureSameFamily(D.Categorical(logits=logits), D.Normal(mu, sd)).log_prob(x)

    inputs = [e(v).requires_grad_() for v in (LOGITS, MU, SD)]
    assert gradcheck(f, inputs)


def test_mixture_refuses_bad_parts():
    with pytest.raises(ValueError, match="Categorical"):
        D.MixtureSameFamily(D.Normal(0.0, 1.0), D.Normal(e(MU), e(SD)))
    with pytest.raises(ValueError, match="does not equal"):
        D.MixtureSameFamily(D.Categorical(logits=e(LOGITS[:, :3])), D.Normal(e(MU), e(SD)))


@pytest.mark.parametrize("temperature", [0.5, 2.0])
def test_relaxed_families_match_torch(torch64, temperature):
    torch, TD = torch64
    temp = torch.tensor(temperature, dtype=torch.float64)
    ref = TD.RelaxedOneHotCategorical(temp, logits=t(torch, LOGITS))
    ours = D.RelaxedOneHotCategorical(temperature, logits=e(LOGITS))
    v = ref.sample((2,))
    close(ours.log_prob(e(v.numpy())), ref.log_prob(v), 1e-7)
    ref = TD.RelaxedBernoulli(temp, probs=t(torch, SD / 3))
    ours = D.RelaxedBernoulli(temperature, probs=e(SD / 3))
    v = ref.sample((2,))
    close(ours.log_prob(e(v.numpy())), ref.log_prob(v), 1e-7)


def test_relaxed_samples_are_reparameterised_and_on_the_simplex():
    logits = e(LOGITS).requires_grad_()
    s = D.RelaxedOneHotCategorical(0.5, logits=logits).rsample((4,))
    np.testing.assert_allclose(s.sum(-1).data, 1.0, rtol=1e-12)
    (s[..., 0]).sum().backward()
    assert np.abs(logits.grad.data).sum() > 0
    b = D.RelaxedBernoulli(0.3, logits=e(MU)).rsample()
    assert ((b.data > 0) & (b.data < 1)).all()


def test_straight_through_one_hot_passes_the_gradient_of_probs():
    logits = e(LOGITS).requires_grad_()
    dist = D.OneHotCategoricalStraightThrough(logits=logits)
    draw = dist.rsample()
    assert ((draw.data == 0) | (draw.data == 1)).all() and (draw.data.sum(-1) == 1).all()
    (draw * ember.arange(4.0)).sum().backward()
    probs = np.exp(LOGITS) / np.exp(LOGITS).sum(-1, keepdims=True)
    expected = probs * (np.arange(4.0) - (probs * np.arange(4.0)).sum(-1, keepdims=True))
    np.testing.assert_allclose(logits.grad.data, expected, rtol=1e-10)
    assert type(dist.expand((2, 3))) is D.OneHotCategoricalStraightThrough


def test_multinomial_matches_torch(torch64):
    torch, TD = torch64
    for kwargs in ({"probs": np.abs(MU)}, {"logits": LOGITS}):
        ref = TD.Multinomial(10, **{k: t(torch, v) for k, v in kwargs.items()})
        ours = D.Multinomial(10, **{k: e(v) for k, v in kwargs.items()})
        v = ref.sample((2,))
        close(ours.log_prob(e(v.numpy())), ref.log_prob(v))
        close(ours.entropy(), ref.entropy(), 1e-6)  # torch takes lgamma(n + 1) in float32
        close(ours.mean, ref.mean)
        close(ours.variance, ref.variance)
    draws = D.Multinomial(10, probs=e(np.abs(MU))).sample((5,))
    assert draws.shape == (5, 3, 4) and (draws.data.sum(-1) == 10).all()


def test_negative_binomial_matches_torch(torch64):
    torch, TD = torch64
    ref = TD.NegativeBinomial(t(torch, SD * 3), logits=t(torch, MU))
    ours = D.NegativeBinomial(e(SD * 3), logits=e(MU))
    v = ref.sample((3,))
    close(ours.log_prob(e(v.numpy())), ref.log_prob(v))
    for name in ("mean", "mode", "variance"):
        close(getattr(ours, name), getattr(ref, name))


def test_negative_binomial_samples_have_its_mean():
    ember.manual_seed(0)
    draws = D.NegativeBinomial(e(4.0), probs=e(0.3)).sample((100_000,))
    assert abs(float(draws.mean()) - 4 * 0.3 / 0.7) < 0.03


FAMILIES = [  # name, ember and torch constructors (on arrays), values in the support
    ("HalfCauchy", lambda L, a: L.HalfCauchy(a(SD)), np.abs(MU) + SD),
    ("Weibull", lambda L, a: L.Weibull(a(SD), a(SD + 0.3)), np.abs(MU) + 0.1),
    ("Pareto", lambda L, a: L.Pareto(a(SD), a(SD * 2)), SD + np.abs(MU)),
]


@pytest.mark.parametrize("name, make, values", FAMILIES, ids=[f[0] for f in FAMILIES])
def test_transformed_families_match_torch(torch64, name, make, values):
    torch, TD = torch64
    ours, ref = make(D, e), make(TD, lambda x: t(torch, x))
    close(ours.log_prob(e(values)), ref.log_prob(t(torch, values)))
    close(ours.cdf(e(values)), ref.cdf(t(torch, values)))
    close(ours.icdf(e(SD / 3)), ref.icdf(t(torch, SD / 3)))
    close(ours.entropy(), ref.entropy())
    for attr in ("mean", "mode", "variance"):
        close(getattr(ours, attr), getattr(ref, attr))
    assert ours.rsample((2,)).shape == (2, 3, 4)
    assert ours.expand((2, 3, 4)).batch_shape == (2, 3, 4)
    assert repr(ours).startswith(name)


def test_bad_parameters_are_refused():
    for make in (
        lambda: D.HalfCauchy(-1.0),
        lambda: D.Weibull(1.0, -1.0),
        lambda: D.Pareto(-1.0, 1.0),
        lambda: D.NegativeBinomial(-1.0, probs=0.5),
        lambda: D.Multinomial(3, probs=e([-0.1, 1.1])),
    ):
        with pytest.raises(ValueError, match="Expected parameter"):
            make()


def test_torchs_module_paths():
    from ember.distributions.mixture_same_family import MixtureSameFamily
    from ember.distributions.normal import Normal
    from ember.distributions.relaxed_categorical import RelaxedOneHotCategorical

    assert Normal is D.Normal and MixtureSameFamily is D.MixtureSameFamily
    assert RelaxedOneHotCategorical is D.RelaxedOneHotCategorical
    assert D.ExpTransform is D.transforms.ExpTransform
