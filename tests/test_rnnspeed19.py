"""The LSTM backward's time loop split by sequences (csrc/ops/rnn.cpp, lstm_backward): each thread
runs the loop on whole GEMM row blocks of the batch, and the bias gradient is summed per row block
then over the blocks. Checked against PyTorch (copied weights) for every gradient on one and two
threads, with and without biases, for batches that fill a partial last row block, packed
sequences (prefix and non-prefix lengths) and reverse; and for the same bits on one and two
threads; and by finite differences in float64."""

import numpy as np
import pytest

import ember
from ember import _C, nn
from ember.autograd import gradcheck


def _threads(n):
    class _Ctx:
        def __enter__(self):
            self.old = ember.get_num_threads()
            ember.set_num_threads(n)

        def __exit__(self, *a):
            ember.set_num_threads(self.old)

    return _Ctx()


def _pair(i, h, bias, bidirectional=False):
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(i, h, bias=bias, bidirectional=bidirectional)
    em = nn.LSTM(i, h, bias=bias, bidirectional=bidirectional, dtype=np.float32)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return torch, tm, em


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("n", [32, 21, 9])  # whole row blocks, a partial last one, one + a row
@pytest.mark.parametrize("bias", [True, False])
def test_lstm_backward_matches_pytorch(threads, n, bias, rng):
    t, i, h = 7, 24, 64
    torch, tm, em = _pair(i, h, bias)
    x = rng.standard_normal((t, n, i)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (1, n, h)).astype(np.float32)
    c0 = rng.uniform(-1, 1, (1, n, h)).astype(np.float32)
    dy = rng.standard_normal((t, n, h)).astype(np.float32)
    dhn = rng.standard_normal((1, n, h)).astype(np.float32)
    dcn = rng.standard_normal((1, n, h)).astype(np.float32)
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    yt, (hnt, cnt) = tm(xt, (h0t, c0t))
    ((yt * torch.tensor(dy)).sum() + (hnt * torch.tensor(dhn)).sum()
     + (cnt * torch.tensor(dcn)).sum()).backward()  # fmt: skip
    with _threads(threads):
        xe, h0e, c0e = (ember.tensor(a, requires_grad=True) for a in (x, h0, c0))
        ye, (hne, cne) = em(xe, (h0e, c0e))
        ((ye * ember.tensor(dy)).sum() + (hne * ember.tensor(dhn)).sum()
         + (cne * ember.tensor(dcn)).sum()).backward()  # fmt: skip
    tol = {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **tol)
    for a, b in ((xe, xt), (h0e, h0t), (c0e, c0t)):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), **tol)
    tp = dict(tm.named_parameters())
    for k, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[k].grad.numpy(), **tol, err_msg=k)


@pytest.mark.parametrize("sorted_lengths", [True, False])
def test_lstm_backward_packed_bidirectional_matches_pytorch(sorted_lengths, rng):
    t, n, i, h = 6, 19, 10, 64
    torch, tm, em = _pair(i, h, True, bidirectional=True)
    lengths = np.sort(rng.integers(1, t + 1, n))[::-1].copy()
    lengths[0] = t
    if not sorted_lengths:
        rng.shuffle(lengths)
    x = rng.standard_normal((t, n, i)).astype(np.float32)
    dy = rng.standard_normal((t, n, 2 * h)).astype(np.float32)
    tpk = torch.nn.utils.rnn.pack_padded_sequence
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.utils.rnn.pad_packed_sequence(tm(tpk(xt, torch.tensor(lengths),
                                                       enforce_sorted=False))[0])[0]  # fmt: skip
    (yt * torch.tensor(dy[: yt.shape[0]])).sum().backward()
    tp = dict(tm.named_parameters())
    for threads in (1, 2):
        em.zero_grad()
        with _threads(threads):
            xe = ember.tensor(x, requires_grad=True)
            pk = nn.utils.rnn.pack_padded_sequence(xe, lengths, enforce_sorted=False)
            ye = nn.utils.rnn.pad_packed_sequence(em(pk)[0])[0]
            (ye * ember.tensor(dy[: ye.shape[0]])).sum().backward()
        tol = {"rtol": 2e-4, "atol": 2e-5}
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
        for k, p in em.named_parameters():
            np.testing.assert_allclose(p.grad.numpy(), tp[k].grad.numpy(), **tol, err_msg=k)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [40, 13])
def test_lstm_backward_same_bits_on_one_and_two_threads(dtype, n, rng):
    t, i, h = 9, 16, 128
    f = lambda *s: rng.standard_normal(s).astype(dtype)  # noqa: E731
    x, h0, c0, dy, dhn, dcn = f(t, n, i), f(n, h), f(n, h), f(t, n, h), f(n, h), f(n, h)
    w_ih, w_hh, b_ih, b_hh = f(4 * h, i) * 0.2, f(4 * h, h) * 0.1, f(4 * h), f(4 * h)
    lengths = np.sort(rng.integers(1, t + 1, n))[::-1].astype(np.int64)
    res = []
    for threads in (1, 2):
        with _threads(threads):
            for lens in (None, lengths):
                for rev in (False, True):
                    y, _, _, g, c, _ = _C.lstm_forward(
                        x, h0, c0, w_ih, w_hh, b_ih, b_hh, lens, rev, None, True
                    )
                    res.append(_C.lstm_backward(dy, dhn, dcn, x, h0, c0, w_ih, w_hh, True, lens,
                                                rev, y, g, c, None, None))  # fmt: skip
    half = len(res) // 2
    for r1, r2 in zip(res[:half], res[half:], strict=True):
        for a, b in zip(r1, r2, strict=True):
            if a is None:
                assert b is None
            else:
                np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("threads", [1, 2])
def test_lstm_backward_gradcheck_float64(threads, rng):
    # Several row blocks (n = 18) and enough steps that the kernel packs W_hh.
    t, n, i, h = 3, 18, 3, 4
    m = nn.LSTM(i, h, dtype=np.float64)
    x = ember.tensor(rng.standard_normal((t, n, i)), requires_grad=True)
    h0 = ember.tensor(rng.standard_normal((1, n, h)), requires_grad=True)
    c0 = ember.tensor(rng.standard_normal((1, n, h)), requires_grad=True)
    with _threads(threads):
        assert gradcheck(lambda a, b, c: m(a, (b, c))[0], (x, h0, c0), eps=1e-6, atol=1e-5)
        params = list(m.parameters())
        assert gradcheck(
            lambda w_ih, w_hh, b_ih, b_hh: nn.functional.lstm_layer(
                x[:, :, :], (h0[0], c0[0]), w_ih, w_hh, b_ih, b_hh
            )[0],
            tuple(ember.tensor(p.numpy(), requires_grad=True) for p in params),
            eps=1e-6,
            atol=1e-5,
        )
