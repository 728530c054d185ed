"""PyTorch parity at edge values: non-finite rows, huge magnitudes, wide QR, sparse embeddings."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

INF, NAN = np.inf, np.nan
# rows a reduction over the last dim meets at the edges of the float range
EDGE_ROWS = [
    [-INF, -INF, -INF],
    [INF, 1.0, 2.0],
    [INF, INF, 1.0],
    [NAN, 1.0, 2.0],
    [NAN, INF, -INF],
    [INF, -INF, 0.0],
    [-INF, 0.0, 1.0],
    [1e308, 1e308, 0.0],
]


def _run(lib, fn, x, w=None):
    """fn(x) and d(sum(fn(x) * w))/dx in library lib, as NumPy arrays."""
    t = lib.tensor(x.copy(), requires_grad=True)
    y = fn(t)
    w = np.ones(y.shape) if w is None else w
    (y * lib.tensor(w)).sum().backward()
    return y.detach().numpy(), t.grad.numpy()


def _assert_same(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300, equal_nan=True)


@pytest.mark.filterwarnings("ignore:overflow|invalid:RuntimeWarning")
@pytest.mark.parametrize("row", EDGE_ROWS, ids=str)
def test_logsumexp_edge_rows_match_torch(row):
    torch = pytest.importorskip("torch")
    x = np.array([row, [0.5, -1.0, 2.0]])
    ye, ge = _run(ember, lambda t: ember.logsumexp(t, 1), x)
    yt, gt = _run(torch, lambda t: torch.logsumexp(t, 1), x)
    _assert_same(ye, yt)
    _assert_same(ge, gt)


def test_logsumexp_gradient_is_nan_where_result_is_not_finite():
    x = np.array([[-INF, -INF, -INF], [INF, 1.0, 2.0], [NAN, 1.0, 2.0], [-INF, 0.0, 1.0]])
    with np.errstate(invalid="ignore", over="ignore"):
        y, g = _run(ember, lambda t: ember.logsumexp(t, 1), x)
    np.testing.assert_array_equal(y[:3], [-INF, INF, NAN])
    # exp(x - lse): -inf - -inf, inf - inf and NaN are NaN, finite - inf is 0
    np.testing.assert_array_equal(np.isnan(g[:3]), [[1, 1, 1], [1, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(g[1, 1:], [0.0, 0.0])
    e = np.exp([0.0, 1.0])
    np.testing.assert_allclose(g[3], [0.0, *(e / e.sum())], rtol=1e-14)
    t = ember.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda a: ember.logsumexp(a, 1), [t])


@pytest.mark.filterwarnings("ignore:overflow|invalid:RuntimeWarning")
@pytest.mark.parametrize("row", EDGE_ROWS, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_edge_rows_match_torch(row, name):
    torch = pytest.importorskip("torch")
    x = np.array([row, [0.5, -1.0, 2.0]])
    w = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    ye, ge = _run(ember, lambda t: getattr(F, name)(t, 1), x, w)
    yt, gt = _run(torch, lambda t: getattr(torch.nn.functional, name)(t, 1), x, w)
    _assert_same(ye, yt)
    _assert_same(ge, gt)
