"""Randomised lockstep sweep of optimisers, lr schedulers, nn.init and gradient clipping against
PyTorch (round 39): random hyperparameters, per-group options, parameters without gradients, a
group added mid-run, a state_dict round trip; each configuration is seeded."""

import math
import random
import warnings

import numpy as np
import pytest

import ember
import ember.nn.init as EI
import ember.nn.utils as EU
import ember.optim as EO
import ember.optim.lr_scheduler as EL

torch = pytest.importorskip("torch")


# ---- optimisers --------------------------------------------------------------------------------
def _opt_cfg(name, rng):
    c = {"lr": 10 ** rng.uniform(-3, -0.5)}
    maximize = rng.random() < 0.3
    if name == "SGD":
        c.update(momentum=rng.choice([0, 0.5, 0.9]), weight_decay=rng.choice([0, 0.01]))
        if c["momentum"] and rng.random() < 0.5:
            c["nesterov"] = True
        else:
            c["dampening"] = rng.choice([0, 0.1])
    elif name in ("Adam", "AdamW"):
        c.update(
            betas=(rng.choice([0.0, 0.8, 0.9]), rng.choice([0.0, 0.9, 0.999])),
            eps=10 ** rng.uniform(-10, -3),
            weight_decay=rng.choice([0, 0.01, 0.1]),
            amsgrad=rng.random() < 0.5,
        )
    elif name == "Adagrad":
        c.update(
            lr_decay=rng.choice([0, 0.01]),
            weight_decay=rng.choice([0, 0.01]),
            eps=10 ** rng.uniform(-10, -3),
        )
    elif name == "Adadelta":
        c.update(
            lr=rng.choice([1.0, 0.5]),
            rho=rng.choice([0.9, 0.5]),
            eps=10 ** rng.uniform(-8, -3),
            weight_decay=rng.choice([0, 0.01]),
        )
    elif name in ("Adamax", "NAdam", "RAdam"):
        c.update(
            betas=(rng.choice([0.5, 0.9]), rng.choice([0.9, 0.999])),
            weight_decay=rng.choice([0, 0.01]),
        )
        if name != "Adamax":
            c["decoupled_weight_decay"] = rng.random() < 0.5
        if name == "NAdam":
            c["momentum_decay"] = rng.choice([0.004, 0.01])
    elif name == "RMSprop":
        c.update(
            alpha=rng.choice([0.9, 0.99]),
            eps=10 ** rng.uniform(-8, -3),
            centered=rng.random() < 0.5,
            momentum=rng.choice([0, 0.5]),
            weight_decay=rng.choice([0, 0.01]),
        )
    elif name == "Rprop":
        c.update(
            etas=(rng.choice([0.3, 0.5]), rng.choice([1.2, 1.5])),
            step_sizes=(rng.choice([1e-6, 1e-4]), rng.choice([1.0, 50.0])),
        )
    elif name == "ASGD":
        c.update(
            lambd=rng.choice([1e-4, 1e-2]),
            alpha=rng.choice([0.75, 0.5]),
            t0=rng.choice([5, 1e6]),
            weight_decay=rng.choice([0, 0.01]),
        )
    elif name == "Adafactor":
        c.update(
            beta2_decay=rng.choice([-0.8, -0.5]),
            d=rng.choice([1.0, 2.0]),
            weight_decay=rng.choice([0, 0.01]),
            eps=(rng.choice([None, 1e-3]), 1e-3),
        )
    c["maximize"] = maximize
    return c


