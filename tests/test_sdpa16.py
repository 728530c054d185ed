"""The forward kernel's paths by query-tile height: K_j / V_j packed once per head (more than one
128-row query tile), dot products for 1-4 rows (a decoding step, or a 1-4 row last tile), the
GEMM otherwise; against float64 NumPy references, PyTorch, and finite differences."""

import numpy as np
import pytest
import reference_attention as ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=1e-4, atol=2e-5), np.float64: dict(rtol=1e-10, atol=1e-12)}

# (Lq, Lk): 1-4 rows alone or as the last tile (129, 132), one tile (5, 128), several with a
# partial last key tile (300 keys: 256 + 44) and a partial last query tile (257, 300).
LENGTHS = [(1, 1), (1, 300), (2, 7), (3, 513), (4, 256), (5, 9), (128, 300), (129, 300),
           (132, 40), (257, 300), (300, 513)]  # fmt: skip


def _qkv(rng, batch, lq, lk, e, ev, dtype):
    q = rng.standard_normal(batch + (lq, e)).astype(dtype)
    k = rng.standard_normal(batch + (lk, e)).astype(dtype)
    v = rng.standard_normal(batch + (lk, ev)).astype(dtype)
    return q, k, v


def _masks(rng, lq, lk, dtype):
    b = rng.random((lq, lk)) > 0.3
    b[:, 0] = True
    return [
        (None, False),
        (None, True),
        (b, False),
        (rng.standard_normal((lq, lk)).astype(dtype), False),
    ]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lq, lk", LENGTHS)
def test_forward_and_backward_match_numpy(lq, lk, dtype, rng):
    q, k, v = _qkv(rng, (2, 2), lq, lk, 16, 8, dtype)
    dout = rng.standard_normal((2, 2, lq, 8)).astype(dtype)
    for mask, causal in _masks(rng, lq, lk, dtype):
        tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
        out = F.scaled_dot_product_attention(tq, tk, tv, attn_mask=mask, is_causal=causal)
        out.backward(dout)
        want = ref.sdpa(q, k, v, mask, causal, dout=dout)
        got = (out.numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy())
        for g, w, what in zip(got, want, ("out", "dq", "dk", "dv")):
            assert g.dtype == dtype
            np.testing.assert_allclose(g, w, **TOL[dtype], err_msg=f"{what} causal={causal}")


@pytest.mark.parametrize("lq, lk", [(1, 300), (3, 40), (200, 300)])
def test_dropout_matches_reference_with_kernel_mask(lq, lk, rng):
    q, k, v = _qkv(rng, (3,), lq, lk, 8, 8, np.float64)
    seed, p = 987654321, 0.2
    out, _ = _C.sdpa_forward(q, k, v, scale=0.5, dropout_p=p, seed=seed)
    keep = _C.sdpa_dropout_mask(3, lq, lk, p, seed).astype(bool)
    want = ref.sdpa(q, k, v, scale=0.5, keep=keep, p=p)
    np.testing.assert_allclose(out, want, **TOL[np.float64])


@pytest.mark.parametrize("lq, lk, e", [(1, 1024, 64), (3, 257, 32), (260, 600, 64)])
def test_matches_torch(lq, lk, e, rng):
    torch = pytest.importorskip("torch")
    q, k, v = _qkv(rng, (2, 4), lq, lk, e, e, np.float32)
    dout = rng.standard_normal((2, 4, lq, e)).astype(np.float32)
    tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    out = F.scaled_dot_product_attention(tq, tk, tv)
    out.backward(dout)
    xq, xk, xv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    xo = torch.nn.functional.scaled_dot_product_attention(xq, xk, xv)
    xo.backward(torch.from_numpy(dout))
    for g, w in ((out, xo), (tq.grad, xq.grad), (tk.grad, xk.grad), (tv.grad, xv.grad)):
        np.testing.assert_allclose(g.numpy(), w.detach().numpy(), rtol=1e-4, atol=3e-5)


def test_results_do_not_depend_on_thread_count(rng):
    q, k, v = _qkv(rng, (3,), 300, 520, 16, 16, np.float32)
    ember.set_num_threads(1)
    try:
        one = _C.sdpa_forward(q, k, v, scale=0.25)
    finally:
        ember.set_num_threads(2)
    two = _C.sdpa_forward(q, k, v, scale=0.25)
    for a, b in zip(one, two):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("lq", [1, 3])
def test_gradcheck_few_rows(lq, rng):
    q, k, v = (
        ember.tensor(a, requires_grad=True) for a in _qkv(rng, (2,), lq, 6, 3, 4, np.float64)
    )
    mask = rng.standard_normal((lq, 6))
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, mask), (q, k, v))
    assert gradcheck(
        lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True), (q, k, v)
    )


# ---- grouped-query attention: the kernel reads each key/value head for its query heads


