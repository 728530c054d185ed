"""Stochastic Weight Averaging and EMA, as ``torch.optim.swa_utils``.

``AveragedModel`` keeps a copy of a model whose parameters (and optionally buffers) are a
running average of the model's; ``SWALR`` anneals the learning rate to a constant;
``update_bn`` recomputes batch-norm statistics for the averaged weights.

Example::

    >>> swa_model = AveragedModel(model)
    >>> swa_scheduler = SWALR(optimizer, swa_lr=0.05)
    >>> for epoch in range(100):
    ...     train_one_epoch(model, optimizer)
    ...     if epoch > 75:
    ...         swa_model.update_parameters(model); swa_scheduler.step()
    >>> update_bn(loader, swa_model)
"""

from __future__ import annotations

import itertools
import math
from copy import deepcopy

import numpy as np

from ember.autograd.function import no_grad
from ember.nn.modules.batchnorm import _BatchNorm
from ember.nn.modules.module import Module
from ember.nn.modules.normalization_extra import _InstanceNorm
from ember.optim.lr_scheduler import (
    LRScheduler,
    _check_optimizer,
    _per_group,
    _warn_get_lr_called_within_step,
)
from ember.optim.optimizer import _lerp_
from ember.tensor import Tensor

__all__ = [
    "SWALR",
    "AveragedModel",
    "get_ema_avg_fn",
    "get_ema_multi_avg_fn",
    "get_swa_avg_fn",
    "get_swa_multi_avg_fn",
    "update_bn",
]


def _check_decay(decay) -> None:
    if decay < 0.0 or decay > 1.0:
        raise ValueError(
            f"Invalid decay value {decay} provided. Please provide a value in [0,1] range."
        )


def get_ema_multi_avg_fn(decay=0.999):
    """In-place EMA over lists of Tensors: ``ema = decay * ema + (1 - decay) * model``."""
    _check_decay(decay)

    def ema_update(ema_param_list, current_param_list, _):
        if ema_param_list[0].data.dtype.kind in "fc":
            for p_ema, p_model in zip(ema_param_list, current_param_list):
                _lerp_(p_ema.data, p_model.data, 1 - decay)
        else:  # integer buffers: computed in floating point, truncated back
            for p_ema, p_model in zip(ema_param_list, current_param_list):
                p_ema.data[...] = p_ema.data * decay + p_model.data * (1 - decay)

    return ema_update


def get_swa_multi_avg_fn():
    """In-place equal-weight average over lists of Tensors:
    ``avg = avg + (model - avg) / (num_averaged + 1)``."""

    def swa_update(averaged_param_list, current_param_list, num_averaged):
        if averaged_param_list[0].data.dtype.kind in "fc":
            if isinstance(num_averaged, Tensor):  # PyTorch's 1 / (n + 1) is a float32 tensor
                weight = float(np.float32(1) / np.float32(int(num_averaged.data) + 1))
            else:
                weight = 1 / (num_averaged + 1)
            for p_avg, p_model in zip(averaged_param_list, current_param_list):
                _lerp_(p_avg.data, p_model.data, weight)
        else:  # PyTorch's addcdiv refuses integer tensors here too
            raise RuntimeError(
                "get_swa_multi_avg_fn: integer tensors (e.g. batch norm's num_batches_tracked "
                "with use_buffers=True) cannot be averaged in place; use the default avg_fn"
            )

    return swa_update


def get_ema_avg_fn(decay=0.999):
    """EMA of one Tensor: returns ``decay * ema + (1 - decay) * model``."""
    _check_decay(decay)

    def ema_update(ema_param, current_param, num_averaged):
        return decay * ema_param + (1 - decay) * current_param

    return ema_update


def get_swa_avg_fn():
    """Equal-weight average of one Tensor: returns ``avg + (model - avg) / (num_averaged + 1)``."""

    def swa_update(averaged_param, current_param, num_averaged):
        return averaged_param + (current_param - averaged_param) / (num_averaged + 1)

    return swa_update


def _as_array(v) -> np.ndarray:
    return v.data if isinstance(v, Tensor) else np.asarray(v)


