"""ember.nn.functional: the single entry of every neural-network op.

Each op is a Function subclass (forward and backward side by side, calling the C++ kernel in
``ember._C``) followed by its lowercase functional wrapper, which checks the arguments and makes
the inputs contiguous and of the right dtype before anything reaches C++.
"""

from __future__ import annotations

import math

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
        x2 = _contig(x).reshape(math.prod(lead), x.shape[-1])  # (-1 fails when in_features is 0)
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
        g2 = _contig(g).reshape(x2.shape[0], w.shape[0])
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
        with np.errstate(invalid="ignore"):  # an empty mean is NaN, without NumPy's warning
            total = sq.sum() / np.asarray(sq.size, x.dtype) if reduction == "mean" else sq.sum()
        return np.asarray(total, dtype=x.dtype)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved_tensors
        scale = 2.0 / max(d.size, 1) if ctx.reduction == "mean" else 2.0  # empty: no grad
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
            tw = w.sum()  # every target ignored: the loss is NaN but its gradient 0, as PyTorch
            coef = coef * (g / tw) if tw != 0 else coef * 0
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
        # every target ignored: nll is already NaN; keep the gradient 0 (0/0 would make it NaN)
        smooth = smooth.sum() / denom if denom != 0 else smooth.sum() * 0
    elif reduction == "sum":
        smooth = smooth.sum()
    return nll * (1 - label_smoothing) + smooth * (label_smoothing / c)


# ---- layer norm (attention branch) --------------------------------------------------------


def _normalized_shape(normalized_shape, op: str) -> tuple:
    if isinstance(normalized_shape, int | np.integer):
        return (int(normalized_shape),)
    try:
        if isinstance(normalized_shape, str):
            raise TypeError
        shape = tuple(int(d) for d in normalized_shape)
    except (TypeError, ValueError):
        raise TypeError(
            f"{op}: normalized_shape must be an int or a sequence of ints, got {normalized_shape!r}"
        ) from None
    return shape


