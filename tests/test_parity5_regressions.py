"""Regressions from a fifth sweep against PyTorch: nn modules and their option combinations
(convolution, pooling, normalisation, recurrent, attention, embedding, resampling, losses,
optimisers and schedulers) drawn at random, forward, input and parameter gradients compared.
Each test compares with torch directly."""

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _same(e, t, rtol=1e-12, atol=1e-12):
    """ember result e equals torch result t: dtype, shape and values."""
    t = t.detach()
    assert str(e.dtype) == str(t.dtype).replace("torch.", ""), (e.dtype, t.dtype)
    assert tuple(e.shape) == tuple(t.shape), (e.shape, t.shape)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=rtol, atol=atol)


# ---- cross_entropy: class-probability targets take no (non-negative) ignore_index ------------


@pytest.mark.parametrize("ignore_index", [0, 2, 7])
def test_cross_entropy_probability_target_refuses_an_ignore_index_as_torch(ignore_index):
    x = np.random.default_rng(0).standard_normal((3, 4))
    p = np.full((3, 4), 0.25)
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        TF.cross_entropy(torch.tensor(x), torch.tensor(p), ignore_index=ignore_index)
    with pytest.raises(ValueError, match="ignore_index is not supported for floating point"):
        F.cross_entropy(ember.tensor(x), ember.tensor(p), ignore_index=ignore_index)
    with pytest.raises(ValueError, match="ignore_index is not supported"):
        enn.CrossEntropyLoss(ignore_index=ignore_index)(ember.tensor(x), ember.tensor(p))


@pytest.mark.parametrize("ignore_index", [-100, -1, -5])
def test_cross_entropy_probability_target_with_a_negative_ignore_index_as_torch(ignore_index):
    rng = np.random.default_rng(1)
    x, p = rng.standard_normal((3, 4, 2)), rng.random((3, 4, 2))
    kw = dict(ignore_index=ignore_index, label_smoothing=0.2, reduction="sum")
    tx = torch.tensor(x, requires_grad=True)
    t = TF.cross_entropy(tx, torch.tensor(p), **kw)
    ex = ember.tensor(x, requires_grad=True)
    e = F.cross_entropy(ex, ember.tensor(p), **kw)
    _same(e, t)
    t.backward()
    e.backward()
    _same(ex.grad, tx.grad)


# ---- max_unpool: indices must be int64, as max_pool returns them -----------------------------


@pytest.mark.parametrize("dtype", [np.int32, np.int16, np.uint8, np.int8])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_unpool_refuses_indices_other_than_int64_as_torch(dtype, nd):
    x = np.random.default_rng(2).standard_normal((1, 2) + (4,) * nd)
    fn_t, fn_e = getattr(TF, f"max_pool{nd}d"), getattr(F, f"max_pool{nd}d")
    y, i = fn_t(torch.tensor(x), 2, return_indices=True)
    with pytest.raises(RuntimeError, match="should be type int64"):
        getattr(TF, f"max_unpool{nd}d")(y, i.to(getattr(torch, np.dtype(dtype).name)), 2)
    ey, ei = fn_e(ember.tensor(x), 2, return_indices=True)
    with pytest.raises(TypeError, match="indices must be an int64 integer tensor"):
        getattr(F, f"max_unpool{nd}d")(ey, ei.numpy().astype(dtype), 2)
    with pytest.raises(TypeError, match="int64"):
        getattr(enn, f"MaxUnpool{nd}d")(2)(ey, ember.tensor(ei.numpy().astype(dtype)))
    # int64 indices, as a Tensor or an array, still unpool as torch
    _same(
        getattr(F, f"max_unpool{nd}d")(ey, ei.numpy(), 2), getattr(TF, f"max_unpool{nd}d")(y, i, 2)
    )


# ---- Unflatten to an empty size is refused, as torch --------------------------------------


def test_unflatten_module_refuses_an_empty_size_as_torch():
    x = np.ones((2, 1))
    with pytest.raises(RuntimeError, match="sizes must be non-empty"):
        torch.nn.Unflatten(1, ())(torch.tensor(x))
    with pytest.raises(ValueError, match="unflattened_size must be non-empty"):
        enn.Unflatten(1, ())(ember.tensor(x))
    _same(
        enn.Unflatten(1, (1, -1))(ember.tensor(x)), torch.nn.Unflatten(1, (1, -1))(torch.tensor(x))
    )


