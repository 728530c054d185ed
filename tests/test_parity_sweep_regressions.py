"""Differences from PyTorch found by a randomised differential sweep of layers over their less
common options (same module in ember and torch, weights copied, outputs, gradients and the
errors of invalid configurations compared)."""

import warnings

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _both(fn, *arrays):
    """fn(lib, *tensors) in ember and torch on float64 copies of arrays."""
    e = fn(ember, *(ember.tensor(a.copy(), requires_grad=True) for a in arrays))
    t = fn(torch, *(torch.tensor(a.copy(), requires_grad=True) for a in arrays))
    return e, t


@pytest.mark.parametrize(
    "nd, out, ok",
    [(2, (3, 2), True), (3, (2, 2, 2), True), (3, (3, 2, 2), False), (3, (2, 2, 3), False)],
)
def test_fractional_max_pool_3d_fit_check_is_strict_as_torch(nd, out, ok):
    # PyTorch's 2-D check is output + kernel - 1 <= input, its 3-D one output + kernel - 1 < input
    x = np.random.default_rng(0).standard_normal((1, 2) + (4,) * nd)
    u = np.random.default_rng(1).random((1, 2, nd))

    def run(lib):
        m = getattr(lib.nn, f"FractionalMaxPool{nd}d")(
            2, output_size=out, _random_samples=lib.tensor(u)
        )
        return m(lib.tensor(x))

    if not ok:
        with pytest.raises(RuntimeError):
            run(torch)
        with pytest.raises(ValueError, match="output \\+ kernel - 1 < input"):
            run(ember)
    else:
        np.testing.assert_array_equal(run(ember).numpy(), run(torch).numpy())


@pytest.mark.parametrize("nd", [2, 3])
def test_fractional_max_pool_to_an_empty_output_as_torch(nd):
    # output_ratio 0.3 of a size-3 dim is 0: PyTorch returns an empty output (and zero gradient)
    x = np.random.default_rng(0).standard_normal((2, 2) + (6,) * (nd - 1) + (3,))
    u = np.random.default_rng(1).random((2, 2, nd))

    def run(lib, t):
        m = getattr(lib.nn, f"FractionalMaxPool{nd}d")(
            1, output_ratio=0.3, return_indices=True, _random_samples=lib.tensor(u)
        )
        y, i = m(t)
        y.sum().backward()
        return y, i, t.grad

    (ye, ie, ge), (yt, it, gt) = _both(run, x)
    assert ye.shape == tuple(yt.shape) == ie.shape == tuple(it.shape)
    assert ye.shape[-1] == 0
    np.testing.assert_array_equal(ge.numpy(), gt.numpy())  # zeros of x's shape


def test_lp_pool1d_refuses_a_tuple_kernel_as_torch():
    # PyTorch's lp_pool1d multiplies its result by kernel_size itself: a tuple is a TypeError
    x = np.abs(np.random.default_rng(0).standard_normal((1, 2, 6)))
    with pytest.raises(TypeError):
        torch.nn.LPPool1d(2, (2,))(torch.tensor(x))
    with pytest.raises(TypeError, match="kernel_size must be an int"):
        ember.nn.LPPool1d(2, (2,))(ember.tensor(x))
    # norm_type inf is a max pool there, which takes the tuple
    ye = ember.nn.LPPool1d(float("inf"), (2,))(ember.tensor(x))
    yt = torch.nn.LPPool1d(float("inf"), (2,))(torch.tensor(x))
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "name, shape, size",
    [
        ("adaptive_max_pool1d", (1, 2, 3), 0),
        ("adaptive_max_pool2d", (1, 2, 3, 3), (2, 0)),
        ("adaptive_avg_pool3d", (1, 2, 3, 3, 3), (0, 2, 1)),
        ("adaptive_avg_pool3d", (2, 3, 3, 3), (2, 5, 0)),
        ("adaptive_max_pool3d", (1, 2, 3, 3, 3), (1, 2, 0)),
    ],
)
def test_adaptive_pool_to_a_zero_size_is_empty_as_torch(name, shape, size):
    x = np.random.default_rng(0).standard_normal(shape)
    ye, yt = _both(lambda lib, t: getattr(lib.nn.functional, name)(t, size), x)
    assert ye.shape == tuple(yt.shape) and ye.requires_grad
    if "max" in name:
        _, ie = getattr(ember.nn.functional, name)(ember.tensor(x), size, return_indices=True)
        _, it = getattr(torch.nn.functional, name)(torch.tensor(x), size, return_indices=True)
        assert ie.shape == tuple(it.shape) and ie.dtype == np.int64
    with pytest.raises(ValueError, match="non-negative"):
        getattr(ember.nn.functional, name)(ember.tensor(x), -1)


