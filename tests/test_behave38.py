"""behave38: ember's refusals in torch's exception families (NotImplementedError for a dtype
an op has no kernel for, RuntimeError for torch's other refusals) with torch's words, and
grad_fn names as torch's, each against torch 2.13."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import _errors, ops
from ember.nn import init

torch = pytest.importorskip("torch")


def _t(L, values, dtype):
    return L.tensor(values, dtype=getattr(L, dtype))


def _mat(L, dtype, shape=(2, 3)):
    return L.ones(*shape, dtype=getattr(L, dtype))


# (case, call on ember or torch, words ember's message must hold)
REFUSALS = {
    "hypot(bool)": (lambda L: L.hypot(_t(L, [True], "bool"), _t(L, [False], "bool")), "'Bool'"),
    "logaddexp2(int64)": (lambda L: L.logaddexp2(_t(L, [1], "int64"), _t(L, [2], "int64")),
                          "'Long'"),
    "nextafter(bool,complex)": (
        lambda L: L.nextafter(_t(L, [True], "bool"), _t(L, [1j], "complex64")), "Complex"),
    "gcd(float16)": (lambda L: L.gcd(_t(L, [2], "float16"), _t(L, [4], "float16")), "'Half'"),
    "gcd(bool,bool)": (lambda L: L.gcd(_t(L, [True], "bool"), _t(L, [True], "bool")), "'Bool'"),
    "bitwise_and(float32)": (
        lambda L: L.bitwise_and(_t(L, [1.0], "float32"), _t(L, [1.0], "float32")), "'Float'"),
    "bitwise_not(float16)": (lambda L: L.bitwise_not(_t(L, [1.0], "float16")), "'Half'"),
    "bitwise_left_shift(bool,bool)": (
        lambda L: L.bitwise_left_shift(_t(L, [True], "bool"), _t(L, [True], "bool")), "'Bool'"),
    "fmod(bool,bool)": (lambda L: L.fmod(_t(L, [True], "bool"), _t(L, [True], "bool")), "'Bool'"),
    "remainder(complex)": (lambda L: L.remainder(_t(L, [1j], "complex64"), 2), "ComplexFloat"),
    "fmod(float,complex)": (
        lambda L: L.fmod(_t(L, [1.0], "float32"), _t(L, [1j], "complex64")), "Complex"),
    "floor_divide(bool,bool)": (
        lambda L: L.floor_divide(_t(L, [True], "bool"), _t(L, [True], "bool")), "'Bool'"),
    "atan2(bool,complex)": (
        lambda L: L.atan2(_t(L, [True], "bool"), _t(L, [1j], "complex64")), "ComplexFloat"),
    "copysign(complex)": (lambda L: L.copysign(_t(L, [1j], "complex64"), 2.0), "ComplexFloat"),
    "xlogy(bool,complex)": (
        lambda L: L.xlogy(_t(L, [True], "bool"), _t(L, [1j], "complex64")), "ComplexFloat"),
    "maximum(complex)": (
        lambda L: L.maximum(_t(L, [1j], "complex64"), _t(L, [1j], "complex64")), "Complex"),
    "fmin(bool,complex)": (
        lambda L: L.fmin(_t(L, [True], "bool"), _t(L, [1j], "complex64")), "Complex"),
    "lt(complex)": (lambda L: L.lt(_t(L, [1j], "complex64"), _t(L, [1j], "complex64")),
                    "ComplexFloat"),
    "x < complex": (lambda L: _t(L, [1j], "complex128") < 2, "ComplexDouble"),
    "igamma(complex)": (
        lambda L: L.igamma(_t(L, [1.0], "float32"), _t(L, [1j], "complex64")), "Complex"),
    "signbit(complex)": (lambda L: L.signbit(_t(L, [1j], "complex64")), "ComplexFloat"),
    "erf(complex)": (lambda L: L.erf(_t(L, [1j], "complex64")), "ComplexFloat"),
    "floor(bool)": (lambda L: L.floor(_t(L, [True], "bool")), "'Bool'"),
    "sign(complex)": (lambda L: L.sign(_t(L, [1j], "complex64")), "ComplexFloat"),
    "frac(int64)": (lambda L: L.frac(_t(L, [1], "int64")), "'Long'"),
    "abs(bool)": (lambda L: L.abs(_t(L, [True], "bool")), "'Bool'"),
    "pow(bool,bool)": (lambda L: L.pow(_t(L, [True], "bool"), _t(L, [True], "bool")), "'Bool'"),
    "addcmul(bool)": (lambda L: L.addcmul(*(_t(L, [True], "bool"),) * 3), "'Bool'"),
    "lerp(bool)": (lambda L: L.lerp(*(_t(L, [True], "bool"),) * 3), "'Bool'"),
    "mm(bool)": (lambda L: L.mm(_mat(L, "bool"), _mat(L, "bool", (3, 2))), "'Bool'"),
    "matmul(bool)": (lambda L: L.matmul(_mat(L, "bool"), _mat(L, "bool", (3,))), "'Bool'"),
    "bmm(bool)": (lambda L: L.bmm(_mat(L, "bool", (2, 2, 3)), _mat(L, "bool", (2, 3, 2))),
                  "'Bool'"),
    "dot(bool)": (lambda L: L.dot(_mat(L, "bool", (3,)), _mat(L, "bool", (3,))), "'Bool'"),
    "addmm(bool)": (lambda L: L.addmm(_mat(L, "bool", (2, 2)), _mat(L, "bool"),
                                      _mat(L, "bool", (3, 2))), "'Bool'"),
    "baddbmm(bool)": (lambda L: L.baddbmm(_mat(L, "bool", (2, 2, 2)), _mat(L, "bool", (2, 2, 3)),
                                          _mat(L, "bool", (2, 3, 2))), "'Bool'"),
    "cross(bool)": (lambda L: L.linalg.cross(_mat(L, "bool"), _mat(L, "bool")), "'Bool'"),
    "eig(float16)": (lambda L: L.linalg.eig(_mat(L, "float16", (2, 2))), "'Half'"),
    "vander(bool)": (lambda L: L.linalg.vander(_mat(L, "bool", (3,))), "bool"),
    "arange(bool)": (lambda L: L.arange(5, dtype=L.bool), "'Bool'"),
    "arange(complex)": (lambda L: L.arange(5, dtype=L.complex64), "ComplexFloat"),
    "range(bool)": (lambda L: L.range(0, 5, dtype=L.bool), "'Bool'"),
    "linspace(bool)": (lambda L: L.linspace(0, 1, 5, dtype=L.bool), "'Bool'"),
    "logspace(bool)": (lambda L: L.logspace(0, 1, 5, dtype=L.bool), "'Bool'"),
    "hann_window(5, complex)": (lambda L: L.hann_window(5, dtype=L.complex64), "ComplexFloat"),
    # torch's RuntimeError (ember's BadDtype / BadShapeOrValue)
    "heaviside(mixed)": (
        lambda L: L.heaviside(_t(L, [1.0], "float32"), _t(L, [1.0], "float64")), "dtype"),
    "dot(mixed)": (lambda L: L.dot(_t(L, [1.0], "float32"), _t(L, [1.0], "float64")), "dtype"),
    "sub(bool)": (lambda L: L.sub(_t(L, [True], "bool"), _t(L, [True], "bool")), "bool"),
    "neg(bool)": (lambda L: L.neg(_t(L, [True], "bool")), "bool"),
    "positive(bool)": (lambda L: L.positive(_t(L, [True], "bool")), "bool"),
    "addcdiv(bool)": (lambda L: L.addcdiv(*(_t(L, [True], "bool"),) * 3), "division"),
    "mm(1-D)": (lambda L: L.mm(_mat(L, "float32", (3,)), _mat(L, "float32", (3,))), "2-D"),
    "bmm(2-D)": (lambda L: L.bmm(_mat(L, "float32"), _mat(L, "float32", (3, 2))), "(2, 3)"),
    "outer(2-D)": (lambda L: L.outer(_mat(L, "float32"), _mat(L, "float32", (3,))), "1-D"),
    "addmm(bad input)": (lambda L: L.addmm(_mat(L, "float32", (3, 3)), _mat(L, "float32"),
                                           _mat(L, "float32", (3, 2))), "(3, 3)"),
    "addr(int, float alpha)": (lambda L: L.addr(_mat(L, "int64", (2, 3)), _mat(L, "int64", (2,)),
                                                _mat(L, "int64", (3,)), alpha=0.5), "alpha"),
    "hann_window(5, int64)": (lambda L: L.hann_window(5, dtype=L.int64), "floating point"),
    "hamming_window(-1)": (lambda L: L.hamming_window(-1), "non-negative"),
    "blackman_window(2.0)": (lambda L: L.blackman_window(2.0), "window_length"),
    "range(5, 0)": (lambda L: L.range(5, 0), "step sign"),
    "range(0, 5, 0)": (lambda L: L.range(0, 5, 0), "nonzero"),
    # torch's IndexError
    "x[:, [1]] of (3, 0)": (lambda L: L.zeros(3, 0)[:, L.tensor([1])], "size 0"),
}  # fmt: skip


@pytest.mark.filterwarnings("ignore::UserWarning")  # (range's deprecation)
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusal_family_as_torch(case):
    f, words = REFUSALS[case]
    with pytest.raises(Exception) as want:
        f(torch)
    with pytest.raises(type(want.value)) as got:  # torch's class (or a subclass of it)
        f(ember)
    assert words in str(got.value), (str(got.value), str(want.value))
    # ember's own classes stay: a dtype refusal is still a TypeError, a shape one a ValueError
    if isinstance(want.value, NotImplementedError):
        assert isinstance(got.value, _errors.DtypeNotImplemented)
        assert isinstance(got.value, TypeError)


def test_not_implemented_names_torch_dtype():
    e = _errors.not_implemented("hypot", "bool", "shapes (3,) and (3,)")
    assert isinstance(e, NotImplementedError | TypeError | RuntimeError)
    assert str(e) == "hypot: not implemented for bool ('Bool'); shapes (3,) and (3,)"
    assert "'ComplexDouble'" in str(_errors.not_implemented("lt", np.dtype(np.complex128)))


def test_out_of_bounds_lives_in_errors():
    assert ops._OutOfBounds is _errors.OutOfBounds
    assert issubclass(_errors.OutOfBounds, IndexError)
    assert issubclass(_errors.OutOfBounds, _errors.BadShapeOrValue)
    with pytest.raises(_errors.OutOfBounds, match=r"index 5 is out of bounds"):
        ember.zeros(3).scatter(0, ember.tensor([5]), 1.0)


# calls both libraries compute: the same dtype, shape and values
VALUES = {
    "addbmm(uint8)": lambda L: L.addbmm(_mat(L, "uint8", (2, 2)), _mat(L, "uint8", (2, 2, 3)),
                                        _mat(L, "uint8", (2, 3, 2))),
    "outer(bool)": lambda L: L.outer(_t(L, [True, False], "bool"), _t(L, [True], "bool")),
    "hann_window(1, complex64)": lambda L: L.hann_window(1, dtype=L.complex64),
    "hann_window(0, complex128)": lambda L: L.hann_window(0, dtype=L.complex128),
    "linspace(0, 1, 1, bool)": lambda L: L.linspace(0, 1, 1, dtype=L.bool),
    "bitwise_left_shift(bool, int)": lambda L: L.bitwise_left_shift(
        _t(L, [True, False], "bool"), _t(L, [2, 3], "int64")),
    "x[[3]] of (3, 0)": lambda L: L.zeros(3, 0)[L.tensor([3])],
    "x[:, [5]] of (0, 3)": lambda L: L.zeros(0, 3)[:, L.tensor([5])],
    "x[:, [1]] of (3, 0) empty index": lambda L: L.zeros(3, 0)[:, L.tensor([], dtype=L.int64)],
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(VALUES))
def test_values_as_torch(case):
    want, got = VALUES[case](torch), VALUES[case](ember)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("sparsity", [1.5, -0.5, -2.0, 0.3])
def test_sparse_takes_any_sparsity_as_torch(sparsity):
    torch.manual_seed(0)
    ember.manual_seed(0)
    want = torch.nn.init.sparse_(torch.empty(6, 4), sparsity)
    got = init.sparse_(ember.empty(6, 4), sparsity)
    np.testing.assert_array_equal((got.numpy() == 0).sum(0), (want.numpy() == 0).sum(0))


def _leaf(L, shape, seed, low=None, spd=False):
    r = np.random.default_rng(seed).standard_normal(shape)
    if low is not None:
        r = np.abs(r) + low
    if spd:
        r = r @ r.T + 3 * np.eye(shape[0])
    return L.tensor(r, requires_grad=True)


# (case, the call on ember or torch): the result's grad_fn name is torch's
NODES = {
    "atan2": lambda L: L.atan2(_leaf(L, (3,), 0), _leaf(L, (3,), 1)),
    "xlogy": lambda L: L.xlogy(_leaf(L, (3,), 0), _leaf(L, (3,), 1, 0.5)),
    "xlogy(t, 2.0)": lambda L: L.xlogy(_leaf(L, (3,), 0), 2.0),
    "xlogy(2.0, t)": lambda L: L.xlogy(2.0, _leaf(L, (3,), 0, 0.5)),
    "fmod": lambda L: L.fmod(_leaf(L, (3,), 0), _leaf(L, (3,), 1, 0.5)),
    "fmod(t, 1.5)": lambda L: L.fmod(_leaf(L, (3,), 0), 1.5),
    "remainder": lambda L: L.remainder(_leaf(L, (3,), 0), _leaf(L, (3,), 1, 0.5)),
    "remainder(t, 1.5)": lambda L: L.remainder(_leaf(L, (3,), 0), 1.5),
    "copysign(t, -1.0)": lambda L: L.copysign(_leaf(L, (3,), 0), -1.0),
    "fmax": lambda L: L.fmax(_leaf(L, (3,), 0), _leaf(L, (3,), 1)),
    "hypot": lambda L: L.hypot(_leaf(L, (3,), 0), _leaf(L, (3,), 1)),
    "logaddexp2": lambda L: L.logaddexp2(_leaf(L, (3,), 0), _leaf(L, (3,), 1)),
    "floor": lambda L: L.floor(_leaf(L, (3,), 0)),
    "ceil": lambda L: L.ceil(_leaf(L, (3,), 0)),
    "trunc": lambda L: L.trunc(_leaf(L, (3,), 0)),
    "round": lambda L: L.round(_leaf(L, (3,), 0)),
    "sign": lambda L: L.sign(_leaf(L, (3,), 0)),
    "minimum": lambda L: L.minimum(_leaf(L, (3,), 0), _leaf(L, (3,), 1)),
    "maximum": lambda L: L.maximum(_leaf(L, (3,), 0), _leaf(L, (3,), 1)),
    "2 ** x": lambda L: 2 ** _leaf(L, (3,), 0),
    "x ** 2": lambda L: _leaf(L, (3,), 0) ** 2,
    "bmm": lambda L: L.bmm(_leaf(L, (2, 2, 3), 0), _leaf(L, (2, 3, 2), 1)),
    "addcmul": lambda L: L.addcmul(_leaf(L, (3,), 0), _leaf(L, (3,), 1), _leaf(L, (3,), 2)),
    "addcdiv": lambda L: L.addcdiv(_leaf(L, (3,), 0), _leaf(L, (3,), 1), _leaf(L, (3,), 2, 0.5)),
    "masked_select": lambda L: L.masked_select(_leaf(L, (3,), 0), L.tensor([True, False, True])),
    "take": lambda L: L.take(_leaf(L, (2, 3), 0), L.tensor([0, 4])),
    "nansum": lambda L: L.nansum(_leaf(L, (3,), 0)),
    "nansum(dim)": lambda L: L.nansum(_leaf(L, (2, 3), 0), 1),
    "div": lambda L: L.div(_leaf(L, (3,), 0), _leaf(L, (3,), 1, 0.5)),
    "x.div(y)": lambda L: _leaf(L, (3,), 0).div(_leaf(L, (3,), 1, 0.5)),
    "div(floor)": lambda L: L.div(_leaf(L, (3,), 0), _leaf(L, (3,), 1, 0.5),
                                  rounding_mode="floor"),
    "inverse": lambda L: L.inverse(_leaf(L, (3, 3), 0, spd=True)),
    "linalg.inv": lambda L: L.linalg.inv(_leaf(L, (3, 3), 0, spd=True)),
    "det": lambda L: L.det(_leaf(L, (3, 3), 0, spd=True)),
    "linalg.det": lambda L: L.linalg.det(_leaf(L, (3, 3), 0, spd=True)),
    "linalg.solve": lambda L: L.linalg.solve(_leaf(L, (3, 3), 0, spd=True), _leaf(L, (3,), 1)),
    "linalg.solve(left=False)": lambda L: L.linalg.solve(
        _leaf(L, (3, 3), 0, spd=True), _leaf(L, (2, 3), 1), left=False),
    "linalg.cholesky": lambda L: L.linalg.cholesky(_leaf(L, (3, 3), 0, spd=True)),
    "linalg.cholesky(upper)": lambda L: L.linalg.cholesky(_leaf(L, (3, 3), 0, spd=True),
                                                          upper=True),
    "cholesky": lambda L: L.cholesky(_leaf(L, (3, 3), 0, spd=True)),
    "cross": lambda L: L.cross(_leaf(L, (2, 3), 0), _leaf(L, (2, 3), 1), dim=1),
    "linalg.cross": lambda L: L.linalg.cross(_leaf(L, (2, 3), 0), _leaf(L, (2, 3), 1)),
    "linalg.slogdet": lambda L: L.linalg.slogdet(_leaf(L, (3, 3), 0, spd=True)).logabsdet,
}  # fmt: skip


@pytest.mark.filterwarnings("ignore::UserWarning")  # (torch.cholesky's deprecation)
@pytest.mark.parametrize("case", sorted(NODES))
def test_grad_fn_name_as_torch(case):
    want, got = NODES[case](torch), NODES[case](ember)
    assert got.grad_fn.name() == want.grad_fn.name()
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize("op", ["atan2", "xlogy", "fmod", "remainder", "hypot", "copysign"])
def test_named_binary_gradients(op):
    # the names change nothing of the gradients: float64 finite differences
    a, b = _leaf(ember, (4,), 3), _leaf(ember, (4,), 4, 0.7)
    f = getattr(ember, op)
    assert ember.autograd.gradcheck(f, (a, b))
    assert ember.autograd.gradcheck(lambda x: f(x, 1.5), (a,))


def test_named_composites_gradients():
    a, b, c = _leaf(ember, (4,), 5), _leaf(ember, (4,), 6), _leaf(ember, (4,), 7, 0.7)
    assert ember.autograd.gradcheck(lambda x, y, z: ember.addcdiv(x, y, z, value=0.5), (a, b, c))
    assert ember.autograd.gradcheck(lambda x: 2**x, (a,))
    spd = _leaf(ember, (3, 3), 8, spd=True)
    assert ember.autograd.gradcheck(lambda m: ember.linalg.solve(m, b[:3]), (spd,))


_ENDS = [0, 1, -1, -2.5, 0.1, 1e6, 7e-9, 1e30, -2e-30, 3e38]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_linspace_within_an_ulp_of_the_ends_of_torch(dtype):
    # torch's kernel rounds fma(step, i, start) / fma(-step, n - 1 - i, end) once; ember keeps
    # its fast float64 product (the lead kept speed over the last bit: 3-30x slower otherwise)
    eps = np.finfo(dtype).eps
    for start in _ENDS:
        for end in _ENDS:
            for steps in (1, 2, 3, 8, 17, 100, 5001):
                want = torch.linspace(start, end, steps, dtype=getattr(torch, dtype)).numpy()
                got = ember.linspace(start, end, steps, dtype=getattr(ember, dtype)).numpy()
                scale = np.float64(max(abs(start), abs(end)))
                np.testing.assert_allclose(
                    got, want, rtol=2 * eps, atol=2 * eps * scale, err_msg=str((start, end, steps))
                )
                assert got[0] == want[0] and got[-1] == want[-1]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("base", [10.0, 2.0, 0.5])
def test_logspace_as_torch(dtype, base):
    # one step: base ** start, as torch; the rest within a few ulps of torch's std::pow
    eps = np.finfo(dtype).eps
    for start in (0, 1, -2.5, 0.1, 7e-9):
        for end in (0, 1, -2.5, 0.1, 7e-9):
            for steps in (1, 2, 5, 33, 1000):
                want = torch.logspace(start, end, steps, base=base, dtype=getattr(torch, dtype))
                got = ember.logspace(start, end, steps, base=base, dtype=getattr(ember, dtype))
                np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=4 * eps, atol=0)
