"""The reduction kernels behind sum/mean/norm (_C.sum_dim) and max/min/amax/argmax
(_C.extreme_dim), and the Python paths that call them: each against float64 NumPy and torch
(when installed), across the kernels' block sizes, at 1 and 2 threads, for non-contiguous
inputs, keepdim, negative and tuple dims, gradients by finite differences, and refusals."""

import numpy as np
import pytest

import ember
from ember import _C

DTYPES = [np.float32, np.float64]


def _sum_tol(x, axis, dtype):
    # pairwise blocks: the error grows like log2(n); generous for random signs
    n = x.shape[axis] if x.ndim else 1
    scale = np.abs(x.astype(np.float64)).sum(axis=axis).max(initial=1)
    return 8 * np.finfo(dtype).eps * np.sqrt(n + 1) * scale


# ---- _C.sum_dim ------------------------------------------------------------------------------

# n across the row block (1024) and the kernel's vector step (64 floats / 32 doubles); inner
# across the column strip (64 floats / 32 doubles) and the 16-row blocks
SHAPES = [
    (3, 0, 1), (3, 1, 1), (2, 7, 1), (2, 33, 1), (3, 1023, 1), (2, 1024, 1), (2, 1025, 1),
    (1, 5000, 1), (1, 70001, 1), (1, 0, 5), (2, 1, 3), (1, 15, 64), (2, 16, 65), (1, 17, 31),
    (3, 100, 7), (1, 1000, 1000), (2, 33, 129), (1, 5000, 2),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_sum_dim_matches_a_float64_sum_at_any_thread_count(dtype, shape, threads):
    x = np.random.default_rng(sum(shape)).standard_normal(shape).astype(dtype)
    ref = x.astype(np.float64).sum(axis=1)
    tol = _sum_tol(x, 1, dtype)
    got = []
    for _ in threads():
        y = _C.sum_dim(x, 1, 2)
        assert y.dtype == dtype and y.shape == (shape[0], shape[2])
        assert np.max(np.abs(y - ref), initial=0) <= tol
        got.append(y)
    np.testing.assert_array_equal(got[0], got[1])  # the same bits at 1 and 2 threads


def test_long_float32_sum_is_as_accurate_as_numpy_pairwise():
    # 1e7 float32 values: NumPy's pairwise sum stays within a few ulp-scaled terms of the
    # float64 sum; a plain running sum would be off by ~1e-3 relative
    x = np.random.default_rng(0).random(10_000_000, dtype=np.float32)
    ref = x.sum(dtype=np.float64)
    np_err = abs(float(x.sum()) - ref)
    tol = 1e-6 * ref
    assert np_err <= tol
    got = float(ember.from_numpy(x).sum())
    assert abs(got - ref) <= tol
    assert abs(float(ember.from_numpy(x.reshape(10_000, 1000)).sum(0).sum()) - ref) <= tol
    naive = np.cumsum(x)[-1]  # one addition after another: the accuracy we must beat
    assert abs(float(naive) - ref) > abs(got - ref)


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_dim_square_rounds_each_square_first(dtype):
    x = np.random.default_rng(10).standard_normal((2, 3001, 70)).astype(dtype)
    for x3 in (x, x.reshape(4, 3001 * 35, 1)):
        assert np.array_equal(_C.sum_dim(x3, 1, 2, False, True), _C.sum_dim(np.square(x3), 1, 2))


def test_sum_dim_propagates_nan_and_inf():
    x = np.ones((3, 2000, 1), np.float32)
    x[0, 5], x[1, 1500], x[2, 3], x[2, 4] = np.nan, np.inf, np.inf, -np.inf
    got = _C.sum_dim(x, 1, 2)[:, 0]
    assert np.isnan(got[0]) and got[1] == np.inf and np.isnan(got[2])
    cols = np.ones((1, 40, 100), np.float64)
    cols[0, 39, 3], cols[0, 0, 70] = np.nan, -np.inf
    got = _C.sum_dim(cols, 1, 2)[0]
    assert np.isnan(got[3]) and got[70] == -np.inf and got[0] == 40


def test_sum_dim_keeps_or_drops_the_dims_of_any_run():
    x = np.random.default_rng(5).standard_normal((3, 4, 5, 6)).astype(np.float32)
    for lo, hi in [(0, 1), (1, 3), (0, 4), (3, 4), (2, 4)]:
        for keepdim in (False, True):
            axes = tuple(range(lo, hi))
            got = _C.sum_dim(x, lo, hi, keepdim)
            want = x.astype(np.float64).sum(axis=axes, keepdims=keepdim)
            assert got.shape == want.shape
            np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fn", ["sum_dim", "extreme_dim", "var_dim"])
def test_reduction_kernels_refuse_bad_input(fn):
    extra = {"sum_dim": (), "extreme_dim": (True,), "var_dim": (1.0,)}[fn]
    f = getattr(_C, fn)
    with pytest.raises(TypeError, match=fn):
        f(np.ones((2, 3), np.int16), 0, 1, False, *extra)  # (int32/int64 taken since 42)
    with pytest.raises(ValueError, match=rf"{fn}.*contiguous"):
        f(np.ones((4, 6), np.float32)[:, ::2], 0, 1, False, *extra)
    for lo, hi in [(0, 3), (1, 1), (-1, 1), (2, 1)]:
        with pytest.raises(ValueError, match=rf"{fn}.*range.*\(2, 3\)"):
            f(np.ones((2, 3), np.float64), lo, hi, False, *extra)
    if fn != "sum_dim":  # a max or a variance of nothing
        with pytest.raises(ValueError, match=rf"{fn}.*empty.*\(2, 0, 1\)"):
            f(np.ones((2, 0, 1), np.float32), 1, 2, False, *extra)
    else:
        np.testing.assert_array_equal(f(np.ones((2, 0, 1), np.float32), 1, 2), np.zeros((2, 1)))


# ---- _C.extreme_dim --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 1, 1), (4, 31, 1), (2, 32, 1), (3, 1000, 1), (2, 5, 3),
                                   (1, 9, 1000), (3, 200, 4), (1, 1, 7)])  # fmt: skip
