"""overhead40: recorded outer, x ** number and x * 0-d tensor by their nodes straight; torch's
next_functions edges for non-grad tensor operands; masked_fill's double-backward node;
randint's dtype-bound refusals. Each compared with torch 2.13."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")


def _pair(shape, dtype=np.float32, seed=0, requires_grad=False):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return (
        ember.tensor(a, requires_grad=requires_grad),
        torch.tensor(a, requires_grad=requires_grad),
    )


def _edges(t):
    return tuple((None if n is None else n.name(), i) for n, i in t.grad_fn.next_functions)


def _same(e, t):
    np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    assert str(e.dtype).rsplit(".")[-1] == str(t.dtype).rsplit(".")[-1]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("grads", [(True, True), (True, False), (False, True), (False, False)])
@pytest.mark.parametrize("sizes", [(5, 4), (1, 7), (0, 3)])
def test_outer_values_node_and_grads(dtype, grads, sizes):
    ea, ta = _pair(sizes[0], dtype, 1, grads[0])
    eb, tb = _pair(sizes[1], dtype, 2, grads[1])
    e, t = ember.outer(ea, eb), torch.outer(ta, tb)
    _same(e, t)
    assert e.requires_grad == t.requires_grad
    if t.grad_fn is not None:
        assert e.grad_fn.name() == t.grad_fn.name()
        assert _edges(e) == _edges(t)
        g = np.random.default_rng(3).standard_normal(t.shape).astype(dtype)
        e.backward(ember.tensor(g))
        t.backward(torch.tensor(g))
        for x, y in ((ea, ta), (eb, tb)):
            if y.grad is not None:
                np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-6)


def test_outer_no_grad_non_contiguous_and_gradcheck():
    ea, ta = _pair((6,), np.float64, 4, True)
    eb, tb = _pair((8,), np.float64, 5, True)
    with ember.no_grad():
        e = ember.outer(ea, eb)
    with torch.no_grad():
        t = torch.outer(ta, tb)
    _same(e, t)
    assert not e.requires_grad
    _same(ember.outer(ea[::2], eb[1::3]), torch.outer(ta[::2], tb[1::3]))
    assert gradcheck(ember.outer, (ea, eb))
    assert gradgradcheck(ember.outer, (ea, eb))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("exp", [2, 3, 0.5, -1, 1.5, 0, 2.0])
def test_pow_number_in_autograd(dtype, exp):
    ex, tx = _pair((4, 5), dtype, 6, True)
    ex.data[:] = np.abs(ex.data) + 0.5
    with torch.no_grad():
        tx.abs_().add_(0.5)
    for f in (lambda x: x**exp, lambda x: x.t() ** exp, lambda x: x[:, 1] ** exp):
        e, t = f(ex), f(tx)
        # (x ** 0.5, ** 1.5: ember's values are sqrt's / pow's, within an ulp of torch's)
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-6)
        assert e.shape == tuple(t.shape) and e.stride() == t.stride() and e.dtype == ex.dtype
        _same(e, f(ex.detach()))  # the recorded values are the plain path's bits
        assert e.grad_fn.name() == t.grad_fn.name()
        assert _edges(e) == _edges(t)
        e.sum().backward()
        t.sum().backward()
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-5)
    x = ember.tensor(np.abs(ex.detach().numpy().astype(np.float64)) + 0.5, requires_grad=True)
    assert gradgradcheck(lambda x: x**exp, (x,))
    with ember.no_grad():
        assert not (ex**exp).requires_grad


@pytest.mark.parametrize("side", ["left", "right"])
@pytest.mark.parametrize("grad_of", ["tensor", "scalar", "both"])
def test_mul_by_0d_tensor_in_autograd(side, grad_of):
    ex, tx = _pair((3, 4), np.float64, 7, grad_of != "scalar")
    es, ts = _pair((), np.float64, 8, grad_of != "tensor")
    e = ex * es if side == "left" else es * ex
    t = tx * ts if side == "left" else ts * tx
    _same(e, t)
    assert e.grad_fn.name() == t.grad_fn.name() and _edges(e) == _edges(t)
    e.sum().backward()
    t.sum().backward()
    for x, y in ((ex, tx), (es, ts)):
        if y.grad is not None:
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12)
    assert gradcheck(
        lambda a, b: a * b, (ex.detach().requires_grad_(), es.detach().requires_grad_())
    )
    # a float32 0-d times a float64 tensor: the general path's promotion, as torch
    e32, t32 = _pair((), np.float32, 9)
    _same(ex * e32, tx * t32)


_OPS = {
    "add": lambda lib, a, b, c, m, i: a + b,
    "sub": lambda lib, a, b, c, m, i: a - b,
    "mul": lambda lib, a, b, c, m, i: a * b,
    "div": lambda lib, a, b, c, m, i: a / b,
    "mul_number": lambda lib, a, b, c, m, i: a * 2.0,
    "add_number": lambda lib, a, b, c, m, i: a + 2,
    "pow_tensor": lambda lib, a, b, c, m, i: a ** b.abs(),
    "pow_number": lambda lib, a, b, c, m, i: a**2,
    "maximum": lambda lib, a, b, c, m, i: lib.maximum(a, b),
    "atan2": lambda lib, a, b, c, m, i: lib.atan2(a, b),
    "where": lambda lib, a, b, c, m, i: lib.where(m, a, b),
    "cat": lambda lib, a, b, c, m, i: lib.cat([b, a, c]),
    "stack": lambda lib, a, b, c, m, i: lib.stack([a, b]),
    "mm": lambda lib, a, b, c, m, i: lib.mm(a, b.t()),
    "mse_loss": lambda lib, a, b, c, m, i: lib.nn.functional.mse_loss(a, b),
    "index_add": lambda lib, a, b, c, m, i: a.index_add(0, i, b[:2]),
    "index_copy": lambda lib, a, b, c, m, i: a.index_copy(0, i, b[:2]),
    "index_put": lambda lib, a, b, c, m, i: a.index_put((i,), b[:2]),
    "scatter_add": lambda lib, a, b, c, m, i: a.scatter_add(0, i[:, None].expand(2, 4), b[:2]),
    "masked_fill_tensor": lambda lib, a, b, c, m, i: a.masked_fill(m, b[0, 0]),
    "masked_fill_number": lambda lib, a, b, c, m, i: a.masked_fill(m, 1.0),
    "index_select": lambda lib, a, b, c, m, i: a.index_select(0, i),
    "sum_dim": lambda lib, a, b, c, m, i: a.sum(0),
}


@pytest.mark.parametrize("op", sorted(_OPS))
@pytest.mark.parametrize("which", [0, 1])
def test_next_functions_list_non_grad_tensor_inputs(op, which):
    """torch lists (None, 0) for each tensor operand that needs no gradient, in its place."""

    def run(lib):
        g = np.random.default_rng(10)
        ts = [lib.tensor(g.standard_normal((3, 4)), requires_grad=(k == which)) for k in range(3)]
        m = lib.tensor(g.standard_normal((3, 4)) > 0)
        i = lib.tensor([0, 2])
        y = _OPS[op](lib, *ts, m, i)
        return y, _edges(y) if y.grad_fn is not None else None

    (e, ee), (t, te) = run(ember), run(torch)
    assert ee == te
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-12)


def test_node_post_hook_sees_torchs_grad_inputs():
    seen = {}
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 3
        y.grad_fn.register_hook(lambda gi, go, lib=lib: seen.__setitem__(lib, gi))
        y.sum().backward()
    assert [g is None for g in seen[ember]] == [g is None for g in seen[torch]] == [False, True]
    np.testing.assert_array_equal(seen[ember][0].numpy(), seen[torch][0].numpy())


@pytest.mark.parametrize("value", ["number", "tensor"])
@pytest.mark.parametrize("mask_shape", [(3, 4), (4,)])
def test_masked_fill_double_backward_node(value, mask_shape):
    def run(lib):
        a = lib.tensor(np.random.default_rng(11).standard_normal((3, 4)), requires_grad=True)
        m = lib.tensor(np.random.default_rng(12).standard_normal(mask_shape) > 0)
        v = 2.0 if value == "number" else lib.tensor(2.0, dtype=lib.float64)
        y = a.masked_fill(m, v)
        gy = lib.tensor(np.random.default_rng(13).standard_normal((3, 4)), requires_grad=True)
        (g,) = lib.autograd.grad(y, a, gy, create_graph=True)
        (gg,) = lib.autograd.grad(g.sum(), gy)
        return y.grad_fn.name(), g.grad_fn.name(), _edges(g), g.detach().numpy(), gg.numpy()

    e, t = run(ember), run(torch)
    assert e[:3] == t[:3]
    np.testing.assert_array_equal(e[3], t[3])
    np.testing.assert_array_equal(e[4], t[4])
    a = ember.tensor(np.random.default_rng(14).standard_normal((3, 4)), requires_grad=True)
    m = ember.tensor(np.random.default_rng(15).standard_normal(mask_shape) > 0)
    assert gradgradcheck(lambda a: a.masked_fill(m, 2.0), (a,))


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [
        (0, 300, "uint8"),
        (-1, 3, "uint8"),
        (0, 129, "int8"),
        (-129, 0, "int8"),
        (0, 2**40, "int32"),
        (-(2**31) - 1, 0, "int32"),
        (0, 2**63, "int64"),
        (-(2**63) - 1, 0, "int64"),
    ],
)
def test_randint_bounds_beyond_the_dtype(low, high, dtype):
    with pytest.raises((RuntimeError, ValueError)) as te:
        torch.randint(low, high, (3,), dtype=getattr(torch, dtype))
    with pytest.raises(type(te.value)):
        ember.randint(low, high, (3,), dtype=getattr(ember, dtype))
    if dtype == "int64":  # the default dtype: the positional fast call too
        with pytest.raises(type(te.value), match="overflows int64"):
            ember.randint(low, high, (3,))


@pytest.mark.parametrize(
    ("low", "high", "dtype"),
    [(0, 256, "uint8"), (-128, 128, "int8"), (0, 2**31, "int32"), (-(2**63), 2**63 - 1, "int64")],
)
def test_randint_bounds_at_the_dtype_edges(low, high, dtype):
    t = torch.randint(low, high, (50,), dtype=getattr(torch, dtype))
    ember.manual_seed(0)
    e = ember.randint(low, high, (50,), dtype=getattr(ember, dtype))
    assert str(e.dtype).rsplit(".")[-1] == str(t.dtype).rsplit(".")[-1]
    v = e.numpy().astype(object)
    assert all(low <= x < high for x in v)
    ember.manual_seed(0)
    np.testing.assert_array_equal(
        ember.randint(low, high, (50,), dtype=getattr(ember, dtype)).numpy(), e.numpy()
    )


# ---- the in-place fronts (clamp_, scatter_add_, index_add_, masked_fill_) ----------------------


def _layouts(lib, a):
    """a's tensor contiguous, transposed (a strided view) and a 0-row one."""
    t = lib.tensor(a)
    return {"c": t, "t": lib.tensor(a.T.copy()).t(), "empty": lib.tensor(a[:0])}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["c", "t", "empty"])
