"""behave40: tensor-op behaviour as a PyTorch user relies on it, checked against torch 2.13:
values, dtypes, strides, exception families, node names, printing."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember._complex import complex32

torch = pytest.importorskip("torch")

DTYPES = [
    "bool",
    "uint8",
    "int8",
    "int16",
    "int32",
    "int64",
    "float16",
    "bfloat16",
    "float32",
    "float64",
    "complex64",
    "complex128",
]


def _dt(lib, name):
    return getattr(lib, name)


def _outcome(fn, lib):
    """fn(lib)'s value, or the exception it raised."""
    try:
        return fn(lib)
    except Exception as e:  # noqa: BLE001  (compared below)
        return e


def _same_refusal(fn, first=None):
    """torch refuses fn; ember refuses it with an exception of torch's class."""
    t, e = _outcome(fn, torch), _outcome(fn, ember)
    assert isinstance(t, Exception), f"torch did not refuse: {t}"
    assert isinstance(e, type(t).__mro__[0] if first is None else first) or isinstance(
        e, _base(t)
    ), f"torch {type(t).__name__}: {t}; ember {type(e).__name__}: {e}"


def _base(exc):
    """torch's exception's builtin class (its _LinAlgError is a RuntimeError)."""
    for cls in type(exc).__mro__:
        if cls.__module__ == "builtins":
            return cls
    raise AssertionError(type(exc))


def _same_tensor(t, e):
    assert tuple(t.shape) == tuple(e.shape)
    assert str(t.dtype).removeprefix("torch.") == str(e.dtype).replace("bool_", "bool")
    a = t.detach().float().numpy() if t.dtype == torch.bfloat16 else t.detach().numpy()
    b = np.asarray(e.detach().numpy(), a.dtype)
    np.testing.assert_array_equal(a, b)


# ---- the differences left last session ------------------------------------------------------


def test_tensor_split_of_0d_and_one_section_node():
    _same_refusal(lambda L: L.tensor(3.0).tensor_split(2))
    for spec in (1, [], [0], 2):
        for L in (torch, ember):
            x = L.arange(4.0, dtype=L.float64).requires_grad_()
            names = [p.grad_fn.name() for p in x.tensor_split(spec)]
            if L is torch:
                want = names
            else:
                assert names == want, spec


def test_repeat_interleave_counts_keep_their_dtype():
    for dt in ("int32", "int64"):
        for L in (torch, ember):
            r = L.repeat_interleave(L.tensor([1, 0, 3], dtype=_dt(L, dt)))
            if L is torch:
                t = r
        _same_tensor(t, r)


def test_index_fill_of_an_expanded_tensor_writes_with_the_warning():
    for shape, exp, dim, idx in (
        ((1, 3), (2, 3), 0, [0]),
        ((3, 1), (3, 2), 1, [0]),
        ((3, 1), (3, 2), 0, [2, 0]),
    ):
        out = {}
        for L in (torch, ember):
            base = L.zeros(shape)
            with pytest.warns(UserWarning, match="index_fill_ on expanded tensors"):
                r = base.expand(exp).index_fill_(dim, L.tensor(idx), 2.5)
            out[L] = (r, base)
        _same_tensor(out[torch][0], out[ember][0])
        _same_tensor(out[torch][1], out[ember][1])  # the memory itself was written


@pytest.mark.parametrize(
    "dt, kw",
    [
        ("float32", dict(max=1e300)),
        ("float32", dict(min=-3.4028236e38)),
        ("float16", dict(max=65520.0)),
        ("float16", dict(max=70000)),
        ("bfloat16", dict(max=1e39)),
        ("float32", dict(max=2**70)),
        ("int64", dict(max=2**70)),
        ("int64", dict(min=-(2**63) - 1)),
        ("int32", dict(max=2**64)),
        ("int64", dict(max=1e300)),
        ("bool", dict(max=2**70)),
        ("uint8", dict(min=-256)),
    ],
)
def test_clamp_bounds_beyond_the_dtype_are_refused_as_torch(dt, kw):
    _same_refusal(lambda L: L.tensor([1, 2, 100]).to(_dt(L, dt)).clamp(**kw))


