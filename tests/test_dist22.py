"""ember.distributions against torch.distributions: the differences a differential hunt found."""

import numpy as np
import pytest

import ember
import ember.distributions as D

torch = pytest.importorskip("torch")
TD = torch.distributions


def _pair(name, **params):
    """The same family from torch and ember, float64 parameters from NumPy values."""
    t = getattr(TD, name)(**{k: torch.tensor(np.asarray(v, np.float64)) for k, v in params.items()})
    e = getattr(D, name)(**{k: ember.tensor(np.asarray(v, np.float64)) for k, v in params.items()})
    return t, e


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.LogNormal(m_tensor(m, [0.0, 1.0]), m_tensor(m, [1.0, 2.0])),
        lambda m: m.Exponential(m_tensor(m, [1.0, 2.0])),
        lambda m: m.Gamma(m_tensor(m, [1.0, 2.0]), m_tensor(m, [1.0, 2.0])),
        lambda m: m.HalfCauchy(m_tensor(m, [1.0, 2.0])),
        lambda m: m.Weibull(m_tensor(m, [1.0, 2.0]), m_tensor(m, [1.0, 2.0])),
        lambda m: m.Independent(m.Exponential(m_tensor(m, [[1.0, 2.0]])), 1),
        lambda m: m.TransformedDistribution(
            m.Exponential(m_tensor(m, [1.0, 2.0])), [m.transforms.AffineTransform(0.0, 2.0)]
        ),
        lambda m: m.MixtureSameFamily(
            m.Categorical(m_tensor(m, [0.5, 0.5])), m.Exponential(m_tensor(m, [1.0, 2.0]))
        ),
        lambda m: m.OneHotCategorical(m_tensor(m, [0.5, 0.5])),
        lambda m: m.Multinomial(3, m_tensor(m, [0.5, 0.5])),
        lambda m: m.RelaxedBernoulli(m_tensor(m, 0.5), m_tensor(m, [0.3, 0.6])),
        lambda m: m.ContinuousBernoulli(m_tensor(m, [0.3, 0.6])),
    ],
)
def test_expand_keeps_validation_as_torch(make):
    # torch's expand copies _validate_args: an expanded distribution still refuses values
    # outside its support (ember's expand had switched validation off)
    t, e = make(TD), make(D)
    te, ee = t.expand((3,) + tuple(t.batch_shape)), e.expand((3,) + tuple(e.batch_shape))
    assert ee._validate_args is te._validate_args is True
    bad = -np.ones((3,) + tuple(t.batch_shape) + tuple(t.event_shape))
    with pytest.raises(ValueError, match="support"):
        te.log_prob(torch.tensor(bad))
    with pytest.raises(ValueError, match="support"):
        ee.log_prob(ember.tensor(bad))


def m_tensor(m, v):
    return (torch.tensor if m is TD else ember.tensor)(np.asarray(v, np.float64))


def test_expand_without_validation_stays_without():
    e = D.Exponential(ember.tensor([1.0, 2.0]), validate_args=False).expand((3, 2))
    t = TD.Exponential(torch.tensor([1.0, 2.0]), validate_args=False).expand((3, 2))
    assert e._validate_args is t._validate_args is False
    np.testing.assert_array_equal(
        e.log_prob(-ember.ones(3, 2)).numpy(), t.log_prob(-torch.ones(3, 2)).numpy()
    )


@pytest.mark.parametrize(
    "name, params",
    [
        ("LogNormal", dict(loc=[0.0, 1.0], scale=[0.5, 1.5])),
        ("Weibull", dict(scale=[1.0, 2.0], concentration=[0.5, 3.0])),
        ("InverseGamma", dict(concentration=[0.5, 3.0], rate=[1.0, 2.0])),
        ("Kumaraswamy", dict(concentration1=[0.5, 2.0], concentration0=[3.0, 1.0])),
    ],
)
def test_cdf_at_the_support_edge_validates_in_the_base_space(name, params):
    # torch's TransformedDistribution.cdf checks the value after inverting the transforms, so
    # cdf(0) of a positive family is 0, not a support error
    t, e = _pair(name, **params)
    z = np.zeros(2)
    np.testing.assert_allclose(e.cdf(ember.tensor(z)).numpy(), t.cdf(torch.tensor(z)).numpy())
    assert e.cdf(ember.tensor(z)).numpy().tolist() == [0.0, 0.0]


def test_relaxed_bernoulli_cdf_raises_not_implemented_before_the_support_check():
    t = TD.RelaxedBernoulli(torch.tensor(0.5), torch.tensor([0.2, 0.7]))
    e = D.RelaxedBernoulli(ember.tensor(0.5), ember.tensor([0.2, 0.7]))
    for v in (2.0, 0.5):
        with pytest.raises(NotImplementedError):
            t.cdf(torch.full((2,), v))
        with pytest.raises(NotImplementedError):
            e.cdf(ember.full((2,), v))


