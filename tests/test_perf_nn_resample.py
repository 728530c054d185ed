"""interpolate through the C++ gather-along-an-axis kernels (_C.gather_axis_forward /
_backward): values and gradients against PyTorch and a NumPy reference in float32 and float64,
gradcheck, and bad input to the kernels."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

MODES = [
    ("nearest", {}),
    ("nearest-exact", {}),
    ("bilinear", {"align_corners": False}),
    ("bilinear", {"align_corners": True}),
    ("bicubic", {"align_corners": False}),
    ("bilinear", {"align_corners": False, "antialias": True}),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [(13, 9), (4, 5)])  # up- and down-sampling
@pytest.mark.parametrize("mode,kw", MODES, ids=str)
def test_interpolate_matches_torch(mode, kw, size, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    g = rng.standard_normal((2, 3) + size).astype(dtype)
    ex = ember.tensor(x, requires_grad=True)
    y = F.interpolate(ex, size=size, mode=mode, **kw)
    y.backward(ember.tensor(g))
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = torch.nn.functional.interpolate(tx, size=size, mode=mode, **kw)
    ty.backward(torch.from_numpy(g))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)
    assert y.dtype == ex.dtype and ex.grad.dtype == ex.dtype


def _np_gather(x, axis, idx, w):
    y = 0
    for t in range(idx.shape[0]):
        term = np.take(x, idx[t], axis=axis)
        if w is not None:
            term = term * w[t].reshape((-1,) + (1,) * (x.ndim - axis % x.ndim - 1))
        y = term if t == 0 else y + term
    return y


def _np_scatter(g, axis, idx, w, n_in):
    dx = 0
    for t in range(idx.shape[0]):
        gm = np.moveaxis(g, axis, 0)
        if w is not None:
            gm = gm * w[t].reshape((-1,) + (1,) * (g.ndim - 1))
        d = np.zeros((n_in,) + gm.shape[1:], g.dtype)
        np.add.at(d, idx[t], gm)
        dx = dx + np.moveaxis(d, 0, axis)
    return dx


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("axis", [0, 1, 2, -1])
@pytest.mark.parametrize("weighted", [True, False])
def test_kernel_matches_numpy(axis, weighted, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 5, 4)).astype(dtype)
    n_in = x.shape[axis]
    idx = rng.integers(0, n_in, (3, 7))
    w = rng.standard_normal((3, 7)).astype(dtype) if weighted else None
    y = _C.gather_axis_forward(x, axis, idx, w)
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(y, _np_gather(x, axis, idx, w), **tol)  # (FMA may differ by an ulp)
    g = rng.standard_normal(y.shape).astype(dtype)
    dx = _C.gather_axis_backward(g, axis, idx, w, n_in)
    np.testing.assert_allclose(dx, _np_scatter(g, axis % 3, idx, w, n_in), **tol)


@pytest.mark.parametrize("mode,kw", MODES[:5], ids=str)
def test_gradcheck(mode, kw):
    x = ember.tensor(np.random.default_rng(2).standard_normal((1, 2, 4, 3)), requires_grad=True)
    assert gradcheck(lambda a: F.interpolate(a, size=(6, 5), mode=mode, **kw), (x,))


FWD, BWD = _C.gather_axis_forward, _C.gather_axis_backward


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda x, i: FWD(x.astype(np.int64), 0, i), TypeError, "float"),
        (lambda x, i: FWD(x, 0, i.astype(np.int32)), TypeError, "int64"),
        (lambda x, i: FWD(x, 0, i[0]), ValueError, "2-D"),
        (lambda x, i: FWD(x, 0, i[:0]), ValueError, "at least one tap"),
        (lambda x, i: FWD(x, 0, i + 3), ValueError, "out of range"),
        (lambda x, i: FWD(x, 0, i - 1), ValueError, "out of range"),
        (lambda x, i: FWD(x, 3, i), IndexError, "axis"),
        (lambda x, i: FWD(x, 0, i, np.ones((1, 2), np.float32)), ValueError, "shape"),
        (lambda x, i: FWD(x, 0, i, np.ones((1, 4))), TypeError, "dtypes"),
        (lambda x, i: FWD(x.T, 0, i), ValueError, "contiguous"),
        (lambda x, i: BWD(x, 0, i, None, 3), ValueError, "outputs"),
        (lambda x, i: BWD(np.ones((4, 2), np.float32), 0, i, None, -1), ValueError, "n_in"),
        (
            lambda x, i: BWD(np.ones((4, 2), np.float32), 0, i + 1, None, 2),
            ValueError,
            "out of range",
        ),
    ],
)
def test_kernel_refuses_bad_input(call, err, match):
    x = np.ones((3, 2), np.float32)
    with pytest.raises(err, match=match):
        call(x, np.array([[0, 1, 2, 2]]))
