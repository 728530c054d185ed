"""torch.autograd.graph's public part -- ``Node`` (what ``grad_fn`` is), ``GradientEdge`` /
``get_gradient_edge``, ``saved_tensors_hooks`` / ``save_on_cpu`` /
``disable_saved_tensors_hooks`` (at the end of this file) -- and the helpers for the ops'
``backward_graph`` (create_graph=True): see docs/autograd.md.

An op's ``backward_graph(ctx, *grads)`` is its ``backward`` written with Tensor ops, so the
gradient it returns records a graph. ``inputs`` gives it the forward's arguments as Tensors
(the parents that require grad, constants from saved arrays for the others) and ``output``
the node's own output; a linear op (its gradient constant in its inputs) hands its NumPy
backward to ``linear``, and a composite op can have its Tensor-op forward differentiated by
``recompute``.
"""

from __future__ import annotations

import abc
from typing import NamedTuple

import numpy as np

from ember.autograd import function as _fn
from ember.autograd.engine import _run, unbroadcast
from ember.autograd.function import AccumulateGrad, Function, _edge
from ember.tensor import Tensor


def constant(a) -> Tensor:
    return a if isinstance(a, Tensor) else Tensor._make(np.asarray(a), False, None, 0)


def inputs(ctx, *saved):
    """The forward arguments as the recording pass needs them: ``ctx.parents[i]`` where that
    input requires grad (the gradient depends on it), else ``saved[i]``: an array as a
    constant Tensor, anything else (a number, None) as it is."""
    return tuple(
        p if p is not None else (constant(a) if isinstance(a, np.ndarray) else a)
        for p, a in zip(ctx.parents, saved)
    )


def output(ctx, y: np.ndarray, i: int = 0) -> Tensor:
    """The node's output ``i`` (its array ``y``) as a Tensor of the graph: a gradient written
    with it (exp's g * y) is differentiated through the node again."""
    return Tensor._make(y, True, ctx, i)


def scratch(cls):
    """A throwaway ctx, to call ``cls.forward`` as a plain NumPy map (a linear op's adjoint)."""
    return cls.__new__(cls)


class LinearMap(Function):
    """y = fwd(g) for a linear NumPy map ``fwd`` with adjoint ``adj``: the backward of a linear
    op and its forward are each other's adjoint, so one node serves every order. ``mask_of``
    (a piecewise-linear op's input, which picks the piece) gets a zero gradient: it is in the
    graph, as torch's relu / abs / max_pool backward keep their input, so differentiating
    again gives zeros there rather than "not used in the graph"."""

    @staticmethod
    def forward(ctx, g, fwd, adj, mask_of=None):
        ctx.maps = (fwd, adj)
        ctx.mask_meta = None if mask_of is None else (mask_of.shape, mask_of.dtype)
        return fwd(g)

    @staticmethod
    def backward(ctx, gg):
        meta = ctx.mask_meta
        return ctx.maps[1](gg), None, None, None if meta is None else np.zeros(*meta)

    @staticmethod
    def backward_graph(ctx, gg):
        fwd, adj = ctx.maps
        meta = ctx.mask_meta
        zeros = None if meta is None else constant(np.zeros(*meta))
        return LinearMap.apply(gg, adj, fwd), None, None, zeros


def linear(ctx, g: Tensor, forward_map, i: int = 0, mask_of=None) -> Tensor:
    """The gradient of input ``i`` of a linear op: its own NumPy backward applied to the Tensor
    ``g``, with ``forward_map`` (the op's forward on a direction, other arguments fixed) as
    the adjoint. ``mask_of``: see LinearMap."""

    def back(a):
        out = type(ctx).backward(ctx, a)
        return out[i] if isinstance(out, tuple) else out

    if mask_of is None:
        return LinearMap.apply(g, back, forward_map)
    return LinearMap.apply(g, back, forward_map, mask_of)


def sum_to(g: Tensor, shape: tuple) -> Tensor:
    """unbroadcast for Tensors: g summed down to ``shape``."""
    shape = tuple(shape)
    if g.shape == shape:
        return g
    big = g.shape
    return LinearMap.apply(g, lambda a: unbroadcast(a, shape), lambda v: np.broadcast_to(v, big))


def recompute(ctx, grads, fn, *args):
    """backward_graph of a composite op: ``fn(*args)`` (its forward in Tensor ops, ``args`` as
    ``inputs`` gives them) is recorded again and differentiated in a recording pass that
    stops at the args. Returns one gradient per arg (None where it does not require grad)."""
    outs = fn(*args)
    outs = list(outs) if isinstance(outs, tuple | list) else [outs]
    firsts = {}  # an input passed twice (x * x) gets the whole gradient once
    for k, a in enumerate(args):
        if isinstance(a, Tensor) and a.requires_grad:
            firsts.setdefault(id(a), k)
    targets = [args[k] for k in firsts.values()]
    pairs = [(o, g) for o, g in zip(outs, grads) if o.requires_grad]
    got = [None] * len(targets)
    if pairs and targets:
        got = _run([o for o, _ in pairs], [g for _, g in pairs], True, targets, True, True)
    by_slot = dict(zip(firsts.values(), got))
    return tuple(by_slot.get(k) for k in range(len(args)))


# ---- the graph as PyTorch's objects (torch.autograd.graph) -------------------------------------


