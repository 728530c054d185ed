"""A uint8 index Tensor is a mask, as torch reads it (with a deprecation warning), not positions."""

import numpy as np
import pytest

import ember

X = np.arange(20.0).reshape(4, 5)
MASK = [1, 0, 3, 0]  # nonzero is True


def test_getitem_reads_uint8_as_mask():
    x = ember.tensor(X)
    with pytest.warns(UserWarning, match="uint8"):
        out = x[ember.tensor(MASK, dtype=ember.uint8)]
    np.testing.assert_array_equal(out.numpy(), X[np.array(MASK) != 0])


def test_mask_inside_tuple_and_0d():
    x = ember.tensor(X)
    with pytest.warns(UserWarning):
        np.testing.assert_array_equal(
            x[0, ember.tensor([1, 0, 0, 2, 0], dtype=ember.uint8)].numpy(), [0.0, 3.0]
        )
        assert x[ember.tensor(1, dtype=ember.uint8)].shape == (1, 4, 5)
        assert x[ember.tensor(0, dtype=ember.uint8), 1].shape == (0, 5)


def test_setitem_and_index_put_read_uint8_as_mask():
    x = ember.tensor(X.copy())
    with pytest.warns(UserWarning):
        x[ember.tensor(MASK, dtype=ember.uint8)] = -1.0
    want = X.copy()
    want[np.array(MASK) != 0] = -1.0
    np.testing.assert_array_equal(x.numpy(), want)
    with pytest.warns(UserWarning):
        y = ember.index_put(
            ember.tensor(X),
            (ember.tensor(MASK, dtype=ember.uint8),),
            ember.tensor(7.0, dtype=ember.float64),
        )
    want = X.copy()
    want[np.array(MASK) != 0] = 7.0
    np.testing.assert_array_equal(y.numpy(), want)


def test_gradient_through_uint8_mask():
    x = ember.tensor(X, requires_grad=True)
    with pytest.warns(UserWarning):
        x[ember.tensor(MASK, dtype=ember.uint8)].sum().backward()
    np.testing.assert_array_equal(
        x.grad.numpy(), np.repeat((np.array(MASK) != 0)[:, None], 5, 1) * 1.0
    )


def test_int_indices_unchanged():
    x = ember.tensor(X)
    np.testing.assert_array_equal(x[ember.tensor([1, 0, 3])].numpy(), X[[1, 0, 3]])
    np.testing.assert_array_equal(
        x[ember.tensor([1, 0, 3], dtype=ember.int32)].numpy(), X[[1, 0, 3]]
    )


def test_matches_torch():
    torch = pytest.importorskip("torch")
    x, t = ember.tensor(X), torch.tensor(X)
    for key in ([1, 0, 1, 1], [0, 0, 0, 0]):
        with pytest.warns(UserWarning):
            a = x[ember.tensor(key, dtype=ember.uint8)].numpy()
            b = t[torch.tensor(key, dtype=torch.uint8)].numpy()
        np.testing.assert_array_equal(a, b)
