"""prod over dims, cumprod and fmod / remainder by their C++ kernels (_C.prod_dim, _C.cumprod,
_C.fmod, _C.remainder): values against NumPy float64 references and against torch, special
values (zeros with their signs, infinities, NaN, zero divisors, huge quotients), empty dims,
non-contiguous inputs (NumPy's path), 1 vs 2 threads bit for bit, the gradients (float64
finite differences) and bad input to _C directly."""

import numpy as np
import pytest

import ember
from ember import _C


def _t(a, grad=False):
    return ember.tensor(a, requires_grad=grad)


def _np(t):
    return np.asarray(t.detach().numpy())


def _threads_1_2(f):
    """f() at 1 and at 2 threads."""
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = f()
        ember.set_num_threads(2)
        two = f()
    finally:
        ember.set_num_threads(old)
    return one, two


def _same_bits(a, b, any_nan=False):
    """a and b bit for bit (with any_nan, a NaN matches any NaN: torch's vector loops make
    NaNs of other payloads and signs)."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    if any_nan:
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
        a, b = np.where(np.isnan(a), 0, a), np.where(np.isnan(b), 0, b)
    np.testing.assert_array_equal(a.view(f"u{a.itemsize}"), b.view(f"u{b.itemsize}"))


RTOL = {np.float32: 2e-5, np.float64: 1e-13}


def _near_one(shape, dtype, seed=0, spread=0.01):
    rng = np.random.default_rng(seed)
    return (1 + spread * rng.standard_normal(shape)).astype(dtype)


# ---- prod ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,dim",
    [((37, 1029), 1), ((37, 1029), 0), ((37, 1029), None), ((3, 4, 5), 1), ((2, 3, 70000), 2),
     ((1, 300001), None), ((7,), 0), ((5, 1), 1)],
)  # fmt: skip
def test_prod_matches_float64_reference(dtype, shape, dim):
    x = _near_one(shape, dtype)
    y = _np(_t(x).prod() if dim is None else _t(x).prod(dim))
    ref = np.prod(x.astype(np.float64), axis=dim)
    assert y.dtype == dtype and y.shape == np.shape(ref)
    np.testing.assert_allclose(y, ref, rtol=RTOL[dtype] * 20, atol=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prod_keepdim_and_dtype(dtype):
    x = _near_one((4, 6, 5), dtype, seed=1)
    y = _np(_t(x).prod(1, keepdim=True))
    assert y.shape == (4, 1, 5)
    np.testing.assert_allclose(y[:, 0], np.prod(x.astype(np.float64), 1), rtol=RTOL[dtype])
    wide = ember.prod(_t(x), 2, dtype=ember.float64)
    assert wide.dtype == ember.float64
    np.testing.assert_allclose(_np(wide), np.prod(x.astype(np.float64), 2), rtol=1e-14)


def test_prod_empty_dims_give_one():
    x = np.zeros((3, 0, 4), np.float32)
    np.testing.assert_array_equal(_np(_t(x).prod(1)), np.ones((3, 4), np.float32))
    assert _np(_t(x).prod(0)).shape == (0, 4)
    assert float(_np(_t(np.zeros(0, np.float64)).prod())) == 1.0
    assert _np(_t(x).prod(1, keepdim=True)).shape == (3, 1, 4)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [5, 100, 3000])
def test_prod_special_values_match_torch(dtype, n):
    torch = pytest.importorskip("torch")
    rows = []
    for special in ([0.0], [-0.0], [-0.0, -0.0], [np.inf], [-np.inf], [np.inf, 0.0], [np.nan],
                    [-np.inf, -0.0], [np.nan, 0.0]):  # fmt: skip
        r = np.full(n, 1.0)
        r[-1] = -1.0
        r[1 : 1 + len(special)] = special
        rows.append(r)
    x = np.array(rows, dtype)
    _same_bits(_np(_t(x).prod(1)), torch.from_numpy(x).prod(1).numpy())
    for row in x:  # all elements
        _same_bits(_np(_t(row).prod()), torch.from_numpy(row).prod().numpy())
    xt = np.ascontiguousarray(x.T)  # down the columns
    _same_bits(_np(_t(xt).prod(0)), torch.from_numpy(xt).prod(0).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prod_short_rows_in_order(dtype):
    # under one set of lanes the product runs in order: an intermediate overflow stays inf
    big, small = (1e30, 1e-30) if dtype == np.float32 else (1e200, 1e-300)
    x = np.array([[big, big, small], [2.0, 3.0, 0.5]], dtype)
    np.testing.assert_array_equal(_np(_t(x).prod(1)), [np.inf, 3.0])
    assert float(_np(_t(x).prod())) == np.inf


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_prod_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    x = _near_one((50, 2000), dtype, seed=2)
    for dim in (0, 1):
        np.testing.assert_allclose(
            _np(_t(x).prod(dim)), torch.from_numpy(x).prod(dim).numpy(), rtol=RTOL[dtype] * 20
        )
    np.testing.assert_allclose(
        float(_np(_t(x).prod())), float(torch.from_numpy(x).prod()), rtol=RTOL[dtype] * 50
    )


def test_prod_non_contiguous_input():
    x = _near_one((40, 30), np.float32, seed=3)
    t = _t(x).t()  # a strided view: NumPy's path
    np.testing.assert_allclose(_np(t.prod(1)), np.prod(x.T.astype(np.float64), 1), rtol=1e-5)
    np.testing.assert_allclose(_np(t.prod()), np.prod(x.astype(np.float64)), rtol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((1000, 1000), 1), ((1000, 1000), 0), ((1, 700001), 1),
                                       ((2, 300000), 1), ((1000, 1000), None)])  # fmt: skip
def test_prod_threads_bit_identical(dtype, shape, dim):
    x = _near_one(shape, dtype, seed=4, spread=1e-3)
    t = _t(x)
    one, two = _threads_1_2(lambda: _np(t.prod() if dim is None else t.prod(dim)))
    _same_bits(one, two)


@pytest.mark.parametrize("zeros", [0, 1, 2])
def test_prod_gradients(zeros):
    rng = np.random.default_rng(5)
    x = rng.uniform(0.5, 1.5, (3, 5)) * rng.choice([-1, 1], (3, 5))
    x.flat[[2, 7][:zeros]] = 0.0
    for fn in (lambda t: t.prod(1), lambda t: t.prod(0, keepdim=True), lambda t: t.prod()):
        assert ember.autograd.gradcheck(fn, (_t(x, True),))


# ---- cumprod ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((3, 4, 5), 0), ((3, 4, 5), 1), ((3, 4, 5), 2),
                                       ((20, 1003), 1), ((1003, 20), 0), ((9,), 0)])  # fmt: skip
def test_cumprod_is_the_double_scan_rounded(dtype, shape, dim):
    # PyTorch's CPU scan multiplies in double and rounds each entry: NumPy's float64 cumprod
    x = _near_one(shape, dtype, seed=6, spread=0.05)
    y = _np(ember.cumprod(_t(x), dim))
    _same_bits(y, np.cumprod(x.astype(np.float64), axis=dim).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumprod_matches_torch_with_special_values(dtype):
    torch = pytest.importorskip("torch")
    x = _near_one((6, 40), dtype, seed=7, spread=0.5)
    x[0, 3] = 0.0
    x[1, 5] = -0.0
    x[2, 7] = np.inf
    x[3, 9] = np.nan
    x[4, 2], x[4, 30] = np.inf, 0.0
    x[5, 0] = -np.inf
    for dim in (0, 1):
        _same_bits(_np(ember.cumprod(_t(x), dim)), torch.cumprod(torch.from_numpy(x), dim).numpy())


def test_cumprod_empty_and_non_contiguous():
    x = np.zeros((3, 0), np.float32)
    assert _np(ember.cumprod(_t(x), 1)).shape == (3, 0)
    assert _np(ember.cumprod(_t(x), 0)).shape == (3, 0)
    z = _near_one((30, 40), np.float64, seed=8, spread=0.1)
    t = _t(z).t()  # strided: copied to C order first
    _same_bits(_np(ember.cumprod(t, 1)), np.cumprod(z.T, axis=1))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1])
def test_cumprod_threads_bit_identical(dtype, dim):
    t = _t(_near_one((1000, 1000), dtype, seed=9, spread=1e-3))
    one, two = _threads_1_2(lambda: _np(ember.cumprod(t, dim)))
    _same_bits(one, two)


@pytest.mark.parametrize("zero", [False, True])
def test_cumprod_gradients(zero):
    x = np.random.default_rng(10).uniform(0.5, 1.5, (3, 6))
    if zero:
        x[1, 2] = 0.0
    for dim in (0, 1):
        assert ember.autograd.gradcheck(lambda t, d=dim: ember.cumprod(t, d), (_t(x, True),))


# ---- fmod / remainder ---------------------------------------------------------------------------


def _mod_operands(dtype, n=20000, seed=11):
    rng = np.random.default_rng(seed)
    big = 1e30 if dtype == np.float32 else 1e300
    tiny = 1e-40 if dtype == np.float32 else 1e-310  # denormals
    a = np.concatenate([
        rng.standard_normal(n) * 10,
        rng.standard_normal(n) * 1e6,  # large ratios
        rng.uniform(-5, 5, n).round(),  # exact multiples, +-0 results
        [0.0, -0.0, 0.0, -0.0, np.inf, -np.inf, np.nan, 5.0, -5.0, big, -big, tiny, 3.0, 7.0,
         1.0, -1.0, 5.5, 2.0 ** 30, -(2.0 ** 60)],
    ])  # fmt: skip
    b = np.concatenate([
        rng.standard_normal(n),
        rng.standard_normal(n) * 1e-3,
        rng.choice([-3.0, -1.0, 0.5, 2.0, 3.0], n),
        [3.0, 3.0, -3.0, -3.0, 2.0, 2.0, 2.0, 0.0, -0.0, 3.0, 7.0, 3.0, np.inf, -np.inf,
         tiny, -tiny, np.nan, 3.0, 0.1],
    ])  # fmt: skip
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fmod_is_exact(dtype):
    a, b = _mod_operands(dtype)
    with np.errstate(all="ignore"):
        ref = np.fmod(a, b)
    _same_bits(_np(ember.fmod(_t(a), _t(b))), ref)
    _same_bits(_C.fmod(a, b), ref)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fmod_and_remainder_match_torch_bits(dtype):
    torch = pytest.importorskip("torch")
    a, b = _mod_operands(dtype, seed=12)
    # torch's vector fmod gives NaN where the finite a / b overflows (1 / 1e-40: a denormal
    # divisor), its scalar tail C's value; the kernel keeps C's exact value (as NumPy, and ember
    # before it)
    with np.errstate(all="ignore"):
        keep = ~(np.isfinite(a) & np.isfinite(b) & (b != 0) & np.isinf(a / b))
    assert (~keep).sum() == 2
    a, b = a[keep], b[keep]
    ta, tb = torch.from_numpy(a), torch.from_numpy(b)
    _same_bits(_np(ember.fmod(_t(a), _t(b))), torch.fmod(ta, tb).numpy(), any_nan=True)
    _same_bits(_np(ember.remainder(_t(a), _t(b))), torch.remainder(ta, tb).numpy(), any_nan=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_remainder_matches_numpy_path(dtype):
    # the kernel against the NumPy path it bypasses (taken by strided operands)
    from ember.ops import _remainder_floats

    a, b = _mod_operands(dtype, n=3000, seed=13)
    a_nc, b_nc = np.stack([a, a], 1)[:, 0], np.stack([b, b], 1)[:, 0]
    assert not a_nc.flags.c_contiguous
    with np.errstate(all="ignore"):
        _same_bits(_C.remainder(a, b), _remainder_floats(a_nc, b_nc))


def test_mod_non_contiguous_and_broadcast():
    rng = np.random.default_rng(14)
    a = rng.standard_normal((30, 40)) * 10
    b = rng.standard_normal((40, 30))
    with np.errstate(all="ignore"):
        _same_bits(_np(ember.fmod(_t(a), _t(b).t())), np.fmod(a, b.T))
        _same_bits(_np(ember.fmod(_t(a), 3.0)), np.fmod(a, 3.0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["fmod", "remainder"])
def test_mod_threads_bit_identical(dtype, op):
    a, b = _mod_operands(dtype, n=200000, seed=15)
    f = getattr(ember, op)
    one, two = _threads_1_2(lambda: _np(f(_t(a), _t(b))))
    _same_bits(one, two)


def test_mod_out_may_be_an_input():
    a, b = _mod_operands(np.float64, n=1000, seed=16)
    ref = _C.remainder(a, b)
    a2 = a.copy()
    _C.remainder(a2, b, out=a2)
    _same_bits(a2, ref)


@pytest.mark.parametrize("op", ["fmod", "remainder"])
def test_mod_gradients_unchanged(op):
    rng = np.random.default_rng(17)
    a = rng.uniform(-5, 5, (4, 5))
    b = rng.uniform(0.7, 2, (4, 5)) * rng.choice([-1, 1], (4, 5))
    # keep away from the jumps, where the finite differences straddle them
    q = a / b
    a = np.where(np.abs(q - np.round(q)) < 0.05, a + 0.3 * b, a)
    f = getattr(ember, op)
    assert ember.autograd.gradcheck(f, (_t(a, True), _t(b, True)))


# ---- bad input to _C ----------------------------------------------------------------------------


def test_bad_input_raises():
    f = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):
        _C.prod_dim(np.ones((3, 4), np.int64), 0, 1)
    with pytest.raises(ValueError, match="dims"):
        _C.prod_dim(f, 1, 3)
    with pytest.raises(ValueError, match="contiguous"):
        _C.prod_dim(f.T, 0, 1)
    with pytest.raises(TypeError):
        _C.cumprod(np.ones((2, 3, 4), np.int32))
    with pytest.raises(ValueError, match="3-D"):
        _C.cumprod(f)
    with pytest.raises(TypeError):
        _C.fmod(f, f.astype(np.float64))
    with pytest.raises(TypeError):
        _C.remainder(np.ones(3, np.int64), np.ones(3, np.int64))
    with pytest.raises(ValueError, match="shape"):
        _C.fmod(f, np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="contiguous"):
        _C.remainder(f.T, f.T)
    with pytest.raises(ValueError, match="overlaps"):
        big = np.ones(10, np.float32)
        _C.fmod(big[:5], big[:5], out=big[1:6])
