"""The speed paths of the tensor ops (the sum kernel's own tests are in
test_reduce_speedpaths.py): the sum-of-squares kernel behind clip_grad_norm_, sort/topk's
no-ties fast path and the row scatter-add behind indexing's backward -- each against an
independent reference (float64 NumPy, the slow path it replaces, or torch), and the new
kernels' refusals of bad input."""

import itertools

import numpy as np
import pytest

import ember
from ember import _C

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_mean_unbroadcast_take_the_kernel_and_match_torch(dtype):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(2).standard_normal((8, 16, 40)).astype(dtype)
    for dim in [None, -1, (1, 2), (-2, -1), 0, (0, 2)]:
        for keepdim in (False, True):
            e, t = ember.tensor(x), torch.from_numpy(x)
            for op in ("sum", "mean"):
                got = getattr(e, op)(dim=dim, keepdim=keepdim)
                want = getattr(t, op)(dim=dim, keepdim=keepdim).numpy()
                assert got.dtype == want.dtype and got.shape == want.shape
                np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-5)
    # unbroadcast of a (N, 1) operand sums gradient rows
    a = ember.tensor(x[0], requires_grad=True)
    b = ember.tensor(x[1, :, :1], requires_grad=True)
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (x[0], x[1, :, :1]))
    (a * b).sum().backward()
    (ta * tb).sum().backward()
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-5, atol=1e-5)


# ---- _C.sum_squares ------------------------------------------------------------------------


def test_sum_squares_matches_float64_and_refuses_bad_input():
    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(dt) for s, dt in [(5, np.float32), (70_000, np.float64),
              ((30, 40), np.float32), (0, np.float32)]]  # fmt: skip
    got = _C.sum_squares(arrays)
    want = [float(np.sum(a.astype(np.float64) ** 2)) for a in arrays]
    np.testing.assert_allclose(got, want, rtol=1e-13)
    assert _C.sum_squares([]) == []
    with pytest.raises(TypeError, match="sum_squares"):
        _C.sum_squares([np.ones(3, np.int32)])
    with pytest.raises(TypeError, match="sum_squares"):
        _C.sum_squares([np.ones(3, np.float32), "x"])
    with pytest.raises(ValueError, match="sum_squares"):
        _C.sum_squares([np.ones((4, 4), np.float32)[:, 1]])


def test_clip_grad_norm_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in (10, 3000, 7)]
    ours = [ember.nn.Parameter(a.copy()) for a in arrays]
    theirs = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
    for p, q, a in zip(ours, theirs, arrays):
        p.grad = ember.tensor(a * 3)
        q.grad = torch.from_numpy(a * 3)
    n1 = ember.nn.utils.clip_grad_norm_(ours, 1.0)
    n2 = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    np.testing.assert_allclose(n1.item(), n2.item(), rtol=1e-6)
    for p, q in zip(ours, theirs):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-5, atol=1e-7)


# ---- sort / topk fast path -----------------------------------------------------------------


