"""Whole training runs, ember beside PyTorch (round 26): a ResNet with projection shortcuts under
SGD nesterov and two schedules, packed bidirectional LSTM/GRU classifiers under Adam(amsgrad)
with clipping, Transformer encoders (norm_first both ways, key padding mask) under AdamW with
warmup and label smoothing, the seq2seq model against a torch transcription, a resumed run
(save/load of model, optimiser and scheduler mid-run) and float32 runs with a Tensor lr/betas.

Float64 runs use torch's initial weights and the same batches; measured agreement over the
steps below was ~1e-14 relative (scratch drivers), so rtol 1e-9 pins the rules.
"""

import io

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

from test_train21 import E, T, _batches, _check_parity, _digits, _train, _twins  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _ce(L, m, x, y):
    return L.F.cross_entropy(m(x), y)


# ---- (1) ResNet: conv-BN-ReLU, projection shortcuts, SGD nesterov + decay, schedules ---------
def _resnet(L):
    nn, F = L.nn, L.F

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2, self.b2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout)
            self.proj = None
            if stride != 1 or cin != cout:  # projection shortcut
                self.proj = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            h = F.relu(self.b1(self.c1(x)))
            s = x if self.proj is None else self.proj(x)
            return F.relu(s + self.b2(self.c2(h)))

    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1, bias=False), nn.BatchNorm2d(6), nn.ReLU(),
        Block(6, 6, 1), Block(6, 10, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(10, 10),
    )  # fmt: skip


def _sgd_groups(L, m):
    decay = [p for n, p in m.named_parameters() if p.ndim > 1]
    rest = [p for n, p in m.named_parameters() if p.ndim <= 1]  # BN and biases: no decay
    return L.optim.SGD(
        [{"params": decay, "weight_decay": 5e-3}, {"params": rest, "lr": 0.05}],
        lr=0.1, momentum=0.9, nesterov=True,
    )  # fmt: skip


