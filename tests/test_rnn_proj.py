"""nn.LSTM(proj_size=P): LSTM with projections (h_t = (o * tanh(c_t)) W_hr^T) against PyTorch
with copied weights, the NumPy time loop in reference_rnn.py, float64 gradcheck, the kernel's
own contract and the bad inputs it must refuse."""

import numpy as np
import pytest
from reference_rnn import lstm_ref

import ember
from ember import _C, nn
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
GTOL = {np.float32: dict(rtol=1e-3, atol=1e-4), np.float64: dict(rtol=1e-9, atol=1e-11)}
I, H, P = 4, 6, 3
# PyTorch's own notice that its oneDNN path has no projections (it falls back to its reference).
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported:UserWarning")


def _torch_pair(dtype, **kw):
    torch = pytest.importorskip("torch")
    tm = torch.nn.LSTM(**kw).to(torch.float64 if dtype == np.float64 else torch.float32)
    em = nn.LSTM(dtype=dtype, **kw)
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    return torch, tm, em


CONFIGS = [
    dict(num_layers=1),
    dict(num_layers=1, bidirectional=True, bias=False),
    dict(num_layers=2, batch_first=True),
    dict(num_layers=2, bidirectional=True, batch_first=True, bias=False),
    dict(num_layers=2, bidirectional=True),
]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_matches_pytorch(cfg, dtype, with_lengths, rng):
    torch, tm, em = _torch_pair(dtype, input_size=I, hidden_size=H, proj_size=P, **cfg)
    T, N = 6, 4
    bf = cfg.get("batch_first", False)
    L = cfg["num_layers"] * (2 if cfg.get("bidirectional") else 1)
    x = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    h0 = (rng.standard_normal((L, N, P)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal((L, N, H)) * 0.5).astype(dtype)
    lengths = [6, 2, 1, 5] if with_lengths else None
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    xe, h0e, c0e = (ember.tensor(a, requires_grad=True) for a in (x, h0, c0))
    if with_lengths:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, lengths, batch_first=bf, enforce_sorted=False
        )
        yp, (hnt, cnt) = tm(packed, (h0t, c0t))
        yt, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=bf, total_length=T)
    else:
        yt, (hnt, cnt) = tm(xt, (h0t, c0t))
    ye, (hne, cne) = em(xe, (h0e, c0e), lengths=lengths)
    d = 2 if cfg.get("bidirectional") else 1
    assert ye.shape == tuple(yt.shape) and ye.shape[-1] == P * d
    assert hne.shape == (L, N, P) and cne.shape == (L, N, H)
    for e, t in ((ye, yt), (hne, hnt), (cne, cnt)):
        np.testing.assert_allclose(e.numpy(), t.detach().numpy(), **TOL[dtype])

    gy, gh, gc = (rng.standard_normal(a.shape).astype(dtype) for a in (ye, hne, cne))
    sum((a * torch.tensor(g)).sum() for a, g in ((yt, gy), (hnt, gh), (cnt, gc))).backward()
    ((ye * gy).sum() + (hne * gh).sum() + (cne * gc).sum()).backward()
    for e, t in ((xe, xt), (h0e, h0t), (c0e, c0t)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **GTOL[dtype])
    tparams = dict(tm.named_parameters())
    names = [n for n, _ in em.named_parameters()]
    assert names == list(tparams) and sum("weight_hr" in n for n in names) == L
    for name, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), **GTOL[dtype],
                                   err_msg=name)  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unbatched_and_default_state_match_pytorch(dtype, rng):
    torch, tm, em = _torch_pair(dtype, input_size=I, hidden_size=H, proj_size=P, num_layers=2,
                                bidirectional=True)  # fmt: skip
    x = rng.standard_normal((5, I)).astype(dtype)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    yt, (ht, ct) = tm(xt)
    ye, (he, ce) = em(xe)
    assert ye.shape == (5, 2 * P) and he.shape == (4, P) and ce.shape == (4, H)
    for e, t in ((ye, yt), (he, ht), (ce, ct)):
        np.testing.assert_allclose(e.numpy(), t.detach().numpy(), **TOL[dtype])
    (yt.sum() + ht.sum()).backward()
    (ye.sum() + he.sum()).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **GTOL[dtype])
    np.testing.assert_allclose(em.weight_hr_l1_reverse.grad.numpy(),
                               tm.weight_hr_l1_reverse.grad.numpy(), **GTOL[dtype])  # fmt: skip
    # unbatched states (L*D, P) / (L*D, H)
    h0, c0 = rng.standard_normal((4, P)).astype(dtype), rng.standard_normal((4, H)).astype(dtype)
    yt, (ht, _) = tm(torch.tensor(x), (torch.tensor(h0), torch.tensor(c0)))
    ye, (he, _) = em(x, (h0, c0))
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **TOL[dtype])
    np.testing.assert_allclose(he.numpy(), ht.detach().numpy(), **TOL[dtype])


