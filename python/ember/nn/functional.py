"""ember.nn.functional: the single entry of every neural-network op.

Each op is a Function subclass (forward and backward side by side, calling the C++ kernel in
``ember._C``) followed by its lowercase functional wrapper, which checks the arguments and makes
the inputs contiguous and of the right dtype before anything reaches C++.
"""

from __future__ import annotations

import numpy as np

from ember import _C
from ember.autograd.function import Function
from ember.tensor import Tensor

_REDUCTIONS = ("none", "mean", "sum")


# ---- argument helpers ---------------------------------------------------------------------


def _float_input(x, op: str, name: str = "input", dtype=None) -> Tensor:
    """x as a float Tensor: arrays and lists are converted (to ``dtype`` when given);
    integer or bool Tensors are refused, as PyTorch refuses them."""
    if isinstance(x, Tensor):
        if x.data.dtype.kind != "f":
            raise TypeError(f"{op}: {name} must be a floating point tensor, got {x.dtype}")
        if dtype is not None and x.data.dtype != dtype:
            raise TypeError(f"{op}: {name} is {x.dtype} but the parameters are {np.dtype(dtype)}")
        return x
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{op}: {name} must be numeric, got {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float32
    return Tensor(arr.astype(dtype, copy=False))


def _contig(a: np.ndarray) -> np.ndarray:
    return a if a.flags.c_contiguous else np.ascontiguousarray(a)


def _check_reduction(op: str, reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def _dim(dim, ndim: int, op: str) -> int:
    if not isinstance(dim, int | np.integer):
        raise TypeError(f"{op}: dim must be an int, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: dim {dim} is out of range for a tensor with {ndim} dims")
    return int(dim) % n


# ---- linear -------------------------------------------------------------------------------


class Linear(Function):
    # x (..., in), w (out, in), b (out) -> y (..., out) = x @ w^T + b
    @staticmethod
    def forward(ctx, x, w, b):
        lead = x.shape[:-1]
        x2 = _contig(x).reshape(-1, x.shape[-1])
        if b is None:
            y = _C.gemm(x2, w, trans_b=True)
        else:
            y = np.empty((x2.shape[0], w.shape[0]), dtype=x.dtype)
            y[...] = b
            _C.gemm(x2, w, y, trans_b=True, beta=1.0)
        ctx.save_for_backward(x2, w)
        ctx.lead = lead
        return y.reshape(*lead, w.shape[0])

    @staticmethod
    def backward(ctx, g):
        x2, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad
        g2 = _contig(g).reshape(-1, w.shape[0])
        dx = _C.gemm(g2, w).reshape(*ctx.lead, w.shape[1]) if nx else None
        dw = _C.gemm(g2, x2, trans_a=True) if nw else None
        db = g2.sum(axis=0) if nb else None
        return dx, dw, db


def linear(input, weight, bias=None) -> Tensor:
    """y = input @ weight^T + bias.

    Shape:
        input (*, in_features), weight (out_features, in_features), bias (out_features,)
        -> (*, out_features)
    """
    weight = _float_input(weight, "linear", "weight")
    x = _float_input(input, "linear", "input", weight.dtype)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D, got shape {weight.shape}")
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input shape {x.shape} does not match weight shape {weight.shape} "
            f"(expected last dim {weight.shape[1]})"
        )
    if bias is not None:
        bias = _float_input(bias, "linear", "bias", weight.dtype)
        if bias.shape != (weight.shape[0],):
            raise ValueError(
                f"linear: bias shape {bias.shape} does not match weight shape {weight.shape}"
            )
    return Linear.apply(x, weight, bias)


# ---- activations --------------------------------------------------------------------------


class ReLU(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.maximum(x, 0)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (y > 0)


def relu(input, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise. (``inplace`` is accepted for PyTorch compatibility.)"""
    return ReLU.apply(_float_input(input, "relu"))


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, x):
        # scalar math: 1/(1+exp(-x)) overflows exp for x << 0; this form never does.
        e = np.exp(-np.abs(x))
        y = np.where(x >= 0, 1 / (1 + e), e / (1 + e))
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y * (1 - y)


def sigmoid(input) -> Tensor:
    return Sigmoid.apply(_float_input(input, "sigmoid"))


class Tanh(Function):
    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * (1 - y * y)


def tanh(input) -> Tensor:
    return Tanh.apply(_float_input(input, "tanh"))


# ---- softmax ------------------------------------------------------------------------------


class Softmax(Function):
    # x (..., D, ...) -> y, normalised along dim (log=True: log-probabilities)
    @staticmethod
    def forward(ctx, x, dim, log):
        y = _C.softmax_forward(_contig(x), dim, log)
        ctx.save_for_backward(y)
        ctx.dim, ctx.log = dim, log
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return (
            _C.softmax_backward(y, _contig(g.astype(y.dtype, copy=False)), ctx.dim, ctx.log),
            None,
            None,
        )


def softmax(input, dim: int, dtype=None) -> Tensor:
    """exp(x) / sum(exp(x)) along ``dim``; finite for any finite logits."""
    x = _float_input(input, "softmax")
    if dtype is not None:
        x = x.to(dtype)
    return Softmax.apply(x, _dim(dim, x.ndim, "softmax"), False)


def log_softmax(input, dim: int, dtype=None) -> Tensor:
    """x - logsumexp(x) along ``dim``, computed without overflow."""
    x = _float_input(input, "log_softmax")
    if dtype is not None:
        x = x.to(dtype)
    return Softmax.apply(x, _dim(dim, x.ndim, "log_softmax"), True)


# ---- losses -------------------------------------------------------------------------------


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, t, reduction):
        d = x - t
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        sq = d * d
        if reduction == "none":
            return sq
        return np.asarray(sq.mean() if reduction == "mean" else sq.sum(), dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        scale = 2.0 / d.size if ctx.reduction == "mean" else 2.0
        gx = (g * scale) * d
        nx, nt, _ = ctx.needs_input_grad
        return (gx if nx else None, -gx if nt else None, None)


def _loss_pair(op, input, target):
    x = _float_input(input, op)
    t = _float_input(target, op, "target", x.dtype) if not isinstance(target, Tensor) else target
    if t.data.dtype.kind != "f":
        raise TypeError(f"{op}: target must be floating point, got {t.dtype}")
    if x.shape != t.shape:
        raise ValueError(f"{op}: input shape {x.shape} and target shape {t.shape} differ")
    return x, t


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean squared error. Shape: input and target of the same shape."""
    _check_reduction("mse_loss", reduction)
    x, t = _loss_pair("mse_loss", input, target)
    return MSELoss.apply(x, t, reduction)


def _class_layout(op: str, x: np.ndarray, target: np.ndarray):
    """(N, C, d1, ...) input and (N, d1, ...) target -> rows (M, C) and flat targets (M,)."""
    if x.ndim == 1:  # unbatched (C,) with a 0-d target
        if target.ndim != 0:
            raise ValueError(
                f"{op}: for 1-D input {x.shape} the target must be 0-d, got {target.shape}"
            )
        return x[None, :], target.reshape(1)
    expected = (x.shape[0],) + x.shape[2:]
    if target.shape != expected:
        raise ValueError(
            f"{op}: input shape {x.shape} expects target shape {expected}, got {target.shape}"
        )
    rows = np.moveaxis(x, 1, -1).reshape(-1, x.shape[1])
    return rows, target.reshape(-1)


class NLLLoss(Function):
    # logp (N, C, d...), target (N, d...) int -> loss; mean divides by the summed weights
    @staticmethod
    def forward(ctx, logp, target, weight, ignore_index, reduction):
        rows, t = _class_layout("nll_loss", logp, target)
        m, c = rows.shape
        valid = t != ignore_index
        bad = valid & ((t < 0) | (t >= c))
        if bad.any():
            raise ValueError(f"nll_loss: target {int(t[bad][0])} is out of bounds for {c} classes")
        tc = np.where(valid, t, 0)
        w = valid.astype(logp.dtype)
        if weight is not None:
            w *= weight[tc]
        picked = rows[np.arange(m), tc]
        losses = -picked * w
        ctx.meta = (logp.shape, tc, w, reduction, target.shape)
        if reduction == "none":
            return losses.reshape(target.shape)
        total = losses.sum()
        if reduction == "mean":
            total = total / w.sum()
        return np.asarray(total, dtype=logp.dtype)

    @staticmethod
    def backward(ctx, g):
        shape, tc, w, reduction, tshape = ctx.meta
        m = tc.shape[0]
        c = shape[1] if len(shape) > 1 else shape[0]
        coef = -w
        if reduction == "none":
            coef = coef * g.reshape(-1)
        elif reduction == "mean":
            coef = coef * (g / w.sum())
        else:
            coef = coef * g
        grows = np.zeros((m, c), dtype=w.dtype)
        grows[np.arange(m), tc] = coef
        if len(shape) == 1:
            return grows.reshape(shape), None, None, None, None
        moved = grows.reshape((shape[0],) + shape[2:] + (c,))
        return np.moveaxis(moved, -1, 1), None, None, None, None


def _targets(op: str, target) -> np.ndarray:
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: class-index targets must be integers, got {t.dtype}")
    return t.astype(np.int64, copy=False)


def _class_weight(op: str, weight, c: int, dtype):
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=dtype)
    if w.shape != (c,):
        raise ValueError(f"{op}: weight must have shape ({c},) (one per class), got {w.shape}")
    return w


def nll_loss(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean"):
    """Negative log-likelihood of class-index targets given log-probabilities.

    Shape: input (N, C) or (N, C, d1, ...) or (C,); target (N,) / (N, d1, ...) / () of ints.
    """
    _check_reduction("nll_loss", reduction)
    x = _float_input(input, "nll_loss")
    t = _targets("nll_loss", target)
    if x.ndim == 0:
        raise ValueError("nll_loss: input must have at least 1 dimension")
    c = x.shape[1] if x.ndim > 1 else x.shape[0]
    w = _class_weight("nll_loss", weight, c, x.dtype)
    return NLLLoss.apply(x, t, w, int(ignore_index), reduction)


def cross_entropy(
    input,
    target,
    weight=None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between logits and class-index or class-probability targets.

    Args:
        input: logits (N, C), (N, C, d1, ...) or (C,).
        target: class indices (N,) / (N, d1, ...) / (), or probabilities shaped like input.
        weight: per-class weights (C,).
        ignore_index: class-index targets equal to it add nothing (and are not counted).
        reduction: 'none' | 'mean' | 'sum'.
        label_smoothing: in [0, 1]: mixes the target with the uniform distribution.
    """
    _check_reduction("cross_entropy", reduction)
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    x = _float_input(input, "cross_entropy")
    if x.ndim == 0:
        raise ValueError("cross_entropy: input must have at least 1 dimension")
    class_dim = 0 if x.ndim == 1 else 1
    c = x.shape[class_dim]
    w = _class_weight("cross_entropy", weight, c, x.dtype)
    logp = log_softmax(x, class_dim)
    t_raw = target.data if isinstance(target, Tensor) else np.asarray(target)

    if t_raw.dtype.kind == "f":  # class probabilities
        if t_raw.shape != x.shape:
            raise ValueError(
                f"cross_entropy: probability target shape {t_raw.shape} must equal input "
                f"shape {x.shape}"
            )
        tgt = target if isinstance(target, Tensor) else Tensor(t_raw.astype(x.dtype))
        if label_smoothing > 0:
            tgt = tgt * (1 - label_smoothing) + label_smoothing / c
        prod = logp * tgt
        if w is not None:
            prod = prod * Tensor(w.reshape((c,) + (1,) * (x.ndim - 1 - class_dim)))
        loss = -prod.sum(dim=class_dim)
        if reduction == "mean":
            return loss.sum() / (x.data.size // c)
        return _reduce(loss, reduction)

    t = _targets("cross_entropy", target)
    nll = NLLLoss.apply(logp, t, w, int(ignore_index), reduction)
    if label_smoothing == 0:
        return nll
    # PyTorch's rule: (1 - eps) * nll + eps / C * sum_c(-logp_c * w_c), ignored targets masked.
    wb = None if w is None else Tensor(w.reshape((c,) + (1,) * (x.ndim - 1 - class_dim)))
    smooth = -((logp * wb) if wb is not None else logp).sum(dim=class_dim)
    keep = t != ignore_index
    smooth = smooth * Tensor(keep.astype(x.dtype))
    if reduction == "mean":
        if w is None:
            denom = keep.sum()
        else:
            denom = w[np.where(keep, t, 0)][keep].sum()
        smooth = smooth.sum() / denom
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


__all__ = [
    "cross_entropy",
    "linear",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "tanh",
]
