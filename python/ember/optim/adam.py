"""Adam and AdamW, one fused C++ pass per parameter (``ember._C.adam_step``)."""

from __future__ import annotations

import numpy as np

from ember import _C
from ember.autograd.function import no_grad
from ember.optim.optimizer import (
    Optimizer,
    _advance,
    _check_adam_family,
    _check_implementation_flags,
    _lerp_,
    _run_closure,
    _tensor_lr,
    _torch_pow,
)
from ember.tensor import Tensor


def _check_betas_types(betas, foreach, capturable) -> None:
    """torch's Adam (and AdamW) constructor checks on ``betas``: both Python floats or both
    1-element Tensors (so ``(0, 0.99)`` with an int is refused, as torch does), and Tensor
    betas not with foreach=True unless capturable."""
    b = tuple(betas)
    if len(b) != 2:
        return  # (the group check names a wrong length)
    if not (all(isinstance(x, float) for x in b) or all(isinstance(x, Tensor) for x in b)):
        raise ValueError("betas must be either both floats or both Tensors")
    for i, x in enumerate(b):
        if isinstance(x, Tensor):
            if foreach and not capturable:
                raise ValueError(
                    f"betas[{i}] as a Tensor is not supported for capturable=False and foreach=True"
                )
            if x.data.size != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")


