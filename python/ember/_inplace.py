"""In-place operations on tensors of the autograd graph: ``h.relu_()``, ``scores.masked_fill_``,
``acc.add_(x)``, ``F.relu(x, inplace=True)``, ``v.mul_(2)`` through a view.

PyTorch records such a write as a new node and moves the tensor onto it. ember does the same:
the op runs out of place on a copy of the old values (the copy is what the new node saves),
the result is written into the tensor's own array (so NumPy views of it see the new values,
as torch's views do) and the tensor takes the new node. Nodes that used the tensor before
keep sending their gradient to its old node (``note_graph_write`` remembers it), and backward
refuses a node that saved an array written since (torch's "modified by an inplace operation").
The node that made the tensor is the exception: whatever it saved of its own output is
swapped for the old values first, so ``y = x.exp(); y.mul_(2)`` differentiates correctly.

A write into a view of a graph tensor (``h[:, 0].zero_()``, ``q, k, v = qkv.chunk(3)`` then
``q.mul_(s)``) changes the tensor it views: that base takes a node that puts the new values
at the view's positions, and the view becomes a gather from it."""

from __future__ import annotations

import numpy as np

from ember import ops as _ops
from ember import tensor as _tensor
from ember.autograd import function as _function
from ember.autograd.engine import hooks_moved, unbroadcast
from ember.tensor import Tensor


def note(t: Tensor) -> None:
    """t's array was just written outside the graph, by a NumPy write into it (F.relu_(x) on
    a plain x, load_state_dict, out=, init): nodes that saved it refuse to backward."""
    _function.note_write(t.data, t)
    if _function._fw_level is not None and t._requires_grad:  # (a dual's stale tangent)
        from ember.autograd import forward_ad

        forward_ad.refuse_no_grad_write(t)


def recording(x: Tensor, args=(), kwargs=None) -> bool:
    """Whether an in-place op on x must go through the graph: grad mode, and x or a tensor
    argument requires grad."""
    if not _function._state.enabled:
        return False
    if x._requires_grad:
        return True
    for a in args:  # (no tuple of args and kwargs built: ~0.3 us of every small x.op_())
        if isinstance(a, Tensor) and a._requires_grad:
            return True
    if kwargs:
        return any(isinstance(a, Tensor) and a._requires_grad for a in kwargs.values())
    return False


def write(
    x: Tensor, build, args=(), kwargs=None, name: str = "in-place op", reads_output=False
) -> Tensor:
    """x := build(x_old, *args, **kwargs) in x's array, recorded in the graph; returns x.
    ``reads_output``: build's node saves only its output (relu_), so x's old values are not
    copied for it, and build may write its result straight into x's array."""
    kwargs = kwargs or {}
    if x._ctx is None:
        root = plain_root(x)
        if x._requires_grad:
            _function.refuse_no_grad_view_write(x)
            raise _leaf_error(name)
        chain = ()
    else:
        root, chain = view_root(x)  # (first: a view of a leaf is refused as that, as torch's)
    node = _ops.CopySlices
    if not x.data.flags.writeable:
        if root is not None and name in _FILLS_BY_NUMBER and not _tensor_args(args, kwargs):
            # torch fills an expand()ed view of a graph tensor, and refuses its backward
            alias = _tensor._writeable_alias(x.data)
            if alias is None:
                raise x._read_only()
            x.data, node = alias, _ops.OverlapCopySlices
        else:
            x._writeable()
    if root is not None:
        return _write_through_view(x, root, chain, build, args, kwargs, name, node)
    if reads_output:
        old = Tensor._make(x.data, x._requires_grad, x._ctx, x._idx)
        _noting_write(x, None)  # (before build, which may write x's array)
        new = _fit(build(old, *_swap(args, x, old), **_swap(kwargs, x, old)), x, name)
        _take(x, new)
        # the old values are gone: the node's input keeps its shape and dtype, and no longer
        # shares x's memory (which would read as x being a view of it)
        old.data = np.broadcast_to(np.zeros((), x.data.dtype), x.shape)
        return x
    old = Tensor._make(x.data.copy(), x._requires_grad, x._ctx, x._idx)
    new = _fit(build(old, *_swap(args, x, old), **_swap(kwargs, x, old)), x, name)
    _commit(x, new, old.data)
    return x


