"""selu / celu by the elu kernel (_C.elu, _C.elu_backward: torch's coefficients) and float32
logaddexp / logaddexp2 with double's log form, against torch and mpmath (vecspeed43)."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
mpmath = pytest.importorskip("mpmath")

F = ember.nn.functional
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -1e-40, -1e-6, 50.0, -50.0, -200.0]


def _inputs(dtype, n=30_000, seed=0):
    rng = np.random.default_rng(seed)
    # (specials first: torch's vectorised loop, not its scalar tail, sets the NaN rule)
    x = np.concatenate([SPECIAL, rng.standard_normal(n) * 4, -rng.exponential(30, n // 10)])
    return x.astype(dtype)


def _ulps(y, ref, dtype):
    """|y - ref| in units of ref's last place in dtype (ref a float64 array)."""
    ok = np.isfinite(ref) & (ref != 0) & (np.abs(ref) <= np.finfo(dtype).max)
    sp = np.spacing(np.abs(ref[ok]).astype(dtype)).astype(np.float64)
    return np.abs(y[ok].astype(np.float64) - ref[ok]) / sp


CASES = [
    ("selu", {}, (SELU_ALPHA, SELU_SCALE, 1.0)),
    ("celu", {"alpha": 1.0}, (1.0, 1.0, 1.0)),
    ("celu", {"alpha": 0.37}, (0.37, 1.0, 1 / 0.37)),
    ("celu", {"alpha": -1.5}, (-1.5, 1.0, -1 / 1.5)),
    ("elu", {"alpha": 0.5}, (0.5, 1.0, 1.0)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw,coef", CASES)
def test_elu_family_values_and_gradients_as_torch(name, kw, coef, dtype):
    x = _inputs(dtype)
    e, t = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = getattr(F, name)(e, **kw), getattr(torch.nn.functional, name)(t, **kw)
    y, ty = ye.detach().numpy(), yt.detach().numpy()
    assert y.dtype == dtype
    # NaN, infinities, signed zeros exactly as torch's
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))
    np.testing.assert_array_equal(y[np.isinf(ty)], ty[np.isinf(ty)])
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ty))
    # finite values: within 3 ulp of torch's (expm1 differs by an ulp or two: both ~1-2 ulp off
    # the exact value, the coefficients alpha * scale rounded alike)
    fin = np.isfinite(ty) & (ty != 0)
    tol = 3 * np.spacing(np.abs(ty[fin])).astype(np.float64)
    assert (np.abs(y[fin].astype(np.float64) - ty[fin]) <= tol).all()
    g = np.random.default_rng(1).standard_normal(x.size).astype(dtype)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    ge, gt = e.grad.numpy(), t.grad.numpy()
    np.testing.assert_array_equal(np.isnan(ge), np.isnan(gt))
    fin = np.isfinite(gt) & (gt != 0)
    tol = 3 * np.spacing(np.abs(gt[fin])).astype(np.float64)
    assert (np.abs(ge[fin].astype(np.float64) - gt[fin]) <= tol).all()
    # and against the exact function (float64 / mpmath-free: expm1 in float64 for float32)
    if dtype == np.float32:
        alpha, scale, iscale = coef
        neg = np.float32(alpha) * np.float32(scale)  # torch's coefficient, rounded in float32
        with np.errstate(over="ignore", invalid="ignore"):
            xd = x.astype(np.float64)  # (expm1 of the argument x * input_scale as rounded)
            arg = (x * np.float32(iscale)).astype(np.float64)
            ref = np.where(xd > 0, xd * np.float32(scale), np.expm1(arg) * neg)
        assert _ulps(y, ref, np.float32).max() <= 2.5


@pytest.mark.parametrize("name,kw", [(c[0], c[1]) for c in CASES[:4]])
def test_elu_family_gradcheck(name, kw):
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((4, 5)) * 2, requires_grad=True)
    x.data[x.data == 0] = 0.5
    f = lambda v: getattr(F, name)(v, **kw)  # noqa: E731
    assert gradcheck(f, (x,))
    assert gradgradcheck(f, (x,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elu_family_strided_and_summed(dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((300, 200)) * 3).astype(dtype).T  # transposed: F order
    for name, kw in [("selu", {}), ("celu", {"alpha": 0.7})]:
        e, t = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        y = getattr(F, name)(e, **kw)
        ty = getattr(torch.nn.functional, name)(t, **kw)
        rtol = 1e-6 if dtype == np.float32 else 1e-14
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=rtol)
        y.sum().backward()  # one value broadcast: the kernel's dy_scalar form
        ty.sum().backward()
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=rtol)
        # torch's node names
        assert y.grad_fn.name() == ty.grad_fn.name()


