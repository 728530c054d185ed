"""PyTorch parity at edge values: non-finite rows, huge magnitudes, wide QR, sparse embeddings."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

INF, NAN = np.inf, np.nan
# rows a reduction over the last dim meets at the edges of the float range
EDGE_ROWS = [
    [-INF, -INF, -INF],
    [INF, 1.0, 2.0],
    [INF, INF, 1.0],
    [NAN, 1.0, 2.0],
    [NAN, INF, -INF],
    [INF, -INF, 0.0],
    [-INF, 0.0, 1.0],
    [1e308, 1e308, 0.0],
]


def _run(lib, fn, x, w=None):
    """fn(x) and d(sum(fn(x) * w))/dx in library lib, as NumPy arrays."""
    t = lib.tensor(x.copy(), requires_grad=True)
    y = fn(t)
    w = np.ones(y.shape) if w is None else w
    (y * lib.tensor(w)).sum().backward()
    return y.detach().numpy(), t.grad.numpy()


def _assert_same(a, b):
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-300, equal_nan=True)


@pytest.mark.filterwarnings("ignore:overflow|invalid:RuntimeWarning")
@pytest.mark.parametrize("row", EDGE_ROWS, ids=str)
def test_logsumexp_edge_rows_match_torch(row):
    torch = pytest.importorskip("torch")
    x = np.array([row, [0.5, -1.0, 2.0]])
    ye, ge = _run(ember, lambda t: ember.logsumexp(t, 1), x)
    yt, gt = _run(torch, lambda t: torch.logsumexp(t, 1), x)
    _assert_same(ye, yt)
    _assert_same(ge, gt)


def test_logsumexp_gradient_is_nan_where_result_is_not_finite():
    x = np.array([[-INF, -INF, -INF], [INF, 1.0, 2.0], [NAN, 1.0, 2.0], [-INF, 0.0, 1.0]])
    with np.errstate(invalid="ignore", over="ignore"):
        y, g = _run(ember, lambda t: ember.logsumexp(t, 1), x)
    np.testing.assert_array_equal(y[:3], [-INF, INF, NAN])
    # exp(x - lse): -inf - -inf, inf - inf and NaN are NaN, finite - inf is 0
    np.testing.assert_array_equal(np.isnan(g[:3]), [[1, 1, 1], [1, 0, 0], [1, 1, 1]])
    np.testing.assert_array_equal(g[1, 1:], [0.0, 0.0])
    e = np.exp([0.0, 1.0])
    np.testing.assert_allclose(g[3], [0.0, *(e / e.sum())], rtol=1e-14)
    t = ember.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert gradcheck(lambda a: ember.logsumexp(a, 1), [t])


@pytest.mark.filterwarnings("ignore:overflow|invalid:RuntimeWarning")
@pytest.mark.parametrize("row", EDGE_ROWS, ids=str)
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_edge_rows_match_torch(row, name):
    torch = pytest.importorskip("torch")
    x = np.array([row, [0.5, -1.0, 2.0]])
    w = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    ye, ge = _run(ember, lambda t: getattr(F, name)(t, 1), x, w)
    yt, gt = _run(torch, lambda t: getattr(torch.nn.functional, name)(t, 1), x, w)
    _assert_same(ye, yt)
    _assert_same(ge, gt)


# ---- normalisation at huge magnitudes: the squared deviations overflow, the result does not.
# y is scale-invariant (up to eps), so the reference is the norm of x * 2^-k, exact in binary.

NORMS = {
    "layer_norm": (lambda lib, t, eps: lib.nn.functional.layer_norm(t, t.shape[-1:], eps=eps)),
    "group_norm": (lambda lib, t, eps: lib.nn.functional.group_norm(t, 2, eps=eps)),
    "batch_norm": (
        lambda lib, t, eps: lib.nn.functional.batch_norm(t, None, None, training=True, eps=eps)
    ),
}


def _np_norm(name, x):
    """The normalisation in NumPy with eps = 0 (negligible next to the variance)."""
    axes = {"layer_norm": (-1,), "batch_norm": (0, 2)}.get(name)
    if axes is None:  # group_norm, 2 groups
        g = x.reshape(x.shape[0], 2, -1)
        return ((g - g.mean(-1, keepdims=True)) / g.std(-1, keepdims=True)).reshape(x.shape)
    return (x - x.mean(axes, keepdims=True)) / x.std(axes, keepdims=True)


def _huge_input(big, dtype):
    """Every layer-norm row (so every group and channel) holds huge and ordinary values."""
    x = np.random.default_rng(3).standard_normal((3, 4, 5))
    x[..., 0] *= big / 4
    x[0, 0, 1] = -big
    x[2, 1, 3] = big / 2
    return x.astype(dtype)


@pytest.mark.parametrize("name", list(NORMS))
@pytest.mark.parametrize(
    "big,dtype", [(1e308, np.float64), (1e200, np.float64), (3e38, np.float32)]
)
def test_norms_stay_finite_and_exact_at_huge_magnitudes(name, big, dtype):
    x = _huge_input(big, dtype)
    y = NORMS[name](ember, ember.tensor(x), 1e-5).numpy()
    k = 2.0 ** -np.ceil(np.log2(big))
    expected = _np_norm(name, x.astype(np.float64) * k)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


@pytest.mark.parametrize("name", list(NORMS))
def test_norm_gradients_at_huge_magnitudes_match_torch_on_the_scaled_input(name):
    # y(x) = y(x * k) with eps * k^2, so dx(x) = k * dx(x * k): torch is finite on x * k
    torch = pytest.importorskip("torch")
    x, k, eps = _huge_input(1e200, np.float64), 2.0**-664, 1e-5
    w = np.random.default_rng(4).standard_normal(x.shape)
    ye, ge = _run(ember, lambda t: NORMS[name](ember, t, eps), x, w)
    yt, gt = _run(torch, lambda t: NORMS[name](torch, t, max(eps * k * k, 1e-300)), x * k, w)
    np.testing.assert_allclose(ye, yt, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ge, gt * k, rtol=1e-8, atol=1e-12 * k)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_constant_and_single_element_rows_of_huge_values_normalise_to_zero(dtype):
    # variance 0: rstd = 1/sqrt(eps), y = 0 (torch gives NaN here: its squares overflow)
    big = np.finfo(dtype).max / 2
    for x in (np.full((2, 4), big, dtype), np.array([[-big], [big]], dtype)):
        y = F.layer_norm(ember.tensor(x), x.shape[-1:]).numpy()
        np.testing.assert_array_equal(y, np.zeros_like(x))
    with np.errstate(invalid="ignore", over="ignore"):
        x = np.array([[np.nan, 1.0, 2.0], [np.inf, 1.0, 2.0]], dtype)  # non-finite still propagates
        assert np.isnan(F.layer_norm(ember.tensor(x), (3,)).numpy()).all()


# ---- linalg.qr gradient for wide matrices (m < n), as torch's A = [X | Y] split


QR_CASES = [
    (shape, mode)
    for shape in [(3, 5), (2, 3, 4), (1, 3), (4, 4), (5, 3)]
    for mode in ("reduced", "complete")
    if mode == "reduced" or shape[-2] <= shape[-1]  # complete and tall: not differentiable
]


@pytest.mark.parametrize("shape,mode", QR_CASES)
@pytest.mark.parametrize("use", ["QR", "Q", "R"])
def test_qr_gradient_matches_torch(shape, mode, use):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    A = rng.standard_normal(shape)
    grads = []
    for lib in (ember, torch):
        t = lib.tensor(A.copy(), requires_grad=True)
        Q, R = lib.linalg.qr(t, mode=mode)
        wq, wr = (np.random.default_rng(6).standard_normal(o.shape) for o in (Q, R))
        loss = (Q * lib.tensor(wq)).sum() * ("Q" in use) + (R * lib.tensor(wr)).sum() * ("R" in use)
        loss.backward()
        grads.append(t.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-9, atol=1e-11)


def test_qr_gradient_of_wide_matrices_by_finite_differences():
    A = ember.tensor(np.random.default_rng(7).standard_normal((2, 3, 5)), requires_grad=True)
    for mode in ("reduced", "complete"):
        assert gradcheck(lambda a, mode=mode: ember.linalg.qr(a, mode=mode)[0], [A])
        assert gradcheck(lambda a, mode=mode: ember.linalg.qr(a, mode=mode)[1], [A])
    # the NumPy factorisation the gradient is of: Q R = A, Q orthogonal, R upper-triangular
    Q, R = (o.numpy() for o in ember.linalg.qr(A))
    np.testing.assert_allclose(Q @ R, A.numpy(), atol=1e-12)
    np.testing.assert_allclose(
        np.swapaxes(Q, -1, -2) @ Q, np.broadcast_to(np.eye(3), (2, 3, 3)), atol=1e-12
    )
    np.testing.assert_array_equal(np.tril(R[..., :3], -1), 0)


def test_qr_complete_tall_is_not_differentiable():
    A = ember.tensor(np.random.default_rng(8).standard_normal((5, 3)), requires_grad=True)
    Q, R = ember.linalg.qr(A, mode="complete")
    with pytest.raises(RuntimeError, match="mode='complete' and nrows > ncols"):
        (Q.sum() + R.sum()).backward()


# ---- loss modules: PyTorch's constructor parameters, in PyTorch's order


def _torch_loss_names(torch):
    return sorted(
        n for n in dir(torch.nn) if "Loss" in n and isinstance(getattr(torch.nn, n), type)
    )


def test_every_loss_module_has_torchs_constructor_parameters():
    import inspect

    torch = pytest.importorskip("torch")

    def params(cls):
        sig = inspect.signature(cls.__init__)
        return [(p.name, p.kind, p.default) for p in sig.parameters.values()]

    names = _torch_loss_names(torch)
    assert len(names) >= 20 and "MSELoss" in names
    for name in names:
        assert params(getattr(ember.nn, name)) == params(getattr(torch.nn, name)), name


def _loss_inputs(name, rng):
    """Inputs (as NumPy arrays) a loss module's forward takes."""
    x, y = rng.standard_normal((2, 4, 3))
    sign = np.where(rng.standard_normal(4) > 0, 1.0, -1.0)
    cls = np.array([0, 1, 2, 1])
    logp = x - np.log(np.exp(x).sum(1, keepdims=True))
    return {
        "MSELoss": (x, y),
        "L1Loss": (x, y),
        "SmoothL1Loss": (x, y),
        "HuberLoss": (x, y),
        "SoftMarginLoss": (x, np.sign(y)),
        "KLDivLoss": (logp, logp[::-1].copy()),
        "BCELoss": (1 / (1 + np.exp(-x)), (y > 0) * 1.0),
        "BCEWithLogitsLoss": (x, (y > 0) * 1.0),
        "MultiLabelSoftMarginLoss": (x, (y > 0) * 1.0),
        "NLLLoss": (logp, cls),
        "CrossEntropyLoss": (x, cls),
        "MultiMarginLoss": (x, cls),
        "MultiLabelMarginLoss": (x, np.array([[2, 0, -1], [1, -1, 0], [0, 1, 2], [-1, 0, 0]])),
        "HingeEmbeddingLoss": (x, np.sign(y)),
        "CosineEmbeddingLoss": (x, y, sign),
        "MarginRankingLoss": (x[:, 0], y[:, 0], sign),
        "PoissonNLLLoss": (np.abs(x) + 0.1, np.floor(3 * np.abs(y))),
        "TripletMarginLoss": (x, y, rng.standard_normal((4, 3))),
    }[name]


