"""Speed paths of the 1-thread benchmark rows where ember trailed torch: each against an
independent reference (np.add.at's exact order, the slow path it replaces, or torch)."""

import numpy as np
import pytest

import ember
from ember import _C

# ---- index_add's row kernel: whole column ranges per thread ----------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("D", [1, 63, 64, 65, 200, 1024])
def test_index_add_rows_is_np_add_at_bit_for_bit_at_any_thread_count(dtype, D, threads):
    rng = np.random.default_rng(D)
    out0 = rng.standard_normal((7, D)).astype(dtype)
    idx = rng.integers(0, 7, 300)  # many repeats: each row adds up in index order
    src = (rng.standard_normal((300, D)) * 1e3).astype(dtype)
    want = out0.copy()
    np.add.at(want, idx, src)
    for _ in threads():
        got = out0.copy()
        _C.index_add_rows(got, idx, src)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_index_add_method_matches_np_add_at_along_any_dim(dim):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5, 130)).astype(np.float32)
    idx = rng.integers(0, x.shape[dim], 40)
    sshape = list(x.shape)
    sshape[dim] = idx.size
    src = rng.standard_normal(sshape).astype(np.float32)
    want = x.copy()
    key = [slice(None)] * 3
    key[dim] = idx
    np.add.at(want, tuple(key), src)
    before = x.copy()
    got = ember.tensor(x).index_add(dim, ember.tensor(idx), ember.tensor(src))
    np.testing.assert_array_equal(got.numpy(), want)
    np.testing.assert_array_equal(x, before)  # out-of-place: the input is untouched


# ---- _C.fill: a full reduction's gradient ----------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [0, 1, 15, 4096, 300001])
def test_fill_writes_the_value_rounded_to_the_dtype(dtype, n, threads):
    for _ in threads():
        out = np.full(n + 2, 7, dtype)
        _C.fill(out[1:-1], 0.1)  # a contiguous slice: only its elements change
        np.testing.assert_array_equal(out[1:-1], np.full(n, dtype(0.1)))
        assert out[0] == 7 and out[-1] == 7


def test_fill_refuses_what_it_cannot_write():
    with pytest.raises(TypeError, match="fill"):
        _C.fill(np.zeros(4, np.int64), 1.0)
    with pytest.raises(ValueError, match="contiguous"):
        _C.fill(np.zeros((4, 4))[:, ::2], 1.0)
    ro = np.zeros(4)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.fill(ro, 1.0)
    with pytest.raises(TypeError):
        _C.fill([0.0, 1.0], 1.0)  # noconvert: a list is not filled through a temporary copy


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("shape", [(3, 5), (64, 4096)])
def test_full_reduction_gradient_is_the_filled_constant(op, shape):
    x = ember.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    (getattr(x, op)() * 3).backward()
    want = 3.0 if op == "sum" else 3.0 / np.prod(shape)
    np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, want))
    assert x.grad.numpy().strides != (0, 0)  # a real array, not a stride-0 view


# ---- cat / stack of tensors outside the graph: one pass ---------------------------------------


@pytest.mark.parametrize("stack", [False, True])
def test_join_fast_path_matches_numpy_and_keeps_promotion_and_errors(stack):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrs = [rng.standard_normal((2, 3)).astype(np.float32) for _ in range(5)]
    join = ember.stack if stack else ember.cat
    want = np.stack(arrs, 1) if stack else np.concatenate(arrs, 1)
    for seq in (list, tuple):
        got = join(seq(ember.tensor(a) for a in arrs), 1)
        np.testing.assert_array_equal(got.numpy(), want)
        assert not got.requires_grad
    mixed = [ember.tensor(arrs[0]), ember.tensor([[1, 2, 3], [4, 5, 6]])]  # int joins float32
    got = join(mixed, 0)
    tmixed = [torch.tensor(arrs[0]), torch.tensor([[1, 2, 3], [4, 5, 6]])]
    want = (torch.stack if stack else torch.cat)(tmixed, 0).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(IndexError):
        join([ember.tensor(a) for a in arrs], 5)
    with pytest.raises(TypeError):
        join([ember.tensor(a) for a in arrs], 1.5)
    # a tensor in the graph among them: the gradient flows to it alone
    w = ember.tensor(arrs[1], requires_grad=True)
    join([ember.tensor(arrs[0]), w], 0).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones((2, 3), np.float32))


