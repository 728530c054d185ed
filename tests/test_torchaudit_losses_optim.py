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

from test_torchaudit_layers import _torch_one_thread, close, compare  # noqa: E402, F401

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
