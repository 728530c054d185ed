"""Regressions from a randomized parity sweep of the tensor API against PyTorch: each test pins
one configuration (0-d tensors, mixed dtypes, ties, NaNs) where ember used to differ."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def both(a):
    """The same array as an ember and a torch tensor."""
    a = np.asarray(a)
    return ember.tensor(a.copy()), torch.from_numpy(a.copy())


def assert_same(e, t):
    """Values, shape and dtype of an ember result equal torch's."""
    e, t = np.asarray(e.numpy()), t.detach().numpy()
    assert e.dtype == t.dtype, (e.dtype, t.dtype)
    np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-7)


def grads(f, *arrays):
    """Gradients of sum(f(inputs) * w) in ember and torch, float64."""
    e = [ember.tensor(a, requires_grad=True) for a in arrays]
    t = [torch.tensor(a, requires_grad=True) for a in arrays]
    out = f(torch, *t)
    w = np.random.default_rng(0).standard_normal(tuple(out.shape))
    (out * torch.from_numpy(w)).sum().backward()
    (f(ember, *e) * ember.tensor(w)).sum().backward()
    return [x.grad.numpy() for x in e], [x.grad.numpy() for x in t]


@pytest.mark.parametrize("op", ["__mod__", "__floordiv__", "__rmod__", "__rfloordiv__"])
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_mod_and_floordiv_operators(op, dtype):
    (ea, ta), (eb, tb) = both(np.array([-7, 7, 5], dtype)), both(np.array([2, -2, 3], dtype))
    assert_same(getattr(ea, op)(eb), getattr(ta, op)(tb))
    assert_same(getattr(ea, op)(3), getattr(ta, op)(3))


@pytest.mark.parametrize("op", ["__and__", "__or__", "__xor__"])
def test_bitwise_operators_on_integers(op):
    (ea, ta), (eb, tb) = both(np.array([6, 5, -1])), both(np.array([3, 4, 2]))
    assert_same(getattr(ea, op)(eb), getattr(ta, op)(tb))
    assert_same(~ea, ~ta)
    (ec, tc), (ed, td) = both(np.array([True, False, True])), both(np.array([True, True, False]))
    assert_same(getattr(ec, op)(ed), getattr(tc, op)(td))
    assert_same(~ec, ~tc)


@pytest.mark.parametrize(
    "f",
    [
        lambda L, a, b: a + b,
        lambda L, a, b: a * b,
        lambda L, a, b: L.maximum(a, b),
        lambda L, a, b: L.where(a > 0, a, b),
    ],
)
def test_zero_dim_float64_does_not_widen_float32(f):
    (ea, ta), (eb, tb) = both(np.array([1.5, -2.0], np.float32)), both(np.array(0.25))
    assert_same(f(ember, ea, eb), f(torch, ta, tb))
    assert_same(f(ember, eb, ea), f(torch, tb, ta))


def test_zero_dim_promotion_keeps_gradients():
    ge, gt = grads(lambda L, a, b: a * b, np.array([1.5, -2.0]), np.array(0.25))
    for e, t in zip(ge, gt):
        np.testing.assert_allclose(e, t)


def test_maximum_int_and_float32_is_float32():
    (ea, ta), (eb, tb) = both(np.array([1, 5])), both(np.array([2.5, 3.0], np.float32))
    assert_same(ember.maximum(ea, eb), torch.maximum(ta, tb))


def test_where_promotes_like_torch():
    cond = np.array([True, False, True])
    (ec, tc), (ea, ta) = both(cond), both(np.array([1, 2, 3]))
    eb, tb = both(np.array([0.5, 1.5, 2.5], np.float32))
    assert_same(ember.where(ec, ea, eb), torch.where(tc, ta, tb))
    assert_same(ember.where(ec, ea, 0.5), torch.where(tc, ta, 0.5))
    assert_same(ember.where(ec, 1.0, 0), torch.where(tc, 1.0, 0))


def test_clamp_tensor_bounds_get_gradients():
    x = np.array([[-2.0, 0.0, 0.5, 3.0], [1.0, -1.0, 2.0, 0.2]])
    lo, hi = np.array([-1.0, 0.0, 0.0, 0.0]), np.array([[1.0], [0.5]])
    ge, gt = grads(lambda L, x, lo, hi: L.clamp(x, lo, hi), x, lo, hi)
    for e, t in zip(ge, gt):
        np.testing.assert_allclose(e, t)


