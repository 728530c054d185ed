"""Regressions from a differential hunt against torch's OpInfo sample inputs (op_db)."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _close(e, t, atol=1e-10):
    t = t.detach().resolve_conj().numpy()
    e = np.asarray(e.detach().numpy())
    assert e.dtype == t.dtype and e.shape == t.shape
    np.testing.assert_allclose(e, t, atol=atol, rtol=1e-9)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_inverse_and_solve_complex_use_the_conjugate_transpose(upper):
    g = torch.Generator().manual_seed(0)
    a = torch.randn(4, 4, dtype=torch.complex128, generator=g)
    L = torch.linalg.cholesky(a @ a.mH + 4 * torch.eye(4, dtype=torch.complex128))
    L = L.mH.resolve_conj() if upper else L
    b = torch.randn(4, 2, dtype=torch.complex128, generator=g)
    eL = ember.tensor(L.numpy())
    _close(ember.cholesky_inverse(eL, upper=upper), torch.cholesky_inverse(L, upper=upper))
    _close(
        ember.cholesky_solve(ember.tensor(b.numpy()), eL, upper=upper),
        torch.cholesky_solve(b, L, upper=upper),
    )


@pytest.mark.parametrize("dtype", ["int64", "int32", "int16"])
@pytest.mark.parametrize(
    "bounds",
    [(0.0, -8.000001, -4.0), (0.5, 5.5, 1.5), (-3.5, 0.2, 1.0), (10.9, 1.1, -2.5), (0.7, 4.2, 1)],
)
def test_arange_integer_dtype_truncates_float_bounds_as_torch(dtype, bounds):
    t = torch.arange(*bounds, dtype=getattr(torch, dtype))
    assert ember.arange(*bounds, dtype=getattr(ember, dtype)).tolist() == t.tolist()


@pytest.mark.parametrize("dtype", ["int64", "int32", "int8"])
def test_linspace_integer_dtype_matches_torch(dtype):
    rng = np.random.default_rng(0)
    for _ in range(60):
        a, b = (float(v) for v in rng.uniform(-60, 60, 2))
        n = int(rng.integers(0, 200))
        t = torch.linspace(a, b, n, dtype=getattr(torch, dtype))
        e = ember.linspace(a, b, n, dtype=getattr(ember, dtype))
        assert e.tolist() == t.tolist(), (a, b, n)


@pytest.mark.parametrize("dtype", ["int64", "int32", "float32"])
def test_logspace_matches_torch(dtype):
    rng = np.random.default_rng(1)
    for _ in range(60):
        a, b = (float(v) for v in rng.uniform(-5, 5, 2))
        n = int(rng.integers(0, 40))
        base = float(rng.choice([10.0, 2.0, 1.5]))
        t = torch.logspace(a, b, n, base=base, dtype=getattr(torch, dtype))
        e = ember.logspace(a, b, n, base=base, dtype=getattr(ember, dtype))
        assert np.array_equal(e.numpy(), t.numpy()), (a, b, n, base)


def test_vecdot_conjugates_its_first_argument():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 3, dtype=torch.complex128, generator=g, requires_grad=True)
    y = torch.randn(3, dtype=torch.complex128, generator=g, requires_grad=True)
    ex, ey = (ember.tensor(v.detach().numpy(), requires_grad=True) for v in (x, y))
    t, e = torch.linalg.vecdot(x, y), ember.linalg.vecdot(ex, ey)
    _close(e, t)
    cot = torch.randn(4, dtype=torch.complex128, generator=g)
    tg = torch.autograd.grad(t, (x, y), cot)
    eg = ember.autograd.grad(e, (ex, ey), ember.tensor(cot.numpy()))
    for a, b in zip(eg, tg, strict=True):
        _close(a, b)


def test_norm_nuc_of_complex_is_torchs():
    # the nuclear norm of A itself, not of |A|
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 3)) + 1j * rng.standard_normal((3, 3))
    got = ember.norm(ember.tensor(a), "nuc").item()
    assert np.isclose(got, torch.norm(torch.tensor(a), "nuc").item())
    assert not np.isclose(got, np.linalg.norm(np.abs(a), "nuc"))


def test_zeta_of_0d_tensors_is_0d():
    t = torch.special.zeta(torch.tensor(2.0), torch.tensor(1.5))
    e = ember.special.zeta(ember.tensor(2.0), ember.tensor(1.5))
    assert e.shape == () and np.isclose(e.item(), t.item())


def test_istft_of_a_two_sided_spectrum_to_a_real_signal_reads_its_first_half():
    g = torch.Generator().manual_seed(3)
    z = torch.randn(2, 10, 4, dtype=torch.complex128, generator=g)
    w = torch.hann_window(10, dtype=torch.float64)
    for rc in (False, True):
        t = torch.istft(z, 10, hop_length=3, window=w, onesided=False, return_complex=rc)
        e = ember.istft(
            ember.tensor(z.numpy()),
            10,
            hop_length=3,
            window=ember.tensor(w.numpy()),
            onesided=False,
            return_complex=rc,
        )
        _close(e, t)


def _t(shape, dtype, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(-3, 3, shape, generator=g).to(dtype)


@pytest.mark.parametrize("dtype", [torch.int64, torch.bool])
@pytest.mark.parametrize("beta, alpha", [(0.2, 0.6), (2, 3), (0, 1), (1, 0)])
@pytest.mark.parametrize(
    "name, shapes",
    [
        ("addmv", [(5,), (5, 4), (4,)]),
        ("addmm", [(5, 3), (5, 4), (4, 3)]),
        ("addr", [(5, 4), (5,), (4,)]),
        ("baddbmm", [(2, 5, 3), (2, 5, 4), (2, 4, 3)]),
        ("addbmm", [(5, 3), (2, 5, 4), (2, 4, 3)]),
    ],
)
def test_addmm_family_of_integers_and_bools_casts_beta_alpha_as_torch(
    dtype, beta, alpha, name, shapes
):
    ts = [_t(s, dtype, i) for i, s in enumerate(shapes)]
    es = [ember.tensor(t.numpy()) for t in ts]
    try:
        want = getattr(torch, name)(*ts, beta=beta, alpha=alpha)
    except RuntimeError as err:  # torch has no bool kernels for the matmul ones
        if "not implemented for 'Bool'" in str(err):
            return
        with pytest.raises(TypeError, match="floating"):  # addr refuses float scalars for ints
            getattr(ember, name)(*es, beta=beta, alpha=alpha)
        return
    got = getattr(ember, name)(*es, beta=beta, alpha=alpha)
    assert got.dtype == want.numpy().dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_diff_of_order_zero_is_the_input_and_a_negative_order_raises():
    x = torch.randn(5, 4)
    e = ember.tensor(x.numpy())
    got = ember.diff(e, 0, 0, e[:1], e[:2])  # prepend / append unused, as torch
    np.testing.assert_array_equal(got.numpy(), torch.diff(x, 0, 0, x[:1], x[:2]).numpy())
    with pytest.raises(ValueError, match="non-negative"):
        ember.diff(e, -1)


def test_gradient_takes_an_explicit_spacing_none():
    x = torch.randn(5, 4)
    want = torch.gradient(x, spacing=None, dim=None)
    got = ember.gradient(ember.tensor(x.numpy()), spacing=None, dim=None)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)


@pytest.mark.parametrize(
    "fn",
    [
        lambda m, x: m.take(x, m.tensor(np.int64(0))),
        lambda m, x: m.masked_select(x, m.tensor(np.bool_(True))),
        lambda m, x: m.scatter_reduce(x, 0, m.tensor(np.int64(0)), m.tensor(np.float64(2)), "amax"),
    ],
)
def test_backward_of_indexing_ops_on_a_0d_input(fn):
    t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    e = ember.tensor(np.float64(2.0), requires_grad=True)
    (fn(torch, t).sum() * 3).backward()
    (fn(ember, e).sum() * 3).backward()
    assert e.grad.item() == pytest.approx(t.grad.item())


@pytest.mark.parametrize(
    "sa, sb, dim",
    [((5, 3), (5, 1), -1), ((5, 3), (3,), -1), ((1, 3), (2, 3), 0), ((2, 3, 4), (3, 4), -3)],
)
def test_linalg_cross_refuses_what_torch_refuses(sa, sb, dim):
    a, b = torch.randn(sa), torch.randn(sb)
    with pytest.raises(RuntimeError):
        torch.linalg.cross(a, b, dim=dim)
    with pytest.raises(ValueError, match="cross"):
        ember.linalg.cross(ember.tensor(a.numpy()), ember.tensor(b.numpy()), dim=dim)


def test_linalg_cross_still_broadcasts_the_other_dims():
    a, b = torch.randn(2, 3, 4, dtype=torch.float64), torch.randn(1, 3, 1, dtype=torch.float64)
    got = ember.linalg.cross(ember.tensor(a.numpy()), ember.tensor(b.numpy()), dim=1)
    _close(got, torch.linalg.cross(a, b, dim=1))


def test_isclose_and_gradient_refuse_bad_arguments():
    with pytest.raises(ValueError, match="greater than or equal to zero"):
        ember.isclose(ember.ones(2), ember.ones(2), rtol=-0.4)
    with pytest.raises(ValueError, match="multiple times"):
        ember.gradient(ember.ones(3, 3), spacing=0.1, dim=[1, 1])
