"""index_select, hypot, atan2, lerp and logsumexp on their C++ kernels and straight paths: values
and gradients against PyTorch and NumPy, at 1 and 2 threads (shapes on both sides of the
kernels' thread thresholds), non-contiguous and empty inputs, and the errors bad input gets."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


SHAPES = [(7, 5), (3, 4, 6), (300, 257)]  # the last past the 2^14-2^16 element thresholds
DTYPES = [np.float32, np.float64]


# ---- index_select -----------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_index_select_values_and_grads_match_torch(shape, dtype, threads):
    x = _x(shape, dtype)
    rng = np.random.default_rng(1)
    for _ in threads():
        for dim in range(-len(shape), len(shape)):
            n = shape[dim]
            idx = rng.integers(0, n, 2 * n + 1)  # repeats: their gradients add up
            y = ember.tensor(x).index_select(dim, ember.tensor(idx))
            ref = torch.from_numpy(x).index_select(dim, torch.from_numpy(idx))
            np.testing.assert_array_equal(y.numpy(), ref.numpy())
            assert y.dtype == dtype and y.grad_fn is None
            xe = ember.tensor(x, requires_grad=True)
            xt = torch.tensor(x, requires_grad=True)
            g = _x(ref.shape, dtype, seed=2)
            xe.index_select(dim, ember.tensor(idx)).backward(ember.tensor(g))
            xt.index_select(dim, torch.from_numpy(idx)).backward(torch.from_numpy(g))
            # (a sum of repeats in index order, as torch's index_add: the same sums)
            np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


def test_index_select_grad_is_numpy_add_at_order():
    # float32 sums of many repeats in index order: np.add.at's order, so its bits exactly
    x = _x((3, 50), np.float32)
    idx = np.random.default_rng(3).integers(0, 50, 4000)
    g = _x((3, 4000), np.float32, seed=4) * 1e3
    for dim, gg in ((1, g), (0, g.T.copy())):
        xs = x if dim == 1 else x.T.copy()
        xe = ember.tensor(xs, requires_grad=True)
        xe.index_select(dim, ember.tensor(idx)).backward(ember.tensor(gg))
        ref = np.zeros_like(xs)
        np.add.at(ref, (slice(None),) * dim + (idx,), gg)
        np.testing.assert_array_equal(xe.grad.numpy(), ref)


def test_index_select_gradcheck_float64():
    x = ember.tensor(_x((4, 5, 3), np.float64), requires_grad=True)
    idx = ember.tensor(np.array([2, 0, 2, 4]))
    for dim in (0, 1, 2):
        ix = ember.tensor(np.array([0, 1, 0])) if dim != 1 else idx
        assert gradcheck(lambda t, d=dim, i=ix: t.index_select(d, i), (x,))
    # double backward (create_graph) through the index-add adjoint
    y = x.index_select(1, idx)
    (g,) = ember.autograd.grad(y.pow(2).sum(), x, create_graph=True)
    (gg,) = ember.autograd.grad(g.sum(), x)
    xt = torch.tensor(x.numpy(), requires_grad=True)
    (gt,) = torch.autograd.grad(
        xt.index_select(1, torch.tensor([2, 0, 2, 4])).pow(2).sum(), xt, create_graph=True
    )
    (ggt,) = torch.autograd.grad(gt.sum(), xt)
    np.testing.assert_allclose(gg.numpy(), ggt.numpy())


@pytest.mark.parametrize(
    "dtype", [np.int64, np.int32, np.int16, np.uint8, np.bool_, np.float16, np.complex64]
)
def test_index_select_other_dtypes(dtype):
    x = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    idx = np.array([3, 1, 1])
    y = ember.tensor(x).index_select(2, ember.tensor(idx))
    np.testing.assert_array_equal(y.numpy(), np.take(x, idx, 2))
    assert y.dtype == dtype


def test_index_select_non_contiguous_int32_and_0d_forms():
    x = _x((6, 8), np.float64)
    xt = x.T  # a strided view
    idx = np.array([5, 0, 3], np.int32)  # int32 indices, as torch takes them
    y = ember.tensor(xt).index_select(0, ember.tensor(idx))
    np.testing.assert_array_equal(y.numpy(), xt[idx])
    strided_idx = np.array([4, 9, 1, 9, 2, 9])[::2]  # a non-contiguous index array
    y = ember.tensor(x).index_select(1, ember.tensor(strided_idx))
    np.testing.assert_array_equal(y.numpy(), x[:, [4, 1, 2]])
    y = ember.tensor(x).index_select(1, np.array([7, 7]))  # a NumPy index
    np.testing.assert_array_equal(y.numpy(), x[:, [7, 7]])
    y = ember.tensor(x).index_select(0, ember.tensor(np.array(2)))  # a 0-d index
    np.testing.assert_array_equal(y.numpy(), x[[2]])
    assert ember.tensor(3.5).index_select(0, ember.tensor([0])).item() == 3.5
    # a non-contiguous input requiring grad
    xe = ember.tensor(xt, requires_grad=True)
    xe.index_select(1, ember.tensor(np.array([1, 1]))).sum().backward()
    ref = np.zeros_like(xt)
    ref[:, 1] = 2
    np.testing.assert_array_equal(xe.grad.numpy(), ref)


def test_index_select_empty():
    x = _x((0, 4))
    y = ember.tensor(x).index_select(1, ember.tensor(np.array([3, 0])))
    assert y.shape == (0, 2)
    y = ember.tensor(_x((3, 4))).index_select(0, ember.tensor(np.zeros(0, np.int64)))
    assert y.shape == (0, 4)
    xe = ember.tensor(_x((3, 4)), requires_grad=True)
    xe.index_select(1, ember.tensor(np.zeros(0, np.int64))).sum().backward()
    np.testing.assert_array_equal(xe.grad.numpy(), np.zeros((3, 4), np.float32))
    with pytest.raises(IndexError, match="index_select"):  # any index into an empty dim
        ember.tensor(_x((3, 0))).index_select(1, ember.tensor(np.array([0])))


def test_index_select_refuses_bad_input():
    x = ember.tensor(_x((3, 4)))
    for bad in ([0, 4], [-1], [2, 100]):
        with pytest.raises(IndexError, match="index_select"):
            x.index_select(1, ember.tensor(np.array(bad)))
    with pytest.raises(IndexError, match="index_select"):
        x.index_select(0, ember.tensor(np.array([3])))
    with pytest.raises(IndexError, match="index_select"):  # also with grad
        ember.tensor(_x((3, 4)), requires_grad=True).index_select(1, ember.tensor([5]))
    with pytest.raises(TypeError, match="index_select"):
        x.index_select(1, ember.tensor(np.array([0.0, 1.0])))
    with pytest.raises(TypeError, match="index_select"):
        x.index_select(1, ember.tensor(np.array([0, 1], np.int16)))
    with pytest.raises(TypeError, match="index_select"):  # 2-D index
        x.index_select(1, ember.tensor(np.array([[0, 1]])))
    with pytest.raises(IndexError, match="index_select"):
        x.index_select(2, ember.tensor(np.array([0])))
    with pytest.raises(IndexError, match="index_select"):
        x.index_select(-3, ember.tensor(np.array([0])))


def test_index_select_kernel_checks_at_the_boundary():
    x = _x((3, 4))
    with pytest.raises(IndexError, match="out of range"):
        _C.index_select(x, np.array([4]), 1)
    with pytest.raises(IndexError, match="dim 2 is out of range"):
        _C.index_select(x, np.array([0]), 2)
    with pytest.raises(TypeError, match="int64"):
        _C.index_select(x, np.array([0], np.int32), 1)
    with pytest.raises(ValueError, match="1-D"):
        _C.index_select(x, np.array([[0]]), 1)
    with pytest.raises(ValueError, match="contiguous"):
        _C.index_select(x.T, np.array([0]), 1)
    with pytest.raises(TypeError):
        _C.index_select(np.array(["a", "b"]), np.array([0]), 0)
    g = _x((3, 2))
    with pytest.raises(IndexError, match="out of range"):
        _C.index_select_backward(g, np.array([0, 9]), 1, 4)
    with pytest.raises(ValueError, match="2 indices"):
        _C.index_select_backward(g, np.array([0, 1]), 0, 4)
    with pytest.raises(ValueError, match="size must be >= 0"):
        _C.index_select_backward(g, np.array([0, 1]), 1, -1)
    with pytest.raises(TypeError):
        _C.index_select_backward(g.astype(np.int16), np.array([0, 1]), 1, 4)
    # out: added into in place (index_add), refused when of another shape
    out = np.ones((3, 4), np.float32)
    _C.index_select_backward(g, np.array([3, 3]), 1, 4, out=out)
    ref = np.ones((3, 4), np.float32)
    np.add.at(ref, (slice(None), [3, 3]), g)
    np.testing.assert_array_equal(out, ref)
    with pytest.raises(ValueError):
        _C.index_select_backward(g, np.array([3, 3]), 1, 4, out=np.ones((3, 5), np.float32))


# ---- hypot / atan2 ------------------------------------------------------------------------------

SPECIAL = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, 3e38, -2.5, 1e-310, 1e300])


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_hypot_matches_numpy_bits_and_torch(shape, dtype, threads):
    a, b = _x(shape, dtype) * 1e3, _x(shape, dtype, seed=1)
    for _ in threads():
        y = ember.hypot(ember.tensor(a), ember.tensor(b))
        np.testing.assert_array_equal(y.numpy(), np.hypot(a, b))  # NumPy's (libm's) bits
        ref = torch.hypot(torch.from_numpy(a), torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-6 if dtype == np.float32 else 1e-14)
        y = ember.hypot(ember.tensor(a), ember.tensor(np.array(2.5, dtype)))  # one value second
        np.testing.assert_array_equal(y.numpy(), np.hypot(a, dtype(2.5)))
        y = ember.hypot(ember.tensor(a), 2.5)  # torch refuses a number: design.md's 0-d tensor
        np.testing.assert_array_equal(y.numpy(), np.hypot(a, dtype(2.5)))
        y = ember.hypot(ember.tensor(np.array(2.5, dtype)), ember.tensor(a))  # one value first
        np.testing.assert_array_equal(y.numpy(), np.hypot(dtype(2.5), a))


@pytest.mark.parametrize("dtype", DTYPES)
def test_hypot_special_values(dtype):
    with np.errstate(over="ignore"):
        v = SPECIAL.astype(dtype)
    a, b = np.meshgrid(v, v)
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    y = ember.hypot(ember.tensor(a), ember.tensor(b)).numpy()
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(y, np.hypot(a, b))  # inf beside NaN is inf, as libm
    np.testing.assert_array_equal(y, torch.hypot(torch.from_numpy(a), torch.from_numpy(b)))


def test_hypot_and_atan2_broadcast_grads_non_contiguous_empty():
    a = _x((4, 5), np.float64)
    b = _x((5,), np.float64, seed=1)
    for f, tf in ((ember.hypot, torch.hypot), (ember.atan2, torch.atan2)):
        ae, be = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
        at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        f(ae, be).sum().backward()
        tf(at, bt).sum().backward()
        np.testing.assert_allclose(f(ae, be).detach().numpy(), tf(at, bt).detach().numpy())
        np.testing.assert_allclose(ae.grad.numpy(), at.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(be.grad.numpy(), bt.grad.numpy(), rtol=1e-12)
        assert gradcheck(f, (ae, be))
        # non-contiguous operands of one shape (the straight path copies nothing it needs)
        y = f(ember.tensor(a.T), ember.tensor(a[:, ::-1].T.copy()))
        ref = tf(torch.from_numpy(a.T.copy()), torch.from_numpy(a[:, ::-1].T.copy()))
        np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-15)  # (an ulp: libm's)
        assert f(ember.tensor(np.zeros((0, 3))), ember.tensor(np.zeros((0, 3)))).shape == (0, 3)
        with pytest.raises(ValueError):
            f(ember.tensor(a), ember.tensor(_x((3,), np.float64)))
        with pytest.raises(TypeError):
            f(ember.tensor(a), "x")
    # mixed dtypes promote as torch
    y = ember.hypot(ember.tensor(a.astype(np.float32)), ember.tensor(a))
    assert y.dtype == np.float64
    y = ember.atan2(ember.tensor(np.array([1, 2])), ember.tensor(np.array([3, 4])))
    assert y.dtype == np.float32


def test_hypot_kernel_checks_at_the_boundary():
    a = _x((3, 4))
    with pytest.raises(TypeError):
        _C.hypot(a, a.astype(np.float64))
    with pytest.raises(TypeError):
        _C.hypot(a.astype(np.int64), a.astype(np.int64))
    with pytest.raises(ValueError):
        _C.hypot(a, _x((4, 3)))
    with pytest.raises(ValueError, match="contiguous"):
        _C.hypot(a.T, a.T.copy())


# ---- lerp ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_lerp_matches_torchs_bits(shape, dtype, threads):
    """torch's fused two-sided form, fma(w, d, a) or fma(-d, 1 - w, b): its bits."""
    a, b = _x(shape, dtype), _x(shape, dtype, seed=1)
    wt = (np.random.default_rng(2).random(shape) * 1.6 - 0.3).astype(dtype)
    for _ in threads():
        for w in (0.3, 0.7, 0, 1, -0.25, 2):
            y = ember.lerp(ember.tensor(a), ember.tensor(b), w)
            tref = torch.lerp(torch.from_numpy(a), torch.from_numpy(b), w).numpy()
            np.testing.assert_array_equal(y.numpy(), tref)
        y = ember.lerp(ember.tensor(a), ember.tensor(b), ember.tensor(wt))
        tref = torch.lerp(torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(wt))
        np.testing.assert_array_equal(y.numpy(), tref.numpy())


