"""Differences from torch 2.13 in ember's optimisers and data pipeline, each checked against
torch itself: LBFGS's state types and added groups, strided state Tensors, load_state_dict's
unknown indices and replaced groups, checkpoints' 0-d state dtypes, WeightedRandomSampler's
checks at iteration, random_split's negative lengths, IterableDataset being abstract and
len(iter(loader))."""

import copy

import numpy as np
import pytest

import ember
from ember.utils import data as edata

torch = pytest.importorskip("torch")
tdata = torch.utils.data


def _state_kinds(state, tensor_type):
    """Each state entry's type: (shape, dtype name) for a Tensor, else the Python type."""

    def kind(v):
        if isinstance(v, list):
            return [kind(x) for x in v]
        if isinstance(v, tensor_type):
            return ("Tensor", tuple(v.shape), str(v.dtype).split(".")[-1])
        return type(v).__name__

    return {k: kind(v) for k, v in state.items()}


def _lbfgs(lib, x0, dtype, steps, **kw):
    if lib is torch:
        p = torch.nn.Parameter(torch.tensor(x0, dtype=getattr(torch, dtype)))
    else:
        p = ember.nn.Parameter(ember.tensor(x0, dtype=getattr(ember, dtype)))
    opt = lib.optim.LBFGS([p], max_iter=3, history_size=3, **kw)

    def closure():
        opt.zero_grad()
        loss = ((p - 0.3) ** 4).sum() + (p**2).sum()
        loss.backward()
        return loss

    for _ in range(steps):
        opt.step(closure)
    return opt.state[p], p.detach().numpy() if lib is torch else p.data


@pytest.mark.parametrize("scale", [0.01, 10.0])  # 1/sum|g| above 1, then below 1
@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("lr", [1, 1.0, 0.5])
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_lbfgs_state_has_torchs_types(scale, line_search_fn, lr, steps, dtype):
    x0 = np.array([1.0, 2.0, 3.0, -1.5]) * scale
    ts, tp = _lbfgs(torch, x0, dtype, steps, lr=lr, line_search_fn=line_search_fn)
    es, ep = _lbfgs(ember, x0, dtype, steps, lr=lr, line_search_fn=line_search_fn)
    assert _state_kinds(es, ember.Tensor) == _state_kinds(ts, torch.Tensor)
    np.testing.assert_allclose(ep, tp, rtol=1e-4, atol=1e-5)
    t_t, e_t = ts["t"], es["t"]
    assert float(e_t) == pytest.approx(float(t_t), rel=1e-4)


def test_lbfgs_tensor_lr_gives_a_tensor_t():
    x0 = np.array([0.1, 0.2])
    ts, _ = _lbfgs(torch, x0, "float32", 2, lr=torch.tensor(0.5))
    es, _ = _lbfgs(ember, x0, "float32", 2, lr=ember.tensor(0.5))
    assert _state_kinds(es, ember.Tensor) == _state_kinds(ts, torch.Tensor)


def test_lbfgs_added_param_group_is_refused_by_step_as_torch():
    def attempt(lib, make):
        p, q = make(np.ones(3)), make(np.ones(2))
        opt = lib.optim.LBFGS([p])
        opt.add_param_group({"params": [q]})  # accepted
        assert len(opt.param_groups) == 2

        def closure():
            opt.zero_grad()
            loss = (p**2).sum() + (q**2).sum()
            loss.backward()
            return loss

        with pytest.raises(AssertionError) as err:
            opt.step(closure)
        with pytest.raises(ValueError, match="per-parameter options"):
            lib.optim.LBFGS([{"params": [p]}, {"params": [q]}])
        return str(err.value), p.detach().numpy().copy() if lib is torch else p.data.copy()

    t = attempt(torch, lambda a: torch.nn.Parameter(torch.tensor(a, dtype=torch.float32)))
    e = attempt(ember, lambda a: ember.nn.Parameter(ember.tensor(a, dtype=ember.float32)))
    assert e[0] == t[0]
    np.testing.assert_array_equal(e[1], t[1])  # nothing stepped


