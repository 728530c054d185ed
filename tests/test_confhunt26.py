"""Differential hunt (round 26) against PyTorch over ember.fft/stft, ember.special, complex
numerics, ember.distributions and the scan/count ops. One regression test per fix, then a
compact parametrised sample of the sweep (the full sweep ran each configuration in a forked
child; the sample keeps configurations that agree and would catch a regression)."""

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue


def _np(t):
    t = t.detach()
    if hasattr(t, "resolve_conj"):
        t = t.resolve_conj()
    return np.asarray(t.numpy())


def _close(got, want, rtol, atol=0.0):
    got, want = _np(got), _np(want)
    assert got.shape == want.shape and str(got.dtype) == str(want.dtype)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True)


# ---- fixes -------------------------------------------------------------------------------
def test_xlog1py_gradient_at_zero_x_is_log1p_of_y():
    # d/dx x log1p(y) is log1p(y) at x == 0 too; 0 only where log1p(y) is -inf or NaN (y <= -1)
    x = ember.tensor([0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0], dtype=ember.float64, requires_grad=True)
    y = ember.tensor([3.0, -1.0, -2.0, np.inf, np.nan, -1.0, 0.5], dtype=ember.float64)
    ember.special.xlog1py(x, y).sum().backward()
    want = [np.log1p(3.0), 0.0, 0.0, np.inf, np.nan, -np.inf, np.log1p(0.5)]
    np.testing.assert_array_equal(x.grad.numpy(), want)
    (g,) = ember.autograd.grad(ember.special.xlog1py(x, y).sum(), x, create_graph=True)
    np.testing.assert_array_equal(g.detach().numpy(), want)  # the create_graph path agrees
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x.detach().numpy(), requires_grad=True)
    torch.special.xlog1py(tx, torch.tensor(y.numpy())).sum().backward()
    np.testing.assert_array_equal(tx.grad.numpy(), want)


@pytest.mark.parametrize("op", ["unique", "unique_consecutive"])
@pytest.mark.parametrize(
    "shape, dim, match",
    [
        ((0, 3), 1, "aren't selected"),
        ((2, 0, 3), 0, "aren't selected"),
        ((0, 0), 0, "more than one"),
    ],
)
def test_unique_over_dim_refuses_other_size_zero_dims(op, shape, dim, match):
    with pytest.raises(BadShapeOrValue, match=match):
        getattr(ember, op)(ember.zeros(shape), dim=dim, return_counts=True)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError, match=match):
        getattr(torch, op)(torch.zeros(shape), dim=dim, return_counts=True)


@pytest.mark.parametrize("op", ["unique", "unique_consecutive"])
def test_unique_over_the_size_zero_dim_still_works(op):
    vals, inv, counts = getattr(ember, op)(
        ember.zeros((2, 0, 3)), dim=1, return_inverse=True, return_counts=True
    )
    assert vals.shape == (2, 0, 3) and inv.shape == (0,) and counts.shape == (0,)


@pytest.mark.parametrize("wdt", ["float16", "bfloat16", "float32", "float64", "int32", "bool"])
def test_bincount_weights_sum_in_float64_unless_float32(wdt):
    x = ember.tensor([0, 2, 2])
    got = ember.bincount(x, weights=ember.tensor([1.0, 2.0, 3.0]).to(getattr(ember, wdt)))
    assert got.dtype == (ember.float32 if wdt == "float32" else ember.float64)
    np.testing.assert_array_equal(got.numpy(), [1, 0, 5] if wdt != "bool" else [1, 0, 2])
    torch = pytest.importorskip("torch")
    w = torch.tensor([1.0, 2.0, 3.0]).to(getattr(torch, wdt))
    _close(got, torch.bincount(torch.tensor([0, 2, 2]), weights=w), 0)


# ---- sample of the sweep: fft ------------------------------------------------------------
def _pair(torch, x, grad=False):
    return ember.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


def _weights(y, seed=1):
    r = np.random.default_rng(seed)
    w = r.standard_normal(tuple(y.shape))
    if y.is_complex():
        w = w + 1j * r.standard_normal(tuple(y.shape))
    return w.astype(_np(y).dtype)


