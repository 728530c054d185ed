"""The global average pool's eight-planes-at-a-time sums (pool2d.cpp plane_means): each plane's
bits still sum_double's order (8 partial sums in double, a fixed tree, then the tail in order),
whatever the plane count's remainder mod 8, the thread split or the plane size; values against
torch, gradients by finite differences, and the edge cases of the blocked loop."""

import numpy as np
import pytest
from conftest import at_threads, winograd

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck


def _sum_double_means(x):
    """(N, C, H, W) -> (N*C,) plane means in sum_double's order, rounded to x's dtype."""
    flat = x.reshape(-1, x.shape[-2] * x.shape[-1]).astype(np.float64)
    n = flat.shape[1]
    full = n // 8 * 8
    acc = flat[:, :full].reshape(len(flat), -1, 8).sum(1) if full else np.zeros((len(flat), 8))
    s = ((acc[:, 0] + acc[:, 1]) + (acc[:, 2] + acc[:, 3])) + (
        (acc[:, 4] + acc[:, 5]) + (acc[:, 6] + acc[:, 7])
    )
    for k in range(full, n):
        s = s + flat[:, k]
    return (s / n).astype(x.dtype)


# plane counts around the block of 8 (and two threads' halves of 9 = 8 + 1 each)
@pytest.mark.parametrize("planes", [8, 9, 15, 16, 17, 18, 40])
@pytest.mark.parametrize("hw", [(7, 7), (2, 4), (3, 5), (1, 1), (1, 9), (16, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_blocked_bits(rng, planes, hw, dtype):
    # a large common offset: a different order of additions would change the low bits
    x = (rng.standard_normal((1, planes, *hw)) * 100 + 1e4).astype(dtype)
    want = _sum_double_means(x)
    for t in (1, 2):
        with at_threads(t):
            got = F.adaptive_avg_pool2d(ember.tensor(x), 1).numpy().reshape(planes)
        np.testing.assert_array_equal(got, want)


def test_global_avg_pool_blocked_batched_shape(rng):
    # the benchmark's shape: 32 * 512 planes of 7x7, batches and channels flattened
    x = rng.standard_normal((4, 130, 7, 7)).astype(np.float32)
    got = F.adaptive_avg_pool2d(ember.tensor(x), (1, 1)).numpy()
    assert got.shape == (4, 130, 1, 1)
    np.testing.assert_array_equal(got.reshape(-1), _sum_double_means(x))


def test_global_avg_pool_lanes_stay_apart(rng):
    # a NaN or inf in one plane of a block of 8 reaches that plane's mean only
    x = rng.standard_normal((2, 8, 7, 7)).astype(np.float32)
    x[0, 3, 6, 6] = np.nan  # the tail value (49 = 6 * 8 + 1)
    x[1, 5, 2, 1] = np.inf
    got = F.adaptive_avg_pool2d(ember.tensor(x), 1).numpy().reshape(2, 8)
    assert np.isnan(got[0, 3]) and np.isinf(got[1, 5])
    mask = np.ones((2, 8), bool)
    mask[0, 3] = mask[1, 5] = False
    assert np.isfinite(got[mask]).all()
    np.testing.assert_array_equal(got[mask], _sum_double_means(x)[mask.reshape(-1)])


def test_global_avg_pool_blocked_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((3, 37, 7, 7)).astype(np.float32)
    want = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x), 1).numpy()
    got = F.adaptive_avg_pool2d(ember.tensor(x), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
    # 3-d input (C, H, W) and float64
    x64 = rng.standard_normal((11, 5, 3))
    want = torch.nn.functional.adaptive_avg_pool2d(torch.from_numpy(x64), 1).numpy()
    got = F.adaptive_avg_pool2d(ember.tensor(x64), 1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0)


def test_global_avg_pool_noncontiguous_and_empty(rng):
    x = rng.standard_normal((2, 9, 7, 7)).astype(np.float32)
    xt = np.ascontiguousarray(x.transpose(1, 0, 2, 3))  # (9, 2, 7, 7)
    view = ember.tensor(xt).permute(1, 0, 2, 3)  # x's values, not contiguous
    got = F.adaptive_avg_pool2d(view, 1).numpy()
    np.testing.assert_array_equal(got.reshape(-1), _sum_double_means(x))
    empty = F.adaptive_avg_pool2d(ember.tensor(np.zeros((0, 9, 7, 7), np.float32)), 1)
    assert empty.shape == (0, 9, 1, 1)


def test_global_avg_pool_blocked_gradcheck(rng):
    x = ember.tensor(rng.standard_normal((2, 9, 3, 3)), requires_grad=True)
    assert gradcheck(lambda t: F.adaptive_avg_pool2d(t, 1), (x,))


# ---- dilation mosaic (conv2d.cpp dilation_mosaic): stride-1 dilated 3x3 convolutions whose phase
# images are under 8x8, run as one undilated convolution of the phases tiled into a plane.


def _conv_torch(x, w, b, padding, dilation):
    torch = pytest.importorskip("torch")
    t = (torch.from_numpy(np.ascontiguousarray(a)) if a is not None else None for a in (x, w, b))
    return torch.nn.functional.conv2d(*t, 1, padding, dilation).numpy()


@pytest.mark.parametrize(
    "shape, padding, dilation",
    [
        ((2, 64, 28, 28), 4, 4),  # the benchmark row: 7x7 phases, 31x31 mosaics
        ((1, 64, 28, 20), (4, 8), 4),  # batch 1, padding unequal per axis
        ((2, 48, 24, 24), 0, 4),  # no padding: the blocks abut
        ((3, 64, 12, 12), (2, 4), 2),  # dilation 2, 6x6 phases
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dilation_mosaic_matches_torch(rng, shape, padding, dilation, dtype):
    check_dilated_conv(rng, shape, 40, padding, dilation, dtype)


def check_dilated_conv(rng, shape, out_channels, padding, dilation, dtype):
    """A stride-1 dilated 3x3 conv against torch, and the same bits at 1 and 2 threads."""
    x = rng.standard_normal(shape).astype(dtype)
    w = (rng.standard_normal((out_channels, shape[1], 3, 3)) * 0.1).astype(dtype)
    b = rng.standard_normal(out_channels).astype(dtype)
    want = _conv_torch(x, w, b, padding, dilation)
    got = {}
    for t in (1, 2):
        with at_threads(t):
            got[t] = F.conv2d(
                ember.tensor(x), ember.tensor(w), ember.tensor(b), 1, padding, dilation
            ).numpy()
    assert got[1].shape == want.shape
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(got[1], want, rtol=tol, atol=tol)
    np.testing.assert_array_equal(got[1], got[2])  # same bits at 2 threads


def test_dilation_mosaic_noncontiguous_nonfinite_empty(rng):
    x = rng.standard_normal((2, 64, 28, 28)).astype(np.float32)
    w = (rng.standard_normal((64, 64, 3, 3)) * 0.1).astype(np.float32)
    want = _conv_torch(x, w, None, 4, 4)
    view = ember.tensor(np.ascontiguousarray(x.transpose(1, 0, 2, 3))).permute(1, 0, 2, 3)
    got = F.conv2d(view, ember.tensor(w), None, 1, 4, 4).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    # an inf reaches only the outputs whose taps read it (and NaN where torch has NaN)
    x[1, 3, 13, 9] = np.inf
    want = _conv_torch(x, w, None, 4, 4)
    got = F.conv2d(ember.tensor(x), ember.tensor(w), None, 1, 4, 4).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=1e-4, atol=1e-4)
    empty = F.conv2d(ember.tensor(x[:0]), ember.tensor(w), None, 1, 4, 4)
    assert empty.shape == (0, 64, 28, 28)


def test_dilation_mosaic_small_forced_and_gradcheck(rng):
    # Winograd forced wherever it applies: a small 12x12 input with dilation 2 (6x6 phases, 13x13
    # mosaics) takes the mosaic; float64 gradients by finite differences
    x = rng.standard_normal((1, 3, 12, 12))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    with winograd("always"):
        got = F.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b), 1, 2, 2).numpy()
        np.testing.assert_allclose(got, _conv_torch(x, w, b, 2, 2), rtol=1e-11, atol=1e-11)
        args = tuple(ember.tensor(a, requires_grad=True) for a in (x, w, b))
        assert gradcheck(lambda xx, ww, bb: F.conv2d(xx, ww, bb, 1, 2, 2), args)
