"""Input normalisations as fit / transform objects (scikit-learn's names): StandardScaler,
MinMaxScaler, and PCA / ZCA whitening. Each works on (N, D) NumPy arrays (or Tensors) and
returns NumPy arrays; statistics are computed in float64 and results keep the input dtype."""

from __future__ import annotations

import numpy as np

from ember.tensor import Tensor

__all__ = ["PCA", "MinMaxScaler", "StandardScaler", "ZCA"]


def _matrix(x, op: str) -> np.ndarray:
    a = x.data if isinstance(x, Tensor) else np.asarray(x)
    if a.dtype.kind not in "biuf":
        raise TypeError(f"{op}: expected numeric data, got {a.dtype}")
    if a.ndim != 2:
        raise ValueError(f"{op}: expected a 2-D array (n_samples, n_features), got {a.shape}")
    return a


def _out_dtype(a: np.ndarray):
    return a.dtype if a.dtype.kind == "f" else np.float64


class _Transformer:
    _fitted_attr = "mean_"

    def _check_fitted(self, a: np.ndarray) -> None:
        name = type(self).__name__
        if getattr(self, self._fitted_attr, None) is None:
            raise RuntimeError(f"{name} is not fitted yet: call fit() first")
        if a.shape[1] != self.n_features_in_:
            raise ValueError(
                f"{name}: X has {a.shape[1]} features, but it was fitted with {self.n_features_in_}"
            )

    def fit_transform(self, x):
        return self.fit(x).transform(x)


class StandardScaler(_Transformer):
    """(x - mean) / std per feature (population std; features with zero variance are only
    centred, as scikit-learn does)."""

    def __init__(self, with_mean: bool = True, with_std: bool = True):
        self.with_mean, self.with_std = with_mean, with_std
        self.mean_ = self.scale_ = None

    def fit(self, x):
        a = _matrix(x, "StandardScaler.fit").astype(np.float64)
        if len(a) == 0:
            raise ValueError("StandardScaler.fit: no samples")
        self.n_features_in_ = a.shape[1]
        self.mean_ = a.mean(axis=0)
        self.var_ = a.var(axis=0)
        std = np.sqrt(self.var_)
        self.scale_ = np.where(std == 0, 1.0, std)
        return self

    def transform(self, x):
        a = _matrix(x, "StandardScaler.transform")
        self._check_fitted(a)
        out = a.astype(np.float64)
        if self.with_mean:
            out = out - self.mean_
        if self.with_std:
            out = out / self.scale_
        return out.astype(_out_dtype(a))

    def inverse_transform(self, x):
        a = _matrix(x, "StandardScaler.inverse_transform")
        self._check_fitted(a)
        out = a.astype(np.float64)
        if self.with_std:
            out = out * self.scale_
        if self.with_mean:
            out = out + self.mean_
        return out.astype(_out_dtype(a))


class MinMaxScaler(_Transformer):
    """Scales each feature linearly to ``feature_range`` (constant features go to its low
    end)."""

    _fitted_attr = "min_"

    def __init__(self, feature_range: tuple[float, float] = (0.0, 1.0)):
        lo, hi = feature_range
        if not lo < hi:
            raise ValueError(
                f"MinMaxScaler: feature_range minimum must be smaller than maximum, got "
                f"{feature_range}"
            )
        self.feature_range = (float(lo), float(hi))
        self.min_ = self.scale_ = None

    def fit(self, x):
        a = _matrix(x, "MinMaxScaler.fit").astype(np.float64)
        if len(a) == 0:
            raise ValueError("MinMaxScaler.fit: no samples")
        self.n_features_in_ = a.shape[1]
        lo, hi = self.feature_range
        self.data_min_, self.data_max_ = a.min(axis=0), a.max(axis=0)
        rng = self.data_max_ - self.data_min_
        self.scale_ = (hi - lo) / np.where(rng == 0, 1.0, rng)
        self.min_ = lo - self.data_min_ * self.scale_
        return self

    def transform(self, x):
        a = _matrix(x, "MinMaxScaler.transform")
        self._check_fitted(a)
        return (a.astype(np.float64) * self.scale_ + self.min_).astype(_out_dtype(a))

    def inverse_transform(self, x):
        a = _matrix(x, "MinMaxScaler.inverse_transform")
        self._check_fitted(a)
        return ((a.astype(np.float64) - self.min_) / self.scale_).astype(_out_dtype(a))


