"""Differences from PyTorch 2.13 found by a differential sweep of the recurrent layers, packed
sequences, embeddings and seq2seq decoding; each test compares with torch (or states the error
ember must give where torch has none)."""

import warnings

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F
from ember.nn import seq2seq
from ember.nn.utils import rnn as rnn_utils

torch = pytest.importorskip("torch")


def _from_torch(e, t):
    e.load_state_dict({k: v.detach().numpy().copy() for k, v in t.state_dict().items()})
    return e


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_flat_weights_follow_the_parameters_as_torch(kind):
    t, e = getattr(torch.nn, kind)(3, 4, 2), getattr(nn, kind)(3, 4, 2)
    _from_torch(e, t)
    w = np.random.default_rng(0).standard_normal(tuple(t.weight_hh_l1.shape)).astype(np.float32)
    t.weight_hh_l1 = torch.nn.Parameter(torch.tensor(w))
    e.weight_hh_l1 = nn.Parameter(w.copy())
    assert len(e._flat_weights) == len(t._flat_weights)
    for a, b in zip(t._flat_weights, e._flat_weights):
        np.testing.assert_array_equal(a.detach().numpy(), b.numpy())


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_non_bool_bidirectional_builds_and_forward_refuses_as_torch(kind):
    t, e = getattr(torch.nn, kind)(2, 3, bidirectional=1), getattr(nn, kind)(2, 3, bidirectional=1)
    assert repr(e) == repr(t)  # "..., bidirectional=1)"
    assert len(list(e.parameters())) == len(list(t.parameters()))
    with pytest.raises(TypeError):
        t(torch.zeros(1, 2, 2))
    with pytest.raises(TypeError, match="bidirectional should be of type bool"):
        e(ember.zeros(1, 2, 2))


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_repr_shows_a_non_bool_bias_as_torch(kind):
    for bias in (False, 0, 1):
        assert repr(getattr(nn, kind)(3, 4, bias=bias)) == repr(
            getattr(torch.nn, kind)(3, 4, bias=bias)
        )


def test_pack_padded_sequence_truncates_real_lengths_as_torch():
    x = np.random.default_rng(0).standard_normal((4, 3, 2)).astype(np.float32)
    for lengths in ([3.7, 2.2, 1.0], np.array([4.0, 2.9, 1.5])):
        pt = torch.nn.utils.rnn.pack_padded_sequence(torch.tensor(x), torch.as_tensor(lengths))
        pe = rnn_utils.pack_padded_sequence(ember.tensor(x), lengths)
        np.testing.assert_array_equal(pe.data.numpy(), pt.data.numpy())
        np.testing.assert_array_equal(pe.batch_sizes.numpy(), pt.batch_sizes.numpy())
    with pytest.raises(ValueError, match="finite"):
        rnn_utils.pack_padded_sequence(ember.tensor(x), [np.nan, 2.0, 1.0])


def test_unpad_sequence_takes_an_empty_sequence_as_torch():
    x = np.random.default_rng(0).standard_normal((4, 3, 2))
    out_t = torch.nn.utils.rnn.unpad_sequence(torch.tensor(x), torch.tensor([4, 0, 2]))
    out_e = rnn_utils.unpad_sequence(ember.tensor(x), ember.tensor(np.array([4, 0, 2])))
    assert [tuple(o.shape) for o in out_e] == [tuple(o.shape) for o in out_t]
    for a, b in zip(out_e, out_t):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_pad_sequence_takes_the_first_sequences_dtype_as_torch():
    a, b = np.ones((2, 3), np.float32), np.full((1, 3), 2.5)
    for seqs in ((a, b), (b, a), (np.ones((1, 2), np.int64), np.full((2, 2), 2.7))):
        yt = torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs])
        ye = rnn_utils.pad_sequence([ember.tensor(s) for s in seqs])
        assert ye.dtype == yt.numpy().dtype
        np.testing.assert_array_equal(ye.numpy(), yt.numpy())


def test_packed_sequence_is_pinned_as_torch():
    p = rnn_utils.pack_sequence([ember.ones(2, 1), ember.ones(1, 1)])
    assert p.is_pinned() is False


