"""Fused arithmetic as torch's CPU kernels (bit for bit), float32 i0/i1 and logaddexp accuracy
against an mpmath reference, and equal results on 1 and 2 threads (vecspeed40)."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
mpmath = pytest.importorskip("mpmath")

FLOATS = [np.float32, np.float64]
N = 200_003  # above the kernels' per-thread minimum, so 2 threads split it


@pytest.fixture
def two_threads():
    before = ember.get_num_threads()
    yield lambda: ember.set_num_threads(2)
    ember.set_num_threads(before)


def _draw(dtype, k, seed, n=N):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(n).astype(dtype) * dtype(rng.uniform(0.1, 10)) for _ in range(k)]


def _fused_cases(a, b, c, w):
    E, T = ember.tensor, torch.from_numpy
    return (
        {
            "add alpha": (lambda m, t: m.add(t(a), t(b), alpha=0.3)),
            "add alpha int": (lambda m, t: m.add(t(a), t(b), alpha=3)),
            "sub alpha": (lambda m, t: m.sub(t(a), t(b), alpha=0.7)),
            "addcmul": (lambda m, t: m.addcmul(t(a), t(b), t(c), value=0.7)),
            "addcmul 1": (lambda m, t: m.addcmul(t(a), t(b), t(c))),
            "addcdiv": (lambda m, t: m.addcdiv(t(a), t(b), t(c), value=0.7)),
            "addcdiv 1": (lambda m, t: m.addcdiv(t(a), t(b), t(c))),
            "lerp 0.3": (lambda m, t: m.lerp(t(a), t(b), 0.3)),
            "lerp 0.8": (lambda m, t: m.lerp(t(a), t(b), 0.8)),
            "lerp 1/3": (lambda m, t: m.lerp(t(a), t(b), 1 / 3)),
            "lerp -1.5": (lambda m, t: m.lerp(t(a), t(b), -1.5)),
            "lerp tensor": (lambda m, t: m.lerp(t(a), t(b), t(w))),
        },
        E,
        T,
    )


@pytest.mark.parametrize("dtype", FLOATS)
def test_fused_arithmetic_is_torchs_bits_on_1_and_2_threads(dtype, two_threads):
    a, b, c = _draw(dtype, 3, 0)
    w = np.random.default_rng(1).uniform(-1, 2, N).astype(dtype)
    c[::97] = dtype(0)  # addcdiv's x / 0
    a[::101] = np.inf
    cases, E, T = _fused_cases(a, b, c, w)
    for name, f in cases.items():
        want = f(torch, T).numpy()
        one = f(ember, E).numpy()
        np.testing.assert_array_equal(one, want, err_msg=name)
        two_threads()
        np.testing.assert_array_equal(f(ember, E).numpy(), one, err_msg=name)
        ember.set_num_threads(1)


@pytest.mark.parametrize("op", ["add", "addcmul", "addcdiv"])
def test_float32_scalar_beyond_its_range_is_refused_as_torch(op):
    a = ember.ones(4)
    run = {
        "add": lambda: ember.add(a, a, alpha=1e300),
        "addcmul": lambda: ember.addcmul(a, a, a, value=1e300),
        "addcdiv": lambda: ember.addcdiv(a, a, a, value=1e300),
    }[op]
    with pytest.raises(RuntimeError, match="without overflow"):
        run()
    t = torch.ones(4)
    with pytest.raises(RuntimeError):
        {"add": lambda: torch.add(t, t, alpha=1e300),
         "addcmul": lambda: torch.addcmul(t, t, t, value=1e300),
         "addcdiv": lambda: torch.addcdiv(t, t, t, value=1e300)}[op]()  # fmt: skip
    # an infinite alpha is a value (inf * b), as torch
    np.testing.assert_array_equal(
        ember.add(a, a, alpha=float("inf")).numpy(), torch.add(t, t, alpha=float("inf")).numpy()
    )


def test_fused_alpha_keeps_gradients_and_broadcasting():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    x, y = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    assert ember.autograd.gradcheck(lambda u, v: ember.add(u, v, alpha=0.3), (x, y))
    assert ember.autograd.gradcheck(lambda u, v: ember.sub(u, v, alpha=-2.5), (x, y))
    np.testing.assert_allclose(ember.add(ember.tensor(a), ember.tensor(b), alpha=0.3).numpy(),
                               a + 0.3 * b, rtol=1e-15)  # fmt: skip


def _ulps(y, ref):
    """|y - ref| in units of float32's ulp at ref (mpmath numbers; inf / NaN must match)."""
    out = []
    for v, r in zip(y.tolist(), ref):
        if mpmath.isnan(r) or mpmath.isinf(r):
            same = (np.isnan(v) and mpmath.isnan(r)) or v == float(r)
            out.append(0.0 if same else np.inf)
            continue
        if abs(r) > mpmath.mpf(float(np.finfo(np.float32).max)) * (1 + mpmath.mpf(2) ** -25):
            out.append(0.0 if v == np.copysign(np.inf, float(r)) else np.inf)
            continue
        e = max(int(mpmath.floor(mpmath.log(abs(r), 2))) if r != 0 else -149, -126)
        out.append(float(abs(mpmath.mpf(v) - r) / mpmath.mpf(2) ** (e - 23)))
    return np.array(out)


