"""convspeed20b: the batch engine's forward (output planes of at most 16 positions, >= 128 output
channels) builds each block of images' im2col directly as the micro-kernel's panels and reads the
weights in place: against torch and the NumPy references, forward and every gradient (conv2d and
conv_transpose2d, whose input gradient is that forward), the same bits at 1 and 2 threads."""

import numpy as np
import pytest
from conftest import at_threads
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}

# (N, C, O, H, W, k, stride, padding, dilation): every one reaches the batch engine (P <= 16,
# O >= 128, one group, N > 1)
SHAPES = [
    (5, 16, 136, 8, 8, 4, 2, 1, 1),  # DCGAN's k4s2p1 to 4x4; odd N (thread blocks 3 + 2)
    (3, 3, 130, 7, 7, 3, 2, 0, 1),  # O not a multiple of MR (edge rows), K < KC, P = 9
    (2, 20, 128, 7, 7, 3, 2, 2, 2),  # dilated: phase planes of dilation 2, 4x4 output
    (4, 24, 128, 2, 2, 3, 2, 1, 1),  # 1x1 output (P = 1), columns 4 images per panel row
    (2, 2, 128, 300, 300, 3, 100, 0, 1),  # planes too large for phase planes: col_row
    (2, 40, 128, 6, 5, 3, 2, 1, 1),  # 3x3 output (P = 9) straddling panel boundaries, K = 360
]


def _run(x, w, b, dy, s, p, d):
    ex, ew = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    eb = ember.tensor(b, requires_grad=True)
    y = F.conv2d(ex, ew, eb, stride=s, padding=p, dilation=d)
    y.backward(ember.tensor(dy))
    return [t.numpy() for t in (y.detach(), ex.grad, ew.grad, eb.grad)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_batch_forward_matches_reference_and_threads(dtype, shape):
    n, c, o, h, w_, k, s, p, d = shape
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    oh = (h + 2 * p - d * (k - 1) - 1) // s + 1
    ow = (w_ + 2 * p - d * (k - 1) - 1) // s + 1
    assert oh * ow <= 16
    dy = rng.standard_normal((n, o, oh, ow)).astype(dtype)
    with at_threads(1):
        ref = _run(x, w, b, dy, s, p, d)
    with at_threads(2):
        got = _run(x, w, b, dy, s, p, d)
    for a, e in zip(got, ref):
        np.testing.assert_array_equal(a, e)  # the same bits at 2 threads
    st, pd, dl = (s, s), (p, p), (d, d)
    np.testing.assert_allclose(ref[0], conv2d_ref(x, w, b, st, pd, dl), **TOL[dtype])
    dx, dw, db = conv2d_backward_ref(dy, x, w, st, pd, dl)
    for mine, theirs in zip(ref[1:], (dx, dw, db)):
        np.testing.assert_allclose(mine, theirs, **TOL[dtype])


def test_batch_forward_matches_torch_dcgan():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((6, 32, 8, 8)).astype(np.float32)
    w = (rng.standard_normal((128, 32, 4, 4)) * 0.05).astype(np.float32)
    b = rng.standard_normal(128).astype(np.float32)
    dy = rng.standard_normal((6, 128, 4, 4)).astype(np.float32)
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, tb, stride=2, padding=1)
    ty.backward(torch.from_numpy(dy))
    for nt in (1, 2):
        with at_threads(nt):
            got = _run(x, w, b, dy, 2, 1, 1)
        for mine, theirs in zip(got, (ty, tx.grad, tw.grad, tb.grad)):
            np.testing.assert_allclose(mine, theirs.detach().numpy(), **TOL[np.float32])


def test_conv_transpose_through_batch_forward_matches_torch():
    # conv_transpose2d 128 -> 8 from 4x4 to 8x8: its input gradient is conv2d's forward from 8x8
    # to 4x4 with 128 output channels (the batch engine)
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    x = rng.standard_normal((5, 128, 4, 4)).astype(np.float32)
    w = (rng.standard_normal((128, 8, 4, 4)) * 0.05).astype(np.float32)
    b = rng.standard_normal(8).astype(np.float32)
    dy = rng.standard_normal((5, 8, 8, 8)).astype(np.float32)
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    tb = torch.from_numpy(b).requires_grad_()
    ty = torch.nn.functional.conv_transpose2d(tx, tw, tb, stride=2, padding=1)
    ty.backward(torch.from_numpy(dy))
    res = []
    for nt in (1, 2):
        ex, ew = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        eb = ember.tensor(b, requires_grad=True)
        with at_threads(nt):
            y = F.conv_transpose2d(ex, ew, eb, stride=2, padding=1)
            y.backward(ember.tensor(dy))
        res.append([t.numpy() for t in (y.detach(), ex.grad, ew.grad, eb.grad)])
    for a, e in zip(res[1], res[0]):
        np.testing.assert_array_equal(a, e)
    for mine, theirs in zip(res[0], (ty, tx.grad, tw.grad, tb.grad)):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), **TOL[np.float32])


def test_batch_forward_gradcheck():
    rng = np.random.default_rng(4)
    x = ember.tensor(rng.standard_normal((3, 2, 4, 4)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((130, 2, 4, 4)) / 6, requires_grad=True)
    b = ember.tensor(rng.standard_normal(130), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride=2, padding=1), (x, w, b))
