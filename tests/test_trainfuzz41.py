"""Round 41 training-stack fuzz against torch 2.13: Tensor weight_decay (accepted as torch
accepts it, its decoupled decay factor rounded as torch rounds it), and sampled optimiser,
scheduler, clipping and training configurations side by side with torch."""

import random
import warnings

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue

torch = pytest.importorskip("torch")


def _pair(mod, value):
    """value (a torch Tensor or a number) for the library mod."""
    if mod is ember and isinstance(value, torch.Tensor):
        return ember.tensor(value.numpy())
    if isinstance(value, tuple):
        return tuple(_pair(mod, v) for v in value)
    return value


def _trajectory(mod, name, p0, grads, **kw):
    p = mod.tensor(p0.copy(), requires_grad=True)
    opt = getattr(mod.optim, name)([p], **{k: _pair(mod, v) for k, v in kw.items()})
    out = []
    for g in grads:
        p.grad = mod.tensor(g.copy())
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out), opt


def _draws(dtype, shape=(4, 3), steps=40, seed=0):
    rng = np.random.default_rng(seed)
    p0 = rng.standard_normal(shape).astype(dtype)
    return p0, [rng.standard_normal(shape).astype(dtype) for _ in range(steps)]


# (the step rounds in float32 are torch's: its CPU float32 sqrt is not always correctly
# rounded, so float32 trajectories agree to a few ulps, float64 ones to ~1e-15)
TOL = {"float32": dict(rtol=2e-6, atol=2e-7), "float64": dict(rtol=1e-13, atol=1e-15)}

WD_CASES = [
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=torch.tensor(0.01))),
    ("NAdam", dict(decoupled_weight_decay=True)),
    ("NAdam", dict(decoupled_weight_decay=True, lr=torch.tensor(0.01))),
    ("RAdam", dict(decoupled_weight_decay=True)),
    ("RAdam", dict()),
    ("Adagrad", dict()),
    ("Adamax", dict()),
    ("RMSprop", dict()),
    ("ASGD", dict()),
    ("Adafactor", dict()),
    ("Muon", dict()),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("wd", [torch.tensor(0.1), torch.tensor(0.1, dtype=torch.float64)])
@pytest.mark.parametrize("name,kw", WD_CASES)
def test_tensor_weight_decay_matches_torch(name, kw, wd, dtype):
    # torch takes a 0-d weight_decay; its decoupled factor 1 - lr * wd is then a tensor
    # rounded in wd's dtype (float64 runs differed by ~1e-6 when it was taken as a double)
    p0, grads = _draws(dtype)
    if name == "Muon":  # zero gradients: the decay alone (its bfloat16 step flips ulps)
        grads = [np.zeros_like(g) for g in grads]
    want, _ = _trajectory(torch, name, p0, grads, weight_decay=wd, **kw)
    got, _ = _trajectory(ember, name, p0, grads, weight_decay=wd, **kw)
    np.testing.assert_allclose(got, want, **TOL[dtype])


def test_tensor_weight_decay_must_have_one_element():
    p = ember.zeros(2, 2, requires_grad=True)
    for name in ("SGD", "Adam", "Muon"):
        with pytest.raises(RuntimeError, match=r"weight_decay.*\(2,\)"):
            getattr(ember.optim, name)([p], weight_decay=ember.tensor([0.1, 0.2]))
        with pytest.raises(BadShapeOrValue):
            getattr(ember.optim, name)([p], weight_decay=ember.tensor([0.1, 0.2]))
        with pytest.raises(RuntimeError):  # torch's refusal, for the record
            getattr(torch.optim, name)(
                [torch.zeros(2, 2, requires_grad=True)], weight_decay=torch.tensor([0.1, 0.2])
            )


