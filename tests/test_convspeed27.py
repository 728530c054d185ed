"""conv2d fast paths of round 27: the fused forward engine runs the whole GEMM depth (K = C*KH*KW
and the bias row) as one block while its im2col panels stay within 2 MiB a thread, so every
output is one chain of FMAs in the order of k (DCGAN's 4x4 stride-2 convolutions, K = C*16;
Inception's 1x7 at 17x17); deeper ones with wide column blocks split it into even blocks.
Values against torch (float32 and float64), the depth boundaries of the blocking, odd widths,
tails of column panels, groups, batch 1, the same bits at 1 and 2 threads and for an image
alone or inside its batch."""

import numpy as np
import pytest
from conftest import at_threads

import ember
import ember.nn.functional as F
from ember import _C

# N, C, H, W, O, kernel, stride, padding, groups
SHAPES = [
    (2, 64, 16, 16, 40, (4, 4), 2, 1, 1),  # DCGAN's middle layer: K = 1024 (+ bias)
    (1, 128, 8, 8, 24, (4, 4), 2, 1, 1),  # K = 2048 + bias, 16 outputs: one block
    (1, 72, 64, 64, 8, (4, 4), 2, 1, 1),  # 1024 outputs (512-column blocks): two depth blocks
    (2, 160, 6, 6, 8, (4, 4), 2, 1, 1),  # K = 2560: three blocks, 9 outputs (one half panel)
    (2, 48, 17, 17, 20, (1, 7), 1, (0, 3), 1),  # Inception 1x7, 289 = 9 * 32 + 1 outputs
    (1, 40, 17, 17, 16, (7, 1), 1, (3, 0), 1),  # 7x1 (the shift engine's)
    (3, 24, 13, 11, 12, (1, 7), 1, (0, 3), 1),  # odd width, 143 outputs: a 15-column tail
    (2, 32, 15, 9, 16, (3, 3), 2, 1, 2),  # groups, odd sizes
    (1, 9, 7, 7, 5, (2, 2), 2, 0, 1),  # tiny depth (36)
]


def _case(rng, shape, dtype):
    N, C, H, W, O, k, s, p, g = shape
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = (rng.standard_normal((O, C // g, *k)) / np.sqrt(C // g * k[0] * k[1])).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    return x, w, b, s, p, g


def _pad4(p):
    ph, pw = (p, p) if isinstance(p, int) else p
    return (ph, ph, pw, pw)


def _ember(x, w, b, s, p, g):
    return _C.conv2d_forward(x, w, b, (s, s), _pad4(p), (1, 1), g)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_against_torch_and_thread_bits(shape, dtype):
    torch = pytest.importorskip("torch")
    args = _case(np.random.default_rng(27), shape, dtype)
    x, w, b, s, p, g = args
    want = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), s, p, 1, g).numpy()
    outs = []
    for nt in (1, 2):
        with at_threads(nt):
            outs.append(_ember(*args))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-11)
    np.testing.assert_allclose(outs[0], want, **tol)
    np.testing.assert_array_equal(outs[0], outs[1])  # one task per image: no partial sums


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[2], SHAPES[3]])
def test_image_alone_same_bits(shape):
    x, w, b, s, p, g = _case(np.random.default_rng(28), shape, np.float32)
    y = _ember(x, w, b, s, p, g)
    for n in range(x.shape[0]):
        np.testing.assert_array_equal(_ember(x[n : n + 1], w, b, s, p, g)[0], y[n])


@pytest.mark.parametrize("C", [63, 64, 65])
def test_depth_boundaries_against_float64(C):
    # 512-column blocks take depth blocks of at most 1024: K = C*16 + 1 (the bias) on both sides;
    # a float64 reference of the same float32 operands bounds the rounding of the long sums
    rng = np.random.default_rng(C)
    x, w, b, s, p, g = _case(rng, (1, C, 64, 64, 8, (4, 4), 2, 1, 1), np.float32)
    torch = pytest.importorskip("torch")
    want = torch.nn.functional.conv2d(
        *(torch.from_numpy(a.astype(np.float64)) for a in (x, w, b)), s, p
    ).numpy()
    got = _ember(x, w, b, s, p, g)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_nonfinite_stays_local():
    torch = pytest.importorskip("torch")
    x, w, b, s, p, g = _case(np.random.default_rng(29), SHAPES[0], np.float32)
    x[0, 3, 5, 6] = np.inf
    x[1, 7, 0, 0] = np.nan
    want = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), s, p).numpy()
    got = _ember(x, w, b, s, p, g)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=2e-4, atol=2e-4)


def test_module_gradients_unchanged_paths():
    # the forward feeds autograd as before: a float64 DCGAN-like layer against finite differences
    from ember.autograd import gradcheck

    rng = np.random.default_rng(30)
    x = ember.tensor(rng.standard_normal((1, 4, 6, 6)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((3, 4, 4, 4)) / 8, requires_grad=True)
    assert gradcheck(lambda a, c: F.conv2d(a, c, None, 2, 1), (x, w))
