"""The training toolkit's losses (l1, huber, BCE, BCE with logits, hinge embedding, multi
margin), activations (leaky_relu, elu, gelu, softplus) and dropout: against NumPy references,
PyTorch, finite differences, and the inputs they must refuse."""

import numpy as np
import pytest
import reference_losses as ref

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F

REDUCTIONS = ["none", "mean", "sum"]


def _pair(shape=(4, 5), seed=0, kind="real"):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if kind == "prob":
        x = rng.uniform(0.05, 0.95, shape)
        t = rng.uniform(0, 1, shape)
    elif kind == "binary":
        t = (rng.uniform(size=shape) > 0.5).astype(np.float64)
    elif kind == "sign":
        t = np.where(rng.uniform(size=shape) > 0.5, 1.0, -1.0)
    else:
        t = rng.standard_normal(shape)
    return x, t


# (name, ember fn(x, t, **kw), reference, torch fn name, input kind, kwargs, target grad?)
LOSSES = [
    ("l1", F.l1_loss, ref.l1_loss, "l1_loss", "real", {}, True),
    ("huber", F.huber_loss, ref.huber_loss, "huber_loss", "real", {}, True),
    ("huber_delta", F.huber_loss, ref.huber_loss, "huber_loss", "real", {"delta": 0.4}, True),
    ("bce", F.binary_cross_entropy, ref.binary_cross_entropy, "binary_cross_entropy", "prob",
     {}, True),
    ("bce_weight", F.binary_cross_entropy, ref.binary_cross_entropy, "binary_cross_entropy",
     "prob", {"weight": np.linspace(0.5, 2, 5)}, True),
    ("bce_logits", F.binary_cross_entropy_with_logits, ref.binary_cross_entropy_with_logits,
     "binary_cross_entropy_with_logits", "binary", {}, True),
    ("bce_logits_soft", F.binary_cross_entropy_with_logits,
     ref.binary_cross_entropy_with_logits, "binary_cross_entropy_with_logits", "prob",
     {"pos_weight": np.linspace(0.5, 3, 5), "weight": np.linspace(1, 2, 5)}, True),
    ("hinge_embedding", F.hinge_embedding_loss, ref.hinge_embedding_loss,
     "hinge_embedding_loss", "sign", {}, False),
    ("hinge_embedding_margin", F.hinge_embedding_loss, ref.hinge_embedding_loss,
     "hinge_embedding_loss", "sign", {"margin": 0.5}, False),
]  # fmt: skip
LIDS = [c[0] for c in LOSSES]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,reffn,tname,kind,kw,tgrad", LOSSES, ids=LIDS)
def test_loss_matches_reference_and_gradcheck(name, fn, reffn, tname, kind, kw, tgrad, reduction):
    x, t = _pair(kind=kind)
    out = fn(ember.tensor(x), ember.tensor(t), reduction=reduction, **kw)
    np.testing.assert_allclose(out.numpy(), reffn(x, t, reduction=reduction, **kw), rtol=1e-10)
    xs = ember.tensor(x, requires_grad=True)
    ts = ember.tensor(t, requires_grad=tgrad)
    assert gradcheck(lambda a, b: fn(a, b, reduction=reduction, **kw), (xs, ts))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,reffn,tname,kind,kw,tgrad", LOSSES, ids=LIDS)
def test_loss_matches_pytorch(name, fn, reffn, tname, kind, kw, tgrad, reduction, dtype):
    torch = pytest.importorskip("torch")
    x, t = _pair(kind=kind, seed=1)
    x, t = x.astype(dtype), t.astype(dtype)
    tkw = {k: torch.from_numpy(np.asarray(v, dtype)) for k, v in kw.items() if k != "margin"}
    tkw.update({k: v for k, v in kw.items() if k == "margin"})
    kw = {k: (np.asarray(v, dtype) if k != "margin" else v) for k, v in kw.items()}
    xe, te = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=tgrad)
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=tgrad)
    out = fn(xe, te, reduction=reduction, **kw)
    tout = getattr(torch.nn.functional, tname)(xt, tt, reduction=reduction, **tkw)
    assert out.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **tol)
    g = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
    if tgrad:
        np.testing.assert_allclose(te.grad.numpy(), tt.grad.numpy(), **tol)


MM_CASES = [dict(), dict(p=2), dict(margin=0.5, weight=True), dict(p=2, weight=True)]


