"""Round-37 fuzz of optimisers, LR schedulers, nn.utils, nn.init and data against torch:
the differences found (and fixed) plus a lockstep sample of the optimiser option grid."""

import itertools
import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

SHAPES = [(3, 4), (5,), (2, 3, 2), ()]


def _raises_like(fe, ft):
    """Both calls raise, ember's exception an instance of torch's type."""
    with pytest.raises(Exception) as et:
        ft()
    with pytest.raises(type(et.value)):
        fe()


def _params(lib, cplx=False):
    rng = np.random.default_rng(0)
    out = []
    for s in SHAPES:
        a = rng.standard_normal(s)
        if cplx:
            a = a + 1j * rng.standard_normal(s)
        out.append((ember if lib == "e" else torch).tensor(a, requires_grad=True))
    return out


def _grads(step, cplx=False):
    rng = np.random.default_rng(100 + step)
    out = []
    for i, s in enumerate(SHAPES):
        g = rng.standard_normal(s)
        if cplx:
            g = g + 1j * rng.standard_normal(s)
        out.append(None if (i == 2 and step % 3 == 1) else g)  # a parameter skips some steps
    return out


def _kw(kw, lib):
    """('T', v) in the options: a 0-d Tensor of v (float32, torch.tensor's default)."""
    mod = ember if lib == "e" else torch

    def conv(v):
        if isinstance(v, tuple) and v and v[0] == "T":
            return mod.tensor(v[1])
        if isinstance(v, tuple):
            return tuple(conv(x) for x in v)
        return v

    return {k: conv(v) for k, v in kw.items()}


def _lockstep(name, kw, steps=12, cplx=False, resume_at=5):
    """Same parameters, same gradients: parameters and state equal torch's after every step,
    also after both resume from their state_dicts halfway."""
    pe, pt = _params("e", cplx), _params("t", cplx)
    oe = getattr(ember.optim, name)(pe, **_kw(kw, "e"))
    ot = getattr(torch.optim, name)(pt, **_kw(kw, "t"))
    for step in range(steps):
        for p, q, g in zip(pe, pt, _grads(step, cplx)):
            p.grad = None if g is None else ember.tensor(g)
            q.grad = None if g is None else torch.tensor(g)
        oe.step()
        ot.step()
        for a, b in zip(pe, pt):
            np.testing.assert_allclose(
                a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-13
            )
            se, st = oe.state.get(a, {}), ot.state.get(b, {})
            assert set(se) == set(st)
            for k, v in st.items():
                got = se[k].numpy() if isinstance(se[k], ember.Tensor) else se[k]
                ref = v.numpy() if isinstance(v, torch.Tensor) else v
                np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-13)
        if step == resume_at:  # both resumed from their state_dict (torch casts some state)
            sde, sdt = oe.state_dict(), ot.state_dict()
            pe = [ember.tensor(p.detach().numpy(), requires_grad=True) for p in pe]
            pt = [torch.tensor(p.detach().numpy(), requires_grad=True) for p in pt]
            oe = getattr(ember.optim, name)(pe, **_kw(kw, "e"))
            ot = getattr(torch.optim, name)(pt, **_kw(kw, "t"))
            oe.load_state_dict(sde)
            ot.load_state_dict(sdt)


def _grid(**options):
    keys = list(options)
    return [dict(zip(keys, vals)) for vals in itertools.product(*options.values())]


