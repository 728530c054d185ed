"""ember._C.conv2d_forward / conv2d_backward against NumPy im2col and PyTorch."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_conv import conv2d_backward_ref, conv2d_ref, conv2d_valid, pad4

from ember import _C

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]

# (x shape, w shape, stride, padding, dilation, groups, bias)
CONFIGS = [
    ((2, 3, 8, 8), (4, 3, 3, 3), (1, 1), (0, 0), (1, 1), 1, True),
    ((2, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, False),
    ((2, 3, 9, 7), (5, 3, 3, 2), (2, 1), (1, 0), (1, 1), 1, True),  # non-square, stride
    ((1, 2, 10, 11), (3, 2, 3, 3), (2, 3), (2, 1), (2, 1), 1, True),  # dilation
    ((2, 4, 8, 8), (6, 2, 3, 3), (1, 1), (1, 1), (1, 1), 2, True),  # groups
    ((2, 6, 7, 7), (6, 1, 3, 3), (1, 1), (1, 1), (1, 1), 6, True),  # depthwise
    ((2, 4, 7, 7), (8, 1, 3, 3), (2, 2), (1, 1), (1, 1), 4, True),  # depthwise multiplier 2
    ((3, 5, 6, 6), (7, 5, 1, 1), (1, 1), (0, 0), (1, 1), 1, True),  # 1x1 direct
    ((3, 6, 6, 5), (4, 3, 1, 1), (1, 1), (0, 0), (1, 1), 2, False),  # 1x1 direct grouped
    ((2, 3, 6, 6), (4, 3, 1, 1), (2, 2), (0, 0), (1, 1), 1, True),  # 1x1 strided (im2col)
    ((2, 3, 6, 6), (4, 3, 1, 1), (1, 1), (1, 1), (1, 1), 1, True),  # 1x1 padded (im2col)
    ((2, 3, 8, 8), (4, 3, 4, 4), (1, 1), (1, 2, 1, 2), (1, 1), 1, True),  # 'same' even kernel
    ((2, 2, 7, 9), (3, 2, 2, 3), (1, 2), (0, 3, 2, 0), (1, 2), 1, True),  # asymmetric
    ((2, 3, 5, 5), (2, 3, 5, 5), (1, 1), (0, 0), (1, 1), 1, True),  # kernel == input
    ((1, 1, 1, 1), (1, 1, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),  # all padding but centre
    ((0, 3, 8, 8), (4, 3, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),  # N == 0
    ((2, 3, 28, 28), (6, 3, 5, 5), (1, 1), (0, 0), (1, 1), 1, True),  # LeNet-like
]


def _data(cfg, dtype, seed=0):
    xs, ws, stride, padding, dilation, groups, bias = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    return x, w, b, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


def _torch_conv(torch, x, w, b, stride, padding, dilation, groups):
    F = torch.nn.functional
    pt, pb, pl, pr = pad4(padding)
    return F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b, stride, 0, dilation, groups)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_vs_numpy(cfg, dtype):
    x, w, b, kw = _data(cfg, dtype)
    y = _C.conv2d_forward(x, w, b, **kw)
    ref = conv2d_ref(x.astype(np.float64), w.astype(np.float64), b, **kw)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_backward_vs_numpy(cfg, dtype):
    x, w, b, kw = _data(cfg, dtype)
    y = _C.conv2d_forward(x, w, b, **kw)
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    dx, dw, db = _C.conv2d_backward(dy, x, w, **kw)
    rx, rw, rb = conv2d_backward_ref(*(a.astype(np.float64) for a in (dy, x, w)), **kw)
    for got, ref in ((dx, rx), (dw, rw), (db, rb)):
        assert got.dtype == dtype and got.shape == ref.shape
        np.testing.assert_allclose(got, ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_backward_vs_torch(cfg, dtype):
    torch = pytest.importorskip("torch")
    x, w, b, kw = _data(cfg, dtype)
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    yt = _torch_conv(torch, xt, wt, bt, **kw)
    y = _C.conv2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    yt.backward(torch.tensor(dy))
    dx, dw, db = _C.conv2d_backward(dy, x, w, **kw)
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(dw, wt.grad.numpy(), **TOL[dtype])
    if b is not None:
        np.testing.assert_allclose(db, bt.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize("cfg", [CONFIGS[i] for i in (2, 3, 5, 8, 12)])
def test_backward_finite_differences(cfg):
    x, w, b, kw = _data(cfg, np.float64)
    rng = np.random.default_rng(3)
    y = _C.conv2d_forward(x, w, b, **kw)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = _C.conv2d_backward(dy, x, w, **kw)

    def loss(x_, w_, b_):
        return float((_C.conv2d_forward(x_, w_, b_, **kw) * dy).sum())

    eps = 1e-6
    for arr, grad in ((x, dx), (w, dw), (b, db)):
        if arr is None:
            continue
        for _ in range(6):
            i = tuple(rng.integers(0, s) for s in arr.shape)
            old = arr[i]
            arr[i] = old + eps
            up = loss(x, w, b)
            arr[i] = old - eps
            down = loss(x, w, b)
            arr[i] = old
            assert abs((up - down) / (2 * eps) - grad[i]) < 1e-6 * max(1.0, abs(grad[i]))


def test_need_flags_and_none_outputs():
    x, w, b, kw = _data(CONFIGS[0], np.float64)
    dy = np.ones((2, 4, 6, 6))
    full = _C.conv2d_backward(dy, x, w, **kw)
    for flags in [(True, False, False), (False, True, False), (False, False, True)]:
        out = _C.conv2d_backward(
            dy, x, w, **kw, need_input=flags[0], need_weight=flags[1], need_bias=flags[2]
        )
        for f, got, ref in zip(flags, out, full):
            if f:
                np.testing.assert_array_equal(got, ref)
            else:
                assert got is None


def test_n_zero_gives_empty_and_zero_grads():
    x = np.zeros((0, 3, 8, 8), np.float32)
    w = np.ones((4, 3, 3, 3), np.float32)
    y = _C.conv2d_forward(x, w, np.ones(4, np.float32), padding=(1, 1))
    assert y.shape == (0, 4, 8, 8)
    dx, dw, db = _C.conv2d_backward(y, x, w, padding=(1, 1))
    assert dx.shape == (0, 3, 8, 8)
    np.testing.assert_array_equal(dw, 0)
    np.testing.assert_array_equal(db, 0)


def test_output_size_helper():
    assert _C.conv2d_output_size((2, 3, 8, 8), (4, 3, 4, 4), (1, 1), (1, 2, 1, 2)) == (8, 8)
    assert _C.conv2d_output_size((1, 4, 10, 11), (4, 2, 3, 3), (2, 3), (1, 0), (2, 1), 2) == (
        4,
        3,
    )
    with pytest.raises(ValueError):
        _C.conv2d_output_size((1, 4, 10, 11), (4, 3, 3, 3))


def test_deterministic_and_thread_independent():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 6, 12, 12)).astype(np.float32)
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    dy = rng.standard_normal((8, 8, 12, 12)).astype(np.float32)
    kw = dict(padding=(1, 1), groups=2)
    first = _C.conv2d_backward(dy, x, w, **kw)
    again = _C.conv2d_backward(dy, x, w, **kw)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        serial = _C.conv2d_backward(dy, x, w, **kw)
        y1 = _C.conv2d_forward(x, w, None, **kw)
    finally:
        _C.set_num_threads(old)
    np.testing.assert_array_equal(y1, _C.conv2d_forward(x, w, None, **kw))
    for a, b in zip(first, serial):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_col_workspace_tiling_over_output_positions():
    """K * P exceeds the 256 MB col budget: the kernel tiles output positions."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal((1, 16, 151, 151)).astype(np.float32)  # K = 3600, P = 137^2
    w = rng.standard_normal((1, 16, 15, 15)).astype(np.float32) / 60
    y = _C.conv2d_forward(x, w, None)
    yt = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w))
    np.testing.assert_allclose(y, yt.numpy(), rtol=1e-4, atol=1e-4)
    dy = rng.standard_normal(y.shape).astype(np.float32)
    dx, dw, _ = _C.conv2d_backward(dy, x, w, need_bias=False)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    torch.nn.functional.conv2d(xt, wt).backward(torch.tensor(dy))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(dw, wt.grad.numpy(), rtol=1e-3, atol=1e-2)