@pytest.mark.parametrize(
    "name, key, kw",
    [
        ("Adam", "exp_avg", {"lr": 0.1}),
        ("SGD", "momentum_buffer", {"lr": 0.1, "momentum": 0.9}),
        ("RMSprop", "square_avg", {"lr": 0.01}),
        ("Adagrad", "sum", {"lr": 0.1}),
    ],
)
def test_strided_state_tensor_assigned_by_hand_is_updated_in_place(name, key, kw):
    rng = np.random.default_rng(0)
    w0, g = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    out = {}
    for lib in (torch, ember):
        p = lib.nn.Parameter(lib.tensor(w0, dtype=lib.float32))
        opt = getattr(lib.optim, name)([p], **kw)
        p.grad = lib.tensor(g, dtype=lib.float32)
        opt.step()
        base = lib.zeros(4, 3) + 0.25
        buf = base.t()
        opt.state[p][key] = buf
        opt.step()
        assert opt.state[p][key] is buf
        pd = p.detach().numpy() if lib is torch else p.data
        out[lib] = (pd.copy(), np.asarray(buf.numpy()).copy(), np.asarray(base.numpy()).copy())
    for e, t in zip(out[ember], out[torch]):
        np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out[ember][2].T, out[ember][1])  # the base sees the update


def _adam_state_dict(lib):
    p = lib.nn.Parameter(lib.ones(3))
    q = lib.nn.Parameter(lib.ones(2))
    opt = lib.optim.Adam([p, q], lr=0.1)
    p.grad, q.grad = lib.ones(3), lib.ones(2)
    opt.step()
    return p, q, opt.state_dict()


def test_load_state_dict_keeps_unknown_indices_and_replaces_groups_as_torch():
    res = {}
    for lib in (torch, ember):
        p, q, sd = _adam_state_dict(lib)
        sd = copy.deepcopy(sd)
        extra = {"foo": 1.5}
        sd["state"][7] = extra
        sd["state"]["0"] = {"bar": 2}  # a key that is no saved index: kept as it is
        del sd["param_groups"][0]["amsgrad"]  # torch's __setstate__ sets it back, False
        del sd["param_groups"][0]["lr"]  # not taken from the defaults
        sd["param_groups"][0]["extra"] = 5
        opt = lib.optim.Adam([p, q], lr=0.5, amsgrad=True)
        group = opt.param_groups[0]
        opt.load_state_dict(sd)
        g = opt.param_groups[0]
        res[lib] = (
            sorted(map(str, opt.state_dict()["state"])),
            opt.state[7] is extra,
            opt.state["0"],
            sorted(g),
            {k: g[k] for k in g if k != "params"},
            g is group,
            g["params"][0] is p,
        )
    assert res[ember] == res[torch]


@pytest.mark.parametrize(
    "name", ["SGD", "Adam", "AdamW", "Adagrad", "RMSprop", "NAdam", "RAdam", "Adafactor"]
)
def test_load_state_dict_fills_torchs_setstate_defaults(name):
    res = {}
    for lib in (torch, ember):
        opt = getattr(lib.optim, name)([lib.nn.Parameter(lib.ones(3, 3))], lr=0.1)
        opt.load_state_dict({"state": {}, "param_groups": [{"params": [0]}]})
        res[lib] = {k: v for k, v in opt.param_groups[0].items() if k != "params"}
    assert res[ember] == res[torch]


@pytest.mark.parametrize("default64", [False, True])
@pytest.mark.parametrize("pdtype", ["float32", "float64"])
def test_checkpoint_round_trips_0d_state_dtypes(tmp_path, default64, pdtype):
    pytest.importorskip("safetensors")
    old = ember.get_default_dtype()
    try:
        if default64:  # a float64 mu_product (torch's scalar dtype then)
            ember.set_default_dtype(ember.float64)
        p = ember.nn.Parameter(ember.ones(3, dtype=getattr(ember, pdtype)))
        opt = ember.optim.NAdam([p], lr=0.1)
        p.grad = ember.ones(3, dtype=getattr(ember, pdtype)) * 0.3
        opt.step()
    finally:
        ember.set_default_dtype(old)
    before = {k: v.data.copy() for k, v in opt.state[p].items() if v.ndim == 0}
    assert before["mu_product"].dtype == (np.float64 if default64 else np.float32)
    path = tmp_path / "ck.safetensors"
    ember.io.save_checkpoint(path, optimizer=opt)
    q = ember.nn.Parameter(ember.ones(3, dtype=getattr(ember, pdtype)))
    opt2 = ember.optim.NAdam([q], lr=0.1)
    ember.io.load_checkpoint(path, optimizer=opt2)
    after = {k: v.data for k, v in opt2.state[q].items() if v.ndim == 0}
    # as torch's load_state_dict of the same tensors: step keeps its dtype, mu_product takes
    # the parameter's, each value exact (not rounded through float32 on the way)
    t = torch.optim.NAdam([torch.nn.Parameter(torch.ones(3, dtype=getattr(torch, pdtype)))])
    tp = t.param_groups[0]["params"][0]
    groups = copy.deepcopy(t.state_dict()["param_groups"])
    t.load_state_dict(
        {"state": {0: {k: torch.from_numpy(v) for k, v in before.items()}}, "param_groups": groups}
    )
    assert sorted(after) == sorted(before)
    for k, v in after.items():
        ref = t.state[tp][k].numpy()
        assert v.dtype == ref.dtype, k
        assert v.item() == ref.item(), k


