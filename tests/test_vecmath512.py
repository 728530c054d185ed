"""csrc/vecmath.h's division-free forms, held to their measured accuracy across the whole range:
float32 log / log1p (Cephes' polynomial in f, no division), float32 sin / cos (one polynomial
after a reduction by pi), float32 log2 / log10 (in float, no division), asin / acos in both
dtypes (a polynomial in s^2 and one square root, no division) and tanh in
both dtypes (one division for both of its forms). Inputs run through every binade, the
denormals, the reduction boundaries and the special values; the references are NumPy's float64
(float32 results) and mpmath (float64 asin / acos / tanh)."""

import mpmath as mp
import numpy as np
import pytest

import ember
from ember import _C

F32 = np.finfo(np.float32)


def _ulps(y, ref64, dtype=np.float32):
    """|y - ref| in ulps of dtype at ref; denormal references in units of the smallest step."""
    fin = np.isfinite(ref64) & (np.abs(ref64) <= np.finfo(dtype).max)
    sp = np.spacing(np.abs(ref64[fin]).astype(dtype)).astype(np.float64)
    sp = np.maximum(sp, float(np.finfo(dtype).smallest_subnormal))
    return np.abs(y[fin].astype(np.float64) - ref64[fin]) / sp


def _positive_floats(stride=2039):
    """Every stride-th positive float32 bit pattern (denormals to FLT_MAX) plus the edges."""
    bits = np.arange(1, 0x7F800000, stride, dtype=np.uint32)
    edges = np.array([0.70710677, 0.70710678118654752, 1.0, 1.4142135, 1.41421356237, 2.0, 0.5])
    edges = edges.astype(np.float32)
    extra = [F32.smallest_subnormal, F32.tiny, F32.max, np.float32(1e-45), np.float32(3e-39)]
    extra += list(np.nextafter(edges, np.float32(0))) + list(np.nextafter(edges, np.float32(9)))
    return np.concatenate([bits.view(np.float32), edges, np.array(extra, np.float32)])


def _same_specials(y, want):
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(y[ok], want[ok])
    np.testing.assert_array_equal(np.signbit(y[ok]), np.signbit(want[ok]))


SPECIALS = np.array([0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, -1e-40, -2.0], np.float32)


def test_float32_log_every_binade():
    x = _positive_floats()
    y = _C._vecmath("log", x)
    assert y.dtype == np.float32
    assert _ulps(y, np.log(x.astype(np.float64))).max() <= 1.05  # measured 1.006
    with np.errstate(all="ignore"):
        _same_specials(_C._vecmath("log", SPECIALS), np.log(SPECIALS))


def test_float32_log1p_whole_range():
    pos = _positive_floats(4099)
    neg = -pos[pos < 1]  # (-1, 0): down to the denormals and up to -1's neighbour
    x = np.concatenate([pos, neg, np.nextafter(np.float32(-1), np.float32(0))[None]])
    y = _C._vecmath("log1p", x)
    assert _ulps(y, np.log1p(x.astype(np.float64))).max() <= 1.4  # measured 1.355
    with np.errstate(all="ignore"):  # ember.log1p: vecmath's own log1p(-0) is +0
        want = np.log1p(SPECIALS).astype(np.float32)
    _same_specials(ember.log1p(ember.tensor(SPECIALS)).numpy(), want)


@pytest.mark.parametrize("name", ["sin", "cos"])
def test_float32_sin_cos(name):
    rng = np.random.default_rng(0)
    x = np.concatenate(
        [
            rng.uniform(-10, 10, 200_000),
            rng.uniform(-3e5, 3e5, 200_000),  # up to the reduction's limit (2^19) and beyond
            rng.uniform(5e5, 6e5, 1000) * rng.choice([-1, 1], 1000),
            rng.choice([-1, 1], 20_000) * np.exp(rng.uniform(-104, 0, 20_000)),  # denormals too
            np.pi / 2 * np.arange(-400, 401),  # near the zeros of sin and cos
        ]
    ).astype(np.float32)
    y = getattr(ember, name)(ember.tensor(x)).numpy()
    ref = getattr(np, name)(x.astype(np.float64))
    assert _ulps(y, ref).max() <= 0.51  # measured 0.500: rounded once from double
    with np.errstate(all="ignore"):
        want = getattr(np, name)(SPECIALS.astype(np.float64)).astype(np.float32)
    _same_specials(getattr(ember, name)(ember.tensor(SPECIALS)).numpy(), want)


