"""MultiheadAttention, LayerNorm, positional encodings and the Transformer layers: outputs and
every gradient against PyTorch with copied weights, plus NumPy checks and bad inputs."""

import copy

import numpy as np
import pytest

import ember
from ember import nn

F64 = dict(rtol=1e-9, atol=1e-10)


def _t(x, grad=True):
    return ember.tensor(np.asarray(x, dtype=np.float64), requires_grad=grad)


def _copy_weights(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _compare_grads(ours, theirs, tol=F64):
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert p.grad is not None, name
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), **tol, err_msg=name)


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_default_dtype(torch.float64)
    return torch


@pytest.fixture
def torch():
    t = _torch()
    yield t
    t.set_default_dtype(t.float32)


# ---- MultiheadAttention -------------------------------------------------------------------

MHA_CASES = [
    dict(batch_first=True),
    dict(batch_first=False),
    dict(batch_first=True, bias=False),
    dict(batch_first=True, kdim=6, vdim=10),
    dict(batch_first=False, kdim=12, vdim=5),
    dict(batch_first=True, add_bias_kv=True),
    dict(batch_first=False, add_zero_attn=True),
    dict(batch_first=False, add_bias_kv=True, add_zero_attn=True, kdim=6, vdim=10),
]


@pytest.mark.parametrize("cfg", MHA_CASES)
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("masks", ["none", "kpm_bool", "kpm_float", "attn2d", "attn3d", "both"])
def test_mha_matches_torch(cfg, need_weights, masks, torch, rng):
    e, h, n, lq, s = 12, 3, 2, 5, 7
    tm = torch.nn.MultiheadAttention(e, h, **cfg)
    om = nn.MultiheadAttention(e, h, dtype=np.float64, **cfg)
    _copy_weights(om, tm)
    kd, vd = cfg.get("kdim", e), cfg.get("vdim", e)
    bf = cfg["batch_first"]
    lay = (lambda b, ln, d: (b, ln, d)) if bf else (lambda b, ln, d: (ln, b, d))
    q = rng.standard_normal(lay(n, lq, e))
    k = rng.standard_normal(lay(n, s, kd))
    v = rng.standard_normal(lay(n, s, vd))
    kw = {}
    kpm_b = np.zeros((n, s), bool)
    kpm_b[0, -2:] = True
    if masks in ("kpm_bool", "both"):
        kw["key_padding_mask"] = kpm_b
    if masks == "kpm_float":
        kw["key_padding_mask"] = rng.standard_normal((n, s))
    if masks in ("attn2d", "both"):
        am = rng.random((lq, s)) > 0.7
        am[:, 0] = False
        kw["attn_mask"] = am
    if masks == "attn3d":
        kw["attn_mask"] = rng.standard_normal((n * h, lq, s))
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    tkw = {a: torch.from_numpy(b) for a, b in kw.items()}
    tout, tw = tm(tq, tk, tv, need_weights=need_weights, **tkw)
    oq, ok, ov = _t(q), _t(k), _t(v)
    out, w = om(oq, ok, ov, need_weights=need_weights, **kw)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
    if need_weights:
        np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), **F64)
    else:
        assert w is None
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    for ours, theirs in ((oq, tq), (ok, tk), (ov, tv)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), **F64)
    _compare_grads(om, tm)


def test_mha_self_attention_weights_per_head_and_unbatched(torch, rng):
    tm = torch.nn.MultiheadAttention(8, 2)
    om = nn.MultiheadAttention(8, 2, dtype=np.float64)
    _copy_weights(om, tm)
    x = rng.standard_normal((4, 8))  # unbatched (L, E)
    tx = torch.tensor(x, requires_grad=True)
    tout, tw = tm(tx, tx, tx, average_attn_weights=False)
    ox = _t(x)
    out, w = om(ox, ox, ox, average_attn_weights=False)
    assert out.shape == (4, 8) and w.shape == (2, 4, 4)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), **F64)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **F64)
    _compare_grads(om, tm)