# ---- max_pool3d: a too-small output is reported as 3-D (the 2-D passes named it before) --------


@pytest.mark.parametrize(
    ("shape", "kw"),
    [
        ((1, 3, 3, 6, 4), dict(kernel_size=(3, 4, 4), padding=(0, 1, 0), dilation=2)),
        ((2, 5, 2, 3), dict(kernel_size=(3, 2, 1), dilation=(1, 2, 1))),
        ((1, 1, 4, 4, 4), dict(kernel_size=(2, 2, 3), dilation=(1, 1, 2))),
    ],
)
def test_max_pool3d_too_small_output_names_3d_sizes_as_torch(shape, kw):
    x = np.zeros(shape)
    with pytest.raises(RuntimeError, match="Output size is too small") as t:
        TF.max_pool3d(torch.tensor(x), **kw)
    # torch's "Given input size: (3x3x6x4). Calculated output size: (3x0x1x0)."
    sizes = t.value.args[0].split("(")[1:3]
    with pytest.raises(ValueError, match="max_pool3d: given input size") as e:
        F.max_pool3d(ember.tensor(x), **kw)
    msg = e.value.args[0]
    assert f"({sizes[0].split(')')[0]})" in msg and f"({sizes[1].split(')')[0]})" in msg


def test_max_pool3d_output_sizes_and_refusals_match_torch():
    rng = np.random.default_rng(3)
    for _ in range(300):
        sp = tuple(int(v) for v in rng.integers(1, 7, 3))
        k = tuple(int(v) for v in rng.integers(1, 5, 3))
        s = tuple(int(v) for v in rng.integers(1, 4, 3))
        d = tuple(int(v) for v in rng.integers(1, 3, 3))
        p = tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k)
        ceil = bool(rng.integers(0, 2))
        x = rng.standard_normal((1, 2) + sp)
        try:
            t = TF.max_pool3d(torch.tensor(x), k, s, p, d, ceil)
        except RuntimeError:
            with pytest.raises(ValueError, match="max_pool3d"):
                F.max_pool3d(ember.tensor(x), k, s, p, d, ceil)
            continue
        _same(F.max_pool3d(ember.tensor(x), k, s, p, d, ceil), t)


# ---- batch / instance norm load a state_dict without num_batches_tracked, as torch ----------


@pytest.mark.parametrize("strict", [True, False])
def test_norm_state_dict_without_num_batches_tracked_loads_as_torch(strict):
    def build(nn):
        return nn.Sequential(
            nn.Conv2d(1, 2, 1), nn.BatchNorm2d(2), nn.InstanceNorm1d(2, track_running_stats=True)
        )

    tm, em = build(torch.nn), build(enn)
    for m in (tm, em):
        m[1].num_batches_tracked.data.fill(3) if m is em else m[1].num_batches_tracked.fill_(3)
    rng = np.random.default_rng(4)
    sd = {
        k: rng.standard_normal(v.shape)
        for k, v in tm.state_dict().items()
        if v.dtype.is_floating_point
    }
    # a plain dict (no version metadata), as old checkpoints: the count is kept, nothing missing
    tr = tm.load_state_dict({k: torch.tensor(v) for k, v in sd.items()}, strict=strict)
    er = em.load_state_dict(sd, strict=strict)
    assert (
        (er.missing_keys, er.unexpected_keys) == (tr.missing_keys, tr.unexpected_keys) == ([], [])
    )
    for k, t in tm.state_dict().items():
        np.testing.assert_allclose(em.state_dict()[k].numpy(), t.numpy(), rtol=1e-6)
    assert int(em[1].num_batches_tracked.item()) == int(tm[1].num_batches_tracked) == 3
    # with version-2 metadata (as state_dict() writes it) the key is required, as torch
    esd, tsd = em.state_dict(), tm.state_dict()
    assert esd._metadata["1"]["version"] == tsd._metadata["1"]["version"] == 2
    del esd["1.num_batches_tracked"], tsd["1.num_batches_tracked"]
    if strict:
        with pytest.raises(RuntimeError, match="Missing key"):
            tm.load_state_dict(tsd)
        with pytest.raises(RuntimeError, match="Missing key.*1.num_batches_tracked"):
            em.load_state_dict(esd)
    else:
        assert em.load_state_dict(esd, strict=False).missing_keys == ["1.num_batches_tracked"]
        assert tm.load_state_dict(tsd, strict=False).missing_keys == ["1.num_batches_tracked"]


