"""Round 36's conv2d engines against torch and float64 gradcheck: the grouped direct engine on
strided convolutions (forward through stride phases of the padded planes; dx per dx stride phase)
and the dilation mosaic's gradients (dilated 3x3 convolutions whose phases are under 8x8, dy tiled
into one plane that reaches Winograd). Odd sizes, asymmetric padding, non-divisible strides,
strides per axis, dilation, batch 1, channels per group not a multiple of 8."""

import numpy as np
import pytest
from conftest import at_threads, winograd

import ember
import ember.nn.functional as F
from ember import _C
from ember.autograd import gradcheck

# (x shape, w shape, stride, padding (t, b, l, r), dilation, groups): groups of at most 16
# channels, so the grouped direct engine takes the forward and dx
GROUPED = [
    ((2, 64, 28, 28), (64, 16, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 4),  # ResNeXt stride 2
    ((1, 32, 15, 17), (48, 8, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 4),
    ((3, 12, 13, 11), (12, 3, 3, 3), (2, 1), (0, 2, 1, 0), (1, 1), 4),
    ((2, 12, 11, 13), (18, 2, 3, 3), (1, 2), (1, 1, 1, 1), (2, 1), 6),
    ((2, 16, 20, 19), (16, 4, 5, 5), (3, 3), (2, 1, 0, 2), (1, 1), 4),
    ((1, 8, 17, 16), (24, 4, 3, 3), (2, 2), (2, 2, 2, 2), (2, 2), 2),
    ((2, 16, 9, 9), (40, 2, 4, 4), (2, 2), (1, 1, 1, 1), (1, 1), 8),
    ((1, 6, 7, 8), (6, 3, 2, 3), (2, 3), (0, 1, 2, 0), (1, 2), 2),
    ((2, 20, 1, 40), (20, 10, 1, 3), (1, 2), (0, 0, 1, 1), (1, 1), 2),  # one row
    ((1, 8, 5, 6), (8, 4, 3, 3), (4, 4), (0, 0, 0, 0), (1, 1), 2),  # stride past the kernel
    ((2, 48, 33, 32), (48, 16, 3, 3), (2, 2), (0, 1, 0, 1), (1, 1), 3),  # 'same'-like, TF style
]


def _draw(xs, ws, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    return x, w, rng.standard_normal(ws[0]).astype(dtype)


def _torch_conv(x, w, b, stride, pad, dil, groups, dy):
    """torch's (y, dx, dw, db) in float64, padding (t, b, l, r) by F.pad."""
    torch = pytest.importorskip("torch")
    xt, wt, bt = (torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (x, w, b))
    t, bo, lft, r = pad
    y = torch.nn.functional.conv2d(
        torch.nn.functional.pad(xt, (lft, r, t, bo)), wt, bt, stride, 0, dil, groups
    )
    y.backward(torch.tensor(dy, dtype=torch.float64))
    return [a.detach().numpy() for a in (y, xt.grad, wt.grad, bt.grad)]


def _ember_conv(x, w, b, stride, pad, dil, groups, dy):
    y = _C.conv2d_forward(x, w, b, stride, pad, dil, groups)
    return [y, *_C.conv2d_backward(dy, x, w, stride, pad, dil, groups)]


@pytest.mark.parametrize("case", GROUPED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_grouped_matches_torch(case, dtype):
    xs, ws, stride, pad, dil, groups = case
    x, w, b = _draw(xs, ws, dtype)
    y_shape = _C.conv2d_output_size(xs, ws, stride, pad, dil, groups)
    dy = np.random.default_rng(1).standard_normal((xs[0], ws[0], *y_shape)).astype(dtype)
    ref = _torch_conv(x, w, b, stride, pad, dil, groups, dy)
    got = _ember_conv(x, w, b, stride, pad, dil, groups, dy)
    tol = 1e-10 if dtype == np.float64 else 2e-4
    for name, a, r in zip(("y", "dx", "dw", "db"), got, ref):
        assert a.shape == r.shape, name
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol, err_msg=name)


@pytest.mark.parametrize("case", GROUPED[:2] + GROUPED[4:5])
def test_strided_grouped_two_threads(case):
    xs, ws, stride, pad, dil, groups = case
    x, w, b = _draw(xs, ws, np.float64, seed=2)
    y_shape = _C.conv2d_output_size(xs, ws, stride, pad, dil, groups)
    dy = np.random.default_rng(3).standard_normal((xs[0], ws[0], *y_shape))
    ref = _torch_conv(x, w, b, stride, pad, dil, groups, dy)
    with at_threads(2):
        got = _ember_conv(x, w, b, stride, pad, dil, groups, dy)
    for a, r in zip(got, ref):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "xs, ws, stride, padding, dilation, groups",
    [
        ((1, 4, 7, 6), (6, 2, 3, 3), (2, 2), 1, 1, 2),
        ((2, 6, 5, 8), (6, 2, 3, 2), (2, 3), (0, 1), (1, 2), 3),
        ((1, 4, 9, 5), (4, 1, 3, 3), (3, 2), 2, 2, 4),
    ],
)
def test_strided_grouped_gradcheck(xs, ws, stride, padding, dilation, groups):
    x, w, b = _draw(xs, ws, np.float64, seed=4)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(
        lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), args, atol=1e-6
    )


# Dilated 3x3 convolutions that run the dilation mosaic (phases under 8x8): H, W and the
# padding multiples of the dilation
MOSAIC = [
    ((2, 16, 28, 28), (16, 16, 3, 3), 4, 4),
    ((1, 8, 12, 8), (12, 8, 3, 3), 2, 2),
    ((2, 8, 18, 12), (8, 8, 3, 3), 3, 3),
    ((1, 8, 16, 16), (8, 8, 3, 3), 4, 0),
    ((3, 6, 14, 21), (5, 6, 3, 3), 7, 7),
]


@pytest.mark.parametrize("case", MOSAIC)
@pytest.mark.parametrize("mode", ["always", "auto"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dilation_mosaic_gradients_match_torch(case, mode, dtype):
    xs, ws, dil, p = case
    x, w, b = _draw(xs, ws, dtype, seed=5)
    y_shape = _C.conv2d_output_size(xs, ws, (1, 1), (p, p), (dil, dil), 1)
    dy = np.random.default_rng(6).standard_normal((xs[0], ws[0], *y_shape)).astype(dtype)
    ref = _torch_conv(x, w, b, (1, 1), (p, p, p, p), (dil, dil), 1, dy)
    with winograd(mode):
        got = _ember_conv(x, w, b, (1, 1), (p, p), (dil, dil), 1, dy)
        only_dx = _C.conv2d_backward(dy, x, w, (1, 1), (p, p), (dil, dil), 1, need_weight=False)
        only_dw = _C.conv2d_backward(dy, x, w, (1, 1), (p, p), (dil, dil), 1, need_input=False)
    tol = 1e-10 if dtype == np.float64 else 3e-4
    for name, a, r in zip(("y", "dx", "dw", "db"), got, ref):
        np.testing.assert_allclose(a, r, rtol=tol, atol=tol, err_msg=name)
    np.testing.assert_allclose(only_dx[0], ref[1], rtol=tol, atol=tol)
    np.testing.assert_allclose(only_dw[1], ref[2], rtol=tol, atol=tol)


def test_dilation_mosaic_nonfinite_dy_matches_torch():
    # Winograd refuses non-finite operands: the mosaic's gradients then take a direct engine
    xs, ws = (1, 8, 16, 16), (8, 8, 3, 3)
    x, w, b = _draw(xs, ws, np.float64, seed=7)
    dy = np.random.default_rng(8).standard_normal((1, 8, 16, 16))
    dy[0, 3, 5, 6] = np.inf
    ref = _torch_conv(x, w, b, (1, 1), (4, 4, 4, 4), (4, 4), 1, dy)
    with winograd("always"):
        got = _ember_conv(x, w, b, (1, 1), (4, 4), (4, 4), 1, dy)
    for a, r in zip(got[1:3], ref[1:3]):
        np.testing.assert_allclose(a, r, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("where", ["x", "w", "dy"])
@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_dilation_mosaic_non_finite_as_direct(where, value):
    # a non-finite operand keeps the gradients off the mosaic (an inf times one of its junk
    # zeros would be NaN): the results, inf and NaN positions included, are the direct engines'
    x, w, b = _draw((2, 8, 16, 16), (8, 8, 3, 3), np.float32, seed=10)
    dy = np.random.default_rng(11).standard_normal((2, 8, 16, 16)).astype(np.float32)
    {"x": x, "w": w, "dy": dy}[where].reshape(-1)[5] = value
    with winograd("always"):
        got = _ember_conv(x, w, b, (1, 1), (4, 4), (4, 4), 1, dy)
    with winograd("never"):
        ref = _ember_conv(x, w, b, (1, 1), (4, 4), (4, 4), 1, dy)
    for a, c in zip(got[1:3], ref[1:3]):
        np.testing.assert_array_equal(np.isnan(a), np.isnan(c))
        np.testing.assert_array_equal(np.isinf(a), np.isinf(c))
        m = np.isfinite(c)
        np.testing.assert_allclose(a[m], c[m], rtol=1e-4, atol=1e-4)


def test_dilation_mosaic_gradcheck():
    x, w, b = _draw((1, 3, 8, 8), (4, 3, 3, 3), np.float64, seed=9)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    with winograd("always"):
        assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 2, 2), args, atol=1e-6)
