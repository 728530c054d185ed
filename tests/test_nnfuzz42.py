"""Round-42 fuzz of nn.functional and nn modules against torch: uint8 interpolate, 1-D masks
in scaled_dot_product_attention, bilinear's node and empty dims, in-place unbatched feature
dropout's node, instance_norm's empty batch; and sweeps of the options probed least (losses,
modules) kept as regressions. Each compared value for value, gradient for gradient, node name
for node name or exception family for exception family."""

import warnings

import numpy as np
import pytest
from conftest import same_error

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _name(y):
    return None if y.grad_fn is None else y.grad_fn.name()


# ---- interpolate of uint8 images: torch's integer bilinear / bicubic ----------------------

U8_SIZES = [((3, 4), None), ((13, 17), None), ((7, 2), None), ((7, 9), None),
            (None, (2.0, 3.0)), (None, (0.5, 1.5)), (None, (1.7, 1.3))]  # fmt: skip


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("antialias", [False, True])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("channels", [1, 3, 5])
def test_interpolate_uint8_matches_torch(mode, antialias, align_corners, channels):
    # (torch 2.13's own bugs are avoided: an internal assert for a 1 x 1 output of 3 or 4
    # channels, and wrong values for a width-1 output of more than 4 channels)
    a = np.random.default_rng(channels).integers(0, 256, (2, channels, 7, 9)).astype(np.uint8)
    kw = dict(mode=mode, align_corners=align_corners, antialias=antialias)
    for size, sf in U8_SIZES:
        want = TF.interpolate(torch.tensor(a), size=size, scale_factor=sf, **kw).numpy()
        got = F.interpolate(ember.tensor(a), size=size, scale_factor=sf, **kw)
        assert got.dtype == ember.uint8 and got.shape == want.shape
        got = got.numpy()
        if mode == "bicubic" and not antialias:
            # plain bicubic: the same fixed-point sums, though torch rounds a few sums that
            # fall within 1e-2 of .5 the other way: off by one at most, and rarely
            assert np.abs(got.astype(int) - want).max() <= 1
            assert np.mean(got == want) > 0.97, (size, sf)
        else:
            np.testing.assert_array_equal(got, want, err_msg=str((size, sf)))


def test_interpolate_uint8_same_size_is_a_copy():
    a = np.random.default_rng(0).integers(0, 256, (1, 3, 4, 5)).astype(np.uint8)
    e = ember.tensor(a)
    y = F.interpolate(e, size=(4, 5), mode="bilinear")
    np.testing.assert_array_equal(y.numpy(), a)
    assert not np.shares_memory(y.numpy(), e.numpy())


@pytest.mark.parametrize(
    "shape, mode", [((1, 2, 5), "linear"), ((1, 2, 3, 4, 5), "trilinear"), ((1, 2, 4, 5), "area")]
)
def test_interpolate_uint8_refusals_as_torch(shape, mode):
    a = np.random.default_rng(1).integers(0, 256, shape).astype(np.uint8)
    size = tuple(s + 1 for s in shape[2:])
    same_error(
        lambda: F.interpolate(ember.tensor(a), size=size, mode=mode),
        lambda: TF.interpolate(torch.tensor(a), size=size, mode=mode),
    )


# ---- scaled_dot_product_attention: a 1-D mask on 4-D inputs -----------------------------


@pytest.mark.parametrize("mshape", [(5,), (1,), ()])
@pytest.mark.parametrize(
    "kw", [{}, {"is_causal": True}, {"enable_gqa": True}], ids=["plain", "causal", "gqa"]
)
def test_sdpa_low_rank_mask_on_4d_inputs_raises_index_error(mshape, kw):
    rng = np.random.default_rng(2)
    hk = 1 if kw.get("enable_gqa") else 2
    q, k = rng.standard_normal((2, 2, 3, 4)), rng.standard_normal((2, hk, 5, 4))
    m = rng.standard_normal(mshape)
    with pytest.raises(IndexError):
        TF.scaled_dot_product_attention(*map(torch.tensor, (q, k, k, m)), **kw)
    with pytest.raises(IndexError):
        F.scaled_dot_product_attention(*map(ember.tensor, (q, k, k)), ember.tensor(m), **kw)


