"""``t.data = value`` (torch's set_data): a Tensor's array (shared memory) or a NumPy array, of
any shape and dtype; everything else a TypeError; identity, grad, requires_grad and the graph
node kept. Each behaviour against torch where torch has it, plus fixed expectations."""

import copy
import pickle

import numpy as np
import pytest

import ember
from ember import nn


def _libs():
    torch = pytest.importorskip("torch")
    return ember, torch


@pytest.mark.parametrize("value", [3.0, 2, [1.0, 2.0], (1.0,), None, "abc"])
def test_non_tensors_are_refused_as_torch(value):
    for lib in _libs():
        t = lib.ones(3)
        name = type(value).__name__
        with pytest.raises(TypeError, match=f"Variable data has to be a tensor, but got {name}"):
            t.data = value
        assert type(t.data) is np.ndarray if lib is ember else t.data.shape == (3,)
    np.testing.assert_array_equal(t.numpy(), np.ones(3))  # (unchanged)


def test_an_array_of_an_unsupported_dtype_is_refused_naming_it():
    t = ember.ones(3)
    for bad in (np.array(["a", "b"]), np.ones(2, ">f4"), np.array([object()])):
        with pytest.raises(TypeError, match=f"not {bad.dtype}"):
            t.data = bad
    assert type(t.data) is np.ndarray and t.shape == (3,)
    with pytest.raises(RuntimeError, match="Deleting tensor data is not allowed"):
        del t.data


def test_a_tensor_shares_its_memory_and_may_change_shape_and_dtype():
    for lib in _libs():
        a, b = lib.zeros(3), lib.ones(2, 2, dtype=lib.float64)
        ident = id(a)
        a.data = b
        b[0, 0] = 5.0  # one memory, as torch's storage
        assert id(a) == ident and tuple(a.shape) == (2, 2) and str(a.dtype).endswith("float64")
        np.testing.assert_array_equal(np.asarray(a.detach().numpy()), [[5, 1], [1, 1]])
    a = ember.zeros(3)
    b = ember.ones(2, 2, dtype=ember.float64)
    a.data = b
    assert a.data is b.data and type(a) is ember.Tensor
    assert repr(a) == repr(b) and (a + 1).numpy().tolist() == [[2.0, 2.0], [2.0, 2.0]]


def test_an_ndarray_is_stored_as_is():
    t = ember.zeros(3)
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)[:, ::2]  # (a strided view: kept)
    t.data = arr
    assert t.data is arr and t.dtype == np.int32 and t.shape == (2, 2)
    arr[0, 0] = 7
    assert t[0, 0].item() == 7
    t.data = np.ma.masked_array([1.0, 2.0])  # (a subclass: its plain ndarray view)
    assert type(t.data) is np.ndarray and t.tolist() == [1.0, 2.0]


def test_views_of_the_old_data_keep_the_old_memory():
    for lib in _libs():
        a = lib.zeros(3)
        v = a[:2]
        a.data = lib.ones(3)
        a.add_(1)
        v.add_(5)
        assert v.tolist() == [5.0, 5.0] and a.tolist() == [2.0, 2.0, 2.0]


def test_requires_grad_grad_and_node_are_kept_as_torch():
    for lib in _libs():
        p = lib.ones(3, requires_grad=True)
        (p * 2).sum().backward()
        p.data = lib.zeros(5)  # another shape: torch keeps the (now mismatched) grad
        assert p.requires_grad and p.is_leaf and p.grad.tolist() == [2.0, 2.0, 2.0]
        x = lib.ones(3, requires_grad=True)
        y = x * 2
        node = y.grad_fn
        y.data = lib.zeros(3)
        assert y.requires_grad and y.grad_fn is node and node.name() == "MulBackward0"
        y.sum().backward()
        assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_hooks_survive_and_a_no_grad_tensors_data_may_require_grad():
    for lib in _libs():
        p = lib.ones(2, requires_grad=True)
        seen = []
        p.register_hook(seen.append)
        p.data = lib.full((2,), 3.0)
        (p * p).sum().backward()
        assert [g.tolist() for g in seen] == [[6.0, 6.0]] and p.grad.tolist() == [6.0, 6.0]
        q = lib.ones(2)
        q.data = lib.ones(2, requires_grad=True)  # (the array only: q stays a plain tensor)
        assert not q.requires_grad


