"""No false refusals: an in-place write (under no_grad) between forward and backward into
memory that torch's node does not keep must leave ember's backward valid too, with the
gradient of an unmodified run. Each case: torch does not refuse it either, and ember's
gradients equal a fresh run's (the write never reaches what backward reads)."""

from __future__ import annotations

import numpy as np
import pytest

import ember
from ember import nn

F = nn.functional

# name: (op(lib, *inputs), input shapes, positive inputs, what is written: ("in", i) or "out")
CASES = {
    "atan2 out": (lambda lib, a, b: lib.atan2(a, b), [(4, 5), (4, 5)], False, "out"),
    "xlogy out": (lambda lib, a, b: lib.xlogy(a, b), [(4, 5), (5,)], True, "out"),
    "fmax out": (lambda lib, a, b: lib.fmax(a, b), [(4, 5), (4, 5)], False, "out"),
    "fmin out": (lambda lib, a, b: lib.fmin(a, b), [(4, 5), (5,)], False, "out"),
    "copysign other": (lambda lib, a, b: lib.copysign(a, b), [(4, 5), (4, 5)], False, ("in", 1)),
    "logaddexp out": (lambda lib, a, b: lib.logaddexp(a, b), [(4, 5), (5,)], False, "out"),
    "logaddexp2 out": (lambda lib, a, b: lib.logaddexp2(a, b), [(4, 5), (4, 5)], False, "out"),
    "frac out": (lambda lib, a: lib.frac(a), [(4, 5)], False, "out"),
    "deg2rad out": (lambda lib, a: lib.deg2rad(a), [(4, 5)], False, "out"),
    "nan_to_num out": (lambda lib, a: lib.nan_to_num(a), [(4, 5)], False, "out"),
    "cosine_similarity out": (
        lambda lib, a, b: lib.nn.functional.cosine_similarity(a, b),
        [(4, 5), (4, 5)],
        False,
        "out",
    ),
    "instance_norm weight": (
        lambda lib, x, w, b: lib.nn.functional.instance_norm(x, weight=w, bias=b),
        [(2, 3, 5), (3,), (3,)],
        False,
        ("in", 1),
    ),
}


def _run(lib, case, write: bool):
    op, shapes, pos, where = case
    rng = np.random.default_rng(0)
    arrays = [rng.standard_normal(s) for s in shapes]
    if pos:
        arrays = [np.abs(a) + 0.5 for a in arrays]
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    y = op(lib, *xs)
    c = lib.tensor(np.cos(np.arange(y.numel())).reshape(tuple(y.shape)))
    loss = (y * c).sum()
    if write:
        with lib.no_grad():
            (y if where == "out" else xs[where[1]]).mul_(1.5)
    loss.backward()
    return [x.grad.numpy().copy() for x in xs]


@pytest.mark.parametrize("name", CASES)
def test_write_backward_does_not_read_is_allowed(name):
    fresh = _run(ember, CASES[name], write=False)
    for g, g0 in zip(_run(ember, CASES[name], write=True), fresh):
        np.testing.assert_allclose(g, g0, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", CASES)
def test_torch_allows_the_write_too(name):
    torch = pytest.importorskip("torch")
    ours = _run(ember, CASES[name], write=True)
    for g, gt in zip(ours, _run(torch, CASES[name], write=True)):
        np.testing.assert_allclose(g, gt, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_write_into_a_recurrent_layers_output(kind):
    # the output is a copy of the hidden states backward reads
    def run(write):
        ember.manual_seed(0)
        rnn = getattr(nn, kind)(3, 4, batch_first=True).double()
        x = ember.tensor(np.random.default_rng(0).standard_normal((2, 5, 3)), requires_grad=True)
        y = rnn(x)[0]
        loss = (y * ember.cos(ember.arange(40.0, dtype=ember.float64).reshape(2, 5, 4))).sum()
        if write:
            with ember.no_grad():
                y.add_(1)
        loss.backward()
        return [x.grad.numpy(), *(p.grad.numpy() for p in rnn.parameters())]

    for g, g0 in zip(run(True), run(False)):
        np.testing.assert_allclose(g, g0, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("kind", ["RNN", "GRU"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_torch_allows_a_write_into_a_recurrent_layers_output(kind, dtype):
    # (not LSTM: torch's float32 lstm, mkldnn's, keeps its output and refuses; ember's LSTM
    # allows the write, as torch's float64 one: test_inplace_refusals2.py)
    torch = pytest.importorskip("torch")
    dt = getattr(torch, dtype)
    rnn = getattr(torch.nn, kind)(3, 4, batch_first=True).to(dt)
    y = rnn(torch.randn(2, 5, 3, requires_grad=True, dtype=dt))[0]
    loss = y.sum()
    with torch.no_grad():
        y.add_(1)
    loss.backward()  # (no error)
