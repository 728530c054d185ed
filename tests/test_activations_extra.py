"""The activations beyond the fused C++ ones, against PyTorch: values and gradients in float32
and float64 (extremes included), float64 gradcheck, modules, and bad arguments."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# (ember functional, torch functional, kwargs)
POINTWISE = [
    ("silu", {}),
    ("mish", {}),
    ("selu", {}),
    ("celu", {}),
    ("celu", {"alpha": 0.5}),
    ("relu6", {}),
    ("hardtanh", {}),
    ("hardtanh", {"min_val": -2.0, "max_val": 0.5}),
    ("hardsigmoid", {}),
    ("hardswish", {}),
    ("softsign", {}),
    ("logsigmoid", {}),
    ("tanhshrink", {}),
    ("softshrink", {}),
    ("softshrink", {"lambd": 1.5}),
    ("hardshrink", {}),
    ("hardshrink", {"lambd": 0.0}),
    ("threshold", {"threshold": 0.1, "value": 20.0}),
]


def _inputs(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(200) * 4
    kinks = [-6.0, -3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.1, 0.5, 1.0, 1.5, 3.0, 6.0]
    extremes = [-1e4, -1e3, -100.0, -30.0, 30.0, 100.0, 1e3, 1e4]
    return np.concatenate([x, kinks, extremes]).astype(dtype)


@pytest.mark.parametrize("name,kw", POINTWISE)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pointwise_matches_torch(name, kw, dtype):
    x = _inputs(dtype)
    xe = ember.tensor(x, requires_grad=True)
    y = getattr(F, name)(xe, **kw)
    assert y.dtype == dtype
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    (y * ember.tensor(g)).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(TF, name)(xt, **kw)
    (yt * torch.tensor(g)).sum().backward()
    tol = 1e-6 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=tol * 10, atol=tol)
    assert np.all(np.isfinite(y.numpy()))


@pytest.mark.parametrize("name,kw", POINTWISE)
def test_pointwise_gradcheck(name, kw):
    # points away from the kinks (finite differences straddle them)
    rng = np.random.default_rng(2)
    x = rng.uniform(-5, 5, 40)
    kinks = np.array([-3.0, -2.0, -1.5, -1.0, -0.5, 0.0, 0.1, 0.5, 1.0, 1.5, 3.0, 6.0])
    x = x[np.min(np.abs(x[:, None] - kinks), axis=1) > 1e-3]
    xe = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: getattr(F, name)(t, **kw), (xe,))


MODULES = [
    ("SiLU", {}),
    ("Mish", {}),
    ("SELU", {}),
    ("CELU", {"alpha": 2.0}),
    ("ReLU6", {}),
    ("Hardtanh", {"min_val": -0.5, "max_val": 2.0}),
    ("Hardsigmoid", {}),
    ("Hardswish", {}),
    ("Softsign", {}),
    ("LogSigmoid", {}),
    ("Tanhshrink", {}),
    ("Softshrink", {"lambd": 0.3}),
    ("Hardshrink", {"lambd": 0.3}),
    ("Threshold", {"threshold": 0.2, "value": -1.0}),
    ("Softmin", {"dim": 1}),
    ("GLU", {"dim": 1}),
    ("GLU", {}),
]


@pytest.mark.parametrize("name,kw", MODULES)
def test_modules_match_torch(name, kw):
    x = np.random.default_rng(3).standard_normal((3, 4, 6)).astype(np.float32) * 3
    m, mt = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    np.testing.assert_allclose(
        m(ember.tensor(x)).numpy(), mt(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6
    )
    assert repr(m) == repr(mt)


@pytest.mark.parametrize(
    "name", ["SiLU", "Mish", "SELU", "CELU", "ReLU6", "Hardtanh", "Hardsigmoid", "Hardswish"]
)
def test_inplace_flag_is_accepted(name):
    m = getattr(nn, name)(inplace=True)
    assert m.inplace and repr(m) == repr(getattr(torch.nn, name)(inplace=True))
    x = ember.tensor([-1.0, 2.0])
    np.testing.assert_allclose(
        m(x).numpy(), getattr(torch.nn, name)()(torch.tensor([-1.0, 2.0])), rtol=1e-6
    )
    assert nn.Threshold(0.0, 1.0, inplace=True).inplace


def test_functional_inplace_keyword():
    for name in ["silu", "mish", "selu", "celu", "relu6", "hardtanh", "hardsigmoid", "hardswish"]:
        x = ember.tensor([-4.0, 0.5, 7.0])
        y = getattr(F, name)(x, inplace=True)
        assert y is x  # written into the input, as PyTorch
        np.testing.assert_allclose(
            x.numpy(), getattr(TF, name)(torch.tensor([-4.0, 0.5, 7.0])).numpy(), rtol=1e-6
        )
    x = ember.tensor([-4.0, 0.5, 7.0])
    np.testing.assert_allclose(F.threshold(x, 1.0, 0.0, inplace=True).numpy(), [0, 0, 7])


@pytest.mark.parametrize(
    "shape,dim",
    [
        ((5,), None),
        ((3, 4), None),
        ((2, 3, 4), None),
        ((2, 3, 4, 5), None),
        ((2, 3, 4), -1),
        ((2, 3), 0),
    ],
)
def test_softmin(shape, dim):
    x = np.random.default_rng(4).standard_normal(shape) * 5
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    g = np.random.default_rng(5).standard_normal(shape)
    with pytest.warns(UserWarning, match="softmin") if dim is None else _nothing():
        y = F.softmin(xe, dim)
    with pytest.warns(UserWarning) if dim is None else _nothing():
        yt = TF.softmin(xt, dim)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    (y * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    with pytest.warns(UserWarning, match="softmin") if dim is None else _nothing():
        assert gradcheck(lambda t: F.softmin(t, dim), (ember.tensor(x, requires_grad=True),))
        y = F.softmin(ember.tensor(x.astype(np.float32)), dim, dtype=np.float64)
    assert y.dtype == np.float64


class _nothing:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


@pytest.mark.parametrize("shape,dim", [((4,), -1), ((3, 6), 1), ((4, 3), 0), ((2, 4, 6, 2), 2)])
def test_glu(shape, dim):
    x = np.random.default_rng(6).standard_normal(shape) * 3
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = F.glu(xe, dim), TF.glu(xt, dim)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(7).standard_normal(y.shape)
    (y * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    assert gradcheck(lambda t: F.glu(t, dim), (ember.tensor(x, requires_grad=True),))


@pytest.mark.parametrize(
    "shape,n",
    [
        ((5,), 1),
        ((4, 3), 1),
        ((4, 3), 3),
        ((2, 3, 5), 3),
        ((2, 4, 3, 3), 4),
        ((2, 4, 3, 3), 1),
        ((), 1),
    ],
)
def test_prelu_matches_torch(shape, n):
    rng = np.random.default_rng(8)
    x = rng.standard_normal(shape)
    x = np.where(np.abs(x) < 1e-3, 0.5, x)
    m = nn.PReLU(n, dtype=np.float64)
    mt = torch.nn.PReLU(n, dtype=torch.float64)
    w = rng.uniform(-0.5, 0.5, n)
    m.weight.data[...] = w
    with torch.no_grad():
        mt.weight.copy_(torch.tensor(w))
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = m(xe), mt(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    g = rng.standard_normal(shape)
    (y * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(m.weight.grad.numpy(), mt.weight.grad.numpy(), rtol=1e-10)
    xg = ember.tensor(x, requires_grad=True)
    wg = ember.tensor(w, requires_grad=True)
    assert gradcheck(F.prelu, (xg, wg))


def test_prelu_module_defaults_and_state_dict():
    m = nn.PReLU()
    assert m.weight.shape == (1,) and m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.weight.numpy(), [0.25])
    m3 = nn.PReLU(num_parameters=3, init=0.1)
    np.testing.assert_allclose(m3.weight.numpy(), [0.1] * 3)
    assert list(m3.state_dict()) == list(torch.nn.PReLU(3).state_dict()) == ["weight"]
    assert [n for n, _ in m3.named_parameters()] == ["weight"]
    assert repr(m3) == repr(torch.nn.PReLU(3))
    m3.weight.data[...] = 7
    m3.reset_parameters()
    np.testing.assert_allclose(m3.weight.numpy(), [0.1] * 3)


def test_stable_at_extremes_without_warnings():
    x = ember.tensor(np.array([-1e4, -800.0, 800.0, 1e4], dtype=np.float32), requires_grad=True)
    for fn in (F.logsigmoid, F.mish, F.silu, F.selu, F.celu, F.softsign, F.tanhshrink):
        y = fn(x)
        y.sum().backward()
        assert np.all(np.isfinite(y.numpy())) and np.all(np.isfinite(x.grad.numpy()))
        x.grad = None
    np.testing.assert_allclose(F.logsigmoid(x).numpy(), [-1e4, -800, 0, 0])
    np.testing.assert_allclose(F.mish(x).numpy(), [0, 0, 800, 1e4])


def test_bad_arguments():
    x = ember.randn(4, 3)
    with pytest.raises(ValueError, match="alpha cannot be 0"):
        F.celu(x, alpha=0.0)
    with pytest.raises(ValueError, match="alpha cannot be 0"):
        nn.CELU(0.0)
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(ValueError, match="must be greater than min_val"):
        nn.Hardtanh(1.0, 1.0)
    with pytest.raises(ValueError, match="lambd must be >= 0"):
        F.softshrink(x, -1.0)
    with pytest.raises(ValueError, match="halving dimension must be even"):
        F.glu(x, 1)
    with pytest.raises(ValueError, match="does not support scalars"):
        F.glu(ember.tensor(1.0))
    with pytest.raises(IndexError, match="out of range"):
        F.glu(x, 2)
    with pytest.raises(IndexError, match="out of range"):
        F.softmin(x, 3)
    with pytest.raises(ValueError, match="channel size"):
        F.prelu(x, ember.ones(2))
    with pytest.raises(ValueError, match="channel size"):
        nn.PReLU(4)(x)
    with pytest.raises(ValueError, match="num_parameters must be positive"):
        nn.PReLU(0)
    with pytest.raises(TypeError, match="floating point"):
        F.silu(ember.tensor(np.array([1, 2])))
    with pytest.raises(TypeError, match="threshold"):
        nn.Threshold()


def test_rrelu_eval_matches_pytorch_and_training_draws_slopes():
    x = np.random.default_rng(9).standard_normal((50, 40))
    for lo, hi in [(1 / 8, 1 / 3), (0.1, 0.1), (0.0, 0.5)]:
        y = F.rrelu(ember.tensor(x), lo, hi)  # functional default: training=False
        np.testing.assert_allclose(y.numpy(), TF.rrelu(torch.tensor(x), lo, hi).numpy(), rtol=1e-12)
    m = nn.RReLU(0.1, 0.3)
    assert repr(m) == repr(torch.nn.RReLU(0.1, 0.3))
    ember.manual_seed(0)
    xe = ember.tensor(x, requires_grad=True)
    y = m(xe)
    slope = y.numpy()[x < 0] / x[x < 0]
    assert slope.min() >= 0.1 and slope.max() <= 0.3 and slope.std() > 0.05
    np.testing.assert_array_equal(y.numpy()[x > 0], x[x > 0])
    y.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy()[x < 0], slope)
    np.testing.assert_array_equal(xe.grad.numpy()[x > 0], 1)
    m.eval()
    np.testing.assert_allclose(m(ember.tensor(x)).numpy(), np.where(x > 0, x, 0.2 * x))
    with pytest.raises(ValueError, match="lower"):
        F.rrelu(ember.ones(2), 0.5, 0.1)
    with pytest.raises(ValueError, match="lower"):
        nn.RReLU(0.5, 0.1)


@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (3, 4, 5)])
def test_softmax2d(shape):
    x = np.random.default_rng(10).standard_normal(shape)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, yt = nn.Softmax2d()(xe), torch.nn.Softmax2d()(xt)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-12)
    g = np.random.default_rng(11).standard_normal(shape)
    (y * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="3D or 4D"):
        nn.Softmax2d()(ember.ones(2, 3))
