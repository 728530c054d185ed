"""Weight penalties to add to a loss: ``loss + lam * l2_penalty(model.parameters())``."""

from __future__ import annotations

from ember.tensor import Tensor


def _params(params) -> list[Tensor]:
    if isinstance(params, Tensor):
        return [params]
    out = list(params)
    for p in out:
        if not isinstance(p, Tensor):
            raise TypeError(f"penalty: expected Tensors, got {type(p).__name__}")
    if not out:
        raise ValueError("penalty: got an empty parameter list")
    return out


def l1_penalty(params) -> Tensor:
    """sum_i |w_i| over every parameter (differentiable: its gradient is sign(w))."""
    total = None
    for p in _params(params):
        s = p.abs().sum()
        total = s if total is None else total + s
    return total


def l2_penalty(params) -> Tensor:
    """sum_i w_i^2 over every parameter (differentiable: its gradient is 2 w). Adding
    ``lam / 2 * l2_penalty(...)`` to a loss is SGD's ``weight_decay=lam``."""
    total = None
    for p in _params(params):
        s = (p * p).sum()
        total = s if total is None else total + s
    return total