@pytest.mark.parametrize("strict", [True, False])
def test_instance_norm_refuses_untracked_running_stats_without_metadata_as_torch(strict):
    sd = {"0.running_mean": np.zeros(3), "0.running_var": np.ones(3)}
    tm = torch.nn.Sequential(torch.nn.InstanceNorm1d(3))
    em = enn.Sequential(enn.InstanceNorm1d(3))
    with pytest.raises(RuntimeError, match="Unexpected running stats buffer"):
        tm.load_state_dict({k: torch.tensor(v) for k, v in sd.items()}, strict=strict)
    with pytest.raises(RuntimeError, match="Unexpected running stats buffer.*0.running_mean"):
        em.load_state_dict(sd, strict=strict)
    # tracked statistics load; a module's own state_dict round-trips
    em2 = enn.Sequential(enn.InstanceNorm1d(3, track_running_stats=True))
    assert em2.load_state_dict(sd, strict=strict).missing_keys == []
    assert em.load_state_dict(em.state_dict(), strict=strict).unexpected_keys == []


# ---- instance_norm with eps = 0 over a constant row: batch_norm's rule (rstd 0), as torch ----


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("affine", [False, True])
def test_instance_norm_eps_zero_on_a_constant_row_as_torch(dtype, affine):
    x = np.array([[[1.0, 1.0, 1.0], [1.0, 2.0, 3.0]], [[0.0, 0.0, 0.0], [5.0, 5.0, 5.0]]], dtype)
    g = np.random.default_rng(5).standard_normal(x.shape).astype(dtype)
    kw = (
        {}
        if not affine
        else dict(weight=np.array([2.0, 3.0], dtype), bias=np.array([0.5, -1], dtype))
    )
    tx = torch.tensor(x, requires_grad=True)
    tkw = {k: torch.tensor(v, requires_grad=True) for k, v in kw.items()}
    t = TF.instance_norm(tx, eps=0.0, **tkw)
    (t * torch.tensor(g)).sum().backward()
    ex = ember.tensor(x, requires_grad=True)
    ekw = {k: ember.tensor(v, requires_grad=True) for k, v in kw.items()}
    e = F.instance_norm(ex, eps=0.0, **ekw)
    (e * ember.tensor(g)).sum().backward()
    tol = 1e-12 if dtype == "float64" else 1e-6
    _same(e, t, tol, tol)  # constant rows give their bias (0 without affine), not NaN
    _same(ex.grad, tx.grad, tol, tol)
    for k in kw:
        _same(ekw[k].grad, tkw[k].grad, tol, tol)
    # group_norm keeps NaN there, as torch's
    assert np.isnan(F.group_norm(ember.tensor(x), 2, eps=0.0).numpy()[0, 0]).all()
    assert torch.isnan(TF.group_norm(torch.tensor(x), 2, eps=0.0)[0, 0]).all()


# ---- embedding_bag mode='max' with NaN rows: torch's scan (a NaN first row stays, a later one
# ---- never wins); the backward crashed with an IndexError before --------------------------------


def test_embedding_bag_max_with_nan_rows_as_torch():
    rng = np.random.default_rng(6)
    for _ in range(100):
        v, d = int(rng.integers(2, 6)), int(rng.integers(1, 4))
        w = rng.standard_normal((v, d))
        w[rng.random((v, d)) < 0.3] = np.nan
        w[rng.random((v, d)) < 0.1] = -np.inf
        n = int(rng.integers(0, 8))
        idx = rng.integers(0, v, n)
        offs = np.sort(rng.integers(0, n + 1, int(rng.integers(1, 4))))
        offs[0] = 0
        pad = int(rng.integers(0, v)) if rng.random() < 0.3 else None
        g = rng.standard_normal((len(offs), d))
        tm = torch.nn.EmbeddingBag.from_pretrained(
            torch.tensor(w), mode="max", freeze=False, padding_idx=pad
        )
        em = enn.EmbeddingBag.from_pretrained(
            ember.tensor(w), mode="max", freeze=False, padding_idx=pad
        )
        t = tm(torch.tensor(idx), torch.tensor(offs))
        t.backward(torch.tensor(g))  # (not via a sum: inf - inf would warn)
        e = em(ember.tensor(idx), ember.tensor(offs))
        e.backward(ember.tensor(g))
        _same(e, t)
        _same(em.weight.grad, tm.weight.grad)


