"""Pooling and batch norm through the Python layer: functional ops and modules against PyTorch
(outputs, gradients, running statistics; float32 and float64), gradcheck, bad inputs."""

import numpy as np
import pytest
from reference_conv import avg_pool2d_ref, batch_norm_ref, batch_stats_ref, max_pool2d_ref

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]


def _compare(ours, theirs, x, dtype, torch):
    """Run both on x, compare outputs and input gradients for a random upstream gradient."""
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = ours(xe), theirs(xt)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **TOL[dtype])
    gy = np.random.default_rng(1).standard_normal(ye.shape).astype(dtype)
    ye.backward(gy)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **TOL[dtype])
    return ye, yt


POOLS = [
    # (ember module, torch module factory, input shape)
    (lambda: nn.MaxPool2d(2), lambda t: t.nn.MaxPool2d(2), (2, 3, 8, 8)),
    (lambda: nn.MaxPool2d(3, 2, 1), lambda t: t.nn.MaxPool2d(3, 2, 1), (2, 3, 9, 7)),
    (lambda: nn.MaxPool2d((2, 3), (1, 2), (1, 1), dilation=(2, 1), ceil_mode=True),
     lambda t: t.nn.MaxPool2d((2, 3), (1, 2), (1, 1), dilation=(2, 1), ceil_mode=True),
     (1, 2, 7, 8)),
    (lambda: nn.MaxPool2d(2), lambda t: t.nn.MaxPool2d(2), (3, 5, 5)),  # unbatched
    (lambda: nn.AvgPool2d(2), lambda t: t.nn.AvgPool2d(2), (2, 3, 8, 8)),
    (lambda: nn.AvgPool2d(3, 2, 1), lambda t: t.nn.AvgPool2d(3, 2, 1), (2, 3, 9, 7)),
    (lambda: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
     lambda t: t.nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False), (2, 2, 8, 6)),
    (lambda: nn.AvgPool2d(2, divisor_override=3), lambda t: t.nn.AvgPool2d(2, divisor_override=3),
     (1, 2, 4, 4)),
    (lambda: nn.AdaptiveAvgPool2d(1), lambda t: t.nn.AdaptiveAvgPool2d(1), (2, 3, 5, 7)),
    (lambda: nn.AdaptiveAvgPool2d((3, 2)), lambda t: t.nn.AdaptiveAvgPool2d((3, 2)), (2, 3, 7, 5)),
    (lambda: nn.AdaptiveAvgPool2d((None, 2)), lambda t: t.nn.AdaptiveAvgPool2d((None, 2)),
     (1, 3, 4, 6)),
]  # fmt: skip


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", range(len(POOLS)))
def test_pooling_modules_match_pytorch(case, dtype):
    torch = pytest.importorskip("torch")
    ours, theirs, shape = POOLS[case]
    x = np.random.default_rng(case).standard_normal(shape).astype(dtype)
    _compare(ours(), theirs(torch), x, dtype, torch)


def test_max_pool_return_indices_as_pytorch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 7)).astype(np.float32)
    y, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(x)
    ty, tidx = torch.nn.functional.max_pool2d(torch.from_numpy(x), 3, 2, 1, return_indices=True)
    assert idx.dtype == np.int64 and not idx.requires_grad
    np.testing.assert_array_equal(idx.numpy(), tidx.numpy())
    np.testing.assert_array_equal(y.numpy(), ty.numpy())
    # the output still carries its gradient when indices are returned
    xe = ember.tensor(x, requires_grad=True)
    y, idx = F.max_pool2d(xe, 2, return_indices=True)
    y.sum().backward()
    assert xe.grad.numpy().sum() == y.numel()


def test_pooling_matches_numpy_reference():
    x = np.random.default_rng(1).standard_normal((2, 3, 9, 8))
    np.testing.assert_allclose(
        F.max_pool2d(x, 3, 2, 1, 2).numpy(), max_pool2d_ref(x, (3, 3), (2, 2), (1, 1), (2, 2))[0]
    )
    np.testing.assert_allclose(
        F.avg_pool2d(x, 3, 2, 1, False, False).numpy(),
        avg_pool2d_ref(x, (3, 3), (2, 2), (1, 1), False, False),
    )


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: F.max_pool2d(x, 2),
        lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
        lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
        lambda x: F.avg_pool2d(x, 2, ceil_mode=True),
        lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
    ],
)
def test_pooling_gradcheck(fn):
    x = ember.tensor(np.random.default_rng(2).standard_normal((2, 2, 5, 7)), requires_grad=True)
    assert gradcheck(fn, [x])


