"""Training runs against PyTorch on what test_training_parity*.py leave out: every optimiser
with a scheduler it was not yet paired with (LambdaLR, MultiplicativeLR, LinearLR, ExponentialLR,
CosineAnnealingLR, SequentialLR, ChainedScheduler), optimiser and scheduler state_dict round
trips mid-run for every optimiser, zero_grad(set_to_none=False) with parameters a step leaves
unused, LBFGS, float32 runs, GradScaler with overflow steps, SWA averaging, an Embedding +
packed recurrent LM with initial states, and the Transformer with callable activations.

The same float64 batches go through twin models (PyTorch's initial weights copied into ember);
losses, gradients and final states must agree to 1e-8 relative (see test_training_parity_options)
and float32 runs to 1e-4.
"""

import contextlib
import warnings

import numpy as np
import pytest

import ember
import ember.nn as enn
import ember.optim as eoptim

torch = pytest.importorskip("torch")

pytestmark = pytest.mark.usefixtures("torch_one_thread")
from test_training_parity_options import (  # noqa: E402
    T,
    _mlp,
    ce,
    check_state,
    close,
    lockstep,
    step_both,
    tnn,
    twin,
)

_OPTS = {
    "SGD-nesterov": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2)),
    "SGD-plain": ("SGD", dict(lr=0.1)),
    "Adam": ("Adam", dict(lr=1e-2, weight_decay=0.1)),
    "AdamW-amsgrad": ("AdamW", dict(lr=1e-2, amsgrad=True)),
    "RMSprop-centered": ("RMSprop", dict(lr=1e-2, centered=True, momentum=0.5, weight_decay=0.1)),
    "Adagrad": ("Adagrad", dict(lr=0.1, weight_decay=0.1)),
    "Adadelta": ("Adadelta", dict(lr=1.0, weight_decay=0.1)),
    "Adamax": ("Adamax", dict(lr=1e-2, weight_decay=0.1)),
    "NAdam": ("NAdam", dict(lr=1e-2, weight_decay=0.1)),
    "RAdam": ("RAdam", dict(lr=1e-2, weight_decay=0.1)),
    "ASGD": ("ASGD", dict(lr=1e-2, t0=3, weight_decay=0.1)),
    "Rprop": ("Rprop", dict(lr=1e-2)),
}


def _sched(L, o, name):
    """A scheduler of library L (lr_scheduler module) on optimiser o."""
    return {
        "Lambda": lambda: L.LambdaLR(o, lambda e: 1 / (1 + e)),
        "Multiplicative": lambda: L.MultiplicativeLR(o, lambda e: 0.93),
        "Linear": lambda: L.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
        "Exponential": lambda: L.ExponentialLR(o, 0.9),
        "Cosine": lambda: L.CosineAnnealingLR(o, T_max=7, eta_min=1e-4),
        "Sequential": lambda: L.SequentialLR(
            o,
            [L.LinearLR(o, start_factor=0.1, total_iters=4), L.CosineAnnealingLR(o, T_max=6)],
            milestones=[4],
        ),
        "Chained": lambda: L.ChainedScheduler(
            [L.ConstantLR(o, factor=0.5, total_iters=4), L.ExponentialLR(o, gamma=0.9)]
        ),
        "CosineWarmRestarts": lambda: L.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2),
        "Plateau": lambda: L.ReduceLROnPlateau(o, factor=0.5, patience=1),
    }[name]()


_SCHEDS = [
    "Lambda",
    "Multiplicative",
    "Linear",
    "Exponential",
    "Cosine",
    "Sequential",
    "Chained",
    "CosineWarmRestarts",
    "Plateau",
]
# each optimiser with two schedulers, each scheduler with two or more optimisers
_PAIRS = [(o, _SCHEDS[(i + k) % len(_SCHEDS)]) for i, o in enumerate(_OPTS) for k in (0, 4)]


def _groups(m, lr):
    """Two parameter groups, the second at half the learning rate."""
    ps = list(m.parameters())
    return [{"params": ps[:2]}, {"params": ps[2:], "lr": lr / 2}]


def _train(tm, em, topt, eopt, tsch, esch, rng, steps, start, set_to_none=True):
    for i in range(start, start + steps):
        x, y = rng.normal(size=(12, 6)), rng.integers(0, 4, 12)
        topt.zero_grad()
        eopt.zero_grad(set_to_none=set_to_none)
        t, e = ce(tnn, tm, T(tnn, x), T(tnn, y)), ce(enn, em, T(enn, x), T(enn, y))
        close(e, t, f"loss step {i}")
        t.backward()
        e.backward()
        topt.step()
        eopt.step()
        if tsch is not None:
            args = (
                (t.item(),) if isinstance(tsch, torch.optim.lr_scheduler.ReduceLROnPlateau) else ()
            )
            tsch.step(*args)
            esch.step(*((e.item(),) if args else ()))
        for gt, ge in zip(topt.param_groups, eopt.param_groups):
            np.testing.assert_allclose(ge["lr"], gt["lr"], rtol=1e-12, err_msg=f"lr step {i}")


