"""RAdam, one fused C++ pass per parameter (``ember._C.radam_step``)."""

from __future__ import annotations

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_adam_family,
    _check_implementation_flags,
    _run_closure,
    _tensor_decay_,
)


class RAdam(Optimizer):
    """PyTorch's RAdam (Liu et al., 2020: Adam with a rectified adaptive learning rate)::

        g = grad + weight_decay * p        (decoupled: p = p * (1 - lr * weight_decay))
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        rho_inf = 2 / (1 - beta2) - 1;  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t)
        rho_t > 5: r = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
                   p = p - lr * m / (1 - beta1^t) * sqrt(1 - beta2^t) / (sqrt(v) + eps) * r
        else:      p = p - lr * m / (1 - beta1^t)

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). betas: (beta1, beta2), each in [0, 1). eps: >= 0.
        weight_decay: L2 penalty (>= 0).
        decoupled_weight_decay: decay the weights (RAdamW) instead of the gradient.
        maximize: ascend instead of descend.

    State per parameter (PyTorch's names): ``step``, ``exp_avg``, ``exp_avg_sq``.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        foreach=None,
        maximize=False,
        differentiable=False,
        decoupled_weight_decay=False,
        capturable=False,
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step"})

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        decoupled_weight_decay: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, None)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            decoupled_weight_decay=decoupled_weight_decay,
            differentiable=differentiable,
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
            t, exp_avg, exp_avg_sq = _advance(state, p, "exp_avg", "exp_avg_sq")
            wd, decoupled = float(group["weight_decay"]), bool(group["decoupled_weight_decay"])
            if decoupled and wd and _tensor_decay_(p, group):
                wd = 0.0
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.radam_step(
                p.data,
                exp_avg,
                exp_avg_sq,
                g,
                float(group["lr"]),  # lr
                float(beta1),  # beta1
                float(beta2),  # beta2
                float(group["eps"]),  # eps
                wd,  # weight_decay
                decoupled,
                bool(group["maximize"]),  # maximize
                t,  # step
            )
        return loss