@pytest.mark.parametrize("op", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
@pytest.mark.parametrize("length, n", [(1, None), (5, None), (8, 11), (13, 4), (7, 1)])
@pytest.mark.parametrize("norm", [None, "ortho", "forward"])
def test_fft_1d_matches_torch_with_gradients(op, length, n, norm):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(length)
    x = r.standard_normal((3, length))
    if op in ("fft", "ifft", "irfft", "hfft"):
        x = x + 1j * r.standard_normal((3, length))
    if op in ("irfft", "hfft") and n is None and length == 1:
        return  # (the default output length 2 * (1 - 1) = 0 is refused by both)
    e, t = _pair(torch, x, grad=True)
    ye, yt = getattr(ember.fft, op)(e, n=n, norm=norm), getattr(torch.fft, op)(t, n=n, norm=norm)
    _close(ye, yt, 1e-10, 1e-12)
    w = _weights(yt)
    (ye * ember.tensor(w)).real.sum().backward() if ye.is_complex() else (
        ye * ember.tensor(w)
    ).sum().backward()
    (yt * torch.tensor(w)).real.sum().backward() if yt.is_complex() else (
        yt * torch.tensor(w)
    ).sum().backward()
    _close(e.grad, t.grad, 1e-10, 1e-12)


@pytest.mark.parametrize("op", ["fft2", "ifft2", "rfft2", "irfft2", "hfftn", "ihfftn", "fftn"])
@pytest.mark.parametrize(
    "shape, kw",
    [
        ((4, 5), {}),
        ((3, 4, 6), {"s": (3, 4)}),
        ((3, 4, 6), {"dim": (-1, 0)}),
        ((2, 7, 1), {"s": (1, 1)}),
    ],
)
def test_fft_nd_matches_torch(op, shape, kw):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    x = r.standard_normal(shape).astype(np.float32)
    if op in ("fft2", "ifft2", "irfft2", "hfftn", "fftn"):
        x = (x + 1j * r.standard_normal(shape)).astype(np.complex64)
    e, t = _pair(torch, x)
    _close(getattr(ember.fft, op)(e, **kw), getattr(torch.fft, op)(t, **kw), 1e-4, 1e-4)


@pytest.mark.parametrize("op", ["fftfreq", "rfftfreq"])
@pytest.mark.parametrize("n, d", [(0, 1.0), (1, 1.0), (8, 0.1), (13, 3.0)])
def test_fftfreq_and_shifts_match_torch(op, n, d):
    torch = pytest.importorskip("torch")
    _close(getattr(ember.fft, op)(n, d), getattr(torch.fft, op)(n, d), 1e-7)
    x = np.arange(n * 3.0).reshape(3, n)
    for shift in ("fftshift", "ifftshift"):
        for dim in (None, -1, (0, 1)):
            _close(
                getattr(ember.fft, shift)(ember.tensor(x), dim),
                getattr(torch.fft, shift)(torch.tensor(x), dim),
                0,
            )


@pytest.mark.parametrize(
    "n_fft, hop, center, normalized", [(16, None, True, False), (15, 7, False, True)]
)
def test_stft_istft_match_torch(n_fft, hop, center, normalized):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 50))
    got, want = [], []
    for lib, out in ((ember, got), (torch, want)):
        win = lib.hann_window(n_fft, dtype=lib.float64)
        kw = dict(hop_length=hop, window=win, center=center, normalized=normalized)
        s = lib.stft(lib.tensor(x), n_fft, return_complex=True, **kw)
        out += [s, lib.istft(s, n_fft, length=50, **kw)] if center else [s]
    for g, w in zip(got, want):
        _close(g, w, 1e-10, 1e-12)


