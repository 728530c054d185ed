"""Real training runs, ember against PyTorch.

Each test builds the same model in both libraries, copies PyTorch's initial weights into ember
with ``load_state_dict``, feeds the same batches in the same order and trains a few dozen steps
(optimiser, scheduler, clipping as named). Everything is float64, so per-step losses, the final
parameters and the buffers (BatchNorm running statistics) must agree to ~1e-8 relative: the two
libraries differ only in summation order, and a real mismatch in a rule (a missing bias
correction, an off-by-one in a schedule) shows up as 1e-3 or more within a few steps.
"""

import copy

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.optim as eoptim

torch = pytest.importorskip("torch")
tnn = torch.nn

RTOL = 1e-8
ATOL = 1e-10


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _np(v):
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    return np.asarray(getattr(v, "data", v))


def copy_weights(tmodel, emodel):
    emodel.double()
    sd = {k: v.detach().numpy().copy() for k, v in tmodel.state_dict().items()}
    emodel.load_state_dict(sd)
    assert_same_state(tmodel, emodel, rtol=0, atol=0)


def assert_same_state(tmodel, emodel, rtol=RTOL, atol=ATOL):
    tsd, esd = tmodel.state_dict(), emodel.state_dict()
    assert sorted(tsd) == sorted(esd)
    for k in tsd:
        np.testing.assert_allclose(_np(esd[k]), _np(tsd[k]), rtol=rtol, atol=atol, err_msg=k)


def assert_same_grads(tmodel, emodel, rtol=RTOL, atol=ATOL):
    tp = dict(tmodel.named_parameters())
    for k, p in emodel.named_parameters():
        if tp[k].grad is None:
            assert p.grad is None, k
            continue
        np.testing.assert_allclose(_np(p.grad), _np(tp[k].grad), rtol=rtol, atol=atol, err_msg=k)


def et(a, **kw):
    return ember.tensor(np.asarray(a), **kw)


def tt(a):
    return torch.from_numpy(np.asarray(a).copy())


def train_both(
    tmodel,
    emodel,
    batches,
    t_loss_fn,
    e_loss_fn,
    topt,
    eopt,
    tsched=None,
    esched=None,
    clip=None,
    check_grads_every=5,
):
    """One step per batch in both libraries; returns the two lists of losses."""
    tl, el = [], []
    for i, batch in enumerate(batches):
        topt.zero_grad()
        eopt.zero_grad()
        t = t_loss_fn(tmodel, *[tt(b) for b in batch])
        e = e_loss_fn(emodel, *[et(b) for b in batch])
        t.backward()
        e.backward()
        if clip is not None:
            tn = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), clip)
            en = enn.utils.clip_grad_norm_(emodel.parameters(), clip)
            np.testing.assert_allclose(_np(en), _np(tn), rtol=RTOL, err_msg=f"grad norm step {i}")
        if check_grads_every and i % check_grads_every == 0:
            assert_same_grads(tmodel, emodel)
        topt.step()
        eopt.step()
        if tsched is not None:
            tsched.step()
            esched.step()
            np.testing.assert_allclose(esched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12)
        tl.append(t.item())
        el.append(e.item())
        np.testing.assert_allclose(el[-1], tl[-1], rtol=RTOL, atol=ATOL, err_msg=f"loss step {i}")
    return np.array(tl), np.array(el)


def _batches(rng, n, make):
    return [make(rng) for _ in range(n)]


# --------------------------------------------------------------------------------------------
# 1. MLP + CrossEntropyLoss(label_smoothing) + SGD(momentum, nesterov, weight_decay) + StepLR
# --------------------------------------------------------------------------------------------


def _mlp(nn, p):
    return nn.Sequential(
        nn.Linear(10, 32),
        nn.ReLU(),
        nn.Dropout(p),
        nn.Linear(32, 16),
        nn.ReLU(),
        nn.Linear(16, 5),
    )


def test_mlp_sgd_nesterov_steplr():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tm = _mlp(tnn, 0.0).double()
    em = _mlp(enn, 0.0)
    copy_weights(tm, em)
    tcrit = tnn.CrossEntropyLoss(label_smoothing=0.1)
    ecrit = enn.CrossEntropyLoss(label_smoothing=0.1)
    kw = dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3)
    topt = torch.optim.SGD(tm.parameters(), **kw)
    eopt = eoptim.SGD(em.parameters(), **kw)
    tsch = torch.optim.lr_scheduler.StepLR(topt, step_size=7, gamma=0.5)
    esch = eoptim.lr_scheduler.StepLR(eopt, step_size=7, gamma=0.5)
    batches = _batches(rng, 30, lambda r: (r.normal(size=(16, 10)), r.integers(0, 5, 16)))
    tl, _ = train_both(
        tm,
        em,
        batches,
        lambda m, x, y: tcrit(m(x), y),
        lambda m, x, y: ecrit(m(x), y),
        topt,
        eopt,
        tsch,
        esch,
    )
    assert tl[-5:].mean() < tl[:5].mean()  # it actually trained
    assert_same_state(tm, em)

    # eval(): dropout off, same outputs; train() with p>0 is random in both, so only check
    # that eval is deterministic and equal.
    x = rng.normal(size=(8, 10))
    tm.eval()
    em.eval()
    with torch.no_grad(), ember.no_grad():
        np.testing.assert_allclose(_np(em(et(x))), _np(tm(tt(x))), rtol=RTOL, atol=ATOL)