@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (None, 0.25), (-1, None), (0, 0), (1.0, -1.0)])
def test_clamp_inplace_matches_torch(dtype, layout, bounds):
    a = np.random.default_rng(20).standard_normal((6, 5)).astype(dtype)
    e, t = _layouts(ember, a)[layout], _layouts(torch, a)[layout]
    ve, vt = e._version, t._version
    assert e.clamp_(*bounds) is e
    t.clamp_(*bounds)
    _same(e, t)
    assert e._version - ve == t._version - vt == 1


def test_clamp_inplace_0d_views_graph_and_refusals():
    e, t = ember.tensor(3.0), torch.tensor(3.0)
    _same(e.clamp_(max=1), t.clamp_(max=1))
    base_e, base_t = ember.zeros(4, 4), torch.zeros(4, 4)
    base_e[1].clamp_(1.0, 2.0)
    base_t[1].clamp_(1.0, 2.0)
    _same(base_e, base_t)
    assert base_e._version == base_t._version
    leaf_e, leaf_t = _pair((3, 4), np.float64, 21, True)
    for lib, leaf in ((ember, leaf_e), (torch, leaf_t)):
        with pytest.raises(RuntimeError, match="leaf"):
            leaf.clamp_(-0.1, 0.1)
        y = leaf * 2
        y.clamp_(-0.5, 0.5)
        y.sum().backward()
        with lib.no_grad():
            leaf.clamp_(-0.1, 0.1)  # (allowed outside grad mode, as torch)
    np.testing.assert_array_equal(leaf_e.grad.numpy(), leaf_t.grad.numpy())
    _same(leaf_e, leaf_t)
    x = ember.tensor([1, 5, 9])  # an integer tensor: the general path
    assert x.clamp_(2, 6).tolist() == torch.tensor([1, 5, 9]).clamp_(2, 6).tolist()
    with pytest.raises(RuntimeError):
        ember.zeros(3).clamp_()
    with pytest.raises(RuntimeError):
        torch.zeros(3).clamp_()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_inplace_matches_torch(dtype, dim):
    g = np.random.default_rng(22)
    a, s = g.standard_normal((2, 6, 5)).astype(dtype), g.standard_normal((2, 6, 5)).astype(dtype)
    n = a.shape[dim]
    i = g.integers(0, n, a.shape)
    e, t = ember.tensor(a), torch.tensor(a)
    e.scatter_add_(dim, ember.tensor(i), ember.tensor(s))
    t.scatter_add_(dim, torch.tensor(i), torch.tensor(s))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6, atol=1e-6)
    assert e._version == t._version == 1
    # an index smaller than src (the general path) and one out of range (nothing written)
    e2, t2 = ember.tensor(a), torch.tensor(a)
    e2.scatter_add_(dim, ember.tensor(i[:1]), ember.tensor(s))
    t2.scatter_add_(dim, torch.tensor(i[:1]), torch.tensor(s))
    np.testing.assert_allclose(e2.numpy(), t2.numpy(), rtol=1e-6, atol=1e-6)
    bad = i.copy()
    bad[0, 0, 0] = n
    e3 = ember.tensor(a)
    with pytest.raises(RuntimeError):
        torch.tensor(a).scatter_add_(dim, torch.tensor(bad), torch.tensor(s))
    with pytest.raises(RuntimeError):
        e3.scatter_add_(dim, ember.tensor(bad), ember.tensor(s))
    np.testing.assert_array_equal(e3.numpy(), a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6,), (6, 4), (6, 2, 3)])
