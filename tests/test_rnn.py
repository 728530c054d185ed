"""nn.RNN / LSTM / GRU, the cells, Embedding and padded sequences: against the NumPy time loop
in reference_rnn.py always, against PyTorch with copied weights when it is installed, float64
gradcheck of BPTT, and the bad inputs each must refuse."""

import tracemalloc

import numpy as np
import pytest
from reference_rnn import gru_ref, lstm_ref, rnn_ref

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F
from ember.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence, pad_sequence

TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}
MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def _make(mode, *args, **kw):
    if mode.startswith("RNN"):
        return nn.RNN(*args, nonlinearity=mode[4:].lower(), **kw)
    return getattr(nn, mode)(*args, **kw)


def _ref_layer(mode, x, h0, c0, p, lengths, reverse):
    b = (p[2], p[3]) if len(p) == 4 else (None, None)
    if mode == "LSTM":
        return lstm_ref(x, h0, c0, p[0], p[1], *b, lengths=lengths, reverse=reverse)
    if mode == "GRU":
        return gru_ref(x, h0, p[0], p[1], *b, lengths=lengths, reverse=reverse)
    act = mode[4:].lower()
    return rnn_ref(x, h0, p[0], p[1], *b, lengths=lengths, reverse=reverse, nonlinearity=act)


def _ref_stack(m, mode, x, h0, c0, lengths):
    """A stacked, optionally bidirectional network from the single-layer NumPy references."""
    d = 2 if m.bidirectional else 1
    weights = [[w.numpy() for w in ws] for ws in m.all_weights]
    inp, hs, cs = x, [], []
    for layer in range(m.num_layers):
        outs = []
        for direction in range(d):
            k = layer * d + direction
            r = _ref_layer(mode, inp, h0[k], c0[k] if c0 is not None else None, weights[k],
                           lengths, direction == 1)  # fmt: skip
            outs.append(r[0])
            hs.append(r[1])
            cs.append(r[2] if mode == "LSTM" else None)
        inp = np.concatenate(outs, axis=2)
    return inp, np.stack(hs), (np.stack(cs) if mode == "LSTM" else None)


# ---- against the NumPy reference (always) -------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "num_layers,bidirectional,use_lengths", [(1, False, False), (2, True, True), (2, False, True)]
)
def test_matches_numpy_reference(mode, dtype, num_layers, bidirectional, use_lengths, rng):
    T, N, I, H = 6, 3, 4, 5
    m = _make(mode, I, H, num_layers, bidirectional=bidirectional, dtype=dtype)
    d = 2 if bidirectional else 1
    x = rng.standard_normal((T, N, I)).astype(dtype)
    h0 = rng.standard_normal((num_layers * d, N, H)).astype(dtype) * 0.5
    c0 = rng.standard_normal((num_layers * d, N, H)).astype(dtype) * 0.5
    lengths = [6, 2, 4] if use_lengths else None
    hx = (h0, c0) if mode == "LSTM" else h0
    y, hn = m(x, hx, lengths=lengths)
    ry, rh, rc = _ref_stack(m, mode, x, h0, c0 if mode == "LSTM" else None, lengths)
    tol = TOL[dtype]
    np.testing.assert_allclose(y.numpy(), ry, **tol)
    if mode == "LSTM":
        np.testing.assert_allclose(hn[0].numpy(), rh, **tol)
        np.testing.assert_allclose(hn[1].numpy(), rc, **tol)
    else:
        np.testing.assert_allclose(hn.numpy(), rh, **tol)
    assert y.dtype == dtype


