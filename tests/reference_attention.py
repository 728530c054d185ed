"""Independent float64 NumPy references for attention and layer norm (self-contained)."""

import numpy as np


def attention_bias(mask, is_causal, lq, lk):
    """The additive logit bias (broadcastable to (..., lq, lk)) a mask and is_causal mean."""
    bias = np.zeros((lq, lk))
    if is_causal:
        bias = np.where(np.tril(np.ones((lq, lk), dtype=bool)), 0.0, -np.inf)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype == np.bool_:
            bias = bias + np.where(mask, 0.0, -np.inf)
        else:
            bias = bias + mask.astype(np.float64)
    return bias


def sdpa(q, k, v, mask=None, is_causal=False, scale=None, keep=None, p=0.0, dout=None,
         dmask=False):  # fmt: skip
    """softmax(q k^T * scale + bias) (dropped by `keep`, scaled 1/(1-p)) @ v, in float64; rows
    with every key masked give 0. With dout, also returns (dq, dk, dv), and with dmask the
    gradient of a float mask (the logits' gradient summed to the mask's shape) after them."""
    q, k, v = (np.asarray(a, dtype=np.float64) for a in (q, k, v))
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    s = scale * (q @ np.swapaxes(k, -1, -2)) + attention_bias(
        mask, is_causal, q.shape[-2], k.shape[-2]
    )
    m = s.max(axis=-1, keepdims=True)
    dead = ~np.isfinite(m)
    e = np.exp(s - np.where(dead, 0.0, m))
    tot = e.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        prob = np.where(tot > 0, e / tot, 0.0)
    z = np.ones_like(prob) if keep is None else keep.astype(np.float64) / (1.0 - p)
    out = (prob * z) @ v
    if dout is None:
        return out
    dout = np.asarray(dout, dtype=np.float64)
    dv = np.swapaxes(prob * z, -1, -2) @ dout
    dp = (dout @ np.swapaxes(v, -1, -2)) * z
    ds = prob * (dp - (dp * prob).sum(axis=-1, keepdims=True))
    dq = scale * ds @ k
    dk = scale * np.swapaxes(ds, -1, -2) @ q
    if dmask:
        shape = np.shape(mask)
        lead = ds.ndim - len(shape)
        dm = ds.sum(axis=tuple(range(lead)))
        dm = dm.sum(axis=tuple(i for i, n in enumerate(shape) if n == 1), keepdims=True)
        return out, dq, dk, dv, dm.reshape(shape)
    return out, dq, dk, dv


def layer_norm(x, k, w=None, b=None, eps=1e-5, dy=None):
    """Layer norm over the last k dims in float64 (two-pass statistics); with dy also returns
    (dx, dw, db)."""
    x = np.asarray(x, dtype=np.float64)
    axes = tuple(range(x.ndim - k, x.ndim))
    mu = x.mean(axis=axes, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=axes, keepdims=True)
    rstd = 1.0 / np.sqrt(var + eps)
    xh = (x - mu) * rstd
    wf = np.ones(x.shape[x.ndim - k :]) if w is None else np.asarray(w, dtype=np.float64)
    y = xh * wf + (0.0 if b is None else np.asarray(b, dtype=np.float64))
    if dy is None:
        return y
    dy = np.asarray(dy, dtype=np.float64)
    g = dy * wf
    lead = tuple(range(x.ndim - k))
    dx = rstd * (
        g - g.mean(axis=axes, keepdims=True) - xh * (g * xh).mean(axis=axes, keepdims=True)
    )
    return y, dx, (dy * xh).sum(axis=lead), dy.sum(axis=lead)