@pytest.mark.parametrize(
    "kw", [dict(scale_factor=0.2), dict(scale_factor=(0.5, 1.0)), dict(size=(0, 2))]
)
def test_interpolate_area_to_an_empty_size_as_torch(kw):
    # 'area' is adaptive average pooling, which PyTorch lets produce an empty output
    x = np.random.default_rng(0).standard_normal((1, 2, 1, 3))
    ye, yt = _both(lambda lib, t: lib.nn.functional.interpolate(t, mode="area", **kw), x)
    assert ye.shape == tuple(yt.shape)
    with pytest.raises(RuntimeError):
        torch.nn.functional.interpolate(torch.tensor(x), mode="bilinear", **kw)
    with pytest.raises(ValueError, match="empty output size"):
        ember.nn.functional.interpolate(ember.tensor(x), mode="bilinear", **kw)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("pad, value", [((1, 2), None), ((-1, 2, 0, 1), 3), ((2, 0), 1.5)])
def test_constant_pad_of_integer_and_bool_tensors_as_torch(dtype, pad, value):
    # F.pad(ids, (0, n), value=pad_id): PyTorch pads any dtype in constant mode
    x = np.random.default_rng(0).integers(0, 9, (2, 3)).astype(dtype)
    kw = {} if value is None else {"value": value}
    ye = ember.nn.functional.pad(ember.tensor(x), pad, **kw)
    yt = torch.nn.functional.pad(torch.tensor(x), pad, **kw)
    assert ye.dtype == x.dtype
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())


def test_constant_pad_value_must_fit_an_integer_dtype():
    x = np.array([[1, 2]], np.uint8)
    with pytest.raises(RuntimeError):
        torch.nn.functional.pad(torch.tensor(x), (1, 1), value=-1)
    with pytest.raises(ValueError, match="cannot be converted to uint8"):
        ember.nn.functional.pad(ember.tensor(x), (1, 1), value=-1)
    # other modes take integers too, as torch's (opdb27: they were refused)
    got = ember.nn.functional.pad(ember.tensor(x), (1, 1), mode="replicate")
    want = torch.nn.functional.pad(torch.tensor(x), (1, 1), mode="replicate")
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
@pytest.mark.parametrize(
    "shape, kw",
    [
        ((1, 3, 7), dict(scale_factor=1.7)),
        ((2, 3, 5, 4), dict(size=(7, 3))),
        ((1, 1, 3, 5, 4), dict(scale_factor=(2.3, 0.7, 1.5))),
        ((1, 2, 6, 5), dict(scale_factor=0.7, recompute_scale_factor=True)),
    ],
)
def test_nearest_resize_of_uint8_images_as_torch(mode, shape, kw):
    x = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    ye = ember.nn.functional.interpolate(ember.tensor(x), mode=mode, **kw)
    yt = torch.nn.functional.interpolate(torch.tensor(x), mode=mode, **kw)
    assert ye.dtype == np.uint8
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())


