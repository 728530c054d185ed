"""Families over vectors and matrices torch has beyond MultivariateNormal:
LowRankMultivariateNormal, Wishart and LKJCholesky."""

from __future__ import annotations

import math
import warnings

import numpy as np

import ember
from ember.distributions import constraints
from ember.distributions.continuous import Beta, Chi2, _mahalanobis
from ember.distributions.distribution import (
    Distribution,
    ExponentialFamily,
    _as_tensor,
    _broadcast_all,
    _draw,
    _shape,
)

__all__ = ["LKJCholesky", "LowRankMultivariateNormal", "Wishart"]


def _eye_like(n: int, like) -> ember.Tensor:
    return ember.eye(n, dtype=like.dtype)


def _capacitance_tril(W, D):
    """Cholesky factor of I + W^T D^-1 W (the m x m 'capacitance' of the Woodbury identity)."""
    K = (W.mT / D.unsqueeze(-2)) @ W
    return ember.linalg.cholesky(K + _eye_like(W.shape[-1], W))


def _lowrank_mahalanobis(W, D, x, capacitance_tril):
    """x^T (W W^T + diag D)^-1 x over the last dim, by Woodbury."""
    wt_dinv_x = ((W.mT / D.unsqueeze(-2)) @ x.unsqueeze(-1)).squeeze(-1)
    return (x.pow(2) / D).sum(-1) - _mahalanobis(capacitance_tril, wt_dinv_x)


