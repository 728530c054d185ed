"""Complex tensors: creation, promotion, math and autograd with torch's conjugate convention,
against torch (values and gradients), NumPy and finite differences."""

import numpy as np
import pytest

import ember

RNG = np.random.default_rng(0)


def crandn(*shape, dtype=np.complex128):
    return (RNG.standard_normal(shape) + 1j * RNG.standard_normal(shape)).astype(dtype)


# ---- creation, dtypes, promotion -----------------------------------------------------------


def test_tensor_of_complex_data_and_default_complex_dtype():
    z = ember.tensor([1 + 2j, 3 - 1j])
    assert z.dtype == ember.complex64 == ember.cfloat and z.is_complex()
    np.testing.assert_array_equal(z.numpy(), np.array([1 + 2j, 3 - 1j], np.complex64))
    assert ember.tensor([1.0, 2.0], dtype=ember.cdouble).dtype == np.complex128
    assert ember.tensor(np.array([1j])).dtype == np.complex128  # NumPy input keeps its dtype
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.tensor([1j]).dtype == np.complex128  # as torch: from the default float
    finally:
        ember.set_default_dtype(ember.float32)
    assert not ember.ones(2).is_complex() and not ember.is_complex(ember.ones(2))
    assert ember.is_complex(z) and not ember.is_floating_point(z)


@pytest.mark.parametrize(
    "a, b, want",
    [
        ((np.float32, 1), (np.complex64, 1), np.complex64),
        ((np.float64, 1), (np.complex64, 1), np.complex128),  # torch: complex128
        ((np.int64, 1), (np.complex64, 1), np.complex64),
        ((np.complex64, 1), (np.float64, 0), np.complex64),  # a 0-d float does not widen
        ((np.float64, 1), (np.complex64, 0), np.complex128),  # a 0-d complex: float64's width
        ((np.float32, 1), (np.complex128, 0), np.complex64),
        ((np.complex64, 1), (np.complex128, 1), np.complex128),
    ],
)
def test_promotion_as_torch(a, b, want):
    torch = pytest.importorskip("torch")
    x = ember.tensor(np.ones((2,) * a[1], a[0]))
    y = ember.tensor(np.ones((2,) * b[1], b[0]))
    assert (x + y).dtype == want == (y * x).dtype
    tx, ty = torch.from_numpy(x.numpy()), torch.from_numpy(y.numpy())
    assert str((tx + ty).dtype).split(".")[1] == np.dtype(want).name
    assert ember.result_type(x, y) == want


def test_python_complex_scalars_are_weak():
    x = ember.ones(3)
    assert (x * 1j).dtype == np.complex64 and (x.double() + 2j).dtype == np.complex128
    assert (ember.ones(3, dtype=ember.int64) * (1 + 1j)).dtype == np.complex64
    z = ember.ones(3, dtype=ember.complex64)
    assert (z * 2.5).dtype == np.complex64 and (z + np.float64(1)).dtype == np.complex64
    np.testing.assert_allclose((x * 1j).numpy(), np.full(3, 1j))


def test_complex_real_imag_views_and_setters():
    z = ember.tensor(crandn(2, 3))
    np.testing.assert_array_equal(z.real.numpy(), z.numpy().real)
    np.testing.assert_array_equal(z.imag.numpy(), z.numpy().imag)
    assert np.shares_memory(z.real.numpy(), z.numpy()) and z.real.dtype == np.float64
    z.imag = ember.zeros(2, 3, dtype=ember.float64)
    assert np.all(z.numpy().imag == 0)
    z.real = 5.0
    assert np.all(z.numpy().real == 5)
    x = ember.ones(2)
    assert x.real is x  # real tensors: themselves, as torch
    with pytest.raises(RuntimeError, match="imag"):
        _ = x.imag