def test_lerp_special_weights_exact_ends_and_nan():
    a, b = _x((40,), np.float64), _x((40,), np.float64, seed=1)
    e = lambda w: ember.lerp(ember.tensor(a), ember.tensor(b), w).numpy()  # noqa: E731
    np.testing.assert_array_equal(e(0.0), a)
    np.testing.assert_array_equal(e(1.0), b)
    assert np.isnan(e(float("nan"))).all()
    w = np.where(np.arange(40) % 2, np.nan, 0.2)
    y = ember.lerp(ember.tensor(a), ember.tensor(b), ember.tensor(w)).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(w))


def test_lerp_grads_broadcast_non_contiguous_empty_and_errors():
    a, b = _x((3, 4), np.float64), _x((3, 4), np.float64, seed=1)
    w = (np.random.default_rng(2).random((3, 4)) * 1.6 - 0.3).astype(np.float64)
    ae, be, we = (ember.tensor(v, requires_grad=True) for v in (a, b, w))
    at, bt, wt = (torch.tensor(v, requires_grad=True) for v in (a, b, w))
    ember.lerp(ae, be, we).pow(2).sum().backward()
    torch.lerp(at, bt, wt).pow(2).sum().backward()
    for e, t in ((ae, at), (be, bt), (we, wt)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda x, y, z: ember.lerp(x, y, z), (ae, be, we))
    # broadcasting end and weight
    y = ember.lerp(ember.tensor(a), ember.tensor(b[0]), ember.tensor(w[:, :1]))
    ref = torch.lerp(torch.from_numpy(a), torch.from_numpy(b[0]), torch.from_numpy(w[:, :1]))
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-15)
    # non-contiguous operands
    y = ember.lerp(ember.tensor(a.T), ember.tensor(b.T), ember.tensor(w.T))
    ref = torch.lerp(torch.from_numpy(a.T), torch.from_numpy(b.T), torch.from_numpy(w.T))
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    assert ember.lerp(ember.zeros(0, 2), ember.zeros(0, 2), 0.5).shape == (0, 2)
    with pytest.raises(ValueError):
        ember.lerp(ember.tensor(a), ember.tensor(_x((5,), np.float64)), 0.5)


