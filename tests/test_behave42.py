"""behave42: torch 2.13's answers where ember differed: lerp of integer dtypes, index_fill's
index dtype and rank, polar at inf/NaN, clamp with a number beside a tensor bound, Python
ints no int64/uint64 Scalar holds, copy_ of complex values into a real tensor."""

import math
import operator
import warnings

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _run(lib, fn):
    try:
        return fn(lib), None
    except Exception as e:  # noqa: BLE001  (the exception itself is compared)
        return None, e


def _same(fn):
    """fn(torch) and fn(ember) agree: both raise (ember's exception of torch's class), or both
    give tensors of one dtype, shape and values (NaN where NaN; floats to a few ulps)."""
    t, te = _run(torch, fn)
    e, ee = _run(ember, fn)
    if te is not None:
        assert ee is not None, f"torch raised {te!r}, ember returned {e!r}"
        assert isinstance(ee, type(te)), f"torch {te!r}, ember {ee!r}"
        return
    assert ee is None, f"torch returned {t!r}, ember raised {ee!r}"
    assert str(e.dtype).replace("bool_", "bool") == str(t.dtype).removeprefix("torch.")
    assert tuple(e.shape) == tuple(t.shape)
    a, b = np.asarray(e.detach()), t.detach().numpy()
    if a.dtype.kind in "fc":  # (pow and division of complex numbers: last-bit rounding)
        np.testing.assert_allclose(a, b, rtol=2e-6 if a.dtype.itemsize > 2 else 1e-3)
    else:
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dt", ["int64", "int8", "uint8", "bool"])
@pytest.mark.parametrize("weight", [0.5, 1, "tensor"])
def test_lerp_integer_dtypes_refused(dt, weight):
    def call(lib, inplace):
        d = getattr(lib, dt)
        x, y = lib.tensor([1, 0], dtype=d), lib.tensor([3, 1], dtype=d)
        w = lib.tensor([1, 1], dtype=d) if weight == "tensor" else weight
        return x.lerp_(y, w) if inplace else lib.lerp(x, y, w)

    for inplace in (False, True):
        with pytest.raises(NotImplementedError, match="lerp"):
            call(ember, inplace)
        _same(lambda lib, inplace=inplace: call(lib, inplace))


def test_lerp_mixed_dtypes_still_dtype_error():
    # an integer self with a float end: torch's "expected dtype" RuntimeError comes first
    _same(lambda lib: lib.tensor([1, 2]).lerp_(lib.tensor([3.0, 4.0]), 0.5))
    _same(lambda lib: lib.tensor([1.0, 2.0]).lerp_(lib.tensor([3.0, 4.0]), 0.25))


@pytest.mark.parametrize("inplace", [False, True])
@pytest.mark.parametrize(
    "index", [[1.0], "int32", "int16", [[1]], [[0, 2]], "0d", [0, 2], [-1], []]
)
def test_index_fill_index_dtype_and_rank(inplace, index):
    def call(lib):
        if index == "0d":
            i = lib.tensor(1)
        elif isinstance(index, str):
            i = lib.tensor([1, 2], dtype=getattr(lib, index))
        else:
            i = lib.tensor(index, dtype=lib.int64 if index == [] else None)
        x = lib.zeros(2, 3)
        return x.index_fill_(1, i, 2.5) if inplace else lib.index_fill(x, 1, i, 2.5)

    _same(call)
    if isinstance(index, str) and index != "0d" or index == [1.0]:
        with pytest.raises(IndexError, match="int64"):
            call(ember)
        with pytest.raises(TypeError):  # (ember's dtype family too)
            call(ember)
    if isinstance(index, list) and index and isinstance(index[0], list):
        with pytest.raises(RuntimeError, match=r"\(1, (1|2)\)"):
            call(ember)


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_polar_non_finite_as_torch(dt):
    vals = [math.inf, -math.inf, math.nan, 0.0, -0.0, 1.5, -2.0]
    ab = [a for a in vals for _ in vals]
    an = [b for _ in vals for b in vals + [math.pi / 2, math.pi]][: len(ab)]

    def call(lib):
        d = getattr(lib, dt)
        return lib.polar(lib.tensor(ab, dtype=d), lib.tensor(an, dtype=d))

    t, e = call(torch).numpy(), np.asarray(call(ember))
    assert e.dtype == t.dtype
    for part in (np.real, np.imag):
        np.testing.assert_allclose(part(e), part(t), rtol=1e-6, atol=0, equal_nan=True)


