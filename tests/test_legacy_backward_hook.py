"""Module.register_backward_hook, PyTorch's deprecated non-full backward hook: the hook sits on
the last autograd node of forward (grad_input are that node's input gradients, for Linear in
torch's addmm order), may replace grad_input, warns as torch does, and cannot be mixed with
full backward hooks."""

import numpy as np
import pytest

import ember
from ember import nn

W = np.arange(12.0).reshape(4, 3) / 10
B = np.arange(4.0) / 3
X = np.arange(6.0).reshape(2, 3) - 2.5


def _linear_run(lib, bias, scale):
    m = lib.nn.Linear(3, 4, bias=bias)
    with lib.no_grad():
        m.weight.copy_(lib.tensor(W, dtype=lib.float32))
        if bias:
            m.bias.copy_(lib.tensor(B, dtype=lib.float32))
    x = lib.tensor(X, dtype=lib.float32, requires_grad=True)
    seen = []

    def hook(mod, grad_input, grad_output):
        assert mod is m
        seen.append([None if g is None else g.detach().numpy().copy() for g in grad_input])
        seen.append([g.detach().numpy().copy() for g in grad_output])
        if scale is not None:
            return tuple(None if g is None else g * scale for g in grad_input)
        return None

    handle = m.register_backward_hook(hook)
    with pytest.warns(FutureWarning, match="non-full backward hook"):
        y = m(x)
    (y**2).sum().backward()
    leaves = [x, m.weight] + ([m.bias] if bias else [])
    grads = [t.grad.numpy().copy() for t in leaves]
    handle.remove()
    (m(x) ** 2).sum().backward()  # removed: not called again
    assert len(seen) == 2
    return seen, grads


def _numpy_linear(bias, scale):
    """grad_input in torch's addmm order (bias, input, weight^T) and the leaves' gradients."""
    y = X @ W.T + (B if bias else 0)
    gy = 2 * y
    gx, gwt, gb = gy @ W, X.T @ gy, gy.sum(0)
    gi = [gb, gx, gwt] if bias else [gx, gwt]
    s = 1.0 if scale is None else scale
    leaves = [gx * s, gwt.T * s] + ([gb * s] if bias else [])
    return [gi, [gy]], leaves


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("scale", [None, 3.0])
def test_linear_grad_input_in_torch_order_and_replaced(bias, scale):
    seen, grads = _linear_run(ember, bias, scale)
    want_seen, want_grads = _numpy_linear(bias, scale)
    for got, want in zip(seen, want_seen, strict=True):
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(g, w, rtol=1e-5)
    for g, w in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_matches_torch(bias):
    torch = pytest.importorskip("torch")
    for scale in (None, 0.5):
        a_seen, a_grads = _linear_run(ember, bias, scale)
        b_seen, b_grads = _linear_run(torch, bias, scale)
        for got, want in zip(a_seen + [a_grads], b_seen + [b_grads], strict=True):
            for g, w in zip(got, want, strict=True):
                np.testing.assert_allclose(g, w, rtol=1e-5)


def test_single_node_modules_and_conv_grad_output_match_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((2, 2, 6, 6))
    ws = rng.standard_normal((3, 2, 3, 3)) * 0.3
    out = {}
    for lib in (ember, torch):
        conv = lib.nn.Conv2d(2, 3, 3, bias=False)
        with lib.no_grad():
            conv.weight.copy_(lib.tensor(ws, dtype=lib.float32))
        act = lib.nn.ReLU()
        rec = []
        for mod in (conv, act):
            mod.register_backward_hook(
                lambda m, gi, go, rec=rec: rec.append(
                    [None if g is None else g.detach().numpy() for g in (*gi, *go)]
                )
            )
        x = lib.tensor(xs, dtype=lib.float32, requires_grad=True)
        with pytest.warns(FutureWarning):
            y = act(conv(x))
        (y * y).sum().backward()
        out[lib] = rec
    for a, b in zip(out[ember], out[torch], strict=True):
        for g, w in zip(a, b, strict=True):
            if w is None:
                assert g is None
            else:
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_no_graph_no_call_and_mixing_refused():
    calls = []
    m = nn.Sigmoid()
    m.register_backward_hook(lambda *a: calls.append(a))
    m(ember.randn(2, 3))  # no grad_fn: nothing registered, no warning
    assert calls == []
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks"):
        m.register_full_backward_hook(lambda *a: None)
    full = nn.ReLU()
    full.register_full_backward_hook(lambda *a: None)
    with pytest.raises(RuntimeError, match="Cannot use both regular backward hooks"):
        full.register_backward_hook(lambda *a: None)
