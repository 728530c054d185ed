"""small8's per-call cost cuts: each fast path gives exactly what the general path (or
PyTorch) gives -- values, dtype, shape, strides, gradients -- and the same errors."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


# ---- sort by ranks (csrc/ops/select.cpp's rank_order: rows of up to 64) ----------------------
@pytest.mark.parametrize("n", [1, 2, 3, 17, 31, 32, 33, 63, 64])
@pytest.mark.parametrize("descending", [False, True])
def test_short_rows_sort_as_torch_with_and_without_ties(n, descending):
    rng = np.random.default_rng(n)
    distinct = np.stack([rng.permutation(n) for _ in range(6)]).astype(np.float32) - n / 3
    tied = rng.integers(-3, 3, (6, n)).astype(np.float32)  # many ties: the pair sort's order
    last = distinct.copy()
    if n > 1:
        last[:, -1] = last[:, -2]  # one tie, between the last two keys
    for x in (distinct, tied, last):
        ref = torch.sort(torch.from_numpy(x), 1, descending=descending)
        np.testing.assert_array_equal(_C.sort_indices(x, descending), ref.indices.numpy())
        v, i = ember.tensor(x).sort(1, descending=descending)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


# ---- kernels without an OpenMP team at one thread (softmax.cpp, select.cpp, bind_gemm.cpp) ----
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (32, 32), (4, 3, 70), (300, 130)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_bits_do_not_depend_on_the_thread_count(shape, log):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    outs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        try:
            for dim in range(len(shape)):
                y = _C.softmax_forward(np.ascontiguousarray(x), dim, log)
                dx = _C.softmax_backward(y, np.ones_like(y), dim, log)
                outs.append((dim, y, dx))
        finally:
            ember.set_num_threads(1)
    half = len(outs) // 2
    for (d1, y1, g1), (d2, y2, g2) in zip(outs[:half], outs[half:], strict=True):
        assert d1 == d2
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(g1, g2)
    ref = (torch.log_softmax if log else torch.softmax)(torch.from_numpy(x), -1).numpy()
    np.testing.assert_allclose(outs[half - 1][1], ref, rtol=1e-6, atol=1e-6)


def test_batched_matmul_at_one_thread_matches_numpy():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 4, 3)).astype(np.float64)
    b = rng.standard_normal((5, 3, 6)).astype(np.float64)
    np.testing.assert_allclose(_C.matmul(a, b, False, False), a @ b, rtol=1e-12)