def test_index_add_inplace_matches_torch(dtype, shape):
    g = np.random.default_rng(23)
    a = g.standard_normal(shape).astype(dtype)
    idx = np.array([0, 3, 3, 5])
    s = g.standard_normal((4, *shape[1:])).astype(dtype)
    e, t = ember.tensor(a), torch.tensor(a)
    e.index_add_(0, ember.tensor(idx), ember.tensor(s))
    t.index_add_(0, torch.tensor(idx), torch.tensor(s))
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert e._version == t._version == 1
    e.index_add_(0, ember.tensor(idx), ember.tensor(s), alpha=2)
    t.index_add_(0, torch.tensor(idx), torch.tensor(s), alpha=2)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    for bad in ([0, 6], [-1, 0]):  # out of range either way: torch's error, nothing written
        before = e.numpy().copy()
        with pytest.raises((RuntimeError, IndexError)) as te:
            t.index_add_(0, torch.tensor(bad), torch.tensor(s[:2]))
        with pytest.raises(type(te.value)):
            e.index_add_(0, ember.tensor(bad), ember.tensor(s[:2]))
        np.testing.assert_array_equal(e.numpy(), before)
    with pytest.raises(RuntimeError):  # x itself as the source: torch's overlap refusal
        e.index_add_(0, ember.tensor(np.arange(6)), e)


