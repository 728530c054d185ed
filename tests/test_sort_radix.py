"""torch.sort's unstable order for float32 lines of distinct values by _C.sort_indices's key
paths (ranks up to 64, std::sort below 256, a radix sort from there) and by its pair sort for
lines with ties, NaN or -0/+0: the same indices as PyTorch, at 1 and 2 threads, small and big."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


def _lines(rows, n, seed=0):
    """float32 lines of distinct values (a permutation of spread-out numbers, signs mixed)."""
    rng = np.random.default_rng(seed)
    base = (np.arange(n, dtype=np.float64) - n / 2) * 1.37 + 0.25
    return np.stack([rng.permutation(base) for _ in range(rows)]).astype(np.float32)


@pytest.mark.parametrize("n", [2, 32, 64, 65, 100, 255, 256, 1000, 4096])
@pytest.mark.parametrize("descending", [False, True])
def test_distinct_lines_match_torch(n, descending, threads):
    x = _lines(8, n)
    ref = torch.sort(torch.from_numpy(x), 1, descending=descending)
    for _ in threads():
        idx = _C.sort_indices(x, descending)
        np.testing.assert_array_equal(idx, ref.indices.numpy())
        v, i = ember.tensor(x).sort(1, descending=descending)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


@pytest.mark.parametrize("n", [32, 100, 1000])
@pytest.mark.parametrize("descending", [False, True])
def test_lines_with_ties_nan_or_signed_zeros_take_torchs_order(n, descending):
    x = _lines(4, n)
    x[0, ::7] = 3.0  # ties
    x[1, 5] = np.nan  # a NaN: last ascending, first descending
    x[1, 9] = np.nan
    x[2, 3], x[2, 11] = -0.0, 0.0  # -0 ties +0
    x[3, 1] = x[3, 2]  # one tie
    ref = torch.sort(torch.from_numpy(x), 1, descending=descending)
    v, i = ember.tensor(x).sort(1, descending=descending)
    np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
    np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


def test_big_float32_sort_takes_c_and_matches_torch(threads):
    x = _lines(80, 1000, seed=1)  # 80,000 elements: above the 64K small-size bound
    x[7, :10] = 1.25  # and a line with ties
    for dim in (1, 0):
        ref = torch.sort(torch.from_numpy(x), dim)
        for _ in threads():
            v, i = ember.tensor(x).sort(dim)
            np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
            np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_kernels_return_the_values_with_the_positions(dtype, threads):
    x = (np.random.default_rng(3).standard_normal((40, 300)) * 100).astype(dtype)
    for _ in threads():
        v, i = _C.sort_indices(x, True, True)
        np.testing.assert_array_equal(i, _C.sort_indices(x, True))
        np.testing.assert_array_equal(v, np.take_along_axis(x, i, 1))
        assert v.dtype == dtype and v.flags.c_contiguous
        v, i = _C.topk_indices(x, 7, False, True, True)
        np.testing.assert_array_equal(i, _C.topk_indices(x, 7, False, True))
        np.testing.assert_array_equal(v, np.take_along_axis(x, i, 1))
    v, i = _C.topk_indices(x, 0, True, True, True)
    assert v.shape == i.shape == (40, 0)
    with pytest.raises(TypeError, match="float32, float64 or int64"):
        _C.sort_indices(x.astype(np.int32), False, True)
    with pytest.raises(ValueError, match="2-D"):
        _C.topk_indices(x[0], 1, True, True, True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32])
def test_sort_and_topk_values_and_gradients_match_torch(dtype):
    x = (np.random.default_rng(4).standard_normal((3, 6, 9)) * 50).astype(dtype)
    tx = torch.from_numpy(x)
    for dim in (-1, 1):
        v, i = ember.tensor(x).topk(4, dim)
        rv, ri = torch.topk(tx, 4, dim)
        np.testing.assert_array_equal(v.numpy(), rv.numpy())
        np.testing.assert_array_equal(i.numpy(), ri.numpy())
        assert v.dtype == dtype and (dim != -1 or v.numpy().flags.c_contiguous)
        if dtype in (np.float32, np.float64):
            v, i = ember.tensor(x).sort(dim)
            rv, ri = torch.sort(tx, dim)
            np.testing.assert_array_equal(v.numpy(), rv.numpy())
            np.testing.assert_array_equal(i.numpy(), ri.numpy())
    if dtype == np.float64:  # in the graph: the gather path and its gradient
        t = ember.tensor(x, requires_grad=True)
        t.topk(4, -1).values.sum().backward()
        r = tx.clone().requires_grad_()
        torch.topk(r, 4, -1).values.sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), r.grad.numpy())
        t.grad = None
        (t.sort(-1).values * ember.tensor(np.arange(9.0))).sum().backward()
        r.grad = None
        (torch.sort(r, -1).values * torch.arange(9.0, dtype=torch.float64)).sum().backward()
        np.testing.assert_array_equal(t.grad.numpy(), r.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_straight_last_dim_calls_match_the_recorded_path_and_torch(dtype, threads):
    x = np.random.default_rng(5).standard_normal((2, 7, 40)).astype(dtype)
    x[0, 0, :5] = 0.5  # a line with ties
    cases = [
        ("sort", {"dim": -1}),
        ("sort", {"dim": 2, "descending": True}),
        ("topk", {"k": 6, "dim": -1}),
        ("topk", {"k": 6, "dim": 2, "largest": False}),
        ("topk", {"k": 6, "dim": -1, "sorted": False}),
        ("topk", {"k": 0, "dim": -1}),
    ]
    for _ in threads():
        for src in (x, x.transpose(1, 0, 2)):  # contiguous, and a strided view
            for op, kw in cases:
                got = getattr(ember.tensor(src), op)(**kw)
                rec = getattr(ember.tensor(src, requires_grad=True), op)(**kw)
                ref = getattr(torch, op)(torch.from_numpy(np.ascontiguousarray(src)), **kw)
                for a, b, r in zip(got, rec, ref):
                    np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
                    np.testing.assert_array_equal(a.numpy(), r.numpy())
    with pytest.raises(RuntimeError, match=r"topk: k \(41\) out of range"):
        ember.tensor(x).topk(41)
    with pytest.raises(IndexError):
        ember.tensor(x).sort(3)
