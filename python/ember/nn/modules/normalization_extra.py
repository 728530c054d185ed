"""GroupNorm, InstanceNorm1d/2d/3d (and Lazy), RMSNorm, LocalResponseNorm."""

from __future__ import annotations

import warnings

import numpy as np

from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.batchnorm import _BatchNorm, _LazyNormMixin
from ember.nn.modules.module import Module, Parameter, _check_size
from ember.tensor import Tensor, get_default_dtype


class GroupNorm(Module):
    """Group normalisation over (N, C, *), as ``torch.nn.GroupNorm``.

    Args:
        num_groups: groups the channels are split into (must divide num_channels).
        num_channels: C.
        eps: added to the (biased) variance.
        affine: learn a per-channel ``weight`` (ones) and ``bias`` (zeros).

    Example::

        >>> nn.GroupNorm(2, 4)(ember.randn(3, 4, 5, 5)).shape
        (3, 4, 5, 5)
    """

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        num_groups = _check_size("GroupNorm", "num_groups", num_groups)
        # torch allows no channels (an empty layer over (N, 0, *) inputs)
        num_channels = _check_size("GroupNorm", "num_channels", num_channels, minimum=0)
        if num_channels % num_groups:
            raise ValueError(
                f"GroupNorm: num_channels ({num_channels}) must be divisible by "
                f"num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        dtype = np.dtype(dtype or get_default_dtype())
        if affine:
            self.weight = Parameter(np.empty(num_channels, dtype))
            if bias:
                self.bias = Parameter(np.empty(num_channels, dtype))
            else:  # PyTorch's bias=False: a learned scale only
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input):
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        s = f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"
        return s + f", bias={self.bias is not None}"


class _InstanceNorm(_BatchNorm):
    """BatchNorm's parameters and buffers with PyTorch's instance-norm defaults (no affine, no
    running statistics). Running statistics, when tracked, are updated in training mode and
    used in eval mode; num_batches_tracked is kept but, as in PyTorch, never incremented."""

    _no_batch_dim = 2

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing, *args):
        # a checkpoint without version metadata holding running statistics this module does not
        # track (InstanceNorm's default before PyTorch 0.4): an error even when not strict, and
        # the keys dropped, as PyTorch
        if local_metadata.get("version", None) is None and not self.track_running_stats:
            keys = [prefix + n for n in ("running_mean", "running_var") if prefix + n in state_dict]
            if keys:
                name = type(self).__name__
                args[-1].append(
                    f"Unexpected running stats buffer(s) {' and '.join(map(repr, keys))} for "
                    f"{name} with track_running_stats=False: set track_running_stats=True to "
                    "use them, or remove these keys from state_dict"
                )
                for k in keys:
                    state_dict.pop(k)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing, *args)

    def forward(self, input):
        x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
        self._check_input_dim(x)
        feature_dim = x.ndim - self._no_batch_dim
        if x.shape[feature_dim] != self.num_features:
            msg = (
                f"{type(self).__name__}: expected input's size at dim={feature_dim} to match "
                f"num_features ({self.num_features}), but got: {x.shape[feature_dim]}."
            )
            if self.affine:
                raise ValueError(msg)
            warnings.warn(msg + " num_features is unused because affine=False", stacklevel=2)
        unbatched = x.ndim == self._no_batch_dim
        if unbatched:
            x = x.unsqueeze(0)
        y = F.instance_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training or not self.track_running_stats,
            0.0 if self.momentum is None else self.momentum,
            self.eps,
        )
        return y.squeeze(0) if unbatched else y


class InstanceNorm1d(_InstanceNorm):
    """Instance normalisation over (N, C, L) or unbatched (C, L), as ``torch.nn.InstanceNorm1d``.

    Example::

        >>> nn.InstanceNorm1d(3)(ember.randn(2, 3, 8)).shape
        (2, 3, 8)
    """

    _ndims = (2, 3)
    _no_batch_dim = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance normalisation over (N, C, H, W) or unbatched (C, H, W), as
    ``torch.nn.InstanceNorm2d``.

    Example::

        >>> nn.InstanceNorm2d(3, affine=True)(ember.randn(2, 3, 4, 4)).shape
        (2, 3, 4, 4)
    """

    _ndims = (3, 4)
    _no_batch_dim = 3


class InstanceNorm3d(_InstanceNorm):
    """Instance normalisation over (N, C, D, H, W) or unbatched (C, D, H, W)."""

    _ndims = (4, 5)
    _no_batch_dim = 4


class RMSNorm(Module):
    """Root-mean-square normalisation over the trailing ``normalized_shape`` dims, as
    ``torch.nn.RMSNorm``: y = x / sqrt(mean(x^2) + eps) * weight.

    Args:
        normalized_shape: int or shape of the trailing dims.
        eps: added to the mean square; None uses the input dtype's machine epsilon.
        elementwise_affine: learn a ``weight`` of that shape (ones).

    Example::

        >>> nn.RMSNorm(8)(ember.randn(2, 8)).shape
        (2, 8)
    """

    def __init__(
        self, normalized_shape, eps=None, elementwise_affine: bool = True, device=None, dtype=None
    ):
        super().__init__()
        self.normalized_shape = F._normalized_shape(normalized_shape, "RMSNorm")
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        if elementwise_affine:
            self.weight = Parameter(
                np.empty(self.normalized_shape, np.dtype(dtype or get_default_dtype()))
            )
        else:
            self.register_parameter("weight", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)

    def forward(self, x):
        # (PyTorch names this argument x, so rms(x=t) works)
        return F.rms_norm(x, self.normalized_shape, self.weight, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )


class LocalResponseNorm(Module):
    """Local response normalisation across channels, as ``torch.nn.LocalResponseNorm``; see
    ``nn.functional.local_response_norm``.

    Example::

        >>> nn.LocalResponseNorm(3)(ember.randn(2, 6, 4, 4)).shape
        (2, 6, 4, 4)
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0):
        super().__init__()
        self.size = size
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, input):
        return F.local_response_norm(input, self.size, self.alpha, self.beta, self.k)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"


class LazyInstanceNorm1d(_LazyNormMixin, InstanceNorm1d):
    """An InstanceNorm1d whose num_features is read from its first input (PyTorch's lazy
    defaults: affine and track_running_stats on)."""

    cls_to_become = InstanceNorm1d


class LazyInstanceNorm2d(_LazyNormMixin, InstanceNorm2d):
    """An InstanceNorm2d whose num_features is read from its first input."""

    cls_to_become = InstanceNorm2d


class LazyInstanceNorm3d(_LazyNormMixin, InstanceNorm3d):
    """An InstanceNorm3d whose num_features is read from its first input."""

    cls_to_become = InstanceNorm3d