def view(x: Tensor, build, args=(), name: str = "in-place view op", kwargs=None) -> Tensor:
    """x.t_(), x.unsqueeze_(0), ...: x becomes build(x) (a view of the same memory)."""
    if x._ctx is None:
        _function.refuse_view_write(x)
        _function.refuse_no_grad_view_write(x)
        raise _leaf_error(name)
    view_root(x)  # (a multi-output view refuses, as torch's)
    new = build(Tensor._make(x.data, x._requires_grad, x._ctx, x._idx), *args, **(kwargs or {}))
    _function.note_graph_write(x, values=False)
    x.data, x._ctx, x._idx = new.data, new._ctx, new._idx
    hooks_moved(x)
    return x


def _leaf_error(name: str) -> RuntimeError:
    return RuntimeError(
        f"{name}: a leaf Variable that requires grad is being used in an in-place operation. "
        "To change a leaf tensor that requires grad, do it under `with ember.no_grad():`, or "
        "use an out-of-place op"
    )


def plain_root(x: Tensor):
    """x, outside the graph, is about to be written with a value that requires grad: the
    tensor it views (made outside the graph, _view_of), which joins the graph as torch's base
    does, or None. A view torch refuses to write so is refused (see refuse_view_write)."""
    if getattr(x, "_chained_view", None) is not None:
        _function.refuse_view_write(x)
    root = getattr(x, "_view_of", None)
    if root is None or x._requires_grad or root._requires_grad and root._ctx is None:
        return None  # (x is refused as a leaf's view next)
    return root


def view_root(x: Tensor):
    """(the graph tensor whose memory x views, the views in between) or (None, ()): followed
    back through the nodes whose input shares x's memory (getitem, view, chunk, ...). A
    multi-output view (split, unbind) on the way is refused, as torch refuses writes to it."""
    chain, t = [], x
    while t._ctx is not None and not t._ctx._not_view:  # (see Function._not_view)
        src = next(
            (
                p
                for p in t._ctx.parents
                if p is not None and _function.shares_memory(x.data, p.data)
            ),
            None,
        )
        if src is None:
            break
        mark = getattr(t, "_chained_view", None)
        if mark is not None and mark[0] in _function._VIEW_WORDS:
            _function.refuse_view_write(x, (mark,))
        chain.append(t)
        t = src
    if t is x:
        return None, ()
    if t._ctx is None:
        _function.refuse_no_grad_view_write(t, chained=x)
        raise RuntimeError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )
    return t, chain[1:]


def preserve_saved(node, arr: np.ndarray, old: np.ndarray | None = None) -> None:
    """arr (the output of ``node``) is about to be overwritten: whatever node saved of it
    becomes a copy of the old values (``old`` where it is arr itself)."""

    for k, v in list(vars(node).items()):
        if k != "parents":
            kept = _kept(v, arr, old)
            if kept is not v:
                setattr(node, k, kept)


def _kept(v, arr: np.ndarray, old: np.ndarray | None):
    """preserve_saved's value for v. (A module function: a nested one calling itself would be
    a reference cycle holding arr until the collector runs, so every in-place activation's
    2 MiB output was freed late and the next one page-faulted fresh memory.)"""
    if isinstance(v, np.ndarray):
        if v is arr and old is not None:
            return old
        return v.copy() if np.may_share_memory(v, arr) else v
    if isinstance(v, tuple | list) and any(isinstance(i, np.ndarray) for i in v):
        return type(v)(_kept(i, arr, old) for i in v)
    return v


def _commit(x: Tensor, new: Tensor, old: np.ndarray) -> None:
    """x's array takes new's values and x takes new's place in the graph."""
    _noting_write(x, old)
    _take(x, new)


def _noting_write(x: Tensor, old: np.ndarray | None) -> None:
    """x's array is about to change: what x's node saved of it keeps the old values, and the
    nodes that used it before refuse to backward."""
    if x._ctx is not None and x._ctx.name() not in _SAVES_RESULT:
        preserve_saved(x._ctx, x.data, old)
    _function.note_graph_write(x)


