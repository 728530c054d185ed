"""The dense engine (a kernel covering the whole input: one GEMM over the batch), the direct
depthwise kernels and the batch engine (small output planes: a block of images as one GEMM) of
csrc/ops/conv2d.cpp, at and beside their dispatch boundaries: against the NumPy im2col reference
and PyTorch, float64 finite differences, and bit-identical repeats at a fixed thread count."""

import numpy as np
import pytest
from reference_conv import conv2d_backward_ref, conv2d_ref, pad4

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]

# (x shape, w shape, stride, padding, dilation, groups)
DENSE = [
    ((3, 5, 4, 4), (7, 5, 4, 4), (1, 1), (0, 0), (1, 1), 1),  # kernel == input
    ((2, 3, 3, 5), (4, 3, 3, 5), (2, 3), (0, 0), (1, 1), 1),  # non-square, stride irrelevant
    ((4, 6, 1, 1), (5, 6, 1, 1), (1, 1), (0, 0), (1, 1), 1),  # 1x1 on a 1x1 plane
    ((2, 3, 1, 4), (4, 3, 1, 4), (1, 1), (0, 0), (3, 1), 1),  # dilation along a 1-tap axis
    ((33, 64, 4, 4), (1, 64, 4, 4), (1, 1), (0, 0), (1, 1), 1),  # DCGAN head: one output channel
    ((64, 64, 4, 4), (96, 64, 4, 4), (1, 1), (0, 0), (1, 1), 1),  # 2 threads' work
    # beside the rule: padded, one row short, grouped (the im2col engines)
    ((2, 3, 4, 4), (4, 3, 4, 4), (1, 1), (1, 1), (1, 1), 1),
    ((2, 3, 5, 4), (4, 3, 4, 4), (1, 1), (0, 0), (1, 1), 1),
    ((2, 4, 3, 3), (6, 2, 3, 3), (1, 1), (0, 0), (1, 1), 2),
]


def _data(cfg, dtype, seed=0):
    xs, ws, stride, padding, dilation, groups = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _run(x, w, b, kw, threads):
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(threads)
        y = _C.conv2d_forward(x, w, b, **kw)
        dy = np.random.default_rng(7).standard_normal(y.shape).astype(x.dtype)
        return (y, *_C.conv2d_backward(dy, x, w, **kw)), dy
    finally:
        _C.set_num_threads(old)


def _check(cfg, dtype, threads):
    torch = pytest.importorskip("torch")
    x, w, b, kw = _data(cfg, dtype)
    (y, dx, dw, db), dy = _run(x, w, b, kw, threads)
    again, _ = _run(x, w, b, kw, threads)
    for a, r in zip((y, dx, dw, db), again):  # bit-identical for a fixed thread count
        np.testing.assert_array_equal(a, r)
    f64 = [a.astype(np.float64) for a in (x, w, b, dy)]
    np.testing.assert_allclose(y, conv2d_ref(*f64[:3], **kw), **TOL[dtype])
    refs = conv2d_backward_ref(f64[3], f64[0], f64[1], **kw)
    for got, ref in zip((dx, dw, db), refs):
        assert got.dtype == dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, **TOL[dtype])
    tf = torch.nn.functional
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    pt, pb, pl, pr = pad4(kw["padding"])
    yt = tf.conv2d(
        tf.pad(xt, (pl, pr, pt, pb)), wt, bt, kw["stride"], 0, kw["dilation"], kw["groups"]
    )
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    for got, t in zip((dx, dw, db), (xt, wt, bt)):
        np.testing.assert_allclose(got, t.grad.numpy(), **TOL[dtype])


def test_dense_gradcheck_conv_and_transposed():
    rng = np.random.default_rng(3)
    args = [
        ember.tensor(rng.standard_normal(s), requires_grad=True)
        for s in ((3, 4, 3, 2), (5, 4, 3, 2), (5,))
    ]
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b), args)
    # a transposed convolution of a 1x1 input (DCGAN's first layer) runs the dense dx as forward
    args = [
        ember.tensor(rng.standard_normal(s), requires_grad=True)
        for s in ((3, 5, 1, 1), (5, 4, 3, 3), (4,))
    ]
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b), args)


