"""Define-by-run automatic differentiation: Function, the backward engine (with create_graph
for higher-order gradients), gradcheck and gradgradcheck."""

from ember.autograd import functional
from ember.autograd.engine import backward, grad
from ember.autograd.function import (
    Function,
    Variable,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_grad_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
)
from ember.autograd.gradcheck import gradcheck, gradgradcheck

__all__ = [
    "Function",
    "Variable",
    "detect_anomaly",
    "set_detect_anomaly",
    "backward",
    "enable_grad",
    "functional",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "inference_mode",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]
