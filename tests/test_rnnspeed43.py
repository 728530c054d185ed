"""Round 43 (rnnspeed43): recurrent layers against torch 2.13 where earlier rounds left gaps:
PackedSequence (unsorted, with h0) through LSTM with projections / GRU / RNN, bidirectional and
stacked, on 1 and 2 threads; double backward through a layer; torch's state-dimension and
nonlinearity errors."""

import numpy as np
import pytest

import ember
from ember import nn
from ember._errors import BadShapeOrValue
from ember.autograd import gradgradcheck
from ember.nn.utils import rnn as eu

torch = pytest.importorskip("torch")
tu = torch.nn.utils.rnn


@pytest.fixture(params=[1, 2], ids=["1t", "2t"])
def threads(request):
    prev = ember.get_num_threads()
    ember.set_num_threads(request.param)
    yield request.param
    ember.set_num_threads(prev)


def _pair(mode, dtype=torch.float32, **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, mode)(**kw).to(dtype)
    em = getattr(nn, mode)(**kw, dtype=np.float32 if dtype == torch.float32 else np.float64)
    em.load_state_dict({k: ember.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()})
    assert [(k, tuple(v.shape)) for k, v in em.state_dict().items()] == [
        (k, tuple(v.shape)) for k, v in tm.state_dict().items()
    ]
    return em, tm


def _close(a, b, tol):
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "mode,kw",
    [
        ("LSTM", dict(proj_size=3)),
        ("LSTM", dict()),
        ("GRU", dict()),
        ("RNN", dict(nonlinearity="relu")),
    ],
)
@pytest.mark.parametrize("batch_first", [False, True])
def test_unsorted_packed_with_h0_stacked_bidirectional(mode, kw, batch_first, threads):
    # h0 given in the caller's batch order must be permuted by sorted_indices on the way in
    # and h_n back by unsorted_indices; outputs, states and every gradient as torch.
    em, tm = _pair(
        mode, input_size=5, hidden_size=6, num_layers=2, bidirectional=True,
        batch_first=batch_first, **kw,
    )  # fmt: skip
    rng = np.random.default_rng(1)
    lens = [3, 6, 1, 6, 4]
    shape = (5, 6, 5) if batch_first else (6, 5, 5)
    x = rng.standard_normal(shape).astype(np.float32)
    hw = kw.get("proj_size") or 6
    h0 = rng.standard_normal((4, 5, hw)).astype(np.float32)
    c0 = rng.standard_normal((4, 5, 6)).astype(np.float32)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    h0t, h0e = torch.tensor(h0, requires_grad=True), ember.tensor(h0, requires_grad=True)
    c0t, c0e = torch.tensor(c0, requires_grad=True), ember.tensor(c0, requires_grad=True)
    pt = tu.pack_padded_sequence(xt, lens, batch_first=batch_first, enforce_sorted=False)
    pe = eu.pack_padded_sequence(xe, lens, batch_first=batch_first, enforce_sorted=False)
    if mode == "LSTM":
        ot, (ht, ct) = tm(pt, (h0t, c0t))
        oe, (he, ce) = em(pe, (h0e, c0e))
        _close(ce, ct, 1e-5)
    else:
        ot, ht = tm(pt, h0t)
        oe, he = em(pe, h0e)
    _close(oe.data, ot.data, 1e-5)
    _close(he, ht, 1e-5)
    yt, lt = tu.pad_packed_sequence(ot, batch_first=batch_first, padding_value=-2.0, total_length=8)
    ye, le = eu.pad_packed_sequence(oe, batch_first=batch_first, padding_value=-2.0, total_length=8)
    _close(ye, yt, 1e-5)
    np.testing.assert_array_equal(np.asarray(le.numpy()), lt.numpy())
    w = rng.standard_normal(yt.shape).astype(np.float32)
    wh = rng.standard_normal(ht.shape).astype(np.float32)
    st = (yt * torch.tensor(w)).sum() + (ht * torch.tensor(wh)).sum()
    se = (ye * ember.tensor(w)).sum() + (he * ember.tensor(wh)).sum()
    if mode == "LSTM":
        st, se = st + ct.sum(), se + ce.sum()
    st.backward()
    se.backward()
    _close(xe.grad, xt.grad, 1e-4)
    _close(h0e.grad, h0t.grad, 1e-4)
    if mode == "LSTM":
        _close(c0e.grad, c0t.grad, 1e-4)
    for (k, p), (k2, q) in zip(em.named_parameters(), tm.named_parameters(), strict=True):
        assert k == k2
        _close(p.grad, q.grad, 1e-4)