def test_flatten_shapes_and_errors_are_torch_s():
    torch = pytest.importorskip("torch")
    x = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    for s, e in [(0, -1), (1, 2), (1, -1), (-2, -1), (3, 3), (0, 0)]:
        got = ember.tensor(x).flatten(s, e)
        want = torch.tensor(x).flatten(s, e)
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    with pytest.raises(ValueError, match="start_dim"):
        ember.tensor(x).flatten(2, 1)
    with pytest.raises(IndexError):
        ember.tensor(x).flatten(4)


@pytest.mark.parametrize("chunks,dim", [(4, 1), (3, 1), (5, 0), (7, -1), (1, 0)])
def test_chunk_outside_the_graph_is_torch_s_views(chunks, dim):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(chunks).standard_normal((6, 10)).astype(np.float32)
    got = ember.from_numpy(x).chunk(chunks, dim)
    want = torch.tensor(x).chunk(chunks, dim)
    assert isinstance(got, tuple) and len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g.numpy(), w.numpy())
        assert np.shares_memory(g.numpy(), x) and not g.requires_grad
    xs = ember.tensor(x, requires_grad=True)  # in the graph: one node, each piece's gradient
    pieces = xs.chunk(chunks, dim)
    (pieces[0].sum() + 2 * pieces[-1].sum()).backward()
    xt = torch.tensor(x, requires_grad=True)
    tp = xt.chunk(chunks, dim)
    (tp[0].sum() + 2 * tp[-1].sum()).backward()
    np.testing.assert_array_equal(xs.grad.numpy(), xt.grad.numpy())


@pytest.mark.parametrize(
    "idx,classes",
    [([0, 2, 1], -1), ([[0, 2], [1, 1]], 4), ([3], 4), (2, 5), ([0, 0], 1)],
)
def test_one_hot_is_torch_s(idx, classes):
    torch = pytest.importorskip("torch")
    for dtype in (np.int64, np.uint8):
        got = ember.nn.functional.one_hot(ember.tensor(np.array(idx, dtype)), classes)
        want = torch.nn.functional.one_hot(torch.tensor(idx), classes).numpy()
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want)
    with pytest.raises(ValueError, match="smaller than num_classes"):
        ember.nn.functional.one_hot(ember.tensor([0, 4]), 4)
    with pytest.raises(ValueError, match="non-negative"):
        ember.nn.functional.one_hot(ember.tensor([0, -1]), 4)


# ---- sum / mean outside the graph: the forward straight, without the generic apply --------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1024,), (32, 32), (256, 1024), (3, 5, 700), (7, 9)])
@pytest.mark.parametrize("op", ["sum", "mean"])
def test_sum_mean_outside_the_graph_give_the_graph_path_s_bits(dtype, shape, op):
    x = (np.random.default_rng(1).standard_normal(shape) * 100).astype(dtype)
    for dim in (None, -1, len(shape) - 1, 0):
        for keepdim in (False, True):
            plain = getattr(ember.from_numpy(x), op)(dim, keepdim)
            graph = getattr(ember.tensor(x, requires_grad=True), op)(dim, keepdim)
            assert plain.shape == graph.shape and plain.dtype == graph.dtype == dtype
            assert not plain.requires_grad
            np.testing.assert_array_equal(plain.numpy(), graph.detach().numpy())
            want = getattr(x.astype(np.float64), op)(axis=dim, keepdims=keepdim)
            np.testing.assert_allclose(plain.numpy(), want, rtol=1e-5, atol=1e-3)
    with ember.no_grad():  # grad off: the fast path, the same bits
        got = getattr(ember.tensor(x, requires_grad=True), op)()
    np.testing.assert_array_equal(got.numpy(), getattr(ember.from_numpy(x), op)().numpy())


