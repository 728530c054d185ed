"""fix28b: argument types as torch 2.13 takes them -- a 0-d integer tensor as a dim (and a
one-element one only where torch's dim is a list), bools refused as ints, Python numbers refused
by the tensor functions, softmax(x, None), polygamma / mvlgamma's TypeErrors, out= without a
dim, cat's out of a lower dtype."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _run(lib, expr: str):
    """expr evaluated with M = lib (t: a 2x3 float tensor, ti: a 2x3 int64 one): (value, None)
    or (None, the exception)."""
    t = lib.arange(6.0).reshape(2, 3) + 1
    ti = lib.arange(6).reshape(2, 3)
    names = {"M": lib, "F": lib.nn.functional, "t": t, "ti": ti}
    try:
        return eval(expr, names), None  # noqa: S307  (our own expressions, below)
    except Exception as e:  # noqa: BLE001  (the type is what is compared)
        return None, e


def _values(v) -> list:
    """v's arrays, flattened out of tuples and lists (named tuples too)."""
    if isinstance(v, tuple | list):
        return [a for u in v for a in _values(u)]
    return [np.asarray(v.numpy() if hasattr(v, "numpy") else v, dtype=float)]


def _same(expr: str, match: str | None = None):
    """ember accepts expr when torch does, with torch's values; refuses it when torch does,
    with an exception of torch's type (and ``match`` in ember's message)."""
    got, e = _run(ember, expr)
    want, t = _run(torch, expr)
    if t is None:
        assert e is None, f"ember refuses what torch accepts: {type(e).__name__}: {e}"
        got, want = _values(got), _values(want)
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-6)
        return
    assert e is not None, f"ember accepts what torch refuses ({type(t).__name__}: {t})"
    assert isinstance(e, type(t)), (type(e), type(t), str(e))
    if match is not None:
        assert match in str(e), str(e)


# ---- 1. a 0-d integer tensor is an int dim; 2. a one-element 1-D one only in dim lists ----

_ONE_DIM = [  # torch's `int dim`: a 0-d integer tensor, not [1]
    "M.cumsum(t, D)",
    "M.cumprod(t, D)",
    "M.argmax(t, D)",
    "M.argmin(t, D)",
    "M.sort(t, D)",
    "M.argsort(t, D)",
    "M.median(t, D)",
    "M.nanmedian(t, D)",
    "M.mode(t, D)",
    "M.topk(t, 1, D)",
    "M.kthvalue(t, 1, D)",
    "M.cummax(t, D)",
    "M.cummin(t, D)",
    "M.logcumsumexp(t, D)",
    "M.softmax(t, D)",
    "M.log_softmax(t, D)",
    "F.softmax(t, D)",
    "t.softmax(D)",
    "M.unsqueeze(t, D)",
    "M.transpose(t, D, 0)",
    "M.select(t, D, 0)",
    "M.narrow(t, D, 0, 1)",
    "M.cat([t, t], D)",
    "M.stack([t, t], D)",
    "M.chunk(t, 2, D)",
    "M.unbind(t, D)",
    "M.index_select(t, D, ti[0, :1])",
    "M.gather(t, D, ti[:, :1])",
    "M.diff(t, dim=D)",
    "M.prod(t, D)",
    "M.diagonal(t, 0, D, 0)",
    "M.cross(t, t, D)",
    "M.renorm(t, 2, D, 1.0)",
    "M.quantile(t, 0.5, D)",
    "M.aminmax(t, dim=D)",
    "M.flatten(t, D)",
    "M.split(t, 1, D)",
]
_DIM_LIST = [  # torch's `int[1] dim`: any one-element integer tensor
    "M.sum(t, D)",
    "M.mean(t, D)",
    "M.amax(t, D)",
    "M.amin(t, D)",
    "M.std(t, D)",
    "M.var(t, D)",
    "M.nansum(t, D)",
    "M.nanmean(t, D)",
    "M.logsumexp(t, D)",
    "M.var_mean(t, D)",
    "M.std_mean(t, D)",
    "t.sum(D)",
    "t.mean(D)",
    "t.std(D)",
    "t.flip(D)",
    "t.squeeze(D)",
    "t.amax(D)",
    "M.roll(t, 1, D)",
    "M.norm(t, 2, D)",
    "M.linalg.vector_norm(t, 2, D)",
]


@pytest.mark.parametrize("expr", _ONE_DIM + _DIM_LIST)
def test_zero_d_integer_tensor_is_a_dim(expr):
    _same(expr.replace("D", "M.tensor(1)"))
    _same(expr.replace("D", "M.tensor(-1, dtype=M.int32)"))


@pytest.mark.parametrize("expr", _ONE_DIM)
def test_one_element_tensor_is_no_int_dim(expr):
    _same(expr.replace("D", "M.tensor([1])"), match="Tensor")


