"""ember._C.softmax_forward / softmax_backward against float64 NumPy references and torch."""

import numpy as np
import pytest
import reference_kernels as ref

from ember import _C

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-14)}
# (shape, dim): last dim (inner == 1), middle dims (inner > 1, incl. > one block of 64), dim 0.
CASES = [
    ((7,), 0),
    ((5, 33), -1),
    ((3, 1000), 1),
    ((4, 6, 5), 1),
    ((2, 37, 130), 1),
    ((2, 3, 4, 5), 0),
    ((2, 3, 4, 5), -2),
    ((1, 1, 1), 2),
    ((9, 1), 0),
]


def _rng(seed=0):
    return np.random.default_rng(seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", CASES)
@pytest.mark.parametrize("log", [False, True])
def test_forward_matches_numpy(shape, dim, dtype, log):
    x = (_rng().standard_normal(shape) * 3).astype(dtype)
    y = _C.softmax_forward(x, dim, log=log)
    assert y.dtype == dtype and y.shape == x.shape
    expect = ref.log_softmax(x, dim) if log else ref.softmax(x, dim)
    np.testing.assert_allclose(y, expect, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", CASES)
@pytest.mark.parametrize("log", [False, True])
def test_backward_matches_numpy(shape, dim, dtype, log):
    rng = _rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    y = _C.softmax_forward(x, dim, log=log)
    dx = _C.softmax_backward(y, dy, dim, log=log)
    assert dx.dtype == dtype and dx.shape == x.shape
    expect = ref.log_softmax_backward(y, dy, dim) if log else ref.softmax_backward(y, dy, dim)
    np.testing.assert_allclose(dx, expect, **TOL[dtype])


@pytest.mark.parametrize("shape,dim", [((4, 9), 1), ((3, 5, 4), 1), ((6, 2, 3), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_backward_finite_differences(shape, dim, log):
    rng = _rng(2)
    x = rng.standard_normal(shape)
    dy = rng.standard_normal(shape)
    dx = _C.softmax_backward(_C.softmax_forward(x, dim, log=log), dy, dim, log=log)
    eps = 1e-6
    num = np.empty_like(x)
    for i in np.ndindex(shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += eps
        xm[i] -= eps
        fp = np.sum(_C.softmax_forward(xp, dim, log=log) * dy)
        fm = np.sum(_C.softmax_forward(xm, dim, log=log) * dy)
        num[i] = (fp - fm) / (2 * eps)
    np.testing.assert_allclose(dx, num, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((3, 50), 1), ((3, 50, 7), 1)])
def test_large_logits_finite(shape, dim, dtype):
    x = (_rng(3).choice([-1.0, 1.0], size=shape) * 1e4).astype(dtype)
    x += _rng(4).standard_normal(shape).astype(dtype)
    y = _C.softmax_forward(x, dim)
    ly = _C.softmax_forward(x, dim, log=True)
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(ly))
    np.testing.assert_allclose(y, ref.softmax(x, dim), **TOL[dtype])
    # log_softmax at 1e4: y's own rounding is ulp(1e4) in float32 for the masked-out entries.
    np.testing.assert_allclose(ly, ref.log_softmax(x, dim), rtol=TOL[dtype]["rtol"], atol=1e-5)
    np.testing.assert_allclose(np.sum(y, axis=dim), 1.0, rtol=1e-5)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((4, 20), 1), ((4, 20, 3), 1)])
def test_masked_entries_and_all_masked_row(shape, dim, dtype):
    x = _rng(5).standard_normal(shape).astype(dtype)
    x[1, ::3] = -np.inf  # partly masked row
    x[2] = -np.inf  # fully masked row
    y = _C.softmax_forward(x, dim)
    ly = _C.softmax_forward(x, dim, log=True)
    assert np.all(y[1, ::3] == 0)
    assert np.all(ly[1, ::3] == -np.inf)
    np.testing.assert_allclose(np.sum(y[[0, 1, 3]], axis=dim), 1.0, rtol=1e-5)
    assert np.all(np.isnan(y[2])) and np.all(np.isnan(ly[2]))  # as PyTorch


@pytest.mark.parametrize("dtype", DTYPES)
def test_empty_and_zero_d(dtype):
    for shape, dim in [((0,), 0), ((0, 5), 1), ((3, 0), 1), ((2, 0, 4), -1)]:
        x = np.zeros(shape, dtype)
        y = _C.softmax_forward(x, dim)
        assert y.shape == shape and y.dtype == dtype
        assert _C.softmax_backward(y, y, dim, log=True).shape == shape
    x0 = np.array(3.5, dtype)
    assert _C.softmax_forward(x0, 0)[()] == 1.0
    assert _C.softmax_forward(x0, -1, log=True)[()] == 0.0
    assert _C.softmax_backward(np.array(1.0, dtype), np.array(2.0, dtype), 0)[()] == 0.0


def test_threaded_matches_serial():
    x = _rng(6).standard_normal((64, 700, 3)).astype(np.float32)
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        y1 = _C.softmax_forward(x, 1)
        _C.set_num_threads(2)
        y2 = _C.softmax_forward(x, 1)
    finally:
        _C.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)


def test_bad_inputs():
    x = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):
        _C.softmax_forward(np.ones((3, 4), np.int64), 1)
    with pytest.raises((IndexError, ValueError), match=r"\(3, 4\)"):
        _C.softmax_forward(x, 2)
    with pytest.raises((IndexError, ValueError)):
        _C.softmax_forward(x, -3)
    with pytest.raises((IndexError, ValueError)):
        _C.softmax_forward(np.array(1.0), 1)
    with pytest.raises(ValueError, match="contiguous"):
        _C.softmax_forward(np.ones((4, 3), np.float32).T, 1)
    with pytest.raises(TypeError):
        _C.softmax_backward(x, x.astype(np.float64), 1)
    with pytest.raises(ValueError, match="shape"):
        _C.softmax_backward(x, np.ones((3, 5), np.float32), 1)
    with pytest.raises(TypeError):
        _C.softmax_backward(np.ones((3, 4), np.int32), np.ones((3, 4), np.int32), 1)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((8, 100), -1), ((4, 30, 70), 1), ((5, 6, 7), 0)])
@pytest.mark.parametrize("log", [False, True])
def test_against_torch(shape, dim, dtype, log):
    torch = pytest.importorskip("torch")
    x = (_rng(7).standard_normal(shape) * 4).astype(dtype)
    dy = _rng(8).standard_normal(shape).astype(dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = torch.log_softmax(xt, dim) if log else torch.softmax(xt, dim)
    yt.backward(torch.from_numpy(dy))
    y = _C.softmax_forward(x, dim, log=log)
    dx = _C.softmax_backward(y, dy, dim, log=log)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=TOL[dtype]["rtol"] * 10, atol=1e-5)
