"""layer_norm: kernel and F.layer_norm against float64 NumPy references and PyTorch, gradcheck,
extreme inputs, bad inputs."""

import numpy as np
import pytest
import reference_attention as ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}
# (input shape, normalized_shape): M below, at and above the 16 and 32 lanes, past a 1024 block,
# past the 4096 of a row whose statistics take one pass, several dims, 1 element.
CASES = [
    ((4, 5), (5,)),
    ((3, 7, 16), (16,)),
    ((3, 32), (32,)),
    ((2, 3, 37), (37,)),
    ((2, 95), (95,)),
    ((2, 2053), (2053,)),
    ((2, 3, 4, 5), (4, 5)),
    ((6, 1000), (1000,)),
    ((2, 5000), (5000,)),
    ((5, 1), (1,)),
    ((3, 4), (3, 4)),
]


def _run(x, shape, w, b, dy, eps=1e-5):
    tx = ember.tensor(x, requires_grad=True)
    tw = None if w is None else ember.tensor(w, requires_grad=True)
    tb = None if b is None else ember.tensor(b, requires_grad=True)
    y = F.layer_norm(tx, shape, tw, tb, eps)
    y.backward(dy)
    return (
        y.numpy(),
        tx.grad.numpy(),
        None if w is None else tw.grad.numpy(),
        None if b is None else tb.grad.numpy(),
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("affine", ["both", "none", "weight", "bias"])
def test_matches_numpy(case, dtype, affine, rng):
    xs, ns = case
    x = (rng.standard_normal(xs) * 3 + 2).astype(dtype)
    dy = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ns).astype(dtype) if affine in ("both", "weight") else None
    b = rng.standard_normal(ns).astype(dtype) if affine in ("both", "bias") else None
    y, dx, dw, db = _run(x, ns, w, b, dy)
    ry, rdx, rdw, rdb = ref.layer_norm(x, len(ns), w, b, dy=dy)
    assert y.dtype == dtype and dx.dtype == dtype
    np.testing.assert_allclose(y, ry, **TOL[dtype])
    np.testing.assert_allclose(dx, rdx, **TOL[dtype])
    if w is not None:
        np.testing.assert_allclose(dw, rdw, **TOL[dtype])
    if b is not None:
        np.testing.assert_allclose(db, rdb, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_pass_statistics_are_stable(dtype, rng):
    """A large offset: a naive sum-of-squares variance loses everything; Welford does not."""
    x = (rng.standard_normal((8, 300)) + 1e4).astype(dtype)
    y, mean, rstd = _C.layer_norm_forward(x, None, None, 1e-5)
    ry = ref.layer_norm(x.astype(np.float64), 1)
    np.testing.assert_allclose(y, ry, rtol=1e-3 if dtype == np.float32 else 1e-9, atol=1e-3)
    np.testing.assert_allclose(mean, x.astype(np.float64).mean(1), rtol=1e-6)
    const = np.full((2, 50), 3.0, dtype)  # zero variance: y = 0, rstd = 1/sqrt(eps)
    y, _, rstd = _C.layer_norm_forward(const, None, None, 1e-5)
    np.testing.assert_allclose(y, 0, atol=1e-6)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(1e-5), rtol=1e-4)


@pytest.mark.parametrize("offset", [0.0, 1e4])
@pytest.mark.parametrize("dtype", DTYPES)
def test_long_row_statistics_are_accurate(dtype, offset, rng):
    """Rows past 4096 values shift by their first block's mean only: one far from the row's
    (the first 1024 values 8 standard deviations up) or on a large common offset still gives
    the float64 statistics."""
    x = rng.standard_normal((3, 9000)) + offset
    x[:, :1024] += 8
    x = x.astype(dtype)
    y, mean, rstd = _C.layer_norm_forward(x, None, None, 1e-5)
    x64 = x.astype(np.float64)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(mean, x64.mean(1), rtol=tol)
    np.testing.assert_allclose(rstd, 1 / np.sqrt(x64.var(1) + 1e-5), rtol=tol)
    # y carries the float32 rounding of a mean near 1e4 (5e-4) times rstd
    atol = 1e-3 if dtype == np.float32 and offset else 10 * tol
    np.testing.assert_allclose(y, ref.layer_norm(x64, 1), rtol=tol, atol=atol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_backward_at_a_large_offset(dtype, rng):
    # Centred sums: dx, dw, db stay accurate when x = 1e4 + noise (sum dy * x - mean * sum dy
    # would cancel to a few digits in float32).
    x = (rng.standard_normal((6, 333)) + 1e4).astype(dtype)
    dy = rng.standard_normal((6, 333)).astype(dtype)
    w, b = rng.uniform(0.5, 2, 333).astype(dtype), rng.standard_normal(333).astype(dtype)
    _, dx, dw, db = _run(x, (333,), w, b, dy)
    _, rdx, rdw, rdb = ref.layer_norm(x.astype(np.float64), 1, w, b, dy=dy.astype(np.float64))
    tol = dict(rtol=1e-3, atol=2e-3) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, rdw, **tol)
    np.testing.assert_allclose(db, rdb, **tol)