def test_index_and_scatter_add_inplace_in_the_graph():
    g = np.random.default_rng(24)
    a, s = g.standard_normal((5, 3)), g.standard_normal((2, 3))
    grads = {}
    for lib in (ember, torch):
        x = lib.tensor(a, requires_grad=True)
        src = lib.tensor(s, requires_grad=True)
        y = x * 1
        y.index_add_(0, lib.tensor([1, 4]), src)
        z = (x * 1).scatter_add_(0, lib.tensor([[0, 1, 2], [4, 4, 4]]), src)
        assert y.grad_fn.name() == "IndexAddBackward0"
        (y.sum() + (z * z).sum()).backward()
        grads[lib] = (x.grad.numpy(), src.grad.numpy(), y.detach().numpy(), z.detach().numpy())
    for e, t in zip(grads[ember], grads[torch]):
        np.testing.assert_allclose(e, t, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [0.5, -3, 1e30, 2**25 + 1, True])
def test_masked_fill_inplace_matches_torch(dtype, value):
    g = np.random.default_rng(25)
    a, m = g.standard_normal((6, 5)).astype(dtype), g.standard_normal((6, 5)) > 0
    e, t = ember.tensor(a), torch.tensor(a)
    e.masked_fill_(ember.tensor(m), value)
    t.masked_fill_(torch.tensor(m), value)
    _same(e, t)
    assert e._version == t._version == 1
    et, tt = ember.tensor(a.T.copy()).t(), torch.tensor(a.T.copy()).t()  # a strided view
    et.masked_fill_(ember.tensor(m), value)
    tt.masked_fill_(torch.tensor(m), value)
    _same(et, tt)
    eb, tb = ember.tensor(a), torch.tensor(a)  # a broadcast mask row
    eb.masked_fill_(ember.tensor(m[0]), value)
    tb.masked_fill_(torch.tensor(m[0]), value)
    _same(eb, tb)