@pytest.mark.parametrize(
    "qshape, kshape, kw",
    [
        ((2, 3, 4), (2, 5, 4), {}),  # 3-D inputs take a 1-D mask
        ((1, 2, 2, 3, 4), (1, 2, 2, 5, 4), {}),  # so do 5-D ones
        ((2, 2, 3, 4), (2, 2, 5, 4), {"dropout_p": 0.5}),  # torch's check runs without dropout
        ((2, 3, 3, 4), (2, 1, 5, 4), {}),  # nor with head counts that only broadcast
        ((2, 2, 0, 4), (2, 2, 5, 4), {}),  # nor for an empty attention
    ],
)
def test_sdpa_1d_mask_where_torch_takes_it(qshape, kshape, kw):
    rng = np.random.default_rng(3)
    q, k = rng.standard_normal(qshape), rng.standard_normal(kshape)
    m = rng.random(kshape[-2]) > 0.3
    m[0] = True
    if kw.get("dropout_p"):  # (dropout patterns differ: the shapes and the finiteness only)
        y = F.scaled_dot_product_attention(*map(ember.tensor, (q, k, k, m)), **kw)
        assert y.shape == qshape and np.isfinite(y.numpy()).all()
        return
    want = TF.scaled_dot_product_attention(*map(torch.tensor, (q, k, k, m)), **kw)
    got = F.scaled_dot_product_attention(*map(ember.tensor, (q, k, k, m)), **kw)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-12)


# ---- bilinear: the bias Add is the node; empty dims ---------------------------------------


@pytest.mark.parametrize("lead", [(2,), (), (2, 3), (0,)])
@pytest.mark.parametrize("dims", [(3, 2, 4), (3, 2, 0), (0, 2, 4), (3, 0, 4)])
@pytest.mark.parametrize("bias", [False, True])
def test_bilinear_matches_torch(lead, dims, bias):
    i1, i2, o = dims
    rng = np.random.default_rng(4)
    arrs = [rng.standard_normal(s) for s in (lead + (i1,), lead + (i2,), (o, i1, i2), (o,))]
    arrs = arrs if bias else arrs[:3]
    if 0 in (i1, i2):  # torch refuses empty input features (RuntimeError)
        same_error(lambda: F.bilinear(*arrs), lambda: TF.bilinear(*map(torch.tensor, arrs)))
        return
    tt = [torch.tensor(a, requires_grad=True) for a in arrs]
    et = [ember.tensor(a, requires_grad=True) for a in arrs]
    yt, ye = TF.bilinear(*tt), F.bilinear(*et)
    assert ye.shape == tuple(yt.shape) and _name(ye) == _name(yt)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    ye.backward(ember.tensor(g))
    for a, b in zip(tt, et):
        np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=1e-12, atol=1e-12)


def test_bilinear_gradcheck_and_gradgradcheck():
    rng = np.random.default_rng(5)
    args = [ember.tensor(rng.standard_normal(s), requires_grad=True)
            for s in ((2, 3), (2, 2), (4, 3, 2), (4,))]  # fmt: skip
    assert gradcheck(F.bilinear, args)
    assert gradgradcheck(F.bilinear, args)


# ---- in-place dropout1d / dropout3d of an unbatched input: torch's squeeze_ node ---------


@pytest.mark.parametrize("fn, shape", [("dropout1d", (3, 4)), ("dropout3d", (2, 3, 4, 5))])
@pytest.mark.parametrize("training, p", [(False, 0.3), (True, 0.0), (True, 1.0)])
def test_in_place_unbatched_feature_dropout_node(fn, shape, training, p):
    a = np.random.default_rng(6).standard_normal(shape)
    lt, le = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)
    t, e = lt * 2, le * 2
    yt = getattr(TF, fn)(t, p, training, True)
    ye = getattr(F, fn)(e, p, training, True)
    assert yt is t and ye is e
    assert _name(ye) == _name(yt) == "SqueezeBackward4"
    np.testing.assert_array_equal(ye.numpy(), yt.detach().numpy())
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(le.grad.numpy(), lt.grad.numpy())


@pytest.mark.parametrize("fn, shape", [("dropout1d", (2, 3, 4)), ("dropout3d", (1, 2, 3, 4, 5))])
def test_in_place_batched_feature_dropout_keeps_the_node(fn, shape):
    t, e = torch.ones(shape, requires_grad=True) * 2, ember.ones(shape, requires_grad=True) * 2
    assert getattr(TF, fn)(t, 0.3, False, True) is t
    assert getattr(F, fn)(e, 0.3, False, True) is e
    assert _name(e) == _name(t) == "MulBackward0"


