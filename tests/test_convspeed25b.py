"""The dilation mosaic's copies (conv2d.cpp mosaic_row): phase rows gathered into and scattered
out of the mosaic planes row by row. Values against torch at unequal dilations per axis, odd phase
widths, batch 1, a non-contiguous input; same bits at 1 and 2 threads; float64 gradients."""

import numpy as np
import pytest
from conftest import winograd
from test_convspeed25 import _conv_torch as _torch_conv
from test_convspeed25 import check_dilated_conv

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck


@pytest.mark.parametrize(
    "shape, padding, dilation",
    [
        ((1, 64, 24, 28), (3, 4), (3, 4)),  # 8x7 phases, dilation unequal per axis, batch 1
        ((3, 48, 20, 20), 4, 4),  # 5x5 phases (odd rows of the copies)
        ((2, 64, 14, 21), (2, 3), (2, 3)),  # 7x7 phases of an odd-sized plane
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mosaic_copies_match_torch_and_threads(rng, shape, padding, dilation, dtype):
    check_dilated_conv(rng, shape, 24, padding, dilation, dtype)


def test_mosaic_copies_noncontiguous_and_empty(rng):
    x = rng.standard_normal((2, 48, 20, 20)).astype(np.float32)
    w = (rng.standard_normal((16, 48, 3, 3)) * 0.1).astype(np.float32)
    want = _torch_conv(x, w, None, 4, 4)
    view = ember.tensor(np.ascontiguousarray(x.transpose(0, 1, 3, 2))).transpose(2, 3)
    got = F.conv2d(view, ember.tensor(w), None, 1, 4, 4).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    assert F.conv2d(ember.tensor(x[:0]), ember.tensor(w), None, 1, 4, 4).shape == (0, 16, 20, 20)


def test_mosaic_copies_forced_small_gradcheck(rng):
    # Winograd forced: 12x20 with dilation (2, 4), 6x5 phases, 13x23 mosaics
    x = rng.standard_normal((1, 3, 12, 20))
    w = rng.standard_normal((2, 3, 3, 3))
    b = rng.standard_normal(2)
    with winograd("always"):
        got = F.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b), 1, (2, 4), (2, 4))
        want = _torch_conv(x, w, b, (2, 4), (2, 4))
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-11, atol=1e-11)
        args = tuple(ember.tensor(a, requires_grad=True) for a in (x, w, b))
        assert gradcheck(lambda xx, ww, bb: F.conv2d(xx, ww, bb, 1, (2, 4), (2, 4)), args)
