"""gradspeed28: the optimisers' inline common-case parameter loop (_params_with_grad) and the
group options read once a group (SGD, Adam): the same bits, state and refusals as the general
path and as torch."""

import numpy as np
import pytest

import ember

# ---- optimisers: the inline common case against the general path ------------------------------


def _model(lib, dtype=np.float32):
    rng = np.random.default_rng(3)
    shapes = [(6, 5), (6,), (3, 6), (3,)]
    return [lib.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True) for s in shapes]


def _loss(ps, x, y, F):
    h = F.relu(F.linear(x, ps[0], ps[1]))
    return F.cross_entropy(F.linear(h, ps[2], ps[3]), y)


MAKERS = {
    "sgd_momentum": lambda O, groups: O.SGD(groups, lr=0.1, momentum=0.9),
    "sgd_nesterov_wd": lambda O, groups: O.SGD(
        groups, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2
    ),
    "sgd_plain_maximize": lambda O, groups: O.SGD(groups, lr=0.05, maximize=True),
    "adam": lambda O, groups: O.Adam(groups, lr=1e-2),
    "adam_amsgrad_wd": lambda O, groups: O.Adam(groups, lr=1e-2, amsgrad=True, weight_decay=0.1),
    "adamw_max": lambda O, groups: O.AdamW(groups, lr=1e-2, maximize=True),
    "rmsprop": lambda O, groups: O.RMSprop(groups, lr=1e-2, momentum=0.5),
}


def _train(lib, make, steps=5, dtype=np.float32, strided_state=False):
    """Two parameter groups with their own options (the second's lr halved, its last weight
    without gradient at the first step); ``strided_state`` puts a transposed copy of one state
    Tensor in by hand after the first step, which takes the general path from then on."""
    ps = _model(lib, dtype)
    opt = make(lib.optim, [{"params": ps[:2]}, {"params": ps[2:]}])
    opt.param_groups[1]["lr"] = opt.param_groups[0]["lr"] / 2
    rng = np.random.default_rng(4)
    x = lib.tensor(rng.standard_normal((7, 5)).astype(dtype))
    y = lib.tensor(rng.integers(0, 3, 7))
    F = lib.nn.functional
    for i in range(steps):
        opt.zero_grad()
        _loss(ps, x, y, F).backward()
        if i == 0:
            ps[3].grad = None  # skipped: no state made for it at this step
        opt.step()
        keys = [k for k in opt.state[ps[0]] if k != "step"]
        if i == 0 and strided_state and keys:
            st, k = opt.state[ps[0]], keys[0]
            a = st[k].detach().numpy()
            t = lib.tensor(np.ascontiguousarray(a.T)).t()  # same values, strided
            assert not t.is_contiguous()
            st[k] = t
    state = [
        {k: np.array(v.detach().numpy() if hasattr(v, "detach") else v) for k, v in s.items()}
        for s in (opt.state[p] for p in ps)
    ]
    return [np.array(p.detach().numpy()) for p in ps], state