def test_complex_polar_view_as_real_and_complex():
    re, im = ember.randn(4, dtype=ember.float64), ember.randn(4, dtype=ember.float64)
    z = ember.complex(re, im)
    assert z.dtype == np.complex128
    np.testing.assert_array_equal(z.numpy(), re.numpy() + 1j * im.numpy())
    p = ember.polar(ember.abs(re), im)
    np.testing.assert_allclose(p.numpy(), np.abs(re.numpy()) * np.exp(1j * im.numpy()))
    r = ember.view_as_real(z)
    assert r.shape == (4, 2) and np.shares_memory(r.numpy(), z.numpy())
    np.testing.assert_array_equal(r.numpy()[:, 1], im.numpy())
    back = ember.view_as_complex(r)
    np.testing.assert_array_equal(back.numpy(), z.numpy())
    zt = ember.tensor(crandn(3, 4)).T  # strided: still a view
    np.testing.assert_array_equal(ember.view_as_real(zt).numpy()[..., 0], zt.numpy().real)
    with pytest.raises(TypeError, match="same|one dtype"):
        ember.complex(ember.ones(2), ember.ones(2, dtype=ember.float64))
    with pytest.raises(TypeError, match="float32 or float64"):
        ember.complex(ember.ones(2, dtype=ember.int64), ember.ones(2, dtype=ember.int64))
    with pytest.raises(RuntimeError, match="size 2"):
        ember.view_as_complex(ember.ones(3, 3))
    with pytest.raises(RuntimeError, match="stride 1"):
        ember.view_as_complex(ember.ones(2, 4)[:, ::2].T)
    with pytest.raises(RuntimeError, match="complex"):
        ember.view_as_real(ember.ones(2))


def test_randn_rand_complex_as_torch_draws():
    ember.manual_seed(0)
    z = ember.randn(200000, dtype=ember.complex64)
    assert z.dtype == np.complex64
    a = z.numpy()
    # each part N(0, 1/2): E|z|^2 = 1, as torch.randn(dtype=cfloat)
    assert abs(np.mean(np.abs(a) ** 2) - 1) < 0.02
    assert abs(np.var(a.real) - 0.5) < 0.01 and abs(np.var(a.imag) - 0.5) < 0.01
    u = ember.rand(1000, dtype=ember.complex128).numpy()
    assert u.dtype == np.complex128 and (u.real >= 0).all() and (u.imag < 1).all()


def test_casts_between_real_and_complex():
    x = ember.randn(3)
    z = x.to(ember.complex64)
    assert z.dtype == np.complex64 and np.all(z.numpy().imag == 0)
    with pytest.warns(UserWarning, match="discards the imaginary part"):
        back = ember.tensor([1 + 2j]).to(ember.float32)
    assert back.dtype == np.float32 and back.item() == 1.0
    assert ember.tensor([1 + 2j]).to(ember.complex128).dtype == np.complex128


def test_cat_stack_reshape_index_of_complex():
    a, b = crandn(2, 3), crandn(2, 3)
    ta, tb = ember.tensor(a), ember.tensor(b)
    np.testing.assert_array_equal(ember.cat([ta, tb], 1).numpy(), np.concatenate([a, b], 1))
    np.testing.assert_array_equal(ember.stack([ta, tb], -1).numpy(), np.stack([a, b], -1))
    mixed = ember.cat([ember.ones(2, 3), ta])
    assert mixed.dtype == np.complex64 or mixed.dtype == np.complex128
    np.testing.assert_array_equal(ta.reshape(3, 2).numpy(), a.reshape(3, 2))
    np.testing.assert_array_equal(ta[1, ::2].numpy(), a[1, ::2])
    np.testing.assert_array_equal(ta.view(6).numpy(), a.reshape(6))
    with pytest.raises(IndexError):
        ember.cat([ta, tb], 2)


@pytest.mark.parametrize(
    "op",
    [
        lambda z: z < z,
        lambda z: z >= 1,
        lambda z: ember.max(z),
        lambda z: z.min(),
        lambda z: ember.sort(z),
        lambda z: ember.argmax(z),
        lambda z: ember.relu(z),
        lambda z: ember.clamp(z, 0, 1),
        lambda z: ember.floor(z),
        lambda z: ember.sign(z),
        lambda z: ember.maximum(z, z),
        lambda z: ember.topk(z, 1),
        lambda z: ember.erf(z),
        lambda z: ember.nn.functional.gelu(z),
        lambda z: ember.atan2(z, z),
    ],
)
def test_ops_torch_refuses_on_complex_are_refused(op):
    with pytest.raises(TypeError, match="complex"):
        op(ember.tensor([1 + 1j, 2 - 1j]))


