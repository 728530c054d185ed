"""Sequence-to-sequence with attention: an RNN encoder, additive (Bahdanau) or dot-product
(Luong) attention over its states, an attentional decoder trained with teacher forcing, and
decoding by greedy search or beam search.

``greedy_decode`` and ``beam_search`` are model-agnostic: they drive any
``step_fn(tokens, state) -> (log_probs, new_state)`` whose state is a (nested) tuple / list /
dict of Tensors or arrays with the batch as their first dimension.

Example::

    >>> model = Seq2Seq(src_vocab=12, tgt_vocab=12, embed_dim=16, hidden_size=32)
    >>> src = np.array([[3, 4, 5, 6]])
    >>> logits = model(src, np.array([[1, 7, 8]]))        # teacher forcing
    >>> logits.shape
    (1, 3, 12)
    >>> tokens, scores = model.beam_search(src, bos=1, eos=2, max_len=5, beam_width=3)
"""

from __future__ import annotations

import numpy as np

from ember import ops
from ember.autograd.function import no_grad
from ember.nn import functional as F
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.nn.modules.rnn import GRU, LSTM, GRUCell, LSTMCell
from ember.nn.modules.sparse import Embedding
from ember.random import rng as _global_rng
from ember.tensor import Tensor

_NEG = -1e9  # masked attention scores (finite: no NaN when a whole row is masked)


def _masked_softmax(scores: Tensor, mask) -> Tensor:
    if mask is not None:
        m = np.asarray(mask.data if isinstance(mask, Tensor) else mask, dtype=bool)
        if m.shape != scores.shape:
            raise ValueError(f"attention: mask shape {m.shape} must equal scores {scores.shape}")
        scores = ops.where(m, scores, Tensor(np.asarray(_NEG, dtype=scores.dtype)))
    return F.softmax(scores, dim=1)


def _check_attn(op, query, keys, values):
    if query.ndim != 2 or keys.ndim != 3 or query.shape[0] != keys.shape[0]:
        raise ValueError(
            f"{op}: expected query (N, Hq) and keys (N, S, Hk), got {query.shape} and {keys.shape}"
        )
    if values.ndim != 3 or values.shape[:2] != keys.shape[:2]:
        raise ValueError(f"{op}: values {values.shape} must be (N, S, Hv) like keys {keys.shape}")


class AdditiveAttention(Module):
    """Bahdanau attention: score(q, k_s) = v^T tanh(W_q q + W_k k_s).

    Shape: query (N, query_size), keys (N, S, key_size), values (N, S, Hv) (default: keys),
    mask (N, S) bool, True where a key is valid -> (context (N, Hv), weights (N, S)).
    ``project_keys(keys)`` computes W_k k once per source; pass it as ``projected_keys``.
    """

    def __init__(self, query_size: int, key_size: int, hidden_size: int, dtype=None):
        super().__init__()
        self.w_q = Linear(query_size, hidden_size, bias=False, dtype=dtype)
        self.w_k = Linear(key_size, hidden_size, bias=True, dtype=dtype)
        self.v = Linear(hidden_size, 1, bias=False, dtype=dtype)

    def project_keys(self, keys):
        return self.w_k(keys)

    def forward(self, query, keys, values=None, mask=None, projected_keys=None):
        values = keys if values is None else values
        _check_attn("AdditiveAttention", query, keys, values)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        e = (pk + self.w_q(query).unsqueeze(1)).tanh()  # (N, S, A)
        w = _masked_softmax(self.v(e).squeeze(2), mask)  # (N, S)
        ctx = (w.unsqueeze(1) @ values).squeeze(1)  # (N, Hv)
        return ctx, w


