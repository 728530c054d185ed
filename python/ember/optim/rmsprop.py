"""RMSprop, one fused C++ pass per parameter (``ember._C.rmsprop_step``)."""

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


class RMSprop(Optimizer):
    """PyTorch's RMSprop (Hinton's lecture 6e; centered: Graves, 2013)::

        g = grad + weight_decay * p
        square_avg = alpha * square_avg + (1 - alpha) * g^2
        centered: grad_avg = alpha * grad_avg + (1 - alpha) * g; avg = sqrt(square_avg - grad_avg^2)
        else avg = sqrt(square_avg);  avg = avg + eps
        momentum > 0: buf = momentum * buf + g / avg; p = p - lr * buf.  Else p = p - lr * g / avg

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). alpha: smoothing constant (>= 0). eps, weight_decay,
        momentum: >= 0. centered: normalise by the estimated variance. maximize: ascend.
        foreach, capturable: PyTorch's implementation switches, accepted (same step);
            differentiable=True is refused.

    State per parameter: ``step``, ``square_avg``, ``momentum_buffer`` (momentum > 0),
    ``grad_avg`` (centered).
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        momentum=0,
        centered=False,
        foreach=None,
        maximize=False,
        differentiable=False,
        capturable=False,
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step"})

    def __init__(
        self,
        params,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, None)
        defaults = dict(
            lr=lr,
            momentum=momentum,
            alpha=alpha,
            eps=eps,
            centered=centered,
            weight_decay=weight_decay,
            capturable=capturable,
            foreach=foreach,
            maximize=maximize,
            differentiable=differentiable,
        )
        super().__init__(params, defaults)

    def _validate(self, group: dict) -> None:
        _check_nonneg(group, "lr", "alpha", "eps", "weight_decay", "momentum")

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            state = self.state[p]
            mom, centered = group["momentum"], group["centered"]
            # (momentum or centering may be switched on after the first step)
            extra = ("momentum_buffer",) * (mom > 0) + ("grad_avg",) * centered
            _, square_avg, *bufs = _advance(state, p, "square_avg", *extra)
            buf = bufs[0] if mom > 0 else None
            grad_avg = bufs[-1] if centered else None
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.rmsprop_step(
                p.data,
                square_avg,
                grad_avg,
                buf,
                g,
                float(group["lr"]),  # lr
                float(group["alpha"]),  # alpha
                float(group["eps"]),  # eps
                float(group["weight_decay"]),  # weight_decay
                float(mom),  # momentum
                bool(group["maximize"]),  # maximize
            )
        return loss
