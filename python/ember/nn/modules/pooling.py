"""MaxPool2d, AvgPool2d, AdaptiveAvgPool2d."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module


class MaxPool2d(Module):
    """2-D max pooling, as ``torch.nn.MaxPool2d``.

    Args:
        kernel_size: int or (h, w). stride: defaults to kernel_size.
        padding: implicit -inf padding, at most half the kernel. dilation: window spacing.
        return_indices: also return the argmax indices (flat into H*W, int64).
        ceil_mode: ceil instead of floor in the output size.

    Shape:
        (N, C, H, W) or (C, H, W) -> (.., OH, OW),
        OH = floor_or_ceil((H + 2 padding - dilation (k - 1) - 1) / stride) + 1.

    Example::

        >>> nn.MaxPool2d(2)(ember.randn(1, 3, 8, 8)).shape
        (1, 3, 4, 4)
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        dilation=1,
        return_indices: bool = False,
        ceil_mode: bool = False,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def forward(self, input):
        return F.max_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )

    def extra_repr(self) -> str:
        return (
            f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """2-D average pooling, as ``torch.nn.AvgPool2d``.

    Args:
        kernel_size: int or (h, w). stride: defaults to kernel_size. padding: zero padding,
        at most half the kernel. ceil_mode: ceil instead of floor in the output size.
        count_include_pad: count the padding in each window's divisor.
        divisor_override: a fixed divisor instead.

    Shape:
        (N, C, H, W) or (C, H, W) -> (.., OH, OW), OH = floor_or_ceil((H + 2p - k) / s) + 1.
    """

    def __init__(
        self,
        kernel_size,
        stride=None,
        padding=0,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
        divisor_override=None,
    ):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, input):
        return F.avg_pool2d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
            self.divisor_override,
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average pooling to a fixed output size, as ``torch.nn.AdaptiveAvgPool2d``.

    Args:
        output_size: int or (h, w); None in the pair keeps that input size.

    Shape:
        (N, C, H, W) or (C, H, W) -> (.., OH, OW).

    Example::

        >>> nn.AdaptiveAvgPool2d(1)(ember.randn(2, 8, 5, 7)).shape
        (2, 8, 1, 1)
    """

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, input):
        return F.adaptive_avg_pool2d(input, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class MaxPool1d(MaxPool2d):
    """1-D max pooling over (N, C, L) or (C, L), as ``torch.nn.MaxPool1d`` (the arguments of
    MaxPool2d, as ints)."""

    def forward(self, input):
        return F.max_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
            return_indices=self.return_indices,
        )


class AvgPool1d(AvgPool2d):
    """1-D average pooling over (N, C, L) or (C, L), as ``torch.nn.AvgPool1d``."""

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
    ):
        super().__init__(kernel_size, stride, padding, ceil_mode, count_include_pad)
        # PyTorch keeps 1-tuples here (unlike MaxPool1d's ints): same attributes, same repr
        one = lambda v: tuple(v) if isinstance(v, tuple | list) else (v,)  # noqa: E731
        self.kernel_size, self.padding = one(kernel_size), one(padding)
        self.stride = one(kernel_size if stride is None else stride)

    def forward(self, input):
        return F.avg_pool1d(
            input,
            self.kernel_size,
            self.stride,
            self.padding,
            self.ceil_mode,
            self.count_include_pad,
        )


class AdaptiveAvgPool1d(AdaptiveAvgPool2d):
    """Average pooling of (N, C, L) or (C, L) to a fixed length (``torch.nn.AdaptiveAvgPool1d``)."""

    def forward(self, input):
        return F.adaptive_avg_pool1d(input, self.output_size)
