"""The C++ paths behind embedding_bag (sum / mean / max), grid_sample's tap gather,
adaptive_max_pool2d and ctc_loss: values against NumPy references and PyTorch, float64
finite-difference gradients, the same result on one and two threads, and the checks at the
C++ boundary."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C
from ember.autograd import gradcheck


def _leaf(a):
    return ember.tensor(np.array(a), requires_grad=True)


def _threads(n, fn):
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(n)
        return fn()
    finally:
        ember.set_num_threads(before)


# ---- embedding_bag ---------------------------------------------------------------------------


def _bag_reference(w, idx, bounds, mode, pad):
    """NumPy: each bag's rows (padding left out) summed, averaged or maxed; empty: 0."""
    out = np.zeros((len(bounds) - 1, w.shape[1]), w.dtype)
    for b in range(len(bounds) - 1):
        rows = [w[i] for i in idx[bounds[b] : bounds[b + 1]] if i != pad]
        if rows:
            r = np.stack(rows)
            out[b] = {"sum": r.sum(0), "mean": r.mean(0), "max": r.max(0)}[mode]
    return out


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_embedding_bag_matches_numpy_and_torch(mode, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    w = rng.standard_normal((40, 70)).astype(dtype)
    idx = rng.integers(0, 40, 60)
    idx[[3, 17]] = 5  # padding entries
    offsets = np.array([0, 4, 4, 10, 30, 31, 59])  # an empty bag, a one-row bag
    bounds = np.r_[offsets, idx.size]
    we = _leaf(w)
    y = F.embedding_bag(idx, we, offsets, mode=mode, padding_idx=5)
    np.testing.assert_allclose(y.numpy(), _bag_reference(w, idx, bounds, mode, 5), rtol=1e-5)
    g = rng.standard_normal(y.shape).astype(dtype)
    y.backward(ember.tensor(g))
    wt = torch.tensor(w, requires_grad=True)
    yt = torch.nn.functional.embedding_bag(
        torch.tensor(idx), wt, torch.tensor(offsets), mode=mode, padding_idx=5
    )
    yt.backward(torch.tensor(g))
    assert y.dtype == w.dtype and y.shape == tuple(yt.shape)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(we.grad.numpy(), wt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_2d_input_and_last_offset_match_torch(mode):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w = rng.standard_normal((30, 9)).astype(np.float32)
    idx2 = rng.integers(0, 30, (6, 4)).astype(np.int32)
    y = F.embedding_bag(idx2, ember.tensor(w), mode=mode)
    yt = torch.nn.functional.embedding_bag(torch.tensor(idx2), torch.tensor(w), mode=mode)
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-6)
    idx = rng.integers(0, 30, 12)
    off = np.array([0, 3, 3, 12])
    y = F.embedding_bag(idx, ember.tensor(w), off, mode=mode, include_last_offset=True)
    yt = torch.nn.functional.embedding_bag(
        torch.tensor(idx), torch.tensor(w), torch.tensor(off), mode=mode, include_last_offset=True
    )
    np.testing.assert_allclose(y.numpy(), yt.numpy(), rtol=1e-6)


def test_embedding_bag_max_takes_the_first_maximum_and_a_first_nan():
    w = np.array([[1.0, 2.0], [1.0, 5.0], [np.nan, 0.0], [3.0, np.nan]])
    we = _leaf(w)
    y = F.embedding_bag(np.array([0, 1, 1, 2, 3]), we, np.array([0, 3]), mode="max")
    # bag 0 = rows 0, 1, 1: column 0 ties at 1 (row 0 wins), column 1 row 1; bag 1 = rows 2,
    # 3: the NaN first row stays in column 0 (torch replaces only on v > max), 0 vs NaN: 0
    np.testing.assert_array_equal(y.numpy(), [[1.0, 5.0], [np.nan, 0.0]])
    y.backward(ember.tensor(np.array([[1.0, 2.0], [3.0, 4.0]])))
    np.testing.assert_array_equal(we.grad.numpy(), [[1, 0], [0, 2], [3, 4], [0, 0]])


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_gradient_by_finite_differences(mode):
    rng = np.random.default_rng(2)
    w = _leaf(rng.standard_normal((8, 5)))
    idx, off = rng.integers(0, 8, 11), np.array([0, 2, 2, 7])

    def fn(w):
        return F.embedding_bag(idx, w, off, mode=mode, padding_idx=3)

    assert gradcheck(fn, (w,))


def test_embedding_bag_same_result_on_one_and_two_threads():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((50, 256)).astype(np.float32)
    idx = rng.integers(0, 50, 4000)
    bounds = np.arange(0, 4001, 16, dtype=np.int64)
    g = rng.standard_normal((250, 256)).astype(np.float32)
    for mean in (False, True):
        runs = [
            _threads(
                n,
                lambda mean=mean: (
                    _C.embedding_bag_forward(w, idx, bounds, -1, mean),
                    _C.embedding_bag_backward(g, idx, bounds, 50, -1, mean),
                ),
            )
            for n in (1, 2)
        ]
        for a, b in zip(*runs):
            np.testing.assert_array_equal(a, b)


def test_embedding_bag_kernel_checks():
    w = np.zeros((4, 3), np.float32)
    idx = np.array([0, 1, 2], np.int64)
    with pytest.raises(ValueError, match="out of range"):
        _C.embedding_bag_forward(w, np.array([0, 4], np.int64), np.array([0, 2], np.int64))
    with pytest.raises(ValueError, match="non-decreasing"):
        _C.embedding_bag_forward(w, idx, np.array([0, 2, 1, 3], np.int64))
    with pytest.raises(ValueError, match="bounds must lie"):
        _C.embedding_bag_forward(w, idx, np.array([0, 4], np.int64))
    with pytest.raises(ValueError, match="padding_idx"):
        _C.embedding_bag_forward(w, idx, np.array([0, 3], np.int64), 4)
    with pytest.raises(TypeError, match="int64"):
        _C.embedding_bag_forward(w, idx.astype(np.int32), np.array([0, 3], np.int64))
    with pytest.raises(ValueError, match="rows for"):
        _C.embedding_bag_backward(np.zeros((2, 3), np.float32), idx, np.array([0, 3]), 4)
    with pytest.raises(ValueError, match="out of range"):
        _C.embedding_bag_max_backward(np.zeros((1, 3)), np.array([[0, 4, -1]]), 4)
    # the functional form keeps embedding's errors
    with pytest.raises(IndexError, match="out of range"):
        F.embedding_bag(np.array([0, 9]), ember.tensor(w), np.array([0]))


# ---- grid_sample -----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["bilinear", "nearest", "bicubic"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
def test_grid_sample_matches_torch(mode, padding_mode, align_corners):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 3, 7, 9)).astype(np.float32)
    grid = (rng.random((2, 5, 6, 2)) * 2.6 - 1.3).astype(np.float32)
    xe, ge = _leaf(x), _leaf(grid)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    y = F.grid_sample(xe, ge, **kw)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(ember.tensor(g))
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    yt = torch.nn.functional.grid_sample(xt, gt, **kw)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ge.grad.numpy(), gt.grad.numpy(), rtol=1e-4, atol=1e-4)


