"""Round-43 fuzz of nn.functional and nn modules against torch: uint8 plain bilinear / bicubic
interpolate bit for bit, dtype refusals in torch's exception families; and seeded sweeps of
module options (attention, transformer decoder layers, embedding bags) kept as regressions.
Each compared value for value, gradient for gradient or exception family for exception
family."""

import numpy as np
import pytest
from conftest import same_error

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---- interpolate of uint8 images without antialias: torch's integer taps exactly ---------


def _u8_configs(n):
    # random sizes / scale factors; outputs of a size-1 dim are left out (torch 2.13: an
    # internal assert for 3 or 4 channels, wrong values for more than 4)
    rng = np.random.default_rng(43)
    out = []
    while len(out) < n:
        c = int(rng.choice([1, 3, 5]))
        h, w = (int(v) for v in rng.integers(1, 16, 2))
        if rng.random() < 0.5:
            size, sf = tuple(int(v) for v in rng.integers(2, 20, 2)), None
            osz = size
        else:
            size, sf = None, tuple(float(np.round(v, 2)) for v in rng.uniform(0.3, 3.5, 2))
            osz = (int(h * sf[0]), int(w * sf[1]))
        if min(osz) < 2:
            continue
        mode = str(rng.choice(["bilinear", "bicubic"]))
        out.append((c, h, w, size, sf, mode, bool(rng.integers(2)), int(rng.integers(1 << 30))))
    return out


@pytest.mark.parametrize("c, h, w, size, sf, mode, align_corners, seed", _u8_configs(48))
def test_interpolate_uint8_plain_is_bit_exact(c, h, w, size, sf, mode, align_corners, seed):
    a = np.random.default_rng(seed).integers(0, 256, (2, c, h, w)).astype(np.uint8)
    kw = dict(size=size, scale_factor=sf, mode=mode, align_corners=align_corners)
    want = TF.interpolate(torch.tensor(a), **kw).numpy()
    got = F.interpolate(ember.tensor(a), **kw)
    assert got.dtype == ember.uint8
    np.testing.assert_array_equal(got.numpy(), want)


def test_interpolate_uint8_bicubic_edges_sum_in_double():
    # a step at the border: the taps past the edge fold onto the edge pixel before rounding
    a = np.zeros((1, 1, 4, 6), np.uint8)
    a[..., 0] = 255
    a[..., 1] = 3
    for size in [(9, 13), (3, 4), (7, 17)]:
        for ac in (False, True):
            kw = dict(size=size, mode="bicubic", align_corners=ac)
            want = TF.interpolate(torch.tensor(a), **kw).numpy()
            np.testing.assert_array_equal(F.interpolate(ember.tensor(a), **kw).numpy(), want)


# ---- circular pad: crops within reach of the pads, as torch --------------------------------


@pytest.mark.parametrize("pad", [(2, -1), (1, -2), (-1, 2), (0, 3), (3, 0), (-1, -1)])
def test_circular_pad_with_crops_within_reach_as_torch(pad):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    xt = torch.tensor(x, requires_grad=True)
    xe = ember.tensor(x, requires_grad=True)
    yt, ye = TF.pad(xt, pad, mode="circular"), F.pad(xe, pad, mode="circular")
    np.testing.assert_array_equal(ye.numpy(), yt.detach().numpy())
    g = np.random.default_rng(2).standard_normal(tuple(yt.shape))
    (yt * torch.tensor(g)).sum().backward()
    (ye * ember.tensor(g)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)


# ---- dtype refusals in torch's exception families -----------------------------------------

_INTS = np.array([[1, 0, 2], [3, 1, 0]])

DTYPE_REFUSALS = {
    "cosine_similarity int64": lambda L: L.nn.functional.cosine_similarity(
        L.tensor(_INTS), L.tensor(_INTS)
    ),
    "local_response_norm int32": lambda L: L.nn.functional.local_response_norm(
        L.tensor(_INTS[None].astype(np.int32)), 2
    ),
    "local_response_norm uint8": lambda L: L.nn.functional.local_response_norm(
        L.tensor(_INTS[None].astype(np.uint8)), 2
    ),
    "pdist float16": lambda L: L.nn.functional.pdist(L.tensor(_INTS).to(L.float16)),
    "pdist bfloat16": lambda L: L.nn.functional.pdist(L.tensor(_INTS).to(L.bfloat16)),
    "affine_grid int theta": lambda L: L.nn.functional.affine_grid(
        L.tensor(np.ones((1, 2, 3), np.int64)), (1, 1, 2, 2), align_corners=False
    ),
}


@pytest.mark.parametrize("name", sorted(DTYPE_REFUSALS))
def test_dtype_refusals_as_torch(name):
    fn = DTYPE_REFUSALS[name]
    same_error(lambda: fn(ember), lambda: fn(torch))


def test_local_response_norm_of_int64_still_taken():
    got = F.local_response_norm(ember.tensor(_INTS[None]), 2)
    want = TF.local_response_norm(torch.tensor(_INTS[None]), 2).numpy()
    assert got.dtype == ember.float32
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)


# ---- seeded sweeps kept as regressions ----------------------------------------------------


def _copy_pair(tm, em):
    em.double()
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.double().state_dict().items()})
    assert list(em.state_dict()) == list(tm.state_dict())


