"""The backward engine's node order (creation order on a heap) and the per-op fast paths give
the same gradients, hook calls and errors as PyTorch on graphs that stress the order: tensors
read by several nodes made far apart, multi-output nodes, several roots of one graph."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _pair(a):
    return ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _dag(lib, a, b):
    """Each intermediate is read by nodes made before and after others that also read it."""
    c = a * b
    d = c + a
    e = (d * 0.5).tanh()
    f = c - e
    parts = (f * d).reshape(2, 3).split([1, 2], dim=1)  # a multi-output node
    g = parts[1] * c.reshape(2, 3)[:, 1:] - 2
    return (g.sum() + e.sum() * 3 + (c / (d * d + 1)).mean()), e, f


def test_dag_gradients_match_torch():
    rng = np.random.default_rng(0)
    a0, b0 = rng.standard_normal(6), rng.standard_normal(6)
    (ea, ta), (eb, tb) = _pair(a0), _pair(b0)
    _dag(ember, ea, eb)[0].backward()
    _dag(torch, ta, tb)[0].backward()
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(eb.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_several_roots_of_one_graph_match_torch():
    # f's graph contains e's node: e's gradient must be complete (from both roots) before
    # its node runs, whichever root was made first.
    rng = np.random.default_rng(1)
    a0, b0 = rng.standard_normal(6), rng.standard_normal(6)
    (ea, ta), (eb, tb) = _pair(a0), _pair(b0)
    for lib, a, b in ((ember, ea, eb), (torch, ta, tb)):
        _, e, f = _dag(lib, a, b)
        gf, ge = np.linspace(-1, 1, 6), np.linspace(2, 3, 6)
        roots, grads = [f, e], [lib.tensor(gf), lib.tensor(ge)]
        (ember.autograd if lib is ember else torch.autograd).backward(roots, grads)
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(eb.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_hook_sees_the_complete_gradient_once():
    # x feeds three nodes made in between others: its hook runs once, with the sum of all three.
    calls = {}
    for lib in (ember, torch):
        x = lib.tensor(np.arange(4.0), requires_grad=True)
        y = x * 2
        seen = calls[lib.__name__] = []
        y.register_hook(lambda g, seen=seen: seen.append(np.array(g.numpy())))
        z = (y + 1) * 3
        w = y.tanh() + z
        (w * y).sum().backward()
    assert len(calls["ember"]) == len(calls["torch"]) == 1
    np.testing.assert_allclose(calls["ember"][0], calls["torch"][0], rtol=1e-12)


def test_retain_grad_and_freed_graph_keep_their_behaviour():
    x = ember.tensor(np.arange(3.0), requires_grad=True)
    y = x * x
    y.retain_grad()
    loss = (y + y * 2).sum()
    loss.backward(retain_graph=True)
    np.testing.assert_allclose(y.grad.numpy(), [3.0, 3.0, 3.0])
    np.testing.assert_allclose(x.grad.numpy(), 6 * np.arange(3.0))
    loss.backward()
    np.testing.assert_allclose(y.grad.numpy(), [6.0, 6.0, 6.0])
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_inplace_write_after_use_is_still_refused():
    x = ember.tensor(np.ones(4), requires_grad=True)
    buf = ember.zeros(4, dtype=np.float64)
    buf[0:2] = x[0:2] * 2  # buf joins the graph
    y = buf * buf  # saves buf's values
    buf[2:4] = x[2:4]  # ... which are then overwritten
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_scalar_operands_keep_dtype_and_shape():
    # the scalar operand's shape is read without building an array: results as torch
    x = ember.tensor(np.arange(4, dtype=np.float32), requires_grad=True)
    for y, t in (
        (x - 0.5, torch.arange(4, dtype=torch.float32) - 0.5),
        (2 - x, 2 - torch.arange(4, dtype=torch.float32)),
        (x + True, torch.arange(4, dtype=torch.float32) + True),
    ):
        assert y.dtype == np.float32 and y.shape == tuple(t.shape)
        np.testing.assert_array_equal(y.numpy(), t.numpy())
    (x - 0.5).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.ones(4, np.float32))


def test_leaf_read_by_many_nodes_accumulates_as_torch():
    # a weight shared across steps: its gradients of a pass are summed, then added to .grad
    rng = np.random.default_rng(2)
    w0, h0 = rng.standard_normal((3, 3)) * 0.5, rng.standard_normal(3)
    (ew, tw), (eh, th) = _pair(w0), _pair(h0)
    for w, h in ((ew, eh), (tw, th)):
        for _ in range(2):  # .grad accumulates across the two passes
            state = h
            for _ in range(6):
                state = (w @ state).tanh() + h
            state.sum().backward()
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(eh.grad.numpy(), th.grad.numpy(), rtol=1e-12, atol=1e-12)
    # each leaf's .grad is its own array
    assert not np.shares_memory(ew.grad.numpy(), eh.grad.numpy())


def test_autograd_grad_leaves_other_leaves_untouched():
    a = ember.tensor(np.arange(3.0), requires_grad=True)
    b = ember.tensor(np.ones(3), requires_grad=True)
    (ga,) = ember.autograd.grad(((a * b) + a * a).sum(), [a])
    np.testing.assert_allclose(ga.numpy(), 1 + 2 * np.arange(3.0))
    assert a.grad is None and b.grad is None
