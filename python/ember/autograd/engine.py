"""The backward pass: topological order, one backward call per node, leaf accumulation."""

from __future__ import annotations

import heapq
import itertools
import warnings
import weakref
from collections.abc import Mapping

import numpy as np

from ember import _C
from ember._errors import BadShapeOrValue


def dim_run(a: np.ndarray, axes: tuple):
    """(lo, hi) when ``axes`` are the consecutive dims lo..hi-1, ascending, of a C-contiguous
    float32/float64 array: what _C's reductions (sum_dim, extreme_dim, var_dim) take, for
    x.sum(0), x.sum(-1), x.sum(), ...; else None."""
    if axes and a.dtype.char in "fd" and a.flags.c_contiguous:
        lo = axes[0]
        hi = lo + len(axes)
        if hi == lo + 1 or axes == tuple(range(lo, hi)):
            return lo, hi
    return None


def reduce_sum(a: np.ndarray, axes: tuple, keepdims: bool = False, square: bool = False):
    """``np.sum(a, axis=axes, keepdims=keepdims)`` (of ``np.square(a)`` when ``square``); when
    ``axes`` are consecutive dims of a C-contiguous float32/float64 array, by the C++ kernel
    (blocked pairwise over rows, vectorised across columns: several times NumPy's, whose
    pairwise sum does not vectorise and whose column sums add row after row). The rounding can
    differ from NumPy's in the last bits."""
    if keepdims and not a.flags.c_contiguous and a.ndim > 1:
        # the kept dims of a permuted input's sum would keep its strides (x.t().sum(0, True):
        # (1, 1) where torch's C-ordered result has (3, 1)): summed without, then reshaped
        shape = list(a.shape)
        for d in range(a.ndim) if axes is None else axes:
            shape[d] = 1
        return reduce_sum(a, axes, False, square).reshape(shape)
    # (below 1024 elements NumPy's order: small sums keep the bits torch-parity trajectories
    # such as L-BFGS on Rosenbrock were matched with)
    run = dim_run(a, axes) if a.size >= 1024 else None
    if run is not None:
        return _C.sum_dim(a, run[0], run[1], keepdims, square)
    if a.size >= 1024 and axes and not a.flags.c_contiguous and a.dtype.char in "fd":
        if a.ndim == 2 and a.flags.f_contiguous:  # x.t(): the general case's call, ~6 us sooner
            y = _C.sum_dim(a.T, 1 - max(axes), 2 - min(axes), keepdims, square)
            return np.ascontiguousarray(y.T) if keepdims else y
        # a permuted view (x.T, x.permute(...)): reduced as the C-contiguous array it views.
        # NumPy adds such a strided reduction row after row (x.T.sum(1) of a (1000, 10000)
        # float32 with a 1e4 offset: 2e-6 relative error, torch 2e-7, the kernel 1e-7)
        perm = sorted(range(a.ndim), key=lambda i: -a.strides[i])
        b = a.transpose(perm)
        run = dim_run(b, tuple(sorted(perm.index(i) for i in axes)))
        if run is not None:
            y = _C.sum_dim(b, run[0], run[1], True, square).transpose(np.argsort(perm))
            y = y if keepdims else np.squeeze(y, axis=axes)
            return y if y.flags.c_contiguous else y.copy()
    # np.sum's own ufunc, without its Python dispatch layer (~1 us of a small sum)
    return np.add.reduce(np.square(a) if square else a, axis=axes, keepdims=keepdims)


def unbroadcast(grad: np.ndarray, shape: tuple) -> np.ndarray:
    """Sum ``grad`` down to ``shape``: the gradient rule of every broadcasting op."""
    if grad.shape == shape:
        return grad
    if grad.dtype.char in "eE":  # float16 / bfloat16: summed in float32 and rounded, as torch's
        return unbroadcast(grad.astype(np.float32), shape).astype(grad.dtype)
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, s in enumerate(shape) if s == 1 and grad.shape[i] != 1)
    if axes:
        grad = reduce_sum(grad, axes, keepdims=True)
    return grad.reshape(shape)


def _owner(a: np.ndarray):
    return a if a.base is None else a.base


class _Shared(dict):
    """The arrays (by the id of their owner) a backward pass must not write into or hand to a
    second leaf. It holds them, so a freed array's id cannot come back as a new array's and
    make it look shared (a needless copy of every such gradient)."""

    def add(self, a: np.ndarray) -> None:
        o = _owner(a)
        self[id(o)] = o


# ---- hooks ------------------------------------------------------------------------------------
# A tensor's hooks live in a _Hooks object in its `_hooks` slot (set only when a hook is added);
# a non-leaf tensor's are also listed on its grad_fn node (`_tensor_hooks`, None by default),
# because backward walks nodes, not tensors. Without hooks the engine's only extra work is one
# attribute test per node and per leaf.


