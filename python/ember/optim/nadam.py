"""NAdam, one fused C++ pass per parameter (``ember._C.nadam_step``)."""

from __future__ import annotations

import numpy as np

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _buffer,
    _check_adam_family,
    _check_implementation_flags,
    _lr_dtype,
    _run_closure,
    _scalar,
    _tensor_decay_,
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

    State per parameter (PyTorch's names and Tensors, made at the first step): ``step``,
    ``mu_product`` (0-d float32 Tensors; mu_product in the parameter's dtype once loaded, as
    PyTorch's), ``exp_avg``, ``exp_avg_sq``.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        decoupled_weight_decay=False,
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step", "mu_product"})

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

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            beta1, beta2 = group["betas"]
            lr, psi = float(group["lr"]), float(group["momentum_decay"])
            if not state:  # PyTorch's order of the entries
                state.update(step=_scalar(0.0), mu_product=_scalar(1.0))
            t, exp_avg, exp_avg_sq = _advance(state, p, "exp_avg", "exp_avg_sq")
            mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
            mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
            # The product of the mus is multiplied in place in its own precision, as PyTorch's
            # 0-d tensor: float32 from the start, the parameter's dtype after load_state_dict.
            # (two floats of at most 24 bits multiply exactly in Python's double: the store
            # into the array rounds once, as torch's float32 product)
            prod = _buffer(state, "mu_product")
            prod[()] = prod.item() * float(prod.dtype.type(mu))
            mu_product = prod.item()
            wd, decoupled = float(group["weight_decay"]), bool(group["decoupled_weight_decay"])
            cg = -lr * (1.0 - mu) / (1.0 - mu_product)
            cm = (-lr * mu_next) / (1.0 - mu_product * mu_next)
            if isinstance(group["lr"], Tensor):
                # torch computes these with the lr tensor: each operation rounded to its dtype
                ft = _lr_dtype(group["lr"])
                nlr = -ft(lr)
                cg = float(nlr * ft(1.0 - mu) / ft(1.0 - mu_product))
                cm = float(nlr * ft(mu_next) / ft(1.0 - mu_product * mu_next))
            if decoupled and wd and _tensor_decay_(p, group):
                wd = 0.0
            if p.data.dtype.itemsize == 2:  # float16 / bfloat16: torch's op-by-op rounding
                _lowp_step(p.data, exp_avg, exp_avg_sq, g, lr, beta1, beta2, group, wd, t, cg, cm)
                continue
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.nadam_step(
                p.data,
                exp_avg,
                exp_avg_sq,
                g,
                lr,
                float(beta1),  # beta1
                float(beta2),  # beta2
                float(group["eps"]),  # eps
                wd,  # weight_decay
                decoupled,
                bool(group["maximize"]),  # maximize
                1.0 - beta2**t,  # bc2
                cg,
                cm,
            )
        return loss


def _lowp_step(p, m, v, g, lr, beta1, beta2, group, wd, t, cg, cm) -> None:
    """The step of a float16 / bfloat16 parameter as torch's single-tensor NAdam: each torch op
    computed in float32 (its opmath, the Python scalars as float32) and rounded to the
    parameter's dtype, the intermediates (the decayed gradient, denom) included."""
    dt, f = p.dtype, np.float32

    def r(x):
        return np.asarray(x, f).astype(dt)

    g = -g if group["maximize"] else g
    if wd:
        if group["decoupled_weight_decay"]:
            p[...] = r(p.astype(f) * f(1.0 - lr * wd))
        else:
            # (torch's vectorised add rounds alpha to the dtype; the loop's tail, the last
            # numel % 32 elements on AVX2, keeps it float32: those may differ by an ulp)
            alpha = float(np.asarray(wd, f).astype(dt))
            g = r(g.astype(f) + f(alpha) * p.astype(f))
    g32, w = g.astype(f), f(1.0 - beta1)
    m[...] = r(m.astype(f) + w * (g32 - m.astype(f)))  # (torch's lerp, weight < 0.5)
    v[...] = r(v.astype(f) * f(beta2))
    v[...] = r(v.astype(np.float64) + (f(1.0 - beta2) * g32).astype(np.float64) * g32)  # (fma)
    denom = r(np.sqrt(r(v.astype(f) / f(1.0 - beta2**t)).astype(f)))
    denom = r(denom.astype(f) + f(group["eps"])).astype(f)
    with np.errstate(divide="ignore", invalid="ignore"):  # (denom 0: eps is 0 in float16)
        p[...] = r(p.astype(f) + f(cg) * g32 / denom)
        p[...] = r(p.astype(f) + f(cm) * m.astype(f) / denom)
