"""The ops sped up by opsspeed20: outer (_C.outer), flip of the last dim (_C.flip_last),
transpose copies (16x16 tiles), the float32 -> float16 cast (F16C), x.t().sum(d) and .to(dtype).
Values against NumPy / torch with NaN, inf and -0, empty and strided inputs, each dtype the op
takes, and the same bits at 1 and 2 threads."""

import ml_dtypes
import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import _C
from ember.autograd.engine import reduce_sum

SPECIALS = [np.nan, -np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-40, -3.5]


def _with_specials(a):
    a = a.copy()
    flat = a.reshape(-1)
    flat[: min(len(SPECIALS), flat.size)] = SPECIALS[: flat.size]
    return a


def _bits_equal(x, y):
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and x.dtype == y.dtype and x.tobytes() == y.tobytes()


def _same_values(x, y):
    """The same bits, NaN anywhere one is (a NaN's sign and payload from two NaN operands
    depend on the operand order the compiler picks)."""
    x, y = np.asarray(x), np.asarray(y)
    nan = np.isnan(x)
    return (
        x.shape == y.shape
        and x.dtype == y.dtype
        and np.array_equal(nan, np.isnan(y))
        and x[~nan].tobytes() == y[~nan].tobytes()
    )


# ---- outer ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,n", [(1, 1), (3, 70), (300, 5), (257, 129), (4096, 16), (16, 4096)])
def test_outer_matches_numpy_bits(rng, dtype, m, n):
    a = _with_specials(rng.standard_normal(m).astype(dtype))
    b = _with_specials(rng.standard_normal(n).astype(dtype))[::-1].copy()
    with np.errstate(all="ignore"):
        want = np.multiply.outer(a, b)
    for t in (1, 2):
        with at_threads(t):
            got = ember.outer(ember.tensor(a), ember.tensor(b)).numpy()
        assert got.flags.c_contiguous
        assert _same_values(got, want)


