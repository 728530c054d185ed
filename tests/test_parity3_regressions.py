"""Differences from PyTorch found by the third differential sweep, each pinned against torch
(pytest.importorskip) and, where there is one, a NumPy reference."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _same(e, t, rtol=1e-6, atol=0.0):
    t = t.detach()
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_allclose(
        np.asarray(e.detach().numpy(), np.float64),
        t.numpy().astype(np.float64),
        rtol=rtol,
        atol=atol,
    )


# ---- 1. addcmul / addcdiv promote their factors before multiplying -------------------------


@pytest.mark.parametrize(
    "in_dtype, value",
    [(np.float32, 1), (np.float32, 2), (np.int64, 1), (np.int64, 0.5), (np.uint8, 2)],
)
def test_addcmul_promotes_uint8_factors_first(in_dtype, value):
    a = np.array([200, 100, 7], np.uint8)
    base = np.array([1, 2, 3], in_dtype)
    e = ember.addcmul(ember.tensor(base), ember.tensor(a), ember.tensor(a), value=value)
    t = torch.addcmul(torch.tensor(base), torch.tensor(a), torch.tensor(a), value=value)
    _same(e, t)
    if in_dtype == np.float32:  # NumPy: the product in float, no uint8 wrap (200 * 200)
        ref = base + value * a.astype(np.float32) ** 2
        np.testing.assert_allclose(e.numpy(), ref)


def test_addcmul_in_place_and_addcdiv_follow_torch():
    a = np.array([200, 100], np.uint8)
    e = ember.zeros(2).addcmul_(ember.tensor(a), ember.tensor(a))
    t = torch.zeros(2).addcmul_(torch.tensor(a), torch.tensor(a))
    _same(e, t)
    e = ember.zeros(2, dtype=ember.int64).addcmul_(ember.tensor(a), ember.tensor(a))
    _same(e, torch.zeros(2, dtype=torch.int64).addcmul_(torch.tensor(a), torch.tensor(a)))
    with pytest.raises(RuntimeError):  # torch refuses integer division in addcdiv
        torch.addcdiv(torch.zeros(2), torch.tensor(a), torch.tensor(a))
    with pytest.raises(RuntimeError, match="addcdiv"):
        ember.addcdiv(ember.zeros(2), ember.tensor(a), ember.tensor(a))
    b = np.array([True, False])
    with pytest.raises(NotImplementedError):
        torch.addcmul(torch.tensor(b), torch.tensor(b), torch.tensor(b))
    with pytest.raises(TypeError, match="bool"):
        ember.addcmul(ember.tensor(b), ember.tensor(b), ember.tensor(b))


def test_addcmul_keeps_gradients():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = ember.addcmul(ember.zeros(2), x, ember.tensor(np.array([3, 4], np.uint8)))
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 4.0])


# ---- 2. median of an empty integer tensor ---------------------------------------------------


@pytest.mark.parametrize(
    "dtype", [np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_, np.float64]
)
@pytest.mark.parametrize("op", ["median", "nanmedian"])
def test_median_of_empty_keeps_dtype_as_torch(op, dtype):
    e = getattr(ember, op)(ember.tensor(np.zeros((2, 0), dtype)))
    t = getattr(torch, op)(torch.tensor(np.zeros((2, 0), dtype)))
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    assert e.shape == ()
    if dtype == np.float64:
        assert np.isnan(e.item()) and np.isnan(t.item())
    else:
        assert e.item() == t.item()


def test_median_refuses_bool_as_torch():
    b = np.array([True, False, True])
    for call in (lambda m: m.median(m.tensor(b)), lambda m: m.median(m.tensor(b), 0)):
        with pytest.raises(NotImplementedError):
            call(torch)
        with pytest.raises(TypeError, match="bool"):
            call(ember)


# ---- 3. pow of a bool tensor by a Python bool -----------------------------------------------


@pytest.mark.parametrize("exponent", [True, False, 2, 0, 2.0])
def test_pow_bool_tensor_scalar_exponent_dtype(exponent):
    b = np.array([True, False])
    _same(ember.pow(ember.tensor(b), exponent), torch.pow(torch.tensor(b), exponent))
    _same(ember.tensor(b) ** exponent, torch.tensor(b) ** exponent)


def test_pow_two_bool_tensors_and_negative_exponent_refused_as_torch():
    b = np.array([True, False])
    for call in (
        lambda m: m.pow(m.tensor(b), m.tensor(True)),
        lambda m: m.pow(True, m.tensor(b)),
    ):
        with pytest.raises(NotImplementedError):
            call(torch)
        with pytest.raises(TypeError, match="bool"):
            call(ember)
    with pytest.raises(RuntimeError):
        torch.pow(torch.tensor(b), -1)
    with pytest.raises(ValueError, match="negative"):
        ember.pow(ember.tensor(b), -1)


# ---- 4. only what backward needs is kept (in-place writes after the op) ---------------------


def _write_after(lib, fn, which):
    """fn's result, then an in-place write into input (which='x') or its output ('y'), then
    backward: None when it went through, else the exception's type."""
    F_ = TF if lib is torch else F
    x = lib.tensor(np.array([[0.5, -1.5, 2.0], [1.0, 3.0, -0.25]]), requires_grad=True)
    h = x * 1
    y = fn(lib, F_, h)
    (h if which == "x" else y).mul_(2)
    try:
        y.sum().backward()
    except RuntimeError:
        return RuntimeError
    return None


