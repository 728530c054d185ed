"""Tensor API edge cases found by a differential sweep against PyTorch, pinned with hand or NumPy
expectations (they run without torch; tests/test_tensor_fuzz_torch.py compares with torch live)."""

import numpy as np
import pytest

import ember


@pytest.mark.parametrize(
    ("op", "expect"),
    [
        ("__ifloordiv__", [3, -4]),
        ("__imod__", [1, 1]),
        ("__ipow__", [49, 49]),
        ("__iand__", [2, 0]),
        ("__ior__", [7, -5]),
        ("__ixor__", [5, -5]),
    ],
)
def test_augmented_assignments_write_in_place(op, expect):
    x = ember.tensor([7, -7])
    alias = x
    out = getattr(x, op)(2)
    assert out is x
    np.testing.assert_array_equal(alias.numpy(), expect)  # other references see the update
    assert x.dtype == np.int64


@pytest.mark.parametrize(
    "op", ["__iadd__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__"]
)
@pytest.mark.parametrize("other", [1.5, np.array([2.0, 3.0]), ember.tensor(2.0)])
def test_inplace_float_into_integer_tensor_is_refused(op, other):
    x = ember.tensor([7, -7])
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
        getattr(x, op)(other)
    np.testing.assert_array_equal(x.numpy(), [7, -7])


def test_inplace_true_division_of_integers_is_refused():
    x = ember.tensor([4, 6], dtype=np.int32)
    with pytest.raises(RuntimeError, match="float"):
        x /= 2
    with pytest.raises(RuntimeError, match="float"):
        x.div_(2)
    x //= 2  # floor division stays integral
    np.testing.assert_array_equal(x.numpy(), [2, 3])


def test_inplace_float64_into_float32_keeps_float32():
    x = ember.tensor([1.0, 2.0])
    x += np.array([0.5, 0.25])
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.numpy(), [1.5, 2.25])


@pytest.mark.parametrize(
    "f",
    [
        lambda b, f: b - f,
        lambda b, f: f - b,
        lambda b, f: f - True,
        lambda b, f: True - f,
        lambda b, f: b - b,
        lambda b, f: ember.sub(f, b),
        lambda b, f: f.sub_(b),
        lambda b, f: f.__isub__(b),
    ],
)
def test_subtraction_with_bool_is_refused(f):
    b, x = ember.tensor([True, False]), ember.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="bool"):
        f(b, x)


def test_comparison_with_none_is_a_plain_bool():
    x = ember.tensor([1.0])
    assert (x == None) is False  # noqa: E711 (the operator itself is under test)
    assert (x != None) is True  # noqa: E711
