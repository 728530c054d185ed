"""Group/instance norm, interpolate/Upsample, pixel (un)shuffle, padding, Unflatten, fold/unfold,
adaptive max pooling and max unpooling: values and gradients against PyTorch (float32 and
float64, copied weights), gradcheck in float64, and the bad inputs each refuses."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def _rng(seed=0):
    return np.random.default_rng(seed)


def _compare(ember_fn, torch_fn, arrays, dtype, seed=1):
    """Run both on copies of ``arrays`` (all requiring grad), backprop the same random upstream
    gradient, and compare outputs and every input gradient."""
    ts = [ember.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    qs = [torch.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    y, ty = ember_fn(*ts), torch_fn(*qs)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL[dtype])
    g = _rng(seed).standard_normal(y.shape).astype(dtype)
    y.backward(g)
    ty.backward(torch.tensor(g))
    for t, q in zip(ts, qs):
        np.testing.assert_allclose(t.grad.numpy(), q.grad.numpy(), **TOL[dtype])


def _gradcheck(fn, *arrays):
    ts = [ember.tensor(a.astype(np.float64), requires_grad=True) for a in arrays]
    assert gradcheck(fn, tuple(ts))


# ---- group norm / instance norm -------------------------------------------------------------

GN_CASES = [((2, 6, 4, 5), 3), ((3, 4), 2), ((2, 8, 7), 8), ((1, 6, 3, 3), 1), ((2, 4, 2, 2, 3), 2)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,groups", GN_CASES)
def test_group_norm_matches_torch(shape, groups, dtype):
    rng = _rng()
    x = rng.standard_normal(shape) * 3 + 1
    c = shape[1]
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    _compare(
        lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-4),
        lambda x, w, b: torch.nn.functional.group_norm(x, groups, w, b, eps=1e-4),
        [x, w, b],
        dtype,
    )
    _compare(
        lambda x: F.group_norm(x, groups),
        lambda x: torch.nn.functional.group_norm(x, groups),
        [x],
        dtype,
    )


def test_group_norm_gradcheck_and_large_mean():
    rng = _rng()
    x = rng.standard_normal((2, 4, 3, 2))
    w, b = rng.standard_normal(4), rng.standard_normal(4)
    _gradcheck(lambda x, w, b: F.group_norm(x, 2, w, b), x, w, b)
    # A large common offset must not destroy the variance (Welford / two-pass statistics).
    xl = (x + 1e4).astype(np.float32)
    y = F.group_norm(ember.tensor(xl), 2).numpy()
    ref = torch.nn.functional.group_norm(torch.tensor(x), 2).numpy()
    np.testing.assert_allclose(y, ref, atol=5e-3)


@pytest.mark.parametrize("dtype", DTYPES)
def test_group_norm_module(dtype):
    m = nn.GroupNorm(3, 6, eps=1e-3, dtype=dtype)
    tm = torch.nn.GroupNorm(3, 6, eps=1e-3, dtype=TORCH_DTYPE[dtype])
    assert sorted(m.state_dict()) == sorted(tm.state_dict())
    np.testing.assert_array_equal(m.weight.numpy(), tm.weight.detach().numpy())
    np.testing.assert_array_equal(m.bias.numpy(), tm.bias.detach().numpy())
    rng = _rng(2)
    sd = {"weight": rng.standard_normal(6), "bias": rng.standard_normal(6)}
    m.load_state_dict({k: v.astype(dtype) for k, v in sd.items()})
    tm.load_state_dict({k: torch.tensor(v.astype(dtype)) for k, v in sd.items()})
    x = rng.standard_normal((2, 6, 3, 3))
    _compare(m, tm, [x], dtype)
    assert nn.GroupNorm(2, 4, affine=False).weight is None
    assert "3, 6, eps=0.001, affine=True" in repr(m)


def test_group_norm_errors():
    with pytest.raises(ValueError, match="divisible by num_groups"):
        F.group_norm(ember.randn(2, 6, 3), 4)
    with pytest.raises(ValueError, match="at least 2-D"):
        F.group_norm(ember.randn(6), 3)
    with pytest.raises(ValueError, match=r"weight must have shape \(6,\)"):
        F.group_norm(ember.randn(2, 6, 3), 3, ember.randn(5))
    with pytest.raises(ValueError, match="divisible"):
        nn.GroupNorm(4, 6)
    with pytest.raises(TypeError, match="num_groups"):
        F.group_norm(ember.randn(2, 6, 3), 1.5)


IN_CASES = [(2, 3, 7), (1, 4, 5), (2, 3, 4, 5), (3, 2, 2, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", IN_CASES)
def test_instance_norm_matches_torch(shape, dtype):
    rng = _rng()
    x = rng.standard_normal(shape) * 2 - 1
    c = shape[1]
    w, b = rng.standard_normal(c), rng.standard_normal(c)
    _compare(
        lambda x, w, b: F.instance_norm(x, weight=w, bias=b, eps=1e-3),
        lambda x, w, b: torch.nn.functional.instance_norm(x, weight=w, bias=b, eps=1e-3),
        [x, w, b],
        dtype,
    )


def test_instance_norm_gradcheck():
    rng = _rng(3)
    x = rng.standard_normal((2, 3, 4))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    _gradcheck(lambda x, w, b: F.instance_norm(x, weight=w, bias=b), x, w, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cls", ["InstanceNorm1d", "InstanceNorm2d"])
@pytest.mark.parametrize(
    "affine,track", [(False, False), (True, False), (True, True), (False, True)]
)
def test_instance_norm_modules(cls, affine, track, dtype):
    m = getattr(nn, cls)(3, momentum=0.3, affine=affine, track_running_stats=track, dtype=dtype)
    tm = getattr(torch.nn, cls)(
        3, momentum=0.3, affine=affine, track_running_stats=track, dtype=TORCH_DTYPE[dtype]
    )
    assert sorted(m.state_dict()) == sorted(tm.state_dict())
    rng = _rng(4)
    if affine:
        sd = {"weight": rng.standard_normal(3), "bias": rng.standard_normal(3)}
        m.load_state_dict({k: v.astype(dtype) for k, v in sd.items()}, strict=False)
        tm.load_state_dict({k: torch.tensor(v.astype(dtype)) for k, v in sd.items()}, strict=False)
    shape = (2, 3, 5) if cls == "InstanceNorm1d" else (2, 3, 4, 3)
    for step in range(2):  # two training steps update the running statistics
        x = rng.standard_normal(shape) * 2 + step
        _compare(m, tm, [x], dtype)
        for name in ("running_mean", "running_var"):
            if track:
                t = getattr(tm, name).numpy()
                np.testing.assert_allclose(getattr(m, name).numpy(), t, **TOL[dtype])
    m.eval()
    tm.eval()
    x = rng.standard_normal(shape)
    _compare(m, tm, [x], dtype)
    _compare(m, tm, [x[0]], dtype)  # unbatched


def test_instance_norm_errors():
    with pytest.raises(ValueError, match="more than 1 spatial element"):
        F.instance_norm(ember.randn(2, 3, 1))
    with pytest.raises(ValueError, match="spatial dims"):
        F.instance_norm(ember.randn(2, 3))
    with pytest.raises(ValueError, match="expected 3D or 4D input"):
        nn.InstanceNorm2d(3)(ember.randn(2, 3))
    with pytest.raises(ValueError, match="match num_features"):
        nn.InstanceNorm1d(4, affine=True)(ember.randn(2, 3, 5))
    with pytest.warns(UserWarning, match="num_features"):
        nn.InstanceNorm1d(4)(ember.randn(2, 3, 5))
    with pytest.raises(ValueError, match=r"running_mean must have shape \(3,\)"):
        F.instance_norm(ember.randn(2, 3, 5), ember.zeros(4), ember.ones(3))
