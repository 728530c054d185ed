"""Losses (every reduction, weights, ignore_index, label smoothing), optimisers and LR schedulers
against PyTorch: the losses through the shared twin comparison, the optimisers by 20 lockstep
steps of the same model on the same data."""

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.optim as eoptim

torch = pytest.importorskip("torch")
tnn = torch.nn

from test_torchaudit_layers import close, compare  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

R = np.random.default_rng(3)
N, C = 5, 4
LOGITS = R.standard_normal((N, C))
TARGET = np.array([0, 3, 1, 3, 2])
IGNORED = np.array([0, -100, 1, 3, -100])
W = np.abs(R.standard_normal(C)) + 0.2
SOFT = R.dirichlet(np.ones(C), N)
LOGITS4 = R.standard_normal((2, C, 3, 2))
TARGET4 = R.integers(0, C, (2, 3, 2))
TARGET4[0, 0, 0] = -100


def _loss(name, **kw):
    def mk(nn):
        lib = torch if nn is tnn else ember
        return getattr(nn, name)(
            **{k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        )

    return mk


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "kw",
    [dict(weight=W, label_smoothing=0.1), dict(weight=W, ignore_index=-100, label_smoothing=0.3)],
    ids=["weight+ls", "weight+ignore+ls"],
)
def test_cross_entropy_options(kw, reduction):
    mk = _loss("CrossEntropyLoss", reduction=reduction, **kw)
    compare(mk, [LOGITS, IGNORED])
    compare(mk, [LOGITS4, TARGET4])
    compare(mk, [LOGITS[0], np.array(2)])
    if kw.get("ignore_index") is None:
        compare(mk, [LOGITS, SOFT])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "name,kw,inputs",
    [
        ("NLLLoss", dict(weight=W, ignore_index=3), [LOGITS, TARGET]),
        ("BCELoss", dict(weight=W), [R.uniform(0.01, 0.99, (N, C)), R.random((N, C))]),
        (
            "BCEWithLogitsLoss",
            dict(weight=W, pos_weight=W[::-1].copy()),
            [LOGITS, R.random((N, C))],
        ),
        ("MultiMarginLoss", dict(p=2, margin=0.7, weight=W), [LOGITS, TARGET]),
        ("MultiLabelSoftMarginLoss", dict(weight=W), [LOGITS, (R.random((N, C)) > 0.5) * 1.0]),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_weighted_losses_hold_weights_as_buffers(name, kw, inputs, reduction):
    # torch's state_dict carries the weights, so it only loads if ember's has them too
    tm = getattr(tnn, name)(
        **{k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    )
    assert set(tm.state_dict()) == {k for k in kw if k.endswith("weight")}
    compare(_loss(name, reduction=reduction, **kw), inputs)


def test_criterion_inside_a_model_loads_torch_state_dict():
    def mk(nn):
        lib = torch if nn is tnn else ember
        m = nn.Sequential(nn.Linear(3, C))
        m.crit = nn.CrossEntropyLoss(weight=lib.tensor(W))
        return m

    tm = mk(tnn).double()
    em = mk(enn)
    em.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    np.testing.assert_array_equal(em.crit.weight.numpy(), W)
    assert em.float().crit.weight.dtype == np.float32  # moved with the module, as torch's


# ---- optimisers and schedulers ----------------------------------------------------------------
def _lockstep(name, okw, sched=None, steps=20, closure=False):
    def mk(nn):
        return nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3))

    torch.manual_seed(0)
    tm = mk(tnn).double()
    em = mk(enn)
    em.double()
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    topt = getattr(torch.optim, name)(tm.parameters(), **okw)
    eopt = getattr(eoptim, name)(em.parameters(), **okw)
    ts = es = None
    if sched is not None:
        ts, es = sched(torch.optim.lr_scheduler, topt), sched(eoptim.lr_scheduler, eopt)
    rng = np.random.default_rng(5)
    for step in range(steps):
        x, y = rng.standard_normal((6, 4)), rng.standard_normal((6, 3))

        def tstep(x=x, y=y):
            topt.zero_grad()
            loss = ((tm(torch.tensor(x)) - torch.tensor(y)) ** 2).mean()
            loss.backward()
            return loss

        def estep(x=x, y=y):
            eopt.zero_grad()
            loss = ((em(ember.tensor(x)) - ember.tensor(y)) ** 2).mean()
            loss.backward()
            return loss

        if closure:
            tl, el = topt.step(tstep), eopt.step(estep)
        else:
            tl, el = tstep(), estep()
            topt.step()
            eopt.step()
        if ts is not None:
            if isinstance(ts, torch.optim.lr_scheduler.ReduceLROnPlateau):
                ts.step(tl.item())
                es.step(el.item())
            else:
                ts.step()
                es.step()
            for tg, eg in zip(topt.param_groups, eopt.param_groups):
                for key in ("lr", "momentum", "betas"):
                    if key in tg:
                        np.testing.assert_allclose(
                            eg[key], tg[key], rtol=1e-12, err_msg=f"{key} {step}"
                        )
        tsd, esd = tm.state_dict(), em.state_dict()
        for k in tsd:
            close(esd[k], tsd[k], f"{k} after step {step}", 1e-8)


