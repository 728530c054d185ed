"""Tensor.grad assignment: the checks torch makes (same shape, same dtype, a Tensor or None)."""

import re

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _both(shape, dtype, requires_grad):
    e = ember.ones(shape, dtype=getattr(np, dtype))
    t = torch.ones(shape, dtype=getattr(torch, dtype))
    if requires_grad:
        e.requires_grad_()
        t.requires_grad_()
    return e, t


@pytest.mark.parametrize(
    "shape, gshape", [((3, 4), (4,)), ((3, 4), (1, 4)), ((3, 4), (4, 3)), ((), (1,)), ((2,), ())]
)
def test_wrong_shape_is_refused_as_torch(shape, gshape):
    e, t = _both(shape, "float32", True)
    with pytest.raises(RuntimeError, match="size"):
        t.grad = torch.ones(gshape)
    with pytest.raises(ValueError, match=r"different size.*" + re.escape(str(tuple(gshape)))):
        e.grad = ember.ones(gshape)
    assert e.grad is None and t.grad is None


@pytest.mark.parametrize(
    "dtype, gdtype",
    [("float32", "float64"), ("float32", "int64"), ("float32", "float16"), ("int64", "float32")],
)
def test_wrong_dtype_is_refused_as_torch(dtype, gdtype):
    e, t = _both((3, 4), dtype, dtype.startswith("float"))
    with pytest.raises(RuntimeError, match="dtype"):
        t.grad = torch.ones(3, 4, dtype=getattr(torch, gdtype))
    with pytest.raises(TypeError, match=f"different type.*{gdtype}.*{dtype}"):
        e.grad = ember.ones(3, 4, dtype=getattr(np, gdtype))
    assert e.grad is None and t.grad is None


@pytest.mark.parametrize("value", [np.ones((3, 4), np.float32), 3.0, [[1.0] * 4] * 3])
def test_non_tensor_is_refused_as_torch(value):
    e, t = _both((3, 4), "float32", True)
    with pytest.raises(TypeError, match="Tensor or None"):
        t.grad = value
    with pytest.raises(TypeError, match="Tensor or None"):
        e.grad = value


def test_own_grad_is_refused_as_torch():
    e, t = _both((3,), "float32", True)
    with pytest.raises(RuntimeError, match="own grad"):
        t.grad = t
    with pytest.raises(ValueError, match="own grad"):
        e.grad = e


@pytest.mark.parametrize(
    "dtype, requires_grad", [("float32", True), ("float64", False), ("int64", False)]
)
def test_matching_grad_and_none_are_accepted_as_torch(dtype, requires_grad):
    e, t = _both((3, 4), dtype, requires_grad)
    g = np.arange(12).reshape(3, 4).astype(dtype)
    t.grad = torch.from_numpy(g.copy())
    e.grad = ember.tensor(g.copy())
    assert e.grad.dtype == g.dtype and str(t.grad.dtype) == f"torch.{dtype}"
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    # a grad that requires grad itself is kept as given (torch keeps it too)
    if requires_grad:
        t.grad = torch.ones(3, 4, requires_grad=True)
        e.grad = ember.ones(3, 4, requires_grad=True)
        assert e.grad.requires_grad and t.grad.requires_grad
    t.grad = None
    e.grad = None
    assert e.grad is None and t.grad is None


def test_assigned_grad_accumulates_with_backward_as_torch():
    g = np.arange(6.0).reshape(2, 3)
    results = []
    for lib, make in ((torch, torch.from_numpy), (ember, ember.tensor)):
        x = lib.ones(2, 3, dtype=lib.float64, requires_grad=True)
        x.grad = make(g.copy())
        (x * 3).sum().backward()
        results.append(x.grad.numpy())
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[1], g + 3)
