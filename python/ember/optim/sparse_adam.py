"""SparseAdam: Adam's lazy variant for the row-sparse gradients of embedding(sparse=True)."""

from __future__ import annotations

import math

import numpy as np

from ember._sparse_grad import sparse_rows
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _buffer,
    _check_adam_family,
    _count,
    _run_closure,
    _state_like,
    _wrap,
)
from ember.tensor import Tensor


class SparseAdam(Optimizer):
    """PyTorch's SparseAdam: Adam restricted to the rows a sparse gradient holds.

    Only the rows the batch looked up (``nn.Embedding(sparse=True)`` /
    ``F.embedding(sparse=True)``) are updated: their moments and values follow Adam, the other
    rows, their moments included, stay as they are, as if the step had not happened for them.
    A row that was looked up but got a zero gradient still counts as present (its moments
    decay), as in PyTorch. ember keeps the gradient itself dense; the rows come from the
    lookup. Dense gradients are refused (RuntimeError), as in PyTorch.

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). betas: (beta1, beta2), each in [0, 1). eps: >= 0.
        maximize: ascend instead of descend.

    State per parameter (PyTorch's names, made at the first step): ``step`` (a Python int,
    as PyTorch's), ``exp_avg``, ``exp_avg_sq`` (Tensors like the parameter).
    """

    _p_shaped_state = True
    _sparse_error = None

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        maximize: bool = False,
    ):
        defaults = dict(lr=lr, betas=tuple(betas), eps=eps, maximize=maximize)
        super().__init__(params, defaults)
        complex_params = [
            [i, j]
            for i, g in enumerate(self.param_groups)
            for j, p in enumerate(g["params"])
            if p.data.dtype.kind == "c"
        ]
        if complex_params:  # (torch's check and message)
            raise ValueError(
                f"Complex params at indices {complex_params}: SparseAdam does not support "
                "complex parameters"
            )

    def _validate(self, group: dict) -> None:
        _check_adam_family(dict(group, weight_decay=0.0))

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        for group, p, g in self._params_with_grad():
            rows = sparse_rows(p.grad)
            if rows is None:
                raise RuntimeError(
                    "SparseAdam does not support dense gradients, please consider Adam instead"
                )
            state = self.state[p]
            beta1, beta2 = group["betas"]
            if not state:  # torch's: a Python int step, Tensors like p
                state.update(
                    step=0, exp_avg=_wrap(_state_like(p)), exp_avg_sq=_wrap(_state_like(p))
                )
            if isinstance(state["step"], Tensor):  # (loaded as a Tensor: counted in place)
                t = _count(state)
            else:
                t = state["step"] = state["step"] + 1
            if rows.size == 0:
                continue
            gr = -g[rows] if group["maximize"] else g[rows]
            m, v = _buffer(state, "exp_avg"), _buffer(state, "exp_avg_sq")
            # PyTorch's order of operations: old += (1 - b) * (new - old), computed as updates
            m_old, v_old = m[rows], v[rows]
            dm = (gr - m_old) * (1 - beta1)
            dv = (gr * gr - v_old) * (1 - beta2)
            m[rows] = m_old + dm
            v[rows] = v_old + dv
            step_size = group["lr"] * math.sqrt(1 - beta2**t) / (1 - beta1**t)
            denom = np.sqrt(dv + v_old) + group["eps"]
            p.data[rows] += -step_size * ((dm + m_old) / denom)
        return loss