@pytest.mark.parametrize("name,kw", [("selu", {}), ("celu", {"alpha": 2.0})])
def test_elu_family_half_precision_and_in_place(name, kw):
    x = np.random.default_rng(4).standard_normal(64).astype(np.float16)
    y = getattr(F, name)(ember.tensor(x), **kw).numpy()
    t = getattr(torch.nn.functional, name)(torch.tensor(x), **kw).numpy()
    assert y.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float32), t.astype(np.float32), rtol=2e-3, atol=1e-3)
    e, tt = ember.tensor(x.astype(np.float32)), torch.tensor(x.astype(np.float32))
    getattr(F, name)(e, inplace=True, **kw)
    getattr(torch.nn.functional, name)(tt, inplace=True, **kw)
    np.testing.assert_allclose(e.numpy(), tt.numpy(), rtol=1e-6)


def test_elu_kernel_refuses_bad_input():
    x = np.ones(6, np.float32)
    with pytest.raises(TypeError, match="int64"):
        _C.elu(np.ones(6, np.int64), 1.0, 1.0, 1.0)
    with pytest.raises(RuntimeError):
        _C.elu(np.ones((3, 4), np.float32).T, 1.0, 1.0, 1.0)  # not C-contiguous
    with pytest.raises(TypeError):
        _C.elu_backward(np.ones(6, np.float64), x, 1.0, 1.0, 1.0)  # dtypes differ
    with pytest.raises(RuntimeError, match=r"\(6\)|6"):
        _C.elu_backward(np.ones(5, np.float32), x, 1.0, 1.0, 1.0)  # shapes differ


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "exp", "sin"])
@pytest.mark.parametrize("perm", [(1, 0), (2, 0, 1)])
def test_activation_kernel_takes_a_permuted_dense_input(name, perm):
    rng = np.random.default_rng(6)
    shape = (40, 30) if len(perm) == 2 else (6, 7, 8)
    x = rng.standard_normal(shape).transpose(perm)  # not C-contiguous, one dense block
    act = _C.activation_names.index(name)
    y = _C.activation(x, act, 0.0, 1.0, None)
    np.testing.assert_array_equal(y, _C.activation(np.ascontiguousarray(x), act, 0.0, 1.0, None))
    t = getattr(torch, name)(torch.from_numpy(x))
    assert tuple(s // 8 for s in y.strides) == t.stride()  # torch's layout for it
    np.testing.assert_allclose(y, t.numpy(), rtol=1e-15, atol=1e-300)
    with pytest.raises(RuntimeError, match="C-contiguous"):  # a strided slice: not one block
        _C.activation(x[::2], act, 0.0, 1.0, None)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["sin", "cos", "atan", "sinh"])
def test_unary_math_of_a_transposed_input(name, dtype):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal((50, 70)) * 3).astype(dtype).T
    y = getattr(ember, name)(ember.tensor(x))
    c = getattr(ember, name)(ember.tensor(np.ascontiguousarray(x))).numpy()
    np.testing.assert_array_equal(y.numpy(), c)  # the same kernel's values either layout
    t = getattr(torch, name)(torch.from_numpy(x))
    assert y.stride() == t.stride()
    rtol = 2e-7 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=rtol, atol=1e-30)


def _mp_logaddexp(u, v, two):
    if np.isnan(u) or np.isnan(v):
        return np.nan
    m = float(max(u, v))
    if np.isinf(m) or np.isinf(min(u, v)):
        return m
    base = 2 if two else mpmath.e
    s = base ** (mpmath.mpf(float(u)) - m) + base ** (mpmath.mpf(float(v)) - m)
    return float(m + mpmath.log(s, base))


@pytest.mark.parametrize("two", [False, True])
def test_float32_logaddexp_correctly_rounded_nearly(two):
    rng = np.random.default_rng(5)
    n = 3000
    a = np.concatenate([rng.uniform(-90, 90, n), rng.uniform(-3, 3, n), rng.normal(0, 1e-3, n)])
    b = np.concatenate([rng.uniform(-90, 90, n), a[n : 2 * n] + rng.normal(0, 1, n),
                        rng.normal(0, 1e-3, n)])  # fmt: skip
    b[:300] = -a[:300] * rng.uniform(0.9, 1.1, 300)  # sums near 0: the cancellation
    a, b = a.astype(np.float32), b.astype(np.float32)
    v = np.array([0.0, -0.0, 1e-45, -1.0, 1.0, 88.0, -104.0, 3e38, -3e38, np.inf, -np.inf],
                 np.float32)  # fmt: skip
    a = np.concatenate([a, a[:50], np.repeat(v, v.size)])
    b = np.concatenate([b, a[:50], np.tile(v, v.size)])  # (and a == b)
    f = ember.logaddexp2 if two else ember.logaddexp
    y = f(ember.tensor(a), ember.tensor(b)).numpy()
    mpmath.mp.dps = 50
    ref = np.array([_mp_logaddexp(p, q, two) for p, q in zip(a, b)])
    inf = np.isinf(ref)
    np.testing.assert_array_equal(y[inf], ref[inf])
    u = _ulps(y, ref, np.float32)
    assert u.max() <= 0.51, u.max()
    z = ref == 0  # logaddexp2(-1, -1) = 0 exactly
    np.testing.assert_array_equal(y[z], 0.0)
    # never worse than torch's float form
    tf = torch.logaddexp2 if two else torch.logaddexp
    t = tf(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert u.max() <= _ulps(t, ref, np.float32).max()
