"""Training parity hunt against PyTorch (round 25): one regression test per fix (Adam's betas
checks, Adafactor's Tensor lr and complex refusal, LBFGS on complex parameters) and a compact
sample of long optimiser and scheduler runs with every option."""

import copy
import re

import numpy as np
import pytest

import ember
import ember.optim as EO
import ember.optim.lr_scheduler as EL

torch = pytest.importorskip("torch")


def _pair(values):
    return ([torch.tensor(v, requires_grad=True) for v in values],
            [ember.tensor(v, requires_grad=True) for v in values])  # fmt: skip


def _raises_like(tf, ef):
    with pytest.raises(Exception) as te:
        tf()
    with pytest.raises(type(te.value), match=re.escape(str(te.value)[:40])):
        ef()


# ---- fix: Adam/AdamW check the types of betas as torch's constructor does --------------------
@pytest.mark.parametrize("name", ["Adam", "AdamW"])
@pytest.mark.parametrize(
    "betas, extra",
    [
        ((0, 0.99), {}),  # an int: torch wants both floats or both Tensors
        (("t", 0.99), {}),  # mixed
        (("t", "t"), dict(foreach=True)),  # Tensor betas need capturable with foreach
    ],
)
def test_adam_betas_types_are_checked_as_torch(name, betas, extra):
    def make(lib):
        b = tuple(lib.tensor(0.9) if x == "t" else x for x in betas)
        opt = torch.optim if lib is torch else EO
        return getattr(opt, name)([lib.zeros(2, requires_grad=True)], betas=b, **extra)

    _raises_like(lambda: make(torch), lambda: make(ember))


def test_adam_tensor_betas_still_accepted_where_torch_takes_them():
    b = (ember.tensor(0.9), ember.tensor(0.99))
    EO.Adam([ember.zeros(2, requires_grad=True)], betas=b)
    EO.AdamW([ember.zeros(2, requires_grad=True)], betas=b, foreach=True, capturable=True)


# ---- fix: Adafactor with a Tensor lr rounds alpha and the step scale as torch ----------------
@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adafactor_tensor_lr_rounds_as_torch(weight_decay):
    rng = np.random.default_rng(0)
    tps, eps_ = _pair([rng.standard_normal(s) for s in [(4, 3), (5,), (2, 3, 2)]])
    to = torch.optim.Adafactor(tps, lr=torch.tensor(0.02), weight_decay=weight_decay)
    eo = EO.Adafactor(eps_, lr=ember.tensor(0.02), weight_decay=weight_decay)
    for _ in range(60):
        for tp, ep in zip(tps, eps_):
            g = rng.standard_normal(tp.shape) + tp.detach().numpy()
            tp.grad, ep.grad = torch.tensor(g), ember.tensor(g)
        to.step()
        eo.step()
    for tp, ep in zip(tps, eps_):  # (before: ~1e-6 apart, alpha in float64)
        np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=0, atol=1e-13)


# ---- fix: Adafactor and Muon refuse a complex parameter at the step, SparseAdam when built,
# as torch (all three raised a TypeError when built) ----------------------------------------
@pytest.mark.parametrize("name", ["Adafactor", "Muon"])
def test_complex_parameters_refused_at_the_step(name):
    z = np.array([[1 + 2j, 3 - 1j], [0.5j, 2.0]])
    (tp,), (ep,) = _pair([z])
    to, eo = getattr(torch.optim, name)([tp]), getattr(EO, name)([ep])  # both built
    eo.step()  # no gradient: nothing to refuse
    tp.grad, ep.grad = torch.tensor(z), ember.tensor(z)
    _raises_like(to.step, eo.step)
    np.testing.assert_array_equal(ep.numpy(), z)


def test_sparse_adam_refuses_complex_parameters_with_torchs_indices():
    z = np.array([[1 + 2j, 3 - 1j]])
    _raises_like(
        lambda: torch.optim.SparseAdam([torch.zeros(2), torch.tensor(z)]),
        lambda: EO.SparseAdam([ember.zeros(2), ember.tensor(z)]),
    )


# ---- fix: LBFGS optimises complex parameters as torch's (two real entries per element) --------
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_lbfgs_complex_parameters_follow_torch(line_search_fn):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    z0 = rng.standard_normal((3, 2)) + 1j * rng.standard_normal((3, 2))
    tps, eps_ = _pair([z0, rng.standard_normal(3), np.array(0.3 + 0.2j)])
    kw = dict(lr=0.5, history_size=4, max_iter=8, line_search_fn=line_search_fn)
    to, eo = torch.optim.LBFGS(tps, **kw), EO.LBFGS(eps_, **kw)

    def closure(lib, opt, ps, abs_):
        def f():
            opt.zero_grad()
            z, r, c = ps
            w = lib.tensor(a) @ z - c
            loss = (abs_(w) ** 2).sum() + ((r - 1) ** 2).sum() + 0.1 * (abs_(z) ** 4).sum()
            loss.backward()
            return loss

        return f

    for _ in range(3):
        lt = to.step(closure(torch, to, tps, torch.abs))
        le = eo.step(closure(ember, eo, eps_, ember.abs))
        np.testing.assert_allclose(float(le.numpy()), lt.item(), rtol=1e-9)
    for tp, ep in zip(tps, eps_):
        assert ep.dtype == ep.grad.dtype
        np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-11)
    td, ed = to.state_dict()["state"][0]["d"], eo.state_dict()["state"][0]["d"]
    assert ed.shape == tuple(td.shape) == (2 * 6 + 3 + 2,)
    np.testing.assert_allclose(ed.numpy(), td.numpy(), rtol=1e-8, atol=1e-11)


