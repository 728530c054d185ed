"""Differences from PyTorch found by a randomised differential sweep of layers over their less
common options (same module in ember and torch, weights copied, outputs, gradients and the
errors of invalid configurations compared)."""

import numpy as np
import pytest

import ember

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
