"""The unary maths on C++ kernels (activation_forward / activation_backward's exp, expm1, log,
log1p, sqrt, rsqrt, reciprocal, abs, neg, square, clamp, sin, cos): values against NumPy's
float64 and PyTorch, special values bit for bit as PyTorch, the NumPy fallback for what the
kernels do not take, gradients by finite differences, and the C++ boundary."""

import math

import numpy as np
import pytest

import ember
from ember import _C

DTYPES = [np.float32, np.float64]
# name: (ember op, NumPy float64 reference, torch name, input domain (lo, hi), float32 ulp bound)
OPS = {
    "exp": (ember.exp, np.exp, "exp", (-90, 90), 3),
    "expm1": (ember.expm1, np.expm1, "expm1", (-30, 30), 3),
    "log": (ember.log, np.log, "log", (1e-30, 1e30), 3),
    "log1p": (ember.log1p, np.log1p, "log1p", (-0.999, 1e6), 3),
    "sqrt": (ember.sqrt, np.sqrt, "sqrt", (0, 1e6), 0.5),
    "rsqrt": (ember.rsqrt, lambda x: 1 / np.sqrt(x), "rsqrt", (1e-6, 1e6), 1.5),
    "reciprocal": (ember.reciprocal, lambda x: 1 / x, "reciprocal", (-1e3, 1e3), 0.5),
    "abs": (ember.abs, np.abs, "abs", (-1e3, 1e3), 0),
    "neg": (ember.neg, np.negative, "neg", (-1e3, 1e3), 0),
    "square": (ember.square, np.square, "square", (-1e3, 1e3), 0.5),
    "sin": (ember.sin, np.sin, "sin", (-100, 100), 1),
    "cos": (ember.cos, np.cos, "cos", (-100, 100), 1),
}
NAMES = list(OPS)
SPECIAL = [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-40, -1e-40, 1e-310, 88.8, -104.0]


@pytest.fixture(params=[1, 2], ids=["1thread", "2threads"])
def threads(request):
    old = ember.get_num_threads()
    ember.set_num_threads(request.param)
    yield request.param
    ember.set_num_threads(old)


def _inputs(name, n, dtype, seed=0):
    lo, hi = OPS[name][3]
    rng = np.random.default_rng(seed)
    if lo > 0 and hi / lo > 1e4:  # log-uniform over wide positive ranges
        x = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    else:
        x = rng.uniform(lo, hi, n)
    return x.astype(dtype)


def _ulp_error(y32, ref64):
    """|y - ref| in float32 ulps at ref (finite, normal references)."""
    with np.errstate(over="ignore"):
        ref32 = ref64.astype(np.float32)
    ok = np.isfinite(ref32) & (np.abs(ref64) >= np.finfo(np.float32).tiny)
    ulp = np.spacing(np.abs(ref32[ok])).astype(np.float64)
    return np.abs(y32[ok].astype(np.float64) - ref64[ok]) / ulp


def _same_bits(a, b):
    """Equal values, NaN where NaN, and the sign of every zero."""
    a, b = np.asarray(a), np.asarray(b)
    np.testing.assert_array_equal(a, b)
    assert (np.signbit(a) == np.signbit(b))[~np.isnan(a)].all()


