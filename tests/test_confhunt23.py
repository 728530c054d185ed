"""Pins from the confhunt23 configuration sweep (MultiheadAttention, Transformer layers,
EmbeddingBag, ConvTranspose, padded convs, interpolate, losses) against PyTorch."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def test_antialias_resize_to_width_one_is_separable():
    # torch 2.13 collapses the rows to the first when an antialiased resize makes the width 1
    # (a (2, 1) -> (3, 1) resize gives a constant column); ours stays separable, so it equals
    # torch's own result resized height first, then width (where torch is right).
    x = np.random.default_rng(0).standard_normal((1, 2, 2, 5))
    for mode in ("bilinear", "bicubic"):
        kw = dict(mode=mode, antialias=True, align_corners=False)
        got = F.interpolate(ember.tensor(x), size=(3, 1), **kw).numpy()
        want = TF.interpolate(TF.interpolate(torch.tensor(x), size=(3, 5), **kw), size=(3, 1), **kw)
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_multihead_attention_configs_match_torch(seed):
    # A few of the sweep's configurations: kdim/vdim, bias_kv, zero_attn, float key padding
    # mask with a 3-D float attn_mask, per-head weights; values and every gradient in float64.
    r = np.random.default_rng(seed)
    H, B, L, S = 2, 2, 3, 4
    kw = dict(
        embed_dim=4,
        num_heads=H,
        batch_first=bool(seed % 2),
        add_bias_kv=seed % 3 == 0,
        add_zero_attn=seed % 3 == 1,
        bias=seed != 4,
        kdim=3,
        vdim=5,
    )
    torch.manual_seed(seed)
    tm = torch.nn.MultiheadAttention(**kw).double()
    em = nn.MultiheadAttention(**kw).double()
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})

    def lay(n, e):
        return (B, n, e) if kw["batch_first"] else (n, B, e)

    q, k, v = (
        r.standard_normal(lay(L, 4)),
        r.standard_normal(lay(S, 3)),
        r.standard_normal(lay(S, 5)),
    )
    kpm = np.where(r.random((B, S)) < 0.3, -np.inf, r.standard_normal((B, S)))
    kpm[:, 0] = 0.0
    mask = r.standard_normal((B * H, L, S))
    fkw = dict(need_weights=True, average_attn_weights=seed < 3)
    ti = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    ei = [ember.tensor(a, requires_grad=True) for a in (q, k, v)]
    to, tw = tm(*ti, key_padding_mask=torch.tensor(kpm), attn_mask=torch.tensor(mask), **fkw)
    eo, ew = em(*ei, key_padding_mask=ember.tensor(kpm), attn_mask=ember.tensor(mask), **fkw)
    np.testing.assert_allclose(eo.numpy(), to.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ew.numpy(), tw.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = r.standard_normal(to.shape)
    to.backward(torch.tensor(g))
    eo.backward(ember.tensor(g))
    for a, b in zip(ti, ei):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-9, atol=1e-12)
    ep = dict(em.named_parameters())
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(ep[name].grad.numpy(), p.grad.numpy(), rtol=1e-9, atol=1e-12)
