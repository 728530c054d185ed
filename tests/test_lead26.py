"""Session 26's lead changes: multinomial with replacement drawn by the C++ inverse-CDF kernel
(_C.multinomial_check, _C.multinomial_draw)."""

import numpy as np
import pytest

import ember
from ember import _C


def reference_draw(w, u):
    """NumPy's inverse CDF: the first category whose running total passes u * total, the last
    positive one when u * total rounds up to the total. Exact for integer weights (every
    running total is exact, so the kernel's summation order cannot matter)."""
    c = np.cumsum(w.astype(np.float64), axis=1)
    out = np.empty(u.shape, np.int64)
    for r in range(w.shape[0]):
        out[r] = np.searchsorted(c[r], u[r] * c[r, -1], side="right")
        out[r] = np.minimum(out[r], np.searchsorted(c[r], c[r, -1], side="left"))
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (3, 7), (5, 64), (2, 1000), (40, 9)])
def test_draw_is_the_inverse_cdf(dtype, shape):
    rng = np.random.default_rng(shape[1])
    w = rng.integers(0, 4, shape).astype(dtype)
    w[:, rng.integers(0, shape[1])] = 1  # every row has a positive weight
    u = rng.random((shape[0], 50))
    u[:, 0], u[:, 1] = 0.0, np.nextafter(1.0, 0.0)  # the two ends
    np.testing.assert_array_equal(_C.multinomial_draw(w, u), reference_draw(w, u))


def test_zero_weights_are_never_drawn():
    w = np.zeros((4, 300), np.float32)
    w[0, 0] = w[1, -1] = w[2, 150] = 1.0
    w[3, [7, 8, 299]] = [1e-30, 2.0, 1e-30]
    u = np.random.default_rng(0).random((4, 5000))
    u[:, :2] = [0.0, np.nextafter(1.0, 0.0)]
    got = _C.multinomial_draw(w, u)
    for r in range(4):
        assert np.all(w[r, got[r]] > 0)
    assert set(got[0]) == {0} and set(got[1]) == {299} and set(got[2]) == {150}


@pytest.mark.parametrize("dtype", [ember.float16, ember.bfloat16, ember.float32, ember.float64])
def test_frequencies_follow_the_weights(dtype):
    p = np.array([[0.1, 0.0, 0.6, 0.3], [5.0, 1.0, 0.0, 4.0]])
    n = 40000
    draws = ember.multinomial(ember.tensor(p, dtype=dtype), n, True).numpy()
    for r in range(2):
        freq = np.bincount(draws[r], minlength=4) / n
        expected = p[r] / p[r].sum()
        assert np.all(np.abs(freq - expected) < 5 * np.sqrt(expected * (1 - expected) / n) + 1e-12)
        assert freq[expected == 0].sum() == 0


def test_one_row_many_draws_same_on_one_and_two_threads():
    w = np.random.default_rng(1).random((1, 5000))
    u = np.random.default_rng(2).random((1, 300000))
    many = np.random.default_rng(3).random((64, 3000)), np.random.default_rng(4).random((64, 40))
    ember.set_num_threads(1)
    try:
        one = _C.multinomial_draw(w, u), _C.multinomial_draw(*many)
    finally:
        ember.set_num_threads(2)
    two = _C.multinomial_draw(w, u), _C.multinomial_draw(*many)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)


def test_fixed_seed_gives_the_same_draws():
    w = ember.rand(8, 100)
    ember.manual_seed(5)
    a = ember.multinomial(w, 20, True)
    ember.manual_seed(5)
    b = ember.multinomial(w, 20, True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "row, message",
    [
        ([1.0, -1e-30], "non-negative"),
        ([1.0, np.nan], "non-negative"),
        ([np.inf, 1.0], "non-negative"),
        ([-np.inf, 1.0], "non-negative"),
        ([1e308, 1e308], "finite total"),  # (torch draws the last category every time)
        ([0.0, -0.0], "positive total"),
    ],
)
def test_bad_weights_are_refused_before_any_draw(row, message):
    w = np.array([[1.0, 1.0], row], np.float64)
    g = ember.Generator().manual_seed(3)
    state = g.get_state()
    with pytest.raises(ValueError, match=message):
        ember.multinomial(ember.tensor(w), 3, True, generator=g)
    np.testing.assert_array_equal(g.get_state().numpy(), state.numpy())
    if np.isfinite(row).all() and abs(sum(row)) < 1e300:  # float32 rows too
        with pytest.raises(ValueError, match=message):
            ember.multinomial(ember.tensor(w, dtype=ember.float32), 3, True)


