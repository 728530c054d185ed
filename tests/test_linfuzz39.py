"""linfuzz39: linalg / fft / stft / distributions differences from torch 2.13 found by a
randomised sweep (values, dtypes, exception families, grad_fn names), pinned against torch."""

import warnings

import numpy as np
import pytest
from conftest import same_error

import ember
import ember.distributions as ED
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TD = torch.distributions


def _e(a, grad=False):
    return ember.tensor(np.array(a), requires_grad=grad)


def _t(a, grad=False):
    return torch.tensor(np.array(a), requires_grad=grad)


def _name(t):
    return None if t.grad_fn is None else t.grad_fn.name()


# ---- linalg ---------------------------------------------------------------------------------


def test_inv_ex_solve_ex_never_raise_unchecked():
    # duplicate rows: LAPACK's LU may round the last pivot to an exact zero or leave it tiny
    rng = np.random.default_rng(1)
    for dt in (np.complex64, np.complex128, np.float32, np.float64):
        for _ in range(40):
            Z = rng.standard_normal((2, 1, 2, 2)) + 1j * rng.standard_normal((2, 1, 2, 2))
            Z = Z.astype(dt) if dt in (np.complex64, np.complex128) else Z.real.astype(dt)
            Z[..., -1, :] = Z[..., 0, :]
            Y, info = ember.linalg.inv_ex(_e(Z))
            X, info2 = ember.linalg.solve_ex(_e(Z), _e(Z))
            bad = info.numpy() > 0
            # (torch's inf/NaN through the zero pivot: never a finite value where info > 0)
            assert not np.isfinite(Y.numpy()[bad]).any()
            assert not np.isfinite(X.numpy()[info2.numpy() > 0]).any()
            with pytest.raises(RuntimeError):  # (exactly or numerically singular: refused)
                if not bad.any():
                    raise RuntimeError("every matrix counted regular: refuse as the check would")
                ember.linalg.inv_ex(_e(Z), check_errors=True)


@pytest.mark.parametrize("p", [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf])
@pytest.mark.parametrize("dt", ["float32", "complex64", "complex128"])
def test_cond_of_empty_matrices(p, dt):
    e = ember.linalg.cond(ember.zeros(2, 0, 0, dtype=getattr(ember, dt)), p)
    t = torch.linalg.cond(torch.zeros(2, 0, 0, dtype=getattr(torch, dt)), p)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_tensorinv_empty_and_bad_ind():
    e = ember.linalg.tensorinv(ember.zeros(0, 0), ind=1)
    assert tuple(e.shape) == tuple(torch.linalg.tensorinv(torch.zeros(0, 0), ind=1).shape)
    same_error(
        lambda: ember.linalg.tensorinv(ember.tensor(2.0)),
        lambda: torch.linalg.tensorinv(torch.tensor(2.0)),
    )


def test_matrix_power_one_is_a_new_tensor():
    A = np.arange(4.0).reshape(2, 2)
    a = _e(A, True)
    p = ember.linalg.matrix_power(a, 1)
    assert p is not a and _name(p) == _name(torch.linalg.matrix_power(_t(A, True), 1))
    p.detach().add_(1.0)  # never writes into A
    np.testing.assert_array_equal(a.detach().numpy(), A)
    same_error(
        lambda: ember.linalg.matrix_power(ember.zeros(2, 3), 1.5),
        lambda: torch.linalg.matrix_power(torch.zeros(2, 3), 1.5),
    )


def test_slogdet_sign_real_and_nonfinite():
    A = np.array([[2.0, 1.0], [0.5, 3.0]])
    s, _ = ember.linalg.slogdet(_e(A, True))
    assert s.requires_grad == torch.linalg.slogdet(_t(A, True))[0].requires_grad
    for v in (np.nan, np.inf):
        M = np.full((2, 3, 3), v)
        e, t = ember.linalg.slogdet(_e(M)), torch.linalg.slogdet(_t(M))
        np.testing.assert_array_equal(e.sign.numpy(), t.sign.numpy())
        np.testing.assert_array_equal(e.logabsdet.numpy(), t.logabsdet.numpy())


