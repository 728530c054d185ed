"""Gradient checking by central finite differences in float64: first derivatives (gradcheck)
and second derivatives (gradgradcheck)."""

from __future__ import annotations

import numpy as np

from ember.autograd.engine import grad
from ember.autograd.function import enable_grad, no_grad
from ember.tensor import Tensor


def _flat_output(out):
    outs = out if isinstance(out, tuple | list) else (out,)
    return [o for o in outs if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _checked_inputs(inputs, op: str):
    """(inputs as a tuple, the positions of those that require grad)."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not checked:
        raise ValueError(f"{op}: no input requires grad")
    return inputs, checked


def gradcheck(
    fn,
    inputs,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Compare autograd's gradients of ``fn(*inputs)`` with central differences.

    Every input that requires grad must be float64 (float32 differences are too coarse).
    Each output is reduced with fixed random weights, so one backward checks the whole
    Jacobian-vector product; each input element is perturbed by +-eps.

    Args:
        fn: callable taking the inputs and returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of them (and other arguments, passed as they are).
        eps, atol, rtol: the perturbation and the tolerances ``|a - n| <= atol + rtol*|n|``.
        raise_exception: raise RuntimeError on a mismatch (else return False).

    Example::

        >>> x = ember.randn(3, 4, dtype=np.float64, requires_grad=True)
        >>> ember.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
        True
    """
    inputs, checked = _checked_inputs(inputs, "gradcheck")
    for i in checked:
        if inputs[i].dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; use float64 inputs "
                "(finite differences in float32 are too coarse)"
            )

    outs = _flat_output(fn(*inputs))
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(o.shape) for o in outs]

    def scalar(values) -> float:
        return float(sum(np.sum(w * o.data) for w, o in zip(weights, values)))

    for i in checked:
        if not inputs[i].data.flags.c_contiguous:  # perturbation needs a flat view
            inputs[i].data = np.ascontiguousarray(inputs[i].data)
    loss = None
    for w, o in zip(weights, outs):
        if not o.requires_grad:
            continue
        term = (o * Tensor(w)).sum()
        loss = term if loss is None else loss + term
    if loss is None:
        raise ValueError("gradcheck: no output depends on the inputs that require grad")
    # autograd.grad, not backward: the inputs' .grad stay as they were (as PyTorch)
    grads = grad(loss, [inputs[i] for i in checked], allow_unused=True)

    for i, g in zip(checked, grads):
        x = inputs[i]
        analytic = np.zeros(x.shape) if g is None else np.asarray(g.data, np.float64)
        numeric = np.zeros(x.shape)
        flat = x.data.reshape(-1)
        with no_grad():
            for k in range(flat.size):
                orig = flat[k]
                flat[k] = orig + eps
                plus = scalar(_flat_output(fn(*inputs)))
                flat[k] = orig - eps
                minus = scalar(_flat_output(fn(*inputs)))
                flat[k] = orig
                numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        bad = np.abs(analytic - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            if not raise_exception:
                return False
            k = int(np.flatnonzero(bad.reshape(-1))[0])
            raise RuntimeError(
                f"gradcheck: gradient of input {i} (shape {x.shape}) differs from finite "
                f"differences at flat index {k}: analytic {analytic.reshape(-1)[k]:.8g}, "
                f"numeric {numeric.reshape(-1)[k]:.8g} ({int(bad.sum())} of {bad.size} "
                "elements off)"
            )
    return True


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
) -> bool:
    """Check second derivatives, as torch.autograd.gradgradcheck: ``gradcheck`` of the map
    (inputs, grad_outputs) -> the gradients of ``func``'s outputs (weighted by grad_outputs)
    with respect to the inputs, computed with create_graph=True. ``grad_outputs`` default to
    fixed random float64 tensors; they count as inputs, so the gradient's dependence on them
    is checked too. (``gen_non_contig_grad_outputs`` is accepted and has no effect.)
    """
    inputs, checked = _checked_inputs(inputs, "gradgradcheck")
    with enable_grad():
        outs = [o for o in _flat_output(func(*inputs)) if o.requires_grad]
    if not outs:
        raise ValueError("gradgradcheck: no output depends on the inputs that require grad")
    if grad_outputs is None:
        rng = np.random.default_rng(1)
        grad_outputs = [Tensor(rng.standard_normal(o.shape)) for o in outs]
    grad_outputs = [grad_outputs] if isinstance(grad_outputs, Tensor) else list(grad_outputs)
    if len(grad_outputs) != len(outs):
        raise ValueError(
            f"gradgradcheck: {len(outs)} differentiable outputs but {len(grad_outputs)} "
            "grad_outputs"
        )
    grad_outputs = [
        Tensor(np.array(g.data if isinstance(g, Tensor) else g, np.float64), requires_grad=True)
        for g in grad_outputs
    ]
    n = len(inputs)

    def first_gradients(*args):
        xs, gos = args[:n], args[n:]
        with enable_grad():
            ys = [o for o in _flat_output(func(*xs)) if o.requires_grad]
            got = grad(ys, [xs[i] for i in checked], gos, create_graph=True, allow_unused=True)
        return tuple(g for g in got if g is not None)

    return gradcheck(
        first_gradients,
        inputs + tuple(grad_outputs),
        eps=eps,
        atol=atol,
        rtol=rtol,
        raise_exception=raise_exception,
    )
