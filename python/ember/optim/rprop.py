"""Rprop, one fused C++ pass per parameter (``ember._C.rprop_step``)."""

from __future__ import annotations

from ember import _C
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


class Rprop(Optimizer):
    """PyTorch's Rprop (Riedmiller & Braun, 1993: resilient backpropagation)::

        s = sign(g * prev)
        step_size = clamp(step_size * (etaplus if s > 0, etaminus if s < 0, else 1),
                          step_size_min, step_size_max)
        g = 0 where s < 0;  p = p - sign(g) * step_size;  prev = g

    Args:
        params: parameters or parameter groups.
        lr: the initial step size (>= 0). etas: (etaminus, etaplus) with
        0 < etaminus < 1 < etaplus. step_sizes: (min, max) step size. maximize: ascend.

    State per parameter (PyTorch's names): ``step``, ``prev``, ``step_size``.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        foreach=None, maximize=False, differentiable=False, capturable=False
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step"})

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50),
        *,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, None)
        defaults = dict(
            lr=lr,
            etas=tuple(etas),
            step_sizes=tuple(step_sizes),
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
            capturable=capturable,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        _check_nonneg(group, "lr")
        etas, sizes = tuple(group["etas"]), tuple(group["step_sizes"])
        if len(etas) != 2 or not 0.0 < etas[0] < 1.0 < etas[1]:
            raise ValueError(f"Invalid eta values: {', '.join(map(str, etas))}")
        if len(sizes) != 2:
            raise ValueError(f"step_sizes must be a pair (min, max), got {sizes!r}")

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            etaminus, etaplus = group["etas"]
            lo, hi = group["step_sizes"]
            if not state:  # torch's entries, in its order
                state.update(
                    step=_scalar(0.0),
                    prev=_wrap(_state_like(p)),
                    step_size=_wrap(_state_like(p, float(group["lr"]))),
                )
            _, prev, step_size = _advance(state, p, "prev", "step_size")
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.rprop_step(
                p.data,
                prev,
                step_size,
                g,
                float(etaminus),  # etaminus
                float(etaplus),  # etaplus
                float(lo),  # step_size_min
                float(hi),  # step_size_max
                bool(group["maximize"]),  # maximize
            )
        return loss
