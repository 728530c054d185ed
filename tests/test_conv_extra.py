"""Conv1d, ConvTranspose2d and 1-D pooling (on the 2-D kernels): values and gradients against
PyTorch with copied weights, finite differences in float64, shapes and errors."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F


def _r(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def _close(a, b, tol=1e-9):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


# (N, Cin, H, W, Cout, k, stride, padding, output_padding, groups, dilation)
TRANSPOSED = [
    (2, 4, 5, 6, 6, 3, 2, 1, 1, 2, 1),
    (1, 3, 4, 4, 2, 2, 1, 0, 0, 1, 1),
    (2, 2, 3, 5, 4, 3, 3, 2, 2, 1, 2),
    (0, 2, 3, 3, 2, 3, 1, 1, 0, 1, 1),
    (1, 4, 1, 1, 4, 4, 2, 1, 0, 4, 1),
]


@pytest.mark.parametrize("case", TRANSPOSED)
def test_conv_transpose2d_matches_pytorch(case):
    torch = pytest.importorskip("torch")
    N, Ci, H, W, Co, k, s, p, op, g, d = case
    x, w, b = _r(N, Ci, H, W), _r(Ci, Co // g, k, k, seed=1), _r(Co, seed=2)
    ours = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv_transpose2d(*ours, s, p, op, g, d)
    yt = torch.nn.functional.conv_transpose2d(*theirs, s, p, op, g, d)
    _close(y.numpy(), yt.detach().numpy())
    gy = _r(*yt.shape, seed=3)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    for a, t in zip(ours, theirs):
        _close(a.grad.numpy(), t.grad.numpy())


def test_conv_transpose2d_gradcheck_and_adjointness():
    x, w = _r(1, 2, 3, 4), _r(2, 3, 3, 3, seed=1)
    args = [ember.tensor(a, requires_grad=True) for a in (x, w, _r(3, seed=2))]
    assert gradcheck(lambda a, b, c: F.conv_transpose2d(a, b, c, stride=2, padding=1), args)
    # <conv2d(u, w), v> == <u, conv_transpose2d(v, w)>: the transposed conv is the adjoint.
    u = _r(1, 3, 7, 9, seed=4)
    v = F.conv2d(ember.tensor(u), ember.tensor(w), stride=2, padding=1)
    vv = _r(*v.shape, seed=5)
    back = F.conv_transpose2d(ember.tensor(vv), ember.tensor(w), stride=2, padding=1)
    _close((v.numpy() * vv).sum(), (u * back.numpy()).sum())


@pytest.mark.parametrize(
    "N,C,L,O,k,s,p,d,g",
    [(2, 4, 10, 6, 3, 2, 1, 1, 2), (1, 3, 7, 2, 2, 1, "same", 2, 1), (3, 2, 9, 2, 4, 3, 0, 1, 2)],
)
def test_conv1d_matches_pytorch(N, C, L, O, k, s, p, d, g):
    torch = pytest.importorskip("torch")
    x, w, b = _r(N, C, L), _r(O, C // g, k, seed=1), _r(O, seed=2)
    ours = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv1d(*ours, s, p, d, g)
    yt = torch.nn.functional.conv1d(*theirs, s, p, d, g)
    _close(y.numpy(), yt.detach().numpy())
    y.sum().backward()
    yt.sum().backward()
    for a, t in zip(ours, theirs):
        _close(a.grad.numpy(), t.grad.numpy())


def test_pool1d_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = _r(2, 3, 11)
    for k, s, p, d, c in [(3, 2, 1, 1, False), (2, None, 0, 2, True), (4, 3, 2, 1, True)]:
        y, i = F.max_pool1d(ember.tensor(x), k, s, p, d, c, True)
        yt, it = torch.nn.functional.max_pool1d(torch.tensor(x), k, s, p, d, c, True)
        _close(y.numpy(), yt.numpy())
        np.testing.assert_array_equal(i.numpy(), it.numpy())
    for k, s, p, c, ci in [
        (3, 2, 1, False, True),
        (2, None, 0, True, False),
        (4, 3, 2, True, False),
    ]:
        ours = F.avg_pool1d(ember.tensor(x), k, s, p, c, ci)
        _close(ours.numpy(), torch.nn.functional.avg_pool1d(torch.tensor(x), k, s, p, c, ci))
    for o in (1, 4, 7):
        ours = F.adaptive_avg_pool1d(ember.tensor(x), o)
        _close(ours.numpy(), torch.nn.functional.adaptive_avg_pool1d(torch.tensor(x), o))
    t = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: F.avg_pool1d(a, 3, 2, 1) + F.max_pool1d(a, 3, 2, 1).sum(), [t])


def test_modules_load_torch_weights_and_agree():
    torch = pytest.importorskip("torch")
    pairs = [
        (
            nn.Conv1d(4, 6, 3, stride=2, padding=1, groups=2),
            torch.nn.Conv1d(4, 6, 3, 2, 1, groups=2),
        ),
        (nn.ConvTranspose2d(4, 2, 4, 2, 1), torch.nn.ConvTranspose2d(4, 2, 4, 2, 1)),
    ]
    inputs = [_r(2, 4, 9).astype(np.float32), _r(2, 4, 5, 5).astype(np.float32)]
    for (ours, theirs), x in zip(pairs, inputs):
        assert [k for k, _ in ours.named_parameters()] == [k for k, _ in theirs.named_parameters()]
        for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
            assert p.shape == tuple(q.shape)
        ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        _close(ours(ember.tensor(x)).numpy(), theirs(torch.tensor(x)).detach().numpy(), 1e-5)
    assert nn.MaxPool1d(2)(ember.randn(2, 3, 8)).shape == (2, 3, 4)
    assert nn.AvgPool1d(3, 1, 1)(ember.randn(3, 8)).shape == (3, 8)
    assert nn.AdaptiveAvgPool1d(1)(ember.randn(2, 3, 8)).shape == (2, 3, 1)


def test_default_init_bounds_follow_pytorch():
    m = nn.ConvTranspose2d(8, 4, 3)  # fan_in = weight.size(1) * 9 = 36
    assert np.abs(m.weight.numpy()).max() <= 1 / 6 and np.abs(m.bias.numpy()).max() <= 1 / 6
    assert m.weight.shape == (8, 4, 3, 3)


def test_bad_arguments():
    x1, w1 = ember.randn(2, 4, 10), ember.randn(6, 4, 3)
    with pytest.raises(ValueError, match=r"conv1d: input \(2, 5, 10\) has 5 channels"):
        F.conv1d(ember.randn(2, 5, 10), w1)
    with pytest.raises(ValueError, match="conv1d: weight must be 3-D"):
        F.conv1d(x1, ember.randn(6, 4, 3, 3))
    with pytest.raises(ValueError, match="conv1d: input must be 2-D"):
        F.conv1d(ember.randn(4), w1)
    with pytest.raises(TypeError):
        F.conv1d(ember.tensor(np.zeros((2, 4, 10), np.int64)), w1)
    x2, w2 = ember.randn(1, 4, 5, 5), ember.randn(4, 2, 3, 3)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(x2, w2, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="channels"):
        F.conv_transpose2d(ember.randn(1, 3, 5, 5), w2)
    with pytest.raises(ValueError, match="non-positive output size"):
        F.conv_transpose2d(ember.randn(1, 4, 1, 1), ember.randn(4, 2, 1, 1), padding=1)
    with pytest.raises(ValueError, match="groups"):
        nn.ConvTranspose2d(4, 3, 3, groups=2)
    with pytest.raises(ValueError, match="kernel_size"):
        nn.Conv1d(4, 3, (3, 3))
    assert F.conv_transpose2d(ember.randn(4, 5, 5), w2).shape == (2, 7, 7)  # unbatched


# Depthwise convolutions (groups == C == O) run on their own engine in csrc/ops/conv2d.cpp.
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-10), (np.float32, 1e-4)])
@pytest.mark.parametrize(
    "N,C,H,W,k,s,p,d",
    [
        (2, 3, 7, 9, 3, 1, 1, 1),
        (1, 4, 8, 8, 3, 2, 1, 1),
        (2, 2, 10, 7, 5, 3, 2, 2),
        (1, 3, 5, 5, 2, 1, 0, 1),
        (3, 2, 6, 6, 1, 1, 0, 1),
        (1, 2, 4, 4, 3, 1, "same", 1),
        (0, 2, 4, 4, 3, 1, 1, 1),
        (2, 3, 9, 8, (2, 3), 1, (2, 0), (2, 1)),
    ],
)
def test_depthwise_matches_pytorch(N, C, H, W, k, s, p, d, dtype, tol):
    torch = pytest.importorskip("torch")
    kk = (k, k) if isinstance(k, int) else k
    x, w, b = _r(N, C, H, W).astype(dtype), _r(C, 1, *kk, seed=1).astype(dtype), _r(C, seed=2)
    b = b.astype(dtype)
    ours = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.conv2d(*ours, s, p, d, C)
    yt = torch.nn.functional.conv2d(*theirs, s, p, d, C)
    _close(y.numpy(), yt.detach().numpy(), tol)
    gy = _r(*yt.shape, seed=3).astype(dtype)
    y.backward(gy)
    yt.backward(torch.tensor(gy))
    for a, t in zip(ours, theirs):
        _close(a.grad.numpy(), t.grad.numpy(), tol)


def test_depthwise_gradcheck_and_thread_determinism():
    args = [ember.tensor(a, requires_grad=True) for a in (_r(2, 3, 5, 6), _r(3, 1, 3, 3, seed=1))]
    assert gradcheck(lambda a, b: F.conv2d(a, b, None, 1, 1, 1, 3), args)
    assert gradcheck(lambda a, b: F.conv2d(a, b, None, 2, 1, 1, 3), args)
    x, w = _r(4, 16, 20, 20).astype(np.float32), _r(16, 1, 3, 3, seed=1).astype(np.float32)
    results, before = [], ember.get_num_threads()
    for nt in (1, 2):
        ember.set_num_threads(nt)
        xe, we = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        F.conv2d(xe, we, None, 1, 1, 1, 16).sum().backward()
        results.append((xe.grad.numpy(), we.grad.numpy()))
    ember.set_num_threads(before)
    for a, b in zip(*results):
        np.testing.assert_array_equal(a, b)
