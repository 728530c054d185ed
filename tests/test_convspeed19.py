"""convspeed19: the Winograd weight transform by MR-row panels (threads over panels; dx reads the
weights flipped in place), grid_sample's gathers as vector gathers, and nll_loss / cross_entropy
sums in 8 lanes: the same values as PyTorch, and the same bits at any thread count."""

import numpy as np
import pytest
from conftest import at_threads, check_weight_grad, winograd

import ember
from ember.nn import functional as F

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


def _conv_all(x, w, b, dy, pad):
    ex, ew = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    y = F.conv2d(ex, ew, None if b is None else ember.tensor(b), padding=pad)
    y.backward(ember.tensor(dy))
    return y.detach().numpy(), ex.grad.numpy(), ew.grad.numpy()


# (N, C, O, H, W, padding): O not a multiple of any micro-kernel's MR (a partial last panel of
# the transformed weights), C != O (dx's flipped weights are (C, O)), ResNet's last stage
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape",
    [(2, 52, 37, 9, 9, 1), (1, 20, 70, 8, 7, 1), (2, 9, 13, 6, 5, (1, 2)), (2, 512, 512, 7, 7, 1)],
)
def test_winograd_weight_panels_match_torch_and_threads(dtype, shape):
    n, c, o, h, w_, pad = shape
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    pads = (pad, pad) if isinstance(pad, int) else pad
    oh, ow = h + 2 * pads[0] - 2, w_ + 2 * pads[1] - 2
    dy = rng.standard_normal((n, o, oh, ow)).astype(dtype)
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, torch.from_numpy(b), padding=pads)
    ty.backward(torch.from_numpy(dy))
    with winograd("always"):  # wherever it applies
        with at_threads(1):
            ref = _conv_all(x, w, b, dy, pads)
        for nt in (2, 3):
            with at_threads(nt):
                got = _conv_all(x, w, b, dy, pads)
            np.testing.assert_array_equal(got[0], ref[0])  # y and dx: the same bits
            np.testing.assert_array_equal(got[1], ref[1])
    for mine, theirs in zip(ref, (ty, tx.grad, tw.grad)):
        np.testing.assert_allclose(mine, theirs.detach().numpy(), **TOL[dtype])


# grid_sample bilinear / nearest: in range, outside (every padding mode) and the exact borders
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align", [False, True])
def test_grid_sample_gathers_match_torch(dtype, mode, padding_mode, align):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 5, 11, 13)).astype(dtype)
    g = rng.uniform(-1.3, 1.3, (3, 17, 9, 2)).astype(dtype)
    g[0, 0, :3] = [[-1, -1], [1, 1], [1, -1]]
    ex, eg = ember.tensor(x, requires_grad=True), ember.tensor(g, requires_grad=True)
    y = F.grid_sample(ex, eg, mode=mode, padding_mode=padding_mode, align_corners=align)
    dy = rng.standard_normal(y.shape).astype(dtype)
    y.backward(ember.tensor(dy))
    tx, tg = torch.from_numpy(x).requires_grad_(), torch.from_numpy(g).requires_grad_()
    ty = torch.nn.functional.grid_sample(
        tx, tg, mode=mode, padding_mode=padding_mode, align_corners=align
    )
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(eg.grad.numpy(), tg.grad.numpy(), **TOL[dtype])


def test_grid_sample_forward_threads_same_bits():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((4, 8, 32, 32)).astype(np.float32))
    g = ember.tensor(rng.uniform(-1.1, 1.1, (4, 40, 40, 2)).astype(np.float32))
    with at_threads(1):
        ref = F.grid_sample(x, g, align_corners=False).numpy()
    with at_threads(2):
        np.testing.assert_array_equal(F.grid_sample(x, g, align_corners=False).numpy(), ref)


# segmentation-shaped losses: the summed loss (8 lanes in double) against torch, ignored
# targets, weights, and the same bits at any thread count
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
def test_segmentation_losses_match_torch_and_threads(dtype, reduction, weighted, fn):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 6, 13, 11)).astype(dtype)
    t = rng.integers(0, 6, (3, 13, 11))
    t[0, :2] = -100
    w = rng.uniform(0.5, 2, 6).astype(dtype) if weighted else None
    kw = dict(reduction=reduction)
    with at_threads(1):
        ref = getattr(F, fn)(
            ember.tensor(x), ember.tensor(t), None if w is None else ember.tensor(w), **kw
        ).numpy()
    with at_threads(2):
        got = getattr(F, fn)(
            ember.tensor(x), ember.tensor(t), None if w is None else ember.tensor(w), **kw
        ).numpy()
    np.testing.assert_array_equal(got, ref)
    tw = None if w is None else torch.from_numpy(w)
    expect = getattr(torch.nn.functional, fn)(torch.from_numpy(x), torch.from_numpy(t), tw, **kw)
    np.testing.assert_allclose(ref, expect.numpy(), **TOL[dtype])


def test_loss_sum_of_ragged_length_matches_float64():
    # a length that is no multiple of 8: the lanes' tail
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 4, 1003)).astype(np.float64)
    t = rng.integers(0, 4, (1, 1003))
    got = F.nll_loss(ember.tensor(x), ember.tensor(t), reduction="sum").numpy()
    expect = -np.take_along_axis(x, t[:, None], 1).sum()
    np.testing.assert_allclose(got, expect, rtol=1e-13)


def test_bad_target_still_raises():
    x = ember.tensor(np.zeros((2, 3, 4, 4), np.float32))
    t = np.zeros((2, 4, 4), np.int64)
    t[1, 2, 3] = 3
    with pytest.raises((ValueError, IndexError), match="out of bounds"):
        F.nll_loss(x, ember.tensor(t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_engine_weight_grad_one_block(dtype):
    # 7x7 planes with a 4.5 MiB dw (the batch engine's weight gradient): 12 images, now one
    # block of im2col (was two): against torch, and the same bits at any thread count
    rng = np.random.default_rng(9)
    x = rng.standard_normal((12, 256, 7, 7)).astype(dtype)
    w = (rng.standard_normal((512, 256, 3, 3)) / 48).astype(dtype)
    dy = rng.standard_normal((12, 512, 7, 7)).astype(dtype)
    check_weight_grad(dy, x, w, (1, 1), TOL[dtype])