CASES = {
    "l1_loss": lambda m, F_, h: F_.l1_loss(h, m.tensor(np.ones((2, 3)))),
    "l1_loss_sum": lambda m, F_, h: F_.l1_loss(h, m.tensor(np.ones((2, 3))), reduction="sum"),
    "l1_loss_none": lambda m, F_, h: F_.l1_loss(h, m.tensor(np.ones((2, 3))), reduction="none"),
    "mse_loss": lambda m, F_, h: F_.mse_loss(h, m.tensor(np.ones((2, 3)))),
    "cross_entropy": lambda m, F_, h: F_.cross_entropy(h, m.tensor(np.array([0, 2]))),
    "cross_entropy_ls": lambda m, F_, h: F_.cross_entropy(
        h, m.tensor(np.array([0, 2])), label_smoothing=0.2, reduction="none"
    ),
    "nll_loss": lambda m, F_, h: F_.nll_loss(h, m.tensor(np.array([0, 2]))),
    "fmod": lambda m, F_, h: m.fmod(h, 0.75),
    "remainder": lambda m, F_, h: m.remainder(h, m.tensor(np.full((2, 3), 0.75))),
}


@pytest.mark.parametrize(
    "name, which", [(n, "x") for n in sorted(CASES)] + [("fmod", "y"), ("remainder", "y")]
)
def test_in_place_write_after_op_raises_exactly_where_torch_does(name, which):
    fn = CASES[name]
    assert _write_after(ember, fn, which) is _write_after(torch, fn, which)


@pytest.mark.parametrize("op", ["fmod", "remainder"])
def test_fmod_remainder_gradients_unchanged(op):
    # the divisor's gradient still needs both operands (and is refused after a write, as torch)
    a0, b0 = np.array([2.5, -3.7, 5.0]), np.array([0.75, 1.5, -2.0])
    for lib in (ember, torch):
        a, b = lib.tensor(a0, requires_grad=True), lib.tensor(b0, requires_grad=True)
        getattr(lib, op)(a, b).sum().backward()
        if lib is ember:
            ga, gb = a.grad.numpy(), b.grad.numpy()
        else:
            np.testing.assert_allclose(ga, a.grad.numpy())
            np.testing.assert_allclose(gb, b.grad.numpy())
    q = np.trunc(a0 / b0) if op == "fmod" else np.floor(a0 / b0)
    np.testing.assert_allclose(gb, -q)  # NumPy reference: d/db (a - q b) = -q
    a = ember.tensor(a0, requires_grad=True)
    y = getattr(ember, op)(a, 0.75)
    g = ember.autograd.grad(y.sum(), a, create_graph=True)[0]
    np.testing.assert_allclose(g.numpy(), np.ones(3))


