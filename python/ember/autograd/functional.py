"""``torch.autograd.functional``: Jacobians and their products with vectors, of a Python
function of tensors.

All of them run reverse mode: the Jacobian takes one backward pass per output element, a
vector-Jacobian product one pass, a Jacobian-vector product goes through the Jacobian. Products
with a Hessian need the gradient of a gradient (create_graph), which ember does not record:
``hessian``, ``hvp`` and ``vhp`` say so.
"""

from __future__ import annotations

import numpy as np

from ember.autograd.engine import _check_create_graph, grad
from ember.autograd.function import enable_grad
from ember.tensor import Tensor


def _as_tuple(x, op: str, what: str) -> tuple[bool, tuple]:
    """(was it a tuple, the tensors as a tuple); anything but Tensors is a TypeError."""
    is_tuple = isinstance(x, tuple | list)
    xs = tuple(x) if is_tuple else (x,)
    for t in xs:
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{op}: the {what} must be a Tensor or a tuple of Tensors, got {type(t).__name__}"
            )
    return is_tuple, xs


def _run(func, inputs, op: str):
    """func on leaf copies of the inputs that require grad: (copies, outputs, tuple flags)."""
    in_tuple, xs = _as_tuple(inputs, op, "inputs")
    for x in xs:
        if x.dtype.kind != "f":
            raise TypeError(f"{op}: inputs must be floating point, got {x.dtype}")
    leaves = tuple(Tensor._make(x.data.copy(), False, None, 0).requires_grad_() for x in xs)
    with enable_grad():
        out = func(*leaves)
    out_tuple, outs = _as_tuple(out, op, "function's output")
    return leaves, outs, in_tuple, out_tuple


def _grads(outputs, leaves, grad_outputs, strict: bool, op: str) -> list:
    """d(sum of outputs * grad_outputs)/d(leaves); an output that does not depend on an input
    gives zeros (strict: an error, as PyTorch)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    got = [None] * len(leaves)
    if pairs:
        got = grad(
            [o for o, _ in pairs], leaves, [g for _, g in pairs], retain_graph=True,
            allow_unused=True,
        )  # fmt: skip
    if strict and any(g is None for g in got):
        raise RuntimeError(
            f"{op}: the output of the user-provided function is independent of input "
            f"{[g is None for g in got].index(True)}. This is not allowed in strict mode."
        )
    return [np.zeros_like(x.data) if g is None else g.data for g, x in zip(got, leaves)]


def _detached(t: Tensor) -> Tensor:
    return Tensor._make(t.data, False, None, 0)


def _jacobian_blocks(outs, leaves, strict: bool, op: str) -> list[list[np.ndarray]]:
    """d out / d x for each output and input, shaped out.shape + x.shape: one backward pass
    per output element."""
    rows = []
    for o in outs:
        blocks = [np.zeros((o.data.size, *x.shape), x.dtype) for x in leaves]
        for i in range(o.data.size):
            seed = np.zeros(o.data.size, o.dtype)
            seed[i] = 1
            seed = Tensor._make(seed.reshape(o.shape), False, None, 0)
            for block, g in zip(blocks, _grads([o], leaves, [seed], strict, op)):
                block[i] = g
        rows.append([b.reshape(o.shape + x.shape) for b, x in zip(blocks, leaves)])
    return rows


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):  # fmt: skip
    """The Jacobian of ``func`` at ``inputs``: for one input and one output a tensor of shape
    output.shape + input.shape; for tuples, a tuple (over outputs) of tuples (over inputs),
    collapsed where func takes or returns a single tensor, as torch.autograd.functional.
    Either ``strategy`` gives the same numbers (ember computes both in reverse mode)."""
    _check_create_graph(create_graph)
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(
            f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}"
        )
    leaves, outs, in_tuple, out_tuple = _run(func, inputs, "jacobian")
    rows = [
        tuple(Tensor._make(b, False, None, 0) for b in row)
        for row in _jacobian_blocks(outs, leaves, strict, "jacobian")
    ]
    rows = [r if in_tuple else r[0] for r in rows]
    return tuple(rows) if out_tuple else rows[0]


def _vectors(v, like, op: str, what: str) -> list[Tensor]:
    """The v of a product, one per tensor of ``like``, shape-checked; None only for a
    single-element one."""
    if v is None:
        if any(t.data.size != 1 for t in like):
            raise RuntimeError(
                f"{op}: the vector v can only be None if the {what} is a single-element tensor"
            )
        return [Tensor._make(np.ones(t.shape, t.dtype), False, None, 0) for t in like]
    _, vs = _as_tuple(v, op, "v")
    if len(vs) != len(like) or any(a.shape != t.shape for a, t in zip(vs, like)):
        raise ValueError(
            f"{op}: v has shapes {[tuple(a.shape) for a in vs]}, but the {what} has "
            f"{[tuple(t.shape) for t in like]}"
        )
    return list(vs)


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the vector-Jacobian product, one backward pass."""
    _check_create_graph(create_graph)
    leaves, outs, in_tuple, out_tuple = _run(func, inputs, "vjp")
    vs = _vectors(v, outs, "vjp", "function's output")
    got = [Tensor._make(g, False, None, 0) for g in _grads(outs, leaves, vs, strict, "vjp")]
    out = tuple(map(_detached, outs)) if out_tuple else _detached(outs[0])
    return out, (tuple(got) if in_tuple else got[0])


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v): the Jacobian-vector product, here through the Jacobian (one
    backward pass per output element: fine for the small functions it is used on)."""
    _check_create_graph(create_graph)
    _, ins = _as_tuple(inputs, "jvp", "inputs")
    vs = _vectors(v, ins, "jvp", "input")
    leaves, outs, _, out_tuple = _run(func, inputs, "jvp")
    products = []
    for o, row in zip(outs, _jacobian_blocks(outs, leaves, strict, "jvp")):
        total = sum(np.tensordot(b, vec.data, vec.ndim) for b, vec in zip(row, vs))
        products.append(Tensor._make(np.asarray(total, o.dtype).reshape(o.shape), False, None, 0))
    out = tuple(map(_detached, outs)) if out_tuple else _detached(outs[0])
    return out, (tuple(products) if out_tuple else products[0])


def _needs_double_backward(name: str):
    def refuse(*args, **kwargs):
        raise NotImplementedError(
            f"{name}: needs the gradient of a gradient (create_graph=True), which ember's "
            "backward does not record"
        )

    refuse.__name__ = name
    return refuse


hessian = _needs_double_backward("hessian")
hvp = _needs_double_backward("hvp")
vhp = _needs_double_backward("vhp")