def test_clamp_integer_dtypes():
    ex, tx = both(np.array([-3, 0, 4]))
    assert_same(ember.clamp(ex, -1, 1), torch.clamp(tx, -1, 1))
    assert_same(ember.clamp(ex, min=0.5), torch.clamp(tx, min=0.5))


@pytest.mark.parametrize("dim", [0, -1])
def test_zero_dim_inputs(dim):
    es, ts = both(np.array(2.5))
    ei, ti = both(np.array(0))
    assert_same(ember.prod(es, dim), torch.prod(ts, dim))
    assert_same(ember.prod(es, dim, keepdim=True), torch.prod(ts, dim, keepdim=True))
    assert_same(ember.gather(es, dim, ei), torch.gather(ts, dim, ti))
    ej, tj = both(np.array([0]))
    assert_same(ember.index_select(es, dim, ej), torch.index_select(ts, dim, tj))
    ev, tv = ember.topk(es, 1, dim), torch.topk(ts, 1, dim)
    assert_same(ev.values, tv.values)
    assert_same(ev.indices, tv.indices)


def test_std_of_constant_has_zero_gradient():
    ge, gt = grads(lambda L, x: L.std(x, 0), np.ones((3, 2)))
    np.testing.assert_allclose(ge[0], gt[0])
    ge, gt = grads(lambda L, x: L.std(x, correction=0), np.array(1.5))
    np.testing.assert_allclose(ge[0], gt[0])


def test_stable_descending_sort_of_bool_keeps_tie_order():
    ex, tx = both(np.array([[True, False, True, False, True]]))
    e, t = (
        ember.sort(ex, descending=True, stable=True),
        torch.sort(tx, descending=True, stable=True),
    )
    assert_same(e.indices, t.indices)


def test_nan_reductions():
    ex, tx = both(np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, 0.0]], np.float32))
    assert_same(ember.nanmean(ex), torch.nanmean(tx))
    assert_same(ember.nanmean(ex, 1), torch.nanmean(tx, 1))
    assert_same(ember.unique(ex), torch.unique(tx))


@pytest.mark.parametrize("name", ["erf", "erfc", "lgamma", "digamma", "i0"])
def test_special_functions_keep_zero_dim_shape(name):
    ex, tx = both(np.array(0.75))
    assert_same(getattr(ember, name)(ex), getattr(torch, name)(tx))


@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_square_of_integers_stays_integer(dtype):
    ex, tx = both(np.array([2, 0, 3], dtype))
    assert_same(ember.square(ex), torch.square(tx))


@pytest.mark.parametrize(
    "x", [[1.0, 3.0, 2.0], [1.0, 0.0, 2.0], [[0.0, 2.0, 3.0], [1.0, 2.0, 3.0]]]
)
def test_cumprod_backward(x):
    ge, gt = grads(lambda L, x: L.cumprod(x, -1), np.array(x))
    np.testing.assert_allclose(ge[0], gt[0])


@pytest.mark.parametrize("op", ["max", "min"])
def test_max_of_nan_shares_gradient_among_nans(op):
    ge, gt = grads(lambda L, x: getattr(L, op)(x), np.array([[1.0, np.nan], [np.nan, 0.0]]))
    np.testing.assert_allclose(ge[0], gt[0])


def test_norm_p_none_zero_and_integer_input():
    ex, tx = both(np.array([[3.0, 0.0], [4.0, 1.0]]))
    assert_same(ember.norm(ex, p=None), torch.norm(tx, p=None))
    assert_same(ember.norm(ex, p=0, dim=0), torch.norm(tx, p=0, dim=0))
    with pytest.raises(TypeError, match="norm"):
        ember.norm(ember.tensor([1, 2]))


@pytest.mark.parametrize("decimals", [0, 1, -2])
def test_round_decimals(decimals):
    ex, tx = both(np.array([0.25, 1.35, -2.5, 1234.5678], np.float32))
    assert_same(ember.round(ex, decimals=decimals), torch.round(tx, decimals=decimals))
    assert_same(ex.round(decimals=decimals), tx.round(decimals=decimals))


def test_cat_skips_legacy_empty_tensor():
    (ee, te), (ex, tx) = both(np.zeros(0, np.float32)), both(np.ones((2, 3), np.float32))
    assert_same(ember.cat([ee, ex]), torch.cat([te, tx]))
    assert_same(ember.cat([ex, ee], dim=1), torch.cat([tx, te], dim=1))


