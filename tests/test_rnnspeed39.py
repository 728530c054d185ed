"""Whole recurrent layers at sizes that take the GEMM time loops (batch over MR row blocks,
chunked input projection) against torch with copied weights: LSTM / GRU / RNN, bidirectional,
2 layers, proj_size, batch_first, packed (unsorted lengths), h0 / c0 given or not, float32 and
float64 (1e-10), on 1 and 2 threads; gradients by finite differences (float64); memory linear
in the sequence length (T = 1000 runs)."""

import tracemalloc

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

torch = pytest.importorskip("torch")
pytestmark = [
    pytest.mark.filterwarnings("ignore:LSTM with projections is not supported:UserWarning"),
    pytest.mark.usefixtures("torch_one_thread"),
]


def _pair(name, *args, dtype="float32", **kw):
    torch.manual_seed(0)
    tm = getattr(torch.nn, name)(*args, **kw).to(torch.float64 if dtype == "float64" else None)
    em = getattr(nn, name)(*args, dtype=dtype, **kw)
    for k, v in tm.state_dict().items():
        getattr(em, k).data[...] = v.numpy()
    return em, tm


def _tol(dtype):
    return dict(rtol=2e-4, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-10)


def _states(kind, kw, N, H, dtype, rng):
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    P = kw.get("proj_size", 0) or H
    h = rng.standard_normal((layers, N, P)).astype(dtype)
    if kind != "LSTM":
        return h, ember.tensor(h), torch.from_numpy(h)
    c = rng.standard_normal((layers, N, H)).astype(dtype)
    return (h, c), (ember.tensor(h), ember.tensor(c)), (torch.from_numpy(h), torch.from_numpy(c))


CASES = [  # (kind, kwargs, h0 / c0 given)
    ("LSTM", {}, False),
    ("LSTM", {}, True),
    ("LSTM", dict(bidirectional=True), True),
    ("LSTM", dict(num_layers=2), False),
    ("LSTM", dict(proj_size=24), True),
    ("LSTM", dict(batch_first=True, num_layers=2, bidirectional=True), True),
    ("GRU", dict(bidirectional=True, batch_first=True), False),
    ("GRU", dict(num_layers=2), True),
    ("RNN", dict(nonlinearity="relu", bidirectional=True), True),
    ("RNN", dict(num_layers=2), False),
]


@pytest.mark.parametrize("dtype,threads", [("float32", 1), ("float64", 1), ("float32", 2)])
@pytest.mark.parametrize("kind,kw,with_hx", CASES)
def test_layers_match_torch(kind, kw, with_hx, dtype, threads):
    rng = np.random.default_rng(39)
    T, N, I, H = 13, 37, 40, 48  # N 37: MR row blocks and a ragged tail
    em, tm = _pair(kind, I, H, dtype=dtype, **kw)
    shape = (N, T, I) if kw.get("batch_first") else (T, N, I)
    xn = rng.standard_normal(shape).astype(dtype)
    xe, xt = ember.tensor(xn, requires_grad=True), torch.from_numpy(xn).requires_grad_()
    args_e, args_t = (xe,), (xt,)
    if with_hx:
        _, hx_e, hx_t = _states(kind, kw, N, H, dtype, rng)
        args_e, args_t = (xe, hx_e), (xt, hx_t)
    with at_threads(threads):
        ye, she = em(*args_e)
        yt, sht = tm(*args_t)
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), **_tol(dtype))
        for a, b in zip(she if kind == "LSTM" else (she,), sht if kind == "LSTM" else (sht,)):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), **_tol(dtype))
        wts = rng.standard_normal(ye.shape).astype(dtype)
        (ye * ember.tensor(wts)).sum().backward()
        (yt * torch.from_numpy(wts)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **_tol(dtype))
    for (k, p), (_, q) in zip(sorted(em.named_parameters()), sorted(tm.named_parameters())):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=k, **_tol(dtype))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("kind,kw", [("LSTM", dict(bidirectional=True)), ("GRU", {}),
                                     ("LSTM", dict(proj_size=8, batch_first=True))])  # fmt: skip