_BOUNDS = {
    "int": 1,
    "float": 1.5,
    "none": None,
    "t0_i": ("int64", 1, ()),
    "t0_f64": ("float64", 1.5, ()),
    "t0_b": ("bool", True, ()),
    "t1_f64": ("float64", 1.5, (1,)),
    "t0_grad": ("float64", 1.5, "grad"),
}


def _bound(lib, spec):
    if not isinstance(spec, tuple):
        return spec
    dt, v, shape = spec
    if shape == "grad":
        return lib.tensor(v, dtype=getattr(lib, dt), requires_grad=True)
    return lib.tensor(np.full(shape, v), dtype=getattr(lib, dt))


@pytest.mark.parametrize("xd", ["int64", "int32", "float32", "float16", "bool"])
@pytest.mark.parametrize("lo", list(_BOUNDS))
@pytest.mark.parametrize("hi", ["int", "float", "none", "t0_f64", "t1_f64", "t0_grad"])
def test_clamp_number_beside_tensor_bound(xd, lo, hi):
    def call(lib, how):
        x = lib.tensor([0, 1, 2, 3], dtype=getattr(lib, xd))
        a, b = _bound(lib, _BOUNDS[lo]), _bound(lib, _BOUNDS[hi])
        if how == "fn":
            return lib.clamp(x, a, b)
        if how == "clip":
            return lib.clip(x, min=a, max=b)
        return x.clamp(a, b)

    for how in ("fn", "clip", "method"):
        _same(lambda lib, how=how: call(lib, how))


def test_clamp_in_place_number_beside_tensor_bound():
    _same(lambda lib: lib.tensor([0.0, 1.0, 2.0]).clamp_(0, lib.tensor(1.5, dtype=lib.float64)))
    _same(lambda lib: lib.tensor([0.0, 1.0, 2.0]).clamp_(0, lib.tensor([1.5])))
    with pytest.raises(TypeError, match=r"shape \(1,\)"):
        ember.clamp(ember.tensor([0.0, 1.0]), 0, ember.tensor([1.5]))


def test_clamp_zero_d_bound_as_number_gradient():
    x = ember.tensor([-1.0, 0.2, 0.7, 3.0], dtype=ember.float64, requires_grad=True)
    hi = ember.tensor(0.5, dtype=ember.float64)
    y = ember.clamp(x, -0.5, hi)
    assert y.grad_fn.name() == torch.clamp(torch.ones(1, requires_grad=True), 0, 1).grad_fn.name()
    assert gradcheck(lambda v: ember.clamp(v, -0.5, hi), (x,))


def _lib(x):
    return torch if isinstance(x, torch.Tensor) else ember


_BIG = [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -(10**25)]
_OPS = {
    "add": operator.add,
    "rsub": lambda a, b: b - a,
    "mul": operator.mul,
    "truediv": operator.truediv,
    "floordiv": operator.floordiv,
    "mod": operator.mod,
    "and": operator.and_,
    "xor": operator.xor,
    "lshift": operator.lshift,
    "eq": operator.eq,
    "lt": operator.lt,
    "ne": lambda a, b: b != a,
    "fn_add": lambda a, b: _lib(a).add(a, b),
    "fn_remainder": lambda a, b: _lib(a).remainder(a, b),
    "fn_ge": lambda a, b: _lib(a).ge(a, b),
    "fn_pow": lambda a, b: _lib(a).pow(b, a),
}


@pytest.mark.parametrize("dt", ["int64", "int32", "uint8", "bool", "float32", "float64"])
@pytest.mark.parametrize("op", list(_OPS))
def test_python_int_outside_int64_and_uint64(dt, op):
    """torch's parser holds a Python int as an int64 or a uint64 Scalar: others are its
    OverflowError whatever the tensor's dtype; a uint64-only one beside bool its RuntimeError."""
    f = _OPS[op]
    for big in _BIG:

        def call(lib, big=big):
            x = lib.tensor([1, 2], dtype=getattr(lib, dt))
            return f(x, big)

        _same(call)
        if not -(2**63) <= big < 2**64:
            with pytest.raises(OverflowError):
                call(ember)


