"""Lockstep training runs against PyTorch on the options test_training_parity.py leaves out.

Each case builds one model in both libraries, copies PyTorch's initial weights into ember with
``load_state_dict``, feeds the same float64 batches and takes a few optimiser steps, checking
every step's loss and gradients and the final parameters and buffers. Comparisons are normwise
(max |ember - torch| <= 1e-8 * max |torch|): the libraries differ only in summation order, while
a wrong rule (a missing constant, an off-by-one, a mask read the wrong way) shows up at 1e-3 or
more. Layers whose gradient is pure rounding noise (a bias straight before a normalisation, which
removes it) are built without that bias, so the noise cannot be amplified into real steps.
"""

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.optim as eoptim

torch = pytest.importorskip("torch")
tnn = torch.nn
tF, eF = tnn.functional, enn.functional

RTOL = 1e-8


# the shared array conversion and the module's autouse one-thread-torch fixture
from test_training_parity import _np  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def close(e, t, what, rtol=RTOL):
    e, t = _np(e), _np(t)
    assert e.shape == t.shape, f"{what}: shape {e.shape} vs torch {t.shape}"
    assert e.dtype == t.dtype, f"{what}: dtype {e.dtype} vs torch {t.dtype}"
    assert np.array_equal(np.isnan(e), np.isnan(t)), f"{what}: NaNs differ"
    e, t = np.nan_to_num(e), np.nan_to_num(t)
    scale = max(float(np.abs(t).max()) if t.size else 0.0, 1e-12)
    err = float(np.abs(e - t).max()) if t.size else 0.0
    assert err <= rtol * scale + 1e-15, f"{what}: max error {err:.3g} vs torch's max {scale:.3g}"


def T(nn, a):
    """A tensor of the library that ``nn`` belongs to."""
    a = np.asarray(a)
    return torch.from_numpy(a.copy()) if nn is tnn else ember.tensor(a)


def twin(mk):
    torch.manual_seed(0)
    tm = mk(tnn).double()
    em = mk(enn)
    em.double()
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return tm, em


def check_state(tm, em, rtol=RTOL):
    tsd, esd = tm.state_dict(), em.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        close(esd[k], tsd[k], k, rtol)


def check_grads(tm, em, step):
    tp = dict(tm.named_parameters())
    for k, p in em.named_parameters():
        if tp[k].grad is None:
            assert p.grad is None, f"{k} step {step}: ember has a gradient, torch none"
        else:
            close(p.grad, tp[k].grad, f"grad {k} step {step}")


def lockstep(
    mk,
    make_batch,
    loss,
    opt="SGD",
    okw=None,
    steps=8,
    sched=None,
    clip=None,
    clip_value=None,
    eval_mode=False,
    seed=0,
):
    """Train the torch and ember twins of ``mk`` side by side; ``loss(nn, model, *batch)``
    builds either library's loss. Returns the two models."""
    tm, em = twin(mk)
    if eval_mode:
        tm.eval()
        em.eval()
    okw = okw if okw is not None else dict(lr=0.05, momentum=0.5)
    tps = [p for p in tm.parameters() if p.requires_grad]
    eps = [p for p in em.parameters() if p.requires_grad]
    topt, eopt = getattr(torch.optim, opt)(tps, **okw), getattr(eoptim, opt)(eps, **okw)
    if sched is not None:
        name, skw = sched
        tsch = getattr(torch.optim.lr_scheduler, name)(topt, **skw)
        esch = getattr(eoptim.lr_scheduler, name)(eopt, **skw)
    rng = np.random.default_rng(seed)
    losses = []
    for i in range(steps):
        batch = make_batch(rng)
        topt.zero_grad()
        eopt.zero_grad()
        t = loss(tnn, tm, *[T(tnn, b) for b in batch])
        e = loss(enn, em, *[T(enn, b) for b in batch])
        close(e, t, f"loss step {i}")
        t.backward()
        e.backward()
        if clip is not None:
            tn = tnn.utils.clip_grad_norm_(tps, clip[0], norm_type=clip[1])
            en = enn.utils.clip_grad_norm_(eps, clip[0], norm_type=clip[1])
            close(en, tn, f"total norm step {i}")
        if clip_value is not None:
            tnn.utils.clip_grad_value_(tps, clip_value)
            enn.utils.clip_grad_value_(eps, clip_value)
        check_grads(tm, em, i)
        topt.step()
        eopt.step()
        if sched is not None:
            if name == "ReduceLROnPlateau":
                tsch.step(t.item())
                esch.step(e.item())
            else:
                tsch.step()
                esch.step()
        for gt, ge in zip(topt.param_groups, eopt.param_groups):
            np.testing.assert_allclose(ge["lr"], gt["lr"], rtol=1e-12, err_msg=f"lr step {i}")
        losses.append(t.item())
    check_state(tm, em)
    assert np.all(np.isfinite(losses))
    return tm, em


def ce(nn, m, x, y):
    return nn.functional.cross_entropy(m(x), y)


def cls_batch(shape, classes=3):
    return lambda r: (r.normal(size=shape), r.integers(0, classes, shape[0]))


def head(body, shape, classes=3):
    """body -> flatten -> Linear: the feature count comes from a torch forward."""
    feat = int(np.prod(body(tnn).double()(torch.zeros(shape, dtype=torch.float64)).shape[1:]))

    def mk(nn):
        return nn.Sequential(body(nn), nn.Flatten(), nn.Linear(feat, classes))

    return mk


# --------------------------------------------------------------------------------------------
# activations (every nn activation module, with its options)
# --------------------------------------------------------------------------------------------

_ACTS = {
    "prelu": lambda nn: nn.PReLU(),
    "prelu_channels": lambda nn: nn.PReLU(16, init=0.1),
    "rrelu_eval": lambda nn: nn.RReLU(0.1, 0.3),
    "softplus_beta_threshold": lambda nn: nn.Softplus(beta=2.5, threshold=1.0),
    "celu": lambda nn: nn.CELU(0.7),  # torch's backward uses 1/alpha rounded to float32
    "celu_2": lambda nn: nn.CELU(1.7),
    "selu": lambda nn: nn.SELU(),
    "gelu_tanh": lambda nn: nn.GELU(approximate="tanh"),
    "gelu": lambda nn: nn.GELU(),
    "hardtanh_min_max": lambda nn: nn.Hardtanh(-0.5, 0.8),
    "logsigmoid": lambda nn: nn.LogSigmoid(),
    "softmin": lambda nn: nn.Softmin(dim=1),
    "elu": lambda nn: nn.ELU(0.5),
    "leaky_relu": lambda nn: nn.LeakyReLU(0.2),
    "relu6": lambda nn: nn.ReLU6(),
    "silu": lambda nn: nn.SiLU(),
    "mish": lambda nn: nn.Mish(),
    "hardswish": lambda nn: nn.Hardswish(),
    "hardsigmoid": lambda nn: nn.Hardsigmoid(),
    "softsign": lambda nn: nn.Softsign(),
    "tanhshrink": lambda nn: nn.Tanhshrink(),
    "softshrink": lambda nn: nn.Softshrink(0.3),
    "hardshrink": lambda nn: nn.Hardshrink(0.3),
    "threshold": lambda nn: nn.Threshold(0.1, -1.0),
}


@pytest.mark.parametrize("name", sorted(_ACTS))
def test_mlp_activation_sgd_nesterov(name):
    act = _ACTS[name]

    def mk(nn):
        return nn.Sequential(
            nn.Linear(8, 16), act(nn), nn.Dropout(0.3), nn.Linear(16, 16), act(nn), nn.Linear(16, 4)
        )

    okw = dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)
    # eval: RReLU's fixed slope (lower+upper)/2 and no dropout
    lockstep(mk, cls_batch((12, 8), 4), ce, okw=okw, eval_mode=True)


@pytest.mark.parametrize("dim", [-1, 1])
def test_glu_adamax(dim):
    def mk(nn):
        return nn.Sequential(
            nn.Linear(8, 16), nn.Unflatten(1, (4, 4)), nn.GLU(dim), nn.Flatten(), nn.Linear(8, 4)
        )

    lockstep(mk, cls_batch((12, 8), 4), ce, "Adamax", dict(lr=1e-2))


def test_celu_backward_uses_float32_inverse_alpha():
    """The regression itself: torch's celu gradient below 0 is alpha * (1/f32(alpha)) * exp(..),
    1.7e-8 off the exact value for alpha=0.7 (and 1.00000002 at x=0)."""
    x = np.linspace(-3, 1, 9)
    tx = torch.tensor(x, requires_grad=True)
    ex = ember.tensor(x, requires_grad=True)
    tF.celu(tx, 0.7).sum().backward()
    eF.celu(ex, 0.7).sum().backward()
    np.testing.assert_array_equal(ex.grad.numpy(), tx.grad.numpy())
    assert ex.grad.numpy()[6] != 1.0  # x == 0 takes the exponential branch, as torch


# --------------------------------------------------------------------------------------------
# convolutions and pooling
# --------------------------------------------------------------------------------------------

