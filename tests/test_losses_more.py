"""smooth_l1, the weighted mse/l1/huber, kl_div and the embedding, ranking and likelihood
losses: against NumPy references, PyTorch (values and gradients of every float argument),
finite differences, the inputs they must refuse, and PyTorch's signatures."""

import inspect
import warnings

import numpy as np
import pytest
import reference_losses as ref

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F

REDUCTIONS = ["none", "mean", "sum"]


def _sign(rng, shape):
    return np.where(rng.uniform(size=shape) > 0.5, 1.0, -1.0)


def _probs(rng, shape):
    p = rng.uniform(0.1, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


# Each case: id, ember fn, reference, torch name, inputs(rng) -> float64 arrays, which inputs get
# a gradient, keyword arguments (arrays among them go to torch as tensors).
CASES = [
    ("smooth_l1", F.smooth_l1_loss, ref.smooth_l1_loss, "smooth_l1_loss",
     lambda r: (r.standard_normal((4, 5)), r.standard_normal((4, 5))), (1, 1), {}),
    ("smooth_l1_beta", F.smooth_l1_loss, ref.smooth_l1_loss, "smooth_l1_loss",
     lambda r: (r.standard_normal((4, 5)), r.standard_normal((4, 5))), (1, 1), {"beta": 0.4}),
    ("smooth_l1_beta0", F.smooth_l1_loss, ref.smooth_l1_loss, "smooth_l1_loss",
     lambda r: (r.standard_normal((4, 5)), r.standard_normal((4, 5))), (1, 1), {"beta": 0.0}),
    ("huber_weight", F.huber_loss, lambda x, t, reduction, delta, weight: ref.weighted_loss(
        ref.huber_loss(x, t, "none", delta), weight, reduction, False), "huber_loss",
     lambda r: (r.standard_normal((4, 5)), r.standard_normal((4, 5))), (1, 1),
     {"delta": 0.5, "weight": np.linspace(0.2, 2, 20).reshape(4, 5)}),
    ("l1_weight", F.l1_loss, lambda x, t, reduction, weight: ref.weighted_loss(
        ref.l1_loss(x, t, "none"), weight, reduction), "l1_loss",
     lambda r: (r.standard_normal((4, 5)), r.standard_normal((4, 5))), (1, 1),
     {"weight": np.linspace(0.2, 2, 20).reshape(4, 5)}),
    ("mse_weight", F.mse_loss, lambda x, t, reduction, weight: ref.weighted_loss(
        (x - t) ** 2, weight, reduction), "mse_loss",
     lambda r: (r.standard_normal((4, 5)), r.standard_normal((4, 5))), (1, 1),
     {"weight": np.linspace(0.2, 2, 20).reshape(4, 5)}),
    ("kl_div", F.kl_div, ref.kl_div, "kl_div",
     lambda r: (np.log(_probs(r, (3, 4))), _probs(r, (3, 4))), (1, 1), {}),
    ("kl_div_log_target", F.kl_div, ref.kl_div, "kl_div",
     lambda r: (np.log(_probs(r, (3, 4))), np.log(_probs(r, (3, 4)))), (1, 1),
     {"log_target": True}),
    ("cosine_embedding", F.cosine_embedding_loss, ref.cosine_embedding_loss,
     "cosine_embedding_loss",
     lambda r: (r.standard_normal((6, 4)), r.standard_normal((6, 4)), _sign(r, 6)), (1, 1, 0), {}),
    ("cosine_embedding_margin", F.cosine_embedding_loss, ref.cosine_embedding_loss,
     "cosine_embedding_loss",
     lambda r: (r.standard_normal((6, 4)), r.standard_normal((6, 4)), _sign(r, 6)), (1, 1, 0),
     {"margin": -0.2}),
    ("cosine_embedding_1d", F.cosine_embedding_loss, ref.cosine_embedding_loss,
     "cosine_embedding_loss",
     lambda r: (r.standard_normal(4), r.standard_normal(4), np.array(1.0)), (1, 1, 0), {}),
    ("margin_ranking", F.margin_ranking_loss, ref.margin_ranking_loss, "margin_ranking_loss",
     lambda r: (r.standard_normal(8), r.standard_normal(8), _sign(r, 8)), (1, 1, 1),
     {"margin": 0.3}),
    ("soft_margin", F.soft_margin_loss, ref.soft_margin_loss, "soft_margin_loss",
     lambda r: (2 * r.standard_normal((4, 5)), _sign(r, (4, 5))), (1, 0), {}),
    ("multilabel_soft_margin", F.multilabel_soft_margin_loss, ref.multilabel_soft_margin_loss,
     "multilabel_soft_margin_loss",
     lambda r: (r.standard_normal((4, 5)), (r.uniform(size=(4, 5)) > 0.5) * 1.0), (1, 1),
     {"weight": np.linspace(0.5, 2, 5)}),
    ("poisson_nll", F.poisson_nll_loss, ref.poisson_nll_loss, "poisson_nll_loss",
     lambda r: (r.standard_normal((4, 5)), r.poisson(2.0, (4, 5)) * 1.0), (1, 1), {}),
    ("poisson_nll_full", F.poisson_nll_loss, ref.poisson_nll_loss, "poisson_nll_loss",
     lambda r: (r.standard_normal((4, 5)), r.poisson(2.0, (4, 5)) + 0.5), (1, 1),
     {"full": True}),
    ("poisson_nll_rate", F.poisson_nll_loss, ref.poisson_nll_loss, "poisson_nll_loss",
     lambda r: (r.uniform(0.5, 3, (4, 5)), r.poisson(2.0, (4, 5)) * 1.0), (1, 1),
     {"log_input": False}),
    ("gaussian_nll", F.gaussian_nll_loss, ref.gaussian_nll_loss, "gaussian_nll_loss",
     lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)), r.uniform(0.5, 2, (4, 3))),
     (1, 1, 1), {}),
    ("gaussian_nll_shared_var", F.gaussian_nll_loss, ref.gaussian_nll_loss, "gaussian_nll_loss",
     lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)), r.uniform(0.5, 2, 4)),
     (1, 1, 1), {"full": True}),
    ("gaussian_nll_var_col", F.gaussian_nll_loss, ref.gaussian_nll_loss, "gaussian_nll_loss",
     lambda r: (r.standard_normal((4, 3)), r.standard_normal((4, 3)),
                r.uniform(0.5, 2, (4, 1))), (1, 1, 1), {}),
    ("triplet", F.triplet_margin_loss, ref.triplet_margin_loss, "triplet_margin_loss",
     lambda r: tuple(r.standard_normal((5, 4)) for _ in range(3)), (1, 1, 1), {}),
    ("triplet_p1_swap", F.triplet_margin_loss, ref.triplet_margin_loss, "triplet_margin_loss",
     lambda r: tuple(r.standard_normal((5, 4)) for _ in range(3)), (1, 1, 1),
     {"p": 1, "swap": True, "margin": 2.0}),
    ("triplet_p3_1d", F.triplet_margin_loss, ref.triplet_margin_loss, "triplet_margin_loss",
     lambda r: tuple(r.standard_normal(4) for _ in range(3)), (1, 1, 1), {"p": 3}),
]  # fmt: skip
IDS = [c[0] for c in CASES]


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,reffn,tname,gen,grads,kw", CASES, ids=IDS)
def test_matches_reference_and_gradcheck(name, fn, reffn, tname, gen, grads, kw, reduction):
    args = gen(np.random.default_rng(0))
    out = fn(*[ember.tensor(a) for a in args], reduction=reduction, **kw)
    np.testing.assert_allclose(out.numpy(), reffn(*args, reduction=reduction, **kw), rtol=1e-10,
                               atol=1e-12)  # fmt: skip
    ins = tuple(ember.tensor(a, requires_grad=bool(g)) for a, g in zip(args, grads))
    assert gradcheck(lambda *a: fn(*a, reduction=reduction, **kw), ins)