def test_noncontiguous_and_one_dim_weights():
    w = ember.tensor(np.random.default_rng(0).random((30, 6))).t()  # (6, 30), transposed
    ember.manual_seed(0)
    a = ember.multinomial(w, 7, True)
    ember.manual_seed(0)
    b = ember.multinomial(w.contiguous(), 7, True)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert ember.multinomial(ember.tensor([0.0, 2.0]), 5, True).numpy().tolist() == [1] * 5


@pytest.mark.parametrize(
    "w, u, error",
    [
        (np.ones((2, 3), np.int64), np.zeros((2, 1)), TypeError),
        (np.ones((2, 3), np.float16), np.zeros((2, 1)), TypeError),  # (mixed with float64 u)
        (np.ones((3, 2)).T, np.zeros((2, 1)), ValueError),  # not C-contiguous
        (np.ones(3), np.zeros((1, 1)), ValueError),
        (np.ones((2, 0)), np.zeros((2, 1)), ValueError),
        (np.ones((2, 3)), np.zeros((2, 1), np.float32), TypeError),
        (np.ones((2, 3)), np.zeros((3, 1)), ValueError),
        (np.ones((2, 3)), np.zeros(2), ValueError),
    ],
)
def test_kernel_refuses_bad_arrays(w, u, error):
    with pytest.raises(error):
        _C.multinomial_draw(w, u)
    if u.shape == (2, 1) and u.dtype == np.float64 and w.dtype != np.float16:
        with pytest.raises(error):
            _C.multinomial_check(w)


def test_check_widens_16_bit_weights_as_every_kernel():
    _C.multinomial_check(np.ones((2, 3), np.float16))
    with pytest.raises(ValueError, match="row 1"):
        _C.multinomial_check(np.array([[1, 0], [0, 0]], np.float16))


def test_u_outside_the_unit_interval_still_draws_a_positive_category():
    w = np.array([[0.0, 1.0, 0.0, 2.0, 0.0]])
    got = _C.multinomial_draw(w, np.array([[-1.0, 1.0, 7.0, np.nan, np.inf, -np.inf]]))
    assert got.tolist() == [[1, 3, 3, 1, 3, 1]]


# ---- sort: float32 rows with ties by 64-bit words (order key above position) -----------------


def tied_rows(seed, n, levels):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, levels, n).astype(np.float32) - levels // 2
    for value in (np.nan, -0.0, 0.0, np.inf, -np.inf, -np.nan):
        x[rng.integers(0, n, max(1, n // 50))] = value
    return x


@pytest.mark.parametrize("n", [3, 64, 65, 255, 256, 1000, 16383, 16384, 70000])
@pytest.mark.parametrize("levels", [2, 37, 100000])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_with_ties_is_torchs_permutation(n, levels, descending):
    torch = pytest.importorskip("torch")
    x = tied_rows(n + levels, n, levels)
    got = ember.sort(ember.tensor(x), descending=descending)
    want = torch.sort(torch.tensor(x), descending=descending)
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())


def test_sort_with_ties_orders_values_and_keeps_ties_together():
    # independent of torch: the values come out ordered (NaN last), each index once
    for n in (100, 20000):
        x = tied_rows(n, n, 50)
        idx = ember.sort(ember.tensor(x)).indices.numpy()
        assert sorted(idx.tolist()) == list(range(n))
        v = x[idx]
        finite = v[~np.isnan(v)]
        assert np.all(finite[1:] >= finite[:-1]) and np.isnan(v[len(finite) :]).all()


def test_sort_of_tied_rows_same_on_one_and_two_threads():
    x = np.stack([tied_rows(s, 3000, 20) for s in range(16)])
    ember.set_num_threads(1)
    try:
        one = ember.sort(ember.tensor(x), dim=1).indices.numpy()
    finally:
        ember.set_num_threads(2)
    np.testing.assert_array_equal(one, ember.sort(ember.tensor(x), dim=1).indices.numpy())


# ---- x[:, i]: full slices around one integer array by the index_select kernel ---------------


@pytest.mark.parametrize(
    "dtype", [np.float32, np.float64, np.int64, np.int32, np.float16, np.uint8]
)
@pytest.mark.parametrize(
    "shape, axis, ishape", [((5, 7), 1, (9,)), ((3, 4, 6), 2, (2, 3)), ((4, 5, 2, 3), 1, (6,))]
)
def test_column_select_matches_numpy_and_torch(dtype, shape, axis, ishape):
    rng = np.random.default_rng(axis)
    x = (rng.standard_normal(shape) * 5).astype(dtype)
    idx = rng.integers(-shape[axis], shape[axis], ishape)  # negative positions too
    key = (slice(None),) * axis + (idx,)
    got = ember.tensor(x)[(slice(None),) * axis + (ember.tensor(idx),)].numpy()
    np.testing.assert_array_equal(got, x[key])
    assert got.dtype == x.dtype
    torch = pytest.importorskip("torch")
    want = torch.tensor(x)[(slice(None),) * axis + (torch.tensor(idx),)].numpy()
    np.testing.assert_array_equal(got, want)


def test_column_select_of_a_transposed_tensor_and_with_trailing_slices():
    x = np.arange(60.0).reshape(5, 12)
    idx = np.array([3, 0, 3, 11])
    t = ember.tensor(x).t()  # (12, 5), not contiguous
    np.testing.assert_array_equal(t[:, ember.tensor([4, 0])].numpy(), x.T[:, [4, 0]])
    y = ember.tensor(x.reshape(5, 3, 4))
    np.testing.assert_array_equal(y[:, idx % 3, :].numpy(), x.reshape(5, 3, 4)[:, idx % 3, :])


def test_column_select_gradient_adds_repeats():
    from ember.autograd import gradcheck

    x = ember.tensor(np.random.default_rng(0).standard_normal((4, 6)), requires_grad=True)
    idx = ember.tensor([5, 0, 5, -1, 2])  # 5 three times (-1 is 5)
    assert gradcheck(lambda v: v[:, idx] * 1.5, (x,))
    x[:, idx].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0], [1.0, 0.0, 1.0, 0.0, 0.0, 3.0])


