"""Regressions found by fuzz23's differential hunt against torch 2.13 (bad inputs of the fast
fronts and fills)."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

# (value, dtype name): fills torch's checked Scalar conversion refuses (NumPy cast them to junk)
_REFUSED = [
    (1e39, "int64"),
    (np.float64(1e39), "int64"),
    (-0.5, "uint8"),
    (255.5, "uint8"),
    (70000.0, "int8"),
    (1 + 2j, "float32"),
    (1 + 2j, "int64"),
    (70000.0, "float16"),
    (np.float64(1e39), "bfloat16"),
    (1e39, "complex64"),
    (np.complex128(1 + 1j), "float64"),
]


@pytest.mark.parametrize("value,dt", _REFUSED)
def test_fills_refuse_what_torch_cannot_convert(value, dt):
    with pytest.raises(RuntimeError):
        torch.full((2,), value, dtype=getattr(torch, dt))
    e = ember.zeros(2, dtype=getattr(ember, dt))
    for fill in (
        lambda: ember.full((2,), value, dtype=getattr(ember, dt)),
        lambda: ember.full_like(e, value),
        lambda: e.new_full((2,), value),
        lambda: e.clone().fill_(value),
        lambda: e.masked_fill(ember.tensor([True, False]), value),
    ):
        with pytest.raises(RuntimeError, match="without overflow"):
            fill()


@pytest.mark.parametrize(
    "value,dt",
    [(2 + 0j, "int64"), (2 + 0j, "float16"), (np.int64(-1), "uint8"), (-0.5, "int8"),
     (1 + 2j, "bool"), (np.float16(-1), "int64"), (255.0, "uint8"), (1e39, "float64")],
)  # fmt: skip
def test_fills_torch_converts_take_its_values(value, dt):
    want = torch.full((2,), value, dtype=getattr(torch, dt))
    for got in (
        ember.full((2,), value, dtype=getattr(ember, dt)),
        ember.zeros(2, dtype=getattr(ember, dt)).fill_(value),
    ):
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("value", [None, "a", [1.0]])
def test_fills_refuse_non_numbers(value):
    with pytest.raises(TypeError):
        torch.full((2,), value, dtype=torch.bool)
    with pytest.raises(TypeError, match="must be a number"):
        ember.full((2,), value, dtype=ember.bool)  # (NumPy: True)
    with pytest.raises(TypeError, match="must be a number"):
        ember.full((2,), value)  # (NumPy: NaN)
    with pytest.raises(TypeError, match="must be a number"):
        ember.zeros(2).fill_(value)


@pytest.mark.parametrize("value", [2**70, -(2**63) - 1])
def test_fills_refuse_ints_beyond_64_bits(value):
    with pytest.raises(OverflowError):
        torch.full((2,), value, dtype=torch.float32)
    with pytest.raises(OverflowError):
        ember.full((2,), value, dtype=ember.float32)
    with pytest.raises(OverflowError):
        ember.zeros(2, dtype=ember.bool).fill_(value)


def test_new_of_no_size_is_empty_as_torch():
    assert ember.zeros(2).new().shape == torch.zeros(2).new().shape == (0,)  # (was 0-d)


@pytest.mark.parametrize("data", [[1.0, None], ["1.5"], [[1, 2], [None, 3]]])
def test_tensor_with_dtype_refuses_non_numbers(data):
    error = ValueError if "1.5" in data else TypeError  # (torch's types)
    with pytest.raises(error):
        torch.tensor(data, dtype=torch.float64)
    with pytest.raises(error, match="must hold numbers"):
        ember.tensor(data, dtype=ember.float64)  # (NumPy: NaN, 1.5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_of_no_classes_with_every_target_ignored(reduction):
    # float16 takes the composed path: its (M, 0) rows were reshape(-1, 0), NumPy's ValueError
    x = np.zeros((4, 0), np.float16)
    t = np.zeros(4, np.int64)
    xt = torch.tensor(x, requires_grad=True)
    xe = ember.tensor(x, requires_grad=True)
    want = torch.nn.functional.nll_loss(xt, torch.tensor(t), ignore_index=0, reduction=reduction)
    got = ember.nn.functional.nll_loss(xe, ember.tensor(t), ignore_index=0, reduction=reduction)
    assert got.shape == tuple(want.shape) and got.dtype == ember.float16
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    want.sum().backward()
    got.sum().backward()
    assert xe.grad.shape == (4, 0)


def test_fills_take_a_bfloat16_value_and_refuse_other_number_types_as_torch():
    # review23: a bfloat16 0-d tensor or scalar is not an np.floating (was a TypeError)
    import fractions

    import ml_dtypes

    x, m = ember.zeros(2), ember.tensor([True, False])
    v = ember.tensor(1.5, dtype=ember.bfloat16)
    assert x.masked_fill(m, v).tolist() == [1.5, 0.0]
    assert ember.full((2,), v).tolist() == [1.5, 1.5]
    assert ember.zeros(2).fill_(ml_dtypes.bfloat16(1.5)).tolist() == [1.5, 1.5]
    with pytest.raises(TypeError, match="Fraction"):
        ember.zeros(2, dtype=ember.int64).fill_(fractions.Fraction(7, 2))
    # every fill route raises torch's errors: OverflowError past 64 bits, RuntimeError for NaN
    for make in (
        lambda v: ember.full((2,), v, dtype=ember.int64),
        lambda v: ember.full_like(ember.zeros(2, dtype=ember.int64), v),
        lambda v: ember.zeros(2, dtype=ember.int64).fill_(v),
    ):
        with pytest.raises(OverflowError):
            make(2**64)
        with pytest.raises(RuntimeError, match="without overflow"):
            make(float("nan"))
