"""``torch.autograd.functional``: Jacobians, Hessians and their products with vectors, of a
Python function of tensors.

All of them run reverse mode: the Jacobian takes one backward pass per output element, a
vector-Jacobian product one pass, a Jacobian-vector product goes through the Jacobian, and the
Hessian family differentiates the gradient again (create_graph). ``create_graph=True`` keeps
the results differentiable with respect to the caller's inputs, as torch.
"""

from __future__ import annotations

import numpy as np

from ember import _lowp
from ember._errors import BadDtype, BadShapeOrValue
from ember.autograd.engine import _run as _backward_pass
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


def _run(func, inputs, op: str, create_graph: bool = False):
    """func on leaf copies of the inputs: (copies, outputs, tuple flags). With create_graph an
    input that requires grad is passed as a view of itself, so results stay differentiable
    with respect to it (as torch)."""
    in_tuple, xs = _as_tuple(inputs, op, "inputs")
    for x in xs:
        if not _lowp.is_float(x.dtype):
            raise BadDtype(f"{op}: inputs must be floating point, got {x.dtype}")
    leaves = tuple(
        x.view_as(x)
        if create_graph and x.requires_grad
        else Tensor._make(x.data.copy(), False, None, 0).requires_grad_()
        for x in xs
    )
    with enable_grad():
        out = func(*leaves)
    out_tuple, outs = _as_tuple(out, op, "function's output")
    return leaves, outs, in_tuple, out_tuple


def _grads(outputs, leaves, grad_outputs, strict: bool, op: str, create_graph=False) -> list:
    """d(sum of outputs * grad_outputs)/d(leaves), as Tensors (recorded with create_graph); an
    output that does not depend on an input gives zeros (strict: an error, as PyTorch)."""
    pairs = [(o, g) for o, g in zip(outputs, grad_outputs) if o.requires_grad]
    got = [None] * len(leaves)
    if pairs:  # the leaves are taken as the variables: the pass stops at them
        got = _backward_pass(
            [o for o, _ in pairs], [g for _, g in pairs], True, list(leaves), create_graph,
            stop=True,
        )  # fmt: skip
    if strict and any(g is None for g in got):
        raise RuntimeError(
            f"{op}: the output of the user-provided function is independent of input "
            f"{[g is None for g in got].index(True)}. This is not allowed in strict mode."
        )
    return [
        Tensor._make(np.zeros_like(x.data), False, None, 0)
        if g is None
        else g
        if isinstance(g, Tensor)
        else Tensor._make(np.array(g, x.dtype), False, None, 0)
        for g, x in zip(got, leaves)
    ]


def _detached(t: Tensor, create_graph: bool = False) -> Tensor:
    return t if create_graph else Tensor._make(t.data, False, None, 0)


def _jacobian_blocks(outs, leaves, strict: bool, op: str, create_graph=False) -> list[list]:
    """d out / d x for each output and input, Tensors shaped out.shape + x.shape: one backward
    pass per output element."""
    from ember.ops import stack

    rows = []
    for o in outs:
        per_input = [[] for _ in leaves]
        for i in range(o.data.size):
            seed = np.zeros(o.data.size, o.dtype)
            seed[i] = 1
            seed = Tensor._make(seed.reshape(o.shape), False, None, 0)
            for acc, g in zip(per_input, _grads([o], leaves, [seed], strict, op, create_graph)):
                acc.append(g)
        rows.append(
            [
                stack(gs).reshape(o.shape + x.shape)
                if gs
                else Tensor._make(np.zeros(o.shape + x.shape, x.dtype), False, None, 0)
                for gs, x in zip(per_input, leaves)
            ]
        )
    return rows


def _check_vectorize(op: str, vectorize: bool, strict: bool) -> None:
    """vectorize=True is PyTorch's speed option (vmap over the rows): ember computes the same
    rows one by one, with PyTorch's refusal of strict alongside it."""
    if vectorize and strict:
        raise RuntimeError(
            f"torch.autograd.functional.{op}: `strict=True` and `vectorized=True` are not "
            "supported together. Please either set `strict=False` or `vectorize=False`."
        )


