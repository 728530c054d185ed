"""torch.linalg's LU family (lu_factor(_ex), lu, lu_solve, lu_unpack), the *_ex forms
(cholesky_ex, inv_ex, solve_ex) and householder_product against torch: values, 1-based int32
pivots, info, gradients (float64 finite differences and torch's) and bad input."""

import numpy as np
import pytest

import ember
from ember import linalg as el
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")

SHAPES = [(4, 4), (3, 5), (5, 3), (2, 3, 4, 4), (2, 6, 3), (2, 3, 5), (1, 1)]


def close(e, t, tol=1e-12):
    np.testing.assert_allclose(np.asarray(e), np.asarray(t), rtol=tol, atol=tol)


@pytest.mark.parametrize("shape", SHAPES)
def test_lu_factor_and_lu_match_torch(shape):
    A = np.random.default_rng(0).standard_normal(shape)
    LU, piv = el.lu_factor(ember.tensor(A))
    tLU, tpiv = torch.linalg.lu_factor(torch.tensor(A))
    assert piv.dtype == ember.int32 and tuple(piv.shape) == tuple(tpiv.shape)
    np.testing.assert_array_equal(piv.numpy(), tpiv.numpy())
    close(LU.numpy(), tLU.numpy())
    P, L, U = el.lu(ember.tensor(A))
    tP, tL, tU = torch.linalg.lu(torch.tensor(A))
    for e, t in [(P, tP), (L, tL), (U, tU)]:
        assert tuple(e.shape) == tuple(t.shape)
        close(e.numpy(), t.numpy())
    close((P.numpy() @ L.numpy() @ U.numpy()), A)  # A = P L U
    # float32 stays float32
    LU32, _ = el.lu_factor(ember.tensor(A.astype(np.float32)))
    assert LU32.dtype == ember.float32
    close(LU32.numpy(), tLU.numpy(), tol=1e-4)


@pytest.mark.parametrize("shape", SHAPES)
def test_lu_gradients(shape):
    rng = np.random.default_rng(1)
    A = rng.standard_normal(shape)
    assert gradcheck(lambda x: el.lu(x)[1:], (ember.tensor(A, requires_grad=True),))
    assert gradcheck(lambda x: el.lu_factor(x)[0], (ember.tensor(A, requires_grad=True),))
    a, ta = ember.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    _, L, U = el.lu(a)
    _, tL, tU = torch.linalg.lu(ta)
    wL, wU = rng.standard_normal(tuple(L.shape)), rng.standard_normal(tuple(U.shape))
    ((L * ember.tensor(wL)).sum() + (U * ember.tensor(wU)).sum()).backward()
    ((tL * torch.tensor(wL)).sum() + (tU * torch.tensor(wU)).sum()).backward()
    close(a.grad.numpy(), ta.grad.numpy())
    # only one of L, U used: the other's gradient is zero
    b, tb = ember.tensor(A, requires_grad=True), torch.tensor(A, requires_grad=True)
    el.lu(b).U.sum().backward()
    torch.linalg.lu(tb).U.sum().backward()
    close(b.grad.numpy(), tb.grad.numpy())


@pytest.mark.parametrize("left", [True, False])
@pytest.mark.parametrize("adjoint", [False, True])
def test_lu_solve_matches_torch_with_gradients(left, adjoint):
    rng = np.random.default_rng(2)
    A = rng.standard_normal((2, 4, 4))
    B = rng.standard_normal((2, 4, 3) if left else (2, 3, 4))
    tLU, tpiv = torch.linalg.lu_factor(torch.tensor(A))
    LU, piv = el.lu_factor(ember.tensor(A))
    X = el.lu_solve(LU, piv, ember.tensor(B), left=left, adjoint=adjoint)
    tX = torch.linalg.lu_solve(tLU, tpiv, torch.tensor(B), left=left, adjoint=adjoint)
    close(X.numpy(), tX.numpy())
    # X solves the system it names
    M = np.swapaxes(A, -1, -2) if adjoint else A
    close(M @ X.numpy() if left else X.numpy() @ M, B, tol=1e-10)
    lu0, b0 = ember.tensor(LU.numpy(), requires_grad=True), ember.tensor(B, requires_grad=True)

    def f(lu, b):
        return el.lu_solve(lu, piv, b, left=left, adjoint=adjoint)

    assert gradcheck(f, (lu0, b0))
    lu1, b1 = ember.tensor(LU.numpy(), requires_grad=True), ember.tensor(B, requires_grad=True)
    tl, tb = tLU.clone().requires_grad_(), torch.tensor(B, requires_grad=True)
    W = rng.standard_normal(tuple(X.shape))
    (f(lu1, b1) * ember.tensor(W)).sum().backward()
    (
        torch.linalg.lu_solve(tl, tpiv, tb, left=left, adjoint=adjoint) * torch.tensor(W)
    ).sum().backward()
    close(lu1.grad.numpy(), tl.grad.numpy(), tol=1e-10)
    close(b1.grad.numpy(), tb.grad.numpy(), tol=1e-10)


