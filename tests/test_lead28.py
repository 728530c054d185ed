"""Session 28's lead fixes: graph structure and names after backward, the memory a freed graph
holds, and the _C mutation fuzz's GIL finding."""

import gc
import weakref

import numpy as np
import pytest

import ember
import ember._C as C


def _names(lib, y):
    """grad_fn names of y's graph, breadth first, through next_functions."""
    out, todo = [], [y.grad_fn]
    while todo:
        node = todo.pop(0)
        if node is None:
            continue
        out.append(type(node).__name__ if lib == "torch" else node.name())
        todo.extend(f for f, _ in node.next_functions)
    return out


@pytest.mark.parametrize("bias", [True, False])
def test_linear_output_repr_and_name_after_backward(bias):
    torch = pytest.importorskip("torch")
    names = []
    for lib in (torch, ember):
        m = lib.nn.Linear(3, 4, bias=bias)
        y = m(lib.ones(2, 3))
        y.sum().backward()
        assert "grad_fn=<" in repr(y)  # (ember raised IndexError: the freed node's parents)
        names.append(y.grad_fn.name())
    assert names[0] == names[1] == ("AddmmBackward0" if bias else "MmBackward0")


@pytest.mark.parametrize("n", [3, 40])  # (small inputs kept as they are, large as stand-ins)
def test_graph_edges_survive_backward_as_torch(n):
    torch = pytest.importorskip("torch")
    seen = []
    for lib in (torch, ember):
        w = lib.ones(n, n, dtype=lib.float64, requires_grad=True)
        c = lib.full((n, n), 2.0, dtype=lib.float64)
        y = ((w.exp() * 2 + c).relu() * w).sum()
        before = _names(lib, y)
        y.backward()
        seen.append((before, _names(lib, y)))
    (tb, ta), (eb, ea) = seen
    assert ta == tb and ea == eb  # the walk is the same after backward as before
    assert len(ea) == len(ta)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward()


def test_freed_graph_holds_no_constant_input():
    # a loss kept alive (the usual `loss` variable of a training loop) must not keep the batch
    m = ember.nn.Linear(256, 8)
    x = ember.randn(64, 256)
    ref = weakref.ref(x.data)
    loss = m(x).relu().sum()
    loss.backward()
    del x
    gc.collect()
    assert ref() is None
    assert loss.grad_fn.next_functions  # (the graph itself is still there)


def test_second_backward_through_kept_nodes_with_create_graph():
    torch = pytest.importorskip("torch")
    res = []
    for lib in (torch, ember):
        w = lib.ones(40, 40, dtype=lib.float64, requires_grad=True)
        c = lib.full((40, 40), 2.0, dtype=lib.float64)
        y = (lib.cat([w.t()[1:], c[1:]]) - c[:1]).sum()
        y.backward()
        (g2,) = lib.autograd.grad(y, w, create_graph=True)
        res.append((w.grad.numpy(), g2.detach().numpy()))
    np.testing.assert_array_equal(res[0][0], res[1][0])
    np.testing.assert_array_equal(res[0][1], res[1][1])


def test_sdpa_dropout_mask_checks_and_values():
    keep = C.sdpa_dropout_mask(2, 3, 4, 0.5, 7)
    assert keep.shape == (2, 3, 4) and keep.dtype == np.uint8
    np.testing.assert_array_equal(keep, C.sdpa_dropout_mask(2, 3, 4, 0.5, 7))
    assert C.sdpa_dropout_mask(1, 4, 4, 0.0, 3).all()
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\]"):
        C.sdpa_dropout_mask(2, 3, 4, 1.5, 7)
    with pytest.raises(ValueError, match="negative size"):
        C.sdpa_dropout_mask(-1, 3, 4, 0.5, 7)


def test_worker_sends_a_view_as_its_own_elements():
    # pickle keeps a view's storage (torch's rule); a worker's sample must not carry the
    # dataset's whole array through /dev/shm once per sample
    from ember.data import DataLoader, TensorDataset

    big = ember.randn(300, 1000)  # (1.2 MB: above the shared-memory threshold)
    got = list(DataLoader(TensorDataset(big), batch_size=None, num_workers=1))
    assert len(got) == 300
    for i in (0, 17, 299):
        (x,) = got[i]
        np.testing.assert_array_equal(x.numpy(), big[i].numpy())
        assert x.untyped_storage().nbytes() == 4000


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_pack_padded_sequence_non_finite_length_is_a_runtime_error_as_torch(bad):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.nn.utils.rnn.pack_padded_sequence(torch.zeros(3, 2, 1), [bad, 1.0])
    with pytest.raises(RuntimeError, match="lengths must be finite"):
        ember.nn.utils.rnn.pack_padded_sequence(ember.zeros(3, 2, 1), [bad, 1.0])


@pytest.mark.parametrize(
    "f",
    [
        lambda a: a.reshape(3, 2),
        lambda a: a.t(),
        lambda a: a.flatten(),
        lambda a: ember.nn.GRUCell(3, 4)(a),
        lambda a: ember.nn.LSTMCell(3, 4)(a)[0],
    ],
)
def test_forward_ad_views_and_cells_under_no_grad_carry_not_drop(f):
    # (fuzz21b: the fast view path dropped a dual tensor's tangent under no_grad; ember then
    # refused every op there, until behave22 carried the tangents, as torch)
    from ember.autograd import forward_ad as fwad

    x, t = ember.randn(2, 3), ember.ones(2, 3)
    with fwad.dual_level():
        xd = fwad.make_dual(x, t)
        ember.manual_seed(0)
        want = fwad.unpack_dual(f(xd)).tangent  # (grad mode on)
        ember.manual_seed(0)
        with ember.no_grad():
            got = fwad.unpack_dual(f(xd)).tangent
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("act", ["relu_", "leaky_relu_", "hardtanh_", "elu_"])
def test_in_place_activation_frees_its_memory_without_the_collector(act):
    # (a self-calling closure in _inplace.preserve_saved was a reference cycle holding the
    # written array until gc ran: every in-place activation's output page-faulted anew)
    w = ember.ones(1, requires_grad=True)
    gc.collect()
    gc.disable()
    try:
        y = ember.randn(4, 8, 16, 16) * w
        ref = weakref.ref(y.data)
        z = getattr(ember.nn.functional, act)(y)
        z.sum().backward()
        del y, z
        assert ref() is None
    finally:
        gc.enable()
    assert w.grad is not None


@pytest.mark.parametrize("clock", ["cpu", "wall"])
def test_bench_times_a_microsecond_call_above_zero(clock):
    # (`python -m ember bench --only tensorops --clock cpu` divided by an ember time of 0 s:
    # one sub-microsecond call is below the CPU clock's granularity)
    from ember.benchmarks import CLOCKS, format_table, time_calls

    calls = {"a": 0}

    def tiny():
        calls["a"] += 1

    t = time_calls({"ember": tiny, "torch": tiny}, min_time=0.01, clock=CLOCKS[clock])
    assert 0 < t["ember"] < 1e-4 and 0 < t["torch"] < 1e-4
    assert calls["a"] > 10  # (samples repeat the call)
    assert "x" in format_table([("w", t)])
