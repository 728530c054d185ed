"""The small-op speedups: sigmoid's exp (clamped where 1 + exp(-x) is 1, one power of two),
hardswish's max / min clamp, nll_loss's one-tuple CrossEntropy node. Values against float64
NumPy (and PyTorch when installed) across the clamp edges and the specials, non-contiguous and
float64 input, and the errors bad input gets."""

import numpy as np
import pytest

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F


def _sigmoid64(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        return 1 / (1 + np.exp(-x))


def _ulps(a, b, dtype):
    """|a - b| in units of the last place of b (b the exact value, rounded to dtype)."""
    b = np.asarray(b, dtype)
    spacing = np.spacing(np.abs(b)).astype(np.float64)
    return np.abs(np.asarray(a, np.float64) - b.astype(np.float64)) / spacing


# Around every edge of the new exp: its lower clamp (-86 float, -700 double: 1 + exp(x) is 1 to
# dtype precision below it), exp's overflow point (88.72 / 709.78) and clamp (88.75 / 709.8),
# the range where sigmoid's value is denormal, and the specials.
EDGES = {
    np.float32: [-104.0, -89.0, -88.8, -88.72, -88.7, -87.5, -86.01, -86.0, -85.99, -20.0, -1e-3],
    np.float64: [-746.0, -745.0, -709.8, -709.78, -708.0, -700.01, -700.0, -699.99, -40.0, -1e-9],
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_and_silu_across_the_exp_clamps(dtype):
    e = np.array(EDGES[dtype])
    x = np.concatenate([e, -e, np.linspace(-120, 120, 4001), [0.0, -0.0]]).astype(dtype)
    s = _C.activation_forward("sigmoid", x)
    ref = _sigmoid64(x.astype(np.float64))
    assert s.dtype == dtype
    finite = ref.astype(dtype) >= np.finfo(dtype).tiny  # normal results: within 3 ulp
    assert _ulps(s[finite], ref[finite], dtype).max() <= 3
    np.testing.assert_allclose(s[~finite], ref[~finite], rtol=0, atol=np.finfo(dtype).tiny)
    silu = _C.activation_forward("silu", x)
    # x * sigmoid(x): 0 where sigmoid(x) underflows (x < -88.7 in float32), as PyTorch's x / inf
    tiny = 1e3 * np.finfo(dtype).tiny
    np.testing.assert_allclose(silu, x * ref, rtol=4 * np.finfo(dtype).eps, atol=tiny)
    # gradients from the same exp: silu's and logsigmoid's backward, softplus's
    g = np.ones_like(x)
    d = _C.activation_backward("silu", g, x)
    np.testing.assert_allclose(d, ref * (1 + x * (1 - ref)), rtol=1e-5, atol=tiny)
    d = _C.activation_backward("logsigmoid", g, x)
    np.testing.assert_allclose(d, _sigmoid64(-x.astype(np.float64)), rtol=1e-5, atol=tiny)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_silu_hardswish_specials(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, -3.0, 3.0, -2.5], dtype)
    s = _C.activation_forward("sigmoid", x)
    np.testing.assert_array_equal(s[:3], [np.nan, 1.0, 0.0])
    assert s[3] == 0.5 and s[4] == 0.5
    silu = _C.activation_forward("silu", x)
    assert np.isnan(silu[0]) and silu[1] == np.inf and np.isnan(silu[2])  # -inf * 0, as PyTorch
    hs = _C.activation_forward("hardswish", x)
    expect = np.array([np.nan, np.inf, np.nan, 0.0, -0.0, -0.0, 3.0, -1.25 / 6], dtype)
    np.testing.assert_array_equal(hs, expect)
    assert np.signbit(hs[5]) and np.signbit(hs[4])  # -3 * +0 = -0, as x * relu6(x + 3) / 6


def test_against_torch_float32_bitwise_where_the_formula_is_shared():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((64, 4096)) * 4).astype(np.float32)
    x[0, :8] = [-3, 3, -3.0001, 2.9999, 0, -0.0, 100, -100]
    ours = F.hardswish(ember.tensor(x)).numpy()
    theirs = torch.nn.functional.hardswish(torch.tensor(x)).numpy()
    np.testing.assert_array_equal(ours, theirs)  # same formula, same single rounding per step
    for name in ("sigmoid", "silu"):
        ours = getattr(F, name)(ember.tensor(x)).numpy()
        theirs = getattr(torch.nn.functional, name)(torch.tensor(x)).numpy()
        np.testing.assert_allclose(ours, theirs, rtol=3e-7, atol=1e-38)