# every constructor parameter given positionally (w: a class weight, legacy: the size_average,
# reduce, reduction triple, placed where PyTorch puts it)
POSITIONAL = {
    "MSELoss": lambda w, sa, rd, r: (sa, rd, r),
    "L1Loss": lambda w, sa, rd, r: (sa, rd, r),
    "SoftMarginLoss": lambda w, sa, rd, r: (sa, rd, r),
    "MultiLabelMarginLoss": lambda w, sa, rd, r: (sa, rd, r),
    "SmoothL1Loss": lambda w, sa, rd, r: (sa, rd, r, 0.5),
    "KLDivLoss": lambda w, sa, rd, r: (sa, rd, r, True),
    "BCELoss": lambda w, sa, rd, r: (w, sa, rd, r),
    "BCEWithLogitsLoss": lambda w, sa, rd, r: (w, sa, rd, r, w * 2),
    "MultiLabelSoftMarginLoss": lambda w, sa, rd, r: (w, sa, rd, r),
    "NLLLoss": lambda w, sa, rd, r: (w, sa, 1, rd, r),
    "CrossEntropyLoss": lambda w, sa, rd, r: (w, sa, 1, rd, r, 0.1),
    "MultiMarginLoss": lambda w, sa, rd, r: (2, 0.5, w, sa, rd, r),
    "HingeEmbeddingLoss": lambda w, sa, rd, r: (0.5, sa, rd, r),
    "CosineEmbeddingLoss": lambda w, sa, rd, r: (0.1, sa, rd, r),
    "MarginRankingLoss": lambda w, sa, rd, r: (0.1, sa, rd, r),
    "PoissonNLLLoss": lambda w, sa, rd, r: (False, True, sa, 1e-6, rd, r),
    "TripletMarginLoss": lambda w, sa, rd, r: (0.5, 1.5, 1e-5, True, sa, rd, r),
    "HuberLoss": lambda w, sa, rd, r: (r, 0.5),
}