def test_integer_data_for_a_tensor_requiring_grad_is_refused_as_torch():
    for lib in _libs():
        p = lib.ones(3, requires_grad=True)
        for value in (lib.arange(4), lib.ones(2, dtype=lib.bool)):
            with pytest.raises(RuntimeError, match="requires gradients must be floating point"):
                p.data = value
        assert str(p.dtype).endswith("float32") and p.requires_grad
        p.data = lib.ones(2, dtype=lib.complex64)  # complex may
        assert str(p.dtype).endswith("complex64")
        q = lib.ones(3)
        q.data = lib.arange(4)  # (without requires_grad: any dtype)
        assert q.tolist() == [0, 1, 2, 3]
    with pytest.raises(RuntimeError, match="requires gradients must be floating point"):
        ember.ones(3, requires_grad=True).data = np.arange(3)


def test_parameter_data_swap_keeps_training_as_torch():
    w0 = np.arange(6.0, dtype=np.float32).reshape(3, 2) / 10
    w1 = -w0[::-1].copy()

    def run(lib):
        layer = lib.nn.Linear(2, 3)
        layer.weight.data = lib.tensor(w0)
        layer.bias.data = lib.zeros(3)
        opt = lib.optim.SGD(layer.parameters(), lr=0.5, momentum=0.9)
        x = lib.tensor([[1.0, 2.0], [3.0, -1.0]])
        layer(x).pow(2).sum().backward()
        opt.step()
        new = lib.tensor(w1)
        weight = layer.weight
        layer.weight.data = new  # swap mid-training: the optimiser steps the new array
        assert layer.weight is weight and isinstance(weight, lib.nn.Parameter)
        for _ in range(2):
            opt.zero_grad()
            layer(x).pow(2).sum().backward()
            opt.step()
        return new.numpy(), layer.weight.detach().numpy(), layer.bias.detach().numpy()

    (en, ew, eb), (tn, tw, tb) = run(ember), run(_libs()[1])
    np.testing.assert_allclose(ew, tw, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(eb, tb, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(en, ew)  # (new's memory is the weight's, as torch's)
    np.testing.assert_array_equal(tn, tw)
    assert not np.allclose(ew, w1)


def test_tied_weights_share_one_array():
    a, b = nn.Linear(4, 4, bias=False), nn.Linear(4, 4, bias=False)
    b.weight.data = a.weight.data  # (an ndarray: the same memory)
    a.weight.data = a.weight  # (itself: a no-op)
    with ember.no_grad():
        a.weight.mul_(0)
    assert b.weight.data is a.weight.data and not b.weight.numpy().any()


class _Mine(ember.Tensor):  # (a subclass with a slot of its own, at module level: picklable)
    __slots__ = ("tag",)


def test_pickle_copy_and_subclasses_after_assignment():
    p = nn.Parameter(ember.zeros(2))
    p.data = ember.arange(6.0).reshape(2, 3)
    for q in (pickle.loads(pickle.dumps(p)), copy.deepcopy(p), copy.copy(p)):
        assert type(q) is nn.Parameter and type(q.data) is np.ndarray and q.requires_grad
        np.testing.assert_array_equal(q.numpy(), np.arange(6.0).reshape(2, 3))
    m = _Mine(np.ones(2, np.float32))
    m.tag = "x"
    m.data = ember.zeros(4)
    r = pickle.loads(pickle.dumps(m))
    assert type(r) is _Mine and r.tag == "x" and r.tolist() == [0.0] * 4
    with pytest.raises(TypeError, match="has to be a tensor"):
        m.data = [1.0]


def test_safetensors_round_trip_after_assignment(tmp_path):
    pytest.importorskip("safetensors")
    from ember import io

    layer = nn.Linear(2, 2)
    layer.weight.data = ember.ones(2, 2) * 3
    path = str(tmp_path / "w.safetensors")
    io.save_state_dict(layer.state_dict(), path)
    other = nn.Linear(2, 2)
    other.load_state_dict(io.load_state_dict(path))
    np.testing.assert_array_equal(other.weight.numpy(), np.full((2, 2), 3.0, np.float32))


def test_the_descriptor_reads_the_slot_and_checks_its_arguments():
    from ember import _C

    desc = ember.Tensor.__dict__["data"]
    assert ember.Tensor.data is desc and nn.Parameter.data is desc
    t = ember.ones(2)
    assert desc.__get__(t) is t._data
    with pytest.raises(TypeError, match="doesn't apply to a 'object' object"):
        desc.__get__(object())
    with pytest.raises(TypeError, match="a descriptor and two callables"):
        _C.slot_property(desc, None, None)
    with pytest.raises(TypeError):
        _C.slot_property(desc)
