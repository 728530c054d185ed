"""csrc/vecmath.h's float64 sin / cos near multiples of pi/2 (vsincos: the four-part reduction
with the two rounding subtractions' errors kept, fdlibm's pio2_3t last) against mpmath at 60
digits: the doubles nearest k pi/2 and their neighbours for k up to the Cody-Waite bound
(|x| <= 2^19) and past it (std::sin / std::cos there), plus ordinary arguments; erfinv
(verfinv: Giles' start and Halley steps, vectorised; float64 |y| <= 0.999 by polynomials in w)
in both dtypes against mpmath; float32 exp2 (in float) against NumPy's float64. Each in every
SIMD clone (_C._vecmath's isa), special values as PyTorch's."""

import mpmath as mp
import numpy as np
import pytest

import ember
from ember import _C

ISAS = [0, *_C._vecmath_isas()]  # 0: the clone the CPU dispatch picks


def _has_fma(isa):
    return isa != 1 and (isa != 0 or bool(_C._vecmath_isas()))


def _ulps(y, ref, dtype):
    """|y - ref| in ulps of dtype at ref (denormal references: units of the smallest step)."""
    sp = np.spacing(np.abs(ref).astype(dtype)).astype(np.float64)
    sp = np.maximum(sp, float(np.finfo(dtype).smallest_subnormal))
    return np.abs(y.astype(np.float64) - ref) / sp


def _near_multiples_of_half_pi():
    """The doubles nearest k pi/2 and both neighbours, small k densely, large k sampled."""
    rng = np.random.default_rng(14)
    ks = np.concatenate([np.arange(1, 300), rng.integers(300, 333_000, 700)])
    ks = np.concatenate([ks, rng.integers(333_000, 10**7, 60), [10**15, 10**21]])
    with mp.workdps(60):
        x = np.array([float(mp.mpf(int(k)) * mp.pi / 2) for k in ks])
    x = np.concatenate([x, np.nextafter(x, 0), np.nextafter(x, np.inf)])
    # x - q p1 = 0 or one ulp (the first part of pi/2 times q): the Fast2Sums' other order
    qp1 = rng.integers(1, 333_000, 300) * 1.57079632673412561417
    qp1 = np.concatenate([qp1, np.nextafter(qp1, 0), np.nextafter(qp1, np.inf)])
    ordinary = np.concatenate([rng.uniform(-4, 4, 1000), rng.uniform(-5e5, 5e5, 1000)])
    return np.concatenate([x, -x, qp1, ordinary])


X64 = _near_multiples_of_half_pi()


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_float64_sin_cos_near_multiples_of_half_pi(name, isa):
    f = mp.sin if name == "sin" else mp.cos
    with mp.workdps(60):
        ref = np.array([float(f(mp.mpf(v))) for v in X64])
    y = _C._vecmath(name, X64, isa)
    e = _ulps(y, ref, np.float64)
    assert e.max() <= 1.0, (float(X64[np.argmax(e)]), float(e.max()))
    if isa == 0:  # the op users call runs the same clone
        np.testing.assert_array_equal(getattr(ember, name)(ember.tensor(X64)).numpy(), y)


def _erfinv_inputs(dtype):
    """(-1, 1) uniformly, near +-1 down to 1 - |y| = eps (past Giles' range in float64), tiny
    and denormal y, and the edges of the start's two forms (w = 5) and of the residual's two forms
    (x = 1/2, y = erf(1/2))."""
    rng = np.random.default_rng(3)
    top = 52 if dtype == np.float64 else 23
    near1 = 1 - 2.0 ** -rng.uniform(1, top, 600)
    fi = np.finfo(dtype)
    tiny = np.exp(rng.uniform(np.log(float(fi.smallest_subnormal)), -1, 300))
    edges = [0.5204998778130465, 0.99662, 0.9966, 1 - fi.eps, 1 - fi.epsneg]
    y = np.concatenate([rng.uniform(-1, 1, 1500), near1, -near1, tiny, -tiny, edges]).astype(dtype)
    return y[np.abs(y) < 1]


