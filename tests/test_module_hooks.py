"""Module hooks, lookups by dotted name, state_dict hooks and extra state, against PyTorch."""

import warnings

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _pair(seed=0):
    """An ember MLP and a torch one with the same weights."""
    ember.manual_seed(seed)
    e = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
    t = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
    e.double()
    t.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in e.state_dict().items()})
    return e, t


def _run_hooks(lib, model, x, log):
    """Register the same hooks on ``model`` (of ``lib``: ember or torch) and run forward."""
    lin = model[0]
    hs = [
        lin.register_forward_pre_hook(lambda m, a: log.append(("pre", a[0].shape[0]))),
        lin.register_forward_pre_hook(lambda m, a: log.append(("pre0",)), prepend=True),
        lin.register_forward_pre_hook(
            lambda m, a, kw: log.append(("prekw", sorted(kw))), with_kwargs=True
        ),
        lin.register_forward_hook(lambda m, a, out: log.append(("fwd", tuple(out.shape)))),
        lin.register_forward_hook(
            lambda m, a, kw, out: log.append(("fwdkw", len(a))), with_kwargs=True
        ),
        lin.register_forward_hook(lambda m, a, out: out * 2, prepend=True),  # doubles output
        model[2].register_forward_pre_hook(lambda m, a: (a[0] + 1,)),  # replaces input
    ]
    y = model(lib.tensor(x))
    return y, hs


def test_forward_hooks_order_arguments_and_replacement():
    e, t = _pair()
    x = np.random.default_rng(0).standard_normal((5, 3))
    loge, logt = [], []
    ye, hs_e = _run_hooks(ember, e, x, loge)
    yt, hs_t = _run_hooks(torch, t, x, logt)
    assert loge == logt
    assert loge == [("pre0",), ("pre", 5), ("prekw", []), ("fwd", (5, 4)), ("fwdkw", 1)]
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-10)
    for h in hs_e:
        h.remove()
    for h in hs_t:
        h.remove()
    loge.clear()
    e(ember.tensor(x))
    assert loge == [] and not e[0]._hooked
    np.testing.assert_allclose(
        e(ember.tensor(x)).numpy(), t(torch.tensor(x)).detach().numpy(), rtol=1e-10
    )


def test_forward_pre_hook_with_kwargs_replaces_args_and_kwargs():
    class M(nn.Module):
        def forward(self, a, scale=1.0):
            return a * scale

    m = M()
    m.register_forward_pre_hook(lambda mod, a, kw: ((a[0] + 1,), {"scale": 3.0}), with_kwargs=True)
    np.testing.assert_allclose(m(ember.tensor([1.0]), scale=2.0).numpy(), [6.0])
    m2 = M()
    m2.register_forward_pre_hook(lambda mod, a, kw: 5, with_kwargs=True)
    with pytest.raises(RuntimeError, match="forward pre-hook must return None or a tuple"):
        m2(ember.tensor([1.0]))
    m3 = M()
    m3.register_forward_pre_hook(lambda mod, a: ember.tensor([4.0]))  # single value -> (value,)
    np.testing.assert_allclose(m3(ember.tensor([1.0])).numpy(), [4.0])


def test_always_call_hook_runs_when_forward_raises():
    class Bad(nn.Module):
        def forward(self, x):
            raise ValueError("boom")

    calls = []
    m = Bad()
    m.register_forward_hook(lambda mod, a, out: calls.append(("always", out)), always_call=True)
    m.register_forward_hook(lambda mod, a, out: calls.append("normal"))
    with pytest.raises(ValueError, match="boom"):
        m(ember.tensor([1.0]))
    assert calls == [("always", None)]


