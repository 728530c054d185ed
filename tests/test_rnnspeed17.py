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
