"""ember.special: torch.special's names, and the regularised incomplete gamma functions."""

import math

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck


def t64(a, grad=False):
    return ember.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


A = np.array([0.5, 1.0, 2.0, 5.0, 30.0, 100.0, 1e-3, 1e4, 7.5])
X = np.array([0.1, 1.0, 3.0, 4.0, 35.0, 90.0, 2.0, 1.005e4, 0.3])


def test_gammainc_closed_forms_and_recurrence():
    x = np.array([1e-3, 0.5, 1.0, 3.0, 20.0])
    # P(1, x) = 1 - e^-x and P(1/2, x) = erf(sqrt x)
    p1 = ember.special.gammainc(t64(np.ones(5)), t64(x)).numpy()
    np.testing.assert_allclose(p1, -np.expm1(-x), rtol=1e-14)
    erf = np.vectorize(math.erf)
    np.testing.assert_allclose(
        ember.special.gammainc(t64(np.full(5, 0.5)), t64(x)).numpy(), erf(np.sqrt(x)), rtol=1e-13
    )
    # P(a + 1, x) = P(a, x) - x^a e^-x / Gamma(a + 1), across both algorithms' regions
    for a in (0.7, 3.0, 12.5, 40.0):
        pa = ember.special.gammainc(t64(np.full(5, a)), t64(x * a)).numpy()
        pa1 = ember.special.gammainc(t64(np.full(5, a + 1)), t64(x * a)).numpy()
        term = np.exp(a * np.log(x * a) - x * a - math.lgamma(a + 1))
        np.testing.assert_allclose(pa1, pa - term, rtol=1e-11, atol=1e-15)


def test_gammaincc_is_one_minus_gammainc_and_edges():
    p = ember.special.gammainc(t64(A), t64(X)).numpy()
    q = ember.special.gammaincc(t64(A), t64(X)).numpy()
    np.testing.assert_allclose(p + q, 1.0, rtol=1e-13)
    a = t64([0.0, 0.0, 2.0, -1.0, 1.0, np.inf, np.inf, 2.0, np.nan])
    x = t64([1.0, 0.0, 0.0, 1.0, -1.0, 1.0, np.inf, np.inf, 1.0])
    nan = np.nan
    np.testing.assert_array_equal(
        ember.special.gammainc(a, x).numpy(), [1, nan, 0, nan, nan, 0, nan, 1, nan]
    )
    np.testing.assert_array_equal(
        ember.special.gammaincc(a, x).numpy(), [0, nan, 1, nan, nan, 1, nan, 0, nan]
    )


def test_gammainc_matches_torch_and_broadcasts():
    torch = pytest.importorskip("torch")
    for f in ("gammainc", "gammaincc"):
        e = getattr(ember.special, f)(t64(A), t64(X)).numpy()
        t = getattr(torch.special, f)(torch.tensor(A), torch.tensor(X)).numpy()
        np.testing.assert_allclose(e, t, rtol=3e-9)  # torch's own error reaches ~1e-9 here
    e = ember.special.gammainc(ember.tensor([[1.0], [2.0]]), ember.tensor([0.5, 1.0, 4.0]))
    assert e.shape == (2, 3) and e.dtype == ember.float32
    t = torch.special.gammainc(torch.tensor([[1.0], [2.0]]), torch.tensor([0.5, 1.0, 4.0]))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)


def test_gammainc_gradient_in_x_and_refused_in_a():
    a = t64([0.5, 2.0, 30.0])
    x = t64([0.3, 2.5, 28.0], grad=True)
    assert gradcheck(lambda x: ember.special.gammainc(a, x), [x])
    assert gradcheck(lambda x: ember.special.gammaincc(a, x), [x])
    y = ember.special.gammainc(t64([2.0], grad=True), t64([1.0]))
    with pytest.raises(NotImplementedError, match="first argument"):
        y.sum().backward()


def test_gammainc_bad_input():
    with pytest.raises(ValueError, match="broadcast"):
        ember.special.gammainc(ember.ones(3), ember.ones(2))
    with pytest.raises(TypeError):
        ember.special.gammainc("a", ember.ones(2))
    # the C++ boundary checks what Python callers pass directly
    with pytest.raises(ValueError, match="one shape"):
        _C.gammainc(np.ones(3), np.ones(2), False)
    with pytest.raises((ValueError, TypeError)):
        _C.gammainc(np.ones(3, np.float32), np.ones(3), False)
    with pytest.raises((ValueError, TypeError)):
        _C.gammainc(np.ones(3, np.int64), np.ones(3, np.int64), False)


