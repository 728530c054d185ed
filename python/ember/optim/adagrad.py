"""Adagrad, one fused C++ pass per parameter (``ember._C.adagrad_step``)."""

from __future__ import annotations

from ember import _C
from ember._sparse_grad import sparse_rows
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_implementation_flags,
    _check_nonneg,
    _run_closure,
    _scalar,
    _state_like,
    _wrap,
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

    State per parameter: ``step`` (a 0-d float32 Tensor), ``sum`` (a Tensor like the
    parameter), both made when the optimiser is, as PyTorch does.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        foreach=None, maximize=False, differentiable=False, fused=None
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step"})

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        _check_implementation_flags(foreach, False, differentiable, fused)
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            eps=eps,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)
        for group in self.param_groups:  # as PyTorch: state made now, except for groups added later
            for p in group["params"]:
                self._init_state(group, p)

    def _init_state(self, group: dict, p) -> None:
        # (the group's own initial_accumulator_value: PyTorch reads only the default's)
        init = group["initial_accumulator_value"]
        self.state[p].update(step=_scalar(0.0), sum=_wrap(_state_like(p, init)))

    def _check_sparse_grad(self, group: dict, p) -> None:
        # sparse gradients are accepted: only their rows change, as with the dense update
        if group["weight_decay"] != 0 and sparse_rows(p.grad) is not None:
            raise RuntimeError("weight_decay option is not compatible with sparse gradients")

    def _validate(self, group: dict) -> None:
        _check_nonneg(group, "lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps")

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            if not state:  # a parameter of a group added after __init__
                self._init_state(group, p)
            t, acc = _advance(state, p, "sum")
            lr = (
                float(group["lr"]) if group.get("fused") else group["lr"]
            )  # (fused: a double, as torch's)
            clr = lr / (1 + (t - 1) * group["lr_decay"])
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.adagrad_step(
                p.data,
                acc,
                g,
                float(clr),  # clr
                float(group["eps"]),  # eps
                float(group["weight_decay"]),  # weight_decay
                bool(group["maximize"]),  # maximize
            )
        return loss
