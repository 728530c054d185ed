"""torch.func's function transforms, built on ember's autograd.

``grad(f)(x)`` is df/dx as a function, ``vjp``, ``jvp`` (forward mode: autograd.forward_ad),
``jacrev`` / ``jacfwd`` give Jacobians, and
``vmap(f)`` maps ``f`` over a batch dimension; ``functional_call`` runs a module with given
parameters. Arguments may be tensors or pytrees of them (tuples, lists, dicts), so the
per-sample-gradient idiom works::

    params = dict(model.named_parameters())
    def loss(p, x, y):
        return F.cross_entropy(functional_call(model, p, (x[None],)), y[None])
    per_sample = vmap(grad(loss), in_dims=(None, 0, 0))(params, xs, ys)

How it differs from PyTorch: ``vmap`` runs ``f`` once per sample and stacks the results
(PyTorch batches the ops themselves), so it gives the same values at a loop's speed; ``jacfwd``
computes with reverse mode (the same Jacobian). Transforms compose (``grad(grad(f))``,
``hessian``, ``vmap(grad(f))``) through ember's higher-order gradients.
"""

from __future__ import annotations

import numpy as np

from ember import _lowp
from ember import random as _random
from ember.autograd import enable_grad, forward_ad, is_grad_enabled
from ember.autograd import grad as _autograd_grad
from ember.nn.utils.stateless import functional_call
from ember.ops import stack
from ember.tensor import Tensor

__all__ = [
    "functional_call", "grad", "grad_and_value", "hessian", "jacfwd", "jacrev", "jvp", "vjp",
    "vmap", "stack_module_state", "linearize", "functionalize", "replace_all_batch_norm_modules_",
]  # fmt: skip


# --- pytrees: nested tuples, lists and dicts with tensors (or anything) at the leaves -----------


def _flatten(tree) -> tuple[list, object]:
    """The leaves of ``tree`` in order, and a spec to rebuild it with other leaves."""
    if isinstance(tree, tuple | list):
        leaves, specs = [], []
        for item in tree:
            sub, spec = _flatten(item)
            leaves += sub
            specs.append((len(sub), spec))
        return leaves, (type(tree), specs)
    if isinstance(tree, dict):
        leaves, specs = [], []
        for k, item in tree.items():
            sub, spec = _flatten(item)
            leaves += sub
            specs.append((k, len(sub), spec))
        return leaves, (dict, specs)
    return [tree], None


def _unflatten(leaves: list, spec):
    if spec is None:
        return leaves[0]
    kind, specs = spec
    out, i = [], 0
    if kind is dict:
        result = {}
        for k, n, sub in specs:
            result[k] = _unflatten(leaves[i : i + n], sub)
            i += n
        return result
    for n, sub in specs:
        out.append(_unflatten(leaves[i : i + n], sub))
        i += n
    if kind is list:
        return out
    return kind(*out) if hasattr(kind, "_fields") else kind(out)  # (namedtuples: svd's, qr's)


# --- grad, vjp, Jacobians ----------------------------------------------------------------------


def _argnums(argnums, nargs: int, op: str) -> tuple:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(n, int) and not isinstance(n, bool) for n in nums):
        raise TypeError(
            f"{op}: argnums must be an int or a non-empty tuple of ints, got {argnums!r}"
        )
    for n in nums:
        if not -nargs <= n < nargs:
            raise ValueError(
                f"{op}: Got argnums={argnums} but only {nargs} positional inputs were given"
            )
    out = tuple(n % nargs for n in nums)
    if len(set(out)) != len(out):  # one input twice: its gradient would be ambiguous
        raise RuntimeError(f"{op}: argnums elements must be unique, got {argnums}")
    return out


def _leaf(x, op: str) -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{op}: expected the differentiated inputs to be tensors, got {type(x).__name__}"
        )
    if not _lowp.is_float(x.dtype):
        raise TypeError(f"{op}: only floating-point tensors can be differentiated, got {x.dtype}")
    # An input that already carries a graph (an outer transform's, or the caller's) is kept, so
    # the result stays differentiable with respect to it: grad(grad(f)), hessian.
    return x if _nested([x]) else x.detach().requires_grad_()


def _nested(inputs) -> bool:
    return is_grad_enabled() and any(isinstance(x, Tensor) and x.requires_grad for x in inputs)


