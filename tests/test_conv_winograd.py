"""The Winograd F(2x2, 3x3) engine of conv2d (3x3, stride 1, one group): forward, input and
weight gradients against the NumPy reference and PyTorch, where the automatic rule picks it, thread
independence, gradcheck and its accuracy next to the direct engines."""

import numpy as np
import pytest
from conftest import GEMM_ISAS, at_threads, winograd
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]


# (x shape, out channels, padding (top, bottom, left, right), bias)
CONFIGS = [
    ((2, 5, 8, 8), 4, (1, 1, 1, 1), True),  # even output
    ((2, 3, 9, 7), 6, (1, 1, 1, 1), False),  # odd H and W: partial edge tiles
    ((1, 4, 3, 3), 3, (0, 0, 0, 0), True),  # a 1x1 output
    ((2, 3, 3, 9), 2, (0, 0, 0, 0), True),  # 1 x N output
    ((1, 2, 1, 1), 3, (1, 1, 1, 1), True),  # all padding but the centre
    ((2, 3, 6, 5), 4, (2, 2, 2, 2), False),  # padding 2: output larger than the input
    ((2, 3, 7, 6), 5, (0, 2, 1, 0), True),  # asymmetric
    ((1, 2, 4, 5), 2, (3, 0, 0, 4), True),  # padding past the kernel (no Winograd dx)
    ((3, 40, 30, 29), 33, (1, 1, 1, 1), True),  # several blocks of tiles, across images
    ((2, 600, 10, 10), 500, (1, 1, 1, 1), False),  # many channels: smaller blocks
]


def _data(cfg, dtype, seed=0):
    xs, O, padding, bias = cfg
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal((O, xs[1], 3, 3)) / np.sqrt(9 * xs[1])).astype(dtype)
    b = rng.standard_normal(O).astype(dtype) if bias else None
    return x, w, b, padding


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS)
def test_forward_and_input_grad_vs_numpy(cfg, dtype):
    x, w, b, padding = _data(cfg, dtype)
    with winograd("always"):
        y = _C.conv2d_forward(x, w, b, padding=padding)
        dy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
        dx, dw, db = _C.conv2d_backward(dy, x, w, padding=padding, need_bias=b is not None)
    f64 = [a.astype(np.float64) if a is not None else None for a in (x, w, b, dy)]
    ref = conv2d_ref(*f64[:3], padding=padding)
    assert y.dtype == dtype and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, **TOL[dtype])
    rx, rw, rb = conv2d_backward_ref(f64[3], f64[0], f64[1], padding=padding)
    np.testing.assert_allclose(dx, rx, **TOL[dtype])
    np.testing.assert_allclose(dw, rw, **TOL[dtype])
    if b is not None:
        np.testing.assert_allclose(db, rb, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_give_identical_results(dtype):
    x, w, b, padding = _data(((3, 40, 30, 29), 33, (1, 1, 1, 1), True), dtype, seed=2)
    dy = np.random.default_rng(3).standard_normal((3, 33, 30, 29)).astype(dtype)
    out = []
    for n in (1, 2):
        with winograd("always"), at_threads(n):
            y = _C.conv2d_forward(x, w, b, padding=padding)
            dx = _C.conv2d_backward(dy, x, w, padding=padding, need_weight=False)[0]
        out.append((y, dx))
    for a, b_ in zip(out[0], out[1]):
        np.testing.assert_array_equal(a, b_)


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_grad_two_threads(dtype):
    # dw sums per-thread partials (in thread order): close to, not bitwise, one thread's
    x, w, b, padding = _data(((4, 40, 30, 29), 33, (1, 1, 1, 1), False), dtype, seed=9)
    dy = np.random.default_rng(10).standard_normal((4, 33, 30, 29)).astype(dtype)
    dws = []
    for n in (1, 2, 2):
        with winograd("always"), at_threads(n):
            dws.append(_C.conv2d_backward(dy, x, w, padding=padding, need_input=False)[1])
    np.testing.assert_array_equal(dws[1], dws[2])  # deterministic for a thread count
    ref = conv2d_backward_ref(
        dy.astype(np.float64), x.astype(np.float64), w.astype(np.float64), padding=padding
    )[1]
    for dw in dws:
        np.testing.assert_allclose(dw, ref, **TOL[dtype])


# The automatic rule: Winograd where it wins (>= 16 channels on both sides at 24x24 outputs,
# >= 32 at 16x16, >= 48 from 6x6; dw also >= 256 tiles, and with AVX2 >= 64 channels), the
# direct engines elsewhere. Results identical to one forced mode and not to the other.
@pytest.mark.parametrize("isa", GEMM_ISAS)
@pytest.mark.parametrize(
    "xs, O, chosen, dw_chosen",
    [
        ((2, 16, 24, 26), 16, True, True),
        ((2, 64, 30, 30), 48, True, True),
        ((4, 32, 16, 16), 32, True, True),  # 256 tiles
        ((2, 64, 24, 24), 64, True, True),  # 288 tiles of 64 channels: dw with AVX2 too
        ((2, 64, 8, 8), 64, True, False),  # too few tiles for dw
        ((2, 12, 30, 30), 32, False, False),  # too few input channels
        ((2, 32, 30, 30), 8, False, False),  # too few output channels
        ((4, 16, 16, 16), 16, False, False),  # a 16x16 plane needs 32 channels
        ((16, 32, 10, 10), 32, False, False),  # a 10x10 plane needs 48
    ],
)
def test_auto_rule(xs, O, chosen, dw_chosen, isa):
    x, w, b, padding = _data((xs, O, (1, 1, 1, 1), True), np.float32, seed=4)
    dy = np.random.default_rng(5).standard_normal((xs[0], O, xs[2], xs[3])).astype(np.float32)
    if isa == "avx2":
        dw_chosen = dw_chosen and min(xs[1], O) >= 64
    res = {}
    original = _C.gemm_isa()
    try:
        _C.gemm_set_isa(isa)
        for mode in ("auto", "always", "never"):
            with winograd(mode):
                y = _C.conv2d_forward(x, w, b, padding=padding)
                dx, dw, _ = _C.conv2d_backward(dy, x, w, padding=padding)
            res[mode] = (y, dx, dw)
    finally:
        _C.gemm_set_isa(original)
    for i, picked in enumerate((chosen, chosen, dw_chosen)):
        same, other = ("always", "never") if picked else ("never", "always")
        np.testing.assert_array_equal(res["auto"][i], res[same][i])
        assert not np.array_equal(res["auto"][i], res[other][i])
        np.testing.assert_allclose(res["always"][i], res["never"][i], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("padding", [0, 1, 2, "same", "valid", (2, 0)])
def test_functional_padding_modes_and_gradcheck(padding):
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((2, 3, 5, 6)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(4), requires_grad=True)
    with winograd("always"):
        assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, padding), [x, w, b])