def test_handle_context_manager_and_global_hooks():
    from ember.nn.modules import module as mm

    lin = nn.Linear(2, 2)
    seen = []
    with lin.register_forward_hook(lambda m, a, o: seen.append("local")):
        lin(ember.zeros(1, 2))
    lin(ember.zeros(1, 2))
    assert seen == ["local"]
    h = mm.register_module_forward_hook(lambda m, a, o: seen.append(type(m).__name__))
    try:
        nn.Sequential(nn.ReLU())(ember.zeros(1))
    finally:
        h.remove()
    assert seen == ["local", "ReLU", "Sequential"]
    assert not nn.ReLU()._hooked
    nn.ReLU()(ember.zeros(1))
    assert len(seen) == 3
    grads = []
    hs = [
        mm.register_module_forward_pre_hook(lambda m, a: (a[0] * 2,)),
        mm.register_module_full_backward_pre_hook(lambda m, go: grads.append(("pre", go[0]))),
        mm.register_module_full_backward_hook(lambda m, gi, go: grads.append(("full", gi[0]))),
    ]
    try:
        x = ember.tensor(np.array([1.0, -2.0]), requires_grad=True)
        y = nn.Tanh()(x)
        y.sum().backward()
    finally:
        for h in hs:
            h.remove()
    np.testing.assert_allclose(y.numpy(), np.tanh([2.0, -4.0]))
    assert [k for k, _ in grads] == ["pre", "full"]
    np.testing.assert_allclose(grads[0][1].numpy(), [1.0, 1.0])
    np.testing.assert_allclose(grads[1][1].numpy(), 1 - np.tanh([2.0, -4.0]) ** 2)
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh([2.0, -4.0]) ** 2))
    assert not nn.Module._hooked


def _bw_hooks(model, log):
    def pre(m, gout):
        log.append(("pre", [None if g is None else np.asarray(g.detach()) for g in gout]))
        return (gout[0] * 3,)

    def full(m, gin, gout):
        log.append(
            (
                "full",
                [None if g is None else np.asarray(g.detach()) for g in gin],
                [None if g is None else np.asarray(g.detach()) for g in gout],
            )
        )
        return tuple(None if g is None else g + 1 for g in gin)

    model[2].register_full_backward_pre_hook(pre)
    model[2].register_full_backward_hook(full)
    model[0].register_full_backward_hook(full)  # its input does not require grad


@pytest.mark.parametrize("input_grad", [False, True])
def test_full_backward_hooks_match_torch(input_grad):
    e, t = _pair(1)
    x = np.random.default_rng(1).standard_normal((4, 3))
    loge, logt = [], []
    _bw_hooks(e, loge)
    _bw_hooks(t, logt)
    xe = ember.tensor(x, requires_grad=input_grad)
    xt = torch.tensor(x, requires_grad=input_grad)
    # model[0]'s hook fires on its output's gradient, with the warning PyTorch gives
    with (
        pytest.warns(UserWarning, match="no inputs require gradients")
        if not input_grad
        else (warnings.catch_warnings())
    ):
        (e(xe) ** 2).sum().backward()
    with (
        pytest.warns(UserWarning, match="no inputs require gradients")
        if not input_grad
        else (warnings.catch_warnings())
    ):
        (t(xt) ** 2).sum().backward()
    assert [r[0] for r in loge] == [r[0] for r in logt] == ["pre", "full", "full"]
    for re, rt in zip(loge, logt):
        for ge, gt in zip(re[1:], rt[1:]):
            assert len(ge) == len(gt)
            for a, b in zip(ge, gt):
                assert (a is None) == (b is None)
                if a is not None:
                    np.testing.assert_allclose(a, b, rtol=1e-10)
    for (_, pe), (_, pt) in zip(e.named_parameters(), t.named_parameters()):
        np.testing.assert_allclose(pe.grad.numpy(), pt.grad.numpy(), rtol=1e-10)
    if input_grad:
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10)