class LayerNorm(Function):
    # x (*, *normalized_shape), w, b (normalized_shape) or None -> y, normalised over the last dims
    @staticmethod
    def forward(ctx, x, w, b, m, eps):
        x2 = _contig(x).reshape(-1, m)
        wf = None if w is None else _contig(w).reshape(m)
        bf = None if b is None else _contig(b).reshape(m)
        y, mean, rstd = _C.layer_norm_forward(x2, wf, bf, eps)
        ctx.save_for_backward(x2, mean, rstd, wf)
        ctx.shapes = (x.shape, None if w is None else w.shape, None if b is None else b.shape)
        return y.reshape(x.shape)

    @staticmethod
    def backward(ctx, g):
        x2, mean, rstd, wf = ctx.saved_tensors
        xs, ws, bs = ctx.shapes
        _, nw, nb = ctx.needs_input_grad[:3]
        g2 = _contig(g.astype(x2.dtype, copy=False)).reshape(x2.shape)
        dx, dw, db = _C.layer_norm_backward(g2, x2, mean, rstd, wf, bool(nw), bool(nb))
        return (
            dx.reshape(xs),
            dw.reshape(ws) if nw else None,
            db.reshape(bs) if nb else None,
            None,
            None,
        )


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """Layer normalisation over the last ``len(normalized_shape)`` dims:
    y = (x - mean) / sqrt(var + eps) * weight + bias, with the biased variance.

    Shape:
        input (*, *normalized_shape); weight, bias (normalized_shape) or None -> input's shape.

    Example::

        >>> F.layer_norm(ember.randn(2, 5, 8), (8,)).shape
        (2, 5, 8)
    """
    shape = _normalized_shape(normalized_shape, "layer_norm")
    dtype = None
    if weight is not None:
        weight = _float_input(weight, "layer_norm", "weight")
        dtype = weight.dtype
    if bias is not None:
        bias = _float_input(bias, "layer_norm", "bias", dtype)
        dtype = bias.dtype
    x = _float_input(input, "layer_norm", "input", dtype)
    k = len(shape)
    if k == 0 or any(d < 1 for d in shape):
        raise ValueError(
            f"layer_norm: normalized_shape must be non-empty and positive, got {shape}"
        )
    if x.ndim < k or tuple(x.shape[-k:]) != shape:
        raise ValueError(
            f"layer_norm: input shape {x.shape} does not end with normalized_shape {shape}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and tuple(p.shape) != shape:
            raise ValueError(
                f"layer_norm: {name} shape {p.shape} must equal normalized_shape {shape}"
            )
    if not eps >= 0:
        raise ValueError(f"layer_norm: eps must be >= 0, got {eps}")
    return LayerNorm.apply(x, weight, bias, int(np.prod(shape)), float(eps))


# ---- attention ----------------------------------------------------------------------------


def _sdpa_mask(attn_mask, batch: tuple, lq: int, lk: int, dtype):
    """A mask broadcast over (*batch, Lq, Lk) as (contiguous base, per-batch offsets, row stride,
    column stride), all in elements: the kernel reads it by strides, nothing is expanded."""
    m = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    if m.dtype == np.bool_:
        pass
    elif m.dtype.kind == "f":
        m = m.astype(dtype, copy=False)
    else:
        raise TypeError(
            f"scaled_dot_product_attention: attn_mask must be bool or float, got {m.dtype}"
        )
    full = batch + (lq, lk)
    if m.ndim > len(full):
        raise ValueError(
            f"scaled_dot_product_attention: attn_mask shape {m.shape} has more dims than the "
            f"attention weights {full}"
        )
    m = np.ascontiguousarray(m)
    try:
        view = np.broadcast_to(m, full)
    except ValueError:
        raise ValueError(
            f"scaled_dot_product_attention: attn_mask shape {m.shape} does not broadcast to the "
            f"attention weights' shape {full} (batch..., L, S)"
        ) from None
    st = [s // m.itemsize for s in view.strides]
    off = np.zeros(batch, dtype=np.int64)
    for d, n in enumerate(batch):
        if st[d]:
            shape = [1] * len(batch)
            shape[d] = n
            off = off + (np.arange(n, dtype=np.int64) * st[d]).reshape(shape)
    off = np.ascontiguousarray(np.broadcast_to(off, batch).reshape(-1))
    return m, off, int(st[-2]), int(st[-1])


class ScaledDotProductAttention(Function):
    # q (*, L, E), k (*, S, E), v (*, S, Ev) -> out (*, L, Ev); saves only the row logsumexp
    @staticmethod
    def forward(ctx, q, k, v, mask, is_causal, scale, dropout_p, seed):
        batch = q.shape[:-2]
        bh = int(np.prod(batch))
        q3 = _contig(q).reshape(bh, *q.shape[-2:])
        k3 = _contig(k).reshape(bh, *k.shape[-2:])
        v3 = _contig(v).reshape(bh, *v.shape[-2:])
        mbase, moff, msr, msc = mask if mask is not None else (None, None, 0, 0)
        opts = (mbase, moff, msr, msc, is_causal, scale, dropout_p, seed)
        out, lse = _C.sdpa_forward(q3, k3, v3, *opts)
        ctx.save_for_backward(q3, k3, v3, out, lse)
        ctx.meta = (opts, q.shape, k.shape, v.shape)
        return out.reshape(*batch, q.shape[-2], v.shape[-1])

    @staticmethod
    def backward(ctx, g):
        q3, k3, v3, out, lse = ctx.saved_tensors
        opts, qs, ks, vs = ctx.meta
        g3 = _contig(g.astype(q3.dtype, copy=False)).reshape(out.shape)
        dq, dk, dv = _C.sdpa_backward(g3, q3, k3, v3, out, lse, *opts)
        nq, nk, nv = ctx.needs_input_grad[:3]
        return (
            dq.reshape(qs) if nq else None,
            dk.reshape(ks) if nk else None,
            dv.reshape(vs) if nv else None,
            None,
            None,
            None,
            None,
            None,
        )


def scaled_dot_product_attention(
    query,
    key,
    value,
    attn_mask=None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value, fused (flash-attention style): the
    L x S weights are never stored, forward or backward.

    Args:
        query, key, value: (*, L, E), (*, S, E), (*, S, Ev) with the same leading dims.
        attn_mask: bool (True = takes part, as PyTorch) or float (added to the logits), any shape
            that broadcasts to (*, L, S). A float mask is a constant: it gets no gradient.
        dropout_p: dropout on the attention weights, applied whenever > 0 (as PyTorch's
            functional form: pass 0.0 in evaluation). The mask comes from ember's generator.
        is_causal: query i attends to keys j <= i (top-left aligned, as PyTorch). Giving
            both is_causal and attn_mask is an error, as in PyTorch.
        scale: defaults to 1 / sqrt(E).

    A row whose keys are all masked gives an output row of 0 and zero gradients (as PyTorch's
    CPU kernels in 2.x return).

    Shape:
        -> (*, L, Ev)

    Example::

        >>> q = k = v = ember.randn(2, 4, 16, 8)
        >>> F.scaled_dot_product_attention(q, k, v, is_causal=True).shape
        (2, 4, 16, 8)
    """
    if is_causal and attn_mask is not None:
        raise ValueError(
            "scaled_dot_product_attention: give attn_mask or is_causal=True, not both (as PyTorch)"
        )
    return _attention(query, key, value, attn_mask, dropout_p, is_causal, scale)


def _attention(query, key, value, attn_mask, dropout_p, is_causal, scale) -> Tensor:
    """scaled_dot_product_attention without the PyTorch rule against attn_mask with is_causal:
    here both apply (a key takes part only if both allow it), as MultiheadAttention needs."""
    op = "scaled_dot_product_attention"
    q = _float_input(query, op, "query")
    k = _float_input(key, op, "key", q.dtype)
    v = _float_input(value, op, "value", q.dtype)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(
            f"{op}: query, key and value must be at least 2-D (*, L, E), got {q.shape}, "
            f"{k.shape}, {v.shape}"
        )
    if not (q.shape[:-2] == k.shape[:-2] == v.shape[:-2]):
        raise ValueError(
            f"{op}: query, key and value must have the same leading (batch, head) dims, got "
            f"{q.shape}, {k.shape}, {v.shape}"
        )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{op}: query and key head dims differ: query {q.shape}, key {k.shape}")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{op}: key and value sequence lengths differ: key {k.shape}, value {v.shape}"
        )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(f"{op}: dropout_p must be in [0, 1], got {dropout_p}")
    if scale is None:
        scale = 1.0 / np.sqrt(q.shape[-1]) if q.shape[-1] > 0 else 1.0
    elif not np.isfinite(scale):
        raise ValueError(f"{op}: scale must be finite, got {scale}")
    mask = None
    if attn_mask is not None:
        mask = _sdpa_mask(attn_mask, q.shape[:-2], q.shape[-2], k.shape[-2], q.dtype)
    seed = 0
    if dropout_p > 0:
        from ember.random import default_generator

        seed = int(default_generator().integers(0, 2**63))
    return ScaledDotProductAttention.apply(
        q, k, v, mask, bool(is_causal), float(scale), float(dropout_p), seed
    )


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


_PAD_MODES = {"constant": "constant", "reflect": "reflect", "replicate": "edge", "circular": "wrap"}


class Pad(Function):
    # x (..., H, W) -> y (..., H + top + bottom, W + left + right); each padded axis gathers
    # from the source index np.pad gives, and backward scatters (adds) back along those indices.
    @staticmethod
    def forward(ctx, x, widths, mode, value):
        ctx.meta = (x.shape, widths, mode)
        if mode == "constant":
            return np.pad(x, widths, mode="constant", constant_values=value)
        y = x
        for ax, (lo, hi) in enumerate(widths):
            if lo or hi:
                idx = np.pad(np.arange(x.shape[ax]), (lo, hi), mode=_PAD_MODES[mode])
                y = np.take(y, idx, axis=ax)
        return y

    @staticmethod
    def backward(ctx, g):
        shape, widths, mode = ctx.meta
        if mode == "constant":
            return (
                g[tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, shape))],
                None,
                None,
                None,
            )
        for ax in reversed(range(len(shape))):
            lo, hi = widths[ax]
            if lo or hi:
                idx = np.pad(np.arange(shape[ax]), (lo, hi), mode=_PAD_MODES[mode])
                out = np.zeros(g.shape[:ax] + (shape[ax],) + g.shape[ax + 1 :], g.dtype)
                np.add.at(out, (slice(None),) * ax + (idx,), g)
                g = out
        return g, None, None, None


def pad(input, pad, mode: str = "constant", value=None) -> Tensor:
    """Pad the last len(pad) // 2 dims: pad = (left, right, top, bottom, ...) as PyTorch.

    mode: 'constant' (with ``value``, default 0), 'reflect', 'replicate' or 'circular'
    (these three pad the last 1 or 2 dims of a batched or unbatched input).
    """
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {list(_PAD_MODES)}, got {mode!r}")
    x = input if isinstance(input, Tensor) else Tensor(input)
    pad = tuple(_int_arg(p, "pad", "pad") for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(f"pad: padding length {len(pad)} must be even and at most 2 * {x.ndim}")
    if min(pad, default=0) < 0:
        raise ValueError(f"pad: negative padding {pad} is not supported")
    k = len(pad) // 2
    widths = [(0, 0)] * (x.ndim - k) + [(pad[2 * i], pad[2 * i + 1]) for i in reversed(range(k))]
    if mode != "constant":
        if value:
            raise ValueError(f"pad: padding mode {mode!r} doesn't take in value argument")
        if k > 2 or x.ndim < k + 1:
            raise ValueError(
                f"pad: {mode} pads the last 1 or 2 dims of a {k + 1}-D or larger input"
            )
        for (lo, hi), n in zip(widths[-k:], x.shape[-k:]):
            limit = n - 1 if mode == "reflect" else n
            if (lo or hi) and (n == 0 or max(lo, hi) > limit):
                raise ValueError(
                    f"pad: {mode} padding {pad} is too large for input shape {x.shape}"
                )
    return Pad.apply(x, tuple(widths), mode, 0 if value is None else value)


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


# ---- recurrent layers ---------------------------------------------------------------------
# One layer in one direction over a whole sequence, time-major (csrc/ops/rnn.cpp). nn.RNN /
# nn.LSTM / nn.GRU stack layers and directions on these; the cells are the T = 1 case.
# lengths: None or int64 (N,) in [1, T]: steps t >= lengths[n] leave sequence n's state unchanged,
# output zeros and get no gradient (pack_padded_sequence semantics).


def _grad_arr(g: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(g, dtype=dtype)


class LSTMLayer(Function):
    # x (T,N,I), h0, c0 (N,H), w_ih (4H,I), w_hh (4H,H), b_ih, b_hh (4H,) or None
    # -> y (T,N,H), h_n (N,H), c_n (N,H)
    @staticmethod
    def forward(ctx, x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
        y, h_n, c_n, gates, cells = _C.lstm_forward(
            x, h0, c0, w_ih, w_hh, b_ih, b_hh, lengths, reverse
        )
        ctx.save_for_backward(x, h0, c0, w_ih, w_hh, y, gates, cells)
        ctx.opts = (b_ih is not None, lengths, reverse)
        return y, h_n, c_n

    @staticmethod
    def backward(ctx, dy, dh_n, dc_n):
        x, h0, c0, w_ih, w_hh, y, gates, cells = ctx.saved_tensors
        has_bias, lengths, reverse = ctx.opts
        dt = x.dtype
        dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh = _C.lstm_backward(
            _grad_arr(dy, dt), _grad_arr(dh_n, dt), _grad_arr(dc_n, dt),
            x, h0, c0, w_ih, w_hh, has_bias, lengths, reverse, y, gates, cells,
        )  # fmt: skip
        return dx, dh0, dc0, dw_ih, dw_hh, db_ih, db_hh, None, None


class GRULayer(Function):
    # x (T,N,I), h0 (N,H), w_ih (3H,I), w_hh (3H,H), b_ih, b_hh (3H,) or None -> y, h_n
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse):
        y, h_n, gates, hn = _C.gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse)
        ctx.save_for_backward(x, h0, w_ih, w_hh, y, gates, hn)
        ctx.opts = (b_ih is not None, lengths, reverse)
        return y, h_n

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, y, gates, hn = ctx.saved_tensors
        has_bias, lengths, reverse = ctx.opts
        dt = x.dtype
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _C.gru_backward(
            _grad_arr(dy, dt), _grad_arr(dh_n, dt),
            x, h0, w_ih, w_hh, has_bias, lengths, reverse, y, gates, hn,
        )  # fmt: skip
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None


class RNNLayer(Function):
    # x (T,N,I), h0 (N,H), w_ih (H,I), w_hh (H,H), b_ih, b_hh (H,) or None -> y, h_n
    @staticmethod
    def forward(ctx, x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity):
        y, h_n = _C.rnn_forward(x, h0, w_ih, w_hh, b_ih, b_hh, lengths, reverse, nonlinearity)
        ctx.save_for_backward(x, h0, w_ih, w_hh, y)
        ctx.opts = (b_ih is not None, lengths, reverse, nonlinearity)
        return y, h_n

    @staticmethod
    def backward(ctx, dy, dh_n):
        x, h0, w_ih, w_hh, y = ctx.saved_tensors
        has_bias, lengths, reverse, nonlinearity = ctx.opts
        dt = x.dtype
        dx, dh0, dw_ih, dw_hh, db_ih, db_hh = _C.rnn_backward(
            _grad_arr(dy, dt), _grad_arr(dh_n, dt),
            x, h0, w_ih, w_hh, has_bias, lengths, reverse, nonlinearity, y,
        )  # fmt: skip
        return dx, dh0, dw_ih, dw_hh, db_ih, db_hh, None, None, None


def _rnn_lengths(lengths, n: int, t: int, op: str):
    """lengths (list, array or Tensor of ints) -> int64 (N,) with values in [1, T], or None when
    every sequence is full (the kernels' fast path)."""
    if lengths is None:
        return None
    arr = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: lengths must be integers, got {arr.dtype}")
    if arr.shape != (n,):
        raise ValueError(
            f"{op}: lengths must have shape ({n},) (one per sequence), got {arr.shape}"
        )
    if arr.size and (arr.min() < 1 or arr.max() > t):
        bad = arr[(arr < 1) | (arr > t)][0]
        raise ValueError(
            f"{op}: every length must lie in [1, {t}] (the sequence length), got {int(bad)}"
        )
    if np.all(arr == t):
        return None
    return np.ascontiguousarray(arr, dtype=np.int64)


def _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, gates):
    w_ih = _float_input(w_ih, op, "w_ih")
    dt = w_ih.dtype
    w_hh = _float_input(w_hh, op, "w_hh", dt)
    if w_hh.ndim != 2 or w_hh.shape[0] != gates * w_hh.shape[1] or w_hh.shape[1] < 1:
        raise ValueError(
            f"{op}: w_hh must have shape ({gates}*hidden_size, hidden_size), got {w_hh.shape}"
        )
    h = w_hh.shape[1]
    if w_ih.ndim != 2 or w_ih.shape[0] != gates * h:
        raise ValueError(
            f"{op}: w_ih must have shape ({gates * h}, input_size) for hidden_size {h}, "
            f"got {w_ih.shape}"
        )
    if (b_ih is None) != (b_hh is None):
        raise ValueError(f"{op}: b_ih and b_hh must both be given or both be None")
    if b_ih is not None:
        b_ih = _float_input(b_ih, op, "b_ih", dt)
        b_hh = _float_input(b_hh, op, "b_hh", dt)
        for name, b in (("b_ih", b_ih), ("b_hh", b_hh)):
            if b.shape != (gates * h,):
                raise ValueError(f"{op}: {name} must have shape ({gates * h},), got {b.shape}")
    return w_ih, w_hh, b_ih, b_hh, h


def _rnn_input(op, input, w_ih):
    x = _float_input(input, op, "input", w_ih.dtype)
    if x.ndim != 3:
        raise ValueError(f"{op}: input must be 3-D (seq_len, batch, input_size), got {x.shape}")
    if x.shape[2] != w_ih.shape[1]:
        raise ValueError(
            f"{op}: input.size(-1) must be equal to input_size. Expected {w_ih.shape[1]}, "
            f"got {x.shape[2]} (input shape {x.shape})"
        )
    if x.shape[0] < 1 or x.shape[1] < 1:
        raise ValueError(f"{op}: input must have at least one step and one sequence, got {x.shape}")
    return x


def _rnn_state(op, s, name, n, h, dtype):
    if s is None:
        return np.zeros((n, h), dtype)
    s = _float_input(s, op, name, dtype)
    if s.shape != (n, h):
        raise ValueError(f"{op}: Expected {name} of shape {(n, h)}, got {s.shape}")
    if isinstance(s, Tensor) and not s.requires_grad:
        return _contig(s.data)
    return s


def _contig_t(t):
    """A Tensor argument's array must be C-contiguous before it reaches _C."""
    if isinstance(t, Tensor) and not t.data.flags.c_contiguous:
        return t.contiguous()
    return t


def lstm_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False):
    """One LSTM layer in one direction over a whole sequence (PyTorch's formulation, gate order
    i, f, g, o).

    Args:
        input: (T, N, input_size), time-major.
        hx: (h0, c0), each (N, hidden_size), or None for zeros.
        w_ih (4H, input_size), w_hh (4H, H), b_ih, b_hh (4H,) or both None.
        lengths: None or N ints in [1, T]: sequence n uses steps [0, lengths[n]); padded steps
            output zeros and change neither the final state nor any gradient.
        reverse: run from the last step (each sequence from its own last valid step).

    Returns:
        (output (T, N, H), (h_n (N, H), c_n (N, H)))
    """
    op = "lstm"
    w_ih, w_hh, b_ih, b_hh, h = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 4)
    x = _rnn_input(op, input, w_ih)
    n = x.shape[1]
    if hx is None:
        hx = (None, None)
    elif not isinstance(hx, tuple | list) or len(hx) != 2:
        raise TypeError(f"{op}: hx must be a tuple (h0, c0) or None")
    h0 = _rnn_state(op, hx[0], "h0", n, h, w_ih.dtype)
    c0 = _rnn_state(op, hx[1], "c0", n, h, w_ih.dtype)
    lens = _rnn_lengths(lengths, n, x.shape[0], op)
    args = [_contig_t(a) for a in (x, h0, c0, w_ih, w_hh, b_ih, b_hh)]
    y, h_n, c_n = LSTMLayer.apply(*args, lens, bool(reverse))
    return y, (h_n, c_n)


def gru_layer(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False):
    """One GRU layer in one direction (gate order r, z, n; r multiplies W_hn h + b_hn).

    Shape: input (T, N, I), hx (N, H) or None, w_ih (3H, I), w_hh (3H, H), b_* (3H,) or None
    -> (output (T, N, H), h_n (N, H)). ``lengths`` and ``reverse`` as in :func:`lstm_layer`.
    """
    op = "gru"
    w_ih, w_hh, b_ih, b_hh, h = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 3)
    x = _rnn_input(op, input, w_ih)
    h0 = _rnn_state(op, hx, "h0", x.shape[1], h, w_ih.dtype)
    lens = _rnn_lengths(lengths, x.shape[1], x.shape[0], op)
    args = [_contig_t(a) for a in (x, h0, w_ih, w_hh, b_ih, b_hh)]
    return GRULayer.apply(*args, lens, bool(reverse))


