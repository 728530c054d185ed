"""Real training runs on the bundled digits, ember beside PyTorch.

Each model is built in both libraries from the same code (``L`` is torch or ember), PyTorch's
initial weights are copied into ember by name, and both train on the same batches with the
same optimiser, scheduler and clipping. In float64 the per-step losses agree to ~1e-15 for
hundreds of steps (measured), so a few steps at rtol 1e-9 catch any rule mismatch while
staying fast. The float32 test pins only early agreement: later, rounding is amplified
chaotically (torch against itself with a 1-ulp change of the initial weights drifts as far).
"""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("torch_one_thread")


class _Lib:
    """What a model-building function needs from one library."""

    def __init__(self, mod):
        self.mod, self.nn, self.F = mod, mod.nn, mod.nn.functional
        self.optim, self.sched = mod.optim, mod.optim.lr_scheduler

    def t(self, a):
        a = np.array(a)  # a copy: neither library may alias the shared batch
        return torch.from_numpy(a) if self.mod is torch else ember.tensor(a)


T, E = _Lib(torch), _Lib(ember)


def _digits(images=False, n=256, dtype=np.float64):
    X, y = ember.datasets.load_digits(as_images=images, dtype=dtype)
    return X[:n] / 16.0, y[:n]


def _batches(arrays, bs, steps, seed=0):
    order = np.random.default_rng(seed).permutation(len(arrays[0]))
    idx = [order[(i * bs) % len(order) :][:bs] for i in range(steps)]
    return [[a[i] for a in arrays] for i in idx]


def _twins(build, dtype=np.float64):
    torch.manual_seed(0)
    tm, em = build(T), build(E)
    if dtype == np.float64:
        tm.double(), em.double()
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    return tm, em


def _train(L, m, batches, loss_fn, make_opt, make_sched=None, clip=None, accum=1):
    """Train one model; returns the per-batch losses and the learning rates."""
    opt = make_opt(L, m)
    sched = make_sched(L, opt) if make_sched else None
    losses, lrs = [], []
    for i, b in enumerate(batches):
        loss = loss_fn(L, m, *[L.t(a) for a in b])
        (loss / accum).backward()
        losses.append(loss.item())
        if (i + 1) % accum:
            continue
        if clip is not None:
            L.mod.nn.utils.clip_grad_norm_(m.parameters(), clip)
        opt.step()
        opt.zero_grad()
        if sched is not None:
            sched.step()
            lrs.append(opt.param_groups[0]["lr"])
    return np.array(losses), np.array(lrs)


def _check_parity(build, batches, loss_fn, make_opt, make_sched=None, clip=None, accum=1):
    tm, em = _twins(build)
    tl, tlr = _train(T, tm, batches, loss_fn, make_opt, make_sched, clip, accum)
    el, elr = _train(E, em, batches, loss_fn, make_opt, make_sched, clip, accum)
    np.testing.assert_allclose(el, tl, rtol=1e-9, err_msg="per-step losses")
    np.testing.assert_allclose(elr, tlr, rtol=1e-12, err_msg="learning rates")
    esd = em.state_dict()
    for k, v in tm.state_dict().items():  # parameters and BatchNorm running statistics
        np.testing.assert_allclose(np.asarray(esd[k]), v.numpy(), rtol=1e-8, atol=1e-11, err_msg=k)
    assert tl[-1] < tl[0]  # the run really trains
    return tm, em


def _ce(L, m, x, y):
    return L.F.cross_entropy(m(x), y)


def _mlp_bn(L):
    nn = L.nn
    return nn.Sequential(
        nn.Linear(64, 48), nn.BatchNorm1d(48), nn.ReLU(), nn.Dropout(0.0), nn.Linear(48, 10)
    )


def test_mlp_batchnorm_sgd_nesterov_weight_decay_steplr_then_eval():
    X, y = _digits()
    tm, em = _check_parity(
        _mlp_bn,
        _batches([X, y], 32, 12),
        _ce,
        lambda L, m: L.optim.SGD(
            m.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4
        ),
        lambda L, o: L.sched.StepLR(o, step_size=4, gamma=0.5),
    )
    tm.eval(), em.eval()  # eval uses the running statistics both libraries accumulated
    with torch.no_grad():
        want = tm(torch.from_numpy(X[:50])).numpy()
    with ember.no_grad():
        got = em(ember.tensor(X[:50])).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def _cnn(L):
    nn = L.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 10),
    )  # fmt: skip


def test_cnn_adam_cosine_annealing():
    X, y = _digits(images=True)
    _check_parity(
        _cnn,
        _batches([X, y], 16, 8),
        _ce,
        lambda L, m: L.optim.Adam(m.parameters(), lr=1e-2),
        lambda L, o: L.sched.CosineAnnealingLR(o, T_max=8),
    )


def _resnet(L):
    nn = L.nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1, self.b1 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)
            self.c2, self.b2 = nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c)

        def forward(self, x):
            h = L.F.relu(self.b1(self.c1(x)))
            return L.F.relu(x + self.b2(self.c2(h)))

    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        Block(8), Block(8), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(8, 10),
    )  # fmt: skip


