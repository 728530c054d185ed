"""Layers against PyTorch on unusual but valid configurations, with PyTorch's own weights.

Each case builds the module in both libraries (float64), copies torch's state_dict into ember,
runs the same inputs and compares every output, the input gradients, the parameter gradients
(of a random weighting of the outputs) and the state_dict afterwards (running statistics).
"""

import numpy as np
import pytest

import ember
import ember.nn as enn

torch = pytest.importorskip("torch")
tnn = torch.nn

RTOL = 1e-9  # normwise; wrong rules show up at 1e-3 or more


# the shared array conversion, one-thread-torch fixture, normwise comparison and twin builder
pytestmark = pytest.mark.usefixtures("torch_one_thread")
from test_training_parity_options import close, twin  # noqa: E402


def _flat(out):
    if isinstance(out, tuple | list):
        return [y for o in out for y in _flat(o)]
    return [] if out is None else [out]


def compare(mk, inputs, call=None, train=True, rtol=RTOL):
    """Forward, backward and state of mk's two twins on the same inputs (arrays get gradients
    when floating; other arguments pass through). call(module, *inputs) defaults to module(*x)."""
    call = call or (lambda m, *a: m(*a))
    tm, em = twin(mk)
    tm.train(train)
    em.train(train)
    tin, ein = [], []
    for a in inputs:
        if isinstance(a, np.ndarray):
            grad = a.dtype.kind == "f"
            tin.append(torch.tensor(a.copy(), requires_grad=grad))
            ein.append(ember.tensor(a.copy(), requires_grad=grad))
        else:
            tin.append(a)
            ein.append(a)
    tout, eout = _flat(call(tm, *tin)), _flat(call(em, *ein))
    assert len(eout) == len(tout)
    rng = np.random.default_rng(1)
    tloss = eloss = 0
    for i, (t, e) in enumerate(zip(tout, eout)):
        close(e, t, f"output {i}", rtol)
        if t.requires_grad:
            w = rng.standard_normal(t.shape)
            tloss = tloss + (t * torch.tensor(w)).sum()
            eloss = eloss + (e * ember.tensor(w)).sum()
    if isinstance(tloss, torch.Tensor):
        tloss.backward()
        eloss.backward()
        for i, (t, e) in enumerate(zip(tin, ein)):
            if isinstance(t, torch.Tensor) and t.grad is not None:
                close(e.grad, t.grad, f"input {i} grad", rtol)
        tp = dict(tm.named_parameters())
        for k, p in em.named_parameters():
            if tp[k].grad is not None:
                close(p.grad, tp[k].grad, f"grad {k}", rtol)
    tsd, esd = tm.state_dict(), em.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        close(esd[k], tsd[k], f"state {k}", rtol)


R = np.random.default_rng(0)


def rn(*shape):
    return R.standard_normal(shape)


def _shape(batched, *rest):
    return ((2,) if batched else ()) + rest


# ---- convolution ------------------------------------------------------------------------------
CONV = [
    dict(kernel_size=2, stride=3),
    dict(kernel_size=3, dilation=2, padding="same"),
    dict(kernel_size=4, padding="same"),
    dict(kernel_size=3, groups=2, out_channels=6),
    dict(kernel_size=3, padding=1, padding_mode="reflect"),
    dict(kernel_size=3, padding=2, padding_mode="replicate"),
    dict(kernel_size=3, padding=3, padding_mode="circular"),
    dict(kernel_size=3, padding="same", padding_mode="circular", dilation=2, bias=False),
]


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel:UserWarning")
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize("kw", CONV, ids=str)
def test_conv_configurations(d, kw):
    kw = dict(kw)
    out = kw.pop("out_channels", 4)
    sp = (6, 5, 4)[:d]
    compare(lambda nn: getattr(nn, f"Conv{d}d")(2, out, **kw), [rn(*_shape(d != 2, 2, *sp))])


