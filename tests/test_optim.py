"""SGD against PyTorch and a NumPy transcription of its update; optimiser state and errors."""

import copy

import numpy as np
import pytest

import ember
from ember import nn


def sgd_numpy(p, grads, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """PyTorch's SGD update rule, transcribed."""
    p = p.astype(np.float64).copy()
    buf = None
    for g in grads:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
    return p


CONFIGS = [
    dict(lr=0.1),
    dict(lr=0.05, momentum=0.9),
    dict(lr=0.05, momentum=0.9, dampening=0.3),
    dict(lr=0.05, momentum=0.9, nesterov=True),
    dict(lr=0.05, momentum=0.5, weight_decay=0.01),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_sgd_matches_numpy_transcription(cfg):
    rng = np.random.default_rng(0)
    p0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(20)]
    p = nn.Parameter(p0.copy())
    opt = ember.optim.SGD([p], **cfg)
    for g in grads:
        p.grad = ember.tensor(g)
        opt.step()
    np.testing.assert_allclose(p.numpy(), sgd_numpy(p0, grads, **cfg), rtol=1e-12)


@pytest.mark.parametrize("cfg", CONFIGS, ids=str)
def test_sgd_trajectory_matches_pytorch(cfg):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.standard_normal((16, 4)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 3))
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 3))
    net.load_state_dict(tnet.state_dict())
    opt = ember.optim.SGD(net.parameters(), **cfg)
    topt = torch.optim.SGD(tnet.parameters(), **cfg)
    for _ in range(100):
        loss = ember.nn.functional.cross_entropy(net(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        tloss = torch.nn.functional.cross_entropy(tnet(torch.from_numpy(x)), torch.from_numpy(y))
        topt.zero_grad()
        tloss.backward()
        topt.step()
    for k, v in tnet.state_dict().items():
        np.testing.assert_allclose(net.state_dict()[k].numpy(), v.numpy(), rtol=1e-4, atol=1e-5)


def test_param_groups_have_their_own_hyperparameters():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = ember.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad = ember.tensor(np.ones(2))
    b.grad = ember.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9)
    np.testing.assert_allclose(b.numpy(), 0.0)


def test_state_dict_round_trip_continues_identically():
    rng = np.random.default_rng(2)
    grads = [rng.standard_normal(3) for _ in range(6)]
    p1 = nn.Parameter(np.zeros(3))
    o1 = ember.optim.SGD([p1], lr=0.1, momentum=0.9)
    for g in grads[:3]:
        p1.grad = ember.tensor(g)
        o1.step()
    p2 = nn.Parameter(p1.numpy().copy())
    o2 = ember.optim.SGD([p2], lr=0.5)
    # (a deep copy: as torch's, state_dict() holds the live state Tensors and loading shares
    # them, so two optimisers stepping from one state_dict would update the same buffers)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    assert o2.param_groups[0]["lr"] == 0.1 and o2.param_groups[0]["momentum"] == 0.9
    for g in grads[3:]:
        for p, o in ((p1, o1), (p2, o2)):
            p.grad = ember.tensor(g)
            o.step()
    np.testing.assert_array_equal(p1.numpy(), p2.numpy())


def test_state_for_other_parameters_is_refused():
    p = nn.Parameter(np.zeros(3))
    o = ember.optim.SGD([p], lr=0.1, momentum=0.9)
    p.grad = ember.tensor(np.ones(3))
    o.step()
    q = nn.Parameter(np.zeros(4))
    with pytest.raises(ValueError, match="shape"):
        ember.optim.SGD([q], lr=0.1, momentum=0.9).load_state_dict(o.state_dict())
    two = ember.optim.SGD([nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))], lr=0.1)
    with pytest.raises(ValueError, match="size"):
        two.load_state_dict(o.state_dict())


@pytest.mark.parametrize(
    "kwargs,match",
    [
        (dict(lr=-0.1), "learning rate"),
        (dict(lr=0.1, momentum=-1), "momentum"),
        (dict(lr=0.1, weight_decay=-1), "weight_decay"),
        (dict(lr=0.1, nesterov=True), "Nesterov"),
        (dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    ],
)
def test_sgd_refuses_bad_hyperparameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ember.optim.SGD([nn.Parameter(np.zeros(1))], **kwargs)


def test_optimizer_refuses_bad_params():
    with pytest.raises(ValueError, match="empty"):
        ember.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError):
        ember.optim.SGD(nn.Parameter(np.zeros(1)), lr=0.1)
    with pytest.raises(TypeError):
        ember.optim.SGD([np.zeros(1)], lr=0.1)
    p = nn.Parameter(np.zeros(1))
    with pytest.raises(ValueError, match="more than one"):
        ember.optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)


def test_zero_grad_set_to_none():
    p = nn.Parameter(np.zeros(2))
    o = ember.optim.SGD([p], lr=0.1)
    p.grad = ember.tensor(np.ones(2))
    o.zero_grad(set_to_none=False)
    assert np.all(p.grad.numpy() == 0)
    o.zero_grad()
    assert p.grad is None