def test_outer_against_torch_strided_and_empty(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal(40).astype(np.float32)
    b = rng.standard_normal(30).astype(np.float32)
    ea, eb = ember.tensor(a)[::3], ember.tensor(b)[1::2]  # strided 1-D views
    got = ember.outer(ea, eb).numpy()
    want = torch.outer(torch.from_numpy(a)[::3], torch.from_numpy(b)[1::2]).numpy()
    assert _bits_equal(got, want)
    for m, n in ((0, 5), (5, 0), (0, 0)):
        e = ember.outer(ember.zeros(m), ember.zeros(n))
        t = torch.outer(torch.zeros(m), torch.zeros(n))
        assert e.shape == tuple(t.shape) and e.dtype == np.float32
    ints = ember.outer(ember.tensor([1, 2, 3]), ember.tensor([4, 5]))  # not the kernel's dtype
    assert ints.dtype == np.int64 and ints.numpy().tolist() == [[4, 5], [8, 10], [12, 15]]


def test_outer_gradient_still_recorded():
    a = ember.tensor([1.0, 2.0, 3.0], dtype=ember.float64, requires_grad=True)
    b = ember.tensor([0.5, -1.0], dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(ember.outer, (a, b))


@pytest.mark.parametrize("op,fn", [(0, np.add), (1, np.subtract), (3, np.divide)])
def test_outer_kernel_other_ops_keep_operand_order(rng, op, fn):
    a = rng.standard_normal(33)
    b = _with_specials(rng.standard_normal(65))
    with np.errstate(all="ignore"):
        want = fn.outer(a, b)
    assert _same_values(_C.outer(a, b, op), want)


def test_outer_kernel_maximum_propagates_nan():
    a = np.array([np.nan, 1.0, -0.0], np.float32)
    b = np.array([0.0, np.nan, 2.0], np.float32)
    got = _C.outer(a, b, 4)
    want = np.maximum(a[:, None], b[None, :])
    assert np.array_equal(np.isnan(got), np.isnan(want))
    assert np.array_equal(got[~np.isnan(got)], want[~np.isnan(want)])


def test_outer_kernel_refuses_bad_input():
    f = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="outer"):
        _C.outer(f, np.ones(3), 2)  # float32 with float64
    with pytest.raises(TypeError, match="outer"):
        _C.outer(np.ones(3, np.int64), np.ones(3, np.int64), 2)
    with pytest.raises(ValueError, match="outer"):
        _C.outer(np.ones((2, 2), np.float32), f, 2)
    with pytest.raises(ValueError, match="op must be"):
        _C.outer(f, f, 9)
    with pytest.raises(ValueError, match="contiguous"):
        _C.outer(np.ones(6, np.float32)[::2], f, 2)


# ---- flip ----------------------------------------------------------------------------------

FLIP_DTYPES = [
    np.bool_, np.int8, np.uint8, np.int16, np.int32, np.int64, np.float16, np.float32,
    np.float64, np.complex64, np.complex128, ml_dtypes.bfloat16,
]  # fmt: skip


@pytest.mark.parametrize("dtype", FLIP_DTYPES, ids=lambda d: np.dtype(d).name)
def test_flip_every_dtype(rng, dtype):
    a = (rng.standard_normal((3, 5, 37)) * 50).astype(dtype)
    e = ember.tensor(a)
    for dims in ((-1,), (2,), (0, 2), (0, 1, 2), (1,), (0,)):
        got = ember.flip(e, dims).numpy()
        assert got.flags.c_contiguous
        assert _bits_equal(got, np.flip(a, dims).copy())


def test_flip_matches_torch_with_specials_and_threads(rng):
    torch = pytest.importorskip("torch")
    a = _with_specials(rng.standard_normal((300, 257)).astype(np.float32))
    want = torch.from_numpy(a).flip(-1).numpy()
    for t in (1, 2):
        with at_threads(t):
            assert _bits_equal(ember.tensor(a).flip(-1).numpy(), want)
            assert _bits_equal(ember.tensor(a).flip(0, 1).numpy(), np.flip(a).copy())


def test_flip_strided_empty_and_1d(rng):
    a = rng.standard_normal((6, 8)).astype(np.float32)
    e = ember.tensor(a)
    assert _bits_equal(e.t().flip(-1).numpy(), a.T[:, ::-1].copy())  # not C-contiguous
    assert _bits_equal(e[:, ::2].flip(-1).numpy(), a[:, ::2][:, ::-1].copy())
    assert _bits_equal(ember.flip(ember.tensor(a[0]), (0,)).numpy(), a[0][::-1].copy())
    for shape in ((0, 4), (4, 0), (0,)):
        z = ember.zeros(shape).flip(-1)
        assert z.shape == shape and z.dtype == np.float32
    x = ember.tensor(3.0)
    assert ember.flip(x, []).item() == 3.0


def test_flip_gradient():
    x = ember.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    assert ember.autograd.gradcheck(lambda v: ember.flip(v, (-1,)) * ember.arange(4.0), (x,))
    y = ember.flip(x, (0, 1))
    y.backward(ember.tensor(np.arange(12.0).reshape(3, 4)))
    assert np.array_equal(x.grad.numpy(), np.arange(12.0).reshape(3, 4)[::-1, ::-1])


def test_flip_last_kernel_refuses_bad_input():
    with pytest.raises(ValueError, match="flip_last"):
        _C.flip_last(np.zeros((), np.float32))
    with pytest.raises(TypeError, match="flip_last"):
        _C.flip_last(np.ones(3, np.complex128))
    with pytest.raises(ValueError, match="contiguous"):
        _C.flip_last(np.ones((4, 4), np.float32)[:, ::2])


# ---- transpose copies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape", [(1, 1), (15, 17), (16, 16), (17, 15), (64, 33), (1000, 37), (4096, 16), (512, 256)]
)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.float32, np.float64, np.complex64])
def test_transpose_copy_edges_and_widths(rng, shape, dtype):
    a = (rng.standard_normal(shape) * 100).astype(dtype)
    for t in (1, 2):
        with at_threads(t):
            assert _bits_equal(_C.transpose_copy(a), a.T.copy())