@pytest.mark.parametrize("name", sorted(POSITIONAL))
@pytest.mark.parametrize(
    "legacy", [(None, None, "sum"), (False, None, "mean"), (None, False, "sum")]
)
def test_loss_modules_called_positionally_match_torch(name, legacy):
    import warnings

    torch = pytest.importorskip("torch")
    if name == "HuberLoss" and legacy[:2] != (None, None):
        legacy = (None, None, "none")  # no size_average / reduce in PyTorch's HuberLoss
    arrays = _loss_inputs(name, np.random.default_rng(9))
    w = np.array([0.5, 1.0, 2.0])
    outs = []
    for lib in (ember, torch):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            loss = getattr(lib.nn, name)(*POSITIONAL[name](lib.tensor(w), *legacy))
        legacy_warned = any("size_average and reduce" in str(c.message) for c in caught)
        assert legacy_warned == (legacy[:2] != (None, None)), (lib.__name__, caught)
        args = [lib.tensor(a) for a in arrays]
        outs.append(np.asarray(loss(*args).detach().numpy()))
    assert outs[0].shape == outs[1].shape
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-10, atol=1e-12)


# ---- sparse embeddings: dense gradient marked with its rows; SparseAdam's lazy update


def _lockstep(lib, opt_name, kw, W, batches, w_out, pad=None, zero_rows=()):
    """Train an Embedding(sparse=True) on (out * w_out)^2, the rows in zero_rows of each
    batch's output multiplied by 0 (looked up, zero gradient). Returns the weights."""
    emb = lib.nn.Embedding(*W.shape, padding_idx=pad, sparse=True, _weight=lib.tensor(W.copy()))
    assert repr(emb).endswith("sparse=True)")
    opt = getattr(lib.optim, opt_name)(emb.parameters(), **kw)
    keep = np.ones((len(batches[0]), 1), W.dtype)
    keep[list(zero_rows)] = 0
    for b in batches:
        opt.zero_grad()
        out = emb(lib.tensor(b)) * lib.tensor(keep)
        ((out * lib.tensor(w_out)) ** 2).sum().backward()
        opt.step()
    return emb.weight.detach().numpy()


