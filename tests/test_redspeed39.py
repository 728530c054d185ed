"""Reductions, scans and sorts on the shapes whose kernels changed in round 39 (float64 sort
lines of 113-2048 by the radix path, single-row cumprod, narrow column sums, short-row
amax/amin and prod), against torch: values, indices, dtypes, signed zeros, NaN/inf, ties;
grad_fn names as torch's; float64 gradchecks."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _same(e, t):
    """Equal values (NaN where NaN) and, for floats, the same sign of every zero."""
    en, tn = np.asarray(e.numpy()), t.detach().numpy()
    assert en.dtype == tn.dtype and en.shape == tn.shape
    np.testing.assert_array_equal(en, tn)
    if en.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(en), np.signbit(tn))


@pytest.mark.parametrize("n", [113, 200, 256, 257, 384, 600, 1000, 2047, 2048])
@pytest.mark.parametrize("descending", [False, True])
def test_sort_float64_lines_match_torch(n, descending):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((7, n))
    a[1, ::7] = np.nan  # NaNs, ties, infs and both zeros on some lines
    a[2] = np.round(a[2])
    a[3, :4] = [np.inf, -np.inf, 0.0, -0.0]
    a[4, : n // 2] = 0.5
    e, t = (
        ember.sort(ember.tensor(a), -1, descending),
        torch.sort(torch.from_numpy(a), -1, descending),
    )
    _same(e.values, t.values)
    _same(e.indices, t.indices)
    # the transposed layout (dim 0) takes the same lines
    e0 = ember.sort(ember.tensor(a.T), 0, descending)
    t0 = torch.sort(torch.from_numpy(a.T), 0, descending)
    _same(e0.values, t0.values)
    _same(e0.indices, t0.indices)
    _same(
        ember.argsort(ember.tensor(a), -1, descending),
        torch.argsort(torch.from_numpy(a), -1, descending),
    )


@pytest.mark.parametrize("n", [1, 5, 1000, 100003])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_cumprod_single_row_matches_torch(n, dt):
    rng = np.random.default_rng(n)
    a = (1 + 1e-2 * rng.standard_normal(n)).astype(dt)
    if n > 10:
        a[n // 3] = np.nan if n % 2 else 0.0
        a[n // 2] = -0.0
    _same(ember.cumprod(ember.tensor(a), 0), torch.cumprod(torch.from_numpy(a), 0))
    # rows of a 2-D tensor: one, three (a partial group) and eight
    for rows in (1, 3, 8):
        b = np.tile(a[:50], (rows, 1))
        _same(ember.cumprod(ember.tensor(b), 1), torch.cumprod(torch.from_numpy(b), 1))
        _same(ember.cumsum(ember.tensor(b), 1), torch.cumsum(torch.from_numpy(b), 1))


@pytest.mark.parametrize("shape", [(1003, 16), (4001, 3), (517, 24), (64, 9)])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_sum_over_leading_dim_matches_torch(shape, dt):
    rng = np.random.default_rng(sum(shape))
    a = rng.standard_normal(shape).astype(dt)
    tol = 1e-5 if dt == np.float32 else 1e-12
    for f in ("sum", "mean"):
        e, t = getattr(ember, f)(ember.tensor(a), 0), getattr(torch, f)(torch.from_numpy(a), 0)
        assert e.dtype == ember.float32 if dt == np.float32 else e.dtype == ember.float64
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=tol, atol=tol * np.sqrt(shape[0]))
    e = ember.norm(ember.tensor(a), 2, 0)
    np.testing.assert_allclose(e.numpy(), torch.norm(torch.from_numpy(a), 2, 0).numpy(), rtol=tol)
    b = a.copy()
    b[5, 1] = np.nan
    b[7, 2] = np.inf
    got = ember.sum(ember.tensor(b), 0).numpy()
    assert np.isnan(got[1]) and got[2] == np.inf


@pytest.mark.parametrize("n", [1, 3, 8, 9, 16, 17, 31, 33, 100])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_amax_amin_short_rows_match_torch(n, dt):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((300, n)).astype(dt)
    a[0, n // 2] = np.nan
    a[1, :] = -np.inf
    a[2, :] = np.round(a[2]) if n > 1 else a[2]  # ties
    for f in ("amax", "amin"):
        _same(getattr(ember, f)(ember.tensor(a), 1), getattr(torch, f)(torch.from_numpy(a), 1))
        e, t = (
            getattr(ember, f[1:])(ember.tensor(a), 1),
            getattr(torch, f[1:])(torch.from_numpy(a), 1),
        )
        _same(e.values, t.values)
        _same(e.indices, t.indices)
    # a row of -0 and +0 alone: the zero the kernel meets first, rows without a tie elsewhere
    z = np.zeros((4, n), dt)
    z[1] = -0.0
    z[2, ::2] = -0.0
    pos = np.abs(rng.standard_normal((4, n))).astype(dt)
    for b in (z, pos, -pos):
        e, t = ember.amax(ember.tensor(b), 1), torch.amax(torch.from_numpy(b), 1)
        np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize("shape", [(401, 16), (6, 5), (7, 31), (3, 200)])
@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_prod_rows_match_torch(shape, dt):
    rng = np.random.default_rng(shape[1])
    a = (1 + 0.1 * rng.standard_normal(shape)).astype(dt)
    a[0, 1] = 0.0
    a[1, 0] = np.nan
    a[2, 2] = np.inf
    if shape[0] > 4:
        a[3, 0], a[3, 1] = np.inf, 0.0  # inf * 0 is NaN
        a[4, :] = -1.0
    e, t = ember.prod(ember.tensor(a), 1), torch.prod(torch.from_numpy(a), 1)
    assert e.numpy().dtype == t.numpy().dtype
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5 if dt == np.float32 else 1e-13)
    # the in-order product of a short row overflows as torch's: 1e200 * 1e200 * 1e-300 is inf
    big = np.array([[1e200, 1e200, 1e-300]] * 5)
    _same(ember.prod(ember.tensor(big), 1), torch.prod(torch.from_numpy(big), 1))


_NAMED = {
    "quantile": lambda m, x: m.quantile(x, 0.3),
    "quantile_dim_keepdim": lambda m, x: m.quantile(x, 0.3, dim=1, keepdim=True),
    "quantile_tensor_q": lambda m, x: m.quantile(x, m.tensor([0.2, 0.7], dtype=m.float64), dim=0),
    "nanquantile": lambda m, x: m.nanquantile(x, 0.5, dim=1, interpolation="lower"),
    "norm_p3": lambda m, x: m.norm(x, 3),
    "norm_inf_dim": lambda m, x: m.norm(x, float("inf"), 1),
    "norm_1_dim": lambda m, x: m.norm(x, 1, 1),
    "norm_0": lambda m, x: m.norm(x, 0),
    "aminmax_min": lambda m, x: m.aminmax(x).min,
    "aminmax_max": lambda m, x: m.aminmax(x, dim=1).max,
    "var_mean_var": lambda m, x: m.var_mean(x, 1)[0],
    "var_mean_mean": lambda m, x: m.var_mean(x, 1)[1],
    "std_mean_std": lambda m, x: m.std_mean(x)[0],
    "std_mean_mean": lambda m, x: m.std_mean(x, 0)[1],
    "nanmedian": lambda m, x: m.nanmedian(x),
    "median": lambda m, x: m.median(x),
}


@pytest.mark.parametrize("case", sorted(_NAMED))
def test_grad_fn_names_match_torch(case):
    a = np.random.default_rng(3).standard_normal((4, 5))
    f = _NAMED[case]
    e = f(ember, ember.tensor(a, requires_grad=True))
    t = f(torch, torch.tensor(a, requires_grad=True))
    assert e.grad_fn.name() == t.grad_fn.name()
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: ember.quantile(x, 0.3, dim=1),
        lambda x: ember.nanquantile(x, 0.6),
        lambda x: ember.norm(x, 3, 1),
        lambda x: ember.aminmax(x, dim=0).max,
        lambda x: ember.var_mean(x, 1)[0] + ember.var_mean(x, 1)[1],
        lambda x: ember.std_mean(x, 0)[0],
        lambda x: ember.prod(x, 1),
        lambda x: ember.cumprod(x.reshape(-1), 0),
        lambda x: ember.sort(x.reshape(4, 5), 1).values,
        lambda x: ember.amax(x, 1),
        lambda x: ember.sum(x, 0),
    ],
)
def test_gradcheck_changed_reductions(fn):
    a = np.random.default_rng(7).standard_normal((4, 5)) + 0.1 * np.arange(20).reshape(4, 5)
    assert gradcheck(fn, (ember.tensor(a, requires_grad=True),))


def test_empty_and_bad_dims():
    e = ember.sort(ember.tensor(np.zeros((3, 0))), 1)
    t = torch.sort(torch.zeros((3, 0), dtype=torch.float64), 1)
    assert tuple(e.values.shape) == tuple(t.values.shape)
    assert ember.sum(ember.tensor(np.zeros((0, 16), np.float32)), 0).numpy().tolist() == [0.0] * 16
    assert ember.prod(ember.tensor(np.zeros((5, 0))), 1).numpy().tolist() == [1.0] * 5
    with pytest.raises(IndexError):
        ember.amax(ember.tensor(np.zeros((3, 0))), 1)
    with pytest.raises(IndexError):
        ember.sort(ember.tensor(np.zeros((3, 4))), 2)
