"""Initialisers beyond the fan-based ones: calculate_gain for every nonlinearity PyTorch
knows, orthogonal_, trunc_normal_, eye_, dirac_, sparse_ (exact properties and seeded
statistics)."""

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn import init

GAINS = [
    ("linear", None), ("conv1d", None), ("conv2d", None), ("conv3d", None),
    ("conv_transpose1d", None), ("conv_transpose2d", None), ("conv_transpose3d", None),
    ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None), ("leaky_relu", None),
    ("leaky_relu", 0.2), ("leaky_relu", 0), ("leaky_relu", 3), ("relu", 5.0),
]  # fmt: skip


@pytest.mark.parametrize("name,param", GAINS)
def test_calculate_gain_matches_pytorch(name, param):
    torch = pytest.importorskip("torch")
    assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


def test_calculate_gain_values_and_errors():
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("leaky_relu", 1.0) == 1.0
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="negative_slope"):
        init.calculate_gain("leaky_relu", "0.1")


@pytest.mark.parametrize("shape", [(6, 6), (5, 3), (3, 5), (4, 2, 3), (8, 3, 2, 2)], ids=str)
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(shape, gain):
    w = ember.empty(*shape, dtype=np.float64)
    assert init.orthogonal_(w, gain=gain) is w
    m = w.numpy().reshape(shape[0], -1)
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)
    a, b = ember.empty(*shape), ember.empty(*shape)
    ember.manual_seed(11)
    init.orthogonal_(a)
    ember.manual_seed(11)
    init.orthogonal_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32


def test_orthogonal_is_spread_uniformly():
    # Haar-distributed: each entry of a random n x n orthogonal matrix has mean 0, variance 1/n
    ember.manual_seed(0)
    vals = np.stack([init.orthogonal_(ember.empty(8, 8, dtype=np.float64)).numpy()
                     for _ in range(400)])  # fmt: skip
    assert abs(vals.mean()) < 0.01
    np.testing.assert_allclose(vals.var(), 1 / 8, rtol=0.05)


def test_orthogonal_errors_and_empty():
    with pytest.raises(ValueError, match="2 or more dims"):
        init.orthogonal_(ember.empty(5))
    e = ember.empty(0, 3)
    assert init.orthogonal_(e) is e


def _truncnorm_moments(mean, std, a, b):
    alpha, beta = (a - mean) / std, (b - mean) / std
    pdf = lambda x: math.exp(-x * x / 2) / math.sqrt(2 * math.pi)  # noqa: E731
    cdf = lambda x: 0.5 * (1 + math.erf(x / math.sqrt(2)))  # noqa: E731
    z = cdf(beta) - cdf(alpha)
    m = mean + std * (pdf(alpha) - pdf(beta)) / z
    var = std**2 * (
        1 + (alpha * pdf(alpha) - beta * pdf(beta)) / z - ((pdf(alpha) - pdf(beta)) / z) ** 2
    )
    return m, math.sqrt(var)


@pytest.mark.parametrize(
    "mean,std,a,b",
    [(0.0, 1.0, -2.0, 2.0), (0.5, 0.02, 0.48, 0.6), (0.0, 1.0, 0.0, 10.0), (1.0, 2.0, -1.0, 1.5),
     (0.0, 1.0, 1.5, 4.0)],
)  # fmt: skip
def test_trunc_normal_statistics(mean, std, a, b):
    ember.manual_seed(5)
    w = ember.empty(200, 300, dtype=np.float64)
    assert init.trunc_normal_(w, mean, std, a, b) is w
    v = w.numpy()
    assert v.min() >= a and v.max() <= b
    m, s = _truncnorm_moments(mean, std, a, b)
    assert abs(v.mean() - m) < 5 * s / math.sqrt(v.size)
    np.testing.assert_allclose(v.std(), s, rtol=0.02)
    # the empirical CDF matches the truncated normal's (Kolmogorov-Smirnov, n = 60,000)
    q = np.sort(v.ravel())
    phi = np.vectorize(lambda x: 0.5 * (1 + math.erf((x - mean) / (std * math.sqrt(2)))))
    lo, hi = phi(a), phi(b)
    cdf = (phi(q[::100]) - lo) / (hi - lo)
    emp = (np.arange(0, q.size, 100) + 0.5) / q.size
    assert np.abs(cdf - emp).max() < 0.01


