"""A second backward through a freed graph, expand() without sizes: PyTorch 2.13's behaviour."""

import numpy as np
import pytest

import ember

SECOND = "Trying to backward through the graph a second time"


def _lib(x):
    return ember if isinstance(x, ember.Tensor) else pytest.importorskip("torch")


# (ops whose graph node saves no values: torch lets a second backward run through them; and
# ops that save values, which torch refuses after the first backward freed them)
_KEPT = {
    "add": lambda x: x + 1,
    "add_self": lambda x: x + x,
    "sub": lambda x: x - 1,
    "rsub": lambda x: 1 - x,
    "neg": lambda x: -x,
    "sum_dim": lambda x: x.sum(0),
    "sum_keepdim": lambda x: x.sum(1, keepdim=True),
    "mean": lambda x: x.mean(1),
    "view": lambda x: x.view(12),
    "reshape": lambda x: x.reshape(2, 6),
    "t": lambda x: x.t(),
    "permute": lambda x: x.permute(1, 0),
    "select": lambda x: x[0],
    "slice": lambda x: x[:, 1:],
    "expand": lambda x: x[0:1].expand(3, 4),
    "unsqueeze": lambda x: x.unsqueeze(0),
    "clone": lambda x: x.clone(),
    "cat": lambda x: _lib(x).cat([x, x]),
    "stack": lambda x: _lib(x).stack([x, x]),
    "diagonal": lambda x: x.diagonal(),
    "narrow": lambda x: x.narrow(0, 1, 2),
    "chunk": lambda x: x.chunk(2)[1],
    "unbind": lambda x: x.unbind()[1],
    "unfold": lambda x: x.unfold(1, 2, 1),
    "flip": lambda x: x.flip(0),
    "flatten": lambda x: x.flatten(),
    "sub_tensor": lambda x: x - x.detach(),
}
_FREED = {
    "mul_scalar": lambda x: x * 2,
    "div_scalar": lambda x: x / 2,
    "mul_self": lambda x: x * x,
    "exp": lambda x: x.exp(),
    "relu": lambda x: x.relu(),
    "pow": lambda x: x**2,
    "matmul": lambda x: x @ x.t(),
    "max_dim": lambda x: x.max(0)[0],
    "advanced_index": lambda x: x[[0, 1]],
    "tanh": lambda x: x.tanh(),
}


def _run_twice(lib, f):
    x = lib.ones(3, 4, dtype=lib.float64).requires_grad_()
    y = f(x).sum()
    y.backward()
    try:
        y.backward()
    except RuntimeError as e:
        assert SECOND in str(e)
        return "refused", x.grad.numpy().copy()
    return "ran", x.grad.numpy().copy()


@pytest.mark.parametrize("name", [*_KEPT, *_FREED])
def test_second_backward_runs_exactly_where_torch_lets_it(name):
    torch = pytest.importorskip("torch")
    f = {**_KEPT, **_FREED}[name]
    want, want_grad = _run_twice(torch, f)
    got, got_grad = _run_twice(ember, f)
    assert got == want == ("ran" if name in _KEPT else "refused")
    np.testing.assert_allclose(got_grad, want_grad)


def test_second_backward_stops_at_the_first_node_that_saved_values():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        x = lib.ones(3, dtype=lib.float64).requires_grad_()
        h = x.exp()
        y = (h + 1).sum()
        y.backward()
        with pytest.raises(RuntimeError, match=SECOND):
            y.backward()
        # the shape-only nodes before it ran again, the freed node refused before any leaf
        np.testing.assert_allclose(x.grad.numpy(), np.e * np.ones(3))


def test_a_node_saving_nothing_keeps_its_edges_after_backward():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        x = lib.ones(2, 3, dtype=lib.float64).requires_grad_()
        y = x.t().reshape(6).sum()
        y.backward()
        assert len(y.grad_fn.next_functions) == 1
        y.backward()
        np.testing.assert_allclose(x.grad.numpy(), 2 * np.ones((2, 3)))


@pytest.mark.parametrize("shape", [(), (3,)])
def test_expand_without_sizes_is_a_type_error(shape):
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        x = lib.ones(shape)
        with pytest.raises(TypeError, match="missing 1 required positional arguments"):
            x.expand()
        assert tuple(x.expand(size=shape).shape) == shape
        assert tuple(x.expand(shape).shape) == shape


def test_custom_function_refuses_only_when_backward_reads_freed_saved_tensors():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):

        class Ignores(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.save_for_backward(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g * 2

        class Reads(Ignores):
            @staticmethod
            def backward(ctx, g):
                (x,) = ctx.saved_tensors
                return g * x

        x = lib.ones(3, dtype=lib.float64).requires_grad_()
        y = Ignores.apply(x).sum()
        y.backward()
        y.backward()
        np.testing.assert_allclose(x.grad.numpy(), 4 * np.ones(3))
        y = Reads.apply(x).sum()
        y.backward()
        with pytest.raises(RuntimeError, match=SECOND):
            y.backward()


@pytest.mark.parametrize("op", ["sum", "mean"])
@pytest.mark.parametrize("perm", [(1, 0), (0, 2, 1), (2, 1, 0), (1, 2, 0)])
def test_keepdim_reduction_of_a_permuted_tensor_has_torchs_strides(op, perm):
    torch = pytest.importorskip("torch")
    a = np.arange(24.0).reshape((2, 3, 4) if len(perm) == 3 else (4, 6))
    for dim in range(len(perm)):
        want = getattr(torch.tensor(a).permute(*perm), op)(dim, keepdim=True)
        got = getattr(ember.tensor(a).permute(*perm), op)(dim, keepdim=True)
        assert got.stride() == want.stride() and got.shape == tuple(want.shape)
        np.testing.assert_allclose(got.numpy(), want.numpy())


@pytest.mark.parametrize(
    "view", [lambda x: x[1], lambda x: x[:, 2], lambda x: x[1:, ::2], lambda x: x.t()[1:]]
)
def test_pickled_view_keeps_its_storage_offset_and_its_own_copy(view):
    import pickle

    torch = pytest.importorskip("torch")
    out = []
    for lib in (torch, ember):
        x = lib.arange(12.0).reshape(3, 4)
        a, b = pickle.loads(pickle.dumps((view(x), view(x))))
        a.fill_(-1)  # (each view pickled holds its own storage, as torch's)
        out.append((a.stride(), a.storage_offset(), a.is_contiguous(), b.numpy().tolist()))
    assert out[0] == out[1]


def test_a_kept_node_does_not_keep_the_activations_it_read():
    import gc
    import weakref

    w = ember.ones(64, 64, requires_grad=True)
    h = w * 2  # (a node that saves values: freed by the pass)
    y = h + h  # (kept: a second backward may run through it)
    loss = y.sum()
    ref = weakref.ref(h.data)
    del h, y
    loss.backward()
    gc.collect()
    assert ref() is None  # (torch's edges hold no tensor either)
    with pytest.raises(RuntimeError, match=SECOND):  # (the freed node, reached again)
        loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), 4 * np.ones((64, 64)))


def test_inference_tensors_have_no_version_counter():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        with lib.inference_mode():
            x = lib.ones(3)
            with pytest.raises(RuntimeError, match="do not track version counter"):
                getattr(x, "_version")  # noqa: B009 (a read that raises)
        for t in (x, x[0]):
            with pytest.raises(RuntimeError, match="do not track version counter"):
                getattr(t, "_version")  # noqa: B009 (a read that raises)
        assert x.detach()._version == 0  # (outside the mode: a normal tensor's counter)