def test_mha_causal_hint(torch, rng):
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    om = nn.MultiheadAttention(8, 2, batch_first=True, dtype=np.float64)
    _copy_weights(om, tm)
    x = rng.standard_normal((2, 6, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(6, dtype=np.float64)
    tx = torch.tensor(x, requires_grad=True)
    tout = tm(tx, tx, tx, attn_mask=torch.from_numpy(mask.numpy()), is_causal=True,
              need_weights=False)[0]  # fmt: skip
    ox = _t(x)
    out = om(ox, ox, ox, attn_mask=mask, is_causal=True, need_weights=False)[0]
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **F64)
    _compare_grads(om, tm)


def test_mha_bias_kv_parameters_and_init(torch):
    om = nn.MultiheadAttention(64, 4, add_bias_kv=True, add_zero_attn=True)
    tm = torch.nn.MultiheadAttention(64, 4, add_bias_kv=True, add_zero_attn=True)
    assert list(om.state_dict()) == list(tm.state_dict())
    assert om.bias_k.shape == om.bias_v.shape == (1, 1, 64) and om.add_zero_attn
    both = np.concatenate([om.bias_k.numpy().ravel(), om.bias_v.numpy().ravel()])
    assert abs(both.std() - 64**-0.5) < 0.35 * 64**-0.5  # xavier_normal_: std sqrt(2 / (E + E))
    plain = nn.MultiheadAttention(8, 2)
    assert plain.bias_k is None and plain.bias_v is None and not plain.add_zero_attn
    assert list(plain.state_dict()) == list(torch.nn.MultiheadAttention(8, 2).state_dict())


@pytest.mark.parametrize("kpm", [False, True])
@pytest.mark.parametrize("need_weights", [False, True])
@pytest.mark.parametrize("cfg", [dict(add_bias_kv=True), dict(add_zero_attn=True)], ids=str)
def test_mha_extra_keys_with_causal_mask(cfg, need_weights, kpm, torch, rng):
    """PyTorch runs a hinted causal mask as SDPA's top-left causal flag (which then hides the
    extra keys from the first rows) unless a key_padding_mask or need_weights makes it merge
    the padded mask; an unhinted causal mask is always the padded mask."""
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True, **cfg)
    om = nn.MultiheadAttention(8, 2, batch_first=True, dtype=np.float64, **cfg)
    _copy_weights(om, tm)
    x = rng.standard_normal((2, 5, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(5, dtype=np.float64).numpy()
    pad = np.where([[False] * 5, [False] * 3 + [True] * 2], -np.inf, 0.0)  # float like the mask
    kw = {"key_padding_mask": pad} if kpm else {}
    tkw = {a: torch.from_numpy(b) for a, b in kw.items()}
    for hint in (True, False):
        tx, ox = torch.tensor(x, requires_grad=True), _t(x)
        tout = tm(tx, tx, tx, attn_mask=torch.from_numpy(mask), is_causal=hint,
                  need_weights=need_weights, **tkw)[0]  # fmt: skip
        out = om(ox, ox, ox, attn_mask=mask, is_causal=hint, need_weights=need_weights, **kw)[0]
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
        out.sum().backward()
        tout.sum().backward()
        np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **F64)


def test_mha_extra_keys_unbatched(torch, rng):
    tm = torch.nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True)
    om = nn.MultiheadAttention(8, 2, add_bias_kv=True, add_zero_attn=True, dtype=np.float64)
    _copy_weights(om, tm)
    q, kv = rng.standard_normal((3, 8)), rng.standard_normal((4, 8))
    kpm = np.array([False, True, False, False])
    tq, tkv = torch.tensor(q, requires_grad=True), torch.tensor(kv, requires_grad=True)
    tout, tw = tm(tq, tkv, tkv, key_padding_mask=torch.from_numpy(kpm), average_attn_weights=False)
    oq, okv = _t(q), _t(kv)
    out, w = om(oq, okv, okv, key_padding_mask=kpm, average_attn_weights=False)
    assert w.shape == (2, 3, 6)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), **F64)
    (out.sum() + w.sum()).backward()
    (tout.sum() + tw.sum()).backward()
    np.testing.assert_allclose(okv.grad.numpy(), tkv.grad.numpy(), **F64)
    _compare_grads(om, tm)


