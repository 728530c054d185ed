"""torch.func's model-ensembling and NTK idioms: stack_module_state, jacrev over a dict of
parameters, and the meta device that holds a model's skeleton for functional_call."""

import copy

import numpy as np
import pytest

import ember
from ember import nn
from ember.func import functional_call, stack_module_state, vmap


def _mlp(seed):
    ember.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3), nn.BatchNorm1d(3))


def test_stack_module_state_stacks_parameters_and_buffers():
    models = [_mlp(s) for s in range(4)]
    params, buffers = stack_module_state(models)
    assert list(params) == [k for k, _ in models[0].named_parameters()]
    assert list(buffers) == [k for k, _ in models[0].named_buffers()]
    for k, p in params.items():
        want = np.stack([dict(m.named_parameters())[k].detach().numpy() for m in models])
        np.testing.assert_array_equal(p.numpy(), want)
        assert p.requires_grad and p.is_leaf
    assert not buffers["3.running_mean"].requires_grad
    assert buffers["3.num_batches_tracked"].shape == (4,)


def test_an_ensemble_through_vmap_equals_each_model():
    models = [_mlp(s).eval() for s in range(3)]
    params, buffers = stack_module_state(models)
    skeleton = copy.deepcopy(models[0]).to("meta")
    x = ember.randn(3, 6, 5)

    def fmodel(p, b, xb):
        return functional_call(skeleton, (p, b), (xb,))

    got = vmap(fmodel)(params, buffers, x)
    for i, m in enumerate(models):
        np.testing.assert_allclose(got[i].numpy(), m(x[i]).detach().numpy(), rtol=1e-6)
    same = vmap(fmodel, in_dims=(0, 0, None))(params, buffers, x[0])
    for i, m in enumerate(models):
        np.testing.assert_allclose(same[i].numpy(), m(x[0]).detach().numpy(), rtol=1e-6)
    # gradients reach the stacked leaves
    vmap(fmodel)(params, buffers, x).sum().backward()
    assert params["0.weight"].grad.shape == (3, 7, 5)


def test_stack_module_state_errors():
    with pytest.raises(RuntimeError, match="at least one model"):
        stack_module_state([])
    with pytest.raises(RuntimeError, match="same training/eval mode"):
        stack_module_state([_mlp(0), _mlp(1).eval()])
    with pytest.raises(RuntimeError, match="same class"):
        stack_module_state([nn.Linear(2, 2), nn.Sequential(nn.Linear(2, 2))])
    a, b = nn.Linear(2, 2), nn.Linear(2, 2)
    b.weight.requires_grad_(False)
    with pytest.raises(RuntimeError, match="same .requires_grad"):
        stack_module_state([a, b])


def test_jacrev_of_a_dict_of_parameters_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w, b, x = rng.standard_normal((3, 4)), rng.standard_normal(3), rng.standard_normal((2, 4))

    def run(lib, func):
        params = {"w": lib.tensor(w), "b": lib.tensor(b)}

        def f(p, xs):
            return (xs @ p["w"].T + p["b"]).tanh()

        return func.jacrev(f)(params, lib.tensor(x)), func.jacrev(f, argnums=(0, 1))(
            params, lib.tensor(x)
        )

    (mine, mine2), (theirs, theirs2) = run(ember, ember.func), run(torch, torch.func)
    assert set(mine) == {"w", "b"} and mine["w"].shape == (2, 3, 3, 4)
    for k in ("w", "b"):
        np.testing.assert_allclose(mine[k].numpy(), theirs[k].numpy(), rtol=1e-12)
        np.testing.assert_allclose(mine2[0][k].numpy(), theirs2[0][k].numpy(), rtol=1e-12)
    np.testing.assert_allclose(mine2[1].numpy(), theirs2[1].numpy(), rtol=1e-12)