SPARSE_OPTIMIZERS = [
    ("SparseAdam", dict(lr=0.1)),
    ("SparseAdam", dict(lr=0.05, betas=(0.5, 0.7), eps=1e-6, maximize=True)),
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
]


@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")  # torch's Adagrad
@pytest.mark.parametrize("opt_name,kw", SPARSE_OPTIMIZERS, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("pad", [None, 2])
def test_sparse_embedding_training_matches_torch_in_lockstep(opt_name, kw, dtype, pad):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    W = rng.standard_normal((9, 3)).astype(dtype)
    batches = [rng.integers(0, 9, 5) for _ in range(6)]
    w_out = rng.standard_normal((5, 3)).astype(dtype)
    args = (opt_name, kw, W, batches, w_out, pad, (1,))
    we, wt = _lockstep(ember, *args), _lockstep(torch, *args)
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(we, wt, rtol=tol, atol=tol)


def test_sparse_adam_updates_only_the_looked_up_rows():
    # NumPy reference of one lazy step: rows {1, 4} looked up, row 4 with a zero gradient
    W = np.random.default_rng(11).standard_normal((6, 2))
    emb = ember.nn.Embedding(6, 2, sparse=True, _weight=ember.tensor(W.copy()))
    opt = ember.optim.SparseAdam(emb.parameters(), lr=0.1)
    state = {"m": np.full((6, 2), 0.5), "v": np.full((6, 2), 0.25)}
    opt.state[emb.weight].update(step=3.0, exp_avg=state["m"].copy(), exp_avg_sq=state["v"].copy())
    out = emb(ember.tensor([1, 4, 1]))
    (out * ember.tensor([[1.0], [0.0], [2.0]])).sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[[1, 4]], [[3.0, 3.0], [0.0, 0.0]])
    opt.step()
    g = np.zeros((6, 2))
    g[1] = 3.0
    m = 0.9 * state["m"] + 0.1 * g
    v = 0.999 * state["v"] + 0.001 * g * g
    step = 0.1 * np.sqrt(1 - 0.999**4) / (1 - 0.9**4)
    expected = W - step * m / (np.sqrt(v) + 1e-8)
    touched = [1, 4]
    untouched = [0, 2, 3, 5]
    np.testing.assert_allclose(emb.weight.numpy()[touched], expected[touched], rtol=1e-12)
    np.testing.assert_array_equal(emb.weight.numpy()[untouched], W[untouched])
    np.testing.assert_allclose(opt.state[emb.weight]["exp_avg"][touched], m[touched])
    np.testing.assert_array_equal(opt.state[emb.weight]["exp_avg"][untouched], 0.5)
    np.testing.assert_array_equal(opt.state[emb.weight]["exp_avg_sq"][untouched], 0.25)