def test_packed_unsorted_matches_torch(kind, kw, threads):
    rng = np.random.default_rng(7)
    T, N, I, H = 11, 21, 16, 32
    em, tm = _pair(kind, I, H, dtype="float64", **kw)
    bf = kw.get("batch_first", False)
    xn = rng.standard_normal((N, T, I) if bf else (T, N, I))
    lens = rng.integers(1, T + 1, N)
    xe, xt = ember.tensor(xn, requires_grad=True), torch.from_numpy(xn).requires_grad_()
    with at_threads(threads):
        oe, se = em(pack_padded_sequence(xe, lens, batch_first=bf, enforce_sorted=False))
        ot, st = tm(torch.nn.utils.rnn.pack_padded_sequence(
            xt, torch.from_numpy(lens), batch_first=bf, enforce_sorted=False))  # fmt: skip
        # padded back (the packed order of equal lengths is each library's own sort's)
        ye = pad_packed_sequence(oe, batch_first=bf)[0]
        yt = torch.nn.utils.rnn.pad_packed_sequence(ot, batch_first=bf)[0]
        np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), **_tol("float64"))
        h_e, h_t = (se[0], st[0]) if kind == "LSTM" else (se, st)
        np.testing.assert_allclose(h_e.detach().numpy(), h_t.detach().numpy(), **_tol("float64"))
        wts = rng.standard_normal(ye.shape)
        ((ye * ember.tensor(wts)).sum() + h_e.sum()).backward()
        ((yt * torch.from_numpy(wts)).sum() + h_t.sum()).backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **_tol("float64"))
    for (k, p), (_, q) in zip(sorted(em.named_parameters()), sorted(tm.named_parameters())):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=k, **_tol("float64"))


@pytest.mark.parametrize(
    "kind,kw,with_hx,packed",
    [
        ("LSTM", dict(bidirectional=True), True, False),
        ("LSTM", dict(num_layers=2), False, False),
        ("LSTM", dict(proj_size=2, batch_first=True), True, False),
        ("LSTM", dict(bidirectional=True), False, True),
        ("GRU", dict(bidirectional=True, batch_first=True), True, True),
        ("RNN", dict(num_layers=2, nonlinearity="relu"), True, False),
    ],
)
def test_layer_gradcheck(kind, kw, with_hx, packed):
    rng = np.random.default_rng(3)
    T, N, I, H = 4, 3, 3, 4
    em = getattr(nn, kind)(I, H, dtype="float64", **kw)
    bf = kw.get("batch_first", False)
    x = ember.tensor(rng.standard_normal((N, T, I) if bf else (T, N, I)), requires_grad=True)
    lens = np.array([4, 2, 3])
    hx = ()
    if with_hx:
        _, st, _ = _states(kind, kw, N, H, "float64", rng)
        for s in st if kind == "LSTM" else (st,):
            s.requires_grad_(True)
        hx = tuple(st) if kind == "LSTM" else (st,)
    params = list(em.parameters())[:3]

    def f(x, *rest):
        states = rest[: len(hx)]
        inp = pack_padded_sequence(x, lens, batch_first=bf, enforce_sorted=False) if packed else x
        arg = () if not states else ((tuple(states) if kind == "LSTM" else states[0]),)
        out, hn = em(inp, *arg)
        out = out.data if packed else out
        return out.sum() + (hn[0] if kind == "LSTM" else hn).sum() * 0.5

    assert gradcheck(f, (x, *hx, *params))


def _peak_bytes(T):
    rng = np.random.default_rng(0)
    m = nn.LSTM(16, 32)
    x = ember.tensor(rng.standard_normal((T, 8, 16)).astype("float32"), requires_grad=True)
    tracemalloc.start()
    try:
        y, _ = m(x)
        y.sum().backward()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_long_sequence_memory_linear():
    # T = 1000 runs; peak memory grows ~linearly in T (quadratic would be ~100x from 100 to 1000)
    p100, p1000 = _peak_bytes(100), _peak_bytes(1000)
    assert p1000 < 15 * p100, (p100, p1000)
    assert p1000 > 3 * p100, (p100, p1000)  # the saved state is really per step (tracked)
