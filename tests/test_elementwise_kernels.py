"""ember._C.binary / binary_scalar / copy / cast (csrc/ops/elementwise.cpp), the ops that reach
them (arithmetic, maximum/minimum, in-place updates, clone, casts, zeros, cat/stack), exact
against NumPy and PyTorch."""

import numpy as np
import pytest

import ember
from ember import _C, ops

DTYPES = [np.float32, np.float64]
OPS = [  # (code, NumPy ufunc, ember function)
    (0, np.add, ember.add),
    (1, np.subtract, ember.sub),
    (2, np.multiply, ember.mul),
    (3, np.true_divide, ember.div),
    (4, np.maximum, ember.maximum),
    (5, np.minimum, ember.minimum),
]
OP_IDS = [u.__name__ for _, u, _ in OPS]
# sizes across the kernels' thresholds: 16 elements (the C++ path), 64K (a second thread)
SHAPES = [(3, 5), (4, 8), (37, 129), (600, 257)]
SPECIAL = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-40, -1e-310, 3.0, -2.5]


def _values(shape, dtype, seed):
    """Random values with NaN, infinities, signed zeros and subnormals sprinkled in."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * 3
    flat = x.reshape(-1)
    pick = rng.integers(0, flat.size, max(1, flat.size // 7))
    flat[pick] = rng.choice(SPECIAL, pick.size)
    return x.astype(dtype)


def _same(actual, expected, zero_sign=True):
    """Bit-identical up to NaN payloads (torch's maximum writes its own NaN); zero_sign=False
    also lets -0.0 equal 0.0 (torch's maximum(-0.0, 0.0) depends on which operand it
    broadcasts; NumPy's, and ember's, always gives the second)."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    nan = np.isnan(expected)
    np.testing.assert_array_equal(np.isnan(actual), nan)
    np.testing.assert_array_equal(actual[~nan], expected[~nan])
    if zero_sign:
        np.testing.assert_array_equal(np.signbit(actual[~nan]), np.signbit(expected[~nan]))


def _quiet(ufunc, a, b):
    with np.errstate(all="ignore"):
        return ufunc(a, b)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code,ufunc,fn", OPS, ids=OP_IDS)
@pytest.mark.parametrize("shape", SHAPES)
def test_kernel_forms_match_numpy_exactly(code, ufunc, fn, dtype, shape):
    a, b = _values(shape, dtype, 0), _values(shape, dtype, 1)
    rows, n = shape
    _same(_C.binary(a, b, code), _quiet(ufunc, a, b))
    _same(_C.binary(a, b, code, flip=True), _quiet(ufunc, b, a))
    row, col = b[0].copy(), b[:, 0].copy()
    _same(_C.binary(a, row, code), _quiet(ufunc, a, row))
    _same(_C.binary(a, row, code, flip=True), _quiet(ufunc, row, a))
    _same(_C.binary(a, col, code, per_row=True), _quiet(ufunc, a, col[:, None]))
    _same(_C.binary(a, col, code, per_row=True, flip=True), _quiet(ufunc, col[:, None], a))
    for s in (0.3, -2, 0.0, -0.0, float("nan"), float("inf")):
        _same(_C.binary_scalar(a, s, code), _quiet(ufunc, a, dtype(s)))
        _same(_C.binary_scalar(a, s, code, flip=True), _quiet(ufunc, dtype(s), a))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code,ufunc,fn", OPS, ids=OP_IDS)
def test_ops_match_numpy_exactly(code, ufunc, fn, dtype):
    x = _values((300, 257), dtype, 2)
    y = _values((300, 257), dtype, 3)
    ex, ey = ember.tensor(x), ember.tensor(y)
    q = _ember_quiet
    cases = [
        (fn(ex, ey), _quiet(ufunc, x, y)),
        (fn(ex, ember.tensor(y[0])), _quiet(ufunc, x, y[0])),  # a row
        (fn(ex, ember.tensor(y.T.copy())[:, 0]), _quiet(ufunc, x, y[0])),  # a strided row
        (fn(ember.tensor(y[:, :1]), ex), _quiet(ufunc, y[:, :1], x)),  # a column, first
        (fn(ex, ember.tensor(y[0, 0])), _quiet(ufunc, x, y[0, 0])),  # a 0-d tensor
        (q(fn, ex, ember.tensor(x.T.copy()).T), _quiet(ufunc, x, x)),  # a strided operand
        (q(fn, ex[:, ::2], ey[:, ::2]), _quiet(ufunc, x[:, ::2], y[:, ::2])),
    ]
    if code < 4:  # the operators take Python numbers (maximum/minimum take tensors)
        cases += [(fn(ex, 0.7), _quiet(ufunc, x, dtype(0.7))), (fn(3, ex), _quiet(ufunc, 3, x))]
    for got, want in cases:
        _same(got.numpy(), np.asarray(want, dtype))


def _ember_quiet(fn, *args):
    with np.errstate(all="ignore"):  # (NumPy's path, for strided operands, warns on inf - inf)
        return fn(*args)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("code,ufunc,fn", OPS, ids=OP_IDS)
def test_ops_match_torch(code, ufunc, fn, dtype):
    torch = pytest.importorskip("torch")
    tfn = [torch.add, torch.sub, torch.mul, torch.div, torch.maximum, torch.minimum][code]
    x, y = _values((400, 300), dtype, 4), _values((400, 300), dtype, 5)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    signs = code < 4
    _same(fn(ember.tensor(x), ember.tensor(y)).numpy(), tfn(tx, ty).numpy())
    _same(fn(ember.tensor(x), ember.tensor(y[1])).numpy(), tfn(tx, ty[1]).numpy(), signs)
    _same(fn(ember.tensor(y[:, 1:2]), ember.tensor(x)).numpy(), tfn(ty[:, 1:2], tx).numpy(), signs)
    if code < 4:
        _same(fn(ember.tensor(x), 1.5).numpy(), tfn(tx, 1.5).numpy())


def test_thread_count_does_not_change_bits():
    x, y = _values((1000, 1000), np.float32, 6), _values((1000, 1000), np.float32, 7)
    before = ember.get_num_threads()
    try:
        results = []
        for n in (1, 2):
            ember.set_num_threads(n)
            results.append([_C.binary(x, y, c) for c in range(6)] + [_C.copy(x), _C.cast(x, "d")])
        for a, b in zip(*results):
            assert a.tobytes() == b.tobytes()
    finally:
        ember.set_num_threads(before)


def test_large_float_ops_use_the_kernels(monkeypatch):
    calls = []

    def spy(name, real):
        def call(*args, **kwargs):
            y = real(*args, **kwargs)
            if y is not None:  # (binary_auto's None: it declined, the caller goes on)
                calls.append(name)
            return y

        return call

    for name in ("binary", "binary_scalar", "binary_auto", "copy", "cast"):
        monkeypatch.setattr(_C, name, spy(name, getattr(_C, name)))
    x = ember.tensor(np.random.default_rng(0).standard_normal((256, 1024)).astype(np.float32))
    # + * / outside autograd are the C fast methods (csrc/bindings/bind_fast.cpp), which run
    # binary's kernel without a Python call to spy on: the same bits as _C.binary's
    a = x.data
    for got, want in [
        (x + x, _C.binary(a, a, 0)),
        (x * 2.0, _C.binary_scalar(a, 2.0, 2)),
        (x / x[0], _C.binary(a, a[0].copy(), 3)),
    ]:
        assert got.data.tobytes() == want.tobytes()
    calls.clear()
    ember.maximum(x, x), x.clone(), x.double()  # noqa: B018
    # (two arrays: binary_auto, which runs binary's kernel)
    assert calls == ["binary_auto", "copy", "cast"]
    calls.clear()
    i = ember.tensor(np.ones((256, 1024), np.int64))
    i + i, i * 2, x[:, ::2] + x[:, ::2], i.clone()  # noqa: B018  (int, strided: NumPy)
    assert calls == ["copy"]  # (the copy kernel takes any numeric dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_in_place_forms_match_numpy(dtype):
    x, y = _values((300, 257), dtype, 8), _values((300, 257), dtype, 9)
    cases = [
        (lambda t: t.__iadd__(ember.tensor(y)), lambda a: np.add(a, y, out=a)),
        (lambda t: t.add_(ember.tensor(y[3])), lambda a: np.add(a, y[3], out=a)),
        (lambda t: t.sub_(ember.tensor(y[:, :1])), lambda a: np.subtract(a, y[:, :1], out=a)),
        (lambda t: t.mul_(0.25), lambda a: np.multiply(a, dtype(0.25), out=a)),
        (lambda t: t.__itruediv__(ember.tensor(y)), lambda a: np.true_divide(a, y, out=a)),
        (lambda t: t.__iadd__(t), lambda a: np.add(a, a, out=a)),  # self: fine
    ]
    for ember_op, numpy_op in cases:
        t, a = ember.tensor(x.copy()), x.copy()
        data = t.data
        with np.errstate(all="ignore"):  # (as above: NumPy's path for overlapping operands)
            out = ember_op(t)
            numpy_op(a)
        assert out is t and t.data is data  # written in place
        _same(t.data, a)
    t = ember.tensor(x.copy())
    with pytest.raises(RuntimeError, match="single memory location"):
        t.__iadd__(t[0])  # a row of self: partial overlap, refused as torch


def test_in_place_autograd_rules_hold_on_the_kernel_path():
    x = np.random.default_rng(10).standard_normal((300, 257))
    leaf = ember.tensor(x, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf .*that requires grad"):
        leaf += 1.0
    with pytest.raises(RuntimeError, match="leaf .*that requires grad"):
        leaf.mul_(ember.tensor(x))
    # an in-place write into a value saved for backward is caught at backward
    h = leaf * 2.0
    y = h * h
    h += 1.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    # recorded in-place arithmetic differentiates as torch: d/dx sum((2x + x) * x) = 6x
    leaf.grad = None
    h = leaf * 2.0
    h += leaf
    (h * leaf).sum().backward()
    np.testing.assert_allclose(leaf.grad.numpy(), 6 * x, rtol=1e-15)
    with ember.no_grad():
        leaf.add_(1.0)  # a leaf may be updated under no_grad (an optimiser step)
    np.testing.assert_array_equal(leaf.data, x + 1.0)


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "maximum", "minimum"])
def test_gradients_on_the_kernel_path_by_finite_differences(name, monkeypatch):
    monkeypatch.setattr(ops, "_KERNEL_MIN", 1)  # the kernels for these small operands too
    monkeypatch.setattr(ops, "_SAME_SHAPE_MIN", 0)
    rng = np.random.default_rng(11)
    fn = getattr(ember, name)
    a = ember.tensor(rng.standard_normal((3, 8)) + 3, requires_grad=True)
    for b in (
        rng.standard_normal((3, 8)) + 3,  # same shape
        rng.standard_normal(8) + 3,  # a row
        rng.standard_normal((3, 1)) + 3,  # a column
    ):
        bt = ember.tensor(b, requires_grad=True)
        assert ember.autograd.gradcheck(lambda p, q: fn(p, q), (a, bt))
        assert ember.autograd.gradcheck(lambda q, p: fn(q, p), (bt, a))
    if name in ("add", "sub", "mul", "div"):
        assert ember.autograd.gradcheck(lambda p: fn(p, 1.7), (a,))


