"""rnn.cpp's few_rows_wt (x @ W^T with W read in place, for at most 4 rows: the recurrent cells
and the input projection of layers with T * N <= 4), rewritten with vector-value accumulators:
values against torch over float32 / float64, batch 1-4, input and hidden sizes at the SIMD tails,
bias or none, proj_size, bidirectional, packed sequences; gradients by finite differences; the
same bits on 1 and 2 threads, and a row's bits independent of the batch it is in."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn.utils.rnn import pack_padded_sequence

torch = pytest.importorskip("torch")
# PyTorch's own notice that its oneDNN path has no projections (it falls back to its reference).
pytestmark = pytest.mark.filterwarnings("ignore:LSTM with projections is not supported:UserWarning")

CELLS = {"lstm": "LSTMCell", "gru": "GRUCell", "rnn": "RNNCell"}


def _pair(name, *args, dtype="float32", **kw):
    tm = getattr(torch.nn, name)(*args, **kw).to(torch.float64 if dtype == "float64" else None)
    em = getattr(nn, name)(*args, dtype=dtype, **kw)
    for k, v in tm.state_dict().items():
        getattr(em, k).data[...] = v.numpy()
    return em, tm


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-11, atol=1e-13)


def _cell(kind, cell, x, h, c, lib):
    wrap = ember.tensor if lib is ember else torch.from_numpy
    hx = (wrap(h), wrap(c)) if kind == "lstm" else wrap(h)
    out = cell(x, hx)
    return out[0] if kind == "lstm" else out


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("N", [1, 3, 4])
@pytest.mark.parametrize("I,H", [(1, 1), (15, 17), (16, 16), (17, 33), (33, 65), (128, 256)])
def test_cells_match_torch(kind, N, I, H, dtype, rng):
    em, tm = _pair(CELLS[kind], I, H, dtype=dtype, bias=(I + H) % 2 == 0)
    xn = rng.standard_normal((N, I)).astype(dtype)
    h, c = (rng.standard_normal((N, H)).astype(dtype) for _ in range(2))
    xe, xt = ember.tensor(xn, requires_grad=True), torch.from_numpy(xn).requires_grad_()
    ye, yt = _cell(kind, em, xe, h, c, ember), _cell(kind, tm, xt, h, c, torch)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), **_tol(dtype))
    wts = np.linspace(-1, 1, N * H).reshape(N, H).astype(dtype)
    (ye * ember.tensor(wts)).sum().backward()
    (yt * torch.from_numpy(wts)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **_tol(dtype))
    np.testing.assert_allclose(em.weight_ih.grad.numpy(), tm.weight_ih.grad.numpy(), **_tol(dtype))


@pytest.mark.parametrize("kind", list(CELLS))
@pytest.mark.parametrize("N,I,H", [(1, 5, 3), (3, 17, 4)])
def test_cell_gradcheck(kind, N, I, H, rng):
    cell = getattr(nn, CELLS[kind])(I, H, dtype="float64")
    x = ember.tensor(rng.standard_normal((N, I)), requires_grad=True)
    h = ember.tensor(rng.standard_normal((N, H)), requires_grad=True)
    c = ember.tensor(rng.standard_normal((N, H)), requires_grad=True)
    w = [cell.weight_ih, cell.weight_hh, cell.bias_ih]

    def f(x, h, c, *ws):
        out = cell(x, (h, c) if kind == "lstm" else h)
        return out[0] if kind == "lstm" else out

    assert gradcheck(f, (x, h, c, *w))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("kind", list(CELLS))
def test_cell_row_bits_do_not_depend_on_batch_or_threads(kind, dtype, rng):
    # Each output element's arithmetic depends on K alone: row n of a batch of 4 is the batch-1
    # result on that row, on 1 and 2 threads (H = 256: 1024 gate columns, split over threads).
    I, H = 33, 256
    cell = getattr(nn, CELLS[kind])(I, H, dtype=dtype)
    xn = rng.standard_normal((4, I)).astype(dtype)
    h, c = (rng.standard_normal((4, H)).astype(dtype) for _ in range(2))
    res = {}
    for nt in (1, 2):
        with at_threads(nt), ember.no_grad():
            res[nt] = _cell(kind, cell, ember.tensor(xn), h, c, ember).numpy()
            for n in range(4):
                one = _cell(kind, cell, ember.tensor(xn[n : n + 1]), h[n : n + 1], c[n : n + 1],
                            ember)  # fmt: skip
                np.testing.assert_array_equal(one.numpy()[0], res[nt][n])
    np.testing.assert_array_equal(res[1], res[2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize(
    "kind,kw",
    [
        ("LSTM", dict(num_layers=2, bidirectional=True)),
        ("LSTM", dict(proj_size=3)),
        ("LSTM", dict(bias=False, bidirectional=True, proj_size=5)),
        ("GRU", dict(bidirectional=True)),
        ("RNN", dict(num_layers=2, nonlinearity="relu")),
    ],
)
@pytest.mark.parametrize("T,N", [(1, 1), (2, 2), (4, 1), (1, 3)])
def test_short_layers_match_torch(kind, kw, T, N, dtype, rng):
    # T * N <= 4: the whole input projection is one few-rows product
    I, H = 17, 16
    em, tm = _pair(kind, I, H, dtype=dtype, **kw)
    xn = rng.standard_normal((T, N, I)).astype(dtype)
    xe, xt = ember.tensor(xn, requires_grad=True), torch.from_numpy(xn).requires_grad_()
    ye, yt = em(xe)[0], tm(xt)[0]
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), **_tol(dtype))
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **_tol(dtype))
    for (k, p), (_, q) in zip(sorted(em.named_parameters()), sorted(tm.named_parameters())):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), err_msg=k, **_tol(dtype))


@pytest.mark.parametrize("kind", ["LSTM", "GRU"])
def test_short_packed_sequence_matches_torch(kind, rng):
    I, H = 9, 7
    em, tm = _pair(kind, I, H, dtype="float64", bidirectional=True)
    xn = rng.standard_normal((2, 2, I))
    lens = np.array([2, 1])
    xe, xt = ember.tensor(xn, requires_grad=True), torch.from_numpy(xn).requires_grad_()
    ye = em(pack_padded_sequence(xe, lens))[0].data
    yt = tm(torch.nn.utils.rnn.pack_padded_sequence(xt, torch.from_numpy(lens)))[0].data
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), **_tol("float64"))
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **_tol("float64"))
