"""speed23: normal_fill's short last block (only the pairs it needs), a leaf's C-order copy of
a transposed gradient by the tiled kernel. Values pinned bit for bit against the full paths."""

import numpy as np
import pytest

import ember
from ember import _C


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 5, 63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 300, 511])
def test_normal_fill_short_block_is_the_full_blocks_head(dtype, n):
    # a short last block computes only the Box-Muller pairs it needs: the same samples as the
    # head of a longer fill of the same stream (y[i] depends on the key and i alone)
    key = 987654321
    full = np.empty(1024, dtype)
    _C.normal_fill(full, key, 0.5, 2.0)
    out = np.empty(n, dtype)
    _C.normal_fill(out, key, 0.5, 2.0)
    np.testing.assert_array_equal(out, full[:n])
    assert np.isfinite(out).all()


def test_randn_small_matches_the_stream_head():
    ember.manual_seed(3)
    small = ember.randn(8, 8).numpy()
    ember.manual_seed(3)
    big = ember.randn(64 * 9).numpy()
    np.testing.assert_array_equal(small.reshape(-1), big[:64])


def test_normal_fill_errors_kept():
    with pytest.raises(ValueError, match="normal_fill: std must be >= 0"):
        _C.normal_fill(np.zeros(3, np.float32), 1, 0.0, -1.0)
    with pytest.raises(TypeError):
        _C.normal_fill(np.zeros(3, np.int32), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_gradient_lands_c_contiguous(dtype):
    # x.T.contiguous().sum() hands the leaf a transposed gradient: copied into C order (torch's
    # layout for a C-contiguous leaf) by the tiled kernel, values exactly NumPy's
    a = np.random.default_rng(0).standard_normal((256, 1024)).astype(dtype)
    w = np.random.default_rng(1).standard_normal((1024, 256)).astype(dtype)
    x = ember.tensor(a, requires_grad=True)
    (x.T.contiguous() * ember.tensor(w)).sum().backward()
    assert x.grad.data.flags.c_contiguous and x.grad.dtype == x.dtype
    np.testing.assert_array_equal(x.grad.numpy(), w.T)
    # a second backward adds into it
    (x.T.contiguous() * ember.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.T + w.T)


def test_transposed_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((300, 700)).astype(np.float32)
    x = ember.tensor(a, requires_grad=True)
    (x.T.contiguous() ** 2).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (t.T.contiguous() ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert x.grad.data.strides == tuple(s * 4 for s in t.grad.stride())


def test_transposed_gradient_of_another_dtype_is_cast():
    # a float64 gradient reaching a float32 leaf through a transpose: cast and C-ordered
    a = np.random.default_rng(3).standard_normal((600, 500)).astype(np.float32)
    w = np.random.default_rng(4).standard_normal((500, 600))
    x = ember.tensor(a, requires_grad=True)
    (x.T.double() * ember.tensor(w)).sum().backward()
    assert x.grad.dtype == ember.float32 and x.grad.data.flags.c_contiguous
    np.testing.assert_array_equal(x.grad.numpy(), w.T.astype(np.float32))
