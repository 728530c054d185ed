"""conv2d fast paths of round 26: the fused forward engine's last column panel of at most NR/2
live columns through the half-width micro-kernel (17x17 planes: 289 = 9*32 + 1), and the grouped
direct engine's blocks by whole output rows where that takes fewer blocks than running across
the padded rows (32x32, groups of 16 channels), written straight into y. Values and gradients
against torch (float32 and float64), finite differences in float64, edge shapes, and the same
bits at 1 and 2 threads."""

import numpy as np
import pytest
from conftest import at_threads

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

# N, C, H, W, O, kernel, stride, padding, groups
FUSED_TAIL = [
    (3, 64, 17, 17, 64, (1, 7), 1, (0, 3), 1),  # Inception's 1x7: 289 = 9 * 32 + 1 outputs
    (2, 32, 17, 17, 48, (7, 1), 1, (3, 0), 1),
    (2, 16, 28, 28, 8, (5, 5), 1, 2, 1),  # 784 outputs: column blocks of 416 and 368 = 11.5 panels
    (2, 6, 14, 14, 16, (5, 5), 1, 0, 1),  # 100 outputs: 3 panels + 4
    (3, 3, 32, 32, 32, (3, 3), 2, 1, 1),  # stride 2, 256 outputs (whole panels)
    (2, 40, 9, 9, 24, (3, 3), 2, 0, 1),  # 16 outputs: one half panel
    (2, 64, 16, 16, 128, (4, 4), 2, 1, 1),  # DCGAN's discriminator middle layer
    (1, 20, 11, 7, 12, (2, 3), 1, (1, 0), 1),  # odd sizes, asymmetric padding
]
GROUPED = [
    (2, 64, 32, 32, 64, (3, 3), 1, 1, 4),  # by rows: 32 blocks instead of 34
    (2, 32, 32, 32, 32, (3, 3), 1, 1, 8),
    (2, 32, 48, 48, 32, (3, 3), 1, 1, 4),  # OW = 48: 1.5 blocks a row
    (2, 64, 15, 15, 64, (3, 3), 1, 1, 4),  # across rows
    (2, 64, 33, 33, 64, (3, 3), 2, 1, 4),  # stride 2: by rows, 17 wide
    (1, 12, 32, 32, 20, (3, 3), 1, 1, 4),  # 5 output channels a group: partial register block
    (2, 16, 64, 64, 16, (3, 3), 1, 1, 2),  # OW = 2 blocks
    (2, 8, 32, 32, 8, (1, 3), 1, (0, 1), 2),
]


def _torch_conv(x, w, b, s, p, g, dy):
    torch = pytest.importorskip("torch")
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = torch.nn.functional.conv2d(xt, wt, bt, s, p, 1, g)
    y.backward(torch.from_numpy(dy))
    return [a.detach().numpy() for a in (y, xt.grad, wt.grad, bt.grad)]


def _ember_conv(x, w, b, s, p, g, dy):
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xe, we, be, s, p, 1, g)
    y.backward(ember.tensor(dy))
    return [a.numpy() for a in (y, xe.grad, we.grad, be.grad)]


def _case(rng, shape, dtype):
    N, C, H, W, O, k, s, p, g = shape
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (rng.standard_normal((O, C // g, *k)) / np.sqrt(C // g * k[0] * k[1])).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    with ember.no_grad():
        oshape = F.conv2d(ember.tensor(x), ember.tensor(w), None, s, p, 1, g).shape
    dy = rng.standard_normal(oshape).astype(dtype)
    return x, w, b, s, p, g, dy


@pytest.mark.parametrize("shape", FUSED_TAIL + GROUPED)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_against_torch_and_thread_bits(rng, shape, dtype):
    args = _case(rng, shape, dtype)
    want = _torch_conv(*args)
    with at_threads(1):
        got1 = _ember_conv(*args)
    with at_threads(2):
        got2 = _ember_conv(*args)
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    for name, a, b, c in zip(("y", "dx", "dw", "db"), got1, got2, want):
        assert a.dtype == dtype and a.shape == c.shape, name
        np.testing.assert_allclose(a, c, **tol, err_msg=name)
        if name in ("y", "dx"):  # the same bits at 1 and 2 threads; dw/db sum per-thread
            np.testing.assert_array_equal(a, b, err_msg=name)  # partials (conv2d.cpp's header)


@pytest.mark.parametrize("shape", FUSED_TAIL[:2] + GROUPED[:1])
def test_images_independent_bits(rng, shape):
    # each image's output is the same sum alone as inside the batch (tasks and panels per image)
    x, w, b, s, p, g, _ = _case(rng, shape, np.float32)
    with ember.no_grad():
        y = F.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b), s, p, 1, g).numpy()
        for n in range(x.shape[0]):
            one = F.conv2d(ember.tensor(x[n : n + 1]), ember.tensor(w), ember.tensor(b), s, p, 1, g)
            np.testing.assert_array_equal(one.numpy()[0], y[n])


@pytest.mark.parametrize(
    "shape",
    [
        (1, 16, 5, 5, 16, (1, 3), 1, (0, 1), 1),  # fused forward, 25 outputs: one half panel
        (2, 16, 6, 6, 16, (3, 3), 1, 1, 4),  # grouped direct
        (1, 8, 7, 9, 8, (3, 2), 2, (1, 0), 2),
    ],
)
def test_gradcheck_float64(rng, shape):
    x, w, b, s, p, g, _ = _case(rng, shape, np.float64)
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    assert gradcheck(lambda a, c, d: F.conv2d(a, c, d, s, p, 1, g), (xe, we, be))


@pytest.mark.parametrize("shape", [FUSED_TAIL[0], GROUPED[0]])
def test_empty_batch_and_nonfinite(rng, shape):
    x, w, b, s, p, g, _ = _case(rng, shape, np.float32)
    empty = x[:0]
    xe = ember.tensor(empty, requires_grad=True)
    y = F.conv2d(xe, ember.tensor(w), ember.tensor(b), s, p, 1, g)
    assert y.shape[0] == 0
    y.sum().backward()
    assert xe.grad.shape == empty.shape
    # a NaN reaches only the outputs whose window holds it (torch's pattern)
    torch = pytest.importorskip("torch")
    x = x[:1].copy()
    x[0, 0, 3, 4] = np.nan
    want = torch.nn.functional.conv2d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, 1, g)
    with ember.no_grad():
        got = F.conv2d(ember.tensor(x), ember.tensor(w), None, s, p, 1, g).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want.numpy()))
    np.testing.assert_allclose(got, want.numpy(), rtol=2e-4, atol=2e-4)
