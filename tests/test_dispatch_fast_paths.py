"""The op wrappers' fast paths (pow and div of float operands, indexing by one integer array or
bool mask) give the general path's values, dtypes, errors and gradients, and the cases they must
leave to it (integer and bool tensors, promotion, broadcasting, non-contiguous input, other
index dtypes) still behave as before."""

import numpy as np
import pytest

import ember
from ember import ops
from ember.autograd import gradcheck


def _rng():
    return np.random.default_rng(7)


# ---- pow ------------------------------------------------------------------------------------


@pytest.mark.parametrize("e", [2, 3, 0.5, -1, -2, 1, 0, 2.5, -0.5])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pow_scalar_matches_numpy(e, dtype):
    x = np.abs(_rng().standard_normal((3, 5))).astype(dtype) + 0.1
    y = ember.tensor(x) ** e
    assert y.dtype == dtype
    with np.errstate(all="ignore"):
        np.testing.assert_allclose(y.numpy(), np.power(x, dtype(e)), rtol=2e-6)


def test_pow_scalar_gradient_float64():
    x = ember.tensor(np.abs(_rng().standard_normal((2, 3))) + 0.5, requires_grad=True)
    for e in (2, 3, 0.5, -1, 2.5):
        assert gradcheck(lambda t, e=e: t**e, (x,))


def test_pow_scalar_overflow_is_silent_inf():
    y = ember.tensor(np.array([1e30, 2.0], np.float32)) ** 2  # filterwarnings=error: no warning
    assert np.isinf(y.numpy()[0]) and y.numpy()[1] == 4.0


def test_pow_general_path_cases_unchanged():
    i = ember.tensor(np.array([1, 2, 3]))
    assert (i**2).dtype == np.int64 and (i**2).tolist() == [1, 4, 9]
    assert (i**0.5).dtype == np.float32  # an int tensor and a float: the default dtype
    with pytest.raises(ValueError, match="negative integer powers"):
        i**-1
    b = ember.tensor(np.array([True, False]))
    assert (b**True).dtype == np.bool_
    x = ember.tensor(np.ones(3, np.float32))
    assert (x ** np.float64(2)).dtype == np.float32  # a NumPy scalar is a Python scalar
    assert (x ** ember.tensor(np.full(3, 2.0))).dtype == np.float64  # two tensors promote


def test_pow_refuses_python_bool_exponent_as_before():
    x = ember.tensor(np.array([2.0, 3.0], np.float32))
    np.testing.assert_array_equal((x**True).numpy(), [2.0, 3.0])  # bool: the general path


# ---- div ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_div_float_operands_match_numpy(dtype):
    rng = _rng()
    a = rng.standard_normal((4, 6)).astype(dtype)
    b = rng.standard_normal((4, 1)).astype(dtype) + 3
    for x, y in ((a, b), (a, a + 5), (a, 2.5), (3, a + 5)):
        ex = ember.tensor(x) if isinstance(x, np.ndarray) else x
        ey = ember.tensor(y) if isinstance(y, np.ndarray) else y
        out = ops.div(ex, ey)  # (number / tensor by `/` is torch's reciprocal times number)
        assert out.dtype == dtype
        np.testing.assert_array_equal(out.numpy(), np.true_divide(x, y).astype(dtype))


def test_div_by_zero_is_silent():
    out = ember.tensor(np.array([1.0, 0.0], np.float32)) / ember.tensor(np.zeros(2, np.float32))
    assert np.isinf(out.numpy()[0]) and np.isnan(out.numpy()[1])


def test_div_promotion_cases_unchanged():
    i = ember.tensor(np.array([1, 2, 3]))
    assert (i / i).dtype == np.float32  # integers divide into the default dtype
    assert (i / 2).dtype == np.float32
    f = ember.tensor(np.ones(3, np.float32))
    assert (f / i).dtype == np.float32
    assert (f / ember.tensor(np.ones(3))).dtype == np.float64
    assert (i / ember.tensor(np.ones(3, np.float32))).dtype == np.float32


def test_div_broadcast_error_names_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4,\)"):
        ember.tensor(np.ones((2, 3), np.float32)) / ember.tensor(np.ones(4, np.float32))