def test_lu_unpack_matches_torch():
    tLU, tpiv = torch.linalg.lu_factor(torch.randn(2, 5, 3, dtype=torch.float64))
    LU, piv = ember.tensor(tLU.numpy()), ember.tensor(tpiv.numpy())
    for unpack_data, unpack_pivots in [(True, True), (False, True), (True, False)]:
        got = ember.lu_unpack(LU, piv, unpack_data=unpack_data, unpack_pivots=unpack_pivots)
        want = torch.lu_unpack(tLU, tpiv, unpack_data=unpack_data, unpack_pivots=unpack_pivots)
        for e, t in zip(got, want):
            assert tuple(e.shape) == tuple(t.shape)
            close(e.numpy(), t.numpy())
    x = ember.tensor(tLU.numpy(), requires_grad=True)
    assert gradcheck(lambda v: el.lu_unpack(v, piv)[1:], (x,))


def test_singular_matrices_report_info_as_torch():
    S = np.array([[[1.0, 2], [2, 4]], [[2.0, 0], [0, 3]], [[0.0, 0], [0, 1]]])
    r, t = el.lu_factor_ex(ember.tensor(S)), torch.linalg.lu_factor_ex(torch.tensor(S))
    np.testing.assert_array_equal(r.info.numpy(), t.info.numpy())
    np.testing.assert_array_equal(r.pivots.numpy(), t.pivots.numpy())
    assert r.info.dtype == ember.int32
    close(r.LU.numpy(), t.LU.numpy())
    P, L, U = el.lu(ember.tensor(S))  # lu factors singular matrices without complaint
    close(P.numpy() @ L.numpy() @ U.numpy(), S)
    r, t = el.inv_ex(ember.tensor(S)), torch.linalg.inv_ex(torch.tensor(S))
    np.testing.assert_array_equal(r.info.numpy(), t.info.numpy())
    # the singular matrices give torch's inf/NaN through the zero pivot (session 42)
    np.testing.assert_array_equal(r.inverse.numpy(), t.inverse.numpy())
    B = np.arange(6.0).reshape(3, 2, 1)
    r, t = (
        el.solve_ex(ember.tensor(S), ember.tensor(B)),
        torch.linalg.solve_ex(torch.tensor(S), torch.tensor(B)),
    )
    np.testing.assert_array_equal(r.info.numpy(), t.info.numpy())
    np.testing.assert_array_equal(r.result.numpy(), t.result.numpy())
    rv = el.solve_ex(ember.tensor(S), ember.tensor(B[..., 0]))  # a batch of vectors
    tv = torch.linalg.solve_ex(torch.tensor(S), torch.tensor(B[..., 0]))
    assert rv.result.shape == (3, 2)
    np.testing.assert_array_equal(rv.result.numpy(), tv.result.numpy())
    with pytest.raises(el.LinAlgError, match="lu_factor.*batch element 0.*U\\[2,2\\]"):
        el.lu_factor(ember.tensor(S))
    with pytest.raises(el.LinAlgError, match="inv_ex.*batch element 0"):
        el.inv_ex(ember.tensor(S), check_errors=True)
    with pytest.raises(el.LinAlgError, match="solve_ex"):
        el.solve_ex(ember.tensor(S), ember.tensor(B), check_errors=True)
    with pytest.raises(el.LinAlgError, match="lu_factor_ex"):
        el.lu_factor_ex(ember.tensor(S), check_errors=True)


