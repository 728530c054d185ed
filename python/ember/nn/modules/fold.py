"""Fold, Unfold: col2im and im2col in PyTorch's (N, C*kh*kw, L) layout."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module


class Fold(Module):
    """Combines sliding blocks (N, C*kh*kw, L) into (N, C, *output_size), summing overlaps, as
    ``torch.nn.Fold``: the adjoint of Unfold (so Fold(Unfold(x)) counts each pixel's blocks).

    Example::

        >>> nn.Fold((4, 5), 2)(ember.randn(1, 12, 12)).shape
        (1, 3, 4, 5)
    """

    def __init__(self, output_size, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.output_size = output_size
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.fold(
            input, self.output_size, self.kernel_size, self.dilation, self.padding, self.stride
        )

    def extra_repr(self) -> str:
        return (
            f"output_size={self.output_size}, kernel_size={self.kernel_size}, "
            f"dilation={self.dilation}, padding={self.padding}, stride={self.stride}"
        )


class Unfold(Module):
    """Extracts sliding blocks (im2col): (N, C, H, W) -> (N, C*kh*kw, L), as ``torch.nn.Unfold``.
    A convolution is then ``weight.view(O, -1) @ Unfold(k)(x)``.

    Example::

        >>> nn.Unfold(3, padding=1)(ember.randn(2, 3, 4, 4)).shape
        (2, 27, 16)
    """

    def __init__(self, kernel_size, dilation=1, padding=0, stride=1):
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.padding = padding
        self.stride = stride

    def forward(self, input):
        return F.unfold(input, self.kernel_size, self.dilation, self.padding, self.stride)

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, dilation={self.dilation}, padding={self.padding},"
            f" stride={self.stride}"
        )