# torch's nodes that save their own output (not their input) for backward: a write into that
# output makes their backward refuse ("modified by an inplace operation"), so theirs is kept
_SAVES_RESULT = {
    "ReluBackward0", "EluBackward1", "LeakyReluBackward1", "RreluWithNoiseBackward1",
    "CeluBackward1", "ExpBackward0", "SigmoidBackward0", "TanhBackward0", "SoftmaxBackward0",
    "LogSoftmaxBackward0", "SqrtBackward0", "RsqrtBackward0", "Expm1Backward0", "Exp2Backward0",
    "ReciprocalBackward0",
}  # fmt: skip


def _take(x: Tensor, new: Tensor) -> None:
    if new.data is not x.data:
        np.copyto(x.data, new.data)
        if new._ctx is not None and new._ctx.name() in _SAVES_RESULT:
            # torch's node saved its result: now x's array, whose later writes it must see
            # (this write, its own, not: its epoch moves past it). It holds x's array (the
            # engine's check scans its attributes) beside what it computes from: its result
            # as x's array if C-contiguous (the kernels read that), else its own copy, or
            # the input (ember's elu_ differentiates from the old values, torch's from y).
            ctx = new._ctx
            saved = ctx.__dict__.get("saved_tensors")
            if type(saved) is tuple and x.data.flags.c_contiguous:
                ctx.saved_tensors = tuple(x.data if a is new.data else a for a in saved)
            ctx._result, ctx._epoch = x.data, _function._graph_writes
    joined = x._ctx is None and new._ctx is not None
    x._ctx, x._idx, x._requires_grad = new._ctx, new._idx, new._requires_grad
    hooks_moved(x)
    if joined:
        views_join(x)


def views_join(root: Tensor) -> None:
    """root, a tensor outside the graph, just joined it through an in-place write of a graph
    value: its views made outside the graph (_views) follow, as torch's regenerate their
    grad_fn from their base. One made in grad mode becomes a gather from root (torch's
    AsStridedBackward0); one made under no_grad / inference_mode, or by split / unbind,
    requires grad and refuses to be used in the graph (torch's "modified inplace" error)."""
    refs = getattr(root, "_views", None)
    if not refs:
        return
    flat = None
    for ref in refs:
        v = ref()
        if v is None or v._ctx is not None or v._requires_grad:
            continue
        v._requires_grad = True
        mark = v._chained_view  # (set on every linked view)
        if mark is not None:
            mode = mark[0] if mark[0] in _function._MADE_IN else _function._MADE_IN[0]
            v._no_grad_view = (mode, -1)  # (a version its memory never has: stale at once)
            _function._no_grad_views_made = True  # (the flag Function.apply checks first)
            continue
        if flat is None:
            flat = root.reshape(-1)
        got = _ops.AsStridedGather.apply(flat, positions(v.data, root.data), True)
        v._ctx, v._idx = got._ctx, got._idx


_FILLS_BY_NUMBER = {"zero_", "fill_"}


def _tensor_args(args, kwargs) -> bool:
    return any(isinstance(a, Tensor) for a in (*args, *kwargs.values()))


def _write_through_view(x, root, chain, build, args, kwargs, name, node) -> Tensor:
    flat = positions(x.data, root.data)
    # (a root outside the graph, a plain tensor, joins it: its old values are a constant)
    old = Tensor._make(root.data.copy(), root._requires_grad, root._ctx, root._idx)
    old_x = old.reshape(-1)[flat]
    new = _fit(build(old_x, *_swap(args, x, old_x), **_swap(kwargs, x, old_x)), x, name)
    buf = old.reshape(-1).clone()
    buf[flat] = new
    _commit(root, node.apply(buf, root.shape), old.data)
    ctx = new._ctx
    if ctx is not None and ctx.name() in _SAVES_RESULT:
        # torch's node saved the view, whose version counter is its base's: a later write
        # anywhere in root's memory (through root, any view of it, under no_grad) refuses it
        ctx._result, ctx._epoch = x.data, _function._graph_writes
    for t in (x, *chain):  # the views read the new values from root's array: regather them
        _regather(t, root)
    return x


