"""Lead fixes of session 37, each against torch 2.13: complex acosh's second derivative and
forward-mode tangent (the principal branch), torch.svd's V of a complex matrix (V = Vh^H),
logdet of a complex matrix (complex, log(sign) + log|det|), triangular_solve(transpose=True)
(A^T X = b, no conjugate)."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _c(shape, seed):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.func's jit.script use
def test_complex_acosh_derivatives_of_the_principal_branch():
    # points where 1 / sqrt(z^2 - 1) is the other branch's sign
    z = np.array([0.3 + 0.2j, -2.0 - 0.5j, -0.4 + 1.5j, 1.5 - 0.3j])
    w = _c(4, 1)
    e = ember.tensor(z, requires_grad=True)
    t = torch.tensor(z, requires_grad=True)
    (ge,) = ember.autograd.grad(ember.acosh(e), e, ember.tensor(w), create_graph=True)
    (gt,) = torch.autograd.grad(torch.acosh(t), t, torch.tensor(w), create_graph=True)
    np.testing.assert_allclose(ge.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    (gge,) = ember.autograd.grad(ge.abs().sum(), e)
    (ggt,) = torch.autograd.grad(gt.abs().sum(), t)
    np.testing.assert_allclose(gge.numpy(), ggt.numpy(), rtol=1e-10)
    te = ember.func.jvp(ember.acosh, (ember.tensor(z),), (ember.tensor(w),))[1]
    tt = torch.func.jvp(torch.acosh, (torch.tensor(z),), (torch.tensor(w),))[1]
    np.testing.assert_allclose(te.numpy(), tt.numpy(), rtol=1e-12)


@pytest.mark.parametrize("some", [True, False])
def test_svd_V_of_a_complex_matrix_is_the_adjoint_of_Vh(some):
    a = _c((4, 3), 2)
    U, S, V = ember.svd(ember.tensor(a), some=some)
    Ut, St, Vt = torch.svd(torch.tensor(a), some=some)
    np.testing.assert_allclose(S.numpy(), St.numpy(), rtol=1e-12)
    k = S.shape[0]
    rebuilt = U.numpy()[:, :k] @ np.diag(S.numpy()) @ V.numpy()[:, :k].conj().T
    np.testing.assert_allclose(rebuilt, a, atol=1e-12)
    # the same singular vectors as torch's up to a phase per column
    phase = (V.numpy()[:, :k].conj() * Vt.resolve_conj().numpy()[:, :k]).sum(0)
    np.testing.assert_allclose(np.abs(phase), 1, rtol=1e-10)


def test_logdet_of_a_complex_matrix_is_complex_as_torch():
    a = _c((2, 3, 3), 3)
    e = ember.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    ye, yt = ember.logdet(e), torch.logdet(t)
    assert ye.dtype == np.complex128
    # log(sign) has its imaginary part in (-pi, pi], as torch's
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-12)
    w = _c(2, 4)
    (ye * ember.tensor(w)).real.sum().backward()
    (yt * torch.tensor(w)).real.sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10)
    r = np.random.default_rng(5).standard_normal((3, 3))  # real: NaN where det < 0, as before
    np.testing.assert_allclose(
        ember.logdet(ember.tensor(r)).numpy(), torch.logdet(torch.tensor(r)).numpy()
    )


@pytest.mark.filterwarnings("ignore::UserWarning")  # torch.triangular_solve is deprecated
@pytest.mark.parametrize("complex_", [False, True])
@pytest.mark.parametrize("upper", [True, False])
def test_triangular_solve_transpose_is_the_plain_transpose(complex_, upper):
    A = _c((3, 3), 6) if complex_ else np.random.default_rng(6).standard_normal((3, 3))
    A = A + 3 * np.eye(3)
    b = _c((3, 2), 7) if complex_ else np.random.default_rng(7).standard_normal((3, 2))
    x, _ = ember.triangular_solve(ember.tensor(b), ember.tensor(A), upper, transpose=True)
    xt, _ = torch.triangular_solve(torch.tensor(b), torch.tensor(A), upper, transpose=True)
    np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=1e-12)
    tri = np.triu(A) if upper else np.tril(A)
    np.testing.assert_allclose(tri.T @ x.numpy(), b, atol=1e-12)
