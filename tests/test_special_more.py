"""torch.special's Bessel, Airy, erfcx, log_ndtr, zeta and orthogonal-polynomial functions against
torch: float64 to 1e-12 relative over wide ranges and edge values, float32 to float32 precision,
torch's dtype rules, gradients (where torch has them) and bad input."""

import numpy as np
import pytest

import ember
import ember.special as es
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")

UNARY = [
    "airy_ai", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "erfcx", "i0e", "i1", "i1e",
    "log_ndtr", "modified_bessel_i0", "modified_bessel_i1", "modified_bessel_k0",
    "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
    "spherical_bessel_j0",
]  # fmt: skip
POLYNOMIALS = [
    "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
    "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
    "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w", "hermite_polynomial_h",
    "hermite_polynomial_he", "laguerre_polynomial_l", "legendre_polynomial_p",
]  # fmt: skip
EDGES = [
    0.0, -0.0, 1.0, -1.0, 2.0, -2.0, 5.0, -5.0, 8.0, -8.0, 2.09, -2.09, 1e-6, -1e-6, 1e-300,
    26.7, -26.7, 50.0, 51.0, 6e7, 103.9, 700.0, -700.0, 1e5, 1e10, np.inf, -np.inf, np.nan,
]  # fmt: skip


def close(e, t, rtol, atol=0.0, msg=""):
    """Equal NaN positions and infinities, else within rtol (relative) or atol."""
    np.testing.assert_allclose(np.asarray(e), np.asarray(t), rtol=rtol, atol=atol, err_msg=msg)


@pytest.mark.parametrize("name", UNARY)
def test_unary_float64_matches_torch_over_wide_range(name):
    rng = np.random.default_rng(0)
    x = np.concatenate([np.linspace(-30, 30, 2001), rng.standard_normal(300) * 100, EDGES])
    e = getattr(es, name)(ember.tensor(x))
    t = getattr(torch.special, name)(torch.tensor(x)).numpy()
    assert e.dtype == ember.float64 and e.shape == x.shape
    close(e.numpy(), t, rtol=1e-12, atol=1e-300, msg=name)


@pytest.mark.parametrize("name", UNARY)
def test_unary_float32_matches_torch(name):
    # float32: torch computes in float (its arguments to cos/sin lose all digits far out, and it
    # flushes to 0 what we round to a subnormal), so compare on |x| <= 30 with a float32 atol
    x = np.concatenate(
        [np.linspace(-30, 30, 1201), [0.0, 1.0, -1.0, 2.09, np.inf, -np.inf, np.nan]]
    )
    x = x.astype(np.float32)
    e = getattr(es, name)(ember.tensor(x))
    t = getattr(torch.special, name)(torch.tensor(x)).numpy()
    assert e.dtype == ember.float32
    close(e.numpy(), t, rtol=2e-5, atol=2e-6, msg=name)


@pytest.mark.parametrize("name", UNARY)
def test_unary_dtype_rules_and_zero_dim(name):
    f, tf = getattr(es, name), getattr(torch.special, name)
    e, t = f(ember.tensor([1, 2, 3])), tf(torch.tensor([1, 2, 3]))
    assert e.dtype == ember.float32 and t.dtype == torch.float32
    close(e.numpy(), t.numpy(), rtol=1e-6)
    assert f(ember.tensor(0.75, dtype=ember.float64)).shape == ()
    assert f(ember.tensor([True, False])).dtype == ember.float32


def test_torch_gives_no_gradient_neither_do_we():
    for name in UNARY:
        if name in ("i0e", "i1", "i1e", "erfcx", "log_ndtr"):
            continue
        x = ember.tensor([0.5, 1.5], dtype=ember.float64, requires_grad=True)
        tx = torch.tensor([0.5, 1.5], dtype=torch.float64, requires_grad=True)
        assert not getattr(es, name)(x).requires_grad
        assert not getattr(torch.special, name)(tx).requires_grad
    x = ember.tensor([0.5], requires_grad=True)
    assert not es.chebyshev_polynomial_t(x, 3).requires_grad


