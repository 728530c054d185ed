"""float32 / float64 numerics on extreme and large inputs against float64 (or exact) references
and torch: the float32 product of long rows (multiplied in double lanes), cosine_similarity
whose sums leave float16's / float32's range (summed in float64 then), and special-value
placement ember gets right where a scan of the whole float32 range was run (overflow edges of
sinh / cosh, gelu at inf, fmod of huge by small, masked softmax rows, BCE's -100 clamp)."""

import math

import numpy as np
import pytest
from conftest import at_threads

import ember
import ember.nn.functional as F


def _np(t):
    return np.asarray(t.detach().numpy())


def _prod_ref(x):
    """The product of x by a sum of float64 logs (x > 0): exact to ~1e-12 for 1e6 factors."""
    return math.exp(math.fsum(np.log(x.astype(np.float64))))


@pytest.mark.parametrize("n", [1000, 100_000, 1_000_000])
def test_float32_prod_of_long_rows_is_accurate(n):
    # factors near 1: float32 lanes lost 3.8e-3 relative at 1e6 (torch 9e-4); double lanes
    # round once, so within float32's half ulp (6e-8) plus the reference's 1e-12
    x = (1 + np.random.default_rng(0).standard_normal(n) * 1e-4).astype(np.float32)
    ref = _prod_ref(x)
    got = float(_np(ember.tensor(x).prod()))
    assert abs(got / ref - 1) < 7e-8
    rows = x[: n // 1000 * 1000].reshape(-1, 1000)  # along the last dim too, row by row
    want = np.exp(np.log(rows.astype(np.float64)).sum(1))
    np.testing.assert_allclose(_np(ember.tensor(rows).prod(1)), want, rtol=7e-8)


def test_float32_prod_keeps_float_overflow_and_underflow():
    # a long row's product in double lanes overflows / underflows only when rounded to float
    x = np.full(4096, 1.0, np.float32)
    x[:3] = [1e30, 1e30, 1e-30]  # the product is 1e30, finite in float
    assert float(_np(ember.tensor(x).prod())) == pytest.approx(1e30, rel=1e-6)
    x[2] = 1e30  # 1e90: inf
    assert float(_np(ember.tensor(x).prod())) == np.inf
    x[:3] = [1e-30, 1e-30, 1e-30]
    y = float(_np(ember.tensor(x).prod()))
    assert y == 0.0 and not math.copysign(1, y) < 0
    x[0] = -1e-30  # a zero keeps the product's sign
    assert math.copysign(1, float(_np(ember.tensor(x).prod()))) < 0


def test_float32_prod_same_bits_at_1_and_2_threads():
    # the lanes and chunks are combined in an order fixed by n (not by the thread count)
    x = (1 + np.random.default_rng(1).standard_normal((3, 600_000)) * 1e-3).astype(np.float32)
    with at_threads(1):
        one = _np(ember.tensor(x).prod(1)), _np(ember.tensor(x[0]).prod())
    with at_threads(2):
        two = _np(ember.tensor(x).prod(1)), _np(ember.tensor(x[0]).prod())
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


def test_float32_prod_no_worse_than_torch():
    torch = pytest.importorskip("torch")
    x = (1 + np.random.default_rng(2).standard_normal(2_000_000) * 1e-4).astype(np.float32)
    ref = _prod_ref(x)
    mine = abs(float(_np(ember.tensor(x).prod())) / ref - 1)
    theirs = abs(float(torch.from_numpy(x).prod()) / ref - 1)
    assert mine <= max(theirs, 6e-8)


@pytest.mark.parametrize(
    ("dtype", "scale", "rtol"),
    [(np.float16, 300.0, 2e-3), (np.float32, 1e20, 1e-6), (np.float32, 1e-18, 1e-6)],
)
def test_cosine_similarity_outside_the_squares_range(dtype, scale, rtol):
    # float16 vectors of norm ~1000 (squares past 65504) and float32 of 1e20 were NaN; pairs of
    # 1e-18 lost their dot product to underflow. Scale-free: the cosine of the unscaled pair
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((5, 16)) * scale).astype(dtype)
    b = (rng.standard_normal((5, 16)) * scale).astype(dtype)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    na, nb = (np.maximum(np.linalg.norm(v, axis=1), 1e-8) for v in (a64, b64))
    ref = (a64 * b64).sum(1) / na / nb  # (the 1e-18 pairs' norms clamp to eps = 1e-8)
    ta, tb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    y = F.cosine_similarity(ta, tb)
    assert y.dtype == ta.dtype
    np.testing.assert_allclose(_np(y).astype(np.float64), ref, rtol=rtol, atol=1e-30)
    y.sum().backward()
    assert ta.grad.dtype == ta.dtype and np.isfinite(_np(ta.grad)).all()
    # the gradient of a cosine is scale / |a|: compare the rescaled one with float64's
    a64t, b64t = ember.tensor(a64, requires_grad=True), ember.tensor(b64)
    F.cosine_similarity(a64t, b64t).sum().backward()
    np.testing.assert_allclose(
        _np(ta.grad).astype(np.float64) * scale, _np(a64t.grad) * scale, rtol=1e-2, atol=1e-3
    )


