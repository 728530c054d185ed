"""The recurrent kernels' single-step path over a few rows (csrc/ops/rnn.cpp, weight_product /
StepWeight): a cell or a one-step layer with batch <= 4 reads the weights in place instead of
packing them for the GEMM. Checked against PyTorch (copied weights) and the NumPy reference for
outputs, states and every gradient, by finite differences in float64, and for the same bits on
one and two threads. Batch 5 (the GEMM path) is checked beside it."""

import numpy as np
import pytest
from reference_rnn import gru_ref, lstm_ref, rnn_ref

import ember
from ember import nn
from ember.autograd import gradcheck

CELLS = {"LSTM": "LSTMCell", "GRU": "GRUCell", "RNN_TANH": "RNNCell", "RNN_RELU": "RNNCell"}


def _cell(mode, lib, i, h, dtype=None, bias=True):
    kw = {"bias": bias}
    if mode.startswith("RNN"):
        kw["nonlinearity"] = mode[4:].lower()
    if dtype is not None:
        kw["dtype"] = dtype
    return getattr(lib, CELLS[mode])(i, h, **kw)


def _ref(mode, x, h, c, p):
    """One step of the NumPy reference: -> (h', c') or h'."""
    w_ih, w_hh, b_ih, b_hh = p
    if mode == "LSTM":
        _, h1, c1 = lstm_ref(x[None], h, c, w_ih, w_hh, b_ih, b_hh)
        return h1, c1
    if mode == "GRU":
        return gru_ref(x[None], h, w_ih, w_hh, b_ih, b_hh)[1]
    return rnn_ref(x[None], h, w_ih, w_hh, b_ih, b_hh, nonlinearity=mode[4:].lower())[1]


@pytest.mark.parametrize("mode", list(CELLS))
@pytest.mark.parametrize("n", [1, 3, 4, 5])  # 5: past the few-rows path (the GEMM)
@pytest.mark.parametrize("i,hidden", [(70, 37), (128, 64), (3, 1)])  # K tails, H % 16 != 0
@pytest.mark.parametrize("bias", [True, False])
def test_cell_few_rows_matches_pytorch(mode, n, i, hidden, bias, rng):
    torch = pytest.importorskip("torch")
    tc = _cell(mode, torch.nn, i, hidden, bias=bias)
    ec = _cell(mode, nn, i, hidden, dtype=np.float32, bias=bias)
    ec.load_state_dict({k: v.detach().numpy().copy() for k, v in tc.state_dict().items()})
    x = rng.standard_normal((n, i)).astype(np.float32)
    h = rng.uniform(-1, 1, (n, hidden)).astype(np.float32)
    c = rng.uniform(-1, 1, (n, hidden)).astype(np.float32)
    xt, ht, ct = (torch.tensor(a, requires_grad=True) for a in (x, h, c))
    xe, he, ce = (ember.tensor(a, requires_grad=True) for a in (x, h, c))
    dy = rng.standard_normal((n, hidden)).astype(np.float32)
    dc = rng.standard_normal((n, hidden)).astype(np.float32)
    if mode == "LSTM":
        ot, oe = tc(xt, (ht, ct)), ec(xe, (he, ce))
        for a, b in zip(oe, ot, strict=True):
            np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)
        (ot[0] * torch.tensor(dy) + ot[1] * torch.tensor(dc)).sum().backward()
        (oe[0] * ember.tensor(dy) + oe[1] * ember.tensor(dc)).sum().backward()
    else:
        ot, oe = tc(xt, ht), ec(xe, he)
        np.testing.assert_allclose(oe.numpy(), ot.detach().numpy(), rtol=1e-5, atol=1e-6)
        (ot * torch.tensor(dy)).sum().backward()
        (oe * ember.tensor(dy)).sum().backward()
    tol = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **tol)
    np.testing.assert_allclose(he.grad.numpy(), ht.grad.numpy(), **tol)
    if mode == "LSTM":
        np.testing.assert_allclose(ce.grad.numpy(), ct.grad.numpy(), **tol)
    tp = dict(tc.named_parameters())
    for name, p in ec.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tp[name].grad.numpy(), **tol, err_msg=name)


