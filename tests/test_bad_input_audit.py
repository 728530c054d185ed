"""Bad inputs found by the adversarial audit: each must raise a clear error, never crash."""

import pickle
import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C


def test_unpickled_arrays_reach_the_kernels():
    # An unpickled array's dtype is a new object (DataLoader workers, pickled datasets): the
    # kernels compared dtypes by identity and refused float32 as "not float32".
    x = pickle.loads(pickle.dumps(np.linspace(-2, 2, 12, dtype=np.float32).reshape(3, 4)))
    assert x.dtype is not np.dtype(np.float32)
    np.testing.assert_allclose(F.relu(ember.tensor(x)).numpy(), np.maximum(x, 0))
    y = F.softmax(ember.tensor(x), dim=-1).numpy()
    np.testing.assert_allclose(y.sum(-1), 1, rtol=1e-6)
    p = pickle.loads(pickle.dumps(np.ones(3)))
    _C.sgd_step(p, None, np.ones(3), 0.5)
    np.testing.assert_allclose(p, 0.5)


def test_sdpa_mask_strides_cannot_wrap_past_the_mask():
    q = np.zeros((2, 5, 4), np.float32)
    mask = np.zeros(25, np.float32)
    off = np.zeros(2, np.int64)
    with pytest.raises(ValueError, match="sdpa_forward: mask strides"):
        _C.sdpa_forward(q, q, q, mask, off, 2**61 + 1, 0)  # (Lq-1)*sr overflowed: segfault
    with pytest.raises(ValueError, match="sdpa_forward: mask offsets"):
        _C.sdpa_forward(q, q, q, mask, np.full(2, 2**62, np.int64), 1, 1)


def test_gather_refuses_negative_and_oversized_index():
    x = ember.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(IndexError, match="gather: index out of range"):
        ember.gather(x, 1, np.array([[0, -1], [1, 1]]))
    with pytest.raises(RuntimeError, match="gather: index"):  # (torch's class)
        ember.gather(x, 1, np.zeros((3, 1), np.int64))


def test_max_min_of_empty_dims():
    with pytest.raises(IndexError, match="max: dim 0"):
        ember.tensor(np.zeros((0, 3))).max(0)
    with pytest.raises(ValueError, match="min: the input is empty"):
        ember.tensor(np.zeros((0, 3))).min()


def test_sdpa_mask_with_no_keys():
    q = ember.tensor(np.ones((2, 1, 3, 4)))
    kv = ember.tensor(np.ones((2, 1, 0, 4)))
    out = F.scaled_dot_product_attention(q, kv, kv, attn_mask=np.ones((3, 0), bool))
    assert out.shape == (2, 1, 3, 4)


def test_init_refuses_non_tensors_and_nan_bounds():
    from ember.nn import init

    # a NumPy array is a parameter's .data and is filled in place (test_tutorial_idioms)
    with pytest.raises(TypeError, match="expected a Tensor"):
        init.normal_([1.0, 2.0])
    with pytest.raises(ValueError, match="uniform_"):
        init.uniform_(ember.zeros(3), float("nan"), 1.0)


@pytest.mark.parametrize("a,b", [(3.0, 4.0), (10.0, 11.0), (-50.0, -40.0), (-1e-3, 1e-3)])
def test_trunc_normal_far_from_the_mean_terminates(a, b):
    # Redrawing until inside [10, 11] never ended; the tail is now sampled by inversion.
    from ember.nn import init

    far = a > 2.0 or b < -2.0  # PyTorch warns that the distribution may be off
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if far else "error")
        t = init.trunc_normal_(ember.zeros(200, 50), 0.0, 1.0, a, b).numpy()
    assert t.min() >= a and t.max() <= b
    if a == 3.0:  # E[Z | 3 < Z < 4] = 3.26 (PyTorch's sampler agrees)
        assert abs(t.mean() - 3.26) < 0.02
