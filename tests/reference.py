"""Independent NumPy implementations (float64 maths) that the tests compare ember against."""

from __future__ import annotations

import numpy as np


def softmax(x, dim):
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=dim, keepdims=True)
    e = np.exp(x - m)
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax(x, dim):
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=dim, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=dim, keepdims=True))


def linear(x, w, b=None):
    y = np.asarray(x, np.float64) @ np.asarray(w, np.float64).T
    return y if b is None else y + b


def relu(x):
    return np.maximum(x, 0)


def sigmoid(x):
    return 1 / (1 + np.exp(-np.asarray(x, np.float64)))


def gelu(x):
    from math import erf

    x = np.asarray(x, np.float64)
    return x * 0.5 * (1 + np.vectorize(erf)(x / np.sqrt(2)))


def gelu_tanh(x):
    x = np.asarray(x, np.float64)
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def mse_loss(x, t, reduction="mean"):
    sq = (np.asarray(x, np.float64) - t) ** 2
    return {"none": sq, "mean": sq.mean(), "sum": sq.sum()}[reduction]


@np.errstate(invalid="ignore", divide="ignore")
def nll_loss(logp, target, weight=None, ignore_index=-100, reduction="mean"):
    logp = np.asarray(logp, np.float64)
    if logp.ndim == 1:
        logp, target = logp[None], np.asarray(target).reshape(1)
    c = logp.shape[1]
    rows = np.moveaxis(logp, 1, -1).reshape(-1, c)
    t = np.asarray(target).reshape(-1)
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    losses, wsum = np.zeros(len(t)), 0.0
    for i, ti in enumerate(t):
        if ti == ignore_index:
            continue
        losses[i] = -rows[i, ti] * w[ti]
        wsum += w[ti]
    if reduction == "none":
        return losses.reshape(np.shape(target))
    return losses.sum() / wsum if reduction == "mean" else losses.sum()


@np.errstate(invalid="ignore", divide="ignore")
def cross_entropy(x, target, weight=None, ignore_index=-100, reduction="mean", label_smoothing=0.0):
    x = np.asarray(x, np.float64)
    cdim = 0 if x.ndim == 1 else 1
    c = x.shape[cdim]
    logp = log_softmax(x, cdim)
    target = np.asarray(target)
    wshape = (c,) + (1,) * (x.ndim - 1 - cdim)
    w = np.ones(c) if weight is None else np.asarray(weight, np.float64)
    if target.dtype.kind == "f":  # probabilities
        t = target * (1 - label_smoothing) + label_smoothing / c
        loss = -(logp * t * w.reshape(wshape)).sum(axis=cdim)
        if reduction == "mean":
            return loss.sum() / (x.size // c)
        return loss.sum() if reduction == "sum" else loss
    nll = nll_loss(logp, target, weight, ignore_index, reduction)
    if label_smoothing == 0:
        return nll
    smooth = -(logp * w.reshape(wshape)).sum(axis=cdim)
    keep = target != ignore_index
    smooth = np.where(keep, smooth, 0.0)
    if reduction == "mean":
        denom = keep.sum() if weight is None else w[np.where(keep, target, 0)][keep].sum()
        smooth = smooth.sum() / denom
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + label_smoothing / c * smooth


def unbroadcast(g, shape):
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for i, s in enumerate(shape):
        if s == 1 and g.shape[i] != 1:
            g = g.sum(axis=i, keepdims=True)
    return g
