"""The backward engine: accumulation, graph freeing, no_grad, detach, deep graphs, gradcheck."""

import numpy as np
import pytest

import ember
from ember.autograd import Function, gradcheck


def test_tensor_used_twice_accumulates():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x + x  # x used three times
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy() + 1)


def test_gradients_accumulate_across_backward_calls():
    x = ember.tensor([1.0, -2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * 3).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [6.0, 6.0])


def test_second_backward_through_freed_graph_raises():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_retain_graph_allows_second_backward():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 4 * x.numpy())


def test_non_scalar_backward_needs_gradient():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="scalar"):
        y.backward()
    y.backward(np.array([1.0, 10.0]))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])


def test_backward_gradient_shape_is_checked():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(np.ones(3))


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        ember.tensor([1.0]).sum().backward()


def test_no_grad_records_nothing():
    x = ember.tensor([1.0], requires_grad=True)
    with ember.no_grad():
        y = x * 2
    assert not y.requires_grad and y.grad_fn is None

    @ember.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert (x * 2).requires_grad  # restored


def test_detach_shares_memory_and_cuts_graph():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad
    y = x * 2
    assert np.shares_memory(y.detach().numpy(), y.numpy())


def test_deep_chain_does_not_recurse():
    x = ember.tensor([0.5], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [1.0001**5000], rtol=1e-3)


def test_leaf_gradients_never_share_memory():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = ember.tensor([3.0, 4.0], requires_grad=True)
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    x.grad.numpy()[...] *= 10  # clipping in place must not touch y's gradient
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


def test_shared_gradient_not_corrupted_by_later_accumulation():
    # x's first gradient is the same array another branch still needs.
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    m = x * 2
    z = (x + m) + x.exp()
    z.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 3 + np.exp(x.numpy()))


def test_broadcast_gradients_reduce_to_input_shape():
    a = ember.randn(3, 1, dtype=np.float64, requires_grad=True)
    b = ember.randn(4, dtype=np.float64, requires_grad=True)
    (a * b).sum().backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_allclose(a.grad.numpy(), np.full((3, 1), b.numpy().sum()))


def test_multi_output_gradient_with_unused_output():
    x = ember.tensor([[1.0, 5.0], [7.0, 2.0]], requires_grad=True)
    values, indices = x.max(dim=1)
    assert not indices.requires_grad
    values.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0, 1], [1, 0]])


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(RuntimeError, match="floating point"):
        ember.tensor([1, 2], requires_grad=True)


def test_custom_function():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    x = ember.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    assert gradcheck(Cube.apply, (x,))


def test_gradcheck_catches_a_wrong_gradient():
    class Wrong(Function):
        @staticmethod
        def forward(ctx, x):
            return x * x

        @staticmethod
        def backward(ctx, g):
            return g  # should be 2 x g

    x = ember.tensor([1.0, 2.0], dtype=np.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="differs"):
        gradcheck(Wrong.apply, (x,))
    assert gradcheck(Wrong.apply, (x,), raise_exception=False) is False


def test_gradcheck_refuses_float32():
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, (x,))


def test_in_place_on_tensor_requiring_grad_is_refused():
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="in-place"):
        x += 1
    with ember.no_grad():
        x += 1
    np.testing.assert_allclose(x.numpy(), [2.0])


def test_grad_flows_through_mixed_precision_to_leaf_dtype():
    a = ember.tensor([1.0, 2.0], requires_grad=True)  # float32
    b = ember.tensor(np.array([3.0, 4.0]), requires_grad=True)  # float64
    (a * b).sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_callers_gradient_is_never_written():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    g = np.ones(2, np.float32)
    (x * 1.0).backward(g)
    (x * 1.0).backward(g)
    np.testing.assert_array_equal(g, [1.0, 1.0])
    x.grad = None
    x.backward(g)  # a leaf as the root: its grad is a copy of g
    x.grad.numpy()[...] = 5
    np.testing.assert_array_equal(g, [1.0, 1.0])


def test_index_assignment_after_use_refuses_backward():
    # h was saved by h * h, then overwritten: its gradient would use the new values (PyTorch's
    # version counter raises here); assignments before any use, or uses after, are fine.
    a = ember.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    h = a * 2
    y = h * h
    h[0] = 5.0
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    h2 = a * 2
    h2[0] = 5.0
    (h2 * h2).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), [0.0, 16.0, 24.0])


def test_grad_runs_only_the_nodes_its_inputs_are_reached_through():
    """As torch: grad() with respect to a non-leaf leaves the node that made it (and all
    beyond) alone, so they can still be backpropagated through afterwards."""
    leaf = ember.tensor(1.5, requires_grad=True, dtype=ember.float64)
    x = leaf.clone()
    assert ember.autograd.grad((x * 2).sum(), x)[0].item() == 2.0
    assert ember.autograd.grad((x * 3).sum(), x)[0].item() == 3.0  # CloneBackward not freed
    (x * 4).backward()
    assert leaf.grad.item() == 4.0
    assert ember.autograd.gradgradcheck(lambda t: t.exp(), (x,))


def test_gradcheck_takes_torchs_keywords_and_checks_forward_mode():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    w = ember.randn(4, 2, dtype=ember.float64, requires_grad=True)

    def f(a, b):
        return ember.nn.functional.layer_norm(a @ b, (2,)).tanh()

    assert ember.autograd.gradcheck(f, (x, w), check_forward_ad=True, fast_mode=True)
    assert ember.autograd.gradcheck(
        f, (x, w), check_forward_ad=True, check_backward_ad=False, check_batched_grad=False,
        check_undefined_grad=False, nondet_tol=0.0, check_grad_dtypes=True,
    )  # fmt: skip
    assert ember.autograd.gradgradcheck(f, (x, w), check_fwd_over_rev=True)

    class WrongJvp(ember.autograd.Function):  # right backward, wrong forward-mode rule
        @staticmethod
        def forward(ctx, t):
            ctx.save_for_backward(t)
            return t.exp()

        @staticmethod
        def backward(ctx, g):
            return g * ctx.saved_tensors[0].exp()

        @staticmethod
        def jvp(ctx, t):
            return t * 2

    assert ember.autograd.gradcheck(WrongJvp.apply, (x,))
    assert not ember.autograd.gradcheck(WrongJvp.apply, (x,), check_forward_ad=True,
                                        raise_exception=False)  # fmt: skip
    with pytest.raises(RuntimeError, match="forward-mode derivative"):
        ember.autograd.gradcheck(WrongJvp.apply, (x,), check_forward_ad=True)


def test_unpack_dual_gives_back_the_tangent_it_was_given():
    from ember.autograd import forward_ad as fwAD

    primal, tangent = ember.randn(4, 4), ember.randn(4, 4)
    with fwAD.dual_level():
        dual = fwAD.make_dual(primal, tangent)
        assert fwAD.unpack_dual(dual).tangent is tangent
        other = fwAD.make_dual(primal, tangent.T)
        got = fwAD.unpack_dual(other).tangent
        np.testing.assert_array_equal(got.numpy(), tangent.numpy().T)
        out = dual * 2
        assert fwAD.unpack_dual(out).tangent is not tangent
        np.testing.assert_allclose(fwAD.unpack_dual(out).tangent.numpy(), 2 * tangent.numpy())