@pytest.mark.parametrize("mode", MODES)
def test_cells_match_reference(mode, rng):
    I, H, N = 4, 5, 3
    gates = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    if mode == "LSTM":
        cell = nn.LSTMCell(I, H, dtype=np.float64)
    elif mode == "GRU":
        cell = nn.GRUCell(I, H, dtype=np.float64)
    else:
        cell = nn.RNNCell(I, H, nonlinearity=mode[4:].lower(), dtype=np.float64)
    assert cell.weight_ih.shape == (gates * H, I)
    x = rng.standard_normal((N, I))
    h = rng.standard_normal((N, H))
    c = rng.standard_normal((N, H))
    p = [cell.weight_ih.numpy(), cell.weight_hh.numpy(), cell.bias_ih.numpy(), cell.bias_hh.numpy()]
    ref = _ref_layer(mode, x[None], h, c, p, None, False)
    out = cell(x, (h, c) if mode == "LSTM" else h)
    if mode == "LSTM":
        np.testing.assert_allclose(out[0].numpy(), ref[1], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out[1].numpy(), ref[2], rtol=1e-12, atol=1e-12)
        h1, c1 = cell(x[0])  # unbatched, zero state
        assert h1.shape == (H,) and c1.shape == (H,)
    else:
        np.testing.assert_allclose(out.numpy(), ref[1], rtol=1e-12, atol=1e-12)
        assert cell(x[0], h[0]).shape == (H,)


# ---- against PyTorch (copied weights) -----------------------------------------------------


def _torch_pair(mode, dtype, **kw):
    torch = pytest.importorskip("torch")
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    if mode.startswith("RNN"):
        tm = torch.nn.RNN(nonlinearity=mode[4:].lower(), **kw)
        em = nn.RNN(nonlinearity=mode[4:].lower(), dtype=dtype, **kw)
    else:
        tm = getattr(torch.nn, mode)(**kw)
        em = getattr(nn, mode)(dtype=dtype, **kw)
    tm = tm.to(tdt)
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict(tm.state_dict())
    return torch, tm, em


CONFIGS = [
    dict(num_layers=1),
    dict(num_layers=2, bidirectional=True),
    dict(num_layers=2, batch_first=True, bias=False),
    dict(num_layers=3, bidirectional=True, batch_first=True),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_hx,with_lengths", [(False, False), (True, True)])
def test_matches_pytorch(mode, cfg, dtype, with_hx, with_lengths, rng):
    torch, tm, em = _torch_pair(mode, dtype, input_size=4, hidden_size=6, **cfg)
    T, N = 7, 4
    bf = cfg.get("batch_first", False)
    d = 2 if cfg.get("bidirectional") else 1
    L = cfg["num_layers"] * d
    x = rng.standard_normal((N, T, 4) if bf else (T, N, 4)).astype(dtype)
    h0 = (rng.standard_normal((L, N, 6)) * 0.5).astype(dtype)
    c0 = (rng.standard_normal((L, N, 6)) * 0.5).astype(dtype)
    lengths = [7, 3, 1, 5] if with_lengths else None
    xt = torch.tensor(x, requires_grad=True)
    h0t, c0t = torch.tensor(h0, requires_grad=True), torch.tensor(c0, requires_grad=True)
    hxt = ((h0t, c0t) if mode == "LSTM" else h0t) if with_hx else None
    xe = ember.tensor(x, requires_grad=True)
    h0e, c0e = ember.tensor(h0, requires_grad=True), ember.tensor(c0, requires_grad=True)
    hxe = ((h0e, c0e) if mode == "LSTM" else h0e) if with_hx else None

    if with_lengths:
        packed = torch.nn.utils.rnn.pack_padded_sequence(
            xt, lengths, batch_first=bf, enforce_sorted=False
        )
        yp, hnt = tm(packed, hxt)
        yt, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, batch_first=bf, total_length=T)
    else:
        yt, hnt = tm(xt, hxt)
    ye, hne = em(xe, hxe, lengths=lengths)

    tol = TOL[dtype]
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **tol)
    states_t = hnt if mode == "LSTM" else (hnt,)
    states_e = hne if mode == "LSTM" else (hne,)
    for a, b in zip(states_e, states_t):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), **tol)

    gy = rng.standard_normal(ye.shape).astype(dtype)
    gs = [rng.standard_normal(s.shape).astype(dtype) for s in states_e]
    loss_t = (yt * torch.tensor(gy)).sum() + sum(
        (s * torch.tensor(g)).sum() for s, g in zip(states_t, gs)
    )
    loss_t.backward()
    loss_e = (ye * gy).sum()
    for s, g in zip(states_e, gs):
        loss_e = loss_e + (s * g).sum()
    loss_e.backward()
    gtol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **gtol)
    if with_hx:
        np.testing.assert_allclose(h0e.grad.numpy(), h0t.grad.numpy(), **gtol)
        if mode == "LSTM":
            np.testing.assert_allclose(c0e.grad.numpy(), c0t.grad.numpy(), **gtol)
    tparams = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tparams[name].grad.numpy(), **gtol, err_msg=name)


