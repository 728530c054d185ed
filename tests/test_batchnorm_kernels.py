"""ember._C.batch_norm_forward / batch_norm_backward against NumPy and PyTorch."""

import numpy as np
import pytest
from reference_conv import batch_norm_backward_ref, batch_norm_ref, batch_stats_ref

from ember import _C

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-11)}
DTYPES = [np.float32, np.float64]
# S < 160 takes the kernels' column path (S = 1, 7, 30, 49, 64, 81); S = 169 the per-channel
# path's 32-lane steps and a padded tail, 256 only full steps
SHAPES = [(8, 5), (4, 3, 7), (3, 4, 5, 6), (1, 2, 3), (2, 3, 1, 1), (5, 16, 9, 9), (3, 5, 7, 7)]
SHAPES += [(2, 3, 64), (2, 3, 13, 13), (3, 2, 16, 16)]


def _data(shape, dtype, affine=True, seed=0):
    rng = np.random.default_rng(seed)
    C = shape[1]
    x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
    w = rng.standard_normal(C).astype(dtype) if affine else None
    b = rng.standard_normal(C).astype(dtype) if affine else None
    rm = rng.standard_normal(C).astype(dtype)
    rv = rng.uniform(0.5, 2, C).astype(dtype)
    return x, w, b, rm, rv


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_training_forward_and_running_stats(shape, dtype, affine):
    x, w, b, rm, rv = _data(shape, dtype, affine)
    rm0, rv0 = rm.copy(), rv.copy()
    y, sm, si = _C.batch_norm_forward(x, w, b, rm, rv, True, 0.1, 1e-5)
    mean, var, uvar = batch_stats_ref(x)
    np.testing.assert_allclose(y, batch_norm_ref(x, w, b, mean, var, 1e-5), **TOL[dtype])
    np.testing.assert_allclose(sm, mean, **TOL[dtype])
    np.testing.assert_allclose(si, 1 / np.sqrt(var + 1e-5), **TOL[dtype])
    np.testing.assert_allclose(rm, 0.9 * rm0 + 0.1 * mean, **TOL[dtype])
    np.testing.assert_allclose(rv, 0.9 * rv0 + 0.1 * uvar, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_eval_forward(shape, dtype):
    x, w, b, rm, rv = _data(shape, dtype)
    rm0, rv0 = rm.copy(), rv.copy()
    y, sm, si = _C.batch_norm_forward(x, w, b, rm, rv, False, 0.1, 1e-3)
    np.testing.assert_allclose(y, batch_norm_ref(x, w, b, rm, rv, 1e-3), **TOL[dtype])
    np.testing.assert_array_equal(rm, rm0)
    np.testing.assert_array_equal(rv, rv0)
    np.testing.assert_allclose(sm, rm, **TOL[dtype])
    np.testing.assert_allclose(si, 1 / np.sqrt(rv.astype(np.float64) + 1e-3), **TOL[dtype])


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_backward_vs_numpy(shape, dtype, affine, training):
    x, w, b, rm, rv = _data(shape, dtype, affine)
    y, sm, si = _C.batch_norm_forward(x, w, b, rm, rv, training, 0.1, 1e-5)
    dy = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    dx, dw, db = _C.batch_norm_backward(dy, x, w, sm, si, training)
    rdx, rdw, rdb = batch_norm_backward_ref(
        dy, x, w, sm.astype(np.float64), si.astype(np.float64), training
    )
    tol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, rdw, **tol)
    np.testing.assert_allclose(db, rdb, **tol)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(8, 5), (4, 3, 7), (3, 4, 5, 6)])
def test_vs_torch(shape, dtype, training):
    torch = pytest.importorskip("torch")
    x, w, b, rm, rv = _data(shape, dtype)
    rmt, rvt = torch.tensor(rm), torch.tensor(rv)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, rmt, rvt, wt, bt, training, 0.3, 1e-4)
    y, sm, si = _C.batch_norm_forward(x, w, b, rm, rv, training, 0.3, 1e-4)
    tol = dict(rtol=1e-4, atol=1e-4) if dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(rm, rmt.numpy(), **tol)
    np.testing.assert_allclose(rv, rvt.numpy(), **tol)
    dy = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    yt.backward(torch.tensor(dy))
    dx, dw, db = _C.batch_norm_backward(dy, x, w, sm, si, training)
    tol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)
    np.testing.assert_allclose(dw, wt.grad.numpy(), **tol)
    np.testing.assert_allclose(db, bt.grad.numpy(), **tol)


def test_training_without_running_stats_and_need_flags():
    x, w, b, _, _ = _data((4, 3, 5), np.float64)
    y, sm, si = _C.batch_norm_forward(x, w, b, None, None, True)
    mean, var, _ = batch_stats_ref(x)
    np.testing.assert_allclose(y, batch_norm_ref(x, w, b, mean, var, 1e-5), rtol=1e-12)
    dy = np.ones_like(x)
    full = _C.batch_norm_backward(dy, x, w, sm, si, True)
    for flags in [(True, False, False), (False, True, False), (False, False, True)]:
        out = _C.batch_norm_backward(dy, x, w, sm, si, True, *flags)
        for f, got, ref in zip(flags, out, full):
            if f:
                np.testing.assert_array_equal(got, ref)
            else:
                assert got is None