def test_grid_sample_3d_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 2, 4, 5, 6))
    grid = rng.random((2, 3, 2, 4, 3)) * 2.4 - 1.2
    xe, ge = _leaf(x), _leaf(grid)
    y = F.grid_sample(xe, ge, align_corners=False)
    y.sum().backward()
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(grid, requires_grad=True)
    yt = torch.nn.functional.grid_sample(xt, gt, align_corners=False)
    yt.sum().backward()
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ge.grad.numpy(), gt.grad.numpy(), rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("mode", ["bilinear", "bicubic"])
def test_grid_sample_gradients_by_finite_differences(mode):
    rng = np.random.default_rng(6)
    x = _leaf(rng.standard_normal((1, 2, 4, 5)))
    # points away from pixel centres, where the weights are smooth
    grid = _leaf((rng.random((1, 3, 2, 2)) * 1.6 - 0.8) + 0.013)
    assert gradcheck(lambda a, b: F.grid_sample(a, b, mode=mode, align_corners=True), (x, grid))


def test_point_taps_match_numpy_and_check_their_indices():
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 10))
    idx = rng.integers(-1, 10, (2, 4, 6))
    w = rng.standard_normal((2, 4, 6))
    inside = idx >= 0
    taps = np.take_along_axis(x[:, :, None, :], np.where(inside, idx, 0)[:, None], 3)
    ref = (taps * (w * inside)[:, None]).sum(2)  # (N, C, P)
    np.testing.assert_allclose(_C.point_taps_forward(x, idx, w), ref, rtol=1e-12)
    g = rng.standard_normal((2, 3, 6))
    dx = np.zeros_like(x)
    for n, k, p in zip(*np.nonzero(inside)):
        dx[n, :, idx[n, k, p]] += g[n, :, p] * w[n, k, p]
    np.testing.assert_allclose(_C.point_taps_backward(g, idx, w, 10), dx, rtol=1e-12)
    dots = (taps * inside[:, None] * g[:, :, None]).sum(1)  # (N, K, P)
    np.testing.assert_allclose(_C.point_taps_dot(x, g, idx), dots, rtol=1e-12, atol=1e-15)
    with pytest.raises(ValueError, match="out of range"):
        _C.point_taps_forward(x, np.full((2, 4, 6), 10), w)
    with pytest.raises(ValueError, match="out of range"):
        _C.point_taps_backward(g, np.full((2, 4, 6), -2), w, 10)
    with pytest.raises(ValueError, match="shape"):
        _C.point_taps_forward(x, idx, np.ascontiguousarray(w[:, :3]))
    with pytest.raises(TypeError):
        _C.point_taps_forward(x, idx.astype(np.int32), w)


