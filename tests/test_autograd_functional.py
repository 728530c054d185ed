"""ember.autograd.functional: jacobian, vjp and jvp against central finite differences in
float64 and against torch.autograd.functional, the tuple structure of their results, strict
mode, and the errors (bad v, non-tensors, non-scalar functions for the Hessian family)."""

import numpy as np
import pytest

import ember
from ember.autograd import functional as AF

RNG = np.random.default_rng(0)
A = RNG.standard_normal((3, 2))
B = RNG.standard_normal(4)


def two_in_two_out(lib):
    return lambda x, y: (lib.tanh(x).sum(1)[:, None] * y[None, :2], (x**2).sum() * y.exp())


def _numeric_jacobian(f, xs, out_index, in_index, eps=1e-6):
    """d f(xs)[out_index] / d xs[in_index] by central differences."""
    x = xs[in_index]
    out_shape = np.shape(f(*xs)[out_index])
    jac = np.zeros(out_shape + x.shape)
    for idx in np.ndindex(x.shape):
        hi, lo = [a.copy() for a in xs], [a.copy() for a in xs]
        hi[in_index][idx] += eps
        lo[in_index][idx] -= eps
        jac[(...,) + idx] = (f(*hi)[out_index] - f(*lo)[out_index]) / (2 * eps)
    return jac


def _np_f(x, y):
    return (np.tanh(x).sum(1)[:, None] * y[None, :2], (x**2).sum() * np.exp(y))


def test_jacobian_equals_finite_differences_in_float64():
    jac = AF.jacobian(two_in_two_out(ember), (ember.tensor(A), ember.tensor(B)))
    assert len(jac) == 2 and all(len(row) == 2 for row in jac)
    for o in range(2):
        for i in range(2):
            want = _numeric_jacobian(_np_f, [A, B], o, i)
            assert jac[o][i].shape == want.shape
            np.testing.assert_allclose(jac[o][i].numpy(), want, rtol=1e-6, atol=1e-8)


def test_single_tensor_structure_and_scalar_outputs():
    x = ember.tensor(A)
    assert AF.jacobian(lambda t: t * 2, x).shape == (3, 2, 3, 2)
    np.testing.assert_allclose(AF.jacobian(lambda t: (t**2).sum(), x).numpy(), 2 * A)
    out, g = AF.vjp(lambda t: (t**2).sum(), x)  # v may be omitted for one element
    np.testing.assert_allclose(g.numpy(), 2 * A)
    assert out.item() == pytest.approx((A**2).sum()) and not out.requires_grad
    assert x.grad is None and not x.requires_grad  # the caller's tensor is untouched


def test_vjp_and_jvp_are_the_products_with_the_jacobian():
    f = two_in_two_out(ember)
    xs = (ember.tensor(A), ember.tensor(B))
    jac = AF.jacobian(f, xs)
    u = (RNG.standard_normal((3, 2)), RNG.standard_normal(4))  # like the outputs
    w = (RNG.standard_normal((3, 2)), RNG.standard_normal(4))  # like the inputs
    outs, vjps = AF.vjp(f, xs, tuple(map(ember.tensor, u)))
    for i in range(2):
        want = sum(np.tensordot(u[o], jac[o][i].numpy(), u[o].ndim) for o in range(2))
        np.testing.assert_allclose(vjps[i].numpy(), want, rtol=1e-12)
    outs, jvps = AF.jvp(f, xs, tuple(map(ember.tensor, w)))
    for o in range(2):
        want = sum(np.tensordot(jac[o][i].numpy(), w[i], w[i].ndim) for i in range(2))
        np.testing.assert_allclose(jvps[o].numpy(), want, rtol=1e-12)
    np.testing.assert_allclose(outs[0].numpy(), _np_f(A, B)[0])


def test_against_torch():
    torch = pytest.importorskip("torch")
    TF = torch.autograd.functional
    te = (torch.tensor(A), torch.tensor(B))
    ee = (ember.tensor(A), ember.tensor(B))
    for row_e, row_t in zip(
        AF.jacobian(two_in_two_out(ember), ee), TF.jacobian(two_in_two_out(torch), te)
    ):
        for je, jt in zip(row_e, row_t):
            np.testing.assert_allclose(je.numpy(), jt.numpy(), rtol=1e-12)
    v = RNG.standard_normal((3, 2))
    _, ge = AF.vjp(lambda x: ember.tanh(x) * 2, ee[0], ember.tensor(v))
    _, gt = TF.vjp(lambda x: torch.tanh(x) * 2, te[0], torch.tensor(v))
    np.testing.assert_allclose(ge.numpy(), gt.numpy(), rtol=1e-12)
    _, je = AF.jvp(lambda x: ember.tanh(x).sum(0), ee[0], ember.tensor(v))
    _, jt = TF.jvp(lambda x: torch.tanh(x).sum(0), te[0], torch.tensor(v))
    np.testing.assert_allclose(je.numpy(), jt.numpy(), rtol=1e-12)
    # an output independent of an input: zeros, or an error in strict mode (as torch)
    zt = TF.jacobian(lambda x, y: x * 2, te)[1]
    ze = AF.jacobian(lambda x, y: x * 2, ee)[1]
    assert ze.shape == tuple(zt.shape) and not ze.numpy().any()
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda x, y: x * 2, ee, strict=True)


def test_bad_input():
    x = ember.tensor(A)
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(lambda t: t * 2, x)
    with pytest.raises(ValueError, match=r"v has shapes \[\(2,\)\]"):
        AF.vjp(lambda t: t * 2, x, ember.zeros(2))
    with pytest.raises(ValueError, match="but the input has"):
        AF.jvp(lambda t: t * 2, x, ember.zeros(5))
    with pytest.raises(TypeError, match="inputs must be a Tensor"):
        AF.jacobian(lambda t: t, A)
    with pytest.raises(TypeError, match="function's output must be a Tensor"):
        AF.jacobian(lambda t: 3.0, x)
    with pytest.raises(TypeError, match="floating point"):
        AF.jacobian(lambda t: t, ember.tensor([1, 2]))
    with pytest.raises(ValueError, match="strategy"):
        AF.jacobian(lambda t: t, x, strategy="sideways")
    for fn in (AF.hessian, AF.hvp, AF.vhp):
        with pytest.raises(RuntimeError, match="single Tensor with a single element"):
            fn(lambda t: t**2, x)
    for fn in (AF.jacobian, AF.hessian):  # vectorize: the same numbers, refused with strict
        np.testing.assert_allclose(
            fn(lambda t: (t**3).sum(), x, vectorize=True).numpy(),
            fn(lambda t: (t**3).sum(), x).numpy(),
        )
        with pytest.raises(RuntimeError, match="strict=True"):
            fn(lambda t: (t**2).sum(), x, vectorize=True, strict=True)
