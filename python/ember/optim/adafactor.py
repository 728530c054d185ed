"""Adafactor with PyTorch's algorithm (``torch.optim.Adafactor``) and state layout.

The update needs whole-tensor reductions between its element-wise passes (row and column
means of g^2, the RMS of the parameter and of the update), so it is written as NumPy
vector operations on each parameter's array rather than one fused kernel; parameters are
updated in place.
"""

from __future__ import annotations

import numpy as np

from ember._errors import BadDtype
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _buffer,
    _check_implementation_flags,
    _decay_factor,
    _grad_array,
    _lerp_,
    _lr_dtype,
    _run_closure,
    _scalar,
    _wrap,
)
from ember.tensor import Tensor


def _norm(x: np.ndarray, axis=None) -> np.ndarray:
    return np.sqrt(np.sum(x * x, axis=axis, keepdims=axis is not None))


class Adafactor(Optimizer):
    """PyTorch's Adafactor (Shazeer & Stern, 2018)::

        beta2_t' = t^beta2_decay;  rho = min(lr, 1 / sqrt(t));  alpha = max(eps2, RMS(p)) * rho
        p = p * (1 - lr * weight_decay)
        >= 2-D: R = lerp(R, mean_last(g^2), beta2_t');  C = lerp(C, mean_second_last(g^2), ...)
                V = R C / max(mean_second_last(R), eps1)
        else:   V = lerp(V, g^2, beta2_t')
        U = g / sqrt(max(V, eps1^2));  p = p - alpha * U / max(1, RMS(U) / d)

    Second moments of parameters with two or more dimensions are factored over the last two
    (a row and a column vector), so the state is far smaller than the parameter.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0): the cap of the relative step size and the weight decay's
            scale (default: 1e-2).
        beta2_decay: decay rate of beta2 (<= 0, default: -0.8).
        eps: (eps1, eps2): eps1 stabilises the denominator (None: the dtype's machine
            epsilon); eps2 is the smallest parameter RMS used for the step (default 1e-3).
        d: update clipping threshold (>= 1, default: 1.0).
        weight_decay: decoupled weight decay (>= 0, default: 0).
        foreach: PyTorch's implementation switch, accepted (same step).
        maximize: ascend instead of descend.

    State per parameter (PyTorch's names and Tensors, made at the first step): ``step`` (0-d
    float32) and ``row_var`` (shape ``(..., m, 1)``) with ``col_var`` (``(..., 1, n)``) for
    parameters of two or more dimensions, else ``variance``.
    """

    _setstate_defaults = dict(foreach=None)  # (torch's __setstate__)

    _scalar_keys = frozenset({"step"})

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        beta2_decay: float = -0.8,
        eps: tuple[float | None, float] = (None, 1e-3),
        d: float = 1.0,
        weight_decay: float = 0.0,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
    ):
        _check_implementation_flags(foreach, False, False, None)
        defaults = dict(
            lr=lr,
            beta2_decay=beta2_decay,
            eps=eps,
            d=d,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        lr, eps = group["lr"], group["eps"]
        if isinstance(lr, Tensor) and lr.numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        if not isinstance(eps, tuple | list):  # (torch fails indexing it: a TypeError)
            raise TypeError(f"eps must be a pair (eps1, eps2), got {eps!r}")
        if len(eps) != 2:
            raise ValueError(f"eps must be a pair (eps1, eps2), got {eps!r}")
        checks = (
            (0.0 <= lr, "Learning rate should be >= 0", lr),
            (0.0 >= group["beta2_decay"], "beta2_decay should be <= 0", group["beta2_decay"]),
            (eps[0] is None or 0.0 <= eps[0], "epsilon1 should be >= 0", eps[0]),
            (0.0 <= eps[1], "epsilon2 should be >= 0", eps[1]),
            (1.0 <= group["d"], "Clipping threshold d should be >= 1", group["d"]),
            (0.0 <= group["weight_decay"], "weight_decay should be >= 0", group["weight_decay"]),
        )
        for ok, what, value in checks:
            if not ok:
                raise ValueError(f"{what} but is: {value}")

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group in self.param_groups:
            lr, d = float(group["lr"]), float(group["d"])
            lr_t = group["lr"] if isinstance(group["lr"], Tensor) else None
            beta2_decay, weight_decay = float(group["beta2_decay"]), float(group["weight_decay"])
            eps1, eps2 = group["eps"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.data.dtype.kind == "c":  # (torch's check, at the step)
                    raise BadDtype("Adafactor does not support complex parameters")
                self._check_sparse_grad(group, p)
                g = _grad_array(p)
                if group["maximize"]:
                    g = -g
                state = self.state[p]
                if not state:
                    state["step"] = _scalar(0.0)
                    if g.ndim > 1:
                        state["row_var"] = _wrap(np.zeros(g.shape[:-1] + (1,), g.dtype))
                        col_shape = g.shape[:-2] + (1,) + g.shape[-1:]
                        state["col_var"] = _wrap(np.zeros(col_shape, g.dtype))
                    else:
                        state["variance"] = _wrap(np.zeros_like(g))
                if eps1 is None:  # as PyTorch: the first parameter's dtype sets it
                    eps1 = float(np.finfo(p.data.dtype).eps)
                (t,) = _advance(state, p)
                if p.data.size == 0:  # nothing to update (PyTorch divides by zero here)
                    continue
                one_minus_beta2_t = t**beta2_decay
                rho_t = min(lr, 1 / (t**0.5))
                rms = max(eps2, float(_norm(p.data)) / (p.data.size**0.5))
                alpha, ft = rms * rho_t, None
                if lr_t is not None and rho_t == lr:
                    # torch's rho_t is then the Tensor lr itself, so alpha and the step's
                    # scale are Tensors too, each op rounded to the lr's dtype (float32)
                    ft = _lr_dtype(lr_t)
                    alpha = ft(ft(rms) * ft(lr))
                if weight_decay != 0:
                    shrink = _decay_factor(lr_t if lr_t is not None else lr, group["weight_decay"])
                    p.data *= shrink

                if g.ndim > 1:
                    row_var, col_var = _buffer(state, "row_var"), _buffer(state, "col_var")
                    _lerp_(row_var, _norm(g, -1) ** 2 / g.shape[-1], one_minus_beta2_t)
                    _lerp_(col_var, _norm(g, -2) ** 2 / g.shape[-2], one_minus_beta2_t)
                    var_estimate = row_var * col_var  # the outer product R C
                    var_estimate /= np.maximum(row_var.mean(axis=-2, keepdims=True), eps1)
                else:
                    variance = _buffer(state, "variance")
                    _lerp_(variance, g * g, one_minus_beta2_t)
                    var_estimate = variance.copy()

                update = 1 / np.sqrt(np.maximum(var_estimate, eps1 * eps1))
                update *= g
                denom = max(1.0, float(_norm(update)) / ((update.size**0.5) * d))
                scale = -alpha / denom if ft is None else float(ft(-alpha) / ft(denom))
                p.data += scale * update
        return loss
