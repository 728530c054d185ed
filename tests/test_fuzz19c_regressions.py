"""Regressions found by the fuzz19c differential hunt against torch."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "shape, normalized",
    [((0,), (0,)), ((3, 3, 0), (3, 0)), ((3, 0, 4), (0, 4)), ((0, 6, 2), (0, 6, 2))],
)
@pytest.mark.parametrize("affine", [False, True])
def test_rms_norm_empty_normalized_shape(shape, normalized, affine):
    # Tensor.size is a method (always truthy), so empty inputs reached the fused kernel's
    # reshape(-1, 0) and raised; torch returns an empty result and empty gradients.
    x = np.ones(shape)
    w = np.ones(normalized) if affine else None
    ex = ember.tensor(x, requires_grad=True)
    ew = None if w is None else ember.tensor(w, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    tw = None if w is None else torch.tensor(w, requires_grad=True)
    ey = F.rms_norm(ex, normalized, ew)
    ty = torch.nn.functional.rms_norm(tx, normalized, tw)
    assert ey.shape == tuple(ty.shape)
    ey.sum().backward()
    ty.sum().backward()
    assert ex.grad.shape == tuple(tx.grad.shape)
    if affine:
        np.testing.assert_array_equal(ew.grad.numpy(), tw.grad.numpy())