@pytest.mark.parametrize("mode", MODES)
def test_no_grad_forward_matches_grad_forward_and_pytorch(mode, rng):
    # Under no_grad (or with nothing requiring a gradient) the layers save nothing for backward
    # and return the kernel's output without a copy: the same bits as the recorded forward,
    # torch's values, and an output free to write into.
    torch, tm, em = _torch_pair(
        mode, np.float32, input_size=5, hidden_size=8, num_layers=2, bidirectional=True
    )
    x = rng.standard_normal((6, 3, 5)).astype(np.float32)
    lengths = [6, 2, 4]
    y_rec, h_rec = em(ember.tensor(x, requires_grad=True), lengths=lengths)
    assert y_rec.requires_grad
    with ember.no_grad():
        y_ng, h_ng = em(ember.tensor(x), lengths=lengths)
    for p in em.parameters():
        p.requires_grad_(False)
    y_eval, h_eval = em(ember.tensor(x), lengths=lengths)
    assert not y_ng.requires_grad and not y_eval.requires_grad
    states = lambda h: h if mode == "LSTM" else (h,)  # noqa: E731
    for y, h in ((y_ng, h_ng), (y_eval, h_eval)):
        np.testing.assert_array_equal(y.numpy(), y_rec.detach().numpy())
        for a, b in zip(states(h), states(h_rec)):
            np.testing.assert_array_equal(a.numpy(), b.detach().numpy())
    packed = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), lengths, enforce_sorted=False)
    with torch.no_grad():
        yp, h_t = tm(packed)
    y_t, _ = torch.nn.utils.rnn.pad_packed_sequence(yp, total_length=6)
    np.testing.assert_allclose(y_ng.numpy(), y_t.numpy(), **TOL[np.float32])
    for a, b in zip(states(h_ng), states(h_t)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), **TOL[np.float32])
    y_ng.numpy()[:] = 0.0  # a plain array of its own: writable
    assert y_rec.detach().numpy().any()


@pytest.mark.parametrize("mode", MODES)
def test_unbatched_input_matches_pytorch(mode, rng):
    torch, tm, em = _torch_pair(
        mode, np.float64, input_size=3, hidden_size=4, num_layers=2, bidirectional=True
    )
    x = rng.standard_normal((5, 3))
    h0 = rng.standard_normal((4, 4))
    hx = (h0, h0 * 0.5) if mode == "LSTM" else h0
    thx = tuple(torch.tensor(h) for h in hx) if mode == "LSTM" else torch.tensor(h0)
    yt, ht = tm(torch.tensor(x), thx)
    ye, he = em(x, hx)
    assert ye.shape == (5, 8)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    if mode == "LSTM":
        he, ht = he[1], ht[1]
    assert he.shape == (4, 4)
    np.testing.assert_allclose(he.numpy(), ht.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "T,N,H,L,lengths",
    [
        (1, 1, 1, 1, None),
        (1, 3, 1, 3, [1, 1, 1]),
        (5, 1, 3, 2, [3]),
        (5, 3, 2, 3, [5, 1, 3]),
        (4, 0, 3, 2, None),
    ],  # fmt: skip
)
def test_edge_configs_match_pytorch(mode, T, N, H, L, lengths, rng):
    """hidden 1, one step, one sequence, deep bidirectional stacks with lengths, and an empty
    batch (N = 0: empty outputs, zero weight gradients), float64."""
    torch, tm, em = _torch_pair(
        mode, np.float64, input_size=2, hidden_size=H, num_layers=L, bidirectional=L > 1
    )
    d = 2 if L > 1 else 1
    x = rng.standard_normal((T, N, 2))
    h0 = rng.standard_normal((L * d, N, H))
    xt, h0t, c0t = (torch.tensor(a, requires_grad=True) for a in (x, h0, h0 * 0.5))
    xe, h0e, c0e = (ember.tensor(a, requires_grad=True) for a in (x, h0, h0 * 0.5))
    if lengths:
        xp = torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False)
    yt, st = tm(xp if lengths else xt, (h0t, c0t) if mode == "LSTM" else h0t)
    if lengths:
        yt, _ = torch.nn.utils.rnn.pad_packed_sequence(yt, total_length=T)
    ye, se = em(xe, (h0e, c0e) if mode == "LSTM" else h0e, lengths=lengths)
    st, se = (st, se) if mode == "LSTM" else ((st,), (se,))
    outs = list(zip((ye, *se), (yt, *st)))
    for e, t in outs:
        assert e.shape == tuple(t.shape)
        np.testing.assert_allclose(e.numpy(), t.detach().numpy(), **TOL[np.float64])
    gs = [rng.standard_normal(e.shape) for e, _ in outs]
    sum((t * torch.tensor(g)).sum() for (_, t), g in zip(outs, gs)).backward()
    sum(((e * g).sum() for (e, _), g in zip(outs, gs)), ember.tensor(0.0)).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **TOL[np.float64])
    np.testing.assert_allclose(h0e.grad.numpy(), h0t.grad.numpy(), **TOL[np.float64])
    tparams = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        tg = tparams[name].grad
        tg = np.zeros(p.shape) if tg is None else tg.numpy()
        np.testing.assert_allclose(p.grad.numpy(), tg, **TOL[np.float64], err_msg=name)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,hidden", [(2, 5), (1, 1), (0, 5)])  # (0, 5): an empty batch
