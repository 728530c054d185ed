"""Real training runs, ember against PyTorch.

Each test builds the same model in both libraries, copies PyTorch's initial weights into ember
with ``load_state_dict``, feeds the same batches in the same order and trains a few dozen steps
(optimiser, scheduler, clipping as named). Everything is float64, so per-step losses, the final
parameters and the buffers (BatchNorm running statistics) must agree to ~1e-8 relative: the two
libraries differ only in summation order, and a real mismatch in a rule (a missing bias
correction, an off-by-one in a schedule) shows up as 1e-3 or more within a few steps.
"""

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.optim as eoptim

torch = pytest.importorskip("torch")
tnn = torch.nn

RTOL = 1e-8
ATOL = 1e-10


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
                eopt.state_dict(),
                esch.state_dict(),
            )
    assert_same_state(tm, em)

    import copy

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
