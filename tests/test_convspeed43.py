"""Round 43's convolution paths: conv_transpose2d's one C call (_C.conv_transpose2d_forward,
bias added in C++), strided input gradients of small planes through the batch engine's
input_grad_images, and conv2d's size checks (shapes formatted only on failure)."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")


def _rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


# (the `threads` fixture of conftest.py restores the thread count after each test)


# (x shape, w shape, kwargs): odd sizes, padding, output_padding, dilation, groups, batch 1, and
# deep ones (Cout/g * KH * KW >= 256 on <= 64 input positions: input_grad_images)
TRANSPOSED = [
    ((2, 5, 7, 6), (5, 3, 3, 3), dict(stride=1, padding=1)),
    ((1, 4, 5, 5), (4, 6, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((3, 6, 4, 5), (6, 2, 3, 2), dict(stride=(2, 3), padding=(1, 0), groups=3)),
    ((2, 4, 5, 4), (4, 3, 3, 3), dict(stride=2, dilation=2, padding=2)),
    ((3, 8, 5, 5), (8, 16, 4, 4), dict(stride=2, padding=1)),
    ((2, 12, 7, 7), (12, 32, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((1, 16, 4, 6), (16, 24, 4, 4), dict(stride=(2, 3), padding=(1, 2))),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xs,ws,kw", TRANSPOSED)
def test_conv_transpose2d_matches_torch(xs, ws, kw, bias, dtype):
    rng = np.random.default_rng(43)
    x, w = _rand(rng, xs, dtype), _rand(rng, ws, dtype)
    b = _rand(rng, (ws[1] * kw.get("groups", 1),), dtype) if bias else None
    y = F.conv_transpose2d(
        ember.tensor(x), ember.tensor(w), None if b is None else ember.tensor(b), **kw
    )
    ref = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x), torch.from_numpy(w), None if b is None else torch.from_numpy(b), **kw
    ).numpy()
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(y.numpy(), ref, rtol=tol, atol=tol)


@pytest.mark.parametrize("nt", [1, 2])
def test_conv_transpose2d_gradients_match_torch(nt, threads):
    ember.set_num_threads(nt)
    rng = np.random.default_rng(7)
    x, w, b = _rand(rng, (5, 16, 6, 6), np.float32), _rand(rng, (16, 32, 4, 4), np.float32), None
    b = _rand(rng, (32,), np.float32)
    g = _rand(rng, (5, 32, 12, 12), np.float32)
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    F.conv_transpose2d(xe, we, be, stride=2, padding=1).backward(g)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    torch.nn.functional.conv_transpose2d(xt, wt, bt, stride=2, padding=1).backward(
        torch.from_numpy(g)
    )
    for e, t in ((xe, xt), (we, wt), (be, bt)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize(
    "xs,ws,kw",
    [
        ((2, 3, 3, 3), (3, 16, 4, 4), dict(stride=2, padding=1)),  # K = 256 on 9 positions
        ((2, 2, 3, 2), (2, 3, 3, 3), dict(stride=2, padding=1, output_padding=1, dilation=1)),
        ((1, 4, 2, 3), (4, 1, 3, 2), dict(stride=(1, 2), groups=2, dilation=(2, 1))),
    ],
)
def test_conv_transpose2d_gradcheck(xs, ws, kw):
    rng = np.random.default_rng(3)
    x = ember.tensor(_rand(rng, xs, np.float64), requires_grad=True)
    w = ember.tensor(_rand(rng, ws, np.float64), requires_grad=True)
    b = ember.tensor(_rand(rng, (ws[1] * kw.get("groups", 1),), np.float64), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, **kw), (x, w, b))


def test_conv_transpose1d_through_the_new_call():
    rng = np.random.default_rng(11)
    x, w, b = _rand(rng, (3, 6, 9), np.float64), _rand(rng, (6, 4, 5), np.float64), None
    b = _rand(rng, (4,), np.float64)
    y = F.conv_transpose1d(ember.tensor(x), ember.tensor(w), ember.tensor(b), stride=3, padding=2)
    ref = torch.nn.functional.conv_transpose1d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), stride=3, padding=2
    )
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("nt", [1, 2])
@pytest.mark.parametrize(
    "xs,ws,s,p",
    [
        ((3, 32, 9, 9), (8, 32, 3, 3), 2, 1),  # K = 288, 5x5 outputs
        ((2, 20, 15, 16), (6, 20, 4, 4), (2, 3), (1, 0)),  # K = 320, odd sizes
        ((1, 64, 8, 8), (5, 64, 2, 2), 2, 0),  # batch 1
    ],
)
def test_strided_conv2d_input_grad_small_planes(xs, ws, s, p, nt, threads):
    ember.set_num_threads(nt)
    rng = np.random.default_rng(5)
    x, w = _rand(rng, xs, np.float64), _rand(rng, ws, np.float64)
    xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    y = F.conv2d(xe, we, None, s, p)
    g = _rand(rng, y.shape, np.float64)
    y.backward(g)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt, None, s, p).backward(torch.from_numpy(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_strided_input_grad_nonfinite_weight_as_torch():
    # col2im after the GEMM: an infinite weight gives inf/NaN only where torch's does
    rng = np.random.default_rng(9)
    x, w = _rand(rng, (2, 32, 7, 7), np.float32), _rand(rng, (8, 32, 3, 3), np.float32)
    w[1, 3, 0, 2] = np.inf
    g = _rand(rng, (2, 8, 4, 4), np.float32)
    xe = ember.tensor(x, requires_grad=True)
    F.conv2d(xe, ember.tensor(w), None, 2, 1).backward(g)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.conv2d(xt, torch.from_numpy(w), None, 2, 1).backward(torch.from_numpy(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_conv_transpose2d_forward_refuses_bad_operands():
    rng = np.random.default_rng(1)
    x, w = _rand(rng, (2, 4, 5, 5), np.float32), _rand(rng, (4, 3, 3, 3), np.float32)
    f = _C.conv_transpose2d_forward
    assert f(x, w, None, (2, 2), (1, 1), (1, 1), 1, (9, 9)).shape == (2, 3, 9, 9)
    with pytest.raises(ValueError, match=r"\(8, 9\).*\(2, 4, 5, 5\)"):
        f(x, w, None, (2, 2), (1, 1), (1, 1), 1, (8, 9))  # conv2d maps 8 rows to 4, not 5
    with pytest.raises(ValueError, match=r"3 channels .*\(4, 3, 3, 3\)"):
        f(x[:, :3].copy(), w, None, (2, 2), (1, 1), (1, 1), 1, (9, 9))
    with pytest.raises(ValueError, match="bias must have shape"):
        f(x, w, np.zeros(4, np.float32), (2, 2), (1, 1), (1, 1), 1, (9, 9))
    with pytest.raises(TypeError, match="dtypes differ"):
        f(x, w.astype(np.float64), None, (2, 2), (1, 1), (1, 1), 1, (9, 9))
    with pytest.raises(ValueError, match="C-contiguous"):
        f(x[:, :, ::2], w, None, (1, 1), (0, 0), (1, 1), 1, (5, 5))
    with pytest.raises(ValueError, match="groups"):
        f(x, w, None, (2, 2), (1, 1), (1, 1), 0, (9, 9))
    with pytest.raises(ValueError, match="output size"):
        f(x, w, None, (2, 2), (1, 1), (1, 1), 1, (9,))


def test_conv_fronts_still_refuse_with_shapes():
    x, w = ember.zeros(2, 4, 5, 5), ember.zeros(3, 5, 3, 3)
    with pytest.raises(ValueError, match=r"\(2, 4, 5, 5\)"):
        F.conv2d(x, w)
    with pytest.raises(ValueError, match=r"\(1, 4, 5, 5\).*\(3, 4, 7, 7\)"):
        _C.conv2d_forward(np.zeros((1, 4, 5, 5), np.float32), np.zeros((3, 4, 7, 7), np.float32))
    with pytest.raises(ValueError, match="channels"):
        F.conv_transpose2d(ember.zeros(2, 3, 4, 4), ember.zeros(4, 2, 3, 3))
    with pytest.raises(TypeError):
        F.conv_transpose2d(ember.zeros(2, 4, 4, 4), "w")


@pytest.mark.parametrize("requires_grad", [False, True])
def test_avg_pool_fronts_match_torch(requires_grad):
    # avg_pool2d without a graph returns the kernel's array straight; with one, one node
    rng = np.random.default_rng(13)
    x = _rand(rng, (2, 3, 7, 9), np.float64)
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    xe = ember.tensor(x, requires_grad=requires_grad)
    y = F.avg_pool2d(xe, **kw)
    assert y.requires_grad == requires_grad
    xt = torch.tensor(x, requires_grad=requires_grad)
    ref = torch.nn.functional.avg_pool2d(xt, **kw)
    np.testing.assert_allclose(y.numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
    y1 = F.avg_pool1d(ember.tensor(x[0]), 3, 2, 1)
    ref1 = torch.nn.functional.avg_pool1d(torch.from_numpy(x[0]), 3, 2, 1)
    np.testing.assert_allclose(y1.numpy(), ref1.numpy(), rtol=1e-12, atol=1e-12)
    if requires_grad:
        assert gradcheck(lambda v: F.avg_pool2d(v, **kw), (xe,))
        x1 = ember.tensor(x[0], requires_grad=True)
        assert gradcheck(lambda v: F.avg_pool1d(v, 3, 2, 1, ceil_mode=True), (x1,))
