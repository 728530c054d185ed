"""Session 36 (lead): the kernels' own checks refuse with ember's error classes."""

import numpy as np
import pytest

import ember
from ember import _C
from ember._errors import BadShapeOrValue


def test_kernel_checks_raise_bad_shape_or_value():
    # EMBER_CHECK at the C++ boundary: a ValueError (design.md) and a RuntimeError (torch's family)
    with pytest.raises(BadShapeOrValue, match=r"input must be 4-D, got shape \(2, 3\)") as e:
        _C.conv2d_forward(np.zeros((2, 3), np.float32), np.zeros((5, 7), np.float32))
    assert isinstance(e.value, ValueError) and isinstance(e.value, RuntimeError)


def test_kernel_check_caught_as_torch_code_catches_it():
    torch = pytest.importorskip("torch")
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(RuntimeError):
        torch.nn.functional.conv2d(torch.from_numpy(x), torch.zeros(5, 7))
    with pytest.raises(RuntimeError):
        _C.conv2d_forward(x, np.zeros((5, 7), np.float32))
    assert ember.zeros(1).shape == (1,)  # the module is usable after the refusal


@pytest.mark.parametrize("op", ["max", "min"])
@pytest.mark.parametrize(
    "call",
    [
        lambda L, x, op: getattr(x, op)(dim=L.tensor(1)),  # a Tensor as dim=: a dim
        lambda L, x, op: getattr(x, op)(L.tensor(1), True),  # ... or with keepdim=True after it
        lambda L, x, op: getattr(x, op)(L.tensor([[0.0, 9.0], [9.0, 0.0]])),  # second: other
        lambda L, x, op: getattr(x, op)(dim=1, keepdim=True),
        lambda L, x, op: getattr(x, op)(),
    ],
)
def test_tensor_max_min_read_a_tensor_dim_as_torch(op, call):
    torch = pytest.importorskip("torch")
    a = np.array([[1.0, 5.0], [3.0, 2.0]])
    e, t = call(ember, ember.tensor(a), op), call(torch, torch.tensor(a), op)
    for u, v in zip(e if isinstance(e, tuple) else (e,), t if isinstance(t, tuple) else (t,)):
        np.testing.assert_array_equal(u.numpy(), v.numpy())


@pytest.mark.parametrize("dim", ["float", "none"])
def test_tensor_max_refuses_a_float_tensor_or_none_dim_as_torch(dim):
    torch = pytest.importorskip("torch")
    for L in (ember, torch):
        d = L.tensor(1.0) if dim == "float" else None
        with pytest.raises(TypeError):
            L.tensor([[1.0, 5.0], [3.0, 2.0]]).max(dim=d)