_S2, _S1, _S3 = (3, 4, 7, 6), (3, 4, 9), (2, 4, 5, 6, 4)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's note
@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    "kw",
    [
        dict(padding=1),
        dict(padding=2, groups=2, dilation=2, bias=False),
        dict(padding=(2, 1), stride=2),
        dict(padding="same", dilation=(2, 1), kernel_size=(3, 2)),
    ],
    ids=["plain", "groups_dilation_nobias", "stride_rect_pad", "same"],
)
def test_conv2d_padding_modes_adam(mode, kw):
    kw = dict(kw)
    k = kw.pop("kernel_size", 3)
    body = lambda nn: nn.Sequential(nn.Conv2d(4, 6, k, padding_mode=mode, **kw), nn.Tanh())  # noqa: E731
    lockstep(head(body, _S2), cls_batch(_S2), ce, "Adam", dict(lr=1e-2), steps=6)


_CONV_MISC = {
    "conv1d_reflect_dilated": (lambda nn: nn.Conv1d(4, 3, 3, 2, 2, 2, padding_mode="reflect"), _S1),
    "conv1d_replicate_same_groups": (
        lambda nn: nn.Conv1d(4, 6, 2, padding="same", groups=2, padding_mode="replicate"),
        _S1,
    ),
    "conv3d_circular": (
        lambda nn: nn.Conv3d(4, 3, (2, 3, 2), (1, 2, 1), 1, padding_mode="circular"),
        _S3,
    ),
    "convT2d_outpad_groups_dilation": (
        lambda nn: nn.ConvTranspose2d(4, 6, 3, 2, 1, output_padding=1, groups=2, dilation=2),
        _S2,
    ),
    "convT1d_outpad": (lambda nn: nn.ConvTranspose1d(4, 3, 3, 3, 1, output_padding=2), _S1),
    "convT3d": (lambda nn: nn.ConvTranspose3d(4, 2, 2, stride=2, bias=False), _S3),
}


@pytest.mark.parametrize("name", sorted(_CONV_MISC))
def test_conv_family_rmsprop(name):
    body, shape = _CONV_MISC[name]
    lockstep(head(body, shape), cls_batch(shape), ce, "RMSprop", dict(lr=1e-3), steps=6)


_POOLS = {
    "max_ceil_pad": (lambda nn: nn.MaxPool2d(3, 2, 1, ceil_mode=True), _S2),
    "max_dilation_ceil": (lambda nn: nn.MaxPool2d(2, 2, 0, dilation=2, ceil_mode=True), _S2),
    "avg_ceil_exclude_pad": (
        lambda nn: nn.AvgPool2d(3, 2, 1, ceil_mode=True, count_include_pad=False),
        _S2,
    ),
    "avg_ceil_include_pad": (lambda nn: nn.AvgPool2d(3, 2, 1, ceil_mode=True), _S2),
    "avg_divisor_override": (lambda nn: nn.AvgPool2d(3, 2, 1, divisor_override=5), _S2),
    "avg_rect": (lambda nn: nn.AvgPool2d((2, 3), (1, 2), (1, 1), ceil_mode=True), _S2),
    "adaptive_avg_3x4": (lambda nn: nn.AdaptiveAvgPool2d((3, 4)), _S2),
    "adaptive_avg_5_none": (lambda nn: nn.AdaptiveAvgPool2d((5, None)), _S2),
    "adaptive_max_4x3": (lambda nn: nn.AdaptiveMaxPool2d((4, 3)), _S2),
    "adaptive_max_upsampling_9": (lambda nn: nn.AdaptiveMaxPool2d(9), _S2),
    "lppool2d": (lambda nn: nn.LPPool2d(2, 3, 2), _S2),
    "lppool1d_ceil": (lambda nn: nn.Sequential(nn.ReLU(), nn.LPPool1d(1.5, 3, 2, True)), _S1),
    "max1d_dilation_ceil": (lambda nn: nn.MaxPool1d(3, 2, 1, dilation=2, ceil_mode=True), _S1),
    "avg1d_ceil_exclude_pad": (lambda nn: nn.AvgPool1d(4, 3, 2, True, False), _S1),
    "max3d_ceil": (lambda nn: nn.MaxPool3d(2, (1, 2, 2), (1, 0, 1), ceil_mode=True), _S3),
    "avg3d_exclude_pad": (lambda nn: nn.AvgPool3d(3, 2, 1, True, False), _S3),
    "avg3d_divisor": (lambda nn: nn.AvgPool3d(2, 2, 1, divisor_override=3), _S3),
    "adaptive_avg1d_4": (lambda nn: nn.AdaptiveAvgPool1d(4), _S1),
    "adaptive_max1d_5": (lambda nn: nn.AdaptiveMaxPool1d(5), _S1),
    "adaptive_avg3d": (lambda nn: nn.AdaptiveAvgPool3d((3, None, 2)), _S3),
    "adaptive_max3d": (lambda nn: nn.AdaptiveMaxPool3d((2, 4, 3)), _S3),
}


@pytest.mark.parametrize("name", sorted(_POOLS))
def test_pooling_options_adam(name):
    pool, shape = _POOLS[name]
    conv = {3: nn_conv1d, 4: nn_conv2d, 5: nn_conv3d}[len(shape)]
    body = lambda nn: nn.Sequential(conv(nn), nn.Tanh(), pool(nn))  # noqa: E731
    lockstep(head(body, shape), cls_batch(shape), ce, "Adam", dict(lr=1e-2), steps=6)


def nn_conv1d(nn):
    return nn.Conv1d(4, 5, 3, padding=1)


def nn_conv2d(nn):
    return nn.Conv2d(4, 5, 3, padding=1)


def nn_conv3d(nn):
    return nn.Conv3d(4, 3, 1)


_RESAMPLE = {
    "nearest_size": lambda nn: nn.Upsample(size=(9, 5), mode="nearest"),
    "nearest_exact_scale": lambda nn: nn.Upsample(scale_factor=(1.7, 0.6), mode="nearest-exact"),
    "bilinear_align": lambda nn: nn.Upsample(size=(9, 5), mode="bilinear", align_corners=True),
    "bicubic_scale_recompute": lambda nn: nn.Upsample(
        scale_factor=1.3, mode="bicubic", recompute_scale_factor=True
    ),
    "area": lambda nn: nn.Upsample(size=(4, 5), mode="area"),
    "pixel_shuffle": lambda nn: nn.Sequential(
        nn.Conv2d(4, 8, 1), nn.PixelShuffle(2), nn.PixelUnshuffle(2)
    ),
    "unfold_fold": lambda nn: nn.Sequential(nn.Unfold(2), nn.Fold((7, 6), 2)),
    "pads": lambda nn: nn.Sequential(
        nn.ReflectionPad2d((1, 2, 3, 0)), nn.ReplicationPad2d(1), nn.CircularPad2d((0, 1, 2, 1))
    ),
    "channel_shuffle_softmax2d": lambda nn: nn.Sequential(
        nn.Conv2d(4, 6, 1), nn.ChannelShuffle(3), nn.Softmax2d()
    ),
}


@pytest.mark.parametrize("name", sorted(_RESAMPLE))
def test_resampling_and_padding_layers_adagrad(name):
    body = lambda nn: nn.Sequential(nn.Conv2d(4, 4, 1), _RESAMPLE[name](nn))  # noqa: E731
    lockstep(head(body, _S2), cls_batch(_S2), ce, "Adagrad", dict(lr=0.05, lr_decay=0.01), steps=5)


# --------------------------------------------------------------------------------------------
# normalisation: training, then evaluation with the running statistics
# --------------------------------------------------------------------------------------------

_NORMS = {
    "bn2d_cumulative": (lambda nn: nn.BatchNorm2d(6, momentum=None), 2),
    "bn2d_no_affine": (lambda nn: nn.BatchNorm2d(6, affine=False, momentum=0.3), 2),
    "bn2d_no_stats": (lambda nn: nn.BatchNorm2d(6, track_running_stats=False), 2),
    "bn2d_bare": (lambda nn: nn.BatchNorm2d(6, affine=False, track_running_stats=False), 2),
    "groupnorm_eps": (lambda nn: nn.GroupNorm(2, 6, eps=1e-3), 2),
    "groupnorm_no_affine": (lambda nn: nn.GroupNorm(3, 6, affine=False), 2),
    "instancenorm": (lambda nn: nn.InstanceNorm2d(6), 2),
    "instancenorm_stats": (lambda nn: nn.InstanceNorm2d(6, track_running_stats=True), 2),
    "instancenorm_affine_stats": (
        lambda nn: nn.InstanceNorm2d(6, affine=True, track_running_stats=True, momentum=0.3),
        2,
    ),
    "instancenorm_cumulative": (
        lambda nn: nn.InstanceNorm2d(6, track_running_stats=True, momentum=None),
        2,
    ),
    "layernorm_no_affine": (lambda nn: nn.LayerNorm([7, 6], elementwise_affine=False), 2),
    "layernorm_no_bias": (lambda nn: nn.LayerNorm(6, bias=False), 2),
    "layernorm_3d_eps": (lambda nn: nn.LayerNorm([6, 7, 6], eps=1e-3), 2),
    "rmsnorm": (lambda nn: nn.RMSNorm([6]), 2),
    "rmsnorm_no_affine": (lambda nn: nn.RMSNorm([7, 6], eps=1e-4, elementwise_affine=False), 2),
    "local_response": (lambda nn: nn.LocalResponseNorm(3, alpha=1e-2, beta=0.7, k=1.5), 2),
    "bn1d_flat_cumulative": (lambda nn: nn.BatchNorm1d(6 * 7 * 6, momentum=None), 1),
    "bn1d_seq": (lambda nn: nn.BatchNorm1d(6, momentum=None, eps=1e-3), 1.5),
    "instancenorm1d_stats": (
        lambda nn: nn.InstanceNorm1d(6, affine=True, track_running_stats=True),
        1.5,
    ),
    "bn3d_cumulative": (lambda nn: nn.BatchNorm3d(6, momentum=None), 3),
    "instancenorm3d_stats": (
        lambda nn: nn.InstanceNorm3d(6, affine=True, track_running_stats=True),
        3,
    ),
}