def test_cells_match_pytorch(mode, dtype, n, hidden, rng):
    torch = pytest.importorskip("torch")
    name = {"LSTM": "LSTMCell", "GRU": "GRUCell", "RNN_TANH": "RNNCell"}[mode]
    tdt = torch.float64 if dtype == np.float64 else torch.float32
    tc = getattr(torch.nn, name)(3, hidden).to(tdt)
    ec = getattr(nn, name)(3, hidden, dtype=dtype)
    assert list(ec.state_dict()) == list(tc.state_dict())
    ec.load_state_dict(tc.state_dict())
    x = rng.standard_normal((n, 3)).astype(dtype)
    h = rng.standard_normal((n, hidden)).astype(dtype)
    xt, ht = torch.tensor(x, requires_grad=True), torch.tensor(h, requires_grad=True)
    xe, he = ember.tensor(x, requires_grad=True), ember.tensor(h, requires_grad=True)
    if mode == "LSTM":
        ot = tc(xt, (ht, ht * 2))
        oe = ec(xe, (he, he * 2))
        ot = ot[0] * 2 + ot[1]
        oe = oe[0] * 2 + oe[1]
    else:
        ot, oe = tc(xt, ht), ec(xe, he)
    np.testing.assert_allclose(oe.numpy(), ot.detach().numpy(), **TOL[dtype])
    (ot**2).sum().backward()
    (oe**2).sum().backward()
    gtol = dict(rtol=1e-3, atol=1e-4) if dtype == np.float32 else TOL[dtype]
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **gtol)
    np.testing.assert_allclose(he.grad.numpy(), ht.grad.numpy(), **gtol)
    tg = tc.weight_hh.grad  # None for an empty batch
    tg = np.zeros(ec.weight_hh.shape) if tg is None else tg.numpy()
    np.testing.assert_allclose(ec.weight_hh.grad.numpy(), tg, **gtol)


# ---- gradients: BPTT over 20 steps against finite differences ------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_gradcheck_bptt_20_steps(mode, bidirectional, rng):
    m = _make(mode, 3, 4, 2, bidirectional=bidirectional, dtype=np.float64)
    d = 2 if bidirectional else 1
    x = ember.tensor(rng.standard_normal((20, 2, 3)), requires_grad=True)
    h0 = ember.tensor(rng.standard_normal((2 * d, 2, 4)) * 0.3, requires_grad=True)
    c0 = ember.tensor(rng.standard_normal((2 * d, 2, 4)) * 0.3, requires_grad=True)
    params = list(m.parameters())

    def fn(x, h0, c0, *ps):
        if mode == "LSTM":
            y, (h, c) = m(x, (h0, c0), lengths=[20, 13])
            return y, h, c
        y, h = m(x, h0, lengths=[20, 13])
        return y, h

    if mode == "RNN_RELU":  # keep pre-activations away from the kink at 0
        with ember.no_grad():
            for p in params:
                p.data *= 0.5
    assert gradcheck(fn, (x, h0, c0, *params), atol=1e-6, rtol=1e-4)


