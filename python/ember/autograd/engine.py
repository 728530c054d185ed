"""The backward pass: topological order, one backward call per node, leaf accumulation."""

from __future__ import annotations

import numpy as np


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the gradient rule of every broadcasting op."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def _topological_order(root):
    """Nodes reachable from ``root``, every node after all nodes that consume its outputs.

    An explicit stack instead of recursion: a 1,000-step RNN must not hit the recursion limit.
    """
    post = []
    seen = {root}
    stack = [(root, iter(root.parents))]
    while stack:
        node, it = stack[-1]
        for parent in it:
            if parent is None:
                continue
            child = parent._ctx
            if child is not None and child not in seen:
                seen.add(child)
                stack.append((child, iter(child.parents)))
                break
        else:
            stack.pop()
            post.append(node)
    post.reverse()
    return post


def _owner(a: np.ndarray):
    return a if a.base is None else a.base


def backward(tensor, grad=None, retain_graph: bool = False) -> None:
    """Accumulate d(tensor)/d(leaf) * grad into every leaf's ``.grad``; see Tensor.backward."""
    from ember.tensor import Tensor

    if not tensor.requires_grad:
        raise RuntimeError(
            "backward: this tensor does not require grad and has no grad_fn "
            "(was it made under no_grad, or from inputs without requires_grad=True?)"
        )
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"backward: grad can be implicitly created only for scalar outputs; "
                f"this tensor has shape {tensor.shape}: pass grad= of that shape"
            )
        grad = np.ones_like(tensor.data)
    else:
        grad = np.array(grad.data if isinstance(grad, Tensor) else grad, dtype=tensor.dtype)
        if grad.shape != tensor.shape:
            raise ValueError(
                f"backward: grad has shape {grad.shape} but the tensor has shape {tensor.shape}"
            )

    root = tensor._ctx
    if root is None:  # a leaf: its gradient is grad itself
        _accumulate(tensor, grad, set())
        return
    if getattr(root, "_freed", False):
        raise _freed_error(root)

    pending = {root: [None] * root._n_out}
    pending[root][tensor._idx] = grad
    shared = set()  # gradient arrays handed to leaves without a copy in this pass
    for node in _topological_order(root):
        grads = pending.pop(node, None)
        if grads is None:
            continue
        if getattr(node, "_freed", False):
            raise _freed_error(node)
        if node._n_out == 1:
            in_grads = node.backward(node, grads[0])
        else:
            for i, g in enumerate(grads):
                if g is None:
                    shape, dtype = node._out_meta[i]
                    grads[i] = np.zeros(shape, dtype)
            in_grads = node.backward(node, *grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        parents = node.parents
        if len(in_grads) < len(parents):
            raise RuntimeError(
                f"{node.name}.backward returned {len(in_grads)} gradients for {len(parents)} inputs"
            )
        if not retain_graph:
            node._release()
        for parent, g in zip(parents, in_grads):
            if parent is None or g is None:
                continue
            if type(g) is not np.ndarray:
                g = np.asarray(g)
            if g.shape != parent.data.shape:
                raise RuntimeError(
                    f"{node.name}.backward returned a gradient of shape {g.shape} for an "
                    f"input of shape {parent.data.shape}"
                )
            ctx = parent._ctx
            if ctx is None:
                _accumulate(parent, g, shared)
                continue
            slots = pending.get(ctx)
            if slots is None:
                slots = pending[ctx] = [None] * ctx._n_out
            i = parent._idx
            slots[i] = g if slots[i] is None else slots[i] + g


def _accumulate(leaf, g: np.ndarray, shared: set) -> None:
    """Add ``g`` into ``leaf.grad``.

    A gradient array is handed to a leaf without a copy when it can be; ``shared`` holds the
    arrays handed that way in this pass, which other nodes may still read: those are never
    added into in place, and never handed to a second leaf.
    """
    from ember.tensor import Tensor

    dtype = leaf.data.dtype
    if leaf.grad is None:
        if (
            g.dtype != dtype
            or id(_owner(g)) in shared
            or not g.flags.writeable
            or not g.flags.c_contiguous
        ):
            g = np.array(g, dtype=dtype)  # a private, writeable, contiguous copy
        else:
            shared.add(id(_owner(g)))
        leaf.grad = Tensor._make(g, False, None, 0)
        return
    acc = leaf.grad.data
    if acc.shape == g.shape and acc.flags.writeable and id(_owner(acc)) not in shared:
        np.add(acc, g, out=acc, casting="unsafe")
    else:
        leaf.grad = Tensor._make(np.add(acc, g, dtype=dtype, casting="unsafe"), False, None, 0)


def _freed_error(node) -> RuntimeError:
    return RuntimeError(
        f"Trying to backward through the graph a second time (at {node.name}): its saved "
        "values were freed after the first backward. Pass retain_graph=True to the first "
        "backward() if you need to call backward twice."
    )
