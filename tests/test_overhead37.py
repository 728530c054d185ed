"""overhead37: the small-op paths made cheaper -- Function.apply's common case in C, MatMul's
matrix-vector products, Tensor.sum through ops.sum, x[:, i] and x[a:b] outside the graph,
index_copy_'s kernel, chunk/split's view marks, float binary ops with a transposed or an
integer operand, cumsum/cumprod over a short last dim, linspace -- against torch or NumPy on
the fast and the general cases; scatter's bad input refused in torch's RuntimeError family."""

import numpy as np
import pytest
from test_double_backward import _Cube

import ember
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _close(e, t, **kw):
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), **kw)


# ---- Function.apply (the C common case and the Python one) -----------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_recorded_ops_values_grads_and_names(dtype):
    r = _rng(1)
    a, b = r.standard_normal((4, 5)).astype(dtype), r.standard_normal((4, 5)).astype(dtype)
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    outs = []
    for x, y in ((ea, eb), (ta, tb)):
        z = (x * y).exp() + x.relu() - y.t().t() / 3.0
        s = z.sum(1)
        outs.append((z, s, s.sum()))
    for e, t in zip(outs[0], outs[1]):
        _close(e, t, rtol=1e-5)
        assert e.grad_fn.name() == t.grad_fn.name()
    outs[0][2].backward()
    outs[1][2].backward()
    _close(ea.grad, ta.grad, rtol=1e-5)
    _close(eb.grad, tb.grad, rtol=1e-5)


def test_apply_keeps_hooks_retain_grad_and_modes():
    grads = []
    for m in (ember, torch):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        seen = []
        y = x * x
        y.retain_grad()
        y.register_hook(lambda g, seen=seen: seen.append(g.numpy().copy()) or g * 2)
        y.sum().backward()
        grads.append((seen[0], x.grad.numpy(), y.grad.numpy()))
    for e, t in zip(*grads):
        np.testing.assert_array_equal(e, t)
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with ember.no_grad():
        z = x * x
    assert not z.requires_grad and z.grad_fn is None
    with ember.inference_mode():
        w = x * 2.0
    assert w.is_inference() and not w.requires_grad
    with pytest.warns(UserWarning, match="Anomaly"), ember.autograd.detect_anomaly():
        u = x.exp()
    assert "test_overhead37" in "".join(u.grad_fn._fw_stack[-1:])  # (the caller's line last)


def test_apply_version_counter_and_saved_tensor_hooks():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = y * y  # (saves y)
    y.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()
    packed = []
    with ember.autograd.graph.saved_tensors_hooks(lambda t: packed.append(1) or t, lambda t: t):
        q = x * x
    q.sum().backward()
    assert packed  # the saved operands went through pack
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])


def test_apply_parameter_and_custom_function_take_the_python_path():
    p = ember.nn.Parameter(ember.tensor([1.0, -2.0]))
    y = (p * p).sum()
    y.backward()
    np.testing.assert_array_equal(p.grad.numpy(), [2.0, -4.0])

    x = ember.tensor(_rng(2).standard_normal(4), requires_grad=True)
    assert gradcheck(_Cube.apply, (x,))
    assert _Cube.apply(x).grad_fn.name() == "_CubeBackward"


def test_apply_create_graph_second_derivative():
    x = ember.tensor(_rng(3).standard_normal((3, 3)), requires_grad=True)
    assert gradgradcheck(lambda t: (t * t.exp()).sum(1), (x,))


# ---- MatMul: matrix-vector products ------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("vec_first", [False, True])
@pytest.mark.parametrize("layout", ["c", "t", "sliced"])
def test_matvec_recorded_against_torch(dtype, vec_first, layout):
    r = _rng(4)
    m = r.standard_normal((7, 6)).astype(dtype)
    if layout == "t":
        m = m.T.copy().T  # (column-major)
    v = r.standard_normal(7 if vec_first else 6).astype(dtype)
    em, ev = ember.tensor(m, requires_grad=True), ember.tensor(v, requires_grad=True)
    tm, tv = torch.tensor(m, requires_grad=True), torch.tensor(v, requires_grad=True)
    if layout == "sliced":
        em2, tm2 = em[:, ::1][:5] if not vec_first else em, tm[:, ::1][:5] if not vec_first else tm
    else:
        em2, tm2 = em, tm
    ey = ev @ em2 if vec_first else em2 @ ev
    ty = tv @ tm2 if vec_first else tm2 @ tv
    tol = 1e-5 if dtype == np.float32 else 1e-12
    _close(ey, ty, rtol=tol, atol=tol)
    g = r.standard_normal(ty.shape).astype(dtype)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))
    _close(em.grad, tm.grad, rtol=tol, atol=tol)
    _close(ev.grad, tv.grad, rtol=tol, atol=tol)
    if not vec_first:
        assert ey.grad_fn.name() == "MvBackward0"