def test_backward_hook_multiple_inputs_and_bad_return():
    class Two(nn.Module):
        def forward(self, a, k, b):
            return a * b * k, a + b

    for lib, mod in ((ember, Two()), (torch, None)):
        if lib is torch:

            class TwoT(torch.nn.Module):
                def forward(self, a, k, b):
                    return a * b * k, a + b

            mod = TwoT()
        got = []
        mod.register_full_backward_hook(lambda m, gi, go, got=got: got.append((gi, go)))
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = lib.tensor([3.0, 4.0])
        p, s = mod(a, 2.0, b)
        (p.sum() + 2 * s.sum()).backward()
        (gi, go) = got[0]
        assert len(gi) == 3 and gi[1] is None
        np.testing.assert_allclose(np.asarray(gi[0].detach()), [8.0, 10.0])
        np.testing.assert_allclose(np.asarray(gi[2].detach()), [0.0, 0.0])
        np.testing.assert_allclose(np.asarray(go[1].detach()), [2.0, 2.0])
    m = nn.Linear(2, 2)
    m.register_full_backward_hook(lambda mod, gi, go: (gi[0], gi[0]))
    with pytest.raises(RuntimeError, match="invalid number of grad_input"):
        m(ember.ones(1, 2, requires_grad=True)).sum().backward()


def test_backward_hook_warns_for_non_tensor_output():
    class D(nn.Module):
        def forward(self, x):
            return {"y": x}

    m = D()
    m.register_full_backward_hook(lambda *a: None)
    with pytest.warns(UserWarning, match="module output should be a Tensor"):
        m(ember.ones(2, requires_grad=True))


def test_get_set_submodule_parameter_buffer():
    net = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.BatchNorm1d(3)))
    assert net.get_submodule("1.0") is net[1][0]
    assert net.get_submodule("") is net
    assert net.get_parameter("0.weight") is net[0].weight
    assert net.get_buffer("1.0.running_mean") is net[1][0].running_mean
    with pytest.raises(AttributeError, match="Sequential has no attribute `7`"):
        net.get_submodule("7")
    with pytest.raises(AttributeError, match="`weight` is not an nn.Module"):
        net.get_submodule("0.weight")
    with pytest.raises(AttributeError, match="`running_mean` is not an nn.Parameter"):
        net.get_parameter("1.0.running_mean")
    with pytest.raises(AttributeError, match="`weight` is not a buffer"):
        net.get_buffer("0.weight")
    new = nn.ReLU()
    net.set_submodule("1.0", new)
    assert net[1][0] is new
    with pytest.raises(AttributeError, match="has no attribute `zz`"):
        net.set_submodule("1.zz", new, strict=True)
    with pytest.raises(ValueError, match="is not an nn.Module"):
        net.set_submodule("1.0", 3)
    with pytest.raises(ValueError, match="without a target name"):
        net.set_submodule("", new)


