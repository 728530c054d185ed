"""The GEMM micro-kernels' epilogue (csrc/gemm/microkernel_simd.h: every load of a tile's C before
its first store; alpha == 1 without the multiply) and lstm_forward's gates workspace with rows a
cache line longer than 4H when nothing is saved (csrc/ops/rnn.cpp).

Checked: products with C rows 4 KiB apart, whole and edge tiles, alpha / beta combinations, on
every GEMM micro-kernel family, against the float64 oracle and for the same bits as the same
product into a padded C; the LSTM forward without saves against the saving forward (same bits) at
1 and 2 threads, for batches that are not a multiple of the GEMM's row block, hidden sizes that are
not a multiple of its panel width, float64, packed lengths and reverse, and against PyTorch."""

import numpy as np
import pytest
from conftest import at_threads, check_gemm

import ember
from ember import _C, nn


@pytest.mark.parametrize("m, k", [(32, 128), (13, 37), (9, 256)])
@pytest.mark.parametrize("alpha, beta", [(1.0, 1.0), (1.0, 0.0), (2.0, 0.5), (-1.0, 1.0)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gemm_rows_4k_apart(isa, m, k, alpha, beta, dtype, rng):
    """C rows 4 KiB apart (1024 floats, 512 doubles), row counts with an edge row block, and the
    same product with 21 more columns of B (rows no longer 4 KiB apart, a partial last panel):
    within the float64 oracle's bound, and its first columns the same bits."""
    ld = 4096 // np.dtype(dtype).itemsize
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, ld + 21)).astype(dtype)
    c0 = rng.standard_normal((m, ld + 21)).astype(dtype)
    out = []
    for n in (ld, ld + 21):
        c = c0[:, :n].copy() if beta != 0.0 else np.full((m, n), np.nan, dtype)  # never read
        _C.gemm(a, b[:, :n].copy(), c, alpha=alpha, beta=beta)
        check_gemm(c, a, b[:, :n], alpha=alpha, beta=beta, c0=c0[:, :n])
        out.append(c[:, :ld])
    np.testing.assert_array_equal(out[0], out[1])


def _lstm_args(rng, t, n, i, h, dtype, bias=True):
    s = 1.0 / np.sqrt(h)
    x = rng.standard_normal((t, n, i)).astype(dtype)
    h0 = rng.uniform(-1, 1, (n, h)).astype(dtype)
    c0 = rng.uniform(-1, 1, (n, h)).astype(dtype)
    w_ih = rng.uniform(-s, s, (4 * h, i)).astype(dtype)
    w_hh = rng.uniform(-s, s, (4 * h, h)).astype(dtype)
    b = [rng.uniform(-s, s, 4 * h).astype(dtype) for _ in range(2)] if bias else [None, None]
    return x, h0, c0, w_ih, w_hh, b[0], b[1]


