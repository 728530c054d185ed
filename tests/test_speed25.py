"""Elementwise speed work of round 25 held to the values it must keep: float32 log1p's
select-free blocks (activation.cpp's split_map over vm::log1p_fast) keep vlog1p's accuracy
against float64 over every binade, -1's neighbourhood, the denormals and the special values,
and the same bits whichever blocks (and threads) a lane falls in."""

import numpy as np
import pytest

import ember
from ember import _C

F32 = np.finfo(np.float32)


def _ulps(y, ref64):
    """|y - ref| in float32 ulps at ref (denormal references in units of the smallest step)."""
    fin = np.isfinite(ref64) & (np.abs(ref64) <= F32.max)
    sp = np.spacing(np.abs(ref64[fin]).astype(np.float32)).astype(np.float64)
    sp = np.maximum(sp, float(F32.smallest_subnormal))
    return np.abs(y[fin].astype(np.float64) - ref64[fin]) / sp


def _log1p_inputs():
    """Every 1021st positive float32 bit pattern (denormals to FLT_MAX), their negatives in
    (-1, 0), the neighbours of -1, 0, 1 and the fast form's bound 1e37, and the specials."""
    pos = np.arange(1, 0x7F800000, 1021, dtype=np.uint32).view(np.float32)
    near = np.float32(-1) + np.arange(1, 4000, dtype=np.float32) * np.float32(2.0**-24)
    edges = np.array([1e37, 1e38, 0.5, 1.0, 2.0, -0.5, 0.41421356, -0.29289322], np.float32)
    edges = np.concatenate(
        [edges, np.nextafter(edges, np.float32(np.inf)), np.nextafter(edges, -np.float32(np.inf))]
    )
    specials = np.array([0.0, -0.0, -1.0, -2.0, -np.inf, np.inf, np.nan, F32.max], np.float32)
    return np.concatenate([pos, -pos[pos < 1], near, edges, specials])


def _hook_log1p(x):
    """vecmath's vlog1p (its test hook, the kernel's SIMD clone), with -0.0 and 0.0 kept: the
    float32 kernel's form before the split."""
    with np.errstate(all="ignore"):
        return np.where(x == 0, x, _C._vecmath("log1p", x))


def _same_bits(y, want):
    np.testing.assert_array_equal(np.isnan(y), np.isnan(want))
    ok = ~np.isnan(want)
    np.testing.assert_array_equal(y[ok].view(np.uint32), want[ok].view(np.uint32))


def test_log1p_float32_accuracy_and_specials():
    x = _log1p_inputs()
    y = ember.log1p(ember.tensor(x)).numpy()
    with np.errstate(all="ignore"):
        ref = np.log1p(x.astype(np.float64))
    assert _ulps(y, ref).max() <= 1.4  # vlog1p's measured 1.355 (tests/test_vecmath512.py)
    # vlog1p's bits but in the last bit of a few lanes (vecmath.h's log1p_fast)
    old = _hook_log1p(x)
    ok = ~np.isnan(old)
    diff = np.abs(y[ok].view(np.int32).astype(np.int64) - old[ok].view(np.int32))
    assert diff.max() <= 1 and np.count_nonzero(diff) <= 1e-4 * x.size
    np.testing.assert_array_equal(np.isnan(y), np.isnan(old))
    with np.errstate(all="ignore"):
        want = np.log1p(np.array([0.0, -0.0, -1.0, -2.0, -np.inf, np.inf, np.nan], np.float32))
    got = ember.log1p(ember.tensor(x[-8:-1])).numpy()
    _same_bits(got, want)  # -0 -> -0, -1 -> -inf, below -1 and NaN -> NaN, inf -> inf
    assert np.signbit(got[1]) and not np.signbit(got[0])


@pytest.mark.parametrize("bad", [np.nan, -1.0, -3.0, np.inf, 1e38, -np.inf])
def test_log1p_float32_blocks_with_one_lane_outside(bad):
    """A block (2048 lanes) with one lane outside (-1, 1e37] runs vlog1p whole; the others the
    fast form: the same bits either way, at any thread count."""
    rng = np.random.default_rng(1)
    x = rng.uniform(-0.999, 50, 3 * 2048 + 77).astype(np.float32)
    x[::97] = 0.0
    x[1::89] = -0.0
    y_fast = ember.log1p(ember.tensor(x)).numpy()
    xb = x.copy()
    xb[2048 + 5] = bad  # the second block only
    y_mixed = ember.log1p(ember.tensor(xb)).numpy()
    keep = np.ones(x.size, bool)
    keep[2048 + 5] = False
    _same_bits(y_mixed[keep], y_fast[keep])
    _same_bits(y_mixed[~keep], _hook_log1p(xb[~keep]))


def test_log1p_float32_threads_and_inplace():
    rng = np.random.default_rng(2)
    x = rng.uniform(-1, 10, 300_000).astype(np.float32)
    x[200_000] = np.nan  # one full block, whose edges depend on the thread count
    want = ember.log1p(ember.tensor(x)).numpy()
    for n in (1, 2):
        old = ember.get_num_threads()
        ember.set_num_threads(n)
        try:
            _same_bits(ember.log1p(ember.tensor(x)).numpy(), want)
            t = ember.tensor(x.copy())
            t.log1p_()
            _same_bits(t.numpy(), want)
        finally:
            ember.set_num_threads(old)