def test_requires_grad_and_backward_of_complex_scalar():
    z = ember.tensor([1j], requires_grad=True)
    assert z.requires_grad
    with pytest.raises(RuntimeError, match="real scalar"):
        (z * 2).sum().backward()


# ---- values and gradients against torch ------------------------------------------------------

UNARY = {
    "exp": (ember.exp, "exp"),
    "log": (ember.log, "log"),
    "sqrt": (ember.sqrt, "sqrt"),
    "sin": (ember.sin, "sin"),
    "cos": (ember.cos, "cos"),
    "tan": (ember.tan, "tan"),
    "sinh": (ember.sinh, "sinh"),
    "cosh": (ember.cosh, "cosh"),
    "tanh": (ember.tanh, "tanh"),
    "sigmoid": (ember.sigmoid, "sigmoid"),
    "reciprocal": (ember.reciprocal, "reciprocal"),
    "rsqrt": (ember.rsqrt, "rsqrt"),
    "square": (ember.square, "square"),
    "log1p": (ember.log1p, "log1p"),
    "expm1": (ember.expm1, "expm1"),
    "log2": (ember.log2, "log2"),
    "log10": (ember.log10, "log10"),
    "asin": (ember.asin, "asin"),
    "acos": (ember.acos, "acos"),
    "atan": (ember.atan, "atan"),
    "asinh": (ember.asinh, "asinh"),
    "acosh": (ember.acosh, "acosh"),
    "atanh": (ember.atanh, "atanh"),
    "abs": (ember.abs, "abs"),
    "angle": (ember.angle, "angle"),
    "real": (ember.real, "real"),
    "imag": (ember.imag, "imag"),
    "conj": (ember.conj, "conj_physical"),
    "sgn": (ember.sgn, "sgn"),
    "neg": (lambda z: -z, "neg"),
    "pow2": (lambda z: z**2, lambda t: t**2),
    "pow2.5": (lambda z: z**2.5, lambda t: t**2.5),
    "powc": (lambda z: z ** (0.5 + 1j), lambda t: t ** (0.5 + 1j)),
    "rpow": (lambda z: 2**z, lambda t: 2**t),
    "sum": (lambda z: z.sum(0), lambda t: t.sum(0)),
    "mean": (lambda z: z.mean(-1), lambda t: t.mean(-1)),
    "prod": (lambda z: z.prod(1), lambda t: t.prod(1)),
    "cumsum": (lambda z: z.cumsum(1), lambda t: t.cumsum(1)),
    "view_as_real": (ember.view_as_real, "view_as_real"),
    "T-index": (lambda z: z.T[1:, ::2], lambda t: t.T[1:, ::2]),
    "adjoint": (lambda z: z.mH, lambda t: t.mH.resolve_conj()),
    "to128": (lambda z: z.to(ember.complex128) * 2, lambda t: t.to(t.dtype) * 2),
}


def _weights(out):
    w = crandn(*np.shape(out))
    return w if np.iscomplexobj(out) else w.real.copy()


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary_values_and_gradients_match_torch(name):
    torch = pytest.importorskip("torch")
    fn, tfn = UNARY[name]
    tfn = getattr(torch, tfn) if isinstance(tfn, str) else tfn
    a = crandn(3, 4) * 0.8
    z = ember.tensor(a, requires_grad=True)
    t = torch.tensor(a, requires_grad=True)
    out, tout = fn(z), tfn(t)
    assert out.dtype == np.dtype(str(tout.dtype).split(".")[1])
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10, atol=1e-12)
    w = _weights(out.numpy())
    # a real loss: the real part of <w, out>
    (out * ember.tensor(w)).real.sum().backward()
    (tout * torch.tensor(w)).real.sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert z.grad.dtype == np.complex128


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
    "matmul": lambda a, b: a @ b.T,
    "einsum": lambda a, b: (ember if isinstance(a, ember.Tensor) else __import__("torch")).einsum(
        "ij,kj->ik", a, b
    ),
    "cat": lambda a, b: (ember if isinstance(a, ember.Tensor) else __import__("torch")).cat(
        [a, b], 1
    ),
    "stack": lambda a, b: (ember if isinstance(a, ember.Tensor) else __import__("torch")).stack(
        [a, b]
    ),
}