def test_masked_fill_inplace_refusals_and_graph():
    m = np.random.default_rng(26).standard_normal((3, 4)) > 0
    with pytest.raises(RuntimeError):
        torch.zeros(3, 4).masked_fill_(torch.tensor(m), 1e300)
    with pytest.raises(RuntimeError):
        ember.zeros(3, 4).masked_fill_(ember.tensor(m), 1e300)
    with pytest.raises(RuntimeError):
        torch.zeros(3, 4).masked_fill_(torch.tensor(m).float(), 1.0)
    with pytest.raises(RuntimeError):
        ember.zeros(3, 4).masked_fill_(ember.tensor(m).float(), 1.0)
    ge = {}
    for lib in (ember, torch):
        x = lib.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
        y = x * 2
        y.masked_fill_(lib.tensor(m), 0.5)
        (y * y).sum().backward()
        ge[lib] = (y.grad_fn.name(), x.grad.numpy())
    assert ge[ember][0] == ge[torch][0]
    np.testing.assert_array_equal(ge[ember][1], ge[torch][1])


# ---- unbind / chunk pieces, and recorded binary ops by their node straight ---------------------


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_unbind_and_chunk_pieces_match_torch(dim, requires_grad):
    a = np.random.default_rng(27).standard_normal((4, 3, 2))
    outs = {}
    for lib in (ember, torch):
        x = lib.tensor(a, requires_grad=requires_grad)
        pieces = x.unbind(dim) + x.chunk(2, dim)
        outs[lib] = pieces
        if requires_grad:
            sum(((p * (k + 1)).sum() for k, p in enumerate(pieces)), lib.tensor(0.0)).backward()
            outs[lib] = (*pieces, x.grad)
    for e, t in zip(outs[ember], outs[torch]):
        _same(e, t)
        assert (e.grad_fn is None) == (t.grad_fn is None)
        if t.grad_fn is not None and t.grad_fn.name() != "torch::autograd::AccumulateGrad":
            assert e.grad_fn.name() == t.grad_fn.name()
    base_e, base_t = ember.tensor(a), torch.tensor(a)
    base_e.unbind(0)[2].fill_(7.0)  # views: a write shows in the base
    base_t.unbind(0)[2].fill_(7.0)
    _same(base_e, base_t)


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv"])
@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 4), ()), ((), (3, 4)), ((), ())])
@pytest.mark.parametrize("grads", [(True, False), (False, True), (True, True)])
def test_recorded_binary_by_node_matches_torch(op, shapes, grads):
    import operator

    f = getattr(operator, op)
    ea, ta = _pair(shapes[0], np.float64, 28, grads[0])
    eb, tb = _pair(shapes[1], np.float64, 29, grads[1])
    if op == "truediv":
        with torch.no_grad():
            tb.abs_().add_(0.5)
        eb.data[...] = np.abs(eb.data) + 0.5
    e, t = f(ea, eb), f(ta, tb)
    _same(e, t)
    assert e.grad_fn.name() == t.grad_fn.name() and _edges(e) == _edges(t)
    seen = []
    e.register_hook(lambda g: seen.append(1))
    e.sum().backward()
    t.sum().backward()
    assert seen == [1]
    for x, y in ((ea, ta), (eb, tb)):
        assert (x.grad is None) == (y.grad is None)
        if y.grad is not None:
            np.testing.assert_allclose(x.grad.numpy(), y.grad.numpy(), rtol=1e-12)
    with ember.no_grad():
        assert not f(ea, eb).requires_grad
    ea2, eb2 = ea.detach().requires_grad_(), eb.detach().requires_grad_()
    assert gradgradcheck(f, (ea2, eb2))


# ---- x[None], x[idx], select and where in the graph ------------------------------------------