def test_cat_and_stack_errors():
    with pytest.raises(ValueError, match="zero-dimensional"):
        ember.cat([ember.tensor(1.0), ember.tensor(2.0)])
    with pytest.raises(ValueError, match=r"\(2, 3\) and \(2, 4\)"):
        ember.cat([ember.ones(2, 3), ember.ones(2, 4)])
    with pytest.raises(ValueError, match="differ"):
        ember.cat([ember.ones(2, 3), ember.ones(2, 3, 1)], dim=1)
    with pytest.raises(IndexError):
        ember.cat([ember.ones(2, 3)], dim=2)
    with pytest.raises(ValueError, match="differ"):
        ember.stack([ember.ones(2, 3), ember.ones(3, 2)])
    with pytest.raises(IndexError):
        ember.stack([ember.ones(2, 3)], dim=-4)
    # every dim (negative included) agrees with torch, with gradients split back
    (ea, ta), (eb, tb) = both(np.ones((2, 3, 4), np.float32)), both(np.zeros((2, 3, 4), np.float32))
    for d in range(-3, 3):
        assert_same(ember.cat([ea, eb], dim=d), torch.cat([ta, tb], dim=d))
    for d in range(-4, 4):
        assert_same(ember.stack([ea, eb], dim=d), torch.stack([ta, tb], dim=d))


def test_sign_of_bool():
    ex, tx = both(np.array([True, False]))
    assert_same(ember.sign(ex), torch.sign(tx))
    assert_same(ember.sgn(ex), torch.sgn(tx))


def test_index_select_refuses_negative_index():
    with pytest.raises(IndexError, match="index_select"):
        ember.index_select(ember.tensor([1.0, 2.0]), 0, ember.tensor([-1]))


def test_where_with_condition_only():
    ec, tc = both(np.array([[True, False], [False, True]]))
    for e, t in zip(ember.where(ec), torch.where(tc), strict=True):
        assert_same(e, t)


def test_sum_and_mean_methods_take_dtype():
    ex, tx = both(np.arange(6).reshape(2, 3))
    assert_same(ex.sum(dtype=np.float64), tx.sum(dtype=torch.float64))
    assert_same(ex.mean(1, dtype=np.float64), tx.mean(1, dtype=torch.float64))


@pytest.mark.parametrize("method", ["zero_", "fill_"])
def test_fill_of_graph_tensor_is_recorded_as_torch(method):
    args = (5.0,) if method == "fill_" else ()

    def run(lib):
        x = lib.tensor(np.ones(3), requires_grad=True)
        y = x * 2
        getattr(y, method)(*args)  # the old values get a zero gradient; y still requires grad
        assert y.requires_grad
        (y * x).sum().backward()
        return y.detach().numpy(), x.grad.numpy()

    for e, t in zip(run(ember), run(torch)):
        np.testing.assert_array_equal(e, t)
    with ember.no_grad():
        y = ember.tensor(np.ones(3), requires_grad=True) * 2
        assert np.all(getattr(y, method)(*args).numpy() == (args[0] if args else 0))


@pytest.mark.parametrize("op", ["median", "nanmedian"])
@pytest.mark.parametrize(
    "x", [[[1.0, 2.0, 2.0, 1.0]], [[1.0, np.nan], [3.0, 4.0]], [[3.0, 1.0, 2.0]]]
)
def test_global_median_shares_gradient_among_ties(op, x):
    ge, gt = grads(lambda L, x: getattr(L, op)(x), np.array(x))
    np.testing.assert_allclose(ge[0], gt[0])


def test_norm_nuclear():
    ex, tx = both(np.random.default_rng(0).standard_normal((2, 3, 4)))
    assert_same(ember.norm(ex[0], "nuc"), torch.norm(tx[0], "nuc"))
    assert_same(
        ember.norm(ex, "nuc", dim=(0, 2), keepdim=True),
        torch.norm(tx, "nuc", dim=(0, 2), keepdim=True),
    )
    with pytest.raises(ValueError, match="norm"):
        ember.norm(ex, "nuc")
    ge, gt = grads(lambda L, x: L.norm(x, "nuc"), np.random.default_rng(1).standard_normal((3, 2)))
    np.testing.assert_allclose(ge[0], gt[0], rtol=1e-6)


def test_dtypes_torch_refuses():
    with pytest.raises(TypeError, match="logcumsumexp"):
        ember.logcumsumexp(ember.tensor([1, 2]), 0)
    with pytest.raises(TypeError, match="topk"):
        ember.topk(ember.tensor([True, False]), 1)