@pytest.mark.parametrize("name", sorted(_NORMS))
def test_norm_layers_train_then_eval(name):
    norm, kind = _NORMS[name]
    shape = (5, 4, 7, 6) if kind != 3 else (3, 4, 3, 4, 5)

    def body(nn):
        # no conv bias: the norm removes it, so its gradient would be rounding noise
        conv = nn.Conv3d(4, 6, 1, bias=False) if kind == 3 else nn.Conv2d(4, 6, 3, 1, 1, bias=False)
        reshape = {1: nn.Flatten(), 1.5: nn.Flatten(2)}.get(kind, nn.Identity())
        return nn.Sequential(conv, reshape, norm(nn), nn.Tanh())

    tm, em = lockstep(
        head(body, shape),
        lambda r: (2 * r.normal(size=shape) + 0.5, r.integers(0, 3, shape[0])),
        ce,
        "Adam",
        dict(lr=1e-2),
        steps=6,
    )
    tm.eval()
    em.eval()
    x = np.random.default_rng(9).normal(size=shape)
    with torch.no_grad(), ember.no_grad():
        close(em(T(enn, x)), tm(T(tnn, x)), "eval output")


# --------------------------------------------------------------------------------------------
# recurrent layers: every option, dense and packed
# --------------------------------------------------------------------------------------------


def _rnn_model(kind, packed, h0, **kw):
    bidir = 2 if kw.get("bidirectional") else 1
    out = kw.get("proj_size", 0) or 8
    layers = kw.get("num_layers", 1) * bidir

    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(20, 6, padding_idx=0)
                self.rnn = getattr(nn, kind)(6, 8, **kw)
                self.head = nn.Linear(out * bidir, 3)

            def forward(self, x, lens):
                e = self.emb(x)
                bf = kw.get("batch_first", False)
                if not bf:
                    e = e.transpose(0, 1)
                hx = None
                if h0:
                    n = x.shape[0]
                    hx = T(nn, np.linspace(-0.5, 0.5, layers * n * out).reshape(layers, n, out))
                    if kind == "LSTM":
                        c0 = np.linspace(0.3, -0.3, layers * n * 8).reshape(layers, n, 8)
                        hx = (hx, T(nn, c0))
                U = nn.utils.rnn
                if packed:
                    p = U.pack_padded_sequence(e, lens, batch_first=bf, enforce_sorted=False)
                    y, h = self.rnn(p, hx)
                    y = U.pad_packed_sequence(y, batch_first=bf, total_length=x.shape[1])[0]
                else:
                    y, h = self.rnn(e, hx)
                if not bf:
                    y = y.transpose(0, 1)
                h = h[0] if kind == "LSTM" else h
                return self.head(y.sum(1)) + 0.1 * h.sum(0).sum(1, keepdim=True)

        return M()

    return mk


@pytest.mark.parametrize("packed", [False, True], ids=["dense", "packed"])
@pytest.mark.parametrize(
    "kind, kw",
    [
        ("LSTM", dict(num_layers=3, dropout=0.3)),
        ("LSTM", dict(proj_size=4)),
        ("LSTM", dict(proj_size=5, num_layers=2, bidirectional=True, batch_first=True)),
        ("LSTM", dict(proj_size=3, num_layers=2, bidirectional=True, h0=True)),
        ("GRU", dict(num_layers=2, bidirectional=True, dropout=0.5)),
        ("GRU", dict(bias=False, batch_first=True, h0=True)),
        ("RNN", dict(num_layers=3, nonlinearity="relu", bidirectional=True, batch_first=True)),
        ("RNN", dict(num_layers=2, h0=True)),
    ],
)
def test_recurrent_options_adam(kind, kw, packed):
    kw = dict(kw)
    h0 = kw.pop("h0", False)

    def loss(nn, m, x, lens, y):
        return nn.functional.cross_entropy(m(x, lens if nn is tnn else lens.numpy()), y)

    lockstep(
        _rnn_model(kind, packed, h0, **kw),
        lambda r: (r.integers(0, 20, (5, 7)), r.integers(1, 8, 5), r.integers(0, 3, 5)),
        loss,
        "Adam",
        dict(lr=1e-2),
        steps=5,
        eval_mode="dropout" in kw,  # inter-layer dropout is off in eval, as in torch
    )


# --------------------------------------------------------------------------------------------
# embeddings
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [
        dict(max_norm=1.0),
        dict(max_norm=0.5, norm_type=1.0, padding_idx=3),
        dict(scale_grad_by_freq=True, padding_idx=-1),
    ],
)
def test_embedding_options_sgd(kw):
    def mk(nn):
        return nn.Sequential(nn.Embedding(12, 6, **kw), nn.Flatten(), nn.Linear(30, 3))

    lockstep(mk, lambda r: (r.integers(0, 12, (6, 5)), r.integers(0, 3, 6)), ce, okw=dict(lr=0.5))


@pytest.mark.parametrize(
    "mode, kw",
    [
        ("sum", dict()),
        ("mean", dict(padding_idx=2)),
        ("max", dict(padding_idx=2)),
        ("sum", dict(psw=True)),
        ("sum", dict(psw=True, include_last_offset=True)),
        ("mean", dict(max_norm=1.0)),
    ],
)
def test_embedding_bag_sgd(mode, kw):
    kw = dict(kw)
    psw = kw.pop("psw", False)
    offsets = np.array([0, 3, 3, 9, 12] + ([17] if kw.get("include_last_offset") else []))

    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.bag = nn.EmbeddingBag(20, 6, mode=mode, **kw)
                self.head = nn.Linear(6, 3)

            def forward(self, x, off, w):
                return self.head(self.bag(x, off, per_sample_weights=w if psw else None))

        return M()

    lockstep(
        mk,
        lambda r: (r.integers(0, 20, 17), offsets, r.random(17), r.integers(0, 3, 5)),
        lambda nn, m, x, off, w, y: nn.functional.cross_entropy(m(x, off, w), y),
        okw=dict(lr=0.3),
    )


def test_embedding_bag_from_pretrained():
    w = np.random.default_rng(0).normal(size=(6, 3))
    tb = tnn.EmbeddingBag.from_pretrained(torch.tensor(w), mode="max", padding_idx=1)
    eb = enn.EmbeddingBag.from_pretrained(ember.tensor(w), mode="max", padding_idx=1)
    assert not eb.weight.requires_grad and eb.mode == "max" and eb.padding_idx == 1
    x, off = np.array([1, 2, 4, 5, 0]), np.array([0, 2])
    close(eb(T(enn, x), T(enn, off)), tb(T(tnn, x), T(tnn, off)), "bag")
    trainable = enn.EmbeddingBag.from_pretrained(w, freeze=False, include_last_offset=True)
    assert trainable.weight.requires_grad and trainable.include_last_offset
    with pytest.raises(ValueError, match="2-D"):
        enn.EmbeddingBag.from_pretrained(np.ones(3))


# --------------------------------------------------------------------------------------------
# attention and transformers
# --------------------------------------------------------------------------------------------


def _mha(batch_first=True, need=True, avg=True, float_masks=False, mask3d=False, **kw):
    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.att = nn.MultiheadAttention(8, 2, batch_first=batch_first, **kw)
                self.head = nn.Linear(8, 3)

            def forward(self, q, k, v, pad):
                if not batch_first:
                    q, k, v = q.transpose(0, 1), k.transpose(0, 1), v.transpose(0, 1)
                if mask3d:
                    am = np.random.default_rng(5).normal(size=(4 * 2, 5, 6))
                elif float_masks:
                    am = np.where(np.arange(6)[None] >= 4, -1.5, 0.3) * np.ones((5, 1))
                    pad = T(nn, np.where(_np(pad), -np.inf, 0.0))
                else:
                    am = np.triu(np.ones((5, 6), bool), 2)
                o, w = self.att(
                    q, k, v, key_padding_mask=pad, attn_mask=T(nn, am), need_weights=need,
                    average_attn_weights=avg,
                )  # fmt: skip
                if not batch_first:
                    o = o.transpose(0, 1)
                out = self.head(o.mean(1))
                return out + 0.01 * (w * w).sum() if need else out

        return M()

    return mk