def test_gradcheck_cells_and_embedding(rng):
    cell = nn.LSTMCell(3, 4, dtype=np.float64)
    x = ember.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    h = ember.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    c = ember.tensor(rng.standard_normal((2, 4)), requires_grad=True)
    assert gradcheck(lambda x, h, c, w: cell(x, (h, c)), (x, h, c, cell.weight_hh))
    w = ember.tensor(rng.standard_normal((6, 3)), requires_grad=True)
    idx = np.array([[1, 2, 1], [5, 3, 1]])  # repeated rows add up; row 0 (padding) unused
    assert gradcheck(lambda w: F.embedding(idx, w, padding_idx=0), (w,))


# ---- padded sequences ---------------------------------------------------------------------


def test_padded_steps_change_nothing(rng):
    """Whatever the padding holds, outputs and gradients of the valid steps are the same as
    running each sequence alone."""
    m = nn.LSTM(3, 4, 2, bidirectional=True, dtype=np.float64)
    x = rng.standard_normal((6, 2, 3))
    lengths = [6, 3]
    x2 = x.copy()
    x2[3:, 1] = 1e3  # garbage in the padding
    ya, (ha, _) = m(x, lengths=lengths)
    yb, (hb, _) = m(x2, lengths=lengths)
    np.testing.assert_array_equal(ya.numpy(), yb.numpy())
    assert np.all(ya.numpy()[3:, 1] == 0)
    ys, (hs, _) = m(x[:3, 1:2])
    np.testing.assert_allclose(ya.numpy()[:3, 1:2], ys.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ha.numpy()[:, 1:2], hs.numpy(), rtol=1e-12, atol=1e-14)
    xe = ember.tensor(x2, requires_grad=True)
    y, _ = m(xe, lengths=lengths)
    y.sum().backward()
    assert np.all(xe.grad.numpy()[3:, 1] == 0)


def test_pack_pad_roundtrip_and_pytorch(rng):
    x = rng.standard_normal((3, 5, 2)).astype(np.float32)  # batch_first
    packed = pack_padded_sequence(x, [5, 4, 2], batch_first=True)
    assert packed.data.shape == (11, 2) and packed.batch_sizes.tolist() == [3, 3, 2, 2, 1]
    np.testing.assert_array_equal(packed.data.numpy()[:3], x[:, 0])  # step 0 of each sequence
    lstm = nn.LSTM(2, 3, batch_first=True)
    out, (h, c) = lstm(packed)
    padded, lens = pad_packed_sequence(out, batch_first=True, padding_value=-1.0, total_length=6)
    assert padded.shape == (3, 6, 3) and lens.tolist() == [5, 4, 2]
    assert np.all(padded.numpy()[2, 2:] == -1) and np.all(padded.numpy()[:, 5] == -1)
    y, _ = lstm(x, lengths=[5, 4, 2])
    np.testing.assert_array_equal(padded.numpy()[:, :5][padded.numpy()[:, :5] != -1],
                                  y.numpy()[padded.numpy()[:, :5] != -1])  # fmt: skip
    with pytest.raises(ValueError, match="decreasing"):
        pack_padded_sequence(x, [2, 4, 5], batch_first=True)
    pack_padded_sequence(x, [2, 4, 5], batch_first=True, enforce_sorted=False)
    with pytest.raises(ValueError, match="exceeds"):
        pack_padded_sequence(x, [6, 4, 5], batch_first=True, enforce_sorted=False)
    s = pad_sequence([ember.ones(3, 2), ember.ones(1, 2)], batch_first=True, padding_value=7)
    assert s.shape == (2, 3, 2) and s.numpy()[1, 1:].tolist() == [[7, 7], [7, 7]]


