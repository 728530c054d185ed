"""Attention and transformer parity with PyTorch on random configurations: values, attention
weights and gradients (inputs, float masks, every parameter) in float32 and float64, torch's
weights copied into ember; plus the cases a differential sweep found ember getting wrong
(regressions: attn_mask with is_causal in torch's fused kernel, its eval-mode fast paths' NaN
rows, the encoder's one mask-dtype warning, static_k / static_v, float mask dtypes)."""

import random
import warnings

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.usefixtures("torch_one_thread")

DTYPES = [(np.float64, torch.float64, 1e-9), (np.float32, torch.float32, 3e-5)]


def _et(t, grad=None):
    """An ember copy of a torch tensor (requiring grad as it does, unless told)."""
    rg = t.requires_grad if grad is None else grad
    return ember.tensor(t.detach().numpy(), requires_grad=rg)


def _close(a, b, tol, what=""):
    a = np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, what
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=what)
    np.testing.assert_allclose(np.nan_to_num(a), np.nan_to_num(b), rtol=tol, atol=tol, err_msg=what)


def _grad(t):
    return None if t.grad is None else t.grad.numpy() if hasattr(t.grad, "numpy") else t.grad


def _load(em, tm):
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()}, strict=True)


def _param_grads(em, tm, tol):
    ep = dict(em.named_parameters())
    assert set(ep) == {n for n, _ in tm.named_parameters()}
    for n, p in tm.named_parameters():
        g = ep[n].grad
        want = np.zeros(p.shape) if p.grad is None else p.grad.numpy()
        _close(np.zeros(p.shape) if g is None else g.numpy(), want, tol, n)


# ---- scaled_dot_product_attention ----------------------------------------------------------


def _sdpa_case(seed):
    r = random.Random(seed)
    nd = r.choice([3, 4, 5])
    lq, lk = r.randint(1, 5), r.randint(1, 5)
    e = r.randint(1, 5)
    ev = r.choice([e, r.randint(1, 6)])
    batch = tuple(r.randint(1, 3) for _ in range(nd - 2))
    kb = tuple(1 if r.random() < 0.3 else b for b in batch)  # broadcast batch dims
    mask, causal = None, False
    kind = r.choice(["bool", "float", "causal", "none"])
    if kind in ("bool", "float"):
        full = batch + (lq, lk)
        nd_m = r.randint(1, len(full))
        ms = tuple(1 if r.random() < 0.4 else d for d in full[-nd_m:])
        if kind == "bool":
            mask = torch.rand(ms) < 0.7
        else:
            mask = torch.randn(ms).masked_fill(torch.rand(ms) < 0.3, float("-inf"))
    causal = kind == "causal"
    scale = r.choice([None, 0.3, 2.0])
    return (batch + (lq, e), kb + (lk, e), kb + (lk, ev)), mask, causal, scale


def _sdpa_both(shapes, mask, causal, scale, dt, tdt, tol, gqa=False):
    torch.manual_seed(0)
    q, k, v = (torch.randn(s, dtype=tdt, requires_grad=True) for s in shapes)
    tm = mask
    if mask is not None and mask.is_floating_point():
        tm = mask.to(tdt).requires_grad_(True)
    kw = dict(is_causal=causal, scale=scale, enable_gqa=gqa)
    to = TF.scaled_dot_product_attention(q, k, v, attn_mask=tm, **kw)
    go = torch.randn_like(to)
    to.backward(go)
    eq, ek, ev = _et(q), _et(k), _et(v)
    em = None if tm is None else _et(tm)
    eo = F.scaled_dot_product_attention(eq, ek, ev, attn_mask=em, **kw)
    eo.backward(ember.tensor(go.numpy()))
    _close(eo.numpy(), to, tol, "output")
    for name, a, b in (("dq", eq, q), ("dk", ek, k), ("dv", ev, v)):
        _close(a.grad.numpy(), b.grad, 10 * tol, name)
    if em is not None and em.requires_grad:
        assert (em.grad is None) == (tm.grad is None)
        if tm.grad is not None:
            _close(em.grad.numpy(), tm.grad, 10 * tol, "dmask")


@pytest.mark.parametrize("dt,tdt,tol", DTYPES)
@pytest.mark.parametrize("seed", range(12))
def test_sdpa_random_configurations(seed, dt, tdt, tol):
    shapes, mask, causal, scale = _sdpa_case(seed)
    _sdpa_both(shapes, mask, causal, scale, dt, tdt, tol)


