"""Learning-rate schedulers: the lr (and momentum) sequences of torch.optim.lr_scheduler, a
closed-form check without torch, state_dict round trips and the errors."""

import math

import numpy as np
import pytest

from ember import nn, optim
from ember.optim import lr_scheduler as S


def _opt(kind="SGD", lrs=(0.1, 0.05), **kw):
    params = [nn.Parameter(np.zeros(2)) for _ in lrs]
    groups = [{"params": [p], "lr": lr} for p, lr in zip(params, lrs)]
    return getattr(optim, kind)(groups, lr=lrs[0], **kw)


def _topt(torch, kind="SGD", lrs=(0.1, 0.05), **kw):
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return getattr(torch.optim, kind)(groups, lr=lrs[0], **kw)


# (name, make(lib, opt) -> scheduler, optimizer kind, optimizer kwargs, steps)
CASES = [
    ("StepLR", lambda L, o: L.StepLR(o, step_size=7, gamma=0.5), "SGD", {}, 40),
    ("MultiStepLR", lambda L, o: L.MultiStepLR(o, [3, 8, 8, 20], gamma=0.3), "SGD", {}, 30),
    ("ExponentialLR", lambda L, o: L.ExponentialLR(o, gamma=0.93), "SGD", {}, 40),
    ("CosineAnnealingLR", lambda L, o: L.CosineAnnealingLR(o, T_max=10, eta_min=1e-3), "SGD",
     {}, 45),
    ("LinearLR", lambda L, o: L.LinearLR(o, start_factor=0.1, total_iters=8), "SGD", {}, 20),
    ("LinearLR-decay", lambda L, o: L.LinearLR(o, 1.0, 0.2, total_iters=5), "SGD", {}, 12),
    ("ConstantLR", lambda L, o: L.ConstantLR(o, factor=0.5, total_iters=4), "SGD", {}, 10),
    ("PolynomialLR", lambda L, o: L.PolynomialLR(o, total_iters=6, power=2.0), "SGD", {}, 10),
    ("LambdaLR", lambda L, o: L.LambdaLR(o, [lambda e: 0.9**e, lambda e: 1 / (e + 1)]), "SGD",
     {}, 15),
    ("MultiplicativeLR", lambda L, o: L.MultiplicativeLR(o, lambda e: 0.95), "SGD", {}, 15),
    ("CosineAnnealingWarmRestarts",
     lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=4, T_mult=2, eta_min=0.01), "SGD", {}, 30),
    ("CyclicLR-triangular", lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=5), "SGD",
     {"momentum": 0.9}, 40),
    ("CyclicLR-triangular2",
     lambda L, o: L.CyclicLR(o, [0.01, 0.02], 0.1, step_size_up=3, step_size_down=5,
                             mode="triangular2"), "SGD", {"momentum": 0.9}, 40),
    ("CyclicLR-exp_range-adam",
     lambda L, o: L.CyclicLR(o, 0.001, 0.01, step_size_up=4, mode="exp_range", gamma=0.97),
     "Adam", {}, 30),
    ("CyclicLR-no-momentum",
     lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=4, cycle_momentum=False), "SGD", {}, 20),
    ("OneCycleLR", lambda L, o: L.OneCycleLR(o, max_lr=0.5, total_steps=30), "SGD",
     {"momentum": 0.9}, 29),
    ("OneCycleLR-linear-3phase",
     lambda L, o: L.OneCycleLR(o, max_lr=[0.5, 0.2], epochs=4, steps_per_epoch=6,
                               anneal_strategy="linear", three_phase=True), "Adam", {}, 23),
    ("SequentialLR",
     lambda L, o: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=5),
                                     L.CosineAnnealingLR(o, T_max=15)], milestones=[5]),
     "SGD", {}, 30),
    ("SequentialLR-3",
     lambda L, o: L.SequentialLR(o, [L.ConstantLR(o, 0.5, total_iters=3),
                                     L.ExponentialLR(o, 0.9), L.StepLR(o, 4)], milestones=[3, 9]),
     "SGD", {}, 25),
]  # fmt: skip


def _trace(lib, L, make, kind, kw, steps):
    o = _opt(kind, **kw) if lib is None else _topt(lib, kind, **kw)
    s = make(L, o)
    out = [list(s.get_last_lr())]
    moms = []
    for _ in range(steps):
        o.step()
        s.step()
        out.append(list(s.get_last_lr()))
        g = o.param_groups[0]
        moms.append(g["betas"][0] if "betas" in g else g.get("momentum"))
    return out, moms


@pytest.mark.parametrize("name,make,kind,kw,steps", CASES, ids=[c[0] for c in CASES])
def test_lr_sequence_matches_pytorch(name, make, kind, kw, steps):
    torch = pytest.importorskip("torch")
    ours, our_moms = _trace(None, S, make, kind, kw, steps)
    theirs, their_moms = _trace(torch, torch.optim.lr_scheduler, make, kind, kw, steps)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(our_moms, their_moms, rtol=1e-12)