# ---- special -----------------------------------------------------------------------------
# torch's own oddities seen in the sweep, left (ember has the accurate value): float32 i0/i1
# overflow to inf near 90 (exp(x) first), float32 bessel_j*/y*/airy_ai wrong at +-1e10,
# polygamma(1, x) and digamma's gradient finite at the poles (negative integers), polygamma(n>=2,
# +-inf), gammainc(NaN, 0) = 0, the polynomials' value at NaN (a neighbour's), special.round
# refusing integers. Those points are left out of the grid below.
_GRID = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -0.5,
    2.5,
    -2.5,
    1e-30,
    1e-8,
    0.9999,
    10.0,
    -10.0,
    30.0,
    100.0,
    -100.0,
    700.0,
    1e30,
    np.inf,
    -np.inf,
    np.nan,
    7.5,
    -7.5,
    26.0,
    -26.0,
    1e-5,
]
_UNARY = [
    "erf",
    "erfc",
    "erfcx",
    "erfinv",
    "gammaln",
    "digamma",
    "i0e",
    "i1e",
    "ndtr",
    "ndtri",
    "log_ndtr",
    "modified_bessel_k0",
    "modified_bessel_k1",
    "scaled_modified_bessel_k0",
    "scaled_modified_bessel_k1",
    "spherical_bessel_j0",
    "logit",
    "expit",
    "sinc",
    "entr",
    "exp2",
    "expm1",
    "log1p",
]


@pytest.mark.parametrize("name", _UNARY)
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_special_unary_matches_torch_on_edge_grid(name, dtype):
    torch = pytest.importorskip("torch")
    x = np.array(_GRID if dtype.startswith("float") else [0, 1, 1, 0, 1], dtype=np.float64)
    x = x.astype(dtype) if dtype != "float32" else x.astype(np.float32)
    rtol = 2e-5 if dtype in ("float32", "int64", "bool") else 1e-10
    with np.errstate(all="ignore"):
        got = getattr(ember.special, name)(ember.tensor(x))
    _close(got, getattr(torch.special, name)(torch.tensor(x)), rtol, 1e-6 if rtol > 1e-9 else 1e-13)


@pytest.mark.parametrize("name", ["xlogy", "xlog1py", "zeta", "gammainc", "gammaincc"])
def test_special_binary_matches_torch_on_edge_grid(name):
    torch = pytest.importorskip("torch")
    v = np.array([0.0, 1.0, 2.0, 0.5, -1.0, 1e-5, 10.0, np.inf, -0.0, 100.0])
    a, b = np.meshgrid(v, v)
    # (torch's gammainc(100, 100) is 3.6e-10 off, relatively; ours agrees with mpmath)
    rtol = 1e-9 if name.startswith("gammainc") else 1e-10
    _close(
        getattr(ember.special, name)(ember.tensor(a), ember.tensor(b)),
        getattr(torch.special, name)(torch.tensor(a), torch.tensor(b)),
        rtol,
        1e-13,
    )


@pytest.mark.parametrize(
    "name",
    [
        "erf",
        "erfinv",
        "gammaln",
        "digamma",
        "i0e",
        "i1e",
        "log_ndtr",
        "ndtri",
        "sinc",
        "entr",
        "logit",
        "xlogy",
    ],
)
def test_special_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    x = np.array([0.05, 0.3, 0.5, 0.8, 0.95])
    grads = []
    for lib in (ember, torch):
        t = lib.tensor(x, requires_grad=True)
        f = getattr(lib.special, name)
        y = f(t, lib.tensor(x[::-1].copy())) if name == "xlogy" else f(t)
        (y * lib.tensor([1.0, 2.0, 3.0, 4.0, 5.0], dtype=lib.float64)).sum().backward()
        grads.append(t.grad)
    _close(*grads, 1e-9, 1e-12)


# ---- complex numerics --------------------------------------------------------------------
_CVALS = [
    0,
    1,
    -1,
    1j,
    0.5 + 0.5j,
    -2 + 3j,
    3 - 4j,
    1e-20 + 1e-20j,
    1e20 + 1j,
    -40 + 2j,
    complex(np.inf, 0),
    complex(0, np.inf),
    complex(np.inf, np.inf),
    complex(np.nan, 0),
    complex(-1, -0.0),
    complex(-1, 0.0),
    710 + 0j,
]


