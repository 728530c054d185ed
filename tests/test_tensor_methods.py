"""Tensor methods PyTorch code uses every day: in-place updates (refused on tensors that
require grad, outside no_grad), new_* factories, *_as shape helpers, type(); and NumPy
arrays accepted wherever a tensor is."""

import numpy as np
import pytest

import ember


def test_inplace_methods_update_storage():
    x = ember.tensor([-2.0, -0.5, 0.5, 3.0])
    storage = x.data
    x.add_(1)
    x.add_(ember.tensor([1.0, 1.0, 1.0, 1.0]), alpha=2)
    x.sub_(0.5)
    x.mul_(2)
    x.div_(4)
    np.testing.assert_allclose(x.numpy(), (np.array([-2.0, -0.5, 0.5, 3.0]) + 2.5) / 2)
    x.clamp_(min=0.5, max=2.0)
    np.testing.assert_allclose(x.numpy(), [0.5, 1.0, 1.5, 2.0])
    x.masked_fill_(x > 1.2, -1.0)
    np.testing.assert_allclose(x.numpy(), [0.5, 1.0, -1.0, -1.0])
    assert x.data is storage
    ember.manual_seed(0)
    assert np.all(np.abs(ember.zeros(1000).uniform_(-0.5, 0.5).numpy()) <= 0.5)
    assert abs(ember.zeros(10000).normal_(3.0, 0.1).numpy().mean() - 3.0) < 0.01


def test_inplace_on_tensors_that_require_grad_is_refused_outside_no_grad():
    w = ember.randn(3, requires_grad=True)
    for op in (lambda: w.add_(1), lambda: w.mul_(2), lambda: w.masked_fill_(w > 0, 0.0)):
        with pytest.raises(RuntimeError, match="in-place"):
            op()
    with ember.no_grad():
        w.add_(1.0).mul_(0.0)
    np.testing.assert_array_equal(w.numpy(), np.zeros(3))
    with pytest.raises(TypeError, match="bool"):
        ember.zeros(2).masked_fill_(np.array([1, 0]), 1.0)


def test_new_factories_and_shape_helpers():
    x = ember.zeros(2, 3, dtype=np.float64)
    assert x.new_zeros(4).dtype == np.float64 and x.new_ones(2, 2).numpy().sum() == 4
    assert x.new_full((2,), 7.0).numpy().tolist() == [7.0, 7.0]
    assert x.new_empty(5).shape == (5,) and x.new_tensor([1, 2]).dtype == np.float64
    assert ember.ones(2, 1).expand_as(x).shape == (2, 3)
    assert ember.arange(6).view_as(x).shape == (2, 3) == ember.arange(6).reshape_as(x).shape
    assert x.type() == "ember.float64" and x.type(np.float32).dtype == np.float32
    assert x.half().dtype == np.float16


def test_numpy_arrays_are_accepted_where_tensors_are():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert ember.sum(a).item() == 15 and ember.mean(a, dim=0).shape == (3,)
    values, indices = ember.max(a, 1)
    np.testing.assert_array_equal(indices.numpy(), [2, 2])
    assert ember.cat([a, ember.tensor(a)]).shape == (4, 3)
    assert ember.reshape(a, (3, 2)).shape == (3, 2) and ember.transpose(a, 0, 1).shape == (3, 2)
    acc = (ember.tensor([1, 2, 3]) == ember.tensor([1, 0, 3])).type(ember.float).mean().item()
    assert acc == pytest.approx(2 / 3)
