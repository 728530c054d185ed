"""Views whose base was written in place (their rebuilt node's hooks and retain_grad), fills of
expand()ed views in the graph, Tensor._base / _is_view(): PyTorch 2.13's behaviour, run side
by side with torch."""

import numpy as np
import pytest

import ember

OVERLAP = "more than one element of the written-to tensor refers to a single memory location"


def _torch():
    return pytest.importorskip("torch")


def _both():
    return (_torch(), ember)


# ---- a view taken before its base was written in place: torch rebuilds its grad_fn ----------


def _stale_view(L, when):
    """(hook calls, x.grad, v.grad) of v = b[1:] taken before b.mul_(2). (torch crashes on a
    hook registered on the stale view before its grad_fn is read: those cases read it.)"""
    x = L.ones(4, dtype=L.float64, requires_grad=True)
    b = x.clone()
    v = b[1:]
    calls = []
    if when == "before":  # stays with the old node: not called; retain_grad moves
        v.register_hook(lambda g: calls.append(g.tolist()))
        v.retain_grad()
    b.mul_(2)
    if when == "grad_fn read":
        assert v.grad_fn.name() == "AsStridedBackward0"
        v.register_hook(lambda g: calls.append(g.tolist()))
        v.retain_grad()
    y = v * 3
    if when == "after use":
        v.register_hook(lambda g: calls.append(g.tolist()))
        v.retain_grad()
    y.sum().backward()
    return calls, x.grad.tolist(), None if v.grad is None else v.grad.tolist()


@pytest.mark.parametrize("when", ["before", "grad_fn read", "after use"])
def test_hooks_and_retain_grad_of_a_view_whose_base_was_written(when):
    torch = _torch()
    assert _stale_view(ember, when) == _stale_view(torch, when)


def test_a_view_of_a_view_written_through_its_parent():
    def run(L):
        x = L.ones(4, dtype=L.float64, requires_grad=True)
        v = x.clone()[1:]
        w = v[1:]
        v.mul_(2)
        _ = w.grad_fn  # (torch crashes on register_hook of a stale view before this read)
        calls = []
        w.register_hook(lambda g: calls.append(g.tolist()))
        w.retain_grad()
        (w * w).sum().backward()
        return calls, x.grad.tolist(), w.grad.tolist()

    assert run(ember) == run(_torch()) == ([[4.0, 4.0]], [0.0, 0.0, 8.0, 8.0], [4.0, 4.0])


def test_a_view_used_before_and_after_its_base_was_written():
    # the use before the write reaches the old node (no retain there any more), the use after
    # the rebuilt one
    def run(L):
        x = L.arange(1.0, 5.0, dtype=L.float64).requires_grad_()
        b = x * 1
        v = b[:2]
        v.retain_grad()
        y1 = v * 5
        b.add_(1)
        y2 = v * 7
        (y1.sum() + y2.sum()).backward()
        return x.grad.tolist(), v.grad.tolist(), v.grad_fn is not None

    assert run(ember) == run(_torch())


# ---- fills of expand()ed views ----------------------------------------------------------------


@pytest.mark.parametrize("op", ["zero_", "fill_"])
def test_fill_of_an_expanded_graph_view_writes_and_refuses_backward(op):
    got = []
    for L in _both():
        x = L.ones(3, dtype=L.float64, requires_grad=True)
        b = x * 1
        y = b.expand(2, 3)
        getattr(y, op)(*((2.0,) if op == "fill_" else ()))
        got.append((y.tolist(), b.tolist(), b._version, y.stride()))
        assert y.grad_fn is not None
        for t in (y, b * 2):  # the node of b's write refuses, whichever way it is reached
            with pytest.raises(RuntimeError, match=OVERLAP):
                t.sum().backward()
    assert got[0] == got[1]


@pytest.mark.parametrize("graph", [False, True])
def test_fill_of_an_expanded_view_with_a_tensor_value_is_refused(graph):
    for L in _both():
        x = L.ones(3, dtype=L.float64, requires_grad=graph)
        y = (x * 1).expand(2, 3)
        with pytest.raises(RuntimeError, match=OVERLAP):
            y.fill_(L.tensor(2.0, dtype=L.float64))


def test_fill_of_an_expanded_plain_view_writes_its_memory():
    vals = []
    for L in _both():
        b = L.ones(3, dtype=L.float64)
        y = b.expand(2, 3)
        y.fill_(4.0)
        b2 = L.ones(2, 1, dtype=L.float64)
        b2.expand(2, 5).zero_()
        vals.append((b.tolist(), b2.tolist()))
    assert vals[0] == vals[1]


# ---- Tensor._base, Tensor._is_view() ------------------------------------------------------


def _views(L):
    x = L.ones(3, 4, requires_grad=True)
    y = x * 2
    made = {
        "leaf": x, "non-leaf": y, "detach": x.detach(), "y[0]": y[0], "y[0][1:]": y[0][1:],
        "x.view": x.view(12), "x.T": x.T, "reshape copies": y.T.reshape(12),
        "reshape views": y.reshape(12), "plain view of a view": L.ones(3, 4)[0][1:],
        "split": y.split(2)[0], "contiguous": y.contiguous(), "expand": y[:, :1].expand(3, 4),
        "a view of a detached": y.detach()[0], "unsqueeze": y.unsqueeze(0), "view_as": y.view_as(y),
        "flatten": y.flatten(), "diagonal": y.diagonal(), "clone": y.clone(),
        "to its own dtype": y.to(L.float32), "float()": y.float(), "chunk": y.chunk(2, 1)[1],
        "unbind": y.unbind()[0], "narrow": y.narrow(1, 1, 2), "permute": y.permute(1, 0),
        "squeeze": y[None].squeeze(0), "movedim": y.movedim(0, 1), "unfold": y.unfold(1, 2, 1),
        "as_strided": y.as_strided((2, 2), (1, 1)), "T.contiguous": y.T.contiguous(),
        "mT": y.mT, "a detached view": y[0].detach(), "empty slice": L.ones(3)[:0],
        "empty": L.ones(0),
    }  # fmt: skip
    with L.no_grad():
        made["no_grad view of a leaf"] = x[0]
        made["no_grad view of a non-leaf"] = y[1:]
    names = {id(x): "x", id(y): "y"}
    out = {}
    for k, t in made.items():
        b = t._base
        out[k] = (t._is_view(), None if b is None else names.get(id(b), tuple(b.shape)))
    return out