def test_log1p_float32_vs_torch():
    torch = pytest.importorskip("torch")
    x = _log1p_inputs()
    x = x[np.isfinite(x) & (x > -1)]
    y = ember.log1p(ember.tensor(x)).numpy()
    t = torch.log1p(torch.from_numpy(x)).numpy()
    ref = np.log1p(x.astype(np.float64))
    assert _ulps(y, ref).max() <= max(1.4, _ulps(t, ref).max())


def _erfinv_inputs():
    """Every 331st float32 in [0, 1] and their negatives (the central and tail forms mixed in
    every group of 16), a stretch only central, the bound 0.9966 and the specials."""
    pos = np.arange(0, 0x3F800001, 331, dtype=np.uint32).view(np.float32)
    rng = np.random.default_rng(3)
    central = rng.uniform(-0.9966, 0.9966, 100_003).astype(np.float32)
    edge = np.float32(0.9966)
    edges = np.array([edge, np.nextafter(edge, np.float32(2)), np.nextafter(edge, np.float32(0))])
    specials = np.array([1.0, -1.0, 0.0, -0.0, np.nan, 1.5, -np.inf, np.inf], np.float32)
    return np.concatenate([pos, -pos, central, edges, -edges, specials, central[:77]])


def test_erfinv_float32_central_groups_same_bits():
    x = _erfinv_inputs()
    want = _C._vecmath("erfinv", x)  # vm::erfinv_float, both polynomials for every lane
    _same_bits(ember.erfinv(ember.tensor(x)).numpy(), want)
    for off in range(1, 16, 5):  # the groups' edges moved against the values
        _same_bits(ember.erfinv(ember.tensor(x[off:])).numpy(), want[off:])
    t = ember.tensor(x.copy())
    t.erfinv_()  # in place: y is x
    _same_bits(t.numpy(), want)


def test_erfinv_float32_accuracy():
    mp = pytest.importorskip("mpmath")
    rng = np.random.default_rng(4)
    x = np.concatenate([rng.uniform(-1, 1, 3000), 1 - np.exp(rng.uniform(-16.5, -5, 1000))]).astype(
        np.float32
    )
    x = x[np.abs(x) < 1]
    y = ember.erfinv(ember.tensor(x)).numpy()
    ref = np.array([float(mp.erfinv(mp.mpf(float(v)))) for v in x])
    assert _ulps(y, ref).max() <= 0.51  # rounded once from an interpolant within 4e-11
    torch = pytest.importorskip("torch")
    t = torch.erfinv(torch.from_numpy(x)).numpy()
    assert _ulps(y, ref).max() <= max(0.51, _ulps(t, ref).max())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_abs_square_fronts_fall_through(dtype):
    """abs / square of a plain contiguous float Tensor take a shorter front; every other case
    (autograd, a strided view, 0-d, empty, integers, bool, big) keeps its general path."""
    rng = np.random.default_rng(5)
    a = rng.standard_normal((33, 31)).astype(dtype)
    a[0, 0], a[0, 1], a[0, 2] = -0.0, np.nan, -np.inf
    cases = [a, a[:, ::2], a.T, np.asarray(a[3, 4]), a[:0], rng.standard_normal(200_000)]
    for v in cases:
        v = np.asarray(v, dtype)
        y = ember.abs(ember.tensor(v))
        _same_bits(y.numpy().ravel(), np.abs(v).ravel())  # (-0.0 -> 0.0: the sign bit too)
        assert y.shape == v.shape and y.dtype == ember.tensor(v).dtype and not y.requires_grad
        assert type(y.data) is np.ndarray and type(y.log().data) is np.ndarray  # (0-d too)
        s = ember.square(ember.tensor(v))
        np.testing.assert_array_equal(s.numpy(), np.square(v))
        assert s.shape == v.shape and s.dtype == y.dtype
    for ints in (np.array([[-3, 4]], np.int32), np.array([True, False])):
        np.testing.assert_array_equal(
            ember.square(ember.tensor(ints)).numpy(),
            np.square(ints.astype(np.int64) if ints.dtype == bool else ints),
        )
        if ints.dtype != bool:
            np.testing.assert_array_equal(ember.abs(ember.tensor(ints)).numpy(), np.abs(ints))
    with pytest.raises(TypeError, match="bool"):
        ember.abs(ember.tensor(np.array([True])))
    x = ember.tensor(a[:4, :5].astype(np.float64), requires_grad=True)
    (ember.abs(x) + ember.square(x)).sum().backward()
    ref = np.where(np.isnan(a[:4, :5]), 0, np.sign(a[:4, :5])) + 2 * a[:4, :5]
    np.testing.assert_allclose(x.grad.numpy(), ref.astype(np.float64), equal_nan=True)
    with ember.no_grad():
        z = ember.abs(x)
    assert not z.requires_grad and z._ctx is None
    with ember.inference_mode():
        w = ember.square(ember.tensor(a))
    assert w.is_inference()
