"""Adam and gradient-norm clipping for the examples: ember.optim.Adam and
ember.nn.utils.clip_grad_norm_ when this ember has them, else the minimal stand-ins below."""

from __future__ import annotations

import numpy as np

import ember
from ember import nn


class _Adam:
    """Minimal Adam (Kingma & Ba) for when ember.optim.Adam is not available yet."""

    def __init__(self, params, lr, betas=(0.9, 0.999), eps=1e-8):
        self.params, self.lr, self.betas, self.eps, self.t = list(params), lr, betas, eps, 0
        self.m = [np.zeros_like(p.data) for p in self.params]
        self.v = [np.zeros_like(p.data) for p in self.params]

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def step(self):
        self.t += 1
        b1, b2 = self.betas
        c1, c2 = 1 - b1**self.t, 1 - b2**self.t
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is not None:
                g = p.grad.data
                m *= b1
                m += (1 - b1) * g
                v *= b2
                v += (1 - b2) * g * g
                p.data -= (self.lr / c1) * m / (np.sqrt(v / c2) + self.eps)


def make_adam(params, lr):
    adam = getattr(ember.optim, "Adam", None)
    return adam(params, lr=lr) if adam is not None else _Adam(params, lr)


def clip_grad_norm(params, max_norm: float) -> float:
    clip = getattr(getattr(nn, "utils", None), "clip_grad_norm_", None)
    if clip is not None:
        return float(clip(params, max_norm))
    grads = [p.grad.data for p in params if p.grad is not None]
    total = float(np.sqrt(sum(float((g.astype(np.float64) ** 2).sum()) for g in grads)))
    if total > max_norm:
        for g in grads:
            g *= max_norm / (total + 1e-6)
    return total
