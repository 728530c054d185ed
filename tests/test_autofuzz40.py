"""Autograd machinery, nn.Module utilities and torch.func against torch 2.13 (round 40 fuzz):
the differences found, each checked against torch live, plus second derivatives of common
ops (create_graph) against torch's and by finite differences (gradgradcheck, float64)."""

import warnings

import numpy as np
import pytest

import ember
from ember.autograd import forward_ad as fwad
from ember.nn.utils import prune

torch = pytest.importorskip("torch")
import torch.nn.utils.prune as tprune  # noqa: E402


def _pair(shape, seed=0, requires_grad=True):
    a = np.random.default_rng(seed).standard_normal(shape)
    return (
        ember.tensor(a, requires_grad=requires_grad),
        torch.tensor(a, requires_grad=requires_grad),
    )


def _close(e, t, **kw):
    np.testing.assert_allclose(np.asarray(e.detach().numpy()), t.detach().numpy(), **kw)


# ---- second derivatives (create_graph) of common ops -------------------------------------------


def _ops(T):
    F = T.nn.functional
    tgt = T.tensor([0, 1, 3])
    return {
        "mul": lambda a, b: a * b * a,
        "div": lambda a, b: a / (b.abs() + 1),
        "pow": lambda a, b: (a.abs() + 0.5) ** (b * 0.5),
        "exp": lambda a, b: a.exp() * b,
        "log": lambda a, b: (a.abs() + 1).log() * b,
        "sin": lambda a, b: a.sin() * b,
        "tanh": lambda a, b: a.tanh() * b,
        "sigmoid": lambda a, b: a.sigmoid() * b,
        "sqrt": lambda a, b: (a * a + 1).sqrt() * b,
        "rsqrt": lambda a, b: (a * a + 1).rsqrt() * b,
        "abs": lambda a, b: a.abs() * a * b,
        "matmul": lambda a, b: (a @ b.t()) @ a,
        "sum": lambda a, b: (a * b).sum(1) ** 2,
        "mean": lambda a, b: (a * b).mean(0) ** 2,
        "var": lambda a, b: (a * b).var(1),
        "std": lambda a, b: (a * b + 1).std(0),
        "prod": lambda a, b: (a * b).prod(1),
        "max": lambda a, b: (a * b).max(1).values ** 2,
        "softmax": lambda a, b: F.softmax(a * b, 1),
        "log_softmax": lambda a, b: F.log_softmax(a * b, 0),
        "logsumexp": lambda a, b: (a * b).logsumexp(1),
        "gelu": lambda a, b: F.gelu(a * b),
        "gelu_tanh": lambda a, b: F.gelu(a * b, approximate="tanh"),
        "silu": lambda a, b: F.silu(a * b),
        "elu": lambda a, b: F.elu(a * b),
        "softplus": lambda a, b: F.softplus(a * b),
        "mish": lambda a, b: F.mish(a * b),
        "selu": lambda a, b: F.selu(a * b),
        "logsigmoid": lambda a, b: F.logsigmoid(a * b),
        "linear": lambda a, b: F.linear(a * b, a, b[:, 0]),
        "layer_norm": lambda a, b: F.layer_norm(a, (4,), b[0], b[1]),
        "group_norm": lambda a, b: F.group_norm((a * b).reshape(1, 4, 3), 2),
        "batch_norm": lambda a, b: F.batch_norm(a * b, None, None, training=True),
        "mse": lambda a, b: F.mse_loss(a * a, b),
        "huber": lambda a, b: F.huber_loss(a * b, b),
        "bce_logits": lambda a, b: F.binary_cross_entropy_with_logits(a * b, b.sigmoid()),
        "cross_entropy": lambda a, b: F.cross_entropy(a * b, tgt),
        "kl_div": lambda a, b: F.kl_div(
            F.log_softmax(a, 1), F.softmax(b, 1), reduction="batchmean"
        ),
        "cat": lambda a, b: T.cat([a * b, a * a], 0) ** 2,
        "index": lambda a, b: (a * b)[1:, ::2] ** 2,
        "gather": lambda a, b: (a * b).gather(1, T.tensor([[0, 1], [2, 3], [1, 1]])) ** 2,
        "where": lambda a, b: T.where(a > 0, a * b, a * a),
        "expand": lambda a, b: (a[:, :1] * b).expand(3, 4) * a,
        "cumsum": lambda a, b: (a * b).cumsum(1) ** 2,
        "norm": lambda a, b: (a * b).norm(),
        "atan2": lambda a, b: a.atan2(b.abs() + 1) * a,
        "erf": lambda a, b: (a * b).erf(),
        "lerp": lambda a, b: T.lerp(a, b, 0.3) ** 2,
        "addcmul": lambda a, b: T.addcmul(a, a, b) ** 2,
        "einsum": lambda a, b: T.einsum("ij,kj->ik", a * b, a),
        "conv2d": lambda a, b: (
            F.conv2d((a * b).reshape(1, 1, 3, 4), a[:2, :2].reshape(1, 1, 2, 2)) ** 2
        ),
        "avg_pool": lambda a, b: F.avg_pool2d((a * b).reshape(1, 1, 3, 4), 2) ** 2,
        "max_pool": lambda a, b: F.max_pool2d((a * b).reshape(1, 1, 3, 4), 2) ** 2,
        "normalize": lambda a, b: F.normalize(a * b, dim=1),
        "sdpa": lambda a, b: F.scaled_dot_product_attention(
            (a * b).reshape(1, 3, 4), a.reshape(1, 3, 4), b.reshape(1, 3, 4)
        ),
        "sort": lambda a, b: (a * b).sort(1).values * a,
        "det": lambda a, b: T.linalg.det(a @ b.t() + T.eye(3, dtype=a.dtype) * 3),
        "inv": lambda a, b: T.linalg.inv(a @ b.t() + T.eye(3, dtype=a.dtype) * 3),
        "interpolate": lambda a, b: (
            F.interpolate((a * b).reshape(1, 1, 3, 4), scale_factor=2, mode="bilinear") ** 2
        ),
        "logcumsumexp": lambda a, b: (a * b).logcumsumexp(1),
        "glu": lambda a, b: F.glu(a * b, 1),
    }


