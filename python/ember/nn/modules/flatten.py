"""Flatten."""

from __future__ import annotations

import numpy as np

from ember import ops
from ember._errors import BadShapeOrValue
from ember.nn.modules.module import Module


class Flatten(Module):
    """Flattens dims start_dim..end_dim: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input):
        return ops.flatten(input, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expands dim ``dim`` into ``unflattened_size`` (one entry may be -1), as
    ``torch.nn.Unflatten``: the inverse of Flatten.

    Example::

        >>> nn.Unflatten(1, (2, 5))(ember.randn(3, 10)).shape
        (3, 2, 5)
    """

    def __init__(self, dim: int, unflattened_size):
        super().__init__()
        if not isinstance(unflattened_size, tuple | list) or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in unflattened_size
        ):
            raise TypeError(
                f"Unflatten: unflattened_size must be a tuple of ints, got {unflattened_size!r}"
            )
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input):
        input = ops._tensor_operand(input)  # noqa: A001  (arrays and lists too, as Flatten)
        if isinstance(self.dim, bool) or not isinstance(self.dim, int | np.integer):
            raise TypeError(
                f"unflatten(): argument 'dim' must be int, not {type(self.dim).__name__}"
            )
        shape = tuple(input.shape)
        d = self.dim % len(shape) if -len(shape) <= self.dim < len(shape) else None
        if d is None:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for input {shape}")
        sizes = tuple(self.unflattened_size)
        if not sizes:  # (PyTorch: an empty size would drop the dim)
            raise ValueError("Unflatten: unflattened_size must be non-empty")
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        if sizes.count(-1) > 1 or (
            -1 not in sizes and known != shape[d] or -1 in sizes and shape[d] % max(known, 1)
        ):
            raise BadShapeOrValue(  # (torch: RuntimeError)
                f"Unflatten: unflattened_size {sizes} does not multiply to the size "
                f"{shape[d]} of dim {self.dim} of input {shape}"
            )
        return ops.reshape(input, shape[:d] + sizes + shape[d + 1 :])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
