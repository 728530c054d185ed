"""vecspeed44: transpose_copy's AVX-512 8x8 blocks for 8-byte elements (every edge of the 8-row
and 128-column blocking, every 8-byte dtype, any thread count) against NumPy's copy."""

import numpy as np
import pytest

import ember
from ember import _C


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (7, 9), (8, 8), (9, 7), (16, 128), (17, 129), (255, 257), (1000, 1000), (3, 2000),
     (2000, 3), (130, 136)],
)  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.uint64, np.complex64])
def test_transpose_copy_8byte_blocks(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(-(2**62), 2**62, shape, dtype=np.int64).view(dtype)  # (every bit pattern)
    y = _C.transpose_copy(a)
    assert y.flags.c_contiguous and y.shape == shape[::-1] and y.dtype == a.dtype
    np.testing.assert_array_equal(y.view(np.int64), a.T.view(np.int64))


@pytest.mark.parametrize("threads", [1, 2])
def test_transpose_copy_8byte_threads(threads):
    a = np.arange(517 * 1031, dtype=np.float64).reshape(517, 1031)
    old = ember.get_num_threads()
    ember.set_num_threads(threads)
    try:
        y = _C.transpose_copy(a)
    finally:
        ember.set_num_threads(old)
    np.testing.assert_array_equal(y, a.T)
    # a view of a transposed float64 tensor made contiguous takes the same kernel
    t = ember.tensor(a).T.contiguous()
    np.testing.assert_array_equal(t.numpy(), a.T)