def jacobian(func, inputs, create_graph: bool = False, strict: bool = False,
             vectorize: bool = False, strategy: str = "reverse-mode"):  # fmt: skip
    """The Jacobian of ``func`` at ``inputs``: for one input and one output a tensor of shape
    output.shape + input.shape; for tuples, a tuple (over outputs) of tuples (over inputs),
    collapsed where func takes or returns a single tensor, as torch.autograd.functional.
    Either ``strategy`` gives the same numbers (ember computes both in reverse mode)."""
    _check_vectorize("jacobian", vectorize, strict)
    if strategy not in ("reverse-mode", "forward-mode"):
        raise ValueError(
            f"jacobian: strategy must be 'reverse-mode' or 'forward-mode', got {strategy!r}"
        )
    leaves, outs, in_tuple, out_tuple = _run(func, inputs, "jacobian", create_graph)
    rows = [tuple(row) for row in _jacobian_blocks(outs, leaves, strict, "jacobian", create_graph)]
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
        raise BadShapeOrValue(
            f"{op}: v has shapes {[tuple(a.shape) for a in vs]}, but the {what} has "
            f"{[tuple(t.shape) for t in like]}"
        )
    return list(vs)


def vjp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T J): the vector-Jacobian product, one backward pass."""
    leaves, outs, in_tuple, out_tuple = _run(func, inputs, "vjp", create_graph)
    vs = _vectors(v, outs, "vjp", "function's output")
    got = _grads(outs, leaves, vs, strict, "vjp", create_graph)
    out = tuple(_detached(o, create_graph) for o in outs)
    return (out if out_tuple else out[0]), (tuple(got) if in_tuple else got[0])


def jvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), J v): the Jacobian-vector product, here through the Jacobian (one
    backward pass per output element: fine for the small functions it is used on)."""
    _, ins = _as_tuple(inputs, "jvp", "inputs")
    vs = [_detached(vec, create_graph) for vec in _vectors(v, ins, "jvp", "input")]
    leaves, outs, _, out_tuple = _run(func, inputs, "jvp", create_graph)
    products = []
    for o, row in zip(outs, _jacobian_blocks(outs, leaves, strict, "jvp", create_graph)):
        total = None
        for block, vec in zip(row, vs):
            term = block.reshape(o.data.size, vec.data.size) @ vec.reshape(vec.data.size)
            total = term if total is None else total + term
        products.append(total.reshape(o.shape))
    out = tuple(_detached(o, create_graph) for o in outs)
    return (out if out_tuple else out[0]), (tuple(products) if out_tuple else products[0])


def _scalar_output(outs, op: str) -> None:
    if len(outs) != 1 or outs[0].data.size != 1:
        raise RuntimeError(
            f"{op}: the function given to {op} should return a single Tensor with a single "
            f"element, got {len(outs)} tensors of shapes {[tuple(o.shape) for o in outs]}"
        )


def hessian(func, inputs, create_graph: bool = False, strict: bool = False,
            vectorize: bool = False, outer_jacobian_strategy: str = "reverse-mode"):  # fmt: skip
    """The Hessian of a scalar ``func`` at ``inputs``: the Jacobian of its gradient, shaped
    input.shape + input.shape for one input, a tuple of tuples (H[i][j] = d2 f / dx_i dx_j)
    for several, as torch.autograd.functional.hessian."""
    _check_vectorize("hessian", vectorize, strict)

    def gradient(*xs):
        outs = _as_tuple(func(*xs), "hessian", "function's output")[1]
        _scalar_output(outs, "hessian")
        return tuple(_grads(outs, xs, [None], strict, "hessian", create_graph=True))

    in_tuple = isinstance(inputs, tuple | list)
    jac = jacobian(gradient, inputs, create_graph, strict, strategy=outer_jacobian_strategy)
    return jac if in_tuple else jac[0]


def vhp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), v^T H) for a scalar ``func``: the gradient of <grad f, v>, two passes."""
    return _hessian_product(func, inputs, v, create_graph, strict, "vhp")


def hvp(func, inputs, v=None, create_graph: bool = False, strict: bool = False):
    """(func(inputs), H v) for a scalar ``func``; the Hessian of a twice continuously
    differentiable function is symmetric, so this is v^T H, computed as vhp."""
    return _hessian_product(func, inputs, v, create_graph, strict, "hvp")


def _hessian_product(func, inputs, v, create_graph: bool, strict: bool, op: str):
    leaves, outs, in_tuple, _ = _run(func, inputs, op, create_graph)
    _scalar_output(outs, op)
    vs = _vectors(v, leaves, op, "input")
    grads = _grads(outs, leaves, [None], strict, op, create_graph=True)
    got = _grads(grads, leaves, vs, strict, op, create_graph)
    return _detached(outs[0], create_graph), (tuple(got) if in_tuple else got[0])
