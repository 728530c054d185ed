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