def _aux(aux, nested: bool):
    """has_aux's aux as torch.func hands it back: cut from the transform's own graph (its
    tensors need no grad unless an outer transform or the caller's inputs carry one)."""
    if nested:
        return aux
    leaves, spec = _flatten(aux)
    return _unflatten([x.detach() if isinstance(x, Tensor) else x for x in leaves], spec)


def _gradients(out: Tensor, leaves: list, grad_output=None, create_graph=False) -> list:
    """d(out)/d(leaf) for each leaf; zeros where out does not depend on it (as torch.func).
    With create_graph the gradients are recorded, for a transform around this one."""
    if not out.requires_grad:
        return [Tensor(np.zeros_like(x.data)) for x in leaves]
    return list(_autograd_grad(
        [out], leaves, grad_outputs=None if grad_output is None else [grad_output],
        retain_graph=True, create_graph=create_graph, materialize_grads=True,
    ))  # fmt: skip


def grad_and_value(func, argnums=0, has_aux: bool = False):
    """A function returning (gradient, value) of the scalar ``func`` with respect to the
    arguments ``argnums`` (with has_aux: (gradient, (value, aux)))."""

    def wrapper(*args, **kwargs):
        nums = _argnums(argnums, len(args), "grad")
        args = list(args)
        nested = _nested(x for n in nums for x in _flatten(args[n])[0])
        trees = {}
        for n in nums:
            leaves, spec = _flatten(args[n])
            leaves = [_leaf(x, "grad") for x in leaves]
            trees[n] = (leaves, spec)
            args[n] = _unflatten(leaves, spec)
        with enable_grad():
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                if not (isinstance(out, tuple) and len(out) == 2):
                    raise RuntimeError(
                        "grad_and_value(f)(*args): output of function f should be a tuple: "
                        "(output, aux) if has_aux is True"
                    )
                out, aux = out
            if not isinstance(out, Tensor):  # (torch's words)
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a Tensor, got "
                    f"{type(out)}"
                )
            if out.dim() != 0:
                raise RuntimeError(
                    "grad_and_value(f)(*args): Expected f(*args) to return a scalar Tensor, got "
                    f"tensor with {out.dim()} dims. Maybe you wanted to use the vjp or jacrev "
                    "APIs instead?"
                )
            all_leaves = [x for n in nums for x in trees[n][0]]
            grads = _gradients(out, all_leaves, create_graph=nested)
        result, i = [], 0
        for n in nums:
            leaves, spec = trees[n]
            result.append(_unflatten(grads[i : i + len(leaves)], spec))
            i += len(leaves)
        g = result[0] if isinstance(argnums, int) else tuple(result)
        value = out if nested else out.detach()
        return (g, (value, _aux(aux, nested))) if has_aux else (g, value)

    return wrapper


def grad(func, argnums=0, has_aux: bool = False):
    """``grad(f)(*args)``: the gradient of the scalar ``f`` with respect to ``args[argnums]``
    (a tensor or a pytree of them, answered in the same structure)."""
    inner = grad_and_value(func, argnums, has_aux)

    def wrapper(*args, **kwargs):
        g, value = inner(*args, **kwargs)
        return (g, value[1]) if has_aux else g

    return wrapper


def vjp(func, *primals, has_aux: bool = False):
    """(func(*primals), vjp_fn): ``vjp_fn(cotangents)`` gives one gradient per primal."""
    flat = [_flatten(p) for p in primals]
    nested = _nested(x for f in flat for x in f[0])
    leaves = [[_leaf(x, "vjp") for x in f[0]] for f in flat]
    args = [_unflatten(lv, f[1]) for lv, f in zip(leaves, flat)]
    with enable_grad():
        out = func(*args)
    aux = None
    if has_aux:
        out, aux = out
    outs, out_spec = _flatten(out)
    all_leaves = [x for lv in leaves for x in lv]

    def vjp_fn(cotangents):
        cots, _ = _flatten(cotangents)
        if len(cots) != len(outs):
            raise ValueError(f"vjp: expected {len(outs)} cotangents, got {len(cots)}")
        total = [Tensor(np.zeros_like(x.data)) for x in all_leaves]
        for o, c in zip(outs, cots):
            if not isinstance(c, Tensor):
                raise TypeError(f"vjp: cotangents must be tensors, got {type(c).__name__}")
            if tuple(c.shape) != tuple(o.shape):
                raise ValueError(
                    f"vjp: cotangent of shape {tuple(c.shape)} for an output of shape "
                    f"{tuple(o.shape)}"
                )
            with enable_grad():
                for j, g in enumerate(_gradients(o, all_leaves, c, nested)):
                    total[j] = total[j] + g
        result, i = [], 0
        for lv, f in zip(leaves, flat):
            result.append(_unflatten(total[i : i + len(lv)], f[1]))
            i += len(lv)
        return tuple(result)

    detached = _unflatten([o if nested else o.detach() for o in outs], out_spec)
    return (detached, vjp_fn, _aux(aux, nested)) if has_aux else (detached, vjp_fn)