_NAMES = sorted(_ops(ember))


def _second(T, f, a, b):
    y = f(a, b)
    g = T.autograd.grad(y.sum(), (a, b), create_graph=True)
    return T.autograd.grad(sum((x * x).sum() for x in g), (a, b))


@pytest.mark.parametrize("name", _NAMES)
def test_double_backward_matches_torch(name):
    (ea, ta), (eb, tb) = _pair((3, 4), 0), _pair((3, 4), 1)
    got = _second(ember, _ops(ember)[name], ea, eb)
    want = _second(torch, _ops(torch)[name], ta, tb)
    for e, t in zip(got, want):
        _close(e, t, rtol=1e-6, atol=1e-9)
    assert ember.autograd.gradgradcheck(_ops(ember)[name], (ea, eb))


# ---- the engine and custom Functions -----------------------------------------------------------


def _broadcasting_fn(T, grad_shape):
    class F(T.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):  # a gradient of another shape than x's: summed down to x's
            return (g * 2).expand(grad_shape)

    return F


@pytest.mark.parametrize("grad_shape", [(2, 3), (1, 3), (4, 1, 3)])
def test_custom_backward_broadcast_gradient_is_summed(grad_shape):
    ex, tx = _pair((3,))
    for T, x in ((ember, ex), (torch, tx)):
        _broadcasting_fn(T, grad_shape).apply(x).sum().backward()
    _close(ex.grad, tx.grad)


def test_custom_backward_broadcast_gradient_create_graph():
    ex, tx = _pair((3,))
    got = []
    for T, x in ((ember, ex), (torch, tx)):
        y = (_broadcasting_fn(T, (2, 3)).apply(x * x)).sum()
        (g,) = T.autograd.grad(y, x, create_graph=True)
        got.append(T.autograd.grad(g.sum(), x)[0])
    _close(*got)


