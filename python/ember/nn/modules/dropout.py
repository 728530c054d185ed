"""Dropout: inverted dropout in training mode, the identity in eval mode."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module


class Dropout(Module):
    """Zeroes each element with probability ``p`` while training and scales the others by
    1 / (1 - p); ``model.eval()`` makes it the identity."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p!r}")
        self.p = p
        self.inplace = inplace

    def forward(self, input):
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
