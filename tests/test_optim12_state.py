"""The optimisers' live state as a PyTorch user touches it, in lock step with torch.optim:
``opt.state[p]`` holds Tensors (keys, order, dtypes, shapes, values, when they appear), edits
to them and Tensors assigned to them are what the next step uses, ``state_dict()`` /
``load_state_dict()`` share and cast as torch's do, plus param_groups' defaults, ``__repr__``,
the hooks, ``zero_grad`` and the errors. NumPy references check an edited state's next step."""

import copy
from collections import defaultdict

import numpy as np
import pytest

import ember
from ember import nn, optim

torch = pytest.importorskip("torch")

# (name, kwargs): every optimiser and the options that add state entries
CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1)),
    ("Adadelta", dict()),
    ("Adamax", dict()),
    ("ASGD", dict(lr=0.05, t0=1)),
    ("NAdam", dict()),
    ("RAdam", dict()),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True)),
    ("Rprop", dict()),
    ("Adafactor", dict(lr=0.01)),
]
IDS = [f"{n}-{'-'.join(kw)}" for n, kw in CASES]
SHAPES = [(3, 4), (4,)]


def _e2t(v):
    """An ember state value in torch's form (for comparing)."""
    if isinstance(v, ember.Tensor):
        return torch.from_numpy(np.array(v.numpy()))
    if isinstance(v, list | tuple):
        return type(v)(_e2t(x) for x in v)
    return v


def _assert_same_entry(ev, tv, where):
    if isinstance(tv, torch.Tensor):
        assert isinstance(ev, ember.Tensor), f"{where}: {type(ev).__name__}, torch a Tensor"
        assert str(ev.dtype) == str(tv.dtype).replace("torch.", ""), where
        assert tuple(ev.shape) == tuple(tv.shape), where
        np.testing.assert_allclose(ev.numpy(), tv.numpy(), rtol=1e-4, atol=1e-6, err_msg=where)
    elif isinstance(tv, list):
        assert isinstance(ev, list) and len(ev) == len(tv), where
        for i, (a, b) in enumerate(zip(ev, tv)):
            _assert_same_entry(a, b, f"{where}[{i}]")
    else:
        assert type(ev) is type(tv), f"{where}: {type(ev).__name__} vs torch {type(tv).__name__}"
        if isinstance(tv, float):
            assert ev == pytest.approx(tv, rel=1e-5), where
        else:
            assert ev == tv, where


def _assert_same_state(eopt, topt, eps, tps):
    assert isinstance(eopt.state, defaultdict)
    assert len(eopt.state) == len(topt.state)
    # keyed by the Parameter, in torch's order
    order = {id(p): i for i, p in enumerate(eps)}
    torder = {id(p): i for i, p in enumerate(tps)}
    assert [order[id(p)] for p in eopt.state] == [torder[id(p)] for p in topt.state]
    for ep, tp in zip(eps, tps):
        assert (ep in eopt.state) == (tp in topt.state)
        if tp not in topt.state:
            continue
        es, ts = eopt.state[ep], topt.state[tp]
        assert list(es) == list(ts), f"keys {list(es)} vs torch {list(ts)}"
        for k in ts:
            _assert_same_entry(es[k], ts[k], f"state[{k!r}]")


def _pair(name, kw, seed=0, dtypes=(np.float32, np.float64)):
    rng = np.random.default_rng(seed)
    vals = [rng.standard_normal(s).astype(dt) for s, dt in zip(SHAPES, dtypes)]
    eps = [nn.Parameter(ember.tensor(v.copy())) for v in vals]
    tps = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in vals]
    return eps, tps, getattr(optim, name)(eps, **kw), getattr(torch.optim, name)(tps, **kw)


def _grads(eps, tps, rng):
    for ep, tp in zip(eps, tps):
        g = rng.standard_normal(tuple(tp.shape)).astype(tp.detach().numpy().dtype)
        ep.grad = ember.tensor(g)
        tp.grad = torch.from_numpy(g.copy())


def _step_both(eopt, topt, eps, tps, rng):
    _grads(eps, tps, rng)
    eopt.step()
    topt.step()


