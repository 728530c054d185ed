"""Frozen weights in the recurrent layers and cells (csrc/ops/rnn.cpp, nn/functional.py): when no
weight or bias wants a gradient, backward skips their products (need_dw) and the Functions hold
x (and what only dW_hh reads) apart from the saved values.

Checked: the frozen call's output and input / state gradients are the bits of the same call with
trainable weights, its weights get no gradient (as torch's .grad None), for LSTM / GRU / RNN (tanh,
relu) layers with num_layers 2, bidirectional, proj_size, lengths, batch_first and for the cells,
against torch with frozen parameters; the kernels' need_dw=False against need_dw=True (same bits,
None weight gradients) including an empty batch; gradcheck in float64; a write into the input
after a frozen forward is allowed (as torch's float64 layers), refused with trainable weights."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import _C, nn
from ember.autograd import gradcheck
from ember.nn import functional as F

MODES = ["LSTM", "GRU", "RNN_TANH", "RNN_RELU"]


def _layer(lib, mode, *args, **kw):
    if mode.startswith("RNN"):
        kw["nonlinearity"] = mode[4:].lower()
        return lib.nn.RNN(*args, **kw)
    return getattr(lib.nn, mode)(*args, **kw)


def _copy_weights(src, dst):
    """ember module src's parameters into torch module dst."""
    import torch

    with torch.no_grad():
        for name, p in dst.named_parameters():
            p.copy_(torch.from_numpy(getattr(src, name).data.copy()))


def _run(m, x, hx, lengths=None):
    """Forward and backward of a random-weighted sum of every output -> (outputs, grads)."""
    x = ember.tensor(x, requires_grad=True)
    hx_t = None
    if hx is not None:
        hx_t = tuple(ember.tensor(h, requires_grad=True) for h in hx)
    out, state = m(x, hx_t if hx_t is None or len(hx_t) == 2 else hx_t[0], lengths=lengths)
    state = state if isinstance(state, tuple) else (state,)
    outs = (out, *state)
    loss = sum((o * ember.tensor(np.cos(np.arange(o.data.size)).reshape(o.shape))).sum()
               for o in outs)  # fmt: skip
    loss.backward()
    grads = [x.grad] + ([] if hx_t is None else [h.grad for h in hx_t])
    return [o.data for o in outs], [g.data for g in grads]


def _check_frozen_same_bits(m, x, hx, lengths):
    """m frozen gives the trainable m's outputs and input/state gradients bit for bit, and its
    parameters no gradient."""
    full = _run(m, x, hx, lengths)
    m.zero_grad(set_to_none=True)
    m.requires_grad_(False)
    frozen = _run(m, x, hx, lengths)
    for a, b in zip(full[0] + full[1], frozen[0] + frozen[1]):
        np.testing.assert_array_equal(a, b)
    assert all(p.grad is None for p in m.parameters())


CONFIGS = [
    dict(num_layers=2),
    dict(bidirectional=True),
    dict(num_layers=2, bidirectional=True, batch_first=True),
    dict(bias=False),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("cfg", range(len(CONFIGS)))
@pytest.mark.parametrize("lengths", [None, [5, 3, 5]])
@pytest.mark.parametrize("with_hx", [False, True])
def test_layers_frozen_same_bits(mode, cfg, lengths, with_hx, rng):
    """requires_grad_(False) on the layer: outputs, input and state gradients the bits of the
    trainable layer's; no parameter gets a gradient."""
    kw = CONFIGS[cfg]
    m = _layer(ember, mode, 6, 8, **kw)
    d = 2 if kw.get("bidirectional") else 1
    layers = kw.get("num_layers", 1) * d
    x = rng.standard_normal((3, 5, 6) if kw.get("batch_first") else (5, 3, 6)).astype(np.float32)
    hx = None
    if with_hx:
        hx = [rng.standard_normal((layers, 3, 8)).astype(np.float32)]
        if mode == "LSTM":
            hx.append(rng.standard_normal((layers, 3, 8)).astype(np.float32))
    _check_frozen_same_bits(m, x, hx, lengths)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [4, 2, 3]])
