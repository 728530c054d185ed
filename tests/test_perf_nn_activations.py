"""silu, mish and hardswish as fused C++ kernels (_C.activation_forward / _backward): values
and gradients against PyTorch and NumPy in float32 and float64, gradcheck, edge values and
bad input to the kernels."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


# name -> (f, f') in float64 NumPy
REF = {
    "silu": (lambda x: x * _sigmoid(x), lambda x: _sigmoid(x) * (1 + x * (1 - _sigmoid(x)))),
    "mish": (
        lambda x: x * np.tanh(_softplus(x)),
        lambda x: np.tanh(_softplus(x)) + x * _sigmoid(x) * (1 - np.tanh(_softplus(x)) ** 2),
    ),
    "hardswish": (
        lambda x: x * np.clip(x + 3, 0, 6) / 6,
        lambda x: np.where(x <= -3, 0.0, np.where(x < 3, x / 3 + 0.5, 1.0)),
    ),
}


def _inputs(dtype):
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(997) * 4, [-30, -3.5, -1e-3, 0, 1e-3, 2.9, 30]])
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(REF))
def test_matches_torch_and_numpy(name, dtype):
    torch = pytest.importorskip("torch")
    x = _inputs(dtype)
    xt = ember.tensor(x, requires_grad=True)
    y = getattr(F, name)(xt)
    g = np.linspace(-1, 1, x.size).astype(dtype)
    y.backward(ember.tensor(g))
    assert y.dtype == xt.dtype and xt.grad.dtype == xt.dtype
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = getattr(torch.nn.functional, name)(tx)
    ty.backward(torch.from_numpy(g))
    tol = dict(rtol=2e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), **tol)
    f, df = REF[name]
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(y.numpy(), f(x64), **tol)
    np.testing.assert_allclose(xt.grad.numpy(), g * df(x64), **tol)


@pytest.mark.parametrize("name", sorted(REF))
def test_gradcheck(name):
    x = np.array([-4.0, -2.5, -0.7, 0.3, 1.1, 2.5, 5.0])  # away from hardswish's kinks
    assert gradcheck(getattr(F, name), (ember.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("name", sorted(REF))
def test_nan_and_inf(name):
    y = getattr(F, name)(ember.tensor(np.array([np.nan, np.inf, 1e30], np.float32))).numpy()
    assert np.isnan(y[0]) and y[1] == np.inf
    np.testing.assert_allclose(y[2], 1e30, rtol=1e-6)


@pytest.mark.parametrize("name", sorted(REF))
def test_kernel_refuses_bad_input(name):
    x = np.ones(4, np.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.activation_forward(name, np.ones(4, np.int64))
    with pytest.raises(ValueError, match="contiguous"):
        _C.activation_forward(name, np.ones((4, 4), np.float32).T[::2])
    with pytest.raises(ValueError, match="shape"):
        _C.activation_backward(name, x, np.ones(3, np.float32))
    with pytest.raises(TypeError, match="dtypes differ"):
        _C.activation_backward(name, x, np.ones(4))
    with pytest.raises(ValueError, match="unknown activation"):
        _C.activation_forward(name + "x", x)