@pytest.mark.parametrize("name", ["log2", "log10"])
def test_float32_log2_log10_every_binade(name):
    x = _positive_floats()
    y = getattr(ember, name)(ember.tensor(x)).numpy()
    # evaluated in float (vm::log_hilo): within PyTorch's 1-ulp bound, measured 0.78 / 0.70
    assert _ulps(y, getattr(np, name)(x.astype(np.float64))).max() <= 0.8
    if name == "log2":  # exact at the powers of two, denormal ones included
        p = np.ldexp(np.float32(1), np.arange(-149, 128)).astype(np.float32)
        np.testing.assert_array_equal(ember.log2(ember.tensor(p)).numpy(), np.arange(-149, 128))
    with np.errstate(all="ignore"):
        want = getattr(np, name)(SPECIALS.astype(np.float64)).astype(np.float32)
    _same_specials(getattr(ember, name)(ember.tensor(SPECIALS)).numpy(), want)


def _asin_acos_inputs(dtype, n):
    rng = np.random.default_rng(1)
    tiny = -36 if dtype == np.float64 else -16
    near1 = 1 - np.exp(rng.uniform(tiny, 0, n))
    x = np.concatenate(
        [
            rng.uniform(-1, 1, n),
            near1,
            -near1,
            rng.choice([-1, 1], n)
            * np.exp(rng.uniform(-700 if dtype == np.float64 else -100, 0, n)),
            [0.5, -0.5, 1.0, -1.0],
        ]
    ).astype(dtype)
    half = np.array([0.5, -0.5], dtype)
    return np.concatenate([x, np.nextafter(half, 0), np.nextafter(half, 2 * half)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["asin", "acos"])
def test_asin_acos(name, dtype):
    x = _asin_acos_inputs(dtype, 1500 if dtype == np.float64 else 100_000)
    y = getattr(ember, name)(ember.tensor(x)).numpy()
    assert y.dtype == dtype
    if dtype == np.float32:
        ref = getattr(np, "arc" + name[1:])(x.astype(np.float64))
        assert _ulps(y, ref).max() <= 0.65  # measured 0.618: in float (vm::asin_acos_float)
    else:
        mp.mp.dps = 40
        f = getattr(mp, name)
        ref = np.array([float(f(mp.mpf(float(v)))) for v in x])
        # measured 2.14 (asin just above 1/2: pi/2 - 2 asin(s)) and 1.16 (acos)
        assert _ulps(y, ref, np.float64).max() <= (2.5 if name == "asin" else 1.5)
    sp = np.array([0.0, -0.0, 1.0, -1.0, 1.5, -1.5, np.inf, -np.inf, np.nan], dtype)
    with np.errstate(all="ignore"):
        want = getattr(np, "arc" + name[1:])(sp)
    _same_specials(getattr(ember, name)(ember.tensor(sp)).numpy(), want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_one_division_every_binade(dtype):
    """tanh = -expm1(-2|x|) / (e + 1) below tanh = 1/2 and 1 - 2e / (e + 1) above (e =
    exp(-2|x|)) through one division: accurate near 0, at the switch and up to saturation."""
    if dtype == np.float32:
        pos = _positive_floats()
        x = np.concatenate([pos, -pos, np.float32([0.5493, 0.54931, 9.0, 9.01, 9.02, 10.0])])
        y = ember.tanh(ember.tensor(x)).numpy()
        assert _ulps(y, np.tanh(x.astype(np.float64))).max() <= 2.0  # measured 1.93
        # just below saturation 1 - 2e/(1 + e) rounds once: correctly rounded values below 1
        # (as torch's); -expm1/(1 + e) there would be 1.4 ulp off and saturate at 8.5, not 9.01
        xs = np.linspace(5, 9.5, 100_001).astype(np.float32)
        ys = ember.tanh(ember.tensor(xs)).numpy()
        assert _ulps(ys, np.tanh(xs.astype(np.float64))).max() <= 0.51  # measured 0.50006
    else:
        rng = np.random.default_rng(0)
        mag = np.exp(rng.uniform(-40, 3.5, 3000))  # 4e-18 .. 33: every regime up to saturation
        x = np.concatenate([mag, -mag, [0.5493, 0.54931, 19.0, 19.06, 19.1, 21.0]])
        y = ember.tanh(ember.tensor(x)).numpy()
        mp.mp.dps = 40
        ref = np.array([float(mp.tanh(mp.mpf(float(v)))) for v in x])
        assert _ulps(y, ref, np.float64).max() <= 2.5  # measured 2.06
    assert y.dtype == dtype
    sp = np.array([0.0, -0.0, 1e-30, -1e-30, 50.0, -50.0, np.inf, -np.inf, np.nan], dtype)
    _same_specials(ember.tanh(ember.tensor(sp)).numpy(), np.tanh(sp))
