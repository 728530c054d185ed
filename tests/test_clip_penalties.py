"""clip_grad_norm_ / clip_grad_value_ against PyTorch and by hand; L1/L2 penalties."""

import math

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn.utils import clip_grad_norm_, clip_grad_value_, l1_penalty, l2_penalty


def _params(seed=0, scale=1.0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    ps = [nn.Parameter(rng.standard_normal(s).astype(dtype)) for s in [(3, 4), (5,), (2, 2, 2)]]
    for p in ps:
        p.grad = ember.tensor((rng.standard_normal(p.shape) * scale).astype(dtype))
    return ps


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_by_hand(max_norm, norm_type):
    ps = _params(dtype=np.float64)
    flat = np.concatenate([p.grad.numpy().ravel() for p in ps])
    total = (
        np.abs(flat).max()
        if math.isinf(norm_type)
        else np.sum(np.abs(flat) ** norm_type) ** (1 / norm_type)
    )
    before = [p.grad.numpy().copy() for p in ps]
    out = clip_grad_norm_(ps, max_norm, norm_type)
    assert isinstance(out, ember.Tensor)
    np.testing.assert_allclose(out.item(), total, rtol=1e-12)
    coef = min(1.0, max_norm / (total + 1e-6))
    for p, b in zip(ps, before):
        np.testing.assert_allclose(p.grad.numpy(), b * coef, rtol=1e-12)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf])
def test_clip_grad_norm_matches_pytorch(norm_type):
    torch = pytest.importorskip("torch")
    ps = _params(1, scale=3.0)
    tps = [torch.tensor(p.numpy(), requires_grad=True) for p in ps]
    for p, t in zip(ps, tps):
        t.grad = torch.tensor(p.grad.numpy())
    out = clip_grad_norm_(ps, 1.0, norm_type)
    tout = torch.nn.utils.clip_grad_norm_(tps, 1.0, norm_type)
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-6)
    for p, t in zip(ps, tps):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_clip_grad_value_and_skips_missing_grads():
    ps = _params(2, scale=2.0)
    ps.append(nn.Parameter(np.zeros(2, np.float32)))  # no grad
    before = [p.grad.numpy().copy() for p in ps[:3]]
    clip_grad_value_(ps, 0.5)
    for p, b in zip(ps, before):
        np.testing.assert_array_equal(p.grad.numpy(), np.clip(b, -0.5, 0.5))
    assert clip_grad_norm_(ps[3], 1.0).item() == 0.0  # a single tensor without grad


def test_clip_refuses_bad_arguments():
    ps = _params()
    with pytest.raises(ValueError, match="max_norm"):
        clip_grad_norm_(ps, -1.0)
    with pytest.raises(ValueError, match="norm_type"):
        clip_grad_norm_(ps, 1.0, norm_type=float("nan"))  # 0 and p < 0 are vector_norm's
    with pytest.raises(ValueError, match="clip_value"):
        clip_grad_value_(ps, -0.1)
    with pytest.raises(TypeError):
        clip_grad_norm_([np.ones(3)], 1.0)
    ps[0].grad.data[0, 0] = np.nan
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_(ps, 1.0, error_if_nonfinite=True)


def test_penalties_values_and_gradients():
    ps = _params(3, dtype=np.float64)
    for p in ps:
        p.grad = None
    w = np.concatenate([p.numpy().ravel() for p in ps])
    l1, l2 = l1_penalty(ps), l2_penalty(iter(ps))
    np.testing.assert_allclose(l1.item(), np.abs(w).sum(), rtol=1e-12)
    np.testing.assert_allclose(l2.item(), (w * w).sum(), rtol=1e-12)
    (l1 + 0.5 * l2).backward()
    for p in ps:
        np.testing.assert_allclose(p.grad.numpy(), np.sign(p.numpy()) + p.numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="empty"):
        l2_penalty([])
    with pytest.raises(TypeError):
        l1_penalty([np.ones(2)])


def test_l2_penalty_equals_sgd_weight_decay():
    rng = np.random.default_rng(4)
    w0, g = rng.standard_normal(5), rng.standard_normal(5)
    a, b = nn.Parameter(w0.copy()), nn.Parameter(w0.copy())
    ((a * ember.tensor(g)).sum() + 0.1 / 2 * l2_penalty([a])).backward()
    ember.optim.SGD([a], lr=0.1).step()
    b.grad = ember.tensor(g)
    ember.optim.SGD([b], lr=0.1, weight_decay=0.1).step()
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12)