def test_parameters_state_dict_init_repr():
    torch = pytest.importorskip("torch")
    kw = dict(input_size=5, hidden_size=8, num_layers=2, bidirectional=True, proj_size=3)
    em, tm = nn.LSTM(**kw), torch.nn.LSTM(**kw)
    assert list(em.state_dict()) == list(tm.state_dict())
    assert em._flat_weights_names == tm._flat_weights_names
    for (n, p), (tn, tp) in zip(em.named_parameters(), tm.named_parameters()):
        assert n == tn and p.shape == tuple(tp.shape)
    assert [[p.shape for p in ws] for ws in em.all_weights] == [
        [tuple(p.shape) for p in ws] for ws in tm.all_weights
    ]
    assert repr(em) == repr(tm)
    bound = 1 / np.sqrt(8)
    w = np.concatenate([p.numpy().ravel() for p in em.parameters()])
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert np.abs(em.weight_hr_l0.numpy()).max() > 0.5 * bound
    assert nn.LSTM(5, 8).proj_size == 0 and "proj_size" not in repr(nn.LSTM(5, 8))


def test_matches_numpy_reference_and_layer(rng):
    m = nn.LSTM(I, H, 2, bidirectional=True, proj_size=P, dtype=np.float64)
    x = rng.standard_normal((7, 3, I))
    h0, c0 = rng.standard_normal((4, 3, P)), rng.standard_normal((4, 3, H))
    lengths = [7, 3, 5]
    y, (h_n, c_n) = m(x, (h0, c0), lengths=lengths)
    inp, hs, cs = x, [], []
    for layer in range(2):
        outs = []
        for d in range(2):
            k = 2 * layer + d
            w_ih, w_hh, b_ih, b_hh, w_hr = (w.numpy() for w in m.all_weights[k])
            r = lstm_ref(inp, h0[k], c0[k], w_ih, w_hh, b_ih, b_hh, lengths, d == 1, w_hr)
            outs.append(r[0])
            hs.append(r[1])
            cs.append(r[2])
        inp = np.concatenate(outs, axis=2)
    np.testing.assert_allclose(y.numpy(), inp, **TOL[np.float64])
    np.testing.assert_allclose(h_n.numpy(), np.stack(hs), **TOL[np.float64])
    np.testing.assert_allclose(c_n.numpy(), np.stack(cs), **TOL[np.float64])
    assert np.all(y.numpy()[3:, 1] == 0)  # padded steps output zeros
    # the functional form, float32, reversed, no bias
    w_ih, w_hh, w_hr = (rng.standard_normal(s).astype(np.float32) * 0.4
                        for s in ((4 * H, I), (4 * H, P), (P, H)))  # fmt: skip
    x32 = x.astype(np.float32)
    y, (h_n, c_n) = F.lstm_layer(x32, None, w_ih, w_hh, lengths=lengths, reverse=True, w_hr=w_hr)
    z = np.zeros((3, P), np.float32)
    ry, rh, rc = lstm_ref(x32, z, np.zeros((3, H), np.float32), w_ih, w_hh, None, None, lengths,
                          True, w_hr)  # fmt: skip
    for a, b in ((y, ry), (h_n, rh), (c_n, rc)):
        np.testing.assert_allclose(a.numpy(), b, **TOL[np.float32])


