"""Edge inputs found by the edge-input sweep against PyTorch: empty tensors, NaN / inf / huge
values, 0-d tensors and odd layouts. Each expectation is explicit (NumPy or the maths), and
checked against PyTorch too when it is installed."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C

NAN, INF = np.nan, np.inf


def _leaf(a):
    return ember.tensor(np.asarray(a, np.float32), requires_grad=True)


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


# ---- empty tensors -----------------------------------------------------------------------


@pytest.mark.parametrize("shape, dim", [((0,), 0), ((3, 0), 1), ((0, 5), 0), ((0, 5), 1)])
@pytest.mark.parametrize("op", ["sort", "argsort", "cummax", "cummin", "msort"])
def test_selections_of_an_empty_tensor_are_empty(op, shape, dim):
    # gather's index check read idx[0] of an empty index when the dim was empty too, and
    # raised "index out of range ... (got <garbage>)"
    x = _leaf(np.zeros(shape))
    fn = getattr(ember, op)
    out = fn(x) if op == "msort" else fn(x, dim)
    values = out if isinstance(out, ember.Tensor) else out[0]
    assert values.shape == shape
    if values.requires_grad:
        values.backward(ember.zeros(shape))
        assert x.grad.shape == shape


def test_gather_with_an_empty_index_on_an_empty_dim():
    out = _C.gather_forward(np.zeros((3, 0), np.float32), np.zeros((3, 0), np.int64), 1)
    assert out.shape == (3, 0)


@pytest.mark.parametrize("chunks", [1, 2, 5])
def test_chunk_and_split_of_an_empty_dim(chunks):
    # PyTorch: chunk gives ``chunks`` empty pieces, split one; ember gave none
    x = ember.zeros(0, 3)
    assert [p.shape for p in ember.chunk(x, chunks, 0)] == [(0, 3)] * chunks
    assert [p.shape for p in ember.split(x, 2, 0)] == [(0, 3)]
    assert [p.shape for p in x.split(1)] == [(0, 3)]


@pytest.mark.parametrize(
    "shape, reps", [((0, 3), (2, 0)), ((2, 3), (0, 2)), ((2, 0), (3, 1, 2)), ((2, 3), (2, 1, 3))]
)
def test_repeat_and_tile_with_empty_dims(shape, reps):
    a = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    x = _leaf(a)
    y = x.repeat(*reps)
    np.testing.assert_array_equal(y.numpy(), np.tile(a, reps))
    assert ember.tile(x, reps).shape == np.tile(a, reps).shape
    y.backward(ember.ones(*y.shape))
    np.testing.assert_array_equal(x.grad.numpy(), np.full(shape, np.prod(reps), np.float32))


# ---- special values ----------------------------------------------------------------------


def test_clamp_with_tensor_bounds_propagates_nan():
    # a NaN bound was ignored (where(x < nan) is False); PyTorch and np.clip give NaN, and
    # no gradient reaches anyone at a NaN position
    x = _leaf([1.0, NAN, 3.0, 5.0, 0.5])
    lo = _leaf([NAN, 0.0, 0.0, 2.0, 0.0])
    hi = _leaf([2.0, 2.0, NAN, 0.0, 1.0])
    y = ember.clamp(x, lo, hi)
    expect = np.clip(x.numpy(), lo.numpy(), hi.numpy())  # NaN where any is; hi where lo > hi
    np.testing.assert_array_equal(y.numpy(), expect)
    y.backward(ember.tensor(np.float32([1, 2, 3, 4, 5])))
    np.testing.assert_array_equal(x.grad.numpy(), [0, 0, 0, 0, 5])
    np.testing.assert_array_equal(lo.grad.numpy(), [0, 0, 0, 0, 0])
    np.testing.assert_array_equal(hi.grad.numpy(), [0, 0, 0, 4, 0])
    torch = _torch()
    if torch is not None:
        t = torch.clamp(torch.tensor(x.numpy()), torch.tensor(lo.numpy()), torch.tensor(hi.numpy()))
        np.testing.assert_array_equal(y.numpy(), t.numpy())
    # the min-only and max-only tensor forms too
    np.testing.assert_array_equal(ember.clamp_min(x, lo).numpy()[:2], [NAN, NAN])
    np.testing.assert_array_equal(ember.clamp_max(x, hi).numpy()[1:3], [NAN, NAN])


def test_renorm_gradient_of_an_unscaled_nan_slice_is_the_upstream_gradient():
    # renorm leaves a slice whose norm is NaN (not > maxnorm) unscaled, so its gradient is g;
    # the unused branch's norm gradient (0 * NaN) made it NaN
    a = np.float32([[NAN, 1.0, 2.0], [3.0, 4.0, 0.0], [0.1, 0.2, 0.2]])
    x = _leaf(a)
    y = ember.renorm(x, 2, 0, 1.0)
    g = np.float32([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    y.backward(ember.tensor(g))
    np.testing.assert_array_equal(x.grad.numpy()[0], g[0])
    np.testing.assert_array_equal(x.grad.numpy()[2], g[2])
    # the scaled row: d/dx of x / ||x|| (times maxnorm), as a plain composition
    r = a[1].astype(np.float64)
    n = np.linalg.norm(r)
    jac = (np.eye(3) / n - np.outer(r, r) / n**3) * (n / (n + 1e-7))
    np.testing.assert_allclose(x.grad.numpy()[1], jac @ g[1], rtol=1e-5)


def test_gaussian_nll_loss_with_an_infinite_variance():
    # the eps clamp added max(v, eps) - v, which is inf - inf = NaN for an infinite var
    x, t, v = _leaf([3.0, 1.0]), _leaf([1.0, 1.0]), _leaf([INF, 1.0])
    loss = F.gaussian_nll_loss(x, t, v, reduction="none")
    np.testing.assert_array_equal(loss.numpy(), [INF, 0.0])
    loss.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0.0, 0.0])  # (x - t) / var


def test_multilabel_soft_margin_loss_with_infinite_logits():
    # the loss of a logit that agrees with its label (x = -inf, t = 0 or x = inf, t = 1) is 0,
    # of one that contradicts it inf; the logits form gave 0 * inf = NaN, as PyTorch's
    # log-sigmoid form does (NaN for both rows here: not copied)
    x = _leaf([[-INF, -INF, 2.0], [INF, -INF, 0.0]])
    t = ember.tensor(np.float32([[1, 0, 1], [1, 0, 0]]))
    loss = F.multilabel_soft_margin_loss(x, t, reduction="none")
    np.testing.assert_allclose(loss.numpy(), [INF, np.log(2.0) / 3], rtol=1e-6)
    loss[1].backward()
    # d/dx of (1 - t) softplus(x) / 3 is sigmoid(0) / 3 at the finite logit, 0 at the others
    np.testing.assert_allclose(x.grad.numpy(), [[0, 0, 0], [0, 0, 0.5 / 3]], rtol=1e-6)


def test_bce_with_logits_nan_from_zero_times_inf_is_silent():
    # as PyTorch, (1 - t) x is 0 * -inf = NaN at t = 1, x = -inf; NumPy's RuntimeWarning leaked
    # (an error under warnings-as-errors)
    loss = F.binary_cross_entropy_with_logits(
        ember.tensor(np.float32([-INF, 0.0])),
        ember.tensor(np.float32([1.0, 1.0])),
        reduction="none",
    )
    assert np.isnan(loss.numpy()[0]) and loss.numpy()[1] == pytest.approx(np.log(2))


@pytest.mark.parametrize("q", [NAN, [0.5, NAN]])
@pytest.mark.parametrize("op", ["quantile", "nanquantile"])
def test_quantile_refuses_a_nan_q(op, q):
    # a NaN q passed the range check and reached gather as index -2**63
    with pytest.raises(ValueError, match=f"{op}: q must be"):
        getattr(ember, op)(ember.randn(4), q)


# ---- 0-d tensors -------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0.7, -2.0, 0.0])
def test_norm_and_normalize_of_a_0d_tensor(value):
    # norm's backward wrote into a NumPy scalar (TypeError); normalize's returned shape (1,)
    x = _leaf(value)
    ember.norm(x).backward(ember.tensor(np.float32(2.0)))
    assert x.grad.shape == () and x.grad.item() == (2.0 * np.sign(value))
    x = _leaf(value)
    y = F.normalize(x, dim=0)
    assert y.shape == () and y.item() == pytest.approx(np.sign(value))
    y.backward(ember.tensor(np.float32(2.0)))
    # x / max(|x|, eps): locally constant, except x / eps at 0
    expect = pytest.approx(0, abs=1e-6) if value else pytest.approx(2 / 1e-12)
    assert x.grad.shape == () and x.grad.item() == expect


# ---- clear errors where NumPy's leaked -----------------------------------------------------


@pytest.mark.parametrize(
    "call, err, match",
    [
        (lambda: -ember.tensor([True, False]), TypeError, "neg: negating a bool tensor"),
        (lambda: ember.neg(ember.tensor([True])), TypeError, "neg: negating a bool tensor"),
        (lambda: ember.unique(ember.tensor(1.0), dim=0), IndexError, "unique: dim 0 given"),
        (lambda: ember.unique_consecutive(ember.tensor(1.0), dim=-1), IndexError, "dim -1 given"),
        (lambda: ember.hstack([]), ValueError, "non-empty list of tensors"),
        (lambda: ember.round(ember.tensor([True]), decimals=2), TypeError, "round: decimals"),
        (
            lambda: F.gelu(ember.ones(2), ember.ones(2)),
            TypeError,
            "gelu: approximate must be a str",
        ),
        (lambda: ember.norm(ember.ones(2), ember.ones(2)), TypeError, "norm: p must be a number"),
        (
            lambda: ember.logit(ember.ones(2), ember.ones(2)),
            TypeError,
            "logit: eps must be a float",
        ),
    ],
)
def test_clear_errors_instead_of_numpy_ones(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_negation_still_works_for_numbers():
    np.testing.assert_array_equal((-ember.tensor([1, -2])).numpy(), [-1, 2])
    assert (-ember.tensor(2.0)).item() == -2.0


def test_sdpa_nan_query_gives_nan_gradients_like_a_plain_softmax():
    # a NaN query row made the row's saved logsumexp -inf (as a fully masked row), so backward
    # took P = 0 there and dV came out finite; the plain composition (and PyTorch) give NaN
    rng = np.random.default_rng(0)
    q, k, v = (rng.standard_normal(s).astype(np.float32) for s in ((2, 4, 8), (2, 5, 8), (2, 5, 8)))
    q[0, 1, 2] = NAN
    g = rng.standard_normal((2, 4, 8)).astype(np.float32)
    grads = []
    for fused in (True, False):
        Q, K, V = (_leaf(a) for a in (q, k, v))
        if fused:
            out = F.scaled_dot_product_attention(Q, K, V)
        else:
            out = F.softmax(Q @ K.transpose(-2, -1) / np.sqrt(8), -1) @ V
        out.backward(ember.tensor(g))
        grads.append([np.isnan(t.grad.numpy()) for t in (Q, K, V)])
    for fused_nan, plain_nan in zip(*grads):
        np.testing.assert_array_equal(fused_nan, plain_nan)
    assert grads[0][2][0].all() and not grads[0][2][1].any()  # dV: batch 0 all NaN, 1 clean
    # a fully masked row still gives 0 and finite gradients
    mask = np.ones((4, 5), bool)
    mask[1] = False
    Q, K, V = (_leaf(a) for a in (np.nan_to_num(q), k, v))
    out = F.scaled_dot_product_attention(Q, K, V, attn_mask=mask)
    out.backward(ember.tensor(g))
    assert not out.numpy()[:, 1].any()
    assert all(np.isfinite(t.grad.numpy()).all() for t in (Q, K, V))


_EMPTY_LOSSES = [
    "mse_loss",
    "l1_loss",
    "smooth_l1_loss",
    "huber_loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "hinge_embedding_loss",
    "kl_div",
    "multilabel_soft_margin_loss",
    "poisson_nll_loss",
    "soft_margin_loss",
]


@pytest.mark.parametrize("name", _EMPTY_LOSSES)
def test_mean_loss_of_an_empty_batch_is_nan_without_a_warning(name):
    # (0, 3) input: 'mean' is 0 / 0 = NaN as in PyTorch; NumPy's "Mean of empty slice"
    # RuntimeWarning leaked (an error under -W error, as pytest runs here)
    x = ember.zeros(0, 3, requires_grad=True)
    loss = getattr(F, name)(x, ember.zeros(0, 3))
    assert loss.shape == () and np.isnan(loss.item())
    loss.backward()
    assert x.grad.shape == (0, 3)
    assert getattr(F, name)(x, ember.zeros(0, 3), reduction="sum").item() == 0


@pytest.mark.parametrize("dims", [None, 0, (0, 1)])
def test_mean_over_an_empty_dim_is_nan_without_a_warning(dims):
    x = ember.zeros(0, 3, requires_grad=True)
    y = x.mean() if dims is None else x.mean(dims)
    expect = np.full(np.zeros((0, 3)).sum(axis=dims).shape, np.nan)
    np.testing.assert_array_equal(y.numpy(), expect)
    y.backward(ember.ones(y.shape))
    assert x.grad.shape == (0, 3)


@pytest.mark.parametrize(
    "sa, sb, dims",
    [((0, 5), (0, 5), 2), ((0, 5), (0, 3), ([0], [0])), ((2, 0), (0, 3), 1), ((3, 0), (0,), 1)],
)
def test_tensordot_over_empty_dims(sa, sb, dims):
    # a zero-size contraction is a sum of nothing (0); reshape(-1, 0) was refused
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(sa).astype(np.float32), rng.standard_normal(sb).astype(np.float32)
    x = _leaf(a)
    y = ember.tensordot(x, ember.tensor(b), dims)
    np.testing.assert_array_equal(y.numpy(), np.tensordot(a, b, dims))
    y.backward(ember.ones(y.shape))
    assert x.grad.shape == sa


def test_chain_matmul_of_one_matrix_is_that_matrix():
    m = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(ember.chain_matmul(ember.tensor(m)).numpy(), m)
    with pytest.raises(ValueError, match="chain_matmul: expected 2-D"):
        ember.chain_matmul(ember.ones(3))


# ---- layouts -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "view",
    [
        lambda w: w.flip(0),  # negative stride
        lambda w: w[:1].expand(4, 5),  # stride 0
        lambda w: ember.from_numpy(np.asfortranarray(w.detach().numpy())),
        lambda w: ember.from_numpy(np.repeat(w.detach().numpy(), 2, axis=1)[:, ::2]),  # step 2
    ],
)
def test_linear_with_a_strided_weight_view(view):
    # the GEMM takes unit-stride rows or columns only; a flipped, broadcast or doubly strided
    # weight reached it and raised "gemm: b must have unit stride"
    rng = np.random.default_rng(0)
    x = _leaf(rng.standard_normal((3, 5)))
    w = _leaf(rng.standard_normal((4, 5)))
    wv = view(w)
    y = F.linear(x, wv, ember.ones(4))
    expect = x.numpy() @ np.asarray(wv.numpy()).T + 1
    np.testing.assert_allclose(y.numpy(), expect, rtol=1e-5)
    y.backward(ember.ones(3, 4))
    np.testing.assert_allclose(x.grad.numpy(), np.ones((3, 4)) @ np.asarray(wv.numpy()), rtol=1e-5)


@pytest.mark.parametrize(
    "write",
    [
        lambda t: t.add_(1.0),
        # (not zero_/fill_: torch fills an expanded view's memory; test_leftovers14 checks it)
        lambda t: t.copy_(ember.ones(2, 3)),
        lambda t: t.sigmoid_(),
        lambda t: t.clamp_(0, 1),
        lambda t: t.__iadd__(1.0),
        lambda t: t.__setitem__((slice(None), 0), 5.0),  # (t[0] = v is allowed: test_behave20)
    ],
)
@pytest.mark.parametrize(
    "make",
    [
        lambda: ember.from_numpy(np.broadcast_to(np.ones(3, np.float32), (2, 3))),
        lambda: ember.ones(1, 3).expand(2, 3),
    ],
)
def test_in_place_write_into_a_read_only_tensor_is_a_clear_error(make, write):
    # NumPy's "output array is read-only" ValueError leaked (PyTorch: a RuntimeError saying
    # why, in torch's words: the written-to tensor repeats a memory location); the storage
    # stays untouched
    t = make()
    with pytest.raises(RuntimeError, match="more than one element of the written-to.*clone"):
        write(t)
    np.testing.assert_array_equal(t.numpy(), np.ones((2, 3)))


def test_in_place_on_an_expanded_graph_view_is_refused_as_torch():
    x = ember.ones(3, requires_grad=True)
    e = (x * 2)[:1].expand(3)
    with pytest.raises(RuntimeError, match="more than one element"):  # torch's words
        e += 1
    y = (x * 2)[:1].expand(3).clone()
    y += 1  # a clone is fine: recorded in place
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [6, 0, 0])


# ---- creation and sampling -----------------------------------------------------------------


@pytest.mark.parametrize("replacement, n", [(False, 2), (True, 5)])
def test_multinomial_of_no_rows(replacement, n):
    # (0, k) weights: (0, n) samples, as PyTorch; np.stack of no draws raised
    out = ember.multinomial(ember.ones(0, 3), n, replacement)
    assert out.shape == (0, n) and out.dtype == np.int64


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ember.poisson(ember.tensor([INF])), "poisson: rates must be finite"),
        (lambda: ember.full_like(ember.tensor([1, 2]), NAN), "value nan cannot be converted"),
        (lambda: ember.full((2,), -INF, dtype=ember.int64), "value -inf cannot be converted"),
    ],
)
def test_non_finite_values_that_have_no_integer(call, match):
    # NumPy cast NaN / inf to INT64_MIN (with a RuntimeWarning) and raised "lam value too
    # large"; PyTorch refuses the fill (and returns junk from poisson(inf))
    with pytest.raises(ValueError, match=match):
        call()


def test_finite_and_float_fills_still_work():
    np.testing.assert_array_equal(ember.full((2,), 2.7, dtype=ember.int64).numpy(), [2, 2])
    assert np.isnan(ember.full_like(ember.tensor([1.0]), NAN).numpy()).all()
    assert ember.full((1,), NAN, dtype=ember.bool_).numpy().all()  # NaN is truthy, as torch


@pytest.mark.parametrize(
    "args, match",
    [((0, INF), "unsupported range 0 -> inf"), ((0, NAN), "unsupported range"),
     ((0, 1e20, 1), "0 -> 1e\\+20 \\(step 1\\) has too many values")],
)  # fmt: skip
def test_arange_of_an_unbounded_range(args, match):
    with pytest.raises(ValueError, match=f"arange: {match}"):
        ember.arange(*args)


def test_logit_eps_keeps_the_input_dtype():
    # a NumPy float64 eps promoted a float32 input's result to float64 (NumPy 2's scalar rule)
    y = ember.logit(ember.tensor(np.float32([0.05, 0.3])), np.float64(0.1))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), np.log(np.float32([0.1, 0.3]) / [0.9, 0.7]), rtol=1e-6)


# ---- grid_sample ---------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
def test_grid_sample_with_nan_and_huge_coordinates_reads_nothing_there(mode):
    # a NaN / +-inf / 1e30 grid point cast to int64 as INT64_MIN and raised IndexError with a
    # junk index; in 'zeros' padding such a point is outside (0, and no gradient to the input)
    rng = np.random.default_rng(0)
    x = _leaf(rng.standard_normal((1, 2, 4, 4)))
    grid = np.float32([[[[0.1, -0.2], [NAN, 0], [INF, 0], [-INF, 0.5], [1e30, 1e30], [0.3, 0.4]]]])
    y = F.grid_sample(x, ember.tensor(grid), mode=mode, align_corners=False)
    assert y.shape == (1, 2, 1, 6)
    y.backward(ember.ones(*y.shape))
    assert np.isfinite(x.grad.numpy()).all()
    # the finite points' values and input gradients are those of a grid without the others
    x2 = _leaf(x.numpy())
    y2 = F.grid_sample(x2, ember.tensor(grid[:, :, [0, 5]]), mode=mode, align_corners=False)
    np.testing.assert_allclose(y.numpy()[..., [0, 5]], y2.numpy(), rtol=1e-6)
    y2.backward(ember.ones(*y2.shape))
    np.testing.assert_allclose(x.grad.numpy(), x2.grad.numpy(), rtol=1e-6, atol=1e-7)
    # nearest reads nothing there; the interpolating modes' weights at a non-finite point are
    # NaN (inf - floor(inf)), as PyTorch's; 1e30 is far outside: 0
    assert not y.numpy()[..., 4].any()
    assert (
        not y.numpy()[..., 1:4].any() if mode == "nearest" else np.isnan(y.numpy()[..., 1:4]).all()
    )
    torch = _torch()
    if torch is not None:
        ref = torch.nn.functional.grid_sample(
            torch.tensor(x.numpy()), torch.tensor(grid), mode=mode, align_corners=False
        )
        np.testing.assert_allclose(y.numpy(), ref.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "xs, gs",
    [((0, 2, 4, 4), (0, 3, 3, 2)), ((1, 2, 4, 4), (1, 0, 3, 2)), ((1, 0, 4, 4), (1, 2, 3, 2)),
     ((0, 2, 2, 4, 4), (0, 1, 3, 3, 3))],
)  # fmt: skip
def test_grid_sample_with_empty_sizes(xs, gs):
    x, g = _leaf(np.ones(xs)), _leaf(np.zeros(gs))
    y = F.grid_sample(x, g, align_corners=False)
    assert y.shape == (xs[0], xs[1]) + gs[1:-1]
    y.backward(ember.ones(*y.shape))
    assert x.grad.shape == xs and g.grad.shape == gs


# ---- linalg ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["det", "logdet", "slogdet"])
def test_det_gradients_of_a_non_finite_matrix_are_nan(op):
    # the backward's SVD / pinv raised "SVD did not converge" for the whole batch; only the
    # matrix holding the NaN gets NaN gradients, the finite one its usual cofactor / inverse
    A = np.stack([np.float32([[2, 1], [1, 3]]), np.float32([[1, NAN], [0, 1]])])
    x = _leaf(A)
    out = getattr(ember, op)(x)
    (out.logabsdet if op == "slogdet" else out).sum().backward()
    assert np.isnan(x.grad.numpy()[1]).all()
    inv_t = np.linalg.inv(A[0].astype(np.float64)).T
    expect = inv_t * (np.linalg.det(A[0]) if op == "det" else 1)
    np.testing.assert_allclose(x.grad.numpy()[0], expect, rtol=1e-5)


def test_matrix_exp_with_an_infinite_entry():
    # int(ceil(log2(inf))) raised OverflowError; PyTorch gives the (inf / NaN) series
    y = ember.matrix_exp(ember.tensor(np.float32([[INF, 1], [0, 1]])))
    assert y.shape == (2, 2) and not np.isfinite(y.numpy()).all()
    torch = _torch()
    if torch is not None:
        ref = torch.matrix_exp(torch.tensor([[INF, 1.0], [0, 1]])).numpy()
        np.testing.assert_array_equal(np.isnan(y.numpy()), np.isnan(ref))


@pytest.mark.parametrize("op", ["svdvals", "svd", "pinv", "cond"])
def test_svd_family_of_a_batch_holding_a_non_finite_matrix(op):
    # NumPy's "SVD did not converge" failed the whole batch; now that matrix's results (and
    # gradients) are NaN and the finite one's are as alone (PyTorch: NaN for inf, an error for
    # NaN)
    A = np.stack([np.float32([[1, 2, 3], [4, 5, 6]]), np.float32([[1, INF, 3], [4, 5, 6]])])
    fns = {
        "svdvals": ember.linalg.svdvals,
        "svd": lambda a: ember.linalg.svd(a, full_matrices=False).S,
        "pinv": ember.linalg.pinv,
        "cond": ember.linalg.cond,
    }
    x = _leaf(A)
    y = fns[op](x)
    assert np.isnan(y.numpy()[1]).all()
    alone = fns[op](ember.tensor(A[:1])).numpy()[0]
    np.testing.assert_allclose(y.numpy()[0], alone, rtol=1e-6)
    if op != "cond":
        y.sum().backward()
        assert np.isnan(x.grad.numpy()[1]).all() and np.isfinite(x.grad.numpy()[0]).all()


def test_integer_tensor_to_negative_integer_tensor_powers():
    # NumPy refuses them ("Integers to negative integer powers are not allowed"); PyTorch's
    # integer kernel truncates: 1 and -1 stay units, anything else (0 too) gives 0
    b = ember.tensor([3, -7, 0, 1, -1, 2, -1, 0, -2, -1])
    e = ember.tensor([-2, -1, -1, -5, -3, -1, -2, 0, -1, 3])
    expect = [0, 0, 0, 1, -1, 0, 1, 1, 0, -1]
    np.testing.assert_array_equal((b**e).numpy(), expect)
    np.testing.assert_array_equal(ember.pow(b, e).numpy(), expect)
    y = ember.tensor([[2], [3]], dtype=ember.int32) ** ember.tensor([-1, 2])
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), [[0, 4], [0, 9]])
    with pytest.raises(ValueError, match="pow: integers to negative integer powers"):
        ember.tensor([2]) ** -1  # a Python exponent: refused, as PyTorch


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0)])
def test_cond_of_empty_matrices_is_zero(shape):
    # amax over no singular values raised IndexError; PyTorch gives 0
    np.testing.assert_array_equal(
        ember.linalg.cond(ember.zeros(*shape)).numpy(), np.zeros(shape[:-2])
    )


@pytest.mark.parametrize("opt", ["SGD", "Adam", "RMSprop", "Adagrad"])
@pytest.mark.parametrize(
    "layout",
    [
        lambda a: np.asfortranarray(a),
        lambda a: np.flip(a.copy(), 0),
        lambda a: np.repeat(a, 2, axis=1)[:, ::2],
    ],
)
def test_optimizers_step_strided_parameters_in_their_storage(opt, layout):
    # the fused kernels refused a parameter made by from_numpy of a transposed / flipped /
    # stepped array ("param must be C-contiguous"); PyTorch updates it in place
    rng = np.random.default_rng(0)
    a = layout(rng.standard_normal((4, 3)).astype(np.float32))
    g = rng.standard_normal((4, 3)).astype(np.float32)
    p = ember.nn.Parameter(ember.from_numpy(a))
    ref = ember.nn.Parameter(ember.tensor(np.ascontiguousarray(a)))
    steppers = [getattr(ember.optim, opt)([q], lr=0.1) for q in (p, ref)]
    for _ in range(2):
        for q, o in zip((p, ref), steppers):
            q.grad = ember.tensor(g)
            o.step()
    assert np.shares_memory(p.data, a)  # the same storage, updated in place
    np.testing.assert_array_equal(a, ref.numpy())
    np.testing.assert_array_equal(p.numpy(), ref.numpy())


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_with_strided_running_statistics(training):
    # stepped / flipped running_mean and running_var were refused ("must be C-contiguous");
    # PyTorch reads them and, when training, updates them in place
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 2)).astype(np.float32)
    mean_store, var_store = np.zeros(6, np.float32), np.ones(3, np.float32) * 2
    rm, rv = ember.from_numpy(mean_store[::2]), ember.from_numpy(var_store[::-1])
    y = F.batch_norm(ember.tensor(x), rm, rv, training=training, momentum=0.5)
    rm_ref, rv_ref = ember.zeros(3), ember.ones(3) * 2
    y_ref = F.batch_norm(ember.tensor(x), rm_ref, rv_ref, training=training, momentum=0.5)
    np.testing.assert_array_equal(y.numpy(), y_ref.numpy())
    np.testing.assert_array_equal(mean_store[::2], rm_ref.numpy())
    np.testing.assert_array_equal(var_store[::-1], rv_ref.numpy())
    assert not mean_store[1::2].any()  # the gaps between the strided entries are untouched


_INT_TARGET_LOSSES = [
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "soft_margin_loss",
    "poisson_nll_loss", "multilabel_soft_margin_loss",
]  # fmt: skip


@pytest.mark.parametrize("name", _INT_TARGET_LOSSES)
def test_integer_targets_are_promoted_to_input_dtype(name):
    """PyTorch promotes an integer target to the input's float dtype for these losses."""
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    t = np.random.default_rng(1).integers(0, 2, (4, 3))
    xe = ember.tensor(x, requires_grad=True)
    out = getattr(F, name)(xe, ember.tensor(t))
    ref = getattr(F, name)(ember.tensor(x), ember.tensor(t.astype(np.float32)))
    assert out.dtype == ember.float32 and out.item() == pytest.approx(ref.item(), rel=1e-6)
    out.backward()
    assert xe.grad.dtype == ember.float32


@pytest.mark.parametrize(
    "name", ["binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]
)
def test_integer_targets_stay_refused_where_pytorch_refuses(name):
    with pytest.raises(TypeError, match="floating point"):
        getattr(F, name)(ember.rand(2, 3), ember.ones(2, 3, dtype=ember.int64))


@pytest.mark.parametrize(
    "name", ["mse_loss", "l1_loss", "smooth_l1_loss", "binary_cross_entropy_with_logits", "kl_div"]
)
def test_float32_input_with_float64_target_computes_in_float64(name):
    """A NumPy float64 target against a float32 prediction: PyTorch's loss is float64 and the
    prediction's gradient float32."""
    x = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    t = np.random.default_rng(1).random((4, 3))
    xe = ember.tensor(x, requires_grad=True)
    out = getattr(F, name)(xe, ember.tensor(t))
    ref = getattr(F, name)(ember.tensor(x.astype(np.float64)), ember.tensor(t))
    assert out.dtype == ember.float64 and out.item() == pytest.approx(ref.item(), rel=1e-12)
    out.backward()
    assert xe.grad.dtype == ember.float32
