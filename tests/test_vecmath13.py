"""float32 tanh, erf, sin and cos (csrc/vecmath.h: vm::tanh_float, vm::erf_float and vsincos's
float path) against float64 NumPy / math references over dense bit-pattern sweeps: every float in
the windows where the formulas switch (tanh's |x| = 3/4 and the old 0.549 edge, erf's |x| = 1),
strided sweeps elsewhere down to the denormals, sin / cos arguments up to float32's largest
(Cody-Waite up to 2^19, std::sin / std::cos above). Each runs in every SIMD clone this CPU has
(_C._vecmath's isa; the baseline has no FMA, so tanh's and erf's bounds are its own), and the op
users call gives the dispatched clone's bits. Special values as PyTorch's; float32 results within
2 ulp of PyTorch's where torch is installed."""

import numpy as np
import pytest
import reference_kernels as ref

from ember import _C

F32 = np.finfo(np.float32)
ISAS = [0, *_C._vecmath_isas()]  # 0: the clone the CPU dispatch picks


def _has_fma(isa):
    return isa != 1 and (isa != 0 or bool(_C._vecmath_isas()))


def _ulps(y, ref64):
    """|y - ref| in float32 ulps at ref (denormal references: units of the smallest step)."""
    sp = np.spacing(np.abs(ref64).astype(np.float32)).astype(np.float64)
    sp = np.maximum(sp, float(F32.smallest_subnormal))
    return np.abs(y.astype(np.float64) - ref64) / sp


def _floats(lo, hi, stride=1):
    """the positive float32 values in [lo, hi], every stride-th bit pattern."""
    b0 = np.float32(lo).view(np.uint32)
    b1 = np.float32(hi).view(np.uint32)
    return np.arange(b0, b1 + 1, stride, dtype=np.uint32).view(np.float32)


def _sweep(windows, strided):
    parts = [_floats(lo, hi) for lo, hi in windows]
    parts += [_floats(lo, hi, s) for lo, hi, s in strided]
    x = np.concatenate(parts)
    return np.concatenate([x, -x])


def _sin_cos(name, x, isa=0):
    x = np.ascontiguousarray(x, dtype=np.float32)
    y = _C._vecmath(name, x, isa)
    if isa == 0:  # the op users call runs the same clone
        np.testing.assert_array_equal(_C.activation_forward(name, x), y)
    return y


@pytest.mark.parametrize("isa", ISAS)
def test_tanh_float32_ulp(isa):
    x = _sweep(
        [(0.54, 0.56), (0.74, 0.76)],
        [(F32.smallest_subnormal, 1e-3, 4099), (1e-3, 9.5, 61), (9.0, 12.0, 7)],
    )
    e = _ulps(_C._vecmath("tanh", x, isa), np.tanh(x.astype(np.float64)))
    assert np.max(e) <= 1.1, float(x[np.argmax(e)])


@pytest.mark.parametrize("isa", ISAS)
def test_erf_float32_ulp(isa):
    x = _sweep(
        [(0.99, 1.01)],
        [(F32.smallest_subnormal, 1e-3, 4099), (1e-3, 4.5, 157), (3.8, 4.1, 3)],
    )
    e = _ulps(_C._vecmath("erf", x, isa), ref.erf(x.astype(np.float64)))
    # FMA clones: within PyTorch's (MKL's) 1.0; the baseline rounds the polynomials' products
    assert np.max(e) <= (1.0 if _has_fma(isa) else 1.35), float(x[np.argmax(e)])


@pytest.mark.parametrize("isa", ISAS)
def test_tanh_erf_clones_agree(isa):
    # every clone's values within a last bit of the dispatched one (FMA contraction may differ)
    x = np.random.default_rng(1).standard_normal(200_000).astype(np.float32) * 3
    for name in ("tanh", "erf"):
        a, b = _C._vecmath(name, x, isa), _C._vecmath(name, x, 0)
        ulp = np.spacing(np.abs(b)).astype(np.float64)
        assert np.max(np.abs(a.astype(np.float64) - b) / ulp) <= 1.0, name


@pytest.mark.parametrize("isa", ISAS)
@pytest.mark.parametrize("name", ["sin", "cos"])
def test_sin_cos_float32_ulp(name, isa):
    fn = getattr(np, name)
    x = _sweep(
        [(1.5, 1.6), (3.1, 3.2)],  # around pi/2 and pi: sin / cos's zeros, the reduction's edges
        [
            (F32.smallest_subnormal, 1e-3, 4099),
            (1e-3, 1e4, 61),  # Cody-Waite in two parts of pi
            (1e4, 524288.0, 401),
            (524288.0, F32.max, 9973),  # past 2^19: std::sin / std::cos
        ],
    )
    e = _ulps(_sin_cos(name, x, isa), fn(x.astype(np.float64)))
    assert np.max(e) <= 0.501, float(x[np.argmax(e)])  # evaluated in double, rounded once
    # float32 multiples of pi's nearest neighbours: where the reduction cancels most
    k = np.arange(1, 200_000, dtype=np.float64)
    xs = (k * np.pi).astype(np.float32)
    e = _ulps(_sin_cos(name, xs, isa), fn(xs.astype(np.float64)))
    assert np.max(e) <= 0.501


def test_special_values():
    inf, nan = np.inf, np.nan
    x = np.array([inf, -inf, nan, 0.0, -0.0, 1e-45, -1e-45, 20.0, -20.0], np.float32)
    for isa in ISAS:
        t = _C._vecmath("tanh", x, isa)
        np.testing.assert_array_equal(t, [1, -1, nan, 0, 0, x[5], x[6], 1, -1])
        assert np.signbit(t[4]) and not np.signbit(t[3])
        e = _C._vecmath("erf", x, isa)
        np.testing.assert_array_equal(e[:7], [1, -1, nan, 0, 0, x[5], x[6]])  # 1.13 * 2^-149
        assert np.signbit(e[4]) and not np.signbit(e[3])
        np.testing.assert_array_equal(e[7:], [1, -1])
        c = _C._vecmath("erfc", x, isa)
        np.testing.assert_array_equal(c[[0, 1, 2, 3, 4, 7, 8]], [0, 2, nan, 1, 1, 0, 2])
        s = _sin_cos("sin", x, isa)
        np.testing.assert_array_equal(s[:5], [nan, nan, nan, 0, 0])
        assert np.signbit(s[4]) and not np.signbit(s[3])
        np.testing.assert_array_equal(s[5:7], x[5:7])
        np.testing.assert_array_equal(_sin_cos("cos", x, isa)[:5], [nan, nan, nan, 1, 1])


@pytest.mark.parametrize("name", ["tanh", "erf", "erfc", "sin", "cos"])
def test_against_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    scale = 100.0 if name in ("sin", "cos") else 3.0
    x = (rng.standard_normal(300_000) * scale).astype(np.float32)
    if name in ("sin", "cos"):
        y = _sin_cos(name, x)
    else:
        y = _C._vecmath(name, x)
    t = getattr(torch, name)(torch.from_numpy(x)).numpy()
    ulp = np.spacing(np.abs(t)).astype(np.float64)
    ulp = np.maximum(ulp, float(F32.smallest_subnormal))
    assert np.max(np.abs(y.astype(np.float64) - t) / ulp) <= 2.0
    if name in ("sin", "cos"):  # ember's is correctly rounded but for ties: never worse
        r = getattr(np, name)(x.astype(np.float64))
        assert np.max(_ulps(y, r)) <= np.max(_ulps(t, r)) + 1e-3
