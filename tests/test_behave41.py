"""behave41: tensor-op behaviour against torch 2.13 (clamp with tensor bounds, finfo/iinfo,
integer linspace/logspace, isclose dtypes, round, complex builders, error families)."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")

NAN = float("nan")


def _pair(name):
    return getattr(ember, name), getattr(torch, name)


def _same_values(e, t):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype).removeprefix("torch.")
    a, b = np.asarray(e.detach().numpy(), np.float64), t.detach().double().numpy()
    np.testing.assert_array_equal(a, b)


def _edges(node):
    return [
        None if n is None else "AccumulateGrad" if "AccumulateGrad" in n.name() else n.name()
        for n, _ in node.next_functions
    ]


# ---- clamp / clip with tensor bounds ------------------------------------------------------
X = [0.0, 1.0, 2.0, 3.0, NAN, 1.5, 2.0]
LO = [1.0, 1.0, 1.0, 4.0, 0.0, 2.0, 2.0]  # ties at x == min, min > max where x is 3.0 / 1.5
HI = [2.0, 2.0, 2.0, 3.0, 1.0, 1.0, 2.0]


@pytest.mark.parametrize("which", ["both", "min", "max", "detached"])
def test_clamp_tensor_bounds_node_and_gradients_match_torch(which):
    res = []
    for L in (ember, torch):
        x, lo, hi = (L.tensor(v, dtype=L.float64, requires_grad=True) for v in (X, LO, HI))
        args = {
            "both": (lo, hi),
            "min": (lo, None),
            "max": (None, hi),
            "detached": (lo.detach(), hi.detach()),
        }[which]
        y = L.clamp(x, *args)
        y.backward(L.arange(1.0, 8.0, dtype=L.float64))
        grads = [None if t.grad is None else t.grad.numpy().tolist() for t in (x, lo, hi)]
        res.append((y, y.grad_fn.name(), _edges(y.grad_fn), grads))
    (ye, ne, ee, ge), (yt, nt, et, gt) = res
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    assert ne == nt == "ClampBackward0"
    assert ee == et
    assert ge == gt


def test_clip_tensor_bounds_broadcast_and_promotion_match_torch():
    for L in (ember, torch):
        x = L.tensor([1.0, 5.0, 9.0], requires_grad=True)
        lo = L.tensor([[2.0], [6.0]], requires_grad=True)
        y = L.clip(x, lo)
        y.sum().backward()
        if L is ember:
            e = (y.detach().numpy(), x.grad.numpy(), lo.grad.numpy(), y.grad_fn.name())
        else:
            t = (y.detach().numpy(), x.grad.numpy(), lo.grad.numpy(), y.grad_fn.name())
    for a, b in zip(e, t, strict=True):
        np.testing.assert_array_equal(a, b)
    vals = {"uint8": [0, 3, 255], "int8": [-128, 3, 127], "int16": [-7, 0, 300],
            "int32": [-5, 2, 9], "int64": [-5, 2, 2**40], "bool": [True, False, True],
            "float16": [-1.5, 0.0, 2.25], "float64": [-1.5, 0.0, 2.25]}  # fmt: skip
    for xd, bd in [("uint8", "int8"), ("uint8", "int16"), ("int8", "int64"), ("bool", "uint8"),
                   ("int16", "int32"), ("float16", "float64"), ("int32", "float16")]:  # fmt: skip
        out = []
        for L in (ember, torch):
            x = L.tensor(vals[xd], dtype=getattr(L, xd))
            b = L.tensor(vals[bd], dtype=getattr(L, bd))
            out.append((L.clamp(x, b, b[1]), L.clamp_min(x, b)))
        for e, t in zip(*out, strict=True):
            _same_values(e, t)


def test_clamp_tensor_bounds_gradcheck():
    rng = np.random.default_rng(41)
    x = ember.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    lo = ember.tensor(rng.normal(size=(4,)) - 0.5, requires_grad=True)
    hi = ember.tensor(rng.normal(size=(3, 1)) + 0.5, requires_grad=True)
    # (ties are measure zero: random draws keep finite differences off the kinks)
    assert gradcheck(lambda a, b, c: ember.clamp(a, b, c), (x, lo, hi))
    assert gradgradcheck(lambda a, b, c: ember.clamp(a, b, c) ** 2, (x, lo, hi))
    assert gradcheck(lambda a, b: ember.clip(a, max=b), (x, hi))


# ---- finfo / iinfo -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["float16", "bfloat16", "float32", "float64", "complex64",
                                  "complex128"])  # fmt: skip
def test_finfo_matches_torch(name):
    e, t = (lib.finfo(getattr(lib, name)) for lib in (ember, torch))
    for attr in ["bits", "eps", "max", "min", "tiny", "smallest_normal", "resolution", "dtype"]:
        assert getattr(e, attr) == getattr(t, attr), attr
        assert type(getattr(e, attr)) is type(getattr(t, attr)), attr
    assert repr(e) == repr(t)


@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int32", "int64"])
def test_iinfo_matches_torch(name):
    e, t = (lib.iinfo(getattr(lib, name)) for lib in (ember, torch))
    assert (e.bits, e.min, e.max, e.dtype) == (t.bits, t.min, t.max, t.dtype)
    assert type(e.max) is int and repr(e) == repr(t)


def test_finfo_default_and_refusals():
    assert repr(ember.finfo()) == repr(torch.finfo())
    for lib in (ember, torch):
        for f, dt in [(lib.finfo, lib.int32), (lib.finfo, lib.bool), (lib.iinfo, lib.float32),
                      (lib.iinfo, lib.bool)]:  # fmt: skip
            with pytest.raises(TypeError):
                f(dt)


# ---- integer linspace / logspace -----------------------------------------------------------
@pytest.mark.parametrize("name", ["uint8", "int8", "int16", "int64"])
def test_integer_linspace_logspace_match_torch(name):
    ed, td = _pair(name)
    for a in range(-5, 9, 2):
        for b in range(-5, 9, 3):
            for n in (1, 2, 3, 7):
                for base in (2, 10, 1.5):
                    res = []
                    for L, dt in ((ember, ed), (torch, td)):
                        try:
                            res.append((L.linspace(a, b, n, dtype=dt).tolist(),
                                        L.logspace(a, b, n, base, dtype=dt).tolist()))  # fmt: skip
                        except RuntimeError:
                            res.append("RuntimeError")
                    assert res[0] == res[1], (a, b, n, base)


def test_uint8_linspace_negative_end_wraps_as_torch():
    e = ember.linspace(7, -1, 7, dtype=ember.uint8)
    t = torch.linspace(7, -1, 7, dtype=torch.uint8)
    assert e.tolist() == t.tolist() == [7, 48, 89, 131, 172, 213, 255]


# ---- isclose / allclose / round / predicates ---------------------------------------------
def test_isclose_allclose_refuse_mixed_dtypes_as_torch():
    for L in (ember, torch):
        a, b = L.ones(3), L.ones(3, dtype=L.float64)
        for f in (L.isclose, L.allclose):
            with pytest.raises(RuntimeError):
                f(a, b)
            with pytest.raises(RuntimeError):
                f(L.ones(3, dtype=L.int64), a)
    x = [1.0, NAN, 1e-9, -0.0, float("inf"), 1.00001]
    y = [1.0, NAN, 0.0, 0.0, float("inf"), 1.0]
    for kw in [{}, {"equal_nan": True}, {"rtol": 0.0, "atol": 1e-3}]:
        e = ember.isclose(ember.tensor(x), ember.tensor(y), **kw)
        t = torch.isclose(torch.tensor(x), torch.tensor(y), **kw)
        assert e.tolist() == t.tolist()
        assert ember.allclose(ember.tensor(x), ember.tensor(y), **kw) == torch.allclose(
            torch.tensor(x), torch.tensor(y), **kw
        )


@pytest.mark.parametrize("name", ["bool", "uint8", "int32", "int64", "complex64"])
def test_round_decimals_refused_for_non_float_as_torch(name):
    for L in (ember, torch):
        with pytest.raises(NotImplementedError):
            L.round(L.ones(2, dtype=getattr(L, name)), decimals=1)


@pytest.mark.parametrize("name", ["float16", "float32", "float64"])
def test_round_decimals_values_match_torch(name):
    v = [0.5, 1.5, 2.5, -0.5, 1.25, 2.675, 123.456, -7.05]
    for d in (-1, 0, 1, 2):
        e = ember.round(ember.tensor(v, dtype=getattr(ember, name)), decimals=d)
        t = torch.round(torch.tensor(v, dtype=getattr(torch, name)), decimals=d)
        _same_values(e, t)


@pytest.mark.parametrize("f", ["isposinf", "isneginf"])
def test_isposinf_isneginf_refuse_complex(f):
    for L in (ember, torch):
        with pytest.raises(RuntimeError):
            getattr(L, f)(L.ones(2, dtype=L.complex64))
    v = [1.0, float("inf"), -float("inf"), NAN]
    assert (
        getattr(ember, f)(ember.tensor(v)).tolist() == getattr(torch, f)(torch.tensor(v)).tolist()
    )


# ---- complex builders, names, errors -----------------------------------------------------
@pytest.mark.parametrize("name", ["int64", "bool", "bfloat16", "complex64"])
def test_complex_builders_refuse_non_float_in_torchs_family(name):
    for L in (ember, torch):
        x = L.ones(3, 2, dtype=getattr(L, name))
        polar_in = x.abs() if x.dtype != L.bool else x
        for f in (
            L.view_as_complex,
            lambda a, L=L: L.complex(a, a),
            lambda a, L=L, r=polar_in: L.polar(r, a),
        ):
            with pytest.raises(RuntimeError):
                f(x)
    for L in (ember, torch):
        with pytest.raises(NotImplementedError):
            L.polar(L.ones(2, dtype=L.float16), L.ones(2, dtype=L.float16))


def test_angle_and_polar_node_names_match_torch():
    names = []
    for L in (ember, torch):
        a = L.angle(L.tensor([1.0, -1.0], requires_grad=True))
        p = L.polar(L.tensor([1.0, 2.0], requires_grad=True), L.tensor([0.5, -1.0]))
        names.append((a.grad_fn.name(), p.grad_fn.name()))
        if L is ember:
            pe, ae = p.detach().numpy(), a.detach().numpy()
        else:
            np.testing.assert_allclose(pe, p.detach().numpy(), rtol=1e-6)
            np.testing.assert_array_equal(ae, a.detach().numpy())
    assert names[0] == names[1] == ("AngleBackward0", "PolarBackward0")
    r = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    th = ember.tensor([0.5, -1.0], dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda a, b: ember.view_as_real(ember.polar(a, b)), (r, th))


# ---- index_fill / tensor_split / as_strided / is_set_to ------------------------------------
def test_index_fill_value_refusals_as_torch():
    for L in (ember, torch):
        with pytest.raises(RuntimeError):
            L.ones(3).index_fill(0, L.tensor([1]), L.tensor([5.0]))
        with pytest.raises(RuntimeError):
            L.ones(3, 2, dtype=L.bool).index_fill(0, L.tensor([0, 2]), 1j)
        with pytest.raises(RuntimeError):
            L.ones(3, dtype=L.int64).index_fill(0, L.tensor([0]), 2 + 1j)
    e = ember.ones(3, 2, dtype=ember.complex64).index_fill(0, ember.tensor([0, 2]), 1j)
    t = torch.ones(3, 2, dtype=torch.complex64).index_fill(0, torch.tensor([0, 2]), 1j)
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_tensor_split_refuses_float_indices_as_torch():
    for L in (ember, torch):
        with pytest.raises(RuntimeError):
            L.tensor_split(L.ones(5), L.tensor([1.5]))
    e = ember.tensor_split(ember.arange(7.0), ember.tensor([1, 5]))
    t = torch.tensor_split(torch.arange(7.0), torch.tensor([1, 5]))
    assert [p.tolist() for p in e] == [p.tolist() for p in t]


def test_as_strided_refusals_are_runtime_errors():
    for L in (ember, torch):
        with pytest.raises(RuntimeError):
            L.as_strided(L.arange(12.0), (2, 2), (2, 1), 10)
        with pytest.raises(RuntimeError):
            L.as_strided(L.arange(12.0), (2,), (-1,), 1)


def test_is_set_to_matches_torch():
    out = []
    for L in (ember, torch):
        x, y = L.ones(3), L.ones(2, 3)
        out.append((x.is_set_to(x), x.is_set_to(x[:]), x.is_set_to(x.view(3)),
                    x.is_set_to(x[1:]), x.is_set_to(L.ones(3)), y.is_set_to(y.t().t()),
                    y.is_set_to(y.t()), y[:, :1].is_set_to(y[:, 0:1])))  # fmt: skip
    assert out[0] == out[1]


def test_arange_length_from_doubles_except_int64_as_torch():
    cases = [(2**62, 2**62 + 1, 3), (2**62, 2**62 + 1, -1), (2**62, 2**62 + 5, 2),
             (2**53, 2**53 + 3, 1), (250, 260, 1), (5, -3, -2), (0.5, 7, 1.5)]  # fmt: skip
    for args in cases:
        for name in [None, "int64", "float64", "float32", "uint8", "int32", "bfloat16"]:
            res = []
            for L in (ember, torch):
                dt = None if name is None else getattr(L, name)
                try:
                    res.append(L.arange(*args, dtype=dt).tolist())
                except RuntimeError:
                    res.append("RuntimeError")
            assert res[0] == res[1], (args, name)


def test_tensors_inside_lists_read_as_numbers_as_torch():
    cases = [
        lambda L: L.tensor([L.tensor([[1.0]]), L.tensor([2.0])]),
        lambda L: L.tensor([[L.tensor(1), 2], [3, L.tensor([4])]]),
        lambda L: L.tensor([L.tensor(1, dtype=L.int32), L.tensor(2.5, dtype=L.float64)]),
        lambda L: L.tensor([L.tensor(1.0, dtype=L.float64), 3]),
        lambda L: L.tensor([L.tensor(1, dtype=L.int32), 2.5]),
        lambda L: L.as_tensor([L.tensor([1.0]), L.tensor([2.0])]),
        lambda L: L.tensor((L.tensor(True), False)),
    ]
    for make in cases:
        e, t = make(ember), make(torch)
        assert e.tolist() == t.tolist()
        assert str(e.dtype) == str(t.dtype).removeprefix("torch.")
    for L in (ember, torch):
        with pytest.raises(ValueError):
            L.tensor([L.ones(2), L.ones(2)])


def test_clamp_mixed_dtype_bounds_edges_and_grad_dtypes_match_torch():
    out = []
    for L in (ember, torch):
        x = L.tensor([1.0, 5.0, 3.0], requires_grad=True)
        lo = L.tensor([2.0, 2.0, 3.0], dtype=L.float64, requires_grad=True)
        y = L.clamp(x, lo)
        y.backward(L.tensor([1.0, 2.0, 3.0], dtype=L.float64))
        xi = L.clamp(L.tensor([1, 5]), lo[:2])
        out.append((str(y.dtype), _edges(y.grad_fn), str(x.grad.dtype), str(lo.grad.dtype),
                    x.grad.tolist(), lo.grad.tolist(), _edges(xi.grad_fn)))  # fmt: skip
    e, t = ([v.removeprefix("torch.") if isinstance(v, str) else v for v in r] for r in out)
    assert e == t


def test_tensor_of_a_tensor_is_a_copy():
    src = ember.ones(2)
    out = ember.tensor(src)
    assert out.tolist() == [1.0, 1.0] and not np.shares_memory(out.numpy(), src.numpy())
    assert ember.ones(2).new_tensor(ember.tensor([1, 2])).tolist() == [1.0, 2.0]
