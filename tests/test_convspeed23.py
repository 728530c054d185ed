"""convspeed23: the dilation split only where its phase outputs are at least 8x8 (smaller ones run
the unsplit engines), and batch_norm's forward normalising (image, channel) planes in memory order.
Values against the NumPy reference and PyTorch, 1 vs 2 threads bit-equality, float64 gradcheck,
and the argument errors of both paths."""

import numpy as np
import pytest
from conftest import at_threads
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F


def _conv_all(x, w, b, dy, padding, dilation):
    y = _C.conv2d_forward(x, w, b, (1, 1), padding, dilation, 1)
    return (y, *_C.conv2d_backward(dy, x, w, (1, 1), padding, dilation, 1))


# (x shape, padding, dilation): phase outputs just below 8x8 (unsplit) and at or above (split)
SPLIT_EDGE = [
    ((2, 8, 28, 28), (4, 4), (4, 4)),  # 7x7 phases: unsplit
    ((2, 8, 32, 32), (4, 4), (4, 4)),  # 8x8 phases: split
    ((1, 6, 14, 16), (2, 2), (2, 2)),  # 7x8: unsplit
    ((1, 5, 24, 27), (3, 3), (3, 3)),  # 8x9 at dilation 3: split
    ((2, 4, 16, 20), (4, 2), (2, 2)),  # padding twice the dilation on one axis: 10x10, split
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", SPLIT_EDGE)
def test_dilation_split_edge_vs_numpy_and_threads(cfg, dtype):
    xs, padding, dilation = cfg
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal((6, xs[1], 3, 3)) / np.sqrt(9 * xs[1])).astype(dtype)
    b = rng.standard_normal(6).astype(dtype)
    y_r = conv2d_ref(x, w, b, (1, 1), padding, dilation)
    dy = rng.standard_normal(y_r.shape).astype(dtype)
    refs = (y_r, *conv2d_backward_ref(dy, x, w, (1, 1), padding, dilation))
    outs = []
    for nt in (1, 2):
        with at_threads(nt):
            outs.append(_conv_all(x, w, b, dy, padding, dilation))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for got, ref in zip(outs[0], refs):
        np.testing.assert_allclose(got, ref, **tol)
    for a, c in zip(outs[0][:2], outs[1][:2]):  # y and dx: the same bits on 1 and 2 threads
        np.testing.assert_array_equal(a, c)


def test_dilation_4_vs_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 16, 28, 28)).astype(np.float32)
    w = (rng.standard_normal((16, 16, 3, 3)) / 12).astype(np.float32)
    y = F.conv2d(ember.tensor(x, requires_grad=True), ember.tensor(w), None, 1, 4, 4)
    ty = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, 1, 4, 4)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("hw", [(14, 14), (16, 16)])  # 7x7 phases (unsplit), 8x8 (split)
def test_dilated_gradcheck_float64(hw):
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((1, 2, *hw)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(2), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 2, 2), (x, w, b))


def test_dilated_kernel_too_large_errors():
    x, w = np.ones((1, 2, 8, 8), np.float32), np.ones((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match="dilated kernel"):
        _C.conv2d_forward(x, w, None, (1, 1), (0, 0), (5, 5), 1)


def _bn_data(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    rm, rv = rng.standard_normal(c).astype(dtype), (rng.random(c) + 0.5).astype(dtype)
    return x, w, b, rm, rv


# S = H*W >= 160: the per-plane path (smaller planes take the channel-block path)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_planes_vs_torch_and_threads(training, dtype):
    torch = pytest.importorskip("torch")
    x, w, b, rm, rv = _bn_data((3, 5, 13, 14), dtype)
    outs = []
    for nt in (1, 2):
        rm_e, rv_e = rm.copy(), rv.copy()
        with at_threads(nt):
            outs.append(
                (*_C.batch_norm_forward(x, w, b, rm_e, rv_e, training, 0.1, 1e-5), rm_e, rv_e)
            )
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    ty = torch.nn.functional.batch_norm(
        torch.from_numpy(x), trm, trv, torch.from_numpy(w), torch.from_numpy(b), training, 0.1, 1e-5
    )
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    y, mean, invstd, rm_e, rv_e = outs[0]
    np.testing.assert_allclose(y, ty.numpy(), **tol)
    np.testing.assert_allclose(rm_e, trm.numpy(), **tol)
    np.testing.assert_allclose(rv_e, trv.numpy(), **tol)
    if not training:
        np.testing.assert_allclose(mean, rm, **tol)
        np.testing.assert_allclose(invstd, 1 / np.sqrt(rv.astype(np.float64) + 1e-5), **tol)
    for a, c in zip(*outs):
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_planes_gradcheck_float64(training):
    x, w, b, rm, rv = _bn_data((2, 2, 12, 14), np.float64, seed=3)
    xt, wt, bt = (ember.tensor(a, requires_grad=True) for a in (x, w, b))

    def f(x, w, b):
        return F.batch_norm(x, ember.tensor(rm.copy()), ember.tensor(rv.copy()), w, b, training)

    assert gradcheck(f, (xt, wt, bt))


def test_batch_norm_planes_errors():
    x = np.ones((2, 3, 13, 13), np.float32)
    with pytest.raises(ValueError, match="running_mean and running_var are required"):
        _C.batch_norm_forward(x, None, None, None, None, False, 0.1, 1e-5)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\), got \(4,\)"):
        _C.batch_norm_forward(x, np.ones(4, np.float32), None, None, None, True, 0.1, 1e-5)


# 1x7 / 7x1 at 17x17 (Inception): the 1x7's shift-engine junk (22%) now sends its forward to the
# fused engine; the 7x1 stays on the shift engine.
@pytest.mark.parametrize("k, pad", [((1, 7), (0, 3)), ((7, 1), (3, 0))])
def test_inception_1x7_vs_torch_and_threads(k, pad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 32, 17, 17)).astype(np.float32)
    w = (rng.standard_normal((24, 32, *k)) / 15).astype(np.float32)
    b = rng.standard_normal(24).astype(np.float32)
    outs = []
    for nt in (1, 2):
        with at_threads(nt):
            outs.append(_C.conv2d_forward(x, w, b, (1, 1), pad, (1, 1), 1))
    np.testing.assert_array_equal(outs[0], outs[1])
    ty = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), 1, pad)
    np.testing.assert_allclose(outs[0], ty.numpy(), rtol=1e-4, atol=1e-4)


def test_inception_1x7_gradcheck_float64():
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.standard_normal((1, 16, 17, 17)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((4, 16, 1, 7)) / 10, requires_grad=True)
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, 1, (0, 3)), (x, w))
