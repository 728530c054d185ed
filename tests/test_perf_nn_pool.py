"""max_pool1d's graph-free path (the max of k strided views) and the global average pool's
backward: the same values as the kernels and as PyTorch."""

import numpy as np
import pytest

import ember
from ember.nn import functional as F


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,s", [(2, None), (3, 1), (3, 2), (1, 1), (5, 3), (7, None)])
def test_max_pool1d_without_graph_matches_the_kernel_and_torch(k, s, dtype):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 17)).astype(dtype)
    x[0, 1, 4] = np.nan  # NaN wins, as PyTorch
    x[1, 2, 5:8] = np.inf
    with ember.no_grad():
        fast = F.max_pool1d(ember.tensor(x), k, s).numpy()
    kernel = F.max_pool1d(ember.tensor(x), k, s, return_indices=True)[0].numpy()
    want = torch.nn.functional.max_pool1d(torch.from_numpy(x), k, s).numpy()
    assert fast.dtype == x.dtype and fast.flags.c_contiguous
    np.testing.assert_array_equal(fast, kernel)
    np.testing.assert_array_equal(fast, want)
    np.testing.assert_array_equal(F.max_pool1d(x[0], k, s).numpy(), want[0])  # (C, L) input


def test_max_pool1d_with_graph_keeps_the_kernel_gradient():
    x = ember.tensor(np.array([[[1.0, 3.0, 2.0, 2.0, -1.0]]]), requires_grad=True)
    F.max_pool1d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[0.0, 1.0, 1.0, 0.0, 0.0]]])


def test_max_pool1d_errors_unchanged():
    with pytest.raises(ValueError, match="too small"):
        F.max_pool1d(np.ones((1, 2, 3)), 4)
    with pytest.raises(ValueError):
        F.max_pool1d(np.ones((1, 0, 3)), 2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_average_pool_backward(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((2, 3, 5, 7)).astype(dtype), rng.standard_normal((2, 3, 1, 1))
    ex = ember.tensor(x, requires_grad=True)
    F.adaptive_avg_pool2d(ex, 1).backward(ember.tensor(g.astype(dtype)))
    tx = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.adaptive_avg_pool2d(tx, 1).backward(torch.from_numpy(g.astype(dtype)))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ex.grad.numpy(), np.broadcast_to(g / 35, x.shape), rtol=1e-6)