def test_sum_outside_the_graph_keeps_the_non_contiguous_and_error_paths():
    x = np.random.default_rng(2).standard_normal((64, 40)).astype(np.float32)
    t = ember.from_numpy(x.T)  # not C-contiguous: the generic path
    np.testing.assert_allclose(t.sum(-1).numpy(), x.T.sum(-1), rtol=1e-5)
    with pytest.raises(IndexError):
        ember.from_numpy(x).sum(2)
    with pytest.raises(IndexError):
        ember.from_numpy(x).mean(-3)


# ---- adaptive_avg_pool2d to 1x1: the backward fills each plane ------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 8, 7, 7), (2, 3, 1, 1), (1, 5, 3, 10), (64, 70, 2, 2)])
def test_global_average_pool_gradient_is_torch_s(dtype, shape, threads):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    g = rng.standard_normal(shape[:2] + (1, 1)).astype(dtype)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.adaptive_avg_pool2d(xt, 1).backward(torch.tensor(g))
    for _ in threads():
        xe = ember.tensor(x, requires_grad=True)
        ember.nn.functional.adaptive_avg_pool2d(xe, 1).backward(ember.tensor(g))
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=0)
        want = np.broadcast_to((g.astype(np.float64) / (shape[2] * shape[3])).astype(dtype), shape)
        np.testing.assert_array_equal(xe.grad.numpy(), want)  # dy / (H W) rounded once


def test_global_average_pool_gradcheck():
    x = ember.tensor(np.random.default_rng(1).standard_normal((2, 3, 4, 5)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: ember.nn.functional.adaptive_avg_pool2d(t, 1), (x,))


# ---- batched matmul of transposed views: no copy, the same bits -------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "sa,sb",
    [((8, 16, 64), (8, 16, 64)), ((3, 1, 5, 7), (4, 6, 7)), ((2, 0, 3), (2, 5, 3)),
     ((5, 9, 33), (1, 17, 33)), ((2, 3, 300, 70), (2, 3, 120, 70))],
)  # fmt: skip
def test_matmul_with_transposed_views_is_the_copy_s_bits(dtype, sa, sb, threads):
    rng = np.random.default_rng(0)
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    bt = np.swapaxes(b, -1, -2)  # a view: passed to the GEMM as b, transposed
    want = np.matmul(a.astype(np.float64), bt.astype(np.float64))
    for _ in threads():
        got = _C.matmul(a, b, False, True)
        np.testing.assert_array_equal(got, _C.matmul(a, np.ascontiguousarray(bt)))
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
        at = np.ascontiguousarray(np.swapaxes(a, -1, -2))  # a stored (..., K, M)
        np.testing.assert_array_equal(_C.matmul(at, b, True, True), got)
        e = ember.from_numpy(a) @ ember.from_numpy(b).transpose(-2, -1)
        np.testing.assert_array_equal(e.numpy(), got)


