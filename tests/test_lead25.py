"""Lead's fixes in session 25: unbatched nll_loss/cross_entropy with an ignored target and
non-finite logits; ctc_loss's float32 gradient where exp(log_prob) overflows."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("loss", ["nll_loss", "cross_entropy"])
def test_unbatched_ignored_target_with_nonfinite_logits(loss, reduction, bad):
    x = np.array([bad, 0.5, 0.2], dtype=np.float32)
    got = getattr(F, loss)(ember.tensor(x), ember.tensor(np.array(-100)), reduction=reduction)
    assert got.shape == ()
    # nothing is counted: 0 for 'none'/'sum'; 'mean' divides by a zero weight sum (NaN)
    if reduction == "mean":
        assert np.isnan(got.item())
    else:
        assert got.item() == 0.0
    # the same row batched gives the same value
    rows = getattr(F, loss)(
        ember.tensor(x[None]), ember.tensor(np.array([-100])), reduction=reduction
    )
    np.testing.assert_array_equal(got.numpy(), rows.numpy().reshape(()))


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unbatched_matches_batched_row(reduction, dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(7).astype(dtype)
    w = rng.random(7).astype(dtype)
    for loss in (F.nll_loss, F.cross_entropy):
        for t in (3, np.array([3])):
            a = ember.tensor(x, requires_grad=True)
            b = ember.tensor(x[None], requires_grad=True)
            ya = loss(a, ember.tensor(np.array(t)), weight=ember.tensor(w), reduction=reduction)
            yb = loss(b, ember.tensor(np.array([3])), weight=ember.tensor(w), reduction=reduction)
            np.testing.assert_allclose(ya.numpy(), yb.numpy().reshape(ya.shape), rtol=1e-6)
            ya.sum().backward()
            yb.sum().backward()
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy()[0], rtol=1e-6)
            # against the definition: -w[t] * logp[t] (mean divides by w[t])
            logp = x if loss is F.nll_loss else x - np.log(np.exp(x).sum())
            ref = -w[3] * logp[3] / (w[3] if reduction == "mean" else 1)
            np.testing.assert_allclose(ya.numpy().reshape(()), ref, rtol=1e-5)


def test_ctc_float32_gradient_overflows_as_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    T, N, C, S = 12, 3, 6, 4
    lp = (rng.standard_normal((T, N, C)) * 3 + 88).astype(np.float32)
    tg = rng.integers(1, C, (N, S))
    il, tl = np.full(N, T), np.full(N, S)
    a = ember.tensor(lp, requires_grad=True)
    F.ctc_loss(a, ember.tensor(tg), ember.tensor(il), ember.tensor(tl)).backward()
    b = torch.tensor(lp, requires_grad=True)
    torch.nn.functional.ctc_loss(b, torch.tensor(tg), torch.tensor(il), torch.tensor(tl)).backward()
    ga, gb = a.grad.numpy(), b.grad.numpy()
    assert np.isinf(gb).any()
    np.testing.assert_array_equal(np.isinf(ga), np.isinf(gb))
    np.testing.assert_array_equal(np.sign(ga[np.isinf(ga)]), np.sign(gb[np.isinf(gb)]))
    # exp(lp) > FLT_MAX exactly where lp > log(FLT_MAX): those entries' gradients are +inf
    assert np.all(np.isposinf(ga[lp.astype(np.float64) > np.log(np.finfo(np.float32).max)]))


def test_expand_without_repeats_is_writable_as_torch():
    x = ember.arange(12.0).reshape(3, 4)
    x.detach().expand_as(x).add_(1)  # same shape: a plain view, written through
    np.testing.assert_array_equal(x.numpy(), np.arange(12.0).reshape(3, 4) + 1)
    y = ember.arange(4.0)
    y.expand(1, 1, 4).mul_(2)  # only size-1 dims added
    np.testing.assert_array_equal(y.numpy(), np.arange(4.0) * 2)
    with pytest.raises(RuntimeError):  # an entry read more than once stays read-only
        ember.arange(4.0).reshape(1, 4).expand(3, 4).add_(1)


def test_expand_write_through_graph_gradient():
    a = ember.arange(4.0, requires_grad=True)
    b = a * 2
    b.expand(1, 4).mul_(3)  # b := 3 b through the view
    b.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.full(4, 6.0))
    with pytest.raises(RuntimeError):  # a leaf that requires grad refuses, as torch
        ember.arange(4.0, requires_grad=True).expand(1, 4).mul_(3)