def test_lerp_kernel_checks_at_the_boundary():
    a = _x((3, 4))
    with pytest.raises(TypeError):
        _C.lerp(a, a, "w")
    with pytest.raises(TypeError):
        _C.lerp(a, a, a.astype(np.float64))
    with pytest.raises(ValueError):
        _C.lerp(a, a, _x((4, 3)))
    with pytest.raises(ValueError):
        _C.lerp(a, _x((4, 3)), 0.5)
    with pytest.raises(ValueError, match="range"):
        _C.lerp(a, a, 1e300)
    # any strides are read in place (session 42): the same values as contiguous copies
    np.testing.assert_array_equal(
        _C.lerp(a.T, a.T.copy(), 0.5), _C.lerp(a.T.copy(), a.T.copy(), 0.5)
    )


# ---- logsumexp ----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", DTYPES)
def test_logsumexp_matches_torch(shape, dtype, threads):
    x = _x(shape, dtype) * 10
    tol = dict(rtol=2e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    for _ in threads():
        for dim in list(range(-len(shape), len(shape))) + [(0, 1)]:
            for keepdim in (False, True):
                y = ember.tensor(x).logsumexp(dim, keepdim)
                ref = torch.from_numpy(x).logsumexp(dim, keepdim).numpy()
                assert y.shape == ref.shape and y.dtype == dtype
                np.testing.assert_allclose(y.numpy(), ref, **tol)
        # the same bits on the straight and recorded paths
        xe = ember.tensor(x, requires_grad=True)
        np.testing.assert_array_equal(
            xe.logsumexp(1).detach().numpy(), ember.tensor(x).logsumexp(1).numpy()
        )


def test_logsumexp_special_rows_grads_non_contiguous_empty():
    x = np.array(
        [[-np.inf, -np.inf], [np.inf, 1.0], [np.nan, 1.0], [1e30, 1e30], [-1e30, 2.0]], np.float32
    )
    for dim in (1, 0):
        y = ember.tensor(x).logsumexp(dim).numpy()
        np.testing.assert_array_equal(y, torch.from_numpy(x).logsumexp(dim).numpy())
    x = _x((4, 5, 3), np.float64)
    xe = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda t: t.logsumexp(1), (xe,))
    assert gradcheck(lambda t: t.logsumexp((1, 2), True), (xe,))
    xe.logsumexp(2).pow(2).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    xt.logsumexp(2).pow(2).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    xnc = x.transpose(2, 0, 1)
    np.testing.assert_allclose(
        ember.tensor(xnc).logsumexp(1).numpy(), torch.from_numpy(xnc).logsumexp(1).numpy()
    )
    e = np.zeros((3, 0), np.float32)
    np.testing.assert_array_equal(
        ember.tensor(e).logsumexp(1).numpy(), torch.from_numpy(e).logsumexp(1).numpy()
    )
    assert ember.tensor(e).logsumexp(0).shape == (0,)
    with pytest.raises(IndexError):
        ember.tensor(x).logsumexp(3)
    with pytest.raises(ValueError):
        _C.logsumexp_dim(x, 1, 4)
    with pytest.raises(TypeError):
        _C.logsumexp_dim(x.astype(np.int32), 0, 1)


