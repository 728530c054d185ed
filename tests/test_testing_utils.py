"""ember.testing (assert_close, make_tensor) and the array constructors asarray, frombuffer,
empty_strided."""

import array

import numpy as np
import pytest

import ember
from ember.testing import assert_close, make_tensor

T = ember.tensor


def test_assert_close_passes_within_dtype_tolerances():
    assert_close(T([1.0, 2.0]), T([1.0 + 1e-6, 2.0]))  # float32: atol 1e-5
    assert_close(T([1.0], dtype=ember.float64), T([1.0 + 1e-8], dtype=ember.float64))
    assert_close(T([np.inf, -np.inf]), T([np.inf, -np.inf]))
    assert_close(T([np.nan]), T([np.nan]), equal_nan=True)
    assert_close(T([1.0]), T([1.4]), rtol=0.5, atol=0.0)
    assert_close(np.ones(3), T(np.ones(3)))  # NumPy arrays count as tensors
    assert_close([T([1.0]), {"a": T(2.0), "b": (1, 2.0)}], [T([1.0]), {"a": T(2.0), "b": (1, 2.0)}])
    assert_close(T([1.0, 2.0]), T([1.0, 2.0], dtype=ember.float64), check_dtype=False)


@pytest.mark.parametrize(
    "actual,expected,pattern",
    [
        (T([1.0, 2.0, 3.0]), T([1.0, 2.1, 3.5]), r"Mismatched elements: 2 / 3 \(66.7%\)"),
        (T([1.0, 2.0]), T([1.0, 2.0], dtype=ember.float64), "'dtype' do not match"),
        (T([1.0, 2.0]), T([1.0, 2.0, 3.0]), "'shape' do not match"),
        (T([1, 2]), T([1, 3]), "not equal"),
        (T([np.nan]), T([np.nan]), "not close"),
        (T([np.inf]), T([-np.inf]), "not close"),
        ({"a": T(2.0)}, {"a": T(3.0)}, r"item \['a'\]"),
        ({"a": T(2.0)}, {"b": T(2.0)}, "keys"),
        ([T(1.0)], [T(1.0), T(2.0)], "length"),
        (1.0, 2.0, "Scalars are not close"),
        (1, 2, "Scalars are not equal"),
    ],
)
def test_assert_close_failures(actual, expected, pattern):
    with pytest.raises(AssertionError, match=pattern):
        assert_close(actual, expected)


def test_assert_close_messages_and_argument_errors():
    with pytest.raises(AssertionError, match="^custom$"):
        assert_close(T([1.0]), T([1.5]), msg="custom")
    with pytest.raises(AssertionError, match="^X: Tensor-likes"):
        assert_close(T([1.0]), T([1.5]), msg=lambda m: "X: " + m)
    with pytest.raises(AssertionError, match=r"Greatest absolute difference: 0.5 at index \(0,\)"):
        assert_close(T([1.0]), T([1.5]))
    with pytest.raises(ValueError, match="atol"):
        assert_close(T([1.0]), T([1.0]), rtol=0.1)
    with pytest.raises(TypeError, match="No comparison pair"):
        assert_close(T([1.0]), [1.0])
    with pytest.raises(AssertionError, match="stride"):
        x = T([[1.0, 2.0], [3.0, 4.0]])
        assert_close(x.t().contiguous(), x.t(), check_stride=True)


def test_assert_close_agrees_with_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        for scale in (1e-8, 1e-6, 1e-5, 1e-3):
            a = rng.standard_normal(50).astype(dtype)
            b = (a + scale * rng.standard_normal(50)).astype(dtype)
            try:
                torch.testing.assert_close(torch.tensor(a), torch.tensor(b))
                torch_ok = True
            except AssertionError:
                torch_ok = False
            try:
                assert_close(T(a), T(b))
                ember_ok = True
            except AssertionError:
                ember_ok = False
            assert ember_ok == torch_ok, (dtype, scale)


def test_make_tensor():
    x = make_tensor(3, 4, dtype=ember.float32)
    assert x.shape == (3, 4) and x.dtype == ember.float32
    assert (x.numpy() >= -9).all() and (x.numpy() < 9).all()
    i = make_tensor((100,), dtype=ember.int64, low=0, high=3)
    assert set(np.unique(i.numpy())) <= {0, 1, 2}
    z = make_tensor(1000, dtype=ember.float64, low=-1, high=1, exclude_zero=True)
    assert (z.numpy() != 0).all()
    g = make_tensor(2, 3, dtype=ember.float64, requires_grad=True, noncontiguous=True)
    assert g.requires_grad and not g.numpy().flags.c_contiguous
    with pytest.raises(ValueError, match="low"):
        make_tensor(2, dtype=ember.float32, low=3, high=1)


def test_asarray_frombuffer_empty_strided():
    a = np.arange(4.0)
    t = ember.asarray(a)
    a[0] = 9
    assert t[0].item() == 9  # shared
    c = ember.asarray(a, copy=True)
    a[1] = 7
    assert c[1].item() == 1  # copied
    assert ember.asarray([1, 2]).dtype == ember.int64
    assert ember.asarray(a, dtype=ember.float32).dtype == ember.float32
    x = ember.ones(2)
    assert ember.asarray(x) is x and ember.asarray(x, copy=True) is not x
    assert ember.asarray([1.0], requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="copy=False"):
        ember.asarray([1.0], copy=False)
    with pytest.raises(ValueError, match="copy=False"):
        ember.asarray(a, dtype=ember.float32, copy=False)
    f = ember.frombuffer(array.array("f", [1.0, 2.0, 3.0]), dtype=ember.float32, count=2, offset=4)
    np.testing.assert_array_equal(f.numpy(), [2.0, 3.0])
    e = ember.empty_strided((2, 3), (1, 2))
    assert e.shape == (2, 3) and e.stride() == (1, 2)
    assert ember.empty_strided((0, 3), (3, 1)).shape == (0, 3)
    with pytest.raises(ValueError, match="one length"):
        ember.empty_strided((2, 3), (1,))