@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize(
    "kw",
    [
        dict(kernel_size=2, stride=3),
        dict(kernel_size=3, stride=2, padding=2, output_padding=1, dilation=2),
        dict(kernel_size=3, groups=2, bias=False),
    ],
    ids=str,
)
def test_conv_transpose_configurations(d, kw):
    sp = (5, 4, 3)[:d]
    compare(lambda nn: getattr(nn, f"ConvTranspose{d}d")(2, 4, **kw), [rn(*_shape(d != 1, 2, *sp))])


# ---- pooling ----------------------------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 3])
@pytest.mark.parametrize(
    "name,kw",
    [
        ("MaxPool", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, return_indices=True)),
        ("MaxPool", dict(kernel_size=3, dilation=2, padding=1, stride=2, ceil_mode=True)),
        ("AvgPool", dict(kernel_size=4, padding=2, stride=3, ceil_mode=True)),
        (
            "AvgPool",
            dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
        ),
        ("AdaptiveMaxPool", dict(output_size=4, return_indices=True)),
        ("AdaptiveAvgPool", dict(output_size=4)),
        ("LPPool", dict(norm_type=3, kernel_size=3, stride=2, ceil_mode=True)),
        ("LPPool", dict(norm_type=float("inf"), kernel_size=2)),
        ("LPPool", dict(norm_type=-float("inf"), kernel_size=3, stride=2, ceil_mode=True)),
    ],
    ids=str,
)
def test_pool_configurations(d, name, kw):
    sp = (7, 6, 5)[:d]
    x = rn(*_shape(d != 3, 3, *sp))
    compare(lambda nn: getattr(nn, f"{name}{d}d")(**kw), [x])


@pytest.mark.parametrize(
    "name", ["MaxPool3d", "AvgPool3d", "AdaptiveMaxPool3d", "AdaptiveAvgPool3d"]
)
def test_pool3d_empty_batch_and_empty_channels_as_torch(name):
    arg = 2
    out = getattr(enn, name)(arg)(ember.zeros(0, 2, 4, 4, 4))
    assert out.shape == tuple(getattr(tnn, name)(arg)(torch.zeros(0, 2, 4, 4, 4)).shape)
    with pytest.raises(ValueError, match="3d"):
        getattr(enn, name)(arg)(ember.zeros(1, 0, 4, 4, 4))


@pytest.mark.parametrize("d", [1, 2])
def test_adaptive_max_pool_refuses_empty_channels_as_torch(d):
    shape = (1, 0) + (5,) * d
    with pytest.raises(RuntimeError):
        getattr(tnn, f"AdaptiveMaxPool{d}d")(2)(torch.zeros(shape))
    with pytest.raises(ValueError, match="non-batch"):
        getattr(enn, f"AdaptiveMaxPool{d}d")(2)(ember.zeros(*shape))
    assert getattr(enn, f"AdaptiveMaxPool{d}d")(2)(ember.zeros(0, 2, *(5,) * d)).shape[0] == 0


# ---- normalisation ----------------------------------------------------------------------------
def _steps(mk):
    """A module applying mk's layer to each input in turn (running statistics accumulate)."""

    def build(nn):
        class Steps(nn.Module):
            def __init__(self):
                super().__init__()
                self.m = mk(nn)

            def forward(self, *xs):
                return [self.m(x) for x in xs]

        return Steps()

    return build


@pytest.mark.parametrize("train", [True, False])
@pytest.mark.parametrize(
    "kw",
    [dict(momentum=None), dict(track_running_stats=False), dict(affine=False, momentum=0.3)],
    ids=str,
)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_batchnorm_configurations(d, kw, train):
    xs = [rn(4, 3, *(5, 4, 3)[: max(d, 1)]) * 2 + 1 for _ in range(3)]
    compare(_steps(lambda nn: getattr(nn, f"BatchNorm{d}d")(3, **kw)), xs, train=train)


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("kw", [dict(affine=True), dict(track_running_stats=True, momentum=None)])
def test_instancenorm_configurations(kw, batched):
    xs = [rn(*_shape(batched, 3, 5, 4)) for _ in range(2)]
    for train in (True, False):
        compare(_steps(lambda nn: nn.InstanceNorm2d(3, **kw)), xs, train=train)


