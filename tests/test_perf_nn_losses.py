"""mse / l1 / huber / smooth_l1 through the fused C++ kernels (_C.regression_loss_forward /
_backward): values and both gradients against PyTorch and NumPy in float32 and float64,
gradcheck, thread-count independence and bad input to the kernels."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

CASES = [
    ("mse_loss", {}),
    ("l1_loss", {}),
    ("huber_loss", {}),
    ("huber_loss", {"delta": 0.3}),
    ("smooth_l1_loss", {}),
    ("smooth_l1_loss", {"beta": 0.25}),
    ("smooth_l1_loss", {"beta": 0.0}),
]


def _ref(name, d, kw):
    """Per-element loss and d(loss)/dx of d = x - t, in float64."""
    ad = np.abs(d)
    if name == "mse_loss":
        return d * d, 2 * d
    if name == "l1_loss":
        return ad, np.sign(d)
    if name == "huber_loss":
        k = kw.get("delta", 1.0)
        return np.where(ad < k, 0.5 * d * d, k * (ad - 0.5 * k)), np.clip(d, -k, k)
    b = kw.get("beta", 1.0)
    if b == 0:
        return ad, np.sign(d)
    return np.where(ad < b, 0.5 * d * d / b, ad - 0.5 * b), np.clip(d / b, -1, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name,kw", CASES, ids=str)
def test_matches_torch_and_numpy(name, kw, reduction, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, t = (rng.standard_normal((37, 29)).astype(dtype) for _ in range(2))
    t[0, :5] = x[0, :5]  # d == 0: the gradient of l1 is 0 there
    g = rng.standard_normal(x.shape).astype(dtype) if reduction == "none" else None
    ex, et = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
    loss = getattr(F, name)(ex, et, reduction=reduction, **kw)
    loss.backward(None if g is None else ember.tensor(g))
    assert loss.dtype == ex.dtype and ex.grad.dtype == ex.dtype
    tx, tt = (torch.from_numpy(a).requires_grad_(True) for a in (x, t))
    tl = getattr(torch.nn.functional, name)(tx, tt, reduction=reduction, **kw)
    tl.backward(None if g is None else torch.from_numpy(g))
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(loss.numpy(), tl.detach().numpy(), **tol)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)
    np.testing.assert_allclose(et.grad.numpy(), tt.grad.numpy(), **tol)

    per, dl = _ref(name, x.astype(np.float64) - t, kw)
    want = {"none": per, "sum": per.sum(), "mean": per.mean()}[reduction]
    gx = dl * (g if g is not None else 1.0 / x.size if reduction == "mean" else 1.0)
    np.testing.assert_allclose(loss.numpy(), want, **tol)
    np.testing.assert_allclose(ex.grad.numpy(), gx, **tol)


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("name,kw", CASES, ids=str)
def test_gradcheck(name, kw, reduction):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(12)
    t = x + np.array([-2.0, -1.1, -0.6, -0.2, -0.1, 0.15, 0.4, 0.7, 1.3, 2.0, 3.0, -3.0])
    args = (ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True))
    assert gradcheck(lambda a, b: getattr(F, name)(a, b, reduction=reduction, **kw), args)


def test_nan_inf_and_empty():
    x = np.array([np.nan, np.inf, 1.0], np.float32)
    t = np.zeros(3, np.float32)
    for name in ("mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"):
        y = getattr(F, name)(x, t, reduction="none").numpy()
        assert np.isnan(y[0]) and y[1] == np.inf
        assert np.isnan(getattr(F, name)(np.zeros(0), np.zeros(0)).item())


def test_mixed_dtypes_compute_in_the_wider_dtype():
    """float32 input, float64 target: a float64 loss (PyTorch's promotion), float32 gradient."""
    x = ember.tensor(np.ones(3, np.float32), requires_grad=True)
    loss = F.mse_loss(x, ember.tensor(np.zeros(3)))
    assert loss.dtype == ember.float64 and loss.item() == 1.0
    loss.backward()
    assert x.grad.dtype == ember.float32


def test_sum_independent_of_thread_count():
    x = np.random.default_rng(2).standard_normal(300_000).astype(np.float32)
    t = np.zeros_like(x)
    out = []
    for nt in (1, 2):
        ember.set_num_threads(nt)
        try:
            out.append(_C.regression_loss_forward(x, t, "huber", 0.5, "sum"))
        finally:
            ember.set_num_threads(1)
    assert out[0] == out[1]
    np.testing.assert_allclose(
        out[0], _ref("huber_loss", x.astype(np.float64), {"delta": 0.5})[0].sum(), rtol=1e-6
    )


FWD, BWD = _C.regression_loss_forward, _C.regression_loss_backward


@pytest.mark.parametrize(
    "call,err,match",
    [
        (lambda x: FWD(x.astype(np.int64), x.astype(np.int64), "mse"), TypeError, "float32"),
        (lambda x: FWD(x, x.astype(np.float64), "mse"), TypeError, "dtypes"),
        (lambda x: FWD(x, x[:2], "mse"), ValueError, "shape"),
        (lambda x: FWD(x, x, "mse2"), ValueError, "unknown loss"),
        (lambda x: FWD(x, x, "huber", 0.0), ValueError, "delta"),
        (lambda x: FWD(x, x, "smooth_l1", -1.0), ValueError, "beta"),
        (lambda x: FWD(x, x, "l1", 0.0, "avg"), ValueError, "reduction"),
        (
            lambda x: FWD(np.ones((3, 3), np.float32).T, np.ones((3, 3), np.float32), "l1"),
            ValueError,
            "contiguous",
        ),
        (lambda x: BWD(x, x, x[:2], "mse"), ValueError, "grad"),
        (lambda x: BWD(x, x, x.astype(np.float64), "mse"), TypeError, "dtypes"),
        (lambda x: BWD(x, x, [1.0, 2.0, 3.0], "mse"), TypeError, "grad"),
    ],
)
def test_kernel_refuses_bad_input(call, err, match):
    with pytest.raises(err, match=match):
        call(np.ones(3, np.float32))


@pytest.mark.parametrize("target_grad", [True, False])
@pytest.mark.parametrize(
    "name,kw",
    [
        ("binary_cross_entropy_with_logits", {}),
        ("binary_cross_entropy_with_logits", {"pos_weight": True}),
        ("binary_cross_entropy", {}),
        ("kl_div", {"reduction": "batchmean"}),
        ("kl_div", {"reduction": "sum", "log_target": True}),
    ],
    ids=str,
)
def test_probability_losses_with_and_without_target_gradient(name, kw, target_grad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 5)) * 3
    t = rng.uniform(0.05, 0.95, (6, 5))
    if name == "binary_cross_entropy":
        x = 1 / (1 + np.exp(-x))
    if name == "kl_div" and kw.get("log_target"):
        t = np.log(t)
    kw = dict(kw)
    pw = kw.pop("pos_weight", False)
    ekw = dict(kw, **({"pos_weight": np.linspace(0.5, 2, 5)} if pw else {}))
    tkw = dict(kw, **({"pos_weight": torch.linspace(0.5, 2, 5, dtype=torch.float64)} if pw else {}))
    ex, et = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=target_grad)
    getattr(F, name)(ex, et, **ekw).backward()
    tx = torch.from_numpy(x).requires_grad_(True)
    tt = torch.from_numpy(t).requires_grad_(target_grad)
    getattr(torch.nn.functional, name)(tx, tt, **tkw).backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)
    if target_grad:
        np.testing.assert_allclose(et.grad.numpy(), tt.grad.numpy(), rtol=1e-10, atol=1e-12)
    else:
        assert et.grad is None