def _assert_same_params(eps, tps):
    for ep, tp in zip(eps, tps):
        np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_matches_torch_after_construction_and_each_step(name, kw):
    eps, tps, eopt, topt = _pair(name, kw)
    _assert_same_state(eopt, topt, eps, tps)  # Adagrad's is made at construction
    rng = np.random.default_rng(1)
    for _ in range(3):
        _step_both(eopt, topt, eps, tps, rng)
        _assert_same_state(eopt, topt, eps, tps)
        _assert_same_params(eps, tps)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_is_made_lazily_only_for_parameters_with_a_gradient(name, kw):
    eps, tps, eopt, topt = _pair(name, kw)
    rng = np.random.default_rng(2)
    _grads(eps, tps, rng)
    eps[1].grad, tps[1].grad = None, None
    eopt.step()
    topt.step()
    _assert_same_state(eopt, topt, eps, tps)


def test_step_is_a_float32_tensor_counted_in_place_and_float64_by_default_dtype():
    p = nn.Parameter(ember.tensor(np.ones(3, np.float64)))
    opt = optim.Adam([p])
    p.grad = ember.tensor(np.ones(3))
    opt.step()
    step = opt.state[p]["step"]
    assert step.dtype == np.float32 and step.shape == () and step.item() == 1.0
    opt.step()
    assert opt.state[p]["step"] is step and step.item() == 2.0  # in place, as torch's += 1
    prev = ember.get_default_dtype()
    try:
        ember.set_default_dtype(np.float64)
        torch_prev = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            q, tq = nn.Parameter(ember.tensor(np.ones(3))), torch.nn.Parameter(torch.ones(3))
            o, to = optim.ASGD([q]), torch.optim.ASGD([tq])
            q.grad, tq.grad = ember.tensor(np.ones(3)), torch.ones(3)
            o.step()
            to.step()
            for k in ("step", "eta", "mu"):
                assert str(o.state[q][k].dtype) == str(to.state[tq][k].dtype)[6:] == "float64"
        finally:
            torch.set_default_dtype(torch_prev)
    finally:
        ember.set_default_dtype(prev)


def test_float32_step_stops_counting_at_2_pow_24_as_torch():
    p, tp = nn.Parameter(ember.ones(2)), torch.nn.Parameter(torch.ones(2))
    o, to = optim.Adam([p]), torch.optim.Adam([tp])
    p.grad, tp.grad = ember.ones(2), torch.ones(2)
    o.step()
    to.step()
    o.state[p]["step"].fill_(2.0**24)
    to.state[tp]["step"].fill_(2.0**24)
    o.step()
    to.step()
    assert o.state[p]["step"].item() == to.state[tp]["step"].item() == 2.0**24


EDITS = [  # (name, kwargs, state key): a buffer the user edits or replaces
    ("SGD", dict(lr=0.1, momentum=0.9), "momentum_buffer"),
    ("Adam", dict(lr=0.01, amsgrad=True), "exp_avg"),
    ("Adam", dict(lr=0.01, amsgrad=True), "max_exp_avg_sq"),
    ("AdamW", dict(lr=0.01), "exp_avg_sq"),
    ("Adagrad", dict(lr=0.1), "sum"),
    ("Adadelta", dict(), "acc_delta"),
    ("Adamax", dict(), "exp_inf"),
    ("ASGD", dict(lr=0.05, t0=1), "ax"),
    ("ASGD", dict(lr=0.05, t0=1), "eta"),
    ("NAdam", dict(), "mu_product"),
    ("NAdam", dict(), "exp_avg"),
    ("RAdam", dict(), "exp_avg_sq"),
    ("RMSprop", dict(momentum=0.9, centered=True), "grad_avg"),
    ("Rprop", dict(), "step_size"),
    ("Adafactor", dict(lr=0.01), "row_var"),
    ("Adam", dict(lr=0.01), "step"),
    ("Adamax", dict(), "step"),
    ("RAdam", dict(), "step"),
]
EDIT_IDS = [f"{n}-{k}" for n, _, k in EDITS]