# ---- instance_norm of an empty batch with a weight: torch's IndexError -------------------


@pytest.mark.parametrize("affine", ["weight", "bias"])
def test_instance_norm_empty_batch_with_params_raises_index_error(affine):
    kw = {affine: np.ones(3)}
    with pytest.raises(IndexError):
        TF.instance_norm(torch.zeros(0, 3, 4, dtype=torch.float64),
                         **{k: torch.tensor(v) for k, v in kw.items()})  # fmt: skip
    with pytest.raises(IndexError):
        F.instance_norm(ember.zeros(0, 3, 4, dtype=ember.float64),
                        **{k: ember.tensor(v) for k, v in kw.items()})  # fmt: skip


# ---- sweeps of the least-probed losses (regressions: these matched) ----------------------


def _loss_cases(rng):
    r = rng.standard_normal
    y = np.where(rng.random(4) > 0.5, 1.0, -1.0)
    yield "multilabel_margin_loss", (r((3, 5)), rng.integers(-1, 5, (3, 5))), {}
    yield "multilabel_soft_margin_loss", (r((3, 5)), 1.0 * (rng.random((3, 5)) > 0.5), r(5)), {}
    for p in (1, 2):
        yield "multi_margin_loss", (r((4, 5)), rng.integers(0, 5, 4)), dict(p=p, margin=0.7)
        yield "multi_margin_loss", (r((4, 5)), rng.integers(0, 5, 4)), dict(weight=np.abs(r(5)))
    for swap in (False, True):
        yield "triplet_margin_loss", (r((4, 6)), r((4, 6)), r((4, 6))), dict(swap=swap, p=3)
        yield (
            "triplet_margin_with_distance_loss",
            (r((4, 6)), r((4, 6)), r((4, 6))),
            dict(swap=swap),
        )
    yield "cosine_embedding_loss", (r((4, 6)), r((4, 6)), y), dict(margin=0.3)
    yield "margin_ranking_loss", (r(4), r(4), y), dict(margin=0.2)
    yield "hinge_embedding_loss", (r(4), y), dict(margin=0.5)
    yield "soft_margin_loss", (r(4), y), {}
    for full in (False, True):
        yield (
            "gaussian_nll_loss",
            (r((4, 3)), r((4, 3)), np.abs(r((4, 1)))),
            dict(full=full, eps=0.5),
        )
        yield (
            "poisson_nll_loss",
            (np.abs(r(4)) + 0.1, np.abs(r(4)) * 3),
            dict(log_input=False, full=full),
        )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_least_probed_losses_match_torch(reduction):
    for name, arrs, kw in _loss_cases(np.random.default_rng(7)):
        # (an array among the keywords, a class weight, is a constant)
        kt = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        ke = {k: ember.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
        for grads in ("every float", "the input"):  # (torch refuses some targets' gradients)
            tt = [torch.tensor(a, requires_grad=a.dtype == np.float64) for a in arrs]
            et = [ember.tensor(a, requires_grad=a.dtype == np.float64) for a in arrs]
            if grads == "the input":
                _ = [t.requires_grad_(False) for t in tt[1:] + et[1:]]
            try:
                yt = getattr(TF, name)(*tt, **kt, reduction=reduction)
                ye = getattr(F, name)(*et, **ke, reduction=reduction)
                break
            except RuntimeError:
                fe, ft = getattr(F, name), getattr(TF, name)
                same_error(lambda f=fe, a=et, k=ke: f(*a, **k, reduction=reduction),
                           lambda f=ft, a=tt, k=kt: f(*a, **k, reduction=reduction))  # fmt: skip
        np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
        g = np.random.default_rng(8).standard_normal(tuple(yt.shape))
        yt.backward(torch.tensor(g))
        ye.backward(ember.tensor(g))
        for a, b in zip(tt, et):
            assert (a.grad is None) == (b.grad is None), name
            if a.grad is not None:
                np.testing.assert_allclose(
                    b.grad.numpy(), a.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=name
                )


# ---- modules with the options probed least (regressions: these matched) ------------------


def _load(em, tm):
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("kdim", [None, 5])
@pytest.mark.parametrize("add_bias_kv", [False, True])
@pytest.mark.parametrize("add_zero_attn", [False, True])
def test_multihead_attention_kdim_bias_kv_zero_attn(kdim, add_bias_kv, add_zero_attn):
    rng = np.random.default_rng(9)
    kw = dict(add_bias_kv=add_bias_kv, add_zero_attn=add_zero_attn, kdim=kdim, vdim=kdim and 7)
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(8, 2, **kw)
    em = ember.nn.MultiheadAttention(8, 2, **kw)
    assert repr(em) == repr(tm) and list(em.state_dict()) == list(tm.state_dict())
    _load(em, tm)
    q, k, v = (rng.standard_normal(s).astype(np.float32)
               for s in ((3, 2, 8), (4, 2, kdim or 8), (4, 2, kdim and 7 or 8)))  # fmt: skip
    kpm = np.zeros((2, 4), bool)
    kpm[0, -1] = True
    am = np.triu(np.ones((3, 4), bool), 2)
    args = dict(key_padding_mask=kpm, attn_mask=am, average_attn_weights=False)
    want = tm(
        *map(torch.tensor, (q, k, v)),
        **{a: torch.tensor(b) for a, b in args.items() if a != "average_attn_weights"},
        average_attn_weights=False,
    )  # noqa: E501
    got = em(
        *map(ember.tensor, (q, k, v)),
        **{a: ember.tensor(b) for a, b in args.items() if a != "average_attn_weights"},
        average_attn_weights=False,
    )  # noqa: E501
    for g, w in zip(got, want):
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
def test_transformer_decoder_memory_masks_and_causal(norm_first, batch_first):
    rng = np.random.default_rng(10)
    kw = dict(dim_feedforward=16, dropout=0.0, batch_first=batch_first, norm_first=norm_first)
    torch.manual_seed(0)
    tm = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(8, 2, **kw), 2)
    em = ember.nn.TransformerDecoder(ember.nn.TransformerDecoderLayer(8, 2, **kw), 2)
    _load(em, tm)
    tm.eval()
    em.eval()
    tgt = rng.standard_normal((2, 5, 8) if batch_first else (5, 2, 8)).astype(np.float32)
    mem = rng.standard_normal((2, 3, 8) if batch_first else (3, 2, 8)).astype(np.float32)
    tmask = np.triu(np.full((5, 5), -np.inf, np.float32), 1)
    mmask = np.zeros((5, 3), bool)  # (True: not attended; of the padding mask's type)
    mmask[:, 0] = True
    mkpm = np.zeros((2, 3), bool)
    mkpm[1, 2] = True
    args = (tgt, mem, tmask, mmask, mkpm)

    def run(m, lib):
        t, me, a, b, c = (lib.tensor(x) for x in args)
        return m(t, me, tgt_mask=a, memory_mask=b, memory_key_padding_mask=c, tgt_is_causal=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (torch's nested-tensor notes)
        want = run(tm, torch).detach().numpy()
    np.testing.assert_allclose(run(em, ember).detach().numpy(), want, rtol=1e-4, atol=1e-5)


# ---- nll_loss / cross_entropy recorded straight to the fused node -----------------------


@pytest.mark.parametrize(
    "fn, smoothing", [("nll_loss", 0.0), ("cross_entropy", 0.0), ("cross_entropy", 0.2)]
)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
def test_recorded_class_loss_matches_torch(fn, smoothing, reduction, weighted):
    rng = np.random.default_rng(11)
    x, t, w = rng.standard_normal((6, 4)), rng.integers(0, 4, 6), rng.random(4) + 0.5
    t[2] = -100  # ignored
    kw = dict(reduction=reduction, **({"label_smoothing": smoothing} if smoothing else {}))
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    yt = getattr(TF, fn)(xt, torch.tensor(t), torch.tensor(w) if weighted else None, **kw)
    ye = getattr(F, fn)(xe, ember.tensor(t), ember.tensor(w) if weighted else None, **kw)
    assert _name(ye) == _name(yt)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = rng.standard_normal(tuple(yt.shape))
    yt.backward(torch.tensor(g))
    ye.backward(ember.tensor(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert gradcheck(lambda v: getattr(F, fn)(v, ember.tensor(t), **kw), [xe])


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
def test_recorded_class_loss_target_out_of_range(fn):
    x = np.zeros((3, 4))
    for bad in (4, -1):
        t = np.array([0, bad, 1])
        same_error(
            lambda t=t: getattr(F, fn)(ember.tensor(x, requires_grad=True), ember.tensor(t)),
            lambda t=t: getattr(TF, fn)(torch.tensor(x, requires_grad=True), torch.tensor(t)),
        )
