"""The op table: every differentiable op against its NumPy reference (and PyTorch when
installed), its float64 gradient against finite differences, and the inputs it must refuse."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import reference as ref
import reference_conv as rc
import reference_losses as rl

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F


@dataclass
class Op:
    name: str
    fn: Callable  # ember: fn(*tensors)
    ref: Callable  # NumPy: ref(*arrays)
    torch: Callable | None  # fn(torch, *tensors)
    shapes: list  # input shapes
    domain: str = "real"  # real | positive | kinkless (|x| >= 0.1: away from relu/abs kinks)
    rtol: float = 1e-5
    atol: float = 1e-6
    bad: list = field(default_factory=list)  # (args, exception type)


def _inputs(shapes, domain, dtype, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for s in shapes:
        x = rng.standard_normal(s)
        if domain == "positive":
            x = np.abs(x) + 0.5
        elif domain == "kinkless":
            x = np.sign(x) * (np.abs(x) + 0.1)
        out.append(x.astype(dtype))
    return out


def _max_mm(a, b):
    return np.max(a)


OPS = [
    Op("add", lambda a, b: a + b, np.add, lambda t, a, b: a + b, [(3, 4), (4,)],
       bad=[((np.ones((2, 3)), np.ones((4, 3))), ValueError)]),
    Op("add_scalar", lambda a: a + 2.5, lambda a: a + 2.5, lambda t, a: a + 2.5, [(2, 3)]),
    Op("sub", lambda a, b: a - b, np.subtract, lambda t, a, b: a - b, [(2, 1, 4), (3, 1)],
       bad=[((np.ones(3), np.ones(4)), ValueError)]),
    Op("rsub", lambda a: 1.0 - a, lambda a: 1.0 - a, lambda t, a: 1.0 - a, [(5,)]),
    Op("mul", lambda a, b: a * b, np.multiply, lambda t, a, b: a * b, [(3, 4), (3, 1)]),
    Op("div", lambda a, b: a / b, np.divide, lambda t, a, b: a / b, [(3, 4), (4,)],
       domain="positive"),
    Op("rdiv", lambda a: 2.0 / a, lambda a: 2.0 / a, lambda t, a: 2.0 / a, [(6,)],
       domain="positive"),
    Op("pow_scalar", lambda a: a**3, lambda a: a**3, lambda t, a: a**3, [(3, 4)]),
    Op("pow_tensor", lambda a, b: a**b, np.power, lambda t, a, b: a**b, [(3, 4), (3, 4)],
       domain="positive"),
    Op("neg", lambda a: -a, np.negative, lambda t, a: -a, [(3,)]),
    Op("matmul_2d", lambda a, b: a @ b, np.matmul, lambda t, a, b: a @ b, [(5, 3), (3, 4)],
       bad=[((np.ones((2, 3)), np.ones((4, 3))), ValueError)]),
    Op("matmul_batched", lambda a, b: a @ b, np.matmul, lambda t, a, b: a @ b,
       [(2, 1, 3, 4), (3, 4, 2)],
       bad=[((np.ones((2, 3, 4)), np.ones((3, 4, 2))), ValueError)]),
    Op("matmul_vec", lambda a, b: a @ b, np.matmul, lambda t, a, b: a @ b, [(4,), (4, 3)]),
    Op("matmul_matvec", lambda a, b: a @ b, np.matmul, lambda t, a, b: a @ b, [(2, 3, 4), (4,)]),
    Op("exp", lambda a: a.exp(), np.exp, lambda t, a: a.exp(), [(3, 4)]),
    Op("log", lambda a: a.log(), np.log, lambda t, a: a.log(), [(3, 4)], domain="positive"),
    Op("sqrt", lambda a: a.sqrt(), np.sqrt, lambda t, a: a.sqrt(), [(3, 4)], domain="positive"),
    Op("abs", lambda a: a.abs(), np.abs, lambda t, a: a.abs(), [(3, 4)], domain="kinkless"),
    Op("tanh", lambda a: a.tanh(), np.tanh, lambda t, a: a.tanh(), [(3, 4)]),
    Op("sigmoid", lambda a: a.sigmoid(), ref.sigmoid, lambda t, a: a.sigmoid(), [(3, 4)]),
    Op("relu", lambda a: a.relu(), ref.relu, lambda t, a: a.relu(), [(3, 4)], domain="kinkless"),
    Op("leaky_relu", lambda a: F.leaky_relu(a, 0.2), lambda a: np.where(a > 0, a, 0.2 * a),
       lambda t, a: t.nn.functional.leaky_relu(a, 0.2), [(3, 4)], domain="kinkless"),
    Op("elu", lambda a: F.elu(a, 1.5), lambda a: np.where(a > 0, a, 1.5 * np.expm1(a)),
       lambda t, a: t.nn.functional.elu(a, 1.5), [(3, 4)], domain="kinkless"),
    Op("gelu", lambda a: F.gelu(a), ref.gelu, lambda t, a: t.nn.functional.gelu(a), [(3, 4)]),
    Op("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), ref.gelu_tanh,
       lambda t, a: t.nn.functional.gelu(a, approximate="tanh"), [(3, 4)]),
    Op("softplus", lambda a: F.softplus(a, beta=2.0, threshold=1.0),
       lambda a: np.where(2 * a > 1.0, a, np.log1p(np.exp(2 * a)) / 2),
       lambda t, a: t.nn.functional.softplus(a, beta=2.0, threshold=1.0), [(3, 4)],
       domain="kinkless"),
    Op("clamp", lambda a: a.clamp(-0.5, 0.5), lambda a: np.clip(a, -0.5, 0.5),
       lambda t, a: a.clamp(-0.5, 0.5), [(4, 5)], domain="kinkless"),
    Op("sum_all", lambda a: a.sum(), np.sum, lambda t, a: a.sum(), [(3, 4)]),
    Op("sum_dim", lambda a: a.sum(dim=1, keepdim=True), lambda a: a.sum(1, keepdims=True),
       lambda t, a: a.sum(dim=1, keepdim=True), [(3, 4, 2)],
       bad=[((np.ones((2, 3)),), IndexError)]),
    Op("sum_dims", lambda a: a.sum(dim=(0, 2)), lambda a: a.sum((0, 2)),
       lambda t, a: a.sum(dim=(0, 2)), [(3, 4, 2)]),
    Op("mean", lambda a: a.mean(dim=-1), lambda a: a.mean(-1), lambda t, a: a.mean(dim=-1),
       [(3, 4)]),
    Op("var", lambda a: a.var(dim=0), lambda a: a.var(0, ddof=1), lambda t, a: a.var(dim=0),
       [(5, 3)]),
    Op("var_biased", lambda a: a.var(unbiased=False), lambda a: a.var(),
       lambda t, a: a.var(unbiased=False), [(5, 3)]),
    Op("max_all", lambda a: a.max(), np.max, lambda t, a: a.max(), [(3, 4)]),
    Op("max_dim", lambda a: a.max(dim=1).values, lambda a: a.max(1),
       lambda t, a: a.max(dim=1).values, [(3, 4)]),
    Op("min_dim", lambda a: a.min(dim=0, keepdim=True)[0], lambda a: a.min(0, keepdims=True),
       lambda t, a: a.min(dim=0, keepdim=True)[0], [(3, 4)]),
    Op("reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1),
       lambda t, a: a.reshape(4, -1), [(2, 6)], bad=[((np.ones(6),), ValueError)]),
    Op("transpose", lambda a: a.transpose(0, 2), lambda a: a.swapaxes(0, 2),
       lambda t, a: a.transpose(0, 2), [(2, 3, 4)]),
    Op("permute", lambda a: a.permute(2, 0, 1), lambda a: a.transpose(2, 0, 1),
       lambda t, a: a.permute(2, 0, 1), [(2, 3, 4)]),
    Op("T", lambda a: a.T, lambda a: a.T, lambda t, a: a.T, [(2, 3)]),
    Op("flatten", lambda a: a.flatten(1), lambda a: a.reshape(2, -1),
       lambda t, a: a.flatten(1), [(2, 3, 4)]),
    Op("squeeze", lambda a: a.squeeze(1), lambda a: a.squeeze(1), lambda t, a: a.squeeze(1),
       [(3, 1, 2)]),
    Op("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: a[..., None],
       lambda t, a: a.unsqueeze(-1), [(3, 2)]),
    Op("expand", lambda a: a.expand(4, 3, -1), lambda a: np.broadcast_to(a, (4, 3, 2)),
       lambda t, a: a.expand(4, 3, -1), [(3, 1)] and [(1, 2)]),
    Op("getitem_basic", lambda a: a[1:, ::2], lambda a: a[1:, ::2], lambda t, a: a[1:, ::2],
       [(4, 5)]),
    Op("getitem_advanced", lambda a: a[[0, 2, 2, 1]], lambda a: a[[0, 2, 2, 1]],
       lambda t, a: a[[0, 2, 2, 1]], [(3, 4)]),
    Op("getitem_mask", lambda a: a[a > 0], lambda a: a[a > 0], lambda t, a: a[a > 0], [(4, 4)],
       domain="kinkless"),
    Op("cat", lambda a, b: ember.cat([a, b], dim=1), lambda a, b: np.concatenate([a, b], 1),
       lambda t, a, b: t.cat([a, b], dim=1), [(2, 3), (2, 5)],
       bad=[((np.ones((2, 3)), np.ones((3, 3))), ValueError)]),
    Op("stack", lambda a, b: ember.stack([a, b], dim=1), lambda a, b: np.stack([a, b], 1),
       lambda t, a, b: t.stack([a, b], dim=1), [(2, 3), (2, 3)],
       bad=[((np.ones((2, 3)), np.ones((3, 3))), ValueError)]),
    Op("where", lambda a, b: ember.where(a > 0, a, b), lambda a, b: np.where(a > 0, a, b),
       lambda t, a, b: t.where(a > 0, a, b), [(3, 4), (3, 4)], domain="kinkless"),
    Op("split", lambda a: a.split([1, 3], dim=1)[1], lambda a: a[:, 1:],
       lambda t, a: a.split([1, 3], dim=1)[1], [(2, 4)],
       bad=[((np.ones((2, 3)),), RuntimeError)]),
    Op("chunk", lambda a: a.chunk(3, dim=0)[2], lambda a: a[4:], lambda t, a: a.chunk(3)[2],
       [(5, 2)]),
    Op("gather", lambda a: a.gather(1, np.array([[0, 0], [2, 1]])),
       lambda a: np.take_along_axis(a, np.array([[0, 0], [2, 1]]), 1),
       lambda t, a: a.gather(1, t.tensor([[0, 0], [2, 1]])), [(2, 3)]),
    Op("masked_fill", lambda a: a.masked_fill(a > 0, -1.0), lambda a: np.where(a > 0, -1.0, a),
       lambda t, a: a.masked_fill(a > 0, -1.0), [(3, 3)], domain="kinkless"),
    Op("repeat", lambda a: a.repeat(2, 1, 3), lambda a: np.tile(a, (2, 1, 3)),
       lambda t, a: a.repeat(2, 1, 3), [(2, 3)]),
    Op("linear", lambda x, w, b: F.linear(x, w, b), ref.linear,
       lambda t, x, w, b: t.nn.functional.linear(x, w, b), [(2, 5, 3), (4, 3), (4,)],
       bad=[((np.ones((2, 4)), np.ones((4, 3)), np.ones(4)), ValueError),
            ((np.ones((2, 3)), np.ones((4, 3)), np.ones(5)), ValueError)]),
    Op("softmax", lambda a: F.softmax(a, dim=1), lambda a: ref.softmax(a, 1),
       lambda t, a: t.softmax(a, dim=1), [(3, 5, 2)], bad=[((np.ones((2, 3)),), IndexError)]),
    Op("softmax_last", lambda a: F.softmax(a, dim=-1), lambda a: ref.softmax(a, -1),
       lambda t, a: t.softmax(a, dim=-1), [(4, 7)]),
    Op("log_softmax", lambda a: F.log_softmax(a, dim=0), lambda a: ref.log_softmax(a, 0),
       lambda t, a: t.log_softmax(a, dim=0), [(5, 3)]),
    Op("mse_loss", lambda a, b: F.mse_loss(a, b), ref.mse_loss,
       lambda t, a, b: t.nn.functional.mse_loss(a, b), [(4, 3), (4, 3)],
       bad=[((np.ones((4, 3)), np.ones((3, 4))), ValueError)]),
    Op("mse_loss_sum", lambda a, b: F.mse_loss(a, b, reduction="sum"),
       lambda a, b: ref.mse_loss(a, b, "sum"),
       lambda t, a, b: t.nn.functional.mse_loss(a, b, reduction="sum"), [(4, 3), (4, 3)]),
    # convolution, pooling, batch norm (issue 3)
    Op("conv2d", lambda x, w, b: F.conv2d(x, w, b, padding=1),
       lambda x, w, b: rc.conv2d_ref(x, w, b, padding=(1, 1)),
       lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, padding=1),
       [(2, 3, 5, 5), (4, 3, 3, 3), (4,)],
       bad=[((np.ones((2, 2, 5, 5)), np.ones((4, 3, 3, 3)), np.ones(4)), ValueError),
            ((np.ones((2, 3, 2, 2)), np.ones((4, 3, 5, 5)), np.ones(4)), ValueError)]),
    Op("conv2d_strided_grouped", lambda x, w, b: F.conv2d(x, w, b, (2, 1), (1, 0), (1, 2), 2),
       lambda x, w, b: rc.conv2d_ref(x, w, b, (2, 1), (1, 0), (1, 2), 2),
       lambda t, x, w, b: t.nn.functional.conv2d(x, w, b, (2, 1), (1, 0), (1, 2), 2),
       [(2, 4, 7, 7), (6, 2, 3, 2), (6,)],
       bad=[((np.ones((2, 3, 7, 7)), np.ones((6, 2, 3, 2)), np.ones(6)), ValueError)]),
    Op("conv2d_full", lambda x, w: F.conv2d(x, w, padding="full"),
       lambda x, w: rc.conv2d_ref(x, w, padding=(1, 2)),
       lambda t, x, w: t.nn.functional.conv2d(x, w, padding=(1, 2)), [(1, 2, 4, 5), (3, 2, 2, 3)]),
    Op("max_pool2d", lambda x: F.max_pool2d(x, 2),
       lambda x: rc.max_pool2d_ref(x, (2, 2), (2, 2), (0, 0))[0],
       lambda t, x: t.nn.functional.max_pool2d(x, 2), [(2, 3, 6, 6)],
       bad=[((np.ones((3, 3)),), ValueError), ((np.ones((1, 1, 1, 1)),), ValueError)]),
    Op("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, 1),
       lambda x: rc.avg_pool2d_ref(x, (3, 3), (2, 2), (1, 1)),
       lambda t, x: t.nn.functional.avg_pool2d(x, 3, 2, 1), [(2, 3, 7, 6)],
       bad=[((np.ones((3, 3)),), ValueError)]),
    Op("adaptive_avg_pool2d", lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
       lambda x: rc.adaptive_avg_pool2d_ref(x, (2, 3)),
       lambda t, x: t.nn.functional.adaptive_avg_pool2d(x, (2, 3)), [(2, 3, 5, 7)]),
    Op("batch_norm_train", lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
       lambda x, w, b: rc.batch_norm_ref(x, w, b, *rc.batch_stats_ref(x)[:2], 1e-5),
       lambda t, x, w, b: t.nn.functional.batch_norm(x, None, None, w, b, training=True),
       [(4, 3, 2, 3), (3,), (3,)],
       bad=[((np.ones((4, 3)), np.ones(4), np.ones(3)), ValueError)]),
    Op("leaky_relu", lambda a: F.leaky_relu(a, 0.1), lambda a: rl.leaky_relu(a, 0.1),
       lambda t, a: t.nn.functional.leaky_relu(a, 0.1), [(3, 4)], domain="kinkless"),
    Op("elu", lambda a: F.elu(a), rl.elu, lambda t, a: t.nn.functional.elu(a), [(3, 4)],
       domain="kinkless"),
    Op("gelu", lambda a: F.gelu(a), rl.gelu, lambda t, a: t.nn.functional.gelu(a), [(3, 4)]),
    Op("gelu_tanh", lambda a: F.gelu(a, approximate="tanh"), lambda a: rl.gelu(a, "tanh"),
       lambda t, a: t.nn.functional.gelu(a, approximate="tanh"), [(3, 4)]),
    Op("softplus", lambda a: F.softplus(a, 1.5), lambda a: rl.softplus(a, 1.5),
       lambda t, a: t.nn.functional.softplus(a, 1.5), [(3, 4)]),
    Op("l1_loss", lambda a, b: F.l1_loss(a, b), rl.l1_loss,
       lambda t, a, b: t.nn.functional.l1_loss(a, b), [(4, 3), (4, 3)],
       bad=[((np.ones((4, 3)), np.ones((3, 4))), ValueError)]),
    Op("huber_loss", lambda a, b: F.huber_loss(a, b, delta=0.5),
       lambda a, b: rl.huber_loss(a, b, delta=0.5),
       lambda t, a, b: t.nn.functional.huber_loss(a, b, delta=0.5), [(4, 3), (4, 3)],
       bad=[((np.ones((4, 3)), np.ones((4,))), ValueError)]),
    Op("bce_with_logits", lambda a, b: F.binary_cross_entropy_with_logits(a, b),
       rl.binary_cross_entropy_with_logits,
       lambda t, a, b: t.nn.functional.binary_cross_entropy_with_logits(a, b), [(4, 3), (4, 3)],
       bad=[((np.ones((4, 3)), np.ones((3, 4))), ValueError)]),
]  # fmt: skip

IDS = [op.name for op in OPS]


def _bad_setting(op):
    if op.name == "softmax":  # dim out of range for a 2-D input
        return lambda a: F.softmax(a, dim=2)
    if op.name == "sum_dim":
        return lambda a: a.sum(dim=2)
    return op.fn


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_forward_matches_numpy(op, dtype):
    arrays = _inputs(op.shapes, op.domain, dtype)
    out = op.fn(*[ember.tensor(a) for a in arrays])
    expected = op.ref(*[a.astype(np.float64) for a in arrays])
    assert out.dtype == dtype
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out.numpy(), expected, **tol)


@pytest.mark.parametrize("op", OPS, ids=IDS)
def test_gradient_matches_finite_differences(op):
    arrays = _inputs(op.shapes, op.domain, np.float64, seed=1)
    tensors = [ember.tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(op.fn, tensors, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("op", [o for o in OPS if o.torch is not None], ids=lambda o: o.name)
def test_matches_pytorch(op):
    torch = pytest.importorskip("torch")
    arrays = _inputs(op.shapes, op.domain, np.float32, seed=2)
    ours = [ember.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = op.fn(*ours), op.torch(torch, *theirs)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    w = np.random.default_rng(3).standard_normal(out.shape).astype(np.float32)
    (out * ember.tensor(w)).sum().backward()
    (tout * torch.tensor(w)).sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("op", [o for o in OPS if o.bad], ids=lambda o: o.name)
def test_refuses_bad_input(op):
    fn = _bad_setting(op)
    for args, exc in op.bad:
        with pytest.raises(exc):
            fn(*[ember.tensor(a.astype(np.float32)) for a in args])


@pytest.mark.parametrize(
    "fn",
    [lambda x: F.softmax(x, 0), lambda x: F.linear(x, np.ones((2, 2), np.float32)),
     lambda x: F.gelu(x), lambda x: x.mean(), lambda x: F.mse_loss(x, x)],
)  # fmt: skip
def test_float_ops_refuse_integer_tensors(fn):
    with pytest.raises(TypeError):
        fn(ember.tensor([[1, 2], [3, 4]]))


def test_integer_matmul_is_exact():
    a = ember.tensor([[1, 2], [3, 4]])
    assert (a @ a).numpy().tolist() == [[7, 10], [15, 22]]
    assert (a @ a).dtype == np.int64


@pytest.mark.parametrize("value", [-3.0, 0.5, 7.0])
def test_clamp_of_zero_dim_tensor_with_both_bounds(value):
    """NumPy's maximum of a 0-d array is a scalar, which cannot be an out= argument."""
    x = ember.tensor(value, requires_grad=True)
    y = x.clamp(0.0, 1.0)
    assert y.shape == () and y.item() == np.clip(value, 0.0, 1.0)
    y.backward()
    assert x.grad.item() == (1.0 if 0.0 <= value <= 1.0 else 0.0)
    assert ember.clamp(ember.tensor(2), 0, 1).item() == 1


def test_special_values_compute_silently_as_in_pytorch():
    """inf - inf, 0 * inf and overflow in ember's ops warn nowhere (NumPy's own code still
    does); run in a fresh interpreter: this suite turns every warning into an error."""
    import subprocess
    import sys

    code = (
        "import numpy as np, ember\n"
        "x = ember.tensor([float('inf'), 1e38, 0.0]); y = ember.tensor([float('inf'), 1e38, 1.0])\n"
        "r = [x - y, x * y, (x * 0).sum(), x.norm(), ember.tensor([1e38]).exp()]\n"
        "assert np.isnan(r[0][0].item()) and np.isinf(r[1][1].item())\n"
        "np.array([np.inf]) - np.array([np.inf])\n"
    )
    out = subprocess.run(
        [sys.executable, "-W", "default", "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    warned = [line for line in out.stderr.splitlines() if "RuntimeWarning" in line]
    assert len(warned) == 1 and "<string>:5" in warned[0], out.stderr  # only NumPy's own
