"""overhead43: the small-op fast paths and single nodes of this round (as_strided, block_diag,
randint's forms, uniform_/normal_, dot, tril/triu, roll, narrow_copy, addr, rot90) against
torch: values, strides, node names and errors; gradients by finite differences in float64."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.nn import init

torch = pytest.importorskip("torch")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _node(t):
    """The node's name, as torch's grad_fn.name()."""
    f = t.grad_fn
    return f.name() if hasattr(f, "name") else type(f).__name__


def _both(a, requires_grad=False):
    return (
        ember.tensor(a, requires_grad=requires_grad),
        torch.tensor(a, requires_grad=requires_grad),
    )


@pytest.mark.parametrize(
    "size, stride, offset",
    [((16, 16), (64, 2), None), ((4, 4), (1, 1), None), ((3, 5), (8, 1), 7), ((5,), (3,), 2),
     ((2, 3, 4), (12, 4, 1), 0), ((4, 1), (1, 0), 3), ((1024,), (1,), None)],
)  # fmt: skip
def test_as_strided_values_strides_writeable(size, stride, offset):
    a = _rng().standard_normal((32, 32)).astype(np.float32)
    e, t = _both(a)
    ye, yt = e.as_strided(size, stride, offset), t.as_strided(size, stride, offset)
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    assert ye.stride() == yt.stride() and ye.storage_offset() == yt.storage_offset()
    assert ye._base is e
    overlapping = len(set(np.asarray(ye.numpy()).ravel().tolist())) < ye.numel()
    assert ye.data.flags.writeable == (not overlapping)
    if not overlapping:  # a view: writes reach x's memory, as torch's
        ye.add_(1)
        yt.add_(1)
        np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize(
    "size, stride, offset", [((33, 32), (32, 1), None), ((2,), (1,), 1023), ((2,), (-1,), 0)]
)
def test_as_strided_refusals_match_torch(size, stride, offset):
    e, t = _both(np.zeros((32, 32), np.float32))
    with pytest.raises(RuntimeError):
        t.as_strided(size, stride, offset)
    with pytest.raises(RuntimeError):
        e.as_strided(size, stride, offset)


def test_as_strided_recorded_gradcheck():
    x = ember.tensor(_rng().standard_normal((4, 5)), requires_grad=True)
    assert _node(x.as_strided((3, 3), (5, 1), 1)) == "AsStridedBackward0"
    assert gradcheck(lambda t: t.as_strided((3, 3), (5, 2), 1), (x,))


@pytest.mark.parametrize(
    "shapes_dtypes",
    [[((2, 3), np.float32), ((3,), np.float32), ((), np.float32)],
     [((2, 2), np.int32), ((1, 2), np.float16)], [((3,), np.bool_)],
     [((2, 2), np.float64), ((4, 1), np.float32), ((), np.float64)]],
)  # fmt: skip
def test_block_diag_values_dtype(shapes_dtypes):
    g = _rng(1)
    arrays = [(g.standard_normal(s) * 3).astype(d) for s, d in shapes_dtypes]
    ye = ember.block_diag(*[ember.tensor(a) for a in arrays])
    yt = torch.block_diag(*[torch.tensor(a) for a in arrays])
    assert str(ye.dtype).split(".")[-1] == str(yt.dtype).split(".")[-1]
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    assert ye.stride() == yt.stride()
    assert ember.block_diag().shape == tuple(torch.block_diag().shape)


def test_block_diag_node_and_gradients():
    g = _rng(2)
    a = ember.tensor(g.standard_normal((2, 3)), requires_grad=True)
    b = ember.tensor(g.standard_normal(3), requires_grad=True)
    c = ember.tensor(1.5, dtype=ember.float64, requires_grad=True)
    assert _node(ember.block_diag(a, b, c)) == "BlockDiagBackward0"
    assert gradcheck(ember.block_diag, (a, b, c))
    assert gradgradcheck(ember.block_diag, (a, b, c))
    # a float32 input of a float64 result gets its gradient in float32, as torch's
    x = ember.ones(2, 2, requires_grad=True)
    ember.block_diag(x, ember.ones(1, 1, dtype=ember.float64)).sum().backward()
    assert x.grad.dtype == ember.float32
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((2, 2), np.float32))
    with pytest.raises(ValueError):
        ember.block_diag(ember.ones(1, 1, 1))


@pytest.mark.parametrize(
    "args, kwargs",
    [((0, 10, (3, 4)), {}), ((10, (3, 4)), {}), ((10,), {"size": (3, 4)}),
     ((-5, 5), {"size": (3, 4)}), ((10,), {"size": [2, 2]})],
)  # fmt: skip
def test_randint_forms_same_draws(args, kwargs):
    ember.manual_seed(7)
    got = ember.randint(*args, **kwargs)
    ember.manual_seed(7)
    want = ember.creation._randint(*args, **kwargs)  # (the factory itself: its own parsing)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    t = torch.randint(*args, **kwargs)
    assert got.shape == tuple(t.shape) and got.dtype == ember.int64
    low, high = (0, args[0]) if len(args) < 2 or isinstance(args[1], tuple) else args[:2]
    assert got.numpy().min() >= low and got.numpy().max() < high


def test_randint_refusals_match_torch():
    for args in [(5, 5, (2,)), (10, (-1,))]:
        with pytest.raises(RuntimeError):
            torch.randint(*args)
        with pytest.raises(RuntimeError):
            ember.randint(*args)


@pytest.mark.parametrize("dtype", [ember.float32, ember.float64])
@pytest.mark.parametrize(
    "method, args", [("uniform_", ()), ("uniform_", (-2.0, 3.0)), ("normal_", ()),
                     ("normal_", (1.0, 0.5)), ("uniform_", (2.0, 2.0))],
)  # fmt: skip
def test_random_fills_draw_as_init(dtype, method, args):
    ember.manual_seed(3)
    x = getattr(ember.empty(5, 7, dtype=dtype), method)(*args)
    ember.manual_seed(3)
    y = ember.empty(5, 7, dtype=dtype)
    getattr(init, method)(y, *args)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    if method == "uniform_":
        lo, hi = args or (0.0, 1.0)
        assert lo <= x.numpy().min() and x.numpy().max() <= hi


def test_random_fills_refusals_match_torch():
    for lib in (torch, ember):
        with pytest.raises(RuntimeError):
            lib.empty(3).uniform_(2.0, 1.0)
        with pytest.raises(RuntimeError):
            lib.empty(3).normal_(0.0, -1.0)
        with pytest.raises(NotImplementedError):
            lib.zeros(3, dtype=lib.int64).uniform_()
        with pytest.raises(RuntimeError):  # a leaf that requires grad
            lib.zeros(3, requires_grad=True).normal_()
    # a fill is a write: a node that saved the tensor refuses to backward, as torch's
    for lib in (torch, ember):
        w = lib.ones(3, requires_grad=True)
        x = lib.ones(3)
        y = (w * x).sum()
        x.uniform_()
        with pytest.raises(RuntimeError):
            y.backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dot_recorded(dtype):
    g = _rng(4)
    a, b = g.standard_normal(33).astype(dtype), g.standard_normal(33).astype(dtype)
    (ea, ta), (eb, tb) = _both(a, True), _both(b)
    ye, yt = ember.dot(ea, eb), torch.dot(ta, tb)
    np.testing.assert_allclose(ye.item(), yt.item(), rtol=1e-5)
    assert ye.shape == () and _node(ye) == "DotBackward0"
    assert ye.item() == ember.dot(ea.detach(), eb).item()  # the same GEMM either way
    ye.backward()
    yt.backward()
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy())
    x = ember.tensor(g.standard_normal(6), requires_grad=True)
    y = ember.tensor(g.standard_normal(6), requires_grad=True)
    assert gradcheck(ember.dot, (x, y)) and gradgradcheck(ember.dot, (x, y))
    for lib in (torch, ember):
        with pytest.raises(RuntimeError):
            lib.dot(lib.ones(3, requires_grad=True), lib.ones(4))


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("diagonal", [0, 2, -3, 40])
def test_triangle_recorded(name, diagonal):
    a = _rng(5).standard_normal((6, 7)).astype(np.float32)
    (e, t) = _both(a, True)
    ye, yt = getattr(ember, name)(e, diagonal), getattr(torch, name)(t, diagonal)
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    assert _node(ye) == yt.grad_fn.name() and ye.stride() == yt.stride()
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda v: getattr(ember, name)(v, diagonal), (x,))
    assert gradgradcheck(lambda v: getattr(ember, name)(v, diagonal), (x,))


@pytest.mark.parametrize("shifts, dims", [(1, 0), (-7, 1), (3, -1), ((1, 2), (0, 1)), (5, None)])
def test_roll_recorded(shifts, dims):
    a = _rng(6).standard_normal((4, 5)).astype(np.float32)
    (e, t) = _both(a, True)
    ye, yt = ember.roll(e, shifts, dims), torch.roll(t, shifts, dims)
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    assert _node(ye) == "RollBackward0" and ye.stride() == yt.stride()
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda v: ember.roll(v, shifts, dims), (x,))
    assert gradgradcheck(lambda v: ember.roll(v, shifts, dims), (x,))


def test_roll_zero_dim_refused_as_torch():
    for lib in (torch, ember):
        for rg in (False, True):
            with pytest.raises(IndexError):
                lib.roll(lib.tensor(1.0, requires_grad=rg), 1, 0)
        assert lib.roll(lib.tensor(2.0), 1).item() == 2.0


def test_broadcast_tensors_identity_as_torch():
    for lib in (torch, ember):
        a = lib.ones(2, 3, requires_grad=True)
        b, c = lib.ones(3), lib.ones(2, 3)
        assert lib.broadcast_tensors(a)[0] is a
        ra, rb = lib.broadcast_tensors(a, b)
        assert ra is a and rb is not b and tuple(rb.shape) == (2, 3) and rb.stride() == (0, 1)
        r = lib.broadcast_tensors(c, a, b)
        assert r[0] is c and r[1] is a and r[2] is not b
        assert lib.broadcast_tensors() == ()


@pytest.mark.parametrize(
    "sizes, error",
    [((True, 12), TypeError), (12, TypeError), (True, TypeError), ((3.0, 4), TypeError),
     ("tensor34", RuntimeError), ("tensor12", TypeError), ("booltensor", RuntimeError),
     ((3, True, 4), None), ("tensors", None), ((-1, 4), None)],
)  # fmt: skip
def test_unflatten_sizes_as_torch(sizes, error):
    for lib in (torch, ember):
        s = (
            {
                "tensor34": lib.tensor([3, 4]),
                "tensor12": lib.tensor([12]),
                "booltensor": (3, lib.tensor(True), 4),
                "tensors": (lib.tensor(3), lib.tensor(4)),
            }.get(sizes, sizes)
            if isinstance(sizes, str)
            else sizes
        )
        x = lib.ones(2, 12)
        if error is None:
            assert tuple(x.unflatten(1, s).shape) == tuple(
                torch.ones(2, 12).unflatten(1, ((3, 1, 4) if s == (3, True, 4) else (3, 4))).shape
            )
        else:
            with pytest.raises(error):
                x.unflatten(1, s)


@pytest.mark.parametrize("view", ["plain", "t", "slice"])
@pytest.mark.parametrize("dim, start, length", [(0, 1, 2), (1, -3, 2), (-1, 3, 0)])
def test_narrow_copy(view, dim, start, length):
    a = _rng(7).standard_normal((4, 5)).astype(np.float32)
    for rg in (False, True):
        ye, yt = (
            lib.narrow_copy({"plain": x, "t": x.t(), "slice": x[:, ::2]}[view], dim, start, length)
            for lib, x in zip((ember, torch), _both(a, rg))
        )
        np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
        assert ye.stride() == yt.stride()
        assert (ye.grad_fn is None) == (yt.grad_fn is None)
        if rg:
            assert _node(ye) == yt.grad_fn.name() == "NarrowCopyBackward0"
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda v: ember.narrow_copy(v, 1, 1, 3), (x,))
    assert gradgradcheck(lambda v: ember.narrow_copy(v, 0, -2, 2), (x,))
    for lib in (torch, ember):
        with pytest.raises(IndexError):
            lib.narrow_copy(lib.ones(4, 5), 0, 5, 1)
        with pytest.raises(RuntimeError):
            lib.narrow_copy(lib.ones(4, 5), 0, 2, 3)


@pytest.mark.parametrize("layout", ["c", "t", "slice", "t_slice", "row", "col"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_addr_result_layout(layout, requires_grad):
    g = _rng(8)
    base = {"c": (4, 3), "t": (3, 4), "slice": (8, 3), "t_slice": (3, 8), "row": (3,),
            "col": (4, 1)}[layout]  # fmt: skip
    a, v, w = g.standard_normal(base), g.standard_normal(4), g.standard_normal(3)
    outs = []
    for lib in (torch, ember):
        x = lib.tensor(a, requires_grad=requires_grad)
        x = {"t": x.t, "slice": lambda t=x: t[::2], "t_slice": lambda t=x: t.t()[::2]}.get(
            layout, lambda t=x: t
        )()
        for kw in ({}, {"beta": 0}, {"alpha": 2.0, "beta": 0.5}):
            y = lib.addr(x, lib.tensor(v), lib.tensor(w), **kw)
            outs.append((y.detach().numpy(), y.stride()))
    n = len(outs) // 2
    for (vt, st), (ve, se) in zip(outs[:n], outs[n:]):
        np.testing.assert_allclose(ve, vt, rtol=1e-12)
        assert se == st


def test_addr_transposed_gradients():
    g = _rng(9)
    c = ember.tensor(g.standard_normal((3, 4))).t().requires_grad_()
    v = ember.tensor(g.standard_normal(4), requires_grad=True)
    w = ember.tensor(g.standard_normal(3), requires_grad=True)
    assert gradcheck(lambda c, v, w: ember.addr(c, v, w, beta=0.5, alpha=2.0), (c, v, w))


@pytest.mark.parametrize("k", [0, 1, 2, 3, -1, 6])
@pytest.mark.parametrize("dims", [(0, 1), (1, 2), (2, 0), (-1, -2)])
def test_rot90_node_values_strides(k, dims):
    a = np.arange(24.0).reshape(2, 3, 4)
    for make in (lambda x: x, lambda x: x.transpose(0, 2), lambda x: x[:, ::2]):
        for rg in (False, True):
            ye, yt = (lib.rot90(make(x), k, dims) for lib, x in zip((ember, torch), _both(a, rg)))
            np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
            assert ye.stride() == yt.stride()
            if rg:
                assert _node(ye) == yt.grad_fn.name() == "Rot90Backward0"
    x = ember.tensor(_rng(10).standard_normal((3, 4, 2)), requires_grad=True)
    assert gradcheck(lambda v: ember.rot90(v, k, dims), (x,))
    assert gradgradcheck(lambda v: ember.rot90(v, k, dims), (x,))


@pytest.mark.parametrize("value", [1.5, -2, 0.0])
def test_masked_fill_recorded(value):
    g = _rng(11)
    a, m = g.standard_normal((6, 7)), g.standard_normal((6, 7)) > 0
    (e, t) = _both(a, True)
    ye, yt = e.masked_fill(ember.tensor(m), value), t.masked_fill(torch.tensor(m), value)
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    assert _node(ye) == yt.grad_fn.name() == "MaskedFillBackward0"
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    x = ember.tensor(a, requires_grad=True)
    assert gradcheck(lambda v: v.masked_fill(ember.tensor(m), value), (x,))
