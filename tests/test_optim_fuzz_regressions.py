"""Regressions from a randomised parity sweep of optimisers, lr schedulers, nn.init and data
loading against PyTorch: each test pins one difference that was found and fixed."""

import collections
import copy
import random
import warnings

import numpy as np
import pytest

import ember
import ember.data as ED
import ember.nn.init as EI
import ember.optim as EO
import ember.optim.lr_scheduler as EL

OPTIMS = ["SGD", "Adam", "AdamW", "RAdam", "NAdam", "Adamax", "RMSprop", "Adagrad", "Adadelta",
          "ASGD", "Rprop", "Adafactor", "LBFGS"]  # fmt: skip


def _p(a):
    return ember.tensor(np.array(a, dtype=np.float64), requires_grad=True)


# ---- optimisers ------------------------------------------------------------------------------
@pytest.mark.parametrize("name", OPTIMS)
def test_param_group_keys_are_pytorchs(name):
    torch = pytest.importorskip("torch")
    t = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)], lr=0.1)
    e = getattr(EO, name)([ember.zeros(2, requires_grad=True)], lr=0.1)
    assert list(e.param_groups[0]) == list(t.param_groups[0])
    tg, eg = t.state_dict()["param_groups"][0], e.state_dict()["param_groups"][0]
    assert {k: v for k, v in eg.items() if k != "lr"} == {k: v for k, v in tg.items() if k != "lr"}


def test_frozen_named_duplicate_and_non_leaf_parameters():
    frozen = ember.zeros(2)  # requires_grad=False: accepted (it never gets a gradient)
    w = _p([1.0, 2.0])
    opt = EO.SGD([frozen, w], lr=0.1)
    w.grad = ember.tensor(np.array([1.0, 1.0]))
    opt.step()
    np.testing.assert_allclose(w.numpy(), [0.9, 1.9])
    named = EO.Adam([("w", _p([1.0]))])
    assert named.param_groups[0]["param_names"] == ["w"]
    assert named.state_dict()["param_groups"][0]["param_names"] == ["w"]
    with pytest.raises(ValueError, match="with/without names"):
        EO.Adam([("w", _p([1.0])), _p([2.0])])
    with pytest.raises(ValueError, match="with/without names"):
        named.add_param_group({"params": [_p([3.0])]})
    with pytest.warns(UserWarning, match="duplicate parameters"):
        EO.SGD([w, w])
    with pytest.raises(ValueError, match="more than one parameter group"):
        EO.SGD([{"params": [w]}, {"params": [w]}])
    with pytest.raises(ValueError, match="non-leaf"):
        EO.SGD([w * 2])
    with pytest.raises(TypeError, match="ordered collections"):
        EO.SGD([{"params": {w}}])


def test_tensor_lr_and_implementation_flag_errors():
    torch = pytest.importorskip("torch")
    a = np.array([0.5, -1.0, 2.0])
    tp, ep = torch.tensor(a, requires_grad=True), _p(a)
    to = torch.optim.SGD([tp], lr=torch.tensor(0.25), momentum=0.9)
    eo = EO.SGD([ep], lr=ember.tensor(0.25), momentum=0.9)
    for g in ([1.0, 2.0, 3.0], [-1.0, 0.5, 0.0]):
        tp.grad, ep.grad = torch.tensor(g, dtype=torch.float64), ember.tensor(np.array(g))
        to.step()
        eo.step()
    np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match="1-element"):
        EO.Adam([_p([1.0])], lr=ember.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="foreach=True"):
        EO.Adam([_p([1.0])], lr=ember.tensor(0.1), foreach=True)
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        EO.Adam([_p([1.0])], fused=True, foreach=True)
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        EO.Adam([_p([1.0])], eps=-1.0)


def _run_pair(torch, name, groups, kw, steps=6, seed=0):
    """Run ember and PyTorch on the same groups and gradients; return both parameter lists."""
    rng = np.random.default_rng(seed)
    tg, eg = [], []
    for shapes, opts in groups:
        arrays = [rng.standard_normal(s) for s in shapes]
        tg.append({"params": [torch.tensor(a, requires_grad=True) for a in arrays], **opts})
        eg.append({"params": [_p(a) for a in arrays], **opts})
    to, eo = getattr(torch.optim, name)(tg, **kw), getattr(EO, name)(eg, **kw)
    tps = [p for g in tg for p in g["params"]]
    eps = [p for g in eg for p in g["params"]]
    for _ in range(steps):
        for tp, ep in zip(tps, eps):
            g = rng.standard_normal(tuple(tp.shape))
            tp.grad, ep.grad = torch.tensor(g), ember.tensor(g)
        to.step()
        eo.step()
    return to, eo, tps, eps


