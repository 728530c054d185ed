"""CPU autocast: inside ``ember.autocast('cpu', dtype=...)`` the ops on torch's CPU autocast lists
cast their float inputs, as PyTorch's CPU autocast does.

- lower precision (torch's CPU ``lower_precision_fp`` list): matrix products, convolutions,
  prelu, attention, LSTM layers; float32 (and 16-bit) inputs are cast to the autocast dtype
  (bfloat16 by default, or float16) and the result comes back in it. float64 is left alone.
- float32 (torch's CPU ``fp32`` list): losses, 3-D pooling, reflection/replication padding,
  grid_sample, cdist, prod, trace, quantile and linear algebra compute in float32.

The casts are ember's differentiable casts, so gradients reach float32 parameters in float32.
No op pays for this outside autocast: entering the first CPU autocast block swaps the listed
functions in their modules (and Tensor's methods) for casting wrappers, leaving the last one
restores them. An op reached from inside another listed op is not cast again (torch's
composites reach the same result at the aten level); ``mv``, ``dot`` and ``vdot`` are listed as
keeping their dtype, as torch leaves them, although they are matmul inside. Functions are swapped
process-wide, so other threads see the autocast of one that is inside a block.
"""

from __future__ import annotations

import functools
import threading
import warnings

import numpy as np

from ember import _lowp

_CONV = ("conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
_MM = ("matmul", "mm", "bmm", "addmm", "baddbmm", "addbmm", "einsum", "__matmul__", "__rmatmul__")
_LOSSES = (
    "mse_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "nll_loss", "cross_entropy",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div", "hinge_embedding_loss",
    "multi_margin_loss", "multilabel_margin_loss", "cosine_embedding_loss", "margin_ranking_loss",
    "soft_margin_loss", "triplet_margin_loss", "poisson_nll_loss", "ctc_loss",
)  # fmt: skip
_FP32_NN = _LOSSES + (
    "grid_sample", "avg_pool3d", "max_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d",
    "fractional_max_pool2d", "fractional_max_pool3d", "max_unpool2d", "max_unpool3d",
)  # fmt: skip
_FP32_OPS = ("cdist", "prod", "trace", "quantile", "nanquantile", "cholesky", "cholesky_inverse",
             "cholesky_solve", "inverse", "pinverse", "lu_solve", "qr", "svd")  # fmt: skip
_KEEP = ("mv", "dot", "vdot")

_state = threading.local()  # .inside: a listed op is running (ops it calls are not cast again)
_installed: list = []  # (owner, name, original) while any CPU autocast block is open
_depth = [0]


def _policies():
    """(owner, {name: policy}) for every namespace ember exposes the listed ops in."""
    import ember
    from ember import linalg, ops
    from ember.nn import functional
    from ember.tensor import Tensor

    lower_ops = dict.fromkeys(_MM, "lower") | dict.fromkeys(_FP32_OPS, "fp32")
    lower_ops |= dict.fromkeys(_KEEP, "keep")
    lower_nn = _CONV + ("linear", "prelu", "scaled_dot_product_attention", "lstm_layer")
    nn = dict.fromkeys(lower_nn, "lower")  # (lstm_layer: torch's mkldnn_rnn_layer)
    nn |= dict.fromkeys(_FP32_NN, "fp32") | {"pad": "pad"}
    la = {n: "fp32" for n in linalg.__all__ if callable(getattr(linalg, n, None))}
    la |= {"matmul": "lower", "vecdot": "lower"}
    top = lower_ops | dict.fromkeys(_FP32_NN, "fp32")  # torch.kl_div, torch.ctc_loss, ...
    return [(ops, lower_ops), (ember, top), (Tensor, lower_ops), (functional, nn),
            (linalg, la)]  # fmt: skip


def _target(policy: str, args, kwargs):
    from ember.amp import get_autocast_dtype

    if policy == "lower":
        return np.dtype(get_autocast_dtype("cpu"))
    if policy == "fp32":
        return np.dtype(np.float32)
    if policy == "pad":  # reflect / replicate padding is on the float32 list, constant is not
        mode = kwargs.get("mode", args[2] if len(args) > 2 else "constant")
        return np.dtype(np.float32) if mode in ("reflect", "replicate") else None
    return None  # keep


def _cast(x, dt):
    from ember.tensor import Tensor

    if isinstance(x, Tensor):
        d = x.data.dtype
        if d != dt and (d == np.float32 or d in _lowp.LOWP):  # float64 is left, as torch
            return x.to(dt)
        return x
    if isinstance(x, list | tuple) and any(isinstance(v, Tensor) for v in x):
        return type(x)(_cast(v, dt) for v in x)
    return x


def _wrap(fn, policy: str):
    @functools.wraps(fn)
    def autocast_op(*args, **kwargs):
        from ember.amp import is_autocast_enabled

        if getattr(_state, "inside", False) or not is_autocast_enabled("cpu"):
            return fn(*args, **kwargs)
        dt = _target(policy, args, kwargs)
        if dt is not None:
            args = tuple(_cast(a, dt) for a in args)
            kwargs = {k: _cast(v, dt) for k, v in kwargs.items()}
        _state.inside = True
        try:
            return fn(*args, **kwargs)
        finally:
            _state.inside = False

    autocast_op._autocast_original = fn
    return autocast_op


def check_dtype(dtype) -> bool:
    """torch's CPU autocast takes bfloat16 and float16; another dtype warns and disables it."""
    if dtype is None or np.dtype(dtype) in _lowp.LOWP:
        return True
    warnings.warn(
        "In CPU autocast, but the target dtype is not supported. Disabling autocast.\n"
        "CPU Autocast only supports dtype of torch.bfloat16, torch.float16 currently.",
        UserWarning,
        stacklevel=3,
    )
    return False


def enter() -> None:
    _depth[0] += 1
    if _depth[0] > 1:
        return
    for owner, table in _policies():
        for name, policy in table.items():
            fn = vars(owner).get(name) if isinstance(owner, type) else getattr(owner, name, None)
            if fn is None or not callable(fn):
                continue
            _installed.append((owner, name, fn))
            setattr(owner, name, _wrap(fn, policy))


def leave() -> None:
    _depth[0] -= 1
    if _depth[0] > 0:
        return
    while _installed:
        owner, name, fn = _installed.pop()
        setattr(owner, name, fn)
