"""batch_norm on (N, C) input (S == 1): the channel-block path of the C++ kernels, forward and
backward, training and eval, against PyTorch and NumPy in float32 and float64, gradcheck."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F


def _reference(x, w, b, eps=1e-5):
    x = x.astype(np.float64)
    m, v = x.mean(0), x.var(0)
    xhat = (x - m) / np.sqrt(v + eps)
    return xhat * (1 if w is None else w) + (0 if b is None else b), m, x.var(0, ddof=1)


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-4) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-9)


def _assert_output_and_grads_match(y, ty, pairs, tol):
    """ember's output and the .grad of each (ember, torch) input pair (None when not affine)
    equal torch's within tol."""
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    for e, t in pairs:
        if e is not None:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("n,c", [(64, 130), (2, 3), (300, 64)])
def test_training_matches_torch_and_numpy(n, c, affine, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((n, c)) * 3 + 100).astype(dtype)  # a large mean must not cancel
    w = rng.uniform(0.5, 2, c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    rm, rv = ember.zeros(c, dtype=dtype), ember.ones(c, dtype=dtype)
    g = rng.standard_normal((n, c)).astype(dtype)
    ex = ember.tensor(x, requires_grad=True)
    ew = ember.tensor(w, requires_grad=True) if affine else None
    eb = ember.tensor(b, requires_grad=True) if affine else None
    y = F.batch_norm(ex, rm, rv, ew, eb, training=True, momentum=0.1)
    y.backward(ember.tensor(g))

    tx = torch.from_numpy(x).requires_grad_(True)
    tw = torch.from_numpy(w).requires_grad_(True) if affine else None
    tb = torch.from_numpy(b).requires_grad_(True) if affine else None
    trm, trv = torch.zeros(c, dtype=tx.dtype), torch.ones(c, dtype=tx.dtype)
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.1)
    ty.backward(torch.from_numpy(g))
    tol = _tol(dtype)
    _assert_output_and_grads_match(y, ty, [(ex, tx), (ew, tw), (eb, tb)], tol)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), **tol)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), **tol)
    ref, m, uvar = _reference(x, w, b)
    np.testing.assert_allclose(y.numpy(), ref, **tol)
    np.testing.assert_allclose(rm.numpy(), 0.1 * m, **tol)
    np.testing.assert_allclose(rv.numpy(), 0.9 + 0.1 * uvar, **tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_eval_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    n, c = 17, 70
    x, g = (rng.standard_normal((n, c)).astype(dtype) for _ in range(2))
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.5, 2, c).astype(dtype)
    erm, erv = ember.tensor(rm), ember.tensor(rv)
    w, b = rng.standard_normal(c).astype(dtype), rng.standard_normal(c).astype(dtype)
    ex, ew = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    y = F.batch_norm(ex, erm, erv, ew, b, training=False)
    y.backward(ember.tensor(g))
    tx, tw = torch.from_numpy(x).requires_grad_(True), torch.from_numpy(w).requires_grad_(True)
    args = (torch.from_numpy(rm), torch.from_numpy(rv), tw, torch.from_numpy(b))
    ty = torch.nn.functional.batch_norm(tx, *args, training=False)
    ty.backward(torch.from_numpy(g))
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), **tol)


@pytest.mark.parametrize("training", [True, False])
def test_gradcheck_2d(training):
    rng = np.random.default_rng(2)
    x, w, b = rng.standard_normal((5, 67)), rng.uniform(0.5, 2, 67), rng.standard_normal(67)
    rm, rv = ember.tensor(rng.standard_normal(67)), ember.tensor(rng.uniform(0.5, 2, 67))
    ts = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(lambda a, c, d: F.batch_norm(a, rm, rv, c, d, training=training), ts)


def test_same_result_on_one_and_two_threads():
    x = np.random.default_rng(3).standard_normal((2048, 96)).astype(np.float32)
    out = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        try:
            out.append(_C.batch_norm_forward(x, None, None, None, None, True, 0.1, 1e-5))
        finally:
            ember.set_num_threads(1)
    for a, b in zip(out[0], out[1]):
        assert np.array_equal(a, b)


