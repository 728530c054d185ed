"""Round-38 fuzz of nn configurations against torch (pooling, normalisation, losses,
resampling, activations): the differences found (and fixed), plus a seeded sample of the
configuration grids compared value for value and gradient for gradient."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _lib(m):
    return ember if m == "e" else torch


def _raises_like(fe, ft):
    """Both calls raise, ember's exception an instance of torch's type."""
    with pytest.raises(Exception) as et:
        ft()
    with pytest.raises(type(et.value)):
        fe()


def _both(f, arrays, grad=True, dtype=np.float64):
    """f(module, *tensors) run by ember and torch on the same arrays: (outputs, gradients) of
    each, the gradients of a seeded weighted sum of the float outputs."""
    res = []
    for m in ("e", "t"):
        mod = _lib(m)
        ts = [
            mod.tensor(a, requires_grad=grad and a.dtype.kind == "f")
            if isinstance(a, np.ndarray)
            else a
            for a in arrays
        ]
        out = f(mod, *ts)
        outs = list(out) if isinstance(out, tuple) else [out]
        grads = []
        floats = [o for o in outs if o.dtype in (mod.float32, mod.float64) and o.requires_grad]
        if grad and floats:
            rng = np.random.default_rng(1)
            total = sum((o * mod.tensor(rng.standard_normal(tuple(o.shape)))).sum() for o in floats)
            total.backward()
            grads = [t.grad.numpy() for t in ts if hasattr(t, "grad") and t.grad is not None]
        res.append(([o.detach().numpy() for o in outs], grads))
    return res


def _assert_same(f, arrays, grad=True, rtol=1e-10):
    (eo, eg), (to, tg) = _both(f, arrays, grad)
    assert len(eo) == len(to) and len(eg) == len(tg)
    for a, b in zip(eo + eg, to + tg):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol)


# ---- differences found and fixed ------------------------------------------------------------


@pytest.mark.parametrize(
    "d, shape, kw",
    [
        (2, (1, 1, 3), dict(kernel_size=(2, 1), padding=(1, 0))),  # default output (0, 3)
        (1, (2, 2, 1), dict(kernel_size=2, padding=1)),
        (3, (2, 1, 1, 2, 3), dict(kernel_size=(2, 1, 1), stride=3, padding=(1, 0, 0))),
    ],
)
def test_max_unpool_to_an_empty_output(d, shape, kw):
    """An empty default output: torch's forward returns it without checking the indices (its
    backward then fails on an index out of bounds, an internal error ember need not copy)."""
    x = np.random.default_rng(0).standard_normal(shape)
    outs = []
    for m in ("e", "t"):
        F = _lib(m).nn.functional
        y, i = getattr(F, f"max_pool{d}d")(_lib(m).tensor(x), return_indices=True, **kw)
        outs.append(getattr(F, f"max_unpool{d}d")(y, i, **kw))
    assert tuple(outs[0].shape) == tuple(outs[1].shape) and 0 in outs[0].shape


@pytest.mark.parametrize("kernel", [(3,), [3], (4,)])
@pytest.mark.parametrize("length", [1, 2, 8])
def test_lp_pool1d_sequence_kernel_refused_after_the_pool_checks(kernel, length):
    """torch pools first (a too-short input: RuntimeError), then its mul refuses the tuple."""
    x = np.abs(np.random.default_rng(0).standard_normal((1, 2, length))) + 0.1
    _raises_like(
        lambda: ember.nn.functional.lp_pool1d(ember.tensor(x), 2, kernel),
        lambda: torch.nn.functional.lp_pool1d(torch.tensor(x), 2, kernel),
    )


def test_lp_pool1d_sequence_kernel_with_inf_norm_runs():
    x = np.random.default_rng(0).standard_normal((1, 2, 7))
    _assert_same(lambda m, x: m.nn.functional.lp_pool1d(x, float("inf"), (3,), 2), [x])


def test_gumbel_softmax_hard_0d():
    for m in ("e", "t"):
        y = _lib(m).nn.functional.gumbel_softmax(_lib(m).tensor(1.5), hard=True)
        assert y.shape == () and float(y) == 1.0


def _loss_cases():
    rng = np.random.default_rng(3)
    lp3 = rng.standard_normal((2, 3, 4))
    lp4 = rng.standard_normal((2, 3, 2, 2))
    lp5 = rng.standard_normal((2, 3, 2, 1, 2))
    x2 = rng.standard_normal((4, 3))
    x1 = rng.standard_normal(3)
    t2 = np.array([0, 2, 1, 2])
    probs = rng.random((4, 3))
    pos = rng.uniform(0.1, 0.9, (3, 2))
    sign = np.sign(rng.standard_normal((3, 2)))
    ctc_lp = np.log(rng.dirichlet(np.ones(4), (6, 2)))
    cases = []
    for red in ("none", "mean", "sum"):
        cases += [
            (f"nll 1d {red}", lambda F, x, red=red: F.nll_loss(x, F_t(F, 1), reduction=red), x1),
            (f"nll 2d {red}", lambda F, x, red=red: F.nll_loss(x, F_t(F, t2), reduction=red), x2),
            (
                f"nll 3d {red}",
                lambda F, x, red=red: F.nll_loss(x, F_t(F, np.zeros((2, 4), int)), reduction=red),
                lp3,
            ),
            (
                f"nll 4d {red}",
                lambda F, x, red=red: F.nll_loss(x, F_t(F, np.ones((2, 2, 2), int)), reduction=red),
                lp4,
            ),
            (
                f"ce 5d {red}",
                lambda F, x, red=red: F.cross_entropy(
                    x, F_t(F, np.ones((2, 2, 1, 2), int)), reduction=red
                ),
                lp5,
            ),
            (
                f"ce smooth {red}",
                lambda F, x, red=red: F.cross_entropy(
                    x, F_t(F, t2), reduction=red, label_smoothing=0.2
                ),
                x2,
            ),
            (
                f"ce probs {red}",
                lambda F, x, red=red: F.cross_entropy(x, F_t(F, probs), reduction=red),
                x2,
            ),
            (
                f"bce {red}",
                lambda F, x, red=red: F.binary_cross_entropy(
                    x, F_t(F, pos[::-1].copy()), reduction=red
                ),
                pos,
            ),
            (
                f"hinge {red}",
                lambda F, x, red=red: F.hinge_embedding_loss(x, F_t(F, sign), reduction=red),
                pos,
            ),
            (
                f"margin_ranking {red}",
                lambda F, x, red=red: F.margin_ranking_loss(
                    x, F_t(F, pos), F_t(F, sign), reduction=red
                ),
                pos[::-1].copy(),
            ),
            (
                f"triplet_distance {red}",
                lambda F, x, red=red: F.triplet_margin_with_distance_loss(
                    x, F_t(F, x2[:3]), F_t(F, x2[1:]), reduction=red
                ),
                x2[:3].copy(),
            ),
            (
                f"multilabel_margin {red}",
                lambda F, x, red=red: F.multilabel_margin_loss(
                    x, F_t(F, np.array([[2, -1, 0]] * 4)), reduction=red
                ),
                x2,
            ),
            (
                f"multilabel_margin 1d {red}",
                lambda F, x, red=red: F.multilabel_margin_loss(
                    x, F_t(F, np.array([1, -1, 0])), reduction=red
                ),
                x1,
            ),
            (
                f"ctc {red}",
                lambda F, x, red=red: F.ctc_loss(
                    x, F_t(F, np.array([[1, 2], [3, 3]])), (6, 5), (2, 2), reduction=red
                ),
                ctc_lp,
            ),
            (
                f"ctc zero_infinity {red}",
                lambda F, x, red=red: F.ctc_loss(
                    x,
                    F_t(F, np.array([[1, 2], [3, 3]])),
                    (6, 1),
                    (2, 2),
                    reduction=red,
                    zero_infinity=True,
                ),
                ctc_lp,
            ),
            (
                f"ctc unbatched {red}",
                lambda F, x, red=red: F.ctc_loss(
                    x, F_t(F, np.array([1, 2])), (6,), (2,), reduction=red
                ),
                ctc_lp[:, 0].copy(),
            ),
        ]
    for red in ("none", "mean", "sum", "batchmean"):
        for lt in (False, True):
            cases.append(
                (
                    f"kl {red} log_target={lt}",
                    lambda F, x, red=red, lt=lt: F.kl_div(
                        x, F_t(F, np.log(probs) if lt else probs), reduction=red, log_target=lt
                    ),
                    np.log(probs[::-1].copy()),
                )
            )
    return cases


def F_t(F, a):
    """a as a Tensor of the library F belongs to."""
    return (ember if F is ember.nn.functional else torch).tensor(a)


_LOSSES = _loss_cases()


@pytest.mark.parametrize("name, f, x", _LOSSES, ids=[c[0] for c in _LOSSES])
def test_loss_node_names_values_and_gradients_as_torch(name, f, x):
    ye = f(ember.nn.functional, ember.tensor(x, requires_grad=True))
    yt = f(torch.nn.functional, torch.tensor(x, requires_grad=True))
    assert ye.grad_fn.name() == yt.grad_fn.name()
    _assert_same(lambda m, x: f(m.nn.functional, x), [x])


@pytest.mark.parametrize("training", [False, True])
def test_rrelu_node_name_as_torch(training):
    x = np.random.default_rng(0).standard_normal(5)
    ye = ember.nn.functional.rrelu(ember.tensor(x, requires_grad=True), training=training)
    yt = torch.nn.functional.rrelu(torch.tensor(x, requires_grad=True), training=training)
    assert ye.grad_fn.name() == yt.grad_fn.name() == "RreluWithNoiseBackward0"


@pytest.mark.parametrize("red", ["none", "mean", "sum"])
def test_renamed_loss_gradients_finite_differences(red):
    """The renamed composed losses keep their own gradients (float64 gradcheck)."""
    rng = np.random.default_rng(5)
    F = ember.nn.functional
    x = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    sign = ember.tensor(np.sign(rng.standard_normal((3, 4))))
    labels = ember.tensor(np.array([[1, -1, 0, 0]] * 3))
    assert gradcheck(
        lambda a, b: F.margin_ranking_loss(a, b, sign, margin=0.3, reduction=red), (x, y)
    )
    assert gradcheck(lambda a: F.hinge_embedding_loss(a, sign, reduction=red), (x,))
    assert gradcheck(lambda a: F.multilabel_margin_loss(a, labels, reduction=red), (x,))


# ---- torch bugs ember does not copy (its results checked another way) ----------------------


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_antialias_to_one_column_is_torch_transposed(mode, align_corners):
    """torch's antialiased interpolate to a single output column repeats its first row (a torch
    bug); ember's equals torch's on the transposed input (one output row, which torch gets
    right)."""
    x = np.random.default_rng(0).standard_normal((1, 2, 7, 5))
    kw = dict(mode=mode, antialias=True, align_corners=align_corners)
    e = ember.nn.functional.interpolate(ember.tensor(x), size=(3, 1), **kw)
    xt = torch.tensor(x).transpose(-1, -2)
    t = torch.nn.functional.interpolate(xt, size=(1, 3), **kw).transpose(-1, -2)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12, atol=1e-12)
    assert np.ptp(e.numpy()[0, 0, :, 0]) > 0.1  # (rows differ, unlike torch's own output)


def test_nearest_3d_scale_gradient_is_the_forward_adjoint():
    """torch's upsample_nearest3d backward with a non-integer scale_factor sends gradients to
    other source cells than its forward reads (a torch bug); ember's is the forward's adjoint."""
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 2, 2))
    f = lambda t: ember.nn.functional.interpolate(t, scale_factor=(1, 1, 2.3), mode="nearest")  # noqa: E731
    assert gradcheck(f, (ember.tensor(x, requires_grad=True),))
    yt = torch.nn.functional.interpolate(torch.tensor(x), scale_factor=(1, 1, 2.3), mode="nearest")
    np.testing.assert_array_equal(f(ember.tensor(x)).numpy(), yt.numpy())


# ---- a seeded sample of the configuration grids -----------------------------------------------


def _pool_configs(n=40):
    rng = np.random.default_rng(38)
    out = []
    for _ in range(n):
        d = int(rng.integers(1, 4))
        kind = rng.choice(["max", "avg", "amax", "aavg"])
        k = tuple(int(v) for v in rng.integers(1, 4, d))
        kw = {}
        if kind == "max":
            kw = dict(
                kernel_size=k,
                stride=tuple(int(v) for v in rng.integers(1, 3, d)),
                padding=tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k),
                dilation=tuple(int(v) for v in rng.integers(1, 3, d)),
                ceil_mode=bool(rng.random() < 0.5),
                return_indices=bool(rng.random() < 0.5),
            )
        elif kind == "avg":
            kw = dict(
                kernel_size=k,
                stride=tuple(int(v) for v in rng.integers(1, 3, d)),
                padding=tuple(int(rng.integers(0, kk // 2 + 1)) for kk in k),
                ceil_mode=bool(rng.random() < 0.5),
                count_include_pad=bool(rng.random() < 0.5),
            )
            if d > 1:
                kw["divisor_override"] = [None, 2, 3][int(rng.integers(0, 3))]
        else:
            kw = dict(output_size=tuple(int(v) for v in rng.integers(1, 5, d)))
            if kind == "amax":
                kw["return_indices"] = bool(rng.random() < 0.5)
        name = {"max": "max_pool", "avg": "avg_pool", "amax": "adaptive_max_pool"}.get(
            kind, "adaptive_avg_pool"
        )
        lead = (2,) if rng.random() < 0.3 else (2, 3)  # batch-less or not
        shape = lead + tuple(int(v) for v in rng.integers(3, 8, d))
        out.append((f"{name}{d}d", shape, kw))
    return out


@pytest.mark.parametrize("name, shape, kw", _pool_configs())
def test_pool_sample_as_torch(name, shape, kw):
    x = np.round(np.random.default_rng(1).standard_normal(shape) * 4) / 4  # ties too

    def f(m, x):
        try:
            return getattr(m.nn.functional, name)(x, **kw)
        except (RuntimeError, ValueError) as e:
            return e

    ye = f(ember, ember.tensor(x))
    yt = f(torch, torch.tensor(x))
    if isinstance(yt, Exception):
        assert isinstance(ye, type(yt))
        return
    _assert_same(lambda m, x: getattr(m.nn.functional, name)(x, **kw), [x])


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("affine, track", [(True, True), (False, True), (True, False)])
@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 4), (2, 2, 3, 2), (2, 2, 1, 2, 3)])
def test_batch_norm_module_sample_as_torch(shape, affine, track, momentum):
    """Two training steps then eval: outputs, running stats, gradients of input and affine."""
    x = np.random.default_rng(2).standard_normal(shape)
    cls = {2: "BatchNorm1d", 3: "BatchNorm1d", 4: "BatchNorm2d", 5: "BatchNorm3d"}[len(shape)]
    res = {}
    for m in (ember, torch):
        mod = getattr(m.nn, cls)(
            shape[1],
            momentum=momentum,
            affine=affine,
            track_running_stats=track,
            dtype=m.float64,
        )
        xt = m.tensor(x, requires_grad=True)
        y1 = mod(xt)
        y2 = mod(xt * 2 + 1)
        (y1 * y1 + y2).sum().backward()
        mod.eval()
        y3 = mod(xt.detach())
        outs = [y1, y2, y3, xt.grad] + [p.grad for p in mod.parameters()]
        if track:
            outs += [mod.running_mean, mod.running_var, mod.num_batches_tracked]
        res[m.__name__] = [o.detach().numpy() for o in outs]
    for a, b in zip(res["ember"], res["torch"]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-10)


def test_interpolate_unchanged_size_returns_a_new_tensor():
    """A resize that changes no dim (scale 1, or the input's own size) returned the input
    itself: writing into the result wrote into the input. torch returns a copy with a node."""
    x = np.random.default_rng(0).standard_normal((1, 2, 5))
    for m in (ember, torch):
        t = m.tensor(x, requires_grad=True)
        y = m.nn.functional.interpolate(t, scale_factor=1.0, mode="linear")
        assert y is not t and y.grad_fn.name() == "UpsampleLinear1DBackward0"
        with m.no_grad():
            y.add_(1)
        np.testing.assert_array_equal(t.detach().numpy(), x)
    _assert_same(
        lambda m, x: m.nn.functional.interpolate(x, size=(5,), mode="linear", align_corners=True),
        [x],
    )


def _node_cases():
    rng = np.random.default_rng(7)
    v5 = rng.standard_normal((2, 3, 4, 5, 3))
    v4 = rng.standard_normal((3, 4, 5, 3))
    i4 = rng.standard_normal((2, 3, 4, 5))
    s3 = rng.standard_normal((2, 3, 5))
    cases = [
        ("max_pool3d", lambda F, x: F.max_pool3d(x, 2), v5),
        ("max_pool3d indices", lambda F, x: F.max_pool3d(x, 2, return_indices=True)[0], v4),
        ("avg_pool3d", lambda F, x: F.avg_pool3d(x, 2, divisor_override=3), v5),
        ("adaptive_avg_pool3d", lambda F, x: F.adaptive_avg_pool3d(x, (2, 1, 3)), v5),
        ("adaptive_avg_pool3d 1", lambda F, x: F.adaptive_avg_pool3d(x, 1), v4),
        ("adaptive_avg_pool2d 1", lambda F, x: F.adaptive_avg_pool2d(x, 1), i4),
        ("adaptive_avg_pool2d", lambda F, x: F.adaptive_avg_pool2d(x, (3, 2)), i4),
        ("adaptive_max_pool2d", lambda F, x: F.adaptive_max_pool2d(x[0], 2), i4),
        ("adaptive_max_pool3d", lambda F, x: F.adaptive_max_pool3d(x, 2), v5),
        ("lp_pool3d inf", lambda F, x: F.lp_pool3d(x, float("inf"), 2), v5),
        (
            "fractional_max_pool2d",
            lambda F, x: F.fractional_max_pool2d(
                x, 2, output_size=2, _random_samples=F_t(F, np.full((2, 3, 2), 0.5))
            ),
            i4,
        ),
        (
            "fractional_max_pool3d",
            lambda F, x: F.fractional_max_pool3d(
                x, 2, output_size=(2, 2, 1), _random_samples=F_t(F, np.full((2, 3, 3), 0.5))
            ),
            v5,
        ),
        ("instance_norm", lambda F, x: F.instance_norm(x), i4),
        (
            "instance_norm running",
            lambda F, x: F.instance_norm(
                x, F_t(F, np.zeros(3)), F_t(F, np.ones(3)), use_input_stats=False
            ),
            i4,
        ),
        ("rms_norm", lambda F, x: F.rms_norm(x, (5,), F_t(F, np.arange(5.0))), i4),
        ("nearest 3d", lambda F, x: F.interpolate(x, scale_factor=2), v5),
        ("nearest-exact 1d", lambda F, x: F.interpolate(x, size=7, mode="nearest-exact"), s3),
        (
            "bilinear aa",
            lambda F, x: F.interpolate(x, size=(2, 3), mode="bilinear", antialias=True),
            i4,
        ),
        ("bicubic", lambda F, x: F.interpolate(x, size=(6, 3), mode="bicubic"), i4),
        ("trilinear", lambda F, x: F.interpolate(x, size=(3, 3, 3), mode="trilinear"), v5),
    ]
    grid = np.random.default_rng(8).uniform(-1.2, 1.2, (2, 3, 2, 2))
    cols, theta, c4 = (rng.standard_normal(s) for s in ((2, 4, 15), (2, 2, 3), (2, 4, 2, 3)))
    cases += [
        ("reflect 1d", lambda F, x: F.pad(x, (2, -1), mode="reflect"), s3),
        ("replicate 2d", lambda F, x: F.pad(x, (1, 2, -1, 1), mode="replicate"), i4),
        ("replicate 3d", lambda F, x: F.pad(x, (1, 0, 0, 1, 1, 1), mode="replicate"), v5),
        ("circular 1d", lambda F, x: F.pad(x, (2, 1), mode="circular"), s3),
        ("unfold", lambda F, x: F.unfold(x, 2, padding=1), i4),
        ("unfold unbatched", lambda F, x: F.unfold(x[0], 2, stride=2), i4),
        ("fold", lambda F, x: F.fold(x, (3, 6), (1, 2)), cols),
        (
            "affine_grid",
            lambda F, x: F.affine_grid(x, (2, 1, 3, 4), align_corners=False),
            theta,
        ),
        ("grid_sample", lambda F, x: F.grid_sample(x, F_t(F, grid), align_corners=True), i4),
        ("pixel_shuffle", lambda F, x: F.pixel_shuffle(x, 2), c4),
        ("pixel_unshuffle", lambda F, x: F.pixel_unshuffle(x, 2), i4[:, :, :2, :2]),
        ("channel_shuffle", lambda F, x: F.channel_shuffle(x, 3), i4),
    ]
    for d, shape in ((1, (2, 3, 4)), (2, (2, 3, 4, 4)), (3, (2, 3, 4, 4, 2))):
        x = rng.standard_normal(shape)

        def unpool(F, x, d=d):
            y, i = getattr(F, f"max_pool{d}d")(x, 2, return_indices=True)
            return getattr(F, f"max_unpool{d}d")(y, i, 2)

        cases.append((f"max_unpool{d}d", unpool, x))
    return cases


_NODES = _node_cases()


@pytest.mark.parametrize("name, f, x", _NODES, ids=[c[0] for c in _NODES])
def test_node_names_values_and_gradients_as_torch(name, f, x):
    ye = f(ember.nn.functional, ember.tensor(x, requires_grad=True))
    yt = f(torch.nn.functional, torch.tensor(x, requires_grad=True))
    assert ye.grad_fn.name() == yt.grad_fn.name()
    _assert_same(lambda m, x: f(m.nn.functional, x), [x])


@pytest.mark.parametrize(
    "f",
    [
        lambda F, x: F.pixel_shuffle(x, 1),
        lambda F, x: F.pixel_unshuffle(x, 1),
        lambda F, x: F.channel_shuffle(x, 1),
        lambda F, x: F.channel_shuffle(x, 3),  # (C / groups = 1: nothing moves either)
    ],
)
def test_shuffle_that_moves_nothing_is_a_copy(f):
    """These returned a view of the input (a write into the result wrote into the input);
    torch's kernels write a new tensor."""
    x = np.random.default_rng(0).standard_normal((2, 3, 2, 2))
    for m in (ember, torch):
        t = m.tensor(x)
        y = f(m.nn.functional, t)
        y.add_(1)
        np.testing.assert_array_equal(t.numpy(), x)
