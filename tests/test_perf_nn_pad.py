"""F.pad's reflect / replicate / circular fast path (EdgePad: a centre copy plus the border
slices): values and gradients against PyTorch, bit for bit against the generic gather path,
gradcheck."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F

CASES = [
    ((2, 3, 9), (2, 3)),
    ((2, 3, 9), (0, 8)),
    ((2, 3, 7, 6), (2, 2, 1, 3)),
    ((3, 5, 4), (1, 0, 2, 1)),
    ((1, 2, 4, 5, 6), (1, 2, 0, 3, 2, 1)),
    ((2, 3, 4), (3, 3)),  # reflect: borders overlap -> the gather path
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("shape,pad", CASES, ids=str)
def test_matches_torch(shape, pad, mode, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    want = torch.nn.functional.pad(torch.from_numpy(x).requires_grad_(True), pad, mode=mode)
    g = rng.standard_normal(tuple(want.shape)).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_(True)
    torch.nn.functional.pad(tx, pad, mode=mode).backward(torch.from_numpy(g))
    ex = ember.tensor(x, requires_grad=True)
    y = F.pad(ex, pad, mode=mode)
    y.backward(ember.tensor(g))
    assert np.array_equal(y.numpy(), want.detach().numpy())
    tol = dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-14, atol=1e-14)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_same_gradient_as_the_gather_path(mode):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 8, 7)).astype(np.float32)
    g = rng.standard_normal((2, 3, 11, 9)).astype(np.float32)
    a = ember.tensor(x, requires_grad=True)
    F.pad(a, (1, 1, 2, 1), mode=mode).backward(ember.tensor(g))
    b = ember.tensor(x, requires_grad=True)
    y = b
    for axis, (lo, hi) in ((2, (2, 1)), (3, (1, 1))):
        y = F._gather_axis(y, axis, F._pad_taps(y.shape[axis], lo, hi, mode))
    y.backward(ember.tensor(g))
    assert np.array_equal(a.grad.numpy(), b.grad.numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_gradcheck(mode):
    x = ember.tensor(np.random.default_rng(2).standard_normal((1, 2, 5, 4)), requires_grad=True)
    assert gradcheck(lambda a: F.pad(a, (1, 2, 2, 1), mode=mode), (x,))