class Adam(Optimizer):
    """PyTorch's Adam (Kingma & Ba, 2015)::

        g = grad + weight_decay * p          (decoupled: p = p * (1 - lr * weight_decay))
        m = beta1 * m + (1 - beta1) * g;  v = beta2 * v + (1 - beta2) * g^2
        v_hat = max(v_hat, v) if amsgrad else v
        p = p - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)

    Args:
        params: parameters or parameter groups.
        lr: learning rate (>= 0). betas: (beta1, beta2), each in [0, 1). eps: >= 0.
        weight_decay: L2 penalty (>= 0), added to the gradient (or decoupled, see AdamW).
        amsgrad: use the running maximum of v (Reddi et al., 2018).
        maximize: ascend instead of descend.
        foreach, fused, capturable: PyTorch's implementation switches, accepted (same step);
            differentiable=True is refused.
        decoupled_weight_decay: AdamW's decay of the weights instead of the gradient.

    State per parameter (PyTorch's names and Tensors, made at the first step): ``step`` (0-d
    float32), ``exp_avg``, ``exp_avg_sq`` and, with amsgrad, ``max_exp_avg_sq``.
    """

    _setstate_defaults = dict(  # (torch's __setstate__)
        amsgrad=False,
        maximize=False,
        foreach=None,
        capturable=False,
        differentiable=False,
        decoupled_weight_decay=False,
        fused=None,
    )

    _p_shaped_state = True
    _scalar_keys = frozenset({"step"})

    _sparse_error = "Adam does not support sparse gradients, please consider SparseAdam instead"

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, fused)
        defaults = dict(
            lr=lr,
            betas=tuple(betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            maximize=maximize,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)  # (validates the values first, as torch's order)
        _check_betas_types(betas, foreach, capturable)

    def _validate(self, group: dict) -> None:
        _check_adam_family(group)
        # only Adam and AdamW refuse this pair in PyTorch; the other optimisers take it
        if isinstance(group["lr"], Tensor) and group["foreach"] and not group["capturable"]:
            raise ValueError(
                "lr as a Tensor is not supported for capturable=False and foreach=True"
            )

    @no_grad()
    def step(self, closure=None):
        loss = _run_closure(closure)
        last = None
        for group, p, g in self._params_with_grad():
            if group is not last:  # (the group's options read once a group, not a parameter)
                last = group
                beta1, beta2 = group["betas"]
                amsgrad = group["amsgrad"]
                names = ("exp_avg", "exp_avg_sq", *(("max_exp_avg_sq",) * amsgrad))
                wd0 = float(group["weight_decay"])
                wd_t = wd0 and isinstance(group["weight_decay"], Tensor)
                decoupled = bool(group["decoupled_weight_decay"])
                fused = bool(group.get("fused"))  # (torch's fused kernel reads Tensors as doubles)
                tensor_betas = isinstance(beta1, Tensor) and not fused
                if not tensor_betas:
                    fb1, fb2 = float(beta1), float(beta2)
                eps, maximize = float(group["eps"]), bool(group["maximize"])
            state = self.state[p]
            t, m, v, *vmax = _advance(state, p, *names)
            lr, wd = group["lr"], wd0
            if fused:
                lr = float(lr)
            if tensor_betas:  # torch's rounding of Tensor betas, op by op
                _adam_tensor_betas(p.data, m, v, vmax[0] if amsgrad else None, g, group, t)
                continue
            # torch's rounding of a Tensor lr's step size, and of the decay with a Tensor
            # lr or weight_decay (the fused kernel reads both as doubles)
            if isinstance(lr, Tensor) or (decoupled and wd_t and not fused):
                wd_arg = group["weight_decay"] if decoupled else 0.0
                lr, shrink = _tensor_lr(lr, 1.0 - float(beta1) ** t, wd_arg)
                if shrink is not None:
                    p.data *= p.data.dtype.type(shrink)
                    wd = 0.0
            # (positional: pybind11 matching keywords cost ~2 us a call, per parameter)
            _C.adam_step(
                p.data,
                m,
                v,
                vmax[0] if amsgrad else None,
                g,
                float(lr),  # lr
                fb1,  # beta1
                fb2,  # beta2
                eps,
                wd,  # weight_decay
                decoupled,
                maximize,
                t,  # step
            )
        return loss


def _adam_tensor_betas(p, m, v, vmax, g, group, t: float) -> None:
    """Adam's step with Tensor betas, as torch's single-tensor Adam rounds it: the bias
    corrections ``1 - beta ** step``, their square root and ``lr / bias_correction1`` (a Python
    lr: ``reciprocal() * lr``, the way Tensor.__rtruediv__ computes it) are 0-d tensors in the
    betas' dtype (float32 for torch.tensor(0.9)), not Python doubles. The fused kernel takes
    doubles, so this rare path runs the same element-wise steps in NumPy, each rounded to p's
    dtype as torch's kernels round them (lerp, mul, addcmul, sqrt, div, addcdiv)."""
    T = p.dtype.type
    b1, b2 = (np.asarray(b.data).reshape(()) for b in group["betas"])
    lr, wd, eps = group["lr"], float(group["weight_decay"]), float(group["eps"])
    if group["maximize"]:
        g = -g
    if wd and group["decoupled_weight_decay"]:
        _, shrink = _tensor_lr(lr, 1.0, group["weight_decay"])
        p *= T(shrink)
    elif wd:
        g = g + T(wd) * p
    _lerp_(m, g, T(1) - T(b1[()]))  # (the weight in p's dtype: torch's beta1.to(p.dtype))
    v *= T(b2[()])
    v += T(1 - b2[()]) * g * g
    if vmax is not None:
        np.maximum(vmax, v, out=vmax)
        v = vmax
    f1, f2 = b1.dtype.type, b2.dtype.type
    bc1 = f1(1) - _torch_pow(b1[()], t)
    bc2s = np.sqrt(f2(1) - _torch_pow(b2[()], t))
    if isinstance(lr, Tensor):  # lr / bias_correction1, both tensors
        lr = np.asarray(lr.data).reshape(())[()]
        step = np.result_type(lr, bc1).type(lr / bc1)
    else:
        step = f1(f1(1) / bc1) * f1(lr)
    p += T(-step) * m / (np.sqrt(v) / T(bc2s) + T(eps))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter, 2019): before the Adam update,
    ``p = p * (1 - lr * weight_decay)``. Same arguments as Adam; weight_decay defaults to 1e-2.
    """

    _setstate_defaults = dict(Adam._setstate_defaults, decoupled_weight_decay=True)

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ):
        _check_implementation_flags(foreach, capturable, differentiable, fused)
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            maximize=maximize,
            decoupled_weight_decay=True,
            foreach=foreach,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
        )