# ---- sample: long runs of every optimiser with its options, two groups, a resume ---------------
_OPTIONS = {
    "SGD": (0.05, dict(momentum=0.9, dampening=0.2, weight_decay=0.1, maximize=True)),
    "Adam": (0.01, dict(betas=(0.5, 0.8), amsgrad=True, weight_decay=0.1,
                        decoupled_weight_decay=True, eps=1e-3)),
    "AdamW": (0.01, dict(amsgrad=True, maximize=True)),
    "Adamax": (0.01, dict(betas=(0.5, 0.8), eps=1e-2, weight_decay=0.1)),
    "NAdam": (0.01, dict(momentum_decay=0.1, decoupled_weight_decay=True, weight_decay=0.1)),
    "RAdam": (0.01, dict(betas=(0.5, 0.8), weight_decay=0.1, maximize=True)),
    "RMSprop": (0.01, dict(alpha=0.5, momentum=0.7, centered=True, weight_decay=0.1)),
    "Adagrad": (0.1, dict(lr_decay=0.1, initial_accumulator_value=0.3, eps=1e-2)),
    "Adadelta": (1.0, dict(rho=0.5, eps=1e-2, weight_decay=0.1, maximize=True)),
    "ASGD": (0.05, dict(lambd=0.1, alpha=0.75, t0=3, weight_decay=0.1)),
    "Rprop": (0.01, dict(etas=(0.3, 1.7), step_sizes=(1e-3, 0.05), maximize=True)),
    "Adafactor": (0.01, dict(beta2_decay=-0.5, eps=(1e-5, 1e-2), d=1.5, weight_decay=0.1)),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(_OPTIONS))
def test_long_runs_with_options_groups_tensor_lr_and_resume(name):
    lr, kw = _OPTIONS[name]
    rng = np.random.default_rng(len(name))
    values = [rng.standard_normal(s) for s in [(3, 2), (), (5,)]]
    tps, eps_ = _pair(values)

    def make(lib, ps):
        opt = torch.optim if lib is torch else EO
        groups = [{"params": ps[:2]}, {"params": ps[2:], "lr": lib.tensor(lr / 2)}]
        return getattr(opt, name)(groups, lr=lr, **kw)

    to, eo = make(torch, tps), make(ember, eps_)
    for step in range(120):
        for i, (tp, ep) in enumerate(zip(tps, eps_)):
            if (i + step) % 7 == 3:  # skipped: no gradient this step
                tp.grad = ep.grad = None
                continue
            x = tp.detach().numpy()
            g = np.tanh(x) + 0.3 * x + 0.1 * rng.standard_normal(x.shape)
            tp.grad, ep.grad = torch.tensor(g), ember.tensor(g)
        to.step()
        eo.step()
        if step == 60:  # resume from its own state dict in a fresh optimiser
            sd = copy.deepcopy(eo.state_dict())
            eo = make(ember, eps_)
            eo.load_state_dict(sd)
    for tp, ep in zip(tps, eps_):
        np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-12)


# ---- sample: composed schedulers over 120 steps with a resume half way -------------------------
def _composed(lib, kind):
    L = torch.optim.lr_scheduler if lib is torch else EL
    opt = (torch.optim if lib is torch else EO).SGD(
        [{"params": [lib.zeros(2, requires_grad=True)], "lr": 0.1 * (i + 1)} for i in range(2)],
        lr=0.1, momentum=0.9,
    )  # fmt: skip
    if kind == "sequential":
        parts = [L.LinearLR(opt, start_factor=0.1, total_iters=10),
                 L.CosineAnnealingWarmRestarts(opt, T_0=7, T_mult=2, eta_min=1e-3),
                 L.ExponentialLR(opt, gamma=0.95)]  # fmt: skip
        return opt, L.SequentialLR(opt, parts, milestones=[10, 60])
    if kind == "chained":
        parts = [L.ConstantLR(opt, factor=0.5, total_iters=8), L.ExponentialLR(opt, 0.97),
                 L.MultiStepLR(opt, [5, 5, 40], 0.3)]  # fmt: skip
        return opt, L.ChainedScheduler(parts)
    if kind == "cyclic":
        return opt, L.CyclicLR(opt, [0.01, 0.02], [0.1, 0.3], step_size_up=4, step_size_down=7,
                               mode="exp_range", gamma=0.98)  # fmt: skip
    return opt, L.OneCycleLR(opt, max_lr=[0.1, 0.2], total_steps=130, anneal_strategy="linear",
                             three_phase=True, div_factor=10, final_div_factor=100)  # fmt: skip


@pytest.mark.parametrize("kind", ["sequential", "chained", "cyclic", "onecycle"])
def test_composed_schedulers_follow_torch_through_a_resume(kind):
    (to, ts), (eo, es) = _composed(torch, kind), _composed(ember, kind)
    for step in range(120):
        np.testing.assert_allclose(es.get_last_lr(), ts.get_last_lr(), rtol=1e-13)
        for tg, eg in zip(to.param_groups, eo.param_groups):
            assert eg["lr"] == pytest.approx(tg["lr"], rel=1e-13)
            assert eg["momentum"] == pytest.approx(tg["momentum"], rel=1e-13)
        to.step()
        eo.step()
        ts.step()
        es.step()
        if step == 40:
            sd, osd = es.state_dict(), eo.state_dict()
            eo, es = _composed(ember, kind)
            eo.load_state_dict(osd)
            es.load_state_dict(sd)