def test_dropout_train_eval_semantics():
    em = _mlp(enn, 0.5)
    tm = _mlp(tnn, 0.5).double()
    copy_weights(tm, em)
    x = np.random.default_rng(1).normal(size=(64, 10))
    em.train()
    assert em.training and all(m.training for m in em.modules())
    ember.manual_seed(3)
    a = _np(em(et(x)))
    b = _np(em(et(x)))
    assert not np.allclose(a, b)  # dropout active in train mode
    drop = enn.Dropout(0.5)
    y = _np(drop(et(np.ones((200, 50)))))
    assert set(np.unique(y)) <= {0.0, 2.0}  # inverted dropout scaling 1/(1-p), as torch
    assert 0.4 < (y == 0).mean() < 0.6
    em.eval()
    assert not any(m.training for m in em.modules())
    tm.eval()
    np.testing.assert_allclose(_np(em(et(x))), _np(tm(tt(x))).copy(), rtol=RTOL, atol=ATOL)
    assert em.train(False) is em and not em.training


# --------------------------------------------------------------------------------------------
# 2. CNN + BatchNorm2d (train) + pools + Adam(amsgrad) + CosineAnnealingLR + clip_grad_norm_
# --------------------------------------------------------------------------------------------


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 12, 3, stride=2, padding=1),
        nn.BatchNorm2d(12, momentum=0.2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d((1, 1)),
        nn.Flatten(),
        nn.Linear(12, 4),
    )


def test_cnn_batchnorm_adam_amsgrad_cosine_clip():
    torch.manual_seed(0)
    rng = np.random.default_rng(1)
    tm = _cnn(tnn).double()
    em = _cnn(enn)
    copy_weights(tm, em)
    kw = dict(lr=3e-3, betas=(0.9, 0.99), weight_decay=1e-4, amsgrad=True)
    topt = torch.optim.Adam(tm.parameters(), **kw)
    eopt = eoptim.Adam(em.parameters(), **kw)
    tsch = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, eta_min=1e-4)
    esch = eoptim.lr_scheduler.CosineAnnealingLR(eopt, T_max=10, eta_min=1e-4)
    batches = _batches(rng, 20, lambda r: (r.normal(size=(8, 3, 12, 12)), r.integers(0, 4, 8)))
    tl, _ = train_both(
        tm,
        em,
        batches,
        lambda m, x, y: tnn.functional.cross_entropy(m(x), y),
        lambda m, x, y: enn.functional.cross_entropy(m(x), y),
        topt,
        eopt,
        tsch,
        esch,
        clip=1.0,
    )
    # final parameters and running statistics (running_mean/var, num_batches_tracked)
    assert_same_state(tm, em)
    assert int(_np(em.state_dict()["1.num_batches_tracked"])) == 20

    # eval(): batchnorm uses running stats, identical outputs
    x = rng.normal(size=(5, 3, 12, 12))
    tm.eval()
    em.eval()
    with torch.no_grad(), ember.no_grad():
        np.testing.assert_allclose(_np(em(et(x))), _np(tm(tt(x))), rtol=RTOL, atol=ATOL)
    assert_same_state(tm, em)  # eval forward must not touch running stats


# --------------------------------------------------------------------------------------------
# 3. LSTM language model: Embedding + 2-layer batch_first LSTM + Linear, AdamW, clipping
# --------------------------------------------------------------------------------------------


def _lstm_lm(nn):
    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 8)
            self.rnn = nn.LSTM(8, 12, num_layers=2, batch_first=True)
            self.out = nn.Linear(12, 20)

        def forward(self, x):
            h, _ = self.rnn(self.emb(x))
            return self.out(h)

    return LM()


def test_lstm_lm_adamw_clip():
    torch.manual_seed(0)
    rng = np.random.default_rng(2)
    tm = _lstm_lm(tnn).double()
    em = _lstm_lm(enn)
    copy_weights(tm, em)
    kw = dict(lr=1e-2, betas=(0.9, 0.98), weight_decay=0.05)
    topt = torch.optim.AdamW(tm.parameters(), **kw)
    eopt = eoptim.AdamW(em.parameters(), **kw)

    def tloss(m, x, y):
        return tnn.functional.cross_entropy(m(x).reshape(-1, 20), y.reshape(-1))

    def eloss(m, x, y):
        return enn.functional.cross_entropy(m(x).reshape(-1, 20), y.reshape(-1))

    seqs = rng.integers(0, 20, size=(25, 4, 11))
    batches = [(s[:, :-1], s[:, 1:]) for s in seqs]
    tl, _ = train_both(tm, em, batches, tloss, eloss, topt, eopt, clip=0.5)
    assert tl[-5:].mean() < tl[:5].mean()
    assert_same_state(tm, em)


# --------------------------------------------------------------------------------------------
# 4. Bidirectional GRU classifier with RMSprop(centered, momentum)
# --------------------------------------------------------------------------------------------