ONE_DTYPE = ("cat", "stack", "einsum", "matmul")  # torch's need one dtype (see below)


@pytest.mark.parametrize(
    "name, kinds",
    [(n, k) for n in sorted(BINARY) for k in ("cc", "rc", "cr") if k == "cc" or n not in ONE_DTYPE],
)
def test_binary_values_and_gradients_match_torch(name, kinds):
    torch = pytest.importorskip("torch")
    fn = BINARY[name]
    arrays = [crandn(3, 4) if k == "c" else RNG.standard_normal((3, 4)) for k in kinds]
    if name == "pow":
        arrays[0] = arrays[0] + 3  # away from the branch cut of log
    es = [ember.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = fn(*es), fn(*ts)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-10)
    w = _weights(out.numpy())
    (out * ember.tensor(w)).real.sum().backward()
    (tout * torch.tensor(w)).real.sum().backward()
    for e, t in zip(es, ts):
        assert e.grad.dtype == e.dtype  # a real input gets a real gradient
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_matmul_complex64_and_bmm_mm():
    torch = pytest.importorskip("torch")
    a, b = crandn(2, 3, 4, dtype=np.complex64), crandn(2, 4, 5, dtype=np.complex64)
    np.testing.assert_allclose(
        ember.bmm(ember.tensor(a), ember.tensor(b)).numpy(),
        torch.bmm(torch.tensor(a), torch.tensor(b)).numpy(),
        rtol=1e-5,
    )
    assert ember.mm(ember.tensor(a[0]), ember.tensor(b[0])).dtype == np.complex64
    with pytest.raises(TypeError, match="one dtype"):  # as torch's "same dtype"
        ember.tensor(a) @ ember.ones(2, 4, 5)
    np.testing.assert_allclose(
        ember.vdot(ember.tensor(a[0, 0]), ember.tensor(a[1, 0])).numpy(),
        np.vdot(a[0, 0], a[1, 0]),
        rtol=1e-5,
    )


def test_real_to_complex_boundaries_match_torch():
    torch = pytest.importorskip("torch")
    re, im = RNG.standard_normal(5), RNG.standard_normal(5)
    er, ei = ember.tensor(re, requires_grad=True), ember.tensor(im, requires_grad=True)
    tr, ti = torch.tensor(re, requires_grad=True), torch.tensor(im, requires_grad=True)
    e = ember.polar(ember.complex(er, ei).abs(), ei) * ember.view_as_complex(
        ember.stack([er, ei], -1)
    )
    t = torch.polar(torch.complex(tr, ti).abs(), ti) * torch.view_as_complex(
        torch.stack([tr, ti], -1)
    )
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-12)
    w = crandn(5)
    (e * ember.tensor(w)).real.sum().backward()
    (t * torch.tensor(w)).real.sum().backward()
    np.testing.assert_allclose(er.grad.numpy(), tr.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(ei.grad.numpy(), ti.grad.numpy(), rtol=1e-10)


def test_mul_gradient_is_grad_times_conjugate():
    a, b = crandn(4), crandn(4)
    ta, tb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    c = ta * tb
    g = crandn(4)
    c.backward(ember.tensor(g))
    np.testing.assert_allclose(ta.grad.numpy(), g * np.conj(b))
    np.testing.assert_allclose(tb.grad.numpy(), g * np.conj(a))


# ---- gradcheck on complex inputs -------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda z: (z * z.conj()).real,
        lambda z: ember.exp(z) / (1 + z.abs()),
        lambda z: ember.view_as_real(ember.log(z) @ z.T),
        lambda z: ember.angle(z) + z.imag,
        lambda z: ember.tanh(z).sum(0),
        lambda z: ember.sqrt(z).mean(),
    ],
)
def test_gradcheck_complex128(fn):
    z = ember.tensor(crandn(3, 3) + 0.5, requires_grad=True)
    assert ember.autograd.gradcheck(fn, (z,))


