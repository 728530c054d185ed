"""The fast paths of small ops (arange, ones, full, empty_like, masked_fill, pow of two tensors,
bmm / batched matmul, two-operand einsum): values against torch on edge inputs, gradients by
float64 gradcheck where the same call records a node, and the errors the general paths give."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _same(e, t):
    """ember's result e equals torch's t bit for bit (NaN where NaN), in dtype and shape."""
    a, b = np.asarray(e.numpy()), t.detach().numpy()
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a, b)


def _pair(rng, shape, dtype=np.float32):
    x = rng.standard_normal(shape).astype(dtype)
    return ember.tensor(x), torch.tensor(x)


# ---- factories ------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [(0,), (1,), (64,), (3, 9), (-5, 2), (4, 4), (2**40, 2**40 + 3)])
def test_arange_ints(args):
    _same(ember.arange(*args), torch.arange(*args))


def test_arange_other_calls_keep_general_path():
    _same(ember.arange(5, dtype=ember.float32), torch.arange(5, dtype=torch.float32))
    _same(ember.arange(1.5), torch.arange(1.5))
    _same(ember.arange(2, 11, 3), torch.arange(2, 11, 3))
    _same(ember.arange(np.int64(4)), torch.arange(4))
    t = ember.arange(3, requires_grad=False)
    assert not t.requires_grad
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        ember.arange(3, 1)
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        ember.arange(-1)
    with pytest.raises(TypeError, match="missing required argument"):
        ember.arange()


@pytest.mark.parametrize("size", [(8, 8), (0, 3), (), (2, 1, 4)])
def test_ones_full_empty_like(size):
    if size:
        _same(ember.ones(*size), torch.ones(*size))
    _same(ember.ones(size), torch.ones(size))
    for v in (0.1, -2.5, float("nan"), float("inf")):
        _same(ember.full(size, v), torch.full(size, v))
    x = ember.randn(size)
    e = ember.empty_like(x)
    assert e.shape == x.shape and e.dtype == x.dtype and e.data.flags.c_contiguous
    assert not np.shares_memory(e.data, x.data)


def test_full_general_cases_unchanged():
    _same(ember.full((2, 3), 7), torch.full((2, 3), 7))  # int fill: int64
    _same(ember.full((2, 3), True), torch.full((2, 3), True))
    _same(ember.full([2, 3], 0.5), torch.full([2, 3], 0.5))
    _same(ember.full(4, 0.5), torch.full((4,), 0.5))
    _same(ember.full((2,), 0.5, dtype=ember.float64), torch.full((2,), 0.5, dtype=torch.float64))
    with pytest.raises(ValueError, match="negative dimension"):
        ember.full((2, -1), 0.5)
    with pytest.raises(TypeError, match="sizes must be ints"):
        ember.full(((2, 3),), 0.5)
    with pytest.raises(ValueError, match="cannot be converted"):
        ember.full((2,), float("nan"), dtype=ember.int64)


def test_factories_under_default_dtype_and_device_context():
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.full((2,), 0.5).dtype == ember.float64
        assert ember.ones(2).dtype == ember.float64
    finally:
        ember.set_default_dtype(ember.float32)
    with ember.device("meta"):
        assert ember.ones(2, 3).device.type == "meta"
        assert ember.full((2,), 0.5).device.type == "meta"
        assert ember.arange(4).device.type == "meta"


def test_empty_like_strided_and_other_dtypes_keep_layout():
    x = ember.randn(4, 6).t()  # a transposed view: torch's preserve_format strides
    e, t = ember.empty_like(x), torch.empty_like(torch.randn(4, 6).t())
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    i = ember.arange(6)
    assert ember.empty_like(i).dtype == ember.int64
    assert ember.empty_like(x, dtype=ember.float64).dtype == ember.float64


# ---- masked_fill ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(0,), (3,), (8, 8), (5, 7, 3)])
@pytest.mark.parametrize("value", [0.0, -1.25, 3, float("nan"), float("-inf"), 0.1])
def test_masked_fill_matches_torch(rng, shape, value):
    for dtype in (np.float32, np.float64):
        x = rng.standard_normal(shape).astype(dtype)
        x.flat[::4] = np.nan
        m = rng.random(shape) > 0.5
        e = ember.tensor(x).masked_fill(ember.tensor(m), value)
        _same(e, torch.tensor(x).masked_fill(torch.tensor(m), value))


def test_masked_fill_views_broadcast_and_errors(rng):
    x = rng.standard_normal((6, 5)).astype(np.float32)
    m = rng.random((5, 6)) > 0.5
    et, tt = ember.tensor(x).t(), torch.tensor(x).t()
    out = et.masked_fill(ember.tensor(m), 2.0)
    _same(out, tt.masked_fill(torch.tensor(m), 2.0))
    assert out.data.flags.c_contiguous  # (torch fills a contiguous clone)
    row = rng.random(5) > 0.5
    _same(
        ember.tensor(x).masked_fill(ember.tensor(row), -1.0),
        torch.tensor(x).masked_fill(torch.tensor(row), -1.0),
    )
    ints = np.arange(6).reshape(2, 3)
    mi = ints % 2 == 0
    _same(
        ember.tensor(ints).masked_fill(ember.tensor(mi), 7),
        torch.tensor(ints).masked_fill(torch.tensor(mi), 7),
    )
    with pytest.raises(TypeError, match="mask must be bool"):
        ember.tensor(x).masked_fill(ember.tensor(x > 0).int(), 1.0)


def test_masked_fill_gradient():
    x = ember.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    m = ember.tensor(np.arange(12).reshape(3, 4) % 3 == 0)
    assert gradcheck(lambda t: t.masked_fill(m, 0.5) * t, (x,))
    with ember.no_grad():
        y = x.masked_fill(m, 0.5)
    assert not y.requires_grad


# ---- pow of two tensors ---------------------------------------------------------------------


def _pow_check(x, y, tx, ty):
    """ember's x ** y against torch's (NumPy's power may differ in the last ulp of float32)
    and bit for bit against the same product through the node (the general path)."""
    e = x**y
    t = tx**ty
    assert e.dtype == t.detach().numpy().dtype and e.shape == tuple(t.shape)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=3e-7, atol=0)
    g = ember.tensor(x.numpy(), requires_grad=True) ** y
    np.testing.assert_array_equal(e.numpy(), g.detach().numpy())


def test_pow_two_tensors_matches_torch(rng):
    vals = np.array([0.0, -0.0, 1.0, -1.0, 2.0, -2.5, 0.5, np.nan, np.inf, -np.inf], np.float32)
    a, b = np.meshgrid(vals, vals)
    _pow_check(ember.tensor(a), ember.tensor(b), torch.tensor(a), torch.tensor(b))
    for dtype in (np.float32, np.float64):
        x = np.abs(rng.standard_normal((4, 5))).astype(dtype) + 0.1
        y = rng.standard_normal((5,)).astype(dtype)
        _pow_check(ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y))  # bcast
        xt = np.ascontiguousarray(x.T)
        _pow_check(ember.tensor(xt).t(), ember.tensor(x), torch.tensor(xt).t(), torch.tensor(x))
        z = np.float64(1.5) if dtype == np.float32 else np.float32(1.5)
        e = ember.tensor(x) ** ember.tensor(np.array(z))  # mixed dtypes: the general path
        np.testing.assert_allclose(e.numpy(), (torch.tensor(x) ** torch.tensor(z)).numpy(),
                                   rtol=3e-7)  # fmt: skip
        assert e.dtype == dtype
    e = ember.tensor(np.zeros((0, 3), np.float32))
    _same(e ** ember.tensor(np.ones(3, np.float32)), torch.zeros(0, 3) ** torch.ones(3))


def test_pow_two_tensors_strides_and_errors(rng):
    x = np.abs(rng.standard_normal((3, 4))).astype(np.float32)
    e = ember.tensor(x).t() ** ember.tensor(x).t()
    t = torch.tensor(x).t() ** torch.tensor(x).t()
    assert e.stride() == t.stride()
    with pytest.raises(ValueError, match=r"pow: shapes \(3, 4\) and \(3,\)"):
        ember.tensor(x) ** ember.tensor(x[:, 0])


def test_pow_two_tensors_gradient():
    a = ember.tensor(np.linspace(0.5, 2, 6).reshape(2, 3), requires_grad=True)
    b = ember.tensor(np.linspace(-1, 1, 3), requires_grad=True)
    assert gradcheck(lambda u, v: u**v, (a, b))


# ---- bmm / batched matmul -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shapes", [((4, 8, 8), (4, 8, 8)), ((2, 3, 5), (2, 5, 1)),
                                    ((0, 3, 4), (0, 4, 2)), ((2, 3, 0), (2, 0, 4))])  # fmt: skip
def test_bmm_matches_numpy(rng, dtype, shapes):
    x, y = (rng.standard_normal(s).astype(dtype) for s in shapes)
    ref = np.matmul(x.astype(np.float64), y.astype(np.float64))
    for op in (ember.bmm, ember.matmul):
        out = op(ember.tensor(x), ember.tensor(y))
        assert out.dtype == dtype and out.shape == ref.shape
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_bmm_views_and_same_values_as_graph_path(rng):
    x = rng.standard_normal((3, 6, 5)).astype(np.float32)
    y = rng.standard_normal((3, 6, 4)).astype(np.float32)
    a = ember.tensor(x).transpose(1, 2)  # (3, 5, 6), a transposed view
    b = ember.tensor(y)
    out = ember.bmm(a, b)
    ag = ember.tensor(x, requires_grad=True).transpose(1, 2)
    np.testing.assert_array_equal(out.numpy(), ember.bmm(ag, b).detach().numpy())
    ref = np.matmul(x.transpose(0, 2, 1), y)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-5)


def test_bmm_errors_and_gradient():
    a, b = ember.randn(2, 3, 4), ember.randn(2, 5, 4)
    with pytest.raises(ValueError, match="cannot be multiplied"):
        ember.bmm(a, b)
    with pytest.raises(ValueError, match=r"bmm: expected \(B, n, m\)"):
        ember.bmm(a, ember.randn(3, 4, 5))
    with pytest.raises(TypeError, match="one dtype"):
        ember.bmm(a, ember.randn(2, 4, 5, dtype=ember.float64))
    x = ember.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    y = ember.tensor(np.random.default_rng(1).standard_normal((2, 4, 2)), requires_grad=True)
    assert gradcheck(ember.bmm, (x, y))


# ---- einsum of two ----------------------------------------------------------------------


EQUATIONS = [
    ("ij,jk->ik", (3, 4), (4, 5)),
    ("ij,jk", (3, 4), (4, 5)),
    ("ij,kj->ik", (3, 4), (5, 4)),
    ("ij,jk->ki", (3, 4), (4, 5)),
    ("bij,bjk->bik", (2, 3, 4), (2, 4, 5)),
    ("bij,bkj->bki", (2, 3, 4), (2, 5, 4)),
    ("...ij,...jk->...ik", (2, 3, 4), (2, 4, 1)),
    ("ij,j->i", (3, 4), (4,)),
    ("i,j->ij", (3,), (4,)),
    ("i,i->", (5,), (5,)),
    ("ij,ij->i", (3, 4), (3, 4)),
    ("ij,ij->ij", (3, 4), (3, 4)),
    ("ii,ij->j", (3, 3), (3, 4)),
    ("ij,jk->i", (3, 4), (4, 5)),
    ("ij,jk->ik", (1, 4), (3, 4, 5)[1:]),
    ("ij,jk->ik", (3, 1), (4, 5)),
    ("bij,jk->bik", (2, 3, 4), (4, 5)),
    ("ij,jk->ik", (0, 4), (4, 5)),
    ("ij,jk->ik", (3, 0), (0, 5)),
    ("i j , j k -> i k", (3, 4), (4, 5)),
]


@pytest.mark.parametrize("eq,sa,sb", EQUATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_einsum_two_matches_torch(rng, eq, sa, sb, dtype):
    x = rng.standard_normal(sa).astype(dtype)
    y = rng.standard_normal(sb).astype(dtype)
    e = ember.einsum(eq, ember.tensor(x), ember.tensor(y))
    t = torch.einsum(eq, torch.tensor(x), torch.tensor(y))
    assert e.dtype == dtype and e.shape == tuple(t.shape)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5, atol=1e-5)
    # the same values as the graph's path (which goes through einsum's general code)
    g = ember.einsum(eq, ember.tensor(x, requires_grad=True), ember.tensor(y)).detach()
    np.testing.assert_array_equal(e.numpy(), g.numpy())


def test_einsum_two_views_nan_and_list_operands(rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    x[0, 0] = np.nan
    y = rng.standard_normal((4, 5)).astype(np.float32)
    e = ember.einsum("ij,jk->ik", [ember.tensor(x).t(), ember.tensor(y)])
    t = torch.einsum("ij,jk->ik", torch.tensor(x).t(), torch.tensor(y))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5, atol=1e-5)
    assert np.isnan(e.numpy()[0]).all() and not np.isnan(e.numpy()[1:]).any()


def test_einsum_two_errors():
    a, b = ember.randn(3, 4), ember.randn(5, 6)
    with pytest.raises(ValueError, match="has sizes 4 and 5"):
        ember.einsum("ij,jk->ik", a, b)
    with pytest.raises(ValueError, match="names 3 operands, got 2"):
        ember.einsum("ij,jk,kl->il", a, b)
    with pytest.raises(ValueError, match="do not fit operand 0"):
        ember.einsum("ijk,jk->ik", a, b)
    with pytest.raises(TypeError, match="one dtype"):
        ember.einsum("ij,jk->ik", a, ember.randn(4, 2, dtype=ember.float64))


def test_einsum_two_gradient():
    x = ember.tensor(np.random.default_rng(0).standard_normal((2, 3, 4)), requires_grad=True)
    y = ember.tensor(np.random.default_rng(1).standard_normal((2, 4, 3)), requires_grad=True)
    assert gradcheck(lambda u, v: ember.einsum("bij,bjk->bki", u, v), (x, y))


# ---- comparisons and where ------------------------------------------------------------------


_CMP = ["__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"]


@pytest.mark.parametrize("op", _CMP)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_compare_float_tensors(rng, op, dtype):
    x = rng.standard_normal((6, 5)).astype(dtype)
    y = x.copy()
    y[::2] = rng.standard_normal((3, 5))
    x[0, :3] = [np.nan, np.inf, -np.inf]
    y[1, :2] = [np.nan, np.inf]
    ex, ey, tx, ty = ember.tensor(x), ember.tensor(y), torch.tensor(x), torch.tensor(y)
    _same(getattr(ex, op)(ey), getattr(tx, op)(ty))
    _same(getattr(ex, op)(0.1), getattr(tx, op)(0.1))  # 0.1 read as float32 for float32 x
    _same(getattr(ex, op)(float("nan")), getattr(tx, op)(float("nan")))
    _same(getattr(ex.t(), op)(ey.t()), getattr(tx.t(), op)(ty.t()))  # views: torch's strides
    assert getattr(ex.t(), op)(ey.t()).stride() == getattr(tx.t(), op)(ty.t()).stride()
    _same(getattr(ex, op)(ey[0]), getattr(tx, op)(ty[0]))  # broadcast
    _same(getattr(ex, op)(ey[:, :1]), getattr(tx, op)(ty[:, :1]))
    z = np.array(0.1, np.float64 if dtype == np.float32 else np.float32)  # mixed: general path
    _same(getattr(ex, op)(ember.tensor(z)), getattr(tx, op)(torch.tensor(z)))


def test_compare_errors():
    with pytest.raises(ValueError, match="broadcast"):
        ember.lt(ember.randn(3, 4), ember.randn(2, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(0,), (7,), (8, 8), (3, 4, 5)])
def test_where_float_tensors(rng, dtype, shape):
    x = rng.standard_normal(shape).astype(dtype)
    y = rng.standard_normal(shape).astype(dtype)
    x.flat[::3] = np.nan
    c = rng.random(shape) > 0.5
    _same(
        ember.where(ember.tensor(c), ember.tensor(x), ember.tensor(y)),
        torch.where(torch.tensor(c), torch.tensor(x), torch.tensor(y)),
    )


def test_where_views_broadcast_and_errors(rng):
    x = rng.standard_normal((4, 6)).astype(np.float32)
    y = rng.standard_normal((6,)).astype(np.float32)
    c = rng.random((6, 4)) > 0.5
    e = ember.where(ember.tensor(c).t(), ember.tensor(x), ember.tensor(y))
    t = torch.where(torch.tensor(c).t(), torch.tensor(x), torch.tensor(y))
    _same(e, t)
    assert e.stride() == t.stride()
    with pytest.raises(ValueError, match="broadcast"):
        ember.where(ember.tensor(c), ember.tensor(x), ember.tensor(y))
    a = ember.tensor(np.linspace(-1, 1, 12).reshape(3, 4), requires_grad=True)
    b = ember.tensor(np.linspace(2, 3, 4), requires_grad=True)
    m = ember.tensor(np.arange(12).reshape(3, 4) % 2 == 0)
    assert gradcheck(lambda u, v: ember.where(m, u, v), (a, b))


# ---- gather's backward / scatter_add along the last axis (the kernel's inner == 1 loop) ------


@pytest.mark.parametrize("dim", [-1, 1, 0])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_add_matches_torch(rng, dim, dtype):
    x = rng.standard_normal((5, 7)).astype(dtype)
    src = rng.standard_normal((5, 7)).astype(dtype)
    src[0, 0], src[1, 1] = np.nan, np.inf
    idx = rng.integers(0, 5 if dim == 0 else 7, (5, 7))
    idx[2] = idx[2, 0]  # repeated targets add up in index order
    e = ember.tensor(x).scatter_add(dim, ember.tensor(idx), ember.tensor(src))
    t = torch.tensor(x).scatter_add(dim, torch.tensor(idx), torch.tensor(src))
    _same(e, t)
    # a smaller index (its leading block of src), an empty one, a strided src
    e = ember.tensor(x).scatter_add(dim, ember.tensor(idx[:3, :4]), ember.tensor(src))
    _same(e, torch.tensor(x).scatter_add(dim, torch.tensor(idx[:3, :4]), torch.tensor(src)))
    e0 = ember.tensor(x).scatter_add(dim, ember.tensor(idx[:0, :0]), ember.tensor(src))
    _same(e0, torch.tensor(x))
    s2 = np.ascontiguousarray(src.T)
    e = ember.tensor(x).scatter_add(dim, ember.tensor(idx), ember.tensor(s2).t())
    _same(e, torch.tensor(x).scatter_add(dim, torch.tensor(idx), torch.tensor(s2).t()))


def test_scatter_add_errors():
    x, src = ember.zeros(3, 4), ember.ones(3, 4)
    with pytest.raises(IndexError, match="out of range"):
        x.scatter_add(1, ember.tensor(np.full((3, 4), 4)), src)
    with pytest.raises(IndexError, match="out of range"):
        x.scatter_add(-1, ember.tensor(np.full((3, 4), -1)), src)


def test_gather_last_axis_backward(rng):
    x = rng.standard_normal((4, 6))
    idx = rng.integers(0, 6, (4, 9))  # repeats: their gradients add up
    ex = ember.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    g = rng.standard_normal((4, 9))
    ember.gather(ex, -1, ember.tensor(idx)).backward(ember.tensor(g))
    torch.gather(tx, -1, torch.tensor(idx)).backward(torch.tensor(g))
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    ex32 = ember.tensor(x.astype(np.float32), requires_grad=True)
    ember.gather(ex32, 1, ember.tensor(idx)).sum().backward()
    np.testing.assert_array_equal(ex32.grad.numpy(), np.bincount(
        (idx + 6 * np.arange(4)[:, None]).ravel(), minlength=24).reshape(4, 6))  # fmt: skip
    assert gradcheck(lambda t: ember.gather(t, -1, ember.tensor(idx)), (ex,))


@pytest.mark.parametrize("shape", [(), (0,), (1,), (7,), (8, 8), (3, 0, 2), (5, 6, 7)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_small_full_sum(rng, shape, dtype):
    x = rng.standard_normal(shape).astype(dtype)
    if x.size > 2:
        x.flat[1] = np.inf
    for a in (x, x.T):  # (a transposed view too)
        e = ember.tensor(a).sum()
        assert e.shape == () and e.dtype == dtype
        np.testing.assert_array_equal(e.numpy(), np.add.reduce(a, axis=tuple(range(a.ndim))))
        g = ember.tensor(a, requires_grad=True).sum().detach()  # the node's: the same bits
        np.testing.assert_array_equal(e.numpy(), g.numpy())
        np.testing.assert_allclose(e.numpy(), torch.tensor(a).sum().numpy(), rtol=1e-5)
    t = ember.tensor(rng.standard_normal(shape), requires_grad=True)
    assert gradcheck(lambda u: u.sum(), (t,))
    with ember.no_grad():
        assert not t.sum().requires_grad


@pytest.mark.parametrize("dim", [0, 1, -1, -2])
@pytest.mark.parametrize("keepdim", [False, True])
def test_argmax_dim(rng, dim, keepdim):
    for dtype in (np.float32, np.float64):
        x = rng.integers(-2, 3, (5, 6)).astype(dtype)  # ties: the first index wins
        x[1, 2], x[3, 0] = np.nan, np.inf
        for a in (x, np.ascontiguousarray(x.T).T):
            _same(ember.tensor(a).argmax(dim, keepdim), torch.tensor(a).argmax(dim, keepdim))
            _same(ember.argmax(ember.tensor(a), dim), torch.argmax(torch.tensor(a), dim))


def test_argmax_dim_errors_and_edges():
    with pytest.raises(IndexError):
        ember.randn(3, 4).argmax(2)
    with pytest.raises(IndexError):
        ember.randn(3, 4).argmax(-3)
    _same(ember.tensor(np.float32(2.0)).argmax(0), torch.tensor(2.0).argmax(0))
    e = ember.tensor(np.zeros((0, 3), np.float32)).argmax(1)
    assert e.shape == (0,) and e.dtype == ember.int64