@pytest.mark.parametrize(
    "call,exc",
    [
        (lambda x: F.max_pool2d(x, 0), ValueError),
        (lambda x: F.max_pool2d(x, 2, stride=0), ValueError),
        (lambda x: F.max_pool2d(x, 2, padding=2), ValueError),  # more than half the kernel
        (lambda x: F.max_pool2d(x, 2, padding=-1), ValueError),
        (lambda x: F.max_pool2d(x, 2, dilation=0), ValueError),
        (lambda x: F.max_pool2d(x, 9), ValueError),  # larger than the input
        (lambda x: F.max_pool2d(x[0, 0], 2), ValueError),  # 2-D input
        (lambda x: F.max_pool2d(x, 2.5), TypeError),
        (lambda x: F.avg_pool2d(x, 2, divisor_override=0), ValueError),
        (lambda x: F.avg_pool2d(x, (2, 2, 2)), ValueError),
        (lambda x: F.adaptive_avg_pool2d(x, -1), ValueError),
        (lambda x: F.max_pool2d(x.bool(), 2), TypeError),  # (integers it pools, as PyTorch)
        (lambda x: F.avg_pool2d(x.int(), 2), TypeError),  # (int64 it averages, as PyTorch)
    ],
)
def test_pooling_refuses_bad_input(call, exc):
    with pytest.raises(exc):
        call(ember.zeros((1, 2, 4, 4)))


def test_pooling_empty_batch():
    x = ember.zeros((0, 3, 4, 4), requires_grad=True)
    y = F.max_pool2d(x, 2)
    assert y.shape == (0, 3, 2, 2)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 4, 4)
    assert F.avg_pool2d(ember.zeros((0, 3, 4, 4)), 2).shape == (0, 3, 2, 2)


# ---- batch norm ---------------------------------------------------------------------------

BN = [
    # (ember class, torch class name, input shape, kwargs)
    (nn.BatchNorm1d, "BatchNorm1d", (8, 4), {}),
    (nn.BatchNorm1d, "BatchNorm1d", (6, 3, 5), {"momentum": 0.3}),
    (nn.BatchNorm2d, "BatchNorm2d", (4, 3, 5, 6), {}),
    (nn.BatchNorm2d, "BatchNorm2d", (4, 3, 2, 2), {"momentum": None}),
    (nn.BatchNorm2d, "BatchNorm2d", (4, 3, 3, 2), {"affine": False, "eps": 1e-3}),
    (nn.BatchNorm2d, "BatchNorm2d", (4, 3, 3, 2), {"track_running_stats": False}),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", BN, ids=lambda c: f"{c[1]}{c[2]}{c[3]}")
def test_batch_norm_modules_match_pytorch(case, dtype):
    torch = pytest.importorskip("torch")
    cls, tname, shape, kw = case
    m = cls(shape[1], dtype=dtype, **kw)
    tm = getattr(torch.nn, tname)(shape[1], **kw)
    if dtype == np.float64:
        tm = tm.double()
    assert list(m.state_dict()) == list(tm.state_dict())
    if m.affine:  # non-trivial affine parameters
        rng = np.random.default_rng(3)
        with torch.no_grad():
            tm.weight.copy_(torch.from_numpy(rng.standard_normal(shape[1])))
            tm.bias.copy_(torch.from_numpy(rng.standard_normal(shape[1])))
        m.load_state_dict(tm.state_dict())
    rng = np.random.default_rng(4)
    for step in range(3):  # training: batch statistics, running statistics updated
        x = (rng.standard_normal(shape) * 2 + 1).astype(dtype)
        _compare(m, tm, x, dtype, torch)
        if m.affine:
            np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), **TOL[dtype])
            np.testing.assert_allclose(m.bias.grad.numpy(), tm.bias.grad.numpy(), **TOL[dtype])
            m.zero_grad()
            tm.zero_grad()
        for name, buf in tm.named_buffers():
            np.testing.assert_allclose(
                getattr(m, name).numpy(), buf.numpy(), err_msg=f"{name} after step {step}",
                **TOL[dtype],
            )  # fmt: skip
    if m.track_running_stats:
        assert m.num_batches_tracked.dtype == np.int64 and int(m.num_batches_tracked) == 3
    m.eval()
    tm.eval()
    x = rng.standard_normal(shape).astype(dtype)
    _compare(m, tm, x, dtype, torch)  # eval: running statistics (or batch ones if untracked)