@pytest.mark.filterwarnings("ignore:Support for mismatched")  # torch: float mask, bool padding
@pytest.mark.parametrize(
    "kw",
    [
        dict(),
        dict(kdim=5, vdim=3),
        dict(add_bias_kv=True, add_zero_attn=True),
        dict(add_bias_kv=True, add_zero_attn=True, kdim=5, vdim=3, batch_first=False),
        dict(avg=False),
        dict(batch_first=False, need=False, bias=False),
        dict(dropout=0.3, eval_mode=True),
        dict(float_masks=True),
        dict(mask3d=True),
    ],
    ids=lambda kw: "-".join(kw) or "plain",
)
def test_multihead_attention_options_sgd(kw):
    kw = dict(kw)
    eval_mode = kw.pop("eval_mode", False)
    kd, vd = kw.get("kdim", 8), kw.get("vdim", 8)
    lockstep(
        _mha(**kw),
        lambda r: (
            r.normal(size=(4, 5, 8)),
            r.normal(size=(4, 6, kd)),
            r.normal(size=(4, 6, vd)),
            np.arange(6)[None] >= r.integers(2, 7, 4)[:, None],
            r.integers(0, 3, 4),
        ),  # fmt: skip
        lambda nn, m, q, k, v, p, y: nn.functional.cross_entropy(m(q, k, v, p), y),
        okw=dict(lr=0.05, momentum=0.9),
        steps=6,
        eval_mode=eval_mode,
    )


def _full_transformer(**kw):
    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(12, 8)
                act = kw.get("activation", "relu")
                k = dict(kw, activation=nn.functional.silu if act == "silu" else act)
                self.tf = nn.Transformer(8, 2, 2, 1, 16, dropout=0.0, batch_first=True, **k)
                self.head = nn.Linear(8, 12)

            def forward(self, src, tgt, spad):
                causal = np.triu(np.ones((tgt.shape[1],) * 2, bool), 1)
                mem = np.zeros((tgt.shape[1], src.shape[1]), bool)
                mem[:, -1] = True
                o = self.tf(
                    self.emb(src), self.emb(tgt), tgt_mask=T(nn, causal), memory_mask=T(nn, mem),
                    src_key_padding_mask=spad, memory_key_padding_mask=spad, tgt_is_causal=True,
                )  # fmt: skip
                return self.head(o)

        return M()

    return mk


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.parametrize(
    "kw", [dict(), dict(norm_first=True, activation="gelu"), dict(activation="silu")]
)
def test_full_transformer_adam(kw):
    def batch(r):
        spad = np.arange(7)[None] >= r.integers(3, 7, 3)[:, None]
        return r.integers(0, 12, (3, 7)), r.integers(0, 12, (3, 5)), spad, r.integers(0, 12, (3, 5))

    def loss(nn, m, s, t, p, y):
        return nn.functional.cross_entropy(m(s, t, p).reshape(-1, 12), y.reshape(-1))

    lockstep(_full_transformer(**kw), batch, loss, "Adam", dict(lr=1e-2), steps=5)


def _encoder(nn, nhead=2, norm_first=False, activation="relu", final_norm=True, **kw):
    layer = nn.TransformerEncoderLayer(
        8, nhead, 16, dropout=0.0, batch_first=True, norm_first=norm_first, activation=activation
    )
    return nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8) if final_norm else None, **kw)


_PAD_RIGHT = np.arange(5)[None] >= np.array([5, 3, 2])[:, None]


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
@pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors")
@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize(
    "build, call",
    [
        (dict(), dict()),  # the fast path: padded steps come out 0 before the final norm
        (dict(final_norm=False), dict()),
        (dict(activation="gelu"), dict(float_mask=True)),
        (dict(), dict(pad=_PAD_RIGHT[:, ::-1].copy())),  # not left-aligned: regular path
        (dict(mask_check=False), dict(pad=_PAD_RIGHT[:, ::-1].copy())),  # taken as left-aligned
        (dict(), dict(mask=True)),
        (dict(), dict(grad=True)),
        (dict(), dict(train=True)),
        (dict(nhead=1), dict()),
        (dict(norm_first=True), dict()),
        (dict(enable_nested_tensor=False), dict()),
        (dict(), dict(pad=np.vstack([_PAD_RIGHT[:2], np.ones((1, 5), bool)]))),
    ],
)
def test_transformer_encoder_inference_matches_nested_fast_path(build, call):
    """In eval mode without gradients, torch's TransformerEncoder runs a left-aligned padded
    batch as a nested tensor: its padded steps come back as zeros, not as the layers' values."""
    tm, em = twin(lambda nn: _encoder(nn, **build))
    if not call.get("train"):
        tm.eval()
        em.eval()
    x = np.random.default_rng(0).normal(size=(3, 5, 8))
    pad = call.get("pad", _PAD_RIGHT)
    if call.get("float_mask"):
        pad = np.where(pad, -np.inf, 0.0)
    mask = np.zeros((5, 5)) if call.get("mask") else None
    outs = []
    for nn, m, grad in ((tnn, tm, torch.set_grad_enabled), (enn, em, ember.set_grad_enabled)):
        with grad(bool(call.get("grad"))):
            out = m(T(nn, x), None if mask is None else T(nn, mask), T(nn, pad))
        outs.append(out)
    close(outs[1], outs[0], "encoder output")


# --------------------------------------------------------------------------------------------
# losses: every reduction and option
# --------------------------------------------------------------------------------------------


def _w4(nn):
    return T(nn, np.array([1.0, 2.0, 0.5, 1.5]))


