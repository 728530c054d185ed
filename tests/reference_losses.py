"""Independent NumPy (float64) references for the training toolkit's activations and losses,
written from the papers' / PyTorch docs' formulas."""

from __future__ import annotations

import math

import numpy as np


def _red(loss, reduction):
    return {"none": loss, "mean": np.mean(loss), "sum": np.sum(loss)}[reduction]


def leaky_relu(x, slope=0.01):
    return np.where(x > 0, x, slope * x)


def elu(x, alpha=1.0):
    return np.where(x > 0, x, alpha * (np.exp(x) - 1))


def gelu(x, approximate="none"):
    x = np.asarray(x, np.float64)
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    return x * np.vectorize(lambda v: 0.5 * math.erfc(-v / math.sqrt(2)))(x)


def softplus(x, beta=1.0, threshold=20.0):
    x = np.asarray(x, np.float64)
    return np.where(beta * x > threshold, x, np.log(1 + np.exp(beta * x)) / beta)


def l1_loss(x, t, reduction="mean"):
    return _red(np.abs(np.asarray(x, np.float64) - t), reduction)


def huber_loss(x, t, reduction="mean", delta=1.0):
    d = np.abs(np.asarray(x, np.float64) - t)
    return _red(np.where(d < delta, 0.5 * d**2, delta * (d - 0.5 * delta)), reduction)


def binary_cross_entropy(x, t, weight=None, reduction="mean"):
    x = np.asarray(x, np.float64)
    with np.errstate(divide="ignore"):
        loss = -(t * np.maximum(np.log(x), -100) + (1 - t) * np.maximum(np.log(1 - x), -100))
    return _red(loss if weight is None else loss * weight, reduction)


def binary_cross_entropy_with_logits(x, t, weight=None, reduction="mean", pos_weight=None):
    x = np.asarray(x, np.float64)
    logsig = -np.logaddexp(0, -x)  # log sigmoid(x)
    log1msig = -np.logaddexp(0, x)  # log(1 - sigmoid(x))
    pw = 1.0 if pos_weight is None else pos_weight
    loss = -(pw * t * logsig + (1 - t) * log1msig)
    return _red(loss if weight is None else loss * weight, reduction)


def hinge_embedding_loss(x, t, margin=1.0, reduction="mean"):
    x = np.asarray(x, np.float64)
    loss = np.where(t == 1, x, np.maximum(0, margin - x))
    return _red(loss, reduction)


def multi_margin_loss(x, y, p=1, margin=1.0, weight=None, reduction="mean"):
    x = np.atleast_2d(np.asarray(x, np.float64))
    y = np.atleast_1d(y)
    n, c = x.shape
    out = np.zeros(n)
    for i in range(n):
        for j in range(c):
            if j != y[i]:
                z = max(0.0, margin - x[i, y[i]] + x[i, j]) ** p
                out[i] += z * (1.0 if weight is None else weight[y[i]])
    out /= c
    return _red(out if np.ndim(y) else out[0], reduction)


def smooth_l1_loss(x, t, reduction="mean", beta=1.0):
    d = np.abs(np.asarray(x, np.float64) - t)
    if beta == 0:
        return _red(d, reduction)
    return _red(np.where(d < beta, 0.5 * d**2 / beta, d - 0.5 * beta), reduction)


def weighted_loss(pointwise, w, reduction, mean_by_weight=True):
    loss = pointwise * w
    if reduction == "mean" and mean_by_weight:
        return loss.sum() / np.sum(w)
    return _red(loss, reduction)


def kl_div(x, t, reduction="mean", log_target=False):
    x = np.asarray(x, np.float64)
    if log_target:
        loss = np.exp(t) * (t - x)
    else:
        loss = np.array([ti * math.log(ti) if ti > 0 else 0.0 for ti in np.ravel(t)])
        loss = loss.reshape(np.shape(t)) - t * x
    if reduction == "batchmean":
        return loss.sum() / x.shape[0]
    return _red(loss, reduction)


def cosine_embedding_loss(x1, x2, y, margin=0.0, reduction="mean"):
    cos = np.sum(x1 * x2, -1) / np.sqrt((np.sum(x1**2, -1) + 1e-12) * (np.sum(x2**2, -1) + 1e-12))
    return _red(np.where(y == 1, 1 - cos, np.maximum(0, cos - margin)), reduction)


def margin_ranking_loss(x1, x2, y, margin=0.0, reduction="mean"):
    return _red(np.maximum(0, -y * (x1 - x2) + margin), reduction)


def soft_margin_loss(x, y, reduction="mean"):
    return _red(np.logaddexp(0, -y * x), reduction)


def multilabel_soft_margin_loss(x, t, weight=None, reduction="mean"):
    loss = t * np.logaddexp(0, -x) + (1 - t) * np.logaddexp(0, x)
    if weight is not None:
        loss = loss * weight
    return _red(loss.mean(-1), reduction)


def poisson_nll_loss(x, t, log_input=True, full=False, eps=1e-8, reduction="mean"):
    loss = np.exp(x) - t * x if log_input else x - t * np.log(x + eps)
    if full:
        ts = np.where(t > 1, t, 1.0)
        loss = loss + np.where(t > 1, ts * np.log(ts) - ts + 0.5 * np.log(2 * math.pi * ts), 0)
    return _red(loss, reduction)


def gaussian_nll_loss(x, t, var, full=False, eps=1e-6, reduction="mean"):
    var = np.maximum(var, eps)
    if np.ndim(var) == np.ndim(x) - 1:
        var = var[..., None]
    loss = 0.5 * (np.log(var) + (x - t) ** 2 / var) + (0.5 * math.log(2 * math.pi) if full else 0)
    return _red(loss, reduction)


def pairwise_distance(x1, x2, p=2.0, eps=1e-6):
    return np.linalg.norm(x1 - x2 + eps, ord=p, axis=-1)


def triplet_margin_loss(a, pos, neg, margin=1.0, p=2.0, eps=1e-6, swap=False, reduction="mean"):
    d_pos, d_neg = pairwise_distance(a, pos, p, eps), pairwise_distance(a, neg, p, eps)
    if swap:
        d_neg = np.minimum(d_neg, pairwise_distance(pos, neg, p, eps))
    return _red(np.maximum(0, margin + d_pos - d_neg), reduction)