def rnn_layer(
    input, hx, w_ih, w_hh, b_ih=None, b_hh=None, lengths=None, reverse=False, nonlinearity="tanh"
):
    """One Elman RNN layer in one direction: h_t = act(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh).

    Shape: input (T, N, I), hx (N, H) or None, w_ih (H, I), w_hh (H, H), b_* (H,) or None
    -> (output (T, N, H), h_n (N, H)). ``nonlinearity`` is 'tanh' or 'relu'.
    """
    op = "rnn"
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"{op}: nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    w_ih, w_hh, b_ih, b_hh, h = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 1)
    x = _rnn_input(op, input, w_ih)
    h0 = _rnn_state(op, hx, "h0", x.shape[1], h, w_ih.dtype)
    lens = _rnn_lengths(lengths, x.shape[1], x.shape[0], op)
    args = [_contig_t(a) for a in (x, h0, w_ih, w_hh, b_ih, b_hh)]
    return RNNLayer.apply(*args, lens, bool(reverse), nonlinearity)


def _cell_input(op, input, w_ih):
    x = _float_input(input, op, "input", w_ih.dtype)
    if x.ndim not in (1, 2):
        raise ValueError(f"{op}: input must be 1-D or 2-D (batch, input_size), got {x.shape}")
    if x.shape[-1] != w_ih.shape[1]:
        raise ValueError(
            f"{op}: input has inconsistent input_size: got {x.shape[-1]} expected {w_ih.shape[1]}"
        )
    return x