# ---- adaptive and fractional max pools over NaN: torch's scan picks the last NaN -------------


@pytest.mark.parametrize(
    "name", ["adaptive1", "adaptive2", "adaptive3", "fractional2", "fractional3"]
)
def test_adaptive_and_fractional_max_pool_pick_the_last_nan_as_torch(name):
    rng = np.random.default_rng(7)
    nd = int(name[-1])
    for _ in range(30):
        sp = tuple(int(v) for v in rng.integers(4, 7, nd))  # (torch's 3-D fit check is strict)
        x = rng.standard_normal((1, 2) + sp)
        x[rng.random(x.shape) < 0.2] = np.nan
        g = rng.standard_normal((1, 2) + (2,) * nd)
        outs = []
        for lib, fn in ((torch, TF), (ember, F)):
            xt = lib.tensor(x, requires_grad=True)
            if name.startswith("adaptive"):
                y, i = getattr(fn, f"adaptive_max_pool{nd}d")(xt, 2, return_indices=True)
            else:
                samples = lib.tensor(np.linspace(0.1, 0.9, 2 * nd).reshape(1, 2, nd))
                y, i = getattr(fn, f"fractional_max_pool{nd}d")(
                    xt, 2, output_size=2, return_indices=True, _random_samples=samples
                )
            y.backward(lib.tensor(g))
            outs.append((y, i, xt.grad))
        (ty, ti, tg), (ey, ei, eg) = outs
        _same(ey, ty)
        _same(ei, ti, 0, 0)
        _same(eg, tg)


# ---- batch norm over a channel holding a NaN: its running variance becomes NaN, as torch ------
# (the overflow-safe moments skipped the NaN and gave a variance of 0)


@pytest.mark.parametrize("shape", [(3, 2), (2, 2, 5), (1, 4, 6, 8, 10)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_batch_norm_running_stats_of_a_nan_channel_as_torch(shape, dtype):
    x = np.random.default_rng(8).standard_normal(shape).astype(dtype)
    x.flat[1] = np.nan  # channel 1 (or 0 for 3-D inputs with S > 1)
    cls = "BatchNorm1d" if len(shape) < 4 else "BatchNorm3d"
    tm, em = getattr(torch.nn, cls)(shape[1]), getattr(enn, cls)(shape[1])
    tm.to(getattr(torch, dtype))
    em.to(getattr(ember, dtype))
    t, e = tm(torch.tensor(x)), em(ember.tensor(x))
    tol = 1e-12 if dtype == "float64" else 1e-6
    _same(e, t, tol, tol)
    _same(em.running_mean, tm.running_mean, tol, tol)
    _same(em.running_var, tm.running_var, tol, tol)
    assert np.isnan(em.running_var.numpy()).sum() == 1
    # layer and group norm rows with a NaN stay NaN (their statistics share the fallback)
    y = F.layer_norm(ember.tensor(x.reshape(shape[0], -1)), (x.size // shape[0],)).numpy()
    assert np.isnan(y[0]).all()


# ---- the relu RNN kernel lets a NaN through, forward and backward, as torch's relu -----------


@pytest.mark.parametrize("cell", [False, True])
def test_relu_rnn_propagates_nan_as_torch(cell):
    x = np.array([[[np.nan, 1.0]], [[0.5, 0.2]], [[0.3, -0.1]]])
    if cell:
        x = x[:, 0]
    g = np.random.default_rng(9).standard_normal((3, 1, 2) if not cell else (3, 2))
    kw = dict(nonlinearity="relu")
    torch.manual_seed(0)
    tm = (torch.nn.RNNCell(2, 2, **kw) if cell else torch.nn.RNN(2, 2, 2, **kw)).double()
    em = enn.RNNCell(2, 2, **kw) if cell else enn.RNN(2, 2, 2, **kw)
    em.double()
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    t = tm(tx) if cell else tm(tx)[0]
    e = em(ex) if cell else em(ex)[0]
    t.backward(torch.tensor(g))
    e.backward(ember.tensor(g))
    _same(e, t)
    _same(ex.grad, tx.grad)
    tp = dict(tm.named_parameters())
    for k, p in em.named_parameters():
        _same(p.grad, tp[k].grad)