@pytest.mark.parametrize("opt, sched", _PAIRS, ids=[f"{o}-{s}" for o, s in _PAIRS])
def test_optimiser_scheduler_state_dict_round_trip(opt, sched):
    """Train 6 steps, rebuild optimiser and scheduler from their state_dicts (a resumed job,
    gradients alternately zeroed and set to None), train 8 more: every loss, lr and the final
    weights equal PyTorch's."""
    name, kw = _OPTS[opt]
    tm, em = twin(_mlp)
    L = {tnn: torch.optim.lr_scheduler, enn: eoptim.lr_scheduler}

    def build(nn, m):
        o = getattr(torch.optim if nn is tnn else eoptim, name)(_groups(m, kw["lr"]), **kw)
        return o, _sched(L[nn], o, sched)

    (topt, tsch), (eopt, esch) = build(tnn, tm), build(enn, em)
    rng = np.random.default_rng(0)
    _train(tm, em, topt, eopt, tsch, esch, rng, 6, 0)
    tsd, esd = (topt.state_dict(), tsch.state_dict()), (eopt.state_dict(), esch.state_dict())
    assert sorted(esd[1]) == sorted(tsd[1])
    (topt, tsch), (eopt, esch) = build(tnn, tm), build(enn, em)
    topt.load_state_dict(tsd[0])
    eopt.load_state_dict(esd[0])
    tsch.load_state_dict(tsd[1])
    esch.load_state_dict(esd[1])
    _train(tm, em, topt, eopt, tsch, esch, rng, 8, 6, set_to_none=False)
    check_state(tm, em)
    for a, b in zip(topt.state.values(), eopt.state.values()):
        assert sorted(a) == sorted(b)
        for k in a:  # scalar state (step, ASGD's eta / mu) is a float32 tensor in PyTorch
            if np.ndim(a[k]) == 0:
                assert float(b[k]) == pytest.approx(float(a[k]), rel=1e-6), k
            else:
                close(b[k], a[k], f"optimiser state {k}")


def _two_heads(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(6, 4), nn.Linear(6, 4)

        def forward(self, x, use_b):
            return self.a(x) + self.b(x) if use_b else self.a(x)

    return M()


@pytest.mark.parametrize("set_to_none", [False, True])
@pytest.mark.parametrize("opt", sorted(_OPTS))
def test_parameters_unused_in_some_steps(opt, set_to_none):
    """A head used every third step: with zero_grad(set_to_none=False) its zero gradient
    still decays momentum / weights in the other steps, with None it is skipped, as PyTorch."""
    name, kw = _OPTS[opt]
    tm, em = twin(_two_heads)
    topt = getattr(torch.optim, name)(tm.parameters(), **kw)
    eopt = getattr(eoptim, name)(em.parameters(), **kw)
    rng = np.random.default_rng(0)
    for i in range(9):
        x, y = rng.normal(size=(8, 6)), rng.integers(0, 4, 8)
        topt.zero_grad(set_to_none=set_to_none)
        eopt.zero_grad(set_to_none=set_to_none)
        t = tnn.functional.cross_entropy(tm(T(tnn, x), i % 3 == 0), T(tnn, y))
        e = enn.functional.cross_entropy(em(T(enn, x), i % 3 == 0), T(enn, y))
        close(e, t, f"loss step {i}")
        t.backward()
        e.backward()
        topt.step()
        eopt.step()
    check_state(tm, em)


@pytest.mark.parametrize("opt", sorted(_OPTS))
def test_float32_training(opt):
    """float32 twins: parameters and optimiser state stay float32 and within float32 rounding
    of PyTorch's after 15 steps."""
    name, kw = _OPTS[opt]
    torch.manual_seed(0)
    tm, em = _mlp(tnn), _mlp(enn)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    topt = getattr(torch.optim, name)(tm.parameters(), **kw)
    eopt = getattr(eoptim, name)(em.parameters(), **kw)
    rng = np.random.default_rng(0)
    for i in range(15):
        x, y = rng.normal(size=(12, 6)).astype(np.float32), rng.integers(0, 4, 12)
        topt.zero_grad()
        eopt.zero_grad()
        t, e = ce(tnn, tm, T(tnn, x), T(tnn, y)), ce(enn, em, T(enn, x), T(enn, y))
        close(e, t, f"loss step {i}", 1e-5)
        t.backward()
        e.backward()
        topt.step()
        eopt.step()
    check_state(tm, em, 1e-4)
    for st in eopt.state.values():
        for k, v in st.items():
            if np.ndim(v.numpy() if isinstance(v, ember.Tensor) else v) > 0:
                assert v.dtype == ember.float32, (k, v.dtype)


def _regression(nn):
    return nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 1))


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.5),
        dict(lr=0.5, max_iter=4, history_size=3),
        dict(lr=1, line_search_fn="strong_wolfe"),
        dict(lr=1, line_search_fn="strong_wolfe", max_iter=5, tolerance_change=1e-4),
    ],
    ids=["fixed", "short-history", "wolfe", "wolfe-tol"],
)
def test_lbfgs_with_state_dict_round_trip(kw):
    """LBFGS on a smooth regression: per-step losses, function-evaluation counts and weights
    equal PyTorch's, also across an optimiser rebuilt from its state_dict. (On a problem whose
    loss blows up, 20 inner iterations amplify summation-order rounding chaotically, so the
    problem is kept well conditioned.)"""
    tm, em = twin(_regression)
    topt, eopt = torch.optim.LBFGS(tm.parameters(), **kw), eoptim.LBFGS(em.parameters(), **kw)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 5))
    y = np.sin(x @ rng.normal(size=(5, 1)))
    calls = {"t": 0, "e": 0}

    def closure(nn, m, opt, key):
        def f():
            calls[key] += 1
            opt.zero_grad()
            loss = ((m(T(nn, x)) - T(nn, y)) ** 2).mean()
            loss.backward()
            return loss

        return f

    for i in range(4):
        a = topt.step(closure(tnn, tm, topt, "t"))
        b = eopt.step(closure(enn, em, eopt, "e"))
        close(b, a, f"loss step {i}")
        assert calls["e"] == calls["t"], (i, calls)
        if i == 1:
            tsd, esd = topt.state_dict(), eopt.state_dict()
            topt = torch.optim.LBFGS(tm.parameters(), **kw)
            eopt = eoptim.LBFGS(em.parameters(), **kw)
            topt.load_state_dict(tsd)
            eopt.load_state_dict(esd)
    check_state(tm, em)