def _unbatch(t, unbatched):
    return t.reshape(t.shape[1:]) if unbatched else t


def lstm_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One LSTM step. input (N, I) or (I,), hx (h, c) each (N, H) / (H,) or None
    -> (h', c')."""
    op = "lstm_cell"
    w_ih, w_hh, b_ih, b_hh, h = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 4)
    x = _cell_input(op, input, w_ih)
    unb = x.ndim == 1
    x = x.reshape(1, 1, -1) if unb else x.reshape(1, *x.shape)
    hx = (None, None) if hx is None else hx
    if not isinstance(hx, tuple | list) or len(hx) != 2:
        raise TypeError(f"{op}: hx must be a tuple (h, c) or None")
    states = [s if s is None or not unb else _unbatched_state(op, s, h) for s in hx]
    y, (h_n, c_n) = lstm_layer(x, tuple(states), w_ih, w_hh, b_ih, b_hh)
    return _unbatch(h_n, unb), _unbatch(c_n, unb)


def _unbatched_state(op, s, h):
    s = s if isinstance(s, Tensor) else Tensor(np.asarray(s))
    if s.ndim != 1:
        raise ValueError(f"{op}: for 1-D input the state must be 1-D ({h},), got {s.shape}")
    return s.reshape(1, -1)


def gru_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):
    """One GRU step. input (N, I) or (I,), hx (N, H) / (H,) or None -> h'."""
    op = "gru_cell"
    w_ih, w_hh, b_ih, b_hh, h = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 3)
    x = _cell_input(op, input, w_ih)
    unb = x.ndim == 1
    x = x.reshape(1, 1, -1) if unb else x.reshape(1, *x.shape)
    if hx is not None and unb:
        hx = _unbatched_state(op, hx, h)
    _, h_n = gru_layer(x, hx, w_ih, w_hh, b_ih, b_hh)
    return _unbatch(h_n, unb)