def test_mha_fully_padded_rows_give_zero_attention(torch, rng):
    """Every key of batch element 1 padded: the attention output is 0, so the layer returns
    out_proj's bias (PyTorch's SDPA path does the same); with need_weights its output and
    weights are NaN there, as PyTorch's need_weights path gives (matched since parity6)."""
    m = nn.MultiheadAttention(8, 2, batch_first=True, dtype=np.float64)
    nn.init.normal_(m.out_proj.bias)
    x = _t(rng.standard_normal((2, 3, 8)))
    kpm = np.zeros((2, 3), bool)
    kpm[1] = True
    a, _ = m(x, x, x, key_padding_mask=kpm, need_weights=False)
    b, w = m(x, x, x, key_padding_mask=kpm, need_weights=True)
    np.testing.assert_allclose(a.numpy()[1], np.broadcast_to(m.out_proj.bias.numpy(), (3, 8)))
    np.testing.assert_allclose(a.numpy()[0], b.numpy()[0], **F64)
    assert np.isnan(b.numpy()[1]).all() and np.isnan(w.numpy()[1]).all()
    a.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    tm = torch.nn.MultiheadAttention(8, 2, batch_first=True)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    tx = torch.from_numpy(x.numpy())
    tout = tm(tx, tx, tx, key_padding_mask=torch.from_numpy(kpm), need_weights=False)[0]
    np.testing.assert_allclose(a.numpy(), tout.detach().numpy(), **F64)
    tout, tw = tm(tx, tx, tx, key_padding_mask=torch.from_numpy(kpm), need_weights=True)
    np.testing.assert_allclose(b.numpy(), tout.detach().numpy(), **F64)
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), **F64)


def test_mha_dropout_only_in_training():
    m = nn.MultiheadAttention(8, 2, dropout=0.5, batch_first=True)
    x = ember.randn(2, 6, 8)
    a = m(x, x, x, need_weights=False)[0].numpy()
    b = m(x, x, x, need_weights=False)[0].numpy()
    assert not np.allclose(a, b)
    m.eval()
    c = m(x, x, x, need_weights=False)[0].numpy()
    d, _ = m(x, x, x)
    np.testing.assert_array_equal(c, m(x, x, x, need_weights=False)[0].numpy())
    np.testing.assert_allclose(c, d.numpy(), rtol=1e-5, atol=1e-6)


def test_mha_bad_inputs():
    with pytest.raises(ValueError, match="divisible"):
        nn.MultiheadAttention(10, 3)
    m = nn.MultiheadAttention(8, 2, batch_first=True)
    x = ember.randn(2, 5, 8)
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        m(x, x, x, key_padding_mask=np.zeros((5, 2), bool))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        m(x, x, x, key_padding_mask=np.zeros((2, 4), bool))
    with pytest.raises(ValueError, match=r"\(L, S\)"):
        m(x, x, x, attn_mask=np.zeros((5, 4), bool))
    with pytest.raises(ValueError, match="N \\* num_heads"):
        m(x, x, x, attn_mask=np.zeros((2, 5, 5), bool))
    with pytest.raises(ValueError, match="2-D or 3-D"):
        m(x, x, x, attn_mask=np.zeros((1, 2, 5, 5), bool))
    with pytest.raises(ValueError, match="is_causal"):
        m(x, x, x, is_causal=True)
    with pytest.raises(ValueError, match="embed_dim"):
        m(ember.randn(2, 5, 6), x, x)
    with pytest.raises(ValueError, match="kdim/vdim"):
        m(x, ember.randn(2, 5, 6), ember.randn(2, 5, 6))
    with pytest.raises(ValueError, match="share batch"):
        m(x, ember.randn(2, 4, 8), ember.randn(2, 5, 8))
    with pytest.raises(ValueError, match="3-D"):
        m(ember.randn(1, 2, 5, 8), x, x)
    with pytest.raises(TypeError, match="bool or float"):
        m(x, x, x, key_padding_mask=np.zeros((2, 5), np.int64))


# ---- LayerNorm, positions ----------------------------------------------------------------