class DotAttention(Module):
    """Luong attention: score(q, k_s) = q . k_s ("dot"), or q . W k_s ("general", when
    ``query_size`` and ``key_size`` are given), optionally scaled by 1/sqrt(key_size).

    Shape: as :class:`AdditiveAttention`.
    """

    def __init__(self, query_size=None, key_size=None, scaled: bool = False, dtype=None):
        super().__init__()
        self.scaled = scaled
        self.general = query_size is not None and key_size is not None
        self.w = Linear(key_size, query_size, bias=False, dtype=dtype) if self.general else None

    def project_keys(self, keys):
        return self.w(keys) if self.general else keys

    def forward(self, query, keys, values=None, mask=None, projected_keys=None):
        values = keys if values is None else values
        _check_attn("DotAttention", query, keys, values)
        pk = self.project_keys(keys) if projected_keys is None else projected_keys
        if pk.shape[2] != query.shape[1]:
            raise ValueError(
                f"DotAttention: query size {query.shape[1]} != key size {pk.shape[2]}; give "
                "query_size and key_size for the 'general' form"
            )
        s = (pk @ query.unsqueeze(2)).squeeze(2)  # (N, S)
        if self.scaled:
            s = s * (1.0 / np.sqrt(pk.shape[2]))
        w = _masked_softmax(s, mask)
        return (w.unsqueeze(1) @ values).squeeze(1), w