@pytest.mark.parametrize("name", ["sigmoid", "silu", "hardswish"])
def test_non_contiguous_and_float64_gradcheck(name):
    rng = np.random.default_rng(2)
    base = rng.standard_normal((6, 8)) * 3
    base[np.abs(np.abs(base) - 3) < 0.05] += 0.2  # away from hardswish's kinks
    xt = ember.tensor(base, requires_grad=True)
    assert not xt.T.numpy().flags.c_contiguous  # the op sees a transposed (strided) view
    y = getattr(F, name)(xt.T)
    ref = {
        "sigmoid": _sigmoid64(base.T),
        "silu": base.T * _sigmoid64(base.T),
        "hardswish": base.T * np.clip(base.T + 3, 0, 6) / 6,
    }[name]
    np.testing.assert_allclose(y.numpy(), ref, rtol=1e-14)
    assert gradcheck(lambda t: getattr(F, name)(t.T), (xt,))


def test_activation_bad_input_at_the_boundary():
    with pytest.raises(TypeError, match="activation_forward"):
        _C.activation_forward("silu", np.arange(4))
    with pytest.raises(ValueError, match="activation_forward"):
        _C.activation_forward("silu", np.ones((4, 4), np.float32)[:, ::2])
    with pytest.raises(ValueError, match="activation_backward"):
        _C.activation_backward("sigmoid", np.ones(3, np.float32), np.ones(4, np.float32))


# ---- nll_loss ------------------------------------------------------------------------------


def _nll_ref(lp, t, w, ignore_index, reduction):
    """float64 NumPy: -w[t] * lp[i, t] over rows, 'mean' divides by the summed weights."""
    lp = np.asarray(lp, np.float64)
    keep = t != ignore_index
    tc = np.where(keep, t, 0)
    wt = (np.ones(lp.shape[1]) if w is None else np.asarray(w, np.float64))[tc] * keep
    losses = -lp[np.arange(lp.shape[0]), tc] * wt
    if reduction == "none":
        return losses
    return losses.sum() / wt.sum() if reduction == "mean" else losses.sum()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nll_loss_values_and_grads(reduction, weighted, dtype):
    rng = np.random.default_rng(3)
    lp = rng.standard_normal((64, 10)).astype(dtype)
    t = rng.integers(0, 10, 64)
    t[5] = -100
    w = rng.uniform(0.5, 2, 10).astype(dtype) if weighted else None
    x = ember.tensor(lp, requires_grad=True)
    loss = F.nll_loss(
        x, ember.tensor(t), weight=None if w is None else ember.tensor(w), reduction=reduction
    )
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(loss.numpy(), _nll_ref(lp, t, w, -100, reduction), rtol=tol)
    g = rng.standard_normal(loss.shape).astype(dtype)
    loss.backward(ember.tensor(g))
    keep = t != -100
    wt = (np.ones(10) if w is None else w.astype(np.float64))[np.where(keep, t, 0)] * keep
    coef = -wt * (g if reduction == "none" else g / wt.sum() if reduction == "mean" else g)
    dref = np.zeros((64, 10))
    dref[np.arange(64), np.where(keep, t, 0)] = coef
    np.testing.assert_allclose(x.grad.numpy(), dref, rtol=tol, atol=tol)
    assert x.grad.numpy().dtype == dtype


def test_nll_loss_torch_parity_and_strided_input():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    lp = rng.standard_normal((10, 64)).astype(np.float32).T  # (64, 10), not C-contiguous
    t = rng.integers(0, 10, 64)
    x = ember.tensor(lp, requires_grad=True)
    with pytest.raises(TypeError, match="int64 or uint8"):  # as torch: no int32 targets
        F.nll_loss(x, ember.tensor(t.astype(np.int32)))
    loss = F.nll_loss(x, ember.tensor(t))
    loss.backward()
    tx = torch.tensor(lp, requires_grad=True)
    tl = torch.nn.functional.nll_loss(tx, torch.tensor(t, dtype=torch.int64))
    tl.backward()
    np.testing.assert_allclose(loss.item(), tl.item(), rtol=1e-6)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)


def test_nll_loss_float64_gradcheck_and_bad_input():
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    t = ember.tensor(np.array([0, 3, 1, 2, 3]))
    assert gradcheck(lambda a: F.nll_loss(a, t), (x,))
    with pytest.raises(ValueError, match="out of bounds|target"):
        F.nll_loss(x, ember.tensor(np.array([0, 4, 1, 2, 3])))
    with pytest.raises(ValueError, match="nll_loss"):
        F.nll_loss(x, ember.tensor(np.array([0, 1, 2])))
    with pytest.raises(TypeError, match="nll_loss"):
        F.nll_loss(x, ember.tensor(np.zeros(5)))
    with pytest.raises(ValueError, match="nll_loss_forward: target 9 is out of bounds"):
        _C.cross_entropy_forward(
            np.zeros((5, 4)), np.array([0, 9, 1, 2, 3]), None, -100, 0.0, "mean", True
        )