def test_sgd_nesterov_is_checked_on_the_arguments_only():
    torch = pytest.importorskip("torch")
    # a group turns nesterov on and inherits dampening=0.1: PyTorch accepts it (and any dampening)
    groups = [([(3,)], {"momentum": 0.5, "nesterov": True}), ([(2,)], {"dampening": -0.2})]
    _, _, tps, eps = _run_pair(torch, "SGD", groups, dict(lr=0.1, momentum=0.9, dampening=0.1))
    for tp, ep in zip(tps, eps):
        np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    with pytest.raises(ValueError, match="Nesterov"):
        EO.SGD([_p([1.0])], momentum=0.9, dampening=0.1, nesterov=True)


def test_positional_arguments_follow_pytorchs_signatures():
    torch = pytest.importorskip("torch")
    a = np.array([1.0, -2.0])
    cases = [
        ("RAdam", (0.1, (0.9, 0.99), 1e-8, 0.1, True)),
        ("NAdam", (0.1, (0.9, 0.99), 1e-8, 0.1, 4e-3, True)),
        ("RMSprop", (0.1, 0.9, 1e-8, 0.0, 0.5, True, False, None, True)),
    ]
    for name, args in cases:
        tp, ep = torch.tensor(a, requires_grad=True), _p(a)
        to, eo = getattr(torch.optim, name)([tp], *args), getattr(EO, name)([ep], *args)
        for _ in range(3):
            tp.grad, ep.grad = torch.tensor([0.3, -0.7], dtype=torch.float64), _p([0.3, -0.7])
            to.step()
            eo.step()
        np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-7)


def test_adagrad_state_of_a_later_group_is_made_at_its_first_step():
    torch = pytest.importorskip("torch")
    to = torch.optim.Adagrad([torch.zeros(2, requires_grad=True)])
    eo = EO.Adagrad([ember.zeros(2, requires_grad=True)])
    to.add_param_group({"params": [torch.zeros(3, requires_grad=True)]})
    eo.add_param_group({"params": [ember.zeros(3, requires_grad=True)]})
    assert list(eo.state_dict()["state"]) == list(to.state_dict()["state"]) == [0]
    p = eo.param_groups[1]["params"][0]
    p.grad = ember.ones(3)
    eo.step()
    assert eo.state[p]["step"] == 1.0 and eo.state[p]["sum"].tolist() == [1.0] * 3
    # a group's own initial_accumulator_value is used (PyTorch reads only the default's: a
    # bug ember does not copy)
    q = ember.zeros(2, requires_grad=True)
    opt = EO.Adagrad([{"params": [q], "initial_accumulator_value": 0.3}])
    np.testing.assert_allclose(opt.state[q]["sum"], [0.3, 0.3], rtol=1e-7)  # float32


def test_adafactor_on_an_empty_parameter():
    # (PyTorch divides by zero here; ember steps it as a no-op)
    p, q = _p(np.zeros((0, 3))), _p([1.0, 2.0])
    opt = EO.Adafactor([p, q])
    p.grad, q.grad = ember.zeros(0, 3, dtype=p.dtype), ember.tensor(np.array([0.5, -0.5]))
    opt.step()
    assert opt.state[p]["step"] == 1.0 and opt.state[p]["row_var"].shape == (0, 1)
    assert np.all(q.numpy() != [1.0, 2.0])