def jvp(func, primals, tangents, *, strict: bool = False, has_aux: bool = False):
    """(func(*primals), J·tangents) in forward mode (ember.autograd.forward_ad), as
    torch.func.jvp: ``primals`` and ``tangents`` are tuples of tensors (or pytrees) of the
    same structure; an output that does not depend on the primals gets a zero tangent."""
    if not isinstance(primals, tuple) or not isinstance(tangents, tuple):
        raise TypeError(
            f"jvp: primals and tangents must be tuples, got {type(primals).__name__} and "
            f"{type(tangents).__name__}"
        )
    flat_p, spec = _flatten(primals)
    flat_t, tspec = _flatten(tangents)
    if len(flat_p) != len(flat_t) or spec != tspec:
        raise ValueError("jvp: primals and tangents must have the same structure")
    for p, t in zip(flat_p, flat_t):
        if not isinstance(p, Tensor) or not isinstance(t, Tensor):
            raise TypeError("jvp: primals and tangents must be (pytrees of) tensors")
    nested = _nested(flat_p)
    with forward_ad.dual_level(), enable_grad():
        duals = [forward_ad.make_dual(p, t) for p, t in zip(flat_p, flat_t)]
        out = func(*_unflatten(duals, spec))
        aux = None
        if has_aux:
            out, aux = out
        outs, out_spec = _flatten(out)
        prims, tans = [], []
        for o in outs:
            if not isinstance(o, Tensor):
                raise TypeError(f"jvp: f must return tensors, got {type(o).__name__}")
            primal, tangent = forward_ad.unpack_dual(o)
            prims.append(primal if nested else primal.detach())
            tans.append(Tensor(np.zeros_like(o.data)) if tangent is None else tangent)
    result = (_unflatten(prims, out_spec), _unflatten(tans, out_spec))
    return (*result, _aux(aux, nested)) if has_aux else result


def jacrev(func, argnums=0, *, has_aux: bool = False, chunk_size=None):
    """``jacrev(f)(*args)``: the Jacobian of ``f`` (a tensor, or a pytree of tensors) with
    respect to ``args[argnums]``, of shape ``output.shape + input.shape``; an argument that is
    a pytree (a dict of parameters) gets a Jacobian of the same structure."""

    def wrapper(*args, **kwargs):
        nums = _argnums(argnums, len(args), "jacrev")
        args = list(args)
        flat = [_flatten(args[n]) for n in nums]
        nested = _nested(x for f in flat for x in f[0])
        wrt = []
        for n, (leaves, spec) in zip(nums, flat):
            leaves = [_leaf(x, "jacrev") for x in leaves]
            args[n] = _unflatten(leaves, spec)
            wrt += leaves
        with enable_grad():
            out = func(*args, **kwargs)
            aux = None
            if has_aux:
                out, aux = out
            outs, spec = _flatten(out)
            blocks = []
            for o in outs:
                if not isinstance(o, Tensor):
                    raise TypeError(f"jacrev: f must return tensors, got {type(o).__name__}")
                rows = [[] for _ in wrt]
                flat_o = o.reshape(-1)
                for k in range(flat_o.numel()):
                    for j, g in enumerate(_gradients(flat_o[k], wrt, create_graph=nested)):
                        rows[j].append(g)
                jac = [_jacobian(r, tuple(o.shape) + tuple(x.shape), x, nested)
                       for r, x in zip(rows, wrt)]  # fmt: skip
                per_arg, i = [], 0
                for leaves, arg_spec in flat:
                    per_arg.append(_unflatten(jac[i : i + len(leaves)], arg_spec))
                    i += len(leaves)
                blocks.append(per_arg[0] if isinstance(argnums, int) else tuple(per_arg))
        result = _unflatten(blocks, spec)
        return (result, _aux(aux, nested)) if has_aux else result

    return wrapper