def test_kernel_refuses_one_value_per_channel():
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        _C.batch_norm_forward(np.ones((1, 5)), None, None, None, None, True, 0.1, 1e-5)


# ---- group norm (_C.group_norm_forward / _backward) -------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize(
    "shape,groups",
    [
        ((4, 6, 5, 3), 3),
        ((2, 8), 4),
        ((3, 4, 17), 1),
        ((2, 5, 7), 5),
        # channel lengths around the 16- and 32-wide sums: S = 16, 33, 49, 64 + 31
        ((2, 4, 4, 4), 2),
        ((2, 6, 33), 3),
        ((3, 8, 7, 7), 4),
        ((2, 4, 95), 1),
    ],
)
def test_group_norm_matches_torch(shape, groups, affine, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    c = shape[1]
    x = (rng.standard_normal(shape) * 2 + 50).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.5, 2, c).astype(dtype) if affine else None
    b = rng.standard_normal(c).astype(dtype) if affine else None
    ex = ember.tensor(x, requires_grad=True)
    ew, eb = (ember.tensor(a, requires_grad=True) if affine else None for a in (w, b))
    y = F.group_norm(ex, groups, ew, eb, eps=1e-5)
    y.backward(ember.tensor(g))
    tx = torch.from_numpy(x).requires_grad_(True)
    tw, tb = (torch.from_numpy(a).requires_grad_(True) if affine else None for a in (w, b))
    ty = torch.nn.functional.group_norm(tx, groups, tw, tb, eps=1e-5)
    ty.backward(torch.from_numpy(g))
    tol = _tol(dtype)
    _assert_output_and_grads_match(y, ty, [(ex, tx), (ew, tw), (eb, tb)], tol)
    # NumPy reference of the forward
    xr = x.astype(np.float64).reshape(shape[0], groups, -1)
    ref = ((xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + 1e-5)).reshape(
        shape
    )
    if affine:
        cshape = (c,) + (1,) * (len(shape) - 2)
        ref = ref * w.reshape(cshape) + b.reshape(cshape)
    np.testing.assert_allclose(y.numpy(), ref, **tol)


def _group_norm_backward_ref(x, g, w, groups, eps=1e-5):
    # float64 NumPy: dx = rstd * (g w - mean(g w) - xhat * mean(g w xhat)) over each group
    n, c = x.shape[:2]
    xr = x.reshape(n, groups, -1)
    xhat = ((xr - xr.mean(-1, keepdims=True)) / np.sqrt(xr.var(-1, keepdims=True) + eps)).reshape(
        x.shape
    )
    cshape = (1, c) + (1,) * (x.ndim - 2)
    gw = (g * w.reshape(cshape)).reshape(n, groups, -1)
    xh = xhat.reshape(n, groups, -1)
    rstd = 1 / np.sqrt(xr.var(-1, keepdims=True) + eps)
    dx = rstd * (gw - gw.mean(-1, keepdims=True) - xh * (gw * xh).mean(-1, keepdims=True))
    axes = (0,) + tuple(range(2, x.ndim))
    return dx.reshape(x.shape), (g * xhat).sum(axes), g.sum(axes)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 8, 7, 7), (2, 4, 300)])
def test_group_norm_backward_at_a_large_offset(shape, dtype):
    # Centred channel sums: gradients stay accurate when x = 1e4 + noise.
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) + 1e4).astype(dtype)
    g = rng.standard_normal(shape).astype(dtype)
    w = rng.uniform(0.5, 2, shape[1]).astype(dtype)
    y, m, r = _C.group_norm_forward(x, w, None, 2, 1e-5)
    dx, dw, db = _C.group_norm_backward(g, x, m, r, w, 2, True, True)
    rdx, rdw, rdb = _group_norm_backward_ref(x.astype(np.float64), g.astype(np.float64), w, 2)
    tol = dict(rtol=1e-3, atol=2e-3) if dtype == np.float32 else dict(rtol=1e-8, atol=1e-8)
    np.testing.assert_allclose(dx, rdx, **tol)
    np.testing.assert_allclose(dw, rdw, **tol)
    np.testing.assert_allclose(db, rdb, **tol)


