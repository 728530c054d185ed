"""torch.nn.attention.bias: causal masks for queries and keys of different lengths."""

import numpy as np
import pytest

import ember
from ember.nn import functional as F
from ember.nn.attention.bias import CausalBias, CausalVariant, causal_lower_right, causal_upper_left


@pytest.mark.parametrize("lq, lk", [(4, 6), (6, 4), (5, 5), (1, 7)])
def test_masks_are_the_aligned_triangles(lq, lk):
    q, k = np.arange(lq)[:, None], np.arange(lk)[None, :]
    np.testing.assert_array_equal(causal_upper_left(lq, lk)._materialize().numpy(), k <= q)
    np.testing.assert_array_equal(
        causal_lower_right(lq, lk)._materialize().numpy(), k <= q + lk - lq
    )


@pytest.mark.parametrize("lq, lk", [(4, 6), (6, 6), (3, 8)])
@pytest.mark.parametrize("make", [causal_upper_left, causal_lower_right])
def test_attention_with_a_causal_bias_matches_torch(make, lq, lk):
    torch = pytest.importorskip("torch")
    from torch.nn.attention import bias as tbias

    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal((2, 3, n, 8)) for n in (lq, lk, lk)]
    outs, grads = [], []
    for lib, mask in ((ember, make(lq, lk)), (torch, getattr(tbias, make.__name__)(lq, lk))):
        q, k, v = (lib.tensor(a, requires_grad=True) for a in arrays)
        out = lib.nn.functional.scaled_dot_product_attention(q, k, v, mask)
        (out * lib.tensor(np.cos(np.arange(out.numel())).reshape(out.shape))).sum().backward()
        outs.append(out.detach().numpy())
        grads.append([t.grad.numpy() for t in (q, k, v)])
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10, atol=1e-12)
    for mine, theirs in zip(*grads):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)


def test_causal_bias_errors():
    q = k = v = ember.randn(1, 4, 8)
    with pytest.raises(ValueError, match="causal=True"):
        F.scaled_dot_product_attention(q, k, v, causal_upper_left(4, 4), is_causal=True)
    with pytest.raises(ValueError, match="CausalBias of shape"):
        F.scaled_dot_product_attention(q, k, v, causal_lower_right(3, 4))
    with pytest.raises(TypeError, match="CausalVariant"):
        CausalBias(1, 2, 3)
    with pytest.raises(ValueError, match="seq_len_q, seq_len_kv"):
        causal_upper_left(3)
    assert causal_lower_right(2, 3).variant is CausalVariant.LOWER_RIGHT