def test_base_and_is_view_follow_torch():
    torch = _torch()
    got, want = _views(ember), _views(torch)
    assert got == want
    assert want["y[0][1:]"] == (True, "y") and want["detach"] == (False, None)


def test_base_of_a_view_of_a_plain_tensor_keeps_it():
    for L in _both():
        v = L.arange(6.0).reshape(2, 3)[1]
        assert v._is_view() and v._base.shape == (6,)
        np.testing.assert_array_equal(v._base.numpy(), np.arange(6.0))


# ---- a node that saved its own output, written in place after ------------------------------

MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace"

_OWN_OUTPUT = {
    "exp, then mul_": lambda L, x: (x * 2).exp().mul_(2),
    "relu_, then ReLU(inplace) on a slice": lambda L, x: (
        lambda h: (L.nn.ReLU(inplace=True)(h[1:]), h)[1]
    )((x * 2).relu_()),
    "F.relu inplace, then relu_ of a slice": lambda L, x: (lambda h: (h[:, 1:].relu_(), h)[1])(
        L.nn.functional.relu(x * 2, inplace=True)
    ),
    "relu_ twice": lambda L, x: (x * 2).relu_().relu_(),
    "exp, then relu_": lambda L, x: (x * 2).exp().relu_(),
    "exp_ twice": lambda L, x: (x * 2).exp_().exp_(),
    "tanh, then clamp_": lambda L, x: (x * 2).tanh().clamp_(0, 0.5),
    "tanh, then a row zeroed": lambda L, x: (lambda h: (h[0].zero_(), h)[1])((x * 2).tanh()),
    "sigmoid, used, then written": lambda L, x: (lambda h: (h.mul_(2), h * 1)[1])(x.sigmoid()),
    "two in-place ReLUs in a Sequential": lambda L, x: L.nn.Sequential(
        L.nn.ReLU(inplace=True), L.nn.ReLU(inplace=True)
    )(x * 1),
    "softmax, then neg_": lambda L, x: (x * 2).softmax(1).neg_(),
    "log_softmax, then mul_": lambda L, x: (x * 2).log_softmax(0).mul_(2),
    "sqrt, then add_": lambda L, x: (x.abs() + 1).sqrt().add_(1),
    "reciprocal, then mul_": lambda L, x: (x.abs() + 1).reciprocal().mul_(3),
    # computed by both: the write is the node's own, or the saved output is not written
    "sin, then mul_": lambda L, x: (x * 2).sin().mul_(2),
    "sqrt_": lambda L, x: (x.abs() + 1).sqrt_(),
    "sigmoid_": lambda L, x: (x * 2).sigmoid_(),
    "exp_": lambda L, x: (x * 2).exp_(),
    "tanh_": lambda L, x: (x * 2).tanh_(),
    "relu_": lambda L, x: (x * 2).relu_(),
    "sigmoid_ of a view": lambda L, x: (lambda h: (h[0].sigmoid_(), h)[1])(x * 2),
    "sigmoid_, then squared": lambda L, x: (lambda h: h * h)((x * 2).sigmoid_()),
    "hardtanh_ after relu_": lambda L, x: L.nn.functional.hardtanh((x * 2), inplace=True).relu_(),
}


@pytest.mark.parametrize("case", list(_OWN_OUTPUT))
def test_a_node_whose_saved_output_was_written_refuses_as_torchs(case):
    got = []
    for L in _both():
        x = L.tensor([[-1.0, 0.5, 2.0], [0.3, -0.2, 1.0]], dtype=L.float64, requires_grad=True)
        try:
            _OWN_OUTPUT[case](L, x).sum().backward()
            got.append(np.round(x.grad.numpy(), 12).tolist())
        except RuntimeError as e:
            assert MODIFIED in str(e), str(e)
            got.append("refused")
    assert got[0] == got[1]


# ---- found by random programs against torch ------------------------------------------------


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_a_view_of_a_leaf_written_outside_the_graph_takes_as_strided(mode):
    # torch rebuilds the grad_fn of every view whose version moved, whatever wrote it
    def run(L):
        v0 = L.tensor([[0.5, 0.25, 0.75]], dtype=L.float64, requires_grad=True)
        w = L.tensor([2.0], dtype=L.float64, requires_grad=True)
        v1 = v0.narrow(0, 0, 1)
        v2 = v1.view(-1)
        with getattr(L, mode)():
            v2.add_(w.sum())
        names = [t.grad_fn.name() for t in (v1, v2)]
        v1.sum().backward()
        return names, v0.grad.tolist(), v0.tolist(), v1._version

    got, want = run(ember), run(_torch())
    assert got == want
    assert want[0] == ["AsStridedBackward0", "AsStridedBackward0"]