def test_pack_sequence_unsorted_matches_torch():
    rng = np.random.default_rng(2)
    seqs = [rng.standard_normal((n, 3)).astype(np.float32) for n in (2, 4, 1, 4)]
    pt = tu.pack_sequence([torch.tensor(s) for s in seqs], enforce_sorted=False)
    pe = eu.pack_sequence([ember.tensor(s) for s in seqs], enforce_sorted=False)
    _close(pe.data, pt.data, 0)
    for a, b in zip(pe[1:], pt[1:], strict=True):
        np.testing.assert_array_equal(np.asarray(a.numpy()), b.numpy())
    with pytest.raises(RuntimeError, match="must be sorted in decreasing order"):
        eu.pack_sequence([ember.tensor(s) for s in seqs])
    with pytest.raises(ValueError, match="total_length"):
        eu.pad_packed_sequence(pe, total_length=3)
    out = eu.unpack_sequence(pe)
    for o, s in zip(out, seqs, strict=True):
        np.testing.assert_array_equal(o.numpy(), s)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_state_dims_must_match_input_dims_as_torch(mode):
    m = getattr(nn, mode)(3, 4)
    x2, x3 = ember.zeros(5, 3), ember.zeros(5, 2, 3)
    h3, h2 = ember.zeros(1, 1, 4), ember.zeros(1, 4)
    state = (lambda h: (h, h)) if mode == "LSTM" else (lambda h: h)
    with pytest.raises(RuntimeError, match="For unbatched 2-D input, hx .*should also be 2-D"):
        m(x2, state(h3))
    with pytest.raises(BadShapeOrValue, match="For batched 3-D input, hx .*should also be 3-D"):
        m(x3, state(h2))
    # the right dims with a wrong size still name the expected shape
    with pytest.raises(ValueError, match="Expected hidden size"):
        m(x3, state(ember.zeros(1, 3, 4)))


def test_nonlinearity_errors_as_torch():
    with pytest.raises(ValueError, match=r"Unknown nonlinearity 'gelu'\. Select from"):
        nn.RNN(3, 4, nonlinearity="gelu")
    torch.nn.RNNCell(3, 4, nonlinearity="gelu")  # torch builds the cell ...
    cell = nn.RNNCell(3, 4, nonlinearity="gelu")
    with pytest.raises(RuntimeError, match="Unknown nonlinearity: gelu"):  # ... forward refuses
        cell(ember.zeros(2, 3))
    cell.nonlinearity = "relu"
    assert cell(ember.zeros(2, 3)).shape == (2, 4)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_double_backward_through_layer_matches_torch(mode):
    # torch supports it: d/dw of sum(dy/dx * v) through a two-layer bidirectional layer.
    kw = dict(input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    em, tm = _pair(mode, torch.float64, **kw)
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 2, 3))
    v = rng.standard_normal((4, 2, 3))
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    (gt,) = torch.autograd.grad((tm(xt)[0] ** 2).sum(), xt, create_graph=True)
    (ge,) = ember.autograd.grad((em(xe)[0] ** 2).sum(), xe, create_graph=True)
    _close(ge, gt, 1e-10)
    (gt * torch.tensor(v)).sum().backward()
    (ge * ember.tensor(v)).sum().backward()
    _close(xe.grad, xt.grad, 1e-9)
    for (_, p), (_, q) in zip(em.named_parameters(), tm.named_parameters(), strict=True):
        _close(p.grad, q.grad, 1e-9)


