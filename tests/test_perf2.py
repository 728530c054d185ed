"""The perf2 fast paths: ember.gather (_C.gather_forward / gather_backward), F.pad's constant
mode (_C.pad_constant / pad_forward) and F.cosine_similarity (one fused Function). Values and
gradients against PyTorch and NumPy, float64 gradcheck, and the bad input the kernels refuse."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F


def _torch():
    return pytest.importorskip("torch")


# ---- gather -------------------------------------------------------------------------------

GATHER_CASES = [
    ((5, 7), 1, (5, 3)),
    ((5, 7), 0, (9, 7)),
    ((3, 4, 6), 1, (3, 8, 6)),
    ((3, 4, 6), -1, (3, 4, 2)),
    ((2, 3, 4, 5), 2, (2, 3, 1, 5)),
    ((6,), 0, (10,)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape,dim,ishape", GATHER_CASES, ids=str)
def test_gather_matches_torch_and_numpy(shape, dim, ishape, dtype):
    torch = _torch()
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    idx = rng.integers(0, shape[dim], ishape)  # repeats: the backward must add them up
    g = rng.standard_normal(ishape).astype(dtype)
    ex = ember.tensor(x, requires_grad=True)
    y = ember.gather(ex, dim, ember.tensor(idx))
    y.backward(ember.tensor(g))
    tx = torch.from_numpy(x).requires_grad_(True)
    torch.gather(tx, dim, torch.from_numpy(idx)).backward(torch.from_numpy(g))
    assert np.array_equal(y.numpy(), np.take_along_axis(x, idx, axis=dim))
    want = np.zeros_like(x)
    grids = list(np.indices(ishape, sparse=True))
    grids[dim % x.ndim] = idx
    np.add.at(want, tuple(grids), g)
    np.testing.assert_allclose(ex.grad.numpy(), want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.int8, np.uint16, np.bool_])
def test_gather_any_element_type(dtype):
    torch = _torch()
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((4, 9)) * 50).astype(dtype)
    idx = rng.integers(0, 9, (4, 5))
    y = ember.gather(ember.tensor(x), 1, idx).numpy()
    assert y.dtype == x.dtype
    assert np.array_equal(y, np.take_along_axis(x, idx, axis=1))
    if dtype != np.uint16:
        assert np.array_equal(y, torch.gather(torch.from_numpy(x), 1, torch.from_numpy(idx)))


def test_gather_non_contiguous_input_and_int32_index():
    x = np.arange(24.0).reshape(4, 6).T  # a transposed view
    idx = np.array([[0, 3], [1, 1], [2, 0], [3, 3], [0, 0], [1, 2]], dtype=np.int32)
    y = ember.gather(ember.tensor(x), 1, idx)
    assert np.array_equal(y.numpy(), np.take_along_axis(x, idx, axis=1))


def test_gather_gradcheck():
    rng = np.random.default_rng(2)
    idx = rng.integers(0, 5, (3, 6, 4))
    x = ember.tensor(rng.standard_normal((3, 5, 4)), requires_grad=True)
    assert gradcheck(lambda t: ember.gather(t, 1, idx), (x,))


def test_gather_threads_give_the_same_result():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((64, 3000)).astype(np.float32)
    idx = rng.integers(0, 3000, (64, 3000))
    g = rng.standard_normal((64, 3000)).astype(np.float32)
    before = ember.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            ember.set_num_threads(n)
            outs.append((_C.gather_forward(x, idx, 1), _C.gather_backward(g, idx, 1, 3000)))
    finally:
        ember.set_num_threads(before)
    assert np.array_equal(outs[0][0], outs[1][0])
    assert np.array_equal(outs[0][1], outs[1][1])


def test_gather_kernel_refuses_bad_input():
    x = np.zeros((3, 4), np.float32)
    idx = np.zeros((3, 2), np.int64)
    with pytest.raises(IndexError, match=r"gather: index out of range \[0, 4\).*got 4"):
        _C.gather_forward(x, np.full((3, 2), 4, np.int64), 1)
    with pytest.raises(IndexError, match="got -1"):
        _C.gather_forward(x, np.full((3, 2), -1, np.int64), 1)
    with pytest.raises(TypeError, match="index must be int64"):
        _C.gather_forward(x, idx.astype(np.int32), 1)
    with pytest.raises(TypeError, match="x must be a numeric array"):
        _C.gather_forward(x.astype(object), idx, 1)
    with pytest.raises(ValueError, match="differ outside dim 1"):
        _C.gather_forward(x, np.zeros((2, 2), np.int64), 1)
    with pytest.raises(ValueError, match="same number of dims"):
        _C.gather_forward(x, np.zeros((3,), np.int64), 0)
    with pytest.raises(ValueError, match="dim 2 is out of range"):
        _C.gather_forward(x, idx, 2)
    with pytest.raises(ValueError, match="C-contiguous|contiguous"):
        _C.gather_forward(x.T, idx, 1)
    with pytest.raises(TypeError, match="int32 or int64"):  # (integers taken since session 42)
        _C.gather_backward(idx.astype(np.int16), idx, 1, 4)
    with pytest.raises(IndexError, match="out of range"):
        _C.gather_backward(np.zeros((3, 2), np.float32), np.full((3, 2), 9, np.int64), 1, 4)
    with pytest.raises(ValueError, match="size must be >= 0"):
        _C.gather_backward(np.zeros((3, 2), np.float32), idx, 1, -1)
    with pytest.raises(ValueError, match="index must have shape"):
        _C.gather_backward(np.zeros((3, 2), np.float32), np.zeros((3, 3), np.int64), 1, 4)
    with pytest.raises(IndexError, match="gather: index out of range"):
        ember.gather(ember.tensor(x), 1, np.array([[0, 4]] * 3))


# ---- constant padding ---------------------------------------------------------------------

PAD_CASES = [
    ((2, 3, 5, 6), (1, 1, 1, 1)),
    ((2, 3, 5, 6), (0, 2, 3, 0)),
    ((4, 7), (2, 1)),
    ((4, 7), (-2, 1, 1, -3)),  # negative pads crop
    ((2, 3, 4), (1, 0, 0, 2, 1, 1)),
    ((5,), (3, 0)),
    ((2, 0, 3), (1, 1)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("value", [None, 2.5])
@pytest.mark.parametrize("shape,pad", PAD_CASES, ids=str)
def test_constant_pad_matches_torch_and_numpy(shape, pad, value, dtype):
    torch = _torch()
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_(True)
    want = torch.nn.functional.pad(tx, pad, value=0.0 if value is None else value)
    g = rng.standard_normal(tuple(want.shape)).astype(dtype)
    want.backward(torch.from_numpy(g))
    ex = ember.tensor(x, requires_grad=True)
    y = F.pad(ex, pad, value=value)
    y.backward(ember.tensor(g))
    assert y.dtype == x.dtype
    assert np.array_equal(y.numpy(), want.detach().numpy())
    assert np.array_equal(ex.grad.numpy(), tx.grad.numpy())
    if min(pad) >= 0:  # NumPy's np.pad takes (lo, hi) per dim, first dim first
        k = len(pad) // 2
        width = [(0, 0)] * (x.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in range(k)][::-1]
        fill = 0.0 if value is None else value
        assert np.array_equal(y.numpy(), np.pad(x, width, constant_values=fill))


def test_constant_pad_gradcheck():
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.standard_normal((2, 3, 4, 5)), requires_grad=True)
    assert gradcheck(lambda t: F.pad(t, (1, -1, 2, 0), value=0.5), (x,))


def test_pad_forward_maps_and_threads():
    x = np.arange(6.0).reshape(2, 3)
    maps = [np.array([1, -1, 0]), np.array([2, 2, -1, 0])]
    want = np.array([[5, 5, 9, 3], [9, 9, 9, 9], [2, 2, 9, 0]], dtype=float)
    assert np.array_equal(_C.pad_forward(x, maps, 9.0), want)
    big = np.random.default_rng(6).standard_normal((8, 64, 40, 40)).astype(np.float32)
    before = ember.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            ember.set_num_threads(n)
            outs.append(_C.pad_constant(big, [(0, 0), (1, 0), (2, 1), (-3, 3)], 1.0))
    finally:
        ember.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1])


def test_pad_kernels_refuse_bad_input():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(ValueError, match=r"one \(lo, hi\) pair per dim"):
        _C.pad_constant(x, [(1, 1)])
    with pytest.raises(ValueError, match="does not fit input"):
        _C.pad_constant(x, [(0, 0), (-2, -2)])
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.pad_constant(x.astype(np.int64), [(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="one map per dim"):
        _C.pad_forward(x, [np.zeros(2, np.int64)])
    with pytest.raises(ValueError, match=r"outside \[-1, 3\)"):
        _C.pad_forward(x, [np.zeros(2, np.int64), np.array([0, 3])])
    with pytest.raises(ValueError, match=r"outside \[-1, 2\)"):
        _C.pad_forward(x, [np.array([-2]), np.array([0])])
    with pytest.raises(TypeError, match="maps must be int64"):
        _C.pad_forward(x, [np.zeros(2, np.int32), np.zeros(2, np.int64)])
    with pytest.raises(ValueError, match="contiguous"):
        _C.pad_constant(np.zeros((3, 4), np.float32).T, [(0, 0), (1, 1)])
    with pytest.raises(ValueError, match="cannot be converted to float32 without overflow"):
        F.pad(ember.tensor(x), (1, 0), value=1e300)
    assert np.isinf(F.pad(ember.tensor(x), (1, 0), value=-np.inf).numpy()[:, 0]).all()
    assert F.pad(ember.tensor(x.astype(np.float64)), (1, 0), value=1e300).numpy()[0, 0] == 1e300
    assert F.pad(ember.tensor(x), (-3, 0)).shape == (2, 0)


# ---- cosine similarity --------------------------------------------------------------------

COS_CASES = [
    ((6, 8), (6, 8), 1),
    ((3, 1, 5), (1, 4, 5), -1),
    ((4, 5), (5,), 1),
    ((2, 3, 4), (2, 3, 4), 0),
    ((2, 7, 3), (2, 7, 3), 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sa,sb,dim", COS_CASES, ids=str)
def test_cosine_similarity_matches_torch_and_numpy(sa, sb, dim, dtype):
    torch = _torch()
    rng = np.random.default_rng(7)
    a = rng.standard_normal(sa).astype(dtype)
    b = rng.standard_normal(sb).astype(dtype)
    a[0] = 0  # a zero vector: its norm clamps to eps
    ta, tb = torch.from_numpy(a).requires_grad_(True), torch.from_numpy(b).requires_grad_(True)
    want = torch.nn.functional.cosine_similarity(ta, tb, dim)
    g = rng.standard_normal(tuple(want.shape)).astype(dtype)
    want.backward(torch.from_numpy(g))
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    y = F.cosine_similarity(ea, eb, dim)
    y.backward(ember.tensor(g))
    tol = dict(rtol=2e-5, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.numpy(), want.detach().numpy(), **tol)
    a64, b64 = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    na = np.maximum(np.linalg.norm(a64, axis=dim, keepdims=True), 1e-8)
    nb = np.maximum(np.linalg.norm(b64, axis=dim, keepdims=True), 1e-8)
    np.testing.assert_allclose(y.numpy(), ((a64 / na) * (b64 / nb)).sum(axis=dim), **tol)
    for e, t in ((ea, ta), (eb, tb)):
        scale = np.abs(t.grad.numpy()).max()
        np.testing.assert_allclose(
            e.grad.numpy(), t.grad.numpy(), rtol=tol["rtol"], atol=tol["atol"] * max(scale, 1)
        )


@pytest.mark.parametrize("sa,sb,dim", COS_CASES, ids=str)
def test_cosine_similarity_gradcheck(sa, sb, dim):
    rng = np.random.default_rng(8)
    a = ember.tensor(rng.standard_normal(sa), requires_grad=True)
    b = ember.tensor(rng.standard_normal(sb), requires_grad=True)
    assert gradcheck(lambda u, v: F.cosine_similarity(u, v, dim), (a, b))


def test_cosine_similarity_clamped_norm_gradient_is_torchs():
    # both norms below eps: y = a.b / eps^2; PyTorch clamps the norms outside autograd, so its
    # gradient (ember's too) still takes each norm's own gradient, not that of y's formula
    torch = _torch()
    rng = np.random.default_rng(9)
    an, bn = rng.standard_normal((3, 4)) * 1e-3, rng.standard_normal((3, 4)) * 1e-3
    a, b = ember.tensor(an, requires_grad=True), ember.tensor(bn, requires_grad=True)
    y = F.cosine_similarity(a, b, 1, eps=0.5)
    np.testing.assert_allclose(y.numpy(), (an * bn).sum(1) / 0.25, rtol=1e-12)
    ta, tb = torch.tensor(an, requires_grad=True), torch.tensor(bn, requires_grad=True)
    torch.nn.functional.cosine_similarity(ta, tb, 1, eps=0.5).sum().backward()
    y.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-10)


# ---- softmax backward (rows in chunks, two-chain dot with a tree fold) ---------------------


@pytest.mark.parametrize("log", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(64, 128), (7, 3), (5, 16), (9, 33), (3, 2, 100), (4, 1000)])
def test_softmax_backward_matches_torch_and_numpy(shape, dtype, log):
    torch = _torch()
    rng = np.random.default_rng(10)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    f, tf = (F.log_softmax, torch.log_softmax) if log else (F.softmax, torch.softmax)
    ex = ember.tensor(x, requires_grad=True)
    f(ex, -1).backward(ember.tensor(g))
    tx = torch.from_numpy(x).requires_grad_(True)
    tf(tx, -1).backward(torch.from_numpy(g))
    x64, g64 = x.astype(np.float64), g.astype(np.float64)
    p = np.exp(x64 - x64.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    want = (
        g64 - p * g64.sum(-1, keepdims=True)
        if log
        else p * (g64 - (g64 * p).sum(-1, keepdims=True))
    )
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ex.grad.numpy(), want, **tol)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_backward_gradcheck_and_threads(log):
    rng = np.random.default_rng(11)
    x = ember.tensor(rng.standard_normal((6, 37)), requires_grad=True)
    f = F.log_softmax if log else F.softmax
    assert gradcheck(lambda t: f(t, 1), (x,))
    y = _C.softmax_forward(rng.standard_normal((512, 128)).astype(np.float32), 1, log)
    g = rng.standard_normal((512, 128)).astype(np.float32)
    before = ember.get_num_threads()
    try:
        outs = []
        for n in (1, 2):
            ember.set_num_threads(n)
            outs.append(_C.softmax_backward(y, g, 1, log))
    finally:
        ember.set_num_threads(before)
    assert np.array_equal(outs[0], outs[1])


# ---- sum / cat / stack: the Python fast paths ----------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, -2, (0, 1), [2, 0]])
@pytest.mark.parametrize("keepdim", [False, True])
def test_sum_fast_path_matches_torch_and_numpy(dim, keepdim, dtype):
    torch = _torch()
    x = np.random.default_rng(12).standard_normal((3, 4, 5)).astype(dtype)
    ex = ember.tensor(x, requires_grad=True)
    y = ex.sum() if dim is None else ex.sum(dim, keepdim)
    tx = torch.from_numpy(x).requires_grad_(True)
    ty = tx.sum() if dim is None else tx.sum(dim, keepdim)
    axis = None if dim is None else (tuple(dim) if isinstance(dim, list) else dim)
    want = np.sum(x.astype(np.float64), axis=axis, keepdims=keepdim and dim is not None)
    assert y.dtype == x.dtype and y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-5)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5)
    g = np.random.default_rng(13).standard_normal(y.shape).astype(dtype)
    y.backward(ember.tensor(g))
    ty.backward(torch.from_numpy(g))
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())


def test_sum_fast_path_bad_dims():
    x = ember.tensor(np.ones((2, 3), np.float32))
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        x.sum(2)
    with pytest.raises(IndexError, match="dim -3 is out of range"):
        x.sum(-3)
    with pytest.raises(RuntimeError, match="names a dimension twice"):
        x.sum((1, -1))
    assert ember.tensor(np.ones((2, 3), np.int32)).sum().dtype == np.int64  # slow path kept


@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack_and_cat_match_torch_with_gradients(dim):
    torch = _torch()
    rng = np.random.default_rng(14)
    xs = [rng.standard_normal((2, 3, 4)) for _ in range(3)]
    cat_xs = [
        rng.standard_normal((2, 3, 4)[: dim % 3] + (k,) + (2, 3, 4)[dim % 3 + 1 :])
        for k in (1, 3, 2)
    ]
    for ours, theirs, arrays in (
        (ember.stack, torch.stack, xs),
        (ember.cat, torch.cat, cat_xs),
    ):
        es = [ember.tensor(x, requires_grad=True) for x in arrays]
        ts = [torch.tensor(x, requires_grad=True) for x in arrays]
        y, ty = ours(es, dim), theirs(ts, dim)
        assert np.array_equal(y.numpy(), ty.detach().numpy())
        g = rng.standard_normal(y.shape)
        y.backward(ember.tensor(g))
        ty.backward(torch.from_numpy(g))
        for e, t in zip(es, ts):
            assert np.array_equal(e.grad.numpy(), t.grad.numpy())
    np.testing.assert_array_equal(ember.stack(xs, dim).numpy(), np.stack(xs, dim))
    np.testing.assert_array_equal(ember.cat(cat_xs, dim).numpy(), np.concatenate(cat_xs, dim))


def test_cat_and_stack_gradcheck():
    rng = np.random.default_rng(15)
    a = ember.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((2, 5)), requires_grad=True)
    c = ember.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    assert gradcheck(lambda u, v: ember.cat([u, v], 1) * 1.5, (a, b))
    assert gradcheck(lambda u, v: ember.stack([u, v], 1) ** 2, (a, c))
    assert ember.stack([ember.tensor(np.zeros((2, 0)))] * 3, 1).shape == (2, 3, 0)


def test_grad_mode_is_per_thread_with_an_enabled_default():
    import threading

    seen = []

    def worker():
        x = ember.tensor(np.ones(3), requires_grad=True)
        seen.append((ember.is_grad_enabled(), (x * 2).requires_grad))
        with ember.no_grad():
            seen.append((ember.is_grad_enabled(), (x * 2).requires_grad))

    with ember.no_grad():  # the main thread's setting does not reach a new thread
        th = threading.Thread(target=worker)
        th.start()
        th.join()
        assert not ember.is_grad_enabled()
    assert seen == [(True, True), (False, False)]
    assert ember.is_grad_enabled()
