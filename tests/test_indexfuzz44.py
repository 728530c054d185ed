"""indexfuzz44: indexing and view/join ops fuzzed against torch 2.13; each test a mismatch fixed."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _shares(t: ember.Tensor, base: ember.Tensor) -> bool:
    return np.shares_memory(t.numpy(), base.numpy())


@pytest.mark.parametrize("dt", ["int8", "int16", "int32", "int64"])
@pytest.mark.parametrize("key", ["one", "tuple", "lead"])
def test_zero_dim_int_index_is_a_select_view(dt, key):
    # torch reads a 0-d integer Tensor in a key as its int: x[i] is a view (NumPy: a copy)
    a = np.arange(24.0, dtype=np.float32).reshape(2, 3, 4)
    x, t = ember.tensor(a), torch.tensor(a)
    i, ti = ember.tensor(1, dtype=getattr(ember, dt)), torch.tensor(1, dtype=getattr(torch, dt))
    make = {
        "one": lambda L, y, j: y[j],
        "tuple": lambda L, y, j: y[:, j, ::2],
        "lead": lambda L, y, j: y[None, j, ...],
    }[key]
    r, tr = make(ember, x, i), make(torch, t, ti)
    assert r.shape == tuple(tr.shape)
    np.testing.assert_array_equal(r.numpy(), tr.numpy())
    assert r.stride() == tr.stride()
    assert _shares(r, x)
    r.add_(100)  # writes through, as torch's view
    tr.add_(100)
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_zero_dim_int_index_out_of_range_and_grad():
    x = ember.zeros(3, 2)
    with pytest.raises(IndexError, match="out of bounds"):
        x[ember.tensor(3)]
    with pytest.raises(IndexError):
        ember.zeros(0, 2)[ember.tensor(0)]
    # uint8 / bool 0-d tensors stay masks (a new dim), as torch
    assert x[ember.tensor(True)].shape == (1, 3, 2)
    w = ember.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    (w[ember.tensor(-1)] * ember.tensor([2.0, 3.0])).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [0, 0], [2, 3]])
    assert ember.autograd.gradcheck(
        lambda v: v[:, ember.tensor(1)] * 2,
        (ember.randn(3, 2, dtype=ember.float64, requires_grad=True),),
    )


@pytest.mark.parametrize(
    "shape, key",
    [
        ((0, 3, 0, 4), lambda L: L.tensor([[0, 0, 0], [0, 0, 0]])),
        ((0, 3, 0), lambda L: L.tensor([0, 0])),
        ((0, 3, 0), lambda L: (slice(None), slice(None), L.tensor([1]))),
    ],
)
def test_position_into_a_size0_dim_is_an_index_error(shape, key):
    # torch: a nonempty index into a dim of size 0 raises, even where the result is empty
    with pytest.raises(IndexError):
        torch.zeros(shape)[key(torch)]
    with pytest.raises(IndexError, match="size 0"):
        ember.zeros(*shape)[key(ember)]


def test_empty_index_into_size0_dim_still_empty():
    for shape in [(0, 3), (2, 0)]:
        r = ember.zeros(*shape)[ember.tensor([], dtype=ember.int64)]
        assert r.shape == tuple(torch.zeros(shape)[torch.tensor([], dtype=torch.int64)].shape)


@pytest.mark.parametrize(
    "shape, key",
    [
        ((4, 0), lambda L: (True, L.zeros((4, 0), dtype=L.bool))),
        ((4, 0, 4), lambda L: (False, -1, L.zeros((0, 4), dtype=L.bool))),
        ((0, 3, 1), lambda L: (None, True, L.zeros((0, 3), dtype=L.bool), slice(-1, None))),
    ],
)
def test_true_false_beside_an_empty_mask(shape, key):
    # True / False add a dim, they index none of x's: the empty mask matches the dims after
    r, tr = ember.zeros(*shape)[key(ember)], torch.zeros(shape)[key(torch)]
    assert r.shape == tuple(tr.shape)


def test_zero_dim_split_chunk_unbind_index_select_errors():
    x, t = ember.tensor(1.0), torch.tensor(1.0)
    for f in (
        lambda L, y: L.split(y, 1),
        lambda L, y: L.chunk(y, 2),
        lambda L, y: L.index_select(y, 0, L.tensor([0, 0])),
    ):
        with pytest.raises(RuntimeError):
            f(torch, t)
        with pytest.raises(RuntimeError, match="1-dimensional|1 value"):
            f(ember, x)
    with pytest.raises(IndexError):
        torch.unbind(t)
    with pytest.raises(IndexError, match="no dimensions"):
        ember.unbind(x)
    r = ember.index_select(x, 0, ember.tensor([0]))  # (one index still selects the scalar)
    assert r.shape == () and r.item() == 1.0


@pytest.mark.parametrize(
    "shape, to, ok",
    [
        ((0, 2, 2, 2), (0, 2, 1, 2), False),
        ((2, 0), (1, 0), False),
        ((1, 0), (3, 0), True),
        ((0,), (2, 0), True),
        ((2, 1), (2, 0), True),
    ],
)
def test_expand_to_an_empty_shape_checks_sizes(shape, to, ok):
    t = torch.zeros(shape)
    if not ok:
        with pytest.raises(RuntimeError):
            t.expand(to)
        with pytest.raises(RuntimeError, match="expand"):
            ember.zeros(*shape).expand(*to)
        return
    r, tr = ember.zeros(*shape).expand(*to), t.expand(to)
    assert r.shape == tuple(tr.shape)


def test_masked_fill_shape_error_is_runtime_error():
    with pytest.raises(RuntimeError):
        torch.masked_fill(torch.zeros(2, 3), torch.ones(3, 2, dtype=torch.bool), 1.0)
    with pytest.raises(RuntimeError, match="masked_fill"):
        ember.masked_fill(ember.zeros(2, 3), ember.ones(3, 2, dtype=ember.bool), 1.0)
    # broadcasting to a bigger shape is still torch's
    r = ember.masked_fill(ember.zeros(3), ember.ones(2, 3, dtype=ember.bool), 1.0)
    assert r.shape == (2, 3)


def _scatter_ops(L, x):
    m = np.array([[True, False, True], [False, True, True], [True, True, False]])
    i = L.tensor([1, 0])
    return {
        "select_scatter": lambda: L.select_scatter(x, L.zeros(3), 0, 1),
        "slice_scatter": lambda: L.slice_scatter(x, L.zeros(1, 3), 0, 1, 2),
        "diagonal_scatter": lambda: L.diagonal_scatter(x, L.zeros(3)),
        "index_fill": lambda: L.index_fill(x, 0, i, 2.0),
        "put": lambda: L.put(x, L.tensor([1]), L.tensor([5.0])),
        "index_copy": lambda: L.index_copy(x, 0, i, L.zeros(2, 3)),
        "masked_scatter": lambda: L.masked_scatter(x, L.tensor(m), L.ones(9)),
        "index_put": lambda: L.index_put(x, (i,), L.tensor(1.0)),
    }


@pytest.mark.parametrize("op", list(_scatter_ops(torch, None)))
@pytest.mark.parametrize("perm", [False, True])
def test_scatter_ops_keep_torch_layout(op, perm):
    # torch writes select/slice/diagonal_scatter, index_fill and put into a preserve_format
    # clone of x (a transposed x gives a transposed result); index_copy etc. into C order
    a = np.arange(9.0, dtype=np.float32).reshape(3, 3)
    x, t = ember.tensor(a), torch.tensor(a)
    if perm:
        x, t = x.T, t.T
    r, tr = _scatter_ops(ember, x)[op](), _scatter_ops(torch, t)[op]()
    np.testing.assert_array_equal(r.numpy(), tr.numpy())
    assert r.stride() == tr.stride()
    assert r.is_contiguous() == tr.is_contiguous()


def test_diagonal_scatter_3d_layout_and_grad():
    a = np.arange(8.0, dtype=np.float32).reshape(2, 2, 2)
    r = ember.diagonal_scatter(ember.tensor(a), ember.zeros(2, 2), 0, 1, 2)
    tr = torch.diagonal_scatter(torch.tensor(a), torch.zeros(2, 2), 0, 1, 2)
    np.testing.assert_array_equal(r.numpy(), tr.numpy())
    assert r.stride() == tr.stride() and r.is_contiguous()
    x = ember.randn(3, 3, dtype=ember.float64, requires_grad=True).T
    s = ember.randn(3, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda u, v: ember.diagonal_scatter(u, v), (x, s))
    assert ember.autograd.gradcheck(lambda u, v: ember.select_scatter(u, v, 1, 0), (x, s))


@pytest.mark.parametrize(
    "dt, v",
    [("uint8", -2.5), ("uint8", 300.0), ("int8", 200.0), ("int64", 1e30), ("int32", float("nan"))],
)
@pytest.mark.parametrize("advanced", [False, True])
def test_setitem_float_out_of_integer_range_is_runtime_error(dt, v, advanced):
    # torch's checked conversion: RuntimeError (NumPy: OverflowError / ValueError)
    t, x = torch.zeros(3, dtype=getattr(torch, dt)), ember.zeros(3, dtype=getattr(ember, dt))
    tk, k = (torch.tensor([0, 1]), ember.tensor([0, 1])) if advanced else (0, 0)
    with pytest.raises(RuntimeError):
        t[tk] = v
    with pytest.raises(RuntimeError, match="cannot be converted"):
        x[k] = v
    np.testing.assert_array_equal(x.numpy(), 0)


@pytest.mark.parametrize("dt, v", [("uint8", 2.5), ("int8", -1.7), ("int64", 3.9)])
def test_setitem_float_in_range_truncates_as_torch(dt, v):
    t, x = torch.zeros(3, dtype=getattr(torch, dt)), ember.zeros(3, dtype=getattr(ember, dt))
    t[1:] = v
    x[1:] = v
    np.testing.assert_array_equal(x.numpy(), t.numpy())


@pytest.mark.parametrize(
    "shape, key, vshape",
    [
        ((4, 4), (-4, -2), (1,)),
        ((1, 2), (-1, -1), (1, 1)),
        ((3, 4), (slice(0, 2),), (1, 1, 4)),
        ((3, 3), (-1, [0, 2]), (1, 2)),
    ],
)
def test_setitem_value_leading_size1_dims_dropped(shape, key, vshape):
    # torch drops a value's leading size-1 dims before it writes (x[0, 1] = v of shape (1,))
    v = np.arange(1.0, 1.0 + np.prod(vshape)).reshape(vshape).astype(np.float32)
    t, x = torch.zeros(shape), ember.zeros(*shape)
    tk = tuple(torch.tensor(k) if isinstance(k, list) else k for k in key)
    t[tk] = torch.tensor(v)
    x[key] = ember.tensor(v)
    np.testing.assert_array_equal(x.numpy(), t.numpy())


@pytest.mark.parametrize(
    "shape, key",
    [
        ((2,), lambda L: (False, False, L.tensor(-1))),
        ((1, 4), lambda L: (L.tensor(-1), L.tensor(3), True)),
        ((2,), lambda L: (True, L.tensor(0))),
    ],
)
def test_setitem_all_ints_beside_a_bool(shape, key):
    # the integer part selects one element: written through a 0-d view, not a NumPy scalar
    t, x = torch.zeros(shape), ember.zeros(*shape)
    t[key(torch)] = 5.0
    x[key(ember)] = 5.0
    np.testing.assert_array_equal(x.numpy(), t.numpy())


@pytest.mark.parametrize("op", ["nonzero", "argwhere"])
@pytest.mark.parametrize("shape", [(2, 3), (3,), (1, 1), (2, 2, 3), (0,)])
def test_nonzero_has_torch_column_strides(op, shape):
    # torch's CPU nonzero: an (n, ndim) result with strides (1, n)
    a = (np.random.RandomState(0).rand(*shape) > 0.4).astype(np.float32)
    r, tr = getattr(ember, op)(ember.tensor(a)), getattr(torch, op)(torch.tensor(a))
    np.testing.assert_array_equal(r.numpy(), tr.numpy())
    assert r.dtype == ember.int64
    assert r.stride() == tr.stride() and r.is_contiguous() == tr.is_contiguous()
