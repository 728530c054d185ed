"""Convolution layers: Conv1d/2d/3d and ConvTranspose1d/2d/3d, sharing one argument check and
PyTorch's initialisation."""

from __future__ import annotations

import math

import numpy as np

from ember._errors import BadShapeOrValue
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.lazy import LazyModuleMixin
from ember.nn.modules.module import Module, Parameter, _check_size
from ember.tensor import get_default_dtype

_PADDING_STRINGS = ("valid", "same", "full")
_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _ntuple(v, n: int, op: str, name: str) -> tuple:
    """An int or an n-sequence of ints -> n-tuple (a 1-sequence as n copies, as PyTorch's
    int[n] arguments, except kernel_size, which PyTorch takes as the weight's shape)."""
    if isinstance(v, tuple | list) and len(v) == 1 and name != "kernel_size":
        v = v[0]
    if isinstance(v, tuple | list):
        if len(v) != n:
            raise ValueError(f"{op}: {name} must be an int or {n} ints, got {v!r}")
        return tuple(F._int_arg(a, op, name) for a in v)
    return (F._int_arg(v, op, name),) * n


class _ConvNd(Module):
    """What every convolution layer shares: argument checks, parameters, initialisation.

    weight: (out_channels, in_channels / groups, *kernel) for a convolution,
    (in_channels, out_channels / groups, *kernel) when transposed (PyTorch's layouts);
    initialised with kaiming_uniform_(a=sqrt(5)), bias with U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """

    def __init__(
        self,
        nd: int,
        transposed: bool,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride,
        padding,
        dilation,
        groups: int,
        bias: bool,
        padding_mode: str,
        dtype,
        output_padding=0,
    ):
        super().__init__()
        op = type(self).__name__
        in_channels = _check_size(op, "in_channels", in_channels)
        out_channels = _check_size(op, "out_channels", out_channels)
        groups = _check_size(op, "groups", groups)
        if in_channels % groups:
            raise ValueError(f"{op}: in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError(f"{op}: out_channels must be divisible by groups")
        modes = ("zeros",) if transposed else ("zeros", "reflect", "replicate", "circular")
        if padding_mode not in modes:
            raise ValueError(f"{op}: padding_mode must be one of {modes}, got {padding_mode!r}")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _ntuple(kernel_size, nd, op, "kernel_size")
        self.stride = _ntuple(stride, nd, op, "stride")
        self.dilation = _ntuple(dilation, nd, op, "dilation")
        if min(self.kernel_size) < 1:
            # (torch: a RuntimeError, from making the weight of a negative size)
            raise BadShapeOrValue(f"{op}: kernel_size must be >= 1, got {kernel_size!r}")
        if min(self.stride) < 1:
            raise ValueError(f"{op}: stride must be >= 1, got {stride!r}")
        if min(self.dilation) < 1:
            raise ValueError(f"{op}: dilation must be >= 1, got {dilation!r}")
        if isinstance(padding, str) and not transposed:
            if padding not in _PADDING_STRINGS:
                raise ValueError(
                    f"{op}: invalid padding string {padding!r}, should be one of "
                    f"{list(_PADDING_STRINGS)}"
                )
            if padding == "same" and max(self.stride) > 1:
                raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            if padding_mode != "zeros" and isinstance(padding, tuple | list) and len(padding) < nd:
                # (PyTorch pads only the last dim by it, which its F.pad modes refuse)
                raise ValueError(f"{op}: padding_mode {padding_mode!r} needs {nd} paddings")
            self.padding = _ntuple(padding, nd, op, "padding")
            if min(self.padding) < 0:
                raise ValueError(f"{op}: padding must be non-negative, got {padding!r}")
        self.output_padding = _ntuple(output_padding, nd, op, "output_padding")
        self.groups = int(groups)
        self.padding_mode = padding_mode
        self.transposed = bool(transposed)  # PyTorch's attribute, read by model-surgery code
        dtype = np.dtype(dtype or get_default_dtype())
        lead = (
            (in_channels, out_channels // groups)
            if transposed
            else (out_channels, in_channels // groups)
        )
        self.weight = Parameter(np.empty(lead + self.kernel_size, dtype))
        if bias:
            self.bias = Parameter(np.empty(out_channels, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def _padded(self, input):
        """(input, padding) for the convolution: with padding_mode 'reflect', 'replicate' or
        'circular' the input is padded here (F.pad) and the convolution pads nothing, as
        PyTorch does; 'same' splits d (k - 1) as PyTorch (the extra element on the right)."""
        if self.padding_mode == "zeros":
            return input, self.padding
        if self.padding == "valid":
            return input, 0
        if self.padding == "same":
            pairs = []
            for d, k in zip(self.dilation, self.kernel_size, strict=True):
                total = d * (k - 1)
                pairs.append((total // 2, total - total // 2))
        elif self.padding == "full":
            pairs = [
                (d * (k - 1),) * 2 for d, k in zip(self.dilation, self.kernel_size, strict=True)
            ]
        else:
            pairs = [(p, p) for p in self.padding]
        flat = tuple(v for pair in reversed(pairs) for v in pair)
        return F.pad(input, flat, mode=self.padding_mode), 0

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in), PyTorch's default.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def extra_repr(self) -> str:
        nd = len(self.kernel_size)
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        s += f", stride={self.stride}"
        if self.padding != (0,) * nd:
            s += f", padding={self.padding}"  # 'same' unquoted, as PyTorch prints it
        if self.dilation != (1,) * nd:
            s += f", dilation={self.dilation}"
        if self.output_padding != (0,) * nd:
            s += f", output_padding={self.output_padding}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class _Conv(_ConvNd):
    """Conv1d/2d/3d: PyTorch's signature; padding_mode other than 'zeros' pads in _padded."""

    _nd = 2
    _conv = "conv2d"

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
        super().__init__(
            self._nd, False, in_channels, out_channels, kernel_size, stride, padding, dilation,
            groups, bias, padding_mode, dtype,
        )  # fmt: skip

    def forward(self, input):
        input, padding = self._padded(input)
        # F looked up per call: autocast swaps F.conv2d & co. for casting wrappers
        return getattr(F, self._conv)(
            input, self.weight, self.bias, self.stride, padding, self.dilation, self.groups
        )


class Conv1d(_Conv):
    """1-D convolution over (N, C, L), as ``torch.nn.Conv1d``: weight (out_channels,
    in_channels / groups, K); padding int, 'valid', 'same' (stride 1) or 'full'.

    Shape: (N, C_in, L) or (C_in, L) -> (.., C_out, (L + 2 pad - dilation (K - 1) - 1) // stride
    + 1).

    Example::

        >>> nn.Conv1d(4, 8, 3, padding=1)(ember.randn(2, 4, 10)).shape
        (2, 8, 10)
    """

    _nd = 1
    _conv = "conv1d"


class Conv2d(_Conv):
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

    _nd = 2
    _conv = "conv2d"


class Conv3d(_Conv):
    """3-D convolution over (N, C, D, H, W), as ``torch.nn.Conv3d``: weight (out_channels,
    in_channels / groups, KD, KH, KW); padding int, triple, 'valid' or 'same' (stride 1);
    padding_mode 'zeros', 'reflect', 'replicate' or 'circular'.

    Example::

        >>> nn.Conv3d(2, 4, 3, padding=1)(ember.randn(1, 2, 5, 6, 7)).shape
        (1, 4, 5, 6, 7)
    """

    _nd = 3
    _conv = "conv3d"


class _ConvTransposeNd(_ConvNd):
    """What ConvTranspose1d/2d/3d share: PyTorch's signature, and ``forward(input,
    output_size=None)`` where output_size picks the output_padding."""

    _nd = 2
    _conv = "conv_transpose2d"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        output_padding=0,
        groups: int = 1,
        bias: bool = True,
        dilation=1,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        super().__init__(
            self._nd, True, in_channels, out_channels, kernel_size, stride, padding, dilation,
            groups, bias, padding_mode, dtype, output_padding,
        )  # fmt: skip

    def forward(self, input, output_size=None):
        # F looked up per call: autocast swaps F.conv2d & co. for casting wrappers
        return getattr(F, self._conv)(
            input, self.weight, self.bias, self.stride, self.padding,
            self._output_padding(input, output_size), self.groups, self.dilation,
        )  # fmt: skip

    def _output_padding(self, input, output_size) -> tuple:
        """PyTorch's rule: ``output_size`` (spatial sizes, optionally with the leading batch and
        channel dims) picks output_padding within one stride of the smallest output."""
        if output_size is None:
            return self.output_padding
        nd, op = len(self.kernel_size), type(self).__name__
        x_shape = getattr(input, "shape", None) or np.shape(input)
        lead = 2 if len(x_shape) == nd + 2 else 1
        size = tuple(int(s) for s in output_size)
        if len(size) == lead + nd:
            size = size[lead:]
        if len(size) != nd:
            raise ValueError(
                f"{op}: for {len(x_shape)}D input, output_size must have {nd} or {lead + nd} "
                f"elements (got {len(output_size)})"
            )
        lo = [
            (n - 1) * s - 2 * p + d * (k - 1) + 1
            for n, s, p, d, k in zip(
                x_shape[lead:], self.stride, self.padding, self.dilation, self.kernel_size
            )
        ]
        hi = [m + s - 1 for m, s in zip(lo, self.stride)]
        if any(not a <= o <= b for o, a, b in zip(size, lo, hi)):
            raise ValueError(
                f"{op}: requested an output size of {list(size)}, but valid sizes range from "
                f"{lo} to {hi} (for an input of {tuple(x_shape[lead:])})"
            )
        return tuple(o - a for o, a in zip(size, lo))


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution, as ``torch.nn.ConvTranspose1d``: weight (in_channels,
    out_channels / groups, K).

    Shape: (N, C_in, L) or (C_in, L) -> (.., C_out, (L - 1) stride - 2 padding
    + dilation (K - 1) + output_padding + 1).

    Example::

        >>> nn.ConvTranspose1d(4, 2, 4, stride=2, padding=1)(ember.randn(1, 4, 5)).shape
        (1, 2, 10)
    """

    _nd = 1
    _conv = "conv_transpose1d"


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution, as ``torch.nn.ConvTranspose2d`` (the adjoint of Conv2d:
    upsampling in decoders and GANs). weight (in_channels, out_channels / groups, KH, KW).

    Shape: (N, C_in, H, W) or (C_in, H, W) -> (.., C_out, OH, OW), OH = (H - 1) stride
    - 2 padding + dilation (KH - 1) + output_padding + 1.

    Example::

        >>> nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)(ember.randn(1, 8, 5, 5)).shape
        (1, 4, 10, 10)
    """


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution, as ``torch.nn.ConvTranspose3d``: weight (in_channels,
    out_channels / groups, KD, KH, KW).

    Shape: (N, C_in, D, H, W) or (C_in, D, H, W) -> (.., C_out, OD, OH, OW), each
    (n - 1) stride - 2 padding + dilation (k - 1) + output_padding + 1.
    """

    _nd = 3
    _conv = "conv_transpose3d"


class _LazyConvMixin(LazyModuleMixin):
    """in_channels from the first input's channel dim; built with a placeholder in_channels
    (= groups, so the checks pass) and resized to 0 until then."""

    _lazy_attr = "in_channels"

    def __init__(self, out_channels: int, kernel_size, *args, **kwargs):
        groups = kwargs.get("groups", 1)
        super().__init__(groups, out_channels, kernel_size, *args, **kwargs)
        self._lazy_resize(0)

    def reset_parameters(self) -> None:
        if self.in_channels:  # nothing to initialise while the weight is empty
            super().reset_parameters()

    def _lazy_size(self, input):
        shape, nd = np.shape(input), len(self.kernel_size)
        if len(shape) not in (nd + 1, nd + 2):
            raise ValueError(
                f"{type(self).__name__}: expected {nd + 1}D (unbatched) or {nd + 2}D (batched) "
                f"input, but got input of size: {shape}"
            )
        return shape[1] if len(shape) == nd + 2 else shape[0]

    def _lazy_shapes(self, n: int) -> dict:
        transposed = isinstance(self, _ConvTransposeNd)
        lead = (n, self.out_channels // self.groups) if transposed else (
            self.out_channels, n // self.groups
        )  # fmt: skip
        return {"weight": lead + self.kernel_size}


class LazyConv1d(_LazyConvMixin, Conv1d):
    """A Conv1d whose in_channels is read from its first input (``torch.nn.LazyConv1d``)."""

    cls_to_become = Conv1d


class LazyConv2d(_LazyConvMixin, Conv2d):
    """A Conv2d whose in_channels is read from its first input (``torch.nn.LazyConv2d``)."""

    cls_to_become = Conv2d


class LazyConv3d(_LazyConvMixin, Conv3d):
    """A Conv3d whose in_channels is read from its first input (``torch.nn.LazyConv3d``)."""

    cls_to_become = Conv3d


class LazyConvTranspose1d(_LazyConvMixin, ConvTranspose1d):
    """A ConvTranspose1d whose in_channels is read from its first input."""

    cls_to_become = ConvTranspose1d


class LazyConvTranspose2d(_LazyConvMixin, ConvTranspose2d):
    """A ConvTranspose2d whose in_channels is read from its first input."""

    cls_to_become = ConvTranspose2d


class LazyConvTranspose3d(_LazyConvMixin, ConvTranspose3d):
    """A ConvTranspose3d whose in_channels is read from its first input."""

    cls_to_become = ConvTranspose3d