def test_gradcheck_complex_catches_a_wrong_gradient():
    class Bad(ember.autograd.Function):
        @staticmethod
        def forward(ctx, z):
            ctx.save_for_backward(z)
            return z * z

        @staticmethod
        def backward(ctx, g):
            (z,) = ctx.saved_tensors
            return g * 2 * z  # torch's rule has conj(2 z)

    z = ember.tensor(crandn(3), requires_grad=True)
    with pytest.raises(RuntimeError, match="differs"):
        ember.autograd.gradcheck(Bad.apply, (z,))
    with pytest.raises(TypeError, match="complex128"):
        ember.autograd.gradcheck(lambda t: t, (ember.tensor(crandn(2).astype(np.complex64),
                                                            requires_grad=True),))  # fmt: skip


# ---- linalg.eig / eigvals --------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float64, np.complex128, np.float32])
def test_eig_values_vectors_and_gradients_match_torch(dtype):
    torch = pytest.importorskip("torch")
    shape = (4, 4) if dtype == np.float32 else (2, 4, 4)
    a = (crandn(*shape) if dtype == np.complex128 else RNG.standard_normal(shape)).astype(dtype)
    e, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    L, V = ember.linalg.eig(e)
    Lt, Vt = torch.linalg.eig(t)
    assert L.dtype == V.dtype == np.dtype(str(Lt.dtype).split(".")[1])
    tol = 1e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(L.detach().numpy(), Lt.detach().numpy(), rtol=tol, atol=tol)
    # A V = V diag(L), unit columns; the vectors equal torch's up to a phase (not unique)
    Ld, Vd = L.detach().numpy(), V.detach().numpy()
    np.testing.assert_allclose(a @ Vd, Vd * Ld[..., None, :], atol=tol * 10)
    np.testing.assert_allclose(np.linalg.norm(Vd, axis=-2), 1, rtol=tol)
    phase = np.sum(np.conj(Vd) * Vt.detach().numpy(), axis=-2)
    np.testing.assert_allclose(np.abs(phase), 1, rtol=tol * 10)
    # a loss invariant to each eigenvector's phase: torch's gradient
    wl, wv = crandn(*L.shape), RNG.standard_normal(V.shape)
    ((L * ember.tensor(wl)).real.sum() + (V.abs() ** 2 * ember.tensor(wv)).sum()).backward()
    ((Lt * torch.tensor(wl)).real.sum() + (Vt.abs() ** 2 * torch.tensor(wv)).sum()).backward()
    assert e.grad.dtype == e.dtype
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=tol * 100, atol=tol * 100)


def test_eigvals_gradcheck_and_errors():
    x = ember.tensor(RNG.standard_normal((3, 3)), requires_grad=True)
    assert ember.autograd.gradcheck(ember.linalg.eigvals, (x,))
    z = ember.tensor(crandn(3, 3), requires_grad=True)
    assert ember.autograd.gradcheck(ember.linalg.eigvals, (z,))
    assert ember.autograd.gradcheck(lambda A: ember.linalg.eig(A).eigenvectors.abs(), (z,))
    np.testing.assert_allclose(
        np.sort_complex(ember.linalg.eigvals(z).detach().numpy()),
        np.sort_complex(np.linalg.eigvals(z.detach().numpy())),
    )
    with pytest.raises(ValueError, match="square"):
        ember.linalg.eig(ember.ones(2, 3))
    with pytest.raises(TypeError, match="float or complex"):
        ember.linalg.eig(ember.ones(2, 2, dtype=ember.int64))
    with pytest.raises(ValueError, match="NaN"):
        ember.linalg.eig(ember.tensor([[1.0, float("nan")], [0.0, 1.0]]))
    _, V = ember.linalg.eig(z)
    with pytest.raises(ValueError, match="phase"):  # a loss that depends on the phase
        V.real.sum().backward()