class AveragedModel(Module):
    """A copy of ``model`` whose parameters are a running average of ``model``'s, for
    Stochastic Weight Averaging (Izmailov et al., 2018) and exponential moving averages.

    Args:
        model: the module to average (deep-copied).
        device: if given, the copy is moved there (``Module.to``).
        avg_fn: ``avg_fn(averaged, current, num_averaged) -> new averaged`` per Tensor.
        multi_avg_fn: ``multi_avg_fn(averaged_list, current_list, num_averaged)`` updating
            the averaged Tensors in place. Neither given: the equal-weight (SWA) average.
        use_buffers: average the buffers too (else they are copied from ``model``).

    ``n_averaged`` (an int64 buffer) counts the models averaged so far; the first
    ``update_parameters`` copies the model's values.
    """

    def __init__(self, model, device=None, avg_fn=None, multi_avg_fn=None, use_buffers=False):
        super().__init__()
        if avg_fn is not None and multi_avg_fn is not None:
            raise AssertionError("Only one of avg_fn and multi_avg_fn should be provided")
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a Module, got {type(model).__name__}")
        self.module = deepcopy(model)
        if device is not None:
            self.module = self.module.to(device)
        self.register_buffer("n_averaged", Tensor(np.array(0, dtype=np.int64)))
        self.avg_fn = avg_fn
        self.multi_avg_fn = multi_avg_fn
        self.use_buffers = use_buffers

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @no_grad()
    def update_parameters(self, model) -> None:
        """Fold ``model``'s current parameters (and buffers with use_buffers) into the average."""
        if self.use_buffers:
            self_param = itertools.chain(self.module.parameters(), self.module.buffers())
            model_param = itertools.chain(model.parameters(), model.buffers())
        else:
            self_param, model_param = self.parameters(), model.parameters()
        pairs = list(zip(self_param, model_param))
        n = int(self.n_averaged.data)
        if n == 0:
            for p_avg, p_model in pairs:
                p_avg.data[...] = _as_array(p_model)
        else:
            if self.multi_avg_fn is not None or self.avg_fn is None:
                # grouped by dtype as PyTorch groups by (device, dtype)
                groups: dict = {}
                for p_avg, p_model in pairs:
                    groups.setdefault(p_avg.data.dtype, []).append((p_avg, p_model.detach()))
                for group in groups.values():
                    avgs, models = [a for a, _ in group], [m for _, m in group]
                    if self.multi_avg_fn is not None:
                        self.multi_avg_fn(avgs, models, self.n_averaged)
                    else:
                        avg_fn = get_swa_avg_fn()
                        for p_avg, p_model in group:
                            p_avg.data[...] = _as_array(avg_fn(p_avg, p_model, self.n_averaged))
            else:
                for p_avg, p_model in pairs:
                    new = self.avg_fn(p_avg.detach(), p_model.detach(), self.n_averaged)
                    p_avg.data[...] = _as_array(new)
        if not self.use_buffers:
            for b_swa, b_model in zip(self.module.buffers(), model.buffers()):
                b_swa.data[...] = _as_array(b_model)
        self.n_averaged.data[...] += 1


def _is_batchnorm(m) -> bool:
    # PyTorch's instance norms are not _BatchNorm subclasses; ember's share its code
    return isinstance(m, _BatchNorm) and not isinstance(m, _InstanceNorm)


@no_grad()
def update_bn(loader, model, device=None) -> None:
    """Recompute the running statistics of ``model``'s batch-norm layers with one pass over
    ``loader`` (cumulative averages: momentum None during the pass, restored after).

    Args:
        loader: an iterable of batches, each a Tensor/array or a list/tuple whose first
            element is the input.
        model: the module (e.g. an ``AveragedModel``).
        device: accepted for PyTorch's signature (CPU only).
    """
    momenta = {}
    for module in model.modules():
        if _is_batchnorm(module):
            module.reset_running_stats()
            momenta[module] = module.momentum
    if not momenta:
        return
    was_training = model.training
    model.train()
    for module in momenta:
        module.momentum = None
    try:
        for input in loader:
            if isinstance(input, list | tuple):
                input = input[0]
            if device is not None and hasattr(input, "to"):
                input = input.to(device)
            model(input)
    finally:
        for module, momentum in momenta.items():
            module.momentum = momentum
        model.train(was_training)


class SWALR(LRScheduler):
    """Anneals each group's lr to ``swa_lr`` over ``anneal_epochs`` epochs, then holds it.

    Args:
        optimizer: the wrapped optimizer.
        swa_lr: the final lr, one for all groups or a list with one per group (stored in
            each group as ``group["swa_lr"]``).
        anneal_epochs: epochs of the annealing phase (int >= 0, default: 10).
        anneal_strategy: ``"cos"`` (default) or ``"linear"``.
        last_epoch: index of the last epoch (default: -1).
    """

    def __init__(self, optimizer, swa_lr, anneal_epochs=10, anneal_strategy="cos", last_epoch=-1):
        _check_optimizer(optimizer)
        for lr, group in zip(_per_group("swa_lr", optimizer, swa_lr), optimizer.param_groups):
            group["swa_lr"] = lr
        if anneal_strategy not in ["cos", "linear"]:
            raise ValueError(
                f"anneal_strategy must be one of 'cos' or 'linear', instead got {anneal_strategy}"
            )
        self._set_anneal_func(anneal_strategy)
        if not isinstance(anneal_epochs, int) or anneal_epochs < 0:
            raise ValueError(f"anneal_epochs must be equal or greater than 0, got {anneal_epochs}")
        self.anneal_epochs = anneal_epochs
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _linear_anneal(t):
        return t

    @staticmethod
    def _cosine_anneal(t):
        return (1 - math.cos(math.pi * t)) / 2

    @staticmethod
    def _get_initial_lr(lr, swa_lr, alpha):
        if alpha == 1:
            return swa_lr
        return (lr - alpha * swa_lr) / (1 - alpha)

    def _set_anneal_func(self, anneal_strategy) -> None:
        self._anneal_strategy = anneal_strategy
        self.anneal_func = self._cosine_anneal if anneal_strategy == "cos" else self._linear_anneal

    def get_lr(self) -> list:
        _warn_get_lr_called_within_step(self)
        # recover the lr the annealing started from out of the current one, then move on
        step = self._step_count - 1
        if self.anneal_epochs == 0:
            step = max(1, step)
        prev_t = max(0, min(1, (step - 1) / max(1, self.anneal_epochs)))
        prev_alpha = self.anneal_func(prev_t)
        groups = self.optimizer.param_groups
        prev_lrs = [self._get_initial_lr(g["lr"], g["swa_lr"], prev_alpha) for g in groups]
        t = max(0, min(1, step / max(1, self.anneal_epochs)))
        alpha = self.anneal_func(t)
        return [g["swa_lr"] * alpha + lr * (1 - alpha) for g, lr in zip(groups, prev_lrs)]

    def state_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("optimizer", "anneal_func")}

    def load_state_dict(self, state_dict: dict) -> None:
        self.__dict__.update(state_dict)
        self._set_anneal_func(self._anneal_strategy)
