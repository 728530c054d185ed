"""Training-loop details a PyTorch user relies on, against PyTorch 2.13: what an optimiser's
state_dict() holds (Tensors, PyTorch's types and defaults in param_groups), resuming from it
and from an ember.save checkpoint, and scheduler state_dicts.

Twin models get PyTorch's initial weights; every step's loss, parameters and optimiser state
must agree to 1e-9 relative (float64).
"""

import copy

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

RTOL, ATOL = 1e-9, 1e-10


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().numpy()
    return np.asarray(x.detach().numpy() if isinstance(x, ember.Tensor) else x)


def _flat(x, path="", kind=False):
    """{path: leaf} of a nested state_dict; with ``kind`` {path: kind} instead, tensors by
    dtype and shape, lists/tuples and other leaves by type."""
    out = {}
    if isinstance(x, dict):
        for k, v in x.items():
            out.update(_flat(v, f"{path}/{k}", kind))
    elif isinstance(x, list | tuple):
        if kind:
            out[path] = type(x).__name__
        for i, v in enumerate(x):
            out.update(_flat(v, f"{path}/{i}", kind))
    elif not kind:
        out[path] = x
    elif isinstance(x, torch.Tensor | ember.Tensor):
        out[path] = ("tensor", str(x.dtype).split(".")[-1], tuple(x.shape))
    else:
        out[path] = type(x).__name__
    return out


def _snap(x):
    """A copy of a nested state_dict with every tensor as a NumPy array."""
    if isinstance(x, dict):
        return {k: _snap(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_snap(v) for v in x)
    if isinstance(x, torch.Tensor | ember.Tensor):
        return _np(x).copy()
    return x


def assert_same(t, e, what):
    ft, fe = _flat(t), _flat(e)
    assert sorted(ft) == sorted(fe), what
    for k, a in ft.items():
        b = fe[k]
        if isinstance(a, torch.Tensor | ember.Tensor | np.ndarray | float) and not isinstance(
            a, bool
        ):
            np.testing.assert_allclose(_np(b), _np(a), rtol=RTOL, atol=ATOL, err_msg=what + k)
        else:
            assert a == b, what + k


def _twins(build):
    torch.manual_seed(0)
    tm, em = build(torch.nn).double(), build(ember.nn).double()
    em.load_state_dict({k: ember.tensor(v.numpy().copy()) for k, v in tm.state_dict().items()})
    return tm, em


def _mlp(nn):
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))