def test_sparse_rows_accumulate_and_reset():
    emb = ember.nn.Embedding(8, 2, sparse=True, padding_idx=0)
    rows = lambda: emb.weight.grad.numpy().rows.tolist()  # noqa: E731
    (emb(ember.tensor([3, 0])).sum() + emb(ember.tensor([5])).sum()).backward()  # one graph
    assert rows() == [3, 5]
    emb(ember.tensor([6, 3])).sum().backward()  # accumulated
    assert rows() == [3, 5, 6]
    np.testing.assert_array_equal(
        emb.weight.grad.numpy()[[3, 5, 6, 0]], [[2, 2], [1, 1], [1, 1], [0, 0]]
    )
    opt = ember.optim.SparseAdam(emb.parameters())
    opt.zero_grad(set_to_none=False)  # PyTorch's sparse zero_(): no rows left
    assert rows() == []
    opt.step()  # nothing to update
    assert not np.isnan(emb.weight.numpy()).any()
    # a dense contribution (the weight tied into a dense op) makes the gradient dense
    opt.zero_grad()
    (emb(ember.tensor([1])).sum() + emb.weight.sum()).backward()
    assert getattr(emb.weight.grad.numpy(), "rows", None) is None
    with pytest.raises(RuntimeError, match="SparseAdam does not support dense gradients"):
        opt.step()


@pytest.mark.filterwarnings("ignore:Sparse invariant checks:UserWarning")
@pytest.mark.parametrize(
    "opt_name,kw,message",
    [
        ("Adam", {}, "Adam does not support sparse gradients, please consider SparseAdam"),
        ("AdamW", {}, "Adam does not support sparse gradients, please consider SparseAdam"),
        ("RMSprop", {}, "RMSprop does not support sparse gradients"),
        ("Adadelta", {}, "Adadelta does not support sparse gradients"),
        ("NAdam", {}, "NAdam does not support sparse gradients"),
        ("Adafactor", {}, "Adafactor does not support sparse gradients"),
        ("SGD", {"lr": 0.1, "weight_decay": 0.1}, "weight_decay"),
        ("Adagrad", {"weight_decay": 0.1}, "weight_decay option is not compatible"),
    ],
)
def test_optimizers_refuse_sparse_gradients_as_torch(opt_name, kw, message):
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        emb = lib.nn.Embedding(5, 2, sparse=True)
        opt = getattr(lib.optim, opt_name)(emb.parameters(), **kw)
        emb(lib.tensor([1, 2])).sum().backward()
        with pytest.raises(RuntimeError, match=message if lib is ember else None):
            opt.step()