_X2 = lambda r: r.normal(size=(10, 6))  # noqa: E731
_X4 = lambda r: r.normal(size=(3, 3, 4, 5))  # noqa: E731
_LOSSES = {
    "ce_4d_weight_ignore_smooth": (
        lambda F, nn, o, y, red: F.cross_entropy(
            o, y, weight=_w4(nn), ignore_index=2, label_smoothing=0.15, reduction=red
        ),
        _X4, lambda r: r.integers(0, 4, (3, 4, 5)), 4,
    ),
    "ce_weight_ignore_smooth": (
        lambda F, nn, o, y, red: F.cross_entropy(
            o, y, weight=_w4(nn), ignore_index=1, label_smoothing=0.3, reduction=red
        ),
        _X2, lambda r: r.integers(0, 4, 10), 2,
    ),
    "ce_4d_probabilities": (
        lambda F, nn, o, y, red: F.cross_entropy(
            o, y, weight=_w4(nn), label_smoothing=0.15, reduction=red
        ),
        _X4, lambda r: np.moveaxis(r.dirichlet(np.ones(4), (3, 4, 5)), -1, 1), 4,
    ),
    "nll_4d_weight_ignore": (
        lambda F, nn, o, y, red: F.nll_loss(
            F.log_softmax(o, 1), y, weight=_w4(nn), ignore_index=0, reduction=red
        ),
        _X4, lambda r: r.integers(0, 4, (3, 4, 5)), 4,
    ),
    "bce_logits_pos_weight_weight": (
        lambda F, nn, o, y, red: F.binary_cross_entropy_with_logits(
            o, y, weight=T(nn, np.linspace(0.5, 1.5, 4)), pos_weight=_w4(nn), reduction=red
        ),
        _X2, lambda r: r.random((10, 4)), 2,
    ),
    "bce_weight": (
        lambda F, nn, o, y, red: F.binary_cross_entropy(
            o.sigmoid(), y, weight=T(nn, np.linspace(0.5, 1.5, 4)), reduction=red
        ),
        _X2, lambda r: r.random((10, 4)), 2,
    ),
    "kl_div": (
        lambda F, nn, o, y, red: F.kl_div(
            F.log_softmax(o, 1), y, reduction="batchmean" if red == "mean" else red
        ),
        _X2, lambda r: r.dirichlet(np.ones(4), 10), 2,
    ),
    "kl_div_log_target": (
        lambda F, nn, o, y, red: F.kl_div(
            F.log_softmax(o, 1), y, reduction="batchmean" if red == "mean" else red,
            log_target=True,
        ),
        _X2, lambda r: np.log(r.dirichlet(np.ones(4), 10)), 2,
    ),
    "margin_ranking": (
        lambda F, nn, o, y, red: F.margin_ranking_loss(
            o[:, 0], o[:, 1], y, margin=0.3, reduction=red
        ),
        _X2, lambda r: r.choice([-1.0, 1.0], 10), 2,
    ),
    "triplet_p2": (
        lambda F, nn, o, y, red: F.triplet_margin_loss(
            o[:, :4], o[:, 4:8], o[:, 8:], margin=0.5, reduction=red
        ),
        _X2, lambda r: np.zeros(1), 12,
    ),
    "triplet_swap_p1": (
        lambda F, nn, o, y, red: F.triplet_margin_loss(
            o[:, :4], o[:, 4:8], o[:, 8:], margin=0.5, p=1.0, eps=1e-5, swap=True, reduction=red
        ),
        _X2, lambda r: np.zeros(1), 12,
    ),
    "triplet_swap_p3": (
        lambda F, nn, o, y, red: F.triplet_margin_loss(
            o[:, :4], o[:, 4:8], o[:, 8:], p=3.0, swap=True, reduction=red
        ),
        _X2, lambda r: np.zeros(1), 12,
    ),
    "triplet_distance_swap": (
        lambda F, nn, o, y, red: F.triplet_margin_with_distance_loss(
            o[:, :4], o[:, 4:8], o[:, 8:], margin=0.5, swap=True, reduction=red
        ),
        _X2, lambda r: np.zeros(1), 12,
    ),
    "cosine_embedding": (
        lambda F, nn, o, y, red: F.cosine_embedding_loss(
            o[:, :4], o[:, 4:], y, margin=0.2, reduction=red
        ),
        _X2, lambda r: r.choice([-1.0, 1.0], 10), 8,
    ),
    "multilabel_soft_margin_weight": (
        lambda F, nn, o, y, red: F.multilabel_soft_margin_loss(
            o, y, weight=_w4(nn), reduction=red
        ),
        _X2, lambda r: r.integers(0, 2, (10, 4)).astype(float), 2,
    ),
    "multilabel_margin": (
        lambda F, nn, o, y, red: F.multilabel_margin_loss(o, y, reduction=red),
        _X2,
        lambda r: np.where(
            np.arange(4)[None] < r.integers(0, 5, 10)[:, None],
            r.permuted(np.tile(np.arange(4), (10, 1)), axis=1), -1,
        ),  # fmt: skip
        2,
    ),
    "multi_margin_p2_weight": (
        lambda F, nn, o, y, red: F.multi_margin_loss(
            o, y, p=2, margin=0.8, weight=_w4(nn), reduction=red
        ),
        _X2, lambda r: r.integers(0, 4, 10), 2,
    ),
    "poisson_log_input_full": (
        lambda F, nn, o, y, red: F.poisson_nll_loss(o, y, full=True, reduction=red),
        _X2, lambda r: r.poisson(2.0, (10, 4)).astype(float), 2,
    ),
    "poisson_rate_input": (
        lambda F, nn, o, y, red: F.poisson_nll_loss(
            o.exp(), y, log_input=False, full=True, eps=1e-6, reduction=red
        ),
        _X2, lambda r: r.poisson(2.0, (10, 4)).astype(float), 2,
    ),
    "gaussian_nll_full": (
        lambda F, nn, o, y, red: F.gaussian_nll_loss(
            o[:, :4], y, o[:, 4:] * o[:, 4:] + 0.1, full=True, eps=1e-3, reduction=red
        ),
        _X2, lambda r: r.normal(size=(10, 4)), 3,
    ),
    "gaussian_nll_var_clamped": (
        lambda F, nn, o, y, red: F.gaussian_nll_loss(o, y, o * o * 0.01, eps=0.05, reduction=red),
        _X2, lambda r: r.normal(size=(10, 4)), 2,
    ),
    "huber_small_delta": (
        lambda F, nn, o, y, red: F.huber_loss(o, y, delta=0.3, reduction=red),
        _X2, lambda r: 2 * r.normal(size=(10, 4)), 2,
    ),
    "huber_large_delta": (
        lambda F, nn, o, y, red: F.huber_loss(o, y, delta=2.0, reduction=red),
        _X2, lambda r: 2 * r.normal(size=(10, 4)), 2,
    ),
    "smooth_l1_beta0": (
        lambda F, nn, o, y, red: F.smooth_l1_loss(o, y, beta=0.0, reduction=red),
        _X2, lambda r: r.normal(size=(10, 4)), 2,
    ),
    "hinge_embedding": (
        lambda F, nn, o, y, red: F.hinge_embedding_loss(o, y, margin=0.7, reduction=red),
        _X2, lambda r: r.choice([-1.0, 1.0], (10, 4)), 2,
    ),
    "soft_margin": (
        lambda F, nn, o, y, red: F.soft_margin_loss(o, y, reduction=red),
        _X2, lambda r: r.choice([-1.0, 1.0], (10, 4)), 2,
    ),
}  # fmt: skip


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", sorted(_LOSSES))
def test_losses_every_reduction_sgd(name, reduction):
    fn, make_x, make_y, kind = _LOSSES[name]
    out = {2: 4, 3: 5, 8: 8, 12: 12}.get(kind, 4)

    def mk(nn):
        if kind == 4:
            return nn.Conv2d(3, 4, 1)
        return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, out))

    def loss(nn, m, x, y):
        v = fn(nn.functional, nn, m(x), y, reduction)
        return v.sum() if reduction == "none" else v

    lockstep(mk, lambda r: (make_x(r), make_y(r)), loss, steps=6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_adam(reduction, zero_infinity):
    def mk(nn):
        return nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 6), nn.LogSoftmax(-1))

    # with zero_infinity the last sequence cannot fit its 4 labels in 3 frames (an infinite
    # loss that must become 0 with a zero gradient)
    frames = [9, 7, 5, 3 if zero_infinity else 9]

    def loss(nn, m, x, tg):
        v = nn.functional.ctc_loss(
            m(x), tg, T(nn, frames), T(nn, [3, 4, 1, 4]), reduction=reduction,
            zero_infinity=zero_infinity,
        )  # fmt: skip
        return v.sum() if reduction == "none" else v

    lockstep(
        mk, lambda r: (r.normal(size=(9, 4, 5)), r.integers(1, 6, (4, 4))), loss, "Adam",
        dict(lr=1e-2), steps=5,
    )  # fmt: skip


_TARGET_GRAD = {
    "mse": lambda F, a, b: F.mse_loss(a, b),
    "l1_sum": lambda F, a, b: F.l1_loss(a, b, reduction="sum"),
    "smooth_l1": lambda F, a, b: F.smooth_l1_loss(a, b, beta=0.5),
    "huber": lambda F, a, b: F.huber_loss(a, b, delta=0.5),
    "kl_div": lambda F, a, b: F.kl_div(F.log_softmax(a, 1), F.softmax(b, 1), reduction="batchmean"),
    "kl_div_log_target": lambda F, a, b: F.kl_div(
        F.log_softmax(a, 1), F.log_softmax(b, 1), reduction="sum", log_target=True
    ),
    "ce_soft": lambda F, a, b: F.cross_entropy(a, F.softmax(b, 1), label_smoothing=0.1),
    "bce": lambda F, a, b: F.binary_cross_entropy(a.sigmoid(), b.sigmoid()),
    "bce_logits": lambda F, a, b: F.binary_cross_entropy_with_logits(a, b.sigmoid()),
    "gaussian_nll": lambda F, a, b: F.gaussian_nll_loss(a, b, (a - b) ** 2 + 0.1),
    "poisson_nll": lambda F, a, b: F.poisson_nll_loss(a, b.exp()),
    "multilabel_soft_margin": lambda F, a, b: F.multilabel_soft_margin_loss(a, b.sigmoid()),
}


@pytest.mark.parametrize("name", sorted(_TARGET_GRAD))
def test_losses_with_trained_targets_adam(name):
    """Both arguments come from trained branches (distillation-style), so the gradient with
    respect to the target is used too."""

    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.a = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4))
                self.b = nn.Linear(6, 4)

            def forward(self, x):
                return self.a(x), self.b(x)

        return M()

    fn = _TARGET_GRAD[name]
    lockstep(
        mk,
        lambda r: (r.normal(size=(10, 6)),),
        lambda nn, m, x: fn(nn.functional, *m(x)),
        "Adam",
        dict(lr=1e-2),
        steps=6,
    )


# --------------------------------------------------------------------------------------------
# optimisers, schedulers, clipping
# --------------------------------------------------------------------------------------------


def step_both(tm, em, topt, eopt, x, y, i, rtol=RTOL):
    """One cross-entropy step of both twins on (x, y), comparing the losses."""
    topt.zero_grad()
    eopt.zero_grad()
    t, e = ce(tnn, tm, T(tnn, x), T(tnn, y)), ce(enn, em, T(enn, x), T(enn, y))
    close(e, t, f"loss step {i}", rtol)
    t.backward()
    e.backward()
    topt.step()
    eopt.step()
    return e


def _mlp(nn):
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 8), nn.ReLU(), nn.Linear(8, 4))


_OPTS = [
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=1e-2)),
    ("SGD", dict(lr=0.1, maximize=True)),
    ("Adam", dict(lr=1e-2, amsgrad=True, weight_decay=1e-2, betas=(0.8, 0.95), eps=1e-6)),
    ("Adam", dict(lr=1e-2, maximize=True, foreach=False)),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True)),
    ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.9, weight_decay=1e-2, alpha=0.9)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=1e-2, initial_accumulator_value=0.1)),
    ("Adadelta", dict(lr=0.5, rho=0.8, weight_decay=1e-2)),
    ("Adamax", dict(lr=1e-2, weight_decay=1e-2, betas=(0.8, 0.9))),
    ("NAdam", dict(lr=1e-2, weight_decay=1e-2, momentum_decay=5e-3)),
    ("NAdam", dict(lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True)),
    ("RAdam", dict(lr=1e-2, weight_decay=1e-2)),
    ("RAdam", dict(lr=1e-2, weight_decay=1e-2, decoupled_weight_decay=True)),
    ("ASGD", dict(lr=1e-2, lambd=1e-3, alpha=0.75, t0=5, weight_decay=1e-2)),
    ("Rprop", dict(lr=1e-2, etas=(0.4, 1.3), step_sizes=(1e-5, 1.0))),
    ("Adafactor", dict(lr=1e-2, beta2_decay=-0.5, weight_decay=1e-2, d=1.5)),
]


