"""In-place writes outside the autograd graph (under no_grad, into plain tensors, by an
optimiser's step, by init, through views): backward refuses a node that saved the written
memory, as torch's version counter makes it refuse ("one of the variables needed for
gradient computation has been modified by an inplace operation"), instead of silently
differentiating with the new values. Writes torch does not count (NumPy writes into
``.data``, rebinding ``.data``, writes after backward, writes into memory nothing saved, a
batch norm's own running-statistic updates) still give correct gradients."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import nn

MODIFIED = "modified by an inplace operation"


def _raises(fn, shape):
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        fn()
    assert str(list(shape)) in str(info.value)  # the written tensor's shape, as torch names it


# ---- 1. a leaf that requires grad, written under no_grad between forward and backward ------
# y = w @ x with x requiring grad: the node saved w (for x's gradient)

LEAF_WRITES = {
    "mul_": lambda w: w.mul_(2),
    "iadd": lambda w: w.__iadd__(1),
    "isub": lambda w: w.__isub__(1.0),
    "copy_": lambda w: w.copy_(ember.ones(3, 4)),
    "zero_": lambda w: w.zero_(),
    "fill_": lambda w: w.fill_(3.0),
    "setitem": lambda w: w.__setitem__(0, 5.0),
    "clamp_": lambda w: w.clamp_(0.0, 1.0),
    "clamp_int_bounds": lambda w: w.clamp_(min=0),
    "exp_": lambda w: w.exp_(),
    "tanh_": lambda w: w.tanh_(),
    "normal_": lambda w: w.normal_(),
    "uniform_": lambda w: w.uniform_(),
    "view(-1).zero_": lambda w: w.view(-1).zero_(),
    "w[0].add_": lambda w: w[0].add_(1),
    "detach().mul_": lambda w: w.detach().mul_(2),
    "t_": lambda w: w.t_(),
    "unsqueeze_": lambda w: w.unsqueeze_(0),
    "masked_fill_": lambda w: w.masked_fill_(w > 0, 0.0),
    "index_put_": lambda w: w.index_put_((ember.tensor([0]),), ember.tensor(1.0)),
    "fill_diagonal_": lambda w: w.fill_diagonal_(0.0),
    "scatter_": lambda w: w.scatter_(0, ember.zeros(1, 4, dtype=ember.int64), 1.0),
    "init.normal_": lambda w: nn.init.normal_(w),
    "init.zeros_": lambda w: nn.init.zeros_(w),
    "init.kaiming_uniform_": lambda w: nn.init.kaiming_uniform_(w),
    "increment_version": lambda w: ember.autograd.graph.increment_version(w),
}


def _leaf_case(write, lib=ember):
    w = lib.randn(3, 4, requires_grad=True)
    x = lib.randn(4, 2, requires_grad=True)
    y = (w @ x).sum()
    with lib.no_grad():
        write(w)
    y.backward()


@pytest.mark.parametrize("name", LEAF_WRITES)
def test_leaf_written_under_no_grad_refuses_backward(name):
    _raises(lambda: _leaf_case(LEAF_WRITES[name]), (3, 4))  # (the saved array's shape)


def _torch_twin(name):
    torch = pytest.importorskip("torch")
    twin = {
        "copy_": lambda w: w.copy_(torch.ones(3, 4)),
        "index_put_": lambda w: w.index_put_((torch.tensor([0]),), torch.tensor(1.0)),
        "scatter_": lambda w: w.scatter_(0, torch.zeros(1, 4, dtype=torch.int64), 1.0),
        "init.normal_": lambda w: torch.nn.init.normal_(w),
        "init.zeros_": lambda w: torch.nn.init.zeros_(w),
        "init.kaiming_uniform_": lambda w: torch.nn.init.kaiming_uniform_(w),
        "increment_version": lambda w: torch.autograd.graph.increment_version(w),
    }
    return torch, twin.get(name, LEAF_WRITES[name])


@pytest.mark.parametrize("name", LEAF_WRITES)
def test_leaf_writes_raise_where_torch_raises(name):
    torch, write = _torch_twin(name)
    with pytest.raises(RuntimeError, match=MODIFIED):
        _leaf_case(write, torch)


NOT_WRITES = {
    "requires_grad_": lambda w: w.requires_grad_(),
    "numpy write": lambda w: w.numpy().__setitem__(0, 0.0),  # NumPy: untracked, as .data
    "rebind .data": lambda w: setattr(w, "data", np.ones((3, 4), np.float32)),
    "unrelated tensor": lambda w: ember.ones(3, 4).mul_(2),
    "clone().zero_": lambda w: w.clone().zero_(),
}


@pytest.mark.parametrize("name", NOT_WRITES)
def test_untracked_or_unrelated_writes_pass(name):
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(4, 2, requires_grad=True)
    x0 = x.detach().numpy().copy()
    y = (w @ x).sum()
    with ember.no_grad():
        NOT_WRITES[name](w)
    y.backward()  # w's gradient does not read w: always the right value
    np.testing.assert_allclose(w.grad.numpy(), np.broadcast_to(x0.sum(1), (3, 4)), rtol=1e-6)


def test_write_into_a_tensor_nothing_saved():
    # y = w * x (x plain) saves x only, as torch: writing w leaves the gradient right
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(3, 4)
    y = (w * x + w).sum()
    with ember.no_grad():
        w.mul_(2)
        w += 1
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), x.numpy() + 1, rtol=1e-6)


def test_matmul_keeps_an_operand_only_for_the_others_gradient():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        w = lib.randn(3, 4, requires_grad=True)
        x = lib.randn(4, 2)
        y = (w @ x).sum()  # only x is saved (for w's gradient)
        with lib.no_grad():
            w.mul_(2)
        y.backward()
        np.testing.assert_allclose(
            w.grad.numpy(), np.broadcast_to(x.numpy().sum(1), (3, 4)), rtol=1e-6
        )
        y = (w @ x).sum()
        x.mul_(2)  # ... and x is
        with pytest.raises(RuntimeError, match=MODIFIED):
            y.backward()


# ---- 2. an optimiser step between forward and backward --------------------------------------


def _mlp():
    return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 1))


@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_step_between_forward_and_backward_refuses(opt):
    model = _mlp()
    o = getattr(ember.optim, opt)(model.parameters(), lr=0.1)
    y = model(ember.randn(5, 4)).sum()
    y.backward(retain_graph=True)
    o.step()
    _raises(y.backward, (1, 3))  # the second layer's weight (the first's saved is its input)


def test_step_between_forward_and_backward_matches_torch():
    torch = pytest.importorskip("torch")
    for lib, n_in in ((ember, 4), (torch, 4)):
        lin = lib.nn.Linear(n_in, 3)
        o = lib.optim.SGD(lin.parameters(), lr=0.1)
        y = lin(lib.randn(5, n_in)).sum()
        y.backward(retain_graph=True)
        o.step()
        y.backward()  # one layer on data: its weight is not saved (no input gradient)
        model = lib.nn.Sequential(lib.nn.Linear(4, 3), lib.nn.Tanh(), lib.nn.Linear(3, 1))
        o = lib.optim.SGD(model.parameters(), lr=0.1)
        y = model(lib.randn(5, 4)).sum()
        y.backward(retain_graph=True)
        o.step()
        with pytest.raises(RuntimeError, match=MODIFIED):
            y.backward()


def test_step_skips_parameters_without_gradient():
    # as torch: a parameter the step did not touch (grad None) is not written
    a, b = nn.Linear(4, 3), nn.Linear(3, 1)
    o = ember.optim.SGD([*a.parameters(), *b.parameters()], lr=0.1)
    h = ember.randn(5, 3, requires_grad=True)
    y2 = b(h).sum()
    a(ember.randn(5, 4)).sum().backward()
    o.step()
    y2.backward()
    np.testing.assert_allclose(h.grad.numpy(), np.broadcast_to(b.weight.numpy(), (5, 3)))


# ---- 3. a plain tensor (no grad) that a node saved ------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda x: x.exp_(),
        lambda x: x.add_(1),
        lambda x: x.__imul__(2),
        lambda x: x.__setitem__((0, 0), 1.0),
        lambda x: x.copy_(np.zeros((3, 4), np.float32)),
        lambda x: ember.add(x, 1.0, out=x),
    ],
)
def test_plain_saved_tensor_written(write):
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(3, 4)
    y = (w * x).sum()
    write(x)
    _raises(y.backward, (3, 4))


def test_plain_saved_tensor_matches_torch():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        w = lib.randn(3, 4, requires_grad=True)
        x = lib.randn(3, 4)
        y = (w * x).sum()
        x.exp_()
        with pytest.raises(RuntimeError, match=MODIFIED):
            y.backward()


# ---- 4. views -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "write",
    [
        lambda x: x[0].add_(1),
        lambda x: x.view(-1).zero_(),
        lambda x: x.t().mul_(2),
        lambda x: x[:, 1].__setitem__(0, 3.0),
    ],
)
def test_write_through_a_view_of_a_saved_tensor(write):
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(3, 4)
    y = (w * x).sum()
    write(x)
    _raises(y.backward, (3, 4))


def test_saved_view_of_a_written_base():
    # torch: a view shares its base's version counter (the write elsewhere in base counts)
    w = ember.randn(3, 4, requires_grad=True)
    base = ember.randn(6, 4)
    y = (w * base[:3]).sum()
    base[5].zero_()
    _raises(y.backward, (3, 4))


# ---- 5. every named in-place method ---------------------------------------------------------
# Each call on a float (3, 4) tensor x that a node saved (y = w * x): backward must refuse.
# An integer-only method runs on an int64 tensor a gather saved as its index.

_I = ember.tensor([[0, 1, 2, 0]])


def _f(*shape):
    return ember.rand(*shape) + 0.5


FLOAT_CALLS = {
    "abs_": (), "absolute_": (), "acos_": (), "acosh_": (), "add_": (1.0,), "addcdiv_":
    (_f(3, 4), _f(3, 4)), "addcmul_": (_f(3, 4), _f(3, 4)), "arccos_": (), "arccosh_": (),
    "arcsin_": (), "arcsinh_": (), "arctan2_": (_f(3, 4),), "arctan_": (), "arctanh_": (),
    "asin_": (), "asinh_": (), "atan2_": (_f(3, 4),), "atan_": (), "atanh_": (),
    "bernoulli_": (), "cauchy_": (), "ceil_": (), "clamp_": (0.0, 1.0), "clamp_max_": (1.0,),
    "clamp_min_": (0.0,), "clip_": (0.0, 1.0), "copy_": (_f(3, 4),), "copysign_": (-1.0,),
    "cos_": (), "cosh_": (), "deg2rad_": (), "digamma_": (), "div_": (2.0,), "divide_": (2.0,),
    "erf_": (), "erfc_": (), "erfinv_": (), "exp2_": (), "exp_": (), "expm1_": (),
    "exponential_": (), "fill_": (1.0,), "fill_diagonal_": (0.0,), "fix_": (), "float_power_":
    (2.0,), "floor_": (), "floor_divide_": (2.0,), "fmod_": (2.0,), "frac_": (),
    "geometric_": (0.5,), "heaviside_": (_f(3, 4),), "hypot_": (_f(3, 4),), "i0_": (),
    "index_add_": (0, ember.tensor([0]), _f(1, 4)), "index_copy_": (0, ember.tensor([0]),
    _f(1, 4)), "index_fill_": (0, ember.tensor([0]), 1.0), "index_put_":
    ((ember.tensor([0]),), ember.tensor(1.0)), "index_reduce_": (0, ember.tensor([0]), _f(1, 4),
    "prod"), "ldexp_": (_f(3, 4),), "lerp_": (_f(3, 4), 0.5), "lgamma_": (), "log10_": (),
    "log1p_": (), "log2_": (), "log_": (), "log_normal_": (), "logit_": (), "map_": (_f(3, 4),
    lambda a, b: a), "masked_fill_": (ember.ones(3, 4, dtype=ember.bool), 0.0),
    "masked_scatter_": (ember.ones(3, 4, dtype=ember.bool), _f(3, 4)), "mul_": (2.0,),
    "multiply_": (2.0,), "mvlgamma_": (1,), "nan_to_num_": (), "neg_": (), "negative_": (),
    "nextafter_": (_f(3, 4),), "normal_": (), "polygamma_": (1,), "pow_": (2.0,),
    "put_": (ember.tensor([0]), ember.tensor([1.0])), "rad2deg_": (), "random_": (0, 5),
    "reciprocal_": (), "relu_": (), "remainder_": (2.0,), "renorm_": (2, 0, 1.0),
    "resize_": (3, 4), "resize_as_": (_f(3, 4),), "round_": (), "rsqrt_": (),
    "scatter_": (0, ember.zeros(1, 4, dtype=ember.int64), 1.0), "scatter_add_":
    (0, ember.zeros(1, 4, dtype=ember.int64), _f(1, 4)), "scatter_reduce_":
    (0, ember.zeros(1, 4, dtype=ember.int64), _f(1, 4), "sum"), "sigmoid_": (), "sign_": (),
    "sgn_": (), "sin_": (), "sinc_": (), "sinh_": (), "sqrt_": (), "square_": (),
    "squeeze_": (), "sub_": (1.0,), "subtract_": (1.0,), "swapaxes_": (0, 1),
    "swapdims_": (0, 1), "t_": (), "tan_": (), "tanh_": (), "transpose_": (0, 1),
    "true_divide_": (2.0,), "trunc_": (), "uniform_": (), "unsqueeze_": (0,),
    "xlogy_": (2.0,), "zero_": (), "eq_": (1.0,), "ne_": (1.0,), "lt_": (1.0,), "le_": (1.0,),
    "gt_": (1.0,), "ge_": (1.0,), "greater_": (1.0,), "greater_equal_": (1.0,), "less_":
    (1.0,), "less_equal_": (1.0,), "not_equal_": (1.0,), "logical_and_": (_f(3, 4),),
    "logical_or_": (_f(3, 4),), "logical_xor_": (_f(3, 4),), "logical_not_": (), "apply_": (abs,),
    "as_strided_": ((3, 4), (4, 1)), "addbmm_": (_f(2, 3, 5), _f(2, 5, 4)), "addmm_":
    (_f(3, 5), _f(5, 4)), "addmv_": (_f(3, 4), _f(4)), "addr_": (_f(3), _f(4)), "cumsum_": (0,),
    "cumprod_": (1,), "tril_": (), "triu_": (), "baddbmm_": (_f(2, 3, 5), _f(2, 5, 4)),
}  # fmt: skip
SHAPES = {"addmv_": (3,), "baddbmm_": (2, 3, 4)}  # (others: (3, 4))
INT_CALLS = {
    "bitwise_and_": (1,), "bitwise_or_": (1,), "bitwise_xor_": (1,), "bitwise_not_": (),
    "bitwise_left_shift_": (1,), "bitwise_right_shift_": (1,), "gcd_": (ember.tensor(2),),
    "lcm_": (ember.tensor(2),),  # (torch's gcd_ / lcm_ take a Tensor only)
}  # fmt: skip
# values, not memory: torch counts none of these as writes either
NOT_VALUE_WRITES = {"requires_grad_", "detach_", "share_memory_"}


def _inplace_methods() -> set:
    return {
        n
        for n in dir(ember.Tensor)
        if n.endswith("_") and not n.startswith("_") and callable(getattr(ember.Tensor, n))
    }


def test_every_inplace_method_is_covered():
    missing = _inplace_methods() - set(FLOAT_CALLS) - set(INT_CALLS) - NOT_VALUE_WRITES
    assert not missing, f"in-place methods with no case below: {sorted(missing)}"


@pytest.mark.parametrize("name", sorted(FLOAT_CALLS))
def test_every_float_inplace_method_is_noted(name):
    shape = SHAPES.get(name, (3, 4))
    w = ember.randn(*shape, requires_grad=True)
    x = _f(*shape)
    y = (w * x).sum()
    getattr(x, name)(*FLOAT_CALLS[name])
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


@pytest.mark.parametrize("name", sorted(INT_CALLS))
def test_every_integer_inplace_method_is_noted(name):
    w = ember.randn(3, 4, requires_grad=True)
    idx = _I.clone()
    y = w.gather(0, idx).sum()  # gather saves its index
    getattr(idx, name)(*INT_CALLS[name])
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.backward()


def test_version_counts_writes_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        w = lib.randn(3)
        v0 = w._version
        w.add_(1)
        w.zero_()
        w[0] = 1
        with lib.no_grad():
            w.mul_(2)
        assert w._version == v0 + 4
        assert w.view(-1)._version == w._version == w.detach()._version
        w.view(-1).add_(1)
        assert w._version == v0 + 5
        lib.nn.init.normal_(w)
        assert w._version == v0 + 6
        w.uniform_()
        w.normal_()
        w.zero_()
        w += 1
        assert w._version == v0 + 10
        lib.autograd.graph.increment_version(w)
        assert w._version == v0 + 11
        w.requires_grad_()
        assert w._version == v0 + 11
        with pytest.raises(AttributeError):
            w._version = 0


# ---- writes that must not be flagged --------------------------------------------------------


def test_write_after_backward_is_fine():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(4, 2, requires_grad=True)
    (w @ x).sum().backward()
    with ember.no_grad():
        w.mul_(2)
    y = (w @ x).sum()
    w.grad = None
    y.backward()
    np.testing.assert_allclose(w.grad.numpy(), np.broadcast_to(x.numpy().sum(1), (3, 4)))


def test_retained_graph_then_write_refuses_second_backward():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(4, 2, requires_grad=True)
    y = (w @ x).sum()
    y.backward(retain_graph=True)
    y.backward(retain_graph=True)  # double backward through a retained graph: fine
    np.testing.assert_allclose(w.grad.numpy(), 2 * np.broadcast_to(x.numpy().sum(1), (3, 4)))
    with ember.no_grad():
        w.mul_(2)
    _raises(y.backward, (3, 4))


def test_freed_graph_says_freed_not_modified():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(4, 2, requires_grad=True)
    y = (w @ x).sum()
    y.backward()
    with ember.no_grad():
        w.mul_(2)
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_grad_of_another_branch_is_not_refused():
    # autograd.grad runs only the nodes on the way to its inputs, as torch
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(4, 2, requires_grad=True)
    v = ember.randn(3, requires_grad=True)
    y = (w @ x).sum() + (v * v).sum()
    with ember.no_grad():
        x.mul_(2)
    (gv,) = ember.autograd.grad(y, [v])
    np.testing.assert_allclose(gv.numpy(), 2 * v.detach().numpy(), rtol=1e-6)


def test_batchnorm_running_stats():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        # training: the forward's own running-stat update (another forward) is not a write
        m = lib.nn.BatchNorm1d(4)
        x = lib.randn(5, 4, requires_grad=True)
        y = m(x).sum()
        m(x)
        y.backward()
        # eval: a forward in training mode before the eval backward is fine too
        m.eval()
        y = (m(x) * lib.arange(4.0)).sum()
        m.train()
        m(x)
        y.backward()
        for train in (True, False):  # a user's write into the statistics is refused
            m.train(train)
            y = m(x).sum()
            with lib.no_grad():
                m.running_mean.add_(1)
            with pytest.raises(RuntimeError, match=MODIFIED):
                y.backward()


def test_batchnorm_eval_gradient_uses_the_stats_it_saw():
    m = nn.BatchNorm1d(4).eval()
    with ember.no_grad():
        m.running_var.uniform_(0.5, 2.0)
    x = ember.randn(5, 4, requires_grad=True)
    (m(x) * ember.arange(4.0)).sum().backward()
    want = np.arange(4.0) / np.sqrt(m.running_var.numpy() + m.eps) * m.weight.numpy()
    np.testing.assert_allclose(x.grad.numpy(), np.broadcast_to(want, (5, 4)), rtol=1e-5)


def _optimisers():
    o = ember.optim
    return {
        "SGD": lambda p: o.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
        "Adam": lambda p: o.Adam(p, lr=0.01),
        "AdamW": lambda p: o.AdamW(p, lr=0.01, amsgrad=True),
        "Adagrad": lambda p: o.Adagrad(p, lr=0.05),
        "Adadelta": lambda p: o.Adadelta(p),
        "Adafactor": lambda p: o.Adafactor(p, lr=0.01),
        "Adamax": lambda p: o.Adamax(p, lr=0.01),
        "ASGD": lambda p: o.ASGD(p, lr=0.01),
        "LBFGS": lambda p: o.LBFGS(p, lr=0.5, max_iter=3),
        "Muon": lambda p: o.Muon([q for q in p if q.ndim == 2], lr=0.01),
        "NAdam": lambda p: o.NAdam(p, lr=0.01),
        "RAdam": lambda p: o.RAdam(p, lr=0.01),
        "RMSprop": lambda p: o.RMSprop(p, lr=0.01, centered=True, momentum=0.5),
        "Rprop": lambda p: o.Rprop(p, lr=0.01),
        "SparseAdam": lambda p: o.SparseAdam(p, lr=0.01),
    }


def test_optimiser_list_is_complete():
    names = {n for n in ember.optim.__all__ if n[0].isupper() and n != "Optimizer"}
    assert names == set(_optimisers())


@pytest.mark.parametrize("name", sorted(_optimisers()))
def test_training_loop_is_never_refused(name):
    ember.manual_seed(0)
    if name == "SparseAdam":  # (sparse gradients only)
        model = nn.Sequential(nn.Embedding(10, 1, sparse=True), nn.Flatten(), nn.Tanh())
        xs = ember.tensor(np.random.default_rng(0).integers(0, 10, (16, 1)))
    else:
        model = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 1))
        xs = ember.randn(16, 4)
    target = ember.randn(16, 1)
    opt = _optimisers()[name](list(model.parameters()))
    losses = []
    for _ in range(4):

        def closure():
            opt.zero_grad()
            loss = ((model(xs) - target) ** 2).mean()
            loss.backward()
            return loss

        if name == "LBFGS":
            losses.append(opt.step(closure).item())
        else:
            for half in (xs[:8], xs[8:]):  # gradient accumulation over two forwards
                loss = ((model(half) - target[: len(half)]) ** 2).mean()
                loss.backward()
            losses.append(loss.item())
            opt.step()
            opt.zero_grad()
    assert all(np.isfinite(losses))


def test_gradient_accumulation_and_grad_hooks_match_numpy():
    w = ember.randn(3, 4, requires_grad=True)
    w.register_hook(lambda g: g * 2)  # a hook that changes the gradient
    xs = [ember.randn(4, 2) for _ in range(3)]
    for x in xs:
        (w @ x).sum().backward()
        with ember.no_grad():  # a write into memory no node holds any more
            x.zero_()
    # (the xs were zeroed after their backward: the gradient is from the values it saw)
    assert np.count_nonzero(w.grad.numpy()) == 12
    w2 = ember.randn(3, 4, requires_grad=True)
    xs = [np.random.default_rng(i).standard_normal((4, 2)).astype(np.float32) for i in range(3)]
    for x in xs:
        (w2 @ ember.tensor(x)).sum().backward()
    want = sum(np.broadcast_to(x.sum(1), (3, 4)) for x in xs)
    np.testing.assert_allclose(w2.grad.numpy(), want, rtol=1e-5)


def test_hook_writing_the_gradient_in_place():
    w = ember.randn(3, 4, requires_grad=True)
    x = ember.randn(4, 2, requires_grad=True)
    h = w @ x

    def double(g):
        g.mul_(2)  # a hook writing its gradient in place: nothing saved it
        return g

    h.register_hook(double)
    h.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 2 * np.broadcast_to(x.numpy().sum(1), (3, 4)))


def test_checkpoint_with_parameter_written_after_backward():
    from ember.utils.checkpoint import checkpoint

    lin = nn.Linear(4, 4)
    opt = ember.optim.SGD(lin.parameters(), lr=0.1)
    x = ember.randn(2, 4, requires_grad=True)
    for _ in range(3):
        opt.zero_grad()
        checkpoint(lambda t: lin(t).tanh(), x).sum().backward()
        opt.step()
    # the finite-difference gradient of the last step's function at its weights
    xv = x.detach().numpy().astype(np.float64)
    wv, bv = lin.weight.detach().numpy().astype(np.float64), lin.bias.detach().numpy()

    def f(w):
        return np.tanh(xv @ w.T + bv).sum()

    opt.zero_grad()
    checkpoint(lambda t: lin(t).tanh(), x).sum().backward()
    eps = 1e-6
    fd = np.zeros_like(wv)
    for i in np.ndindex(*wv.shape):
        d = np.zeros_like(wv)
        d[i] = eps
        fd[i] = (f(wv + d) - f(wv - d)) / (2 * eps)
    np.testing.assert_allclose(lin.weight.grad.numpy(), fd, rtol=1e-3, atol=1e-4)


def test_checkpoint_as_torch():
    # torch's checkpoint keeps its inputs (a write into one is refused) and reruns the
    # function on the parameters as they are at backward (a write into one is not)
    from ember.utils.checkpoint import checkpoint

    lin = nn.Linear(4, 4)
    x = ember.randn(2, 4, requires_grad=True)
    y = checkpoint(lambda t: lin(t).tanh(), x).sum()
    with ember.no_grad():
        lin.weight.mul_(2)
    y.backward()
    y = checkpoint(lambda t: (t * t).sum(), x)
    with ember.no_grad():
        x.mul_(2)
    _raises(y.backward, (2, 4))


def test_custom_function_saved_tensor():
    class Cube(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = ember.tensor([1.0, 2.0], requires_grad=True)
    Cube.apply(x).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0])
    y = Cube.apply(x).sum()
    with ember.no_grad():
        x.add_(1)
    _raises(y.backward, (2,))


def test_two_forwards_then_one_backward_through_stateful_layers():
    # the layers' own state updates (batch norm's running statistics, its batch count) are
    # not writes a later backward refuses, as in torch
    emb, lstm = nn.Embedding(10, 6), nn.LSTM(6, 5, batch_first=True)
    bn, ln, drop, head = nn.BatchNorm1d(5), nn.LayerNorm(5), nn.Dropout(0.2), nn.Linear(5, 1)
    params = [p for m in (emb, lstm, bn, ln, head) for p in m.parameters()]
    opt = ember.optim.Adam(params, lr=0.01)
    idx = ember.tensor(np.random.default_rng(0).integers(0, 10, (4, 3)))

    def loss():
        h = lstm(emb(idx))[0][:, -1]
        return head(drop(ln(bn(h)))).pow(2).mean()

    for _ in range(3):
        total = loss() + loss()
        total.backward()
        opt.step()
        opt.zero_grad()
    assert np.isfinite(total.item())


# ---- which ops hold what: side by side with torch ------------------------------------------
# (op, whether the write goes into its output rather than its input): ember holds exactly what
# torch saves for these. Known differences, none a wrong gradient: ember does not keep the
# output of norm nor the input of max/avg pooling (its backward never reads them: the gradient
# stays right, where torch refuses).

_F = {
    "relu": lambda lib, x: lib.nn.functional.relu(x),
    "sigmoid": lambda lib, x: x.sigmoid(),
    "tanh": lambda lib, x: x.tanh(),
    "exp": lambda lib, x: x.exp(),
    "softmax": lambda lib, x: lib.nn.functional.softmax(x, 1),
    "log_softmax": lambda lib, x: lib.nn.functional.log_softmax(x, 1),
    "gelu": lambda lib, x: lib.nn.functional.gelu(x),
    "sum": lambda lib, x: x.sum(),
    "getitem": lambda lib, x: x[1:3],
    "cat": lambda lib, x: lib.cat([x, x]),
    "mul_self": lambda lib, x: x * x,
    "mul_const": lambda lib, x: x * 3,
    "clamp": lambda lib, x: x.clamp(-0.5, 0.5),
    "layer_norm": lambda lib, x: lib.nn.functional.layer_norm(x, (6,)),
    "mse": lambda lib, x: lib.nn.functional.mse_loss(x, lib.zeros(4, 6)),
    "cross_entropy": lambda lib, x: lib.nn.functional.cross_entropy(x, lib.tensor([0, 1, 2, 3])),
    "matmul_self": lambda lib, x: x @ x.t(),
    "linear": lambda lib, x: lib.nn.functional.linear(x, lib.ones(3, 6)),
    "conv2d": lambda lib, x: lib.nn.functional.conv2d(x.reshape(1, 1, 4, 6), lib.ones(2, 1, 3, 3)),
    "logsumexp": lambda lib, x: x.logsumexp(1),
}


def _outcome(lib, f, into_output: bool) -> bool:
    x = lib.tensor(np.linspace(-1, 1, 24, dtype=np.float32).reshape(4, 6), requires_grad=True)
    y = f(lib, x)
    with lib.no_grad():
        (y if into_output else x).add_(0)
    try:
        (y.sum() if y.ndim else y).backward()
    except RuntimeError as e:
        assert MODIFIED in str(e)
        return True
    return False


@pytest.mark.parametrize("into_output", [False, True])
@pytest.mark.parametrize("name", sorted(_F))
def test_ops_hold_what_torch_saves(name, into_output):
    torch = pytest.importorskip("torch")
    f = _F[name]  # (getitem's output is a view of x: that write goes into x, not refused)
    assert _outcome(ember, f, into_output) == _outcome(torch, f, into_output)


# Ops keep only what their backward reads, as torch: a no_grad write into the output of an op
# whose derivative reads only its input (sin, x ** 2, var) is not refused, and the gradient is
# still the input's.
_OUTPUT_FREE = {
    "pow2": lambda x: x**2,
    "pow2.5": lambda x: x.pow(2.5),
    "sin": lambda x: x.sin(),
    "cos": lambda x: x.cos(),
    "atan": lambda x: x.atan(),
    "erf": lambda x: x.erf(),
    "log1p": lambda x: x.log1p(),
    "sinh": lambda x: x.sinh(),
    "asinh": lambda x: x.asinh(),
    "square": lambda x: x.square(),
    "var": lambda x: x.var(0),
}


@pytest.mark.parametrize("name", sorted(_OUTPUT_FREE))
def test_write_into_an_output_the_backward_does_not_read(name):
    f = _OUTPUT_FREE[name]
    x0 = np.array([[0.5, 0.7, 0.9], [0.2, 0.3, 0.4]])
    x = ember.tensor(x0, requires_grad=True)
    y = f(x)
    with ember.no_grad():
        y.add_(1.0)
    y.sum().backward()
    want = ember.tensor(x0, requires_grad=True)
    f(want).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), want.grad.numpy(), rtol=1e-12)
    torch = pytest.importorskip("torch")
    t = torch.tensor(x0, requires_grad=True)
    ty = f(t)
    with torch.no_grad():
        ty.add_(1.0)
    ty.sum().backward()  # (torch does not refuse either)
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["exp", "tan", "std"])
def test_write_into_an_output_the_backward_reads_is_refused(name):
    f = {"exp": lambda x: x.exp(), "tan": lambda x: x.tan(), "std": lambda x: x.std(0)}[name]
    x = ember.tensor([[0.5, 0.7], [0.2, 0.3]], requires_grad=True)
    y = f(x)
    with ember.no_grad():
        y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