# a sample of the option grid run in full by the round's fuzzer (every combination matched)
LOCKSTEP = (
    [("SGD", kw) for kw in _grid(momentum=[0, 0.9], maximize=[False, True])]
    + [("SGD", dict(momentum=0.9, nesterov=True, weight_decay=0.1))]
    + [("SGD", dict(lr=("T", 0.01), momentum=0.9, dampening=0.3, weight_decay=0.1))]
    + [("Adam", kw) for kw in _grid(amsgrad=[False, True], decoupled_weight_decay=[False, True])]
    + [("Adam", dict(lr=("T", 0.01), weight_decay=0.1, maximize=True))]
    + [("AdamW", dict(lr=("T", 0.01), amsgrad=True))]
    + [("Adamax", dict(lr=("T", 0.01), weight_decay=0.1))]
    + [("NAdam", dict(momentum_decay=1e-2, decoupled_weight_decay=True, weight_decay=0.1))]
    + [("RAdam", dict(lr=("T", 0.01), decoupled_weight_decay=True, weight_decay=0.1))]
    + [("RMSprop", dict(momentum=0.9, centered=True, weight_decay=0.1))]
    + [("Adagrad", dict(lr_decay=0.1, initial_accumulator_value=0.5, maximize=True))]
    + [("Adadelta", dict(lr=("T", 0.5), rho=0.5, weight_decay=0.1))]
    + [("ASGD", dict(t0=5, lambd=0.1, weight_decay=0.1))]
    + [("Rprop", dict(etas=(0.3, 1.5), step_sizes=(1e-3, 0.05), maximize=True))]
    + [("Adafactor", dict(eps=(1e-3, 1e-3), d=1.5, weight_decay=0.1))]
)


@pytest.mark.parametrize("cplx", [False, True])
@pytest.mark.parametrize(("name", "kw"), LOCKSTEP)
def test_optimizer_lockstep_with_torch(name, kw, cplx):
    if cplx and name == "Adafactor":  # torch refuses complex parameters there (as ember)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _lockstep(name, {"lr": 0.01, **kw}, cplx=cplx)


# -- fused groups: torch's fused CPU kernels read a Tensor lr and Tensor betas as doubles,
#    not with the single-tensor path's float32 rounding


@pytest.mark.parametrize(
    ("name", "kw"),
    [
        ("Adam", dict(lr=("T", 0.01), fused=True)),
        ("Adam", dict(lr=("T", 0.01), weight_decay=0.1, decoupled_weight_decay=True, fused=True)),
        ("Adam", dict(lr=0.01, betas=(("T", 0.9), ("T", 0.99)), amsgrad=True, fused=True)),
        ("AdamW", dict(lr=("T", 0.01), betas=(("T", 0.9), ("T", 0.99)), fused=True)),
        ("Adagrad", dict(lr=("T", 0.01), lr_decay=0.1, fused=True)),
        ("SGD", dict(lr=("T", 0.01), momentum=0.9, nesterov=True, fused=True)),
    ],
)
def test_fused_tensor_lr_and_betas_as_torch(name, kw):
    _lockstep(name, kw)


@pytest.mark.parametrize("name", ["Adam", "AdamW", "SGD", "Adagrad"])
def test_fused_group_refuses_complex_parameters_as_torch(name):
    def go(mod):
        p = mod.tensor(np.ones(3) + 1j, requires_grad=True)
        opt = getattr(mod.optim, name)([p], lr=0.1, fused=True)
        p.grad = mod.tensor(np.ones(3) + 0j)
        opt.step()

    _raises_like(lambda: go(ember), lambda: go(torch))


# -- constructor checks as torch's


@pytest.mark.parametrize("bad", ["lr", "eps"])
def test_adafactor_bad_options_as_torch(bad):
    def go(mod):
        # a 2-element Tensor lr: ValueError; eps not a pair: torch fails indexing it (TypeError)
        k = dict(lr=mod.tensor([0.01, 0.01])) if bad == "lr" else dict(eps=-1.0)
        return mod.optim.Adafactor([mod.ones(3, requires_grad=True)], **k)

    _raises_like(lambda: go(ember), lambda: go(torch))


def test_muon_ns_steps_below_one_runs_no_iteration_as_torch():
    a = np.random.default_rng(0).standard_normal((4, 3))
    g = np.random.default_rng(1).standard_normal((4, 3))
    for ns in (-1, 0):
        pe, pt = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        oe, ot = (
            ember.optim.Muon([pe], lr=0.1, ns_steps=ns),
            torch.optim.Muon([pt], lr=0.1, ns_steps=ns),
        )
        for _ in range(3):
            pe.grad, pt.grad = ember.tensor(g), torch.tensor(g)
            oe.step()
            ot.step()
        np.testing.assert_allclose(pe.detach().numpy(), pt.detach().numpy(), rtol=1e-12, atol=1e-14)
    p = ember.ones(2, 2, requires_grad=True)
    opt = ember.optim.Muon([p], ns_steps=100)  # accepted when made, refused at the step (torch)
    p.grad = ember.ones(2, 2)
    with pytest.raises(ValueError, match="less than 100"):
        opt.step()