def _int_pool_cases():
    rng = np.random.default_rng(0)
    for name in (
        "max_pool1d",
        "max_pool2d",
        "max_pool3d",
        "avg_pool1d",
        "avg_pool2d",
        "avg_pool3d",
    ):
        for dtype in (np.int64, np.int32, np.uint8):
            for _ in range(4):
                k = int(rng.integers(1, 4))
                kw = dict(kernel_size=k, stride=int(rng.integers(1, 3)), padding=k // 2)
                kw["ceil_mode"] = bool(rng.random() < 0.5)
                if name.startswith("max"):
                    kw["return_indices"] = name == "max_pool1d" or bool(rng.random() < 0.5)
                else:
                    kw["count_include_pad"] = bool(rng.random() < 0.5)
                yield name, dtype, kw


@pytest.mark.parametrize("name, dtype, kw", list(_int_pool_cases()))
def test_pooling_of_integer_tensors_as_torch(name, dtype, kw):
    # PyTorch max-pools any integer dtype (1-D: with indices only) and averages int64 (the mean
    # truncated); other integer pools raise there and here
    nd = int(name[-2])
    x = np.random.default_rng(1).integers(0 if dtype == np.uint8 else -60, 60, (2, 3) + (5,) * nd)
    x = x.astype(dtype)
    try:
        yt = getattr(torch.nn.functional, name)(torch.tensor(x), **kw)
    except (RuntimeError, NotImplementedError):
        with pytest.raises(TypeError, match="floating point"):
            getattr(ember.nn.functional, name)(ember.tensor(x), **kw)
        return
    ye = getattr(ember.nn.functional, name)(ember.tensor(x), **kw)
    for a, b in zip(ye if isinstance(ye, tuple) else (ye,), yt if isinstance(yt, tuple) else (yt,)):
        assert a.dtype == b.numpy().dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_int64_avg_pool3d_truncates_the_exact_mean():
    # ember's 3-D average is two passes; rounded there, 4 became 3.999.. and truncated to 3
    kw = dict(kernel_size=3, stride=1, padding=1, count_include_pad=False)
    x = np.random.default_rng(0).integers(-60, 60, (2, 3, 6, 5, 5))
    ye = ember.nn.functional.avg_pool3d(ember.tensor(x), **kw)
    yt = torch.nn.functional.avg_pool3d(torch.tensor(x), **kw)
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    with pytest.raises(ValueError, match="divisor must be not zero"):
        ember.nn.functional.avg_pool3d(ember.tensor(x), 2, divisor_override=0)


@pytest.mark.parametrize("eps", [-1.0, float("nan")])
def test_cosine_similarity_refuses_a_negative_or_nan_eps(eps):
    a = np.ones((2, 3))
    with pytest.raises(RuntimeError, match="eps must be non-negative"):
        torch.nn.functional.cosine_similarity(torch.tensor(a), torch.tensor(a), eps=eps)
    with pytest.raises(ValueError, match="eps must be non-negative"):
        ember.nn.functional.cosine_similarity(ember.tensor(a), ember.tensor(a), eps=eps)


@pytest.mark.parametrize(
    "train, eps, ok",
    [(True, 0.0, False), (True, -1.0, False), (False, 0.0, True), (False, -1.0, False)],
)
def test_batch_norm_eps_checks_as_torch(train, eps, ok):
    # torch 2.13: eps must be > 0 when normalising by batch statistics, >= 0 otherwise
    x = np.random.default_rng(0).standard_normal((4, 3))
    for lib in (torch, ember):
        m = lib.nn.BatchNorm1d(3, eps=eps).double().train(train)
        if ok:
            m(lib.tensor(x))
        else:
            with pytest.raises(ValueError, match="batch_norm eps must be"):
                m(lib.tensor(x))


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda lib: lib.nn.Conv2d(2, 3, 3, stride=(2,), padding=[1], dilation=(2,)), (1, 2, 7, 6)),
        (lambda lib: lib.nn.Conv3d(2, 2, 2, stride=(2,), padding=(1,)), (1, 2, 4, 5, 3)),
        (
            lambda lib: lib.nn.ConvTranspose2d(2, 2, 3, stride=(2,), output_padding=(1,)),
            (1, 2, 3, 4),
        ),
        (lambda lib: lib.nn.ConvTranspose3d(2, 2, 2, stride=(2,), padding=(1,)), (1, 2, 3, 2, 3)),
        (
            lambda lib: lib.nn.MaxPool2d((3,), stride=(2,), padding=(1,), dilation=(1,)),
            (1, 2, 7, 6),
        ),
        (lambda lib: lib.nn.AvgPool2d((2,), padding=[1]), (1, 2, 5, 6)),
        (lambda lib: lib.nn.MaxPool3d((2,), stride=(1,)), (1, 2, 3, 4, 3)),
        (lambda lib: lib.nn.AvgPool3d([2], padding=(1,)), (2, 3, 4, 3)),
        (
            lambda lib: (
                lambda t: lib.nn.functional.conv2d(
                    t, lib.ones(3, 2, 2, 2, dtype=t.dtype), stride=(2,), padding=[1]
                )
            ),
            (1, 2, 5, 6),
        ),
    ],
)
def test_one_element_size_lists_stand_for_every_dim_as_torch(make, shape):
    # PyTorch's int[n] arguments take [v] as n copies (not kernel_size of a conv layer, nor
    # adaptive pools' output_size, unfold's or lp_pool2d's sizes, which it refuses)
    x = np.random.default_rng(0).standard_normal(shape)
    te, tt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    me, mt = make(ember), make(torch)
    if isinstance(mt, torch.nn.Module):
        mt = mt.double()
        me = me.double()
        me.load_state_dict({k: v.detach().numpy() for k, v in mt.state_dict().items()})
    ye, yt = me(te), mt(tt)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(te.grad.numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for make_bad in (
        lambda lib: lib.nn.Conv2d(2, 2, (3,)),
        lambda lib: lib.nn.Conv2d(2, 2, 3, padding=(1,), padding_mode="reflect"),
        lambda lib: lib.nn.AdaptiveAvgPool2d((2,)),
        lambda lib: lib.nn.Unfold((2,)),
    ):
        with pytest.raises((RuntimeError, NotImplementedError)):
            make_bad(torch)(torch.ones(1, 2, 6, 6))
        with pytest.raises(ValueError):
            make_bad(ember)(ember.ones(1, 2, 6, 6))


@pytest.mark.parametrize(
    "xs, ts, vs",
    [
        ((4, 3), (1, 4, 3), (4, 3)),
        ((4, 3), (3,), (4, 1)),
        ((4, 1), (4, 3), (4,)),
        ((4, 3), (2, 4, 3), 0.3),
    ],
)
def test_gaussian_nll_loss_broadcasts_input_and_target_as_torch(xs, ts, vs):
    # var is checked against input's own shape; input and target broadcast together
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(xs), rng.standard_normal(ts)
    c = vs if isinstance(vs, float) else rng.random(vs) + 0.1
    out = []
    for lib in (ember, torch):
        x, t = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        v = c if isinstance(c, float) else lib.tensor(c, requires_grad=True)
        y = lib.nn.functional.gaussian_nll_loss(x, t, v, full=True, reduction="none")
        y.sum().backward()
        out.append([y.detach().numpy(), x.grad.numpy(), t.grad.numpy()])
    for e, t in zip(*out):
        np.testing.assert_allclose(e, t, rtol=1e-12)


@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "in_len, tg_len", [([4, 0, 2], [1, 0, 1]), ([4, 0, 2], [1, 1, 1]), ([0, 0, 0], [0, 1, 0])]
)
def test_ctc_loss_of_a_zero_length_input_as_torch(in_len, tg_len, reduction, zero_infinity):
    # a sample with no frames: loss 0 for an empty target, else inf (0 with zero_infinity), and
    # no gradient; only an empty log_probs is refused
    lpn = np.log(np.random.default_rng(0).dirichlet(np.ones(3), (4, 3)))
    out = []
    for lib in (ember, torch):
        lp = lib.tensor(lpn.copy(), requires_grad=True)
        tg = lib.tensor(np.array([[1, 2], [1, 1], [2, 2]]))
        kw = dict(reduction=reduction, zero_infinity=zero_infinity)
        loss = lib.nn.functional.ctc_loss(
            lp, tg, lib.tensor(np.array(in_len)), lib.tensor(np.array(tg_len)), **kw
        )
        loss.sum().backward()
        out.append((loss.detach().numpy(), lp.grad.numpy()))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10, atol=1e-12)
    empty = (
        np.zeros((0, 3, 3)),
        np.ones((3, 1), np.int64),
        np.zeros(3, np.int64),
        np.zeros(3, np.int64),
    )
    with pytest.raises(RuntimeError, match="must not be empty"):
        torch.nn.functional.ctc_loss(*map(torch.tensor, empty))
    with pytest.raises(ValueError, match="must not be empty"):
        ember.nn.functional.ctc_loss(*map(ember.tensor, empty))


