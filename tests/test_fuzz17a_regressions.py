"""Regressions found by fuzzing the nnspeed17 paths (grid_sample, ctc_loss, grouped-query
sdpa, max_pool1d) against PyTorch and with bad input."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F


def test_sdpa_gqa_zero_key_heads_is_a_clear_error():
    # enable_gqa with 0 key / value heads used to raise ZeroDivisionError (hq % 0)
    rng = np.random.default_rng(0)
    q = ember.tensor(rng.standard_normal((1, 4, 1, 4)))
    kv = ember.tensor(rng.standard_normal((1, 0, 5, 4)))
    with pytest.raises(ValueError, match=r"heads \(dim -3\) must divide"):
        F.scaled_dot_product_attention(q, kv, kv, enable_gqa=True)