def test_copy_into_a_graph_tensor_is_recorded_as_torch():
    def run(lib):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        s = lib.tensor([3.0, 4.0], requires_grad=True)
        y = x * 2
        y.copy_(lib.tensor([5.0, 6.0]))  # constants over y: no gradient reaches x through it
        z = x * 1
        z.copy_(s * s)  # a graph value over z: the gradient goes to s
        (y * x + z).sum().backward()
        return x.grad.numpy(), s.grad.numpy()

    for e, t in zip(run(ember), run(torch)):
        np.testing.assert_array_equal(e, t)
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x.copy_(ember.tensor([5.0, 6.0]))
    with ember.no_grad():  # allowed outside autograd, as PyTorch
        x.copy_(ember.tensor([5.0, 6.0]))
    np.testing.assert_array_equal(x.numpy(), [5.0, 6.0])


def test_torch_dtype_aliases():
    pairs = {"int": torch.int, "bool": torch.bool, "int8": torch.int8, "uint8": torch.uint8}
    pairs.update(int16=torch.int16, short=torch.short, half=torch.half)
    for name, tdtype in pairs.items():
        e = ember.zeros(2, dtype=getattr(ember, name))
        assert str(e.dtype) == str(torch.zeros(2, dtype=tdtype).numpy().dtype), name
    ember.set_num_threads(ember.get_num_threads())  # still takes a Python int


# Python ints meeting integer tensors: torch casts the number to the tensor's dtype (wrapping it
# where out of range); ember raised NumPy's OverflowError for arithmetic and compared with the
# unwrapped value.
WRAP_OPS = ["add", "sub", "mul", "remainder", "floor_divide", "lt", "ge", "eq", "bitwise_and"]


@pytest.mark.parametrize("op", WRAP_OPS)
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16])
@pytest.mark.parametrize("number", [-1, 300, -300, 2])
def test_python_int_wraps_to_an_integer_tensors_dtype(op, dtype, number):
    x = np.array([0, 3, 127, 100], dtype)
    e, t = both(x)
    try:
        want = getattr(torch, op)(t, number)
    except RuntimeError:  # integer division by a number that wraps to zero
        with pytest.raises(RuntimeError):
            getattr(ember, op)(e, number)
        return
    assert_same(getattr(ember, op)(e, number), want)


def test_python_int_wrap_is_modular_arithmetic():
    x = np.array([0, 3, 255], np.uint8)
    np.testing.assert_array_equal((ember.tensor(x) + -1).numpy(), (x.astype(int) - 1) % 256)
    np.testing.assert_array_equal((ember.tensor(x) < -1).numpy(), x < 255)
    with pytest.raises(RuntimeError, match="ZeroDivision"):
        ember.remainder(ember.tensor(x), 256)  # 256 is uint8 zero
    assert ember.remainder(ember.zeros((4, 0), dtype=ember.int16), 0).shape == (4, 0)


@pytest.mark.parametrize("bounds", [{"min": -1, "max": 1}, {"min": 0}, {"max": 2}, {"min": 300}])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, bool])
def test_clamp_int_bounds_as_torch(bounds, dtype):
    e, t = both(np.array([0, 1, 3, 100]).astype(dtype))
    try:
        want = torch.clamp(t, **bounds)
    except RuntimeError:  # out of the range any type of the width holds
        with pytest.raises(RuntimeError, match="overflow"):
            ember.clamp(e, **bounds)
        return
    assert_same(ember.clamp(e, **bounds), want)


@pytest.mark.parametrize("op", ["atan2", "copysign", "xlogy", "div"])
def test_integer_pairs_cast_to_float_each_on_its_own(op):
    # a (4,) uint8 with a 0-d int16 -3: the float maths sees -3, not the uint8 wrap 253
    a, b = np.array([1, 2, 3, 4], np.uint8), np.array(-3, np.int16)
    assert_same(
        getattr(ember, op)(*both(a)[:1], both(b)[0]), getattr(torch, op)(both(a)[1], both(b)[1])
    )


def test_integer_ops_keep_a_0d_tensors_dtype_with_python_ints():
    e, t = both(np.array(5, np.int16))
    for op in ["bitwise_xor", "bitwise_or", "bitwise_and"]:
        assert_same(getattr(ember, op)(e, 3), getattr(torch, op)(t, 3))
    assert_same(
        ember.pow(*both(np.array([True]))[:1], ember.tensor(np.array([1, -1], np.int8))),
        torch.pow(torch.tensor([True]), torch.tensor([1, -1], dtype=torch.int8)),
    )
    with pytest.raises(RuntimeError, match="overflow"):
        ember.pow(ember.tensor(np.array([2], np.uint8)), 300)