def test_float32_large_mean_is_accurate():
    rng = np.random.default_rng(2)
    x = (1000 + rng.standard_normal((64, 4, 32))).astype(np.float32)
    y, sm, si = _C.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5)
    mean, var, _ = batch_stats_ref(x)
    np.testing.assert_allclose(si, 1 / np.sqrt(var + 1e-5), rtol=1e-5)
    np.testing.assert_allclose(y, batch_norm_ref(x, None, None, mean, var, 1e-5), atol=2e-3)


# (16, 8, 16, 16): the per-channel path; (64, 12, 7, 7): the column path, whose blocks of whole
# channels differ between 1 and 2 threads (10 + 2 channels, then 6 + 6)
@pytest.mark.parametrize("shape", [(16, 8, 16, 16), (64, 12, 7, 7)])
def test_thread_count_does_not_change_results(shape):
    x, w, b, _, _ = _data(shape, np.float32)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    old = _C.get_num_threads()
    out = []
    try:
        for nt in (1, 2):
            _C.set_num_threads(nt)
            y, sm, si = _C.batch_norm_forward(x, w, b, None, None, True)
            out.append((y, sm, si) + _C.batch_norm_backward(g, x, w, sm, si, True))
    finally:
        _C.set_num_threads(old)
    for a, s in zip(*out):
        np.testing.assert_array_equal(a, s)


# ---- bad inputs ----


def test_bad_inputs():
    x, w, b, rm, rv = _data((4, 3, 5), np.float32)
    f = _C.batch_norm_forward
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        f(x[:1, :, :1].copy(), w, b, rm, rv, True)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        f(np.zeros((1, 3), np.float32), w, b, rm, rv, True)
    f(np.zeros((1, 3), np.float32), w, b, rm, rv, False)  # eval: fine
    with pytest.raises(ValueError):
        f(x, w[:2].copy(), b, rm, rv, True)  # C mismatch
    with pytest.raises(ValueError):
        f(x, w, b, rm[:2].copy(), rv, True)
    with pytest.raises(ValueError):
        f(x, w, b, None, None, False)  # eval needs running stats
    with pytest.raises(ValueError):
        f(x, w, b, rm, None, True)
    with pytest.raises(ValueError):
        f(np.zeros(4, np.float32), None, None, None, None, True)  # 1-D
    with pytest.raises(ValueError):
        f(x[:, :, ::2], w, b, rm, rv, True)  # not contiguous
    with pytest.raises(TypeError):
        f(x.astype(np.int64), None, None, None, None, True)
    with pytest.raises(TypeError):
        f(x, w.astype(np.float64), b, rm, rv, True)
    # In-place running stats: never a silent converted copy.
    with pytest.raises(TypeError):
        f(x, w, b, rm.astype(np.float64), rv, True)
    with pytest.raises(TypeError):
        f(x, w, b, list(rm), rv, True)
    with pytest.raises(ValueError):
        f(x, w, b, np.zeros(6, np.float32)[::2], rv, True)
    ro = rm.copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        f(x, w, b, ro, rv, True)
    y, sm, si = f(x, w, b, rm, rv, True)
    g = _C.batch_norm_backward
    with pytest.raises(ValueError):
        g(y[:2].copy(), x, w, sm, si, True)
    with pytest.raises(ValueError):
        g(y, x, w, sm[:2].copy(), si, True)
    with pytest.raises(TypeError):
        g(y.astype(np.float64), x, w, sm, si, True)
    with pytest.raises(TypeError):
        g(y, x, w, sm.astype(np.int32), si, True)


# ---- huge magnitudes on both paths: the overflow-safe statistics (moments.h) ----


@pytest.mark.parametrize("shape", [(3, 2, 5), (2, 3, 200)])  # column path, per-channel path
@pytest.mark.parametrize("big,dtype", [(1e200, np.float64), (3e38, np.float32)])
def test_huge_values_give_the_scaled_statistics(shape, big, dtype):
    x = np.random.default_rng(5).standard_normal(shape)
    x[:, :, 0] *= big / 4
    x[1, 0, 1] = -big
    x = x.astype(dtype)
    y, sm, si = _C.batch_norm_forward(x, None, None, None, None, True, 0.1, 0.0)
    k = 2.0 ** -np.ceil(np.log2(big))  # exact: the NumPy reference on x * k cannot overflow
    xs = x.astype(np.float64) * k
    m, s = xs.mean((0, 2), keepdims=True), xs.std((0, 2), keepdims=True)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(y, (xs - m) / s, rtol=tol, atol=tol)
    np.testing.assert_allclose(sm, m.ravel() / k, rtol=tol)
