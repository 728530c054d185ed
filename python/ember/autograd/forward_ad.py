"""Forward-mode automatic differentiation, as torch.autograd.forward_ad.

Example::

    with forward_ad.dual_level():
        x = forward_ad.make_dual(primal, tangent)
        y = f(x)
        jvp = forward_ad.unpack_dual(y).tangent  # J_f(primal) @ tangent

How: an op whose inputs carry tangents gets its output's tangent J·t from its own backward, by
the double-vjp trick. The input gradient ``v(u) = J^T u`` that ``backward_graph`` records
(create_graph=True) is linear in the output gradient ``u``, so differentiating ``<v(u), t>``
with respect to ``u`` gives ``J t``. Complex values too: torch's gradient convention makes
``v(u)`` the transpose of J as a real-linear map of (re, im) pairs, so the same pass gives
torch's tangent, for non-holomorphic ops (abs, conj, real, ...) as well. That is exact for
every op with a double backward; an op without one (or a custom Function without a ``jvp``
static method, as in torch) raises NotImplementedError naming the op, rather than give a
wrong tangent.

Differences from torch: a dual tensor, and what ops make of it, require grad (ember computes
J·t from the op's recorded node, so dual tensors always record one; their ``.grad_fn`` is set;
under ``no_grad`` an op records its node all the same and returns its outputs cut from it, dual
leaves). Tangents carry no graph themselves (no forward-over-forward); forward-over-reverse
works where the reverse pass records (``autograd.grad(..., create_graph=True)``, ember.func.grad).
"""

from __future__ import annotations

import weakref
from typing import NamedTuple

import numpy as np

from ember import _lowp
from ember.autograd import function as _fn
from ember.autograd.function import Function

__all__ = [
    "UnpackedDualTensor",
    "dual_level",
    "enter_dual_level",
    "exit_dual_level",
    "make_dual",
    "unpack_dual",
]

# A tangent lives where the graph says where a tensor's values come from: on the tensor for a
# leaf (its `_fw` slot), on the node for an op's output (`Function._fw_out`, one per output).
# So an alias of an output (Tensor._make(x.data, True, x._ctx, x._idx)) has its tangent, and
# a tensor an in-place op rebases onto a new node (x[i] = v, relu_) takes that node's.
_duals: list = []  # weak references to the leaves and nodes given tangents at this level
# the tangent Tensors make_dual was given, by id of their array: unpack_dual hands back the
# same object, as torch does for a tangent it stores as it is
_given = weakref.WeakValueDictionary()


def enter_dual_level() -> int:
    """Enter a forward-AD level (one at a time, as torch) and return it."""
    if _fn._fw_level is not None:
        raise RuntimeError("Nested forward mode AD is not supported at the moment")
    _fn._fw_level = 0
    return 0


def exit_dual_level(*, level=None) -> None:
    """Leave the level: every tangent made in it is dropped."""
    if _fn._fw_level is None or (level is not None and level != _fn._fw_level):
        raise RuntimeError(f"exit_dual_level: level {level} is not the current forward-AD level")
    _fn._fw_level = None
    _given.clear()
    for ref in _duals:
        t = ref()
        if isinstance(t, Function):
            t._fw_out = None
        elif t is not None and hasattr(t, "_fw"):
            del t._fw
    _duals.clear()


class dual_level:  # noqa: N801 (PyTorch's name)
    """``with dual_level():`` the scope in which dual tensors carry tangents."""

    def __enter__(self):
        return enter_dual_level()

    def __exit__(self, *exc):
        exit_dual_level()
        return False


class UnpackedDualTensor(NamedTuple):
    primal: Tensor
    tangent: Tensor | None


def _current(level, op: str) -> int:
    if _fn._fw_level is None:
        raise RuntimeError(
            f"{op}: no forward AD level exists; enter one first (`with "
            "ember.autograd.forward_ad.dual_level():`)"
        )
    if level is not None and level != _fn._fw_level:
        raise RuntimeError(f"{op}: level {level} is not the current forward-AD level")
    return _fn._fw_level