OPTIMS = [
    "SGD",
    "Adam",
    "AdamW",
    "Adagrad",
    "Adadelta",
    "Adamax",
    "NAdam",
    "RAdam",
    "RMSprop",
    "Rprop",
    "ASGD",
    "Adafactor",
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", OPTIMS)
@pytest.mark.parametrize("seed", range(3))
def test_optimiser_lockstep_with_torch(name, seed, dtype):
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    c = _opt_cfg(name, rng)
    tdt = getattr(torch, dtype)
    arrays = [nrng.standard_normal(s) for s in [(3, 4), (5,), (2, 3, 2)]]
    tp = [torch.tensor(a, dtype=tdt, requires_grad=True) for a in arrays]
    ep = [ember.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
    # a second group with its own options (not Adagrad's initial_accumulator_value: PyTorch
    # reads the constructor's one there, ember the group's, see test_optim_fuzz_regressions)
    g2 = {
        k: v
        for k, v in _opt_cfg(name, random.Random(seed + 1000)).items()
        if k not in ("nesterov", "dampening")
    }
    if name == "SGD" and c.get("nesterov"):
        g2["momentum"] = c["momentum"]
    to = getattr(torch.optim, name)([{"params": tp[:2]}, {"params": tp[2:], **g2}], **c)
    eo = getattr(EO, name)([{"params": ep[:2]}, {"params": ep[2:], **g2}], **c)
    tol = 1e-6 if dtype == "float32" else 1e-12
    for step in range(30):
        for a, b in zip(tp, ep):
            if rng.random() < 0.1:  # no gradient this step
                a.grad = b.grad = None
                continue
            g = nrng.standard_normal(a.shape)
            a.grad, b.grad = torch.tensor(g, dtype=tdt), ember.tensor(g.astype(dtype))
        to.step()
        eo.step()
        if step == 8:  # a group added mid-run
            q = nrng.standard_normal((2, 2))
            tp.append(torch.tensor(q, dtype=tdt, requires_grad=True))
            ep.append(ember.tensor(q.astype(dtype), requires_grad=True))
            to.add_param_group({"params": tp[-1:], "lr": c["lr"] * 2})
            eo.add_param_group({"params": ep[-1:], "lr": c["lr"] * 2})
        if step == 15:  # resume from a state_dict in a fresh optimiser
            sd, tsd = eo.state_dict(), to.state_dict()
            for k, s in tsd["state"].items():
                assert list(sd["state"][k]) == list(s), (k, list(s))
            # both reload: loading casts float state (NAdam's mu_product) to the parameter dtype
            eo = getattr(EO, name)([{"params": g["params"]} for g in eo.param_groups], **c)
            eo.load_state_dict(sd)
            to = getattr(torch.optim, name)([{"params": g["params"]} for g in to.param_groups], **c)
            to.load_state_dict(tsd)
        for i, (a, b) in enumerate(zip(tp, ep)):
            ta = a.detach().numpy()
            np.testing.assert_allclose(
                b.numpy(),
                ta,
                rtol=0,
                atol=tol * max(1, np.abs(ta).max()),
                err_msg=f"{name} step {step} param {i} {c} {g2}",
            )


_EXACT = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3)),
    ("ASGD", dict(lr=0.01, t0=3, weight_decay=0.01)),
    ("Adamax", dict(lr=0.1, weight_decay=0.01)),
    ("Rprop", {}),
    ("Adam", dict(lr=0.1, betas=(0.6, 0.99))),  # below: its state only (torch's sqrt is inexact)
    ("NAdam", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01)),  # (no weight decay: the parameter feeds the state)
]


@pytest.mark.skipif(
    torch.backends.cpu.get_cpu_capability() not in ("AVX2", "AVX512"),
    reason="torch's kernels fuse multiply-adds only in its AVX2/AVX512 builds",
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,cfg", _EXACT)
def test_updates_bit_identical_to_torch(name, cfg, dtype):
    # torch's CPU add(alpha=), addcmul and lerp are fused multiply-adds on an FMA machine (its
    # AVX2/AVX512 kernels); ember's kernels fuse the same operations, so the SGD-like updates and
    # the moment estimates are bit-identical (the sqrt-based updates differ by torch's sqrt ulps)
    r = np.random.default_rng(0)
    p0 = r.standard_normal(1000).astype(dtype)
    tp = torch.tensor(p0, requires_grad=True)
    ep = ember.tensor(p0, requires_grad=True)
    to, eo = getattr(torch.optim, name)([tp], **cfg), getattr(EO, name)([ep], **cfg)
    for _ in range(30):
        g = r.standard_normal(1000).astype(dtype)
        tp.grad, ep.grad = torch.tensor(g), ember.tensor(g)
        to.step()
        eo.step()
    for k, v in to.state[tp].items():
        if v.ndim:
            np.testing.assert_array_equal(eo.state[ep][k].numpy(), v.numpy(), err_msg=k)
    if name in ("Adam", "NAdam", "RMSprop"):
        tol = 1e-6 if dtype == "float32" else 1e-14
        np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=0, atol=tol)
    else:
        np.testing.assert_array_equal(ep.numpy(), tp.detach().numpy())


