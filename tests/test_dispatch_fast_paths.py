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


@pytest.fixture(autouse=True)
def _fast_paths_at_any_size(monkeypatch):
    """The tests' small tensors take the indexing fast paths too (they start at sizes where
    they beat x[index]; test_take_thresholds checks the real sizes)."""
    monkeypatch.setattr(ops, "_TAKE_MIN", 1)
    monkeypatch.setattr(ops, "_COMPRESS_MIN", 1)


def test_take_thresholds(monkeypatch):
    monkeypatch.setattr(ops, "_TAKE_MIN", 1 << 17)
    monkeypatch.setattr(ops, "_COMPRESS_MIN", 4096)
    small = _x((8, 4))
    assert ops._take(small, np.array([1, 2])) is None
    assert ops._take(small, small > 0) is None
    big = _x((256, 1024))
    key = np.array([3, 255, 0] * 50)
    np.testing.assert_array_equal(ops._take(big, key), big[key])
    np.testing.assert_array_equal(ops._take(big, big > 0.5), big[big > 0.5])


@pytest.mark.parametrize(
    "key",
    [
        np.array([0, 5, -1, 2, 2]),
        np.array([[1, 0], [-6, 3]]),
        np.array([], np.int64),
        np.array([3], np.int32),  # not intp: x[index] itself
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
    assert ops._take(x, np.array(1)) is None  # 0-d: x[index] itself (a view NumPy makes)
    assert ops._take(np.float32(2.0).reshape(()), np.array([True])) is None  # 0-d x
    assert ops._take(x, np.array([1], np.int32)) is None
    assert ops._take(x, np.ones((6, 5), bool)) is None  # not x's leading dims
    np.testing.assert_array_equal(ember.tensor(x)[ember.tensor(np.array(2))].numpy(), x[2])
    base = ember.tensor(x)
    # a 0-d integer index Tensor: torch's select, a view that writes through (indexfuzz44)
    base[ember.tensor(np.array(2))].numpy()[...] = 0
    expect = x.copy()
    expect[2] = 0
    np.testing.assert_array_equal(base.numpy(), expect)


# ---- ember.tensor of a NumPy array ----------------------------------------------------------


@pytest.mark.parametrize(
    "a",
    [
        np.arange(6, dtype=np.int64).reshape(2, 3),
        np.arange(6, dtype=np.uint8),
        np.array([[True, False]]),
        np.ones((2, 3), np.float64).T,  # F-ordered: kept as NumPy's copy keeps it
        np.array(1.5, np.float32),  # 0-d
        np.array([1 + 2j], np.complex64),
        np.arange(4, dtype=">i4"),  # big-endian: the general path makes it native
    ],
)
def test_tensor_of_array_is_a_copy_of_its_dtype(a):
    t = ember.tensor(a)
    want = a.astype(a.dtype.newbyteorder("=")) if not a.dtype.isnative else a
    assert t.dtype == want.dtype and t.shape == a.shape
    np.testing.assert_array_equal(t.numpy(), a)
    assert not np.shares_memory(t.numpy(), a)
    assert t.numpy().flags.f_contiguous == a.flags.f_contiguous
    assert t.requires_grad is False and t.grad is None and t.is_leaf


def test_tensor_of_array_requires_grad():
    t = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    assert t.requires_grad and t.is_leaf
    (t * 2).sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [2, 2, 2])
    with pytest.raises(RuntimeError, match="only floating point tensors can require gradients"):
        ember.tensor(np.arange(3), requires_grad=True)


def test_tensor_of_array_with_dtype_or_odd_input_takes_general_path():
    assert ember.tensor(np.arange(3), dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="not <U1"):
        ember.tensor(np.array(["a"]))


# ---- broadcast arithmetic with a row or column (the C++ path, its plan cached by shapes) ------


@pytest.mark.parametrize(
    "big, small",
    [((64, 512), (512,)), ((64, 512), (64, 1)), ((4, 16, 512), (16, 1)), ((4, 16, 512), (1, 512))],
)
def test_row_or_column_broadcast_matches_numpy_on_repeat(big, small):
    rng = _rng()
    a = rng.standard_normal(big).astype(np.float32)
    b = rng.standard_normal(small).astype(np.float32) + 3
    ea, eb = ember.tensor(a), ember.tensor(b)
    for _ in range(2):  # the second call reads the cached plan
        np.testing.assert_array_equal((ea + eb).numpy(), a + b)
        np.testing.assert_array_equal((ea / eb).numpy(), a / b)
        np.testing.assert_array_equal((eb - ea).numpy(), b - a)
    assert ops._row_or_col(big, (3,) + small) is None  # a shape that does not broadcast so
