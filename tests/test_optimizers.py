"""The fused optimisers (SGD, Adam, AdamW, Adagrad, Adadelta, RMSprop) against NumPy
transcriptions of PyTorch's formulas and against torch.optim itself over 100 steps; their
state, param groups, state_dict, the kernels' in-place contracts and the errors."""

import copy

import numpy as np
import pytest
import reference_optim as ref

import ember
from ember import _C, nn, optim

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=0.01)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, weight_decay=0.01)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("Adagrad", dict(lr=0.1)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.01, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, eps=1e-6, maximize=True)),
    ("Adadelta", dict()),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-5, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, alpha=0.9, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True, weight_decay=0.01)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, maximize=True)),
]
IDS = [f"{n}-{kw}" for n, kw in CASES]
REF = {"SGD": ref.sgd, "Adam": ref.adam, "AdamW": ref.adamw, "Adagrad": ref.adagrad,
       "Adadelta": ref.adadelta, "RMSprop": ref.rmsprop}  # fmt: skip


def _grads(n_steps, shape, seed):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for _ in range(n_steps)]


def _run(name, kw, p0, grads, dtype):
    p = nn.Parameter(p0.astype(dtype))
    opt = getattr(optim, name)([p], **kw)
    out = []
    for g in grads:
        p.grad = ember.tensor(g.astype(dtype))
        opt.step()
        out.append(p.numpy().copy())
    return out, opt, p


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_numpy_transcription_float64(name, kw):
    p0 = np.random.default_rng(0).standard_normal((3, 7))
    grads = _grads(100, p0.shape, 1)
    ours, _, _ = _run(name, kw, p0, grads, np.float64)
    expected = REF[name](p0, grads, **kw)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_numpy_transcription_float32(name, kw):
    p0 = np.random.default_rng(2).standard_normal(50)
    grads = _grads(30, p0.shape, 3)
    ours, _, p = _run(name, kw, p0, grads, np.float32)
    assert p.dtype == np.float32
    np.testing.assert_allclose(ours[-1], REF[name](p0, grads, **kw)[-1], rtol=1e-4, atol=1e-5)


