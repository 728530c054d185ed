"""The LSTM / GRU forward's input projection made a chunk of steps at a time (csrc/ops/rnn.cpp,
InputProjection): ~256 rows a chunk, just before the steps read them, into the saved gates or
(no gradient wanted) a workspace of one chunk, so inference memory no longer grows with T.

Checked, with T long enough for several chunks (forward, reverse, lengths, every thread split):
values against the NumPy reference (float64) and torch (float32); saving or not and 1 or 2
threads give the same bits; a sequence gives the bits of its steps run one call at a time
(each a whole-projection T = 1 call); gradients against torch and by gradcheck (float64)."""

import numpy as np
import pytest
from conftest import at_threads
from reference_rnn import gru_ref, lstm_ref

import ember
from ember import _C, nn
from ember.autograd import gradcheck

# (T, N, I, H): N = 40 -> 6 steps a chunk; N = 3 -> 85; N = 4, H = 256 splits steps by hidden
# units on 2 threads, N = 24 by sequences.
SHAPES = [(20, 40, 5, 8), (200, 3, 4, 6), (13, 4, 6, 256), (15, 24, 7, 32)]


def _args(rng, mode, T, N, I, H, dtype, lengths, reverse):
    G = 4 if mode == "lstm" else 3
    x = rng.standard_normal((T, N, I)).astype(dtype)
    h0 = rng.standard_normal((N, H)).astype(dtype)
    c0 = rng.standard_normal((N, H)).astype(dtype)
    w_ih = (rng.standard_normal((G * H, I)) / np.sqrt(I)).astype(dtype)
    w_hh = (rng.standard_normal((G * H, H)) / np.sqrt(H)).astype(dtype)
    b_ih, b_hh = (rng.standard_normal(G * H).astype(dtype) for _ in range(2))
    L = None
    if lengths:  # non-increasing (a PackedSequence's order), some full length
        L = np.sort(rng.integers(1, T + 1, N))[::-1].astype(np.int64)
        L[0] = T
    return x, h0, c0, w_ih, w_hh, b_ih, b_hh, L, reverse


def _fwd(mode, a, save):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, L, rev = a
    if mode == "lstm":
        return _C.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, L, rev, None, save)
    return _C.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, L, rev, save)


def _ref(mode, a):
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, L, rev = a
    if mode == "lstm":
        return lstm_ref(x, h0, c0, w_ih, w_hh, b_ih, b_hh, L, rev)
    return gru_ref(x, h0, w_ih, w_hh, b_ih, b_hh, L, rev)


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("lengths,reverse", [(False, False), (True, True), (True, False)])
def test_chunked_matches_reference_same_bits(mode, shape, lengths, reverse, rng):
    a = _args(rng, mode, *shape, np.float64, lengths, reverse)
    ref = _ref(mode, a)
    outs = {}
    for threads in (1, 2):
        with at_threads(threads):
            for save in (False, True):
                outs[threads, save] = _fwd(mode, a, save)
    got = outs[1, True]
    for r, g in zip(ref, got):  # y, h_n (, c_n)
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    n_state = 3 if mode == "lstm" else 2
    for key, o in outs.items():
        for k in range(n_state):
            np.testing.assert_array_equal(o[k], got[k], err_msg=str(key))
    for k in range(n_state, len(got)):  # the saved gates / cells / hn
        np.testing.assert_array_equal(outs[2, True][k], got[k])


