"""Regressions found by fuzzing the training-run paths (optimisers, lr schedulers, losses,
nn.init, clip_grad) against PyTorch and with bad input."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
def test_binary_cross_entropy_refuses_a_target_outside_0_1(bad):
    # it used to compute a (negative or NaN) loss silently; PyTorch raises
    x = ember.tensor([0.5, 0.25])
    with pytest.raises(ValueError, match="target should be between 0 and 1"):
        F.binary_cross_entropy(x, ember.tensor([bad, 0.0]))
    with pytest.raises(ValueError, match="target should be between 0 and 1"):
        ember.nn.BCELoss()(x, ember.tensor([0.0, bad]))
    # the ends themselves are fine: -(log 0.5 + log 0.75) / 2
    out = F.binary_cross_entropy(x, ember.tensor([1.0, 0.0]))
    np.testing.assert_allclose(out.item(), -(np.log(0.5) + np.log(0.75)) / 2, rtol=1e-6)


def test_binary_cross_entropy_target_check_matches_torch():
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match="target should be between 0 and 1"):
        torch.nn.functional.binary_cross_entropy(torch.tensor([0.5]), torch.tensor([1.5]))
    with pytest.raises(ValueError, match="target should be between 0 and 1"):
        F.binary_cross_entropy(ember.tensor([0.5]), ember.tensor([1.5]))