def test_trunc_normal_far_tail_and_pytorch_defaults():
    ember.manual_seed(1)
    with pytest.warns(UserWarning, match="more than 2 std"):  # as PyTorch warns
        w = init.trunc_normal_(ember.empty(1000), a=5.0, b=5.5)  # P = 3e-7: no retries
    v = w.numpy()
    assert v.dtype == np.float32 and v.min() >= 5.0 and v.max() <= 5.5
    v = init.trunc_normal_(ember.empty(10000)).numpy()  # N(0, 1) truncated to [-2, 2]
    assert v.min() >= -2 and v.max() <= 2 and abs(v.std() - 0.8796) < 0.02
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(ember.empty(10), mean=10.0, std=1.0, a=-2.0, b=2.0)
    np.testing.assert_array_equal(init.trunc_normal_(ember.empty(3), 0.5, 0.0).numpy(), 0.5)
    with pytest.raises(ValueError, match="std"):
        init.trunc_normal_(ember.empty(3), std=-1.0)
    with pytest.raises(RuntimeError, match="from=1.0 > to=0.0"):  # PyTorch's error
        init.trunc_normal_(ember.empty(3), a=1.0, b=0.0)
    a, b = ember.empty(50), ember.empty(50)
    ember.manual_seed(2)
    init.trunc_normal_(a)
    ember.manual_seed(2)
    init.trunc_normal_(b)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)])
def test_eye(shape):
    w = ember.full(shape, 7.0)
    assert init.eye_(w) is w
    np.testing.assert_array_equal(w.numpy(), np.eye(*shape))
    with pytest.raises(ValueError, match="2-D"):
        init.eye_(ember.empty(2, 2, 2))


@pytest.mark.parametrize(
    "shape,groups",
    [((4, 4, 3), 1), ((6, 3, 3, 3), 1), ((2, 5, 3, 3), 1), ((6, 2, 3, 3), 2), ((4, 4, 1, 3, 3), 1),
     ((6, 1, 5), 3), ((4, 4, 2, 2), 1)],
)  # fmt: skip
def test_dirac_matches_pytorch(shape, groups):
    torch = pytest.importorskip("torch")
    w = ember.full(shape, 3.0)
    assert init.dirac_(w, groups) is w
    np.testing.assert_array_equal(
        w.numpy(), torch.nn.init.dirac_(torch.empty(shape), groups).numpy()
    )


def test_dirac_convolution_is_the_identity():
    w = init.dirac_(ember.empty(4, 4, 3, 3, dtype=np.float64))
    x = ember.tensor(np.random.default_rng(0).standard_normal((2, 4, 5, 5)))
    np.testing.assert_allclose(F.conv2d(x, w, padding=1).numpy(), x.numpy(), atol=1e-14)
    conv = nn.Conv2d(4, 4, 3, padding=1, bias=False).double()
    init.dirac_(conv.weight)
    np.testing.assert_allclose(conv(x).numpy(), x.numpy(), atol=1e-14)


def test_dirac_errors():
    with pytest.raises(ValueError, match="3, 4, or 5 dimensions"):
        init.dirac_(ember.empty(3, 3))
    with pytest.raises(ValueError, match="divisible by groups"):
        init.dirac_(ember.empty(5, 2, 3), groups=2)
    with pytest.raises(ValueError, match="groups"):
        init.dirac_(ember.empty(4, 2, 3), groups=0)


@pytest.mark.parametrize("rows,cols,sparsity", [(100, 40, 0.1), (30, 50, 0.5), (7, 3, 0.0),
                                                (10, 4, 1.0), (9, 6, 0.25)])  # fmt: skip
def test_sparse(rows, cols, sparsity):
    ember.manual_seed(4)
    w = ember.empty(rows, cols, dtype=np.float64)
    assert init.sparse_(w, sparsity, std=0.2) is w
    v = w.numpy()
    zeros = (v == 0).sum(axis=0)
    np.testing.assert_array_equal(zeros, math.ceil(sparsity * rows))
    nz = v[v != 0]
    if nz.size > 1000:
        np.testing.assert_allclose(nz.std(), 0.2, rtol=0.05)
    # different columns zero different rows
    if 0 < sparsity < 1 and cols > 2:
        patterns = {tuple(np.flatnonzero(v[:, c] == 0)) for c in range(cols)}
        assert len(patterns) > 1


def test_sparse_defaults_and_errors():
    v = init.sparse_(ember.empty(2000, 5), 0.1).numpy()
    assert v.dtype == np.float32
    np.testing.assert_allclose(v[v != 0].std(), 0.01, rtol=0.05)
    with pytest.raises(ValueError, match="2 dimensions"):
        init.sparse_(ember.empty(3, 3, 3), 0.1)
    # sparsity outside [0, 1] is taken, as torch's: ceil(sparsity * rows) slices a permutation
    # of the rows (Python's slice: all rows past 1, all but the last |count| below 0)
    for sparsity, zeros in ((1.5, 4), (-0.5, 2), (-2.0, 0)):
        v = init.sparse_(ember.empty(4, 3), sparsity).numpy()
        np.testing.assert_array_equal((v == 0).sum(axis=0), zeros)