@pytest.mark.parametrize("name", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_unbatched_class_input_takes_a_one_element_target_as_torch(name, reduction):
    # input (C,) with target (1,): PyTorch reads the target as 0-d (a 0-d "none" loss); its own
    # backward then fails, so only the value is compared, the gradient by finite differences
    x = np.random.default_rng(0).standard_normal(3)
    w = np.array([0.5, 2.0, 1.0])
    fe, ft = getattr(ember.nn.functional, name), getattr(torch.nn.functional, name)
    ye = fe(
        ember.tensor(x), ember.tensor(np.array([2])), weight=ember.tensor(w), reduction=reduction
    )
    yt = ft(torch.tensor(x), torch.tensor([2]), weight=torch.tensor(w), reduction=reduction)
    assert ye.shape == tuple(yt.shape) == ()
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12)
    xe = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: fe(a, ember.tensor(np.array([2])), reduction=reduction), (xe,))


def test_one_hot_of_an_empty_tensor_needs_a_positive_num_classes():
    for nc in (-1, 0):
        with pytest.raises(RuntimeError, match="empty tensor"):
            torch.nn.functional.one_hot(torch.zeros(0, dtype=torch.long), nc)
        with pytest.raises(ValueError, match="empty tensor"):
            ember.nn.functional.one_hot(ember.tensor(np.zeros(0, np.int64)), nc)
    assert ember.nn.functional.one_hot(ember.tensor(np.zeros(0, np.int64)), 3).shape == (0, 3)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.nn.functional.cross_entropy(
            lib.ones(3, 4), lib.tensor(np.array([0, 4, 1]))
        ),
        lambda lib: lib.nn.functional.nll_loss(lib.ones(3, 4), lib.tensor(np.array([0, -1, 1]))),
        lambda lib: lib.nn.functional.nll_loss(
            lib.ones(3, 4, 2), lib.tensor(np.array([[0, 0], [5, 1], [1, 1]]))
        ),
        lambda lib: lib.nn.functional.cross_entropy(lib.ones(4), lib.tensor(np.array(4))),
        lambda lib: lib.nn.CrossEntropyLoss(label_smoothing=0.1)(
            lib.ones(2, 3), lib.tensor(np.array([3, 0]))
        ),
    ],
)
def test_class_target_out_of_bounds_is_an_index_error_as_torch(call):
    with pytest.raises(IndexError):
        call(torch)
    with pytest.raises(IndexError, match="out of bounds"):
        call(ember)
    with pytest.raises(ValueError):  # and still a ValueError, as ember's other bad input
        call(ember)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.nn.MultiheadAttention(6, 4),
        lambda lib: lib.nn.TransformerEncoderLayer(6, 4),
        lambda lib: lib.nn.MultiheadAttention(6, 2)(
            lib.ones(3, 2, 6), lib.ones(3, 2, 6), lib.ones(4, 2, 6)
        ),
        lambda lib: lib.nn.MultiheadAttention(6, 2)(
            lib.ones(3, 2, 5), lib.ones(3, 2, 6), lib.ones(3, 2, 6)
        ),
        lambda lib: lib.nn.MultiheadAttention(6, 2)(
            lib.ones(1, 3, 2, 6), lib.ones(3, 2, 6), lib.ones(3, 2, 6)
        ),
        lambda lib: lib.nn.MultiheadAttention(6, 2)(
            lib.ones(3, 2, 6),
            lib.ones(3, 2, 6),
            lib.ones(3, 2, 6),
            key_padding_mask=lib.zeros(3, 2),
        ),
    ],
)
def test_attention_shape_errors_are_assertion_errors_as_torch(call):
    with pytest.raises(AssertionError):
        call(torch)
    with pytest.raises(AssertionError):
        call(ember)
    with pytest.raises(ValueError):
        call(ember)