@pytest.mark.parametrize("opt, kw", _OPTS, ids=[f"{o}-{'-'.join(k)}" for o, k in _OPTS])
def test_optimiser_options(opt, kw):
    lockstep(_mlp, cls_batch((12, 6), 4), ce, opt, kw, steps=20)


_SCHEDS = [
    ("SGD", "StepLR", dict(step_size=4, gamma=0.5)),
    ("SGD", "MultiStepLR", dict(milestones=[3, 7, 7, 12], gamma=0.3)),
    ("SGD", "OneCycleLR", dict(max_lr=0.1, total_steps=20, anneal_strategy="linear",
                               three_phase=True, pct_start=0.2, div_factor=10)),
    ("Adam", "OneCycleLR", dict(max_lr=0.05, total_steps=20)),
    ("SGD", "CosineAnnealingWarmRestarts", dict(T_0=4, T_mult=2, eta_min=1e-3)),
    ("SGD", "CyclicLR", dict(base_lr=1e-3, max_lr=0.1, step_size_up=3, mode="triangular2")),
    ("SGD", "CyclicLR", dict(base_lr=1e-3, max_lr=0.1, step_size_up=3, step_size_down=5,
                             mode="exp_range", gamma=0.9)),
    ("Adam", "CyclicLR", dict(base_lr=1e-3, max_lr=0.05, step_size_up=4, cycle_momentum=False)),
    ("SGD", "PolynomialLR", dict(total_iters=10, power=2.0)),
    ("SGD", "ConstantLR", dict(factor=0.3, total_iters=5)),
    ("SGD", "ReduceLROnPlateau", dict(factor=0.5, patience=1, threshold=1e-2, cooldown=1,
                                      min_lr=1e-3)),
    ("SGD", "ReduceLROnPlateau", dict(mode="max", factor=0.5, patience=0, threshold_mode="abs")),
]  # fmt: skip


@pytest.mark.parametrize("opt, sched, kw", _SCHEDS, ids=[f"{o}-{s}" for o, s, _ in _SCHEDS])
def test_schedulers(opt, sched, kw):
    okw = dict(lr=0.05, momentum=0.9) if opt == "SGD" else dict(lr=1e-2)
    lockstep(_mlp, cls_batch((12, 6), 4), ce, opt, okw, steps=20, sched=(sched, kw))


@pytest.mark.parametrize("norm_type", [float("inf"), 1.0, 3])
def test_clip_grad_norm_types(norm_type):
    lockstep(_mlp, cls_batch((12, 6), 4), ce, okw=dict(lr=0.1), steps=10, clip=(0.3, norm_type))


def test_clip_grad_value():
    lockstep(_mlp, cls_batch((12, 6), 4), ce, okw=dict(lr=0.1), steps=10, clip_value=0.05)


def test_param_groups_and_optimizer_state_reload():
    """Per-group lr/betas/weight_decay, and a fresh optimiser loading the old one's state_dict
    mid-run (a resumed job) continues exactly."""

    def groups(m):
        return [
            {"params": m[0].parameters(), "lr": 0.02, "weight_decay": 0.1},
            {"params": m[2].parameters()},
            {"params": m[4].parameters(), "lr": 1e-3, "betas": (0.5, 0.6)},
        ]

    tm, em = twin(_mlp)
    topt, eopt = torch.optim.NAdam(groups(tm)), eoptim.NAdam(groups(em))
    rng = np.random.default_rng(0)
    for i in range(12):
        step_both(tm, em, topt, eopt, rng.normal(size=(12, 6)), rng.integers(0, 4, 12), i)
        if i == 5:
            tsd, esd = topt.state_dict(), eopt.state_dict()
            topt, eopt = torch.optim.NAdam(groups(tm)), eoptim.NAdam(groups(em))
            topt.load_state_dict(tsd)
            eopt.load_state_dict(esd)
    check_state(tm, em)


# --------------------------------------------------------------------------------------------
# weight tying, shared modules, frozen layers
# --------------------------------------------------------------------------------------------


def _tied_lm(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(15, 8)
            self.rnn = nn.GRU(8, 8, batch_first=True)
            self.ln = nn.LayerNorm(8)
            self.out = nn.Linear(8, 15)
            self.out.weight = self.emb.weight  # tied input/output embedding
            self.shared = nn.Linear(8, 8)
            self.seq = nn.Sequential(self.shared, nn.Tanh(), self.shared)  # used twice

        def forward(self, x):
            return self.out(self.seq(self.ln(self.rnn(self.emb(x))[0])))

    return M()


def test_weight_tying_and_shared_module_adam():
    def loss(nn, m, x, y):
        return nn.functional.cross_entropy(m(x).reshape(-1, 15), y.reshape(-1))

    tm, em = lockstep(
        _tied_lm,
        lambda r: (r.integers(0, 15, (4, 6)), r.integers(0, 15, (4, 6))),
        loss,
        "Adam",
        dict(lr=1e-2),
        steps=10,
    )
    assert em.out.weight is em.emb.weight
    for kw in (dict(), dict(remove_duplicate=False)):
        assert [k for k, _ in em.named_parameters(**kw)] == [
            k for k, _ in tm.named_parameters(**kw)
        ]
        assert [k for k, _ in em.named_modules(**kw)] == [k for k, _ in tm.named_modules(**kw)]
    assert len(list(em.parameters())) == len(list(tm.parameters()))


def test_named_buffers_remove_duplicate():
    def mk(nn):
        bn = nn.BatchNorm1d(3)
        return nn.Sequential(bn, nn.ReLU(), bn)

    tm, em = mk(tnn), mk(enn)
    for kw in (dict(), dict(remove_duplicate=False), dict(prefix="net", recurse=True)):
        assert [k for k, _ in em.named_buffers(**kw)] == [k for k, _ in tm.named_buffers(**kw)]
    assert [k for k, _ in em.named_buffers(recurse=False)] == []


def test_frozen_layers_adamw():
    def mk(nn):
        m = nn.Sequential(
            nn.Linear(6, 8, bias=False), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(),
            nn.Linear(8, 4),
        )  # fmt: skip
        m[0].requires_grad_(False)
        m[1].weight.requires_grad_(False)
        return m

    tm, em = lockstep(mk, cls_batch((10, 6), 4), ce, "AdamW", dict(lr=1e-2, weight_decay=0.1))
    assert em[0].weight.grad is None and em[1].weight.grad is None


# --------------------------------------------------------------------------------------------
# float32: same rules, float32 throughout
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body, shape, opt",
    [
        (lambda nn: nn.Sequential(nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect",
                                            bias=False), nn.BatchNorm2d(6, momentum=None),
                                  nn.CELU(0.7), nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
         _S2, "NAdam"),
        (lambda nn: nn.Sequential(nn.Conv1d(4, 6, 3, padding=1, padding_mode="circular"),
                                  nn.InstanceNorm1d(6, affine=True, track_running_stats=True),
                                  nn.GELU(approximate="tanh"), nn.AdaptiveAvgPool1d(3)),
         _S1, "RAdam"),
    ],
)  # fmt: skip
def test_float32_dtypes_preserved(body, shape, opt):
    mk = head(body, shape)
    torch.manual_seed(0)
    tm, em = mk(tnn), mk(enn)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    topt = getattr(torch.optim, opt)(tm.parameters(), lr=1e-3)
    eopt = getattr(eoptim, opt)(em.parameters(), lr=1e-3)
    rng = np.random.default_rng(0)
    for i in range(5):
        x, y = rng.normal(size=shape).astype(np.float32), rng.integers(0, 3, shape[0])
        step_both(tm, em, topt, eopt, x, y, i, rtol=1e-5)
        for k, p in em.named_parameters():
            assert _np(p.grad).dtype == np.float32, k
    check_state(tm, em, rtol=1e-4)  # also every parameter and buffer is still float32


# --------------------------------------------------------------------------------------------
# API used by training scripts that raised where torch works
# --------------------------------------------------------------------------------------------


def _children(seq):
    return [(k, type(v).__name__) for k, v in seq.named_children()]


@pytest.mark.parametrize(
    "edit",
    [
        lambda nn, s: s.insert(-1, nn.Tanh()),
        lambda nn, s: s.insert(3, nn.Tanh()),
        lambda nn, s: s.pop(-2),
        lambda nn, s: s.pop(slice(1, None)),
        lambda nn, s: s.__delitem__(slice(0, 2)),
        lambda nn, s: s.__setitem__(-1, nn.Sigmoid()),
        lambda nn, s: s.extend([nn.ELU()]),
        lambda nn, s: s.__iadd__(nn.Sequential(nn.ELU())),
        lambda nn, s: s + nn.Sequential(nn.ELU()),
        lambda nn, s: 2 * s,
        lambda nn, s: s.__imul__(2),
    ],
)
def test_sequential_list_edits_renumber_like_torch(edit):
    res = []
    for nn in (tnn, enn):
        s = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 1))
        r = edit(nn, s)
        r = _children(r) if isinstance(r, nn.Sequential) else type(r).__name__
        res.append((r, _children(s), list(s.state_dict())))
    assert res[1] == res[0]