@pytest.mark.parametrize("upper", [False, True])
@pytest.mark.parametrize("dt", [np.float64, np.complex128])
def test_cholesky_inverse_gradient_as_torch(upper, dt):
    rng = np.random.default_rng(2)
    a = rng.standard_normal((2, 3, 3)).astype(dt)
    if dt == np.complex128:
        a = a + 1j * rng.standard_normal((2, 3, 3))
    L = np.linalg.cholesky(a @ np.conj(np.swapaxes(a, -1, -2)) + 3 * np.eye(3))
    L = np.conj(np.swapaxes(L, -1, -2)) if upper else L
    w = rng.standard_normal((2, 3, 3))
    ge, gt = [], []
    for lib, out in ((ember, ge), (torch, gt)):
        x = lib.tensor(L.copy(), requires_grad=True)
        y = lib.cholesky_inverse(x, upper=upper)
        assert _name(y) == "CholeskyInverseBackward0"
        (lib.real(y) * lib.tensor(w)).sum().backward()
        out.append(y.detach().numpy())
        out.append(x.grad.numpy())
    np.testing.assert_allclose(ge[0], gt[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ge[1], gt[1], rtol=1e-10, atol=1e-12)
    if dt == np.float64:  # fed a triangle, the gradient is the true one
        tri = ember.triu if upper else ember.tril
        f = lambda x: ember.cholesky_inverse(tri(x), upper=upper)  # noqa: E731
        assert gradcheck(f, (_e(L[0], True),))


def _names_case(lib, which, A, S, B, R, v3):
    L = lib.linalg
    cases = {
        "svd": lambda: L.svd(A)[1],
        "svdvals": lambda: L.svdvals(A),
        "eigh": lambda: L.eigh(S)[0],
        "eigvalsh": lambda: L.eigvalsh(S),
        "eig": lambda: L.eig(A)[0],
        "qr": lambda: L.qr(R)[0],
        "lu": lambda: L.lu(A)[1],
        "lu_factor": lambda: L.lu_factor(A)[0],
        "lu_unpack": lambda: lib.lu_unpack(*L.lu_factor(A))[1],
        "pinv": lambda: L.pinv(A),
        "pinverse": lambda: lib.pinverse(A),
        "solve_triangular": lambda: L.solve_triangular(A, B, upper=True),
        "lu_solve": lambda: L.lu_solve(*L.lu_factor(A.detach()), B),
        "lstsq": lambda: L.lstsq(R, R[..., :2]).solution,
        "householder_product": lambda: L.householder_product(R, R[..., 0, :2]),
        "matrix_exp": lambda: L.matrix_exp(A),
        "vander": lambda: L.vander(v3),
        "multi_dot": lambda: L.multi_dot([A, B]),
        "tensorinv": lambda: L.tensorinv(A, 1),
        "cond": lambda: L.cond(A),
        "cond_fro": lambda: L.cond(A, "fro"),
        "cholesky_solve": lambda: lib.cholesky_solve(B, L.cholesky(S)),
        "matrix_power0": lambda: L.matrix_power(A, 0),
        "slogdet_sign": lambda: L.slogdet(A)[0],
    }
    for o in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf):
        cases[f"matrix_norm{o}"] = lambda o=o: L.matrix_norm(A, o)
    for o in (0, 1, 3, -1, np.inf, -np.inf):
        cases[f"vector_norm{o}"] = lambda o=o: L.vector_norm(A, o, dim=-1)
    return _name(cases[which]())


_NAME_CASES = (
    "svd svdvals eigh eigvalsh eig qr lu lu_factor lu_unpack pinv pinverse solve_triangular "
    "lu_solve lstsq householder_product matrix_exp vander multi_dot tensorinv cond cond_fro "
    "cholesky_solve matrix_power0 slogdet_sign"
).split() + [f"matrix_norm{o}" for o in ("fro", "nuc", 2, -2, 1, -1, np.inf, -np.inf)]
_NAME_CASES += [f"vector_norm{o}" for o in (0, 1, 3, -1, np.inf, -np.inf)]