def _regather(t: Tensor, root: Tensor) -> None:
    """t, a view of root's memory, takes a new node: a gather from root as it is now (torch's
    AsStridedBackward0). Nodes that used t before keep its old node; retain_grad moves, the
    hooks registered before stay behind (torch's update_tensor_hooks_on_new_gradfn)."""
    _function.note_graph_write(t, values=False)
    with _function.enable_grad():
        got = _ops.AsStridedGather.apply(root.reshape(-1), positions(t.data, root.data), True)
    t._ctx, t._idx, t._requires_grad = got._ctx, got._idx, True
    hooks_moved(t)


def regenerate(t: Tensor) -> None:
    """t, a graph view, whose memory was written in place through its base (or another view
    of it) after t's node was made: t reads the new values, so as torch's (whose grad_fn is
    rebuilt once the view's version is behind) it takes a gather from that base. Called when
    t is used, its grad_fn read, or a hook / retain_grad registered on it."""
    ctx, b = t._ctx, t.data.base
    if ctx is None or ctx._not_view or b is None or getattr(t, "_chained_view", None):
        return  # (a marked view, multi-output or of a no_grad view, is refused instead)
    # (a view node's input holds the array t's views, or views the same one: identity tests
    # first, so an op's output that merely views a scratch buffer costs ~nothing)
    if not any(p is not None and (p.data is b or p.data.base is b) for p in ctx.parents):
        if type(b) is np.ndarray and b.base is None:
            return
        # (unfold's, as_strided's views: through NumPy's interface objects, to the owner)
        owner = _function.array_owner(t.data)
        if not any(p is not None and _function.array_owner(p.data) is owner for p in ctx.parents):
            return
    hit = _function._written_owners.get(id(_function.array_owner(t.data)))
    if hit is None or hit[1] <= ctx._epoch:
        return
    from ember.autograd.engine import _stale_base

    base = _stale_base(t, ctx, _function._graph_writes)
    if base is None:  # written outside the graph (no_grad): torch rebuilds it from its base too
        base = graph_root(t)
    if base is not None and base is not t:
        _regather(t, base)


def graph_root(t: Tensor):
    """The graph tensor at the end of t's chain of view nodes (t's _base in the graph; t itself
    when its node is not a view's): view_root's walk without its refusals."""
    d, s = t.data, t
    while s._ctx is not None and not s._ctx._not_view:
        p = next(
            (p for p in s._ctx.parents if p is not None and _function.shares_memory(d, p.data)),
            None,
        )
        if p is None:
            break
        s = p
    return s


_function._regenerate = regenerate


def put(t: Tensor, index, value) -> Tensor:
    """t with t[index] = value, out of place (an index assignment through a view)."""
    from ember import ops

    out = t.clone()
    ops.index_put_(out, index, value)
    return out


