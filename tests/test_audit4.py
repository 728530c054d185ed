"""PyTorch parity on configurations no earlier audit listed: seeded random sweeps of resampling
(interpolate, grid_sample, affine_grid), fold/unfold, pixel (un)shuffle, embedding_bag, ctc_loss,
convolutions, pools, norm layers and attention. Each case compares values AND gradients with
torch (copied weights; float64 tight, float32 loose)."""

import os
import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as EF

# ruff: noqa: B023 (every lambda made in a sweep loop is called within its own iteration)

torch = pytest.importorskip("torch")
TF = torch.nn.functional

TOL = {np.float64: dict(rtol=1e-9, atol=1e-10), np.float32: dict(rtol=1e-3, atol=1e-4)}


def _np(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.numpy())


def _outs(o):
    return list(o) if isinstance(o, (tuple, list)) else [o]


def _compare(fe, ft, arrays, dtype, seed=0, what="", grad=True, em=None, tm=None, n_grad=None):
    """Run fe(*ember tensors) and ft(*torch tensors); float arrays require grad. Compare every
    output, then the gradients of sum(out * g) for random g w.r.t. inputs and module params."""
    tol = TOL[dtype]
    rg = [
        grad and a.dtype.kind == "f" and (n_grad is None or i < n_grad)
        for i, a in enumerate(arrays)
    ]
    et = [ember.tensor(a, requires_grad=r) for a, r in zip(arrays, rg)]
    tt = [torch.tensor(a, requires_grad=r) for a, r in zip(arrays, rg)]
    eo, to = _outs(fe(*et)), _outs(ft(*tt))
    assert len(eo) == len(to), what
    rng = np.random.default_rng(seed)
    el = tl = None
    for e, t in zip(eo, to):
        if t is None:
            assert e is None, what
            continue
        a, b = _np(e), _np(t)
        assert a.shape == b.shape, (what, a.shape, b.shape)
        if b.dtype.kind != "f":
            np.testing.assert_array_equal(a, b, err_msg=what)
            continue
        np.testing.assert_allclose(a, b, err_msg=what, **tol)
        if grad and t.requires_grad and np.isfinite(b).all():
            g = rng.standard_normal(b.shape).astype(b.dtype)
            el = (e * ember.tensor(g)).sum() if el is None else el + (e * ember.tensor(g)).sum()
            tl = (t * torch.tensor(g)).sum() if tl is None else tl + (t * torch.tensor(g)).sum()
    if tl is None:
        return
    tl.backward()
    el.backward()
    pairs = list(zip(et, tt))
    if tm is not None:
        tp = dict(tm.named_parameters())
        pairs += [(p, tp[n]) for n, p in em.named_parameters()]
    for i, (e, t) in enumerate(pairs):
        if not t.requires_grad:
            continue
        if t.grad is None:
            assert e.grad is None or not np.any(_np(e.grad)), (what, i)
            continue
        assert e.grad is not None, (what, i, "no grad")
        np.testing.assert_allclose(_np(e.grad), _np(t.grad), err_msg=f"{what} grad {i}", **tol)


def _seeds():
    # AUDIT4_SEEDS=40 widens every sweep (what the audit ran); the default keeps the suite fast
    return range(int(os.environ.get("AUDIT4_SEEDS", 4)))


def _module_pair(name, *args, **kw):
    tm = getattr(torch.nn, name)(*args, **kw)
    em = getattr(ember.nn, name)(*args, **kw)
    sd = tm.state_dict()
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in sd.items()})
    return em, tm


def _cast(em, tm, dtype):
    if dtype == np.float64:
        tm.double()
        em.double()
    return em, tm


INTERP_MODES = {
    3: ["nearest", "nearest-exact", "linear", "area"],
    4: ["nearest", "nearest-exact", "bilinear", "bicubic", "area"],
    5: ["nearest", "nearest-exact", "trilinear", "area"],
}