def _compare(tm, em, inputs, kw, train, tol=1e-9):
    tm.train(train)
    em.train(train)
    ti = [torch.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    ei = [ember.tensor(x, requires_grad=x.dtype.kind == "f") for x in inputs]
    tkw = {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    ekw = {k: ember.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    to, eo = tm(*ti, **tkw), em(*ei, **ekw)
    to, eo = (to, eo) if isinstance(to, tuple) else ((to,), (eo,))
    rng = np.random.default_rng(0)
    ts = es = 0
    for a, b in zip(to, eo):
        assert (a is None) == (b is None)
        if a is None:
            continue
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=tol, atol=tol)
        g = rng.standard_normal(tuple(a.shape))
        ts, es = ts + (a * torch.tensor(g)).nansum(), es + (b * ember.tensor(g)).nansum()
    ts.backward()
    es.backward()
    for a, b in zip(ti, ei):
        if a.requires_grad:
            np.testing.assert_allclose(b.grad.numpy(), a.grad.numpy(), rtol=tol, atol=tol)
    tp = dict(tm.named_parameters())
    for n, p in em.named_parameters():
        if tp[n].grad is not None:
            np.testing.assert_allclose(p.grad.numpy(), tp[n].grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("seed", range(8))
def test_multihead_attention_options_sweep(seed):
    rng = np.random.default_rng(seed)
    e, nh = int(rng.choice([4, 8])), int(rng.choice([1, 2]))
    kd, vd = (None, None) if seed % 2 else (int(rng.integers(2, 6)), int(rng.integers(2, 6)))
    kw = dict(bias=bool(rng.integers(2)), add_bias_kv=bool(rng.integers(2)), kdim=kd, vdim=vd)
    kw.update(add_zero_attn=bool(rng.integers(2)), batch_first=bool(seed % 3))
    torch.manual_seed(seed)
    tm = torch.nn.MultiheadAttention(e, nh, **kw)
    em = ember.nn.MultiheadAttention(e, nh, **kw)
    _copy_pair(tm, em)
    b, tl, sl = 2, int(rng.integers(1, 5)), int(rng.integers(1, 5))
    sh = (lambda n, d: (b, n, d)) if kw["batch_first"] else (lambda n, d: (n, b, d))
    q, k, v = rng.standard_normal(sh(tl, e)), rng.standard_normal(sh(sl, kd or e)), None
    v = rng.standard_normal(sh(sl, vd or e))
    extra = {"need_weights": True, "average_attn_weights": bool(seed % 2)}
    extra["attn_mask"] = rng.random((tl, sl)) < 0.3 if seed % 4 else rng.standard_normal((tl, sl))
    pad = rng.random((b, sl)) < 0.3  # (of the attn_mask's kind, as torch wants)
    extra["key_padding_mask"] = pad if seed % 4 else np.where(pad, -np.inf, 0.0)
    _compare(tm, em, [q, k, v], extra, train=bool(seed % 2))


@pytest.mark.parametrize("seed", range(6))
def test_transformer_decoder_layer_sweep(seed):
    rng = np.random.default_rng(100 + seed)
    d, nh = 8, int(rng.choice([1, 2]))
    act = [torch.tanh, "gelu", "relu"][seed % 3]
    eact = [ember.tanh, "gelu", "relu"][seed % 3]
    kw = dict(dim_feedforward=6, dropout=0.0, batch_first=bool(seed % 2),
              norm_first=bool(seed // 3), bias=bool(seed % 4))  # fmt: skip
    torch.manual_seed(seed)
    tm = torch.nn.TransformerDecoderLayer(d, nh, activation=act, **kw)
    em = ember.nn.TransformerDecoderLayer(d, nh, activation=eact, **kw)
    _copy_pair(tm, em)
    b, t, s = 2, 4, 3
    sh = (lambda n: (b, n, d)) if kw["batch_first"] else (lambda n: (n, b, d))
    extra = {"tgt_mask": np.triu(np.full((t, t), -np.inf), 1), "tgt_is_causal": True,
             "memory_key_padding_mask": np.array([[False] * s, [False, True, True]])}  # fmt: skip
    _compare(tm, em, [rng.standard_normal(sh(t)), rng.standard_normal(sh(s))], extra, seed % 2 == 1)


@pytest.mark.parametrize("seed", range(10))
def test_embedding_bag_options_sweep(seed):
    rng = np.random.default_rng(200 + seed)
    n, d = 7, 3
    mode = ["sum", "mean", "max"][seed % 3]
    kw = dict(mode=mode, include_last_offset=bool(seed % 2), padding_idx=[None, 2, -1][seed % 3])
    if seed % 4 == 0:
        kw.update(max_norm=1.0, norm_type=float(rng.choice([1.0, 2.0])))
    if mode != "max" and seed % 5 == 1:
        kw["scale_grad_by_freq"] = True
    torch.manual_seed(seed)
    tm, em = torch.nn.EmbeddingBag(n, d, **kw), ember.nn.EmbeddingBag(n, d, **kw)
    _copy_pair(tm, em)
    idx = rng.integers(0, n, 8)
    offs = np.sort(rng.integers(0, 9, 3))
    offs[0] = 0
    if kw["include_last_offset"]:  # (one short of the end: torch 2.13 disagrees with itself)
        offs = np.append(offs, 8)
    extra = {}
    if mode == "sum" and seed % 2 == 0:
        extra["per_sample_weights"] = rng.standard_normal(8)
    _compare(tm, em, [idx, offs], extra, train=True)
    np.testing.assert_allclose(em.weight.detach().numpy(), tm.weight.detach().numpy())