@pytest.mark.parametrize("bad", [[4], [-5], [0, 9]])
def test_column_select_out_of_range_is_an_index_error(bad):
    with pytest.raises(IndexError, match="out of bounds"):
        ember.zeros(3, 4)[:, ember.tensor(bad)]


def test_column_select_empty_index_and_empty_tensor():
    assert ember.zeros(3, 4)[:, ember.tensor([], dtype=ember.int64)].shape == (3, 0)
    assert ember.zeros(0, 4)[:, ember.tensor([1, 2])].shape == (0, 2)


# ---- tril/triu: float rows through _C.where (a Python zero) ---------------------------------


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64, np.bool_])
@pytest.mark.parametrize("shape", [(5, 7), (64, 48), (3, 40, 40)])
@pytest.mark.parametrize("diagonal", [0, 2, -3])
def test_triangles_keep_dtype_and_match_numpy(name, dtype, shape, diagonal):
    x = (np.random.default_rng(1).standard_normal(shape) * 3).astype(dtype)
    x.reshape(-1)[::7] = np.nan if dtype in (np.float32, np.float64) else x.reshape(-1)[::7]
    got = getattr(ember, name)(ember.tensor(x), diagonal).numpy()
    want = getattr(np, name)(x, diagonal)  # (the dropped NaN becomes 0, as torch's)
    assert got.dtype == x.dtype
    np.testing.assert_array_equal(got, want)


def test_triangle_gradient_is_the_mask():
    x = ember.tensor(np.ones((40, 30)), requires_grad=True)
    ember.triu(x, 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.triu(np.ones((40, 30)), 1))


# ---- printing: torch's padding of True, elision, and empty tensors' size and dtype ------------


@pytest.mark.parametrize(
    "array",
    [
        np.array([[True]]),
        np.array([True, False]),
        np.ones(2000, bool),
        np.zeros(2000, np.float32),
        np.arange(2000),
        np.zeros((2000, 2000), np.float32),
        np.zeros((0, 3), np.int64),
        np.zeros((0, 3), np.float32),
        np.zeros(0, np.float64),
        np.zeros(0, bool),
        np.zeros((3, 0, 2), np.float32),
    ],
    ids=lambda a: f"{a.dtype}{a.shape}",
)
def test_repr_as_torch(array):
    torch = pytest.importorskip("torch")
    want = repr(torch.tensor(array)).replace("torch.", "")  # (ember's dtypes print as NumPy's)
    assert repr(ember.tensor(array)) == want


def test_repr_by_hand():
    assert repr(ember.tensor([True, True])) == "tensor([True, True])"
    assert repr(ember.tensor([True, False])) == "tensor([ True, False])"
    assert repr(ember.zeros(0, 2)) == "tensor([], size=(0, 2))"
    assert repr(ember.arange(3000))[:40] == "tensor([   0,    1,    2,  ..., 2997, 29"


# ---- rms_norm by layer norm's kernels with no mean (_C.rms_norm_forward / _backward) ---------