def _interp_cases(n, seed):
    rng = np.random.default_rng(seed)
    for i in range(n):
        nd = int(rng.choice([3, 4, 5]))
        mode = str(rng.choice(INTERP_MODES[nd]))
        sp = tuple(int(v) for v in rng.integers(1, 8 if nd < 5 else 5, nd - 2))
        kw = {"mode": mode}
        if mode in ("linear", "bilinear", "bicubic", "trilinear"):
            kw["align_corners"] = bool(rng.integers(2))
        if mode in ("bilinear", "bicubic") and rng.integers(2):
            kw["antialias"] = True
        if rng.integers(2):
            kw["size"] = tuple(int(v) for v in rng.integers(1, 10, nd - 2))
            if rng.integers(2) and len(set(kw["size"])) == 1:
                kw["size"] = kw["size"][0]
        else:
            sf = tuple(float(rng.choice([0.5, 0.7, 1.3, 2.0, 2.5, 3.0, 0.34, 1.0])) for _ in sp)
            kw["scale_factor"] = sf if rng.integers(2) else sf[0]
            if rng.integers(2):
                kw["recompute_scale_factor"] = bool(rng.integers(2))
        dtype = np.float64 if i % 2 else np.float32
        yield (2, 3) + sp, kw, dtype


@pytest.mark.parametrize("seed", _seeds())
def test_interpolate_sweep(seed):
    for shape, kw, dtype in _interp_cases(40, seed):
        x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
        try:
            t = TF.interpolate(torch.tensor(x), **kw)
        except (RuntimeError, ValueError):
            continue  # not a valid torch configuration
        if t.numel() == 0:
            # 'area' (adaptive average pooling) may floor a size to 0: empty, as in torch
            assert EF.interpolate(ember.tensor(x), **kw).shape == tuple(t.shape)
            continue
        grad = not _torch_grad_not_adjoint(shape, t.shape, kw)
        ft = lambda a: TF.interpolate(a, **kw)  # noqa: E731
        if kw.get("antialias") and t.shape[-1] == 1:
            ft = _antialias_transposed(kw)
        fe = lambda a: EF.interpolate(a, **kw)  # noqa: E731
        if "antialias" not in kw and len(kw) > 2:  # the same through nn.Upsample
            fe, ft = ember.nn.Upsample(**kw), torch.nn.Upsample(**kw)
        _compare(
            fe,
            ft,
            [x],
            dtype,
            what=f"{shape} {kw}",
            grad=grad,
        )


def _antialias_transposed(kw):
    # torch 2.13's antialiased resize to an output width of 1 copies the first output row down
    # every row (interpolate((1, 1, 6, 3), size=(5, 1), mode='bilinear', antialias=True) is
    # constant), unlike the same resize of the transposed image. The filter is separable, so
    # the transposed torch resize is the reference.
    kw = dict(kw)
    for k in ("size", "scale_factor"):
        if isinstance(kw.get(k), tuple):
            kw[k] = kw[k][::-1]
    return lambda a: TF.interpolate(a.transpose(2, 3), **kw).transpose(2, 3)


def _torch_grad_not_adjoint(shape, out, kw):
    # torch 2.13 treats a dim whose output size equals its input size under a scale_factor != 1
    # differently forward and backward: nearest's forward indexes it by floor(j / scale) but
    # its backward copies; antialias's forward copies but its backward filters by the scale.
    # torch's gradient is then not the adjoint of its own forward; ember's is (values agree,
    # test_same_size_grad_is_the_forward_adjoint).
    sf = kw.get("scale_factor")
    odd = kw["mode"].startswith("nearest") or kw.get("antialias")
    if not odd or sf is None or kw.get("recompute_scale_factor"):
        return False
    sf = sf if isinstance(sf, tuple) else (sf,) * (len(shape) - 2)
    return any(i == o and s != 1 for i, o, s in zip(shape[2:], out[2:], sf))