@pytest.mark.parametrize("mode", ["lstm", "gru"])
@pytest.mark.parametrize("reverse", [False, True])
def test_sequence_is_its_steps_bit_for_bit(mode, reverse, rng):
    # N = 40: 6 steps a chunk; each T = 1 call projects its step whole (no chunks)
    a = _args(rng, mode, 14, 40, 5, 8, np.float32, False, reverse)
    x, h0, c0, w_ih, w_hh, b_ih, b_hh, _, _ = a
    y = _fwd(mode, a, False)[0]
    h, c = h0, c0
    for t in range(x.shape[0])[::-1] if reverse else range(x.shape[0]):
        step = (x[t : t + 1], h, c, w_ih, w_hh, b_ih, b_hh, None, False)
        out = _fwd(mode, step, False)
        np.testing.assert_array_equal(out[0][0], y[t])
        h = out[1]
        c = out[2] if mode == "lstm" else c


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_layer_against_torch_long_sequence(mode, rng):
    torch = pytest.importorskip("torch")
    T, N, I, H = 60, 20, 6, 16  # 12 steps a chunk
    ember.manual_seed(0)
    m = getattr(nn, mode)(I, H)
    tm = getattr(torch.nn, mode)(I, H)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    with ember.no_grad():
        y0 = m(ember.tensor(x))[0].numpy()
    xe = ember.tensor(x, requires_grad=True)
    y, _ = m(xe)
    w = np.cos(np.arange(y.numel())).reshape(y.shape).astype(np.float32)
    (y * ember.tensor(w)).sum().backward()
    tx = torch.tensor(x, requires_grad=True)
    ty, _ = tm(tx)
    (ty * torch.from_numpy(w)).sum().backward()
    np.testing.assert_array_equal(y0, y.numpy())
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    for name, p in tm.named_parameters():
        np.testing.assert_allclose(getattr(m, name).grad.numpy(), p.grad.numpy(), rtol=1e-4,
                                   atol=1e-4, err_msg=name)  # fmt: skip


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_gradcheck_across_chunks(mode, rng):
    T, N, I, H = 9, 33, 2, 3  # 7 steps a chunk: two chunks
    ember.manual_seed(0)
    m = getattr(nn, mode)(I, H).double()
    x = ember.tensor(rng.standard_normal((T, N, I)), requires_grad=True)
    assert gradcheck(lambda x, w: m(x)[0].sum(0), (x, m.weight_ih_l0))


def test_float_tanh_of_the_passes_is_accurate():
    # One LSTM / GRU step whose pre-activations are exactly the weights (x = 1, h0 = 0): the
    # float32 pass (its tanh E / (E + 2)) against the same formulas in float64, a few ulp.
    rng = np.random.default_rng(7)
    H = 1024
    w = np.concatenate([rng.uniform(-12, 12, 4 * H - 64), np.geomspace(1e-30, 1, 64)])
    w = (w * rng.choice([-1, 1], w.size)).astype(np.float32)[:, None]
    x = np.ones((1, 1, 1), np.float32)
    z = np.zeros((1, H), np.float32)
    b = np.zeros(4 * H, np.float32)
    y = _C.lstm_forward(x, z, z, w, np.zeros((4 * H, H), np.float32), b, b, None, False, None,
                        False)[0][0, 0]  # fmt: skip
    a = w[:, 0].astype(np.float64)
    sig = 1 / (1 + np.exp(-a))
    i, g, o = sig[:H], np.tanh(a[2 * H : 3 * H]), sig[3 * H :]
    np.testing.assert_allclose(y, o * np.tanh(i * g), rtol=1e-6, atol=1e-37)
    yg = _C.gru_forward(x, z, w[: 3 * H], np.zeros((3 * H, H), np.float32), b[: 3 * H],
                        b[: 3 * H], None, False, False)[0][0, 0]  # fmt: skip
    zz = sig[H : 2 * H]  # (hn = 0: r drops out; z < 1/2: 1 - z without cancellation)
    ok = zz < 0.5
    np.testing.assert_allclose(yg[ok], ((1 - zz) * np.tanh(a[2 * H : 3 * H]))[ok], rtol=1e-6,
                               atol=1e-37)  # fmt: skip


@pytest.mark.parametrize("mode", ["LSTM", "GRU"])
def test_nan_and_inf_propagate_as_torch(mode):
    torch = pytest.importorskip("torch")
    ember.manual_seed(0)
    m = getattr(nn, mode)(3, 4)
    tm = getattr(torch.nn, mode)(3, 4)
    tm.load_state_dict({k: torch.from_numpy(v.numpy().copy()) for k, v in m.state_dict().items()})
    x = np.zeros((3, 2, 3), np.float32)
    x[1, 0, 0] = np.nan
    x[0, 1, 1] = np.inf
    with ember.no_grad():
        y = m(ember.tensor(x))[0].numpy()
    with torch.no_grad():
        ty = tm(torch.from_numpy(x))[0].numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty))
    np.testing.assert_allclose(y, ty, rtol=1e-5, atol=1e-6)