def test_lstm_proj_frozen_same_bits(bidirectional, lengths, rng):
    m = nn.LSTM(5, 9, num_layers=2, proj_size=4, bidirectional=bidirectional)
    d = 2 if bidirectional else 1
    x = rng.standard_normal((4, 3, 5)).astype(np.float32)
    hx = [rng.standard_normal((2 * d, 3, 4)).astype(np.float32),
          rng.standard_normal((2 * d, 3, 9)).astype(np.float32)]  # fmt: skip
    _check_frozen_same_bits(m, x, hx, lengths)


@pytest.mark.parametrize("mode", MODES)
def test_partly_frozen_same_bits(mode, rng):
    """Only the biases (or only weight_ih) frozen: the other weights' gradients are the bits of
    the fully trainable layer's, the frozen ones get none."""
    m = _layer(ember, mode, 6, 8, num_layers=2)
    x = rng.standard_normal((5, 3, 6)).astype(np.float32)
    _run(m, x, None)
    ref = {n: p.grad.data.copy() for n, p in m.named_parameters()}
    for frozen in ("bias", "weight_ih"):
        m.zero_grad(set_to_none=True)
        for n, p in m.named_parameters():
            p.requires_grad_(not n.startswith(frozen))
        _run(m, x, None)
        for n, p in m.named_parameters():
            if n.startswith(frozen):
                assert p.grad is None
            else:
                np.testing.assert_array_equal(p.grad.data, ref[n])
        m.requires_grad_(True)


