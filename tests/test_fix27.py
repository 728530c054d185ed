"""fix27: the bad-argument gaps fuzz27 left, each checked against torch 2.13: wrong argument
types that ember read as something (a None dim as every dim, True as 1, a str's digits), mixed
or integer dtypes in linalg.cross / vecdot, NaN matrices into SVD and Cholesky (torch's
LinAlgError), and linalg's internal errors on bad dim / ord forms."""

import math

import numpy as np
import pytest

import ember
from ember._errors import BadDtype, BadShapeOrValue
from ember.linalg import LinAlgError

torch = pytest.importorskip("torch")

NAN_MAT = [[float("nan"), 1.0], [1.0, 1.0]]


def _x(lib):
    return lib.arange(24, dtype=lib.float32).reshape(2, 3, 4)


def _refused(call, exc, match, torch_exc=None):
    """call(lib) raises in torch (TypeError for a TypeError ``exc``, else RuntimeError, unless
    ``torch_exc`` says) and ember raises ``exc`` (an instance of torch's class too), its
    message matching ``match``."""
    torch_exc = torch_exc or (TypeError if issubclass(exc, TypeError) else RuntimeError)
    with pytest.raises(torch_exc):
        call(torch)
    with pytest.raises(exc, match=match or None) as info:
        call(ember)
    assert isinstance(info.value, torch_exc)


# ---- wrong argument types (were read as something and gave a result) ----------------------


@pytest.mark.parametrize("dim1", [None, [], ()])
def test_transpose_refuses_a_dim_that_is_not_an_int(dim1):
    # transpose(0, None) returned x unchanged (None / [] read as _axes' "all dims", axis 0)
    _refused(lambda L: _x(L).transpose(0, dim1), TypeError, "dim1 must be an int")
    _refused(lambda L: L.transpose(_x(L), dim1, 0), TypeError, "dim0 must be an int")


@pytest.mark.parametrize(
    "call",
    [
        lambda L: _x(L).pow((0,)),
        lambda L: _x(L).clamp((0,)),
        lambda L: _x(L).clamp(0, [5]),
        lambda L: _x(L).split("2"),
        lambda L: _x(L).add(_x(L), alpha=(0,)),
        lambda L: _x(L).sub(_x(L), alpha=None),
        lambda L: _x(L).diff(True),
        lambda L: _x(L).diff(n=True),
        lambda L: _x(L).tril(True),
        lambda L: _x(L).triu(diagonal=False),
        lambda L: _x(L).chunk(True),
        lambda L: _x(L).kthvalue(True),
        lambda L: _x(L).softmax(None),
        lambda L: _x(L).log_softmax(dim=None),
        lambda L: _x(L).max(None),
        lambda L: _x(L).min(dim=None),
        lambda L: _x(L).flip(None),
        lambda L: L.flip(_x(L), dims=None),
        lambda L: _x(L).squeeze(None),
        lambda L: _x(L).diagonal(True),
        lambda L: _x(L).rot90(True),
        lambda L: _x(L).logsumexp(None),
        lambda L: L.linalg.diagonal(_x(L), offset=True),
        lambda L: L.linalg.tensorinv(L.eye(4).reshape(2, 2, 2, 2), ind=True),
    ],
)
def test_wrong_argument_types_are_refused_as_torch(call):
    _refused(call, TypeError, "")