@pytest.mark.parametrize("seed", range(3))
def test_random_configurations_and_pytorch_state_resume(seed):
    """Random options per group, grads None now and then, a resume from PyTorch's state dict
    (as NumPy) half way: parameters and state stay within float64 rounding of PyTorch's."""
    torch = pytest.importorskip("torch")
    r = random.Random(seed)
    opts = {
        "SGD": dict(momentum=0.9, nesterov=True), "Adam": dict(amsgrad=True, maximize=True),
        "AdamW": dict(amsgrad=True, weight_decay=0.1), "RAdam": dict(decoupled_weight_decay=True,
        weight_decay=0.1), "NAdam": dict(momentum_decay=0.1, weight_decay=0.01),
        "Adamax": dict(betas=(0.5, 0.9)), "RMSprop": dict(centered=True, momentum=0.5),
        "Adadelta": dict(rho=0.5, weight_decay=0.1), "ASGD": dict(t0=3.0, lambd=0.1),
        "Rprop": dict(etas=(0.3, 1.5)), "Adagrad": dict(lr_decay=0.1),
    }  # fmt: skip
    for name, extra in opts.items():
        kw = {k: v for k, v in extra.items() if r.random() < 0.7}
        groups = [([(3, 2), ()], {"lr": 0.05}), ([(4,)], kw)]
        rng = np.random.default_rng(seed)
        tg = [{"params": [torch.tensor(rng.standard_normal(s), requires_grad=True)
                          for s in sh], **o} for sh, o in groups]  # fmt: skip
        eg = [{"params": [_p(p.detach().numpy()) for p in g["params"]], **o}
              for g, (_, o) in zip(tg, groups)]  # fmt: skip
        to, eo = getattr(torch.optim, name)(tg, lr=0.01), getattr(EO, name)(eg, lr=0.01)
        tps = [p for g in tg for p in g["params"]]
        eps = [p for g in eg for p in g["params"]]
        for step in range(8):
            for i, (tp, ep) in enumerate(zip(tps, eps)):
                if (i + step) % 4 == 0:
                    tp.grad = ep.grad = None
                    continue
                g = rng.standard_normal(tuple(tp.shape))
                tp.grad, ep.grad = torch.tensor(g), ember.tensor(g)
            to.step()
            eo.step()
            if step == 4:
                tsd = to.state_dict()
                state = {
                    k: {n: v.numpy().copy() if torch.is_tensor(v) else v for n, v in s.items()}
                    for k, s in tsd["state"].items()
                }
                eo.load_state_dict({"state": state, "param_groups": tsd["param_groups"]})
        for tp, ep in zip(tps, eps):
            np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-9, atol=1e-12)
        tsd, esd = to.state_dict(), copy.deepcopy(eo.state_dict())
        assert list(esd["state"]) == list(tsd["state"])
        for k, ts in tsd["state"].items():
            assert list(esd["state"][k]) == list(ts), name
        assert [list(g) for g in esd["param_groups"]] == [list(g) for g in tsd["param_groups"]]


def test_load_state_dict_errors_name_pytorchs_reasons():
    opt = EO.SGD([_p([1.0])])
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})


# ---- lr schedulers -----------------------------------------------------------------------------
def _sgd(n_groups=2):
    groups = [{"params": [ember.zeros(2, requires_grad=True)], "lr": 0.1 * (i + 1)}
              for i in range(n_groups)]  # fmt: skip
    return EO.SGD(groups, lr=0.1, momentum=0.9)


