"""Round 44 (redspeed44): unique over a dim with NaN slices in torch's order, the dtypes torch's
unique_consecutive and histogram refuse, gather of a 0-d input or index, and bincount, against
torch."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _check_unique_dim(a, dim):
    got = ember.unique(ember.tensor(a), dim=dim, return_inverse=True, return_counts=True)
    want = torch.unique(torch.from_numpy(a), dim=dim, return_inverse=True, return_counts=True)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
        assert g.numpy().dtype == w.numpy().dtype


def test_unique_dim_nan_columns_in_torchs_order():
    a = np.array([[1.0, np.nan, 2.0, np.nan, 1.0], [0.0, 1.0, np.nan, 1.0, 0.0]])
    _check_unique_dim(a, 1)
    _check_unique_dim(a.T.copy(), 0)
    _check_unique_dim(a.T.copy(), -2)


@pytest.mark.parametrize("n", [3, 16, 17, 40, 300])
@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_unique_dim_nan_slices_many(n, dtype):
    # more than 16 slices: libstdc++'s introsort (quicksort partitions, then insertion sort)
    rng = np.random.default_rng(n)
    a = rng.integers(0, 3, (n, 3)).astype(dtype)
    a[rng.random((n, 3)) < 0.2] = np.nan
    _check_unique_dim(a, 0)
    _check_unique_dim(np.ascontiguousarray(a.T), 1)
    _check_unique_dim(a.reshape(n, 3, 1), 0)


def test_unique_dim_without_nan_unchanged():
    a = np.array([[3, 1, 3], [2, 0, 2]], np.float32)
    _check_unique_dim(a, 1)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("dim", [None, 0])
def test_unique_consecutive_refuses_complex(dtype, dim):
    a = np.array([1 + 1j, 1 + 1j, 2], dtype)
    with pytest.raises(NotImplementedError):
        torch.unique_consecutive(torch.from_numpy(a), dim=dim)
    with pytest.raises(NotImplementedError, match="unique.*complex"):
        ember.unique_consecutive(ember.tensor(a), dim=dim)
    with pytest.raises(NotImplementedError, match="unique.*complex"):
        ember.unique_consecutive(ember.tensor(a[:0]))


def test_unique_consecutive_real_still_works():
    a = np.array([1.0, 1.0, np.nan, np.nan, 2.0], np.float32)
    got = ember.unique_consecutive(ember.tensor(a), return_inverse=True, return_counts=True)
    want = torch.unique_consecutive(torch.from_numpy(a), return_inverse=True, return_counts=True)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g.numpy(), w.numpy())


@pytest.mark.parametrize("bins", [100, 5])
def test_histogram_float16_without_range_refused_as_torch(bins):
    a = np.array([1.0, 2.0], np.float16)
    with pytest.raises(NotImplementedError):
        torch.histogram(torch.from_numpy(a), bins)
    with pytest.raises(NotImplementedError, match="histogram.*float16"):
        ember.histogram(ember.tensor(a), bins)
    b = ember.tensor(a).to(ember.bfloat16)
    with pytest.raises(NotImplementedError, match="histogram"):
        ember.histogram(b, bins)


@pytest.mark.parametrize(
    "kw",
    [
        {"bins": 3, "range": (0.0, 3.0)},
        {"bins": 3, "range": (0.0, 3.0), "density": True},
    ],
)
def test_histogram_float16_with_range_works_as_torch(kw):
    a = np.array([1.0, 2.0, 2.5, 0.2], np.float16)
    got = ember.histogram(ember.tensor(a), **kw)
    want = torch.histogram(torch.from_numpy(a), **kw)
    np.testing.assert_allclose(got.hist.numpy(), want.hist.numpy(), rtol=1e-3)
    np.testing.assert_allclose(got.bin_edges.numpy(), want.bin_edges.numpy(), rtol=1e-3)
    assert got.hist.numpy().dtype == np.float16


def test_histogram_float16_edges_and_empty_work_as_torch():
    a = np.array([1.0, 2.0], np.float16)
    edges = np.array([0.0, 1.0, 3.0], np.float16)
    got = ember.histogram(ember.tensor(a), ember.tensor(edges))
    want = torch.histogram(torch.from_numpy(a), torch.from_numpy(edges))
    np.testing.assert_array_equal(got.hist.numpy(), want.hist.numpy())
    got = ember.histogram(ember.tensor(a[:0]), 4)
    want = torch.histogram(torch.from_numpy(a[:0]), 4)
    np.testing.assert_array_equal(got.hist.numpy(), want.hist.numpy())


@pytest.mark.parametrize(
    "x, idx",
    [
        (np.float64(5.0), [0, 0, 0]),
        (np.float64(5.0), [0]),
        (np.float64(5.0), np.zeros(0, np.int64)),
        (np.array([5.0]), np.int64(0)),
        (np.float64(5.0), np.int64(0)),
    ],
)
@pytest.mark.parametrize("dim", [0, -1])
def test_gather_zero_d_input_or_index_as_torch(x, idx, dim):
    idx = np.asarray(idx, np.int64)
    got = ember.gather(ember.tensor(np.asarray(x)), dim, ember.tensor(idx))
    want = torch.gather(torch.from_numpy(np.asarray(x)), dim, torch.from_numpy(idx))
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_gather_zero_d_errors_as_torch():
    x = ember.tensor(5.0)
    with pytest.raises(RuntimeError, match="out of range|out of bounds"):
        ember.gather(x, 0, ember.tensor([1]))
    with pytest.raises(IndexError):
        ember.gather(x, 1, ember.tensor([0]))
    with pytest.raises((RuntimeError, ValueError), match="dims"):
        ember.gather(x, 0, ember.tensor([[0]]))


def test_gather_zero_d_gradient_float64():
    x = ember.tensor(np.float64(1.5), requires_grad=True)
    idx = ember.tensor([0, 0, 0])
    ember.gather(x, 0, idx).sum().backward()
    assert x.grad.item() == 3.0
    assert gradcheck(lambda t: ember.gather(t, 0, idx) * 2.0, (x,))


@pytest.mark.parametrize("n, hi", [(0, 1), (1, 1), (7, 3), (1001, 1000), (5000, 100000)])
@pytest.mark.parametrize("minlength", [0, 5, 2000])
def test_bincount_counts_as_torch(n, hi, minlength):
    # (bins <= 4096: four sub-histograms; more: one)
    rng = np.random.default_rng(n)
    a = rng.integers(0, hi, n)
    got = ember.bincount(ember.tensor(a), minlength=minlength).numpy()
    want = torch.bincount(torch.from_numpy(a), minlength=minlength).numpy()
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.int64


def test_bincount_runs_of_one_value():
    a = np.repeat(np.array([3, 0, 3, 9]), [1000, 3, 5, 2])
    np.testing.assert_array_equal(
        ember.bincount(ember.tensor(a)).numpy(), torch.bincount(torch.from_numpy(a)).numpy()
    )


@pytest.mark.parametrize("wdtype", ["float32", "float64", "float16", "int64"])
def test_bincount_weights_as_numpy_and_torch_dtype(wdtype):
    rng = np.random.default_rng(4)
    a = rng.integers(0, 50, 3000)
    w = (rng.random(3000) * 10).astype(wdtype)
    got = ember.bincount(ember.tensor(a), ember.tensor(w), minlength=60).numpy()
    want = torch.bincount(torch.from_numpy(a), torch.from_numpy(w), minlength=60).numpy()
    assert got.dtype == want.dtype
    # summed in float64 in order: NumPy's bits, rounded to the result dtype
    ref = np.bincount(a, w.astype(np.float64), 60).astype(got.dtype)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_bincount_other_integer_dtypes():
    a = np.array([2, 0, 2, 5], np.int32)
    got = ember.bincount(ember.tensor(a)).numpy()
    np.testing.assert_array_equal(got, torch.bincount(torch.from_numpy(a)).numpy())


def test_bincount_errors():
    with pytest.raises(ValueError, match="non-negative"):
        ember.bincount(ember.tensor([1, -2, 3]))
    with pytest.raises(ValueError, match="1-D"):
        ember.bincount(ember.tensor([[1, 2]]))
    with pytest.raises(ValueError, match="weights"):
        ember.bincount(ember.tensor([1, 2]), ember.tensor([1.0, 2.0, 3.0]))
    with pytest.raises(ValueError, match="minlength"):
        ember.bincount(ember.tensor([1, 2]), minlength=-1)
    with pytest.raises(TypeError):
        ember.bincount(ember.tensor([1.0, 2.0]))


def test_bincount_kernel_checks_at_the_boundary():
    C = ember._C
    with pytest.raises(TypeError, match="int64"):
        C.bincount(np.array([1, 2], np.int32))
    with pytest.raises(ValueError, match="contiguous"):
        C.bincount(np.arange(6)[::2])
    with pytest.raises(ValueError, match="non-negative"):
        C.bincount(np.array([0, -1]))
    with pytest.raises(TypeError, match="weights"):
        C.bincount(np.array([0, 1]), np.array([1, 2]))
    with pytest.raises(ValueError, match="match"):
        C.bincount(np.array([0, 1]), np.array([1.0]))


@pytest.mark.parametrize("shape", [(10, 1000), (3, 64), (5, 129), (1, 300), (7, 2, 200)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
@pytest.mark.parametrize("op", ["amax", "amin"])
def test_amax_columns_register_strips_as_torch(shape, dtype, op):
    # whole strips of 8 vectors of columns in registers, the rest by the L1 blocks
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    a = (rng.standard_normal(shape) * 50).astype(dtype)
    if dtype.startswith("float"):
        a[rng.random(shape) < 0.01] = np.nan
        a[..., 5] = 0.0
        a[0, ..., 5] = -0.0
    got = getattr(ember, op)(ember.tensor(a), 0).numpy()
    want = getattr(torch, op)(torch.from_numpy(a), 0).numpy()
    np.testing.assert_array_equal(got, want)
    got = getattr(ember, op)(ember.tensor(a), -2 if len(shape) == 3 else 0, keepdim=True)
    want = getattr(torch, op)(torch.from_numpy(a), -2 if len(shape) == 3 else 0, keepdim=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_amax_columns_threads_give_the_same_bits():
    a = np.random.default_rng(5).standard_normal((9, 5000)).astype(np.float32)
    a[3, 77] = np.nan
    old = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = ember.amax(ember.tensor(a), 0).numpy()
        ember.set_num_threads(2)
        two = ember.amax(ember.tensor(a), 0).numpy()
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, torch.amax(torch.from_numpy(a), 0).numpy())


def test_amax_columns_gradient_float64():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.permutation(4 * 300).reshape(4, 300) / 7.0, requires_grad=True)
    assert gradcheck(lambda t: ember.amax(t, 0), (x,))


@pytest.mark.parametrize("shape", [(100000, 10), (7, 5), (1, 9), (4, 3, 6)])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("keepdim", [False, True])
def test_amax_of_a_transposed_array_as_torch(shape, dtype, keepdim):
    # an F-contiguous view (x.T of a C array) goes to the kernel over its C twin's dims
    rng = np.random.default_rng(7)
    c = (rng.standard_normal(shape) * 30).astype(dtype)
    if dtype != "int64":
        c[rng.random(shape) < 0.001] = np.nan
    x = c.T
    nd = x.ndim
    dims = [0, nd - 1, (0, 1), tuple(range(nd))] + ([(1, 2)] if nd == 3 else [])
    for op in ["amax", "amin"]:
        for dim in dims:
            got = getattr(ember, op)(ember.tensor(x), dim, keepdim=keepdim)
            want = getattr(torch, op)(torch.from_numpy(x), dim, keepdim=keepdim)
            assert got.shape == tuple(want.shape)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