def test_batch_norm_functional_matches_numpy():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 3, 4))
    w, b = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64)
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.25)
    mean, var, unbiased = batch_stats_ref(x)
    np.testing.assert_allclose(y.numpy(), batch_norm_ref(x, w, b, mean, var, 1e-5), rtol=1e-12)
    np.testing.assert_allclose(rm.numpy(), 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), 0.75 + 0.25 * unbiased, rtol=1e-12)
    y = F.batch_norm(x, rm, rv, w, b)  # eval
    expected = batch_norm_ref(x, w, b, rm.numpy(), rv.numpy(), 1e-5)
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("training", [True, False])
# (2, 2, 13, 13): the kernels' per-channel path (S >= 160), the others their column path
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5), (3, 2, 3, 4), (2, 2, 7, 7), (2, 2, 13, 13)])
def test_batch_norm_gradcheck(shape, training):
    rng = np.random.default_rng(6)
    c = shape[1]
    x, w, b = (ember.tensor(rng.standard_normal(s), requires_grad=True) for s in (shape, c, c))
    rm, rv = ember.tensor(rng.standard_normal(c)), ember.tensor(rng.random(c) + 0.5)
    # running statistics are read in eval mode only; training=True with None leaves them out
    stats = (None, None) if training else (rm, rv)
    assert gradcheck(lambda x, w, b: F.batch_norm(x, *stats, w, b, training), [x, w, b])


def test_batch_norm_refuses_bad_input():
    m = nn.BatchNorm2d(3)
    with pytest.raises(ValueError, match="4D"):
        m(ember.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="2D or 3D"):
        nn.BatchNorm1d(3)(ember.zeros((2, 3, 4, 4)))
    with pytest.raises(ValueError, match="channel|shape"):
        m(ember.zeros((2, 4, 3, 3)))
    with pytest.raises(ValueError, match="more than 1 value"):
        m(ember.zeros((1, 3, 1, 1)))
    with pytest.raises(TypeError):
        m(ember.zeros((2, 3, 2, 2), dtype=ember.float64))  # float32 buffers
    with pytest.raises(TypeError):
        m(ember.tensor(np.ones((2, 3, 2, 2), np.int64)))
    with pytest.raises(ValueError, match="running_mean"):
        F.batch_norm(ember.zeros((2, 3)), None, None, training=False)
    with pytest.raises(ValueError):
        F.batch_norm(ember.zeros(3), None, None, training=True)
    with pytest.raises(ValueError):  # torch: a weight of size -1 (0 is an empty one)
        nn.BatchNorm1d(-1)


def test_batch_norm_eval_one_sample_and_repr():
    m = nn.BatchNorm2d(3).eval()
    assert m(ember.ones((1, 3, 1, 1))).shape == (1, 3, 1, 1)
    assert repr(m) == (
        "BatchNorm2d(3, eps=1e-05, momentum=0.1, affine=True, bias=True, track_running_stats=True)"
    )
    m.running_mean.data[...] = 5
    m.reset_running_stats()
    assert m.running_mean.numpy().tolist() == [0, 0, 0]
    assert [n for n, _ in m.named_buffers()] == [
        "running_mean", "running_var", "num_batches_tracked",
    ]  # fmt: skip


@pytest.mark.parametrize(
    "name, args, shape, kw",
    [
        ("BatchNorm1d", (3,), (8, 3), {}),
        ("BatchNorm2d", (3,), (4, 3, 5, 5), {}),
        ("GroupNorm", (2, 4), (3, 4, 5), {}),
        ("InstanceNorm2d", (3,), (2, 3, 4, 4), dict(affine=True)),
    ],
)
def test_norm_bias_false_matches_pytorch(name, args, shape, kw):
    """PyTorch's keyword bias=False: a learned scale and no shift (state_dict without bias)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    t = getattr(torch.nn, name)(*args, bias=False, **kw).double()
    e = getattr(nn, name)(*args, bias=False, **kw).double()
    assert repr(e) == repr(t)
    assert repr(getattr(nn, name)(*args)) == repr(getattr(torch.nn, name)(*args))
    assert list(e.state_dict()) == list(t.state_dict()) and e.bias is None
    with torch.no_grad():
        t.weight.uniform_(0.5, 1.5)
    e.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    x, g = rng.normal(size=shape), rng.normal(size=shape)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    yt, ye = t(xt), e(xe)
    yt.backward(torch.tensor(g))
    ye.backward(ember.tensor(g))
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(e.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-9, atol=1e-12)
    for k, v in t.state_dict().items():
        np.testing.assert_allclose(e.state_dict()[k].numpy(), v.numpy(), rtol=1e-10, err_msg=k)