def _torch_call(torch, tname, targs, reduction, tkw):
    with warnings.catch_warnings():  # torch's kl_div warns about reduction='mean'
        warnings.simplefilter("ignore", UserWarning)
        return getattr(torch.nn.functional, tname)(*targs, reduction=reduction, **tkw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name,fn,reffn,tname,gen,grads,kw", CASES, ids=IDS)
def test_matches_pytorch(name, fn, reffn, tname, gen, grads, kw, reduction, dtype):
    torch = pytest.importorskip("torch")
    args = [a.astype(dtype) for a in gen(np.random.default_rng(1))]
    tkw = {k: torch.tensor(v, dtype=getattr(torch, np.dtype(dtype).name))
           if isinstance(v, np.ndarray) else v for k, v in kw.items()}  # fmt: skip
    kw = {k: v.astype(dtype) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    es = [ember.tensor(a, requires_grad=bool(g)) for a, g in zip(args, grads)]
    ts = [torch.tensor(a, requires_grad=bool(g)) for a, g in zip(args, grads)]
    out = fn(*es, reduction=reduction, **kw)
    tout = _torch_call(torch, tname, ts, reduction, tkw)
    assert out.dtype == dtype and out.shape == tuple(tout.shape)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **tol)
    g = np.random.default_rng(2).standard_normal(out.shape).astype(dtype)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    for e, t, needs in zip(es, ts, grads):
        if needs:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **tol)


