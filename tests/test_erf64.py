"""float64 erf / erfc (csrc/vecmath.h: verf / verfc, vm::erfc_tail64): ulp against mpmath on
dense samples of every interval and its boundaries, for every SIMD clone; special values against
math.erf / math.erfc and torch; gradients by finite differences."""

import math

import numpy as np
import pytest

import ember
from ember import _C

mp = pytest.importorskip("mpmath")

ISAS = [0, *_C._vecmath_isas()]  # 0: the clone the CPU dispatch picks
TINY = np.finfo(np.float64).tiny


def _ulps(y, x, fn):
    """|y - f(x)| in units of the last place of the correctly rounded result (mpmath, 40 digits;
    subnormal results in units of the smallest subnormal)."""
    mp.mp.dps = 40
    out = np.empty(y.size)
    for i, (v, a) in enumerate(zip(y.tolist(), x.tolist())):
        exact = fn(mp.mpf(a))
        r = float(exact)
        sp = np.spacing(abs(r)) if abs(r) >= TINY else 5e-324
        out[i] = float(abs(mp.mpf(v) - exact) / sp)
    return out


def _points(edges, n=400, seed=0):
    """n uniform points in each [lo, hi) plus a few ulps either side of every edge."""
    rng = np.random.default_rng(seed)
    xs = [rng.uniform(lo, hi, n) for lo, hi in zip(edges[:-1], edges[1:])]
    for e in edges:
        xs.append(e + np.arange(-3, 4) * np.spacing(abs(e) or 1.0))
    return np.concatenate(xs)


# interval edges of verf / verfc (small form below 1 / 1/2, erfc_tail64's near and far fits at 2.25,
# the clamp at 27.3) and of the erf small form's fdlibm arrangement at 1/4
ERF_EDGES = [-6.0, -2.25, -1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.25, 4.0, 6.0]
ERFC_EDGES = [-6.0, -2.25, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0, 2.25, 6.0, 15.0, 26.0, 26.6, 27.4]


@pytest.mark.parametrize("isa", ISAS)
def test_erf_float64_ulp(isa):
    x = _points(ERF_EDGES)
    y = _C._vecmath("erf", x, isa)
    assert _ulps(y, x, mp.erf).max() <= 1.0


@pytest.mark.parametrize("isa", ISAS)
def test_erfc_float64_ulp(isa):
    x = _points(ERFC_EDGES)
    y = _C._vecmath("erfc", x, isa)
    # baseline clone (no FMA): the exact products the tail relies on are not exact there
    bound = 1.5 if isa in (0, 3, 4) else 4.0
    assert _ulps(y, x, mp.erfc).max() <= bound


def test_erf_erfc_tiny_and_subnormal_results():
    # erf(x) ~ 2x/sqrt(pi) for tiny x (subnormal x too); erfc's results go subnormal from ~26.55
    x = np.array([5e-324, 1e-310, 1e-300, 1e-20, 1e-8, -1e-300])
    y = ember.erf(ember.from_numpy(x)).numpy()
    assert _ulps(y, x, mp.erf).max() <= 1.0
    x = np.linspace(26.5, 27.3, 200)
    y = ember.erfc(ember.from_numpy(x)).numpy()
    assert (y[x > 26.6] < TINY).all()
    assert _ulps(y, x, mp.erfc).max() <= 1.5


def test_erf_erfc_float64_special_values():
    torch = pytest.importorskip("torch")
    x = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 27.3, 28.0, 40.0, 1e300, -1e300, -30.0])
    for name, ref in (("erf", math.erf), ("erfc", math.erfc)):
        y = getattr(ember, name)(ember.from_numpy(x)).numpy()
        yt = getattr(torch, name)(torch.from_numpy(x)).numpy()
        np.testing.assert_array_equal(y, yt)
        np.testing.assert_array_equal(np.signbit(y), np.signbit(yt))
        r = np.array([ref(v) for v in x.tolist()])
        np.testing.assert_array_equal(y, r)


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_erf_erfc_float64_matches_torch(name):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(3).uniform(-8, 28, 20000)
    y = getattr(ember, name)(ember.from_numpy(x)).numpy()
    yt = getattr(torch, name)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(y, yt, rtol=4e-16, atol=0)


@pytest.mark.parametrize("name", ["erf", "erfc"])
def test_erf_erfc_float64_gradient(name):
    x0 = np.array([-3.0, -1.2, -0.4, 0.1, 0.3, 0.7, 1.5, 2.4])
    x = ember.from_numpy(x0.copy()).requires_grad_(True)
    getattr(ember, name)(x).sum().backward()
    h = 1e-6
    f = np.vectorize(getattr(math, name))
    fd = (f(x0 + h) - f(x0 - h)) / (2 * h)  # finite differences of the reference
    np.testing.assert_allclose(x.grad.numpy(), fd, rtol=1e-7, atol=1e-12)
