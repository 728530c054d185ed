"""Round 43 (redspeed43): prod's lane kernel (partial last blocks), topk along dim 0 of 8-byte
dtypes, and gather's one-call fast path with its fallbacks, against torch."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [1, 7, 63, 64, 65, 100, 1000, 1024, 16385, 40000])
def test_prod_rows_every_tail_length(dtype, n):
    rng = np.random.default_rng(n)
    a = rng.uniform(0.9, 1.1, (3, n)).astype(dtype)
    got = ember.prod(ember.tensor(a), dim=1).numpy()
    want = np.prod(a.astype(np.float64), axis=1)
    tol = 2e-5 if dtype == "float32" else 1e-12
    np.testing.assert_allclose(got, want, rtol=tol)
    assert got.dtype == np.dtype(dtype)


@pytest.mark.parametrize("n", [70, 130, 1000])
def test_prod_special_values_in_the_padded_block(n):
    # the last partial block's zero, inf and NaN reach the result as torch's
    rng = np.random.default_rng(0)
    a = rng.uniform(0.5, 1.5, (4, n)).astype(np.float32)
    a[0, -1] = 0.0
    a[1, -2] = np.inf
    a[2, -1] = np.nan
    a[3, -1], a[3, 0] = 0.0, np.inf
    got = ember.prod(ember.tensor(a), dim=1).numpy()
    want = torch.prod(torch.from_numpy(a), dim=1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4)
    assert np.isnan(got[2]) and np.isnan(got[3])


def test_prod_gradient_float64():
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.uniform(0.5, 1.5, (2, 70)), requires_grad=True)
    assert gradcheck(lambda t: ember.prod(t, dim=1), (x,))


@pytest.mark.parametrize("dtype", ["int64", "float64", "float32", "int32"])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_dim0_matches_torch_with_ties(dtype, largest):
    rng = np.random.default_rng(2)
    a = rng.integers(-5, 5, (300, 40)).astype(dtype)  # many ties: torch's index order
    v, i = ember.topk(ember.tensor(a), 7, dim=0, largest=largest)
    tv, ti = torch.topk(torch.from_numpy(a), 7, dim=0, largest=largest)
    np.testing.assert_array_equal(v.numpy(), tv.numpy())
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    assert v.numpy().dtype == np.dtype(dtype)


def test_topk_dim0_float64_gradient():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.permutation(60).reshape(12, 5).astype(np.float64), requires_grad=True)
    assert gradcheck(lambda t: ember.topk(t, 3, dim=0)[0], (x,))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int16", "uint8", "bool"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather_fast_path_matches_torch(dtype, dim):
    rng = np.random.default_rng(4)
    a = (rng.standard_normal((6, 9)) * 10).astype(dtype)
    shape = (4, 9) if dim == 0 else (6, 4)
    idx = rng.integers(0, a.shape[dim], shape)
    got = ember.gather(ember.tensor(a), dim, ember.tensor(idx)).numpy()
    want = torch.gather(torch.from_numpy(a), dim, torch.from_numpy(idx)).numpy()
    np.testing.assert_array_equal(got, want)


def test_gather_fallbacks_smaller_index_and_strided_input():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((6, 9)).astype(np.float32)
    idx = rng.integers(0, 6, (3, 4))  # smaller than the input outside dim: torch reads a block
    got = ember.gather(ember.tensor(a), 0, ember.tensor(idx)).numpy()
    want = torch.gather(torch.from_numpy(a), 0, torch.from_numpy(idx)).numpy()
    np.testing.assert_array_equal(got, want)
    t = ember.tensor(a).t()  # a transposed (non-contiguous) input
    idx2 = rng.integers(0, 6, (9, 2))
    got = ember.gather(t, 1, ember.tensor(idx2)).numpy()
    want = torch.gather(torch.from_numpy(a).t(), 1, torch.from_numpy(idx2)).numpy()
    np.testing.assert_array_equal(got, want)
    idx32 = rng.integers(0, 9, (6, 3)).astype(np.int32)  # torch takes int64 only; ember int32 too
    got = ember.gather(ember.tensor(a), 1, ember.tensor(idx32)).numpy()
    np.testing.assert_array_equal(got, np.take_along_axis(a, idx32.astype(np.int64), 1))


def test_gather_errors():
    a = ember.tensor(np.zeros((3, 4), np.float32))
    with pytest.raises(IndexError, match="out of range"):
        ember.gather(a, 1, ember.tensor(np.array([[0, 4]] * 3)))
    with pytest.raises(IndexError):
        ember.gather(a, 0, ember.tensor(np.array([[-1, 0, 0, 0]])))
    with pytest.raises(RuntimeError):  # larger than the input outside dim (torch's class)
        ember.gather(a, 1, ember.tensor(np.zeros((5, 2), np.int64)))
    with pytest.raises(RuntimeError):  # index of another ndim
        ember.gather(a, 1, ember.tensor(np.zeros((3,), np.int64)))
    with pytest.raises(IndexError):
        ember.gather(a, 2, ember.tensor(np.zeros((3, 4), np.int64)))


def test_gather_gradient_float64_with_repeats():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    idx = ember.tensor(rng.integers(0, 5, (4, 7)))  # repeats add up
    assert gradcheck(lambda t: ember.gather(t, 1, idx), (x,))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
@pytest.mark.parametrize("n", [5, 16, 100, 255, 256, 257, 1000, 3000])
@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_first_index_of_ties_everywhere(dtype, n, op):
    # the extreme tied at several places, first copy anywhere in the row: torch's first index
    rng = np.random.default_rng(n)
    a = rng.integers(-50, 50, (12, n)).astype(dtype)
    ext = 100 if op == "argmax" else -100
    for r in range(12):
        where = rng.choice(n, size=min(3, n), replace=False)
        a[r, where] = ext
    a[0, :] = ext  # all tied: index 0
    got = getattr(ember, op)(ember.tensor(a), dim=1).numpy()
    want = getattr(torch, op)(torch.from_numpy(a), dim=1).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("n", [7, 100, 1000])
def test_argmax_nan_and_signed_zero_as_torch(n):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((4, n))
    a[0, n // 2] = np.nan
    a[0, n - 1] = np.nan  # the first NaN wins
    a[1, :] = -1.0
    a[1, n // 3] = -0.0
    a[1, n // 2] = 0.0
    a[2, -1] = np.inf
    for op in ("argmax", "argmin"):
        got = getattr(ember, op)(ember.tensor(a), dim=1).numpy()
        want = getattr(torch, op)(torch.from_numpy(a), dim=1).numpy()
        np.testing.assert_array_equal(got, want)
    v, i = ember.max(ember.tensor(a), dim=1)
    tv, ti = torch.max(torch.from_numpy(a), dim=1)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(np.signbit(v.numpy()), np.signbit(tv.numpy()))


@pytest.mark.parametrize("interpolation", ["linear", "midpoint"])
@pytest.mark.parametrize("op", ["quantile", "nanquantile"])
def test_quantile_infinite_ends_as_torch_lerp(op, interpolation):
    a = np.array(
        [
            [1.0, 3.0, 3.0, np.nan, 2.0],
            [2.0, 2.0, -1.0, -1.0, 0.0],
            [np.inf, -np.inf, np.nan, np.inf, 1.0],
        ]
    )
    for q in (0.3, 0.6, 0.5):
        got = getattr(ember, op)(ember.tensor(a), q, dim=0, interpolation=interpolation).numpy()
        want = getattr(torch, op)(torch.from_numpy(a), q, dim=0, interpolation=interpolation)
        np.testing.assert_array_equal(got, want.numpy())
    got = ember.quantile(ember.tensor(np.array([-np.inf, 2.0])), 0.6).item()
    assert got == torch.quantile(torch.tensor([-np.inf, 2.0], dtype=torch.float64), 0.6).item()


def test_quantile_gradient_float64_past_the_middle():
    rng = np.random.default_rng(8)
    x = ember.tensor(rng.standard_normal((3, 7)), requires_grad=True)
    assert gradcheck(lambda t: ember.quantile(t, 0.83, dim=1), (x,))
    assert gradcheck(lambda t: ember.nanquantile(t, 0.2, dim=0, interpolation="midpoint"), (x,))


def test_refusals_in_torchs_exception_families():
    b = ember.tensor(np.array([[True, False], [False, True]]))
    for f in (
        lambda: ember.argmax(b, dim=1),
        lambda: ember.argmin(b),
        lambda: ember.topk(b, 1),
        lambda: ember.kthvalue(b, 1),
        lambda: ember.median(b, dim=0),
        lambda: ember.nanmedian(b),
    ):
        with pytest.raises(RuntimeError):  # torch: RuntimeError / NotImplementedError
            f()
        with pytest.raises(TypeError):  # ember's BadDtype
            f()
    e = ember.tensor(np.zeros((0, 4), np.float32))
    for f in (lambda: ember.amax(e), lambda: ember.amin(e), lambda: ember.aminmax(e)):
        with pytest.raises(RuntimeError, match=r"\(0, 4\)"):
            f()
    for f in (lambda: ember.max(e), lambda: ember.min(e)):
        with pytest.raises(RuntimeError, match="empty"):
            f()
    for f in (lambda: ember.amax(e, dim=0), lambda: ember.kthvalue(e, 1, dim=0)):
        with pytest.raises(IndexError):  # torch's "Expected reduction dim 0 to have non-zero size"
            f()
    for op in (ember.quantile, ember.nanquantile):
        with pytest.raises(RuntimeError, match="non-empty"):
            op(e, 0.5, dim=1)
    for bad in ([np.nan, 1.0], [1.0, np.inf]):
        with pytest.raises(RuntimeError, match="not finite"):
            ember.histc(ember.tensor(np.array(bad)), 5)
        with pytest.raises(RuntimeError):
            torch.histc(torch.tensor(bad), 5)


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32"])
@pytest.mark.parametrize("inner", [1, 511, 512, 513, 1500])
def test_extremes_over_dim0_in_column_blocks(dtype, inner):
    rng = np.random.default_rng(inner)
    a = rng.integers(-20, 20, (9, inner)).astype(dtype)  # ties: torch's first index
    if dtype.startswith("float"):
        a[3, inner // 2] = np.nan
        a[5, inner - 1] = np.nan
        a[2, 0] = -np.inf
    e, t = ember.tensor(a), torch.from_numpy(a)
    for op in ("amax", "amin"):
        np.testing.assert_array_equal(
            getattr(ember, op)(e, dim=0).numpy(), getattr(torch, op)(t, dim=0).numpy()
        )
    for op in ("max", "min"):
        v, i = getattr(ember, op)(e, dim=0)
        tv, ti = getattr(torch, op)(t, dim=0)
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