def test_huber_and_smooth_l1_agree_with_pytorch_over_deltas():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x, t = rng.standard_normal(50) * 2, rng.standard_normal(50)
    for delta in (0.1, 1.0, 3.0):
        xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        a = F.huber_loss(xe, t, delta=delta) + F.smooth_l1_loss(xe, t, beta=delta)
        b = torch.nn.functional.huber_loss(xt, torch.tensor(t), delta=delta)
        b = b + torch.nn.functional.smooth_l1_loss(xt, torch.tensor(t), beta=delta)
        a.backward()
        b.backward()
        np.testing.assert_allclose(a.item(), b.item(), rtol=1e-12)
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    # smooth_l1 is huber / beta; beta = 0 is l1
    np.testing.assert_allclose(F.smooth_l1_loss(x, t, beta=0.5).item(),
                               F.huber_loss(x, t, delta=0.5).item() / 0.5, rtol=1e-12)  # fmt: skip
    assert F.smooth_l1_loss(x, t, beta=0.0).item() == F.l1_loss(x, t).item()


def test_kl_div_zero_targets_and_batchmean():
    torch = pytest.importorskip("torch")
    x = np.log(_probs(np.random.default_rng(4), (3, 4)))
    t = np.array([[0.5, 0.5, 0.0, 0.0], [0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0]])
    for reduction in ("batchmean", "none"):
        xe, te = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
        xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
        out = F.kl_div(xe, te, reduction=reduction)
        tout = torch.nn.functional.kl_div(xt, tt, reduction=reduction)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-12)
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
        pos = t > 0  # where t == 0 ember's target gradient is 0, PyTorch's NaN
        np.testing.assert_allclose(te.grad.numpy()[pos], tt.grad.numpy()[pos], rtol=1e-12)
        assert np.all(te.grad.numpy()[~pos] == 0)
    np.testing.assert_allclose(F.kl_div(x, t, reduction="batchmean").item(),
                               ref.kl_div(x, t, "batchmean"), rtol=1e-12)  # fmt: skip
    assert nn.KLDivLoss(reduction="batchmean", log_target=True)(x, np.log(t + 1e-3)).shape == ()


def test_gaussian_nll_clamps_var_but_passes_its_gradient():
    torch = pytest.importorskip("torch")
    x, t = np.array([0.5, -1.0, 2.0]), np.array([0.0, 0.0, 1.0])
    var = np.array([1e-9, 0.5, 0.0])
    ve, vt = ember.tensor(var, requires_grad=True), torch.tensor(var, requires_grad=True)
    out = F.gaussian_nll_loss(x, t, ve, eps=1e-6)
    tout = torch.nn.functional.gaussian_nll_loss(torch.tensor(x), torch.tensor(t), vt, eps=1e-6)
    out.backward()
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-12)
    np.testing.assert_allclose(ve.grad.numpy(), vt.grad.numpy(), rtol=1e-9)
    float_var = F.gaussian_nll_loss(x, t, 0.7, full=True)
    np.testing.assert_allclose(float_var.item(), ref.gaussian_nll_loss(x, t, 0.7, full=True),
                               rtol=1e-12)  # fmt: skip


