"""F.linear's straight path (same values, graph and errors as the generic path) and the global
average pool's four-planes-at-a-time sums (bits unchanged: each plane summed as before)."""

import numpy as np
import pytest
from conftest import at_threads

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck


def _generic(fn, *args):
    """fn(*args) with linear's straight path turned off (the generic path's result)."""
    straight = F._linear_straight
    F._linear_straight = lambda *a: None
    try:
        return fn(*args)
    finally:
        F._linear_straight = straight


@pytest.mark.parametrize("shape", [(1, 784), (64, 784), (8, 6, 784), (784,), (0, 784)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_straight_matches_generic_and_torch(rng, shape, dtype, bias):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((10, 784)).astype(dtype)
    b = rng.standard_normal(10).astype(dtype) if bias else None
    wrap = lambda a: None if a is None else ember.tensor(a)  # noqa: E731
    got = F.linear(wrap(x), wrap(w), wrap(b))
    assert not got.requires_grad and got.grad_fn is None
    ref = _generic(F.linear, wrap(x), wrap(w), wrap(b))
    np.testing.assert_array_equal(got.numpy(), ref.numpy())
    tb = None if b is None else torch.from_numpy(b)
    want = torch.nn.functional.linear(torch.from_numpy(x), torch.from_numpy(w), tb).numpy()
    tol = 1e-4 if dtype == np.float32 else 1e-12  # (784-term dot products of N(0,1)s)
    np.testing.assert_allclose(got.numpy(), want, rtol=tol, atol=tol)


def test_linear_module_graph_and_no_grad(rng):
    m = ember.nn.Linear(784, 10)
    x = ember.tensor(rng.standard_normal((3, 784)).astype(np.float32), requires_grad=True)
    y = m(x)
    assert y.requires_grad and y.grad_fn is not None
    y.sum().backward()
    gx, gw, gb = x.grad.numpy(), m.weight.grad.numpy(), m.bias.grad.numpy()
    np.testing.assert_allclose(gx, np.tile(m.weight.data.sum(0), (3, 1)), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(gw, np.tile(x.data.sum(0), (10, 1)), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(gb, np.full(10, 3, np.float32))
    with ember.no_grad():
        z = m(x)
    assert not z.requires_grad and z.grad_fn is None
    np.testing.assert_array_equal(z.numpy(), y.detach().numpy())


def test_linear_gradcheck_float64(rng):
    x = ember.tensor(rng.standard_normal((2, 3, 5)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(F.linear, (x, w, b))
    assert gradcheck(lambda x, w: F.linear(x, w), (x, w))


def test_linear_straight_leaves_other_calls_to_the_generic_path(rng):
    w = ember.tensor(rng.standard_normal((4, 5)).astype(np.float32))
    x = ember.tensor(rng.standard_normal((2, 5)).astype(np.float32))
    with pytest.raises(ValueError, match=r"input shape \(2, 6\) does not match weight shape"):
        F.linear(ember.zeros(2, 6), w)
    with pytest.raises(TypeError, match="input is float64, expected float32"):
        F.linear(x.double(), w)
    with pytest.raises(TypeError, match="must be a floating point tensor"):
        F.linear(ember.zeros(2, 5, dtype=ember.int64), w)
    with pytest.raises(ValueError, match="weight must be 1-D or 2-D"):
        F.linear(x, ember.zeros(1, 4, 5))
    with pytest.raises(ValueError, match=r"bias shape \(3,\) does not broadcast"):
        F.linear(x, w, ember.zeros(3))
    # a broadcasting bias, a 1-D weight and a NumPy input still take the generic path
    y = F.linear(x, w, ember.ones(2, 4))
    np.testing.assert_allclose(y.numpy(), x.data @ w.data.T + 1, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(F.linear(x, w[0]).numpy(), x.data @ w.data[0], rtol=1e-6)
    np.testing.assert_allclose(F.linear(x.data, w).numpy(), x.data @ w.data.T, rtol=1e-6)


@pytest.mark.parametrize("planes", [1, 3, 4, 7, 64])
@pytest.mark.parametrize("hw", [(7, 7), (1, 1), (3, 5), (16, 16)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_global_avg_pool_bits(rng, planes, hw, dtype):
    x = (rng.standard_normal((1, planes, *hw)) * 100 + 1e4).astype(dtype)
    flat = x.reshape(planes, -1).astype(np.float64)
    # each plane is sum_double's order: 8 partial sums in double, a fixed tree, then the tail
    n = flat.shape[1]
    full = n // 8 * 8
    acc = flat[:, :full].reshape(planes, -1, 8).sum(1) if full else np.zeros((planes, 8))
    # (numpy's sum over axis 1 adds the chunks in order, one chain per lane)
    s = ((acc[:, 0] + acc[:, 1]) + (acc[:, 2] + acc[:, 3])) + (
        (acc[:, 4] + acc[:, 5]) + (acc[:, 6] + acc[:, 7])
    )
    for k in range(full, n):
        s = s + flat[:, k]
    want = (s / n).astype(dtype)
    for t in (1, 2):
        with at_threads(t):
            got = F.adaptive_avg_pool2d(ember.tensor(x), 1).numpy().reshape(planes)
        np.testing.assert_array_equal(got, want)