def test_grad_scaler_with_overflow_steps_and_clipping():
    """GradScaler: scale, unscale_, clip, step (skipped on the inf steps), update with growth
    and backoff: the scale, the skipped steps and the weights follow PyTorch's."""
    tm, em = twin(_mlp)
    kw = dict(init_scale=2.0**10, growth_interval=3, growth_factor=4.0, backoff_factor=0.25)
    ts, es = torch.amp.GradScaler("cpu", **kw), ember.amp.GradScaler("cpu", **kw)
    topt, eopt = torch.optim.Adam(tm.parameters(), lr=1e-2), eoptim.Adam(em.parameters(), lr=1e-2)
    rng = np.random.default_rng(0)
    for i in range(10):
        x, y = rng.normal(size=(12, 6)), rng.integers(0, 4, 12)
        if i in (4, 7):
            x[0, 0] = np.inf
        topt.zero_grad()
        eopt.zero_grad()
        ts.scale(ce(tnn, tm, T(tnn, x), T(tnn, y))).backward()
        es.scale(ce(enn, em, T(enn, x), T(enn, y))).backward()
        ts.unscale_(topt)
        es.unscale_(eopt)
        tnn.utils.clip_grad_norm_(tm.parameters(), 1.0)
        enn.utils.clip_grad_norm_(em.parameters(), 1.0)
        ts.step(topt)
        es.step(eopt)
        ts.update()
        es.update()
        assert es.get_scale() == ts.get_scale(), i
    check_state(tm, em)
    assert es.state_dict() == ts.state_dict()


def test_swa_averaged_model_swalr_update_bn():
    from torch.optim import swa_utils as tswa

    eswa = eoptim.swa_utils

    def mk(nn):
        return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4))

    tm, em = twin(mk)
    ta, ea = tswa.AveragedModel(tm), eswa.AveragedModel(em)
    ema = dict(use_buffers=True)
    tb = tswa.AveragedModel(tm, multi_avg_fn=tswa.get_ema_multi_avg_fn(0.9), **ema)
    eb = eswa.AveragedModel(em, multi_avg_fn=eswa.get_ema_multi_avg_fn(0.9), **ema)
    topt, eopt = torch.optim.SGD(tm.parameters(), lr=0.1), eoptim.SGD(em.parameters(), lr=0.1)
    skw = dict(swa_lr=0.05, anneal_epochs=3, anneal_strategy="cos")
    tsch, esch = tswa.SWALR(topt, **skw), eswa.SWALR(eopt, **skw)
    rng = np.random.default_rng(0)
    data = [(rng.normal(size=(8, 6)), rng.integers(0, 4, 8)) for _ in range(5)]
    for i, (x, y) in enumerate(data):
        step_both(tm, em, topt, eopt, x, y, i)
        tsch.step()
        esch.step()
        assert eopt.param_groups[0]["lr"] == pytest.approx(topt.param_groups[0]["lr"], rel=1e-12)
        for a, m in ((ta, tm), (ea, em), (tb, tm), (eb, em)):
            a.update_parameters(m)
    check_state(ta, ea)
    check_state(tb, eb)
    tswa.update_bn([torch.from_numpy(x) for x, _ in data], ta)
    eswa.update_bn([ember.tensor(x) for x, _ in data], ea)
    check_state(ta, ea)


