"""Gradient checking by central finite differences in float64: first derivatives (gradcheck)
and second derivatives (gradgradcheck)."""

from __future__ import annotations

import numpy as np

from ember import _lowp
from ember.autograd.engine import grad
from ember.autograd.function import enable_grad, no_grad
from ember.tensor import Tensor


class GradcheckError(RuntimeError):
    """gradcheck's and gradgradcheck's mismatch (torch.autograd.GradcheckError)."""


def _flat_output(out):
    """The differentiable outputs, a complex one as its real and imaginary parts (torch's
    gradcheck checks both)."""
    outs = out if isinstance(out, tuple | list) else (out,)
    flat = []
    for o in outs:
        if isinstance(o, Tensor) and o.dtype.kind == "c":
            flat += [o.real, o.imag]
        elif isinstance(o, Tensor) and _lowp.is_float(o.dtype):
            flat.append(o)
    return flat


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
    *,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_batched_forward_grad: bool = False,
    check_forward_ad: bool = False,
    check_backward_ad: bool = True,
    fast_mode: bool = False,
    masked: bool | None = None,
) -> bool:
    """Compare autograd's gradients of ``fn(*inputs)`` with central differences.

    Every input that requires grad must be float64 (float32 differences are too coarse).
    Each output is reduced with fixed random weights, so one backward checks the whole
    Jacobian-vector product; each input element is perturbed by +-eps.

    Args:
        fn: callable taking the inputs and returning a Tensor or a tuple of Tensors.
        inputs: a Tensor or a tuple of them (and other arguments, passed as they are).
        eps, atol, rtol: the perturbation and the tolerances ``|a - n| <= atol + rtol*|n|``.
        raise_exception: raise GradcheckError (a RuntimeError) on a mismatch (else return False).

    Example::

        >>> x = ember.randn(3, 4, dtype=np.float64, requires_grad=True)
        >>> ember.autograd.gradcheck(lambda t: (t * t).sum(), (x,))
        True

    torch's keywords: ``check_backward_ad`` (the check above), ``check_forward_ad``
    (forward-mode JVPs along a random direction per input against central differences along
    it), ``check_grad_dtypes`` (each gradient has its input's dtype). ember's check is
    always torch's fast mode (random projections) and its kernels are deterministic, so
    ``fast_mode`` and ``nondet_tol`` change nothing; the batched and undefined-gradient
    checks test torch's vmap and undefined-tensor machinery, which ember does not have, and
    are accepted as no-ops.
    """
    if masked:
        raise ValueError("gradcheck: masked=True is for sparse inputs, which ember lacks")
    if not 0.0 < eps < float("inf"):  # (0 divided by zero; NaN made every difference NaN)
        raise ValueError(f"gradcheck: eps must be a positive finite number, got {eps}")
    inputs, checked = _checked_inputs(inputs, "gradcheck")
    for i in checked:
        if inputs[i].dtype not in (np.float64, np.complex128):
            raise TypeError(
                f"gradcheck: input {i} is {inputs[i].dtype}; use float64 or complex128 inputs "
                "(finite differences in float32 are too coarse)"
            )
    for i in checked:
        if not inputs[i].data.flags.c_contiguous:  # perturbation needs a flat view
            inputs[i].data = np.ascontiguousarray(inputs[i].data)
    ok = True
    if check_backward_ad:
        ok = _check_backward(
            fn, inputs, checked, eps, atol, rtol, raise_exception, check_grad_dtypes
        )
    if ok and check_forward_ad:
        ok = _check_forward(fn, inputs, checked, eps, atol, rtol, raise_exception)
    return ok