@pytest.mark.parametrize("sched", ["onecycle", "warm_restarts"])
def test_resnet_projection_sgd_nesterov_then_eval(sched):
    X, y = _digits(images=True, n=320)
    steps = 24

    def make_sched(L, o):
        if sched == "onecycle":
            return L.sched.OneCycleLR(o, max_lr=[0.2, 0.1], total_steps=steps, pct_start=0.25)
        return L.sched.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-3)

    tm, em = _check_parity(_resnet, _batches([X, y], 16, steps), _ce, _sgd_groups, make_sched)
    tm.eval(), em.eval()  # BatchNorm's running statistics now
    xt = X[256:]
    with torch.no_grad():
        want = tm(torch.from_numpy(xt)).numpy()
    got = em(ember.tensor(xt)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


# ---- (2) packed bidirectional 2-layer LSTM/GRU, Adam(amsgrad), clip_grad_norm_ ----------------
def _rnn_clf(kind, dropout=0.0):
    def build(L):
        nn = L.nn

        class Clf(nn.Module):
            def __init__(self):
                super().__init__()
                rnn = nn.LSTM if kind == "lstm" else nn.GRU
                self.rnn = rnn(8, 10, num_layers=2, bidirectional=True, batch_first=True,
                               dropout=dropout)  # fmt: skip
                self.fc = nn.Linear(20, 10)

            def forward(self, x, lengths):
                packed = L.nn.utils.rnn.pack_padded_sequence(
                    x, lengths, batch_first=True, enforce_sorted=False
                )
                out, _ = self.rnn(packed)
                out, n = L.nn.utils.rnn.pad_packed_sequence(out, batch_first=True)
                mean = out.sum(1) / L.t(np.asarray(n)).to(out.dtype).unsqueeze(1)
                return self.fc(mean)

        return Clf()

    return build


def _packed_data(n=256):
    X, y = _digits(images=True, n=n)
    lengths = np.random.default_rng(1).integers(2, 9, len(X))  # image rows as time steps
    return X[:, 0], lengths, y


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_packed_bidirectional_rnn_adam_amsgrad_clipping(kind):
    x, n, y = _packed_data()
    _check_parity(
        _rnn_clf(kind),
        _batches([x, n, y], 16, 24),
        lambda L, m, x, n, t: L.F.cross_entropy(m(x, n), t),
        lambda L, m: L.optim.Adam(m.parameters(), lr=2e-2, amsgrad=True, weight_decay=1e-3),
        clip=0.5,
    )


def test_rnn_inter_layer_dropout_statistics_match_torch():
    """dropout > 0 draws differ between the libraries: compare the mean and spread of the
    train-mode outputs over many draws (same weights), and that eval mode is deterministic."""
    x, n, _ = _packed_data(8)
    tm, em = _twins(_rnn_clf("lstm", dropout=0.5))
    xt, xe = T.t(x), E.t(x)
    torch.manual_seed(0), ember.manual_seed(0)
    with torch.no_grad():
        t = np.stack([tm(xt, n).numpy() for _ in range(200)])
    with ember.no_grad():
        e = np.stack([em(xe, n).numpy() for _ in range(200)])
    assert e.std(0).min() > 0  # dropout is applied between the layers in train mode
    np.testing.assert_allclose(e.mean(0), t.mean(0), atol=6 * t.std(0).max() / np.sqrt(200))
    np.testing.assert_allclose(e.std(0), t.std(0), rtol=0.25, atol=1e-3)
    tm.eval(), em.eval()
    with torch.no_grad():
        want = tm(xt, n).numpy()
    np.testing.assert_allclose(em(xe, n).detach().numpy(), want, rtol=1e-9, atol=1e-12)


# ---- (3) Transformer encoder, norm_first both ways, key padding mask, AdamW + warmup ---------
def _tfm_clf(norm_first):
    def build(L):
        nn = L.nn

        class Clf(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Linear(8, 16)
                # (no biases with norm_first: the key projection's bias gets a zero gradient
                # up to rounding, which AdamW turns into ~1e-11 steps of noise either way)
                layer = nn.TransformerEncoderLayer(
                    16, 4, 24, dropout=0.0, batch_first=True, norm_first=norm_first,
                    bias=not norm_first,
                )  # fmt: skip
                kw = {"enable_nested_tensor": False} if L.mod is torch else {}
                self.enc = nn.TransformerEncoder(layer, 2, **kw)
                self.fc = nn.Linear(16, 10)

            def forward(self, x, pad):
                h = self.enc(self.emb(x), src_key_padding_mask=pad)
                keep = (~pad).unsqueeze(-1).to(h.dtype)
                return self.fc((h * keep).sum(1) / keep.sum(1))  # mean over the real tokens

        return Clf()

    return build


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_key_padding_adamw_warmup_label_smoothing(norm_first):
    X, y = _digits(images=True)
    lengths = np.random.default_rng(2).integers(3, 9, len(X))
    pad = np.arange(8)[None, :] >= lengths[:, None]  # True: padding

    def loss(L, m, x, p, t):
        return L.F.cross_entropy(m(x, p), t, label_smoothing=0.1)

    tm, em = _check_parity(
        _tfm_clf(norm_first),
        _batches([X[:, 0], pad, y], 16, 24),
        loss,
        lambda L, m: L.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.05),
        lambda L, o: L.sched.LambdaLR(o, lambda s: min(1.0, (s + 1) / 5) * 0.98**s),
        clip=1.0,
    )
    tm.eval(), em.eval()
    with torch.no_grad():  # (torch's eval fast path)
        want = tm(torch.from_numpy(X[:32, 0]), torch.from_numpy(pad[:32])).numpy()
    got = em(ember.tensor(X[:32, 0]), ember.tensor(pad[:32])).detach().numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-11)


def test_transformer_float32_loss_curves_agree_and_converge():
    """float32: the loss curves stay within ~1e-7 relative over 60 steps (measured); pinned
    at 1e-5 over 30, with both runs converging."""
    X, y = _digits(images=True, dtype=np.float32)
    lengths = np.random.default_rng(2).integers(3, 9, len(X))
    pad = np.arange(8)[None, :] >= lengths[:, None]
    batches = _batches([X[:, 0], pad, y], 16, 30)
    tm, em = _twins(_tfm_clf(True), np.float32)
    args = (
        lambda L, m, x, p, t: L.F.cross_entropy(m(x, p), t, label_smoothing=0.1),
        lambda L, m: L.optim.AdamW(m.parameters(), lr=1e-2, weight_decay=0.05),
        lambda L, o: L.sched.LambdaLR(o, lambda s: min(1.0, (s + 1) / 5)),
        1.0,
    )
    tl, _ = _train(T, tm, batches, *args)
    el, _ = _train(E, em, batches, *args)
    np.testing.assert_allclose(el, tl, rtol=1e-5)
    assert el[-5:].mean() < 0.85 * el[:3].mean() and tl[-5:].mean() < 0.85 * tl[:3].mean()