@pytest.mark.parametrize("batch_sizes", [[2, 3], [3, 0, 2], [3, 3]])
def test_a_packed_sequence_whose_batch_sizes_do_not_fit_is_refused(batch_sizes):
    # torch fails inside its kernel (RuntimeError) or reads past data; ember names the problem
    data = np.zeros((5, 2), np.float32)
    packed = rnn_utils.PackedSequence(ember.tensor(data), ember.tensor(np.array(batch_sizes)))
    with pytest.raises(ValueError, match="batch_sizes"):
        nn.GRU(2, 3)(packed)
    with pytest.raises(ValueError, match="batch_sizes"):
        rnn_utils.pad_packed_sequence(packed)


@pytest.mark.parametrize("size", [(0, 3), (4, 0)])
def test_embedding_with_an_empty_table_or_zero_width_as_torch(size):
    idx = [] if size[0] == 0 else [1, 3]
    yt = torch.nn.Embedding(*size)(torch.tensor(idx, dtype=torch.long))
    ye = nn.Embedding(*size)(np.array(idx, np.int64))
    assert ye.shape == tuple(yt.shape)
    yb = nn.EmbeddingBag(*size)(np.array([idx], np.int64).reshape(1, -1)) if idx else None
    if yb is not None:
        assert yb.shape == tuple(torch.nn.EmbeddingBag(*size)(torch.tensor([idx])).shape)


def test_embedding_bag_max_mode_refuses_sparse_as_torch():
    w = np.ones((4, 2), np.float32)
    with pytest.raises(ValueError):
        torch.nn.functional.embedding_bag(
            torch.tensor([[0, 1]]), torch.tensor(w), mode="max", sparse=True
        )
    with pytest.raises(ValueError, match="max mode does not support sparse"):
        F.embedding_bag(np.array([[0, 1]]), ember.tensor(w), mode="max", sparse=True)
    with pytest.raises(ValueError, match="max mode does not support sparse"):
        nn.EmbeddingBag(4, 2, mode="max", sparse=True)(np.array([[0, 1]]))


# ---- seq2seq / decoding: bad input gets a clear error naming the argument ---------------------


@pytest.fixture
def model():
    ember.manual_seed(0)
    return seq2seq.Seq2Seq(10, 12, 4, 5)


_SRC, _TGT = np.array([[1, 2, 3], [4, 5, 0]]), np.array([[1, 2], [1, 3]])


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda m: m(np.array([1, 2, 3]), _TGT), "src must be"),
        (lambda m: m(np.zeros((2, 0), np.int64), _TGT), "src must be"),
        (lambda m: m(_SRC, _TGT[:1]), "tgt_in must be"),
        (lambda m: m(_SRC, np.zeros((2, 0), np.int64)), "tgt_in must be"),
        (lambda m: m(_SRC, _TGT, teacher_forcing_ratio=2), "teacher_forcing_ratio"),
        (lambda m: m.greedy(_SRC, 20, 2, 5), "bos"),
        (lambda m: m.greedy(_SRC, True, 2, 5), "bos"),
        (lambda m: m.beam_search(_SRC, 1, 50, 5), "eos"),
        (lambda m: m.beam_search(_SRC, 1, 2, 5, beam_width=True), "beam_width"),
        (lambda m: m.beam_search(_SRC, 1, 2, 5, length_penalty=float("nan")), "length_penalty"),
    ],
)
def test_seq2seq_bad_input_is_refused_clearly(model, call, match):
    with pytest.raises(ValueError, match=match):
        call(model)