@pytest.mark.parametrize("name", ["add_", "mul_", "fill_"])
def test_python_int_overflow_in_place_integer(name):
    for dt in ("int64", "int32", "uint8"):
        for big in (2**64, -(2**63) - 1, 10**30):
            _same(
                lambda lib, dt=dt, big=big: getattr(lib.zeros(2, dtype=getattr(lib, dt)), name)(big)
            )


def test_copy_complex_into_real_warns_as_torch():
    src = np.array([1.5 + 2j, -3 - 1j, 2j])
    for dt in ("float32", "int32", "float64"):
        x = ember.zeros(3, dtype=getattr(ember, dt))
        with pytest.warns(UserWarning, match="discards the imaginary part"):
            x.copy_(src)
        t = torch.zeros(3, dtype=getattr(torch, dt))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t.copy_(torch.from_numpy(src))
        np.testing.assert_array_equal(np.asarray(x), t.numpy())
    # complex -> bool keeps the imaginary part's truth, silently (as torch)
    b = ember.zeros(3, dtype=ember.bool)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        b.copy_(src)
    np.testing.assert_array_equal(
        np.asarray(b), torch.zeros(3, dtype=torch.bool).copy_(torch.from_numpy(src)).numpy()
    )


_DT = ["bool", "uint8", "int8", "int32", "int64", "float16", "float32", "float64", "complex64"]


def _data(rng, dt, shape):
    if dt == "bool":
        return rng.random(shape) < 0.5
    if dt in ("uint8", "int8", "int32", "int64"):
        return rng.integers(0 if dt == "uint8" else -6, 10, shape).astype(dt)
    a = rng.normal(size=shape) * 3
    return (a + 1j * rng.normal(size=shape) if dt == "complex64" else a).astype(dt)


_INPLACE = ["add_", "sub_", "mul_", "div_", "trunc", "floor", "floor_divide_", "remainder_",
            "bitwise_and_", "bitwise_xor_", "logical_or_", "clamp_", "copy_", "fill_", "pow_",
            "bitwise_left_shift_"]  # fmt: skip


@pytest.mark.parametrize("seed", range(4))
def test_in_place_ops_across_dtypes_as_torch(seed):
    """x.op_(y) on a target of each dtype: torch's values in x's dtype, or its refusal ("result
    type ... can't be cast", integer division by zero, bool subtraction)."""
    rng = np.random.default_rng(4200 + seed)
    for _ in range(120):
        op = _INPLACE[rng.integers(len(_INPLACE))]
        td, od = _DT[rng.integers(len(_DT))], _DT[rng.integers(len(_DT))]
        a = _data(rng, td, (2, 3))
        b = _data(rng, od, [(), (3,), (2, 3)][rng.integers(3)])
        if rng.random() < 0.3:
            b = np.zeros_like(b)
        number = [None, 2, -1.5, True][rng.integers(4)]

        def call(lib, op=op, a=a, b=b, number=number):
            x = lib.tensor(a)
            # (ember's logical ops take numbers too: torch only tensors)
            y = (
                number
                if number is not None and op not in ("copy_", "logical_or_")
                else lib.tensor(b)
            )
            if op in ("trunc", "floor"):
                r = x.div_(y, rounding_mode=op)
            else:
                r = getattr(x, op)(y)
            assert r is x
            return x

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch warns once a process for complex casts)
            _same(call)


