"""torch.nn.parameter's names: ``from ember.nn.parameter import Parameter`` works as in
PyTorch."""

from ember.nn.modules.lazy import UninitializedBuffer, UninitializedParameter
from ember.nn.modules.module import Buffer, Parameter

__all__ = ["Buffer", "Parameter", "UninitializedBuffer", "UninitializedParameter"]
