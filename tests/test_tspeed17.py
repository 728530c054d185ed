"""The tspeed17 fast paths against torch (and NumPy): median / nanmedian by selection, the
stable radix sort and the integer sort, scatter and index_put(accumulate=True) by _C, the tiled
transpose copy and sums over dims in several runs. Values, indices (ties, NaN), dtypes, layouts,
gradients, bad input and 1 vs 2 threads."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")

INT_DTYPES = [np.int8, np.int16, np.int32, np.int64, np.uint8]
FLOAT_DTYPES = [np.float16, np.float32, np.float64]


def _tt(a):
    return torch.from_numpy(a.copy(order="C"))


def _with_nans(rng, shape, dtype, frac=0.1):
    a = rng.integers(-4, 5, shape).astype(dtype)  # many ties, -0/+0 via the sign flip below
    if np.dtype(dtype).kind == "f":
        a[rng.random(shape) < frac] = np.nan
        a[a == 0] = np.where(rng.random((a == 0).sum()) < 0.5, -0.0, 0.0)
    return a


def _layouts(a):
    """a as C-contiguous, transposed, flipped (negative strides) and every-other-column views."""
    yield a
    yield np.ascontiguousarray(a.T).T
    yield a[:, ::-1]
    yield np.repeat(a, 2, axis=1)[:, ::2]


# ---- median / nanmedian ---------------------------------------------------------------------


@pytest.mark.parametrize("op", ["median", "nanmedian"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES)
@pytest.mark.parametrize("n", [1, 2, 7, 64, 301])
def test_median_dim_matches_torch(op, dtype, n, rng):
    for dim in (0, 1, -1):
        base = _with_nans(rng, (9, n), dtype)
        for a in _layouts(base):
            for keepdim in (False, True):
                got = getattr(ember, op)(ember.from_numpy(a), dim, keepdim)
                want = getattr(torch, op)(_tt(a), dim, keepdim)
                np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
                np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
                assert got.values.numpy().dtype == a.dtype
                assert got.indices.numpy().dtype == np.int64
                assert got.values.shape == tuple(want.values.shape)


@pytest.mark.parametrize("op", ["median", "nanmedian"])
def test_median_all_nan_rows_and_global(op, rng):
    a = np.full((4, 9), np.nan, np.float32)
    a[1, 3] = 2.0
    a[2, ::2] = 1.0
    got = getattr(ember, op)(ember.from_numpy(a), 1)
    want = getattr(torch, op)(_tt(a), 1)
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    for x in (a, _with_nans(rng, (5, 7), np.float64), rng.integers(0, 3, (4, 4))):
        np.testing.assert_array_equal(
            getattr(ember, op)(ember.from_numpy(x)).numpy(), getattr(torch, op)(_tt(x)).numpy()
        )


def test_median_edges_and_errors():
    x = ember.tensor(3.5)
    v, i = ember.median(x, 0)
    assert v.item() == 3.5 and i.item() == 0
    with pytest.raises(IndexError):
        ember.median(ember.zeros(3, 0), 1)
    with pytest.raises(IndexError):
        ember.median(ember.zeros(3, 4), 2)
    with pytest.raises(TypeError):
        ember.median(ember.tensor([True, False]), 0)
    with pytest.raises(ValueError):
        _C.median_indices(np.zeros((3, 0), np.float32), False)
    with pytest.raises(TypeError):
        _C.median_indices(np.zeros((3, 2), np.int32), False)


def test_median_gradient_and_threads(rng, threads):
    a = rng.standard_normal((6, 11))
    x = ember.tensor(a, requires_grad=True)
    assert gradcheck(lambda t: ember.median(t, 1).values, (x,))
    assert gradcheck(lambda t: ember.nanmedian(t, 0, True).values, (x,))
    big = _with_nans(rng, (300, 257), np.float32)
    runs = []
    for _ in threads():
        r = ember.nanmedian(ember.from_numpy(big), 1)
        runs.append((r.values.numpy().copy(), r.indices.numpy().copy()))
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])


# ---- sort -----------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + [np.bool_])
@pytest.mark.parametrize("descending", [False, True])
def test_stable_sort_matches_torch(dtype, descending, rng):
    for shape, dim in (((5, 300), -1), ((5, 300), 0), ((40,), 0), ((3, 100), 1)):
        base = _with_nans(rng, shape, dtype) if dtype is not np.bool_ else rng.random(shape) < 0.5
        views = _layouts(base) if base.ndim == 2 else [base, base[::-1]]
        for a in views:
            got = ember.sort(ember.from_numpy(a), dim=dim, descending=descending, stable=True)
            want = torch.sort(_tt(a), dim=dim, descending=descending, stable=True)
            np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
            np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
            if np.dtype(dtype).kind != "f" and not descending:  # NumPy's stable order too
                np.testing.assert_array_equal(
                    got.indices.numpy(), np.argsort(a, dim, kind="stable")
                )


@pytest.mark.parametrize("dtype", INT_DTYPES + [np.bool_])
@pytest.mark.parametrize("descending", [False, True])
def test_unstable_integer_sort_matches_torch(dtype, descending, rng):
    for shape in ((4, 512), (7, 33), (1, 5)):
        a = rng.integers(0, 20, shape).astype(dtype)
        for v in _layouts(a):
            got = ember.sort(ember.from_numpy(v), -1, descending)
            want = torch.sort(_tt(v), -1, descending)
            np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
            np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())


def test_long_1d_integer_sort_is_torch_radix_order(rng):
    for dtype in (np.int64, np.int32, np.uint8):
        a = rng.integers(0, 100, 40000).astype(dtype)
        got = ember.sort(ember.from_numpy(a))
        want = torch.sort(_tt(a))
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), np.argsort(a, kind="stable"))


def test_stable_sort_extremes_and_kernel_checks(rng):
    a = np.array([np.iinfo(np.int64).min, -1, 0, np.iinfo(np.int64).max, 0, -1] * 30, np.int64)
    f = np.array([np.inf, -np.inf, np.nan, -0.0, 0.0, -np.nan, 1e-45, -1e-45] * 20, np.float32)
    for x in (a, f, f.astype(np.float64)):
        for d in (False, True):
            got = ember.sort(ember.from_numpy(x), descending=d, stable=True)
            want = torch.sort(_tt(x), descending=d, stable=True)
            np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    with pytest.raises(TypeError):
        _C.stable_sort_indices(np.zeros((2, 3), np.int32), False)
    with pytest.raises(ValueError):
        _C.stable_sort_indices(np.zeros(3, np.float32), False)
    assert _C.stable_sort_indices(np.zeros((0, 3), np.float32), False).shape == (0, 3)


def test_sort_threads_identical_and_gradient(rng, threads):
    a = rng.integers(0, 50, (64, 700)).astype(np.int64)
    runs = [
        [ember.sort(ember.from_numpy(a), -1, stable=s).indices.numpy().copy() for s in (0, 1)]
        for _ in threads()
    ]
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
    x = ember.tensor(rng.standard_normal((4, 9)), requires_grad=True)
    assert gradcheck(lambda t: ember.sort(t, 0, stable=True).values, (x,))


# ---- scatter / index_put ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", FLOAT_DTYPES + INT_DTYPES + [np.bool_, np.complex64])
def test_scatter_matches_torch(dtype, rng):
    for dim in (0, 1, -1):
        x = rng.integers(0, 9, (6, 8)).astype(dtype)
        n = x.shape[dim]
        ishape = (3, 8) if dim == 0 else (6, 5)
        idx = rng.integers(0, n, ishape)  # repeats: the last write wins, as torch
        src = rng.integers(10, 20, (7, 9)).astype(dtype)  # larger than the index: its head
        for xv in (x, x[::-1], np.ascontiguousarray(x.T).T):
            got = ember.scatter(
                ember.from_numpy(xv), dim, ember.from_numpy(idx), ember.from_numpy(src)
            )
            want = torch.scatter(_tt(xv), dim, _tt(idx), _tt(src))
            np.testing.assert_array_equal(got.numpy(), want.numpy())
            assert got.numpy().dtype == xv.dtype and got.numpy().flags.c_contiguous
            if dtype is not np.complex64:
                got = ember.scatter(ember.from_numpy(xv), dim, ember.from_numpy(idx), 3)
                want = torch.scatter(_tt(xv), dim, _tt(idx), 3)
                np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_scatter_in_place_self_source_and_errors(rng):
    a = rng.standard_normal((5, 6)).astype(np.float32)
    idx = rng.integers(0, 6, (5, 6))
    x, tx = ember.from_numpy(a.copy()), _tt(a.copy())
    x.scatter_(1, ember.from_numpy(idx), x.flip(0))
    tx.scatter_(1, _tt(idx), tx.flip(0))
    np.testing.assert_array_equal(x.numpy(), tx.numpy())
    for bad in (6, -1):
        i = idx.copy()
        i[2, 3] = bad
        with pytest.raises(IndexError):
            ember.scatter(ember.from_numpy(a), 1, ember.from_numpy(i), ember.from_numpy(a))
    with pytest.raises(IndexError):
        _C.scatter(a.copy(), a, np.full((5, 6), 9, np.int64), 1)
    with pytest.raises(ValueError):
        _C.scatter(a.copy(), a[:, :2].copy(), idx, 1)
    with pytest.raises(TypeError):
        _C.scatter(a.copy(), a.astype(np.float64), idx, 1)
    with pytest.raises(TypeError):
        _C.scatter(a.copy(), a, idx.astype(np.int32), 1)
    out = a.copy()
    with pytest.raises(ValueError):
        _C.scatter(out, out, idx, 1)  # (src overlapping the written array)
    with pytest.raises(TypeError):
        ember.scatter(
            ember.from_numpy(a), 1, ember.from_numpy(idx), ember.from_numpy(a.astype(np.float64))
        )


def test_scatter_gradient_and_threads(rng, threads):
    x = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    s = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    idx = ember.from_numpy(np.stack([rng.permutation(5) for _ in range(4)]))
    assert gradcheck(lambda a, b: ember.scatter(a, 1, idx, b), (x, s))
    big = rng.standard_normal((300, 400)).astype(np.float32)
    bi = ember.from_numpy(rng.integers(0, 400, (300, 400)))
    outs = [
        ember.scatter(ember.from_numpy(big), 1, bi, ember.from_numpy(-big)).numpy()
        for _ in threads()
    ]
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_index_put_accumulate_matches_torch(dtype, rng):
    for shape in ((50,), (20, 3)):
        x = rng.standard_normal(shape).astype(dtype)
        i = rng.integers(-shape[0], shape[0], 80)  # negative indices wrap, repeats add up
        v = rng.standard_normal((80,) + shape[1:]).astype(dtype)
        got = ember.from_numpy(x.copy())
        got.index_put_((ember.from_numpy(i),), ember.from_numpy(v), accumulate=True)
        want = _tt(x.copy()).index_put_((_tt(i),), _tt(v), accumulate=True)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
        ref = x.copy()
        np.add.at(ref, i, v)
        np.testing.assert_array_equal(got.numpy(), ref)  # np.add.at's order, bit for bit
    x = ember.zeros(5)
    with pytest.raises(IndexError):
        x.index_put_((ember.tensor([5]),), ember.tensor([1.0]), accumulate=True)
    with pytest.raises(IndexError):
        x.index_put_((ember.tensor([-6]),), ember.tensor([1.0]), accumulate=True)


def test_index_put_accumulate_gradient(rng):
    x = ember.tensor(rng.standard_normal((6, 2)), requires_grad=True)
    v = ember.tensor(rng.standard_normal((9, 2)), requires_grad=True)
    i = ember.from_numpy(rng.integers(-6, 6, 9))
    assert gradcheck(lambda a, b: ember.index_put(a, (i,), b, accumulate=True), (x, v))


# ---- transpose copy, sums over several runs -------------------------------------------------


@pytest.mark.parametrize(
    "dtype",
    [
        np.int8,
        np.uint8,
        np.int16,
        np.float16,
        np.int32,
        np.float32,
        np.int64,
        np.float64,
        np.complex64,
        np.bool_,
    ],
)
def test_transpose_contiguous(dtype, rng, threads):
    a = (rng.standard_normal((333, 517)) * 50).astype(dtype)
    for _ in threads():
        y = ember.from_numpy(a).T.contiguous()
        assert y.numpy().flags.c_contiguous and y.numpy().dtype == a.dtype
        np.testing.assert_array_equal(y.numpy(), a.T)
    y = _C.transpose_copy(a)
    np.testing.assert_array_equal(y, a.T)
    assert _C.transpose_copy(np.zeros((0, 4), dtype)).shape == (4, 0)
    with pytest.raises(ValueError):
        _C.transpose_copy(np.zeros((2, 3, 4), dtype))
    with pytest.raises(ValueError):
        _C.transpose_copy(a[:, ::2])
    with pytest.raises(TypeError):
        _C.transpose_copy(np.zeros((2, 2), np.complex128))


def test_sum_over_dim_runs(rng, threads):
    a = rng.standard_normal((8, 16, 32, 4)).astype(np.float32)
    for dims in ((0, 2), (0, 3), (1, 3), (0, 2, 3), (0, 1, 3)):
        for keepdim in (False, True):
            outs = []
            for _ in threads():
                outs.append(ember.from_numpy(a).sum(dims, keepdim).numpy())
            np.testing.assert_array_equal(outs[0], outs[1])
            want = torch.from_numpy(a).sum(dims, keepdim).numpy()
            np.testing.assert_allclose(outs[0], want, rtol=1e-5, atol=1e-5)
            assert outs[0].shape == want.shape
            m = ember.from_numpy(a).mean(dims, keepdim).numpy()
            np.testing.assert_allclose(
                m, torch.from_numpy(a).mean(dims, keepdim).numpy(), rtol=1e-5, atol=1e-6
            )
    x = ember.tensor(rng.standard_normal((4, 8, 40)), requires_grad=True)
    assert gradcheck(lambda t: t.sum((0, 2)), (x,))


# ---- lerp's node, take_along_dim / masked_select / tile / cummax straight paths --------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lerp_gradients_match_torch(dtype, rng):
    a, b, w = (rng.standard_normal((5, 7)).astype(dtype) for _ in range(3))
    w[0, :3] = [0.0, 1.0, 0.5]
    for weight in (0.3, 0.7, w, w[::-1]):
        ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        if isinstance(weight, np.ndarray):
            ew, tw = (
                ember.tensor(weight, requires_grad=True),
                torch.tensor(weight.copy(), requires_grad=True),
            )
        else:
            ew, tw = weight, weight
        y, ty = ember.lerp(ea, eb, ew), torch.lerp(ta, tb, tw)
        # (torch's vector lanes round once, by an FMA: the values agree to an ulp)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-6, atol=1e-7)
        g = rng.standard_normal((5, 7)).astype(dtype)
        y.backward(ember.from_numpy(g))
        ty.backward(torch.from_numpy(g))
        np.testing.assert_array_equal(ea.grad.numpy(), ta.grad.numpy())
        np.testing.assert_array_equal(eb.grad.numpy(), tb.grad.numpy())
        if isinstance(weight, np.ndarray):
            np.testing.assert_array_equal(ew.grad.numpy(), tw.grad.numpy())


def test_lerp_gradcheck_and_double_backward(rng):
    a, b, w = (ember.tensor(rng.standard_normal((3, 4)), requires_grad=True) for _ in range(3))
    assert gradcheck(lambda x, y, z: ember.lerp(x, y, z), (a, b, w))
    assert gradcheck(lambda x, y: ember.lerp(x, y, 0.25), (a, b))
    (ga,) = ember.autograd.grad(ember.lerp(a, b, w).pow(2).sum(), (a,), create_graph=True)
    ta, tb, tw = (torch.tensor(t.detach().numpy(), requires_grad=True) for t in (a, b, w))
    (tga,) = torch.autograd.grad(torch.lerp(ta, tb, tw).pow(2).sum(), (ta,), create_graph=True)
    np.testing.assert_allclose(ga.detach().numpy(), tga.detach().numpy(), rtol=1e-12)
    ga.sum().backward()
    tga.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_take_along_dim_masked_select_tile_cummax(rng):
    a = rng.standard_normal((6, 9)).astype(np.float32)
    i = rng.integers(-9, 9, (6, 4))
    for idx in (np.abs(i) % 9, i):  # (negative indices wrap: the general path)
        got = ember.take_along_dim(ember.from_numpy(a), ember.from_numpy(idx), 1)
        want = torch.take_along_dim(_tt(a), _tt(idx), 1)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    big = np.full((6, 2), 9)  # torch 2.13 wraps an index past the end modulo the size
    got = ember.take_along_dim(ember.from_numpy(a), ember.from_numpy(big), 1)
    np.testing.assert_array_equal(got.numpy(), torch.take_along_dim(_tt(a), _tt(big), 1).numpy())
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda t: ember.take_along_dim(t, ember.from_numpy(np.abs(i) % 9), 1), (x,))
    m = rng.random((6, 9)) < 0.4
    for v in (a, a.T.copy().T, a[::-1]):
        np.testing.assert_array_equal(
            ember.masked_select(ember.from_numpy(v), ember.from_numpy(m)).numpy(),
            torch.masked_select(_tt(v), _tt(m)).numpy(),
        )
        for reps in ((2, 1), (1, 1), (2, 1, 3), (0, 2)):
            got = ember.from_numpy(v).repeat(*reps)
            want = _tt(v).repeat(*reps)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
            assert got.numpy().flags.c_contiguous
        for dims in ((2,), (1, 1), (3, 2)):
            np.testing.assert_array_equal(
                ember.from_numpy(v).tile(dims).numpy(), _tt(v).tile(dims).numpy()
            )
        c = v.copy()
        c[1, 2] = np.nan
        for d in (0, 1, -1):
            got, want = ember.cummax(ember.from_numpy(c), d), torch.cummax(_tt(c), d)
            np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
            np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    with pytest.raises(ValueError):
        ember.from_numpy(a).repeat(2)
    with pytest.raises(ValueError):
        ember.from_numpy(a).repeat(-1, 2)
    with pytest.raises(IndexError):
        ember.cummax(ember.from_numpy(a), 2)


# ---- histc, 1-D float sorts ------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_histc_matches_torch(dtype, rng):
    edges = np.linspace(-3, 3, 101).astype(dtype)  # values on (and beside) bin edges
    a = np.concatenate(
        [
            rng.standard_normal(5000).astype(dtype),
            edges,
            np.nextafter(edges, np.inf),
            np.nextafter(edges, -np.inf),
            np.array([np.nan, np.inf, -np.inf, 7.0], dtype),
        ]
    )
    for x in (a, a[:5300].reshape(10, -1)[:, ::2], a[:0]):
        for bins, lo, hi in ((100, -3, 3), (7, -1.5, 2.25), (1, 0, 1), (30, 0, 0)):
            xx = x[np.isfinite(x)] if (lo, hi) == (0, 0) else x  # (a data range must be finite)
            got = ember.histc(ember.from_numpy(xx), bins, lo, hi)
            want = torch.histc(_tt(xx), bins, lo, hi)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
            assert got.numpy().dtype == xx.dtype
    np.testing.assert_array_equal(
        ember.histc(ember.from_numpy(np.full(5, 2.0, dtype)), 4).numpy(),
        torch.histc(_tt(np.full(5, 2.0, dtype)), 4).numpy(),
    )
    with pytest.raises(ValueError):
        ember.histc(ember.from_numpy(a), 0, -1, 1)
    with pytest.raises(ValueError):
        ember.histc(ember.from_numpy(a), 10, 2, 1)
    with pytest.raises(ValueError):
        _C.histc(a, 10, 1.0, 1.0)
    with pytest.raises(TypeError):
        _C.histc(np.zeros(4, np.int64), 10, 0.0, 1.0)


def test_histc_threads_identical(rng, threads):
    a = rng.standard_normal(300_000).astype(np.float32)
    outs = [ember.histc(ember.from_numpy(a), 50, -2, 2).numpy() for _ in threads()]
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.parametrize("descending", [False, True])
def test_long_1d_float_sort_matches_torch(descending, rng):
    a = np.round(rng.standard_normal(70_000), 2).astype(np.float32)  # many ties
    a[::997] = np.nan
    a[::1013] = -0.0
    for x in (a, a[::-1], a[::2]):
        got = ember.sort(ember.from_numpy(x), descending=descending)
        want = torch.sort(_tt(x), descending=descending)
        np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        np.testing.assert_array_equal(
            ember.argsort(ember.from_numpy(x), descending=descending).numpy(),
            want.indices.numpy(),
        )


# ---- tensordot, scatter_reduce straight paths -------------------------------------------------


def test_tensordot_straight_matches_general_and_torch(rng):
    a = rng.standard_normal((4, 6, 5)).astype(np.float32)
    b = rng.standard_normal((5, 6, 3)).astype(np.float32)
    for dims in (([1, 2], [1, 0]), ((2,), (0,)), 1, 0, ([-1, 1], [0, -2])):
        got = ember.tensordot(ember.from_numpy(a), ember.from_numpy(b), dims=dims).numpy()
        want = torch.tensordot(_tt(a), _tt(b), dims=dims).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        ea = ember.tensor(a, requires_grad=True)  # (the general path, in the graph)
        general = ember.tensordot(ea, ember.from_numpy(b), dims=dims).detach().numpy()
        np.testing.assert_array_equal(got, general)
    with pytest.raises(ValueError):
        ember.tensordot(ember.from_numpy(a), ember.from_numpy(b), dims=([0], [0]))
    with pytest.raises(ValueError):
        ember.tensordot(ember.from_numpy(a), ember.from_numpy(b), dims=4)


@pytest.mark.parametrize("reduce", ["sum", "prod", "amax", "amin", "mean"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_straight_matches_torch(reduce, include_self, rng):
    x = rng.standard_normal((5, 7)).astype(np.float32)
    src = rng.standard_normal((5, 7)).astype(np.float32)
    src[1, 2] = np.nan
    idx = rng.integers(0, 7, (5, 7))
    for xv in (x, x[::-1]):
        got = ember.from_numpy(xv).scatter_reduce(
            1,
            ember.from_numpy(idx),
            ember.from_numpy(src.T.copy().T),
            reduce,
            include_self=include_self,
        )
        want = _tt(xv).scatter_reduce(1, _tt(idx), _tt(src), reduce, include_self=include_self)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)
    bad = idx.copy()
    bad[0, 0] = 7
    with pytest.raises(IndexError):
        ember.from_numpy(x).scatter_reduce(1, ember.from_numpy(bad), ember.from_numpy(src), reduce)


# ---- 16-bit sums ------------------------------------------------------------------------------


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_lowp_sum_values_and_gradients(dt, rng):
    a = rng.standard_normal((16, 70)).astype(np.float32)
    for dims, keepdim in ((None, False), (1, False), (0, True), ((0, 1), False)):
        x = ember.tensor(a, requires_grad=True)
        tx = torch.tensor(a, requires_grad=True)
        y = x.to(getattr(ember, dt))
        ty = tx.to(getattr(torch, dt))
        s = y.sum() if dims is None else y.sum(dims, keepdim)
        ts = ty.sum() if dims is None else ty.sum(dims, keepdim)
        assert s.dtype == getattr(ember, dt) and tuple(s.shape) == tuple(ts.shape)
        np.testing.assert_allclose(
            s.float().detach().numpy(), ts.float().detach().numpy(), rtol=1e-2, atol=1e-2
        )
        g = rng.standard_normal(tuple(ts.shape)).astype(np.float32)
        s.backward(ember.from_numpy(g).to(getattr(ember, dt)))
        ts.backward(torch.from_numpy(g).to(getattr(torch, dt)))
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    # double backward through the 16-bit sum: d/dx sum_i (sum_j h(x_ij))^2, h the rounding
    b = a[:3, :4]
    x, tx = ember.tensor(b, requires_grad=True), torch.tensor(b, requires_grad=True)
    (gx,) = ember.autograd.grad(x.half().sum(1).float().pow(2).sum(), (x,), create_graph=True)
    (tgx,) = torch.autograd.grad(tx.half().sum(1).float().pow(2).sum(), (tx,), create_graph=True)
    np.testing.assert_array_equal(gx.detach().numpy(), tgx.detach().numpy())
    gx.pow(2).sum().backward()
    tgx.pow(2).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-3)
