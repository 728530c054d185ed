"""Parity with torch 2.13: pickling and deepcopy of tensors, pickling ember's functions,
manual_seed's generator, and inference_mode's views and detach."""

import copy
import pickle
import types

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")


def _rt(x):
    return pickle.loads(pickle.dumps(x))


def _both(fn):
    """fn(lib) for ember and torch."""
    return fn(ember), fn(torch)


# ---- 1. pickling and deepcopy ---------------------------------------------------------------
def test_pickled_op_output_is_a_leaf_without_grad():
    def run(lib):
        a = lib.ones(2, requires_grad=True)
        b = a * 2
        b.retain_grad()
        b.sum().backward()
        a.grad = lib.ones(2) * 5
        rb, ra = _rt(b), _rt(a)
        return (rb.requires_grad, rb.grad_fn is None, rb.is_leaf, rb.grad is None,
                rb.retains_grad, ra.requires_grad, ra.grad is None)  # fmt: skip

    e, t = _both(run)
    assert e == t == (True, True, True, True, False, True, True)


def test_pickle_keeps_strides_dtype_and_subclass():
    for slicer in (lambda x: x.t(), lambda x: x[1:, ::2], lambda x: x[:, :1].expand(3, 4)):
        e, t = _both(lambda lib, s=slicer: _rt(s(lib.arange(12.0).reshape(3, 4))))
        assert e.stride() == t.stride() and e.shape == tuple(t.shape)
        np.testing.assert_array_equal(e.numpy(), t.numpy())
    for name in ("float16", "bfloat16", "bool", "complex64", "int8"):
        e, t = _both(lambda lib, n=name: _rt(lib.ones(3, 4, dtype=getattr(lib, n))[:, ::2]))
        assert str(e.dtype) == str(t.dtype).removeprefix("torch.")
    for shape in ((), (0, 3)):
        e, t = _both(lambda lib, s=shape: _rt(lib.zeros(s)))
        assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    for rg in (True, False):
        e, t = _both(lambda lib, r=rg: _rt(lib.nn.Parameter(lib.ones(2), requires_grad=r)))
        assert type(e) is ember.nn.Parameter and e.requires_grad == t.requires_grad == rg


def test_pickle_of_inference_tensor_is_normal():
    def run(lib):
        with lib.inference_mode():
            x = lib.ones(2)
        return _rt(x).is_inference(), copy.deepcopy(x).is_inference()

    e, t = _both(run)
    assert e == t == (False, False)


def test_copy_shares_memory_and_deepcopy_does_not():
    for lib in (ember, torch):
        x = lib.ones(3, 4)[:, ::2]
        c, d = copy.copy(x), copy.deepcopy(x)
        c[0, 0] = 5
        d[0, 1] = 7
        assert x[0, 0].item() == 5 and x[0, 1].item() == 1
        assert d.stride() == x.stride()


def test_deepcopy_refuses_non_leaves_and_copies_leaf_grad():
    def run(lib):
        a = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError, match="graph leaves"):
            copy.deepcopy(a * 2)
        a.grad = lib.full((2,), 5.0)
        d = copy.deepcopy(a)
        p = lib.nn.Parameter(lib.ones(2))
        p.grad = lib.ones(2)
        q = copy.deepcopy(p)
        return d.grad.tolist(), d.requires_grad, q.grad, type(q).__name__

    e, t = _both(run)
    assert e == t


def test_buffer_attributes_survive_pickle():
    b = _rt(ember.nn.Buffer(ember.ones(2), persistent=False))
    assert type(b) is ember.nn.Buffer and b.persistent is False


# ---- 2. functions pickle by name --------------------------------------------------------------
def _public_callables():
    for mod in (ember, F, ember.linalg, ember.special, ember.fft):
        for name in dir(mod):
            obj = getattr(mod, name)
            if not name.startswith("_") and callable(obj) and not isinstance(obj, type):
                if not isinstance(obj, types.ModuleType):
                    yield f"{mod.__name__}.{name}", obj
    for name in dir(ember.Tensor):
        obj = getattr(ember.Tensor, name)
        if not name.startswith("__") and callable(obj) and not isinstance(obj, type):
            yield f"Tensor.{name}", obj


def test_every_public_function_pickles_to_itself():
    bad = []
    for label, fn in _public_callables():
        try:
            if pickle.loads(pickle.dumps(fn)) is not fn:
                bad.append(label)
        except Exception as e:  # noqa: BLE001 (the sweep lists every failure at once)
            bad.append(f"{label}: {type(e).__name__}")
    assert not bad, bad
    assert pickle.loads(pickle.dumps(torch.rand)) is torch.rand  # (as torch's)


# ---- 3. manual_seed and Generator --------------------------------------------------------------
def test_manual_seed_returns_the_default_generator():
    assert torch.manual_seed(0) is torch.default_generator
    assert ember.manual_seed(0) is ember.default_generator
    assert ember.default_generator.initial_seed() == 0


def test_generator_methods_match_torch():
    for lib in (ember, torch):
        g = lib.Generator()
        assert g.manual_seed(3) is g and g.initial_seed() == 3
        assert str(g.device) == "cpu" and str(lib.default_generator.device) == "cpu"
        assert g.set_state(g.get_state()) is g
        s = g.seed()
        assert isinstance(s, int) and s == g.initial_seed()
        assert g.manual_seed(-1).initial_seed() == 2**64 - 1
        with pytest.raises((ValueError, RuntimeError)):
            g.manual_seed(2**64)
    a = ember.rand(4, generator=ember.Generator().manual_seed(-1))
    b = ember.rand(4, generator=ember.Generator().manual_seed(2**64 - 1))
    np.testing.assert_array_equal(a.numpy(), b.numpy())


# ---- 4. inference mode ------------------------------------------------------------------------
def test_views_of_normal_tensors_in_inference_mode_stay_normal():
    def run(lib):
        x = lib.ones(2, 3)
        with lib.inference_mode():
            views = [x[1:], x.view(3, 2), x.reshape(6), x.permute(1, 0), x.detach()]
            made = x + 1
        flags = [v.is_inference() for v in views] + [made.is_inference()]
        for v in views:
            v.add_(1)  # (outside the mode: allowed on normal tensors)
        return flags, x.tolist()

    e, t = _both(run)
    assert e == t


def test_detached_inference_tensor_is_writable_but_its_views_are_not():
    def run(lib):
        with lib.inference_mode():
            x = lib.ones(3)
        d = x.detach()
        d.add_(1)
        d.detach().add_(1)
        values = x.tolist()  # (torch writes before it raises below: not matched)
        with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
            d[1:].add_(1)
        with pytest.raises(RuntimeError, match="Inplace update to inference tensor"):
            x.add_(1)
        with pytest.raises(RuntimeError, match="requires_grad=True on inference tensor"):
            d.requires_grad_()
        return d.is_inference(), values

    e, t = _both(run)
    assert e == t


def test_op_results_in_inference_mode_are_inference_tensors():
    def run(lib):
        a, b = lib.ones(4, 6), lib.ones(6, 3)
        with lib.inference_mode():  # (ops' fast paths, fresh arrays and views of temporaries)
            outs = [a @ b, lib.zeros(3), lib.cat([a, a]), lib.softmax(a, 1), a.cumsum(1)]
            outs += [a.sort(1)[0], lib.stack([a, a]), (a + 1).flatten(), a.t().reshape(-1)]
        return [o.is_inference() for o in outs]

    e, t = _both(run)
    assert e == t
