"""Adagrad, one fused C++ pass per parameter (``ember._C.adagrad_step``)."""

from __future__ import annotations

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _check_implementation_flags,
    _check_nonneg,
    _run_closure,
    _state_like,
)


class Adagrad(Optimizer):
    """PyTorch's Adagrad (Duchi et al., 2011)::

        g = grad + weight_decay * p
        clr = lr / (1 + (t - 1) * lr_decay)
        sum = sum + g^2;  p = p - clr * g / (sqrt(sum) + eps)

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). lr_decay, weight_decay, initial_accumulator_value, eps: >= 0.
        maximize: ascend instead of descend.
        foreach, fused: PyTorch's implementation switches, accepted (same step);
            differentiable=True is refused.

    State per parameter: ``step``, ``sum`` (made when the optimiser is, as PyTorch does).
    """

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, fused)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for p in group["params"]:
            state = self.state[p]
            state["step"] = 0.0
            state["sum"] = _state_like(p, group["initial_accumulator_value"])

    def _validate(self, group: dict) -> None:
        _check_nonneg(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            state["step"] = float(state["step"]) + 1.0  # state and sum are made in __init__
            clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
            _C.adagrad_step(
                p.data,
                state["sum"],
                g,
                clr=float(clr),
                eps=float(group["eps"]),
                weight_decay=float(group["weight_decay"]),
                maximize=bool(group["maximize"]),
            )
        return loss
