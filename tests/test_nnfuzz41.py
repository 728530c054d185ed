"""Round-41 fuzz of nn.functional and nn modules against torch: the differences found (and
fixed), each compared value for value, gradient for gradient, node name for node name or
exception type for exception type."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _name(y):
    return None if y.grad_fn is None else y.grad_fn.name()


# ---- dropout1d / dropout3d unbatched identity: a new view, as torch -------------------------


@pytest.mark.parametrize(
    "fn, shape",
    [("dropout1d", (3, 4)), ("dropout3d", (3, 4, 5, 2)), ("dropout3d", (2, 3, 4))],
)
@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize("training, p", [(False, 0.5), (True, 0.0)])
def test_unbatched_feature_dropout_identity_is_a_new_view(fn, shape, requires_grad, training, p):
    a = np.random.default_rng(0).standard_normal(shape)
    t = torch.tensor(a, requires_grad=requires_grad)
    e = ember.tensor(a, requires_grad=requires_grad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (dropout3d's deprecation warning for 3-D input)
        yt = getattr(TF, fn)(t, p, training=training)
        ye = getattr(F, fn)(e, p, training=training)
    assert (yt is t) is (ye is e) is False
    assert ye.data_ptr() == e.data_ptr()
    np.testing.assert_array_equal(ye.numpy(), a)
    assert _name(ye) == _name(yt)
    if requires_grad:
        ye.sum().backward()
        np.testing.assert_array_equal(e.grad.numpy(), np.ones(shape))


@pytest.mark.parametrize("fn, ndim", [("dropout1d", 3), ("dropout3d", 5)])
def test_batched_feature_dropout_identity_is_the_input(fn, ndim):
    e = ember.randn(*(2,) * ndim)
    t = torch.randn(*(2,) * ndim)
    assert getattr(TF, fn)(t, 0.5, training=False) is t
    assert getattr(F, fn)(e, 0.5, training=False) is e


@pytest.mark.parametrize("dtype", ["float32", "int64", "bool"])
@pytest.mark.parametrize("p", [0.5, 1.0])
@pytest.mark.parametrize("inplace", [False, True])
def test_dropout_of_an_empty_input_is_the_input(dtype, p, inplace):
    t = torch.zeros((0, 3), dtype=getattr(torch, dtype))
    e = ember.zeros((0, 3), dtype=getattr(ember, dtype))
    assert TF.dropout(t, p, True, inplace) is t
    assert F.dropout(e, p, True, inplace) is e


def test_dropout_of_a_non_empty_int_input_still_refuses_fractional_p():
    with pytest.raises(TypeError):
        F.dropout(ember.ones(3, dtype=ember.int64), 0.5, True)


# ---- rms_norm's node of a permuted input ----------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.randn(2, 4, 3).permute(0, 2, 1),  # dense, permuted
        lambda m: m.randn(3, 2, 4).permute(1, 0, 2),
        lambda m: m.randn(2, 3, 8)[:, :, ::2],  # strided: not dense
        lambda m: m.randn(4, 3).t()[:1],
        lambda m: m.randn(2, 3, 4),
    ],
)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("weight", [False, True])
def test_rms_norm_node_and_values_of_non_contiguous_inputs(make, dtype, weight):
    torch.manual_seed(0)
    xt = make(torch).to(getattr(torch, dtype))
    n = xt.shape[-1]
    xe = ember.tensor(xt.contiguous().numpy())
    # the same layout in ember: build it the same way from the same values
    ember.manual_seed(0)
    xe_layout = make(ember).to(getattr(ember, dtype))
    assert xe_layout.is_contiguous() == xt.is_contiguous()
    xe_layout = xe_layout.detach()
    xe_layout.data[...] = xe.data  # same values, ember's own strides
    xt.requires_grad_()
    xe_layout.requires_grad_()
    w = np.random.default_rng(1).standard_normal(n).astype(dtype) if weight else None
    yt = TF.rms_norm(xt, (n,), None if w is None else torch.tensor(w))
    ye = F.rms_norm(xe_layout, (n,), None if w is None else ember.tensor(w))
    assert _name(ye) == _name(yt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_rms_norm_gradcheck_of_a_permuted_input():
    x = ember.tensor(np.random.default_rng(2).standard_normal((2, 4, 3))).permute(0, 2, 1)
    x.requires_grad_()
    w = ember.tensor(np.random.default_rng(3).standard_normal(4), requires_grad=True)
    assert gradcheck(lambda a, b: F.rms_norm(a, (4,), b), (x, w))


# ---- binary_cross_entropy's fused pass ------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(4, 5), (0,), (3,), (), (2, 3, 4)])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_binary_cross_entropy_matches_torch(dtype, shape, reduction):
    rng = np.random.default_rng(41)
    x = rng.random(shape).astype(dtype)
    t = rng.random(shape).astype(dtype)
    if x.size > 1:
        x.flat[0], x.flat[1] = 0.0, 1.0  # the logs' -100 clamps
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    yt = TF.binary_cross_entropy(xt, torch.tensor(t), reduction=reduction)
    ye = F.binary_cross_entropy(xe, ember.tensor(t), reduction=reduction)
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol)
    assert ye.dtype == xe.dtype and ye.shape == tuple(yt.shape)
    assert _name(ye) == _name(yt)
    if x.size:
        yt.sum().backward()
        ye.sum().backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


def test_binary_cross_entropy_outside_the_graph_needs_no_grad():
    y = F.binary_cross_entropy(ember.tensor([0.2, 0.7]), ember.tensor([0.0, 1.0]))
    assert y.grad_fn is None and not y.requires_grad
    want = -(np.log(0.8) + np.log(0.7)) / 2
    np.testing.assert_allclose(y.item(), want, rtol=1e-6)


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan")])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_refuses_values_outside_0_1(which, bad, dtype):
    pair = [np.array([0.5, 0.5], dtype), np.array([0.5, 0.5], dtype)]
    pair[which][1] = bad
    with pytest.raises(RuntimeError):
        TF.binary_cross_entropy(torch.tensor(pair[0]), torch.tensor(pair[1]))
    name = ("input", "target")[which]
    for exc in (RuntimeError, ValueError):
        with pytest.raises(exc, match=f"{name} should be between 0 and 1"):
            F.binary_cross_entropy(ember.tensor(pair[0]), ember.tensor(pair[1]))
        with pytest.raises(exc, match=f"{name} should be between 0 and 1"):
            F.binary_cross_entropy(ember.tensor(pair[0], requires_grad=True), ember.tensor(pair[1]))


def test_binary_cross_entropy_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.random((3, 4)) * 0.8 + 0.1, requires_grad=True)
    t = ember.tensor(rng.random((3, 4)), requires_grad=True)
    for red in ("none", "mean", "sum"):

        def f(a, b, red=red):
            return F.binary_cross_entropy(a, b, reduction=red)

        assert gradcheck(f, (x, t))
        assert gradgradcheck(f, (x, t))


# ---- poisson_nll_loss(full=True)'s target gradient ------------------------------------------


@pytest.mark.parametrize("log_input", [True, False])
def test_poisson_nll_loss_full_target_gradient_as_torch(log_input):
    x = np.array([0.5, 1.0, 2.0, 1.0, 0.7])
    t = np.array([-0.5, 0.0, 3.0, 0.5, 1.0])
    xt, tt = torch.tensor(x, requires_grad=True), torch.tensor(t, requires_grad=True)
    xe, te = ember.tensor(x, requires_grad=True), ember.tensor(t, requires_grad=True)
    lt = TF.poisson_nll_loss(xt, tt, log_input=log_input, full=True, reduction="sum")
    le = F.poisson_nll_loss(xe, te, log_input=log_input, full=True, reduction="sum")
    np.testing.assert_allclose(le.item(), lt.item(), rtol=1e-12)
    lt.backward()
    le.backward()
    # NaN for targets <= 0 (torch's masked-out zero times log's NaN / -inf), finite elsewhere
    np.testing.assert_allclose(te.grad.numpy(), tt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    assert np.isnan(te.grad.numpy()[:2]).all()


def test_poisson_nll_loss_full_gradcheck_for_positive_targets():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal(6), requires_grad=True)
    t = ember.tensor(rng.random(6) * 3 + 0.1, requires_grad=True)
    assert gradcheck(lambda a, b: F.poisson_nll_loss(a, b, full=True), (x, t))


# ---- scaled_dot_product_attention's 1-D mask (3-D inputs) ---------------------------------


@pytest.mark.parametrize("mask", [np.array([True, False, True]), np.array([0.0, -1.0, 2.0])])
def test_sdpa_1d_mask_with_3d_inputs_broadcasts_as_torch(mask):
    rng = np.random.default_rng(8)
    q, k, v = (
        rng.standard_normal((2, 2, 4)),
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((2, 3, 2)),
    )
    yt = TF.scaled_dot_product_attention(
        *(torch.tensor(a) for a in (q, k, v)), attn_mask=torch.tensor(mask)
    )
    ye = F.scaled_dot_product_attention(
        *(ember.tensor(a) for a in (q, k, v)), attn_mask=ember.tensor(mask)
    )
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-10)


# ---- nll_loss / cross_entropy's straight path (checks reordered) ------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("ignore_index", [-100, 0, 2, np.int64(1)])
@pytest.mark.parametrize("weighted", [False, True])
def test_class_losses_outside_the_graph_match_torch(dtype, reduction, ignore_index, weighted):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((6, 4)).astype(dtype)
    t = rng.integers(0, 4, 6)
    w = (rng.random(4) + 0.1).astype(dtype) if weighted else None
    wt = None if w is None else torch.tensor(w)
    we = None if w is None else ember.tensor(w)
    for lt, le in [(TF.nll_loss, F.nll_loss), (TF.cross_entropy, F.cross_entropy)]:
        a = lt(
            torch.tensor(x),
            torch.tensor(t),
            wt,
            ignore_index=int(ignore_index),
            reduction=reduction,
        )
        b = le(ember.tensor(x), ember.tensor(t), we, ignore_index=ignore_index, reduction=reduction)
        np.testing.assert_allclose(
            b.numpy(), a.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12
        )