def _adamw_onecycle(steps):
    return (
        lambda L, m: L.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.05),
        lambda L, o: L.sched.OneCycleLR(o, max_lr=1e-2, total_steps=steps),
    )


def test_resnet_blocks_adamw_onecycle():
    X, y = _digits(images=True)
    _check_parity(_resnet, _batches([X, y], 16, 8), _ce, *_adamw_onecycle(8))


def test_resnet_float32_agrees_early():
    X, y = _digits(images=True, dtype=np.float32)
    tm, em = _twins(_resnet, np.float32)
    batches = _batches([X, y], 16, 10)
    tl, _ = _train(T, tm, batches, _ce, *_adamw_onecycle(10))
    el, _ = _train(E, em, batches, _ce, *_adamw_onecycle(10))
    np.testing.assert_allclose(el, tl, rtol=2e-5)


def _rnn_clf(kind):
    def build(L):
        nn = L.nn

        class Clf(nn.Module):
            def __init__(self):
                super().__init__()
                rnn = nn.LSTM if kind == "lstm" else nn.GRU
                self.rnn = rnn(8, 12, num_layers=2, bidirectional=True, batch_first=True)
                self.fc = nn.Linear(24, 10)

            def forward(self, x, lengths):
                packed = L.nn.utils.rnn.pack_padded_sequence(
                    x, lengths, batch_first=True, enforce_sorted=False
                )
                _, h = self.rnn(packed)
                h = h[0] if kind == "lstm" else h  # last layer, both directions
                return self.fc(L.mod.cat([h[-2], h[-1]], 1))

        return Clf()

    return build


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_packed_bidirectional_two_layer_rnn_rmsprop_clipping(kind):
    X, y = _digits(images=True)
    lengths = np.random.default_rng(1).integers(3, 9, len(X))  # image rows as time steps
    _check_parity(
        _rnn_clf(kind),
        _batches([X[:, 0], lengths, y], 16, 6),
        lambda L, m, x, n, t: L.F.cross_entropy(m(x, n), t),
        lambda L, m: L.optim.RMSprop(m.parameters(), lr=5e-3, alpha=0.95, momentum=0.5),
        clip=0.5,
    )


V, D, S = 12, 16, 10


def _tied_lm(L):
    nn = L.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(V, D)
            self.pos = nn.Parameter(L.mod.zeros(S, D))
            layer = nn.TransformerEncoderLayer(
                D, 2, 32, dropout=0.0, activation="gelu", batch_first=True
            )
            kw = {"enable_nested_tensor": False} if L.mod is torch else {}
            self.enc = nn.TransformerEncoder(layer, 2, **kw)
            self.ln = nn.LayerNorm(D)
            self.head = nn.Linear(D, V, bias=False)
            self.head.weight = self.emb.weight  # weight tying

        def forward(self, idx):
            n = idx.shape[1]
            mask = L.nn.Transformer.generate_square_subsequent_mask(n).to(self.pos.dtype)
            x = self.emb(idx) + self.pos[:n]
            return self.head(self.ln(self.enc(x, mask=mask, is_causal=True)))

    torch.manual_seed(1)  # pos must not start at zero: torch's draw is copied into ember
    m = LM()
    if L.mod is torch:
        nn.init.normal_(m.pos, std=0.1)
    return m


def test_tied_transformer_lm_adamw_warmup_label_smoothing():
    rng = np.random.default_rng(0)
    start, step = rng.integers(0, V, (64, 1)), rng.integers(1, 4, (64, 1))
    seqs = (start + step * np.arange(S + 1)) % V  # learnable arithmetic progressions

    def loss(L, m, s):
        logits = m(s[:, :-1])
        target = s[:, 1:].reshape(-1)
        return L.F.cross_entropy(logits.reshape(-1, V), target, label_smoothing=0.1)

    tm, em = _check_parity(
        _tied_lm,
        _batches([seqs], 16, 6),
        loss,
        lambda L, m: L.optim.AdamW(m.parameters(), lr=3e-3, weight_decay=0.01),
        lambda L, o: L.sched.LambdaLR(o, lambda s: min(1.0, (s + 1) / 4)),
        clip=1.0,
    )
    assert em.head.weight is em.emb.weight  # load_state_dict kept the tie


def _conv_ae(L):
    nn = L.nn
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 8, 3, stride=2, padding=1), nn.ReLU(),
        nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1), nn.ReLU(),
        nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(4, 1, 3, padding=1),
    )  # fmt: skip


def test_conv_autoencoder_transpose_upsample_mse_plus_bce():
    X, _ = _digits(images=True)

    def loss(L, m, x):
        out = m(x)
        return L.F.mse_loss(L.mod.sigmoid(out), x) + L.F.binary_cross_entropy_with_logits(out, x)

    _check_parity(
        _conv_ae, _batches([X], 16, 6), loss, lambda L, m: L.optim.Adam(m.parameters(), lr=1e-2)
    )


