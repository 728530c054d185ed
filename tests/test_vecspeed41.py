"""pow / float_power's vectorised kernel (_C.pow) against mpmath and torch, and addcmul /
addcdiv / lerp's fused values and nodes under autograd and broadcasting (round 41)."""

import numpy as np
import pytest

import ember
from ember import _C

mpmath = pytest.importorskip("mpmath")


def _max_ulp(y, a, b, dt):
    """max |y - a^b| in units of the last place of a^b (mpmath at 140 bits), over finite
    nonzero references inside dt's range (subnormals in the subnormal ulp)."""
    fi = np.finfo(dt)
    worst = 0.0
    with mpmath.workprec(140):
        for yi, ai, bi in zip(y.tolist(), a.tolist(), b.tolist(), strict=True):
            r = mpmath.power(mpmath.mpf(ai), mpmath.mpf(bi))
            if r == 0 or abs(r) >= fi.max:
                continue
            e = max(int(mpmath.floor(mpmath.log(abs(r), 2))), fi.minexp)
            worst = max(worst, float(abs(mpmath.mpf(yi) - r) / mpmath.mpf(2) ** (e - fi.nmant)))
    return worst


def _cases(dt, rng, n=300):
    lim = 709.7 if dt is np.float64 else 88.7
    base = np.exp(rng.uniform(-3, 3, n))
    edge = np.sign(rng.uniform(-1, 1, n)) * lim * rng.uniform(0.97, 1.0, n) / np.log(base)
    return [
        (np.exp(rng.uniform(-5, 5, n)), rng.uniform(-30, 30, n)),  # wide
        (0.7 + 0.6 * rng.random(n), rng.uniform(-2000, 2000, n)),  # near 1, huge exponents
        (base, edge),  # results near the overflow and subnormal thresholds
        (np.exp(rng.uniform(-700, 700, n)), rng.uniform(-1, 1, n)),  # wide bases
        (-np.exp(rng.uniform(-5, 5, n)), rng.integers(-40, 40, n).astype(float)),  # negative
    ]


def _ember_pow(a, b):
    return ember.pow(ember.tensor(a), ember.tensor(b)).numpy()


POWS = [_C.pow, _ember_pow]  # (ember.pow may take NumPy's SVML loops instead: see ops.py)


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_pow_within_one_ulp_of_mpmath(dt):
    rng = np.random.default_rng(41)
    for a, b in _cases(dt, rng):
        with np.errstate(all="ignore"):
            a, b = a.astype(dt), b.astype(dt)
        keep = np.isfinite(a) & np.isfinite(b)
        a, b = a[keep], b[keep]
        y = _C.pow(a, b)
        assert y.dtype == dt
        # (float64: subnormal results rounded twice)
        assert _max_ulp(y, a, b, dt) <= (0.51 if dt is np.float32 else 0.8)
        assert _max_ulp(_ember_pow(a, b), a, b, dt) <= 1.0


