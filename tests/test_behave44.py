"""Tensor-op behaviour matched to PyTorch 2.13 (behave44): complex in-place add / sub with
infinite or NaN operands (torch adds (1 + 0j) * other: x += inf is inf + nanj); no NumPy
RuntimeWarning when a Python number overflows the tensor's dtype (float32 + 1e39 is inf,
silently, as torch); complex 0 ** b's signed zero; rot90's strides for k = 3 (and -1) of an
empty tensor; narrow_copy's IndexError for a dim out of range."""

import itertools
import math
import warnings

import numpy as np
import pytest

import ember


def _torch():
    return pytest.importorskip("torch")


def _parts(t) -> list:
    """(real, imag) floats of each element, as strings: the sign of a zero and NaN compare."""
    return [(str(float(v.real)), str(float(v.imag))) for v in t.reshape(-1).tolist()]


# ---- 1. complex in-place add / sub with infinities ------------------------------------------

_INF = math.inf
_OTHERS = {
    "inf": lambda L: _INF,
    "-inf": lambda L: -_INF,
    "nan": lambda L: math.nan,
    "infj": lambda L: complex(0, _INF),
    "inf+0j": lambda L: complex(_INF, 0),
    "float_tensor": lambda L: L.tensor([_INF, 1.0]),
    "complex_0d": lambda L: L.tensor(complex(_INF, 0)),
    "finite": lambda L: 2.5,
}
_FORMS = {
    "+=": lambda x, y: x.__iadd__(y),
    "-=": lambda x, y: x.__isub__(y),
    "add_": lambda x, y: x.add_(y),
    "sub_": lambda x, y: x.sub_(y),
}


@pytest.mark.parametrize("dt", ["complex64", "complex128"])
@pytest.mark.parametrize("form", sorted(_FORMS))
def test_complex_inplace_add_with_infinities(dt, form):
    torch = _torch()
    for name, other in _OTHERS.items():
        got = []
        for L in (torch, ember):
            x = L.tensor([1 + 1j, 2 - 1j], dtype=getattr(L, dt))
            y = _FORMS[form](x, other(L))
            assert y is x
            got.append(_parts(x))
        assert got[0] == got[1], (form, dt, name, got)


def test_complex_inplace_add_matches_out_of_place():
    x = ember.tensor([1 + 1j, 2 - 1j])
    y = x + _INF
    x += _INF
    assert _parts(x) == _parts(y) == [("inf", "nan")] * 2


# ---- 2. no NumPy warning when a Python number overflows the dtype -----------------------------

_OVERFLOW = {
    "add": lambda L, x: x + 1e39,
    "radd": lambda L, x: 1e39 + x,
    "sub": lambda L, x: x - 1e39,
    "mul": lambda L, x: x * 1e39,
    "div": lambda L, x: x / 1e39,
    "rdiv": lambda L, x: 1e39 / x,
    "add_imag": lambda L, x: x + complex(1e39, 1e39),
    "eq": lambda L, x: x == 1e39,
    "lt": lambda L, x: x < -1e39,
    "ne_complex": lambda L, x: x != complex(1e39, 0),
    "iadd": lambda L, x: x.__iadd__(1e39),
    "imul": lambda L, x: x.__imul__(-1e39),
    "idiv_nan": lambda L, x: x.__itruediv__(math.nan),
    "idiv_zero": lambda L, x: x.__itruediv__(0.0),
    "out_f64": lambda L, x: L.add(x, L.tensor([1e39, 1.0], dtype=L.float64), out=L.empty_like(x)),
    "out_number": lambda L, x: L.add(x, 1e39, out=L.empty_like(x)),
}
_OVERFLOW_DTYPES = ["float16", "bfloat16", "float32", "complex64"]