def test_forward_mode_through_the_kernel_path():
    fa = ember.autograd.forward_ad
    x = np.random.default_rng(12).standard_normal((300, 257))
    v = np.ones_like(x)
    with fa.dual_level():
        d = fa.make_dual(ember.tensor(x), ember.tensor(v))
        out = fa.unpack_dual(d * d + d / 2.0)
    np.testing.assert_allclose(out.tangent.numpy(), 2 * x + 0.5, rtol=1e-14)


def test_bad_shapes_are_named_by_the_op():
    a, b = ember.ones(300, 257), ember.ones(300, 256)
    for fn in (ember.add, ember.sub, ember.mul, ember.div, ember.maximum, ember.minimum):
        with pytest.raises(ValueError, match=r"\(300, 257\) and \(300, 256\)"):
            fn(a, b)


def test_copies_match_numpy():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((700, 300)).astype(np.float32)
    t = ember.tensor(x)
    c = t.clone()
    assert not np.shares_memory(c.data, x) and c.data.tobytes() == x.tobytes()
    assert t.double().data.tobytes() == x.astype(np.float64).tobytes()
    big = rng.standard_normal((700, 300)) * 1e38  # rounds to float32 infinities past its max
    with np.errstate(over="ignore"):
        want = big.astype(np.float32)
    assert ember.tensor(big).float().data.tobytes() == want.tobytes()
    for dt in (np.int8, np.int64, np.bool_, np.complex64):
        a = (rng.standard_normal((513, 301)) * 50).astype(dt)
        assert _C.copy(a).tobytes() == a.tobytes()
    z = ember.zeros(700, 300, dtype=ember.float64)
    assert z.dtype == np.float64 and not z.data.any() and not np.signbit(z.data).any()
    g = ember.tensor(x, requires_grad=True)
    g.clone().sum().backward()
    np.testing.assert_array_equal(g.grad.numpy(), np.ones_like(x))


