"""Whole training runs, ember beside PyTorch (round 28): a MobileNet-style net (depthwise and
grouped pointwise convs, channel shuffle, SE gating, ReLU6/Hardswish) under SGD nesterov +
three-phase OneCycleLR with label smoothing; a tiny ViT (conv or unfold patches, cls token,
learned positions, pre-norm GELU TransformerEncoder) under two AdamWs with LambdaLR and
CosineAnnealingWarmRestarts; a TCN (left-padded dilated Conv1d, both weight_norms, GLU,
residuals) under RAdam/NAdam with decoupled weight decay; packed bidirectional LSTM with
proj_size / GRU under Adamax/Rprop with foreach and non-foreach clip_grad_norm_; a siamese
embedding under the triplet/cosine/ranking losses with ASGD and SGD(maximize=True); a multi-task
model (weighted retain_graph backward passes, a sub-module frozen mid-run, add_param_group
mid-run, LambdaLR with a lambda per group and Linear/Polynomial/ConstantLR stacked on one
optimiser); and a bfloat16 autocast run. Every run is also repeated with ember's side saved
(ember.save of model, optimisers and schedulers) and loaded into fresh objects mid-run.

The twins step in lockstep on the same batches from torch's initial weights. In float64 the
losses, parameters, buffers, optimiser state, scheduler state and learning rates agree to a few
1e-15 normwise over these runs (scratch driver), so rtol 1e-9 pins the rules.
"""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
pytest.importorskip("torch.nn.utils.parametrizations")

from test_train21 import _digits  # noqa: E402
from test_train27 import _close, _lockstep  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _eval_agrees(tm, em, x, rtol=1e-9):
    tm.eval(), em.eval()
    with torch.no_grad():
        want = tm(torch.from_numpy(x))
    with ember.no_grad():
        got = em(ember.tensor(x))
    _close(got, want, "eval forward", rtol)


def _image_batches(steps, bs, dtype=np.float64):
    X, y = _digits(images=True, n=240, dtype=dtype)
    order = np.random.default_rng(0).permutation(len(X))
    return [
        (X[order[(bs * i) % 240 :][:bs]], y[order[(bs * i) % 240 :][:bs]]) for i in range(steps)
    ]


