"""float32 log2 / log10 / asin / acos / atan evaluated in float (csrc/vecmath.h: vm::log_hilo,
vm::asin_acos_float, vm::atan_float) and float32 erfc (vectorised in double), in every SIMD clone
this CPU runs (_C._vecmath's isa: x86-64-v4, x86-64-v3 and the baseline, whose FMA contraction
differs), held to <= 1 ulp (PyTorch's Sleef u10 bound) against NumPy's float64 over dense sweeps:
every binade down to the denormals, next to 1 for the logs, next to +-1/2 and +-1 for asin / acos,
the interval edges for atan. Special values (0, -0, +-inf, NaN, out of domain) as PyTorch's."""

import math

import numpy as np
import pytest

import ember
from ember import _C

F32 = np.finfo(np.float32)
ISAS = [0, *_C._vecmath_isas()]  # 0: the clone the CPU dispatch picks, as ember.log2 runs


def _ulps(y, ref64):
    """|y - ref| in float32 ulps at ref (denormal references: units of the smallest step)."""
    fin = np.isfinite(ref64) & (np.abs(ref64) <= F32.max)
    sp = np.spacing(np.abs(ref64[fin]).astype(np.float32)).astype(np.float64)
    sp = np.maximum(sp, float(F32.smallest_subnormal))
    return np.abs(y[fin].astype(np.float64) - ref64[fin]) / sp


def _same_specials(y, want):
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(y[ok], want[ok])
    np.testing.assert_array_equal(np.signbit(y[ok]), np.signbit(want[ok]))


def _log_inputs():
    """Every 211th positive float32 (denormals to FLT_MAX) and the 400,000 floats around 1."""
    bits = np.arange(1, 0x7F800000, 211, dtype=np.uint32).view(np.float32)
    near1 = np.float32(1) + np.arange(-200_000, 200_000, dtype=np.float32) * np.float32(2**-24)
    edges = np.float32([F32.smallest_subnormal, F32.tiny, F32.max, 0.70710677, 1.4142135])
    return np.concatenate([bits, near1, edges])


def _unit_inputs():
    """Every 61st float32 in [0, 1], both signs, plus dense runs next to 1/2 and 1."""
    b = np.arange(0, 0x3F800001, 61, dtype=np.uint32).view(np.float32)
    near1 = np.float32(1) - np.arange(0, 100_000, dtype=np.float32) * np.float32(2**-24)
    half = np.float32(0.5) + np.arange(-50_000, 50_000, dtype=np.float32) * np.float32(2**-25)
    x = np.concatenate([b, near1, half])
    return np.concatenate([x, -x])


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name, bound", [("log2", 0.8), ("log10", 0.75)])  # measured 0.78, 0.70
def test_float32_log2_log10_within_one_ulp(name, bound, isa):
    x = _log_inputs()
    y = _C._vecmath(name, x, isa)
    assert y.dtype == np.float32
    assert _ulps(y, getattr(np, name)(x.astype(np.float64))).max() <= bound
    if name == "log2":  # exact at the powers of two, the denormal ones included
        p = np.ldexp(np.float32(1), np.arange(-149, 128)).astype(np.float32)
        np.testing.assert_array_equal(_C._vecmath("log2", p, isa), np.arange(-149, 128))
    sp = np.float32([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -1e-40, -2.0, 1e-45])
    with np.errstate(all="ignore"):
        want = getattr(np, name)(sp.astype(np.float64)).astype(np.float32)
    _same_specials(_C._vecmath(name, sp, isa), want)


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["asin", "acos"])
def test_float32_asin_acos_within_one_ulp(name, isa):
    x = _unit_inputs()
    y = _C._vecmath(name, x, isa)
    assert y.dtype == np.float32
    ref = getattr(np, "arc" + name[1:])(x.astype(np.float64))
    assert _ulps(y, ref).max() <= 0.65  # measured 0.615 (asin), 0.618 (acos)
    sp = np.float32([0.0, -0.0, 1.0, -1.0, 1.5, -1.5, np.inf, -np.inf, np.nan, 1e-40, -1e-40])
    with np.errstate(all="ignore"):
        want = getattr(np, "arc" + name[1:])(sp.astype(np.float64)).astype(np.float32)
    _same_specials(_C._vecmath(name, sp, isa), want)


@pytest.mark.parametrize("isa", ISAS)
def test_float32_atan_within_one_ulp(isa):
    """atan's three intervals (edges 1/2 and 2, where the reduction switches), every binade."""
    b = np.arange(0, 0x7F800000, 211, dtype=np.uint32).view(np.float32)
    steps = np.arange(-50_000, 50_000, dtype=np.float32)
    edges = [np.float32(e) + steps * np.spacing(np.float32(e)) / 2 for e in (0.5, 1.0, 2.0)]
    x = np.concatenate([b, *edges])
    x = np.concatenate([x, -x])
    y = _C._vecmath("atan", x, isa)
    assert y.dtype == np.float32
    assert _ulps(y, np.arctan(x.astype(np.float64))).max() <= 0.75  # measured 0.71
    sp = np.float32([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, F32.max])
    _same_specials(
        _C._vecmath("atan", sp, isa), np.arctan(sp.astype(np.float64)).astype(np.float32)
    )