# ---- lr schedulers -------------------------------------------------------------------------------
def _sched_cfg(name, rng, groups):
    if name == "StepLR":
        return dict(step_size=rng.randint(1, 30), gamma=rng.uniform(0.1, 0.99))
    if name == "MultiStepLR":
        return dict(
            milestones=sorted(rng.sample(range(1, 150), rng.randint(1, 5))),
            gamma=rng.uniform(0.1, 0.99),
        )
    if name == "ConstantLR":
        return dict(factor=rng.uniform(0.05, 1), total_iters=rng.randint(0, 50))
    if name == "LinearLR":
        return dict(
            start_factor=rng.uniform(0.05, 1),
            end_factor=rng.uniform(0, 1),
            total_iters=rng.randint(1, 80),
        )
    if name == "ExponentialLR":
        return dict(gamma=rng.uniform(0.9, 1))
    if name == "PolynomialLR":
        return dict(total_iters=rng.randint(1, 150), power=rng.uniform(0.3, 3))
    if name == "CosineAnnealingLR":
        return dict(T_max=rng.randint(1, 100), eta_min=rng.choice([0, 1e-4]))
    if name == "CosineAnnealingWarmRestarts":
        return dict(T_0=rng.randint(1, 30), T_mult=rng.randint(1, 3), eta_min=rng.choice([0, 1e-4]))
    if name == "CyclicLR":
        return dict(
            base_lr=[1e-3 * (i + 1) for i in range(groups)],
            max_lr=0.1,
            step_size_up=rng.randint(1, 40),
            step_size_down=rng.choice([None, 7]),
            mode=rng.choice(["triangular", "triangular2", "exp_range"]),
            gamma=rng.uniform(0.95, 1),
            cycle_momentum=rng.random() < 0.7,
            base_momentum=0.8,
            max_momentum=0.9,
        )
    if name == "OneCycleLR":
        return dict(
            max_lr=rng.uniform(0.01, 1),
            total_steps=200 + rng.randint(0, 5),
            pct_start=rng.uniform(0.1, 0.5),
            anneal_strategy=rng.choice(["cos", "linear"]),
            three_phase=rng.random() < 0.5,
            cycle_momentum=rng.random() < 0.7,
            div_factor=rng.uniform(5, 30),
            final_div_factor=rng.uniform(100, 1e4),
        )
    if name == "LambdaLR":
        return dict(lr_lambda=lambda e: 0.97**e)
    return dict(lr_lambda=lambda e: 0.99)  # MultiplicativeLR


SCHEDS = [
    "StepLR",
    "MultiStepLR",
    "ConstantLR",
    "LinearLR",
    "ExponentialLR",
    "PolynomialLR",
    "CosineAnnealingLR",
    "CosineAnnealingWarmRestarts",
    "CyclicLR",
    "OneCycleLR",
    "LambdaLR",
    "MultiplicativeLR",
]


def _opt_pair(optname, lr, groups):
    kw = dict(momentum=0.9) if optname == "SGD" else {}
    out = []
    for lib, O in ((torch, torch.optim), (ember, EO)):
        ps = [
            {"params": [lib.zeros(2, requires_grad=True)], "lr": lr * (i + 1)}
            for i in range(groups)
        ]
        out.append(getattr(O, optname)(ps, **kw))
    return out


def _same_lrs(a, b, what):
    assert len(a) == len(b), what
    for x, y in zip(a, b):
        assert abs(x - y) <= 1e-12 * max(1, abs(x)), (what, a, b)


