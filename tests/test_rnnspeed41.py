"""Round 41: the GEMM's last MR + rem rows as two short tiles (AVX2's 6-row kernels with 1 or 2
rows left over, rows layouts only) against a float64 NumPy oracle on every micro-kernel family,
and the recurrent layers whose per-step products use it (batch 32 = 5 * 6 + 2 rows, the LSTM
forward's joined last row block) against torch: batch_first, bidirectional, two layers, packed
sequences, float32 and float64, and float64 gradients by finite differences."""

import numpy as np
import pytest
from conftest import at_threads
from conftest import check_gemm as check

import ember
from ember import _C, nn
from ember.autograd import gradcheck
from ember.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

# M around multiples of 6 and 8 (rem 1 and 2 after one or more whole row tiles), one KC block
# and several, N from a half panel to several panels, K = 0 / 1.
SHAPES = [
    (7, 37, 5),
    (8, 64, 300),
    (14, 33, 129),
    (20, 200, 300),
    (26, 17, 1),
    (32, 300, 256),
    (50, 100, 300),
    (146, 45, 64),
    (151, 96, 33),
    (8, 20, 0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,N,K", SHAPES)
def test_gemm_short_tail_matches_numpy(isa, dtype, M, N, K):
    rng = np.random.default_rng(M * 31 + N * 7 + K)
    for trans_a in (False, True):  # (transposed A: p-major panels, never split)
        for trans_b in (False, True):
            a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
            b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
            for nt in (1, 2):
                with at_threads(nt):
                    got = _C.gemm(a, b, trans_a=trans_a, trans_b=trans_b)
                check(got, a, b, trans_a, trans_b)
            c0 = rng.standard_normal((M, N)).astype(dtype)
            c = c0.copy()
            _C.gemm(a, b, c, trans_a=trans_a, trans_b=trans_b, alpha=-0.5, beta=1.25)
            check(c, a, b, trans_a, trans_b, -0.5, 1.25, c0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_short_tail_strided(isa, dtype):
    # A's rows read in place at a stride wider than K (a column slice), B a slice too
    rng = np.random.default_rng(41)
    a = rng.standard_normal((32, 300)).astype(dtype)[:, 10:266]
    b = rng.standard_normal((256, 230)).astype(dtype)[:, 5:205]
    c0 = rng.standard_normal((32, 200)).astype(dtype)
    c = c0.copy()
    _C.gemm(a, b, c, alpha=2.0, beta=-1.0)
    check(c, a, b, False, False, 2.0, -1.0, c0)
    got = ember.matmul(ember.tensor(a), ember.tensor(b)).numpy()
    check(got, a, b)


def _pair(kind, dtype, **kw):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, kind)(6, 12, **kw).to(ember.float32 if dtype == "float32" else ember.float64)
    ref = getattr(torch.nn, kind)(6, 12, **kw).to(getattr(torch, dtype))
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(getattr(ours, name).detach().numpy()))
    return ours, ref, torch


CONFIGS = [
    {},
    {"batch_first": True, "bidirectional": True},
    {"num_layers": 2, "batch_first": True},
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", CONFIGS)
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layers_batch_32_match_torch(isa, kind, kw, dtype, threads):
    ours, ref, torch = _pair(kind, dtype, **kw)
    tol = 2e-5 if dtype == "float32" else 1e-10
    T, N = 5, 32  # 32 rows: five 6-row tiles and a 2-row rest on AVX2
    rng = np.random.default_rng(len(kw) * 5 + threads)
    shape = (N, T, 6) if kw.get("batch_first") else (T, N, 6)
    x = rng.standard_normal(shape).astype(dtype)
    y_shape = shape[:2] + (12 * (2 if kw.get("bidirectional") else 1),)
    dy = rng.standard_normal(y_shape).astype(dtype)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_()
    with at_threads(threads):
        ye, he = ours(xe)
        (ye * ember.tensor(dy)).sum().backward()
    yt, ht = ref(xt)
    (yt * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    he, ht = (he[0], ht[0]) if kind == "LSTM" else (he, ht)
    np.testing.assert_allclose(he.numpy(), ht.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)
    for name, p in ref.named_parameters():
        got = getattr(ours, name).grad.numpy()
        np.testing.assert_allclose(
            got, p.grad.numpy(), rtol=tol, atol=tol * max(1, np.abs(got).max())
        )


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_packed_batch_32_matches_torch(isa, kind):
    ours, ref, torch = _pair(kind, "float64")
    T, N = 6, 32
    rng = np.random.default_rng(7)
    x = rng.standard_normal((T, N, 6))
    lengths = rng.integers(1, T + 1, N)
    lengths[0] = T
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_()
    pe = pack_padded_sequence(xe, lengths.tolist(), enforce_sorted=False)
    pt = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths.tolist(), enforce_sorted=False)
    oe, he = ours(pe)
    ot, ht = ref(pt)
    # (compared unpacked: the two sorts may order equal lengths differently)
    oe, ot = pad_packed_sequence(oe)[0], torch.nn.utils.rnn.pad_packed_sequence(ot)[0]
    np.testing.assert_allclose(oe.numpy(), ot.detach().numpy(), rtol=1e-10, atol=1e-10)
    he, ht = (he[1], ht[1]) if kind == "LSTM" else (he, ht)
    np.testing.assert_allclose(he.numpy(), ht.detach().numpy(), rtol=1e-10, atol=1e-10)
    (oe.sum() + he.sum()).backward()
    (ot.sum() + ht.sum()).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_lstm_dropout_layers_eval_match_torch():
    ours, ref, torch = _pair("LSTM", "float64", num_layers=2, dropout=0.3)
    ours.eval()
    ref.eval()
    x = np.random.default_rng(3).standard_normal((4, 32, 6))
    np.testing.assert_allclose(
        ours(ember.tensor(x))[0].numpy(), ref(torch.from_numpy(x))[0].detach().numpy(), atol=1e-10
    )


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_layer_gradcheck_batch_8(isa, kind):
    # 8 rows: one 8-row AVX-512 tile, or 6 + 2 -> two 4-row tiles on AVX2 (the joined block)
    rng = np.random.default_rng(11)
    fn = ember.nn.functional.lstm_layer if kind == "LSTM" else ember.nn.functional.gru_layer
    g = 4 if kind == "LSTM" else 3
    H, I = 3, 2
    x = ember.tensor(rng.standard_normal((3, 8, I)), requires_grad=True)
    w_ih = ember.tensor(rng.standard_normal((g * H, I)) * 0.5, requires_grad=True)
    w_hh = ember.tensor(rng.standard_normal((g * H, H)) * 0.5, requires_grad=True)
    b = ember.tensor(rng.standard_normal(g * H) * 0.1, requires_grad=True)

    def f(x, w_ih, w_hh, b):
        return fn(x, None, w_ih, w_hh, b, b)[0]

    assert gradcheck(f, (x, w_ih, w_hh, b))
