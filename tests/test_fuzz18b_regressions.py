"""Regressions found by fuzz18b's differential hunt against torch 2.13 over behave18's changes:
views made under no_grad/inference_mode (they require grad but take no gradient)."""

import numpy as np
import pytest

import ember


def _no_grad_view(lib):
    a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with lib.no_grad():
        v = a[1:]
    return a, v


def test_no_grad_view_hooks_never_run():
    # it takes no gradient, so neither its tensor hooks nor its post-accumulate hooks run
    a, v = _no_grad_view(ember)
    seen = []
    v.register_hook(lambda g: seen.append("pre"))
    v.register_post_accumulate_grad_hook(lambda t: seen.append("post"))
    ((v * 3).sum() + a.sum()).backward()
    assert seen == []
    assert v.grad is None
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0, 1.0])


def test_no_grad_view_unused_input_of_grad_keeps_the_graph():
    # autograd.grad asked for it runs nothing for it: the refusal frees no saved value, so the
    # graph is still there for the next call (torch's engine prunes it the same way)
    a, v = _no_grad_view(ember)
    y = (v * a[:2]).sum()
    with pytest.raises(RuntimeError, match="not have been used"):
        ember.autograd.grad(y, [v])
    ga, gv = ember.autograd.grad(y, [a, v], allow_unused=True)
    np.testing.assert_array_equal(ga.numpy(), [2.0, 3.0, 0.0])
    assert gv is None


def test_no_grad_view_as_backward_root_is_refused():
    _, v = _no_grad_view(ember)
    with pytest.raises(RuntimeError, match="does not require grad"):
        v.backward(ember.ones(2))
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.autograd.grad(v, [v], grad_outputs=ember.ones(2))


def test_against_torch():
    torch = pytest.importorskip("torch")
    out = {}
    for lib in (torch, ember):
        a, v = _no_grad_view(lib)
        seen = []
        v.register_hook(lambda g, seen=seen: seen.append(g))
        y = (v * a[:2]).sum()
        try:
            lib.autograd.grad(y, [v])
            unused = None
        except RuntimeError:
            unused = "RuntimeError"
        ga, gv = lib.autograd.grad(y, [a, v], allow_unused=True)
        try:
            v.backward(lib.ones(2))
            root = None
        except RuntimeError:
            root = "RuntimeError"
        out[lib] = (unused, ga.tolist(), gv, len(seen), root)
    assert out[ember] == out[torch]


@pytest.mark.parametrize("reduce", ["amax", "amin"])
@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_scatter_reduce_complex_empty_index_without_self(reduce, dtype):
    # behave18 took an empty index for complex amax/amin; include_self=False then failed
    # building the (real-only) identity: nothing is targeted, x's values come back (torch's)
    dt = getattr(ember, dtype)
    x = ember.tensor([1 + 2j, -3j, 0.5], dtype=dt)
    out = x.scatter_reduce(
        0, ember.zeros(0, dtype=ember.long), ember.ones(0, dtype=dt), reduce, include_self=False
    )
    assert out.dtype == dt
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    with pytest.raises(TypeError, match="not implemented for complex"):
        x.scatter_reduce(0, ember.tensor([0]), ember.ones(1, dtype=dt), reduce, include_self=False)


def test_no_grad_view_takes_its_gradient_once_asked_to():
    # v.requires_grad_() on a view made under no_grad gives it an accumulator, as torch's
    a, v = _no_grad_view(ember)
    v.requires_grad_()
    ((v * 2).sum() + a.sum()).backward()
    np.testing.assert_array_equal(v.grad.numpy(), [2.0, 2.0])
    np.testing.assert_array_equal(a.grad.numpy(), [1.0, 1.0, 1.0])
    with pytest.raises(RuntimeError):  # still no in-place write in grad mode
        v.add_(1)