_OPTS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=1e-2)),
    ("AdamW", dict(lr=1e-2, amsgrad=True)),
    ("RMSprop", dict(lr=1e-2, centered=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adadelta", dict(lr=1.0)),
    ("Adamax", dict(lr=1e-2)),
    ("NAdam", dict(lr=1e-2)),
    ("RAdam", dict(lr=1e-2)),
    ("ASGD", dict(lr=1e-2, t0=2)),
    ("Rprop", dict(lr=1e-2)),
    ("Adafactor", dict(lr=1e-2)),
    ("LBFGS", dict(lr=0.5, max_iter=3)),
]


def _run(L, model, opt, steps, rng, start=None):
    """``steps`` cross-entropy steps of ``opt`` (an optimiser of library L); yields records."""
    for _ in range(steps):
        x, y = L.tensor(rng.normal(size=(6, 5))), L.tensor(rng.integers(0, 3, 6))

        def closure(x=x, y=y):
            opt.zero_grad()
            loss = L.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            return loss

        loss = opt.step(closure)
        yield loss.item(), _snap(model.state_dict()), _snap(opt.state_dict())


@pytest.mark.parametrize("name, kw", _OPTS, ids=[o for o, _ in _OPTS])
def test_optimizer_state_dict_holds_tensors_and_torch_defaults(name, kw):
    """state_dict() holds Tensors where torch's does (exp_avg, and step as a 0-d float32
    Tensor), param_groups keep PyTorch's defaults (weight_decay=0, an int), and the values
    follow torch's step for step."""
    tm, em = _twins(_mlp)
    to, eo = (
        getattr(torch.optim, name)(tm.parameters(), **kw),
        getattr(ember.optim, name)(em.parameters(), **kw),
    )
    for i, (t, e) in enumerate(zip(_run(torch, tm, to, 3, np.random.default_rng(1)),
                                   _run(ember, em, eo, 3, np.random.default_rng(1)))):  # fmt: skip
        assert_same(t, e, f"step {i}")
    tk, ek = _flat(to.state_dict(), kind=True), _flat(eo.state_dict(), kind=True)
    if name == "LBFGS":  # ("t" is the Python lr, int or float as given, in torch)
        tk.pop("/state/0/t"), ek.pop("/state/0/t")
    assert ek == tk
    sd = eo.state_dict()
    first = sd["state"].get(0, {})
    if "step" in first:
        assert first["step"].item() == 3.0 and first["step"].dtype == ember.float32


@pytest.mark.parametrize("name, kw", _OPTS, ids=[o for o, _ in _OPTS])
@pytest.mark.parametrize("via", ["state_dict", "save"])
def test_resume_from_own_state_dict_equals_uninterrupted_run(name, kw, via, tmp_path):
    """Train 3 steps, rebuild model and optimiser from state_dicts (directly, or through an
    ember.save / ember.load checkpoint), train 3 more: the same as torch doing the same."""
    runs = []
    for L, model in zip((torch, ember), _twins(_mlp)):
        opt = getattr(L.optim, name)(model.parameters(), **kw)
        rng = np.random.default_rng(2)
        list(_run(L, model, opt, 3, rng))
        ck = {"model": model.state_dict(), "opt": opt.state_dict(), "epoch": 3}
        if via == "save":
            L.save(ck, tmp_path / f"{L.__name__}.pt")
            ck = L.load(tmp_path / f"{L.__name__}.pt")
        else:
            ck = copy.deepcopy(ck)
        model = _mlp(L.nn).double()
        model.load_state_dict(ck["model"])
        opt = getattr(L.optim, name)(model.parameters(), **kw)
        opt.load_state_dict(ck["opt"])
        runs.append(_run(L, model, opt, 3, rng))
    for i, (t, e) in enumerate(zip(*runs)):
        assert_same(t, e, f"resumed step {i}")


def test_state_dict_of_a_0d_parameter_round_trips():
    """A scalar parameter's Adam state is 0-d: it loads back as an array, not a number."""
    p = ember.tensor(1.5, dtype=ember.float64, requires_grad=True)
    tp = torch.tensor(1.5, dtype=torch.float64, requires_grad=True)
    o, to = ember.optim.Adam([p], lr=0.1), torch.optim.Adam([tp], lr=0.1)
    for q, opt in ((p, o), (tp, to)):
        (q * q).backward()
        opt.step()
    o2 = ember.optim.Adam([p], lr=0.1)
    o2.load_state_dict(o.state_dict())
    to.zero_grad()
    o2.zero_grad()
    for q, opt in ((p, o2), (tp, to)):
        (q * q).backward()
        opt.step()
    np.testing.assert_allclose(_np(p), _np(tp), rtol=RTOL)
    assert_same(to.state_dict(), o2.state_dict(), "0-d")


def test_save_checkpoint_takes_the_tensor_state_dict(tmp_path):
    """ember.io.save_checkpoint / load_checkpoint with the Tensors state_dict() now holds."""
    from ember import io

    em = _mlp(ember.nn).double()
    o = ember.optim.Adam(em.parameters(), lr=1e-2)
    list(_run(ember, em, o, 2, np.random.default_rng(3)))
    io.save_checkpoint(tmp_path / "c.safetensors", model=em, optimizer=o)
    o2 = ember.optim.Adam(em.parameters(), lr=1e-2)
    io.load_checkpoint(tmp_path / "c.safetensors", optimizer=o2)
    assert_same(o.state_dict(), o2.state_dict(), "checkpoint")


def test_cosine_warm_restarts_state_dict_keeps_step_count_zero():
    """PyTorch's CosineAnnealingWarmRestarts.step never counts: its state_dict's _step_count
    stays 0 whatever the steps."""
    sds = []
    for L in (torch, ember):
        o = L.optim.SGD([L.zeros(2, requires_grad=True)], lr=0.1)
        s = L.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)
        for _ in range(5):
            o.step()
            s.step()
        sds.append({k: v for k, v in s.state_dict().items() if k != "optimizer"})
    assert sds[1].keys() == sds[0].keys()
    for k, v in sds[0].items():
        assert sds[1][k] == pytest.approx(v, rel=1e-12), k


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clip_grad_norm_scales_with_torchs_rounding(dtype):
    """The clip coefficient is reciprocal(total + 1e-6) * max_norm in the norm's dtype, as
    PyTorch's Tensor.__rtruediv__ computes it: with the inf-norm (no summation order to
    differ) the clipped gradients are bit-identical to torch's."""
    rng = np.random.default_rng(0)
    for _ in range(40):
        shapes = [tuple(rng.integers(1, 20, 2)) for _ in range(rng.integers(1, 4))]
        grads = [(rng.normal(size=s) * rng.uniform(0.1, 10)).astype(dtype) for s in shapes]
        max_norm = float(rng.uniform(0.1, 3))
        ps = []
        for L in (torch, ember):
            params = [L.zeros(s, dtype=getattr(L, dtype), requires_grad=True) for s in shapes]
            for p, g in zip(params, grads):
                p.grad = L.tensor(g.copy())
            n = L.nn.utils.clip_grad_norm_(params, max_norm, norm_type=float("inf"))
            ps.append((_np(n), [_np(p.grad) for p in params]))
        (tn, tg), (en, eg) = ps
        assert en.dtype == tn.dtype and en == tn
        for a, b in zip(tg, eg):
            np.testing.assert_array_equal(b, a)