@pytest.mark.parametrize("name", SCHEDS)
@pytest.mark.parametrize("seed", range(3))
def test_scheduler_lockstep_with_torch(name, seed):
    TL = torch.optim.lr_scheduler
    rng = random.Random(seed)
    groups, optname = rng.randint(1, 2), rng.choice(["SGD", "Adam"])
    c = _sched_cfg(name, rng, groups)
    to, eo = _opt_pair(optname, rng.uniform(0.01, 0.5), groups)
    ts, es = getattr(TL, name)(to, **c), getattr(EL, name)(eo, **c)
    fractional = name == "CosineAnnealingWarmRestarts" and seed == 1
    for i in range(200):
        to.step()
        eo.step()
        if fractional:
            ts.step(i * 0.37)
            es.step(i * 0.37)
        else:
            ts.step()
            es.step()
        _same_lrs(ts.get_last_lr(), es.get_last_lr(), f"{name} step {i} {c}")
        for key in ("momentum", "betas"):
            tv = [g.get(key) for g in to.param_groups]
            ev = [g.get(key) for g in eo.param_groups]
            np.testing.assert_allclose(np.array(ev, float), np.array(tv, float), rtol=0, atol=1e-12)
        if i == 100:  # both resume from their state_dict in a fresh scheduler
            tsd, esd = ts.state_dict(), es.state_dict()
            assert set(esd) - {"_scale_fn_ref"} == set(tsd) - {"_scale_fn_ref"}
            ts, es = getattr(TL, name)(to, **c), getattr(EL, name)(eo, **c)
            ts.load_state_dict(tsd)
            es.load_state_dict(esd)
            assert es.last_epoch == ts.last_epoch


@pytest.mark.parametrize("seed", range(4))
def test_reduce_lr_on_plateau_lockstep(seed):
    rng = random.Random(seed)
    c = dict(
        mode=rng.choice(["min", "max"]),
        factor=rng.uniform(0.1, 0.9),
        patience=rng.randint(0, 5),
        threshold=rng.choice([1e-4, 0.1, 0]),
        threshold_mode=rng.choice(["rel", "abs"]),
        cooldown=rng.randint(0, 4),
        min_lr=rng.choice([0, [0.01, 0.02], 0.005]),
        eps=rng.choice([1e-8, 1e-3]),
    )
    to, eo = _opt_pair("SGD", 0.1, 2)
    ts = torch.optim.lr_scheduler.ReduceLROnPlateau(to, **c)
    es = EL.ReduceLROnPlateau(eo, **c)
    for i in range(200):
        m = rng.choice([1.0, 1.0 - i * 0.001, rng.random(), 0.5 + 0.001 * i])
        ts.step(m)
        es.step(m)
        _same_lrs(ts.get_last_lr(), es.get_last_lr(), f"step {i} {c}")
        if i == 80:
            sd = es.state_dict()
            assert set(sd) == set(ts.state_dict())
            es = EL.ReduceLROnPlateau(eo, **c)
            es.load_state_dict(sd)


@pytest.mark.parametrize("seed", range(4))
def test_sequential_and_chained_lockstep(seed):
    runs = []
    for lib, O, L in ((torch, torch.optim, torch.optim.lr_scheduler), (ember, EO, EL)):
        rng = random.Random(seed)
        o = O.SGD(
            [{"params": [lib.zeros(2, requires_grad=True)], "lr": 0.1 * (i + 1)} for i in range(2)],
            momentum=0.9,
        )
        s1 = L.LinearLR(o, start_factor=0.1, total_iters=rng.randint(1, 20))
        s2 = L.ExponentialLR(o, gamma=rng.uniform(0.9, 0.99))
        s3 = L.CosineAnnealingLR(o, T_max=rng.randint(5, 50))
        if seed % 2:
            s = L.SequentialLR(o, [s1, s3, s2], milestones=sorted(rng.sample(range(1, 80), 2)))
        else:
            s = L.ChainedScheduler([s1, s2, s3], optimizer=o)
        out = []
        for _ in range(200):
            o.step()
            s.step()
            out.append(s.get_last_lr() + [g["lr"] for g in o.param_groups])
        runs.append(out)
    for i, (a, b) in enumerate(zip(*runs)):
        _same_lrs(a, b, f"step {i}")


