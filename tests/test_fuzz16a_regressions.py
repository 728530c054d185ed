"""Regressions found by differential fuzzing against torch (fuzz16a): grid_sample with
non-finite grids, ctc_loss with an empty input and an impossible target, grouped-query
scaled_dot_product_attention with an empty batch."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_grid_sample_non_finite_grid_as_torch(nd, mode, padding_mode, align_corners, bad):
    # torch clips a NaN coordinate to 0 in 2-D and to size - 1 in 3-D (border / reflection),
    # and its 3-D kernel skips taps outside (zeros) where the 2-D one adds 0 * NaN
    x = torch.arange(1.0, 3.0**nd + 1, dtype=torch.float64).reshape(1, 1, *([3] * nd))
    pt = [bad, 0.3, -0.2][:nd]
    g = torch.tensor(pt, dtype=torch.float64).reshape(1, *([1] * nd), nd)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    want = TF.grid_sample(x, g, **kw).numpy()
    got = F.grid_sample(ember.tensor(x.numpy()), ember.tensor(g.numpy()), **kw).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("concat", [False, True])
def test_ctc_loss_empty_input_impossible_target_gradient(reduction, concat):
    # an input length of 0 with a target of 4: loss inf, gradient 0 (was NaN at step 0, the
    # kernel ran the impossible target over one step and the masked loss sent back 0 * NaN)
    gen = torch.Generator().manual_seed(0)
    lp = torch.randn(6, 2, 3, dtype=torch.float64, generator=gen).log_softmax(2)
    lp.requires_grad_(True)
    tl = torch.tensor([3, 4])
    il = torch.tensor([6, 0])
    tg = (
        torch.tensor([1, 2, 1, 1, 1, 2, 2])
        if concat
        else torch.tensor([[1, 2, 1, 0], [1, 1, 2, 2]])
    )
    want = TF.ctc_loss(lp, tg, il, tl, reduction=reduction)
    want.sum().backward()
    lpe = ember.tensor(lp.detach().numpy(), requires_grad=True)
    got = F.ctc_loss(
        lpe,
        ember.tensor(tg.numpy()),
        ember.tensor(il.numpy()),
        ember.tensor(tl.numpy()),
        reduction=reduction,
    )
    got.sum().backward()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(lpe.grad.numpy(), lp.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert not np.isnan(lpe.grad.numpy()).any()


@pytest.mark.parametrize("hq,hk", [(2, 1), (4, 2)])
def test_sdpa_gqa_empty_batch(hq, hk):
    # B = 0 with enable_gqa: torch's empty result, not "kv_group must divide q's 0 heads"
    q = torch.randn(0, hq, 3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(0, hk, 5, 4, dtype=torch.float64, requires_grad=True)
    v = torch.randn(0, hk, 5, 2, dtype=torch.float64, requires_grad=True)
    want = TF.scaled_dot_product_attention(q, k, v, enable_gqa=True)
    qe, ke, ve = (ember.tensor(t.detach().numpy(), requires_grad=True) for t in (q, k, v))
    got = F.scaled_dot_product_attention(qe, ke, ve, enable_gqa=True)
    assert tuple(got.shape) == tuple(want.shape)
    got.sum().backward()
    assert tuple(ke.grad.shape) == tuple(k.shape) and tuple(ve.grad.shape) == tuple(v.shape)


@pytest.mark.parametrize("wdt", [ember.int64, ember.int32, ember.bool, ember.complex64])
def test_embedding_bag_refuses_a_weight_that_is_not_real_floating(wdt):
    weight = ember.ones(3, 2, dtype=wdt)
    with pytest.raises(TypeError, match="weight must be a floating-point tensor"):
        F.embedding_bag(ember.tensor([0, 1]), weight, ember.tensor([0]))


def test_embedding_bag_include_last_offset_needs_an_offset():
    with pytest.raises(RuntimeError, match="number of offset should be at least 1"):
        F.embedding_bag(
            ember.tensor([0, 1]),
            ember.randn(3, 2),
            ember.tensor([], dtype=ember.int64),
            include_last_offset=True,
        )
