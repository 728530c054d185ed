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


def embedding(input, weight, padding_idx=None) -> Tensor:
    """Rows of ``weight`` picked by integer indices.

    Args:
        input: integer indices of any shape, each in [0, num_embeddings).
        weight: (num_embeddings, embedding_dim).
        padding_idx: this row gets no gradient (negative values count from the end).

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
    return Embedding.apply(idx.astype(np.int64, copy=False), weight, padding_idx)


__all__ = [
    "cross_entropy",
    "elu",
    "embedding",
    "gelu",
    "gru_cell",
    "gru_layer",
    "leaky_relu",
    "linear",
    "log_softmax",
    "lstm_cell",
    "lstm_layer",
    "mse_loss",
    "nll_loss",
    "relu",
    "rnn_cell",
    "rnn_layer",
    "sigmoid",
    "softmax",
    "softplus",
    "tanh",
]