@pytest.mark.parametrize("dt,tdt,tol", DTYPES)
@pytest.mark.parametrize(
    "mshape", [(3, 5), (1, 5), (3, 1), (2, 1, 3, 5), (1, 4, 1, 5), (2, 4, 3, 5), (1, 1, 1, 1)]
)
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_mask_with_causal_in_fused_kernel(mshape, kind, dt, tdt, tol):
    # torch's fused CPU kernel (4-D, one batch/head shape, one head dim, no dropout, a 2-D or
    # broadcast 4-D mask) applies attn_mask AND is_causal (top-left); ember raised
    torch.manual_seed(1)
    mask = torch.rand(mshape) < 0.7 if kind == "bool" else torch.randn(mshape)
    mask = mask if kind == "bool" else mask.masked_fill(torch.rand(mshape) < 0.3, float("-inf"))
    shapes = ((2, 4, 3, 6), (2, 4, 5, 6), (2, 4, 5, 6))
    if kind == "float":  # a mask requiring grad keeps torch off its fused kernel
        torch.manual_seed(0)
        q, k, v = (torch.randn(s, dtype=tdt) for s in shapes)
        m = mask.to(tdt)
        to = TF.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=True)
        eo = F.scaled_dot_product_attention(_et(q), _et(k), _et(v), _et(m), is_causal=True)
        _close(eo.numpy(), to, tol)
    else:
        _sdpa_both(shapes, mask, True, None, dt, tdt, tol)


def test_sdpa_mask_with_causal_fused_under_gqa():
    _sdpa_both(
        ((2, 4, 3, 6), (2, 2, 5, 6), (2, 2, 5, 6)),
        torch.rand(3, 5) < 0.7,
        True,
        None,
        np.float64,
        torch.float64,
        1e-9,
        gqa=True,
    )


@pytest.mark.parametrize(
    "shapes,mshape,grad",
    [
        (((2, 3, 4), (2, 5, 4), (2, 5, 4)), (3, 5), False),  # 3-D: math path
        (((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)), (3, 5), False),  # Ev != E
        (((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)), (2, 3, 5), False),  # 3-D mask
        (((1, 2, 3, 4), (1, 1, 5, 4), (1, 1, 5, 4)), (3, 5), False),  # broadcast heads
        (((1, 2, 3, 4), (1, 2, 5, 4), (1, 2, 5, 4)), (3, 5), True),  # mask needs grad
    ],
)
def test_sdpa_mask_with_causal_raises_outside_fused_kernel(shapes, mshape, grad):
    q, k, v = (torch.randn(s) for s in shapes)
    m = torch.zeros(mshape, requires_grad=grad)
    with pytest.raises(RuntimeError):
        TF.scaled_dot_product_attention(q, k, v, attn_mask=m, is_causal=True)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(_et(q), _et(k), _et(v), _et(m), is_causal=True)


def test_sdpa_mask_with_causal_raises_with_dropout():
    q = torch.randn(1, 2, 3, 4)
    m = torch.ones(3, 3, dtype=torch.bool)
    with pytest.raises(RuntimeError):
        TF.scaled_dot_product_attention(q, q, q, attn_mask=m, is_causal=True, dropout_p=0.5)
    with pytest.raises(ValueError, match="not both"):
        F.scaled_dot_product_attention(_et(q), _et(q), _et(q), _et(m), 0.5, is_causal=True)


@pytest.mark.parametrize(
    "shapes,mshape",
    [
        (((2, 0, 3), (2, 4, 3), (2, 4, 5)), (0, 4)),
        (((2, 3, 3), (2, 0, 3), (2, 0, 5)), (3, 0)),
        (((1, 2, 3, 3), (1, 2, 0, 3), (1, 2, 0, 3)), (3, 0)),
    ],
)
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_empty_lengths(shapes, mshape, causal):
    # torch returns an empty attention unchecked (mask with is_causal allowed) and gives its
    # float mask no gradient; ember gave zeros or raised
    _sdpa_both(shapes, torch.randn(mshape), causal, None, np.float64, torch.float64, 1e-12)