@pytest.mark.parametrize("name,kw,key", EDITS, ids=EDIT_IDS)
def test_in_place_edits_of_state_are_seen_by_the_next_step(name, kw, key):
    eps, tps, eopt, topt = _pair(name, kw)
    rng = np.random.default_rng(3)
    _step_both(eopt, topt, eps, tps, rng)
    for ep, tp in zip(eps, tps):
        if key not in topt.state[tp]:  # (Adafactor's 1-d parameter has no row_var)
            continue
        et, tt = eopt.state[ep][key], topt.state[tp][key]
        before = et
        et.mul_(0.5).add_(0.25)  # (a fractional step too: torch's bias corrections take it)
        tt.mul_(0.5).add_(0.25)
        assert eopt.state[ep][key] is before
    for _ in range(2):
        _step_both(eopt, topt, eps, tps, rng)
        _assert_same_state(eopt, topt, eps, tps)
        _assert_same_params(eps, tps)


@pytest.mark.parametrize("name,kw,key", EDITS, ids=EDIT_IDS)
def test_an_assigned_state_tensor_is_the_one_updated(name, kw, key):
    eps, tps, eopt, topt = _pair(name, kw)
    rng = np.random.default_rng(4)
    _step_both(eopt, topt, eps, tps, rng)
    mine = []
    for ep, tp in zip(eps, tps):
        if key not in topt.state[tp]:
            continue
        old = eopt.state[ep][key]
        new = ember.zeros_like(old) + 0.125
        eopt.state[ep][key] = new
        topt.state[tp][key] = torch.zeros_like(topt.state[tp][key]) + 0.125
        mine.append(new)
    _step_both(eopt, topt, eps, tps, rng)
    for new in mine:
        assert any(s.get(key) is new for s in eopt.state.values())  # in place, not replaced
    _assert_same_state(eopt, topt, eps, tps)
    _assert_same_params(eps, tps)


def test_zeroing_sgd_momentum_buffer_and_resetting_it_to_none():
    eps, tps, eopt, topt = _pair("SGD", dict(lr=0.1, momentum=0.9))
    rng = np.random.default_rng(5)
    _step_both(eopt, topt, eps, tps, rng)
    eopt.state[eps[0]]["momentum_buffer"].zero_()
    topt.state[tps[0]]["momentum_buffer"].zero_()
    eopt.state[eps[1]]["momentum_buffer"] = None  # torch starts it again from the gradient
    topt.state[tps[1]]["momentum_buffer"] = None
    _step_both(eopt, topt, eps, tps, rng)
    _assert_same_state(eopt, topt, eps, tps)
    _assert_same_params(eps, tps)


def test_tensor_methods_on_state_as_users_call_them():
    eps, tps, eopt, topt = _pair("Adam", dict(lr=0.01))
    _step_both(eopt, topt, eps, tps, np.random.default_rng(6))
    for ep, tp in zip(eps, tps):
        es, ts = eopt.state[ep], topt.state[tp]
        assert es["exp_avg"].norm().item() == pytest.approx(ts["exp_avg"].norm().item(), rel=1e-6)
        assert es["step"].item() == ts["step"].item() == 1.0
        assert isinstance(es["step"].item(), float)


