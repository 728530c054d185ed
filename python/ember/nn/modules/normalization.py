"""LayerNorm."""

from __future__ import annotations

import numpy as np

from ember._errors import BadShapeOrValue
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module, Parameter
from ember.tensor import get_default_dtype


class LayerNorm(Module):
    """Layer normalisation over the last ``len(normalized_shape)`` dims (Ba et al., 2016).

    Args:
        normalized_shape: int or tuple: the trailing shape to normalise over.
        eps: added to the (biased) variance.
        elementwise_affine: learn ``weight`` (ones) and ``bias`` (zeros) of normalized_shape.
        bias: learn the bias too (when elementwise_affine).

    Shape:
        input (*, *normalized_shape) -> same shape.

    Example::

        >>> ln = nn.LayerNorm(8)
        >>> ln(ember.randn(2, 5, 8)).shape
        (2, 5, 8)
    """

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        shape = F._normalized_shape(normalized_shape, "LayerNorm")
        # (a size-0 dim is allowed, as torch: its layer norm of an empty input is empty)
        if not shape or any(d < 0 for d in shape):
            raise BadShapeOrValue(
                f"LayerNorm: normalized_shape must be non-empty and non-negative, got {shape}"
            )
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = np.dtype(dtype or get_default_dtype())
        if elementwise_affine:
            self.weight = Parameter(np.empty(shape, dtype))
            if bias:
                self.bias = Parameter(np.empty(shape, dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input):
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )
