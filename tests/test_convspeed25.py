"""The global average pool's eight-planes-at-a-time sums (pool2d.cpp plane_means): each plane's
bits still sum_double's order (8 partial sums in double, a fixed tree, then the tail in order),
whatever the plane count's remainder mod 8, the thread split or the plane size; values against
torch, gradients by finite differences, and the edge cases of the blocked loop."""

import numpy as np
import pytest
from conftest import at_threads

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
