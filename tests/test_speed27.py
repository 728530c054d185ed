"""speed27: Tensor's + - * / (and number + / * tensor), exp, log, sqrt, tanh, sigmoid, relu and
neg run their no-autograd fast paths in C (_C.fast_methods, csrc/bindings/bind_fast.cpp). Held
here: the C path gives the general path's bits, dtype, shape and a plain Tensor outside the
graph; whatever it does not take (autograd, other dtypes, strides, broadcasting the kernels do
not do, subclasses, inference_mode, bad operands) goes to the Python path with its results and
its error messages."""

import pickle
from operator import methodcaller

import numpy as np
import pytest

import ember


def _python_path(fn):
    """fn with ops.py's calls of the C fast functions declined: the reference is the Python
    path alone (ember.add, ember.exp, ... try the C path first, as the methods do)."""

    def call(*args):
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(ember._C, "fast_binary", lambda *_: None)
            mp.setattr(ember._C, "fast_unary", lambda *_: None)
            return fn(*args)

    return call


BINARY = [
    ("__add__", _python_path(ember.add), np.add),
    ("__sub__", _python_path(ember.sub), np.subtract),
    ("__mul__", _python_path(ember.mul), np.multiply),
    ("__truediv__", _python_path(ember.div), np.divide),
]
UNARY = ["exp", "log", "sqrt", "tanh", "sigmoid", "relu", "neg"]


def _same(t, ref):
    """t is a plain Tensor outside the graph with ref's dtype, shape and bits."""
    assert type(t) is ember.Tensor
    assert not t.requires_grad and t.grad_fn is None and t.is_leaf
    a, b = t.numpy(), ref.numpy() if isinstance(ref, ember.Tensor) else ref
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)
    )


def _agree(method, general, *args):
    """method(*args) as general(*args): the same result, or the same error."""
    try:
        ref = general(*args)
    except Exception as e:  # noqa: BLE001  (the reference's own refusal)
        with pytest.raises(type(e), match=str(e)[:40].replace("(", ".").replace(")", ".")):
            method(*args)
        return
    _same(method(*args), ref)


def _arr(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def test_methods_are_c_descriptors():
    for name in ("__add__", "__sub__", "__mul__", "__truediv__", "__radd__", "__rmul__",
                 "__neg__", *UNARY):  # fmt: skip
        assert type(ember.Tensor.__dict__[name]).__name__ == "method_descriptor", name
    assert pickle.loads(pickle.dumps(ember.Tensor.exp)) is ember.Tensor.exp


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "sa, sb",
    [
        ((32, 32), (32, 32)),  # same shape
        ((32, 32), ()),  # one value, 0-d
        ((1,), (4, 8)),  # one value on the left
        ((1, 1), (40,)),  # one value of more dims than the other: broadcast shape (1, 40)
        ((6, 16), (16,)),  # a row
        ((6, 16), (6, 1)),  # a column
        ((3, 5), (3, 5)),  # under 16 elements
        ((2, 3, 8), (3, 1)),  # a column over leading dims
        ((4, 1), (1, 8)),  # outer broadcasting: the general path
    ],
)
def test_tensor_op_tensor_matches_general_and_numpy(dtype, sa, sb):
    rng = np.random.default_rng(0)
    x, y = _arr(rng, sa, dtype), _arr(rng, sb, dtype) + 3.0
    y = y.astype(dtype)
    a, b = ember.tensor(x), ember.tensor(y)
    for name, general, ufunc in BINARY:
        out = getattr(a, name)(b)
        _same(out, general(a, b))
        np.testing.assert_array_equal(out.numpy(), ufunc(x, y))
        _same(getattr(b, name)(a), general(b, a))