@pytest.mark.parametrize("cls", ["SequentialLR", "ChainedScheduler"])
def test_scheduler_list_with_a_non_scheduler_is_a_type_error_as_torch(cls):
    def go(mod):
        opt = mod.optim.SGD([mod.ones(2, requires_grad=True)], lr=0.1)
        first = mod.optim.lr_scheduler.StepLR(opt, 2)
        if cls == "SequentialLR":
            return mod.optim.lr_scheduler.SequentialLR(opt, [first, 5], milestones=[2])
        return mod.optim.lr_scheduler.ChainedScheduler([first, 5])

    _raises_like(lambda: go(ember), lambda: go(torch))
    with pytest.raises(TypeError, match="index 1 should have `optimizer`"):
        go(ember)


# -- nn.utils and nn.init errors


@pytest.mark.parametrize(
    "call",
    [
        lambda m, mod: mod.nn.utils.weight_norm(m, "foo"),  # no such attribute: AttributeError
        lambda m, mod: mod.nn.utils.spectral_norm(m, "foo"),  # not a parameter: KeyError
    ],
)
def test_weight_and_spectral_norm_of_a_missing_parameter_as_torch(call):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _raises_like(
            lambda: call(ember.nn.Linear(2, 2), ember), lambda: call(torch.nn.Linear(2, 2), torch)
        )


def test_weight_norm_of_a_plain_attribute_is_a_key_error_as_torch():
    def go(mod):
        m = mod.nn.Linear(2, 2)
        m.foo = 3
        return mod.nn.utils.weight_norm(m, "foo")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _raises_like(lambda: go(ember), lambda: go(torch))


def test_pack_padded_sequence_of_a_1d_input_is_an_index_error_as_torch():
    _raises_like(
        lambda: ember.nn.utils.rnn.pack_padded_sequence(ember.zeros(3), [3]),
        lambda: torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(3), [3]),
    )


@pytest.mark.parametrize("val", [None, [1.0, 2.0, 3.0], np.array(2.0), "a", "T1", 1 + 2j], ids=repr)
def test_constant_refuses_what_torch_fill_refuses(val):
    def go(mod):
        v = mod.tensor([1.0, 2.0, 3.0]) if isinstance(val, str) and val == "T1" else val
        return mod.nn.init.constant_(mod.empty(3, dtype=mod.float64), v)

    _raises_like(lambda: go(ember), lambda: go(torch))


@pytest.mark.parametrize("val", [2.5, True, np.float32(2), "T0", float("nan"), -3], ids=repr)
def test_constant_values_as_torch(val):
    def go(mod):
        v = mod.tensor(1.5) if isinstance(val, str) else val
        return mod.nn.init.constant_(mod.empty(3, dtype=mod.float64), v).numpy()

    np.testing.assert_array_equal(go(ember), go(torch))


def test_sparse_negative_std_is_a_runtime_error_as_torch_normal():
    _raises_like(
        lambda: ember.nn.init.sparse_(ember.empty(4, 3), 0.5, std=-1.0),
        lambda: torch.nn.init.sparse_(torch.empty(4, 3), 0.5, std=-1.0),
    )


def test_clip_grad_value_refuses_complex_gradients_as_torch():
    def go(mod):
        p = mod.tensor(np.ones(3) + 1j, requires_grad=True)
        p.grad = mod.tensor(np.array([3 + 4j, 0.1 - 5j, -2 + 0.2j]))
        mod.nn.utils.clip_grad_value_([p], 0.5)

    _raises_like(lambda: go(ember), lambda: go(torch))
