"""The fused cross-entropy kernel pair (_C.cross_entropy_forward / _backward) behind
F.cross_entropy with (N, C) logits and class-index targets: values and gradients against
PyTorch and a NumPy reference in float32 and float64, gradcheck, and bad input to _C."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

OPTIONS = [
    dict(),
    dict(reduction="sum"),
    dict(reduction="none"),
    dict(label_smoothing=0.1),
    dict(label_smoothing=0.3, weight=True, ignore_index=2),
    dict(weight=True, reduction="none", label_smoothing=0.2),
    dict(ignore_index=0, reduction="sum", label_smoothing=1.0),
]


def _args(opts, n, c, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal((n, c)) * 3).astype(dtype)
    t = rng.integers(0, c, n)
    kw = dict(opts)
    if kw.pop("weight", False):
        kw["weight"] = rng.uniform(0.5, 2.0, c).astype(dtype)
    return x, t, kw


def _reference(x, t, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    """Loss and d(sum of the loss)/dx in float64 with NumPy."""
    x = x.astype(np.float64)
    n, c = x.shape
    w = np.ones(c) if weight is None else weight.astype(np.float64)
    m = x.max(axis=1, keepdims=True)
    logp = x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    keep = t != ignore_index
    tc = np.where(keep, t, 0)
    eps = label_smoothing
    rows = np.arange(n)
    loss = -(1 - eps) * w[tc] * logp[rows, tc] - eps / c * (logp * w).sum(axis=1)
    loss = loss * keep
    onehot = np.zeros((n, c))
    onehot[rows, tc] = 1
    target = (1 - eps) * w[tc][:, None] * onehot + eps / c * w
    grad = (np.exp(logp) * target.sum(axis=1, keepdims=True) - target) * keep[:, None]
    if reduction == "none":
        return loss, grad
    if reduction == "sum":
        return loss.sum(), grad
    denom = (w[tc] * keep).sum()
    return loss.sum() / denom, grad / denom


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opts", OPTIONS, ids=str)
# (200, 3), (130, 32): the small-class rows (blocks of 64 rows and a tail); (70, 33): the row path
@pytest.mark.parametrize("n,c", [(64, 10), (7, 1000), (5, 1), (200, 3), (130, 32), (70, 33)])
def test_fused_matches_torch_and_numpy(opts, n, c, dtype):
    torch = pytest.importorskip("torch")
    x, t, kw = _args(opts, n, c, dtype)
    if kw.get("ignore_index", -100) >= c or c == 1:
        kw.pop("ignore_index", None)  # a 1-class problem ignoring class 0 is covered below
    xt = ember.tensor(x, requires_grad=True)
    loss = F.cross_entropy(xt, t, **kw)
    loss.sum().backward()
    assert loss.dtype == xt.dtype and xt.grad.dtype == xt.dtype

    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    tx = torch.from_numpy(x).requires_grad_(True)
    tl = torch.nn.functional.cross_entropy(tx, torch.from_numpy(t), **tkw)
    tl.sum().backward()
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.numpy(), tl.detach().numpy(), **tol)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), **tol)

    ref_loss, ref_grad = _reference(x, t, **kw)
    np.testing.assert_allclose(loss.numpy(), ref_loss, **tol)
    np.testing.assert_allclose(xt.grad.numpy(), ref_grad, **tol)


@pytest.mark.parametrize("opts", OPTIONS, ids=str)
def test_fused_gradcheck(opts):
    x, t, kw = _args(opts, 6, 5, np.float64, seed=1)
    t[2] = kw.get("ignore_index", -100)
    assert gradcheck(lambda a: F.cross_entropy(a, t, **kw), (ember.tensor(x, requires_grad=True),))


def test_fused_matches_composed_log_softmax_nll():
    x, t, _ = _args({}, 9, 6, np.float64, seed=2)
    t[::3] = 4
    a = ember.tensor(x, requires_grad=True)
    b = ember.tensor(x, requires_grad=True)
    F.cross_entropy(a, t, ignore_index=4).backward()
    F.nll_loss(F.log_softmax(b, 1), t, ignore_index=4).backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12, atol=1e-15)


def test_every_target_ignored_mean_is_nan_with_zero_gradient():
    x = ember.tensor(np.ones((3, 4)), requires_grad=True)
    loss = F.cross_entropy(x, np.full(3, -100), label_smoothing=0.1)
    assert np.isnan(loss.item())
    loss.backward()
    assert np.array_equal(x.grad.numpy(), np.zeros((3, 4)))


def test_non_contiguous_logits_and_extreme_values():
    x = np.random.default_rng(3).standard_normal((5, 8)) * 1e4
    xt = ember.tensor(x.T.copy().T, requires_grad=True)  # a strided view of C-ordered data
    loss = F.cross_entropy(ember.tensor(x).T.T, np.arange(5))
    assert np.isfinite(loss.item())
    F.cross_entropy(xt, np.arange(5)).backward()
    assert np.isfinite(xt.grad.numpy()).all()


def test_bad_targets_through_functional():
    with pytest.raises(ValueError, match="out of bounds"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match="out of bounds"):
        F.cross_entropy(np.zeros((2, 3)), np.array([-1, 0]))
    with pytest.raises(ValueError, match="target shape"):
        F.cross_entropy(np.zeros((2, 3)), np.array([0, 1, 2]))


FWD, BWD = _C.cross_entropy_forward, _C.cross_entropy_backward


def _good():
    return np.zeros((2, 3), np.float32), np.array([0, 2]), np.zeros(2, np.float32)


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda x, t, s: FWD(x.astype(np.int32), t), TypeError, "float"),
        (lambda x, t, s: FWD(x, t.astype(np.float32)), TypeError, "int64"),
        (lambda x, t, s: FWD(x, t.astype(np.int32)), TypeError, "int64"),
        (lambda x, t, s: FWD(x[0], t), ValueError, "2-D"),
        (lambda x, t, s: FWD(x, t[:1]), ValueError, "target"),
        (lambda x, t, s: FWD(x.T, t[:1]), ValueError, "contiguous"),
        (lambda x, t, s: FWD(x, np.array([0, 3])), ValueError, "bounds"),
        (lambda x, t, s: FWD(x, np.array([-5, 0])), ValueError, "bounds"),
        (lambda x, t, s: FWD(x, t, np.ones(3)), TypeError, "dtypes"),
        (lambda x, t, s: FWD(x, t, np.ones(2, np.float32)), ValueError, "(3)"),
        (lambda x, t, s: FWD(x, t, [1.0, 1, 1]), TypeError, "weight"),
        (lambda x, t, s: FWD(x, t, label_smoothing=1.5), ValueError, "label"),
        (lambda x, t, s: FWD(x, t, reduction="avg"), ValueError, "reduction"),
        (lambda x, t, s: BWD(x, s, t, s[:1], reduction="none"), ValueError, "grad"),
        (lambda x, t, s: BWD(x, s, t, s), ValueError, "one element"),
        (lambda x, t, s: BWD(x, s[:1], t, s[:1]), ValueError, "lse"),
        (lambda x, t, s: BWD(x, s.astype(np.float64), t, s[:1]), TypeError, "dtypes"),
        (lambda x, t, s: BWD(x, s, np.array([0, 9]), s[:1]), ValueError, "bounds"),
    ],
)
def test_kernel_refuses_bad_input(call, err, match):
    x, t, s = _good()
    with pytest.raises(err, match=match):
        call(x, t, s)


def test_kernel_direct_values():
    x = np.log(np.array([[1.0, 1.0, 2.0]]))
    loss, lse, wsum, logp = FWD(x, np.array([2]), reduction="none")
    assert logp is None
    np.testing.assert_allclose(loss, [-np.log(0.5)])
    np.testing.assert_allclose(lse, [np.log(4.0)])
    assert wsum == 1.0
    dx = BWD(x, lse, np.array([2]), np.ones(1), reduction="none")
    np.testing.assert_allclose(dx, [[0.25, 0.25, -0.5]])


NLL_OPTIONS = [dict(), dict(reduction="sum"), dict(reduction="none", ignore_index=1)]
NLL_OPTIONS += [dict(weight=True, ignore_index=0), dict(weight=True, reduction="none")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("opts", NLL_OPTIONS, ids=str)
def test_nll_loss_log_input_path_matches_torch(opts, dtype):
    torch = pytest.importorskip("torch")
    x, t, kw = _args(opts, 40, 7, dtype)
    x = x - np.log(np.exp(x.astype(np.float64)).sum(1, keepdims=True)).astype(dtype)
    xt = ember.tensor(x, requires_grad=True)
    loss = F.nll_loss(xt, t, **kw)
    loss.sum().backward()
    tkw = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    tx = torch.from_numpy(x).requires_grad_(True)
    tl = torch.nn.functional.nll_loss(tx, torch.from_numpy(t), **tkw)
    tl.sum().backward()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss.numpy(), tl.detach().numpy(), **tol)
    np.testing.assert_allclose(xt.grad.numpy(), tx.grad.numpy(), **tol)
    assert gradcheck(
        lambda a: F.nll_loss(a, t, **kw), (ember.tensor(x.astype(np.float64), requires_grad=True),)
    )


def test_nll_loss_ignored_rows_add_nothing_even_if_infinite():
    x = np.array([[-np.inf, 0.0], [-1.0, -2.0]])
    loss = F.nll_loss(x, np.array([-100, 1]))  # torch: the ignored row's -inf is never read
    assert loss.item() == 2.0


def test_log_input_kernel_direct():
    x = np.array([[-1.0, -2.0, -3.0]])
    loss, lse, _, _ = FWD(x, np.array([1]), label_smoothing=0.3, log_input=True, reduction="none")
    np.testing.assert_allclose(loss, [0.7 * 2.0 + 0.1 * 6.0])
    assert lse[0] == 0
    dx = BWD(
        x, lse, np.array([1]), np.ones(1), label_smoothing=0.3, reduction="none", log_input=True
    )
    np.testing.assert_allclose(dx, [[-0.1, -0.8, -0.1]])
    with pytest.raises(ValueError, match="nll_loss_forward: target 5 is out of bounds"):
        FWD(x, np.array([5]), log_input=True)


# ---- log_softmax kept by the forward kernel; small-class rows ------------------------------


def _log_softmax64(x, axis=1):
    x = x.astype(np.float64)
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(200, 10), (7, 1000), (3, 5, 70)], ids=str)
@pytest.mark.parametrize("opts", OPTIONS, ids=str)
def test_kernel_keeps_log_softmax_and_backward_takes_it(opts, shape, dtype):
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    c = shape[1]
    t = rng.integers(0, c, shape[:1] + shape[2:])
    kw = dict(opts)
    w = rng.uniform(0.5, 2.0, c).astype(dtype) if kw.pop("weight", False) else None
    ii, ls, red = kw.get("ignore_index", -100), kw.get("label_smoothing", 0.0), kw.get("reduction")
    red = red or "mean"
    loss, lse, wsum, logp = FWD(x, t, w, ii, ls, red, False, True)
    loss0, lse0, wsum0, none = FWD(x, t, w, ii, ls, red, False, False)
    assert none is None and wsum == wsum0
    np.testing.assert_array_equal(loss, loss0)
    np.testing.assert_array_equal(lse, lse0)
    assert logp.dtype == x.dtype and logp.shape == x.shape
    tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(logp, _log_softmax64(x), **tol)  # every row, ignored ones too
    g = rng.standard_normal(t.shape).astype(dtype) if red == "none" else np.ones((), dtype)
    dx = BWD(logp, None, t, g, w, ii, ls, red, wsum, False)
    np.testing.assert_allclose(dx, BWD(x, lse, t, g, w, ii, ls, red, wsum, False), **tol)
    if len(shape) == 2:
        kw_ref = dict(opts, weight=w) if w is not None else dict(opts)
        ref_loss, ref_grad = _reference(x, t, **kw_ref)
        if red == "none":
            ref_grad = ref_grad * g[:, None]
        np.testing.assert_allclose(loss, ref_loss, **tol)
        np.testing.assert_allclose(dx, ref_grad, **tol)


def test_kernel_keep_log_softmax_refuses_log_input_and_bad_lse():
    x, t, s = _good()
    with pytest.raises(ValueError, match="keep_log_softmax"):
        FWD(x, t, None, -100, 0.0, "mean", True, True)
    with pytest.raises(TypeError, match="lse must be"):
        BWD(x, [0.0, 0.0], t, s[:1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(150, 10), (6, 300), (2, 4, 70)], ids=str)
@pytest.mark.parametrize(
    "opts", [dict(), dict(label_smoothing=0.2, weight=True, ignore_index=1, reduction="none")]
)
def test_gradient_after_in_place_write_to_logits_matches_torch(opts, shape, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(12)
    x0 = (rng.standard_normal(shape) * 3).astype(dtype)
    t0 = rng.integers(0, shape[1], shape[:1] + shape[2:])
    w0 = rng.uniform(0.5, 2.0, shape[1]).astype(dtype)
    grads = []
    for lib, F_ in ((ember, F), (torch, torch.nn.functional)):
        kw = dict(opts)
        if kw.pop("weight", False):
            kw["weight"] = lib.tensor(w0)
        x = lib.tensor(x0, requires_grad=True)
        h = x * 1
        loss = F_.cross_entropy(h, lib.tensor(t0), **kw)
        h.mul_(-2)  # torch keeps log_softmax(h), not h: allowed, and the gradient is unchanged
        loss.sum().backward()
        grads.append(x.grad.numpy())
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(grads[0], grads[1], **tol)


def test_small_class_rows_keep_their_bits_across_threads():
    rng = np.random.default_rng(13)
    x = rng.standard_normal((4096, 10)).astype(np.float32)
    t = rng.integers(0, 10, 4096)
    t[::9] = 3
    w = rng.uniform(0.5, 2.0, 10).astype(np.float32)
    runs, before = [], ember.get_num_threads()
    try:
        for n in (1, 2):
            ember.set_num_threads(n)
            loss, lse, ws, logp = FWD(x, t, w, 3, 0.1, "none", False, True)
            dx = BWD(logp, None, t, np.ones(4096, np.float32), w, 3, 0.1, "none", ws)
            runs.append((loss, logp, dx))
    finally:
        ember.set_num_threads(before)
    for a, b in zip(runs[0], runs[1], strict=True):
        np.testing.assert_array_equal(a, b)
