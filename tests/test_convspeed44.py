"""Round 44's convolution paths: the depthwise engine's unrolled tap sums for 3, 5 and 7 taps
(conv1d's depthwise layers, 1xk / kx1 kernels, stride phases of 3 or 5 taps), straight into
the output rows instead of a flat run through a scratch buffer."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# (the `threads` fixture of conftest.py restores the thread count after each test)


def _check(fn, x, w, b, g, kw, tol):
    """ember's fn(x, w, b, **kw) and its gradients (output gradient g) against torch's."""
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    y = getattr(F, fn)(xe, we, be, **kw)
    y.backward(g)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = getattr(torch.nn.functional, fn)(xt, wt, bt, **kw)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    for e, t in ((xe, xt), (we, wt), (be, bt)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)
    return y.numpy(), xe.grad.numpy(), we.grad.numpy()


# depthwise conv1d: k 3/5/7, lengths below, at and past a vector (16/8 values) and odd; padding,
# 'same', 'reflect'/'circular' modules below; stride and dilation; channel multiplier 2
CONV1D = [
    ((4, 8, 256), (8, 1, 7), dict(padding=3, groups=8)),
    ((3, 6, 37), (6, 1, 5), dict(padding=2, groups=6)),
    ((2, 5, 40), (5, 1, 3), dict(padding=1, groups=5)),
    ((2, 4, 9), (4, 1, 7), dict(padding="same", groups=4)),
    ((2, 4, 70), (8, 1, 7), dict(padding=3, groups=4)),
    ((2, 6, 51), (6, 1, 7), dict(padding=3, dilation=2, groups=6)),
    ((2, 6, 64), (6, 1, 5), dict(padding=2, stride=2, groups=6)),
    ((1, 3, 33), (3, 1, 7), dict(groups=3)),
]


@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs,ws,kw", CONV1D)
def test_depthwise_conv1d_matches_torch(xs, ws, kw, dtype, nt, threads):
    ember.set_num_threads(nt)
    rng = np.random.default_rng(44)
    x, w, b = _rand(rng, xs, dtype), _rand(rng, ws, dtype), _rand(rng, (ws[0],), dtype)
    with torch.no_grad():
        ylen = torch.nn.functional.conv1d(torch.from_numpy(x), torch.from_numpy(w), **kw).shape
    g = _rand(rng, ylen, dtype)
    _check("conv1d", x, w, b, g, kw, 1e-4 if dtype == np.float32 else 1e-10)


# depthwise conv2d whose tap count (or a stride phase's) is 3, 5 or 7: 1xk, kx1, 3x3 at stride
# (1, 2) (input-gradient phases of 6 and 3 taps), dilated 1x3
CONV2D = [
    ((2, 8, 9, 40), (8, 1, 1, 7), dict(padding=(0, 3), groups=8)),
    ((2, 8, 40, 9), (8, 1, 7, 1), dict(padding=(3, 0), groups=8)),
    ((2, 4, 12, 35), (4, 1, 1, 5), dict(padding=(0, 2), groups=4)),
    ((2, 4, 11, 38), (4, 1, 3, 3), dict(padding=1, stride=(1, 2), groups=4)),
    ((2, 4, 14, 36), (4, 1, 1, 3), dict(padding=(0, 1), groups=4, dilation=(1, 3))),
]


@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize("xs,ws,kw", CONV2D)
def test_depthwise_conv2d_few_taps_matches_torch(xs, ws, kw, nt, threads):
    ember.set_num_threads(nt)
    rng = np.random.default_rng(4)
    x, w, b = (_rand(rng, s, np.float64) for s in (xs, ws, (ws[0],)))
    with torch.no_grad():
        shape = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), **kw).shape
    _check("conv2d", x, w, b, _rand(rng, shape, np.float64), kw, 1e-10)


def test_depthwise_conv1d_same_bits_at_any_thread_count(threads):
    rng = np.random.default_rng(2)
    x, w, b = (_rand(rng, s, np.float32) for s in ((8, 16, 300), (16, 1, 7), (16,)))
    g = _rand(rng, (8, 16, 300), np.float32)
    out = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        out.append(_check("conv1d", x, w, b, g, dict(padding=3, groups=16), 1e-4))
    for a, c in zip(*out):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("mode", ["reflect", "circular"])
def test_depthwise_conv1d_padding_modes_match_torch(mode):
    rng = np.random.default_rng(8)
    m = ember.nn.Conv1d(6, 6, 7, padding=3, groups=6, padding_mode=mode).double()
    mt = torch.nn.Conv1d(6, 6, 7, padding=3, groups=6, padding_mode=mode).double()
    m.load_state_dict({k: v.numpy() for k, v in mt.state_dict().items()})
    x = _rand(rng, (3, 6, 29), np.float64)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = m(xe), mt(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = _rand(rng, y.shape, np.float64)
    y.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(
        m.weight.grad.numpy(), mt.weight.grad.numpy(), rtol=1e-10, atol=1e-10
    )


@pytest.mark.parametrize("k,kw", [(7, dict(padding=3)), (5, dict(stride=2, padding=1)), (3, {})])
def test_depthwise_conv1d_gradcheck(k, kw):
    rng = np.random.default_rng(6)
    x = ember.tensor(_rand(rng, (2, 3, 20), np.float64), requires_grad=True)
    w = ember.tensor(_rand(rng, (3, 1, k), np.float64), requires_grad=True)
    b = ember.tensor(_rand(rng, (3,), np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv1d(x, w, b, groups=3, **kw), (x, w, b))


def test_depthwise_conv1d_refusals():
    x, w = ember.zeros(2, 4, 10), ember.zeros(4, 1, 7)
    with pytest.raises(ValueError, match="channels"):
        F.conv1d(ember.zeros(2, 5, 10), w, groups=4)
    with pytest.raises(ValueError, match=r"kernel|larger|size"):
        F.conv1d(ember.zeros(2, 4, 5), w, groups=4)
    with pytest.raises(ValueError, match="groups"):
        F.conv1d(x, w, groups=0)