def test_matvec_gradcheck_one_side_requiring_grad():
    r = _rng(5)
    m = ember.tensor(r.standard_normal((4, 3)), requires_grad=True)
    v = ember.tensor(r.standard_normal(3))
    assert gradcheck(lambda a: a @ v, (m,))
    assert gradcheck(lambda a: v @ a.t(), (m,))
    w = ember.tensor(r.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda a, b: b @ a, (m, w))
    assert gradgradcheck(lambda a, b: a.t() @ b, (m, w))


# ---- Tensor.sum through ops.sum ------------------------------------------------------------------


@pytest.mark.parametrize("args", [(), (0,), (1,), (-1,), (1, True), (None, True)])
def test_tensor_sum_names_values_grads(args):
    a = _rng(6).standard_normal((3, 4)).astype(np.float32)
    e, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    if args and args[0] is None:
        es, ts = e.sum(keepdim=True), t.sum((0, 1), keepdim=True)
    else:
        es, ts = e.sum(*args), t.sum(*args)
    _close(es, ts, rtol=1e-6)
    assert es.grad_fn.name() == ts.grad_fn.name()
    es.sum().backward()
    ts.sum().backward()
    _close(e.grad, t.grad)
    with ember.no_grad():
        assert e.sum(0).grad_fn is None
    np.testing.assert_allclose(e.sum(axis=1).detach().numpy(), a.sum(axis=1), rtol=1e-6)


def test_sum_of_one_dim_vector_named_as_torch():
    e, t = ember.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    assert e.sum(0).grad_fn.name() == t.sum(0).grad_fn.name() == "SumBackward1"
    assert e.sum().grad_fn.name() == t.sum().grad_fn.name() == "SumBackward0"


