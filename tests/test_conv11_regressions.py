"""Regressions found by a differential ember-vs-PyTorch harness over random convolution, pooling,
normalisation and padding configurations: each case once differed from torch 2.13."""

from __future__ import annotations

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(x, grad=True):
    """The same float64 values as an ember and a torch leaf."""
    return ember.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


# ---- max pooling: windows that hold no input element (dilation, padding) ----------------------
# torch's index for such a window is its first taps' position (which may alias another element
# or lie past the plane), and its backward adds the window's gradient there; ember stored -1.
# (Only cases whose indices stay inside the input: past its end torch writes out of bounds.)
EMPTY_WINDOW_POOLS = [
    # (shape, kernel, stride, padding, dilation, ceil_mode)
    ((1, 2, 6, 1), (4, 2), (2, 3), (2, 1), (1, 2), True),  # aliases the next row
    ((2, 3, 5, 5), 3, 2, 1, 2, True),
    ((1, 1, 4, 3, 1), (2, 3, 2), None, (0, 1, 1), (2, 2, 2), False),  # 3-D
    ((1, 1, 4, 3, 1), (3, 1, 2), None, (1, 0, 1), (2, 2, 2), True),
    ((1, 1, 6, 1, 2), (1, 2, 3), (3, 1, 1), (0, 1, 1), (2, 2, 1), False),
]


