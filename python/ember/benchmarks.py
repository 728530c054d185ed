"""The benchmark workloads: ember, NumPy and PyTorch (when installed) side by side.

One registry serves both ``python -m ember bench`` (a table of times and ratios) and the
pytest-benchmark suite in ``bench/``. A workload builds its inputs once and returns, per
implementation, a zero-argument callable that runs one iteration.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

IMPLS = ("ember", "numpy", "torch")


@dataclass(frozen=True)
class Workload:
    name: str
    group: str
    build: Callable[[], dict]  # -> {impl: callable}


WORKLOADS: list[Workload] = []


def workload(name: str, group: str):
    def register(build):
        WORKLOADS.append(Workload(name, group, build))
        return build

    return register


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _rng():
    return np.random.default_rng(0)


# ---- GEMM ---------------------------------------------------------------------------------


def _gemm_case(m: int, k: int, n: int, dtype) -> dict:
    from ember import _C

    rng = _rng()
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    impls = {"ember": lambda: _C.gemm(a, b), "numpy": lambda: a @ b}
    torch = _torch()
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        impls["torch"] = lambda: ta @ tb
    return impls


for _n in (64, 128, 256, 512, 1024, 2048):
    workload(f"gemm/f32/{_n}", "gemm")(lambda n=_n: _gemm_case(n, n, n, np.float32))
for _n in (256, 1024):
    workload(f"gemm/f64/{_n}", "gemm")(lambda n=_n: _gemm_case(n, n, n, np.float64))
# The skinny products of an MLP step (batch 64, 784 -> 256 -> 10) and their backward shapes.
for _m, _k, _n in ((64, 784, 256), (64, 256, 10), (256, 64, 784), (64, 10, 256)):
    workload(f"gemm/f32/mlp_{_m}x{_k}x{_n}", "gemm")(
        lambda m=_m, k=_k, n=_n: _gemm_case(m, k, n, np.float32)
    )


# ---- softmax ------------------------------------------------------------------------------


def _softmax_case(backward: bool) -> dict:
    import ember
    from ember.nn import functional as F

    x = _rng().standard_normal((4096, 1000)).astype(np.float32)
    g = _rng().standard_normal((4096, 1000)).astype(np.float32)
    xe = ember.tensor(x, requires_grad=backward)

    def ours():
        y = F.softmax(xe, dim=-1)
        if backward:
            y.backward(g)

    def numpy_ref():
        e = np.exp(x - x.max(axis=1, keepdims=True))
        y = e / e.sum(axis=1, keepdims=True)
        if backward:
            return y * (g - (g * y).sum(axis=1, keepdims=True))
        return y

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        xt = torch.tensor(x, requires_grad=backward)
        gt = torch.from_numpy(g)

        def theirs():
            y = torch.softmax(xt, dim=-1)
            if backward:
                y.backward(gt)

        impls["torch"] = theirs
    return impls


workload("softmax/4096x1000/fwd", "softmax")(lambda: _softmax_case(False))
workload("softmax/4096x1000/fwd+bwd", "softmax")(lambda: _softmax_case(True))


# ---- MLP training step --------------------------------------------------------------------


def _mlp_step_case() -> dict:
    import ember
    from ember import nn
    from ember.nn import functional as F

    rng = _rng()
    x = rng.standard_normal((64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def ours():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    w1 = (rng.standard_normal((784, 256)) * 0.03).astype(np.float32)
    w2 = (rng.standard_normal((256, 10)) * 0.06).astype(np.float32)
    b1, b2 = np.zeros(256, np.float32), np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)[y]

    def numpy_ref():  # the same step written by hand in NumPy
        h = np.maximum(x @ w1 + b1, 0)
        z = h @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - onehot) / len(x)
        dh = (dz @ w2.T) * (h > 0)
        for w, d in ((w2, h.T @ dz), (w1, x.T @ dh), (b2, dz.sum(0)), (b1, dh.sum(0))):
            w -= 0.01 * d

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        torch.manual_seed(0)
        tm = torch.nn.Sequential(
            torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
        )
        topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def theirs():
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()

        impls["torch"] = theirs
    return impls


workload("mlp_step/784-256-10/b64", "mlp")(_mlp_step_case)


# ---- recurrent layers ---------------------------------------------------------------------
# One LSTM / GRU layer, seq 50, batch 32, input 128, hidden 256, float32, time-major: ember's
# nn.LSTM / nn.GRU vs a NumPy time loop (input projection batched: a fair baseline) vs torch.nn.

_RNN_T, _RNN_N, _RNN_I, _RNN_H = 50, 32, 128, 256


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _numpy_lstm_forward(x, h0, c0, w_ih, w_hh, b):
    T, N, I = x.shape
    H = h0.shape[1]
    xp = (x.reshape(T * N, I) @ w_ih.T + b).reshape(T, N, 4 * H)
    h, c = h0, c0
    ys, gs, cs = [], [], []
    for t in range(T):
        a = xp[t] + h @ w_hh.T
        i, f = _sig(a[:, :H]), _sig(a[:, H : 2 * H])
        g, o = np.tanh(a[:, 2 * H : 3 * H]), _sig(a[:, 3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
        gs.append((i, f, g, o))
        cs.append(c)
    return np.stack(ys), gs, cs


def _numpy_lstm_forward_backward(x, h0, c0, w_ih, w_hh, b, dy):
    y, gs, cs = _numpy_lstm_forward(x, h0, c0, w_ih, w_hh, b)
    T, N, I = x.shape
    H = h0.shape[1]
    dh = np.zeros((N, H), x.dtype)
    dc = np.zeros((N, H), x.dtype)
    dgates = np.empty((T, N, 4 * H), x.dtype)
    for t in range(T - 1, -1, -1):
        i, f, g, o = gs[t]
        c_prev = cs[t - 1] if t > 0 else c0
        dh = dh + dy[t]
        tc = np.tanh(cs[t])
        dc = dc + dh * o * (1 - tc * tc)
        dgates[t, :, :H] = dc * g * i * (1 - i)
        dgates[t, :, H : 2 * H] = dc * c_prev * f * (1 - f)
        dgates[t, :, 2 * H : 3 * H] = dc * i * (1 - g * g)
        dgates[t, :, 3 * H :] = dh * tc * o * (1 - o)
        dc = dc * f
        dh = dgates[t] @ w_hh
    dg = dgates.reshape(T * N, 4 * H)
    h_prev = np.concatenate([h0[None], y[:-1]]).reshape(T * N, H)
    return dg @ w_ih, dg.T @ x.reshape(T * N, I), dg.T @ h_prev, dg.sum(0)


def _numpy_gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh):
    T, N, I = x.shape
    H = h0.shape[1]
    xp = (x.reshape(T * N, I) @ w_ih.T + b_ih).reshape(T, N, 3 * H)
    h, ys = h0, []
    for t in range(T):
        gh = h @ w_hh.T + b_hh
        r = _sig(xp[t, :, :H] + gh[:, :H])
        z = _sig(xp[t, :, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(xp[t, :, 2 * H :] + r * gh[:, 2 * H :])
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys)


def _rnn_case(kind: str, backward: bool) -> dict:
    import ember
    from ember import nn

    T, N, I, H = _RNN_T, _RNN_N, _RNN_I, _RNN_H
    rng = _rng()
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    h0 = rng.uniform(-0.5, 0.5, (1, N, H)).astype(np.float32)
    c0 = rng.uniform(-0.5, 0.5, (1, N, H)).astype(np.float32)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)
    ember.manual_seed(0)
    m = (nn.LSTM if kind == "lstm" else nn.GRU)(I, H)
    hx = (h0, c0) if kind == "lstm" else h0
    xe = ember.tensor(x, requires_grad=backward)

    def ours():
        if backward:
            m.zero_grad()
            y, _ = m(xe, hx)
            y.backward(dy)
            return
        with ember.no_grad():
            m(xe, hx)

    w = {k: v.numpy() for k, v in m.state_dict().items()}
    w_ih, w_hh, b_ih, b_hh = w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"]
    if kind == "gru":
        impls = {
            "ember": ours,
            "numpy": lambda: _numpy_gru_forward(x, h0[0], w_ih, w_hh, b_ih, b_hh),
        }
    elif backward:
        impls = {"ember": ours, "numpy": lambda: _numpy_lstm_forward_backward(
            x, h0[0], c0[0], w_ih, w_hh, b_ih + b_hh, dy)}  # fmt: skip
    else:
        impls = {"ember": ours, "numpy": lambda: _numpy_lstm_forward(
            x, h0[0], c0[0], w_ih, w_hh, b_ih + b_hh)}  # fmt: skip
    torch = _torch()
    if torch is not None:
        tm = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, H)
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
        tx = torch.tensor(x, requires_grad=backward)
        thx = tuple(map(torch.from_numpy, hx)) if kind == "lstm" else torch.from_numpy(h0)
        tdy = torch.from_numpy(dy)

        def theirs():
            if backward:
                tm.zero_grad(set_to_none=True)
                tx.grad = None
                tm(tx, thx)[0].backward(tdy)
                return
            with torch.no_grad():
                tm(tx, thx)

        impls["torch"] = theirs
    return impls


workload("lstm/T50-N32-I128-H256/fwd", "rnn")(lambda: _rnn_case("lstm", False))
workload("lstm/T50-N32-I128-H256/fwd+bwd", "rnn")(lambda: _rnn_case("lstm", True))
workload("gru/T50-N32-I128-H256/fwd", "rnn")(lambda: _rnn_case("gru", False))


# ---- framework overhead -------------------------------------------------------------------


def _overhead_case() -> dict:
    import ember

    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([2.0], requires_grad=True)

    def ours():
        (a + b).backward(np.ones(1, np.float32))

    na, nb = np.ones(1, np.float32), np.ones(1, np.float32)
    impls = {"ember": ours, "numpy": lambda: np.add(na, nb)}
    torch = _torch()
    if torch is not None:
        ta = torch.tensor([1.0], requires_grad=True)
        tb = torch.tensor([2.0], requires_grad=True)
        tg = torch.ones(1)
        impls["torch"] = lambda: (ta + tb).backward(tg)
    return impls


workload("overhead/add_1elem/fwd+bwd", "overhead")(_overhead_case)


# ---- the table ----------------------------------------------------------------------------


def time_call(fn: Callable, min_time: float = 0.2, min_runs: int = 5) -> float:
    """Best time of one call in seconds (after a warm-up call)."""
    fn()
    best, total, runs = float("inf"), 0.0, 0
    while runs < min_runs or total < min_time:
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        best = min(best, dt)
        total += dt
        runs += 1
    return best


def set_threads(n: int) -> object:
    """Give ember, NumPy's BLAS and PyTorch n threads; returns a handle keeping the limit."""
    import ember

    ember.set_num_threads(n)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return None
    return threadpool_limits(n)


