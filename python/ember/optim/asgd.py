"""ASGD, one fused C++ pass per parameter (``ember._C.asgd_step``)."""

from __future__ import annotations

import numpy as np

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_implementation_flags,
    _check_nonneg,
    _lr_dtype,
    _run_closure,
)
from ember.tensor import Tensor


def _f32(v: float) -> float:
    return float(np.float32(v))  # PyTorch keeps eta and mu as float32 scalars


class ASGD(Optimizer):
    """PyTorch's averaged SGD (Polyak & Juditsky, 1992)::

        g = grad + weight_decay * p
        p = p * (1 - lambd * eta) - eta * g
        ax = p if mu == 1 else ax + mu * (p - ax)
        eta = lr / (1 + lambd * lr * t)^alpha;  mu = 1 / max(1, t - t0)

    ``ax`` (the running average of the iterates) is the averaged solution.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). lambd: decay term. alpha: power for the eta update.
        t0: the step at which averaging starts. weight_decay: L2 penalty (>= 0).
        maximize: ascend instead of descend.

    State per parameter (PyTorch's names): ``step``, ``eta``, ``mu`` (float32-rounded, as
    PyTorch keeps them), ``ax``.
    """

    _numpy_state = True

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lambd: float = 1e-4,
        alpha: float = 0.75,
        t0: float = 1e6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, None)
        defaults = dict(
            lr=lr,
            lambd=lambd,
            alpha=alpha,
            t0=t0,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        _check_nonneg(group, "lr", "weight_decay")

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            lr, lambd = float(group["lr"]), float(group["lambd"])
            if not state:  # PyTorch's order of the entries
                state.update(step=0.0, eta=_f32(lr), mu=1.0)
            t = _advance(state, p, "ax")
            _C.asgd_step(
                p.data,
                state["ax"],
                g,
                eta=float(state["eta"]),
                lambd=lambd,
                mu=float(state["mu"]),
                weight_decay=float(group["weight_decay"]),
                maximize=bool(group["maximize"]),
            )
            if isinstance(group["lr"], Tensor):  # torch's float32 tensor arithmetic, op by op
                f = _lr_dtype(group["lr"])
                lr_t = f(lr)
                state["eta"] = _f32(lr_t / (f(1) + f(lambd) * lr_t * f(t)) ** f(group["alpha"]))
            else:
                state["eta"] = _f32(lr / ((1 + lambd * lr * t) ** group["alpha"]))
            state["mu"] = _f32(1 / max(1, t - group["t0"]))
        return loss
