"""The C++ normal sampler (_C.normal_fill) behind randn, randn_like, normal and init.normal_:
the distribution, determinism for a seed at any thread count, and its bad input."""

import math

import numpy as np
import pytest

import ember
from ember import _C


def _ks_normal(x: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance of x's empirical CDF from N(0, 1)'s."""
    s = np.sort(x.astype(np.float64))
    cdf = 0.5 * np.array([math.erfc(-v / math.sqrt(2.0)) for v in s])
    n = s.size
    return max(np.max(np.arange(1, n + 1) / n - cdf), np.max(cdf - np.arange(n) / n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_samples_are_standard_normal(dtype):
    x = ember.randn(200_000, dtype=dtype).numpy()
    assert x.dtype == dtype
    n = x.size
    # moments within ~5 standard errors of N(0, 1)'s: mean 0, var 1, skew 0, kurtosis 3
    assert abs(x.mean()) < 5 / math.sqrt(n)
    assert abs(x.var() - 1) < 5 * math.sqrt(2 / n)
    assert abs(np.mean(x.astype(np.float64) ** 3)) < 5 * math.sqrt(15 / n)
    assert abs(np.mean(x.astype(np.float64) ** 4) - 3) < 5 * math.sqrt(96 / n)
    # the whole shape (KS at the 1e-6 level: 2.7 / sqrt(n)), tails included
    assert _ks_normal(x[:20_000]) < 2.7 / math.sqrt(20_000)
    assert 0.5 * n * math.erfc(4 / math.sqrt(2)) < 3 * np.sum(np.abs(x) > 4) + 10
    # neighbours (the two halves of a Box-Muller pair) uncorrelated
    assert abs(np.corrcoef(x[0::2], x[1::2])[0, 1]) < 5 / math.sqrt(n / 2)


def test_same_seed_same_samples_at_any_thread_count(threads):
    got = []
    for _ in threads():
        ember.manual_seed(7)
        # both sides of the threading threshold (2^14 pairs a thread), odd sizes too
        got.append([ember.randn(n).numpy() for n in (1, 5, 1000, 3 * 2**15 + 1)])
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)
    ember.manual_seed(8)
    assert not np.array_equal(ember.randn(1000).numpy(), got[0][2])


def test_draws_advance_the_stream_and_follow_its_state():
    ember.manual_seed(3)
    a, b = ember.randn(4, 4), ember.randn(4, 4)
    assert not np.array_equal(a.numpy(), b.numpy())
    state = ember.get_rng_state()
    c = ember.randn(10)
    ember.set_rng_state(state)
    np.testing.assert_array_equal(ember.randn(10).numpy(), c.numpy())
    g = ember.Generator().manual_seed(5)  # a generator= stream of its own
    d = ember.randn(10, generator=g)
    np.testing.assert_array_equal(
        ember.randn(10, generator=ember.Generator().manual_seed(5)).numpy(), d.numpy()
    )


def test_randn_normal_and_init_share_one_sampler():
    ember.manual_seed(11)
    ref = ember.randn(3, 5)
    ember.manual_seed(11)
    np.testing.assert_array_equal(ember.randn_like(ref).numpy(), ref.numpy())
    ember.manual_seed(11)
    w = ember.empty(3, 5).normal_(2.0, 0.5)
    np.testing.assert_allclose(w.numpy(), 2.0 + 0.5 * ref.numpy(), rtol=1e-6)
    ember.manual_seed(11)
    ref64 = ember.randn(3, 5, dtype=ember.float64)
    ember.manual_seed(11)
    np.testing.assert_allclose(
        ember.normal(1.0, 3.0, (3, 5)).numpy(), (1 + 3 * ref64.numpy()).astype(np.float32)
    )


def test_half_precision_draws_round_the_float32_samples():
    ember.manual_seed(2)
    ref = ember.randn(64)
    ember.manual_seed(2)
    h = ember.randn(64, dtype=ember.float16)
    assert h.dtype == np.float16
    np.testing.assert_array_equal(h.numpy(), ref.numpy().astype(np.float16))
    with pytest.raises(TypeError, match="floating-point"):
        ember.random.normal_samples(None, (3,), np.int64)


def test_normal_fill_writes_in_place_with_mean_and_std():
    out = np.empty((2, 3), np.float64)
    _C.normal_fill(out, 42)
    ref = out.copy()
    _C.normal_fill(out, 42, 1.0, 2.0)
    np.testing.assert_allclose(out, 1.0 + 2.0 * ref, rtol=1e-15)
    empty = np.empty((0, 4), np.float32)
    _C.normal_fill(empty, 1)  # nothing to write


def test_normal_fill_refuses_bad_input():
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.normal_fill(np.empty(3, np.int32), 1)
    with pytest.raises(TypeError):  # noconvert: a list is not an array to write into
        _C.normal_fill([0.0, 0.0], 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.normal_fill(np.empty((4, 4), np.float32)[:, ::2], 1)
    ro = np.empty(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.normal_fill(ro, 1)
    with pytest.raises(ValueError, match="std must be >= 0"):
        _C.normal_fill(np.empty(3, np.float32), 1, 0.0, -1.0)
    with pytest.raises(TypeError):  # a negative key is no uint64
        _C.normal_fill(np.empty(3, np.float32), -1)