@pytest.mark.parametrize("which", _NAME_CASES)
@pytest.mark.parametrize("dt", [np.float64, np.complex128])
def test_linalg_grad_fn_names(which, dt):
    rng = np.random.default_rng(3)

    def mk(*s):
        return (
            rng.standard_normal(s) + (1j * rng.standard_normal(s) if dt != np.float64 else 0)
        ).astype(dt)

    A, R, v3 = mk(3, 3) + 3 * np.eye(3), mk(4, 3), mk(3)
    S = A @ np.conj(A.T) + np.eye(3)
    B = mk(3, 2)
    names = []
    for lib, f in ((ember, _e), (torch, _t)):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            names.append(
                _names_case(lib, which, f(A, True), f(S, True), f(B, True), f(R, True), f(v3, True))
            )
    assert names[0] == names[1].replace("torch::autograd::", "")


def test_linalg_nonfinite_and_bad_input_as_torch():
    for v in (np.nan, np.inf):
        M = np.full((2, 3, 3), v)
        e, t = ember.linalg.eigvals(_e(M)), torch.linalg.eigvals(_t(M))
        assert e.dtype == ember.complex128 and tuple(e.shape) == tuple(t.shape)
        assert np.isnan(e.numpy()).all() and np.isnan(t.numpy()).all()
        for f in ("eigh", "cholesky", "eig"):
            same_error(
                lambda f=f, M=M: getattr(ember.linalg, f)(_e(M)),
                lambda f=f, M=M: getattr(torch.linalg, f)(_t(M)),
            )
    sq, v = np.triu(np.ones((3, 3))), np.ones(3)
    calls = [
        ("solve_triangular", lambda L, a, b: L.linalg.solve_triangular(a, b, upper=True), (sq, v)),
        ("norm fro dim", lambda L, a: L.linalg.norm(a, "fro", dim=0), (sq,)),
        ("norm nuc dim", lambda L, a: L.linalg.norm(a, "nuc", dim=(1,)), (sq,)),
        ("matrix_norm None", lambda L, a: L.linalg.matrix_norm(a, None), (sq,)),
        ("matrix_norm ord", lambda L, a: L.linalg.matrix_norm(a, 3, dim=(0, 5)), (sq,)),
        ("vector_norm None", lambda L, a: L.linalg.vector_norm(a, None), (sq,)),
    ]
    for _, f, args in calls:
        same_error(
            lambda f=f, args=args: f(ember, *map(_e, args)),
            lambda f=f, args=args: f(torch, *map(_t, args)),
        )


def test_linalg_random_sweep_values():
    """A seeded sample of the sweep: batched / empty shapes, four dtypes, values vs torch."""
    rng = np.random.default_rng(4)
    for dt in (np.float32, np.float64, np.complex64, np.complex128):
        tol = 2e-3 if dt in (np.float32, np.complex64) else 1e-8
        for b in ((), (0,), (2, 1)):
            for n in (0, 1, 3):
                A = rng.standard_normal(b + (n, n)).astype(dt)
                if dt in (np.complex64, np.complex128):
                    A = A + 1j * rng.standard_normal(b + (n, n)).astype(dt)
                for f, args in (
                    ("det", ()),
                    ("inv_ex", ()),
                    ("matrix_exp", ()),
                    ("svdvals", ()),
                    ("matrix_norm", ("nuc",)),
                    ("cond", (1,)),
                    ("matrix_power", (-2,)),
                    ("pinv", ()),
                ):
                    e, t = (
                        getattr(ember.linalg, f)(_e(A), *args),
                        getattr(torch.linalg, f)(_t(A), *args),
                    )
                    e, t = (e[0], t[0]) if isinstance(t, tuple) else (e, t)
                    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1], f
                    np.testing.assert_allclose(
                        e.numpy(), t.numpy(), rtol=tol * 10, atol=tol * 10, err_msg=f
                    )


# ---- fft / stft -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda L, x: L.fft.fft2(x, s=(2, 5), dim=(-1,)),
        lambda L, x: L.fft.fftn(x, s=(4, 4, 1)),
        lambda L, x: L.fft.fft(x[:0]),
        lambda L, x: L.fft.irfftn(x[:0]),
        lambda L, x: L.fft.fft(x, norm="bad"),
        lambda L, x: L.fft.rfft(x.to(L.complex128)),
        lambda L, x: L.fft.ihfft2(x.to(L.complex64)),
        lambda L, x: L.fft.rfftn(x, dim=()),
        lambda L, x: L.fft.fftn(x, s=(-2,)),
    ],
)
def test_fft_error_families(call):
    x = np.random.default_rng(5).standard_normal(5)
    same_error(lambda: call(ember, _e(x)), lambda: call(torch, _t(x)))


