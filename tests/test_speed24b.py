"""speed24b: the faster float32 erfinv (vm::erfinv_float: a polynomial in w = -log(1 - y^2) in
double, no Halley step) and float32 expm1 (vm::expm1_float: a shorter double evaluation), each
against mpmath / float64 references in ulps, PyTorch's special values, and the same bits on 1
and 2 threads and on strided inputs."""

import mpmath as mp
import numpy as np
import pytest

import ember
from ember import _C

ISAS = [0, *_C._vecmath_isas()]  # 0: the clone the CPU dispatch picks
F32 = np.finfo(np.float32)


def _ulps32(x, ref):
    """|x - ref| in units of float32's spacing at ref (ref in float64)."""
    r32 = ref.astype(np.float32)
    return np.abs(x.astype(np.float64) - ref) / np.spacing(np.abs(r32)).astype(np.float64)


def _erfinv_inputs():
    """Uniform (-1, 1), near +-1 to the last float below 1, tiny and subnormal y, and both sides
    of the polynomial's split at w = 5 (y = sqrt(1 - e^-5))."""
    rng = np.random.default_rng(24)
    near1 = 1 - 2.0 ** -rng.uniform(1, 24, 700)
    tiny = np.exp(rng.uniform(np.log(float(F32.smallest_subnormal)), -1, 150))
    e5 = np.float32(np.sqrt(-np.expm1(-5.0)))
    edges = [np.nextafter(e5, np.float32(0)), e5, np.nextafter(e5, np.float32(1)), 1 - F32.epsneg]
    y = np.concatenate([rng.uniform(-1, 1, 1000), near1, -near1, tiny, -tiny, edges])
    y = y.astype(np.float32)
    return y[np.abs(y) < 1]


@pytest.mark.parametrize("isa", ISAS)
def test_erfinv_float32_within_half_ulp_of_mpmath(isa):
    y = _erfinv_inputs()
    with mp.workdps(30):
        ref = np.array([float(mp.erfinv(mp.mpf(float(v)))) for v in y])
    x = _C._vecmath("erfinv", y, isa)
    assert x.dtype == np.float32
    e = _ulps32(x, ref)
    assert e.max() <= 0.501, (float(y[np.argmax(e)]), float(e.max()))  # measured 0.5004
    if isa == 0:
        np.testing.assert_array_equal(ember.erfinv(ember.tensor(y)).numpy(), x)


def test_erfinv_float32_specials_and_layouts_as_torch():
    torch = pytest.importorskip("torch")
    sp = [0.0, -0.0, 1.0, -1.0, 1.5, -1.5, np.inf, -np.inf, np.nan, F32.smallest_subnormal]
    sp += [-F32.smallest_subnormal, F32.tiny, 1 - F32.epsneg, -(1 - F32.epsneg), 0.5, -0.25]
    y = np.resize(np.array(sp, np.float32), 67)  # odd length: SIMD tails
    x = ember.erfinv(ember.tensor(y)).numpy()
    t = torch.erfinv(torch.from_numpy(y)).numpy()
    np.testing.assert_array_equal(np.isnan(x), np.isnan(t))
    ok = ~np.isnan(t)
    np.testing.assert_allclose(x[ok], t[ok], rtol=2 * F32.eps, atol=0)
    np.testing.assert_array_equal(np.signbit(x[ok]), np.signbit(t[ok]))
    # strided and negative-stride views give the contiguous result's bits
    m = np.tanh(np.random.default_rng(1).standard_normal((9, 14))).astype(np.float32)
    full = ember.erfinv(ember.tensor(m)).numpy()
    v = ember.tensor(m).flip(1)[:, ::3]  # negative and non-unit strides
    np.testing.assert_array_equal(ember.erfinv(v).numpy(), full[:, ::-3])
    assert ember.erfinv(ember.tensor(np.zeros((0, 3), np.float32))).shape == (0, 3)


def _expm1_inputs():
    rng = np.random.default_rng(7)
    tiny = np.exp(rng.uniform(-103, 0, 4000)) * rng.choice([-1, 1], 4000)
    return np.concatenate(
        [rng.standard_normal(20000) * 8, rng.uniform(-25, 95, 8000), tiny,
         [0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 88.72, 88.73, -17.4, -20.0, -103.0,
          np.log(2) / 2, -np.log(2) / 2, 89.0, 1e30, -1e30]]
    ).astype(np.float32)  # fmt: skip


def test_expm1_float32_within_half_ulp_and_as_torch():
    torch = pytest.importorskip("torch")
    x = _expm1_inputs()
    y = ember.expm1(ember.tensor(x)).numpy()
    assert y.dtype == np.float32
    with np.errstate(over="ignore"):
        ref = np.expm1(x.astype(np.float64))
        fin = np.isfinite(ref.astype(np.float32))
    e = _ulps32(y[fin], ref[fin])
    assert e.max() <= 0.501, (float(x[fin][np.argmax(e)]), float(e.max()))
    t = torch.expm1(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(y[~fin], t[~fin])  # inf, -1, NaN where torch has them
    np.testing.assert_array_equal(np.signbit(y[y == 0]), np.signbit(t[y == 0]))  # -0.0 kept
    assert np.mean(y == t) > 0.99


def test_expm1_erfinv_float32_same_bits_on_threads_and_strides():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((300, 1001)).astype(np.float32)  # big enough for 2 threads
    u = np.tanh(x)
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = [ember.expm1(ember.tensor(x)).numpy(), ember.erfinv(ember.tensor(u)).numpy()]
        ember.set_num_threads(2)
        two = [ember.expm1(ember.tensor(x)).numpy(), ember.erfinv(ember.tensor(u)).numpy()]
    finally:
        ember.set_num_threads(old)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        ember.expm1(ember.tensor(x).flip(0)[::2, 1::3]).numpy(), one[0][::-2, 1::3]
    )


@pytest.mark.parametrize("name", ["expm1", "erfinv"])
def test_grad_float64_and_float16(name):
    rng = np.random.default_rng(5)
    x = rng.uniform(-0.9, 0.9, (3, 5))
    t = ember.tensor(x, requires_grad=True)
    assert ember.autograd.gradcheck(getattr(ember, name), (t,))
    torch = pytest.importorskip("torch")
    h = x.astype(np.float16)
    got = getattr(ember, name)(ember.tensor(h)).numpy()
    want = getattr(torch, name)(torch.from_numpy(h)).numpy()
    assert got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=1e-3)