@pytest.mark.parametrize("seed", range(3))
def test_integer_division_and_shifts_as_torch(seed):
    """Integer division and remainder by zero (torch's ZeroDivisionError RuntimeError), shifts
    by negative and oversized amounts (torch's values), across integer dtypes."""
    rng = np.random.default_rng(4300 + seed)
    ops = ["floor", "trunc", "floor_divide", "remainder", "fmod", "<<", ">>"]
    for _ in range(100):
        op = ops[rng.integers(len(ops))]
        d1 = ["uint8", "int8", "int16", "int32", "int64"][rng.integers(5)]
        d2 = ["bool", "uint8", "int8", "int32", "int64"][rng.integers(5)]
        a = rng.integers(-100, 100, (2, 3)).astype(d1)
        if op in ("<<", ">>"):
            b = rng.choice([-65, -9, -1, 0, 1, 7, 8, 9, 31, 32, 63, 64, 200], (2, 3))
        else:
            b = rng.integers(-2, 3, (2, 3))
        scalar = int(b.flat[0]) if rng.random() < 0.3 else None

        def call(lib, op=op, a=a, b=b, d2=d2, scalar=scalar):
            x = lib.tensor(a)
            y = scalar if scalar is not None else lib.tensor(b.astype(d2))
            if op in ("floor", "trunc"):
                return lib.div(x, y, rounding_mode=op)
            if op == "<<":
                return x << y
            if op == ">>":
                return x >> y
            return getattr(lib, op)(x, y)

        _same(call)


def test_float_to_int_conversions_as_torch():
    """NaN, inf and out-of-range floats cast to each integer dtype (and bool / float16): torch's
    values (its CPU casts), by .to, the dtype methods and tolist."""
    pool = [math.nan, math.inf, -math.inf, 1e10, -1e10, 3e9, 300.5, -129.7, 255.9, -0.9,
            2.0**31, -(2.0**31), 2.0**63, 65504.0, 70000.0, 127.5, 128.0, -1.0]  # fmt: skip
    for src in ("float32", "float64"):
        for dst in ("int8", "uint8", "int16", "int32", "int64", "bool", "float16"):
            _same(lambda lib, src=src, dst=dst: lib.tensor(pool, dtype=getattr(lib, src)).to(
                getattr(lib, dst)))  # fmt: skip
            t = torch.tensor(pool, dtype=getattr(torch, src)).to(getattr(torch, dst)).tolist()
            e = ember.tensor(pool, dtype=getattr(ember, src)).to(getattr(ember, dst)).tolist()
            assert str(e) == str(t)


@pytest.mark.parametrize(
    ("value", "dt"),
    [(-0.9, "uint8"), (-1.0, "uint8"), (255.5, "uint8"), (255.0, "uint8"), (127.9, "int8"),
     (-128.9, "int8"), (2.0**63, "int64"), (2147483647.5, "int32"), (math.nan, "int32"),
     (math.inf, "int64"), (1.5, "int32"), (-3.7, "int16")],
)  # fmt: skip
def test_tensor_of_python_floats_into_integer_dtype(value, dt):
    """torch.tensor's checked conversion: a float outside [min, max] (as doubles) refused,
    2.0**63 into int64 wraps to its min, the rest truncated."""
    for make in ("tensor", "as_tensor"):
        for data in (value, [value, 1.0], [[value], [2.0]]):
            _same(
                lambda lib, make=make, data=data: getattr(lib, make)(data, dtype=getattr(lib, dt))
            )


@pytest.mark.parametrize("value", [1.5, -2.0, 2.0**63, 1e300, math.inf, math.nan, 1e10])
def test_int_of_complex_tensor(value):
    """torch's checked int64 conversion of a complex tensor's real part (its RuntimeError for
    NaN / inf, 2.0**63 wrapping)."""
    for dt in ("complex64", "complex128"):

        def call(lib, dt=dt):
            return int(lib.tensor(complex(value, 0), dtype=getattr(lib, dt)))

        (t, te), (e, ee) = _run(torch, call), _run(ember, call)
        if te is None:
            assert ee is None and type(e) is int and e == t
        else:
            assert isinstance(ee, type(te)), (te, ee)
    with pytest.raises(RuntimeError, match="int64"):
        int(ember.tensor(1 + 2j))


def test_copy_bfloat16_into_integer_as_torch():
    src = [math.nan, math.inf, -math.inf, 3e9, -1e10, 300.5, -129.7, 2.5]
    for dt in ("int32", "int8", "uint8", "int64"):
        t = torch.zeros(len(src), dtype=getattr(torch, dt))
        t.copy_(torch.tensor(src, dtype=torch.bfloat16))
        e = ember.zeros(len(src), dtype=getattr(ember, dt))
        e.copy_(ember.tensor(src, dtype=ember.bfloat16))
        np.testing.assert_array_equal(np.asarray(e), t.numpy())