def _gru_clf(nn):
    class Clf(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.GRU(6, 10, bidirectional=True)  # (T, N, C) layout
            self.head = nn.Linear(20, 3)

        def forward(self, x):
            out, h = self.rnn(x)
            # time-mean and last step of the output, plus the final hidden states (h_n)
            return self.head(out.mean(0) + 0.1 * out[-1]) + 0.1 * (h[0] * h[1]).sum(
                -1, keepdim=True
            )

    return Clf()


def test_bigru_rmsprop_centered_momentum():
    torch.manual_seed(0)
    rng = np.random.default_rng(3)
    tm = _gru_clf(tnn).double()
    em = _gru_clf(enn)
    copy_weights(tm, em)
    kw = dict(lr=3e-3, alpha=0.95, momentum=0.5, centered=True, weight_decay=1e-4)
    topt = torch.optim.RMSprop(tm.parameters(), **kw)
    eopt = eoptim.RMSprop(em.parameters(), **kw)
    batches = _batches(rng, 25, lambda r: (r.normal(size=(7, 5, 6)), r.integers(0, 3, 5)))
    tl, _ = train_both(
        tm,
        em,
        batches,
        lambda m, x, y: tnn.functional.cross_entropy(m(x), y),
        lambda m, x, y: enn.functional.cross_entropy(m(x), y),
        topt,
        eopt,
    )
    assert_same_state(tm, em)


# --------------------------------------------------------------------------------------------
# 5. TransformerEncoderLayer (norm_first both ways) + MHA key_padding_mask + Adagrad/OneCycleLR
# --------------------------------------------------------------------------------------------


def _tfm(nn, norm_first):
    class Enc(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(15, 16)
            self.layer = nn.TransformerEncoderLayer(
                16, 4, dim_feedforward=32, dropout=0.0, batch_first=True, norm_first=norm_first
            )
            self.attn = nn.MultiheadAttention(16, 2, batch_first=True)
            self.norm = nn.LayerNorm(16)
            self.head = nn.Linear(16, 3)

        def forward(self, x, pad):
            h = self.layer(self.emb(x), src_key_padding_mask=pad)
            a, _ = self.attn(h, h, h, key_padding_mask=pad)
            h = self.norm(h + a)
            keep = (~pad).to(h.dtype).unsqueeze(-1)
            return self.head((h * keep).sum(1) / keep.sum(1))

    return Enc()


@pytest.mark.parametrize("norm_first", [False, True])
def test_transformer_adagrad_onecycle(norm_first):
    torch.manual_seed(0)
    rng = np.random.default_rng(4)
    tm = _tfm(tnn, norm_first).double()
    em = _tfm(enn, norm_first)
    copy_weights(tm, em)
    kw = dict(lr=0.05, lr_decay=1e-3, weight_decay=1e-4, initial_accumulator_value=0.1)
    topt = torch.optim.Adagrad(tm.parameters(), **kw)
    eopt = eoptim.Adagrad(em.parameters(), **kw)
    steps = 20
    sk = dict(max_lr=0.1, total_steps=steps, pct_start=0.3)
    tsch = torch.optim.lr_scheduler.OneCycleLR(topt, cycle_momentum=False, **sk)
    esch = eoptim.lr_scheduler.OneCycleLR(eopt, cycle_momentum=False, **sk)

    def make(r):
        x = r.integers(0, 15, size=(4, 9))
        lengths = r.integers(3, 10, size=4)
        pad = np.arange(9)[None, :] >= lengths[:, None]
        return x, pad, r.integers(0, 3, 4)

    batches = _batches(rng, steps - 1, make)
    tl, _ = train_both(
        tm,
        em,
        batches,
        lambda m, x, p, y: tnn.functional.cross_entropy(m(x, p), y),
        lambda m, x, p, y: enn.functional.cross_entropy(m(x, p), y),
        topt,
        eopt,
        tsch,
        esch,
    )
    assert_same_state(tm, em)


# --------------------------------------------------------------------------------------------
# 6. Logistic regression BCEWithLogitsLoss(pos_weight) + Adadelta; MSE regression with SGD
# --------------------------------------------------------------------------------------------


def test_logistic_bce_pos_weight_adadelta():
    torch.manual_seed(0)
    rng = np.random.default_rng(5)
    tm = tnn.Linear(7, 3).double()
    em = enn.Linear(7, 3)
    copy_weights(tm, em)
    pw = np.array([1.0, 3.0, 0.5])
    tcrit = tnn.BCEWithLogitsLoss(pos_weight=tt(pw))
    ecrit = enn.BCEWithLogitsLoss(pos_weight=et(pw))
    kw = dict(lr=1.0, rho=0.8, eps=1e-5, weight_decay=1e-3)
    topt = torch.optim.Adadelta(tm.parameters(), **kw)
    eopt = eoptim.Adadelta(em.parameters(), **kw)
    batches = _batches(
        rng, 30, lambda r: (r.normal(size=(12, 7)), (r.random((12, 3)) < 0.4).astype(np.float64))
    )
    tl, _ = train_both(
        tm,
        em,
        batches,
        lambda m, x, y: tcrit(m(x), y),
        lambda m, x, y: ecrit(m(x), y),
        topt,
        eopt,
    )
    assert tl[-5:].mean() < tl[:5].mean()
    assert_same_state(tm, em)


def test_mse_regression_sgd():
    torch.manual_seed(0)
    rng = np.random.default_rng(6)
    w_true = rng.normal(size=(5, 2))

    def mk(nn):
        return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 2))

    tm = mk(tnn).double()
    em = mk(enn)
    copy_weights(tm, em)
    topt = torch.optim.SGD(tm.parameters(), lr=0.05, momentum=0.8, dampening=0.1)
    eopt = eoptim.SGD(em.parameters(), lr=0.05, momentum=0.8, dampening=0.1)

    def make(r):
        x = r.normal(size=(16, 5))
        return x, x @ w_true + 0.01 * r.normal(size=(16, 2))

    batches = _batches(rng, 40, make)
    tl, _ = train_both(
        tm,
        em,
        batches,
        lambda m, x, y: tnn.functional.mse_loss(m(x), y),
        lambda m, x, y: enn.functional.mse_loss(m(x), y),
        topt,
        eopt,
    )
    assert tl[-5:].mean() < 0.5 * tl[:5].mean()
    assert_same_state(tm, em)