@pytest.mark.parametrize(
    "mk,shape",
    [
        (lambda nn: nn.LayerNorm((3, 4), bias=False), (2, 3, 4)),
        (lambda nn: nn.LayerNorm(4, elementwise_affine=False, eps=0.1), (3, 4)),
        (lambda nn: nn.GroupNorm(2, 4), (2, 4)),
        (lambda nn: nn.GroupNorm(4, 4, affine=False), (2, 4, 2, 2, 2)),
    ],
)
def test_layer_and_group_norm_configurations(mk, shape):
    compare(mk, [rn(*shape)])


# ---- recurrent --------------------------------------------------------------------------------
RNN_CASES = [
    ("LSTM", dict(proj_size=2, num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(num_layers=3, dropout=0.5)),
    ("RNN", dict(nonlinearity="relu", bidirectional=True, bias=False)),
]


@pytest.mark.parametrize("name,kw", RNN_CASES, ids=str)
def test_rnn_configurations_with_h0_in_eval(name, kw):
    d = 2 if kw.get("bidirectional") else 1
    layers = d * kw.get("num_layers", 1)
    h = kw.get("proj_size") or 5
    x = rn(3, 3, 4)  # (T, N, F) or (N, T, F): N = T = 3 either way
    state = [rn(layers, 3, h)] + ([rn(layers, 3, 5)] if name == "LSTM" else [])
    call = (lambda m, x, h, c: m(x, (h, c))) if name == "LSTM" else None
    compare(lambda nn: getattr(nn, name)(4, 5, **kw), [x, *state], call=call, train=False)
    compare(lambda nn: getattr(nn, name)(4, 5, **kw), [rn(4, 4)], train=False)  # unbatched


# ---- attention --------------------------------------------------------------------------------
def _mask_call(**masks):
    def call(m, q, k, v):
        lib = torch if isinstance(m, torch.nn.Module) else ember
        return m(
            q,
            k,
            v,
            **{n: lib.tensor(a) if isinstance(a, np.ndarray) else a for n, a in masks.items()},
        )

    return call


KPM = np.array([[False, False, False, True, True], [True, False, False, False, False]])


@pytest.mark.parametrize(
    "masks",
    [
        dict(key_padding_mask=KPM, average_attn_weights=False),
        dict(key_padding_mask=np.where(KPM, -1.5, 0.25)),
        dict(attn_mask=R.standard_normal((4, 3, 5)), key_padding_mask=np.where(KPM, -np.inf, 0.0)),
        dict(attn_mask=np.triu(np.ones((3, 5), bool), 1), need_weights=False),
    ],
    ids=["kpm-bool", "kpm-float", "mask-3d", "mask-bool"],
)
def test_multihead_attention_masks_and_kdim(masks):
    mk = lambda nn: nn.MultiheadAttention(6, 2, batch_first=True, kdim=3, vdim=4)  # noqa: E731
    compare(mk, [rn(2, 3, 6), rn(2, 5, 3), rn(2, 5, 4)], call=_mask_call(**masks), train=False)


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_layers_causal_and_padding(norm_first):
    kw = dict(dim_feedforward=8, dropout=0.0, batch_first=True, norm_first=norm_first)
    tgt, mem = rn(2, 4, 6), rn(2, 3, 6)
    causal = np.triu(np.ones((4, 4), bool), 1)

    def call(m, t, s):
        lib = torch if isinstance(m, torch.nn.Module) else ember
        pad = lib.tensor(np.array([[False, False, True], [False, False, False]]))
        return m(t, s, tgt_mask=lib.tensor(causal), memory_key_padding_mask=pad, tgt_is_causal=True)

    compare(lambda nn: nn.TransformerDecoderLayer(6, 2, activation="gelu", **kw), [tgt, mem], call)


# ---- embedding --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kw", [dict(padding_idx=-1), dict(max_norm=0.5, norm_type=1.0, padding_idx=2)], ids=str
)
def test_embedding_configurations(kw):
    idx = np.array([[0, 2, 4], [4, 1, 0]])
    compare(lambda nn: nn.Embedding(5, 3, **kw), [idx])