# ---- adaptive_max_pool2d -----------------------------------------------------------------


@pytest.mark.parametrize("out", [1, 3, (4, 5), (7, 2)])
def test_adaptive_max_pool2d_matches_torch_with_ties_and_nans(out):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, (2, 3, 9, 11)).astype(np.float32)  # many ties
    x[0, 1, 2, 3] = x[1, 2, 5, 5] = x[1, 2, 6, 7] = np.nan
    xe = _leaf(x)
    y, i = F.adaptive_max_pool2d(xe, out, return_indices=True)
    g = rng.standard_normal(y.shape).astype(np.float32)
    y.backward(ember.tensor(g))
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.adaptive_max_pool2d(xt, out, return_indices=True)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(y.numpy(), yt.detach().numpy())
    np.testing.assert_array_equal(i.numpy(), it.numpy())
    assert i.dtype == np.int64
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())


def test_adaptive_max_pool2d_reference_and_gradient():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 5, 7))
    y = F.adaptive_max_pool2d(ember.tensor(x), (2, 3)).numpy()
    for i in range(2):
        for j in range(3):
            h0, h1 = i * 5 // 2, -(-(i + 1) * 5 // 2)
            w0, w1 = j * 7 // 3, -(-(j + 1) * 7 // 3)
            np.testing.assert_array_equal(y[:, i, j], x[:, h0:h1, w0:w1].max(axis=(1, 2)))
    assert gradcheck(lambda a: F.adaptive_max_pool2d(a, (2, 3)), (_leaf(x),))


def test_adaptive_max_pool2d_kernel_checks():
    with pytest.raises(ValueError, match="non-empty"):
        _C.adaptive_max_pool2d_forward(np.zeros((1, 0, 3, 3)), (1, 1))
    with pytest.raises(ValueError, match="non-negative"):
        _C.adaptive_max_pool2d_forward(np.zeros((1, 1, 3, 3)), (-1, 1))
    with pytest.raises(TypeError):
        _C.adaptive_max_pool2d_forward(np.zeros((1, 1, 3, 3), np.int64), (1, 1))


# ---- ctc_loss --------------------------------------------------------------------------------