_FFTS = "fft ifft rfft irfft hfft ihfft fft2 ifft2 rfft2 irfft2 hfft2 ihfft2 fftn ifftn rfftn"
_FFTS = (_FFTS + " irfftn hfftn ihfftn").split()
_REAL_ONLY = ("rfft", "ihfft", "rfft2", "ihfft2", "rfftn", "ihfftn")


@pytest.mark.parametrize(
    "f, dt",
    [(f, np.float64) for f in _FFTS] + [(f, np.complex128) for f in _FFTS if f not in _REAL_ONLY],
)
def test_fft_grad_fn_names_and_gradients(f, dt):
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4))
    x = x + 1j * rng.standard_normal((3, 4)) if dt == np.complex128 else x
    w = rng.standard_normal(8)
    res = []
    for lib, mk in ((ember, _e), (torch, _t)):
        a = mk(x, True)
        y = getattr(lib.fft, f)(a, norm="ortho")
        name = _name(y)
        if lib is torch and y.is_complex():
            y = y.resolve_conj()
        yr = lib.view_as_real(y) if y.is_complex() else y
        (yr * lib.tensor(np.resize(w, tuple(yr.shape)))).sum().backward()
        g = a.grad.resolve_conj() if lib is torch else a.grad
        res.append((name, g.numpy()))
    assert res[0][0] == res[1][0]
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-10, atol=1e-12)
    if dt == np.float64:
        assert gradcheck(
            lambda a: (
                ember.real(getattr(ember.fft, f)(a))
                if f in ("fft", "rfft2")
                else getattr(ember.fft, f)(a).abs()
            ),
            (_e(x, True),),
        )


def test_stft_istft_errors_and_names():
    x = np.random.default_rng(7).standard_normal(20)
    W = lambda L: L.hann_window(8, dtype=L.float64)  # noqa: E731
    calls = [
        lambda L, x: L.stft(x, 0, return_complex=True),
        lambda L, x: L.stft(x, 8, win_length=9, return_complex=True),
        lambda L, x: L.stft(x.reshape(1, 1, 20), 8, return_complex=True),
        lambda L, x: L.stft(x.to(L.int64), 8, return_complex=True),
        lambda L, x: L.stft(x, 8, pad_mode="foo", return_complex=True),
        lambda L, x: L.stft(x[:3], 8, return_complex=True),
        lambda L, x: L.stft(x, 8),
        lambda L, x: L.stft(x.to(L.complex128), 8, onesided=True, return_complex=True),
        lambda L, x: L.istft(x.reshape(5, 4), 8),
        lambda L, x: L.istft(L.stft(x, 8, return_complex=True)[0], 8),
        lambda L, x: L.istft(
            L.stft(x, 8, return_complex=True), 8, window=L.zeros(8, dtype=L.float64)
        ),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for c in calls:
            same_error(lambda c=c: c(ember, _e(x)), lambda c=c: c(torch, _t(x)))
        for shape in ((20,), (2, 20)):
            xs = np.resize(x, shape)
            names = []
            for lib, mk in ((ember, _e), (torch, _t)):
                s = lib.stft(mk(xs, True), 8, window=W(lib), return_complex=True)
                y = lib.istft(s.detach().requires_grad_(), 8, window=W(lib))
                names.append((_name(s), _name(y)))
            assert names[0] == names[1]


# ---- distributions --------------------------------------------------------------------------


def test_distribution_flags_as_torch():
    from torch.distributions.relaxed_bernoulli import LogitRelaxedBernoulli

    e = ED.LogitRelaxedBernoulli(ember.tensor(0.5), probs=ember.tensor([0.3]))
    assert (
        e.has_rsample
        == LogitRelaxedBernoulli(torch.tensor(0.5), probs=torch.tensor([0.3])).has_rsample
    )
    assert tuple(e.rsample((2,)).shape) == (2, 1)  # (it still draws reparameterised samples)
    for T in (TD.transforms, ED.transforms):
        with pytest.raises(NotImplementedError):
            _ = T.ReshapeTransform((6,), (2, 3)).sign