# ---- remainder / fmod with a number or broadcasting ------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["remainder", "fmod"])
def test_mod_scalar_and_broadcast_match_numpy_and_torch(dtype, name, threads):
    f, tf = getattr(ember, name), getattr(torch, name)
    ref_np = (lambda a, b: np.remainder(a, b)) if name == "remainder" else np.fmod
    a = _x((300, 257), dtype) * 10
    col = _x((300, 1), dtype, seed=1) + 0.25
    row = _x((257,), dtype, seed=2) - 0.25
    for _ in threads():
        same = np.abs(_x((300, 257), dtype, seed=3)) + 0.5  # (the straight path)
        cases = [(a, 0.7), (a, -3), (a, col), (a, row), (col, a), (a.T, row[:, None]), (a, same)]
        if name == "remainder":  # (torch.fmod takes no number first)
            cases.append((2.5, a))
        for x, y in cases:
            xe = ember.tensor(x) if isinstance(x, np.ndarray) else x
            ye = ember.tensor(y) if isinstance(y, np.ndarray) else y
            out = f(xe, ye)
            xt = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
            yt = torch.from_numpy(np.ascontiguousarray(y)) if isinstance(y, np.ndarray) else y
            ref = tf(xt, yt).numpy()
            assert out.dtype == dtype and out.shape == ref.shape
            np.testing.assert_array_equal(out.numpy(), ref)  # both exact
            if isinstance(x, np.ndarray) and isinstance(y, np.ndarray) or name == "fmod":
                xn = x if isinstance(x, np.ndarray) else dtype(x)
                yn = y if isinstance(y, np.ndarray) else dtype(y)
                if name == "fmod":
                    np.testing.assert_array_equal(out.numpy(), ref_np(xn, yn))