@pytest.mark.parametrize("shape", [(2, 6, 3), (2, 4, 7, 7)])
def test_group_norm_gradcheck_shapes(shape):
    rng = np.random.default_rng(5)
    c = shape[1]
    x, w, b = rng.standard_normal(shape), rng.uniform(0.5, 2, c), rng.standard_normal(c)
    ts = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(lambda a, e, d: F.group_norm(a, 2, e, d), ts)


def test_group_norm_gradcheck():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((2, 6, 3)), rng.uniform(0.5, 2, 6), rng.standard_normal(6)
    ts = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    assert gradcheck(lambda a, c, d: F.group_norm(a, 2, c, d), ts)


def test_group_norm_same_on_one_and_two_threads():
    rng = np.random.default_rng(6)
    x, g = (rng.standard_normal((16, 32, 24, 24)).astype(np.float32) for _ in range(2))
    w = rng.standard_normal(32).astype(np.float32)
    out = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        try:
            y, m, r = _C.group_norm_forward(x, w, None, 4, 1e-5)
            out.append((y, *_C.group_norm_backward(g, x, m, r, w, 4)))
        finally:
            ember.set_num_threads(1)
    for a, b in zip(out[0], out[1]):
        assert np.array_equal(a, b)


@pytest.mark.parametrize(
    "call,err,match",
    [
        (
            lambda x, m: _C.group_norm_forward(x.astype(np.int64), None, None, 2, 1e-5),
            TypeError,
            "float",
        ),
        (lambda x, m: _C.group_norm_forward(x, None, None, 3, 1e-5), ValueError, "divisible"),
        (lambda x, m: _C.group_norm_forward(x, None, None, 0, 1e-5), ValueError, "divisible"),
        (lambda x, m: _C.group_norm_forward(x[0, 0], None, None, 1, 1e-5), ValueError, "2-D"),
        (lambda x, m: _C.group_norm_forward(x, np.ones(3), None, 2, 1e-5), ValueError, "shape"),
        (
            lambda x, m: _C.group_norm_forward(x, np.ones(4, np.float32), None, 2, 1e-5),
            TypeError,
            "dtypes",
        ),
        (
            lambda x, m: _C.group_norm_forward(x.transpose(1, 0, 2), None, None, 2, 1e-5),
            ValueError,
            "contiguous",
        ),
        (lambda x, m: _C.group_norm_backward(x, x, m[:1], m, None, 2), ValueError, "mean"),
        (lambda x, m: _C.group_norm_backward(x[:1], x, m, m, None, 2), ValueError, "dy"),
        (lambda x, m: _C.group_norm_backward(x, x, m, m, None, 4), ValueError, "mean"),
    ],
)
def test_group_norm_kernel_refuses_bad_input(call, err, match):
    x = np.ones((2, 4, 3))
    with pytest.raises(err, match=match):
        call(x, np.ones((2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_instance_norm_through_the_group_norm_kernel(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x, g = (rng.standard_normal((3, 5, 6, 4)).astype(dtype) for _ in range(2))
    w, b = rng.uniform(0.5, 2, 5).astype(dtype), rng.standard_normal(5).astype(dtype)
    ex, ew, eb = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    F.instance_norm(ex, weight=ew, bias=eb).backward(ember.tensor(g))
    tx, tw, tb = (torch.from_numpy(a).requires_grad_(True) for a in (x, w, b))
    torch.nn.functional.instance_norm(tx, weight=tw, bias=tb).backward(torch.from_numpy(g))
    tol = _tol(dtype)
    for e, t in ((ex, tx), (ew, tw), (eb, tb)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **tol)
    ts = [ember.tensor(a.astype(np.float64), requires_grad=True) for a in (x[:2, :, :3], w, b)]
    assert gradcheck(lambda a, c, d: F.instance_norm(a, weight=c, bias=d), ts)