def make_dual(tensor, tangent, *, level=None) -> Tensor:
    """A tensor with ``tensor``'s values (sharing its memory) that carries ``tangent`` through
    the ops applied to it, inside a ``dual_level``."""
    _current(level, "make_dual")
    if not isinstance(tensor, Tensor) or not isinstance(tangent, Tensor):
        raise TypeError(
            f"make_dual: expected Tensors, got {type(tensor).__name__} and {type(tangent).__name__}"
        )
    if tensor.dtype.kind not in "fc" and tensor.dtype != _lowp.bfloat16:
        raise ValueError(f"make_dual: the primal must be floating point, got {tensor.dtype}")
    if tangent.shape != tensor.shape:
        from ember._errors import BadShapeOrValue

        raise BadShapeOrValue(
            f"make_dual: the tangent has shape {tuple(tangent.shape)} but the primal has shape "
            f"{tuple(tensor.shape)}; they must match"
        )
    if tangent.dtype.kind == "c" and tensor.dtype.kind != "c":
        from ember._errors import BadDtype

        raise BadDtype(  # (ember keeps a tangent in its primal's dtype: this would drop a part)
            f"make_dual: a complex tangent ({tangent.dtype}) for a real primal ({tensor.dtype}) "
            "is not supported; make the primal complex"
        )
    stored = np.asarray(tangent.data, tensor.dtype)
    if stored is tangent.data:
        _given[id(stored)] = tangent
    if tensor.requires_grad and _fn.is_grad_enabled():  # a view: gradients flow to the primal
        from ember.ops import Reshape

        dual = Reshape.apply(tensor, tensor.shape)
        _set_tangents(dual._ctx, [stored])
    else:  # a leaf that requires grad, so the ops on it record the nodes forward AD reads
        dual = Tensor._make(tensor.data, True, None, 0)
        dual._fw = stored
        _duals.append(weakref.ref(dual))
    return dual


def unpack_dual(tensor, *, level=None) -> UnpackedDualTensor:
    """``(primal, tangent)``: the tensor without its tangent (a view), and the tangent (None
    for a tensor that carries none)."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"unpack_dual: expected a Tensor, got {type(tensor).__name__}")
    if _fn._fw_level is None:
        return UnpackedDualTensor(tensor, None)
    _current(level, "unpack_dual")
    t = _tangent(tensor)
    if t is None:
        return UnpackedDualTensor(tensor, None)
    if tensor._ctx is None:  # a dual made from a primal that needs no grad: a plain tensor
        primal = Tensor._make(tensor.data, False, None, 0)
    else:  # a view on a node of its own, which carries no tangent; gradients flow through
        from ember.ops import Reshape

        _fn._fw_level = None
        try:
            primal = Reshape.apply(tensor, tensor.shape)
        finally:
            _fn._fw_level = 0
    given = _given.get(id(t))
    if given is None or given.data is not t:
        given = Tensor._make(t, False, None, 0)
    return UnpackedDualTensor(primal, given)


def _tangent(t):
    """t's tangent array at the current level, or None."""
    ctx = t._ctx
    if ctx is None:
        return getattr(t, "_fw", None)
    fw = ctx._fw_out
    return None if fw is None else fw[t._idx]


def _set_tangents(ctx, tangents: list) -> None:
    ctx._fw_out = tangents
    _duals.append(weakref.ref(ctx))


def _no_grad_apply(cls, parents, args, kwargs):
    """Function.apply under no_grad with dual inputs (None when none is): as torch, the
    tangent flows on. ember computes it from a node, so the op records one in grad mode and
    its outputs are handed back cut from that graph, each a leaf carrying its tangent (a dual
    tensor requires grad in ember, see the module's note)."""
    if all(p is None or _tangent(p) is None for p in parents):
        return None
    with _fn.enable_grad():
        res = cls.apply(*args, **kwargs)
    outs = []
    for o in res if isinstance(res, tuple) else (res,):
        if isinstance(o, Tensor) and o._ctx is not None:
            t = _tangent(o)
            o = Tensor._make(o.data, t is not None, None, 0)
            if t is not None:
                o._fw = t
                _duals.append(weakref.ref(o))
        outs.append(o)
    return tuple(outs) if isinstance(res, tuple) else outs[0]


def refuse_no_grad_write(t) -> None:
    """An in-place write under no_grad into a dual tensor: its tangent would keep the old
    values' (torch updates it; ember computes tangents from recorded nodes only)."""
    if _tangent(t) is not None:
        raise RuntimeError(
            "an in-place operation under no_grad on a dual tensor: ember cannot update its "
            "forward-AD tangent there; use the out-of-place op (or leave the no_grad block)"
        )


