"""nnspeed37: the fused prelu / glu kernels, embedding_bag's register-blocked bag sums,
max_pool1d's stride-2 path, nll_loss's row path, and rms_norm on complex input, against torch
(float32 tolerance, float64 1e-10) and float64 gradcheck."""

import numpy as np
import pytest
import test_unary_kernels

import ember
from ember import _C
from ember._errors import BadShapeOrValue
from ember.autograd import gradcheck
from ember.nn import functional as F

threads = test_unary_kernels.threads  # the fixture: each test at 1 and at 2 threads

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float32: 1e-5, np.float64: 1e-10}


def _pair(a, grad=True):
    return ember.tensor(a, requires_grad=grad), torch.tensor(a, requires_grad=grad)


def _close(e, t, dtype):
    t = t.detach().numpy() if isinstance(t, torch.Tensor) else t
    np.testing.assert_allclose(e.numpy(), t, rtol=TOL[dtype], atol=TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,c",
    [
        ((5, 3, 7, 9), 3),
        ((5, 3, 7, 9), 1),
        ((300, 70), 70),
        ((7,), 1),
        ((4, 33), 1),
        ((0, 3, 5), 3),
    ],
)
def test_prelu_matches_torch(shape, c, dtype, threads):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape).astype(dtype)
    if x.size:
        x.flat[::11] = 0.0  # the x > 0 boundary: the slope's side, as torch
    w = rng.standard_normal(c).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    (xe, xt), (we, wt) = _pair(x), _pair(w)
    ye, yt = F.prelu(xe, we), TF.prelu(xt, wt)
    _close(ye, yt, dtype)
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    _close(xe.grad, xt.grad, dtype)
    _close(we.grad, wt.grad, dtype)


def test_prelu_large_multithread_and_noncontiguous(threads):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((9, 64, 40, 33)).astype(np.float32).transpose(0, 1, 3, 2)
    w = rng.standard_normal(64).astype(np.float32)
    (xe, xt), (we, wt) = _pair(x), _pair(w)
    ye, yt = F.prelu(xe, we), TF.prelu(xt, wt)
    _close(ye, yt, np.float32)
    ye.sum().backward()
    yt.sum().backward()
    _close(xe.grad, xt.grad, np.float32)
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-4, atol=1e-2)


def test_prelu_nan_and_module():
    x = np.array([[np.nan, -1.0, 2.0]], np.float32)
    m = ember.nn.PReLU(init=0.5)
    tm = torch.nn.PReLU(init=0.5)
    np.testing.assert_array_equal(
        m(ember.tensor(x)).detach().numpy(), tm(torch.tensor(x)).detach().numpy()
    )


@pytest.mark.parametrize("shape,c", [((3, 2, 4, 3), 2), ((3, 2, 4, 3), 1), ((4, 5), 5), ((5,), 1)])
def test_prelu_gradcheck(shape, c):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    x[np.abs(x) < 0.05] += 0.2  # away from the kink at 0
    x = ember.tensor(x, requires_grad=True)
    w = ember.tensor(rng.standard_normal(c), requires_grad=True)
    assert gradcheck(F.prelu, (x, w))
    assert ember.autograd.gradgradcheck(F.prelu, (x, w))


def test_prelu_kernel_refuses_bad_weight():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="weight has 4 entries"):
        _C.prelu(x, np.zeros(4, np.float32))
    with pytest.raises(BadShapeOrValue, match="mismatch"):
        F.prelu(ember.tensor(x), ember.tensor(np.zeros(4, np.float32)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,dim",
    [((5, 6, 7), 1), ((4, 10), -1), ((6,), 0), ((3, 5, 2), 2), ((0, 4), 1), ((2, 4, 0), 1)],
)
def test_glu_matches_torch(shape, dim, dtype, threads):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype) * 4
    (xe, xt) = _pair(x)
    ye, yt = F.glu(xe, dim), TF.glu(xt, dim)
    _close(ye, yt, dtype)
    g = rng.standard_normal(yt.shape).astype(dtype)
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    _close(xe.grad, xt.grad, dtype)


def test_glu_large_noncontiguous(threads):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((300, 1026)).astype(np.float32).T  # glu over the strided dim 0
    (xe, xt) = _pair(x)
    ye, yt = F.glu(xe, 0), TF.glu(xt, 0)
    _close(ye, yt, np.float32)
    ye.sum().backward()
    yt.sum().backward()
    _close(xe.grad, xt.grad, np.float32)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_glu_gradcheck_and_double_backward(dim):
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((4, 6, 2)), requires_grad=True)
    assert gradcheck(lambda a: F.glu(a, dim), (x,))
    assert ember.autograd.gradgradcheck(lambda a: F.glu(a, dim), (x,))


