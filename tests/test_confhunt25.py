"""Pins from the confhunt25 configuration sweep against PyTorch: losses, activations with
their options, interpolate/pad/fold/pixel_shuffle, embeddings and attention."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _close(got, want, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(got.detach().numpy()), want.detach().numpy(), rtol, atol)


@pytest.mark.parametrize("values", [[1, 2, 3], [True, False]])
def test_nanmean_refuses_an_integer_input_even_with_a_float_dtype(values):
    # torch refuses a non-float input whatever dtype= says; ember cast it first and computed
    with pytest.raises(RuntimeError, match="floating point"):
        torch.nanmean(torch.tensor(values), dtype=torch.float32)
    with pytest.raises(RuntimeError, match="nanmean: input dtype should be floating point"):
        ember.nanmean(ember.tensor(values), dtype=ember.float32)
    with pytest.raises(RuntimeError, match="nanmean: dtype should be floating point"):
        ember.nanmean(ember.tensor([1.0, 2.0]), dtype=ember.int64)  # (torch's class)
    got = ember.nanmean(ember.tensor([1.0, float("nan"), 4.0]), dtype=ember.float32)
    assert got.dtype == ember.float32 and got.item() == 2.5  # a float input still casts


@pytest.mark.parametrize(
    "s1, s2, st",
    [((4, 3), (1, 3), (4,)), ((1, 3), (4, 3), (4,)), ((4, 3), (4, 1), (4,)), ((4, 3), (4, 3), (1,)),
     ((1, 3), (1, 3), (4,)), ((3,), (1,), ())],
)  # fmt: skip
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_cosine_embedding_loss_broadcasts_as_torch(s1, s2, st, reduction):
    # torch sums each input over its last dim and broadcasts the sums and the target; ember
    # demanded equal shapes
    r = np.random.default_rng(0)
    a, b = r.standard_normal(s1), r.standard_normal(s2)
    y = np.where(r.random(st) < 0.5, -1.0, 1.0)
    outs, grads = [], []
    for lib in (torch, ember):
        x1, x2 = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        F = lib.nn.functional
        out = F.cosine_embedding_loss(x1, x2, lib.tensor(y), 0.1, reduction=reduction)
        out.sum().backward()
        outs.append(out)
        grads.append((x1.grad, x2.grad))
    _close(outs[1], outs[0])
    for g_e, g_t in zip(grads[1], grads[0]):
        _close(g_e, g_t)


def test_cosine_embedding_loss_broadcast_value():
    # (2, 2) against one (1, 2) row: cosines 1 and 0, target 1 then -1 -> losses 0 and 0
    x1 = ember.tensor([[1.0, 0.0], [0.0, 3.0]], requires_grad=True)
    out = ember.nn.functional.cosine_embedding_loss(
        x1, ember.tensor([[2.0, 0.0]]), ember.tensor([1.0, -1.0]), reduction="none"
    )
    np.testing.assert_allclose(out.numpy(), [0.0, 0.0], atol=1e-12)
    out = ember.nn.functional.cosine_embedding_loss(
        x1, ember.tensor([[2.0, 0.0]]), ember.tensor([-1.0]), margin=-0.5, reduction="sum"
    )
    np.testing.assert_allclose(out.item(), 1.5 + 0.5)  # target (1,) meets both rows


@pytest.mark.parametrize(
    "s1, s2, st, match",
    [((2, 3), (2, 4), (2,), "input1"), ((2, 3), (2, 3), (3,), "target"),
     ((2, 3), (3,), (2,), "input1"), ((2, 2, 3), (2, 2, 3), (2, 2), "input1")],
)  # fmt: skip
def test_cosine_embedding_loss_refuses_what_torch_refuses(s1, s2, st, match):
    args = [np.ones(s1), np.ones(s2), np.ones(st)]
    with pytest.raises(RuntimeError):
        torch.nn.functional.cosine_embedding_loss(*map(torch.tensor, args))
    with pytest.raises(RuntimeError, match=match):
        ember.nn.functional.cosine_embedding_loss(*map(ember.tensor, args))


# a compact sample of the sweep: (functional name, input kinds and shapes, keyword arguments)
_LOSSES = [
    ("cross_entropy", [("x", (2, 3, 2, 2)), ("c", (2, 2, 2))],
     dict(label_smoothing=0.2, ignore_index=1)),
    ("cross_entropy", [("x", (4, 5)), ("probs", (4, 5))],
     dict(label_smoothing=0.1, reduction="sum")),
    ("cross_entropy", [("x", (5,)), ("c", ())], dict(reduction="none")),
    ("nll_loss", [("x", (0, 4)), ("c", (0,))], dict(reduction="sum")),
    ("binary_cross_entropy_with_logits", [("x", (3, 4)), ("p", (3, 4))], dict(reduction="none")),
    ("kl_div", [("x", (3, 4)), ("x", (3, 4))], dict(reduction="batchmean", log_target=True)),
    ("poisson_nll_loss", [("pos", (3, 4)), ("posn", (3, 4))], dict(log_input=False, full=True)),
    ("gaussian_nll_loss", [("x", (3, 4)), ("x", (3, 4)), ("pos", (3, 1))], dict(full=True)),
    ("huber_loss", [("x", (3, 4)), ("xn", (3, 4))], dict(delta=0.5, reduction="sum")),
    ("smooth_l1_loss", [("x", ()), ("xn", ())], dict(beta=0.0)),
    ("multi_margin_loss", [("x", (4, 3)), ("c", (4,))], dict(p=2, margin=0.5)),
    ("multilabel_margin_loss", [("x", (3, 4)), ("ml", (3, 4))], dict(reduction="none")),
    ("triplet_margin_loss", [("x", (4, 3)), ("x", (4, 3)), ("x", (4, 3))], dict(p=3.0, swap=True)),
    ("hinge_embedding_loss", [("x", (3, 4)), ("pm", (3, 4))], dict(margin=0.3)),
]  # fmt: skip


def _make(lib, kind, shape, r):
    if kind == "x":
        return lib.tensor(r.standard_normal(shape), requires_grad=True)
    if kind == "xn":
        return lib.tensor(r.standard_normal(shape))
    if kind in ("p", "pos"):
        lo, hi = (0.05, 0.95) if kind == "p" else (0.1, 2.0)
        return lib.tensor(r.uniform(lo, hi, shape), requires_grad=True)
    if kind == "posn":
        return lib.tensor(r.uniform(0.1, 2.0, shape))
    if kind == "c":
        return lib.tensor(r.integers(0, 3, shape))
    if kind == "pm":
        return lib.tensor(r.choice([-1.0, 1.0], shape))
    if kind == "probs":
        a = r.uniform(0.01, 1, shape)
        return lib.tensor(a / a.sum(1, keepdims=True))
    a = np.full(shape, -1, np.int64)  # "ml": multilabel targets, -1 padded
    for i in range(shape[0]):
        k = int(r.integers(0, shape[1] + 1))
        a[i, :k] = r.permutation(shape[1])[:k]
    return lib.tensor(a)


def _run(lib, fn, specs, seed):
    r = np.random.default_rng(seed)
    args = [_make(lib, k, s, r) for k, s in specs]
    out = fn(lib, *args)
    g = r.standard_normal(tuple(out.shape))
    (out * lib.tensor(g)).sum().backward()
    return [out] + [a.grad for a in args if a.requires_grad]


def _same(fn, specs, seed=0, rtol=1e-9, atol=1e-11):
    want, got = _run(torch, fn, specs, seed), _run(ember, fn, specs, seed)
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape)
        _close(g, w, rtol, atol)


@pytest.mark.parametrize("name, specs, kw", _LOSSES)
def test_loss_sample_matches_torch(name, specs, kw):
    _same(lambda lib, *a: getattr(lib.nn.functional, name)(*a, **kw), specs)


@pytest.mark.parametrize(
    "name, kw",
    [("threshold", dict(threshold=0.5, value=-2.0)), ("hardtanh", dict(min_val=-0.5, max_val=2.0)),
     ("softplus", dict(beta=0.5, threshold=1)), ("rrelu", dict(training=False)),
     ("glu", dict(dim=-2)), ("gelu", dict(approximate="tanh")), ("softmin", dict(dim=0)),
     ("celu", dict(alpha=0.5)), ("softshrink", dict(lambd=1.0)),
     ("normalize", dict(p=3.0, eps=0.5))],
)  # fmt: skip
def test_activation_sample_matches_torch(name, kw):
    _same(lambda lib, x: getattr(lib.nn.functional, name)(x * 3, **kw), [("x", (2, 4, 3))])


@pytest.mark.parametrize(
    "name, shape, kw",
    [("interpolate", (2, 3, 5, 4), dict(mode="bicubic", scale_factor=0.6, align_corners=True)),
     ("interpolate", (2, 3, 5, 4), dict(mode="bilinear", size=(7, 3), antialias=True)),
     ("interpolate", (2, 3, 5, 4, 3), dict(mode="area", scale_factor=(1.7, 0.5, 2.5))),
     ("interpolate", (2, 3, 5),
      dict(mode="nearest-exact", scale_factor=1.5, recompute_scale_factor=True)),
     ("pad", (2, 3, 4, 5), dict(pad=(2, -1, -1, 1), mode="reflect")),
     ("pad", (1, 2, 3, 4, 3), dict(pad=(1, 1, 1, 1, 1, 1), mode="circular")),
     ("pad", (2, 3, 5), dict(pad=(-1, 2), mode="constant", value=1.5)),
     ("unfold", (2, 3, 6, 5), dict(kernel_size=(3, 2), dilation=(2, 1), padding=1, stride=(1, 3))),
     ("fold", (2, 12, 6), dict(output_size=(5, 4), kernel_size=2, stride=(2, 1))),
     ("pixel_unshuffle", (1, 2, 9, 3, 6), dict(downscale_factor=3))],
)  # fmt: skip
def test_resampling_sample_matches_torch(name, shape, kw):
    _same(lambda lib, x: getattr(lib.nn.functional, name)(x, **kw), [("x", shape)])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2])
def test_embedding_bag_sample_matches_torch(mode, padding_idx):
    idx = np.array([0, 2, 5, 2, 1, 3, 2])
    offs = np.array([0, 2, 2, 7])  # an empty bag, and the last offset as the input's size
    psw = mode == "sum"

    def fn(lib, w, s):
        kw = dict(per_sample_weights=s) if psw else {}
        return lib.nn.functional.embedding_bag(
            lib.tensor(idx), w, lib.tensor(offs), mode=mode, padding_idx=padding_idx,
            include_last_offset=True, **kw,
        )  # fmt: skip

    _same(fn, [("x", (6, 3)), ("p" if psw else "posn", (7,))])


@pytest.mark.parametrize(
    "kw, heads", [(dict(is_causal=True, scale=0.3), 2), (dict(enable_gqa=True), 4), ({}, 2)]
)
def test_sdpa_sample_matches_torch(kw, heads):
    def fn(lib, q, k, v, m):  # a float mask with a gradient of its own
        return lib.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=m, **kw)

    specs = [("x", (2, heads, 3, 4)), ("x", (2, 2, 5, 4)), ("x", (2, 2, 5, 4)), ("x", (3, 5))]
    if kw.get("is_causal"):  # (torch refuses a mask beside is_causal)
        _same(lambda lib, q, k, v, m: fn(lib, q, k, v, None) + 0 * m.sum(), specs)
    else:
        _same(fn, specs)