def test_functional_sparse_embedding_gradient_equals_the_dense_one():
    W = ember.tensor(np.random.default_rng(12).standard_normal((6, 3)), requires_grad=True)
    idx = np.array([[0, 5, 5], [2, 0, 1]])
    assert gradcheck(lambda w: F.embedding(idx, w, sparse=True), [W])
    grads = []
    for sparse in (False, True):
        W.grad = None
        (F.embedding(idx, W, padding_idx=1, sparse=sparse) ** 2).sum().backward()
        grads.append(W.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
    assert grads[1].rows.tolist() == [0, 2, 5]  # padding_idx 1 left out, as PyTorch


# ---- NaN propagation in extreme-value gradients


@pytest.mark.parametrize("name", ["amax", "amin"])
def test_amax_amin_gradient_is_nan_on_nan_slices_as_torch(name):
    x = np.array([[1.0, NAN, 3.0, 3.0], [2.0, 2.0, 0.0, 2.0], [-INF, 0.0, 0.0, 1.0]])
    _, g = _run(ember, lambda t: getattr(ember, name)(t, 1), x)
    # NumPy expectation: a NaN slice matches no element (0 / 0); ties share evenly
    y = getattr(np, name)(x, 1, keepdims=True)
    with np.errstate(invalid="ignore"):
        expected = (x == y) / (x == y).sum(1, keepdims=True)
    np.testing.assert_array_equal(g, expected)
    assert np.isnan(g[0]).all()
    torch = pytest.importorskip("torch")
    for dim in (1, (0, 1)):
        _assert_same(
            _run(ember, lambda t, d=dim: getattr(ember, name)(t, d), x)[1],
            _run(torch, lambda t, d=dim: getattr(torch, name)(t, d), x)[1],
        )


@pytest.mark.parametrize("name", ["maximum", "minimum"])
def test_maximum_minimum_gradient_with_nan_and_ties_as_torch(name):
    a = np.array([0.0, 1.0, 2.0, NAN, NAN, 3.0])
    b = np.array([1.0, 1.0, 1.0, 2.0, NAN, NAN])
    grads = []
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        ta, tb = lib.tensor(a, requires_grad=True), lib.tensor(b, requires_grad=True)
        getattr(lib, name)(ta, tb).sum().backward()
        grads.append((ta.grad.numpy(), tb.grad.numpy()))
    np.testing.assert_array_equal(grads[0][0], grads[1][0])
    np.testing.assert_array_equal(grads[0][1], grads[1][1])
    # the NaN positions (3, 4, 5) send the gradient to both inputs, a tie (1) half each
    np.testing.assert_array_equal(grads[0][0][[1, 3, 4, 5]], [0.5, 1, 1, 1])
    ta = ember.tensor(np.array([0.3, -1.0, 2.0]), requires_grad=True)
    tb = ember.tensor(np.array([1.0, -2.0, 0.5]), requires_grad=True)
    assert gradcheck(lambda u, v: getattr(ember, name)(u, v), [ta, tb])


# ---- integer inputs to activations, and layer size arguments ------------------------------


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8])
@pytest.mark.parametrize(
    "name, expected",
    [
        ("relu", np.maximum),
        ("relu6", lambda x, z: np.clip(x, 0, 6)),
        ("hardtanh", lambda x, z: np.clip(x, -1, 1)),
    ],
)
def test_clamping_activations_keep_integer_dtype(name, expected, dtype):
    # PyTorch: relu / relu6 / hardtanh of an integer tensor are integer tensors
    x = np.array([-7, -1, 0, 1, 3, 9], dtype=np.int64).astype(dtype)
    if name == "hardtanh" and dtype == np.uint8:  # torch: negative limits refused for unsigned
        with pytest.raises(RuntimeError, match="unsigned type with negative limits"):
            F.hardtanh(ember.tensor(x))
        return
    y = getattr(F, name)(ember.tensor(x))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y.numpy(), expected(x, 0).astype(dtype))


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "softsign", "tanhshrink"])
@pytest.mark.parametrize("dtype", [np.int64, np.bool_])
def test_float_valued_activations_promote_integers_to_the_default_dtype(name, dtype):
    x = np.array([-2, 0, 1, 3]).astype(dtype)
    y = getattr(F, name)(ember.tensor(x))
    ref = getattr(F, name)(ember.tensor(x.astype(np.float32)))
    assert y.dtype == np.float32
    np.testing.assert_array_equal(y.numpy(), ref.numpy())


