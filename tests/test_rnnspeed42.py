"""Round 42: a layer's output that nn.RNN / LSTM / GRU only join (the directions' cat, dropout,
the next layer) and the cells' discarded sequence output are not copied; the backward kernels
read dy at its strides (rows contiguous), refusing others at the C++ boundary. Outputs and gradients
against torch with copied weights (bidirectional, stacked, dropout, projections, packed,
batch_first, float32 / float64, 1 and 2 threads), writes into the returned output after forward,
and float64 gradients by finite differences."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import _C, nn
from ember._errors import BadShapeOrValue
from ember.autograd import gradcheck
from ember.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence
from ember.nn.utils.stateless import functional_call


def _pair(kind, dtype, i=5, h=7, **kw):
    torch = pytest.importorskip("torch")
    ours = getattr(nn, kind)(i, h, **kw).to(ember.float32 if dtype == "float32" else ember.float64)
    ref = getattr(torch.nn, kind)(i, h, **kw).to(getattr(torch, dtype))
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(getattr(ours, name).detach().numpy()))
    return ours, ref, torch


def _close(got, want, dtype):
    tol = 3e-5 if dtype == "float32" else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * max(1.0, np.abs(want).max()))


CONFIGS = [
    {"bidirectional": True},
    {"num_layers": 2},
    {"num_layers": 3, "bidirectional": True, "batch_first": True},
    {"num_layers": 2, "dropout": 0.4},  # (eval below: the identity)
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kw", CONFIGS)
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_joined_layers_match_torch(kind, kw, dtype, threads):
    ours, ref, torch = _pair(kind, dtype, **kw)
    ours.eval()
    ref.eval()
    T, N = 6, 9
    rng = np.random.default_rng(len(kw) * 10 + threads)
    shape = (N, T, 5) if kw.get("batch_first") else (T, N, 5)
    x = rng.standard_normal(shape).astype(dtype)
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_()
    with at_threads(threads):
        ye, he = ours(xe)
    yt, ht = ref(xt)
    dy = rng.standard_normal(yt.shape).astype(dtype)
    with at_threads(threads):
        (ye * ember.tensor(dy)).sum().backward()
    (yt * torch.from_numpy(dy)).sum().backward()
    _close(ye.numpy(), yt.detach().numpy(), dtype)
    he, ht = (he[0], ht[0]) if kind == "LSTM" else (he, ht)
    _close(he.numpy(), ht.detach().numpy(), dtype)
    _close(xe.grad.numpy(), xt.grad.numpy(), dtype)
    for name, p in ref.named_parameters():
        _close(getattr(ours, name).grad.numpy(), p.grad.numpy(), dtype)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_joined_packed_and_projections_match_torch(kind):
    kw = {"num_layers": 2, "bidirectional": True}
    if kind == "LSTM":
        kw["proj_size"] = 4
    ours, ref, torch = _pair(kind, "float64", **kw)
    T, N = 7, 6
    rng = np.random.default_rng(42)
    x = rng.standard_normal((T, N, 5))
    lengths = [7, 3, 5, 1, 7, 2]
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_()
    oe = pad_packed_sequence(ours(pack_padded_sequence(xe, lengths, enforce_sorted=False))[0])[0]
    ot = torch.nn.utils.rnn.pad_packed_sequence(
        ref(torch.nn.utils.rnn.pack_padded_sequence(xt, lengths, enforce_sorted=False))[0]
    )[0]
    _close(oe.numpy(), ot.detach().numpy(), "float64")
    w = rng.standard_normal(ot.shape)
    (oe * ember.tensor(w)).sum().backward()
    (ot * torch.from_numpy(w)).sum().backward()
    _close(xe.grad.numpy(), xt.grad.numpy(), "float64")
    for name, p in ref.named_parameters():
        _close(getattr(ours, name).grad.numpy(), p.grad.numpy(), "float64")


@pytest.mark.parametrize("kw", [{}, {"bidirectional": True}, {"num_layers": 2}])
@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_write_into_output_after_forward(kind, kw):
    # the returned output is an array of its own: writing into it before backward changes no
    # gradient the layers make (torch's float64 layers allow it too)
    ours, ref, torch = _pair(kind, "float64", **kw)
    x = np.random.default_rng(5).standard_normal((4, 3, 5))
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_()
    ye, yt = ours(xe)[0], ref(xt)[0]
    with ember.no_grad():
        ye.data[...] = 7.0
    with torch.no_grad():
        yt.fill_(7.0)
    ye.sum().backward()
    yt.sum().backward()
    _close(xe.grad.numpy(), xt.grad.numpy(), "float64")
    for name, p in ref.named_parameters():
        _close(getattr(ours, name).grad.numpy(), p.grad.numpy(), "float64")


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_stacked_bidirectional_gradcheck(kind):
    ember.manual_seed(0)
    m = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True).to(ember.float64)
    rng = np.random.default_rng(8)
    x = ember.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    w = m.weight_hh_l1_reverse.detach().clone().requires_grad_()

    def f(x, w_hh):  # x and the second layer's reverse recurrent weights
        return functional_call(m, {"weight_hh_l1_reverse": w_hh}, (x,))[0]

    assert gradcheck(f, (x, w))


def test_stacked_dropout_training_gradcheck():
    # dropout between layers in training: the same mask every call (seeded), the joined first
    # layer's output reaches it uncopied
    ember.manual_seed(0)
    m = nn.LSTM(2, 3, num_layers=2, dropout=0.5).to(ember.float64)
    x = ember.tensor(np.random.default_rng(9).standard_normal((3, 2, 2)), requires_grad=True)

    def f(x):
        ember.manual_seed(1)
        return m(x)[0]

    assert gradcheck(f, (x,))
    ember.manual_seed(1)
    a = m(x)[0].numpy()
    ember.manual_seed(1)
    assert np.array_equal(a, m(x)[0].numpy())


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_recorded_cells_match_torch(kind):
    # a recorded cell discards the layer's sequence output (not copied): 5 steps against torch
    torch = pytest.importorskip("torch")
    ours = getattr(nn, kind)(5, 7).to(ember.float64)
    ref = getattr(torch.nn, kind)(5, 7).double()
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(getattr(ours, name).detach().numpy()))
    xs = np.random.default_rng(12).standard_normal((5, 4, 5))
    xe = ember.tensor(xs, requires_grad=True)
    xt = torch.from_numpy(xs).requires_grad_()
    se = st = None
    for t in range(5):
        se, st = ours(xe[t], se), ref(xt[t], st)
    he, ht = (se[0] * se[1], st[0] * st[1]) if kind == "LSTMCell" else (se, st)
    _close(he.numpy(), ht.detach().numpy(), "float64")
    he.sum().backward()
    ht.sum().backward()
    _close(xe.grad.numpy(), xt.grad.numpy(), "float64")
    for name, p in ref.named_parameters():
        _close(getattr(ours, name).grad.numpy(), p.grad.numpy(), "float64")


def _backward_args(kind, dt):
    """_C's forward on seeded arrays -> a function of dy running its backward (all gradients)."""
    rng = np.random.default_rng(21)
    T, N, I, H = 4, 5, 3, 6
    g = {"lstm": 4, "gru": 3, "rnn": 1}[kind]
    x = rng.standard_normal((T, N, I)).astype(dt)
    h0 = rng.standard_normal((N, H)).astype(dt)
    w_ih = (rng.standard_normal((g * H, I)) * 0.5).astype(dt)
    w_hh = (rng.standard_normal((g * H, H)) * 0.5).astype(dt)
    b = (rng.standard_normal(g * H) * 0.1).astype(dt)
    if kind == "lstm":
        c0 = rng.standard_normal((N, H)).astype(dt)
        y, _, _, gates, cells, _ = _C.lstm_forward(
            x, h0, c0, w_ih, w_hh, b, b, None, False, None, True
        )
        return lambda dy: _C.lstm_backward(
            dy, None, None, x, h0, c0, w_ih, w_hh, True, None, False, y, gates, cells, None, None,
            True, True, True,
        )  # fmt: skip
    if kind == "gru":
        y, _, gates, hn = _C.gru_forward(x, h0, w_ih, w_hh, b, b, None, False, True)
        return lambda dy: _C.gru_backward(
            dy, None, x, h0, w_ih, w_hh, True, None, False, y, gates, hn, True, True, True
        )
    y, _ = _C.rnn_forward(x, h0, w_ih, w_hh, b, b, None, False, "tanh")
    return lambda dy: _C.rnn_backward(
        dy, None, x, h0, w_ih, w_hh, True, None, False, "tanh", y, True, True, True
    )


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_backward_kernels_read_strided_dy(kind, dt):
    # dy read in place at its step / row strides (a direction's slice of the joined gradient, a
    # batch_first one transposed, a step broadcast): the same gradients as from a contiguous copy
    run = _backward_args(kind, dt)
    rng = np.random.default_rng(22)
    wide = rng.standard_normal((4, 5, 13)).astype(dt)
    views = [
        wide[:, :, :6],
        wide[:, :, 7:],
        rng.standard_normal((5, 4, 6)).astype(dt).transpose(1, 0, 2),
        np.broadcast_to(rng.standard_normal((1, 5, 6)).astype(dt), (4, 5, 6)),
    ]
    for dy in views:
        want = run(np.ascontiguousarray(dy))
        got = run(dy)
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kind", ["lstm", "gru", "rnn"])
def test_backward_kernels_refuse_unreadable_dy(kind):
    run = _backward_args(kind, np.float64)
    dy = np.random.default_rng(23).standard_normal((4, 5, 12))
    for bad in (dy[::-1, :, :6], dy[:, :, ::2]):  # a negative step stride; rows not contiguous
        with pytest.raises(BadShapeOrValue, match="dy must have contiguous rows"):
            run(bad)
    with pytest.raises(BadShapeOrValue, match="dy"):
        run(dy)  # (4, 5, 12) for H = 6


def test_layer_backward_reversed_dy_matches_torch():
    # a dy the kernels cannot read in place (negative strides) is copied first
    ours, ref, torch = _pair("LSTM", "float64", bidirectional=True)
    rng = np.random.default_rng(24)
    x = rng.standard_normal((5, 3, 5))
    dy = rng.standard_normal((5, 3, 14))[::-1, ::-1]
    xe = ember.tensor(x, requires_grad=True)
    xt = torch.from_numpy(x).requires_grad_()
    ours(xe)[0].backward(ember.tensor(dy))
    ref(xt)[0].backward(torch.from_numpy(dy.copy()))
    _close(xe.grad.numpy(), xt.grad.numpy(), "float64")