class Node(abc.ABC):
    """What ``tensor.grad_fn`` is (an ember Function node, or an AccumulateGrad reached through
    ``next_functions``), for ``isinstance``: torch.autograd.graph.Node."""

    @abc.abstractmethod
    def name(self) -> str: ...

    @property
    @abc.abstractmethod
    def next_functions(self) -> tuple: ...

    @property
    @abc.abstractmethod
    def metadata(self) -> dict: ...

    @abc.abstractmethod
    def register_hook(self, fn): ...

    @abc.abstractmethod
    def register_prehook(self, fn): ...


Node.register(Function)
Node.register(AccumulateGrad)


class GradientEdge(NamedTuple):
    node: object
    output_nr: int


def get_gradient_edge(tensor) -> GradientEdge:
    """The edge backward reaches ``tensor`` by: its grad_fn and output index (a leaf's
    AccumulateGrad), as torch.autograd.graph.get_gradient_edge."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"get_gradient_edge: expected a Tensor, got {type(tensor).__name__}")
    if not tensor.requires_grad:
        raise RuntimeError("get_gradient_edge: the tensor does not require grad")
    return GradientEdge(*_edge(tensor))


def increment_version(tensor) -> None:
    """Mark ``tensor`` as modified in place: nodes that saved it refuse to backward, as
    torch.autograd.graph.increment_version."""
    _fn.note_write(tensor.data, tensor)


# ---- hooks on several tensors --------------------------------------------------------------------


class _MultiHandle:
    """register_multi_grad_hook's handle: ``remove()`` unregisters the hook from every tensor."""

    def __init__(self, handles):
        self._handles = handles

    def remove(self) -> None:
        for h in self._handles:
            h.remove()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


def register_multi_grad_hook(tensors, fn, *, mode: str = "all"):
    """``fn`` called once per backward pass that reaches ``tensors``, as torch's: with
    ``mode="all"``, ``fn(grads)`` after the pass has computed their gradients (a tuple aligned
    with ``tensors``, None for one the pass did not reach); with ``mode="any"``, ``fn(grad)``
    with the first of their gradients computed. ``fn``'s result is ignored (the gradients are
    not changed). Returns a handle whose ``remove()`` unregisters it."""
    from ember.autograd import engine

    if mode not in ("all", "any"):
        raise ValueError(f"register_multi_grad_hook: mode must be 'all' or 'any', got {mode!r}")
    tensors = tuple(tensors)
    for t in tensors:
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError("register_multi_grad_hook: every tensor must require grad")
    grads: list = [None] * len(tensors)
    state = {"queued": False}

    def finish():
        got = tuple(grads)
        grads[:] = [None] * len(tensors)
        state["queued"] = False
        if mode == "all":
            fn(got)

    def hook_for(i):
        def hook(g):
            if not state["queued"]:  # the first of this pass: reset (and call) at its end
                state["queued"] = True
                engine._pass_end.append(finish)
                if mode == "any":
                    fn(g)
            grads[i] = g

        return hook

    return _MultiHandle([t.register_hook(hook_for(i)) for i, t in enumerate(tensors)])


# ---- saved-tensor hooks ------------------------------------------------------------------------


class saved_tensors_hooks:  # noqa: N801 (PyTorch's name)
    """``with saved_tensors_hooks(pack, unpack):`` every tensor an op saves for backward while
    the graph is recorded goes through ``pack`` (its result is kept instead), and ``unpack``
    turns that back into a tensor each time backward reads it, as torch's.

    Covered: everything saved with ``ctx.save_for_backward`` -- custom Functions (the Tensors
    they save) and ember's own ops that save that way (pack sees a Tensor of the saved array;
    unpack must give one of the same values back). Not covered: values an op keeps as other
    ctx attributes (shapes, masks, indices some ops keep directly) and arrays the C++ kernels
    keep inside their own results. Nothing is packed under no_grad."""

    def __init__(self, pack_hook, unpack_hook):
        if not (callable(pack_hook) and callable(unpack_hook)):
            raise TypeError("saved_tensors_hooks: pack_hook and unpack_hook must be callable")
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        msg = _fn._state.saved_hooks_off
        if msg is not None:
            raise RuntimeError(msg)
        self._prev = _fn._state.saved_hooks
        _fn._state.saved_hooks = self._prev + ((self.pack_hook, self.unpack_hook),)
        _fn._saved_hooks_entered += 1
        return self

    def __exit__(self, *exc):
        _fn._state.saved_hooks = self._prev
        _fn._saved_hooks_entered -= 1
        return False


class save_on_cpu(saved_tensors_hooks):  # noqa: N801
    """torch's save_on_cpu moves saved activations to host memory; ember's tensors already
    live there, so pack and unpack pass them through."""

    def __init__(self, pin_memory: bool = False, device_type: str = "cuda"):
        super().__init__(lambda t: t, lambda t: t)


class disable_saved_tensors_hooks:  # noqa: N801
    """Inside, entering saved_tensors_hooks raises RuntimeError(error_message)."""

    def __init__(self, error_message: str):
        self.error_message = error_message

    def __enter__(self):
        self._prev = _fn._state.saved_hooks_off
        _fn._state.saved_hooks_off = self.error_message
        return self

    def __exit__(self, *exc):
        _fn._state.saved_hooks_off = self._prev
        return False