def test_uniform_support_is_closed_and_constraints_as_torch():
    t, e = _pair("Uniform", low=[0.0, -1.0], high=[1.0, 3.0])
    assert repr(e.support) == repr(t.support).replace("torch.", "")
    assert repr(e.support).startswith("Interval(")
    assert {k: repr(v) for k, v in e.arg_constraints.items()} == {
        k: repr(v).replace("torch.", "") for k, v in t.arg_constraints.items()
    }
    # the upper end is in the (closed) support: log_prob -inf, cdf 1, no error
    x = np.array([1.0, 3.0])
    np.testing.assert_array_equal(
        e.log_prob(ember.tensor(x)).numpy(), t.log_prob(torch.tensor(x)).numpy()
    )
    np.testing.assert_array_equal(e.cdf(ember.tensor(x)).numpy(), t.cdf(torch.tensor(x)).numpy())
    with pytest.raises(ValueError, match="low .*LessThan"):
        D.Uniform(ember.tensor([1.0]), ember.tensor([1.0]))
    with pytest.raises(ValueError, match="support"):
        e.log_prob(ember.tensor([1.5, 3.5]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gumbel_icdf_is_finite_at_0_and_1_as_torch(dtype):
    # (not near 0: torch loses digits there in its monotonize step, sign * (q - 0.5) + 0.5)
    q = np.array([[0.0], [0.25], [0.5], [1.0]], dtype)
    t = TD.Gumbel(
        torch.tensor(np.array([0.0, 1.0], dtype)), torch.tensor(np.array([2.0, 0.5], dtype))
    )
    e = D.Gumbel(
        ember.tensor(np.array([0.0, 1.0], dtype)), ember.tensor(np.array([2.0, 0.5], dtype))
    )
    got, want = e.icdf(ember.tensor(q)).numpy(), t.icdf(torch.tensor(q)).numpy()
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, want, rtol=1e-5 if dtype == np.float32 else 1e-6)


def test_negative_binomial_total_count_constraint_repr():
    assert repr(D.NegativeBinomial.arg_constraints["total_count"]) == repr(
        TD.NegativeBinomial.arg_constraints["total_count"]
    )


def test_multinomial_refuses_a_negative_total_count_whatever_validate_args():
    for validate in (True, False):
        with pytest.raises(ValueError, match="total_count"):
            TD.Multinomial(-1, torch.tensor([0.5, 0.5]), validate_args=validate)
        with pytest.raises(ValueError, match="total_count"):
            D.Multinomial(-1, ember.tensor([0.5, 0.5]), validate_args=validate)


def test_mixture_same_family_support_is_the_mixture_constraint():
    t = TD.MixtureSameFamily(
        TD.Categorical(torch.tensor([0.3, 0.7])),
        TD.Uniform(torch.zeros(2), torch.tensor([1.0, 2.0])),
    )
    e = D.MixtureSameFamily(
        D.Categorical(ember.tensor([0.3, 0.7])), D.Uniform(ember.zeros(2), ember.tensor([1.0, 2.0]))
    )
    assert repr(e.support).startswith("MixtureSameFamilyConstraint(Interval(")
    assert type(e.support).__name__ == type(t.support).__name__
    for v in (0.5, 1.5, -0.5):
        assert bool(e.support.check(ember.tensor(v))) == bool(t.support.check(torch.tensor(v)))


def test_one_hot_straight_through_repr_names_its_class():
    e = D.OneHotCategoricalStraightThrough(probs=ember.tensor([0.2, 0.8]))
    assert repr(e).startswith("OneHotCategoricalStraightThrough(")


@pytest.mark.parametrize("name", ["Gamma", "Chi2"])
def test_gamma_log_prob_takes_a_number_as_torch(name):
    params = (
        dict(concentration=[2.0, 0.5], rate=[1.0, 3.0]) if name == "Gamma" else dict(df=[2.0, 3.0])
    )
    t, e = _pair(name, **params)
    np.testing.assert_allclose(e.log_prob(0.5).numpy(), t.log_prob(0.5).numpy(), rtol=1e-12)


@pytest.mark.parametrize("given", ["covariance_matrix", "scale_tril", "precision_matrix"])
def test_wishart_single_value_against_a_batch_of_p_matrices(given):
    # batch (2,) of 2 x 2 matrices: a (2, 2) value, and the identity behind precision_matrix,
    # were read as two vectors by cholesky_solve (wrong log_prob and precision_matrix)
    rs = np.random.RandomState(0)
    m = rs.randn(2, 2, 2)
    cov = m @ np.swapaxes(m, -1, -2) + 2 * np.eye(2)
    param = {
        "covariance_matrix": cov,
        "scale_tril": np.linalg.cholesky(cov),
        "precision_matrix": np.linalg.inv(cov),
    }[given]
    t, e = _pair("Wishart", df=[3.0, 5.0], **{given: param})
    x = np.array([[2.0, 0.5], [0.5, 1.0]])
    np.testing.assert_allclose(
        e.log_prob(ember.tensor(x)).numpy(), t.log_prob(torch.tensor(x)).numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(e.precision_matrix.numpy(), np.linalg.inv(cov), rtol=1e-12)
    np.testing.assert_allclose(e.precision_matrix.numpy(), t.precision_matrix.numpy(), rtol=1e-12)