@pytest.mark.parametrize("name", sorted(MAKERS))
def test_inline_path_same_bits_as_general_path(name):
    # the strided state Tensor sends ps[0] down the general path (contiguous copies written
    # back); the values must be those of the inline path bit for bit
    pa, sa = _train(ember, MAKERS[name])
    pb, sb = _train(ember, MAKERS[name], strided_state=True)
    for a, b in zip(pa, pb):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(sa, sb):
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@pytest.mark.parametrize("name", sorted(MAKERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_two_groups_match_torch(name, dtype):
    torch = pytest.importorskip("torch")
    pe, se = _train(ember, MAKERS[name], dtype=dtype)
    pt, st = _train(torch, MAKERS[name], dtype=dtype)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    for a, b in zip(pe, pt):
        np.testing.assert_allclose(a, b, **tol)
    for a, b in zip(se, st):
        assert set(a) == set(b)
        for k in a:
            np.testing.assert_allclose(a[k], b[k], err_msg=k, **tol)


def test_group_options_changed_between_steps_are_read():
    # the options are read once a group per step, not once for all steps: a scheduler's lr
    # and a hand-set momentum take effect at the next step
    p = ember.tensor(np.ones(4, np.float32), requires_grad=True)
    opt = ember.optim.SGD([p], lr=0.1)
    p.grad = ember.tensor(np.ones(4, np.float32))
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_allclose(p.numpy(), np.full(4, 0.4, np.float32), rtol=1e-6)
    opt.param_groups[0]["momentum"] = 0.9
    opt.step()
    assert "momentum_buffer" in opt.state[p]


def test_sparse_gradients_still_refused_or_taken():
    emb = ember.nn.Embedding(10, 3, sparse=True)
    emb(ember.tensor([1, 2])).sum().backward()
    with pytest.raises(RuntimeError, match="SparseAdam"):
        ember.optim.Adam(emb.parameters()).step()
    with pytest.raises(RuntimeError, match="weight_decay"):
        ember.optim.SGD(emb.parameters(), lr=0.1, weight_decay=0.1).step()
    before = emb.weight.detach().numpy().copy()
    ember.optim.SGD(emb.parameters(), lr=0.1).step()  # only the touched rows move
    moved = np.any(emb.weight.detach().numpy() != before, axis=1)
    assert moved.tolist() == [False, True, True] + [False] * 7


def test_complex_and_strided_parameters_take_the_general_path():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    z = (rng.standard_normal(4) + 1j * rng.standard_normal(4)).astype(np.complex64)
    w = rng.standard_normal((3, 4)).astype(np.float32)
    out = {}
    for lib in (ember, torch):
        pz = lib.tensor(z.copy(), requires_grad=True)
        pw = lib.tensor(np.ascontiguousarray(w.T)).t().requires_grad_()  # strided leaf
        opt = lib.optim.Adam([pz, pw], lr=1e-2)
        for _ in range(3):
            opt.zero_grad()
            ((pz * pz.conj()).real.sum() + (pw * pw).sum()).backward()
            opt.step()
        out[lib.__name__] = (pz.detach().numpy().copy(), pw.detach().numpy().copy())
    for a, b in zip(out["ember"], out["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_step_writes_still_refuse_a_saved_parameter():
    # the step notes its writes (version counter): a graph that saved a parameter before the
    # step refuses to backward after it, as torch's
    p = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    opt = ember.optim.Adam([p], lr=0.1)
    y = (p * p).sum()
    p.grad = ember.tensor(np.ones(3, np.float32))
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# ---- Function.apply: a recorded op's output takes its array in the slot (no set_data) ---------


def test_recorded_outputs_values_grads_hooks_and_accumulation():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a0, b0 = rng.standard_normal((2, 32, 32))
    got = {}
    for lib in (ember, torch):
        a = lib.tensor(a0.copy(), requires_grad=True)
        b = lib.tensor(b0.copy(), requires_grad=True)
        seen = []
        y = a * b
        y.retain_grad()  # a non-leaf's gradient kept
        y.register_hook(lambda g, seen=seen: seen.append(float(g.sum())))
        z = (y.tanh() * 2.0).sum()
        a.grad = lib.tensor(np.ones((32, 32)))  # accumulated into, not replaced
        z.backward()
        got[lib.__name__] = (z.item(), a.grad.numpy(), b.grad.numpy(), y.grad.numpy(), seen)
    e, t = got["ember"], got["torch"]
    assert e[0] == pytest.approx(t[0], rel=1e-12)
    for x, w in zip(e[1:4], t[1:4]):
        np.testing.assert_allclose(x, w, rtol=1e-12, atol=1e-14)
    assert len(e[4]) == 1 and e[4][0] == pytest.approx(t[4][0], rel=1e-12)


def test_recorded_output_version_counter_and_write_check():
    # outputs made after writes (tracking on) start their own counter at 0 and still refuse a
    # backward through a node that saved them once written in place, as torch's
    x = ember.tensor(np.ones(4), requires_grad=True)
    x.detach().add_(1.0)  # a write: tracking on
    y = x * 3.0
    assert y._version == 0
    z = (y * y).sum()
    y.add_(1.0)
    assert y._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
    w = ember.tensor(np.ones(4), requires_grad=True)
    v = w * 2.0
    v.data = np.full(4, 5.0)  # set_data on an output still checked and taken
    assert v.tolist() == [5.0] * 4
    with pytest.raises(TypeError, match="Variable data has to be a tensor"):
        v.data = [1.0]


# ---- engine: a 0-d loss's implicit gradient made by np.array, not ones_like ------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_implicit_seed_of_scalar_losses(dtype):
    torch = pytest.importorskip("torch")
    x0 = np.arange(1.0, 7.0).reshape(2, 3).astype(dtype)
    got = {}
    for lib in (ember, torch):
        x = lib.tensor(x0.copy(), requires_grad=True)
        (x * x).sum().backward()  # a 0-d loss
        (x * 2).sum().reshape(1).backward()  # a 1-element loss of shape (1,)
        leaf = lib.tensor(np.array(3.0, dtype), requires_grad=True)
        leaf.backward()  # the seed itself reaches a leaf: copied, then added into
        leaf.backward()
        got[lib.__name__] = (x.grad.numpy(), leaf.grad.numpy(), str(x.grad.dtype))
    e, t = got["ember"], got["torch"]
    np.testing.assert_array_equal(e[0], t[0])
    np.testing.assert_array_equal(e[1], t[1])
    assert e[1].shape == () and e[1] == 2
    assert e[2].split(".")[-1] == t[2].split(".")[-1]
    with pytest.raises(RuntimeError, match="implicitly created only for scalar"):
        ember.ones(2, requires_grad=True).mul(2).backward()