def test_contiguous_of_transposed_power_of_two(rng):
    torch = pytest.importorskip("torch")
    a = _with_specials(rng.standard_normal((512, 1024)).astype(np.float32))
    want = torch.from_numpy(a).t().contiguous().numpy()
    for t in (1, 2):
        with at_threads(t):
            got = ember.tensor(a).t().contiguous().numpy()
        assert got.flags.c_contiguous and _bits_equal(got, want)


# ---- float32 -> float16 / bfloat16 ---------------------------------------------------------


def _edge_floats(rng):
    """Random bit patterns plus every float near half's subnormal, normal and overflow edges."""
    bits = [
        rng.integers(0, 2**32, 1 << 16, dtype=np.uint64).astype(np.uint32),
        np.arange(0x33000000 - 512, 0x33800000 + 512, dtype=np.uint32),  # half's smallest
        np.arange(0x387FC000, 0x38804000, dtype=np.uint32),  # half's subnormal -> normal
        np.arange(0x477FE000 - 4096, 0x47800000 + 4096, dtype=np.uint32),  # 65504 .. overflow
        np.array([0x7F800000, 0x7FC00000, 0x7F800001, 0x7FFFFFFF, 0, 0x3F800000], np.uint32),
    ]
    b = np.concatenate(bits)
    return np.concatenate([b, b | 0x80000000]).view(np.float32)


def test_half_cast_matches_torch_bits(rng):
    torch = pytest.importorskip("torch")
    x = _edge_floats(rng)
    nan = np.isnan(x)
    want = torch.from_numpy(x).to(torch.float16).numpy().view(np.uint16)
    for t in (1, 2):
        with at_threads(t):
            got = ember.tensor(x).to(ember.float16).numpy()
        assert got.dtype == np.float16
        bits = got.view(np.uint16)
        assert np.array_equal(bits[~nan], want[~nan])
        # NaN: 0x7E00 with the sign on every ISA (half_bits' rule, torch's scalar c10::Half)
        assert np.array_equal(bits[nan], np.where(np.signbit(x[nan]), 0xFE00, 0x7E00))


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 23, 1000])
def test_half_cast_small_tails_strided_and_0d(rng, n):
    x = _with_specials(rng.standard_normal(n).astype(np.float32) * 1e4)
    with np.errstate(over="ignore"):
        want = x.astype(np.float16)
    nan = np.isnan(x)
    got = ember.tensor(x).half().numpy()
    assert np.array_equal(got[~nan].view(np.uint16), want[~nan].view(np.uint16))
    assert np.isnan(got[nan]).all()
    m = rng.standard_normal((8, 6)).astype(np.float32)
    assert _bits_equal(ember.tensor(m).t().to(ember.float16).numpy(), m.T.astype(np.float16))
    assert _bits_equal(ember.tensor(np.float32(2.5)).to(ember.float16).numpy(), np.float16(2.5))


def test_bfloat16_small_cast_matches_torch(rng):
    torch = pytest.importorskip("torch")
    x = _with_specials(rng.standard_normal((5, 7)).astype(np.float32))
    got = ember.tensor(x).to(ember.bfloat16).numpy().view(np.uint16)
    want = torch.from_numpy(x).to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    nan = np.isnan(x)
    assert np.array_equal(got[~nan], want[~nan]) and np.isnan(x[nan]).all()


def test_to_fast_path_keeps_semantics():
    x = ember.ones(3)
    assert x.to(ember.float32) is x and x.to(np.float32) is x
    assert x.to(ember.float32, copy=True) is not x
    y = ember.ones(3, requires_grad=True)
    z = y.to(ember.float64)
    assert z.dtype == np.float64 and z.requires_grad
    z.sum().backward()
    assert y.grad.dtype == np.float32 and np.array_equal(y.grad.numpy(), np.ones(3))
    assert ember.ones(2).to(ember.int64).dtype == np.int64