def test_strided_views_and_size1_views_keep_the_general_layout():
    rng = np.random.default_rng(1)
    base = ember.tensor(_arr(rng, (24, 20), np.float32))
    col = ember.tensor(_arr(rng, (20, 1), np.float32))
    for a, b in [
        (base.t(), base.t()),  # transposed: not C-contiguous
        (base[:, ::2], base[:, 1::2]),  # strided
        (col.t(), col.t()),  # (1, 20) views of a (20, 1): torch's layout by the Python path
        (base[:1], base[3:4]),  # a size-1 dim of a C-contiguous view
    ]:
        for name, general, _ in BINARY:
            out, ref = getattr(a, name)(b), general(a, b)
            _same(out, ref)
            assert out.stride() == ref.stride()


def test_mixed_dtypes_promote_as_before():
    rng = np.random.default_rng(2)
    f32 = ember.tensor(_arr(rng, (8, 8), np.float32))
    f64 = ember.tensor(_arr(rng, (8, 8), np.float64))
    i64 = ember.tensor(rng.integers(1, 5, (8, 8)))
    for a, b in [(f32, f64), (f64, f32), (f32, i64), (i64, f32), (i64, i64)]:
        for name, general, _ in BINARY:
            _same(getattr(a, name)(b), general(a, b))


@_python_path
def _flipped_add(a, s):
    return ember.add(s, a)


@_python_path
def _flipped_mul(a, s):
    return ember.mul(s, a)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tensor_and_number(dtype):
    rng = np.random.default_rng(3)
    x = _arr(rng, (32, 32), dtype)
    a = ember.tensor(x)
    for s in (2.5, -3, 0, 1e-40, float("inf"), float("nan"), 2**53, 2**60, True, 1e300):
        with np.errstate(all="ignore"):
            for name, general, _ in BINARY:
                _agree(getattr(ember.Tensor, name), general, a, s)
            _agree(ember.Tensor.__radd__, _flipped_add, a, s)
            _agree(ember.Tensor.__rmul__, _flipped_mul, a, s)
    np.testing.assert_array_equal((a * 0.5).numpy(), x * dtype(0.5))
    np.testing.assert_array_equal((3 + a).numpy(), dtype(3) + x)


