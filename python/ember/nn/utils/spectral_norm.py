"""Spectral normalisation as a forward pre-hook (PyTorch's torch.nn.utils.spectral_norm):
``weight = weight_orig / sigma`` with sigma, the largest singular value of the weight as a
matrix, estimated by power iteration on the buffers ``weight_u`` and ``weight_v``."""

from __future__ import annotations

import numpy as np

from ember.nn.modules.module import Parameter
from ember.nn.utils.weight_norm import _remove_hook
from ember.random import rng as _global_rng
from ember.tensor import Tensor


def _normalize(x: np.ndarray, eps: float) -> np.ndarray:
    return x / max(float(np.linalg.norm(x)), eps)


def _matrix(weight, dim: int):
    """``weight`` as a (size of dim, rest) matrix (Tensor or array)."""
    if dim != 0:
        perm = (dim, *(d for d in range(weight.ndim) if d != dim))
        weight = weight.permute(*perm) if isinstance(weight, Tensor) else weight.transpose(perm)
    return weight.reshape(weight.shape[0], -1)


class SpectralNorm:
    """The forward pre-hook that sets ``module.<name>`` to ``<name>_orig / sigma``, running
    ``n_power_iterations`` steps on ``<name>_u`` / ``<name>_v`` in training mode."""

    def __init__(self, name="weight", n_power_iterations=1, dim=0, eps=1e-12):
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.name, self.dim, self.eps = name, dim, eps
        self.n_power_iterations = n_power_iterations

    def compute_weight(self, module, do_power_iteration: bool) -> Tensor:
        weight = getattr(module, self.name + "_orig")
        u = getattr(module, self.name + "_u")
        v = getattr(module, self.name + "_v")
        if do_power_iteration:  # in place on the buffers, outside the graph
            w = _matrix(weight.data, self.dim)
            for _ in range(self.n_power_iterations):
                v.data[...] = _normalize(w.T @ u.data, self.eps)
                u.data[...] = _normalize(w @ v.data, self.eps)
        u_c, v_c = Tensor(u.data.copy()), Tensor(v.data.copy())
        sigma = (u_c * (_matrix(weight, self.dim) @ v_c)).sum()
        return weight / sigma

    def remove(self, module) -> None:
        weight = self.compute_weight(module, do_power_iteration=False)
        for suffix in ("", "_u", "_v", "_orig"):
            delattr(module, self.name + suffix)
        module.register_parameter(self.name, Parameter(weight.data))

    def __call__(self, module, inputs) -> None:
        setattr(module, self.name, self.compute_weight(module, module.training))

    @staticmethod
    def apply(module, name, n_power_iterations, dim, eps) -> SpectralNorm:
        for hook in module._forward_pre_hooks.values():
            if isinstance(hook, SpectralNorm) and hook.name == name:
                raise RuntimeError(
                    f"Cannot register two spectral_norm hooks on the same parameter {name}"
                )
        weight = module._parameters.get(name)
        if weight is None:  # (torch indexes module._parameters: a KeyError)
            raise KeyError(f"spectral_norm: {type(module).__name__} has no parameter {name!r}")
        fn = SpectralNorm(name, n_power_iterations, dim, eps)
        h, w = _matrix(weight.data, dim).shape
        rng = _global_rng()
        dtype = weight.data.dtype
        u = _normalize(rng.standard_normal(h).astype(dtype), eps)
        v = _normalize(rng.standard_normal(w).astype(dtype), eps)
        delattr(module, name)
        module.register_parameter(name + "_orig", weight)
        setattr(module, name, Tensor(weight.data))
        module.register_buffer(name + "_u", u)
        module.register_buffer(name + "_v", v)
        module.register_forward_pre_hook(fn)
        return fn


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Divide parameter ``name`` of ``module`` by its spectral norm before every forward
    (the parameter becomes ``name_orig``; ``dim`` is the output dimension: 1 for transposed
    convolutions, else 0). The starting vectors come from ember's generator."""
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    SpectralNorm.apply(module, name, n_power_iterations, dim, eps)
    return module


def remove_spectral_norm(module, name="weight"):
    """Undo ``spectral_norm``: ``name`` becomes a plain parameter holding the current weight."""
    return _remove_hook(module, SpectralNorm, name, "spectral_norm")
