"""Weight normalisation as a forward pre-hook (PyTorch's torch.nn.utils.weight_norm):
``weight = g * v / ||v||`` with the norm over every dimension but ``dim``."""

from __future__ import annotations

import warnings

from ember.nn.modules.module import Parameter
from ember.tensor import Tensor


def norm_except_dim(v: Tensor, pow: float = 2, dim: int = 0) -> Tensor:  # noqa: A002
    """The ``pow``-norm of ``v`` over all dimensions but ``dim``, keeping them as size 1
    (``dim=-1``: the norm of the whole tensor, a 0-d Tensor), as torch.norm_except_dim."""
    if dim == -1:
        return (v.abs() ** pow).sum() ** (1.0 / pow)
    if not -v.ndim <= dim < v.ndim:  # would wrap around silently below
        raise IndexError(
            f"norm_except_dim: dim {dim} is out of range for a weight of shape {v.shape}"
        )
    axes = tuple(i for i in range(v.ndim) if i != dim % v.ndim)
    return (v.abs() ** pow).sum(dim=axes, keepdim=True) ** (1.0 / pow)


def _weight_norm(v: Tensor, g: Tensor, dim: int) -> Tensor:
    return v * (g / norm_except_dim(v, 2, dim))


class WeightNorm:
    """The forward pre-hook that recomputes ``module.<name>`` from ``<name>_g`` and
    ``<name>_v``."""

    def __init__(self, name: str, dim: int):
        self.name = name
        self.dim = -1 if dim is None else dim

    def compute_weight(self, module) -> Tensor:
        g = getattr(module, self.name + "_g")
        v = getattr(module, self.name + "_v")
        return _weight_norm(v, g, self.dim)

    @staticmethod
    def apply(module, name: str, dim: int) -> WeightNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, WeightNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two weight_norm hooks on the same parameter {name}"
                )
        weight = module._parameters.get(name)
        if weight is None:  # (torch: getattr's AttributeError, else _parameters' KeyError)
            err = KeyError if hasattr(module, name) else AttributeError
            raise err(f"weight_norm: {type(module).__name__} has no parameter {name!r}")
        fn = WeightNorm(name, dim)
        g = norm_except_dim(weight, 2, fn.dim)  # a bad dim raises before the module changes
        del module._parameters[name]
        module.register_parameter(name + "_g", Parameter(g.data))
        module.register_parameter(name + "_v", Parameter(weight.data))
        setattr(module, name, fn.compute_weight(module))
        module.register_forward_pre_hook(fn)
        return fn

    def remove(self, module) -> None:
        weight = self.compute_weight(module)
        delattr(module, self.name)
        delattr(module, self.name + "_g")
        delattr(module, self.name + "_v")
        module.register_parameter(self.name, Parameter(weight.data))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module))


def weight_norm(module, name: str = "weight", dim: int | None = 0):
    """Replace parameter ``name`` of ``module`` by ``name_g`` (its norm over every dimension
    but ``dim``; ``dim=None``: the whole tensor) and ``name_v`` (its direction), recombined
    before every forward. Deprecated in PyTorch in favour of
    ``nn.utils.parametrizations.weight_norm``, with the same FutureWarning here."""
    warnings.warn(
        "`torch.nn.utils.weight_norm` is deprecated in favor of "
        "`torch.nn.utils.parametrizations.weight_norm`.",
        FutureWarning,
        stacklevel=2,
    )
    WeightNorm.apply(module, name, dim)
    return module


def _remove_hook(module, hook_type, name: str, what: str):
    """Remove the ``hook_type`` pre-hook of parameter ``name`` (``hook.remove(module)`` puts
    the plain parameter back)."""
    for k, hook in module._forward_pre_hooks.items():
        if isinstance(hook, hook_type) and hook.name == name:
            hook.remove(module)
            del module._forward_pre_hooks[k]
            module._refresh_hooked()
            return module
    raise ValueError(f"{what} of '{name}' not found in {module}")


def remove_weight_norm(module, name: str = "weight"):
    """Undo ``weight_norm``: ``name`` becomes a plain parameter holding the current weight."""
    return _remove_hook(module, WeightNorm, name, "weight_norm")
