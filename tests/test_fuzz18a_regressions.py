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


def test_soft_margin_loss_is_in_the_input_dtype():
    # a float64 target (NumPy's default) with float32 outputs used to give a float64 loss;
    # PyTorch's soft_margin_loss allocates its result like the input
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    y = np.array([1.0, -1.0, -1.0])
    xt = ember.tensor(x, requires_grad=True)
    out = F.soft_margin_loss(xt, ember.tensor(y), reduction="none")
    assert out.dtype == ember.float32
    np.testing.assert_allclose(out.numpy(), np.log1p(np.exp(-x * y)), rtol=1e-6)
    out.sum().backward()
    assert xt.grad.dtype == ember.float32
    np.testing.assert_allclose(xt.grad.numpy(), -y / (1 + np.exp(x * y)), rtol=1e-6)
    # a float64 input keeps float64 with a float32 target
    assert F.soft_margin_loss(ember.tensor(y), ember.tensor(x)).dtype == ember.float64


@pytest.mark.parametrize(
    ("op", "zero_d_input"),
    [
        ("kl_div", False),
        ("kl_div", True),
        ("poisson_nll_loss", False),
        ("poisson_nll_loss", True),
        ("multilabel_soft_margin_loss", False),  # (its input needs a class dim)
    ],
)
def test_a_0d_float64_operand_does_not_widen_a_float32_loss(op, zero_d_input):
    # PyTorch's promotion: these losses combine input and target without broadcasting them
    # first, so a 0-d float64 operand leaves the other's float32 (ember gave float64)
    rng = np.random.default_rng(0)
    nd = rng.random((2, 3)).astype(np.float32) + 0.1
    zd = np.array(0.3)
    x, t = (zd, nd) if zero_d_input else (nd, zd)
    xt = ember.tensor(x, requires_grad=True)
    out = getattr(F, op)(xt, ember.tensor(t), reduction="sum")
    assert out.dtype == ember.float32
    xs, ts = np.broadcast_arrays(x.astype(np.float64), t.astype(np.float64))
    if op == "kl_div":
        ref = (ts * (np.log(ts) - xs)).sum()
    elif op == "poisson_nll_loss":
        ref = (np.exp(xs) - ts * xs).sum()
    else:
        ref = (np.log1p(np.exp(-xs)) * ts + np.log1p(np.exp(xs)) * (1 - ts)).sum(-1).sum() / 3
    np.testing.assert_allclose(out.item(), ref, rtol=1e-5)
    out.backward()
    assert xt.grad.dtype == xt.dtype and xt.grad.shape == xt.shape
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x, requires_grad=True)
    tout = getattr(torch.nn.functional, op)(tx, torch.tensor(t), reduction="sum")
    assert tout.dtype == torch.float32
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-5)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), rtol=1e-5)


def test_gaussian_nll_loss_dtype_follows_pytorchs_promotion():
    # a 0-d float64 target left a float32 prediction's loss float64; PyTorch computes
    # (input - target) first, where a 0-d operand does not widen the other, then with var
    x = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    xt = ember.tensor(x, requires_grad=True)
    var = ember.tensor(np.full(3, 0.5, dtype=np.float32))
    out = F.gaussian_nll_loss(xt, ember.tensor(np.array(0.25)), var, reduction="sum")
    assert out.dtype == ember.float32
    np.testing.assert_allclose(
        out.item(), (0.5 * (np.log(0.5) + (x - 0.25) ** 2 / 0.5)).sum(), 1e-6
    )
    out.backward()
    assert xt.grad.dtype == ember.float32
    np.testing.assert_allclose(xt.grad.numpy(), (x - 0.25) / 0.5, rtol=1e-6)
    # a per-sample float64 var (unsqueezed to (N, 1) first) does widen it, as PyTorch's
    x2 = ember.tensor(np.ones((4, 3), np.float32))
    v2 = ember.tensor(np.full(4, 2.0))
    assert F.gaussian_nll_loss(x2, x2, v2).dtype == ember.float64
    # an integer input with a 0-d float64 target: (input - target) is float64
    out = F.gaussian_nll_loss(
        ember.tensor(np.array([1, 2])), ember.tensor(np.array(0.5)), ember.tensor(np.float32(1.0))
    )
    assert out.dtype == ember.float64
    torch = pytest.importorskip("torch")
    tout = torch.nn.functional.gaussian_nll_loss(
        torch.tensor([1, 2]), torch.tensor(0.5, dtype=torch.float64), torch.tensor(1.0)
    )
    assert tout.dtype == torch.float64
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-12)


def test_pairwise_distance_0d_operand_does_not_widen():
    a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
    out = F.pairwise_distance(ember.tensor(a), ember.tensor(np.array(0.5)))
    assert out.dtype == ember.float32
    np.testing.assert_allclose(out.numpy(), np.linalg.norm(a - 0.5 + 1e-6, axis=-1), rtol=1e-6)
    # two 0-d operands: the wider, as PyTorch
    assert F.pairwise_distance(ember.tensor(np.float32(1)), ember.tensor(np.array(0.5))).dtype == (
        ember.float64
    )
    torch = pytest.importorskip("torch")
    t = torch.nn.functional.pairwise_distance(
        torch.from_numpy(a), torch.tensor(0.5, dtype=torch.float64)
    )
    assert t.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), t.numpy(), rtol=1e-6)


def test_bce_with_logits_loss_has_the_targets_float_dtype():
    # PyTorch builds the loss in place on (1 - target): float64 logits with float32 targets
    # give a float32 loss (ember gave float64); the input's gradient keeps the input's dtype
    x = np.array([0.3, -2.0, 5.0])
    t = np.array([1.0, 0.0, 1.0], dtype=np.float32)
    xt = ember.tensor(x, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(xt, ember.tensor(t), reduction="none")
    assert out.dtype == ember.float32
    ref = np.log1p(np.exp(-x)) + (1 - t) * x
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6)
    out.sum().backward()
    assert xt.grad.dtype == ember.float64
    np.testing.assert_allclose(xt.grad.numpy(), 1 / (1 + np.exp(-x)) - t, rtol=1e-12)
    # float32 logits with float64 targets: float64, as before
    assert F.binary_cross_entropy_with_logits(ember.tensor(t), ember.tensor(x)).dtype == (
        ember.float64
    )
    torch = pytest.importorskip("torch")
    tout = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.tensor(x), torch.tensor(t), reduction="none"
    )
    assert tout.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-6)
