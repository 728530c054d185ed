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