def test_scheduler_warnings_are_pytorchs():
    opt = _sgd()
    sched = EL.StepLR(opt, step_size=2)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        sched.step()
    with pytest.warns(UserWarning, match="use `get_last_lr\\(\\)`"):
        sched.get_lr()
    with pytest.warns(UserWarning, match="epoch parameter"):
        sched.step(3)
    with pytest.warns(UserWarning, match="epoch parameter"):
        EL.ReduceLROnPlateau(_sgd()).step(1.0, epoch=2)
    opt = _sgd()
    sched = EL.CosineAnnealingLR(opt, T_max=5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the right order warns about nothing
        for _ in range(3):
            opt.step()
            sched.step()
    assert sched.state_dict()["_get_lr_called_within_step"] is False


def test_scheduler_state_keys_and_edge_options_match_pytorch():
    torch = pytest.importorskip("torch")
    TL = torch.optim.lr_scheduler

    def both(make):
        out = []
        for lib, L in ((torch, TL), (ember, EL)):
            o = lib.optim.SGD([lib.zeros(1, requires_grad=True)], lr=1.0, momentum=0.9)
            s = make(L, o)
            lrs = []
            for _ in range(12):
                o.step()
                s.step()
                lrs.append(s.get_last_lr()[0])
            out.append((sorted(s.state_dict()), lrs))
        return out

    for make in (lambda L, o: L.OneCycleLR(o, max_lr=1.0, total_steps=20),
                 lambda L, o: L.PolynomialLR(o, total_iters=0),
                 lambda L, o: L.CyclicLR(o, 0.01, 0.1, step_size_up=3)):  # fmt: skip
        (tk, tl), (ek, el) = both(make)
        assert ek == tk
        np.testing.assert_allclose(el, tl, rtol=1e-12)
    with pytest.raises(ValueError, match="eta_min"):
        EL.CosineAnnealingWarmRestarts(_sgd(), T_0=2, eta_min="a")


# ---- nn.init -------------------------------------------------------------------------------------
def test_init_generator_errors_and_warnings():
    draws = [EI.kaiming_normal_(ember.empty(4, 3), generator=np.random.default_rng(7)).numpy()
             for _ in range(2)]  # fmt: skip
    np.testing.assert_array_equal(draws[0], draws[1])
    ref = np.random.default_rng(7).uniform(-0.5, 0.5, (2, 3))
    np.testing.assert_array_equal(
        EI.uniform_(ember.empty(2, 3, dtype=ember.float64), -0.5, 0.5,
                    generator=np.random.default_rng(7)).numpy(), ref)  # fmt: skip
    with pytest.raises(RuntimeError, match="from=2 > to=1"):
        EI.uniform_(ember.empty(3), 2, 1)
    with pytest.raises(RuntimeError, match="from=1 > to=-1"):
        EI.trunc_normal_(ember.empty(3), a=1, b=-1)
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        EI.normal_(ember.empty(3), std=-1)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        EI.xavier_uniform_(ember.empty(3))
    with pytest.warns(UserWarning, match="zero-element"):
        EI.kaiming_uniform_(ember.empty(0, 3))
    with pytest.warns(FutureWarning, match="nn.init.xavier_uniform_"):
        out = EI.xavier_uniform(ember.empty(3, 4))
    assert out.shape == (3, 4)


# ---- data ----------------------------------------------------------------------------------------
def _describe(x):
    """A comparable summary of a collated batch: container types, dtypes and values."""
    if isinstance(x, dict):
        return (type(x).__name__, {k: _describe(v) for k, v in x.items()})
    if isinstance(x, list | tuple):
        return (type(x).__name__, [_describe(v) for v in x])
    if hasattr(x, "numpy"):
        arr = x.detach().numpy() if hasattr(x, "detach") else x.numpy()
        return ("T", str(arr.dtype), arr.tolist())
    return (type(x).__name__, x)


def test_default_collate_and_convert_match_pytorch():
    pytest.importorskip("torch")
    from torch.utils import data as TD

    pair = collections.namedtuple("pair", "a b")
    batches = [
        [(1, 2.0), (3, 4.0)],
        [[1, 2], [3, 4]],
        [{"x": 1, "y": np.ones(2)}, {"x": 2, "y": np.zeros(2)}],
        [{"a": (1, [2.0, 3.0])}, {"a": (4, [5.0, 6.0])}],
        [pair(1, 2.0), pair(3, 4.0)],
        [collections.OrderedDict(a=1), collections.OrderedDict(a=2)],
        [np.float32(1), np.float32(2)],
        [True, False],
        ["a", "b"],
    ]
    for b in batches:
        assert _describe(ED.default_collate(b)) == _describe(TD.default_collate(b))
        assert _describe(ED.default_convert(b)) == _describe(TD.default_convert(b))
    with pytest.raises(RuntimeError, match="equal size"):
        ED.default_collate([[1, 2], [3]])
    with pytest.raises(RuntimeError, match=r"but got \[2\] at entry 0 and \[3\] at entry 1"):
        ED.default_collate([np.ones(2), np.ones(3)])
    with pytest.raises(TypeError, match="batch must contain"):
        ED.default_collate([None, None])
    with pytest.raises(TypeError, match="batch must contain"):
        ED.default_collate([np.array(["a"]), np.array(["b"])])


def test_tensor_dataset_and_loader_batches_match_pytorch():
    torch = pytest.importorskip("torch")
    from torch.utils import data as TD

    X, Y = np.arange(20, dtype=np.float32).reshape(10, 2), np.arange(10)
    tds, eds = TD.TensorDataset(torch.tensor(X), torch.tensor(Y)), ED.TensorDataset(X, Y)
    assert _describe(eds[3]) == _describe(tds[3])
    assert _describe(eds.tensors) == _describe(tds.tensors)
    assert _describe(ED.Subset(eds, [4, 1])[1]) == _describe(TD.Subset(tds, [4, 1])[1])
    for kw in (dict(batch_size=3), dict(batch_size=3, drop_last=True), dict(batch_size=None),
               dict(batch_size=4, collate_fn=lambda b: b)):  # fmt: skip
        assert _describe(list(ED.DataLoader(eds, **kw))) == _describe(
            list(TD.DataLoader(tds, **kw))
        )
    with pytest.raises(AssertionError, match="Size mismatch"):  # PyTorch's type; a ValueError too
        ED.TensorDataset(np.ones(3), np.ones(4))
    for kw, msg in [(dict(batch_size=2.0), "positive integer value"),
                    (dict(prefetch_factor=2), "prefetch_factor"),
                    (dict(persistent_workers=True), "persistent_workers"),
                    (dict(num_workers=-1), "non-negative")]:  # fmt: skip
        with pytest.raises(ValueError, match=msg):
            ED.DataLoader(eds, **kw)


def test_random_split_follows_pytorchs_fraction_rule():
    pytest.importorskip("torch")
    from torch.utils import data as TD

    for lengths in ([0.5, 0.5], [0.33, 0.33, 0.34], [0.25] * 4, [3, 7], [0.1, 0.1, 0.8]):
        assert [len(s) for s in ED.random_split(range(10), lengths)] == [
            len(s) for s in TD.random_split(range(10), lengths)
        ]
    with pytest.warns(UserWarning, match="index 1 is 0"):
        sizes = [len(s) for s in ED.random_split(range(10), [1, 0])]  # 1 + 0 == 1: fractions
    assert sizes == [10, 0]
    with pytest.raises(ValueError, match="Fraction at index 0"):
        ED.random_split(range(10), [-0.5, 1.5])
    with pytest.raises(ValueError, match="Sum of input lengths"):
        ED.random_split(range(10), [5, 6])
    parts = ED.random_split(range(10), [3, 7], generator=np.random.default_rng(0))
    assert sorted(int(i) for s in parts for i in s) == list(range(10))


def test_optimizer_hooks_and_copies_as_pytorch():
    torch = pytest.importorskip("torch")
    import importlib

    logs = []
    for lib in (torch, ember):
        p = lib.zeros(2, requires_grad=True)
        opt, log = lib.optim.Adam([p], lr=0.1), []
        mod = importlib.import_module(f"{lib.__name__}.optim.optimizer")
        pre = opt.register_step_pre_hook(lambda o, a, k, log=log: log.append("pre"))
        post = opt.register_step_post_hook(lambda o, a, k, log=log: log.append("post"))
        opt.register_state_dict_post_hook(lambda o, sd, log=log: log.append(sorted(sd)))
        opt.register_load_state_dict_pre_hook(lambda o, sd, log=log: log.append("load"))
        opt.register_load_state_dict_post_hook(lambda o, log=log: log.append("loaded"))
        glob = mod.register_optimizer_step_pre_hook(lambda o, a, k, log=log: log.append("g"))
        p.grad = lib.ones(2)
        opt.step()
        pre.remove()
        opt.step()
        glob.remove()
        opt.load_state_dict(opt.state_dict())
        post.remove()
        sched = lib.optim.lr_scheduler.StepLR(opt, 1)
        twin = copy.deepcopy(opt)  # the copy's step() steps the copy, without hooks
        twin.step()
        with pytest.warns(UserWarning, match="before `optimizer.step"):
            sched.step()  # the copy's step did not count as this optimiser's
        logs.append(log)
        assert float(p.detach().numpy()[0] if lib is torch else p.numpy()[0]) == pytest.approx(-0.2)
    assert logs[1] == logs[0]


def test_torch_utils_data_path_and_generator():
    from ember.utils.data import DataLoader, TensorDataset, random_split

    assert ember.utils.data.DataLoader is ED.DataLoader
    ds = TensorDataset(ember.arange(10.0))
    splits = [random_split(ds, [0.8, 0.2], generator=ember.Generator().manual_seed(42))
              for _ in range(2)]  # fmt: skip
    assert splits[0][0].indices == splits[1][0].indices
    assert all(type(i) is int for i in splits[0][0].indices)  # a list of ints, as PyTorch
    np.testing.assert_array_equal(  # the same stream as NumPy's PCG64 seeded alike
        splits[0][0].indices + splits[0][1].indices, np.random.default_rng(42).permutation(10)
    )
    g = ember.Generator().manual_seed(3)
    assert g.initial_seed() == 3
    state = g.get_state()
    first = [b[0].tolist() for b in DataLoader(ds, batch_size=4, shuffle=True, generator=g)]
    g.set_state(state)
    again = [b[0].tolist() for b in DataLoader(ds, batch_size=4, shuffle=True, generator=g)]
    assert first == again and sorted(sum(first, [])) == list(range(10))
    with pytest.raises(TypeError, match="ember.Generator"):
        DataLoader(ds, shuffle=True, generator=42)


def test_pin_memory_warns_as_pytorch_without_an_accelerator():
    loader = ED.DataLoader(list(range(4)), batch_size=2, pin_memory=True)
    with pytest.warns(UserWarning, match="no accelerator is found"):
        it = iter(loader)  # on iter(), as PyTorch
    assert [b.tolist() for b in it] == [[0, 1], [2, 3]]
