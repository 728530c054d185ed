"""Round 38 convolutions: complex conv1d/2d/3d and conv_transpose1d/2d/3d as torch's composite
(values, conjugate gradients, gradcheck), mixed real/complex operands refused as torch, and
the convolutions' grad_fn names as torch's."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember._errors import BadDtype
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
tF = torch.nn.functional


def _c(rng, shape, dtype=np.complex128):
    return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dtype)


# (function, input shape, weight shape, keywords): odd sizes, batch 1, groups, strides that do
# not divide, dilation, padding, output_padding, an unbatched input
CASES = [
    ("conv1d", (1, 2, 7), (4, 1, 3), dict(stride=2, padding=1, groups=2)),
    ("conv1d", (2, 7), (3, 2, 2), dict(dilation=2, padding="same")),
    ("conv2d", (1, 4, 5, 6), (4, 2, 3, 2), dict(stride=(2, 3), padding=1, groups=2)),
    ("conv2d", (2, 3, 5, 5), (2, 3, 3, 3), dict(dilation=2, padding=2)),
    ("conv3d", (1, 2, 4, 5, 3), (3, 2, 3, 2, 2), dict(stride=(2, 1, 2), padding=(1, 0, 1))),
    ("conv_transpose1d", (1, 2, 5), (2, 3, 3), dict(stride=3, padding=1, output_padding=2)),
    ("conv_transpose2d", (2, 4, 3, 4), (4, 1, 3, 2), dict(stride=2, output_padding=1, groups=2)),
    ("conv_transpose3d", (1, 2, 3, 2, 3), (2, 2, 2, 3, 2), dict(stride=2, dilation=(1, 2, 1))),
]


def _out_channels(fn, wshape, kw):
    return wshape[1] * kw.get("groups", 1) if "transpose" in fn else wshape[0]


@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("fn,xs,ws,kw", CASES)
def test_complex_convolutions_match_torch_values_and_gradients(fn, xs, ws, kw, bias):
    rng = np.random.default_rng(38)
    x, w = _c(rng, xs), _c(rng, ws)
    b = _c(rng, (_out_channels(fn, ws, kw),)) if bias else None
    ours = [None if a is None else ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [None if a is None else torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y, yt = getattr(F, fn)(*ours, **kw), getattr(tF, fn)(*theirs, **kw)
    assert y.dtype == ember.complex128 and y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    assert y.grad_fn.name() == yt.grad_fn.name()  # AddBackward0 (unbatched: SqueezeBackward1)
    g = _c(rng, tuple(yt.shape))
    y.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    for a, at in zip(ours, theirs):
        if a is not None:
            np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn,xs,ws,kw", CASES[::2] + CASES[5:6])
def test_complex_convolution_gradcheck(fn, xs, ws, kw):
    rng = np.random.default_rng(7)
    args = [ember.tensor(_c(rng, s), requires_grad=True) for s in (xs, ws)]
    args.append(ember.tensor(_c(rng, (_out_channels(fn, ws, kw),)), requires_grad=True))
    assert gradcheck(lambda x, w, b: getattr(F, fn)(x, w, b, **kw), args)


def test_complex64_convolution_matches_torch_to_float32_tolerance():
    rng = np.random.default_rng(1)
    x, w = _c(rng, (2, 3, 9, 8), np.complex64), _c(rng, (5, 3, 3, 3), np.complex64)
    y = F.conv2d(ember.tensor(x), ember.tensor(w), stride=2, padding=1)
    yt = tF.conv2d(torch.tensor(x), torch.tensor(w), stride=2, padding=1)
    assert y.dtype == ember.complex64
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("which", ["weight", "input", "bias"])
def test_real_and_complex_operands_mixed_are_refused_as_torch(which):
    rng = np.random.default_rng(2)
    arrays = {"input": _c(rng, (1, 2, 5, 5)), "weight": _c(rng, (3, 2, 3, 3)), "bias": _c(rng, 3)}
    arrays[which] = arrays[which].real.copy()
    ours = [ember.tensor(arrays[k]) for k in ("input", "weight", "bias")]
    with pytest.raises(RuntimeError):
        tF.conv2d(*(torch.tensor(arrays[k]) for k in ("input", "weight", "bias")))
    with pytest.raises(BadDtype, match="complex"):
        F.conv2d(*ours)


@pytest.mark.parametrize("fn,xs,ws,kw", CASES)
def test_real_convolution_nodes_named_as_torch(fn, xs, ws, kw):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = getattr(F, fn)(ember.tensor(x, requires_grad=True), ember.tensor(w), **kw)
    yt = getattr(tF, fn)(torch.tensor(x, requires_grad=True), torch.tensor(w), **kw)
    # ConvolutionBackward0; an unbatched input's result is squeezed: SqueezeBackward1
    assert y.grad_fn.name() == yt.grad_fn.name()
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("fn,xs,ws,kw", CASES[:1] + CASES[2:3] + CASES[4:5] + CASES[6:7])
def test_real_convolution_gradcheck(fn, xs, ws, kw):
    rng = np.random.default_rng(4)
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in (xs, ws)]
    args.append(ember.tensor(rng.standard_normal(_out_channels(fn, ws, kw)), requires_grad=True))
    assert gradcheck(lambda x, w, b: getattr(F, fn)(x, w, b, **kw), args)


# strided one-group conv3d without a graph (the direct engine): odd sizes, batch 1, strides that
# do not divide, dilation, padding, with and without bias, a channel count off the panel width
CONV3D_CASES = [
    ((4, 32, 16, 16, 16), (64, 32, 3, 3, 3), dict(stride=2, padding=1)),
    ((1, 3, 7, 9, 8), (17, 3, 3, 2, 3), dict(stride=(2, 3, 1), padding=(1, 0, 2))),
    ((2, 5, 9, 6, 7), (40, 5, 2, 3, 3), dict(stride=(1, 2, 2), dilation=(2, 1, 2), padding=1)),
    ((3, 4, 5, 5, 5), (16, 4, 1, 1, 1), dict(stride=2)),
]


@pytest.mark.parametrize("dtype,tol", [(np.float32, 1e-4), (np.float64, 1e-10)])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("xs,ws,kw", CONV3D_CASES)
def test_strided_conv3d_inference_matches_torch(xs, ws, kw, bias, dtype, tol):
    rng = np.random.default_rng(5)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    with ember.no_grad():
        y = F.conv3d(ember.tensor(x), ember.tensor(w), None if b is None else ember.tensor(b), **kw)
    yt = tF.conv3d(torch.tensor(x), torch.tensor(w), None if b is None else torch.tensor(b), **kw)
    assert y.dtype == (ember.float32 if dtype == np.float32 else ember.float64)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=tol, atol=tol)
    # unbatched, and at two threads (the work split over (image, channel panel) tasks)
    with ember.no_grad():
        y1 = F.conv3d(ember.tensor(x[0]), ember.tensor(w), None, **kw)
    np.testing.assert_allclose(y1.numpy(), tF.conv3d(torch.tensor(x[0]), torch.tensor(w), **kw),
                               rtol=tol, atol=tol)  # fmt: skip
    prev = ember.get_num_threads()
    ember.set_num_threads(2)
    try:
        with ember.no_grad():
            y2 = F.conv3d(ember.tensor(x), ember.tensor(w), None, **kw)
    finally:
        ember.set_num_threads(prev)
    np.testing.assert_allclose(y2.numpy(), tF.conv3d(torch.tensor(x), torch.tensor(w), **kw),
                               rtol=tol, atol=tol)  # fmt: skip


def test_conv3d_direct_forward_checks_its_operands():
    x = np.zeros((1, 2, 4, 4, 4), np.float32)
    with pytest.raises(ValueError, match="channels"):
        ember._C.conv3d_direct_forward(x, np.zeros((4, 3, 2, 2, 2), np.float32), None,
                                       (1, 1, 1), (0, 0, 0), (1, 1, 1))  # fmt: skip
    with pytest.raises(ValueError, match="larger than the padded input"):
        ember._C.conv3d_direct_forward(x, np.zeros((4, 2, 5, 2, 2), np.float32), None,
                                       (1, 1, 1), (0, 0, 0), (1, 1, 1))  # fmt: skip
    with pytest.raises(TypeError, match="dtypes differ"):
        ember._C.conv3d_direct_forward(x, np.zeros((4, 2, 2, 2, 2)), None,
                                       (1, 1, 1), (0, 0, 0), (1, 1, 1))  # fmt: skip