def test_decoding_checks_what_step_fn_returns():
    def rows(extra):
        return lambda t, s: (np.zeros((len(t) + extra, 5)), s)

    with pytest.raises(ValueError, match=r"log-probabilities \(4, V\) for 4 tokens"):
        seq2seq.beam_search(rows(1), None, 1, 2, 3)
    with pytest.raises(ValueError, match=r"\(1, V\) for 1 tokens"):
        seq2seq.greedy_decode(rows(1), None, 1, 2, 3)
    with pytest.raises(ValueError, match="eos .7. must be below the vocabulary size 5"):
        seq2seq.greedy_decode(rows(0), None, 1, 7, 3)
    with pytest.raises(TypeError, match="must return a pair"):
        seq2seq.beam_search(lambda t, s: "x", None, 1, 2, 3)
    with pytest.raises(TypeError, match="length_penalty must be a number"):
        seq2seq.beam_search(rows(0), None, 1, 2, 3, length_penalty="a")
    # a well-formed step_fn still decodes: a fixed distribution picks eos (3) first; the
    # result is padded with eos while the other beam runs on
    lp = np.log(np.array([0.05, 0.05, 0.1, 0.7, 0.1]))
    toks, _ = seq2seq.beam_search(lambda t, s: (np.tile(lp, (len(t), 1)), s), None, 1, 3, 4, 2)
    assert toks.shape[0] == 1 and (toks == 3).all()


# ---- double backward (create_graph=True) through the fused layers, as torch's CPU RNNs -------


@pytest.mark.parametrize(
    "kind, kw, packed",
    [
        ("LSTM", dict(num_layers=2, bidirectional=True), True),
        ("LSTM", dict(proj_size=2, bias=False), False),
        ("GRU", dict(bidirectional=True), True),
        ("RNN", dict(nonlinearity="tanh", num_layers=2), False),
        ("RNN", dict(nonlinearity="relu", bidirectional=True), True),
    ],
)
def test_double_backward_through_recurrent_layers_matches_torch(kind, kw, packed):
    torch.manual_seed(0)
    t = getattr(torch.nn, kind)(2, 3, **kw).double()
    e = _from_torch(getattr(nn, kind)(2, 3, **kw).double(), t)
    x = np.random.default_rng(1).standard_normal((4, 3, 2))
    lens = [2, 4, 1]
    res = []
    for lib, mod in ((torch, t), (ember, e)):
        xx = lib.tensor(x, requires_grad=True)
        inp = xx
        if packed:
            utils = torch.nn.utils.rnn if lib is torch else rnn_utils
            inp = utils.pack_padded_sequence(xx, lens, enforce_sorted=False)
        out, state = mod(inp)
        out = out.data if packed else out
        h = state[0] if kind == "LSTM" else state
        w = mod.weight_hh_l0
        gx, gw = lib.autograd.grad(out.sin().sum() + (h * h).sum(), (xx, w), create_graph=True)
        ((gx * gx).sum() + (gw * gw).sum()).backward()
        res.append([gx, gw, xx.grad] + [p.grad for p in mod.parameters()])
    for a, b in zip(*res):
        np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cell_double_backward_passes_gradgradcheck(kind):
    ember.manual_seed(0)
    cell = getattr(nn, kind)(2, 3).double()
    x = ember.randn(2, 2, dtype=np.float64, requires_grad=True)
    h = ember.randn(2, 3, dtype=np.float64, requires_grad=True)

    def f(x, h):
        out = cell(x, (h, h * 0.5) if kind == "LSTMCell" else h)
        return out[0] * out[1] if kind == "LSTMCell" else out

    assert ember.autograd.gradgradcheck(f, (x, h))


def test_packed_sequence_constructor_and_conversions_as_torch():
    data = np.random.default_rng(0).standard_normal((5, 2)).astype(np.float32)
    bs, order = np.array([3, 2]), np.array([2, 0, 1])
    pt = torch.nn.utils.rnn.PackedSequence(
        torch.tensor(data), torch.tensor(bs), torch.tensor(order)
    )
    pe = rnn_utils.PackedSequence(ember.tensor(data), ember.tensor(bs), ember.tensor(order))
    np.testing.assert_array_equal(pe.unsorted_indices.numpy(), pt.unsorted_indices.numpy())
    pair = rnn_utils.PackedSequence((ember.tensor(data), ember.tensor(bs)))
    np.testing.assert_array_equal(pair.batch_sizes.numpy(), bs)
    assert pair.sorted_indices is None and pair.unsorted_indices is None
    for conv in ("double", "float", "half", "long", "int", "short", "byte", "char"):
        got, want = getattr(pe, conv)(), getattr(pt, conv)()
        assert isinstance(got, rnn_utils.PackedSequence)
        np.testing.assert_array_equal(got.data.numpy(), want.data.numpy())
        np.testing.assert_array_equal(got.unsorted_indices.numpy(), want.unsorted_indices.numpy())
    assert pe.pin_memory() is pe
    assert pe.float() is pe and pe.to(np.float32) is pe and pe.double() is not pe
    with pytest.raises(TypeError, match="data, batch_sizes"):
        rnn_utils.PackedSequence(ember.tensor(data))