class _WithExtra(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.counter = 0

    def get_extra_state(self):
        return {"counter": self.counter}

    def set_extra_state(self, state):
        self.counter = state["counter"]


def test_extra_state_and_state_dict_hooks():
    m = _WithExtra()
    m.counter = 7
    calls = []
    m.register_state_dict_pre_hook(lambda mod, prefix, keep: calls.append(("pre", prefix)))

    def post(mod, sd, prefix, meta):
        calls.append(("post", prefix))
        sd[prefix + "extra_key"] = 1

    m.lin.register_state_dict_post_hook(post)
    sd = nn.Sequential(m).state_dict()
    assert list(sd) == ["0._extra_state", "0.lin.weight", "0.lin.bias", "0.lin.extra_key"]
    assert calls == [("pre", "0."), ("post", "0.lin.")]
    assert sd["0._extra_state"] == {"counter": 7}
    m2 = _WithExtra()
    del sd["0.lin.extra_key"]
    nn.Sequential(m2).load_state_dict(sd)
    assert m2.counter == 7
    with pytest.raises(RuntimeError, match="Missing key.*_extra_state"):
        m2.load_state_dict({"lin.weight": np.zeros((2, 2)), "lin.bias": np.zeros(2)})
    tm = torch.nn.Linear(2, 2)
    assert "_extra_state" not in tm.state_dict()
    with pytest.raises(RuntimeError, match="should never be called"):
        nn.Linear(2, 2).get_extra_state()


def test_load_state_dict_hooks_strict_false_and_assign():
    lin = nn.Linear(2, 3)
    seen = []

    def pre(mod, sd, prefix, meta, strict, missing, unexpected, errors):
        seen.append(("pre", prefix, strict))
        sd.pop(prefix + "junk", None)

    def post(mod, keys):
        seen.append(("post", list(keys.missing_keys), list(keys.unexpected_keys)))

    lin.register_load_state_dict_pre_hook(pre)
    lin.register_load_state_dict_post_hook(post)
    w = np.arange(6.0, dtype=np.float32).reshape(3, 2)
    res = lin.load_state_dict({"weight": w, "junk": 1, "other": np.zeros(1)}, strict=False)
    assert seen == [("pre", "", True), ("post", ["bias"], ["other"])]
    assert res.missing_keys == ["bias"] and res.unexpected_keys == ["other"]
    tres = torch.nn.Linear(2, 3).load_state_dict(
        {"weight": torch.zeros(3, 2), "other": torch.zeros(1)}, strict=False
    )
    assert (res.missing_keys, res.unexpected_keys) == (tres.missing_keys, tres.unexpected_keys)
    assert repr(lin.load_state_dict(lin.state_dict())) == "<All keys matched successfully>"
    np.testing.assert_array_equal(lin.weight.numpy(), w)
    old = lin.weight
    new_w = np.ones((3, 2), np.float64)
    lin.load_state_dict({"weight": new_w, "bias": np.zeros(3)}, assign=True)
    assert lin.weight is not old and isinstance(lin.weight, nn.Parameter)
    assert lin.weight.dtype == np.float64 and lin.weight.requires_grad
    assert np.shares_memory(lin.weight.numpy(), new_w)
    with pytest.raises(TypeError, match="dict-like"):
        lin.load_state_dict([("weight", w)])
    with pytest.raises(RuntimeError, match="size mismatch for weight"):
        lin.load_state_dict({"weight": np.zeros((2, 2)), "bias": np.zeros(3)})


def test_state_dict_shared_submodule_under_both_names_as_torch():
    shared = nn.Linear(1, 1)
    e = nn.Sequential(shared, shared)
    ts = torch.nn.Linear(1, 1)
    t = torch.nn.Sequential(ts, ts)
    assert list(e.state_dict()) == list(t.state_dict())


def test_dtype_casts_and_misc():
    lin = nn.Linear(2, 2)
    lin.register_buffer("count", np.array([3], np.int64))
    assert lin.half().weight.dtype == np.float16
    assert lin.count.dtype == np.int64
    lin.type(np.float64)
    assert lin.weight.dtype == np.float64 and lin.count.dtype == np.float64
    assert lin.bfloat16().weight.dtype == ember.bfloat16 and lin.count.dtype == ember.bfloat16
    assert lin.share_memory() is lin
    assert lin.compile() is None
    w = lin.weight
    assert lin.to_empty(device="cpu") is lin and lin.weight is w
    assert lin.weight.shape == (2, 2)
    with pytest.raises(RuntimeError, match="CPU only"):
        lin.to_empty(device="cuda")
    for move in (lin.cuda, lin.xpu, lin.ipu, lin.mtia):
        with pytest.raises(RuntimeError, match="CPU only"):
            move()
    missing = [n for n in dir(torch.nn.Linear(2, 2)) if not n.startswith("_")]
    missing = [n for n in missing if not hasattr(nn.Linear(2, 2), n)]
    assert missing == ["T_destination"]  # a typing TypeVar


def test_call_super_init_and_unexpected_args():
    class Mixin:
        def __init__(self, tag=None):
            self.tag = tag

    class M(nn.Module, Mixin):
        call_super_init = True

        def __init__(self):
            super().__init__(tag="x")

    assert M().tag == "x"
    with pytest.raises(TypeError, match="unexpected keyword argument 'tag'"):
        nn.Module(tag=1)


def test_no_hook_call_is_plain_forward():
    # without hooks __call__ does not go through _call_impl (the single-check hot path)
    lin = nn.Linear(2, 2)
    lin._call_impl = None  # would fail if used
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert lin(ember.zeros(1, 2)).shape == (1, 2)
