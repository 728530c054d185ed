"""Recurrent kernels: ember._C vs a NumPy time loop vs torch.nn (when importable).

One layer, one direction, time-major: seq 50, batch 32, input 128, hidden 256, float32.
Run: pytest bench/test_bench_rnn.py --benchmark-enable --benchmark-group-by=group
"""

import numpy as np
import pytest
from ember import _C

T, N, I, H = 50, 32, 128, 256
DT = np.float32


def _params(G, seed=0):
    rng = np.random.default_rng(seed)
    s = 1.0 / np.sqrt(H)
    return dict(
        x=rng.standard_normal((T, N, I)).astype(DT),
        h0=rng.uniform(-0.5, 0.5, (N, H)).astype(DT),
        c0=rng.uniform(-0.5, 0.5, (N, H)).astype(DT),
        w_ih=rng.uniform(-s, s, (G * H, I)).astype(DT),
        w_hh=rng.uniform(-s, s, (G * H, H)).astype(DT),
        b_ih=rng.uniform(-s, s, G * H).astype(DT),
        b_hh=rng.uniform(-s, s, G * H).astype(DT),
        dy=rng.standard_normal((T, N, H)).astype(DT),
    )


LSTM = _params(4)
GRU = _params(3)


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


# ---- NumPy reference loops (input projection batched, as a fair NumPy baseline) -------------


def numpy_lstm_forward(p):
    xp = (p["x"].reshape(T * N, I) @ p["w_ih"].T + (p["b_ih"] + p["b_hh"])).reshape(T, N, 4 * H)
    h, c = p["h0"], p["c0"]
    ys, gs, cs = [], [], []
    for t in range(T):
        a = xp[t] + h @ p["w_hh"].T
        i, f = _sig(a[:, :H]), _sig(a[:, H : 2 * H])
        g, o = np.tanh(a[:, 2 * H : 3 * H]), _sig(a[:, 3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
        gs.append((i, f, g, o))
        cs.append(c)
    return np.stack(ys), h, c, gs, cs


def numpy_lstm_forward_backward(p):
    y, _, _, gs, cs = numpy_lstm_forward(p)
    dy = p["dy"]
    dh = np.zeros((N, H), DT)
    dc = np.zeros((N, H), DT)
    dgates = np.empty((T, N, 4 * H), DT)
    for t in range(T - 1, -1, -1):
        i, f, g, o = gs[t]
        c_prev = cs[t - 1] if t > 0 else p["c0"]
        dh = dh + dy[t]
        tc = np.tanh(cs[t])
        dc = dc + dh * o * (1 - tc * tc)
        dgates[t, :, :H] = dc * g * i * (1 - i)
        dgates[t, :, H : 2 * H] = dc * c_prev * f * (1 - f)
        dgates[t, :, 2 * H : 3 * H] = dc * i * (1 - g * g)
        dgates[t, :, 3 * H :] = dh * tc * o * (1 - o)
        dc = dc * f
        dh = dgates[t] @ p["w_hh"]
    dg = dgates.reshape(T * N, 4 * H)
    h_prev = np.concatenate([p["h0"][None], y[:-1]]).reshape(T * N, H)
    dx = (dg @ p["w_ih"]).reshape(T, N, I)
    dw_ih = dg.T @ p["x"].reshape(T * N, I)
    dw_hh = dg.T @ h_prev
    db = dg.sum(0)
    return dx, dh, dc, dw_ih, dw_hh, db


def numpy_gru_forward(p):
    xp = (p["x"].reshape(T * N, I) @ p["w_ih"].T + p["b_ih"]).reshape(T, N, 3 * H)
    h = p["h0"]
    ys = []
    for t in range(T):
        gh = h @ p["w_hh"].T + p["b_hh"]
        r = _sig(xp[t, :, :H] + gh[:, :H])
        z = _sig(xp[t, :, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(xp[t, :, 2 * H :] + r * gh[:, 2 * H :])
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys), h


# ---- ember ----------------------------------------------------------------------------------


def ember_lstm_forward(p):
    return _C.lstm_forward(
        p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], None, False
    )


def ember_lstm_forward_backward(p):
    y, h_n, c_n, gates, cells = ember_lstm_forward(p)
    return _C.lstm_backward(
        p["dy"], None, None, p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], True, None, False,
        y, gates, cells,
    )  # fmt: skip


def ember_gru_forward(p):
    return _C.gru_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"])


# ---- torch ----------------------------------------------------------------------------------


def _torch_setup(kind, p):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(_C.get_num_threads())
    m = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, H)
    with torch.no_grad():
        for name, key in (("weight_ih_l0", "w_ih"), ("weight_hh_l0", "w_hh")):
            getattr(m, name).copy_(torch.from_numpy(p[key]))
        m.bias_ih_l0.copy_(torch.from_numpy(p["b_ih"]))
        m.bias_hh_l0.copy_(torch.from_numpy(p["b_hh"]))
    x = torch.from_numpy(p["x"])
    h0 = torch.from_numpy(p["h0"])[None]
    hx = (h0, torch.from_numpy(p["c0"])[None]) if kind == "lstm" else h0
    return torch, m, x, hx