def _weighted(mod, w, n, replacement):
    try:
        s = mod.WeightedRandomSampler(w, n, replacement=replacement)
    except Exception as e:  # noqa: BLE001 - compared with torch's below
        return "init", type(e), str(e)
    assert len(s) == n
    try:
        return "ok", list(s)
    except Exception as e:  # noqa: BLE001
        return "iter", type(e), str(e)


nan, inf = float("nan"), float("inf")


@pytest.mark.parametrize(
    "w", [[0, 1, 0, 2], [0, 0, 0], [1, -1, 2], [1, nan, 2], [1, inf, 2], [1, -inf, 2], [1, 2]]
)
@pytest.mark.parametrize("n", [1, 2, 3, 5])
@pytest.mark.parametrize("replacement", [True, False])
def test_weighted_random_sampler_checks_at_iteration_as_torch(w, n, replacement):
    t = _weighted(tdata, w, n, replacement)
    e = _weighted(edata, w, n, replacement)
    if t[0] != "ok":
        assert e == t  # the same error, raised at the same time
        return
    # random draws: as many, from the positive weights (without replacement all distinct,
    # every positive-weight index before any zero-weight one)
    assert e[0] == "ok" and len(e[1]) == len(t[1]) == n
    positive = {i for i, x in enumerate(w) if x > 0}
    if replacement:
        assert set(e[1]) <= positive
    else:
        assert len(set(e[1])) == n
        assert set(e[1][: len(positive)]) <= positive


def test_weighted_random_sampler_without_replacement_gives_positive_weights_first():
    s = edata.WeightedRandomSampler([0, 1, 0, 2, 0], 4, replacement=False)
    out = list(s)
    assert sorted(out[:2]) == [1, 3] and len(set(out)) == 4
    assert set(out[2:]) <= {0, 2, 4}
    big = list(edata.WeightedRandomSampler([1e308, 1e308], 20))  # (a sum that overflows)
    assert set(big) <= {0, 1}


@pytest.mark.parametrize("lengths", [[-1, 11], [11, -1], [-2, 12]])
def test_random_split_refuses_negative_lengths(lengths):
    # torch 2.13 slices its permutation with them: splits not of the lengths asked for
    t = tdata.random_split(range(10), lengths)
    assert [len(s) for s in t] != lengths
    with pytest.raises(ValueError, match="non-negative"):
        edata.random_split(range(10), lengths)


def test_iterable_dataset_is_abstract_as_torch():
    with pytest.raises(TypeError) as t:
        tdata.IterableDataset()
    with pytest.raises(TypeError) as e:
        edata.IterableDataset()
    assert str(e.value) == str(t.value)

    class Stream(edata.IterableDataset):
        def __iter__(self):
            return iter(range(3))

    assert list(Stream()) == [0, 1, 2]
    assert isinstance(Stream(), edata.Dataset)
    assert not isinstance([1], edata.IterableDataset)


@pytest.mark.parametrize(
    "kw",
    [
        {"batch_size": 3},
        {"batch_size": 3, "drop_last": True},
        {"batch_size": None},
        {"batch_size": 4, "shuffle": True},
    ],
)
def test_single_process_iterator_len_as_torch(kw):
    class T(tdata.Dataset):
        def __getitem__(self, i):
            return i

        def __len__(self):
            return 10

    class E(edata.Dataset):
        def __getitem__(self, i):
            return i

        def __len__(self):
            return 10

    t_it, e_it = iter(tdata.DataLoader(T(), **kw)), iter(edata.DataLoader(E(), **kw))
    assert len(e_it) == len(t_it)
    next(t_it), next(e_it)
    assert len(e_it) == len(t_it)  # the epoch's length, not what is left
    assert len(list(e_it)) == len(list(t_it))


def test_single_process_iterator_len_of_a_sampler_without_len_is_a_type_error():
    class T(tdata.Dataset):
        def __getitem__(self, i):
            return i

    class E(edata.Dataset):
        def __getitem__(self, i):
            return i

    with pytest.raises(TypeError):
        len(iter(tdata.DataLoader(T(), sampler=iter([1, 2, 3]), batch_size=2)))
    with pytest.raises(TypeError):
        len(iter(edata.DataLoader(E(), sampler=iter([1, 2, 3]), batch_size=2)))
    assert list(edata.DataLoader(E(), sampler=iter([1, 2, 3]), batch_size=2)) is not None
