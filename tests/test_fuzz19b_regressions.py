"""Regressions found by a differential hunt against PyTorch 2.13 (no-grad views, view nodes
reused across backward calls, detach_ in inference mode)."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

REBASED = "A view was created in no_grad mode and its base or another view of its base"


def _rebased_view(lib):
    w = lib.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    with lib.no_grad():
        v = w[:, 0]
    w.grad = lib.ones(2, 3)
    lib.optim.SGD([w], lr=0.5).step()  # writes w, and so v's memory
    return v


USES = {"mul": lambda v: v * 2, "item": lambda v: v[0].item(), "clone": lambda v: v.clone()}


@pytest.mark.parametrize("use", sorted(USES))
def test_rebased_no_grad_view_refused_as_an_op_input(use):
    # torch refuses the view at the op that reads it in grad mode, not only at backward
    for lib in (torch, ember):
        v = _rebased_view(lib)
        with pytest.raises(RuntimeError, match=REBASED):
            USES[use](v)


def test_rebased_no_grad_view_read_under_no_grad():
    for lib in (torch, ember):
        v = _rebased_view(lib)
        with lib.no_grad():  # w[:, 0] = [1, 4] less 0.5 each
            np.testing.assert_allclose(np.asarray((v * 2).tolist()), [1.0, 7.0])


def test_unwritten_no_grad_view_still_an_op_input():
    for lib in (torch, ember):
        w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with lib.no_grad():
            v = w[1:]
        other = lib.tensor([1.0, 1.0], requires_grad=True)
        lib.optim.SGD([other], lr=0.1)  # (no step: nothing written)
        (v * other).sum().backward()
        np.testing.assert_allclose(np.asarray(other.grad.tolist()), [2.0, 3.0])
        assert w.grad is None


def _view_kept_across_steps(lib, steps=3):
    w = lib.tensor(np.arange(12, dtype=np.float32).reshape(3, 4) / 10, requires_grad=True)
    head, tail, flat = w[0], w[1:].t(), w.view(-1).expand(2, 12)
    opt = lib.optim.SGD([w], lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        ((head * head).sum() + (tail * 3).sum() + flat.diagonal().sum()).backward()
        opt.step()
    return np.asarray(w.tolist())


def test_view_taken_once_serves_every_backward():
    # torch's view nodes save no tensors: a second backward through them is fine (ember freed
    # them and refused "a second time")
    got = _view_kept_across_steps(ember)
    np.testing.assert_allclose(got, _view_kept_across_steps(torch), rtol=1e-6)
    # hand-computed: d/dw = 2 w[0] on row 0, 3 on rows 1-2, +1 on the flat diagonal (0, 1)
    w = np.arange(12, dtype=np.float64).reshape(3, 4) / 10
    buf = np.zeros_like(w)
    for _ in range(3):
        g = np.zeros_like(w)
        g[0] = 2 * w[0]
        g[1:] = 3
        g.flat[0] += 1
        g.flat[1] += 1
        buf = 0.9 * buf + g if _ else g
        w = w - 0.1 * buf
    np.testing.assert_allclose(got, w, rtol=1e-5)


def test_view_node_second_backward_then_a_freed_parent_refused():
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        v = x[0:1]
        v.sum().backward()
        v.sum().backward()  # (the view's node saved nothing)
        np.testing.assert_allclose(np.asarray(x.grad.tolist()), [2.0, 0.0])
        h = x * x
        u = h[0:1]
        u.sum().backward()
        with pytest.raises(RuntimeError, match="second time"):
            u.sum().backward()  # (h's node saved x: freed)


def test_detach_in_place_in_inference_mode_is_a_no_op():
    for lib in (torch, ember):
        u = lib.tensor([1.0, 2.0], requires_grad=True)
        h = u * 2
        with lib.no_grad():
            v = u[1:]
        with lib.inference_mode():
            h.detach_()
            v.detach_()  # (refused outside inference mode)
        assert h.requires_grad and h.grad_fn is not None and v.requires_grad
        h.sum().backward()
        np.testing.assert_allclose(np.asarray(u.grad.tolist()), [2.0, 2.0])
        with pytest.raises(RuntimeError, match="Can't detach views in-place"):
            v.detach_()


@pytest.mark.parametrize("dtype", ["float32", "float64", "bool", "int64", "complex128"])
def test_column_index_of_an_empty_tensor_reads_no_position(dtype):
    # x[:, i] of an x with no elements: torch reads nothing, so refuses no position; ember
    # refused the out-of-range ones (NumPy's bounds check)
    x = np.zeros((2, 3, 0, 4), dtype)
    i = np.array([[1], [-4], [0]])
    want = torch.from_numpy(x)[:, torch.from_numpy(i)]
    got = ember.tensor(x)[:, ember.tensor(i)]
    assert tuple(got.shape) == tuple(want.shape) == (2, 3, 1, 0, 4)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    if dtype.startswith("float"):
        e = ember.zeros(0, 4, dtype=getattr(ember, dtype), requires_grad=True)
        e[:, ember.tensor([5, -9])].sum().backward()
        assert tuple(e.grad.shape) == (0, 4)
    with pytest.raises(IndexError):  # (a non-empty x still refuses them, as torch)
        ember.zeros(2, 3)[:, ember.tensor([3])]
    with pytest.raises(IndexError):
        torch.zeros(2, 3)[:, torch.tensor([3])]


def test_advanced_index_node_still_freed_after_backward():
    for lib in (torch, ember):  # (torch's IndexBackward saves the index: freed as any other)
        x = lib.ones(3, requires_grad=True)
        y = x[lib.tensor([0, 2])]
        y.sum().backward()
        with pytest.raises(RuntimeError, match="second time"):
            y.sum().backward()
