"""Adamax, one fused C++ pass per parameter (``ember._C.adamax_step``)."""

from __future__ import annotations

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_adam_family,
    _check_implementation_flags,
    _run_closure,
    _tensor_lr,
)


class Adamax(Optimizer):
    """PyTorch's Adamax (Kingma & Ba, 2015, section 7: Adam with the infinity norm)::

        g = grad + weight_decay * p
        m = beta1 * m + (1 - beta1) * g;  u = max(beta2 * u, |g| + eps)
        p = p - lr / (1 - beta1^t) * m / u

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). betas: (beta1, beta2), each in [0, 1). eps: >= 0.
        weight_decay: L2 penalty (>= 0). maximize: ascend instead of descend.

    State per parameter (PyTorch's names): ``step``, ``exp_avg``, ``exp_inf``.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        foreach=None, maximize=False, differentiable=False, capturable=False
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step"})

    def __init__(
        self,
        params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        capturable: bool = False,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, None)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        _check_adam_family(group)

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            beta1, beta2 = group["betas"]
            t, exp_avg, exp_inf = _advance(state, p, "exp_avg", "exp_inf")
            lr, _ = _tensor_lr(group["lr"], 1.0 - float(beta1) ** t)  # (torch's Tensor-lr rounding)
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.adamax_step(
                p.data,
                exp_avg,
                exp_inf,
                g,
                lr,
                float(beta1),  # beta1
                float(beta2),  # beta2
                float(group["eps"]),  # eps
                float(group["weight_decay"]),  # weight_decay
                bool(group["maximize"]),  # maximize
                t,  # step
            )
        return loss
