"""The fast paths of tspeed16: flip's one-copy path, cummax/cummin's C++ scan, multinomial's
all-rows draw, addcmul's three-pass path and einsum's batched dot products; each against torch
(values, dtypes, strides, gradients) or, for the draws, against the weights they follow."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


def _views(t):
    """x itself, transposed and sliced with a step: C-contiguous and strided inputs."""
    return [t, t.transpose(0, -1), t[:, ::2]]


# ---- flip ----------------------------------------------------------------------------------


@pytest.mark.parametrize("dims", [(0,), (1,), (-1,), (0, 2), (), [2, 0, 1]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_flip_values_and_strides_match_torch(dims, dtype):
    a = (np.random.default_rng(0).standard_normal((3, 4, 5)) * 3).astype(dtype)
    for e, t in zip(_views(ember.tensor(a)), _views(torch.tensor(a))):
        y, ty = e.flip(dims), t.flip(dims)
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        assert y.dtype == e.dtype and tuple(y.stride()) == ty.stride()


def test_flip_is_a_copy_and_takes_0d_and_empty():
    x = ember.tensor([1.0, 2.0, 3.0])
    y = x.flip(0)
    y[0] = 9.0
    assert x.numpy().tolist() == [1.0, 2.0, 3.0]
    assert ember.tensor(3.0).flip(0).item() == torch.tensor(3.0).flip(0).item()
    assert ember.tensor(3.0).flip(()).item() == 3.0
    assert ember.zeros(0, 3).flip(0).shape == (0, 3)
    with pytest.raises(IndexError):
        ember.zeros(2, 3).flip(2)
    with pytest.raises(RuntimeError, match="twice"):
        ember.zeros(2, 3).flip((0, 0))


def test_flip_gradients_first_and_second_order():
    a = np.random.default_rng(1).standard_normal((3, 4))
    assert ember.autograd.gradcheck(
        lambda t: t.flip((0, 1)) * ember.tensor(a), (ember.tensor(a, requires_grad=True),)
    )
    x = ember.tensor(a, requires_grad=True)
    (g,) = ember.autograd.grad(x.flip(1).pow(3).sum(), x, create_graph=True)
    g.sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    (gt,) = torch.autograd.grad(xt.flip(1).pow(3).sum(), xt, create_graph=True)
    gt.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


# ---- cummax / cummin -----------------------------------------------------------------------


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cummax_cummin_match_torch_with_ties_and_nans(op, dtype):
    rng = np.random.default_rng(2)
    a = rng.integers(0, 4, (5, 6, 7)).astype(dtype)  # many ties
    a[1, 2, 3] = a[2, 4, 1] = a[2, 5, 1] = np.nan  # a NaN sticks; a later NaN takes the index
    a[0, 0, :] = np.nan
    for e, t in zip(_views(ember.tensor(a)), _views(torch.tensor(a))):
        for d in range(-3, 3):
            (v, i), (tv, ti) = getattr(ember, op)(e, d), getattr(torch, op)(t, d)
            np.testing.assert_array_equal(v.numpy(), tv.numpy())
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
            assert v.dtype == e.dtype and i.dtype == ember.int64
            assert tuple(v.stride()) == tv.stride() and tuple(i.stride()) == ti.stride()


def test_cummax_long_rows_sorted_and_reversed():
    # the last-dim row scan and the vectorised inner scan, over more rows than one group
    a = np.concatenate([np.arange(40.0)[None].repeat(11, 0), -np.arange(40.0)[None]], 0)
    for x in (a, a.T.copy(), np.random.default_rng(3).standard_normal((13, 300))):
        for d in (0, 1):
            v, i = ember.cummax(ember.tensor(x), d)
            tv, ti = torch.cummax(torch.tensor(x), d)
            np.testing.assert_array_equal(v.numpy(), tv.numpy())
            np.testing.assert_array_equal(i.numpy(), ti.numpy())


def test_cummax_other_inputs_and_gradient():
    for a in (np.array(2.5), np.zeros((0, 3)), np.array([[3, 1, 4, 1, 5]])):
        for d in [0] if a.ndim < 2 else [0, 1]:
            v, i = ember.cummax(ember.tensor(a), d)
            tv, ti = torch.cummax(torch.tensor(a), d)
            assert v.shape == tuple(tv.shape) and v.dtype == ember.tensor(a).dtype
            np.testing.assert_array_equal(v.numpy(), tv.numpy())
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
    x = ember.tensor(np.random.default_rng(4).standard_normal((4, 5)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: ember.cummax(t, 1)[0], (x,))
    assert ember.autograd.gradcheck(lambda t: ember.cummin(t, 0)[0], (x,))
    with pytest.raises(IndexError):
        ember.cummax(ember.zeros(2, 3), 2)


def test_cumextreme_kernel_checks_its_input():
    with pytest.raises(ValueError, match="cummax"):
        _C.cumextreme(np.zeros((2, 3), np.float32), True)
    with pytest.raises(TypeError):
        _C.cumextreme(np.zeros((2, 3, 1), np.int32), True)
    with pytest.raises(ValueError, match="cummin"):
        _C.cumextreme(np.zeros((2, 3, 4), np.float32)[:, :, ::2], False)


# ---- multinomial ---------------------------------------------------------------------------


def test_multinomial_with_replacement_follows_each_row():
    ember.manual_seed(0)
    p = np.array([[0.0, 1.0, 3.0, 0.0, 4.0, 2.0], [5.0, 0.0, 0.0, 1.0, 0.0, 4.0]])
    draws = ember.multinomial(ember.tensor(p, dtype=ember.float32), 40000, True).numpy()
    assert draws.dtype == np.int64 and draws.shape == (2, 40000)
    for row, w in zip(draws, p):
        freq = np.bincount(row, minlength=6) / row.size
        np.testing.assert_allclose(freq, w / w.sum(), atol=0.01)
        assert (freq[w == 0] == 0).all()
    # the draws are independent of their position: the first and last columns agree
    many = ember.multinomial(ember.tensor(np.tile(p[0], (30000, 1))), 4, True).numpy()
    for col in (0, 3):
        np.testing.assert_allclose(
            np.bincount(many[:, col], minlength=6) / 30000, p[0] / p[0].sum(), atol=0.012
        )


def test_multinomial_without_replacement_draws_in_sequence():
    ember.manual_seed(1)
    p = np.array([0.0, 1.0, 3.0, 0.0, 4.0, 2.0])
    d = ember.multinomial(ember.tensor(np.tile(p, (40000, 1))), 2).numpy()
    q = p / p.sum()
    np.testing.assert_allclose(np.bincount(d[:, 0], minlength=6) / len(d), q, atol=0.01)
    first = d[:, 0] == 4  # P(second = j | first = 4) = q_j / (1 - q_4)
    second = np.bincount(d[first, 1], minlength=6) / first.sum()
    want = np.where(np.arange(6) == 4, 0, q / (1 - q[4]))
    np.testing.assert_allclose(second, want, atol=0.02)
    rows = ember.multinomial(ember.tensor(np.tile(p, (50, 1))), 4).numpy()
    assert all(sorted(r) == [1, 2, 4, 5] for r in rows)  # every positive category once
    assert ember.multinomial(ember.tensor([1.0, 2.0]), 2).numpy().tolist() in ([0, 1], [1, 0])


def test_multinomial_edges_and_errors():
    assert ember.multinomial(ember.ones(0, 3), 2).shape == (0, 2)
    assert ember.multinomial(ember.ones(0, 3), 2, True).shape == (0, 2)
    assert ember.multinomial(ember.tensor([1e-30, 1.0]), 50, True).numpy().tolist() == [1] * 50
    # more draws than positive weights: those first, then the zero-weight ones, as torch
    for w in ([0.0, 1.0, 1.0], [[0.0, 1.0, 1.0], [2.0, 0.0, 0.0]]):
        d = ember.multinomial(ember.tensor(w), 3).numpy().reshape(-1, 3)
        t = torch.multinomial(torch.tensor(w), 3).numpy().reshape(-1, 3)
        for r, tr, wr in zip(d, t, np.reshape(w, (-1, 3))):
            assert sorted(r) == sorted(tr) == [0, 1, 2]
            assert (wr[r[: np.count_nonzero(wr)]] > 0).all()
    for bad in ([1.0, np.inf], [1.0, np.nan], [1.0, -0.5]):
        with pytest.raises(ValueError, match="finite and non-negative"):
            ember.multinomial(ember.tensor(bad), 1, True)
    with pytest.raises(ValueError, match="positive total"):
        ember.multinomial(ember.tensor([[1.0, 1.0], [0.0, 0.0]]), 1, True)


# ---- addcmul -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [1, 0.5, -2.7, 3])
def test_addcmul_fast_path_matches_torch(dtype, value):
    a, b, c = (np.random.default_rng(5).standard_normal((3, 17, 9)).astype(dtype) for _ in "abc")
    y = ember.addcmul(ember.tensor(a), ember.tensor(b), ember.tensor(c), value=value)
    ty = torch.addcmul(torch.tensor(a), torch.tensor(b), torch.tensor(c), value=value)
    assert y.dtype == ember.tensor(a).dtype and tuple(y.stride()) == ty.stride()
    tol = 1e-6 if dtype == np.float32 else 1e-14  # (torch fuses the last multiply-add)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=tol, atol=tol)


def test_addcmul_other_calls_keep_their_paths():
    a = np.random.default_rng(6).standard_normal((4, 3))
    x, t1, t2 = (ember.tensor(a * k, requires_grad=True) for k in (1.0, 2.0, 3.0))
    assert ember.autograd.gradcheck(lambda u, v, w: ember.addcmul(u, v, w, value=0.3), (x, t1, t2))
    ints = ember.addcmul(ember.tensor([1, 2]), ember.tensor([3, 4]), ember.tensor([5, 6]))
    assert ints.dtype == ember.int64 and ints.numpy().tolist() == [16, 26]
    mixed = ember.addcmul(ember.zeros(2, 3), ember.ones(3), ember.ones(2, 1, dtype=ember.float64))
    assert mixed.dtype == ember.float64 and mixed.shape == (2, 3)
    e = ember.tensor(a)
    y = ember.addcmul(e.T, e.T, e.T, value=2)  # strided operands
    np.testing.assert_allclose(y.numpy(), a.T + 2 * a.T * a.T, rtol=1e-12)


# ---- einsum: batched dot products ----------------------------------------------------------


@pytest.mark.parametrize(
    "eq, shapes",
    [
        ("ij,ij->i", [(5, 7), (5, 7)]),
        ("i,i->", [(6,), (6,)]),
        ("bij,bij->b", [(2, 3, 4), (2, 3, 4)]),
        ("ij,ij->i", [(0, 3), (0, 3)]),
        ("ij,ij->i", [(3, 0), (3, 0)]),
        ("bi,bi->b", [(4, 5), (1, 5)]),
        ("ji,ij->i", [(7, 5), (5, 7)]),
    ],
)
def test_einsum_batched_dot_matches_torch(eq, shapes):
    rng = np.random.default_rng(7)
    arrs = [rng.standard_normal(s) for s in shapes]
    for dt in (np.float32, np.float64):
        y = ember.einsum(eq, *[ember.tensor(a.astype(dt)) for a in arrs])
        ty = torch.einsum(eq, *[torch.tensor(a.astype(dt)) for a in arrs])
        assert y.shape == tuple(ty.shape) and y.dtype == ember.tensor(arrs[0].astype(dt)).dtype
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-5, atol=1e-5)
    xs = [ember.tensor(a, requires_grad=True) for a in arrs]
    assert ember.autograd.gradcheck(lambda *v: ember.einsum(eq, *v), xs)
    i = np.arange(6).reshape(2, 3)
    assert ember.einsum("ij,ij->i", ember.tensor(i), ember.tensor(i)).numpy().tolist() == [5, 50]


# ---- take_along_dim, outer, tensordot: the common calls' shorter paths --------------------


@pytest.mark.parametrize(
    "ishape, dim", [((3, 4, 2), -1), ((1, 4, 5), 0), ((3, 1, 7), 2), ((3, 4, 5), 1), ((1, 1, 3), 2)]
)
def test_take_along_dim_matches_torch(ishape, dim):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 4, 5))
    i = rng.integers(0, a.shape[dim], ishape)
    for e, t in ((a, a), (a.astype(np.float32), a.astype(np.float32)), (a > 0, a > 0)):
        y = ember.take_along_dim(ember.tensor(e), ember.tensor(i), dim)
        ty = torch.take_along_dim(torch.tensor(t), torch.tensor(i), dim)
        np.testing.assert_array_equal(y.numpy(), ty.numpy())
        assert tuple(y.stride()) == ty.stride() and y.dtype == ember.tensor(e).dtype
    idx = ember.tensor(i)
    x = ember.tensor(a, requires_grad=True)
    assert ember.autograd.gradcheck(lambda v: ember.take_along_dim(v, idx, dim), (x,))
    wrapped = torch.take_along_dim(torch.tensor(a), torch.tensor(i + 9), dim)  # modulo, as torch
    np.testing.assert_array_equal(
        ember.take_along_dim(ember.tensor(a), ember.tensor(i + 9), dim).numpy(), wrapped.numpy()
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("n1, n2", [(5, 7), (0, 3), (3, 0), (1, 1), (0, 0)])
def test_outer_matches_torch_with_strides(dtype, n1, n2):
    rng = np.random.default_rng(9)
    a, b = ((rng.standard_normal(n) * 4).astype(dtype) for n in (n1, n2))
    y = ember.outer(ember.tensor(a), ember.tensor(b))
    ty = torch.outer(torch.tensor(a), torch.tensor(b))
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    assert y.numpy().dtype == dtype
    if dtype != np.int64:  # (the generic path's strides for empty results are not torch's)
        assert tuple(y.stride()) == ty.stride()
    with pytest.raises(ValueError, match="1-D"):
        ember.outer(ember.tensor(a).reshape(1, -1), ember.tensor(b))


def test_outer_strided_mixed_and_gradient():
    v = np.random.default_rng(10).standard_normal(8)
    e, t = ember.tensor(v), torch.tensor(v)
    np.testing.assert_array_equal(
        ember.outer(e[::2], e[1::2]).numpy(), torch.outer(t[::2], t[1::2]).numpy()
    )
    m = ember.outer(ember.ones(2), ember.ones(3, dtype=ember.float64))  # promoted
    assert m.dtype == ember.float64 and m.numpy().tolist() == [[1.0] * 3] * 2
    a = ember.tensor(v[:3], requires_grad=True)
    b = ember.tensor(v[3:], requires_grad=True)
    assert ember.autograd.gradcheck(ember.outer, (a, b))


def test_tensordot_matches_torch():
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((4, 3, 5))
    for dims in (([1, 2], [1, 0]), 1, ([2], [0]), 0):
        y = ember.tensordot(ember.tensor(a), ember.tensor(b), dims=dims)
        ty = torch.tensordot(torch.tensor(a), torch.tensor(b), dims=dims)
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12, atol=1e-12)
    assert (
        ember.tensordot(ember.ones(2, 0), ember.ones(0, 3), 1).numpy().tolist() == [[0.0] * 3] * 2
    )
    xs = (ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True))
    assert ember.autograd.gradcheck(lambda u, v: ember.tensordot(u, v, ([1, 2], [1, 0])), xs)


# ---- scatter_reduce: the C++ kernel --------------------------------------------------------


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_reduce_matches_torch(reduce, include_self, dim):
    rng = np.random.default_rng(12)
    for dt in (np.float32, np.float64):
        x = rng.standard_normal((4, 5, 6)).astype(dt)
        ishape = list(x.shape)
        ishape[dim] = 7  # more sources than targets: repeats, and targets left alone
        index = rng.integers(0, x.shape[dim], ishape)
        src = rng.standard_normal(ishape).astype(dt)
        src.flat[3] = np.nan  # a NaN wins amax / amin and poisons the rest
        y = ember.tensor(x).scatter_reduce(
            dim, ember.tensor(index), ember.tensor(src), reduce, include_self=include_self
        )
        ty = torch.tensor(x).scatter_reduce(
            dim, torch.tensor(index), torch.tensor(src), reduce, include_self=include_self
        )
        assert y.dtype == ember.tensor(x).dtype and tuple(y.stride()) == ty.stride()
        tol = 1e-6 if dt == np.float32 else 1e-13
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=tol, atol=tol)
        if reduce in ("sum", "amax", "amin"):  # one combination order: the same bits
            np.testing.assert_array_equal(y.numpy(), ty.numpy())


@pytest.mark.parametrize("reduce", ["sum", "prod", "mean", "amax", "amin"])
def test_scatter_reduce_gradients_and_other_inputs(reduce):
    rng = np.random.default_rng(13)
    x = rng.standard_normal((3, 4)) + 3
    src = rng.standard_normal((3, 6)) + 3
    idx = ember.tensor(rng.integers(0, 4, (3, 6)))
    xs = (ember.tensor(x, requires_grad=True), ember.tensor(src, requires_grad=True))
    for inc in (True, False):
        assert ember.autograd.gradcheck(
            lambda a, b, inc=inc: a.scatter_reduce(1, idx, b, reduce, include_self=inc), xs
        )
    # strided x, a larger src (its leading block is read), int32 index: the kernel's path too
    xt = np.ascontiguousarray(x.T).T
    big = rng.standard_normal((5, 7))
    i32 = rng.integers(0, 3, (5, 4)).astype(np.int32)
    y = ember.tensor(xt).scatter_reduce(0, ember.tensor(i32), ember.tensor(big), reduce)
    ty = torch.tensor(xt).scatter_reduce(0, torch.tensor(i32).long(), torch.tensor(big), reduce)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-13)
    # an index smaller than x outside dim and integer x keep the NumPy path: still torch's
    small = rng.integers(0, 4, (2, 3))
    y = ember.tensor(x).scatter_reduce(1, ember.tensor(small), ember.tensor(src), reduce)
    ty = torch.tensor(x).scatter_reduce(1, torch.tensor(small), torch.tensor(src), reduce)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-13)
    xi, si = rng.integers(-9, 9, (3, 4)), rng.integers(-9, 9, (3, 6))
    y = ember.tensor(xi).scatter_reduce(1, idx, ember.tensor(si), reduce)
    ty = torch.tensor(xi).scatter_reduce(1, torch.tensor(idx.numpy()), torch.tensor(si), reduce)
    np.testing.assert_array_equal(y.numpy(), ty.numpy())


def test_scatter_reduce_errors_and_kernel_checks():
    x, src = ember.zeros(3, 4), ember.ones(3, 4)
    with pytest.raises(IndexError):
        x.scatter_reduce(1, ember.tensor(np.full((3, 4), 4)), src, "amax")
    with pytest.raises(IndexError):
        x.scatter_reduce(1, ember.tensor(np.full((3, 4), -1)), src, "sum")
    with pytest.raises(ValueError, match="reduce"):
        x.scatter_reduce(1, ember.zeros(3, 4, dtype=ember.int64), src, "maximum")
    a, i = np.zeros((3, 4), np.float32), np.zeros((3, 4), np.int64)
    with pytest.raises(ValueError, match="reduce"):  # ('mean' is the kernel's since tspeed18)
        _C.scatter_reduce(a, a, i, 1, "median")
    with pytest.raises(TypeError):
        _C.scatter_reduce(a, a.astype(np.float64), i, 1, "sum")
    with pytest.raises(ValueError):
        _C.scatter_reduce(a, a[:, :2], i, 1, "sum")  # src not of index's shape
    with pytest.raises(ValueError):
        _C.scatter_reduce(a, a[:2], i[:2], 1, "sum")  # index not x's shape outside dim
    e = ember.zeros(0, 3).scatter_reduce(
        0, ember.zeros(0, 3, dtype=ember.int64), ember.zeros(0, 3), "sum"
    )
    assert e.shape == (0, 3)


@pytest.mark.parametrize("reduce", ["sum", "mean", "amax", "amin", "prod"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_gradients_with_ties_match_torch(reduce, include_self):
    rng = np.random.default_rng(14)
    x = rng.integers(1, 4, (3, 5)).astype(np.float64)  # ties between x and src values
    src = rng.integers(1, 4, (3, 4)).astype(np.float64)
    index = rng.integers(0, 5, (3, 4))
    w = rng.standard_normal((3, 5))
    grads = []
    for lib in (ember, torch):
        a = lib.tensor(x, requires_grad=True)
        b = lib.tensor(src, requires_grad=True)
        y = a.scatter_reduce(1, lib.tensor(index), b, reduce, include_self=include_self)
        (y * lib.tensor(w)).sum().backward()
        grads.append((a.grad.numpy(), b.grad.numpy()))
    for e, t in zip(*grads):
        np.testing.assert_allclose(e, t, rtol=1e-12, atol=1e-12)
