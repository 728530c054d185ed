"""overhead42: the small ops' fast fronts against torch (values, shapes, strides, dtypes,
gradients, node names, version counters), over the fast and the general cases."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _rng():
    return np.random.default_rng(42)


def _pair(a, requires_grad=False):
    return ember.tensor(a, requires_grad=requires_grad), torch.tensor(
        a, requires_grad=requires_grad
    )


def _same(e, t, exact=False, strides=True):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    if strides:
        assert e.stride() == t.stride()
    a, b = e.detach().numpy(), t.detach().numpy()
    if exact:
        np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6, equal_nan=True)


# layouts: contiguous, transposed, strided, with a size-1 dim
LAYOUTS = [lambda t: t, lambda t: t.t(), lambda t: t[:, ::2], lambda t: t[1:2]]


@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
@pytest.mark.parametrize("offset", [0, 2, -3, 40])
def test_diagonal_and_diag_embed(layout, offset):
    e, t = _pair(_rng().standard_normal((6, 8)).astype(np.float32))
    f = LAYOUTS[layout]
    _same(ember.diagonal(f(e), offset), torch.diagonal(f(t), offset), exact=True)
    _same(f(e).diagonal(offset, 1, 0), f(t).diagonal(offset, 1, 0), exact=True)
    _same(ember.diag_embed(f(e), offset), torch.diag_embed(f(t), offset), exact=True)
    _same(ember.diag_embed(f(e), offset, 0, 2), torch.diag_embed(f(t), offset, 0, 2), exact=True)


def test_diagonal_is_a_view_and_diag_embed_edges():
    e, t = _pair(np.zeros((4, 4), np.float32))
    e.diagonal().fill_(1.0)
    t.diagonal().fill_(1.0)
    _same(e, t, exact=True)
    assert e._version == t._version
    for shape in [(0,), (3, 0), (0, 3)]:
        e, t = _pair(np.ones(shape, np.float64))
        _same(ember.diag_embed(e, 1), torch.diag_embed(t, 1), exact=True)
    with pytest.raises(RuntimeError):
        ember.diagonal(ember.zeros(3, 3), 0, 1, -1)  # (the same dim twice)


def test_diagonal_diag_embed_grad():
    x = ember.tensor(_rng().standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda v: ember.diagonal(v, 1), (x,))
    assert gradcheck(lambda v: ember.diag_embed(v, -1), (x,))
    with ember.no_grad():
        y = ember.diagonal(x)
    assert y.requires_grad is True and y.grad_fn is None  # (torch's no-grad view)


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int64])
def test_kron(dt):
    g = _rng()
    for sa, sb in [((3, 4), (2, 5)), ((3,), (2, 2)), ((2, 1, 3), (3, 2)), ((0, 2), (2, 2))]:
        a, b = g.standard_normal(sa).astype(dt), g.standard_normal(sb).astype(dt)
        ea, ta = _pair(a)
        eb, tb = _pair(b)
        _same(ember.kron(ea, eb), torch.kron(ta, tb), exact=True)
        if ea.ndim == 2:  # (a transposed operand; torch's kron wants it contiguous)
            _same(ember.kron(ea.t(), eb), torch.kron(ta.T.contiguous(), tb), exact=True)
    x = ember.tensor(g.standard_normal((2, 3)), requires_grad=True)
    y = ember.tensor(g.standard_normal((2, 2)))
    assert gradcheck(lambda u: ember.kron(u, y), (x,))


@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
def test_flip(layout):
    e, t = _pair(_rng().standard_normal((4, 6)).astype(np.float32))
    f = LAYOUTS[layout]
    for dims in [(0,), (1,), (-1,), [0], (0, 1), ()]:
        _same(ember.flip(f(e), dims), torch.flip(f(t), dims), exact=True)
    _same(f(e).flip(0), f(t).flip(0), exact=True)
    with pytest.raises(IndexError):
        ember.flip(e, (2,))
    x = ember.tensor(_rng().standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda v: ember.flip(v, (0,)), (x,))
    assert ember.flip(x, (1,)).grad_fn.name() == "FlipBackward0"


@pytest.mark.parametrize("layout", range(len(LAYOUTS)))
def test_unflatten(layout):
    e, t = _pair(_rng().standard_normal((4, 6)).astype(np.float32))
    f = LAYOUTS[layout]
    for dim, sizes in [(1, (2, 3)), (-1, [3, 2]), (0, (1, 4)), (1, (-1, 2))]:
        if f(t).shape[dim] % 2:
            continue
        if f(t).shape[dim] != 6 and dim == 1 and sizes == (2, 3):
            continue
        try:
            want = f(t).unflatten(dim, sizes)
        except RuntimeError:
            continue
        got = f(e).unflatten(dim, sizes)
        _same(got, want, exact=True)
    with pytest.raises(RuntimeError):
        e.unflatten(1, (4, 2))
    x = ember.tensor(np.arange(6.0).reshape(2, 3))
    y = x.unflatten(1, (3, 1))
    y[0, 0, 0] = 7.0  # (a view: x changes, its version counts)
    assert x[0, 0].item() == 7.0 and x._version == 1


def test_broadcast_tensors_and_meshgrid():
    g = _rng()
    for sa, sb in [((4, 3), (3,)), ((4, 1), (1, 5)), ((2, 3), (2, 3)), ((3,), (2, 1, 3))]:
        ea, ta = _pair(g.standard_normal(sa).astype(np.float32))
        eb, tb = _pair(g.standard_normal(sb).astype(np.float32))
        for e, t in zip(ember.broadcast_tensors(ea, eb), torch.broadcast_tensors(ta, tb)):
            _same(e, t, exact=True)
    with pytest.raises(RuntimeError):
        ember.broadcast_tensors(ember.zeros(2, 3), ember.zeros(4))
    vs = [g.standard_normal(n).astype(np.float32) for n in (3, 4, 2)]
    for ind in ("ij", "xy"):
        for k in (1, 2, 3):
            es = ember.meshgrid(*[ember.tensor(v) for v in vs[:k]], indexing=ind)
            ts = torch.meshgrid(*[torch.tensor(v) for v in vs[:k]], indexing=ind)
            for e, t in zip(es, ts):
                _same(e, t, exact=True)
    # a view of a strided vector, a 0-d tensor: the general path
    es = ember.meshgrid(ember.tensor(vs[1])[::2], ember.tensor(1.5))
    ts = torch.meshgrid(torch.tensor(vs[1])[::2], torch.tensor(1.5), indexing="ij")
    for e, t in zip(es, ts):
        _same(e, t, exact=True)


@pytest.mark.parametrize("shape", [(3, 1, 4, 1), (1, 1), (0, 1, 2)])
def test_squeeze_dim_tuple(shape):
    e, t = ember.zeros(shape), torch.zeros(shape)
    for dims in [(1,), (1, 3), (0, -1), (-1, 1)]:
        if builtins_ok(dims, len(shape)):
            _same(e.squeeze(dims), t.squeeze(dims), exact=True)
            _same(ember.squeeze(e, dims), torch.squeeze(t, dims), exact=True)
    with pytest.raises(RuntimeError):
        e.squeeze((0, 0))
    with pytest.raises(IndexError):
        e.squeeze((len(shape),))


def builtins_ok(dims, nd):
    axes = [d % nd for d in dims if -nd <= d < nd]
    return len(axes) == len(dims) and len(set(axes)) == len(axes)


def test_matmul_batch_by_matrix():
    g = _rng()
    a, b = (
        g.standard_normal((3, 4, 5)).astype(np.float32),
        g.standard_normal((5, 2)).astype(np.float32),
    )
    ea, ta = _pair(a)
    eb, tb = _pair(b)
    _same(ea @ eb, ta @ tb)
    _same(ea.transpose(1, 2).transpose(1, 2) @ eb.t().t(), ta @ tb)
    _same(ea[:, :, :2] @ eb[:2], ta[:, :, :2] @ tb[:2])
    with pytest.raises(RuntimeError):
        ea @ ember.zeros(4, 2)
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    y = ember.tensor(b.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda u, v: u @ v, (x, y))


def test_expand_recorded():
    v = ember.tensor(np.arange(3.0), requires_grad=True)
    tv = torch.tensor(np.arange(3.0), requires_grad=True)
    y, ty = v.expand(2, 3), tv.expand(2, 3)
    _same(y, ty, exact=True)
    assert y.grad_fn.name() == ty.grad_fn.name() == "ExpandBackward0"
    (y * ember.tensor([[1.0], [2.0]])).sum().backward()
    (ty * torch.tensor([[1.0], [2.0]])).sum().backward()
    np.testing.assert_array_equal(v.grad.numpy(), tv.grad.numpy())
    with pytest.raises(RuntimeError):
        v.expand(2, 4)
    assert gradcheck(lambda u: u.expand(4, 1, 3), (v,))


def test_index_copy_recorded():
    g = _rng()
    x, s = g.standard_normal((5, 3)), g.standard_normal((2, 3))
    idx = [4, 1]
    ex, tx = _pair(x, True)
    es, ts = _pair(s, True)
    y = ex.index_copy(0, ember.tensor(idx), es)
    ty = tx.index_copy(0, torch.tensor(idx), ts)
    _same(y, ty, exact=True)
    assert y.grad_fn.name() == ty.grad_fn.name() == "IndexCopyBackward0"
    w = g.standard_normal((5, 3))
    (y * ember.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    np.testing.assert_array_equal(es.grad.numpy(), ts.grad.numpy())
    with pytest.raises(IndexError):
        ex.index_copy(0, ember.tensor([5, 0]), es)
    src = ember.tensor(g.standard_normal((2, 5)), requires_grad=True).t()  # (strided)
    assert gradcheck(lambda a, b: a.index_copy(1, ember.tensor([2, 0]), b), (ex, src))


def test_setitem_int_slice_keys():
    g = _rng()
    x = g.standard_normal((4, 5)).astype(np.float32)
    ex, tx = _pair(x)
    for key, shape in [
        ((slice(None), 3), (4,)),
        ((1, slice(1, 4)), (3,)),
        ((slice(0, 4, 2), 0), (2,)),
    ]:
        v = g.standard_normal(shape).astype(np.float32)
        ex[key] = ember.tensor(v)
        tx[key] = torch.tensor(v)
        _same(ex, tx, exact=True)
    assert ex._version == tx._version
    ex[:, 0] = ember.tensor(np.float64(2.5))  # (another dtype: cast, as torch's copy_)
    tx[:, 0] = torch.tensor(np.float64(2.5))
    _same(ex, tx, exact=True)
    with pytest.raises(RuntimeError):
        ex[:, 0] = ember.zeros(3)
    with pytest.raises(IndexError):
        ex[9, 0] = ember.zeros(())
    # a node that saved x refuses backward after the write
    w = ember.tensor(x, requires_grad=True)
    y = w * ex
    ex[0, :] = ember.zeros(5)
    with pytest.raises(RuntimeError):
        y.sum().backward()


@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1), (1, -1)])
def test_addmv_addr(beta, alpha):
    g = _rng()
    m, v, w = g.standard_normal((4, 3)), g.standard_normal(3), g.standard_normal(4)
    for dt in (np.float32, np.float64):
        em, tm = _pair(m.astype(dt))
        ev, tv = _pair(v.astype(dt))
        ew, tw = _pair(w.astype(dt))
        _same(
            ember.addmv(ew, em, ev, beta=beta, alpha=alpha),
            torch.addmv(tw, tm, tv, beta=beta, alpha=alpha),
        )
        _same(
            ember.addr(em, ew, ev, beta=beta, alpha=alpha),
            torch.addr(tm, tw, tv, beta=beta, alpha=alpha),
        )
        _same(
            ember.addr(em[:1], ew[:1], ev, beta=beta, alpha=alpha),
            torch.addr(tm[:1], tw[:1], tv, beta=beta, alpha=alpha),
        )
        _same(
            ember.addr(em, em[:, 0], ev, beta=beta, alpha=alpha),
            torch.addr(tm, tm[:, 0], tv, beta=beta, alpha=alpha),
        )
    nan = ember.full((4, 3), float("nan"))
    assert not np.isnan(ember.addr(nan, ember.tensor(w), ember.tensor(v), beta=0).numpy()).any()
    x = ember.tensor(m, requires_grad=True)
    assert gradcheck(
        lambda a: ember.addr(a, ember.tensor(w), ember.tensor(v), beta=beta, alpha=alpha), (x,)
    )


def test_number_pow():
    g = _rng()
    x = g.standard_normal((4, 6)).astype(np.float32)
    for base in (2, 2.5, -1.5, 0, 1):
        for f in [lambda t: t, lambda t: t.t(), lambda t: t[:, ::2], lambda t: t[0, 0]]:
            for rg in (False, True):
                e, t = _pair(x, rg)
                ye, yt = base ** f(e), base ** f(t)
                _same(ye, yt)
                if rg:
                    assert ye.grad_fn.name() == yt.grad_fn.name() == "PowBackward2"
    xd = ember.tensor(g.standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(lambda u: 1.5**u, (xd,))


@pytest.mark.parametrize("shapes", [((32, 8), (24, 8)), ((5, 3), (30, 3)), ((40, 4), (1, 4))])
def test_cdist_mm_path(shapes):
    g = _rng()
    for dt in (np.float32, np.float64):
        a, b = g.standard_normal(shapes[0]).astype(dt), g.standard_normal(shapes[1]).astype(dt)
        b[0] = a[0]  # (a zero distance: clamped, not NaN)
        ea, ta = _pair(a)
        eb, tb = _pair(b)
        # (the zero distance: the root of a cancellation's residue, as torch's)
        atol, rtol = (1e-3, 1e-5) if dt is np.float32 else (1e-6, 1e-10)
        for mode in (None, "use_mm_for_euclid_dist"):
            e = ember.cdist(ea, eb, compute_mode=mode)
            t = torch.cdist(ta, tb, compute_mode=mode or "use_mm_for_euclid_dist_if_necessary")
            assert e.stride() == t.stride() and e.dtype == getattr(ember, np.dtype(dt).name)
            np.testing.assert_allclose(e.numpy(), t.numpy(), atol=atol, rtol=rtol)
        assert not np.isnan(e.numpy()).any()
        # the same values as the graph's path
        er = ember.cdist(ember.tensor(a, requires_grad=True), eb)
        np.testing.assert_array_equal(er.detach().numpy(), ember.cdist(ea, eb).numpy())
        assert er.grad_fn.name() == "CdistBackward0"


def test_dot_vdot_movedim_unfold():
    g = _rng()
    for dt in (np.float32, np.float64):
        ev, tv = _pair(g.standard_normal(7).astype(dt))
        ew, tw = _pair(g.standard_normal(7).astype(dt))
        _same(ember.dot(ev, ew), torch.dot(tv, tw))
        _same(ember.vdot(ev[::2][:3], ew[1::2]), torch.vdot(tv[::2][:3], tw[1::2]))
    with pytest.raises(RuntimeError):
        ember.dot(ember.zeros(3), ember.zeros(4))
    e, t = _pair(np.zeros((2, 3, 4, 5), np.float32))
    for s, d in [((0, 1), (2, 0)), ((0,), (-1,)), ((1, 3), (3, 1)), ((), ())]:
        _same(ember.movedim(e, s, d), torch.movedim(t, s, d), exact=True)
    with pytest.raises(RuntimeError):
        ember.movedim(e, (0, 0), (1, 2))
    x = _rng().standard_normal((6, 7)).astype(np.float32)
    windows = [
        lambda u: u.unfold(0, 2, 2),
        lambda u: u.unfold(1, 3, 1),
        lambda u: u.t().unfold(0, 7, 1),
        lambda u: u[:, ::2].unfold(1, 2, 3),
        lambda u: u.unfold(0, 6, 4),
    ]
    for f in windows:
        _same(f(ember.tensor(x)), f(torch.tensor(x)), exact=True)
    u = ember.tensor(x.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda a: a.unfold(1, 3, 2), (u,))
    base, tbase = _pair(x)
    base.unfold(0, 2, 2)[0, 1, 1] = 5.0  # (non-overlapping windows: a writable view)
    tbase.unfold(0, 2, 2)[0, 1, 1] = 5.0
    _same(base, tbase, exact=True)


def test_take_as_strided_new_dims():
    x = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    e, t = _pair(x)
    for idx in [[0, 5, 11], [[1, 2], [3, 4]], [-1, 0], [], 7]:
        ie, it = ember.tensor(idx, dtype=ember.int64), torch.tensor(idx, dtype=torch.int64)
        _same(ember.take(e, ie), torch.take(t, it), exact=True)
        _same(ember.take(e.t(), ie), torch.take(t.t(), it), exact=True)
    with pytest.raises(IndexError):
        ember.take(e, ember.tensor([12]))
    for size, stride in [((2, 2), (4, 1)), ((3, 3), (1, 1)), ((2, 3), (0, 2)), ((0, 3), (1, 1))]:
        _same(e.as_strided(size, stride), t.as_strided(size, stride), exact=True)
    with pytest.raises(RuntimeError):
        e.as_strided((4, 4), (4, 1))
    xs = ember.tensor(x.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda u: u.as_strided((2, 2), (1, 1)), (xs,))
    for key in [(None, ..., None), (None, None), (slice(None), None), (..., None, slice(None))]:
        _same(e[key], t[key], exact=True)
    view = e[None, ..., None]
    view[0, 1, 2, 0] = 9.0  # (a view: e changes, its version counts)
    assert e[1, 2].item() == 9.0 and e._version == 1


def test_like_with_dtype():
    e, t = ember.ones(3, 2), torch.ones(3, 2)
    for name in ("zeros_like", "ones_like", "empty_like"):
        for kw, tkw in [({"dtype": ember.float64}, {"dtype": torch.float64}),
                        ({"dtype": ember.float32}, {"dtype": torch.float32}),
                        ({"dtype": ember.int64}, {"dtype": torch.int64})]:  # fmt: skip
            y, ty = getattr(ember, name)(e, **kw), getattr(torch, name)(t, **tkw)
            if name != "empty_like":  # (its values: whatever the memory held)
                _same(y, ty, exact=True)
            assert str(y.dtype).split(".")[-1] == str(ty.dtype).split(".")[-1]
    _same(
        ember.full_like(e, 2.5, dtype=ember.float64), torch.full_like(t, 2.5, dtype=torch.float64)
    )
    y = ember.zeros_like(e.t(), dtype=ember.float64)  # (a layout to keep: the general path)
    assert y.stride() == torch.zeros_like(t.t(), dtype=torch.float64).stride()


def test_vector_stacks_inner_mv():
    g = _rng()
    vs = [g.standard_normal(4).astype(np.float32) for _ in range(3)]
    for name in ("vstack", "row_stack", "column_stack"):
        _same(
            getattr(ember, name)([ember.tensor(v) for v in vs]),
            getattr(torch, name)([torch.tensor(v) for v in vs]),
            exact=True,
        )
    with pytest.raises(RuntimeError):
        ember.vstack([ember.zeros(3), ember.zeros(4)])
    ev, tv = _pair(vs[0])
    ew, tw = _pair(vs[1])
    _same(ember.inner(ev, ew), torch.inner(tv, tw))
    em, tm = _pair(g.standard_normal((3, 4)).astype(np.float32))
    _same(ember.mv(em, ev), torch.mv(tm, tv))
    _same(ember.mv(em[:, :2], ev[::2]), torch.mv(tm[:, :2], tv[::2]))
    with pytest.raises(RuntimeError):
        ember.mv(em, ember.zeros(3))
    a = ember.tensor(vs[0].astype(np.float64), requires_grad=True)
    assert gradcheck(lambda u: ember.inner(u, u), (a,))
    assert gradcheck(lambda u: ember.vstack([u, u * 2]), (a,))


def test_diagonal_scatter_narrow_copy():
    x = np.arange(20.0, dtype=np.float32).reshape(4, 5)
    for off in (0, 1, -2, 4, -3):
        n = torch.diagonal(torch.tensor(x), off).shape[0]
        v = np.arange(n, dtype=np.float32) + 100
        e = ember.diagonal_scatter(ember.tensor(x), ember.tensor(v), off)
        t = torch.diagonal_scatter(torch.tensor(x), torch.tensor(v), off)
        _same(e, t, exact=True)
    with pytest.raises(RuntimeError):
        ember.diagonal_scatter(ember.tensor(x), ember.zeros(3))
    xs = ember.tensor(x.astype(np.float64), requires_grad=True)
    src = ember.tensor(np.ones(3), requires_grad=True)
    assert gradcheck(lambda a, b: ember.diagonal_scatter(a, b, 2), (xs, src))
    for rg in (False, True):
        for d, s0, n in [(0, 1, 2), (1, 1, 3), (-1, 0, 4)]:
            e, t = _pair(x, rg)
            _same(ember.narrow_copy(e, d, s0, n), torch.narrow_copy(t, d, s0, n), exact=True)
            _same(
                ember.narrow_copy(e.t(), d, s0, n), torch.narrow_copy(t.t(), d, s0, n), exact=True
            )


def test_new_dims_of_a_view_with_a_size_one_dim():
    # (a C-contiguous view whose size-1 dim has another stride keeps it, as torch's)
    for make in [lambda z: z((1, 2)).transpose(0, 1)[..., None], lambda z: z((2, 1, 3))[None, ::2]]:
        e, t = make(ember.zeros), make(torch.zeros)
        assert e.shape == tuple(t.shape) and e.stride() == t.stride()