def run(only: str | None = None, threads: int | None = None, min_time: float = 0.2) -> list:
    """Time the selected workloads; returns rows of (name, {impl: seconds})."""
    limit = set_threads(threads) if threads else None
    rows = []
    for w in WORKLOADS:
        if only and only not in w.name and only != w.group:
            continue
        impls = w.build()
        rows.append((w.name, {k: time_call(f, min_time) for k, f in impls.items()}))
    del limit
    return rows


def format_table(rows) -> str:
    head = f"{'workload':34} {'ember ms':>10} {'numpy ms':>10} {'torch ms':>10} "
    head += f"{'vs numpy':>9} {'vs torch':>9}"
    lines = [head, "-" * len(head)]
    for name, t in rows:
        cells = [f"{t[k] * 1e3:10.3f}" if k in t else f"{'-':>10}" for k in IMPLS]
        ratios = [
            f"{t[k] / t['ember']:8.2f}x" if k in t else f"{'-':>9}" for k in ("numpy", "torch")
        ]
        lines.append(f"{name:34} " + " ".join(cells) + " " + " ".join(ratios))
    lines.append("ratios: the other's time / ember's time (above 1: ember is faster)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ember bench", description=__doc__)
    p.add_argument(
        "--only", help="a workload group (gemm, softmax, mlp, rnn, overhead) or name part"
    )
    p.add_argument("--threads", type=int, help="threads for ember, NumPy's BLAS and PyTorch")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds to time each entry")
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(f"{w.group:10} {w.name}" for w in WORKLOADS))
        return 0
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    rows = run(args.only, args.threads, args.min_time)
    if not rows:
        p.error(f"no workload matches {args.only!r} (see --list)")
    import ember

    print(
        f"ember {ember.__version__}, {ember.get_num_threads()} threads, ISA {ember._C.gemm_isa()}"
    )
    print(format_table(rows))
    return 0