@pytest.mark.parametrize("eps", [1e-8, 0.5, 1.5])
def test_cosine_similarity_gradient_where_a_norm_is_clamped_as_torch(eps):
    # PyTorch clamps the norms to eps outside autograd: the gradient still takes ||x||'s own
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((5, 3)) * 0.3, rng.standard_normal((5, 3))
    out = []
    for lib in (ember, torch):
        x, y = lib.tensor(a.copy(), requires_grad=True), lib.tensor(b.copy(), requires_grad=True)
        o = lib.nn.functional.cosine_similarity(x, y, dim=1, eps=eps)
        gx, gy = lib.autograd.grad(o.sum(), (x, y), create_graph=True)
        (gx * gx).sum().backward()  # and the double backward
        out.append(
            [
                o.detach().numpy(),
                gx.detach().numpy(),
                gy.detach().numpy(),
                x.grad.numpy(),
                y.grad.numpy(),
            ]
        )
    for e, t in zip(*out):
        np.testing.assert_allclose(e, t, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib: lib.nn.RMSNorm(())(lib.ones(2, 3)),
        lambda lib: lib.nn.functional.rms_norm(lib.ones(2, 3), []),
        lambda lib: lib.nn.functional.layer_norm(lib.ones(2, 3), ()),
        lambda lib: lib.nn.functional.interpolate(lib.ones(1, 0, 3, 4), size=(2, 3)),
        lambda lib: lib.nn.functional.interpolate(
            lib.ones(1, 2, 0, 4), size=(2, 3), mode="bilinear"
        ),
    ],
)
def test_empty_normalized_shape_and_empty_channels_refused_as_torch(call):
    with pytest.raises(RuntimeError):
        call(torch)
    with pytest.raises(ValueError):
        call(ember)


@pytest.mark.parametrize(
    "call",
    [
        lambda lib, x: lib.nn.functional.interpolate(x, size=(2, 3), mode="area"),
        lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x, (2, 5)),
        lambda lib, x: lib.nn.functional.adaptive_avg_pool2d(x[0], 2),
        lambda lib, x: lib.nn.functional.adaptive_avg_pool1d(x[:, :, 0], 3),
    ],
)
def test_average_pools_of_empty_channels_are_empty_as_torch(call):
    # adaptive average pooling takes an empty channel dim (max pooling refuses it, in both)
    x = np.zeros((1, 0, 3, 4))
    ye, yt = call(ember, ember.tensor(x, requires_grad=True)), call(torch, torch.tensor(x))
    assert ye.shape == tuple(yt.shape) and ye.requires_grad


