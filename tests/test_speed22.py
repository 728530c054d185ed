"""The fast paths of speed22 pinned against torch / NumPy: x[i] outside the graph, the
creation fronts (tensor(list), ones / full / zeros through _C.fill, randn / rand / empty),
the activations and losses moved off np.where's branch (selu, celu, softshrink, hardshrink,
threshold, prelu, glu), index_select's backward, cummax / cummin in the graph, cat, gather."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(a, requires_grad=True):
    return ember.tensor(a, requires_grad=requires_grad), torch.tensor(
        a, requires_grad=requires_grad
    )


# ---- x[i] ------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,i", [((5, 3), 2), ((5, 3), -1), ((4,), 3), ((2, 3, 4), 1)])
def test_int_index_is_a_view_with_torch_values(shape, i):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    x = ember.tensor(a)
    y = x[i]
    assert y.shape == torch.tensor(a)[i].shape
    np.testing.assert_array_equal(y.numpy(), torch.tensor(a)[i].numpy())
    assert np.shares_memory(y.numpy(), x.numpy())  # a view, as torch's (0-d of a 1-D x too)
    y.mul_(2)
    np.testing.assert_array_equal(x.numpy()[i], 2 * a[i])


def test_int_index_errors_and_graph():
    x = ember.tensor(np.zeros((3, 2), np.float32))
    with pytest.raises(IndexError, match=r"\(3, 2\)"):
        x[3]
    with pytest.raises(IndexError):
        ember.tensor(np.float32(1.0))[0]  # 0-d: the generic path's error
    w = ember.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    w[1].sum().backward()  # requires grad: the recorded path still
    np.testing.assert_array_equal(w.grad.numpy(), [[0, 0], [1, 1], [0, 0]])


# ---- creation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        [[1.0, 2.5], [3.0, -4.0]],
        [0.1, 1e-40, 3.4e38, -0.0],
        [1, 2, -3],
        [2**40, 7],
        [1.0, 2],
        [True, False],
        [[1.5]],
        [],
        [np.float64(1.5), 2.0],
    ],
)
def test_tensor_of_list_matches_torch(data):
    e, t = ember.tensor(data), torch.tensor(data)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_tensor_of_list_default_dtype_and_errors():
    old = ember.get_default_dtype()
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.tensor([0.1, 0.2]).numpy().tolist() == [0.1, 0.2]
    finally:
        ember.set_default_dtype(old)
    with pytest.raises(ValueError):
        ember.tensor([[1.0], [2.0, 3.0]])
    assert ember.tensor([1.0, 2.0], dtype=ember.float64).dtype == ember.float64


@pytest.mark.parametrize("shape", [(0,), (), (3, 5), (256, 256), (7, 1031)])
def test_filled_factories(shape):
    for fn, value in ((ember.ones, 1.0), (ember.zeros, 0.0)):
        y = fn(shape)
        assert y.shape == shape and y.dtype == ember.float32
        np.testing.assert_array_equal(y.numpy(), np.full(shape, value, np.float32))
    y = ember.full(shape, -2.5)
    np.testing.assert_array_equal(y.numpy(), np.full(shape, -2.5, np.float32))
    assert ember.ones(shape, dtype=ember.float64).dtype == ember.float64
    assert ember.empty(shape).shape == shape


def test_full_overflow_and_int_fill():
    with pytest.raises(RuntimeError, match="overflow"):
        ember.full((300, 300), 1e39)
    assert ember.full((300, 300), 3).dtype == ember.int64
    assert ember.empty(2, dtype=ember.int64).dtype == ember.int64


def test_randn_and_rand_fronts_draw_the_factory_stream():
    for fn in (ember.randn, ember.rand):
        ember.manual_seed(5)
        a = fn(3, 4).numpy()
        ember.manual_seed(5)
        b = fn(3, 4, dtype=ember.float32).numpy()  # (the keyword: the factory itself)
        np.testing.assert_array_equal(a, b)
        assert fn(0).shape == (0,) and fn((2, 3)).shape == (2, 3)
    assert 0 <= ember.rand(1000).numpy().min() and ember.rand(1000).numpy().max() < 1


# ---- activations off np.where ------------------------------------------------------------------


def _act_input(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype) * 2
    flat = a.reshape(-1)
    if flat.size >= 8:  # edges: the bounds, signed zeros, inf, NaN
        flat[:8] = [0.5, -0.5, 0.0, -0.0, np.inf, -np.inf, np.nan, 0.1]
    return a


ACTS = [
    ("selu", lambda F_, x: F_.selu(x)),
    ("celu", lambda F_, x: F_.celu(x, 0.7)),
    ("softshrink", lambda F_, x: F_.softshrink(x, 0.5)),
    ("softshrink0", lambda F_, x: F_.softshrink(x, 0.0)),
    ("hardshrink", lambda F_, x: F_.hardshrink(x, 0.5)),
    ("threshold", lambda F_, x: F_.threshold(x, 0.1, -3.0)),
    ("glu", lambda F_, x: F_.glu(x, -1)),
    ("glu0", lambda F_, x: F_.glu(x, 0)),
]


@pytest.mark.parametrize("name,fn", ACTS, ids=[a[0] for a in ACTS])
@pytest.mark.parametrize("shape", [(64, 48), (6, 4), (2, 3, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_matches_torch(name, fn, shape, dtype, rng):
    a = _act_input(rng, shape, dtype)
    e, t = _pair(a)
    ye, yt = fn(F, e), fn(TF, t)
    tol = 4e-7 if dtype == np.float32 else 1e-15
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    if name in ("softshrink", "softshrink0", "hardshrink", "threshold"):  # picks: exact bits
        assert np.array_equal(np.signbit(ye.detach().numpy()), np.signbit(yt.detach().numpy()))
    a[~np.isfinite(a)] = 0.3  # the gradients at finite inputs (the sum of +-inf warns)
    e, t = _pair(a)
    ye, yt = fn(F, e), fn(TF, t)
    g = rng.standard_normal(ye.shape).astype(dtype)
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,fn", ACTS, ids=[a[0] for a in ACTS])
def test_activation_non_contiguous_and_0d(name, fn, rng):
    a = rng.standard_normal((6, 8))
    e, t = ember.tensor(a).T, torch.tensor(a).T  # a transposed view
    np.testing.assert_allclose(fn(F, e).numpy(), fn(TF, t).numpy(), rtol=1e-15, atol=1e-15)
    if not name.startswith("glu"):
        y = fn(F, ember.tensor(np.float64(-0.7)))
        assert y.shape == () and np.isclose(y.item(), fn(TF, torch.tensor(-0.7)).item())
        y16 = fn(F, ember.tensor(np.float16([0.75, -1.0, 0.25])))
        assert y16.dtype == ember.float16


@pytest.mark.parametrize("name,fn", ACTS, ids=[a[0] for a in ACTS])
def test_activation_gradcheck(name, fn, rng):
    a = rng.standard_normal((4, 6))
    a[np.abs(np.abs(a) - 0.5) < 0.05] += 0.2  # away from the kinks
    a[np.abs(a - 0.1) < 0.05] += 0.2
    a[np.abs(a) < 0.05] += 0.2
    x = ember.tensor(a, requires_grad=True)
    assert gradcheck(lambda v: fn(F, v), (x,))


@pytest.mark.parametrize(
    "shape,wshape",
    [((7, 5), (1,)), ((7, 5), ()), ((7, 5), (5,)), ((3, 5, 4), (1,)), ((3, 5, 4), (5,))]
    + [((5,), (1,)), ((5,), ()), ((), (1,)), ((), ())],
)
def test_prelu_matches_torch(shape, wshape, rng):
    a = _act_input(rng, shape, np.float32)
    w = rng.random(wshape).astype(np.float32) * 0.5
    e, t = _pair(a)
    ew, tw = _pair(w)
    ye, yt = F.prelu(e, ew), TF.prelu(t, tw)
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    a = np.where(np.isfinite(a), a, np.float32(0.3))  # finite for the gradients (+-inf warns)
    e, t = _pair(a)
    ye, yt = F.prelu(e, ew), TF.prelu(t, tw)
    g = rng.standard_normal(ye.shape).astype(np.float32)
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_prelu_gradcheck_and_non_contiguous(rng):
    a = rng.standard_normal((5, 4))
    a[np.abs(a) < 0.05] += 0.2
    x, w = ember.tensor(a, requires_grad=True), ember.tensor(np.array([0.3]), requires_grad=True)
    assert gradcheck(lambda v, s: F.prelu(v, s), (x, w))
    xt = ember.tensor(a).T
    np.testing.assert_array_equal(
        F.prelu(xt, ember.tensor(np.array([0.3]))).numpy(),
        TF.prelu(torch.tensor(a).T, torch.tensor([0.3], dtype=torch.float64)).numpy(),
    )


# ---- index_select's backward, cummax / cummin, cat, gather -------------------------------------


@pytest.mark.parametrize("dim", [0, 1, 2])
def test_index_select_backward_matches_torch(dim, rng):
    shape = (6, 9, 5)
    idx = rng.integers(0, shape[dim], 11)  # repeats add up
    e, t = _pair(rng.standard_normal(shape).astype(np.float32))
    ye, yt = (
        ember.index_select(e, dim, ember.tensor(idx)),
        torch.index_select(t, dim, torch.tensor(idx)),
    )
    g = rng.standard_normal(ye.shape).astype(np.float32)
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-6, atol=1e-6)
    dx = ember._C.index_select_backward(g, idx, dim, shape[dim])
    ref = np.zeros(shape, np.float32)
    np.add.at(ref, (slice(None),) * dim + (idx,), g)
    np.testing.assert_array_equal(dx, ref)  # np.add.at's order: the same bits


@pytest.mark.parametrize("op", ["cummax", "cummin"])
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumextreme_in_graph_matches_torch(op, dim, dtype, rng):
    a = rng.integers(-3, 3, (5, 7)).astype(dtype)  # ties move the index on
    a[2, 3] = np.nan
    e, t = _pair(a)
    (ve, ie), (vt, it) = getattr(ember, op)(e, dim), getattr(torch, op)(t, dim)
    np.testing.assert_array_equal(ve.detach().numpy(), vt.detach().numpy())
    np.testing.assert_array_equal(ie.numpy(), it.numpy())
    g = rng.standard_normal(a.shape).astype(dtype)
    (ve * ember.tensor(g)).sum().backward()
    (vt * torch.tensor(g)).sum().backward()
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())


def test_cumextreme_gradcheck_and_edges(rng):
    x = ember.tensor(rng.standard_normal((4, 5)), requires_grad=True)
    assert gradcheck(lambda v: ember.cummax(v, 1)[0], (x,))
    assert gradcheck(lambda v: ember.cummin(v.T, 0)[0], (x,))  # a non-contiguous input
    e = ember.tensor(np.zeros((0, 3)), requires_grad=True)
    assert ember.cummax(e, 0)[0].shape == (0, 3)
    s = ember.tensor(np.float64(2.0), requires_grad=True)
    v, i = ember.cummax(s, 0)
    assert v.item() == 2.0 and i.item() == 0


def test_cat_mixed_dtypes_promote_as_torch():
    a32, a64 = np.ones(2, np.float32), np.full(3, 2.0)
    for parts in ([a32, a64], [a64, a32], [a32, a32.astype(np.float16)]):
        e = ember.cat([ember.tensor(p) for p in parts])
        t = torch.cat([torch.tensor(p) for p in parts])
        assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    h = ember.cat(
        [ember.tensor(np.ones(2, np.float16)), ember.tensor(np.ones(1), dtype=ember.bfloat16)]
    )
    assert h.dtype == ember.float32  # float16 with bfloat16: float32, as torch


@pytest.mark.parametrize("shape,dim", [((8, 8), 1), ((8, 8), 0), ((3, 4, 5), -1), ((5,), 0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_gather_same_shape_index(shape, dim, dtype, rng):
    a = (rng.standard_normal(shape) * 10).astype(dtype)
    idx = rng.integers(0, shape[dim], shape)
    np.testing.assert_array_equal(
        ember.gather(ember.tensor(a), dim, ember.tensor(idx)).numpy(),
        torch.gather(torch.tensor(a), dim, torch.tensor(idx)).numpy(),
    )
    bad = idx.copy()
    bad.reshape(-1)[0] = shape[dim]
    with pytest.raises(IndexError):
        ember.gather(ember.tensor(a), dim, ember.tensor(bad))
    sub = idx[..., : max(shape[-1] - 1, 1)] if dim == len(shape) - 1 or dim == -1 else idx[:1]
    np.testing.assert_array_equal(  # an index smaller than x: the general path
        ember.gather(ember.tensor(a), dim, ember.tensor(np.ascontiguousarray(sub))).numpy(),
        torch.gather(torch.tensor(a), dim, torch.tensor(np.ascontiguousarray(sub))).numpy(),
    )


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cumprod_outside_graph_matches_torch(dim, dtype, rng):
    a = rng.standard_normal((5, 6)).astype(dtype)
    a[1, 2] = 0.0
    np.testing.assert_array_equal(
        ember.tensor(a).cumprod(dim).numpy(), torch.tensor(a).cumprod(dim).numpy()
    )
    np.testing.assert_array_equal(  # a transposed view: C-order values
        ember.tensor(a).T.cumprod(dim).numpy(), torch.tensor(a).T.cumprod(dim).numpy()
    )
    with pytest.raises(IndexError, match="out of range"):
        ember.tensor(a).cumprod(2)
    assert ember.tensor(np.float32(3.0)).cumprod(0).shape == ()