def _random_options(R, name):
    wd = R.choice([0, 0.1, 1e-2])
    b = lambda: R.random() < 0.5  # noqa: E731
    o = {
        "SGD": lambda: dict(lr=0.05, momentum=0.9, nesterov=b(), weight_decay=wd, maximize=b()),
        "Adam": lambda: dict(
            lr=0.01, betas=(0.5, 0.9), amsgrad=b(), weight_decay=wd, decoupled_weight_decay=b()
        ),
        "NAdam": lambda: dict(momentum_decay=0.1, weight_decay=wd, decoupled_weight_decay=b()),
        "RAdam": lambda: dict(weight_decay=wd, decoupled_weight_decay=b(), maximize=b()),
        "RMSprop": lambda: dict(centered=b(), momentum=R.choice([0, 0.9]), weight_decay=wd),
        "Adagrad": lambda: dict(lr_decay=0.01, initial_accumulator_value=0.1, weight_decay=wd),
        "Adadelta": lambda: dict(rho=0.5, weight_decay=wd, maximize=b()),
        "ASGD": lambda: dict(lambd=0.1, t0=10, weight_decay=wd),
        "Rprop": lambda: dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.05), maximize=b()),
        "Adamax": lambda: dict(weight_decay=wd, maximize=b()),
    }[name]()
    if R.random() < 0.3:
        o["lr"] = torch.tensor(float(o.get("lr", 0.01)))
    return o


@pytest.mark.parametrize("seed", range(4))
def test_sampled_optimiser_trajectories(seed):
    # a seeded sample of the fuzz run this round (146 configurations, 100 steps each)
    R = random.Random(seed)
    names = ["SGD", "Adam", "NAdam", "RAdam", "RMSprop", "Adagrad", "Adadelta", "ASGD", "Rprop"]
    names.append("Adamax")
    for name in R.sample(names, 4):
        kw = _random_options(R, name)
        p0, grads = _draws("float64", steps=30, seed=seed)
        want, topt = _trajectory(torch, name, p0, grads, **kw)
        got, eopt = _trajectory(ember, name, p0, grads, **kw)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"{name} {kw}")
        tstate = topt.state_dict()["state"][0]
        estate = eopt.state_dict()["state"][0]
        assert list(estate) == list(tstate), name


def _scheduler(mod, opt, kind):
    S = mod.optim.lr_scheduler
    if kind == "warm":
        return S.CosineAnnealingWarmRestarts(opt, T_0=5, T_mult=2, eta_min=1e-3)
    if kind == "cyclic":
        return S.CyclicLR(
            opt, [0.01, 0.02], [0.2, 0.1], step_size_up=5, step_size_down=7, mode="exp_range",
            gamma=0.99, cycle_momentum=True, base_momentum=0.8, max_momentum=0.9,
        )  # fmt: skip
    if kind == "onecycle":
        return S.OneCycleLR(
            opt, [0.1, 0.3], total_steps=120, pct_start=0.1, anneal_strategy="linear",
            three_phase=True, div_factor=10.0, final_div_factor=100.0,
        )  # fmt: skip
    if kind == "sequential":
        a = S.LinearLR(opt, start_factor=0.1, total_iters=5)
        b = S.CosineAnnealingLR(opt, T_max=30, eta_min=1e-3)
        return S.SequentialLR(opt, [a, b, S.StepLR(opt, 7, 0.5)], milestones=[5, 45])
    return S.ChainedScheduler(
        [S.ConstantLR(opt, factor=0.5, total_iters=5), S.ExponentialLR(opt, 0.98),
         S.MultiStepLR(opt, [20, 50, 50, 100], 0.3)]
    )  # fmt: skip


