"""softmax / log_softmax, layer_norm and 2-D matmul run their kernel straight for float tensors
outside the graph: the same values as the recorded path and as PyTorch, at 1 and 2 threads, and
every other call (grad, odd dims, shapes, dtypes) still takes the checked path, its errors and
gradients unchanged."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _x(shape, dtype=np.float32, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


# shapes on both sides of the kernels' thread threshold (2^15 elements)
SHAPES = [(32, 32), (3, 5, 7), (300, 257)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("log", [False, True])
def test_softmax_straight_matches_recorded_and_torch(shape, dtype, log, threads):
    x = _x(shape, dtype)
    f, tf = (F.log_softmax, torch.log_softmax) if log else (F.softmax, torch.softmax)
    for _ in threads():
        for dim in range(-len(shape), len(shape)):
            y = f(ember.tensor(x), dim)
            assert y.dtype == dtype and y.grad_fn is None and not y.requires_grad
            rec = f(ember.tensor(x, requires_grad=True), dim)  # the recorded path
            np.testing.assert_array_equal(y.numpy(), rec.detach().numpy())
            ref = tf(torch.from_numpy(x), dim).numpy()
            np.testing.assert_allclose(y.numpy(), ref, rtol=1e-5, atol=1e-6)


def test_softmax_other_calls_keep_the_checked_path():
    x = ember.tensor(_x((2, 3)))
    with pytest.raises(IndexError, match="softmax: dim 2 is out of range"):
        F.softmax(x, 2)
    with pytest.raises(IndexError, match="log_softmax: dim -3 is out of range"):
        F.log_softmax(x, -3)
    with pytest.raises(TypeError, match="dim must be an int"):
        F.softmax(x, 1.0)
    with pytest.raises(TypeError):  # integers are refused, as torch
        F.softmax(ember.tensor([[1, 2]]), 1)
    np.testing.assert_allclose(  # np.int64 dim, a non-contiguous input, a 0-d tensor
        F.softmax(x.T, np.int64(0)).numpy(), torch.softmax(torch.from_numpy(x.numpy().T), 0)
    )
    assert F.softmax(ember.tensor(2.0), 0).item() == 1.0
    np.testing.assert_allclose(
        F.softmax(x, 1, dtype=ember.float64).numpy(), torch.softmax(torch.tensor(x.numpy()), 1)
    )
    with ember.no_grad():  # grad mode off: the straight path for a leaf requiring grad too
        y = F.softmax(ember.tensor(_x((2, 3)), requires_grad=True), 1)
    assert y.grad_fn is None


def test_softmax_gradients_unchanged():
    x = ember.tensor(_x((3, 4), np.float64), requires_grad=True)
    assert gradcheck(lambda t: F.softmax(t, 1), (x,))
    assert gradcheck(lambda t: F.log_softmax(t, 0), (x,))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [False, True])
def test_layer_norm_straight_matches_recorded_and_torch(shape, dtype, affine, threads):
    x = _x(shape, dtype)
    k = shape[-1]
    w, b = (_x((k,), dtype, 1), _x((k,), dtype, 2)) if affine else (None, None)
    tw, tb = (torch.from_numpy(w), torch.from_numpy(b)) if affine else (None, None)
    for _ in threads():
        for ns in (k, (k,), shape[1:]):
            nsh = (ns,) if isinstance(ns, int) else tuple(ns)
            args = (None, None) if not affine or nsh != (k,) else (ember.tensor(w), ember.tensor(b))
            y = F.layer_norm(ember.tensor(x), ns, *args, eps=1e-4)
            assert y.dtype == dtype and y.grad_fn is None
            rec = F.layer_norm(ember.tensor(x, requires_grad=True), ns, *args, eps=1e-4)
            np.testing.assert_array_equal(y.numpy(), rec.detach().numpy())
            targs = (tw, tb) if args[0] is not None else (None, None)
            ref = torch.nn.functional.layer_norm(torch.from_numpy(x), nsh, *targs, eps=1e-4)
            np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-4, atol=1e-5)


def test_layer_norm_other_calls_keep_the_checked_path():
    x = ember.tensor(_x((2, 3)))
    with pytest.raises(ValueError, match="does not end with normalized_shape"):
        F.layer_norm(x, 4)
    with pytest.raises(ValueError, match="weight shape"):
        F.layer_norm(x, 3, ember.ones(4))
    with pytest.raises(TypeError, match="share a dtype"):
        F.layer_norm(x, 3, ember.ones(3, dtype=ember.float64))
    with pytest.raises(ValueError, match="non-empty"):
        F.layer_norm(x, ())
    assert F.layer_norm(ember.zeros(2, 0), 0).shape == (2, 0)  # empty: the checked path
    y = F.layer_norm(x, [3], ember.ones(3, requires_grad=True))  # a list, a weight in the graph
    assert y.grad_fn is not None
    ref = torch.nn.functional.layer_norm(torch.from_numpy(x.numpy()), (3,))
    np.testing.assert_allclose(y.detach().numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


def test_layer_norm_gradients_unchanged():
    x = ember.tensor(_x((3, 4), np.float64), requires_grad=True)
    w = ember.tensor(_x((4,), np.float64, 1), requires_grad=True)
    b = ember.tensor(_x((4,), np.float64, 2), requires_grad=True)
    assert gradcheck(lambda t, u, v: F.layer_norm(t, 4, u, v), (x, w, b))


@pytest.mark.parametrize("mkn", [(32, 32, 32), (1, 7, 1), (200, 300, 100)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_straight_matches_recorded_and_torch(mkn, dtype, threads):
    m, k, n = mkn
    a, b = _x((m, k), dtype, 3), _x((k, n), dtype, 4)
    for _ in threads():
        y = ember.tensor(a) @ ember.tensor(b)
        assert y.dtype == dtype and y.shape == (m, n) and y.grad_fn is None
        rec = ember.tensor(a, requires_grad=True) @ ember.tensor(b)
        np.testing.assert_array_equal(y.numpy(), rec.detach().numpy())
        ref = (torch.from_numpy(a) @ torch.from_numpy(b)).numpy()
        np.testing.assert_allclose(y.numpy(), ref, rtol=1e-4, atol=1e-4)
        yt = ember.tensor(b).T @ ember.tensor(a).T  # transposed views: no copy needed
        np.testing.assert_allclose(yt.numpy(), ref.T, rtol=1e-4, atol=1e-4)


def test_matmul_other_calls_keep_the_checked_path():
    a, b = ember.tensor(_x((2, 3))), ember.tensor(_x((4, 5)))
    with pytest.raises(ValueError, match=r"cannot be multiplied \(3 != 4\)"):
        a @ b
    with pytest.raises(TypeError, match="one dtype"):
        a @ ember.tensor(_x((3, 2), np.float64))
    ints = ember.tensor([[1, 2], [3, 4]]) @ ember.tensor([[1, 0], [0, 1]])
    assert ints.dtype == np.int64 and ints.numpy().tolist() == [[1, 2], [3, 4]]
    assert (a @ ember.tensor(_x((3,)))).shape == (2,)  # 1-D and batched: MatMul
    assert (ember.tensor(_x((4, 2, 3))) @ ember.tensor(_x((3, 5)))).shape == (4, 2, 5)


def test_matmul_gradients_unchanged():
    a = ember.tensor(_x((3, 4), np.float64), requires_grad=True)
    b = ember.tensor(_x((4, 2), np.float64, 1), requires_grad=True)
    assert gradcheck(lambda s, t: s @ t, (a, b))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_amax_amin_straight_match_recorded_and_torch(dtype, threads):
    x = _x((6, 5, 300), dtype)
    x[1, 2, 7] = np.nan  # NaN wins, as torch
    for _ in threads():
        for src in (x, x[:, :, ::2]):  # contiguous (straight), strided (the checked path)
            for dim in (0, 1, 2, -1, -3):
                for keepdim in (False, True):
                    for f, tf in ((ember.amax, torch.amax), (ember.amin, torch.amin)):
                        y = f(ember.tensor(src), dim, keepdim)
                        rec = f(ember.tensor(src, requires_grad=True), dim, keepdim)
                        np.testing.assert_array_equal(y.numpy(), rec.detach().numpy())
                        ref = tf(torch.from_numpy(np.ascontiguousarray(src)), dim, keepdim)
                        np.testing.assert_array_equal(y.numpy(), ref.numpy())
    with pytest.raises(IndexError):
        ember.amax(ember.tensor(x), 3)
    with pytest.raises(IndexError, match="empty dim"):
        ember.amax(ember.zeros(2, 0), 1)