def test_custom_backward_gradient_of_wrong_shape_refused():
    class F(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return ember.ones(2, dtype=np.float64)

    x, _ = _pair((3,))
    with pytest.raises(RuntimeError, match=r"invalid gradient.*\(2,\).*\(3,\)"):
        F.apply(x).sum().backward()


def test_custom_backward_gradient_for_non_tensor_input_refused():
    for T in (ember, torch):

        class F(T.autograd.Function):
            @staticmethod
            def forward(ctx, x, k):
                return x * k

            @staticmethod
            def backward(ctx, g):
                return g * 2, g  # (the second for the float k)

        x = _pair((3,))[0 if T is ember else 1]
        with pytest.raises(RuntimeError, match="at position 2, but the corresponding forward"):
            F.apply(x, 2.0).sum().backward()


def test_grad_and_backward_shape_count_mismatches_are_runtime_errors():
    x, _ = _pair((3,))
    with pytest.raises(RuntimeError, match=r"\(2,\).*\(3,\)"):
        ember.autograd.grad(x * 2, x, ember.ones(2, dtype=np.float64))
    with pytest.raises(RuntimeError, match="2 outputs but 1"):
        ember.autograd.grad([x.sum(), x.sum()], x, [ember.tensor(1.0, dtype=np.float64)])
    with pytest.raises(RuntimeError, match="2 tensors but 1"):
        ember.autograd.backward([x.sum(), x.sum()], [None])


def test_gradcheck_error_class():
    assert issubclass(ember.autograd.GradcheckError, RuntimeError)
    x, _ = _pair((3,))

    class Off(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x.sin()

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x.cos() * 1.1

    with pytest.raises(ember.autograd.GradcheckError):
        ember.autograd.gradcheck(Off.apply, (x,))
    assert ember.autograd.gradcheck(Off.apply, (x,), raise_exception=False) is False


# ---- .grad, requires_grad, hooks on tensors ----------------------------------------------------


def test_non_leaf_grad_warns_as_torch():
    for T in (ember, torch):
        x = _pair((3,))[0 if T is ember else 1]
        y = x * 2
        with pytest.warns(UserWarning, match="not a leaf Tensor is being accessed"):
            assert y.grad is None
        z = x * 3
        z.retain_grad()
        z.sum().backward()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert z.grad is not None and x.grad is not None


def test_backward_inputs_retains_non_leaf_grad():
    got = []
    for T in (ember, torch):
        x = _pair((3,))[0 if T is ember else 1]
        y = x * 2
        (y * y).sum().backward(inputs=[y], retain_graph=True)
        assert y.retains_grad
        (x * 3 * y).sum().backward()  # accumulates into y.grad again, as a retained grad
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got.append((y.grad, x.grad))
    _close(got[0][0], got[1][0])
    _close(got[0][1], got[1][1])


@pytest.mark.parametrize("value", [True, False])
def test_requires_grad_setter_refuses_non_leaf(value):
    for T in (ember, torch):
        x = _pair((3,))[0 if T is ember else 1]
        with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
            (x * 2).requires_grad = value
    y = _pair((3,))[0] * 2
    assert y.requires_grad_(True) is y and y.requires_grad  # torch allows this one
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad_(False)


def test_hook_handle_ids_unique():
    x, _ = _pair((3,))
    ids = {x.register_hook(lambda g: g).id for _ in range(3)}
    ids.add(x.register_post_accumulate_grad_hook(lambda p: None).id)
    assert len(ids) == 4


# ---- autograd.functional, forward_ad, checkpoint refusals --------------------------------------


def test_functional_and_forward_ad_refusals_are_runtime_errors():
    x, _ = _pair((3,), requires_grad=False)
    with pytest.raises(RuntimeError, match=r"v has shapes \[\(2,\)\]"):
        ember.autograd.functional.vjp(lambda t: t.sin(), x, ember.ones(2, dtype=np.float64))
    with pytest.raises(RuntimeError, match="floating point"):
        ember.autograd.functional.jacobian(lambda t: t * 2, ember.tensor([1, 2]))
    with fwad.dual_level(), pytest.raises(RuntimeError, match="tangent has shape"):
        fwad.make_dual(x, ember.ones(2, dtype=np.float64))


def test_reentrant_checkpoint_refuses_kwargs():
    import torch.utils.checkpoint as tcp

    from ember.utils import checkpoint as ecp

    for T, cp in ((ember, ecp), (torch, tcp)):
        x = _pair((2, 3))[0 if T is ember else 1]
        with pytest.raises(ValueError, match="Unexpected keyword arguments: k"):
            cp.checkpoint(lambda a, k=1: a * k, x, k=3, use_reentrant=True)
    x, tx = _pair((2, 3))
    y = ecp.checkpoint(lambda a, k=1: a * k, x, k=3, use_reentrant=False)
    _close(y, tx * 3)


# ---- torch.func ---------------------------------------------------------------------------------


def _aux_results(T, x):
    f = lambda t: ((t**2).sum(), t * 2)  # noqa: E731
    g = lambda t: (t.sin(), t * 2)  # noqa: E731
    return [
        T.func.grad(f, has_aux=True)(x)[1],
        T.func.grad_and_value(f, has_aux=True)(x)[1][1],
        T.func.vjp(g, x, has_aux=True)[2],
        T.func.jacrev(g, has_aux=True)(x)[1],
        T.func.jvp(g, (x,), (x * 0 + 1,), has_aux=True)[2],
    ]


@pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)  # torch.func.jvp
@pytest.mark.parametrize("requires_grad", [False, True])
def test_func_aux_outputs_as_torch(requires_grad):
    ex, tx = _pair((3,), requires_grad=requires_grad)
    for e, t in zip(_aux_results(ember, ex), _aux_results(torch, tx)):
        _close(e, t)
        assert e.requires_grad == t.requires_grad


@pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)  # torch.func.jvp
def test_func_jvp_primal_output_differentiable_when_nested():
    ex, tx = _pair((3,))
    for T, x in ((ember, ex), (torch, tx)):
        out, _ = T.func.jvp(lambda t: t.sin() * t, (x,), (x.detach() * 0 + 1,))
        assert out.requires_grad
        out.sum().backward()
    _close(ex.grad, tx.grad)


