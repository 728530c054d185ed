"""Indexing keys read in one scan (the empty-mask check and the Ellipsis drop behind it, as
torch), and the 2-norm node saving torch's two values (its input and its result)."""

import numpy as np
import pytest

import ember


def _torch():
    return pytest.importorskip("torch")


def _outcome(L, fn):
    """fn(L) as a list, or the exception's type."""
    try:
        return np.asarray(fn(L)).tolist()
    except (IndexError, RuntimeError, TypeError, ValueError) as e:
        return type(e).__name__


# ---- 1. the key's one scan -------------------------------------------------------------------

KEYS = {
    "x[:, j]": lambda L, x, j, m: x[:, j],
    "x[j]": lambda L, x, j, m: x[j],
    "x[:, 1:3]": lambda L, x, j, m: x[:, 1:3],
    "x[0]": lambda L, x, j, m: x[0],
    "x[..., j] (an Ellipsis for no dim)": lambda L, x, j, m: x[:, :, ..., j],
    "x[:, j, ..., j]": lambda L, x, j, m: x[:, j, ..., j],
    "x[j, ..., j]": lambda L, x, j, m: x[j, ..., j],
    "x[empty mask]": lambda L, x, j, m: x[m],
    "x[:, empty mask]": lambda L, x, j, m: x[:, m],
    "x[..., empty mask, j]": lambda L, x, j, m: x[..., m, j],
    "x[True, j]": lambda L, x, j, m: x[True, j],
    "x[j, None, 1]": lambda L, x, j, m: x[j, None, 1],
}


@pytest.mark.parametrize("case", list(KEYS))
def test_advanced_keys_as_torch(case):
    torch = _torch()

    def run(L):
        x = L.arange(24, dtype=L.float64).reshape(2, 3, 4)
        j = L.tensor([1, 0], dtype=L.int64)
        m = L.zeros(0, dtype=L.bool)
        out = KEYS[case](L, x, j, m)
        return [list(out.shape), out.stride(), out.numpy().tolist()]

    assert _outcome(ember, run) == _outcome(torch, run)


def test_a_numpy_bool_key_and_a_tensor_subclass_key():
    x = ember.arange(6.0).reshape(2, 3)
    with pytest.raises(IndexError, match="numpy.bool"):
        x[:, np.bool_(True)]
    j = ember.nn.Parameter(ember.tensor([2, 0]), requires_grad=False)
    np.testing.assert_array_equal(x[:, j].numpy(), [[2, 0], [5, 3]])


# ---- 2. the norm node saves its input and its result, as torch's ------------------------------

NORMS = {
    "x.norm()": lambda L, x: x.norm(),
    "x.norm(dim=1)": lambda L, x: x.norm(dim=1),
    "vector_norm(x, 2, 0, keepdim)": lambda L, x: L.linalg.vector_norm(x, 2, 0, True),
    "x.norm(3, dim=1)": lambda L, x: x.norm(3, dim=1),
    "x.norm(1)": lambda L, x: x.norm(1),
    "x.norm(0.5, dim=0)": lambda L, x: x.norm(0.5, dim=0),
    "vector_norm(x, -1.5, 1)": lambda L, x: L.linalg.vector_norm(x, -1.5, 1),
    "x.norm(inf, dim=1)": lambda L, x: x.norm(float("inf"), dim=1),
}


def _x(L):
    return L.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], dtype=L.float64, requires_grad=True)


@pytest.mark.parametrize("case", list(NORMS))
def test_norm_packs_its_input_and_result_under_saved_tensor_hooks_as_torch(case):
    torch = _torch()

    def run(L, hooks):
        packed = []
        x = _x(L)
        with hooks(lambda t: packed.append(tuple(t.shape)) or t, lambda t: t):
            y = NORMS[case](L, x)
        y.sum().backward()
        return sorted(packed), np.round(x.grad.numpy(), 12).tolist()

    assert run(ember, ember.autograd.graph.saved_tensors_hooks) == run(
        torch, torch.autograd.graph.saved_tensors_hooks
    )


@pytest.mark.parametrize("case", list(NORMS))
def test_norm_gradient_reads_its_result_after_an_inference_mode_write_as_torch(case):
    torch = _torch()

    def run(L):
        x = _x(L)
        y = NORMS[case](L, x)
        with L.inference_mode():
            y.mul_(2)  # (torch: no version bump in inference mode; the saved result reads it)
        y.sum().backward()
        return np.round(x.grad.numpy(), 12).tolist()

    assert _outcome(ember, run) == _outcome(torch, run)


@pytest.mark.parametrize("p", [2, 3, 1.5, 0.5])
def test_norm_gradients_float64(p):
    x = ember.tensor([[1.0, -2.0, 3.0], [0.5, 4.0, -1.0]], dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda t: t.norm(p, dim=1), (x,))
    assert ember.autograd.gradgradcheck(lambda t: t.norm(p, dim=1), (x,))


# ---- 3. a view made before its base's requires_grad_(), then written --------------------------

WRITES = {
    "inference_mode relu_ of the view": lambda L, x, v: _in(L.inference_mode, v.relu_),
    "no_grad relu_ of the view": lambda L, x, v: _in(L.no_grad, v.relu_),
    "no_grad write of the base": lambda L, x, v: _in(L.no_grad, lambda: x.mul_(2)),
    "grad-mode relu_ of the view (refused)": lambda L, x, v: v.relu_(),
    "no write": lambda L, x, v: None,
}


def _in(block, fn):
    with block():
        fn()


@pytest.mark.parametrize("case", list(WRITES))
def test_a_leaf_view_written_takes_its_grad_fn_from_the_base_as_torch(case):
    torch = _torch()

    def run(L):
        x = L.tensor([[1.0, -2.0, 3.0], [4.0, 5.0, 6.0]], dtype=L.float64)
        v = x[0]  # (in grad mode, before x requires grad)
        x.requires_grad_()
        WRITES[case](L, x, v)
        node = v.grad_fn
        (v * v).sum().backward()
        return [
            v.is_leaf,
            None if node is None else node.name(),
            None if x.grad is None else x.grad.numpy().tolist(),
        ]

    assert _outcome(ember, run) == _outcome(torch, run)
