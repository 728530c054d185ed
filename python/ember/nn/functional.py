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


class Activation(Function):
    """One fused C++ pass each way for every pointwise activation. Backward reads the forward
    input x (relu, leaky_relu, elu, gelu, softplus) or output y (sigmoid, tanh)."""

    _FROM_OUTPUT = ("sigmoid", "tanh")

    @staticmethod
    def forward(ctx, x, name, params):
        x = _contig(x)
        y = _C.activation_forward(name, x, **params)
        ctx.save_for_backward(y if name in Activation._FROM_OUTPUT else x)
        ctx.act, ctx.params = name, params
        return y

    @staticmethod
    def backward(ctx, g):
        (saved,) = ctx.saved_tensors
        g = _contig(g.astype(saved.dtype, copy=False))
        return _C.activation_backward(ctx.act, g, saved, **ctx.params), None, None


_NO_PARAMS: dict = {}


def _activation(op: str, input, params=_NO_PARAMS) -> Tensor:
    return Activation.apply(_float_input(input, op), op, params)


def relu(input, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise. (``inplace`` is accepted for PyTorch compatibility.)"""
    return _activation("relu", input)


def leaky_relu(input, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope * x."""
    return _activation("leaky_relu", input, {"alpha": float(negative_slope)})


def elu(input, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha * (exp(x) - 1)."""
    return _activation("elu", input, {"alpha": float(alpha)})


def gelu(input, approximate: str = "none") -> Tensor:
    """x * Phi(x) (exact, with erf) or its tanh approximation (approximate='tanh')."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return _activation("gelu", input, {"approximate": approximate})


def sigmoid(input) -> Tensor:
    """1 / (1 + exp(-x)), without overflow for any x."""
    return _activation("sigmoid", input)


def tanh(input) -> Tensor:
    return _activation("tanh", input)


def softplus(input, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta x)) / beta, and x itself where beta x > threshold (PyTorch's rule)."""
    if beta == 0:
        raise ValueError("softplus: beta must be nonzero")
    return _activation("softplus", input, {"beta": float(beta), "threshold": float(threshold)})


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
            with np.errstate(invalid="ignore", divide="ignore"):  # all ignored: NaN, as PyTorch
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
            with np.errstate(invalid="ignore", divide="ignore"):
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
        with np.errstate(invalid="ignore", divide="ignore"):
            smooth = smooth.sum() / denom
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


# ---- dropout and the losses of the training toolkit ---------------------------------------


class Dropout(Function):
    # x, keep-mask already scaled by 1 / (1 - p) -> x * mask
    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved_tensors
        return g * mask, None


def dropout(input, p: float = 0.5, training: bool = True, inplace: bool = False) -> Tensor:
    """Inverted dropout: zeroes each element with probability p and scales the rest by
    1 / (1 - p), so evaluation (``training=False``) is the identity. Draws from ember's
    generator (``ember.manual_seed``)."""
    if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
    x = _float_input(input, "dropout")
    if not training or p == 0.0:
        return x
    from ember.random import default_generator

    keep = default_generator().random(x.shape) >= p
    scale = 0.0 if p == 1.0 else 1.0 / (1.0 - p)
    mask = (keep * scale).astype(x.dtype)
    return Dropout.apply(x, mask)


# ---- elementwise losses -------------------------------------------------------------------


def _reduce_array(loss: np.ndarray, reduction: str, dtype) -> np.ndarray:
    if reduction == "none":
        return loss.astype(dtype, copy=False)
    return np.asarray(loss.mean() if reduction == "mean" else loss.sum(), dtype=dtype)


def _grad_scale(g, reduction: str, size: int):
    """The upstream gradient broadcast to every element: g (none), g / n (mean), g (sum)."""
    if reduction == "mean":
        return g / size
    return g


class L1Loss(Function):
    # |x - t|, reduced
    @staticmethod
    def forward(ctx, x, t, reduction):
        d = x - t
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        return _reduce_array(np.abs(d), reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        gx = _grad_scale(g, ctx.reduction, d.size) * np.sign(d)
        return gx, -gx, None


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    """Mean absolute error. Shape: input and target of the same shape."""
    _check_reduction("l1_loss", reduction)
    x, t = _loss_pair("l1_loss", input, target)
    return L1Loss.apply(x, t, reduction)


class HuberLoss(Function):
    # 0.5 d^2 if |d| < delta else delta (|d| - 0.5 delta), d = x - t
    @staticmethod
    def forward(ctx, x, t, reduction, delta):
        d = x - t
        ad = np.abs(d)
        loss = np.where(ad < delta, 0.5 * d * d, delta * (ad - 0.5 * delta))
        ctx.save_for_backward(d)
        ctx.reduction, ctx.delta = reduction, delta
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        local = np.clip(d, -ctx.delta, ctx.delta)
        gx = (_grad_scale(g, ctx.reduction, d.size) * local).astype(d.dtype, copy=False)
        return gx, -gx, None, None


def huber_loss(input, target, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: quadratic for |x - t| < delta, linear beyond. Shape: same shapes."""
    _check_reduction("huber_loss", reduction)
    if not delta > 0:
        raise ValueError(f"huber_loss: delta must be positive, got {delta}")
    x, t = _loss_pair("huber_loss", input, target)
    return HuberLoss.apply(x, t, reduction, float(delta))


def _broadcast_weight(op: str, weight, shape, dtype, name: str = "weight"):
    if weight is None:
        return None
    w = np.asarray(weight.data if isinstance(weight, Tensor) else weight, dtype=dtype)
    try:
        np.broadcast_shapes(w.shape, shape)
    except ValueError:
        raise ValueError(f"{op}: {name} shape {w.shape} does not broadcast to {shape}") from None
    if np.broadcast_shapes(w.shape, shape) != tuple(shape):
        raise ValueError(f"{op}: {name} shape {w.shape} does not broadcast to {shape}")
    return w


class BCELoss(Function):
    # -w (t log x + (1 - t) log(1 - x)), each log clamped to >= -100 as PyTorch does
    @staticmethod
    def forward(ctx, x, t, w, reduction):
        with np.errstate(divide="ignore"):  # log(0) = -inf, clamped to -100 next
            logx = np.maximum(np.log(x), -100)
            log1mx = np.maximum(np.log1p(-x), -100)
        loss = -(t * logx + (1 - t) * log1mx)
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, logx, log1mx)
        ctx.w, ctx.reduction = w, reduction
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t, logx, log1mx = ctx.saved_tensors
        eps = 1e-12  # PyTorch's backward: (x - t) / max((1 - x) x, eps)
        s = _grad_scale(g, ctx.reduction, x.size)
        if ctx.w is not None:
            s = s * ctx.w
        gx = s * (x - t) / np.maximum((1 - x) * x, eps)
        gt = s * (log1mx - logx)
        return gx.astype(x.dtype, copy=False), gt.astype(x.dtype, copy=False), None, None


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy between probabilities ``input`` in [0, 1] and ``target``.

    Shape: input and target of the same shape; weight broadcastable to it.
    """
    _check_reduction("binary_cross_entropy", reduction)
    x, t = _loss_pair("binary_cross_entropy", input, target)
    xd = x.data
    if xd.size and (np.any(xd < 0) or np.any(xd > 1) or np.any(np.isnan(xd))):
        raise ValueError(
            "binary_cross_entropy: all elements of input should be between 0 and 1 "
            f"(got min {np.nanmin(xd) if not np.all(np.isnan(xd)) else 'nan'}, "
            f"max {np.nanmax(xd) if not np.all(np.isnan(xd)) else 'nan'}); for logits use "
            "binary_cross_entropy_with_logits"
        )
    w = _broadcast_weight("binary_cross_entropy", weight, x.shape, x.dtype)
    return BCELoss.apply(x, t, w, reduction)


class BCEWithLogitsLoss(Function):
    # w ((1 - t) x + (1 + (pw - 1) t) softplus(-x)), softplus(-x) = log1p(exp(-|x|)) + max(-x, 0)
    @staticmethod
    def forward(ctx, x, t, w, pw, reduction):
        sp = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)  # finite for any finite x
        lw = 1 if pw is None else 1 + (pw - 1) * t
        loss = (1 - t) * x + lw * sp
        if w is not None:
            loss = loss * w
        ctx.save_for_backward(x, t, sp)
        ctx.w, ctx.pw, ctx.reduction = w, pw, reduction
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, t, sp = ctx.saved_tensors
        e = np.exp(-np.abs(x))
        sig = np.where(x >= 0, 1 / (1 + e), e / (1 + e))  # scalar math: sigmoid(x), stable
        s = _grad_scale(g, ctx.reduction, x.size)
        if ctx.w is not None:
            s = s * ctx.w
        if ctx.pw is None:
            gx = s * (sig - t)
            gt = -s * x
        else:
            lw = 1 + (ctx.pw - 1) * t
            gx = s * ((1 - t) - lw * (1 - sig))
            gt = s * (-x + (ctx.pw - 1) * sp)
        return gx.astype(x.dtype, copy=False), gt.astype(x.dtype, copy=False), None, None, None


def binary_cross_entropy_with_logits(
    input, target, weight=None, reduction: str = "mean", pos_weight=None
) -> Tensor:
    """Sigmoid + binary cross-entropy in one numerically stable step (finite for logits of
    any size).

    Args:
        input: logits. target: same shape, in [0, 1].
        weight: broadcastable to input: rescales each element's loss.
        pos_weight: broadcastable to input (usually (C,)): weight of the positive term.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    x, t = _loss_pair(op, input, target)
    w = _broadcast_weight(op, weight, x.shape, x.dtype)
    pw = _broadcast_weight(op, pos_weight, x.shape, x.dtype, "pos_weight")
    return BCEWithLogitsLoss.apply(x, t, w, pw, reduction)


class HingeEmbeddingLoss(Function):
    # x where t != -1, plus max(0, margin - x) where t != 1 (PyTorch's rule)
    @staticmethod
    def forward(ctx, x, t, margin, reduction):
        pos, neg = t != -1, t != 1
        active = neg & (margin - x > 0)
        loss = np.where(pos, x, 0) + np.where(active, margin - x, 0)
        ctx.save_for_backward(pos, active)
        ctx.reduction = reduction
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        pos, active = ctx.saved_tensors
        s = _grad_scale(g, ctx.reduction, pos.size)
        gx = s * (pos.astype(np.int8) - active.astype(np.int8))
        return gx.astype(np.result_type(g), copy=False), None, None, None


def hinge_embedding_loss(input, target, margin: float = 1.0, reduction: str = "mean") -> Tensor:
    """x where target is 1, max(0, margin - x) where target is -1.

    Shape: input (any) and target (same shape) of 1 / -1 values.
    """
    op = "hinge_embedding_loss"
    _check_reduction(op, reduction)
    x = _float_input(input, op)
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if t.shape != x.shape:
        raise ValueError(f"{op}: input shape {x.shape} and target shape {t.shape} differ")
    return HingeEmbeddingLoss.apply(x, t.astype(x.dtype), float(margin), reduction)


class MultiMarginLoss(Function):
    # x (N, C), y (N,): sum_{i != y} w[y] max(0, margin - x[y] + x[i])^p / C
    @staticmethod
    def forward(ctx, x, y, p, margin, w, reduction):
        x2 = x.reshape(-1, x.shape[-1])
        n, c = x2.shape
        rows = np.arange(n)
        z = margin - x2[rows, y][:, None] + x2
        z[rows, y] = 0
        active = z > 0
        h = np.where(active, z if p == 1 else z * z, 0)
        if w is not None:
            h = h * w[y][:, None]
        loss = h.sum(axis=1) / c
        ctx.save_for_backward(z, active)
        ctx.meta = (x.shape, y, p, w, reduction)
        if reduction == "none":
            return loss.reshape(x.shape[:-1]).astype(x.dtype)
        return _reduce_array(loss, reduction, x.dtype)

    @staticmethod
    def backward(ctx, g):
        z, active = ctx.saved_tensors
        shape, y, p, w, reduction = ctx.meta
        n, c = z.shape
        rows = np.arange(n)
        d = np.where(active, 1.0 if p == 1 else 2 * z, 0) / c
        if w is not None:
            d = d * w[y][:, None]
        if reduction == "none":
            d = d * np.reshape(g, (n, 1))
        else:
            d = d * (g / n if reduction == "mean" else g)
        gx = d.copy()
        gx[rows, y] = -d.sum(axis=1)
        return gx.reshape(shape).astype(z.dtype, copy=False), None, None, None, None, None


def multi_margin_loss(
    input, target, p: int = 1, margin: float = 1.0, weight=None, reduction: str = "mean"
) -> Tensor:
    """Multi-class hinge loss (Weston & Watkins / Crammer-Singer style as PyTorch's).

    Shape: input (N, C) or (C,); target (N,) or () of class indices in [0, C).
    """
    op = "multi_margin_loss"
    _check_reduction(op, reduction)
    if p not in (1, 2):
        raise ValueError(f"{op}: only p == 1 and p == 2 are supported, got {p!r}")
    x = _float_input(input, op)
    t = _targets(op, target)
    if x.ndim not in (1, 2) or x.shape[-1] == 0:
        raise ValueError(f"{op}: input must be (N, C) or (C,) with C > 0, got {x.shape}")
    if t.shape != x.shape[:-1]:
        raise ValueError(f"{op}: input shape {x.shape} expects target shape {x.shape[:-1]}, "
                         f"got {t.shape}")  # fmt: skip
    c = x.shape[-1]
    if t.size and (t.min() < 0 or t.max() >= c):
        bad = t[(t < 0) | (t >= c)][0]
        raise ValueError(f"{op}: target {int(bad)} is out of bounds for {c} classes")
    w = _class_weight(op, weight, c, x.dtype)
    return MultiMarginLoss.apply(x, t.reshape(-1), int(p), float(margin), w, reduction)


# ---- convolution, pooling, batch norm -------------------------------------------------------


def _int_arg(v, op: str, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int | np.integer):
        raise TypeError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
    return int(v)


def _pair(v, op: str, name: str) -> tuple[int, int]:
    """An int or a pair of ints -> (h, w)."""
    if isinstance(v, tuple | list):
        if len(v) != 2:
            raise ValueError(f"{op}: {name} must be an int or a pair of ints, got {v!r}")
        return _int_arg(v[0], op, name), _int_arg(v[1], op, name)
    v = _int_arg(v, op, name)
    return v, v


def _conv_padding(padding, kernel, stride, dilation, op: str = "conv2d"):
    """padding -> (top, bottom, left, right). Strings as PyTorch: 'valid' none, 'same' keeps
    the size (stride 1 only; for an even extent the extra row/column goes bottom/right), and
    'full' pads dilation*(k-1) on every side (every partial overlap)."""
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0, 0, 0
        if padding == "same":
            if stride != (1, 1):
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            th, tw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return th // 2, th - th // 2, tw // 2, tw - tw // 2
        if padding == "full":
            ph, pw = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
            return ph, ph, pw, pw
        raise ValueError(
            f"{op}: padding must be an int, a pair, 'valid', 'same' or 'full', got {padding!r}"
        )
    ph, pw = _pair(padding, op, "padding")
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
    return ph, ph, pw, pw


class Conv2d(Function):
    # x (N,C,H,W), w (O,C/g,KH,KW), b (O) -> y (N,O,OH,OW); padding (top, bottom, left, right)
    @staticmethod
    def forward(ctx, x, w, b, stride, padding, dilation, groups):
        y = _C.conv2d_forward(x, w, b, stride, padding, dilation, groups)
        ctx.save_for_backward(x, w)
        ctx.args = (stride, padding, dilation, groups)
        ctx.has_bias = b is not None
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = _contig(g.astype(x.dtype, copy=False))
        dx, dw, db = _C.conv2d_backward(
            g, x, w, *ctx.args, need_input=nx, need_weight=nw, need_bias=nb and ctx.has_bias
        )
        return dx, dw, db, None, None, None, None


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Tensor:
    """2-D convolution (cross-correlation, as PyTorch) over an NCHW batch.

    Args:
        input: (N, C, H, W), or unbatched (C, H, W) when C matches the weight.
        weight: (O, C/groups, KH, KW). bias: (O,) or None.
        stride, dilation: int or (h, w), >= 1.
        padding: int or (h, w) >= 0, or 'valid' (none), 'same' (output size = input size;
            stride 1 only; even kernels get the extra row/column at the bottom/right, as
            PyTorch) or 'full' (dilation*(k-1) on every side: every partial overlap).
        groups: splits the channels into independent groups (groups == C: depthwise).

    Shape:
        OH = (H + pad_top + pad_bottom - dilation*(KH-1) - 1) // stride + 1, OW likewise.

    Example::

        >>> F.conv2d(ember.randn(2, 3, 8, 8), ember.randn(4, 3, 3, 3), padding="same").shape
        (2, 4, 8, 8)
    """
    op = "conv2d"
    weight = _float_input(weight, op, "weight")
    x = _float_input(input, op, "input", weight.dtype)
    if weight.ndim != 4:
        raise ValueError(
            f"{op}: weight must be 4-D (O, C/groups, KH, KW), got shape {weight.shape}"
        )
    groups = _int_arg(groups, op, "groups")
    if groups < 1:
        raise ValueError(f"{op}: groups must be >= 1, got {groups}")
    unbatched = False
    if x.ndim == 3:
        # PyTorch accepts an unbatched (C, H, W) image; anything else 3-D is refused.
        if x.shape[0] != weight.shape[1] * groups:
            raise ValueError(
                f"{op}: expected a 4-D (N, C, H, W) input, or an unbatched (C, H, W) one with "
                f"C = {weight.shape[1] * groups} for weight {weight.shape} and groups={groups}; "
                f"got shape {x.shape}"
            )
        unbatched = True
        x = x.unsqueeze(0)
    elif x.ndim != 4:
        raise ValueError(f"{op}: input must be 4-D (N, C, H, W) or 3-D (C, H, W), got {x.shape}")
    stride = _pair(stride, op, "stride")
    dilation = _pair(dilation, op, "dilation")
    if min(stride) < 1:
        raise ValueError(f"{op}: stride must be >= 1, got {stride}")
    if min(dilation) < 1:
        raise ValueError(f"{op}: dilation must be >= 1, got {dilation}")
    pad = _conv_padding(padding, weight.shape[2:], stride, dilation, op)
    if bias is not None:
        bias = _float_input(bias, op, "bias", weight.dtype)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"{op}: bias must have shape ({weight.shape[0]},), got {bias.shape}")
    # Validates channels, groups, and a kernel larger than the padded input (ValueError).
    _C.conv2d_output_size(x.shape, weight.shape, stride, pad, dilation, groups)
    x, weight = x.contiguous(), weight.contiguous()
    if bias is not None:
        bias = bias.contiguous()
    y = Conv2d.apply(x, weight, bias, stride, pad, dilation, groups)
    return y.squeeze(0) if unbatched else y


def _pool_args(op, kernel_size, stride, padding, dilation=1):
    k = _pair(kernel_size, op, "kernel_size")
    s = k if stride is None or (isinstance(stride, tuple | list) and len(stride) == 0) else stride
    return k, _pair(s, op, "stride"), _pair(padding, op, "padding"), _pair(dilation, op, "dilation")


def _pool_input(input, op: str) -> Tensor:
    x = _float_input(input, op)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: input must be 3-D (C, H, W) or 4-D (N, C, H, W), got {x.shape}")
    return x if x.data.flags.c_contiguous else x.contiguous()


class MaxPool2d(Function):
    # x (.., H, W) -> y (.., OH, OW), indices (.., OH, OW) int64 flat into H*W
    @staticmethod
    def forward(ctx, x, k, s, p, d, ceil_mode):
        y, idx = _C.max_pool2d_forward(x, k, s, p, d, ceil_mode)
        ctx.save_for_backward(idx)
        ctx.shape, ctx.dtype = x.shape, x.dtype
        ctx.mark_non_differentiable(1)
        return y, idx

    @staticmethod
    def backward(ctx, g, _gidx=None):
        (idx,) = ctx.saved_tensors
        g = _contig(g.astype(ctx.dtype, copy=False))
        return _C.max_pool2d_backward(g, idx, ctx.shape), None, None, None, None, None


def max_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    dilation=1,
    ceil_mode: bool = False,
    return_indices: bool = False,
):
    """2-D max pooling; ``stride`` defaults to ``kernel_size``; implicit padding is -inf;
    padding must be at most half the kernel. With ``return_indices`` also returns the int64
    argmax of each window, flat into H*W (as PyTorch's, usable by max_unpool2d).

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW),
        OH = floor_or_ceil((H + 2p - d*(k-1) - 1) / s) + 1.
    """
    x = _pool_input(input, "max_pool2d")
    k, s, p, d = _pool_args("max_pool2d", kernel_size, stride, padding, dilation)
    y, idx = MaxPool2d.apply(x, k, s, p, d, bool(ceil_mode))
    return (y, idx) if return_indices else y


class AvgPool2d(Function):
    # x (.., H, W) -> y (.., OH, OW): the mean of each window (PyTorch's divisor rules)
    @staticmethod
    def forward(ctx, x, k, s, p, ceil_mode, count_include_pad, divisor_override):
        ctx.args = (k, s, p, ceil_mode, count_include_pad, divisor_override)
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return _C.avg_pool2d_forward(x, *ctx.args)

    @staticmethod
    def backward(ctx, g):
        g = _contig(g.astype(ctx.dtype, copy=False))
        return (_C.avg_pool2d_backward(g, ctx.shape, *ctx.args),) + (None,) * 6


def avg_pool2d(
    input,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override=None,
) -> Tensor:
    """2-D average pooling; ``stride`` defaults to ``kernel_size``. ``count_include_pad``
    counts the zero padding in each window's divisor; ``divisor_override`` replaces it.

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW), OH = floor_or_ceil((H + 2p - k) / s) + 1.
    """
    x = _pool_input(input, "avg_pool2d")
    k, s, p, _ = _pool_args("avg_pool2d", kernel_size, stride, padding)
    if divisor_override is not None:
        divisor_override = _int_arg(divisor_override, "avg_pool2d", "divisor_override")
    return AvgPool2d.apply(x, k, s, p, bool(ceil_mode), bool(count_include_pad), divisor_override)


class AdaptiveAvgPool2d(Function):
    # x (.., H, W) -> y (.., OH, OW): window i spans [floor(i*H/OH), ceil((i+1)*H/OH))
    @staticmethod
    def forward(ctx, x, out):
        ctx.shape, ctx.dtype = x.shape, x.dtype
        return _C.adaptive_avg_pool2d_forward(x, out)

    @staticmethod
    def backward(ctx, g):
        g = _contig(g.astype(ctx.dtype, copy=False))
        return _C.adaptive_avg_pool2d_backward(g, ctx.shape), None


def adaptive_avg_pool2d(input, output_size) -> Tensor:
    """Average pooling to a fixed output size (an int, or (h, w) where None keeps that size).

    Shape: (N, C, H, W) or (C, H, W) -> (.., OH, OW).
    """
    x = _pool_input(input, "adaptive_avg_pool2d")
    if isinstance(output_size, tuple | list) and len(output_size) == 2:
        oh, ow = (
            (x.shape[-2] if output_size[0] is None else output_size[0]),
            (x.shape[-1] if output_size[1] is None else output_size[1]),
        )
        out = _pair((oh, ow), "adaptive_avg_pool2d", "output_size")
    else:
        out = _pair(output_size, "adaptive_avg_pool2d", "output_size")
    return AdaptiveAvgPool2d.apply(x, out)


class BatchNorm(Function):
    # x (N, C, *) -> y = (x - mean) * invstd * weight + bias; batch statistics when training
    # (running statistics updated in place by the kernel), else the running statistics
    @staticmethod
    def forward(ctx, x, w, b, running_mean, running_var, training, momentum, eps):
        y, mean, invstd = _C.batch_norm_forward(
            x, w, b, running_mean, running_var, training, momentum, eps
        )
        ctx.save_for_backward(x, w, mean, invstd)
        ctx.training = training
        return y

    @staticmethod
    def backward(ctx, g):
        x, w, mean, invstd = ctx.saved_tensors
        nx, nw, nb = ctx.needs_input_grad[:3]
        g = _contig(g.astype(x.dtype, copy=False))
        dx, dw, db = _C.batch_norm_backward(
            g, x, w, mean, invstd, ctx.training, need_input=nx, need_weight=nw, need_bias=nb
        )
        return dx, dw, db, None, None, None, None, None


def _stat_array(t, op: str, name: str):
    if t is None:
        return None
    if not isinstance(t, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor or None, got {type(t).__name__}")
    return t.data


def batch_norm(
    input,
    running_mean,
    running_var,
    weight=None,
    bias=None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over (N, C), (N, C, L) or (N, C, H, W), per channel C.

    Training uses the batch statistics and, when running_mean/running_var are given, updates
    them in place: running = (1 - momentum) * running + momentum * batch (the unbiased batch
    variance, as PyTorch). Eval mode normalises with the running statistics.

    Args:
        running_mean, running_var: (C,) Tensors of the input's dtype, or None (training only).
        weight, bias: (C,) affine parameters, or None.
    """
    op = "batch_norm"
    x = _float_input(input, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: input must be at least 2-D (N, C, ...), got shape {x.shape}")
    c = x.shape[1]
    args = []
    for t, name in ((weight, "weight"), (bias, "bias")):
        if t is not None:
            t = _float_input(t, op, name, x.dtype)
            if t.shape != (c,):
                raise ValueError(f"{op}: {name} must have shape ({c},), got {t.shape}")
            if not t.data.flags.c_contiguous:
                t = t.contiguous()
        args.append(t)
    rm = _stat_array(running_mean, op, "running_mean")
    rv = _stat_array(running_var, op, "running_var")
    if not training and (rm is None or rv is None):
        raise ValueError(f"{op}: running_mean and running_var are required when not training")
    return BatchNorm.apply(
        x.contiguous(), args[0], args[1], rm, rv, bool(training), float(momentum), eps
    )


__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "dropout",
    "elu",
    "gelu",
    "hinge_embedding_loss",
    "huber_loss",
    "l1_loss",
    "leaky_relu",
    "linear",
    "log_softmax",
    "mse_loss",
    "multi_margin_loss",
    "nll_loss",
    "relu",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
    # convolution, pooling, batch norm
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "max_pool2d",
]