@pytest.mark.parametrize("case", sorted(_OVERFLOW))
def test_number_overflow_is_silent_inf(case):
    torch = _torch()
    for dt in _OVERFLOW_DTYPES:
        if case in ("add_imag", "ne_complex") and dt in ("float16", "bfloat16"):
            continue  # (torch's ComplexHalf, which ember has not)
        if case == "rdiv" and dt == "complex64":
            continue  # (number / 0j: torch's nan + nanj, ember's inf + nanj, see the report)
        got = []
        for L in (torch, ember):
            x = L.tensor([1.0, 0.0], dtype=getattr(L, dt))
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # (a NumPy RuntimeWarning fails here)
                try:
                    y = _OVERFLOW[case](L, x)
                except RuntimeError as e:  # (torch refuses some: ember must refuse too)
                    got.append(type(e))
                    continue
            got.append((str(y.dtype).removeprefix("torch."), [str(v) for v in y.tolist()]))
        if isinstance(got[0], type):
            assert isinstance(got[1], type) and issubclass(got[1], got[0]), (case, dt, got)
        else:
            assert got[0] == got[1], (case, dt, got)


def test_number_overflow_values():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = ember.tensor([1 + 1j]) + 1e39
        z = ember.tensor([1.0, -1.0]) * 1e39
        c = ember.tensor([1.0]) == 1e39
    assert _parts(y) == [("inf", "nan")]  # (torch's a + (1 + 0j) * inf)
    np.testing.assert_array_equal(z.numpy(), [np.inf, -np.inf])
    assert z.dtype == ember.float32 and c.tolist() == [False]


# ---- 3. complex 0 ** b ------------------------------------------------------------------------

_EXPONENTS = [2.5, 4, 7, 1.5, 2 + 1j, 0.1 - 3j, complex(2.5, -0.0), 2 - 1j, 3, 0.5, -2.5, 0]


@pytest.mark.parametrize("dt", ["complex64", "complex128"])
def test_complex_zero_to_positive_power_sign(dt):
    torch = _torch()
    zeros = [0j, complex(-0.0, 0), complex(0, -0.0), complex(-0.0, -0.0)]
    forms = {
        "tensor": lambda L, z, e: L.pow(z, L.tensor([e] * 4)),
        "number": lambda L, z, e: L.pow(z, e),
        "number_base": lambda L, z, e: L.pow(0j, L.tensor([e] * 2, dtype=z.dtype)),
        "pow_": lambda L, z, e: z.clone().pow_(e),
    }
    for (name, f), e in itertools.product(forms.items(), _EXPONENTS):
        got = []
        for L in (torch, ember):
            z = L.tensor(zeros, dtype=getattr(L, dt))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                got.append(_parts(f(L, z, e)))
        assert got[0] == got[1], (name, e, got)


def test_complex_pow_nonzero_unchanged():
    b = ember.tensor([1 + 1j, 0j, -2 + 0.5j], dtype=ember.complex128)
    y = ember.pow(b, 2.5).numpy()
    np.testing.assert_allclose(y[[0, 2]], np.power(b.numpy()[[0, 2]], 2.5), rtol=1e-12)
    assert _parts(ember.tensor(y[1])) == [("0.0", "-0.0")]


# ---- 4. rot90 strides, narrow_copy's dim check --------------------------------------------------


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (2, 0, 4), (0, 0), (2, 3), (2, 3, 4), (3, 1)])
def test_rot90_layout_as_torch(shape):
    torch = _torch()
    for k, dims in itertools.product(range(-5, 6), [(0, 1), (1, 0), (0, -1), (-1, 0)]):
        got = []
        for L in (torch, ember):
            x = L.arange(math.prod(shape), dtype=L.float32).reshape(shape)
            y = L.rot90(x, k, dims)
            got.append((tuple(y.shape), tuple(y.stride()), y.tolist()))
        assert got[0] == got[1], (shape, k, dims, got)


def test_rot90_gradient():
    x = ember.randn(2, 3, 4, dtype=ember.float64, requires_grad=True)
    for k in (1, 2, 3, -1):
        assert ember.autograd.gradcheck(lambda x, k=k: ember.rot90(x, k, (0, 2)), (x,))


@pytest.mark.parametrize("dim", [2, -3, 5])
def test_narrow_copy_dim_out_of_range(dim):
    # (torch 2.13 raises IndexError for a negative dim and an internal-assert RuntimeError,
    # "Expected dim < ...", for a positive one: ember's IndexError for both, as narrow's)
    with pytest.raises(IndexError, match="out of range"):
        ember.narrow_copy(ember.ones(2, 3), dim, 0, 1)
    with pytest.raises(IndexError, match="out of range"):
        ember.narrow(ember.ones(2, 3), dim, 0, 1)
