"""AdaptiveMaxPool1d/2d, MaxUnpool2d."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module


class AdaptiveMaxPool2d(Module):
    """Max pooling to a fixed output size, as ``torch.nn.AdaptiveMaxPool2d``.

    Args:
        output_size: int or (h, w); None in the pair keeps that input size.
        return_indices: also return the int64 argmax indices (flat into H*W), for MaxUnpool2d.

    Example::

        >>> nn.AdaptiveMaxPool2d((3, 2))(ember.randn(1, 4, 8, 7)).shape
        (1, 4, 3, 2)
    """

    def __init__(self, output_size, return_indices: bool = False):
        super().__init__()
        self.output_size = output_size
        self.return_indices = return_indices

    def forward(self, input):
        return F.adaptive_max_pool2d(input, self.output_size, self.return_indices)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveMaxPool1d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, L) or (C, L) to a fixed length."""

    def forward(self, input):
        return F.adaptive_max_pool1d(input, self.output_size, self.return_indices)


class MaxUnpool2d(Module):
    """The partial inverse of MaxPool2d, as ``torch.nn.MaxUnpool2d``: ``forward(input, indices,
    output_size=None)`` puts each value at its argmax position and zeros elsewhere.

    Example::

        >>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
        >>> y, i = pool(ember.randn(1, 1, 4, 4))
        >>> unpool(y, i).shape
        (1, 1, 4, 4)
    """

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        pair = lambda v: tuple(v) if isinstance(v, tuple | list) else (v, v)  # noqa: E731
        self.kernel_size = pair(kernel_size)
        self.stride = pair(stride if stride is not None else kernel_size)
        self.padding = pair(padding)

    def forward(self, input, indices, output_size=None):
        return F.max_unpool2d(
            input, indices, self.kernel_size, self.stride, self.padding, output_size
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
