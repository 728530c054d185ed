"""ember: C++-accelerated tensors with a thin autograd and PyTorch's names."""

from ember import _C