# sizes across the serial / threaded threshold (64K elements a thread)
@pytest.mark.parametrize("n", [1, 17, 1000, 200_003])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_forward_matches_float64(name, dtype, n, threads):
    op, ref, _, _, ulps = OPS[name]
    x = _inputs(name, n, dtype)
    y = op(ember.tensor(x)).numpy()
    assert y.dtype == dtype and y.shape == x.shape
    want = ref(x.astype(np.float64))
    if dtype == np.float32:
        assert np.max(_ulp_error(y, want), initial=0) <= ulps
    else:
        np.testing.assert_allclose(y, want, rtol=2e-15, atol=1e-300)
        if name in ("sqrt", "abs", "neg", "reciprocal", "square"):  # exactly rounded
            np.testing.assert_array_equal(y, want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_matches_torch(name, dtype):
    torch = pytest.importorskip("torch")
    x = np.concatenate([_inputs(name, 5000, dtype), np.array(SPECIAL, dtype)])
    y = OPS[name][0](ember.tensor(x)).numpy()
    t = getattr(torch, OPS[name][2])(torch.from_numpy(x.copy())).numpy()
    info = np.finfo(dtype)
    exact = ~np.isfinite(t) | (t == 0)  # inf, NaN and zeros: torch's bit for bit
    _same_bits(y[exact], t[exact])
    # normal results to torch's accuracy, denormal ones to a few of the smallest steps
    tol = dict(rtol=4e-7 if dtype == np.float32 else 4e-15, atol=4 * info.smallest_subnormal)
    np.testing.assert_allclose(y[~exact], t[~exact], **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_special_values(dtype):
    x = np.array([0.0, -0.0, -1.0, np.inf, -np.inf, np.nan], dtype)
    e = ember.tensor(x)
    nan, inf = np.nan, np.inf
    _same_bits(ember.sqrt(e).numpy(), np.array([0.0, -0.0, nan, inf, nan, nan], dtype))
    _same_bits(ember.log(e).numpy(), np.array([-inf, -inf, nan, inf, nan, nan], dtype))
    _same_bits(ember.rsqrt(e).numpy(), np.array([inf, -inf, nan, 0.0, nan, nan], dtype))
    _same_bits(ember.reciprocal(e).numpy(), np.array([inf, -inf, -1.0, 0.0, -0.0, nan], dtype))
    _same_bits(ember.expm1(e).numpy(), np.array([0.0, -0.0, math.expm1(-1), inf, -1, nan], dtype))
    _same_bits(ember.log1p(e).numpy(), np.array([0.0, -0.0, -inf, inf, nan, nan], dtype))
    _same_bits(ember.exp(e).numpy(), np.array([1, 1, math.exp(-1), inf, 0, nan], dtype))
    _same_bits(ember.sin(e).numpy(), np.array([0.0, -0.0, math.sin(-1), nan, nan, nan], dtype))
    _same_bits(ember.abs(e).numpy(), np.array([0.0, 0.0, 1.0, inf, inf, nan], dtype))
    _same_bits((-e).numpy(), np.array([-0.0, 0.0, 1.0, -inf, inf, nan], dtype))
    # denormal inputs and results
    tiny = np.array([1e-40, 1e-44] if dtype == np.float32 else [1e-310, 1e-320], dtype)
    np.testing.assert_array_equal(ember.sqrt(ember.tensor(tiny)).numpy(), np.sqrt(tiny))
    np.testing.assert_allclose(
        ember.log(ember.tensor(tiny)).numpy(), np.log(tiny.astype(np.float64)), rtol=1e-6
    )


@pytest.mark.parametrize("dtype", DTYPES)
def test_sin_cos_large_arguments(dtype):
    """Beyond 2^19 the kernel hands the element to std::sin / std::cos (full reduction)."""
    x = np.array([6e5, -1e7, 3.4e38 if dtype == np.float32 else 1e300, 1e22, 100.0], dtype)
    for op, ref in ((ember.sin, np.sin), (ember.cos, np.cos)):
        y = op(ember.tensor(x)).numpy()
        want = ref(x.astype(np.float64))
        np.testing.assert_allclose(y, want, rtol=1e-6 if dtype == np.float32 else 1e-15)


def test_threads_give_identical_results():
    x = _inputs("sin", 300_000, np.float32)
    old = ember.get_num_threads()
    try:
        got = []
        for nt in (1, 2):
            ember.set_num_threads(nt)
            got.append([OPS[n][0](ember.tensor(np.abs(x) + 0.5)).numpy() for n in NAMES])
        for a, b in zip(*got):
            np.testing.assert_array_equal(a, b)
    finally:
        ember.set_num_threads(old)


# ---- clamp ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "lo,hi", [(0.2, 0.8), (None, 0.0), (0.0, None), (0.8, 0.2), (np.nan, 1.0), (None, np.nan)]
)
def test_clamp_matches_torch(lo, hi, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-1, 2, 3000), [0.0, -0.0, 0.2, 0.8, np.nan, np.inf, -np.inf]])
    x = x.astype(dtype)
    e = ember.tensor(x, requires_grad=True)
    y = ember.clamp(e, lo, hi)
    t = torch.tensor(x, requires_grad=True)
    ty = torch.clamp(t, lo, hi)
    _same_bits(y.detach().numpy(), ty.detach().numpy())
    g = rng.standard_normal(x.shape).astype(dtype)
    y.backward(ember.tensor(g))
    ty.backward(torch.from_numpy(g))
    _same_bits(e.grad.numpy(), t.grad.numpy())


