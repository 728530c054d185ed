"""Regressions found by a randomised differential sweep of ember's nn.functional and nn module
layer against PyTorch (float64, outputs and gradients)."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")


def _grads(lib, fn, *arrays):
    xs = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(lib, *xs)
    r = np.random.default_rng(1).standard_normal(tuple(out.shape))
    (out * lib.tensor(r)).sum().backward()
    return out.detach().numpy(), [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9])
def test_norm_gradient_below_order_one_is_zero_at_zero_entries_as_torch(p):
    # d|x|_p/dx has |x|^(p-1) (inf at 0) for p < 1: PyTorch masks it to 0 there; ember's was NaN
    x = np.array([[0.0, 1.0, 2.0], [1e-9, 0.0, 0.0], [0.0, 0.0, 0.0], [-3.0, 0.0, 0.5]])

    def normalize(lib, a):
        return lib.nn.functional.normalize(a, p=p, dim=-1, eps=1e-3)

    def norm(lib, a):
        return a.norm(p, dim=1)

    for fn in (normalize, norm):
        ye, (ge,) = _grads(ember, fn, x)
        yt, (gt,) = _grads(torch, fn, x)
        np.testing.assert_allclose(ye, yt, rtol=1e-12)
        assert not np.isnan(ge).any()
        np.testing.assert_allclose(ge, gt, rtol=1e-10, atol=1e-12)
    # away from the zero entries the gradient is the finite difference's
    row = np.array([[-3.0, 0.7, 0.5]])
    _, (ge,) = _grads(ember, norm, row)
    r = np.random.default_rng(1).standard_normal(1)
    fd = np.empty(3)
    for i in range(3):
        d = np.zeros_like(row)
        d[0, i] = 1e-6
        f = [(np.abs(row + s * d) ** p).sum() ** (1 / p) for s in (1, -1)]
        fd[i] = r[0] * (f[0] - f[1]) / 2e-6
    np.testing.assert_allclose(ge[0], fd, rtol=1e-6)


def test_soft_margin_loss_refuses_a_target_that_requires_grad_as_torch():
    # PyTorch's soft_margin_loss has no target gradient and says so up front
    x = np.array([0.5, -1.0, 2.0])
    t = np.array([1.0, -1.0, -1.0])
    for lib in (torch, ember):
        tt = lib.tensor(t.copy(), requires_grad=True)
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument"):
            lib.nn.functional.soft_margin_loss(lib.tensor(x), tt)
        with pytest.raises(RuntimeError, match="not differentiable"):
            lib.nn.SoftMarginLoss()(lib.tensor(x), tt)
    with torch.no_grad():
        want = torch.nn.functional.soft_margin_loss(
            torch.tensor(x), torch.tensor(t, requires_grad=True)
        )
    with ember.no_grad():
        got = F.soft_margin_loss(ember.tensor(x), ember.tensor(t, requires_grad=True))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-15)
    np.testing.assert_allclose(got.numpy(), np.log1p(np.exp(-x * t)).mean(), rtol=1e-15)


def test_embedding_bag_of_empty_2d_bags_is_refused_as_torch():
    w = ember.tensor(np.ones((4, 2)))
    with pytest.raises(RuntimeError):
        torch.nn.functional.embedding_bag(torch.zeros((3, 0), dtype=torch.int64), torch.ones(4, 2))
    with pytest.raises(RuntimeError, match="at least one index"):
        F.embedding_bag(ember.tensor(np.zeros((3, 0), np.int64)), w)