def test_state_copied_between_optimizers_continues_identically():
    eps, tps, eopt, topt = _pair("Adam", dict(lr=0.01))
    rng = np.random.default_rng(7)
    _step_both(eopt, topt, eps, tps, rng)
    eps2 = [nn.Parameter(ember.tensor(p.numpy().copy())) for p in eps]
    tps2 = [torch.nn.Parameter(p.detach().clone()) for p in tps]
    eopt2, topt2 = optim.Adam(eps2, lr=0.01), torch.optim.Adam(tps2, lr=0.01)
    for a, b, ta, tb in zip(eps, eps2, tps, tps2):
        eopt2.state[b] = {k: v.clone() for k, v in eopt.state[a].items()}
        topt2.state[tb] = {k: v.clone() for k, v in topt.state[ta].items()}
    for _ in range(2):
        g_rng = np.random.default_rng(8)
        _step_both(eopt, topt, eps, tps, g_rng)
        g_rng = np.random.default_rng(8)
        _step_both(eopt2, topt2, eps2, tps2, g_rng)
    _assert_same_state(eopt2, topt2, eps2, tps2)
    for a, b in zip(eps, eps2):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_edited_adam_state_against_numpy():
    """One Adam step from a hand-set state, computed in float64 by NumPy."""
    rng = np.random.default_rng(9)
    p0, g = rng.standard_normal(5), rng.standard_normal(5)
    m0, v0 = rng.standard_normal(5), rng.random(5)
    p = nn.Parameter(ember.tensor(p0.copy()))
    opt = optim.Adam([p], lr=0.1, betas=(0.8, 0.9), eps=1e-6)
    p.grad = ember.tensor(g)
    opt.step()
    st = opt.state[p]
    st["exp_avg"].copy_(ember.tensor(m0))
    st["exp_avg_sq"] = ember.tensor(v0.copy())
    st["step"].fill_(4.0)
    p.data[...] = p0
    opt.step()
    t = 5
    m = 0.8 * m0 + 0.2 * g
    v = 0.9 * v0 + 0.1 * g * g
    want = p0 - 0.1 / (1 - 0.8**t) * m / (np.sqrt(v) / np.sqrt(1 - 0.9**t) + 1e-6)
    np.testing.assert_allclose(p.numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(st["exp_avg"].numpy(), m, rtol=1e-12)
    np.testing.assert_allclose(st["exp_avg_sq"].numpy(), v, rtol=1e-12)
    assert st["step"].item() == 5.0


def test_edited_rprop_step_size_against_numpy():
    rng = np.random.default_rng(10)
    p0 = rng.standard_normal(6)
    g1, g2 = rng.standard_normal(6), rng.standard_normal(6)
    p = nn.Parameter(ember.tensor(p0.copy()))
    opt = optim.Rprop([p], lr=0.01, etas=(0.5, 1.2), step_sizes=(1e-3, 1.0))
    p.grad = ember.tensor(g1)
    opt.step()
    sizes = rng.random(6) * 0.1 + 0.01
    opt.state[p]["step_size"].copy_(ember.tensor(sizes))
    p1 = p.numpy().copy()
    p.grad = ember.tensor(g2)
    opt.step()
    sign = np.sign(g2 * g1)
    sz = np.clip(sizes * np.where(sign > 0, 1.2, np.where(sign < 0, 0.5, 1.0)), 1e-3, 1.0)
    gg = np.where(sign < 0, 0.0, g2)
    np.testing.assert_allclose(p.numpy(), p1 - np.sign(gg) * sz, rtol=1e-12)
    np.testing.assert_allclose(opt.state[p]["step_size"].numpy(), sz, rtol=1e-12)
    np.testing.assert_array_equal(opt.state[p]["prev"].numpy(), gg)


# ---- LBFGS, SparseAdam, Muon ------------------------------------------------------------


@pytest.mark.parametrize("ls", [None, "strong_wolfe"])
def test_lbfgs_state_keys_types_and_values_match_torch(ls):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((8, 3)), rng.standard_normal(8)
    w0 = rng.standard_normal(3).astype(np.float32)
    ep, tp = nn.Parameter(ember.tensor(w0.copy())), torch.nn.Parameter(torch.from_numpy(w0.copy()))
    kw = dict(lr=0.5, max_iter=4, history_size=3, line_search_fn=ls)
    eopt, topt = optim.LBFGS([ep], **kw), torch.optim.LBFGS([tp], **kw)
    ea, eb = ember.tensor(a.astype(np.float32)), ember.tensor(b.astype(np.float32))
    ta, tb = torch.from_numpy(a.astype(np.float32)), torch.from_numpy(b.astype(np.float32))

    def eclosure():
        eopt.zero_grad()
        loss = ((ea @ ep - eb) ** 2).sum()
        loss.backward()
        return loss

    def tclosure():
        topt.zero_grad()
        loss = ((ta @ tp - tb) ** 2).sum()
        loss.backward()
        return loss

    for _ in range(2):
        eopt.step(eclosure)
        topt.step(tclosure)
        es, ts = eopt.state[ep], topt.state[tp]
        assert list(es) == list(ts)
        for k in ("func_evals", "n_iter", "d", "old_dirs", "old_stps", "prev_flat_grad"):
            _assert_same_entry(es[k], ts[k], k)
        for k in ("ro", "al"):
            assert len(es[k]) == len(ts[k])
            for x, y in zip(es[k], ts[k]):
                assert (x is None) == (y is None)
                if y is not None:
                    assert isinstance(x, ember.Tensor) and x.shape == () and x.dtype == np.float32
                    assert x.item() == pytest.approx(y.item(), rel=1e-4)
        assert isinstance(es["H_diag"], ember.Tensor) and es["H_diag"].shape == ()
        assert es["H_diag"].item() == pytest.approx(ts["H_diag"].item(), rel=1e-4)
        assert es["prev_loss"] == pytest.approx(ts["prev_loss"], rel=1e-4)
        assert float(es["t"]) == pytest.approx(float(ts["t"]), rel=1e-4)


def test_lbfgs_edits_to_its_flat_state_are_seen():
    w0 = np.array([1.0, -2.0, 0.5])
    ep, tp = nn.Parameter(ember.tensor(w0.copy())), torch.nn.Parameter(torch.from_numpy(w0.copy()))
    eopt, topt = optim.LBFGS([ep], max_iter=2), torch.optim.LBFGS([tp], max_iter=2)
    scale = np.array([1.0, 3.0, 10.0])

    def closure(opt, p, lib):
        opt.zero_grad()
        loss = (lib.tensor(scale) * p * p).sum()
        loss.backward()
        return loss

    eopt.step(lambda: closure(eopt, ep, ember))
    topt.step(lambda: closure(topt, tp, torch))
    prev = eopt.state[ep]["prev_flat_grad"]
    prev.mul_(0.5)  # the next step's y = g - prev_flat_grad sees the edit
    topt.state[tp]["prev_flat_grad"].mul_(0.5)
    eopt.state[ep]["d"].mul_(2.0)
    topt.state[tp]["d"].mul_(2.0)
    eopt.step(lambda: closure(eopt, ep, ember))
    topt.step(lambda: closure(topt, tp, torch))
    assert eopt.state[ep]["prev_flat_grad"] is prev  # updated in place, as torch's copy_
    es, ts = eopt.state[ep], topt.state[tp]
    for k in ("d", "old_dirs", "old_stps", "prev_flat_grad"):
        _assert_same_entry(es[k], ts[k], k)
    np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-10)