def test_the_accepted_forms_still_compute_as_torch():
    for call in (
        lambda L: _x(L).max(),
        lambda L: _x(L).min(1)[0],
        lambda L: _x(L).split([1, 2], 1)[1],
        lambda L: _x(L).split((2, 2), -1)[0],
        lambda L: _x(L).tril(np.int64(1)),
        lambda L: _x(L).diff(np.int64(2), 1),
        lambda L: _x(L).kthvalue(np.int64(2), 1)[0],
        lambda L: _x(L).chunk(np.int64(2), 2)[1],
        lambda L: _x(L).transpose(np.int64(0), -1),
        lambda L: _x(L).add(_x(L), alpha=2),
        lambda L: _x(L).diagonal(np.int64(1), 1, 2),
        lambda L: _x(L).rot90(np.int64(3), (1, 2)),
        lambda L: _x(L).unsqueeze(0).squeeze(),
        lambda L: _x(L).unsqueeze(1).squeeze(1),
    ):
        np.testing.assert_array_equal(call(ember).numpy(), call(torch).numpy())
    got, want = _x(ember).softmax(1), _x(torch).softmax(1)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    # F.softmax keeps torch's implicit dim (with its warning): only the method refuses None
    with pytest.warns(UserWarning, match="Implicit dimension"):
        got = ember.nn.functional.softmax(_x(ember), None)
    with pytest.warns(UserWarning):
        want = torch.nn.functional.softmax(_x(torch), None)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_clamp_in_place_refuses_complex_as_clamp():
    # x.clamp_(0, 1) of a complex x clipped by NumPy's complex order; clamp refused already
    with pytest.raises(NotImplementedError):
        torch.ones(3, dtype=torch.complex64).clamp_(0, 1)
    x = ember.ones(3, dtype=ember.complex64)
    with pytest.raises(TypeError, match="complex"):
        x.clamp_(0, 1)
    np.testing.assert_array_equal(x.numpy(), np.ones(3, np.complex64))  # untouched


# ---- linalg: dim / ord / UPLO forms -------------------------------------------------------


@pytest.mark.parametrize(
    "dim, exc, match",
    [
        (0, TypeError, "2-tuple of ints, not int"),
        (None, TypeError, "2-tuple of ints, not NoneType"),
        ((0,), BadShapeOrValue, "dim must be a 2-tuple"),
        ([0, 1, 1], BadShapeOrValue, "dim must be a 2-tuple"),
        ((0.0, 1.0), TypeError, "must be an int"),
    ],
)
def test_matrix_norm_bad_dim_forms_raise_torchs_errors(dim, exc, match):
    # were _two_dims' "takes 4 positional arguments" or "Value after * must be an iterable"
    _refused(lambda L: L.linalg.matrix_norm(L.ones(3, 3), dim=dim), exc, match)


def test_a_0d_tensor_ord_and_lowercase_uplo_are_taken_as_torch():
    A = np.arange(9, dtype=np.float32).reshape(3, 3)
    for ord in (2.0, 1, -math.inf):
        got = ember.linalg.norm(ember.tensor(A), ember.tensor(ord))
        want = torch.linalg.norm(torch.tensor(A), torch.tensor(ord))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5)
    got = ember.linalg.matrix_norm(ember.tensor(A), ember.tensor(1.0))
    np.testing.assert_allclose(got.numpy(), torch.linalg.matrix_norm(torch.tensor(A), 1.0))
    S = np.array([[2.0, 1.0], [5.0, 3.0]])  # the two triangles differ: UPLO picks one
    for uplo in ("u", "l"):
        got = ember.linalg.eigvalsh(ember.tensor(S), UPLO=uplo).numpy()
        np.testing.assert_allclose(got, torch.linalg.eigvalsh(torch.tensor(S), UPLO=uplo))
        got = ember.linalg.eigh(ember.tensor(S), UPLO=uplo).eigenvalues.numpy()
        np.testing.assert_allclose(got, torch.linalg.eigh(torch.tensor(S), UPLO=uplo)[0])
    _refused(lambda L: L.linalg.eigh(L.tensor(S), UPLO="lower"), BadShapeOrValue, "UPLO")