@pytest.mark.parametrize("name", ["log2", "log10", "asin", "acos", "atan"])
def test_float32_public_ops_match_the_kernel(name):
    """ember.log2 etc. on float32 tensors run these kernels (the dispatched clone)."""
    x = _unit_inputs() if name in ("asin", "acos", "atan") else _log_inputs()
    np.testing.assert_array_equal(
        getattr(ember, name)(ember.tensor(x)).numpy(), _C._vecmath(name, x)
    )


@pytest.mark.parametrize("name", ["log2", "log10", "asin", "acos", "atan", "erfc"])
def test_float32_special_values_as_torch(name):
    torch = pytest.importorskip("torch")
    x = np.float32([0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, np.inf, -np.inf, np.nan, 1e-45])
    x = np.concatenate([x, np.float32([-1e-40, 1e-40, 10.0, 12.0, -12.0, 9.5])])
    want = getattr(torch, name)(torch.from_numpy(x)).numpy()
    y = getattr(ember, name)(ember.tensor(x)).numpy()
    # NaN, infinities, zeros and signs exactly; finite values within torch's own 1-ulp bound
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(y[ok]), np.signbit(want[ok]))
    exact = ok & (~np.isfinite(want) | (want == 0))
    np.testing.assert_array_equal(y[exact], want[exact])
    fin = ok & ~exact
    assert (np.abs(y[fin] - want[fin]) <= np.spacing(np.abs(want[fin]))).all()


def test_float32_erfc_vectorised_in_double():
    """float32 erfc: vm::erfc_float, in double rounded once (erfc of a float32 is a denormal from
    x ~ 9.2 and 0 from 10.05), within a last bit everywhere; float64 erfc is left to std::erfc."""
    rng = np.random.default_rng(3)
    x = np.concatenate(
        [
            rng.uniform(-6, 11, 200_000),
            rng.choice([-1, 1], 20_000) * np.exp(rng.uniform(-100, 0, 20_000)),
            np.linspace(9, 10.1, 20_000),
        ]
    ).astype(np.float32)
    y = ember.erfc(ember.tensor(x)).numpy()
    assert y.dtype == np.float32
    ref = np.array([math.erfc(float(v)) for v in x])
    assert _ulps(y, ref).max() <= 0.51  # measured 0.500: rounded once from double
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(
        ember.erfc(ember.tensor(x64)).numpy(), [math.erfc(v) for v in x64], rtol=8e-16, atol=1e-322
    )


@pytest.mark.parametrize("isa", ISAS)
def test_float32_erfc_each_clone_within_half_ulp(isa):
    """vm::erfc_float in each SIMD clone (FMA contraction differs): every 397th float32 of both
    signs up to 10.1, the denormal results included, against float64 erfc (torch's, std::erfc);
    ember.erfc runs the dispatched clone."""
    torch = pytest.importorskip("torch")
    b = np.arange(0, np.float32(10.1).view(np.uint32), 397, dtype=np.uint32).view(np.float32)
    x = np.concatenate([b, -b])
    y = _C._vecmath("erfc", x, isa)
    assert y.dtype == np.float32
    ref = torch.special.erfc(torch.from_numpy(x.astype(np.float64))).numpy()
    assert _ulps(y, ref).max() <= 0.51  # measured 0.500
    if isa == 0:
        np.testing.assert_array_equal(ember.erfc(ember.tensor(x)).numpy(), y)


def test_vecmath_hook_refuses_an_unknown_isa():
    with pytest.raises(ValueError, match="isa"):
        _C._vecmath("log2", np.ones(3, np.float32), 7)


def _gelu_sweep():
    """Every 97th float32 of both signs up to 20 (dense near 0, past the underflow of x Phi(x))."""
    b = np.arange(0, np.float32(20).view(np.uint32), 97, dtype=np.uint32).view(np.float32)
    return np.concatenate([b, -b])


def _gelu_ref(x):
    """float64 x Phi(x) and Phi(x) + x phi(x) from math.erfc (Phi(x) = erfc(-x/sqrt 2) / 2)."""
    x = x.astype(np.float64)
    cdf = 0.5 * np.array([math.erfc(-v / math.sqrt(2)) for v in x])
    return x * cdf, cdf, cdf + x * np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)


def _gelu_errors(y, x, ref, scale):
    """Max ulps of y at scale where scale >= 1e-30 (smaller results: only |y - ref| / max(1, |x|),
    where float32's ulps stop meaning anything), and that tail's largest such error."""
    e = np.abs(y.astype(np.float64) - ref)
    big = scale >= 1e-30
    ulp = np.spacing(scale[big].astype(np.float32)).astype(np.float64)
    return (e[big] / ulp).max(), (e[~big] / np.maximum(1.0, np.abs(x[~big]))).max()


