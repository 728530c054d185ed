"""convspeed40: conv3d's direct forward skips the taps that read only padding (positions ordered
by their in-bounds tap ranges) and serves the graph too (its gradients through the depth-tap
composition); the 1x1 conv2d path adds its bias per column block. Values against PyTorch at 1
and 2 threads (odd sizes, batch 1, padding larger than the kernel reach, dilation, strides that
do not divide the size), gradients by finite differences in float64, double backward too."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}

# (N, C, (D, H, W), O, kernel, stride, padding, dilation)
CASES = [
    (1, 3, (7, 9, 5), 17, (3, 2, 3), (2, 3, 1), (1, 0, 2), (1, 2, 1)),
    (2, 5, (6, 6, 6), 40, (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1)),
    (3, 4, (5, 8, 7), 33, (2, 3, 1), (3, 1, 2), (0, 2, 1), (2, 1, 1)),
    (2, 3, (4, 5, 6), 16, (3, 3, 3), (2, 2, 3), (3, 2, 4), (1, 1, 1)),  # all-padding positions
    (1, 2, (9, 7, 11), 20, (3, 3, 3), (2, 2, 2), (2, 1, 2), (2, 3, 2)),
]


def _data(case, dtype, seed=40):
    n, c, spatial, o, k, *_ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *spatial)).astype(dtype)
    w = (rng.standard_normal((o, c, *k)) / np.sqrt(c * np.prod(k))).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_conv3d_direct_forward_and_graph_match_torch(case, dtype, threads):
    *_, s, p, d = case
    x, w, b = _data(case, dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv3d(xt, wt, bt, s, p, d)
    g = np.random.default_rng(1).standard_normal(yt.shape).astype(dtype)
    yt.backward(torch.from_numpy(g))
    with at_threads(threads):
        with ember.no_grad():
            y0 = F.conv3d(ember.tensor(x), ember.tensor(w), ember.tensor(b), s, p, d).numpy()
        xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv3d(xe, we, be, s, p, d)
        y.backward(ember.tensor(g))
    for got, want in [(y0, yt), (y.detach().numpy(), yt), (xe.grad.numpy(), xt.grad)]:
        np.testing.assert_allclose(got, want.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(be.grad.numpy(), bt.grad.numpy(), **TOL[dtype])


def test_conv3d_graph_only_some_inputs_require_grad():
    case = CASES[1]
    *_, s, p, d = case
    x, w, b = _data(case, np.float64, seed=3)
    xt, wt = torch.from_numpy(x), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv3d(xt, wt, torch.from_numpy(b), s, p, d).sum().backward()
    we = ember.tensor(w, requires_grad=True)
    y = F.conv3d(ember.tensor(x), we, ember.tensor(b), s, p, d)
    y.sum().backward()
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    xe = ember.tensor(x, requires_grad=True)
    F.conv3d(xe, ember.tensor(w), None, s, p, d).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.conv3d(xt, torch.from_numpy(w), None, s, p, d).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)


def _t(a):
    return ember.tensor(a, requires_grad=True)


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=2, padding=1),
        dict(stride=(2, 1, 3), padding=(1, 0, 2), dilation=(1, 2, 1)),
        dict(stride=3, padding=2),
    ],
)
def test_conv3d_direct_gradcheck_float64(kw):
    rng = np.random.default_rng(8)
    x = _t(rng.standard_normal((1, 2, 5, 6, 5)))
    w = _t(rng.standard_normal((16, 2, 3, 2, 3)))
    b = _t(rng.standard_normal(16))
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, **kw), (x, w, b))


def test_conv3d_direct_gradgradcheck_float64():
    rng = np.random.default_rng(9)
    x = _t(rng.standard_normal((1, 1, 4, 3, 5)))
    w = _t(rng.standard_normal((16, 1, 2, 2, 3)))
    b = _t(rng.standard_normal(16))
    f = lambda x, w, b: F.conv3d(x, w, b, stride=2, padding=1)  # noqa: E731
    assert gradgradcheck(f, (x, w, b))


def test_conv3d_direct_nonfinite_weight_in_graph_as_without():
    # an inf weight meets the zero padding: the graph's forward treats those taps as the
    # no-graph forward does (tests/test_conv*.py pin that against torch), and finite
    # outputs match torch's
    rng = np.random.default_rng(11)
    x = rng.standard_normal((1, 2, 5, 5, 5)).astype(np.float32)
    w = rng.standard_normal((16, 2, 3, 3, 3)).astype(np.float32)
    w[3, 1, 0, 0, 0] = np.inf
    y = F.conv3d(_t(x), _t(w), None, 2, 1).detach().numpy()
    with ember.no_grad():
        y0 = F.conv3d(ember.tensor(x), ember.tensor(w), None, 2, 1).numpy()
    np.testing.assert_array_equal(y, y0)
    t = torch.nn.functional.conv3d(torch.from_numpy(x), torch.from_numpy(w), None, 2, 1).numpy()
    ok = np.isfinite(t)
    np.testing.assert_allclose(y[ok], t[ok], rtol=1e-4, atol=1e-4)


# (N, C, spatial, O): 1x1 convolutions with a bias, more and fewer positions than a block
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape", [(2, 32, (16, 16, 16), 64), (3, 5, (7, 9, 11), 3), (1, 7, (3, 300, 5), 600)]
)
def test_conv_1x1_bias_matches_torch(shape, dtype, threads):
    n, c, spatial, o = shape
    rng = np.random.default_rng(12)
    x = rng.standard_normal((n, c, *spatial)).astype(dtype)
    w = rng.standard_normal((o, c, 1, 1, 1)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    with at_threads(threads):
        y3 = F.conv3d(ember.tensor(x), ember.tensor(w), ember.tensor(b)).numpy()
        x2, w2 = x.reshape(n, c, spatial[0] * spatial[1], spatial[2]), w[..., 0]
        y2 = F.conv2d(ember.tensor(x2), ember.tensor(w2), ember.tensor(b)).numpy()
    t = torch.nn.functional.conv3d(*(torch.from_numpy(a) for a in (x, w, b)))
    np.testing.assert_allclose(y3, t.numpy(), **TOL[dtype])
    np.testing.assert_allclose(y2, t.numpy().reshape(y2.shape), **TOL[dtype])