def _specials(dt):
    fi = np.finfo(dt)
    return np.array(
        [0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0, 3.0, -3.0, 2.5, -2.5, np.inf, -np.inf, np.nan,
         fi.tiny, fi.tiny / 8, -fi.tiny / 8, fi.max, -fi.max, 2.0**24, -(2.0**24 + 2), 1e30, -1e30,
         float(np.nextafter(dt(1), dt(2))), float(np.nextafter(dt(1), dt(0)))],
        dt,
    )  # fmt: skip


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("pow_", POWS)
def test_pow_special_cases_as_torch(dt, pow_):
    torch = pytest.importorskip("torch")
    sp = _specials(dt)
    a, b = (v.ravel().copy() for v in np.meshgrid(sp, sp))
    y = pow_(a, b)
    t = torch.pow(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    nan = np.isnan(t)
    np.testing.assert_array_equal(np.isnan(y), nan)
    # C99's special cases exactly (0, +-1, +-inf operands; 0 / inf results); elsewhere within
    # 1 ulp (torch's Sleef powf rounds 0.99999994 ** -1 to 1.0, 1.0000001 is the nearest float)
    special = [0.0, 1.0, -1.0, np.inf, -np.inf]
    exact = ~nan & (
        ~np.isfinite(t) | (t == 0) | np.isin(a, special) | np.isin(b, special[:1] + special[3:])
    )
    np.testing.assert_array_equal(y[exact], t[exact])
    np.testing.assert_array_equal(np.signbit(y[~nan]), np.signbit(t[~nan]))
    rest = ~nan & ~exact
    with np.errstate(all="ignore"):
        assert np.all(np.abs(y[rest] - t[rest]) <= np.spacing(np.abs(t[rest])))


def test_pow_broadcast_scalar_exponent_and_float_power():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    a = rng.uniform(0.1, 3, (5, 7))
    b = rng.uniform(-4, 4, (7,))
    for dt in (np.float32, np.float64):
        x, e = a.astype(dt), b.astype(dt)
        y = ember.pow(ember.tensor(x), ember.tensor(e)).numpy()
        t = torch.pow(torch.from_numpy(x), torch.from_numpy(e)).numpy()
        np.testing.assert_allclose(y, t, rtol=2 * np.finfo(dt).eps)
        y0 = ember.pow(ember.tensor(x), ember.tensor(e[:1])).numpy()  # (one-value exponent)
        np.testing.assert_allclose(y0, x ** e[0], rtol=2 * np.finfo(dt).eps)
        fp = ember.float_power(ember.tensor(x), ember.tensor(e))
        tf = torch.float_power(torch.from_numpy(x), torch.from_numpy(e)).numpy()
        assert fp.dtype == ember.float64
        np.testing.assert_allclose(fp.numpy(), tf, rtol=2**-52)


def test_pow_same_bits_on_one_and_two_threads():
    rng = np.random.default_rng(5)
    a = np.exp(rng.uniform(-20, 20, 100_003))
    b = rng.uniform(-30, 30, a.size)
    old = ember.get_num_threads()
    try:
        out = []
        for n in (1, 2):
            ember.set_num_threads(n)
            out.append(_C.pow(a, b))
        np.testing.assert_array_equal(out[0], out[1])
    finally:
        ember.set_num_threads(old)


def test_pow_gradients_gradcheck():
    rng = np.random.default_rng(6)
    a = ember.tensor(rng.uniform(0.5, 2, (3, 4)), requires_grad=True)
    b = ember.tensor(rng.uniform(-2, 2, (4,)), requires_grad=True)
    assert ember.autograd.gradcheck(ember.pow, (a, b))


def _addc_operands(rng, dt):
    x = rng.standard_normal((4, 5)).astype(dt)
    t1 = rng.standard_normal((5,)).astype(dt)
    t2 = (rng.uniform(0.5, 2, (4, 1)) * rng.choice([-1, 1], (4, 1))).astype(dt)
    return x, t1, t2


@pytest.mark.parametrize("op", ["addcmul", "addcdiv"])
@pytest.mark.parametrize("grad", [False, True])
def test_addc_broadcast_and_recorded_are_torch_bits(op, grad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    for dt in (np.float32, np.float64):
        x, t1, t2 = _addc_operands(rng, dt)
        es = [ember.tensor(v, requires_grad=grad) for v in (x, t1, t2)]
        ts = [torch.tensor(v, requires_grad=grad) for v in (x, t1, t2)]
        y = getattr(ember, op)(*es, value=0.3)
        t = getattr(torch, op)(*ts, value=0.3)
        np.testing.assert_array_equal(y.detach().numpy(), t.detach().numpy())
        if grad:
            assert y.grad_fn.name() == t.grad_fn.name()
            assert len(y.grad_fn.next_functions) == len(t.grad_fn.next_functions) == 3
            g = rng.standard_normal(t.shape).astype(dt)
            y.backward(ember.tensor(g))
            t.backward(torch.from_numpy(g))
            for e, tt in zip(es, ts, strict=True):
                np.testing.assert_allclose(e.grad.numpy(), tt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("op", ["addcmul", "addcdiv"])
def test_addc_gradcheck(op):
    rng = np.random.default_rng(8)
    x, t1, t2 = _addc_operands(rng, np.float64)
    args = tuple(ember.tensor(v, requires_grad=True) for v in (x, t1, t2))
    fn = getattr(ember, op)
    assert ember.autograd.gradcheck(lambda a, b, c: fn(a, b, c, value=-0.7), args)
    assert ember.autograd.gradgradcheck(lambda a, b, c: fn(a, b, c, value=-0.7), args)


@pytest.mark.parametrize("grad", [False, True])
def test_lerp_broadcast_is_torch_bits_and_nodes(grad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    for dt in (np.float32, np.float64):
        a = rng.standard_normal((3, 4)).astype(dt)
        b = rng.standard_normal((4,)).astype(dt)
        w = rng.uniform(-0.5, 1.5, (3, 1)).astype(dt)
        for weight in (w, 0.7, 0.2):
            ea, eb = ember.tensor(a, requires_grad=grad), ember.tensor(b, requires_grad=grad)
            ta, tb = torch.tensor(a, requires_grad=grad), torch.tensor(b, requires_grad=grad)
            ew = ember.tensor(weight, requires_grad=grad) if type(weight) is np.ndarray else weight
            tw = torch.tensor(weight, requires_grad=grad) if type(weight) is np.ndarray else weight
            y, t = ember.lerp(ea, eb, ew), torch.lerp(ta, tb, tw)
            np.testing.assert_array_equal(y.detach().numpy(), t.detach().numpy())
            if grad:
                assert y.grad_fn.name() == t.grad_fn.name()
                assert len(y.grad_fn.next_functions) == len(t.grad_fn.next_functions)


def test_lerp_broadcast_gradcheck():
    rng = np.random.default_rng(10)
    a = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((4,)), requires_grad=True)
    w = ember.tensor(rng.uniform(-0.5, 1.5, (3, 1)), requires_grad=True)
    assert ember.autograd.gradcheck(ember.lerp, (a, b, w))
    assert ember.autograd.gradgradcheck(ember.lerp, (a, b, w))
    assert ember.autograd.gradcheck(lambda a, b: ember.lerp(a, b, 0.8), (a, b))


def test_pow_huge_int_exponents_as_torch():
    torch = pytest.importorskip("torch")
    v = [0.5, 1.0, 2.0, -2.0, 0.0]
    for e in (2**63, 2**64 - 1, -(2**63), 2**53 + 1):
        np.testing.assert_array_equal(
            (ember.tensor(v) ** e).numpy(), (torch.tensor(v) ** e).numpy()
        )
    for e in (2**64, 2**70, -(2**63) - 1, -(2**70)):
        with pytest.raises(OverflowError):
            torch.tensor(v) ** e
        with pytest.raises(OverflowError):
            ember.tensor(v) ** e
