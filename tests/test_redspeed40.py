"""redspeed40's changed paths against torch: column sums in panels (narrow leading dims), nansum's
kernel, int64 cummax/cummin, int and bool sums, prod/var/std of transposed inputs, argmax/argmin
of empty inputs; float64 gradchecks where a differentiable path changed."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


@pytest.fixture(params=[1, 2])
def threads(request):
    old = ember.get_num_threads()
    ember.set_num_threads(request.param)
    yield request.param
    ember.set_num_threads(old)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape, dim",
    [((3, 5000), 0), ((16, 3000), 0), ((17, 4100), 0), ((40, 3000), 0), ((2, 3, 5000), 1)],
)
def test_sum_over_a_narrow_leading_dim_matches_torch(dtype, shape, dim, threads):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape).astype(dtype)
    a.reshape(-1)[7] = -0.0
    ref = np.sum(a.astype(np.float64), axis=dim)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for keepdim in (False, True):
        got = ember.sum(ember.tensor(a), dim, keepdim)
        want = torch.sum(torch.from_numpy(a), dim, keepdim)
        assert got.dtype == dtype and got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy().reshape(ref.shape), ref, rtol=tol, atol=tol)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)
    mean = ember.mean(ember.tensor(a), dim).numpy()
    np.testing.assert_allclose(
        mean, torch.mean(torch.from_numpy(a), dim).numpy(), rtol=tol, atol=tol
    )


def test_sum_over_an_empty_leading_dim_is_zero():
    got = ember.sum(ember.tensor(np.ones((0, 3000), np.float32)), 0)
    assert got.shape == (3000,) and not got.numpy().any()


def _nan_input(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    a = rng.standard_normal(shape).astype(dtype)
    a[rng.random(shape) < 0.2] = np.nan
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [None, 0, 1, 2, -1, (0, 2), (0, 1), (2, 0)])
def test_nansum_matches_torch(dtype, dim, threads):
    a = _nan_input((6, 70, 300), dtype)
    a[1, :, 4] = np.nan  # an all-NaN column
    a[2, 3, :] = np.inf
    tol = 1e-4 if dtype == np.float32 else 1e-10
    for x, t in ((a, torch.from_numpy(a)), (a[:, ::2], torch.from_numpy(a)[:, ::2])):
        for keepdim in (False, True):
            if dim is None:
                got, want = ember.nansum(ember.tensor(x), keepdim=keepdim), torch.nansum(t)
                want = want.reshape((1,) * 3) if keepdim else want
            else:
                got = ember.nansum(ember.tensor(x), dim, keepdim)
                want = torch.nansum(t, dim, keepdim)
            assert got.dtype == dtype and got.shape == tuple(want.shape)
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol, atol=tol)


def test_nansum_small_and_0d_and_dtype():
    a = np.array([np.nan, 1.5, -0.0, np.nan], np.float32)
    assert ember.nansum(ember.tensor(a)).item() == torch.nansum(torch.from_numpy(a)).item()
    z = ember.nansum(ember.tensor(np.float64(np.nan)))
    assert z.shape == () and z.item() == 0.0
    got = ember.nansum(ember.tensor(a), dtype=ember.float64)
    assert got.dtype == np.float64 and got.item() == 1.5


def test_nansum_gradient_keeps_its_node():
    a = _nan_input((5, 7), np.float64, seed=1)
    x = ember.tensor(a, requires_grad=True)
    y = ember.nansum(x, 1)
    assert y.grad_fn.name() == "NansumBackward0"
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (~np.isnan(a)).astype(np.float64))
    b = np.random.default_rng(2).standard_normal((4, 6))
    assert gradcheck(lambda t: ember.nansum(t, 0), (ember.tensor(b, requires_grad=True),))


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize(
    "shape, dim", [((1000,), 0), ((7, 9, 5), 0), ((7, 9, 5), 1), ((7, 9, 5), 2)]
)
def test_int64_cummax_cummin_match_torch_with_ties(op, shape, dim):
    a = np.random.default_rng(3).integers(-4, 4, shape)  # many ties: torch takes the last one
    a.reshape(-1)[0] = np.iinfo(np.int64).min
    got = getattr(ember, op)(ember.tensor(a), dim)
    want = getattr(torch, op)(torch.from_numpy(a), dim)
    assert got.values.dtype == np.int64 and got.indices.dtype == np.int64
    np.testing.assert_array_equal(got.values.numpy(), want.values.numpy())
    np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())


_INT_DTYPES = [np.int64, np.int32, np.int16, np.int8, np.uint8, np.bool_]


@pytest.mark.parametrize("dtype", _INT_DTYPES)
@pytest.mark.parametrize("layout", ["C", "T", "P", "S"])
def test_int_and_bool_sums_match_torch(dtype, layout):
    rng = np.random.default_rng(4)
    a = rng.random((5, 6, 70)) < 0.5 if dtype == np.bool_ else rng.integers(0, 100, (5, 6, 70))
    a = a.astype(dtype)
    x, t = ember.tensor(a), torch.from_numpy(a)
    if layout in "TP":
        order = (2, 1, 0) if layout == "T" else (2, 0, 1)
        x, t = x.permute(*order), t.permute(*order)
    elif layout == "S":
        x, t = x[:, ::2], t[:, ::2]
    for dim in (0, 1, 2, -1, (0, 2), (2, 0), (0, 1), ()):
        for keepdim in (False, True):
            got, want = ember.sum(x, dim, keepdim), torch.sum(t, dim, keepdim)
            assert got.dtype == np.int64 and got.shape == tuple(want.shape)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
    got, want = ember.sum(x), torch.sum(t)
    assert got.dtype == np.int64 and got.item() == want.item()


def test_int_sums_wrap_and_promote_as_torch():
    big = np.full((3, 1500), 2**62, np.int64)
    np.testing.assert_array_equal(
        ember.sum(ember.tensor(big), 0).numpy(), torch.sum(torch.from_numpy(big), 0).numpy()
    )
    assert ember.sum(ember.tensor(big)).item() == torch.sum(torch.from_numpy(big)).item()
    i32 = np.full((2000,), 2**31 - 1, np.int32)  # no int32 overflow: summed in int64
    assert ember.sum(ember.tensor(i32)).item() == torch.sum(torch.from_numpy(i32)).item()
    u8 = np.full((4, 300), 255, np.uint8)
    for op in ("cumsum", "cumprod"):
        got, want = (
            getattr(ember, op)(ember.tensor(u8), 1),
            getattr(torch, op)(torch.from_numpy(u8), 1),
        )
        assert got.dtype == np.int64 and str(want.dtype) == "torch.int64"
    got = ember.sum(ember.tensor(np.zeros((0, 3), np.int32)), 0)
    assert got.dtype == np.int64 and got.numpy().tolist() == [0, 0, 0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(30, 40), (5, 6, 7)])
def test_prod_var_std_of_a_transposed_input_match_torch(dtype, shape):
    base = (np.random.default_rng(5).standard_normal(shape) * 0.3 + 1).astype(dtype)
    order = tuple(reversed(range(len(shape))))
    x, t = ember.tensor(base).permute(*order), torch.from_numpy(base).permute(*order)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for dim in [*range(len(shape)), None]:
        got = ember.prod(x) if dim is None else ember.prod(x, dim)
        want = torch.prod(t) if dim is None else torch.prod(t, dim)
        assert got.shape == tuple(want.shape) and got.data.flags.c_contiguous
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol)
        for correction in (0, 1, 2):
            for keepdim in (False, True):
                got = ember.var(x, dim, correction=correction, keepdim=keepdim)
                want = torch.var(t, dim, correction=correction, keepdim=keepdim)
                assert got.shape == tuple(want.shape) and got.data.flags.c_contiguous
                np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol)
                got = ember.std(x, (0, 1), correction=correction, keepdim=keepdim)
                want = torch.std(t, (0, 1), correction=correction, keepdim=keepdim)
                np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=tol)


def test_prod_var_std_of_a_transposed_input_gradcheck_and_names():
    base = np.random.default_rng(6).standard_normal((4, 5)) * 0.5 + 1
    x = ember.tensor(base, requires_grad=True)
    assert ember.prod(x.t(), 0).grad_fn.name() == "ProdBackward1"
    assert ember.var(x.t(), 1).grad_fn.name() == "VarBackward0"
    assert ember.std(x.t(), 0).grad_fn.name() == "StdBackward0"
    for f in (
        lambda v: ember.prod(v.t(), 0),
        lambda v: ember.prod(v.t(), 1, True),
        lambda v: ember.var(v.t(), 0),
        lambda v: ember.std(v.t(), 1, correction=0),
    ):
        assert gradcheck(f, (x,))


@pytest.mark.parametrize("op", ["argmax", "argmin"])
@pytest.mark.parametrize("shape, dim", [((0, 3), 0), ((0,), None), ((2, 0), 1), ((2, 0), None)])
def test_argmax_argmin_of_nothing_raise_torchs_index_error(op, shape, dim):
    with pytest.raises(IndexError):
        getattr(torch, op)(torch.zeros(shape), dim)
    with pytest.raises(IndexError, match=op):
        getattr(ember, op)(ember.tensor(np.zeros(shape)), dim)
    if dim == 0:  # the other dim of (0, 3) is not empty: an empty result, as torch's
        got = getattr(ember, op)(ember.tensor(np.zeros(shape)), 1)
        assert got.shape == tuple(getattr(torch, op)(torch.zeros(shape), 1).shape)