@pytest.mark.parametrize("mode, proj", [(m, 0) for m in MODES] + [("LSTM", 3)])
def test_frozen_against_torch(mode, proj, rng):
    """Against torch.nn with frozen parameters (num_layers 2, bidirectional, batch_first,
    lengths through PackedSequence on torch's side): outputs, input and state gradients."""
    torch = pytest.importorskip("torch")
    kw = dict(num_layers=2, bidirectional=True, batch_first=True)
    if proj:
        kw["proj_size"] = proj
    m = _layer(ember, mode, 6, 7, **kw)
    tm = _layer(torch, mode, 6, 7, **kw)
    _copy_weights(m, tm)
    m.requires_grad_(False)
    tm.requires_grad_(False)
    lengths = [5, 2, 4]
    x = rng.standard_normal((3, 5, 6)).astype(np.float32)
    ours = _run(m, x, None, lengths)

    tx = torch.tensor(x, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(tx, lengths, True, enforce_sorted=False)
    out, state = tm(packed)
    out = torch.nn.utils.rnn.pad_packed_sequence(out, True, total_length=5)[0]
    state = state if isinstance(state, tuple) else (state,)
    outs = (out, *state)
    loss = sum((o * torch.tensor(np.cos(np.arange(o.numel())).reshape(o.shape), dtype=o.dtype))
               .sum() for o in outs)  # fmt: skip
    loss.backward()
    for a, b in zip(ours[0], outs):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours[1][0], tx.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert all(p.grad is None for p in tm.parameters())
    assert all(p.grad is None for p in m.parameters())


@pytest.mark.parametrize("cell", ["LSTMCell", "GRUCell", "RNNCell", "RNNCell_relu"])
@pytest.mark.parametrize("batch", [None, 1, 4])
def test_cells_frozen(cell, batch, rng):
    """Frozen cells: the trainable cell's bits, no weight gradient, torch's values."""
    torch = pytest.importorskip("torch")
    name, _, act = cell.partition("_")
    kw = {"nonlinearity": act} if act else {}
    m = getattr(nn, name)(5, 6, **kw)
    tm = getattr(torch.nn, name)(5, 6, **kw)
    _copy_weights(m, tm)
    shape = (5,) if batch is None else (batch, 5)
    hshape = (6,) if batch is None else (batch, 6)
    x = rng.standard_normal(shape).astype(np.float32)
    hs = [
        rng.standard_normal(hshape).astype(np.float32)
        for _ in range(2 if name == "LSTMCell" else 1)
    ]

    def run(lib, mod):
        xt = lib.tensor(x, requires_grad=True)
        ht = [lib.tensor(h, requires_grad=True) for h in hs]
        out = mod(xt, tuple(ht) if name == "LSTMCell" else ht[0])
        out = out if isinstance(out, tuple) else (out,)
        w = [lib.tensor(np.cos(np.arange(o.numel() if lib is torch else o.data.size)),
                        dtype=lib.float32).reshape(tuple(o.shape)) for o in out]  # fmt: skip
        sum((o * wi).sum() for o, wi in zip(out, w)).backward()
        arr = (lambda t: t.detach().numpy()) if lib is torch else (lambda t: t.data)
        return [arr(o) for o in out] + [arr(xt.grad)] + [arr(h.grad) for h in ht]

    full = run(ember, m)
    m.zero_grad(set_to_none=True)
    m.requires_grad_(False)
    tm.requires_grad_(False)
    frozen = run(ember, m)
    for a, b in zip(full, frozen):
        np.testing.assert_array_equal(a, b)
    assert all(p.grad is None for p in m.parameters())
    for a, b in zip(frozen, run(torch, tm)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert all(p.grad is None for p in tm.parameters())


def _kernel_args(kind, rng, t, n, i, h, dtype, proj=0):
    g = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    p = proj or h
    s = 1.0 / np.sqrt(h)
    x = rng.standard_normal((t, n, i)).astype(dtype)
    h0 = rng.uniform(-1, 1, (n, p)).astype(dtype)
    c0 = rng.uniform(-1, 1, (n, h)).astype(dtype)
    w_ih = rng.uniform(-s, s, (g * h, i)).astype(dtype)
    w_hh = rng.uniform(-s, s, (g * h, p)).astype(dtype)
    b = [rng.uniform(-s, s, g * h).astype(dtype) for _ in range(2)]
    w_hr = rng.uniform(-s, s, (proj, h)).astype(dtype) if proj else None
    return x, h0, c0, w_ih, w_hh, b, w_hr


def _kernel_backward(kind, args, lengths, reverse, need_dw, relu=False):
    x, h0, c0, w_ih, w_hh, b, w_hr = args
    lens = None if lengths is None else np.array(lengths, np.int64)
    rng = np.random.default_rng(5)
    if kind == "lstm":
        y, h_n, c_n, gates, cells, hid = _C.lstm_forward(x, h0, c0, w_ih, w_hh, *b, lens, reverse,
                                                         w_hr)  # fmt: skip
        dy, dh, dc = (rng.standard_normal(a.shape).astype(x.dtype) for a in (y, h_n, c_n))
        return _C.lstm_backward(dy, dh, dc, x, h0, c0, w_ih, w_hh, True, lens, reverse, y, gates,
                                cells, w_hr, hid, need_dw=need_dw)  # fmt: skip
    if kind == "gru":
        y, h_n, gates, hn = _C.gru_forward(x, h0, w_ih, w_hh, *b, lens, reverse)
        dy, dh = (rng.standard_normal(a.shape).astype(x.dtype) for a in (y, h_n))
        return _C.gru_backward(dy, dh, x, h0, w_ih, w_hh, True, lens, reverse, y, gates, hn,
                               need_dw=need_dw)  # fmt: skip
    act = "relu" if relu else "tanh"
    y, h_n = _C.rnn_forward(x, h0, w_ih, w_hh, *b, lens, reverse, act)
    dy, dh = (rng.standard_normal(a.shape).astype(x.dtype) for a in (y, h_n))
    return _C.rnn_backward(dy, dh, x, h0, w_ih, w_hh, True, lens, reverse, act, y,
                           need_dw=need_dw)  # fmt: skip


@pytest.mark.parametrize("kind, proj, relu",
                         [("lstm", 0, False), ("lstm", 3, False), ("gru", 0, False),
                          ("rnn", 0, False), ("rnn", 0, True)])  # fmt: skip
@pytest.mark.parametrize("n, h", [(32, 256), (5, 20), (1, 64)])
@pytest.mark.parametrize("lengths, reverse", [(None, False), ("packed", True), ("mixed", False)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_need_dw(kind, proj, relu, n, h, lengths, reverse, dtype, rng):
    """need_dw=False: dx, dh0 (and dc0) the bits of need_dw=True, on 1 and 2 threads alike, and
    the weight and bias gradients None (every path: serial, split by sequences, by units)."""
    t = 4
    if lengths == "packed":
        lengths = sorted(rng.integers(1, t + 1, n).tolist(), reverse=True)
    elif lengths == "mixed":
        lengths = rng.integers(1, t + 1, n).tolist()
    args = _kernel_args(kind, rng, t, n, 7, h, dtype, proj)
    ref = None
    for threads in (1, 2):
        with at_threads(threads):
            full = _kernel_backward(kind, args, lengths, reverse, True, relu)
            frozen = _kernel_backward(kind, args, lengths, reverse, False, relu)
        n_state = 3 if kind == "lstm" else 2
        assert all(g is None for g in frozen[n_state:])
        assert all(g is not None for g in full[n_state : n_state + 4])
        for a, b in zip(full[:n_state], frozen[:n_state]):
            np.testing.assert_array_equal(a, b)
        if ref is None:
            ref = frozen[:n_state]
        for a, b in zip(ref, frozen[:n_state]):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_kernels_need_dw_empty_batch(kind, rng):
    args = _kernel_args(kind, rng, 3, 0, 4, 5, np.float32)
    out = _kernel_backward(kind, args, None, False, False)
    n_state = 3 if kind == "lstm" else 2
    assert out[0].shape == (3, 0, 4) and all(g is None for g in out[n_state:])
    full = _kernel_backward(kind, args, None, False, True)
    np.testing.assert_array_equal(full[n_state], np.zeros(args[3].shape))


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_kernels_need_dw_errors_unchanged(kind, rng):
    """Shapes are still checked with need_dw=False (the unread x too)."""
    x, h0, c0, w_ih, w_hh, b, _ = _kernel_args(kind, rng, 3, 2, 4, 5, np.float32)
    bad = x[:, :, :3].copy()
    y = np.zeros((3, 2, 5), np.float32)
    with pytest.raises(ValueError, match=r"w_ih must have shape \(\d+, 3\)"):
        if kind == "lstm":
            _C.lstm_backward(None, None, None, bad, h0, c0, w_ih, w_hh, True, None, False, y,
                             np.zeros((3, 2, 20), np.float32), y, need_dw=False)  # fmt: skip
        elif kind == "gru":
            _C.gru_backward(None, None, bad, h0, w_ih, w_hh, True, None, False, y,
                            np.zeros((3, 2, 15), np.float32), y, need_dw=False)  # fmt: skip
        else:
            _C.rnn_backward(None, None, bad, h0, w_ih, w_hh, True, None, False, "tanh", y,
                            need_dw=False)  # fmt: skip


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
def test_gradcheck_frozen(kind, rng):
    """float64 finite differences of the input and state gradients with constant weights."""
    g = {"lstm": 4, "gru": 3}.get(kind, 1)
    h, i = 3, 2
    x = ember.tensor(rng.standard_normal((3, 2, i)), requires_grad=True)
    h0 = ember.tensor(rng.standard_normal((2, h)), requires_grad=True)
    c0 = ember.tensor(rng.standard_normal((2, h)), requires_grad=True)
    w = [
        ember.tensor(rng.uniform(-0.6, 0.6, s))
        for s in ((g * h, i), (g * h, h), (g * h,), (g * h,))
    ]
    lens = [3, 2]
    if kind == "lstm":
        fn = lambda x, h0, c0: F.lstm_layer(x, (h0, c0), *w, lengths=lens)[0]  # noqa: E731
        assert gradcheck(fn, (x, h0, c0))
    elif kind == "gru":
        assert gradcheck(lambda x, h0: F.gru_layer(x, h0, *w, lengths=lens)[0], (x, h0))
    else:
        act = kind[4:]
        fn = lambda x, h0: F.rnn_layer(x, h0, *w, lengths=lens, nonlinearity=act)[0]  # noqa: E731
        assert gradcheck(fn, (x, h0))


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_write_into_input_after_frozen_forward(mode, dtype, rng):
    """Frozen weights: backward does not read x, so writing into it after the forward is allowed,
    as torch's float64 layers (and its GRU / RNN at float32) allow it; with trainable weights
    dW_ih reads x, and the write is refused as before."""
    m = _layer(ember, mode, 4, 5, dtype=dtype)
    x0 = ember.tensor(rng.standard_normal((3, 2, 4)).astype(dtype), requires_grad=True)
    m.requires_grad_(False)
    x = x0 * 1
    y, _ = m(x)
    x.add_(1.0)
    y.sum().backward()
    assert x0.grad is not None and all(p.grad is None for p in m.parameters())
    m.requires_grad_(True)
    x = x0 * 1
    y, _ = m(x)
    x.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# ---- the cells' direct calls outside a graph and their weights checked once ------------------


def _cell(name, dtype=np.float32):
    name, _, act = name.partition("_")
    return getattr(nn, name)(5, 6, dtype=dtype, **({"nonlinearity": act} if act else {}))


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell", "RNNCell_relu"])
@pytest.mark.parametrize("batch", [None, 1, 3])
@pytest.mark.parametrize("with_hx", [False, True])
def test_cell_direct_same_bits(name, batch, with_hx, rng):
    """Outside a graph (no_grad, or nothing requiring grad) the kernel is called directly: the
    bits of the recorded call, outputs that require no grad, unbatched shapes kept."""
    m = _cell(name)
    x = rng.standard_normal((5,) if batch is None else (batch, 5)).astype(np.float32)
    hshape = (6,) if batch is None else (batch, 6)
    hs = [ember.tensor(rng.standard_normal(hshape).astype(np.float32))
          for _ in range(2 if name == "LSTMCell" else 1)]  # fmt: skip
    hx = (tuple(hs) if name == "LSTMCell" else hs[0]) if with_hx else None
    rec = m(ember.tensor(x), hx)
    rec = rec if isinstance(rec, tuple) else (rec,)
    assert all(o.requires_grad and o.grad_fn is not None for o in rec)
    with ember.no_grad():
        direct = m(ember.tensor(x, requires_grad=True), hx)
    m.requires_grad_(False)
    bare = m(ember.tensor(x), hx)
    for outs in (direct, bare):
        outs = outs if isinstance(outs, tuple) else (outs,)
        for a, b in zip(rec, outs):
            assert not b.requires_grad and b.grad_fn is None
            assert b.shape == a.shape
            np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cell_weights_rechecked_when_replaced(name, rng):
    """The weights are checked once while the parameters and their arrays stay the same: a
    parameter given a new array (wrong shape, non-contiguous, another dtype) or replaced is
    checked again, with F's messages."""
    op = {"LSTMCell": "lstm_cell", "GRUCell": "gru_cell", "RNNCell": "rnn_cell"}[name]
    m = _cell(name)
    x = ember.tensor(rng.standard_normal((2, 5)), dtype=ember.float32)
    ref = m(x)
    ref = (ref if isinstance(ref, tuple) else (ref,))[0].data
    good = m.weight_hh.data
    m.weight_hh.data = np.zeros((good.shape[0], 7), np.float32)
    with pytest.raises(ValueError, match=rf"{op}: w_hh must have shape"):
        m(x)
    m.weight_hh.data = np.asfortranarray(good)  # non-contiguous: made contiguous, same values
    out = m(x)
    np.testing.assert_array_equal((out if isinstance(out, tuple) else (out,))[0].data, ref)
    m.weight_hh.data = good
    m.weight_ih = nn.Parameter(np.zeros((good.shape[0], 4), np.float32))
    with pytest.raises(ValueError, match=rf"{op}: input has inconsistent input_size"):
        m(x)
    m.weight_ih = nn.Parameter(np.zeros((good.shape[0], 5), np.float64))
    with pytest.raises(TypeError, match=rf"{op}: w_hh is float32, expected float64"):
        m(x)
    m.double()
    out = m(x.double())
    assert (out if isinstance(out, tuple) else (out,))[0].dtype == ember.float64


def test_rnn_cell_nonlinearity_attribute_checked(rng):
    m = nn.RNNCell(5, 6)
    m.nonlinearity = "gelu"
    with pytest.raises(ValueError, match="rnn_cell: nonlinearity must be 'tanh' or 'relu'"):
        m(ember.randn(2, 5))