@pytest.mark.parametrize("shape", [(6, 4), (4,)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("case", MM_CASES, ids=str)
def test_multi_margin(case, reduction, shape):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape) * 0.7
    y = rng.integers(0, shape[-1], shape[:-1])
    kw = dict(case)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2, shape[-1])
    out = F.multi_margin_loss(ember.tensor(x), y, reduction=reduction, **kw)
    np.testing.assert_allclose(out.numpy(), ref.multi_margin_loss(x, y, reduction=reduction, **kw),
                               rtol=1e-10)  # fmt: skip
    assert gradcheck(lambda a: F.multi_margin_loss(a, y, reduction=reduction, **kw),
                     (ember.tensor(x, requires_grad=True),))  # fmt: skip
    torch = pytest.importorskip("torch")
    tkw = dict(kw)
    if "weight" in kw:
        tkw["weight"] = torch.from_numpy(kw["weight"])
    xt = torch.tensor(x, requires_grad=True)
    tout = torch.nn.functional.multi_margin_loss(xt, torch.from_numpy(y), reduction=reduction,
                                                 **tkw)  # fmt: skip
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    xe = ember.tensor(x, requires_grad=True)
    F.multi_margin_loss(xe, y, reduction=reduction, **kw).sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_bce_with_logits_is_finite_for_huge_logits():
    x = np.array([-100.0, 100.0, -100.0, 100.0, 0.0], np.float32)
    t = np.array([1.0, 0.0, 0.0, 1.0, 0.5], np.float32)
    xe = ember.tensor(x, requires_grad=True)
    out = F.binary_cross_entropy_with_logits(xe, t, reduction="none",
                                             pos_weight=np.full(5, 2.0, np.float32))  # fmt: skip
    out.sum().backward()
    assert np.all(np.isfinite(out.numpy())) and np.all(np.isfinite(xe.grad.numpy()))
    np.testing.assert_allclose(out.numpy()[:4], [200.0, 100.0, 0.0, 0.0], atol=1e-6)


def test_bce_clamps_log_at_minus_100():
    out = F.binary_cross_entropy(
        ember.tensor([0.0, 1.0]), ember.tensor([1.0, 0.0]), reduction="none"
    )
    np.testing.assert_allclose(out.numpy(), [100.0, 100.0])


# ---- activations ----------------------------------------------------------------------------

ACTS = [
    ("leaky_relu", lambda a: F.leaky_relu(a), ref.leaky_relu,
     lambda t, a: t.nn.functional.leaky_relu(a), nn.LeakyReLU()),
    ("leaky_relu_0.2", lambda a: F.leaky_relu(a, 0.2), lambda a: ref.leaky_relu(a, 0.2),
     lambda t, a: t.nn.functional.leaky_relu(a, 0.2), nn.LeakyReLU(0.2)),
    ("elu", lambda a: F.elu(a), ref.elu, lambda t, a: t.nn.functional.elu(a), nn.ELU()),
    ("elu_alpha", lambda a: F.elu(a, 0.5), lambda a: ref.elu(a, 0.5),
     lambda t, a: t.nn.functional.elu(a, 0.5), nn.ELU(0.5)),
    ("gelu", lambda a: F.gelu(a), ref.gelu, lambda t, a: t.nn.functional.gelu(a), nn.GELU()),
    ("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), lambda a: ref.gelu(a, "tanh"),
     lambda t, a: t.nn.functional.gelu(a, approximate="tanh"), nn.GELU("tanh")),
    ("softplus", lambda a: F.softplus(a), ref.softplus, lambda t, a: t.nn.functional.softplus(a),
     nn.Softplus()),
    ("softplus_beta", lambda a: F.softplus(a, 2.0, 3.0), lambda a: ref.softplus(a, 2.0, 3.0),
     lambda t, a: t.nn.functional.softplus(a, 2.0, 3.0), nn.Softplus(2.0, 3.0)),
]  # fmt: skip
AIDS = [a[0] for a in ACTS]


def _act_input(dtype, seed=0):
    x = np.random.default_rng(seed).standard_normal((5, 6)) * 3
    x = np.sign(x) * (np.abs(x) + 0.1)  # away from the kink at 0
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,fn,reffn,tfn,module", ACTS, ids=AIDS)
def test_activation_forward_backward(name, fn, reffn, tfn, module, dtype):
    x = _act_input(dtype)
    out = fn(ember.tensor(x))
    assert out.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), reffn(x.astype(np.float64)), **tol)
    np.testing.assert_array_equal(module(ember.tensor(x)).numpy(), out.numpy())
    if dtype == np.float64:
        assert gradcheck(fn, (ember.tensor(x, requires_grad=True),))
    torch = pytest.importorskip("torch")
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = fn(xe), tfn(torch, xt)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    g = np.random.default_rng(1).standard_normal(x.shape).astype(dtype)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)


def test_activations_refuse_bad_input():
    with pytest.raises(ValueError, match="approximate"):
        F.gelu(ember.tensor([1.0]), approximate="fast")
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("erf")
    with pytest.raises(TypeError):
        F.elu(ember.tensor([1, 2]))
    with pytest.raises(ValueError, match="beta"):
        F.softplus(ember.tensor([1.0]), beta=0)


