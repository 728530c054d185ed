"""convspeed24: the DCGAN discriminator's strided 4x4 convolutions and the stride-2 3->32 stem, the
rows measured this round (no engine changed: their time is the GEMM micro-kernel's). Pins each
engine those shapes take (fused with phase planes at 8x8 outputs, batch at 4x4, the 4x4 valid
head) against the NumPy reference and PyTorch, float32/float64, batch 0/1, a non-contiguous
input, 1 vs 2 threads bit-equality, and float64 gradcheck."""

import numpy as np
import pytest
from conftest import at_threads
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

# (x shape, w shape, stride, padding): DCGAN discriminator layers at batch 2 (8x8 outputs: fused
# engine; 4x4: batch engine; the 4x4 valid head), and the stride-2 3->32 stem with its odd edge
DCGAN = [
    ((2, 3, 32, 32), (8, 3, 4, 4), 2, 1),
    ((2, 16, 16, 16), (24, 16, 4, 4), 2, 1),
    ((2, 32, 8, 8), (40, 32, 4, 4), 2, 1),
    ((2, 64, 4, 4), (1, 64, 4, 4), 1, 0),
    ((2, 3, 32, 32), (32, 3, 3, 3), 2, 1),
    ((1, 3, 31, 33), (32, 3, 3, 3), 2, 1),
]


def _data(xs, ws, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype)
    return x, w, b


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cfg", DCGAN)
def test_dcgan_layers_vs_numpy_and_threads(cfg, dtype):
    xs, ws, s, p = cfg
    x, w, b = _data(xs, ws, dtype)
    st, pad = (s, s), (p, p)
    y_r = conv2d_ref(x, w, b, st, pad)
    dy = np.random.default_rng(1).standard_normal(y_r.shape).astype(dtype)
    refs = (y_r, *conv2d_backward_ref(dy, x, w, st, pad))
    outs = []
    for nt in (1, 2):
        with at_threads(nt):
            y = _C.conv2d_forward(x, w, b, st, pad, (1, 1), 1)
            outs.append((y, *_C.conv2d_backward(dy, x, w, st, pad, (1, 1), 1)))
    tol = dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-10)
    for got, ref in zip(outs[0], refs):
        np.testing.assert_allclose(got, ref, **tol)
    for a, c in zip(outs[0][:2], outs[1][:2]):  # y and dx: the same bits on 1 and 2 threads
        np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("cfg", DCGAN)
def test_dcgan_layers_vs_torch(cfg):
    torch = pytest.importorskip("torch")
    xs, ws, s, p = cfg
    x, w, b = _data(xs, ws, np.float32, seed=2)
    # a non-contiguous input: the spatial transpose of a contiguous one
    xt_np = np.ascontiguousarray(x.transpose(0, 1, 3, 2))
    ex = ember.tensor(xt_np, requires_grad=True)
    ew, eb = ember.tensor(w, requires_grad=True), ember.tensor(b, requires_grad=True)
    y = F.conv2d(ex.transpose(2, 3), ew, eb, s, p)
    tx = torch.from_numpy(xt_np).requires_grad_()
    tw, tb = torch.from_numpy(w).requires_grad_(), torch.from_numpy(b).requires_grad_()
    ty = torch.nn.functional.conv2d(tx.transpose(2, 3), tw, tb, s, p)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-4, atol=1e-4)
    g = np.random.default_rng(3).standard_normal(y.shape).astype(np.float32)
    y.backward(g)
    ty.backward(torch.from_numpy(g))
    for e, t in ((ex, tx), (ew, tw), (eb, tb)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("n", [0, 1])
def test_stem_batch_0_and_1_vs_torch(n):
    torch = pytest.importorskip("torch")
    x, w, b = _data((n, 3, 32, 32), (32, 3, 3, 3), np.float32, seed=4)
    y = F.conv2d(ember.tensor(x), ember.tensor(w), ember.tensor(b), 2, 1)
    ty = torch.nn.functional.conv2d(*map(torch.from_numpy, (x, w, b)), stride=2, padding=1)
    assert y.shape == tuple(ty.shape) == (n, 32, 16, 16)
    np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "cfg", [((1, 3, 12, 10), (4, 3, 4, 4), 2, 1), ((2, 4, 4, 4), (1, 4, 4, 4), 1, 0)]
)
def test_dcgan_layers_gradcheck_float64(cfg):
    xs, ws, s, p = cfg
    x, w, b = _data(xs, ws, np.float64, seed=5)
    args = tuple(ember.tensor(a, requires_grad=True) for a in (x, w, b))
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, s, p), args)