def test_cosine_similarity_specials_unchanged():
    # inf inputs stay NaN (inf / inf), zero vectors 0, eps clamps the norms as before
    a = np.array([[np.inf, 1.0], [0.0, 0.0], [1e-9, 0.0]], np.float32)
    b = np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 0.0]], np.float32)
    y = _np(F.cosine_similarity(ember.tensor(a), ember.tensor(b)))
    assert np.isnan(y[0]) and y[1] == 0.0
    assert y[2] == pytest.approx(1e-9 / 1e-8, rel=1e-6)  # ||a|| clamped to eps = 1e-8


def test_sinh_cosh_finite_up_to_their_overflow():
    # sinh(88.73) = 1.7e38 < FLT_MAX: finite (torch's float32 sinh overflows from 88.72)
    x = np.array([88.73, -88.79, 89.4, 89.5, -89.5], np.float32)
    ref = np.array([math.sinh(float(v)) for v in x])
    with np.errstate(over="ignore"):
        want = ref.astype(np.float32)
    np.testing.assert_allclose(_np(ember.sinh(ember.tensor(x))), want, rtol=2e-7)
    np.testing.assert_allclose(_np(ember.cosh(ember.tensor(x))), np.abs(want), rtol=2e-7)


def test_special_value_placement():
    inf = np.inf
    x = np.array([inf, -inf, 0.0, -0.0, np.nan], np.float32)
    # gelu(inf) = inf as torch's float64 (its float32 vector loop gives NaN); -inf * 0 is NaN
    # in both; the zeros keep their signs
    g = _np(F.gelu(ember.tensor(x)))
    np.testing.assert_array_equal(g, [inf, np.nan, 0.0, -0.0, np.nan])
    assert np.signbit(g[3]) and not np.signbit(g[2])
    # fmod of a huge float by 0.5 is an exact 0 with the dividend's sign (torch: NaN)
    a = np.array([3.4e38, -3.4e38, 1.0], np.float32)
    r = _np(ember.fmod(ember.tensor(a), ember.tensor(np.array([0.5, 0.5, 1e-45], np.float32))))
    np.testing.assert_array_equal(r, [0.0, -0.0, 0.0])
    assert np.signbit(r[1]) and not np.signbit(r[0])


def test_masked_softmax_rows_and_logsumexp():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((4, 33)) * 1e4).astype(np.float32)
    x[0] = -np.inf  # a fully masked row: NaN in softmax / log_softmax, -inf in logsumexp
    x[1, ::2] = -np.inf
    x[2, 5] = np.inf
    for fe, ft in ((F.softmax, torch.softmax), (F.log_softmax, torch.log_softmax)):
        got, want = _np(fe(ember.tensor(x), 1)), ft(torch.from_numpy(x), 1).numpy()
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        fin = np.isfinite(want)
        np.testing.assert_array_equal(np.isfinite(got), fin)
        np.testing.assert_allclose(got[fin], want[fin], rtol=2e-7, atol=1e-30)
    lse = _np(ember.logsumexp(ember.tensor(x), 1))
    assert lse[0] == -np.inf and lse[2] == np.inf and np.isfinite(lse[[1, 3]]).all()


def test_bce_log_clamp_and_logits_1e4():
    torch = pytest.importorskip("torch")
    p = np.array([0.0, 1.0, 0.0, 1.0, 0.5], np.float32)
    t = np.array([1.0, 0.0, 0.0, 1.0, 1.0], np.float32)
    got = _np(F.binary_cross_entropy(ember.tensor(p), ember.tensor(t), reduction="none"))
    np.testing.assert_array_equal(got[:4], [100.0, 100.0, 0.0, 0.0])  # log clamped at -100
    lg = np.array([1e4, -1e4, 1e4, -1e4, 0.0], np.float32)
    want = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(lg), torch.from_numpy(t), reduction="none"
    ).numpy()
    got = F.binary_cross_entropy_with_logits(ember.tensor(lg), ember.tensor(t), reduction="none")
    got = _np(got)
    np.testing.assert_allclose(got, want, rtol=1e-7)
    np.testing.assert_array_equal(got[:4], [0.0, 0.0, 1e4, 1e4])
