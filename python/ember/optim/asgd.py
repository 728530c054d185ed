"""ASGD, one fused C++ pass per parameter (``ember._C.asgd_step``)."""

from __future__ import annotations

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_implementation_flags,
    _check_nonneg,
    _lr_dtype,
    _run_closure,
    _scalar,
    _scalar_dtype,
    _torch_pow,
)
from ember.tensor import Tensor


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

    State per parameter (PyTorch's names and Tensors, made at the first step): ``step``,
    ``eta``, ``mu`` (0-d float32 Tensors), ``ax`` (like the parameter).
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        foreach=None, maximize=False, differentiable=False, capturable=False
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step", "eta", "mu"})

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
                state.update(step=_scalar(0.0), eta=_scalar(lr), mu=_scalar(1.0))
            t, eta, mu, ax = _advance(state, p, "eta", "mu", "ax")
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.asgd_step(
                p.data,
                ax,
                g,
                float(eta),  # eta
                lambd,
                float(mu),  # mu
                float(group["weight_decay"]),  # weight_decay
                bool(group["maximize"]),  # maximize
            )
            # written into the state Tensors (torch's eta.copy_, mu.copy_), each value first
            # rounded to the dtype torch computes it in: a Tensor lr's for eta, else the
            # default scalar dtype (float32 as a rule)
            sd = _scalar_dtype()
            if isinstance(group["lr"], Tensor):  # torch's float32 tensor arithmetic, op by op
                f = _lr_dtype(group["lr"])
                lr_t = f(lr)
                eta[()] = lr_t / _torch_pow(f(1) + f(lambd) * lr_t * f(t), float(group["alpha"]))
            else:
                eta[()] = sd(lr / ((1 + lambd * lr * t) ** group["alpha"]))
            mu[()] = sd(1 / max(1, t - group["t0"]))
        return loss
