"""GEMM at the edges of its cache blocking: sizes just below, at and just above each block size
(KC, MC, NC) and tile size (MR, NR) of the micro-kernel family in use, every transpose layout,
alpha / beta, beta == 0 over a C full of NaN, and 1 vs 2 threads, against a float64 NumPy
oracle. The block sizes below mirror csrc/gemm/microkernel_*.cpp; if those are retuned these
tests still check correctness, only less precisely at the new edges."""

import numpy as np
import pytest
from conftest import check_gemm as _check

from ember import _C

# (MR, NR, KC, MC, NC) per ISA and dtype, as the kernel tables set them.
BLOCKS = {
    "avx512": {np.float32: (8, 32, 256, 384, 1024), np.float64: (8, 16, 384, 192, 1024)},
    "avx2": {np.float32: (6, 16, 256, 144, 4096), np.float64: (6, 8, 256, 96, 4096)},
    "generic": {np.float32: (4, 8, 256, 128, 4096), np.float64: (4, 8, 256, 128, 4096)},
}
DTYPES = [np.float32, np.float64]
LAYOUTS = [(False, False), (True, False), (False, True), (True, True)]


@pytest.fixture
def threads():
    original = _C.get_num_threads()
    yield _C.set_num_threads
    _C.set_num_threads(original)


def _operands(rng, M, N, K, ta, tb, dtype):
    a = rng.standard_normal((K, M) if ta else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if tb else (K, N)).astype(dtype)
    return a, b


def _edge_shapes(isa, dtype):
    """(M, N, K) just around each block size, the others kept small so each case stays cheap."""
    MR, NR, KC, MC, NC = BLOCKS[isa][dtype]
    return [
        (MR - 1, NR + 1, KC - 1),
        (MR + 1, NR - 1, KC),
        (2 * MR, 2 * NR, KC + 1),  # two KC blocks, the second one deep
        (MC - 1, NR + 3, 17),
        (MC, 2 * NR, 40),
        (MC + 1, NR // 2 + 1, 33),  # two MC blocks, a half-width last panel
        (MR + 3, NC - 1, 9),
        (MR + 4, NC + 1, 12),  # two NC blocks, the second one column wide
        (MC + MR + 1, NR * 3 + 5, 2 * KC + 3),  # every loop ragged at once
    ]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", LAYOUTS)
def test_block_edges_match_numpy(isa, dtype, ta, tb):
    rng = np.random.default_rng(11)
    for M, N, K in _edge_shapes(isa, dtype):
        a, b = _operands(rng, M, N, K, ta, tb, dtype)
        _check(_C.gemm(a, b, trans_a=ta, trans_b=tb), a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (-0.75, 2.0), (3.0, 0.0), (1.0, -1.0)])
def test_block_edges_alpha_beta(isa, dtype, alpha, beta):
    # beta applies only in the first KC block (later blocks accumulate): K > 2 KC checks that the
    # accumulation does not scale C again.
    MR, NR, KC, MC, NC = BLOCKS[isa][dtype]
    rng = np.random.default_rng(12)
    M, N, K = MC + 3, NR + 7, 2 * KC + 5
    a, b = _operands(rng, M, N, K, False, True, dtype)
    c0 = rng.standard_normal((M, N)).astype(dtype)
    c = c0.copy()
    _C.gemm(a, b, c, trans_b=True, alpha=alpha, beta=beta)
    _check(c, a, b, False, True, alpha, beta, c0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", LAYOUTS)
def test_beta_zero_ignores_nan_across_blocks(isa, dtype, ta, tb):
    # Several KC, MC and NC blocks: no block may read the NaN C before writing it.
    MR, NR, KC, MC, NC = BLOCKS[isa][dtype]
    rng = np.random.default_rng(13)
    for M, N, K in [(MC + MR + 1, NR + 5, KC + 2), (MR + 2, NC + NR + 3, 2 * KC + 1)]:
        a, b = _operands(rng, M, N, K, ta, tb, dtype)
        c = np.full((M, N), np.nan, dtype)
        _C.gemm(a, b, c, trans_a=ta, trans_b=tb, beta=0.0)
        assert not np.isnan(c).any()
        _check(c, a, b, ta, tb)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", LAYOUTS)
def test_block_edges_threads_same_bits(isa, threads, dtype, ta, tb):
    # The work split among threads must not change any element's arithmetic.
    MR, NR, KC, MC, NC = BLOCKS[isa][dtype]
    rng = np.random.default_rng(14)
    for M, N, K in [(MC + 1, 2 * NR + 3, KC + 1), (2 * MR + 1, NC + 1, KC - 1)]:
        a, b = _operands(rng, M, N, K, ta, tb, dtype)
        results = []
        for n in (1, 2):
            threads(n)
            results.append(_C.gemm(a, b, trans_a=ta, trans_b=tb))
        _check(results[0], a, b, ta, tb)
        np.testing.assert_array_equal(results[0], results[1])