def test_sdpa_float_mask_dtype_rule():
    q32 = torch.randn(2, 3, 4)
    m64 = torch.zeros(3, 3, dtype=torch.float64)
    with pytest.raises(RuntimeError):
        TF.scaled_dot_product_attention(q32, q32, q32, attn_mask=m64)
    e = _et(q32)
    with pytest.raises(TypeError, match="attn_mask dtype"):
        F.scaled_dot_product_attention(e, e, e, attn_mask=_et(m64))
    # float32 masks go with float64 queries, and NumPy arrays are converted as any input
    q64, m32 = q32.double(), torch.randn(3, 3)
    to = TF.scaled_dot_product_attention(q64, q64, q64, attn_mask=m32)
    e64 = _et(q64)
    _close(F.scaled_dot_product_attention(e64, e64, e64, attn_mask=_et(m32)).numpy(), to, 1e-12)
    out = F.scaled_dot_product_attention(e, e, e, attn_mask=np.zeros((3, 3)))
    _close(out.numpy(), TF.scaled_dot_product_attention(q32, q32, q32), 1e-6)


@pytest.mark.parametrize("mask", ["bool", "float", "causal"])
def test_sdpa_fully_masked_rows(mask):
    q = torch.randn(2, 2, 3, 4, dtype=torch.float64, requires_grad=True)
    k = torch.randn(2, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    if mask == "causal":  # torch's top-left causal over Lq > Lk leaves no row dead here
        _sdpa_both(
            (q.shape, (2, 2, 2, 4), (2, 2, 2, 4)), None, True, None, np.float64, torch.float64, 1e-9
        )
        return
    m = torch.ones(3, 4, dtype=torch.bool)
    m[1] = False
    if mask == "float":
        m = torch.zeros(3, 4, dtype=torch.float64).masked_fill(~m, float("-inf"))
    _sdpa_both((q.shape, k.shape, k.shape), m, False, None, np.float64, torch.float64, 1e-9)


def test_sdpa_dropout_seeded_and_unbiased():
    q, k = ember.randn(4, 2, 64, 8), ember.randn(4, 2, 64, 8)
    v = ember.ones(4, 2, 64, 8)
    ember.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3).numpy()
    ember.manual_seed(3)
    b = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3).numpy()
    np.testing.assert_array_equal(a, b)
    # v = 1: each output is the kept weights' sum / (1 - p), 1 in expectation
    assert abs(a.mean() - 1.0) < 0.02 and a.std() > 0.05
    assert np.all(F.scaled_dot_product_attention(q, k, v, dropout_p=1.0).numpy() == 0)


# ---- MultiheadAttention ----------------------------------------------------------------------


def _mha_case(seed):
    r = random.Random(seed)
    h = r.choice([1, 2, 3])
    cfg = dict(
        embed_dim=h * r.randint(1, 3),
        num_heads=h,
        bias=r.random() < 0.7,
        add_bias_kv=r.random() < 0.3,
        add_zero_attn=r.random() < 0.3,
        kdim=r.choice([None, r.randint(1, 5)]),
        vdim=r.choice([None, r.randint(1, 5)]),
        batch_first=r.random() < 0.5,
    )
    run = dict(
        n=r.randint(1, 3),
        lq=r.randint(1, 4),
        s=r.randint(1, 4),
        unbatched=r.random() < 0.2,
        training=r.random() < 0.5,
        need=r.random() < 0.6,
        avg=r.random() < 0.5,
        kpm=r.choice([None, "bool", "float"]),
        am=r.choice([None, "bool", "float", "bool3", "causal"]),
    )
    return cfg, run


