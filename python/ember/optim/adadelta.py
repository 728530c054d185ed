"""Adadelta, one fused C++ pass per parameter (``ember._C.adadelta_step``)."""

from __future__ import annotations

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_implementation_flags,
    _check_nonneg,
    _run_closure,
)


class Adadelta(Optimizer):
    """PyTorch's Adadelta (Zeiler, 2012)::

        g = grad + weight_decay * p
        square_avg = rho * square_avg + (1 - rho) * g^2
        delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) * g
        acc_delta = rho * acc_delta + (1 - rho) * delta^2;  p = p - lr * delta

    Args:
        params: parameters or parameter groups.
        lr: scale of the update (>= 0). rho: in [0, 1]. eps, weight_decay: >= 0.
        maximize: ascend instead of descend.
        foreach, capturable: PyTorch's implementation switches, accepted (same step);
            differentiable=True is refused.

    State per parameter: ``step``, ``square_avg``, ``acc_delta``.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        foreach=None, maximize=False, differentiable=False, capturable=False
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step"})

    def __init__(
        self,
        params,
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        capturable: bool = False,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, None)
        defaults = dict(
            lr=lr,
            rho=rho,
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            capturable=capturable,
            foreach=foreach,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        _check_nonneg(group, "lr", "eps", "weight_decay")
        if not 0.0 <= group["rho"] <= 1.0:
            raise ValueError(f"Invalid rho value: {group['rho']} (must be in [0, 1])")

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            _, square_avg, acc_delta = _advance(state, p, "square_avg", "acc_delta")
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.adadelta_step(
                p.data,
                square_avg,
                acc_delta,
                g,
                float(group["lr"]),  # lr
                float(group["rho"]),  # rho
                float(group["eps"]),  # eps
                float(group["weight_decay"]),  # weight_decay
                bool(group["maximize"]),  # maximize
            )
        return loss
