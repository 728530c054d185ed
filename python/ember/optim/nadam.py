"""NAdam, one fused C++ pass per parameter (``ember._C.nadam_step``)."""

from __future__ import annotations

import numpy as np

from ember import _C, _lowp
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_adam_family,
    _check_implementation_flags,
    _lr_dtype,
    _run_closure,
    _tensor_lr,
)
from ember.tensor import Tensor


class NAdam(Optimizer):
    """PyTorch's NAdam (Dozat, 2016: Adam with Nesterov momentum)::

        g = grad + weight_decay * p        (decoupled: p = p * (1 - lr * weight_decay))
        mu_t = beta1 * (1 - 0.5 * 0.96^(t * momentum_decay));  mu_product = prod mu_1..mu_t
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        denom = sqrt(v / (1 - beta2^t)) + eps
        p = p - lr (1 - mu_t) / (1 - mu_product) * g / denom
              - lr mu_{t+1} / (1 - mu_product mu_{t+1}) * m / denom

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). betas: (beta1, beta2), each in [0, 1). eps: >= 0.
        weight_decay: L2 penalty (>= 0). momentum_decay: psi (>= 0).
        decoupled_weight_decay: decay the weights (NAdamW) instead of the gradient.
        maximize: ascend instead of descend.

    State per parameter (PyTorch's names): ``step``, ``mu_product`` (a float32 scalar, as
    PyTorch keeps it, in the parameter's dtype once loaded), ``exp_avg``, ``exp_avg_sq``.
    """

    _numpy_state = True

    def __init__(
        self,
        params,
        lr: float = 2e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum_decay: float = 4e-3,
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
            momentum_decay=momentum_decay,
            decoupled_weight_decay=decoupled_weight_decay,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        _check_adam_family(group)
        if not group["momentum_decay"] >= 0.0:
            raise ValueError(f"Invalid momentum_decay value: {group['momentum_decay']}")

    def _load_state_value(self, p, i, k, v):
        if k == "mu_product":  # PyTorch's load_state_dict casts it to a float parameter's dtype
            dt = p.data.dtype if _lowp.is_float(p.data.dtype) else np.dtype(np.float32)
            return dt.type(float(v.data if isinstance(v, Tensor) else v))
        return super()._load_state_value(p, i, k, v)

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            beta1, beta2 = group["betas"]
            lr, psi = float(group["lr"]), float(group["momentum_decay"])
            if not state:  # PyTorch's order of the entries
                state.update(step=0.0, mu_product=np.float32(1.0))
            t = _advance(state, p, "exp_avg", "exp_avg_sq")
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
            # The product of the mus is multiplied in its own precision, as PyTorch's 0-d
            # tensor: float32 from the start, the parameter's dtype after load_state_dict.
            prod = state["mu_product"]
            prod = prod if isinstance(prod, np.generic) else np.float32(prod)
            state["mu_product"] = prod * prod.dtype.type(mu)
            mu_product = float(state["mu_product"])
            wd, decoupled = float(group["weight_decay"]), bool(group["decoupled_weight_decay"])
            cg = -lr * (1.0 - mu) / (1.0 - mu_product)
            cm = (-lr * mu_next) / (1.0 - mu_product * mu_next)
            if isinstance(group["lr"], Tensor):
                # torch computes these with the lr tensor: each operation rounded to its dtype
                ft = _lr_dtype(group["lr"])
                nlr = -ft(lr)
                cg = float(nlr * ft(1.0 - mu) / ft(1.0 - mu_product))
                cm = float(nlr * ft(mu_next) / ft(1.0 - mu_product * mu_next))
                if decoupled and wd:
                    p.data *= p.data.dtype.type(_tensor_lr(group["lr"], 1.0, wd)[1])
                    wd = 0.0
            _C.nadam_step(
                p.data,
                state["exp_avg"],
                state["exp_avg_sq"],
                g,
                lr=lr,
                beta1=float(beta1),
                beta2=float(beta2),
                eps=float(group["eps"]),
                weight_decay=wd,
                decoupled=decoupled,
                maximize=bool(group["maximize"]),
                bc2=1.0 - beta2**t,
                cg=cg,
                cm=cm,
            )
        return loss
