"""Round-38 fuzz of the sequence models against torch (RNN / LSTM / GRU and cells, attention,
transformer, embedding, seq2seq decoding): the differences found (refusals of torch's type,
now fixed), the embedding_bag sum / mean call that goes straight to C++, and a seeded sample
of the configurations the fuzz compared."""

import itertools

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue

torch = pytest.importorskip("torch")


def _raises_like(fe, ft):
    """Both calls raise, ember's exception an instance of torch's type."""
    with pytest.raises(Exception) as et:
        ft()
    with pytest.raises(type(et.value)):
        fe()


def _mod(lib, name, *args, **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(*args, **kw)
    if lib is torch:
        return tm
    em = getattr(ember.nn, name)(*args, **kw)
    em.load_state_dict(tm.state_dict())
    return em


def _f32(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


X, X1 = _f32(3, 2, 4), _f32(3, 4, seed=1)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize(
    "case",
    [
        "input_size",  # input.size(-1) is not input_size: RuntimeError
        "h0_batch",  # h0 of another batch: RuntimeError
        "h0_rank_batched",  # 2-D h0 with 3-D input: RuntimeError
        "h0_rank_unbatched",  # 3-D h0 with 2-D input: RuntimeError
        "no_steps",  # seq_len 0: RuntimeError
        "f64_input",  # input dtype is not the weights': ValueError
        "int_input",
    ],
)
def test_rnn_refusals_have_torchs_type(kind, case):
    def run(lib):
        def st(h):
            h = lib.tensor(h)
            return (h, h) if kind == "LSTM" else h

        m = _mod(lib, kind, 3 if case == "input_size" else 4, 5)
        x = {"no_steps": X[:0], "f64_input": X.astype(np.float64)}.get(case, X)
        x = x.astype(np.int64) if case == "int_input" else x
        hx = {
            "h0_batch": _f32(1, 3, 5),
            "h0_rank_batched": _f32(1, 5),
            "h0_rank_unbatched": _f32(1, 1, 5),
        }.get(case)
        if case == "h0_rank_unbatched":
            x = X1
        return m(lib.tensor(x), None if hx is None else st(hx))

    _raises_like(lambda: run(ember), lambda: run(torch))


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("case", ["input_size", "hx_batch", "hx_size", "hx_rank"])
def test_cell_refusals_are_runtime_errors(kind, case):
    def run(lib):
        m = _mod(lib, kind, 3 if case == "input_size" else 4, 5)
        h = {"hx_batch": _f32(2, 5), "hx_size": _f32(3, 4), "hx_rank": _f32(1, 5)}.get(case)
        x = X1[0] if case == "hx_rank" else X1
        if h is not None:
            h = lib.tensor(h)
            h = (h, h) if kind == "LSTMCell" else h
        return m(lib.tensor(x), h)

    _raises_like(lambda: run(ember), lambda: run(torch))
    with pytest.raises(BadShapeOrValue):
        run(ember)


@pytest.mark.parametrize(
    "kw",
    [
        {"attn_mask": np.zeros((2, 2, 3, 5), bool)},  # 4-D: torch asserts
        {"attn_mask": np.zeros((3, 5), np.int64)},  # neither bool nor float: asserts
        {"key_padding_mask": np.zeros((2, 5), np.int64)},
        {"attn_mask": np.zeros((3, 5))},  # float64 mask, float32 logits: RuntimeError
    ],
)
def test_mha_mask_refusals_have_torchs_type(kw):
    q, k = _f32(3, 2, 4), _f32(5, 2, 4, seed=1)

    def run(lib):
        m = _mod(lib, "MultiheadAttention", 4, 2)
        return m(
            lib.tensor(q), lib.tensor(k), lib.tensor(k), **{n: lib.tensor(v) for n, v in kw.items()}
        )

    _raises_like(lambda: run(ember), lambda: run(torch))


def test_embedding_refusals_have_torchs_type():
    for cls in ("Embedding", "EmbeddingBag"):
        _raises_like(
            lambda c=cls: getattr(ember.nn, c).from_pretrained(ember.tensor(_f32(4))),
            lambda c=cls: getattr(torch.nn, c).from_pretrained(torch.tensor(_f32(4))),
        )
    w = np.ones((4, 3), np.int64)
    _raises_like(
        lambda: ember.nn.functional.embedding_bag(
            ember.tensor([1, 2]), ember.tensor(w), ember.tensor([0])
        ),
        lambda: torch.nn.functional.embedding_bag(
            torch.tensor([1, 2]), torch.tensor(w), torch.tensor([0])
        ),
    )


@pytest.mark.parametrize("mode", ["sum", "mean"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("last", [False, True])
def test_embedding_bag_plain_call_matches_torch(mode, dtype, last):
    rng = np.random.default_rng(3)
    w = rng.standard_normal((7, 5)).astype(dtype)
    idx = rng.integers(0, 7, 12)
    off = np.array([0, 0, 4, 9, 12] if last else [0, 0, 4, 9, 12][:-1])
    g = rng.standard_normal((len(off) - last, 5)).astype(dtype)
    outs = []
    for lib in (ember, torch):
        wt = lib.tensor(w, requires_grad=True)
        o = lib.nn.functional.embedding_bag(
            lib.tensor(idx), wt, lib.tensor(off), mode=mode, include_last_offset=last
        )
        (o * lib.tensor(g)).sum().backward()
        outs.append((o.detach().numpy(), wt.grad.numpy()))
    tol = 1e-6 if dtype == np.float32 else 1e-12
    for a, b in zip(*outs):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.mark.parametrize(
    "idx, off",
    [
        ([1, 2], [1]),  # offsets[0] must be 0
        ([1, 2, 3], [0, 2, 1]),  # decreasing
        ([1, 2, 3], [0, 5]),  # past the end
        ([1, 4], [0]),  # index out of range
        ([1, -1], [0]),
    ],
)
def test_embedding_bag_plain_call_refuses_as_torch(idx, off):
    w = _f32(4, 3)
    _raises_like(
        lambda: ember.nn.functional.embedding_bag(
            ember.tensor(idx), ember.tensor(w), ember.tensor(off)
        ),
        lambda: torch.nn.functional.embedding_bag(
            torch.tensor(idx), torch.tensor(w), torch.tensor(off)
        ),
    )


def test_embedding_bag_strided_arguments():
    """Non-contiguous indices, offsets or table take the checked path: torch's values."""
    w = _f32(3, 4)
    res = []
    for lib in (ember, torch):
        F = lib.nn.functional
        res.append(
            [
                F.embedding_bag(
                    lib.tensor([1, 9, 2, 9, 3, 9])[::2], lib.tensor(_f32(4, 3)), lib.tensor([0, 1])
                ),
                F.embedding_bag(
                    lib.tensor([1, 2, 3]), lib.tensor(_f32(4, 3)), lib.tensor([0, 9, 1, 9])[::2]
                ),
                F.embedding_bag(lib.tensor([1, 2, 3]), lib.tensor(w).t(), lib.tensor([0, 1])),
            ]
        )
    for a, b in zip(*res):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-6)


def _rnn_lockstep(seed):
    """One drawn configuration of RNN / LSTM / GRU: copied weights, packed or padded input,
    given or default states; outputs, states and every gradient against torch."""
    rng = np.random.default_rng(seed)
    kind = str(rng.choice(["RNN", "LSTM", "GRU"]))
    i, h, n, t = (int(v) for v in rng.integers(1, 5, 4))
    kw = dict(num_layers=int(rng.integers(1, 3)), bias=bool(rng.random() < 0.7))
    kw.update(batch_first=bool(rng.random() < 0.5), bidirectional=bool(rng.random() < 0.5))
    if kind == "LSTM" and h > 1 and rng.random() < 0.5:
        kw["proj_size"] = int(rng.integers(1, h))
    if kind == "RNN":
        kw["nonlinearity"] = str(rng.choice(["tanh", "relu"]))
    d = 2 if kw["bidirectional"] else 1
    x = rng.standard_normal((n, t, i) if kw["batch_first"] else (t, n, i))
    h0 = rng.standard_normal((d * kw["num_layers"], n, kw.get("proj_size") or h))
    c0 = rng.standard_normal((d * kw["num_layers"], n, h))
    lengths = rng.integers(1, t + 1, n) if rng.random() < 0.5 else None
    give = bool(rng.random() < 0.5)
    res = []
    for lib in (ember, torch):
        m = _mod(lib, kind, i, h, **kw).double()
        xs, hs, cs = (lib.tensor(a, requires_grad=True) for a in (x, h0, c0))
        inp = xs
        if lengths is not None:
            inp = lib.nn.utils.rnn.pack_padded_sequence(
                xs, lib.tensor(lengths), batch_first=kw["batch_first"], enforce_sorted=False
            )
        out, st = m(inp, ((hs, cs) if kind == "LSTM" else hs) if give else None)
        if lengths is not None:
            out, _ = lib.nn.utils.rnn.pad_packed_sequence(
                out, batch_first=kw["batch_first"], padding_value=-1.5, total_length=t
            )
        st = st if isinstance(st, tuple) else (st,)
        g = np.random.default_rng(seed + 1)
        loss = (out * lib.tensor(g.standard_normal(tuple(out.shape)))).sum()
        for s in st:
            loss = loss + (s * lib.tensor(g.standard_normal(tuple(s.shape)))).sum()
        loss.backward()
        vals = [out, *st, xs.grad] + (
            [hs.grad, cs.grad if kind == "LSTM" else None] if give else []
        )
        vals += [p.grad for _, p in sorted(m.named_parameters(), key=lambda kv: kv[0])]
        res.append([None if v is None else v.detach().numpy() for v in vals])
    for a, b in zip(*res):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", range(12))
def test_rnn_lockstep_sample(seed):
    _rnn_lockstep(seed)


@pytest.mark.parametrize("seed", range(6))
def test_beam_search_finds_the_exhaustive_best(seed):
    """A beam as wide as every sequence finds the best normalised score; width 1 is greedy."""
    from ember.nn.seq2seq import beam_search, greedy_decode

    rng = np.random.default_rng(seed)
    v, max_len, eos, bos = int(rng.integers(2, 4)), int(rng.integers(1, 4)), 0, 1
    alpha = float(rng.choice([0.0, 0.5, 1.0]))
    tab = rng.standard_normal((v, v)) * 2
    tab -= np.log(np.exp(tab).sum(1, keepdims=True))

    def step(tokens, state):
        return tab[tokens], state

    g = greedy_decode(step, None, bos, eos, max_len)
    b1, _ = beam_search(step, None, bos, eos, max_len, 1)
    np.testing.assert_array_equal(g, b1)
    _, score = beam_search(step, None, bos, eos, max_len, v**max_len, alpha)
    best = -np.inf
    for ln in range(1, max_len + 1):
        for seq in itertools.product(range(v), repeat=ln):
            if eos in seq[:-1] or (ln < max_len and seq[-1] != eos):
                continue
            s = sum(tab[p, c] for p, c in zip((bos, *seq[:-1]), seq))
            best = max(best, s / ln**alpha if alpha else s)
    np.testing.assert_allclose(score[0], best, rtol=1e-12)


def test_mha_forward_static_k_of_another_length_with_a_mask_refused_as_torch():
    """torch checks attn_mask against key's length and then applies it to static_k's: with a
    static_k of another length every mask is refused (a RuntimeError)."""
    rng = np.random.default_rng(5)
    q, k = rng.standard_normal((2, 2, 2)), rng.standard_normal((3, 2, 2))
    ipw, opw, sk = (
        rng.standard_normal((6, 2)),
        rng.standard_normal((2, 2)),
        rng.standard_normal((2, 2, 2)),
    )

    def run(lib, mask_len, static_len):
        t = lib.tensor
        return lib.nn.functional.multi_head_attention_forward(
            t(q), t(k), t(k), 2, 1, t(ipw), None, None, None, False, 0.0, t(opw), None,
            attn_mask=t(np.zeros((2, mask_len))), static_k=t(sk[:, :static_len]),
            static_v=t(sk[:, :static_len]),
        )  # fmt: skip

    for mask_len in (2, 3):
        _raises_like(lambda m=mask_len: run(ember, m, 2), lambda m=mask_len: run(torch, m, 2))
    sk = rng.standard_normal((2, 3, 2))  # static_k as long as key: both take the mask
    o_e, w_e = run(ember, 3, 3)
    o_t, w_t = run(torch, 3, 3)
    np.testing.assert_allclose(o_e.numpy(), o_t.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(w_e.numpy(), w_t.numpy(), rtol=1e-10, atol=1e-12)


def test_embedding_bag_unknown_mode_refused():
    w, i, o = _f32(4, 3), [1, 2], [0]
    _raises_like(
        lambda: ember.nn.functional.embedding_bag(
            ember.tensor(i), ember.tensor(w), ember.tensor(o), mode="prod"
        ),
        lambda: torch.nn.functional.embedding_bag(
            torch.tensor(i), torch.tensor(w), torch.tensor(o), mode="prod"
        ),
    )


@pytest.mark.parametrize("need_weights", [True, False])
def test_mha_dropout_out_of_range_refused_in_training_only(need_weights):
    """torch builds MultiheadAttention with any dropout; training forward refuses one outside
    [0, 1], eval forward runs."""
    q = _f32(3, 2, 4)

    def run(lib, train):
        m = _mod(lib, "MultiheadAttention", 4, 2, dropout=1.5).train(train)
        return m(lib.tensor(q), lib.tensor(q), lib.tensor(q), need_weights=need_weights)[0]

    _raises_like(lambda: run(ember, True), lambda: run(torch, True))
    np.testing.assert_allclose(
        run(ember, False).numpy(), run(torch, False).detach().numpy(), rtol=1e-5, atol=1e-6
    )