# ---- indexing ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "shape,key",
    [
        ((32, 32), (slice(None), [3, 1, 7, 0, 5])),
        ((4, 5, 6), (slice(None), [4, 0, 0])),
        ((4, 5, 6), (slice(None), slice(None), [5, -1])),
        ((3, 4), (slice(None), [])),
        ((0, 4), (slice(None), [1, 2])),
        ((3, 1), (slice(None), [0, 0])),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_column_select_against_torch(shape, key, dtype):
    a = (_rng(7).standard_normal(shape) * 9).astype(dtype)
    ek = tuple(ember.tensor(np.array(k, np.int64)) if type(k) is list else k for k in key)
    tk = tuple(torch.tensor(np.array(k, np.int64)) if type(k) is list else k for k in key)
    e, t = ember.tensor(a)[ek], torch.tensor(a)[tk]
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    np.testing.assert_array_equal(
        e.numpy(), a[tuple(np.array(k, np.int64) if type(k) is list else k for k in key)]
    )


def test_column_select_refusals_and_graph():
    x = ember.ones(3, 4)
    with pytest.raises(IndexError):
        x[:, ember.tensor([4])]
    with pytest.raises(IndexError):
        x[:, ember.tensor([-5])]
    g = ember.tensor(_rng(8).standard_normal((3, 4)), requires_grad=True)
    i = ember.tensor([2, 0, 2])
    assert gradcheck(lambda t: t[:, i], (g,))
    with ember.no_grad():
        y = g[:, i]
    assert not y.requires_grad


@pytest.mark.parametrize(
    "key", [slice(1, 3), slice(None), slice(0, 5, 2), slice(-2, None), slice(2, 2)]
)
def test_slice_view_against_torch(key):
    a = np.arange(20.0).reshape(5, 4)
    e, t = ember.tensor(a), torch.tensor(a)
    ev, tv = e[key], t[key]
    np.testing.assert_array_equal(ev.numpy(), tv.numpy())
    assert ev.stride() == tv.stride()
    if ev.numel():
        ev.mul_(-1)  # (a view: the write shows in x)
        tv.mul_(-1)
        np.testing.assert_array_equal(e.numpy(), t.numpy())


# ---- index_copy_ ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_index_copy_inplace_against_torch(dim, dtype):
    r = _rng(9)
    a = r.standard_normal((6, 5)).astype(dtype)
    idx = np.array([4, 0, 2])
    shape = list(a.shape)
    shape[dim] = 3
    s = (r.standard_normal(shape) * 7).astype(dtype)
    e, t = ember.tensor(a), torch.tensor(a)
    assert e.index_copy_(dim, ember.tensor(idx), ember.tensor(s)) is e
    t.index_copy_(dim, torch.tensor(idx), torch.tensor(s))
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def test_index_copy_repeats_strided_and_errors():
    r = _rng(10)
    a, s = r.standard_normal((5, 3)), r.standard_normal((3, 3))
    e = ember.tensor(a)
    e.index_copy_(0, ember.tensor([1, 1, 3]), ember.tensor(s))
    ref = a.copy()
    ref[[1, 1, 3]] = s  # (NumPy's assignment: a repeat keeps the last)
    np.testing.assert_array_equal(e.numpy(), ref)
    # a non-contiguous self and source: the general path, same values as torch
    base = ember.tensor(a.T.copy()).t()
    tb = torch.tensor(a.T.copy()).t()
    src = ember.tensor(s.T.copy()).t()
    base.index_copy_(0, ember.tensor([0, 2, 4]), src)
    tb.index_copy_(0, torch.tensor([0, 2, 4]), torch.tensor(s.T.copy()).t())
    np.testing.assert_array_equal(base.numpy(), tb.numpy())
    x = ember.tensor(a)
    with pytest.raises(IndexError, match="index_copy"):
        x.index_copy_(0, ember.tensor([0, 5, 1]), ember.tensor(s))
    np.testing.assert_array_equal(x.numpy(), a)  # (checked before any write)
    with pytest.raises(IndexError, match="index_copy"):
        x.index_copy_(0, ember.tensor([0, 1]), ember.tensor(s))
    with pytest.raises(TypeError):
        x.index_copy_(0, ember.tensor([0, 1, 2]), ember.tensor(s.astype(np.float32)))


# ---- chunk / split -----------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [0, 1])
def test_chunk_split_views_against_torch(dim):
    a = np.arange(42.0).reshape(6, 7)
    e, t = ember.tensor(a), torch.tensor(a)
    for ep, tp in zip(e.chunk(3, dim), t.chunk(3, dim)):
        np.testing.assert_array_equal(ep.numpy(), tp.numpy())
        assert ep.stride() == tp.stride()
    for ep, tp in zip(e.split(4, dim), t.split(4, dim)):
        np.testing.assert_array_equal(ep.numpy(), tp.numpy())
    e.chunk(2, dim)[1].zero_()
    t.chunk(2, dim)[1].zero_()
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    # as torch: a piece of a multi-output view refuses an in-place write of a graph value
    w = ember.ones(1, requires_grad=True)
    with pytest.raises(RuntimeError):
        e.chunk(2, dim)[0].add_(w * 2)
    v = e[1:]  # a view's pieces link to its root, as torch's _base
    p = v.chunk(2)[0]
    assert p._view_of is e


# ---- binary ops: a transposed operand, an integer operand --------------------------------------


@pytest.mark.parametrize("op", ["add", "sub", "mul", "truediv"])
@pytest.mark.parametrize(
    "dtypes",
    [("float32", "float32"), ("float32", "int64"), ("int32", "float64"), ("float64", "uint8")],
)
@pytest.mark.parametrize("layout", ["cc", "ct", "tc", "tt"])
def test_binary_transposed_and_mixed_against_torch(op, dtypes, layout):
    import operator

    fn = getattr(operator, op)
    r = _rng(11)
    shapes = [(5, 7) if c == "c" else (7, 5) for c in layout]
    arrs = [(r.standard_normal(s) * 4 + 0.5).astype(d) for s, d in zip(shapes, dtypes)]
    es = [ember.tensor(x) if c == "c" else ember.tensor(x).t() for x, c in zip(arrs, layout)]
    ts = [torch.tensor(x) if c == "c" else torch.tensor(x).t() for x, c in zip(arrs, layout)]
    e, t = fn(*es), fn(*ts)
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)
    assert e.stride() == t.stride()