def _user_adam(L):
    """A user's optimiser written as PyTorch's docs show: Tensors in self.state."""

    class UserAdam(L.optim.Optimizer):
        def __init__(self, params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8):
            super().__init__(params, dict(lr=lr, betas=betas, eps=eps))

        @L.no_grad()
        def step(self, closure=None):
            for group in self.param_groups:
                b1, b2 = group["betas"]
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    st = self.state[p]
                    if len(st) == 0:
                        st["step"] = L.tensor(0.0)
                        st["exp_avg"] = L.zeros_like(p)
                        st["exp_avg_sq"] = L.zeros_like(p)
                    st["step"] += 1
                    st["exp_avg"].lerp_(p.grad, 1 - b1)
                    st["exp_avg_sq"].mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
                    t = st["step"].item()
                    denom = (st["exp_avg_sq"].sqrt() / (1 - b2**t) ** 0.5).add_(group["eps"])
                    p.addcdiv_(st["exp_avg"], denom, value=-group["lr"] / (1 - b1**t))

    return UserAdam


def test_user_optimizer_subclass_keeps_tensor_state_through_load_state_dict():
    """A user's Optimizer subclass storing Tensors gets Tensors back from load_state_dict
    (step kept as saved, the rest in the parameter's dtype), so its step() goes on working
    and a resumed run follows torch's."""
    runs = []
    for L, model in zip((torch, ember), _twins(_mlp)):
        opt = _user_adam(L)(model.parameters())
        rng = np.random.default_rng(4)
        out = []
        for i in range(6):
            if i == 3:
                sd = opt.state_dict()
                opt = _user_adam(L)(model.parameters())
                opt.load_state_dict(sd)
                assert isinstance(opt.state[next(iter(model.parameters()))]["step"], L.Tensor)
            x, y = L.tensor(rng.normal(size=(6, 5))), L.tensor(rng.integers(0, 3, 6))
            opt.zero_grad()
            loss = L.nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            out.append((loss.item(), _snap(model.state_dict()), _snap(opt.state_dict())))
        runs.append(out)
    for i, (t, e) in enumerate(zip(*runs)):
        assert_same(t, e, f"step {i}")


_GROUP_SCHEDS = {
    "Cosine": lambda LS, o: LS.CosineAnnealingLR(o, T_max=2),
    "Lambda": lambda LS, o: LS.LambdaLR(o, lambda e: 0.9**e),
    "Multiplicative": lambda LS, o: LS.MultiplicativeLR(o, lambda e: 0.9),
    "WarmRestarts": lambda LS, o: LS.CosineAnnealingWarmRestarts(o, T_0=3),
    "Step": lambda LS, o: LS.StepLR(o, 2, 0.5),
}


@pytest.mark.parametrize("name", list(_GROUP_SCHEDS))
def test_scheduler_after_add_param_group_follows_torch(name):
    """A parameter group added after the scheduler was made: schedulers that close over one
    value per group (base_lrs, lambdas) raise PyTorch's ValueError (its strict zips) at the
    steps torch does; the chainable ones go on scheduling every group."""
    res = []
    for L in (torch, ember):
        a, b = L.zeros(2, requires_grad=True), L.zeros(3, requires_grad=True)
        o = L.optim.SGD([a], lr=0.1, momentum=0.9)
        s = _GROUP_SCHEDS[name](L.optim.lr_scheduler, o)
        out = []
        for i in range(7):
            o.step()
            try:
                s.step()
                out.append([g["lr"] for g in o.param_groups])
            except ValueError:
                out.append("ValueError")
            if i == 1:
                o.add_param_group({"params": [b], "lr": 0.05})
        res.append(out)
    for t, e in zip(*res):
        assert e == t if t == "ValueError" else e == pytest.approx(t, rel=1e-12)


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.0),
        nn.Linear(4 * 3 * 3, 3),
    )