def _gqa_inputs(rng, dtype, b=2, hq=6, hk=2, lq=130, lk=300, e=8):
    q = rng.standard_normal((b, hq, lq, e)).astype(dtype)
    k = rng.standard_normal((b, hk, lk, e)).astype(dtype)
    v = rng.standard_normal((b, hk, lk, e)).astype(dtype)
    return q, k, v


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lq", [1, 130])
def test_gqa_matches_numpy(lq, dtype, rng):
    q, k, v = _gqa_inputs(rng, dtype, lq=lq)
    dout = rng.standard_normal((2, 6, lq, 8)).astype(dtype)
    bmask = rng.random((lq, 300)) > 0.3
    bmask[:, 0] = True
    for mask, causal in ((None, False), (None, True), (bmask, False)):
        tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
        out = F.scaled_dot_product_attention(
            tq, tk, tv, attn_mask=mask, is_causal=causal, enable_gqa=True
        )
        out.backward(dout)
        ke, ve = (np.repeat(a, 3, axis=1) for a in (k, v))
        r_out, r_dq, r_dk, r_dv = ref.sdpa(q, ke, ve, mask, causal, dout=dout)
        r_dk = r_dk.reshape(2, 2, 3, 300, 8).sum(2)  # each key head: its 3 query heads' sum
        r_dv = r_dv.reshape(2, 2, 3, 300, 8).sum(2)
        got = (out.numpy(), tq.grad.numpy(), tk.grad.numpy(), tv.grad.numpy())
        for g, w, what in zip(got, (r_out, r_dq, r_dk, r_dv), ("out", "dq", "dk", "dv")):
            assert g.shape == w.shape and g.dtype == dtype
            np.testing.assert_allclose(g, w, **TOL[dtype], err_msg=f"{what} causal={causal}")


def test_gqa_dropout_is_that_of_the_repeated_heads(rng):
    q, k, v = _gqa_inputs(rng, np.float64)
    ember.manual_seed(3)
    a = F.scaled_dot_product_attention(q, k, v, dropout_p=0.3, enable_gqa=True).numpy()
    ember.manual_seed(3)
    ke, ve = (np.repeat(x, 3, axis=1) for x in (k, v))
    b = F.scaled_dot_product_attention(q, ke, ve, dropout_p=0.3).numpy()
    np.testing.assert_allclose(a, b, **TOL[np.float64])


def test_gqa_gradcheck(rng):
    ins = [
        ember.tensor(a, requires_grad=True) for a in _gqa_inputs(rng, np.float64, 1, 4, 2, 3, 5, 3)
    ]
    assert gradcheck(lambda a, b, c: F.scaled_dot_product_attention(a, b, c, enable_gqa=True), ins)
    fn = lambda a, b, c: F.scaled_dot_product_attention(a, b, c, is_causal=True, enable_gqa=True)  # noqa: E731
    assert gradcheck(fn, ins)


@pytest.mark.parametrize("lq", [1, 200])
def test_gqa_matches_torch(lq, rng):
    torch = pytest.importorskip("torch")
    q, k, v = _gqa_inputs(rng, np.float32, lq=lq, e=32)
    dout = rng.standard_normal((2, 6, lq, 32)).astype(np.float32)
    tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
    out = F.scaled_dot_product_attention(tq, tk, tv, enable_gqa=True)
    out.backward(dout)
    xq, xk, xv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    xo = torch.nn.functional.scaled_dot_product_attention(xq, xk, xv, enable_gqa=True)
    xo.backward(torch.from_numpy(dout))
    for g, w in ((out, xo), (tq.grad, xq.grad), (tk.grad, xk.grad), (tv.grad, xv.grad)):
        np.testing.assert_allclose(g.numpy(), w.detach().numpy(), rtol=1e-4, atol=3e-5)


def test_kv_group_bad_values(rng):
    q = rng.standard_normal((6, 4, 8))
    k = rng.standard_normal((2, 4, 8))
    with pytest.raises(ValueError, match="kv_group"):
        _C.sdpa_forward(q, k, k, kv_group=4)  # does not divide 6
    with pytest.raises(ValueError, match="kv_group"):
        _C.sdpa_forward(q, k, k, kv_group=0)
    with pytest.raises(ValueError, match="batch sizes differ"):
        _C.sdpa_forward(q, k, k, kv_group=2)  # 6 / 2 = 3 key heads, not 2


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("hk", [1, 4])
def test_gqa_backward_schedules(hk, threads, rng):
    """One key/value head (2 threads: the split schedule) or several (per head), 1 or 2 threads."""
    q, k, v = _gqa_inputs(rng, np.float64, b=1, hq=8, hk=hk, lq=200, lk=300, e=16)
    dout = rng.standard_normal((1, 8, 200, 16))
    ember.set_num_threads(threads)
    try:
        tq, tk, tv = (ember.tensor(a, requires_grad=True) for a in (q, k, v))
        F.scaled_dot_product_attention(tq, tk, tv, is_causal=True, enable_gqa=True).backward(dout)
    finally:
        ember.set_num_threads(2)
    g = 8 // hk
    ke, ve = (np.repeat(a, g, axis=1) for a in (k, v))
    _, r_dq, r_dk, r_dv = ref.sdpa(q, ke, ve, None, True, dout=dout)
    np.testing.assert_allclose(tq.grad.numpy(), r_dq, **TOL[np.float64])
    np.testing.assert_allclose(
        tk.grad.numpy(), r_dk.reshape(1, hk, g, 300, 16).sum(2), **TOL[np.float64]
    )
    np.testing.assert_allclose(
        tv.grad.numpy(), r_dv.reshape(1, hk, g, 300, 16).sum(2), **TOL[np.float64]
    )