def test_chained_schedulers_on_one_optimizer_match_pytorch():
    torch = pytest.importorskip("torch")
    seqs = []
    for lib, L in ((None, S), (torch, torch.optim.lr_scheduler)):
        o = _opt() if lib is None else _topt(lib)
        a, b = L.ExponentialLR(o, 0.9), L.StepLR(o, 3, 0.5)
        c = L.ChainedScheduler([L.ConstantLR(o, 0.5, total_iters=2), L.ExponentialLR(o, 0.99)])
        seq = []
        for _ in range(12):
            o.step()
            a.step()
            b.step()
            c.step()
            seq.append(c.get_last_lr())
        seqs.append(seq)
    np.testing.assert_allclose(seqs[0], seqs[1], rtol=1e-12)


@pytest.mark.parametrize(
    "kw",
    [dict(), dict(mode="max", factor=0.5, patience=2, cooldown=1),
     dict(threshold_mode="abs", threshold=0.05, patience=1, min_lr=[0.02, 0.001])],
)  # fmt: skip
def test_reduce_on_plateau_matches_pytorch(kw):
    torch = pytest.importorskip("torch")
    metrics = [1.0, 0.9, 0.95, 0.91, 0.93, 0.92, 0.9, 0.89, 0.95, 0.96] * 3 + [0.5] * 15
    seqs = []
    for lib, L in ((None, S), (torch, torch.optim.lr_scheduler)):
        o = _opt() if lib is None else _topt(lib)
        s = L.ReduceLROnPlateau(o, **kw)
        seq = []
        for m in metrics:
            o.step()
            s.step(m)
            seq.append(s.get_last_lr())
        seqs.append(seq)
    np.testing.assert_allclose(seqs[0], seqs[1], rtol=1e-12)


@pytest.mark.filterwarnings("ignore:Detected call of")  # as PyTorch
@pytest.mark.filterwarnings("ignore:The epoch parameter")  # as PyTorch
def test_closed_forms_without_torch():
    o = _opt(lrs=(1.0,))
    s = S.CosineAnnealingLR(o, T_max=10, eta_min=0.0)
    lrs = [s.get_last_lr()[0]]
    for _ in range(10):
        o.step()
        s.step()
        lrs.append(s.get_last_lr()[0])
    np.testing.assert_allclose(lrs, [(1 + math.cos(math.pi * t / 10)) / 2 for t in range(11)],
                               atol=1e-12)  # fmt: skip
    o = _opt(lrs=(0.1,))
    s = S.StepLR(o, step_size=3, gamma=0.1)
    seq = []
    for _ in range(9):
        seq.append(s.get_last_lr()[0])
        s.step()
    np.testing.assert_allclose(seq, [0.1] * 3 + [0.01] * 3 + [0.001] * 3, rtol=1e-12)
    s.step(epoch=1)  # closed form
    assert s.get_last_lr()[0] == pytest.approx(0.1)
    o = _opt(lrs=(1.0,))
    w = S.LinearLR(o, start_factor=0.25, total_iters=3)
    seq = [w.get_last_lr()[0]]
    for _ in range(4):
        w.step()
        seq.append(w.get_last_lr()[0])
    np.testing.assert_allclose(seq, [0.25, 0.5, 0.75, 1.0, 1.0])


@pytest.mark.parametrize("name,make,kind,kw,steps", CASES, ids=[c[0] for c in CASES])
def test_state_dict_round_trip(name, make, kind, kw, steps):
    o1 = _opt(kind, **kw)
    s1 = make(S, o1)
    for _ in range(steps // 2):
        o1.step()
        s1.step()
    o2 = _opt(kind, **kw)
    s2 = make(S, o2)
    o2.load_state_dict(o1.state_dict())
    s2.load_state_dict(s1.state_dict())
    for _ in range(steps - steps // 2):
        for o, s in ((o1, s1), (o2, s2)):
            o.step()
            s.step()
        assert s1.get_last_lr() == s2.get_last_lr()


@pytest.mark.filterwarnings("ignore:Detected call of")  # as PyTorch
def test_schedulers_refuse_bad_arguments():
    o = _opt()
    with pytest.raises(TypeError, match="Optimizer"):
        S.StepLR(object(), step_size=2)
    with pytest.raises(ValueError, match="step_size"):
        S.StepLR(o, step_size=0)
    with pytest.raises(ValueError, match="T_max"):
        S.CosineAnnealingLR(o, T_max=0)
    with pytest.raises(ValueError, match="factor"):
        S.LinearLR(o, start_factor=0.0)
    with pytest.raises(ValueError, match="Factor"):
        S.ReduceLROnPlateau(o, factor=1.5)
    with pytest.raises(ValueError, match="mode"):
        S.ReduceLROnPlateau(o, mode="up")
    with pytest.raises(ValueError, match="lr_lambdas"):
        S.LambdaLR(o, [lambda e: 1.0])
    with pytest.raises(ValueError, match="total_steps"):
        S.OneCycleLR(o, max_lr=0.1)
    with pytest.raises(ValueError, match="momentum"):
        S.OneCycleLR(_opt("Adagrad"), max_lr=0.1, total_steps=10)
    with pytest.raises(ValueError, match="milestones"):
        S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(o, 3)], milestones=[])
    with pytest.raises(ValueError, match="same optimizer"):
        S.SequentialLR(o, [S.StepLR(o, 2), S.StepLR(_opt(), 3)], milestones=[2])
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_opt(), step_size=2, last_epoch=3)
    one = S.OneCycleLR(_opt(momentum=0.9), max_lr=0.1, total_steps=2)
    one.step()
    one.step()
    with pytest.raises(ValueError, match="total steps"):
        one.step()