def test_special_names_match_torch():
    torch = pytest.importorskip("torch")
    x = np.array([-2.0, -0.3, 0.0, 0.4, 1.5, 7.0])
    p = np.array([0.001, 0.2, 0.5, 0.7, 0.9, 0.999])
    pos = np.array([0.1, 0.5, 1.0, 2.5, 7.0, 30.0])
    for name, arg in [
        ("expit", x), ("entr", np.append(x, 0.0)), ("ndtr", x), ("ndtri", p), ("logit", p),
        ("gammaln", pos), ("psi", pos), ("digamma", pos), ("erf", x), ("erfc", x),
        ("erfinv", p), ("exp2", x), ("expm1", x), ("log1p", pos), ("i0", x), ("sinc", x),
        ("round", x),
    ]:  # fmt: skip
        e = getattr(ember.special, name)(t64(arg)).numpy()
        t = getattr(torch.special, name)(torch.tensor(arg)).numpy()
        np.testing.assert_allclose(e, t, rtol=1e-12, atol=1e-300, err_msg=name)
    np.testing.assert_allclose(
        ember.special.xlog1py(t64([0.0, 2.0, 0.0]), t64([-1.0, 0.5, np.nan])).numpy(),
        torch.special.xlog1py(torch.tensor([0.0, 2.0, 0.0]), torch.tensor([-1.0, 0.5, np.nan])),
    )
    np.testing.assert_allclose(
        ember.special.multigammaln(t64(pos[3:]), 3).numpy(),
        torch.special.multigammaln(torch.tensor(pos[3:]), 3).numpy(),
        rtol=1e-12,
    )


def test_entr_values_and_gradient():
    np.testing.assert_array_equal(
        ember.special.entr(t64([0.0, -1.0, 1.0])).numpy(), [0.0, -np.inf, -0.0]
    )
    x = t64([0.2, 0.7, 3.0], grad=True)
    assert gradcheck(ember.special.entr, [x])


@pytest.mark.parametrize("n", [1, 7, 15, 17, 33, 40_001])
def test_erf_vectorised_matches_math_erf(n):
    # erf runs vecmath.h's vectorised verf in the input's dtype; n covers the vector loops'
    # remainders. The grid reaches the tails (erf = +-1) and the denormals, where erf(x) ~ x.
    tiny = np.finfo(np.float64).tiny
    x = np.concatenate([np.linspace(-7, 7, 40_001), [tiny, -tiny / 8, 5e-324, 1e-200, 30.0]])
    x = x[np.random.default_rng(n).permutation(x.size)[:n]]
    ref = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(ember.special.erf(t64(x)).numpy(), ref, rtol=1e-15, atol=0)
    x32 = x.astype(np.float32)
    ref32 = np.array([math.erf(v) for v in x32.astype(np.float64)])
    got = ember.special.erf(ember.tensor(x32)).numpy()
    assert got.dtype == np.float32
    ulp = np.spacing(np.abs(ref32.astype(np.float32))).astype(np.float64)
    normal = np.abs(ref32) >= np.finfo(np.float32).tiny
    assert np.max(np.abs(got[normal] - ref32[normal]) / ulp[normal], initial=0) <= 4
    # denormal results: within a few of the smallest steps
    np.testing.assert_allclose(got[~normal], ref32[~normal], rtol=0, atol=4e-45)


def test_erf_special_values_and_strided_input():
    for dt in (np.float32, np.float64):
        x = np.array([np.inf, -np.inf, np.nan, 0.0, -0.0], dt)
        y = ember.special.erf(ember.tensor(x)).numpy()
        np.testing.assert_array_equal(y, [1, -1, np.nan, 0, -0.0])
        assert np.signbit(y[4])
        base = np.linspace(-3, 3, 64, dtype=dt).reshape(8, 8)
        view = ember.tensor(base)[:, ::2]  # non-contiguous
        ref = np.vectorize(math.erf)(base[:, ::2].astype(np.float64))
        np.testing.assert_allclose(ember.special.erf(view).numpy(), ref, rtol=3e-7, atol=0)
        assert ember.special.erf(ember.tensor(np.zeros((0, 3), dt))).shape == (0, 3)
        assert ember.special.erf(ember.tensor(dt(0.5))).shape == ()