def test_binary_transposed_with_grad_and_empty():
    r = _rng(12)
    a = ember.tensor(r.standard_normal((4, 3)), requires_grad=True)
    b = ember.tensor(r.standard_normal((3, 4)))
    assert gradcheck(lambda x: x + b.t(), (a,))
    assert gradcheck(lambda x: x.t() * b, (a,))
    z = ember.zeros(0, 3) + ember.zeros(3, 0).t()
    assert z.shape == (0, 3)


# ---- cumsum / cumprod over a short last dim, linspace --------------------------------------------


@pytest.mark.parametrize("shape", [(7, 1), (5, 2), (9, 3), (4, 5), (3, 8), (2, 3, 4), (1000, 3)])
def test_cumsum_cumprod_short_rows_exact(shape):
    d = _rng(13).standard_normal(shape)
    e = ember.tensor(d)
    # float64 sums in order, as NumPy's (exactly)
    np.testing.assert_array_equal(e.cumsum(-1).numpy(), np.cumsum(d, -1))
    np.testing.assert_array_equal(e.cumprod(-1).numpy(), np.cumprod(d, -1))
    f = d.astype(np.float32)
    np.testing.assert_allclose(
        ember.tensor(f).cumsum(-1).numpy(), torch.tensor(f).cumsum(-1).numpy(), rtol=1e-5, atol=1e-6
    )
    flipped = ember.tensor(d).flip(-1).cumsum(-1).flip(-1)
    np.testing.assert_allclose(flipped.numpy(), np.cumsum(d[..., ::-1], -1)[..., ::-1], rtol=1e-12)


def test_cumsum_short_rows_threads_and_grad():
    d = _rng(14).standard_normal((70000, 2))
    ref = np.cumsum(d, -1)
    old = ember.get_num_threads()
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            np.testing.assert_array_equal(ember.tensor(d).cumsum(1).numpy(), ref)
    finally:
        ember.set_num_threads(old)
    x = ember.tensor(_rng(15).standard_normal((5, 3)), requires_grad=True)
    assert gradcheck(lambda t: t.cumsum(1), (x,))
    assert gradcheck(lambda t: t.cumprod(-1), (x,))


@pytest.mark.parametrize(
    "ends", [(0, 1, 32), (-3.3, 7.1, 1001), (2.0, -2.0, 5), (0, 1, 2), (1, 1, 4)]
)
def test_linspace_repeats_numpy(ends):
    for _ in range(2):  # (the second call reads the kept counts)
        e = ember.linspace(*ends)
        np.testing.assert_array_equal(e.numpy(), np.linspace(*ends, dtype=np.float32))
    e.add_(1.0)  # (a fresh array each call: the kept counts are not its memory)
    np.testing.assert_array_equal(
        ember.linspace(*ends).numpy(), np.linspace(*ends, dtype=np.float32)
    )


# ---- scatter / scatter_add: torch's RuntimeError family ------------------------------------------


@pytest.mark.parametrize("op", ["scatter", "scatter_", "scatter_add", "scatter_add_"])
@pytest.mark.parametrize("grad", [False, True])
def test_scatter_bad_input_runtime_errors(op, grad):
    def args(m):
        s = m.ones(3, 2, requires_grad=grad)
        return m.zeros(3, 4), s

    words = "index {} is out of bounds for dimension 1 with size 4"
    for bad, v in (([[0, 5], [1, 2], [0, 0]], 5), ([[0, -1], [1, 2], [0, 0]], -1)):
        x, s = args(ember)
        tx, ts = args(torch)
        with pytest.raises(RuntimeError):
            getattr(tx, op)(1, torch.tensor(bad), ts)
        with pytest.raises(RuntimeError, match=words.format(v)) as info:
            getattr(x, op)(1, ember.tensor(bad), s)
        assert isinstance(info.value, IndexError)  # (and the IndexError ember raised before)
        np.testing.assert_array_equal(x.numpy(), np.zeros((3, 4)))
    x, s = args(ember)
    with pytest.raises(RuntimeError, match="int32/int64") as info:
        getattr(x, op)(1, ember.tensor([[0.0, 1.0], [1, 2], [0, 0]]), s)
    assert isinstance(info.value, TypeError)
    with pytest.raises(RuntimeError, match="dtypes must match") as info:
        getattr(x, op)(1, ember.tensor([[0, 1], [1, 2], [0, 0]]), s.double())
    assert isinstance(info.value, TypeError)
