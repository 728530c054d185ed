"""vecspeed44: transpose_copy's AVX-512 16x16 / 8x8 register blocks for 4- and 8-byte elements
(every edge of the row and 128-column blocking, any bit pattern, any thread count) against
NumPy's copy."""

import numpy as np
import pytest

import ember
from ember import _C


@pytest.mark.parametrize(
    "shape",
    [(1, 1), (7, 9), (8, 8), (9, 7), (16, 128), (17, 129), (255, 257), (1000, 1000), (3, 2000),
     (2000, 3), (130, 136)],
)  # fmt: skip
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.complex64, np.float32, np.int32])
def test_transpose_copy_avx512_blocks(shape, dtype):
    rng = np.random.default_rng(sum(shape))
    bits = np.int64 if np.dtype(dtype).itemsize == 8 else np.int32
    a = rng.integers(np.iinfo(bits).min, np.iinfo(bits).max, shape, bits).view(dtype)  # (NaNs too)
    y = _C.transpose_copy(a)
    assert y.flags.c_contiguous and y.shape == shape[::-1] and y.dtype == a.dtype
    np.testing.assert_array_equal(y.view(bits), a.T.view(bits))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_transpose_copy_threads(threads, dtype):
    a = np.arange(517 * 1031, dtype=dtype).reshape(517, 1031)
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
