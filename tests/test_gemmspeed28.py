"""GEMM edge shapes on every micro-kernel family (avx512 / avx2 / generic, as this CPU runs them):
M, N, K off the register tile (8 x 32 / 8 x 16 AVX-512, the AVX2 and generic tiles) and off the
KC / MC / NC blocks, 1-row / 1-column / K = 1 products, every transpose layout, alpha / beta,
C with a leading dimension wider than N, batched and broadcast matmul, the in-place A @ A^T path
and the few-row x @ W^T path: values against a float64 NumPy oracle (conftest.check_gemm)."""

import numpy as np
import pytest
from conftest import check_gemm

import ember
from ember import _C

# (M, K, N): tails of every tile and block size the families use (MR 4 / 6 / 8, NR 8 / 16 / 32 /
# their halves, KC 192-384, MC 192-384), single rows / columns and K = 1.
EDGE_SHAPES = [
    (1, 1, 1),
    (1, 37, 1),
    (1, 1, 65),
    (17, 1, 33),
    (3, 5, 7),
    (9, 257, 17),
    (15, 100, 47),
    (33, 385, 1),
    (1, 300, 200),
    (5, 513, 49),
    (70, 3, 530),
    (389, 130, 23),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", EDGE_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_edge_shapes_every_layout(isa, shape, dtype):
    M, K, N = shape
    rng = np.random.default_rng(M * 1000 + K * 10 + N)
    for ta in (False, True):
        for tb in (False, True):
            a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
            b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
            got = _C.gemm(a, b, trans_a=ta, trans_b=tb)
            check_gemm(got, a, b, ta, tb)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_alpha_beta_edges(isa, dtype):
    # beta != 0 reads C (load-add-store), beta == 0 must not: C starts as NaN there.
    rng = np.random.default_rng(28)
    for M, K, N in [(7, 33, 31), (8, 256, 32), (13, 300, 70), (1, 5, 3)]:
        a = rng.standard_normal((M, K)).astype(dtype)
        b = rng.standard_normal((K, N)).astype(dtype)
        c0 = rng.standard_normal((M, N)).astype(dtype)
        c = c0.copy()
        _C.gemm(a, b, c, alpha=-1.5, beta=0.75)
        check_gemm(c, a, b, alpha=-1.5, beta=0.75, c0=c0)
        c = np.full((M, N), np.nan, dtype)
        _C.gemm(a, b, c, alpha=2.0, beta=0.0)
        check_gemm(c, a, b, alpha=2.0)


def test_k_zero_scales_c(isa):
    c = np.full((3, 4), 2.0, np.float32)
    _C.gemm(np.zeros((3, 0), np.float32), np.zeros((0, 4), np.float32), c, beta=0.5)
    np.testing.assert_array_equal(c, np.ones((3, 4), np.float32))


def test_wide_leading_dimension_c_untouched_outside(isa):
    # ember's matmul into a column slice of a wider array: the GEMM writes only its columns.
    rng = np.random.default_rng(5)
    a = ember.tensor(rng.standard_normal((19, 45)).astype(np.float32))
    b = ember.tensor(rng.standard_normal((45, 37)).astype(np.float32))
    out = ember.full((19, 50), 7.0)
    ember.matmul(a, b, out=out[:, 5:42])
    o = out.numpy()
    check_gemm(o[:, 5:42], a.numpy(), b.numpy())
    assert np.all(o[:, :5] == 7.0) and np.all(o[:, 42:] == 7.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batched_broadcast_transposed(isa, dtype):
    rng = np.random.default_rng(11)
    a = rng.standard_normal((3, 1, 9, 35)).astype(dtype)
    b = rng.standard_normal((4, 35, 17)).astype(dtype)
    got = _C.matmul(a, b)
    assert got.shape == (3, 4, 9, 17)
    for i in range(3):
        for j in range(4):
            check_gemm(got[i, j], a[i, 0], b[j])
    bt = np.ascontiguousarray(np.swapaxes(b, -1, -2))
    at = np.ascontiguousarray(np.swapaxes(a, -1, -2))
    got_t = _C.matmul(at, bt, trans_a=True, trans_b=True)
    for i in range(3):
        for j in range(4):
            check_gemm(got_t[i, j], at[i, 0], bt[j], True, True)


def test_strided_inputs_through_tensor_matmul(isa):
    # Non-contiguous operands (a transposed view, a strided column slice) through ember.matmul.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((41, 70)).astype(np.float32)
    w = rng.standard_normal((66, 82)).astype(np.float32)
    got = (ember.tensor(x).t() @ ember.tensor(w)[:, ::2].t()).numpy()
    check_gemm(got, x.T.copy(), w[:, ::2].T.copy())


@pytest.mark.parametrize("M", [1, 2, 3, 4, 5])
def test_few_rows_times_weight_transposed(isa, M):
    # x @ W^T at batch <= 4 reads W in place (dot_rows); 5 rows take the blocked path.
    rng = np.random.default_rng(M)
    for K, N in [(1, 9), (17, 6), (64, 33), (100, 130)]:
        x = rng.standard_normal((M, K)).astype(np.float32)
        w = rng.standard_normal((N, K)).astype(np.float32)
        check_gemm(_C.gemm(x, w, trans_b=True), x, w, False, True)


@pytest.mark.parametrize("M", [9, 70, 133])
def test_gram_same_memory(isa, M):
    # op(a) @ op(a)^T of one array computes half the blocks and mirrors them: symmetric bits.
    rng = np.random.default_rng(M)
    a = rng.standard_normal((M, 29)).astype(np.float32)
    got = _C.gemm(a, a, trans_b=True)
    check_gemm(got, a, a, False, True)
    np.testing.assert_array_equal(got, got.T)
    got_t = _C.gemm(a, a, trans_a=True)
    check_gemm(got_t, a, a, True, False)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_major_a_in_place_for_narrow_b(isa, dtype):
    # A row-major A whose panels meet few B panels (N up to 16 of them) is read in place, over
    # several KC blocks and with a short last row panel; wider products pack it. Both are the
    # same micro-kernel on the same values: the narrow product's columns have the wide one's bits.
    rng = np.random.default_rng(28)
    M, K = 203, 700
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, 600)).astype(dtype)
    c0 = rng.standard_normal((M, 600)).astype(dtype)
    wide = c0.copy()
    _C.gemm(a, b, wide, beta=1.0)
    check_gemm(wide, a, b, beta=1.0, c0=c0)
    for n in (1, 37, 64, 289):
        bn = np.ascontiguousarray(b[:, :n])
        narrow = np.ascontiguousarray(c0[:, :n])
        _C.gemm(a, bn, narrow, beta=1.0)
        check_gemm(narrow, a, bn, beta=1.0, c0=c0[:, :n])
        np.testing.assert_array_equal(narrow, wide[:, :n])