def test_cross_entropy_gradient_after_saving_log_softmax():
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((5, 4, 3)) * 4
    t0 = rng.integers(0, 4, (5, 3))
    w0 = rng.uniform(0.5, 2, 4)
    for kw in (dict(), dict(weight=w0, label_smoothing=0.3, ignore_index=1)):
        xe = ember.tensor(x0, requires_grad=True)
        xt = torch.tensor(x0, requires_grad=True)
        ke = {k: ember.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        kt = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        le = F.cross_entropy(xe, ember.tensor(t0), **ke)
        lt = TF.cross_entropy(xt, torch.tensor(t0), **kt)
        le.backward()
        lt.backward()
        _same(le, lt, rtol=1e-12)
        _same(xe.grad, xt.grad, rtol=1e-10, atol=1e-14)


# ---- 5. searchsorted compares in torch's result type ----------------------------------------


@pytest.mark.parametrize(
    "value, right",
    [(-1, False), (-1, True), (300, False), (5.5, False), (-1.5, False), (5, True)],
)
def test_searchsorted_uint8_sequence_with_python_scalars(value, right):
    s = np.array([0, 5, 10], np.uint8)
    e = ember.searchsorted(ember.tensor(s), value, right=right)
    t = torch.searchsorted(torch.tensor(s), value, right=right)
    _same(e, t)


def test_searchsorted_uint8_sequence_with_tensors():
    s = np.array([0, 5, 10], np.uint8)
    for v in (np.array([-1, 3, 300]), np.array(-1), np.array([-1], np.int8), np.array([5.5, -1])):
        e = ember.searchsorted(ember.tensor(s), ember.tensor(v))
        t = torch.searchsorted(torch.tensor(s), torch.tensor(v))
        _same(e, t)
    # NumPy reference for the int64 tensor: compared as int64, -1 goes first
    np.testing.assert_array_equal(
        ember.searchsorted(ember.tensor(s), ember.tensor(np.array([-1, 3, 300]))).numpy(),
        np.searchsorted(s.astype(np.int64), [-1, 3, 300]),
    )
    _same(ember.bucketize(-1, ember.tensor(s)), torch.bucketize(-1, torch.tensor(s)))


# ---- 6. negative eps and num_features: computed where torch computes ------------------------


def test_group_layer_instance_norm_with_negative_eps_compute_nan_as_torch():
    x = np.random.default_rng(1).standard_normal((2, 4, 3)).astype(np.float32)
    x[1, :2] *= 3  # one group with var > 1: finite there
    xe, xt = ember.tensor(x), torch.tensor(x)
    _same(F.group_norm(xe, 2, eps=-1.0), TF.group_norm(xt, 2, eps=-1.0), rtol=1e-5)
    _same(nn.GroupNorm(2, 4, eps=-1)(xe), torch.nn.GroupNorm(2, 4, eps=-1)(xt), rtol=1e-5)
    _same(F.layer_norm(xe, (3,), eps=-0.5), TF.layer_norm(xt, (3,), eps=-0.5), rtol=1e-5)
    _same(F.instance_norm(xe, eps=-1.0), TF.instance_norm(xt, eps=-1.0), rtol=1e-5)
    # NumPy reference: 1 / sqrt(var - 1) is NaN where var < 1
    xr = x.reshape(2, 2, 6).astype(np.float64)
    with np.errstate(invalid="ignore"):
        ref = (xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) - 1)
    np.testing.assert_allclose(
        F.group_norm(xe, 2, eps=-1.0).numpy(), ref.reshape(x.shape), rtol=1e-4, atol=1e-5
    )


def test_instance_norm_negative_num_features_constructs_as_torch():
    x = np.random.default_rng(2).standard_normal((2, 3, 4, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # both warn that num_features does not match
        ye = nn.InstanceNorm2d(-1)(ember.tensor(x))
        yt = torch.nn.InstanceNorm2d(-1)(torch.tensor(x))
    _same(ye, yt, rtol=1e-5, atol=1e-6)
    for kw in (dict(affine=True), dict(track_running_stats=True)):
        with pytest.raises(RuntimeError):
            torch.nn.InstanceNorm2d(-1, **kw)
        with pytest.raises(ValueError, match="num_features"):
            nn.InstanceNorm2d(-1, **kw)
    assert nn.BatchNorm2d(0).weight.shape == tuple(torch.nn.BatchNorm2d(0).weight.shape)


# ---- 7. LPPool on integer input; circular padding modules check the rank --------------------


@pytest.mark.parametrize("dtype", [np.int64, np.uint8])
@pytest.mark.parametrize("p", [math.inf, -math.inf, 1, 2, 2.0])
def test_lp_pool_integer_input_follows_torch(p, dtype):
    x = np.arange(32).reshape(1, 2, 4, 4).astype(dtype)
    calls = [
        lambda F_: F_.lp_pool2d(x_(F_), p, 2),
        lambda F_: F_.lp_pool1d(x_(F_)[0], p, 2),
        lambda F_: F_.lp_pool3d(x_(F_).reshape(1, 2, 2, 2, 4), p, 2),
    ]

    def x_(F_):
        return torch.tensor(x) if F_ is TF else ember.tensor(x)

    for call in calls:
        try:
            t = call(TF)
        except (RuntimeError, NotImplementedError):
            with pytest.raises((TypeError, ValueError, RuntimeError)):
                call(F)
            continue
        _same(call(F), t, rtol=1e-6)
    if p == math.inf:  # NumPy reference: the window max of |x|, in x's dtype
        ref = x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5))
        np.testing.assert_array_equal(F.lp_pool2d(ember.tensor(x), p, 2).numpy(), ref)