@pytest.mark.parametrize("affine", [True, False])
def test_layernorm_module_matches_torch(affine, torch, rng):
    tm = torch.nn.LayerNorm((3, 4), eps=1e-3, elementwise_affine=affine)
    om = nn.LayerNorm((3, 4), eps=1e-3, elementwise_affine=affine, dtype=np.float64)
    if affine:
        with torch.no_grad():
            tm.weight.normal_()
            tm.bias.normal_()
        _copy_weights(om, tm)
    x = rng.standard_normal((2, 3, 4))
    tx = torch.tensor(x, requires_grad=True)
    ox = _t(x)
    out, tout = om(ox), tm(tx)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **F64)
    if affine:
        _compare_grads(om, tm)
    assert list(om.state_dict()) == list(tm.state_dict())


def test_sinusoidal_table():
    pe = nn.sinusoidal_positional_encoding(50, 16, np.float64)
    pos, i = 7, 3
    assert pe[pos, 2 * i] == pytest.approx(np.sin(pos / 10000 ** (2 * i / 16)))
    assert pe[pos, 2 * i + 1] == pytest.approx(np.cos(pos / 10000 ** (2 * i / 16)))
    assert nn.sinusoidal_positional_encoding(4, 5).shape == (4, 5)  # odd width
    m = nn.PositionalEncoding(16, dropout=0.0, batch_first=True)
    x = ember.zeros(2, 5, 16)
    np.testing.assert_allclose(m(x).numpy()[1], pe[:5], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(m(x, offset=3).numpy()[0], pe[3:8], rtol=1e-6, atol=1e-7)
    assert "pe" not in m.state_dict()
    seq_first = nn.PositionalEncoding(16, dropout=0.0)
    np.testing.assert_allclose(seq_first(ember.zeros(5, 2, 16)).numpy()[:, 1], pe[:5], atol=1e-7)


def test_learned_positions_get_gradients():
    m = nn.LearnedPositionalEmbedding(10, 4, batch_first=True)
    x = ember.randn(3, 6, 4, requires_grad=True)
    m(x).sum().backward()
    g = m.weight.grad.numpy()
    np.testing.assert_allclose(g[:6], 3.0)
    np.testing.assert_allclose(g[6:], 0.0)
    with pytest.raises(ValueError, match="max_len"):
        m(ember.randn(1, 11, 4))
    with pytest.raises(ValueError, match="E = 4"):
        m(ember.randn(1, 5, 3))


def test_order_matters_only_with_positions():
    """Self-attention is permutation-equivariant: permuting the tokens permutes the output.
    With positional encodings added, it is not."""
    ember.manual_seed(0)
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    pos = nn.PositionalEncoding(16, dropout=0.0, batch_first=True)
    x = ember.randn(2, 9, 16)
    perm = np.random.default_rng(0).permutation(9)
    plain = layer(x).numpy()
    np.testing.assert_allclose(layer(x[:, perm]).numpy(), plain[:, perm], rtol=1e-5, atol=1e-5)
    with_pos = layer(pos(x)).numpy()
    moved = layer(pos(x[:, perm])).numpy()
    assert np.abs(moved - with_pos[:, perm]).max() > 1e-2


# ---- Transformer layers ------------------------------------------------------------------


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
@pytest.mark.parametrize("batch_first", [True, False])
def test_encoder_matches_torch(norm_first, activation, batch_first, torch, rng):
    kw = dict(dim_feedforward=24, dropout=0.0, activation=activation, batch_first=batch_first,
              norm_first=norm_first)  # fmt: skip
    tl = torch.nn.TransformerEncoderLayer(16, 4, **kw)
    te = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(16), enable_nested_tensor=False)
    oe = nn.TransformerEncoder(nn.TransformerEncoderLayer(16, 4, dtype=np.float64, **kw), 2,
                               norm=nn.LayerNorm(16, dtype=np.float64))  # fmt: skip
    _copy_weights(oe, te)
    n, length = 3, 6
    x = rng.standard_normal((n, length, 16) if batch_first else (length, n, 16))
    kpm = np.zeros((n, length), bool)
    kpm[1, -2:] = True
    mask = torch.nn.Transformer.generate_square_subsequent_mask(length)
    for kwargs in ({}, {"src_key_padding_mask": kpm}, {"mask": mask.numpy()}):
        tkw = {a: torch.from_numpy(b) for a, b in kwargs.items()}
        tx, ox = torch.tensor(x, requires_grad=True), _t(x)
        tout, out = te(tx, **tkw), oe(ox, **kwargs)
        np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
        g = rng.standard_normal(out.shape)
        oe.zero_grad()
        te.zero_grad()
        out.backward(g)
        tout.backward(torch.from_numpy(g))
        np.testing.assert_allclose(ox.grad.numpy(), tx.grad.numpy(), **F64)
        _compare_grads(oe, te)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_decoder_matches_torch(norm_first, activation, torch, rng):
    kw = dict(dim_feedforward=20, dropout=0.0, activation=activation, batch_first=True,
              norm_first=norm_first)  # fmt: skip
    td = torch.nn.TransformerDecoder(torch.nn.TransformerDecoderLayer(12, 3, **kw), 2)
    od = nn.TransformerDecoder(nn.TransformerDecoderLayer(12, 3, dtype=np.float64, **kw), 2)
    _copy_weights(od, td)
    tgt = rng.standard_normal((2, 5, 12))
    mem = rng.standard_normal((2, 7, 12))
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(5)
    mkpm = np.zeros((2, 7), bool)
    mkpm[0, -3:] = True
    tt, tm_ = torch.tensor(tgt, requires_grad=True), torch.tensor(mem, requires_grad=True)
    tout = td(tt, tm_, tgt_mask=tmask, memory_key_padding_mask=torch.from_numpy(mkpm))
    ot, om_ = _t(tgt), _t(mem)
    out = od(ot, om_, tgt_mask=tmask.numpy(), memory_key_padding_mask=mkpm)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.from_numpy(g))
    np.testing.assert_allclose(ot.grad.numpy(), tt.grad.numpy(), **F64)
    np.testing.assert_allclose(om_.grad.numpy(), tm_.grad.numpy(), **F64)
    _compare_grads(od, td)


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_full_transformer_matches_torch(torch, rng):
    tt = torch.nn.Transformer(8, 2, 1, 1, 16, dropout=0.0)
    ot = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, dtype=np.float64)
    assert list(ot.state_dict()) == list(tt.state_dict())
    _copy_weights(ot, tt)
    src, tgt = rng.standard_normal((6, 2, 8)), rng.standard_normal((4, 2, 8))
    mask = nn.Transformer.generate_square_subsequent_mask(4, dtype=np.float64)
    np.testing.assert_array_equal(
        mask.numpy(), torch.nn.Transformer.generate_square_subsequent_mask(4).numpy()
    )
    out = ot(_t(src), _t(tgt), tgt_mask=mask)
    tout = tt(torch.from_numpy(src), torch.from_numpy(tgt), tgt_mask=torch.from_numpy(mask.numpy()))
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), **F64)


def test_layers_are_independent_copies():
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    enc = nn.TransformerEncoder(layer, 2)
    w0 = enc.layers[0].linear1.weight
    w1 = enc.layers[1].linear1.weight
    assert w0 is not w1 and not np.shares_memory(w0.numpy(), w1.numpy())
    assert len(list(enc.parameters())) == 2 * len(list(layer.parameters()))
    copy.deepcopy(enc)


def test_transformer_bad_inputs():
    with pytest.raises(ValueError, match="activation"):
        nn.TransformerEncoderLayer(8, 2, activation="swish")
    with pytest.raises(ValueError, match="divisible"):
        nn.TransformerEncoderLayer(10, 4)
    layer = nn.TransformerEncoderLayer(8, 2, 16, batch_first=True)
    with pytest.raises(ValueError, match="key_padding_mask"):
        layer(ember.randn(2, 5, 8), src_key_padding_mask=np.zeros((2, 6), bool))
    with pytest.raises(ValueError, match="is_causal"):
        layer(ember.randn(2, 5, 8), is_causal=True)
    with pytest.raises(ValueError):
        nn.generate_square_subsequent_mask(-1)
