"""Fast paths of the small view, split and creation ops: same values, gradients, views and
errors as the general paths, against NumPy and torch."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

rng = np.random.default_rng(7)


def _x(*shape, grad=False):
    return ember.tensor(rng.standard_normal(shape), requires_grad=grad)


@pytest.mark.parametrize("grad", [False, True])
def test_views_share_memory_and_match_numpy(grad):
    x = _x(4, 6, 5, grad=grad)
    a = x.data
    cases = [
        (x.view(4, 30), a.reshape(4, 30)),
        (x.view(-1, 5), a.reshape(-1, 5)),
        (x.reshape((24, 5)), a.reshape(24, 5)),
        (x.flatten(1), a.reshape(4, 30)),
        (x.unsqueeze(-1), a[..., None]),
        (x.permute(2, 0, 1), a.transpose(2, 0, 1)),
        (x.transpose(0, 2), a.transpose(2, 1, 0)),
        (x[0].t(), a[0].T),
    ]
    for y, ref in cases:
        assert y.shape == ref.shape and np.array_equal(y.data, ref)
        assert np.shares_memory(y.data, a)
        assert y.requires_grad == grad and (y.grad_fn is not None) == grad


def test_views_record_under_grad_only():
    x = _x(3, 4, grad=True)
    with ember.no_grad():  # (as torch's: views still require grad, with no grad_fn)
        assert all(v.requires_grad and v.grad_fn is None for v in (x.view(12), x.t()))
    assert gradcheck(lambda t: t.view(2, 6).t().unsqueeze(0).flatten() * 1.0, (x,))


def test_view_errors_unchanged():
    x = _x(3, 4)
    with pytest.raises(RuntimeError, match="view: shape"):
        x.t().view(12)  # a transposed tensor cannot be flattened without a copy
    assert np.array_equal(x.t().reshape(12).data, x.data.T.reshape(12))
    with pytest.raises(ValueError, match="invalid shape"):
        x.view(-1, -1)
    with pytest.raises(ValueError, match="invalid shape"):
        x.view(-2, 6)
    with pytest.raises(ValueError, match="is invalid for input of shape"):
        x.view(5, 3)
    with pytest.raises(TypeError, match="sequence of ints"):
        x.view(2.0, 6)
    with pytest.raises(ValueError, match="t\\(\\) expects"):
        _x(2, 3, 4).t()
    assert x.view(np.int64(12), True).shape == (12, 1)  # NumPy ints and bools as ints


@pytest.mark.parametrize("grad", [False, True])
def test_split_chunk_match_torch(grad):
    torch = pytest.importorskip("torch")
    x = _x(5, 10, 3, grad=grad)
    xt = torch.tensor(x.data)
    for args in [(3, 1), (4, 1), (5, -2), ([2, 0, 8], 1), (1, 0), (10, 2)]:
        got, ref = x.split(*args), xt.split(*args)
        assert len(got) == len(ref)
        for g, r in zip(got, ref):
            assert g.shape == tuple(r.shape) and np.array_equal(g.data, r.numpy())
            assert np.shares_memory(g.data, x.data) or g.data.size == 0
    for n, dim in [(4, 1), (3, 0), (7, 2), (1, -1)]:
        got, ref = x.chunk(n, dim), xt.chunk(n, dim)
        assert [g.shape for g in got] == [tuple(r.shape) for r in ref]
        assert all(np.array_equal(g.data, r.numpy()) for g, r in zip(got, ref))


def test_split_gradient():
    x = _x(4, 7, grad=True)
    assert gradcheck(
        lambda t: ember.cat([p * (i + 1) for i, p in enumerate(t.chunk(3, 1))], 1), (x,)
    )
    # only some pieces used: the others get zero gradient
    a, b, c = x.split([2, 1, 4], 1)
    (b * 3).sum().backward()
    ref = np.zeros((4, 7))
    ref[:, 2] = 3
    assert np.array_equal(x.grad.data, ref)


def test_split_in_place_write_checked_as_getitem():
    for make in (lambda y: y[:, :3], lambda y: y.chunk(2, 1)[0]):
        x = _x(4, 6, grad=True)
        y = x * 1
        z = (make(y) ** 2).sum()
        y[0] = 5.0  # overwrites what the piece's node read
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            z.backward()


def test_split_errors_unchanged():
    x = _x(4, 6)
    with pytest.raises(RuntimeError, match="split_size must be positive"):
        x.split(0, 1)
    with pytest.raises(RuntimeError, match="do not add up"):
        x.split([2, 2], 1)
    with pytest.raises(RuntimeError, match="chunks must be positive"):
        x.chunk(0)
    with pytest.raises(IndexError, match="out of range"):
        x.chunk(2, 2)


def test_factories_match_torch_dtypes_and_values():
    torch = pytest.importorskip("torch")
    for e, t in [
        (ember.zeros(3, 4), torch.zeros(3, 4)),
        (ember.ones((2, 5)), torch.ones((2, 5))),
        (ember.full((2, 3), 7), torch.full((2, 3), 7)),
        (ember.full((2,), True), torch.full((2,), True)),
        (ember.arange(10), torch.arange(10)),
        (ember.arange(0, 1, 0.25), torch.arange(0, 1, 0.25)),
        (ember.zeros(2, 3, dtype=np.float64), torch.zeros(2, 3, dtype=torch.float64)),
    ]:
        assert e.shape == tuple(t.shape) and str(e.dtype) == str(t.dtype).split(".")[1]
        assert np.array_equal(e.data, t.numpy())
    assert ember.empty(2, 3).shape == (2, 3)
    ember.manual_seed(3)
    a = ember.randn(4, 5, requires_grad=True)
    ember.manual_seed(3)
    b = ember.randn(4, 5)
    assert a.requires_grad and a.is_leaf and not b.requires_grad
    assert np.array_equal(a.data, b.data)


def test_factory_errors_unchanged():
    with pytest.raises(ValueError, match="zeros: negative dimension"):
        ember.zeros(2, -1)
    with pytest.raises(TypeError, match="ones: sizes must be ints"):
        ember.ones(2.5)
    with pytest.raises(TypeError, match="hold bool, integer, float or complex"):
        ember.zeros(2, dtype=np.str_)
    with pytest.raises(RuntimeError, match="only floating point"):
        ember.arange(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.zeros(2, device="cuda")
    assert ember.zeros(2, device="cpu").shape == (2,)
    assert ember.zeros(np.int64(2), True).shape == (2, 1)  # NumPy ints and bools as sizes


def _tied(shape, dtype=np.float32):
    a = rng.integers(0, 4, shape).astype(dtype)  # many ties
    a[0, ..., 1] = np.nan if a.dtype.kind == "f" else a[0, ..., 1]
    return a


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("dim", [-1, 0, 1])
def test_sort_topk_match_torch_with_ties_and_nans(dtype, dim):
    torch = pytest.importorskip("torch")
    for a in (_tied((6, 9, 5), dtype), rng.standard_normal((6, 9, 5)).astype(dtype)):
        x, xt = ember.tensor(a), torch.tensor(a)
        for desc in (False, True):
            for stable in (False, True):
                got, ref = (
                    x.sort(dim, desc, stable),
                    xt.sort(dim=dim, descending=desc, stable=stable),
                )
                assert np.array_equal(got.values.data, ref.values.numpy(), equal_nan=True)
                assert np.array_equal(got.indices.data, ref.indices.numpy())
        for k in (1, 3):
            for largest in (True, False):
                got = x.topk(k, dim, largest)
                ref = xt.topk(k, dim, largest)
                assert np.array_equal(got.values.data, ref.values.numpy(), equal_nan=True)
                assert np.array_equal(got.indices.data, ref.indices.numpy())


def test_sort_topk_1d_and_grad():
    torch = pytest.importorskip("torch")
    a = np.array([3.0, np.nan, 1.0, 3.0, -0.0, 0.0])
    got, ref = ember.tensor(a).sort(), torch.tensor(a).sort()
    assert np.array_equal(got.indices.data, ref.indices.numpy())
    x = _x(4, 7, grad=True)
    assert gradcheck(lambda t: t.topk(3, 0).values * 1.0, (x,))
    assert gradcheck(lambda t: t.sort(1, descending=True).values * 1.0, (x,))
    with pytest.raises(RuntimeError, match="topk: k"):
        x.topk(9, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scatter_add_kernel_matches_add_at_and_torch(dtype, dim):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((5, 6, 4)).astype(dtype) * 1e3
    shape = list(x.shape)
    shape[dim] = 9  # more sources than targets: repeated indices add up, in order
    index = rng.integers(0, x.shape[dim], shape)
    src = rng.standard_normal(shape).astype(dtype)
    got = ember.tensor(x).scatter_add(dim, ember.tensor(index), ember.tensor(src))
    ref = x.copy()
    grids = list(np.indices(index.shape, sparse=True))
    grids[dim] = index
    np.add.at(ref, tuple(grids), src)
    assert got.dtype == dtype and np.array_equal(got.data, ref)  # bit for bit, as before
    t = torch.tensor(x).scatter_add(dim, torch.tensor(index), torch.tensor(src))
    np.testing.assert_allclose(got.data, t.numpy(), rtol=1e-6, atol=1e-3)
    inplace = ember.tensor(x)
    inplace.scatter_add_(dim, ember.tensor(index), ember.tensor(src))
    assert np.array_equal(inplace.data, ref)


def test_scatter_add_gradient_and_fallbacks():
    x = _x(4, 5, grad=True)
    src = _x(6, 5, grad=True)
    index = ember.tensor(rng.integers(0, 4, (6, 5)))
    assert gradcheck(lambda a, b: a.scatter_add(0, index, b), (x, src))
    # an index smaller than x outside dim (the NumPy path) and a larger src (sliced)
    small = rng.integers(0, 4, (3, 2))
    big = rng.standard_normal((5, 6))
    ref = x.data.copy()
    np.add.at(ref, (small, np.arange(2)[None]), big[:3, :2])
    assert np.array_equal(x.scatter_add(0, ember.tensor(small), ember.tensor(big)).data, ref)
    with pytest.raises(IndexError, match="out of range"):
        x.scatter_add(0, ember.tensor(np.full((6, 5), 4)), src)
    with pytest.raises(TypeError, match="dtypes must match"):
        x.scatter_add(0, index, src.float())


def test_tril_triu_cached_masks_match_torch():
    torch = pytest.importorskip("torch")
    a = rng.standard_normal((2, 5, 7))
    for d in (0, 2, -3, 0):  # a repeated call reuses the cached mask
        for name in ("tril", "triu"):
            got = getattr(ember, name)(ember.tensor(a), d)
            ref = getattr(torch, name)(torch.tensor(a), d)
            assert np.array_equal(got.data, ref.numpy())
            got.data[...] = 1.0  # the output is the caller's to write, not the cached mask
    assert np.array_equal(ember.tril(ember.ones(3, 3)).data, np.tril(np.ones((3, 3))))
    x = _x(4, 4, grad=True)
    assert gradcheck(lambda t: ember.triu(t, 1) * 1.0, (x,))
    with pytest.raises(ValueError, match="at least 2 dims"):
        ember.tril(ember.ones(3))
