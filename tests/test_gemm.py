"""The GEMM core: _C.gemm / _C.matmul against a float64 NumPy oracle and _C.gemm_ref, on every
micro-kernel family this CPU runs, in float32 and float64."""

import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import GEMM_ISAS as ISAS
from conftest import check_gemm as check
from hypothesis import given, settings
from hypothesis import strategies as st

from ember import _C

DTYPES = [np.float32, np.float64]


@pytest.fixture
def threads():
    """Set ember's thread count for one test, restoring it afterwards."""
    original = _C.get_num_threads()

    def set_threads(n):
        _C.set_num_threads(n)

    yield set_threads
    _C.set_num_threads(original)


def rand(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def op(x, trans):
    return x.T if trans else x


def operands(rng, M, N, K, ta, tb, dtype):
    a = rand(rng, (K, M) if ta else (M, K), dtype)
    b = rand(rng, (N, K) if tb else (K, N), dtype)
    return a, b


SHAPES = [
    (1, 1, 1),
    (1, 7, 3),
    (5, 1, 9),
    (13, 33, 17),  # M, N not multiples of any MR / NR
    (14, 32, 8),  # exactly one AVX-512 float tile
    (15, 31, 1),
    (29, 65, 70),
    (64, 64, 64),
    (70, 10, 256),  # narrow N (MLP output layer)
    (3, 5, 3000),  # large K: several KC blocks
    (130, 97, 600),
    (10, 256, 64),  # M = 8 + 2: the short (4-row) kernels; MLP dW of a 10-class layer
    (1027, 45, 256),  # one KC block, rows of K: A read in place beyond the small path
    (203, 1100, 100),  # the same across several NC blocks
    (12, 40, 33),  # M = 8 + 4, N = 32 + 8: short and half-width kernels together
    (90, 75, 401),  # packed row by row in blocks of 8 (odd KC = 201) then the edge panels
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", SHAPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_gemm_matches_numpy(isa, dtype, M, N, K, ta, tb):
    rng = np.random.default_rng(M * 10000 + N * 100 + K)
    a, b = operands(rng, M, N, K, ta, tb, dtype)
    got = _C.gemm(a, b, trans_a=ta, trans_b=tb)
    check(got, a, b, ta, tb)
    ref = _C.gemm_ref(a, b, ta, tb)
    check(ref, a, b, ta, tb)
    scale = np.abs(op(a, ta)).astype(np.float64) @ np.abs(op(b, tb)).astype(np.float64)
    tol = 2 * (K + 3) * np.finfo(dtype).eps
    assert np.all(np.abs(got.astype(np.float64) - ref) <= tol * scale + np.finfo(dtype).tiny)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("alpha,beta", [(1.0, 1.0), (2.5, -0.5), (-1.0, 0.0), (0.0, 3.0), (0, 0)])
def test_alpha_beta(isa, dtype, alpha, beta):
    rng = np.random.default_rng(1)
    a, b = operands(rng, 37, 45, 300, False, True, dtype)
    c0 = rand(rng, (37, 45), dtype)
    c = c0.copy()
    out = _C.gemm(a, b, c, trans_b=True, alpha=alpha, beta=beta)
    assert out is c or np.shares_memory(out, c)
    check(c, a, b, False, True, alpha, beta, c0)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(1, 1, 1), (40, 70, 33), (100, 3, 500)])