def test_matmul_of_transposed_views_gradients_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    q, k = (rng.standard_normal((2, 4, 6, 8)).astype(np.float32) for _ in range(2))
    g = rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    qe, ke = ember.tensor(q, requires_grad=True), ember.tensor(k, requires_grad=True)
    (qe @ ke.transpose(-2, -1)).backward(ember.tensor(g))
    qt, kt = torch.tensor(q, requires_grad=True), torch.tensor(k, requires_grad=True)
    (qt @ kt.transpose(-2, -1)).backward(torch.tensor(g))
    np.testing.assert_allclose(qe.grad.numpy(), qt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ke.grad.numpy(), kt.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_matmul_kernel_checks_the_transposed_shapes():
    with pytest.raises(ValueError, match="do not align"):
        _C.matmul(np.ones((2, 3, 4)), np.ones((2, 5, 3)), False, True)
    with pytest.raises(ValueError, match="do not align"):
        _C.matmul(np.ones((2, 3, 4)), np.ones((2, 4, 5)), True, False)
    assert _C.matmul(np.ones((2, 3, 4)), np.ones((2, 3, 5)), True, False).shape == (2, 4, 5)


# ---- _C.fill_rows: a trailing-dims reduction's gradient -------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows,n", [(0, 5), (1, 1), (3, 17), (256, 1024), (5000, 70)])
def test_fill_rows_copies_each_value_bit_for_bit(dtype, rows, n, threads):
    v = np.random.default_rng(rows).standard_normal(rows).astype(dtype)
    if rows:
        v[0] = -0.0
    for _ in threads():
        out = np.full((rows, n), 7, dtype)
        _C.fill_rows(out, v)
        want = np.broadcast_to(v[:, None], (rows, n))
        np.testing.assert_array_equal(out, want)
        assert np.array_equal(np.signbit(out), np.signbit(want))  # -0 stays -0


def test_fill_rows_refuses_bad_arguments():
    out = np.zeros((3, 4))
    with pytest.raises(ValueError, match=r"v must have shape \(3,\)"):
        _C.fill_rows(out, np.zeros(4))
    with pytest.raises(TypeError, match="dtypes differ"):
        _C.fill_rows(out, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="overlaps"):
        _C.fill_rows(out, out.reshape(-1)[:3])
    with pytest.raises(ValueError, match="2 dimensions|2-D|ndim"):
        _C.fill_rows(np.zeros(4), np.zeros(4))


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize(
    "shape,dim,keepdim",
    [((256, 1024), -1, False), ((8, 16, 64), (1, 2), True), ((8, 16, 64), 2, True),
     ((4, 3), -1, False), ((64, 130), (0, 1), False)],
)  # fmt: skip
def test_trailing_reduction_gradient_is_torch_s(op, shape, dim, keepdim):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    xe = ember.tensor(x, requires_grad=True)
    ye = getattr(xe, op)(dim, keepdim)
    g = rng.standard_normal(ye.shape).astype(np.float32)
    ye.backward(ember.tensor(g))
    xt = torch.tensor(x, requires_grad=True)
    getattr(xt, op)(dim, keepdim).backward(torch.tensor(g))
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())
    assert xe.grad.numpy().flags.writeable  # a real array, not a broadcast view


# ---- scatter_add_ straight into the tensor --------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "shape,dim,ishape",
    [((32, 128), 0, (4, 128)), ((5, 6, 7), 1, (5, 9, 7)), ((5, 6, 7), -1, (5, 6, 3)),
     ((5, 6), 0, (3, 4)), ((4,), 0, (10,))],
)  # fmt: skip
def test_scatter_add_in_place_is_torch_s(dtype, shape, dim, ishape):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    index = rng.integers(0, shape[dim], ishape)
    src = rng.standard_normal(tuple(n + 1 for n in ishape)).astype(dtype)  # larger: read in part
    xe = ember.tensor(x)
    assert xe.scatter_add_(dim, ember.tensor(index), ember.tensor(src)) is xe
    xt = torch.tensor(x).scatter_add_(dim, torch.tensor(index), torch.tensor(src))
    np.testing.assert_array_equal(xe.numpy(), xt.numpy())
    want = ember.scatter_add(ember.tensor(x), dim, ember.tensor(index), ember.tensor(src))
    np.testing.assert_array_equal(xe.numpy(), want.numpy())