@pytest.mark.parametrize("mode", ["nearest", "nearest-exact"])
def test_same_size_grad_is_the_forward_adjoint(mode):
    # torch 2.13: interpolate((1, 1, 3, 4, 2), scale_factor=1.3) reads input rows [0, 0, 1] of
    # the size-3 dim (forward identical in ember and torch) but torch's backward routes the
    # gradient as a plain copy; ember's gradient is the forward's true adjoint. (Antialias:
    # torch copies such a dim forward but filters it backward; ember copies both ways.)
    z = ember.tensor(np.random.default_rng(1).standard_normal((1, 1, 3, 4)), requires_grad=True)
    assert ember.autograd.gradcheck(
        lambda a: EF.interpolate(a, scale_factor=1.3, mode="bilinear", antialias=True), (z,)
    )
    x = ember.tensor(np.random.default_rng(0).standard_normal((1, 2, 3, 4, 2)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda a: EF.interpolate(a, scale_factor=1.3, mode=mode), (x,))
    y = np.random.default_rng(0).standard_normal((1, 2, 3))
    assert ember.autograd.gradcheck(
        lambda a: EF.interpolate(a, scale_factor=1.3, mode=mode),
        (ember.tensor(y, requires_grad=True),),
    )


@pytest.mark.parametrize("seed", _seeds())
def test_grid_sample_affine_grid_sweep(seed):
    rng = np.random.default_rng(100 + seed)
    for i in range(24):
        nd = int(rng.choice([4, 5]))
        modes = ["bilinear", "nearest"] + (["bicubic"] if nd == 4 else [])
        kw = dict(
            mode=str(rng.choice(modes)),
            padding_mode=str(rng.choice(["zeros", "border", "reflection"])),
            align_corners=bool(rng.integers(2)),
        )
        dtype = np.float64 if i % 2 else np.float32
        sp = tuple(int(v) for v in rng.integers(1, 6, nd - 2))
        x = rng.standard_normal((2, 3) + sp).astype(dtype)
        out_sp = tuple(int(v) for v in rng.integers(1, 5, nd - 2))
        grid = (rng.uniform(-1.4, 1.4, (2,) + out_sp + (nd - 2,))).astype(dtype)
        if kw["mode"] == "nearest":  # keep sample points off the rounding ties
            grid = np.round(grid * 8) / 8 + 1 / 64
        _compare(
            lambda a, g: EF.grid_sample(a, g, **kw),
            lambda a, g: TF.grid_sample(a, g, **kw),
            [x, grid],
            dtype,
            what=f"{x.shape} {grid.shape} {kw}",
        )
        theta = rng.standard_normal((2, nd - 2, nd - 1)).astype(dtype)
        size = (2, 3) + out_sp
        ac = bool(rng.integers(2))
        with warnings.catch_warnings():  # both warn on a unit-size grid with align_corners
            warnings.simplefilter("ignore", UserWarning)
            _compare(
                lambda th: EF.affine_grid(th, size, align_corners=ac),
                lambda th: TF.affine_grid(th, size, align_corners=ac),
                [theta],
                dtype,
                what=f"affine_grid {size} {ac}",
            )


@pytest.mark.parametrize("seed", _seeds())
def test_fold_unfold_pixel_shuffle_sweep(seed):
    rng = np.random.default_rng(200 + seed)
    for i in range(20):
        dtype = np.float64 if i % 2 else np.float32
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        p = tuple(int(v) for v in rng.integers(0, 3, 2))
        s = tuple(int(v) for v in rng.integers(1, 4, 2))
        hw = tuple(int(v) for v in rng.integers(3, 9, 2))
        kw = dict(kernel_size=k, dilation=d, padding=p, stride=s)
        if rng.integers(2):
            kw = {a: b[0] for a, b in kw.items()}
        x = rng.standard_normal((2, 3) + hw).astype(dtype)
        try:
            cols = TF.unfold(torch.tensor(x), **kw)
        except RuntimeError:
            continue
        _compare(
            lambda a: EF.unfold(a, **kw),
            lambda a: TF.unfold(a, **kw),
            [x],
            dtype,
            what=f"unfold {hw} {kw}",
        )
        c = rng.standard_normal(tuple(cols.shape)).astype(dtype)
        _compare(
            lambda a: EF.fold(a, hw, **kw),
            lambda a: TF.fold(a, hw, **kw),
            [c],
            dtype,
            what=f"fold {hw} {kw}",
        )
        r = int(rng.integers(1, 4))
        lead = tuple(int(v) for v in rng.integers(1, 3, int(rng.integers(0, 3))))
        y = rng.standard_normal(lead + (2 * r * r, 2, 3)).astype(dtype)
        _compare(lambda a: EF.pixel_shuffle(a, r), lambda a: TF.pixel_shuffle(a, r), [y], dtype)
        z = rng.standard_normal(lead + (2, 2 * r, 3 * r)).astype(dtype)
        _compare(lambda a: EF.pixel_unshuffle(a, r), lambda a: TF.pixel_unshuffle(a, r), [z], dtype)


def _bag(F, kw, offsets: bool):
    def f(w, idx, *rest):
        o, psw = (rest[0], rest[1:]) if offsets else (None, rest)
        return F.embedding_bag(idx, w, o, per_sample_weights=psw[0] if psw else None, **kw)

    return f


@pytest.mark.parametrize("seed", _seeds())
def test_embedding_bag_sweep(seed):
    rng = np.random.default_rng(300 + seed)
    for i in range(24):
        dtype = np.float64 if i % 2 else np.float32
        n, dim = int(rng.integers(3, 9)), int(rng.integers(1, 5))
        mode = str(rng.choice(["sum", "mean", "max"]))
        w = rng.standard_normal((n, dim)).astype(dtype)
        kw = dict(mode=mode)
        if rng.integers(2):
            kw["padding_idx"] = int(rng.integers(-n, n))
        psw = mode == "sum" and rng.integers(2)
        if rng.integers(2):  # 2-D input, fixed bags
            idx = rng.integers(0, n, (int(rng.integers(1, 4)), int(rng.integers(1, 5))))
            arrays = [w, idx]
            if psw:
                arrays.append(rng.standard_normal(idx.shape).astype(dtype))
        else:
            m = int(rng.integers(1, 10))
            idx = rng.integers(0, n, m)
            nb = int(rng.integers(1, 5))
            offs = np.sort(rng.integers(0, m + 1, nb))
            offs[0] = 0
            kw["include_last_offset"] = bool(rng.integers(2))
            if kw["include_last_offset"]:
                offs = np.append(offs, m)
            arrays = [w, idx, offs]
            if psw:
                arrays.append(rng.standard_normal(idx.shape).astype(dtype))
        offsets = len(arrays) > 2 and arrays[2].dtype.kind == "i"
        _compare(
            _bag(EF, kw, offsets),
            _bag(TF, kw, offsets),
            arrays,
            dtype,
            what=f"embedding_bag {[a.shape for a in arrays]} {kw} {arrays[1:]}",
        )


@pytest.mark.parametrize("seed", _seeds())
def test_ctc_loss_sweep(seed):
    rng = np.random.default_rng(400 + seed)
    for i in range(12):
        dtype = np.float64 if i % 2 else np.float32
        t_len, n, c = int(rng.integers(1, 9)), int(rng.integers(1, 4)), int(rng.integers(2, 6))
        blank = int(rng.integers(0, c))
        labels = [v for v in range(c) if v != blank]
        in_len = rng.integers(1, t_len + 1, n)
        tg_len = rng.integers(0, 6, n)
        kw = dict(
            blank=blank,
            reduction=str(rng.choice(["none", "mean", "sum"])),
            zero_infinity=bool(rng.integers(2)),
        )
        lp = rng.standard_normal((t_len, n, c)).astype(dtype)
        lp = lp - np.log(np.exp(lp).sum(-1, keepdims=True))
        if rng.integers(2):  # padded (N, S) targets
            tg = rng.choice(labels, (n, max(int(tg_len.max()), 1)))
        else:  # concatenated targets
            tg = rng.choice(labels, int(tg_len.sum()))
        if rng.integers(2) and n == 1:
            lp, in_len, tg = lp[:, 0], in_len[0], tg.reshape(-1)[: tg_len[0]]
            tg_len = tg_len[0]
            in_len, tg_len = np.asarray(in_len), np.asarray(tg_len)
        _compare(
            lambda a, b, il, tl: EF.ctc_loss(a, b, il, tl, **kw),
            lambda a, b, il, tl: TF.ctc_loss(a, b, il, tl, **kw),
            [lp, tg, in_len, tg_len],
            dtype,
            what=f"ctc {lp.shape} {tg.shape} {in_len} {tg_len} {kw}",
        )


def _module_case(name, args, kw, x, dtype, what="", call=None, train=True):
    torch.manual_seed(0)
    em, tm = _cast(*_module_pair(name, *args, **kw), dtype)
    em.train(train)
    tm.train(train)
    call = call or (lambda m, *a: m(*a))
    _compare(
        lambda *a: call(em, *a),
        lambda *a: call(tm, *a),
        x,
        dtype,
        what=f"{name}{args} {kw} {what}",
        em=em,
        tm=tm,
    )
    for (n, b), (n2, b2) in zip(em.named_buffers(), tm.named_buffers()):
        assert n == n2
        np.testing.assert_allclose(_np(b), _np(b2), err_msg=f"{name} buffer {n}", **TOL[dtype])


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch: an even kernel pads a copy
@pytest.mark.parametrize("seed", _seeds())
def test_conv_sweep(seed):
    rng = np.random.default_rng(500 + seed)
    for i in range(24):
        dtype = np.float64 if i % 2 else np.float32
        nd = int(rng.integers(1, 4))
        transposed = bool(rng.integers(2))
        g = int(rng.choice([1, 2, 3]))
        cin, cout = g * int(rng.integers(1, 3)), g * int(rng.integers(1, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        s = tuple(int(v) for v in rng.integers(1, 3, nd))
        d = tuple(int(v) for v in rng.integers(1, 3, nd))
        kw = dict(groups=g, bias=bool(rng.integers(2)), dilation=d, stride=s)
        if transposed:
            kw["padding"] = tuple(int(v) for v in rng.integers(0, 2, nd))
            kw["output_padding"] = tuple(int(rng.integers(0, max(a, b))) for a, b in zip(s, d))
        elif rng.integers(3) == 0:
            kw["padding"] = "same"
            kw["stride"] = 1
        else:
            kw["padding"] = tuple(int(v) for v in rng.integers(0, 3, nd))
        if not transposed and rng.integers(2):
            kw["padding_mode"] = str(rng.choice(["reflect", "replicate", "circular"]))
        if rng.integers(2):
            kw = {a: (b[0] if isinstance(b, tuple) else b) for a, b in kw.items()}
        sp = tuple(int(v) for v in rng.integers(3, 8 if nd < 3 else 6, nd))
        x = rng.standard_normal((2, cin) + sp).astype(dtype)
        name = ("ConvTranspose" if transposed else "Conv") + f"{nd}d"
        try:
            getattr(torch.nn, name)(cin, cout, k, **kw)(torch.tensor(x).float())
        except (RuntimeError, ValueError):
            continue
        _module_case(name, (cin, cout, k), kw, [x], dtype)


@pytest.mark.parametrize("seed", _seeds())
def test_pool_sweep(seed):
    rng = np.random.default_rng(600 + seed)
    for i in range(30):
        dtype = np.float64 if i % 2 else np.float32
        nd = int(rng.integers(1, 4))
        kind = str(rng.choice(["Max", "Avg", "LP", "AdaptiveMax", "AdaptiveAvg"]))
        if kind == "LP" and nd == 1 and False:
            pass
        sp = tuple(int(v) for v in rng.integers(2, 9 if nd < 3 else 6, nd))
        x = rng.standard_normal((2, 3) + sp).astype(dtype)
        if rng.integers(3) == 0:
            x = x[0]  # unbatched
        name = f"{kind}Pool{nd}d"
        k = tuple(int(v) for v in rng.integers(1, 4, nd))
        kw = {}
        if kind.startswith("Adaptive"):
            args = (tuple(int(v) if rng.integers(4) else None for v in rng.integers(1, 6, nd)),)
            if kind == "AdaptiveMax":
                kw["return_indices"] = bool(rng.integers(2))
        elif kind == "LP":
            args = (float(rng.choice([1.0, 2.0, 3.0])), k)
            kw = dict(
                stride=tuple(int(v) for v in rng.integers(1, 3, nd)),
                ceil_mode=bool(rng.integers(2)),
            )
            x = np.abs(x) + 0.1  # keep the p-th root off 0 (its gradient is inf there)
        else:
            args = (k,)
            kw = dict(
                stride=tuple(int(v) for v in rng.integers(1, 4, nd)),
                padding=tuple(int(rng.integers(0, a // 2 + 1)) for a in k),
                ceil_mode=bool(rng.integers(2)),
            )
            if kind == "Max":
                kw["dilation"] = tuple(int(v) for v in rng.integers(1, 3, nd))
                kw["return_indices"] = bool(rng.integers(2))
            else:
                kw["count_include_pad"] = bool(rng.integers(2))
                if nd > 1 and rng.integers(2):
                    kw["divisor_override"] = int(rng.integers(1, 5))
        try:
            getattr(torch.nn, name)(*args, **kw)(torch.tensor(x))
        except (RuntimeError, ValueError, TypeError):
            continue
        _module_case(name, args, kw, [x], dtype, what=str(x.shape))
        if kw.get("return_indices") and kind == "Max":
            tm = getattr(torch.nn, name)(*args, **kw)
            em = getattr(ember.nn, name)(*args, **kw)
            ukw = {a: kw[a] for a in ("stride", "padding")}
            tu, eu = (
                getattr(torch.nn, f"MaxUnpool{nd}d")(k, **ukw),
                getattr(ember.nn, f"MaxUnpool{nd}d")(k, **ukw),
            )
            size = list(x.shape[-nd:])
            try:
                tu(*tm(torch.tensor(x)), output_size=size)
            except (RuntimeError, ValueError):
                continue
            _compare(
                lambda a: eu(em(a)[0], em(a)[1], output_size=size),
                lambda a: tu(tm(a)[0], tm(a)[1], output_size=size),
                [x],
                dtype,
                what=f"unpool {name} {kw} {x.shape}",
            )


@pytest.mark.parametrize("seed", _seeds())
def test_norm_sweep(seed):
    rng = np.random.default_rng(700 + seed)
    for i in range(24):
        dtype = np.float64 if i % 2 else np.float32
        kind = str(rng.choice(["Batch", "Instance", "Group", "Layer", "RMS", "LRN"]))
        nd = int(rng.integers(1, 4))
        c = int(rng.integers(2, 5))
        sp = tuple(int(v) for v in rng.integers(2, 5, nd))
        x = (rng.standard_normal((3, c) + sp) * 2 + 0.5).astype(dtype)
        train, steps = bool(rng.integers(2)), 1
        if kind in ("Batch", "Instance"):
            name = f"{kind}Norm{nd}d"
            kw = dict(
                affine=bool(rng.integers(2)),
                track_running_stats=bool(rng.integers(2)),
                momentum=None if rng.integers(2) else float(rng.choice([0.1, 0.5])),
            )
            args, steps = (c,), 3
            if kind == "Instance" and rng.integers(3) == 0:
                x = x[0]  # unbatched
        elif kind == "Group":
            g = int(rng.choice([v for v in range(1, c + 1) if c % v == 0]))
            name, args, kw = "GroupNorm", (g, c), dict(affine=bool(rng.integers(2)))
        elif kind in ("Layer", "RMS"):
            m = int(rng.integers(1, x.ndim))
            shape = x.shape[-m:]
            name, args = f"{kind}Norm", (shape if rng.integers(2) or m > 1 else shape[0],)
            kw = dict(elementwise_affine=bool(rng.integers(2)))
            if kind == "Layer":
                kw["bias"] = bool(rng.integers(2))
            else:
                kw["eps"] = None if rng.integers(2) else 1e-3
        else:
            name, args = "LocalResponseNorm", (int(rng.integers(1, 5)),)
            kw = dict(alpha=float(rng.choice([1e-4, 0.1])), beta=0.75, k=float(rng.choice([1, 2])))
        torch.manual_seed(0)
        em, tm = _cast(*_module_pair(name, *args, **kw), dtype)
        with torch.no_grad():  # non-trivial affine parameters
            for p in tm.parameters():
                p.copy_(torch.tensor(rng.standard_normal(tuple(p.shape))))
        em.load_state_dict({k: v.numpy().copy() for k, v in tm.state_dict().items()})
        for step in range(steps):
            em.train(train if step < steps - 1 else bool(rng.integers(2)))
            tm.train(em.training)
            try:
                tm(torch.tensor(x))
            except (RuntimeError, ValueError):
                break
            tm.load_state_dict({k: torch.tensor(_np(v)) for k, v in em.state_dict().items()})
            _compare(
                em,
                tm,
                [x],
                dtype,
                what=f"{name}{args} {kw} step {step} {em.training}",
                em=em,
                tm=tm,
            )
            for (n, b), (n2, b2) in zip(em.named_buffers(), tm.named_buffers()):
                assert n == n2
                np.testing.assert_allclose(
                    _np(b), _np(b2), err_msg=f"{name} {kw} {n}", **TOL[dtype]
                )
            x = x * 1.5 + 0.25


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("seed", _seeds())
def test_multihead_attention_sweep(seed):
    rng = np.random.default_rng(800 + seed)
    for i in range(16):
        dtype = np.float64 if i % 2 else np.float32
        h = int(rng.integers(1, 4))
        e = h * int(rng.integers(1, 4))
        kw = dict(
            batch_first=bool(rng.integers(2)),
            add_bias_kv=bool(rng.integers(2)),
            add_zero_attn=bool(rng.integers(2)),
            bias=bool(rng.integers(2)),
        )
        if rng.integers(2):
            kw["kdim"], kw["vdim"] = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        n, lq, lk = int(rng.integers(1, 4)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        q = rng.standard_normal((n, lq, e) if kw["batch_first"] else (lq, n, e)).astype(dtype)
        kd, vd = kw.get("kdim", e), kw.get("vdim", e)
        k = rng.standard_normal((n, lk, kd) if kw["batch_first"] else (lk, n, kd)).astype(dtype)
        v = rng.standard_normal((n, lk, vd) if kw["batch_first"] else (lk, n, vd)).astype(dtype)
        extra = int(kw["add_bias_kv"]) + int(kw["add_zero_attn"])
        arrays = [q, k, v]
        ck = {"need_weights": bool(rng.integers(2)), "average_attn_weights": bool(rng.integers(2))}
        if rng.integers(2):
            kpm = rng.random((n, lk)) < 0.3
            kpm[:, 0] = False  # every query keeps a key (no all -inf rows: NaN in both)
            ck["key_padding_mask"] = (
                kpm if rng.integers(2) else np.where(kpm, -np.inf, 0).astype(dtype)
            )
        if rng.integers(2):
            shape = (lq, lk) if rng.integers(2) else (n * h, lq, lk)
            if rng.integers(2):
                am = rng.random(shape) < 0.3
                am[..., 0] = False
            else:
                am = rng.standard_normal(shape).astype(dtype)
            ck["attn_mask"] = am
        del extra
        torch.manual_seed(seed * 100 + i)
        em, tm = _cast(*_module_pair("MultiheadAttention", e, h, **kw), dtype)
        em.eval()
        tm.eval()
        masks = {a: b for a, b in ck.items() if isinstance(b, np.ndarray)}
        flags = {a: b for a, b in ck.items() if not isinstance(b, np.ndarray)}
        names = list(masks)

        def call(lib, m, q_, k_, v_, *ms):
            return m(q_, k_, v_, **dict(zip(names, ms)), **flags)

        _compare(
            lambda *a: call(ember, em, *a),
            lambda *a: call(torch, tm, *a),
            arrays + [masks[a] for a in names],
            dtype,
            what=f"MHA {e} {h} {kw} {ck.keys()} {flags} {[masks[a].dtype for a in names]}",
            em=em,
            tm=tm,
        )


@pytest.mark.filterwarnings("ignore:Support for mismatched key_padding_mask")
@pytest.mark.parametrize("seed", _seeds())
def test_transformer_decoder_layer_sweep(seed):
    rng = np.random.default_rng(900 + seed)
    for i in range(6):
        dtype = np.float64 if i % 2 else np.float32
        d, h = 8, int(rng.choice([1, 2, 4]))
        kw = dict(
            dim_feedforward=16,
            dropout=0.0,
            batch_first=bool(rng.integers(2)),
            norm_first=bool(rng.integers(2)),
            activation=str(rng.choice(["relu", "gelu"])),
            bias=bool(rng.integers(2)),
        )
        n, lt, lm = int(rng.integers(1, 3)), int(rng.integers(1, 5)), int(rng.integers(1, 5))
        tgt = rng.standard_normal((n, lt, d) if kw["batch_first"] else (lt, n, d)).astype(dtype)
        mem = rng.standard_normal((n, lm, d) if kw["batch_first"] else (lm, n, d)).astype(dtype)
        masks = {}
        if rng.integers(2):
            masks["tgt_mask"] = np.triu(np.full((lt, lt), -np.inf), 1).astype(dtype)
        if rng.integers(2):
            mm = rng.random((lt, lm)) < 0.3
            mm[:, 0] = False
            masks["memory_mask"] = mm
        if rng.integers(2):
            kp = rng.random((n, lm)) < 0.3
            kp[:, 0] = False
            masks["memory_key_padding_mask"] = kp
        if rng.integers(2):
            kp = rng.random((n, lt)) < 0.3
            kp[:, 0] = False
            masks["tgt_key_padding_mask"] = kp
        names = list(masks)
        torch.manual_seed(i)
        em, tm = _cast(*_module_pair("TransformerDecoderLayer", d, h, **kw), dtype)

        def call(lib, m, t_, m_, *ms):
            return m(t_, m_, **dict(zip(names, ms)))

        _compare(
            lambda *a: call(ember, em, *a),
            lambda *a: call(torch, tm, *a),
            [tgt, mem] + [masks[a] for a in names],
            dtype,
            what=f"decoder {kw} {names}",
            em=em,
            tm=tm,
        )


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("extra", [{}, {"add_bias_kv": True, "add_zero_attn": True}], ids=str)
def test_mha_float_mask_gradient(need_weights, extra):
    # Regression: MultiheadAttention read its float attn_mask / key_padding_mask as arrays, so a
    # learned additive mask (a relative-position bias) got no gradient; PyTorch's gets the
    # logits' gradient (0 at -inf entries).
    rng = np.random.default_rng(1)
    q = rng.standard_normal((2, 3, 4))
    am, kp = rng.standard_normal((2 * 2, 3, 3)), rng.standard_normal((2, 3))
    am[0, 1, 2] = -np.inf
    torch.manual_seed(0)
    em, tm = _cast(*_module_pair("MultiheadAttention", 4, 2, batch_first=True, **extra), np.float64)
    _compare(
        lambda x, a, b: em(x, x, x, attn_mask=a, key_padding_mask=b, need_weights=need_weights),
        lambda x, a, b: tm(x, x, x, attn_mask=a, key_padding_mask=b, need_weights=need_weights),
        [q, am, kp],
        np.float64,
        em=em,
        tm=tm,
    )