# ---- l1 keeps d = x - t (kept by the forward kernel itself) ---------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_kernel_keep_diff_and_backward_from_d(reduction, dtype):
    rng = np.random.default_rng(4)
    x, t = (rng.standard_normal(70_000).astype(dtype) for _ in range(2))
    t[:7] = x[:7]  # d == 0: sign 0
    x[7], t[8] = np.nan, np.nan  # a NaN difference: torch's sign(NaN) = 0, no gradient
    x[9] = t[9] = np.inf  # inf - inf is NaN too
    loss, d = FWD(x, t, "l1", 0.0, reduction, True)
    np.testing.assert_array_equal(loss, FWD(x, t, "l1", 0.0, reduction))
    with np.errstate(invalid="ignore"):
        ref_d = x - t
        ref_sign = np.nan_to_num(np.sign(x.astype(np.float64) - t), nan=0.0)
    np.testing.assert_array_equal(d, ref_d)
    assert d.dtype == x.dtype and d.shape == x.shape
    g = rng.standard_normal(x.shape).astype(dtype) if reduction == "none" else None
    for scale in (1.0, 0.25):
        dx = BWD(d, None, g, "l1", 0.0, scale)
        np.testing.assert_array_equal(dx, BWD(x, t, g, "l1", 0.0, scale))
        ref = ref_sign * scale * (1.0 if g is None else g)
        np.testing.assert_array_equal(dx, ref.astype(dtype))
    assert (dx[:10] == 0).all() and np.isnan(d[7:10]).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_l1_gradients_survive_in_place_writes_after_the_loss(reduction, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x0, t0 = (rng.standard_normal((9, 11)).astype(dtype) for _ in range(2))
    t0[0, :4] = x0[0, :4]
    grads = []
    for lib, F_ in ((ember, F), (torch, torch.nn.functional)):
        x, t = lib.tensor(x0, requires_grad=True), lib.tensor(t0, requires_grad=True)
        h, u = x * 1, t * 1
        loss = F_.l1_loss(h, u, reduction=reduction)
        h.mul_(3)  # torch keeps only x - t: both writes are allowed
        u.add_(1)
        loss.sum().backward()
        grads.append((np.asarray(x.grad.numpy()), np.asarray(t.grad.numpy())))
    for a, b in zip(grads[0], grads[1], strict=True):
        np.testing.assert_array_equal(a, b)
    assert (grads[0][0][0, :4] == 0).all()


def test_l1_backward_refuses_bad_t():
    x = np.ones(3, np.float32)
    with pytest.raises(TypeError, match="t must be"):
        BWD(x, [1.0, 2.0, 3.0], None, "l1")
    with pytest.raises(TypeError, match="float"):
        BWD(x.astype(np.int64), None, None, "l1")
    with pytest.raises(ValueError, match="shape"):
        BWD(x, x[:2], None, "l1")
