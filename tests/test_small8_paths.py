"""small8's per-call cost cuts: each fast path gives exactly what the general path (or
PyTorch) gives -- values, dtype, shape, strides, gradients -- and the same errors."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


# ---- sort by ranks (csrc/ops/select.cpp's rank_order: rows of up to 64) ----------------------
@pytest.mark.parametrize("n", [1, 2, 3, 17, 31, 32, 33, 63, 64])
@pytest.mark.parametrize("descending", [False, True])
def test_short_rows_sort_as_torch_with_and_without_ties(n, descending):
    rng = np.random.default_rng(n)
    distinct = np.stack([rng.permutation(n) for _ in range(6)]).astype(np.float32) - n / 3
    tied = rng.integers(-3, 3, (6, n)).astype(np.float32)  # many ties: the pair sort's order
    last = distinct.copy()
    if n > 1:
        last[:, -1] = last[:, -2]  # one tie, between the last two keys
    for x in (distinct, tied, last):
        ref = torch.sort(torch.from_numpy(x), 1, descending=descending)
        np.testing.assert_array_equal(_C.sort_indices(x, descending), ref.indices.numpy())
        v, i = ember.tensor(x).sort(1, descending=descending)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


# ---- kernels without an OpenMP team at one thread (softmax.cpp, select.cpp, bind_gemm.cpp) ----
@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (32, 32), (4, 3, 70), (300, 130)])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_bits_do_not_depend_on_the_thread_count(shape, log):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    outs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        try:
            for dim in range(len(shape)):
                y = _C.softmax_forward(np.ascontiguousarray(x), dim, log)
                dx = _C.softmax_backward(y, np.ones_like(y), dim, log)
                outs.append((dim, y, dx))
        finally:
            ember.set_num_threads(1)
    half = len(outs) // 2
    for (d1, y1, g1), (d2, y2, g2) in zip(outs[:half], outs[half:], strict=True):
        assert d1 == d2
        np.testing.assert_array_equal(y1, y2)
        np.testing.assert_array_equal(g1, g2)
    ref = (torch.log_softmax if log else torch.softmax)(torch.from_numpy(x), -1).numpy()
    np.testing.assert_allclose(outs[half - 1][1], ref, rtol=1e-6, atol=1e-6)


def test_batched_matmul_at_one_thread_matches_numpy():
    rng = np.random.default_rng(2)
    a = rng.standard_normal((5, 4, 3)).astype(np.float64)
    b = rng.standard_normal((5, 3, 6)).astype(np.float64)
    np.testing.assert_allclose(_C.matmul(a, b, False, False), a @ b, rtol=1e-12)


# ---- Tensor's + - * / and parameterless unary methods straight (tensor.py) ------------------
_SHAPE_PAIRS = [
    ((32, 32), (32, 32)),  # one shape
    ((32, 32), ()),  # one value, 0-d
    ((32, 32), (1, 1)),  # one value, 2-D
    ((1, 1), (32, 32)),  # one value on the left
    ((16,), (1, 1)),  # one value of more dims: the result has them
    ((8, 32), (32,)),  # a row
    ((8, 32), (8, 1)),  # a column
    ((1, 32), (8, 1)),  # both broadcast: not the kernel's
    ((3, 4), (3, 4)),  # under 16 elements
    ((2, 3, 20), (3, 1)),
]
_GENERAL = {"add": "__add__", "sub": "__sub__", "mul": "__mul__", "div": "__truediv__"}


def _same(a, b):
    assert type(a) is ember.Tensor and type(b) is ember.Tensor
    assert a.dtype == b.dtype and a.shape == b.shape and a.stride() == b.stride()
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.requires_grad == b.requires_grad


@pytest.mark.parametrize("shapes", _SHAPE_PAIRS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
@pytest.mark.parametrize("op", list(_GENERAL))
def test_binary_operators_give_the_general_paths_result(shapes, dtype, op):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal(shapes[0]) * 5).astype(dtype)
    b = (rng.standard_normal(shapes[1]) * 5 + 20).astype(dtype)  # (no 0 divisor)
    general = getattr(ember.ops, op)
    for x, y in ((a, b), (a.T, b.T) if a.ndim == b.ndim == 2 else (a, b)):
        ex, ey = ember.tensor(np.asarray(x)), ember.tensor(np.asarray(y))
        if not x.flags.c_contiguous:
            ex = ember.tensor(a).T  # a strided view: the general path's
        out = getattr(ex, _GENERAL[op])(ey)
        _same(out, general(ex, ey))
        ref = getattr(torch.from_numpy(np.ascontiguousarray(ex.numpy())), _GENERAL[op])(
            torch.from_numpy(ey.numpy())
        )
        assert out.shape == tuple(ref.shape)
        if dtype in (np.float32, np.float64):
            np.testing.assert_array_equal(out.numpy(), ref.numpy())


@pytest.mark.parametrize("op", list(_GENERAL))
def test_binary_operators_mixed_dtypes_grad_and_errors_as_the_general_path(op):
    a = ember.tensor(np.linspace(1, 2, 32 * 32, dtype=np.float32).reshape(32, 32))
    b = ember.tensor(np.linspace(3, 4, 32 * 32).reshape(32, 32))  # float64: promotion
    meth, general = _GENERAL[op], getattr(ember.ops, op)
    _same(getattr(a, meth)(b), general(a, b))
    # a Tensor requiring grad: the node, with torch's gradients
    x = ember.tensor(a.numpy().astype(np.float64), requires_grad=True)
    y = ember.tensor(b.numpy(), requires_grad=True)
    out = getattr(x, meth)(y)
    assert out.requires_grad and out.grad_fn is not None
    out.sum().backward()
    tx = torch.tensor(x.numpy(), requires_grad=True)
    ty = torch.tensor(y.numpy(), requires_grad=True)
    getattr(tx, meth)(ty).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy(), ty.grad.numpy(), rtol=1e-12)
    with ember.no_grad():
        _same(getattr(x, meth)(y), general(x.detach(), y.detach()))
    # shapes that do not broadcast: the general path's error
    with pytest.raises(ValueError, match=r"\(32, 32\).*\(3, 32\)|\(3, 32\).*\(32, 32\)"):
        getattr(a, meth)(ember.tensor(np.ones((3, 32), np.float32)))


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh", "sigmoid", "relu"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16, np.int64])
def test_unary_methods_give_the_general_paths_result(name, dtype):
    a = (np.random.default_rng(4).random((32, 32)) * 3 + 0.5).astype(dtype)
    general = {"tanh": ember.nn.functional.tanh, "sigmoid": ember.nn.functional.sigmoid,
               "relu": ember.nn.functional.relu}.get(name) or getattr(ember.ops, name)  # fmt: skip
    for t in (ember.tensor(a), ember.tensor(a).T, ember.tensor(a)[:, ::2]):
        _same(getattr(t, name)(), general(t))
    if dtype in (np.float32, np.float64):
        ref = getattr(torch.from_numpy(a), name)().numpy()
        np.testing.assert_allclose(getattr(ember.tensor(a), name)().numpy(), ref, rtol=2e-6)
        x = ember.tensor(a.astype(np.float64), requires_grad=True)
        getattr(x, name)().sum().backward()
        tx = torch.tensor(a.astype(np.float64), requires_grad=True)
        getattr(tx, name)().sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


# ---- matmul, softmax, hypot and atan2 straight (ops.py, nn/functional.py) ---------------------
def _layouts(a):
    """a, its transpose's copy seen transposed (column-major), a strided slice of rows."""
    big = np.concatenate([a, a])
    return [a, np.ascontiguousarray(a.T).T, big[::2]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_straight_matches_the_node_path_and_torch(dtype):
    rng = np.random.default_rng(5)
    a = rng.standard_normal((32, 24)).astype(dtype)
    b = rng.standard_normal((24, 16)).astype(dtype)
    for x in _layouts(a):
        for y in _layouts(b):
            ex, ey = ember.tensor(a), ember.tensor(b)
            ex.data, ey.data = x, y  # (the layouts themselves, not copies)
            out = ex @ ey
            node = ember.ops.MatMul.apply(ex, ey)  # the general path
            _same(out, node)
            np.testing.assert_allclose(
                out.numpy(), x @ y, rtol=1e-5 if dtype == np.float32 else 1e-12
            )
    with pytest.raises(TypeError, match="one dtype"):
        ember.tensor(a) @ ember.tensor(b.astype(np.float16))
    with pytest.raises(ValueError, match="cannot be multiplied"):
        ember.tensor(a) @ ember.tensor(a)
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    (x @ ember.tensor(b.astype(np.float64))).sum().backward()
    tx = torch.tensor(a.astype(np.float64), requires_grad=True)
    (tx @ torch.tensor(b.astype(np.float64))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_softmax_straight_matches_the_node_path_and_torch(log, dtype):
    F = ember.nn.functional
    f, tf = (F.log_softmax, torch.log_softmax) if log else (F.softmax, torch.softmax)
    a = np.random.default_rng(6).standard_normal((8, 32)).astype(dtype)
    for x in _layouts(a):
        t = ember.tensor(a)
        t.data = x
        for dim in (0, 1, -1):
            out = f(t, dim)
            _same(out, ember.nn.functional.Softmax.apply(t, dim % 2, log))
            np.testing.assert_allclose(out.numpy(), tf(torch.from_numpy(x.copy()), dim).numpy(),
                                       rtol=1e-6, atol=1e-7)  # fmt: skip
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    (f(x, 1) * ember.tensor(np.arange(32.0))).sum().backward()
    tx = torch.tensor(a.astype(np.float64), requires_grad=True)
    (tf(tx, 1) * torch.arange(32.0, dtype=torch.float64)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    with pytest.raises(IndexError):
        f(ember.tensor(a), 2)


@pytest.mark.parametrize("name", ["hypot", "atan2"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_hypot_atan2_straight_match_torch_and_refuse_complex(name, dtype):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((32, 32)).astype(dtype)
    b = rng.standard_normal((32, 32)).astype(dtype)
    f, tf = getattr(ember, name), getattr(torch, name)
    for x in _layouts(a):
        t = ember.tensor(a)
        t.data = x
        out = f(t, ember.tensor(b))
        assert out.dtype == dtype and out.shape == (32, 32)
        assert out.stride() == tf(torch.from_numpy(x), torch.from_numpy(b)).stride()  # (torch's)
        numpy_f = np.arctan2 if name == "atan2" else np.hypot  # (the general path's f)
        np.testing.assert_array_equal(out.numpy(), numpy_f(x, b))
        ref = tf(torch.from_numpy(x.copy()), torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(out.numpy(), ref, rtol=1e-6, atol=1e-7)
    x = ember.tensor(a.astype(np.float64), requires_grad=True)
    f(x, ember.tensor(b.astype(np.float64))).sum().backward()
    tx = torch.tensor(a.astype(np.float64), requires_grad=True)
    tf(tx, torch.tensor(b.astype(np.float64))).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    z = ember.tensor(np.ones(3, np.complex64))
    with pytest.raises(TypeError, match="complex"):
        f(z, z)


# ---- autograd nodes made straight: sort/topk, cumsum, binary maths, unary methods -------------
def _grads_match(f_e, f_t, arrays, rtol=1e-12):
    xs = [ember.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    ye, yt = f_e(*xs), f_t(*ts)
    ye, yt = (ye[0], yt[0]) if isinstance(ye, tuple) else (ye, yt)
    assert ye.grad_fn is not None and ye.requires_grad
    assert ye.shape == tuple(yt.shape) and ye.dtype == np.float64
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    w = np.random.default_rng(9).standard_normal(ye.shape)
    (ye * ember.tensor(w)).sum().backward()
    (yt * torch.tensor(w)).sum().backward()
    for x, t in zip(xs, ts, strict=True):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=1e-13)


@pytest.mark.parametrize("shape", [(6, 32), (2, 3, 10)])
def test_sort_topk_cumsum_in_the_graph_match_torch(shape):
    a = np.random.default_rng(10).standard_normal(shape)
    _grads_match(lambda x: x.sort(-1), lambda x: x.sort(-1), [a])
    _grads_match(lambda x: x.sort(-1, descending=True), lambda x: x.sort(-1, descending=True), [a])
    _grads_match(lambda x: x.topk(3, -1), lambda x: x.topk(3, -1), [a])
    _grads_match(
        lambda x: x.topk(2, -1, largest=False), lambda x: x.topk(2, -1, largest=False), [a]
    )
    for d in range(-len(shape), len(shape)):
        _grads_match(lambda x, d=d: x.cumsum(d), lambda x, d=d: x.cumsum(d), [a])
    # the indices too, and the node's name
    x = ember.tensor(a, requires_grad=True)
    v, i = x.topk(3, -1)
    np.testing.assert_array_equal(i.numpy(), torch.from_numpy(a).topk(3, -1).indices.numpy())
    assert not i.requires_grad and i.dtype == np.int64


def test_binary_maths_matmul_and_unary_methods_in_the_graph_match_torch():
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((8, 16)), rng.standard_normal((8, 16))
    for name in ("hypot", "atan2"):
        _grads_match(getattr(ember, name), getattr(torch, name), [a, b])
    _grads_match(lambda x, y: x @ y.T, lambda x, y: x @ y.T, [a, b])
    p = np.abs(a) + 0.1
    for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu"):
        _grads_match(lambda x, n=name: getattr(x, n)(), lambda x, n=name: getattr(x, n)(), [p])
    # one operand a constant (no grad), float32: the same node and dtype as the general path
    x = ember.tensor(a.astype(np.float32), requires_grad=True)
    y = ember.hypot(x, ember.tensor(b.astype(np.float32)))
    assert y.dtype == np.float32 and y.grad_fn is not None


def test_cumsum_along_a_dim_binding_and_its_refusals():
    x = np.random.default_rng(12).standard_normal((3, 4, 5)).astype(np.float32)
    for d in (-3, -1, 0, 1, 2):
        np.testing.assert_array_equal(
            _C.cumsum(x, False, d), torch.from_numpy(x).cumsum(d).numpy()
        )  # (torch accumulates float32 in double too)
    with pytest.raises(ValueError, match="out of range"):
        _C.cumsum(x, False, 3)
    with pytest.raises(ValueError, match="contiguous"):
        _C.cumsum(x.transpose(1, 0, 2), False, 0)
    with pytest.raises(ValueError, match="3-D"):
        _C.cumsum(x[0])  # without dim: (outer, n, inner) as before
    with pytest.raises(IndexError):
        ember.tensor(x).cumsum(3)


@pytest.mark.parametrize("stack", [False, True])
def test_cat_stack_straight_match_the_general_path(stack):
    f = ember.stack if stack else ember.cat
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    ta, tb = ember.tensor(a), ember.tensor(a + 1)
    for dim in (0, 1, -1, np.int64(1)):
        out = f([ta, tb], dim)
        ref = (torch.stack if stack else torch.cat)(
            [torch.from_numpy(a), torch.from_numpy(a + 1)], int(dim)
        )
        np.testing.assert_array_equal(out.numpy(), ref.numpy())
        assert out.dtype == np.float32 and type(out) is ember.Tensor
    # mixed dtypes are promoted; a Tensor in the graph makes the node; a bad dim is refused
    assert f([ta, ember.tensor(a.astype(np.float64))]).dtype == np.float64
    g = ember.tensor(a, requires_grad=True)
    assert f([g, tb]).grad_fn is not None
    with pytest.raises(IndexError):
        f([ta, tb], 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize("bounds", [(-0.5, 0.5), (None, 0.2), (0, None), (1, -1), (-1, 2.5)])
def test_clamp_straight_matches_the_node_path_and_torch(dtype, bounds):
    a = np.random.default_rng(13).standard_normal((8, 16)).astype(dtype)
    a[0, :3] = [np.nan, -0.0, 0.0]
    lo, hi = bounds
    for t in (ember.tensor(a), ember.tensor(a).T):
        out = t.clamp(lo, hi)
        _same(out, ember.ops.Clamp.apply(t, lo, hi))  # the general path's node, outside autograd
        _same(t.clip(lo, hi), out)
        ref = torch.from_numpy(np.ascontiguousarray(t.numpy())).clamp(lo, hi).numpy()
        np.testing.assert_array_equal(out.numpy(), ref)
        np.testing.assert_array_equal(np.signbit(out.numpy()), np.signbit(ref))  # -0.0 kept
    if dtype == np.float64:
        _grads_match(lambda x: x.clamp(lo, hi), lambda x: x.clamp(lo, hi), [a[1:]])


# ---- reduce.cpp's column kernels and fills without a team at one thread ------------------------
@pytest.mark.parametrize("shape", [(32, 32), (3, 40, 300), (700, 200)])
def test_column_reductions_do_not_depend_on_the_thread_count(shape):
    x = np.random.default_rng(14).standard_normal(shape)
    x32 = x.astype(np.float32)
    runs = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        try:
            t = ember.tensor(x32)
            g = ember.tensor(x32, requires_grad=True)
            g.sum(-1).sum().backward()  # fill_rows
            runs.append(
                [
                    t.var(0),
                    t.prod(0),
                    t.cumsum(0),
                    t.logsumexp(0),
                    g.grad,
                    ember.zeros(512, 1024),
                ]  # (zeros: _C.fill)
            )
        finally:
            ember.set_num_threads(1)
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    tt = torch.from_numpy(x32)
    for ours, ref in zip(runs[0][:4], (tt.var(0), tt.prod(0), tt.cumsum(0), tt.logsumexp(0))):
        np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=2e-5, atol=1e-6)
    np.testing.assert_array_equal(runs[0][4].numpy(), np.ones(shape, np.float32))