def test_pairwise_distance_and_custom_distance():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    a, p, n = (rng.standard_normal((4, 3)) for _ in range(3))
    for order in (1, 2, 3.5, np.inf):
        np.testing.assert_allclose(F.pairwise_distance(a, p, order).numpy(),
                                   torch.nn.functional.pairwise_distance(
                                       torch.tensor(a), torch.tensor(p), order).numpy(),
                                   rtol=1e-12)  # fmt: skip
    np.testing.assert_allclose(F.pairwise_distance(a, p).numpy(), ref.pairwise_distance(a, p))
    assert F.pairwise_distance(a, p, keepdim=True).shape == (4, 1)

    def cos_dist(u, v):
        return 1 - (u * v).sum(-1) / ((u * u).sum(-1) * (v * v).sum(-1)).sqrt()

    def tcos_dist(u, v):
        return 1 - torch.nn.functional.cosine_similarity(u, v, eps=0)

    es = [ember.tensor(v, requires_grad=True) for v in (a, p, n)]
    ts = [torch.tensor(v, requires_grad=True) for v in (a, p, n)]
    out = nn.TripletMarginWithDistanceLoss(distance_function=cos_dist, margin=0.5, swap=True)(*es)
    tout = torch.nn.TripletMarginWithDistanceLoss(distance_function=tcos_dist, margin=0.5,
                                                  swap=True)(*ts)  # fmt: skip
    out.backward()
    tout.backward()
    np.testing.assert_allclose(out.item(), tout.item(), rtol=1e-12)
    for e, t in zip(es, ts):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-14)
    default = F.triplet_margin_with_distance_loss(a, p, n)
    np.testing.assert_allclose(default.item(), F.triplet_margin_loss(a, p, n).item(), rtol=1e-12)


def test_modules_call_the_functional_forms():
    rng = np.random.default_rng(6)
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    y, s = _sign(rng, 3), _sign(rng, (3, 4))
    b, var = (rng.uniform(size=(3, 4)) > 0.5) * 1.0, rng.uniform(0.5, 1, (3, 4))
    a, p, n = (rng.standard_normal((3, 4)) for _ in range(3))
    lp = np.log(_probs(rng, (3, 4)))
    pairs = [
        (nn.SmoothL1Loss(beta=0.3)(x, t), F.smooth_l1_loss(x, t, beta=0.3)),
        (nn.KLDivLoss(reduction="sum")(lp, np.exp(lp)), F.kl_div(lp, np.exp(lp), reduction="sum")),
        (nn.CosineEmbeddingLoss(0.1)(x, t, y), F.cosine_embedding_loss(x, t, y, 0.1)),
        (nn.MarginRankingLoss(0.2, reduction="sum")(x[0], t[0], s[0]),
         F.margin_ranking_loss(x[0], t[0], s[0], 0.2, reduction="sum")),
        (nn.SoftMarginLoss()(x, s), F.soft_margin_loss(x, s)),
        (nn.MultiLabelSoftMarginLoss(weight=np.ones(4) * 2)(x, b),
         F.multilabel_soft_margin_loss(x, b, weight=np.ones(4) * 2)),
        (nn.PoissonNLLLoss(full=True)(x, b * 3), F.poisson_nll_loss(x, b * 3, full=True)),
        (nn.GaussianNLLLoss(full=True)(x, t, var), F.gaussian_nll_loss(x, t, var, full=True)),
        (nn.TripletMarginLoss(p=1, swap=True)(a, p, n), F.triplet_margin_loss(a, p, n, p=1,
                                                                              swap=True)),
    ]  # fmt: skip
    for got, want in pairs:
        np.testing.assert_array_equal(got.numpy(), want.numpy())


