"""The straight paths added for small calls (Tensor.T without permute's checks, topk/sort's
2-D result, cumsum's kernel call, maximum/minimum of one shape, div's kernel call, a broadcast
row's kernel call, Activation.forward without params, randn's front): each gives the general
(node) path's values bit for bit, the same dtype and errors; tensors requiring grad keep their
graph and gradients."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

rng = np.random.default_rng(3)


def _pair(shape, dtype=np.float32):
    a = rng.standard_normal(shape).astype(dtype)
    return ember.tensor(a), ember.tensor(a.copy()).requires_grad_()


def _same(a, b):
    """Bit for bit: one dtype, one shape, the same bytes (NaNs included)."""
    a, b = np.asarray(a.data if isinstance(a, ember.Tensor) else a), np.asarray(b.data)
    assert a.dtype == b.dtype and a.shape == b.shape
    assert a.tobytes() == b.tobytes()


# ---- Tensor.T -------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 4)])
def test_T_matches_permute(shape):
    plain, graph = _pair(shape)
    with warnings.catch_warnings(record=True) as caught:  # torch's deprecation, but for 2-D
        warnings.simplefilter("always")
        y, yg = plain.T, graph.T
    assert len(caught) == 2 * (len(shape) != 2)
    assert y.grad_fn is None
    _same(y, np.asarray(plain.data).transpose())
    _same(y, ember.permute(plain, tuple(range(len(shape) - 1, -1, -1))))
    assert yg.grad_fn.name() == "PermuteBackward0"
    _same(yg, y)
    if shape:
        (
            yg * ember.tensor(np.arange(yg.numel(), dtype=np.float32).reshape(yg.shape))
        ).sum().backward()
        want = np.arange(yg.numel(), dtype=np.float32).reshape(yg.shape).transpose()
        np.testing.assert_array_equal(graph.grad.numpy(), want)


def test_T_contiguous_copies():
    x, _ = _pair((6, 7))
    y = x.T.contiguous()
    assert y.data.flags.c_contiguous and not np.shares_memory(y.data, x.data)
    _same(y, np.ascontiguousarray(x.data.T))


def test_T_gradcheck():
    x = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda t: (t.T * t.T).sum(0), (x,))


# ---- topk / sort ----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(7,), (5, 9), (2, 3, 8)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_topk_sort_straight_matches_graph_path(shape, dtype):
    plain, graph = _pair(shape, dtype)
    for args in [(3,), (3, -1, False), (1, -1, True, True)]:
        a, b = plain.topk(*args), graph.topk(*args)
        assert type(a).__name__ == "SortResult" and a._fields == ("values", "indices")
        assert a.values.grad_fn is None and b.values.grad_fn is not None
        _same(a.values, b.values)
        _same(a.indices, b.indices)
        assert a.values.shape == shape[:-1] + (args[0],)
    a, b = plain.sort(-1, True), graph.sort(-1, True)
    _same(a.values, b.values)
    _same(a.indices, b.indices)
    want = -np.sort(-plain.data, axis=-1)
    np.testing.assert_array_equal(a.values.numpy(), want)


def test_topk_against_torch():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((32, 32)).astype(np.float32)
    a, b = ember.tensor(x).topk(5, 1), torch.from_numpy(x).topk(5, 1)
    np.testing.assert_array_equal(a.values.numpy(), b.values.numpy())
    np.testing.assert_array_equal(a.indices.numpy(), b.indices.numpy())


def test_topk_errors_and_complex_refused():
    x, _ = _pair((4, 5))
    with pytest.raises(RuntimeError, match="out of range"):
        x.topk(6)
    with pytest.raises(TypeError, match="complex"):
        ember.tensor(np.ones((2, 3), np.complex64)).topk(1)
    with pytest.raises(TypeError, match="complex"):
        ember.topk(np.ones((2, 3), np.complex64), 1)
    assert ember.topk(x, k=2, dim=1).values.shape == (4, 2)  # keywords still pass


# ---- cumsum ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(9,), (5, 7), (3, 4, 5)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumsum_straight_matches_node(shape, dtype):
    plain, graph = _pair(shape, dtype)
    for dim in range(-len(shape), len(shape)):
        y = plain.cumsum(dim)
        assert y.grad_fn is None and y.dtype == dtype
        _same(y, graph.cumsum(dim))
        np.testing.assert_allclose(y.numpy(), np.cumsum(plain.data.astype(np.float64), dim),
                                   rtol=1e-5, atol=1e-5)  # fmt: skip
    strided = ember.tensor(rng.standard_normal((6, 8)).astype(dtype))[:, ::2]
    _same(strided.cumsum(1), strided.detach().requires_grad_().cumsum(1))
    _same(plain.cumsum(axis=0), plain.cumsum(0))


def test_cumsum_errors_unchanged():
    x, _ = _pair((3, 4))
    with pytest.raises(IndexError):
        x.cumsum(2)
    with pytest.raises(IndexError):
        x.cumsum(-3)
    z = ember.tensor(np.float32(2.0))
    assert z.cumsum(0).item() == 2.0  # 0-d: the general path
    with pytest.raises(TypeError, match="bool"):  # a bool is no dim (torch's TypeError)
        x.cumsum(True)


# ---- maximum / minimum ----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_maximum_minimum_straight_matches_node(dtype):
    a = rng.standard_normal((8, 9)).astype(dtype)
    b = rng.standard_normal((8, 9)).astype(dtype)
    a[0, 0], b[0, 1], a[1, 1], b[1, 1] = np.nan, np.nan, 0.0, -0.0
    pa, pb = ember.tensor(a), ember.tensor(b)
    ga = ember.tensor(a.copy()).requires_grad_()
    for f in (ember.maximum, ember.minimum):
        y = f(pa, pb)
        assert y.grad_fn is None
        _same(y, f(ga, pb))
    _same(ember.maximum(pa, pb), np.maximum(a, b))
    assert np.isnan(ember.minimum(pa, pb).numpy()[0, :2]).all()


def test_maximum_promotion_broadcast_errors():
    a32, _ = _pair((4, 5))
    b64, _ = _pair((4, 5), np.float64)
    assert ember.maximum(a32, b64).dtype == np.float64
    row, _ = _pair((5,))
    _same(ember.maximum(a32, row), np.maximum(a32.data, row.data))
    _same(ember.maximum(a32, 1.0), np.maximum(a32.data, np.float32(1.0)))  # a 0-d tensor
    with pytest.raises(ValueError, match=r"\(4, 5\) and \(3,\)"):
        ember.maximum(a32, _pair((3,))[0])


def test_maximum_gradients():
    x = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(ember.maximum, (x, y))


# ---- div, a broadcast row ---------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(3, 5), (32, 32), (70000,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_div_straight_matches_node(shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    b.flat[:3] = 0.0
    a.flat[1] = 0.0  # 0 / 0: NaN, and x / 0: inf, silently (warnings are errors here)
    pa, pb = ember.tensor(a), ember.tensor(b)
    y = pa / pb
    assert y.grad_fn is None
    _same(y, ember.tensor(a.copy()).requires_grad_() / pb)
    with np.errstate(divide="ignore", invalid="ignore"):
        _same(y, a / b)
    strided = ember.tensor(np.ascontiguousarray(np.stack([a, a], -1)))[..., 0]
    _same(strided / pb, y)


def test_div_dtypes_and_errors_unchanged():
    a32, _ = _pair((4, 5))
    b64, _ = _pair((4, 5), np.float64)
    assert (a32 / b64).dtype == np.float64
    ints = ember.tensor(np.arange(1, 5))
    assert (ints / ints).dtype == np.float32
    with pytest.raises(ValueError, match=r"\(4, 5\) and \(3,\)"):
        a32 / _pair((3,))[0]


@pytest.mark.parametrize("op", ["mul", "add", "sub", "div"])
def test_broadcast_row_and_column(op):
    f = {"mul": np.multiply, "add": np.add, "sub": np.subtract, "div": np.true_divide}[op]
    x, xg = _pair((6, 16))
    row, col = _pair((16,))[0], _pair((6, 1))[0]
    for other in (row, col):
        y = getattr(ember, op)(x, other)
        assert y.grad_fn is None
        _same(y, getattr(ember, op)(xg, other))
        _same(y, f(x.data, other.data))
        _same(getattr(ember, op)(other, x), f(other.data, x.data))


# ---- activations with a node ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["relu", "tanh", "sigmoid", "silu", "gelu", "leaky_relu"])
def test_activation_node_values_and_grads(name):
    torch = pytest.importorskip("torch")
    plain, graph = _pair((5, 7))
    f = getattr(F, name)
    y = f(graph)
    assert y.grad_fn is not None
    _same(y, f(plain))
    y.sum().backward()
    t = torch.from_numpy(plain.data.copy()).requires_grad_()
    getattr(torch.nn.functional, name)(t).sum().backward()
    np.testing.assert_allclose(graph.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)
    strided = ember.tensor(rng.standard_normal((5, 14)).astype(np.float32), requires_grad=True)
    _same(f(strided[:, ::2]), f(strided.detach()[:, ::2]))


def test_activation_gradcheck():
    x = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(F.tanh, (x,))
    assert gradcheck(ember.exp, (x,))


# ---- randn ----------------------------------------------------------------------------------


def test_randn_front_matches_factory():
    ember.manual_seed(7)
    a = ember.randn(4, 5)
    ember.manual_seed(7)
    b = ember.randn((4, 5), dtype=ember.float32, requires_grad=False)
    _same(a, b)
    assert a.dtype == np.float32 and not a.requires_grad
    ember.manual_seed(7)
    _same(ember.randn(size=(4, 5)), a)


def test_randn_front_default_dtype_and_errors():
    ember.set_default_dtype(np.float64)
    try:
        assert ember.randn(2, 3).dtype == np.float64
    finally:
        ember.set_default_dtype(np.float32)
    assert ember.randn(2, 3, requires_grad=True).requires_grad
    assert ember.randn(()).shape == ()  # (randn() with no size: torch's TypeError)
    with pytest.raises(ValueError, match="negative"):
        ember.randn(2, -1)
    with pytest.raises(TypeError, match="ints"):
        ember.randn(2, 1.5)
    with ember.device("meta"):
        assert str(ember.randn(2, 3).device) == "meta"


# ---- _C.binary_auto (ops._binary_kernel's first test) -------------------------------------------

_UFUNCS = [np.add, np.subtract, np.multiply, np.true_divide, np.maximum, np.minimum]
_AUTO_PAIRS = [
    ((32, 32), (32, 32)),  # one shape
    ((32, 32), (32,)),  # a row
    ((32,), (32, 32)),  # a row first (b op a)
    ((4, 6, 8), (6, 8)),
    ((4, 6, 8), (1, 6, 8)),
    ((32, 32), (32, 1)),  # a column
    ((5, 4, 8), (5, 4, 1)),
    ((5, 4, 8), (5, 1, 1)),
    ((16, 9), ()),  # one value: 0-d, (1,), (1, 1)
    ((1, 1), (16, 9)),
    ((16, 9), (1,)),
]


@pytest.mark.parametrize("sa, sb", _AUTO_PAIRS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_auto_matches_numpy_and_kernel(sa, sb, dtype):
    from ember import _C, ops

    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    if b.size > 2:
        b.flat[1] = np.nan
    b.flat[0] = 0.0
    for code, f in enumerate(_UFUNCS):
        y = _C.binary_auto(a, b, code)
        assert y is not None
        with np.errstate(divide="ignore", invalid="ignore"):
            _same(y, f(a, b))  # (the kernels give NumPy's bits, NaNs and signed zeros too)
        _same(ops._binary_kernel(f, a, b), y)  # the entry that calls it


@pytest.mark.parametrize(
    "a, b",
    [
        (np.ones((32, 32), np.float32), np.ones((32, 32), np.float64)),  # two dtypes
        (np.ones((32, 32), np.int64), np.ones((32, 32), np.int64)),  # integers
        (np.ones((32, 32), np.float16), np.ones((32,), np.float16)),
        (np.ones((3, 5), np.float32), np.ones((5,), np.float32)),  # under 16 elements
        (np.ones((32, 4), np.float32), np.ones((4,), np.float32)),  # rows under 8
        (np.ones((32, 32), np.float32), np.ones((64,), np.float32)[::2]),  # a strided row
        (np.ones((64, 32), np.float32)[::2], np.ones((32,), np.float32)),  # a strided big
        (np.ones((32, 1), np.float32), np.ones((1, 32), np.float32)),  # an outer product
        (np.ones((16,), np.float32), np.ones((1, 1, 1), np.float32)),  # more dims than big
    ],
)
def test_binary_auto_declines(a, b):
    from ember import _C

    assert _C.binary_auto(a, b, 0) is None
    assert _C.binary_auto(b, a, 0) is None


def test_binary_auto_bad_op_and_ops_keep_results():
    from ember import _C

    a = np.ones((4, 8), np.float32)
    with pytest.raises(ValueError, match="op must be"):
        _C.binary_auto(a, a, 9)
    # declined pairs still compute through the general path
    x = ember.tensor(rng.standard_normal((32, 32)).astype(np.float32))
    strided_row = ember.tensor(rng.standard_normal(64).astype(np.float32))[::2]
    _same(x * strided_row, x.data * strided_row.data)
    outer = ember.tensor(np.ones((32, 1), np.float32)) + ember.tensor(np.ones((1, 32), np.float32))
    _same(outer, np.full((32, 32), 2, np.float32))


# ---- reshape's int shape, Add/Sub's saved shapes, Parameter.data ------------------------------


def test_reshape_int_shape_and_errors():
    plain, graph = _pair((4, 6))
    _same(plain.reshape(-1), plain.data.reshape(-1))
    y = graph.reshape(24)
    assert y.grad_fn.name() == "ViewBackward0"
    (y * ember.tensor(np.arange(24, dtype=np.float32))).sum().backward()
    np.testing.assert_array_equal(graph.grad.numpy(), np.arange(24, dtype=np.float32).reshape(4, 6))
    _same(plain.view(-1), plain.reshape((-1,)))
    with pytest.raises(ValueError, match="invalid shape"):
        plain.reshape(-2)
    with pytest.raises(ValueError, match="invalid for input of shape"):
        plain.reshape(5)


def test_add_sub_gradients_with_scalars_and_broadcast():
    x = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    r = ember.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda a, b: (a + b) - 2.0 * (b - a) + (1.5 - a), (x, r))
    y = x + r
    y.sum().backward()
    np.testing.assert_array_equal(r.grad.numpy(), np.full(4, 3.0))


def test_parameter_data_get_and_set():
    p = ember.nn.Parameter(np.ones(3, np.float32))
    assert type(p.data) is np.ndarray and p.requires_grad
    p.data = ember.tensor([1.0, 2.0, 3.0])  # a Tensor's array, not the Tensor
    assert type(p.data) is np.ndarray
    np.testing.assert_array_equal(p.data, [1, 2, 3])
    with pytest.raises(TypeError, match="has to be a tensor"):  # (a list: torch's TypeError)
        p.data = [0.0]
    p.data = np.array([4.0, 5.0, 6.0], np.float32)
    np.testing.assert_array_equal(p.numpy(), [4, 5, 6])
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [8, 10, 12])


@pytest.mark.parametrize("bounds", [(0.2, 0.8), (None, 0.5), (-0.3, None), (0, 1)])
def test_clamp_node_forward_matches_and_grads(bounds):
    a = rng.standard_normal((6, 7)).astype(np.float32)
    a[0, 0], a[0, 1] = np.nan, -0.0
    plain, graph = ember.tensor(a), ember.tensor(a.copy()).requires_grad_()
    y = ember.clamp(graph, *bounds)
    assert y.grad_fn.name() == "ClampBackward1"
    _same(y, ember.clamp(plain, *bounds))
    y.sum().backward()
    lo, hi = bounds
    inside = np.ones(a.shape, bool)
    if lo is not None:
        inside &= a >= lo
    if hi is not None:
        inside &= a <= hi
    np.testing.assert_array_equal(graph.grad.numpy(), inside.astype(np.float32))


@pytest.mark.parametrize("factory", [ember.zeros, ember.ones, ember.empty, ember.rand, ember.randn])
def test_factory_sizes(factory):
    assert factory(3, 4).shape == (3, 4) and factory(3, 4).dtype == np.float32
    assert factory((3, 4)).shape == (3, 4) and factory([2]).shape == (2,)
    assert factory(np.int64(2), 3).shape == (2, 3)
    with pytest.raises(ValueError, match=r"negative dimension in size \(3, -1\)"):
        factory(3, -1)
    with pytest.raises(TypeError, match="sizes must be ints"):
        factory(3, 2.0)