# ---- x.t().sum(d) --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(32, 32), (3, 1000), (257, 130)])
def test_sum_of_transposed_matches_reduce_sum(rng, dtype, shape):
    a = _with_specials((rng.standard_normal(shape) + 1e3).astype(dtype))
    a[-1, 0] = np.nan if shape[0] == 3 else a[-1, 0]
    for dim in (0, 1, -1, (0, 1), (1, 0)):
        for keepdim in (False, True):
            axes = tuple(sorted(d % 2 for d in ((dim,) if isinstance(dim, int) else dim)))
            want = reduce_sum(a.T, axes, keepdim)
            for t in (1, 2):
                with at_threads(t):
                    got = ember.tensor(a).t().sum(dim, keepdim=keepdim).numpy()
                assert got.flags.c_contiguous
                assert _bits_equal(got, want)
    full = ember.tensor(a).t().sum().numpy()
    assert _bits_equal(full, reduce_sum(a.T, (0, 1)))


def test_sum_of_transposed_against_torch_and_grad(rng):
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((64, 48)).astype(np.float32)
    for dim in (0, 1):
        got = ember.tensor(a).t().sum(dim).numpy()
        want = torch.from_numpy(a).t().sum(dim).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    x = ember.tensor(rng.standard_normal((40, 30)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda v: v.t().sum(0) * ember.arange(40.0), (x,))


# ---- randperm ------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2, 7, 255, 256, 257, 1000, 100_003])
def test_randperm_is_a_permutation_and_seeded(n):
    ember.manual_seed(7)
    a = ember.randperm(n)
    ember.manual_seed(7)
    b = ember.randperm(n)
    assert a.dtype == np.int64 and a.shape == (n,)
    assert np.array_equal(np.sort(a.numpy()), np.arange(n)) and ember.equal(a, b)
    g = ember.Generator().manual_seed(3)
    c = ember.randperm(n, generator=g)
    assert np.array_equal(c.numpy(), ember.randperm(n, generator=ember.Generator().manual_seed(3)))


def test_randperm_draws_advance_and_are_uniform():
    ember.manual_seed(0)
    counts = np.zeros((4, 4))
    first = None
    for _ in range(8000):  # each value at each position ~1/4 of the time
        p = ember.randperm(4).numpy()
        counts[np.arange(4), p] += 1
        first = p if first is None else first
    assert np.abs(counts / 8000 - 0.25).max() < 0.03
    assert not all(np.array_equal(first, ember.randperm(4).numpy()) for _ in range(5))


def test_randperm_dtypes_and_errors():
    torch = pytest.importorskip("torch")
    for dt, tdt in ((ember.float32, torch.float32), (ember.int32, torch.int32)):
        got = ember.randperm(10, dtype=dt)
        assert got.dtype == np.dtype(dt) and sorted(got.tolist()) == list(range(10))
        assert str(torch.randperm(10, dtype=tdt).dtype).endswith(np.dtype(dt).name)
    with pytest.raises(ValueError, match="n must be >= 0"):
        ember.randperm(-1)
    with pytest.raises(TypeError):
        ember.randperm(3.0)
    with pytest.raises(TypeError):
        torch.randperm(3.0)
    with pytest.raises(TypeError, match="int64"):
        _C.randperm_fill(np.empty(3, np.int32), 1)
    with pytest.raises(ValueError, match="contiguous"):
        _C.randperm_fill(np.empty(6, np.int64)[::2], 1)


# ---- logsumexp over short rows, x.sum(), gather outside the graph ---------------------------


def _lse_reference(x):
    """log(sum(exp(x - m))) + m in float64, m the largest finite-or-zero value, as the kernel."""
    x = x.astype(np.float64)
    with np.errstate(all="ignore"):
        m = np.nanmax(np.where(np.isnan(x), -np.inf, x), axis=-1, keepdims=True)
        m = np.where(np.isfinite(m), m, 0.0)
        return (np.log(np.exp(x - m).sum(-1, keepdims=True)) + m)[..., 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 2, 5, 15, 16, 17, 33, 255, 256, 257])
