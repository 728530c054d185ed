"""Define-by-run automatic differentiation: Function, the backward engine (with create_graph
for higher-order gradients), gradcheck and gradgradcheck; the graph as objects and saved-tensor
hooks (graph), forward-mode AD (forward_ad)."""

from ember.autograd import forward_ad, functional, graph, profiler
from ember.autograd.engine import backward, grad
from ember.autograd.function import (
    Function,
    Variable,
    detect_anomaly,
    enable_grad,
    inference_mode,
    is_anomaly_check_nan_enabled,
    is_anomaly_enabled,
    is_grad_enabled,
    is_inference_mode_enabled,
    is_multithreading_enabled,
    no_grad,
    set_detect_anomaly,
    set_grad_enabled,
    set_multithreading_enabled,
)
from ember.autograd.gradcheck import GradcheckError, gradcheck, gradgradcheck

__all__ = [
    "Function",
    "GradcheckError",
    "Variable",
    "detect_anomaly",
    "set_detect_anomaly",
    "backward",
    "enable_grad",
    "forward_ad",
    "functional",
    "graph",
    "profiler",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "inference_mode",
    "is_anomaly_enabled",
    "is_anomaly_check_nan_enabled",
    "is_grad_enabled",
    "is_inference_mode_enabled",
    "is_multithreading_enabled",
    "set_multithreading_enabled",
    "no_grad",
    "set_grad_enabled",
]