def test_number_on_small_or_strided_tensor_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(4).standard_normal((5, 3)).astype(np.float32)
    for a, t in [(ember.tensor(x), torch.tensor(x)), (ember.tensor(x).t(), torch.tensor(x).t())]:
        for f in (lambda v: v + 1.5, lambda v: 2 * v, lambda v: v / 3, lambda v: 1 - v):
            np.testing.assert_array_equal(f(a).numpy(), f(t).numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_methods_match_general_and_torch(dtype):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(5).uniform(0.1, 3.0, (32, 32)).astype(dtype)
    x[0, :4] = [0.0, -0.0, np.inf, np.nan]
    a, t = ember.tensor(x), torch.from_numpy(x)
    with np.errstate(all="ignore"):
        for name in UNARY:
            out = getattr(a, name)()
            general = ember.neg if name == "neg" else getattr(ember, name, None)
            if general is not None:
                _same(out, _python_path(general)(a))
            np.testing.assert_allclose(
                out.numpy(), getattr(t, name)().numpy(), rtol=2e-7 if dtype == np.float32 else 1e-15
            )
        _same(-a, _python_path(ember.neg)(a))
        np.testing.assert_array_equal(np.signbit((-a).numpy()[0, :2]), [True, False])


def test_unary_other_inputs_take_the_python_path():
    rng = np.random.default_rng(6)
    x = ember.tensor(_arr(rng, (6, 10), np.float32))
    zero_d = ember.tensor(np.float32(0.5))
    for name in UNARY:
        general = _python_path(ember.neg if name == "neg" else getattr(ember, name))
        _same(getattr(x.t(), name)(), general(x.t()))  # strided
        assert getattr(zero_d, name)().shape == ()
    assert (-zero_d).shape == () and (-zero_d).item() == -0.5
    ints = ember.tensor([1, -2, 3])
    _same(-ints, np.array([-1, 2, -3]))
    np.testing.assert_allclose(
        ints.exp().numpy(), np.exp([1.0, -2.0, 3.0]).astype(np.float32), rtol=1e-6
    )
    with pytest.raises(TypeError, match="negating a bool tensor is not supported"):
        -ember.tensor([True, False])
    with pytest.raises(TypeError, match="negating a bool tensor is not supported"):
        ember.tensor([True, False]).neg()


def test_autograd_and_grad_modes_unchanged():
    rng = np.random.default_rng(7)
    x = ember.tensor(_arr(rng, (8, 8), np.float64), requires_grad=True)
    y = ember.tensor(_arr(rng, (8, 8), np.float64))
    out = ((x + y) * 2.0 - x / (y.abs() + 1)).tanh().sigmoid().exp().relu() + (-x).neg()
    assert out.requires_grad and out.grad_fn is not None
    out.sum().backward()
    assert x.grad is not None and x.grad.shape == (8, 8)
    with ember.no_grad():
        n = x * y
        assert not n.requires_grad and n.grad_fn is None
        _same(n, ember.tensor(x.detach().numpy() * y.numpy()))
        _same(x.exp(), _python_path(ember.exp)(x.detach()))

    def f(a):
        return ((a * a + 1.0) / (a.exp() + 2)).tanh().sigmoid() - a.sqrt().log()

    z = ember.tensor(rng.uniform(1, 2, (3, 4)), requires_grad=True)
    assert ember.autograd.gradcheck(f, (z,))


def test_inference_mode_results_are_inference_tensors():
    rng = np.random.default_rng(8)
    a = ember.tensor(_arr(rng, (8, 8), np.float32))
    with ember.inference_mode():
        outs = [a + a, a * 2.0, 2.0 * a, -a, a.exp(), a.relu(), a.neg()]
    for o in outs:
        assert o.is_inference()
    assert not (a + a).is_inference()


def test_subclasses_and_hooks_unchanged():
    class Sub(ember.Tensor):
        pass

    rng = np.random.default_rng(9)
    a = ember.tensor(_arr(rng, (8, 8), np.float32))
    s = Sub(_arr(rng, (8, 8), np.float32))
    for name, general, _ in BINARY:
        _same(getattr(a, name)(s), general(a, s))
    p = ember.nn.Parameter(ember.tensor(_arr(rng, (8, 8), np.float32)))
    seen = []
    p.register_hook(lambda g: seen.append(g.shape))
    (p * a + 1.0).exp().sum().backward()
    assert seen == [(8, 8)]


def test_bad_operands_raise_as_before():
    a = ember.tensor(np.ones((4, 5), np.float32))
    b = ember.tensor(np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match=r"add: shapes \(4, 5\) and \(3, 5\) do not broadcast"):
        a + b
    with pytest.raises(ValueError, match=r"mul: shapes \(4, 5\) and \(3, 5\) do not broadcast"):
        a * b
    with pytest.raises(TypeError):
        a + "x"
    with pytest.raises(TypeError):
        ember.Tensor.__add__(a)
    with pytest.raises(TypeError):
        ember.Tensor.exp(a, 1)
    with pytest.raises(TypeError, match="descriptor"):
        ember.Tensor.__add__(1.0, a)


def test_out_and_inplace_version_counters_unchanged():
    rng = np.random.default_rng(10)
    a = ember.tensor(_arr(rng, (8, 8), np.float32))
    b = ember.tensor(_arr(rng, (8, 8), np.float32))
    c = a + b
    v = c._version
    c += a
    assert c._version == v + 1
    out = ember.empty((8, 8))
    ember.add(a, b, out=out)
    _same(out, a + b)


# ---- x[:, j]: a tuple of ints and slices outside the graph (ops.basic_view) ----------------


@pytest.mark.parametrize(
    "index",
    [
        (slice(None), 3),
        (1, slice(None)),
        (slice(1, 5, 2), -1),
        (2, 3),
        (),
        (0, slice(None, None, 3)),
    ],
)
def test_basic_tuple_index_is_the_generic_view(index):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(11).standard_normal((6, 7)).astype(np.float32)
    a, t = ember.tensor(x), torch.from_numpy(x.copy())
    out, ref = a[index], ember.ops.getitem(a, index)
    assert type(out) is ember.Tensor and out.shape == ref.shape == tuple(t[index].shape)
    assert out.stride() == ref.stride() == t[index].stride()
    np.testing.assert_array_equal(out.numpy(), t[index].numpy())
    assert out._base is a and not out.requires_grad
    v = a._version
    out.add_(1.0)  # a view: the write reaches a and bumps the shared version
    assert a._version == v + 1
    np.testing.assert_array_equal(a.numpy()[index], x[index] + np.float32(1.0))


def test_basic_tuple_index_grad_modes_and_errors():
    x = ember.tensor(np.arange(12.0).reshape(3, 4), requires_grad=True)
    y = x[:, 1]
    assert y.grad_fn is not None  # in the graph: the generic path
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0, 0]] * 3)
    with ember.no_grad():
        z = x[1:, 2]
    assert z.requires_grad and z.grad_fn is None and z._base is x  # (torch's no-grad view)
    with ember.inference_mode():
        w = ember.tensor(np.ones((3, 4)))[:, 0]
    assert w.is_inference()
    with pytest.raises(IndexError, match=r"into a tensor of shape \(3, 4\)"):
        x.detach()[:, 9]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x.detach()[::-1, 0]
    with pytest.raises(IndexError):
        ember.tensor(1.0)[0, 0]