def test_sparse_adam_step_is_a_python_int_as_torch():
    emb = nn.Embedding(5, 3, sparse=True)
    temb = torch.nn.Embedding(5, 3, sparse=True)
    temb.weight.data.copy_(torch.from_numpy(emb.weight.numpy().copy()))
    eopt, topt = optim.SparseAdam(emb.parameters()), torch.optim.SparseAdam(temb.parameters())
    idx = np.array([0, 2, 2])
    for _ in range(2):
        emb(ember.tensor(idx)).sum().backward()
        temb(torch.from_numpy(idx)).sum().backward()
        eopt.step()
        topt.step()
    es, ts = eopt.state[emb.weight], topt.state[temb.weight]
    assert list(es) == list(ts) and type(es["step"]) is type(ts["step"]) is int
    for k in ("exp_avg", "exp_avg_sq"):
        _assert_same_entry(es[k], ts[k], k)
    np.testing.assert_allclose(emb.weight.numpy(), temb.weight.detach().numpy(), rtol=1e-6)


def test_muon_momentum_buffer_is_a_tensor_updated_in_place():
    rng = np.random.default_rng(12)
    w0 = rng.standard_normal((4, 3))
    p, tp = nn.Parameter(ember.tensor(w0.copy())), torch.nn.Parameter(torch.from_numpy(w0.copy()))
    o, to = optim.Muon([p]), torch.optim.Muon([tp])
    g = rng.standard_normal((4, 3))
    p.grad, tp.grad = ember.tensor(g), torch.from_numpy(g.copy())
    o.step()
    to.step()
    buf = o.state[p]["momentum_buffer"]
    assert list(o.state[p]) == list(to.state[tp]) == ["momentum_buffer"]
    _assert_same_entry(buf, to.state[tp]["momentum_buffer"], "momentum_buffer")
    o.step()
    assert o.state[p]["momentum_buffer"] is buf


# ---- complex parameters: complex state, as torch's ---------------------------------------