def rnn_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None, nonlinearity="tanh"):
    """One Elman RNN step. input (N, I) or (I,), hx (N, H) / (H,) or None -> h'."""
    op = "rnn_cell"
    w_ih, w_hh, b_ih, b_hh, h = _rnn_weights(op, w_ih, w_hh, b_ih, b_hh, 1)
    x = _cell_input(op, input, w_ih)
    unb = x.ndim == 1
    x = x.reshape(1, 1, -1) if unb else x.reshape(1, *x.shape)
    if hx is not None and unb:
        hx = _unbatched_state(op, hx, h)
    _, h_n = rnn_layer(x, hx, w_ih, w_hh, b_ih, b_hh, nonlinearity=nonlinearity)
    return _unbatch(h_n, unb)


# ---- embedding ----------------------------------------------------------------------------


class Embedding(Function):
    # indices (*) int64, weight (V, D) -> (*, D) = weight[indices]; dweight: scatter-add of the
    # output gradient rows (repeated indices add up), zero at padding_idx.
    @staticmethod
    def forward(ctx, indices, weight, padding_idx):
        ctx.meta = (indices, weight.shape, padding_idx)
        return weight[indices]

    @staticmethod
    def backward(ctx, g):
        indices, shape, padding_idx = ctx.meta
        dw = np.zeros(shape, dtype=g.dtype)
        np.add.at(dw, indices.reshape(-1), g.reshape(-1, shape[1]))
        if padding_idx is not None:
            dw[padding_idx] = 0
        return None, dw, None