# ---- (4) seq2seq with additive attention against a torch transcription -----------------------
def _torch_seq2seq(src_vocab, tgt_vocab, emb, hid):
    """ember.nn.seq2seq.Seq2Seq (LSTM cells, additive attention) written in torch, with the
    same parameter names."""
    tnn = torch.nn

    class Encoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = tnn.Embedding(src_vocab, emb)
            self.rnn = tnn.LSTM(emb, hid, 1, batch_first=True)

        def forward(self, src, lengths):
            packed = tnn.utils.rnn.pack_padded_sequence(
                self.embedding(src), lengths, batch_first=True, enforce_sorted=False
            )
            out, (h, c) = self.rnn(packed)
            out, _ = tnn.utils.rnn.pad_packed_sequence(out, True, total_length=src.shape[1])
            return out, (h[-1], c[-1])

    class Attn(tnn.Module):
        def __init__(self):
            super().__init__()
            self.w_q, self.w_k = tnn.Linear(hid, hid, bias=False), tnn.Linear(hid, hid)
            self.v = tnn.Linear(hid, 1, bias=False)

    class Decoder(tnn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.attention = tnn.Embedding(tgt_vocab, emb), Attn()
            self.cell = tnn.LSTMCell(emb + hid, hid)
            self.out = tnn.Linear(2 * hid, tgt_vocab)

    class Seq2Seq(tnn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Encoder(), Decoder()

        def forward(self, src, tgt_in, lengths):
            enc, state = self.encoder(src, lengths)
            mask = torch.arange(src.shape[1])[None, :] < lengths[:, None]
            d, a = self.decoder, self.decoder.attention
            pk, logits = a.w_k(enc), []
            for t in range(tgt_in.shape[1]):
                e = (pk + a.w_q(state[0]).unsqueeze(1)).tanh()
                s = torch.where(mask, a.v(e).squeeze(2), torch.tensor(-1e9, dtype=e.dtype))
                ctx = (torch.softmax(s, 1).unsqueeze(1) @ enc).squeeze(1)
                state = d.cell(torch.cat([d.embedding(tgt_in[:, t]), ctx], 1), state)
                logits.append(d.out(torch.cat([state[0], ctx], 1)))
            return torch.stack(logits, 1)

    return Seq2Seq()


def test_seq2seq_attention_teacher_forced_adam_matches_torch():
    rng = np.random.default_rng(3)
    n, S, V, PAD, BOS = 96, 6, 9, 0, 1
    lengths = rng.integers(2, S + 1, n)
    src = rng.integers(2, V, (n, S)) * (np.arange(S)[None] < lengths[:, None])  # 0-padded
    tgt = np.full((n, S + 1), PAD)
    tgt[:, 0] = BOS
    for i, k in enumerate(lengths):  # learn to reverse the source
        tgt[i, 1 : k + 1] = src[i, :k][::-1]

    em = ember.nn.seq2seq.Seq2Seq(V, V, 6, 12, cell="lstm", attention="additive")
    torch.manual_seed(0)
    tm = _torch_seq2seq(V, V, 6, 12).double()
    em.double()
    assert sorted(em.state_dict()) == sorted(tm.state_dict())
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})

    def run(lib, m):
        opt = lib.optim.Adam(m.parameters(), lr=1e-2)
        losses = []
        for b in _batches([src, tgt, lengths], 16, 12):
            s, t = (torch.from_numpy(a) if lib is torch else ember.tensor(a) for a in b[:2])
            ln = torch.from_numpy(b[2]) if lib is torch else b[2]
            logits = m(s, t[:, :-1], ln)
            loss = lib.nn.functional.cross_entropy(
                logits.reshape(-1, V), t[:, 1:].reshape(-1), ignore_index=PAD
            )
            opt.zero_grad()
            loss.backward()
            lib.nn.utils.clip_grad_norm_(m.parameters(), 2.0)
            opt.step()
            losses.append(loss.item())
        return np.array(losses)

    tl, el = run(torch, tm), run(ember, em)
    np.testing.assert_allclose(el, tl, rtol=1e-9)
    assert tl[-1] < tl[0]
    esd = em.state_dict()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(np.asarray(esd[k]), v.numpy(), rtol=1e-8, atol=1e-11, err_msg=k)


# ---- (5) accumulation, zero_grad both ways, groups, save/load of everything mid-run ----------
def _mlp(L):
    return L.nn.Sequential(L.nn.Linear(64, 24), L.nn.GELU(), L.nn.Linear(24, 10))


def _groups_opt(name):
    def make(L, m):
        first, last = m[0], m[2]
        groups = [{"params": first.parameters(), "lr": 2e-2, "weight_decay": 0.1},
                  {"params": last.parameters(), "weight_decay": 0.0}]  # fmt: skip
        if name == "sgd":
            return L.optim.SGD(groups, lr=0.05, momentum=0.9, nesterov=True)
        return L.optim.AdamW(groups, lr=5e-3, amsgrad=True)

    return make


