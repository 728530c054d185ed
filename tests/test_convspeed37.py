"""Round 37's conv2d engine against torch and float64 gradcheck: the grouped direct weight
gradient (groups of at most 16 output channels, stride 1 or strided through stride phases of the
padded input). Odd sizes, asymmetric padding, non-divisible strides, strides per axis, dilation,
batch 1, channels per group not a multiple of 8, the weight gradient alone and with dx, 2
threads, non-finite input."""

import numpy as np
import pytest
from conftest import at_threads
from test_convspeed36 import GROUPED as GROUPED36

import ember
import ember.nn.functional as F
from ember import _C
from ember.autograd import gradcheck

# (x shape, w shape, stride, padding (t, b, l, r), dilation, groups): at most 16 output
# channels per group: convspeed36's cases and two more
GROUPED = (
    GROUPED36[:1]
    + [((2, 32, 12, 12), (32, 8, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 4)]  # stride 1
    + GROUPED36[1:]
    + [((2, 34, 10, 9), (2, 17, 3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 2)]  # 17 channels, 1 output
)


def _draw(xs, ws, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    return x, w


def _dy(xs, ws, stride, pad, dil, groups, dtype, seed=1):
    y_shape = _C.conv2d_output_size(xs, ws, stride, pad, dil, groups)
    return np.random.default_rng(seed).standard_normal((xs[0], ws[0], *y_shape)).astype(dtype)


def _torch_grads(x, w, stride, pad, dil, groups, dy):
    """torch's (dx, dw) in float64, padding (t, b, l, r) by F.pad."""
    torch = pytest.importorskip("torch")
    xt, wt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w))
    t, bo, lft, r = pad
    y = torch.nn.functional.conv2d(
        torch.nn.functional.pad(xt, (lft, r, t, bo)), wt, None, stride, 0, dil, groups
    )
    y.backward(torch.tensor(dy, dtype=torch.float64))
    return xt.grad.numpy(), wt.grad.numpy()


@pytest.mark.parametrize("case", GROUPED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grouped_weight_grad_matches_torch(case, dtype):
    xs, ws, stride, pad, dil, groups = case
    x, w = _draw(xs, ws, dtype)
    dy = _dy(xs, ws, stride, pad, dil, groups, dtype)
    rdx, rdw = _torch_grads(x, w, stride, pad, dil, groups, dy)
    dx, dw, _ = _C.conv2d_backward(dy, x, w, stride, pad, dil, groups, need_bias=False)
    only_dw = _C.conv2d_backward(dy, x, w, stride, pad, dil, groups, need_input=False)[1]
    tol = 1e-10 if dtype == np.float64 else 2e-4
    assert dw.dtype == dtype and dw.shape == rdw.shape
    np.testing.assert_allclose(dw, rdw, rtol=tol, atol=tol)
    np.testing.assert_allclose(only_dw, rdw, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx, rdx, rtol=tol, atol=tol)


@pytest.mark.parametrize("case", GROUPED[:3] + GROUPED[5:6])
def test_grouped_weight_grad_two_threads(case):
    xs, ws, stride, pad, dil, groups = case
    x, w = _draw(xs, ws, np.float64, seed=2)
    dy = _dy(xs, ws, stride, pad, dil, groups, np.float64, seed=3)
    rdx, rdw = _torch_grads(x, w, stride, pad, dil, groups, dy)
    with at_threads(2):
        dx, dw, _ = _C.conv2d_backward(dy, x, w, stride, pad, dil, groups)
    np.testing.assert_allclose(dw, rdw, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(dx, rdx, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_grouped_weight_grad_non_finite_input_as_torch(value):
    # every product is one of the convolution's (no junk zeros): inf and NaN land where torch's do
    torch = pytest.importorskip("torch")
    xs, ws, stride, pad, groups = (2, 16, 9, 10), (16, 4, 3, 3), (2, 2), (1, 1, 1, 1), 4
    x, w = _draw(xs, ws, np.float32, seed=4)
    x[1, 5, 4, 3] = value
    dy = np.abs(_dy(xs, ws, stride, pad, (1, 1), groups, np.float32, seed=5))
    dw = _C.conv2d_backward(dy, x, w, stride, pad, (1, 1), groups, need_input=False)[1]
    ref = torch.ops.aten.convolution_backward(
        *map(torch.from_numpy, (dy, x, w)),
        None,
        stride,
        (1, 1),
        (1, 1),
        False,
        (0, 0),
        groups,
        (False, True, False),
    )[1].numpy()
    np.testing.assert_array_equal(np.isnan(dw), np.isnan(ref))
    np.testing.assert_array_equal(np.isposinf(dw), np.isposinf(ref))
    np.testing.assert_array_equal(np.isneginf(dw), np.isneginf(ref))
    m = np.isfinite(ref)
    np.testing.assert_allclose(dw[m], ref[m], rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize(
    "xs, ws, stride, padding, dilation, groups",
    [
        ((1, 4, 7, 6), (6, 2, 3, 3), (2, 2), 1, 1, 2),
        ((2, 6, 5, 8), (6, 2, 3, 2), (2, 3), (0, 1), (1, 2), 3),
        ((1, 4, 9, 5), (4, 1, 3, 3), (3, 2), 2, 2, 4),
        ((1, 6, 6, 7), (9, 2, 2, 2), 1, (1, 0), 1, 3),
    ],
)
def test_grouped_weight_grad_gradcheck(xs, ws, stride, padding, dilation, groups):
    x, w = _draw(xs, ws, np.float64, seed=6)
    b = np.random.default_rng(7).standard_normal(ws[0])
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), args, atol=1e-6
    )
