"""float32 log2 / log10 by the AVX-512 table form (csrc/ops/activation.cpp, log_table_avx512: the
kernels' path on CPUs with AVX-512, _C._vecmath's isa 4), held to its measured 0.53 ulp against
NumPy's float64 over a sweep of every binade (denormals included) and the floats next to 1, where
the reduction switches tables and the result cancels; the special values as torch; the public ops
equal on 1 and 2 threads (elementwise: no partial sums)."""

import numpy as np
import pytest

import ember
from ember import _C

F32 = np.finfo(np.float32)
HAS_V4 = 4 in _C._vecmath_isas()


def _ulps(y, ref64):
    sp = np.spacing(np.abs(ref64).astype(np.float32)).astype(np.float64)
    sp = np.maximum(sp, float(F32.smallest_subnormal))
    return np.abs(y.astype(np.float64) - ref64) / sp


def _inputs():
    """Every 1009th positive float32, the 200,000 floats around 1, and the table's edges:
    m = 1 + (j + 1/2) / 32 for j in [-8, 16) in a few binades (where j rounds either way)."""
    bits = np.arange(1, 0x7F800000, 1009, dtype=np.uint32).view(np.float32)
    near1 = np.float32(1) + np.arange(-100_000, 100_000, dtype=np.float32) * np.float32(2**-24)
    m = (1 + (np.arange(-8, 16) + 0.5) / 32).astype(np.float32)
    steps = np.arange(-64, 64, dtype=np.float32) * np.float32(2**-23)
    edges = (m[:, None] + steps[None, :]).ravel()
    edges = np.concatenate([np.ldexp(edges, k) for k in (-140, -20, 0, 1, 50, 126)])
    rng = np.random.default_rng(39)
    wide = np.exp(rng.uniform(-100, 88, 100_000)).astype(np.float32)
    return np.concatenate([bits, near1, edges.astype(np.float32), wide])


@pytest.mark.skipif(not HAS_V4, reason="the CPU has no AVX-512")
@pytest.mark.parametrize("name", ["log2", "log10"])
def test_table_form_within_053_ulp(name):
    x = _inputs()
    y = _C._vecmath(name, x, 4)
    assert y.dtype == np.float32
    assert _ulps(y, getattr(np, name)(x.astype(np.float64))).max() <= 0.53  # measured 0.521, 0.526
    if name == "log2":
        p = np.ldexp(np.float32(1), np.arange(-149, 128)).astype(np.float32)
        np.testing.assert_array_equal(_C._vecmath("log2", p, 4), np.arange(-149, 128))
    else:
        p = np.float32(10.0) ** np.arange(0, 11, dtype=np.float32)  # exact in float32
        np.testing.assert_array_equal(_C._vecmath("log10", p, 4), np.arange(0, 11))


@pytest.mark.parametrize("n", [1, 15, 16, 17, 33, 1000])
@pytest.mark.parametrize("name", ["log2", "log10"])
def test_specials_and_tails_as_torch(name, n):
    """The masked tail (n not a multiple of 16) and every special class, as torch."""
    torch = pytest.importorskip("torch")
    sp = np.float32([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -1e-40, 1e-45, F32.max, 2.0])
    rng = np.random.default_rng(n)
    x = np.resize(sp, n) * rng.choice(np.float32([1, 1, 0.75]), n)
    y = getattr(ember, name)(ember.tensor(x)).numpy()
    want = getattr(torch, name)(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    ok = ~np.isnan(want)
    exact = ok & (~np.isfinite(want) | (want == 0))
    np.testing.assert_array_equal(y[exact], want[exact])
    np.testing.assert_array_equal(np.signbit(y[ok]), np.signbit(want[ok]))
    fin = ok & ~exact
    ref = getattr(np, name)(x[fin].astype(np.float64))
    assert np.all(_ulps(y[fin], ref) <= 0.8)  # the table form's 0.53 or vecmath.h's 0.8


@pytest.mark.parametrize("name", ["log2", "log10"])
def test_one_and_two_threads_equal_and_close_to_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = np.exp(rng.uniform(-80, 80, 300_001)).astype(np.float32)
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        y1 = getattr(ember, name)(ember.tensor(x)).numpy()
        ember.set_num_threads(2)
        y2 = getattr(ember, name)(ember.tensor(x)).numpy()
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)
    np.testing.assert_array_equal(y1, _C._vecmath(name, x))
    ref = getattr(np, name)(x.astype(np.float64))
    want = getattr(torch, name)(torch.from_numpy(x)).numpy()
    # no worse than torch's Sleef u10 anywhere it matters: within 0.8 ulp and torch's own bound
    assert _ulps(y1, ref).max() <= max(0.8, _ulps(want, ref).max())


def _hypot_pairs():
    """Random pairs over the whole float64 range: ratios up to past 2^54 (glibc's a + b cut),
    both near its scaling edges 2^511 and 2^-459, denormals."""
    rng = np.random.default_rng(3939)
    n = 400_000
    a = rng.uniform(-1, 1, n) * 2.0 ** rng.integers(-1074, 1024, n).astype(np.float64)
    r = 2.0 ** rng.uniform(-60, 0, n) * rng.choice([-1.0, 1.0], n)
    b = a * r
    edge = 2.0 ** rng.choice([511, 512, -459, -460, -1000], 50_000) * rng.uniform(0.5, 2, 50_000)
    c = edge * 2.0 ** rng.uniform(-56, 0, 50_000)
    sp = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1.7e308, 1.0, 2.0**-1022])
    sa, sb = (v.ravel() for v in np.meshgrid(sp, sp))
    return np.concatenate([a, edge, sa]), np.concatenate([b, c, sb])


