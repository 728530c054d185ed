"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from ember import _C
from ember._sparse_grad import sparse_rows
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _buffer,
    _check_implementation_flags,
    _check_nonneg,
    _run_closure,
    _state_like,
    _wrap,
)
from ember.tensor import Tensor


class SGD(Optimizer):
    """PyTorch's SGD, one fused C++ pass per parameter (``ember._C.sgd_step``)::

        g = grad + weight_decay * p                       (-grad when maximize)
        buf = g (first step) or momentum * buf + (1 - dampening) * g
        g = g + momentum * buf if nesterov else buf       (when momentum != 0)
        p = p - lr * g

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). momentum, dampening, weight_decay: >= 0.
        nesterov: Nesterov momentum (needs momentum > 0 and dampening == 0).
        maximize: ascend instead of descend.
        foreach, fused: PyTorch's implementation switches, accepted (same step);
            differentiable=True is refused.

    State per parameter: ``momentum_buffer``, a Tensor like the parameter made at the first
    step (no state without momentum), as PyTorch's.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        nesterov=False, maximize=False, foreach=None, differentiable=False, fused=False
    )

    _p_shaped_state = True

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        _check_implementation_flags(foreach, False, differentiable, fused)
        # (checked on the arguments only, as PyTorch: a group may set nesterov on its own)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
            foreach=foreach,
            differentiable=differentiable,
            fused=fused,
        )
        super().__init__(params, defaults)

    def _check_sparse_grad(self, group: dict, p) -> None:
        # sparse gradients are accepted (plain SGD, momentum, nesterov); weight decay would add
        # a dense term, which PyTorch refuses
        if group["weight_decay"] != 0 and sparse_rows(p.grad) is not None:
            raise RuntimeError("SGD: weight_decay is not supported with sparse gradients")

    def _validate(self, group: dict) -> None:
        # (any dampening, and NaN accepted, as PyTorch's SGD)
        _check_nonneg(group, "lr", "momentum", "weight_decay", nan_ok=True)

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        last = None
        for group, p, g in self._params_with_grad():
            if group is not last:  # (the group's options, converted once a group, not a parameter)
                last = group
                mom = group["momentum"]
                lr, fmom, damp = float(group["lr"]), float(mom), float(group["dampening"])
                wd, nest, maxi = (
                    float(group["weight_decay"]),
                    bool(group["nesterov"]),
                    bool(group["maximize"]),
                )
            buf, first = None, False
            if mom != 0:  # without momentum there is no state (as PyTorch)
                state = self.state[p]
                # (None, set by hand too, starts the buffer again from the gradient, as torch)
                if state.get("momentum_buffer") is None:
                    state["momentum_buffer"] = _wrap(_state_like(p))
                    first = True
                buf = state["momentum_buffer"]
                buf = buf.data if type(buf) is Tensor else _buffer(state, "momentum_buffer")
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.sgd_step(p.data, buf, g, lr, fmom, damp, wd, nest, maxi, first)
        return loss