# --------------------------------------------------------------------------------------------
# zero_grad / state_dict round trips inside the loop
# --------------------------------------------------------------------------------------------


def test_checkpoint_resume_and_zero_grad_in_loop():
    """Train 10 steps, checkpoint model+optimizer+scheduler state_dicts, train 10 more; a fresh
    ember model/optimizer/scheduler restored from the checkpoint must follow the same path, and
    both must match torch trained straight through 20 steps. Also zero_grad(set_to_none=False)
    and gradient accumulation over two micro-batches."""
    torch.manual_seed(0)
    rng = np.random.default_rng(7)
    tm = _mlp(tnn, 0.0).double()
    em = _mlp(enn, 0.0)
    copy_weights(tm, em)
    kw = dict(lr=5e-3, betas=(0.8, 0.9), amsgrad=False)
    topt = torch.optim.Adam(tm.parameters(), **kw)
    eopt = eoptim.Adam(em.parameters(), **kw)
    tsch = torch.optim.lr_scheduler.StepLR(topt, 3, 0.7)
    esch = eoptim.lr_scheduler.StepLR(eopt, 3, 0.7)
    batches = _batches(rng, 20, lambda r: (r.normal(size=(16, 10)), r.integers(0, 5, 16)))

    def step(m, opt, sch, x, y, lib, zero_none):
        opt.zero_grad(set_to_none=zero_none)
        f = tnn.functional.cross_entropy if lib is torch else enn.functional.cross_entropy
        conv = tt if lib is torch else et
        total = 0.0
        for half in (slice(0, 8), slice(8, 16)):  # gradient accumulation
            loss = f(m(conv(x[half])), conv(y[half])) / 2
            loss.backward()
            total += loss.item()
        opt.step()
        sch.step()
        return total

    ckpt = None
    for i, (x, y) in enumerate(batches):
        zn = i % 2 == 0
        a = step(tm, topt, tsch, x, y, torch, zn)
        b = step(em, eopt, esch, x, y, ember, zn)
        np.testing.assert_allclose(b, a, rtol=RTOL)
        if not zn:
            for p in em.parameters():  # zero_grad(set_to_none=False) leaves zero arrays
                assert p.grad is not None
        if i == 9:
            ckpt = (
                {k: _np(v).copy() for k, v in em.state_dict().items()},
                copy.deepcopy(eopt.state_dict()),  # (as torch's: the live state otherwise)
                esch.state_dict(),
            )
    assert_same_state(tm, em)

    em2 = _mlp(enn, 0.0).double()
    em2.load_state_dict(ckpt[0])
    eopt2 = eoptim.Adam(em2.parameters(), **kw)
    eopt2.load_state_dict(copy.deepcopy(ckpt[1]))
    esch2 = eoptim.lr_scheduler.StepLR(eopt2, 3, 0.7)
    esch2.load_state_dict(ckpt[2])
    for i, (x, y) in enumerate(batches[10:], start=10):
        step(em2, eopt2, esch2, x, y, ember, i % 2 == 0)
    assert esch2.get_last_lr() == pytest.approx(tsch.get_last_lr(), rel=1e-12)
    assert_same_state(tm, em2)

    # grads off after zero_grad(set_to_none=True)
    eopt2.zero_grad()
    assert all(p.grad is None for p in em2.parameters())


# --------------------------------------------------------------------------------------------
# Wider coverage: recurrent variants, transformer stacks, losses, conv/norm zoo, frozen and
# unused parameters, float32, a plain training script.
# --------------------------------------------------------------------------------------------


def _generic(mk, make_batch, t_loss, e_loss, opt_name, okw, steps=12, clip=None, seed=0):
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tm = mk(tnn).double()
    em = mk(enn)
    copy_weights(tm, em)
    topt = getattr(torch.optim, opt_name)(tm.parameters(), **okw)
    eopt = getattr(eoptim, opt_name)(em.parameters(), **okw)
    batches = _batches(rng, steps, make_batch)
    tl, _ = train_both(tm, em, batches, t_loss, e_loss, topt, eopt, clip=clip, check_grads_every=1)
    assert_same_state(tm, em)
    return tl


_CE = (
    lambda m, x, y: tnn.functional.cross_entropy(m(x), y),
    lambda m, x, y: enn.functional.cross_entropy(m(x), y),
)


def _rnn_clf(kind, **kw):
    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(20, 6, padding_idx=0)
                self.rnn = getattr(nn, kind)(6, 8, **kw)
                self.head = nn.Linear(16 if kw.get("bidirectional") else 8, 3)

            def forward(self, x):
                e = self.emb(x)
                if not kw.get("batch_first"):
                    e = e.transpose(0, 1)
                out = self.rnn(e)[0]
                if not kw.get("batch_first"):
                    out = out.transpose(0, 1)
                return self.head(out.mean(1))

        return M()

    return mk


