"""Conv2d."""

from __future__ import annotations

import math

import numpy as np

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module, Parameter

_PADDING_STRINGS = ("valid", "same", "full")


def _pair(v, name: str) -> tuple[int, int]:
    return F._pair(v, "Conv2d", name)


class Conv2d(Module):
    """2-D convolution over an NCHW batch, as ``torch.nn.Conv2d``.

    Args:
        in_channels, out_channels: channels of the input and of the output.
        kernel_size, stride, dilation: int or (h, w).
        padding: int or (h, w), or 'valid', 'same' (stride 1 only) or 'full' (k-1 each side).
        groups: in_channels and out_channels must both be divisible by it
            (groups == in_channels: depthwise).
        bias: learn an additive bias per output channel.
        padding_mode: 'zeros', 'reflect', 'replicate' or 'circular' (as PyTorch).
        dtype: parameter dtype (float32 by default).

    Shape:
        input (N, C_in, H, W) or (C_in, H, W) -> output (N, C_out, OH, OW) with
        OH = (H + 2 pad - dilation (KH - 1) - 1) // stride + 1 (likewise OW).
        weight (out_channels, in_channels / groups, KH, KW), bias (out_channels,), initialised
        as PyTorch: kaiming_uniform_(a=sqrt(5)) and U(-1/sqrt(fan_in), 1/sqrt(fan_in)).

    Example::

        >>> m = nn.Conv2d(3, 8, 3, padding="same")
        >>> m(ember.randn(2, 3, 16, 16)).shape
        (2, 8, 16, 16)
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
                raise ValueError(f"Conv2d: {name} must be a positive int, got {v!r}")
        if isinstance(groups, bool) or not isinstance(groups, int | np.integer) or groups < 1:
            raise ValueError(f"Conv2d: groups must be a positive integer, got {groups!r}")
        if in_channels % groups:
            raise ValueError("Conv2d: in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("Conv2d: out_channels must be divisible by groups")
        if padding_mode not in ("zeros", "reflect", "replicate", "circular"):
            raise ValueError(
                "Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' or 'circular', "
                f"got {padding_mode!r}"
            )
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        if min(self.kernel_size) < 1:
            raise ValueError(f"Conv2d: kernel_size must be >= 1, got {kernel_size!r}")
        if min(self.stride) < 1:
            raise ValueError(f"Conv2d: stride must be >= 1, got {stride!r}")
        if min(self.dilation) < 1:
            raise ValueError(f"Conv2d: dilation must be >= 1, got {dilation!r}")
        if isinstance(padding, str):
            if padding not in _PADDING_STRINGS:
                raise ValueError(
                    f"Conv2d: invalid padding string {padding!r}, should be one of "
                    f"{list(_PADDING_STRINGS)}"
                )
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("Conv2d: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _pair(padding, "padding")
            if min(self.padding) < 0:
                raise ValueError(f"Conv2d: padding must be non-negative, got {padding!r}")
        self.groups = int(groups)
        self.padding_mode = padding_mode
        dtype = np.dtype(dtype or np.float32)
        shape = (out_channels, in_channels // groups) + self.kernel_size
        self.weight = Parameter(np.empty(shape, dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in), PyTorch's default.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        if self.padding_mode != "zeros":  # PyTorch: pad the input, then an unpadded conv
            top, bottom, left, right = F._conv_padding(
                self.padding, self.kernel_size, self.stride, self.dilation, "Conv2d"
            )
            input = F.pad(input, (left, right, top, bottom), mode=self.padding_mode)
            return F.conv2d(
                input, self.weight, self.bias, self.stride, 0, self.dilation, self.groups
            )
        return F.conv2d(
            input, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0, 0):
            s += (
                f", padding={self.padding!r}"
                if isinstance(self.padding, str)
                else (f", padding={self.padding}")
            )
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