def _jacobian(rows: list, shape: tuple, x: Tensor, nested: bool) -> Tensor:
    """The gradient rows of one output with respect to x, as one tensor of ``shape``."""
    if not rows:
        return Tensor(np.zeros(shape, x.dtype))
    if nested:  # recorded: a transform around this one differentiates it
        return stack(rows).reshape(shape)
    return Tensor(np.stack([r.data for r in rows]).reshape(shape))


def jacfwd(func, argnums=0, has_aux: bool = False, *, randomness: str = "error"):
    """The Jacobian as jacrev gives it (ember computes it in reverse mode)."""
    return jacrev(func, argnums, has_aux=has_aux)


def hessian(func, argnums=0):
    """``hessian(f)(*args)``: the matrix of second derivatives of the scalar ``f``, of shape
    ``input.shape + input.shape`` (the Jacobian of the gradient, as torch.func.hessian)."""
    return jacfwd(jacrev(func, argnums), argnums)


# --- vmap --------------------------------------------------------------------------------------


def _broadcast_dims(in_dims, args, op: str) -> list:
    """One in_dim (int or None) per leaf of args."""
    if isinstance(in_dims, int) or in_dims is None:
        return [in_dims] * len(_flatten(args)[0])
    if not isinstance(in_dims, tuple) or len(in_dims) != len(args):
        raise ValueError(
            f"{op}: in_dims is not compatible with the structure of `inputs`: in_dims has "
            f"{len(in_dims) if isinstance(in_dims, tuple) else type(in_dims).__name__} entries "
            f"but there are {len(args)} inputs"
        )
    dims = []
    for d, a in zip(in_dims, args):
        n = len(_flatten(a)[0])
        if isinstance(d, int) or d is None:
            dims += [d] * n
        else:
            sub, _ = _flatten(d)
            if len(sub) != n:
                raise ValueError(f"{op}: in_dims {d!r} does not match the structure of its input")
            dims += sub
    return dims


def vmap(func, in_dims=0, out_dims=0, randomness: str = "error", *, chunk_size=None):
    """``vmap(f)(*args)``: f applied to each slice of the arguments along ``in_dims`` (None:
    not mapped), the results stacked along ``out_dims``. ``randomness``: 'error' refuses random
    draws inside f, 'different' gives each slice its own, 'same' the same ones to all."""
    if randomness not in ("error", "different", "same"):
        raise ValueError(
            f"Only allowed values for randomness are 'error', 'different', or 'same'. Got "
            f"{randomness}"
        )

    def wrapper(*args, **kwargs):
        leaves, spec = _flatten(list(args))
        dims = _broadcast_dims(in_dims, args, "vmap")
        sizes = set()
        for x, d in zip(leaves, dims):
            if d is None:
                continue
            if not isinstance(x, Tensor):
                raise ValueError(
                    f"vmap: Got in_dim={d} for an input but the input is of type "
                    f"{type(x).__name__}. We cannot vmap over non-Tensor arguments"
                )
            if not -x.dim() <= d < max(x.dim(), 1) or x.dim() == 0:
                raise ValueError(
                    f"vmap: Got in_dim={d} for some input, but that input is a Tensor of "
                    f"dimensionality {x.dim()} so expected in_dim to satisfy "
                    f"-{x.dim()} <= in_dim < {x.dim()}."
                )
            sizes.add(x.shape[d])
        if not sizes:
            raise ValueError(
                "vmap: at least one argument must be a Tensor being vmapped over (in_dims all None)"
            )
        if len(sizes) > 1:
            raise ValueError(
                f"vmap: Expected all tensors to have the same size in the mapped dimension, "
                f"got sizes {sorted(sizes)} for the mapped dimension"
            )
        (batch,) = sizes
        if batch == 0:
            return _empty_batch(func, leaves, dims, spec, kwargs, out_dims)
        state = _random.get_rng_state()
        results = []
        for i in range(batch):
            if randomness == "same":
                _random.set_rng_state(state)
            sliced = [x if d is None else x.select(d, i) for x, d in zip(leaves, dims)]
            before = _random.get_rng_state().tolist() if randomness == "error" else None
            out = func(*_unflatten(sliced, spec), **kwargs)
            if before is not None and _random.get_rng_state().tolist() != before:
                raise RuntimeError(
                    "vmap: called random operation while in randomness error mode. Please "
                    "either use the 'same' or 'different' randomness flags on vmap or perform "
                    "the randomness operation out of vmap"
                )
            results.append(_flatten(out))
        out_spec = results[0][1]
        n_out = len(results[0][0])
        odims = [out_dims] * n_out if isinstance(out_dims, int) else list(_flatten(out_dims)[0])
        if len(odims) != n_out:
            raise ValueError(f"vmap: out_dims {out_dims!r} does not match the {n_out} outputs")
        stacked = []
        for j in range(n_out):
            column = [r[0][j] for r in results]
            if not all(isinstance(c, Tensor) for c in column):
                bad = next(type(c).__name__ for c in column if not isinstance(c, Tensor))
                raise ValueError(
                    f"vmap: f must return Tensors (or tuples / lists / dicts of them), got {bad}"
                )
            stacked.append(stack(column, odims[j]))
        return _unflatten(stacked, out_spec)

    return wrapper