class LowRankMultivariateNormal(Distribution):
    """N(loc, W W^T + diag(D)) with W = ``cov_factor`` (n x m) and D = ``cov_diag``: log_prob
    and entropy cost O(n m^2) through the Woodbury identity, never forming the n x n matrix."""

    arg_constraints = {
        "loc": constraints.real_vector,
        "cov_factor": constraints.independent(constraints.real, 2),
        "cov_diag": constraints.independent(constraints.positive, 1),
    }
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, loc, cov_factor, cov_diag, validate_args=None):
        loc, cov_factor, cov_diag = (_as_tensor(v) for v in (loc, cov_factor, cov_diag))
        if loc.dim() < 1:
            raise ValueError("loc must be at least one-dimensional.")
        n = loc.shape[-1]
        if cov_factor.dim() < 2:
            raise ValueError(
                "cov_factor must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        if cov_factor.shape[-2] != n:
            raise ValueError(f"cov_factor must be a batch of matrices with shape {n} x m")
        if tuple(cov_diag.shape[-1:]) != (n,):
            raise ValueError(f"cov_diag must be a batch of vectors with shape {(n,)}")
        try:
            loc_, self.cov_factor, diag_ = ember.broadcast_tensors(
                loc.unsqueeze(-1), cov_factor, cov_diag.unsqueeze(-1)
            )
        except (ValueError, RuntimeError) as e:
            raise ValueError(
                f"Incompatible batch shapes: loc {tuple(loc.shape)}, cov_factor "
                f"{tuple(cov_factor.shape)}, cov_diag {tuple(cov_diag.shape)}"
            ) from e
        self.loc, self.cov_diag = loc_[..., 0], diag_[..., 0]
        self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag = cov_factor, cov_diag
        super().__init__(self.loc.shape[:-1], (n,), validate_args=validate_args)
        self._capacitance_tril = _capacitance_tril(cov_factor, cov_diag)

    def _expand_params(self):
        return {"loc": 1, "cov_factor": 2, "cov_diag": 1}

    mean = property(lambda self: self.loc)
    mode = property(lambda self: self.loc)

    def _full(self, m):
        return m.expand(self._batch_shape + self._event_shape + self._event_shape)

    @property
    def variance(self):
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return (W.pow(2).sum(-1) + D).expand(self._batch_shape + self._event_shape)

    @property
    def scale_tril(self):
        n = self._event_shape[0]
        d_sqrt = self._unbroadcasted_cov_diag.sqrt().unsqueeze(-1)
        w = self._unbroadcasted_cov_factor / d_sqrt
        K = w @ w.mT + _eye_like(n, w)
        return self._full(d_sqrt * ember.linalg.cholesky(K))

    @property
    def covariance_matrix(self):
        W = self._unbroadcasted_cov_factor
        return self._full(W @ W.mT + ember.diag_embed(self._unbroadcasted_cov_diag))

    @property
    def precision_matrix(self):
        D = self._unbroadcasted_cov_diag
        wt_dinv = self._unbroadcasted_cov_factor.mT / D.unsqueeze(-2)
        A = ember.linalg.solve_triangular(self._capacitance_tril, wt_dinv, upper=False)
        return self._full(ember.diag_embed(D.reciprocal()) - A.mT @ A)

    def rsample(self, sample_shape=()):
        shape = self._extended_shape(sample_shape)
        m = self.cov_factor.shape[-1]
        eps_w = _draw("standard_normal", shape[:-1] + (m,), self.loc.dtype)
        eps_d = _draw("standard_normal", shape, self.loc.dtype)
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        return self.loc + (W @ eps_w.unsqueeze(-1)).squeeze(-1) + D.sqrt() * eps_d

    def _log_det(self):
        tril = self._capacitance_tril
        return 2 * tril.diagonal(dim1=-2, dim2=-1).log().sum(-1) + (
            self._unbroadcasted_cov_diag.log().sum(-1)
        )

    def log_prob(self, value):
        value = self._checked(value)
        W, D = self._unbroadcasted_cov_factor, self._unbroadcasted_cov_diag
        m = _lowrank_mahalanobis(W, D, value - self.loc, self._capacitance_tril)
        n = self._event_shape[0]
        return -0.5 * (n * math.log(2 * math.pi) + self._log_det() + m)

    def entropy(self):
        n = self._event_shape[0]
        h = 0.5 * (n * (1.0 + math.log(2 * math.pi)) + self._log_det())
        return h.expand(self._batch_shape) if self._batch_shape else h

    def __repr__(self):
        return (
            f"LowRankMultivariateNormal(loc: {self.loc.size()!r}, cov_factor: "
            f"{self.cov_factor.size()!r}, cov_diag: {self.cov_diag.size()!r})"
        )


def _mvdigamma(x, p: int):
    if not bool((x > (p - 1) / 2).all()):
        raise ValueError("Wrong domain for multivariate digamma function.")
    half = ember.arange(p, dtype=x.dtype) / 2
    return ember.digamma(x.unsqueeze(-1) - half).sum(-1)


class Wishart(ExponentialFamily):
    """Distribution of X^T X for X with ``df`` rows of N(0, Σ) (Σ given as covariance_matrix,
    precision_matrix or scale_tril, one of them); sampled by Bartlett's decomposition."""

    support = constraints.positive_definite
    has_rsample = True
    _mean_carrier_measure = 0

    @property
    def arg_constraints(self):
        return {
            "covariance_matrix": constraints.positive_definite,
            "precision_matrix": constraints.positive_definite,
            "scale_tril": constraints.lower_cholesky,
            "df": constraints.greater_than(self._event_shape[-1] - 1),
        }

    def __init__(
        self, df, covariance_matrix=None, precision_matrix=None, scale_tril=None, validate_args=None
    ):
        given = [
            (k, v)
            for k, v in (
                ("covariance_matrix", covariance_matrix),
                ("precision_matrix", precision_matrix),
                ("scale_tril", scale_tril),
            )
            if v is not None
        ]
        if len(given) != 1:
            raise ValueError(
                "Exactly one of covariance_matrix or precision_matrix or scale_tril may be "
                "specified."
            )
        name, param = given[0][0], _as_tensor(given[0][1])
        if param.dim() < 2:
            raise ValueError(
                "scale_tril must be at least two-dimensional, with optional leading batch "
                "dimensions"
            )
        p = param.shape[-1]
        if param.shape[-2] != p:
            raise ValueError(f"Wishart: {name} must be square, got shape {tuple(param.shape)}")
        if not isinstance(df, ember.Tensor):
            df = ember.full((), float(df), dtype=param.dtype)
        batch = ember.broadcast_shapes(tuple(param.shape[:-2]), tuple(df.shape))
        self.df = df.expand(batch)
        if bool((self.df <= p - 1).any()):
            raise ValueError(f"Value of df={df} expected to be greater than ndim - 1 = {p - 1}.")
        self.__dict__[name] = param.expand(batch + (p, p))
        self._given = name
        if bool((self.df < p).any()):
            warnings.warn(
                "Low df values detected. Singular samples are highly likely to occur for "
                "ndim - 1 < df < ndim.",
                UserWarning,
                stacklevel=2,
            )
        self._event_shape = (p, p)  # arg_constraints reads it before the base init
        super().__init__(batch, (p, p), validate_args=validate_args)
        self._batch_dims = tuple(-(i + 1) for i in range(len(batch)))
        if name == "scale_tril":
            self._unbroadcasted_scale_tril = param
        elif name == "covariance_matrix":
            self._unbroadcasted_scale_tril = ember.linalg.cholesky(param)
        else:  # L L^T = P^-1 via the flipped Cholesky factor of P, as torch
            lf = ember.linalg.cholesky(param.flip(-2, -1))
            eye = _eye_like(p, param).expand(param.shape)
            self._unbroadcasted_scale_tril = ember.linalg.solve_triangular(
                lf.flip(-2, -1).mT, eye, upper=False
            )
        chi2_df = self.df.unsqueeze(-1) - ember.arange(p, dtype=param.dtype).expand(batch + (p,))
        self._dist_chi2 = Chi2(chi2_df, validate_args=False)

    def expand(self, batch_shape, _instance=None):
        batch = _shape(batch_shape)
        p = self._event_shape[-1]
        new = Wishart(
            self.df.expand(batch),
            **{self._given: self.__dict__[self._given].expand(batch + (p, p))},
            validate_args=False,
        )
        return self._expanded(new)

    def _full(self, m):
        return m.expand(self._batch_shape + self._event_shape)

    @property
    def scale_tril(self):
        return self.__dict__.get("scale_tril", self._full(self._unbroadcasted_scale_tril))

    @property
    def covariance_matrix(self):
        if "covariance_matrix" in self.__dict__:
            return self.__dict__["covariance_matrix"]
        L = self._unbroadcasted_scale_tril
        return self._full(L @ L.mT)

    @property
    def precision_matrix(self):
        if "precision_matrix" in self.__dict__:
            return self.__dict__["precision_matrix"]
        return self._full(ember.cholesky_inverse(self._unbroadcasted_scale_tril))

    def _df_matrix(self):
        return self.df.reshape(self._batch_shape + (1, 1))

    @property
    def mean(self):
        return self._df_matrix() * self.covariance_matrix

    @property
    def mode(self):
        factor = self.df - self._event_shape[-1] - 1
        factor = ember.where(factor <= 0, float("nan"), factor)
        return factor.reshape(self._batch_shape + (1, 1)) * self.covariance_matrix

    @property
    def variance(self):
        V = self.covariance_matrix
        d = V.diagonal(dim1=-2, dim2=-1)
        return self._df_matrix() * (V.pow(2) + d.unsqueeze(-1) * d.unsqueeze(-2))

    def _bartlett_sampling(self, sample_shape):
        p = self._event_shape[-1]
        eps = float(np.finfo(self.df.dtype).eps)
        diag = self._dist_chi2.rsample(sample_shape).sqrt().clamp(min=eps)
        shape = _shape(sample_shape) + self._batch_shape
        lower = _draw("standard_normal", shape + (p, p), self.df.dtype).tril(-1)
        chol = self._unbroadcasted_scale_tril @ (lower + ember.diag_embed(diag))
        return chol @ chol.mT

    def rsample(self, sample_shape=(), max_try_correction=None):
        """Bartlett draws; a singular draw (possible for df < ndim) is redrawn up to
        ``max_try_correction`` (10) times."""
        tries = 10 if max_try_correction is None else max_try_correction
        sample = self._bartlett_sampling(sample_shape)
        singular = ~self.support.check(sample.detach())
        if bool(singular.any()):
            warnings.warn("Singular sample detected.", UserWarning, stacklevel=2)
            for _ in range(tries):
                redraw = self._bartlett_sampling(sample_shape)
                sample = ember.where(singular.unsqueeze(-1).unsqueeze(-1), redraw, sample)
                singular = ~self.support.check(sample.detach())
                if not bool(singular.any()):
                    break
        return sample

    def _log_norm_terms(self):
        p = self._event_shape[-1]
        half_log_det = self._unbroadcasted_scale_tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        return p, p * math.log(2) / 2 + half_log_det

    def log_prob(self, value):
        value = self._checked(value)
        nu = self.df
        p, norm = self._log_norm_terms()
        L = self._unbroadcasted_scale_tril
        # value broadcast to L's batch first: a (p, p) value against a batch of p factors
        # would otherwise read as p vectors (ember.cholesky_solve goes through linalg.solve)
        value_b = value.expand(ember.broadcast_shapes(tuple(value.shape), tuple(L.shape)))
        trace = ember.cholesky_solve(value_b, L).diagonal(dim1=-2, dim2=-1).sum(-1)
        return (
            -nu * norm
            - ember.mvlgamma(nu / 2, p)
            + (nu - p - 1) / 2 * ember.linalg.slogdet(value).logabsdet
            - trace / 2
        )

    def entropy(self):
        nu = self.df
        p, norm = self._log_norm_terms()
        return (
            (p + 1) * norm
            + ember.mvlgamma(nu / 2, p)
            - (nu - p - 1) / 2 * _mvdigamma(nu / 2, p)
            + nu * p / 2
        )

    @property
    def _natural_params(self):
        p = self._event_shape[-1]
        return -self.precision_matrix / 2, (self.df - p - 1) / 2

    def _log_normalizer(self, x, y):
        p = self._event_shape[-1]
        return (y + (p + 1) / 2) * (
            -ember.linalg.slogdet(-2 * x).logabsdet + math.log(2) * p
        ) + ember.mvlgamma(y + (p + 1) / 2, p)


class LKJCholesky(Distribution):
    """Cholesky factors L of ``dim`` x ``dim`` correlation matrices with density proportional
    to det(L L^T)^(concentration - 1) (LKJ 2009), sampled by the onion method."""

    arg_constraints = {"concentration": constraints.positive}
    support = constraints.corr_cholesky

    def __init__(self, dim: int, concentration=1.0, validate_args=None):
        if not isinstance(dim, int) or dim < 2:
            raise ValueError(
                f"Expected dim to be an integer greater than or equal to 2. Found dim={dim}."
            )
        self.dim = dim
        (self.concentration,) = _broadcast_all(concentration)
        marginal = self.concentration + 0.5 * (dim - 2)
        offset = ember.cat(
            [ember.zeros(1, dtype=marginal.dtype), ember.arange(dim - 1, dtype=marginal.dtype)]
        )
        self._beta = Beta(offset + 0.5, marginal.unsqueeze(-1) - 0.5 * offset, validate_args=False)
        super().__init__(self.concentration.shape, (dim, dim), validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        new = LKJCholesky(
            self.dim, self.concentration.expand(_shape(batch_shape)), validate_args=False
        )
        return self._expanded(new)

    def sample(self, sample_shape=()):
        with ember.no_grad():
            y = self._beta.sample(sample_shape).unsqueeze(-1)
            shape = self._extended_shape(sample_shape)
            u = _draw("standard_normal", shape, y.dtype).tril(-1)
            u = u / u.norm(dim=-1, keepdim=True)
            u[..., 0, :] = 0.0  # the first row is e_1 (its 0/0 norm gave NaN)
            w = y.sqrt() * u
            tiny = float(np.finfo(w.dtype).tiny)
            diag = (1 - w.pow(2).sum(-1)).clamp(min=tiny).sqrt()
            return w + ember.diag_embed(diag)

    def log_prob(self, value):
        value = self._checked(value)
        diag = value.diagonal(dim1=-1, dim2=-2)[..., 1:]
        order = ember.arange(2, self.dim + 1, dtype=self.concentration.dtype)
        order = 2 * (self.concentration - 1).unsqueeze(-1) + self.dim - order
        unnormalized = (order * diag.log()).sum(-1)
        dm1 = self.dim - 1
        alpha = self.concentration + 0.5 * dm1
        normalize = (
            0.5 * dm1 * math.log(math.pi)
            + ember.mvlgamma(alpha - 0.5, dm1)
            - ember.lgamma(alpha) * dm1
        )
        return unnormalized - normalize

    def __repr__(self):
        c = self.concentration
        return f"LKJCholesky(concentration: {c if c.numel() == 1 else repr(c.size())})"