def _packed_call(lengths, batch_first, enforce_sorted):
    """Pack, run, and return the packed output's fields plus the padded output and lengths."""

    def call(m, x):
        u = torch.nn.utils.rnn if isinstance(m, torch.nn.Module) else enn.utils.rnn
        p = u.pack_padded_sequence(x, lengths, batch_first, enforce_sorted)
        out, h = m(p)
        padded = u.pad_packed_sequence(out, batch_first, padding_value=-2.0, total_length=6)
        return p, out, padded, h

    return call


@pytest.mark.parametrize(
    "name,kw,lengths,enforce_sorted",
    [
        ("LSTM", dict(proj_size=2, bidirectional=True), [5, 3, 3, 1], True),
        ("GRU", dict(batch_first=True, num_layers=2), [2, 5, 2, 4], False),
        ("RNN", dict(bidirectional=True, batch_first=True), [1, 3, 5, 3], False),
    ],
    ids=["LSTM", "GRU", "RNN"],
)
def test_packed_sequence_is_torchs_layout(name, kw, lengths, enforce_sorted):
    bf = kw.get("batch_first", False)
    x = rn(4, 5, 3) if bf else rn(5, 4, 3)
    call = _packed_call(lengths, bf, enforce_sorted)
    compare(lambda nn: getattr(nn, name)(3, 4, **kw), [x], call=call, train=False)


def test_pack_sequence_roundtrip_as_torch():
    seqs = [rn(2, 3), rn(4, 3), rn(1, 3)]
    tp = torch.nn.utils.rnn.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    ep = enn.utils.rnn.pack_sequence([ember.tensor(s) for s in seqs], enforce_sorted=False)
    for e, t in zip(ep, tp):
        close(e, t, "packed field")
    for e, s in zip(enn.utils.rnn.unpack_sequence(ep), seqs):
        np.testing.assert_array_equal(e.numpy(), s)


@pytest.mark.parametrize(
    "expr",
    [
        "LayerNorm([2, 3], bias=False)",
        "LayerNorm(4, elementwise_affine=False)",
        "Conv2d(2, 4, 3, padding='same', padding_mode='reflect', bias=False)",
        "AvgPool1d(3, count_include_pad=False)",
        "AvgPool1d((3,), stride=2, padding=(1,))",
        "GroupNorm(2, 4, affine=False)",
        "LSTM(3, 4, proj_size=2, bidirectional=True)",
        "Upsample(size=(3, 4), mode='bilinear', align_corners=True)",
        "MSELoss(reduction='sum')",
        "CrossEntropyLoss(label_smoothing=0.1, ignore_index=2)",
        "TripletMarginWithDistanceLoss(swap=True)",
    ],
)
def test_repr_and_attributes_match_torch(expr):
    t, e = eval("tnn." + expr), eval("enn." + expr)
    assert repr(e) == repr(t)
    for name in ("kernel_size", "stride", "padding", "normalized_shape"):
        assert getattr(e, name, None) == getattr(t, name, None), name


def test_pool_stride_empty_list_means_kernel_as_torch():
    x = rn(1, 2, 6, 6, 6)
    for d, shape in ((1, (1, 2, 6)), (2, (1, 2, 6, 6)), (3, (1, 2, 6, 6, 6))):
        for kind in ("max", "avg"):
            fn = f"{kind}_pool{d}d"
            e = getattr(enn.functional, fn)(
                ember.tensor(x.reshape(-1)[: np.prod(shape)].reshape(shape)), 2, []
            )
            t = getattr(tnn.functional, fn)(
                torch.tensor(x.reshape(-1)[: np.prod(shape)].reshape(shape)), 2, []
            )
            close(e, t, fn)