def test_gradgradcheck_lstm_with_projection():
    m = nn.LSTM(2, 3, proj_size=2, dtype=np.float64)
    rng = np.random.default_rng(4)
    x = ember.tensor(rng.standard_normal((3, 2, 2)), requires_grad=True)
    h0 = ember.tensor(rng.standard_normal((1, 2, 2)), requires_grad=True)
    c0 = ember.tensor(rng.standard_normal((1, 2, 3)), requires_grad=True)
    assert gradgradcheck(lambda a, b, c: m(a, (b, c))[0], (x, h0, c0))


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_dropout_warning_and_flatten_parameters_as_torch(mode):
    with pytest.warns(UserWarning) as ours:
        m = getattr(nn, mode)(3, 4, dropout=0.25)
    with pytest.warns(UserWarning) as theirs:
        getattr(torch.nn, mode)(3, 4, dropout=0.25)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    x = ember.tensor(np.random.default_rng(5).standard_normal((3, 2, 3)).astype(np.float32))
    y = m(x)[0].numpy()
    assert m.flatten_parameters() is None
    np.testing.assert_array_equal(m(x)[0].numpy(), y)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_packed_batch_large_enough_to_split_matches_torch(mode, threads):
    # 24 sequences (three 8-row blocks), 64 units: the kernels' multi-thread splits run at 2
    # threads; values and gradients as torch either way.
    em, tm = _pair(mode, input_size=16, hidden_size=64, bidirectional=True)
    rng = np.random.default_rng(6)
    lens = rng.integers(1, 8, 24).tolist()
    x = rng.standard_normal((7, 24, 16)).astype(np.float32)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    ot, ht = tm(tu.pack_padded_sequence(xt, lens, enforce_sorted=False))
    oe, he = em(eu.pack_padded_sequence(xe, lens, enforce_sorted=False))
    ht, he = (ht[0], he[0]) if mode == "LSTM" else (ht, he)
    _close(oe.data, ot.data, 1e-5)
    _close(he, ht, 1e-5)
    w = rng.standard_normal(tuple(ot.data.shape)).astype(np.float32)
    ((ot.data * torch.tensor(w)).sum() + ht.sum()).backward()
    ((oe.data * ember.tensor(w)).sum() + he.sum()).backward()
    _close(xe.grad, xt.grad, 1e-4)
    for (_, p), (_, q) in zip(em.named_parameters(), tm.named_parameters(), strict=True):
        _close(p.grad, q.grad, 2e-4)


@pytest.mark.parametrize("n,distinct", [(5, 2), (17, 1), (32, 1), (40, 3), (300, 6), (64, 64)])
def test_unsorted_ties_packed_in_torchs_order(n, distinct):
    # torch.sort(lengths, descending=True) reorders ties beyond 16 sequences (libstdc++'s
    # introsort): sorted_indices and the rows of data follow it, not a stable sort.
    rng = np.random.default_rng(n)
    lens = rng.permutation(np.arange(n) % distinct + 1) if distinct < n else rng.permutation(n) + 1
    x = rng.standard_normal((int(lens.max()), n, 2)).astype(np.float32)
    pt = tu.pack_padded_sequence(torch.tensor(x), torch.tensor(lens), enforce_sorted=False)
    pe = eu.pack_padded_sequence(ember.tensor(x), lens, enforce_sorted=False)
    np.testing.assert_array_equal(pe.sorted_indices.numpy(), pt.sorted_indices.numpy())
    np.testing.assert_array_equal(pe.unsorted_indices.numpy(), pt.unsorted_indices.numpy())
    np.testing.assert_array_equal(pe.data.numpy(), pt.data.numpy())
    seqs = [x[: lens[i], i] for i in range(n)]
    ps = eu.pack_sequence([ember.tensor(s) for s in seqs], enforce_sorted=False)
    np.testing.assert_array_equal(ps.data.numpy(), pt.data.numpy())