@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.int16])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_match_numpy(dtype, dim):
    rng = np.random.default_rng(14)
    # odd byte counts and sizes on both sides of the threaded copy's threshold
    for shape in [(3, 5), (301, 517), (1000, 700)]:
        xs = [(rng.standard_normal(shape) * 40).astype(dtype) for _ in range(3)]
        xs[1] = xs[1][: shape[0] // 2 + 1] if dim == 0 else xs[1]
        got = ember.cat([ember.tensor(a) for a in xs], dim).numpy()
        np.testing.assert_array_equal(got, np.concatenate(xs, dim))
        same = [a[: xs[1].shape[0]] for a in xs]
        got = ember.stack([ember.tensor(a) for a in same], dim).numpy()
        np.testing.assert_array_equal(got, np.stack(same, dim))


def _bad(exc, match, fn, *args, **kw):
    with pytest.raises(exc, match=match):
        fn(*args, **kw)


def test_bad_input_straight_to_the_kernels():
    f, d = np.ones((4, 8), np.float32), np.ones((4, 8))
    _bad(TypeError, "binary: a must be float32 or float64, got int32", _C.binary,
         np.ones((4, 8), np.int32), np.ones((4, 8), np.int32), 0)  # fmt: skip
    _bad(TypeError, r"binary: dtypes differ \(float32 vs float64\)", _C.binary, f, d, 0)
    _bad(ValueError, r"b \(4, 7\) must have a's shape \(4, 8\)", _C.binary, f, f[:, :7].copy(), 0)
    _bad(ValueError, r"b \(3,\) does not fit a \(4, 8\) as a row", _C.binary, f, f[0, :3].copy(), 0)
    _bad(ValueError, r"b \(5,\) does not fit a \(4, 8\) as a column", _C.binary, f, f[0, :5].copy(),
         0, True)  # fmt: skip
    _bad(ValueError, r"b \(0,\) does not fit a \(4, 8\)", _C.binary, f, f[0, :0].copy(), 0)
    # a (4, 8) and a (2, 4, 4) with b (4,): rows of 4 (the Python layer picks the meaning)
    np.testing.assert_array_equal(_C.binary(f, f[0, :4].copy() * 2, 2), f * 2)
    _bad(ValueError, "binary: a must be C-contiguous", _C.binary, f.T, f.T.copy(), 0)
    _bad(ValueError, "binary: b must be C-contiguous", _C.binary, f[:, :4].copy(), f[:, ::2], 0)
    _bad(ValueError, "op must be 0 .add.*got 6", _C.binary, f, f, 6)
    _bad(ValueError, "op must be 0 .add.*got -1", _C.binary_scalar, f, 1.0, -1)
    _bad(ValueError, "scalar 1e.39 is out of float32's range", _C.binary_scalar, f, 1e39, 0)
    _bad(TypeError, "binary_scalar: a must be float32 or float64", _C.binary_scalar,
         np.ones(3, np.int64), 1.0, 0)  # fmt: skip
    _bad(TypeError, "out must be a NumPy array, got list", _C.binary, f, f, 0, out=[1])
    _bad(ValueError, r"out must have shape \(4, 8\), got \(8, 4\)", _C.binary, f, f, 0,
         out=np.ones((8, 4), np.float32))  # fmt: skip
    _bad(TypeError, "dtypes differ", _C.binary_scalar, f, 1.0, 0, out=np.ones((4, 8)))
    ro = np.ones((4, 8), np.float32)
    ro.flags.writeable = False
    _bad(ValueError, "out is read-only", _C.binary, f, f, 0, out=ro)
    buf = np.ones(33, np.float32)
    _bad(ValueError, "out overlaps the memory of a", _C.binary, buf[1:], buf[1:], 0, out=buf[:-1])
    _bad(ValueError, "out overlaps the memory of b", _C.binary, f, f[1], 0, out=f)
    _bad(TypeError, "copy: x must have a numeric dtype, got object", _C.copy,
         np.array([None, 1], object))  # fmt: skip
    _bad(ValueError, "copy: x must be C-contiguous", _C.copy, f.T)
    _bad(TypeError, "cast: dtype must be float32 or float64, got int64", _C.cast, f, np.int64)
    _bad(TypeError, "cast: x must be float32 or float64", _C.cast, np.ones(3, np.int8), "f")
    # empty operands are fine
    assert _C.binary(np.ones((0, 8)), np.ones(8), 0).shape == (0, 8)
    assert _C.copy(np.ones((0, 3))).shape == (0, 3)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(3, 5), (37, 129), (600, 257)])
