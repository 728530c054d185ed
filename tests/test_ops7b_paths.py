"""index_add, scatter_add and remainder/fmod of two broadcast tensors: the straight paths
taken when no operand needs autograd (no node, no Python operand checks: the C++ kernels check
the index) against torch; the node path's gradients by finite differences; bad input refused
on both paths with the general path's error types."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")

rng = np.random.default_rng(7)


def _both(*arrays):
    return [ember.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def _same(e, t):
    assert e.dtype == ember.float32 or e.dtype == ember.float64
    assert not e.requires_grad and e.grad_fn is None
    np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
@pytest.mark.parametrize("itype", [np.int64, np.int32])
@pytest.mark.parametrize("alpha", [1, 0.5, -3])
def test_index_add_straight_matches_torch(dtype, dim, itype, alpha):
    x = rng.standard_normal((4, 5, 6)).astype(dtype)
    n = x.shape[dim]
    idx = rng.integers(0, n, 7).astype(itype)  # repeats add up
    sshape = list(x.shape)
    sshape[dim] = 7
    src = rng.standard_normal(sshape).astype(dtype)
    (ex, ei, es), (tx, ti, ts) = _both(x, idx, src)
    e = ex.index_add(dim, ei, es, alpha=alpha)
    # the node path's bits (alpha * source first); torch's within rounding (its own order)
    node = ember.tensor(x, requires_grad=True).index_add(dim, ei, es, alpha=alpha)
    assert node.grad_fn is not None
    _same(e, node.detach())
    t = tx.index_add(dim, ti, ts, alpha=alpha)
    if alpha in (1, 0.5):  # exact products: torch's bits too
        _same(e, t)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5, atol=1e-5)
    _same(ember.index_add(ex, dim, ei, es), torch.index_add(tx, dim, ti, ts))
    np.testing.assert_array_equal(ex.numpy(), x)  # out of place


def test_index_add_straight_strided_and_0d_index():
    x = rng.standard_normal((6, 8)).astype(np.float32)[:, ::2]  # not contiguous
    src = rng.standard_normal((6, 1)).astype(np.float32)[:, :1]
    (ex, es), (tx, ts) = _both(x, src)
    e = ex.index_add(1, ember.tensor(np.int64(2)), es)
    _same(e, tx.index_add(1, torch.tensor(2), ts))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("itype", [np.int64, np.int32])
def test_scatter_add_straight_matches_torch(dtype, dim, itype):
    x = rng.standard_normal((5, 6)).astype(dtype)
    ishape = [5, 6]
    ishape[dim] = 3  # fewer rows than x along dim, covering it elsewhere
    idx = rng.integers(0, x.shape[dim], ishape).astype(itype)
    src = rng.standard_normal((7, 8)).astype(dtype)  # larger: its leading block is read
    (ex, ei, es), (tx, ti, ts) = _both(x, idx, src)
    e = ex.scatter_add(dim, ei, es)
    _same(e, tx.scatter_add(dim, ti, ts))
    node = ember.tensor(x, requires_grad=True).scatter_add(dim, ei, es)
    _same(e, node.detach())
    src2 = rng.standard_normal(ishape).astype(dtype)
    (es2,), (ts2,) = _both(src2)
    _same(ember.scatter_add(ex, dim, ei, es2), torch.scatter_add(tx, dim, ti, ts2))


def test_scatter_add_index_not_covering_takes_the_general_path():
    x = rng.standard_normal((5, 6)).astype(np.float32)
    idx = rng.integers(0, 5, (2, 3))  # smaller than x outside dim 0: np.add.at's path
    src = rng.standard_normal((2, 3)).astype(np.float32)
    (ex, ei, es), (tx, ti, ts) = _both(x, idx, src)
    _same(ex.scatter_add(0, ei, es), tx.scatter_add(0, ti, ts))


@pytest.mark.parametrize("op", ["remainder", "fmod"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shapes",
    [
        ((6, 5), (6, 1)),
        ((6, 5), (5,)),
        ((6, 1), (1, 5)),
        ((2, 3, 4), ()),
        ((), (3, 4)),
        ((4, 1, 3), (2, 1)),
    ],
)
def test_mod_of_broadcast_tensors_matches_torch(op, dtype, shapes):
    a = (rng.standard_normal(shapes[0]) * 5).astype(dtype)
    b = rng.standard_normal(shapes[1]).astype(dtype)
    b[np.abs(b) < 0.1] = 0.5
    (ea, eb), (ta, tb) = _both(a, b)
    e, t = getattr(ember, op)(ea, eb), getattr(torch, op)(ta, tb)
    assert e.shape == tuple(t.shape)
    _same(e, t)
    _same(getattr(ember, op)(eb, ea), getattr(torch, op)(tb, ta))


@pytest.mark.parametrize("op", ["remainder", "fmod"])
def test_mod_of_broadcast_tensors_gradients(op):
    a = ember.tensor(rng.standard_normal((4, 3)) * 3, requires_grad=True)
    b = ember.tensor(rng.uniform(0.5, 2, (4, 1)) * rng.choice([-1, 1], (4, 1)), requires_grad=True)
    assert gradcheck(getattr(ember, op), (a, b))
    y = getattr(ember, op)(a, b.detach())  # one operand in the graph: the node path
    assert y.requires_grad and y.grad_fn is not None


@pytest.mark.parametrize("op", ["remainder", "fmod"])
def test_mod_bad_shapes_and_mixed_dtypes(op):
    f = getattr(ember, op)
    with pytest.raises(ValueError):
        f(ember.ones(3, 4), ember.ones(2, 1))
    a, b = rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((3, 1))
    e = f(ember.tensor(a), ember.tensor(b))  # mixed dtypes: the general path's promotion
    t = getattr(torch, op)(torch.tensor(a), torch.tensor(b))
    assert e.dtype == ember.float64
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-12)


def test_index_add_scatter_add_gradients_on_the_node_path():
    x = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    s = ember.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    idx = ember.tensor(np.array([1, 4, 1]))
    assert gradcheck(lambda x, s: x.index_add(1, idx, s, alpha=2.0), (x, s))
    sidx = ember.tensor(rng.integers(0, 5, (4, 3)))
    assert gradcheck(lambda x, s: x.scatter_add(1, sidx, s), (x, s))
    # src alone in the graph: still a node, gradient to src only
    s2 = ember.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    y = x.detach().scatter_add(1, sidx, s2)
    assert y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(s2.grad.numpy(), np.ones((4, 3)))


def test_index_add_bad_inputs_refused():
    x, s = ember.ones(3, 4), ember.ones(3, 2)
    with pytest.raises(IndexError, match="index_add: index out of range"):
        x.index_add(1, ember.tensor([0, 4]), s)
    with pytest.raises(IndexError, match="index_add: index out of range"):
        x.index_add(1, ember.tensor([-1, 0]), s)
    with pytest.raises(RuntimeError, match="source shape"):  # (torch's class)
        x.index_add(1, ember.tensor([0, 1, 2]), s)
    with pytest.raises(ValueError, match="0-D or 1-D"):
        x.index_add(1, ember.tensor([[0, 1]]), ember.ones(3, 2))
    with pytest.raises(TypeError, match="dtypes must match"):
        x.index_add(1, ember.tensor([0, 1]), ember.ones(3, 2, dtype=ember.float64))
    with pytest.raises(TypeError, match="int64 or int32"):
        x.index_add(1, ember.tensor(np.array([0, 1], np.int16)), s)
    with pytest.raises(TypeError):
        x.index_add(1, ember.tensor([0.0, 1.0]), s)
    with pytest.raises(IndexError):
        x.index_add(2, ember.tensor([0, 1]), s)
    np.testing.assert_array_equal(x.numpy(), np.ones((3, 4)))  # untouched


def test_scatter_add_bad_inputs_refused():
    x, s = ember.ones(3, 4), ember.ones(3, 4)
    with pytest.raises(IndexError, match="scatter_add: index out of range"):
        x.scatter_add(1, ember.tensor(np.full((3, 4), 4)), s)
    with pytest.raises(IndexError, match="scatter_add: index out of range"):
        x.scatter_add(0, ember.tensor(np.full((3, 4), -1)), s)
    with pytest.raises(RuntimeError, match="larger than src"):
        x.scatter_add(1, ember.tensor(np.zeros((3, 5), np.int64)), s)
    with pytest.raises(RuntimeError, match="larger than self"):
        x.scatter_add(1, ember.tensor(np.zeros((4, 4), np.int64)), ember.ones(4, 4))
    with pytest.raises(RuntimeError, match="dims"):
        x.scatter_add(1, ember.tensor(np.zeros((3,), np.int64)), s)
    with pytest.raises(TypeError, match="dtypes must match"):
        x.scatter_add(
            1, ember.tensor(np.zeros((3, 4), np.int64)), ember.ones(3, 4, dtype=ember.float64)
        )
    with pytest.raises(TypeError, match="int64 or int32"):
        x.scatter_add(1, ember.tensor(np.zeros((3, 4), np.uint8)), s)
    with pytest.raises(IndexError):
        x.scatter_add(-3, ember.tensor(np.zeros((3, 4), np.int64)), s)
    np.testing.assert_array_equal(x.numpy(), np.ones((3, 4)))