def test_gradient_accumulation_over_half_batches():
    X, y = _digits()
    halves = [[a[s] for a in b] for b in _batches([X, y], 32, 6) for s in (np.s_[:16], np.s_[16:])]
    _check_parity(
        lambda L: L.nn.Sequential(L.nn.Linear(64, 32), L.nn.Tanh(), L.nn.Linear(32, 10)),
        halves,
        _ce,
        lambda L, m: L.optim.SGD(m.parameters(), lr=0.1, momentum=0.9),
        accum=2,
    )


def _ember_run(seed, batches, resume_at=None, tmp_path=None):
    """Dropout-on training in ember alone; optionally checkpoint (model, optimiser, scheduler,
    RNG) with ember.save mid-run and finish in freshly built objects from ember.load."""

    def fresh(s):
        ember.manual_seed(s)
        m = E.nn.Sequential(
            E.nn.Linear(64, 32), E.nn.ReLU(), E.nn.Dropout(0.3), E.nn.Linear(32, 10)
        )
        opt = ember.optim.Adam(m.double().parameters(), lr=1e-2)
        return m, opt, ember.optim.lr_scheduler.StepLR(opt, 3, 0.5)

    m, opt, sched = fresh(seed)
    losses = []
    for i, (x, t) in enumerate(batches):
        if i == resume_at:
            path = tmp_path / "ck.pt"
            state = {"m": m.state_dict(), "o": opt.state_dict(), "s": sched.state_dict()}
            ember.save({**state, "rng": ember.get_rng_state()}, path)
            m, opt, sched = fresh(seed + 1)  # different weights and RNG until loaded
            ck = ember.load(path)
            m.load_state_dict(ck["m"]), opt.load_state_dict(ck["o"]), sched.load_state_dict(ck["s"])
            ember.set_rng_state(ck["rng"])
        loss = E.F.cross_entropy(m(E.t(x)), E.t(t))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
    return np.array(losses)


def test_same_seed_same_bits_and_resume_from_checkpoint_continues_exactly(tmp_path):
    X, y = _digits()
    batches = _batches([X, y], 32, 10)
    full = _ember_run(0, batches)
    np.testing.assert_array_equal(_ember_run(0, batches), full)
    assert not np.array_equal(_ember_run(1, batches), full)
    np.testing.assert_array_equal(_ember_run(0, batches, 5, tmp_path), full)


def test_seq2seq_learns_to_reverse_variable_length_sequences():
    from ember.nn.seq2seq import Seq2Seq

    bos, eos, n_src, length = 8, 9, 8, 5  # source tokens 1..7, 0 pads (masked by lengths)
    rng = np.random.default_rng(0)

    def batch(n):
        lens = rng.integers(2, length + 1, n)
        src = np.zeros((n, length), np.int64)
        tgt = np.full((n, length + 1), eos, np.int64)
        for i, k in enumerate(lens):
            src[i, :k] = rng.integers(1, n_src, k)
            tgt[i, :k] = src[i, :k][::-1]
        return src, lens, tgt

    ember.manual_seed(0)
    model = Seq2Seq(n_src, n_src + 2, 16, 32, cell="gru", padding_idx=0)
    opt = ember.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        src, lens, tgt = batch(32)
        tgt_in = np.concatenate([np.full((32, 1), bos), tgt[:, :-1]], 1)
        logits = model(src, tgt_in, src_lengths=lens)
        loss = E.F.cross_entropy(logits.reshape(-1, n_src + 2), tgt.reshape(-1))
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    src, lens, tgt = batch(200)
    out = np.asarray(model.greedy(src, bos, eos, length + 1, src_lengths=lens))
    hits = [np.array_equal(out[i, : k + 1], tgt[i, : k + 1]) for i, k in enumerate(lens)]
    assert np.mean(hits) > 0.9  # chance is ~1e-3; 0.9 after 150 steps, 1.0 after 400


def test_fit_stops_on_a_non_finite_loss_before_the_step_corrupts_the_weights():
    X, y = _digits(n=64)
    X[40] = np.inf  # the second batch gives an infinite loss
    model = E.nn.Linear(64, 10).double()
    loader = ember.data.DataLoader(ember.data.TensorDataset(E.t(X), E.t(y)), batch_size=32)
    opt = ember.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(FloatingPointError, match="epoch 0, batch 1"):
        ember.train.fit(model, E.nn.CrossEntropyLoss(), opt, loader, verbose=0)
    assert np.isfinite(model.weight.numpy()).all()  # one good step, then stopped


def test_compare_with_torch_example_runs_and_agrees():
    import runpy
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "examples" / "compare_with_torch.py"
    r = runpy.run_path(str(path))["main"](["--steps", "6", "--quiet"])
    assert r["max_rel_diff"] < 1e-12 and r["first_step_over_1e-6"] is None
    assert r["ember_accuracy"] == r["torch_accuracy"]