@pytest.mark.parametrize("dtype", DTYPES)
def test_vs_torch(dtype):
    torch = pytest.importorskip("torch")
    x, w, b, _ = _data(((2, 40, 26, 25), 36, (1, 1, 1, 1), True), dtype, seed=7)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv2d(xt, wt, bt, 1, 1)
    yt.backward(torch.ones_like(yt))
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    with winograd("always"):
        ye = F.conv2d(xe, we, be, 1, 1)
        ye.backward(ember.ones(ye.shape, dtype=dtype))
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **TOL[dtype])
    for e, t in ((xe, xt), (we, wt), (be, bt)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **TOL[dtype])


def test_accuracy_next_to_direct():
    # Max error against a float64 reference, relative to sum |w| |x| over each output's window:
    # F(2x2, 3x3) stays within a small factor of the direct engines (measured: ~2x).
    x, w, b, padding = _data(((4, 64, 20, 20), 64, (1, 1, 1, 1), False), np.float32, seed=8)
    ref = conv2d_ref(x.astype(np.float64), w.astype(np.float64), padding=padding)
    scale = conv2d_ref(np.abs(x).astype(np.float64), np.abs(w).astype(np.float64), padding=padding)
    err = {}
    for mode in ("never", "always"):
        with winograd(mode):
            y = _C.conv2d_forward(x, w, None, padding=padding)
        err[mode] = np.max(np.abs(y - ref) / scale)
    assert err["never"] < 1e-6
    assert err["always"] < 1e-6
    assert err["always"] < 8 * err["never"]


def test_bad_mode():
    with pytest.raises(ValueError, match="conv2d_set_winograd"):
        _C.conv2d_set_winograd("sometimes")
    assert _C.conv2d_set_winograd("auto") == "auto"


# Winograd's transforms subtract values (inf - inf = NaN): an inf or NaN in the input, weight or
# output gradient sends that operation to a direct engine, whose +-inf and NaN land where
# torch's do. Winograd forced ("always", small shapes) and picked by the automatic rule (64
# channels at 8x8; its weight gradient on 16 images). An infinite weight also keeps dx off the
# engines that convolve the zero-padded dy (inf * 0).
@pytest.mark.parametrize("threads_", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("where", ["x", "w", "dy"])
@pytest.mark.parametrize(
    "xs, O, padding, mode",
    [
        ((2, 4, 8, 7), 3, 1, "always"),
        ((2, 3, 6, 6), 5, 0, "always"),
        ((16, 64, 8, 8), 64, 1, "auto"),
        ((2, 16, 20, 20), 16, 1, "never"),  # dx by the shift engine, unless a weight is not finite
    ],
)
def test_non_finite_operands_match_torch(xs, O, padding, mode, where, value, dtype, threads_):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal((O, xs[1], 3, 3)) / np.sqrt(9 * xs[1])).astype(dtype)
    oh, ow = xs[2] + 2 * padding - 2, xs[3] + 2 * padding - 2
    dy = rng.standard_normal((xs[0], O, oh, ow)).astype(dtype)
    arr = {"x": x, "w": w, "dy": dy}[where]
    arr[(1, 2, 1, 2) if where == "w" else (1, 1, 2, 3)] = value
    pad = (padding,) * 4
    with winograd(mode), at_threads(threads_):
        y = _C.conv2d_forward(x, w, None, padding=pad)
        dx, dw, _ = _C.conv2d_backward(dy, x, w, padding=pad, need_bias=False)
    # torch in float64 (its im2col convolution): its float32 one (oneDNN) skips the padding,
    # where an infinite weight gives inf * 0 = NaN in both ember's and torch's float64
    xt, wt = (torch.tensor(a.astype(np.float64), requires_grad=True) for a in (x, w))
    yt = torch.nn.functional.conv2d(xt, wt, None, 1, padding)
    yt.backward(torch.tensor(dy.astype(np.float64)))
    for got, ref in ((y, yt.detach()), (dx, xt.grad), (dw, wt.grad)):
        ref = ref.numpy()
        assert (np.isnan(got) == np.isnan(ref)).all() and (np.isinf(got) == np.isinf(ref)).all()
        np.testing.assert_allclose(got, ref, **TOL[dtype])  # the same signs of inf, NaN places
    assert not np.isfinite(y).all() or where == "dy"