# ---- nn.init ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "nonlinearity",
    [
        "linear",
        "conv1d",
        "conv2d",
        "conv3d",
        "conv_transpose1d",
        "conv_transpose2d",
        "conv_transpose3d",
        "sigmoid",
        "tanh",
        "relu",
        "leaky_relu",
        "selu",
    ],
)
def test_calculate_gain_value_and_type(nonlinearity):
    ti = torch.nn.init
    for param in (None, 0.2, 2):
        t = ti.calculate_gain(nonlinearity, param)
        e = EI.calculate_gain(nonlinearity, param)
        assert type(e) is type(t) and e == pytest.approx(t, rel=1e-15), (nonlinearity, param)


def test_init_distributions_ks():
    # Kolmogorov-Smirnov distance against the exact CDFs (NumPy/math only), fixed seed; the
    # critical distance 1.95 / sqrt(n) is p = 0.001
    ember.manual_seed(0)
    erf = np.vectorize(math.erf)

    def ks_ok(x, cdf):
        x = np.sort(x.ravel())
        f, n = cdf(x), x.size
        d = max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))
        return d < 1.95 / math.sqrt(n)

    def ncdf(x, s):
        return 0.5 * (1 + erf(x / (s * math.sqrt(2))))

    def ucdf(x, b):
        return np.clip((x + b) / (2 * b), 0, 1)

    shape, fan_in, fan_out = (80, 60, 3, 3), 60 * 9, 80 * 9
    x = EI.xavier_uniform_(ember.empty(shape), gain=2.0).numpy()
    assert ks_ok(x, lambda v: ucdf(v, 2 * math.sqrt(6 / (fan_in + fan_out))))
    x = EI.xavier_normal_(ember.empty(shape)).numpy()
    assert ks_ok(x, lambda v: ncdf(v, math.sqrt(2 / (fan_in + fan_out))))
    x = EI.kaiming_normal_(ember.empty(shape), mode="fan_out", nonlinearity="tanh").numpy()
    assert ks_ok(x, lambda v: ncdf(v, (5 / 3) / math.sqrt(fan_out)))
    x = EI.kaiming_uniform_(ember.empty(shape), a=0.3).numpy()
    assert ks_ok(x, lambda v: ucdf(v, math.sqrt(2 / (1 + 0.3**2)) * math.sqrt(3 / fan_in)))
    x = EI.trunc_normal_(ember.empty(40000), mean=0.5, std=1.5, a=-1.0, b=2.0).numpy()
    assert x.min() >= -1.0 and x.max() <= 2.0
    lo, hi = ncdf(np.array(-1.5), 1.5), ncdf(np.array(1.5), 1.5)
    assert ks_ok(x, lambda v: (ncdf(v - 0.5, 1.5) - lo) / (hi - lo))
    # a wrong scale is caught: the test can fail
    x = EI.kaiming_uniform_(ember.empty(shape), a=0.3).numpy()
    assert not ks_ok(
        x, lambda v: ucdf(v, 1.1 * math.sqrt(2 / (1 + 0.3**2)) * math.sqrt(3 / fan_in))
    )


# ---- gradient clipping --------------------------------------------------------------------------
def _grads(lib, arrays, dtype):
    ps = []
    for a in arrays:
        if lib is torch:
            p = torch.tensor(a[0], dtype=getattr(torch, dtype), requires_grad=True)
            p.grad = None if a[1] is None else torch.tensor(a[1], dtype=getattr(torch, dtype))
        else:
            p = ember.tensor(a[0].astype(dtype), requires_grad=True)
            p.grad = None if a[1] is None else ember.tensor(a[1].astype(dtype))
        ps.append(p)
    return ps