@pytest.mark.parametrize("shape", [(3, 4), (5,), (), (2, 0), (1, 1, 3)])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_none_index_matches_torch(shape, requires_grad):
    a = np.arange(float(np.prod(shape))).reshape(shape)
    e, t = (
        ember.tensor(a, requires_grad=requires_grad),
        torch.tensor(a, requires_grad=requires_grad),
    )
    ye, yt = e[None], t[None]
    _same(ye, yt)
    assert (ye.grad_fn is None) == (yt.grad_fn is None)
    if requires_grad:
        assert ye.grad_fn.name() == yt.grad_fn.name()
    with ember.no_grad():
        assert e[None].requires_grad == requires_grad  # (a view of a leaf, as torch's)
    b = ember.tensor(a)
    v = b[None]
    if b.numel():  # a view: writes show in the base, versions shared
        v.view(-1)[0] = 7.0
        assert b.view(-1)[0].item() == 7.0 and b._version == v._version == 1


@pytest.mark.parametrize("idx", [[1, 3], [-1, 0], [4, 4, 0], [], [[0, 1], [2, 3]], [-5]])
@pytest.mark.parametrize("layout", ["c", "column", "t"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_index_tensor_rows_match_torch(idx, layout, requires_grad):
    a = np.random.default_rng(30).standard_normal((5, 5))
    pick = {"c": lambda x: x, "column": lambda x: x[:, 0], "t": lambda x: x.t()}[layout]
    i = np.array(idx, dtype=np.int64)
    outs = {}
    for lib in (ember, torch):
        x = lib.tensor(a, requires_grad=requires_grad)
        y = pick(x)[lib.tensor(i)]
        outs[lib] = y
        if requires_grad:
            (y * y).sum().backward()
            outs[lib] = (y, x.grad)
    if requires_grad:
        _same(*[o[0] for o in outs.values()])
        assert outs[ember][0].grad_fn.name() == outs[torch][0].grad_fn.name()
        np.testing.assert_allclose(outs[ember][1].numpy(), outs[torch][1].numpy(), rtol=1e-12)
    else:
        _same(outs[ember], outs[torch])


@pytest.mark.parametrize("bad", [[5], [-6], [0, 9]])
def test_index_tensor_rows_out_of_range(bad):
    with pytest.raises(IndexError):
        torch.zeros(5, 3)[torch.tensor(bad)]
    with pytest.raises(IndexError):
        ember.zeros(5, 3)[ember.tensor(bad)]
    with pytest.raises(IndexError):
        ember.zeros(5, 3, requires_grad=True)[ember.tensor(bad)]


@pytest.mark.parametrize(("dim", "index"), [(0, 1), (1, -1), (2, 4), (-1, 0), (-3, -3)])
def test_select_in_the_graph_matches_torch(dim, index):
    a = np.random.default_rng(31).standard_normal((3, 4, 5))
    res = {}
    for lib in (ember, torch):
        x = lib.tensor(a, requires_grad=True)
        y = x.select(dim, index)
        (y * y).sum().backward()
        res[lib] = (y, x.grad, y.grad_fn.name(), _edges(y))
    _same(res[ember][0], res[torch][0])
    np.testing.assert_array_equal(res[ember][1].numpy(), res[torch][1].numpy())
    assert res[ember][2:] == res[torch][2:]
    with pytest.raises(IndexError):
        ember.zeros(3, 4, requires_grad=True).select(1, 4)
    x = ember.tensor(a, requires_grad=True)
    assert gradgradcheck(lambda x: x.select(dim, index), (x,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(6, 5), (3,)])
@pytest.mark.parametrize("grads", [(True, False), (False, True), (True, True)])
def test_where_in_the_graph_matches_torch(dtype, shape, grads):
    g = np.random.default_rng(32)
    a, b = g.standard_normal(shape).astype(dtype), g.standard_normal(shape).astype(dtype)
    m = g.standard_normal(shape) > 0
    res = {}
    for lib in (ember, torch):
        x, y = lib.tensor(a, requires_grad=grads[0]), lib.tensor(b, requires_grad=grads[1])
        out = lib.where(lib.tensor(m), x, y)
        (out * out).sum().backward()
        res[lib] = (out, out.grad_fn.name(), _edges(out), x.grad, y.grad)
    _same(res[ember][0], res[torch][0])
    assert res[ember][1:3] == res[torch][1:3]
    for ge, gt in zip(res[ember][3:], res[torch][3:]):
        assert (ge is None) == (gt is None)
        if gt is not None:
            np.testing.assert_allclose(ge.numpy(), gt.numpy(), rtol=1e-6)
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    y = ember.tensor(b.astype(np.float64), requires_grad=True)
    assert gradgradcheck(lambda x, y: ember.where(ember.tensor(m), x, y), (x, y))