SECOND = [
    lambda m, z: (z * z * z).abs().sum(),
    lambda m, z: m.angle(m.exp(z) * z).sum(),
    lambda m, z: (m.fft.fft(z, n=3) * z.sum()).abs().sum(),
    lambda m, z: m.fft.irfft(z * z, n=3).sin().sum() + m.fft.rfft(z.real, n=5).abs().sum(),
    lambda m, z: m.view_as_real(m.tanh(z) * z.conj() + m.sigmoid(z)).sum(),
]


@pytest.mark.parametrize("k", range(len(SECOND)))
def test_second_derivatives_match_torch(k):
    torch = pytest.importorskip("torch")
    f, a = SECOND[k], crandn(3)
    z, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    (g,) = ember.autograd.grad(f(ember, z), [z], create_graph=True)
    (gt,) = torch.autograd.grad(f(torch, t), [t], create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), gt.detach().numpy(), rtol=1e-10)
    g.abs().sum().backward()
    gt.abs().sum().backward()
    np.testing.assert_allclose(z.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_gradgradcheck_complex():
    z = ember.tensor(crandn(3), requires_grad=True)
    assert ember.autograd.gradgradcheck(lambda v: ember.exp(v) * v.conj(), (z,))


# ---- reductions to real values, linear algebra ---------------------------------------------

TO_TORCH = {
    "var": lambda m, z: m.var(z),
    "std-dim-keepdim": lambda m, z: m.std(z, 1, keepdim=True),
    "var-biased": lambda m, z: z.var(0, unbiased=False),
    "var_mean": lambda m, z: m.var_mean(z, 1)[0],
    "norm": lambda m, z: m.norm(z),
    "norm-1-dim": lambda m, z: m.norm(z, 1, dim=1),
    "vector_norm-3": lambda m, z: m.linalg.vector_norm(z, 3, dim=0),
    "vector_norm-inf": lambda m, z: m.linalg.vector_norm(z, float("inf")),
    "linalg.norm": lambda m, z: m.linalg.norm(z),
    "linalg.norm-dim": lambda m, z: m.linalg.norm(z, dim=1),
    "matrix_norm-fro": lambda m, z: m.linalg.matrix_norm(z),
    "matrix_norm-1": lambda m, z: m.linalg.matrix_norm(z, 1),
    "det": lambda m, z: m.linalg.det(z[:, :3]),
    "inv": lambda m, z: m.linalg.inv(z[:, 1:]),
    "solve": lambda m, z: m.linalg.solve(z[:, :3], z[:, 3]),
    "solve-right": lambda m, z: m.linalg.solve(z[:, :3], z[:, 1:], left=False),
    "matrix_power": lambda m, z: m.linalg.matrix_power(z[:, :3], -2),
}


@pytest.mark.parametrize("name", sorted(TO_TORCH))
def test_norms_variances_and_linalg_match_torch(name):
    torch = pytest.importorskip("torch")
    f, a = TO_TORCH[name], crandn(3, 4)
    e, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ye, yt = f(ember, e), f(torch, t)
    assert ye.dtype == np.dtype(str(yt.dtype).split(".")[1])
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().resolve_conj().numpy(), rtol=1e-10)
    w = _weights(ye.detach().numpy())
    (ye * ember.tensor(w)).real.sum().backward()
    (yt * torch.tensor(w)).real.sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.resolve_conj().numpy(), rtol=1e-8, atol=1e-12)


def test_complex_small_facts():
    assert ember.full((2,), 1j).dtype == np.complex64 and ember.tensor([1j]).is_signed()
    assert repr(ember.tensor([1 + 2j])) == "tensor([1.+2.j])"
    assert "complex128" in repr(ember.tensor([1j], dtype=ember.complex128))
    w = ember.tensor([1 + 1j, 2j])
    w += 1j
    w *= 2
    w.mul_(1j)
    np.testing.assert_allclose(w.numpy(), (np.array([1 + 1j, 2j]) + 1j) * 2 * 1j)
    x = ember.ones(2)
    with pytest.raises(RuntimeError, match="can't be cast"):  # as torch: no complex into float
        x += 1j