# ---- linalg: dtypes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda L: L.linalg.cross(L.ones(3), L.ones(3, dtype=L.float64)), "expected scalar type"),
        (lambda L: L.linalg.cross(L.ones(3), L.ones(3, dtype=L.int64)), "expected scalar type"),
        (lambda L: L.cross(L.ones(3), L.ones(3, dtype=L.float64), dim=0), "expected scalar"),
        (lambda L: L.linalg.vecdot(L.ones(3), L.ones(3, dtype=L.float64)), "same dtype"),
        (lambda L: L.linalg.vecdot(L.ones(3), L.ones(3, dtype=L.int32)), "same dtype"),
        (lambda L: L.linalg.vecdot(L.ones(3, dtype=L.int64), L.ones(3, dtype=L.int64)), "float"),
        (lambda L: L.linalg.vecdot(L.ones(3, dtype=L.bool), L.ones(3, dtype=L.bool)), "float"),
    ],
)
def test_cross_and_vecdot_refuse_mixed_or_integer_dtypes(call, match):
    _refused(call, BadDtype, match, RuntimeError)


def test_cross_and_vecdot_of_one_dtype_still_compute():
    a, b = np.array([1, 2, 3]), np.array([4, -5, 6])
    for dt in ("int64", "float32"):
        got = ember.linalg.cross(ember.tensor(a.astype(dt)), ember.tensor(b.astype(dt)))
        want = torch.linalg.cross(torch.tensor(a.astype(dt)), torch.tensor(b.astype(dt)))
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    z = (a + 1j * b).astype(np.complex64)
    got = ember.linalg.vecdot(ember.tensor(z), ember.tensor(z[::-1].copy()))
    want = torch.linalg.vecdot(torch.tensor(z), torch.tensor(z[::-1].copy()))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


# ---- linalg: NaN matrices (torch's LinAlgError, not NaN factors) --------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda L: L.linalg.svd(L.tensor(NAN_MAT)),
        lambda L: L.linalg.svdvals(L.tensor(NAN_MAT)),
        lambda L: L.linalg.pinv(L.tensor(NAN_MAT)),
        lambda L: L.pinverse(L.tensor(NAN_MAT)),
        lambda L: L.linalg.cond(L.tensor(NAN_MAT)),
        lambda L: L.linalg.matrix_norm(L.tensor(NAN_MAT), 2),
        lambda L: L.linalg.matrix_norm(L.tensor(NAN_MAT), "nuc"),
        lambda L: L.svd(L.tensor(NAN_MAT)),
    ],
)
def test_svd_of_a_nan_matrix_raises_as_torch(call):
    _refused(call, LinAlgError, "failed to converge because the input matrix contained non-finite")


def test_svd_nan_error_names_the_batch_element_and_inf_still_gives_nan():
    A = np.array([np.eye(2), NAN_MAT])
    _refused(lambda L: L.linalg.svd(L.tensor(A)), LinAlgError, r"\(Batch element 1\)")
    inf = [[math.inf, 1.0], [1.0, 1.0]]  # torch: NaN singular values, no error
    got = ember.linalg.svdvals(ember.tensor(inf)).numpy()
    want = torch.linalg.svdvals(torch.tensor(inf)).numpy()
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))


@pytest.mark.parametrize(
    "A, order",
    [
        (NAN_MAT, 1),
        ([[4.0, 1.0], [1.0, math.nan]], 2),
        (np.array([np.eye(2), NAN_MAT]), 1),
    ],
)
def test_cholesky_of_a_nan_matrix_raises_as_torch(A, order):
    _refused(lambda L: L.linalg.cholesky(L.tensor(A)), LinAlgError, f"order {order} is not")
    _refused(lambda L: L.cholesky(L.tensor(A)), LinAlgError, "not positive-definite")
    # cholesky_ex still reports rather than raises
    info = ember.linalg.cholesky_ex(ember.tensor(A)).info.numpy()
    np.testing.assert_array_equal(info, torch.linalg.cholesky_ex(torch.tensor(A)).info.numpy())


def test_cholesky_reads_one_triangle_so_a_nan_in_the_other_is_fine():
    A = [[4.0, math.nan], [1.0, 1.0]]  # the upper (unread) triangle holds the NaN
    got = ember.linalg.cholesky(ember.tensor(A)).numpy()
    np.testing.assert_allclose(got, torch.linalg.cholesky(torch.tensor(A)).numpy(), rtol=1e-6)