@pytest.mark.parametrize("isa", ISAS)
def test_float32_gelu_each_clone(isa):
    """GELU's x Phi(x) and its derivative Phi + x phi (vm::normal_tail64) in each SIMD clone: within
    7 ulp with FMA (measured 6.4 near x = 0.004), where the exponent -x*x/2 is formed in one
    rounding; the baseline clone rounds x*x first (measured 64 ulp near x = -11.4, 7.1 for
    x > -3). The derivative crosses 0 near x = -0.75, so its ulps are those of its larger term.
    isa 0 is the clone the kernels run: it matches F.gelu's forward and backward bit for bit."""
    x = _gelu_sweep()
    fwd, cdf, grad = _gelu_ref(x)
    y, g = _C._vecmath("gelu", x, isa), _C._vecmath("gelu_grad", x, isa)
    assert y.dtype == g.dtype == np.float32
    fma = isa != 1 and (isa != 0 or bool(_C._vecmath_isas()))
    uy, ty = _gelu_errors(y, x, fwd, np.abs(fwd))
    ug, tg = _gelu_errors(g, x, grad, np.maximum(np.abs(grad), cdf))
    assert ty <= 1e-36 and tg <= 1e-36
    if fma:
        assert uy <= 7 and ug <= 11  # measured 6.4, 10.4 (near x = -0.74)
    else:
        assert uy <= 70 and ug <= 70
        near = x > -3
        assert _gelu_errors(y[near], x[near], fwd[near], np.abs(fwd[near]))[0] <= 8
    if isa == 0:
        np.testing.assert_array_equal(_C.activation_forward("gelu", x), y)
        np.testing.assert_array_equal(_C.activation_backward("gelu", np.ones_like(x), x), g)


def test_float32_gelu_not_less_accurate_than_torch():
    """On the dense sweep ember's exact GELU (forward and derivative) is no further from float64
    than torch's (whose erf fit is ~1.7e7 ulp off in the left tail)."""
    torch = pytest.importorskip("torch")
    x = _gelu_sweep()
    fwd, cdf, grad = _gelu_ref(x)
    tx = torch.from_numpy(x)
    ty = torch.nn.functional.gelu(tx).numpy()
    tg = torch.ops.aten.gelu_backward(torch.ones_like(tx), tx).numpy()
    ey = _C.activation_forward("gelu", x)
    eg = _C.activation_backward("gelu", np.ones_like(x), x)
    sg = np.maximum(np.abs(grad), cdf)
    for e, t, ref, scale in ((ey, ty, fwd, np.abs(fwd)), (eg, tg, grad, sg)):
        ue, te = _gelu_errors(e, x, ref, scale)
        ut, tt = _gelu_errors(t, x, ref, scale)
        assert ue <= ut and te <= max(tt, 1e-36)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_float32_gelu_special_values_as_torch(approximate):
    """NaN, -inf, +-0, the tail underflowing to -0, huge values, denormals as torch's. Left out:
    +inf and +-FLT_MAX, where torch's float32 loops give artifacts of their formula (exact
    gelu(inf) = NaN, gelu(FLT_MAX) = inf; tanh's backward NaN for |x| >~ 1e13) that its float64
    loops do not: ember gives inf, FLT_MAX and finite derivatives as torch's float64."""
    torch = pytest.importorskip("torch")
    x = np.float32(
        [
            np.nan,
            -np.inf,
            0.0,
            -0.0,
            -14.0,
            -14.5,
            -20.0,
            -1e4,
            1e4,
            -1e30,
            1e30,
            F32.smallest_subnormal,
            -F32.smallest_subnormal,
            3e-30,
            -3e-30,
        ]
    )
    tx = torch.from_numpy(x)
    want = torch.nn.functional.gelu(tx, approximate=approximate).numpy()
    y = _C.activation_forward("gelu", x, approximate=approximate)
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    num = ~np.isnan(want)
    np.testing.assert_array_equal(np.signbit(y[num]), np.signbit(want[num]))
    # atol: gelu(-14) = -1.18e-43 (denormal), torch's -0
    np.testing.assert_allclose(y, want, rtol=1e-6, atol=1.5e-43)
    mid = np.abs(x) <= 1e4
    ones = torch.ones_like(tx[mid])
    gwant = torch.ops.aten.gelu_backward(ones, tx[mid], approximate=approximate).numpy()
    g = _C.activation_backward("gelu", np.ones_like(x[mid]), x[mid], approximate=approximate)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(gwant))
    np.testing.assert_allclose(g, gwant, rtol=1e-6, atol=1e-37)


def test_float32_gelu_threads_bit_identical():
    x = (np.random.default_rng(3).standard_normal(600_000) * 4).astype(np.float32)
    dy = np.random.default_rng(4).standard_normal(600_000).astype(np.float32)
    old = ember.get_num_threads()
    try:
        out = []
        for nt in (1, 2):
            ember.set_num_threads(nt)
            out.append((_C.activation_forward("gelu", x), _C.activation_backward("gelu", dy, x)))
    finally:
        ember.set_num_threads(old)
    for a, b in zip(out[0], out[1]):
        np.testing.assert_array_equal(a, b)
