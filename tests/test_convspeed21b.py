"""The batch engine's input gradient (input_grad_images: one group, >= 128 output channels,
output planes of at most 16 positions, batch > 1) after w^T's panels became packed by every
thread, a cache line of each weight row at a time. Against the NumPy reference and PyTorch on
each GEMM micro-kernel family (its panel height MR decides which panels are whole), at depths K
that MR does and does not divide, around the engine's thresholds; the same bits at 1 and 2
threads; float64 gradcheck through the path."""

import numpy as np
import pytest
from conftest import at_threads
from reference_conv import conv2d_backward_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}

# (x shape, out channels, kernel, stride, padding); K = C*KH*KW
CASES = [
    ((4, 16, 8, 8), 128, (4, 4), (2, 2), (1, 1)),  # DCGAN-like, K = 256 (whole panels)
    ((3, 3, 8, 8), 130, (3, 3), (2, 2), (1, 1)),  # K = 27: a partial last panel, O % 8 != 0
    ((2, 1, 5, 5), 128, (3, 3), (1, 1), (0, 0)),  # K = 9, 3x3 output, batch 2 (the smallest)
    ((5, 12, 7, 9), 136, (2, 3), (2, 2), (0, 1)),  # K = 72, odd planes, a ragged image block
    ((2, 4, 8, 8), 128, (4, 4), (2, 1), (1, 1)),  # 4x8 outputs: P = 32 > 16, not this engine
    ((2, 4, 8, 8), 127, (4, 4), (2, 2), (1, 1)),  # 127 outputs: below the engine's 128
]


def _data(xs, O, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal((O, xs[1]) + k) / np.sqrt(xs[1] * k[0] * k[1])).astype(dtype)
    return x, w, rng


def _dx(dy, x, w, stride, padding):
    return _C.conv2d_backward(
        dy, x, w, list(stride), list(padding), [1, 1], 1,
        need_input=True, need_weight=False, need_bias=False,
    )[0]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", CASES)
def test_input_grad_vs_numpy_every_isa(cfg, dtype, isa):
    xs, O, k, stride, padding = cfg
    x, w, rng = _data(xs, O, k, dtype)
    OH = (xs[2] + 2 * padding[0] - k[0]) // stride[0] + 1
    OW = (xs[3] + 2 * padding[1] - k[1]) // stride[1] + 1
    dy = rng.standard_normal((xs[0], O, OH, OW)).astype(dtype)
    want = conv2d_backward_ref(dy, x, w, stride, padding)[0]
    for nt in (1, 2):
        with at_threads(nt):
            got = _dx(dy, x, w, stride, padding)
        assert got.dtype == dtype and got.shape == x.shape
        np.testing.assert_allclose(got, want, **TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dcgan_layer_vs_torch_and_thread_bits(dtype):
    torch = pytest.importorskip("torch")
    x, w, rng = _data((6, 128, 8, 8), 256, (4, 4), dtype, seed=1)
    dy = rng.standard_normal((6, 256, 4, 4)).astype(dtype)
    with at_threads(1):
        one = _dx(dy, x, w, (2, 2), (1, 1))
    with at_threads(2):
        two = _dx(dy, x, w, (2, 2), (1, 1))
    assert np.array_equal(one.view(np.uint8), two.view(np.uint8))  # bits, not values
    tx, tw, tdy = (torch.from_numpy(a) for a in (x, w, dy))
    want = torch.ops.aten.convolution_backward(
        tdy, tx, tw, None, [2, 2], [1, 1], [1, 1], False, [0, 0], 1, [True, False, False]
    )[0].numpy()
    np.testing.assert_allclose(one, want, **TOL[dtype])


def test_gradcheck_through_batch_input_grad():
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((2, 1, 6, 6)), requires_grad=True)  # K = 9: partial panel
    w = ember.tensor(rng.standard_normal((128, 1, 3, 3)) / 3, requires_grad=True)
    assert gradcheck(lambda a, b: F.conv2d(a, b, None, 2, 1), [x, w])
