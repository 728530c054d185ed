"""Linear, LazyLinear, Bilinear and Identity."""

from __future__ import annotations

import math

import numpy as np

from ember import _device
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.lazy import LazyModuleMixin
from ember.nn.modules.module import Module, Parameter, _check_size
from ember.tensor import get_default_dtype


class Identity(Module):
    """Returns its input unchanged (any constructor arguments are ignored)."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, input):
        return input


class Linear(Module):
    """y = x @ W^T + b.

    Args:
        in_features, out_features: sizes of each input and output sample.
        bias: learn an additive bias.
        device: None or the CPU (any other device is refused, as ember is CPU-only).
        dtype: parameter dtype (float32 by default).

    Shape:
        input (*, in_features) -> output (*, out_features).
        weight (out_features, in_features), bias (out_features,), initialised as PyTorch does:
        U(-1/sqrt(in_features), 1/sqrt(in_features)).

    Example::

        >>> m = nn.Linear(20, 30)
        >>> m(ember.randn(128, 20)).shape
        (128, 30)
    """

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        _device.check(device)
        cls = type(self).__name__
        self.in_features = _check_size(cls, "in_features", in_features, minimum=0)
        self.out_features = _check_size(cls, "out_features", out_features, minimum=0)
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(np.empty((out_features, in_features), dtype))
        self.bias = Parameter(np.empty(out_features, dtype)) if bias else None
        if not bias:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # kaiming_uniform_(a=sqrt(5)) gives bound 1/sqrt(fan_in), PyTorch's default.
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input):
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class NonDynamicallyQuantizableLinear(Linear):
    """A Linear under PyTorch's name for MultiheadAttention.out_proj (which its quantization
    tooling leaves alone); kept so the module prints as PyTorch's does."""


class Bilinear(Module):
    """y = x1^T A x2 + b, as ``torch.nn.Bilinear``: weight (out_features, in1_features,
    in2_features) and bias (out_features,), both U(-1/sqrt(in1_features), 1/sqrt(in1_features)).

    Shape: (*, in1_features), (*, in2_features) -> (*, out_features).

    Example::

        >>> nn.Bilinear(3, 4, 5)(ember.randn(2, 3), ember.randn(2, 4)).shape
        (2, 5)
    """

    def __init__(
        self,
        in1_features: int,
        in2_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.in1_features = _check_size("Bilinear", "in1_features", in1_features, minimum=0)
        self.in2_features = _check_size("Bilinear", "in2_features", in2_features, minimum=0)
        self.out_features = _check_size("Bilinear", "out_features", out_features, minimum=0)
        dtype = np.dtype(dtype or get_default_dtype())
        self.weight = Parameter(np.empty((out_features, in1_features, in2_features), dtype))
        if bias:
            self.bias = Parameter(np.empty(out_features, dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight.shape[1] < 1:  # the bound below divides by it, as PyTorch's
            raise ValueError(f"Bilinear: in1_features must be > 0, got {self.weight.shape[1]}")
        bound = 1 / math.sqrt(self.weight.shape[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input1, input2):
        return F.bilinear(input1, input2, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in1_features={self.in1_features}, in2_features={self.in2_features}, "
            f"out_features={self.out_features}, bias={self.bias is not None}"
        )


class LazyLinear(LazyModuleMixin, Linear):
    """A Linear whose in_features is read from its first input, as ``torch.nn.LazyLinear``;
    it then becomes a Linear."""

    cls_to_become = Linear
    _lazy_attr = "in_features"

    def __init__(self, out_features: int, bias: bool = True, device=None, dtype=None):
        super().__init__(0, out_features, bias, device, dtype)
        self._lazy_resize(0)

    def _lazy_size(self, input):
        return np.shape(input)[-1]

    def _lazy_shapes(self, n: int) -> dict:
        return {"weight": (self.out_features, n)}