def test_ex_forms_on_good_matrices_match_and_differentiate():
    rng = np.random.default_rng(3)
    M = rng.standard_normal((2, 3, 3))
    A = M @ np.swapaxes(M, -1, -2) + 3 * np.eye(3)
    r, t = el.cholesky_ex(ember.tensor(A)), torch.linalg.cholesky_ex(torch.tensor(A))
    close(r.L.numpy(), t.L.numpy())
    np.testing.assert_array_equal(r.info.numpy(), [0, 0])
    close(
        el.cholesky_ex(ember.tensor(A), upper=True).L.numpy(),
        torch.linalg.cholesky_ex(torch.tensor(A), upper=True).L.numpy(),
    )
    B = rng.standard_normal((2, 3, 2))
    close(
        el.inv_ex(ember.tensor(M)).inverse.numpy(),
        torch.linalg.inv_ex(torch.tensor(M)).inverse.numpy(),
    )
    close(el.solve_ex(ember.tensor(M), ember.tensor(B)).result.numpy(), np.linalg.solve(M, B))
    close(
        el.solve_ex(ember.tensor(M), ember.tensor(B[..., 0]), left=True).result.numpy(),
        np.linalg.solve(M, B[..., :1])[..., 0],
    )
    # (symmetrised: cholesky reads one triangle, its gradient is the symmetric one, as torch's)
    sym = lambda x: el.cholesky_ex((x + x.mT) / 2).L  # noqa: E731
    assert gradcheck(sym, (ember.tensor(A, requires_grad=True),))
    assert gradcheck(lambda x: el.inv_ex(x).inverse, (ember.tensor(M, requires_grad=True),))
    assert gradcheck(
        lambda x, b: el.solve_ex(x, b).result,
        (ember.tensor(M, requires_grad=True), ember.tensor(B, requires_grad=True)),
    )


def test_cholesky_ex_info_names_the_leading_minor():
    A = np.array(
        [
            [[4.0, 2, 0], [2, 1, 0], [0, 0, 1]],
            [[4.0, 2, 0], [2, 5, 0], [0, 0, 1]],
            [[1.0, 0, 0], [0, 1, 0], [0, 0, -1]],
        ]
    )
    r, t = el.cholesky_ex(ember.tensor(A)), torch.linalg.cholesky_ex(torch.tensor(A))
    np.testing.assert_array_equal(r.info.numpy(), t.info.numpy())
    close(r.L.numpy()[1], t.L.numpy()[1])
    with pytest.raises(el.LinAlgError, match="leading minor of order 2"):
        el.cholesky_ex(ember.tensor(A), check_errors=True)


@pytest.mark.parametrize("shape,k", [((5, 3), 2), ((2, 4, 4), 4), ((3, 6, 2), 1)])
def test_householder_product_matches_torch(shape, k):
    rng = np.random.default_rng(4)
    A, tau = rng.standard_normal(shape), rng.standard_normal(shape[:-2] + (k,))
    Q = el.householder_product(ember.tensor(A), ember.tensor(tau))
    close(Q.numpy(), torch.linalg.householder_product(torch.tensor(A), torch.tensor(tau)).numpy())
    assert gradcheck(
        el.householder_product,
        (ember.tensor(A, requires_grad=True), ember.tensor(tau, requires_grad=True)),
    )
    # with geqrf's reflectors it is QR's Q
    tA, ttau = torch.geqrf(torch.tensor(A))
    Q = el.householder_product(ember.tensor(tA.numpy()), ember.tensor(ttau.numpy()))
    close(Q.numpy(), np.linalg.qr(A)[0], tol=1e-10)


def test_ldl_factor_and_solve_match_torch():
    # Bunch-Kaufman's 1 x 1 and 2 x 2 pivots (small diagonals force 2 x 2 blocks), zero columns
    rng = np.random.default_rng(5)
    for t in range(120):
        n = int(rng.integers(1, 9))
        M = rng.standard_normal((n, n))
        if t % 3 == 0:
            M[np.diag_indices(n)] *= 0.01
        if t % 7 == 0:
            M[:, 0] = 0
        A = M + M.T
        r, tr = el.ldl_factor_ex(ember.tensor(A)), torch.linalg.ldl_factor_ex(torch.tensor(A))
        np.testing.assert_array_equal(r.pivots.numpy(), tr.pivots.numpy())
        assert r.info.item() == tr.info.item() and r.pivots.dtype == ember.int32
        close(r.LD.numpy(), tr.LD.numpy())
        if tr.info.item() == 0:
            B = rng.standard_normal((n, 2))
            X = el.ldl_solve(r.LD, r.pivots, ember.tensor(B)).numpy()
            close(X, torch.linalg.ldl_solve(tr.LD, tr.pivots, torch.tensor(B)).numpy(), tol=1e-10)
            close(A @ X, B, tol=1e-8)
    # batches, broadcasting B, float32
    A = rng.standard_normal((2, 3, 5, 5))
    A = A + np.swapaxes(A, -1, -2)
    r, tr = el.ldl_factor(ember.tensor(A)), torch.linalg.ldl_factor(torch.tensor(A))
    close(r.LD.numpy(), tr.LD.numpy())
    B = rng.standard_normal((3, 5, 4))
    X = el.ldl_solve(r.LD, r.pivots, ember.tensor(B))
    close(X.numpy(), torch.linalg.ldl_solve(tr.LD, tr.pivots, torch.tensor(B)).numpy(), tol=1e-10)
    r32 = el.ldl_factor(ember.tensor(A.astype(np.float32)))
    assert r32.LD.dtype == ember.float32
    assert not el.ldl_factor(ember.tensor(A, requires_grad=True)).LD.requires_grad  # (torch: none)