def test_sequential_edit_errors():
    s = enn.Sequential(enn.ReLU())
    with pytest.raises(IndexError):
        s.insert(3, enn.Tanh())
    with pytest.raises(TypeError, match="Module"):
        s.insert(0, 3)
    with pytest.raises(ValueError):
        s + [enn.ReLU()]
    with pytest.raises(ValueError):
        s * 0


def test_pack_sequence_helpers_train_like_torch():
    """pack_sequence / unpack_sequence / unpad_sequence / pad_sequence(padding_side) in a
    training step: the same loss and gradients as torch."""
    rng = np.random.default_rng(0)
    lens = [3, 5, 1, 4]
    seqs = [rng.normal(size=(n, 4)) for n in lens]
    tm, em = twin(lambda nn: nn.LSTM(4, 3, batch_first=True))
    got = {}
    for nn, m in ((tnn, tm), (enn, em)):
        U = nn.utils.rnn
        xs = [T(nn, s) for s in seqs]
        out, _ = m(U.pack_sequence(xs, enforce_sorted=False))
        steps = U.unpack_sequence(out)
        assert [s.shape[0] for s in steps] == lens
        left = U.pad_sequence(xs, batch_first=True, padding_value=-1.0, padding_side="left")
        padded, lengths = U.pad_packed_sequence(out, batch_first=True)
        back = U.unpad_sequence(padded, lengths, batch_first=True)
        loss = sum((s * s).sum() for s in steps) + (left * left).mean() + back[1].sum()
        loss.backward()
        got[nn] = loss, left
    close(got[enn][0], got[tnn][0], "loss")
    close(got[enn][1], got[tnn][1], "left padding")
    check_grads(tm, em, 0)
    with pytest.raises(ValueError, match="padding_side"):
        enn.utils.rnn.pad_sequence([ember.tensor(seqs[0])], padding_side="middle")
    with pytest.raises(ValueError, match="unpad_sequence"):
        enn.utils.rnn.unpad_sequence(ember.tensor(np.zeros((2, 3))), [4, 1], batch_first=True)


def test_reassigned_parameters_modules_buffers_keep_their_place():
    """Tying a weight after construction (``out.weight = emb.weight``) must not move it to the
    end of the module's parameters: state_dict order, parameters() order and so the optimiser's
    parameter indices (its state_dict) follow registration order, as in torch."""
    orders = []
    for nn in (tnn, enn):
        lin, seq, bn = nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Tanh()), nn.BatchNorm1d(2)
        lin.weight = nn.Parameter(T(nn, np.ones((3, 2))))
        seq[0] = nn.Sigmoid()
        bn.running_mean = bn.running_mean * 1
        bn.extra = nn.Parameter(T(nn, np.ones(1)))
        orders.append((list(lin.state_dict()), list(seq._modules), list(bn.state_dict())))
    assert orders[1] == orders[0]


def test_backward_nan_from_inf_times_zero_is_silent_as_torch():
    """d/dx (sqrt(x) * 0) at x = 0 is 0 * inf = NaN in both libraries, without a NumPy
    RuntimeWarning (an error under -W error); LPPool's root at an all-zero window relies on
    the same pattern (its relu mask then drops the NaN)."""
    x = np.array([0.0, 1.0, 4.0])
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    (tx.sqrt() * torch.tensor([0.0, 1.0, 1.0])).sum().backward()
    (ex.sqrt() * ember.tensor(np.array([0.0, 1.0, 1.0]))).sum().backward()
    close(ex.grad, tx.grad, "grad")
    assert np.isnan(ex.grad.numpy()[0])


# --------------------------------------------------------------------------------------------
# gradients at ties and kinks that training reaches (ReLU zeros, identical embeddings)
# --------------------------------------------------------------------------------------------


def _grads_like_torch(fn, *arrays):
    tx = [torch.tensor(np.asarray(a, float), requires_grad=True) for a in arrays]
    ex = [ember.tensor(np.asarray(a, float), requires_grad=True) for a in arrays]
    t, e = fn(tnn, *tx), fn(enn, *ex)
    close(e, t, "value")
    t.sum().backward()
    e.sum().backward()
    for i, (a, b) in enumerate(zip(tx, ex)):
        close(b.grad, a.grad, f"grad {i}")


_TIES = {
    # clamp_min(margin - x, 0) passes the gradient at margin - x == 0
    "hinge_at_margin": (
        lambda nn, x: nn.functional.hinge_embedding_loss(
            x, T(nn, [-1.0, -1, -1, 1]), margin=1.0, reduction="none"
        ),
        [[0.5, 1.0, 1.5, 1.0]],
    ),
    # ||x1 - x2|| at 0 (identical rows, eps=0): gradient 0, not sqrt's inf times 0
    "pairwise_distance_identical": (
        lambda nn, a, b: nn.functional.pairwise_distance(a, b, eps=0.0),
        [[[1.0, 2.0], [0.0, 1.0]], [[1.0, 2.0], [3.0, 1.0]]],
    ),
    "triplet_swap_identical": (
        lambda nn, a, p, n: nn.functional.triplet_margin_loss(
            a, p, n, swap=True, eps=0.0, reduction="none"
        ),
        [[[0.0, 0.0], [1.0, 0.0]], [[1.0, 0.0], [1.0, 1.0]], [[0.0, 2.0], [1.0, 1.0]]],
    ),
    "pairwise_distance_inf_ties": (
        lambda nn, a, b: nn.functional.pairwise_distance(a, b, p=float("inf"), eps=0.0),
        [[[1.0, -2.0, 2.0]], [[0.0, 0.0, 0.0]]],
    ),
    # pdist's backward gives each tied maximum the full gradient (unlike norm's)
    "pdist_inf_ties": (
        lambda nn, x: nn.functional.pdist(x, float("inf")),
        [[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [0.0, 0.0, 0.0]]],
    ),
    "pdist_p0_has_zero_gradient": (
        lambda nn, x: nn.functional.pdist(x, 0.0),
        [[[1.0, 2.0, 3.0], [3.0, 2.0, 1.0], [1.0, 2.0, 3.0]]],
    ),
    "pdist_p3_identical": (
        lambda nn, x: nn.functional.pdist(x, 3.0),
        [[[1.0, 2.0, 3.0], [1.0, 2.0, 3.0], [0.0, 2.0, 1.0]]],
    ),
    "atan2_origin": (
        lambda nn, a, b: (torch if nn is tnn else ember).atan2(a, b),
        [[0.0, 1.0, 0.0], [0.0, 0.0, -2.0]],
    ),
    # d(a ** b)/db is 0 where a == 0 and b >= 0 (0 ** 0 included), as torch
    "pow_exponent_at_zero_base": (
        lambda nn, a, b: a**b,
        [[0.0, 0.0, 2.0, 3.0], [0.0, 2.0, 0.5, -1.0]],
    ),
}


@pytest.mark.parametrize("name", sorted(_TIES))
def test_gradients_at_ties_and_kinks(name):
    fn, arrays = _TIES[name]
    _grads_like_torch(fn, *arrays)


def test_pow_forward_inf_nan_is_silent_as_torch():
    a, b = np.array([0.0, -2.0]), np.array([-1.0, 0.5])
    close(ember.tensor(a) ** ember.tensor(b), torch.tensor(a) ** torch.tensor(b), "pow")


def _numpy_state(v):
    if isinstance(v, torch.Tensor):
        return v.detach().numpy().copy()
    if isinstance(v, dict):
        return {k: _numpy_state(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_numpy_state(x) for x in v]
    return v


@pytest.mark.parametrize(
    "opt, kw",
    [
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        ("Adam", dict(lr=1e-2, amsgrad=True)),
        ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.5)),
        ("Adagrad", dict(lr=0.1)),
        ("NAdam", dict(lr=1e-2)),
        ("Rprop", dict(lr=1e-2)),
    ],
)
def test_resume_torch_checkpoint_in_ember(opt, kw):
    """Five steps in torch, then model and optimiser state_dicts (as NumPy) into ember: both
    continue identically (a training job moved from torch to ember mid-run)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(10, 6)), rng.integers(0, 4, 10)) for _ in range(10)]
    tm = _mlp(tnn).double()
    topt = getattr(torch.optim, opt)(tm.parameters(), **kw)
    for x, y in batches[:5]:
        topt.zero_grad()
        ce(tnn, tm, T(tnn, x), T(tnn, y)).backward()
        topt.step()
    em = _mlp(enn)
    em.double()
    em.load_state_dict(_numpy_state(tm.state_dict()))
    eopt = getattr(eoptim, opt)(em.parameters(), **kw)
    eopt.load_state_dict(_numpy_state(topt.state_dict()))
    for i, (x, y) in enumerate(batches[5:]):
        step_both(tm, em, topt, eopt, x, y, i)
    check_state(tm, em)


@pytest.mark.parametrize(
    "fn",
    [
        lambda F, C, x: F.binary_cross_entropy_with_logits(x, C(0.7)),
        lambda F, C, x: F.binary_cross_entropy_with_logits(
            x, C(0.7), weight=C(0.5), pos_weight=C(2.0), reduction="sum"
        ),
        lambda F, C, x: F.binary_cross_entropy(x, C(0.7)),
        lambda F, C, x: F.gaussian_nll_loss(x, C(0.7), C(0.5)),
        lambda F, C, x: F.margin_ranking_loss(x, C(0.7), C(1.0)),
    ],
    ids=["bce_logits", "bce_logits_weights", "bce", "gaussian_nll", "margin_ranking"],
)
def test_zero_dim_losses(fn):
    """A 0-d prediction (one scalar output per step) trains as in torch; BCE-with-logits
    passed NumPy's scalar -x to the C++ softplus, which refused it."""
    tx = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    ex = ember.tensor(np.array(0.3), requires_grad=True)
    t = fn(tF, lambda v: torch.tensor(v, dtype=torch.float64), tx)
    e = fn(eF, lambda v: ember.tensor(np.array(v)), ex)
    close(e, t, "loss")
    t.backward()
    e.backward()
    close(ex.grad, tx.grad, "grad")