def _stable(a, axis, descending):
    """The reference: NumPy's stable sort (NaN last ascending, first descending)."""
    if descending:
        return np.flip(np.argsort(np.flip(a, axis), axis, kind="stable"), axis).take(
            range(a.shape[axis]), axis
        )
    return np.argsort(a, axis, kind="stable")


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_sort_and_topk_give_torchs_indices_with_and_without_ties(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for ties in (False, True):
        x = rng.standard_normal((6, 50)) * (1 if ties else 100)
        x = (np.round(x) if ties else x).astype(dtype)
        for axis in (0, 1):
            for desc, stable in itertools.product((False, True), (False, True)):
                got = ember.sort(ember.tensor(x), dim=axis, descending=desc, stable=stable)
                want = torch.sort(torch.from_numpy(x), dim=axis, descending=desc, stable=stable)
                assert np.array_equal(got.indices.numpy(), want.indices.numpy())
                assert np.array_equal(got.values.numpy(), want.values.numpy())
            for desc in (False, True):
                for k in (1, 5, x.shape[axis]):
                    top = ember.topk(ember.tensor(x), k, dim=axis, largest=desc)
                    want = torch.topk(torch.from_numpy(x), k, dim=axis, largest=desc)
                    assert np.array_equal(top.indices.numpy(), want.indices.numpy())
                    assert np.array_equal(top.values.numpy(), want.values.numpy())


def test_sort_fast_path_falls_back_for_nan_and_signed_zero():
    # -0.0 == 0.0 is a tie (kept in input order) and NaNs sort last (first descending)
    x = np.array([[0.0, -0.0, 1.0, 0.0], [np.nan, 2.0, np.nan, -1.0]], np.float32)
    for desc, want in ((False, [[0, 1, 3, 2], [3, 1, 0, 2]]), (True, [[2, 0, 1, 3], [0, 2, 1, 3]])):
        got = ember.sort(ember.tensor(x), dim=1, descending=desc).indices.numpy()
        assert np.array_equal(got, want)
    torch = pytest.importorskip("torch")  # topk's tie order is its selection's, as PyTorch's
    top = ember.topk(ember.tensor(x), 2, dim=1)
    assert np.array_equal(top.indices.numpy(), torch.topk(torch.from_numpy(x), 2, 1).indices)


def test_sort_topk_gradients_scatter_to_the_picked_entries():
    x = ember.tensor(np.random.default_rng(6).standard_normal((4, 9)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda a: a.sort(dim=1).values * 1.5, [x])
    assert ember.autograd.gradcheck(lambda a: a.topk(3, dim=0).values, [x])


# ---- indexing backward by the row scatter-add ----------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_backward_sums_repeats_like_add_at(dtype):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((6, 4, 3)).astype(dtype)
    keys = [
        np.array([0, 5, 5, -1, 2, 0, 0]),
        np.array([[1, -6], [3, 3]]),
        (np.array([4, 4]),),
        x[:, :, 0] > 0,
        x > 0,
        np.zeros(0, np.int64),
    ]
    for key in keys:
        t = ember.tensor(x, requires_grad=True)
        y = t[key]
        w = rng.standard_normal(y.shape).astype(dtype)
        (y * ember.tensor(w)).sum().backward()
        want = np.zeros_like(x)
        np.add.at(want, key, w)
        assert t.grad.dtype == dtype
        assert np.array_equal(t.grad.numpy(), want)  # the same sums in the same order


def test_advanced_index_result_is_a_copy():
    t = ember.tensor(np.arange(6.0).reshape(2, 3))
    for key in (np.array([1, 0]), np.array(1), t.numpy() > 2):
        out = t[key]
        assert not np.shares_memory(out.numpy(), t.numpy())


def test_norm2_gradient_and_values():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(8).standard_normal((5, 6))
    x[1] = 0.0  # a zero vector: gradient 0, as torch
    for dim in (None, 1, (0, 1)):
        e = ember.tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        ember.norm(e, dim=dim).sum().backward()
        torch.norm(t, dim=dim).sum().backward()
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-15)
    e = ember.tensor(x + 0.5, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a: ember.norm(a, dim=1), [e])


def test_square_power_values_and_gradient():
    x = np.random.default_rng(9).standard_normal(100).astype(np.float32)
    t = ember.tensor(x, requires_grad=True)
    y = t**2
    y.sum().backward()
    assert y.dtype == np.float32 and np.array_equal(y.numpy(), x * x)
    assert np.array_equal(t.grad.numpy(), 2 * x)
    assert (ember.tensor([1, 2, 3]) ** 2).dtype == np.int64


# ---- _C.cumsum -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(1, 1000, 1), (19, 33, 1), (3, 40, 7), (1, 1, 5), (2, 0, 3)])
def test_cumsum_kernel_sums_in_double_as_torch(dtype, shape):
    # NumPy's cumsum summed in float64 and rounded per entry: PyTorch's CPU scan
    x = np.random.default_rng(11).standard_normal(shape).astype(dtype)
    want = np.cumsum(x, axis=1, dtype=np.float64).astype(dtype)
    assert np.array_equal(_C.cumsum(x), want)
    want = np.flip(np.cumsum(np.flip(x, 1), axis=1, dtype=np.float64), 1).astype(dtype)
    assert np.array_equal(_C.cumsum(x, True), want)


def test_cumsum_kernel_refuses_bad_input():
    with pytest.raises(TypeError, match="cumsum"):
        _C.cumsum(np.ones((2, 3, 1), np.int64))
    with pytest.raises(ValueError, match="cumsum"):
        _C.cumsum(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="cumsum"):
        _C.cumsum(np.ones((2, 6, 1), np.float32)[:, ::2])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
def test_cumsum_op_and_gradient_match_torch(dtype):
    torch = pytest.importorskip("torch")
    x = (np.random.default_rng(12).standard_normal((4, 5, 6)) * 5).astype(dtype)
    for dim in (0, 1, -1):
        got = ember.cumsum(ember.tensor(x), dim)
        want = torch.cumsum(torch.from_numpy(x), dim).numpy()
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-6, atol=1e-5)
    if dtype == np.float64:
        t = ember.tensor(x, requires_grad=True)
        assert ember.autograd.gradcheck(lambda a: ember.cumsum(a.transpose(0, 2), 1), [t])