# ---- (a) MobileNet-style: depthwise/grouped pointwise convs, shuffle, SE; SGD + OneCycleLR ----
class _Mobile:
    steps = 12

    def __init__(self, anneal="cos"):
        self.anneal = anneal

    @staticmethod
    def build(L):
        nn, F = L.nn, L.F

        class SE(nn.Module):
            def __init__(self, c, r, gate):
                super().__init__()
                self.pool, self.gate = nn.AdaptiveAvgPool2d(1), gate
                self.fc1, self.fc2 = nn.Conv2d(c, r, 1), nn.Conv2d(r, c, 1)

            def forward(self, x):
                return x * self.gate(self.fc2(F.relu(self.fc1(self.pool(x)))))

        def shuffle(x, g):
            n, c, h, w = x.shape
            return x.view(n, g, c // g, h, w).transpose(1, 2).contiguous().view(n, c, h, w)

        class Block(nn.Module):  # inverted residual
            def __init__(self, cin, cout, exp, stride, act, gate):
                super().__init__()
                self.expand = nn.Sequential(
                    nn.Conv2d(cin, exp, 1, groups=2, bias=False), nn.BatchNorm2d(exp), act()
                )
                self.dw = nn.Sequential(
                    nn.Conv2d(exp, exp, 3, stride, 1, groups=exp, bias=False),
                    nn.BatchNorm2d(exp, momentum=0.2), act(),
                )  # fmt: skip
                self.se = SE(exp, 4, gate)
                self.project = nn.Sequential(nn.Conv2d(exp, cout, 1, bias=False),
                                             nn.BatchNorm2d(cout))  # fmt: skip
                self.res = stride == 1 and cin == cout

            def forward(self, x):
                y = self.project(self.se(self.dw(shuffle(self.expand(x), 2))))
                return x + y if self.res else y

        return nn.Sequential(
            nn.Conv2d(1, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.Hardswish(),
            Block(8, 8, 16, 1, nn.ReLU6, nn.Sigmoid()),
            Block(8, 12, 24, 2, nn.Hardswish, nn.Hardsigmoid()),
            nn.Conv2d(12, 16, 1), nn.Hardswish(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
            nn.Dropout(0.0), nn.Linear(16, 10),
        )  # fmt: skip

    def optim(self, L, m, at):
        o = L.optim.SGD(m.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=4e-5)
        s = L.sched.OneCycleLR(o, max_lr=0.3, total_steps=self.steps, pct_start=0.3,
                               anneal_strategy=self.anneal, three_phase=True)  # fmt: skip
        return [o], [s]

    @staticmethod
    def step(L, m, opts, scheds, batch, i):
        x, y = (L.t(a) for a in batch)
        (o,), (s,) = opts, scheds
        o.zero_grad()
        loss = L.nn.CrossEntropyLoss(label_smoothing=0.1)(m(x), y)
        loss.backward()
        o.step()
        s.step()
        return [loss.item(), o.param_groups[0]["momentum"]]


@pytest.mark.parametrize("anneal, resume_at", [("cos", None), ("linear", 7)])
def test_mobilenet_se_shuffle_sgd_nesterov_three_phase_onecycle(anneal, resume_at):
    r = _Mobile(anneal)
    tl, el, tm, em = _lockstep(r, _image_batches(r.steps, 16), resume_at, resume_torch=True)
    assert tl[-1, 0] < tl[0, 0]
    _eval_agrees(tm, em, _image_batches(1, 40)[0][0])


def test_mobilenet_float32_stays_as_close_to_float64_as_torchs():
    """Float32 rounding is amplified by training, so no fixed tolerance against torch's float32
    run is meaningful; instead ember's float32 run must stay as close to the float64 run as
    torch's own float32 run does (within 4x plus a few ulps of the loss), step by step."""
    r = _Mobile()
    b64 = _image_batches(r.steps, 16)
    b32 = [(x.astype(np.float32), y) for x, y in b64]
    t64, _, _, _ = _lockstep(r, b64, resume_torch=True)
    t32, e32, _, _ = _lockstep(r, b32, dtype=np.float32, resume_torch=True)
    torch_err = np.abs(t32[:, 0] - t64[:, 0])
    ember_err = np.abs(e32[:, 0] - t64[:, 0])
    assert np.all(ember_err <= 4 * torch_err + 1e-5 * np.abs(t64[:, 0])), (ember_err, torch_err)


# ---- (b) tiny ViT: patch embedding, cls token, positions, pre-norm GELU encoder; two AdamWs ---
class _ViT:
    steps, d = 10, 16

    def __init__(self, unfold):
        self.unfold = unfold

    def build(self, L):
        nn, F, d, unfold = L.nn, L.F, self.d, self.unfold

        class ViT(nn.Module):
            def __init__(self):
                super().__init__()
                self.proj = nn.Linear(16, d) if unfold else nn.Conv2d(1, d, 4, 4)
                self.cls = nn.Parameter(L.mod.randn(1, 1, d) * 0.02)
                self.pos = nn.Parameter(L.mod.randn(1, 5, d) * 0.02)
                layer = nn.TransformerEncoderLayer(d, 2, 32, dropout=0.0, activation="gelu",
                                                   batch_first=True, norm_first=True)  # fmt: skip
                self.enc = nn.TransformerEncoder(layer, 2, norm=nn.LayerNorm(d),
                                                 enable_nested_tensor=False)  # fmt: skip
                self.head = nn.Linear(d, 10)

            def forward(self, x):
                if unfold:
                    p = self.proj(F.unfold(x, 4, stride=4).transpose(1, 2))
                else:
                    p = self.proj(x).flatten(2).transpose(1, 2)
                z = L.mod.cat([self.cls.expand(len(x), -1, -1), p], 1) + self.pos
                return self.head(self.enc(z)[:, 0])

        return ViT()

    @staticmethod
    def optim(L, m, at):
        decay = [p for n, p in m.named_parameters() if p.ndim >= 2 and not n.startswith("head")]
        rest = [p for n, p in m.named_parameters() if p.ndim < 2 and not n.startswith("head")]
        body = L.optim.AdamW([{"params": decay}, {"params": rest, "weight_decay": 0.0}],
                             lr=3e-3, weight_decay=0.05)  # fmt: skip
        head = L.optim.AdamW(m.head.parameters(), lr=5e-3, betas=(0.8, 0.99), amsgrad=True)
        s1 = L.sched.LambdaLR(body, lambda s: min(1.0, (s + 1) / 4) * 0.95 ** max(0, s - 4))
        s2 = L.sched.CosineAnnealingWarmRestarts(head, T_0=2, T_mult=2, eta_min=1e-4)
        return [body, head], [s1, s2]

    @staticmethod
    def step(L, m, opts, scheds, batch, i):
        x, y = (L.t(a) for a in batch)
        for o in opts:
            o.zero_grad()
        loss = L.F.cross_entropy(m(x), y)
        loss.backward()
        for o in opts:
            o.step()
        for s in scheds:
            s.step()
        return [loss.item()]


@pytest.mark.parametrize("unfold, resume_at", [(False, None), (True, 6)])
def test_vit_cls_token_prenorm_gelu_adamw_lambda_and_warm_restarts(unfold, resume_at):
    r = _ViT(unfold)
    tl, el, tm, em = _lockstep(r, _image_batches(r.steps, 16), resume_at, resume_torch=True)
    assert tl[-1, 0] < tl[0, 0]
    for mod in (tm, em):  # eval ignores dropout whatever its p
        for sub in mod.modules():
            if type(sub).__name__ == "Dropout":
                sub.p = 0.5
    _eval_agrees(tm, em, _image_batches(1, 40)[0][0])


# ---- (c) TCN: left-padded dilated Conv1d, weight_norm (both APIs), GLU, residual; RAdam/NAdam -
class _TCN:
    steps, c = 14, 6

    def __init__(self, opt):
        self.opt = opt

    def build(self, L):
        nn, F, c = L.nn, L.F, self.c
        wn_old, wn_new = nn.utils.weight_norm, nn.utils.parametrizations.weight_norm

        class Block(nn.Module):
            def __init__(self, k, d, wn):
                super().__init__()
                self.pad = (k - 1) * d  # causal: output t sees inputs <= t only
                self.conv = wn(nn.Conv1d(c, 2 * c, k, dilation=d))
                self.res = nn.Conv1d(c, c, 1)

            def forward(self, x):
                return x + self.res(F.glu(self.conv(F.pad(x, (self.pad, 0))), dim=1))

        class TCN(nn.Module):
            def __init__(self):
                super().__init__()
                self.inp = nn.Conv1d(1, c, 1)
                self.blocks = nn.Sequential(
                    Block(2, 1, wn_old), Block(3, 2, lambda m: wn_new(m, dim=None)),
                    Block(2, 4, lambda m: wn_new(m, dim=1)),
                )  # fmt: skip
                self.out = nn.Conv1d(c, 1, 1)

            def forward(self, x):
                return self.out(self.blocks(self.inp(x)))

        return TCN()

    def optim(self, L, m, at):
        if self.opt == "radam":
            o = L.optim.RAdam(m.parameters(), lr=4e-3, weight_decay=0.02,
                              decoupled_weight_decay=True)  # fmt: skip
        else:
            o = L.optim.NAdam(m.parameters(), lr=4e-3, momentum_decay=8e-3, weight_decay=0.01,
                              decoupled_weight_decay=True)  # fmt: skip
        return [o], []

    @staticmethod
    def step(L, m, opts, scheds, batch, i):
        (x,) = (L.t(a) for a in batch)
        (o,) = opts
        o.zero_grad()
        loss = L.F.mse_loss(m(x)[:, :, :-1], x[:, :, 1:])  # predict the next sample
        loss.backward()
        o.step()
        return [loss.item()]


def _wave_batches(steps, bs=8, n=24):
    rng = np.random.default_rng(3)
    t = np.arange(n)
    return [(np.sin(0.3 * t * rng.uniform(0.5, 1.5, (bs, 1, 1)) + rng.uniform(0, 6, (bs, 1, 1)))
             + 0.05 * rng.normal(size=(bs, 1, n)),) for _ in range(steps)]  # fmt: skip


@pytest.mark.filterwarnings("ignore:.*weight_norm. is deprecated:FutureWarning")
@pytest.mark.parametrize("opt, resume_at", [("radam", None), ("radam", 8), ("nadam", 5)])
def test_tcn_causal_dilated_weight_norm_glu_radam_nadam(opt, resume_at):
    r = _TCN(opt)
    tl, el, tm, em = _lockstep(r, _wave_batches(r.steps), resume_at, resume_torch=True)
    assert tl[-1, 0] < tl[0, 0]
    # causal: the last input sample does not reach earlier outputs (in both libraries)
    x = _wave_batches(1)[0][0]
    x2 = x.copy()
    x2[..., -1] += 1.0
    with ember.no_grad():
        a, b = em(ember.tensor(x)).numpy(), em(ember.tensor(x2)).numpy()
    np.testing.assert_array_equal(a[..., :-1], b[..., :-1])


# ---- (d) packed bidirectional LSTM with proj_size / GRU; Adamax / Rprop; clip_grad_norm_ -----
class _Packed:
    steps = 10

    def __init__(self, cell, opt, foreach):
        self.cell, self.opt, self.foreach = cell, opt, foreach

    def build(self, L):
        nn, cell = L.nn, self.cell

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                if cell == "lstm":
                    self.rnn = nn.LSTM(4, 9, 2, batch_first=True, bidirectional=True, proj_size=5)
                    h = 5
                    self.c0 = nn.Parameter(L.mod.randn(4, 1, 9) * 0.1)
                else:  # time-major, from pack_sequence
                    self.rnn = nn.GRU(4, 7, 2, bidirectional=True)
                    h = 7
                # learned initial states, one per sample: the packing's sort must permute them
                self.h0 = nn.Parameter(L.mod.randn(4, 6, h) * 0.1)
                self.head = nn.Linear(3 * h, 3)

            def forward(self, x, lengths):
                U = L.nn.utils.rnn
                if cell == "lstm":
                    packed = U.pack_padded_sequence(
                        x, lengths, batch_first=True, enforce_sorted=False
                    )  # fmt: skip
                    hx = (self.h0, self.c0.expand(-1, len(x), -1).contiguous())
                else:
                    seqs = [x[j, : int(n)] for j, n in enumerate(lengths)]
                    packed, hx = U.pack_sequence(seqs, enforce_sorted=False), self.h0
                out, h = self.rnn(packed, hx)
                h = h[0] if cell == "lstm" else h
                out, lens = U.pad_packed_sequence(out, batch_first=True, total_length=8)
                pooled = out.sum(1) / lens.to(out.dtype).unsqueeze(1)
                return self.head(L.mod.cat([h[-2] + h[-1], pooled], 1))

        return Net()

    def optim(self, L, m, at):
        if self.opt == "adamax":
            return [L.optim.Adamax(m.parameters(), lr=0.02, weight_decay=1e-3)], []
        return [
            L.optim.Rprop(m.parameters(), lr=5e-3, etas=(0.4, 1.3), step_sizes=(1e-5, 0.05))
        ], []

    def step(self, L, m, opts, scheds, batch, i):
        x, lengths, y = batch
        (o,) = opts
        o.zero_grad()
        loss = L.F.cross_entropy(m(L.t(x), L.t(lengths)), L.t(y))
        loss.backward()
        norm = L.mod.nn.utils.clip_grad_norm_(m.parameters(), 0.5, norm_type=2.0 if i % 2 else 3.0,
                                              foreach=self.foreach)  # fmt: skip
        o.step()
        return [loss.item(), norm.item()]


def _seq_batches(steps, bs=6, tmax=7):
    rng = np.random.default_rng(4)
    out = []
    for _ in range(steps):
        lengths = rng.integers(2, tmax + 1, bs)
        x = rng.normal(size=(bs, tmax, 4))
        for j, n in enumerate(lengths):
            x[j, n:] = 0.0
        y = (x[:, :, 0].sum(1) > 0).astype(np.int64) + (x[:, 0, 1] > 0.5)
        out.append((x, lengths.astype(np.int64), y))
    return out


@pytest.mark.parametrize(
    "cell, opt, foreach, resume_at",
    [("lstm", "adamax", True, None), ("lstm", "rprop", False, 6), ("gru", "adamax", False, 4),
     ("gru", "rprop", True, None)],
)  # fmt: skip
def test_packed_bidirectional_proj_lstm_gru_adamax_rprop_clip_foreach(
    cell, opt, foreach, resume_at
):
    r = _Packed(cell, opt, foreach)
    tl, el, tm, em = _lockstep(r, _seq_batches(r.steps), resume_at, resume_torch=True)
    assert np.all(tl[:, 1] > 0)  # the clipped norms were compared too


# ---- (e) siamese embedding: triplet / cosine / ranking losses; ASGD and SGD(maximize) --------
class _Siamese:
    steps = 12

    def __init__(self, opt):
        self.opt = opt

    @staticmethod
    def build(L):
        nn = L.nn
        return nn.Sequential(nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 8))

    def optim(self, L, m, at):
        if self.opt == "asgd":
            return [L.optim.ASGD(m.parameters(), lr=0.05, lambd=1e-3, alpha=0.75, t0=4,
                                 weight_decay=1e-4)], []  # fmt: skip
        return [L.optim.SGD(m.parameters(), lr=0.05, momentum=0.8, dampening=0.1,
                            weight_decay=1e-4, maximize=True)], []  # fmt: skip

    def step(self, L, m, opts, scheds, batch, i):
        a, p, n, sim = (L.t(v) for v in batch)
        (o,) = opts
        nn, F = L.nn, L.F
        o.zero_grad()
        ea, ep, en = m(a), m(p), m(n)
        cos_dist = lambda u, v: 1.0 - F.cosine_similarity(u, v)  # noqa: E731
        triplet_cos = nn.TripletMarginWithDistanceLoss(distance_function=cos_dist, margin=0.3)
        d_ap, d_an = F.pairwise_distance(ea, ep), F.pairwise_distance(ea, en)
        loss = (
            nn.TripletMarginLoss(margin=1.0, p=2, swap=True)(ea, ep, en)
            + 0.5 * triplet_cos(ea, ep, en)
            + 0.3 * nn.CosineEmbeddingLoss(margin=0.2)(ea, L.mod.cat([ep[:4], en[4:]]), sim)
            + 0.2 * nn.MarginRankingLoss(margin=0.1)(d_an, d_ap, L.mod.ones_like(d_an))
        )  # fmt: skip
        (-loss if self.opt == "sgd_max" else loss).backward()
        o.step()
        return [loss.item()]


def _triplet_batches(steps, bs=8):
    X, y = _digits(n=240)
    rng = np.random.default_rng(5)
    out = []
    for _ in range(steps):
        a = rng.integers(0, 240, bs)
        p = np.array([rng.choice(np.flatnonzero(y == y[k])) for k in a])
        n = np.array([rng.choice(np.flatnonzero(y != y[k])) for k in a])
        sim = np.where(np.arange(bs) < 4, 1.0, -1.0)
        out.append((X[a], X[p], X[n], sim))
    return out


@pytest.mark.parametrize("opt, resume_at", [("asgd", None), ("asgd", 7), ("sgd_max", 5)])
def test_siamese_triplet_cosine_ranking_losses_asgd_sgd_maximize(opt, resume_at):
    r = _Siamese(opt)
    tl, el, tm, em = _lockstep(r, _triplet_batches(r.steps), resume_at, resume_torch=True)
    assert tl[-1, 0] < tl[0, 0]


# ---- (f) multi-task: retain_graph, freeze mid-run, add_param_group mid-run, per-group scheds --
class _MultiTask:
    steps, freeze_at, grow_at = 12, 4, 6

    def build(self, L):
        nn = L.nn

        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.trunk = nn.Sequential(nn.Linear(64, 24), nn.ReLU(), nn.Linear(24, 16),
                                           nn.ReLU())  # fmt: skip
                self.cls, self.reg, self.par = nn.Linear(16, 10), nn.Linear(16, 1), nn.Linear(16, 2)

        return Net()

    def optim(self, L, m, at):
        S = L.sched
        groups = [{"params": m.trunk.parameters()}, {"params": m.cls.parameters(), "lr": 0.05}]
        o1 = L.optim.SGD(groups, lr=0.1, momentum=0.9)
        o2 = L.optim.Adam(m.reg.parameters(), lr=1e-2)
        if at > self.grow_at:
            o2.add_param_group({"params": m.par.parameters(), "lr": 5e-3, "betas": (0.8, 0.9)})
        scheds = [
            S.LambdaLR(o1, [lambda s: 0.9**s, lambda s: 1 / (1 + 0.5 * s)]),
            S.LinearLR(o2, start_factor=0.5, total_iters=4),
            S.PolynomialLR(o2, total_iters=10, power=2.0),
            S.ConstantLR(o2, factor=0.5, total_iters=3),
        ]
        return [o1, o2], scheds

    def step(self, L, m, opts, scheds, batch, i):
        x, y = (L.t(v) for v in batch)
        o1, o2 = opts
        if i >= self.freeze_at:
            m.trunk[0].requires_grad_(False)
        if i == self.grow_at:
            o2.add_param_group({"params": m.par.parameters(), "lr": 5e-3, "betas": (0.8, 0.9)})
        for o in opts:
            o.zero_grad()
        h = m.trunk(x)
        l_cls = L.F.cross_entropy(m.cls(h), y)
        l_reg = L.F.smooth_l1_loss(m.reg(h).squeeze(1), y.to(h.dtype) / 9)
        (0.7 * l_cls).backward(retain_graph=True)
        (0.3 * l_reg).backward(retain_graph=i >= self.grow_at)
        losses = [l_cls.item(), l_reg.item(), 0.0]
        if i >= self.grow_at:
            l_par = L.F.cross_entropy(m.par(h), y % 2)
            (0.5 * l_par).backward()
            losses[2] = l_par.item()
        for o in opts:
            o.step()
        for s in scheds:
            s.step()
        return losses


@pytest.mark.parametrize("resume_at", [None, 3, 9])
def test_multitask_retain_graph_freeze_add_param_group_per_group_schedulers(resume_at):
    r = _MultiTask()
    X, y = _digits(n=240)
    order = np.random.default_rng(6).permutation(240)
    batches = [(X[order[16 * i :][:16]], y[order[16 * i :][:16]]) for i in range(r.steps)]
    tl, el, tm, em = _lockstep(r, batches, resume_at, resume_torch=True)
    assert tl[-1, 0] < tl[0, 0]
    # still frozen after the resume: the recipe refreezes it at every step, as a script would
    assert em.trunk[0].weight.requires_grad is False


# ---- (g) bfloat16 CPU autocast: the MobileNet and the ViT in float32 under autocast ----------
class _Autocast:
    """A recipe whose steps (forward, loss, backward, step) run inside CPU bfloat16 autocast."""

    def __init__(self, recipe):
        self.r, self.build, self.optim, self.steps = (
            recipe,
            recipe.build,
            recipe.optim,
            recipe.steps,
        )

    def step(self, L, m, opts, scheds, batch, i):
        with L.mod.autocast("cpu", dtype=L.mod.bfloat16):
            return self.r.step(L, m, opts, scheds, batch, i)


@pytest.mark.parametrize("recipe, first", [(_Mobile(), 1e-6), (_ViT(False), 1e-3)],
                         ids=["mobilenet", "vit"])  # fmt: skip
def test_bfloat16_autocast_runs_follow_torchs(recipe, first):
    """Float32 models trained under bf16 autocast, resumed half-way. The first step's loss pins
    the rounding points: the MobileNet's agrees to float32 rounding (every conv / linear rounds
    to bf16 where torch's does). The ViT's differs by ~2e-4: torch's fused CPU attention rounds
    the softmax numerators to bf16 before multiplying by V, ember's kernel computes bf16
    attention in float32 and rounds only its output (left as is: a kernel change). Later steps
    differ by flips of bf16 roundings (a float32-ulp difference in a BatchNorm gradient sum
    moves a bf16 gradient by one bf16 ulp, 2^-8): measured <= 1e-3 relative over these runs,
    so the losses are held to half a bf16 ulp, 2e-3. Parameters are not compared: Adam turns
    the rounding noise in gradients that are zero in exact arithmetic (the key part of
    in_proj_bias, a BatchNorm bias feeding only a BatchNorm) into full-size steps."""
    r = _Autocast(recipe)
    b = [(x.astype(np.float32), y) for x, y in _image_batches(r.steps, 16)]
    tl, el, tm, em = _lockstep(r, b, dtype=np.float32, resume_at=r.steps // 2, resume_torch=True)
    np.testing.assert_allclose(el[0, 0], tl[0, 0], rtol=first)
    np.testing.assert_allclose(el[:, 0], tl[:, 0], rtol=2e-3)
    esd = em.state_dict()
    for k, v in tm.state_dict().items():
        assert esd[k].dtype == v.numpy().dtype, k