# ---- topk (the heap select for k * 64 <= n) ------------------------------------------------


def _topk_inputs(rng, dtype, n):
    """Rows that exercise the heap select: many ties, NaNs, sorted and reversed runs."""
    ties = rng.integers(0, 4, (3, n)).astype(dtype)
    rows = [ties, np.sort(rng.standard_normal((2, n)))[:, ::-1].astype(dtype)]
    rows.append(np.sort(rng.standard_normal((2, n))).astype(dtype))
    if np.dtype(dtype).kind == "f":
        nan = rng.standard_normal((3, n)).astype(dtype)
        nan[rng.random(nan.shape) < 0.05] = np.nan
        nan[2, :40] = np.nan  # more NaNs than k at the front: the heap top becomes NaN
        rows.append(nan)
    return np.concatenate(rows)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_heap_select_matches_torch_tie_order(dtype, largest):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    for n, k in [(64, 1), (640, 10), (1000, 3), (4099, 10)]:
        x = _topk_inputs(rng, dtype, n)
        v, i = ember.topk(ember.tensor(x), k, largest=largest)
        tv, ti = torch.topk(torch.tensor(x), k, largest=largest)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())  # ties broken as PyTorch's
        np.testing.assert_array_equal(v.numpy(), tv.numpy())


@pytest.mark.parametrize("largest", [True, False])
def test_topk_against_numpy_strided_and_grad(largest):
    rng = np.random.default_rng(7)
    base = rng.standard_normal((700, 5))  # distinct values; topk along dim 0 (strided)
    x = ember.tensor(base, requires_grad=True)
    v, i = ember.topk(x, 7, dim=0, largest=largest)
    order = np.argsort(-base if largest else base, axis=0, kind="stable")[:7]
    np.testing.assert_array_equal(i.numpy(), order)
    np.testing.assert_array_equal(v.numpy(), np.take_along_axis(base, order, 0))
    g = rng.standard_normal(v.shape)
    v.backward(ember.tensor(g))
    dref = np.zeros_like(base)
    np.put_along_axis(dref, order, g, 0)
    np.testing.assert_array_equal(x.grad.numpy(), dref)
    small = ember.tensor(rng.standard_normal((2, 130)), requires_grad=True)
    assert gradcheck(lambda a: ember.topk(a, 2, largest=largest)[0], (small,))


def test_topk_bad_input():
    x = np.zeros((2, 100), np.float32)
    with pytest.raises(RuntimeError, match="topk"):
        ember.topk(ember.tensor(x), 101)
    with pytest.raises(ValueError, match="topk_indices"):  # the C++ boundary's own check
        _C.topk_indices(x, 101, True, True)
    with pytest.raises(ValueError, match="topk_indices"):
        _C.topk_indices(x, -1, True, True)
    with pytest.raises(TypeError, match="topk_indices"):
        _C.topk_indices(x.astype(np.int32), 3, True, True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
@pytest.mark.parametrize("largest", [True, False])
def test_topk_distinct_rows_and_near_ties(dtype, largest):
    # distinct top-k values, nothing tying the k-th and no NaN: the sorted insertion select
    # (its answer is the only one); any tie or NaN: the heap, for PyTorch's tie order
    rng = np.random.default_rng(11)
    k = 10
    for n in (640, 1031, 4096):
        base = rng.permutation(n * 3)[:n].astype(dtype) - n  # distinct, both signs
        rows = [base, base[::-1].copy(), np.sort(base)]
        sign = 1 if largest else -1
        order = np.argsort(-sign * base, kind="stable")
        tie_edge = base.copy()
        tie_edge[order[k]] = base[order[k - 1]]  # the k-th ties the (k+1)-th
        tie_in = base.copy()
        tie_in[order[3]] = base[order[2]]  # a tie inside the top k
        rows += [tie_edge, tie_in]
        if np.dtype(dtype).kind == "f":
            zeros = base.copy()
            zeros[order[k - 1]], zeros[order[k]] = 0.0, -0.0  # -0 ties +0 at the edge
            nan = base.copy()
            nan[order[-1]] = np.nan  # a NaN far from the top k
            rows += [zeros, nan]
        x = np.stack(rows)
        v, i = ember.topk(ember.tensor(x), k, largest=largest)
        want = np.argsort(-sign * x[:3], axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(i.numpy()[:3], want)
        np.testing.assert_array_equal(v.numpy()[:3], np.take_along_axis(x[:3], want, 1))
        torch = pytest.importorskip("torch")
        tv, ti = torch.topk(torch.tensor(x), k, largest=largest)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
