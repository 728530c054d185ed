"""ember._C.activation_forward / activation_backward and csrc/vecmath.h accuracy."""

import math

import numpy as np
import pytest
import reference_kernels as ref

from ember import _C

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-5, atol=1e-6), np.float64: dict(rtol=1e-13, atol=1e-14)}
# (float64 atol: the references compute 1 + tanh(.) and 1 + erf(.) and cancel for x << 0.)
# (name, kwargs for the kernels and the reference)
ACTS = [
    ("relu", {}),
    ("leaky_relu", {"alpha": 0.01}),
    ("leaky_relu", {"alpha": 0.2}),
    ("elu", {"alpha": 1.0}),
    ("elu", {"alpha": 0.5}),
    ("gelu", {"approximate": "none"}),
    ("gelu", {"approximate": "tanh"}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("softplus", {"beta": 1.0, "threshold": 20.0}),
    ("softplus", {"beta": 2.0, "threshold": 5.0}),
]
SAVES_OUTPUT = {"sigmoid", "tanh"}
IDS = [f"{n}-{'-'.join(f'{k}={v}' for k, v in kw.items())}" for n, kw in ACTS]


def _inputs(shape, dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape) * 4
    x = x[np.abs(x) > 1e-3] if x.ndim == 1 else x  # away from the kinks at 0
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", ACTS, ids=IDS)
def test_forward_matches_numpy(name, kw, dtype):
    x = np.concatenate([_inputs(20000, dtype), np.array([-40, -12, 12, 40, 0], dtype)])
    y = _C.activation_forward(name, x, **kw)
    assert y.dtype == dtype and y.shape == x.shape
    np.testing.assert_allclose(y, ref.activation(name, x, **kw), **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kw", ACTS, ids=IDS)
def test_backward_matches_numpy(name, kw, dtype):
    x = _inputs(20000, dtype, seed=1)
    dy = np.random.default_rng(2).standard_normal(x.shape).astype(dtype)
    saved = _C.activation_forward(name, x, **kw) if name in SAVES_OUTPUT else x
    dx = _C.activation_backward(name, dy, saved, **kw)
    assert dx.dtype == dtype and dx.shape == x.shape
    tol = dict(TOL[dtype])
    if name in SAVES_OUTPUT and dtype == np.float32:
        tol["atol"] = 1e-5  # from the rounded output y, not x
    np.testing.assert_allclose(dx, ref.activation_backward(name, dy, x, **kw), **tol)


@pytest.mark.parametrize("name,kw", ACTS, ids=IDS)
def test_backward_finite_differences(name, kw):
    rng = np.random.default_rng(3)
    x = rng.uniform(-6, 6, 400)
    x = x[np.abs(x) > 1e-2]  # central differences straddling a kink are meaningless
    dy = rng.standard_normal(x.shape)
    saved = _C.activation_forward(name, x, **kw) if name in SAVES_OUTPUT else x
    dx = _C.activation_backward(name, dy, saved, **kw)
    eps = 1e-6
    fp = _C.activation_forward(name, x + eps, **kw)
    fm = _C.activation_forward(name, x - eps, **kw)
    np.testing.assert_allclose(dx, dy * (fp - fm) / (2 * eps), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("dtype", DTYPES)
def test_shapes_out_and_empty(dtype):
    x = _inputs((3, 4, 5), dtype)
    y = _C.activation_forward("tanh", x)
    assert y.shape == (3, 4, 5)
    out = np.empty_like(x)
    r = _C.activation_forward("gelu", x, out=out)
    assert r is out or np.shares_memory(r, out)
    np.testing.assert_array_equal(out, _C.activation_forward("gelu", x))
    xc = x.copy()
    _C.activation_forward("relu", xc, out=xc)  # in place
    np.testing.assert_array_equal(xc, np.maximum(x, 0))
    e = np.zeros((0, 3), dtype)
    assert _C.activation_forward("sigmoid", e).shape == (0, 3)
    assert _C.activation_backward("gelu", e, e).shape == (0, 3)
    z = np.array(0.5, dtype)
    assert _C.activation_forward("relu", z)[()] == 0.5


def test_threaded_matches_serial():
    x = _inputs(1 << 20, np.float32)
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(1)
        y1 = _C.activation_forward("gelu", x)
        _C.set_num_threads(2)
        y2 = _C.activation_forward("gelu", x)
    finally:
        _C.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values(dtype):
    x = np.array([-np.inf, np.inf, np.nan, 0.0, -1e30, 1e30], dtype)
    with np.errstate(invalid="ignore"):
        for name, kw in ACTS:
            y = _C.activation_forward(name, x, **kw)
            expect = ref.activation(name, x.astype(np.float64), **kw)
            assert np.isnan(y[2]), name
            np.testing.assert_allclose(y[[0, 1, 3]], expect[[0, 1, 3]], rtol=1e-6, err_msg=name)
    np.testing.assert_array_equal(_C.activation_forward("sigmoid", x)[[0, 1]], [0.0, 1.0])
    np.testing.assert_array_equal(_C.activation_forward("tanh", x)[[0, 1]], [-1.0, 1.0])


def test_bad_inputs():
    x = np.ones(4, np.float32)
    with pytest.raises(ValueError, match="unknown activation"):
        _C.activation_forward("swish", x)
    with pytest.raises(ValueError, match="unknown activation"):
        _C.activation_backward("swish", x, x)
    with pytest.raises(ValueError, match="approximate"):
        _C.activation_forward("gelu", x, approximate="erf")
    with pytest.raises(TypeError):
        _C.activation_forward("relu", np.ones(4, np.int64))
    with pytest.raises(TypeError):
        _C.activation_backward("relu", x, x.astype(np.float64))
    with pytest.raises(ValueError, match="shape"):
        _C.activation_backward("relu", x, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        _C.activation_forward("relu", np.ones((4, 4), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="shape"):
        _C.activation_forward("relu", x, out=np.empty(5, np.float32))
    with pytest.raises(TypeError):
        _C.activation_forward("relu", x, out=np.empty(4, np.float64))
    ro = np.empty(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.activation_forward("relu", x, out=ro)
    with pytest.raises(ValueError):
        _C._vecmath("sinh", x)  # not a _vecmath name


# ---- csrc/vecmath.h accuracy: 1e6 points per function plus special values -------------------

NP_FUNCS = {"exp": np.exp, "expm1": np.expm1, "log": np.log, "log1p": np.log1p, "tanh": np.tanh}


def _ulp_error(y32, ref64):
    """|y - ref| in units of float32 ulp at ref (finite, normal references only)."""
    ref32 = ref64.astype(np.float32)
    ok = np.isfinite(ref32) & (np.abs(ref64) >= np.finfo(np.float32).tiny)
    ulp = np.spacing(np.abs(ref32[ok])).astype(np.float64)
    return np.abs(y32[ok].astype(np.float64) - ref64[ok]) / ulp


def _points(name):
    if name == "log":
        return np.exp(np.linspace(-700, 700, 1_000_001))
    if name == "log1p":
        return np.concatenate(
            [np.exp(np.linspace(-700, 700, 500_001)), -np.linspace(0, 1, 500_000)]
        )
    return np.linspace(-100, 100, 1_000_001)


@pytest.mark.parametrize("name", sorted(NP_FUNCS))
def test_vecmath_accuracy(name):
    x = _points(name)
    fn = NP_FUNCS[name]
    with np.errstate(all="ignore"):
        r = fn(x)
        y = _C._vecmath(name, x)
        ok = np.isfinite(r) & (np.abs(r) > 1e-300)
        assert np.max(np.abs(y[ok] / r[ok] - 1)) < 1e-15
        x32 = x.astype(np.float32)
        x32 = x32[np.isfinite(x32)]
        e = _ulp_error(_C._vecmath(name, x32), fn(x32.astype(np.float64)))
    assert np.max(e) <= 2.5


def test_vecmath_sigmoid_erf_accuracy():
    x = np.linspace(-100, 100, 1_000_001)
    s = ref.sigmoid(x)
    np.testing.assert_allclose(_C._vecmath("sigmoid", x), s, rtol=1e-15, atol=0)
    x32 = x.astype(np.float32)
    assert np.max(_ulp_error(_C._vecmath("sigmoid", x32), ref.sigmoid(x32))) <= 2.5
    xe = np.linspace(-8, 8, 40_001)  # math.erf / math.erfc as the oracle
    np.testing.assert_allclose(_C._vecmath("erf", xe), ref.erf(xe), rtol=1e-15, atol=1e-300)
    xc = np.linspace(-8, 26, 40_001)
    np.testing.assert_allclose(_C._vecmath("erfc", xc), ref.erfc(xc), rtol=1e-13, atol=1e-300)
    xe32 = xe.astype(np.float32)
    assert np.max(_ulp_error(_C._vecmath("erf", xe32), ref.erf(xe32))) <= 4
    xc32 = np.linspace(-8, 9, 40_001).astype(np.float32)
    assert np.max(_ulp_error(_C._vecmath("erfc", xc32), ref.erfc(xc32))) <= 6


def test_gelu_float32_ulp():
    # float GELU has its own erfc (one exponential, shared with the pdf in backward)
    x = np.linspace(-13, 8, 200_001).astype(np.float32)
    y = _C.activation_forward("gelu", x)
    assert np.max(_ulp_error(y, ref.activation("gelu", x))) <= 6
    g = np.ones_like(x)
    dx = _C.activation_backward("gelu", g, x)
    expect = ref.activation_backward("gelu", g, x)
    # Phi(x) + x phi(x) cancels towards its root at x = -0.75 and for x << 0: ulps only above
    keep = x > -0.25
    assert np.max(_ulp_error(dx[keep], expect[keep])) <= 8
    np.testing.assert_allclose(dx, expect, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softplus_beta_not_power_of_two(dtype):
    x = _inputs(20000, dtype, seed=11)
    for beta, thr in ((0.3, 20.0), (3.0, 4.0)):
        y = _C.activation_forward("softplus", x, beta=beta, threshold=thr)
        np.testing.assert_allclose(
            y, ref.activation("softplus", x, beta=beta, threshold=thr), **TOL[dtype]
        )


@pytest.mark.parametrize("dtype", DTYPES)
def test_vecmath_special_values(dtype):
    big = 1e300 if dtype == np.float64 else 1e30
    x = np.array([-np.inf, np.inf, np.nan, 0.0, -0.0, -big, big, -1e4, 1e4], dtype)
    with np.errstate(all="ignore"):
        e = _C._vecmath("exp", x)
        np.testing.assert_array_equal(e, [0, np.inf, np.nan, 1, 1, 0, np.inf, 0, np.inf])
        np.testing.assert_array_equal(
            _C._vecmath("expm1", x), [-1, np.inf, np.nan, 0, 0, -1, np.inf, -1, np.inf]
        )
        np.testing.assert_array_equal(_C._vecmath("tanh", x), [-1, 1, np.nan, 0, 0, -1, 1, -1, 1])
        np.testing.assert_array_equal(
            _C._vecmath("log", x)[[0, 1, 2, 3, 4, 5]],
            [np.nan, np.inf, np.nan, -np.inf, -np.inf, np.nan],
        )
        np.testing.assert_array_equal(
            _C._vecmath("log1p", np.array([-1, -2, np.inf], dtype)), [-np.inf, np.nan, np.inf]
        )
        np.testing.assert_array_equal(_C._vecmath("erf", x)[[0, 1, 2, 3]], [-1, 1, np.nan, 0])
        np.testing.assert_array_equal(_C._vecmath("erfc", x)[[0, 1, 2, 3]], [2, 0, np.nan, 1])
    # denormal results come out as denormals, then 0 (never garbage)
    tiny = np.finfo(dtype).smallest_subnormal
    lo = math.log(float(tiny))
    xs = np.array([lo + 1, lo - 1, 2 * lo], dtype)
    np.testing.assert_allclose(_C._vecmath("exp", xs)[0], np.exp(float(xs[0])), rtol=0.5)
    assert _C._vecmath("exp", xs)[1] == 0 and _C._vecmath("exp", xs)[2] == 0
    # tanh keeps sign and relative accuracy near 0
    t = _C._vecmath("tanh", np.array([1e-30, -1e-30, 1e-5], dtype))
    np.testing.assert_allclose(t, np.tanh(np.array([1e-30, -1e-30, 1e-5])), rtol=1e-6)


# ---- against torch -------------------------------------------------------------------------

TORCH_ACTS = [
    ("relu", {}, lambda F, t: F.relu(t)),
    ("leaky_relu", {"alpha": 0.1}, lambda F, t: F.leaky_relu(t, 0.1)),
    ("elu", {"alpha": 1.5}, lambda F, t: F.elu(t, 1.5)),
    ("gelu", {"approximate": "none"}, lambda F, t: F.gelu(t)),
    ("gelu", {"approximate": "tanh"}, lambda F, t: F.gelu(t, approximate="tanh")),
    ("sigmoid", {}, lambda F, t: F.sigmoid(t)),
    ("tanh", {}, lambda F, t: F.tanh(t)),
    ("softplus", {"beta": 1.5, "threshold": 10.0}, lambda F, t: F.softplus(t, 1.5, 10.0)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "name,kw,tfn", TORCH_ACTS, ids=[a[0] + str(i) for i, a in enumerate(TORCH_ACTS)]
)
def test_against_torch(name, kw, tfn, dtype):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = _inputs((50, 40), dtype, seed=5)
    dy = np.random.default_rng(6).standard_normal(x.shape).astype(dtype)
    xt = torch.from_numpy(x).requires_grad_(True)
    yt = tfn(F, xt)
    yt.backward(torch.from_numpy(dy))
    y = _C.activation_forward(name, x, **kw)
    dx = _C.activation_backward(name, dy, y if name in SAVES_OUTPUT else x, **kw)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    if dtype == np.float32:
        tol["atol"] = 5e-6  # torch's float32 gelu-tanh grad cancels (1 + tanh) for x << 0
    np.testing.assert_allclose(dx, xt.grad.numpy(), **tol)


ALL_ACTS = ACTS + [
    ("silu", {}), ("mish", {}), ("hardswish", {}), ("hardsigmoid", {}), ("logsigmoid", {}),
    ("hardtanh", {"alpha": -0.5, "beta": 2.0}),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [2, 15, 17, 33, 70_001])  # vector remainders; threads at 70K
@pytest.mark.parametrize("name,kw", ALL_ACTS, ids=lambda v: v if isinstance(v, str) else "")
def test_backward_one_dy_value_for_all(name, kw, n, dtype):
    # dy of one value (a full sum's gradient, never filled in) is that value for every element:
    # the same bits as the filled dy, against the NumPy reference too
    x = _inputs(n, dtype, seed=n)
    saved = _C.activation_forward(name, x, **kw) if name in SAVES_OUTPUT else x
    dy = np.full(x.shape, 0.375, dtype)
    full = _C.activation_backward(name, dy, saved, **kw)
    one = _C.activation_backward(name, dy[:1], saved, **kw)
    np.testing.assert_array_equal(one, full)
    assert one.shape == x.shape and one.dtype == dtype
    if (name, kw) in ACTS:  # (the rest have no NumPy reference here; the filled dy is tested)
        tol = dict(TOL[dtype], atol=1e-5) if name in SAVES_OUTPUT else TOL[dtype]
        np.testing.assert_allclose(one, ref.activation_backward(name, dy, x, **kw), **tol)
    two_d = _C.activation_backward(name, dy[:1].reshape(1, 1), saved.reshape(1, -1), **kw)
    np.testing.assert_array_equal(two_d.reshape(-1), full)  # dx takes saved's shape
    with pytest.raises(ValueError, match="shape"):  # two values are not one
        _C.activation_backward(name, dy[:2], saved[:1] if n > 2 else saved[:0], **kw)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["relu", "gelu", "silu", "hardswish", "sigmoid", "softplus"])
def test_sum_and_mean_of_activation_gradients(name, dtype):
    import ember
    import ember.nn.functional as F

    x0 = _inputs((33, 65), dtype, seed=3)
    dy = np.full(x0.shape, 1.0, dtype)
    saved = _C.activation_forward(name, x0) if name in SAVES_OUTPUT else x0
    expect = _C.activation_backward(name, dy, saved)
    for reduce, scale in (("sum", 1.0), ("mean", 1.0 / x0.size)):
        x = ember.tensor(x0, requires_grad=True)
        getattr(getattr(F, name)(x), reduce)().backward()
        g = x.grad.numpy()
        assert g.flags.writeable and g.flags.c_contiguous and g.dtype == dtype
        np.testing.assert_allclose(
            g, expect * dtype(scale), rtol=1e-6 if dtype == np.float32 else 1e-14
        )
        g += 1  # the leaf owns its gradient
    # the activation's output read by a second op too, a hook on it, autograd.grad of it
    x = ember.tensor(x0, requires_grad=True)
    y = getattr(F, name)(x)
    (y.sum() + (y * 2).sum()).backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 * expect, rtol=1e-6)
    x = ember.tensor(x0, requires_grad=True)
    y = getattr(F, name)(x)
    seen = []
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    y.sum().backward()
    np.testing.assert_array_equal(seen[0], dy)
    np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-6)
    y = getattr(F, name)(ember.tensor(x0, requires_grad=True))
    (gy,) = ember.autograd.grad(y.sum(), [y])
    np.testing.assert_array_equal(gy.numpy(), dy)