def test_mod_special_values_empty_grads_and_errors():
    a = np.array([0.0, -0.0, 5.5, -5.5, np.inf, np.nan, 1e30, -7.0], np.float32)
    for name in ("remainder", "fmod"):
        f, tf = getattr(ember, name), getattr(torch, name)
        for b in (0.0, -2.0, np.inf, 3):
            np.testing.assert_array_equal(
                f(ember.tensor(a), b).numpy(), tf(torch.from_numpy(a), b).numpy()
            )
        assert f(ember.zeros(0, 3), 2.0).shape == (0, 3)
        x = _x((3, 4), np.float64) * 5
        xe = ember.tensor(x, requires_grad=True)
        be = ember.tensor(_x((4,), np.float64, seed=1) + 3, requires_grad=True)
        assert gradcheck(f, (xe, be))
        xe2 = ember.tensor(x, requires_grad=True)
        f(xe2, 0.7).sum().backward()
        np.testing.assert_array_equal(xe2.grad.numpy(), np.ones((3, 4)))
        with pytest.raises(ValueError):
            f(ember.tensor(x), ember.tensor(_x((3,), np.float64)))
        # integers keep NumPy's path, and integer division by zero its error
        np.testing.assert_array_equal(
            f(ember.tensor(np.array([7, -7])), 3).numpy(), tf(torch.tensor([7, -7]), 3).numpy()
        )
        with pytest.raises(RuntimeError, match="ZeroDivisionError"):
            f(ember.tensor(np.array([7, -7])), 0)


# ---- binary_cross_entropy_with_logits ---------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_fused_matches_torch(dtype, reduction, threads):
    import ember.nn.functional as F

    rng = np.random.default_rng(5)
    x = (_x((64, 1100), dtype) * 4).astype(dtype)
    x[0, :4] = [40, -40, 0, 1e4]  # saturated logits stay finite
    t = rng.random((64, 1100)).astype(dtype)
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for _ in threads():
        xe, te = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
        xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
        y = F.binary_cross_entropy_with_logits(xe, te, reduction=reduction)
        yt = torch.nn.functional.binary_cross_entropy_with_logits(xt, tt, reduction=reduction)
        np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), **tol)
        g = _x(x.shape, dtype, seed=6) if reduction == "none" else np.array(1.5, dtype)
        y.backward(ember.tensor(g))
        yt.backward(torch.from_numpy(g))
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
        np.testing.assert_allclose(te.grad.numpy(), tt.grad.numpy(), **tol)
        assert xe.grad.dtype == dtype