@pytest.mark.parametrize("flag", [0, 1, None, "yes", np.bool_(True)])
@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda lib, f: lib.nn.MaxPool1d(2, ceil_mode=f), (1, 2, 5)),
        (lambda lib, f: lib.nn.MaxPool2d(2, ceil_mode=f), (1, 2, 5, 5)),
        (lambda lib, f: lib.nn.MaxPool3d(2, ceil_mode=f), (1, 2, 3, 5, 5)),
        (lambda lib, f: lib.nn.AvgPool1d(2, ceil_mode=f), (1, 2, 5)),
        (lambda lib, f: lib.nn.AvgPool2d(2, count_include_pad=f), (1, 2, 5, 5)),
        (lambda lib, f: lib.nn.AvgPool3d(2, count_include_pad=f), (1, 2, 3, 5, 5)),
        (lambda lib, f: lib.nn.LPPool2d(2, 2, ceil_mode=f), (1, 2, 5, 5)),
    ],
)
def test_pool_flags_must_be_bools_as_torch(make, shape, flag):
    # PyTorch's C++ bool arguments refuse 0 / 1, None, strings and NumPy bools (TypeError)
    x = np.random.default_rng(0).random(shape)
    with pytest.raises(TypeError):
        make(torch, flag)(torch.tensor(x))
    with pytest.raises(TypeError, match="must be bool"):
        make(ember, flag)(ember.tensor(x))
    np.testing.assert_allclose(
        make(ember, True)(ember.tensor(x)).numpy(), make(torch, True)(torch.tensor(x)).numpy()
    )


def test_ctc_zero_infinity_must_be_a_bool_as_torch():
    args = (np.log(np.full((4, 1, 3), 1 / 3)), np.array([[1, 2]]), np.array([4]), np.array([2]))
    with pytest.raises(TypeError):
        torch.nn.functional.ctc_loss(*map(torch.tensor, args), zero_infinity=1)
    with pytest.raises(TypeError, match="must be bool"):
        ember.nn.functional.ctc_loss(*map(ember.tensor, args), zero_infinity=1)


@pytest.mark.parametrize("xd, wd", [(np.float64, np.float32), (np.float32, np.float64)])
def test_rms_norm_with_a_weight_of_another_dtype_as_torch(xd, wd):
    # PyTorch computes (the output in input's dtype; a float64 input warns) where ember refused
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4))
    out = []
    for lib in (ember, torch):
        xt = lib.tensor(x.astype(xd), requires_grad=True)
        wt = lib.tensor(w.astype(wd), requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            y = lib.nn.functional.rms_norm(xt, (3, 4), wt)
        if lib is ember:  # torch warns once per process: an earlier test may have spent it
            assert len(caught) == (xd == np.float64)
        assert all("Mismatch dtype between input and weight" in str(c.message) for c in caught)
        y.sum().backward()
        out.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()])
    for e, t in zip(*out):
        assert e.dtype == t.dtype
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 2), (3, 2, 4)])
def test_batch_norm_training_on_an_infinite_value_as_torch(shape):
    # PyTorch's plain mean (inf where a channel holds +inf, NaN with +inf and -inf) and a NaN
    # variance: the running stats take them, that channel's output and gradients are NaN
    x = np.random.default_rng(0).standard_normal(shape)
    x[0, 0] = np.inf  # the first value: ember's shift
    x[1, 1] = np.inf
    x[2, 1] = -np.inf
    out = []
    for lib in (ember, torch):
        m = lib.nn.BatchNorm1d(2).double()
        xt = lib.tensor(x.copy(), requires_grad=True)
        y = m(xt)
        (y * lib.tensor(np.arange(y.numel(), dtype=np.float64).reshape(y.shape))).sum().backward()
        out.append([y, xt.grad, m.weight.grad, m.bias.grad, m.running_mean, m.running_var])
    for e, t in zip(*out):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-6)
    assert np.isinf(out[0][4].numpy()[0]) and np.isnan(out[0][4].numpy()[1])


