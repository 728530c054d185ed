"""ember._C max / avg / adaptive-avg pooling kernels against NumPy references and PyTorch."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_conv import (
    adaptive_avg_pool2d_backward_ref,
    adaptive_avg_pool2d_ref,
    avg_pool2d_backward_ref,
    avg_pool2d_ref,
    max_pool2d_backward_ref,
    max_pool2d_ref,
    pool_valid,
)

from ember import _C

TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-12, atol=1e-12)}
DTYPES = [np.float32, np.float64]

# (shape, kernel, stride, padding, dilation, ceil_mode)
MAX_CONFIGS = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), (1, 1), False),
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1), (1, 1), False),
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1), (1, 1), True),
    ((1, 2, 9, 6), (3, 2), (2, 3), (1, 1), (2, 1), True),
    ((2, 2, 10, 10), (3, 3), (1, 1), (1, 0), (3, 2), False),
    ((1, 1, 5, 5), (2, 2), (2, 2), (0, 0), (1, 1), True),  # last window runs off the end
    ((1, 1, 1, 1), (3, 3), (3, 3), (1, 1), (2, 2), True),  # empty window (index -1)
    ((3, 6, 6), (2, 2), (1, 1), (1, 1), (1, 1), False),  # 3-D input
    ((0, 3, 6, 6), (2, 2), (2, 2), (0, 0), (1, 1), False),  # N == 0
]

# (shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_CONFIGS = [
    ((2, 3, 8, 8), (2, 2), (2, 2), (0, 0), False, True, None),
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1), False, True, None),
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1), False, False, None),
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1), True, True, None),
    ((2, 3, 7, 7), (3, 3), (2, 2), (1, 1), True, False, None),
    ((1, 2, 6, 5), (2, 3), (3, 2), (1, 1), True, True, None),  # windows off the end
    ((1, 2, 6, 5), (4, 2), (3, 1), (2, 1), True, False, 3),  # divisor_override
    ((1, 2, 6, 5), (4, 2), (3, 1), (2, 1), False, True, -2),
    ((3, 5, 5), (3, 3), (1, 1), (1, 1), False, False, None),  # 3-D input
    ((0, 3, 6, 6), (2, 2), (2, 2), (0, 0), False, True, None),  # N == 0
]

ADAPTIVE_CONFIGS = [
    ((2, 3, 8, 8), (1, 1)),
    ((2, 3, 8, 8), (4, 4)),
    ((2, 3, 7, 9), (3, 4)),
    ((1, 2, 5, 5), (7, 3)),  # output larger than input
    ((1, 2, 6, 6), (0, 3)),  # empty output
    ((3, 7, 7), (2, 3)),
    ((0, 3, 7, 7), (2, 2)),
]


def _x(shape, dtype, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", MAX_CONFIGS)
def test_max_pool_vs_numpy(cfg, dtype):
    shape, k, s, p, d, ceil_mode = cfg
    x = _x(shape, dtype)
    y, idx = _C.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    ry, ridx = max_pool2d_ref(x, k, s, p, d, ceil_mode)
    assert y.dtype == dtype and idx.dtype == np.int64
    np.testing.assert_array_equal(y, ry)
    np.testing.assert_array_equal(idx, ridx)
    dy = _x(y.shape, dtype, 1)
    dx = _C.max_pool2d_backward(dy, idx, x.shape)
    np.testing.assert_allclose(dx, max_pool2d_backward_ref(dy, idx, x.shape), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", MAX_CONFIGS[:-3])
def test_max_pool_vs_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    shape, k, s, p, d, ceil_mode = cfg
    x = _x(shape, dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, k, s, p, d, ceil_mode, return_indices=True)
    y, idx = _C.max_pool2d_forward(x, k, s, p, d, ceil_mode)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    dy = _x(y.shape, dtype, 1)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(
        _C.max_pool2d_backward(dy, idx, x.shape), xt.grad.numpy(), **TOL[dtype]
    )


def test_max_pool_nan_and_ties_like_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[[[1.0, 1.0, np.nan, 2.0], [3.0, 3.0, 0.0, np.nan]]]], np.float32)
    y, idx = _C.max_pool2d_forward(x, (2, 2), (2, 2))
    yt, it = torch.nn.functional.max_pool2d(torch.tensor(x), 2, 2, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(idx, it.numpy())


# 2x2 stride 2 paths: even H and W with OW < 64 and not a multiple of 8 (float32) / 4 (float64)
# outputs run as one flat loop over blocks of rows (several blocks: (5, 3, 28, 28),
# (1, 1, 64, 2)); other rows and odd sizes run a loop per output row, vectorised, with a scalar
# remainder for OW = 70.
SHAPES_2X2 = [
    (3, 4, 7, 9),  # odd H and W: per row
    (3, 4, 7, 8),  # odd H: per row
    (2, 3, 8, 8),  # OW 4: flat in float32, per row in float64
    (2, 2, 4, 24),  # OW 12: the same
    (64, 1, 10, 10),
    (5, 3, 28, 28),  # flat, 3 blocks of rows
    (1, 1, 64, 2),  # flat, OW == 1
    (1, 1, 2, 2),
    (2, 2, 6, 30),  # flat, OW == 15
    (2, 2, 6, 32),  # per row, OW == 16
    (1, 1, 2, 70),
    (1, 2, 4, 140),  # per row, OW == 70
]


def _ties_and_nans(shape, dtype):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 3, shape).astype(dtype)  # many ties
    x.reshape(-1)[rng.choice(x.size, x.size // 7, replace=False)] = np.nan
    return x


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES_2X2)
def test_max_pool_2x2_fast_paths_vs_numpy(shape, dtype):
    # Values and PyTorch's argmax rule (window order, a later element wins if greater or NaN)
    # against a NumPy reference, with ties and NaNs.
    x = _ties_and_nans(shape, dtype)
    y, idx = _C.max_pool2d_forward(x, (2, 2), (2, 2))
    n, c, h, w = shape
    oh, ow = h // 2, w // 2
    win = x[:, :, : 2 * oh, : 2 * ow].reshape(n, c, oh, 2, ow, 2).transpose(0, 1, 2, 4, 3, 5)
    win = win.reshape(n, c, oh, ow, 4)
    # PyTorch's rule in window order: a later element wins if greater or NaN
    best = np.zeros((n, c, oh, ow), np.int64)
    cur = win[..., 0].copy()
    for k in range(1, 4):
        v = win[..., k]
        take = (v > cur) | np.isnan(v)
        cur = np.where(take, v, cur)
        best = np.where(take, k, best)
    rows = 2 * np.arange(oh)[:, None] + best // 2
    cols = 2 * np.arange(ow)[None, :] + best % 2
    np.testing.assert_array_equal(y, cur)
    np.testing.assert_array_equal(idx, rows * w + cols)
    dy = _x(y.shape, dtype, 1)
    np.testing.assert_array_equal(
        _C.max_pool2d_backward(dy, idx, x.shape), max_pool2d_backward_ref(dy, idx, x.shape)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES_2X2)
def test_max_pool_2x2_fast_paths_vs_torch(shape, dtype):
    torch = pytest.importorskip("torch")
    x = _ties_and_nans(shape, dtype)
    y, idx = _C.max_pool2d_forward(x, (2, 2), (2, 2))
    yt, it = torch.nn.functional.max_pool2d(torch.from_numpy(x), 2, 2, return_indices=True)
    np.testing.assert_array_equal(y, yt.numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    x = _x(shape, dtype)  # distinct values: the gradient has one home per window
    xt = torch.tensor(x, requires_grad=True)
    dy = _x(y.shape, dtype, 1)
    torch.nn.functional.max_pool2d(xt, 2, 2).backward(torch.from_numpy(dy))
    idx = _C.max_pool2d_forward(x, (2, 2), (2, 2))[1]
    np.testing.assert_array_equal(_C.max_pool2d_backward(dy, idx, x.shape), xt.grad.numpy())


@pytest.mark.parametrize("shape", [(64, 16, 10, 10), (4, 8, 64, 64), (3, 5, 33, 31)])
def test_max_pool_2x2_same_result_for_any_thread_count(shape):
    import ember

    x = _ties_and_nans(shape, np.float32)
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        y1, i1 = _C.max_pool2d_forward(x, (2, 2), (2, 2))
        d1 = _C.max_pool2d_backward(y1, i1, x.shape)
        ember.set_num_threads(2)
        y2, i2 = _C.max_pool2d_forward(x, (2, 2), (2, 2))
        d2 = _C.max_pool2d_backward(y2, i2, x.shape)
    finally:
        ember.set_num_threads(before)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(i1, i2)
    np.testing.assert_array_equal(d1, d2)


def test_max_pool_empty_window_gives_minus_one_and_no_gradient():
    x = np.ones((1, 1, 1, 1))
    y, idx = _C.max_pool2d_forward(x, (3, 3), (3, 3), (1, 1), (2, 2), True)
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == -np.inf and idx[0, 0, 0, 0] == -1
    np.testing.assert_array_equal(_C.max_pool2d_backward(np.ones_like(y), idx, x.shape), 0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", AVG_CONFIGS)
def test_avg_pool_vs_numpy(cfg, dtype):
    shape, k, s, p, ceil_mode, cip, div = cfg
    x = _x(shape, dtype)
    y = _C.avg_pool2d_forward(x, k, s, p, ceil_mode, cip, div)
    np.testing.assert_allclose(y, avg_pool2d_ref(x, k, s, p, ceil_mode, cip, div), **TOL[dtype])
    dy = _x(y.shape, dtype, 1)
    dx = _C.avg_pool2d_backward(dy, x.shape, k, s, p, ceil_mode, cip, div)
    ref = avg_pool2d_backward_ref(dy, x.shape, k, s, p, ceil_mode, cip, div)
    np.testing.assert_allclose(dx, ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", AVG_CONFIGS)
def test_avg_pool_vs_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    shape, k, s, p, ceil_mode, cip, div = cfg
    x = _x(shape, dtype)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.avg_pool2d(xt, k, s, p, ceil_mode, cip, div)
    y = _C.avg_pool2d_forward(x, k, s, p, ceil_mode, cip, div)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    dy = _x(y.shape, dtype, 1)
    yt.backward(torch.tensor(dy))
    dx = _C.avg_pool2d_backward(dy, x.shape, k, s, p, ceil_mode, cip, div)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", ADAPTIVE_CONFIGS)
def test_adaptive_avg_pool(cfg, dtype):
    shape, out = cfg
    x = _x(shape, dtype)
    y = _C.adaptive_avg_pool2d_forward(x, out)
    np.testing.assert_allclose(y, adaptive_avg_pool2d_ref(x, out), **TOL[dtype])
    dy = _x(y.shape, dtype, 1)
    dx = _C.adaptive_avg_pool2d_backward(dy, x.shape)
    np.testing.assert_allclose(dx, adaptive_avg_pool2d_backward_ref(dy, x.shape), **TOL[dtype])
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, out)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    if yt.numel():
        yt.backward(torch.tensor(dy))
        np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])


# ---- bad inputs ----

XP = np.zeros((2, 3, 8, 8), np.float32)


@pytest.mark.parametrize(
    "args",
    [
        ((0, 2), (2, 2), (0, 0), (1, 1), False),  # kernel 0
        ((2, 2), (0, 2), (0, 0), (1, 1), False),  # stride 0
        ((2, 2), (2, 2), (0, 0), (0, 1), False),  # dilation 0
        ((2, 2), (2, 2), (-1, 0), (1, 1), False),  # negative padding
        ((3, 3), (1, 1), (2, 0), (1, 1), False),  # padding > kernel / 2
        ((2, 2), (1, 1), (0, 2), (3, 3), False),  # padding > kernel / 2 even with dilation
        ((9, 2), (1, 1), (0, 0), (1, 1), False),  # output too small
        ((3, 3), (1, 1), (0, 0), (4, 1), True),  # dilated kernel too large
        ((2, 2, 2), (2, 2), (0, 0), (1, 1), False),  # 3 values
        ((2**40, 2), (1, 1), (0, 0), (1, 1), False),
    ],
)
def test_max_pool_bad_config(args):
    with pytest.raises(ValueError):
        _C.max_pool2d_forward(XP, *args)


def test_pool_bad_inputs():
    with pytest.raises(TypeError):
        _C.max_pool2d_forward(XP.astype(np.int32), (2, 2), (2, 2))
    with pytest.raises(TypeError):
        _C.avg_pool2d_forward(XP.astype(np.int64), (2, 2), (2, 2))
    with pytest.raises(TypeError):
        _C.adaptive_avg_pool2d_forward(XP.astype(np.int64), (2, 2))
    with pytest.raises(ValueError):
        _C.max_pool2d_forward(XP[0, 0], (2, 2), (2, 2))  # 2-D
    with pytest.raises(ValueError):
        _C.max_pool2d_forward(XP[:, :, ::2], (2, 2), (2, 2))  # not contiguous
    with pytest.raises(ValueError):
        _C.max_pool2d_forward(np.zeros((2, 0, 4, 4), np.float32), (2, 2), (2, 2))
    with pytest.raises(ValueError):
        _C.avg_pool2d_forward(XP, (2, 2), (2, 2), (0, 0), False, True, 0)  # divisor 0
    with pytest.raises(ValueError):
        _C.avg_pool2d_forward(XP, (3, 3), (1, 1), (2, 2))
    with pytest.raises(ValueError):
        _C.adaptive_avg_pool2d_forward(XP, (-1, 2))
    with pytest.raises(ValueError):
        _C.adaptive_avg_pool2d_forward(np.zeros((2, 3, 0, 4), np.float32), (2, 2))
    y, idx = _C.max_pool2d_forward(XP, (2, 2), (2, 2))
    with pytest.raises(TypeError):
        _C.max_pool2d_backward(y, idx.astype(np.int32), XP.shape)
    with pytest.raises(TypeError):
        _C.max_pool2d_backward(y.astype(np.int32), idx, XP.shape)
    with pytest.raises(ValueError):
        _C.max_pool2d_backward(y, idx[:, :, :2], XP.shape)
    with pytest.raises(ValueError):
        _C.max_pool2d_backward(y, idx, (2, 3, 8))
    with pytest.raises(ValueError):
        _C.max_pool2d_backward(y, idx, (2, 4, 8, 8))
    bad = idx.copy()
    bad[0, 0, 0, 0] = 64
    with pytest.raises(ValueError):
        _C.max_pool2d_backward(y, bad, XP.shape)
    for b in (-2, -(2**62), 2**62):  # a bad index anywhere throws, and never writes
        bad[0, 0, 0, 0] = b
        with pytest.raises(ValueError, match="outside"):
            _C.max_pool2d_backward(y, bad, XP.shape)
    bad = idx.copy()
    bad[-1, -1, -1, -1] = 64
    with pytest.raises(ValueError, match="1 indices lie outside"):
        _C.max_pool2d_backward(y, bad, XP.shape)
    with pytest.raises(ValueError):
        _C.avg_pool2d_backward(y, (2, 3, 8, 10), (2, 2), (2, 2))
    with pytest.raises(ValueError):
        _C.adaptive_avg_pool2d_backward(y, (2, 3, 8))


# ---- property tests against PyTorch ----


@st.composite
def pool_cases(draw):
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    k = (draw(st.integers(1, 4)), draw(st.integers(1, 4)))
    s = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    p = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
    d = (draw(st.integers(1, 3)), draw(st.integers(1, 2)))
    return (draw(st.integers(0, 2)), draw(st.integers(1, 3)), H, W), k, s, p, d


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pool_cases(), st.booleans(), st.booleans())
def test_property_max_and_avg_vs_torch(case, ceil_mode, cip):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    shape, k, s, p, d = case
    x = _x(shape, np.float64)
    valid_max = pool_valid(shape[2], shape[3], k, s, p, d, ceil_mode)
    valid_avg = pool_valid(shape[2], shape[3], k, s, p, (1, 1), ceil_mode)
    if valid_max:
        y, idx = _C.max_pool2d_forward(x, k, s, p, d, ceil_mode)
        yt, it = F.max_pool2d(torch.tensor(x), k, s, p, d, ceil_mode, return_indices=True)
        np.testing.assert_array_equal(y, yt.numpy())
        ok = idx >= 0  # torch stores an out-of-range index for an empty window
        np.testing.assert_array_equal(idx[ok], it.numpy()[ok])
        ry, ridx = max_pool2d_ref(x, k, s, p, d, ceil_mode)
        np.testing.assert_array_equal(idx, ridx)
    else:
        with pytest.raises(ValueError):
            _C.max_pool2d_forward(x, k, s, p, d, ceil_mode)
        if shape[0] > 0:
            with pytest.raises(RuntimeError):
                F.max_pool2d(torch.tensor(x), k, s, p, d, ceil_mode)
    if valid_avg:
        y = _C.avg_pool2d_forward(x, k, s, p, ceil_mode, cip)
        yt = F.avg_pool2d(torch.tensor(x), k, s, p, ceil_mode, cip)
        np.testing.assert_allclose(y, yt.numpy(), rtol=1e-12, atol=1e-12)
    else:
        with pytest.raises(ValueError):
            _C.avg_pool2d_forward(x, k, s, p, ceil_mode, cip)


@pytest.mark.parametrize("shape", [(2, 3, 6, 8), (1, 2, 4, 34), (3, 5, 7)])
def test_max_pool_2x2_gradcheck(shape):
    import ember
    from ember.autograd import gradcheck
    from ember.nn import functional as F

    x = ember.tensor(_x(shape, np.float64, 3), requires_grad=True)
    assert gradcheck(lambda a: F.max_pool2d(a, 2), [x])