def test_threads_agree(rng):
    x = rng.standard_normal((512, 300))
    dy = rng.standard_normal((512, 300))
    w, b = rng.standard_normal(300), rng.standard_normal(300)
    ember.set_num_threads(1)
    try:
        one = _run(x, (300,), w, b, dy)
    finally:
        ember.set_num_threads(2)
    two = _run(x, (300,), w, b, dy)
    for a, c in zip(one, two):
        np.testing.assert_allclose(a, c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("affine", [True, False])
def test_gradcheck(affine, rng):
    x = ember.tensor(rng.standard_normal((3, 2, 4)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((2, 4)), requires_grad=True) if affine else None
    b = ember.tensor(rng.standard_normal((2, 4)), requires_grad=True) if affine else None
    assert gradcheck(lambda x, w, b: F.layer_norm(x, (2, 4), w, b, 1e-3), (x, w, b))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(dtype, rng):
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((4, 6, 10)).astype(dtype)
    dy = rng.standard_normal((4, 6, 10)).astype(dtype)
    w, b = rng.standard_normal((6, 10)).astype(dtype), rng.standard_normal((6, 10)).astype(dtype)
    got = _run(x, (6, 10), w, b, dy, eps=1e-3)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    ty = torch.nn.functional.layer_norm(tx, (6, 10), tw, tb, 1e-3)
    ty.backward(torch.from_numpy(dy))
    want = (ty.detach().numpy(), tx.grad.numpy(), tw.grad.numpy(), tb.grad.numpy())
    for g, wt in zip(got, want):
        np.testing.assert_allclose(g, wt, **TOL[dtype])


def test_empty_batch():
    x = ember.zeros(0, 8, requires_grad=True)
    w = ember.ones(8, requires_grad=True)
    y = F.layer_norm(x, 8, w)
    assert y.shape == (0, 8)
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), 0)


def test_bad_inputs():
    x = ember.randn(2, 3, 4)
    with pytest.raises(ValueError, match="does not end with"):
        F.layer_norm(x, (3,))
    with pytest.raises(ValueError, match="does not end with"):
        F.layer_norm(x, (2, 2, 3, 4))
    with pytest.raises(ValueError, match="weight shape"):
        F.layer_norm(x, (4,), ember.ones(3))
    with pytest.raises(ValueError, match="bias shape"):
        F.layer_norm(x, (4,), None, ember.ones(5))
    with pytest.raises(ValueError, match="non-empty"):
        F.layer_norm(x, ())
    with pytest.raises(TypeError):
        F.layer_norm(x, "abc!")
    with pytest.raises(TypeError):
        F.layer_norm(x, (4,), ember.ones(4).double())
    with pytest.raises(TypeError):
        F.layer_norm(ember.tensor(np.ones((2, 4), np.int64)), (4,))
    a = np.zeros((2, 4), np.float32)
    with pytest.raises(ValueError, match="weight"):
        _C.layer_norm_forward(a, np.ones(3, np.float32), None, 1e-5)
    with pytest.raises(TypeError):
        _C.layer_norm_forward(a, np.ones(4, np.float64), None, 1e-5)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.layer_norm_forward(np.zeros((4, 4), np.float32)[:, ::2], None, None, 1e-5)
    with pytest.raises(ValueError, match="rstd"):
        _C.layer_norm_backward(a, a, np.zeros(2, np.float32), np.zeros(3, np.float32), None)


@pytest.mark.parametrize("big,dtype", [(1e200, np.float64), (3e38, np.float32)])
def test_long_rows_of_huge_values_give_the_scaled_statistics(big, dtype):
    # rows past 4096 values (a first-block shift): overflowing sums still take the scaled path
    x = np.random.default_rng(6).standard_normal((2, 5000))
    x[:, ::7] *= big / 4
    x[1, 3] = -big
    x = x.astype(dtype)
    y, mean, _ = _C.layer_norm_forward(x, None, None, 0.0)
    k = 2.0 ** -np.ceil(np.log2(big))  # exact: the NumPy reference on x * k cannot overflow
    xs = x.astype(np.float64) * k
    m, s = xs.mean(1, keepdims=True), xs.std(1, keepdims=True)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(y, (xs - m) / s, rtol=tol, atol=tol)
    np.testing.assert_allclose(mean, m.ravel() / k, rtol=tol)