@pytest.mark.parametrize(
    "d,kw,shape",
    [
        (2, dict(kernel_size=2, stride=3), (1, 1, 2, 4)),  # one window missing half the plane
        (1, dict(kernel_size=1, stride=4), (3, 4)),
        (1, dict(kernel_size=3, stride=4, padding=1, count_include_pad=False), (2, 4)),
        (2, dict(kernel_size=3, padding=1), (2, 1, 1, 1)),  # one window over the plane: divisor 9
        (2, dict(kernel_size=3, padding=1, divisor_override=2), (2, 1, 1)),
        (3, dict(kernel_size=(2, 1, 3), stride=(1, 4, 4)), (1, 2, 3, 2, 3)),
    ],
)
def test_avg_pool_gradient_of_a_single_window(d, kw, shape):
    compare(lambda nn: getattr(nn, f"AvgPool{d}d")(**kw), [rn(*shape)])


def test_avg_pool3d_refuses_input_smaller_than_kernel_as_torch():
    x = np.ones((1, 2, 3, 4, 4))
    with pytest.raises(RuntimeError, match="smaller than kernel size"):
        tnn.AvgPool3d((4, 2, 2), padding=(2, 0, 0))(torch.tensor(x))
    with pytest.raises(ValueError, match="smaller than kernel size"):
        enn.AvgPool3d((4, 2, 2), padding=(2, 0, 0))(ember.tensor(x))


def test_random_pool_configurations():
    """Seeded random kernel/stride/padding/dilation/ceil_mode tuples (windows partly or wholly
    past the input included), forward and backward, against torch."""
    rng = np.random.default_rng(7)
    for _ in range(40):
        d = int(rng.integers(1, 4))
        k, s, dil = (tuple(int(v) for v in rng.integers(1, hi, d)) for hi in (5, 5, 3))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        x = rn(int(rng.integers(1, 3)), 2, *(int(v) for v in rng.integers(4, 8, d)))
        ceil = bool(rng.integers(0, 2))
        if rng.integers(0, 2):
            kw = dict(
                kernel_size=k,
                stride=s,
                padding=p,
                ceil_mode=ceil,
                count_include_pad=bool(rng.integers(0, 2)),
            )
            compare(lambda nn, kw=kw, d=d: getattr(nn, f"AvgPool{d}d")(**kw), [x])
        else:
            kw = dict(
                kernel_size=k,
                stride=s,
                padding=p,
                dilation=dil,
                ceil_mode=ceil,
                return_indices=True,
            )
            try:
                y = getattr(tnn.functional, f"max_pool{d}d")(torch.tensor(x), **kw)[0]
            except RuntimeError:  # output too small: ember's refusal is checked elsewhere
                continue
            if not torch.isinf(y).any():  # a window wholly in padding gets a garbage index in torch
                compare(lambda nn, kw=kw, d=d: getattr(nn, f"MaxPool{d}d")(**kw), [x])


@pytest.mark.parametrize(
    "ctor,masks",
    [
        (dict(), dict(key_padding_mask=KPM[:, :3], average_attn_weights=False)),
        (dict(kdim=3, vdim=4), dict(attn_mask=R.standard_normal((4, 4, 3)), need_weights=False)),
        (dict(add_bias_kv=True, add_zero_attn=True, bias=False), dict()),
    ],
    ids=["kpm", "kdim-mask3d", "bias_kv"],
)
def test_functional_multi_head_attention_forward(ctor, masks):
    def call(m, q, k, v):
        lib, fn = (
            (torch, tnn.functional) if isinstance(m, torch.nn.Module) else (ember, enn.functional)
        )
        sep = not m._qkv_same_embed_dim
        kw = {n: lib.tensor(a) if isinstance(a, np.ndarray) else a for n, a in masks.items()}
        w = (m.in_proj_weight, m.in_proj_bias, m.bias_k, m.bias_v, m.add_zero_attn, 0.0)
        sep_w = dict(q_proj_weight=m.q_proj_weight, k_proj_weight=m.k_proj_weight)
        return fn.multi_head_attention_forward(
            q, k, v, 6, 2, *w, m.out_proj.weight, m.out_proj.bias, training=False,
            use_separate_proj_weight=sep, v_proj_weight=m.v_proj_weight, **sep_w, **kw,
        )  # fmt: skip

    kd, vd = ctor.get("kdim", 6), ctor.get("vdim", 6)
    compare(
        lambda nn: nn.MultiheadAttention(6, 2, **ctor),
        [rn(4, 2, 6), rn(3, 2, kd), rn(3, 2, vd)],
        call,
        train=False,
    )
    with pytest.raises(ValueError, match="embedding dimension"):
        enn.functional.multi_head_attention_forward(*(ember.ones(4, 2, 6),) * 3, 8, 2, *(None,) * 8)