@pytest.mark.parametrize(
    "kind, kw",
    [
        ("LSTM", dict(num_layers=2, batch_first=True, bidirectional=True)),
        ("LSTM", dict(num_layers=2, bias=False)),
        ("GRU", dict(num_layers=3, batch_first=True)),
        ("RNN", dict(num_layers=2, nonlinearity="relu", batch_first=True)),
        ("RNN", dict(bidirectional=True)),
    ],
)
def test_recurrent_variants_adam_clip(kind, kw):
    _generic(
        _rnn_clf(kind, **kw),
        lambda r: (r.integers(0, 20, size=(4, 9)), r.integers(0, 3, 4)),
        *_CE,
        "Adam",
        dict(lr=1e-2),
        clip=0.5,
    )


def test_recurrent_cells_rmsprop():
    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.lstm = nn.LSTMCell(5, 7)
                self.gru = nn.GRUCell(7, 6)
                self.head = nn.Linear(6, 3)

            def forward(self, x):
                h = c = hg = None
                for t in range(x.shape[1]):
                    h, c = self.lstm(x[:, t], None if h is None else (h, c))
                    hg = self.gru(h, hg)
                return self.head(hg)

        return M()

    _generic(
        mk,
        lambda r: (r.normal(size=(4, 6, 5)), r.integers(0, 3, 4)),
        *_CE,
        "RMSprop",
        dict(lr=1e-2, momentum=0.3),
    )


def _tfm_stack(kind, **kw):
    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(20, 16)
                if kind == "encoder":
                    layer = nn.TransformerEncoderLayer(
                        16, 4, 24, dropout=0.0, batch_first=True, **kw
                    )
                    self.body = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(16))
                else:
                    self.body = nn.TransformerDecoderLayer(
                        16, 4, 24, dropout=0.0, batch_first=True, **kw
                    )
                self.head = nn.Linear(16, 3)

            def forward(self, x, pad):
                e = self.emb(x)
                causal = np.triu(np.full((x.shape[1],) * 2, -np.inf), 1)
                mask = torch.from_numpy(causal) if nn is tnn else ember.tensor(causal)
                # boolean padding masks with a float causal mask: torch warns about the mix
                if kind == "encoder":
                    h = self.body(e, mask=mask, src_key_padding_mask=pad)
                else:
                    h = self.body(
                        e, e * 0.5, tgt_mask=mask, tgt_key_padding_mask=pad,
                        memory_key_padding_mask=pad,
                    )  # fmt: skip
                return self.head(h[:, 0])

        return M()

    return mk


@pytest.mark.filterwarnings("ignore:Support for mismatched")
@pytest.mark.parametrize(
    "kind, kw",
    [
        ("encoder", dict()),
        ("encoder", dict(norm_first=True, activation="gelu")),
        ("decoder", dict()),
        ("decoder", dict(norm_first=True, activation="gelu", bias=False)),
    ],
)
def test_transformer_stacks_causal_adamw(kind, kw):
    def make(r):
        x = r.integers(0, 20, size=(4, 7))
        pad = np.arange(7)[None] >= r.integers(2, 8, 4)[:, None]
        return x, pad, r.integers(0, 3, 4)

    if kind == "encoder":
        # torch's TransformerEncoder warns that nested tensors are off with norm_first
        import warnings

        warnings.filterwarnings("ignore", "enable_nested_tensor", UserWarning)
    _generic(
        _tfm_stack(kind, **kw),
        make,
        lambda m, x, p, y: tnn.functional.cross_entropy(m(x, p), y),
        lambda m, x, p, y: enn.functional.cross_entropy(m(x, p), y),
        "AdamW",
        dict(lr=1e-2),
        steps=8,
    )


