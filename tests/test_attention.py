"""scaled_dot_product_attention: the fused kernel against float64 NumPy references and PyTorch,
gradcheck with every mask kind, dropout, fully masked rows, memory at L = 4096, bad inputs."""

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import reference_attention as ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

DTYPES = [np.float32, np.float64]
TOL = {np.float32: dict(rtol=1e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}

# (batch dims, Lq, Lk, E, Ev): tile edges (64 query rows, 128 keys), Lq != Lk, E != Ev.
SHAPES = [
    ((2, 3), 5, 7, 4, 6),
    ((1, 2), 70, 150, 16, 8),
    ((3,), 130, 129, 8, 8),
    ((), 1, 1, 3, 2),
    ((2, 1), 64, 128, 32, 32),
]


def _qkv(rng, batch, lq, lk, e, ev, dtype):
    q = rng.standard_normal(batch + (lq, e)).astype(dtype)
    k = rng.standard_normal(batch + (lk, e)).astype(dtype)
    v = rng.standard_normal(batch + (lk, ev)).astype(dtype)
    return q, k, v


def _sdpa(q, k, v, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """The public function, or the internal one for a mask together with is_causal (PyTorch's
    public function refuses the pair; MultiheadAttention uses it)."""
    if attn_mask is not None and is_causal:
        return F._attention(q, k, v, attn_mask, dropout_p, is_causal, scale)
    return F.scaled_dot_product_attention(q, k, v, attn_mask, dropout_p, is_causal, scale)


def _run(q, k, v, dout, **kw):
    tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    out = _sdpa(tq, tk, tv, **kw)
    out.backward(dout)
    return out.numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy()


def _masks(rng, batch, lq, lk):
    """Every mask kind and broadcast pattern: (name, mask, is_causal)."""
    full = batch + (lq, lk)
    b = rng.random(full) > 0.3
    b[..., 0] = True  # no fully masked rows here (tested on their own)
    out = [
        ("none", None, False),
        ("causal", None, True),
        ("bool_full", b, False),
        ("bool_2d", rng.random((lq, lk)) > 0.3, False),
        # (Lk,) key padding; (1, Lk) for 4-D inputs, where torch refuses a 1-D mask
        (
            "bool_keys",
            (np.arange(lk) < max(1, lk - 2)).reshape((1,) * (len(batch) == 2) + (lk,)),
            False,
        ),
        ("float_full", rng.standard_normal(full), False),
        ("float_2d", rng.standard_normal((lq, lk)), False),
        ("bool_and_causal", b, True),
    ]
    if len(batch) == 2:  # (B, 1, 1, Lk) key padding and (1, H, Lq, Lk) per head
        kp = np.ones((batch[0], 1, 1, lk), dtype=bool)
        kp[0, ..., -1] = False
        out.append(("bool_b11k", kp, False))
        out.append(("float_1h", rng.standard_normal((1, batch[1], lq, lk)), False))
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
def test_matches_numpy_every_mask(shape, dtype, rng):
    batch, lq, lk, e, ev = shape
    q, k, v = _qkv(rng, batch, lq, lk, e, ev, dtype)
    dout = rng.standard_normal(batch + (lq, ev)).astype(dtype)
    for name, mask, causal in _masks(rng, batch, lq, lk):
        m = mask if mask is None or mask.dtype == bool else mask.astype(dtype)
        out, dq, dk, dv = _run(q, k, v, dout, attn_mask=m, is_causal=causal)
        r_out, r_dq, r_dk, r_dv = ref.sdpa(q, k, v, m, causal, dout=dout)
        for got, want, what in ((out, r_out, "out"), (dq, r_dq, "dq"), (dk, r_dk, "dk"),
                                (dv, r_dv, "dv")):  # fmt: skip
            assert got.dtype == dtype
            np.testing.assert_allclose(got, want, **TOL[dtype], err_msg=f"{name} {what}")


@pytest.mark.parametrize("scale", [0.05, 1.0, 3.0])
def test_custom_scale(scale, rng):
    q, k, v = _qkv(rng, (2,), 9, 11, 5, 3, np.float64)
    dout = rng.standard_normal((2, 9, 3))
    got = _run(q, k, v, dout, scale=scale, is_causal=True)
    want = ref.sdpa(q, k, v, None, True, scale=scale, dout=dout)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **TOL[np.float64])


@pytest.mark.parametrize("bh", [1, 3, 16])
def test_threads_and_schedules_agree(bh, rng):
    """Per-head (many heads) and split (few heads) backward schedules, 1 or 2 threads."""
    q, k, v = _qkv(rng, (bh,), 200, 300, 16, 16, np.float64)
    dout = rng.standard_normal((bh, 200, 16))
    ember.set_num_threads(1)
    try:
        one = _run(q, k, v, dout, is_causal=True)
    finally:
        ember.set_num_threads(2)
    two = _run(q, k, v, dout, is_causal=True)
    want = ref.sdpa(q, k, v, None, True, dout=dout)
    for a, b, w in zip(one, two, want):
        np.testing.assert_allclose(a, w, **TOL[np.float64])
        np.testing.assert_allclose(b, w, **TOL[np.float64])


def _gc_inputs(rng, batch=(2, 2), lq=5, lk=6, e=3, ev=4):
    arrays = _qkv(rng, batch, lq, lk, e, ev, np.float64)
    return [ember.tensor(a, requires_grad=True) for a in arrays]


@pytest.mark.parametrize("kind", ["none", "causal", "bool", "float", "bool_causal", "scale"])
def test_gradcheck(kind, rng):
    q, k, v = _gc_inputs(rng)
    bmask = rng.random((2, 1, 5, 6)) > 0.4
    bmask[..., 0] = True
    fmask = rng.standard_normal((5, 6))
    kw = {
        "none": {},
        "causal": {"is_causal": True},
        "bool": {"attn_mask": bmask},
        "float": {"attn_mask": fmask},
        "bool_causal": {"attn_mask": bmask, "is_causal": True},
        "scale": {"scale": 0.7, "attn_mask": fmask},
    }[kind]
    assert gradcheck(lambda a, b, c: _sdpa(a, b, c, **kw), (q, k, v))


def test_gradcheck_dropout(rng):
    q, k, v = _gc_inputs(rng)

    def fn(a, b, c):
        ember.manual_seed(7)  # the same dropout mask on every call
        return F.scaled_dot_product_attention(a, b, c, dropout_p=0.3, is_causal=True)

    assert gradcheck(fn, (q, k, v))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("p", [0.1, 0.5])
def test_dropout_matches_reference_with_kernel_mask(p, dtype, rng):
    q, k, v = _qkv(rng, (3,), 70, 140, 8, 8, dtype)
    dout = rng.standard_normal((3, 70, 8)).astype(dtype)
    seed = 123456789
    out, lse = _C.sdpa_forward(q, k, v, scale=0.5, dropout_p=p, seed=seed)
    dq, dk, dv = _C.sdpa_backward(dout, q, k, v, out, lse, scale=0.5, dropout_p=p, seed=seed)
    keep = _C.sdpa_dropout_mask(3, 70, 140, p, seed).astype(bool)
    assert abs(keep.mean() - (1 - p)) < 0.01
    want = ref.sdpa(q, k, v, scale=0.5, keep=keep, p=p, dout=dout)
    for g, w in zip((out, dq, dk, dv), want):
        np.testing.assert_allclose(g, w, **TOL[dtype])


def test_dropout_from_ember_generator():
    q = ember.randn(2, 16, 8)
    ember.manual_seed(5)
    a = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    ember.manual_seed(5)
    b = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    c = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    ones = np.ones((1, 4, 2000, 1), np.float32)  # v = 1: each output row is sum(P * Z / (1-p))
    out = F.scaled_dot_product_attention(ones, ones, ones, dropout_p=0.25).numpy()
    assert abs(out.mean() - 1.0) < 0.02
    zero = F.scaled_dot_product_attention(q, q, q, dropout_p=1.0).numpy()
    np.testing.assert_array_equal(zero, 0)


@pytest.mark.parametrize("dtype", DTYPES)
def test_fully_masked_rows_give_zero(dtype, rng):
    """A row with every key masked: output 0 and no gradient (PyTorch 2.x CPU behaviour)."""
    q, k, v = _qkv(rng, (2,), 4, 5, 3, 3, dtype)
    dout = rng.standard_normal((2, 4, 3)).astype(dtype)
    bmask = np.ones((4, 5), dtype=bool)
    bmask[1] = False
    fmask = np.zeros((4, 5), dtype=dtype)
    fmask[2] = -np.inf
    for m in (bmask, fmask):
        out, dq, dk, dv = _run(q, k, v, dout, attn_mask=m)
        dead = 1 if m is bmask else 2
        assert np.all(np.isfinite(out)) and np.all(np.isfinite(dk)) and np.all(np.isfinite(dv))
        np.testing.assert_array_equal(out[:, dead], 0)
        np.testing.assert_array_equal(dq[:, dead], 0)
        want = ref.sdpa(q, k, v, m, dout=dout)
        for g, w in zip((out, dq, dk, dv), want):
            np.testing.assert_allclose(g, w, **TOL[dtype])
    # Lk == 0: every row is empty.
    out = F.scaled_dot_product_attention(q, k[:, :0], v[:, :0]).numpy()
    np.testing.assert_array_equal(out, np.zeros((2, 4, 3), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_matches_torch(dtype, rng):
    torch = pytest.importorskip("torch")
    tf = torch.nn.functional
    q, k, v = _qkv(rng, (2, 3), 37, 45, 16, 8, dtype)
    dout = rng.standard_normal((2, 3, 37, 8)).astype(dtype)
    bmask = rng.random((2, 1, 37, 45)) > 0.5
    bmask[0, 0, 3] = False  # one fully masked row
    fmask = rng.standard_normal((37, 45)).astype(dtype)
    cases = [
        {},
        {"is_causal": True},
        {"attn_mask": bmask},
        {"attn_mask": fmask, "scale": 0.3},
    ]
    for kw in cases:
        got = _run(q, k, v, dout, **kw)
        tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
        tkw = {key: torch.from_numpy(val) if isinstance(val, np.ndarray) else val
               for key, val in kw.items()}  # fmt: skip
        tout = tf.scaled_dot_product_attention(tq, tk, tv, **tkw)
        tout.backward(torch.from_numpy(dout))
        want = (tout.detach().numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy())
        tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, **tol, err_msg=str(list(kw)))


# ---- gradient into a float mask (composed path) ---------------------------------------------

MASK_SHAPES = [(2, 3, 6, 7), (6, 7), (1, 3, 6, 7), (3, 1, 7), (1, 7)]  # (1-D: torch refuses)


def _grad_mask(rng, shape, dtype):
    m = rng.standard_normal(shape).astype(dtype)
    m[..., 1] = -np.inf  # one key blocked everywhere: its gradient is 0
    return m


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mshape", MASK_SHAPES, ids=str)
def test_float_mask_gets_its_gradient(mshape, dtype, rng):
    q, k, v = _qkv(rng, (2, 3), 6, 7, 4, 5, dtype)
    dout = rng.standard_normal((2, 3, 6, 5)).astype(dtype)
    m = _grad_mask(rng, mshape, dtype)
    tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    tm = ember.tensor(m, requires_grad=True)
    out = F.scaled_dot_product_attention(tq, tk, tv, tm, scale=0.4)
    out.backward(dout)
    got = (out.numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy(), tm.grad.numpy())
    assert got[-1].shape == mshape and got[-1].dtype == dtype
    assert np.all(got[-1][..., 1] == 0)
    want = ref.sdpa(q, k, v, m, scale=0.4, dout=dout, dmask=True)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **TOL[dtype])
    # the value and q/k/v gradients equal the fused kernel's (mask as a constant)
    fused = _run(q, k, v, dout, attn_mask=m, scale=0.4)
    for g, w in zip(got, fused):
        np.testing.assert_allclose(g, w, **TOL[dtype])
    torch = pytest.importorskip("torch")
    ts = [torch.tensor(a, requires_grad=True) for a in (q, k, v, m)]
    tout = torch.nn.functional.scaled_dot_product_attention(*ts, scale=0.4)
    tout.backward(torch.from_numpy(dout))
    want = (tout.detach().numpy(),) + tuple(t.grad.numpy() for t in ts)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, **TOL[dtype])


