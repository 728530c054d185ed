"""conv2d after convspeed22: the fused engine's phase planes are cut channel by channel, a
stride-2 phase row of exactly 8 values (16x16 inputs, the DCGAN discriminator's 64 -> 128
k4s2p1) copied exactly; the batch engine's input gradient packs w^T's panels from blocks of 16
weight rows read along the row. Against the NumPy reference and PyTorch in float32 and float64 on
each GEMM micro-kernel family, beside the exact path's neighbours (phase rows of 7 and 9 values,
groups, odd output counts), the same bits at 1 and 2 threads, float64 gradcheck."""

import numpy as np
import pytest
from conftest import at_threads
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _data(xs, O, k, groups, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    fan = xs[1] // groups * k[0] * k[1]
    w = (rng.standard_normal((O, xs[1] // groups) + k) / np.sqrt(fan)).astype(dtype)
    return x, w, rng


def _bits_equal(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return np.array_equal(a.view(np.uint8), b.view(np.uint8))


# Forward on the fused engine through phase planes: (x shape, O, kernel, stride, padding, groups).
# The stride-2 phase rows hold 8 values at width 16 with padding 1 (both column phases), 15 or
# 17 give rows of 7/8 and 8/9 values; groups cut each image's planes per group.
FWD = [
    ((3, 16, 16, 16), 32, (4, 4), (2, 2), (1, 1), 1),  # both phase rows exactly 8
    ((2, 8, 16, 15), 24, (4, 4), (2, 2), (1, 1), 1),  # rows of 8 and 7
    ((2, 8, 16, 17), 16, (4, 4), (2, 2), (1, 1), 1),  # rows of 9 and 8
    ((2, 12, 16, 16), 18, (3, 3), (2, 2), (1, 0), 3),  # groups, unequal padding
    ((2, 6, 16, 16), 8, (4, 4), (1, 2), (1, 1), 2),  # row stride 1, column stride 2
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", FWD)
def test_forward_phase_rows_vs_numpy_every_isa(cfg, dtype, isa):
    xs, O, k, stride, padding, groups = cfg
    x, w, rng = _data(xs, O, k, groups, dtype)
    b = rng.standard_normal(O).astype(dtype)
    want = conv2d_ref(x, w, b, stride, padding, groups=groups)
    outs = []
    for nt in (1, 2):
        with at_threads(nt):
            outs.append(_C.conv2d_forward(x, w, b, list(stride), list(padding), [1, 1], groups))
        np.testing.assert_allclose(outs[-1], want, **TOL[dtype])
    assert _bits_equal(outs[0], outs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dcgan_discriminator_layer_vs_torch(dtype):
    torch = pytest.importorskip("torch")
    x, w, _ = _data((4, 64, 16, 16), 128, (4, 4), 1, dtype, seed=3)
    with at_threads(1):
        one = _C.conv2d_forward(x, w, None, [2, 2], [1, 1])
    with at_threads(2):
        two = _C.conv2d_forward(x, w, None, [2, 2], [1, 1])
    assert _bits_equal(one, two)
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, 2, 1)
    np.testing.assert_allclose(one, want.numpy(), **TOL[dtype])


# The batch engine's input gradient (one group, >= 128 outputs, planes of at most 16 positions):
# O around the 16-row blocks of the w^T pack, K across its chunks of 2048 bytes of a row.
DX = [
    ((3, 40, 8, 8), 130, (4, 4), (2, 2), (1, 1)),  # K = 640 (two chunks), O = 8 * 16 + 2
    ((2, 3, 8, 8), 136, (3, 3), (2, 2), (1, 1)),  # K = 27, a partial panel, O % 16 == 8
    ((5, 33, 6, 6), 144, (2, 2), (2, 2), (0, 0)),  # K = 132, a ragged image block
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", DX)
def test_input_grad_vs_numpy_every_isa(cfg, dtype, isa):
    xs, O, k, stride, padding = cfg
    x, w, rng = _data(xs, O, k, 1, dtype)
    OH = (xs[2] + 2 * padding[0] - k[0]) // stride[0] + 1
    OW = (xs[3] + 2 * padding[1] - k[1]) // stride[1] + 1
    dy = rng.standard_normal((xs[0], O, OH, OW)).astype(dtype)
    want = conv2d_backward_ref(dy, x, w, stride, padding)[0]
    outs = []
    for nt in (1, 2):
        with at_threads(nt):
            outs.append(
                _C.conv2d_backward(dy, x, w, list(stride), list(padding), [1, 1], 1, True, False,
                                   False)[0]
            )  # fmt: skip
        np.testing.assert_allclose(outs[-1], want, **TOL[dtype])
    assert _bits_equal(outs[0], outs[1])


def test_gradcheck_through_both_paths():
    rng = np.random.default_rng(4)
    # 16x16 stride 2 (the exact phase rows) forward and backward
    x = ember.tensor(rng.standard_normal((2, 2, 16, 16)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((3, 2, 4, 4)) / 6, requires_grad=True)
    assert gradcheck(lambda a, b: F.conv2d(a, b, None, 2, 1), [x, w])
    # the batch engine's input gradient (128 outputs, 2x2 planes)
    x = ember.tensor(rng.standard_normal((2, 3, 4, 4)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((128, 3, 3, 3)) / 5, requires_grad=True)
    assert gradcheck(lambda a, b: F.conv2d(a, b, None, 2, 1), [x, w])