@pytest.mark.parametrize("optname", ["SGD", "Adam"])
@pytest.mark.parametrize("kind", ["warm", "cyclic", "onecycle", "sequential", "chained"])
def test_schedules_track_torch_for_120_steps(kind, optname):
    lrs = {}
    for mod in (torch, ember):
        ps = [mod.zeros(3, requires_grad=True), mod.zeros(2, requires_grad=True)]
        kw = dict(momentum=0.9) if optname == "SGD" else {}
        groups = [{"params": [ps[0]]}, {"params": [ps[1]], "lr": 0.05}]
        opt = getattr(mod.optim, optname)(groups, lr=0.1, **kw)
        sched = _scheduler(mod, opt, kind)
        rec = []
        for _ in range(120):
            opt.step()
            sched.step()
            moms = [g["momentum"] if "momentum" in g else g["betas"][0] for g in opt.param_groups]
            rec.append([g["lr"] for g in opt.param_groups] + sched.get_last_lr() + moms)
        lrs[mod] = np.array(rec)
    np.testing.assert_allclose(lrs[ember], lrs[torch], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("norm_type", [2, 1, 0, 0.5, float("inf"), -float("inf"), "inf", -1])
@pytest.mark.parametrize("special", [None, "nan", "inf", "mixed"])
def test_clip_grad_norm_matches_torch(norm_type, special):
    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(s) for s in [(3, 4), (5,), (2, 2, 2)]]
    if special == "nan":
        grads[1][2] = np.nan
    if special == "inf":
        grads[0][0, 0] = np.inf
    if special == "mixed":
        grads[1] = grads[1].astype(np.float32)
    out = {}
    for mod in (torch, ember):
        ps = [mod.zeros(g.shape, dtype=getattr(mod, str(g.dtype))) for g in grads]
        for p, g in zip(ps, grads):
            p.requires_grad_(True)
            p.grad = mod.tensor(g.copy())
        total = mod.nn.utils.clip_grad_norm_(ps, 0.5, norm_type=norm_type)
        out[mod] = (float(total), str(total.dtype)[-7:], [p.grad.numpy() for p in ps])
    (t_tot, t_dt, t_g), (e_tot, e_dt, e_g) = out[torch], out[ember]
    assert e_dt == t_dt
    np.testing.assert_allclose(e_tot, t_tot, rtol=1e-6)
    for a, b in zip(e_g, t_g):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def _lstm(mod):
    nn = mod.nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.lstm = nn.LSTM(8, 6, batch_first=True, bidirectional=True)
            self.fc = nn.Linear(12, 3)

        def forward(self, x):
            return self.fc(self.lstm(self.emb(x))[0][:, -1])

    return M()


def _encoder(mod):
    nn = mod.nn

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 16)
            layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.fc = nn.Linear(16, 3)

        def forward(self, x):
            return self.fc(self.enc(self.emb(x)).mean(1))

    return M()


@pytest.mark.parametrize(
    "make,optname,kw",
    [(_lstm, "NAdam", dict(lr=1e-2)), (_encoder, "AdamW", dict(lr=1e-3, weight_decay=0.1))],
)
def test_training_losses_track_torch_step_by_step(make, optname, kw):
    # float64, the same initial weights and batches, a OneCycle schedule: losses agree to
    # rounding at every step (fuzzed this round: 40 steps, ~3e-16 relative)
    torch.manual_seed(0)
    tm = make(torch).double()
    em = make(ember).to(ember.float64)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    opts = [getattr(m.optim, optname)(n.parameters(), **kw) for m, n in ((torch, tm), (ember, em))]
    scheds = [
        m.optim.lr_scheduler.OneCycleLR(o, max_lr=0.01, total_steps=20)
        for m, o in zip((torch, ember), opts)
    ]
    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's nested-tensor / scheduler notes)
        for _ in range(6):
            x, y = rng.integers(0, 20, (6, 5)), rng.integers(0, 3, 6)
            losses = []
            for mod, net, opt, sched in zip((torch, ember), (tm, em), opts, scheds):
                loss = mod.nn.functional.cross_entropy(net(mod.tensor(x)), mod.tensor(y))
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                losses.append(loss.item())
            assert losses[1] == pytest.approx(losses[0], rel=1e-12)