def test_xlogy_logs_in_the_common_dtype():
    r = np.random.default_rng(0)
    a, b = r.standard_normal(6) * 100, (np.abs(r.standard_normal(6)) * 100).astype(np.float32)
    out = ember.xlogy(ember.tensor(a), ember.tensor(b)).numpy()
    np.testing.assert_array_equal(out, a * np.log(b.astype(np.float64)))
    assert_same(
        ember.xlogy(ember.tensor(a), ember.tensor(b)), torch.xlogy(torch.tensor(a), torch.tensor(b))
    )


@pytest.mark.parametrize(
    "a,b",
    [
        (np.array([2, 4], np.uint8), -1),  # the number is not wrapped: the maths is in float64
        (np.array([16777217]), 1.0),  # not rounded through float32 first
        (np.array([1 + 2j]), 2),  # complex128, not the real part
        (np.array([2, 1, 0], np.uint8), np.array(-1)),
    ],
)
def test_float_power_casts_before_promoting(a, b):
    eb, tb = (ember.tensor(b), torch.tensor(b)) if isinstance(b, np.ndarray) else (b, b)
    got = ember.float_power(ember.tensor(a), eb)
    want = torch.float_power(torch.tensor(a), tb)
    assert_same(got, want)


def test_integer_pow_with_a_0d_negative_exponent_keeps_the_dtype():
    a, b = np.array([2, 1, 0], np.uint8), np.array(-1)
    assert_same(
        ember.pow(ember.tensor(a), ember.tensor(b)), torch.pow(torch.tensor(a), torch.tensor(b))
    )


@pytest.mark.filterwarnings("ignore:An output with one or more elements was resized")  # torch's
@pytest.mark.parametrize(
    "a,b",
    [(np.array([1, 2, 3]), np.array(2.0)), (np.array([True]), np.array(-1.0)),
     (np.array([1.0, 2], np.float32), np.array([3])),
     (np.array([1.0, 2], np.float16), np.array(3.0)),
     (np.array(2.0), np.array([[1], [2]], np.int16))],
)  # fmt: skip
def test_ldexp_promotes_as_torch(a, b):
    assert_same(
        ember.ldexp(ember.tensor(a), ember.tensor(b)), torch.ldexp(torch.tensor(a), torch.tensor(b))
    )


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.float32])
def test_scatter_reduce_mean_keeps_the_dtype(dtype):
    a, idx, src = np.array([1, -2, 3, 4]), np.array([0, 1, 1, 3]), np.array([-5, -6, 2, 8])
    args = [
        (lib.tensor(a.astype(dtype)), 0, lib.tensor(idx), lib.tensor(src.astype(dtype)))
        for lib in (ember, torch)
    ]
    for include_self in (True, False):
        assert_same(ember.scatter_reduce(*args[0], "mean", include_self=include_self),
                    torch.scatter_reduce(*args[1], "mean", include_self=include_self))  # fmt: skip


@pytest.mark.parametrize("dim,shape", [(0, (0, 3)), (1, (4, 0)), (-1, (4, 0))])
def test_index_add_with_no_indices(dim, shape):
    x = ember.tensor(np.ones((4, 3)), requires_grad=True)
    src = ember.tensor(np.zeros(shape), requires_grad=True)
    y = ember.index_add(x, dim, ember.tensor(np.zeros(0, np.int64)), src)
    np.testing.assert_array_equal(y.detach().numpy(), np.ones((4, 3)))
    y.sum().backward()
    assert x.grad.shape == (4, 3) and src.grad.shape == shape
    z = ember.ones(4, 3)
    z.index_add_(dim, ember.tensor(np.zeros(0, np.int64)), ember.zeros(*shape))
    assert float(z.sum()) == 12


@pytest.mark.parametrize("op", ["any", "all"])
def test_any_all_over_no_dims_is_elementwise_as_torch(op):
    a = np.array([[0.0, 2], [3, 0]])
    for kw in [{"dim": ()}, {"dim": (), "keepdim": True}, {"dim": (0, 1)}, {}]:
        assert_same(
            getattr(ember, op)(ember.tensor(a), **kw), getattr(torch, op)(torch.tensor(a), **kw)
        )