def _conv_zoo(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1 = nn.Conv2d(2, 6, 3, padding="same", padding_mode="reflect")
            self.gn = nn.GroupNorm(3, 6)
            self.act1 = nn.ELU()
            # no bias before InstanceNorm: its gradient is rounding noise (the norm removes
            # it), which Adam would blow up into full-size, library-dependent steps
            self.c2 = nn.Conv2d(6, 6, 4, stride=2, padding=1, groups=3, bias=False)
            self.inorm = nn.InstanceNorm2d(6, affine=True)
            self.act2 = nn.Softplus(beta=2.0)
            self.up = nn.ConvTranspose2d(6, 4, 4, stride=2, padding=1)
            self.ln = nn.LayerNorm([4, 8, 8])
            self.us = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.amp = nn.AdaptiveMaxPool2d(3)
            self.c1d = nn.Conv1d(4, 5, 3, 1, 2, 2, bias=False, padding_mode="circular")
            self.bn1 = nn.BatchNorm1d(5, momentum=None)  # cumulative running average
            self.act3 = nn.Tanh()
            self.head = nn.Linear(5 * 9, 3)

        def forward(self, x):
            y = self.act1(self.gn(self.c1(x)))
            y = self.act2(self.inorm(self.c2(y)))
            y = self.amp(self.us(self.ln(self.up(y))))  # (N, 4, 3, 3)
            y = self.act3(self.bn1(self.c1d(y.reshape(y.shape[0], 4, 9))))
            return self.head(y.reshape(y.shape[0], -1))

    return M()


def test_conv_norm_zoo_adam():
    _generic(
        _conv_zoo,
        lambda r: (r.normal(size=(4, 2, 8, 8)), r.integers(0, 3, 4)),
        *_CE,
        "Adam",
        dict(lr=1e-2),
        steps=8,
    )


def _lossfn(name, F, conv):
    return {
        "nll_ignore": lambda o, y: F.nll_loss(F.log_softmax(o, 1), y, ignore_index=1),
        "kl_div": lambda o, y: F.kl_div(F.log_softmax(o, 1), y, reduction="batchmean"),
        "huber": lambda o, y: F.huber_loss(o, y, delta=0.5),
        "smooth_l1": lambda o, y: F.smooth_l1_loss(o, y, beta=0.7),
        "l1": lambda o, y: F.l1_loss(o, y),
        "bce_logits_sum": lambda o, y: F.binary_cross_entropy_with_logits(
            o, y, reduction="sum", pos_weight=conv(np.array([1.0, 2.0, 3.0, 0.5]))
        ),
        "multi_margin": lambda o, y: F.multi_margin_loss(o, y, p=1, margin=0.5),
        "poisson_nll": lambda o, y: F.poisson_nll_loss(o, y),
        "gaussian_nll": lambda o, y: F.gaussian_nll_loss(o, y, o * o + 0.5),
        "ce_weighted_smooth": lambda o, y: F.cross_entropy(
            o, y, weight=conv(np.array([1.0, 2.0, 0.5, 1.5])), label_smoothing=0.2
        ),
        "ce_soft_targets": lambda o, y: F.cross_entropy(o, y, label_smoothing=0.1),
    }[name]


_TARGETS = {
    "nll_ignore": lambda r: r.integers(0, 4, 10),
    "kl_div": lambda r: r.dirichlet(np.ones(4), 10),
    "huber": lambda r: 2 * r.normal(size=(10, 4)),
    "smooth_l1": lambda r: 2 * r.normal(size=(10, 4)),
    "l1": lambda r: r.normal(size=(10, 4)),
    "bce_logits_sum": lambda r: r.random((10, 4)),
    "multi_margin": lambda r: r.integers(0, 4, 10),
    "poisson_nll": lambda r: r.poisson(2.0, (10, 4)).astype(np.float64),
    "gaussian_nll": lambda r: r.normal(size=(10, 4)),
    "ce_weighted_smooth": lambda r: r.integers(0, 4, 10),
    "ce_soft_targets": lambda r: r.dirichlet(np.ones(4), 10),
}


@pytest.mark.parametrize("name", sorted(_TARGETS))
def test_loss_zoo_sgd(name):
    tl = _lossfn(name, tnn.functional, tt)
    el = _lossfn(name, enn.functional, et)
    _generic(
        lambda nn: nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4)),
        lambda r: (r.normal(size=(10, 6)), _TARGETS[name](r)),
        lambda m, x, y: tl(m(x), y),
        lambda m, x, y: el(m(x), y),
        "SGD",
        dict(lr=0.05, momentum=0.5),
        steps=8,
    )


def _branchy(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(10, 8)
            self.b = nn.Linear(10, 8)
            self.frozen = nn.Linear(8, 8)
            self.head = nn.Linear(8, 5)
            self.frozen.weight.requires_grad_(False)

        def forward(self, x, use_b):
            return self.head(self.frozen((self.b if use_b else self.a)(x)).tanh())

    return M()


@pytest.mark.parametrize(
    "opt, kw",
    [
        ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.1)),
        ("Adam", dict(lr=1e-2, weight_decay=0.1)),
        ("AdamW", dict(lr=1e-2, amsgrad=True)),
        ("RMSprop", dict(lr=1e-2, momentum=0.5, centered=True)),
        ("Adagrad", dict(lr=0.1)),
        ("Adadelta", dict(weight_decay=0.1)),
    ],
)
def test_frozen_and_unused_params_add_param_group(opt, kw):
    """A frozen weight (requires_grad False), a branch used one step in three (grad None after
    zero_grad(), zeros after zero_grad(set_to_none=False)) and a param group added mid-run."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tm = _branchy(tnn).double()
    em = _branchy(enn)
    copy_weights(tm, em)
    assert not em.frozen.weight.requires_grad
    topt = getattr(torch.optim, opt)([p for p in tm.parameters() if p.requires_grad], **kw)
    eopt = getattr(eoptim, opt)([p for p in em.parameters() if p.requires_grad], **kw)
    for i in range(12):
        x, y = rng.normal(size=(16, 10)), rng.integers(0, 5, 16)
        use_b, to_none = i % 3 == 0, i % 4 < 2
        topt.zero_grad(set_to_none=to_none)
        eopt.zero_grad(set_to_none=to_none)
        t = tnn.functional.cross_entropy(tm(tt(x), use_b), tt(y))
        e = enn.functional.cross_entropy(em(et(x), use_b), et(y))
        t.backward()
        e.backward()
        assert em.frozen.weight.grad is None
        assert_same_grads(tm, em)
        if i == 5:
            tm.extra = tnn.Linear(1, 1).double()
            em.extra = enn.Linear(1, 1)
            copy_weights(tm.extra, em.extra)
            topt.add_param_group({"params": tm.extra.parameters(), "lr": 0.3})
            eopt.add_param_group({"params": em.extra.parameters(), "lr": 0.3})
        topt.step()
        eopt.step()
        np.testing.assert_allclose(e.item(), t.item(), rtol=RTOL, err_msg=f"step {i}")
    assert_same_state(tm, em)


def test_float32_training_stays_close():
    """The default dtype. float32 rounding (~6e-8 per op) grows through a few dozen updates, so
    the bound here is 2e-4 relative; the model has no bias directly before a BatchNorm (its
    gradient is rounding noise that Adam would scale up to full-size steps)."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)

    def mk(nn):
        return nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(8 * 4 * 4, 4),
        )

    tm, em = mk(tnn), mk(enn)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    topt = torch.optim.Adam(tm.parameters(), lr=1e-3)
    eopt = eoptim.Adam(em.parameters(), lr=1e-3)
    for i in range(15):
        x = rng.normal(size=(8, 3, 8, 8)).astype(np.float32)
        y = rng.integers(0, 4, 8)
        topt.zero_grad()
        eopt.zero_grad()
        t = tnn.functional.cross_entropy(tm(tt(x)), tt(y))
        e = enn.functional.cross_entropy(em(et(x)), et(y))
        assert e.dtype == np.float32
        t.backward()
        e.backward()
        topt.step()
        eopt.step()
        np.testing.assert_allclose(e.item(), t.item(), rtol=2e-4, err_msg=f"step {i}")
    for k, v in tm.state_dict().items():
        ev = _np(em.state_dict()[k])
        assert ev.dtype == v.numpy().dtype, k
        np.testing.assert_allclose(ev, v.numpy(), rtol=2e-4, atol=2e-4, err_msg=k)


