"""Independent float64 NumPy references for the softmax and activation kernels.

Self-contained: NumPy and the standard library only (math.erf / math.erfc for GELU).
"""

import math

import numpy as np

_erf = np.vectorize(math.erf, otypes=[np.float64])
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def softmax(x, dim):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=dim, keepdims=True)
    with np.errstate(invalid="ignore"):
        e = np.exp(x - m)
        return e / np.sum(e, axis=dim, keepdims=True)


def log_softmax(x, dim):
    x = np.asarray(x, dtype=np.float64)
    m = np.max(x, axis=dim, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (x - m) - np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True))


def softmax_backward(y, dy, dim):
    y, dy = np.asarray(y, np.float64), np.asarray(dy, np.float64)
    return y * (dy - np.sum(dy * y, axis=dim, keepdims=True))


def log_softmax_backward(y, dy, dim):
    y, dy = np.asarray(y, np.float64), np.asarray(dy, np.float64)
    return dy - np.exp(y) * np.sum(dy, axis=dim, keepdims=True)


def sigmoid(x):
    x = np.asarray(x, np.float64)
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def activation(name, x, alpha=0.0, beta=1.0, threshold=20.0, approximate="none"):
    """Forward value of ember._C.activation_forward(name, x, ...) in float64."""
    x = np.asarray(x, np.float64)
    if name == "relu":
        return np.maximum(x, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, x, x * alpha)
    if name == "elu":
        return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))
    if name == "gelu":
        if approximate == "tanh":
            k = math.sqrt(2.0 / math.pi)
            return 0.5 * x * (1.0 + np.tanh(k * (x + 0.044715 * x**3)))
        return 0.5 * x * _erfc(-x / math.sqrt(2.0))
    if name == "sigmoid":
        return sigmoid(x)
    if name == "tanh":
        return np.tanh(x)
    if name == "softplus":
        z = beta * x
        with np.errstate(over="ignore"):
            return np.where(z > threshold, x, np.log1p(np.exp(np.minimum(z, threshold))) / beta)
    raise ValueError(name)


def activation_backward(name, dy, x, alpha=0.0, beta=1.0, threshold=20.0, approximate="none"):
    """dx from the forward INPUT x (the references differentiate in terms of x for every op)."""
    x, dy = np.asarray(x, np.float64), np.asarray(dy, np.float64)
    if name == "relu":
        return np.where(x > 0, dy, 0.0)
    if name == "leaky_relu":
        return np.where(x > 0, dy, dy * alpha)
    if name == "elu":
        return np.where(x > 0, dy, dy * alpha * np.exp(np.minimum(x, 0.0)))
    if name == "gelu":
        if approximate == "tanh":
            k = math.sqrt(2.0 / math.pi)
            t = np.tanh(k * (x + 0.044715 * x**3))
            d = 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
            return dy * d
        cdf = 0.5 * _erfc(-x / math.sqrt(2.0))
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)
        return dy * (cdf + x * pdf)
    if name == "sigmoid":
        s = sigmoid(x)
        return dy * s * (1 - s)
    if name == "tanh":
        return dy * (1 - np.tanh(x) ** 2)
    if name == "softplus":
        z = beta * x
        return np.where(z > threshold, dy, dy * sigmoid(z))
    raise ValueError(name)


def erf(x):
    return _erf(np.asarray(x, np.float64))


def erfc(x):
    return _erfc(np.asarray(x, np.float64))