def test_clamp_integers_and_strided_keep_numpy():
    x = ember.tensor(np.arange(-5, 5))
    y = ember.clamp(x, -2, 3)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), np.clip(np.arange(-5, 5), -2, 3))
    assert ember.clamp(x, 0.5).dtype == np.float32  # an int tensor with a float bound
    a = np.linspace(-1, 1, 40, dtype=np.float32).reshape(4, 10)[:, ::3]  # strided
    np.testing.assert_array_equal(
        ember.clamp(ember.tensor(a), -0.5, 0.5).numpy(), a.clip(-0.5, 0.5)
    )


# ---- the NumPy fallback: strided, low precision, integer, empty, 0-d -------------------------


@pytest.mark.parametrize("name", NAMES)
def test_fallbacks(name):
    op, ref = OPS[name][0], OPS[name][1]
    base = np.random.default_rng(9).uniform(0.5, 3, 60).astype(np.float32)
    strided = base.reshape(6, 10)[:, ::2]  # non-contiguous: NumPy's loop
    y = op(ember.tensor(strided))
    assert y.shape == (6, 5) and y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ref(strided.astype(np.float64)), rtol=1e-6)
    h16 = base[:8].astype(np.float16)
    h = op(ember.tensor(h16))
    assert h.dtype == np.float16
    np.testing.assert_allclose(h.numpy(), ref(h16.astype(np.float64)), rtol=2e-3)
    assert op(ember.tensor(np.zeros((0, 3), np.float32))).shape == (0, 3)
    z = op(ember.tensor(np.float64(0.75)))
    assert z.shape == () and z.dtype == np.float64
    np.testing.assert_allclose(float(z.item()), ref(np.float64(0.75)), rtol=1e-15)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "expm1", "log1p", "rsqrt", "sin", "cos"])
def test_integer_inputs_become_float32(name):
    x = ember.tensor(np.array([1, 2, 3], np.int32))
    y = OPS[name][0](x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), OPS[name][1](np.array([1.0, 2, 3])), rtol=1e-6)


# ---- gradients -----------------------------------------------------------------------------

GRAD_DOMAIN = {"log": (0.5, 3), "log1p": (-0.5, 3), "sqrt": (0.5, 3), "rsqrt": (0.5, 3)}


