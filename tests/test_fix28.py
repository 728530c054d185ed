"""fix28: acceptance and refusal as torch 2.13's (reductions' dim=None, sequence and number
operands of binary ops, linalg's bool flags, optimisers, out=) and the double backward of
prod / cumprod at zeros."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _both(fn):
    """fn(lib) for ember and torch: (accepted, exception type) of each."""
    out = []
    for lib in (ember, torch):
        try:
            fn(lib)
            out.append(None)
        except Exception as e:  # noqa: BLE001  (the type is what is compared)
            out.append(e)
    return out


def _same_refusal(fn, match=None):
    e, t = _both(fn)
    assert t is not None, "torch accepts this call"
    assert e is not None, f"ember accepts what torch refuses ({type(t).__name__}: {t})"
    assert isinstance(e, type(t)), (type(e), type(t), e)
    if match is not None:
        assert match in str(e), str(e)


def _x(lib):
    return lib.arange(6.0).reshape(2, 3) + 1


# ---- 1. reductions: an explicit dim=None is torch's TypeError (left out: the whole tensor) ----

_NONE_DIM = {
    "median f": lambda m: m.median(_x(m), None),
    "median kw keepdim": lambda m: m.median(_x(m), dim=None, keepdim=True),
    "median method": lambda m: _x(m).median(None),
    "nanmedian f": lambda m: m.nanmedian(_x(m), None),
    "nanmedian method": lambda m: _x(m).nanmedian(dim=None),
    "prod f": lambda m: m.prod(_x(m), None),
    "prod kw keepdim": lambda m: m.prod(_x(m), dim=None, keepdim=True),
    "prod method": lambda m: _x(m).prod(None),
    "max f": lambda m: m.max(_x(m), None),
    "min kw": lambda m: m.min(_x(m), dim=None),
}


@pytest.mark.parametrize("name", sorted(_NONE_DIM))
def test_reduction_dim_none_refused(name):
    _same_refusal(_NONE_DIM[name], match="must be int, not NoneType")


def test_reductions_without_dim_still_reduce_everything():
    x = ember.tensor([[3.0, 1.0, 2.0], [5.0, 4.0, 0.5]])
    assert ember.median(x).item() == 2.0 and x.nanmedian().item() == 2.0
    assert ember.prod(x).item() == 60.0 and x.prod(dtype=ember.float64).item() == 60.0
    assert x.max().item() == 5.0 and ember.min(x).item() == 0.5
    np.testing.assert_array_equal(ember.median(x, 1).values.numpy(), [2.0, 4.0])
    np.testing.assert_array_equal(x.prod(1, keepdim=True).numpy(), [[6.0], [10.0]])
    assert x.max(dim=1).values.tolist() == [3.0, 5.0]


# ---- 2. operands: no lists / tuples; Tensor-only ops take no Python number ----

_OPERANDS = {
    "mul tuple": lambda m: m.mul(_x(m), (1, 2, 3)),
    "mul list first": lambda m: m.mul([1, 2, 3], _x(m)),
    "div list": lambda m: m.div(_x(m), [1, 2, 3]),
    "sub list": lambda m: m.sub(_x(m), [1, 2, 3]),
    "add list": lambda m: m.add(_x(m), [1, 2, 3]),
    "fmod list": lambda m: m.fmod(_x(m), [1, 2, 3]),
    "remainder list": lambda m: m.remainder(_x(m), [1, 2, 3]),
    "pow list": lambda m: m.pow(_x(m), [1, 2, 3]),
    "atan2 list": lambda m: m.atan2(_x(m), [1, 2, 3]),
    "maximum list": lambda m: m.maximum(_x(m), [1, 2, 3]),
    "eq list": lambda m: m.eq(_x(m), [1, 2, 3]),
    "bitwise_and list": lambda m: m.bitwise_and(m.ones(3, dtype=m.int64), [1, 2, 3]),
    "method mul tuple": lambda m: _x(m).mul((1, 2, 3)),
    "method add_ list": lambda m: _x(m).add_([1, 2, 3]),
    "method mul_ tuple": lambda m: _x(m).mul_((1, 2, 3)),
    "x + list": lambda m: _x(m) + [1, 2, 3],
    "x / tuple": lambda m: _x(m) / (1, 2, 3),
    "x < tuple": lambda m: _x(m) < (1, 2, 3),
    "x @ list": lambda m: _x(m) @ [1, 2, 3],
    "lerp weight list": lambda m: m.lerp(_x(m), _x(m), [0.5, 0.5, 0.5]),
    "addcmul list": lambda m: m.addcmul(_x(m), _x(m), [1, 2, 3]),
    "searchsorted list seq": lambda m: m.searchsorted([1.0, 2.0], _x(m)),
    "bucketize list boundaries": lambda m: m.bucketize(_x(m), [1.0, 2.0]),
}


@pytest.mark.parametrize("name", sorted(_OPERANDS))
def test_operands_refused_as_torch(name):
    _same_refusal(_OPERANDS[name])


# design.md section 4: a Python number is an input wherever a Tensor is (torch refuses these):
# ember's result is torch's on torch.tensor(number)
_NUMBERS = {
    "nextafter": lambda m, n: m.nextafter(_x(m), n(2.0)),
    "ldexp": lambda m, n: m.ldexp(_x(m), n(2)),
    "fmod number first": lambda m, n: m.fmod(n(2), _x(m)),
    "isclose": lambda m, n: m.isclose(_x(m), n(2.0)),
    "allclose": lambda m, n: m.allclose(_x(m), n(2.0)),
    "gcd": lambda m, n: m.gcd(m.ones(3, dtype=m.int64), n(2)),
    "dist": lambda m, n: m.dist(_x(m), n(2.0)),
    "lerp end number": lambda m, n: m.lerp(_x(m), n(2.0), 0.5),
    "addcdiv number": lambda m, n: m.addcdiv(_x(m), _x(m), n(2.0)),
}


@pytest.mark.parametrize("name", sorted(_NUMBERS))
def test_numbers_are_0d_tensors_where_torch_wants_a_tensor(name):
    with pytest.raises(TypeError):  # torch refuses the bare number
        _NUMBERS[name](torch, lambda v: v)
    want = _NUMBERS[name](torch, torch.tensor)
    got = _NUMBERS[name](ember, lambda v: v)
    if isinstance(want, bool):
        assert got is want
    else:
        assert got.dtype == want.numpy().dtype
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.mul(_x(m), 2),
        lambda m: m.mul(2, _x(m)),
        lambda m: m.pow(2, _x(m)),
        lambda m: m.remainder(2, _x(m)),
        lambda m: m.fmod(_x(m), 2),
        lambda m: m.copysign(_x(m), 2),
        lambda m: m.xlogy(2, _x(m)),
        lambda m: m.bitwise_and(m.ones(3, dtype=m.int64), 2),
        lambda m: m.searchsorted(m.tensor([1.0, 2.0]), 1.5),
        lambda m: m.lerp(_x(m), _x(m), 0.5),
        lambda m: m.eq(_x(m), 2),
    ],
)
def test_number_operands_still_taken_where_torch_takes_them(call):
    e, t = _both(call)
    assert t is None and e is None, (e, t)
    np.testing.assert_allclose(np.asarray(call(ember)), call(torch).numpy())


def test_integral_alpha_refusal_is_also_a_runtime_error():
    for call in (
        lambda m: m.add(m.ones(2, dtype=m.int64), m.ones(2, dtype=m.int64), alpha=0.5),
        lambda m: m.sub(m.ones(2, dtype=m.int64), 2, alpha=1.5),
        lambda m: m.add(m.ones(2), 1, alpha=True),
    ):
        _same_refusal(call, match="alpha")


# ---- 3. linalg: bool flags take bools; solve_triangular solves in A's dtype ----

_FLAGS = {
    "matrix_rank hermitian=1": lambda L, A: L.matrix_rank(A, hermitian=1),
    "matrix_rank hermitian=None": lambda L, A: L.matrix_rank(A, hermitian=None),
    "pinv hermitian=1": lambda L, A: L.pinv(A, hermitian=1),
    "solve_triangular upper=1": lambda L, A: L.solve_triangular(A, A, upper=1),
    "solve_triangular left=None": lambda L, A: L.solve_triangular(A, A, upper=True, left=None),
    "solve_triangular unitriangular=1": lambda L, A: L.solve_triangular(
        A, A, upper=True, unitriangular=1
    ),
    "solve left=1": lambda L, A: L.solve(A, A, left=1),
    "solve_ex check_errors=1": lambda L, A: L.solve_ex(A, A, check_errors=1),
    "cholesky upper=None": lambda L, A: L.cholesky(A, upper=None),
    "cholesky_ex check_errors=None": lambda L, A: L.cholesky_ex(A, check_errors=None),
    "svd full_matrices=1": lambda L, A: L.svd(A, full_matrices=1),
    "lu pivot=1": lambda L, A: L.lu(A, pivot=1),
    "lu_factor pivot=0": lambda L, A: L.lu_factor(A, pivot=0),
    "lu_factor_ex check_errors=1": lambda L, A: L.lu_factor_ex(A, check_errors=1),
    "lu_solve adjoint=None": lambda L, A: L.lu_solve(*L.lu_factor(A), A, adjoint=None),
    "ldl_factor hermitian=1": lambda L, A: L.ldl_factor(A, hermitian=1),
    "inv_ex check_errors=None": lambda L, A: L.inv_ex(A, check_errors=None),
    "matrix_norm keepdim=1": lambda L, A: L.matrix_norm(A, keepdim=1),
    "eigh UPLO=1": lambda L, A: L.eigh(A, UPLO=1),
    "qr mode=None": lambda L, A: L.qr(A, mode=None),
    "vander N=1.0": lambda L, A: L.vander(A[0], N=1.0),
    "vecdot dim=None": lambda L, A: L.vecdot(A, A, dim=None),
    "triangular_solve upper=1": lambda L, A: _top(L).triangular_solve(A, A, upper=1),
    "cholesky_solve upper=1": lambda L, A: _top(L).cholesky_solve(A, A, upper=1),
    "cholesky_inverse upper=1": lambda L, A: _top(L).cholesky_inverse(A, upper=1),
}


def _top(linalg):
    return torch if linalg is torch.linalg else ember


@pytest.mark.parametrize("name", sorted(_FLAGS))
def test_linalg_flag_types_as_torch(name):
    _same_refusal(lambda m: _FLAGS[name](m.linalg, m.eye(3, dtype=m.float64) * 2 + 0.1))


def test_linalg_flags_given_bools_still_work():
    A = ember.eye(3, dtype=ember.float64) * 2 + 0.1
    assert ember.linalg.matrix_rank(A, hermitian=True).item() == 3
    assert ember.linalg.matrix_rank(A, hermitian=np.bool_(False)).item() == 3
    L = ember.linalg.cholesky(A, upper=False)
    np.testing.assert_allclose((L @ L.mT).numpy(), A.numpy(), atol=1e-12)


@pytest.mark.parametrize(
    "da, db", [("float64", "float32"), ("float32", "float64"), ("float64", "int64")]
)
def test_solve_triangular_mixed_dtypes_solve_in_As_dtype(da, db):
    rng = np.random.default_rng(0)
    a = np.triu(rng.standard_normal((3, 3))) + 3 * np.eye(3)
    b = rng.integers(-3, 4, (3, 2)).astype(np.float64)
    res = []
    for lib in (ember, torch):
        A = lib.tensor(a, dtype=getattr(lib, da))
        B = lib.tensor(b, dtype=getattr(lib, db))
        res.append(lib.linalg.solve_triangular(A, B, upper=True))
    assert str(res[0].dtype).split(".")[-1] == str(res[1].dtype).split(".")[-1] == da
    np.testing.assert_allclose(res[0].numpy(), res[1].numpy(), rtol=1e-6)


def test_matmul_dtype_mismatch_is_also_a_runtime_error():
    _same_refusal(lambda m: m.eye(2, dtype=m.float64) @ m.eye(2))


# ---- 6. double backward of prod / cumprod through zeros, against torch ----


def _second(lib, f, xv, wv, vv):
    x = lib.tensor(xv, dtype=lib.float64, requires_grad=True)
    (g,) = lib.autograd.grad((f(lib, x) * lib.tensor(wv)).sum(), x, create_graph=True)
    (h,) = lib.autograd.grad((g * lib.tensor(vv)).sum(), x)
    return g.detach().numpy(), h.numpy()


@pytest.mark.parametrize(
    "xv",
    [
        [[0.0, 1.5, -2.0, 0.5], [1.0, 2.0, 3.0, -1.0]],  # one zero in a row
        [[0.0, 1.5, 0.0, 0.5], [1.0, 0.0, 3.0, -1.0]],  # two zeros in a row
        [[2.0, 1.5, -2.0, 0.0], [0.0, 0.0, 0.0, 0.0]],
    ],
)
@pytest.mark.parametrize(
    "f",
    [
        lambda m, x: m.cumprod(x, 1),
        lambda m, x: m.cumprod(x, 0),
        lambda m, x: m.prod(x, 1),
        lambda m, x: m.prod(x, 0, keepdim=True),
        lambda m, x: m.prod(x),
        lambda m, x: x[0].prod(),
    ],
)
def test_double_backward_of_products_through_zeros(xv, f):
    rng = np.random.default_rng(1)
    wv = rng.standard_normal(tuple(f(torch, torch.tensor(xv, dtype=torch.float64)).shape))
    vv = rng.standard_normal(np.shape(xv))
    ge, he = _second(ember, f, xv, wv, vv)
    gt, ht = _second(torch, f, xv, wv, vv)
    np.testing.assert_allclose(ge, gt, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(he, ht, rtol=1e-12, atol=1e-12)


# ---- 4. optimisers: what torch checks at construction, and its error classes ----

_OPTIMS = ["SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "RMSprop"]


@pytest.mark.parametrize("name", _OPTIMS)
def test_bool_hyperparameters_are_numbers_as_torch(name):
    for lib in (ember, torch):
        p = lib.zeros(3, requires_grad=True)
        opt = getattr(lib.optim, name)([p], lr=True, weight_decay=True)
        assert opt.param_groups[0]["lr"] is True


@pytest.mark.parametrize("name", _OPTIMS)
def test_a_groups_own_values_are_not_checked_as_torch(name):
    got = []
    for lib in (ember, torch):
        p, q = lib.zeros(3, requires_grad=True), lib.zeros(2, requires_grad=True)
        opt = getattr(lib.optim, name)([{"params": [p], "lr": -1.0}], lr=0.1)
        opt.add_param_group({"params": [q], "lr": -2})
        got.append([g["lr"] for g in opt.param_groups])
    assert got[0] == got[1] == [-1.0, -2]
    # the constructor's own values are still checked, as torch's
    _same_refusal(lambda m: getattr(m.optim, name)([m.zeros(3, requires_grad=True)], lr=-1.0))


def test_muon_still_refuses_non_matrix_parameters_in_added_groups():
    opt = ember.optim.Muon([ember.zeros(2, 2, requires_grad=True)])
    with pytest.raises(ValueError, match="only supports 2D parameters"):
        opt.add_param_group({"params": [ember.zeros(3, requires_grad=True)]})
    assert len(opt.param_groups) == 1


def test_integer_parameters_and_bad_grads_refused_as_runtime_errors():
    with pytest.raises(RuntimeError, match="float tensors"):  # (torch fails at the step)
        ember.optim.SGD([ember.zeros(3, dtype=ember.int64)], lr=0.1)
    _same_refusal(lambda m: setattr(m.zeros(3, requires_grad=True), "grad", m.ones(2)))
    _same_refusal(
        lambda m: setattr(m.zeros(3, requires_grad=True), "grad", m.ones(3, dtype=m.float64))
    )


# ---- 5. out=: linalg's strict dtypes, and memory shared with an input ----

_OUT_REFUSED = {
    "cholesky float32 out": lambda m, A: m.linalg.cholesky(A, out=m.empty(0)),
    "solve_triangular float32 out": lambda m, A: m.linalg.solve_triangular(
        A, A, upper=True, out=m.empty(0)
    ),
    "matrix_power float32 out": lambda m, A: m.linalg.matrix_power(A, 2, out=m.empty(0)),
    "eigh float32 outs": lambda m, A: m.linalg.eigh(A, out=(m.empty(0), m.empty(0))),
    "qr float32 outs": lambda m, A: m.linalg.qr(A, out=(m.empty(0), m.empty(0))),
    "lu_factor int64 pivots": lambda m, A: m.linalg.lu_factor(
        A, out=(m.empty(0, dtype=m.float64), m.empty(0, dtype=m.int64))
    ),
    "bucketize float out": lambda m, A: m.bucketize(A, A[0], out=m.empty(0)),
    "bucketize int32 out": lambda m, A: m.bucketize(A, A[0], out=m.empty(0, dtype=m.int32)),
    "masked_select into its input": lambda m, A: m.masked_select(A, A > 1, out=A),
    "add into a row of its input": lambda m, A: m.add(A, A, out=A[0]),
    "add into its transpose": lambda m, A: m.add(A, 1, out=A.T),
}


@pytest.mark.parametrize("name", sorted(_OUT_REFUSED))
def test_out_refused_as_torch(name):
    _same_refusal(lambda m: _OUT_REFUSED[name](m, m.eye(3, dtype=m.float64) * 2 + 0.1))


def test_out_that_is_its_input_or_apart_still_works():
    for lib in (ember, torch):
        a = lib.arange(6.0).reshape(2, 3)
        assert lib.exp(a, out=a) is a
        np.testing.assert_allclose(a.numpy(), np.exp(np.arange(6.0).reshape(2, 3)), rtol=1e-6)
        b = lib.arange(6.0)
        lib.neg(b[:3], out=b[3:])  # the same storage, no shared element
        assert b.tolist() == [0.0, 1.0, 2.0, -0.0, -1.0, -2.0]
        v, i = lib.empty(0), lib.empty(0, dtype=lib.int64)
        lib.kthvalue(lib.tensor([[3.0, 1.0, 2.0]]), 2, out=(v, i))
        assert v.tolist() == [2.0] and i.tolist() == [2]