def test_bce_with_logits_fused_gradcheck_weights_non_contiguous_empty_errors():
    import ember.nn.functional as F

    x = _x((3, 5), np.float64)
    t = np.random.default_rng(7).random((3, 5))
    xe = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: F.binary_cross_entropy_with_logits(a, ember.tensor(t)), (xe,))
    # the weighted forms (NumPy's path) agree with torch too
    w, pw = np.abs(_x((5,), np.float64, seed=8)), np.abs(_x((5,), np.float64, seed=9))
    for kw in (dict(weight=w), dict(pos_weight=pw)):
        y = F.binary_cross_entropy_with_logits(
            ember.tensor(x), ember.tensor(t), **{k: ember.tensor(v) for k, v in kw.items()}
        )
        yt = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(x),
            torch.from_numpy(t),
            **{k: torch.from_numpy(v) for k, v in kw.items()},
        )
        np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12)
    y = F.binary_cross_entropy_with_logits(ember.tensor(x.T), ember.tensor(t.T))  # strided
    yt = torch.nn.functional.binary_cross_entropy_with_logits(
        torch.from_numpy(x.T), torch.from_numpy(t.T)
    )
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12)
    e = np.zeros((0, 3))
    for r in ("mean", "sum", "none"):
        y = F.binary_cross_entropy_with_logits(ember.tensor(e), ember.tensor(e), reduction=r)
        yt = torch.nn.functional.binary_cross_entropy_with_logits(
            torch.from_numpy(e), torch.from_numpy(e), reduction=r
        )
        np.testing.assert_array_equal(y.numpy(), yt.numpy())
    with pytest.raises(ValueError):
        F.binary_cross_entropy_with_logits(ember.tensor(x), ember.tensor(t[:2]))
    with pytest.raises(ValueError, match="needs t"):
        _C.regression_loss_backward(x, None, None, "bce_logits")
    with pytest.raises(ValueError, match="unknown loss"):
        _C.regression_loss_forward(x, t, "bce")


# ---- straight paths of special functions and prod(dim) ------------------------------------------