class Encoder(Module):
    """Embedding + LSTM/GRU over the source (batch_first).

    forward(src (N, S) ints, lengths=None) -> (outputs (N, S, H), state of the last layer:
    (h, c) each (N, H) for the LSTM, h (N, H) for the GRU).
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, cell="lstm", num_layers=1,
                 dropout=0.0, padding_idx=None, dtype=None):  # fmt: skip
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"Encoder: cell must be 'lstm' or 'gru', got {cell!r}")
        self.cell = cell
        self.embedding = Embedding(vocab_size, embed_dim, padding_idx, dtype=dtype)
        rnn = LSTM if cell == "lstm" else GRU
        self.rnn = rnn(embed_dim, hidden_size, num_layers, batch_first=True, dropout=dropout,
                       dtype=dtype)  # fmt: skip

    def forward(self, src, lengths=None):
        shape = np.shape(src.data if isinstance(src, Tensor) else src)
        if len(shape) != 2 or shape[1] < 1:
            raise ValueError(f"Encoder: src must be (N, S) token ids with S >= 1, got {shape}")
        out, state = self.rnn(self.embedding(src), lengths=lengths)
        if self.cell == "lstm":
            return out, (state[0][-1], state[1][-1])
        return out, state[-1]


class AttnDecoder(Module):
    """An attentional LSTM/GRU decoder (Bahdanau's arrangement):

        context_t = attention(h_{t-1}, encoder outputs)
        h_t = cell([embed(y_{t-1}); context_t], h_{t-1})
        logits_t = W_out [h_t; context_t]

    ``step`` runs one step; ``forward`` runs a whole target with teacher forcing (ratio 1) or
    feeds back its own argmax with probability 1 - teacher_forcing_ratio per step.
    """

    def __init__(self, vocab_size, embed_dim, hidden_size, context_size, cell="lstm",
                 attention="additive", padding_idx=None, dtype=None):  # fmt: skip
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"AttnDecoder: cell must be 'lstm' or 'gru', got {cell!r}")
        self.cell_type = cell
        self.embedding = Embedding(vocab_size, embed_dim, padding_idx, dtype=dtype)
        if attention == "additive":
            attention = AdditiveAttention(hidden_size, context_size, hidden_size, dtype=dtype)
        elif attention == "dot":
            general = hidden_size != context_size
            attention = DotAttention(hidden_size if general else None,
                                     context_size if general else None, dtype=dtype)  # fmt: skip
        elif not isinstance(attention, Module):
            raise ValueError(f"AttnDecoder: attention must be 'additive', 'dot' or a Module, "
                             f"got {attention!r}")  # fmt: skip
        self.attention = attention
        c = LSTMCell if cell == "lstm" else GRUCell
        self.cell = c(embed_dim + context_size, hidden_size, dtype=dtype)
        self.out = Linear(hidden_size + context_size, vocab_size, dtype=dtype)

    def memory(self, enc_out, mask=None):
        """What every step reads: (encoder outputs, mask, projected keys)."""
        return (enc_out, mask, self.attention.project_keys(enc_out))

    def step(self, tokens, state, memory):
        """tokens (N,) ints, state (h, c) or h, memory from ``memory`` -> (logits (N, V),
        new state, attention weights (N, S))."""
        enc_out, mask, pk = memory
        h = state[0] if self.cell_type == "lstm" else state
        ctx, w = self.attention(h, enc_out, mask=mask, projected_keys=pk)
        x = ops.cat([self.embedding(tokens), ctx], dim=1)
        state = self.cell(x, state)
        h = state[0] if self.cell_type == "lstm" else state
        return self.out(ops.cat([h, ctx], dim=1)), state, w

    def forward(self, tgt_in, state, memory, teacher_forcing_ratio: float = 1.0):
        tgt = np.asarray(tgt_in.data if isinstance(tgt_in, Tensor) else tgt_in)
        n = memory[0].shape[0]
        if tgt.ndim != 2 or tgt.shape[0] != n or tgt.shape[1] < 1:
            raise ValueError(
                f"AttnDecoder: tgt_in must be (N, T) token ids with N = {n} (the source batch) "
                f"and T >= 1, got {tgt.shape}"
            )
        r = teacher_forcing_ratio
        if isinstance(r, bool) or not isinstance(r, int | float) or not 0 <= r <= 1:
            raise ValueError(f"AttnDecoder: teacher_forcing_ratio must lie in [0, 1], got {r!r}")
        logits = []
        tokens = tgt[:, 0]
        for t in range(tgt.shape[1]):
            out, state, _ = self.step(tokens, state, memory)
            logits.append(out)
            if t + 1 < tgt.shape[1]:
                use_teacher = teacher_forcing_ratio >= 1.0 or (
                    _global_rng().random() < teacher_forcing_ratio
                )
                tokens = tgt[:, t + 1] if use_teacher else out.data.argmax(1)
        return ops.stack(logits, dim=1)


class Seq2Seq(Module):
    """Encoder + attentional decoder.

    Args:
        src_vocab, tgt_vocab: vocabulary sizes. embed_dim, hidden_size: layer sizes.
        cell: 'lstm' or 'gru'. attention: 'additive' or 'dot'. num_layers: encoder layers.
        padding_idx: the padding token of the source (masked out of attention via lengths).

    forward(src (N, S), tgt_in (N, T), src_lengths=None, teacher_forcing_ratio=1.0)
    -> logits (N, T, tgt_vocab), tgt_in starting with the BOS token.
    """

    def __init__(self, src_vocab, tgt_vocab, embed_dim, hidden_size, cell="lstm",
                 attention="additive", num_layers=1, dropout=0.0, padding_idx=None,
                 dtype=None):  # fmt: skip
        super().__init__()
        self.encoder = Encoder(src_vocab, embed_dim, hidden_size, cell, num_layers, dropout,
                               padding_idx, dtype)  # fmt: skip
        self.decoder = AttnDecoder(tgt_vocab, embed_dim, hidden_size, hidden_size, cell,
                                   attention, padding_idx, dtype)  # fmt: skip

    def encode(self, src, src_lengths=None):
        """-> (decoder state, memory)."""
        enc_out, state = self.encoder(src, lengths=src_lengths)
        mask = None
        if src_lengths is not None:
            lens = np.asarray(src_lengths.data if isinstance(src_lengths, Tensor) else src_lengths)
            mask = np.arange(enc_out.shape[1])[None, :] < lens[:, None]
        return state, self.decoder.memory(enc_out, mask)

    def forward(self, src, tgt_in, src_lengths=None, teacher_forcing_ratio: float = 1.0):
        state, memory = self.encode(src, src_lengths)
        return self.decoder(tgt_in, state, memory, teacher_forcing_ratio)

    def _check_tokens(self, bos, eos):
        v = self.decoder.out.out_features
        for name, t in (("bos", bos), ("eos", eos)):
            if isinstance(t, int | np.integer) and not isinstance(t, bool) and t >= v:
                raise ValueError(f"Seq2Seq: {name} ({t}) must be below tgt_vocab ({v})")

    def _step_fn(self):
        def step(tokens, st):
            state, memory = st
            logits, state, _ = self.decoder.step(tokens, state, memory)
            return F.log_softmax(logits, dim=1), (state, memory)

        return step

    @no_grad()
    def greedy(self, src, bos: int, eos: int, max_len: int, src_lengths=None):
        """Greedy decoding -> tokens (N, L) (after EOS: EOS)."""
        self._check_tokens(bos, eos)
        st = self.encode(src, src_lengths)
        return greedy_decode(self._step_fn(), st, bos, eos, max_len, batch_size=len(src))

    @no_grad()
    def beam_search(self, src, bos: int, eos: int, max_len: int, beam_width: int = 4,
                    length_penalty: float = 0.0, src_lengths=None):  # fmt: skip
        """Beam search -> (tokens (N, L), normalised log-probabilities (N,))."""
        self._check_tokens(bos, eos)
        st = self.encode(src, src_lengths)
        return beam_search(self._step_fn(), st, bos, eos, max_len, beam_width, length_penalty,
                           batch_size=len(src))  # fmt: skip


# ---- decoding -----------------------------------------------------------------------------


def _map_state(state, fn):
    if state is None:
        return None
    if isinstance(state, Tensor):
        return Tensor._make(fn(state.data), False, None, 0)
    if isinstance(state, np.ndarray):
        return fn(state)
    if isinstance(state, tuple | list):
        return type(state)(_map_state(s, fn) for s in state)
    if isinstance(state, dict):
        return {k: _map_state(v, fn) for k, v in state.items()}
    raise TypeError(f"decoding: cannot index a state of type {type(state).__name__}")


def _step(step_fn, tokens, state, eos) -> tuple[np.ndarray, object]:
    """One call of step_fn, checked: -> (log-probabilities (B, V) float64, new state)."""
    out = step_fn(tokens, state)
    if not isinstance(out, tuple | list) or len(out) != 2:
        raise TypeError("decoding: step_fn must return a pair (log_probs, new_state)")
    lp, state = out
    a = np.asarray(lp.data if isinstance(lp, Tensor) else lp, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] != tokens.shape[0]:
        raise ValueError(
            f"decoding: step_fn must return log-probabilities ({tokens.shape[0]}, V) for "
            f"{tokens.shape[0]} tokens, got {a.shape}"
        )
    if eos >= a.shape[1]:
        raise ValueError(f"decoding: eos ({eos}) must be below the vocabulary size {a.shape[1]}")
    return a, state


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _check_decode_args(bos, eos, max_len, batch_size):
    for name, v in (("bos", bos), ("eos", eos)):
        if not _is_int(v) or v < 0:
            raise ValueError(f"decoding: {name} must be a token id >= 0, got {v!r}")
    if not _is_int(max_len) or max_len < 1:
        raise ValueError(f"decoding: max_len must be an int >= 1, got {max_len!r}")
    if not _is_int(batch_size) or batch_size < 1:
        raise ValueError(f"decoding: batch_size must be an int >= 1, got {batch_size!r}")


@no_grad()
def greedy_decode(step_fn, state, bos: int, eos: int, max_len: int, batch_size: int = 1):
    """Pick the most likely token at every step.

    Args:
        step_fn: (tokens (B,) int64, state) -> (log-probabilities (B, V), new state).
        state: the initial state (batch first).
        bos, eos: start and end token ids. max_len: most tokens to produce.

    Returns: tokens (batch_size, L) int64, L <= max_len; rows that ended are padded with eos.
    """
    _check_decode_args(bos, eos, max_len, batch_size)
    tokens = np.full(batch_size, bos, dtype=np.int64)
    done = np.zeros(batch_size, dtype=bool)
    out = []
    for _ in range(max_len):
        lp, state = _step(step_fn, tokens, state, eos)
        tokens = lp.argmax(1).astype(np.int64)
        tokens[done] = eos
        out.append(tokens)
        done |= tokens == eos
        if done.all():
            break
    return np.stack(out, axis=1)


@no_grad()
def beam_search(step_fn, state, bos: int, eos: int, max_len: int, beam_width: int = 4,
                length_penalty: float = 0.0, batch_size: int = 1):  # fmt: skip
    """Beam search with length normalisation.

    Keeps the ``beam_width`` best hypotheses per batch item, ranked by
    ``sum(log p) / length ** length_penalty`` (0: raw log-probability; 1: per-token average).
    A hypothesis ends at ``eos`` (counted in its length) and keeps its score; the search stops
    when every beam has ended or after ``max_len`` tokens.

    Args:
        step_fn: (tokens (B,) int64, state) -> (log-probabilities (B, V), new state); B is
            batch_size * beam_width, the state's first dimension follows B.
        state: the initial state for batch_size rows; it is repeated beam_width times.
        bos, eos: start and end token ids. max_len: most tokens. beam_width: >= 1.
        length_penalty: alpha >= 0 of the normalisation.

    Returns: (tokens (batch_size, L) int64 padded with eos after the end, scores (batch_size,)
    the normalised log-probabilities of the chosen hypotheses).
    """
    _check_decode_args(bos, eos, max_len, batch_size)
    if not _is_int(beam_width) or beam_width < 1:
        raise ValueError(f"beam_search: beam_width must be an int >= 1, got {beam_width!r}")
    lpen = length_penalty
    if isinstance(lpen, bool) or not isinstance(lpen, int | float | np.floating | np.integer):
        raise TypeError(f"beam_search: length_penalty must be a number, got {lpen!r}")
    if not 0 <= lpen < np.inf:  # (NaN fails too)
        raise ValueError(f"beam_search: length_penalty must be finite and >= 0, got {lpen}")
    n, k = batch_size, int(beam_width)
    state = _map_state(state, lambda a: np.repeat(a, k, axis=0))
    scores = np.full((n, k), -np.inf)
    scores[:, 0] = 0.0  # one live hypothesis at the start: no duplicate beams
    lengths = np.zeros((n, k))
    finished = np.zeros((n, k), dtype=bool)
    history = np.zeros((n, k, 0), dtype=np.int64)
    tokens = np.full(n * k, bos, dtype=np.int64)
    rows = np.arange(n)[:, None]
    for _ in range(max_len):
        lp, state = _step(step_fn, tokens, state, eos)
        v = lp.shape[1]
        lp = lp.reshape(n, k, v)
        lp[finished] = -np.inf  # an ended hypothesis continues only with eos, at no cost
        lp[finished, eos] = 0.0
        cand = scores[:, :, None] + lp
        cand_len = (lengths + ~finished)[:, :, None]
        norm = cand / cand_len**length_penalty if length_penalty else cand
        flat = norm.reshape(n, k * v)
        top = (
            np.argpartition(-flat, k - 1, axis=1)[:, :k]
            if k < k * v
            else np.tile(np.arange(k * v), (n, 1))
        )
        top = np.take_along_axis(top, np.argsort(-np.take_along_axis(flat, top, 1), 1), 1)
        beam, tok = top // v, top % v
        scores = cand.reshape(n, k * v)[rows, top]
        lengths = np.broadcast_to(cand_len, (n, k, v)).reshape(n, k * v)[rows, top]
        finished = finished[rows, beam] | (tok == eos)
        history = np.concatenate([history[rows, beam], tok[:, :, None]], axis=2)
        src = (rows * k + beam).reshape(-1)
        state = _map_state(state, lambda a, src=src: a[src])
        tokens = tok.reshape(-1).astype(np.int64)
        if finished.all():
            break
    norm = scores / np.maximum(lengths, 1) ** length_penalty if length_penalty else scores
    best = norm.argmax(1)
    seqs = history[np.arange(n), best]
    return seqs, norm[np.arange(n), best]


__all__ = [
    "AdditiveAttention",
    "AttnDecoder",
    "DotAttention",
    "Encoder",
    "Seq2Seq",
    "beam_search",
    "greedy_decode",
]
