"""AdaptiveMaxPool1d/2d/3d, MaxUnpool1d/2d/3d, LPPool1d/2d/3d, MaxPool3d, AvgPool3d,
AdaptiveAvgPool3d, FractionalMaxPool2d/3d."""

from __future__ import annotations

from ember.nn import functional as F
from ember.nn.modules.module import Module
from ember.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d


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


class _MaxUnpoolNd(Module):
    """max_unpool over the last ``_nd`` dims: ``forward(input, indices, output_size=None)``
    puts each value at its argmax position and zeros elsewhere."""

    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0):
        super().__init__()
        n = self._nd
        tup = lambda v: tuple(v) if isinstance(v, tuple | list) else (v,) * n  # noqa: E731
        self.kernel_size = tup(kernel_size)
        self.stride = tup(stride if stride is not None else kernel_size)
        self.padding = tup(padding)

    def forward(self, input, indices, output_size=None):
        fn = (F.max_unpool1d, F.max_unpool2d, F.max_unpool3d)[self._nd - 1]
        return fn(input, indices, self.kernel_size, self.stride, self.padding, output_size)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxUnpool2d(_MaxUnpoolNd):
    """The partial inverse of MaxPool2d, as ``torch.nn.MaxUnpool2d``.

    Example::

        >>> pool, unpool = nn.MaxPool2d(2, return_indices=True), nn.MaxUnpool2d(2)
        >>> y, i = pool(ember.randn(1, 1, 4, 4))
        >>> unpool(y, i).shape
        (1, 1, 4, 4)
    """


class MaxUnpool1d(_MaxUnpoolNd):
    """The partial inverse of MaxPool1d over (N, C, L) or (C, L), as ``torch.nn.MaxUnpool1d``."""

    _nd = 1


class MaxUnpool3d(_MaxUnpoolNd):
    """The partial inverse of MaxPool3d over (N, C, D, H, W) or (C, D, H, W)."""

    _nd = 3


class AdaptiveMaxPool3d(AdaptiveMaxPool2d):
    """Max pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed size."""

    def forward(self, input):
        return F.adaptive_max_pool3d(input, self.output_size, self.return_indices)


class MaxPool3d(MaxPool2d):
    """3-D max pooling over (N, C, D, H, W) or (C, D, H, W), as ``torch.nn.MaxPool3d`` (the
    arguments of MaxPool2d, as ints or triples).

    Example::

        >>> nn.MaxPool3d(2)(ember.randn(1, 2, 4, 4, 4)).shape
        (1, 2, 2, 2, 2)
    """

    def forward(self, input):
        return F.max_pool3d(
            input, self.kernel_size, self.stride, self.padding, self.dilation,
            ceil_mode=self.ceil_mode, return_indices=self.return_indices,
        )  # fmt: skip


class AvgPool3d(AvgPool2d):
    """3-D average pooling over (N, C, D, H, W) or (C, D, H, W), as ``torch.nn.AvgPool3d``."""

    def forward(self, input):
        return F.avg_pool3d(
            input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
            self.count_include_pad, self.divisor_override,
        )  # fmt: skip


class AdaptiveAvgPool3d(AdaptiveAvgPool2d):
    """Average pooling of (N, C, D, H, W) or (C, D, H, W) to a fixed size."""

    def forward(self, input):
        return F.adaptive_avg_pool3d(input, self.output_size)


class _LPPoolNd(Module):
    def __init__(self, norm_type: float, kernel_size, stride=None, ceil_mode: bool = False):
        super().__init__()
        self.norm_type = norm_type
        self.kernel_size = kernel_size
        self.stride = stride
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (
            f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, ceil_mode={self.ceil_mode}"
        )


# The modules pass float(norm_type), as torch's: an integer input's x ** 2.0 is then a float
# (F.lp_pool2d(x, 2, ...) keeps x ** 2 integer and truncates the window averages).


class LPPool1d(_LPPoolNd):
    """Power-average pooling over (N, C, L) or (C, L), as ``torch.nn.LPPool1d``: each window's
    (sum of x^p) ** (1/p) (p = 1: sum pooling).

    Example::

        >>> nn.LPPool1d(2, 3, stride=2)(ember.randn(1, 4, 9)).shape
        (1, 4, 4)
    """

    def forward(self, input):
        return F.lp_pool1d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class LPPool2d(_LPPoolNd):
    """Power-average pooling over (N, C, H, W) or (C, H, W), as ``torch.nn.LPPool2d``."""

    def forward(self, input):
        return F.lp_pool2d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class LPPool3d(_LPPoolNd):
    """Power-average pooling over (N, C, D, H, W) or (C, D, H, W), as ``torch.nn.LPPool3d``."""

    def forward(self, input):
        return F.lp_pool3d(
            input, float(self.norm_type), self.kernel_size, self.stride, self.ceil_mode
        )


class _FractionalMaxPoolNd(Module):
    _nd = 2

    def __init__(
        self,
        kernel_size,
        output_size=None,
        output_ratio=None,
        return_indices: bool = False,
        _random_samples=None,
    ):
        super().__init__()
        op, n = type(self).__name__, self._nd
        tup = lambda v: tuple(v) if isinstance(v, tuple | list) else (v,) * n  # noqa: E731
        self.kernel_size = tup(kernel_size)
        self.return_indices = return_indices
        self.register_buffer("_random_samples", _random_samples)
        self.output_size = tup(output_size) if output_size is not None else None
        self.output_ratio = tup(output_ratio) if output_ratio is not None else None
        if output_size is None and output_ratio is None:
            raise ValueError(f"{op} requires specifying either an output size, or a pooling ratio")
        if output_size is not None and output_ratio is not None:
            raise ValueError(f"{op}: only one of output_size and output_ratio may be specified")
        if self.output_ratio is not None and not all(0 < r < 1 for r in self.output_ratio):
            raise ValueError(f"{op}: output_ratio must be between 0 and 1 (got {output_ratio})")

    def forward(self, input):
        fn = F.fractional_max_pool2d if self._nd == 2 else F.fractional_max_pool3d
        return fn(
            input, self.kernel_size, self.output_size, self.output_ratio, self.return_indices,
            self._random_samples,
        )  # fmt: skip


class FractionalMaxPool2d(_FractionalMaxPoolNd):
    """Fractional max pooling over (N, C, H, W) or (C, H, W), as
    ``torch.nn.FractionalMaxPool2d``; see ``nn.functional.fractional_max_pool2d``.

    Example::

        >>> nn.FractionalMaxPool2d(2, output_size=(5, 4))(ember.randn(1, 3, 9, 8)).shape
        (1, 3, 5, 4)
    """


class FractionalMaxPool3d(_FractionalMaxPoolNd):
    """Fractional max pooling over (N, C, T, H, W) or (C, T, H, W), as
    ``torch.nn.FractionalMaxPool3d``."""

    _nd = 3