@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.nn.Embedding(3, 2, sparse=0)(lib.tensor([1])),
        lambda lib: lib.nn.Embedding(3, 2, scale_grad_by_freq=1)(lib.tensor([1])),
        lambda lib: lib.nn.Embedding(3, 2, padding_idx=True)(lib.tensor([1])),
        lambda lib: lib.nn.GRU(2, 3, bidirectional="x")(lib.zeros(1, 2, 2)),
        lambda lib: lib.nn.LSTM(2, 3, bidirectional=1)(lib.zeros(1, 2, 2)),
        lambda lib: lib.nn.RNN(2, 3, bidirectional=0)(lib.zeros(1, 2, 2)),
        lambda lib: lib.nn.TripletMarginLoss(swap=1)(*(lib.ones(2, 3) for _ in range(3))),
        lambda lib: lib.nn.TripletMarginLoss(swap="x")(*(lib.ones(2, 3) for _ in range(3))),
        lambda lib: lib.nn.Flatten(start_dim=True)(lib.zeros(2, 3, 4)),
        lambda lib: lib.nn.Flatten(end_dim=(1, 2))(lib.zeros(2, 3, 4)),
        lambda lib: lib.flatten(lib.zeros(2, 3, 4), None),
        lambda lib: lib.nn.Unflatten(True, (3, 1))(lib.zeros(2, 3, 4)),
        lambda lib: lib.nn.PairwiseDistance(keepdim=1)(lib.ones(2, 3), lib.ones(2, 3)),
        lambda lib: lib.nn.KLDivLoss(reduction="sum", log_target=1)(lib.ones(2, 3), lib.ones(2, 3)),
    ],
)
def test_flags_must_be_real_bools_and_ints_as_torch(make):
    with pytest.raises(TypeError):
        make(torch)
    with pytest.raises(TypeError, match="must be|should be"):
        make(ember)


def test_zero_pad_2d_with_a_pair_pads_the_last_dim_as_torch():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for pad in [(1, 2), [2, 0], (), (1, 1, 1, 1, 1, 1)]:
        ye = ember.nn.ZeroPad2d(pad)(ember.tensor(x))
        yt = torch.nn.ZeroPad2d(pad)(torch.tensor(x))
        np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    ye = ember.nn.ReflectionPad2d((1, 2))(ember.tensor(x))
    np.testing.assert_array_equal(ye.numpy(), torch.nn.ReflectionPad2d((1, 2))(torch.tensor(x)))


_INT = np.arange(24).reshape(2, 3, 4) % 7 - 2
_FLT = np.random.default_rng(0).standard_normal((2, 3, 4))
_GAUSS = lambda lib, x, y, v: lib.nn.GaussianNLLLoss()(x, y, v.abs())  # noqa: E731


@pytest.mark.parametrize(
    "fn, dtypes",
    [
        (lambda lib, x: lib.nn.LocalResponseNorm(2)(x), ["int64"]),
        (lambda lib, x: lib.nn.LPPool1d(2, 2)(x), ["int64"]),
        (lambda lib, x: lib.nn.LPPool2d(1.5, 2)(x.abs()), ["int32"]),
        (lambda lib, x, y: lib.nn.PairwiseDistance()(x, y), ["int64", "int64"]),
        (lambda lib, x, y: lib.nn.PairwiseDistance()(x, y), ["int64", "float32"]),
        (lambda lib, x, y: lib.nn.PairwiseDistance()(x, y), ["float32", "float64"]),
        (lambda lib, x, y: lib.nn.CosineSimilarity()(x, y), ["float64", "int64"]),
        (lambda lib, x, y: lib.nn.CosineSimilarity()(x, y), ["float32", "float64"]),
        (lambda lib, x, y: lib.nn.functional.smooth_l1_loss(x, y), ["int64", "float32"]),
        (lambda lib, x, y: lib.nn.functional.mse_loss(x, y), ["int64", "float64"]),
        (lambda lib, x, y, z: lib.nn.TripletMarginLoss()(x, y, z), ["int64", "float64", "float64"]),
        (lambda lib, x, y, z: lib.nn.TripletMarginLoss()(x, y, z), ["int64"] * 3),
        (_GAUSS, ["int64", "float32", "float32"]),
        (_GAUSS, ["int64", "int64", "float64"]),
        (_GAUSS, ["float32", "float64", "float32"]),
        (lambda lib, x: lib.nn.Dropout(0.0)(x), ["int64"]),
        (lambda lib, x: lib.nn.Dropout(1.0)(x), ["int64"]),
        (lambda lib, x: lib.nn.Dropout(1.0, inplace=True)(x), ["int64"]),
        (lambda lib, x: lib.nn.Dropout(0.5).eval()(x), ["int32"]),
    ],
)
def test_integer_and_mixed_dtype_inputs_compute_as_torch(fn, dtypes):
    arrays = [(_INT if d.startswith("int") else _FLT + i).astype(d) for i, d in enumerate(dtypes)]
    ye = fn(ember, *map(ember.tensor, arrays))
    yt = fn(torch, *map(torch.tensor, arrays))
    assert ye.dtype == yt.dtype or str(ye.dtype) == str(yt.dtype).replace("torch.", "")
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: lib.nn.CosineSimilarity()(x, x),
        lambda lib, x: lib.nn.functional.smooth_l1_loss(x, x),
        lambda lib, x: lib.nn.functional.gaussian_nll_loss(x.double(), x.double(), x.abs()),
        lambda lib, x: lib.nn.Dropout(0.5)(x),
        lambda lib, x: lib.nn.LocalResponseNorm(2)(x > 0),
        lambda lib, x: lib.nn.LPPool1d(float("inf"), 2)(x),
    ],
)
def test_integer_inputs_torch_refuses_are_refused(fn):
    with pytest.raises((RuntimeError, NotImplementedError)):
        fn(torch, torch.tensor(_INT))
    with pytest.raises(TypeError):
        fn(ember, ember.tensor(_INT))


