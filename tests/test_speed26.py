"""speed26: the elementwise paths measured against NumPy and torch this round, held to the
values they must keep: the binary operators' kernel path (Tensor.__add__ / __mul__ / __sub__ /
__truediv__ by _C.binary_auto) gives NumPy's bits on NaN, inf, -0.0, denormals, odd tails,
one-value, row and column broadcasts, strided operands and float64, at 1 and 2 threads, and
keeps autograd and dtype promotion; float32 erfinv gives torch's special values and the same
bits for strided views and at 1 and 2 threads."""

import numpy as np
import pytest
from conftest import at_threads

import ember

F32 = np.finfo(np.float32)


def _same_bits(x, y):
    assert x.dtype == y.dtype and x.shape == y.shape
    x, y = np.ascontiguousarray(x), np.ascontiguousarray(y)
    np.testing.assert_array_equal(x.view(np.uint8), y.view(np.uint8))


def test_erfinv_float32_threads_and_strides_same_bits():
    # (its specials against torch: test_speed24b)
    # a big uniform input (threads split it), strided and at 2 threads: the same bits
    big = np.random.default_rng(1).uniform(-1, 1, 300_007).astype(np.float32)
    with at_threads(1):
        one = ember.erfinv(ember.tensor(big)).numpy()
    with at_threads(2):
        _same_bits(ember.erfinv(ember.tensor(big)).numpy(), one)
    _same_bits(ember.erfinv(ember.tensor(big)[::3]).numpy(), one[::3])


def test_erfinv_float64_unchanged_against_torch():
    torch = pytest.importorskip("torch")
    y = np.random.default_rng(2).uniform(-1, 1, 4099)
    x = ember.erfinv(ember.tensor(y)).numpy()
    t = torch.erfinv(torch.from_numpy(y)).numpy()
    np.testing.assert_allclose(x, t, rtol=1e-13, atol=0)


def _edge_values(dtype, n, rng):
    f = np.finfo(dtype)
    sp = np.array(
        [0.0, -0.0, np.inf, -np.inf, np.nan, f.smallest_subnormal, -f.smallest_subnormal, f.tiny,
         f.max, -f.max, 1.0, -1.0],
        dtype,
    )  # fmt: skip
    v = rng.standard_normal(n).astype(dtype)
    v[rng.integers(0, n, n // 3)] = rng.choice(sp, n // 3)
    return v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [16, 17, 31, 1023, 70_001])  # kernel minimum, tails, threaded
def test_binary_operators_numpy_bits(dtype, n):
    rng = np.random.default_rng(n)
    a, b = _edge_values(dtype, n, rng), _edge_values(dtype, n, rng)
    ea, eb = ember.tensor(a), ember.tensor(b)
    with np.errstate(all="ignore"):
        for nt in (1, 2):
            with at_threads(nt):
                _same_bits((ea + eb).numpy(), a + b)
                _same_bits((ea * eb).numpy(), a * b)
                _same_bits((ea - eb).numpy(), a - b)
                _same_bits((ea / eb).numpy(), a / b)
                _same_bits((ea[::2] * eb[::2]).numpy(), a[::2] * b[::2])  # strided
                _same_bits((ea + eb[:1]).numpy(), a + b[:1])  # one value
                _same_bits((ea * 0.5).numpy(), a * dtype(0.5))  # a number


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_operators_broadcast_numpy_bits(dtype):
    rng = np.random.default_rng(5)
    a = _edge_values(dtype, 33 * 65, rng).reshape(33, 65)
    row, col = _edge_values(dtype, 65, rng), _edge_values(dtype, 33, rng)[:, None]
    ea = ember.tensor(a)
    with np.errstate(all="ignore"):
        for nt in (1, 2):
            with at_threads(nt):
                _same_bits((ea + ember.tensor(row)).numpy(), a + row)
                _same_bits((ember.tensor(row) * ea).numpy(), row * a)
                _same_bits((ea - ember.tensor(col)).numpy(), a - col)
                _same_bits((ember.tensor(col) / ea).numpy(), col / a)
                _same_bits((ea.t() * ea.t()).numpy(), a.T * a.T)  # non-contiguous


def test_binary_operators_autograd_and_promotion_kept():
    a = ember.tensor(np.arange(32, dtype=np.float64), requires_grad=True)
    b = ember.tensor(np.full(32, 2.0))
    y = a * b + a
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(32, 3.0))
    z = ember.tensor(np.ones(32, np.float32)) + ember.tensor(np.ones(32, np.float64))
    assert z.dtype == ember.float64


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tanh_edges_threads_and_layouts(dtype):
    """tanh (its 1000x1000 row against NumPy): within vecmath's bound of float64 / NumPy,
    signed zeros, +-1 at +-inf, NaN kept, and the same bits at 1 and 2 threads and strided."""
    rng = np.random.default_rng(7)
    x = _edge_values(dtype, 200_003, rng)
    x[:64] = np.linspace(-12, 12, 64)  # both sides of the 0.75 split and saturation
    with at_threads(1):
        y = ember.tanh(ember.tensor(x)).numpy()
    with at_threads(2):
        _same_bits(ember.tanh(ember.tensor(x)).numpy(), y)
    _same_bits(ember.tanh(ember.tensor(x)[1::2]).numpy(), y[1::2])
    ref = np.tanh(x.astype(np.float64))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(np.signbit(y), np.signbit(ref))
    ok = np.isfinite(ref)
    if dtype == np.float32:
        sp = np.maximum(np.spacing(np.abs(ref[ok]).astype(np.float32)), F32.smallest_subnormal)
        assert (np.abs(y[ok] - ref[ok]) / sp).max() <= 1.1
    else:
        np.testing.assert_allclose(y[ok], ref[ok], rtol=2e-15, atol=1e-300)
