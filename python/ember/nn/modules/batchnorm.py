"""BatchNorm1d/2d/3d and their Lazy versions."""

from __future__ import annotations

import numpy as np

from ember._errors import BadShapeOrValue
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.lazy import LazyModuleMixin
from ember.nn.modules.module import Module, Parameter
from ember.tensor import Tensor, get_default_dtype


class _BatchNorm(Module):
    """Shared by BatchNorm1d/2d: PyTorch's parameters, buffers and update rule.

    Args:
        num_features: C, the channel dimension (dim 1) of the input.
        eps: added to the variance for numerical stability.
        momentum: weight of the new batch in the running statistics; None: cumulative
            average (1 / num_batches_tracked).
        affine: learn weight (ones) and bias (zeros); bias=False (keyword) drops the bias.
        track_running_stats: keep running_mean (zeros), running_var (ones) and
            num_batches_tracked (int64) buffers, used in eval mode; without them batch
            statistics are used in both modes.
        dtype: parameter and buffer dtype (float32 by default).
    """

    _ndims: tuple = ()
    _version = 2  # (PyTorch's: num_batches_tracked came with version 2)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__()
        if isinstance(num_features, bool) or not isinstance(num_features, int | np.integer):
            raise TypeError(f"{type(self).__name__}: num_features must be an int")
        if num_features < 0 and (affine or track_running_stats):  # torch: only where it
            raise BadShapeOrValue(  # makes a parameter or buffer of that size
                f"{type(self).__name__}: num_features must be >= 0 for its weight, bias or "
                f"running statistics, got {num_features}"
            )
        self.num_features = int(num_features)
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = np.dtype(dtype or get_default_dtype())
        if affine:
            self.weight = Parameter(np.empty(num_features, dtype))
            if bias:
                self.bias = Parameter(np.empty(num_features, dtype))
            else:  # PyTorch's bias=False: a learned scale only
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", Tensor(np.zeros(num_features, dtype)))
            self.register_buffer("running_var", Tensor(np.ones(num_features, dtype)))
            self.register_buffer("num_batches_tracked", Tensor(np.array(0, dtype=np.int64)))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, *args) -> None:
        # checkpoints from before version 2 (or plain dicts, without metadata) may lack
        # num_batches_tracked: PyTorch keeps the current count (0 when fresh) instead of
        # reporting a missing key
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats:
            if key not in state_dict:
                nbt = self.num_batches_tracked
                state_dict[key] = nbt if nbt is not None else np.array(0, dtype=np.int64)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, *args)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input_dim(self, input) -> None:
        nd = np.ndim(input.data if isinstance(input, Tensor) else input)
        if nd not in self._ndims:
            want = " or ".join(f"{d}D" for d in self._ndims)
            raise ValueError(f"{type(self).__name__}: expected {want} input (got {nd}D input)")

    def forward(self, input):
        self._check_input_dim(input)
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.data[...] += 1
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked.data)
        bn_training = self.training or (self.running_mean is None and self.running_var is None)
        use_stats = not self.training or self.track_running_stats
        return F.batch_norm(
            input,
            self.running_mean if use_stats else None,
            self.running_var if use_stats else None,
            self.weight,
            self.bias,
            bn_training,
            factor,
            self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, "
            + f"bias={self.bias is not None}, "
            + f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L), as ``torch.nn.BatchNorm1d``; see
    ``_BatchNorm`` for the arguments.

    Example::

        >>> nn.BatchNorm1d(4)(ember.randn(8, 4)).shape
        (8, 4)
    """

    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W), as ``torch.nn.BatchNorm2d``; see ``_BatchNorm``
    for the arguments.

    Example::

        >>> nn.BatchNorm2d(3)(ember.randn(2, 3, 4, 4)).shape
        (2, 3, 4, 4)
    """

    _ndims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation over (N, C, D, H, W), as ``torch.nn.BatchNorm3d``; see
    ``_BatchNorm`` for the arguments."""

    _ndims = (5,)


class SyncBatchNorm(_BatchNorm):
    """``torch.nn.SyncBatchNorm``: batch norm whose statistics torch reduces across the
    processes of a distributed group. ember runs in one process, where torch's also
    normalises with the local batch, so this is batch norm over any (N, C, *) input;
    ``convert_sync_batchnorm`` swaps it in for every BatchNorm of a model, as in DDP scripts."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        process_group=None,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__(
            num_features, eps, momentum, affine, track_running_stats, device, dtype, bias=bias
        )
        self.process_group = process_group

    def _check_input_dim(self, input) -> None:
        nd = np.ndim(input.data if isinstance(input, Tensor) else input)
        if nd < 2:
            raise ValueError(f"expected at least 2D input (got {nd}D input)")

    @classmethod
    def convert_sync_batchnorm(cls, module, process_group=None):
        """``module`` with each BatchNorm*d in it replaced by a SyncBatchNorm holding the same
        parameters and running statistics (the objects themselves, as torch)."""
        out = module
        if isinstance(module, _BatchNorm) and not isinstance(module, SyncBatchNorm):
            out = cls(
                module.num_features, module.eps, module.momentum, module.affine,
                module.track_running_stats, process_group, bias=module.bias is not None,
            )  # fmt: skip
            for name in ("weight", "bias"):
                if getattr(module, name, None) is not None:
                    setattr(out, name, getattr(module, name))
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                setattr(out, name, module._buffers.get(name))
            out.training = module.training
        for name, child in module.named_children():
            out.add_module(name, cls.convert_sync_batchnorm(child, process_group))
        return out


class _LazyNormMixin(LazyModuleMixin):
    """num_features from the first input's channel dim; PyTorch's lazy defaults (affine and
    running statistics on, for the instance norms too)."""

    _lazy_attr = "num_features"

    def __init__(
        self,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device=None,
        dtype=None,
        *,
        bias: bool = True,
    ):
        super().__init__(1, eps, momentum, affine, track_running_stats, device, dtype, bias=bias)
        self._lazy_resize(0)

    def _lazy_size(self, input):
        shape = np.shape(input)
        self._check_input_dim(np.empty(shape, np.int8))
        unbatched = len(shape) == getattr(self, "_no_batch_dim", -1)
        return shape[0] if unbatched else shape[1]

    def _lazy_shapes(self, n: int) -> dict:
        return {k: (n,) for k in ("weight", "bias", "running_mean", "running_var")}


class LazyBatchNorm1d(_LazyNormMixin, BatchNorm1d):
    """A BatchNorm1d whose num_features is read from its first input."""

    cls_to_become = BatchNorm1d


class LazyBatchNorm2d(_LazyNormMixin, BatchNorm2d):
    """A BatchNorm2d whose num_features is read from its first input."""

    cls_to_become = BatchNorm2d


class LazyBatchNorm3d(_LazyNormMixin, BatchNorm3d):
    """A BatchNorm3d whose num_features is read from its first input."""

    cls_to_become = BatchNorm3d
