"""cat and stack on the C++ copy (_C.concat): values and gradients against NumPy and torch for
every dim, dtype, non-contiguous and empty inputs, legacy (0,) tensors, many small inputs, any
thread count; and hostile arguments straight at the kernel."""

import numpy as np
import pytest

import ember
from ember import _C

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.int32, np.uint8, np.bool_])
@pytest.mark.parametrize("dim", [-3, -1, 0, 1, 2])
def test_cat_and_stack_match_numpy(dtype, dim):
    a = (RNG.standard_normal((2, 3, 4)) * 5).astype(dtype)
    b = (RNG.standard_normal((2, 3, 4)) * 5).astype(dtype)
    np.testing.assert_array_equal(ember.cat([a, b], dim).numpy(), np.concatenate([a, b], dim))
    np.testing.assert_array_equal(ember.stack([a, b], dim).numpy(), np.stack([a, b], dim))
    assert ember.cat([a, b], dim).dtype == dtype


def test_non_contiguous_unequal_and_empty_inputs():
    base = RNG.standard_normal((4, 6))
    parts = [base.T, base[:, ::2].T, np.zeros((0, 4)), base[:, ::3].T]
    np.testing.assert_array_equal(ember.cat(parts).numpy(), np.concatenate(parts))
    views = [base[:, ::2], base[:, 1::2]]
    np.testing.assert_array_equal(ember.stack(views, 1).numpy(), np.stack(views, 1))
    assert ember.stack([np.zeros((0, 3))] * 2).shape == (2, 0, 3)


def test_many_small_inputs_and_thread_counts_give_the_same_bytes():
    xs = [RNG.standard_normal((3, 17)).astype(np.float32) for _ in range(200)]
    want = np.concatenate(xs, 1)
    big = [RNG.standard_normal((64, 4096)).astype(np.float32) for _ in range(4)]
    before = ember.get_num_threads()
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            np.testing.assert_array_equal(ember.cat(xs, 1).numpy(), want)
            np.testing.assert_array_equal(ember.stack(big, 1).numpy(), np.stack(big, 1))
    finally:
        ember.set_num_threads(before)


def test_gradients_are_the_slices():
    torch = pytest.importorskip("torch")
    shapes = [(2, 1, 3), (2, 4, 3), (2, 0, 3), (2, 2, 3)]
    arrays = [RNG.standard_normal(s) for s in shapes]
    es = [ember.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    g = RNG.standard_normal((2, 7, 3))
    (ember.cat(es, -2) * ember.tensor(g)).sum().backward()
    (torch.cat(ts, -2) * torch.tensor(g)).sum().backward()
    for e, t in zip(es, ts):
        np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    legacy = ember.zeros(0, requires_grad=True)
    x = ember.tensor(arrays[1], requires_grad=True)
    ember.cat([legacy, x, legacy]).sum().backward()
    assert legacy.grad.shape == (0,) and np.all(x.grad.numpy() == 1)
    es = [ember.tensor(a, requires_grad=True) for a in arrays[:2] * 2]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays[:2] * 2]
    ember.stack(es[::2], 3).pow(2).sum().backward()
    torch.stack(ts[::2], 3).pow(2).sum().backward()
    np.testing.assert_allclose(es[0].grad.numpy(), ts[0].grad.numpy())


def test_python_level_errors():
    with pytest.raises(TypeError, match="expected a sequence of tensors"):
        ember.cat(ember.ones(2, 3))
    with pytest.raises(TypeError):
        ember.stack([ember.ones(2)], dim="x")
    with pytest.raises(ValueError, match="non-empty"):
        ember.stack([])
    with pytest.raises(ValueError, match=r"shapes \(2,\) and \(3,\) differ$"):
        ember.stack([ember.ones(2), ember.ones(3)])


@pytest.mark.parametrize(
    "args,err,match",
    [
        (([np.ones(2), 5], 0), TypeError, "expected arrays, got int"),
        ((np.ones(2), 0), TypeError, "expected arrays"),  # a sequence of floats
        (([], 0), ValueError, "non-empty"),
        (([np.float64(1.0)], 0), TypeError, "expected arrays"),
        (([np.ones(2), np.ones(2, np.float32)], 0), TypeError, "dtype float64, got float32"),
        (([np.ones(2)], 1), IndexError, "out of range"),
        (([np.ones(2)], -2), IndexError, "out of range"),
        (([np.ones(2)], 2, True), IndexError, "out of range"),
        (([np.array(1.0), np.array(2.0)], 0), ValueError, "zero-dimensional"),
        (([np.ones((2, 3)), np.ones(3)], 0), ValueError, "differ outside dim 0"),
        (([np.ones((2, 3)), np.ones((2, 3))], 2**62), IndexError, "out of range"),
    ],
)
def test_kernel_refuses_hostile_arguments(args, err, match):
    with pytest.raises(err, match=match):
        _C.concat(*args)


def test_kernel_stacks_zero_dim_arrays():
    y, sizes = _C.concat([np.array(1.0), np.array(2.0)], 0, True)
    np.testing.assert_array_equal(y, [1.0, 2.0])
    assert sizes == [1, 1]


@pytest.mark.parametrize(
    "dtypes,expected",
    [(("float32", "float64"), "float64"), (("bool_", "int64"), "int64"),
     (("int32", "int64"), "int64"), (("float16", "float32"), "float32"),
     (("int64", "float32"), "float32"), (("uint8", "int8"), "int16"),
     (("int8", "uint8", "float16"), "float16")],
)  # fmt: skip
def test_cat_and_stack_promote_mixed_dtypes_as_torch(dtypes, expected):
    parts = [ember.ones(2, dtype=getattr(ember, d)) for d in dtypes]
    assert ember.cat(parts).dtype == getattr(ember, expected)
    assert ember.stack(parts).dtype == getattr(ember, expected)


def test_cat_of_mixed_floats_passes_gradients_back_in_each_dtype():
    x = ember.ones(2, requires_grad=True)
    y = ember.ones(2, dtype=ember.float64, requires_grad=True)
    (ember.cat([x, y]) * ember.arange(4.0, dtype=ember.float64)).sum().backward()
    assert x.grad.dtype == ember.float32 and y.grad.dtype == ember.float64
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1])
    np.testing.assert_array_equal(y.grad.numpy(), [2, 3])