# ---- modules: state, dropout, long sequences ----------------------------------------------


def test_parameters_init_repr(rng):
    m = nn.GRU(10, 20, num_layers=2, bidirectional=True, batch_first=True, dropout=0.25)
    names = [n for n, _ in m.named_parameters()]
    assert names[:4] == ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert "weight_ih_l1_reverse" in names and m.weight_ih_l1.shape == (60, 40)
    bound = 1 / np.sqrt(20)
    for p in m.parameters():
        assert np.abs(p.numpy()).max() <= bound
    assert (
        repr(m) == "GRU(10, 20, num_layers=2, batch_first=True, dropout=0.25, bidirectional=True)"
    )
    assert repr(nn.LSTMCell(3, 4, bias=False)) == "LSTMCell(3, 4, bias=False)"
    assert repr(nn.Embedding(5, 2, padding_idx=1)) == "Embedding(5, 2, padding_idx=1)"


def test_dropout_between_layers(rng):
    x = rng.standard_normal((5, 3, 4)).astype(np.float32)
    m = nn.LSTM(4, 8, num_layers=3, dropout=0.5)
    ref = nn.LSTM(4, 8, num_layers=3)
    ref.load_state_dict(m.state_dict())
    m.eval()
    np.testing.assert_array_equal(m(x)[0].numpy(), ref(x)[0].numpy())
    m.train()
    ember.manual_seed(3)
    a = m(x)[0].numpy()
    ember.manual_seed(3)
    b = m(x)[0].numpy()
    np.testing.assert_array_equal(a, b)  # seeded
    assert not np.allclose(a, ref(x)[0].numpy())
    with pytest.warns(UserWarning, match="dropout option adds dropout after all but last"):
        one = nn.GRU(4, 8, num_layers=1, dropout=0.5)  # no layer after the last: no dropout
    ref1 = nn.GRU(4, 8)
    ref1.load_state_dict(one.state_dict())
    np.testing.assert_array_equal(one(x)[0].numpy(), ref1(x)[0].numpy())


@pytest.mark.parametrize("proj_size", [0, 5])
def test_sequence_length_1000_memory_linear(proj_size, rng):
    m = nn.LSTM(8, 16, proj_size=proj_size)

    def peak(t):
        x = ember.tensor(rng.standard_normal((t, 2, 8)).astype(np.float32), requires_grad=True)
        tracemalloc.start()
        y, _ = m(x)
        y.sum().backward()
        p = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert x.grad.shape == (t, 2, 8) and np.isfinite(x.grad.numpy()).all()
        return p

    p250, p1000 = peak(250), peak(1000)
    assert p1000 < 5 * p250  # linear, not quadratic, in T


