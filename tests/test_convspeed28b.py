"""Strided grouped conv2d (groups of few channels, stride 2 or 3 on either axis: ResNeXt's stride-2
block), the configurations round 28b profiled. Values against a NumPy reference and torch,
float64 sums equal at 1 and 2 threads, float64 gradients, and edge shapes: strides (2, 2),
(2, 1), (1, 2), 3, with dilation and asymmetric padding, odd sizes whose last stride phase is
short, batch 1, output channels per group not a multiple of 8, bias or none."""

import numpy as np
import pytest
from reference_conv import conv2d_ref

import ember
import ember.nn.functional as F
from ember import _C
from ember.autograd import gradcheck

# (x shape, w shape, stride, padding (t, b, l, r), dilation, groups)
CASES = [
    ((2, 64, 28, 28), (64, 4, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 16),
    ((1, 32, 15, 17), (48, 8, 3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 4),
    ((3, 12, 13, 11), (12, 3, 3, 3), (2, 1), (1, 1, 1, 1), (1, 1), 4),
    ((2, 12, 11, 13), (18, 2, 3, 3), (1, 2), (1, 1, 1, 1), (1, 1), 6),
    ((2, 16, 20, 19), (16, 4, 5, 5), (3, 3), (2, 1, 0, 2), (1, 1), 4),
    ((1, 8, 17, 16), (24, 4, 3, 3), (2, 2), (2, 2, 2, 2), (2, 2), 2),
    ((2, 16, 9, 9), (40, 2, 4, 4), (2, 2), (1, 1, 1, 1), (1, 1), 8),
    ((1, 6, 7, 8), (6, 3, 2, 3), (2, 3), (0, 1, 2, 0), (1, 2), 2),
]


def _draw(xs, ws, dtype, bias=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    return x, w, b


def _ref(x, w, b, stride, pad, dil, groups):
    t, bo, lft, r = pad
    xp = np.pad(x.astype(np.float64), ((0, 0), (0, 0), (t, bo), (lft, r)))
    bb = None if b is None else b.astype(np.float64)
    return conv2d_ref(xp, w.astype(np.float64), bb, stride, (0, 0), dil, groups)


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_strided_grouped_forward_matches_reference(case, bias):
    xs, ws, stride, pad, dil, groups = case
    x, w, b = _draw(xs, ws, np.float32, bias)
    y = _C.conv2d_forward(x, w, b, stride, pad, dil, groups)
    ref = _ref(x, w, b, stride, pad, dil, groups)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("case", CASES[:3] + CASES[6:])
def test_strided_grouped_forward_float64_and_threads(case):
    xs, ws, stride, pad, dil, groups = case
    x, w, b = _draw(xs, ws, np.float64, seed=1)
    ref = _ref(x, w, b, stride, pad, dil, groups)
    old = ember.get_num_threads()
    try:
        ys = []
        for nt in (1, 2):
            ember.set_num_threads(nt)
            ys.append(_C.conv2d_forward(x, w, b, stride, pad, dil, groups))
    finally:
        ember.set_num_threads(old)
    np.testing.assert_allclose(ys[0], ref, rtol=1e-12, atol=1e-12)
    # the forward has no cross-thread reduction: each output is computed by one thread
    np.testing.assert_array_equal(ys[0], ys[1])


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[6]])
def test_strided_grouped_matches_torch(case):
    torch = pytest.importorskip("torch")
    xs, ws, stride, pad, dil, groups = case
    assert pad[0] == pad[1] == pad[2] == pad[3]
    x, w, b = _draw(xs, ws, np.float32, seed=2)
    y = F.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b), stride, pad[0], dil, groups)
    yt = torch.nn.functional.conv2d(
        torch.tensor(x), torch.tensor(w), torch.tensor(b), stride, pad[0], dil, groups
    )
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-4, atol=1e-4)


def test_resnext_stride2_block_matches_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _draw((1, 512, 28, 28), (512, 16, 3, 3), np.float32, seed=3)
    kw = dict(stride=2, padding=1, groups=32)
    y = F.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b), **kw)
    yt = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "xs, ws, stride, padding, dilation, groups",
    [
        ((2, 8, 9, 7), (8, 2, 3, 3), 2, 1, 1, 4),
        ((1, 6, 8, 9), (9, 2, 3, 2), (1, 2), (1, 0), (2, 1), 3),
    ],
)
def test_strided_grouped_gradcheck(xs, ws, stride, padding, dilation, groups):
    x, w, b = _draw(xs, ws, np.float64, seed=4)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, stride, padding, dilation, groups), args)