def test_ldl_singular_and_bad_input():
    A = np.zeros((3, 3))
    A[1, 1] = 1
    assert el.ldl_factor_ex(ember.tensor(A)).info.item() == 1
    with pytest.raises(el.LinAlgError, match="ldl_factor_ex"):
        el.ldl_factor(ember.tensor(A))
    with pytest.raises(el.LinAlgError, match="ldl_factor_ex"):
        el.ldl_factor_ex(ember.tensor(A), check_errors=True)
    LD, piv = el.ldl_factor(ember.tensor(np.eye(3)))
    with pytest.raises(ValueError, match="square"):
        el.ldl_factor(ember.ones(2, 3))
    with pytest.raises(ValueError, match="do not fit"):
        el.ldl_solve(LD, piv, ember.ones(3, dtype=ember.float64))
    with pytest.raises(ValueError, match="do not fit"):
        el.ldl_solve(LD, piv, ember.ones(2, 1, dtype=ember.float64))
    with pytest.raises(TypeError, match="pivots"):
        el.ldl_solve(LD, ember.tensor([1.0, 2.0, 3.0]), ember.ones(3, 1, dtype=ember.float64))
    with pytest.raises(ValueError, match="pivots"):
        el.ldl_solve(
            LD, ember.tensor(np.array([1, 2], np.int32)), ember.ones(3, 1, dtype=ember.float64)
        )
    with pytest.raises(ValueError, match="between 1 and 3"):
        el.ldl_solve(
            LD, ember.tensor(np.array([1, 2, 4], np.int32)), ember.ones(3, 1, dtype=ember.float64)
        )


def test_bad_input():
    good = ember.tensor(np.eye(3))
    piv = ember.tensor(np.array([1, 2, 3], np.int32))
    with pytest.raises(TypeError, match="floating point"):
        el.lu_factor(ember.tensor([[1, 2], [3, 4]]))
    with pytest.raises(ValueError, match="matrices"):
        el.lu(ember.ones(3))
    with pytest.raises(NotImplementedError, match="without pivoting"):
        el.lu_factor(good, pivot=False)
    with pytest.raises(ValueError, match="square"):
        el.inv_ex(ember.ones(2, 3))
    with pytest.raises(ValueError, match="square"):
        el.cholesky_ex(ember.ones(2, 3))
    with pytest.raises(ValueError, match="square"):
        el.lu_solve(ember.ones(2, 3), piv, ember.ones(2, 1))
    with pytest.raises(TypeError, match="integer"):
        el.lu_solve(good, ember.tensor([1.0, 2.0, 3.0]), ember.ones(3, 1))
    with pytest.raises(ValueError, match="between 1 and"):
        el.lu_unpack(good, ember.tensor(np.array([1, 2, 7], np.int32)))
    with pytest.raises(ValueError, match="do not fit"):
        el.lu_unpack(good, ember.tensor(np.array([1, 2], np.int32)))
    with pytest.raises(ValueError, match="do not fit"):
        el.lu_solve(good, piv, ember.ones(2, 1, dtype=ember.float64))
    with pytest.raises(TypeError, match="lu_solve"):
        el.lu_solve(good, piv, ember.ones(3, 1))  # float32 B with a float64 LU
    with pytest.raises(ValueError, match="householder_product"):
        el.householder_product(ember.ones(3, 4), ember.ones(2))
    with pytest.raises(ValueError, match="householder_product"):
        el.householder_product(ember.ones(4, 3), ember.ones(4))
    with pytest.raises(TypeError, match="householder_product"):
        el.householder_product(ember.ones(4, 3), ember.ones(2, dtype=ember.float64))
