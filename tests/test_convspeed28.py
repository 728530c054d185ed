"""conv3d of round 28: a kernel of one tap across depth and rows, unstrided and unpadded on those
axes (1x1x1 pointwise, 1x1xk), runs as one conv2d over (N, C, D*H, W) with no depth-tap copy and
no transposed output. Values against torch and a NumPy reference, the output's layout, float64
gradients, edge shapes (batch 1, unbatched, odd sizes, groups, bias or none, stride and padding
along W, padding strings) and configurations just outside the path (depth or row taps, strides
or padding) which keep the general one."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck


def conv3d_ref(x, w, b, stride, padding, dilation, groups):
    """Direct NumPy conv3d: x (N,C,D,H,W), w (O,C/g,KD,KH,KW), per-axis ints -> y (N,O,*)."""
    N, C = x.shape[:2]
    O, Cg, *k = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), *[(p, p) for p in padding]))
    out = [(xp.shape[2 + i] - dilation[i] * (k[i] - 1) - 1) // stride[i] + 1 for i in range(3)]
    y = np.zeros((N, O, *out), np.float64)
    Og = O // groups
    for a in range(k[0]):
        for bb in range(k[1]):
            for c in range(k[2]):
                sl = tuple(
                    slice(t * d, t * d + s * (n - 1) + 1, s)
                    for t, d, s, n in zip((a, bb, c), dilation, stride, out)
                )
                patch = xp[(slice(None), slice(None), *sl)]
                for gi in range(groups):
                    xs = patch[:, gi * Cg : (gi + 1) * Cg]
                    wg = w[gi * Og : (gi + 1) * Og, :, a, bb, c]
                    y[:, gi * Og : (gi + 1) * Og] += np.einsum("ncdhw,oc->nodhw", xs, wg)
    if b is not None:
        y += b.reshape(1, O, 1, 1, 1)
    return y


# x shape, weight shape, stride, padding, dilation, groups
CASES = [
    ((2, 6, 5, 7, 9), (4, 6, 1, 1, 1), 1, 0, 1, 1),  # pointwise, odd sizes
    ((1, 8, 3, 4, 5), (6, 4, 1, 1, 1), 1, 0, 1, 2),  # batch 1, groups
    ((2, 4, 3, 5, 11), (5, 4, 1, 1, 3), (1, 1, 2), (0, 0, 1), 1, 1),  # 1x1x3, W stride + pad
    ((1, 3, 2, 3, 7), (2, 3, 1, 1, 2), (1, 1, 3), 0, (1, 1, 2), 1),  # stride 3 > kernel 2
    ((2, 6, 4, 3, 8), (6, 1, 1, 1, 3), 1, (0, 0, 2), (1, 1, 2), 6),  # depthwise, dilated W
    # just outside the path: depth taps, row taps, depth stride, row padding
    ((2, 4, 5, 6, 7), (3, 4, 3, 1, 1), 1, (1, 0, 0), 1, 1),
    ((2, 4, 5, 6, 7), (3, 4, 1, 3, 1), 1, 0, 1, 1),
    ((2, 4, 5, 6, 7), (3, 4, 1, 1, 1), (2, 1, 1), 0, 1, 1),
    ((2, 4, 5, 6, 7), (3, 4, 1, 1, 1), 1, (0, 1, 0), 1, 1),
]


def _triple(v):
    return (v,) * 3 if isinstance(v, int) else tuple(v)


def _draw(xs, ws, dtype, seed=28):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("with_bias", [True, False])
def test_conv3d_values(case, with_bias):
    torch = pytest.importorskip("torch")
    xs, ws, s, p, d, g = case
    x, w, b = _draw(xs, ws, np.float32)
    b = b if with_bias else None
    y = F.conv3d(
        ember.tensor(x), ember.tensor(w), None if b is None else ember.tensor(b), s, p, d, g
    )
    want = torch.nn.functional.conv3d(
        torch.from_numpy(x),
        torch.from_numpy(w),
        None if b is None else torch.from_numpy(b),
        s,
        p,
        d,
        g,
    ).numpy()
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-5)
    ref = conv3d_ref(
        x.astype(np.float64), w.astype(np.float64), b, _triple(s), _triple(p), _triple(d), g
    )
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-5)


def test_pointwise_output_is_contiguous_and_unbatched_works():
    x, w, b = _draw((3, 7, 5, 9), (4, 3, 1, 1, 1), np.float32)
    y = F.conv3d(ember.tensor(x[None]), ember.tensor(w), ember.tensor(b))
    assert y.is_contiguous()  # conv3d's layout directly (the general path returns a transpose)
    yu = F.conv3d(ember.tensor(x), ember.tensor(w), ember.tensor(b))
    assert yu.shape == (4, 7, 5, 9)
    np.testing.assert_array_equal(yu.numpy(), y.numpy()[0])
    ref = conv3d_ref(
        x[None].astype(np.float64), w.astype(np.float64), b, (1,) * 3, (0,) * 3, (1,) * 3, 1
    )
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("padding", ["same", "valid"])
def test_pointwise_padding_strings(padding):
    torch = pytest.importorskip("torch")
    x, w, b = _draw((2, 4, 3, 5, 8), (6, 4, 1, 1, 5), np.float32)
    y = F.conv3d(ember.tensor(x), ember.tensor(w), ember.tensor(b), padding=padding)
    want = torch.nn.functional.conv3d(*map(torch.from_numpy, (x, w, b)), padding=padding).numpy()
    assert y.shape == want.shape
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", [CASES[0], CASES[1], CASES[2], CASES[4]])
def test_pointwise_gradcheck(case):
    xs, ws, s, p, d, g = case
    x, w, b = _draw(xs, ws, np.float64, seed=5)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, s, p, d, g), args)


def test_pointwise_gradients_against_torch():
    torch = pytest.importorskip("torch")
    x, w, b = _draw((2, 6, 3, 4, 7), (4, 3, 1, 1, 3), np.float32, seed=9)
    dy = np.random.default_rng(10).standard_normal((2, 4, 3, 4, 4)).astype(np.float32)
    te = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    F.conv3d(*te, stride=(1, 1, 2), padding=(0, 0, 1), groups=2).backward(ember.tensor(dy))
    tt = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    torch.nn.functional.conv3d(*tt, stride=(1, 1, 2), padding=(0, 0, 1), groups=2).backward(
        torch.from_numpy(dy)
    )
    for e, t in zip(te, tt):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_pointwise_bad_channels_raise():
    x = ember.tensor(np.zeros((1, 5, 2, 2, 2), np.float32))
    w = ember.tensor(np.zeros((3, 4, 1, 1, 1), np.float32))
    with pytest.raises(ValueError, match="channels"):
        F.conv3d(x, w)
