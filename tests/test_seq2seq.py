"""Attention modules, the seq2seq model, and greedy / beam search against exhaustive search."""

import itertools

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F
from ember.nn.seq2seq import (
    AdditiveAttention,
    DotAttention,
    Seq2Seq,
    beam_search,
    greedy_decode,
)

V, EOS, BOS = 4, 0, 3


def _markov(seed):
    """A first-order Markov 'model': the state is the previous token; log p(next | prev)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((V, V)) * 2
    table = logits - np.log(np.exp(logits).sum(1, keepdims=True))

    def step(tokens, state):
        return table[tokens], state + 1

    return step, table


def _exhaustive(table, max_len, alpha):
    """The best hypothesis by sum(log p) / len**alpha over every sequence that ends with EOS
    or reaches max_len."""
    best, best_seq = -np.inf, None
    for n in range(1, max_len + 1):
        for seq in itertools.product(range(V), repeat=n):
            if EOS in seq[:-1] or (n < max_len and seq[-1] != EOS):
                continue
            prev, s = BOS, 0.0
            for t in seq:
                s += table[prev, t]
                prev = t
            score = s / n**alpha
            if score > best:
                best, best_seq = score, seq
    return best_seq, best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("alpha", [0.0, 0.7, 1.0])
def test_wide_beam_equals_exhaustive_search(seed, alpha):
    step, table = _markov(seed)
    max_len = 4
    seqs, scores = beam_search(step, np.zeros(2), BOS, EOS, max_len, beam_width=V**max_len,
                               length_penalty=alpha, batch_size=2)  # fmt: skip
    ref_seq, ref_score = _exhaustive(table, max_len, alpha)
    for row in range(2):
        got = list(seqs[row])
        if EOS in got:
            got = got[: got.index(EOS) + 1]
        assert tuple(got) == ref_seq
        assert scores[row] == pytest.approx(ref_score)


@pytest.mark.parametrize("seed", range(4))
def test_width_one_beam_is_greedy(seed):
    step, _ = _markov(seed)
    g = greedy_decode(step, np.zeros(3), BOS, EOS, 6, batch_size=3)
    b, _ = beam_search(step, np.zeros(3), BOS, EOS, 6, beam_width=1, batch_size=3)
    np.testing.assert_array_equal(g, b)


def test_length_penalty_prefers_longer():
    # From BOS: EOS (p 0.5) or 'a' (0.5); after 'a': EOS (0.7) or 'a' (0.3). Raw log-probability
    # prefers [EOS] (log 0.5 > log 0.35); per-token average prefers [a, EOS].
    table = np.log(
        np.array([[1, 1e-12, 1e-12, 1e-12], [0.7, 0.3, 1e-12, 1e-12], [1, 1, 1, 1],
                  [0.5, 0.5, 1e-12, 1e-12]])
    )  # fmt: skip

    def step(tokens, state):
        return table[tokens], state

    short, _ = beam_search(step, np.zeros(1), BOS, EOS, 5, beam_width=3, length_penalty=0.0)
    long, _ = beam_search(step, np.zeros(1), BOS, EOS, 5, beam_width=3, length_penalty=1.0)
    assert list(short[0][:1]) == [EOS]
    assert list(long[0][:2]) == [1, EOS]


def test_decode_bad_args():
    step, _ = _markov(0)
    with pytest.raises(ValueError, match="beam_width"):
        beam_search(step, np.zeros(1), BOS, EOS, 3, beam_width=0)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(step, np.zeros(1), BOS, EOS, 0)
    with pytest.raises(ValueError, match="length_penalty"):
        beam_search(step, np.zeros(1), BOS, EOS, 3, length_penalty=-1)


@pytest.mark.parametrize("kind", ["additive", "dot", "general"])
def test_attention_weights_mask_and_gradcheck(kind, rng):
    if kind == "additive":
        att = AdditiveAttention(3, 4, 5, dtype=np.float64)
    elif kind == "dot":
        att = DotAttention()
    else:
        att = DotAttention(3, 4, scaled=True, dtype=np.float64)
    hk = 3 if kind == "dot" else 4
    q = ember.tensor(rng.standard_normal((2, 3)), requires_grad=True)
    k = ember.tensor(rng.standard_normal((2, 5, hk)), requires_grad=True)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=bool)
    ctx, w = att(q, k, mask=mask)
    assert ctx.shape == (2, hk) and w.shape == (2, 5)
    np.testing.assert_allclose(w.numpy().sum(1), 1.0)
    assert np.all(w.numpy()[0, 3:] < 1e-12)
    np.testing.assert_allclose(ctx.numpy(), np.einsum("ns,nsh->nh", w.numpy(), k.numpy()))
    assert gradcheck(lambda q, k: att(q, k, mask=mask), (q, k))
    with pytest.raises(ValueError):
        att(q, k.reshape(10, hk))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("attention", ["additive", "dot"])
def test_seq2seq_shapes_grads_and_decoding(cell, attention):
    m = Seq2Seq(9, 7, 8, 16, cell=cell, attention=attention)
    src = np.array([[3, 4, 5, 6], [3, 4, 0, 0]])
    tgt_in = np.array([[1, 5, 6], [1, 2, 2]])
    logits = m(src, tgt_in, src_lengths=[4, 2])
    assert logits.shape == (2, 3, 7)
    F.cross_entropy(logits.reshape(-1, 7), np.array([5, 6, 2, 2, 2, 2])).backward()
    assert all(p.grad is not None for p in m.parameters())
    g = m.greedy(src, 1, 2, 5, src_lengths=[4, 2])
    b, s = m.beam_search(src, 1, 2, 5, beam_width=1, src_lengths=[4, 2])
    np.testing.assert_array_equal(g, b)
    b3, s3 = m.beam_search(src, 1, 2, 5, beam_width=3, src_lengths=[4, 2])
    # a wider beam never finds a worse hypothesis here (up to float32 rounding: beam widths 1 and
    # 3 score the same hypothesis through differently batched products, ~1e-7 apart)
    assert np.all(s3 >= s - 1e-5)
    # the padded source positions do not matter
    src2 = src.copy()
    src2[1, 2:] = 8
    np.testing.assert_allclose(m(src2, tgt_in, src_lengths=[4, 2]).numpy(), logits.numpy())