def test_where_matches_numpy_and_torch(dtype, shape):
    a, b = _values(shape, dtype, 15), _values(shape, dtype, 16)
    cond = np.random.default_rng(17).random(shape) > 0.5
    for x, y in [(a, b), (a, -0.0), (2, b), (float("nan"), b)]:
        want = np.where(cond, x, y)
        _same(_C.where(cond, x, y), want.astype(dtype))
        ex = ember.tensor(x) if isinstance(x, np.ndarray) else x
        ey = ember.tensor(y) if isinstance(y, np.ndarray) else y
        _same(ember.where(ember.tensor(cond), ex, ey).numpy(), want.astype(dtype))
    torch = pytest.importorskip("torch")
    want = torch.where(torch.from_numpy(cond), torch.from_numpy(a), torch.from_numpy(b))
    _same(ember.where(ember.tensor(cond), ember.tensor(a), ember.tensor(b)).numpy(), want.numpy())


def test_where_gradients_on_the_kernel_path(monkeypatch):
    monkeypatch.setattr(ops, "_KERNEL_MIN", 1)
    monkeypatch.setattr(ops, "_SAME_SHAPE_MIN", 0)
    rng = np.random.default_rng(18)
    cond = ember.tensor(rng.random((4, 6)) > 0.5)
    a = ember.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((4, 6)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda p, q: ember.where(cond, p, q), (a, b))
    assert ember.autograd.gradcheck(lambda p: ember.where(cond, p, 0.5), (a,))


