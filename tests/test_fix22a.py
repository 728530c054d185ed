"""Differences from torch 2.13 fixed on branch fix22a: linear algebra, istft, masked_scatter,
quantile/cov gradients, tensordot, Tensor.to and gather errors, each checked against torch."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _spd(rng, batch, n):
    a = rng.standard_normal((*batch, n, n))
    return a @ np.swapaxes(a, -1, -2) + n * np.eye(n)


@pytest.mark.parametrize(
    "b_shape, l_batch",
    [((3, 3), (3,)), ((2, 3, 3), (2,)), ((3, 2), (4,)), ((4, 3, 2), ()), ((2, 1, 3, 2), (5,))],
)
@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_solve_reads_b_as_matrices(rng, b_shape, l_batch, upper):
    # B.shape == L.shape[:-1] (the first two cases) used to be read as a batch of vectors
    L = np.linalg.cholesky(_spd(rng, l_batch, 3))
    if upper:
        L = np.swapaxes(L, -1, -2).copy()
    B = rng.standard_normal(b_shape)
    want = torch.cholesky_solve(torch.tensor(B), torch.tensor(L), upper=upper)
    got = ember.cholesky_solve(ember.tensor(B), ember.tensor(L), upper=upper)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


def test_cholesky_solve_gradients_and_errors(rng):
    L = np.linalg.cholesky(_spd(rng, (3,), 3))
    B = ember.tensor(rng.standard_normal((3, 3)), requires_grad=True)
    Lt = ember.tensor(L, requires_grad=True)
    assert gradcheck(lambda b, l: ember.cholesky_solve(b, ember.tril(l)), (B, Lt))
    with pytest.raises(RuntimeError, match="at least 2 dimensions"):
        ember.cholesky_solve(ember.ones(3, dtype=ember.float64), ember.tensor(L[0]))
    with pytest.raises(RuntimeError, match="incompatible matrix sizes"):
        ember.cholesky_solve(ember.ones(2, 3, dtype=ember.float64), ember.tensor(L))


def test_istft_complex_window_divides_by_complex_envelope(rng):
    w = rng.standard_normal(8) + 1j * rng.standard_normal(8) + 2
    z = rng.standard_normal((8, 5)) + 1j * rng.standard_normal((8, 5))
    kw = dict(hop_length=2, return_complex=True, onesided=False)
    want = torch.istft(torch.tensor(z), 8, window=torch.tensor(w), **kw)
    got = ember.istft(ember.tensor(z), 8, window=ember.tensor(w), **kw)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(RuntimeError, match="complex windows are incompatible"):
        ember.istft(ember.tensor(z[:5]), 8, hop_length=2, window=ember.tensor(w))


def test_istft_complex_window_gradient(rng):
    w = ember.tensor(rng.standard_normal(8) + 1j * rng.standard_normal(8) + 2, requires_grad=True)
    z = ember.tensor(rng.standard_normal((8, 5)) + 1j * rng.standard_normal((8, 5)))
    f = lambda w: ember.istft(z, 8, hop_length=2, window=w, return_complex=True, onesided=False)  # noqa: E731
    assert gradcheck(f, (w,))


def test_masked_scatter_broadcasts_input_to_mask():
    mask = [[True, False, True], [False, True, False]]
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    got = x.masked_scatter(ember.tensor(mask), ember.arange(6.0))
    want = xt.masked_scatter(torch.tensor(mask), torch.arange(6.0))
    np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())
    with pytest.raises(RuntimeError, match=r"mask \(2, 3\) does not broadcast to self \(3,\)"):
        ember.zeros(3).masked_scatter_(ember.tensor(mask), ember.arange(6.0))
    y = ember.zeros(2, 3)
    assert y.masked_scatter_(ember.tensor([True, False, True]), ember.arange(6.0)) is y
    want = torch.zeros(2, 3).masked_scatter_(torch.tensor([True, False, True]), torch.arange(6.0))
    np.testing.assert_array_equal(y.numpy(), want.numpy())


@pytest.mark.parametrize("fn", ["quantile", "nanquantile"])
@pytest.mark.parametrize("q", [[0.3, 0.8], 0.4])
def test_quantile_gradient_to_q(rng, fn, q):
    x = rng.standard_normal((5, 4))
    x[1, 2] = np.nan
    qe = ember.tensor(q, dtype=ember.float64, requires_grad=True)
    qt = torch.tensor(q, dtype=torch.float64, requires_grad=True)
    got = getattr(ember, fn)(ember.tensor(x), qe, dim=1)
    want = getattr(torch, fn)(torch.tensor(x), qt, dim=1)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), equal_nan=True)
    got.sum().backward()
    want.sum().backward()
    np.testing.assert_allclose(qe.grad.numpy(), qt.grad.numpy(), rtol=1e-12)
    clean = ember.tensor(rng.standard_normal((5, 4)))
    assert gradcheck(lambda q: getattr(ember, fn)(clean, q, dim=0), (qe,))


@pytest.mark.parametrize(
    "kw", [{}, {"correction": 0}, {"correction": 2}, {"fweights": [1, 2, 1, 1, 3]}]
)
def test_cov_gradient_to_aweights(rng, kw):
    x, aw = rng.standard_normal((3, 5)), rng.random(5)
    a, at = ember.tensor(aw, requires_grad=True), torch.tensor(aw, requires_grad=True)
    ekw = {k: ember.tensor(v) if k == "fweights" else v for k, v in kw.items()}
    tkw = {k: torch.tensor(v) if k == "fweights" else v for k, v in kw.items()}
    got = ember.cov(ember.tensor(x), aweights=a, **ekw)
    want = torch.cov(torch.tensor(x), aweights=at, **tkw)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)
    weights = rng.standard_normal((3, 3))
    (got * ember.tensor(weights)).sum().backward()
    (want * torch.tensor(weights)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), at.grad.numpy(), rtol=1e-10)
    assert gradcheck(lambda a: ember.cov(ember.tensor(x), aweights=a, **ekw), (a,))


@pytest.mark.parametrize(
    "sa, sb, dims",
    [
        ((2, 1, 4), (3, 5), ([1], [0])),
        ((2, 3), (1, 4), ([1], [0])),
        ((2, 1, 3), (1, 3, 4), ([1, 2], [0, 1])),
        ((2, 3), (1, 4), 1),
        ((2, 0), (1, 4), ([1], [0])),
    ],
)
def test_tensordot_broadcasts_size_one_contracted_dims(rng, sa, sb, dims):
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    want = torch.tensordot(torch.tensor(a), torch.tensor(b), dims=dims)
    got = ember.tensordot(ember.tensor(a), ember.tensor(b), dims=dims)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    assert gradcheck(lambda x, y: ember.tensordot(x, y, dims=dims), (ea, eb))


def test_tensordot_mismatch_is_runtime_error():
    with pytest.raises(RuntimeError, match="must match in size"):
        ember.tensordot(ember.ones(2, 3), ember.ones(2, 4), dims=([1], [0]))


def test_to_positional_non_blocking_and_copy():
    x = ember.randn(2, 3)
    for args in [("cpu", ember.float64, False, True), (ember.float64, False, True)]:
        assert x.to(*args).dtype == ember.float64
    same = x.to(ember.float32, False, True)
    assert same is not x and not np.shares_memory(same.numpy(), x.numpy())
    assert x.to(ember.float32, False, False) is x
    assert not np.shares_memory(x.to(x, False, True).numpy(), x.numpy())
    assert x.to("cpu", None, False, True) is not x
    with pytest.raises(TypeError, match="invalid combination"):
        x.to(ember.float64, False, True, False)


@pytest.mark.parametrize(
    "name", ["byte", "char", "short", "int", "long", "half", "float", "double", "bool"]
)
def test_casts_take_memory_format(name):
    data = np.arange(120.0).reshape(2, 3, 4, 5)
    got = getattr(ember.tensor(data), name)(memory_format=ember.channels_last)
    want = getattr(torch.tensor(data), name)(memory_format=torch.channels_last)
    assert got.stride() == want.stride()
    np.testing.assert_array_equal(got.numpy(), want.numpy())


_OUT_OF_RANGE = [lambda m, x, i: m.gather(x, 0, i), lambda m, x, i: m.take_along_dim(x, i)]


@pytest.mark.parametrize("call", _OUT_OF_RANGE)
@pytest.mark.parametrize("bad", [5, 3, -1, -4])
@pytest.mark.parametrize("grad", [False, True])
def test_gather_out_of_range_is_runtime_error(call, bad, grad):
    with pytest.raises(RuntimeError, match="out of bounds"):
        call(torch, torch.arange(3.0), torch.tensor([bad]))
    x = ember.arange(3.0, requires_grad=grad)
    with pytest.raises(RuntimeError, match=f"{bad}"):  # (and still an IndexError)
        call(ember, x, ember.tensor([bad]))
    with pytest.raises(IndexError):
        call(ember, x, ember.tensor([bad]))


def test_gather_out_of_range_other_dtypes_and_dims():
    x = ember.arange(6.0).reshape(2, 3)
    for t in (x, x.to(ember.float16), x.to(ember.int64)):
        with pytest.raises(RuntimeError, match=r"gather: index out of range \[0, 3\)"):
            ember.gather(t, 1, ember.tensor([[5]]))
    with pytest.raises(RuntimeError, match="gather: index out of range"):
        ember.gather(x, 1, ember.tensor([[5]], dtype=ember.int32))


@pytest.mark.parametrize("bad", [5, 7, -1, -5, 300])
def test_take_along_dim_with_dim_wraps_modulo_as_torch(bad):
    data = np.arange(6.0).reshape(2, 3)
    want = torch.take_along_dim(torch.tensor(data), torch.tensor([[bad, 1]]), 1)
    x = ember.tensor(data, requires_grad=True)
    got = ember.take_along_dim(x, ember.tensor([[bad, 1]]), 1)
    np.testing.assert_array_equal(got.detach().numpy(), want.numpy())
    got.sum().backward()
    xt = torch.tensor(data, requires_grad=True)
    torch.take_along_dim(xt, torch.tensor([[bad, 1]]), 1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), xt.grad.numpy())


def test_vander_of_a_0d_input_is_one_row():
    want = torch.linalg.vander(torch.tensor(2.0), N=3)
    got = ember.linalg.vander(ember.tensor(2.0), N=3)
    assert got.shape == tuple(want.shape) == (1, 3)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(ValueError, match="N must be greater than 1"):
        ember.linalg.vander(ember.tensor(2.0))


@pytest.mark.filterwarnings("ignore:index_reduce\\(\\) is in beta:UserWarning")  # torch's, once
@pytest.mark.parametrize("reduce", ["prod", "mean", "amax", "amin"])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("index", [[0], 0])
def test_index_reduce_on_a_0d_input(reduce, include_self, index):
    kw = dict(include_self=include_self)
    want = torch.tensor(5.0).index_reduce(0, torch.tensor(index), torch.tensor(3.0), reduce, **kw)
    got = ember.tensor(5.0).index_reduce(0, ember.tensor(index), ember.tensor(3.0), reduce, **kw)
    assert got.shape == ()
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_index_reduce_0d_gradient_and_errors():
    x = ember.tensor(5.0, dtype=ember.float64, requires_grad=True)
    s = ember.tensor(3.0, dtype=ember.float64, requires_grad=True)
    assert gradcheck(lambda a, b: a.index_reduce(0, ember.tensor([0]), b, "prod"), (x, s))
    with pytest.raises(RuntimeError, match=r"source shape \(1,\) should be \(\)"):
        ember.tensor(5.0).index_reduce(0, ember.tensor([0]), ember.tensor([3.0]), "prod")
    with pytest.raises(IndexError, match="exactly one index"):
        ember.tensor(5.0).index_reduce(0, ember.tensor([0, 0]), ember.tensor(3.0), "prod")
    with pytest.raises(IndexError, match="out of range"):
        ember.tensor(5.0).index_reduce(0, ember.tensor([1]), ember.tensor(3.0), "prod")


@pytest.mark.parametrize("shape", [(0, 3, 3), (2, 0, 3), (0, 3, 4)])
def test_pinv_and_ldl_on_empty_batches(shape):
    a = np.zeros(shape)
    want = torch.linalg.pinv(torch.tensor(a))
    got = ember.linalg.pinv(ember.tensor(a))
    assert got.shape == tuple(want.shape)
    if shape[-1] == shape[-2]:
        LD, piv = ember.linalg.ldl_factor(ember.tensor(a))
        assert LD.shape == shape and piv.shape == shape[:-1]
        x = ember.linalg.ldl_solve(LD, piv, ember.zeros(*shape[:-1], 2, dtype=ember.float64))
        assert x.shape == (*shape[:-1], 2)