def test_glu_odd_dim_refused():
    with pytest.raises(BadShapeOrValue, match="even"):
        F.glu(ember.tensor(np.zeros((3, 5), np.float32)), 1)
    with pytest.raises(ValueError, match="even size"):
        _C.glu(np.zeros((3, 5), np.float32), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("d", [1, 37, 128, 300])
def test_embedding_bag_matches_torch(mode, d, dtype, threads):
    rng = np.random.default_rng(7)
    w = rng.standard_normal((50, d)).astype(dtype)
    idx = rng.integers(0, 50, 41)
    idx[::5] = 3
    offsets = np.array([0, 0, 7, 8, 20, 41 - 9])  # an empty bag, a one-row bag, long bags
    for pad in (None, 3):
        (we, wt) = _pair(w)
        ye = F.embedding_bag(
            ember.tensor(idx), we, ember.tensor(offsets), mode=mode, padding_idx=pad
        )
        yt = TF.embedding_bag(
            torch.tensor(idx), wt, torch.tensor(offsets), mode=mode, padding_idx=pad
        )
        _close(ye, yt, dtype)
        g = rng.standard_normal(yt.shape).astype(dtype)
        (ye * ember.tensor(g)).sum().backward()
        (yt * torch.tensor(g)).sum().backward()
        _close(we.grad, wt.grad, dtype)


def test_embedding_bag_gradcheck():
    rng = np.random.default_rng(8)
    w = ember.tensor(rng.standard_normal((9, 130)), requires_grad=True)
    idx = ember.tensor(rng.integers(0, 9, 12))
    off = ember.tensor(np.array([0, 5, 5, 9]))
    for mode in ("sum", "mean"):
        assert gradcheck(lambda a, m=mode: F.embedding_bag(idx, a, off, mode=m), (w,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool1d_stride2_matches_torch(dtype, threads):
    rng = np.random.default_rng(9)
    for length in (1, 2, 3, 4, 5, 9, 1024, 1025, 1030, 2051):
        for k in (1, 2, 3, 4, 5, 8):
            if k > length:
                continue
            x = rng.standard_normal((3, 4, length)).astype(dtype)
            x[0, 0, 0] = np.nan
            x[1, 2, length // 2] = np.nan
            ye = F.max_pool1d(ember.tensor(x), k, 2)
            yt = TF.max_pool1d(torch.tensor(x), k, 2)
            np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    x = rng.standard_normal((2, 3, 3000)).astype(dtype)[..., ::2]  # non-contiguous
    np.testing.assert_array_equal(
        F.max_pool1d(ember.tensor(x), 3, 2).numpy(), TF.max_pool1d(torch.tensor(x), 3, 2).numpy()
    )
    empty = np.zeros((0, 3, 10), dtype)
    assert F.max_pool1d(ember.tensor(empty), 3, 2).shape == (0, 3, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_rows_match_torch(reduction, dtype, threads):
    rng = np.random.default_rng(10)
    for n, c in ((4099, 10), (37, 1000), (5, 1)):
        x = rng.standard_normal((n, c)).astype(dtype)
        y = rng.integers(0, c, n)
        y[::3] = -100
        w = np.abs(rng.standard_normal(c)).astype(dtype)
        for weight in (None, w):
            kw = {"reduction": reduction}
            ye = F.nll_loss(
                ember.tensor(x),
                ember.tensor(y),
                None if weight is None else ember.tensor(weight),
                **kw,
            )
            yt = TF.nll_loss(
                torch.tensor(x),
                torch.tensor(y),
                None if weight is None else torch.tensor(weight),
                **kw,
            )
            _close(ye, yt, dtype)
        y2 = y.copy()
        y2[0] = 7 if c == 1 else c  # out of range: torch's error
        with pytest.raises((IndexError, ValueError, RuntimeError)):
            F.nll_loss(ember.tensor(x), ember.tensor(y2))


def test_nll_loss_gradcheck():
    rng = np.random.default_rng(11)
    x = ember.tensor(rng.standard_normal((7, 4)), requires_grad=True)
    y = ember.tensor(np.array([0, 3, -100, 2, 1, 1, 3]))
    w = ember.tensor(np.array([0.5, 2.0, 1.0, 3.0]))
    assert gradcheck(lambda a: F.nll_loss(a, y, w), (x,))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("wkind", [None, "real", "complex"])
def test_rms_norm_complex_matches_torch(dtype, wkind):
    rng = np.random.default_rng(12)
    a = (rng.standard_normal((3, 4, 5)) + 1j * rng.standard_normal((3, 4, 5))).astype(dtype)
    real = np.float32 if dtype == np.complex64 else np.float64
    w = {
        None: None,
        "real": rng.standard_normal(5).astype(real),
        "complex": (rng.standard_normal(5) + 1j * rng.standard_normal(5)).astype(dtype),
    }[wkind]
    xe, xt = _pair(a)
    we, wt = (None, None) if w is None else _pair(w)
    ye, yt = F.rms_norm(xe, (5,), we), TF.rms_norm(xt, (5,), wt)
    assert ye.dtype == a.dtype
    tol = 1e-5 if dtype == np.complex64 else 1e-10
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    ye.abs().sum().backward()
    yt.abs().sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=tol * 10, atol=tol * 10)
    if w is not None:
        np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=tol * 10, atol=tol * 10)
    # two trailing dims, an explicit eps, the module
    ye2 = F.rms_norm(ember.tensor(a), (4, 5), eps=1e-3)
    yt2 = TF.rms_norm(torch.tensor(a), (4, 5), eps=1e-3)
    np.testing.assert_allclose(ye2.numpy(), yt2.numpy(), rtol=tol, atol=tol)
    empty = F.rms_norm(ember.tensor(a[:0]), (5,))
    assert empty.shape == (0, 4, 5) and empty.dtype == a.dtype


def test_rms_norm_complex_bad_shape():
    a = ember.tensor(np.ones((2, 3), np.complex64))
    with pytest.raises(BadShapeOrValue, match="normalized_shape"):
        F.rms_norm(a, (4,))