def _run_resumable(L, m, make_opt, batches, set_to_none, stop=None, resume_from=None):
    """Two half-batches accumulate into each step; ``stop`` saves everything after that many
    steps and returns the bytes, ``resume_from`` rebuilds optimiser and scheduler from them."""
    opt = make_opt(L, m)
    sched = L.sched.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2, eta_min=1e-4)
    start = 0
    if resume_from is not None:
        ck = ember.load(io.BytesIO(resume_from), weights_only=False)
        m.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start = ck["step"]
    losses = []
    for i in range(start, len(batches)):
        for half in (np.s_[:8], np.s_[8:]):
            loss = L.F.cross_entropy(m(L.t(batches[i][0][half])), L.t(batches[i][1][half]))
            (loss / 2).backward()
            losses.append(loss.item())
        opt.step()
        opt.zero_grad(set_to_none=set_to_none)
        sched.step()
        if stop is not None and i + 1 == stop:
            buf = io.BytesIO()
            ember.save({"model": m.state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "step": stop}, buf)  # fmt: skip
            return buf.getvalue()
    return np.array(losses)


@pytest.mark.parametrize("name, set_to_none", [("sgd", True), ("adamw", False)])
def test_saved_and_resumed_run_continues_torchs_uninterrupted_trajectory(name, set_to_none):
    X, y = _digits()
    batches = _batches([X, y], 16, 30)
    tm, em = _twins(_mlp)
    tl = _run_resumable(T, tm, _groups_opt(name), batches, set_to_none)
    blob = _run_resumable(E, em, _groups_opt(name), batches, set_to_none, stop=13)
    fresh = _mlp(E).double()  # a new model, optimiser and scheduler pick the run up
    el = _run_resumable(E, fresh, _groups_opt(name), batches, set_to_none, resume_from=blob)
    np.testing.assert_allclose(el, tl[2 * 13 :], rtol=1e-9)
    esd = fresh.state_dict()
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(np.asarray(esd[k]), v.numpy(), rtol=1e-9, atol=1e-12)
    assert tl[-1] < tl[0]


# ---- (6) Tensor betas: torch's bias corrections are 0-d float32 tensors ---------------------
@pytest.mark.parametrize(
    "name, kw",
    [
        ("Adam", dict(lr="t", amsgrad=True, weight_decay=0.1, maximize=True)),
        ("Adam", dict(lr=0.01)),
        ("AdamW", dict(lr="t", weight_decay=0.1)),
        ("AdamW", dict(lr=0.01, weight_decay=0.1)),
    ],
)
def test_tensor_betas_round_the_bias_corrections_as_torch(name, kw):
    """float64 parameters, float32 Tensor betas (torch.tensor(0.9)): torch computes
    ``1 - beta ** step`` and ``lr / bias_correction1`` (a Python lr: reciprocal() * lr) in
    float32. Before, ember used doubles: 5e-8..1.7e-7 apart (max abs / max) after 100 steps;
    now 0.7e-9..1.7e-9, the rest from torch's float32 sqrt of bias_correction2, which is not
    correctly rounded (1 ulp off on 20 of the 100 steps)."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal(300)
    tp, ep = torch.tensor(x0, requires_grad=True), ember.tensor(x0, requires_grad=True)

    def hyper(lib):
        out = dict(kw, betas=(lib.tensor(0.9), lib.tensor(0.999)))
        if out["lr"] == "t":
            out["lr"] = lib.tensor(0.01)
        return out

    to = getattr(torch.optim, name)([tp], **hyper(torch))
    eo = getattr(ember.optim, name)([ep], **hyper(ember))
    for _ in range(100):
        x = tp.detach().numpy()
        g = np.tanh(x) + 0.3 * x + 0.1 * rng.standard_normal(x.shape)
        tp.grad, ep.grad = torch.tensor(g), ember.tensor(g)
        to.step()
        eo.step()
    want = tp.detach().numpy()
    assert np.abs(ep.numpy() - want).max() <= 1e-8 * np.abs(want).max()


@pytest.mark.parametrize("alpha", [3.0, -1.0, 0.75])
def test_asgd_tensor_lr_eta_uses_torchs_pow_fast_paths(alpha):
    """ASGD's eta = lr / (1 + lambd * lr * step) ** alpha is a float32 tensor for a Tensor lr,
    and torch.pow takes x*x*x for 3 and 1/x for -1 (not libm pow): before, 3.4e-8 and 4.2e-8
    apart after 100 steps; now ~1e-15 (float64 parameters)."""
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal(200)
    tp, ep = torch.tensor(x0, requires_grad=True), ember.tensor(x0, requires_grad=True)
    kw = dict(lambd=0.3, t0=3, alpha=alpha)
    to = torch.optim.ASGD([tp], lr=torch.tensor(0.05), **kw)
    eo = ember.optim.ASGD([ep], lr=ember.tensor(0.05), **kw)
    for _ in range(100):
        g = np.tanh(tp.detach().numpy()) + 0.1 * rng.standard_normal(200)
        tp.grad, ep.grad = torch.tensor(g), ember.tensor(g)
        to.step()
        eo.step()
    np.testing.assert_allclose(ep.numpy(), tp.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(eo.state[ep]["ax"].numpy(), to.state[tp]["ax"].numpy(), rtol=1e-12)
