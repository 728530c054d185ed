"""stepspeed24: the engine's deferred freed-node decision and the optimisers' positional
kernel calls (speed only): same refusals, same values, same state as before and as torch."""

import numpy as np
import pytest

import ember
from ember.autograd import engine

# ---- engine: whether a node keeps values outside saved_tensors is decided when a pass meets it


def test_node_with_values_in_attributes_still_refuses_second_backward():
    # gather keeps its index in an attribute, not in saved_tensors: torch refuses the second
    # backward, and so must ember although the decision now waits for that second pass
    x = ember.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    y = x.gather(1, ember.tensor([[0], [1], [2]])).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()  # (decided once: still refused)


def test_node_without_values_runs_again_and_accumulates():
    x = ember.tensor(np.ones((3, 4), np.float32), requires_grad=True)
    z = (x.sum(1) + 1).sum()  # Sum, Add, Sum: shapes only
    for _ in range(3):
        z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full((3, 4), 3.0, np.float32))


def test_retain_graph_pass_then_free_pass_then_refusal():
    x = ember.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x.gather(1, ember.tensor([[3], [2], [1]])).tanh().sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()
    t = pytest.importorskip("torch")
    xt = t.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    yt = xt.gather(1, t.tensor([[3], [2], [1]])).tanh().sum()
    yt.backward(retain_graph=True)
    yt.backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


def test_passed_node_marked_then_decided():
    x = ember.tensor(np.ones(5), requires_grad=True)
    s = x.sum()
    s.backward()
    assert s._ctx._freed is engine._PASSED  # no values in saved_tensors: deferred
    s.backward()  # a Sum keeps no values: runs again, and the decision is recorded
    assert s._ctx._freed in (False, engine._PASSED)
    np.testing.assert_array_equal(x.grad.numpy(), np.full(5, 2.0))


def test_hooks_and_autograd_grad_through_a_passed_node():
    x = ember.tensor(np.ones(4), requires_grad=True)
    seen = []
    y = x + 1.0
    y.register_hook(lambda g: seen.append(g.numpy().copy()))
    z = y.sum()
    z.backward()
    (gx,) = ember.autograd.grad(z, x)  # a second pass through the shape-only nodes
    np.testing.assert_array_equal(gx.numpy(), np.ones(4))
    assert len(seen) == 2


# ---- optimisers: positional kernel calls, the same steps and state as torch -------------------


def _run(lib, make_opt, steps=4, clip=False, sched=False):
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 6)).astype(np.float64)
    b1 = rng.standard_normal(8).astype(np.float64)
    w2 = rng.standard_normal((3, 8)).astype(np.float64)
    x = rng.standard_normal((5, 6))
    y = rng.integers(0, 3, 5)
    ps = [lib.tensor(a.copy(), requires_grad=True) for a in (w1, b1, w2)]
    opt = make_opt(lib.optim, ps)
    sch = lib.optim.lr_scheduler.StepLR(opt, 2, 0.5) if sched else None
    xt, yt = lib.tensor(x), lib.tensor(y)
    F = lib.nn.functional
    for _ in range(steps):
        opt.zero_grad()
        h = F.relu(F.linear(xt, ps[0], ps[1]))
        F.cross_entropy(F.linear(h, ps[2]), yt).backward()
        if clip:
            lib.nn.utils.clip_grad_norm_(ps, 0.5)
        opt.step()
        if sch is not None:
            sch.step()
    state = [
        {k: np.asarray(v.detach().numpy() if hasattr(v, "detach") else v) for k, v in s.items()}
        for s in (opt.state[p] for p in ps)
    ]
    return [np.array(p.detach().numpy()) for p in ps], state


OPTIMISERS = {
    "sgd": lambda O, ps: O.SGD(ps, lr=0.1),
    "sgd_nesterov_wd": lambda O, ps: O.SGD(
        ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2
    ),
    "sgd_dampening_max": lambda O, ps: O.SGD(
        ps, lr=0.1, momentum=0.5, dampening=0.3, maximize=True
    ),
    "adam": lambda O, ps: O.Adam(ps, lr=1e-2),
    "adam_amsgrad_wd": lambda O, ps: O.Adam(ps, lr=1e-2, amsgrad=True, weight_decay=0.1),
    "adamw": lambda O, ps: O.AdamW(ps, lr=1e-2, maximize=True),
    "rmsprop_centered_mom": lambda O, ps: O.RMSprop(ps, lr=1e-2, momentum=0.9, centered=True),
    "adagrad": lambda O, ps: O.Adagrad(ps, lr=1e-1, lr_decay=1e-2, weight_decay=1e-3),
    "adadelta": lambda O, ps: O.Adadelta(ps, lr=1.0, weight_decay=1e-3),
    "adamax": lambda O, ps: O.Adamax(ps, lr=1e-2),
    "nadam": lambda O, ps: O.NAdam(ps, lr=1e-2, decoupled_weight_decay=True, weight_decay=0.1),
    "radam": lambda O, ps: O.RAdam(ps, lr=1e-2),
    "rprop": lambda O, ps: O.Rprop(ps, lr=1e-2),
    "asgd": lambda O, ps: O.ASGD(ps, lr=1e-2),
}