@pytest.mark.parametrize("name", ["i0e", "i1", "i1e", "erfcx", "log_ndtr"])
def test_gradients_match_torch_and_finite_differences(name):
    x = np.array([-2.5, -1.0, -0.3, 0.4, 1.5, 7.9, 8.1])  # both sides of the 8 split
    f, tf = getattr(es, name), getattr(torch.special, name)
    assert gradcheck(f, (ember.tensor(x, requires_grad=True),))
    # first and second derivatives against torch's (create_graph through our df.graph)
    e = ember.tensor(x, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    (ge,) = ember.autograd.grad(f(e).sum(), e, create_graph=True)
    (gt,) = torch.autograd.grad(tf(t).sum(), t, create_graph=True)
    close(ge.detach().numpy(), gt.detach().numpy(), rtol=1e-12)
    ge.sum().backward()
    gt.sum().backward()
    close(e.grad.numpy(), t.grad.numpy(), rtol=1e-11)


def test_gradients_at_zero_and_far_out_match_torch():
    x = np.array([0.0, -30.0, 30.0, -40.0])
    for name in ["i0e", "i1e", "i1", "erfcx", "log_ndtr"]:
        e = ember.tensor(x, requires_grad=True)
        t = torch.tensor(x, requires_grad=True)
        getattr(es, name)(e).sum().backward()
        getattr(torch.special, name)(t).sum().backward()
        close(e.grad.numpy(), t.grad.numpy(), rtol=1e-12, msg=name)


def test_erfcx_and_log_ndtr_tails():
    x = np.array([-1e3, -38.0, -26.0, -6.2, -6.0, 1e-20, 49.0, 51.0, 1e8, 1e300])
    for name in ["erfcx", "log_ndtr"]:
        e = getattr(es, name)(ember.tensor(x)).numpy()
        t = getattr(torch.special, name)(torch.tensor(x)).numpy()
        close(e, t, rtol=1e-13, atol=1e-300, msg=name)


def polynomial_grid(dtype):
    x = np.concatenate([np.linspace(-3, 3, 61), [0.0, 1.0, -1.0, 0.5, 1e3, -1e3]])
    x = np.concatenate([x, [np.inf, -np.inf, np.nan]])
    n = [-3, -1, -0.5, 0, 0.7, 1, 2, 3, 3.9, 5, 6, 7, 8, 9, 10, 20, 50, 100]
    n = np.array(n + [129, 513, 1000, np.nan, np.inf, -np.inf])
    return (v.astype(dtype) for v in np.meshgrid(x, n))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_match_torch(name, dtype):
    x, n = polynomial_grid(dtype)
    e = getattr(es, name)(ember.tensor(x), ember.tensor(n)).numpy()
    t = getattr(torch.special, name)(torch.tensor(x), torch.tensor(n)).numpy()
    assert e.dtype == dtype
    # NaN x with n >= 2: torch returns an uninitialised value (its loop never runs); ours NaN
    nan_x = np.isnan(x) & (n >= 2) & np.isfinite(n)
    assert np.isnan(e[nan_x]).all()
    e, t, n = e[~nan_x], t[~nan_x], n[~nan_x]
    # computed in x's dtype as torch's: overflow to inf and NaN at the same places
    np.testing.assert_array_equal(np.isnan(e), np.isnan(t), err_msg=name)
    np.testing.assert_array_equal(np.isinf(e), np.isinf(t), err_msg=name)
    np.testing.assert_array_equal(e[np.isinf(t)], t[np.isinf(t)], err_msg=name)
    ok = np.isfinite(t)
    # cos(n acos x) & co: an ulp of n acos x moves the value by ~n ulps (torch's as ours)
    eps = np.finfo(dtype).eps
    deg = np.where(np.isfinite(n), np.abs(n), 0)
    tol = 1e-12 * np.abs(t) + 8 * eps * (deg + 1) * np.maximum(1, np.abs(t))
    with np.errstate(invalid="ignore"):  # inf - inf where both are the same infinity
        bad = ok & ~(np.abs(e - t) <= tol)
    assert not bad.any(), (name, n[bad][:5], e[bad][:5], t[bad][:5])


@pytest.mark.parametrize("name", POLYNOMIALS)
def test_polynomials_broadcast_scalars_and_dtypes(name):
    f, tf = getattr(es, name), getattr(torch.special, name)
    x = np.linspace(-1.5, 1.5, 7).reshape(7, 1)
    n = np.array([0, 1, 2, 5, 9])
    e, t = f(ember.tensor(x), ember.tensor(n)), tf(torch.tensor(x), torch.tensor(n))
    assert e.shape == (7, 5) and e.dtype == ember.float64
    close(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-14)
    e, t = f(ember.tensor(x), 4), tf(torch.tensor(x), 4)
    close(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-14)
    # integers promote to float32; a float64 0-d n leaves float32 x float32 (as torch)
    assert f(ember.tensor([1, 2]), 3).dtype == ember.float32
    assert tf(torch.tensor([1, 2]), 3).dtype == torch.float32
    x32 = ember.tensor([0.25, 0.5])
    assert f(x32, ember.tensor(3.0, dtype=ember.float64)).dtype == ember.float32
    assert f(ember.tensor(0.5), 3).shape == ()


def test_zeta_matches_torch():
    x = np.array([1, 1.01, 1.1, 1.5, 2, 3, 4.5, 7, 10, 20, 50, 0.5, -1, np.inf, np.nan])
    q = np.array([1, 2, 0.5, 0.1, 3.3, 10, 1e3, 1e6, 1e-10, -1.5, -2, -2.5, -7.5, np.inf, np.nan])
    xg, qg = np.meshgrid(x, q)
    for dtype, rtol in [(np.float64, 1e-12), (np.float32, 1e-6)]:
        e = es.zeta(ember.tensor(xg.astype(dtype)), ember.tensor(qg.astype(dtype)))
        t = torch.special.zeta(torch.tensor(xg.astype(dtype)), torch.tensor(qg.astype(dtype)))
        assert e.dtype == ember.tensor(np.zeros(1, dtype)).dtype
        close(e.numpy(), t.numpy(), rtol=rtol, atol=1e-300)
    # numbers on either side; integers promote to float32
    e, t = es.zeta(2, ember.tensor([1.0, 2.0])), torch.special.zeta(2, torch.tensor([1.0, 2.0]))
    close(e.numpy(), t.numpy(), rtol=1e-6)
    e, t = es.zeta(ember.tensor([2.0, 3.0]), 2), torch.special.zeta(torch.tensor([2.0, 3.0]), 2)
    close(e.numpy(), t.numpy(), rtol=1e-6)
    assert es.zeta(ember.tensor([2, 3]), 2).dtype == ember.float32


def test_zeta_far_below_zero_and_kernel_checks():
    # a q far below 0 sums |q| terms (torch's loop too): compiled, so it takes milliseconds
    x, q = np.array([2.0, 4.0, 3.0]), np.array([-1e6 + 0.5, -3e5 + 0.25, -2e6 + 0.75])
    e = es.zeta(ember.tensor(x), ember.tensor(q)).numpy()
    close(e, torch.special.zeta(torch.tensor(x), torch.tensor(q)).numpy(), rtol=1e-12)
    from ember import _C

    with pytest.raises(ValueError, match="one shape"):
        _C.zeta(np.ones(3), np.ones(2))
    with pytest.raises((TypeError, ValueError)):
        _C.zeta(np.ones(3, np.float32), np.ones(3))
    with pytest.raises((TypeError, ValueError)):
        _C.zeta(np.ones(3, np.int64), np.ones(3, np.int64))


def test_zeta_gradient_in_q_only_as_torch():
    x, q = np.array([2.0, 3.0, 4.5]), np.array([0.5, 2.0, 3.3])
    eq = ember.tensor(q, requires_grad=True)
    tq = torch.tensor(q, requires_grad=True)
    es.zeta(ember.tensor(x), eq).sum().backward()
    torch.special.zeta(torch.tensor(x), tq).sum().backward()
    close(eq.grad.numpy(), tq.grad.numpy(), rtol=1e-12)
    assert gradcheck(lambda v: es.zeta(ember.tensor(x), v), (ember.tensor(q, requires_grad=True),))
    ex = ember.tensor(x, requires_grad=True)
    tx = torch.tensor(x, requires_grad=True)
    with pytest.raises(NotImplementedError, match="zeta"):
        torch.special.zeta(tx, 2.0).sum().backward()
    with pytest.raises(NotImplementedError, match="zeta"):
        es.zeta(ex, 2.0).sum().backward()


def test_bad_input():
    with pytest.raises(TypeError):
        es.i0e(np.array(["a"]))
    with pytest.raises(TypeError):
        es.bessel_j0(np.array(["a"]))
    with pytest.raises(ValueError, match=r"zeta: shapes \(3,\) and \(2,\)"):
        es.zeta(ember.ones(3), ember.ones(2))
    with pytest.raises(ValueError, match=r"chebyshev_polynomial_t: shapes \(3,\) and \(2,\)"):
        es.chebyshev_polynomial_t(ember.ones(3), ember.ones(2))
    with pytest.raises(TypeError, match="hermite_polynomial_h"):
        es.hermite_polynomial_h(ember.ones(3), None)
    with pytest.raises(TypeError, match="laguerre_polynomial_l: float32 or float64"):
        es.laguerre_polynomial_l(ember.tensor(np.ones(2, np.float16)), 2)
    with pytest.raises(TypeError, match="legendre_polynomial_p"):
        es.legendre_polynomial_p(ember.ones(3), "2")


def test_large_degrees_run_in_compiled_loops():
    # torch's loops run n steps per element (no closed form inside (-1, 1) for Legendre, nor
    # for Laguerre): ours too, in C++ (a Python loop would take minutes at n = 1e7)
    x = np.array([0.5, -0.3, 3.0])
    for name in ["legendre_polynomial_p", "laguerre_polynomial_l", "chebyshev_polynomial_t"]:
        e = getattr(es, name)(ember.tensor(x), 2_000_000).numpy()
        t = getattr(torch.special, name)(torch.tensor(x), 2_000_000).numpy()
        close(e, t, rtol=1e-9, msg=name)


def test_poly_recurrence_kernel_checks_its_arguments():
    from ember import _C

    x, d = np.ones(3), np.full(3, 4, np.int64)
    np.testing.assert_allclose(_C.poly_recurrence(x * 0.5, x * 0.5, d, 4), [-0.2890625] * 3)
    with pytest.raises(ValueError, match="one shape"):
        _C.poly_recurrence(x, x, np.ones(2, np.int64), 0)
    with pytest.raises(ValueError, match="kind"):
        _C.poly_recurrence(x, x, d, 5)
    with pytest.raises(TypeError, match="int64"):
        _C.poly_recurrence(x, x, d.astype(np.int32), 0)
    with pytest.raises((TypeError, ValueError)):
        _C.poly_recurrence(x, x.astype(np.float32), d, 0)
    with pytest.raises((TypeError, ValueError)):
        _C.poly_recurrence(x.astype(np.int64), x, d, 0)


def test_names_cover_torch_special():
    missing = [n for n in dir(torch.special) if not n.startswith("_") and not hasattr(es, n)]
    assert set(missing) <= {"torch", "common_args", "multi_dim_common"}
    assert set(UNARY + POLYNOMIALS + ["zeta"]) <= set(es.__all__)
