"""Complex numbers through linear algebra, forward-mode AD and nn.functional, against torch."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import forward_ad as efw

torch = pytest.importorskip("torch")

DTYPES = [np.complex64, np.complex128]
# torch's forward AD imports torch.jit.script, which warns that it is deprecated
TORCH_JIT_WARNING = pytest.mark.filterwarnings(
    "ignore:`torch.jit.script` is deprecated:DeprecationWarning"
)


def crand(seed, *shape):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) + 1j * rng.standard_normal(shape)


A = crand(1, 3, 3)
R = crand(2, 4, 3)  # tall
W = crand(3, 3, 4)  # wide
B = crand(4, 3, 2)
HPD = A @ A.conj().T + 3 * np.eye(3)  # Hermitian positive-definite
V3 = crand(5, 3)


def _np(x):
    x = x.detach() if hasattr(x, "detach") else x
    x = x.resolve_conj() if isinstance(x, torch.Tensor) else x
    return np.asarray(x.numpy() if hasattr(x, "numpy") else x)


def _same(e, t, tol):
    e, t = (
        (e if isinstance(e, tuple | list) else (e,)),
        (t if isinstance(t, tuple | list) else (t,)),
    )
    assert len(e) == len(t)
    for a, b in zip(e, t):
        assert np.dtype(a.dtype) == np.dtype(str(b.dtype).split(".")[1])
        np.testing.assert_allclose(_np(a), _np(b), rtol=tol, atol=tol)


def _recon_svd(m, a):
    U, S, Vh = m.linalg.svd(a, full_matrices=False)
    return (U * S.to(U.dtype).unsqueeze(-2)) @ Vh, S, m.abs(U[..., :1] @ Vh[..., :1, :])


def _recon_eigh(m, a, uplo="L"):
    L, V = m.linalg.eigh(a, UPLO=uplo)
    return (V * L.to(V.dtype).unsqueeze(-2)) @ V.mH, L


# name: (function of the module (torch or ember) and tensors, the inputs); the outputs are
# invariants where torch leaves a phase to LAPACK (svd, eigh)
VALUE_CASES = {
    "svd": (_recon_svd, R),
    "svd_wide_batched": (_recon_svd, np.stack([W, W * 2j])),
    "svd_full_S": (lambda m, a: m.linalg.svd(a)[1], R),
    "svdvals": (lambda m, a: m.linalg.svdvals(a), W),
    "pinv": (lambda m, a: m.linalg.pinv(a), R),
    "pinv_hermitian": (lambda m, a: m.linalg.pinv(a, hermitian=True), HPD),
    "eigh": (_recon_eigh, HPD),
    "eigh_upper": (lambda m, a: _recon_eigh(m, a, "U"), HPD),
    "eigvalsh": (lambda m, a: m.linalg.eigvalsh(a), HPD),
    "qr": (lambda m, a: m.linalg.qr(a), R),
    "qr_complete": (lambda m, a: m.linalg.qr(a, mode="complete"), R),
    "qr_r": (lambda m, a: m.linalg.qr(a, mode="r")[1], W),
    "cholesky": (lambda m, a: m.linalg.cholesky(a), HPD),
    "cholesky_upper": (lambda m, a: m.linalg.cholesky(a, upper=True), HPD),
    "cholesky_ex": (lambda m, a: m.linalg.cholesky_ex(a), HPD),
    "cholesky_ex_not_pd": (lambda m, a: m.linalg.cholesky_ex(a)[1], A),
    "cholesky_inverse": (lambda m, a: m.cholesky_inverse(m.linalg.cholesky(a)), HPD),
    "cholesky_solve": (lambda m, a, b: m.cholesky_solve(b, m.linalg.cholesky(a)), HPD, B),
    "slogdet": (lambda m, a: m.linalg.slogdet(a), A),
    "matrix_exp": (lambda m, a: m.linalg.matrix_exp(a), A),
    "lu": (lambda m, a: m.linalg.lu(a), R),
    "lu_wide": (lambda m, a: m.linalg.lu(a), W),
    "lu_factor_pivot_by_abs1": (
        lambda m, a: m.linalg.lu_factor(a),
        np.array([[3, 1], [2 + 2j, 1j]]),  # |2+2j| < 3 < |2| + |2|: LAPACK's izamax picks row 2
    ),
    "lu_solve": (lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(a), b), A, B),
    "lu_solve_adjoint": (
        lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(a), b, adjoint=True),
        A,
        B,
    ),
    "lu_solve_right": (
        lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(a), b.mT, left=False),
        A,
        B,
    ),
    "det": (lambda m, a: m.linalg.det(a), A),
    "inv_ex": (lambda m, a: m.linalg.inv_ex(a), A),
    "solve_ex": (lambda m, a, b: m.linalg.solve_ex(a, b), A, B),
    "solve_triangular": (lambda m, a, b: m.linalg.solve_triangular(a, b, upper=True), A, B),
    "eigvals": (lambda m, a: m.linalg.eigvals(a), A),
    "matrix_norm_nuc": (lambda m, a: m.linalg.matrix_norm(a, "nuc"), R),
    "matrix_norm_2": (lambda m, a: m.linalg.matrix_norm(a, 2), R),
    "matrix_norm_-2": (lambda m, a: m.linalg.matrix_norm(a, -2), R),
    "norm_2": (lambda m, a: m.linalg.norm(a, 2), R),
    "torch_norm_nuc": (lambda m, a: m.norm(a, "nuc"), R),
    "vector_norm_3": (lambda m, a: m.linalg.vector_norm(a, 3), R),
    "cond": (lambda m, a: m.linalg.cond(a), A),
    "cond_nuc": (lambda m, a: m.linalg.cond(a, "nuc"), A),
    "cond_1": (lambda m, a: m.linalg.cond(a, 1), A),
    "matrix_rank": (lambda m, a: m.linalg.matrix_rank(a), R),
    "matrix_rank_hermitian": (lambda m, a: m.linalg.matrix_rank(a, hermitian=True), HPD),
    "lstsq": (lambda m, a, b: m.linalg.lstsq(a, b).solution, R, crand(6, 4, 2)),
    "lstsq_gelsd": (lambda m, a, b: m.linalg.lstsq(a, b, driver="gelsd"), R, crand(6, 4, 2)),
    "tensorinv": (lambda m, a: m.linalg.tensorinv(a.reshape(2, 2, 4), ind=2), crand(7, 4, 4)),
    "tensorsolve": (lambda m, a, b: m.linalg.tensorsolve(a, b), A, V3),
    "householder_product": (lambda m, a, t: m.linalg.householder_product(a, t), R, V3),
    "vander": (lambda m, a: m.linalg.vander(a), V3),
    "cross": (lambda m, a, b: m.linalg.cross(a, b), V3, crand(8, 3)),
    "multi_dot": (lambda m, a, b, c: m.linalg.multi_dot([a, b, c]), V3, A, B),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["c64", "c128"])
@pytest.mark.parametrize("name", list(VALUE_CASES))
def test_linalg_complex_values_match_torch(name, dtype):
    f, *arrays = VALUE_CASES[name]
    arrays = [a.astype(dtype) for a in arrays]
    t = f(torch, *[torch.tensor(a) for a in arrays])
    e = f(ember, *[ember.tensor(a) for a in arrays])
    tol = 1e-4 if dtype == np.complex64 else 1e-9
    if name.startswith("cond"):  # (condition numbers amplify float32 rounding)
        tol *= 10
    _same(e, t, tol)


def _loss(m, out):
    """A real loss of every output, with complex weights (torch's conjugate-Wirtinger rule
    is then exercised on both parts)."""
    total = 0
    for o in out if isinstance(out, tuple | list) else (out,):
        k = np.arange(o.numel()).reshape(tuple(o.shape))
        if o.dtype in (m.complex64, m.complex128):
            w = m.tensor(np.cos(k) + 0.5j * np.sin(1 + k))
            total = total + m.real(o * w).sum() + 0.3 * (m.abs(o) ** 2).sum()
        elif o.dtype in (m.float32, m.float64):
            total = total + (o * m.tensor(np.cos(k))).sum()
    return total


def _herm(a):
    return a + a.mH


GRAD_CASES = {
    "svdvals": (lambda m, a: m.linalg.svdvals(a), R),
    "svd_reconstruction": (lambda m, a: _recon_svd(m, a)[0], R),
    "svd_wide": (lambda m, a: _recon_svd(m, a), W),
    "svd_moduli": (lambda m, a: tuple(m.abs(x) for x in m.linalg.svd(a, False)), R),
    "pinv": (lambda m, a: m.linalg.pinv(a), R),
    "pinv_wide": (lambda m, a: m.linalg.pinv(a), W),
    "pinv_hermitian": (lambda m, a: m.linalg.pinv(a, hermitian=True), HPD),
    "eigvalsh": (lambda m, a: m.linalg.eigvalsh(a), HPD),
    "eigh_moduli": (lambda m, a: (lambda L, V: (L, m.abs(V)))(*m.linalg.eigh(a)), HPD),
    "qr": (lambda m, a: m.linalg.qr(a), R),
    "qr_square": (lambda m, a: m.linalg.qr(a), A),
    "qr_wide": (lambda m, a: m.linalg.qr(a), W),
    "cholesky": (lambda m, a: m.linalg.cholesky(a), HPD),
    "cholesky_upper": (lambda m, a: m.linalg.cholesky(a, upper=True), HPD),
    "cholesky_solve": (lambda m, a, b: m.cholesky_solve(b, m.linalg.cholesky(a)), HPD, B),
    "slogdet": (lambda m, a: m.linalg.slogdet(a), A),
    "slogdet_sign": (lambda m, a: m.linalg.slogdet(a)[0], A),
    "matrix_exp": (lambda m, a: m.linalg.matrix_exp(a), A),
    "lu": (lambda m, a: m.linalg.lu(a)[1:], A),
    "lu_tall": (lambda m, a: m.linalg.lu(a)[1:], R),
    "lu_wide": (lambda m, a: m.linalg.lu(a)[1:], W),
    "lu_solve_adjoint": (
        lambda m, a, b: m.linalg.lu_solve(*m.linalg.lu_factor(a), b, adjoint=True),
        A,
        B,
    ),
    "matrix_norm_nuc": (lambda m, a: m.linalg.matrix_norm(a, "nuc"), R),
    "matrix_norm_2": (lambda m, a: m.linalg.matrix_norm(a, 2), R),
    "cond": (lambda m, a: m.linalg.cond(a), A),
    "lstsq": (lambda m, a, b: m.linalg.lstsq(a, b).solution, R, crand(6, 4, 2)),
    "householder_product": (lambda m, a, t: m.linalg.householder_product(a, t), R, V3),
    "tensorsolve": (lambda m, a, b: m.linalg.tensorsolve(a, b), A, V3),
}


@pytest.mark.parametrize("name", list(GRAD_CASES))
def test_linalg_complex_gradients_match_torch(name):
    f, *arrays = GRAD_CASES[name]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    es = [ember.tensor(a, requires_grad=True) for a in arrays]
    _loss(torch, f(torch, *ts)).backward()
    _loss(ember, f(ember, *es)).backward()
    for e, t in zip(es, ts):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-7, atol=1e-9)


# functions of unconstrained complex128 matrices (Hermitian ones built from them), for
# gradcheck, gradgradcheck and forward mode against finite differences
GRADCHECK_CASES = {
    "svdvals": (lambda a: ember.linalg.svdvals(a), R),
    "svd": (lambda a: _recon_svd(ember, a)[0], W),
    "pinv": (lambda a: ember.linalg.pinv(a), R),
    "eigvalsh": (lambda a: ember.linalg.eigvalsh(_herm(a)), A),
    "eigh_moduli": (lambda a: ember.linalg.eigh(_herm(a))[1].abs(), A),
    "qr_Q": (lambda a: ember.linalg.qr(a)[0], R),
    "qr_R": (lambda a: ember.linalg.qr(a)[1], W),
    "cholesky": (lambda a: ember.linalg.cholesky(_herm(a) + 6 * ember.eye(3)), A),
    "slogdet": (lambda a: ember.linalg.slogdet(a), A),
    "matrix_exp": (lambda a: ember.linalg.matrix_exp(0.3 * a), A),
    "lu_U": (lambda a: ember.linalg.lu(a)[2], A),
}


@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_linalg_complex_gradcheck_gradgradcheck_and_forward_mode(name):
    f, a = GRADCHECK_CASES[name]
    x = ember.tensor(a, requires_grad=True)
    assert ember.autograd.gradcheck(f, (x,), check_forward_ad=True)
    assert ember.autograd.gradgradcheck(f, (x,))


def test_phase_dependent_losses_are_refused_as_torch():
    a = np.array([[1 + 1j, 2], [0.5j, 3]])
    for m in (torch, ember):
        x = m.tensor(a, requires_grad=True)
        with pytest.raises(RuntimeError, match="phase|e\\^\\{i phi\\}"):
            m.linalg.eigh(x + x.mH)[1][1, 0].real.backward()
        with pytest.raises(RuntimeError, match="phase|e\\^\\{i phi\\}"):
            m.linalg.svd(x)[0][0, 0].real.backward()
    # a loss of the phase-free entry (LAPACK makes it real) is fine, and equal to torch's
    grads = []
    for m in (torch, ember):
        x = m.tensor(a, requires_grad=True)
        m.linalg.eigh(x + x.mH)[1][0, 0].real.backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-10)


def test_complex_linalg_errors():
    with pytest.raises(ember.linalg.LinAlgError):
        ember.linalg.cholesky(ember.tensor(A))  # not Hermitian positive-definite
    with pytest.raises(RuntimeError, match="not positive-definite"):
        ember.linalg.cholesky_ex(ember.tensor(A), check_errors=True)
    with pytest.raises(ValueError, match="unsupported ord"):
        ember.linalg.matrix_norm(ember.tensor(A), 3)
    with pytest.raises(TypeError):  # torch: complex pads take no complex fill
        F.pad(ember.tensor(A), (1, 1), value=1j)


# ---- forward-mode AD through complex values -------------------------------------------------

XC, TC = crand(10, 3, 4), crand(11, 3, 4)
XR, TR = np.random.default_rng(12).standard_normal((2, 3, 4, 2)), np.random.default_rng(13)
TR = TR.standard_normal((2, 3, 4, 2))
WM = crand(14, 4, 2)

JVP_CASES = {
    "abs": (lambda m, a: m.abs(a), XC, TC),
    "angle": (lambda m, a: m.angle(a), XC, TC),
    "real_imag": (lambda m, a: (m.real(a) * 2, m.imag(a)), XC, TC),
    "conj": (lambda m, a: m.conj(a) * a, XC, TC),
    "sgn": (lambda m, a: m.sgn(a), XC, TC),
    "exp_log_sqrt": (lambda m, a: m.exp(a) + m.log(a) * m.sqrt(a), XC, TC),
    "tanh_reciprocal": (lambda m, a: m.tanh(a) / (a + 3), XC, TC),
    "pow": (lambda m, a: a**2.5, XC, TC),
    "matmul": (lambda m, a: a @ m.tensor(WM), XC, TC),
    "var_prod_cumsum": (lambda m, a: (a.var(), a.prod(1), a.cumsum(1)), XC, TC),
    "view_as_real": (lambda m, a: m.view_as_real(a * 1), XC, TC),
    "view_as_complex": (lambda m, a: m.view_as_complex(a * 1), XR, TR),
    "complex_polar": (
        lambda m, a: m.complex(a, 2 * a) + m.polar(a.abs(), a),
        XR[..., 0],
        TR[..., 0],
    ),
    "fft": (lambda m, a: m.fft.fft(a), XC, TC),
    "ifft2": (lambda m, a: m.fft.ifft2(a), XC, TC),
    "fftn_ortho": (lambda m, a: m.fft.fftn(a, norm="ortho"), XC, TC),
    "rfft": (lambda m, a: m.fft.rfft(a), XR[..., 0], TR[..., 0]),
    "irfft_hfft": (lambda m, a: (m.fft.irfft(a), m.fft.hfft(a)), XC, TC),
    "svdvals": (lambda m, a: m.linalg.svdvals(a), XC, TC),
    "slogdet": (lambda m, a: m.linalg.slogdet(a[:, :3]), XC, TC),
    "eigvals": (lambda m, a: m.linalg.eigvals(a[:, :3]), XC, TC),
    "eigh": (lambda m, a: (lambda L, V: (L, m.abs(V)))(*m.linalg.eigh(a @ a.mH)), XC, TC),
    "qr": (lambda m, a: m.linalg.qr(a.mT), XC, TC),
    "cholesky": (lambda m, a: m.linalg.cholesky(a @ a.mH + 3 * m.eye(3)), XC, TC),
    "svd": (lambda m, a: _recon_svd(m, a), XC, TC),
    "pinv_lu_matrix_exp": (
        lambda m, a: (m.linalg.pinv(a), *m.linalg.lu(a)[1:], m.linalg.matrix_exp(a[:, :3])),
        XC,
        TC,
    ),
}


@TORCH_JIT_WARNING
@pytest.mark.parametrize("name", list(JVP_CASES))
def test_jvp_through_complex_matches_torch(name):
    f, p, t = JVP_CASES[name]
    to, tt = torch.func.jvp(lambda a: f(torch, a), (torch.tensor(p),), (torch.tensor(t),))
    eo, et = ember.func.jvp(lambda a: f(ember, a), (ember.tensor(p),), (ember.tensor(t),))
    if type(to).__module__ == "torch.return_types":  # (namedtuples stay namedtuples)
        assert set(eo._fields) <= set(dir(to))
    _same(eo, to, 1e-10)
    _same(et, tt, 1e-10)


@TORCH_JIT_WARNING
@pytest.mark.parametrize("dtype", DTYPES, ids=["c64", "c128"])
def test_make_dual_unpack_dual_with_complex_tangents(dtype):
    p, t = XC.astype(dtype), TC.astype(dtype)
    outs = []
    for m, fw in ((torch, torch.autograd.forward_ad), (ember, efw)):
        with fw.dual_level():
            x = fw.make_dual(m.tensor(p), m.tensor(t))
            y = m.view_as_real(m.exp(x) * m.conj(x)).sum(-1)
            outs.append(fw.unpack_dual(y))
    tol = 1e-5 if dtype == np.complex64 else 1e-12
    _same(tuple(outs[1]), tuple(outs[0]), tol)


# ---- nn.functional on complex input ---------------------------------------------------------

XN, TN = crand(20, 2, 3, 5), crand(21, 2, 3, 5)
WN = np.random.default_rng(22).random((2, 3, 5))

NN_CASES = {
    "softsign": lambda m, a: m.nn.functional.softsign(a),
    "normalize": lambda m, a: m.nn.functional.normalize(a),
    "normalize_p1": lambda m, a: m.nn.functional.normalize(a, p=1, dim=-1),
    "normalize_inf": lambda m, a: m.nn.functional.normalize(a, p=float("inf"), dim=0),
    "l1_loss": lambda m, a: m.nn.functional.l1_loss(a, m.tensor(TN)),
    "l1_loss_sum": lambda m, a: m.nn.functional.l1_loss(a, m.tensor(TN), reduction="sum"),
    "l1_loss_none": lambda m, a: m.nn.functional.l1_loss(a, m.tensor(TN), reduction="none"),
    "l1_loss_real_target": lambda m, a: m.nn.functional.l1_loss(a, m.tensor(TN.real)),
    "l1_loss_complex_target": lambda m, a: m.nn.functional.l1_loss(m.real(a), a * 2),
    "l1_loss_weight": lambda m, a: m.nn.functional.l1_loss(a, m.tensor(TN), weight=m.tensor(WN)),
    "l1_loss_broadcast": lambda m, a: m.nn.functional.l1_loss(a, m.tensor(TN[0, 0])),
    "pad_reflect": lambda m, a: m.nn.functional.pad(a, (2, 1), mode="reflect"),
    "pad_reflect_2d": lambda m, a: m.nn.functional.pad(a, (2, 1, 1, 2), mode="reflect"),
    "pad_reflect_crop": lambda m, a: m.nn.functional.pad(a, (-1, 2), mode="reflect"),
    "pad_replicate": lambda m, a: m.nn.functional.pad(a, (2, 3), mode="replicate"),
    "pad_replicate_2d": lambda m, a: m.nn.functional.pad(a, (2, 3, 1, 0), mode="replicate"),
    "pad_circular": lambda m, a: m.nn.functional.pad(a, (2, 3), mode="circular"),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=["c64", "c128"])
@pytest.mark.parametrize("name", list(NN_CASES))
def test_nn_functional_complex_matches_torch(name, dtype):
    f = NN_CASES[name]
    x = XN.astype(dtype)
    t, e = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (l1_loss_broadcast's size warning, as torch's)
        yt, ye = f(torch, t), f(ember, e)
    tol = 1e-5 if dtype == np.complex64 else 1e-11
    _same(ye, yt, tol)
    k = np.arange(yt.numel()).reshape(yt.shape)
    g = np.cos(k) + (1j * np.sin(k) if yt.dtype.is_complex else 0)
    torch.real(yt * torch.tensor(g)).sum().backward()
    ember.real(ye * ember.tensor(g)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", ["softsign", "normalize_p1", "l1_loss_weight", "pad_reflect_2d"])
def test_nn_functional_complex_gradcheck(name):
    x = ember.tensor(XN, requires_grad=True)
    assert ember.autograd.gradcheck(lambda a: NN_CASES[name](ember, a), (x,))


def test_complex_l1_loss_and_pad_errors():
    x = ember.tensor(XN)
    with pytest.warns(UserWarning, match="different to the input size"):
        F.l1_loss(x, ember.tensor(TN[0]))
    with pytest.raises(ValueError, match=r"\(2, 3, 5\).*\(4,\)"):
        F.l1_loss(x, ember.tensor(crand(23, 4)))
    with pytest.raises(ValueError, match="weight shape"):
        F.l1_loss(x, ember.tensor(TN), weight=ember.tensor(WN[0]))
    with pytest.raises(RuntimeError):  # a reflect pad must be smaller than the dim, as torch
        F.pad(x, (5, 0), mode="reflect")


@pytest.mark.parametrize("hermitian", [False, True])
@pytest.mark.parametrize("seed", range(6))
def test_ldl_factor_and_solve_complex_match_torch(seed, hermitian):
    """LAPACK zsytf2 (symmetric) / zhetf2 (Hermitian): the same pivots and factors as torch."""
    n = (2, 3, 5)[seed % 3]
    a = crand(30 + seed, n, n)
    if seed % 2:
        a[:, 0] *= 0.01  # small pivots: 2 x 2 blocks
    H = a + (a.conj().T if hermitian else a.T)
    b = crand(40 + seed, n, 2)
    t = torch.linalg.ldl_factor(torch.tensor(H), hermitian=hermitian)
    e = ember.linalg.ldl_factor(ember.tensor(H), hermitian=hermitian)
    _same(tuple(e), tuple(t), 1e-10)
    xt = torch.linalg.ldl_solve(*t, torch.tensor(b), hermitian=hermitian)
    xe = ember.linalg.ldl_solve(*e, ember.tensor(b), hermitian=hermitian)
    _same(xe, xt, 1e-10)
    np.testing.assert_allclose(H @ xe.numpy(), b, atol=1e-9)


def test_make_dual_refuses_a_complex_tangent_for_a_real_primal():
    # ember keeps tangents in the primal's dtype: the imaginary part would be dropped silently
    with efw.dual_level():
        with pytest.raises(TypeError, match="complex tangent"):
            efw.make_dual(ember.ones(2), ember.tensor(np.ones(2, np.complex128)))
        d = efw.make_dual(ember.tensor(np.ones(2, np.complex128)), ember.ones(2))
        np.testing.assert_allclose(efw.unpack_dual(ember.exp(d)).tangent.numpy(), np.e, rtol=1e-15)