@pytest.mark.parametrize("name", ["erf", "erfc", "erfinv", "lgamma", "digamma", "i0"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_special_straight_matches_recorded_and_torch(name, dtype):
    x = np.tanh(_x((32, 32), dtype)) if name == "erfinv" else np.abs(_x((32, 32), dtype)) + 0.1
    y = getattr(ember, name)(ember.tensor(x))
    assert y.dtype == dtype and y.grad_fn is None
    rec = getattr(ember, name)(ember.tensor(x, requires_grad=True))  # the recorded path
    np.testing.assert_array_equal(y.numpy(), rec.detach().numpy())
    ref = getattr(torch, name)(torch.from_numpy(x)).numpy()
    tol = dict(rtol=2e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(y.numpy(), ref, **tol)  # (digamma near its root: atol)
    # other forms keep the general path: non-contiguous, 0-d, integers
    np.testing.assert_allclose(
        getattr(ember, name)(ember.tensor(x.T)).numpy(), y.numpy().T, rtol=0, atol=0
    )
    assert getattr(ember, name)(ember.tensor(x[0, 0])).shape == ()
    assert ember.erf(ember.tensor(np.array([1, 2]))).dtype == np.float32


@pytest.mark.parametrize("dtype", DTYPES)
def test_prod_dim_straight_matches_recorded_and_torch(dtype, threads):
    x = (np.tanh(_x((300, 257), dtype)) * 0.5 + 1).astype(dtype)
    for _ in threads():
        for dim in (0, 1, -1):
            for keepdim in (False, True):
                y = ember.tensor(x).prod(dim, keepdim)
                assert y.grad_fn is None and y.dtype == dtype
                rec = ember.tensor(x, requires_grad=True).prod(dim, keepdim)
                np.testing.assert_array_equal(y.numpy(), rec.detach().numpy())
                ref = torch.from_numpy(x).prod(dim, keepdim).numpy()
                np.testing.assert_allclose(
                    y.numpy(), ref, rtol=1e-4 if dtype == np.float32 else 1e-12
                )
    assert ember.tensor(np.zeros((0, 3), dtype)).prod(0).numpy().tolist() == [1, 1, 1]
    np.testing.assert_allclose(ember.tensor(x.T).prod(1).numpy(), x.T.prod(1), rtol=1e-5)
    with pytest.raises(IndexError):
        ember.tensor(x).prod(2)
    assert ember.tensor(np.array([[2, 3]], np.int32)).prod(1).dtype == np.int64


# ---- kl_div ----------------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # (torch's, and ember's)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum"])
def test_kl_div_fused_matches_torch(dtype, reduction, threads):
    import ember.nn.functional as F

    rng = np.random.default_rng(10)
    x = np.log(rng.dirichlet(np.ones(700), 64)).astype(dtype)
    t = rng.dirichlet(np.ones(700), 64).astype(dtype)
    t[0, :5] = 0  # 0 log 0 = 0
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    for _ in threads():
        xe, te = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
        xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
        y = F.kl_div(xe, te, reduction=reduction)
        yt = torch.nn.functional.kl_div(xt, tt, reduction=reduction)
        assert y.shape == () and y.dtype == dtype
        np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), **tol)
        y.backward(ember.tensor(np.array(0.7, dtype)))
        yt.backward(torch.tensor(0.7, dtype=yt.dtype))
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
        # the target's gradient: torch's, except 0 where t == 0 (torch: NaN; see kl_div)
        gt = te.grad.numpy()
        assert (gt[0, :5] == 0).all()
        np.testing.assert_allclose(gt[t != 0], tt.grad.numpy()[t != 0], **tol)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")
def test_kl_div_fused_gradcheck_double_backward_and_other_forms():
    import ember.nn.functional as F

    rng = np.random.default_rng(11)
    x = np.log(rng.dirichlet(np.ones(5), 3))
    t = rng.dirichlet(np.ones(5), 3)
    xe, te = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
    assert gradcheck(lambda a, b: F.kl_div(a, b, reduction="batchmean"), (xe, te))
    # create_graph: the gradient of the gradient's norm, as torch
    (g,) = ember.autograd.grad(F.kl_div(xe, te, reduction="sum"), te, create_graph=True)
    (gg,) = ember.autograd.grad(g.pow(2).sum(), xe)
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    (g_t,) = torch.autograd.grad(
        torch.nn.functional.kl_div(xt, tt, reduction="sum"), tt, create_graph=True
    )
    (gg_t,) = torch.autograd.grad(g_t.pow(2).sum(), xt)
    np.testing.assert_allclose(gg.numpy(), gg_t.numpy(), rtol=1e-12)
    # non-contiguous, broadcast target, log_target, 'none', empty: the general path, as torch
    cases = [
        (x.T, t.T, {}),
        (x, t[0], {}),
        (x, np.log(t), {"log_target": True}),
        (x, t, {"reduction": "none"}),
    ]
    for a, b, kw in cases:
        y = F.kl_div(ember.tensor(a), ember.tensor(b), **kw)
        yt = torch.nn.functional.kl_div(torch.from_numpy(a), torch.from_numpy(b), **kw)
        np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-12)
    e = np.zeros((0, 3))
    y = F.kl_div(ember.tensor(e), ember.tensor(e), reduction="sum")
    assert y.item() == 0
    with pytest.raises(ValueError):
        F.kl_div(ember.tensor(x), ember.tensor(t[:2]))
    with pytest.raises(ValueError, match="needs t"):
        _C.regression_loss_backward(x, None, None, "kl_div")


# ---- index_add / scatter_add on the kernels -----------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_index_add_and_scatter_add_match_torch(dtype, threads):
    rng = np.random.default_rng(12)
    x = _x((6, 300, 5), dtype)
    for _ in threads():
        for dim in (0, 1, 2, -1):
            n = x.shape[dim]
            idx = rng.integers(0, n, 2 * n)
            src_shape = list(x.shape)
            src_shape[dim] = idx.size
            src = _x(tuple(src_shape), dtype, seed=13)
            for alpha in (1, 2.5):
                y = ember.tensor(x).index_add(
                    dim, ember.tensor(idx), ember.tensor(src), alpha=alpha
                )
                ref = torch.from_numpy(x).index_add(
                    dim, torch.from_numpy(idx), torch.from_numpy(src), alpha=alpha
                )
                np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)
            sidx = rng.integers(0, n, x.shape)
            y = ember.tensor(x).scatter_add(dim, ember.tensor(sidx), ember.tensor(x * 2))
            ref = torch.from_numpy(x).scatter_add(
                dim, torch.from_numpy(sidx), torch.from_numpy(x * 2)
            )
            np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


