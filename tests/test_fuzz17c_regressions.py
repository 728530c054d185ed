"""Regressions found by fuzzing the recurrent layers (csrc/ops/rnn.cpp and their Python side)
against PyTorch and bad input."""

import numpy as np
import pytest

import ember
from ember import nn


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
@pytest.mark.parametrize("reverse", [False, True])
def test_non_finite_padding_changes_no_gradient(mode, reverse, rng):
    # lengths= promises padded steps change no gradient; dW_ih = sum dgates^T x met a nan at a
    # padded step with a zero gradient (0 * nan = nan) and every weight_ih gradient was nan.
    m = getattr(nn, mode)(3, 4, dtype=np.float64, bidirectional=reverse)
    lens = [5, 3, 1]
    x = rng.standard_normal((5, 3, 3))
    grads = []
    for pad in (0.0, np.nan, np.inf):
        xp = x.copy()
        for n, ln in enumerate(lens):
            xp[ln:, n] = pad
        xe = ember.tensor(xp, requires_grad=True)
        m.zero_grad()
        y, h = m(xe, lengths=lens)
        h = h[0] if mode == "LSTM" else h
        w = np.arange(y.numel(), dtype=np.float64).reshape(y.shape) / y.numel()
        ((y * ember.tensor(w)).sum() + h.sum()).backward()
        grads.append([xe.grad.numpy()] + [p.grad.numpy().copy() for p in m.parameters()])
    for other in grads[1:]:
        for a, b in zip(grads[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("mode", ["LSTM", "GRU", "RNN"])
def test_non_finite_padding_double_backward(mode, rng):
    # The create_graph path (the unrolled forward in Tensor ops) masked the padded steps' outputs
    # by multiplying with 0: a nan in the padded input still reached every gradient.
    m = getattr(nn, mode)(3, 4, dtype=np.float64)
    lens = [4, 2]
    x = rng.standard_normal((4, 2, 3))
    results = []
    for pad in (0.0, np.nan):
        xp = x.copy()
        xp[2:, 1] = pad
        xe = ember.tensor(xp, requires_grad=True)
        m.zero_grad()
        y, h = m(xe, lengths=lens)
        h = h[0] if mode == "LSTM" else h
        (g,) = ember.autograd.grad(y.sum() + h.sum(), [m.weight_hh_l0], create_graph=True)
        (g * g).sum().backward()
        results.append(
            [g.numpy(), xe.grad.numpy()] + [p.grad.numpy().copy() for p in m.parameters()]
        )
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_rnn_cell_bad_nonlinearity_named_by_rnn_cell():
    # rnn_cell stopped checking nonlinearity when it began calling _rnn_layer (which skips
    # rnn_layer's checks): the error came from the C++ boundary, named rnn_forward.
    import ember.nn.functional as F

    x = ember.tensor(np.zeros((2, 3), np.float32))
    w_ih = ember.tensor(np.zeros((4, 3), np.float32))
    w_hh = ember.tensor(np.zeros((4, 4), np.float32))
    with pytest.raises(ValueError, match="rnn_cell: nonlinearity must be 'tanh' or 'relu'"):
        F.rnn_cell(x, None, w_ih, w_hh, nonlinearity="gelu")