@pytest.mark.parametrize("lengths", [None, [5, 2]])
def test_gradcheck(lengths, rng):
    m = nn.LSTM(3, 4, 2, bidirectional=True, proj_size=2, dtype=np.float64)
    x = ember.tensor(rng.standard_normal((5, 2, 3)), requires_grad=True)
    h0 = ember.tensor(rng.standard_normal((4, 2, 2)) * 0.3, requires_grad=True)
    c0 = ember.tensor(rng.standard_normal((4, 2, 4)) * 0.3, requires_grad=True)
    params = list(m.parameters())
    assert len(params) == 20

    def fn(x, h0, c0, *ps):
        y, (h, c) = m(x, (h0, c0), lengths=lengths)
        return y, h, c

    assert gradcheck(fn, (x, h0, c0, *params), atol=1e-6, rtol=1e-4)


def test_padding_and_dropout(rng):
    m = nn.LSTM(3, 5, 2, proj_size=2, dropout=0.5, dtype=np.float64)
    x = rng.standard_normal((6, 2, 3))
    x[3:, 1] = 1e3  # garbage in the padding
    xe = ember.tensor(x, requires_grad=True)
    m.eval()
    y, (h, _) = m(xe, lengths=[6, 3])
    ys, (hs, _) = m(x[:3, 1:2])
    np.testing.assert_allclose(y.numpy()[:3, 1:2], ys.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h.numpy()[:, 1:2], hs.numpy(), rtol=1e-12, atol=1e-14)
    (y.sum() + h.sum()).backward()
    assert np.all(xe.grad.numpy()[3:, 1] == 0) and np.all(np.isfinite(xe.grad.numpy()))
    m.train()
    yd, _ = m(x, lengths=[6, 3])
    assert yd.shape == (6, 2, 2) and not np.allclose(yd.numpy(), y.numpy())
    yd.sum().backward()
    assert m.weight_hr_l0.grad is not None


def test_long_sequence_and_threads(rng):
    m = nn.LSTM(2, 8, proj_size=3, dtype=np.float64)
    x = ember.tensor(rng.standard_normal((1000, 2, 2)), requires_grad=True)
    y, _ = m(x)
    y.sum().backward()
    assert np.all(np.isfinite(x.grad.numpy()))
    # every thread count gives the same bits
    x = rng.standard_normal((9, 64, 8))
    k = dict(w_ih=rng.standard_normal((256, 8)) * 0.2, w_hh=rng.standard_normal((256, 16)) * 0.2,
             w_hr=rng.standard_normal((16, 64)) * 0.2)  # fmt: skip
    z16, z64 = np.zeros((64, 16)), np.zeros((64, 64))
    n = ember.get_num_threads()
    try:
        outs = []
        for t in (1, 2):
            ember.set_num_threads(t)
            f = _C.lstm_forward(x, z16, z64, k["w_ih"], k["w_hh"], w_hr=k["w_hr"])
            b = _C.lstm_backward(f[0], None, None, x, z16, z64, k["w_ih"], k["w_hh"], False, None,
                                 False, *f[:1], *f[3:5], k["w_hr"], f[5])  # fmt: skip
            outs.append([a for a in (*f, *b) if a is not None])
    finally:
        ember.set_num_threads(n)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)