@pytest.mark.parametrize("name", sorted(OPTIMISERS))
def test_optimiser_steps_and_state_match_torch(name):
    torch = pytest.importorskip("torch")
    clip = name in ("adam", "sgd_nesterov_wd")
    pe, se = _run(ember, OPTIMISERS[name], clip=clip, sched=clip)
    pt, st = _run(torch, OPTIMISERS[name], clip=clip, sched=clip)
    for a, b in zip(pe, pt):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    for a, b in zip(se, st):
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-10, atol=1e-12, err_msg=k)


def test_positional_call_same_bits_as_keyword_call():
    # the fast path (positional arguments) against the keyword call it replaced
    from ember import _C

    rng = np.random.default_rng(1)
    p0 = rng.standard_normal(100).astype(np.float32)
    g = rng.standard_normal(100).astype(np.float32)
    a = p0.copy()
    b, m2, v2 = p0.copy(), np.zeros_like(p0), np.zeros_like(p0)
    opt = ember.optim.Adam([ember.tensor(a, requires_grad=True)], lr=1e-2, weight_decay=0.1)
    p = opt.param_groups[0]["params"][0]
    for t in range(1, 4):
        p.grad = ember.tensor(g)
        opt.step()
        _C.adam_step(
            b, m2, v2, None, g, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8,
            weight_decay=0.1, decoupled=False, maximize=False, step=float(t),
        )  # fmt: skip
    np.testing.assert_array_equal(p.numpy(), b)
    np.testing.assert_array_equal(opt.state[p]["exp_avg"].numpy(), m2)
    np.testing.assert_array_equal(opt.state[p]["exp_avg_sq"].numpy(), v2)


def test_optimiser_step_hooks_still_called_and_refusals_kept():
    p = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = ember.optim.SGD([p], lr=0.1, momentum=0.9)
    calls = []
    opt.register_step_pre_hook(lambda o, a, k: calls.append("pre"))
    opt.register_step_post_hook(lambda o, a, k: calls.append("post"))
    p.grad = ember.tensor(np.ones(3, np.float32))
    opt.step()
    assert calls == ["pre", "post"]
    np.testing.assert_allclose(p.numpy(), np.full(3, 0.9, np.float32))
    with pytest.raises(NotImplementedError, match="differentiable"):
        ember.optim.Adam([p], differentiable=True)
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        ember.optim.Adam([p], foreach=True, fused=True)


# ---- Module.parameters(): the walk without names ------------------------------------------


def test_parameters_same_tensors_and_order_as_named_parameters_and_torch():
    torch = pytest.importorskip("torch")

    def build(nn):
        shared = nn.Linear(3, 3)
        m = nn.Sequential(
            nn.Linear(2, 3), shared, nn.ReLU(), nn.Sequential(shared, nn.Linear(3, 1))
        )
        m[0].register_parameter("extra", None)  # a None parameter is skipped
        tied = nn.Linear(3, 3)
        m.add_module("tied", tied)
        m.tied.weight = m[1].weight  # a tied weight comes once
        return m

    e, t = build(ember.nn), build(torch.nn)
    assert [id(p) for p in e.parameters()] == [id(p) for _, p in e.named_parameters()]
    assert [tuple(p.shape) for p in e.parameters()] == [tuple(p.shape) for p in t.parameters()]
    assert len(list(e.parameters(recurse=False))) == len(list(t.parameters(recurse=False))) == 0
    assert [id(p) for p in e[0].parameters(recurse=False)] == [id(e[0].weight), id(e[0].bias)]


def test_parameters_follows_a_subclass_named_parameters():
    class Masked(ember.nn.Linear):
        def named_parameters(self, prefix="", recurse=True, remove_duplicate=True):
            yield "weight", self.weight  # (hides the bias)

    m = Masked(2, 2)
    assert [id(p) for p in m.parameters()] == [id(m.weight)]


# ---- clip_grad_norm_: the float32/float64 2-norm's per-gradient rounding ----------------------


@pytest.mark.parametrize("dtypes", [("f", "f"), ("d", "d"), ("f", "d")])
def test_clip_grad_norm_fast_rounding_matches_torch_and_generic_path(dtypes):
    torch = pytest.importorskip("torch")
    from ember.nn.utils import clip_grad

    rng = np.random.default_rng(3)
    arrays = [rng.standard_normal(s).astype(d) * 3 for s, d in zip(((7, 5), (11,)), dtypes)]
    ep = [ember.tensor(a.copy(), requires_grad=True) for a in arrays]
    tp = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    for p, a in zip(ep, arrays):
        p.grad = ember.tensor(a.copy())
    for p, a in zip(tp, arrays):
        p.grad = torch.tensor(a.copy())
    te = ember.nn.utils.clip_grad_norm_(ep, 1.0)
    tt = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    assert te.numpy().dtype == tt.numpy().dtype
    # (float32: ember sums squares in float64, torch in float32: within an ulp or two)
    np.testing.assert_allclose(float(te), float(tt), rtol=3e-7)
    for p, q in zip(ep, tp):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-6)
    # the same bits as the generic per-norm rounding it bypasses (the code before)
    from ember import _C

    sums = _C.sum_squares(arrays)
    per = [float(np.asarray(v**0.5).astype(a.dtype)) for v, a in zip(sums, arrays)]
    want = clip_grad._vector_norm(np.asarray(per), 2.0)
    total = clip_grad.get_total_norm([ember.tensor(a) for a in arrays])
    assert float(total) == float(np.asarray(want, total.numpy().dtype))
