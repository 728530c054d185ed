"""lgamma: float32's vectorised vm::lgamma_float (csrc/vecmath.h, in double, branch-free) in every
SIMD clone against mpmath's loggamma, including the windows next to lgamma's zeros (1, 2 and the
negative axis) where a float result is tiny, and where the formula switches (1/2, 3/2, 5/2, 21/2);
special values and both dtypes of ember.lgamma against PyTorch; float64 (libm's lgamma_r, now
threaded: std::lgamma wrote the global signgam) the same at 1 and 2 threads."""

import numpy as np
import pytest

import ember
from ember import _C

mp = pytest.importorskip("mpmath")

ISAS = [0, *_C._vecmath_isas()]  # 0: the clone the CPU dispatch picks
F32_MAX = float(np.finfo(np.float32).max)


def _window(x, k):
    """the 2k + 1 float32 values centred on float32(x)."""
    b = np.float32(x).view(np.int32)
    return np.arange(b - k, b + k + 1, dtype=np.int32).view(np.float32)


def _points():
    rng = np.random.default_rng(15)
    parts = [
        rng.uniform(-40, 40, 1500),
        rng.uniform(0, 3, 1500),
        np.exp(rng.uniform(-100, 88, 800)),  # down to the denormals, up past overflow
        -np.exp(rng.uniform(-30, 16, 800)),
        np.linspace(-2.5, -2.4, 401),  # lgamma's first zeros on the negative axis
        np.linspace(-3.2, -3.1, 401),
    ]
    parts += [_window(c, 40) for c in (1.0, 2.0, 0.5, 1.5, 2.5, 10.5, -2.4570247, -0.5)]
    return np.concatenate([p.astype(np.float32) for p in parts])


def _ref(x):
    """log|Gamma(x)| in float64 (mpmath at 40 digits); +inf at the poles."""
    mp.mp.dps = 40
    out = np.empty(x.size)
    for i, v in enumerate(x.astype(np.float64)):
        out[i] = np.inf if v <= 0 and v == np.floor(v) else float(mp.loggamma(v).real)
    return out


def _ulps(y, ref64):
    sp = np.spacing(np.abs(ref64).astype(np.float32)).astype(np.float64)
    return np.abs(y.astype(np.float64) - ref64) / sp


@pytest.fixture(scope="module")
def points():
    x = _points()
    return x, _ref(x)


@pytest.mark.parametrize("isa", ISAS)
def test_lgamma_float32_ulps_every_clone(points, isa):
    x, ref = points
    y = _C._vecmath("lgamma", x, isa)
    assert y.dtype == np.float32
    fin = np.abs(ref) < F32_MAX
    # next to a zero on the negative axis the result is tiny (~1e-9) and the double sum's
    # absolute error (measured 2e-12) is tens of its ulps (glibc's lgammaf, torch's: 1e-9)
    near_zero = (x < -2) & (np.abs(ref) < 1e-4)
    err = np.abs(y[near_zero].astype(np.float64) - ref[near_zero])
    assert near_zero.sum() > 50 and err.max() <= 1e-11
    ok = fin & ~near_zero
    u = _ulps(y[ok], ref[ok])
    assert u.max() <= 1.0, (u.max(), x[ok][u.argmax()])  # measured 0.55
    # results past float32's range overflow to +inf, the poles are +inf
    assert np.all(y[~fin] == np.inf)


def test_lgamma_float64_hook_refused():
    with pytest.raises(ValueError, match="float32 only"):
        _C._vecmath("lgamma", np.ones(3))


SPECIALS = [0.0, -0.0, -1.0, -2.0, -1e30, 1e30, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.0, 2.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lgamma_specials_and_values_as_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    big = [4e36, 5e36, 2.5e305] if dtype == np.float64 else [4e36, 3e38]
    x = np.concatenate([SPECIALS, big, rng.uniform(-30, 60, 20000)]).astype(dtype)
    got = ember.lgamma(ember.tensor(x)).numpy()
    want = torch.lgamma(torch.from_numpy(x)).numpy()
    assert got.dtype == want.dtype
    fin = np.isfinite(want)
    np.testing.assert_array_equal(got[~fin], want[~fin])  # poles, +-inf, overflow: +inf; NaN
    # float64: libm's lgamma_r vs torch's own (an ulp apart at most); float32: ours vs glibc's
    # lgammaf, both close to the exact value except next to the zeros on the negative axis
    tol = dict(rtol=1e-15, atol=1e-15) if dtype == np.float64 else dict(rtol=2e-7, atol=1e-6)
    np.testing.assert_allclose(got[fin], want[fin], **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lgamma_threads_deterministic(dtype):
    x = np.random.default_rng(2).uniform(-50, 50, 200_000).astype(dtype)
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = ember.lgamma(ember.tensor(x)).numpy()
        ember.set_num_threads(2)
        two = ember.lgamma(ember.tensor(x)).numpy()
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(one, two)
    if dtype == np.float64:
        mp.mp.dps = 30
        idx = np.arange(0, x.size, 997)
        ref = np.array([float(mp.loggamma(float(v)).real) for v in x[idx]])
        np.testing.assert_allclose(one[idx], ref, rtol=1e-13, atol=1e-13)