def embedding(
    input,
    weight,
    padding_idx=None,
    max_norm=None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Tensor:
    """Rows of ``weight`` picked by integer indices.

    Args:
        input: integer indices of any shape, each in [0, num_embeddings).
        weight: (num_embeddings, embedding_dim).
        padding_idx: this row gets no gradient (negative values count from the end).
        max_norm: rows looked up whose norm_type-norm exceeds it are first rescaled to it,
            in place in ``weight`` (as PyTorch).

    Shape: input (*) -> (*, embedding_dim).
    """
    weight = _float_input(weight, "embedding", "weight")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-D, got shape {weight.shape}")
    idx = np.asarray(input.data if isinstance(input, Tensor) else input)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {idx.dtype}")
    v = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= v):
        bad = idx[(idx < 0) | (idx >= v)].reshape(-1)[0]
        raise IndexError(f"embedding: index {int(bad)} is out of range for {v} embeddings")
    if padding_idx is not None:
        if not -v <= padding_idx < v:
            raise ValueError(f"embedding: padding_idx must be within num_embeddings ({v})")
        padding_idx = int(padding_idx) % v
    if scale_grad_by_freq:
        raise NotImplementedError("embedding: scale_grad_by_freq=True is not supported")
    if max_norm is not None and idx.size:
        rows = np.unique(idx)
        w = weight.data[rows]
        norms = np.linalg.norm(w, ord=float(norm_type), axis=1)
        big = norms > max_norm
        if big.any():  # torch.embedding_renorm_: scale = max_norm / (norm + 1e-7)
            scale = (max_norm / (norms[big] + 1e-7)).astype(w.dtype)
            weight.data[rows[big]] = w[big] * scale[:, None]
    return Embedding.apply(idx.astype(np.int64, copy=False), weight, padding_idx)


__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "cross_entropy",
    "dropout",
    "elu",
    "embedding",
    "gelu",
    "gru_cell",
    "gru_layer",
    "hinge_embedding_loss",
    "huber_loss",
    "l1_loss",
    "layer_norm",
    "leaky_relu",
    "linear",
    "log_softmax",
    "lstm_cell",
    "lstm_layer",
    "max_pool2d",
    "mse_loss",
    "multi_margin_loss",
    "nll_loss",
    "pad",
    "relu",
    "rnn_cell",
    "rnn_layer",
    "scaled_dot_product_attention",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]
