"""The fast paths of the training-op speed sweep: hardtanh / relu6 / hardsigmoid / logsigmoid as
fused C++ activation kernels (values, gradients, NaN and inf against PyTorch and NumPy, gradcheck,
bad input to the kernel), dropout's chunked mask (the same generator stream as one draw), and
cross_entropy / nll_loss on K-dim input as one fused C++ node (against PyTorch and the 2-D path)."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

_SIXTH = float(np.float32(1 / 6))  # PyTorch's hardsigmoid backward constant, in float64 too

# (name, kwargs, NumPy f, NumPy f') in float64
KERNELS = [
    (
        "hardtanh",
        {},
        lambda x: np.clip(x, -1, 1),
        lambda x: ((x > -1) & (x < 1)).astype(float),
    ),
    (
        "hardtanh",
        {"min_val": -2.0, "max_val": 0.5},
        lambda x: np.clip(x, -2, 0.5),
        lambda x: ((x > -2) & (x < 0.5)).astype(float),
    ),
    ("relu6", {}, lambda x: np.clip(x, 0, 6), lambda x: ((x > 0) & (x < 6)).astype(float)),
    (
        "hardsigmoid",
        {},
        lambda x: np.clip(x + 3, 0, 6) / 6,
        lambda x: ((x > -3) & (x < 3)) * _SIXTH,
    ),
    (
        "logsigmoid",
        {},
        lambda x: np.minimum(x, 0) - np.log1p(np.exp(-np.abs(x))),
        lambda x: np.exp(-np.logaddexp(0, x)),  # sigmoid(-x), no overflow
    ),
]
IDS = [f"{n}-{kw}" for n, kw, _, _ in KERNELS]


def _inputs(dtype):
    x = np.random.default_rng(0).standard_normal(3001) * 5
    edges = [-1e4, -40, -6, -3, -2, -1, 0, 0.5, 1, 3, 6, 40, 1e4]
    return np.concatenate([x, edges]).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw,f,df", KERNELS, ids=IDS)
def test_matches_torch_and_numpy(name, kw, f, df, dtype):
    x = _inputs(dtype)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    xe = ember.tensor(x, requires_grad=True)
    y = getattr(F, name)(xe, **kw)
    y.backward(ember.tensor(g))
    assert y.dtype == dtype and xe.grad.dtype == dtype
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(TF, name)(xt, **kw)
    yt.backward(torch.tensor(g))
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y.numpy(), f(x64), **tol)
    np.testing.assert_allclose(xe.grad.numpy(), g * df(x64), **tol)
    if name != "logsigmoid":  # piecewise linear: the same roundings as PyTorch, bit for bit
        np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
        np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize("name,kw,f,df", KERNELS, ids=IDS)
def test_gradcheck(name, kw, f, df):
    x = np.array([-7.0, -3.5, -2.5, -1.7, -0.7, 0.3, 0.8, 1.1, 2.5, 4.0, 7.0])  # off the kinks
    assert gradcheck(lambda t: getattr(F, name)(t, **kw), (ember.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("name,kw,f,df", KERNELS, ids=IDS)
def test_nan_and_inf_as_torch(name, kw, f, df):
    # 64 entries: PyTorch's vectorised loop takes them all (its scalar tail, a tensor's last
    # few entries, lets a NaN x pass the gradient in hardtanh; its SIMD loop gives 0)
    x = np.resize(np.array([np.nan, np.inf, -np.inf, 2.0], np.float32), 64)
    g = np.resize(np.array([1.5, 1.0, 1.0, 1.0], np.float32), 64)
    xe = ember.tensor(x, requires_grad=True)
    y = getattr(F, name)(xe, **kw)
    y.backward(ember.tensor(g))
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(TF, name)(xt, **kw)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())  # NaN propagates
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


def test_kernels_refuse_bad_input():
    x = np.ones(4, np.float32)
    for name in ("hardtanh", "hardsigmoid", "logsigmoid"):
        with pytest.raises(TypeError, match="float32 or float64"):
            _C.activation_forward(name, np.ones(4, np.int64))
        with pytest.raises(ValueError, match="shape"):
            _C.activation_backward(name, x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="hardtanh needs min_val"):
        _C.activation_forward("hardtanh", x, alpha=1.0, beta=0.0)
    with pytest.raises(ValueError, match="hardtanh needs min_val"):
        _C.activation_backward("hardtanh", x, x, alpha=1.0, beta=0.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(ember.tensor(x), 1.0, 0.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("p", [0.1, 0.5, 1.0])
def test_dropout_mask_is_one_draw_of_the_generator(p, dtype):
    # more elements than one chunk of draws, and not a multiple of it
    shape = (3, 5, 2 * (1 << 15) // 15 + 7)
    ember.manual_seed(11)
    x = ember.tensor(np.random.default_rng(2).standard_normal(shape).astype(dtype))
    x.requires_grad_()
    y = F.dropout(x, p)
    ember.manual_seed(11)
    keep = ember.random.rng().random(shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (keep * scale).astype(dtype)
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), x.numpy() * mask)
    g = np.random.default_rng(3).standard_normal(shape).astype(dtype)
    y.backward(ember.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy(), g * mask)
    # the stream continues where one random(shape) call would leave it
    after = ember.random.rng().random(4)
    ember.manual_seed(11)
    ember.random.rng().random(shape)
    np.testing.assert_array_equal(after, ember.random.rng().random(4))


# ---- cross_entropy / nll_loss with K-dim (N, C, d1, ...) input: one fused node ----------------

KDIM_OPTS = [
    {},
    {"reduction": "sum"},
    {"reduction": "none"},
    {"ignore_index": 2},
    {"weight": True},
    {"weight": True, "ignore_index": 1, "reduction": "none"},
    {"label_smoothing": 0.2},
    {"label_smoothing": 0.1, "weight": True, "ignore_index": 0},
]


def _kdim_case(opts, dtype, shape=(3, 5, 4, 6)):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    t = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
    return x, t, kw


KDIM_CASES = [("cross_entropy", o) for o in KDIM_OPTS] + [
    ("nll_loss", o) for o in KDIM_OPTS if "label_smoothing" not in o
]


@pytest.mark.parametrize("shape", [(3, 5, 4, 6), (2, 20, 70)])  # 70: a partial block of 64
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("fn,opts", KDIM_CASES, ids=[f"{f}-{o}" for f, o in KDIM_CASES])
def test_kdim_class_index_losses_match_torch(fn, opts, dtype, shape):
    x, t, kw = _kdim_case(opts, dtype, shape)
    xe = ember.tensor(x, requires_grad=True)
    loss = getattr(F, fn)(xe, t, **kw)
    g = np.random.default_rng(5).standard_normal(loss.shape).astype(dtype)
    loss.backward(ember.tensor(g))
    tkw = {k: torch.tensor(v) if k == "weight" else v for k, v in kw.items()}
    xt = torch.tensor(x, requires_grad=True)
    lt = getattr(TF, fn)(xt, torch.tensor(t), **tkw)
    lt.backward(torch.tensor(g))
    assert loss.dtype == dtype and loss.shape == tuple(lt.shape)
    assert xe.grad.dtype == dtype and xe.grad.shape == x.shape
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(loss.numpy(), lt.detach().numpy(), **tol)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
    # the numbers of the (N*d, C) rows layout, which the 2-D path computes (sums over the
    # classes in another order: equal to rounding)
    rows = ember.tensor(np.moveaxis(x, 1, -1).reshape(-1, x.shape[1]), requires_grad=True)
    lr = getattr(F, fn)(rows, t.reshape(-1), **kw)
    lr.backward(ember.tensor(g.reshape(lr.shape)))
    np.testing.assert_allclose(loss.numpy(), lr.numpy().reshape(loss.shape), **tol)
    grows = np.moveaxis(rows.grad.numpy().reshape(x.shape[:1] + x.shape[2:] + x.shape[1:2]), -1, 1)
    np.testing.assert_allclose(xe.grad.numpy(), grows, **tol)


@pytest.mark.parametrize("opts", KDIM_OPTS[:2] + KDIM_OPTS[-2:], ids=str)
def test_kdim_cross_entropy_gradcheck(opts):
    x, t, kw = _kdim_case(opts, np.float64, shape=(2, 3, 2, 3))
    assert gradcheck(lambda a: F.cross_entropy(a, t, **kw), (ember.tensor(x, requires_grad=True),))


def test_kdim_bad_and_empty_inputs_keep_their_behaviour():
    x = np.zeros((2, 3, 4), np.float32)
    with pytest.raises(ValueError, match="expects target shape"):
        F.cross_entropy(x, np.zeros((2, 5), np.int64))
    with pytest.raises(ValueError, match="out of bounds"):
        F.cross_entropy(x, np.full((2, 4), 3))
    xe = ember.tensor(np.zeros((0, 3, 4), np.float32), requires_grad=True)
    loss = F.cross_entropy(xe, np.zeros((0, 4), np.int64), reduction="sum")
    loss.backward()
    assert loss.item() == 0 and xe.grad.shape == (0, 3, 4)
    xs = ember.tensor(np.ones((2, 3, 4)).transpose(0, 1, 2)[:, :, ::2], requires_grad=True)
    F.cross_entropy(xs, np.zeros((2, 2), np.int64)).backward()  # a strided input
    np.testing.assert_allclose(xs.grad.numpy()[:, 0], -1 / 4 + 1 / 12)


def test_kdim_kernel_checks_shapes_and_keeps_its_bits_across_threads():
    x = np.random.default_rng(6).standard_normal((2, 3, 130)).astype(np.float32)
    t = np.random.default_rng(7).integers(0, 3, (2, 130))
    with pytest.raises(ValueError, match="target"):
        _C.cross_entropy_forward(x, t[:, :5])
    with pytest.raises(ValueError, match="2-D"):
        _C.cross_entropy_forward(x[0, 0], t[0, :1])
    loss, lse, wsum, _ = _C.cross_entropy_forward(x, t, reduction="none")
    assert loss.shape == lse.shape == (2, 130) and wsum == 260
    with pytest.raises(ValueError, match="grad"):
        _C.cross_entropy_backward(x, lse, t, np.ones(260, np.float32), reduction="none")
    with pytest.raises(ValueError, match="lse"):
        _C.cross_entropy_backward(x, lse[:, :5], t, np.ones((2, 130), np.float32))
    big = np.random.default_rng(8).standard_normal((4, 21, 40, 40)).astype(np.float32)
    tb = np.random.default_rng(9).integers(0, 21, (4, 40, 40))
    runs, before = [], ember.get_num_threads()
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            loss, lse, ws, _ = _C.cross_entropy_forward(big, tb, label_smoothing=0.1)
            dx = _C.cross_entropy_backward(big, lse, tb, np.ones((), np.float32), None, -100, 0.1)
            runs.append((loss, dx))
    finally:
        ember.set_num_threads(before)
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    np.testing.assert_array_equal(runs[0][1], runs[1][1])