def test_kernel_contract_and_no_projection_unchanged(rng):
    x = rng.standard_normal((3, 2, I))
    w_ih, w_hh = rng.standard_normal((4 * H, I)), rng.standard_normal((4 * H, H))
    z = np.zeros((2, H))
    out = _C.lstm_forward(x, z, z, w_ih, w_hh)
    assert len(out) == 6 and out[5] is None and out[0].shape == (3, 2, H)
    grads = _C.lstm_backward(out[0], None, None, x, z, z, w_ih, w_hh, False, None, False,
                             out[0], out[3], out[4])  # fmt: skip
    assert len(grads) == 8 and grads[7] is None
    w_hh, w_hr = rng.standard_normal((4 * H, P)), rng.standard_normal((P, H))
    zp = np.zeros((2, P))
    y, h_n, c_n, gates, cells, hid = _C.lstm_forward(x, zp, z, w_ih, w_hh, w_hr=w_hr)
    assert y.shape == (3, 2, P) and h_n.shape == (2, P) and c_n.shape == (2, H)
    assert hid.shape == (3, 2, H)
    np.testing.assert_allclose(y, hid @ w_hr.T, rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"w_hh must have shape \(24, 3\)"):
        _C.lstm_forward(x, zp, z, w_ih, np.zeros((4 * H, H)), w_hr=w_hr)
    with pytest.raises(ValueError, match="h0 must have shape"):
        _C.lstm_forward(x, z, z, w_ih, w_hh, w_hr=w_hr)
    with pytest.raises(ValueError, match="w_hr must have shape"):
        _C.lstm_forward(x, zp, z, w_ih, w_hh, w_hr=np.zeros(3))
    with pytest.raises(TypeError, match="w_hr"):
        _C.lstm_forward(x, zp, z, w_ih, w_hh, w_hr=[[1.0]])
    with pytest.raises(TypeError, match="dtypes differ"):
        _C.lstm_forward(x, zp, z, w_ih, w_hh, w_hr=w_hr.astype(np.float32))
    base = (x, zp, z, w_ih, w_hh, False, None, False, y, gates, cells)
    with pytest.raises(ValueError, match="both"):
        _C.lstm_backward(y, None, None, *base, w_hr)
    with pytest.raises(ValueError, match="dy must have shape"):
        _C.lstm_backward(hid, None, None, *base, w_hr, hid)


def test_bad_arguments():
    torch = pytest.importorskip("torch")
    for bad, exc in ((6, ValueError), (7, ValueError), (-1, ValueError), (2.0, TypeError),
                     ("2", TypeError), (True, TypeError)):  # fmt: skip
        with pytest.raises(exc, match="proj_size"):
            nn.LSTM(4, 6, proj_size=bad)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        torch.nn.LSTM(4, 6, proj_size=6)
    with pytest.raises(ValueError, match="proj_size has to be smaller than hidden_size"):
        nn.LSTM(4, 6, proj_size=6)
    with pytest.raises(ValueError, match="positive integer or zero"):
        nn.LSTM(4, 6, proj_size=-1)
    msg = "proj_size argument is only supported for LSTM, not RNN or GRU"
    for cls in ("GRU", "RNN"):
        for p in (0, 2):
            with pytest.raises(ValueError, match=msg):
                getattr(torch.nn, cls)(4, 6, proj_size=p)
            with pytest.raises(ValueError, match=msg):
                getattr(nn, cls)(4, 6, proj_size=p)

    m = nn.LSTM(4, 6, 2, proj_size=3, bidirectional=True)
    x = np.zeros((5, 2, 4), np.float32)
    good_h, good_c = np.zeros((4, 2, 3), np.float32), np.zeros((4, 2, 6), np.float32)
    with pytest.raises(ValueError, match=r"\(4, 2, 3\)"):
        m(x, (np.zeros((4, 2, 6), np.float32), good_c))
    with pytest.raises(ValueError, match=r"\(4, 2, 6\)"):
        m(x, (good_h, np.zeros((4, 2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"\(4, 3\)"):
        m(x[:, 0], (good_h, good_c))
    with pytest.raises(ValueError, match="input_size"):
        m(np.zeros((5, 2, 3), np.float32))
    with pytest.raises(ValueError, match=r"w_hh must have shape \(24, 3\)"):
        F.lstm_layer(x, None, m.weight_ih_l0, m.weight_hh_l0[:, :2], w_hr=m.weight_hr_l0)
    with pytest.raises(ValueError, match="w_hr must have shape"):
        F.lstm_layer(x, None, m.weight_ih_l0, m.weight_hh_l0, w_hr=np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"Expected h0 of shape \(2, 3\)"):
        F.lstm_layer(x, (np.zeros((2, 6), np.float32), None), m.weight_ih_l0, m.weight_hh_l0,
                     w_hr=m.weight_hr_l0)  # fmt: skip