def test_index_add_scatter_add_grads_non_contiguous_and_errors():
    x = _x((4, 5), np.float64)
    idx = np.array([4, 0, 4])
    src = _x((4, 3), np.float64, seed=1)
    xe, se = ember.tensor(x, requires_grad=True), ember.tensor(src, requires_grad=True)
    assert gradcheck(lambda a, b: a.index_add(1, ember.tensor(idx), b, alpha=2.0), (xe, se))
    sidx = np.array([[0, 1, 0, 3, 3], [2, 2, 1, 0, 1]])
    s2 = ember.tensor(_x((2, 5), np.float64, seed=2), requires_grad=True)
    assert gradcheck(lambda a, b: a.scatter_add(0, ember.tensor(sidx), b), (xe, s2))
    xt, st = torch.tensor(x, requires_grad=True), torch.tensor(s2.numpy(), requires_grad=True)
    ember.tensor(x, requires_grad=True).scatter_add(0, ember.tensor(sidx), s2).pow(
        2
    ).sum().backward()
    xt.scatter_add(0, torch.from_numpy(sidx), st).pow(2).sum().backward()
    np.testing.assert_allclose(s2.grad.numpy(), st.grad.numpy(), rtol=1e-12)
    # a non-contiguous self
    y = ember.tensor(x.T).index_add(0, ember.tensor(idx), ember.tensor(src.T.copy()))
    ref = torch.from_numpy(x.T.copy()).index_add(
        0, torch.from_numpy(idx), torch.from_numpy(src.T.copy())
    )
    np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-15)
    with pytest.raises(IndexError, match="index_add"):
        ember.tensor(x).index_add(1, ember.tensor([5]), ember.tensor(src[:, :1]))
    with pytest.raises(IndexError, match="index_add"):
        ember.tensor(x).index_add(1, ember.tensor([-1]), ember.tensor(src[:, :1]))
    with pytest.raises(RuntimeError, match="index_add"):  # (torch's class)
        ember.tensor(x).index_add(1, ember.tensor([1]), ember.tensor(src))
    with pytest.raises(TypeError, match="index_add"):
        ember.tensor(x).index_add(1, ember.tensor([1.0]), ember.tensor(src[:, :1]))
    with pytest.raises(IndexError, match="scatter_add"):
        ember.tensor(x).scatter_add(0, ember.tensor(sidx + 3), ember.tensor(x))
    with pytest.raises(IndexError, match="scatter_add"):
        ember.tensor(x).scatter_add(1, ember.tensor(-sidx - 1), ember.tensor(x))
    with pytest.raises(TypeError, match="scatter_add"):
        ember.tensor(x).scatter_add(0, ember.tensor(sidx.astype(np.int16)), ember.tensor(x))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("weight", [0.3, 0.7, 2, -1.5])
def test_lerp_inplace_with_a_number_gives_lerps_bits(dtype, weight):
    """lerp_ with a Python number weighs in the tensor's dtype, as lerp does (a float64 detour
    rounded twice and differed from lerp by an ulp in about a third of the elements)."""
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal(4096).astype(dtype), rng.standard_normal(4096).astype(dtype)
    x = ember.tensor(a.copy())
    x.lerp_(ember.tensor(b), weight)
    np.testing.assert_array_equal(x.data, ember.lerp(ember.tensor(a), ember.tensor(b), weight).data)


@pytest.mark.parametrize("kernel", ["index_select_backward", "gather_backward"])
def test_backward_out_is_checked_never_converted(kernel):
    """The in-place `out` of both index backwards: added into when valid, refused (not silently
    copied, which would lose the sums) when of another dtype, shape, layout or read-only."""
    g = np.ones((2, 3), np.float32)
    idx = np.array([0, 2, 2], np.int64)
    if kernel == "gather_backward":
        idx = np.broadcast_to(idx, g.shape).copy()
    fn = getattr(_C, kernel)
    out = np.ones((2, 4), np.float32)
    fn(g, idx, 1, 4, out)
    np.testing.assert_array_equal(out, np.ones((2, 4)) + fn(g, idx, 1, 4, None))
    read_only = np.zeros((2, 4), np.float32)
    read_only.flags.writeable = False
    bad = [
        (np.zeros((2, 4), np.float64), TypeError, "dtype"),
        ([[0.0] * 4] * 2, TypeError, "dtype"),
        (np.zeros((2, 5), np.float32), ValueError, "shape"),
        (np.zeros((4, 2), np.float32).T, ValueError, "contiguous"),
        (read_only, ValueError, "writeable"),
    ]
    for arr, err, word in bad:
        with pytest.raises(err, match=word):
            fn(g, idx, 1, 4, arr)