@pytest.mark.parametrize(
    "name,okw",
    [
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5, weight_decay=0.1, maximize=True)),
        ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1, betas=(0.5, 0.9), eps=1e-3)),
        ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.5)),
        ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, weight_decay=0.1)),
        ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.5)),
        ("NAdam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)),
        ("RAdam", dict(lr=0.01, decoupled_weight_decay=True, weight_decay=0.1)),
        ("ASGD", dict(lr=0.01, t0=5, lambd=0.01)),
        ("Rprop", dict(lr=0.01, etas=(0.3, 1.5), step_sizes=(1e-4, 0.1))),
        ("Adafactor", dict(lr=0.01, weight_decay=0.1, beta2_decay=-0.5)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_optimisers_20_steps(name, okw):
    _lockstep(name, okw)


def test_lbfgs_strong_wolfe():
    _lockstep(
        "LBFGS",
        dict(lr=1, history_size=3, max_iter=5, line_search_fn="strong_wolfe"),
        steps=5,
        closure=True,
    )


SCHEDULERS = {
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.3),
    "PolynomialLR": lambda m, o: m.PolynomialLR(o, total_iters=8, power=2.0),
    "WarmRestarts": lambda m, o: m.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3),
    "SequentialLR": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.2, total_iters=4), m.ExponentialLR(o, 0.9)], milestones=[4]
    ),
    "Chained": lambda m, o: m.ChainedScheduler(
        [m.ConstantLR(o, factor=0.5, total_iters=3), m.ExponentialLR(o, 0.9)]
    ),
    "Plateau": lambda m, o: m.ReduceLROnPlateau(
        o, patience=1, factor=0.5, threshold=0.1, cooldown=1
    ),
    "CyclicLR": lambda m, o: m.CyclicLR(
        o, 0.01, 0.1, step_size_up=2, step_size_down=4, mode="exp_range", gamma=0.9
    ),
    "OneCycleLR": lambda m, o: m.OneCycleLR(
        o, 0.1, total_steps=25, anneal_strategy="linear", three_phase=True
    ),
}


@pytest.mark.parametrize("sched", list(SCHEDULERS))
def test_schedulers_20_steps(sched):
    _lockstep("SGD", dict(lr=0.1, momentum=0.9), sched=SCHEDULERS[sched])


def test_random_cross_entropy_configurations():
    """Seeded random class counts, K-dim shapes, unbatched inputs, weights, ignore_index (also
    a valid class), label smoothing and probability targets, every reduction, against torch."""
    rng = np.random.default_rng(11)
    for _ in range(40):
        c, n = int(rng.integers(1, 5)), int(rng.integers(1, 4))
        extra = tuple(int(v) for v in rng.integers(1, 4, int(rng.integers(0, 3))))
        unbatched = rng.integers(0, 4) == 0 and not extra  # an input (C,) and a target ()
        shape = (c, *extra) if unbatched else (n, c, *extra)
        tshape = shape[1:] if unbatched else (n, *extra)
        kw = dict(reduction=str(rng.choice(["mean", "sum", "none"])))
        kw["ignore_index"] = int(rng.choice([-100, 0, c - 1]))
        target = rng.integers(0, c, tshape)
        target.flat[0] = kw["ignore_index"]
        if rng.integers(0, 2):
            kw["weight"] = np.abs(rng.standard_normal(c)) + 0.1
        if rng.integers(0, 2):
            kw["label_smoothing"] = float(rng.choice([0.1, 0.5, 1.0]))
        if rng.integers(0, 4) == 0:  # probabilities over the class dim
            del kw["ignore_index"]
            target = rng.dirichlet(np.ones(c), int(np.prod(tshape))).reshape(*tshape, c)
            target = np.moveaxis(target, -1, 0 if unbatched else 1)
        compare(_loss("CrossEntropyLoss", **kw), [rng.standard_normal(shape), target])
        if "label_smoothing" not in kw and target.dtype.kind == "i":
            compare(_loss("NLLLoss", **kw), [rng.standard_normal(shape), target])


def test_random_ctc_configurations():
    rng = np.random.default_rng(12)
    for _ in range(15):
        t, n, c, s = (int(rng.integers(lo, hi)) for lo, hi in ((3, 9), (1, 4), (2, 6), (1, 4)))
        blank = int(rng.integers(0, c))
        logp = torch.log_softmax(torch.tensor(rng.standard_normal((t, n, c))), -1).numpy()
        targets = rng.choice([k for k in range(c) if k != blank], (n, s))
        in_lens, tgt_lens = rng.integers(1, t + 1, n), rng.integers(0, s + 1, n)
        kw = dict(blank=blank, reduction=str(rng.choice(["mean", "sum", "none"])))
        kw["zero_infinity"] = bool(rng.integers(0, 2))
        compare(lambda nn, kw=kw: nn.CTCLoss(**kw), [logp, targets, in_lens, tgt_lens])


@pytest.mark.parametrize("norm_type", [0, -1.0, -float("inf"), 0.5, 3, float("inf"), 2])
def test_clip_grad_norm_any_vector_norm_order(norm_type):
    rng = np.random.default_rng(4)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(5), np.zeros(2)]
    grads[0][0, 0] = 0.0
    tp = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    ep = [enn.Parameter(np.zeros(g.shape)) for g in grads]
    for t, e, g in zip(tp, ep, grads):
        t.grad, e.grad = torch.tensor(g), ember.tensor(g)
    tn = torch.nn.utils.clip_grad_norm_(tp, 0.7, norm_type=norm_type)
    en = enn.utils.clip_grad_norm_(ep, 0.7, norm_type=norm_type)
    close(en, tn, "total norm", 1e-12)
    for t, e in zip(tp, ep):
        close(e.grad, t.grad, "clipped gradient", 1e-12)