def test_cfloat_cdouble_and_index_assignment_gradient():
    torch = pytest.importorskip("torch")
    x = ember.randn(3, requires_grad=True)
    assert x.cfloat().dtype == np.complex64 and x.cdouble().dtype == np.complex128
    a = crandn(2)
    w, wt = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    z, zt = ember.zeros(3, dtype=ember.complex128), torch.zeros(3, dtype=torch.complex128)
    z[1:] = w * 2
    zt[1:] = wt * 2
    (z.abs() ** 2 * ember.tensor([1.0, 2.0, 3.0])).sum().backward()
    (zt.abs() ** 2 * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), wt.grad.numpy())


def test_forward_mode_ad_through_complex_values():
    # holomorphic ops: the tangent is f'(z) t; a real primal times 1j becomes complex
    import ember.autograd.forward_ad as fwad

    a, t = crandn(2), crandn(2)
    with fwad.dual_level():
        z = fwad.make_dual(ember.tensor(a), ember.tensor(t))
        np.testing.assert_allclose(fwad.unpack_dual(ember.exp(z)).tangent.numpy(), np.exp(a) * t)
        x = fwad.make_dual(ember.tensor([1.0, 2.0]), ember.tensor([1.0, 0.0]))
        np.testing.assert_allclose(fwad.unpack_dual(x * 1j).tangent.numpy(), [1j, 0])


OPTIMIZERS = {
    "SGD": dict(lr=0.1, momentum=0.9, weight_decay=0.01, nesterov=True),
    "Adam": dict(lr=0.1, weight_decay=0.1),
    "AdamW": dict(lr=0.1, amsgrad=True),
    "RMSprop": dict(lr=0.01, centered=True, momentum=0.5),
    "Adagrad": dict(lr=0.1, initial_accumulator_value=0.1),
    "Adadelta": dict(lr=1.0),
    "Adamax": dict(lr=0.1),
    "NAdam": dict(lr=0.1),
    "RAdam": dict(lr=0.1),
    "ASGD": dict(lr=0.1),
    "Rprop": dict(lr=0.1),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_step_complex_parameters_as_torch(name):
    torch = pytest.importorskip("torch")
    a, target = crandn(3, 2), crandn(3, 2)
    p, pt = ember.tensor(a.copy(), requires_grad=True), torch.tensor(a.copy(), requires_grad=True)
    opt = getattr(ember.optim, name)([p], **OPTIMIZERS[name])
    topt = getattr(torch.optim, name)([pt], **OPTIMIZERS[name])
    for _ in range(4):
        for x, o, m in ((p, opt, ember), (pt, topt, torch)):
            o.zero_grad()
            (((x - m.tensor(target)).abs() ** 2).sum() + (x.real**3).sum()).backward()
            o.step()
    assert p.dtype == np.complex128
    np.testing.assert_allclose(p.detach().numpy(), pt.detach().numpy(), rtol=1e-10, atol=1e-12)


# (the optimisers without complex support refuse it as torch: tests/test_train25.py)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm_of_complex_gradients_as_torch(norm_type):
    torch = pytest.importorskip("torch")
    a, b = crandn(3), RNG.standard_normal(2)
    ps = [ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)]
    ts = [torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)]
    (ps[0].abs() ** 2).sum().add(ps[1].sum() * 3).backward()
    (ts[0].abs() ** 2).sum().add(ts[1].sum() * 3).backward()
    n = ember.nn.utils.clip_grad_norm_(ps, 1.0, norm_type)
    nt = torch.nn.utils.clip_grad_norm_(ts, 1.0, norm_type)
    assert n.dtype == np.float64
    np.testing.assert_allclose(n.item(), nt.item(), rtol=1e-12)
    for p, t in zip(ps, ts):
        np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=1e-12)
