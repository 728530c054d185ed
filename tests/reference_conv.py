"""Independent NumPy references for conv2d, pooling and batch norm (self-contained, NCHW).

conv2d is im2col by strided slices + matmul; pooling is a loop over output positions written
from PyTorch's documented rules; batch norm is the textbook formula in float64.
"""

from __future__ import annotations

import math

import numpy as np


def pad4(padding):
    """(ph, pw) or (top, bottom, left, right) -> (top, bottom, left, right)."""
    if len(padding) == 2:
        return padding[0], padding[0], padding[1], padding[1]
    return tuple(padding)


def conv2d_out(H, W, KH, KW, stride, padding, dilation):
    pt, pb, pl, pr = pad4(padding)
    OH = (H + pt + pb - dilation[0] * (KH - 1) - 1) // stride[0] + 1
    OW = (W + pl + pr - dilation[1] * (KW - 1) - 1) // stride[1] + 1
    return OH, OW


def conv2d_valid(x_shape, w_shape, stride, padding, dilation, groups):
    """True when PyTorch (and ember) accept the configuration."""
    N, C, H, W = x_shape
    O, Cg, KH, KW = w_shape
    if groups < 1 or min(stride) < 1 or min(dilation) < 1 or min(pad4(padding)) < 0:
        return False
    if KH < 1 or KW < 1 or Cg < 1 or Cg * groups != C or O % groups:
        return False
    OH, OW = conv2d_out(H, W, KH, KW, stride, padding, dilation)
    return OH >= 1 and OW >= 1


def _im2col(x, KH, KW, stride, padding, dilation):
    """x (N,C,H,W) -> cols (N, C, KH, KW, OH, OW) of the padded input."""
    pt, pb, pl, pr = pad4(padding)
    xp = np.pad(x, ((0, 0), (0, 0), (pt, pb), (pl, pr)))
    N, C, H, W = x.shape
    OH, OW = conv2d_out(H, W, KH, KW, stride, padding, dilation)
    (sh, sw), (dh, dw) = stride, dilation
    cols = np.empty((N, C, KH, KW, OH, OW), x.dtype)
    for kh in range(KH):
        for kw in range(KW):
            h0, w0 = kh * dh, kw * dw
            cols[:, :, kh, kw] = xp[
                :, :, h0 : h0 + sh * (OH - 1) + 1 : sh, w0 : w0 + sw * (OW - 1) + 1 : sw
            ]
    return cols, xp.shape