def test_lp_pool_module_float_norm_on_integer_input():
    x = np.arange(16).reshape(1, 1, 4, 4)
    _same(nn.LPPool2d(2, 2)(ember.tensor(x)), torch.nn.LPPool2d(2, 2)(torch.tensor(x)))
    _same(
        nn.LPPool2d(math.inf, 2)(ember.tensor(x)), torch.nn.LPPool2d(math.inf, 2)(torch.tensor(x))
    )


@pytest.mark.parametrize(
    "module, pad, shape",
    [
        ("CircularPad2d", (1, 1, 1, 1, 1, 1), (1, 1, 2, 3, 3)),
        ("CircularPad2d", (1, 1, 1, 1), (1, 1, 2, 3, 3)),
        ("CircularPad1d", (1, 1, 1, 1), (1, 2, 3, 3)),
        ("CircularPad3d", 1, (2, 3)),
        ("CircularPad2d", 1, (2, 3, 3)),
        ("CircularPad1d", 1, (2, 3)),
        ("ReflectionPad2d", (1, 1, 1, 1, 1, 1), (1, 1, 2, 3, 3)),
    ],
)
def test_circular_pad_modules_check_rank_as_torch(module, pad, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    try:
        t = getattr(torch.nn, module)(pad)(torch.tensor(x))
    except (ValueError, NotImplementedError, RuntimeError):
        with pytest.raises(ValueError):
            getattr(nn, module)(pad)(ember.tensor(x))
        return
    _same(getattr(nn, module)(pad)(ember.tensor(x)), t, rtol=0)


# ---- 8. float32 arange bit for bit ----------------------------------------------------------


@pytest.mark.parametrize(
    "start, end, step",
    [
        (0, 1, 0.1),
        (13.7, 17.91, 0.1),
        (-3.3, 40.0, 1 / 3),
        (100.0, -5.0, -0.37),
        (0.5, 70000.5, 0.999),  # more than one thread's range (32768 values a thread)
    ],
)
def test_arange_float32_matches_torch_bit_for_bit(start, end, step):
    t = torch.arange(start, end, step, dtype=torch.float32).numpy()
    e = ember.arange(start, end, step).numpy()
    assert e.dtype == np.float32
    np.testing.assert_array_equal(e, t)
    # NumPy reference within a float32 rounding: start + i * step in double
    ref = start + step * np.arange(len(t), dtype=np.float64)
    np.testing.assert_allclose(e, ref, rtol=2e-7, atol=2e-7 * abs(step))


# ---- from the randomized sweep --------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.int8, np.bool_])
@pytest.mark.parametrize("op", ["cross_entropy", "nll_loss"])
def test_class_index_targets_must_be_int64_or_uint8_as_torch(op, dtype):
    x = np.random.default_rng(4).standard_normal((3, 4))
    t = np.array([1, 0, 1]).astype(dtype)
    with pytest.raises(RuntimeError):
        getattr(TF, op)(torch.tensor(x), torch.tensor(t))
    with pytest.raises(TypeError, match="int64 or uint8"):
        getattr(F, op)(ember.tensor(x), ember.tensor(t))
    t8 = np.array([1, 0, 3], np.uint8)  # uint8 is taken
    _same(
        getattr(F, op)(ember.tensor(x), ember.tensor(t8)),
        getattr(TF, op)(torch.tensor(x), torch.tensor(t8)),
        rtol=1e-12,
    )


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "softmin"])
def test_softmax_family_casts_an_integer_input_to_dtype_first(op):
    x = np.array([[1, -2, 0], [3, 0, 5]])
    e = getattr(F, op)(ember.tensor(x), 1, dtype=ember.float64)
    t = getattr(TF, op)(torch.tensor(x), 1, dtype=torch.float64)
    _same(e, t, rtol=1e-12)
    with pytest.raises(RuntimeError):  # without dtype both refuse an integer input
        getattr(TF, op)(torch.tensor(x), 1)
    with pytest.raises(TypeError):
        getattr(F, op)(ember.tensor(x), 1)
    sm = np.exp(x - x.max(1, keepdims=True))  # NumPy reference for softmax
    if op == "softmax":
        np.testing.assert_allclose(e.numpy(), sm / sm.sum(1, keepdims=True), rtol=1e-12)


