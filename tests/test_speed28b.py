"""speed28b: Mul.forward's inline same-shape path (the recorded a * b) keeps values, gradients,
saved-tensor hooks and create_graph as before, against torch."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _pair(shape, dtype, seed):
    r = np.random.default_rng(seed)
    return r.standard_normal(shape).astype(dtype), r.standard_normal(shape).astype(dtype)


CASES = [
    ((32, 32), np.float32, None),
    ((32, 32), np.float64, None),
    ((3, 4), np.float32, None),  # below the kernels' minimum size
    ((300, 300), np.float32, None),  # the kernel path (_SAME_SHAPE_MIN and beyond)
    ((16, 8), np.float32, "t"),  # transposed views: not C-contiguous
    ((0, 5), np.float32, None),  # empty
    ((6, 5), np.float16, None),
]


@pytest.mark.parametrize("shape,dtype,view", CASES)
@pytest.mark.parametrize("which", ["both", "a", "b"])
@pytest.mark.parametrize("loss", ["sum", "weighted"])
def test_mul_values_and_grads_vs_torch(shape, dtype, view, which, loss):
    x, y = _pair(shape, dtype, 0)
    w = np.random.default_rng(1).standard_normal(shape).astype(dtype)
    res = []
    for lib in (ember, torch):
        a = lib.tensor(x, requires_grad=which in ("both", "a"))
        b = lib.tensor(y, requires_grad=which in ("both", "b"))
        aa, bb = (a.t(), b.t()) if view else (a, b)
        out = aa * bb
        total = out.sum() if loss == "sum" else (out * lib.tensor(w.T if view else w)).sum()
        total.backward()
        grads = [t.grad.numpy() if t.grad is not None else None for t in (a, b)]
        res.append((out.detach().numpy(), grads, out.stride() if out.numel() else None))
    (ye, ge, se), (yt, gt, st) = res
    tol = 1e-3 if dtype == np.float16 else 1e-6
    np.testing.assert_allclose(ye.astype(np.float64), yt.astype(np.float64), rtol=tol, atol=tol)
    assert ye.dtype == yt.dtype and se == st
    for e, t in zip(ge, gt):
        assert (e is None) == (t is None)
        if e is not None:
            assert e.dtype == t.dtype
            np.testing.assert_allclose(
                e.astype(np.float64), t.astype(np.float64), rtol=tol, atol=tol
            )


def test_mul_bits_match_numpy_and_grad_mode_off():
    x, y = _pair((32, 32), np.float32, 2)
    a, b = ember.tensor(x, requires_grad=True), ember.tensor(y)
    out = a * b
    assert out.requires_grad and out.grad_fn is not None
    np.testing.assert_array_equal(out.numpy(), x * y)
    with ember.no_grad():
        off = a * b
    assert not off.requires_grad
    np.testing.assert_array_equal(off.numpy(), x * y)


def test_mul_gradcheck_and_double_backward():
    x, y = _pair((5, 4), np.float64, 3)
    a, b = ember.tensor(x, requires_grad=True), ember.tensor(y, requires_grad=True)
    assert ember.autograd.gradcheck(lambda p, q: p * q, (a, b))
    (ga,) = ember.autograd.grad((a * b * a).sum(), a, create_graph=True)
    (gga,) = ember.autograd.grad(ga.sum(), a)
    ta, tb = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    (tga,) = torch.autograd.grad((ta * tb * ta).sum(), ta, create_graph=True)
    (tgga,) = torch.autograd.grad(tga.sum(), ta)
    np.testing.assert_allclose(ga.detach().numpy(), tga.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gga.numpy(), tgga.numpy(), rtol=1e-12)


def test_mul_saved_hooks_and_version_check():
    x, y = _pair((32, 32), np.float32, 4)
    a, b = ember.tensor(x, requires_grad=True), ember.tensor(y, requires_grad=True)
    packed = []

    def pack(t):
        packed.append(t.shape)
        return t

    with ember.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = a * b
    assert len(packed) == 2
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), y)
    np.testing.assert_array_equal(b.grad.numpy(), x)
    # a write into a saved operand after the product is refused at backward, as torch's
    c = ember.tensor(y.copy(), requires_grad=True)
    d = c * 1.0
    out = a * d
    with ember.no_grad():
        d.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.sum().backward()
