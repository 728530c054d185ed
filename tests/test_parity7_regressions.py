"""Regressions found by a randomised differential sweep of ember's nn.functional and nn module
layer against PyTorch (float64, outputs and gradients)."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")


def _grads(lib, fn, *arrays):
    xs = [lib.tensor(a.copy(), requires_grad=True) for a in arrays]
    out = fn(lib, *xs)
    r = np.random.default_rng(1).standard_normal(tuple(out.shape))
    (out * lib.tensor(r)).sum().backward()
    return out.detach().numpy(), [x.grad.numpy() for x in xs]


@pytest.mark.parametrize("p", [0.3, 0.5, 0.9])
def test_norm_gradient_below_order_one_is_zero_at_zero_entries_as_torch(p):
    # d|x|_p/dx has |x|^(p-1) (inf at 0) for p < 1: PyTorch masks it to 0 there; ember's was NaN
    x = np.array([[0.0, 1.0, 2.0], [1e-9, 0.0, 0.0], [0.0, 0.0, 0.0], [-3.0, 0.0, 0.5]])

    def normalize(lib, a):
        return lib.nn.functional.normalize(a, p=p, dim=-1, eps=1e-3)

    def norm(lib, a):
        return a.norm(p, dim=1)

    for fn in (normalize, norm):
        ye, (ge,) = _grads(ember, fn, x)
        yt, (gt,) = _grads(torch, fn, x)
        np.testing.assert_allclose(ye, yt, rtol=1e-12)
        assert not np.isnan(ge).any()
        np.testing.assert_allclose(ge, gt, rtol=1e-10, atol=1e-12)
    # away from the zero entries the gradient is the finite difference's
    row = np.array([[-3.0, 0.7, 0.5]])
    _, (ge,) = _grads(ember, norm, row)
    r = np.random.default_rng(1).standard_normal(1)
    fd = np.empty(3)
    for i in range(3):
        d = np.zeros_like(row)
        d[0, i] = 1e-6
        f = [(np.abs(row + s * d) ** p).sum() ** (1 / p) for s in (1, -1)]
        fd[i] = r[0] * (f[0] - f[1]) / 2e-6
    np.testing.assert_allclose(ge[0], fd, rtol=1e-6)


def test_soft_margin_loss_refuses_a_target_that_requires_grad_as_torch():
    # PyTorch's soft_margin_loss has no target gradient and says so up front
    x = np.array([0.5, -1.0, 2.0])
    t = np.array([1.0, -1.0, -1.0])
    for lib in (torch, ember):
        tt = lib.tensor(t.copy(), requires_grad=True)
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument"):
            lib.nn.functional.soft_margin_loss(lib.tensor(x), tt)
        with pytest.raises(RuntimeError, match="not differentiable"):
            lib.nn.SoftMarginLoss()(lib.tensor(x), tt)
    with torch.no_grad():
        want = torch.nn.functional.soft_margin_loss(
            torch.tensor(x), torch.tensor(t, requires_grad=True)
        )
    with ember.no_grad():
        got = F.soft_margin_loss(ember.tensor(x), ember.tensor(t, requires_grad=True))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-15)
    np.testing.assert_allclose(got.numpy(), np.log1p(np.exp(-x * t)).mean(), rtol=1e-15)


def test_embedding_bag_of_empty_2d_bags_is_refused_as_torch():
    w = ember.tensor(np.ones((4, 2)))
    with pytest.raises(RuntimeError):
        torch.nn.functional.embedding_bag(torch.zeros((3, 0), dtype=torch.int64), torch.ones(4, 2))
    with pytest.raises(RuntimeError, match="at least one index"):
        F.embedding_bag(ember.tensor(np.zeros((3, 0), np.int64)), w)


def _mha_pair(e=4, h=2, **kw):
    tm = torch.nn.MultiheadAttention(e, h, **kw).double()
    em = ember.nn.MultiheadAttention(e, h, **kw).double()
    g = np.random.default_rng(3)
    with torch.no_grad():
        for p in tm.parameters():
            p.copy_(torch.tensor(g.uniform(-0.5, 0.5, tuple(p.shape))))
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    return tm, em


@pytest.mark.parametrize("extra", [{}, {"add_bias_kv": True, "add_zero_attn": True}])
def test_mha_causal_hint_without_weights_ignores_the_masks_shape_as_torch(extra):
    # is_causal=True, no key_padding_mask, need_weights=False: PyTorch drops attn_mask for
    # its kernel's causal flag and checks only its rank, so a mask of another shape is fine
    tm, em = _mha_pair(**extra)
    g = np.random.default_rng(4)
    q, k = g.standard_normal((4, 2, 4)), g.standard_normal((3, 2, 4))
    mask = np.zeros((4, 1), bool)
    outs = []
    for lib, m in ((torch, tm), (ember, em)):
        qq, kk = lib.tensor(q.copy(), requires_grad=True), lib.tensor(k.copy(), requires_grad=True)
        y, w = m(qq, kk, kk, attn_mask=lib.tensor(mask), need_weights=False, is_causal=True)
        assert w is None
        y.sum().backward()
        outs.append([y.detach().numpy(), qq.grad.numpy(), kk.grad.numpy()])
        if not extra:  # the same as the true causal mask (top-left aligned)
            causal = lib.tensor(np.triu(np.ones((4, 3), bool), 1))
            y2, _ = m(
                lib.tensor(q), lib.tensor(k), lib.tensor(k), attn_mask=causal, need_weights=False
            )
            np.testing.assert_allclose(y2.detach().numpy(), outs[-1][0], rtol=1e-12)
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
    with pytest.raises(ValueError, match="2-D or 3-D"):
        em(
            ember.tensor(q),
            ember.tensor(k),
            ember.tensor(k),
            attn_mask=ember.tensor(np.zeros(3, bool)),
            need_weights=False,
            is_causal=True,
        )


def test_mha_causal_hint_with_key_padding_mask_runs_the_given_mask_as_torch():
    # with a key_padding_mask PyTorch merges it into attn_mask and drops the hint: the mask
    # runs as given, causal or not (ember ran the causal flag instead)
    tm, em = _mha_pair(e=3, h=1)
    g = np.random.default_rng(5)
    q, k = g.standard_normal((4, 3)), g.standard_normal((3, 3))
    am = np.array([[False, True, False], [True, False, False], [False, False, True], [False] * 3])
    kpm = np.array([False, False, True])
    ys = []
    for lib, m in ((torch, tm), (ember, em)):
        y, _ = m(
            lib.tensor(q),
            lib.tensor(k),
            lib.tensor(k),
            attn_mask=lib.tensor(am),
            key_padding_mask=lib.tensor(kpm),
            need_weights=False,
            is_causal=True,
        )
        y_plain, _ = m(
            lib.tensor(q),
            lib.tensor(k),
            lib.tensor(k),
            attn_mask=lib.tensor(am | kpm),
            need_weights=False,
        )
        np.testing.assert_allclose(y.detach().numpy(), y_plain.detach().numpy(), rtol=1e-12)
        ys.append(y.detach().numpy())
    np.testing.assert_allclose(ys[1], ys[0], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "size, align_corners",
    [((0, 1, 2, 3), False), ((1, 0, 2, 3), False), ((0, 1, 2, 3), True), ((1, 1, 1, 0), True),
     ((0, 2, 2, 2, 2), False), ((0, 1, 1, 3), True), ((1, 0, 1, 3), True)],
)  # fmt: skip
def test_affine_grid_refuses_an_empty_batch_or_channels_as_torch(size, align_corners):
    # PyTorch refuses any size <= 0, N and C included, except after its unit-size warning
    nd = len(size) - 2
    theta = np.random.default_rng(0).standard_normal((size[0], nd, nd + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            want = torch.nn.functional.affine_grid(
                torch.tensor(theta), size, align_corners=align_corners
            )
        except ValueError:
            with pytest.raises(ValueError, match="positive output size"):
                F.affine_grid(ember.tensor(theta), size, align_corners=align_corners)
            return
        got = F.affine_grid(ember.tensor(theta), size, align_corners=align_corners)
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("stat_dtype", [np.float64, np.float16, np.int64])
def test_instance_norm_from_running_stats_of_another_dtype_as_torch(stat_dtype):
    # use_input_stats=False reads running stats of any real dtype (as training does); ember's
    # eval path handed them to batch_norm, which refuses a dtype other than the input's
    x = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)
    rm, rv = np.array([1, -2], stat_dtype), np.array([2, 3], stat_dtype)
    w, b = np.array([0.5, 2.0], np.float32), np.array([0.1, -0.3], np.float32)
    outs = []
    for lib in (torch, ember):
        xt = lib.tensor(x.copy(), requires_grad=True)
        wt = lib.tensor(w.copy(), requires_grad=True)
        y = lib.nn.functional.instance_norm(
            xt, lib.tensor(rm), lib.tensor(rv), wt, lib.tensor(b), use_input_stats=False
        )
        assert str(y.dtype).endswith("float32")
        y.sum().backward()
        outs.append([y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()])
    for e, t in zip(outs[1], outs[0]):
        np.testing.assert_allclose(e, t, rtol=1e-5, atol=1e-6)
    # NumPy: (x - rm) / sqrt(rv + eps) * w + b per channel
    want = (x - rm.astype(np.float64)[:, None]) / np.sqrt(rv.astype(np.float64)[:, None] + 1e-5)
    np.testing.assert_allclose(outs[1][0], want * w[:, None] + b[:, None], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("which", ["attn_mask", "key_padding_mask"])
def test_mha_refuses_a_float_mask_tensor_of_another_dtype_as_torch(need_weights, which):
    # PyTorch's kernels refuse a float mask whose dtype is not the query's (float64 mask,
    # float32 model); ember cast it silently. Bool masks and same-dtype float masks still run.
    q = np.random.default_rng(0).standard_normal((3, 2, 4)).astype(np.float32)
    shape = (3, 3) if which == "attn_mask" else (2, 3)
    for lib in (torch, ember):
        m = lib.nn.MultiheadAttention(4, 2)
        x = lib.tensor(q)
        err = RuntimeError if lib is torch else TypeError
        with pytest.raises(err, match="dtype"):
            m(x, x, x, need_weights=need_weights, **{which: lib.tensor(np.zeros(shape))})
        for ok in (np.zeros(shape, np.float32), np.zeros(shape, bool)):
            y, _ = m(x, x, x, need_weights=need_weights, **{which: lib.tensor(ok)})
            assert y.shape == (3, 2, 4)


@pytest.mark.parametrize("xdtype, wdtype", [(np.float32, np.float64), (np.float64, np.float32)])
def test_multi_margin_loss_refuses_a_weight_of_another_dtype_as_torch(xdtype, wdtype):
    # as nll_loss: torch's multi_margin_loss kernel refuses a weight Tensor of another dtype
    x, t = np.random.default_rng(0).standard_normal((2, 3)).astype(xdtype), np.array([0, 2])
    for lib in (torch, ember):
        with pytest.raises(RuntimeError if lib is torch else TypeError, match="weight|scalar"):
            lib.nn.MultiMarginLoss(weight=lib.tensor(np.ones(3, wdtype)))(
                lib.tensor(x), lib.tensor(t)
            )
    w = np.array([0.5, 1.0, 2.0])
    got = F.multi_margin_loss(
        ember.tensor(x), ember.tensor(t), weight=ember.tensor(w.astype(xdtype))
    )
    want = torch.nn.functional.multi_margin_loss(
        torch.tensor(x), torch.tensor(t), weight=torch.tensor(w.astype(xdtype))
    )
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    # NumPy arrays are still cast, as ember's other inputs
    F.multi_margin_loss(ember.tensor(x), ember.tensor(t), weight=w.astype(wdtype))


_NO_WEIGHT_GRAD = {
    "binary_cross_entropy": lambda F, x, t, w: F.binary_cross_entropy(x.sigmoid(), t, w),
    "bce_with_logits weight": lambda F, x, t, w: F.binary_cross_entropy_with_logits(x, t, w),
    "bce_with_logits pos_weight": lambda F, x, t, w: F.binary_cross_entropy_with_logits(
        x, t, pos_weight=w
    ),
    "nll_loss": lambda F, x, t, w: F.nll_loss(x, (t[:, 0] > 0.5).long(), w),
    "cross_entropy": lambda F, x, t, w: F.cross_entropy(x, (t[:, 0] > 0.5).long(), w),
    "multi_margin_loss": lambda F, x, t, w: F.multi_margin_loss(
        x, (t[:, 0] > 0.5).long(), weight=w
    ),
}


@pytest.mark.parametrize("case", sorted(_NO_WEIGHT_GRAD))
def test_loss_weights_without_a_gradient_refuse_requires_grad_as_torch(case):
    # PyTorch's kernels have no weight (pos_weight) gradient and refuse one that requires grad;
    # ember left it silently without a gradient. Under no_grad both compute.
    fn = _NO_WEIGHT_GRAD[case]
    g = np.random.default_rng(0)
    x, t, w = g.standard_normal((2, 3)), g.random((2, 3)), g.random(3) + 0.5
    for lib in (torch, ember):
        args = lib.tensor(x), lib.tensor(t), lib.tensor(w.copy(), requires_grad=True)
        with pytest.raises(RuntimeError, match="not differentiable with respect to argument"):
            fn(lib.nn.functional, *args)
    with torch.no_grad():
        want = fn(torch.nn.functional, torch.tensor(x), torch.tensor(t), torch.tensor(w))
    with ember.no_grad():
        got = fn(
            ember.nn.functional,
            ember.tensor(x),
            ember.tensor(t),
            ember.tensor(w, requires_grad=True),
        )
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
    # weights that do have gradients in PyTorch keep them
    for lib in (torch, ember):
        wt = lib.tensor(w.copy(), requires_grad=True)
        lib.nn.functional.multilabel_soft_margin_loss(lib.tensor(x), lib.tensor(t), wt).backward()
        assert wt.grad is not None


@pytest.mark.parametrize(
    "loss", ["margin_ranking_loss", "cosine_embedding_loss"]
)  # fmt: skip
@pytest.mark.parametrize("which", [0, 1, 2])
def test_ranking_losses_promote_mixed_float_operands_as_torch(loss, which):
    # PyTorch's composites promote float32 with float64 (ember refused it): value, dtype and
    # gradients follow torch's
    g = np.random.default_rng(0)
    if loss == "margin_ranking_loss":
        arrays = [g.standard_normal(4), g.standard_normal(4), np.sign(g.standard_normal(4))]
    else:
        arrays = [g.standard_normal((3, 4)), g.standard_normal((3, 4)), np.array([1.0, -1, 1])]
    arrays = [a.astype(np.float64 if i == which else np.float32) for i, a in enumerate(arrays)]
    outs = []
    for lib in (torch, ember):
        xs = [lib.tensor(a.copy(), requires_grad=i < 2) for i, a in enumerate(arrays)]
        y = getattr(lib.nn.functional, loss)(*xs, margin=0.1, reduction="none")
        (y * lib.tensor(np.linspace(0.5, 1.5, y.shape[0]))).sum().backward()
        outs.append([y.detach().numpy()] + [x.grad.numpy() for x in xs[:2]])
    for e, t in zip(outs[1], outs[0]):
        assert e.dtype == t.dtype
        np.testing.assert_allclose(e, t, rtol=1e-6, atol=1e-7)


def test_cdist_refuses_operands_of_two_dtypes_as_torch():
    a, b = np.ones((3, 2), np.float32), np.ones((30, 2))
    for lib in (torch, ember):
        for x1, x2 in ((a, b), (b, a)):
            with pytest.raises(RuntimeError if lib is torch else TypeError, match="type"):
                lib.cdist(lib.tensor(x1), lib.tensor(x2))
