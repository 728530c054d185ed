"""scatter's kernel node (_ScatterPut), nll_loss / cross_entropy's straight call outside the
graph, and margin_ranking_loss's shorter composition, pinned against torch and NumPy."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import ops
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---- scatter -----------------------------------------------------------------------------


def _scatter_both(xa, dim, ia, sa, wa):
    """(ember's out, x.grad, src.grad), (torch's) for sum(scatter(x, dim, i, src) * w)."""
    got = []
    for lib in (ember, torch):
        x = lib.tensor(xa, requires_grad=True)
        s = lib.tensor(sa, requires_grad=True)
        y = x.scatter(dim, lib.tensor(ia), s)
        (y * lib.tensor(wa)).sum().backward()
        got.append((y.detach().numpy(), x.grad.numpy(), s.grad.numpy(), y))
    return got


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("idt", [np.int64, np.int32])
def test_scatter_kernel_node_matches_torch(rng, dtype, dim, idt):
    x = rng.standard_normal((6, 7)).astype(dtype)
    ishape = (4, 7) if dim == 0 else (6, 5)
    n = x.shape[dim]
    idx = rng.integers(0, n, ishape).astype(idt)  # (repeats: the last write wins in both)
    src = rng.standard_normal(ishape).astype(dtype)
    w = rng.standard_normal(x.shape).astype(dtype)
    (ey, egx, egs, node), (ty, tgx, tgs, _) = _scatter_both(x, dim, idx.astype(np.int64), src, w)
    if idt is np.int32:  # the int32 index takes the same node
        e = ember.tensor(x, requires_grad=True)
        node = e.scatter(dim, ember.tensor(idx), ember.tensor(src, requires_grad=True))
    assert isinstance(node.grad_fn, ops._ScatterPut)
    np.testing.assert_array_equal(ey, ty)
    np.testing.assert_array_equal(egx, tgx)
    np.testing.assert_array_equal(egs, tgs)


def test_scatter_kernel_node_gradcheck(rng):
    # a permutation along dim: every src entry lands (repeats have no finite-difference slope)
    idx = np.argsort(rng.random((5, 4)), axis=0)[:3]
    x = ember.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    s = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda a, b: a.scatter(0, ember.tensor(idx), b), (x, s))
    idx1 = np.argsort(rng.random((4, 5)), axis=1)[:, :3]
    x1 = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    s1 = ember.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(lambda a, b: a.scatter(1, ember.tensor(idx1), b), (x1, s1))


def test_scatter_kernel_node_src_larger_and_noncontiguous(rng):
    # src larger than the index (its leading block is read) and transposed views of x, src and
    # the index; reference: NumPy's assignment and its adjoint (torch's backward refuses a src
    # larger than the index)
    xa = rng.standard_normal((7, 6))
    sa = rng.standard_normal((9, 7))
    ia = rng.integers(0, 7, (6, 5))
    w = rng.standard_normal((6, 7))
    x = ember.tensor(xa, requires_grad=True)
    s = ember.tensor(sa, requires_grad=True)
    it = ember.tensor(np.asfortranarray(ia))
    y = x.t().scatter(1, it, s.t())
    assert isinstance(y.grad_fn, ops._ScatterPut)
    ref = xa.T.copy()
    rows = np.arange(6)[:, None]
    ref[rows, ia] = sa.T[:6, :5]
    np.testing.assert_array_equal(y.detach().numpy(), ref)
    (y * ember.tensor(w)).sum().backward()
    gx = w.copy()
    gx[rows, ia] = 0
    gs = np.zeros((7, 9))
    gs[:6, :5] = w[rows, ia]
    np.testing.assert_array_equal(x.grad.numpy(), gx.T)
    np.testing.assert_array_equal(s.grad.numpy(), gs.T)


def test_scatter_kernel_node_one_side_empty_and_errors(rng):
    xa = rng.standard_normal((4, 3)).astype(np.float32)
    sa = rng.standard_normal((2, 3)).astype(np.float32)
    ia = np.array([[3, 0, 1], [3, 2, 2]])
    w = rng.standard_normal((4, 3)).astype(np.float32)
    _, (ty, tgx, tgs, _) = _scatter_both(xa, 0, ia, sa, w)
    x = ember.tensor(xa, requires_grad=True)  # only x needs a gradient
    y = x.scatter(0, ember.tensor(ia), ember.tensor(sa))
    (y * ember.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tgx)
    s = ember.tensor(sa, requires_grad=True)  # only src
    (ember.tensor(xa).scatter(0, ember.tensor(ia), s) * ember.tensor(w)).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), tgs)
    # an empty index: x unchanged, its gradient whole, src's zero
    x = ember.tensor(xa, requires_grad=True)
    s = ember.tensor(sa, requires_grad=True)
    y = x.scatter(0, ember.tensor(np.zeros((0, 3), np.int64)), s)
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), xa)
    np.testing.assert_array_equal(x.grad.numpy(), np.ones_like(xa))
    np.testing.assert_array_equal(s.grad.numpy(), np.zeros_like(sa))
    with pytest.raises(IndexError, match=r"index out of range \[0, 4\) for dim 0"):
        ember.tensor(xa, requires_grad=True).scatter(0, ember.tensor(ia + 1), s)
    with pytest.raises(IndexError, match="out of range"):
        ember.tensor(xa, requires_grad=True).scatter(0, ember.tensor(-ia - 1), s)


def test_scatter_kernel_node_double_backward(rng):
    xa, sa = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    ia = np.array([[3, 0, 1], [1, 2, 2]])
    got = []
    for lib in (ember, torch):
        x = lib.tensor(xa, requires_grad=True)
        s = lib.tensor(sa, requires_grad=True)
        y = x.scatter(0, lib.tensor(ia), s)
        (gs,) = lib.autograd.grad((y**3).sum(), s, create_graph=True)
        (gg,) = lib.autograd.grad(gs.sum(), s)
        got.append(gg.detach().numpy())
    np.testing.assert_allclose(got[0], got[1], rtol=1e-12)


# ---- nll_loss / cross_entropy outside the graph ---------------------------------------------


def _class_data(rng, n, c, dtype):
    x = rng.standard_normal((n, c)).astype(dtype)
    t = rng.integers(0, c, n)
    t[::3] = 2  # (some ignored when ignore_index=2)
    w = (rng.random(c) + 0.5).astype(dtype)
    return x, t, w


@pytest.mark.parametrize("op", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_class_loss_straight_matches_graph_and_torch(rng, op, reduction, dtype):
    x, t, w = _class_data(rng, 9, 5, dtype)
    for weight in (None, w):
        for ignore in (-100, 2):
            kw = dict(ignore_index=ignore, reduction=reduction)
            ew = None if weight is None else ember.tensor(weight)
            tw = None if weight is None else torch.tensor(weight)
            straight = getattr(F, op)(ember.tensor(x), ember.tensor(t), weight=ew, **kw)
            assert straight.grad_fn is None and not straight.requires_grad
            node = getattr(F, op)(ember.tensor(x, requires_grad=True), ember.tensor(t), ew, **kw)
            np.testing.assert_array_equal(straight.numpy(), node.detach().numpy())
            ref = getattr(TF, op)(torch.tensor(x), torch.tensor(t), weight=tw, **kw)
            tol = 1e-6 if dtype == np.float32 else 1e-13
            np.testing.assert_allclose(straight.numpy(), ref.numpy(), rtol=tol, atol=tol)
            assert straight.dtype == node.dtype and straight.shape == tuple(ref.shape)


def test_class_loss_straight_smoothing_noncontiguous_and_empty(rng):
    x, t, w = _class_data(rng, 8, 6, np.float32)
    kw = dict(weight=w, label_smoothing=0.2, ignore_index=2)
    got = F.cross_entropy(ember.tensor(x), t, **dict(kw, weight=ember.tensor(w)))  # t an array
    ref = TF.cross_entropy(torch.tensor(x), torch.tensor(t), **dict(kw, weight=torch.tensor(w)))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-6)
    xf = np.asfortranarray(x)  # non-contiguous input and target: the general path, same loss
    tn = np.stack([t, t], 1)[:, 0]
    for op in ("nll_loss", "cross_entropy"):
        a = getattr(F, op)(ember.tensor(xf), ember.tensor(tn))
        b = getattr(F, op)(ember.tensor(x), ember.tensor(t))
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with ember.no_grad():  # grad mode off: the straight call for a tensor requiring grad too
        a = F.nll_loss(ember.tensor(x, requires_grad=True), ember.tensor(t), reduction="sum")
    ref = TF.nll_loss(torch.tensor(x), torch.tensor(t), reduction="sum")
    np.testing.assert_allclose(a.numpy(), ref.numpy(), rtol=1e-6)
    e = np.zeros((0, 4), np.float32)
    te = np.zeros(0, np.int64)
    for red in ("mean", "sum", "none"):
        a = F.cross_entropy(ember.tensor(e), ember.tensor(te), reduction=red)
        r = TF.cross_entropy(torch.tensor(e), torch.tensor(te), reduction=red)
        np.testing.assert_array_equal(a.numpy(), r.numpy())
        assert a.shape == tuple(r.shape)


def test_class_loss_straight_errors(rng):
    x, t, w = _class_data(rng, 4, 3, np.float32)
    bad = t.copy()
    bad[1] = 3
    for op in ("nll_loss", "cross_entropy"):
        with pytest.raises(IndexError, match="target 3 is out of bounds for 3 classes"):
            getattr(F, op)(ember.tensor(x), ember.tensor(bad))
        with pytest.raises(ValueError, match="reduction must be one of"):
            getattr(F, op)(ember.tensor(x), ember.tensor(t), reduction="avg")
        with pytest.raises(TypeError, match="ignore_index must be an int"):
            getattr(F, op)(ember.tensor(x), ember.tensor(t), ignore_index=1.5)
        with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
            getattr(F, op)(ember.tensor(x), ember.tensor(t), weight=ember.tensor(w[:2]))
        with pytest.raises(TypeError, match="weight must have the input's dtype"):
            w64 = ember.tensor(w.astype(np.float64))
            getattr(F, op)(ember.tensor(x), ember.tensor(t), weight=w64)
        with pytest.raises(ValueError, match="expects target shape"):
            getattr(F, op)(ember.tensor(x), ember.tensor(t[:3]))
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        F.cross_entropy(ember.tensor(x), ember.tensor(t), label_smoothing=1.5)


# ---- margin_ranking_loss ---------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_margin_ranking_matches_torch(rng, reduction):
    a, b = rng.standard_normal((2, 64)).astype(np.float32)
    y = np.sign(rng.standard_normal(64)).astype(np.float32)
    b[:4] = a[:4]  # (ties: the loss is the margin there)
    got = []
    for lib, Fn in ((ember, F), (torch, TF)):
        ta, tb = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        loss = Fn.margin_ranking_loss(ta, tb, lib.tensor(y), margin=0.3, reduction=reduction)
        loss.sum().backward()
        got.append((loss.detach().numpy(), ta.grad.numpy(), tb.grad.numpy()))
    for e, t in zip(*got):
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-7)
    x1 = ember.tensor(rng.standard_normal(5), requires_grad=True)
    x2 = ember.tensor(rng.standard_normal(5), requires_grad=True)
    yy = ember.tensor(np.sign(rng.standard_normal(5)))
    assert gradcheck(lambda p, q: F.margin_ranking_loss(p, q, yy, margin=0.1), (x1, x2))