@pytest.mark.parametrize(
    "t, n, i, h", [(6, 32, 16, 256), (5, 13, 7, 20), (4, 9, 12, 64), (3, 1, 5, 256)]
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lstm_forward_without_saves_same_bits(t, n, i, h, dtype, rng):
    """save=False keeps the gates in rows of 4H + a cache line: y, h_n, c_n are the saving
    forward's bits, on 1 and 2 threads alike (every path: serial, split by sequences, by units)."""
    args = _lstm_args(rng, t, n, i, h, dtype)
    ref = None
    for threads in (1, 2):
        with at_threads(threads):
            full = _C.lstm_forward(*args)
            bare = _C.lstm_forward(*args, save=False)
        assert bare[3] is None and bare[4] is None
        for a, b in zip(full[:3], bare[:3]):
            np.testing.assert_array_equal(a, b)
        if ref is None:
            ref = full[:3]
        for a, b in zip(ref, full[:3]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize(
    "lengths", [[5, 5, 4, 2, 1, 1, 1, 1, 1, 1, 1], [3, 5, 1, 5, 2, 4, 1, 1, 2, 5, 5]]
)
def test_lstm_forward_without_saves_lengths(reverse, lengths, rng):
    """Packed lengths (a prefix of running sequences and not) and reverse, no bias."""
    args = _lstm_args(rng, 5, len(lengths), 6, 32, np.float32, bias=False)
    lens = np.array(lengths, np.int64)
    for threads in (1, 2):
        with at_threads(threads):
            full = _C.lstm_forward(*args, lens, reverse)
            bare = _C.lstm_forward(*args, lens, reverse, None, False)
        for a, b in zip(full[:3], bare[:3]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n, h", [(32, 256), (11, 40)])
def test_lstm_no_grad_matches_pytorch(threads, n, h, rng):
    torch = pytest.importorskip("torch")
    t, i = 8, 24
    tm = torch.nn.LSTM(i, h)
    em = nn.LSTM(i, h, dtype=np.float32)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((t, n, i)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (1, n, h)).astype(np.float32)
    c0 = rng.uniform(-1, 1, (1, n, h)).astype(np.float32)
    with torch.no_grad():
        yt, (hnt, cnt) = tm(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
    with at_threads(threads), ember.no_grad():
        ye, (hne, cne) = em(ember.tensor(x), (ember.tensor(h0), ember.tensor(c0)))
    tol = {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), **tol)
    np.testing.assert_allclose(hne.numpy(), hnt.numpy(), **tol)
    np.testing.assert_allclose(cne.numpy(), cnt.numpy(), **tol)


def _gru_args(rng, t, n, i, h, dtype):
    s = 1.0 / np.sqrt(h)
    x = rng.standard_normal((t, n, i)).astype(dtype)
    h0 = rng.uniform(-1, 1, (n, h)).astype(dtype)
    w_ih = rng.uniform(-s, s, (3 * h, i)).astype(dtype)
    w_hh = rng.uniform(-s, s, (3 * h, h)).astype(dtype)
    b = [rng.uniform(-s, s, 3 * h).astype(dtype) for _ in range(2)]
    return x, h0, w_ih, w_hh, b[0], b[1]


@pytest.mark.parametrize(
    "n, h, lengths, reverse",
    [
        (32, 128, None, False),
        (13, 128, None, True),  # a partial last row block
        (11, 136, [6, 6, 5, 5, 4, 3, 3, 2, 2, 1, 1], False),  # H % NR != 0, a sorted prefix
        (11, 128, [2, 6, 1, 6, 3, 5, 1, 4, 6, 2, 1], True),  # lengths not a prefix
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gru_backward_split_by_sequences_same_bits(n, h, lengths, reverse, dtype, rng):
    """On 2 threads gru_backward runs its time loop split by whole GEMM row blocks of the batch:
    every gradient is the bits of the 1-thread loop."""
    t = 6
    x, h0, w_ih, w_hh, b_ih, b_hh = _gru_args(rng, t, n, 9, h, dtype)
    lens = None if lengths is None else np.array(lengths, np.int64)
    dy = rng.standard_normal((t, n, h)).astype(dtype)
    dhn = rng.standard_normal((n, h)).astype(dtype)
    got = []
    for threads in (1, 2):
        with at_threads(threads):
            y, _, gates, hn = _C.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lens, reverse)
            got.append(
                _C.gru_backward(dy, dhn, x, h0, w_ih, w_hh, True, lens, reverse, y, gates, hn)
            )
    for a, b in zip(*got):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [32, 13])
def test_gru_backward_matches_pytorch(threads, n, rng):
    torch = pytest.importorskip("torch")
    t, i, h = 6, 16, 128
    tm = torch.nn.GRU(i, h)
    em = nn.GRU(i, h, dtype=np.float32)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((t, n, i)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (1, n, h)).astype(np.float32)
    dy = rng.standard_normal((t, n, h)).astype(np.float32)
    xt, h0t = (torch.tensor(a, requires_grad=True) for a in (x, h0))
    (tm(xt, h0t)[0] * torch.tensor(dy)).sum().backward()
    with at_threads(threads):
        xe, h0e = (ember.tensor(a, requires_grad=True) for a in (x, h0))
        (em(xe, h0e)[0] * ember.tensor(dy)).sum().backward()
    tol = {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(h0e.grad.numpy(), h0t.grad.numpy(), **tol)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(
            dict(em.named_parameters())[name].grad.numpy(), p.grad.numpy(), **tol
        )