@pytest.mark.parametrize(
    "op",
    [
        "exp",
        "log",
        "sqrt",
        "tanh",
        "asin",
        "acosh",
        "reciprocal",
        "sigmoid",
        "abs",
        "angle",
        "sgn",
        "rsqrt",
        "log1p",
        "expm1",
    ],
)
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_complex_unary_matches_torch_incl_inf_nan(op, dtype):
    torch = pytest.importorskip("torch")
    x = np.array(_CVALS, dtype=dtype)
    rtol = 1e-5 if dtype == "complex64" else 1e-12
    with np.errstate(all="ignore"):  # (NumPy's warnings, which ember silences outside pytest)
        got = getattr(ember, op)(ember.tensor(x))
    _close(got, getattr(torch, op)(torch.tensor(x)), rtol, rtol / 10)


# (left: torch's complex add/sub give inf + NaNj for 0 + (inf + 0j), its pow gives NaN for 0 ** 0,
# and its exp2(inf + 0j) and x ** 0.5 / x ** -1 at infinite x differ from ours)
@pytest.mark.parametrize("op", ["mul", "div"])
def test_complex_binary_matches_torch_incl_inf_nan(op):
    torch = pytest.importorskip("torch")
    a, b = np.meshgrid(np.array(_CVALS), np.array(_CVALS))
    with np.errstate(all="ignore"):
        got = getattr(ember, op)(ember.tensor(a), ember.tensor(b))
    _close(got, getattr(torch, op)(torch.tensor(a), torch.tensor(b)), 1e-12, 1e-14)


@pytest.mark.parametrize(
    "expr",
    [
        "x.prod()",
        "x.cumprod(0)",
        "x.sqrt()",
        "x.abs() + 0j",
        "x ** (1.5 + 0.5j)",
        "x.var() + 0j",
        "L.linalg.vector_norm(x, 3) + 0j",
        "L.vdot(x, x.flip(0))",
        "x.sgn()",
        "x.asin()",
        "x.tan()",
    ],
)
@pytest.mark.parametrize("with_zeros", [False, True])
def test_complex_gradients_match_torch(expr, with_zeros):
    torch = pytest.importorskip("torch")
    r = np.random.default_rng(0)
    a = r.standard_normal(5) + 1j * r.standard_normal(5) + 0.3
    if with_zeros:
        a[[0, 2]] = 0
    w = r.standard_normal(5) + 1j * r.standard_normal(5)
    grads = []
    for lib in (ember, torch):
        x = lib.tensor(a, requires_grad=True)
        y = eval(expr, {"L": lib, "x": x}).reshape(-1)
        (y * lib.tensor(w[: y.shape[0]])).real.sum().backward()
        grads.append(x.grad)
    _close(*grads, 1e-9, 1e-12)


# ---- distributions -----------------------------------------------------------------------
_DISTS = {
    "Normal": ("[0., 1.], [1., 2.]", "[0.5, -1.]"),
    "Gamma": ("[0.5, 3.], [1., 2.]", "[0.5, 1.]"),
    "Beta": ("[0.5, 3.], [2., 0.7]", "[0.3, 0.9]"),
    "StudentT": ("[1., 5.], [0., 1.], [1., 2.]", "[0.5, -1.]"),
    "VonMises": ("[0., 1.], [0.5, 4.]", "[0.5, -1.]"),
    "Kumaraswamy": ("[0.5, 3.], [2., 0.7]", "[0.3, 0.9]"),
    "ContinuousBernoulli": ("[0.3, 0.5, 0.8]", "[0.2, 0.5, 0.9]"),
    "Binomial": ("[5., 10.], [0.3, 0.8]", "[2., 10.]"),
    "NegativeBinomial": ("[5., 2.5], [0.3, 0.8]", "[2., 10.]"),
    "Laplace": ("[0., 1.], [1., 2.]", "[0.5, -1.]"),
}


@pytest.mark.parametrize("name", sorted(_DISTS))
def test_distribution_values_and_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    args, v = _DISTS[name]
    out = []
    for lib in (ember, torch):
        ps = [lib.tensor(a, dtype=lib.float64, requires_grad=True) for a in eval(f"[{args}]")]
        d = getattr(lib.distributions, name)(*ps)
        lp = d.log_prob(lib.tensor(eval(v), dtype=lib.float64))
        vals = [lp, d.mean, d.variance]
        if name not in ("VonMises", "Binomial", "NegativeBinomial"):  # (no entropy in one or both)
            vals.append(d.entropy())
        vals += list(lib.autograd.grad(lp.sum(), ps, allow_unused=True))
        out.append([x if x is not None else lib.tensor(0.0) for x in vals])
    for g, w in zip(*out):
        _close(g, w, 1e-7, 1e-10)


