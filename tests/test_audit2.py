"""PyTorch parity gaps closed by audit2: cropping pads, pairwise distances with p <= 0,
transposed convolutions with an empty output, and bad input across nn.functional."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _wrap_reference(x: np.ndarray, pairs) -> np.ndarray:
    """Circular padding as crop-then-wrap along the last dims (pairs: first padded dim first)."""
    k = len(pairs)
    crop = [slice(None)] * (x.ndim - k) + [
        slice(max(-lo, 0), n - max(-hi, 0)) for n, (lo, hi) in zip(x.shape[-k:], pairs)
    ]
    widths = [(0, 0)] * (x.ndim - k) + [(max(lo, 0), max(hi, 0)) for lo, hi in pairs]
    return np.pad(x[tuple(crop)], widths, mode="wrap")


# (mode, shape, pad): cropping pads mixed with padding ones, each accepted by PyTorch with a
# fully defined result.
CROPPING = [
    ("constant", (2, 2, 3), (-1, 3)),
    ("replicate", (2, 2, 3), (-1, 3)),
    ("replicate", (2, 2, 3), (3, -1)),
    ("replicate", (2, 3, 1), (0, 0, -3, 1)),  # indexes the uncropped dim, as PyTorch
    ("reflect", (2, 3, 1), (0, 0, -3, 1)),
    ("reflect", (2, 2, 3), (-2, 2)),
    ("reflect", (1, 2, 3, 4), (-3, 2, 1, -2)),
    ("circular", (2, 2, 3), (-1, 2)),
    ("circular", (2, 2, 4), (-2, 2)),
    ("circular", (1, 2, 3, 4), (2, -1, -1, 1)),
    ("circular", (1, 1, 3, 2, 4), (-1, 3, 1, -1, 2, -1)),
]


@pytest.mark.parametrize("mode,shape,pad", CROPPING)
def test_pad_with_cropping_pads_matches_torch(mode, shape, pad):
    x = np.random.default_rng(0).standard_normal(shape)
    xt = torch.tensor(x, requires_grad=True)
    want = TF.pad(xt, pad, mode=mode)
    xe = ember.tensor(x, requires_grad=True)
    got = F.pad(xe, pad, mode=mode)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy())
    g = np.random.default_rng(1).standard_normal(want.shape)
    want.backward(torch.tensor(g))
    got.backward(ember.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy())
    gradcheck(lambda t: F.pad(t, pad, mode=mode), (ember.tensor(x, requires_grad=True),))


@pytest.mark.parametrize(
    "n,lo,hi", [(2, 2, -1), (3, -1, 3), (4, 4, -1), (3, -2, 3), (2, -1, 2), (4, 3, -2)]
)
def test_circular_pad_wraps_the_cropped_dim_more_than_once(n, lo, hi):
    # PyTorch accepts these (pads <= the uncropped size) but copies from its own unwritten
    # output when a pad exceeds the cropped size: we wrap the cropped dim periodically, which
    # agrees with PyTorch wherever its result is defined.
    x = np.random.default_rng(2).standard_normal((2, 3, n))
    got = F.pad(ember.tensor(x), (lo, hi), mode="circular").numpy()
    want = _wrap_reference(x, [(lo, hi)])
    np.testing.assert_allclose(got, want)
    t = TF.pad(torch.tensor(x), (lo, hi), mode="circular").numpy()
    assert t.shape == got.shape
    defined = slice(max(lo - (n + min(lo, 0) + min(hi, 0)), 0), None)
    np.testing.assert_allclose(got[..., defined], t[..., defined])
    gradcheck(lambda t: F.pad(t, (lo, hi), mode="circular"), (ember.tensor(x, requires_grad=True),))


@pytest.mark.parametrize(
    "mode,shape,pad",
    [
        ("replicate", (2, 3, 1), (-1, 0, 0, 0)),  # a 2-D pad may leave one dim empty
        ("reflect", (1, 2, 3, 2), (0, 0, -3, 0)),
        ("replicate", (1, 2, 3, 2), (0, -2, -2, 3)),
        ("circular", (1, 1, 3, 3), (-3, 0, -3, 0)),
        ("circular", (2, 3), (-1, -2)),
        ("circular", (1, 0, 3), (1, 1)),  # circular takes empty non-batch dims
        ("reflect", (0, 1, 3, 3), (1, 1, 1, 1)),  # an empty batch
        ("replicate", (0, 2, 3), (2, 1)),
    ],
)
def test_pad_to_an_empty_output_matches_torch(mode, shape, pad):
    x = np.random.default_rng(3).standard_normal(shape)
    want = TF.pad(torch.tensor(x), pad, mode=mode)
    xe = ember.tensor(x, requires_grad=True)
    got = F.pad(xe, pad, mode=mode)
    assert got.shape == tuple(want.shape) and got.numpy().size == 0
    got.sum().backward()
    np.testing.assert_array_equal(xe.grad.numpy(), np.zeros(shape))


@pytest.mark.parametrize(
    "mode,shape,pad,match",
    [
        ("reflect", (1, 1, 3), (-1, 3), "must be at most 2"),
        ("reflect", (1, 1, 3), (-1, -2), r"output size \(0,\)"),  # 1-D: the output must be >= 1
        ("replicate", (1, 1, 3), (-3, 0), r"output size \(0,\)"),
        ("replicate", (1, 1, 3, 3), (-3, 0, -3, 0), r"output size \(0, 0\)"),
        ("replicate", (1, 1, 3, 3), (-2, -2, 0, 0), r"output size \(3, -1\)"),
        ("reflect", (1, 0, 3, 3), (1, 1, 1, 1), "non-empty dims except the batch"),
        ("replicate", (0, 3), (1, 1), "non-empty dims except the batch"),
        ("circular", (1, 1, 2), (3, 0), "must be at most 2"),
        ("circular", (1, 1, 3, 3), (-2, -2, 0, 0), r"output size \(3, -1\)"),
    ],
)
def test_pad_refuses_what_torch_refuses(mode, shape, pad, match):
    x = np.ones(shape)
    with pytest.raises(RuntimeError):
        TF.pad(torch.tensor(x), pad, mode=mode)
    with pytest.raises(ValueError, match=match):
        F.pad(ember.tensor(x), pad, mode=mode)


@pytest.mark.parametrize("n,lo,hi", [(2, -2, 1), (3, 3, -3), (2, 1, -2)])
def test_circular_pad_of_a_fully_cropped_dim_refuses(n, lo, hi):
    # PyTorch returns uninitialised memory here: nothing is left to wrap.
    with pytest.raises(ValueError, match="nothing to wrap"):
        F.pad(ember.tensor(np.ones((1, 2, n))), (lo, hi), mode="circular")


def _distance_pair():
    rng = np.random.default_rng(4)
    x1, x2 = rng.standard_normal((2, 5, 4))
    x2[1] = x1[1]  # a zero difference (before eps)
    x2[2, :2] = x1[2, :2] - 1e-6  # differences cancelled by eps: exact zeros
    return x1, x2


@pytest.mark.parametrize("p", [0, -1, -2, -0.5, 0.5, 3, float("inf"), float("-inf")])
@pytest.mark.parametrize("eps", [1e-6, 0.0])
def test_pairwise_distance_with_any_p_matches_torch(p, eps):
    x1, x2 = _distance_pair()
    t1, t2 = (torch.tensor(a, requires_grad=True) for a in (x1, x2))
    want = TF.pairwise_distance(t1, t2, p, eps)
    e1, e2 = (ember.tensor(a, requires_grad=True) for a in (x1, x2))
    got = F.pairwise_distance(e1, e2, p, eps)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    want.sum().backward()
    got.sum().backward()
    for e, t in ((e1, t1), (e2, t2)):
        if t.grad is None:  # p = 0: no gradient, in both
            assert p == 0 and e.grad is None
            continue
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    if np.isfinite(p) and p != 0:  # smooth away from zero differences
        y1, y2 = np.random.default_rng(5).standard_normal((2, 3, 4))
        gradcheck(
            lambda a, b: F.pairwise_distance(a, b, p, eps),
            (ember.tensor(y1, requires_grad=True), ember.tensor(y2, requires_grad=True)),
        )


@pytest.mark.parametrize("p", [-1, float("inf"), float("-inf")])
def test_pairwise_distance_over_an_empty_dim_refuses_norms_without_identity(p):
    with pytest.raises(RuntimeError):
        TF.pairwise_distance(torch.ones(2, 0), torch.ones(2, 0), p)
    with pytest.raises(ValueError, match="pairwise_distance: no"):
        F.pairwise_distance(ember.ones(2, 0), ember.ones(2, 0), p)
    assert F.pairwise_distance(ember.ones(2, 0), ember.ones(2, 0), 0).numpy().tolist() == [0, 0]


@pytest.mark.parametrize("p", [0, 0.5, 1, 2, 3, float("inf"), -1])
def test_pdist_and_cdist_p_match_torch(p):
    x1, x2 = _distance_pair()
    x = np.concatenate([x1, x1[:1]])  # a repeated row: a zero distance
    for ours, theirs, args in (
        (F.pdist, TF.pdist, (x,)),
        (ember.cdist, torch.cdist, (x1, x2)),
    ):
        ts = [torch.tensor(a, requires_grad=True) for a in args]
        es = [ember.tensor(a, requires_grad=True) for a in args]
        if p < 0:
            with pytest.raises(RuntimeError):
                theirs(*ts, p)
            with pytest.raises(ValueError, match="non-negative"):
                ours(*es, p)
            continue
        want, got = theirs(*ts, p), ours(*es, p)
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
        want.sum().backward()
        got.sum().backward()
        for e, t in zip(es, ts):
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    # an empty row length: every distance is 0 (PyTorch's max-norm too)
    np.testing.assert_array_equal(F.pdist(ember.ones(3, 0), p if p >= 0 else 1).numpy(), [0] * 3)


@pytest.mark.parametrize(
    "d,xs,ws,kw",
    [
        (1, (1, 2, 3), (2, 1, 2), {"padding": 2}),  # output length exactly 0
        (1, (2, 3), (2, 1, 2), {"padding": 3}),  # negative, unbatched
        (2, (1, 2, 3, 3), (2, 1, 2, 2), {"padding": (2, 0)}),
        (2, (1, 2, 1, 2), (2, 1, 1, 1), {"padding": 1, "stride": 3, "output_padding": 1}),
        (3, (1, 2, 3, 3, 3), (2, 1, 2, 2, 2), {"padding": (0, 2, 0)}),
        (3, (1, 2, 3, 3, 3), (2, 1, 2, 2, 2), {"padding": (2, 0, 0)}),
    ],
)
def test_conv_transpose_with_an_empty_or_negative_output_refuses_as_torch(d, xs, ws, kw):
    # PyTorch 2.13 refuses an output size of exactly 0 too ("Output size is too small")
    x, w = np.ones(xs), np.ones(ws)
    with pytest.raises(RuntimeError, match="too small"):
        getattr(TF, f"conv_transpose{d}d")(torch.tensor(x), torch.tensor(w), **kw)
    with pytest.raises(ValueError, match=f"conv_transpose{d}d: .*non-positive output size"):
        getattr(F, f"conv_transpose{d}d")(ember.tensor(x), ember.tensor(w), **kw)


@pytest.mark.parametrize("d", [1, 2, 3])
def test_conv_transpose_empty_spatial_input_refuses_empty_batch_runs(d):
    ws = (2, 3) + (2,) * d
    w = np.random.default_rng(6).standard_normal(ws)
    empty_hw = (1, 2) + (3,) * (d - 1) + (0,)
    with pytest.raises(RuntimeError, match="zero batch"):
        getattr(TF, f"conv_transpose{d}d")(
            torch.ones(empty_hw, dtype=torch.float64), torch.tensor(w)
        )
    with pytest.raises(ValueError, match="only an empty batch or channel"):
        getattr(F, f"conv_transpose{d}d")(ember.ones(*empty_hw, dtype=np.float64), ember.tensor(w))
    xs = (0, 2) + (3,) * d
    want = getattr(TF, f"conv_transpose{d}d")(torch.ones(xs, dtype=torch.float64), torch.tensor(w))
    we = ember.tensor(w, requires_grad=True)
    got = getattr(F, f"conv_transpose{d}d")(ember.ones(*xs, dtype=np.float64), we, stride=1)
    assert got.shape == tuple(want.shape)
    got.sum().backward()
    np.testing.assert_array_equal(we.grad.numpy(), np.zeros(ws))


def _torch_and_ember(fn_t, fn_e, *arrays):
    ts = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    es = [ember.tensor(a, requires_grad=a.dtype.kind == "f") for a in arrays]
    return fn_t(*ts), fn_e(*es), ts, es


@pytest.mark.parametrize("reduction", ["none", "sum"])
def test_hinge_embedding_and_multilabel_margin_losses_treat_nan_as_torch(reduction):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 5))
    x[0, 0] = np.nan  # a target score (multilabel) and a t = -1 entry (hinge)
    y = np.sign(rng.standard_normal((4, 5)))
    y[0, 0] = -1
    want, got, _, _ = _torch_and_ember(
        lambda a, b: TF.hinge_embedding_loss(a, b, reduction=reduction),
        lambda a, b: F.hinge_embedding_loss(a, b, reduction=reduction),
        x,
        y,
    )
    np.testing.assert_allclose(got.numpy(), want.detach().numpy())  # NaN propagates
    t = np.array([[0, 1, -1, 0, 0]] * 4)
    want, got, ts, es = _torch_and_ember(
        lambda a, b: TF.multilabel_margin_loss(a, b, reduction=reduction),
        lambda a, b: F.multilabel_margin_loss(a, b, reduction=reduction),
        x,
        t,
    )
    np.testing.assert_allclose(got.numpy(), want.detach().numpy())  # the NaN terms are skipped
    want.sum().backward()
    got.sum().backward()
    np.testing.assert_allclose(es[0].grad.numpy(), ts[0].grad.numpy())
    xf = rng.standard_normal((3, 5))
    gradcheck(
        lambda a: F.multilabel_margin_loss(a, t[:3], reduction=reduction),
        (ember.tensor(xf, requires_grad=True),),
    )


def test_binary_cross_entropy_refuses_mixed_dtypes_as_torch():
    p, t = np.full((2, 3), 0.25), np.full((2, 3), 0.5)
    with pytest.raises(RuntimeError, match="dtype"):
        TF.binary_cross_entropy(torch.tensor(p), torch.tensor(t, dtype=torch.float32))
    with pytest.raises(
        TypeError, match="binary_cross_entropy: target is float32 but input is float64"
    ):
        F.binary_cross_entropy(ember.tensor(p), ember.tensor(t.astype(np.float32)))


def test_pairwise_distance_of_scalars_and_a_scalar_against_rows():
    want = TF.pairwise_distance(
        torch.tensor(1.0, dtype=torch.float64), torch.tensor(3.5, dtype=torch.float64)
    )
    got = F.pairwise_distance(
        ember.tensor(1.0, dtype=np.float64), ember.tensor(3.5, dtype=np.float64)
    )
    assert got.shape == () and np.isclose(got.item(), want.item(), rtol=1e-12)
    x2 = np.random.default_rng(8).standard_normal((4, 5))
    want = TF.pairwise_distance(torch.tensor(0.5, dtype=torch.float64), torch.tensor(x2))
    got = F.pairwise_distance(ember.tensor(0.5, dtype=np.float64), ember.tensor(x2))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_prelu_refuses_a_weight_of_more_than_one_dim_as_torch():
    x, w = np.ones((2, 3, 4)), np.full((1, 3), 0.25)
    with pytest.raises(RuntimeError, match="scalar or 1D"):
        TF.prelu(torch.tensor(x), torch.tensor(w))
    with pytest.raises(ValueError, match="prelu: weight must be a scalar or 1-D"):
        F.prelu(ember.tensor(x), ember.tensor(w))


@pytest.mark.parametrize("nd,shape", [(2, (0, 3, 8, 8)), (3, (0, 2, 5, 5, 5))])
def test_fractional_max_pool_of_an_empty_batch(nd, shape):
    out = 3 if nd == 2 else 2
    fn_t, fn_e = getattr(TF, f"fractional_max_pool{nd}d"), getattr(F, f"fractional_max_pool{nd}d")
    bad = (2, 0) + shape[2:]  # an empty channel dim: refused
    with pytest.raises(RuntimeError, match="non-zero size"):
        fn_t(torch.ones(bad), 2, output_size=out)
    with pytest.raises(ValueError, match="only the batch dim may be empty"):
        fn_e(ember.ones(*bad), 2, output_size=out)
    want = fn_t(torch.ones(shape, dtype=torch.float64), 2, output_size=out)
    x = ember.tensor(np.ones(shape), requires_grad=True)
    got = fn_e(x, 2, output_size=out)
    assert got.shape == tuple(want.shape)
    got.sum().backward()
    assert x.grad.shape == shape


ACTIVATIONS = [
    "celu", "elu", "gelu", "hardshrink", "hardsigmoid", "hardswish", "hardtanh", "leaky_relu",
    "logsigmoid", "mish", "relu", "relu6", "selu", "sigmoid", "silu", "softplus", "softshrink",
    "softsign", "tanh", "tanhshrink",
]  # fmt: skip


@pytest.mark.parametrize("name", ACTIVATIONS + ["softmax", "log_softmax", "normalize"])
@pytest.mark.parametrize("case", ["empty", "nan", "scalar"])
def test_elementwise_and_row_ops_on_empty_nan_and_0d_inputs_match_torch(name, case):
    x = np.random.default_rng(9).standard_normal((2, 3, 4))
    if case == "empty":
        x = x[:, :0]
    elif case == "nan":
        x[0, 1, 2] = np.nan
    else:
        x = np.array(0.7)
    kw = {"dim": -1} if name in ("softmax", "log_softmax") else {}
    if name == "normalize" and case == "scalar":
        kw = {"dim": 0}
    want = getattr(TF, name)(torch.tensor(x), **kw).numpy()
    got = getattr(F, name)(ember.tensor(x), **kw).numpy()
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-12)


BROADCAST_LOSSES = {
    "kl_div": ["none", "sum", "batchmean"],  # mean warns (in both)
    "hinge_embedding_loss": ["mean", "none"],
    "multilabel_soft_margin_loss": ["mean", "none"],
    "poisson_nll_loss": ["mean", "sum"],
}


def test_soft_margin_loss_broadcasts_the_target_to_the_input_shape_only():
    rng = np.random.default_rng(13)
    x, t = rng.standard_normal((1, 4, 5)), np.sign(rng.standard_normal((4, 5)))
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    want, got = TF.soft_margin_loss(xt, torch.tensor(t)), F.soft_margin_loss(xe, t)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    want.backward()
    got.backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10)
    with pytest.raises(RuntimeError, match="broadcast shape"):
        TF.soft_margin_loss(torch.ones(5), torch.ones(4, 5))
    with pytest.raises(ValueError, match="soft_margin_loss: target does not broadcast"):
        F.soft_margin_loss(ember.ones(5), ember.ones(4, 5))


@pytest.mark.parametrize("name", list(BROADCAST_LOSSES))
@pytest.mark.parametrize("shapes", [((5,), (4, 5)), ((1, 4, 5), (4, 5)), ((4, 1), (4, 5))])
def test_losses_broadcasting_input_and_target_quietly_match_torch(name, shapes):
    rng = np.random.default_rng(10)
    x = rng.standard_normal(shapes[0])
    t = rng.uniform(0.1, 0.9, shapes[1])
    if name == "hinge_embedding_loss":
        t = np.where(t > 0.5, 1.0, -1.0)
    elif name == "multilabel_soft_margin_loss":
        t = (t > 0.5).astype(float)
    for reduction in BROADCAST_LOSSES[name]:
        want, got, ts, es = _torch_and_ember(
            lambda a, b, r=reduction: getattr(TF, name)(a, b, reduction=r),
            lambda a, b, r=reduction: getattr(F, name)(a, b, reduction=r),
            x,
            t,
        )
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
        want.sum().backward()
        got.sum().backward()
        np.testing.assert_allclose(es[0].grad.numpy(), ts[0].grad.numpy(), rtol=1e-10)
        gradcheck(
            lambda a, r=reduction: getattr(F, name)(a, t, reduction=r),
            (ember.tensor(x, requires_grad=True),),
        )


@pytest.mark.parametrize("p", [0, -1, -0.5, float("-inf")])
def test_normalize_with_p_zero_or_negative_matches_torch(p):
    x = np.random.default_rng(11).standard_normal((3, 4))
    x[0, 1] = 0.0
    want, got, ts, es = _torch_and_ember(
        lambda a: TF.normalize(a, p), lambda a: F.normalize(a, p), x
    )
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
    want.sum().backward()
    got.sum().backward()
    tg = np.zeros(x.shape) if ts[0].grad is None else ts[0].grad.numpy()  # p = 0: no graph
    np.testing.assert_allclose(es[0].grad.numpy(), tg, rtol=1e-10, atol=1e-12)
    if np.isfinite(p) and p != 0:
        gradcheck(lambda a: F.normalize(a, p), (ember.tensor(x + 2.0, requires_grad=True),))


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_lp_pool_with_norm_type_zero_raises_a_clear_error(nd):
    shape = (1, 2) + (4,) * nd
    with pytest.raises(ZeroDivisionError):  # PyTorch's own error is a bare ZeroDivisionError
        getattr(TF, f"lp_pool{nd}d")(torch.ones(shape), 0, 2)
    with pytest.raises(ValueError, match=f"lp_pool{nd}d: norm_type must be nonzero"):
        getattr(F, f"lp_pool{nd}d")(ember.ones(*shape), 0, 2)


@pytest.mark.parametrize(
    "qs,ks", [((1, 2, 3, 4), (2, 5, 4)), ((2, 1, 3, 4), (1, 3, 5, 4)), ((3, 4), (2, 5, 4))]
)
def test_sdpa_broadcasts_leading_dims_as_torch(qs, ks):
    rng = np.random.default_rng(12)
    q, k, v = rng.standard_normal(qs), rng.standard_normal(ks), rng.standard_normal(ks)
    want, got, ts, es = _torch_and_ember(
        TF.scaled_dot_product_attention, F.scaled_dot_product_attention, q, k, v
    )
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.standard_normal(want.shape)
    want.backward(torch.tensor(g))
    got.backward(ember.tensor(g))
    for e, t in zip(es, ts):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-12)
    gradcheck(
        F.scaled_dot_product_attention,
        tuple(ember.tensor(a, requires_grad=True) for a in (q, k, v)),
    )
    with pytest.raises(ValueError, match="must broadcast"):
        F.scaled_dot_product_attention(np.ones((2, 3, 4)), np.ones((3, 5, 4)), np.ones((3, 5, 4)))
