"""Dropout (attention branch; another branch adds its own: keep one at merge)."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module


class Dropout(Module):
    """Zeroes each element with probability p in training and scales the rest by 1/(1-p);
    the identity in eval mode.

    Example::

        >>> d = nn.Dropout(0.5)
        >>> d.eval()(ember.ones(3)).numpy()
        array([1., 1., 1.], dtype=float32)
    """

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1], got {p}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