@pytest.mark.parametrize("dt,tdt,tol", DTYPES)
@pytest.mark.parametrize("seed", range(16))
def test_mha_random_configurations(seed, dt, tdt, tol):
    cfg, c = _mha_case(seed)
    torch.manual_seed(seed)
    tm = torch.nn.MultiheadAttention(dropout=0.0, dtype=tdt, **cfg)
    em = enn.MultiheadAttention(dropout=0.0, dtype=dt, **cfg)
    _load(em, tm)
    tm.train(c["training"])
    em.train(c["training"])
    e, n, lq, s, h = cfg["embed_dim"], c["n"], c["lq"], c["s"], cfg["num_heads"]

    def shape(length, d):
        if c["unbatched"]:
            return (length, d)
        return (n, length, d) if cfg["batch_first"] else (length, n, d)

    q = torch.randn(shape(lq, e), dtype=tdt, requires_grad=True)
    k = torch.randn(shape(s, cfg["kdim"] or e), dtype=tdt, requires_grad=True)
    v = torch.randn(shape(s, cfg["vdim"] or e), dtype=tdt, requires_grad=True)
    kshape = (s,) if c["unbatched"] else (n, s)
    kpm = {
        None: None,
        "bool": torch.rand(kshape) < 0.3,
        "float": torch.randn(kshape, dtype=tdt).masked_fill(torch.rand(kshape) < 0.3, -np.inf),
    }[c["kpm"]]
    am, causal = None, False
    if c["am"] == "bool":
        am = torch.rand(lq, s) < 0.3
    elif c["am"] == "float":
        am = torch.randn(lq, s, dtype=tdt).masked_fill(torch.rand(lq, s) < 0.3, -np.inf)
    elif c["am"] == "bool3":
        am = torch.rand((1 if c["unbatched"] else n) * h, lq, s) < 0.3
    elif c["am"] == "causal" and lq == s:
        am, causal = torch.nn.Transformer.generate_square_subsequent_mask(lq, dtype=tdt), True
    if kpm is not None and am is not None and kpm.dtype != am.dtype:
        kpm = (
            torch.zeros(kshape, dtype=tdt).masked_fill(kpm, -np.inf)
            if kpm.dtype == torch.bool
            else kpm < -1
        )
    kw = dict(need_weights=c["need"], average_attn_weights=c["avg"], is_causal=causal)
    to, tw = tm(q, k, v, key_padding_mask=kpm, attn_mask=am, **kw)
    go = torch.randn_like(to)
    to.backward(go)
    eq, ek, ev = _et(q), _et(k), _et(v)
    ekpm = None if kpm is None else _et(kpm)
    eam = None if am is None else _et(am)
    eo, ew = em(eq, ek, ev, key_padding_mask=ekpm, attn_mask=eam, **kw)
    eo.backward(ember.tensor(go.numpy()))
    _close(eo.numpy(), to, tol, "output")
    assert (ew is None) == (tw is None)
    if tw is not None:
        _close(ew.numpy(), tw, tol, "weights")
    for name, a, b in (("dq", eq, q), ("dk", ek, k), ("dv", ev, v)):
        _close(a.grad.numpy(), b.grad, 10 * tol, name)
    _param_grads(em, tm, 10 * tol)


def _fast_pair(dtype=torch.float32, bias=True, heads=2):
    torch.manual_seed(0)
    tm = torch.nn.MultiheadAttention(4, heads, batch_first=True, bias=bias, dtype=dtype).eval()
    em = enn.MultiheadAttention(
        4, heads, batch_first=True, bias=bias, dtype=np.dtype(str(dtype)[6:])
    )
    _load(em, tm.eval())
    em.eval()
    return tm, em


FULL_KPM = torch.tensor([[True, True, True], [False, True, False]])