def test_embedding_matches_pytorch_and_scatter_adds(rng):
    emb = nn.Embedding(7, 3, padding_idx=2)
    assert np.all(emb.weight.numpy()[2] == 0)
    idx = np.array([[1, 2, 1], [6, 2, 1]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    g = rng.standard_normal((2, 3, 3)).astype(np.float32)
    out.backward(g)
    expected = np.zeros((7, 3), np.float32)
    np.add.at(expected, idx.reshape(-1), g.reshape(-1, 3))
    expected[2] = 0
    np.testing.assert_allclose(emb.weight.grad.numpy(), expected, rtol=1e-6)
    torch = pytest.importorskip("torch")
    te = torch.nn.Embedding(7, 3, padding_idx=2)
    te.weight.data = torch.tensor(emb.weight.numpy())
    to = te(torch.tensor(idx))
    to.backward(torch.tensor(g))
    np.testing.assert_allclose(out.numpy(), to.detach().numpy())
    np.testing.assert_allclose(emb.weight.grad.numpy(), te.weight.grad.numpy(), rtol=1e-6)
    fixed = nn.Embedding.from_pretrained(np.eye(3, dtype=np.float32))
    assert not fixed.weight.requires_grad and fixed(np.array([1])).numpy().tolist() == [[0, 1, 0]]


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_bad_inputs(mode, rng):
    m = _make(mode, 4, 5, 2)
    x = rng.standard_normal((6, 3, 4)).astype(np.float32)
    good = np.zeros((2, 3, 5), np.float32)
    hx = (good, good) if mode == "LSTM" else good
    with pytest.raises(ValueError, match="input_size. Expected 4, got 3"):
        m(x[..., :3])
    with pytest.raises(ValueError, match="2D .* or 3D"):
        m(x[None])
    with pytest.raises(ValueError, match="Expected hidden size"):
        bad = np.zeros((1, 3, 5), np.float32)
        m(x, (bad, good) if mode == "LSTM" else bad)
    with pytest.raises(ValueError, match="Expected hidden size"):
        bad = np.zeros((2, 2, 5), np.float32)
        m(x, (good, bad) if mode == "LSTM" else bad)
    with pytest.raises(TypeError):
        m(x, good if mode == "LSTM" else (good, good))
    for lengths, msg in (
        ([6, -1, 2], r"in \[1, 6\]"),
        ([6, 0, 2], r"in \[1, 6\]"),
        ([7, 1, 2], r"in \[1, 6\]"),
        ([6, 2], r"shape \(3,\)"),
    ):
        with pytest.raises(ValueError, match=msg):
            m(x, hx, lengths=lengths)
    with pytest.raises(TypeError, match="integers"):
        m(x, lengths=[6.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="batched"):
        m(x[:, 0], lengths=[6])
    with pytest.raises(TypeError):
        m(x.astype(np.float64) * ember.ones(1, dtype=np.float64))
    # unbatched 2-D input is accepted, as PyTorch accepts it, and equals a batch of one
    y1, _ = m(x[:, 0])
    yb, _ = m(x[:, :1])
    np.testing.assert_allclose(y1.numpy(), yb.numpy()[:, 0], rtol=1e-6)


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.1", True])
def test_bad_dropout_bias_batch_first(p):
    # PyTorch's error types and messages
    with pytest.raises(ValueError, match=r"dropout should be a number in range \[0, 1\]"):
        nn.LSTM(3, 4, 2, dropout=p)
    for kw in ("bias", "batch_first") if not isinstance(p, bool) else ():
        with pytest.raises(TypeError, match=f"{kw} should be of type bool, got: "):
            nn.GRU(3, 4, **{kw: p})


def test_dropout_one_and_torch_parity_details(rng):
    """dropout=1 drops every output between layers (no 1/0), as PyTorch; repr and
    flatten_parameters as PyTorch's."""
    torch, tm, em = _torch_pair("RNN_RELU", np.float64, input_size=3, hidden_size=4,
                                num_layers=2, dropout=1.0)  # fmt: skip
    x = rng.standard_normal((5, 2, 3))
    yt, ht = tm(torch.tensor(x))
    ye, he = em(x)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **TOL[np.float64])
    np.testing.assert_allclose(he.numpy(), ht.detach().numpy(), **TOL[np.float64])
    assert repr(em) == repr(tm) == "RNN(3, 4, num_layers=2, dropout=1.0)"
    assert repr(nn.RNNCell(3, 4, bias=False, nonlinearity="relu")) == repr(
        torch.nn.RNNCell(3, 4, bias=False, nonlinearity="relu")
    )
    em.flatten_parameters()  # a no-op, as PyTorch's on CPU
    np.testing.assert_array_equal(em(x)[0].numpy(), ye.numpy())


def test_bad_constructor_and_cell_args():
    with pytest.raises(ValueError):
        nn.LSTM(0, 4)
    with pytest.raises(ValueError):
        nn.GRU(3, 4, num_layers=0)
    with pytest.raises(ValueError, match="nonlinearity"):
        nn.RNN(3, 4, nonlinearity="sigmoid")
    cell = nn.LSTMCell(3, 4)
    with pytest.raises(ValueError, match="input_size"):
        cell(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match="h0"):
        cell(np.zeros((2, 3), np.float32), (np.zeros((2, 5), np.float32),) * 2)
    emb = nn.Embedding(4, 2)
    with pytest.raises(IndexError, match="out of range"):
        emb(np.array([4]))
    with pytest.raises(IndexError, match="out of range"):
        emb(np.array([-1]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(4, 2, padding_idx=4)