def test_logsumexp_rows_against_reference_and_threads(rng, dtype, n):
    x = (rng.standard_normal((300, n)) * 20).astype(dtype)
    x[0, 0] = np.nan
    x[1] = -np.inf
    x[2, n // 2] = np.inf
    x[3] = -0.0
    x[4, -1] = np.finfo(dtype).max
    x[5] = -1e30
    want = _lse_reference(x)
    with at_threads(1):
        one = ember.logsumexp(ember.tensor(x), -1).numpy()
    with at_threads(2):
        two = ember.logsumexp(ember.tensor(x), -1).numpy()
    assert _bits_equal(one, two)
    assert np.isnan(one[0]) and one[1] == -np.inf and one[2] == np.inf
    tol = 2e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(one[3:], want[3:], rtol=tol, atol=0)


def test_logsumexp_short_rows_against_torch_and_strided(rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4096, 16)).astype(np.float32)
    got = ember.logsumexp(ember.tensor(x), -1).numpy()
    np.testing.assert_allclose(got, torch.logsumexp(torch.from_numpy(x), -1).numpy(), rtol=1e-6)
    xt = rng.standard_normal((7, 40)).astype(np.float32)
    got = ember.logsumexp(ember.tensor(xt).t(), 1, keepdim=True).numpy()
    want = torch.logsumexp(torch.from_numpy(xt).t(), 1, keepdim=True).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert ember.logsumexp(ember.zeros((0, 5)), -1).shape == (0,)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_full_sum_fast_path_matches_reduce_sum(rng, dtype):
    for shape in ((1024,), (32, 32), (4, 16, 16), (1000,), (3, 5)):
        a = _with_specials(rng.standard_normal(shape).astype(dtype))[..., ::-1].copy()
        a[~np.isfinite(a)] = 1.0  # (-0.0 and a subnormal stay)
        for t in (1, 2):
            with at_threads(t):
                got = ember.tensor(a).sum().numpy()
            want = reduce_sum(a, tuple(range(a.ndim)))
            assert type(got) is np.ndarray and _bits_equal(got, want)
    x = ember.ones((32, 32), requires_grad=True)
    x.sum().backward()
    assert np.array_equal(x.grad.numpy(), np.ones((32, 32), np.float32))


def test_gather_outside_graph_matches_torch(rng):
    torch = pytest.importorskip("torch")
    for dtype in (np.float32, np.float64, np.int64, np.int16, np.bool_):
        x = (rng.standard_normal((6, 9)) * 10).astype(dtype)
        idx = rng.integers(0, 9, (6, 4))
        got = ember.gather(ember.tensor(x), 1, ember.tensor(idx)).numpy()
        want = torch.gather(torch.from_numpy(x), 1, torch.from_numpy(idx)).numpy()
        assert _bits_equal(got, want)
    x = rng.standard_normal((8, 10)).astype(np.float32)
    tx = torch.from_numpy(x)
    idx = rng.integers(0, 4, (10, 8))
    cases = [  # strided input, transposed index, int32 index, negative dim
        (ember.tensor(x).t(), -1, ember.tensor(idx[:, :5]), tx.t(), torch.from_numpy(idx[:, :5])),
        (ember.tensor(x), 0, ember.tensor(idx).t(), tx, torch.from_numpy(idx).t()),
        (ember.tensor(x), 1, ember.tensor(idx[:8].astype(np.int32)), tx, None),
    ]
    for ex, d, ei, t_x, t_i in cases:
        t_i = torch.from_numpy(idx[:8]) if t_i is None else t_i
        assert _bits_equal(ember.gather(ex, d, ei).numpy(), torch.gather(t_x, d, t_i).numpy())
    with pytest.raises(IndexError):
        ember.gather(ember.ones((2, 3)), 1, ember.tensor([[0, 3]]))
    x = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    idx = ember.tensor([[0, 0], [1, 3], [2, 2]])
    assert ember.autograd.gradcheck(lambda v: ember.gather(v, 1, idx), (x,))