@pytest.mark.parametrize("seed", range(40))
def test_clip_grad_norm_lockstep(seed):
    rng, nrng = random.Random(seed), np.random.default_rng(seed)
    dtype = rng.choice(["float32", "float64"])
    arrays = []
    for _ in range(rng.randint(1, 4)):
        shape = tuple(rng.randint(1, 5) for _ in range(rng.randint(0, 3)))
        g = (
            None
            if rng.random() < 0.15
            else nrng.standard_normal(shape) * rng.choice([1, 100, 1e-3])
        )
        arrays.append((nrng.standard_normal(shape), g))
    if arrays[0][1] is not None and rng.random() < 0.2:
        arrays[0][1].flat[0] = rng.choice([np.inf, np.nan])
    kw = dict(
        max_norm=rng.choice([0.1, 1.0, 10.0, 0]),
        norm_type=rng.choice([1, 2, 3.5, math.inf, -math.inf, 0, 0.5, "inf"]),
        error_if_nonfinite=rng.random() < 0.3,
        foreach=rng.choice([None, True, False]),
    )
    single = len(arrays) == 1 and rng.random() < 0.5
    out = []
    for lib, U in ((torch, torch.nn.utils), (ember, EU)):
        ps = _grads(lib, arrays, dtype)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                n = float(U.clip_grad_norm_(ps[0] if single else ps, **kw))
        except RuntimeError as e:
            out.append(type(e))
            continue
        out.append((n, [None if p.grad is None else np.array(p.grad.tolist()) for p in ps]))
    t, e = out
    if not isinstance(t, tuple):
        assert e is t
        return
    rtol = 1e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(e[0], t[0], rtol=rtol)
    for a, b in zip(t[1], e[1]):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(b, a, rtol=rtol, atol=1e-300)


# ---- swa_utils ----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("mode", ["swa", "ema_multi", "ema"])
def test_averaged_model_matches_torch(mode, dtype):
    import torch.optim.swa_utils as TS

    import ember.nn as enn
    import ember.optim.swa_utils as ES

    torch.manual_seed(0)
    tm = torch.nn.Linear(30, 20).to(getattr(torch, dtype))
    em = enn.Linear(30, 20)
    if dtype == "float64":
        em.double()
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    kw_t, kw_e = {}, {}
    if mode == "ema_multi":  # torch's _foreach_lerp_: a fused multiply-add, as ember's
        kw_t, kw_e = (
            dict(multi_avg_fn=TS.get_ema_multi_avg_fn(0.9)),
            dict(multi_avg_fn=ES.get_ema_multi_avg_fn(0.9)),
        )
    elif mode == "ema":
        kw_t, kw_e = dict(avg_fn=TS.get_ema_avg_fn(0.9)), dict(avg_fn=ES.get_ema_avg_fn(0.9))
    ta, ea = TS.AveragedModel(tm, **kw_t), ES.AveragedModel(em, **kw_e)
    r = np.random.default_rng(0)
    for _ in range(20):
        for tp, ep in zip(tm.parameters(), em.parameters()):
            d = r.standard_normal(tuple(tp.shape)).astype(dtype)
            with torch.no_grad():
                tp.add_(torch.tensor(d))
            ep.data = ep.data + d
        ta.update_parameters(tm)
        ea.update_parameters(em)
    tsd, esd = ta.state_dict(), ea.state_dict()
    assert list(esd) == list(tsd)
    for k, v in tsd.items():
        np.testing.assert_array_equal(np.asarray(esd[k].numpy()), v.numpy(), err_msg=k)


def test_lerp_kernel_checks_its_arrays():
    a, b = np.zeros(4), np.ones(4)
    ember._C.lerp_(a, b, 0.25)
    np.testing.assert_array_equal(a, [0.25] * 4)
    with pytest.raises(TypeError, match="dtype"):
        ember._C.lerp_(a, np.ones(4, np.float32), 0.5)
    with pytest.raises(ValueError):
        ember._C.lerp_(a, np.ones(5), 0.5)
    with pytest.raises((TypeError, ValueError)):
        ember._C.lerp_(np.zeros(4, np.int64), np.ones(4, np.int64), 0.5)