# ---- the functional forms: ops.add / sub / mul / div and _kernel_unary try the C path first ----


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_functional_forms_match_methods_and_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x, y = _arr(rng, (16, 24), dtype), _arr(rng, (16, 24), dtype)
    a, b, ta, tb = ember.tensor(x), ember.tensor(y), torch.from_numpy(x), torch.from_numpy(y)
    for fn, name in [
        (ember.add, "add"),
        (ember.sub, "sub"),
        (ember.mul, "mul"),
        (ember.div, "div"),
    ]:
        _same(fn(a, b), ember.tensor(getattr(torch, name)(ta, tb).numpy()))
        _same(fn(a, 2.5), ember.tensor(getattr(torch, name)(ta, 2.5).numpy()))
        _same(getattr(a, name)(b), fn(a, b))
    _same(ember.add(a, b, alpha=2), ember.tensor(torch.add(ta, tb, alpha=2).numpy()))
    _same(ember.sub(a, b, alpha=0.5), ember.tensor(torch.sub(ta, tb, alpha=0.5).numpy()))
    F = ember.nn.functional
    for f, g in [
        (ember.exp, methodcaller("exp")),
        (F.relu, methodcaller("relu")),
        (F.sigmoid, methodcaller("sigmoid")),
        (F.tanh, methodcaller("tanh")),
        (ember.sqrt, None),
        (ember.rsqrt, None),
    ]:
        out = f(a.abs())
        assert type(out) is ember.Tensor and not out.requires_grad
        if g is not None:
            _same(out, g(a.abs()))
    np.testing.assert_allclose(
        ember.rsqrt(a.abs()).numpy(), torch.rsqrt(ta.abs()).numpy(), rtol=1e-6
    )


def test_fast_entries_decline_and_refuse():
    from ember import _C

    x = ember.tensor(np.ones((4, 5), np.float32), requires_grad=True)
    p = ember.tensor(np.ones((4, 5), np.float32))
    assert _C.fast_binary(x, p, 0) is None  # autograd: the Python path
    assert _C.fast_binary(2.0, p, 0) is None  # a number first
    assert _C.fast_unary(x, 0) is None
    assert _C.fast_unary(p.t(), 0) is None  # strided
    with ember.no_grad():
        y = ember.exp(x)  # (no_grad with a tensor requiring grad: _kernel_unary's own path)
    assert not y.requires_grad and y.grad_fn is None
    with pytest.raises(ValueError, match="op must be 0 to 3"):
        _C.fast_binary(p, p, 4)
    with pytest.raises(ValueError, match="out of range"):
        _C.fast_unary(p, 10_000)
    out = ember.add(x, p)
    assert out.grad_fn is not None
