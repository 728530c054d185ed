"""Ready-made convolutional blocks: a residual block (He et al., 2016) and an Inception block
(Szegedy et al., 2015).

Example::

    >>> from ember.nn import blocks
    >>> blocks.ResidualBlock(16, 32, stride=2)(ember.randn(2, 16, 8, 8)).shape
    (2, 32, 4, 4)
    >>> blocks.InceptionBlock(16, 8, 8, 12, 4, 6, 6)(ember.randn(2, 16, 8, 8)).shape
    (2, 32, 8, 8)
"""

from __future__ import annotations

from ember import ops
from ember.nn.modules.activation import ReLU
from ember.nn.modules.batchnorm import BatchNorm2d
from ember.nn.modules.container import Sequential
from ember.nn.modules.conv import Conv2d
from ember.nn.modules.module import Module
from ember.nn.modules.pooling import MaxPool2d


class ResidualBlock(Module):
    """conv3x3-BN-ReLU-conv3x3-BN plus the shortcut, then ReLU (ResNet's basic block).

    The shortcut is the identity when the shape is kept (stride 1 and in_channels ==
    out_channels), else a 1x1 projection conv (with the stride, no bias) and BN. The attribute
    names (conv1, bn1, relu, conv2, bn2, downsample) are torchvision's BasicBlock's, so its
    state_dict keys match.

    Args:
        in_channels, out_channels: channels in and out.
        stride: of the first conv and the projection (2 halves H and W).

    Shape:
        (N, in_channels, H, W) -> (N, out_channels, (H - 1) // stride + 1, (W - 1) // stride + 1)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn1 = BatchNorm2d(out_channels)
        self.relu = ReLU()
        self.conv2 = Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.bn2 = BatchNorm2d(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.downsample = Sequential(
                Conv2d(in_channels, out_channels, 1, stride, bias=False), BatchNorm2d(out_channels)
            )
        else:
            self.downsample = None
        self.stride = stride

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


BasicBlock = ResidualBlock


class _ConvReLU(Sequential):
    def __init__(self, in_channels, out_channels, kernel_size, batch_norm):
        layers = [Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)]
        if batch_norm:
            layers = [
                Conv2d(
                    in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False
                ),
                BatchNorm2d(out_channels),
            ]
        super().__init__(*layers, ReLU())


class InceptionBlock(Module):
    """Four parallel branches concatenated along the channels (GoogLeNet's Inception module):
    a 1x1 conv; a 1x1 reduction then a 3x3 conv; a 1x1 reduction then a 5x5 conv; a 3x3 max
    pool (stride 1, padding 1) then a 1x1 projection. Every conv keeps H and W and is followed
    by ReLU (and, with ``batch_norm=True``, by BN before the ReLU, bias-free).

    Args:
        in_channels: input channels.
        ch1x1: channels of the 1x1 branch.
        ch3x3red, ch3x3: reduction and output channels of the 3x3 branch.
        ch5x5red, ch5x5: reduction and output channels of the 5x5 branch.
        pool_proj: channels of the pooling branch's projection.
        batch_norm: conv-BN-ReLU instead of conv-ReLU.

    Shape:
        (N, in_channels, H, W) -> (N, ch1x1 + ch3x3 + ch5x5 + pool_proj, H, W)
    """

    def __init__(
        self,
        in_channels: int,
        ch1x1: int,
        ch3x3red: int,
        ch3x3: int,
        ch5x5red: int,
        ch5x5: int,
        pool_proj: int,
        batch_norm: bool = False,
    ):
        super().__init__()
        bn = batch_norm
        self.branch1 = _ConvReLU(in_channels, ch1x1, 1, bn)
        self.branch2 = Sequential(
            _ConvReLU(in_channels, ch3x3red, 1, bn), _ConvReLU(ch3x3red, ch3x3, 3, bn)
        )
        self.branch3 = Sequential(
            _ConvReLU(in_channels, ch5x5red, 1, bn), _ConvReLU(ch5x5red, ch5x5, 5, bn)
        )
        self.branch4 = Sequential(
            MaxPool2d(3, stride=1, padding=1), _ConvReLU(in_channels, pool_proj, 1, bn)
        )
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x):
        branches = [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)]
        return ops.cat(branches, dim=1)


__all__ = ["BasicBlock", "InceptionBlock", "ResidualBlock"]
