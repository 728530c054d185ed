"""The recurrent layers in the configurations of the rnnspeed23 speed survey (stacked and
bidirectional, batch_first, proj_size, packed variable lengths, float64, long sequences of small
states, a language-model training step), checked for values: outputs, final states and every
gradient against torch, and the same bits on 1 and 2 threads."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import nn
from ember.nn.utils.rnn import pack_padded_sequence

torch = pytest.importorskip("torch")


def _pair(kind, I, H, dtype, **kw):
    if kind.startswith("RNN_"):
        kw["nonlinearity"] = kind[4:]
        kind = "RNN"
    em = getattr(nn, kind)(I, H, dtype=dtype, **kw)
    tm = getattr(torch.nn, kind)(I, H, **kw).to(torch.float64 if dtype == "float64" else None)
    for k, v in tm.state_dict().items():
        getattr(em, k).data[...] = v.numpy()
    return em, tm


def _run(m, x, lens, lib, dtype, **kw):
    """Forward and backward of sum(output * weights) -> (output, h_n, dx, param grads)."""
    pack = pack_padded_sequence if lib is ember else torch.nn.utils.rnn.pack_padded_sequence
    out, h = m(pack(x, lens, enforce_sorted=False, **kw) if lens is not None else x)
    out = out.data if lens is not None else out
    h = h[0] if isinstance(h, tuple) else h
    wts = np.linspace(-1, 1, int(np.prod(out.shape))).reshape(out.shape).astype(dtype)
    (out * (ember.tensor(wts) if lib is ember else torch.from_numpy(wts))).sum().backward()
    grads = [p.grad for _, p in sorted(m.named_parameters())]
    return [np.asarray(a.detach().numpy() if lib is torch else a.numpy()) for a in
            (out, h, x.grad, *grads)]  # fmt: skip


CONFIGS = [
    ("LSTM", dict(num_layers=2, bidirectional=True), False),
    ("LSTM", dict(batch_first=True, proj_size=5), True),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=4), True),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True), True),
    ("GRU", dict(batch_first=True), False),
    ("RNN_tanh", dict(bidirectional=True), True),
    ("RNN_relu", dict(num_layers=2), True),
]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind,kw,packed", CONFIGS)
def test_survey_configs_match_torch(kind, kw, packed, dtype, rng):
    T, N, I, H = 9, 5, 6, 8
    em, tm = _pair(kind, I, H, dtype, **kw)
    bf = kw.get("batch_first", False)
    xn = rng.standard_normal((N, T, I) if bf else (T, N, I)).astype(dtype)
    lens = np.array([9, 3, 7, 1, 9]) if packed else None
    xe = ember.tensor(xn, requires_grad=True)
    xt = torch.from_numpy(xn).requires_grad_()
    pk = dict(batch_first=bf) if packed else {}
    got = _run(em, xe, lens, ember, dtype, **pk)
    want = _run(tm, xt, None if lens is None else torch.from_numpy(lens), torch, dtype, **pk)
    tol = dict(rtol=1e-4, atol=1e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, **tol)


@pytest.mark.parametrize("kind", ["LSTM", "GRU", "RNN_tanh", "RNN_relu"])
@pytest.mark.parametrize("T,N,H", [(300, 8, 16), (6, 24, 64), (5, 1, 32)])
def test_same_bits_on_one_and_two_threads(kind, T, N, H, rng):
    em, _ = _pair(kind, 7, H, "float32", bidirectional=True)
    xn = rng.standard_normal((T, N, 7)).astype(np.float32)
    res = []
    for nt in (1, 2):
        with at_threads(nt):
            x = ember.tensor(xn, requires_grad=True)
            em.zero_grad()
            res.append(_run(em, x, None, ember, np.float32))
    for a, b in zip(*res, strict=True):
        np.testing.assert_array_equal(a, b)


def test_language_model_step_matches_torch(rng):
    V, E, H, T, B = 50, 12, 16, 7, 3
    ember.manual_seed(0)
    e_emb, e_rnn, e_out = nn.Embedding(V, E), nn.LSTM(E, H, 2), nn.Linear(H, V)
    t_emb, t_rnn, t_out = torch.nn.Embedding(V, E), torch.nn.LSTM(E, H, 2), torch.nn.Linear(H, V)
    for e, t in ((e_emb, t_emb), (e_rnn, t_rnn), (e_out, t_out)):
        for k, v in t.state_dict().items():
            getattr(e, k).data[...] = v.numpy()
    e_params = [*e_emb.parameters(), *e_rnn.parameters(), *e_out.parameters()]
    t_params = [*t_emb.parameters(), *t_rnn.parameters(), *t_out.parameters()]
    e_opt, t_opt = ember.optim.SGD(e_params, lr=0.5), torch.optim.SGD(t_params, lr=0.5)
    idx, tgt = rng.integers(0, V, (T, B)), rng.integers(0, V, T * B)
    for _ in range(3):
        e_opt.zero_grad()
        e_loss = nn.functional.cross_entropy(
            e_out(e_rnn(e_emb(ember.tensor(idx)))[0]).reshape(-1, V), ember.tensor(tgt)
        )
        e_loss.backward()
        e_opt.step()
        t_opt.zero_grad()
        t_loss = torch.nn.functional.cross_entropy(
            t_out(t_rnn(t_emb(torch.from_numpy(idx)))[0]).reshape(-1, V), torch.from_numpy(tgt)
        )
        t_loss.backward()
        t_opt.step()
        np.testing.assert_allclose(e_loss.item(), t_loss.item(), rtol=1e-5)
    for e, t in zip(e_params, t_params, strict=True):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-4, atol=1e-5)
