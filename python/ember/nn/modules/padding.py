"""ConstantPad1d/2d/3d, ZeroPad1d/2d/3d, ReflectionPad1d/2d/3d, ReplicationPad1d/2d/3d,
CircularPad1d/2d/3d: F.pad with PyTorch's padding order (last dim first: left, right, top, ...)."""

from __future__ import annotations

import numpy as np

from ember.nn import functional as F
from ember.nn.modules.module import Module
from ember.tensor import Tensor


class _PadNd(Module):
    _n = 1
    _mode = "constant"

    def __init__(self, padding):
        super().__init__()
        if isinstance(padding, tuple | list):
            # any length, as PyTorch: F.pad pads that many dims (ZeroPad2d((1, 2)) the last)
            self.padding = tuple(padding)
        else:
            self.padding = (padding,) * (2 * self._n)

    def forward(self, input):
        return F.pad(input, self.padding, self._mode)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class _ConstantPadNd(_PadNd):
    def __init__(self, padding, value: float):
        super().__init__(padding)
        self.value = value

    def forward(self, input):
        return F.pad(input, self.padding, "constant", self.value)

    def extra_repr(self) -> str:
        return f"padding={self.padding}, value={self.value}"


class ConstantPad1d(_ConstantPadNd):
    """Pads the last dim with ``value``: padding int or (left, right)."""


class ConstantPad2d(_ConstantPadNd):
    """Pads the last two dims with ``value``: padding int or (left, right, top, bottom).

    Example::

        >>> nn.ConstantPad2d((1, 0, 2, 2), 3.5)(ember.randn(1, 2, 3, 3)).shape
        (1, 2, 7, 4)
    """

    _n = 2


class ConstantPad3d(_ConstantPadNd):
    """Pads the last three dims with ``value``: padding int or a 6-tuple."""

    _n = 3


class ZeroPad1d(ConstantPad1d):
    """Zero padding of the last dim."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad2d(ConstantPad2d):
    """Zero padding of the last two dims: padding int or (left, right, top, bottom).

    Example::

        >>> nn.ZeroPad2d(1)(ember.randn(1, 2, 3, 3)).shape
        (1, 2, 5, 5)
    """

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ZeroPad3d(ConstantPad3d):
    """Zero padding of the last three dims."""

    def __init__(self, padding):
        super().__init__(padding, 0.0)

    def extra_repr(self) -> str:
        return f"{self.padding}"


class ReflectionPad1d(_PadNd):
    """Mirror padding of the last dim (without repeating the edge)."""

    _mode = "reflect"


class ReflectionPad2d(_PadNd):
    """Mirror padding of the last two dims (without repeating the edge)."""

    _n, _mode = 2, "reflect"


class ReplicationPad1d(_PadNd):
    """Edge-repeating padding of the last dim."""

    _mode = "replicate"


class ReplicationPad2d(_PadNd):
    """Edge-repeating padding of the last two dims."""

    _n, _mode = 2, "replicate"


class _CircularPadNd(_PadNd):
    _mode = "circular"

    def forward(self, input):
        # PyTorch's circular modules (only they) insist on a batched or unbatched input of
        # their own rank, even where F.pad would pad the same dims of a larger one
        nd = np.ndim(input.data if isinstance(input, Tensor) else input)
        if nd not in (self._n + 1, self._n + 2):
            raise ValueError(
                f"{type(self).__name__}: expected {self._n + 1}D or {self._n + 2}D input "
                f"(got {nd}D input)"
            )
        return super().forward(input)


class CircularPad1d(_CircularPadNd):
    """Wrap-around padding of the last dim."""


class CircularPad2d(_CircularPadNd):
    """Wrap-around padding of the last two dims."""

    _n = 2


class ReflectionPad3d(_PadNd):
    """Mirror padding of the last three dims (without repeating the edge)."""

    _n, _mode = 3, "reflect"


class ReplicationPad3d(_PadNd):
    """Edge-repeating padding of the last three dims."""

    _n, _mode = 3, "replicate"


class CircularPad3d(_CircularPadNd):
    """Wrap-around padding of the last three dims."""

    _n = 3