def test_dense_transposed_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((6, 20, 1, 1)), rng.standard_normal((20, 12, 4, 4))
    xe, we = (ember.tensor(a, requires_grad=True) for a in (x, w))
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    y, yt = F.conv_transpose2d(xe, we), torch.nn.functional.conv_transpose2d(xt, wt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-10)
    gy = rng.standard_normal(yt.shape)
    y.backward(ember.tensor(gy))
    yt.backward(torch.tensor(gy))
    for a, t in ((xe, xt), (we, wt)):
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-10)


# groups == C > 1, any channel multiplier: the direct depthwise kernels (one input channel with
# several outputs runs the GEMM engines). Stride, padding (also asymmetric and beyond the
# kernel's reach), dilation, 1-tap and 5x5 kernels, planes narrower than a vector and wider
# than two.
DEPTHWISE = [
    ((2, 3, 8, 8), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    ((2, 4, 9, 7), (4, 1, 3, 3), (2, 2), (1, 1), (1, 1), 4),
    ((1, 2, 11, 10), (2, 1, 3, 3), (3, 2), (2, 0, 1, 3), (1, 1), 2),
    ((2, 2, 10, 9), (2, 1, 3, 2), (1, 2), (2, 1), (2, 3), 2),
    ((2, 3, 7, 7), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),  # multiplier 2
    ((1, 2, 9, 9), (6, 1, 3, 3), (2, 2), (0, 0), (1, 1), 2),  # multiplier 3, stride 2
    ((2, 3, 6, 6), (3, 1, 1, 1), (2, 2), (0, 0), (1, 1), 3),  # 1x1 stride 2: phases without taps
    ((1, 2, 12, 12), (2, 1, 5, 5), (1, 1), (2, 2), (1, 1), 2),
    ((1, 2, 3, 3), (2, 1, 3, 3), (1, 1), (4, 4), (1, 1), 2),  # padding beyond the kernel's reach
    ((2, 2, 4, 4), (2, 1, 4, 4), (1, 1), (0, 0), (1, 1), 2),  # kernel == input, grouped
    ((2, 1, 6, 6), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # one input channel: GEMM engines
    ((2, 4, 9, 8), (8, 1, 3, 3), (2, 1), (1, 2), (1, 2), 4),  # multiplier 2, mixed strides
    ((2, 5, 37, 35), (5, 1, 3, 3), (1, 1), (1, 1), (1, 1), 5),
    ((1, 3, 1, 1), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    ((4, 64, 32, 32), (64, 1, 3, 3), (1, 1), (1, 1), (1, 1), 64),  # 2 threads' work
    ((16, 64, 32, 32), (64, 1, 3, 3), (2, 2), (1, 1), (1, 1), 64),
]


@pytest.mark.parametrize("cfg", [DEPTHWISE[i] for i in (1, 2, 3, 5, 6, 7)])
def test_depthwise_gradcheck(cfg):
    x, w, b, kw = _data(cfg, np.float64)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    pt, pb, pl, pr = pad4(kw["padding"])

    def fn(x_, w_, b_):
        return F.conv2d(
            F.pad(x_, (pl, pr, pt, pb)), w_, b_, kw["stride"], 0, kw["dilation"], kw["groups"]
        )

    assert gradcheck(fn, args)


def test_depthwise_thread_counts_agree():
    x, w, b, kw = _data(DEPTHWISE[-1], np.float32)
    one, _ = _run(x, w, b, kw, 1)
    two, _ = _run(x, w, b, kw, 2)
    for a, r in zip(one, two):  # the forward and dx do the same sums on any thread count
        np.testing.assert_allclose(a, r, rtol=1e-5, atol=1e-5)


# Depthwise, multiplier 1, outputs at most 15 wide of an input exactly stride times their size
# (stride 1 'same', stride 2 halving an even plane): the masked-tap engine. At its rule: 8x8 and
# 4x4 (MobileNet's late layers), 15 wide, positions not a whole vector (7x7, 3x5), a 5x5 kernel
# (a last group of one tap), even kernels with asymmetric padding, dilation, 1x1 planes, stride 2
# from 16x16 and 8x8 (and 3 x 2, 2 x 1 strides), 2 threads' work. Beside it: 16 wide, an odd
# plane at stride 2, multiplier 2, an output smaller than the input.
SAME = [
    ((2, 3, 8, 8), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    ((3, 8, 4, 4), (8, 1, 3, 3), (1, 1), (1, 1), (1, 1), 8),
    ((2, 2, 15, 13), (2, 1, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((2, 3, 7, 7), (3, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    ((3, 2, 3, 5), (2, 1, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((2, 2, 7, 6), (2, 1, 5, 5), (1, 1), (2, 2), (1, 1), 2),
    ((2, 3, 5, 6), (3, 1, 2, 2), (1, 1), (0, 1, 0, 1), (1, 1), 3),
    ((2, 2, 6, 7), (2, 1, 2, 3), (1, 1), (1, 0, 1, 1), (1, 1), 2),
    ((2, 2, 9, 9), (2, 1, 3, 3), (1, 1), (2, 2), (2, 2), 2),
    ((2, 4, 1, 1), (4, 1, 3, 3), (1, 1), (1, 1), (1, 1), 4),
    ((32, 64, 8, 8), (64, 1, 3, 3), (1, 1), (1, 1), (1, 1), 64),
    ((16, 128, 4, 4), (128, 1, 3, 3), (1, 1), (1, 1), (1, 1), 128),
    ((2, 3, 16, 16), (3, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),
    ((2, 3, 8, 8), (3, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),
    ((2, 2, 30, 14), (2, 1, 3, 3), (2, 2), (1, 1), (1, 1), 2),
    ((2, 3, 6, 4), (3, 1, 4, 3), (3, 2), (1, 1), (1, 1), 3),
    ((2, 2, 8, 6), (2, 1, 3, 5), (2, 1), (1, 0, 2, 2), (1, 1), 2),
    ((2, 2, 8, 8), (2, 1, 1, 1), (2, 2), (0, 0), (1, 1), 2),
    ((16, 64, 16, 16), (64, 1, 3, 3), (2, 2), (1, 1), (1, 1), 64),
    # beside the rule: the phase-plane depthwise engine
    ((2, 2, 16, 16), (2, 1, 3, 3), (1, 1), (1, 1), (1, 1), 2),
    ((2, 3, 9, 9), (3, 1, 3, 3), (2, 2), (1, 1), (1, 1), 3),
    ((2, 3, 8, 8), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 3),
    ((2, 3, 8, 8), (3, 1, 3, 3), (1, 1), (0, 0), (1, 1), 3),
]


@pytest.mark.parametrize("i", [1, 3, 5, 6, 8, 12, 15])
def test_depthwise_small_gradcheck(i):
    x, w, b, kw = _data(SAME[i], np.float64)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    if kw["stride"] == (1, 1):  # the configurations' padding, inside conv2d
        kw = dict(kw, padding="same")
    assert gradcheck(lambda x_, w_, b_: F.conv2d(x_, w_, b_, **kw), args)


@pytest.mark.parametrize("dtype", DTYPES)
def test_depthwise_small_thread_counts_bit_identical(dtype):
    for cfg in (SAME[10], SAME[11], SAME[18]):
        x, w, b, kw = _data(cfg, dtype)
        one, _ = _run(x, w, b, kw, 1)
        two, _ = _run(x, w, b, kw, 2)
        for a, r in zip(one, two):  # one thread per plane (forward, dx) or channel (dw)
            np.testing.assert_array_equal(a, r)


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("where", ["x", "w", "dy"])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("pos", [(0, 0), (7, 7), (3, 4)])
def test_depthwise_small_non_finite_match_torch(where, value, pos, stride):
    """Masked taps are never multiplied: an inf or NaN spreads exactly where torch's float32
    convolution spreads it (an infinite weight meets no padding, a value no output reads never
    meets dy)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 4, 8, 8)), rng.standard_normal((4, 1, 3, 3))
    dy = rng.standard_normal((2, 4, 8 // stride, 8 // stride))
    arr = {"x": x, "w": w, "dy": dy}[where]
    size = {"x": 8, "w": 3, "dy": 8 // stride}[where]
    arr[(1 if where == "w" else 0, 0 if where == "w" else 1, pos[0] % size, pos[1] % size)] = value
    out = []
    for m in (ember, torch):
        xt, wt = (m.tensor(a.astype(np.float32), requires_grad=True) for a in (x, w))
        yt = m.nn.functional.conv2d(xt, wt, None, stride, 1, 1, 4)
        yt.backward(m.tensor(dy.astype(np.float32)))
        out.append([a.detach().numpy() for a in (yt, xt.grad, wt.grad)])
    for mine, theirs in zip(*out):
        np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5)  # same NaN and inf places


# One group, output planes of at most 16 positions, at least 128 output channels, more than one
# image: the batch engine (a block of images as one GEMM). Beside it: 17 positions, 127 output
# channels, one image, two groups.
BATCH = [
    ((3, 5, 8, 8), (128, 5, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # 4x4 outputs, DCGAN-like
    ((2, 3, 9, 7), (130, 3, 3, 3), (2, 2), (1, 0), (1, 1), 1),  # 4x3
    ((2, 2, 7, 7), (128, 2, 3, 2), (1, 2), (0, 1), (2, 1), 1),  # dilation, asymmetric
    ((4, 3, 4, 4), (128, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1),  # exactly 16
    ((40, 128, 8, 8), (128, 128, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # several blocks of images
    ((8, 64, 8, 8), (128, 64, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # 2 threads' work
    ((3, 4, 7, 6), (128, 4, 3, 3), (2, 2), (0, 2, 1, 0), (1, 1), 1),  # asymmetric padding
    ((3, 2, 5, 5), (128, 2, 2, 2), (3, 3), (4, 4), (2, 2), 1),  # padding wider than the kernel
    ((2, 2, 1, 1), (128, 2, 1, 1), (100, 100), (130, 130), (1, 1), 1),  # 261x261 padded: col_row
    ((3, 3, 19, 3), (128, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1),  # 17 positions: other engines
    ((3, 5, 8, 8), (127, 5, 4, 4), (2, 2), (1, 1), (1, 1), 1),
    ((1, 5, 8, 8), (128, 5, 4, 4), (2, 2), (1, 1), (1, 1), 1),
    ((3, 4, 8, 8), (128, 2, 4, 4), (2, 2), (1, 1), (1, 1), 2),
]


# The fused engine's input gradient accumulates col2im in the phase planes of dx (strided,
# dilated, padded, several column blocks, unused phases, one image, no image).
FUSED_DX = [
    ((3, 6, 16, 16), (12, 6, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # DCGAN-like, 8x8 outputs
    ((2, 3, 33, 35), (8, 3, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # 16x17: several column blocks
    ((2, 4, 11, 9), (5, 4, 3, 2), (2, 3), (0, 2, 1, 0), (2, 1), 1),  # odd, dilated, asymmetric
    ((2, 3, 9, 9), (4, 3, 1, 1), (2, 2), (0, 0), (1, 1), 1),  # 1x1 stride 2: one phase of four
    ((2, 2, 10, 10), (3, 2, 2, 2), (3, 3), (1, 1), (2, 2), 1),  # a phase no tap reads
    ((3, 4, 12, 12), (6, 2, 4, 4), (2, 2), (1, 1), (1, 1), 2),  # groups
    ((2, 1, 28, 28), (6, 1, 5, 5), (1, 1), (0, 0), (1, 1), 1),  # stride 1 (LeNet)
    ((1, 3, 16, 16), (8, 3, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # one image
    ((0, 3, 16, 16), (8, 3, 4, 4), (2, 2), (1, 1), (1, 1), 1),  # no image
]


def test_fused_engine_input_gradient_gradcheck():
    rng = np.random.default_rng(6)
    shapes = ((2, 2, 7, 6), (3, 2, 4, 3))
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, 2, 1), args)
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, (2, 3), (1, 0), (2, 1)), args)
    # the transposed convolution's forward is the input gradient (DCGAN's generator)
    shapes = ((2, 3, 4, 3), (3, 2, 4, 4))
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda x, w: F.conv_transpose2d(x, w, None, 2, 1), args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", FUSED_DX + BATCH[:2], ids=lambda c: f"{c[0]}-{c[1]}-s{c[2]}")
def test_input_gradient_same_at_1_and_2_threads(cfg, dtype):
    # every image's dx is one thread's work, in a fixed order: the thread count changes no bit
    x, w, b, kw = _data(cfg, dtype)
    (_, dx1, _, _), _ = _run(x, w, b, kw, 1)
    (_, dx2, _, _), _ = _run(x, w, b, kw, 2)
    np.testing.assert_array_equal(dx1, dx2)


def test_batch_engine_gradcheck_conv_and_transposed():
    rng = np.random.default_rng(5)
    shapes = ((2, 2, 4, 4), (128, 2, 3, 3), (128,))
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, 1), args)
    # a transposed convolution from 3x3 to 6x6 with 128 input channels runs the batch engine's
    # dx as its forward
    shapes = ((2, 128, 3, 3), (128, 2, 4, 4), (2,))
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    assert gradcheck(lambda x, w, b: F.conv_transpose2d(x, w, b, 2, 1), args)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "cfg",
    DENSE + DEPTHWISE + SAME + BATCH + FUSED_DX,
    ids=lambda c: f"{c[0]}-{c[1]}-s{c[2]}-p{c[3]}-d{c[4]}-g{c[5]}",
)
def test_engines_vs_numpy_and_torch(cfg, dtype, threads):
    _check(cfg, dtype, threads)


@pytest.mark.parametrize("stride, pad", [(1, 1), (2, 1), (1, 0), (2, 0)])
@pytest.mark.parametrize("pos", [(0, 0), (7, 7), (0, 7), (3, 3)])
def test_depthwise_weight_gradient_keeps_torchs_nans(stride, pad, pos):
    """A NaN in the input spoils exactly the weight-gradient taps that read it, as in torch
    (the depthwise engine's junk columns would have spread it to other taps)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 8, 8)), rng.standard_normal((4, 1, 3, 3))
    x[0, 1, pos[0], pos[1]] = np.nan
    grads = []
    for m in (ember, torch):
        xt, wt = m.tensor(x, requires_grad=True), m.tensor(w, requires_grad=True)
        m.nn.functional.conv2d(xt, wt, None, stride, pad, 1, 4).sum().backward()
        grads.append((wt.grad.numpy(), xt.grad.numpy()))
    for mine, theirs in zip(*grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-10, atol=1e-12)  # NaNs in the same places


@pytest.mark.parametrize("size, stride", [(20, 1), (20, 2), (9, 2), (11, 1)])
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("tap", [(0, 0), (1, 1), (2, 0)])
def test_depthwise_input_gradient_of_non_finite_weight_matches_torch(size, stride, value, tap):
    """The depthwise engine's dx gathers dy zero-padded, which would meet an infinite weight
    with the padding (inf * 0 = NaN at dx's border); such weights take the col2im engine,
    whose dx, as torch's, holds inf (or NaN) only where a real output reads the weight."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, size, size)).astype(np.float32)
    w = rng.standard_normal((4, 1, 3, 3)).astype(np.float32)
    w[1, 0, tap[0], tap[1]] = value
    out = (size + 2 - 3) // stride + 1
    dy = rng.standard_normal((2, 4, out, out)).astype(np.float32)
    grads = []
    for m in (ember, torch):
        xt, wt = (m.tensor(a, requires_grad=True) for a in (x, w))
        m.nn.functional.conv2d(xt, wt, None, stride, 1, 1, 4).backward(m.tensor(dy))
        grads.append((xt.grad.numpy(), wt.grad.numpy()))
    for mine, theirs in zip(*grads):
        # NaN and inf in place; float32 sums of 800 products in another order (2 threads) differ
        # by a few 1e-5
        np.testing.assert_allclose(mine, theirs, rtol=1e-4, atol=1e-4)