def test_div_gradients_float64():
    rng = _rng()
    a = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((3, 1)) + 3, requires_grad=True)
    assert gradcheck(lambda x, y: x / y, (a, b))
    assert gradcheck(lambda x: 2.0 / (x + 5), (a,))


# ---- indexing by one integer array or bool mask ---------------------------------------------


def _x(shape=(6, 4, 3), dtype=np.float32):
    return _rng().standard_normal(shape).astype(dtype)


@pytest.mark.parametrize(
    "key",
    [
        np.array([0, 5, -1, 2, 2]),
        np.array([[1, 0], [-6, 3]]),
        np.array([], np.int64),
        np.array([3], np.int32),  # not intp: x[index] itself
        np.array([1, 2], np.uint8),
    ],
)
def test_integer_array_index_matches_numpy(key):
    x = _x()
    out = ember.tensor(x)[ember.tensor(key)]
    np.testing.assert_array_equal(out.numpy(), x[key])
    assert out.dtype == x.dtype and out.shape == x[key].shape


@pytest.mark.parametrize(
    "make_mask",
    [
        lambda x: x > 0.3,  # every dim
        lambda x: x[:, :, 0] > 0,  # leading two dims
        lambda x: x[:, 0, 0] > 0,  # rows
        lambda x: np.zeros(x.shape, bool),  # picks nothing
    ],
)
def test_bool_mask_matches_numpy(make_mask):
    x = _x()
    mask = make_mask(x)
    out = ember.tensor(x)[ember.tensor(mask)]
    np.testing.assert_array_equal(out.numpy(), x[mask])
    assert out.shape == x[mask].shape


def test_index_of_a_non_contiguous_tensor():
    x = _x()
    t = ember.tensor(x).transpose(0, 2)  # (3, 4, 6), strided
    xt = x.transpose(2, 1, 0)
    np.testing.assert_array_equal(t[ember.tensor(np.array([2, 0]))].numpy(), xt[[2, 0]])
    mask = xt > 0
    np.testing.assert_array_equal(t[ember.tensor(mask)].numpy(), xt[mask])


def test_index_results_are_copies():
    x = _x()
    t = ember.tensor(x)
    picked = t[ember.tensor(np.array([0, 1]))]
    masked = t[ember.tensor(x > 0)]
    picked.numpy()[...] = 0
    masked.numpy()[...] = 0
    np.testing.assert_array_equal(t.numpy(), x)


def test_index_errors_unchanged():
    t = ember.tensor(_x())
    with pytest.raises(IndexError, match=r"index 6 is out of bounds for axis 0 with size 6"):
        t[ember.tensor(np.array([0, 6]))]
    with pytest.raises(IndexError, match=r"shape \(6, 4, 3\)"):
        t[ember.tensor(np.array([-7]))]
    with pytest.raises(IndexError):
        t[ember.tensor(np.ones((6, 5), bool))]  # a mask of the wrong shape


def test_index_integer_and_bool_tensors():
    i = ember.tensor(np.arange(12).reshape(4, 3))
    picked = i[ember.tensor(np.array([3, 0]))]
    np.testing.assert_array_equal(picked.numpy(), [[9, 10, 11], [0, 1, 2]])
    b = np.array([[True, False, True]] * 4)
    np.testing.assert_array_equal(ember.tensor(b)[ember.tensor(b)].numpy(), np.ones(8, bool))


def test_index_gradients_float64():
    x = ember.tensor(_x((5, 3), np.float64), requires_grad=True)
    key = ember.tensor(np.array([0, 4, 4, -1, 2]))
    mask = ember.tensor(x.numpy() > 0)
    assert gradcheck(lambda t: t[key] * 1.5, (x,))
    assert gradcheck(lambda t: t[mask] * 1.5, (x,))
    assert gradcheck(lambda t: t[ember.tensor(np.array([True, False, True, True, False]))], (x,))


def test_take_helper_leaves_other_indices_to_numpy():
    x = _x()
    assert np.array_equal(ops._take(x, np.array(1)), x[np.array(1)])  # 0-d: NumPy's own
    s = np.float32(2.0).reshape(())
    assert np.array_equal(ops._take(s, np.array(True)), s[np.array(True)])
