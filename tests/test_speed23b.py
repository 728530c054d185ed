"""Speed paths of plain tensor ops (speed23b): their values equal torch's, NaN/inf/ties included."""

import numpy as np
import pytest
from conftest import at_threads

import ember

torch = pytest.importorskip("torch")


def _full_cases(rng):
    a = rng.standard_normal((37, 61))
    nan = a.copy()
    nan[5, 7] = np.nan
    inf = a.copy()
    inf[3, 3] = np.inf
    inf[9, 1] = -np.inf
    zeros = np.array([[-0.0, 0.0, -0.0]])
    ties = np.round(a * 2) / 2  # many equal values
    big = rng.standard_normal(300_001)
    big[123_456] = 50.0
    return [a, nan, inf, zeros, ties, big, a[:, ::3], a.T, np.array([2.5]), np.array(-1.0)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("use_max", [True, False])
def test_full_max_min_equal_torch(rng, dtype, use_max):
    for a in _full_cases(rng):
        a = a.astype(dtype)
        got = ember.tensor(a).max() if use_max else ember.tensor(a).min()
        want = torch.tensor(a).max() if use_max else torch.tensor(a).min()
        assert got.shape == tuple(want.shape) == ()
        assert got.dtype == a.dtype
        g, w = got.numpy(), want.numpy()
        assert (np.isnan(g) and np.isnan(w)) or (g == w and np.signbit(g) == np.signbit(w)), a


def test_full_max_threads_and_nan_position(rng):
    a = rng.standard_normal(200_000).astype(np.float32)
    for pos in (0, 17, 99_999, 199_999):
        b = a.copy()
        b[pos] = np.nan
        for n in (1, 2):
            with at_threads(n):
                assert np.isnan(ember.tensor(b).max().item())
                assert np.isnan(ember.tensor(b).min().item())
    with at_threads(1):
        one = ember.tensor(a).max().item()
    with at_threads(2):
        assert ember.tensor(a).max().item() == one == a.max()


def test_full_max_grad_and_errors(rng):
    a = rng.standard_normal((4, 5))
    a[1, 2] = a[3, 4] = 9.0  # a tie: torch shares the gradient evenly
    x = ember.tensor(a, requires_grad=True)
    x.max().backward()
    t = torch.tensor(a, requires_grad=True)
    t.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    with pytest.raises(ValueError, match="empty"):
        ember.zeros((0, 3)).max()
    with pytest.raises(ValueError, match="empty"):
        ember.zeros((2, 0)).min()
    # integer and bool tensors keep NumPy's path
    assert ember.tensor(np.array([3, -7, 5])).max().item() == 5
    assert ember.tensor(np.array([3, -7, 5])).min().item() == -7


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_neg_operator_equal_torch(rng, dtype):
    a = (rng.standard_normal((50, 70)) * 10).astype(dtype)
    if dtype != np.int64:
        a[0, :4] = [np.nan, np.inf, -0.0, 0.0]
    big = rng.standard_normal(300_000).astype(dtype)  # (the threaded kernel's size)
    for x in (a, a[:, ::2], a.T, big, a[0, 0]):
        got, want = -ember.tensor(x), -torch.tensor(np.asarray(x))
        assert got.dtype == x.dtype and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert np.array_equal(np.signbit(got.numpy()), np.signbit(want.numpy()))
    for v in (ember.tensor(-2.0), ember.tensor(np.float64(-2.0))):  # 0-d: still a tensor's array
        assert (1 / -v).item() == 0.5 and ember.reciprocal(-v).dtype == v.dtype
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    (-x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), -np.ones_like(a, dtype=np.float64))
    with pytest.raises(TypeError, match="bool"):
        -ember.tensor(np.array([True, False]))


def test_nonzero_equal_torch(rng):
    m = rng.standard_normal((30, 40)) > 0.3
    f = np.where(m, rng.standard_normal((30, 40)), 0.0)
    f[0, 0], f[1, 1] = np.nan, -0.0  # NaN is nonzero, -0 is zero
    cases = (m, f, f.astype(np.float32), f[:, ::3], f.T, m[0], f[0], f[:, 1], np.zeros(0))
    for a in (*cases, np.zeros((0, 3)), np.array(2.0)):
        got, want = ember.nonzero(ember.tensor(a)), torch.nonzero(torch.tensor(a))
        assert got.dtype == np.int64 and got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        if a.ndim:
            for g, w in zip(
                ember.nonzero(ember.tensor(a), as_tuple=True),
                torch.nonzero(torch.tensor(a), as_tuple=True),
                strict=True,
            ):
                assert g.dtype == np.int64
                np.testing.assert_array_equal(g.numpy(), w.numpy())