# --------------------------------------------------------------------------------------------
# models: CNN train -> eval, packed recurrent LM, Transformer with callable activations
# --------------------------------------------------------------------------------------------


def _cnn(nn):
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False),
        nn.BatchNorm2d(4, momentum=None),  # cumulative average
        nn.ReLU(),
        nn.MaxPool2d(2, ceil_mode=True),
        nn.Dropout(0.0),
        nn.Conv2d(4, 3, 2, bias=False),
        nn.BatchNorm2d(3, momentum=0.3, eps=1e-3),
        nn.Dropout2d(0.0),
        nn.Flatten(),
        nn.Linear(27, 3),
    )


def test_cnn_batchnorm_maxpool_train_then_eval():
    def loss(nn, m, x, y):
        return nn.functional.cross_entropy(m(x), y, label_smoothing=0.1)

    batch = lambda r: (r.normal(size=(5, 2, 7, 7)), r.integers(0, 3, 5))  # noqa: E731
    tm, em = lockstep(_cnn, batch, loss, "Adam", dict(lr=1e-2), steps=8)
    tm.eval()
    em.eval()
    x = np.random.default_rng(5).normal(size=(3, 2, 7, 7))
    close(em(T(enn, x)), tm(T(tnn, x)), "eval output")


@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_packed_lm_with_padding_idx_and_initial_state(kind, batch_first):
    """Embedding(padding_idx) -> 2-layer bidirectional recurrence over an unsorted packed batch
    with a learned initial state -> CrossEntropyLoss(ignore_index, label_smoothing)."""
    bf = batch_first

    def mk(nn):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.emb = nn.Embedding(11, 6, padding_idx=0)
                self.rnn = getattr(nn, kind)(6, 5, num_layers=2, bidirectional=True, batch_first=bf)
                self.h0 = nn.Parameter((torch if nn is tnn else ember).zeros(4, 1, 5))
                self.out = nn.Linear(10, 11)

            def forward(self, x, lens):
                rnn = nn.utils.rnn
                p = rnn.pack_padded_sequence(
                    self.emb(x), lens, batch_first=bf, enforce_sorted=False
                )
                h = self.h0.expand(4, x.shape[0 if bf else 1], 5)
                o, _ = self.rnn(p, (h, h * 0.5) if kind == "LSTM" else h)
                o, _ = rnn.pad_packed_sequence(
                    o, batch_first=bf, total_length=x.shape[1 if bf else 0]
                )
                return self.out(o)

        return M()

    def batch(r):
        lens = r.integers(1, 7, 4)
        lens[1] = 6
        x = r.integers(1, 11, (4, 6))
        for i, n in enumerate(lens):
            x[i, n:] = 0
        y = np.where(x == 0, -100, r.integers(0, 11, (4, 6)))
        return (x, lens, y) if bf else (x.T.copy(), lens, y.T.copy())

    def loss(nn, m, x, lens, y):
        o = m(x, lens.numpy() if nn is enn else lens)
        return nn.functional.cross_entropy(o.reshape(-1, 11), y.reshape(-1), label_smoothing=0.05)

    lockstep(mk, batch, loss, "Adam", dict(lr=1e-2), steps=5)


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("act", ["gelu", "callable-gelu", "callable-relu"])
def test_transformer_encoder_callable_activation_masks(act, batch_first, norm_first):
    bf = batch_first

    def mk(nn):
        a = act if act == "gelu" else getattr(nn.functional, act.split("-")[1])
        layer = nn.TransformerEncoderLayer(
            8, 2, 16, dropout=0.0, activation=a, batch_first=bf, norm_first=norm_first
        )
        return nn.Sequential(
            nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(8), enable_nested_tensor=False)
        )

    def batch(r):
        pad = np.zeros((3, 5), bool)
        pad[1, 3:] = pad[2, 4:] = True
        y = np.where(pad, -100, r.integers(0, 8, (3, 5)))
        return r.normal(size=(3, 5, 8)), pad, y

    def loss(nn, m, x, pad, y):
        if not bf:
            x = x.transpose(0, 1)
        causal = T(nn, np.triu(np.ones((5, 5), bool), 1))  # bool, as the padding mask
        o = m[0](x, mask=causal, src_key_padding_mask=pad, is_causal=True)
        o = o if bf else o.transpose(0, 1)
        return nn.functional.cross_entropy(o.reshape(-1, 8), y.reshape(-1), label_smoothing=0.1)

    lockstep(mk, batch, loss, "AdamW", dict(lr=1e-2), steps=4)