def test_embedding_looks_up_an_integer_table_as_torch():
    w = np.arange(15).reshape(5, 3)
    idx = np.array([[1, 4], [0, 1]])
    want = torch.nn.functional.embedding(torch.tensor(idx), torch.tensor(w), padding_idx=1)
    got = F.embedding(ember.tensor(idx), ember.tensor(w), padding_idx=1)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(
        F.embedding(ember.tensor(idx), ember.tensor(w > 6)).numpy(),
        torch.nn.functional.embedding(torch.tensor(idx), torch.tensor(w > 6)).numpy(),
    )
    with pytest.raises(RuntimeError):
        torch.nn.functional.embedding(torch.tensor(idx), torch.tensor(w), max_norm=1.0)
    with pytest.raises(TypeError, match="max_norm needs a floating point weight"):
        F.embedding(ember.tensor(idx), ember.tensor(w), max_norm=1.0)
    with pytest.raises(IndexError):
        F.embedding(ember.tensor(np.array([5])), ember.tensor(w))


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN"])
def test_forward_mode_ad_through_recurrent_layers_matches_torch(kind):
    torch.manual_seed(0)
    t = getattr(torch.nn, kind)(2, 3, bidirectional=True).double()
    e = _from_torch(getattr(nn, kind)(2, 3, bidirectional=True).double(), t)
    rng = np.random.default_rng(0)
    x, v = rng.standard_normal((3, 2, 2)), rng.standard_normal((3, 2, 2))
    from ember.autograd import forward_ad as efa

    with warnings.catch_warnings():  # (torch's forward_ad module warns about torch.jit)
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch.autograd.forward_ad as tfa

        with tfa.dual_level():
            x_dual = tfa.make_dual(torch.tensor(x), torch.tensor(v))
            want = tfa.unpack_dual(t(x_dual)[0]).tangent
    with efa.dual_level():
        got = efa.unpack_dual(e(efa.make_dual(ember.tensor(x), ember.tensor(v)))[0]).tangent
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("max_norm", [0.1, 100.0])
def test_embedding_max_norm_is_an_in_place_write_as_torch(max_norm):
    # torch's embedding_renorm_ bumps the weight's version (even when no row changes): a node
    # that saved the weight before refuses to backward instead of using the new values
    w0 = np.random.default_rng(0).standard_normal((5, 3)) * 3
    for lib, fn in ((torch, torch.nn.functional.embedding), (ember, F.embedding)):
        w = lib.tensor(w0.copy(), requires_grad=True)
        saved = (w * w).sum()
        version = w._version
        fn(lib.tensor(np.array([1, 2])), w, max_norm=max_norm)
        assert w._version == version + 1
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            saved.backward()
    # the lookups themselves keep nothing of the weight: two renormalising lookups backward
    emb = nn.Embedding(5, 3, max_norm=1.0)
    (emb(np.array([1])).sum() + emb(np.array([1, 2])).sum()).backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[1:3], [[2, 2, 2], [1, 1, 1]])


def test_lstm_cell_refuses_a_state_pair_holding_none_as_torch():
    x, h = np.ones((4, 2), np.float32), np.ones((4, 3), np.float32)
    for hx in ((h, None), (None, None)):
        with pytest.raises(AttributeError):
            torch.nn.LSTMCell(2, 3)(
                torch.tensor(x), tuple(None if a is None else torch.tensor(a) for a in hx)
            )
        with pytest.raises(TypeError, match="hx must be None or a tuple"):
            nn.LSTMCell(2, 3)(
                ember.tensor(x), tuple(None if a is None else ember.tensor(a) for a in hx)
            )