# ---- broadcast arithmetic (ops._bcast: _C.binary's row and column forms) -------------------

UFUNCS = [np.add, np.subtract, np.multiply, np.true_divide]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "big, small",
    [((64, 512), (512,)), ((64, 512), (64, 1)), ((8, 16, 256), (16, 256)),
     ((8, 16, 256), (8, 1, 1)), ((8, 16, 256), ()), ((8, 16, 256), (8, 1, 256))],
)  # fmt: skip
def test_broadcast_arithmetic_values_and_gradients(dtype, big, small):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(14)
    for a, b in [(big, small), (small, big)]:
        x, y = rng.standard_normal(a).astype(dtype), rng.standard_normal(b).astype(dtype) + 3
        for name, f in enumerate(UFUNCS):
            ex, ey = ember.tensor(x, requires_grad=True), ember.tensor(y, requires_grad=True)
            tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
            out = [ex + ey, ex - ey, ex * ey, ex / ey][name]
            want = [tx + ty, tx - ty, tx * ty, tx / ty][name]
            assert np.array_equal(out.numpy(), f(x, y))  # NumPy's bits
            w = rng.standard_normal(out.shape).astype(dtype)
            (out * ember.tensor(w)).sum().backward()
            (want * torch.from_numpy(w)).sum().backward()
            np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(ey.grad.numpy(), ty.grad.numpy(), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int64])
def test_descending_sort_and_topk_of_integers_at_the_limits(dtype):
    # the descending key was -x, which wraps for unsigned values and the most negative one
    torch = pytest.importorskip("torch")
    info = np.iinfo(dtype)
    x = np.array([[1, info.max, 0, info.min, 3, 0, info.max]], dtype)
    got = ember.sort(ember.tensor(x), dim=1, descending=True)
    want = torch.sort(torch.from_numpy(x), dim=1, descending=True, stable=True)
    assert np.array_equal(got.indices.numpy(), want.indices.numpy())
    assert np.array_equal(got.values.numpy(), want.values.numpy())
    top = ember.topk(ember.tensor(x), 3, dim=1)
    assert np.array_equal(top.values.numpy(), torch.topk(torch.from_numpy(x), 3).values.numpy())
    assert np.array_equal(top.indices.numpy(), want.indices.numpy()[:, :3])


def test_sort_resorts_only_the_lines_with_ties():
    # one line with a tie, one with a NaN, the rest distinct: all must be torch's order
    x = np.random.default_rng(15).standard_normal((6, 40, 3)).astype(np.float32)
    x[2, 7, 1] = x[2, 30, 1]
    x[4, 3, 0] = np.nan
    torch = pytest.importorskip("torch")
    for dim in (1, 2, 0):
        for desc, stable in itertools.product((False, True), (False, True)):
            got = ember.sort(ember.tensor(x), dim=dim, descending=desc, stable=stable)
            want = torch.sort(torch.from_numpy(x), dim=dim, descending=desc, stable=stable)
            assert np.array_equal(got.indices.numpy(), want.indices.numpy())