@pytest.mark.parametrize("use_max", [True, False])
def test_extreme_dim_is_numpy_s_max_and_first_index(dtype, shape, use_max, threads):
    rng = np.random.default_rng(sum(shape))
    x = rng.integers(-5, 5, shape).astype(dtype)  # many ties: the first index must win
    want_v = (np.max if use_max else np.min)(x, axis=1)
    want_i = (np.argmax if use_max else np.argmin)(x, axis=1)
    for _ in threads():
        v = _C.extreme_dim(x, 1, 2, False, use_max)
        np.testing.assert_array_equal(v, want_v)
        v, i = _C.extreme_dim(x, 1, 2, False, use_max, True)
        assert v.dtype == dtype and i.dtype == np.int64 and i.shape == (shape[0], shape[2])
        np.testing.assert_array_equal(v, want_v)
        np.testing.assert_array_equal(i, want_i)


@pytest.mark.parametrize("inner", [1, 5])
def test_extreme_dim_nan_wins_at_its_first_index_as_torch(inner):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).standard_normal((4, 300, inner)).astype(np.float32)
    x[0, 7], x[0, 200] = np.nan, np.nan
    x[1, 299] = np.nan
    x[2, 0] = np.nan
    xt = torch.from_numpy(np.moveaxis(x, 1, 2).copy())
    for use_max in (True, False):
        v, i = _C.extreme_dim(x, 1, 2, False, use_max, True)
        tv, ti = (torch.max if use_max else torch.min)(xt, dim=2)
        np.testing.assert_array_equal(v, tv.numpy())  # (NaN == NaN for this check)
        np.testing.assert_array_equal(i, ti.numpy())
        np.testing.assert_array_equal(_C.extreme_dim(x, 1, 2, False, use_max), v)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 1, 1), (2, 7, 1), (2, 3000, 1), (1, 40, 130), (3, 5, 4)])
def test_var_dim_matches_float64_numpy(dtype, shape, threads):
    x = (np.random.default_rng(6).standard_normal(shape) * 3 + 1e3).astype(dtype)
    for _ in threads():
        for correction in (0, 1, 2.5):
            denom = max(shape[1] - correction, 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                want = x.astype(np.float64).var(axis=1) * shape[1] / denom
            for root in (False, True):
                got = _C.var_dim(x, 1, 2, False, denom, root)
                assert got.dtype == dtype and got.shape == (shape[0], shape[2])
                np.testing.assert_allclose(got, np.sqrt(want) if root else want, rtol=1e-6)


# ---- the Python entry points -----------------------------------------------------------------

DIMS = [None, 0, 1, -1, -2, (0, 1), (1, 2), (0, 2), (2, 0), (), [0, 1, 2]]


def _np_dim(dim, ndim):
    if dim is None or (isinstance(dim, tuple | list) and not dim):
        return None
    return tuple(dim) if isinstance(dim, tuple | list) else dim


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(4, 5, 6), (2, 3, 700), (40, 30, 20)])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_match_numpy_and_torch_over_any_dims(dtype, shape, op, threads):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    views = {"contiguous": x, "transposed": np.ascontiguousarray(x.T).T}
    for _ in threads():
        for name, a in views.items():
            for dim in DIMS:
                for keepdim in (False, True):
                    got = getattr(ember.from_numpy(a), op)(dim, keepdim)
                    nd = _np_dim(dim, a.ndim)
                    want = getattr(a.astype(np.float64), op)(axis=nd, keepdims=keepdim)
                    assert got.shape == np.shape(want), (name, dim, keepdim)
                    assert got.dtype == dtype
                    np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-4)
                    tdim = dim if dim is not None else ()
                    tw = getattr(torch.from_numpy(np.array(a)), op)(tdim, keepdim)
                    np.testing.assert_allclose(got.numpy(), tw.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 1100)])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "amin", "norm"])