def test_gan_two_optimisers_detach_and_frozen_discriminator():
    """A GAN step: the discriminator trains on detached fakes, then is frozen with
    requires_grad_(False) while the generator trains through it; two Adam optimisers."""

    def gen(nn):
        return nn.Sequential(nn.Linear(4, 8), nn.LeakyReLU(0.2), nn.Linear(8, 6), nn.Tanh())

    def disc(nn):
        return nn.Sequential(nn.Linear(6, 8), nn.LeakyReLU(0.2), nn.Linear(8, 1))

    (tg, eg), (td, ed) = twin(gen), twin(disc)
    kw = dict(lr=2e-3, betas=(0.5, 0.999))
    opts = {
        tnn: (torch.optim.Adam(tg.parameters(), **kw), torch.optim.Adam(td.parameters(), **kw)),
        enn: (eoptim.Adam(eg.parameters(), **kw), eoptim.Adam(ed.parameters(), **kw)),
    }
    rng = np.random.default_rng(0)
    for i in range(8):
        z, real = rng.normal(size=(8, 4)), rng.normal(size=(8, 6))
        losses = {}
        for nn, g, d in ((tnn, tg, td), (enn, eg, ed)):
            gopt, dopt = opts[nn]
            bce = nn.functional.binary_cross_entropy_with_logits
            ones, zeros = T(nn, np.ones((8, 1))), T(nn, np.zeros((8, 1)))
            fake = g(T(nn, z))
            dopt.zero_grad()
            ld = bce(d(T(nn, real)), ones) + bce(d(fake.detach()), zeros)
            ld.backward()
            dopt.step()
            d.requires_grad_(False)
            gopt.zero_grad()
            lg = bce(d(fake), ones)
            lg.backward()
            gopt.step()
            d.requires_grad_(True)
            losses[nn] = (ld, lg)
        close(losses[enn][0], losses[tnn][0], f"discriminator loss step {i}")
        close(losses[enn][1], losses[tnn][1], f"generator loss step {i}")
    check_state(tg, eg)
    check_state(td, ed)


def test_conv_autoencoder_transpose_upsample_bce():
    def ae(nn):
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(4, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(8, 4, 3, stride=2, padding=1, output_padding=1),
            nn.ReLU(),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
            nn.Conv2d(4, 1, 3, padding=1),
            nn.Sigmoid(),
        )

    def loss(nn, m, x):
        return nn.functional.binary_cross_entropy(m(x), x)

    lockstep(ae, lambda r: (r.uniform(size=(3, 1, 8, 8)),), loss, "Adam", dict(lr=1e-2), steps=6)


# --------------------------------------------------------------------------------------------
# long runs: 100 steps of each model, parameter groups at two learning rates, a scheduler,
# clipping, gradient accumulation and an optimiser + scheduler state_dict reload halfway
# (into fresh objects on the ember side only: the resumed run must follow torch's unbroken one)
# --------------------------------------------------------------------------------------------


class _RNNCls:
    def __init__(self, kind):
        self.kind = kind

    def __call__(self, nn):
        kind = self.kind

        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = getattr(nn, kind)(5, 6, num_layers=2, bidirectional=True)
                self.fc = nn.Linear(12, 3)

            def forward(self, x, lengths):
                pk = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
                out, h = self.rnn(pk)
                h = h[0] if kind == "LSTM" else h
                pad, _ = nn.utils.rnn.pad_packed_sequence(out)
                return self.fc(h[-2:].transpose(0, 1).reshape(-1, 12)) + 0.01 * pad.mean()

        return M()


def _rnn_loss(nn, m, x, lengths, y):
    lengths = lengths if nn is tnn else lengths.numpy()
    return nn.functional.cross_entropy(m(x, lengths), y)