def test_where_bad_input_straight_to_the_kernel():
    c, f = np.ones((4, 8), bool), np.ones((4, 8), np.float32)
    _bad(TypeError, "where: cond must be bool, got float32", _C.where, f, f, f)
    _bad(ValueError, "where: cond must be C-contiguous", _C.where, c.T, f.T.copy(), f.T.copy())
    _bad(ValueError, r"where: b \(4, 7\) must have cond's shape \(4, 8\)", _C.where, c, f,
         f[:, :7].copy())  # fmt: skip
    _bad(TypeError, r"where: dtypes differ \(float32 vs float64\)", _C.where, c, f, np.ones((4, 8)))
    _bad(TypeError, "where: a must be float32 or float64, got int64", _C.where, c,
         np.ones((4, 8), np.int64), 1.0)  # fmt: skip
    _bad(TypeError, "both are numbers", _C.where, c, 1.0, 2.0)
    _bad(TypeError, "b must be a float32/float64 array or a Python number, got str", _C.where,
         c, f, "x")  # fmt: skip
    _bad(ValueError, "number 1e.40 is out of float32's range", _C.where, c, f, 1e40)


def test_arange_kernel_chunks_and_bad_input():
    # torch's split: each chunk restarts the vectors of 8 floats / 4 doubles at its first index
    for dt in (np.float32, np.float64):
        whole, split = _C.arange(0.1, 0.3, 70001, 70001, dt), _C.arange(0.1, 0.3, 70001, 35001, dt)
        assert whole.dtype == dt and whole.shape == (70001,)
        ref = 0.1 + 0.3 * np.arange(70001, dtype=np.float64)
        np.testing.assert_array_max_ulp(whole, ref.astype(dt), maxulp=1)
        np.testing.assert_array_max_ulp(split, ref.astype(dt), maxulp=1)
        assert _C.arange(1.0, 1.0, 0, 1, dt).shape == (0,)
    _bad(TypeError, "arange: dtype must be float32 or float64, got int64", _C.arange, 0.0, 1.0,
         4, 4, np.int64)  # fmt: skip
    _bad(ValueError, "arange: n must be >= 0, got -1", _C.arange, 0.0, 1.0, -1, 1, np.float32)
    _bad(ValueError, "arange: chunk must be >= 1, got 0", _C.arange, 0.0, 1.0, 4, 0, np.float32)
    _bad(ValueError, "arange: start and step must be finite", _C.arange, 0.0, np.inf, 4, 4,
         np.float32)  # fmt: skip