def rms_reference(x, shape, w, eps):
    dims = tuple(range(x.ndim - len(shape), x.ndim))
    y = x / np.sqrt((x * x).mean(dims, keepdims=True) + eps)
    return y if w is None else y * w


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, k", [((4, 7), 1), ((3, 5, 33), 1), ((2, 3, 4, 5), 2), ((5, 2100), 1), ((9,), 1)]
)
@pytest.mark.parametrize("affine, eps", [(True, None), (False, 1e-5), (True, 0.5)])
def test_rms_norm_values_and_gradients(dtype, shape, k, affine, eps):
    rng = np.random.default_rng(len(shape) + k)
    ns = shape[-k:]
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    w = rng.standard_normal(ns).astype(dtype) if affine else None
    g = rng.standard_normal(shape).astype(dtype)
    e = float(np.finfo(dtype).eps) if eps is None else eps
    ex = ember.tensor(x, requires_grad=True)
    ew = ember.tensor(w, requires_grad=True) if affine else None
    y = ember.nn.functional.rms_norm(ex, ns, ew, eps)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.numpy(), rms_reference(x.astype(np.float64), ns, w, e), **tol)
    assert y.dtype == x.dtype
    y.backward(ember.tensor(g))
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(w, requires_grad=True) if affine else None
    ty = torch.nn.functional.rms_norm(tx, ns, tw, eps)
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)
    if affine:
        np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), **tol)


def test_rms_norm_gradcheck_and_double_backward():
    from ember.autograd import gradcheck, gradgradcheck

    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((3, 2, 5)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((2, 5)), requires_grad=True)
    f = lambda a, b: ember.nn.functional.rms_norm(a, (2, 5), b, 1e-3)  # noqa: E731
    assert gradcheck(f, (x, w))
    assert gradgradcheck(f, (x, w))


def test_rms_norm_rows_same_bits_on_one_and_two_threads():
    x = np.random.default_rng(4).standard_normal((64, 3000)).astype(np.float32)
    w = np.random.default_rng(5).standard_normal(3000).astype(np.float32)
    g = np.random.default_rng(6).standard_normal((64, 3000)).astype(np.float32)
    outs = []
    for n in (1, 2):
        ember.set_num_threads(n)
        try:
            y, r = _C.rms_norm_forward(x, w, 1e-6)
            outs.append((y, r) + _C.rms_norm_backward(g, x, r, w, True))
        finally:
            ember.set_num_threads(2)
    for a, b in zip(outs[0][:3], outs[1][:3], strict=True):  # y, rstd, dx: row by row
        np.testing.assert_array_equal(a, b)
    # dw sums per-thread partial rows (as layer norm's): fixed for a thread count, not across
    np.testing.assert_allclose(outs[0][3], outs[1][3], rtol=1e-5, atol=1e-5)


def test_rms_norm_special_values_as_torchs_composite():
    torch = pytest.importorskip("torch")
    x = np.array([[1e20, 1.0, -2.0], [np.inf, 1.0, 0.0], [np.nan, 1.0, 2.0], [0.0, 0.0, 0.0]])
    for dtype in (np.float32, np.float64):
        got = ember.nn.functional.rms_norm(ember.tensor(x.astype(dtype)), (3,)).numpy()
        want = torch.nn.functional.rms_norm(torch.tensor(x.astype(dtype)), (3,)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6, equal_nan=True)


def test_rms_norm_other_paths_still_work():
    x = ember.randn(2, 6)
    assert ember.nn.functional.rms_norm(x.half(), (6,)).dtype == ember.float16
    with pytest.warns(UserWarning, match="Mismatch dtype"):
        y = ember.nn.functional.rms_norm(x.double(), (6,), ember.ones(6))
    assert y.dtype == ember.float64
    assert ember.nn.functional.rms_norm(ember.zeros(0, 6), (6,)).shape == (0, 6)


@pytest.mark.parametrize(
    "call, error",
    [
        (lambda: _C.rms_norm_forward(np.ones((2, 3), np.int64), None, 1e-5), TypeError),
        (lambda: _C.rms_norm_forward(np.ones(3), None, 1e-5), ValueError),
        (lambda: _C.rms_norm_forward(np.ones((3, 2)).T, None, 1e-5), ValueError),
        (lambda: _C.rms_norm_forward(np.ones((2, 3)), np.ones(4), 1e-5), ValueError),
        (lambda: _C.rms_norm_forward(np.ones((2, 3)), np.ones(3, np.float32), 1e-5), TypeError),
        (lambda: _C.rms_norm_forward(np.ones((2, 3)), [1.0, 2.0, 3.0], 1e-5), TypeError),
        (
            lambda: _C.rms_norm_backward(np.ones((2, 3)), np.ones((2, 3)), np.ones(3), None),
            ValueError,
        ),
        (
            lambda: _C.rms_norm_backward(np.ones((2, 4)), np.ones((2, 3)), np.ones(2), None),
            ValueError,
        ),
    ],
)
def test_rms_norm_kernels_refuse_bad_arrays(call, error):
    with pytest.raises(error):
        call()