def _encoder(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            kw = dict(dropout=0.0, batch_first=True)
            post = nn.TransformerEncoderLayer(8, 2, 16, norm_first=False, **kw)
            pre = nn.TransformerEncoderLayer(8, 2, 16, norm_first=True, **kw)
            self.post = nn.TransformerEncoder(post, 1, enable_nested_tensor=False)
            self.pre = nn.TransformerEncoder(pre, 1, enable_nested_tensor=False)
            self.fc = nn.Linear(8, 3)

        def forward(self, x, pad):
            return self.fc(self.pre(self.post(x, src_key_padding_mask=pad)).mean(1))

    return M()


def _enc_batch(r):
    pad = np.zeros((3, 5), bool)
    pad[1, 3:] = True
    return r.normal(size=(3, 5, 8)), pad, r.integers(0, 3, 3)


def _seq2seq(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(7, 8)
            self.tr = nn.Transformer(8, 2, 1, 1, 16, dropout=0.0, batch_first=True)
            self.out = nn.Linear(8, 7)

        def forward(self, s, t):
            mask = self.tr.generate_square_subsequent_mask(t.shape[1], dtype=self.out.weight.dtype)
            return self.out(self.tr(self.emb(s), self.emb(t), tgt_mask=mask))

    return M()


def _s2s_batch(r):
    s = r.integers(0, 7, (3, 5))
    return s, s[:, :4], s[:, 1:]


def _bag(nn):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(20, 6, padding_idx=0)
            self.bag = nn.EmbeddingBag(20, 6, mode="mean")
            self.fc = nn.Linear(12, 3)

        def forward(self, x, offsets):
            cat = (torch if nn is tnn else ember).cat
            return self.fc(cat([self.emb(x).mean(1), self.bag(x.reshape(-1), offsets)], 1))

    return M()


_LONG = {  # model, batch, loss, optimiser, scheduler
    "mlp": (
        _mlp,
        lambda r: (r.normal(size=(12, 6)), r.integers(0, 4, 12)),
        ce,
        ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
        lambda L, o: L.OneCycleLR(o, max_lr=[0.05, 0.02], total_steps=120),
    ),
    "cnn": (
        _cnn,
        lambda r: (r.normal(size=(5, 2, 7, 7)), r.integers(0, 3, 5)),
        ce,
        ("RMSprop", dict(lr=1e-3, centered=True, momentum=0.5, weight_decay=1e-2)),
        lambda L, o: L.CosineAnnealingWarmRestarts(o, T_0=5, T_mult=2, eta_min=1e-5),
    ),
    "lstm": (
        _RNNCls("LSTM"),
        lambda r: (r.normal(size=(6, 4, 5)), np.array([6, 2, 4, 1]), r.integers(0, 3, 4)),
        _rnn_loss,
        ("NAdam", dict(lr=3e-3, weight_decay=1e-2, decoupled_weight_decay=True)),
        lambda L, o: L.ReduceLROnPlateau(o, factor=0.5, patience=3, threshold=1e-2),
    ),
    "gru": (
        _RNNCls("GRU"),
        lambda r: (r.normal(size=(6, 4, 5)), np.array([3, 6, 1, 5]), r.integers(0, 3, 4)),
        _rnn_loss,
        ("AdamW", dict(lr=3e-3, amsgrad=True, weight_decay=0.1)),
        lambda L, o: L.CyclicLR(o, 1e-4, 5e-3, step_size_up=9, mode="exp_range", gamma=0.99),
    ),
    "encoder": (
        _encoder,
        _enc_batch,
        lambda nn, m, x, pad, y: nn.functional.cross_entropy(m(x, pad), y),
        ("RAdam", dict(lr=3e-3, weight_decay=1e-2, decoupled_weight_decay=True)),
        lambda L, o: L.SequentialLR(
            o, [L.LinearLR(o, 0.1, total_iters=10), L.PolynomialLR(o, 100, 2.0)], [10]
        ),
    ),
    "seq2seq": (
        _seq2seq,
        _s2s_batch,
        lambda nn, m, s, t, y: nn.functional.cross_entropy(m(s, t).reshape(-1, 7), y.reshape(-1)),
        ("Adamax", dict(lr=3e-3, weight_decay=1e-2)),
        lambda L, o: L.ChainedScheduler([L.ConstantLR(o, 0.5, 15), L.ExponentialLR(o, 0.99)]),
    ),
    "bag": (
        _bag,
        lambda r: (r.integers(0, 20, (6, 5)), np.arange(0, 30, 5), r.integers(0, 3, 6)),
        lambda nn, m, x, offs, y: nn.functional.cross_entropy(m(x, offs), y),
        ("Adagrad", dict(lr=0.05, lr_decay=1e-2, initial_accumulator_value=0.1)),
        lambda L, o: L.MultiStepLR(o, [10, 30, 31, 80], gamma=0.7),
    ),
}
_SLOW_LONG = {"gru", "encoder", "seq2seq"}  # (each ~3-4 s; LSTM covers the packed path)


def _long_run(name, steps=100):
    mk, batch, loss, (opt, okw), sched = _LONG[name]
    tm, em = twin(mk)

    def make(lib, L, m):
        o = getattr(lib, opt)(_groups(m, okw["lr"]), **okw)
        return o, sched(L, o)

    topt, tsch = make(torch.optim, torch.optim.lr_scheduler, tm)
    eopt, esch = make(eoptim, eoptim.lr_scheduler, em)
    rng = np.random.default_rng(1)
    for i in range(steps):
        if i == steps // 2:  # fresh optimiser and scheduler, then their states (torch's order)
            osd, ssd = eopt.state_dict(), esch.state_dict()
            eopt, esch = make(eoptim, eoptim.lr_scheduler, em)
            eopt.load_state_dict(osd)
            esch.load_state_dict(ssd)
        topt.zero_grad()
        eopt.zero_grad()
        total = 0.0
        for _ in range(2):  # gradient accumulation over two half-weighted batches
            b = batch(rng)
            t = loss(tnn, tm, *[T(tnn, a) for a in b]) / 2
            e = loss(enn, em, *[T(enn, a) for a in b]) / 2
            close(e, t, f"loss step {i}", 1e-9)
            t.backward()
            e.backward()
            total += t.item()
        tn = tnn.utils.clip_grad_norm_(tm.parameters(), 1.0)
        en = enn.utils.clip_grad_norm_(em.parameters(), 1.0)
        close(en, tn, f"grad norm step {i}", 1e-9)
        tnn.utils.clip_grad_value_(tm.parameters(), 0.2)
        enn.utils.clip_grad_value_(em.parameters(), 0.2)
        topt.step()
        eopt.step()
        plateau = isinstance(tsch, torch.optim.lr_scheduler.ReduceLROnPlateau)
        tsch.step(*((total,) if plateau else ()))
        esch.step(*((total,) if plateau else ()))
        for gt, ge in zip(topt.param_groups, eopt.param_groups):
            np.testing.assert_allclose(ge["lr"], gt["lr"], rtol=1e-12, err_msg=f"lr step {i}")
    tsd, esd = tm.state_dict(), em.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        te, ee = tsd[k].numpy().copy(), np.array(esd[k])
        if k.endswith("in_proj_bias"):  # the key bias: a zero gradient up to rounding noise,
            n = te.shape[0] // 3  # which Adam-like steps turn into lr-sized moves
            te[n : 2 * n] = ee[n : 2 * n]
        close(ee, te, k, 1e-9)
    tm.eval()
    em.eval()
    b = batch(rng)
    close(loss(enn, em, *[T(enn, a) for a in b]), loss(tnn, tm, *[T(tnn, a) for a in b]), "eval")


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.slow) if n in _SLOW_LONG else n for n in _LONG],
)
def test_long_run_with_groups_scheduler_clipping_accumulation_resume(name):
    _long_run(name)