BAD = [
    (lambda: F.smooth_l1_loss(np.ones(3), np.ones(3), beta=-0.1), ValueError, "beta"),
    (lambda: nn.SmoothL1Loss(beta=-1), ValueError, "beta"),
    (lambda: F.smooth_l1_loss(np.ones(3), np.ones(4)), ValueError, "shape"),
    (lambda: F.smooth_l1_loss(np.ones(3), np.ones(3), reduction="avg"), ValueError, "reduction"),
    (lambda: F.l1_loss(np.ones(3), np.ones(3), weight=np.ones(2)), ValueError, "weight"),
    (lambda: F.mse_loss(np.ones(3), np.ones(3), weight=np.ones((3, 1))), ValueError, "weight"),
    (lambda: F.kl_div(np.ones(3), np.ones(3), reduction="batch"), ValueError, "reduction"),
    (lambda: nn.KLDivLoss(reduction="avg"), ValueError, "reduction"),
    (lambda: F.kl_div(np.ones(3), np.ones(2)), ValueError, "shape"),
    (lambda: F.cosine_embedding_loss(np.ones((2, 3)), np.ones((2, 4)), np.ones(2)), RuntimeError,
     "input1"),
    (lambda: F.cosine_embedding_loss(np.ones((2, 3)), np.ones((2, 3)), np.ones(3)), RuntimeError,
     "target"),
    (lambda: F.cosine_embedding_loss(np.ones((2, 2, 3)), np.ones((2, 2, 3)), np.ones((2, 2))),
     RuntimeError, "input1"),
    (lambda: F.margin_ranking_loss(np.ones(3), np.ones(3), np.ones((1, 3))), ValueError,
     "number of dims"),
    (lambda: F.soft_margin_loss(np.ones(3), np.ones(3), reduction="x"), ValueError, "reduction"),
    (lambda: F.poisson_nll_loss(np.ones(3), np.ones(2)), ValueError, "shape"),
    (lambda: F.gaussian_nll_loss(np.ones(3), np.ones(3), -1.0), ValueError, "negative"),
    (lambda: F.gaussian_nll_loss(np.ones(3), np.ones(3), np.array([1.0, -1, 1])), ValueError,
     "negative"),
    (lambda: F.gaussian_nll_loss(np.ones((2, 3)), np.ones((2, 3)), np.ones((3, 3))), ValueError,
     "incorrect size"),
    (lambda: F.gaussian_nll_loss(np.ones(3), np.ones(3), np.ones(3), reduction="x"), ValueError,
     "reduction"),
    (lambda: F.triplet_margin_loss(np.ones(3), np.ones(3), np.ones(3), margin=0), ValueError,
     "margin"),
    (lambda: F.triplet_margin_loss(np.ones((2, 3)), np.ones(3), np.ones(3)), ValueError,
     "number of dims"),
    (lambda: nn.TripletMarginLoss(margin=-1), ValueError, "margin"),
    (lambda: F.triplet_margin_with_distance_loss(np.ones(3), np.ones(3), np.ones(3), margin=0),
     ValueError, "margin"),
    (lambda: F.multilabel_soft_margin_loss(np.ones((2, 3)), np.ones((2, 3)), np.ones(2)),
     ValueError, "weight"),
]  # fmt: skip


