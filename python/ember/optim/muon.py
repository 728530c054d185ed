"""Muon (Jordan et al., 2024) with PyTorch's algorithm (``torch.optim.Muon``) and state layout.

The update orthogonalises the momentum with a few Newton-Schulz iterations: matrix products
on the whole parameter, so it is written with NumPy's matmul on each parameter's array (the
parameter is updated in place). As PyTorch, the iteration runs in bfloat16: each product is
computed in float32 from bfloat16 operands and rounded to bfloat16, which is what torch's CPU
bfloat16 matmul/addmm do, so the updates match torch's bit for bit on small matrices; on larger
ones a different float32 summation order flips some bfloat16 roundings, and the updates agree
to about a bfloat16 ulp (64x64: ~1% of the update; before, they differed by up to 5%).
"""

from __future__ import annotations

import math

import numpy as np

from ember._errors import BadDtype, BadShapeOrValue
from ember._lowp import bfloat16
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _buffer,
    _decay_factor,
    _lerp_,
    _run_closure,
    _state_like,
    _wrap,
)
from ember.tensor import Tensor

_NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def _bf16(x) -> np.ndarray:
    """x rounded to bfloat16 (to nearest even, as torch), held as float32 for the next op."""
    return np.asarray(x).astype(bfloat16).astype(np.float32)


def _orthogonalize(g: np.ndarray, coefficients, steps: int, eps: float) -> np.ndarray:
    """The quintic Newton-Schulz iteration X <- a X + (b A + c A^2) X, A = X X^T, from
    X = G / max(|G|_F, eps): about U V^T for G = U S V^T (singular values near 1, not equal).
    In bfloat16 as torch's: every op rounds its float32 result (torch's two addmm calls are
    gram_update = b A + c A A and X = a X + gram_update X, each rounded once)."""
    if steps >= 100:  # (torch's checks, at the step; fewer than 1: no iteration, as its range)
        raise ValueError("Number of steps must be less than 100 for computational efficiency")
    if len(coefficients) != 3:
        raise ValueError("Coefficients must be a tuple of exactly 3 values")
    a, b, c = (np.float32(v) for v in coefficients)
    tall = g.shape[0] > g.shape[1]
    x = _bf16(g.T if tall else g)  # iterate on the wide side: the Gram matrix is the small one
    norm = _bf16(np.sqrt(np.sum(np.square(x), dtype=np.float32)))
    x = _bf16(x / max(norm, _bf16(eps)))
    for _ in range(steps):  # (a float steps: TypeError, as torch's range)
        gram = _bf16(x @ x.T)
        x = _bf16(a * x + _bf16(b * gram + c * (gram @ gram)) @ x)
    return x.T if tall else x


def _adjusted_lr(lr: float, adjust_lr_fn: str | None, shape) -> float:
    """Scale lr so the orthogonal update's RMS is alike across shapes: Keller Jordan's
    sqrt(max(1, A / B)) ("original", the default) or Moonshot's 0.2 sqrt(max(A, B))."""
    rows, cols = shape
    if adjust_lr_fn == "match_rms_adamw":
        return lr * 0.2 * math.sqrt(max(rows, cols))
    return lr * math.sqrt(max(1.0, rows / cols))


class Muon(Optimizer):
    """PyTorch's Muon, for the 2-D weights of hidden layers::

        buf = lerp(buf, g, 1 - momentum)
        u = lerp(g, buf, momentum) if nesterov else buf
        O = NewtonSchulz(u)                            (ns_steps iterations, ns_coefficients)
        p = p * (1 - lr * weight_decay) - adjusted_lr * O

    Biases, embeddings and other non-2-D parameters belong to another optimiser (AdamW), as in
    PyTorch, which refuses them here too.

    Args:
        params: 2-D parameters or parameter groups.
        lr: learning rate (>= 0, default 1e-3). weight_decay: decoupled (>= 0, default 0.1).
        momentum: >= 0 (default 0.95). nesterov: Nesterov momentum (default True).
        ns_coefficients: (a, b, c) of the iteration. eps: floor of the norm it divides by.
        ns_steps: iterations (< 100, checked at the step as torch's; default 5).
        adjust_lr_fn: None / "original" or "match_rms_adamw" (see ``_adjusted_lr``).

    State per parameter: ``momentum_buffer``, a Tensor like the parameter made at the first
    step, as PyTorch's.
    """

    _p_shaped_state = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = _NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ):
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=ns_coefficients,
            eps=eps,
            ns_steps=ns_steps,
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        # torch's checks and words; ns_steps and ns_coefficients are checked at the step
        if isinstance(group["lr"], Tensor) and group["lr"].numel() != 1:
            raise ValueError("Tensor lr must be 1-element")
        wd = group["weight_decay"]
        if isinstance(wd, Tensor) and wd.numel() != 1:  # (torch: RuntimeError on its truth)
            raise BadShapeOrValue(
                f"Tensor weight_decay must be 1-element, got shape {tuple(wd.shape)}"
            )
        for key, what in (("lr", "Learning rate"), ("momentum", "momentum"),
                          ("weight_decay", "weight decay")):  # fmt: skip
            if not 0.0 <= group[key]:  # (NaN refused too)
                raise ValueError(f"{what} should be >= 0 but is: {group[key]}")
        if group["adjust_lr_fn"] not in (None, "original", "match_rms_adamw"):
            raise ValueError(
                f"Adjust learning rate function {group['adjust_lr_fn']} is not supported"
            )

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        for p in self.param_groups[-1]["params"]:  # (_validate sees the defaults only)
            if p.ndim != 2:
                self.param_groups.pop()
                raise ValueError(
                    f"Muon only supports 2D parameters whereas we found a parameter with size: "
                    f"{tuple(p.shape)}"
                )

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group in self.param_groups:  # (torch's check, at the step)
            if any(p.grad is not None and p.data.dtype.kind == "c" for p in group["params"]):
                raise BadDtype("Muon does not support complex parameters")
        for group, p, g in self._params_with_grad():
            lr, mom = float(group["lr"]), float(group["momentum"])
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = _wrap(_state_like(p))
            buf = _buffer(state, "momentum_buffer")
            _lerp_(buf, g, 1 - mom)
            update = buf
            if group["nesterov"]:
                update = g.copy()
                _lerp_(update, buf, mom)
            ortho = _orthogonalize(
                update, group["ns_coefficients"], group["ns_steps"], float(group["eps"])
            )
            # (a Tensor lr or weight_decay: the factor rounded in its dtype, as torch's)
            p.data *= _decay_factor(group["lr"], group["weight_decay"])
            step = _adjusted_lr(lr, group["adjust_lr_fn"], p.shape)
            if p.dtype == np.float32:  # torch's fused p - lr * O (the product exact, one rounding)
                step = np.float64(np.float32(step))
                p.data[...] = (p.data - step * ortho.astype(np.float64)).astype(np.float32)
            else:
                p.data -= step * ortho.astype(p.dtype)
        return loss