F32_EDGES = [0.0, -0.0, 1e-45, -1e-45, 1e-40, -3e-39, 1.2e-38, 1e-8, 0.5, 8.0, -8.0, 8.000001,
             30.0, 88.0, 89.0, -90.0, 91.8, 91.9, 92.0, 100.0, 3e38, -3e38,
             np.inf, -np.inf, np.nan]  # fmt: skip


@pytest.mark.parametrize("name", ["i0", "i1"])
def test_float32_bessel_i_within_half_an_ulp_and_thread_equal(name, two_threads):
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-95, 95, 600), rng.standard_normal(200) * 3,
                        np.array(F32_EDGES)]).astype(np.float32)  # fmt: skip
    y = getattr(ember.special, name)(ember.tensor(x)).numpy()
    mpmath.mp.dps = 40
    order = 0 if name == "i0" else 1
    ref = [mpmath.besseli(order, mpmath.mpf(float(v))) if np.isfinite(v) else mpmath.nan
           for v in x]  # fmt: skip
    u = _ulps(y, ref)
    assert u.max() <= 0.51, (x[u.argmax()], y[u.argmax()], u.max())
    assert np.isnan(y[np.isinf(x)]).all()  # torch's NaN at +-inf
    big = rng.uniform(-95, 95, N).astype(np.float32)
    ember.set_num_threads(1)
    one = getattr(ember.special, name)(ember.tensor(big)).numpy()
    two_threads()
    np.testing.assert_array_equal(getattr(ember.special, name)(ember.tensor(big)).numpy(), one)
    # (torch's float form overflows e^|x| from |x| = 88.7, where the value is still finite)
    t = getattr(torch.special, name)(torch.from_numpy(big)).numpy()
    fin = np.abs(big) < 88
    np.testing.assert_allclose(one[fin], t[fin], rtol=2e-6)
    assert np.isinf(one[np.abs(big) > 92]).all()


@pytest.mark.parametrize("two", [False, True])
def test_float32_logaddexp_within_an_ulp_and_thread_equal(two, two_threads):
    rng = np.random.default_rng(5)
    a = rng.uniform(-30, 30, 700).astype(np.float32)
    b = (a + rng.standard_normal(700).astype(np.float32) * 3).astype(np.float32)
    b[:100] = (-a[:100] * rng.uniform(0.9, 1.1, 100)).astype(np.float32)  # near-cancelling sums
    edges = np.array([0.0, -0.0, 1e-45, -1.0, 88.0, -104.0, 3e38, -3e38, np.inf, -np.inf, np.nan],
                     np.float32)  # fmt: skip
    a = np.concatenate([a, np.repeat(edges, edges.size)])
    b = np.concatenate([b, np.tile(edges, edges.size)])
    f = ember.logaddexp2 if two else ember.logaddexp
    y = f(ember.tensor(a), ember.tensor(b)).numpy()
    mpmath.mp.dps = 60

    def ref(u, v):
        if np.isnan(u) or np.isnan(v):
            return mpmath.nan
        if u == v and np.isinf(u):
            return mpmath.mpf(float(u))
        base = 2 if two else mpmath.e
        m = float(max(u, v))
        if np.isinf(m) or np.isinf(min(u, v)):
            return mpmath.mpf(m)
        s = base ** (mpmath.mpf(float(u)) - m) + base ** (mpmath.mpf(float(v)) - m)
        return m + mpmath.log(s, base)

    u = _ulps(y, [ref(p, q) for p, q in zip(a, b)])
    assert u.max() <= 1.0, (a[u.argmax()], b[u.argmax()], y[u.argmax()], u.max())
    big_a, big_b = _draw(np.float32, 2, 6)
    ember.set_num_threads(1)
    one = f(ember.tensor(big_a), ember.tensor(big_b)).numpy()
    two_threads()
    np.testing.assert_array_equal(f(ember.tensor(big_a), ember.tensor(big_b)).numpy(), one)
    one_b = f(ember.tensor(big_a), ember.tensor(big_b[:1])).numpy()  # (b one value)
    np.testing.assert_array_equal(
        one_b, f(ember.tensor(big_a), ember.tensor(np.repeat(big_b[:1], N))).numpy()
    )
