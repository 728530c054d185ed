"""Second fork-isolated fuzz of ember._C (the entries the first pass did not reach: gemm,
index_add_rows, kthvalue/mode, pad, poly_recurrence, the optimiser steps, the RNN kernels,
softmax, sort/topk, special functions, sum/var, zeta), plus int32 / negative index arrays and
outputs sharing memory with inputs. Each case now raises a clear error instead of crashing."""

import numpy as np
import pytest

from ember import _C


def test_index_add_rows_refuses_indices_living_in_out():
    # The indices are range-checked, then the kernel adds rows into out: indices stored in out's
    # memory (an int64 view of the same buffer) changed under it and the next row went out of
    # bounds (segfault).
    buf = np.zeros(12)
    out = buf.reshape(3, 4)
    idx = buf[4:6].view(np.int64)
    idx[:] = [1, 1]
    with pytest.raises(ValueError, match="index_add_rows: out overlaps the memory of indices"):
        _C.index_add_rows(out, idx, np.full((2, 4), 1e300))
    # separate arrays: rows added in index order, as torch.index_add_
    out = np.zeros((3, 4))
    _C.index_add_rows(out, np.array([2, 0, 2]), np.arange(12.0).reshape(3, 4))
    want = np.zeros((3, 4))
    np.add.at(want, [2, 0, 2], np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(out, want)


@pytest.mark.parametrize("bad", [-1, 3])
def test_index_add_rows_refuses_out_of_range_and_int32_indices(bad):
    out = np.zeros((3, 4))
    with pytest.raises(IndexError, match=f"index {bad} is out of range for 3 rows"):
        _C.index_add_rows(out, np.array([0, bad]), np.ones((2, 4)))
    with pytest.raises(TypeError, match="indices must be int64, got int32"):
        _C.index_add_rows(out, np.array([0, 1], np.int32), np.ones((2, 4)))
    np.testing.assert_array_equal(out, 0)


def test_normal_refuses_a_nan_std():
    # std NaN passed '!(std < 0)' / 'any(std < 0)' and every sample came out NaN; torch raises.
    import ember

    with pytest.raises(ValueError, match="normal_fill: std must be >= 0, got nan"):
        _C.normal_fill(np.zeros(3), 1, 0.0, float("nan"))
    with pytest.raises(ValueError, match="std must be >= 0"):
        ember.normal(0.0, float("nan"), (3,))
    with pytest.raises(ValueError, match="std must be >= 0"):
        ember.normal(ember.zeros(2), ember.tensor([1.0, float("nan")]))
    out = np.zeros(4)
    _C.normal_fill(out, 1, 0.0, 0.0)
    np.testing.assert_array_equal(out, 0)


def test_gather_backward_refuses_out_overlapping_index_or_grad():
    # out holding the index: the adds rewrote the checked indices (a segfault); out being
    # grad: rows were read after they had been added to (silently wrong sums).
    buf = np.zeros(12)
    out = buf.reshape(3, 4)
    idx = buf[:6].view(np.int64).reshape(3, 2)
    idx[:] = 0
    with pytest.raises(ValueError, match="out overlaps the memory of index"):
        _C.gather_backward(np.full((3, 2), 1e300), idx, 1, 4, out=out)
    g = np.ones((3, 2))
    with pytest.raises(ValueError, match="out overlaps the memory of grad"):
        _C.gather_backward(g, np.array([[1, 1]] * 3), 1, 2, out=g)
    np.testing.assert_array_equal(g, np.ones((3, 2)))
    # a separate out still accumulates, as np.add.at
    dx = np.ones((3, 2))
    _C.gather_backward(g, np.array([[1, 1]] * 3), 1, 2, out=dx)
    ref = np.ones((3, 2))
    np.add.at(ref, (np.arange(3)[:, None], np.array([[1, 1]] * 3)), g)
    np.testing.assert_array_equal(dx, ref)