class PCA(_Transformer):
    """Principal components of the centred data (covariance with 1/N), largest first.

    Args:
        n_components: components kept (default: all D).
        whiten: divide each component by sqrt(eigenvalue + eps), so the transformed data
            has identity covariance (PCA whitening).
        eps: added to the eigenvalues before whitening (keeps near-zero directions finite).

    Attributes: ``mean_``, ``components_`` (k, D), ``explained_variance_`` (k,),
    ``explained_variance_ratio_``.
    """

    def __init__(self, n_components: int | None = None, whiten: bool = False, eps: float = 1e-8):
        if n_components is not None and (
            isinstance(n_components, bool) or not isinstance(n_components, int) or n_components < 1
        ):
            raise ValueError(f"PCA: n_components must be a positive int, got {n_components!r}")
        if eps < 0:
            raise ValueError(f"PCA: eps must be >= 0, got {eps}")
        self.n_components, self.whiten, self.eps = n_components, whiten, eps
        self.mean_ = None

    def fit(self, x):
        a = _matrix(x, f"{type(self).__name__}.fit").astype(np.float64)
        n, d = a.shape
        if n < 2:
            raise ValueError(f"{type(self).__name__}.fit: needs at least 2 samples, got {n}")
        k = d if self.n_components is None else self.n_components
        if k > d:
            raise ValueError(f"PCA: n_components={k} exceeds the {d} features")
        self.n_features_in_ = d
        self.mean_ = a.mean(axis=0)
        c = a - self.mean_
        cov = c.T @ c / n
        vals, vecs = np.linalg.eigh(cov)
        order = np.argsort(vals)[::-1]
        vals, vecs = np.maximum(vals[order], 0), vecs[:, order]
        # a deterministic sign: the largest |entry| of each component is positive
        signs = np.sign(vecs[np.abs(vecs).argmax(axis=0), np.arange(d)])
        vecs = vecs * np.where(signs == 0, 1, signs)
        self.components_ = vecs[:, :k].T
        self.explained_variance_ = vals[:k]
        total = vals.sum()
        self.explained_variance_ratio_ = vals[:k] / total if total > 0 else np.zeros(k)
        return self

    def transform(self, x):
        a = _matrix(x, f"{type(self).__name__}.transform")
        self._check_fitted(a)
        z = (a.astype(np.float64) - self.mean_) @ self.components_.T
        if self.whiten:
            z = z / np.sqrt(self.explained_variance_ + self.eps)
        return z.astype(_out_dtype(a))

    def inverse_transform(self, z):
        a = _matrix(z, f"{type(self).__name__}.inverse_transform")
        if self.mean_ is None:
            raise RuntimeError(f"{type(self).__name__} is not fitted yet: call fit() first")
        k = len(self.components_)
        if a.shape[1] != k:
            raise ValueError(f"PCA.inverse_transform: expected {k} components, got {a.shape[1]}")
        z = a.astype(np.float64)
        if self.whiten:
            z = z * np.sqrt(self.explained_variance_ + self.eps)
        return (z @ self.components_ + self.mean_).astype(_out_dtype(a))


class ZCA(PCA):
    """ZCA (Mahalanobis) whitening: rotate into the principal axes, whiten, rotate back, so
    the whitened data has identity covariance and stays closest to the original
    (``W = U diag(1 / sqrt(lambda + eps)) U^T``). Directions with zero variance stay zero.

    ``inverse_transform`` applies ``U diag(sqrt(lambda + eps)) U^T`` (``dewhitening_``, the
    inverse of W on the data's span) and adds the mean back: it recovers any x in the span of
    the fitted data (every training sample) exactly, up to rounding; components along
    zero-variance directions are lost by ``transform`` and come back as the mean's.
    """

    def __init__(self, eps: float = 1e-8):
        super().__init__(None, whiten=True, eps=eps)

    def fit(self, x):
        super().fit(x)
        vals = self.explained_variance_  # rounding-level eigenvalues count as zero (rank rule)
        keep = vals > vals[0] * len(vals) * np.finfo(np.float64).eps
        u = self.components_[keep].T
        scale = np.sqrt(self.explained_variance_[keep] + self.eps)
        self.whitening_ = (u / scale) @ u.T
        self.dewhitening_ = (u * scale) @ u.T
        return self

    def transform(self, x):
        a = _matrix(x, "ZCA.transform")
        self._check_fitted(a)
        return ((a.astype(np.float64) - self.mean_) @ self.whitening_).astype(_out_dtype(a))

    def inverse_transform(self, z):
        a = _matrix(z, "ZCA.inverse_transform")
        self._check_fitted(a)
        return (a.astype(np.float64) @ self.dewhitening_ + self.mean_).astype(_out_dtype(a))
