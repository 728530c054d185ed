"""Bad input refused as torch refuses it (fuzz25's leftovers): a float where condition, renorm's
bounds, logsumexp(dim=[]), ints past int64, non-bool keepdim, a list of tensors as an F.*
input, index assignment's exception classes, var(correction=nan)."""

import numpy as np
import pytest

import ember
import ember.nn.functional as EF

BIG = 2**63


def _torch():
    return pytest.importorskip("torch")


def _x(L):
    return L.tensor(np.arange(12.0, dtype=np.float32).reshape(3, 4) - 5)


def _exc(fn):
    try:
        fn()
    except Exception as e:  # noqa: BLE001 (the class is what is compared)
        return type(e)
    return None


def _same_refusal(case):
    torch = _torch()
    want = _exc(lambda: case(torch))
    assert want is not None
    got = _exc(lambda: case(ember))
    # (ember's BadShapeOrValue is torch's RuntimeError and design.md's ValueError at once)
    assert got is not None and issubclass(got, want), (got, want)


def test_where_refuses_a_non_bool_condition():
    for dt in ("float32", "int64"):
        _same_refusal(lambda L, dt=dt: L.where(_x(L).to(getattr(L, dt)), _x(L), _x(L)))
    x = _x(ember)
    with pytest.raises(RuntimeError, match="boolean tensor.*float32"):
        ember.where(x, x, x)


@pytest.mark.parametrize("p, maxnorm", [(2, -1.0), (2, float("nan")), (float("nan"), 1.0)])
def test_renorm_refuses_bad_p_and_maxnorm(p, maxnorm):
    _same_refusal(lambda L: _x(L).renorm(p, 0, maxnorm))
    with pytest.raises(RuntimeError, match="renorm: (non-positive-norm|expected maxnorm)"):
        _x(ember).renorm(p, 0, maxnorm)


def test_logsumexp_refuses_an_empty_dim_list():
    for dim in ([], ()):
        _same_refusal(lambda L, d=dim: L.logsumexp(_x(L), dim=d))
    with pytest.raises(RuntimeError, match="names no dimension"):
        ember.logsumexp(_x(ember), dim=[])


CALLS = {
    "roll": lambda x: x.roll(BIG, 0),
    "roll dims": lambda x: x.roll(1, BIG),
    "chunk": lambda x: x.chunk(BIG),
    "split": lambda x: x.split(BIG),
    "tril": lambda x: x.tril(BIG),
    "triu": lambda x: x.triu(BIG),
    "diff": lambda x: x.diff(BIG),
    "unfold dim": lambda x: x.unfold(BIG, 2, 1),
    "unfold size": lambda x: x.unfold(0, BIG, 1),
    "unfold step": lambda x: x.unfold(0, 2, BIG),
    "diagonal": lambda x: x.diagonal(BIG),
    "sum dim": lambda x: x.sum(BIG),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_ints_past_int64_overflow_as_torch(name):
    _same_refusal(lambda L: CALLS[name](_x(L)))
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        CALLS[name](_x(ember))


REDUCTIONS = ["sum", "mean", "var", "std", "amax", "amin", "argmax", "argmin", "prod", "any"]


@pytest.mark.parametrize("name", REDUCTIONS)
def test_keepdim_must_be_a_bool(name):
    for k in (1, np.int64(1), 0.0, np.bool_(True)):
        _same_refusal(lambda L, k=k: getattr(_x(L), name)(0, keepdim=k))
    with pytest.raises(TypeError, match="argument 'keepdim' must be bool, not int"):
        getattr(_x(ember), name)(0, keepdim=1)
    assert getattr(_x(ember), name)(0, keepdim=True).shape == (1, 4)  # (a bool still works)


def test_logsumexp_keepdim_must_be_a_bool():
    _same_refusal(lambda L: L.logsumexp(_x(L), 0, keepdim=1))
    with pytest.raises(TypeError, match="'keepdim' must be bool, not numpy.int64|int64"):
        ember.logsumexp(_x(ember), 0, keepdim=np.int64(1))


POOLS = {
    "max_pool2d": lambda F, x: F.max_pool2d(x, 2),
    "avg_pool2d": lambda F, x: F.avg_pool2d(x, 2),
    "pad": lambda F, x: F.pad(x, (1, 1)),
    "pad reflect": lambda F, x: F.pad(x, (1, 1), mode="reflect"),
}


@pytest.mark.parametrize("name", list(POOLS))
def test_a_list_of_tensors_is_not_an_input(name):
    torch = _torch()
    import torch.nn.functional as TF

    def case(L, F):
        x = L.tensor(np.ones((1, 2, 4, 4), np.float32))
        return lambda: POOLS[name](F, [x, x])

    assert _exc(case(torch, TF)) is TypeError
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        case(ember, EF)()


def test_index_assignment_that_does_not_broadcast_is_a_runtime_error():
    def assign(L, key, v):
        x = _x(L)
        x[key] = L.tensor(np.ones(v, np.float32))

    for key, v in [(slice(None), (3,)), (0, (2, 4))]:
        _same_refusal(lambda L, k=key, v=v: assign(L, k, v))
    with pytest.raises(RuntimeError, match="broadcast"):
        assign(ember, slice(None), (3,))


@pytest.mark.parametrize("key", [False, 0, True, None, Ellipsis])
def test_index_assignment_of_a_str_is_a_type_error(key):
    def assign(L, value):
        x = _x(L)
        x[key] = value

    _same_refusal(lambda L: assign(L, "a"))
    with pytest.raises(TypeError, match="can't assign a str"):
        assign(ember, "a")
    if key is False:
        _same_refusal(lambda L: assign(L, None))
        assign(ember, ember.ones(7))  # (no broadcast check, as torch's)


def test_var_correction_nan_is_inf_as_torch():
    torch = _torch()
    for op in ("var", "std"):
        want = getattr(_x(torch), op)(0, correction=float("nan")).numpy()
        got = getattr(_x(ember), op)(0, correction=float("nan")).numpy()
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(_x(ember).var(0, correction=float("nan")).numpy(), [np.inf] * 4)


@pytest.mark.parametrize("kw", [{"lr": float("nan")}, {"momentum": float("nan")}])
def test_sgd_takes_nan_hyperparameters_as_torch(kw):
    torch = _torch()
    kw = {"lr": 0.1, **kw}
    torch.optim.SGD([torch.nn.Parameter(torch.ones(3))], **kw)
    ember.optim.SGD([ember.nn.Parameter(ember.ones(3))], **kw)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        ember.optim.SGD([ember.nn.Parameter(ember.ones(3))], lr=-1.0)
    with pytest.raises(ValueError, match="Invalid learning rate: nan"):  # (Adam: refused, as torch)
        ember.optim.Adam([ember.nn.Parameter(ember.ones(3))], lr=float("nan"))


@pytest.mark.parametrize("flag", ["foreach", "capturable"])
def test_implementation_flags_read_by_truth_as_torch(flag):
    torch = _torch()
    for v in ("a", 2, 0):
        torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], lr=0.1, **{flag: v})
        ember.optim.Adam([ember.nn.Parameter(ember.ones(3))], lr=0.1, **{flag: v})
    with pytest.raises(RuntimeError, match="cannot be `True` together"):
        ember.optim.Adam([ember.nn.Parameter(ember.ones(3))], foreach="a", fused=1)
