"""The no-node paths of the elementwise ops (ops._unary_apply for single-tensor ops, the inlined
test in ops._apply_broadcasting for arithmetic, Tensor._map_ for the named in-place maths): a
tensor outside autograd gets the node path's values bit for bit (and NumPy's or PyTorch's), no
grad_fn, the same dtype and errors; tensors requiring grad, no_grad blocks and forward-mode AD
keep their behaviour; in-place writes land in the tensor's own array, on both sides of the
kernels' size thresholds."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import ops
from ember.autograd import forward_ad as fa
from ember.autograd import gradcheck

# both sides of the unary kernels' thread threshold (ops._THREADED), and a tiny and a 32x32 case
SHAPES = [(3, 5), (32, 32), (ops._THREADED + 17,)]

UNARY = {
    "neg": lambda t: -t,
    "exp": ember.exp,
    "log": ember.log,
    "sqrt": ember.sqrt,
    "abs": ember.abs,
    "sin": ember.sin,
    "cos": ember.cos,
    "tan": ember.tan,
    "log1p": ember.log1p,
    "expm1": ember.expm1,
    "log2": ember.log2,
    "rsqrt": ember.rsqrt,
    "reciprocal": ember.reciprocal,
    "square": ember.square,
    "sinh": ember.sinh,
    "erf": ember.erf,
    "floor": ember.floor,
    "sign": ember.sign,
    "pow2": lambda t: t**2,
    "pow3": lambda t: t**3,
    "pow_half": lambda t: t**0.5,
    "pow_m1": lambda t: t**-1,
    "pow_mhalf": lambda t: t**-0.5,
    "pow_2.5": lambda t: t**2.5,
    "clamp": lambda t: ember.clamp(t, 0.3, 0.9),
    "clamp_min": lambda t: ember.clamp(t, min=0.5),
    "clamp_int_bound": lambda t: ember.clamp(t, max=1),
    "relu": F.relu,
    "sigmoid": F.sigmoid,
    "tanh": F.tanh,
    "gelu": F.gelu,
    "gelu_tanh": lambda t: F.gelu(t, approximate="tanh"),
    "silu": F.silu,
    "leaky_relu": lambda t: F.leaky_relu(t, 0.1),
    "elu": F.elu,
    "softplus": F.softplus,
    "hardtanh": F.hardtanh,
    "softsign": F.softsign,
}


def _x(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random(shape) * 1.6 + 0.05).astype(dtype)  # inside every op's domain


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(UNARY))
def test_unary_no_node_path_matches_node_path_bits(name, dtype, shape):
    f = UNARY[name]
    x = _x(shape, dtype)
    plain = f(ember.tensor(x))  # the no-node path
    assert plain.grad_fn is None and not plain.requires_grad
    node = f(ember.tensor(x, requires_grad=True))  # the node's forward
    assert node.grad_fn is not None
    assert plain.dtype == node.dtype == dtype
    np.testing.assert_array_equal(plain.numpy(), node.detach().numpy())
    with ember.no_grad():  # a tensor requiring grad under no_grad: no node either
        off = f(ember.tensor(x, requires_grad=True))
    assert off.grad_fn is None and not off.requires_grad
    np.testing.assert_array_equal(off.numpy(), plain.numpy())


EXACT = {  # the ops with one IEEE result per element: NumPy's bits
    "neg": np.negative,
    "sqrt": np.sqrt,
    "abs": np.abs,
    "reciprocal": lambda a: 1 / a,
    "square": np.square,
    "pow2": np.square,
    "pow_half": np.sqrt,
    "pow_m1": lambda a: 1 / a,
    "pow_mhalf": lambda a: 1 / np.sqrt(a),
    "clamp": lambda a: np.clip(a, 0.3, 0.9),
    "relu": lambda a: np.where(a < 0, np.float32(0), a),  # -0.0 stays, as torch's
    "floor": np.floor,
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", list(EXACT))
def test_exact_ops_are_numpys_bits(name, shape):
    x = _x(shape, np.float32) - 0.8  # both signs
    x.flat[:4] = [0.0, -0.0, 1e-30, -2.5]
    with np.errstate(all="ignore"):
        want = EXACT[name](x)
    got = UNARY[name](ember.tensor(x)).numpy()
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want), equal_nan=True)


@pytest.mark.parametrize("name", ["exp", "sin", "log1p", "expm1", "rsqrt", "sigmoid", "tanh"])
def test_smooth_ops_match_torch(name):
    torch = pytest.importorskip("torch")
    x = _x((32, 32), np.float32)
    tf = {"sigmoid": torch.sigmoid, "tanh": torch.tanh}.get(name) or getattr(torch, name)
    np.testing.assert_allclose(
        UNARY[name](ember.tensor(x)).numpy(), tf(torch.from_numpy(x)).numpy(), rtol=3e-7, atol=0
    )


@pytest.mark.parametrize(
    "name", ["exp", "sqrt", "sin", "expm1", "clamp", "pow2", "pow_2.5", "relu"]
)
def test_unary_gradients_float64(name):
    f = UNARY[name]
    x = ember.tensor(_x((3, 4), np.float64, seed=1) + 0.01, requires_grad=True)
    assert gradcheck(f, (x,))


def test_forward_ad_still_sees_dual_inputs():
    x = ember.tensor(np.array([0.5, 1.5]))
    with fa.dual_level():
        d = fa.make_dual(x, ember.tensor(np.array([1.0, 2.0])))
        for f, df in ((ember.exp, np.exp), (ember.sqrt, lambda a: 0.5 / np.sqrt(a))):
            _, tangent = fa.unpack_dual(f(d))
            np.testing.assert_allclose(tangent.numpy(), df(x.numpy()) * [1.0, 2.0])
        _, tangent = fa.unpack_dual(d * 3.0)
        np.testing.assert_allclose(tangent.numpy(), [3.0, 6.0])


def test_unary_errors_and_dtypes_unchanged():
    b = ember.tensor(np.array([True, False]))
    with pytest.raises(TypeError, match="neg"):
        _ = -b
    with pytest.raises(TypeError, match="abs"):
        ember.abs(b)
    with pytest.raises(ValueError, match="clamp"):
        ember.clamp(ember.tensor(np.ones(2, np.float32)))
    i = ember.tensor(np.array([1, 4, 9]))
    assert ember.sqrt(i).dtype == np.float32 and ember.sin(i).dtype == np.float32
    assert ember.clamp(i, 2, 5).dtype == np.int64 and ember.clamp(i, 2, 5).tolist() == [2, 4, 5]
    assert ember.clamp(i, 2.5).dtype == np.float32
    with pytest.raises(TypeError):
        F.relu(ember.tensor(np.array([1j])))  # complex: refused by the activation, as before
    h = ember.tensor(np.array([0.25, 4.0], np.float16))  # NumPy's loops, no kernel
    assert ember.sqrt(h).dtype == np.float16 and ember.sqrt(h).tolist() == [0.5, 2.0]


def test_no_node_results_do_not_alias_inputs():
    x = _x((4, 4), np.float32)
    t = ember.tensor(x)
    for f in (lambda a: a**1, lambda a: ember.clamp(a, 0.0, 9.0), ember.abs, F.relu):
        y = f(t)
        assert not np.shares_memory(y.numpy(), t.numpy())


def test_overflow_stays_silent_on_the_kernel_paths():
    x = ember.tensor(np.array([1e30, 2.0], np.float32))  # filterwarnings=error: no warning
    assert np.isinf((x**2).numpy()[0]) and np.isinf(ember.exp(x * 100).numpy()[0])
    z = ember.tensor(np.array([0.0, 1.0], np.float32))
    assert np.isinf((z**-1).numpy()[0]) and np.isinf((z**-0.5).numpy()[0])


# ---- binary arithmetic -------------------------------------------------------------------


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "maximum": ember.maximum,
}


@pytest.mark.parametrize("shape", [(3, 5), (32, 32), (300, 300)], ids=str)
@pytest.mark.parametrize("name", list(BINARY))
def test_binary_no_node_path_matches_numpy_and_node_path(name, shape):
    f = BINARY[name]
    ref = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}
    ref = ref.get(name, np.maximum)
    a, b = _x(shape, np.float32), _x(shape, np.float32, seed=2)
    row = b.reshape(-1, shape[-1])[0].copy()
    for other, o in ((b, ember.tensor(b)), (row, ember.tensor(row))):
        plain = f(ember.tensor(a), o)
        assert plain.grad_fn is None
        np.testing.assert_array_equal(plain.numpy(), ref(a, other))
        node = f(ember.tensor(a, requires_grad=True), o)
        assert node.grad_fn is not None
        np.testing.assert_array_equal(node.detach().numpy(), plain.numpy())
    if name != "maximum":  # (torch's maximum takes no number)
        np.testing.assert_array_equal(f(ember.tensor(a), 1.5).numpy(), ref(a, np.float32(1.5)))


def test_binary_operands_that_must_take_the_node_path():
    p = ember.nn.Parameter(ember.tensor(np.ones(3, np.float32)))  # a Tensor subclass
    y = p * 2.0
    assert y.grad_fn is not None
    y.sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, 2.0, 2.0])
    x = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    with ember.no_grad():
        assert (x + x).grad_fn is None
    with pytest.raises(ValueError, match=r"\(3,\).*\(4,\)"):
        ember.tensor(np.ones(3, np.float32)) + ember.tensor(np.ones(4, np.float32))
    with pytest.raises(TypeError, match="bool"):
        ember.tensor(np.ones(2, np.float32)) - ember.tensor(np.array([True, False]))


# ---- named in-place maths ------------------------------------------------------------------


INPLACE = {
    "sqrt_": (lambda t: t.sqrt_(), np.sqrt),
    "neg_": (lambda t: t.neg_(), np.negative),
    "abs_": (lambda t: t.abs_(), np.abs),
    "exp_": (lambda t: t.exp_(), lambda a: ember.exp(ember.tensor(a)).numpy()),  # exp's bits
    "clamp_": (lambda t: t.clamp_(0.3, 0.9), lambda a: np.clip(a, 0.3, 0.9)),
    "clamp_min_": (lambda t: t.clamp_(min=0.5), lambda a: np.maximum(a, 0.5)),
}


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name", list(INPLACE))
def test_inplace_maths_write_numpys_values_into_the_array(name, dtype, shape):
    f, ref = INPLACE[name]
    x = _x(shape, dtype)
    t = ember.tensor(x)
    arr = t.numpy()
    assert f(t) is t
    assert t.numpy() is arr  # the tensor's own array, written in place
    np.testing.assert_array_equal(arr, ref(x))


def test_inplace_maths_through_a_strided_view_and_on_integers():
    base = ember.tensor(_x((4, 6), np.float32))
    want = base.numpy().copy()
    view = base[:, ::2]  # not contiguous: NumPy's ufunc with out=
    view.sqrt_()
    want[:, ::2] = np.sqrt(want[:, ::2])
    np.testing.assert_array_equal(base.numpy(), want)
    i = ember.tensor(np.array([-3, 4, 9]))
    assert i.clamp_(0, 5).tolist() == [0, 4, 5] and i.dtype == np.int64
    assert i.neg_().tolist() == [0, -4, -5]
    with pytest.raises(RuntimeError, match="can't be cast"):
        ember.tensor(np.array([1, 4])).sqrt_()  # a float result does not go into int64


def test_inplace_clamp_keeps_torchs_signed_zero_and_nan():
    torch = pytest.importorskip("torch")
    x = np.array([-0.0, np.nan, 0.5, -1.0, 3.0], np.float32)
    got = ember.tensor(x.copy()).clamp_(0.0, 1.0).numpy()
    want = torch.from_numpy(x.copy()).clamp_(0.0, 1.0).numpy()
    np.testing.assert_array_equal(got, want)
    assert np.array_equal(np.signbit(got), np.signbit(want))


def test_inplace_maths_refusals_unchanged():
    leaf = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    for name in INPLACE:
        with pytest.raises(RuntimeError, match="leaf"):
            INPLACE[name][0](leaf)
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    for name in INPLACE:
        with pytest.raises(RuntimeError, match="read-only"):
            INPLACE[name][0](ember.Tensor(ro))  # (wraps ro itself)
    with pytest.raises(RuntimeError, match="at least one"):
        ember.tensor(np.ones(2, np.float32)).clamp_()


def test_inplace_maths_under_no_grad_and_in_the_graph():
    w = ember.tensor(np.array([4.0, 9.0]), requires_grad=True)
    with ember.no_grad():
        w.sqrt_()  # a leaf may be written under no_grad (an optimiser step)
    np.testing.assert_array_equal(w.numpy(), [2.0, 3.0])
    x = ember.tensor(np.array([0.5, 2.0]), requires_grad=True)
    y = x * 1.0
    y.clamp_(0.0, 1.0)  # a graph intermediate: recorded as before
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0])
    z = x.exp()
    z.sqrt_()  # exp saved its output: backward refuses, as torch's (test_behave24)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


# ---- the positional kernel entries (_C.activation / _C.activation_grad) --------------------


@pytest.mark.parametrize("name", ember._C.activation_names)
def test_positional_entries_match_the_named_ones(name):
    from ember import _C

    x = _x((5, 7), np.float32) - 0.6
    act = _C.activation_names.index(name)
    alpha, beta = (-0.5, 0.5) if name in ("hardtanh", "clamp") else (0.1, 1.0)
    want = _C.activation_forward(name, x, alpha, beta)
    np.testing.assert_array_equal(_C.activation(x, act, alpha, beta, None), want)
    out = np.empty_like(x)
    assert _C.activation(x, act, alpha, beta, out) is out
    np.testing.assert_array_equal(out, want)
    if name in ("exp", "neg"):
        return  # (no backward kernel)
    dy = _x((5, 7), np.float32, seed=3)
    saved = want if name in ("sigmoid", "tanh", "expm1", "sqrt", "rsqrt", "reciprocal") else x
    np.testing.assert_array_equal(
        _C.activation_grad(dy, saved, act, alpha, beta),
        _C.activation_backward(name, dy, saved, alpha, beta),
    )


def test_positional_entries_refuse_bad_input():
    from ember import _C

    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="index 99 out of range"):
        _C.activation(x, 99, 0.0, 1.0, None)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.activation(np.ones(3, np.int64), 0, 0.0, 1.0, None)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.activation(np.ones((3, 4), np.float32)[:, ::2], 0, 0.0, 1.0, None)
    with pytest.raises(ValueError, match="shape"):
        _C.activation(x, 0, 0.0, 1.0, np.empty((3, 2), np.float32))
    with pytest.raises(ValueError, match="no backward kernel"):
        _C.activation_grad(x, x, _C.activation_names.index("exp"), 0.0, 1.0)
    with pytest.raises(ValueError, match="min_val"):
        _C.activation(x, _C.activation_names.index("hardtanh"), 1.0, -1.0, None)


def test_tensor_of_an_array_wraps_it_and_still_checks_odd_dtypes():
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    t = ember.from_numpy(a)
    assert np.shares_memory(t.numpy(), a) and t.dtype == np.float32
    assert ember.Tensor(a).numpy() is a
    be = np.arange(3, dtype=">f4")  # big-endian: converted to native order, as before
    assert ember.from_numpy(be).dtype == np.float32
    np.testing.assert_array_equal(ember.from_numpy(be).numpy(), [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="not <U1|not <U"):
        ember.Tensor(np.array(["a"]))


# ---- the one-call paths: ops._float_binary, ops._kernel_unary, in-place kernels ---------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_float_binary_matches_numpy_for_every_operand_form(name, dtype):
    f = BINARY[name]
    ref = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "div": np.true_divide}[name]
    a = _x((6, 8), dtype)
    for b in (_x((6, 8), dtype, 2), _x((8,), dtype, 2), _x((6, 1), dtype, 2), _x((), dtype, 2)):
        for x, y in ((a, b), (b, a)):
            got = f(ember.tensor(x), ember.tensor(y))
            assert got.dtype == dtype and got.grad_fn is None
            np.testing.assert_array_equal(got.numpy(), ref(x, y))
    strided = a[:, ::2]  # not contiguous: NumPy's loop
    np.testing.assert_array_equal(
        f(ember.tensor(strided), ember.tensor(strided)).numpy(), ref(strided, strided)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.array([0.0, -0.0, 1.0], dtype)
        np.testing.assert_array_equal(f(ember.tensor(z), ember.tensor(z)).numpy(), ref(z, z))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div"])
def test_float_binary_promotion_errors_and_node_unchanged(name):
    f = BINARY[name]
    a32, a64 = ember.tensor(_x((3, 4), np.float32)), ember.tensor(_x((3, 4), np.float64))
    assert f(a32, a64).dtype == np.float64 and f(a64, a32).dtype == np.float64
    for bad in (ember.tensor(np.ones(5, np.float32)), ember.tensor(np.ones(5, np.float32))):
        with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
            f(a32, bad)
        with pytest.raises(ValueError, match=r"\(3, 4\).*\(5,\)"):
            f(ember.tensor(_x((3, 4), np.float32), requires_grad=True), bad)
        bad.requires_grad_()
    x = ember.tensor(_x((3, 4), np.float64), requires_grad=True)
    y = ember.tensor(_x((4,), np.float64, 3) + 0.5, requires_grad=True)
    out = f(x, y)
    assert out.grad_fn is not None and out.grad_fn.name().startswith(name.capitalize())
    assert gradcheck(f, (x, y))


def test_float_binary_keeps_forward_ad_and_the_version_check():
    x = ember.tensor(np.array([0.5, 1.5]))
    with fa.dual_level():
        d = fa.make_dual(x, ember.tensor(np.array([1.0, 2.0])))
        _, tangent = fa.unpack_dual(d * x)
        np.testing.assert_array_equal(tangent.numpy(), [0.5, 3.0])
        _, tangent = fa.unpack_dual(x / d)
        np.testing.assert_allclose(tangent.numpy(), -x.numpy() / x.numpy() ** 2 * [1.0, 2.0])
    w = ember.tensor(np.array([1.0, 2.0]), requires_grad=True)
    h = w * 1.0
    y = h * w  # saves h
    h.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["relu", "sigmoid", "tanh", "exp", "log", "rsqrt", "sin"])
def test_kernel_unary_no_node_gradient_and_strided(name, dtype):
    f = UNARY[name]
    x = _x((4, 6), dtype)
    want = f(ember.tensor(x, requires_grad=True)).detach().numpy()  # the node's forward
    np.testing.assert_array_equal(f(ember.tensor(x)).numpy(), want)
    view = ember.tensor(x)[:, ::2]  # not contiguous: _unary_apply's way (NumPy's exp, log)
    node = f(ember.tensor(x, requires_grad=True)[:, ::2]).detach().numpy()
    np.testing.assert_array_equal(f(view).numpy(), node)
    np.testing.assert_allclose(node, want[:, ::2], rtol=3e-7)
    if dtype == np.float64:
        assert gradcheck(f, (ember.tensor(x, requires_grad=True),))


KERNEL_INPLACE = ["log", "relu", "sigmoid", "tanh", "sin", "cos", "log1p", "expm1", "rsqrt"]
KERNEL_INPLACE += ["reciprocal", "square"]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("name", KERNEL_INPLACE)
def test_named_inplace_kernel_maps_write_the_out_of_place_bits(name, dtype, shape):
    x = _x(shape, dtype) - 0.02  # (relu: both signs)
    t = ember.tensor(x)
    arr = t.numpy()
    want = getattr(ember.tensor(x), name)().numpy()
    assert getattr(t, name + "_")() is t and t.numpy() is arr and t.dtype == dtype
    np.testing.assert_array_equal(arr, want)
    if shape == (32, 32):
        base = ember.tensor(x)
        getattr(base[:, ::2], name + "_")()  # a strided view: the out-of-place copy back
        strided = getattr(ember.tensor(x)[:, ::2], name)().numpy()  # (NumPy's log, ...)
        np.testing.assert_array_equal(base.numpy()[:, ::2], strided)
        np.testing.assert_array_equal(base.numpy()[:, 1::2], x[:, 1::2])


def test_named_inplace_kernel_maps_refusals_and_graph():
    leaf = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    for name in ("relu_", "log_", "rsqrt_"):
        with pytest.raises(RuntimeError, match="leaf"):
            getattr(leaf, name)()
        with pytest.raises(RuntimeError, match="read-only"):
            getattr(ember.Tensor(ro), name)()
    x = ember.tensor(np.array([0.5, 2.0]), requires_grad=True)
    y = x * 1.0
    y.log_()  # a graph intermediate: recorded
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 1 / x.numpy())
    with pytest.raises(RuntimeError, match="can't be cast"):
        ember.tensor(np.array([1, 4])).rsqrt_()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", ["add_", "sub_", "mul_", "div_"])
def test_inplace_binary_with_a_tensor_writes_numpys_values(name, dtype):
    ref = {"add_": np.add, "sub_": np.subtract, "mul_": np.multiply, "div_": np.true_divide}
    for shape, oshape in (((32, 32), (32, 32)), ((32, 32), (32,)), ((8, 8), (8, 1)), ((5,), ())):
        x, o = _x(shape, dtype), _x(oshape, dtype, 2)
        t = ember.tensor(x)
        arr = t.numpy()
        assert getattr(t, name)(ember.tensor(o)) is t and t.numpy() is arr
        np.testing.assert_array_equal(arr, ref[name](x, o))
    # an operand partly overlapping the destination: refused, as torch 2.13
    x = _x((40,), dtype)
    t = ember.tensor(x.copy())
    with pytest.raises(RuntimeError, match="single memory location"):
        getattr(t[1:], name)(t[:-1])
    np.testing.assert_array_equal(t.numpy(), x)
    t = ember.tensor(x.copy())
    getattr(t, name)(t)  # self with itself
    np.testing.assert_array_equal(t.numpy(), ref[name](x, x))


def test_inplace_binary_with_a_tensor_refusals_and_graph():
    a = ember.tensor(np.ones(3, np.float32))
    with pytest.raises(TypeError, match="bool"):
        ember.tensor(np.array([True, False])).sub_(ember.tensor(np.array([True, True])))
    leaf = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.add_(a)
    ro = np.ones(3, np.float32)
    ro.flags.writeable = False
    with pytest.raises(RuntimeError, match="read-only"):
        ember.Tensor(ro).add_(a)
    with pytest.raises(RuntimeError, match="shape"):
        a.add_(ember.tensor(np.ones((2, 3), np.float32)))
    f64 = ember.tensor(np.ones(3, np.float64))
    assert a.add_(f64).dtype == np.float32 and a.tolist() == [2.0, 2.0, 2.0]
    w = ember.tensor(np.array([1.0, 2.0]), requires_grad=True)
    acc = ember.tensor(np.zeros(2))
    acc.add_(w)  # a value requiring grad added into a plain tensor: recorded
    (acc * acc).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 4.0])