def positions(v: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The flat (C-order) index in base of each element of v, a view into base's memory."""
    base_addr = _addresses(base).ravel()
    order = np.argsort(base_addr, kind="stable")
    ranked = base_addr[order]
    want = _addresses(v)
    at = np.minimum(np.searchsorted(ranked, want), ranked.size - 1)
    if ranked.size == 0 or not np.array_equal(ranked[at], want):
        raise RuntimeError(
            f"in-place write into a view of shape {v.shape} that does not map onto the "
            f"elements of its base of shape {base.shape}: write into a clone() instead"
        )
    return order[at]


def _addresses(a: np.ndarray) -> np.ndarray:
    """The byte address of each element of a."""
    out = np.full(a.shape, a.__array_interface__["data"][0], np.int64)
    for axis, (n, stride) in enumerate(zip(a.shape, a.strides)):
        shape = [1] * a.ndim
        shape[axis] = n
        out = out + (np.arange(n, dtype=np.int64) * stride).reshape(shape)
    return out


def _fit(out, x: Tensor, name: str) -> Tensor:
    """The op's result as x's replacement: x's shape (in-place ops do not broadcast x) and
    dtype (a float result is not written into an integer tensor)."""
    from ember import ops

    out = out if isinstance(out, Tensor) else Tensor(np.asarray(out))
    if out.shape != x.shape:
        raise RuntimeError(
            f"{name}: output with shape {x.shape} doesn't match the broadcast shape {out.shape}"
        )
    if out.dtype != x.dtype:
        _tensor._check_inplace_cast(out.dtype, x.dtype)
        out = ops.cast(out, x.dtype)
    return out


def _swap(args, x, old):
    """x itself among the arguments (x.add_(x)) means its old value."""
    if not args:
        return args
    if isinstance(args, dict):
        return {k: old if v is x else v for k, v in args.items()}
    return tuple([old if a is x else a for a in args])


# ---- the named in-place methods (Tensor.add_, ...): recorded when they must be -----------

# not ops on values (or refused for graph tensors by the method itself)
_UNRECORDED = {
    "requires_grad_", "detach_", "share_memory_", "resize_", "resize_as_", "apply_", "map_",
}  # fmt: skip
# ... of which these leave the values alone (torch does not count them as writes either)
_NOT_WRITES = {"requires_grad_", "detach_", "share_memory_"}
# methods whose write is noted inside them (fill_, nn.init): noted once, as torch counts one
_SELF_NOTING = {"zero_", "uniform_", "normal_"}
# new values that do not depend on the old ones, nor carry a gradient
_FILLS = {
    "zero_", "normal_", "uniform_", "bernoulli_", "cauchy_", "exponential_", "geometric_",
    "log_normal_", "random_",
}  # fmt: skip
_VIEWS = {"t_", "transpose_", "swapaxes_", "swapdims_", "squeeze_", "unsqueeze_", "as_strided_"}
# ops whose node saves only their output (relu's y > 0 where x > 0): no copy of the old values
_READS_OUTPUT = {"relu_"}


class Overwrite(_function.Function):
    """values (broadcast) in place of t's (copy_, fill_, zero_, the random fills): t stays in
    the graph with a zero gradient (a constant, as torch's zeros_like), values take the
    gradient summed to their shape. Nothing is saved, as torch's CopyBackwards saves nothing
    (no saved_tensors_hooks pack)."""

    @staticmethod
    def forward(ctx, t, values):
        ctx.shapes = (t.shape, np.shape(values))
        out = np.empty(t.shape, t.dtype)
        out[...] = values
        return out

    @staticmethod
    def backward(ctx, g):
        st, sv = ctx.shapes
        nt, nv = ctx.needs_input_grad
        return (np.zeros(st, g.dtype) if nt else None, unbroadcast(g, sv) if nv else None)

    @staticmethod
    def backward_graph(ctx, g):
        from ember.autograd import graph

        st, sv = ctx.shapes
        nt, nv = ctx.needs_input_grad
        zeros = graph.constant(np.zeros(st, g.dtype)) if nt else None
        return zeros, (graph.sum_to(g, sv) if nv else None)


def _over(t, values, name: str = "torch::autograd::CopyBackwards"):
    """values (broadcast) in place of t's: t stays in the graph with a zero gradient, as torch
    keeps a tensor it fills requiring grad; the node named as torch's (copy_'s by default)."""
    return _function.named(Overwrite.apply(t, values), name)


def _copy(t, src, non_blocking=False):
    src = src.to(t.dtype) if isinstance(src, Tensor) else Tensor(np.asarray(src, t.dtype))
    return _over(t, src)


def _fill(t, value):
    if isinstance(value, Tensor):
        return _over(t, value.to(t.dtype), "FillBackward3")
    return _over(t, Tensor(np.asarray(value, t.dtype)), "FillBackward2")


def _fill_diagonal(t, fill_value, wrap=False):
    from ember import ops

    mask = np.zeros(t.shape, bool)
    np.fill_diagonal(mask, True, wrap=wrap)
    return ops.where(Tensor(mask), _fill(t, fill_value), t)


_BUILDERS = {"copy_": _copy, "fill_": _fill, "fill_diagonal_": _fill_diagonal}


def install(cls) -> None:
    """Wrap every named in-place method of Tensor so that, when autograd must record it
    (grad mode, and the tensor or an argument requires grad), it goes through ``write``;
    else the write is noted (_function.note_write), so that backward refuses nodes that
    saved the old values. (The augmented assignments and ``x[i] = v`` note their writes
    themselves: Tensor._inplace, Tensor.__setitem__.)"""
    for name in [n for n in vars(cls) if n.endswith("_") and not n.startswith("_")]:
        method = getattr(cls, name)
        if name in _NOT_WRITES or not callable(method):
            continue
        if name in _UNRECORDED:
            setattr(cls, name, _noted(name, method))
            continue
        if name in _VIEWS:
            setattr(cls, name, _recorded_view(name, method, getattr(cls, name[:-1])))
            continue
        build = _BUILDERS.get(name) or getattr(cls, name[:-1], None)
        if name in _FILLS or build is None:
            build = _constant(method)
        setattr(cls, name, _recorded(name, method, build))

    cls.clamp_ = _clamp_front(cls.clamp_)
    cls.scatter_add_ = _index_add_front(cls.scatter_add_, scatter=True)
    cls.index_add_ = _index_add_front(cls.index_add_, scatter=False)
    cls.masked_fill_ = _masked_fill_front(cls.masked_fill_)


def _masked_fill_front(wrapped):
    """x.masked_fill_(mask, number) of a plain writeable C-contiguous float32/float64 tensor
    outside autograd and a C-contiguous bool mask of its shape, a float in float32's range
    or an int exact in both dtypes (the common call, which none of torch's refusals apply
    to): Tensor.masked_fill_'s kernel select, the write noted as the wrapper above notes it
    (~1.5 us of frames and tests, overhead40); anything else by the wrapped method."""
    f32, f64, big, kernel_min = _ops._F32, _ops._F64, _ops._F32_MAX, _ops._KERNEL_MIN
    where, copyto, bool_ = _ops._C.where, np.copyto, np.dtype(np.bool_)

    def masked_fill_(self, mask, value):
        tv = type(value)
        if (
            type(self) is Tensor
            and type(mask) is Tensor
            and (tv is float and -big <= value <= big or tv is int and -(2**24) <= value <= 2**24)
            and not self._requires_grad
            and self._ctx is None
            and not _function._inference_made
        ):
            d, m = self._data, mask._data
            if (
                (d.dtype is f32 or d.dtype is f64)
                and m.dtype is bool_
                and m.shape == d.shape
                and d.size >= kernel_min
                and d.flags.c_contiguous
                and d.flags.writeable
                and m.flags.c_contiguous
            ):
                copyto(d, where(m, float(value), d))
                _function.note_write(d, self)
                return self
        return wrapped(self, mask, value)

    masked_fill_.__qualname__, masked_fill_.__doc__ = "masked_fill_", wrapped.__doc__
    return masked_fill_


def _index_add_front(wrapped, scatter: bool):
    """x.scatter_add_(dim, index, src) with index and src of x's shape / x.index_add_(0, index,
    source) with a 1-D index, of plain C-contiguous Tensors outside autograd, x a writeable
    float32/float64 one, src its dtype, index int64, no two sharing memory (the common calls):
    the kernels ops.scatter_add_ / index_add_ run on them (each checks every index before it
    writes), the write noted as the wrapper above notes it (~1 us of frames and tests,
    overhead40); anything else, an index out of range too, by the wrapped method."""
    f32, f64, i64, apart = _ops._F32, _ops._F64, _ops._I64, _ops._apart
    kernel = _ops._C.gather_backward if scatter else _ops._C.index_add_rows
    name = "scatter_add_" if scatter else "index_add_"

    def method(self, dim, index, source, **kwargs):
        if (
            type(self) is Tensor
            and type(index) is Tensor
            and type(source) is Tensor
            and type(dim) is int
            and not kwargs
            and not self._requires_grad
            and not source._requires_grad
            and self._ctx is None
            and not _function._inference_made
        ):
            d, i, s = self._data, index._data, source._data
            nd = d.ndim
            if (
                (d.dtype is f32 or d.dtype is f64)
                and s.dtype is d.dtype
                and i.dtype is i64
                and d.size  # (an empty x: the wrapped method's checks and result)
                and -nd <= dim < nd
                and d.flags.c_contiguous
                and d.flags.writeable
                and s.flags.c_contiguous
                and i.flags.c_contiguous
                and apart(d, s)
                and apart(d, i)
            ):
                try:
                    if scatter:
                        if d.shape == s.shape == i.shape:
                            dim %= nd
                            kernel(s, i, dim, d.shape[dim], d)
                            _function.note_write(d, self)
                            return self
                    elif (
                        dim % nd == 0
                        and i.ndim == 1
                        and i.size
                        and s.shape == i.shape + d.shape[1:]
                    ):
                        kernel(d.reshape(d.shape[0], -1), i, s.reshape(i.size, -1))
                        _function.note_write(d, self)
                        return self
                except IndexError:  # (nothing written: the wrapped method's error)
                    pass
        return wrapped(self, dim, index, source, **kwargs)

    method.__name__, method.__qualname__, method.__doc__ = name, name, wrapped.__doc__
    return method


def _clamp_front(wrapped):
    """x.clamp_(number, number) of a plain writeable C-contiguous float tensor outside autograd
    (the common call): the clamp kernel into x and the write noted, as the wrapped method's
    path through the wrapper above, Tensor.clamp_ and _map_ does (~1 us of frames, overhead40);
    anything else by the wrapped method."""
    act, f32, f64, inf = _ops._ACT_ID["clamp"], _ops._F32, _ops._F64, np.inf
    kernel = _ops._C.activation

    def clamp_(self, min=None, max=None):  # noqa: A002  (PyTorch's names)
        tl, th = type(min), type(max)
        if (
            type(self) is Tensor
            and (tl is float or tl is int or min is None)
            and (th is float or th is int or max is None)
            and (min is not None or max is not None)
            and not self._requires_grad
            and self._ctx is None
            and not _function._inference_made
        ):
            d = self._data
            if (
                type(d) is np.ndarray
                and (d.dtype is f32 or d.dtype is f64)
                and d.flags.c_contiguous
                and d.flags.writeable
            ):
                if not (_ops._plain_bound(min) and _ops._plain_bound(max)):
                    _ops._clamp_range(d.dtype, min, max)  # (clamp's refusals: 1e300 for float32)
                lo = -inf if min is None else float(min)
                kernel(d, act, lo, inf if max is None else float(max), d)
                _function.note_write(d, self)
                return self
        return wrapped(self, min, max)

    clamp_.__name__, clamp_.__qualname__, clamp_.__doc__ = "clamp_", "clamp_", wrapped.__doc__
    return clamp_


# (In the wrappers below, the write is noted after the method returns: a write that raised
# changed nothing.)


# the elementwise in-place writes torch's TensorIterator checks (assert_no_partial_overlap)
_ELEMENTWISE_WRITES = {
    "add_", "sub_", "subtract_", "mul_", "multiply_", "div_", "divide_", "true_divide_",
    "floor_divide_", "pow_", "float_power_", "copy_", "lerp_", "addcmul_", "addcdiv_", "fmod_",
    "remainder_", "atan2_", "arctan2_", "hypot_", "copysign_", "xlogy_", "nextafter_",
    "maximum_", "minimum_", "fmax_", "fmin_", "ldexp_", "logical_and_", "logical_or_",
    "logical_xor_", "bitwise_and_", "bitwise_or_", "bitwise_xor_", "bitwise_left_shift_",
    "bitwise_right_shift_", "eq_", "ne_", "lt_", "le_", "gt_", "ge_", "less_", "greater_",
    "less_equal_", "greater_equal_", "not_equal_", "heaviside_", "igamma_", "igammac_",
}  # fmt: skip


def _refuse_partial_overlap(name: str, d: np.ndarray, b: np.ndarray) -> None:
    """torch's assert_no_partial_overlap(out, input): an operand sharing some, not all, of the
    written memory (x[1:].copy_(x[:-1]), x.mul_(x.t()), x.add_(x[0])) is refused where both
    are non-overlapping and dense (torch cannot tell otherwise and lets it through). The same
    memory read as written (x.add_(x)) is allowed."""
    if b is d or not (b.size and d.size) or not np.may_share_memory(d, b):
        return
    from ember.ops import _dense

    if not (_dense(d) and _dense(b)):
        return
    start_d, start_b = d.__array_interface__["data"][0], b.__array_interface__["data"][0]
    low_d = start_d + sum((n - 1) * s for n, s in zip(d.shape, d.strides) if s < 0)
    low_b = start_b + sum((n - 1) * s for n, s in zip(b.shape, b.strides) if s < 0)
    if low_d == low_b and d.nbytes == b.nbytes and d.strides == b.strides:
        return
    raise RuntimeError(
        f"{name}: unsupported operation: some elements of the input tensor and the written-to "
        "tensor refer to a single memory location. Please clone() the tensor before "
        "performing the operation."
    )


def _recorded(name, method, build):
    if name in _SELF_NOTING:

        def inplace(self, *args, **kwargs):
            if _function._inference_made:
                _function.refuse_inference_write(self)
            if recording(self, args, kwargs):
                return write(self, build, args, kwargs, name)
            return method(self, *args, **kwargs)

    else:
        reads_output = name in _READS_OUTPUT
        # under _keywords' axis=/keepdims= wrapper (_numpy_names), which passes a call without
        # keywords straight to the method: called directly then (overhead38: this wrapper and
        # that one were ~1 us of a small index_copy_ / scatter_add_)
        direct = method.__wrapped__ if getattr(method, "_numpy_names", False) else method
        state = _function._state
        overlap = name in _ELEMENTWISE_WRITES

        def inplace(self, *args, **kwargs):
            if _function._inference_made:
                _function.refuse_inference_write(self)
            if overlap:
                for a in args:
                    if type(a) is Tensor and not (
                        a._data.flags.owndata and self._data.flags.owndata
                    ):
                        _refuse_partial_overlap(name, self._data, a._data)
            if state.enabled:
                if self._requires_grad:
                    return write(self, build, args, kwargs, name, reads_output)
                for a in args:  # (recording's test inline: ~0.3 us of a small index_add_)
                    if isinstance(a, Tensor) and a._requires_grad:
                        return write(self, build, args, kwargs, name, reads_output)
                if kwargs and recording(self, (), kwargs):
                    return write(self, build, args, kwargs, name, reads_output)
            d = self.data
            out = method(self, *args, **kwargs) if kwargs else direct(self, *args)
            _function.note_write(d, self)
            return out

    inplace.__name__, inplace.__qualname__, inplace.__doc__ = name, name, method.__doc__
    return inplace


def _recorded_view(name, method, build):
    # x.t_() moves no value, but torch counts it as a write (its version counter): nodes
    # that saved x refuse to backward, here too
    def inplace(self, *args, **kwargs):
        if _function._inference_made:
            _function.refuse_inference_write(self)
        if recording(self):
            return view(self, build, args, name, kwargs)
        d = self.data  # (the array it had: as_strided_ takes one NumPy gives no base chain)
        out = method(self, *args, **kwargs)
        _function.note_write(d, self)
        return out

    inplace.__name__, inplace.__qualname__, inplace.__doc__ = name, name, method.__doc__
    return inplace


def _noted(name, method):
    """method, its write into self noted (x += y, x[i] = v, apply_, resize_, ...)."""

    def inplace(self, *args, **kwargs):
        if _function._inference_made:
            _function.refuse_inference_write(self)
        d = self.data  # (resize_ may give self a new array: the old one is what was saved)
        out = method(self, *args, **kwargs)
        _function.note_write(d, self)
        return out

    inplace.__name__, inplace.__qualname__, inplace.__doc__ = name, name, method.__doc__
    return inplace


def _constant(method):
    """A fill's values, computed on a detached copy (see _over); torch's node ZeroBackward0,
    NormalBackward0, ..."""
    name = "".join(p.capitalize() for p in method.__name__.split("_")) + "Backward0"
    return lambda t, *args, **kwargs: _over(t, method(t.detach().clone(), *args, **kwargs), name)