def _user_script(L, model, tmp_path):
    """A training script as a PyTorch user writes it, with ``L`` standing for ``torch``: no
    decay on biases and norms, SGD nesterov, OneCycleLR per optimiser step, gradient
    accumulation over two micro-batches, clipping, eval after each epoch, a checkpoint
    saved with L.save and resumed into fresh objects mid-run."""

    def make(model):
        decay = [p for n, p in model.named_parameters() if p.ndim > 1]
        no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
        opt = L.optim.SGD(
            [{"params": decay, "weight_decay": 1e-3}, {"params": no_decay, "weight_decay": 0}],
            lr=0.05,
            momentum=0.9,
            nesterov=True,
        )
        return opt, L.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=12)

    rng = np.random.default_rng(5)
    data = [(rng.normal(size=(4, 1, 6, 6)), rng.integers(0, 3, 4)) for _ in range(8)]
    crit = L.nn.CrossEntropyLoss(label_smoothing=0.1)
    opt, sched = make(model)
    out = []
    for epoch in range(3):
        if epoch == 2:  # resume from a checkpoint, as a restarted job would
            L.save({"m": model.state_dict(), "o": opt.state_dict(), "s": sched.state_dict()},
                   tmp_path / f"{L.__name__}.pt")  # fmt: skip
            ck = L.load(tmp_path / f"{L.__name__}.pt")
            model = _cnn(L.nn).double()
            model.load_state_dict(ck["m"])
            opt, sched = make(model)
            opt.load_state_dict(ck["o"])
            sched.load_state_dict(ck["s"])
        model.train()
        opt.zero_grad(set_to_none=epoch % 2 == 0)
        for i, (x, y) in enumerate(data):
            loss = crit(model(L.tensor(x)), L.tensor(y)) / 2
            loss.backward()
            if i % 2 == 1:
                norm = L.nn.utils.clip_grad_norm_(model.parameters(), 0.5)
                opt.step()
                sched.step()
                opt.zero_grad()
                out.append((loss.item(), norm.item(), sched.get_last_lr()))
        model.eval()
        with L.no_grad():
            val = crit(model(L.tensor(data[0][0])), L.tensor(data[0][1])).item()
        out.append((val, _snap(model.state_dict()), _snap(opt.state_dict())))
    return out


def test_user_training_script_with_accumulation_clipping_and_resume(tmp_path):
    t, e = (_user_script(L, m, tmp_path) for L, m in zip((torch, ember), _twins(_cnn)))
    assert len(t) == len(e)
    for i, (a, b) in enumerate(zip(t, e)):
        assert_same(a, b, f"record {i}")


_TENSOR_LR = [
    ("Adam", dict(amsgrad=True, weight_decay=0.01)),
    ("AdamW", dict(weight_decay=0.1)),
    ("NAdam", dict(decoupled_weight_decay=True, weight_decay=0.05)),
    ("NAdam", dict()),
    ("RAdam", dict(decoupled_weight_decay=True, weight_decay=0.05)),
    ("Adamax", dict(weight_decay=0.01)),
    ("ASGD", dict(t0=2, weight_decay=0.01)),
]


@pytest.mark.parametrize("name, kw", _TENSOR_LR, ids=[f"{o}-{len(k)}" for o, k in _TENSOR_LR])
def test_float32_tensor_lr_rounds_as_torch(name, kw):
    """lr=tensor(0.01) (float32) on float64 parameters: torch computes lr / (1 - beta1^t) and
    the decoupled decay 1 - lr * weight_decay as float32 tensor arithmetic, and ember rounds
    the same (without it the parameters drift ~1e-8 relative per step); ASGD's eta is
    float32 arithmetic from the lr tensor."""
    rng = np.random.default_rng(0)
    p0, grads = rng.normal(size=(3, 4)), [rng.normal(size=(3, 4)) for _ in range(4)]
    out = []
    for L in (torch, ember):
        p = L.tensor(p0.copy(), requires_grad=True)
        opt = getattr(L.optim, name)([p], lr=L.tensor(0.01), **kw)
        for g in grads:
            p.grad = L.tensor(g.copy())
            opt.step()
        out.append(_np(p).copy())
    np.testing.assert_allclose(out[1], out[0], rtol=1e-14, atol=1e-16)
