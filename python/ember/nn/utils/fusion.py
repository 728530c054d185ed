"""Fold an eval-mode batch norm into the convolution or linear layer before it (PyTorch's
torch.nn.utils.fusion): ``bn(conv(x)) == fused(x)`` with the running statistics."""

from __future__ import annotations

import copy

import numpy as np

from ember.nn.modules.module import Parameter


def _arr(t):
    return None if t is None else np.asarray(t.data if hasattr(t, "data") else t)


def _eval_only(a, b) -> None:
    if a.training or b.training:
        raise AssertionError("Fusion only for eval!")


def fuse_conv_bn_weights(
    conv_w, conv_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b, transpose: bool = False
) -> tuple[Parameter, Parameter]:
    """The weight and bias of a convolution followed by batch norm (``transpose`` for a
    transposed convolution, whose output channels are its weight's second dimension)."""
    w, rm, rv = _arr(conv_w), _arr(bn_rm), _arr(bn_rv)
    b = np.zeros_like(rm) if conv_b is None else _arr(conv_b)
    gamma = np.ones_like(rm) if bn_w is None else _arr(bn_w)
    beta = np.zeros_like(rm) if bn_b is None else _arr(bn_b)
    rsqrt = 1.0 / np.sqrt(rv + bn_eps)
    shape = ([1, -1] if transpose else [-1, 1]) + [1] * (w.ndim - 2)
    fused_w = (w * (gamma * rsqrt).reshape(shape)).astype(w.dtype)
    fused_b = ((b - rm) * rsqrt * gamma + beta).astype(b.dtype if conv_b is not None else w.dtype)
    w_grad = getattr(conv_w, "requires_grad", True)
    b_grad = getattr(conv_b, "requires_grad", False) if conv_b is not None else False
    return Parameter(fused_w, requires_grad=w_grad), Parameter(fused_b, requires_grad=b_grad)


def fuse_conv_bn_eval(conv, bn, transpose: bool = False):
    """A copy of ``conv`` computing ``bn(conv(x))``; both must be in eval mode."""
    _eval_only(conv, bn)
    fused = copy.deepcopy(conv)
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fuse_conv_bn_eval: the batch norm has no running statistics")
    fused.weight, fused.bias = fuse_conv_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias,
        transpose,
    )  # fmt: skip
    return fused


def fuse_linear_bn_weights(
    linear_w, linear_b, bn_rm, bn_rv, bn_eps, bn_w, bn_b
) -> tuple[Parameter, Parameter]:
    """The weight and bias of a linear layer followed by batch norm."""
    w, rm, rv = _arr(linear_w), _arr(bn_rm), _arr(bn_rv)
    b = np.zeros_like(rm) if linear_b is None else _arr(linear_b)
    scale = _arr(bn_w) / np.sqrt(rv + bn_eps)
    fused_w = w * scale[:, None]
    fused_b = (b - rm) * scale + _arr(bn_b)
    w_grad = getattr(linear_w, "requires_grad", True)
    b_grad = getattr(linear_b, "requires_grad", False) if linear_b is not None else False
    return Parameter(fused_w, requires_grad=w_grad), Parameter(fused_b, requires_grad=b_grad)


def fuse_linear_bn_eval(linear, bn):
    """A copy of ``linear`` computing ``bn(linear(x))``; both must be in eval mode."""
    _eval_only(linear, bn)
    if not (linear.out_features == bn.num_features or bn.num_features == 1):
        raise AssertionError(
            "To fuse, linear.out_features == bn.num_features or bn.num_features == 1"
        )
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("fuse_linear_bn_eval: the batch norm has no running statistics")
    fused = copy.deepcopy(linear)
    fused.weight, fused.bias = fuse_linear_bn_weights(
        fused.weight, fused.bias, bn.running_mean, bn.running_var, bn.eps, bn.weight, bn.bias
    )
    return fused
