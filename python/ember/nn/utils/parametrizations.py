"""weight_norm, spectral_norm and orthogonal as parametrizations (PyTorch's
torch.nn.utils.parametrizations): the originals live under
``module.parametrizations.<name>``."""

from __future__ import annotations

import numpy as np

from ember import linalg as _linalg
from ember.creation import zeros
from ember.nn.modules.module import Module
from ember.nn.utils import parametrize
from ember.nn.utils.spectral_norm import _matrix, _normalize
from ember.nn.utils.weight_norm import _weight_norm, norm_except_dim
from ember.ops import cat
from ember.random import rng as _global_rng
from ember.tensor import Tensor

__all__ = ["orthogonal", "spectral_norm", "weight_norm"]


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
            rng = _global_rng()
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


# ---- orthogonal ------------------------------------------------------------------------------
def _make_orthogonal(a: np.ndarray) -> np.ndarray:
    """The Q of a's QR decomposition (each matrix of a batch) with the signs that make R's
    diagonal positive."""
    q, r = np.linalg.qr(a)
    return q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]


class _Orthogonal(Module):
    """PyTorch's _Orthogonal on a matrix or a batch of matrices (the last two dimensions)."""

    def __init__(self, weight, orthogonal_map: str, use_trivialization: bool = True):
        super().__init__()
        self.shape = weight.shape
        self.orthogonal_map = orthogonal_map
        self.use_trivialization = use_trivialization

    def forward(self, x):
        n, k = x.shape[-2:]
        transposed = n < k
        if transposed:
            x = x.mT
            n, k = k, n
        if self.orthogonal_map in ("matrix_exp", "cayley"):
            x = x.tril()
            if n != k:
                x = cat([x, zeros(*x.shape[:-2], n, n - k, dtype=x.dtype)], dim=-1)
            a = x - x.mT  # skew-symmetric
            if self.orthogonal_map == "matrix_exp":
                q = _linalg.matrix_exp(a)
            else:  # Cayley: (I - A/2)^-1 (I + A/2)
                eye = Tensor(np.eye(n, dtype=x.dtype))
                q = _linalg.solve(eye - a * 0.5, eye + a * 0.5)
            if n != k:
                q = q[..., :k]
        else:  # householder: Q = H_1 ... H_k, H_i = I - tau_i v_i v_i^T, v_i unit-diagonal
            a = x.tril(-1)
            tau = (2.0 / (1.0 + (a * a).sum(dim=-2))).unsqueeze(-2)  # (..., 1, k)
            v = a + Tensor(np.eye(n, k, dtype=x.dtype))
            q = Tensor(np.broadcast_to(np.eye(n, dtype=x.dtype), (*x.shape[:-2], n, n)).copy())
            for i in range(k):
                vi = v[..., i : i + 1]
                q = q - (q @ vi) @ vi.mT * tau[..., i : i + 1]
            # PyTorch scales by the diagonal truncated to int (+-1 for its -Id start)
            d = np.trunc(np.diagonal(x.data, axis1=-2, axis2=-1)).astype(x.dtype)
            q = q[..., :k] * Tensor(d[..., None, :])
        if self.use_trivialization:  # (without it, the original is the only state)
            q = self.base @ q
        return q.mT if transposed else q

    def right_inverse(self, q):
        if q.shape != self.shape:
            raise ValueError(
                f"Expected a matrix or batch of matrices of shape {self.shape}. "
                f"Got a tensor of shape {q.shape}."
            )
        arr = q.data
        n, k = arr.shape[-2:]
        transposed = n < k
        if transposed:
            arr = arr.swapaxes(-1, -2)
            n, k = k, n
        if not self.use_trivialization:
            return self._householder_inverse(arr, transposed)
        if n == k:
            eps = 10.0 * n * np.finfo(arr.dtype).eps
            if not np.allclose(arr.swapaxes(-1, -2) @ arr, np.eye(k), rtol=1e-5, atol=eps):
                arr = _make_orthogonal(arr)
            else:
                arr = arr.copy()
        else:  # complete to a square orthogonal matrix with random columns
            extra = _global_rng().standard_normal((*arr.shape[:-2], n, n - k))
            arr = _make_orthogonal(np.concatenate([arr, extra.astype(arr.dtype)], axis=-1))
        self.register_buffer("base", arr)
        neg_id = np.zeros(q.shape, dtype=q.data.dtype)
        d = np.arange(k)
        neg_id[..., d, d] = -1.0
        return Tensor(neg_id)

    def _householder_inverse(self, arr, transposed):
        """PyTorch's inverse without trivialization: only the Householder map has one (the
        registration then keeps the raw weight for the other two, as torch)."""
        if self.orthogonal_map != "householder":
            raise NotImplementedError(
                "It is not possible to assign to the matrix exponential or the Cayley "
                "parametrizations when use_trivialization=False."
            )
        h, tau = np.linalg.qr(arr, mode="raw")  # LAPACK geqrf, as torch.geqrf (h transposed)
        a = h.swapaxes(-1, -2).copy()
        d = np.arange(a.shape[-1])
        diag = np.sign(a[..., d, d])  # the diagonal holds R's signs, flipped where tau == 0
        diag[tau == 0.0] *= -1
        a[..., d, d] = diag
        return Tensor(np.ascontiguousarray(a.swapaxes(-1, -2)) if transposed else a)


def orthogonal(module, name="weight", orthogonal_map=None, *, use_trivialization=True):
    """Reparametrize the matrix ``module.<name>`` as an orthogonal one (orthonormal columns,
    or rows when it is wide), starting from the orthogonalised current weight.

    ``orthogonal_map``: ``"matrix_exp"`` (the default for square matrices), ``"cayley"`` or
    ``"householder"`` (the default otherwise). ``use_trivialization=False`` parametrizes by
    the original alone (PyTorch's rules). A weight of more than two dimensions is a batch of
    matrices (its last two), as PyTorch.
    """
    weight = getattr(module, name, None)
    if not isinstance(weight, Tensor):
        raise ValueError(f"Module '{module}' has no parameter or buffer with name '{name}'")
    if weight.ndim < 2:
        raise ValueError(
            f"Expected a matrix or batch of matrices. Got a tensor of {weight.ndim} dimensions."
        )
    if orthogonal_map is None:
        orthogonal_map = "matrix_exp" if weight.shape[-2] == weight.shape[-1] else "householder"
    if orthogonal_map not in ("matrix_exp", "cayley", "householder"):
        raise ValueError(
            'orthogonal_map has to be one of "matrix_exp", "cayley", "householder". '
            f"Got: {orthogonal_map}"
        )
    orth = _Orthogonal(weight, orthogonal_map, use_trivialization)
    parametrize.register_parametrization(module, name, orth, unsafe=True)
    return module