_LOSS_CLASSES = sorted(
    n
    for n in dir(tnn)
    if isinstance(getattr(tnn, n), type)
    and issubclass(getattr(tnn, n), tnn.modules.loss._Loss)
    and not n.startswith("_")
)


@pytest.mark.filterwarnings("ignore:size_average and reduce args will be deprecated")
@pytest.mark.filterwarnings("ignore:`NLLLoss2d` has been deprecated")
@pytest.mark.parametrize("name", _LOSS_CLASSES)
def test_loss_modules_take_legacy_size_average_reduce_as_torch(name):
    """Old training scripts write nn.MSELoss(size_average=False): the reduction PyTorch derives
    (and where PyTorch has no such keywords, the same TypeError)."""
    for kw in (
        dict(size_average=False), dict(reduce=False), dict(size_average=True, reduce=True),
        dict(size_average=False, reduction="none"),
    ):  # fmt: skip
        got = []
        for nn in (tnn, enn):
            try:
                got.append(getattr(nn, name)(**kw).reduction)
            except TypeError:
                got.append(TypeError)
        assert got[1] == got[0], kw


def test_legacy_size_average_trains_and_warns():
    with pytest.warns(UserWarning, match="reduction='sum'"):
        crit = enn.MSELoss(size_average=False)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        tcrit = tnn.MSELoss(size_average=False)
    lockstep(
        lambda nn: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 2)),
        lambda r: (r.normal(size=(10, 6)), r.normal(size=(10, 2))),
        lambda nn, m, x, y: (tcrit if nn is tnn else crit)(m(x), y),
        okw=dict(lr=0.01),
    )


@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)], ids=["fused_2d", "composed_3d"])
@pytest.mark.parametrize("targets", ["some_ignored", "all_ignored", "none_ignored"])
@pytest.mark.parametrize(
    "fn",
    [
        lambda F, x, y, w: F.cross_entropy(x, y, weight=w),
        lambda F, x, y, w: F.cross_entropy(x, y, weight=w, label_smoothing=0.2),
        lambda F, x, y, w: F.nll_loss(x, y, weight=w),
    ],
    ids=["ce", "ce_smoothing", "nll"],
)
def test_mean_over_zero_total_weight_is_nan_as_torch(shape, targets, fn):
    """A batch whose every target has class weight 0 (or is ignored): torch's 'mean' is NaN,
    and its gradient is NaN on the rows of weight-0 targets (w / 0), 0 on ignored rows."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=shape)
    y = rng.integers(0, 3, (shape[0],) + shape[2:])
    if targets != "none_ignored":
        y.flat[0] = -100
    if targets == "all_ignored":
        y[...] = -100
    w = np.array([0.0, 0.0, 0.0, 1.0])  # the targets are in 0..2: total weight 0
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    t = fn(tF, tx, torch.tensor(y), torch.tensor(w))
    e = fn(eF, ex, ember.tensor(y), ember.tensor(w))
    close(e, t, "loss")
    assert np.isnan(e.item())
    t.backward()
    e.backward()
    close(ex.grad, tx.grad, "grad")


_INPLACE = {
    "relu": lambda nn, x: nn.functional.relu(x, inplace=True),
    "leaky_relu": lambda nn, x: nn.functional.leaky_relu(x, 0.2, inplace=True),
    "elu": lambda nn, x: nn.functional.elu(x, 0.5, inplace=True),
    "selu": lambda nn, x: nn.functional.selu(x, inplace=True),
    "celu": lambda nn, x: nn.functional.celu(x, 0.7, inplace=True),
    "silu": lambda nn, x: nn.functional.silu(x, inplace=True),
    "mish": lambda nn, x: nn.functional.mish(x, inplace=True),
    "hardtanh": lambda nn, x: nn.functional.hardtanh(x, -1.0, 2.0, inplace=True),
    "relu6": lambda nn, x: nn.functional.relu6(x, inplace=True),
    "hardsigmoid": lambda nn, x: nn.functional.hardsigmoid(x, inplace=True),
    "hardswish": lambda nn, x: nn.functional.hardswish(x, inplace=True),
    "threshold": lambda nn, x: nn.functional.threshold(x, 0.5, -1.0, inplace=True),
    "rrelu_eval": lambda nn, x: nn.functional.rrelu(x, training=False, inplace=True),
    "dropout_eval": lambda nn, x: nn.functional.dropout(x, 0.5, training=False, inplace=True),
    "module_relu": lambda nn, x: nn.ReLU(inplace=True)(x),
    "module_relu6": lambda nn, x: nn.ReLU6(inplace=True)(x),
    "module_leaky": lambda nn, x: nn.LeakyReLU(0.1, True)(x),
    "module_elu": lambda nn, x: nn.ELU(inplace=True)(x),
    "module_celu": lambda nn, x: nn.CELU(inplace=True)(x),
    "module_silu": lambda nn, x: nn.SiLU(inplace=True)(x),
    "module_hardswish": lambda nn, x: nn.Hardswish(inplace=True)(x),
    "module_threshold": lambda nn, x: nn.Threshold(0.1, 20.0, inplace=True)(x),
    "module_rrelu_eval": lambda nn, x: nn.RReLU(inplace=True).eval()(x),
    "module_dropout_eval": lambda nn, x: nn.Dropout(0.3, inplace=True).eval()(x),
    "module_alpha_dropout_eval": lambda nn, x: nn.AlphaDropout(0.3, inplace=True).eval()(x),
}


@pytest.mark.parametrize("name", sorted(_INPLACE))
def test_inplace_true_writes_into_the_input(name):
    """``inplace=True`` (F.relu(x, inplace=True), nn.ReLU(inplace=True)) overwrites and returns
    its input, so code reading x afterwards sees the activation, as in torch; inside a graph
    the gradient flows through the in-place result."""
    fn = _INPLACE[name]
    x0 = np.linspace(-4, 4, 9)
    tx, ex = torch.tensor(x0), ember.tensor(x0)
    assert (fn(enn, ex) is ex) == (fn(tnn, tx) is tx)
    close(ex, tx, "input after the call")
    tw, ew = torch.tensor(x0, requires_grad=True), ember.tensor(x0, requires_grad=True)
    th, eh = tw * 2, ew * 2
    fn(tnn, th)
    fn(enn, eh)
    (th * th).sum().backward()
    (eh * eh).sum().backward()
    close(ew.grad, tw.grad, "grad")


@pytest.mark.parametrize(
    "expr",
    ["x.flip(1, 2)", "x.flip((1, 2))", "x.flip(dims=[0])", "x.tile(2, 1)", "x.tile((2, 1))"],
)
def test_flip_and_tile_take_varargs_dims(expr):
    a = np.arange(24.0).reshape(2, 3, 4)
    tx, ex = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)
    t, e = eval(expr, {"x": tx}), eval(expr, {"x": ex})
    close(e, t, expr)
    g = np.cos(np.arange(t.numel())).reshape(tuple(t.shape))
    t.backward(torch.tensor(g))
    e.backward(ember.tensor(g))
    close(ex.grad, tx.grad, "grad")


@pytest.mark.parametrize(
    "name, kw",
    [
        ("relu", {}),
        ("threshold", dict(threshold=0.5, value=2.0)),
        ("softshrink", {}),
        ("hardshrink", {}),
    ],
)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_nan_inputs_propagate_as_torch(name, kw, dtype):
    """A NaN that reaches threshold / softshrink / hardshrink stays NaN (ember gave the
    replacement value or 0, hiding a diverged run), and relu / threshold pass the gradient at a
    NaN input, as torch's kernels do. (64 elements: torch's vectorised loops; its scalar tail
    differs from them on some of these gradients.)"""
    x = np.linspace(-7, 7, 64).astype(dtype)
    x[[0, 31]] = np.nan
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    t, e = getattr(tF, name)(tx, **kw), getattr(eF, name)(ex, **kw)
    close(e, t, "value", rtol=1e-6)
    assert np.isnan(e.numpy()[[0, 31]]).all()
    t.sum().backward()
    e.sum().backward()
    close(ex.grad, tx.grad, "grad", rtol=1e-6)