def test_softmin_of_bool_refused_even_with_dtype_as_torch():
    b = np.array([True, False])
    with pytest.raises(RuntimeError):
        TF.softmin(torch.tensor(b), 0, dtype=torch.float64)
    with pytest.raises(TypeError, match="bool"):
        F.softmin(ember.tensor(b), 0, dtype=ember.float64)


@pytest.mark.parametrize("op", ["alpha_dropout", "feature_alpha_dropout"])
def test_alpha_dropout_outside_training_passes_any_dtype_through(op):
    x = np.array([[1, -2], [3, 0]])
    _same(getattr(F, op)(ember.tensor(x), 0.5, False), getattr(TF, op)(torch.tensor(x), 0.5, False))


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.argmax(m.tensor(np.array([True, False]))),
        lambda m: m.argmin(m.tensor(np.array([True, False])), 0),
        lambda m: m.kthvalue(m.tensor(np.array([True, False])), 1),
    ],
)
def test_bool_selections_refused_as_torch(call):
    with pytest.raises((RuntimeError, NotImplementedError)):
        call(torch)
    with pytest.raises(TypeError, match="bool"):
        call(ember)


@pytest.mark.parametrize("shape, k, dim", [((2, 0), 0, -1), ((0, 3), 2, 1), ((2, 0), 0, 0)])
def test_topk_of_empty_input(shape, k, dim):
    e = ember.topk(ember.zeros(shape), k, dim)
    t = torch.topk(torch.zeros(shape), k, dim)
    _same(e.values, t.values)
    _same(e.indices, t.indices)


def test_median_of_empty_float_stays_in_the_graph():
    x = ember.zeros((2, 0), requires_grad=True)
    xt = torch.zeros((2, 0), requires_grad=True)
    m, mt = ember.median(x), torch.median(xt)
    assert m.requires_grad and mt.requires_grad and np.isnan(m.item())
    m.backward()
    mt.backward()
    _same(x.grad, xt.grad)


@pytest.mark.parametrize("op", ["abs", "absolute", "floor", "ceil", "round", "trunc", "fix"])
def test_bool_unary_ops_refused_as_torch(op):
    b = np.array([True, False])
    with pytest.raises(NotImplementedError):
        getattr(torch, op)(torch.tensor(b))
    with pytest.raises(TypeError):
        getattr(ember, op)(ember.tensor(b))
    _same(ember.sign(ember.tensor(b)), torch.sign(torch.tensor(b)))  # sign takes bool


# ---- l1 gradients at a NaN difference: torch's sign(NaN) is 0 ------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize(
    "loss", [("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.0}), ("smooth_l1_loss", {"beta": 1.0})]
)
@pytest.mark.parametrize("graph", [False, True])
def test_l1_gradient_of_a_nan_difference_as_torch(dtype, reduction, loss, graph):
    name, kw = loss
    x = np.array([np.nan, 1.5, 0.0, -2.0, np.inf], dtype)
    t = np.array([0.0, np.nan, 0.0, 1.0, np.inf], dtype)
    ex, et = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
    tx, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    ey, ty = (
        getattr(F, name)(ex, et, reduction=reduction, **kw),
        getattr(TF, name)(tx, tt, reduction=reduction, **kw),
    )
    eg = ember.autograd.grad(ey.sum(), (ex, et), create_graph=graph)
    tg = torch.autograd.grad(ty.sum(), (tx, tt))
    for e, t_ in zip(eg, tg, strict=True):
        _same(e, t_)