# float: the Halley step in double, rounded once (measured 0.500); float64: |y| <= 0.999 by
# erfinv_central64's polynomials (measured 1.14, 1.51 in the no-FMA clone: test_vecspeed36.py),
# the tail by two Halley steps, the residual through erf_small / erfc_tail (measured 2.14, 2.49
# in the baseline clone; the scalar Newton form it replaced was 15, PyTorch's 0.51)
ERFINV_BOUND = {np.float32: 0.51, np.float64: 3.0}


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_ulp(dtype, isa):
    y = _erfinv_inputs(dtype)
    with mp.workdps(40):
        ref = np.array([float(mp.erfinv(mp.mpf(float(v)))) for v in y])
    x = _C._vecmath("erfinv", y, isa)
    assert x.dtype == dtype
    e = _ulps(x, ref, dtype)
    assert e.max() <= ERFINV_BOUND[dtype], (float(y[np.argmax(e)]), float(e.max()))
    if isa == 0:
        np.testing.assert_array_equal(ember.erfinv(ember.tensor(y)).numpy(), x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_erfinv_specials_as_torch(dtype):
    torch = pytest.importorskip("torch")
    fi = np.finfo(dtype)
    y = np.array(
        [0.0, -0.0, 1.0, -1.0, 1.5, -1.5, np.inf, -np.inf, np.nan, fi.smallest_subnormal]
        + [-fi.smallest_subnormal, fi.tiny, 1 - fi.epsneg, -(1 - fi.epsneg)],
        dtype,
    )
    y = np.resize(y, 64)  # PyTorch's vectorised loop for every entry
    for isa in ISAS:
        x = _C._vecmath("erfinv", y, isa)
        t = torch.erfinv(torch.from_numpy(y)).numpy()
        np.testing.assert_array_equal(np.isnan(x), np.isnan(t))
        ok = ~np.isnan(t)
        np.testing.assert_allclose(x[ok], t[ok], rtol=4 * fi.eps, atol=0)
        np.testing.assert_array_equal(np.signbit(x[ok]), np.signbit(t[ok]))
    np.testing.assert_array_equal(ember.erfinv(ember.tensor(y)).numpy(), _C._vecmath("erfinv", y))


def _exp2_inputs():
    """Every 97th float32 bit pattern in (-152, 130): the whole range from the denormals' far
    end to overflow, plus the half-integers (r = +-1/2, the polynomial's ends)."""
    b = np.arange(0, 0xFF800000, 97 * 41, dtype=np.uint64).astype(np.uint32).view(np.float32)
    b = b[np.isfinite(b) & (b > -152) & (b < 130)]
    half = np.arange(-151, 130) + np.float32(0.5)
    return np.concatenate([b, half.astype(np.float32), np.nextafter(half, 0).astype(np.float32)])


@pytest.mark.parametrize("isa", ISAS)
def test_exp2_float32_ulp(isa):
    x = _exp2_inputs()
    y = _C._vecmath("exp2", x, isa)
    ref = np.exp2(x.astype(np.float64))
    with np.errstate(over="ignore"):
        over = ~np.isfinite(ref.astype(np.float32))
    np.testing.assert_array_equal(y[over], np.float32(np.inf))
    e = _ulps(y[~over], ref[~over], np.float32)
    # measured 0.87 with FMA, 1.10 without (the baseline clone): 1 + r P(r) in float
    assert e.max() <= (0.9 if _has_fma(isa) else 1.15), (float(x[~over][np.argmax(e)]), e.max())
    if isa == 0:
        np.testing.assert_array_equal(ember.exp2(ember.tensor(x)).numpy(), y)


def test_exp2_float32_specials_as_torch():
    torch = pytest.importorskip("torch")
    x = np.array(
        [0.0, -0.0, 1.0, -1.0, 127.0, 128.0, 129.0, -126.0, -149.0, -149.5, -150.0, -151.0]
        + [np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3e38, -3e38, 127.99999, -149.00002],
        np.float32,
    )
    x = np.resize(x, 64)
    t = torch.exp2(torch.from_numpy(x)).numpy()
    for isa in ISAS:
        y = _C._vecmath("exp2", x, isa)
        np.testing.assert_array_equal(np.isnan(y), np.isnan(t))
        ok = ~np.isnan(t)
        np.testing.assert_allclose(y[ok], t[ok], rtol=2.5e-7, atol=0)
        np.testing.assert_array_equal(y[ok] == 0, t[ok] == 0)
