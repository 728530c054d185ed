"""overhead39's paths against torch: where/masked_fill's node edges, recorded masked_select,
index_fill_, tensor_split, diag, outer, the full_like / eye / randint fronts, masked_fill_, and
recorded ops after in-place writes (fast_apply's C output with its _epoch stamp)."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")


def _edges(node):
    return [None if f is None else f.name() for f, _ in node.next_functions]


def _pair(a, requires_grad=False):
    return (
        ember.tensor(a, requires_grad=requires_grad),
        torch.tensor(a, requires_grad=requires_grad),
    )


def _same(e, t):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).rsplit(".")[-1] == str(t.dtype).rsplit(".")[-1]
    np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())
    if t.numel():
        assert e.stride() == t.stride()


_WHERE = {
    "where": lambda L, m, a, b, v: L.where(m, a, b),
    "where number first": lambda L, m, a, b, v: L.where(m, 0.5, a),
    "where broadcast": lambda L, m, a, b, v: L.where(m[0], a, b[:, :1]),
    "masked_fill": lambda L, m, a, b, v: a.masked_fill(m, 0.5),
    "masked_fill transposed": lambda L, m, a, b, v: a.T.masked_fill(m, -2),
    "masked_fill row mask": lambda L, m, a, b, v: a.masked_fill(m[1], 0.25),
    "masked_fill tensor value": lambda L, m, a, b, v: a.masked_fill(m, v),
    "masked_fill_ of a clone": lambda L, m, a, b, v: a.clone().masked_fill_(m, 0.5),
}


@pytest.mark.parametrize("case", list(_WHERE))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_where_masked_fill_nodes_as_torch(case, dtype):
    rng = np.random.default_rng(1)
    a0, b0 = rng.standard_normal((2, 5, 5)).astype(dtype)
    m0 = rng.random((5, 5)) > 0.5
    (ea, ta), (eb, tb) = _pair(a0, True), _pair(b0, True)
    (ev, tv), (em, tm) = _pair(np.array(0.75, dtype), True), _pair(m0)
    e, t = _WHERE[case](ember, em, ea, eb, ev), _WHERE[case](torch, tm, ta, tb, tv)
    _same(e, t)
    assert e.grad_fn.name() == t.grad_fn.name()
    # (the condition has no edge; ember lists no trailing input that takes no gradient)
    want = _edges(t.grad_fn)
    while want and want[-1] is None:
        want.pop()
    assert _edges(e.grad_fn) == want
    g = rng.standard_normal(tuple(t.shape)).astype(dtype)
    got = ember.autograd.grad(e, [ea, eb, ev], ember.tensor(g), allow_unused=True)
    ref = torch.autograd.grad(t, [ta, tb, tv], torch.tensor(g), allow_unused=True)
    for x, y in zip(got, ref):
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_allclose(x.numpy(), y.numpy(), rtol=1e-6)


def test_where_masked_fill_gradcheck():
    rng = np.random.default_rng(2)
    m = ember.tensor(rng.random((3, 4)) > 0.5)
    a, b = (ember.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(2))
    v = ember.tensor(0.3, dtype=ember.float64, requires_grad=True)
    for fn, args in [
        (lambda x, y: ember.where(m, x, y), (a, b)),
        (lambda x, y: ember.where(m, x * y, y), (a, b)),
        (lambda x, s: x.masked_fill(m, s) * x, (a, v)),
        (lambda x: x.masked_fill(m, 2.0) ** 2, (a,)),
        (lambda x: x.T.masked_fill(m.T, 2.0) ** 2, (a,)),
    ]:
        assert gradcheck(fn, args)
        assert gradgradcheck(fn, args)


def test_where_masked_fill_outside_the_graph():
    rng = np.random.default_rng(3)
    a0 = rng.standard_normal((4, 6)).astype(np.float32)
    m0 = rng.random((4, 6)) > 0.3
    (ea, ta), (em, tm) = _pair(a0, True), _pair(m0)
    with ember.no_grad(), torch.no_grad():
        e, t = ea.masked_fill(em, 1.5), ta.masked_fill(tm, 1.5)
        assert e.requires_grad == t.requires_grad
        _same(e, t)
        _same(ember.where(em, ea, 0.0), torch.where(tm, ta, 0.0))


@pytest.mark.parametrize("shapes", [((4, 5), (4, 5)), ((4, 5), (5,)), ((4, 1), (4, 5)), ((), ())])
def test_masked_select_recorded(shapes):
    rng = np.random.default_rng(4)
    xs, ms = shapes
    a, m = rng.standard_normal(xs), rng.random(ms) > 0.4
    (ex, tx), (em, tm) = _pair(a, True), _pair(m)
    e, t = ex.masked_select(em), tx.masked_select(tm)
    _same(e, t)
    assert e.grad_fn.name() == t.grad_fn.name() == "MaskedSelectBackward0"
    assert _edges(e.grad_fn) == _edges(t.grad_fn)
    g = rng.standard_normal(tuple(t.shape))
    e.backward(ember.tensor(g))
    t.backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy())
    x = ember.tensor(a, requires_grad=True)
    assert gradcheck(lambda v: v.masked_select(em), (x,))
    assert gradgradcheck(lambda v: v.masked_select(em) ** 2, (x,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("dim,index", [(0, [2, 0, 2]), (1, [-1, 3, 0]), (-1, [1]), (0, [])])
@pytest.mark.parametrize("value", [2.5, -3, 1e30])
def test_index_fill_in_place(dtype, dim, index, value):
    if dtype == np.int64 and (value == 1e30 or value == 2.5):
        value = 7
    rng = np.random.default_rng(5)
    a = (rng.standard_normal((3, 4)) * 10).astype(dtype)
    (e, t), (ei, ti) = _pair(a), _pair(np.array(index, np.int64))
    e.index_fill_(dim, ei, value), t.index_fill_(dim, ti, value)
    _same(e, t)
    assert e._version == t._version == 1


def test_index_fill_in_place_refusals():
    for L in (ember, torch):
        x = L.zeros(3, 4)
        for bad in ([4], [-5]):
            with pytest.raises(IndexError):
                x.index_fill_(1, L.tensor(bad), 1.0)
        with pytest.raises(IndexError):
            x.index_fill_(2, L.tensor([0]), 1.0)
        with pytest.raises(RuntimeError):  # (float32 cannot hold it)
            x.index_fill_(0, L.tensor([0]), 1e39)
        with pytest.raises(RuntimeError):  # (a leaf that requires grad)
            L.zeros(3, requires_grad=True).index_fill_(0, L.tensor([0]), 1.0)
    # a view's write reaches its base
    x, tx = _pair(np.zeros((4, 4), np.float32))
    (
        x[1:].index_fill_(1, ember.tensor([0, 2]), 5.0),
        tx[1:].index_fill_(1, torch.tensor([0, 2]), 5.0),
    )
    _same(x, tx)


@pytest.mark.parametrize("n,parts,dim", [(7, 3, 0), (6, 3, 1), (5, 5, -1), (4, 1, 0), (3, 5, 0)])
def test_tensor_split_sections(n, parts, dim):
    rng = np.random.default_rng(6)
    a = rng.standard_normal((n, n + 1) if dim == 0 else (2, n)).astype(np.float32)
    (e, t) = _pair(a)
    got, ref = e.tensor_split(parts, dim), t.tensor_split(parts, dim)
    assert len(got) == len(ref)
    for x, y in zip(got, ref):
        _same(x, y)
    if got[0].numel():
        got[0].add_(1), ref[0].add_(1)  # views: the write reaches the base, one version each
        _same(e, t)
        assert got[0]._version == ref[0]._version
    # in the graph: torch's slice nodes, and their gradient
    (e, t) = _pair(a.astype(np.float64), True)
    got, ref = e.tensor_split(parts, dim), t.tensor_split(parts, dim)
    if parts > 1:  # (one section, the whole: ember's graph path names it AliasBackward0)
        assert [p.grad_fn.name() for p in got] == [p.grad_fn.name() for p in ref]
    sum(p.sum() for p in got).backward(), sum(p.sum() for p in ref).backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())


@pytest.mark.parametrize("shape", [(5,), (1,), (0,), (4, 6), (6, 4), (0, 3), (3, 3)])
@pytest.mark.parametrize("k", [-7, -1, 0, 2, 7])
@pytest.mark.parametrize("dtype", [np.float32, np.int64, np.bool_])
def test_diag_outside_the_graph(shape, k, dtype):
    rng = np.random.default_rng(7)
    e, t = _pair((rng.standard_normal(shape) * 4).astype(dtype))
    _same(e.diag(k), t.diag(k))
    _same(ember.diag(e.T if e.ndim == 2 else e, k), torch.diag(t.T if t.ndim == 2 else t, k))


def test_diag_in_the_graph_unchanged():
    rng = np.random.default_rng(8)
    for shape in [(4,), (3, 5)]:
        e, t = _pair(rng.standard_normal(shape), True)
        assert e.diag(1).grad_fn.name() == t.diag(1).grad_fn.name()
        assert gradcheck(lambda v: v.diag(-1), (e,))


def test_outer_recorded_as_torch():
    rng = np.random.default_rng(9)
    (ea, ta), (eb, tb) = _pair(rng.standard_normal(3), True), _pair(rng.standard_normal(4), True)
    e, t = ember.outer(ea, eb), torch.outer(ta, tb)
    _same(e, t)
    assert e.grad_fn.name() == t.grad_fn.name()
    assert _edges(e.grad_fn) == _edges(t.grad_fn)
    assert gradcheck(ember.outer, (ea, eb))
    assert gradgradcheck(ember.outer, (ea, eb))


def test_full_like_eye_randint_fronts():
    rng = np.random.default_rng(10)
    for a in [rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal((2, 3))]:
        e, t = _pair(a)
        for v in (2.0, -3, 0.0):
            _same(ember.full_like(e, v), torch.full_like(t, v))
            _same(ember.full_like(e.T, v), torch.full_like(t.T, v))  # (its layout preserved)
        for v in (float("nan"), float("inf")):
            _same(ember.full_like(e, v), torch.full_like(t, v))
    with pytest.raises(RuntimeError):  # (float32 cannot hold it, as torch)
        ember.full_like(ember.zeros(2), 1e39)
    for args in [(3,), (3, 5), (5, 3), (0,), (4, 0)]:
        _same(ember.eye(*args), torch.eye(*args))
    for bad in [(-1,), (2, -1)]:
        with pytest.raises(RuntimeError):
            ember.eye(*bad)
    with pytest.raises(TypeError):
        ember.eye(2.0)
    prev = ember.get_default_dtype()
    try:
        ember.set_default_dtype(ember.float64)
        assert ember.eye(2).dtype == ember.float64
    finally:
        ember.set_default_dtype(prev)
    ember.manual_seed(11)
    a = ember.randint(-3, 9, (4, 5))
    ember.manual_seed(11)
    b = ember.randint(-3, 9, size=(4, 5))  # (the general path: the same draws)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == ember.int64 and not a.requires_grad and a.stride() == (5, 1)
    assert a.numpy().min() >= -3 and a.numpy().max() < 9
    with pytest.raises(ValueError):
        ember.randint(3, 3, (2,))


@pytest.mark.parametrize("value", [0.5, -2, 1e30, float("nan")])
def test_masked_fill_in_place(value):
    rng = np.random.default_rng(12)
    (e, t), (em, tm) = (
        _pair(rng.standard_normal((5, 7)).astype(np.float32)),
        _pair(rng.random((5, 7)) > 0.5),
    )
    e.masked_fill_(em, value), t.masked_fill_(tm, value)
    _same(e, t)
    assert e._version == t._version == 1
    for L, x, m in ((ember, e, em), (torch, t, tm)):
        with pytest.raises(RuntimeError):  # (float32 cannot hold it)
            x.masked_fill_(m, 1e39)
        with pytest.raises(RuntimeError):  # (a leaf that requires grad)
            L.zeros(5, 7, requires_grad=True).masked_fill_(m, 1.0)


def test_recorded_ops_after_in_place_writes():
    """Once anything was written in place, recorded ops still see the writes: a node whose
    saved operand was written since refuses backward (torch's version check), others run."""
    for L in (ember, torch):
        L.zeros(2).add_(1)  # (a write: the process's count is no longer 0)
        rng = np.random.default_rng(13)
        w = L.tensor(rng.standard_normal(3), requires_grad=True)
        a = L.tensor(rng.standard_normal(3))
        y = w * a
        a.add_(1)
        with pytest.raises(RuntimeError):
            y.sum().backward()
        z = (w * a).exp().sum()
        z.backward()
        np.testing.assert_allclose(
            w.grad.numpy(), (np.exp(w.detach().numpy() * a.numpy()) * a.numpy())
        )
    x = ember.tensor(np.arange(4.0), requires_grad=True)
    h = x * 2
    h2 = h.view(2, 2)  # a view in the graph, then its base written in place
    h.mul_(3)
    (h2.sum() + h.sum()).backward()
    tx = torch.tensor(np.arange(4.0), requires_grad=True)
    th = tx * 2
    th2 = th.view(2, 2)
    th.mul_(3)
    (th2.sum() + th.sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())