def _torch_opt(torch, name, params, kw):
    return getattr(torch.optim, name)(params, **kw)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_matches_pytorch_on_a_gradient_sequence(name, kw, dtype):
    """The same 100 gradients fed to both: every step's parameters agree to 1e-6 relative."""
    torch = pytest.importorskip("torch")
    p0 = np.random.default_rng(4).standard_normal((4, 5)).astype(dtype)
    grads = [g.astype(dtype) for g in _grads(100, p0.shape, 5)]
    ours, opt, _ = _run(name, kw, p0, grads, dtype)
    tp = torch.tensor(p0, requires_grad=True)
    topt = _torch_opt(torch, name, [tp], kw)
    for i, g in enumerate(grads):
        tp.grad = torch.from_numpy(g)
        topt.step()
        tol = 1e-6 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(ours[i], tp.detach().numpy(), rtol=tol, atol=tol)
    # the same state names (and values) as PyTorch's
    tstate = topt.state_dict()["state"].get(0, {})
    ostate = opt.state_dict()["state"].get(0, {})
    assert sorted(ostate) == sorted(tstate)
    for k, v in tstate.items():
        if v is None:
            assert ostate[k] is None
        else:
            np.testing.assert_allclose(np.asarray(ostate[k]), v.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kw", CASES[1::2], ids=IDS[1::2])
def test_training_trajectory_matches_pytorch(name, kw):
    """A small MLP trained 100 steps (float64, MSE) by both libraries ends at the same weights."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((16, 4)), rng.standard_normal((16, 2))
    torch.manual_seed(0)
    tnet = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2))
    tnet = tnet.double()
    net = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    net.load_state_dict(tnet.state_dict())
    opt, topt = (
        getattr(optim, name)(net.parameters(), **kw),
        _torch_opt(torch, name, tnet.parameters(), kw),
    )
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    for _ in range(100):
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
        topt.zero_grad()
        torch.nn.functional.mse_loss(tnet(tx), ty).backward()
        topt.step()
    for k, v in tnet.state_dict().items():
        np.testing.assert_allclose(net.state_dict()[k].numpy(), v.numpy(), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name,kw", CASES, ids=IDS)
def test_state_dict_round_trip_continues_identically(name, kw):
    p0 = np.random.default_rng(7).standard_normal(6)
    grads = _grads(8, p0.shape, 8)
    _, o1, p1 = _run(name, kw, p0, grads[:4], np.float32)
    p2 = nn.Parameter(p1.numpy().copy())
    o2 = getattr(optim, name)([p2], lr=0.123)
    # (a deep copy: as torch's, state_dict() holds the live state Tensors and loading shares
    # them, so two optimisers stepping from one state_dict would update the same buffers)
    o2.load_state_dict(copy.deepcopy(o1.state_dict()))
    assert o2.param_groups[0]["lr"] == o1.param_groups[0]["lr"]
    for g in grads[4:]:
        for p, o in ((p1, o1), (p2, o2)):
            p.grad = ember.tensor(g.astype(np.float32))
            o.step()
    np.testing.assert_array_equal(p1.numpy(), p2.numpy())


def test_state_dict_holds_the_live_state_and_a_deepcopy_is_a_snapshot():
    # torch's state_dict() returns the state Tensors themselves (a later step shows in it);
    # copy.deepcopy keeps a snapshot
    p = nn.Parameter(np.zeros(3))
    o = optim.Adam([p], lr=0.1)
    p.grad = ember.tensor(np.ones(3))
    o.step()
    sd, snap = o.state_dict(), copy.deepcopy(o.state_dict())
    o.step()
    assert sd["state"][0]["step"].item() == 2.0 and snap["state"][0]["step"].item() == 1.0
    assert sd["state"][0]["exp_avg"] is o.state[p]["exp_avg"]
    assert not np.shares_memory(snap["state"][0]["exp_avg"], o.state[p]["exp_avg"])


def test_param_groups_with_their_own_hyperparameters():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.5, "betas": (0.5, 0.9)}], lr=0.1)
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    a.grad = ember.tensor(np.ones(2))
    b.grad = ember.tensor(np.ones(2))
    opt.step()
    np.testing.assert_allclose(a.numpy(), 0.9, rtol=1e-6)  # first Adam step moves by lr
    np.testing.assert_allclose(b.numpy(), 0.5, rtol=1e-6)
    opt.add_param_group({"params": [nn.Parameter(np.ones(1))], "lr": 0.01})
    assert len(opt.param_groups) == 3 and opt.param_groups[2]["eps"] == 1e-8


def test_params_without_grad_are_skipped_and_zero_grad():
    a, b = nn.Parameter(np.ones(2)), nn.Parameter(np.ones(2))
    opt = optim.RMSprop([a, b], momentum=0.9)
    a.grad = ember.tensor(np.ones(2))
    opt.step()
    assert b not in opt.state and np.all(b.numpy() == 1)
    opt.zero_grad(set_to_none=False)
    assert np.all(a.grad.numpy() == 0)
    opt.zero_grad()
    assert a.grad is None


def test_closure_is_evaluated_with_grad():
    p = nn.Parameter(np.array([2.0]))
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert loss.item() == 4.0 and p.numpy()[0] == 1.0


def test_update_is_in_place_and_grad_strided():
    p = nn.Parameter(np.ones(4, np.float32))
    storage = p.data
    opt = optim.Adam([p], lr=0.1)
    with pytest.raises(TypeError, match="different type"):  # a float64 grad: refused, as torch
        p.grad = ember.tensor(np.ones(4))
    p.grad = ember.from_numpy(np.ones(8, np.float32)[::2])  # strided: converted explicitly
    opt.step()
    assert p.data is storage and p.dtype == np.float32
    np.testing.assert_allclose(p.numpy(), 0.9, rtol=1e-6)


# ---- bad input ----------------------------------------------------------------------------

BAD = [
    ("SGD", dict(lr=-0.1), "learning rate"),
    ("SGD", dict(lr=0.1, momentum=-1), "momentum"),
    ("SGD", dict(lr=0.1, nesterov=True), "Nesterov"),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
    ("Adam", dict(lr=-1e-3), "learning rate"),
    ("Adam", dict(betas=(1.0, 0.999)), "beta"),
    ("Adam", dict(betas=(0.9, -0.1)), "beta"),
    ("Adam", dict(eps=-1.0), "eps"),
    ("AdamW", dict(weight_decay=-0.1), "weight_decay"),
    ("AdamW", dict(betas=(0.9, 1.5)), "beta"),
    ("Adagrad", dict(lr_decay=-1), "lr_decay"),
    ("Adagrad", dict(initial_accumulator_value=-1), "initial_accumulator_value"),
    ("Adadelta", dict(rho=1.5), "rho"),
    ("RMSprop", dict(momentum=-0.5), "momentum"),
    ("RMSprop", dict(alpha=-0.5), "alpha"),
]


@pytest.mark.parametrize("name,kw,match", BAD, ids=[f"{n}-{k}" for n, k, _ in BAD])
def test_refuses_bad_hyperparameters(name, kw, match):
    with pytest.raises(ValueError, match=match):
        getattr(optim, name)([nn.Parameter(np.zeros(1))], **kw)


def test_refuses_bad_group_hyperparameters():
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([nn.Parameter(np.zeros(1))], lr=-1.0)
    # (a group's own lr=-1 is taken, as torch checks only the constructor's: test_fix28.py)
    with pytest.raises(TypeError):
        optim.SGD([nn.Parameter(np.zeros(1))], lr="fast")


@pytest.mark.parametrize("name", sorted(REF))
def test_refuses_state_of_other_parameters(name):
    p = nn.Parameter(np.zeros(3))
    o = getattr(optim, name)([p], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    p.grad = ember.tensor(np.ones(3))
    o.step()
    with pytest.raises(ValueError, match="shape"):
        getattr(optim, name)([nn.Parameter(np.zeros(4))], lr=0.1).load_state_dict(o.state_dict())
    two = getattr(optim, name)([nn.Parameter(np.zeros(3)), nn.Parameter(np.zeros(3))], lr=0.1)
    with pytest.raises(ValueError, match="size"):
        two.load_state_dict(o.state_dict())


def test_kernels_refuse_arrays_they_cannot_update_in_place():
    p, g = np.zeros(4, np.float32), np.ones(4, np.float32)
    m, v = np.zeros(4, np.float32), np.zeros(4, np.float32)
    args = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, step=1)
    _C.adam_step(p, m, v, None, g, **args)
    assert p[0] != 0 and m[0] != 0  # in place
    with pytest.raises(TypeError):  # a list would be converted into a temporary
        _C.adam_step([0.0] * 4, m, v, None, g, **args)
    with pytest.raises(TypeError):  # state of another dtype
        _C.adam_step(p, m.astype(np.float64), v, None, g, **args)
    with pytest.raises(TypeError):  # integer parameter
        _C.sgd_step(np.zeros(4, np.int64), None, np.zeros(4, np.int64), lr=0.1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.sgd_step(np.zeros(8, np.float32)[::2], None, g, lr=0.1)
    ro = np.zeros(4, np.float32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.sgd_step(ro, None, g, lr=0.1)
    with pytest.raises(ValueError, match="shape"):
        _C.adagrad_step(p, np.zeros(5, np.float32), g, clr=0.1, eps=1e-10)
    with pytest.raises(ValueError, match="momentum_buffer"):
        _C.sgd_step(p, None, g, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="step"):
        _C.adam_step(p, m, v, None, g, **dict(args, step=0))


def test_non_contiguous_parameter_is_updated_not_lost():
    # (as PyTorch) the kernel steps a contiguous copy, written back into the strided storage
    base = np.zeros(8, np.float32)
    p = nn.Parameter(base)
    p.data = p.data[::2]
    opt = optim.SGD([p], lr=0.1)
    p.grad = ember.tensor(np.ones(4, np.float32))
    opt.step()
    np.testing.assert_array_equal(base, np.float32([-0.1, 0] * 4))
    assert np.shares_memory(p.data, base)


def test_large_parameter_runs_threaded_and_matches():
    n = 300_000  # above the kernels' threading threshold
    rng = np.random.default_rng(9)
    p0, grads = rng.standard_normal(n), [rng.standard_normal(n) for _ in range(3)]
    ours, _, _ = _run("Adam", dict(lr=0.01, amsgrad=True), p0, grads, np.float64)
    np.testing.assert_allclose(ours[-1], ref.adam(p0, grads, lr=0.01, amsgrad=True)[-1],
                               rtol=1e-12)  # fmt: skip


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"])
def test_pytorch_implementation_switches_are_accepted(name):
    """foreach / fused / capturable pick PyTorch's implementation, not the maths: accepted
    where PyTorch's signature has them and the step is unchanged; differentiable=True refused."""
    torch = pytest.importorskip("torch")
    import inspect

    cls = getattr(ember.optim, name)
    flags = [
        f
        for f in ("foreach", "fused", "capturable")
        if f in inspect.signature(getattr(torch.optim, name).__init__).parameters
    ]
    assert flags == [f for f in flags if f in inspect.signature(cls.__init__).parameters]
    ends = []
    for kw in [{}] + [{f: True} for f in flags]:
        p = ember.nn.Parameter(ember.tensor(np.array([1.0, -2.0, 3.0])))
        opt = cls([p], lr=0.1, **kw)
        for _ in range(3):
            p.grad = ember.tensor(np.array([0.5, 0.1, -0.3]))
            opt.step()
        ends.append(p.numpy().copy())
    for e in ends[1:]:
        np.testing.assert_array_equal(e, ends[0])
    p = ember.nn.Parameter(ember.zeros(2))
    with pytest.raises(NotImplementedError, match="differentiable"):
        cls([p], differentiable=True)
    cls([p], foreach="yes")  # (read by its truth, as torch's)
