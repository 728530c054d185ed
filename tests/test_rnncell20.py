"""The recurrent backward kernels make only the gradients asked for (csrc/ops/rnn.cpp,
need_dx / need_dh0 of _C.lstm_backward, gru_backward, rnn_backward): dx's GEMM is skipped when
the input wants no gradient, the last step's dh GEMM when h0 wants none (a third of a cell's
backward products). The Functions pass ctx.needs_input_grad.

Checked: the skipped outputs are None and every other output is the full call's bits, at 1 and 2
threads, for cell shapes (T = 1) and sequences (lengths, reverse), odd N and H; cells and layers
with some inputs not requiring grad against PyTorch (values and every gradient); float64
gradcheck over the inputs that want a gradient."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import _C, nn
from ember.autograd import gradcheck

_GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def _backward_args(rng, mode, t, n, i, h, dtype, lengths, reverse):
    """Forward on random data -> (backward function of need_dx, need_dh0)."""
    g = _GATES[mode] * h
    s = dtype(1.0 / np.sqrt(h))

    def f(*shape):
        return rng.uniform(-1, 1, shape).astype(dtype)

    x, h0, c0, dy, dh, dc = f(t, n, i), f(n, h), f(n, h), f(t, n, h), f(n, h), f(n, h)
    w_ih, w_hh, b_ih, b_hh = s * f(g, i), s * f(g, h), s * f(g), s * f(g)
    lens = None if lengths is None else np.asarray(lengths, np.int64)
    if mode == "lstm":
        y, _, _, gates, cells, _ = _C.lstm_forward(x, h0, c0, w_ih, w_hh, b_ih, b_hh, lens, reverse)
        return lambda ndx, ndh: _C.lstm_backward(
            dy, dh, dc, x, h0, c0, w_ih, w_hh, True, lens, reverse, y, gates, cells,
            need_dx=ndx, need_dh0=ndh,
        )  # fmt: skip
    if mode == "gru":
        y, _, gates, hn = _C.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lens, reverse)
        return lambda ndx, ndh: _C.gru_backward(
            dy, dh, x, h0, w_ih, w_hh, True, lens, reverse, y, gates, hn,
            need_dx=ndx, need_dh0=ndh,
        )  # fmt: skip
    y, _ = _C.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lens, reverse, "tanh")
    return lambda ndx, ndh: _C.rnn_backward(
        dy, dh, x, h0, w_ih, w_hh, True, lens, reverse, "tanh", y, need_dx=ndx, need_dh0=ndh
    )


@pytest.mark.parametrize("mode", ["lstm", "gru", "rnn"])
@pytest.mark.parametrize(
    "t, n, i, h, lengths, reverse",
    [
        (1, 32, 128, 256, None, False),  # the cell benchmark's shape
        (1, 13, 7, 20, None, False),
        (1, 3, 5, 33, None, False),  # a few rows: the weights read in place
        (4, 9, 12, 64, None, True),
        (5, 6, 8, 17, [5, 5, 3, 2, 2, 1], False),
        (5, 6, 8, 17, [5, 3, 4, 1, 2, 5], True),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_skips_unwanted_grads_same_bits(mode, t, n, i, h, lengths, reverse, dtype, rng):
    bwd = _backward_args(rng, mode, t, n, i, h, dtype, lengths, reverse)
    ref = None
    for threads in (1, 2):
        with at_threads(threads):
            full = bwd(True, True)
            if ref is None:
                ref = full
            for a, b in zip(full, ref, strict=True):  # the same bits on any thread count
                if a is not None:
                    np.testing.assert_array_equal(a, b)
            for ndx, ndh in ((False, True), (True, False), (False, False)):
                out = bwd(ndx, ndh)
                assert (out[0] is None) == (not ndx)
                assert (out[1] is None) == (not ndh)
                for k, (a, b) in enumerate(zip(out, full, strict=True)):
                    if a is not None:
                        np.testing.assert_array_equal(a, b, err_msg=f"output {k}")


def _torch_cell(torch, kind, cell):
    tc = getattr(torch.nn, kind)(cell.input_size, cell.hidden_size, dtype=torch.float64)
    with torch.no_grad():
        for name, p in tc.named_parameters():
            p.copy_(torch.from_numpy(getattr(cell, name).data.astype(np.float64)))
    return tc


@pytest.mark.parametrize("kind", ["RNNCell", "GRUCell", "LSTMCell"])
@pytest.mark.parametrize("n, i, h", [(32, 128, 256), (7, 5, 19)])
@pytest.mark.parametrize("x_grad, h_grad", [(False, False), (False, True), (True, False)])
@pytest.mark.parametrize("threads", [1, 2])
def test_cell_partial_grads_vs_torch(kind, n, i, h, x_grad, h_grad, threads, rng):
    """A cell whose input or state wants no gradient: the output and every gradient asked for
    against PyTorch in float64 (its value from the float32 call)."""
    torch = pytest.importorskip("torch")
    cell = getattr(nn, kind)(i, h)
    x = rng.standard_normal((n, i)).astype(np.float32)
    hs = [rng.uniform(-1, 1, (n, h)).astype(np.float32) for _ in range(2)]
    ex = ember.tensor(x, requires_grad=x_grad)
    eh = [ember.tensor(a, requires_grad=h_grad) for a in hs]
    tx = torch.tensor(x, dtype=torch.float64, requires_grad=x_grad)
    th = [torch.tensor(a, dtype=torch.float64, requires_grad=h_grad) for a in hs]
    w = rng.standard_normal((n, h)).astype(np.float32)
    tc = _torch_cell(torch, kind, cell)
    lstm = kind == "LSTMCell"
    with at_threads(threads):
        out = cell(ex, tuple(eh) if lstm else eh[0])
        outs = out if lstm else (out,)
        sum((o * ember.tensor(w)).sum() for o in outs).backward()
    tout = tc(tx, tuple(th) if lstm else th[0])
    touts = tout if lstm else (tout,)
    sum((o * torch.from_numpy(w.astype(np.float64))).sum() for o in touts).backward()
    for o, to in zip(outs, touts, strict=True):
        np.testing.assert_allclose(o.data, to.detach().numpy(), rtol=1e-4, atol=1e-5)
    pairs = [(ex, tx)] if x_grad else []
    pairs += list(zip(eh, th, strict=True))[: 2 if lstm else 1] if h_grad else []
    pairs += [(getattr(cell, k), p) for k, p in tc.named_parameters()]
    for e, t in pairs:
        assert e.grad is not None
        np.testing.assert_allclose(e.grad.data, t.grad.numpy(), rtol=1e-4, atol=1e-4)
    if not x_grad:
        assert ex.grad is None
    if not h_grad:
        assert all(a.grad is None for a in eh)


@pytest.mark.parametrize("kind", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("threads", [1, 2])
def test_layer_input_without_grad_vs_torch(kind, threads, rng):
    """A layer over an input that wants no gradient (two layers: the second layer's input does
    want one), h0 wanted: every gradient against PyTorch."""
    torch = pytest.importorskip("torch")
    t, n, i, h = 5, 6, 7, 11
    tm = getattr(torch.nn, kind)(i, h, num_layers=2, dtype=torch.float64)
    em = getattr(nn, kind)(i, h, num_layers=2)
    em.load_state_dict(
        {k: v.detach().numpy().astype(np.float32) for k, v in tm.state_dict().items()}
    )
    x = rng.standard_normal((t, n, i)).astype(np.float32)
    h0 = rng.uniform(-1, 1, (2, n, h)).astype(np.float32)
    eh = ember.tensor(h0, requires_grad=True)
    th = torch.tensor(h0, dtype=torch.float64, requires_grad=True)
    with at_threads(threads):
        ey, _ = em(ember.tensor(x), (eh, ember.tensor(h0)) if kind == "LSTM" else eh)
        ey.sum().backward()
    tx = torch.tensor(x, dtype=torch.float64)
    ty, _ = tm(tx, (th, torch.tensor(h0, dtype=torch.float64)) if kind == "LSTM" else th)
    ty.sum().backward()
    np.testing.assert_allclose(ey.data, ty.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(eh.grad.data, th.grad.numpy(), rtol=1e-4, atol=1e-4)
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(
            em.get_parameter(k).grad.data, p.grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=k
        )


@pytest.mark.parametrize("kind", ["RNNCell", "GRUCell", "LSTMCell"])
@pytest.mark.parametrize("x_grad, h_grad", [(False, True), (True, False), (False, False)])
def test_cell_partial_grads_gradcheck(kind, x_grad, h_grad, rng):
    """float64 finite differences through the cell's inputs and weights, some inputs not
    requiring grad (odd N and H)."""
    n, i, h = 3, 4, 5
    cell = getattr(nn, kind)(i, h, dtype=np.float64)
    x = ember.tensor(rng.standard_normal((n, i)), requires_grad=x_grad)
    hs = [ember.tensor(rng.uniform(-1, 1, (n, h)), requires_grad=h_grad) for _ in range(2)]
    lstm = kind == "LSTMCell"

    def fn(x, h, c, w_ih, w_hh, b_ih, b_hh):
        f = getattr(ember.nn.functional, kind.lower().replace("cell", "_cell"))
        out = f(x, (h, c) if lstm else h, w_ih, w_hh, b_ih, b_hh)
        return out if lstm else (out,)

    weights = [getattr(cell, k) for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    assert gradcheck(fn, (x, *hs, *weights))