def test_beta_zero_never_reads_c(isa, dtype, M, N, K):
    rng = np.random.default_rng(2)
    a, b = operands(rng, M, N, K, False, False, dtype)
    c = np.full((M, N), np.nan, dtype)
    _C.gemm(a, b, c, beta=0.0)
    assert not np.isnan(c).any()
    check(c, a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_k_zero(isa, dtype):
    a = np.zeros((4, 0), dtype)
    b = np.zeros((0, 6), dtype)
    c = np.full((4, 6), np.nan, dtype)
    _C.gemm(a, b, c, beta=0.0)
    np.testing.assert_array_equal(c, np.zeros((4, 6), dtype))
    c0 = np.arange(24, dtype=dtype).reshape(4, 6)
    c = c0.copy()
    _C.gemm(a, b, c, alpha=2.0, beta=-1.5)
    np.testing.assert_array_equal(c, -1.5 * c0)
    np.testing.assert_array_equal(_C.gemm(a, b), np.zeros((4, 6), dtype))
    assert _C.gemm(np.zeros((0, 3), dtype), np.zeros((3, 5), dtype)).shape == (0, 5)


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_operands(isa, dtype):
    rng = np.random.default_rng(3)
    wide_a = rand(rng, (50, 90), dtype)
    wide_b = rand(rng, (80, 120), dtype)
    cases = [
        (wide_a[:, :40], wide_b[:40, :33], False, False),  # row-strided slices (ld > cols)
        (wide_a[::2, :40], wide_b[::2, :31], False, False),  # every other row
        (wide_a[:, :40].T, wide_b[:33, :40], True, True),  # transposed views, trans flags
        (wide_a[:40, :29].T, wide_b[:40, :17], False, False),  # column-major a, plain b
        (wide_a[:, 3:43], wide_b[:17, 5:45].T, False, False),  # offset + transposed view
        (wide_a[3:4, ::2], wide_b[:45, 2:3], False, False),  # strided row vector @ column
        (wide_a[:, 7:8], wide_b[1:2, ::3], False, False),  # outer product, K = 1
        (wide_a[:40, 7:8], wide_b[:40, 5:9], True, False),  # (40, 1) as op(a) = (1, 40)
    ]
    for a, b, ta, tb in cases:
        check(_C.gemm(a, b, trans_a=ta, trans_b=tb), a, b, ta, tb)


def test_unsupported_strides_raise():
    a = np.ones((8, 16), np.float32)[:, ::2]
    with pytest.raises(ValueError, match="unit stride"):
        _C.gemm(a, np.ones((8, 4), np.float32))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,N,K", [(300, 200, 150), (64, 256, 784), (5, 3000, 40), (2000, 7, 40)])
def test_threads_same_result(isa, threads, dtype, M, N, K):
    rng = np.random.default_rng(4)
    a, b = operands(rng, M, N, K, False, False, dtype)
    results = []
    for n in (1, 2):
        threads(n)
        results.append(_C.gemm(a, b))
        np.testing.assert_array_equal(_C.gemm(a, b), results[-1])  # deterministic
    check(results[0], a, b)
    # Each C element is computed the same way whichever thread owns it.
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ta,tb", [(False, False), (True, False), (False, True), (True, True)])
def test_threads_same_result_blocked(isa, threads, dtype, ta, tb):
    # Several NC blocks (N = 1024 + 66 on AVX-512) and KC blocks, every trans layout and ragged
    # edges everywhere: 2 threads must give the 1-thread bits.
    rng = np.random.default_rng(6)
    a, b = operands(rng, 131, 1090, 401, ta, tb, dtype)
    results = []
    for n in (1, 2):
        threads(n)
        results.append(_C.gemm(a, b, trans_a=ta, trans_b=tb))
    check(results[0], a, b, ta, tb)
    np.testing.assert_array_equal(results[0], results[1])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("M,K", [(64, 256), (16 * 7 + 5, 33), (150, 600), (40, 1)])
@pytest.mark.parametrize("ta", [False, True])
def test_gram_same_memory(isa, threads, dtype, M, K, ta):
    # op(a) @ op(a)^T with both operands the same memory takes the symmetric path (row blocks up
    # to the diagonal, the rest mirrored): it must give exactly the bits of the full product
    # (the same operand through a copy), on 1 and 2 threads, 2-D and batched.
    rng = np.random.default_rng(M + K)
    a = rand(rng, (K, M) if ta else (M, K), dtype)
    copy = a.copy()
    for n in (1, 2):
        threads(n)
        got = _C.gemm(a, a, trans_a=ta, trans_b=not ta)
        full = _C.gemm(a, copy, trans_a=ta, trans_b=not ta)
        check(got, a, a, ta, not ta)
        np.testing.assert_array_equal(got, full)
        np.testing.assert_array_equal(got, got.T)
    # batched q @ q^T (the attention logits of a transposed view): every product symmetric
    q = rand(rng, (3, M, K), dtype)
    got = _C.matmul(q, q, False, True)
    want = np.matmul(q.astype(np.float64), np.swapaxes(q, -1, -2).astype(np.float64))
    scale = np.matmul(
        np.abs(q.astype(np.float64)), np.abs(np.swapaxes(q, -1, -2)).astype(np.float64)
    )
    assert np.all(np.abs(got - want) <= (K + 3) * np.finfo(dtype).eps * scale)
    np.testing.assert_array_equal(got, _C.matmul(q, q.copy(), False, True))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "sa,sb",
    [
        ((3, 5, 7), (3, 7, 4)),
        ((5, 7), (2, 3, 7, 4)),
        ((2, 1, 5, 7), (3, 7, 4)),
        ((1, 4, 9, 6), (2, 1, 6, 11)),
        ((64, 20, 30), (30, 40)),  # many small products: one thread per product
        ((2, 130, 70), (2, 70, 90)),  # few larger ones: threads inside GEMM
        ((3, 4, 0), (3, 0, 5)),
    ],
)
def test_matmul_broadcasting(isa, threads, dtype, sa, sb):
    rng = np.random.default_rng(5)
    a = rand(rng, sa, dtype)
    b = rand(rng, sb, dtype)
    want = np.matmul(a.astype(np.float64), b.astype(np.float64))
    for n in (1, 2):
        threads(n)
        got = _C.matmul(a, b)
        assert got.shape == want.shape
        assert got.dtype == dtype
        tol = (sa[-1] + 3) * np.finfo(dtype).eps
        scale = np.matmul(np.abs(a.astype(np.float64)), np.abs(b.astype(np.float64)))
        assert np.all(np.abs(got - want) <= tol * scale + np.finfo(dtype).tiny)


