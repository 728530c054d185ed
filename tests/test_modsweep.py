"""Regressions found by a randomized sweep of ember's modules, optimisers and LR schedulers
against PyTorch over constructor and call options."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
def test_multi_margin_loss_unbatched_input_with_one_element_target(reduction):
    # PyTorch reads input (C,) with target (1,) as one sample (loss (1,) for "none")
    x = np.random.default_rng(0).standard_normal(5)
    w = np.linspace(0.5, 1.5, 5)
    te = ember.tensor(x.copy(), requires_grad=True)
    tt = torch.tensor(x.copy(), requires_grad=True)
    kw = dict(p=2, margin=0.7, reduction=reduction)
    le = ember.nn.MultiMarginLoss(weight=ember.tensor(w), **kw)(te, ember.tensor(np.array([3])))
    lt = torch.nn.MultiMarginLoss(weight=torch.tensor(w), **kw)(tt, torch.tensor([3]))
    assert le.shape == tuple(lt.shape)
    np.testing.assert_allclose(le.numpy(), lt.detach().numpy(), rtol=1e-12)
    le.sum().backward()
    lt.sum().backward()
    np.testing.assert_allclose(te.grad.numpy(), tt.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["SGD", "Rprop", "RMSprop", "Adagrad", "NAdam", "ASGD"])
def test_tensor_lr_with_foreach_only_refused_by_adam(name):
    # PyTorch refuses a Tensor lr with foreach=True (and capturable=False) in Adam and AdamW only
    x = np.array([0.5, -1.0, 2.0])
    tp = torch.tensor(x.copy(), requires_grad=True)
    ep = ember.tensor(x.copy(), requires_grad=True)
    to = getattr(torch.optim, name)([tp], lr=torch.tensor(0.1, dtype=torch.float64), foreach=True)
    eo = getattr(ember.optim, name)([ep], lr=ember.tensor(np.float64(0.1)), foreach=True)
    for g in ([1.0, 2.0, -3.0], [-1.0, 0.5, 0.25]):
        tp.grad, ep.grad = torch.tensor(g, dtype=torch.float64), ember.tensor(np.array(g))
        to.step()
        eo.step()
    np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-12)
    for adam in (ember.optim.Adam, ember.optim.AdamW):
        with pytest.raises(ValueError, match="foreach=True"):
            adam([ember.tensor(x, requires_grad=True)], lr=ember.tensor(0.1), foreach=True)


def test_sparse_embedding_grad_keeps_its_rows_through_a_dtype_cast():
    # a float64 upstream gradient into a float32 sparse embedding: the gradient reaching the
    # weight was cast by a copy that dropped its row mark, so SparseAdam refused it as dense
    w = np.random.default_rng(0).standard_normal((8, 3)).astype(np.float32)
    te, ee = torch.nn.Embedding(8, 3, sparse=True), ember.nn.Embedding(8, 3, sparse=True)
    te.weight.data = torch.tensor(w)
    ee.load_state_dict({"weight": ember.tensor(w)})
    to = torch.optim.SparseAdam(te.parameters(), lr=0.1)
    eo = ember.optim.SparseAdam(ee.parameters(), lr=0.1)
    for k in range(3):
        idx = np.random.default_rng(k).integers(0, 8, (2, 3))
        r = np.random.default_rng(10 + k).standard_normal((2, 3, 3))  # float64
        to.zero_grad()
        eo.zero_grad()
        (te(torch.tensor(idx)) * torch.tensor(r)).sum().backward()
        (ee(ember.tensor(idx)) * ember.tensor(r)).sum().backward()
        assert ee.weight.grad.dtype == ember.float32
        to.step()
        eo.step()
        np.testing.assert_allclose(ee.weight.numpy(), te.weight.detach().numpy(), atol=1e-6)


@pytest.mark.parametrize("name", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_recurrent_modules_take_device(name):
    # PyTorch's recurrent layers and cells take device= (before dtype) like every other layer
    e = getattr(ember.nn, name)(3, 4, device="cpu", dtype=ember.float64)
    t = getattr(torch.nn, name)(3, 4, device="cpu", dtype=torch.float64)
    assert [(k, v.shape, v.dtype) for k, v in e.state_dict().items()] == [
        (k, tuple(v.shape), ember.float64) for k, v in t.state_dict().items()
    ]
    with pytest.raises(RuntimeError, match="CPU only"):
        getattr(ember.nn, name)(3, 4, device="cuda")


@pytest.mark.parametrize("name", ["LazyBatchNorm2d", "LazyInstanceNorm2d"])
def test_lazy_norms_take_bias(name):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    e = getattr(ember.nn, name)(bias=False, dtype=ember.float64)
    t = getattr(torch.nn, name)(bias=False, dtype=torch.float64)
    ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
    assert list(e.state_dict()) == list(t.state_dict()) and e.bias is None
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), atol=1e-12)


@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax"])
@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 4), (2, 3, 4, 5)])
def test_softmax_modules_without_dim_use_the_legacy_implicit_dim(name, shape):
    # dim=None: PyTorch picks 0 for 0/1/3-D inputs, else 1, and warns (the modules used -1)
    x = np.random.default_rng(0).standard_normal(shape)
    with pytest.warns(UserWarning, match="Implicit dimension"):
        ye = getattr(ember.nn, name)()(ember.tensor(x))
    with pytest.warns(UserWarning, match="Implicit dimension"):
        yt = getattr(torch.nn, name)()(torch.tensor(x))
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["Embedding", "EmbeddingBag"])
def test_sparse_scale_grad_by_freq_refused_in_backward_as_pytorch(name):
    idx = np.array([[1, 2, 1]])
    for lib, mk in ((torch, torch.tensor), (ember, ember.tensor)):
        m = getattr(lib.nn, name)(5, 2, sparse=True, scale_grad_by_freq=True)
        y = m(mk(idx))  # the forward works
        with pytest.raises(RuntimeError, match="scale_grad_by_freq not supported with sparse"):
            y.sum().backward()


def test_conv_transposed_attribute_and_clip_grad_value_foreach():
    for name in ("Conv1d", "ConvTranspose2d", "LazyConvTranspose3d"):
        args = (2,) if name.startswith("Lazy") else (2, 2)
        assert (
            getattr(ember.nn, name)(*args, 3).transposed
            == getattr(torch.nn, name)(*args, 3).transposed
        )
    g = np.array([3.0, -0.2, -5.0])
    pe, pt = ember.tensor(g * 0, requires_grad=True), torch.tensor(g * 0, requires_grad=True)
    pe.grad, pt.grad = ember.tensor(g.copy()), torch.tensor(g.copy())
    ember.nn.utils.clip_grad_value_([pe], 1.0, foreach=True)
    torch.nn.utils.clip_grad_value_([pt], 1.0, foreach=True)
    np.testing.assert_array_equal(pe.grad.numpy(), pt.grad.numpy())


def test_hardtanh_deprecated_min_value_max_value():
    x = np.linspace(-3, 3, 7)
    with pytest.warns(FutureWarning, match="is deprecated"):
        e = ember.nn.Hardtanh(min_value=-2.0, max_value=0.5)
    with pytest.warns(FutureWarning, match="is deprecated"):
        t = torch.nn.Hardtanh(min_value=-2.0, max_value=0.5)
    assert (e.min_val, e.max_val) == (t.min_val, t.max_val)
    np.testing.assert_array_equal(e(ember.tensor(x)).numpy(), t(torch.tensor(x)).numpy())


@pytest.mark.parametrize("name", ["StepLR", "ReduceLROnPlateau"])
def test_scheduler_fills_a_tensor_lr_in_place(name):
    # PyTorch fills a Tensor lr in place (the group keeps its Tensor; initial_lr is a copy);
    # ember swapped in a new Tensor, and ReduceLROnPlateau a float
    got = []
    for lib in (torch, ember):
        p = lib.zeros(2, requires_grad=True)
        lr = lib.tensor(np.float64(0.1))
        opt = lib.optim.SGD([p], lr=lr)
        kw = dict(patience=0) if name == "ReduceLROnPlateau" else dict(step_size=1, gamma=0.5)
        sched = getattr(lib.optim.lr_scheduler, name)(opt, **kw)
        for _ in range(3):
            p.grad = lib.ones(2)
            opt.step()
            sched.step(1.0) if name == "ReduceLROnPlateau" else sched.step()
        group = opt.param_groups[0]
        assert group["lr"] is lr
        got.append((float(lr), float(group.get("initial_lr", -1)), p.detach().numpy().copy()))
    np.testing.assert_allclose(got[1][2], got[0][2], rtol=1e-12)
    assert got[1][:2] == pytest.approx(got[0][:2], rel=1e-12)


def _names(m):
    return [(k, tuple(v.shape)) for k, v in m.state_dict().items()]


def test_container_list_and_dict_methods_as_pytorch():
    # ModuleList del/pop/+/+=, ModuleDict del/pop/clear/update, ParameterDict's dict methods
    for lib in (torch, ember):
        nn = lib.nn
        ml = nn.ModuleList([nn.Linear(i + 1, 1) for i in range(4)])
        del ml[1]
        popped = ml.pop(-1)
        ml += [nn.Linear(7, 1)]
        ml2 = ml + nn.ModuleList([nn.Linear(8, 1)])
        md = nn.ModuleDict([("a", nn.Linear(1, 1)), ("b", nn.Linear(2, 1))])
        md.update({"c": nn.Linear(3, 1), "a": nn.Linear(4, 1)})
        md_pop = md.pop("b")
        md2 = nn.ModuleDict(md.items())
        del md2["a"]
        md.clear()
        pd = nn.ParameterDict({"x": nn.Parameter(lib.zeros(2)), "y": nn.Parameter(lib.zeros(3))})
        pd |= {"z": nn.Parameter(lib.zeros(4))}
        got = pd.setdefault("w", nn.Parameter(lib.zeros(5))).shape
        item = pd.popitem()
        both = pd | nn.ParameterDict({"v": nn.Parameter(lib.zeros(1))})
        res = (
            _names(ml), tuple(popped.weight.shape), _names(ml2), tuple(md_pop.weight.shape),
            _names(md2), len(md), tuple(got), item[0], list(reversed(pd)),
            pd.get("nope") is None, _names(both), _names(pd.copy()),
            sorted(pd.fromkeys(["p", "q"]).keys()),
        )  # fmt: skip
        if lib is torch:
            want = res
    assert res == want
    net = ember.nn.Sequential(ember.nn.Linear(2, 2))
    net.add_module("again", net[0])
    assert len(list(net.modules(remove_duplicate=False))) == 3
    assert len(list(net.modules())) == 2