def test_scatter_add_in_place_keeps_checks_aliasing_and_graph_rules():
    x = ember.zeros(3, 4)
    with pytest.raises(IndexError, match="out of range"):
        x.scatter_add_(0, ember.tensor([[3, 0, 0, 0]]), ember.ones(1, 4))
    with pytest.raises(TypeError, match="dtypes must match"):
        x.scatter_add_(
            0, ember.zeros(1, 4, dtype=ember.int64), ember.ones(1, 4, dtype=ember.float64)
        )
    np.testing.assert_array_equal(x.numpy(), np.zeros((3, 4)))  # untouched by refused calls
    a = np.arange(12.0).reshape(3, 4)
    y = ember.tensor(a)  # src is y itself: refused, as torch's assert_no_overlap
    with pytest.raises(RuntimeError, match="single memory location"):
        y.scatter_add_(0, ember.zeros(3, 4, dtype=ember.int64), y)
    np.testing.assert_array_equal(y.numpy(), a)
    leaf = ember.zeros(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor"):
        leaf.scatter_add_(0, ember.zeros(1, 4, dtype=ember.int64), ember.ones(1, 4))
    with ember.no_grad():
        leaf.scatter_add_(0, ember.zeros(1, 4, dtype=ember.int64), ember.ones(1, 4))
    np.testing.assert_array_equal(leaf.detach().numpy()[0], np.ones(4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim", [((32, 128), 0), ((6, 5, 4), 0), ((6, 5, 4), 1), ((7,), 0)])
@pytest.mark.parametrize("alpha", [1, 0.5])
def test_index_add_in_place_is_torch_s(dtype, shape, dim, alpha):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    index = rng.integers(0, shape[dim], 40)
    sshape = list(shape)
    sshape[dim] = 40
    src = rng.standard_normal(sshape).astype(dtype)
    xe = ember.tensor(x)
    assert xe.index_add_(dim, ember.tensor(index), ember.tensor(src), alpha=alpha) is xe
    xt = torch.tensor(x).index_add_(dim, torch.tensor(index), torch.tensor(src), alpha=alpha)
    np.testing.assert_array_equal(xe.numpy(), xt.numpy())


def test_index_add_in_place_keeps_checks_aliasing_and_graph_rules():
    x = ember.zeros(3, 4)
    with pytest.raises(IndexError, match="out of range"):
        x.index_add_(0, ember.tensor([3]), ember.ones(1, 4))
    with pytest.raises(RuntimeError, match="source shape"):  # (torch's class)
        x.index_add_(0, ember.tensor([0]), ember.ones(2, 4))
    np.testing.assert_array_equal(x.numpy(), np.zeros((3, 4)))
    a = np.arange(12.0).reshape(3, 4)
    y = ember.tensor(a)  # source is y itself: refused, as torch's assert_no_overlap
    with pytest.raises(RuntimeError, match="single memory location"):
        y.index_add_(0, ember.tensor([0, 0, 1]), y)
    np.testing.assert_array_equal(y.numpy(), a)
    leaf = ember.zeros(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor"):
        leaf.index_add_(0, ember.tensor([0]), ember.ones(1, 4))


@pytest.mark.parametrize("alpha", [1, 0.5])
@pytest.mark.parametrize("op", ["index_add", "scatter_add", "index_put"])
def test_add_at_gradients_are_torch_s_and_their_own_arrays(op, alpha):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 5)).astype(np.float32)
    idx = np.array([0, 2, 2, 5])
    src = rng.standard_normal((4, 5)).astype(np.float32)
    sidx = rng.integers(0, 6, (4, 5))
    g = rng.standard_normal((6, 5)).astype(np.float32)
    grads = []
    for lib in (ember, torch):
        a, b = lib.tensor(x, requires_grad=True), lib.tensor(src, requires_grad=True)
        if op == "index_add":
            y = a.index_add(0, lib.tensor(idx), b, alpha=alpha)
        elif op == "scatter_add":
            y = a.scatter_add(0, lib.tensor(sidx), b * alpha)
        else:
            y = a.index_put((lib.tensor(idx),), b * alpha, accumulate=True)
        y.backward(lib.tensor(g))
        grads.append((np.array(a.grad.numpy()), np.array(b.grad.numpy())))
        if lib is ember:
            assert not np.shares_memory(a.grad.numpy(), b.grad.numpy())
    for e, t in zip(*grads):
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("pad", [(1, 1), (2, 0, 1, 3), (-1, 2), (0, 0, 0, 0, 1, 1)])
def test_constant_pad_outside_the_graph_is_torch_s(pad):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3, 4)).astype(np.float32)
    got = ember.nn.functional.pad(ember.tensor(x), pad, value=0.5)
    want = torch.nn.functional.pad(torch.tensor(x), pad, value=0.5).numpy()
    assert not got.requires_grad and got.shape == want.shape
    np.testing.assert_array_equal(got.numpy(), want)
    xg = ember.tensor(x, requires_grad=True)  # in the graph: the same values, a gradient
    yg = ember.nn.functional.pad(xg, pad, value=0.5)
    np.testing.assert_array_equal(yg.detach().numpy(), want)
    yg.sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.pad(xt, pad, value=0.5).sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), xt.grad.numpy())
