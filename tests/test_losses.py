"""cross_entropy, nll_loss, mse_loss: every option against NumPy and PyTorch; bad targets."""

import numpy as np
import pytest
import reference as ref

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F

CE_CASES = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(weight=True),
    dict(ignore_index=1),
    dict(weight=True, ignore_index=2, reduction="mean"),
    dict(label_smoothing=0.1),
    dict(label_smoothing=0.2, weight=True, ignore_index=0),
    dict(label_smoothing=0.1, reduction="sum"),
    dict(label_smoothing=0.1, reduction="none", ignore_index=1),
]
SHAPES = [((6, 4), (6,)), ((3, 4, 5), (3, 5)), ((4,), ())]


def _ce_args(case, shape, tshape, dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    c = shape[1] if len(shape) > 1 else shape[0]
    t = rng.integers(0, c, tshape)
    kw = dict(case)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, c)
    return x, t, kw


@pytest.mark.parametrize("shape,tshape", SHAPES, ids=str)
@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_cross_entropy_matches_reference_and_gradcheck(case, shape, tshape):
    x, t, kw = _ce_args(case, shape, tshape)
    out = F.cross_entropy(ember.tensor(x), t, **kw)
    np.testing.assert_allclose(out.numpy(), ref.cross_entropy(x, t, **kw), rtol=1e-10)
    if np.all(t == kw.get("ignore_index", -100)):
        return  # every target ignored: the mean is NaN, as PyTorch's; no gradient to check
    xt = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: F.cross_entropy(a, t, **kw), (xt,))


@pytest.mark.parametrize("shape,tshape", SHAPES, ids=str)
@pytest.mark.parametrize("case", CE_CASES, ids=str)
def test_cross_entropy_matches_pytorch(case, shape, tshape):
    torch = pytest.importorskip("torch")
    x, t, kw = _ce_args(case, shape, tshape, np.float32, seed=1)
    tkw = dict(kw)
    if "weight" in kw:
        kw["weight"] = kw["weight"].astype(np.float32)
        tkw["weight"] = torch.from_numpy(kw["weight"])
    if np.all(t == kw.get("ignore_index", -100)) and kw.get("reduction", "mean") == "mean":
        t = np.asarray((t + 1) % x.shape[-1 if x.ndim == 1 else 1])  # not all ignored
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    out = F.cross_entropy(xe, t, **kw)
    tout = torch.nn.functional.cross_entropy(xt, torch.from_numpy(t), **tkw)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    g = np.random.default_rng(2).standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("smoothing", [0.0, 0.3])
def test_cross_entropy_probability_targets(smoothing):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((5, 4))
    p = rng.dirichlet(np.ones(4), 5)
    out = F.cross_entropy(ember.tensor(x), ember.tensor(p), label_smoothing=smoothing)
    expected = ref.cross_entropy(x, p, label_smoothing=smoothing)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-10)
    assert gradcheck(
        lambda a: F.cross_entropy(a, p, label_smoothing=smoothing),
        (ember.tensor(x, requires_grad=True),),
    )
    torch = pytest.importorskip("torch")
    tout = torch.nn.functional.cross_entropy(
        torch.from_numpy(x), torch.from_numpy(p), label_smoothing=smoothing
    )
    np.testing.assert_allclose(out.numpy(), tout.numpy(), rtol=1e-10)


def test_cross_entropy_is_finite_for_huge_logits():
    x = ember.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]], requires_grad=True)
    loss = F.cross_entropy(x, np.array([0, 1]))
    loss.backward()
    assert np.isfinite(loss.item()) and np.all(np.isfinite(x.grad.numpy()))
    np.testing.assert_allclose(loss.item(), 1e4, rtol=1e-6)


def test_nll_loss_with_weight_and_ignore_index():
    rng = np.random.default_rng(4)
    logp = ref.log_softmax(rng.standard_normal((7, 3)), 1)
    t = np.array([0, 1, 2, 1, -100, 0, 2])
    w = np.array([1.0, 2.0, 0.5])
    for red in ("none", "mean", "sum"):
        out = F.nll_loss(ember.tensor(logp), t, weight=w, reduction=red)
        np.testing.assert_allclose(out.numpy(), ref.nll_loss(logp, t, w, -100, red), rtol=1e-12)
    assert gradcheck(
        lambda a: F.nll_loss(a, t, weight=w), (ember.tensor(logp, requires_grad=True),)
    )


@pytest.mark.parametrize(
    "call,exc,match",
    [
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 3])), ValueError, "out of bounds"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, -1])), ValueError, "out of bounds"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2])), ValueError, "target"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.zeros((2, 4))), ValueError, "probability"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), reduction="avg"), ValueError,
         "reduction"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), label_smoothing=1.5),
         ValueError, "label_smoothing"),
        (lambda: F.cross_entropy(np.zeros((2, 3)), np.array([0, 1]), weight=np.ones(2)),
         ValueError, "weight"),
        (lambda: F.cross_entropy(ember.tensor([[1, 2]]), np.array([0])), TypeError, "floating"),
        (lambda: F.nll_loss(np.zeros((2, 3)), np.array([0.5, 1.0])), TypeError, "integers"),
        (lambda: F.mse_loss(np.zeros(3), np.zeros(4)), ValueError, "differ"),
        (lambda: F.mse_loss(np.zeros(3), np.zeros(3), reduction="bad"), ValueError, "reduction"),
    ],
)  # fmt: skip
def test_losses_refuse_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_loss_modules():
    x = ember.randn(4, 3)
    t = np.array([0, 1, 2, 1])
    assert ember.nn.CrossEntropyLoss()(x, t).shape == ()
    assert ember.nn.CrossEntropyLoss(reduction="none")(x, t).shape == (4,)
    assert ember.nn.NLLLoss()(F.log_softmax(x, 1), t).shape == ()
    assert ember.nn.MSELoss(reduction="sum")(x, x).item() == 0
    with pytest.raises(ValueError):
        ember.nn.MSELoss(reduction="bad")
