"""cross_entropy_backward's one-pass row (rows of many classes without a class weight: the
exponentials and the finish fused): gradients against PyTorch in float32 and float64, with
label smoothing, ignore_index and each reduction, gradcheck in float64, the same bits for any
thread count, and bad input refused."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

CASES = [
    dict(),
    dict(label_smoothing=0.1),
    dict(label_smoothing=0.2, ignore_index=3, reduction="sum"),
    dict(label_smoothing=1.0, reduction="none"),
    dict(ignore_index=0, reduction="none"),
]


def _data(n, c, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    t = rng.integers(0, c, n)
    t[::4] = 3  # some rows on the ignored class when ignore_index is 3
    t[1::5] = 0
    return x, t


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-6), (np.float64, 1e-12)])
@pytest.mark.parametrize("kw", CASES)
def test_cross_entropy_grad_many_classes_matches_torch(dtype, tol, kw):
    torch = pytest.importorskip("torch")
    x, t = _data(37, 1500, dtype)
    xe = ember.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xe, ember.tensor(t), **kw)
    g = np.random.default_rng(1).standard_normal(loss.shape).astype(dtype)
    loss.backward(ember.tensor(g))
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), **kw)
    lt.backward(torch.tensor(g))
    np.testing.assert_allclose(loss.numpy(), lt.detach().numpy(), rtol=tol * 10, atol=tol)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=tol * 10, atol=tol)


def test_cross_entropy_grad_rows_same_bits_any_threads():
    x, t = _data(64, 3000, np.float32, seed=2)
    loss, lse, ws, _ = _C.cross_entropy_forward(x, t, label_smoothing=0.1)
    g = np.asarray(1.5, np.float32)
    outs = []
    for n in (1, 2):
        with at_threads(n):
            outs.append(
                _C.cross_entropy_backward(x, lse, t, g, label_smoothing=0.1, weight_sum=float(ws))
            )
    assert np.array_equal(outs[0], outs[1])
    # rows sum to 0 without ignored rows: softmax sums to 1, the target distribution too
    np.testing.assert_allclose(outs[0].sum(axis=1), 0.0, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(label_smoothing=0.3), dict(ignore_index=2, reduction="sum")])
def test_cross_entropy_gradcheck_many_classes(kw):
    x, t = _data(5, 40, np.float64, seed=3)
    t[0] = 2
    xe = ember.tensor(x, requires_grad=True)
    te = ember.tensor(t)
    assert gradcheck(lambda a: F.cross_entropy(a, te, **kw), (xe,))


def test_cross_entropy_backward_bad_input():
    x, t = _data(4, 50, np.float32)
    loss, lse, ws, _ = _C.cross_entropy_forward(x, t)
    g = np.asarray(1.0, np.float32)
    bad = t.copy()
    bad[1] = 50
    with pytest.raises(ValueError, match="target"):
        _C.cross_entropy_backward(x, lse, bad, g, weight_sum=float(ws))
    with pytest.raises((ValueError, TypeError)):
        _C.cross_entropy_backward(x, lse[:2], t, g, weight_sum=float(ws))
    with pytest.raises(TypeError):
        _C.cross_entropy_backward(x.astype(np.float64), lse, t, g, weight_sum=float(ws))