@settings(max_examples=60, deadline=None)
@given(
    M=st.integers(1, 70),
    N=st.integers(1, 70),
    K=st.integers(0, 300),
    ta=st.booleans(),
    tb=st.booleans(),
    f64=st.booleans(),
    isa_name=st.sampled_from(ISAS),
    beta=st.sampled_from([0.0, 1.0, -0.5]),
)
def test_gemm_property(M, N, K, ta, tb, f64, isa_name, beta):
    dtype = np.float64 if f64 else np.float32
    rng = np.random.default_rng(M + 71 * N + 5003 * K)
    a, b = operands(rng, M, N, K, ta, tb, dtype)
    c0 = rand(rng, (M, N), dtype)
    c = c0.copy()
    original = _C.gemm_isa()
    try:
        _C.gemm_set_isa(isa_name)
        _C.gemm(a, b, c, trans_a=ta, trans_b=tb, alpha=1.5, beta=beta)
    finally:
        _C.gemm_set_isa(original)
    check(c, a, b, ta, tb, 1.5, beta, c0)


def test_bad_inputs():
    f32 = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError):
        _C.gemm(np.ones((3, 4), np.int64), np.ones((4, 2), np.int64))
    with pytest.raises(TypeError):
        _C.gemm(f32, np.ones((4, 2), np.float64))
    with pytest.raises(TypeError):
        _C.gemm(f32, np.ones((4, 2), np.float32), np.zeros((3, 2), np.float64), beta=1.0)
    with pytest.raises(ValueError, match="inner"):
        _C.gemm(f32, np.ones((3, 2), np.float32))
    with pytest.raises(ValueError, match="shape"):
        _C.gemm(f32, np.ones((4, 2), np.float32), np.zeros((2, 3), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.gemm(f32, np.ones((4, 2), np.float32), np.zeros((2, 3), np.float32).T)
    with pytest.raises(ValueError, match="beta"):
        _C.gemm(f32, np.ones((4, 2), np.float32), beta=1.0)
    with pytest.raises(ValueError):
        _C.gemm(np.ones(4, np.float32), np.ones((4, 2), np.float32))
    with pytest.raises(ValueError):
        _C.gemm(f32, np.ones(4, np.float32))
    with pytest.raises(TypeError):
        _C.matmul(np.ones((2, 3, 4), np.int32), np.ones((4, 5), np.int32))
    with pytest.raises(TypeError):
        _C.matmul(np.ones((3, 4), np.float32), np.ones((4, 5), np.float64))
    with pytest.raises(ValueError, match="align"):
        _C.matmul(np.ones((2, 3, 4)), np.ones((5, 6)))
    with pytest.raises(ValueError, match="broadcast"):
        _C.matmul(np.ones((2, 3, 4)), np.ones((3, 4, 6)))
    with pytest.raises(ValueError, match="2-D"):
        _C.matmul(np.ones(4), np.ones((4, 6)))


def test_gemm_arguments():
    # gemm parses its own arguments (faster than pybind11's keyword matching): positional and
    # keyword forms agree, and wrong arguments raise TypeError.
    rng = np.random.default_rng(7)
    a, b = operands(rng, 5, 6, 7, True, False, np.float32)
    want = _C.gemm(a, b, None, True, False, 2.0, 0.0)
    np.testing.assert_array_equal(_C.gemm(a, b, trans_a=True, alpha=2.0), want)
    np.testing.assert_array_equal(_C.gemm(b=b, a=a, alpha=np.float32(2), trans_a=np.True_), want)
    c = np.ones((5, 6), np.float32)
    out = _C.gemm(a, b, c, True, beta=1)
    assert out is c
    np.testing.assert_allclose(c, want / 2 + 1, rtol=1e-6)
    bad = [
        lambda: _C.gemm(a),
        lambda: _C.gemm(a, b, foo=1),
        lambda: _C.gemm(a, b, None, True, False, 1.0, 0.0, 3),
        lambda: _C.gemm(a, b, None, trans_a=True, c=None),
        lambda: _C.gemm(a, b, trans_a="yes"),
        lambda: _C.gemm(a, b, trans_a=True, alpha="x"),
        lambda: _C.gemm(a, object(), trans_a=True),
        # c given but not an array (was read as an array: a segfault)
        lambda: _C.gemm(a, b, False, trans_a=True),
        lambda: _C.gemm(a, b, c=[[0.0] * 6] * 5, trans_a=True),
    ]
    for call in bad:
        with pytest.raises(TypeError):
            call()


def test_isa_selection():
    assert _C.gemm_isa() in ISAS
    assert "generic" in ISAS
    with pytest.raises(ValueError, match="unknown ISA"):
        _C.gemm_set_isa("sse9")
    for name in {"avx512", "avx2"} - set(ISAS):
        with pytest.raises(ValueError, match="cannot run"):
            _C.gemm_set_isa(name)


def _import_isa(value):
    env = dict(os.environ, EMBER_ISA=value)
    code = "from ember import _C; print(_C.gemm_isa())"
    return subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)


def test_ember_isa_environment_variable():
    run = _import_isa("generic")
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "generic"
    run = _import_isa("bogus")
    assert run.returncode != 0
    assert "EMBER_ISA=bogus" in run.stderr