def _make(lib, name, args):
    return getattr(lib.distributions, name)(
        *[lib.tensor(a, dtype=lib.float64) for a in eval(f"[{args}]")]
    )


@pytest.mark.parametrize(
    "p, q",
    [
        ("Beta", "ContinuousBernoulli"),
        ("Gamma", "Gumbel"),
        ("Uniform", "Beta"),
        ("Pareto", "Exponential"),
        ("Binomial", "Binomial"),
        ("Laplace", "Normal"),
    ],
)
def test_kl_divergence_pairs_match_torch(p, q):
    torch = pytest.importorskip("torch")
    params = {
        "Beta": "[0.5, 3.], [2., 0.7]",
        "ContinuousBernoulli": "[0.3, 0.8]",
        "Gamma": "[0.5, 3.], [1., 2.]",
        "Gumbel": "[0., 1.], [1., 2.]",
        "Uniform": "[0.1, 0.2], [0.5, 0.9]",
        "Pareto": "[1., 2.], [0.5, 3.]",
        "Exponential": "[1., 2.5]",
        "Binomial": "[5., 5.], [0.3, 0.8]",
        "Laplace": "[0., 1.], [1., 2.]",
        "Normal": "[0., 1.], [1., 2.]",
    }
    kls = []
    for lib in (ember, torch):
        mk = [_make(lib, n, params[n]) for n in (p, q)]
        kls.append(lib.distributions.kl_divergence(*mk))
    _close(*kls, 1e-9, 1e-12)


# ---- scan / count ops --------------------------------------------------------------------
@pytest.mark.parametrize("op", ["cumsum", "cumprod", "logcumsumexp", "cummax", "cummin"])
@pytest.mark.parametrize(
    "vals",
    [[1.0, 0.0, 3.0, 4.0], [0.0, 0.0, 2.0, 3.0], [-1.0, 3.0, 0.0, 0.5], [3.0, 3.0, 1.0, 3.0]],
)
def test_scan_values_and_gradients_through_zeros_match_torch(op, vals):
    torch = pytest.importorskip("torch")
    out = []
    for lib in (ember, torch):
        x = lib.tensor(vals, dtype=lib.float64, requires_grad=True)
        y = getattr(lib, op)(x, 0)
        y = y[0] if isinstance(y, tuple) else y
        (y * lib.arange(1.0, 5.0, dtype=lib.float64)).sum().backward()
        out.append((y, x.grad))
    for g, w in zip(*out):
        _close(g, w, 1e-10, 1e-12)


@pytest.mark.parametrize(
    "code",
    [
        "L.diff(x, n=2, prepend=x[:1], append=x[-2:])",
        "L.unique(x, return_inverse=True, return_counts=True)",
        "L.unique_consecutive(x, return_inverse=True, return_counts=True)",
        "L.histc(x.double(), bins=4, min=-1, max=3)",
        "L.searchsorted(L.tensor([-1, 0, 2, 2, 5]), x, right=True)",
        "L.searchsorted(L.tensor([5, -1, 2, 0]), x, sorter=L.tensor([1, 3, 2, 0]))",
        "L.bucketize(x, L.tensor([0, 2, 4]), out_int32=True)",
        "L.bincount(x.clamp(min=0), minlength=7)",
        "L.cumsum(x, 0, dtype=L.float32)",
        "L.cumprod(x.to(L.uint8), 0)",
        "L.unique(x.reshape(2, 4), dim=1, return_counts=True)",
    ],
)
def test_count_ops_match_torch(code):
    torch = pytest.importorskip("torch")
    outs = []
    for lib in (ember, torch):
        x = lib.tensor([1, 0, 2, 2, 3, -1, 0, 4])
        y = eval(code, {"L": lib, "x": x})
        outs.append(list(y) if isinstance(y, tuple) else [y])
    for g, w in zip(*outs):
        _close(g, w, 0)