def _check_backward(fn, inputs, checked, eps, atol, rtol, raise_exception, check_dtypes) -> bool:
    outs = _flat_output(fn(*inputs))
    rng = np.random.default_rng(0)
    weights = [rng.standard_normal(o.shape) for o in outs]
    # An output that is NaN or infinite at the inputs has no derivative to check (a NaN in the
    # sum would turn every difference into NaN): it is left out of the reduction.
    # Integer and bool outputs are not differentiable: torch's check leaves them out too.
    weights = [
        np.where(np.isfinite(o.data), w, 0.0) * (o.data.dtype.kind not in "biu")
        for w, o in zip(weights, outs)
    ]
    finite = [np.isfinite(o.data) for o in outs]

    def scalar(values) -> float:
        return float(sum(np.sum(w * o.data, where=f) for w, o, f in zip(weights, values, finite)))

    loss = None
    for w, o in zip(weights, outs):
        if not o.requires_grad:
            continue
        term = (o * Tensor(w)).sum()
        loss = term if loss is None else loss + term
    # autograd.grad, not backward: the inputs' .grad stay as they were (as PyTorch). With no
    # output in the graph every analytic gradient is zero, and the finite differences must
    # agree (torch's "Numerical gradient for function expected to be zero").
    grads = (
        [None] * len(checked)
        if loss is None
        else grad(loss, [inputs[i] for i in checked], allow_unused=True)
    )

    for i, g in zip(checked, grads):
        x = inputs[i]
        if check_dtypes and g is not None and g.dtype != x.dtype:
            return _fail(raise_exception, f"gradcheck: gradient of input {i} is {g.dtype}, "
                                          f"the input is {x.dtype}")  # fmt: skip
        dt = x.dtype  # complex: torch's gradient dL/dRe + i dL/dIm, each part perturbed
        analytic = np.zeros(x.shape, dt) if g is None else np.asarray(g.data, dt)
        numeric = np.zeros(x.shape, dt)
        flat = x.data.reshape(-1)
        with no_grad():
            for step in (eps, 1j * eps) if dt.kind == "c" else (eps,):
                for k in range(flat.size):
                    orig = flat[k]
                    flat[k] = orig + step
                    plus = scalar(_flat_output(fn(*inputs)))
                    flat[k] = orig - step
                    minus = scalar(_flat_output(fn(*inputs)))
                    flat[k] = orig
                    numeric.reshape(-1)[k] += (plus - minus) / (2 * eps) * (step / eps)
        bad = ~(np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric))  # NaN: a mismatch
        if bad.any():
            k = int(np.flatnonzero(bad.reshape(-1))[0])
            return _fail(
                raise_exception,
                f"gradcheck: gradient of input {i} (shape {x.shape}) differs from finite "
                f"differences at flat index {k}: analytic {analytic.reshape(-1)[k]:.8g}, "
                f"numeric {numeric.reshape(-1)[k]:.8g} ({int(bad.sum())} of {bad.size} "
                "elements off)",
            )
    return True


def _check_forward(fn, inputs, checked, eps, atol, rtol, raise_exception) -> bool:
    """J u from forward mode, u a random direction in all checked inputs at once, against
    (f(x + eps u) - f(x - eps u)) / 2 eps."""
    from ember.autograd import forward_ad

    rng = np.random.default_rng(2)
    dirs = {i: rng.standard_normal(inputs[i].shape) for i in checked}

    def shifted(sign):
        moved = list(inputs)
        for i, u in dirs.items():
            moved[i] = Tensor(inputs[i].data + sign * eps * u, requires_grad=True)
        with no_grad():
            return [o.data.astype(np.float64) for o in _flat_output(fn(*moved))]

    with forward_ad.dual_level():
        duals = list(inputs)
        for i, u in dirs.items():
            duals[i] = forward_ad.make_dual(inputs[i].detach().requires_grad_(), Tensor(u))
        outs = _flat_output(fn(*duals))
        tangents = [forward_ad.unpack_dual(o).tangent for o in outs]
    plus, minus = shifted(1.0), shifted(-1.0)
    for j, (t, p, m) in enumerate(zip(tangents, plus, minus)):
        analytic = np.zeros(p.shape) if t is None else np.asarray(t.data, np.float64)
        numeric = (p - m) / (2 * eps)
        bad = ~(np.abs(analytic - numeric) <= atol + rtol * np.abs(numeric))  # NaN: a mismatch
        if bad.any():
            k = int(np.flatnonzero(bad.reshape(-1))[0])
            return _fail(
                raise_exception,
                f"gradcheck: forward-mode derivative of output {j} (shape {p.shape}) differs "
                f"from finite differences at flat index {k}: analytic "
                f"{analytic.reshape(-1)[k]:.8g}, numeric {numeric.reshape(-1)[k]:.8g}",
            )
    return True


def _fail(raise_exception: bool, message: str) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False


def gradgradcheck(
    func,
    inputs,
    grad_outputs=None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    gen_non_contig_grad_outputs: bool = False,
    raise_exception: bool = True,
    *,
    nondet_tol: float = 0.0,
    check_undefined_grad: bool = True,
    check_grad_dtypes: bool = False,
    check_batched_grad: bool = False,
    check_fwd_over_rev: bool = False,
    check_rev_over_rev: bool = True,
    fast_mode: bool = False,
    masked: bool = False,
) -> bool:
    """Check second derivatives, as torch.autograd.gradgradcheck: ``gradcheck`` of the map
    (inputs, grad_outputs) -> the gradients of ``func``'s outputs (weighted by grad_outputs)
    with respect to the inputs, computed with create_graph=True. ``grad_outputs`` default to
    fixed random float64 tensors; they count as inputs, so the gradient's dependence on them
    is checked too. (``gen_non_contig_grad_outputs`` is accepted and has no effect.)
    ``check_rev_over_rev`` / ``check_fwd_over_rev``: differentiate those gradients in reverse
    / forward mode (gradcheck's ``check_backward_ad`` / ``check_forward_ad``); the other
    keywords are gradcheck's.
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
        check_grad_dtypes=check_grad_dtypes,
        check_forward_ad=check_fwd_over_rev,
        check_backward_ad=check_rev_over_rev,
        masked=masked,
    )