@pytest.mark.parametrize("name", NAMES)
def test_gradcheck_float64(name):
    lo, hi = GRAD_DOMAIN.get(name, (-2, 2))
    x = np.random.default_rng(5).uniform(lo, hi, (3, 7))
    if name in ("abs", "reciprocal"):
        x = np.where(np.abs(x) < 0.2, 0.7, x)  # away from the kink / pole
    t = ember.tensor(x, requires_grad=True)
    assert ember.autograd.gradcheck(OPS[name][0], (t,), eps=1e-6, atol=1e-7, rtol=1e-6)
    c = ember.tensor(np.random.default_rng(6).uniform(-1, 2, (5, 4)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda v: ember.clamp(v, 0.1, 0.9), (c,), atol=1e-7)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_gradients_match_torch(name, dtype):
    """Through the kernel backward: a full gradient and a full sum's (one value, unfilled)."""
    torch = pytest.importorskip("torch")
    x = _inputs(name, 70_001, dtype, seed=7)
    if name in ("log", "log1p", "sqrt", "rsqrt"):
        x = np.clip(x, None, 1e4) + 0.25  # gradients of float32 magnitude
    g = np.random.default_rng(8).standard_normal(x.shape).astype(dtype)
    tol = dict(rtol=2e-6, atol=1e-30) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-300)
    if name == "expm1":  # dy * (y + 1) cancels where y is -1 to an ulp (x << 0), in torch too
        tol["atol"] = 2 * np.finfo(dtype).eps * np.abs(g).max()
    for full in (True, False):
        e = ember.tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        y, ty = OPS[name][0](e), getattr(torch, OPS[name][2])(t)
        if full:
            y.backward(ember.tensor(g))
            ty.backward(torch.from_numpy(g))
        else:
            y.sum().backward()
            ty.sum().backward()
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **tol)


def test_double_backward_and_forward_ad():
    x = ember.tensor(np.array([0.3, 0.7, 1.9]), requires_grad=True)
    for op in (ember.sqrt, ember.log, ember.rsqrt, ember.expm1, ember.sin):
        assert ember.autograd.gradgradcheck(op, (x,))
        assert ember.autograd.gradcheck(op, (x,), check_forward_ad=True, fast_mode=True)


def test_inplace_write_after_use_is_refused():
    x = ember.tensor(np.array([1.0, 2.0, 3.0], np.float32), requires_grad=True)
    h = x * 1.0
    y = ember.log(h)
    h.add_(1.0)  # log saved h: its backward must refuse, as torch's version counter does
    with pytest.raises(RuntimeError):
        y.sum().backward()


# ---- the C++ boundary ----------------------------------------------------------------------


def test_cpp_boundary_refuses_bad_arrays():
    x = np.ones((4, 5), np.float32)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.activation_forward("exp", np.ones(3, np.int64))
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.activation_forward("sin", np.ones(3, bool))
    # (16-bit floats: the module's wrapper runs the float32 kernel and rounds back)
    h = _C.activation_forward("sqrt", np.array([4.0, 2.0], np.float16))
    assert h.dtype == np.float16 and h[0] == 2
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.activation_forward("sqrt", x[:, ::2])
    with pytest.raises(ValueError, match="unknown activation"):
        _C.activation_forward("tan", x)
    with pytest.raises(ValueError, match="no backward kernel"):
        _C.activation_backward("exp", x, x)
    with pytest.raises(ValueError, match=r"saved must have shape \(5, 4\), got \(4, 5\)"):
        _C.activation_backward("log", np.ones((5, 4), np.float32), x)
    with pytest.raises(TypeError, match="dtypes differ"):
        _C.activation_backward("sqrt", x, x.astype(np.float64))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.activation_backward("clamp", x.T, np.ones((5, 4), np.float32))
    out = np.empty_like(x)
    assert _C.activation_forward("clamp", x, 0.0, 0.5, out=out) is out
    np.testing.assert_array_equal(out, 0.5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_by_a_kernel_exponent_keeps_numpys_bits(dtype):
    # x ** 2, 0.5, -1, -0.5 of a big array run on the unary kernels' threads: the bits of the
    # products and square roots NumPy computes for them below the threshold
    rng = np.random.default_rng(21)
    x = rng.standard_normal(3 * 65536).astype(dtype)
    x[:8] = [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-300 if dtype == np.float64 else 1e-40, -1, 4]
    with np.errstate(all="ignore"):
        want = {2: np.square(x), 0.5: np.sqrt(x), -1: 1 / x, -0.5: 1 / np.sqrt(x)}
    t = ember.tensor(x, requires_grad=True)
    for e, w in want.items():
        y = t**e
        assert y.dtype == dtype and y.grad_fn.name() == "PowBackward0"
        np.testing.assert_array_equal(y.detach().numpy(), w)
    (t**2).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), 2 * x)