# --------------------------------------------------------------------------------------------
# CPU autocast (bfloat16): the rounding points torch has
# --------------------------------------------------------------------------------------------


def _autocast_twins(mk, x):
    torch.manual_seed(0)
    tm, em = mk(tnn), mk(enn)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    with torch.autocast("cpu", dtype=torch.bfloat16):
        ty = tm(torch.from_numpy(x))
    with ember.autocast("cpu", dtype=ember.bfloat16):
        ey = em(ember.tensor(x))
    return tm, em, ty, ey


def test_autocast_linear_bias_gradient_is_summed_in_float32():
    """A bf16 Linear's bias gradient is the float32 sum of the bf16 output gradients, rounded
    once (ember summed in bfloat16: one bf16 ulp off, and Adam's steps followed it)."""
    x = np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32)
    tm, em, ty, ey = _autocast_twins(lambda nn: nn.Linear(10, 4), x)
    g = np.random.default_rng(1).normal(size=(64, 4)).astype(np.float32)
    ty.backward(torch.from_numpy(g).bfloat16())
    ey.backward(ember.tensor(g).to(ember.bfloat16))
    np.testing.assert_array_equal(np.asarray(em.bias.grad.data), tm.bias.grad.numpy())
    np.testing.assert_array_equal(np.asarray(em.weight.grad.data), tm.weight.grad.numpy())


def test_autocast_conv_modules_and_batchnorm_mixed_dtype():
    """nn.Conv* modules run in bfloat16 inside autocast (they had bound F.conv2d at import,
    before autocast swaps it, and stayed float32), and BatchNorm2d takes the bf16 activations
    with its float32 parameters and statistics, as torch's mixed-type batch norm."""

    def mk(nn):
        return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4))

    x = np.random.default_rng(0).normal(size=(4, 1, 6, 6)).astype(np.float32)
    tm, em, ty, ey = _autocast_twins(mk, x)
    assert ey.dtype == ember.bfloat16 and ty.dtype == torch.bfloat16
    np.testing.assert_array_equal(np.asarray(ey.float().data), ty.float().detach().numpy())
    for k in ("1.running_mean", "1.running_var"):
        assert em.state_dict()[k].dtype == np.float32
        close(em.state_dict()[k], tm.state_dict()[k], k, 1e-6)
    ty.float().sum().backward()
    ey.float().sum().backward()
    for k in ("1.weight", "1.bias"):
        assert em.get_parameter(k).grad.dtype == np.float32
    close(em[1].bias.grad, tm[1].bias.grad, "bn bias grad", 1e-6)
    with ember.autocast("cpu", dtype=ember.bfloat16):
        for m in (enn.Conv1d(1, 2, 3), enn.ConvTranspose2d(1, 2, 3)):
            shape = (2, 1, 5) if isinstance(m, enn.Conv1d) else (2, 1, 5, 5)
            assert m(ember.randn(*shape)).dtype == ember.bfloat16