# Shapes that cross the fused engine's blocks: K = C*KH*KW > 384 (several depth blocks), P > 512
# (several column blocks, a partial last panel), O not a multiple of the micro-kernel's rows and
# more than one dy^T panel with a half-width last one; groups; strided.
ENGINE_CONFIGS = [
    ((2, 50, 30, 29), (37, 50, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),
    ((3, 12, 13, 11), (10, 6, 3, 3), (2, 1), (1, 0), (1, 2), 2, True),
    ((2, 3, 27, 27), (5, 3, 5, 5), (1, 1), (2, 2), (1, 1), 1, False),
    # stride 1 with >= 16 channels on the GEMM depth (the shift engine): groups, dilation,
    # asymmetric padding, padding wider than the kernel, more input channels than one depth block
    ((2, 32, 9, 11), (36, 16, 3, 2), (1, 1), (2, 0, 1, 3), (2, 1), 2, True),
    ((1, 16, 4, 4), (16, 16, 3, 3), (1, 1), (3, 3), (1, 1), 1, True),
    ((1, 400, 5, 6), (20, 400, 3, 3), (1, 1), (1, 1), (1, 1), 1, False),
    # the shift engine's shared padding gap: left padding much wider than the right (and than
    # a panel), a single row of output per plane
    ((1, 16, 3, 4), (16, 16, 3, 3), (1, 1), (1, 0, 70, 1), (1, 1), 1, True),
    ((2, 16, 2, 20), (24, 16, 2, 3), (1, 1), (0, 0, 0, 5), (1, 1), 1, False),
    # dy^T panels: two whole ones and a partial full-width one (float32), a half one (float64)
    ((2, 20, 12, 10), (88, 20, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", ENGINE_CONFIGS)
def test_engine_blocks_isas_threads(cfg, dtype, isa, threads):
    x, w, b, kw = _data(cfg, dtype, seed=3)
    w = (w / np.sqrt(w[0].size)).astype(dtype)
    dy = None
    old_isa, old_threads = _C.gemm_isa(), _C.get_num_threads()
    try:
        _C.gemm_set_isa(isa)
        _C.set_num_threads(threads)
        y = _C.conv2d_forward(x, w, b, **kw)
        dy = np.random.default_rng(4).standard_normal(y.shape).astype(dtype)
        got = _C.conv2d_backward(dy, x, w, **kw, need_bias=b is not None)
        dx_only = _C.conv2d_backward(dy, x, w, **kw, need_weight=False, need_bias=False)[0]
        dw_only = _C.conv2d_backward(dy, x, w, **kw, need_input=False, need_bias=False)[1]
    finally:
        _C.gemm_set_isa(old_isa)
        _C.set_num_threads(old_threads)
    f64 = [a.astype(np.float64) if a is not None else None for a in (x, w, b, dy)]
    np.testing.assert_allclose(y, conv2d_ref(*f64[:3], **kw), **TOL[dtype])
    rx, rw, rb = conv2d_backward_ref(f64[3], f64[0], f64[1], **kw)
    np.testing.assert_allclose(got[0], rx, **TOL[dtype])
    np.testing.assert_allclose(got[1], rw, **TOL[dtype])
    if b is not None:
        np.testing.assert_allclose(got[2], rb, **TOL[dtype])
    np.testing.assert_array_equal(dx_only, got[0])
    np.testing.assert_array_equal(dw_only, got[1])


# The fused engine's phase planes (stride > 1, or stride 1 with < 16 channels): output rows
# shorter than a micro-kernel panel and longer ones cut across panels; stride 3 with dilation and
# asymmetric padding (phases of unequal width); a 1x1 stride-2 kernel (one phase of four read); the
# bias row in the last of several depth blocks (K + 1 = 385); inputs too large for the per-thread
# phase buffer in float64 (the bounds-checked col_row path, bias row included).
PHASE_CONFIGS = [
    ((3, 3, 32, 32), (32, 3, 3, 3), (2, 2), (1, 1), (1, 1), 1, True),
    ((2, 2, 9, 75), (5, 2, 5, 5), (1, 1), (2, 2), (1, 1), 1, True),
    ((2, 1, 28, 28), (6, 1, 5, 5), (1, 1), (0, 0), (1, 1), 1, False),
    ((2, 2, 20, 23), (5, 2, 3, 3), (3, 2), (2, 0, 1, 3), (2, 3), 1, True),
    ((2, 4, 13, 17), (6, 2, 2, 3), (2, 3), (1, 1), (1, 1), 2, True),
    ((2, 3, 9, 10), (4, 3, 1, 1), (2, 2), (0, 0), (1, 1), 1, True),
    ((2, 24, 9, 9), (9, 24, 4, 4), (2, 2), (1, 1), (1, 1), 1, True),
    ((1, 64, 128, 128), (3, 64, 3, 3), (2, 2), (1, 1), (1, 1), 1, True),
]


# Small planes: stride-1 convolutions whose shift engine would compute many junk columns run the
# fused im2col engine (forward) and dx as the forward convolution of dy with the transposed,
# flipped weights. >= 16 channels per group on the GEMM depth, so the plane size decides.
STOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: TOL[np.float64]}
SMALL_CONFIGS = [
    ((5, 32, 8, 8), (32, 32, 3, 3), (1, 1), (1, 1), (1, 1), 1, False),  # ResNet stage 3, odd N
    ((3, 16, 7, 7), (24, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),  # P = 49
    ((2, 16, 4, 4), (16, 16, 3, 3), (1, 1), (1, 1), (1, 1), 1, True),  # 4x4
    ((3, 32, 6, 5), (32, 16, 3, 3), (1, 1), (1, 1), (1, 1), 2, True),  # groups, non-square
    ((2, 16, 9, 9), (16, 16, 3, 3), (1, 1), (2, 2), (2, 2), 1, False),  # dilation
    ((2, 16, 8, 7), (20, 16, 3, 2), (1, 1), (0, 2, 1, 0), (1, 1), 1, True),  # asymmetric padding
    ((1, 16, 6, 6), (16, 16, 5, 5), (1, 1), (2, 2), (1, 1), 1, False),  # 5x5
    ((2, 16, 6, 6), (16, 16, 3, 3), (1, 1), (0, 0), (1, 1), 1, True),  # no padding
    ((2, 16, 5, 5), (16, 16, 3, 3), (1, 1), (3, 3), (1, 1), 1, False),  # padding > reach
    ((7, 32, 16, 16), (48, 32, 3, 3), (2, 2), (1, 1), (1, 1), 1, False),  # stride 2 (phases)
]


def _run_small(x, w, b, kw, dy, threads):
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(threads)
        y = _C.conv2d_forward(x, w, b, **kw)
        if dy is None:
            dy = np.random.default_rng(1).standard_normal(y.shape).astype(x.dtype)
        return (y, *_C.conv2d_backward(dy, x, w, **kw, need_bias=b is not None)), dy
    finally:
        _C.set_num_threads(old)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", PHASE_CONFIGS + SMALL_CONFIGS)
def test_phase_planes_vs_torch_and_numpy(cfg, dtype, threads):
    torch = pytest.importorskip("torch")
    x, w, b, kw = _data(cfg, dtype, seed=5)
    w = (w / np.sqrt(w[0].size)).astype(dtype)
    old_threads = _C.get_num_threads()
    try:
        _C.set_num_threads(threads)
        y = _C.conv2d_forward(x, w, b, **kw)
        dy = np.random.default_rng(6).standard_normal(y.shape).astype(dtype)
        dx, dw, db = _C.conv2d_backward(dy, x, w, **kw, need_bias=b is not None)
    finally:
        _C.set_num_threads(old_threads)
    xt, wt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if b is not None else None
    yt = _torch_conv(torch, xt, wt, bt, **kw)
    yt.backward(torch.tensor(dy))
    np.testing.assert_allclose(y, yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(dx, xt.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(dw, wt.grad.numpy(), **TOL[dtype])
    if b is not None:
        np.testing.assert_allclose(db, bt.grad.numpy(), **TOL[dtype])
    if x.size < 100_000:  # the NumPy reference is slow on the large one
        f64 = [a.astype(np.float64) if a is not None else None for a in (x, w, b)]
        np.testing.assert_allclose(y, conv2d_ref(*f64, **kw), **TOL[dtype])


@pytest.mark.parametrize("cfg", [PHASE_CONFIGS[i] for i in (0, 3, 5)])
def test_phase_planes_gradcheck(cfg):
    import ember
    from ember.nn import functional as F

    (N, C, _, _), ws, stride, padding, dilation, groups, _ = cfg
    x, w, b, _ = _data(((N, C, 7, 9), ws, stride, padding, dilation, groups, True), np.float64)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    pad = padding if len(padding) == 2 else None
    if pad is None:  # asymmetric: pad explicitly, then convolve without padding
        pt, pb, pl, pr = padding

        def fn(x_, w_, b_):
            return F.conv2d(F.pad(x_, (pl, pr, pt, pb)), w_, b_, stride, 0, dilation, groups)
    else:

        def fn(x_, w_, b_):
            return F.conv2d(x_, w_, b_, stride, pad, dilation, groups)

    assert ember.autograd.gradcheck(fn, args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", SMALL_CONFIGS)
def test_small_planes_vs_numpy_and_threads(cfg, dtype):
    x, w, b, kw = _data(cfg, dtype)
    w = (w / np.sqrt(w[0].size)).astype(dtype)
    (y, dx, dw, db), dy = _run_small(x, w, b, kw, None, 1)
    f64 = [a.astype(np.float64) if a is not None else None for a in (x, w, b, dy)]
    np.testing.assert_allclose(y, conv2d_ref(*f64[:3], **kw), **STOL[dtype])
    rx, rw, rb = conv2d_backward_ref(f64[3], f64[0], f64[1], **kw)
    np.testing.assert_allclose(dx, rx, **STOL[dtype])
    np.testing.assert_allclose(dw, rw, **STOL[dtype])
    if b is not None:
        np.testing.assert_allclose(db, rb, **STOL[dtype])
    # two threads: the same values, and the same bits on a second run
    two, _ = _run_small(x, w, b, kw, dy, 2)
    again, _ = _run_small(x, w, b, kw, dy, 2)
    for got, ref, rep in zip(two, (y, dx, dw, db), again):
        if ref is None:
            continue
        np.testing.assert_allclose(got, ref, **STOL[dtype])
        np.testing.assert_array_equal(got, rep)
    # forward and dx do not depend on the thread count at all (no reduction across threads)
    np.testing.assert_array_equal(two[0], y)
    np.testing.assert_array_equal(two[1], dx)


@pytest.mark.parametrize("cfg", [SMALL_CONFIGS[i] for i in (2, 3, 4)])
def test_small_planes_gradcheck(cfg):
    import ember
    from ember.nn import functional as F

    (_, C, H, W), ws, stride, padding, dilation, groups, _ = cfg
    x, w, b, _ = _data(
        ((2, C, min(H, 5), min(W, 5)), ws, stride, padding, dilation, groups, True), np.float64
    )
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert ember.autograd.gradcheck(
        lambda x_, w_, b_: F.conv2d(x_, w_, b_, stride, padding, dilation, groups), args
    )


# ---- bad inputs ----

X = np.zeros((2, 4, 8, 8), np.float32)
W = np.zeros((6, 2, 3, 3), np.float32)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(w=np.zeros((6, 3, 3, 3), np.float32)),  # channel mismatch
        dict(groups=3, w=np.zeros((6, 1, 3, 3), np.float32)),  # groups does not divide C
        dict(groups=2, w=np.zeros((5, 2, 3, 3), np.float32)),  # groups does not divide O
        dict(groups=0),
        dict(groups=-2),
        dict(w=np.zeros((6, 2, 9, 3), np.float32), groups=2),  # kernel larger than input
        dict(dilation=(5, 1), groups=2),  # dilated kernel larger than input
        dict(stride=(0, 1), groups=2),
        dict(stride=(1, -1), groups=2),
        dict(dilation=(0, 1), groups=2),
        dict(padding=(-1, 0), groups=2),
        dict(padding=(0, 0, 0, -1), groups=2),
        dict(padding=(0, 0, 0), groups=2),
        dict(stride=(1,), groups=2),
        dict(padding=(2**62, 2**62), groups=2),  # overflow
        dict(dilation=(2**62, 1), groups=2),  # overflow
        dict(w=np.zeros((6, 2, 0, 3), np.float32), groups=2),  # empty kernel
        dict(w=np.zeros((6, 2, 3), np.float32), groups=2),  # 3-D weight
        dict(x=np.zeros((4, 8, 8), np.float32), groups=2),  # 3-D input
        dict(b=np.zeros(5, np.float32), groups=2),  # bias shape
        dict(x=X[:, :, :, ::2], groups=2),  # not contiguous
    ],
)
def test_bad_config_raises_value_error(kwargs):
    kw = dict(kwargs)
    x, w, b = kw.pop("x", X), kw.pop("w", W), kw.pop("b", None)
    kw.setdefault("groups", 1)
    with pytest.raises(ValueError):
        _C.conv2d_forward(x, w, b, **kw)


@pytest.mark.parametrize(
    "x, w, b",
    [
        (X.astype(np.int64), W, None),
        (X, W.astype(np.int32), None),
        (X, W.astype(np.float64), None),
        (X, W, np.zeros(6, np.float64)),
        (X.astype(np.float16), W, None),  # mixed (float16 alone runs in float32)
    ],
)
def test_bad_dtype_raises_type_error(x, w, b):
    with pytest.raises(TypeError):
        _C.conv2d_forward(x, w, b, groups=2)


def test_backward_bad_inputs():
    dy = np.zeros((2, 6, 6, 6), np.float32)
    _C.conv2d_backward(dy, X, W, groups=2)
    with pytest.raises(ValueError):
        _C.conv2d_backward(dy[:, :, :5], X, W, groups=2)
    with pytest.raises(ValueError):
        _C.conv2d_backward(dy, X, W, groups=2, stride=(2, 2))
    with pytest.raises(TypeError):
        _C.conv2d_backward(dy.astype(np.float64), X, W, groups=2)
    with pytest.raises(TypeError):
        _C.conv2d_backward(dy.astype(np.int32), X, W, groups=2)


# ---- property test: valid configurations match NumPy, invalid ones raise ValueError ----


@st.composite
def conv_cases(draw):
    groups = draw(st.integers(0, 3))
    cg = draw(st.integers(1, 3))
    og = draw(st.integers(1, 3))
    N = draw(st.integers(0, 2))
    C = cg * max(groups, 1) + draw(st.sampled_from([0, 0, 0, 1]))  # sometimes mismatched
    O = og * max(groups, 1) + draw(st.sampled_from([0, 0, 0, 1]))
    H, W = draw(st.integers(1, 9)), draw(st.integers(1, 9))
    KH, KW = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(0, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(0, 2)) or 1)
    if draw(st.booleans()):
        padding = (draw(st.integers(-1, 3)), draw(st.integers(0, 3)))
    else:
        padding = tuple(draw(st.integers(0, 3)) for _ in range(4))
    return (N, C, H, W), (O, cg, KH, KW), stride, padding, dilation, groups


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_cases(), st.sampled_from(DTYPES), st.booleans())
def test_property_vs_numpy(case, dtype, bias):
    xs, ws, stride, padding, dilation, groups = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    if not conv2d_valid(xs, ws, stride, padding, dilation, groups):
        with pytest.raises(ValueError):
            _C.conv2d_forward(x, w, b, **kw)
        return
    y = _C.conv2d_forward(x, w, b, **kw)
    np.testing.assert_allclose(y, conv2d_ref(x.astype(np.float64), w, b, **kw), **TOL[dtype])
    dy = rng.standard_normal(y.shape).astype(dtype)
    got = _C.conv2d_backward(dy, x, w, **kw)
    ref = conv2d_backward_ref(dy.astype(np.float64), x.astype(np.float64), w, **kw)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, **TOL[dtype])
