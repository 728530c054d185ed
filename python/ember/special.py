"""torch.special's names for ember's special functions (the same ops as ``ember.erf`` & co.)."""

from __future__ import annotations

import math

import numpy as np

from ember.nn.functional import log_softmax, softmax
from ember.ops import (
    Elementwise,
    _binary,
    _float_operand,
    digamma,
    erf,
    erfc,
    erfinv,
    exp2,
    expm1,
    gammainc,
    gammaincc,
    i0,
    lgamma,
    log1p,
    logit,
    logsumexp,
    mul,
    mvlgamma,
    polygamma,
    round,  # noqa: A004
    sinc,
    xlogy,
)
from ember.tensor import Tensor

__all__ = [
    "digamma", "entr", "erf", "erfc", "erfinv", "exp2", "expit", "expm1", "gammainc",
    "gammaincc", "gammaln", "i0", "log1p", "log_softmax", "logit", "logsumexp", "multigammaln",
    "ndtr", "ndtri", "polygamma", "psi", "round", "sinc", "softmax", "xlog1py", "xlogy",
]  # fmt: skip

gammaln = lgamma
psi = digamma
multigammaln = mvlgamma


def expit(input) -> Tensor:  # noqa: A002
    """The logistic sigmoid 1 / (1 + e^-x)."""
    return _float_operand(input, "expit").sigmoid()


def entr(input) -> Tensor:  # noqa: A002
    """-x ln x elementwise: 0 at 0, -inf below 0 (as torch.special.entr)."""

    def f(a):
        with np.errstate(all="ignore"):
            return np.where(a > 0, -a * np.log(a), np.where(a == 0, 0, -np.inf)).astype(a.dtype)

    return Elementwise.apply(_float_operand(input, "entr"), f, lambda a, y: -(1 + np.log(a)))


def ndtr(input) -> Tensor:  # noqa: A002
    """The standard normal CDF, 0.5 erfc(-x / sqrt 2) (accurate in the left tail)."""
    return mul(erfc(-_float_operand(input, "ndtr") / math.sqrt(2)), 0.5)


def ndtri(input) -> Tensor:  # noqa: A002
    """The inverse of ndtr: sqrt 2 erfinv(2p - 1)."""
    return mul(erfinv(_float_operand(input, "ndtri") * 2 - 1), math.sqrt(2))


xlog1py = _binary(
    "xlog1py",
    lambda a, b: np.where((a == 0) & ~np.isnan(b), 0, a * np.log1p(b)),
    lambda a, b, y, g: (g * np.where(a == 0, 0, np.log1p(b)), g * a / (1 + b)),
)
xlog1py.__doc__ = "x log1p(y), 0 where x is 0 (unless y is NaN), as torch.special.xlog1py."