@pytest.mark.parametrize(
    "dt, kw",
    [
        ("float32", dict(max=float("inf"))),
        ("float16", dict(max=65504.0)),
        ("uint8", dict(min=-255)),
        ("float32", dict(min=-3.4028234e38, max=2**40)),
        ("float64", dict(max=1e300)),
    ],
)
def test_clamp_bounds_within_the_dtype_compute(dt, kw):
    t, e = (L.tensor([1, 2, 100]).to(_dt(L, dt)).clamp(**kw) for L in (torch, ember))
    _same_tensor(t, e)


def test_slogdet_sign_alone_gives_no_gradient():
    rng = np.random.default_rng(0)
    m = rng.standard_normal((3, 3))
    for L in (torch, ember):
        a = L.tensor(m, requires_grad=True)
        s, _ = L.linalg.slogdet(a)
        s.sum().backward()
        assert a.grad is None
    # the gradients that flow are unchanged (float64 and complex, finite differences)
    a = ember.tensor(m, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: ember.linalg.slogdet(x)[1], (a,))
    assert ember.autograd.gradgradcheck(lambda x: ember.linalg.slogdet(x)[1], (a,))
    c = ember.tensor(m + 1j * rng.standard_normal((3, 3)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: ember.linalg.slogdet(x)[0].real, (c,))
    assert ember.autograd.gradcheck(lambda x: ember.linalg.slogdet(x)[1], (c,))


def test_cholesky_of_a_float32_matrix_with_an_infinite_pivot():
    for n in (2, 3, 5, 16, 17, 24):
        for k in sorted({0, n // 2, n - 2, n - 1}):
            for dt in ("float32", "float64"):
                m = np.eye(n) * 2
                m[k, k] = np.inf
                infos = [
                    int(L.linalg.cholesky_ex(L.tensor(m, dtype=_dt(L, dt)))[1])
                    for L in (torch, ember)
                ]
                assert infos[0] == infos[1], (n, k, dt, infos)
                if infos[0]:
                    _same_refusal(
                        lambda L, m=m, dt=dt: L.linalg.cholesky(L.tensor(m, dtype=_dt(L, dt)))
                    )


def test_complex32_is_named_and_refused_as_torch_refuses_complexhalf():
    assert repr(complex32) == "ember.complex32" and complex32.itemsize == 4
    x = ember.tensor([1 + 2j])
    for fn in (
        lambda: ember.tensor([1 + 2j], dtype=complex32),
        lambda: x.to(complex32),
        lambda: ember.zeros(2, dtype=complex32),
        lambda: ember.ones_like(x, dtype=complex32),
    ):
        with pytest.raises(NotImplementedError, match="ComplexHalf"):
            fn()
        with pytest.raises(TypeError, match="complex64"):
            fn()


# ---- printing --------------------------------------------------------------------------------


def _repr_pairs():
    rng = np.random.default_rng(40)
    cases = [
        [1.5, -2.25, 0.0],
        [float("nan"), float("inf"), -float("inf")],
        [1e-8, 1e8],
        [1e20],
        [-0.0, 1.0],
        [0.1, 0.25],
        [123456.789, 0.001],
        [[1.0, 2.0], [3.0, 4.0]],
        [],
        3.0,
        [[]],
    ]
    for _ in range(30):
        shape = tuple(int(s) for s in rng.integers(0, 6, rng.integers(1, 4)))
        scale = 10.0 ** rng.integers(-6, 9)
        vals = rng.standard_normal(shape) * scale
        if rng.random() < 0.3:
            vals = np.round(vals)
        cases.append(vals.tolist())
    cases += [np.arange(1000.0).tolist(), np.arange(2000).reshape(1000, 2).tolist()]
    return cases


@pytest.mark.parametrize("dt", DTYPES)
def test_repr_matches_torch(dt):
    for vals in _repr_pairs():
        with warnings.catch_warnings():  # (NaN / inf cast to an integer dtype: NumPy warns)
            warnings.simplefilter("ignore", RuntimeWarning)
            t = torch.tensor(vals).to(_dt(torch, dt))
            e = ember.tensor(vals).to(_dt(ember, dt))
        assert repr(e) == repr(t).replace("torch.", ""), vals
        assert str(e) == str(t).replace("torch.", "")


@pytest.mark.parametrize(
    "opts",
    [
        dict(precision=2),
        dict(precision=0),
        dict(threshold=5),
        dict(edgeitems=1, threshold=5),
        dict(linewidth=20),
        dict(sci_mode=True),
        dict(sci_mode=False),
        dict(profile="short"),
        dict(profile="full"),
        dict(edgeitems=0, threshold=3),
    ],
)
def test_printoptions_match_torch(opts):
    data = [
        [1.123456789, 2.5, 1e-5],
        [1e10, 1.0],
        list(range(30)),
        [[0.5] * 12] * 12,
        [1 + 2j, 3.25],
        [1e-9],
        [100.0, 2.0],
        [[1, 2, 3, 4]] * 8,
    ]
    try:
        for L in (torch, ember):
            L.set_printoptions(**opts)
        for d in data:
            assert repr(ember.tensor(d)) == repr(torch.tensor(d)).replace("torch.", ""), d
    finally:
        for L in (torch, ember):
            L.set_printoptions(profile="default")


def test_repr_suffixes_match_torch():
    for fn in (
        lambda L: L.tensor([1.0, 2.0], requires_grad=True),
        lambda L: L.tensor([1.0, 2.0], requires_grad=True) * 2,
        lambda L: L.tensor(1.0, dtype=L.float64, requires_grad=True).sum(),
        lambda L: L.zeros(0, 2, dtype=L.int32),
        lambda L: L.tensor([], dtype=L.float64),
        lambda L: L.arange(40.0, dtype=L.float64, requires_grad=True) * 1.5,
    ):
        assert repr(fn(ember)) == repr(fn(torch)).replace("torch.", "")


# ---- comparisons, conversions ------------------------------------------------------------


@pytest.mark.parametrize("other", [None, "a", [1, 2], (1,)])
def test_comparisons_with_non_operands_as_torch(other):
    for L in (torch, ember):
        x = L.tensor([1.0, 2.0])
        assert (x == other) is False and (x != other) is True
        for op in ("__lt__", "__le__", "__gt__", "__ge__"):
            assert getattr(x, op)(other) is NotImplemented
        with pytest.raises(TypeError):
            x < other  # noqa: B015


def test_python_conversions_as_torch():
    for fn in (
        lambda L: L.ones(2).item(),
        lambda L: float(L.ones(2)),
        lambda L: int(L.tensor([])),
        lambda L: complex(L.ones(2)),
        lambda L: float(L.tensor(1 + 2j)),
        lambda L: int(L.tensor(1 + 2j)),
        lambda L: L.tensor(1.5).__index__(),
    ):
        _same_refusal(fn)
    for fn in (
        lambda L: complex(L.tensor([1.5])),
        lambda L: complex(L.tensor(True)),
        lambda L: [0, 1, 2][L.tensor(True)],
        lambda L: L.tensor(1.0, dtype=L.bfloat16).is_signed(),
    ):
        assert fn(ember) == fn(torch)


def test_bfloat16_to_integer_casts_as_torch():
    vals = [1.5, -2.7, 0.0, 255.9, -0.5, 300.0, -1.0, 128.0, -129.0, 127.0, -128.0]
    for dt in ("uint8", "int8", "int16", "int32", "int64"):
        t, e = (L.tensor(vals).to(L.bfloat16).to(_dt(L, dt)) for L in (torch, ember))
        _same_tensor(t, e)


def test_complex_to_real_copies():
    for L in (torch, ember):
        z = L.tensor([1 + 2j, 3 - 1j])
        with pytest.warns(UserWarning, match="discards the imaginary part"):
            r = z.to(L.float32)
        assert r.is_contiguous() and tuple(r.stride()) == (1,)
        r[0] = 7.0
        assert z[0].item() == 1 + 2j  # not a view of z


def test_type_takes_legacy_names():
    x = ember.ones(2)
    assert x.type("torch.DoubleTensor").dtype == ember.float64
    assert x.type(ember.IntTensor).dtype == ember.int32
    _same_refusal(lambda L: L.ones(2).type("float"))
    _same_refusal(lambda L: L.ones(2).to("foo"))


# ---- creation -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        None,
        [None],
        [1, None],
        "abc",
        ["a"],
        [1, "a"],
        [2**64],
        [-(2**63) - 1],
        [2**63],
        [[1, 2], [3]],
        [[1, 2], 3],
        [1, [2]],
        [[[1]], [2]],
        [float("nan")],
        [1e309],
        [{}],
        b"ab",
    ],
)
@pytest.mark.parametrize("dt", [None, "float32", "int64"])
def test_tensor_refuses_bad_data_as_torch(data, dt):
    def make(L):
        return L.tensor(data, dtype=None if dt is None else _dt(L, dt))

    t = _outcome(make, torch)
    if isinstance(t, Exception):
        _same_refusal(make)
    else:
        _same_tensor(t, make(ember))


def test_tensor_refuses_arrays_torch_cannot_hold():
    for a in (
        np.array([1.5], np.longdouble),
        np.array([1, "a"], dtype=object),
        np.array(["2020-01-01"], dtype="datetime64[D]"),
    ):
        for fn in ("tensor", "as_tensor", "from_numpy"):
            _same_refusal(lambda L, a=a, fn=fn: getattr(L, fn)(a))
        _same_refusal(lambda L, a=a: L.as_tensor(a, dtype=L.float64))


def test_tensor_of_arrays_keeps_torch_strides():
    rng = np.random.default_rng(1)
    for a in (
        rng.standard_normal((3, 4)),
        rng.standard_normal((3, 4)).T,
        np.asfortranarray(rng.standard_normal((3, 4))),
        np.broadcast_to(np.arange(3.0), (2, 3)),
        rng.standard_normal((6, 4))[::2],
    ):
        t, e = torch.tensor(a), ember.tensor(a)
        assert tuple(e.stride()) == tuple(t.stride())
        _same_tensor(t, e)


@pytest.mark.parametrize("seed", range(4))
def test_arange_matches_torch(seed):
    rng = np.random.default_rng(seed)
    nums = [0, 1, -1, 2, 5, -3, 0.5, -0.5, 1.5, 2.5, 0.1, -2.25, 1e-3, 7, 10]
    for _ in range(60):
        a, b = (nums[i] for i in rng.integers(0, len(nums), 2))
        step = [1, 2, -1, -2, 0.5, -0.5, 0.3, 3, 0.1, -0.7][rng.integers(0, 10)]
        dt = [None, "int64", "float32", "float64", "int32", "uint8", "float16", "int8", "bfloat16"][
            rng.integers(0, 9)
        ]

        def make(L, a=a, b=b, step=step, dt=dt):
            return L.arange(a, b, step, dtype=None if dt is None else _dt(L, dt))

        t = _outcome(make, torch)
        if isinstance(t, Exception):
            _same_refusal(make)
        elif dt in ("float16", "bfloat16"):  # (torch's vector lanes round differently)
            e = make(ember)
            assert e.dtype == _dt(ember, dt) and tuple(e.shape) == tuple(t.shape)
            want = t.float().numpy()
            np.testing.assert_allclose(e.float().numpy(), want, rtol=1e-2, atol=1e-2)
        else:
            _same_tensor(t, make(ember))
    _same_refusal(lambda L: L.arange(0, 5, 0.5, dtype=L.int8, requires_grad=True))


@pytest.mark.parametrize(
    "args",
    [
        (-2, 5, 7, "uint8"),
        (-2.5, 5, 7, "uint8"),
        (-300, 5, 3, "uint8"),
        (0, 2**31, 3, "int32"),
        (0, 2**31 - 1, 3, "int32"),
        (0, 255.5, 3, "uint8"),
        (0, 256, 3, "uint8"),
        (0, 1e39, 3, "float32"),
        (0, 70000, 3, "float16"),
        (7, -2.25, 1, "uint8"),
        (2, -2.25, 1, "uint8"),
        (4.5e18, 0, 1, "uint8"),
        (0, 10, 4, "int64"),
    ],
)
@pytest.mark.parametrize("op", ["linspace", "logspace"])
def test_linspace_logspace_ends_checked_as_torch(args, op):
    a, b, n, dt = args

    def make(L):
        return getattr(L, op)(a, b, n, dtype=_dt(L, dt))

    t = _outcome(make, torch)
    if isinstance(t, Exception):
        _same_refusal(make)
    else:
        e = make(ember)
        assert e.dtype == _dt(ember, dt) and tuple(e.shape) == tuple(t.shape)
        if op == "linspace" or math.isfinite(b):
            assert e[0].item() == t[0].item()


def test_where_uint8_condition_still_computes():
    # (torch warns once per process; ember's notice is where's, kept as it is here)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t = torch.where(torch.tensor([1, 0], dtype=torch.uint8), 1.0, 0.0)
        e = ember.where(ember.tensor([1, 0], dtype=ember.uint8), 1.0, 0.0)
    _same_tensor(t, e)