def test_plain_training_script_with_dataloader():
    """The loop a user writes: TensorDataset/DataLoader, loss.item() * batch size, eval with
    no_grad, argmax accuracy and softmax confidences; the same code runs on both libraries."""
    import torch.utils.data as tud

    def script(T, nn, optim, data):
        rng = np.random.default_rng(0)
        X = rng.normal(size=(100, 4))
        Y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
        ds = data.TensorDataset(T.tensor(X), T.tensor(Y))
        dl = data.DataLoader(ds, batch_size=16, shuffle=False)
        torch.manual_seed(0)
        ref = tnn.Sequential(tnn.Linear(4, 16), tnn.ReLU(), tnn.Linear(16, 2)).double()
        model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 2)).to(T.float64)
        sd = ref.state_dict()
        model.load_state_dict({k: v.numpy() for k, v in sd.items()} if T is ember else sd)
        opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        crit = nn.CrossEntropyLoss()
        log = []
        for _ in range(3):
            model.train()
            running, n = 0.0, 0
            for xb, yb in dl:
                opt.zero_grad()
                loss = crit(model(xb), yb)
                loss.backward()
                opt.step()
                running += loss.item() * xb.size(0)
                n += xb.shape[0]
            model.eval()
            correct, conf = 0, 0.0
            with T.no_grad():
                for xb, yb in dl:
                    out = model(xb)
                    correct += (out.argmax(dim=1) == yb).sum().item()
                    conf += T.softmax(out, dim=-1).max(dim=1).values.sum().item()
            log.append((running / n, correct / len(ds), conf))
        return np.array(log)

    a = script(torch, tnn, torch.optim, tud)
    b = script(ember, enn, eoptim, ember.data)
    np.testing.assert_allclose(b, a, rtol=1e-9)


def test_manual_warmup_l2_ema_and_hand_written_sgd():
    """Idioms beyond the optimiser classes: lr set by hand in param_groups each step, an L2
    penalty summed over parameters with Python's sum, clipping one tensor, an EMA copy of the
    weights updated in place under no_grad (mul_/add_(alpha)/lerp_), and a hand-written SGD
    step (p.add_(p.grad, alpha=-lr)) on a deep copy of the model."""
    import copy

    def mk(nn):
        return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))

    def loop(T, nn, optim, m):
        ema, plain = copy.deepcopy(m), copy.deepcopy(m)
        opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
        rng = np.random.default_rng(0)
        losses = []
        for i in range(12):
            x = T.tensor(rng.normal(size=(8, 4)))
            y = T.tensor(rng.integers(0, 2, 8))
            for g in opt.param_groups:
                g["lr"] = 0.1 * min(1.0, (i + 1) / 5)
            m.zero_grad()
            penalty = sum(p.pow(2).sum() for p in m.parameters())
            loss = nn.functional.cross_entropy(m(x), y) + 1e-3 * penalty
            loss.backward()
            nn.utils.clip_grad_norm_(m[0].weight, 0.5)
            opt.step()
            plain.zero_grad()
            nn.functional.cross_entropy(plain(x), y).backward()
            with T.no_grad():
                for pe, p, q in zip(ema.parameters(), m.parameters(), plain.parameters()):
                    pe.mul_(0.9).add_(p, alpha=0.1)
                    pe.lerp_(p, 0.05)
                    q.add_(q.grad, alpha=-0.05)
            losses.append(loss.item())
        return losses, ema, plain

    torch.manual_seed(0)
    tm = mk(tnn).double()
    em = mk(enn)
    copy_weights(tm, em)
    tl, tema, tplain = loop(torch, tnn, torch.optim, tm)
    el, eema, eplain = loop(ember, enn, eoptim, em)
    np.testing.assert_allclose(el, tl, rtol=RTOL)
    for t, e in ((tm, em), (tema, eema), (tplain, eplain)):
        assert_same_state(t, e)