@pytest.mark.parametrize("expr", _DIM_LIST)
def test_one_element_tensor_is_a_dim_of_a_list(expr):
    _same(expr.replace("D", "M.tensor([1])"))
    _same(expr.replace("D", "M.tensor([0, 1])"))  # (two elements: torch's TypeError)


@pytest.mark.parametrize("d", ["M.tensor(1.0)", "M.tensor([1.0])"])
@pytest.mark.parametrize("expr", ["M.sum(t, D)", "M.cumsum(t, D)", "M.softmax(t, D)"])
def test_float_tensor_is_no_dim(expr, d):
    _same(expr.replace("D", d))


# ---- 4. a bool is no int -----------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "M.randperm(True)",
        "M.split(t, True)",
        "M.histc(t, bins=True)",
        "M.histc(t, bins=2.0)",
        "M.round(t, decimals=True)",
        "M.round(t, decimals=1.0)",
        "M.mvlgamma(t + 3, True)",
        "M.polygamma(True, t)",
    ],
)
def test_bool_is_no_int(expr):
    _same(expr)


@pytest.mark.parametrize(
    "expr",
    [
        "M.randperm(3).sort().values",
        "M.split(t, 2, 1)",
        "M.split(t, M.tensor(2), 1)",
        "M.histc(t, bins=3)",
        "M.round(t / 7, decimals=2)",
        "M.round(t / 7, decimals=M.tensor(2))",
        "M.polygamma(M.tensor(1), t)",
        "M.mvlgamma(t + 3, M.tensor(2))",
    ],
)
def test_ints_still_taken(expr):
    _same(expr)


# ---- 5. softmax(x, None): torch's TypeError in torch's namespace, the implicit dim in F ----


@pytest.mark.parametrize(
    "expr",
    [
        "M.softmax(t, None)",
        "M.log_softmax(t, None)",
        "M.special.softmax(t, None)",
        "M.special.log_softmax(t, None)",
        "t.softmax(None)",
        "t.log_softmax(None)",
    ],
)
def test_softmax_none_dim_refused(expr):
    _same(expr, match="must be int, not NoneType")


def test_functional_softmax_none_dim_is_implicit():
    for lib in (ember, torch):
        x = lib.arange(6.0).reshape(2, 3)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            y = lib.nn.functional.softmax(x, None)
        with pytest.warns(UserWarning, match="Implicit dimension"):
            z = lib.nn.functional.log_softmax(x)
        np.testing.assert_allclose(y.numpy(), torch.softmax(torch.arange(6.0).reshape(2, 3), 1))
        np.testing.assert_allclose(
            z.numpy(), torch.log_softmax(torch.arange(6.0).reshape(2, 3), 1), rtol=1e-6
        )
    _same("M.softmax(t, 1, M.float64)")
    _same("M.log_softmax(t, dim=0, dtype=M.float64)")


# ---- 6. polygamma / mvlgamma: TypeError for a wrong type, RuntimeError for a bad value ----


@pytest.mark.parametrize(
    "expr",
    [
        "M.polygamma(1.0, t)",
        "M.polygamma('1', t)",
        "M.polygamma(None, t)",
        "M.polygamma([1], t)",
        "M.polygamma(M.tensor([1]), t)",
        "M.polygamma(-1, t)",
        "M.mvlgamma(t + 3, 1.0)",
        "M.mvlgamma(t + 3, '1')",
        "M.mvlgamma(t + 3, None)",
        "M.mvlgamma(t + 3, [1])",
        "M.mvlgamma(t + 3, 0)",
        "M.mvlgamma(t + 3, M.tensor([1]))",
    ],
)
def test_polygamma_mvlgamma_refusals(expr):
    _same(expr)


# ---- 7. out= without a dim, and cat's out of a lower dtype ----------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "M.median(t, out=M.empty(0))",
        "M.nanmedian(t, out=M.empty(0))",
        "M.sum(t, out=M.empty(0))",
        "M.prod(t, out=M.empty(0))",
        "M.logsumexp(t, out=M.empty(0))",
        "M.count_nonzero(t, out=M.empty(0, dtype=M.int64))",
        "M.sum(t, None, out=M.empty(0))",
        "M.sum(t, 1, out=M.empty(0))",
        "M.sum(t, dim=1, out=M.empty(0, dtype=M.float64))",
        "M.median(t, 1, out=(M.empty(0), M.empty(0, dtype=M.int64)))",
        "M.prod(t, 0, out=M.empty(0))",
        "M.logsumexp(t, 1, out=M.empty(0))",
        "M.mean(t, out=M.empty(0))",
        "M.nansum(t, out=M.empty(0))",
        "M.amax(t, out=M.empty(0))",
    ],
)
def test_out_without_dim(expr):
    _same(expr)


def test_cat_out_of_a_lower_dtype_is_a_type_error():
    _same("M.cat([t, t], out=M.empty(0, dtype=M.int64))", match="can't be cast")
    _same("M.cat([t, t], out=1)", match="must be Tensor")
    _same("M.cat([t, t], out=M.empty(0, dtype=M.float64))")
