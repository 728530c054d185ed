"""The LSTM layer's time loops in rnn.cpp (forward with and without saves, backward with the bias
gradient summed in the pointwise pass) on all three of their thread paths: the plain loop, the
split by sequences (enough MR row blocks) and the split by hidden units (one row block):
outputs and every gradient against torch in float32 and float64, time- and batch-major,
bidirectional, two layers, packed sequences, h0 / c0 given; gradcheck in float64; the same bits
on 1 and 2 threads."""

import numpy as np
import pytest
from conftest import at_threads
from test_rnnspeed24 import _pair  # (an ember module and torch's with the same weights)

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch = pytest.importorskip("torch")


def _tol(dtype):
    return dict(rtol=1e-4, atol=2e-5) if dtype == "float32" else dict(rtol=1e-11, atol=1e-13)


def _run(lib, m, x, hx, dy, dh, lengths=None, batch_first=False):
    """Output, final states and the gradients of x, h0, c0 and every parameter."""
    wrap = ember.tensor if lib is ember else torch.from_numpy
    xt = wrap(x)
    xt.requires_grad_(True)
    h0, c0 = wrap(hx[0]), wrap(hx[1])
    h0.requires_grad_(True)
    c0.requires_grad_(True)
    inp = xt
    if lengths is not None:
        pack = pack_padded_sequence if lib is ember else torch.nn.utils.rnn.pack_padded_sequence
        inp = pack(xt, lengths, batch_first=batch_first, enforce_sorted=False)
    y, (hn, cn) = m(inp, (h0, c0))
    if lengths is not None:
        unpack = pad_packed_sequence if lib is ember else torch.nn.utils.rnn.pad_packed_sequence
        y = unpack(y, batch_first=batch_first, total_length=x.shape[1 if batch_first else 0])[0]
    loss = (y * wrap(dy)).sum() + (hn * wrap(dh)).sum() + (cn * wrap(dh)).sum()
    loss.backward()
    out = [y, hn, cn, xt.grad, h0.grad, c0.grad] + [p.grad for p in m.parameters()]
    return [np.asarray(o.detach().numpy()) for o in out]


def _data(rng, T, N, I, H, dirs_layers, dtype, batch_first=False):
    shape = (N, T, I) if batch_first else (T, N, I)
    x = rng.standard_normal(shape).astype(dtype)
    hx = [rng.uniform(-0.5, 0.5, (dirs_layers, N, H)).astype(dtype) for _ in range(2)]
    d = dirs_layers // (2 if dirs_layers > 1 else 1)
    dy = rng.standard_normal(shape[:2] + (H * (2 if d * 2 == dirs_layers else 1),)).astype(dtype)
    dh = rng.standard_normal((dirs_layers, N, H)).astype(dtype)
    return x, hx, dy, dh


# N 32 at H 64: 4 MR row blocks (split by sequences on 2 threads); N 5: one block (split by units
# on 2 threads, H a multiple of the panel width); N 3 at H 20: the plain loop on any count.
SHAPES = [(7, 32, 16, 64), (6, 5, 9, 64), (5, 3, 4, 20)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("T,N,I,H", SHAPES)
@pytest.mark.parametrize("threads", [1, 2])
def test_lstm_layer_matches_torch(T, N, I, H, dtype, threads, rng):
    em, tm = _pair("LSTM", I, H, dtype=dtype)
    x, hx, dy, dh = _data(rng, T, N, I, H, 1, dtype)
    with at_threads(threads):
        ours = _run(ember, em, x, hx, dy, dh)
    theirs = _run(torch, tm, x, hx, dy, dh)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, **_tol(dtype))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("packed", [False, True])
def test_stacked_bidirectional_batch_first_matches_torch(dtype, packed, rng):
    T, N, I, H = 6, 32, 8, 64
    em, tm = _pair("LSTM", I, H, 2, dtype=dtype, bidirectional=True, batch_first=True)
    x, hx, dy, dh = _data(rng, T, N, I, H, 4, dtype, batch_first=True)
    lengths = rng.integers(1, T + 1, N) if packed else None
    if packed:  # padded outputs are zero in both: their dy must not matter
        lengths[0] = T
    with at_threads(2):
        ours = _run(ember, em, x, hx, dy, dh, lengths, batch_first=True)
    theirs = _run(torch, tm, x, hx, dy, dh, lengths, batch_first=True)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, **_tol(dtype))


@pytest.mark.parametrize("T,N,I,H", SHAPES + [(4, 32, 8, 64)])
@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_same_bits_on_one_and_two_threads(T, N, I, H, packed, bidirectional, rng):
    em = nn.LSTM(I, H, bidirectional=bidirectional)
    dirs = 2 if bidirectional else 1
    x, hx, dy, dh = _data(rng, T, N, I, H, dirs, "float32")
    lengths = np.sort(rng.integers(1, T + 1, N))[::-1].copy() if packed else None
    if packed:
        lengths[0] = T
    runs = []
    for n in (1, 2):
        for p in em.parameters():
            p.grad = None
        with at_threads(n):
            runs.append(_run(ember, em, x, hx, dy, dh, lengths))
    for a, b in zip(*runs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_no_grad_forward_same_bits_as_recorded(threads, rng):
    # without saves the gates live in a padded workspace: y and the states keep their bits
    T, N, I, H = 9, 32, 16, 64
    em = nn.LSTM(I, H)
    x, hx, _, _ = _data(rng, T, N, I, H, 1, "float32")
    with at_threads(threads):
        rec = em(ember.tensor(x, requires_grad=True), tuple(map(ember.tensor, hx)))
        with ember.no_grad():
            nog = em(ember.tensor(x), tuple(map(ember.tensor, hx)))
    for a, b in zip((rec[0], *rec[1]), (nog[0], *nog[1]), strict=True):
        np.testing.assert_array_equal(a.detach().numpy(), b.numpy())


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("reverse", [False, True])
def test_lstm_layer_gradcheck(bias, reverse, rng):
    T, N, I, H = 3, 9, 3, 4  # N 9: two row blocks of the per-step GEMM
    x = ember.tensor(rng.standard_normal((T, N, I)), requires_grad=True)
    h0 = ember.tensor(rng.standard_normal((N, H)) * 0.5, requires_grad=True)
    c0 = ember.tensor(rng.standard_normal((N, H)) * 0.5, requires_grad=True)
    ws = [ember.tensor(rng.standard_normal(s) * 0.4, requires_grad=True)
          for s in ((4 * H, I), (4 * H, H)) + (((4 * H,), (4 * H,)) if bias else ())]  # fmt: skip
    lengths = [3, 3, 2, 2, 1, 3, 1, 2, 3]

    def f(x, h0, c0, *w):
        w = list(w) + ([] if bias else [None, None])
        y, (h, c) = nn.functional.lstm_layer(x, (h0, c0), *w, lengths=lengths, reverse=reverse)
        return y, h, c

    assert gradcheck(f, (x, h0, c0, *ws))