@pytest.mark.parametrize(
    "masks",
    [
        dict(key_padding_mask=FULL_KPM),
        dict(attn_mask=torch.tensor([[True] * 3, [False, True, False], [False] * 3])),
        dict(
            attn_mask=torch.eye(3, dtype=torch.bool)[None]
            .repeat(4, 1, 1)
            .index_fill(1, torch.tensor([0]), True)
        ),
        dict(key_padding_mask=FULL_KPM, attn_mask=torch.eye(3, dtype=torch.bool)),
    ],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mha_eval_fast_path_gives_nan_rows(masks, dtype):
    # torch's eval fast path (batch_first, self-attention, even heads, no grad, bool masks)
    # gives a query with no key left NaN also without need_weights; ember gave 0
    tm, em = _fast_pair(dtype)
    x = torch.randn(2, 3, 4, dtype=dtype)
    ex = _et(x)
    em_masks = {k: _et(v) for k, v in masks.items()}
    with torch.no_grad():
        to, _ = tm(x, x, x, need_weights=False, **masks)
    with ember.no_grad():
        eo, _ = em(ex, ex, ex, need_weights=False, **em_masks)
    assert torch.isnan(to).any()
    _close(eo.numpy(), to, 1e-5)
    # with gradients on (or in training, or float masks) torch's other path gives 0 there
    to2, _ = tm(x, x, x, need_weights=False, **masks)
    eo2, _ = em(ex, ex, ex, need_weights=False, **em_masks)
    assert not torch.isnan(to2).any()
    _close(eo2.numpy(), to2, 1e-5)


def test_mha_fast_path_conditions_keep_zero_rows():
    for tm, em in (_fast_pair(bias=False), _fast_pair(heads=1)):
        x = torch.randn(2, 3, 4)
        with torch.no_grad():
            to, _ = tm(x, x, x, key_padding_mask=FULL_KPM, need_weights=False)
        with ember.no_grad():
            ex = _et(x)
            eo, _ = em(ex, ex, ex, key_padding_mask=_et(FULL_KPM), need_weights=False)
        _close(eo.numpy(), to, 1e-5)
    tm, em = _fast_pair()
    fk = torch.zeros(2, 3).masked_fill(FULL_KPM, -np.inf)
    with torch.no_grad():
        to, _ = tm(x, x, x, key_padding_mask=fk, need_weights=False)
    with ember.no_grad():
        eo, _ = em(ex, ex, ex, key_padding_mask=_et(fk), need_weights=False)
    assert not np.isnan(eo.numpy()).any()
    _close(eo.numpy(), to, 1e-5)


def test_mha_fast_path_ignores_is_causal():
    tm, em = _fast_pair()
    x = torch.randn(2, 3, 4)
    ex = _et(x)
    with torch.no_grad():
        to, _ = tm(x, x, x, is_causal=True, need_weights=False)
    with ember.no_grad():
        eo, _ = em(ex, ex, ex, is_causal=True, need_weights=False)
    _close(eo.numpy(), to, 1e-5)
    with pytest.raises(RuntimeError):  # off the fast path: the hint needs its mask
        tm(x, x, x, is_causal=True, need_weights=False)
    with pytest.raises(ValueError, match="is_causal"):
        em(ex, ex, ex, is_causal=True, need_weights=False)


def _mhaf_args(seed, sep, dt=torch.float64):
    torch.manual_seed(seed)
    e, h, n, lq, s, s2 = 4, 2, 2, 3, 4, 5
    r = lambda *sh: torch.randn(*sh, dtype=dt, requires_grad=True)  # noqa: E731
    q, k, v = r(lq, n, e), r(s, n, e), r(s, n, e)
    w, b, wo, bo = r(3 * e, e), r(3 * e), r(e, e), r(e)
    sk, sv = r(n * h, s2, e // h), r(n * h, s2, e // h)
    return dict(q=q, k=k, v=v, w=w, b=b, wo=wo, bo=bo, sk=sk, sv=sv, e=e, h=h, n=n, s2=s2)


@pytest.mark.parametrize("sep", [False, True])
@pytest.mark.parametrize("which", ["k", "v", "kv"])
@pytest.mark.parametrize("need", [False, True])
@pytest.mark.parametrize("zero_attn", [False, True])
def test_mha_forward_static_kv(sep, which, need, zero_attn):
    # static_k / static_v (N * H, S, head_dim) replace the projected keys / values; ember
    # raised NotImplementedError
    a = _mhaf_args(0, sep)
    e, h = a["e"], a["h"]
    sk = a["sk"] if "k" in which else None
    sv = a["sv"] if "v" in which else None
    if which != "kv":  # one static tensor: its length must match the projected other's
        st = torch.randn(a["n"] * h, 4, e // h, dtype=torch.float64, requires_grad=True)
        sk, sv = (st, None) if which == "k" else (None, st)
    kpm = torch.rand(a["n"], 5 if which == "kv" else 4) < 0.3

    def call(f, conv, t):
        w = t["w"]
        return f(
            t["q"],
            t["k"],
            t["v"],
            e,
            h,
            None if sep else w,
            t["b"],
            None,
            None,
            zero_attn,
            0.0,
            t["wo"],
            t["bo"],
            training=False,
            key_padding_mask=conv(kpm),
            need_weights=need,
            use_separate_proj_weight=sep,
            q_proj_weight=w[:e] if sep else None,
            k_proj_weight=w[e : 2 * e] if sep else None,
            v_proj_weight=w[2 * e :] if sep else None,
            static_k=t["sk"],
            static_v=t["sv"],
        )

    tt = dict(a, sk=sk, sv=sv)
    tt = {k: v for k, v in tt.items() if isinstance(v, torch.Tensor) or v is None}
    et = {k: None if v is None else _et(v) for k, v in tt.items()}
    to, tw = call(TF.multi_head_attention_forward, lambda m: m, tt)
    eo, ew = call(F.multi_head_attention_forward, _et, et)
    go = torch.randn_like(to)
    to.backward(go)
    eo.backward(ember.tensor(go.numpy()))
    _close(eo.numpy(), to, 1e-9)
    if need:
        _close(ew.numpy(), tw, 1e-9)
    for name, t in tt.items():
        if t is None:
            continue
        want = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        g = et[name].grad
        _close(np.zeros(t.shape) if g is None else g.numpy(), want, 1e-8, name)


def test_mha_forward_static_kv_bad_input():
    a = _mhaf_args(0, False)
    e, h = a["e"], a["h"]
    bias_k = torch.randn(1, 1, e)
    base = (a["q"], a["k"], a["v"], e, h, a["w"], a["b"])
    for sk, bk, tail in ((a["sk"], bias_k, {}), (a["sk"][:3], None, {})):
        with pytest.raises(AssertionError):
            TF.multi_head_attention_forward(
                *base,
                bk,
                None if bk is None else bias_k,
                False,
                0.0,
                a["wo"],
                a["bo"],
                static_k=sk,
                **tail,
            )
        with pytest.raises(ValueError, match="static"):
            F.multi_head_attention_forward(
                *map(lambda t: _et(t) if isinstance(t, torch.Tensor) else t, base),
                None if bk is None else _et(bk),
                None if bk is None else _et(bias_k),
                False,
                0.0,
                _et(a["wo"]),
                _et(a["bo"]),
                static_k=_et(sk),
            )


def test_mha_dropout_train_vs_eval():
    m = enn.MultiheadAttention(16, 2, dropout=0.4, batch_first=True)
    x = ember.randn(8, 32, 16)
    _, w = m(x, x, x, average_attn_weights=False)
    zero = (w.numpy() == 0).mean()
    assert 0.37 < zero < 0.43  # the returned weights are the dropped ones, as torch's
    m.eval()
    _, w = m(x, x, x, average_attn_weights=False)
    assert (w.numpy() == 0).mean() == 0
    np.testing.assert_allclose(w.numpy().sum(-1), 1, rtol=1e-5)


# ---- transformer layers and stacks ----------------------------------------------------------


def _tr_case(seed):
    r = random.Random(seed)
    h = r.choice([1, 2])
    return dict(
        d=h * r.randint(1, 3),
        h=h,
        ff=r.randint(1, 6),
        act=r.choice(["relu", "gelu", "callable"]),
        bias=r.random() < 0.7,
        norm_first=r.random() < 0.5,
        batch_first=r.random() < 0.5,
        eps=r.choice([1e-5, 1e-3]),
        kind=r.choice(["enc", "dec", "encstack", "decstack", "full"]),
        n=r.randint(1, 3),
        ls=r.randint(1, 4),
        lt=r.randint(1, 4),
        training=r.random() < 0.4,
        kpm=r.random() < 0.5,
        smask=r.random() < 0.4,
        final_norm=r.random() < 0.5,
        layers=r.randint(1, 2),
    )


def _tr_models(c, tdt, dt):
    ta = {"relu": "relu", "gelu": "gelu", "callable": TF.silu}[c["act"]]
    ea = {"relu": "relu", "gelu": "gelu", "callable": F.silu}[c["act"]]
    kw = dict(
        dim_feedforward=c["ff"],
        dropout=0.0,
        layer_norm_eps=c["eps"],
        batch_first=c["batch_first"],
        norm_first=c["norm_first"],
        bias=c["bias"],
    )
    d, h, kind = c["d"], c["h"], c["kind"]
    if kind == "full":
        args = (d, h, c["layers"], c["layers"])
        return (
            torch.nn.Transformer(*args, activation=ta, dtype=tdt, **kw),
            enn.Transformer(*args, activation=ea, dtype=dt, **kw),
        )
    tcls, ecls = (
        (torch.nn.TransformerEncoderLayer, enn.TransformerEncoderLayer)
        if kind.startswith("enc")
        else (torch.nn.TransformerDecoderLayer, enn.TransformerDecoderLayer)
    )
    tl, el = tcls(d, h, activation=ta, dtype=tdt, **kw), ecls(d, h, activation=ea, dtype=dt, **kw)
    if not kind.endswith("stack"):
        return tl, el
    tn = torch.nn.LayerNorm(d, dtype=tdt) if c["final_norm"] else None
    en = enn.LayerNorm(d, dtype=dt) if c["final_norm"] else None
    if kind == "encstack":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch's note on enable_nested_tensor
            tm = torch.nn.TransformerEncoder(tl, c["layers"], norm=tn, enable_nested_tensor=False)
        return tm, enn.TransformerEncoder(el, c["layers"], norm=en, enable_nested_tensor=False)
    return (
        torch.nn.TransformerDecoder(tl, c["layers"], norm=tn),
        enn.TransformerDecoder(el, c["layers"], norm=en),
    )


@pytest.mark.parametrize(
    "dt,tdt,tol", [(np.float64, torch.float64, 1e-8), (np.float32, torch.float32, 5e-5)]
)
@pytest.mark.parametrize("seed", range(14))
def test_transformer_random_configurations(seed, dt, tdt, tol):
    c = _tr_case(seed)
    torch.manual_seed(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's note on enable_nested_tensor
        tm, em = _tr_models(c, tdt, dt)
    _load(em, tm)
    tm.train(c["training"])
    em.train(c["training"])
    n, d, bf = c["n"], c["d"], c["batch_first"]

    def seq(length):
        return torch.randn((n, length, d) if bf else (length, n, d), dtype=tdt, requires_grad=True)

    src, tgt = seq(c["ls"]), seq(c["lt"])
    kpm = None
    if c["kpm"]:
        kpm = torch.rand(n, c["ls"]) < 0.3
        kpm[:, 0] = False
    smask = (
        torch.nn.Transformer.generate_square_subsequent_mask(c["ls"], dtype=tdt)
        if c["smask"]
        else None
    )
    tmask = torch.nn.Transformer.generate_square_subsequent_mask(c["lt"], dtype=tdt)
    es, etg = _et(src), _et(tgt)
    ekpm = None if kpm is None else _et(kpm)
    esm = None if smask is None else _et(smask)
    etm = _et(tmask)
    kind = c["kind"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the mask-dtype warnings: checked in their own test
        if kind in ("enc", "encstack"):
            to, eo = tm(src, smask, kpm), em(es, esm, ekpm)
        elif kind in ("dec", "decstack"):
            kw = dict(memory_key_padding_mask=kpm, tgt_is_causal=True)
            to = tm(tgt, src, tgt_mask=tmask, **kw)
            eo = em(etg, es, tgt_mask=etm, **dict(kw, memory_key_padding_mask=ekpm))
        else:
            kw = dict(src_key_padding_mask=kpm, memory_key_padding_mask=kpm, tgt_is_causal=True)
            to = tm(src, tgt, src_mask=smask, tgt_mask=tmask, **kw)
            ekw = dict(kw, src_key_padding_mask=ekpm, memory_key_padding_mask=ekpm)
            eo = em(es, etg, src_mask=esm, tgt_mask=etm, **ekw)
    _close(eo.numpy(), to, tol, "output")
    go = torch.randn_like(to)
    to.backward(go)
    eo.backward(ember.tensor(go.numpy()))
    _close(es.grad.numpy(), src.grad, 10 * tol, "dsrc")
    if kind not in ("enc", "encstack"):
        _close(etg.grad.numpy(), tgt.grad, 10 * tol, "dtgt")
    _param_grads(em, tm, 10 * tol)


def _enc_pair(layers=None, heads=2, **kw):
    torch.manual_seed(0)
    kw = dict(dim_feedforward=8, dropout=0.0, batch_first=True, **kw)
    tl, el = (
        torch.nn.TransformerEncoderLayer(4, heads, **kw),
        enn.TransformerEncoderLayer(4, heads, **kw),
    )
    if layers is None:
        _load(el, tl)
        return tl.eval(), el.eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tm = torch.nn.TransformerEncoder(tl, layers, enable_nested_tensor=False)
    em = enn.TransformerEncoder(el, layers, enable_nested_tensor=False)
    _load(em, tm)
    return tm.eval(), em.eval()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("float_kpm", [False, True])
def test_encoder_layer_eval_fast_path_nan(norm_first, float_kpm):
    # torch's fused encoder layer (eval, no grad, batch_first, even heads) turns the masks to
    # float and gives a sequence with every key padded NaN; ember gave finite numbers
    tl, el = _enc_pair(norm_first=norm_first)
    x = torch.randn(2, 3, 4)
    kpm = FULL_KPM
    if float_kpm:
        kpm = torch.zeros(2, 3).masked_fill(kpm, -np.inf)
    with torch.no_grad():
        to = tl(x, src_key_padding_mask=kpm)
    with ember.no_grad():
        eo = el(_et(x), src_key_padding_mask=_et(kpm))
    assert torch.isnan(to[0]).all() and not torch.isnan(to[1]).any()
    _close(eo.numpy(), to, 1e-5)
    # with gradients recorded torch's ordinary path runs: finite
    to, eo = tl(x, src_key_padding_mask=kpm), el(_et(x), src_key_padding_mask=_et(kpm))
    _close(eo.numpy(), to, 1e-5)


@pytest.mark.parametrize("kind", ["src_mask", "src_key_padding_mask", "3d"])
def test_encoder_layer_fast_path_reads_float_masks_as_bool(kind):
    # torch's fused layer masks out every key whose float mask entry is non-zero (a finite
    # bias too): different values from its ordinary path, which ember gave
    tl, el = _enc_pair()
    x = torch.randn(2, 3, 4)
    m = torch.tensor([[0.0, -5.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 7.0]])
    if kind == "src_key_padding_mask":
        m = m[[0, 2]]
    elif kind == "3d":
        m = torch.zeros(4, 3, 3)
        m[1, 0, 2] = -3.0
    kw = "src_key_padding_mask" if kind == "src_key_padding_mask" else "src_mask"
    with torch.no_grad():
        to = tl(x, **{kw: m})
    with ember.no_grad():
        eo = el(_et(x), **{kw: _et(m)})
    assert (to - tl(x, **{kw: m})).abs().max() > 1e-3  # (the two torch paths do differ)
    _close(eo.numpy(), to, 1e-5)
    _close(el(_et(x), **{kw: _et(m)}).numpy(), tl(x, **{kw: m}), 1e-5)


def test_encoder_layer_fast_path_ignores_is_causal():
    tl, el = _enc_pair()
    x = torch.randn(2, 3, 4)
    with torch.no_grad():
        to = tl(x, is_causal=True)
    with ember.no_grad():
        eo = el(_et(x), is_causal=True)
    _close(eo.numpy(), to, 1e-5)


@pytest.mark.parametrize("layers", [None, 3])
def test_encoder_warns_once_for_mismatched_masks(layers):
    # torch's encoder stack (and layer) turns a bool padding mask into float after one warning,
    # so the layers below stay silent; ember warned once per layer
    tm, em = _enc_pair(layers)
    tm.train()
    em.train()
    x = torch.randn(2, 3, 4)
    kpm = torch.tensor([[False, False, True], [False, True, True]])
    mask = torch.nn.Transformer.generate_square_subsequent_mask(3)
    with warnings.catch_warnings(record=True) as tw:
        warnings.simplefilter("always")
        to = tm(x, mask, kpm)
    with warnings.catch_warnings(record=True) as ew:
        warnings.simplefilter("always")
        eo = em(_et(x), _et(mask), _et(kpm))
    assert len(tw) == len(ew) == 1
    assert str(ew[0].message) == str(tw[0].message)
    _close(eo.numpy(), to, 1e-5)


def test_encoder_int_padding_mask_refused():
    tm, em = _enc_pair(2)
    x = torch.randn(2, 3, 4)
    kpm = torch.zeros(2, 3, dtype=torch.int64)
    with pytest.raises(AssertionError):
        tm(x, src_key_padding_mask=kpm)
    with pytest.raises((TypeError, ValueError), match="src_key_padding_mask"):
        em(_et(x), src_key_padding_mask=_et(kpm))


def test_encoder_stack_nested_path_zeros_padding():
    torch.manual_seed(0)
    tl = torch.nn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    el = enn.TransformerEncoderLayer(4, 2, 8, dropout=0.0, batch_first=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's nested-tensor prototype notice
        tm = torch.nn.TransformerEncoder(tl, 2, norm=torch.nn.LayerNorm(4)).eval()
        em = enn.TransformerEncoder(el, 2, norm=enn.LayerNorm(4)).eval()
        _load(em, tm)
        x = torch.randn(3, 4, 4)
        kpm = torch.tensor([[False] * 4, [False, False, True, True], [True] * 4])
        with torch.no_grad():
            to = tm(x, src_key_padding_mask=kpm)
        with ember.no_grad():
            eo = em(_et(x), src_key_padding_mask=_et(kpm))
    _close(eo.numpy(), to, 1e-5)


def test_deep_copied_layers_independent_and_state_dict_keys():
    el = enn.TransformerEncoderLayer(4, 2, 8)
    em = enn.TransformerEncoder(el, 2, enable_nested_tensor=False)
    tm = torch.nn.TransformerEncoder(
        torch.nn.TransformerEncoderLayer(4, 2, 8), 2, enable_nested_tensor=False
    )
    assert list(em.state_dict()) == list(tm.state_dict())
    em.layers[0].linear1.weight.data[...] = 7.0
    assert not np.any(em.layers[1].linear1.weight.numpy() == 7.0)
    assert not np.any(el.linear1.weight.numpy() == 7.0)