def test_the_meta_device_holds_shapes_without_data():
    x = ember.randn(1000, 1000, requires_grad=True)
    m = x.to("meta")
    assert m.is_meta and m.device == ember.device("meta") and str(m.device) == "meta"
    assert m.shape == (1000, 1000) and m.dtype == np.float32 and m.requires_grad
    assert m.numpy().strides == (0, 0)  # no memory per element
    assert not x.is_meta and x.device == "cpu"
    assert ember.empty(3, 4, device="meta").is_meta
    assert ember.zeros(2, dtype=ember.float64, device=ember.device("meta")).dtype == np.float64
    assert x.to("meta", ember.float64).dtype == np.float64
    with pytest.raises(NotImplementedError, match="meta tensor"):
        m.to("cpu")
    with pytest.raises(NotImplementedError, match="meta tensor"):
        m.cpu()
    expanded = ember.tensor(float("nan")).expand(3)  # zero strides and NaN: still on the CPU
    assert not expanded.is_meta


def test_a_module_on_the_meta_device_and_back():
    model = _mlp(0)
    model.to("meta")
    assert all(p.is_meta for p in model.parameters())
    assert all(b.is_meta for b in model.buffers())
    model.to_empty(device="cpu")
    assert not any(p.is_meta for p in model.parameters())
    for layer in model:
        if hasattr(layer, "reset_parameters"):
            layer.reset_parameters()
    assert np.isfinite(model(ember.randn(4, 5)).detach().numpy()).all()


def test_other_devices_are_still_refused():
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.randn(2, device="cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2).to("cuda")
    with pytest.raises(RuntimeError, match="default device"):
        ember.set_default_device("meta")


def test_linearize_functionalize_and_batch_norm_without_running_stats():
    x = ember.tensor(np.random.default_rng(0).standard_normal(5))
    out, jvp_fn = ember.func.linearize(lambda t: (t.sin() * t).sum(), x)
    t = np.ones(5)
    want = np.sum((np.cos(x.numpy()) * x.numpy() + np.sin(x.numpy())) * t)
    np.testing.assert_allclose(out.item(), np.sum(np.sin(x.numpy()) * x.numpy()), rtol=1e-12)
    np.testing.assert_allclose(jvp_fn(ember.tensor(t)).item(), want, rtol=1e-12)
    f = ember.func.functionalize(lambda a: a.add_(1) * 2)
    np.testing.assert_array_equal(f(ember.ones(2)).numpy(), [4.0, 4.0])
    with pytest.raises(RuntimeError, match="remove"):
        ember.func.functionalize(f, remove="all")
    net = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    assert ember.func.replace_all_batch_norm_modules_(net) is net
    assert net[1].running_mean is None and not net[1].track_running_stats
    assert list(dict(net.named_buffers())) == []
    net.eval()  # batch statistics even in eval, with no running ones
    y = net(ember.randn(6, 3)).detach().numpy()
    np.testing.assert_allclose(y.mean(0), net[1].bias.detach().numpy(), atol=1e-6)


def test_modules_built_on_the_meta_device_as_torch():
    """``device="meta"`` in a constructor and ``with ember.device("meta"):`` give shape-only
    parameters and buffers (torch's meta init); ``to_empty`` then gives them storage, and a
    constructor may initialise its submodules' weights on the way."""
    lstm = nn.LSTM(4, 8, num_layers=2, device="meta")
    assert all(p.is_meta for p in lstm.parameters())
    assert nn.Linear(3, 4, True, "meta").weight.is_meta  # device given by position

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3)
            self.bn = nn.BatchNorm2d(8)
            nn.init.zeros_(self.conv.bias)

    with ember.device("meta") as d:
        assert ember.get_default_device() == d == "meta"
        net = Net()
        assert ember.zeros(3).is_meta
    assert ember.get_default_device() == "cpu" and not ember.zeros(3).is_meta
    tensors = [*net.parameters(), *net.buffers()]
    assert all(t.is_meta for t in tensors)
    assert [t.shape for t in tensors][:2] == [(8, 3, 3, 3), (8,)]
    net.to_empty(device="cpu")
    assert not any(t.is_meta for t in net.parameters())
    with ember.device("cpu"):  # a no-op, as torch's on the CPU
        assert not nn.Linear(2, 2).weight.is_meta
    # A constructor that fails leaves nothing pending for the next module.
    with pytest.raises(TypeError):
        nn.Linear(2, 2.5, device="meta")
    assert not nn.Linear(2, 2).weight.is_meta
