"""weight_norm and spectral_norm as parametrizations (PyTorch's
torch.nn.utils.parametrizations): the originals live under
``module.parametrizations.<name>``."""

from __future__ import annotations

import numpy as np

from ember.nn.modules.module import Module
from ember.nn.utils import parametrize
from ember.nn.utils.spectral_norm import _matrix, _normalize
from ember.nn.utils.weight_norm import _weight_norm, norm_except_dim
from ember.random import default_generator
from ember.tensor import Tensor

__all__ = ["spectral_norm", "weight_norm"]


class _WeightNorm(Module):
    def __init__(self, dim: int | None = 0):
        super().__init__()
        self.dim = -1 if dim is None else dim

    def forward(self, weight_g, weight_v):
        return _weight_norm(weight_v, weight_g, self.dim)

    def right_inverse(self, weight):
        return norm_except_dim(weight, 2, self.dim).detach(), weight.detach()


def weight_norm(module, name: str = "weight", dim: int | None = 0):
    """Reparametrize ``module.<name>`` as ``g * v / ||v||`` (norm over every dimension but
    ``dim``): ``parametrizations.<name>.original0`` is g, ``original1`` is v."""
    parametrize.register_parametrization(module, name, _WeightNorm(dim), unsafe=True)
    return module


class _SpectralNorm(Module):
    def __init__(self, weight, n_power_iterations: int = 1, dim: int = 0, eps: float = 1e-12):
        super().__init__()
        ndim = weight.ndim
        if dim >= ndim or dim < -ndim:
            raise IndexError(
                "Dimension out of range (expected to be in range of "
                f"[-{ndim}, {ndim - 1}] but got {dim})"
            )
        if n_power_iterations <= 0:
            raise ValueError(
                "Expected n_power_iterations to be positive, but "
                f"got n_power_iterations={n_power_iterations}"
            )
        self.dim = dim if dim >= 0 else dim + ndim
        self.eps = eps
        if ndim > 1:
            self.n_power_iterations = n_power_iterations
            w = _matrix(weight.data, self.dim)
            rng = default_generator()
            u = _normalize(rng.standard_normal(w.shape[0]).astype(w.dtype), eps)
            v = _normalize(rng.standard_normal(w.shape[1]).astype(w.dtype), eps)
            self.register_buffer("_u", u)
            self.register_buffer("_v", v)
            self._power_method(w, 15)

    def _power_method(self, w: np.ndarray, n: int) -> None:
        # PyTorch's order here: u first, then v (the hook-based version does v first)
        for _ in range(n):
            self._u.data[...] = _normalize(w @ self._v.data, self.eps)
            self._v.data[...] = _normalize(w.T @ self._u.data, self.eps)

    def forward(self, weight):
        if weight.ndim == 1:
            return weight / max(float(np.linalg.norm(weight.data)), self.eps)
        if self.training:
            self._power_method(_matrix(weight.data, self.dim), self.n_power_iterations)
        u, v = Tensor(self._u.data.copy()), Tensor(self._v.data.copy())
        sigma = (u * (_matrix(weight, self.dim) @ v)).sum()
        return weight / sigma

    def right_inverse(self, value):
        return value


def spectral_norm(module, name="weight", n_power_iterations=1, eps=1e-12, dim=None):
    """Reparametrize ``module.<name>`` as itself divided by its spectral norm, estimated by
    power iteration (15 steps at registration, ``n_power_iterations`` per training-mode
    access). ``dim`` defaults to 1 for transposed convolutions, else 0."""
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if dim is None:
        dim = 1 if type(module).__name__.startswith("ConvTranspose") else 0
    parametrize.register_parametrization(
        module, name, _SpectralNorm(weight, n_power_iterations, dim, eps)
    )
    return module