@pytest.mark.parametrize("name", ["Adam", "Adagrad", "RMSprop", "SGD"])
def test_complex_parameters_keep_complex_state(name):
    rng = np.random.default_rng(13)
    z = (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(np.complex64)
    kw = dict(lr=0.01, **({"momentum": 0.9} if name in ("SGD", "RMSprop") else {}))
    p, tp = nn.Parameter(ember.tensor(z.copy())), torch.nn.Parameter(torch.from_numpy(z.copy()))
    o, to = getattr(optim, name)([p], **kw), getattr(torch.optim, name)([tp], **kw)
    for _ in range(2):
        g = (rng.standard_normal(3) + 1j * rng.standard_normal(3)).astype(np.complex64)
        p.grad, tp.grad = ember.tensor(g), torch.from_numpy(g.copy())
        o.step()
        to.step()
    assert list(o.state[p]) == list(to.state[tp])
    for k, tv in to.state[tp].items():
        _assert_same_entry(o.state[p][k], tv, k)
    np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), rtol=1e-5)


# ---- state_dict / load_state_dict --------------------------------------------------------


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_layout_and_live_tensors_match_torch(name, kw):
    eps, tps, eopt, topt = _pair(name, kw)
    rng = np.random.default_rng(14)
    _step_both(eopt, topt, eps, tps, rng)
    esd, tsd = eopt.state_dict(), topt.state_dict()
    assert list(esd) == list(tsd) == ["state", "param_groups"]
    assert list(esd["state"]) == list(tsd["state"])
    for i in tsd["state"]:
        assert list(esd["state"][i]) == list(tsd["state"][i])
        for k, tv in tsd["state"][i].items():
            _assert_same_entry(esd["state"][i][k], tv, k)
            # the live Tensors, not copies (torch's too)
            assert (esd["state"][i][k] is eopt.state[eps[i]][k]) == (tv is topt.state[tps[i]][k])
    assert [g["params"] for g in esd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    for eg, tg in zip(esd["param_groups"], tsd["param_groups"]):
        assert list(eg) == list(tg) and eg == tg


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_load_casts_to_the_parameters_dtype_except_step_as_torch(name, kw):
    # saved from float32 parameters, loaded into float64 ones
    eps, tps, eopt, topt = _pair(name, kw, dtypes=(np.float32, np.float32))
    rng = np.random.default_rng(15)
    _step_both(eopt, topt, eps, tps, rng)
    eps2, tps2, eopt2, topt2 = _pair(name, kw, seed=1, dtypes=(np.float64, np.float64))
    eopt2.load_state_dict(eopt.state_dict())
    topt2.load_state_dict(topt.state_dict())
    _assert_same_state(eopt2, topt2, eps2, tps2)
    for ep in eps2:
        for k, v in eopt2.state.get(ep, {}).items():
            if isinstance(v, ember.Tensor):
                assert v.dtype == (np.float32 if k == "step" else np.float64), k
    for _ in range(2):
        _step_both(eopt2, topt2, eps2, tps2, rng)
    _assert_same_state(eopt2, topt2, eps2, tps2)
    _assert_same_params(eps2, tps2)


def test_load_shares_same_dtype_tensors_and_deepcopy_keeps_apart_as_torch():
    eps, tps, eopt, topt = _pair("Adam", dict(lr=0.01), dtypes=(np.float32, np.float32))
    _step_both(eopt, topt, eps, tps, np.random.default_rng(16))
    eps2, tps2, eopt2, topt2 = _pair("Adam", dict(), seed=2, dtypes=(np.float32, np.float32))
    eopt2.load_state_dict(eopt.state_dict())
    topt2.load_state_dict(topt.state_dict())
    e_shared = eopt2.state[eps2[0]]["exp_avg"] is eopt.state[eps[0]]["exp_avg"]
    t_shared = topt2.state[tps2[0]]["exp_avg"] is topt.state[tps[0]]["exp_avg"]
    assert e_shared == t_shared
    eopt2.load_state_dict(copy.deepcopy(eopt.state_dict()))
    assert not np.shares_memory(
        eopt2.state[eps2[0]]["exp_avg"].numpy(), eopt.state[eps[0]]["exp_avg"].numpy()
    )
    assert eopt2.param_groups[0]["lr"] == 0.01


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_torch_state_dict_loads_into_ember_and_continues_in_lock_step(name, kw):
    eps, tps, eopt, topt = _pair(name, kw)
    rng = np.random.default_rng(17)
    for _ in range(2):
        _grads(eps, tps, rng)
        topt.step()
    for ep, tp in zip(eps, tps):
        ep.data[...] = tp.detach().numpy()
    sd = topt.state_dict()
    eopt.load_state_dict(sd)
    topt.load_state_dict(sd)  # (both cast eta/mu_product to a float64 parameter's dtype)
    _assert_same_state(eopt, topt, eps, tps)
    for _ in range(2):
        _step_both(eopt, topt, eps, tps, rng)
    _assert_same_state(eopt, topt, eps, tps)
    _assert_same_params(eps, tps)


def test_plain_number_step_from_a_checkpoint_becomes_a_tensor(tmp_path):
    pytest.importorskip("safetensors")
    p = nn.Parameter(ember.ones(3))
    opt = optim.NAdam([p])
    p.grad = ember.ones(3)
    opt.step()
    path = tmp_path / "ck.safetensors"
    ember.io.save_checkpoint(path, optimizer=opt)
    q = nn.Parameter(ember.ones(3))
    opt2 = optim.NAdam([q])
    ember.io.load_checkpoint(path, optimizer=opt2)
    for k in ("step", "mu_product"):
        v = opt2.state[q][k]
        assert isinstance(v, ember.Tensor) and v.shape == () and v.dtype == np.float32, k
        assert v.item() == opt.state[p][k].item()


# ---- param_groups, repr, zero_grad, hooks -------------------------------------------------

ALL = [
    ("SGD", {}),
    ("Adam", {}),
    ("AdamW", {}),
    ("Adagrad", {}),
    ("Adadelta", {}),
    ("Adamax", {}),
    ("ASGD", {}),
    ("NAdam", {}),
    ("RAdam", {}),
    ("RMSprop", {}),
    ("Rprop", {}),
    ("Adafactor", {}),
    ("LBFGS", {}),
    ("SparseAdam", {}),
    ("Muon", {}),
]


@pytest.mark.parametrize("name,kw", ALL, ids=[n for n, _ in ALL])
def test_default_param_groups_defaults_and_repr_are_torchs(name, kw):
    w = np.ones((2, 3), np.float32)
    ep, tp = nn.Parameter(ember.tensor(w)), torch.nn.Parameter(torch.from_numpy(w.copy()))
    eopt, topt = getattr(optim, name)([ep], **kw), getattr(torch.optim, name)([tp], **kw)
    eg = {k: v for k, v in eopt.param_groups[0].items() if k != "params"}
    tg = {k: v for k, v in topt.param_groups[0].items() if k != "params"}
    assert list(eg) == list(tg) and eg == tg
    assert eopt.defaults == topt.defaults
    assert repr(eopt) == repr(topt)


def test_repr_with_two_groups_is_torchs():
    mk = [np.ones(2, np.float32), np.ones(3, np.float32)]
    eps = [nn.Parameter(ember.tensor(a)) for a in mk]
    tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in mk]
    eopt = optim.SGD([{"params": [eps[0]]}, {"params": [eps[1]], "lr": 0.5}], lr=0.1)
    topt = torch.optim.SGD([{"params": [tps[0]]}, {"params": [tps[1]], "lr": 0.5}], lr=0.1)
    assert repr(eopt) == repr(topt)


