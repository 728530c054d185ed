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