# ---- benchmarks -----------------------------------------------------------------------------

ROUNDS = dict(rounds=3, iterations=1, warmup_rounds=1)


@pytest.mark.benchmark(group="lstm_forward")
def test_lstm_forward_ember(benchmark):
    y, h_n, c_n, *_ = benchmark.pedantic(ember_lstm_forward, (LSTM,), **ROUNDS)
    ry, rh, rc, *_ = numpy_lstm_forward(LSTM)
    np.testing.assert_allclose(y, ry, rtol=1e-3, atol=1e-4)


@pytest.mark.benchmark(group="lstm_forward")
def test_lstm_forward_torch(benchmark):
    torch, m, x, hx = _torch_setup("lstm", LSTM)

    def run():
        with torch.no_grad():
            return m(x, hx)

    benchmark.pedantic(run, **ROUNDS)


@pytest.mark.benchmark(group="lstm_forward")
def test_lstm_forward_numpy(benchmark):
    benchmark.pedantic(numpy_lstm_forward, (LSTM,), **ROUNDS)


@pytest.mark.benchmark(group="lstm_forward_backward")
def test_lstm_forward_backward_ember(benchmark):
    dx, dh0, dc0, dw_ih, dw_hh, db_ih, _ = benchmark.pedantic(
        ember_lstm_forward_backward, (LSTM,), **ROUNDS
    )
    rdx, rdh, rdc, rdw_ih, rdw_hh, rdb = numpy_lstm_forward_backward(LSTM)
    np.testing.assert_allclose(dw_hh, rdw_hh, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(dx, rdx, rtol=1e-3, atol=1e-4)


@pytest.mark.benchmark(group="lstm_forward_backward")
def test_lstm_forward_backward_torch(benchmark):
    torch, m, x, hx = _torch_setup("lstm", LSTM)
    x = x.clone().requires_grad_()
    dy = torch.from_numpy(LSTM["dy"])

    def run():
        m.zero_grad(set_to_none=True)
        x.grad = None
        y, _ = m(x, hx)
        y.backward(dy)

    benchmark.pedantic(run, **ROUNDS)


@pytest.mark.benchmark(group="lstm_forward_backward")
def test_lstm_forward_backward_numpy(benchmark):
    benchmark.pedantic(numpy_lstm_forward_backward, (LSTM,), **ROUNDS)


@pytest.mark.benchmark(group="gru_forward")
def test_gru_forward_ember(benchmark):
    y, h_n, *_ = benchmark.pedantic(ember_gru_forward, (GRU,), **ROUNDS)
    ry, rh = numpy_gru_forward(GRU)
    np.testing.assert_allclose(y, ry, rtol=1e-3, atol=1e-4)


@pytest.mark.benchmark(group="gru_forward")
def test_gru_forward_torch(benchmark):
    torch, m, x, hx = _torch_setup("gru", GRU)

    def run():
        with torch.no_grad():
            return m(x, hx)

    benchmark.pedantic(run, **ROUNDS)


@pytest.mark.benchmark(group="gru_forward")
def test_gru_forward_numpy(benchmark):
    benchmark.pedantic(numpy_gru_forward, (GRU,), **ROUNDS)
