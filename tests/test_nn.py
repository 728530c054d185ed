"""Module machinery, containers, Linear, state_dict round trips with PyTorch."""

import math

import numpy as np
import pytest

import ember
from ember import nn


def small_net():
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.layers = nn.ModuleList([nn.Linear(3, 3), nn.Tanh()])
        self.register_buffer("steps", ember.zeros(1))
        self.scale = nn.Parameter(ember.ones(1))

    def forward(self, x):
        x = self.fc(x)
        for layer in self.layers:
            x = layer(x)
        return x * self.scale


def test_parameters_and_names():
    b = Block()
    names = [n for n, _ in b.named_parameters()]
    assert names == ["scale", "fc.weight", "fc.bias", "layers.0.weight", "layers.0.bias"]
    assert len(list(b.parameters())) == 5
    assert [n for n, _ in b.named_buffers()] == ["steps"]
    assert [n for n, _ in b.named_children()] == ["fc", "layers"]
    assert len(list(b.modules())) == 5  # Block, fc, layers, Linear, Tanh


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2


def test_train_eval_propagates():
    b = Block()
    b.eval()
    assert not b.training and not b.layers[1].training
    b.train()
    assert all(m.training for m in b.modules())


def test_zero_grad():
    net = small_net()
    net(ember.randn(2, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.numpy() == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())


def test_linear_default_init_bounds_and_shapes():
    lin = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    assert lin.weight.shape == (50, 100) and lin.bias.shape == (50,)
    assert np.abs(lin.weight.numpy()).max() <= bound
    assert np.abs(lin.weight.numpy()).max() > 0.9 * bound  # uniform, not tiny
    assert np.abs(lin.bias.numpy()).max() <= bound
    assert nn.Linear(3, 2, bias=False).bias is None
    assert "in_features=3" in repr(nn.Linear(3, 2))


def test_linear_accepts_numpy_and_batches():
    lin = nn.Linear(3, 2)
    x = np.random.default_rng(0).standard_normal((4, 5, 3))  # float64 array, converted
    out = lin(x)
    assert out.shape == (4, 5, 2) and out.dtype == np.float32
    with pytest.raises(ValueError, match="does not match"):
        lin(np.ones((4, 4)))
    with pytest.raises(TypeError):
        lin(ember.tensor([[1, 2, 3]]))


def test_state_dict_round_trip():
    a, b = Block(), Block()
    b.load_state_dict(a.state_dict())
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert na == nb
        np.testing.assert_array_equal(pa.numpy(), pb.numpy())
    # values are copied in place: parameter objects (held by optimisers) survive
    w = b.fc.weight
    b.load_state_dict({k: v.numpy() * 0 for k, v in a.state_dict().items()})
    assert b.fc.weight is w and np.all(w.numpy() == 0)


def test_load_state_dict_errors():
    net = small_net()
    sd = {k: v.numpy() for k, v in net.state_dict().items()}
    missing = dict(sd)
    del missing["0.bias"]
    with pytest.raises(RuntimeError, match="Missing key.*0.bias"):
        net.load_state_dict(missing)
    with pytest.raises(RuntimeError, match="Unexpected key.*extra"):
        net.load_state_dict({**sd, "extra": np.ones(1)})
    wrong = dict(sd, **{"0.weight": np.ones((3, 3))})
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight.*\(3, 3\).*\(8, 4\)"):
        net.load_state_dict(wrong)
    result = net.load_state_dict(missing, strict=False)
    assert result.missing_keys == ["0.bias"]
    with pytest.raises(TypeError):
        net.load_state_dict([1, 2])


def test_loads_a_pytorch_state_dict_and_matches_its_output():
    torch = pytest.importorskip("torch")
    tnet = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3), torch.nn.Tanh()
    )
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3), nn.Tanh())
    assert list(net.state_dict()) == list(tnet.state_dict())
    net.load_state_dict({k: v.numpy() for k, v in tnet.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    np.testing.assert_allclose(
        net(x).numpy(), tnet(torch.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )
    net.load_state_dict(tnet.state_dict())  # torch tensors directly


def test_sequential_and_modulelist_api():
    seq = small_net()
    assert len(seq) == 3 and isinstance(seq[0], nn.Linear) and isinstance(seq[-1], nn.Linear)
    assert len(seq[:2]) == 2
    with pytest.raises(IndexError):
        seq[3]
    ml = nn.ModuleList([nn.ReLU()])
    ml.append(nn.Tanh())
    ml.insert(0, nn.Sigmoid())
    assert [type(m).__name__ for m in ml] == ["Sigmoid", "ReLU", "Tanh"]
    d = nn.ModuleDict({"a": nn.Linear(1, 1)})
    assert "a" in d and len(list(d.parameters())) == 2


def test_identity_and_flatten():
    x = ember.randn(2, 3, 4, 5)
    assert nn.Identity(54, unused=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 60)
    assert nn.Flatten(0, 1)(x).shape == (6, 4, 5)


def test_module_to_double_for_gradcheck():
    net = small_net().double()
    x = ember.randn(3, 4, dtype=np.float64, requires_grad=True)
    assert net[0].weight.dtype == np.float64
    assert ember.autograd.gradcheck(lambda t: net(t), (x,))


def test_module_repr():
    r = repr(small_net())
    assert "(0): Linear(in_features=4, out_features=8, bias=True)" in r
    assert "(1): ReLU()" in r


def test_assigning_before_init_is_an_error():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(1, 1)

    with pytest.raises(AttributeError, match="__init__"):
        Bad()
