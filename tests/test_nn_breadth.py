"""The breadth layers and functionals (RMSNorm, LocalResponseNorm, Bilinear, ChannelShuffle,
LPPool, 3-D conv and pooling, unpooling, ConvTranspose1d, BatchNorm3d, MultiLabelMarginLoss,
gumbel_softmax, pdist): values and gradients against PyTorch in float32 and float64 (modules
with copied weights), gradcheck in float64, state_dict keys, repr, and the bad inputs."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(0)


def _r(*shape):
    return RNG.standard_normal(shape)


def _pos(*shape):
    return np.abs(RNG.standard_normal(shape)) + 0.2


def _log_softmax(a):
    return (
        a
        - np.log(np.exp(a - a.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - a.max(-1, keepdims=True)
    )


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def _tols(dtype):
    return {"rtol": 1e-4, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-9, "atol": 1e-11}


def _inputs(arrays, dtype):
    """Float arrays as (ember, torch) leaves requiring grad; integer arrays as plain tensors."""
    es, ts = [], []
    for a in arrays:
        if a.dtype.kind == "f":
            es.append(ember.tensor(a.astype(dtype), requires_grad=True))
            ts.append(torch.tensor(a.astype(dtype), requires_grad=True))
        else:
            es.append(ember.tensor(a))
            ts.append(torch.tensor(a))
    return es, ts


def _check_against_torch(fn, arrays, dtype):
    """fn(namespace, *inputs) with namespace F or torch's F: every output's values, then the
    gradient of each float input for a random upstream gradient of the first output."""
    es, ts = _inputs(arrays, dtype)
    eo = fn(F, *es)
    with warnings.catch_warnings():  # PyTorch's own performance warnings
        warnings.simplefilter("ignore")
        to = fn(TF, *ts)
    eo_all = eo if isinstance(eo, tuple) else (eo,)
    to_all = to if isinstance(to, tuple) else (to,)
    assert len(eo_all) == len(to_all)
    for e, t in zip(eo_all, to_all):
        assert e.shape == tuple(t.shape)
        assert e.numpy().dtype == t.detach().numpy().dtype
        np.testing.assert_allclose(e.numpy(), t.detach().numpy(), **_tols(dtype))
    eo, to = _first(eo), _first(to)
    if not to.requires_grad:
        return
    g = RNG.standard_normal(to.shape).astype(dtype)
    (eo * ember.tensor(g)).sum().backward()
    (to * torch.tensor(g)).sum().backward()
    for e, t in zip(es, ts):
        if t.requires_grad:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **_tols(dtype))


def _unpool3d(M, x):
    y, i = M.max_pool3d(x, 2, return_indices=True)
    return M.max_unpool3d(y, i, 2, output_size=(3, 5, 5))


def _unpool1d(M, x):
    # non-overlapping windows: a value that is the max of two windows would be unpooled once
    # but get both windows' gradients (in PyTorch as here), which gradcheck rightly refuses
    y, i = M.max_pool1d(x, 2, 2, 1, return_indices=True)
    return M.max_unpool1d(y, i, 2, 2, 1, output_size=x.shape[-1:])


FRAC2, FRAC3 = RNG.random((2, 3, 2)), RNG.random((1, 2, 3))


def _tensor(M, a):
    return ember.tensor(a) if M is F else torch.tensor(a)


def _frac2d(M, x):
    s = _tensor(M, FRAC2).to(x.dtype)
    return M.fractional_max_pool2d(x, (2, 3), (4, 5), return_indices=True, _random_samples=s)


def _frac3d(M, x):
    s = _tensor(M, FRAC3).to(x.dtype)
    return M.fractional_max_pool3d_with_indices(
        x, 2, output_ratio=(0.5, 0.7, 0.6), _random_samples=s
    )


CASES = {
    "rms_norm": (lambda M, x, w: M.rms_norm(x, (3, 4), w), (_r(2, 3, 4), _r(3, 4))),
    "rms_norm_eps": (lambda M, x: M.rms_norm(x, (4,), eps=1e-3), (_r(3, 4),)),
    "lrn": (lambda M, x: M.local_response_norm(x, 3), (_r(2, 5, 4),)),
    "lrn_even": (
        lambda M, x: M.local_response_norm(x, 4, 0.1, 0.6, 2.0),
        (_r(2, 6, 2, 3),),
    ),
    "lrn_5d": (lambda M, x: M.local_response_norm(x, 2, 0.5), (_r(1, 4, 2, 3, 2),)),
    "bilinear": (
        lambda M, a, b, w, c: M.bilinear(a, b, w, c),
        (_r(4, 3), _r(4, 5), _r(2, 3, 5), _r(2)),
    ),
    "bilinear_lead": (
        lambda M, a, b, w: M.bilinear(a, b, w),
        (_r(2, 3, 2), _r(2, 3, 4), _r(3, 2, 4)),
    ),
    "channel_shuffle": (lambda M, x: M.channel_shuffle(x, 3), (_r(2, 6, 3, 2),)),
    "lp_pool1d": (lambda M, x: M.lp_pool1d(x, 2, 3, 2), (_pos(2, 3, 8),)),
    "lp_pool2d": (lambda M, x: M.lp_pool2d(x, 3, (2, 3), None, True), (_pos(2, 5, 7),)),
    "lp_pool3d": (lambda M, x: M.lp_pool3d(x, 1.5, 2, (1, 2, 2)), (_pos(1, 2, 3, 4, 5),)),
    "max_pool3d": (lambda M, x: M.max_pool3d(x, 3, 2, 1, 1, True, True), (_r(1, 2, 5, 6, 4),)),
    "max_pool3d_dil": (
        lambda M, x: M.max_pool3d(x, (2, 3, 2), (1, 2, 1), (1, 0, 1), (2, 1, 1)),
        (_r(2, 5, 6, 4),),
    ),
    "avg_pool3d": (lambda M, x: M.avg_pool3d(x, 3, 2, 1, True, False), (_r(1, 2, 5, 6, 4),)),
    "avg_pool3d_incl": (lambda M, x: M.avg_pool3d(x, (2, 3, 2), 1, (1, 1, 0)), (_r(2, 4, 5, 4),)),
    "avg_pool3d_div": (lambda M, x: M.avg_pool3d(x, 2, 2, 1, False, True, 5), (_r(2, 5, 4, 3),)),
    "adaptive_avg_pool3d": (
        lambda M, x: M.adaptive_avg_pool3d(x, (3, None, 2)),
        (_r(1, 2, 5, 4, 5),),
    ),
    "adaptive_max_pool3d": (
        lambda M, x: M.adaptive_max_pool3d(x, (3, 2, 4), True),
        (_r(2, 5, 4, 6),),
    ),
    "max_unpool3d": (_unpool3d, (_r(1, 2, 3, 5, 4),)),
    "max_unpool1d": (_unpool1d, (_r(2, 3, 7),)),
    "conv3d": (
        lambda M, x, w, b: M.conv3d(x, w, b, (2, 1, 2), (1, 2, 0), (1, 2, 1), 2),
        (_r(2, 4, 4, 5, 4), _r(6, 2, 3, 2, 2), _r(6)),
    ),
    "conv3d_same": (
        lambda M, x, w: M.conv3d(x, w, padding="same", dilation=(2, 1, 1)),
        (_r(2, 5, 4, 3), _r(3, 2, 2, 3, 2)),
    ),
    "conv3d_valid": (
        lambda M, x, w: M.conv3d(x, w, padding="valid"),
        (_r(1, 2, 3, 4, 4), _r(2, 2, 3, 2, 1)),
    ),
    "conv_transpose1d": (
        lambda M, x, w, b: M.conv_transpose1d(x, w, b, 3, 1, 2, 2, 2),
        (_r(2, 4, 5), _r(4, 3, 3), _r(6)),
    ),
    "conv_transpose1d_unbatched": (
        lambda M, x, w: M.conv_transpose1d(x, w, stride=2, padding=2),
        (_r(3, 6), _r(3, 2, 4)),
    ),
    "conv_transpose3d": (
        lambda M, x, w, b: M.conv_transpose3d(
            x, w, b, (2, 1, 3), (1, 0, 1), (1, 0, 2), 2, (1, 2, 1)
        ),
        (_r(1, 4, 2, 3, 2), _r(4, 1, 2, 2, 2), _r(2)),
    ),
    "conv_transpose3d_unbatched": (
        lambda M, x, w: M.conv_transpose3d(x, w, None, 3, 2, 1, 1, 2),
        (_r(2, 2, 2, 3), _r(2, 2, 2, 1, 2)),
    ),
    "conv_transpose2d_dilated_output_padding": (
        lambda M, x, w, b: M.conv_transpose2d(x, w, b, (1, 2), 1, (2, 1), 1, (3, 2)),
        (_r(1, 2, 3, 4), _r(2, 3, 2, 2), _r(3)),
    ),
    "conv_transpose2d_dilated_padded": (
        lambda M, x, w: M.conv_transpose2d(x, w, None, 1, (2, 0), (1, 0), 2, 2),
        (_r(2, 4, 3, 3), _r(4, 1, 3, 2)),
    ),
    "conv_transpose2d_all": (
        lambda M, x, w, b: M.conv_transpose2d(x, w, b, (2, 3), (1, 0), (1, 2), 2, (2, 1)),
        (_r(2, 4, 3, 4), _r(4, 1, 3, 2), _r(2)),
    ),
    "multilabel_margin": (
        lambda M, x, t: M.multilabel_margin_loss(x, t),
        (_r(3, 5), np.array([[3, 0, -1, 1, 1], [1, 1, 2, 3, 4], [-1, 2, 0, 0, 0]])),
    ),
    "multilabel_margin_sum": (
        lambda M, x, t: M.multilabel_margin_loss(x, t, reduction="sum"),
        (_r(2, 4), np.array([[3, 3, -1, 0], [0, 1, 2, 3]])),
    ),
    "multilabel_margin_1d": (
        lambda M, x, t: M.multilabel_margin_loss(x, t, reduction="none"),
        (_r(5), np.array([4, 0, -1, 1, 1])),
    ),
    "fractional_max_pool2d": (_frac2d, (_r(2, 3, 9, 11),)),
    "fractional_max_pool3d": (_frac3d, (_r(1, 2, 5, 6, 4),)),
    "conv_tbc": (lambda M, x, w, b: M.conv_tbc(x, w, b, 1), (_r(5, 2, 3), _r(3, 3, 4), _r(4))),
    "pdist": (lambda M, x: M.pdist(x), (_r(5, 3),)),
    "pdist_p1": (lambda M, x: M.pdist(x, 1.0), (_r(4, 3),)),
    "pdist_p3": (lambda M, x: M.pdist(x, 3.0), (_r(4, 3),)),
    "pdist_inf": (lambda M, x: M.pdist(x, float("inf")), (_r(4, 3),)),
    "max_pool1d_with_indices": (lambda M, x: M.max_pool1d_with_indices(x, 2), (_r(2, 3, 6),)),
    "max_pool2d_with_indices": (
        lambda M, x: M.max_pool2d_with_indices(x, 3, 2, 1),
        (_r(1, 2, 5, 6),),
    ),
    "max_pool3d_with_indices": (lambda M, x: M.max_pool3d_with_indices(x, 2), (_r(1, 4, 4, 4),)),
    "adaptive_max_pool1d_with_indices": (
        lambda M, x: M.adaptive_max_pool1d_with_indices(x, 3),
        (_r(2, 3, 7),),
    ),
    "adaptive_max_pool2d_with_indices": (
        lambda M, x: M.adaptive_max_pool2d_with_indices(x, (2, 3)),
        (_r(2, 5, 7),),
    ),
    "adaptive_max_pool3d_with_indices": (
        lambda M, x: M.adaptive_max_pool3d_with_indices(x, 2),
        (_r(1, 1, 3, 4, 5),),
    ),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(CASES))
def test_functional_matches_torch(name, dtype):
    fn, arrays = CASES[name]
    _check_against_torch(fn, arrays, dtype)


@pytest.mark.parametrize("name", sorted(CASES))
def test_functional_gradcheck(name):
    fn, arrays = CASES[name]
    inputs = tuple(
        ember.tensor(a, requires_grad=True) if a.dtype.kind == "f" else ember.tensor(a)
        for a in arrays
    )
    assert gradcheck(lambda *t: _first(fn(F, *t)), inputs)


def test_fractional_max_pool_draws_from_embers_generator():
    x = ember.tensor(_r(2, 3, 9, 8))
    ember.manual_seed(5)
    a = F.fractional_max_pool2d(x, 2, output_ratio=(0.5, 0.5), return_indices=True)
    ember.manual_seed(5)
    samples = np.random.default_rng(5).random((2, 3, 2)).astype(np.float64)
    b = TF.fractional_max_pool2d(
        torch.tensor(x.numpy()), 2, (4, 4), return_indices=True,
        _random_samples=torch.tensor(samples),
    )  # fmt: skip
    np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    y = F.fractional_max_pool3d(ember.randn(3, 5, 5, 6), 2, 3)  # unbatched (3-D fit: 3 + 2 - 1 < 5)
    assert y.shape == (3, 3, 3, 3)


def test_upsample_aliases_warn_and_match_torch():
    x = _r(1, 2, 3, 4)
    for name in ("upsample_nearest", "upsample_bilinear"):
        with pytest.warns(UserWarning, match=f"{name}` is deprecated"):
            e = getattr(F, name)(ember.tensor(x), scale_factor=2)
        with pytest.warns(UserWarning):
            t = getattr(TF, name)(torch.tensor(x), scale_factor=2)
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12)


def test_pdist_identical_rows_get_zero_gradient():
    x = np.array([[1.0, 2.0], [1.0, 2.0], [0.0, 1.0]])
    e, t = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    F.pdist(e).sum().backward()
    TF.pdist(t).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy())
    assert np.isfinite(e.grad.numpy()).all()


def test_pdist_p0_counts_differences():
    x = np.array([[1.0, 2.0, 3.0], [1.0, 0.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(F.pdist(x, 0).numpy(), TF.pdist(torch.tensor(x), 0).numpy())


# ---- gumbel_softmax -----------------------------------------------------------------------


def test_gumbel_softmax_is_seeded_and_follows_the_formula():
    logits = _r(4, 5)
    ember.manual_seed(3)
    y = F.gumbel_softmax(ember.tensor(logits), tau=0.5, dim=0)
    g = -np.log(np.random.default_rng(3).exponential(size=logits.shape))
    z = (logits + g) / 0.5
    want = np.exp(z - z.max(0)) / np.exp(z - z.max(0)).sum(0)
    np.testing.assert_allclose(y.numpy(), want, rtol=1e-12)
    ember.manual_seed(3)
    np.testing.assert_array_equal(F.gumbel_softmax(ember.tensor(logits), 0.5, dim=0).numpy(), y)


def test_gumbel_softmax_hard_is_one_hot_with_the_soft_gradient():
    logits = _r(3, 6)
    w = ember.tensor(_r(3, 6))
    grads, samples = [], []
    for hard in (False, True):
        ember.manual_seed(7)
        x = ember.tensor(logits, requires_grad=True)
        y = F.gumbel_softmax(x, tau=2.0, hard=hard)
        (y * w).sum().backward()
        grads.append(x.grad.numpy())
        if hard:
            assert set(np.unique(y.numpy())) == {0.0, 1.0}
            np.testing.assert_array_equal(y.numpy().sum(-1), 1)
            np.testing.assert_array_equal(y.numpy().argmax(-1), samples[0].argmax(-1))
        samples.append(y.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_gumbel_softmax_samples_the_softmax_distribution():
    ember.manual_seed(0)
    logits = np.log(np.array([0.2, 0.5, 0.3]))
    y = F.gumbel_softmax(ember.tensor(np.tile(logits, (20000, 1))), hard=True)
    np.testing.assert_allclose(y.numpy().mean(0), [0.2, 0.5, 0.3], atol=0.015)


# ---- modules with copied weights ----------------------------------------------------------

MODULES = {
    "RMSNorm": (lambda m: m.RMSNorm((3, 4)), (_r(2, 3, 4),)),
    "RMSNorm_noaffine": (lambda m: m.RMSNorm(4, 1e-2, False), (_r(3, 4),)),
    "LocalResponseNorm": (lambda m: m.LocalResponseNorm(3, 0.1), (_r(2, 4, 3, 3),)),
    "Bilinear": (lambda m: m.Bilinear(3, 4, 5), (_r(6, 3), _r(6, 4))),
    "Bilinear_nobias": (lambda m: m.Bilinear(2, 3, 4, bias=False), (_r(2, 2), _r(2, 3))),
    "ChannelShuffle": (lambda m: m.ChannelShuffle(2), (_r(2, 4, 3),)),
    "LPPool1d": (lambda m: m.LPPool1d(2, 3, 1), (_pos(2, 3, 6),)),
    "LPPool2d": (lambda m: m.LPPool2d(1.5, 2), (_pos(1, 2, 4, 5),)),
    "LPPool3d": (lambda m: m.LPPool3d(2, (1, 2, 2), ceil_mode=True), (_pos(1, 2, 3, 5, 4),)),
    "MaxPool3d": (lambda m: m.MaxPool3d(2, 1, 1, return_indices=True), (_r(1, 2, 3, 4, 4),)),
    "AvgPool3d": (lambda m: m.AvgPool3d(2, count_include_pad=False, padding=1), (_r(2, 3, 4, 4),)),
    "AdaptiveAvgPool3d": (lambda m: m.AdaptiveAvgPool3d(2), (_r(1, 2, 3, 5, 4),)),
    "AdaptiveMaxPool3d": (lambda m: m.AdaptiveMaxPool3d((1, 2, 3)), (_r(1, 2, 3, 5, 4),)),
    "Conv3d": (lambda m: m.Conv3d(4, 6, (2, 3, 2), 2, 1, groups=2), (_r(1, 4, 4, 5, 5),)),
    "Conv3d_circular": (
        lambda m: m.Conv3d(2, 3, 3, padding=1, padding_mode="circular"),
        (_r(1, 2, 3, 4, 4),),
    ),
    "Conv3d_reflect_same": (
        lambda m: m.Conv3d(2, 2, 2, padding="same", padding_mode="reflect", bias=False),
        (_r(2, 3, 4, 4),),
    ),
    "ConvTranspose1d": (lambda m: m.ConvTranspose1d(4, 2, 3, 2, 1, 1, groups=2), (_r(2, 4, 5),)),
    "ConvTranspose2d": (
        lambda m: m.ConvTranspose2d(2, 3, (3, 2), (2, 1), dilation=2),
        (_r(1, 2, 3, 4),),
    ),
    "ConvTranspose3d": (
        lambda m: m.ConvTranspose3d(2, 4, (2, 3, 2), 2, 1, (1, 0, 1), groups=2),
        (_r(1, 2, 2, 3, 3),),
    ),
    "BatchNorm3d": (lambda m: m.BatchNorm3d(3, momentum=0.3), (_r(2, 3, 2, 3, 2),)),
    "MaxUnpool1d": (
        lambda m: m.MaxUnpool1d(2),
        (_r(1, 2, 4), np.array([[[0, 3, 5, 6], [1, 2, 4, 7]]])),
    ),
    "MaxUnpool3d": (
        lambda m: m.MaxUnpool3d(2, 1),
        (_r(1, 1, 2, 2, 2), np.arange(8).reshape(1, 1, 2, 2, 2) * 3),
    ),
    "ReflectionPad3d": (lambda m: m.ReflectionPad3d((1, 2, 0, 1, 2, 1)), (_r(1, 2, 3, 4, 3),)),
    "ReplicationPad3d": (lambda m: m.ReplicationPad3d(2), (_r(2, 2, 3, 2),)),
    "CircularPad3d": (lambda m: m.CircularPad3d((0, 1, 2, 1, 1, 0)), (_r(1, 1, 2, 3, 3),)),
    "FractionalMaxPool2d": (
        lambda m: m.FractionalMaxPool2d(
            (3, 2), output_ratio=0.5, _random_samples=_tensor(F if m is nn else TF, FRAC3[:, :, :2])
        ),
        (_r(1, 2, 7, 6),),
    ),
    "MultiLabelMarginLoss": (
        lambda m: m.MultiLabelMarginLoss(reduction="none"),
        (_r(2, 4), np.array([[2, -1, 0, 0], [1, 0, 3, -1]])),
    ),
}


def _pair_modules(ctor, dtype):
    tm = ctor(torch.nn).to(torch.float64 if dtype == np.float64 else torch.float32)
    em = ctor(nn)
    if dtype == np.float64:
        em.double()
    sd = tm.state_dict()
    assert list(em.state_dict()) == list(sd)  # PyTorch's keys, in PyTorch's order
    em.load_state_dict({k: v.numpy() for k, v in sd.items()})
    return em, tm


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(MODULES))
def test_module_matches_torch(name, dtype):
    ctor, arrays = MODULES[name]
    em, tm = _pair_modules(ctor, dtype)
    if not name.endswith("Loss"):  # ember's losses also show a non-default reduction
        # ember quotes a padding string (tests/test_conv.py pins that); PyTorch does not
        assert repr(em).replace("'same'", "same") == repr(tm)
    _check_against_torch(lambda M, *a: (em if M is F else tm)(*a), arrays, dtype)
    for (k, p), (tk, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert k == tk
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), **_tols(dtype))
    for (k, b), (_, tb) in zip(em.named_buffers(), tm.named_buffers()):
        np.testing.assert_allclose(b.numpy(), tb.numpy(), **_tols(dtype), err_msg=k)


def test_nllloss2d_is_the_deprecated_nllloss():
    x, t = _log_softmax(_r(2, 3, 2, 2)), np.array([[[0, 2], [1, 1]], [[2, 0], [0, 1]]])
    with pytest.warns(FutureWarning, match="NLLLoss2d"):
        m = nn.NLLLoss2d(reduction="sum")
    with pytest.warns(FutureWarning):
        want = torch.nn.NLLLoss2d(reduction="sum")(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(m(ember.tensor(x), t).numpy(), want.numpy(), rtol=1e-12)


def test_batchnorm3d_eval_uses_running_statistics():
    em, tm = _pair_modules(lambda m: m.BatchNorm3d(2), np.float64)
    x = _r(3, 2, 2, 2, 3)
    for _ in range(2):
        em(ember.tensor(x))
        tm(torch.tensor(x))
    em.eval(), tm.eval()
    np.testing.assert_allclose(
        em(ember.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-10
    )


@pytest.mark.parametrize("size", [(9, 11), (1, 2, 10, 11), (2, 10, 12)])
def test_conv_transpose2d_output_size(size):
    em, tm = _pair_modules(
        lambda m: m.ConvTranspose2d(2, 3, 3, stride=(2, 3), padding=1), np.float64
    )
    x = _r(1, 2, 5, 4) if len(size) != 3 else _r(2, 5, 4)
    e = em(ember.tensor(x), output_size=size)
    t = tm(torch.tensor(x), output_size=size)
    np.testing.assert_allclose(e.numpy(), t.detach().numpy(), rtol=1e-10)


def test_conv_transpose3d_output_size():
    em, tm = _pair_modules(lambda m: m.ConvTranspose3d(2, 1, 2, stride=(2, 1, 3)), np.float64)
    x = _r(1, 2, 2, 3, 2)
    e = em(ember.tensor(x), output_size=(5, 4, 6))
    np.testing.assert_allclose(e.numpy(), tm(torch.tensor(x), output_size=(5, 4, 6)).detach())


def test_conv_transpose1d_output_size():
    em, tm = _pair_modules(lambda m: m.ConvTranspose1d(2, 3, 3, stride=3), np.float64)
    x = _r(1, 2, 4)
    for n in (12, 13, 14):
        t = tm(torch.tensor(x), output_size=[n]).detach().numpy()
        np.testing.assert_allclose(em(ember.tensor(x), output_size=[n]).numpy(), t, rtol=1e-10)


def test_parameter_initialisation():
    ember.manual_seed(0)
    m = nn.Bilinear(16, 8, 32)
    bound = 1 / np.sqrt(16)
    assert 0.95 * bound < np.abs(m.weight.numpy()).max() <= bound
    assert np.abs(m.bias.numpy()).max() <= bound
    np.testing.assert_array_equal(nn.RMSNorm((2, 3)).weight.numpy(), np.ones((2, 3)))
    c = nn.Conv3d(4, 8, 3)
    fan_in = 4 * 27
    assert np.abs(c.weight.numpy()).max() <= 1 / np.sqrt(fan_in)
    assert c.weight.numpy().std() == pytest.approx(1 / np.sqrt(3 * fan_in), rel=0.1)
    assert c.weight.shape == (8, 4, 3, 3, 3) and nn.ConvTranspose1d(
        4, 6, 3, groups=2
    ).weight.shape == (4, 3, 3)
    assert nn.RMSNorm(3, dtype=np.float64).weight.dtype == np.float64


# ---- bad input ----------------------------------------------------------------------------


BAD = [
    ("rms_norm", lambda M, x: M.rms_norm(x, (4,)), (_r(2, 3),), ValueError),
    ("rms_norm", lambda M, x, w: M.rms_norm(x, (3,), w), (_r(2, 3), _r(4)), ValueError),
    ("local_response_norm", lambda M, x: M.local_response_norm(x, 2), (_r(2, 3),), ValueError),
    (
        "bilinear",
        lambda M, a, b, w: M.bilinear(a, b, w),
        (_r(2, 3), _r(2, 4), _r(5, 3, 3)),
        ValueError,
    ),
    (
        "bilinear",
        lambda M, a, b, w: M.bilinear(a, b, w),
        (_r(2, 3), _r(3, 4), _r(5, 3, 4)),
        ValueError,
    ),
    ("channel_shuffle", lambda M, x: M.channel_shuffle(x, 2), (_r(2, 4),), ValueError),
    ("channel_shuffle", lambda M, x: M.channel_shuffle(x, 4), (_r(2, 6, 3),), ValueError),
    ("lp_pool2d", lambda M, x: M.lp_pool2d(x, 2, 2), (_pos(4, 4),), ValueError),
    ("max_pool3d", lambda M, x: M.max_pool3d(x, 2), (_r(2, 4, 4),), ValueError),
    ("max_pool3d", lambda M, x: M.max_pool3d(x, 2, padding=2), (_r(1, 4, 4, 4),), ValueError),
    (
        "avg_pool3d",
        lambda M, x: M.avg_pool3d(x, 2, divisor_override=0),
        (_r(1, 4, 4, 4),),
        ValueError,
    ),
    ("conv3d", lambda M, x, w: M.conv3d(x, w), (_r(1, 2, 3, 4, 5), _r(4, 3, 1, 1, 1)), ValueError),
    ("conv3d", lambda M, x, w: M.conv3d(x, w), (_r(1, 2, 3, 4, 5), _r(4, 2, 1, 1)), ValueError),
    (
        "conv3d",
        lambda M, x, w: M.conv3d(x, w, stride=2, padding="same"),
        (_r(1, 2, 3, 4, 5), _r(4, 2, 1, 1, 1)),
        ValueError,
    ),
    ("conv3d", lambda M, x, w: M.conv3d(x, w), (_r(1, 2, 2, 4, 5), _r(4, 2, 3, 1, 1)), ValueError),
    (
        "conv_transpose1d",
        lambda M, x, w: M.conv_transpose1d(x, w),
        (_r(1, 3, 4), _r(2, 2, 3)),
        ValueError,
    ),
    (
        "conv_transpose1d",
        lambda M, x, w: M.conv_transpose1d(x, w, stride=2, output_padding=2),
        (_r(1, 2, 4), _r(2, 2, 3)),
        ValueError,
    ),
    (
        "conv_transpose3d",
        lambda M, x, w: M.conv_transpose3d(x, w),
        (_r(1, 3, 2, 2, 2), _r(2, 2, 1, 1, 1)),
        ValueError,
    ),
    (
        "conv_transpose3d",
        lambda M, x, w: M.conv_transpose3d(x, w, stride=2, output_padding=2),
        (_r(1, 2, 2, 2, 2), _r(2, 2, 1, 1, 1)),
        ValueError,
    ),
    (
        "fractional_max_pool2d",
        lambda M, x: M.fractional_max_pool2d(x, 3, 4),
        (_r(1, 1, 5, 5),),
        ValueError,
    ),
    (
        "fractional_max_pool2d",
        lambda M, x: M.fractional_max_pool2d(x, 2),
        (_r(1, 1, 5, 5),),
        ValueError,
    ),
    (
        "fractional_max_pool3d",
        lambda M, x: M.fractional_max_pool3d(x, 2, 2),
        (_r(5, 5),),
        ValueError,
    ),
    (
        "conv_tbc",
        lambda M, x, w, b: M.conv_tbc(x, w, b),
        (_r(5, 2, 3), _r(3, 2, 4), _r(4)),
        ValueError,
    ),
    ("pdist", lambda M, x: M.pdist(x), (_r(2, 3, 4),), ValueError),
    ("pdist", lambda M, x: M.pdist(x, -1.0), (_r(3, 4),), ValueError),
    (
        "multilabel_margin_loss",
        lambda M, x, t: M.multilabel_margin_loss(x, t),
        (_r(2, 3), np.zeros((2, 4), np.int64)),
        ValueError,
    ),
    (
        "multilabel_margin_loss",
        lambda M, x, t: M.multilabel_margin_loss(x, t),
        (_r(2, 3), np.full((2, 3), 3)),
        IndexError,
    ),
    (
        "multilabel_margin_loss",
        lambda M, x, t: M.multilabel_margin_loss(x, t, reduction="avg"),
        (_r(2, 3), np.zeros((2, 3), np.int64)),
        ValueError,
    ),
    (
        "max_unpool3d",
        lambda M, x, i: M.max_unpool3d(x, i, 2, output_size=(9, 9, 9)),
        (_r(1, 1, 2, 2, 2), np.zeros((1, 1, 2, 2, 2), np.int64)),
        ValueError,
    ),
    (
        "max_unpool1d",
        lambda M, x, i: M.max_unpool1d(x, i, 2),
        (_r(1, 1, 2), np.array([[[0, 9]]])),
        ValueError,
    ),
]


@pytest.mark.parametrize("op, fn, arrays, exc", BAD, ids=[f"{b[0]}-{i}" for i, b in enumerate(BAD)])
def test_bad_input(op, fn, arrays, exc):
    with pytest.raises(Exception):  # noqa: B017  PyTorch refuses it too (often RuntimeError)
        fn(TF, *[torch.tensor(a) for a in arrays])
    with pytest.raises(exc, match=op):
        fn(F, *[ember.tensor(a) for a in arrays])


def test_bad_module_input():
    with pytest.raises(ValueError, match="expected 5D input"):
        nn.BatchNorm3d(3)(ember.randn(2, 3, 4, 4))
    m = nn.ConvTranspose2d(2, 2, 3, stride=2)
    with pytest.raises(ValueError, match="valid sizes range from"):
        m(ember.randn(1, 2, 4, 4), output_size=(12, 9))
    with pytest.raises(ValueError, match="output_size must have 2 or 4 elements"):
        m(ember.randn(1, 2, 4, 4), output_size=(1, 9, 9))
    with pytest.raises(ValueError, match="padding_mode"):
        nn.ConvTranspose1d(2, 2, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match="strided"):
        nn.Conv3d(2, 2, 3, stride=2, padding="same")
    with pytest.raises(TypeError, match="floating point"):
        F.rms_norm(ember.tensor(np.ones((2, 3), np.int64)), (3,))
    with pytest.raises(TypeError, match="integer"):
        F.multilabel_margin_loss(ember.randn(2, 3), ember.randn(2, 3))


# ---- affine_grid, grid_sample -------------------------------------------------------------


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 4, 5), (2, 1, 1, 3), (2, 3, 2, 4, 3)])
def test_affine_grid_matches_torch(size, align_corners):
    th = _r(2, len(size) - 2, len(size) - 1)
    e = ember.tensor(th, requires_grad=True)
    t = torch.tensor(th, requires_grad=True)
    unit = align_corners and min(size[2:]) == 1  # both warn that this is not intended use
    with pytest.warns(UserWarning, match="unit-size") if unit else warnings.catch_warnings():
        ey = F.affine_grid(e, size, align_corners)
    with pytest.warns(UserWarning, match="unit-size") if unit else warnings.catch_warnings():
        ty = TF.affine_grid(t, size, align_corners)
    np.testing.assert_allclose(ey.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-14)
    g = _r(*ty.shape)
    (ey * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("nd", [2, 3])
def test_grid_sample_matches_torch(nd, mode, padding_mode, align_corners, dtype):
    # grid points up to 1.8 outside [-1, 1] exercise every padding mode's reflections
    if nd == 2:
        x, grid = _r(2, 3, 4, 5), RNG.uniform(-2.8, 2.8, (2, 3, 6, 2))
    else:
        x, grid = _r(2, 2, 3, 4, 3), RNG.uniform(-2.8, 2.8, (2, 2, 3, 2, 3))
    fn = lambda M, a, g: M.grid_sample(a, g, mode, padding_mode, align_corners)  # noqa: E731
    _check_against_torch(fn, (x, grid), dtype)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_gradcheck(padding_mode, align_corners):
    fn = lambda a, g: F.grid_sample(a, g, "bilinear", padding_mode, align_corners)  # noqa: E731
    for xs, gs in (((1, 2, 3, 4), (1, 2, 3, 2)), ((1, 1, 2, 3, 3), (1, 1, 2, 2, 3))):
        x = ember.tensor(_r(*xs), requires_grad=True)
        grid = ember.tensor(RNG.uniform(-1.9, 1.9, gs), requires_grad=True)
        assert gradcheck(fn, (x, grid))


def test_affine_grid_then_grid_sample_identity_and_warning():
    x = _r(1, 2, 3, 4)
    theta = np.array([[[1.0, 0, 0], [0, 1.0, 0]]])
    grid = F.affine_grid(ember.tensor(theta), (1, 2, 3, 4), align_corners=False)
    y = F.grid_sample(ember.tensor(x), grid, align_corners=False)
    np.testing.assert_allclose(y.numpy(), x, rtol=1e-12)
    with pytest.warns(UserWarning, match="align_corners=False"):
        F.grid_sample(ember.tensor(x), grid)
    with pytest.warns(UserWarning, match="align_corners=False"):
        F.affine_grid(ember.tensor(theta), (1, 2, 3, 4))


def test_grid_sample_bad_input():
    x, g = ember.randn(1, 2, 3, 4), ember.randn(1, 2, 2, 2)
    with pytest.raises(ValueError, match="mode"):
        F.grid_sample(x, g, mode="linear", align_corners=False)
    with pytest.raises(ValueError, match="padding_mode"):
        F.grid_sample(x, g, padding_mode="wrap", align_corners=False)
    with pytest.raises(ValueError, match="grid_sample: expected a 4-D input"):
        F.grid_sample(x, ember.randn(2, 2, 2, 2), align_corners=False)
    with pytest.raises(ValueError, match="grid_sample: expected a 4-D input"):
        F.grid_sample(x, ember.randn(1, 2, 2, 3), align_corners=False)
    with pytest.raises(ValueError, match="grid_sample: expected a 4-D input"):
        F.grid_sample(ember.randn(1, 2, 3, 4, 4), ember.randn(1, 2, 2, 2, 2), align_corners=False)
    with pytest.raises(ValueError, match="bicubic.* 4-D"):
        F.grid_sample(ember.randn(1, 2, 3, 4, 4), ember.randn(1, 2, 2, 2, 3), mode="bicubic")
    with pytest.raises(ValueError, match=r"affine_grid: expected .* \(N, 2, 3\)"):
        F.affine_grid(ember.randn(2, 2, 3), (1, 2, 3, 4), align_corners=False)
    with pytest.raises(NotImplementedError, match="4D and 5D"):
        F.affine_grid(ember.randn(1, 2, 3), (1, 2, 3), align_corners=False)


# ---- embedding_bag ------------------------------------------------------------------------

BAG_INPUT, BAG_OFFSETS = np.array([1, 2, 4, 5, 4, 3, 2, 6, 0, 0]), np.array([0, 2, 2, 5])
BAGS = {
    "offsets": dict(offsets=BAG_OFFSETS),
    "padding_idx": dict(offsets=BAG_OFFSETS, padding_idx=4),
    "2d": dict(input=BAG_INPUT.reshape(2, 5), padding_idx=-5),
    "last_offset_end": dict(offsets=np.array([0, 2, 2, 5, 10]), include_last_offset=True),
    "all_padding": dict(input=np.array([[3, 3], [1, 3]]), padding_idx=3),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("case", sorted(BAGS))
def test_embedding_bag_matches_torch(case, mode, dtype):
    kw = dict(BAGS[case])
    inp = kw.pop("input", BAG_INPUT)
    arrays = (inp, _r(7, 4)) + ((kw.pop("offsets"),) if "offsets" in kw else ())
    fn = lambda M, i, w, *o: M.embedding_bag(i, w, *o, mode=mode, **kw)  # noqa: E731
    _check_against_torch(fn, arrays, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_bag_per_sample_weights(dtype):
    fn = lambda M, i, w, o, p: M.embedding_bag(i, w, o, mode="sum", per_sample_weights=p)  # noqa: E731
    _check_against_torch(fn, (BAG_INPUT, _r(7, 4), BAG_OFFSETS, _r(10)), dtype)


def test_embedding_bag_gradcheck_and_scale_grad_by_freq():
    w = ember.tensor(_r(7, 3), requires_grad=True)
    psw = ember.tensor(_r(10), requires_grad=True)
    i, o = ember.tensor(BAG_INPUT), ember.tensor(BAG_OFFSETS)
    for mode in ("mean", "max"):
        assert gradcheck(lambda t, m=mode: F.embedding_bag(i, t, o, mode=m), (w,))
    assert gradcheck(
        lambda t, p: F.embedding_bag(i, t, o, mode="sum", per_sample_weights=p), (w, psw)
    )
    # scale_grad_by_freq: PyTorch's CPU kernel divides the g-th smallest distinct index's
    # gradient by the count of the g-th sorted entry (not always its own), in float32 and
    # float64 alike; ember follows it (test_parity4_regressions pins more cases)
    w = ember.tensor(_r(7, 3), requires_grad=True)
    F.embedding_bag(i, w, o, mode="sum", scale_grad_by_freq=True).sum().backward()
    tw = torch.tensor(_r(7, 3), requires_grad=True)
    ti, to = torch.tensor(BAG_INPUT), torch.tensor(BAG_OFFSETS)
    TF.embedding_bag(ti, tw, to, mode="sum", scale_grad_by_freq=True).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_last_offset_short_of_the_end(mode):
    # As documented, the last offset ends the last bag and later indices are unused.
    # (PyTorch 2.13 on CPU disagrees with itself here: float64 sum/mean run the last bag to
    # the input's end, and the weight gradient of the unused rows is uninitialised memory.)
    w = ember.tensor(_r(7, 4), requires_grad=True)
    y = F.embedding_bag(
        ember.tensor(BAG_INPUT), w, ember.tensor([0, 2, 2, 5, 8]), mode=mode,
        include_last_offset=True,
    )  # fmt: skip
    want = F.embedding_bag(ember.tensor(BAG_INPUT[:8]), w, ember.tensor([0, 2, 2, 5]), mode=mode)
    np.testing.assert_array_equal(y.numpy(), want.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy()[0], 0)  # row 0 is only in the unused tail


def test_embedding_bag_module():
    em, tm = _pair_modules(lambda m: m.EmbeddingBag(7, 3, mode="max", padding_idx=2), np.float64)
    assert repr(em) == repr(tm)
    np.testing.assert_array_equal(em.weight.numpy()[2], 0)
    e = em(ember.tensor(BAG_INPUT), ember.tensor(BAG_OFFSETS))
    t = tm(torch.tensor(BAG_INPUT), torch.tensor(BAG_OFFSETS))
    np.testing.assert_allclose(e.numpy(), t.detach().numpy(), rtol=1e-12)


def test_embedding_bag_bad_input():
    w, i = ember.randn(7, 3), ember.tensor(BAG_INPUT)
    with pytest.raises(ValueError, match="offsets has to be"):
        F.embedding_bag(i, w)
    with pytest.raises(ValueError, match="offsets has to be None"):
        F.embedding_bag(ember.tensor(BAG_INPUT.reshape(2, 5)), w, ember.tensor([0]))
    with pytest.raises(ValueError, match=r"offsets\[0\] has to be 0"):
        F.embedding_bag(i, w, ember.tensor([1, 3]))
    with pytest.raises(ValueError, match="non-decreasing"):
        F.embedding_bag(i, w, ember.tensor([0, 4, 2]))
    with pytest.raises(NotImplementedError, match="per_sample_weights"):
        F.embedding_bag(i, w, ember.tensor([0]), mode="mean", per_sample_weights=ember.randn(10))
    with pytest.raises(ValueError, match="mode"):
        F.embedding_bag(i, w, ember.tensor([0]), mode="median")
    with pytest.raises(IndexError, match="out of range"):
        F.embedding_bag(ember.tensor([0, 9]), w, ember.tensor([0]))
    with pytest.raises(TypeError, match="integer"):
        F.embedding_bag(ember.randn(4), w, ember.tensor([0]))
    with pytest.raises(ValueError, match="frequency"):
        F.embedding_bag(i, w, ember.tensor([0]), mode="max", scale_grad_by_freq=True)


# ---- ctc_loss -----------------------------------------------------------------------------


CTC_LP = _log_softmax(_r(6, 3, 4))
CTC = {
    # padded (N, S) targets; sample 2 ends early; repeats need a blank between them
    "padded": (CTC_LP, np.array([[1, 2, 2], [3, 0, 0], [1, 1, 0]]), [6, 4, 5], [3, 1, 2], 0),
    "concatenated": (CTC_LP, np.array([1, 2, 2, 3, 1, 1]), [6, 4, 5], [3, 1, 2], 0),
    "blank_last": (CTC_LP, np.array([[0, 2], [1, 1], [2, 0]]), [5, 6, 3], [2, 2, 1], 3),
    "empty_target": (CTC_LP, np.array([[1, 2], [0, 0], [2, 2]]), [6, 3, 6], [2, 0, 2], 0),
    "impossible": (CTC_LP, np.array([[1, 1, 1], [2, 2, 0], [3, 3, 0]]), [4, 2, 6], [3, 2, 2], 0),
    "unbatched": (CTC_LP[:, 0], np.array([2, 1]), [5], [2], 0),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("zero_infinity", [False, True])
@pytest.mark.parametrize("reduction", ["none", "sum", "mean"])
@pytest.mark.parametrize("case", sorted(CTC))
def test_ctc_loss_matches_torch(case, reduction, zero_infinity, dtype):
    lp, targets, il, tl, blank = CTC[case]
    if case == "impossible" and not zero_infinity:
        # inf loss (both); the gradient is nan in PyTorch too, so only the values compare
        e = F.ctc_loss(ember.tensor(lp), targets, il, tl, blank, "none")
        t = TF.ctc_loss(torch.tensor(lp), torch.tensor(targets), il, tl, blank, "none")
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12)
        assert np.isinf(e.numpy()[0]) and np.isinf(e.numpy()[1])
        return
    extra = (np.array(il), np.array(tl))

    def fn(M, x, tg, i, t):
        if M is TF:  # torch wants the lengths as tensors or tuples
            return M.ctc_loss(x, tg, tuple(i.tolist()), tuple(t.tolist()), blank, reduction,
                              zero_infinity)  # fmt: skip
        return M.ctc_loss(x, tg, i, t, blank, reduction, zero_infinity)

    _check_against_torch(fn, (lp, targets, *extra), dtype)


def test_ctc_loss_gradcheck_through_log_softmax():
    # PyTorch's CTC gradient is exact for the logits behind log_softmax
    logits = ember.tensor(_r(5, 2, 3), requires_grad=True)
    tg, il, tl = ember.tensor([[1, 1], [2, 0]]), [5, 4], [2, 1]
    fn = lambda x: F.ctc_loss(F.log_softmax(x, -1), tg, il, tl, reduction="sum")  # noqa: E731
    assert gradcheck(fn, (logits,))


def test_ctc_loss_module_and_bad_input():
    m = nn.CTCLoss(blank=3, zero_infinity=True)
    lp, targets, il, tl, blank = CTC["blank_last"]
    want = TF.ctc_loss(torch.tensor(lp), torch.tensor(targets), il, tl, 3, zero_infinity=True)
    np.testing.assert_allclose(m(ember.tensor(lp), targets, il, tl).numpy(), want.numpy())
    assert [n for n, _ in m.named_parameters()] == []
    x = ember.tensor(CTC_LP)
    tg = np.array([[1, 2], [1, 1], [2, 1]])
    with pytest.raises(ValueError, match="ctc_loss: blank"):
        F.ctc_loss(x, tg, [6, 6, 6], [2, 2, 2], blank=4)
    with pytest.raises(ValueError, match="ctc_loss: input_lengths"):
        F.ctc_loss(x, tg, [7, 6, 6], [2, 2, 2])
    with pytest.raises(ValueError, match="ctc_loss: input_lengths must have length 3"):
        F.ctc_loss(x, tg, [6, 6], [2, 2, 2])
    with pytest.raises(ValueError, match="ctc_loss: targets"):
        F.ctc_loss(x, tg, [6, 6, 6], [3, 2, 2])
    with pytest.raises(ValueError, match="ctc_loss: 1-D targets"):
        F.ctc_loss(x, tg.ravel(), [6, 6, 6], [2, 2, 1])
    with pytest.raises(ValueError, match=r"ctc_loss: targets must be class indices"):
        F.ctc_loss(x, tg + 3, [6, 6, 6], [2, 2, 2])
    with pytest.raises(ValueError, match="ctc_loss: log_probs"):
        F.ctc_loss(ember.randn(6), tg, [6, 6, 6], [2, 2, 2])
    with pytest.raises(TypeError, match="ctc_loss: targets must be integers"):
        F.ctc_loss(x, tg.astype(float), [6, 6, 6], [2, 2, 2])


# ---- AdaptiveLogSoftmaxWithLoss -----------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adaptive_log_softmax_matches_torch(dtype):
    ctor = lambda m: m.AdaptiveLogSoftmaxWithLoss(8, 10, [3, 6], div_value=2.0, head_bias=True)  # noqa: E731
    em, tm = _pair_modules(ctor, dtype)
    assert repr(em) == repr(tm)
    x, t = _r(6, 8).astype(dtype), np.array([0, 4, 9, 2, 7, 5])
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    eo, to = em(ex, ember.tensor(t)), tm(tx, torch.tensor(t))
    np.testing.assert_allclose(eo.output.numpy(), to.output.detach().numpy(), **_tols(dtype))
    np.testing.assert_allclose(eo.loss.numpy(), to.loss.detach().numpy(), **_tols(dtype))
    eo.loss.backward()
    to.loss.backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **_tols(dtype))
    for (k, p), (_, tp) in zip(em.named_parameters(), tm.named_parameters()):
        np.testing.assert_allclose(p.grad.numpy(), tp.grad.numpy(), **_tols(dtype), err_msg=k)
    lp = tm.log_prob(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(em.log_prob(ember.tensor(x)).numpy(), lp, **_tols(dtype))
    np.testing.assert_array_equal(em.predict(ember.tensor(x)).numpy(), lp.argmax(1))
    one = em(ember.tensor(x[2]), ember.tensor(np.array(9)))
    assert one.output.shape == ()
    np.testing.assert_allclose(one.output.numpy(), to.output.detach().numpy()[2], **_tols(dtype))


def test_adaptive_log_softmax_bad_input():
    with pytest.raises(ValueError, match="cutoffs should be a sequence of unique"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, [6, 3])
    with pytest.raises(ValueError, match="cutoffs should be a sequence of length"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 10, [])
    m = nn.AdaptiveLogSoftmaxWithLoss(8, 10, [4])
    with pytest.raises(ValueError, match=r"target values should be in \[0, 9\]"):
        m(ember.randn(2, 8), ember.tensor([0, 10]))
    with pytest.raises(ValueError, match="same size in the batch dimension"):
        m(ember.randn(3, 8), ember.tensor([0, 1]))
    with pytest.raises(ValueError, match="multi-target not supported"):
        m(ember.randn(2, 8), ember.tensor([[0, 1]]))


def test_channel_shuffle_keeps_integer_inputs():
    x = np.arange(2 * 6 * 2).reshape(2, 6, 2)
    e = F.channel_shuffle(ember.tensor(x), 3)
    np.testing.assert_array_equal(e.numpy(), TF.channel_shuffle(torch.tensor(x), 3).numpy())
    assert e.numpy().dtype == np.int64


# ---- in-place activations -----------------------------------------------------------------

IN_PLACE = [
    ("relu_", ()), ("elu_", (0.5,)), ("selu_", ()), ("celu_", (2.0,)), ("leaky_relu_", (0.2,)),
    ("hardtanh_", (-0.5, 0.7)), ("threshold_", (0.1, -3.0)), ("rrelu_", (0.1, 0.3, False)),
]  # fmt: skip


@pytest.mark.parametrize("name, args", IN_PLACE, ids=[n for n, _ in IN_PLACE])
def test_in_place_activations(name, args):
    x = _r(3, 4)
    e, t = ember.tensor(x.copy()), torch.tensor(x.copy())
    storage = e.data
    assert getattr(F, name)(e, *args) is e
    getattr(TF, name)(t, *args)
    assert e.data is storage  # outside the graph: written into the tensor's own array
    np.testing.assert_allclose(storage, t.numpy(), rtol=1e-12)
    # inside the graph the tensor takes the result's node; exp's saved output stays intact
    a, ta = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    h, th = a.exp() * 1.5, ta.exp() * 1.5
    assert getattr(F, name)(h, *args) is h
    getattr(TF, name)(th, *args)
    (h * h).sum().backward()
    (th * th).sum().backward()
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match=f"{name}: a leaf Variable that requires grad"):
        getattr(F, name)(ember.tensor(x, requires_grad=True), *args)
    with pytest.raises(TypeError, match=name):
        getattr(F, name)(x, *args)


# ---- lazy modules -------------------------------------------------------------------------

LAZY = {
    "LazyLinear": (lambda m: m.LazyLinear(5), (2, 3)),
    "LazyConv1d": (lambda m: m.LazyConv1d(4, 3), (6, 5)),
    "LazyConv2d": (lambda m: m.LazyConv2d(4, 3, groups=2), (1, 6, 5, 5)),
    "LazyConv3d": (lambda m: m.LazyConv3d(2, 2, padding=1), (1, 3, 3, 3, 3)),
    "LazyConvTranspose1d": (lambda m: m.LazyConvTranspose1d(4, 3), (2, 6, 5)),
    "LazyConvTranspose2d": (lambda m: m.LazyConvTranspose2d(2, 3, stride=2), (1, 4, 3, 2)),
    "LazyConvTranspose3d": (
        lambda m: m.LazyConvTranspose3d(4, 2, groups=2, bias=False),
        (1, 2, 2, 3, 2),
    ),
    "LazyBatchNorm1d": (lambda m: m.LazyBatchNorm1d(affine=False), (4, 3)),
    "LazyBatchNorm2d": (lambda m: m.LazyBatchNorm2d(), (2, 3, 4, 4)),
    "LazyBatchNorm3d": (lambda m: m.LazyBatchNorm3d(momentum=None), (2, 2, 2, 2, 3)),
    "LazyInstanceNorm1d": (lambda m: m.LazyInstanceNorm1d(), (2, 3, 5)),
    "LazyInstanceNorm2d": (lambda m: m.LazyInstanceNorm2d(eps=1e-3), (2, 3, 2, 3)),
    "LazyInstanceNorm3d": (lambda m: m.LazyInstanceNorm3d(), (2, 3, 2, 2, 2)),
}


@pytest.mark.parametrize("name", sorted(LAZY))
def test_lazy_modules_become_their_layer(name):
    ctor, shape = LAZY[name]
    em, tm = ctor(nn), ctor(torch.nn)
    assert repr(em) == repr(tm) and list(em.state_dict()) == list(tm.state_dict())
    assert em.weight is None or em.weight.numpy().size == 0  # size-dependent: empty until used
    x = _r(*shape).astype(np.float32)
    em(ember.tensor(x))
    with warnings.catch_warnings():  # PyTorch warns that lazy modules are experimental
        warnings.simplefilter("ignore")
        tm(torch.tensor(x))
    assert type(em) is getattr(nn, type(tm).__name__)
    assert repr(em) == repr(tm)
    sd = tm.state_dict()
    assert {k: v.shape for k, v in em.state_dict().items()} == {
        k: tuple(v.shape) for k, v in sd.items()
    }  # noqa: E501
    em.load_state_dict({k: v.numpy() for k, v in sd.items()})
    np.testing.assert_allclose(
        em(ember.tensor(x)).numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5
    )


def test_lazy_initialisation_and_bad_input():
    ember.manual_seed(0)
    m = nn.LazyLinear(64)
    m(ember.randn(2, 16))
    bound = 1 / np.sqrt(16)
    assert 0.9 * bound < np.abs(m.weight.numpy()).max() <= bound
    b = nn.LazyBatchNorm2d()
    b(ember.randn(2, 3, 4, 4))
    np.testing.assert_array_equal(b.weight.numpy(), np.ones(3))
    assert int(b.num_batches_tracked.numpy()) == 1
    with pytest.raises(ValueError, match="LazyConv2d: expected 3D"):
        nn.LazyConv2d(2, 3)(ember.randn(2, 3))
    with pytest.raises(ValueError, match="expected 4D input"):
        nn.LazyBatchNorm2d()(ember.randn(2, 3))


def test_buffer_assignment_registers_a_buffer():
    m, tm = nn.Module(), torch.nn.Module()
    m.x, tm.x = nn.Buffer(np.ones(3)), torch.nn.Buffer(torch.ones(3))
    m.y = nn.Buffer(ember.zeros(2), persistent=False)
    tm.y = torch.nn.Buffer(torch.zeros(2), persistent=False)
    assert list(m.state_dict()) == list(tm.state_dict()) == ["x"]
    assert [n for n, _ in m.named_buffers()] == [n for n, _ in tm.named_buffers()] == ["x", "y"]
    assert type(m.x) is ember.Tensor and not m.x.requires_grad
    assert nn.Buffer().numpy().shape == (0,)


# ---- linear_cross_entropy -----------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "kw",
    [{}, {"out_features": (3,), "bias": True}, {"bias": True, "label_smoothing": 0.1}],
    ids=["plain", "k_dim", "smoothing"],
)
def test_linear_cross_entropy_loss_matches_torch(kw, dtype):
    ctor = lambda m: m.LinearCrossEntropyLoss(4, 5, reduction="sum", **kw)  # noqa: E731
    em, tm = _pair_modules(ctor, dtype)
    assert repr(em) == repr(tm)
    target = RNG.integers(0, 5, (6, 3) if "out_features" in kw else 6)
    _check_against_torch(lambda M, x, t: (em if M is F else tm)(x, t), (_r(6, 4), target), dtype)
    np.testing.assert_allclose(
        em.linear.weight.grad.numpy(), tm.linear.weight.grad.numpy(), **_tols(dtype)
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_cross_entropy_probability_targets(dtype):
    probs = np.abs(_r(3, 5))
    probs /= probs.sum(1, keepdims=True)
    fn = lambda M, x, w, b, p: M.linear_cross_entropy(x, w, p, linear_bias=b)  # noqa: E731
    _check_against_torch(fn, (_r(3, 4), _r(5, 4), _r(5), probs), dtype)
    with pytest.raises(ValueError, match="ignore_index cannot be specified"):
        F.linear_cross_entropy(ember.randn(3, 4), ember.randn(5, 4), probs, ignore_index=0)
    with pytest.raises(ValueError, match="in_features"):
        F.linear_cross_entropy(ember.randn(3, 4), ember.randn(5, 3), np.zeros(3, np.int64))
    assert F.native_channel_shuffle is F.channel_shuffle