@pytest.mark.parametrize("mode", list(CELLS))
@pytest.mark.parametrize("n", [1, 2, 4, 5])
def test_cell_few_rows_matches_numpy_float64(mode, n, rng):
    cell = _cell(mode, nn, 21, 19, dtype=np.float64)
    x = rng.standard_normal((n, 21))
    h = rng.uniform(-1, 1, (n, 19))
    c = rng.uniform(-1, 1, (n, 19))
    p = [cell.weight_ih.numpy(), cell.weight_hh.numpy(), cell.bias_ih.numpy(), cell.bias_hh.numpy()]
    ref = _ref(mode, x, h, c, p)
    if mode == "LSTM":
        out = cell(x, (h, c))
        np.testing.assert_allclose(out[0].numpy(), ref[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(out[1].numpy(), ref[1], rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(cell(x, h).numpy(), ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", list(CELLS))
@pytest.mark.parametrize("n", [1, 3])
def test_cell_few_rows_gradcheck(mode, n, rng):
    cell = _cell(mode, nn, 5, 6, dtype=np.float64)
    x = ember.tensor(rng.standard_normal((n, 5)), requires_grad=True)
    h = ember.tensor(rng.uniform(-1, 1, (n, 6)), requires_grad=True)
    c = ember.tensor(rng.uniform(-1, 1, (n, 6)), requires_grad=True)
    params = list(cell.parameters())
    if mode == "RNN_RELU":  # keep pre-activations away from the kink at 0
        with ember.no_grad():
            for p in params:
                p.data *= 0.5

    def fn(x, h, c, *ps):
        return cell(x, (h, c)) if mode == "LSTM" else cell(x, h)

    assert gradcheck(fn, (x, h, c, *params), atol=1e-6, rtol=1e-4)


LAYER_CFGS = [
    (mode, cfg)
    for mode in ("LSTM", "GRU", "RNN_TANH")
    for cfg in ({}, {"bidirectional": True, "num_layers": 2})
] + [("LSTM", {"proj_size": 3})]


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")  # torch's note
@pytest.mark.parametrize("mode,cfg", LAYER_CFGS)
def test_one_step_layer_few_rows_matches_pytorch(mode, cfg, rng):
    """A layer over one step and a small batch takes the same path as the cells."""
    torch = pytest.importorskip("torch")
    tcls = {"LSTM": torch.nn.LSTM, "GRU": torch.nn.GRU, "RNN_TANH": torch.nn.RNN}[mode]
    ecls = {"LSTM": nn.LSTM, "GRU": nn.GRU, "RNN_TANH": nn.RNN}[mode]
    tm = tcls(11, 7, **cfg)
    em = ecls(11, 7, **cfg)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    x = rng.standard_normal((1, 2, 11)).astype(np.float32)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    yt, yt_state = tm(xt)
    ye, ye_state = em(xe)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-6)
    ht = yt_state[0] if mode == "LSTM" else yt_state
    he = ye_state[0] if mode == "LSTM" else ye_state
    np.testing.assert_allclose(he.numpy(), ht.detach().numpy(), rtol=1e-5, atol=1e-6)
    (yt.sum() + ht.sum()).backward()
    (ye.sum() + he.sum()).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    tp = dict(tm.named_parameters())
    for name, p in em.named_parameters():
        np.testing.assert_allclose(
            p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=name
        )


@pytest.mark.parametrize("mode", list(CELLS))
@pytest.mark.parametrize("n", [1, 4])
def test_cell_few_rows_same_bits_on_one_and_two_threads(mode, n, rng):
    """Large enough (H 256) that the few-rows product splits its columns over two threads."""
    cell = _cell(mode, nn, 200, 256, dtype=np.float32)
    x = rng.standard_normal((n, 200)).astype(np.float32)
    h = rng.uniform(-1, 1, (n, 256)).astype(np.float32)
    results = []
    old = ember.get_num_threads()
    try:
        for nt in (1, 2):
            ember.set_num_threads(nt)
            cell.zero_grad()
            xe, he = ember.tensor(x, requires_grad=True), ember.tensor(h, requires_grad=True)
            out = cell(xe, (he, he * 0.5)) if mode == "LSTM" else cell(xe, he)
            o = out[0] + out[1] if mode == "LSTM" else out
            (o * o).sum().backward()
            grads = [xe.grad.numpy(), he.grad.numpy()] + [p.grad.numpy() for p in cell.parameters()]
            results.append([o.numpy()] + grads)
    finally:
        ember.set_num_threads(old)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


# ---- packed sequences: run in the packing's sorted order, per-step products skip the finished --


@pytest.mark.filterwarnings("ignore:LSTM with projections is not supported")  # torch's note
@pytest.mark.parametrize(
    "mode,cfg",
    [
        (mode, cfg)
        for mode in ("LSTM", "GRU", "RNN_TANH", "RNN_RELU")
        for cfg in ({}, {"bidirectional": True, "num_layers": 2}, {"batch_first": True})
    ]
    + [("LSTM", {"proj_size": 4})],
)
@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_packed_matches_pytorch(mode, cfg, enforce_sorted, rng):
    torch = pytest.importorskip("torch")
    kw = dict(cfg)
    if mode.startswith("RNN"):
        kw["nonlinearity"] = mode[4:].lower()
    name = mode[:3] if mode.startswith("RNN") else mode
    tm = getattr(torch.nn, name)(6, 9, **kw)
    em = getattr(nn, name)(6, 9, **kw)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    T, N = 7, 5
    lens = np.array([7, 6, 4, 4, 1]) if enforce_sorted else np.array([3, 7, 1, 4, 4])
    bf = cfg.get("batch_first", False)
    x = rng.standard_normal((N, T, 6) if bf else (T, N, 6)).astype(np.float32)
    d = 2 if cfg.get("bidirectional") else 1
    hsz = cfg.get("proj_size", 9)
    h0 = rng.uniform(-1, 1, (d * cfg.get("num_layers", 1), N, hsz)).astype(np.float32)
    c0 = rng.uniform(-1, 1, (d * cfg.get("num_layers", 1), N, 9)).astype(np.float32)
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    ex, eh, ec = (ember.tensor(a, requires_grad=True) for a in (x, h0, c0))
    tp = torch.nn.utils.rnn.pack_padded_sequence(
        tx, torch.tensor(lens), batch_first=bf, enforce_sorted=enforce_sorted
    )
    ep = nn.utils.rnn.pack_padded_sequence(ex, lens, batch_first=bf, enforce_sorted=enforce_sorted)
    to, ts = tm(tp, (th, tc) if mode == "LSTM" else th)
    eo, es = em(ep, (eh, ec) if mode == "LSTM" else eh)
    np.testing.assert_allclose(eo.data.numpy(), to.data.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(eo.batch_sizes.numpy(), to.batch_sizes.numpy())
    if not enforce_sorted:
        np.testing.assert_array_equal(eo.sorted_indices.numpy(), to.sorted_indices.numpy())
        np.testing.assert_array_equal(eo.unsorted_indices.numpy(), to.unsorted_indices.numpy())
    ts = ts if mode == "LSTM" else (ts,)
    es = es if mode == "LSTM" else (es,)
    for a, b in zip(es, ts, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-5)
    ey, _ = nn.utils.rnn.pad_packed_sequence(eo, batch_first=bf)
    ty, _ = torch.nn.utils.rnn.pad_packed_sequence(to, batch_first=bf)
    dy = rng.standard_normal(tuple(ty.shape)).astype(np.float32)
    dss = [rng.standard_normal(tuple(s.shape)).astype(np.float32) for s in ts]
    (ty * torch.tensor(dy)).sum().add(
        sum((s * torch.tensor(g)).sum() for s, g in zip(ts, dss))
    ).backward()
    (
        (ey * ember.tensor(dy)).sum() + sum((s * ember.tensor(g)).sum() for s, g in zip(es, dss))
    ).backward()
    tol = dict(rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **tol)
    np.testing.assert_allclose(eh.grad.numpy(), th.grad.numpy(), **tol)
    if mode == "LSTM":
        np.testing.assert_allclose(ec.grad.numpy(), tc.grad.numpy(), **tol)
    tparams = dict(tm.named_parameters())
    for pname, p in em.named_parameters():
        np.testing.assert_allclose(
            p.grad.numpy(), tparams[pname].grad.numpy(), **tol, err_msg=pname
        )


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("lens", [[5, 5, 3, 1], [5, 2, 2, 2], [2, 5, 1, 3], [1, 1, 1, 1]])
def test_kernel_lengths_prefix_and_not_match_numpy_float64(mode, reverse, lens, rng):
    """Non-increasing lengths (the rows still running are a prefix: shorter per-step products)
    and any other order give the NumPy reference's values; gradcheck covers the gradients."""
    from ember.nn import functional as F

    T, N, I, H = 5, 4, 3, 6
    g = {"LSTM": 4, "GRU": 3}.get(mode, 1)
    x = rng.standard_normal((T, N, I))
    h0 = rng.uniform(-1, 1, (N, H))
    c0 = rng.uniform(-1, 1, (N, H))
    w_ih = rng.uniform(-0.5, 0.5, (g * H, I))
    w_hh = rng.uniform(-0.5, 0.5, (g * H, H))
    b_ih, b_hh = rng.uniform(-0.5, 0.5, (2, g * H))
    lens = np.array(lens)
    if mode == "LSTM":
        y, (h, c) = F.lstm_layer(x, (h0, c0), w_ih, w_hh, b_ih, b_hh, lengths=lens, reverse=reverse)
        ry, rh, rc = lstm_ref(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lens, reverse)
        np.testing.assert_allclose(c.numpy(), rc, rtol=1e-12, atol=1e-12)
    elif mode == "GRU":
        y, h = F.gru_layer(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=lens, reverse=reverse)
        ry, rh = gru_ref(x, h0, w_ih, w_hh, b_ih, b_hh, lens, reverse)
    else:
        y, h = F.rnn_layer(x, h0, w_ih, w_hh, b_ih, b_hh, lengths=lens, reverse=reverse)
        ry, rh = rnn_ref(x, h0, w_ih, w_hh, b_ih, b_hh, lens, reverse)
    np.testing.assert_allclose(y.numpy(), ry, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h.numpy(), rh, rtol=1e-12, atol=1e-12)

    args = [ember.tensor(a, requires_grad=True) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]

    def fn(x, h0, c0, w_ih, w_hh, b_ih, b_hh):
        if mode == "LSTM":
            y, (h, c) = F.lstm_layer(x, (h0, c0), w_ih, w_hh, b_ih, b_hh, lens, reverse)
            return y, h, c
        f = F.gru_layer if mode == "GRU" else F.rnn_layer
        y, h = f(x, h0, w_ih, w_hh, b_ih, b_hh, lens, reverse)
        return y, h + 0 * c0.sum()

    assert gradcheck(fn, tuple(args), atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN_TANH"])
def test_packed_same_bits_on_one_and_two_threads(mode, rng):
    name = mode[:3] if mode.startswith("RNN") else mode
    m = getattr(nn, name)(32, 128)  # large enough for the time loop's two-thread split
    x = rng.standard_normal((20, 24, 32)).astype(np.float32)
    lens = rng.integers(1, 21, 24)
    results = []
    old = ember.get_num_threads()
    try:
        for nt in (1, 2):
            ember.set_num_threads(nt)
            m.zero_grad()
            xe = ember.tensor(x, requires_grad=True)
            p = nn.utils.rnn.pack_padded_sequence(xe, lens, enforce_sorted=False)
            out, _ = m(p)
            (out.data * out.data).sum().backward()
            results.append(
                [out.data.numpy(), xe.grad.numpy()] + [q.grad.numpy() for q in m.parameters()]
            )
    finally:
        ember.set_num_threads(old)
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