def conv2d_ref(x, w, b=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """x (N,C,H,W), w (O,C/g,KH,KW), b (O) -> y (N,O,OH,OW)."""
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    cols, _ = _im2col(x, KH, KW, stride, padding, dilation)
    OH, OW = cols.shape[-2:]
    cols = cols.reshape(N, groups, Cg * KH * KW, OH * OW)
    wg = w.reshape(groups, O // groups, Cg * KH * KW)
    y = np.matmul(wg[None], cols).reshape(N, O, OH, OW)
    if b is not None:
        y = y + b.reshape(1, O, 1, 1)
    return y.astype(x.dtype, copy=False)


def conv2d_backward_ref(dy, x, w, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """-> (dx, dw, db) of conv2d_ref."""
    N, C, H, W = x.shape
    O, Cg, KH, KW = w.shape
    cols, padded = _im2col(x, KH, KW, stride, padding, dilation)
    OH, OW = cols.shape[-2:]
    K, P, Og = Cg * KH * KW, OH * OW, O // groups
    cols = cols.reshape(N, groups, K, P)
    dyg = dy.reshape(N, groups, Og, P)
    wg = w.reshape(groups, Og, K)
    dw = np.matmul(dyg, cols.transpose(0, 1, 3, 2)).sum(0).reshape(w.shape)
    dcols = np.matmul(wg.transpose(0, 2, 1)[None], dyg).reshape(N, C, KH, KW, OH, OW)
    dxp = np.zeros(padded, x.dtype)
    (sh, sw), (dh, dw_) = stride, dilation
    for kh in range(KH):
        for kw in range(KW):
            h0, w0 = kh * dh, kw * dw_
            dxp[:, :, h0 : h0 + sh * (OH - 1) + 1 : sh, w0 : w0 + sw * (OW - 1) + 1 : sw] += dcols[
                :, :, kh, kw
            ]
    pt, pb, pl, pr = pad4(padding)
    dx = dxp[:, :, pt : pt + H, pl : pl + W]
    db = dy.sum((0, 2, 3))
    return dx, dw.astype(x.dtype), db


# ---- pooling ----


def pool_out(size, k, pad, s, d, ceil_mode):
    """PyTorch's pooling output size (pad on both sides)."""
    num = size + 2 * pad - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)
    out = num // s + 1
    if ceil_mode and (out - 1) * s >= size + pad:
        out -= 1
    return out


def pool_valid(H, W, k, s, p, d, ceil_mode):
    if min(k) < 1 or min(s) < 1 or min(d) < 1 or min(p) < 0:
        return False
    if p[0] > k[0] // 2 or p[1] > k[1] // 2:
        return False
    OH = pool_out(H, k[0], p[0], s[0], d[0], ceil_mode)
    OW = pool_out(W, k[1], p[1], s[1], d[1], ceil_mode)
    return OH >= 1 and OW >= 1


def max_pool2d_ref(x, k, s, p, d=(1, 1), ceil_mode=False):
    """-> (y, idx) with the flat argmax into H*W (first maximum wins; -1 for an empty window)."""
    *lead, H, W = x.shape
    OH = pool_out(H, k[0], p[0], s[0], d[0], ceil_mode)
    OW = pool_out(W, k[1], p[1], s[1], d[1], ceil_mode)
    xs = x.reshape(-1, H, W)
    y = np.empty((xs.shape[0], OH, OW), x.dtype)
    idx = np.empty((xs.shape[0], OH, OW), np.int64)
    for oh in range(OH):
        hs = [oh * s[0] - p[0] + i * d[0] for i in range(k[0])]
        hs = [h for h in hs if 0 <= h < H]
        for ow in range(OW):
            ws = [ow * s[1] - p[1] + j * d[1] for j in range(k[1])]
            ws = [w for w in ws if 0 <= w < W]
            flat = np.array([h * W + w for h in hs for w in ws], np.int64)
            if flat.size == 0:
                y[:, oh, ow] = -np.inf
                idx[:, oh, ow] = -1
                continue
            vals = xs.reshape(xs.shape[0], H * W)[:, flat]
            a = np.argmax(vals, axis=1)
            y[:, oh, ow] = vals[np.arange(len(a)), a]
            idx[:, oh, ow] = flat[a]
    return y.reshape(*lead, OH, OW), idx.reshape(*lead, OH, OW)


def max_pool2d_backward_ref(dy, idx, input_shape):
    *lead, H, W = input_shape
    g = dy.reshape(-1, dy.shape[-2] * dy.shape[-1])
    ii = idx.reshape(g.shape)
    dx = np.zeros((g.shape[0], H * W), dy.dtype)
    for pl in range(g.shape[0]):
        ok = ii[pl] >= 0
        np.add.at(dx[pl], ii[pl][ok], g[pl][ok])
    return dx.reshape(input_shape)


def _avg_windows(H, W, k, s, p, ceil_mode, count_include_pad, divisor_override):
    OH = pool_out(H, k[0], p[0], s[0], 1, ceil_mode)
    OW = pool_out(W, k[1], p[1], s[1], 1, ceil_mode)
    for oh in range(OH):
        for ow in range(OW):
            h0, w0 = oh * s[0] - p[0], ow * s[1] - p[1]
            h1, w1 = min(h0 + k[0], H + p[0]), min(w0 + k[1], W + p[1])
            size = (h1 - h0) * (w1 - w0)
            h0, w0, h1, w1 = max(h0, 0), max(w0, 0), min(h1, H), min(w1, W)
            if divisor_override:
                div = divisor_override
            elif count_include_pad:
                div = size
            else:
                div = (h1 - h0) * (w1 - w0)
            yield oh, ow, h0, h1, w0, w1, div


def avg_pool2d_ref(x, k, s, p, ceil_mode=False, count_include_pad=True, divisor_override=None):
    *lead, H, W = x.shape
    OH = pool_out(H, k[0], p[0], s[0], 1, ceil_mode)
    OW = pool_out(W, k[1], p[1], s[1], 1, ceil_mode)
    xs = x.reshape(-1, H, W).astype(np.float64)
    y = np.zeros((xs.shape[0], OH, OW))
    for oh, ow, h0, h1, w0, w1, div in _avg_windows(
        H, W, k, s, p, ceil_mode, count_include_pad, divisor_override
    ):
        if h0 < h1 and w0 < w1:
            y[:, oh, ow] = xs[:, h0:h1, w0:w1].sum((1, 2)) / div
    return y.reshape(*lead, OH, OW).astype(x.dtype)


def avg_pool2d_backward_ref(
    dy, input_shape, k, s, p, ceil_mode=False, count_include_pad=True, divisor_override=None
):
    *lead, H, W = input_shape
    g = dy.reshape(-1, dy.shape[-2], dy.shape[-1]).astype(np.float64)
    dx = np.zeros((g.shape[0], H, W))
    for oh, ow, h0, h1, w0, w1, div in _avg_windows(
        H, W, k, s, p, ceil_mode, count_include_pad, divisor_override
    ):
        dx[:, h0:h1, w0:w1] += (g[:, oh, ow] / div)[:, None, None]
    return dx.reshape(input_shape).astype(dy.dtype)


def adaptive_avg_pool2d_ref(x, out):
    *lead, H, W = x.shape
    OH, OW = out
    xs = x.reshape(-1, H, W).astype(np.float64)
    y = np.zeros((xs.shape[0], OH, OW))
    for oh in range(OH):
        h0, h1 = (oh * H) // OH, math.ceil((oh + 1) * H / OH)
        for ow in range(OW):
            w0, w1 = (ow * W) // OW, math.ceil((ow + 1) * W / OW)
            y[:, oh, ow] = xs[:, h0:h1, w0:w1].mean((1, 2))
    return y.reshape(*lead, OH, OW).astype(x.dtype)


def adaptive_avg_pool2d_backward_ref(dy, input_shape):
    *lead, H, W = input_shape
    OH, OW = dy.shape[-2:]
    g = dy.reshape(math.prod(lead), OH, OW).astype(np.float64)
    dx = np.zeros((g.shape[0], H, W))
    for oh in range(OH):
        h0, h1 = (oh * H) // OH, math.ceil((oh + 1) * H / OH)
        for ow in range(OW):
            w0, w1 = (ow * W) // OW, math.ceil((ow + 1) * W / OW)
            dx[:, h0:h1, w0:w1] += (g[:, oh, ow] / ((h1 - h0) * (w1 - w0)))[:, None, None]
    return dx.reshape(input_shape).astype(dy.dtype)


# ---- batch norm ----


def _bshape(x):
    return (1, x.shape[1]) + (1,) * (x.ndim - 2)


def batch_norm_ref(x, weight, bias, mean, var, eps):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, statistics per channel (axis 1)."""
    sh = _bshape(x)
    x64 = x.astype(np.float64)
    y = (x64 - mean.reshape(sh)) / np.sqrt(var.reshape(sh) + eps)
    if weight is not None:
        y = y * weight.reshape(sh)
    if bias is not None:
        y = y + bias.reshape(sh)
    return y.astype(x.dtype)


def batch_stats_ref(x):
    """-> (mean, biased var, unbiased var) per channel in float64."""
    axes = (0,) + tuple(range(2, x.ndim))
    x64 = x.astype(np.float64)
    m = x64.mean(axes)
    v = x64.var(axes)
    n = x.size // x.shape[1]
    return m, v, v * n / (n - 1)


def batch_norm_backward_ref(dy, x, weight, mean, invstd, training):
    """-> (dx, dweight, dbias) in float64 given the statistics used by the forward."""
    sh = _bshape(x)
    axes = (0,) + tuple(range(2, x.ndim))
    dy64, x64 = dy.astype(np.float64), x.astype(np.float64)
    w = np.ones(x.shape[1]) if weight is None else weight.astype(np.float64)
    xhat = (x64 - mean.reshape(sh)) * invstd.reshape(sh)
    db = dy64.sum(axes)
    dw = (dy64 * xhat).sum(axes)
    k = (w * invstd).reshape(sh)
    if training:
        n = x.size // x.shape[1]
        dx = k * (dy64 - db.reshape(sh) / n - xhat * dw.reshape(sh) / n)
    else:
        dx = k * dy64
    return dx, dw, db