@pytest.mark.parametrize("set_to_none", [True, False])
def test_zero_grad_as_torch(set_to_none):
    eps, tps, eopt, topt = _pair("Adam", {})
    _grads(eps, tps, np.random.default_rng(18))
    grads = [p.grad for p in eps]
    eopt.zero_grad(set_to_none=set_to_none)
    topt.zero_grad(set_to_none=set_to_none)
    for ep, tp, g in zip(eps, tps, grads):
        assert (ep.grad is None) == (tp.grad is None) == set_to_none
        if not set_to_none:
            assert ep.grad is g and not ep.grad.numpy().any() and not tp.grad.any()


def test_add_param_group_errors_are_torchs():
    def both(fn):
        errs = []
        for lib, mod in ((ember, optim), (torch, torch.optim)):
            mk = (
                (lambda: nn.Parameter(ember.ones(2)))
                if lib is ember
                else (lambda: torch.nn.Parameter(torch.ones(2)))
            )
            with pytest.raises(Exception) as e:
                fn(mod, mk)
            errs.append(type(e.value))
        return errs

    def duplicate(mod, mk):
        p = mk()
        mod.SGD([p], lr=0.1).add_param_group({"params": [p]})

    def a_set(mod, mk):
        mod.SGD([mk()], lr=0.1).add_param_group({"params": {mk()}})

    def not_a_dict(mod, mk):
        mod.SGD([mk()], lr=0.1).add_param_group([mk()])

    for case in (duplicate, a_set, not_a_dict):
        e, t = both(case)
        assert e is t, case.__name__
    # LBFGS takes one group: torch refuses two at construction (ember also refuses adding one
    # later, which torch accepts and then ignores in step())
    for lib, mod in ((ember, optim), (torch, torch.optim)):
        mk = nn.Parameter if lib is ember else torch.nn.Parameter
        with pytest.raises(ValueError, match="per-parameter options"):
            mod.LBFGS([{"params": [mk(lib.ones(2))]}, {"params": [mk(lib.ones(2))]}])