def test_reductions_gradcheck_in_float64(shape, op):
    x = ember.tensor(np.random.default_rng(1).standard_normal(shape), requires_grad=True)
    for dim in (0, -1, (0, 1) if len(shape) == 3 else 1):
        for keepdim in (False, True):
            if op == "norm":
                f = lambda t, d=dim, k=keepdim: ember.norm(t, dim=d, keepdim=k)  # noqa: E731
            else:
                f = lambda t, d=dim, k=keepdim: getattr(t, op)(d, k)  # noqa: E731
            assert ember.autograd.gradcheck(f, (x,))


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_min_dim_gradcheck_in_float64(op):
    x = ember.tensor(np.random.default_rng(2).standard_normal((4, 70, 3)), requires_grad=True)
    for dim in (0, 1, -1):
        for keepdim in (False, True):
            f = lambda t, d=dim, k=keepdim: getattr(t, op)(d, k).values  # noqa: E731
            assert ember.autograd.gradcheck(f, (x,))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(32, 32), (1000, 3), (3, 1000), (5, 4, 300)])
def test_max_amax_argmax_match_torch(dtype, shape, threads):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).integers(-3, 3, shape).astype(dtype)  # ties
    x.flat[7] = np.nan
    for _ in threads():
        for a in (x, np.ascontiguousarray(x.T).T):  # contiguous and transposed
            e, t = ember.from_numpy(a), torch.from_numpy(np.array(a))
            for dim in range(-a.ndim, a.ndim):
                for keepdim in (False, True):
                    for op in ("max", "min"):
                        v, i = getattr(e, op)(dim, keepdim)
                        tv, ti = getattr(t, op)(dim, keepdim)
                        np.testing.assert_array_equal(v.numpy(), tv.numpy())
                        np.testing.assert_array_equal(i.numpy(), ti.numpy())
                        assert i.dtype == np.int64
                    for op in ("amax", "amin", "argmax", "argmin"):
                        got = getattr(e, op)(dim, keepdim).numpy()
                        np.testing.assert_array_equal(got, getattr(t, op)(dim, keepdim).numpy())
            assert float(e.amax()) != float(e.amax()) and float(e.max()) != float(e.max())


def test_reductions_keep_their_errors():
    x = ember.from_numpy(np.ones((3, 4), np.float32))
    for op in ("sum", "mean", "amax", "max", "argmax"):
        with pytest.raises(IndexError):
            getattr(x, op)(2)
        with pytest.raises(IndexError):
            getattr(x, op)(-3)
    with pytest.raises(RuntimeError, match="twice"):
        x.sum((0, -2))
    empty = ember.from_numpy(np.ones((3, 0), np.float32))
    with pytest.raises(IndexError):
        empty.max(1)
    with pytest.raises(IndexError):
        empty.amax(1)
    np.testing.assert_array_equal(empty.sum(1).numpy(), np.zeros(3, np.float32))
    assert empty.sum(0).shape == (0,) and empty.amax(0).shape == (0,)
    assert np.isnan(empty.mean(1).numpy()).all()


def test_reductions_follow_torch_s_dtype_rules():
    torch = pytest.importorskip("torch")
    a = np.arange(12).reshape(3, 4)
    for arr in (a.astype(np.int32), a.astype(np.bool_), a.astype(np.float16)):
        e, t = ember.from_numpy(arr), torch.from_numpy(arr)
        assert str(e.sum(0).dtype) == str(t.sum(0).dtype).replace("torch.", "")
        np.testing.assert_array_equal(e.sum(1).numpy(), t.sum(1).numpy())
    f = np.ones((3, 4), np.float32)
    assert ember.from_numpy(f).sum(0, dtype=ember.float64).dtype == np.float64


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(32, 32), (5, 40, 3), (300, 300)])
def test_small_sort_and_topk_match_torch(dtype, shape):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(7).integers(-4, 4, shape).astype(dtype)  # ties
    x.flat[3] = x.flat[50] = np.nan
    for a in (x, np.ascontiguousarray(x.T).T):
        e, t = ember.from_numpy(a), torch.from_numpy(np.array(a))
        for dim in (-1, 0, 1):
            for descending in (False, True):
                v, i = e.sort(dim, descending)
                tv, ti = t.sort(dim, descending)
                np.testing.assert_array_equal(v.numpy(), tv.numpy())
                np.testing.assert_array_equal(i.numpy(), ti.numpy())
            k = min(5, a.shape[dim])
            v, i = e.topk(k, dim)
            tv, ti = t.topk(k, dim)
            np.testing.assert_array_equal(v.numpy(), tv.numpy())
            np.testing.assert_array_equal(i.numpy(), ti.numpy())
    g = ember.tensor(x.astype(np.float64), requires_grad=True)  # the graph path: same values
    np.testing.assert_array_equal(g.sort(1).values.detach().numpy(), e.sort(1).values.numpy())
