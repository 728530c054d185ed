"""Regressions found by a differential sweep of losses, activations, special functions, linalg
and fft against PyTorch (random configurations, edge values, bad arguments)."""

import math

import numpy as np
import pytest

import ember
import ember.fft as efft
import ember.linalg as LA
import ember.nn.functional as F
import ember.special as S

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ndtri_tails_match_torch(dtype):
    # ndtri was sqrt 2 erfinv(2p - 1): -inf from p = 3e-8 down in float32 (2p - 1 rounds to -1)
    p = np.array([1e-30, 1e-8, 1e-3, 0.1, 0.14, 0.5, 0.86, 0.9, 1 - 1e-6, 0, 1, -0.5, 2, np.nan])
    p = p.astype(dtype)
    got = S.ndtri(ember.tensor(p)).numpy()
    want = torch.special.ndtri(torch.tensor(p)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6 if dtype == np.float32 else 1e-13)


def test_ndtri_gradient_is_torchs():
    p = np.array([1e-12, 0.02, 0.3, 0.5, 0.97])
    x, xt = ember.tensor(p, requires_grad=True), torch.tensor(p, requires_grad=True)
    S.ndtri(x).sum().backward()
    torch.special.ndtri(xt).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    assert ember.autograd.gradcheck(S.ndtri, (ember.tensor(p[1:], requires_grad=True),))


def test_log_ndtr_gradient_far_left():
    # d/dx log ndtr(x) = pdf / cdf ~ -x; exp(-(y + x^2 / 2)) gave 0.4 at x = -1e9 (cancellation)
    x = np.array([-1e9, -1e4, -700.0, -5.0, 0.0, 5.0])
    t = ember.tensor(x, requires_grad=True)
    S.log_ndtr(t).sum().backward()
    want = [1e9, 1e4 + 1e-4, 700.0 + 1 / 700, 5.186503967125969, math.sqrt(2 / math.pi)]
    np.testing.assert_allclose(t.grad.numpy()[:5], want, rtol=1e-7)
    assert ember.autograd.gradcheck(
        S.log_ndtr, (ember.tensor(np.array([-30.0, -2.0, 1.5]), requires_grad=True),)
    )


def test_entr_keeps_nan():
    x = np.array([np.nan, -1.0, 0.0, 0.5])
    np.testing.assert_array_equal(
        S.entr(ember.tensor(x)).numpy(), torch.special.entr(torch.tensor(x)).numpy()
    )


def test_zeta_refuses_complex():
    z = np.array([2.0 + 1j, 3.0], np.complex64)
    with pytest.raises(TypeError, match="zeta"):
        S.zeta(ember.tensor(z), ember.tensor(z))


def test_inv_and_solve_of_nonfinite_matrix_are_nan():
    # LAPACK's pivot search skipped the NaN column: some entries of the "inverse" were finite
    A = np.array([[[np.nan, 1.0], [2.0, 3.0]], [[2.0, 1.0], [1.0, 3.0]]], np.float32)
    got = LA.inv(ember.tensor(A)).numpy()
    want = torch.linalg.inv(torch.tensor(A)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.isnan(got[0]).all()
    b = np.ones((2, 2), np.float32)
    x = LA.solve(ember.tensor(A), ember.tensor(b)).numpy()
    np.testing.assert_allclose(x, torch.linalg.solve(torch.tensor(A), torch.tensor(b)), rtol=1e-6)


@pytest.mark.parametrize("p", ["fro", "nuc", 1, -1, math.inf, -math.inf])
def test_cond_of_singular_matrix_is_inf(p):
    # it raised LinAlgError from inv; torch documents inf for these orders
    A = np.stack(
        [[[1.0, 2, 3], [1, 2, 3], [4, 5, 7]], np.eye(3) * 2 + [[0, 1, 0], [0, 0, 0], [1, 0, 0]]]
    )
    got = LA.cond(ember.tensor(A), p).numpy()
    assert got[0] == np.inf
    want = torch.linalg.cond(torch.tensor(A[1]), p).item()
    np.testing.assert_allclose(got[1], want, rtol=1e-12)


def test_bad_linalg_fft_arguments_raise_as_torch():
    with pytest.raises(ValueError, match="inf norm over an empty dim"):
        LA.vector_norm(ember.tensor(np.ones((0, 2))), math.inf)
    for n in (2.0, True, math.inf):  # int(2.7) was 2; inf an OverflowError
        with pytest.raises(TypeError, match="n must be an int"):
            LA.matrix_power(ember.tensor(np.eye(2)), n)
    with pytest.raises(ValueError, match=r"A \(4, 3\) and B \(\) do not fit"):  # IndexError
        LA.lstsq(ember.tensor(np.ones((4, 3))), ember.tensor(np.array(1.0)))
    with pytest.raises(TypeError, match="not bool"):
        efft.fft(ember.tensor(np.ones(4)), n=True)
    with pytest.raises(TypeError, match="not bool"):
        efft.fftfreq(True)


def test_loss_refuses_complex_target():
    # the target was cast to float, dropping its imaginary part silently (l1_loss computes
    # |x - t| of complex values, as torch)
    x = ember.tensor(np.ones(3, np.float32))
    t = ember.tensor(np.array([1 + 2j, 0, 1j], np.complex64))
    for loss in (F.mse_loss, F.huber_loss, F.smooth_l1_loss, F.soft_margin_loss):
        with pytest.raises(TypeError, match="target must be real"):
            loss(x, t)


def test_poisson_nll_loss_checks_eps_type():
    x, t = ember.tensor(np.ones(3)), ember.tensor(np.ones(3))
    for eps in (None, "x", (1, 2)):
        with pytest.raises(TypeError, match="eps must be a float"):
            F.poisson_nll_loss(x, t, eps=eps)


def test_softshrink_refuses_infinite_lambda():
    with pytest.raises(ValueError, match="finite"):
        F.softshrink(ember.tensor(np.ones(3, np.float32)), math.inf)


def test_cross_entropy_probabilities_without_classes_is_nan():
    # a ZeroDivisionError; torch gives NaN for 'mean' and zeros for 'none'
    x = np.zeros((4, 0))
    assert math.isnan(F.cross_entropy(ember.tensor(x), ember.tensor(x)).item())
    got = F.cross_entropy(ember.tensor(x), ember.tensor(x), reduction="none").numpy()
    np.testing.assert_array_equal(got, np.zeros(4))


def test_prelu_with_zero_channels():
    x = ember.tensor(np.zeros((2, 0, 3)), requires_grad=True)
    w = ember.tensor(np.zeros(0), requires_grad=True)
    y = F.prelu(x, w)
    assert y.shape == (2, 0, 3)
    y.sum().backward()
    assert x.grad.shape == (2, 0, 3) and w.grad.shape == (0,)