def test_add_param_group_defaults_and_lazy_state():
    eps, tps, eopt, topt = _pair("Adagrad", dict(lr=0.1))
    e3, t3 = nn.Parameter(ember.ones(2)), torch.nn.Parameter(torch.ones(2))
    eopt.add_param_group({"params": [e3], "lr": 0.5})
    topt.add_param_group({"params": [t3], "lr": 0.5})
    eg = {k: v for k, v in eopt.param_groups[1].items() if k != "params"}
    tg = {k: v for k, v in topt.param_groups[1].items() if k != "params"}
    assert eg == tg
    assert (e3 in eopt.state) == (t3 in topt.state)


def test_hooks_are_called_as_torchs():
    log = {"ember": [], "torch": []}
    for lib, mod in (("ember", optim), ("torch", torch.optim)):
        p = nn.Parameter(ember.ones(2)) if lib == "ember" else torch.nn.Parameter(torch.ones(2))
        opt = mod.Adam([p], lr=0.1)
        out = log[lib]
        opt.register_step_pre_hook(
            lambda o, a, k, out=out: out.append(("pre", len(a), a[0] is o, k))
        )
        opt.register_step_post_hook(
            lambda o, a, k, out=out: out.append(("post", len(a), a[0] is o, k))
        )
        opt.register_state_dict_pre_hook(lambda o, out=out: out.append("sd_pre"))

        def sd_post(o, sd, out=out):
            out.append("sd_post")
            sd["extra"] = 1
            return sd

        opt.register_state_dict_post_hook(sd_post)

        def load_pre(o, sd, out=out):
            out.append(("load_pre", sorted(sd)))
            sd = dict(sd)
            sd.pop("extra")
            return sd

        opt.register_load_state_dict_pre_hook(load_pre)
        h = opt.register_load_state_dict_post_hook(lambda o, out=out: out.append("load_post"))
        p.grad = ember.ones(2) if lib == "ember" else torch.ones(2)
        opt.step()
        sd = opt.state_dict()
        out.append(sorted(sd))
        opt.load_state_dict(sd)
        h.remove()
        opt.load_state_dict(opt.state_dict())
    assert log["ember"] == log["torch"]


# ---- errors -----------------------------------------------------------------------------


def test_a_state_tensor_of_the_wrong_shape_or_type_is_refused_at_the_step():
    p = nn.Parameter(ember.ones(3))
    opt = optim.Adam([p])
    p.grad = ember.ones(3)
    opt.step()
    opt.state[p]["exp_avg"] = ember.zeros(4)
    with pytest.raises(ValueError, match="exp_avg"):
        opt.step()
    opt.state[p]["exp_avg"] = ember.zeros(3, dtype=np.float64)
    with pytest.raises(TypeError, match="exp_avg"):
        opt.step()
    opt.state[p]["exp_avg"] = "zeros"
    with pytest.raises(TypeError, match="exp_avg"):
        opt.step()


def test_load_refuses_state_of_another_shape_and_group_mismatch():
    eps, tps, eopt, topt = _pair("Adam", {})
    _step_both(eopt, topt, eps, tps, np.random.default_rng(19))
    other = optim.Adam([nn.Parameter(ember.ones(5)), nn.Parameter(ember.ones(4))])
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(eopt.state_dict())
    one = optim.Adam([nn.Parameter(ember.ones(5))])
    with pytest.raises(ValueError):
        one.load_state_dict(eopt.state_dict())
    with pytest.raises(ValueError):
        torch.optim.Adam([torch.nn.Parameter(torch.ones(5))]).load_state_dict(topt.state_dict())
