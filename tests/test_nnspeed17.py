"""grid_sample's bilinear / nearest path whole in C++ (coordinates, padding modes, taps and the
gather: resample.cpp grid_sample_forward / grid_sample_taps): values and gradients against
PyTorch in 2-D and 3-D for every padding mode, float64 finite-difference gradients, exact .5
ties of nearest, the same result on one and two threads, and the checks at the C++ boundary."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _threads(n, fn):
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(n)
        return fn()
    finally:
        ember.set_num_threads(before)


def _case(nd, dtype, seed=0, n=2, c=3, pts=300):
    rng = np.random.default_rng(seed)
    sizes = (5, 6, 7)[:nd] if nd == 3 else (9, 11)
    x = rng.standard_normal((n, c, *sizes)).astype(dtype)
    # several blocks of 256 points, a third of them outside [-1, 1]
    out = (pts,) if nd == 2 else (3, pts // 3)
    grid = (rng.random((n, *out, nd)) * 3.0 - 1.5).astype(dtype)
    grid = grid.reshape(n, *([1] * (nd - len(out))), *out, nd)
    return x, grid


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("mode", ["bilinear", "nearest"])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grid_sample_values_and_gradients_as_torch(nd, mode, padding_mode, align_corners, dtype):
    x, grid = _case(nd, dtype)
    kw = dict(mode=mode, padding_mode=padding_mode, align_corners=align_corners)
    tx = torch.from_numpy(x).requires_grad_(True)
    tg = torch.from_numpy(grid).requires_grad_(mode == "bilinear")
    want = TF.grid_sample(tx, tg, **kw)
    gout = np.random.default_rng(1).standard_normal(tuple(want.shape)).astype(dtype)
    want.backward(torch.from_numpy(gout))
    ex = ember.tensor(x, requires_grad=True)
    eg = ember.tensor(grid, requires_grad=mode == "bilinear")
    got = F.grid_sample(ex, eg, **kw)
    got.backward(ember.tensor(gout))
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), **tol)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)
    if mode == "bilinear":
        np.testing.assert_allclose(eg.grad.numpy(), tg.grad.numpy(), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_float64_gradcheck(nd, padding_mode):
    x, grid = _case(nd, np.float64, seed=2, n=1, c=2, pts=12)
    grid = grid * 0.9  # (off the kinks at the borders)
    xe = ember.tensor(x, requires_grad=True)
    ge = ember.tensor(grid, requires_grad=True)
    assert gradcheck(
        lambda a, b: F.grid_sample(a, b, padding_mode=padding_mode, align_corners=False), (xe, ge)
    )


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border", "reflection"])
def test_grid_sample_nearest_at_exact_half_ties_as_torch(nd, dtype, align_corners, padding_mode):
    # grid points whose source coordinate is (or is next to) k + 0.5: torch rounds the exact
    # ties half to even, after forming the 2-D coordinate with one FMA
    for n in (3, 5, 7, 10, 13, 31):
        i = np.arange(-n, 2 * n)
        g = (2 * i + 2) / n - 1 if not align_corners else 2 * (i + 0.5) / (n - 1) - 1
        g = g.astype(dtype)
        g = np.concatenate([g, np.nextafter(g, dtype(np.inf)), np.nextafter(g, -dtype(np.inf))])
        grid = np.zeros((1, *([1] * (nd - 1)), len(g), nd), dtype)
        for a in range(nd):
            grid[..., a] = np.roll(g, 3 * a)
        x = np.arange(float(n**nd), dtype=dtype).reshape(1, 1, *([n] * nd))
        kw = dict(mode="nearest", padding_mode=padding_mode, align_corners=align_corners)
        want = TF.grid_sample(torch.from_numpy(x), torch.from_numpy(grid), **kw).numpy()
        got = F.grid_sample(ember.tensor(x), ember.tensor(grid), **kw).numpy()
        np.testing.assert_array_equal(got, want)


def test_grid_sample_same_on_one_and_two_threads():
    x, grid = _case(2, np.float32, seed=3, n=4, c=16, pts=2000)

    def run():
        xe = ember.tensor(x, requires_grad=True)
        ge = ember.tensor(grid, requires_grad=True)
        y = F.grid_sample(xe, ge, align_corners=False)
        y.sum().backward()
        return y.numpy(), xe.grad.numpy(), ge.grad.numpy()

    for a, b in zip(_threads(1, run), _threads(2, run)):
        np.testing.assert_array_equal(a, b)


def test_grid_sample_taps_match_the_forward():
    # the backward's taps (grid_sample_taps) gather to the forward's output
    x, grid = _case(3, np.float64, seed=4)
    for mode in ("bilinear", "nearest"):
        idx, w, frac, slope = _C.grid_sample_taps(grid, list(x.shape[2:]), mode, "border", False)
        k = 8 if mode == "bilinear" else 1
        assert idx.shape == w.shape == (2, k, grid[0, ..., 0].size)
        assert frac.shape == slope.shape == (2, 3, grid[0, ..., 0].size)
        y = _C.point_taps_forward(x.reshape(2, 3, -1), idx, w)
        want = _C.grid_sample_forward(x, grid, mode, "border", False)
        np.testing.assert_array_equal(y, want.reshape(y.shape))


def test_grid_sample_c_boundary_checks():
    x, grid = _case(2, np.float32)
    with pytest.raises(ValueError, match="mode"):
        _C.grid_sample_forward(x, grid, "bicubic", "zeros", False)
    with pytest.raises(ValueError, match="padding_mode"):
        _C.grid_sample_taps(grid, [9, 11], "bilinear", "wrap", False)
    with pytest.raises(TypeError):
        _C.grid_sample_forward(x, grid.astype(np.float64), "bilinear", "zeros", False)
    with pytest.raises(ValueError, match="grid"):
        _C.grid_sample_forward(x, grid[..., :1].copy(), "bilinear", "zeros", False)
    with pytest.raises(ValueError, match="does not match"):
        _C.grid_sample_forward(x, np.concatenate([grid, grid]), "bilinear", "zeros", False)
    with pytest.raises(ValueError, match="4-D or 5-D"):
        _C.grid_sample_forward(x[0], grid, "bilinear", "zeros", False)
    with pytest.raises(ValueError, match="empty"):
        _C.grid_sample_taps(grid, [9, 0], "bilinear", "zeros", False)


# ---- ctc_loss: each recursion step one vector loop (loss.cpp ctc_step) ----------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["none", "mean"])
def test_ctc_loss_long_and_ragged_targets_as_torch(dtype, reduction):
    # extended lengths 1 .. 61 (not multiples of the 8 vector lanes), repeats (no skip) and input
    # lengths shorter than T
    rng = np.random.default_rng(5)
    t_max, n, c = 70, 7, 6
    logits = rng.standard_normal((t_max, n, c))
    lp = (logits - np.log(np.exp(logits).sum(-1, keepdims=True))).astype(dtype)
    tl = np.array([0, 1, 3, 8, 17, 30, 22])
    il = np.array([5, 9, 70, 40, 70, 65, 70])
    tg = rng.integers(1, 3, (n, 30))  # few classes: many repeats
    tlp = torch.from_numpy(lp).requires_grad_(True)
    want = TF.ctc_loss(
        tlp, torch.from_numpy(tg), torch.from_numpy(il), torch.from_numpy(tl), reduction=reduction
    )
    want.sum().backward()
    lpe = ember.tensor(lp, requires_grad=True)
    got = F.ctc_loss(lpe, ember.tensor(tg), ember.tensor(il), ember.tensor(tl), reduction=reduction)
    got.sum().backward()
    # (torch runs a float32 input in float32, ember in double: torch is the one ~3e-5 off)
    tol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), **tol)
    np.testing.assert_allclose(lpe.grad.numpy(), tlp.grad.numpy(), **tol)


def test_ctc_loss_float64_gradcheck_and_threads():
    rng = np.random.default_rng(6)
    logits = rng.standard_normal((12, 3, 4))
    lp = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    tg, il, tl = rng.integers(1, 4, (3, 5)), np.array([12, 10, 12]), np.array([5, 2, 4])

    def loss(x):  # through log_softmax: torch's (and ember's) ctc gradient is exact for logits
        return F.ctc_loss(F.log_softmax(x, 2), ember.tensor(tg), ember.tensor(il), ember.tensor(tl))

    assert gradcheck(loss, (ember.tensor(lp, requires_grad=True),))

    def run():
        x = ember.tensor(lp, requires_grad=True)
        y = loss(x)
        y.backward()
        return y.numpy(), x.grad.numpy()

    for a, b in zip(_threads(1, run), _threads(2, run)):
        np.testing.assert_array_equal(a, b)


# ---- grouped-query decoding: a group's query heads as one task's rows (attention.cpp) --------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lq,hq,hk", [(1, 8, 2), (1, 6, 3), (2, 4, 2), (1, 4, 1), (3, 4, 2)])
def test_gqa_decode_same_bits_as_repeated_heads_and_torch(dtype, lq, hq, hk):
    rng = np.random.default_rng(7)
    q = rng.standard_normal((2, hq, lq, 16)).astype(dtype)
    k = rng.standard_normal((2, hk, 300, 16)).astype(dtype)
    v = rng.standard_normal((2, hk, 300, 12)).astype(dtype)
    got = F.scaled_dot_product_attention(
        ember.tensor(q), ember.tensor(k), ember.tensor(v), enable_gqa=True
    ).numpy()
    rep = hq // hk  # every query head with its own copy of its key/value head: no grouping
    kr, vr = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
    plain = F.scaled_dot_product_attention(ember.tensor(q), ember.tensor(kr), ember.tensor(vr))
    np.testing.assert_array_equal(got, plain.numpy())
    want = TF.scaled_dot_product_attention(
        torch.from_numpy(q), torch.from_numpy(k), torch.from_numpy(v), enable_gqa=True
    ).numpy()
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(got, want, **tol)


def test_gqa_decode_gradients_as_torch():
    rng = np.random.default_rng(8)
    q, k, v = (rng.standard_normal(s) for s in ((1, 4, 1, 8), (1, 2, 40, 8), (1, 2, 40, 8)))
    tq, tk, tv = (torch.from_numpy(a).requires_grad_(True) for a in (q, k, v))
    TF.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True).sum().backward()
    eq, ek, ev = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    F.scaled_dot_product_attention(eq, ek, ev, enable_gqa=True).sum().backward()
    for e, t in ((eq, tq), (ek, tk), (ev, tv)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, enable_gqa=True), (eq, ek, ev)
    )


# ---- max_pool1d without a graph: one C++ pass per row (pool2d.cpp max_pool1d_forward) ---------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("k,s", [(1, 1), (2, 2), (3, 2), (3, 1), (5, 3), (4, 7)])
def test_max_pool1d_no_grad_as_torch(dtype, k, s):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((3, 4, 37)).astype(dtype)
    x[0, 0, 5] = np.nan  # a NaN wins its windows
    x[1, 2, 10:13] = np.inf
    x[2, 1, 0] = -np.inf
    want = TF.max_pool1d(torch.from_numpy(x), k, s).numpy()
    with ember.no_grad():
        got = F.max_pool1d(ember.tensor(x), k, s).numpy()
    np.testing.assert_array_equal(got, want)
    got2d = F.max_pool1d(ember.tensor(x[0]), k, s).numpy()  # (C, L), no graph to build
    np.testing.assert_array_equal(got2d, want[0])


def test_max_pool1d_forward_c_boundary_checks():
    x = np.zeros((2, 5), np.float32)
    with pytest.raises(ValueError, match="shorter"):
        _C.max_pool1d_forward(x, 6, 1)
    with pytest.raises(ValueError, match=">= 1"):
        _C.max_pool1d_forward(x, 2, 0)
    with pytest.raises(ValueError, match=">= 1"):
        _C.max_pool1d_forward(x, 0, 1)
    with pytest.raises(TypeError):
        _C.max_pool1d_forward(x.astype(np.int32), 2, 1)
    with pytest.raises(ValueError):
        _C.max_pool1d_forward(np.zeros((4, 6), np.float32)[:, ::2], 2, 1)  # not contiguous


@pytest.mark.parametrize("zero_infinity", [False, True])
def test_ctc_loss_target_holding_the_blank_gradient_as_torch(zero_infinity):
    # torch's last step assigns the last label's alpha * beta to its class: a target label equal
    # to the blank drops the final blank's term from the gradient (the loss is unchanged)
    rng = np.random.default_rng(10)
    for trial in range(60):
        t_max, c, s = int(rng.integers(1, 9)), int(rng.integers(2, 4)), int(rng.integers(1, 5))
        lg = rng.standard_normal((t_max, 2, c))
        lp = lg - np.log(np.exp(lg).sum(-1, keepdims=True))
        tg, il = rng.integers(0, c, (2, s)), rng.integers(1, t_max + 1, 2)
        tl, blank = rng.integers(0, s + 1, 2), int(rng.integers(0, c))
        kw = dict(blank=blank, reduction="sum", zero_infinity=zero_infinity)
        tlp = torch.from_numpy(lp).requires_grad_(True)
        args = [torch.from_numpy(a) for a in (tg, il, tl)]
        want = TF.ctc_loss(tlp, *args, **kw)
        want.backward()
        lpe = ember.tensor(lp, requires_grad=True)
        got = F.ctc_loss(lpe, *[ember.tensor(a) for a in (tg, il, tl)], **kw)
        got.backward()
        np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-12)
        np.testing.assert_allclose(
            lpe.grad.numpy(), tlp.grad.numpy(), rtol=1e-9, atol=1e-12, err_msg=f"trial {trial}"
        )