def test_autocast_mlp_training_follows_torch():
    """20 Adam steps of an MLP under bf16 autocast stay on torch's trajectory (to float32
    rounding: the bf16 rounding points are the same)."""

    def mk(nn):
        return nn.Sequential(nn.Linear(10, 32), nn.Tanh(), nn.Linear(32, 4))

    torch.manual_seed(0)
    tm, em = mk(tnn), mk(enn)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    topt, eopt = torch.optim.Adam(tm.parameters(), 3e-3), eoptim.Adam(em.parameters(), 3e-3)
    rng = np.random.default_rng(0)
    for i in range(20):
        x, y = rng.normal(size=(16, 10)).astype(np.float32), rng.integers(0, 4, 16)
        topt.zero_grad()
        eopt.zero_grad()
        with torch.autocast("cpu", dtype=torch.bfloat16):
            t = tnn.functional.cross_entropy(tm(torch.from_numpy(x)), torch.from_numpy(y))
        with ember.autocast("cpu", dtype=ember.bfloat16):
            e = enn.functional.cross_entropy(em(ember.tensor(x)), ember.tensor(y))
        close(e, t, f"loss step {i}", 1e-5)
        t.backward()
        e.backward()
        topt.step()
        eopt.step()
    check_state(tm, em, 1e-5)


@contextlib.contextmanager
def _no_warning(*args, **kwargs):
    yield


_LOWP_NORMS = {
    "layer_norm": lambda nn: nn.LayerNorm(16),
    "group_norm": lambda nn: nn.GroupNorm(2, 6),
    "instance_norm": lambda nn: nn.InstanceNorm1d(6, affine=True, track_running_stats=True),
    "batch_norm": lambda nn: nn.BatchNorm1d(6),
    "rms_norm": lambda nn: nn.RMSNorm(16),
}


@pytest.mark.parametrize("name", sorted(_LOWP_NORMS))
@pytest.mark.parametrize("low", ["bfloat16", "float16"])
def test_norm_layers_take_16_bit_input_with_float32_parameters(name, low):
    """A norm layer after a bf16 Linear under autocast gets a 16-bit input and keeps float32
    parameters: torch normalises in float32 and rounds the output once (layer, group and
    instance norm refused the mix with TypeError; RMSNorm computed in bfloat16 with bfloat16's
    eps, ~1e2 ulps off for small activations)."""
    mk = _LOWP_NORMS[name]
    torch.manual_seed(0)
    tm, em = mk(tnn), mk(enn)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    rng = np.random.default_rng(0)
    x = (rng.normal(size=(4, 6, 16)) * 0.05).astype(np.float32)
    g = rng.normal(size=(4, 6, 16)).astype(np.float32)
    tdt, edt = getattr(torch, low), getattr(ember, low)
    tx = torch.from_numpy(x).to(tdt).requires_grad_()
    ex = ember.tensor(x).to(edt).requires_grad_()
    with warnings.catch_warnings():  # torch's rms_norm warns once a process: its unfused path
        warnings.simplefilter("ignore")
        ty = tm(tx)
    warns = pytest.warns if name == "rms_norm" else _no_warning
    with warns(UserWarning, match="Mismatch dtype"):
        ey = em(ex)
    assert ey.dtype == edt
    np.testing.assert_array_equal(np.asarray(ey.float().data), ty.float().detach().numpy())
    ty.backward(torch.from_numpy(g).to(tdt))
    ey.backward(ember.tensor(g).to(edt))
    np.testing.assert_array_equal(np.asarray(ex.grad.float().data), tx.grad.float().numpy())
    if name != "layer_norm":  # (torch's mixed layer-norm backward rounds its own way)
        for k, p in em.named_parameters():
            close(p.grad, dict(tm.named_parameters())[k].grad, f"{k} grad", 1e-5)
    for k, v in tm.state_dict().items():
        assert em.state_dict()[k].dtype == v.numpy().dtype  # float32 (num_batches_tracked int64)
        close(em.state_dict()[k], v, k, 1e-6)