# ---- dropout ----------------------------------------------------------------------------------


def test_dropout_is_inverted_and_identity_in_eval():
    x = ember.ones(200, 50, requires_grad=True)
    y = F.dropout(x, 0.3)
    kept = y.numpy() != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    m = nn.Dropout(0.5)
    m.eval()
    assert m(x) is x or np.array_equal(m(x).numpy(), x.numpy())
    assert np.all(F.dropout(x, 1.0).numpy() == 0)
    assert F.dropout(x, 0.5, training=False) is x


def test_dropout_is_seeded():
    ember.manual_seed(5)
    a = F.dropout(ember.ones(64), 0.5).numpy()
    ember.manual_seed(5)
    b = F.dropout(ember.ones(64), 0.5).numpy()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("p", [-0.1, 1.5, "half"])
def test_dropout_refuses_bad_p(p):
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(p)
    with pytest.raises(ValueError, match="probability"):
        F.dropout(ember.ones(3), p)


# ---- bad input ------------------------------------------------------------------------------

BAD = [
    (lambda: F.l1_loss(np.ones((2, 3)), np.ones((3, 2))), ValueError, "shape"),
    (lambda: F.huber_loss(np.ones(3), np.ones(3), delta=0.0), ValueError, "delta"),
    (lambda: F.huber_loss(np.ones(3), np.ones(4)), ValueError, "shape"),
    (lambda: F.l1_loss(np.ones(3), np.ones(3), reduction="avg"), ValueError, "reduction"),
    (lambda: F.binary_cross_entropy(np.array([0.5, 1.2]), np.ones(2)), ValueError, "between 0"),
    (lambda: F.binary_cross_entropy(np.array([-0.1, 0.5]), np.ones(2)), ValueError, "between 0"),
    (lambda: F.binary_cross_entropy(np.array([0.5, np.nan]), np.ones(2)), ValueError, "between"),
    (lambda: F.binary_cross_entropy(np.full(3, 0.5), np.ones(2)), ValueError, "shape"),
    (lambda: F.binary_cross_entropy(np.full(3, 0.5), np.ones(3), weight=np.ones(2)), ValueError,
     "weight"),
    (lambda: F.binary_cross_entropy_with_logits(np.ones((2, 3)), np.ones((2, 3)),
                                                pos_weight=np.ones(4)), ValueError, "pos_weight"),
    (lambda: F.binary_cross_entropy_with_logits(np.ones(3), np.ones((3, 1))), ValueError, "shape"),
    (lambda: F.hinge_embedding_loss(np.ones(3), np.ones(2)), ValueError, "shape"),
    (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([0, 3])), ValueError, "out of bounds"),
    (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([-1, 0])), ValueError, "out of bounds"),
    (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([0.0, 1.0])), TypeError, "integers"),
    (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([0, 1, 2])), ValueError, "target"),
    (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([0, 1]), p=3), ValueError, "p == 1"),
    (lambda: F.multi_margin_loss(np.ones((2, 3)), np.array([0, 1]), weight=np.ones(2)),
     ValueError, "weight"),
    (lambda: nn.MultiMarginLoss(p=3), ValueError, "p == 1"),
    (lambda: nn.BCELoss(reduction="avg"), ValueError, "reduction"),
]  # fmt: skip


@pytest.mark.parametrize("fn,exc,match", BAD, ids=range(len(BAD)))
def test_losses_refuse_bad_input(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_loss_modules_call_the_functional_forms():
    rng = np.random.default_rng(4)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    p, b = rng.uniform(0.1, 0.9, (3, 4)), (rng.uniform(size=(3, 4)) > 0.5).astype(float)
    y = rng.integers(0, 4, 3)
    pairs = [
        (nn.L1Loss(reduction="sum")(x, t), F.l1_loss(x, t, reduction="sum")),
        (nn.HuberLoss(delta=0.5)(x, t), F.huber_loss(x, t, delta=0.5)),
        (nn.BCELoss()(p, b), F.binary_cross_entropy(p, b)),
        (nn.BCEWithLogitsLoss(pos_weight=np.ones(4) * 2)(x, b),
         F.binary_cross_entropy_with_logits(x, b, pos_weight=np.ones(4) * 2)),
        (nn.HingeEmbeddingLoss(margin=2.0)(x, 2 * b - 1),
         F.hinge_embedding_loss(x, 2 * b - 1, margin=2.0)),
        (nn.MultiMarginLoss(p=2)(x, y), F.multi_margin_loss(x, y, p=2)),
    ]  # fmt: skip
    for a, e in pairs:
        np.testing.assert_array_equal(a.numpy(), e.numpy())
