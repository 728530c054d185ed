"""The batch engine's weight gradient routed on its own (conv2d_set_batch_dw): ResNet's last stage
(small output planes, a large dw) takes dw as one GEMM per block of images. Against the NumPy
reference and PyTorch, at the shapes the automatic rule picks and, forced, at edge shapes; thread
independence; float64 gradcheck through the forced path."""

import numpy as np
import pytest
from conftest import at_threads, swapped
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def batch_dw(mode):
    return swapped(_C.conv2d_set_batch_dw, mode)


def _data(xs, O, k, groups, dtype, stride, padding, dilation, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal((O, xs[1] // groups) + k) / np.sqrt(xs[1] * k[0] * k[1])).astype(dtype)
    y = conv2d_ref(x, w, None, stride, padding, dilation, groups)
    dy = rng.standard_normal(y.shape).astype(dtype)
    return x, w, dy


# (x shape, out channels, kernel, stride, padding, dilation, groups); forced 'always'
EDGE = [
    ((2, 3, 5, 5), 4, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # the smallest batch it takes
    ((3, 5, 9, 7), 6, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # odd sizes
    ((2, 4, 11, 10), 3, (3, 2), (2, 3), (1, 0), (1, 2), 1),  # stride and dilation combos
    ((2, 4, 8, 8), 5, (5, 5), (1, 1), (2, 2), (1, 1), 1),  # 5x5 'same'
    ((3, 6, 7, 7), 4, (3, 3), (2, 2), (0, 0), (1, 1), 1),  # no padding, stride 2
    ((2, 4, 6, 9), 8, (1, 3), (1, 1), (0, 1), (1, 1), 1),  # conv1d-like
    ((2, 4, 6, 6), 6, (3, 3), (1, 1), (1, 1), (1, 1), 2),  # groups: not taken (falls back)
    ((1, 4, 6, 6), 6, (3, 3), (1, 1), (1, 1), (1, 1), 1),  # batch 1: not taken (falls back)
    ((4, 8, 6, 6), 8, (1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1 stride 1: not taken
    ((4, 8, 6, 6), 8, (1, 1), (2, 2), (0, 0), (1, 1), 1),  # 1x1 stride 2: taken
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", EDGE)
def test_forced_vs_numpy(cfg, dtype):
    xs, O, k, stride, padding, dilation, groups = cfg
    x, w, dy = _data(xs, O, k, groups, dtype, stride, padding, dilation)
    dx_r, dw_r, db_r = conv2d_backward_ref(dy, x, w, stride, padding, dilation, groups)
    for nt in (1, 2):
        with batch_dw("always"), at_threads(nt):
            dx, dw, db = _C.conv2d_backward(dy, x, w, stride, padding, dilation, groups)
            dw_only = _C.conv2d_backward(dy, x, w, stride, padding, dilation, groups, False)[1]
        np.testing.assert_allclose(dx, dx_r, **TOL[dtype])
        np.testing.assert_allclose(dw, dw_r, **TOL[dtype])
        np.testing.assert_allclose(db, db_r, **TOL[dtype])
        np.testing.assert_array_equal(dw_only, dw)


# Shapes the automatic rule gives the batch engine's dw: ResNet's last stage (512 -> 512 at 7x7
# and its stride-2 entry 256 -> 512 from 14x14), at batch 2; float64 from fewer channels.
AUTO = [
    ((2, 512, 7, 7), 512, (1, 1), np.float32),
    ((2, 256, 14, 14), 512, (2, 2), np.float32),
    ((2, 128, 8, 8), 512, (1, 1), np.float64),
]


@pytest.mark.parametrize("xs, O, stride, dtype", AUTO)
def test_auto_shapes_vs_torch(xs, O, stride, dtype):
    torch = pytest.importorskip("torch")
    x, w, dy = _data(xs, O, (3, 3), 1, dtype, stride, (1, 1), (1, 1), seed=3)
    xt, wt = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w))
    yt = torch.nn.functional.conv2d(xt, wt, None, stride, 1)
    yt.backward(torch.tensor(dy.astype(np.float64)))
    got = {}
    for mode in ("auto", "never"):
        for nt in (1, 2):
            with batch_dw(mode), at_threads(nt):
                got[mode, nt] = _C.conv2d_backward(dy, x, w, stride, (1, 1), need_bias=False)
    np.testing.assert_array_equal(got["auto", 1][0], got["never", 1][0])  # dx: another engine
    tol = dict(rtol=1e-4, atol=2e-4) if dtype == np.float32 else TOL[dtype]
    for nt in (1, 2):
        dx, dw, _ = got["auto", nt]
        np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
        np.testing.assert_allclose(dw, wt.grad.numpy(), **tol)
        np.testing.assert_allclose(got["never", nt][1], wt.grad.numpy(), **tol)
    # deterministic: the same bits again
    with at_threads(2):
        again = _C.conv2d_backward(dy, x, w, stride, (1, 1), need_bias=False)
    np.testing.assert_array_equal(again[1], got["auto", 2][1])


@pytest.mark.parametrize("stride, padding, dilation", [(1, 1, 1), (2, 0, 1), (1, 2, 2)])
def test_gradcheck_forced(stride, padding, dilation):
    rng = np.random.default_rng(5)
    x, w, b = (
        ember.tensor(a, requires_grad=True)
        for a in (
            rng.standard_normal((3, 2, 6, 5)),
            rng.standard_normal((3, 2, 3, 3)) * 0.3,
            rng.standard_normal(3),
        )
    )
    with batch_dw("always"):
        assert gradcheck(
            lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation),
            [x, w, b],
        )


def test_bad_mode():
    with pytest.raises(ValueError, match="conv2d_set_batch_dw"):
        _C.conv2d_set_batch_dw("sometimes")
    assert _C.conv2d_set_batch_dw("auto") == "auto"


# The grouped direct engine (G > 1, at most 16 output channels and depth 512 per group, column
# stride 1): forward, and dx as the same engine on dy (stride 1, padding within the kernel's
# reach). dw stays on the fused engine; checked here too since the same call computes it.
GROUPED = [
    ((8, 256, 28, 28), 256, (3, 3), (1, 1), (1, 1), (1, 1), 32),  # ResNeXt, flat blocks
    ((2, 12, 9, 7), 18, (3, 3), (1, 1), (1, 1), (1, 1), 3),  # odd sizes, Og = 6 (one block)
    ((3, 8, 10, 11), 12, (3, 2), (2, 1), (1, 0), (1, 2), 2),  # row stride 2: blocks per row
    ((2, 40, 6, 6), 40, (5, 5), (1, 1), (2, 2), (1, 1), 4),  # Og = 10: two blocks
    ((1, 6, 5, 40), 6, (1, 3), (1, 1), (0, 1), (1, 1), 3),  # batch 1, conv1d-like, 40 wide
    ((2, 64, 14, 14), 64, (3, 3), (1, 1), (1, 1), (1, 1), 4),  # Og = 16, 14 wide
    ((2, 6, 7, 9), 6, (3, 3), (1, 1), (3, 0), (1, 1), 2),  # padding past the reach: dx fused
    ((2, 4, 8, 8), 6, (3, 3), (1, 1), (2, 2), (2, 2), 2),  # dilation 2
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", GROUPED)
def test_grouped_direct_vs_numpy_and_torch(cfg, dtype):
    xs, O, k, stride, padding, dilation, groups = cfg
    x, w, dy = _data(xs, O, k, groups, dtype, stride, padding, dilation, seed=7)
    b = np.random.default_rng(8).standard_normal(O).astype(dtype)
    y_r = conv2d_ref(x, w, b, stride, padding, dilation, groups)
    dx_r, dw_r, db_r = conv2d_backward_ref(dy, x, w, stride, padding, dilation, groups)
    got = {}
    for nt in (1, 2):
        with at_threads(nt):
            y = _C.conv2d_forward(x, w, b, stride, padding, dilation, groups)
            got[nt] = (y,) + _C.conv2d_backward(dy, x, w, stride, padding, dilation, groups)
        for a, r in zip(got[nt], (y_r, dx_r, dw_r, db_r)):
            np.testing.assert_allclose(a, r, **TOL[dtype])
    for a1, a2 in zip(got[1][:2], got[2][:2]):  # y and dx: each output one sum, any thread count
        np.testing.assert_array_equal(a1, a2)
    torch = pytest.importorskip("torch")
    yt = torch.nn.functional.conv2d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        torch.from_numpy(b),
        stride,
        padding,
        dilation,
        groups,
    )
    np.testing.assert_allclose(got[1][0], yt.numpy(), **TOL[dtype])


@pytest.mark.parametrize("stride, padding", [(1, 1), (2, 1)])
def test_grouped_direct_gradcheck(stride, padding):
    rng = np.random.default_rng(9)
    x, w, b = (
        ember.tensor(a, requires_grad=True)
        for a in (
            rng.standard_normal((2, 4, 5, 6)),
            rng.standard_normal((6, 2, 3, 3)) * 0.3,
            rng.standard_normal(6),
        )
    )
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, groups=2), [x, w, b])


def test_grouped_direct_non_finite_input_like_torch():
    # an inf in x reaches the outputs whose windows hold it (and NaN where it meets opposite
    # signs), nowhere else: the junk lanes that read it are dropped
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    x = rng.standard_normal((2, 8, 9, 9)).astype(np.float32)
    w = rng.standard_normal((8, 4, 3, 3)).astype(np.float32)
    x[1, 5, 4, 0] = np.inf
    x[0, 2, 8, 8] = np.nan
    y = _C.conv2d_forward(x, w, None, (1, 1), (1, 1), (1, 1), 2)
    yt = torch.nn.functional.conv2d(
        torch.from_numpy(x).double(), torch.from_numpy(w).double(), None, 1, 1, 1, 2
    )
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yt.numpy()))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(yt.numpy()))