class RemovableHandle:
    """What register_hook returns: ``remove()`` unregisters the hook."""

    def __init__(self, table: dict, key: int):
        self._table, self._key = table, key

    @property
    def id(self) -> int:
        """The hook's key, unique among this process's tensor hooks (torch's handle.id)."""
        return self._key

    def remove(self) -> None:
        self._table.pop(self._key, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
        return False


class _Hooks:
    __slots__ = ("pre", "post", "retain")
    _keys = itertools.count()

    def __init__(self):
        self.pre, self.post, self.retain = {}, {}, False

    def add(self, kind: str, fn) -> RemovableHandle:
        if not callable(fn):
            raise TypeError(f"hook must be callable, got {type(fn).__name__}")
        table = getattr(self, kind)
        key = next(self._keys)
        table[key] = fn
        return RemovableHandle(table, key)


def hooks_of(tensor) -> _Hooks:
    """The tensor's _Hooks, created (and listed on its grad_fn) on first use."""
    hooks = getattr(tensor, "_hooks", None)
    if hooks is None:
        hooks = tensor._hooks = _Hooks()
        ctx = tensor._ctx
        if ctx is not None:
            if ctx._tensor_hooks is None:
                ctx._tensor_hooks = {}
            ctx._tensor_hooks[tensor._idx] = (weakref.ref(tensor), hooks)
    return hooks


def hooks_moved(t) -> None:
    """t just took a new node (an in-place write): as torch's, the hooks registered before
    stay with the old node, those registered from now on go to the new one, and retain_grad
    moves to it (y.retain_grad(); y.mul_(3): y.grad is the gradient of the new y)."""
    old = getattr(t, "_hooks", None)
    if old is None:
        return
    t._hooks = None
    if old.retain:
        old.retain = False
        if t._ctx is not None:
            hooks_of(t).retain = True


def _run_pre_hooks(hooks: _Hooks, g):
    if isinstance(g, Tensor):  # the recording pass: hooks see and return graph Tensors
        return _run_graph_pre_hooks(hooks, g)
    for fn in list(hooks.pre.values()):
        out = fn(Tensor._make(g, False, None, 0))
        if out is not None:
            _check_hook_dtype(fn, out, g.dtype)
            out = np.asarray(out.data if isinstance(out, Tensor) else out, dtype=g.dtype)
            if out.shape != g.shape:
                raise RuntimeError(
                    f"hook returned a gradient of shape {out.shape}; expected {g.shape}"
                )
            g = out
    return g


def _check_hook_dtype(fn, out, dtype) -> None:
    """A tensor hook may not change the gradient's dtype (torch raises; a silent cast would
    drop precision)."""
    if isinstance(out, Tensor) and out.data.dtype != dtype:
        raise RuntimeError(
            f"hook {getattr(fn, '__name__', fn)!r} has changed the type of value (was "
            f"{np.dtype(dtype).name} got {out.data.dtype.name})"
        )


def _run_graph_pre_hooks(hooks: _Hooks, g):
    for fn in list(hooks.pre.values()):
        out = fn(g)
        if out is not None:
            _check_hook_dtype(fn, out, g.data.dtype)
            if not isinstance(out, Tensor):
                out = Tensor(np.asarray(out, dtype=g.dtype))
            if out.shape != g.shape:
                raise RuntimeError(
                    f"hook returned a gradient of shape {out.shape}; expected {g.shape}"
                )
            g = out
    return g


# ---- the backward pass -------------------------------------------------------------------------


def _as_grad(tensor, grad, op: str, i: int = 0) -> np.ndarray:
    if not tensor.requires_grad:
        raise RuntimeError(
            f"{op}: element {i} of tensors does not require grad and does not have a grad_fn "
            "(was it made under no_grad, from inputs without requires_grad=True, or is it a "
            "gradient that is constant in the inputs?)"
        )
    if grad is None:
        if tensor.data.size != 1:
            raise RuntimeError(
                f"{op}: grad can be implicitly created only for scalar outputs; "
                f"this tensor has shape {tensor.shape}: pass grad= of that shape"
            )
        if tensor.data.dtype.kind == "c":
            raise RuntimeError(
                f"{op}: grad can be implicitly created only for real scalar outputs but got "
                f"{tensor.dtype}"
            )
        d = tensor.data
        if type(d) is np.ndarray and d.ndim == 0:  # a loss: np.array ~0.8 us before ones_like
            return np.array(1, d.dtype)
        return np.ones_like(d)
    grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=tensor.dtype)
    if grad.shape != tensor.shape:
        raise BadShapeOrValue(
            f"{op}: grad has shape {grad.shape} but the tensor has shape {tensor.shape}"
        )
    return grad


def _sum_to_input(node, g, shape: tuple, graph: bool):
    """A backward's gradient of another shape than its input: summed down to it when the
    input's shape expands to it (a custom Function returning a broadcast gradient), as
    torch's engine does; refused otherwise."""
    try:
        ok = np.broadcast_shapes(shape, g.shape) == tuple(g.shape)
    except ValueError:
        ok = False
    if not ok:
        raise BadShapeOrValue(
            f"Function {node.name} returned an invalid gradient - got {tuple(g.shape)} but "
            f"expected shape compatible with {shape}"
        )
    if graph:
        from ember.autograd.graph import sum_to

        return sum_to(g, shape)
    return unbroadcast(g, shape)


def _key(t):
    return id(t) if t._ctx is None else (id(t._ctx), t._idx)


def backward(
    tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False, inputs=None
):
    """Accumulate d(tensors)/d(leaf) * grad_tensors into every leaf's ``.grad`` (only into
    ``inputs``' when given), as torch.autograd.backward; ``tensors`` may be one tensor or a
    sequence, with ``grad_tensors`` then a sequence of the same length. ``create_graph``
    records the gradients' own graph (leaves' ``.grad`` then require grad), and implies
    ``retain_graph`` unless that is given."""
    if isinstance(tensors, list | tuple):
        tensors = list(tensors)
        grads = [None] * len(tensors) if grad_tensors is None else list(grad_tensors)
        if len(grads) != len(tensors):
            raise BadShapeOrValue(f"backward: {len(tensors)} tensors but {len(grads)} gradients")
    else:
        tensors, grads = [tensors], [grad_tensors]
    retain = create_graph if retain_graph is None else bool(retain_graph)
    if inputs is None:
        _run(tensors, grads, retain, None, create_graph)
        return
    one = isinstance(inputs, Tensor) or _is_edge(inputs)  # (an edge is a tuple too)
    inputs = _targets([inputs] if one or not isinstance(inputs, list | tuple) else inputs)
    if not inputs:
        raise RuntimeError("backward: inputs= was given but is empty")
    captured = _run(tensors, grads, retain, inputs, create_graph)
    shared = _Shared()
    for t, g in zip(inputs, captured):
        if type(t) is _EdgeTarget:  # (a node's output: no tensor to accumulate into, as torch)
            continue
        if g is not None:
            if not create_graph:
                shared.add(g)  # captured arrays may be read by other nodes: copy
            _accumulate(t, g, shared)
            hooks = getattr(t, "_hooks", None)
            if hooks is not None and t._ctx is None:
                for fn in list(hooks.post.values()):
                    fn(t)
        if t._ctx is not None:  # a non-leaf input retains its grad from now on, as torch's
            t.retain_grad()