@pytest.mark.parametrize("name", ["relu", "gelu", "silu", "softplus", "leaky_relu"])
def test_activations_refuse_what_torch_refuses(name):
    x = ember.tensor(np.array([True, False])) if name == "relu" else ember.tensor([1, 2])
    with pytest.raises(TypeError, match="floating point"):
        getattr(F, name)(x)


@pytest.mark.parametrize(
    "make, error, match",
    [
        (lambda: ember.nn.Linear("a", 3), TypeError, "in_features must be an int"),
        (lambda: ember.nn.Linear(3, 2.0), TypeError, "out_features must be an int"),
        (lambda: ember.nn.Linear(-1, 3), ValueError, "in_features must be >= 0"),
        (lambda: ember.nn.Bilinear(2, True, 3), TypeError, "in2_features must be an int"),
        (lambda: ember.nn.Conv2d(3.0, 4, 3), TypeError, "in_channels must be an int"),
        (lambda: ember.nn.Conv2d(4, 4, 3, groups=0), ValueError, "groups must be >= 1"),
        (lambda: ember.nn.Embedding(10, 2.5), TypeError, "embedding_dim must be an int"),
        (lambda: ember.nn.MultiheadAttention("8", 2), TypeError, "embed_dim must be an int"),
        (lambda: ember.nn.MultiheadAttention(8, 0), ValueError, "num_heads must be >= 1"),
        (lambda: ember.nn.GroupNorm(2, "4"), TypeError, "num_channels must be an int"),
        (lambda: ember.nn.GroupNorm(3, 4), ValueError, "divisible"),
        (lambda: ember.nn.LSTM(4, 0), ValueError, "hidden_size must be >= 1"),
    ],
)
def test_layer_size_arguments_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_numpy_integer_sizes_are_accepted():
    m = ember.nn.Linear(np.int64(3), np.int32(2))
    assert m.weight.shape == (2, 3) and type(m.in_features) is int


@pytest.mark.parametrize("ord, dim", [(0, None), (0, 1), (-1, 1), (-0.5, None), (-2, 0)])
def test_vector_norm_of_zero_and_negative_order_matches_torch(ord, dim):
    torch = pytest.importorskip("torch")
    x = np.array([[0.0, 1.5, -2.0], [0.0, 0.0, 3.0], [1.0, 2.0, 3.0]])
    a, t = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours, theirs = ember.linalg.vector_norm(a, ord, dim), torch.linalg.vector_norm(t, ord, dim)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()  # ord = 0: no gradient at all, in both
    if t.grad is None:
        assert ord == 0 and a.grad is None
    else:
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_cdist_with_p_zero_counts_differences_and_backpropagates_zero():
    a = ember.tensor([[0.0, 1.0], [0.0, 2.0], [3.0, 2.0]], requires_grad=True)
    d = ember.cdist(a, a, p=0)
    np.testing.assert_array_equal(d.numpy(), [[0, 1, 2], [1, 0, 1], [2, 1, 0]])
    d.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros((3, 2)))


def test_flatten_of_a_0d_tensor_checks_its_dims():
    x = ember.tensor(3.0)
    assert x.flatten().shape == x.flatten(0, -1).shape == (1,)
    with pytest.raises(IndexError):
        x.flatten(1)


@pytest.mark.parametrize("name", ["mse_loss", "l1_loss", "huber_loss", "smooth_l1_loss"])
@pytest.mark.parametrize("shapes", [((4, 1), (4,)), ((3,), (2, 3)), ((2, 1, 3), (4, 1))])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_regression_losses_broadcast_with_torchs_warning(name, shapes, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, t = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    ours = [ember.tensor(v, requires_grad=True) for v in (x, t)]
    theirs = [torch.tensor(v, requires_grad=True) for v in (x, t)]
    with pytest.warns(UserWarning, match="different to the input size"):
        y = getattr(F, name)(*ours, reduction=reduction)
    with pytest.warns(UserWarning):
        ty = getattr(torch.nn.functional, name)(*theirs, reduction=reduction)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12)
    y.sum().backward()
    ty.sum().backward()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-12)


def test_regression_losses_refuse_shapes_that_do_not_broadcast():
    with pytest.raises(ValueError, match=r"\(3,\) and target shape \(4,\)"):
        F.mse_loss(ember.randn(3), ember.randn(4))