def _propagate(ctx, res) -> None:
    """Set the tangents of ``res`` (ctx's outputs, a Tensor or a tuple) from its inputs'."""
    tangents = [None if p is None else _tangent(p) for p in ctx.parents]
    if all(t is None for t in tangents):
        return
    outs = res if isinstance(res, tuple) else (res,)
    if type(ctx)._tensor_api:
        out_t = _custom_jvp(ctx, tangents, len(outs))
    else:
        out_t = _double_vjp(ctx, tangents, outs)
    _set_tangents(
        ctx,
        [
            np.asarray(t, o.dtype).reshape(o.shape)
            if t is not None and o._ctx is ctx and o.dtype.kind in "fc"
            else None
            for o, t in zip(outs, out_t)
        ],
    )


def _double_vjp(ctx, tangents, outs) -> list:
    """J·t of one node: d/du <backward_graph(u), t>, over a copy of its inputs cut from the
    graph (so the pass stays local to this node)."""
    parents = ctx.parents
    us = [Tensor._make(np.zeros_like(o.data), True, None, 0) for o in outs]
    ctx.parents = tuple(None if p is None else Tensor._make(p.data, True, None, 0) for p in parents)
    try:
        with _fn.enable_grad(), np.errstate(all="ignore"):
            try:
                # the class's (no node hooks), conjugated for a complex output (_complex.py)
                bg = getattr(ctx, "_conj_backward_graph", type(ctx).backward_graph)
                vs = bg(ctx, *us)
                vs = tuple(map(_graph_tensor, vs if isinstance(vs, tuple | list) else (vs,)))
                seeds = [
                    (v, t)
                    for v, t in zip(vs, tangents)
                    if t is not None and isinstance(v, Tensor) and v.requires_grad
                ]
                if not seeds:
                    return [np.zeros_like(o.data) for o in outs]
                # (a backward torch does not differentiate refuses here: ctc_loss's)
                got = _run([v for v, _ in seeds], [t for _, t in seeds], True, us, False, True)
            except NotImplementedError as e:
                raise NotImplementedError(
                    f"forward-mode AD through {ctx.name} is not supported: ember computes J·t "
                    f"from {ctx.name}'s double backward, which it does not define ({e})"
                ) from None
    finally:
        ctx.parents = parents
    return [np.zeros_like(o.data) if g is None else g for o, g in zip(outs, got)]


def _custom_jvp(ctx, tangents, n_out: int) -> list:
    """A custom Function's own ``jvp(ctx, *input_tangents)``, as torch requires one."""
    cls = type(ctx)
    if cls.jvp is Function.jvp:
        name = getattr(cls, "_forward_cls", cls).__name__  # (the user's class, not its node's)
        raise NotImplementedError(
            f"forward-mode AD through the custom Function {name}: it must define a "
            "jvp(ctx, *grad_inputs) static method (as in torch)"
        )
    ins = []
    seen = iter(ctx._made[0])
    for t, is_tensor in zip(tangents, ctx._tensor_args):
        if is_tensor:
            a = next(seen)[0]
            t = np.zeros_like(a.data) if t is None else t  # zeros for a non-dual input, as torch
        ins.append(None if t is None else Tensor._make(t, False, None, 0))
    saved = ctx.__dict__.get("saved_tensors")
    fw_saved = ctx.__dict__.get("_fw_saved")
    if fw_saved is not None:
        ctx.saved_tensors = fw_saved
    try:
        with _fn.no_grad():
            out = cls.jvp(ctx, *ins)
    finally:
        if fw_saved is not None:
            ctx.saved_tensors = saved
    out = out if isinstance(out, tuple | list) else (out,)
    if len(out) != n_out:
        raise RuntimeError(f"{cls.__name__}.jvp returned {len(out)} tangents for {n_out} outputs")
    return [None if o is None else np.asarray(getattr(o, "data", o)) for o in out]


# (circular at import time: function.py imports this module at its end)
from ember.autograd.engine import _graph_tensor, _run  # noqa: E402
from ember.tensor import Tensor  # noqa: E402