def _ctc_case(rng, t=12, n=4, c=6, s=5, dtype=np.float64):
    logits = rng.standard_normal((t, n, c)).astype(dtype)
    targets = rng.integers(1, c, (n, s))
    targets[0, 1] = targets[0, 0]  # a repeat: no skip across it
    in_len = np.array([t, t - 3, t, 4][:n])
    tg_len = np.array([s, 3, 0, 3][:n])  # an empty target; 4 steps for 3 labels
    return logits, targets, in_len, tg_len


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ctc_loss_matches_torch(reduction, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(10)
    logits, targets, in_len, tg_len = _ctc_case(rng, dtype=dtype)
    le = _leaf(logits)
    loss = F.ctc_loss(F.log_softmax(le, 2), targets, in_len, tg_len, reduction=reduction)
    loss.sum().backward()
    lt = torch.tensor(logits, requires_grad=True)
    lt_loss = torch.nn.functional.ctc_loss(
        torch.log_softmax(lt, 2),
        torch.tensor(targets),
        torch.tensor(in_len),
        torch.tensor(tg_len),
        reduction=reduction,
    )
    lt_loss.sum().backward()
    tol = 1e-5 if dtype == np.float32 else 1e-10
    assert loss.dtype == dtype
    np.testing.assert_allclose(loss.numpy(), lt_loss.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(le.grad.numpy(), lt.grad.numpy(), rtol=tol, atol=tol)


def test_ctc_loss_impossible_alignment_and_zero_infinity_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(11)
    logits = rng.standard_normal((3, 2, 5))
    targets = np.array([[1, 1, 2], [2, 3, 4]])  # 1 1 2 needs 4 steps, 3 given: impossible
    in_len, tg_len = np.array([3, 3]), np.array([3, 2])
    for zero_infinity in (False, True):
        le = _leaf(logits)
        loss = F.ctc_loss(
            F.log_softmax(le, 2),
            targets,
            in_len,
            tg_len,
            reduction="none",
            zero_infinity=zero_infinity,
        )
        loss.sum().backward()
        lt = torch.tensor(logits, requires_grad=True)
        ref = torch.nn.functional.ctc_loss(
            torch.log_softmax(lt, 2),
            torch.tensor(targets),
            torch.tensor(in_len),
            torch.tensor(tg_len),
            reduction="none",
            zero_infinity=zero_infinity,
        )
        np.testing.assert_allclose(loss.numpy(), ref.detach().numpy(), rtol=1e-10)
        if zero_infinity:  # (without it torch's gradient of the inf loss is NaN: not compared)
            ref.sum().backward()
            np.testing.assert_allclose(le.grad.numpy(), lt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_ctc_loss_matches_a_brute_force_sum_over_alignments():
    # T = 4, C = 3, target [1, 2]: sum over every path that collapses to it
    import itertools

    rng = np.random.default_rng(12)
    lp = np.log(np.exp(x := rng.standard_normal((4, 1, 3))) / np.exp(x).sum(2, keepdims=True))
    total = 0.0
    for path in itertools.product(range(3), repeat=4):
        collapsed = [k for i, k in enumerate(path) if k != 0 and (i == 0 or path[i - 1] != k)]
        if collapsed == [1, 2]:
            total += np.exp(sum(lp[t, 0, k] for t, k in enumerate(path)))
    loss = F.ctc_loss(ember.tensor(lp), np.array([[1, 2]]), [4], [2], reduction="none")
    np.testing.assert_allclose(loss.numpy(), [-np.log(total)], rtol=1e-12)


def test_ctc_loss_gradient_by_finite_differences():
    # through log_softmax, where PyTorch's gradient convention is the exact derivative
    rng = np.random.default_rng(13)
    logits, targets, in_len, tg_len = _ctc_case(rng, t=6, n=2, c=4, s=2)
    tg_len = np.array([2, 1])
    in_len = np.array([6, 4])

    def fn(a):
        return F.ctc_loss(F.log_softmax(a, 2), targets, in_len, tg_len, reduction="sum")

    assert gradcheck(fn, (_leaf(logits),))


def test_ctc_loss_same_result_on_one_and_two_threads():
    rng = np.random.default_rng(14)
    logits, targets, in_len, tg_len = _ctc_case(rng, t=40, n=4, c=20, s=10)

    def run():
        le = _leaf(logits)
        loss = F.ctc_loss(F.log_softmax(le, 2), targets, in_len, tg_len, reduction="sum")
        loss.backward()
        return loss.numpy(), le.grad.numpy()

    for a, b in zip(_threads(1, run), _threads(2, run)):
        np.testing.assert_array_equal(a, b)


def test_ctc_kernel_checks():
    lp = np.zeros((3, 1, 4))
    ext = np.array([[0, 1, 0]], np.int64)
    ones, three = np.array([3], np.int64), np.array([3], np.int64)
    with pytest.raises(ValueError, match="label"):
        _C.ctc_loss_forward(lp, np.array([[0, 4, 0]], np.int64), ones, three)
    with pytest.raises(ValueError, match="in_len"):
        _C.ctc_loss_forward(lp, ext, np.array([4], np.int64), three)
    with pytest.raises(ValueError, match="ext_len"):
        _C.ctc_loss_forward(lp, ext, ones, np.array([0], np.int64))
    with pytest.raises(TypeError, match="int64"):
        _C.ctc_loss_forward(lp, ext.astype(np.int32), ones, three)
    nll, alpha = _C.ctc_loss_forward(lp, ext, ones, three)
    with pytest.raises(ValueError, match="shape"):
        _C.ctc_loss_backward(np.ones(2), lp, ext, ones, three, alpha, nll, False)
    with pytest.raises(TypeError, match="float64"):
        _C.ctc_loss_backward(np.ones(1, np.float32), lp, ext, ones, three, alpha, nll, False)


# ---- conv3d through one conv2d over the depth taps ----------------------------------------


@pytest.mark.parametrize(
    "stride, padding, dilation, groups",
    [(1, 1, 1, 1), (2, 0, 1, 2), (1, (3, 0, 1), (2, 1, 1), 1), (2, 2, 2, 4), (1, "same", 2, 2)],
)
def test_conv3d_matches_torch(stride, padding, dilation, groups):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(15)
    x = rng.standard_normal((2, 4, 7, 6, 5))
    w = rng.standard_normal((8, 4 // groups, 3, 2, 3))
    b = rng.standard_normal(8)
    xe, we, be = _leaf(x), _leaf(w), _leaf(b)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    y = F.conv3d(xe, we, be, **kw)
    g = rng.standard_normal(y.shape)
    y.backward(ember.tensor(g))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.conv3d(xt, wt, bt, **kw)
    yt.backward(torch.tensor(g))
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    for e, t in ((xe, xt), (we, wt), (be, bt)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


def test_conv3d_against_a_direct_sum_and_by_finite_differences():
    rng = np.random.default_rng(16)
    x = rng.standard_normal((1, 2, 5, 3, 3))
    w = rng.standard_normal((3, 2, 2, 1, 1))
    y = F.conv3d(ember.tensor(x), ember.tensor(w), padding=(1, 0, 0), stride=(2, 1, 1)).numpy()
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (0, 0), (0, 0)))
    ref = np.stack(
        [np.einsum("ncdhw,ocd->nohw", xp[:, :, 2 * i : 2 * i + 2], w[..., 0, 0]) for i in range(3)],
        axis=2,
    )
    np.testing.assert_allclose(y, ref, rtol=1e-12)
    args = (_leaf(x[:, :, :4]), _leaf(w))
    assert gradcheck(lambda a, b: F.conv3d(a, b, padding=1, stride=(2, 1, 1)), args)


def test_conv3d_refuses_a_kernel_deeper_than_the_padded_input():
    with pytest.raises(ValueError, match="larger than the padded input depth"):
        F.conv3d(ember.zeros(1, 1, 2, 3, 3), ember.zeros(1, 1, 4, 1, 1), padding=(0, 0, 0))
    with pytest.raises(ValueError, match="bias"):
        F.conv3d(ember.zeros(1, 1, 2, 3, 3), ember.zeros(2, 1, 1, 1, 1), ember.zeros(3))


# ---- two-tap gather along the last axis (linear interpolation) ----------------------------


def test_two_tap_last_axis_gather_matches_numpy_and_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(17)
    x = rng.standard_normal((3, 4, 9)).astype(np.float32)
    idx = rng.integers(0, 9, (2, 13))
    w = rng.random((2, 13)).astype(np.float32)
    ref = x[..., idx[0]] * w[0]
    ref += x[..., idx[1]] * w[1]
    np.testing.assert_allclose(_C.gather_axis_forward(x, -1, idx, w), ref, rtol=1e-6, atol=1e-7)
    xe = _leaf(x)
    y = F.interpolate(xe, size=17, mode="linear", align_corners=False)
    y.sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.interpolate(xt, size=17, mode="linear", align_corners=False)
    yt.sum().backward()
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-6)
