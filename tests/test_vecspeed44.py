"""vecspeed44: transpose_copy's AVX-512 16x16 / 8x8 register blocks for 4- and 8-byte elements
(every edge of the row and 128-column blocking, any bit pattern, any thread count) against
NumPy's copy."""

import numpy as np
import pytest

import ember
from ember import _C


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (7, 9), (8, 8), (9, 7), (16, 128), (17, 129), (255, 257), (1000, 1000), (3, 2000),
     (2000, 3), (130, 136)],
)  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.complex64, np.float32, np.int32])
def test_transpose_copy_avx512_blocks(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    bits = np.int64 if np.dtype(dtype).itemsize == 8 else np.int32
    a = rng.integers(np.iinfo(bits).min, np.iinfo(bits).max, shape, bits).view(dtype)  # (NaNs too)
    y = _C.transpose_copy(a)
    assert y.flags.c_contiguous and y.shape == shape[::-1] and y.dtype == a.dtype
    np.testing.assert_array_equal(y.view(bits), a.T.view(bits))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transpose_copy_threads(threads, dtype):
    a = np.arange(517 * 1031, dtype=dtype).reshape(517, 1031)
    old = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        y = _C.transpose_copy(a)
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(y, a.T)
    # a view of a transposed float64 tensor made contiguous takes the same kernel
    t = ember.tensor(a).T.contiguous()
    np.testing.assert_array_equal(t.numpy(), a.T)


# ---- activations of dense permuted views: run as they lie, torch's values and strides ----
torch = pytest.importorskip("torch")
_VIEWS = {
    "permuted": lambda t: t.permute(2, 0, 1),
    "permuted, new size-1 dim": lambda t: t.permute(2, 0, 1)[:, :, None],
    "permuted, sliced (not dense)": lambda t: t.permute(2, 0, 1)[::2],
}


@pytest.mark.parametrize("view", list(_VIEWS))
@pytest.mark.parametrize(
    "name", ["sigmoid", "relu", "tanh", "silu", "elu", "selu", "celu", "leaky_relu", "gelu"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_of_permuted_view(view, name, dtype):
    a = np.random.default_rng(3).standard_normal((6, 5, 40)).astype(dtype) * 3
    a.flat[:4] = [np.nan, np.inf, -np.inf, -0.0]
    fn = getattr(ember.nn.functional, name)
    v = _VIEWS[view](ember.from_numpy(a))
    e = fn(v)
    t = getattr(torch.nn.functional, name)(_VIEWS[view](torch.from_numpy(a)))
    tol = 1e-5 if dtype == np.float32 else 1e-12  # (float32 gelu: within ~6 ulp)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=tol, atol=tol / 10)
    assert e.stride() == t.stride()
    # the same bits as the kernel on a C-contiguous copy
    c = fn(ember.from_numpy(np.ascontiguousarray(v.numpy()))).numpy()
    np.testing.assert_array_equal(e.numpy(), c)


def test_activation_of_permuted_view_leaves_input_and_grads():
    a = np.random.default_rng(4).standard_normal((3, 4, 5))
    x = ember.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    y = ember.nn.functional.silu(x.permute(2, 0, 1))
    yt = torch.nn.functional.silu(xt.permute(2, 0, 1))
    g = np.random.default_rng(5).standard_normal(yt.shape)
    y.backward(ember.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_array_equal(x.detach().numpy(), a)


# ---- unary maths of transposed / permuted views: the kernels run them as they lie ----
_UNARY_VIEWS = {
    "transposed": lambda t: t.transpose(0, 2),
    "permuted": lambda t: t.permute(2, 0, 1),
    "permuted, new size-1 dim": lambda t: t.permute(1, 2, 0)[:, None],
    "negative stride (copied)": lambda t: t.permute(2, 0, 1).flip(0),
}


@pytest.mark.parametrize("view", list(_UNARY_VIEWS))
@pytest.mark.parametrize(
    "name", ["exp", "log", "sqrt", "sin", "expm1", "log1p", "rsqrt", "erf", "erfc", "lgamma"]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_math_of_permuted_view(view, name, dtype):
    a = np.random.default_rng(6).standard_normal((6, 5, 40)).astype(dtype) * 3
    a.flat[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40 if dtype == np.float32 else 1e-310]
    ev = _UNARY_VIEWS[view](ember.from_numpy(a))
    tv = _UNARY_VIEWS[view](torch.from_numpy(a))
    with np.errstate(all="ignore"):
        e = getattr(ember, name)(ev)
    t = getattr(torch, name)(tv)
    tol = 4e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=tol, atol=tol * 1e-3)
    assert e.stride() == t.stride()
    np.testing.assert_array_equal(a, np.asarray(ember.from_numpy(a)))  # (input untouched)


@pytest.mark.parametrize("name", ["sin", "erf", "exp", "log"])
def test_unary_math_of_permuted_view_gradients(name):
    a = np.random.default_rng(7).random((3, 4, 5)) + 0.5
    x = ember.tensor(a, requires_grad=True)
    assert ember.autograd.gradcheck(lambda v: getattr(ember, name)(v.permute(2, 0, 1)), (x,))


@pytest.mark.parametrize("view", ["permuted", "permuted, new size-1 dim"])
@pytest.mark.parametrize(
    "name",
    ["relu", "sigmoid", "tanh", "silu", "gelu", "elu", "selu", "celu", "softplus", "leaky_relu"],
)
def test_activation_backward_of_permuted_view(view, name):
    a = np.random.default_rng(8).standard_normal((4, 3, 6)) * 2
    g = np.random.default_rng(9).standard_normal((6, 4, 3))
    g = g[:, :, None] if view != "permuted" else g
    x = ember.tensor(a, requires_grad=True)
    xt = torch.tensor(a, requires_grad=True)
    y = getattr(ember.nn.functional, name)(_VIEWS[view](x))
    yt = getattr(torch.nn.functional, name)(_VIEWS[view](xt))
    y.backward(ember.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
    x.grad = None
    getattr(ember.nn.functional, name)(_VIEWS[view](x)).sum().backward()  # one value as dy
    yt = getattr(torch.nn.functional, name)(_VIEWS[view](xt))
    want = torch.autograd.grad(yt.sum(), xt)[0].numpy()
    np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-10, atol=1e-14)
    f = getattr(ember.nn.functional, name)
    assert ember.autograd.gradcheck(
        lambda v: f(_VIEWS[view](v)), (ember.tensor(a + 0.01, requires_grad=True),)
    )