def test_embedding_freeze_without_weight_and_a_non_int_padding_idx_as_torch():
    assert torch.nn.Embedding(3, 2, _freeze=True).weight.requires_grad is False
    assert nn.Embedding(3, 2, _freeze=True).weight.requires_grad is False
    for cls in (nn.Embedding, nn.EmbeddingBag):
        with pytest.raises(IndexError):
            getattr(torch.nn, cls.__name__)(3, 2, padding_idx=1.0)
        with pytest.raises(TypeError, match="padding_idx must be int"):
            cls(3, 2, padding_idx=1.0)


def test_rnn_base_refuses_an_unknown_mode_as_torch():
    with pytest.raises(ValueError, match="Unrecognized RNN mode"):
        torch.nn.RNNBase("FOO", 2, 3)
    with pytest.raises(ValueError, match="Unrecognized RNN mode: FOO"):
        nn.RNNBase("FOO", 2, 3)


def test_packing_functions_check_their_flags_and_total_length_as_torch():
    x = np.random.default_rng(0).standard_normal((4, 3, 2)).astype(np.float32)
    tr, xt, xe = torch.nn.utils.rnn, torch.tensor(x), ember.tensor(x)
    pt, pe = tr.pack_padded_sequence(xt, [4, 2, 1]), rnn_utils.pack_padded_sequence(xe, [4, 2, 1])
    bad = [
        (lambda: tr.pack_padded_sequence(xt, [4, 2, 1], batch_first=1),
         lambda: rnn_utils.pack_padded_sequence(xe, [4, 2, 1], batch_first=1)),
        (lambda: tr.pad_packed_sequence(pt, batch_first=1),
         lambda: rnn_utils.pad_packed_sequence(pe, batch_first=1)),
        (lambda: tr.pad_sequence([xt[0]], batch_first=1),
         lambda: rnn_utils.pad_sequence([xe[0]], batch_first=1)),
        (lambda: tr.pad_packed_sequence(pt, total_length=5.0),
         lambda: rnn_utils.pad_packed_sequence(pe, total_length=5.0)),
        (lambda: tr.pad_packed_sequence(pt, padding_value="a"),
         lambda: rnn_utils.pad_packed_sequence(pe, padding_value="a")),
    ]  # fmt: skip
    for t_call, e_call in bad:
        with pytest.raises(TypeError):
            t_call()
        with pytest.raises(TypeError, match="must be"):
            e_call()
    # what torch takes: an int 0-d tensor as total_length, a bool as padding_value
    for kw_t, kw_e in (
        (dict(total_length=torch.tensor(6)), dict(total_length=ember.tensor(np.array(6)))),
        (dict(padding_value=True), dict(padding_value=True)),
    ):
        want = tr.pad_packed_sequence(pt, **kw_t)[0]
        np.testing.assert_array_equal(rnn_utils.pad_packed_sequence(pe, **kw_e)[0].numpy(), want)


def test_embedding_from_pretrained_shares_the_given_weight_as_torch():
    w0 = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32) * 4
    for cls in ("Embedding", "EmbeddingBag"):
        wt, we = torch.tensor(w0.copy()), ember.tensor(w0.copy())
        mt = getattr(torch.nn, cls).from_pretrained(wt, max_norm=1.0)
        me = getattr(nn, cls).from_pretrained(we, max_norm=1.0)
        assert mt.weight.data_ptr() == wt.data_ptr() and np.shares_memory(me.weight.data, we.data)
        idx = [[0, 2]] if cls == "EmbeddingBag" else [0, 2]
        mt(torch.tensor(idx)), me(ember.tensor(np.array(idx)))
        np.testing.assert_allclose(we.numpy(), wt.numpy(), rtol=1e-6)  # renormalised in place


def test_double_backward_through_inter_layer_dropout():
    # torch differentiates its dropout mask twice too; the mask is fixed by the seed per call
    ember.manual_seed(0)
    lstm = nn.LSTM(2, 3, 2, dropout=0.5).double()
    x = ember.randn(3, 2, 2, dtype=np.float64, requires_grad=True)

    def f(x):
        ember.manual_seed(1)
        return lstm(x)[0]

    assert ember.autograd.gradgradcheck(f, (x,))