# In-place writes as torch's casting rule: a result goes into any tensor of its category or a
# higher one (NumPy's same_kind refused int64 into uint8), Python ints wrapped to the dtype.
@pytest.mark.parametrize("op", ["add_", "sub_", "mul_", "__iadd__", "__ior__", "remainder_"])
@pytest.mark.parametrize("other", ["int64", "int32", 300, -2])
def test_inplace_integer_writes_cast_as_torch(op, other):
    a = np.array([1, 2, 3, 0, 200], np.uint8)
    e, t = both(a)
    if isinstance(other, str):
        o = np.array([2, 1, 2, 1, -3], other)
        eo, to = ember.tensor(o), torch.tensor(o)
    else:
        eo = to = other
    assert_same(getattr(e, op)(eo), getattr(t, op)(to))


@pytest.mark.parametrize("value", [-2, 300, 7])
def test_fills_wrap_python_ints_as_torch(value):
    a = np.array([1, 2, 3, 0, 200], np.uint8)
    mask = np.array([1, 0, 1, 0, 1], bool)
    for f in [
        lambda lib, x: x.fill_(value),
        lambda lib, x: x.masked_fill_(lib.tensor(mask), value),
        lambda lib, x: x.masked_fill(lib.tensor(mask), value),
        lambda lib, x: x.index_fill_(0, lib.tensor([0, 2]), value),
        lambda lib, x: x.scatter(0, lib.tensor([0, 2]), value),
        lambda lib, x: x.clamp_(min=value),
    ]:
        e, t = both(a)
        if value == 300:  # out of what any 8-bit type holds: torch's overflow error
            with pytest.raises(RuntimeError, match="overflow"):
                f(ember, e)
        else:
            assert_same(f(ember, e), f(torch, t))


def test_integer_pow_inplace_with_negative_exponents():
    a, b = np.array([1, 2, 3, 0, -1]), np.array([2, 1, 2, 1, -3])
    for dtype in (np.int64, np.int8):
        e, t = both(a.astype(dtype))
        assert_same(e.pow_(ember.tensor(b)), t.pow_(torch.tensor(b)))
    e = ember.tensor(np.array([1, 2, 3]))
    with pytest.raises(RuntimeError, match="can't be cast"):
        e.div_(2)  # a float result does not go into an integer tensor


@pytest.mark.parametrize(
    "data",
    [[np.float64(1.5), 2], [np.float32(1.5), 2], [np.int32(1), 2], [np.int64(1), np.float32(2)],
     [[1, 2], [np.float64(3), 4]], [np.uint8(3), np.int8(1)], [np.float16(1), 2], (np.float64(2),)],
)  # fmt: skip
def test_numpy_scalars_in_lists_keep_their_dtype_as_torch(data):
    assert_same(ember.tensor(data), torch.tensor(data))


def test_arange_integer_dtypes_as_torch():
    assert_same(ember.arange(-3, 3, dtype=ember.uint8), torch.arange(-3, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match="step"):
        ember.arange(0, 2.5, 0.5, dtype=ember.int64)  # the step is 0 as an integer


def test_renorm_refuses_1d_input_as_torch():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        ember.renorm(ember.tensor([1.0, 2.0]), 2, 0, 1.0)


@pytest.mark.parametrize("op", ["matmul", "mm", "bmm"])
@pytest.mark.parametrize("other", ["float64", "int64"])
def test_matmul_of_two_dtypes_is_refused_as_torch(op, other):
    shape = (2, 2, 2) if op == "bmm" else (2, 2)
    with pytest.raises(RuntimeError):
        getattr(torch, op)(torch.ones(shape), torch.ones(shape, dtype=getattr(torch, other)))
    with pytest.raises(TypeError, match="one dtype"):
        getattr(ember, op)(ember.ones(shape), ember.ones(shape, dtype=getattr(ember, other)))
    # a NumPy array operand is still ember's NumPy interop, promoted
    assert ember.matmul(ember.ones(2, 2), np.ones((2, 2))).shape == (2, 2)


def test_inplace_broadcast_mismatch_names_both_shapes_as_torch():
    for f in [lambda x, y: x.__iadd__(y), lambda x, y: x.add_(y)]:
        with pytest.raises(RuntimeError, match=r"output with shape"):
            f(torch.ones(3), torch.ones(2, 3))
        with pytest.raises(
            RuntimeError,
            match=r"output with shape \(3,\) doesn't match the broadcast shape \(2, 3\)",
        ):
            f(ember.ones(3), ember.ones(2, 3))