def _empty_batch(func, leaves, dims, spec, kwargs, out_dims):
    """vmap over a batch of 0: f runs once on a zero slice for the outputs' shapes, and each
    output is an empty stack of them (torch runs f on the empty batch itself)."""
    sliced = [
        x
        if d is None
        else Tensor(np.zeros(x.shape[: d % x.dim()] + x.shape[d % x.dim() + 1 :], x.data.dtype))
        for x, d in zip(leaves, dims)
    ]
    outs, out_spec = _flatten(func(*_unflatten(sliced, spec), **kwargs))
    odims = [out_dims] * len(outs) if isinstance(out_dims, int) else list(_flatten(out_dims)[0])
    empty = []
    for o, d in zip(outs, odims, strict=True):
        shape = list(o.shape)
        shape.insert(d % (len(shape) + 1), 0)
        empty.append(Tensor(np.zeros(shape, o.data.dtype)))
    return _unflatten(empty, out_spec)


def stack_module_state(models) -> tuple[dict, dict]:
    """(params, buffers) of same-class ``models``, each entry stacked along a new dim 0, for
    ``vmap(functional_call)`` over an ensemble (torch.func.stack_module_state). Stacked
    parameters are new leaves that require grad where the originals do."""
    models = list(models)
    if not models:
        raise RuntimeError("stack_module_state: Expected at least one model, got 0.")
    if len({m.training for m in models}) > 1:
        raise RuntimeError(
            "stack_module_state: Expected all models to have the same training/eval mode."
        )
    if len({type(m) for m in models}) > 1:
        raise RuntimeError("stack_module_state: Expected all models to be of the same class.")

    def stacked(named):
        per_model = [dict(named(m)) for m in models]
        out = {}
        for name in per_model[0]:
            ts = [entries[name] for entries in per_model]
            grads = {t.requires_grad for t in ts}
            if len(grads) > 1:
                raise RuntimeError(
                    f"Expected {name} from each model to have the same .requires_grad"
                )
            out[name] = stack(ts).detach().requires_grad_(grads.pop())
        return out

    return stacked(lambda m: m.named_parameters()), stacked(lambda m: m.named_buffers())


def linearize(func, *primals):
    """(func(*primals), jvp_fn): ``jvp_fn(*tangents)`` is the Jacobian-vector product of func
    at primals (torch.func.linearize; each call runs forward mode again)."""
    out = func(*primals)

    def jvp_fn(*tangents):
        return jvp(func, primals, tangents)[1]

    return out, jvp_fn


def functionalize(func, *, remove: str = "mutations"):
    """``func`` itself: torch.func.functionalize rewrites in-place ops out of place for its
    graph tracers, which changes no eager result; ember runs eagerly."""
    if remove not in ("mutations", "mutations_and_views"):
        raise RuntimeError(
            f"functionalize(f, remove='mutations'): received invalid argument for remove={remove}. "
            "Valid options are:\n     remove='mutations': ...\n     "
            "remove='mutations_and_views': ..."
        )
    return func


def replace_all_batch_norm_modules_(root):
    """Make every batch norm in ``root`` use batch statistics only (no running statistics),
    in place, as vmap over a model needs (torch.func.replace_all_batch_norm_modules_)."""
    from ember.nn.modules.batchnorm import _BatchNorm

    for module in root.modules():
        if isinstance(module, _BatchNorm) and module.track_running_stats:
            module.running_mean = None
            module.running_var = None
            module.num_batches_tracked = None
            module.track_running_stats = False
    return root
