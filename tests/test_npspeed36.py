"""npspeed36's paths: short-row sums and max/min/argmax (csrc/ops/reduce.cpp), matrix-vector
products (_C.matvec behind mv / 2-D @ 1-D / 1-D @ 2-D), stack along the last dim (the
interleaving concat), nonzero's one-pass kernel (_C.nonzero) and the plain calls of
any/all/argmax/argmin over every dim: values against float64 NumPy and torch, across the
kernels' vector and block sizes, NaN, empty and non-contiguous inputs, and refusals."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
# around the vector widths (8 floats / 4 doubles), short_sum's limit (64 / 32) and the
# max's 4-vector chunks (32 / 16)
SHORT = [1, 2, 3, 4, 5, 7, 8, 9, 15, 16, 17, 28, 31, 32, 33, 63, 64, 65, 100]


def _rng(seed=0):
    return np.random.default_rng(seed)


def _tol(x64, axis, dtype):
    n = x64.shape[axis]
    return 8 * np.finfo(dtype).eps * np.sqrt(n + 1) * np.abs(x64).sum(axis=axis).max(initial=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SHORT + [0])
def test_short_row_sums(dtype, n):
    x = _rng(n).standard_normal((1100, n)).astype(dtype)  # (>= 1024 elements: the kernel's)
    x64 = x.astype(np.float64)
    e = ember.from_numpy(x)
    tol = _tol(x64, 1, dtype)
    got = e.sum(-1).numpy()
    assert got.dtype == dtype and got.shape == (1100,)
    np.testing.assert_allclose(got, x64.sum(1), rtol=0, atol=tol)
    np.testing.assert_allclose(
        ember.linalg.vector_norm(e, dim=-1).numpy(),
        np.sqrt((x64 * x64).sum(1)),
        rtol=1e-5 if dtype == np.float32 else 1e-12,
        atol=tol,
    )
    if n:
        np.testing.assert_allclose(
            e.mean(-1, keepdim=True).numpy(), x64.mean(1, keepdims=True), rtol=0, atol=tol
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_short_row_sums_nan_inf_and_strided(dtype):
    x = _rng(1).standard_normal((60, 28)).astype(dtype)
    x[1, 27] = np.nan  # in the tail after the vectors
    x[2, 3] = np.nan  # in a vector
    x[3, 5], x[3, 26] = np.inf, -np.inf
    x[4, 0] = np.inf
    ref = torch.from_numpy(x).sum(-1).numpy()
    np.testing.assert_array_equal(np.isnan(ember.from_numpy(x).sum(-1).numpy()), np.isnan(ref))
    np.testing.assert_allclose(ember.from_numpy(x).sum(-1).numpy(), ref, rtol=1e-5)
    y = _rng(2).standard_normal((28, 40)).astype(dtype)  # a transpose: rows of 28 after a copy
    np.testing.assert_allclose(
        ember.from_numpy(y).T.sum(-1).numpy(), y.astype(np.float64).sum(0), rtol=0,
        atol=_tol(y.astype(np.float64), 0, dtype),
    )  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", SHORT + [255, 256, 257, 1000, 1029])
def test_row_extremes_against_torch(dtype, n):
    rng = _rng(100 + n)
    x = rng.standard_normal((1100, n)).astype(dtype)
    x[1] = np.round(x[1])  # ties: the first index
    x[2, n // 2] = np.inf
    x[3, n - 1] = -np.inf
    x[4, -1] = np.nan  # the overlapping last vector
    x[5, 0] = np.nan
    x[6, n // 3] = np.nan
    x[6, (2 * n) // 3] = np.nan
    x[7] = 0.0
    e, t = ember.from_numpy(x), torch.from_numpy(x)
    for dim in (-1, 1):
        np.testing.assert_array_equal(ember.amax(e, dim).numpy(), torch.amax(t, dim).numpy())
        np.testing.assert_array_equal(ember.amin(e, dim).numpy(), torch.amin(t, dim).numpy())
        v, i = e.max(dim)
        tv, ti = t.max(dim)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        v, i = e.min(dim, keepdim=True)
        tv, ti = t.min(dim, keepdim=True)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_array_equal(e.argmax(dim).numpy(), t.argmax(dim).numpy())
        np.testing.assert_array_equal(e.argmin(dim).numpy(), t.argmin(dim).numpy())


@pytest.mark.parametrize("dtype", DTYPES)
def test_extremes_4d_last_and_strided(dtype):
    x = _rng(3).standard_normal((2, 3, 5, 28)).astype(dtype)
    x[1, 2, 4, 25] = np.nan
    e, t = ember.from_numpy(x), torch.from_numpy(x)
    np.testing.assert_array_equal(ember.amax(e, -1).numpy(), torch.amax(t, -1).numpy())
    np.testing.assert_array_equal(e.argmax(-1).numpy(), t.argmax(-1).numpy())
    et, tt = e.transpose(2, 3), t.transpose(2, 3)  # non-contiguous: rows of 5
    np.testing.assert_array_equal(ember.amin(et, -1).numpy(), torch.amin(tt, -1).numpy())
    np.testing.assert_array_equal(et.argmin(-1).numpy(), tt.argmin(-1).numpy())


# ---- matrix times vector -------------------------------------------------------------------

MV_SHAPES = [(1, 1), (3, 5), (7, 8), (33, 17), (5, 1024), (4, 1025), (6, 3000), (70, 9),
             (1000, 13), (0, 4), (4, 0), (0, 0)]  # fmt: skip


def _mv_tol(m64, v64, dtype, axis):
    prod = np.abs(m64 * (v64 if axis == 1 else v64[:, None]))
    n = m64.shape[axis]
    return 8 * np.finfo(dtype).eps * np.sqrt(n + 1) * prod.sum(axis=axis).max(initial=1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", MV_SHAPES)
def test_matvec_forms(dtype, shape):
    rng = _rng(shape[0] * 7 + shape[1])
    m = rng.standard_normal(shape).astype(dtype)
    v = rng.standard_normal(shape[1]).astype(dtype)
    w = rng.standard_normal(shape[0]).astype(dtype)
    m64, v64, w64 = m.astype(np.float64), v.astype(np.float64), w.astype(np.float64)
    em, ev, ew = ember.from_numpy(m), ember.from_numpy(v), ember.from_numpy(w)
    cases = [
        (em @ ev, m64 @ v64, _mv_tol(m64, v64, dtype, 1)),
        (ember.mv(em, ev), m64 @ v64, _mv_tol(m64, v64, dtype, 1)),
        (ew @ em, w64 @ m64, _mv_tol(m64, w64, dtype, 0)),
        (em.T @ ew, m64.T @ w64, _mv_tol(m64, w64, dtype, 0)),  # F-contiguous: the other kernel
        (ev @ em.T, m64 @ v64, _mv_tol(m64, v64, dtype, 1)),
        (ember.matmul(em, ev), m64 @ v64, _mv_tol(m64, v64, dtype, 1)),
    ]
    for got, ref, tol in cases:
        assert got.dtype == ember.from_numpy(np.zeros(0, dtype)).dtype
        assert tuple(got.shape) == ref.shape and got.numpy().flags.c_contiguous
        np.testing.assert_allclose(got.numpy(), ref, rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_matvec_strided_nan_and_threads(dtype):
    rng = _rng(5)
    big = rng.standard_normal((40, 60)).astype(dtype)
    m, v = big[::2, ::3], rng.standard_normal(60).astype(dtype)[::3]  # neither C nor F order
    got = (ember.from_numpy(m) @ ember.from_numpy(v)).numpy()
    np.testing.assert_allclose(got, m.astype(np.float64) @ v, rtol=1e-5, atol=1e-5)
    m2 = rng.standard_normal((300, 700)).astype(dtype)
    m2[4, 600] = np.nan
    v2 = rng.standard_normal(700).astype(dtype)
    w2 = rng.standard_normal(300).astype(dtype)
    tm, tv, tw = torch.from_numpy(m2), torch.from_numpy(v2), torch.from_numpy(w2)
    old = ember.get_num_threads()
    try:
        for nt in (1, 2):
            ember.set_num_threads(nt)
            a = (ember.from_numpy(m2) @ ember.from_numpy(v2)).numpy()
            b = (ember.from_numpy(w2) @ ember.from_numpy(m2)).numpy()
            np.testing.assert_array_equal(np.isnan(a), np.isnan((tm @ tv).numpy()))
            np.testing.assert_array_equal(np.isnan(b), np.isnan((tw @ tm).numpy()))
            ok = ~np.isnan(a)
            np.testing.assert_allclose(a[ok], (tm @ tv).numpy()[ok], rtol=1e-4, atol=1e-3)
            ok = ~np.isnan(b)
            np.testing.assert_allclose(b[ok], (tw @ tm).numpy()[ok], rtol=1e-4, atol=1e-3)
    finally:
        ember.set_num_threads(old)


def test_matvec_with_grad_matches_and_refusals():
    rng = _rng(6)
    m = rng.standard_normal((5, 4))
    v = rng.standard_normal(4)
    a = ember.tensor(m, requires_grad=True)
    b = ember.tensor(v)
    y = a @ b  # the graph's path, as before
    np.testing.assert_allclose(y.detach().numpy(), (ember.tensor(m) @ b).numpy(), rtol=1e-14)
    assert ember.autograd.gradcheck(lambda p, q: p @ q, (a, ember.tensor(v, requires_grad=True)))
    with pytest.raises((ValueError, RuntimeError)):
        ember.tensor(m) @ ember.tensor(rng.standard_normal(5))
    with pytest.raises((ValueError, RuntimeError)):
        ember.mv(ember.tensor(m), ember.tensor(rng.standard_normal(3)))
    with pytest.raises(TypeError):
        _C.matvec(np.zeros((2, 3), np.int64), np.zeros(3, np.int64))
    with pytest.raises(TypeError):
        _C.matvec(np.zeros((2, 3)), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        _C.matvec(np.zeros((2, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="contiguous"):
        _C.matvec(np.zeros((4, 6))[::2, ::2], np.zeros(3))


# ---- stack along the last dim --------------------------------------------------------------


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.int64, np.int16, np.int8, np.bool_])
@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_stack_last_dim(dt, k):
    rng = _rng(k)
    arrays = [(rng.standard_normal((7, 33)) * 10).astype(dt) for _ in range(k)]
    got = ember.stack([ember.from_numpy(a) for a in arrays], -1).numpy()
    ref = torch.stack([torch.from_numpy(a) for a in arrays], -1).numpy()
    assert got.dtype == ref.dtype and got.shape == ref.shape and got.flags.c_contiguous
    np.testing.assert_array_equal(got, ref)
    strided = [a.T for a in arrays]  # non-contiguous inputs
    got = ember.stack([ember.from_numpy(a) for a in strided], 2).numpy()
    np.testing.assert_array_equal(got, np.stack(strided, 2))
    empty = [np.zeros((0, 3), dt)] * k
    assert ember.stack([ember.from_numpy(a) for a in empty], -1).shape == (0, 3, k)


def test_stack_last_dim_large_threads():
    rng = _rng(9)
    a, b = rng.standard_normal((600, 500)).astype(np.float32), rng.standard_normal((600, 500))
    b = b.astype(np.float32)
    old = ember.get_num_threads()
    try:
        for nt in (1, 2):
            ember.set_num_threads(nt)
            got = ember.stack([ember.from_numpy(a), ember.from_numpy(b)], -1).numpy()
            np.testing.assert_array_equal(got, np.stack([a, b], -1))
    finally:
        ember.set_num_threads(old)


# ---- nonzero -------------------------------------------------------------------------------


NZ_SHAPES = [(3, 4), (2, 3, 17), (2, 1, 3, 9), (4, 0, 2), (1, 1), (2, 2, 2, 2, 3)]


@pytest.mark.parametrize("density", [0.0, 0.01, 0.5, 1.0])
@pytest.mark.parametrize("shape", NZ_SHAPES)
def test_nonzero_bool_against_torch(density, shape):
    m = _rng(len(shape)).random(shape) < density
    got = ember.nonzero(ember.from_numpy(m)).numpy()
    ref = torch.nonzero(torch.from_numpy(m)).numpy()
    assert got.dtype == np.int64 and got.shape == ref.shape
    # (torch's CPU strides, (1, n): indexfuzz44)
    assert (
        ember.nonzero(ember.from_numpy(m)).stride() == torch.nonzero(torch.from_numpy(m)).stride()
    )
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(ember.argwhere(ember.from_numpy(m)).numpy(), ref)


def test_nonzero_other_dtypes_and_strided():
    x = _rng(11).standard_normal((5, 40)).astype(np.float32)
    x[x < 0.3] = 0.0
    x[0, 3], x[1, 4], x[2, 5] = -0.0, np.nan, np.inf  # -0 is zero, NaN is not
    ints = (np.nan_to_num(x, posinf=7) * 3).astype(np.int32)
    for a in (x, x.astype(np.float64), ints, x.astype(np.complex64), x.T,
              x[:, ::3]):  # fmt: skip
        got = ember.nonzero(ember.from_numpy(a)).numpy()
        np.testing.assert_array_equal(got, torch.nonzero(torch.from_numpy(a.copy())).numpy())
    m = np.zeros((70, 9), bool)  # words of 8 zero bytes skipped, a row's tail kept
    m[3, 8], m[69, 0], m[40, 7] = True, True, True
    np.testing.assert_array_equal(ember.nonzero(ember.from_numpy(m)).numpy(), np.argwhere(m))
    with pytest.raises(TypeError):
        _C.nonzero(np.zeros((2, 2), np.float32))
    with pytest.raises(ValueError):
        _C.nonzero(np.zeros((), bool))


# ---- every-dim any / all / argmax / argmin -------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_argmax_argmin_any_all(dtype):
    x = _rng(12).standard_normal((6, 7)).astype(dtype)
    x[2] = np.round(x[2] * 0) + 5  # ties of the max: the first
    for a in (x, x.T, x[:, :1]):
        e, t = ember.from_numpy(a), torch.from_numpy(a.copy())
        for kd in (False, True):
            for name in ("argmax", "argmin"):
                got = getattr(e, name)(keepdim=kd)
                ref = getattr(t, name)(keepdim=kd)
                assert got.dtype == ember.int64 and tuple(got.shape) == tuple(ref.shape)
                np.testing.assert_array_equal(got.numpy(), ref.numpy())
    x[4, 1] = np.nan
    e, t = ember.from_numpy(x), torch.from_numpy(x)
    assert int(e.argmax()) == int(t.argmax()) == int(e.argmin()) == 29
    for m in (x > 0, np.zeros((3, 0), bool), np.ones((2, 2), bool), np.zeros((2, 2), bool)):
        em, tm = ember.from_numpy(m), torch.from_numpy(m)
        for name in ("any", "all"):
            got, ref = getattr(em, name)(), getattr(tm, name)()
            assert got.dtype == ember.bool and got.shape == () and bool(got) == bool(ref)
    with pytest.raises((ValueError, RuntimeError, IndexError)):
        ember.zeros(0).argmax()


# ---- cumsum along the last dim (groups of 8 rows side by side) ------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 5), (17, 28), (3, 8, 1000), (2, 1)])
def test_cumsum_last_dim_against_torch(dtype, shape):
    x = _rng(sum(shape)).standard_normal(shape).astype(dtype)
    x.flat[min(3, x.size - 1)] = np.nan
    e, t = ember.from_numpy(x), torch.from_numpy(x)
    for dim in (-1, x.ndim - 1):
        got, ref = e.cumsum(dim).numpy(), t.cumsum(dim).numpy()
        assert got.dtype == ref.dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, rtol=1e-6 if dtype == np.float32 else 1e-14)
        got = ember.cumprod(e, dim).numpy()
        np.testing.assert_allclose(got, torch.cumprod(t, dim).numpy(), rtol=1e-5)


@pytest.mark.parametrize("shape", [(5, 7), (3, 0, 4), (2, 3, 4)])
def test_any_all_dims_against_torch(shape):
    m = _rng(len(shape)).random(shape) < 0.2
    for a in (m, np.swapaxes(m, 0, -1)):  # non-contiguous too
        em, tm = ember.from_numpy(a), torch.from_numpy(a.copy())
        for dim in range(-a.ndim, a.ndim):
            for kd in (False, True):
                for name in ("any", "all"):
                    got = getattr(em, name)(dim, keepdim=kd)
                    ref = getattr(tm, name)(dim, keepdim=kd)
                    assert got.dtype == ember.bool and tuple(got.shape) == tuple(ref.shape)
                    assert got.numpy().flags.c_contiguous
                    np.testing.assert_array_equal(got.numpy(), ref.numpy())
    with pytest.raises(IndexError):
        ember.from_numpy(m).any(len(shape))


@pytest.mark.parametrize("dtype", DTYPES)
def test_full_prod_against_torch(dtype):
    x = (1 + 0.01 * _rng(13).standard_normal((32, 32))).astype(dtype)
    for a in (x, x.T, x[:1, :5], np.zeros((0, 3), dtype)):
        e, t = ember.from_numpy(a), torch.from_numpy(a.copy())
        got, ref = e.prod(), t.prod()
        assert got.dtype == e.dtype and got.shape == ()
        np.testing.assert_allclose(
            got.numpy(), ref.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12
        )
    x[3, 4] = np.nan
    assert np.isnan(ember.from_numpy(x).prod().item())