@pytest.mark.parametrize("fn,exc,match", BAD, ids=range(len(BAD)))
def test_refuses_bad_input(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


# ---- PyTorch's signatures -------------------------------------------------------------------

FUNCTIONAL_LOSSES = [
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "cosine_embedding_loss",
    "cross_entropy", "gaussian_nll_loss", "hinge_embedding_loss", "huber_loss", "kl_div",
    "l1_loss", "margin_ranking_loss", "mse_loss", "multi_margin_loss",
    "multilabel_soft_margin_loss", "nll_loss", "poisson_nll_loss",
    "smooth_l1_loss", "soft_margin_loss", "triplet_margin_loss",
    "triplet_margin_with_distance_loss",
]  # fmt: skip
LOSS_MODULES = [
    "BCELoss", "BCEWithLogitsLoss", "CosineEmbeddingLoss", "CrossEntropyLoss", "GaussianNLLLoss",
    "HingeEmbeddingLoss", "HuberLoss", "KLDivLoss", "L1Loss", "MSELoss", "MarginRankingLoss",
    "MultiLabelSoftMarginLoss", "MultiMarginLoss", "NLLLoss", "PoissonNLLLoss", "SmoothL1Loss",
    "SoftMarginLoss", "TripletMarginLoss", "TripletMarginWithDistanceLoss",
]  # fmt: skip


def _params(fn):
    """(name, default, kind) of each parameter but PyTorch's deprecated size_average / reduce."""
    sig = inspect.signature(fn)
    return [(p.name, p.default, p.kind) for p in sig.parameters.values()
            if p.name not in ("self", "size_average", "reduce")]  # fmt: skip


@pytest.mark.parametrize("name", FUNCTIONAL_LOSSES)
def test_functional_signature_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    assert _params(getattr(F, name)) == _params(getattr(torch.nn.functional, name))


@pytest.mark.parametrize("name", LOSS_MODULES)
def test_module_signature_matches_pytorch(name):
    torch = pytest.importorskip("torch")
    mine, theirs = getattr(nn, name), getattr(torch.nn, name)
    assert _params(mine.__init__) == _params(theirs.__init__)
    assert [p[0] for p in _params(mine.forward)] == [p[0] for p in _params(theirs.forward)]


def _legacy_cases(rng):
    """(name, positional inputs) for every functional loss whose PyTorch form still takes
    size_average / reduce."""
    x, t = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    p, b = _probs(rng, (3, 4)), (rng.uniform(size=(3, 4)) > 0.5) * 1.0
    y, idx = _sign(rng, 3), np.array([0, 3, 1])
    mlm = np.array([[3, 0, -1, 1], [1, -1, 0, 0], [0, 1, 2, -1]])
    return [
        ("binary_cross_entropy", (p, b)),
        ("binary_cross_entropy_with_logits", (x, b)),
        ("cosine_embedding_loss", (x, t, y)),
        ("cross_entropy", (x, idx)),
        ("hinge_embedding_loss", (x, _sign(rng, (3, 4)))),
        ("kl_div", (np.log(p), _probs(rng, (3, 4)))),
        ("l1_loss", (x, t)),
        ("margin_ranking_loss", (x[0], t[0], _sign(rng, 4))),
        ("mse_loss", (x, t)),
        ("multi_margin_loss", (x, idx)),
        ("multilabel_margin_loss", (x, mlm)),
        ("multilabel_soft_margin_loss", (x, b)),
        ("nll_loss", (np.log(p), idx)),
        ("poisson_nll_loss", (x, b * 3)),
        ("smooth_l1_loss", (x, t)),
        ("soft_margin_loss", (x, _sign(rng, (3, 4)))),
        ("triplet_margin_loss", (x, t, rng.standard_normal((3, 4)))),
    ]


@pytest.mark.parametrize("case", range(17))
def test_functional_losses_take_pytorchs_legacy_arguments(case):
    # PyTorch's parameter lists, size_average / reduce included (positionally too): old scripts
    # call F.binary_cross_entropy(recon, x, size_average=False), and a positional call past
    # them must not shift the other arguments.
    torch = pytest.importorskip("torch")
    name, inputs = _legacy_cases(np.random.default_rng(case))[case]
    ef, tf = getattr(F, name), getattr(torch.nn.functional, name)
    assert list(inspect.signature(ef).parameters) == list(inspect.signature(tf).parameters)
    params = list(inspect.signature(tf).parameters)
    n_in = len(inputs)
    # every positional argument up to reduction='sum', defaults in between
    full = [
        inspect.signature(tf).parameters[q].default
        for q in params[n_in : params.index("reduction")]
    ] + ["sum"]
    tensors = [torch.from_numpy(np.asarray(a)) for a in inputs]
    calls = [((*inputs, *full), {}), (inputs, {"size_average": False}), (inputs, {"reduce": False})]
    for args, kw in calls:
        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            e = ef(*args, **kw)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t = tf(*tensors, *args[n_in:], **kw)
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-12)
        assert bool(kw) == any("size_average and reduce" in str(w.message) for w in got)
    with pytest.raises(TypeError, match="multiple values"):
        ef(*inputs, *full, reduction="sum")


def test_kl_div_and_mha_masks_warn_as_pytorch():
    """PyTorch's deprecation warnings: kl_div's reduction='mean' (nn.KLDivLoss's default) and
    MultiheadAttention given a bool padding mask with a float attention mask."""
    x = ember.tensor(np.log(np.full((2, 3), 1 / 3)))
    t = ember.tensor(np.full((2, 3), 1 / 3))
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(x, t)
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        nn.KLDivLoss()(x, t)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.kl_div(x, t, reduction="batchmean")  # the other reductions stay quiet
        nn.KLDivLoss(reduction="sum")(x, t)
    mha = nn.MultiheadAttention(4, 2, batch_first=True)
    q = ember.randn(2, 3, 4)
    kpm = ember.zeros(2, 3, dtype=ember.bool)
    causal = nn.Transformer.generate_square_subsequent_mask(3)  # float -inf / 0
    with pytest.warns(UserWarning, match="mismatched key_padding_mask and attn_mask"):
        out_mixed, _ = mha(q, q, q, key_padding_mask=kpm, attn_mask=causal)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out_bool, _ = mha(q, q, q, key_padding_mask=kpm, attn_mask=causal.isinf())
    np.testing.assert_allclose(out_mixed.detach().numpy(), out_bool.detach().numpy(), atol=1e-6)
