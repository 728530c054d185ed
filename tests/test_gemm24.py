"""GEMM on the products the issues' models run (conv im2col products, the stride-2 stem's K = 27,
DCGAN, the LSTM's recurrent and input projections, Linear) and their weight / input gradient
layouts (A @ B^T, A^T @ B), on every ISA: against a float64 NumPy oracle, with beta = 1 (a bias
already in C), and the same bits on 1 and 2 threads. A regression net for GEMM tuning on the
shapes it is tuned for."""

import numpy as np
import pytest
from conftest import check_gemm

import ember
from ember import _C

# (M, K, N) of op(A) (M x K) @ op(B) (K x N)
SHAPES = [
    (64, 576, 1024),  # conv 64 -> 64, 3x3, 32x32: one image's im2col product
    (32, 27, 8192),  # stride-2 stem, 3 -> 32 channels: K tiny, N wide
    (128, 1024, 256),  # DCGAN 64 -> 128, 4x4 stride 2 at 16x16
    (32, 256, 1024),  # LSTM W_hh step, hidden 256, batch 32
    (64, 784, 256),  # Linear 784 -> 256
]


@pytest.fixture
def nthreads():
    before = ember.get_num_threads()
    yield ember.set_num_threads
    ember.set_num_threads(before)


def _layouts(M, K, N):
    """Forward (A @ B), weight gradient (A @ B^T) and input gradient (A^T @ B) of one shape."""
    return [(M, K, N, False, False), (M, N, K, False, True), (K, M, N, True, False)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_model_shapes_match_numpy_same_bits(isa, nthreads, shape):
    rng = np.random.default_rng(24)
    for M, K, N, ta, tb in _layouts(*shape):
        a = rng.standard_normal((K, M) if ta else (M, K)).astype(np.float32)
        b = rng.standard_normal((N, K) if tb else (K, N)).astype(np.float32)
        c0 = rng.standard_normal((M, N)).astype(np.float32)
        got = []
        for n in (1, 2):
            nthreads(n)
            c = c0.copy()
            _C.gemm(a, b, c, trans_a=ta, trans_b=tb, beta=1.0)
            got.append(c)
        check_gemm(got[0], a, b, ta, tb, beta=1.0, c0=c0)
        np.testing.assert_array_equal(got[0], got[1])


@pytest.mark.parametrize("M", [1, 7, 8, 9, 33])
def test_small_k_wide_n_edges(isa, M):
    # K = 27 (a 3-channel 3x3 stem) with N just off the panel and block widths, alpha != 1.
    rng = np.random.default_rng(M)
    for N in (31, 33, 1023, 1025):
        a = rng.standard_normal((M, 27)).astype(np.float32)
        b = rng.standard_normal((27, N)).astype(np.float32)
        got = _C.gemm(a, b, alpha=0.5)
        check_gemm(got, a, b, alpha=0.5)
