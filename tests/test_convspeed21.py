"""The batch engine's weight gradient without an explicit im2col matrix (weight_grad_batch: rows of
col built a block at a time and read in place by the micro-kernel) and its wider automatic rule
(every one-group convolution with output planes of at most 64 positions). Against the NumPy
reference and PyTorch in float32 and float64, the same bits at 1 and 2 threads, the rule's
boundary (8x8 outputs taken, 9x9 not), and a float64 gradcheck."""

import numpy as np
import pytest
from conftest import at_threads, swapped
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=1e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _data(xs, O, k, stride, padding, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal((O, xs[1]) + k) / np.sqrt(xs[1] * k[0] * k[1])).astype(dtype)
    dy = rng.standard_normal(conv2d_ref(x, w, None, stride, padding).shape).astype(dtype)
    return x, w, dy


def _dw(dy, x, w, stride, padding, mode, nt):
    with swapped(_C.conv2d_set_batch_dw, mode), at_threads(nt):
        return _C.conv2d_backward(dy, x, w, stride, padding, need_input=False, need_bias=False)[1]


# (x shape, out channels, kernel, stride, padding)
SHAPES = [
    ((3, 16, 8, 8), 128, (4, 4), (2, 2), (1, 1)),  # DCGAN's 4x4 outputs (batch_ok: dx too)
    ((40, 4, 8, 8), 130, (4, 4), (2, 2), (1, 1)),  # 640 columns: two image blocks; O % NR != 0
    ((2, 9, 16, 16), 20, (4, 4), (2, 2), (1, 1)),  # 8x8 outputs, O under one panel
    ((3, 3, 7, 7), 5, (3, 3), (1, 1), (1, 1)),  # depth 27: one short block of col rows
    ((2, 70, 5, 6), 33, (3, 2), (1, 2), (0, 1)),  # K = 420 over several blocks, odd sizes
    ((1, 8, 6, 6), 16, (3, 3), (1, 1), (1, 1)),  # one image
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", SHAPES)
def test_weight_grad_vs_numpy_and_threads(cfg, dtype):
    xs, O, k, stride, padding = cfg
    x, w, dy = _data(xs, O, k, stride, padding, dtype)
    dx_r, dw_r, _ = conv2d_backward_ref(dy, x, w, stride, padding)
    got = {nt: _dw(dy, x, w, stride, padding, "always", nt) for nt in (1, 2)}
    np.testing.assert_allclose(got[1], dw_r, **TOL[dtype])
    np.testing.assert_array_equal(got[1], got[2])  # the same bits on any thread count
    with swapped(_C.conv2d_set_batch_dw, "always"), at_threads(2):
        dx, dw, _ = _C.conv2d_backward(dy, x, w, stride, padding, need_bias=False)
    np.testing.assert_allclose(dx, dx_r, **TOL[dtype])
    np.testing.assert_array_equal(dw, got[1])


# DCGAN discriminator's middle layers at a small batch, through the automatic rule, vs torch
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("xs, O", [((4, 64, 16, 16), 128), ((4, 128, 8, 8), 256)])
def test_dcgan_layers_vs_torch(xs, O, dtype):
    torch = pytest.importorskip("torch")
    x, w, dy = _data(xs, O, (4, 4), (2, 2), (1, 1), dtype, seed=2)
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    torch.nn.functional.conv2d(xt, wt, None, 2, 1).backward(torch.tensor(dy))
    for nt in (1, 2):
        with at_threads(nt):
            dx, dw, _ = _C.conv2d_backward(dy, x, w, (2, 2), (1, 1), need_bias=False)
        np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])
        np.testing.assert_allclose(dw, wt.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("side, taken", [(8, True), (9, False)])
def test_auto_rule_boundary(side, taken):
    """8x8 outputs (64 positions) take the batch engine's dw automatically, 9x9 do not: 'auto'
    gives the bits of 'always' or of 'never' accordingly (the two engines sum in other orders)."""
    x, w, dy = _data((3, 8, side, side), 16, (3, 3), (1, 1), (1, 1), np.float32, seed=4)
    auto, always, never = (_dw(dy, x, w, (1, 1), (1, 1), m, 1) for m in ("auto", "always", "never"))
    assert not np.array_equal(always, never)  # else the test could not tell them apart
    np.testing.assert_array_equal(auto, always if taken else never)
    np.testing.assert_allclose(
        auto, conv2d_backward_ref(dy, x, w, (1, 1), (1, 1))[1], **TOL[np.float32]
    )


def test_gradcheck_float64():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((4, 3, 4, 4)) * 0.3, requires_grad=True)
    assert gradcheck(lambda a, b: F.conv2d(a, b, None, 2, 1), [x, w])  # 3x3 outputs: auto


# Winograd's forward checks w's finiteness inside its weight transform (no pass of its own): an
# inf/NaN weight must still send the convolution to the engine that would run without Winograd.
# (x shape, out channels): one block of rows of U per task (batch 1, few tiles), blocks of tiles
@pytest.mark.parametrize("xs, O", [((1, 24, 4, 4), 20), ((3, 16, 10, 10), 16)])
@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_winograd_nonfinite_weight_falls_back(xs, O, bad):
    x, w, _ = _data(xs, O, (3, 3), (1, 1), (1, 1), np.float32, seed=7)
    args = (None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    for i, wi in enumerate((w, w.copy())):
        if i:
            wi[O - 1, 3, 1, 2] = bad  # in the last (possibly partial) row panel
        got = {}
        for mode in ("always", "never"):
            with swapped(_C.conv2d_set_winograd, mode), at_threads(2):
                got[mode] = _C.conv2d_forward(x, wi, *args)
        if i:  # the fallback: the other engine's bits, NaN/inf where it has them
            np.testing.assert_array_equal(got["always"], got["never"])
        else:
            assert not np.array_equal(got["always"], got["never"])  # Winograd did run
            np.testing.assert_allclose(got["always"], conv2d_ref(x, wi, None, (1, 1), (1, 1)),
                                       **TOL[np.float32])  # fmt: skip