def test_float_mask_gradcheck_and_special_rows(rng):
    q, k, v = _qkv(rng, (2,), 4, 5, 3, 3, np.float64)
    m = rng.standard_normal((4, 5))
    ins = tuple(ember.tensor(a, requires_grad=True) for a in (q, k, v, m))
    assert gradcheck(lambda *a: F.scaled_dot_product_attention(*a), ins)
    assert gradcheck(lambda *a: F._attention(*a, 0.0, True, None), ins)  # with is_causal
    # causal + mask: the same as the fused kernel's, which has no mask gradient
    dout = rng.standard_normal((2, 4, 3))
    tm = ember.tensor(m, requires_grad=True)
    tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    out = F._attention(tq, tk, tv, tm, 0.0, True, None)
    out.backward(dout)
    fused = _run(q, k, v, dout, attn_mask=m, is_causal=True)
    for g, w in zip((out, tq.grad, tk.grad, tv.grad), fused):
        np.testing.assert_allclose(g.numpy(), w, **TOL[np.float64])
    assert np.all(np.triu(tm.grad.numpy(), 1) == 0)
    # a row with every key at -inf: output 0, gradients 0 (as the kernel)
    m[2] = -np.inf
    tm = ember.tensor(m, requires_grad=True)
    tq = ember.tensor(q, requires_grad=True)
    out = F.scaled_dot_product_attention(tq, k, v, tm)
    out.backward(dout)
    np.testing.assert_array_equal(out.numpy()[:, 2], 0)
    assert np.all(tm.grad.numpy()[2] == 0) and np.all(tq.grad.numpy()[:, 2] == 0)
    assert np.all(np.isfinite(tm.grad.numpy())) and np.all(np.isfinite(tq.grad.numpy()))
    # no grad mode, or a mask that does not require grad: the fused kernel, nothing recorded
    with ember.no_grad():
        a = F.scaled_dot_product_attention(q, k, v, ember.tensor(m, requires_grad=True))
    b = F.scaled_dot_product_attention(q, k, v, m)
    np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL[np.float64])
    # a float32 mask for float64 inputs: the gradient comes back in the mask's dtype
    m32 = ember.tensor(rng.standard_normal((4, 5)).astype(np.float32), requires_grad=True)
    F.scaled_dot_product_attention(q, k, v, m32).sum().backward()
    assert m32.grad.dtype == np.float32