def grad(
    outputs,
    inputs,
    grad_outputs=None,
    retain_graph=None,
    create_graph: bool = False,
    only_inputs: bool = True,
    allow_unused=None,
    is_grads_batched: bool = False,
    materialize_grads: bool = False,
):
    """The gradients of ``outputs`` with respect to ``inputs`` (a tensor, a sequence of them, or
    a dict of them, which gives a dict back), without touching any ``.grad``; as
    torch.autograd.grad. With ``create_graph`` the gradients carry their own graph (they can be
    differentiated again); it implies ``retain_graph``. ``is_grads_batched``: each grad output
    has a leading batch dimension and the result is the stack of one backward pass per entry
    (torch vmaps; here it is a loop). ``only_inputs`` is deprecated and ignored, as in torch."""
    if materialize_grads and allow_unused is False:
        raise ValueError(
            "Expected allow_unused to be True or not passed when materialize_grads=True, "
            "but got: allow_unused=False."
        )
    if not only_inputs:
        warnings.warn(
            "only_inputs argument is deprecated and is ignored now (defaults to True). To "
            "accumulate gradient for other parts of the graph, please use "
            "torch.autograd.backward.",
            FutureWarning,
            stacklevel=2,
        )
    if type(inputs) is dict:
        names = list(inputs)
        got = grad(
            outputs,
            list(inputs.values()),
            grad_outputs,
            retain_graph,
            create_graph,
            True,
            allow_unused,
            is_grads_batched,
            materialize_grads,
        )
        return dict(zip(names, got, strict=True))
    if isinstance(inputs, Mapping):
        raise TypeError(
            f"`inputs` argument to `grad()` must be a dict, not {type(inputs).__name__}. "
            "Other Mapping types are not supported."
        )
    # as torch: one tensor, or any iterable of them (a list, a tuple, dict.values(), ...);
    # an input may also be a GradientEdge (graph.get_gradient_edge)
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    inputs = _targets([inputs] if isinstance(inputs, Tensor) or _is_edge(inputs) else inputs)
    if not inputs:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif not isinstance(grad_outputs, list | tuple):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise BadShapeOrValue(f"grad: {len(outputs)} outputs but {len(grad_outputs)} grad_outputs")
    if is_grads_batched:
        return _batched_grad(
            outputs,
            inputs,
            grad_outputs,
            retain_graph,
            create_graph,
            allow_unused,
            materialize_grads,
        )
    for t in inputs:
        if type(t) is _EdgeTarget:
            if materialize_grads:  # (torch's refusal: no tensor to take zeros like)
                raise RuntimeError(
                    "materialize_grads cannot be used when the given input is a GradientEdge"
                )
            continue
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs must be tensors, got {type(t).__name__}")
        if not t.requires_grad:
            raise RuntimeError("grad: one of the differentiated Tensors does not require grad")
    retain = create_graph if retain_graph is None else bool(retain_graph)
    captured = _run(outputs, grad_outputs, retain, inputs, create_graph)
    out = []
    for t, g in zip(inputs, captured):
        if g is None:
            if materialize_grads:
                g = np.zeros_like(t.data)
            elif not allow_unused:
                raise RuntimeError(
                    "grad: one of the differentiated Tensors appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
        if isinstance(g, Tensor):  # create_graph: the recorded gradient itself, as torch
            out.append(g)
            continue
        if g is None:
            out.append(None)
            continue
        dtype = g.dtype if type(t) is _EdgeTarget else t.dtype
        out.append(Tensor._make(np.array(g, dtype), False, None, 0))
    return tuple(out)


class _EdgeTarget:
    """A GradientEdge to a node's output as a grad()/backward(inputs=) target: the pass keys a
    non-leaf tensor by its node and output index (_key), which is all it needs here."""

    __slots__ = ("_ctx", "_idx", "data")
    _no_grad_view = None
    requires_grad = True

    def __init__(self, node, i: int):
        self._ctx, self._idx = node, i
        meta = node.__dict__.get("_out_meta")  # (shape, dtype) of each output of a tuple
        self.data = np.zeros(*meta[i]) if meta else np.zeros(0)  # (for materialize_grads)


def _is_edge(t) -> bool:
    return isinstance(t, tuple) and hasattr(t, "output_nr")  # graph.GradientEdge (a NamedTuple)


def _targets(inputs) -> list:
    """grad()'s / backward()'s inputs with each GradientEdge made a target: a leaf's edge (its
    AccumulateGrad) is the leaf, a node's edge an _EdgeTarget, as torch's engine reads them."""
    out = []
    for t in inputs:
        if _is_edge(t):
            node, i = t
            leaf = getattr(node, "variable", None)  # (an AccumulateGrad)
            t = leaf if leaf is not None else _EdgeTarget(node, int(i))
        out.append(t)
    return out


def _batched_grad(
    outputs, inputs, grad_outputs, retain_graph, create_graph, allow_unused, materialize_grads
):
    """grad(is_grads_batched=True): one pass per slice of the grad outputs' leading dimension,
    the graph kept for all but the last, the results stacked (None where an input is unused)."""
    sizes = {len(g) for g in grad_outputs if g is not None}
    if None in grad_outputs or len(sizes) != 1:
        raise BadShapeOrValue(
            "grad: is_grads_batched needs every grad_output to be a tensor with the same "
            f"leading (batch) dimension, got sizes {sorted(sizes)}"
        )
    (batch,) = sizes
    if batch == 0:
        return tuple(Tensor._make(np.zeros((0, *t.shape), t.dtype), False, None, 0) for t in inputs)
    retain = create_graph if retain_graph is None else bool(retain_graph)
    per = [
        grad(
            outputs,
            inputs,
            [g[b] for g in grad_outputs],
            retain or b < batch - 1,
            create_graph,
            True,
            allow_unused,
            False,
            materialize_grads,
        )
        for b in range(batch)
    ]
    from .. import stack  # the package imports this module first

    return tuple(None if p[0] is None else stack(list(p)) for p in zip(*per, strict=True))


def _run(tensors, grads, retain_graph: bool, targets, create_graph: bool = False, stop=False):
    """One backward pass from ``tensors``. Without targets, gradients accumulate into leaves;
    with targets, their gradients are returned (a list aligned with targets) and no ``.grad``
    changes (except retain_grad's). ``create_graph`` makes it the recording pass: gradients
    are Tensors and each node's ``backward_graph`` computes its input gradients with Tensor
    ops, under grad mode, so they record their own graph. ``stop``: the targets are taken as
    independent variables: the pass does not run the nodes that made them."""
    # An infinite local derivative met by a zero (a power's root at 0 under a relu mask) makes
    # an intermediate NaN that the next node discards; PyTorch computes the same silently, so
    # NumPy's floating-point warnings stay off for the pass: one switch here, which every node's
    # backward relies on (x / 0, log 0, ...) instead of setting its own.
    depth = len(_pass_wants)
    try:
        with np.errstate(all="ignore"):
            if not create_graph:
                out = _run_pass(tensors, grads, retain_graph, targets, False, stop)
            else:
                with _function.enable_grad():
                    out = _run_pass(tensors, grads, retain_graph, targets, True, stop)
        while _pass_end:  # (register_multi_grad_hook's, queued by hooks during the pass)
            _pass_end.pop(0)()
        return out
    except Exception:
        _pass_end.clear()
        if _function._anomaly.enabled and _function._anomaly.node is not None:
            _warn_forward_stack(_function._anomaly.node)
        raise
    finally:
        _function._anomaly.node = None
        del _pass_wants[depth:]


# Callbacks to run once the current backward pass has finished (torch's queue_callback)
_pass_end: list = []

# (capture, idle) of the passes running, innermost last: see input_wanted
_pass_wants: list = []


def input_wanted(ctx, i: int) -> bool:
    """Whether the running pass wants the gradient of ``ctx``'s input i, as torch's
    should_compute_output: ``autograd.grad(zeta(x, q), q)`` does not want x's, so a node that
    has no derivative for x raises only when x's is asked for. (needs_input_grad says only
    whether the input required grad when the node was made.) Conservative: True if unsure."""
    if not ctx.needs_input_grad[i]:
        return False
    if not _pass_wants or _pass_wants[-1][0] is None:  # (backward(): every leaf's is wanted)
        return True
    capture, idle = _pass_wants[-1]
    p = ctx.parents[i]
    if p is None:
        return False
    if _key(p) in capture:
        return True
    return p._ctx is not None and (not idle or id(p._ctx) not in idle)


def _check_nan(node, in_grads) -> None:
    """detect_anomaly(check_nan=True): a NaN in a node's input gradients is an error."""
    for i, g in enumerate(in_grads):
        a = g.data if isinstance(g, Tensor) else g
        if isinstance(a, np.ndarray) and a.dtype.kind == "f" and np.isnan(a).any():
            raise RuntimeError(f"Function '{node.name}' returned nan values in its {i}th output.")


def _warn_forward_stack(node) -> None:
    import warnings

    stack = "".join(getattr(node, "_fw_stack", ["(made before anomaly detection was on)\n"]))
    warnings.warn(
        f"Error detected in {node.name}. Traceback of forward call that caused the error:\n"
        + stack,
        UserWarning,
        stacklevel=3,
    )


def _graph_grad(tensor, grad, i: int):
    """The recording pass's seed gradient: a Tensor (the caller's own, graph and all)."""
    if not isinstance(grad, Tensor) or grad.dtype != tensor.dtype:
        return Tensor._make(_as_grad(tensor, grad, "backward", i), False, None, 0)
    _as_grad(tensor, grad.data, "backward", i)  # the checks
    return grad


def _run_pass(tensors, grads, retain_graph: bool, targets, graph: bool, stop: bool):
    capture = None if targets is None else {_key(t): None for t in targets}
    # The caller's gradients are read, never written: they count as already shared, so a
    # leaf that receives one gets a copy.
    shared = _Shared()
    pending = {}
    # Each leaf's gradient is summed here as it arrives and delivered once, at the end, as
    # PyTorch's AccumulateGrad: hooks see the complete gradient, and a leaf read by many nodes
    # (a weight shared across time steps) costs one addition each, not one accumulation each.
    leaves = {}
    for n, (t, g) in enumerate(zip(tensors, grads)):
        if graph:
            g = _graph_grad(t, g, n)
        else:
            g = _as_grad(t, g, "backward", n)
            shared.add(g)
        ctx = t._ctx
        if ctx is None:  # a leaf: its gradient is grad itself
            if getattr(t, "_no_grad_view", None) is not None:
                raise RuntimeError(
                    f"element {n} of tensors does not require grad and does not have a grad_fn "
                    "(a view made under no_grad takes no gradient, as torch's)"
                )
            _gather(leaves, t, g, capture)
            continue
        if ctx._freed and _refuses(ctx):
            raise _freed_error(ctx)
        slots = pending.get(ctx)
        if slots is None:
            slots = pending[ctx] = [None] * ctx._n_out
        i = t._idx
        slots[i] = g if slots[i] is None else slots[i] + g

    # Nodes run newest first: a node is made after every node whose output it reads, so its
    # creation order (Function._order, negated) is a topological order, as PyTorch's sequence
    # numbers are. A node enters the heap when it first receives a gradient: no separate walk
    # of the graph, and nodes no gradient reaches are never visited.
    heap = [(node._order, node) for node in pending]
    # autograd.grad (or backward(inputs=)) runs only the nodes a target is reached through,
    # as torch: the others would compute gradients nobody reads, and free what they saved
    # (a generator's graph that a later backward still needs, the node that made an input).
    idle = _idle_nodes(pending, targets) if capture is not None and not stop else ()
    _pass_wants.append((capture, idle))  # (see input_wanted; _run drops it)
    heapq.heapify(heap)
    heappop, heappush = heapq.heappop, heapq.heappush
    # The one node waiting while the heap is empty (a chain's next node) is kept here instead:
    # no heap entry to make, push and pop for it (~0.15 us a node). Never both at once.
    lone = None
    moves = _function._graph_moves  # whether tensors of the graph were ever written in place
    anomaly = _function._anomaly.enabled
    ndarray = np.ndarray
    while heap or lone is not None:
        if lone is not None:
            node, lone = lone, None
        else:
            node = heappop(heap)[1]
        if anomaly:
            _function._anomaly.node = node
        grads = pending.pop(node)
        if node._tensor_hooks is not None:  # (also set by the node's own pre-hooks)
            _node_hooks(node, grads, shared, graph)
        if capture is not None:
            hit = False
            for i, g in enumerate(grads):
                k = (id(node), i)
                if g is not None and k in capture:
                    capture[k] = g
                    hit = True
            if (hit and stop) or (idle and id(node) in idle):
                continue  # (a freed node is fine here: it does not run)
        if node._freed and _refuses(node):
            raise _freed_error(node)
        if node._epoch < _function._graph_writes:  # anything written in place since?
            _check_not_overwritten(node)
        if graph:
            in_grads = _graph_backward(node, grads)
        elif node._n_out == 1:
            in_grads = node.backward(node, grads[0])
        else:
            for i, g in enumerate(grads):
                if g is None and node._materialize:
                    shape, dtype = node._out_meta[i]
                    grads[i] = np.zeros(shape, dtype)
            in_grads = node.backward(node, *grads)
        if not isinstance(in_grads, tuple):
            in_grads = (in_grads,)
        if anomaly and _function._anomaly.check_nan:
            _check_nan(node, in_grads)
        parents = node.parents
        if len(in_grads) < len(parents):
            raise RuntimeError(
                f"{node.name}.backward returned {len(in_grads)} gradients for {len(parents)} inputs"
            )
        # free what backward needed; a node that saved no values (add, sum, the views) is
        # left whole, as torch's: a second backward may run through it
        if not retain_graph and not node._reusable:
            d = node.__dict__
            saved = d.get("saved_tensors")
            if "_reusable" in d or (saved is not None and _saved_values(saved)):
                if node._tensor_api:  # a custom Function: refused only if backward reads them
                    node.saved_tensors = _FreedSaved(node)
                else:
                    node.saved_tensors = None
                    node._freed = True
            elif not node._tensor_api:  # (a custom Function saves through saved_tensors alone)
                # whether its other attributes hold values is decided if a pass meets it
                # again (_refuses): the scan of every node's attributes here was ~15% of a
                # small graph's backward
                node._freed = _PASSED
            node.parents = _light(parents)  # (its edges kept, as torch's, not their memory)
        for parent, g in zip(parents, in_grads):
            if parent is None or g is None:
                continue
            if type(g) is not ndarray and not graph and not isinstance(g, ndarray):
                g = np.asarray(g)  # (a row-sparse gradient, an ndarray subclass, passes)
            if moves:  # the parent as this node saw it (moved in the graph since?)
                ctx, i, shape = _function.version_seen(parent, node._epoch)
                base = _stale_base(parent, ctx, node._epoch) if ctx is not None else None
                if base is not None:  # a view read after its base was written: to the base
                    if graph:
                        raise RuntimeError(
                            "create_graph through a view used after its base was written in "
                            "place is not supported: take the view again after the write"
                        )
                    g = _to_base(g, parent, base)
                    parent = base
                    ctx, i, shape = _function.version_seen(base, node._epoch)
            else:
                ctx, i, shape = parent._ctx, parent._idx, parent.data.shape
            if g.shape != shape:
                g = _sum_to_input(node, g, shape, graph)
            if ctx is None:
                _gather(leaves, parent, g, capture)
                continue
            dt = parent.data.dtype
            if g.dtype is not dt and g.dtype != dt:  # a promoting op (bfloat16 + float32):
                g = g.astype(dt) if not graph else g.to(dt)  # torch's engine casts it back too
            slots = pending.get(ctx)
            if slots is None:
                slots = pending[ctx] = [None] * ctx._n_out
                if lone is None and not heap:
                    lone = ctx
                else:
                    if lone is not None:
                        heappush(heap, (lone._order, lone))
                        lone = None
                    heappush(heap, (ctx._order, ctx))
            if slots[i] is None:
                slots[i] = g
            else:  # (0-d arrays add to a NumPy scalar, which the _C kernels refuse)
                s = slots[i] + g
                slots[i] = s if graph or type(s) is ndarray else np.asarray(s)
    for leaf, g in leaves.values():
        hooks = getattr(leaf, "_hooks", None)
        if hooks is not None and hooks.pre:
            new = _run_pre_hooks(hooks, g)
            if new is not g and not graph:
                shared.add(new)  # a hook's result may be the caller's array: copy it
            g = new
        if capture is None and not leaf._requires_grad:
            continue  # (detach_()ed or requires_grad_(False) since: torch's AccumulateGrad skips)
        _deliver(leaf, g, shared, capture)
        if hooks is not None and capture is None:
            for fn in list(hooks.post.values()):
                fn(leaf)
    return None if capture is None else [capture[_key(t)] for t in targets]


def _idle_nodes(roots, targets) -> set:
    """The ids of the nodes reachable from ``roots`` through which no gradient reaches a
    target. A node that made a target but leads to no other stays idle: the target's
    gradient is taken as it arrives there. One walk collects the nodes and the node each
    parent came from; creation order (parents first) then settles them in one pass."""
    target_nodes = {id(t._ctx) for t in targets if t._ctx is not None}
    # (a view made under no_grad is no target: it takes no gradient, so nothing runs for it)
    target_leaves = {
        id(t) for t in targets if t._ctx is None and getattr(t, "_no_grad_view", None) is None
    }
    moves = _function._graph_moves
    nodes = list(roots)
    edges = dict.fromkeys(map(id, nodes))  # node id -> [(parent, the node it came from)]
    todo = list(nodes)
    while todo:
        node = todo.pop()
        pairs = []
        for p in node.parents:
            if p is None:
                continue
            c = _function.version_seen(p, node._epoch)[0] if moves else p._ctx
            pairs.append((p, c))
            if c is not None and id(c) not in edges:
                edges[id(c)] = None  # (claimed: walked once)
                nodes.append(c)
                todo.append(c)
        edges[id(node)] = pairs
    nodes.sort(key=_creation_order)
    reaches = {}
    for node in nodes:
        reaches[id(node)] = any(
            id(p) in target_leaves if c is None else reaches[id(c)] or id(c) in target_nodes
            for p, c in edges[id(node)]
        )
    return {k for k, r in reaches.items() if not r}


def _creation_order(node) -> int:
    return -node._order  # (_order is negated creation order: newest first on the heap)


def _graph_backward(node, grads: list) -> tuple:
    """One node of the recording pass: its ``backward_graph`` on Tensor gradients (zeros for
    outputs that received none)."""
    for p in node.parents:  # backward_graph computes with the parents' current values
        if p is not None and getattr(p, "_written", 0) > node._epoch:
            raise RuntimeError(
                f"create_graph: {node.name} used a tensor of shape {p.shape} that was then "
                "written in place; differentiating it again is not supported. Write into a "
                "clone() instead"
            )
    for i, g in enumerate(grads):
        if g is None and node._materialize:
            shape, dtype = node._out_meta[i]
            grads[i] = Tensor._make(np.zeros(shape, dtype), False, None, 0)
        elif g is not None and not isinstance(g, Tensor):
            grads[i] = Tensor._make(np.asarray(g), False, None, 0)
    out = node.backward_graph(node, *grads)
    if not isinstance(out, tuple | list):
        return (_graph_tensor(out),)
    return tuple(_graph_tensor(g) for g in out)


def _graph_tensor(g):
    """A user backward may return an array or a number: a constant of the recording pass."""
    if g is None or isinstance(g, Tensor):
        return g
    return Tensor._make(np.asarray(g), False, None, 0)


def _node_hooks(node, grads: list, shared: _Shared, graph: bool) -> None:
    """A non-leaf tensor's hooks, once its gradient is complete: they may replace it, and
    retain_grad keeps it in the tensor's ``.grad``. Then the node's own pre-hooks (as torch:
    tensor hooks first), which see and may replace all its output gradients."""
    for i, (ref, hooks) in list(node._tensor_hooks.items()):
        g = grads[i]
        if g is None:
            continue
        if hooks.pre:
            g = grads[i] = _run_pre_hooks(hooks, g)
        t = ref()
        if hooks.retain and t is not None:
            _accumulate(t, g, shared)
    own = node._node_hooks
    if own is not None:
        for fn in list(own.pre.values()):
            out = fn(tuple(_hook_tensor(g) for g in grads))
            if out is not None:
                grads[:] = _hook_result(node, "pre-hook", out, grads, graph)


def _node_post_hooks(node, in_grads, grads: tuple, graph: bool) -> tuple:
    """The node's register_hook hooks, run by its backward (see Function._add_hook):
    ``fn(grad_inputs, grad_outputs)``, one grad_input per next_functions entry (None where the
    input needs no gradient); a result replaces them."""
    if not isinstance(in_grads, tuple | list):
        in_grads = (in_grads,)
    if not node._node_hooks.post:
        return tuple(in_grads)
    n = len(node.next_functions)
    parents = node.parents
    mine = [None if parents[i] is None or i >= len(in_grads) else in_grads[i] for i in range(n)]
    outs = tuple(_hook_tensor(g) for g in grads)
    for fn in list(node._node_hooks.post.values()):
        new = fn(tuple(_hook_tensor(g) for g in mine), outs)
        if new is not None:
            mine = _hook_result(node, "hook", new, mine, graph)
    return tuple(mine) + tuple(in_grads[n:])


def _hook_tensor(g):
    return g if g is None or isinstance(g, Tensor) else Tensor._make(np.asarray(g), False, None, 0)


def _hook_result(node, kind: str, new, old: list, graph: bool) -> list:
    """A node hook's replacement gradients, checked against the ones it replaces."""
    if not isinstance(new, tuple | list) or len(new) != len(old):
        raise RuntimeError(
            f"{node.name} {kind} returned {type(new).__name__} {new!r:.60}; expected a tuple "
            f"of {len(old)} gradients (or None)"
        )
    out = []
    for g, prev in zip(new, old):
        if g is not None and not graph:
            g = np.asarray(g.data if isinstance(g, Tensor) else g)
        elif g is not None:
            g = _graph_tensor(g)
        if g is not None and prev is not None and g.shape != prev.shape:
            raise RuntimeError(
                f"{node.name} {kind} returned a gradient of shape {tuple(g.shape)}; expected "
                f"{tuple(prev.shape)}"
            )
        out.append(g)
    return out


def _gather(leaves: dict, leaf, g, capture) -> None:
    """Add one of this pass's gradients of ``leaf`` into ``leaves``."""
    k = id(leaf)
    if capture is not None and k not in capture and getattr(leaf, "_hooks", None) is None:
        return  # autograd.grad was not asked for this leaf, and no hook wants its gradient
    if getattr(leaf, "_no_grad_view", None) is not None:
        # a view made under no_grad, as torch's, requires grad but takes none (no hooks). A
        # write into its memory since is fine: the ops that read it were recorded before it
        # (one recorded after is refused as it is made, as torch's)
        return
    prev = leaves.get(k)
    leaves[k] = (leaf, g if prev is None else prev[1] + g)


def _deliver(leaf, g, shared: _Shared, capture) -> None:
    """A leaf's gradient of the pass: accumulated, or captured for autograd.grad."""
    if capture is not None:
        k = id(leaf)
        if k in capture:
            capture[k] = g if capture[k] is None else capture[k] + g
        return
    _accumulate(leaf, g, shared)


def _accumulate(leaf, g, shared: _Shared) -> None:
    """Add ``g`` into ``leaf.grad``.

    A gradient array is handed to a leaf without a copy when it can be; ``shared`` holds the
    arrays handed that way in this pass, which other nodes may still read: those are never
    added into in place, and never handed to a second leaf.
    """
    if isinstance(g, Tensor):  # the recording pass: out of place, recorded, as torch
        if g.dtype != leaf.data.dtype:
            g = g.to(leaf.data.dtype)
        leaf.grad = g.clone() if leaf._grad is None else leaf._grad + g
        return
    dtype = leaf.data.dtype
    if leaf._grad is None:  # (the slot: .grad warns for a non-leaf inputs= target)
        if (
            g.dtype != dtype
            or id(_owner(g)) in shared
            or not g.flags.writeable
            or not g.flags.c_contiguous
        ):
            # a private, writeable, contiguous copy (subok: a row-sparse mark survives a cast),
            # in a C-contiguous leaf's order, as torch's layout contract for .grad (a transposed
            # gradient, w.t() * x's, is copied anyway; x @ w.t()'s comes in C order)
            order = "C" if leaf.data.flags.c_contiguous else "K"
            if order == "C" and type(g) is np.ndarray and g.dtype == dtype:
                from ember.ops import _copy  # (a transposed matrix by the tiled kernel, ~2x)

                g = _copy(g)
            else:
                g = np.array(g, dtype=dtype, subok=True, order=order)
        else:
            shared.add(g)
        leaf.grad = Tensor._make(g, False, None, 0)
        return
    acc = leaf._grad.data
    if acc.shape == g.shape and acc.flags.writeable and id(_owner(acc)) not in shared:
        np.add(acc, g, out=acc, casting="unsafe")
    else:
        leaf.grad = Tensor._make(np.add(acc, g, dtype=dtype, casting="unsafe"), False, None, 0)


def _check_not_overwritten(node) -> None:
    """Refuse a node that holds an array written in place after it was made: it may have
    saved the old values (torch's version-counter check). Nodes keep arrays in attributes,
    in saved_tensors and in tuples or lists of them (a flat scan: it runs on every node made
    before the last write, so the common values, numbers and shapes, are passed over first)."""
    epoch = node._epoch
    held = _HELD
    written = _function._written_owners.get
    owner = _function.array_owner
    for k, v in vars(node).items():
        if k in _NOT_SAVED:
            continue
        if isinstance(v, held):
            v = (v,)
        elif type(v) is not tuple and type(v) is not list:
            continue
        for a in v:
            if type(a) is not np.ndarray:
                if not isinstance(a, held):
                    continue
                if not isinstance(a, np.ndarray):
                    a = a.data
            # (an entry is always its live owner's: see function.note_write)
            hit = written(id(a if a.base is None else owner(a)))
            if hit is not None and hit[1] > epoch:
                raise _overwritten(node, a)
    # (values saved through saved_tensors_hooks are the hooks' business, as in torch)


_HELD = ()  # (np.ndarray, Tensor), set at the end of this module (Tensor imports it)
# every node's attributes that hold no saved values (parents: the inputs as they are now)
# (a custom Function's mark_dirty / mark_non_differentiable tensors are outputs, not saved)
_NOT_SAVED = frozenset(
    ("parents", "needs_input_grad", "_epoch", "_order", "_out_meta", "_dirty", "_non_diff")
)
# (and for _refuses: saved_tensors, read first; a custom Function's forward record)
_NOT_KEPT = _NOT_SAVED | {"saved_tensors", "_made"}


def _overwritten(node, a: np.ndarray) -> RuntimeError:
    kind = _TYPE_NAMES.get(a.dtype.name, a.dtype.name)
    return RuntimeError(
        "one of the variables needed for gradient computation has been modified by an "
        f"inplace operation: [ember.{kind} {list(a.shape)}], saved by {node.name}, was "
        "written in place after the forward pass saved it (an in-place op, an optimizer "
        "step, an init function, out=). Call backward() before the write, or write into "
        "a clone() instead"
    )


# torch's legacy type names, for the error message torch users know
_TYPE_NAMES = {
    "float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
    "bfloat16": "BFloat16Tensor", "int64": "LongTensor", "int32": "IntTensor",
    "int16": "ShortTensor", "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor",
    "complex64": "ComplexFloatTensor", "complex128": "ComplexDoubleTensor",
}  # fmt: skip


def _stale_base(view, view_node, epoch: int):
    """The tensor ``view`` views (through a chain of views), if that tensor's values were
    written in place after the view was taken and before the node made at ``epoch`` read the
    view: the view read the new values, so its gradient belongs to that tensor as it was then
    (torch regenerates the view's grad_fn the same way). None otherwise."""
    since, node = view_node._epoch, view_node
    while node is not None and since < _function._graph_writes:
        p = next(
            (p for p in node.parents if p is not None and np.may_share_memory(p.data, view.data)),
            None,
        )
        if p is None:
            return None
        if getattr(p, "_written", 0) > since and any(
            since < v[0] <= epoch and v[4] for v in p._versions
        ):
            return p
        node = _function.version_seen(p, node._epoch)[0]
    return None


def _to_base(g: np.ndarray, view, base) -> np.ndarray:
    """A view's gradient as its base's: zeros but at the view's elements."""
    from ember import _inplace

    out = np.zeros(base.data.size, g.dtype)
    np.add.at(out, _inplace.positions(view.data, base.data), g)
    return out.reshape(base.data.shape)


def _light(parents) -> tuple:
    """A node's inputs once a pass is through it: each large non-leaf as its grad_fn, output
    index, shape, dtype and in-place history alone (a zero-stride stand-in of its array), as
    torch's edges, which hold no tensor: a chain of adds kept whole would otherwise keep every
    activation it read alive as long as the loss is. Leaves that take a gradient stay (torch's
    AccumulateGrad holds them too), constants go; small inputs stay as they are (a stand-in
    costs ~1 us, their memory little)."""
    for p in parents:
        if p is not None and (p._ctx is not None or not p._requires_grad) and p.data.nbytes >= 4096:
            break
    else:
        return parents
    out = []
    for p in parents:
        if p is not None and p._ctx is None and not p._requires_grad:
            p = None  # (a constant input: no edge, as torch's)
        elif p is not None and p._ctx is not None and p.data.base is not _NOTHING:
            d = p.data
            key = (d.shape, d.dtype)
            z = _stand_ins.get(key)
            if z is None:
                if len(_stand_ins) > 512:  # (bounded: a few shapes recur in a model)
                    _stand_ins.clear()
                z = _stand_ins[key] = np.ndarray(d.shape, d.dtype, _NOTHING, 0, (0,) * d.ndim)
            e = Tensor._make(z, True, p._ctx, p._idx)
            if getattr(p, "_written", None) is not None:
                e._written, e._versions = p._written, p._versions
            p = e
        out.append(p)
    return tuple(out)


_NOTHING = np.zeros(64, np.uint8)  # (the stand-ins' one element, shared)
_NOTHING.flags.writeable = False
_stand_ins: dict = {}  # (shape, dtype) -> a zero-stride array of _NOTHING


def _saved_values(saved) -> bool:
    """Whether a node's ``saved_tensors`` hold values (not only shapes): as torch's nodes with
    saved variables, such a node is freed by a pass without retain_graph and refuses the
    next. A number saved beside an array counts (torch saves ``x * 2``'s 2 as a tensor); a
    shape-only stand-in does not."""
    if type(saved) is not tuple:  # (hooks' packed values; freed ones)
        return True
    for s in saved:
        if s is not None and type(s).__name__ != "_ShapeOnly":
            return True
    return False


class _Passed:
    """``node._freed`` once a pass without retain_graph went through a node whose
    saved_tensors held no values: freed only if its other attributes hold some (_refuses)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "<passed>"


_PASSED = _Passed()


def _refuses(node) -> bool:
    """For a node with ``_freed`` set: whether it is freed (True), or, after a pass through it
    (_PASSED), whether it keeps values in its own attributes, as an op that saves an array
    or a number outside saved_tensors does (decided once, now)."""
    if node._freed is True:
        return True
    held = _HELD
    for k, v in node.__dict__.items():
        if isinstance(v, held) or (
            (type(v) is tuple or type(v) is list)
            and k not in _NOT_KEPT
            and any(isinstance(a, held) for a in v)
        ):
            node.saved_tensors = None  # (as a freed node's)
            node._freed = True
            return True
    node._freed = False
    return False


class _FreedSaved:
    """A custom Function's ctx.saved_tensors once a pass without retain_graph freed them:
    reading them raises, as torch's (a backward that does not read them runs again)."""

    __slots__ = ("node",)

    def __init__(self, node):
        self.node = node

    def __iter__(self, *_):
        raise _freed_error(self.node)

    __getitem__ = __len__ = __iter__


def _freed_error(node) -> RuntimeError:
    return RuntimeError(  # (torch's words, and the node)
        "Trying to backward through the graph a second time (or directly access saved "
        "tensors after they have already been freed). Saved intermediate values of the graph "
        "are freed when you call .backward() or autograd.grad(). Specify retain_graph=True if "
        f"you need to backward through the graph a second time or if you need to access saved "
        f"tensors after calling backward. (at {node.name})"
    )


# (circular at import time: tensor.py's ops import this module)
from ember.autograd import function as _function  # noqa: E402
from ember.tensor import Tensor  # noqa: E402

_HELD = (np.ndarray, Tensor)