def test_conv3d_refuses_an_empty_kernel():
    with pytest.raises(RuntimeError, match="kernel size"):
        tnn.functional.conv3d(torch.ones(1, 2, 4, 4, 4), torch.ones(2, 2, 0, 3, 3))
    with pytest.raises(ValueError, match="empty kernel"):
        enn.functional.conv3d(ember.ones(1, 2, 4, 4, 4), ember.ones(2, 2, 0, 3, 3))


def test_packed_sequence_conversions_as_torch():
    x = rn(3, 2, 4).astype(np.float32)
    tp = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), [3, 2])
    ep = enn.utils.rnn.pack_padded_sequence(ember.tensor(x), [3, 2])
    for conv in (lambda p: p.double(), lambda p: p.to("cpu").float(), lambda p: p.cpu()):
        for e, t in zip(conv(ep), conv(tp)):
            assert (e is None) == (t is None)
            if t is not None:
                close(e, t, "field")
    assert ep.is_cuda is tp.is_cuda is False


def test_random_recurrent_and_attention_configurations():
    rng = np.random.default_rng(13)
    for _ in range(12):
        name = str(rng.choice(["RNN", "LSTM", "GRU"]))
        i, h, layers = (int(v) for v in rng.integers(1, 4, 3))
        kw = dict(num_layers=layers, bidirectional=bool(rng.integers(0, 2)))
        kw.update(batch_first=bool(rng.integers(0, 2)), bias=bool(rng.integers(0, 2)))
        if name == "LSTM" and h > 1 and rng.integers(0, 2):
            kw["proj_size"] = int(rng.integers(1, h))
        x = rn(int(rng.integers(1, 4)), int(rng.integers(1, 5)), i)
        compare(
            lambda nn, kw=kw, name=name, i=i, h=h: getattr(nn, name)(i, h, **kw), [x], train=False
        )
    for _ in range(12):
        heads = int(rng.integers(1, 4))
        e, n, lq, s = heads * int(rng.integers(1, 3)), *(int(v) for v in rng.integers(1, 5, 3))
        ctor = dict(kdim=int(rng.integers(1, 4)), vdim=int(rng.integers(1, 4)), batch_first=True)
        ctor.update(add_bias_kv=bool(rng.integers(0, 2)), add_zero_attn=bool(rng.integers(0, 2)))
        masks = dict(
            need_weights=bool(rng.integers(0, 2)), average_attn_weights=bool(rng.integers(0, 2))
        )
        kpm = rng.random((n, s)) > 0.6
        kpm[:, 0] = False
        if rng.integers(0, 2):
            masks["key_padding_mask"] = kpm
        if rng.integers(0, 2):
            masks["attn_mask"] = (
                rn(lq, s) > 1.0 if rng.integers(0, 2) else rn(n * heads, lq, s) > 1.0
            )
        q, k, v = rn(n, lq, e), rn(n, s, ctor["kdim"]), rn(n, s, ctor["vdim"])
        mk = lambda nn, e=e, heads=heads, ctor=ctor: nn.MultiheadAttention(e, heads, **ctor)  # noqa: E731
        compare(mk, [q, k, v], call=_mask_call(**masks), train=False)