def test_no_grad_and_inputs_untouched(rng):
    q, k, v = _qkv(rng, (2,), 8, 8, 4, 4, np.float32)
    q0 = q.copy()
    with ember.no_grad():
        out = F.scaled_dot_product_attention(ember.tensor(q, requires_grad=True), k, v)
    assert not out.requires_grad
    np.testing.assert_array_equal(q, q0)
    # non-contiguous inputs are made contiguous by the wrapper
    qt = np.swapaxes(rng.standard_normal((2, 4, 8)), -1, -2).astype(np.float32)
    np.testing.assert_allclose(
        F.scaled_dot_product_attention(qt, qt, qt).numpy(), ref.sdpa(qt, qt, qt), rtol=1e-4,
        atol=1e-5)  # fmt: skip


def test_memory_at_4096():
    """L = 4096: the peak-RSS growth of forward stays below the size of q, k, v and out together
    (the peak stays within 2x of them); backward's growth (dq, dk, dv and workspace) below twice
    that. An L x L matrix alone would be 16x."""
    code = textwrap.dedent(
        """
        import resource, numpy as np, ember
        from ember.nn import functional as F
        rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        B, H, L, D = 1, 2, 4096, 16
        rng = np.random.default_rng(0)
        def run(n):
            q, k, v = (ember.tensor(rng.standard_normal((B, H, n, D)).astype(np.float32),
                                    requires_grad=True) for _ in range(3))
            g = rng.standard_normal((B, H, n, D)).astype(np.float32)
            base = rss()
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            fwd = rss() - base
            base = rss()
            out.backward(g)
            return fwd, rss() - base, q.data.nbytes
        run(256)  # warm-up: threads, code pages
        fwd, bwd, nbytes = run(L)
        print(fwd, bwd, nbytes * 4, B * H * L * L * 4)
        """
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    fwd, bwd, qkvo, lxl = map(int, res.stdout.split())
    assert fwd <= qkvo, (fwd, qkvo, lxl)
    assert bwd <= 2 * qkvo, (bwd, qkvo, lxl)


def test_bad_inputs():
    q = ember.randn(2, 3, 5, 4)
    k = ember.randn(2, 3, 6, 4)
    v = ember.randn(2, 3, 6, 4)
    sdpa = F.scaled_dot_product_attention
    with pytest.raises(ValueError, match="head dims"):
        sdpa(q, ember.randn(2, 3, 6, 5), v)
    with pytest.raises(ValueError, match="sequence lengths"):
        sdpa(q, k, ember.randn(2, 3, 7, 4))
    with pytest.raises(ValueError, match="leading"):
        sdpa(q, ember.randn(2, 2, 6, 4), ember.randn(2, 2, 6, 4))
    with pytest.raises(ValueError, match="at least 2-D"):
        sdpa(ember.randn(4), k, v)
    with pytest.raises(ValueError, match="does not broadcast"):
        sdpa(q, k, v, attn_mask=np.ones((5, 7), dtype=bool))
    with pytest.raises(ValueError, match="does not broadcast"):
        sdpa(q, k, v, attn_mask=np.ones((3, 3, 5, 6), dtype=bool))
    with pytest.raises(ValueError, match="more dims"):
        sdpa(q, k, v, attn_mask=np.ones((1, 2, 3, 5, 6), dtype=bool))
    with pytest.raises(TypeError, match="bool or float"):
        sdpa(q, k, v, attn_mask=np.ones((5, 6), dtype=np.int64))
    with pytest.raises(ValueError, match="not both"):  # (4-D: torch's fused kernel takes both)
        sdpa(q[0], k[0], v[0], attn_mask=np.ones((5, 6), dtype=bool), is_causal=True)
    with pytest.raises(ValueError, match="dropout_p"):
        sdpa(q, k, v, dropout_p=1.5)
    with pytest.raises(ValueError, match="scale"):
        sdpa(q, k, v, scale=float("nan"))
    with pytest.raises(TypeError):
        sdpa(q, k.double(), v)
    with pytest.raises(TypeError):
        sdpa(ember.tensor(np.ones((2, 3), np.int64)), k, v)
    # the raw kernel checks on its own
    a = np.zeros((2, 5, 4), np.float32)
    with pytest.raises(ValueError, match="head dims"):
        _C.sdpa_forward(a, np.zeros((2, 6, 3), np.float32), np.zeros((2, 6, 4), np.float32))
    with pytest.raises(TypeError):
        _C.sdpa_forward(a, a.astype(np.float64), a)
    with pytest.raises(ValueError, match="outside the mask"):
        _C.sdpa_forward(a, a, a, np.ones(10, bool), np.zeros(2, np.int64), 5, 1)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.sdpa_forward(a[:, ::2], a[:, ::2], a[:, ::2])
    with pytest.raises(ValueError, match="lse"):
        _C.sdpa_backward(a, a, a, a, a, np.zeros((2, 4), np.float32))