@pytest.mark.parametrize("case", EMPTY_WINDOW_POOLS)
def test_max_pool_empty_window_index_and_gradient(case):
    shape, k, s, p, d, ceil_mode = case
    nd = len(shape) - 2
    x = np.random.default_rng(0).standard_normal(shape)
    xe, xt = _pair(x)
    ye, ie = getattr(F, f"max_pool{nd}d")(xe, k, s, p, d, ceil_mode, True)
    yt, it = getattr(TF, f"max_pool{nd}d")(xt, k, s, p, d, ceil_mode, True)
    np.testing.assert_array_equal(ye.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(ie.numpy(), it.numpy())
    assert it.max() < x[0, 0].size  # (the case is safe for torch's backward)
    w = np.random.default_rng(1).standard_normal(yt.shape)
    ye.backward(ember.tensor(w))  # (the maxima hold -inf: no weighted sum)
    yt.backward(torch.tensor(w))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_max_pool_empty_window_spills_into_next_plane():
    # torch's index past a plane sends the gradient into the next plane's memory (its flat
    # scatter); past the last plane it writes out of bounds, which ember drops
    x = ember.tensor(np.arange(4.0).reshape(2, 2, 1), requires_grad=True)
    y, idx = F.max_pool1d(x, 2, 3, 1, 2, True, True)
    np.testing.assert_array_equal(idx.numpy(), np.ones((2, 2, 1), np.int64))
    assert np.isneginf(y.numpy()).all()
    y.backward(ember.tensor(np.array([1.0, 2.0, 3.0, 4.0]).reshape(2, 2, 1)))
    np.testing.assert_array_equal(x.grad.numpy().ravel(), [0.0, 1.0, 2.0, 3.0])


def test_max_pool_empty_window_gradcheck():
    x = ember.tensor(np.random.default_rng(2).standard_normal((2, 3, 5, 5)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: F.max_pool2d(t, 3, 2, 1, 2, True), (x,))


# ---- transposed convolution: an empty batch, and a 0 output size --------------------------------
@pytest.mark.parametrize(
    "nd, x_shape, w_shape, kw",
    [
        # an empty batch: no output_padding check, a 0-sized output (torch, any dtype)
        (2, (0, 6, 4, 4), (6, 1, 1, 1), {"stride": (1, 2), "output_padding": (0, 2),
                                          "groups": 3, "dilation": (2, 2)}),
        (1, (0, 2, 2), (2, 2, 1), {"padding": 1}),
        (3, (0, 2, 2, 2, 2), (2, 2, 1, 1, 1), {"padding": (0, 0, 1), "output_padding": (1, 0, 0)}),
        # float32 1-D / 2-D on torch's oneDNN path (batch > 1 or groups > 1): an empty output
        (2, (2, 2, 2, 4), (2, 2, 1, 1), {"stride": (1, 2), "padding": 1, "output_padding": (0, 1),
                                          "groups": 2}),
        (1, (2, 2, 2), (2, 2, 3), {"padding": 2}),
        (3, (2, 1, 3, 5, 3), (1, 2, 2, 2, 2), {"padding": (1, 1, 2), "dilation": (2, 2, 1)}),
    ],
)  # fmt: skip
def test_conv_transpose_empty_output(nd, x_shape, w_shape, kw):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal(x_shape), rng.standard_normal(w_shape)
    dtype = np.float32 if x_shape[0] else np.float64
    xe, xt = _pair(x.astype(dtype))
    we, wt = _pair(w.astype(dtype))
    ye = getattr(F, f"conv_transpose{nd}d")(xe, we, **kw)
    yt = getattr(TF, f"conv_transpose{nd}d")(xt, wt, **kw)
    assert ye.shape == tuple(yt.shape) and ye.dtype == dtype
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())
    np.testing.assert_array_equal(we.grad.numpy(), wt.grad.numpy())


@pytest.mark.parametrize(
    "nd, x_shape, w_shape, kw",
    [
        (1, (2, 2, 2), (2, 2, 1), {"padding": 1}),  # float64: refused
        (2, (1, 2, 2, 2), (2, 2, 3, 3), {"padding": 2}),  # batch 1, groups 1, small kernel
        # output_padding >= stride (allowed as dilation is larger): not oneDNN
        (
            3,
            (2, 1, 3, 5, 3),
            (1, 2, 2, 2, 2),
            {"padding": (1, 1, 2), "output_padding": (1, 0, 0), "dilation": (2, 2, 1)},
        ),
        (2, (2, 2, 2, 2), (2, 2, 1, 1), {"padding": 3}),  # negative size
    ],
)
def test_conv_transpose_too_small_refused(nd, x_shape, w_shape, kw):
    rng = np.random.default_rng(4)
    dtype = np.float64 if nd == 1 else np.float32
    x, w = rng.standard_normal(x_shape).astype(dtype), rng.standard_normal(w_shape).astype(dtype)
    with pytest.raises(RuntimeError):
        getattr(TF, f"conv_transpose{nd}d")(torch.tensor(x), torch.tensor(w), **kw)
    with pytest.raises(ValueError, match="output size"):
        getattr(F, f"conv_transpose{nd}d")(ember.tensor(x), ember.tensor(w), **kw)


# ---- instance norm with an empty batch ----------------------------------------------------------
def test_instance_norm_empty_batch_running_stats_nan():
    x = np.zeros((0, 2, 3), np.float32)
    rm, rv = ember.zeros(2), ember.ones(2)
    F.instance_norm(ember.tensor(x), rm, rv, use_input_stats=True)
    trm, trv = torch.zeros(2), torch.ones(2)
    TF.instance_norm(torch.tensor(x), trm, trv, use_input_stats=True)
    np.testing.assert_array_equal(rm.numpy(), trm.numpy())  # all NaN
    np.testing.assert_array_equal(rv.numpy(), trv.numpy())
    m = nn.InstanceNorm1d(2, track_running_stats=True)
    m(ember.tensor(x))
    assert np.isnan(m.running_mean.numpy()).all()
    # a spatially empty but non-empty batch leaves them alone (as torch)
    F.instance_norm(ember.zeros(2, 2, 0), rm2 := ember.zeros(2), ember.ones(2))
    np.testing.assert_array_equal(rm2.numpy(), np.zeros(2, np.float32))


def test_instance_norm_empty_batch_with_affine_refused():
    x = np.zeros((0, 2, 3), np.float32)
    with pytest.raises(IndexError):
        TF.instance_norm(torch.tensor(x), None, None, torch.ones(2), torch.ones(2))
    with pytest.raises(ValueError, match="empty batch"):
        F.instance_norm(ember.tensor(x), None, None, ember.ones(2), ember.ones(2))
    with pytest.raises(ValueError, match="empty batch"):
        nn.InstanceNorm1d(2, affine=True)(ember.tensor(x))


# ---- pixel_unshuffle of an empty input: torch returns it unchanged ------------------------------
@pytest.mark.parametrize("shape", [(0, 2, 4, 2), (1, 0, 2, 4, 4), (2, 0, 6, 6)])
def test_pixel_unshuffle_empty(shape):
    r = 2
    ye = F.pixel_unshuffle(ember.zeros(*shape), r)
    assert ye.shape == tuple(TF.pixel_unshuffle(torch.zeros(shape), r).shape)
    assert nn.PixelUnshuffle(r)(ember.zeros(*shape)).shape == ye.shape
    with pytest.raises(ValueError):  # the divisibility checks still apply
        F.pixel_unshuffle(ember.zeros(0, 2, 4, 3), 2)


def test_fractional_max_pool2d_scalar_ratio():
    x = np.random.default_rng(5).standard_normal((1, 1, 8, 8)).astype(np.float32)
    with pytest.raises(TypeError):
        TF.fractional_max_pool2d(torch.tensor(x), 2, output_ratio=0.5)
    with pytest.raises(TypeError):
        F.fractional_max_pool2d(ember.tensor(x), 2, output_ratio=0.5)
    # the module takes a number (a pair for the functional), as torch's
    assert nn.FractionalMaxPool2d(2, output_ratio=0.5)(ember.tensor(x)).shape == (1, 1, 4, 4)


# ---- double backward ----------------------------------------------------------------------------
def test_conv_transpose3d_double_backward():
    # its composition hands conv2d non-contiguous slices in the double-backward graph
    rng = np.random.default_rng(6)
    x, w, b = rng.standard_normal((2, 2, 3, 4, 2)), rng.standard_normal((2, 2, 3, 2, 2)), None
    kw = {"stride": 2, "padding": 1, "output_padding": 1, "dilation": 2}
    xe, xt = _pair(x)
    we, wt = _pair(w)
    ye = F.conv_transpose3d(xe, we, b, **kw)
    yt = TF.conv_transpose3d(xt, wt, b, **kw)
    u = rng.standard_normal(yt.shape)
    ge = ember.autograd.grad((ye * ember.tensor(u)).sum(), [xe, we], create_graph=True)
    gt = torch.autograd.grad((yt * torch.tensor(u)).sum(), [xt, wt], create_graph=True)
    v = [rng.standard_normal(g.shape) for g in gt]
    he = ember.autograd.grad(sum((g * ember.tensor(a)).sum() for g, a in zip(ge, v)), [xe, we])
    ht = torch.autograd.grad(sum((g * torch.tensor(a)).sum() for g, a in zip(gt, v)), [xt, wt])
    for a, b_ in zip(he, ht):
        np.testing.assert_allclose(a.numpy(), b_.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "fn",
    [
        lambda F, x: F.pad(x, (1, 2), "reflect"),
        lambda F, x: F.pad(x, (-1, 2), "reflect"),
        lambda F, x: F.pad(x, (2, 2), "replicate"),
        lambda F, x: F.pad(x, (1, -1, 2, 0), "replicate"),
        lambda F, x: F.adaptive_avg_pool1d(x[0], 3),
        lambda F, x: F.adaptive_avg_pool2d(x, (3, 2)),
        lambda F, x: F.adaptive_avg_pool3d(x[None], (1, 3, 2)),
    ],
)
def test_linear_pad_and_pool_gradient_keeps_its_input(fn):
    # torch's reflect / replicate pad and adaptive average pool backward keep their input: the
    # gradient requires grad under create_graph and its own gradient is 0 (ember's had no graph)
    x = np.random.default_rng(7).standard_normal((2, 3, 5))
    xe, xt = _pair(x)
    (ge,) = ember.autograd.grad(fn(F, xe).sum(), xe, create_graph=True)
    (gt,) = torch.autograd.grad(fn(TF, xt).sum(), xt, create_graph=True)
    assert ge.requires_grad and gt.requires_grad
    np.testing.assert_allclose(ge.numpy(), gt.detach().numpy())
    (he,) = ember.autograd.grad((ge * ge).sum(), xe, allow_unused=True)
    (ht,) = torch.autograd.grad((gt * gt).sum(), xt, allow_unused=True)
    np.testing.assert_array_equal(he.numpy(), ht.numpy())  # zeros


# ---- integer convolution ------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize("op", ["conv1d", "conv2d", "conv3d", "conv_transpose2d"])
def test_integer_convolution(op, dtype):
    # torch convolves one-integer-dtype operands in integer arithmetic (uint8 wraps);
    # transposed: int64 only (others NotImplementedError)
    nd = int(op[-2])
    rng = np.random.default_rng(8)
    x = rng.integers(0, 40, (2, 2) + (5,) * nd).astype(dtype)
    w = rng.integers(0, 5, (2, 2) + (3,) * nd).astype(dtype)
    b = rng.integers(0, 9, 2).astype(dtype)
    kw = {"stride": 2, "padding": 1}
    args_t = (torch.tensor(x), torch.tensor(w), torch.tensor(b))
    args_e = (ember.tensor(x), ember.tensor(w), ember.tensor(b))
    if op.startswith("conv_transpose") and dtype != np.int64:
        with pytest.raises(NotImplementedError):
            getattr(TF, op)(*args_t, **kw)
        with pytest.raises(TypeError, match="int64"):
            getattr(F, op)(*args_e, **kw)
        return
    yt, ye = getattr(TF, op)(*args_t, **kw), getattr(F, op)(*args_e, **kw)
    assert ye.dtype == dtype
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    with pytest.raises(TypeError):  # mixed dtypes stay refused
        getattr(F, op)(args_e[0], ember.tensor(w.astype(np.float32)))


# ---- batch norm of an empty input in eval mode without running statistics ----------------------
@pytest.mark.parametrize("shape", [(0, 3, 3), (0, 3), (2, 3, 0)])
def test_batch_norm_eval_empty_input_without_stats(shape):
    x = np.zeros(shape)
    we, wt = _pair(np.ones(3))
    ye = F.batch_norm(ember.tensor(x), None, None, we, None, training=False)
    yt = TF.batch_norm(torch.tensor(x), None, None, wt, None, training=False)
    assert ye.shape == tuple(yt.shape) and ye.dtype == np.float64
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(we.grad.numpy(), wt.grad.numpy())
    rm = ember.zeros(3)  # a lone running_mean is left alone
    F.batch_norm(ember.tensor(x.astype(np.float32)), rm, None, training=False)
    np.testing.assert_array_equal(rm.numpy(), np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="required"):  # a non-empty input still needs them
        F.batch_norm(ember.zeros(2, 3), None, None, training=False)


# ---- empty channel / image dims -----------------------------------------------------------------
@pytest.mark.parametrize(
    "op, x_shape, w_shape, kw",
    [
        ("conv2d", (2, 0, 5, 4), (3, 0, 2, 2), {"padding": 1}),  # torch: (N, 0, OH, OW)
        ("conv2d", (0, 5, 4), (3, 0, 2, 2), {}),  # unbatched
        ("conv1d", (2, 0, 5), (3, 0, 2), {}),
        ("conv3d", (2, 0, 3, 5, 4), (3, 0, 2, 2, 2), {"padding": (1, 0, 0)}),
    ],
)
def test_conv_without_input_channels(op, x_shape, w_shape, kw):
    outs = []
    for lib, fn in ((ember, F), (torch, TF)):
        x, w = lib.zeros(*x_shape, requires_grad=True), lib.ones(*w_shape, requires_grad=True)
        b = lib.ones(w_shape[0], requires_grad=True)
        y = getattr(fn, op)(x, w, b, **kw)
        y.sum().backward()
        outs.append((tuple(y.shape), b.grad.numpy(), tuple(x.grad.shape), tuple(w.grad.shape)))
    (ye, be, xe, we), (yt, bt, xt, wt) = outs
    assert (ye, xe, we) == (yt, xt, wt)
    np.testing.assert_array_equal(be, bt)


@pytest.mark.parametrize(
    "call",
    [
        lambda M: M.conv2d(M_zeros(M, 2, 2, 0, 4), M_ones(M, 3, 2, 2, 2), padding=1),
        lambda M: M.conv1d(M_zeros(M, 2, 2, 0), M_ones(M, 3, 2, 2), padding=1),
        lambda M: M.conv3d(M_zeros(M, 2, 2, 0, 5, 4), M_ones(M, 3, 2, 2, 2, 2), padding=1),
        lambda M: M.conv_transpose2d(M_zeros(M, 2, 0, 5, 4), M_ones(M, 0, 3, 2, 2)),
        lambda M: M.conv_transpose3d(M_zeros(M, 2, 0, 3, 4, 4), M_ones(M, 0, 3, 2, 2, 2)),
        lambda M: M.unfold(M_zeros(M, 2, 0, 5, 4), 2),
        lambda M: M.unfold(M_zeros(M, 0, 5, 4), 2),
        lambda M: M.fold(M_zeros(M, 2, 0, 4), (3, 3), 2),
        lambda M: M.max_unpool2d(M_zeros(M, 2, 0, 2, 2), M_idx(M, 2, 0, 2, 2), 2),
        lambda M: M.max_unpool1d(M_zeros(M, 1, 0, 2), M_idx(M, 1, 0, 2), 2),
        lambda M: M.max_unpool3d(M_zeros(M, 1, 0, 2, 2, 2), M_idx(M, 1, 0, 2, 2, 2), 2),
    ],
)
def test_empty_dims_torch_refuses(call):
    with pytest.raises((RuntimeError, ValueError)):
        call(TF)
    with pytest.raises(ValueError):
        call(F)


def M_zeros(M, *shape):
    return torch.zeros(shape) if M is TF else ember.zeros(*shape)


def M_ones(M, *shape):
    return torch.ones(shape) if M is TF else ember.ones(*shape)


def M_idx(M, *shape):
    return (
        torch.zeros(shape, dtype=torch.int64)
        if M is TF
        else ember.tensor(np.zeros(shape, np.int64))
    )


def test_empty_batch_and_unbatched_unpool_still_work():
    for shape in [(0, 1, 2, 2), (0, 2, 2)]:
        ye = F.max_unpool2d(ember.zeros(*shape), M_idx(F, *shape), 2)
        yt = TF.max_unpool2d(torch.zeros(shape), M_idx(TF, *shape), 2)
        assert ye.shape == tuple(yt.shape)
    assert F.unfold(ember.zeros(0, 2, 5, 4), 2).shape == (0, 8, 12)
    assert F.fold(ember.zeros(0, 4, 4), (3, 3), 2).shape == (0, 1, 3, 3)