def test_hypot_float64_as_numpy():
    """The vectorised glibc hypot: NumPy's (libm's) bits (elementwise.cpp is built without FMA
    contraction; the test allows one ulp for a libm built otherwise)."""
    a, b = _hypot_pairs()
    with np.errstate(all="ignore"):
        want = np.hypot(a, b)
        y = ember.hypot(ember.tensor(a), ember.tensor(b)).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    ok = ~np.isnan(want)
    same = y[ok] == want[ok]
    assert same.mean() >= 0.9999
    w, d = want[ok][~same], y[ok][~same]
    assert np.all(np.isfinite(w) & (np.abs(d - w) <= np.spacing(w)))
    # b as one value and swapped sides: the same bits
    np.testing.assert_array_equal(ember.hypot(ember.tensor(b), ember.tensor(a)).numpy(), y)
    one = ember.hypot(ember.tensor(a[:1000]), 3.0).numpy()
    np.testing.assert_array_equal(
        one, ember.hypot(ember.tensor(a[:1000]), ember.tensor(np.full(1000, 3.0))).numpy()
    )


def test_hypot_float64_threads_and_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(2, 300_001)) * 10.0 ** rng.integers(-5, 5, (2, 300_001))
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        y1 = ember.hypot(ember.tensor(a), ember.tensor(b)).numpy()
        ember.set_num_threads(2)
        y2 = ember.hypot(ember.tensor(a), ember.tensor(b)).numpy()
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(y1, y2)
    want = torch.hypot(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    assert np.all(np.abs(y1 - want) <= np.spacing(want))  # torch's Sleef u05: within an ulp


@pytest.mark.parametrize("name", ["i0e", "i1e"])
def test_i0e_i1e_as_torch(name):
    """The C kernel of Cephes' series (special.cpp bessel_ie): torch's float64 bits, float32
    rounded once from them (torch's float32 form evaluates in float, less accurately);
    both sides of the |x| = 8 switch, large arguments, specials; non-contiguous input."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = np.concatenate(
        [
            rng.uniform(-30, 30, 200_000),
            8 + np.arange(-50, 50) * 2.0**-50,
            -(8 + np.arange(-50, 50) * 2.0**-50),
            np.exp(rng.uniform(-40, 700, 10_000)) * rng.choice([-1, 1], 10_000),
            [0.0, -0.0, np.inf, -np.inf, np.nan, 5e-324, 1e308],
        ]
    )
    f = getattr(ember.special, name)
    tf = getattr(torch.special, name)
    y = f(ember.tensor(x)).numpy()
    want = tf(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(y, want)
    np.testing.assert_array_equal(np.signbit(y), np.signbit(want))
    np.testing.assert_array_equal(f(ember.tensor(x)[::3]).numpy(), want[::3])
    with np.errstate(over="ignore"):
        x32 = x.astype(np.float32)
    y32 = f(ember.tensor(x32)).numpy()
    assert y32.dtype == np.float32
    np.testing.assert_array_equal(
        y32, tf(torch.from_numpy(x32).double()).numpy().astype(np.float32)
    )


@pytest.mark.parametrize("name", ["i0e", "i1e"])
def test_i0e_i1e_gradcheck(name):
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.uniform(-12, 12, 9), dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(getattr(ember.special, name), (x,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("e", [2, 3, -2, 3.0, -2.0, -1])
def test_pow_small_integer_exponents_as_torch(e, dtype):
    """pow(x, 3) and pow(x, -2) by one-pass kernels (activation.cpp cube, inv_square): torch's
    bits, overflow to inf and the signed zeros included; one and two threads alike."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(int(abs(e) * 10))
    x = np.concatenate(
        [
            rng.uniform(-5, 5, 200_001),
            np.exp(rng.uniform(-200, 200, 1000)) * rng.choice([-1, 1], 1000),
            [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-310, -1e-310, 1e200, -1e200],
        ]
    )
    with np.errstate(all="ignore"):
        x = x.astype(dtype)
    want = torch.pow(torch.from_numpy(x), e).numpy()
    old = ember.get_num_threads()
    try:
        for t in (1, 2):
            ember.set_num_threads(t)
            y = ember.pow(ember.tensor(x), e).numpy()
            assert y.dtype == dtype
            np.testing.assert_array_equal(y, want)
            ok = ~np.isnan(want)  # (a NaN's sign bit is not pinned: sqrt(-1) differs)
            np.testing.assert_array_equal(np.signbit(y[ok]), np.signbit(want[ok]))
    finally:
        ember.set_num_threads(old)


@pytest.mark.parametrize("e", [3, -2])
def test_pow_kernel_exponents_gradcheck(e):
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.uniform(0.5, 2, 7) * rng.choice([-1, 1], 7), requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: ember.pow(t, e), (x,))
    assert ember.autograd.gradgradcheck(lambda t: ember.pow(t, e), (x,))
