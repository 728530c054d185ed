"""Hangs on empty data (a fuzz of ember._C) and the small-size fast paths: each checked against
PyTorch / NumPy, on both sides of any size threshold."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember import _C

torch = pytest.importorskip("torch")


# ---- group norm with no values per group: the kernels walked all N * C empty channels
# (forward) or sized (N, C) partials (backward, 2^40 of them) before returning.


def test_group_norm_of_empty_groups_with_huge_dims_returns_at_once():
    x = np.zeros((2**20, 2**20, 0))
    y, mean, rstd = _C.group_norm_forward(x, None, None, 1, 1e-5)
    assert y.shape == x.shape and mean.shape == rstd.shape == (2**20, 1)
    # the statistics of no values, as each empty row gave before: mean 0, rstd 1 / sqrt(eps)
    # (torch's native_group_norm gives rstd NaN there; neither reaches group_norm's output)
    assert not mean.any()
    np.testing.assert_allclose(rstd, 1 / np.sqrt(1e-5))
    dx, dw, db = _C.group_norm_backward(x, x, mean, rstd, np.ones(2**20), 1)
    assert dx.shape == x.shape and dw.shape == db.shape == (2**20,)
    assert not dw.any() and not db.any()
    with pytest.raises(ValueError, match="divisible by num_groups"):
        _C.group_norm_forward(np.zeros((2, 6, 0)), None, None, 4, 1e-5)


@pytest.mark.parametrize("shape", [(2, 4, 0), (3, 6, 0, 5), (0, 4, 3), (2, 0, 3)])
def test_group_norm_of_empty_input_matches_torch(shape, threads):
    G = 2 if shape[1] else 1
    x = ember.zeros(*shape, requires_grad=True)
    w = ember.ones(shape[1], requires_grad=True)
    b = ember.zeros(shape[1], requires_grad=True)
    tx = torch.zeros(shape, requires_grad=True)
    tw, tb = torch.ones(shape[1], requires_grad=True), torch.zeros(shape[1], requires_grad=True)
    ref = torch.nn.functional.group_norm(tx, G, tw, tb)
    ref.sum().backward()
    for _ in threads():
        x.grad = w.grad = b.grad = None
        y = F.group_norm(x, G, w, b)
        assert y.shape == tuple(ref.shape)
        y.sum().backward()
        assert x.grad.shape == shape
        # torch's dw is NaN where its empty-group rstd is NaN (matched since parity6)
        np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())
        np.testing.assert_array_equal(b.grad.numpy(), tb.grad.numpy())


# ---- attention with head dim 0: an O(Lq * Lk) walk over scores that feed nothing


def test_sdpa_with_no_output_dims_and_huge_length_returns_at_once():
    L = 2**22  # (the fuzz found 2^28; the old walk was already 2^44 steps here)
    q = np.zeros((1, L, 0), np.float32)
    out, lse = _C.sdpa_forward(q, q, q, scale=1.0)
    assert out.shape == (1, L, 0) and lse.shape == (1, L)
    dq, dk, dv = _C.sdpa_backward(out, q, q, q, out, lse, scale=1.0)
    assert dq.shape == dk.shape == dv.shape == (1, L, 0)
    kd = np.zeros((1, L, 2), np.float32)  # a real key dim, still no output
    out, lse = _C.sdpa_forward(kd[:, :1], kd, q, scale=1.0)
    assert out.shape == (1, 1, 0)
    dq, dk, dv = _C.sdpa_backward(out, kd[:, :1], kd, q, out, lse, scale=1.0)
    assert not dq.any() and not dk.any() and dv.shape == (1, L, 0)
    with pytest.raises(ValueError, match="scale must be finite"):
        _C.sdpa_forward(q, q, q, scale=float("inf"))


@pytest.mark.parametrize("E, Ev", [(0, 0), (4, 0), (0, 3)])
@pytest.mark.parametrize("causal", [False, True])
def test_sdpa_with_empty_head_dims_matches_torch(E, Ev, causal, threads):
    rng = np.random.default_rng(0)
    qn, kn, vn = (
        rng.standard_normal((2, 5, E)),
        rng.standard_normal((2, 7, E)),
        rng.standard_normal((2, 7, Ev)),
    )
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (qn, kn, vn))
    ref = torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal, scale=0.5)
    ref.sum().backward()
    for _ in threads():
        q, k, v = (ember.tensor(a, requires_grad=True) for a in (qn, kn, vn))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=0.5)
        assert y.shape == tuple(ref.shape)
        np.testing.assert_allclose(y.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-12)
        y.sum().backward()
        for a, t in ((q, tq), (k, tk), (v, tv)):
            np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


# ---- zeros(32, 32): no keywords, default dtype, below the fill kernel's size: np.zeros straight


@pytest.mark.parametrize("shape", [(32, 32), (255, 256), (256, 256), (0, 5), (), (7,)])
def test_zeros_either_side_of_the_fill_size(shape, threads):
    for _ in threads():
        made = [ember.zeros(shape), ember.zeros(list(shape))]
        for z in made + ([ember.zeros(*shape)] if shape else []):  # (zeros() refuses, as torch)
            ref = torch.zeros(shape)
            assert z.shape == tuple(ref.shape) and z.dtype == np.float32 and not z.requires_grad
            np.testing.assert_array_equal(z.numpy(), ref.numpy())
            assert z.data.flags.c_contiguous and z.data.flags.writeable


def test_zeros_keywords_dtypes_and_bad_sizes():
    ember.set_default_dtype(np.float64)
    try:
        assert ember.zeros(3, 2).dtype == np.float64
    finally:
        ember.set_default_dtype(np.float32)
    assert ember.zeros(2, 3, dtype=np.int64).dtype == np.int64
    z = ember.zeros(size=(2, 3), requires_grad=True)
    assert z.shape == (2, 3) and z.requires_grad and z.grad_fn is None
    assert ember.zeros(2, device="cpu").shape == (2,)
    with ember.device("meta"):
        assert ember.zeros(2, 3).device.type == "meta"
    assert "dtype" in str(__import__("inspect").signature(ember.zeros))
    with pytest.raises(ValueError, match="negative dimension"):
        ember.zeros(2, -1)
    with pytest.raises(TypeError, match="sizes must be ints"):
        ember.zeros(2, 1.5)


# ---- x[idx] with an integer index tensor outside the graph: GetItem's forward straight


@pytest.mark.parametrize("dtype", [np.int64, np.int32])
@pytest.mark.parametrize("idx", [[3, 0, 3, -1], [[1, 2], [0, -4]], [2]])
def test_integer_tensor_index_matches_torch(dtype, idx):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((5, 3)).astype(np.float32)
    i = np.array(idx, dtype)
    y = ember.tensor(a)[ember.tensor(i)]
    ref = torch.from_numpy(a)[torch.from_numpy(i.astype(np.int64))]
    assert y.shape == tuple(ref.shape) and not y.requires_grad
    np.testing.assert_array_equal(y.numpy(), ref.numpy())
    assert not np.shares_memory(y.data, a)  # a copy, as torch's
    v = ember.tensor(np.arange(4.0))[ember.tensor(np.array(2))]  # a 0-d index: a 0-d copy
    assert v.shape == () and float(v) == 2.0


def test_integer_tensor_index_gradients_and_errors():
    a = np.arange(12.0).reshape(4, 3)
    x = ember.tensor(a, requires_grad=True)
    i = ember.tensor([1, 1, 3])
    y = x[i]  # in the graph: the generic path
    assert y.requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 0, 0], [2, 2, 2], [0, 0, 0], [1, 1, 1]])
    with ember.no_grad():
        assert not x[i].requires_grad
    with pytest.raises(IndexError, match=r"shape \(4, 3\)"):
        ember.tensor(a)[ember.tensor([4])]
    with pytest.raises(IndexError, match=r"shape \(4, 3\)"):
        ember.tensor(a)[ember.tensor([-5])]
    m = ember.tensor([True, False, True, False])  # a mask keeps its own path
    np.testing.assert_array_equal(ember.tensor(a)[m].numpy(), a[[0, 2]])


# ---- cat / stack: one thread copies without an OpenMP team; threads split big outputs


@pytest.mark.parametrize("rows", [32, 2048])  # 8 KB (one thread) and 512 KB (threads) outputs
@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int16, np.bool_])
def test_cat_and_stack_match_torch_either_side_of_the_thread_size(rows, dim, dtype, threads):
    rng = np.random.default_rng(2)
    parts = [(rng.standard_normal((rows, 32)) * 100).astype(dtype) for _ in range(3)]
    parts[1] = parts[1][:, :7] if dim else parts[1][:5]  # cat: a different extent along dim
    ref_cat = torch.cat([torch.from_numpy(p) for p in parts], dim).numpy()
    same = [parts[0], parts[2], parts[0]]
    ref_stack = torch.stack([torch.from_numpy(p) for p in same], dim).numpy()
    for _ in threads():
        np.testing.assert_array_equal(
            ember.cat([ember.tensor(p) for p in parts], dim).numpy(), ref_cat
        )
        y = ember.stack([ember.tensor(p) for p in same], dim)
        np.testing.assert_array_equal(y.numpy(), ref_stack)


def test_cat_gradients_and_bad_input():
    a = ember.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    b = ember.tensor(np.ones((1, 3)), requires_grad=True)
    y = ember.cat([a, b]) * ember.tensor(np.arange(9.0).reshape(3, 3))
    y.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(b.grad.numpy(), [[6.0, 7.0, 8.0]])
    with pytest.raises(ValueError, match=r"shapes \(2, 3\) and \(2, 2\) differ"):
        _C.concat([np.ones((2, 3)), np.ones((2, 2))], 0, False)
    with pytest.raises(TypeError, match="expected arrays"):
        _C.concat([np.ones(2), 3], 0, False)
    with pytest.raises(IndexError, match="out of range"):
        _C.concat([np.ones(2)], 2, False)
