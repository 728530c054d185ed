"""Round 38 sort/selection speed work, against torch: unique of a flattened tensor (its radix
and sorted-input paths, and torch's tie order for -0/+0 and NaN), the stable sort of narrow
keys, topk's candidate-group selection, kthvalue / mode / median by the kernels' values, and
the grad_fn names of the selection ops."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _same(e, t):
    """ember result e equals torch result t: dtype, shape, values (NaN equal), sign of zeros."""
    en, tn = e.numpy(), t.numpy()
    assert en.dtype == tn.dtype and en.shape == tn.shape
    np.testing.assert_array_equal(en, tn)
    if en.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(en), np.signbit(tn))


def _unique_inputs():
    rng = np.random.default_rng(38)
    signed_zeros = np.array([0.0, -0.0, np.nan, 1.0, -1.0])
    return [
        rng.standard_normal((32, 32)).astype(np.float32),  # short: torch's sort straight
        (rng.standard_normal(20000) * 50).round().astype(np.float32),  # long, ties
        rng.integers(0, 300, 10000),  # int64, narrow range
        rng.integers(-(2**62), 2**62, 5000),  # int64, wide range
        np.sort(rng.integers(0, 100, (60, 100)), axis=None).reshape(60, 100),  # sorted input
        np.arange(6000.0, dtype=np.float32),
        np.array([0.0] * 3000 + [-0.0] * 3000),  # sorted, zeros of both signs
        rng.choice(signed_zeros, 70000),  # NaNs and -0/+0 among many ties
        rng.choice(signed_zeros, 300).astype(np.float32),
        rng.choice(signed_zeros[[0, 1, 3]], 9000).astype(np.float16),
        rng.integers(0, 2, 50).astype(bool),
        rng.integers(-5, 5, (7, 9)).astype(np.int8),
        np.array(2.5),  # 0-d
        np.zeros((0, 3), np.float32),  # empty
    ]


@pytest.mark.parametrize("case", range(len(_unique_inputs())))
def test_unique_flat_matches_torch(case):
    a = _unique_inputs()[case]
    for inverse in (False, True):
        for counts in (False, True):
            e = ember.unique(ember.tensor(a), return_inverse=inverse, return_counts=counts)
            t = torch.unique(torch.tensor(a), return_inverse=inverse, return_counts=counts)
            e, t = (e, t) if isinstance(t, tuple) else ((e,), (t,))
            assert len(e) == len(t)
            for x, y in zip(e, t, strict=True):
                _same(x, y)


@pytest.mark.parametrize("case", range(len(_unique_inputs())))
def test_unique_consecutive_flat_matches_torch(case):
    a = _unique_inputs()[case]
    for inverse in (False, True):
        for counts in (False, True):
            e = ember.unique_consecutive(
                ember.tensor(a), return_inverse=inverse, return_counts=counts
            )
            t = torch.unique_consecutive(
                torch.tensor(a), return_inverse=inverse, return_counts=counts
            )
            e, t = (e, t) if isinstance(t, tuple) else ((e,), (t,))
            for x, y in zip(e, t, strict=True):
                _same(x, y)


def test_unique_noncontiguous_matches_torch():
    a = np.random.default_rng(1).integers(0, 20, (50, 40)).astype(np.float64)
    e = ember.unique(ember.tensor(a).transpose(0, 1), return_inverse=True, return_counts=True)
    t = torch.unique(torch.tensor(a).T, return_inverse=True, return_counts=True)
    for x, y in zip(e, t, strict=True):
        _same(x, y)


@pytest.mark.parametrize("descending", [False, True])
def test_stable_sort_narrow_keys_matches_torch(threads, descending):
    rng = np.random.default_rng(2)
    cases = [
        rng.integers(-3, 3, (5, 300)),  # int64 keys of a narrow range
        rng.integers(-(2**40), 2**40, (3, 500)),  # wide range: the 16-byte path
        np.array([[2**62, -(2**62), 0, 5] * 40]),
        rng.integers(0, 7, (4, 100)),  # short rows: std::stable_sort
        (rng.standard_normal((4, 1000)) * 10).round().astype(np.float32),
        np.array([[np.nan, 1, -0.0, 0.0, np.inf, -np.inf, np.nan, 1] * 20], np.float32),
        rng.standard_normal((3, 200)).round(1),
    ]
    for _ in threads():
        for a in cases:
            e = ember.sort(ember.tensor(a), stable=True, descending=descending)
            t = torch.sort(torch.tensor(a), stable=True, descending=descending)
            _same(e.values, t.values)
            _same(e.indices, t.indices)


def _topk_inputs():
    rng = np.random.default_rng(3)
    nan_row = np.where(rng.random(5000) < 0.01, np.nan, rng.standard_normal(5000))
    return [
        rng.standard_normal(100003).astype(np.float32),  # a tail past the last whole group
        rng.standard_normal((3, 5000)),
        rng.integers(0, 1000, (4, 3000)).astype(np.float32),  # ties: the heap's order
        rng.integers(0, 50, (3, 2000)),
        nan_row.astype(np.float32),
        rng.standard_normal((5, 1030)).round(2),
        np.full((2, 4096), 1.5, np.float32),
    ]


@pytest.mark.parametrize("case", range(len(_topk_inputs())))
def test_topk_matches_torch(threads, case):
    a = _topk_inputs()[case]
    for _ in threads():
        for k in (1, 3, 16, 40):
            for largest in (True, False):
                for sorted_ in (True, False):
                    e = ember.topk(ember.tensor(a), k, largest=largest, sorted=sorted_)
                    t = torch.topk(torch.tensor(a), k, largest=largest, sorted=sorted_)
                    _same(e.values, t.values)
                    _same(e.indices, t.indices)


def _selection_inputs():
    rng = np.random.default_rng(4)
    return [
        rng.standard_normal((32, 32)).astype(np.float32),
        rng.integers(0, 4, (6, 7, 8)),
        rng.integers(0, 3, (10, 9)).astype(np.float64),
        rng.integers(0, 3, (10, 9)).astype(np.int32),
        np.array([[1.0, np.nan, 2, np.nan, 0, 1]] * 3, np.float32),
    ]


@pytest.mark.parametrize("op", ["kthvalue", "mode", "median", "nanmedian"])
def test_selection_values_and_indices_match_torch(op, threads):
    def call(lib, x, dim, keepdim):
        if op == "kthvalue":
            return lib.kthvalue(x, min(3, x.shape[dim]), dim, keepdim)
        return getattr(lib, op)(x, dim, keepdim)

    for _ in threads():
        for a in _selection_inputs():
            if op == "nanmedian" and a.dtype.kind != "f":
                continue
            for dim in range(-a.ndim, a.ndim):
                for keepdim in (False, True):
                    for transposed in (False, True):
                        e, t = ember.tensor(a), torch.tensor(a)
                        if transposed:  # a non-contiguous view
                            e, t = e.transpose(0, -1), t.transpose(0, -1)
                        er, tr = call(ember, e, dim, keepdim), call(torch, t, dim, keepdim)
                        _same(er.values, tr.values)
                        _same(er.indices, tr.indices)


def test_selection_zero_dim_and_errors():
    e, t = ember.kthvalue(ember.tensor(3.0), 1), torch.kthvalue(torch.tensor(3.0), 1)
    _same(e.values, t.values)
    _same(e.indices, t.indices)
    with pytest.raises(RuntimeError):
        torch.kthvalue(torch.zeros(2, 3), 4)
    with pytest.raises(RuntimeError, match=r"k \(4\)"):
        ember.kthvalue(ember.zeros(2, 3), 4)
    with pytest.raises(IndexError):
        ember.mode(ember.zeros(2, 0), 1)


_NODES = [
    ("sort", lambda lib, x: lib.sort(x, 1).values, "SortBackward0"),
    ("sort dim 0", lambda lib, x: lib.sort(x, 0).values, "SortBackward0"),
    ("msort", lambda lib, x: lib.msort(x), "SortBackward0"),
    ("topk", lambda lib, x: lib.topk(x, 2).values, "TopkBackward0"),
    ("topk dim 0", lambda lib, x: lib.topk(x, 2, 0).values, "TopkBackward0"),
    ("kthvalue", lambda lib, x: lib.kthvalue(x, 2).values, "KthvalueBackward0"),
    ("kthvalue keepdim", lambda lib, x: lib.kthvalue(x, 2, 0, True).values, "KthvalueBackward0"),
    ("mode", lambda lib, x: lib.mode(x, 1).values, "ModeBackward0"),
    ("median", lambda lib, x: lib.median(x, 1).values, "MedianBackward1"),
    ("nanmedian", lambda lib, x: lib.nanmedian(x, 0, True).values, "NanmedianBackward1"),
    ("cummax", lambda lib, x: lib.cummax(x, 1).values, "CummaxBackward0"),
    ("cummin", lambda lib, x: lib.cummin(x, 0).values, "CumminBackward0"),
]


@pytest.mark.parametrize("name,f,node", _NODES, ids=[n[0] for n in _NODES])
def test_grad_fn_names_and_gradients(name, f, node):
    a = np.random.default_rng(5).standard_normal((4, 5))
    assert f(torch, torch.tensor(a, requires_grad=True)).grad_fn.name() == node
    x = ember.tensor(a, requires_grad=True)
    assert f(ember, x).grad_fn.name() == node
    assert gradcheck(lambda t: f(ember, t), (x,))


@pytest.mark.parametrize("descending", [False, True])
def test_sort_long_float32_lines_match_torch(threads, descending):
    # lines of 4096+ float32 (distinct, tied, with NaN) sorted by _C straight: torch's order
    rng = np.random.default_rng(6)
    nan_lines = np.where(rng.random((6, 9000)) < 0.05, np.nan, rng.standard_normal((6, 9000)))
    cases = [
        rng.permuted(np.tile(np.arange(20000, dtype=np.float32), (4, 1)), axis=1),
        (rng.standard_normal((8, 20000)) * 10).astype(np.float32),
        rng.integers(0, 50, (5, 8000)).astype(np.float32),
        nan_lines.astype(np.float32),
    ]
    for _ in threads():
        for a in cases:
            for dim in (0, 1):
                e = ember.sort(ember.tensor(a), dim, descending)
                t = torch.sort(torch.tensor(a), dim, descending)
                _same(e.values, t.values)
                _same(e.indices, t.indices)
                i = ember.argsort(ember.tensor(a), dim, descending)
                _same(i, torch.argsort(torch.tensor(a), dim=dim, descending=descending))