def _packed_clf(kind, **kw):
    def mk(nn):
        rnn_utils = tnn.utils.rnn if nn is tnn else enn.utils.rnn

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(20, 6, padding_idx=0)
                self.rnn = getattr(nn, kind)(6, 8, batch_first=True, **kw)
                self.head = nn.Linear(8 * (2 if kw.get("bidirectional") else 1), 3)

            def forward(self, x, lengths):
                lengths = lengths if nn is tnn else lengths.numpy()
                packed = rnn_utils.pack_padded_sequence(
                    self.emb(x), lengths, batch_first=True, enforce_sorted=False
                )
                out, h = self.rnn(packed)
                h = h[0] if kind == "LSTM" else h
                out, _ = rnn_utils.pad_packed_sequence(out, batch_first=True)
                # padded steps are zeros: the sum over time uses only each sequence's steps
                return self.head(out.sum(1)) + 0.1 * h[-1].sum(-1, keepdim=True)

        return M()

    return mk


@pytest.mark.parametrize(
    "kind, kw", [("LSTM", dict(num_layers=2)), ("GRU", dict(bidirectional=True))]
)
def test_packed_sequences_adam(kind, kw):
    def make(r):
        lengths = r.integers(1, 8, 5)
        x = r.integers(1, 20, (5, 7))
        x[np.arange(7)[None] >= lengths[:, None]] = 0
        return x, lengths, r.integers(0, 3, 5)

    _generic(
        _packed_clf(kind, **kw),
        make,
        lambda m, x, lens, y: tnn.functional.cross_entropy(m(x, lens), y),
        lambda m, x, lens, y: enn.functional.cross_entropy(m(x, lens), y),
        "Adam",
        dict(lr=1e-2),
        steps=8,
    )


# --------------------------------------------------------------------------------------------
# Regressions from the lockstep sweep of optimisers, schedulers and models
# --------------------------------------------------------------------------------------------


def _tiny_mlp(nn):
    return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3))


def test_nadam_mu_product_after_state_dict_reload():
    """torch keeps NAdam's mu_product as a float32 0-d tensor, but load_state_dict casts it to
    the parameter's dtype, so a resumed float64 run multiplies it in float64 from then on.
    ember kept rounding it to float32 after a reload: the product drifted ~1e-7 off torch's."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tm = _tiny_mlp(tnn).double()
    em = _tiny_mlp(enn)
    copy_weights(tm, em)
    kw = dict(lr=1e-2, weight_decay=1e-2)
    topt, eopt = torch.optim.NAdam(tm.parameters(), **kw), eoptim.NAdam(em.parameters(), **kw)
    batches = _batches(rng, 16, lambda r: (r.normal(size=(8, 5)), r.integers(0, 3, 8)))
    for i, batch in enumerate(batches):
        if i == 4:  # resume from a checkpoint: fresh optimisers loading the saved state
            tsd, esd = topt.state_dict(), eopt.state_dict()
            topt = torch.optim.NAdam(tm.parameters(), **kw)
            eopt = eoptim.NAdam(em.parameters(), **kw)
            topt.load_state_dict(tsd)
            eopt.load_state_dict(esd)
        train_both(tm, em, [batch], *_CE, topt, eopt, check_grads_every=0)
    tstate, estate = topt.state_dict()["state"], eopt.state_dict()["state"]
    assert sorted(tstate) == sorted(estate)
    for i in tstate:
        ts, es = tstate[i], estate[i]
        assert float(es["mu_product"]) == pytest.approx(ts["mu_product"].item(), rel=1e-14, abs=0)
    assert_same_state(tm, em, rtol=1e-12, atol=0)


@pytest.mark.parametrize(
    "opt, kw",
    [
        ("Adam", dict(lr=1e-2, amsgrad=True)),
        ("NAdam", dict(lr=1e-2)),
        ("ASGD", dict(lr=1e-2, t0=2)),
        ("Adafactor", dict(lr=1e-2)),
        ("LBFGS", dict(lr=0.5, max_iter=3, history_size=2)),
    ],
)
def test_resume_from_torch_optimizer_state_dict_holding_tensors(opt, kw):
    """A torch optimizer's state_dict (torch tensors, unconverted) loads into ember's optimizer
    and the run continues on torch's path. The tensors used to be kept as they were, and the
    first step then failed in the fused C++ update with a TypeError."""
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    tm = _tiny_mlp(tnn).double()
    topt = getattr(torch.optim, opt)(tm.parameters(), **kw)
    batches = _batches(rng, 8, lambda r: (r.normal(size=(8, 5)), r.integers(0, 3, 8)))

    def step(m, o, lib, x, y):
        def closure():
            o.zero_grad()
            loss = _CE[lib is enn](m, *(tt(x), tt(y)) if lib is tnn else (et(x), et(y)))
            loss.backward()
            return loss

        return o.step(closure).item()

    for x, y in batches[:3]:
        step(tm, topt, tnn, x, y)
    em = _tiny_mlp(enn)
    copy_weights(tm, em)
    eopt = getattr(eoptim, opt)(em.parameters(), **kw)
    eopt.load_state_dict(topt.state_dict())
    for i, (x, y) in enumerate(batches[3:]):
        a, b = step(tm, topt, tnn, x, y), step(em, eopt, enn, x, y)
        # (torch's own NAdam keeps mu_product in float32 where the loaded one is float64)
        assert b == pytest.approx(a, rel=1e-9 if opt == "NAdam" else 1e-12), f"loss step {i}"
    assert_same_state(tm, em, rtol=1e-8 if opt == "NAdam" else 1e-11, atol=0)