@pytest.mark.parametrize(
    "fn",
    [
        lambda lib, x: lib.nn.Dropout(0.0, inplace=True)(x),
        lambda lib, x: lib.nn.Dropout(0.5, inplace=True).eval()(x),
        lambda lib, x: lib.nn.functional.dropout(x, 0.0, True, True),
        lambda lib, x: lib.nn.functional.dropout1d(x, 0.0, True, True),
        lambda lib, x: lib.nn.functional.dropout2d(x, 0.0, True, True),
        lambda lib, x: lib.nn.functional.alpha_dropout(x, 0.0, True, True),
        lambda lib, x: lib.nn.functional.feature_alpha_dropout(x, 0.0, True, True),
    ],
)
def test_identity_dropout_in_place_on_a_leaf_returns_it_as_torch(fn):
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    for lib in (ember, torch):
        xt = lib.tensor(x.copy(), requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # dropout2d's of a 3-D input
            assert fn(lib, xt) is xt
        np.testing.assert_array_equal(xt.detach().numpy(), x)
    with pytest.raises(RuntimeError, match="leaf"):  # p > 0 still writes into it
        ember.nn.functional.dropout(ember.tensor(x, requires_grad=True), 0.5, True, True)


@pytest.mark.parametrize(
    "cls, shape",
    [("MaxUnpool1d", (1, 2, 1)), ("MaxUnpool2d", (1, 2, 1, 3)), ("MaxUnpool2d", (2, 1, 1))],
)
def test_max_unpool_to_an_empty_default_output_as_torch(cls, shape):
    # kernel 2, stride 1, padding 1: a size-1 dim unpools to (1 - 1) * 1 - 2 + 2 = 0
    x = np.random.default_rng(0).standard_normal(shape)
    i = np.zeros(shape, np.int64)
    ye = getattr(ember.nn, cls)(2, 1, 1)(ember.tensor(x), ember.tensor(i))
    yt = getattr(torch.nn, cls)(2, 1, 1)(torch.tensor(x), torch.tensor(i))
    assert ye.shape == tuple(yt.shape) and 0 in ye.shape
    with pytest.raises(ValueError, match="negative output size"):
        getattr(ember.nn, cls)(2, 1, 2)(ember.tensor(x), ember.tensor(i))
    with pytest.raises(ValueError):
        getattr(torch.nn, cls)(2, 1, 2)(torch.tensor(x), torch.tensor(i))


@pytest.mark.parametrize("swap", [False, True])
def test_triplet_margin_loss_p0_gives_no_gradient_as_torch(swap):
    # the 0-"norm" (a count of non-zeros) has no gradient in PyTorch: the inputs' stay None
    x = np.random.default_rng(0).standard_normal((3, 3, 4))
    (le, *ge), (lt, *gt) = _both(
        lambda lib, a, p, n: (lambda y: (y.backward(), (y, a.grad, p.grad, n.grad))[1])(
            lib.nn.TripletMarginLoss(p=0, swap=swap)(a, p, n)
        ),
        *x,
    )
    assert le.item() == lt.item()
    assert ge == gt == [None] * 3
    y = ember.tensor(x[0], requires_grad=True)
    with pytest.raises(RuntimeError, match="not have been used"):
        ember.autograd.grad(y.norm(0), y)