def _scaled(T):
    class M(T.nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = T.nn.Linear(3, 2).double()
            self.plain = T.ones(1, dtype=T.float64)

        def forward(self, x):
            return self.lin(x) * getattr(self, "extra", 1.0) * self.plain

    m = M()
    with T.no_grad():
        m.lin.weight.copy_(T.tensor(np.arange(6.0).reshape(2, 3) / 7))
        m.lin.bias.copy_(T.tensor([0.5, -0.25]))
    return m


def test_functional_call_unknown_names_set_as_plain_attributes():
    x = np.random.default_rng(0).standard_normal((2, 3))
    for given in ({"extra": 10.0}, {"plain": 3.0}, {"lin.extra": 2.0, "extra": -1.0}):
        outs = []
        for T in (ember, torch):
            m = _scaled(T)
            params = {k: T.tensor(v, dtype=T.float64) for k, v in given.items()}
            outs.append(T.func.functional_call(m, params, (T.tensor(x),)))
            assert not hasattr(m, "extra") and not hasattr(m.lin, "extra")
            assert float(m.plain[0]) == 1.0
        _close(*outs)
    for T in (ember, torch):
        with pytest.raises(AttributeError, match="no attribute `q`"):
            T.func.functional_call(_scaled(T), {"q.z": T.ones(1)}, (T.ones(2, 3),))
        with pytest.raises(TypeError, match="attribute `lin`"):
            T.func.functional_call(_scaled(T), {"lin": T.ones(1)}, (T.ones(2, 3),))


# ---- prune with a user's method (torch's tutorial) ---------------------------------------------


def _every_other(base):
    class EveryOther(base):
        PRUNING_TYPE = "unstructured"

        def compute_mask(self, t, default_mask):  # on Tensors, as torch's tutorial writes it
            mask = default_mask.clone()
            mask.view(-1)[::2] = 0
            return mask

    return EveryOther


def test_prune_user_method_and_compute_mask_on_tensors():
    masks = []
    for T, pr in ((ember, prune), (torch, tprune)):
        m = T.nn.Linear(3, 5)
        with T.no_grad():
            m.bias.copy_(T.tensor([0.3, -0.2, 0.9, 0.5, -0.7]))
        _every_other(pr.BasePruningMethod).apply(m, "bias")
        first = m.bias_mask.clone()
        pr.l1_unstructured(m, "bias", amount=1)  # on top of it: a PruningContainer
        method = pr.L1Unstructured(0.5)
        direct = method.compute_mask(T.tensor([1.0, -3, 2, 0.5]), T.ones(4))
        masks.append((first, m.bias_mask, m.bias, direct))
    assert isinstance(masks[0][3], ember.Tensor)
    for e, t in zip(*masks):
        _close(e, t)


# ---- state_dict ----------------------------------------------------------------------------------


@pytest.mark.parametrize("assign", [False, True])
def test_load_one_element_into_zero_dim_buffer(assign):
    got = []
    for T in (ember, torch):
        m = T.nn.BatchNorm1d(3)
        sd = dict(m.state_dict())
        sd["num_batches_tracked"] = T.tensor([7])
        m.load_state_dict(sd, assign=assign)
        got.append(m.num_batches_tracked)
        assert tuple(m.num_batches_tracked.shape) == ()
    assert int(got[0]) == int(got[1]) == 7


def test_mark_dirty_on_view_of_graph_tensor_refused_not_wrong():
    # torch moves the view's base onto the Function (x.grad [2, 2, 1]); ember refuses rather
    # than give the base's gradient without the Function's backward ([1, 1, 1])
    class Double(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x, _ = _pair((3,))
    y = x * 1
    Double.apply(y[:2])  # a view of a graph tensor: the base takes a CopySlices node, as torch
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 1.0])
    x.grad = None
    with pytest.raises(RuntimeError, match="view of a leaf Variable"):
        Double.apply(x[:2])
    y = x * 1
    Double.apply(y).sum().backward()  # the whole tensor: as torch
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def _halved(T):
    class Halved(T.nn.Module):
        def forward(self, w):
            return w * 2

        def right_inverse(self, a):
            return a / 2

    return Halved


def _square(T, seed):
    m = T.nn.Linear(3, 3).double()
    with T.no_grad():
        m.weight.copy_(T.tensor(np.random.default_rng(seed).standard_normal((3, 3))))
    return m


def test_transfer_parametrizations_and_params():
    import torch.nn.utils.parametrize as tparametrize

    from ember.nn.utils import parametrize

    got = []
    for T, pz in ((ember, parametrize), (torch, tparametrize)):
        a, b = _square(T, 0), _square(T, 3)
        pz.register_parametrization(a, "weight", _halved(T)())
        assert pz.transfer_parametrizations_and_params(a, b) is b
        assert pz.is_parametrized(b, "weight")
        assert b.parametrizations.weight.original is a.parametrizations.weight.original
        got.append(b.weight)
    _close(*got)


def test_parametrization_right_inverse_changing_shape_refused():
    from ember.nn.utils import parametrize

    class Rows(ember.nn.Module):
        def forward(self, w):
            return w

        def right_inverse(self, a):
            return a[:2]

    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(_square(ember, 0), "weight", Rows())
    m = _square(ember, 0)
    parametrize.register_parametrization(m, "weight", Rows(), unsafe=True)
    assert m.weight.shape == (2, 3)
