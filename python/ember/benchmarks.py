"""The benchmark workloads: ember, NumPy and PyTorch (when installed) side by side.

One registry serves both ``python -m ember bench`` (a table of times and ratios) and the
pytest-benchmark suite in ``bench/``. A workload builds its inputs once and returns, per
implementation, a zero-argument callable that runs one iteration.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

IMPLS = ("ember", "numpy", "torch")


@dataclass(frozen=True)
class Workload:
    name: str
    group: str
    build: Callable[[], dict]  # -> {impl: callable}


WORKLOADS: list[Workload] = []


def workload(name: str, group: str):
    def register(build):
        WORKLOADS.append(Workload(name, group, build))
        return build

    return register


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _rng():
    return np.random.default_rng(0)


# ---- GEMM ---------------------------------------------------------------------------------


def _gemm_case(m: int, k: int, n: int, dtype, trans_a: bool = False, trans_b: bool = False):
    """op(a) (m, k) @ op(b) (k, n), op = transpose when the flag is set: a is stored (k, m) and
    b (n, k), and every library is handed the transposed view (no copies)."""
    from ember import _C

    rng = _rng()
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    va, vb = (a.T if trans_a else a), (b.T if trans_b else b)
    impls = {
        "ember": lambda: _C.gemm(a, b, trans_a=trans_a, trans_b=trans_b),
        "numpy": lambda: va @ vb,
    }
    torch = _torch()
    if torch is not None:
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        ta, tb = (ta.T if trans_a else ta), (tb.T if trans_b else tb)
        impls["torch"] = lambda: ta @ tb
    return impls


for _n in (64, 128, 256, 512, 1024, 2048):
    workload(f"gemm/f32/{_n}", "gemm")(lambda n=_n: _gemm_case(n, n, n, np.float32))
for _n in (256, 1024):
    workload(f"gemm/f64/{_n}", "gemm")(lambda n=_n: _gemm_case(n, n, n, np.float64))
# The products of an MLP step (batch 64, 784 -> 256 -> 10) as nn.Linear makes them (weights
# (out, in)): forward x @ W^T, dX = dY @ W, dW = dY^T @ x; named mlp_MxKxN plus the flags.
# The last is the NumPy-layout dW2 = h^T @ dz (weights (in, out)).
MLP_GEMMS = (
    (64, 784, 256, False, True),  # fc1 forward
    (64, 256, 784, False, False),  # fc1 dX
    (256, 64, 784, True, False),  # fc1 dW
    (64, 256, 10, False, True),  # fc2 forward
    (64, 10, 256, False, False),  # fc2 dX
    (10, 64, 256, True, False),  # fc2 dW
    (256, 64, 10, True, False),  # fc2 dW, NumPy layout
)
for _m, _k, _n, _ta, _tb in MLP_GEMMS:
    _flags = ("_ta" if _ta else "") + ("_tb" if _tb else "")
    workload(f"gemm/f32/mlp_{_m}x{_k}x{_n}{_flags}", "gemm")(
        lambda m=_m, k=_k, n=_n, ta=_ta, tb=_tb: _gemm_case(m, k, n, np.float32, ta, tb)
    )


# ---- softmax ------------------------------------------------------------------------------


def _softmax_case(shape: tuple, dim: int, backward: bool) -> dict:
    import ember
    from ember.nn import functional as F

    x = _rng().standard_normal(shape).astype(np.float32)
    g = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    xe = ember.tensor(x, requires_grad=backward)

    def ours():
        y = F.softmax(xe, dim=dim)
        if backward:
            y.backward(g)

    def numpy_ref():
        e = np.exp(x - x.max(axis=dim, keepdims=True))
        y = e / e.sum(axis=dim, keepdims=True)
        if backward:
            return y * (g - (g * y).sum(axis=dim, keepdims=True))
        return y

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        xt = torch.tensor(x, requires_grad=backward)
        gt = torch.from_numpy(g)

        def theirs():
            y = torch.softmax(xt, dim=dim)
            if backward:
                y.backward(gt)

        impls["torch"] = theirs
    return impls


workload("softmax/4096x1000/fwd", "softmax")(lambda: _softmax_case((4096, 1000), -1, False))
workload("softmax/4096x1000/fwd+bwd", "softmax")(lambda: _softmax_case((4096, 1000), -1, True))
workload("softmax/32x1000x64/dim1/fwd", "softmax")(lambda: _softmax_case((32, 1000, 64), 1, False))
workload("softmax/32x1000x64/dim1/fwd+bwd", "softmax")(
    lambda: _softmax_case((32, 1000, 64), 1, True)
)


# ---- activations --------------------------------------------------------------------------

_K_GELU = float(np.sqrt(2.0 / np.pi))


def _np_gelu_tanh(x, g):
    k = x.dtype.type(_K_GELU)
    t = np.tanh(k * (x + x.dtype.type(0.044715) * x**3))
    y = 0.5 * x * (1 + t)
    return y, g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))


def _np_sigmoid(x, g):
    y = 1 / (1 + np.exp(-x))
    return y, g * (1 - y) * y


def _np_tanh(x, g):
    y = np.tanh(x)
    return y, g * (1 - y * y)


def _np_softplus(x, g):
    return np.logaddexp(x, 0), g / (1 + np.exp(-x))


def _np_elu(x, g):
    xm = np.minimum(x, 0)
    return np.where(x > 0, x, np.expm1(xm)), np.where(x > 0, g, g * np.exp(xm))


# name: (ember F call, torch F call, NumPy forward+backward or None: NumPy has no erf).
_ACTS = {
    "relu": (
        lambda F, t: F.relu(t),
        lambda F, t: F.relu(t),
        lambda x, g: (np.maximum(x, 0), np.where(x > 0, g, 0)),
    ),
    "leaky_relu": (
        lambda F, t: F.leaky_relu(t, 0.01),
        lambda F, t: F.leaky_relu(t, 0.01),
        lambda x, g: (np.where(x > 0, x, x * 0.01), np.where(x > 0, g, g * 0.01)),
    ),
    "elu": (lambda F, t: F.elu(t), lambda F, t: F.elu(t), _np_elu),
    "gelu": (lambda F, t: F.gelu(t), lambda F, t: F.gelu(t), None),
    "gelu_tanh": (
        lambda F, t: F.gelu(t, approximate="tanh"),
        lambda F, t: F.gelu(t, approximate="tanh"),
        _np_gelu_tanh,
    ),
    "sigmoid": (lambda F, t: F.sigmoid(t), lambda F, t: F.sigmoid(t), _np_sigmoid),
    "tanh": (lambda F, t: F.tanh(t), lambda F, t: F.tanh(t), _np_tanh),
    "softplus": (lambda F, t: F.softplus(t), lambda F, t: F.softplus(t), _np_softplus),
}


def _activation_case(act: str, dtype) -> dict:
    """forward + backward of one activation on 4M elements (x and the incoming gradient)."""
    import ember
    from ember.nn import functional as F

    ours_f, theirs_f, numpy_f = _ACTS[act]
    n = 1 << 22
    x = (_rng().standard_normal(n) * 3).astype(dtype)
    g = np.random.default_rng(1).standard_normal(n).astype(dtype)
    xe = ember.tensor(x, requires_grad=True)

    def ours():
        ours_f(F, xe).backward(g)

    impls = {"ember": ours}
    if numpy_f is not None:
        impls["numpy"] = lambda: numpy_f(x, g)
    torch = _torch()
    if torch is not None:
        xt = torch.tensor(x, requires_grad=True)
        gt = torch.from_numpy(g)
        impls["torch"] = lambda: theirs_f(torch.nn.functional, xt).backward(gt)
    return impls


for _act in _ACTS:
    workload(f"act/{_act}/4M/fwd+bwd", "activation")(lambda a=_act: _activation_case(a, np.float32))
for _act in _ACTS:
    workload(f"act/{_act}/4M-f64/fwd+bwd", "activation")(
        lambda a=_act: _activation_case(a, np.float64)
    )


# ---- MLP training step --------------------------------------------------------------------


def _mlp_step_case() -> dict:
    import ember
    from ember import nn
    from ember.nn import functional as F

    rng = _rng()
    x = rng.standard_normal((64, 784)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
    opt = ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def ours():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    w1 = (rng.standard_normal((784, 256)) * 0.03).astype(np.float32)
    w2 = (rng.standard_normal((256, 10)) * 0.06).astype(np.float32)
    b1, b2 = np.zeros(256, np.float32), np.zeros(10, np.float32)
    onehot = np.eye(10, dtype=np.float32)[y]

    def numpy_ref():  # the same step written by hand in NumPy
        h = np.maximum(x @ w1 + b1, 0)
        z = h @ w2 + b2
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - onehot) / len(x)
        dh = (dz @ w2.T) * (h > 0)
        for w, d in ((w2, h.T @ dz), (w1, x.T @ dh), (b2, dz.sum(0)), (b1, dh.sum(0))):
            w -= 0.01 * d

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        torch.manual_seed(0)
        tm = torch.nn.Sequential(
            torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 10)
        )
        topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def theirs():
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()

        impls["torch"] = theirs
    return impls


workload("mlp_step/784-256-10/b64", "mlp")(_mlp_step_case)


# ---- optimiser step and cross-entropy (training toolkit) ----------------------------------


def _optim_step_case(kind: str, n: int = 10_000_000) -> dict:
    import ember
    from ember import nn

    rng = _rng()
    p0 = rng.standard_normal(n).astype(np.float32)
    g = rng.standard_normal(n).astype(np.float32)
    p = nn.Parameter(p0.copy())
    p.grad = ember.tensor(g)
    if kind == "adam":
        opt = ember.optim.Adam([p], lr=1e-3)
    else:
        opt = ember.optim.SGD([p], lr=1e-3, momentum=0.9)

    pn, m, v, t = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), [0]

    def numpy_ref():  # the textbook NumPy update, in place where NumPy allows
        if kind == "adam":
            t[0] += 1
            np.multiply(m, 0.9, out=m)
            np.add(m, 0.1 * g, out=m)
            np.multiply(v, 0.999, out=v)
            np.add(v, 0.001 * g * g, out=v)
            denom = np.sqrt(v) / np.sqrt(1 - 0.999 ** t[0]) + 1e-8
            np.subtract(pn, (1e-3 / (1 - 0.9 ** t[0])) * m / denom, out=pn)
        else:
            np.multiply(m, 0.9, out=m)
            np.add(m, g, out=m)
            np.subtract(pn, 1e-3 * m, out=pn)

    impls = {"ember": opt.step, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        tp = torch.nn.Parameter(torch.from_numpy(p0.copy()))
        tp.grad = torch.from_numpy(g)
        if kind == "adam":
            topt = torch.optim.Adam([tp], lr=1e-3)
        else:
            topt = torch.optim.SGD([tp], lr=1e-3, momentum=0.9)
        impls["torch"] = topt.step
    return impls


workload("optim_step/adam/10M", "optim")(lambda: _optim_step_case("adam"))
workload("optim_step/sgd_momentum/10M", "optim")(lambda: _optim_step_case("sgd"))


def _np_cross_entropy(x, y):
    """Mean cross-entropy of logits x (N, C) and class indices y, and its gradient, by hand."""
    z = x - x.max(axis=1, keepdims=True)
    e = np.exp(z)
    s = e.sum(axis=1, keepdims=True)
    loss = (np.log(s[:, 0]) - z[np.arange(len(y)), y]).mean()
    grad = e / s
    grad[np.arange(len(y)), y] -= 1
    grad /= len(y)
    return loss, grad


def _cross_entropy_case() -> dict:
    import ember
    from ember.nn import functional as F

    rng = _rng()
    x = rng.standard_normal((4096, 1000)).astype(np.float32)
    y = rng.integers(0, 1000, 4096)
    xe = ember.tensor(x, requires_grad=True)

    def ours():
        xe.grad = None
        F.cross_entropy(xe, y).backward()

    impls = {"ember": ours, "numpy": lambda: _np_cross_entropy(x, y)}
    torch = _torch()
    if torch is not None:
        xt = torch.tensor(x, requires_grad=True)
        yt = torch.from_numpy(y)

        def theirs():
            xt.grad = None
            torch.nn.functional.cross_entropy(xt, yt).backward()

        impls["torch"] = theirs
    return impls


workload("cross_entropy/4096x1000/fwd+bwd", "losses")(_cross_entropy_case)


# ---- convolution, pooling, batch norm -----------------------------------------------------


def _np_cols(x, k, s, p):
    """NumPy im2col reference: x (N,C,H,W) -> cols (N, C*k*k, OH*OW)."""
    xp = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    N, C, H, W = xp.shape
    OH, OW = (H - k) // s + 1, (W - k) // s + 1
    cols = np.empty((N, C, k, k, OH, OW), x.dtype)
    for i in range(k):
        for j in range(k):
            cols[:, :, i, j] = xp[:, :, i : i + s * (OH - 1) + 1 : s, j : j + s * (OW - 1) + 1 : s]
    return cols.reshape(N, C * k * k, OH * OW), (OH, OW), xp.shape


def np_conv_forward(x, w, b, s, p):
    cols, (OH, OW), _ = _np_cols(x, w.shape[2], s, p)
    y = np.matmul(w.reshape(w.shape[0], -1), cols) + b[:, None]
    return y.reshape(x.shape[0], w.shape[0], OH, OW)


def np_conv_backward(dy, x, w, s, p):
    """-> (dx, dw, db) of np_conv_forward."""
    k = w.shape[2]
    cols, (OH, OW), padded = _np_cols(x, k, s, p)
    N, O = dy.shape[:2]
    g = dy.reshape(N, O, -1)
    dw = np.matmul(g, cols.transpose(0, 2, 1)).sum(0).reshape(w.shape)
    dcols = np.matmul(w.reshape(O, -1).T, g).reshape(N, x.shape[1], k, k, OH, OW)
    dxp = np.zeros(padded, x.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + s * (OH - 1) + 1 : s, j : j + s * (OW - 1) + 1 : s] += dcols[
                :, :, i, j
            ]
    return dxp[:, :, p : p + x.shape[2], p : p + x.shape[3]], dw, g.sum((0, 2))


# name: (N, C, H, W, O, k, stride, pad)
CONV_CASES = {
    "n64_1to6_28_k5": (64, 1, 28, 28, 6, 5, 1, 0),
    "n32_64to64_32_k3p1": (32, 64, 32, 32, 64, 3, 1, 1),
    "n8_128to128_28_k3p1": (8, 128, 28, 28, 128, 3, 1, 1),
    "n32_3to32_32_k3s2p1": (32, 3, 32, 32, 32, 3, 2, 1),
    "n16_512to512_7_k3p1": (16, 512, 7, 7, 512, 3, 1, 1),  # ResNet's last stage
}


def _conv_case(name: str, backward: bool) -> dict:
    import ember
    from ember.nn import functional as F

    N, C, H, W, O, k, s, p = CONV_CASES[name]
    rng = _rng()
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((O, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    xe, we, be = (ember.tensor(a, requires_grad=backward) for a in (x, w, b))
    dy = np.ones_like(np_conv_forward(x, w, b, s, p))

    def ours():
        if not backward:
            with ember.no_grad():
                return F.conv2d(xe, we, be, s, p)
        xe.grad = we.grad = be.grad = None
        F.conv2d(xe, we, be, s, p).backward(dy)

    def numpy_ref():
        y = np_conv_forward(x, w, b, s, p)
        return np_conv_backward(dy, x, w, s, p) if backward else y

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        xt, wt, bt = (torch.tensor(a, requires_grad=backward) for a in (x, w, b))
        dyt = torch.from_numpy(dy)

        def theirs():
            if not backward:
                with torch.no_grad():
                    return torch.nn.functional.conv2d(xt, wt, bt, s, p)
            xt.grad = wt.grad = bt.grad = None
            torch.nn.functional.conv2d(xt, wt, bt, s, p).backward(dyt)

        impls["torch"] = theirs
    return impls


for _name in CONV_CASES:
    workload(f"conv2d/{_name}/fwd", "conv")(lambda n=_name: _conv_case(n, False))
    workload(f"conv2d/{_name}/fwd+bwd", "conv")(lambda n=_name: _conv_case(n, True))


# The convolution family outside one-group conv2d (round 28's survey; no NumPy reference):
# name: (function, input shape, weight shape, keyword arguments)
CONV_EXTRA_CASES = {
    "conv1d/n32_128to128_256_k3p1": ("conv1d", (32, 128, 256), (128, 128, 3), {"padding": 1}),
    "conv1d/n32_128_256_dw_k7p3": (
        "conv1d",
        (32, 128, 256),
        (128, 1, 7),
        dict(padding=3, groups=128),
    ),
    "conv2d/n32_128_56_dw3x3s2p1": (
        "conv2d",
        (32, 128, 56, 56),
        (128, 1, 3, 3),
        dict(stride=2, padding=1, groups=128),
    ),
    "conv2d/n8_512_28_g32_3x3s2p1": (
        "conv2d",
        (8, 512, 28, 28),
        (512, 16, 3, 3),
        dict(stride=2, padding=1, groups=32),
    ),
    "conv2d/n8_128_28_3x3d4p4": (
        "conv2d",
        (8, 128, 28, 28),
        (128, 128, 3, 3),
        dict(padding=4, dilation=4),
    ),
    "conv_transpose2d/n16_256to128_8_k4s2p1": (
        "conv_transpose2d",
        (16, 256, 8, 8),
        (256, 128, 4, 4),
        dict(stride=2, padding=1),
    ),
    "conv_transpose2d/n4_128to64_64_k2s2": (
        "conv_transpose2d",
        (4, 128, 64, 64),
        (128, 64, 2, 2),
        dict(stride=2),
    ),
    "conv3d/n4_32to64_16_k3s2p1": (
        "conv3d",
        (4, 32, 16, 16, 16),
        (64, 32, 3, 3, 3),
        dict(stride=2, padding=1),
    ),
    "conv3d/n4_32to64_16_k1": ("conv3d", (4, 32, 16, 16, 16), (64, 32, 1, 1, 1), {}),
}


def _conv_extra_case(name: str, backward: bool) -> dict:
    import ember
    from ember.nn import functional as F

    fn, xs, ws, kw = CONV_EXTRA_CASES[name]
    rng = _rng()
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[1] * kw.get("groups", 1) if "transpose" in fn else ws[0])
    b = b.astype(np.float32)
    impls = {}
    mods = {"ember": (ember, F)}
    torch = _torch()
    if torch is not None:
        mods["torch"] = (torch, torch.nn.functional)
    for lib, (m, f) in mods.items():
        args = [m.tensor(a, requires_grad=backward) for a in (x, w, b)]
        op = getattr(f, fn)

        def run(m=m, f=op, args=args):
            if not backward:
                with m.no_grad():
                    return f(*args, **kw)
            for a in args:
                a.grad = None
            f(*args, **kw).sum().backward()

        impls[lib] = run
    return impls


for _name in CONV_EXTRA_CASES:
    workload(f"{_name}/fwd", "conv")(lambda n=_name: _conv_extra_case(n, False))
    workload(f"{_name}/fwd+bwd", "conv")(lambda n=_name: _conv_extra_case(n, True))


POOL_SHAPE = (32, 64, 32, 32)


def _pool_bn_case(op: str, shape: tuple = POOL_SHAPE) -> dict:
    """max_pool2d(2) / avg_pool2d(2) / batch_norm (training) forward + backward."""
    import ember
    from ember.nn import functional as F

    rng = _rng()
    x = rng.standard_normal(shape).astype(np.float32)
    n, c, h, w = shape
    xe = ember.tensor(x, requires_grad=True)
    wgt, bias = np.ones(c, np.float32), np.zeros(c, np.float32)
    we, be = ember.tensor(wgt, requires_grad=True), ember.tensor(bias, requires_grad=True)
    rm, rv = ember.zeros(c), ember.ones(c)
    half = np.ones((n, c, h // 2, w // 2), np.float32)

    def ours():
        xe.grad = we.grad = be.grad = None
        if op == "max_pool2d":
            F.max_pool2d(xe, 2).backward(half)
        elif op == "avg_pool2d":
            F.avg_pool2d(xe, 2).backward(half)
        else:
            F.batch_norm(xe, rm, rv, we, be, True).backward(x)

    def numpy_ref():
        if op == "max_pool2d":
            v = x.reshape(n, c, h // 2, 2, w // 2, 2).transpose(0, 1, 2, 4, 3, 5)
            v = v.reshape(n, c, h // 2, w // 2, 4)
            a = v.argmax(-1)
            y = np.take_along_axis(v, a[..., None], -1)[..., 0]
            dv = np.zeros_like(v)
            np.put_along_axis(dv, a[..., None], half[..., None], -1)
            dx = dv.reshape(n, c, h // 2, w // 2, 2, 2).transpose(0, 1, 2, 4, 3, 5)
            return y, dx.reshape(x.shape)
        if op == "avg_pool2d":
            y = x.reshape(n, c, h // 2, 2, w // 2, 2).mean((3, 5))
            return y, np.repeat(np.repeat(half * 0.25, 2, 2), 2, 3)
        axes = (0, 2, 3)
        m = x.mean(axes, keepdims=True)
        inv = 1 / np.sqrt(x.var(axes, keepdims=True) + 1e-5)
        xhat = (x - m) * inv
        dy = x
        db = dy.sum(axes, keepdims=True)
        dw = (dy * xhat).sum(axes, keepdims=True)
        k = x.size // c
        return xhat, inv * (dy - db / k - xhat * dw / k), dw, db

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        tF = torch.nn.functional
        xt = torch.tensor(x, requires_grad=True)
        wt, bt = torch.tensor(wgt, requires_grad=True), torch.tensor(bias, requires_grad=True)
        rmt, rvt = torch.zeros(c), torch.ones(c)
        halft, xg = torch.from_numpy(half), torch.from_numpy(x)

        def theirs():
            xt.grad = wt.grad = bt.grad = None
            if op == "max_pool2d":
                tF.max_pool2d(xt, 2).backward(halft)
            elif op == "avg_pool2d":
                tF.avg_pool2d(xt, 2).backward(halft)
            else:
                tF.batch_norm(xt, rmt, rvt, wt, bt, True).backward(xg)

        impls["torch"] = theirs
    return impls


for _op in ("max_pool2d", "avg_pool2d", "batch_norm"):
    workload(f"{_op}/32x64x32x32/fwd+bwd", "pool_bn")(lambda o=_op: _pool_bn_case(o))
# short channels (7x7): batch_norm's column path
workload("batch_norm/128x256x7x7/fwd+bwd", "pool_bn")(
    lambda: _pool_bn_case("batch_norm", (128, 256, 7, 7))
)


# ---- LeNet-5 training step ----------------------------------------------------------------


def _lenet_step_case() -> dict:
    """LeNet-5 (conv5 pad 2 - relu - maxpool2 - conv5 - relu - maxpool2 - 400-120-84-10) on
    28x28 inputs, batch 64: forward, cross-entropy, backward, SGD with momentum."""
    import ember
    from ember import nn
    from ember.nn import functional as F

    rng = _rng()
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, 64)
    ember.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip
    opt = ember.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def ours():
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    params = [p.numpy().copy() for p in model.parameters()]
    vel = [np.zeros_like(p) for p in params]
    onehot = np.eye(10, dtype=np.float32)[y]

    def pool(a):  # 2x2 max pool -> (out, mask of the max)
        n, c, h, w = a.shape
        v = a.reshape(n, c, h // 2, 2, w // 2, 2)
        out = v.max((3, 5))
        mask = v == out[:, :, :, None, :, None]
        return out, mask

    def unpool(g, mask):
        n, c, h, w = g.shape
        return (mask * g[:, :, :, None, :, None]).reshape(n, c, 2 * h, 2 * w)

    def numpy_ref():  # the same step written by hand in NumPy (im2col convolutions)
        w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = params
        a1 = np.maximum(np_conv_forward(x, w1, b1, 1, 2), 0)
        p1, m1 = pool(a1)
        a2 = np.maximum(np_conv_forward(p1, w2, b2, 1, 0), 0)
        p2, m2 = pool(a2)
        f = p2.reshape(64, -1)
        h3 = np.maximum(f @ w3.T + b3, 0)
        h4 = np.maximum(h3 @ w4.T + b4, 0)
        z = h4 @ w5.T + b5
        p = np.exp(z - z.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        dz = (p - onehot) / len(x)
        dh4 = (dz @ w5) * (h4 > 0)
        dh3 = (dh4 @ w4) * (h3 > 0)
        df = dh3 @ w3
        da2 = unpool(df.reshape(p2.shape), m2) * (a2 > 0)
        dp1, dw2, db2 = np_conv_backward(da2, p1, w2, 1, 0)
        da1 = unpool(dp1, m1) * (a1 > 0)
        _, dw1, db1 = np_conv_backward(da1, x, w1, 1, 2)
        grads = (dw1, db1, dw2, db2, dh3.T @ f, dh3.sum(0), dh4.T @ h3, dh4.sum(0))
        grads += (dz.T @ h4, dz.sum(0))
        for w, v, g in zip(params, vel, grads):
            v *= 0.9
            v += g
            w -= 0.01 * v

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        tnn = torch.nn
        torch.manual_seed(0)
        tm = tnn.Sequential(
            tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
            tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
            tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10),
        )  # fmt: skip
        topt = torch.optim.SGD(tm.parameters(), lr=0.01, momentum=0.9)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)

        def theirs():
            loss = torch.nn.functional.cross_entropy(tm(tx), ty)
            topt.zero_grad()
            loss.backward()
            topt.step()

        impls["torch"] = theirs
    return impls


# ---- recurrent layers ---------------------------------------------------------------------
# One LSTM / GRU layer, seq 50, batch 32, input 128, hidden 256, float32, time-major: ember's
# nn.LSTM / nn.GRU vs a NumPy time loop (input projection batched: a fair baseline) vs torch.nn.

_RNN_T, _RNN_N, _RNN_I, _RNN_H = 50, 32, 128, 256


def _sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def _numpy_lstm_forward(x, h0, c0, w_ih, w_hh, b):
    T, N, I = x.shape
    H = h0.shape[1]
    xp = (x.reshape(T * N, I) @ w_ih.T + b).reshape(T, N, 4 * H)
    h, c = h0, c0
    ys, gs, cs = [], [], []
    for t in range(T):
        a = xp[t] + h @ w_hh.T
        i, f = _sig(a[:, :H]), _sig(a[:, H : 2 * H])
        g, o = np.tanh(a[:, 2 * H : 3 * H]), _sig(a[:, 3 * H :])
        c = f * c + i * g
        h = o * np.tanh(c)
        ys.append(h)
        gs.append((i, f, g, o))
        cs.append(c)
    return np.stack(ys), gs, cs


def _numpy_lstm_forward_backward(x, h0, c0, w_ih, w_hh, b, dy):
    y, gs, cs = _numpy_lstm_forward(x, h0, c0, w_ih, w_hh, b)
    T, N, I = x.shape
    H = h0.shape[1]
    dh = np.zeros((N, H), x.dtype)
    dc = np.zeros((N, H), x.dtype)
    dgates = np.empty((T, N, 4 * H), x.dtype)
    for t in range(T - 1, -1, -1):
        i, f, g, o = gs[t]
        c_prev = cs[t - 1] if t > 0 else c0
        dh = dh + dy[t]
        tc = np.tanh(cs[t])
        dc = dc + dh * o * (1 - tc * tc)
        dgates[t, :, :H] = dc * g * i * (1 - i)
        dgates[t, :, H : 2 * H] = dc * c_prev * f * (1 - f)
        dgates[t, :, 2 * H : 3 * H] = dc * i * (1 - g * g)
        dgates[t, :, 3 * H :] = dh * tc * o * (1 - o)
        dc = dc * f
        dh = dgates[t] @ w_hh
    dg = dgates.reshape(T * N, 4 * H)
    h_prev = np.concatenate([h0[None], y[:-1]]).reshape(T * N, H)
    return dg @ w_ih, dg.T @ x.reshape(T * N, I), dg.T @ h_prev, dg.sum(0)


def _numpy_gru_forward(x, h0, w_ih, w_hh, b_ih, b_hh):
    T, N, I = x.shape
    H = h0.shape[1]
    xp = (x.reshape(T * N, I) @ w_ih.T + b_ih).reshape(T, N, 3 * H)
    h, ys = h0, []
    for t in range(T):
        gh = h @ w_hh.T + b_hh
        r = _sig(xp[t, :, :H] + gh[:, :H])
        z = _sig(xp[t, :, H : 2 * H] + gh[:, H : 2 * H])
        n = np.tanh(xp[t, :, 2 * H :] + r * gh[:, 2 * H :])
        h = (1 - z) * n + z * h
        ys.append(h)
    return np.stack(ys)


def _rnn_case(kind: str, backward: bool) -> dict:
    import ember
    from ember import nn

    T, N, I, H = _RNN_T, _RNN_N, _RNN_I, _RNN_H
    rng = _rng()
    x = rng.standard_normal((T, N, I)).astype(np.float32)
    h0 = rng.uniform(-0.5, 0.5, (1, N, H)).astype(np.float32)
    c0 = rng.uniform(-0.5, 0.5, (1, N, H)).astype(np.float32)
    dy = rng.standard_normal((T, N, H)).astype(np.float32)
    ember.manual_seed(0)
    m = (nn.LSTM if kind == "lstm" else nn.GRU)(I, H)
    hx = (h0, c0) if kind == "lstm" else h0
    xe = ember.tensor(x, requires_grad=backward)

    def ours():
        if backward:
            m.zero_grad()
            y, _ = m(xe, hx)
            y.backward(dy)
            return
        with ember.no_grad():
            m(xe, hx)

    w = {k: v.numpy() for k, v in m.state_dict().items()}
    w_ih, w_hh, b_ih, b_hh = w["weight_ih_l0"], w["weight_hh_l0"], w["bias_ih_l0"], w["bias_hh_l0"]
    if kind == "gru":
        impls = {
            "ember": ours,
            "numpy": lambda: _numpy_gru_forward(x, h0[0], w_ih, w_hh, b_ih, b_hh),
        }
    elif backward:
        impls = {"ember": ours, "numpy": lambda: _numpy_lstm_forward_backward(
            x, h0[0], c0[0], w_ih, w_hh, b_ih + b_hh, dy)}  # fmt: skip
    else:
        impls = {"ember": ours, "numpy": lambda: _numpy_lstm_forward(
            x, h0[0], c0[0], w_ih, w_hh, b_ih + b_hh)}  # fmt: skip
    torch = _torch()
    if torch is not None:
        tm = (torch.nn.LSTM if kind == "lstm" else torch.nn.GRU)(I, H)
        tm.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
        tx = torch.tensor(x, requires_grad=backward)
        thx = tuple(map(torch.from_numpy, hx)) if kind == "lstm" else torch.from_numpy(h0)
        tdy = torch.from_numpy(dy)

        def theirs():
            if backward:
                tm.zero_grad(set_to_none=True)
                tx.grad = None
                tm(tx, thx)[0].backward(tdy)
                return
            with torch.no_grad():
                tm(tx, thx)

        impls["torch"] = theirs
    return impls


workload("lenet5_step/28x28/b64", "lenet")(_lenet_step_case)
workload("lstm/T50-N32-I128-H256/fwd", "rnn")(lambda: _rnn_case("lstm", False))
workload("lstm/T50-N32-I128-H256/fwd+bwd", "rnn")(lambda: _rnn_case("lstm", True))
workload("gru/T50-N32-I128-H256/fwd", "rnn")(lambda: _rnn_case("gru", False))


# A decoder's loop: nn.LSTMCell called for 50 steps (input 128, hidden 256, float32, no grad),
# the per-call cost (one step of a small batch: weights read in place, no packing) beside torch.
def _lstm_cell_case(n: int) -> dict:
    import ember
    from ember import nn

    steps, i, h = 50, 128, 256
    rng = _rng()
    xs = rng.standard_normal((steps, n, i)).astype(np.float32)
    ember.manual_seed(0)
    cell = nn.LSTMCell(i, h)
    w = {k: v.numpy() for k, v in cell.state_dict().items()}
    xe = [ember.tensor(x) for x in xs]

    def ours():
        with ember.no_grad():
            state = None
            for x in xe:
                state = cell(x, state)

    def numpy_loop():
        hh = cc = np.zeros((n, h), np.float32)
        b = w["bias_ih"] + w["bias_hh"]
        for x in xs:
            a = x @ w["weight_ih"].T + hh @ w["weight_hh"].T + b
            ig, fg = _sig(a[:, :h]), _sig(a[:, h : 2 * h])
            gg, og = np.tanh(a[:, 2 * h : 3 * h]), _sig(a[:, 3 * h :])
            cc = fg * cc + ig * gg
            hh = og * np.tanh(cc)

    impls = {"ember": ours, "numpy": numpy_loop}
    torch = _torch()
    if torch is not None:
        tcell = torch.nn.LSTMCell(i, h)
        tcell.load_state_dict({k: torch.from_numpy(v) for k, v in w.items()})
        txs = [torch.from_numpy(x) for x in xs]

        def theirs():
            with torch.no_grad():
                state = None
                for x in txs:
                    state = tcell(x, state)

        impls["torch"] = theirs
    return impls


workload("lstmcell/N1-I128-H256/50steps/fwd", "rnn")(lambda: _lstm_cell_case(1))
workload("lstmcell/N32-I128-H256/50steps/fwd", "rnn")(lambda: _lstm_cell_case(32))


# ---- whole training steps of common models (ember against torch: the same model code) ------


def _mobilenet(lib):
    nn = lib.nn

    def dw(cin, cout, stride):  # depthwise 3x3, then pointwise 1x1
        return nn.Sequential(
            nn.Conv2d(cin, cin, 3, stride, 1, groups=cin, bias=False), nn.BatchNorm2d(cin),
            nn.ReLU6(), nn.Conv2d(cin, cout, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(),
        )  # fmt: skip

    model = nn.Sequential(
        nn.Conv2d(3, 32, 3, 2, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU6(), dw(32, 64, 1),
        dw(64, 128, 2), dw(128, 128, 1), dw(128, 256, 2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
        nn.Linear(256, 10),
    )  # fmt: skip
    rng = _rng()
    x, y = rng.standard_normal((32, 3, 64, 64)).astype(np.float32), rng.integers(0, 10, 32)
    return model, lib.nn.functional.cross_entropy, x, y


def _dcgan_generator(lib):
    nn = lib.nn

    def up(cin, cout, stride, pad):
        return [nn.ConvTranspose2d(cin, cout, 4, stride, pad, bias=False), nn.BatchNorm2d(cout),
                nn.ReLU(True)]  # fmt: skip

    model = nn.Sequential(
        *up(100, 256, 1, 0), *up(256, 128, 2, 1), *up(128, 64, 2, 1),
        nn.ConvTranspose2d(64, 3, 4, 2, 1, bias=False), nn.Tanh(),
    )  # fmt: skip
    rng = _rng()
    z = rng.standard_normal((32, 100, 1, 1)).astype(np.float32)
    return (
        model,
        lib.nn.functional.mse_loss,
        z,
        rng.standard_normal((32, 3, 32, 32)).astype(np.float32),
    )


def _dcgan_discriminator(lib):
    nn = lib.nn
    model = nn.Sequential(
        nn.Conv2d(3, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),
        nn.Conv2d(128, 256, 4, 2, 1, bias=False), nn.BatchNorm2d(256), nn.LeakyReLU(0.2, True),
        nn.Conv2d(256, 1, 4, 1, 0, bias=False), nn.Flatten(), nn.Sigmoid(),
    )  # fmt: skip
    rng = _rng()
    x = rng.standard_normal((32, 3, 32, 32)).astype(np.float32)
    return (
        model,
        lib.nn.functional.binary_cross_entropy,
        x,
        rng.integers(0, 2, (32, 1)).astype(np.float32),
    )


def _small_resnet(lib):
    nn = lib.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.b1 = nn.BatchNorm2d(cout)
            self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.b2 = nn.BatchNorm2d(cout)
            self.sc = nn.Sequential()
            if stride != 1 or cin != cout:
                self.sc = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            y = lib.relu(self.b1(self.c1(x)))
            return lib.relu(self.b2(self.c2(y)) + self.sc(x))

    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16, 1), Block(16, 32, 2), Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    )  # fmt: skip
    rng = _rng()
    x, y = rng.standard_normal((32, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, 32)
    return model, lib.nn.functional.cross_entropy, x, y


def _gpt(lib):
    nn = lib.nn
    vocab, t, d = 96, 64, 128

    class GPT(nn.Module):
        def __init__(self):
            super().__init__()
            self.tok, self.pos = nn.Embedding(vocab, d), nn.Embedding(t, d)
            layer = nn.TransformerEncoderLayer(d, 4, 4 * d, 0.1, batch_first=True, norm_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.ln, self.head = nn.LayerNorm(d), nn.Linear(d, vocab)

        def forward(self, idx):
            x = self.tok(idx) + self.pos(lib.arange(idx.shape[1]))
            mask = nn.Transformer.generate_square_subsequent_mask(idx.shape[1])
            return self.head(self.ln(self.enc(x, mask=mask, is_causal=True))).reshape(-1, vocab)

    rng = _rng()
    x, y = rng.integers(0, vocab, (16, t)), rng.integers(0, vocab, 16 * t)
    return GPT(), lib.nn.functional.cross_entropy, x, y


def _lstm_lm(lib):
    nn = lib.nn

    class LM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(5000, 128)
            self.rnn = nn.LSTM(128, 256, 2, batch_first=True, dropout=0.2)
            self.fc = nn.Linear(256, 5000)

        def forward(self, x):
            return self.fc(self.rnn(self.emb(x))[0]).reshape(-1, 5000)

    rng = _rng()
    x, y = rng.integers(0, 5000, (32, 35)), rng.integers(0, 5000, 32 * 35)
    return LM(), lib.nn.functional.cross_entropy, x, y


def _training_step_case(make) -> dict:
    """One Adam training step (forward, loss, backward, update) of the model ``make(lib)``
    builds, written once for both libraries."""
    import ember

    impls = {}
    torch = _torch()
    for name, lib in (("ember", ember), ("torch", torch)):
        if lib is None:
            continue
        lib.manual_seed(0)
        model, loss_fn, x, y = make(lib)
        opt = lib.optim.Adam(model.parameters(), lr=1e-3)
        xt, yt = lib.tensor(x), lib.tensor(y)

        def step(model=model, loss_fn=loss_fn, opt=opt, xt=xt, yt=yt):
            opt.zero_grad()
            loss_fn(model(xt), yt).backward()
            opt.step()

        impls[name] = step
    return impls


for _name, _make in (
    ("resnet_small/32x32/b32", _small_resnet), ("mobilenet/64x64/b32", _mobilenet),
    ("dcgan_generator/b32", _dcgan_generator), ("dcgan_discriminator/b32", _dcgan_discriminator),
    ("gpt_2layer/T64/b16", _gpt), ("lstm_lm_2layer/T35/b32", _lstm_lm),
):  # fmt: skip
    workload(f"train_step/{_name}", "steps")(lambda make=_make: _training_step_case(make))


# ---- train38: whole training steps, ember against torch (the same model code) -------------
# forward, loss, backward, clip_grad_norm_ (where listed), optimiser step, zero_grad.


def torch_residual_block(torch, cin, cout, stride=1):
    """ember.nn.blocks.ResidualBlock in torch, the same structure and names (torchvision's
    BasicBlock): the train38 ResNet's torch side and the blocks test's twin."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, padding=1, bias=False)
            self.bn1, self.relu = nn.BatchNorm2d(cout), nn.ReLU()
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(
                    nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
                )

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + identity)

    return Block()


def _t38_resnet(lib, dtype):
    nn = lib.nn
    if lib.__name__ == "ember":
        from ember.nn.blocks import ResidualBlock as Block
    else:
        Block = functools.partial(torch_residual_block, lib)

    return nn.Sequential(
        nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        Block(16, 16), Block(16, 32, 2), Block(32, 64, 2),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
    ).to(dtype)  # fmt: skip


def _t38_char_lstm(lib, dtype):
    nn = lib.nn

    class CharLM(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(96, 64)
            self.rnn = nn.LSTM(64, 256, batch_first=True)
            self.fc = nn.Linear(256, 96)

        def forward(self, x):
            return self.fc(self.rnn(self.emb(x))[0]).reshape(-1, 96)

    return CharLM().to(dtype)


def _t38_seq2seq(lib, dtype):
    """ember.nn.seq2seq.Seq2Seq (GRU, additive attention); in torch the same model and names."""
    if lib.__name__ == "ember":
        from ember.nn.seq2seq import Seq2Seq

        return Seq2Seq(64, 64, 64, 128, cell="gru").to(dtype)
    nn, torch = lib.nn, lib

    class Encoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.rnn = nn.Embedding(64, 64), nn.GRU(64, 128, batch_first=True)

    class Attention(nn.Module):
        def __init__(self):
            super().__init__()
            self.w_q, self.w_k = nn.Linear(128, 128, bias=False), nn.Linear(128, 128)
            self.v = nn.Linear(128, 1, bias=False)

    class Decoder(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding, self.attention = nn.Embedding(64, 64), Attention()
            self.cell, self.out = nn.GRUCell(64 + 128, 128), nn.Linear(256, 64)

    class Seq2Seq(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.decoder = Encoder(), Decoder()

        def forward(self, src, tgt_in):
            enc, d = self.encoder, self.decoder
            mem, h = enc.rnn(enc.embedding(src))
            h, pk, att = h[-1], d.attention.w_k(mem), d.attention
            logits = []
            for t in range(tgt_in.shape[1]):
                e = torch.tanh(pk + att.w_q(h).unsqueeze(1))
                w = torch.softmax(att.v(e).squeeze(2), dim=1)
                ctx = (w.unsqueeze(1) @ mem).squeeze(1)
                h = d.cell(torch.cat([d.embedding(tgt_in[:, t]), ctx], dim=1), h)
                logits.append(d.out(torch.cat([h, ctx], dim=1)))
            return torch.stack(logits, dim=1)

    return Seq2Seq().to(dtype)


def _t38_transformer(lib, dtype, dropout=0.1):
    nn = lib.nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.emb = nn.Embedding(96, 128)
            layer = nn.TransformerEncoderLayer(128, 4, 512, dropout, batch_first=True)
            self.enc = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
            self.fc = nn.Linear(128, 10)

        def forward(self, x):
            return self.fc(self.enc(self.emb(x)).mean(1))

    return Classifier().to(dtype)


def _t38_mlp(lib, dtype):
    nn = lib.nn
    return nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 10)
    ).to(dtype)


def _t38_tiny(lib, dtype):
    nn = lib.nn
    return nn.Sequential(nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 1)).to(dtype)


def _t38_batch(rng, name, dtype, n=None, t=None):
    """One batch (inputs, targets) of model `name` as NumPy arrays: the benchmark's batch size
    and sequence length, or n and t (the tests' smaller batches)."""
    if name.startswith("mlp"):
        n = n or 64
        return rng.standard_normal((n, 784)).astype(dtype), rng.integers(0, 10, n)
    n = n or 32
    if name == "resnet":
        return rng.standard_normal((n, 3, 32, 32)).astype(dtype), rng.integers(0, 10, n)
    if name == "char_lstm":
        t = t or 50
        return rng.integers(0, 96, (n, t)), rng.integers(0, 96, n * t)
    if name == "seq2seq":
        t = t or 20
        return rng.integers(0, 64, (n, t)), rng.integers(0, 64, (n, t + 1))
    if name == "transformer":
        return rng.integers(0, 96, (n, t or 64)), rng.integers(0, 10, n)
    return rng.standard_normal((n, 2)).astype(dtype), rng.standard_normal((n, 1)).astype(dtype)


# name -> (model builder, optimiser (class name, kwargs), clip_grad_norm_ max norm or None)
TRAIN38 = {
    "mlp_sgd": (_t38_mlp, ("SGD", {"lr": 0.01, "momentum": 0.9}), None),
    "mlp_adam": (_t38_mlp, ("Adam", {"lr": 1e-3}), None),
    "resnet": (_t38_resnet, ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 5e-4}), None),
    "char_lstm": (_t38_char_lstm, ("Adam", {"lr": 2e-3}), 1.0),
    "seq2seq": (_t38_seq2seq, ("Adam", {"lr": 1e-3}), None),
    "transformer": (_t38_transformer, ("AdamW", {"lr": 1e-3, "weight_decay": 0.01}), 1.0),
    "tiny_mlp": (_t38_tiny, ("SGD", {"lr": 0.1}), None),
}


def train38_setup(lib, name, dtype=np.float32, **model_kwargs):
    """(model, optimiser, step(x, y) -> loss) for model `name` of TRAIN38 in `lib` (ember or
    torch); x and y are lib tensors of a `_t38_batch`."""
    make, (opt_name, opt_kwargs), clip = TRAIN38[name]
    model = make(lib, getattr(lib, np.dtype(dtype).name), **model_kwargs)
    opt = getattr(lib.optim, opt_name)(model.parameters(), **opt_kwargs)
    f = lib.nn.functional

    def loss_of(x, y):
        if name == "seq2seq":  # teacher forcing: read y[:, :-1], predict y[:, 1:]
            return f.cross_entropy(model(x, y[:, :-1]).reshape(-1, 64), y[:, 1:].reshape(-1))
        out = model(x)
        return f.mse_loss(out, y) if name == "tiny_mlp" else f.cross_entropy(out, y)

    def step(x, y):
        loss = loss_of(x, y)
        loss.backward()
        if clip is not None:
            lib.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        opt.zero_grad()
        return loss

    return model, opt, step


def _train38_case(name: str) -> dict:
    import ember

    impls = {}
    x, y = _t38_batch(_rng(), name, np.float32)
    for lib in (ember, _torch()):
        if lib is None:
            continue
        lib.manual_seed(0)
        _, _, step = train38_setup(lib, name)
        xt, yt = lib.tensor(x), lib.tensor(y)
        impls[lib.__name__] = lambda step=step, xt=xt, yt=yt: step(xt, yt)
    return impls


for _name in TRAIN38:
    workload(f"train38/{_name}", "train38")(lambda name=_name: _train38_case(name))


# ---- framework overhead -------------------------------------------------------------------


def _overhead_case() -> dict:
    import ember

    a = ember.tensor([1.0], requires_grad=True)
    b = ember.tensor([2.0], requires_grad=True)

    def ours():
        (a + b).backward(np.ones(1, np.float32))

    na, nb = np.ones(1, np.float32), np.ones(1, np.float32)
    impls = {"ember": ours, "numpy": lambda: np.add(na, nb)}
    torch = _torch()
    if torch is not None:
        ta = torch.tensor([1.0], requires_grad=True)
        tb = torch.tensor([2.0], requires_grad=True)
        tg = torch.ones(1)
        impls["torch"] = lambda: (ta + tb).backward(tg)
    return impls


workload("overhead/add_1elem/fwd+bwd", "overhead")(_overhead_case)


# ---- tensor ops: reductions, broadcasting, scans, selection, indexing backward ------------
# What users write beside the layers, at (256, 1024) float32; "fwd+bwd" ends in .sum().backward().


def _tensor_op_case(ember_fn, torch_fn, numpy_fn, arrays, backward: bool) -> dict:
    import ember

    ts = [ember.tensor(a, requires_grad=backward) for a in arrays]

    def ours():
        if backward:
            for t in ts:
                t.grad = None
            ember_fn(*ts).sum().backward()
        else:
            ember_fn(*ts)

    impls = {"ember": ours}
    if numpy_fn is not None and not backward:
        impls["numpy"] = lambda: numpy_fn(*arrays)
    torch = _torch()
    if torch is not None:
        tts = [torch.tensor(a, requires_grad=backward) for a in arrays]

        def theirs():
            if backward:
                for t in tts:
                    t.grad = None
                torch_fn(*tts).sum().backward()
            else:
                torch_fn(*tts)

        impls["torch"] = theirs
    return impls


def _lowp_bfloat16():
    import ml_dtypes

    return ml_dtypes.bfloat16


def _tensor_op_arrays():
    rng = _rng()
    x = rng.standard_normal((256, 1024)).astype(np.float32)
    return rng, x


def _register_tensor_ops() -> None:
    def same(f):  # the same expression for ember and torch tensors
        return f, f

    def add(name, fns, numpy_fn, make, backward):
        mode = "fwd+bwd" if backward else "fwd"

        def build():
            ember_fn, torch_fn = fns()
            return _tensor_op_case(ember_fn, torch_fn, numpy_fn, make(), backward)

        workload(f"tensorops/{name}/{mode}", "tensorops")(build)

    def one():
        return [_tensor_op_arrays()[1]]

    def row():
        rng, x = _tensor_op_arrays()
        return [x, rng.standard_normal(1024).astype(np.float32)]

    def col():
        rng, x = _tensor_op_arrays()
        return [x, rng.standard_normal((256, 1)).astype(np.float32) + 3]

    def index(make_key):  # x[key] for a key made when the workload is built
        def fns():
            import ember

            key = make_key()
            torch = _torch()
            tkey = torch.from_numpy(key) if torch is not None else None
            return (lambda x: x[ember.tensor(key)]), (lambda x: x[tkey])

        return fns

    @functools.cache
    def rows_key():
        return _rng().integers(0, 256, 1000)

    @functools.cache
    def mask_key():
        return _tensor_op_arrays()[1] > 0.5

    def one_1m():
        return [_rng().standard_normal((1000, 1000)).astype(np.float32)]

    def pieces():  # 64 small tensors to join
        return [row()[1] + i for i in range(64)]

    def with_rows():  # x and 1000 rows to add into it
        rng, x = _tensor_op_arrays()
        return [x, rng.standard_normal((1000, 1024)).astype(np.float32)]

    def pair(n):  # two (n, n) operands, the second away from 0 (a divisor)
        def make():
            rng = _rng()
            x = rng.standard_normal((n, n)).astype(np.float32)
            return [x, rng.standard_normal((n, n)).astype(np.float32) + 3]

        return make

    def with_row(n):
        def make():
            x, y = pair(n)()
            return [x, y[0]]

        return make

    def lib_fns(make_fn):  # make_fn(library) -> the expression in that library
        def fns():
            import ember

            torch = _torch()
            return make_fn(ember), (make_fn(torch) if torch is not None else None)

        return fns

    def normalize(lib):
        return lambda x: lib.nn.functional.normalize(x, dim=-1)

    def index_add(lib):
        idx = lib.tensor(rows_key())
        return lambda x, s: x.index_add(0, idx, s)

    def scatter_amax(lib):  # each row's values reduced into random positions of itself
        idx = lib.tensor(_rng().integers(0, 1024, (256, 1024)))
        return lambda x: x.scatter_reduce(-1, idx, x, "amax")

    cases = [
        ("sum_all", lambda: same(lambda x: x.sum()), np.sum, one),
        ("sum_lastdim", lambda: same(lambda x: x.sum(-1)), lambda x: x.sum(-1), one),
        ("mean_lastdim", lambda: same(lambda x: x.mean(-1)), lambda x: x.mean(-1), one),
        ("norm_lastdim", lambda: same(lambda x: x.norm(dim=-1)),
         lambda x: np.sqrt(np.sum(x * x, -1)), one),
        ("square", lambda: same(lambda x: x**2), np.square, one),
        ("add_row", lambda: same(lambda x, b: x + b), np.add, row),
        ("div_col", lambda: same(lambda x, b: x / b), np.divide, col),
        ("cumsum_lastdim", lambda: same(lambda x: x.cumsum(-1)), lambda x: np.cumsum(x, -1), one),
        ("cumsum_dim0", lambda: same(lambda x: x.cumsum(0)), lambda x: np.cumsum(x, 0), one),
        ("topk10_lastdim", lambda: same(lambda x: x.topk(10, -1)[0]), None, one),
        ("index_rows_1k", index(rows_key), lambda x: x[rows_key()], one),
        ("bool_mask", index(mask_key), lambda x: x[mask_key()], one),
        ("normalize_lastdim", lib_fns(normalize),
         lambda x: x / np.maximum(np.sqrt(np.sum(x * x, -1, keepdims=True)), 1e-12), one),
        ("cat_64x1024", lib_fns(lambda lib: lambda *xs: lib.cat(xs)),
         lambda *xs: np.concatenate(xs), pieces),
        ("stack_64x1024", lib_fns(lambda lib: lambda *xs: lib.stack(xs, 1)),
         lambda *xs: np.stack(xs, 1), pieces),
        ("index_add_1k_rows", lib_fns(index_add), None, with_rows),
        ("cummax_lastdim", lib_fns(lambda lib: lambda x: lib.cummax(x, -1)[0]), None, one),
        ("flip_dim0", lambda: same(lambda x: x.flip(0)),
         lambda x: np.ascontiguousarray(x[::-1]), one),
        ("einsum_rowdot", lib_fns(lambda lib: lambda x, y: lib.einsum("ij,ij->i", x, y)),
         lambda x, y: np.einsum("ij,ij->i", x, y), pair(1000)),
        ("scatter_reduce_amax_lastdim", lib_fns(scatter_amax), None, one),
        ("median_lastdim", lib_fns(lambda lib: lambda x: lib.median(x, -1)[0]), None, one),
        ("sort_stable_lastdim", lib_fns(lambda lib: lambda x: lib.sort(x, dim=-1, stable=True)[0]),
         lambda x: np.sort(x, -1, kind="stable"), one),
        ("transpose_contiguous", lambda: same(lambda x: x.T.contiguous()),
         lambda x: np.ascontiguousarray(x.T), one),
        # 16-bit casts (what every float16/bfloat16 op pays on the way in and out)
        ("to_float16", lib_fns(lambda lib: lambda x: x.to(lib.float16)),
         lambda x: x.astype(np.float16), one),
        ("to_bfloat16", lib_fns(lambda lib: lambda x: x.to(lib.bfloat16)),
         lambda x: x.astype(_lowp_bfloat16()), one),
        # binary arithmetic and copies at 1M elements (memory-bound: threads and first touch)
        # and at 32 x 32 (the per-call cost)
        *[(f"{op}_{n}x{n}", lambda f=f: same(f), u, pair(n))
          for op, f, u in [("add", lambda x, y: x + y, np.add),
                           ("sub", lambda x, y: x - y, np.subtract),
                           ("mul", lambda x, y: x * y, np.multiply),
                           ("div", lambda x, y: x / y, np.divide)]
          for n in (1000, 32)],
        *[(f"{op}_{n}x{n}", lambda f=f: same(f), u, make(n))
          for op, f, u, make in [("add_scalar", lambda x, y: x + 1.5, lambda x, y: x + 1.5, pair),
                                 ("mul_row", lambda x, r: x * r, np.multiply, with_row)]
          for n in (1000, 32)],
        ("maximum_1000x1000", lib_fns(lambda lib: lib.maximum), np.maximum, pair(1000)),
        ("clone_1000x1000", lambda: same(lambda x: x.clone()), np.copy, one_1m),
        ("double_1000x1000", lambda: same(lambda x: x.double()),
         lambda x: x.astype(np.float64), one_1m),
        ("cat_dim0_2x1000x1000", lib_fns(lambda lib: lambda *xs: lib.cat(xs)),
         lambda *xs: np.concatenate(xs), pair(1000)),
        ("stack_dim0_2x1000x1000", lib_fns(lambda lib: lambda *xs: lib.stack(xs)),
         lambda *xs: np.stack(xs), pair(1000)),
        ("matmul_kT_16x64x256", lambda: same(lambda x: x.reshape(16, 64, 256) @ x.reshape(
            16, 64, 256).transpose(-2, -1)), lambda x: (lambda q: q @ q.swapaxes(-1, -2))(
            x.reshape(16, 64, 256)), one),  # q @ k.transpose(-2, -1): a transposed view
    ]  # fmt: skip
    for name, fns, numpy_fn, make in cases:
        for backward in (False, True):
            add(name, fns, numpy_fn, make, backward)

    # The reductions at 1000x1000 (the kernels' speed) and 32x32 (the per-call cost), forward.
    def square(n):
        return lambda: [_rng().random((n, n), dtype=np.float32) + 0.1]

    reductions = [
        ("sum_all", lambda x: x.sum(), np.sum),
        ("sum_dim0", lambda x: x.sum(0), lambda x: x.sum(0)),
        ("sum_dim1", lambda x: x.sum(1), lambda x: x.sum(1)),
        ("mean_dim1", lambda x: x.mean(1), lambda x: x.mean(1)),
        ("var_dim1", lambda x: x.var(1), lambda x: x.var(1, ddof=1)),
        ("max_dim1", lambda x: x.max(1), lambda x: (x.max(1), x.argmax(1))),
        ("amax_dim1", lambda x: x.amax(1), lambda x: x.max(1)),
        ("argmax_dim1", lambda x: x.argmax(1), lambda x: x.argmax(1)),
        ("norm_all", lambda x: x.norm(), np.linalg.norm),
        ("cumsum_dim1", lambda x: x.cumsum(1), lambda x: np.cumsum(x, 1)),
        ("sort_dim1", lambda x: x.sort(1), lambda x: np.sort(x, 1)),
        ("topk5_dim1", lambda x: x.topk(5, 1), None),
    ]
    for n in (1000, 32):
        for name, f, numpy_fn in reductions:
            add(f"{name}_{n}x{n}", lambda f=f: same(f), numpy_fn, square(n), False)

    # the unary maths (C++ kernels for contiguous float32): positive inputs where the domain
    # needs them; forward, and fwd+bwd for the ones whose backward is a kernel too
    def positive():
        return [np.abs(_tensor_op_arrays()[1]) + 0.1]

    def unary(name):
        return lib_fns(lambda lib: getattr(lib, name))

    def unit():  # (-1, 1): erfinv's domain
        return [np.tanh(_tensor_op_arrays()[1])]

    unary_cases = [
        ("exp", np.exp, one), ("expm1", np.expm1, one), ("log", np.log, positive),
        ("log1p", np.log1p, positive), ("sqrt", np.sqrt, positive),
        ("rsqrt", lambda x: 1 / np.sqrt(x), positive), ("reciprocal", np.reciprocal, positive),
        ("abs", np.abs, one), ("neg", np.negative, one), ("sin", np.sin, one),
        ("cos", np.cos, one), ("exp2", np.exp2, one), ("erfinv", None, unit),
    ]  # fmt: skip
    for name, numpy_fn, make in unary_cases:
        add(name, unary(name), numpy_fn, make, False)
    for name in ("log", "sqrt", "sin"):
        add(name, unary(name), None, positive, True)

    def wide64():  # float64 in about (-12, 12): erf's tail (|x| >= 1) is most of it
        return [_tensor_op_arrays()[1].astype(np.float64) * 3]

    add("erf_float64", unary("erf"), None, wide64, False)
    clamp = lib_fns(lambda lib: lambda x: lib.clamp(x, -0.5, 0.5))
    add("clamp", clamp, lambda x: np.clip(x, -0.5, 0.5), one, False)
    add("clamp", clamp, None, one, True)


_register_tensor_ops()


def _small_op_chain_case() -> dict:
    """200 autograd ops on (16,) tensors, then backward: the framework's per-op cost."""
    import ember

    x0 = _rng().standard_normal(16).astype(np.float32)

    def chain(x):
        y = x
        for _ in range(50):
            y = (y * 1.01 + x).tanh() - 0.5
        return y.sum()

    e = ember.tensor(x0, requires_grad=True)

    def ours():
        e.grad = None
        chain(e).backward()

    impls = {"ember": ours}
    torch = _torch()
    if torch is not None:
        t = torch.tensor(x0, requires_grad=True)

        def theirs():
            t.grad = None
            chain(t).backward()

        impls["torch"] = theirs
    return impls


workload("tensorops/graph200_small/fwd+bwd", "tensorops")(_small_op_chain_case)


def _amsgrad_clip_case(kind: str) -> dict:
    """Adam(amsgrad) step and clip_grad_norm_ over 50 parameters of mixed sizes (1M values)."""
    import ember

    rng = _rng()
    sizes = rng.integers(1, 100, 50)
    arrays = [
        rng.standard_normal(int(s)).astype(np.float32) for s in sizes * 1_000_000 // sizes.sum()
    ]
    ps = [ember.nn.Parameter(a.copy()) for a in arrays]
    for p, a in zip(ps, arrays):
        p.grad = ember.tensor(a * 0.1)
    if kind == "amsgrad":
        impls = {"ember": ember.optim.Adam(ps, lr=1e-3, amsgrad=True).step}
    else:
        impls = {
            "ember": lambda: ember.nn.utils.clip_grad_norm_(ps, 1e9),
            "numpy": lambda: np.sqrt(
                sum(float(np.sum(np.square(a, dtype=np.float64))) for a in arrays)
            ),
        }
    torch = _torch()
    if torch is not None:
        tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in arrays]
        for p, a in zip(tps, arrays):
            p.grad = torch.from_numpy(a * 0.1)
        if kind == "amsgrad":
            impls["torch"] = torch.optim.Adam(tps, lr=1e-3, amsgrad=True).step
        else:
            impls["torch"] = lambda: torch.nn.utils.clip_grad_norm_(tps, 1e9)
    return impls


workload("tensorops/adam_amsgrad_step/50params_1M", "tensorops")(
    lambda: _amsgrad_clip_case("amsgrad")
)
workload("tensorops/clip_grad_norm/50params_1M", "tensorops")(lambda: _amsgrad_clip_case("clip"))


# ---- attention, layer norm, transformer layer (attention branch) --------------------------


def _sdpa_numpy(q, k, v, causal, g=None):
    """The textbook NumPy attention (materialises L x L), with its backward when g is given."""
    scale = 1.0 / np.sqrt(q.shape[-1])
    s = (q @ np.swapaxes(k, -1, -2)) * scale
    if causal:
        s = np.where(np.tril(np.ones(s.shape[-2:], dtype=bool)), s, -np.inf)
    p = np.exp(s - s.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    out = p @ v
    if g is None:
        return out
    dv = np.swapaxes(p, -1, -2) @ g
    dp = g @ np.swapaxes(v, -1, -2)
    ds = p * (dp - (dp * p).sum(-1, keepdims=True)) * scale
    return out, ds @ k, np.swapaxes(ds, -1, -2) @ q, dv


def _sdpa_case(length: int, causal: bool, backward: bool) -> dict:
    import ember
    from ember.nn import functional as F

    rng = _rng()
    shape = (8, 8, length, 64)
    q, k, v, g = (rng.standard_normal(shape).astype(np.float32) for _ in range(4))
    tq, tk, tv = (ember.tensor(a, requires_grad=backward) for a in (q, k, v))

    def ours():
        out = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
        if backward:
            out.backward(g)

    impls = {"ember": ours, "numpy": lambda: _sdpa_numpy(q, k, v, causal, g if backward else None)}
    torch = _torch()
    if torch is not None:
        xq, xk, xv = (torch.tensor(a, requires_grad=backward) for a in (q, k, v))
        xg = torch.from_numpy(g)
        sdpa = torch.nn.functional.scaled_dot_product_attention

        def theirs():
            out = sdpa(xq, xk, xv, is_causal=causal)
            if backward:
                out.backward(xg)

        impls["torch"] = theirs
    return impls


for _L in (256, 512, 1024):
    for _c in (False, True):
        for _b in (False, True):
            _name = f"sdpa/b8h8d64/L{_L}/{'causal' if _c else 'full'}/{'fwd+bwd' if _b else 'fwd'}"
            workload(_name, "attention")(lambda L=_L, c=_c, b=_b: _sdpa_case(L, c, b))


def _layer_norm_case() -> dict:
    import ember
    from ember.nn import functional as F

    rng = _rng()
    x = rng.standard_normal((8192, 1024)).astype(np.float32)
    g = rng.standard_normal((8192, 1024)).astype(np.float32)
    w = rng.standard_normal(1024).astype(np.float32)
    b = rng.standard_normal(1024).astype(np.float32)
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))

    def ours():
        F.layer_norm(xe, (1024,), we, be).backward(g)

    def numpy_ref():
        mu = x.mean(1, keepdims=True)
        rstd = 1 / np.sqrt(x.var(1, keepdims=True) + 1e-5)
        xh = (x - mu) * rstd
        y = xh * w + b
        gw = g * w
        dx = rstd * (gw - gw.mean(1, keepdims=True) - xh * (gw * xh).mean(1, keepdims=True))
        return y, dx, (g * xh).sum(0), g.sum(0)

    impls = {"ember": ours, "numpy": numpy_ref}
    torch = _torch()
    if torch is not None:
        tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        tg = torch.from_numpy(g)
        impls["torch"] = lambda: torch.nn.functional.layer_norm(tx, (1024,), tw, tb).backward(tg)
    return impls


workload("layer_norm/8192x1024/fwd+bwd", "layer_norm")(_layer_norm_case)


def _encoder_layer_case() -> dict:
    """One training step (forward, backward, SGD) of TransformerEncoderLayer(d 128, 4 heads,
    ff 512, dropout 0.1), sequence 128, batch 16, batch_first."""
    import ember
    from ember import nn

    rng = _rng()
    x = rng.standard_normal((16, 128, 128)).astype(np.float32)
    ember.manual_seed(0)
    layer = nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
    opt = ember.optim.SGD(layer.parameters(), lr=1e-3)

    def ours():
        loss = (layer(x) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()

    impls = {"ember": ours}
    torch = _torch()
    if torch is not None:
        tl = torch.nn.TransformerEncoderLayer(128, 4, 512, batch_first=True)
        topt = torch.optim.SGD(tl.parameters(), lr=1e-3)
        tx = torch.from_numpy(x)

        def theirs():
            loss = (tl(tx) ** 2).mean()
            topt.zero_grad()
            loss.backward()
            topt.step()

        impls["torch"] = theirs
    return impls


workload("transformer/encoder_layer/d128h4/s128b16/train_step", "transformer")(_encoder_layer_case)


# ---- nn ops: fused losses, activations, norms, pooling ------------------------------------
# Forward + backward of one op at a realistic training size; the gradient of the summed output
# flows into the float inputs listed in `grads`. NumPy references compute the same by hand.


def _nnop_case(arrays: tuple, ours_f, theirs_f, numpy_f=None, grads=(0,)) -> dict:
    import ember

    def wrap(make, i, a):
        return make(a, i in grads) if a.dtype.kind == "f" else a

    es = [wrap(lambda a, r: ember.tensor(a, requires_grad=r), i, a) for i, a in enumerate(arrays)]

    def ours():
        for t in es:
            if isinstance(t, ember.Tensor):
                t.grad = None
        ours_f(ember.nn.functional, *es).sum().backward()

    impls = {"ember": ours}
    if numpy_f is not None:
        impls["numpy"] = lambda: numpy_f(*arrays)
    torch = _torch()
    if torch is not None:
        ts = [
            wrap(lambda a, r: torch.tensor(a, requires_grad=r), i, a)
            if a.dtype.kind == "f"
            else torch.from_numpy(a)
            for i, a in enumerate(arrays)
        ]

        def theirs():
            for t in ts:
                t.grad = None
            theirs_f(torch.nn.functional, *ts).sum().backward()

        impls["torch"] = theirs
    return impls


def _np_mse(x, t):
    d = x - t
    return (d * d).mean(), d * (2 / d.size)


def _np_huber(x, t):  # m (|d| - m/2), m = min(|d|, 1): np.where is slow on a random mask
    d = x - t
    ad = np.abs(d)
    m = np.minimum(ad, 1)
    return (m * (ad - 0.5 * m)).mean(), np.clip(d, -1, 1) / d.size


def _np_silu(x):
    s = 1 / (1 + np.exp(-x))
    return x * s, s * (1 + x * (1 - s))


def _np_batch_norm(x, w, b):
    m, v = x.mean(0), x.var(0)
    xhat = (x - m) / np.sqrt(v + 1e-5)
    y = xhat * w + b
    g = np.ones_like(x)  # d(sum y)/dy
    dxhat = g * w
    dx = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / np.sqrt(v + 1e-5)
    return y, dx, (g * xhat).sum(0), g.sum(0)


def _nnops_cases():
    rng = _rng()
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    cases = {}
    for n, c in ((64, 10), (256, 1000)):
        x, y = r(n, c), rng.integers(0, c, n)
        cases[f"cross_entropy/{n}x{c}"] = (
            (x, y),
            lambda F, a, b: F.cross_entropy(a, b),
            lambda F, a, b: F.cross_entropy(a, b),
            _np_cross_entropy,
        )
    x, y = r(256, 1000), rng.integers(0, 1000, 256)
    cases["cross_entropy/256x1000/label_smoothing0.1"] = (
        (x, y),
        lambda F, a, b: F.cross_entropy(a, b, label_smoothing=0.1),
        lambda F, a, b: F.cross_entropy(a, b, label_smoothing=0.1),
    )
    x4, y4 = r(4, 21, 64, 64), rng.integers(0, 21, (4, 64, 64))
    cases["cross_entropy/4x21x64x64"] = (  # per-pixel classes (segmentation)
        (x4, y4),
        lambda F, a, b: F.cross_entropy(a, b),
        lambda F, a, b: F.cross_entropy(a, b),
    )
    cases["dropout/64x4096"] = (
        (r(64, 4096),),
        lambda F, a: F.dropout(a, 0.1),
        lambda F, a: F.dropout(a, 0.1),
    )
    cases["nll_loss/64x10"] = (
        (r(64, 10), rng.integers(0, 10, 64)),
        lambda F, a, b: F.nll_loss(a, b),
        lambda F, a, b: F.nll_loss(a, b),
    )
    for loss in ("mse_loss", "huber_loss"):
        cases[f"{loss}/64x4096"] = (
            (r(64, 4096), r(64, 4096)),
            lambda F, a, b, f=loss: getattr(F, f)(a, b),
            lambda F, a, b, f=loss: getattr(F, f)(a, b),
            _np_huber if loss == "huber_loss" else _np_mse,
        )
    for act in ("silu", "mish", "hardswish", "hardsigmoid", "logsigmoid"):
        cases[f"{act}/64x4096"] = (
            (r(64, 4096),),
            lambda F, a, f=act: getattr(F, f)(a),
            lambda F, a, f=act: getattr(F, f)(a),
            _np_silu if act == "silu" else None,
        )
    cases["batch_norm1d/256x512/train"] = (
        (r(256, 512), r(512), r(512)),
        lambda F, a, w, b: F.batch_norm(a, None, None, w, b, training=True),
        lambda F, a, w, b: F.batch_norm(a, None, None, w, b, training=True),
        _np_batch_norm,
        (0, 1, 2),
    )
    cases["adaptive_avg_pool2d/32x512x7x7->1"] = (
        (r(32, 512, 7, 7),),
        lambda F, a: F.adaptive_avg_pool2d(a, 1),
        lambda F, a: F.adaptive_avg_pool2d(a, 1),
        lambda a: (a.mean(axis=(2, 3)), np.broadcast_to(np.float32(1 / 49), a.shape).copy()),
    )
    cases["group_norm/32x64x16x16/g8"] = (
        (r(32, 64, 16, 16), r(64), r(64)),
        lambda F, a, w, b: F.group_norm(a, 8, w, b),
        lambda F, a, w, b: F.group_norm(a, 8, w, b),
        None,
        (0, 1, 2),
    )
    cases["pad/reflect2/16x64x32x32"] = (
        (r(16, 64, 32, 32),),
        lambda F, a: F.pad(a, (2, 2, 2, 2), mode="reflect"),
        lambda F, a: F.pad(a, (2, 2, 2, 2), mode="reflect"),
    )
    cases["interpolate/bilinear_x2/16x64x32x32"] = (
        (r(16, 64, 32, 32),),
        lambda F, a: F.interpolate(a, scale_factor=2, mode="bilinear"),
        lambda F, a: F.interpolate(a, scale_factor=2, mode="bilinear"),
    )
    for loss, kw in (
        ("binary_cross_entropy_with_logits", {}),
        ("kl_div", {"reduction": "batchmean"}),
    ):
        cases[f"{loss}/64x4096"] = (
            (r(64, 4096), rng.random((64, 4096)).astype(np.float32)),
            lambda F, a, b, f=loss, kw=kw: getattr(F, f)(a, b, **kw),
            lambda F, a, b, f=loss, kw=kw: getattr(F, f)(a, b, **kw),
        )
    bag_w, bag_i = r(50000, 256), rng.integers(0, 50000, 4096)
    for mode in ("mean", "max"):
        cases[f"embedding_bag/{mode}/50000x256/256bags"] = (
            (bag_w, bag_i, np.arange(0, 4096, 16)),
            lambda F, w, i, o, m=mode: F.embedding_bag(i, w, o, mode=m),
            lambda F, w, i, o, m=mode: F.embedding_bag(i, w, o, mode=m),
        )
    grid = (rng.random((16, 32, 32, 2)) * 2.2 - 1.1).astype(np.float32)
    cases["grid_sample/bilinear/16x32x64x64"] = (
        (r(16, 32, 64, 64), grid),
        lambda F, x, g: F.grid_sample(x, g, align_corners=False),
        lambda F, x, g: F.grid_sample(x, g, align_corners=False),
        None,
        (0, 1),
    )
    cases["adaptive_max_pool2d/16x256x14x14->4"] = (
        (r(16, 256, 14, 14),),
        lambda F, a: F.adaptive_max_pool2d(a, 4),
        lambda F, a: F.adaptive_max_pool2d(a, 4),
    )
    ctc_in = r(50, 16, 20)
    ctc_args = (rng.integers(1, 20, (16, 30)), np.full(16, 50), rng.integers(10, 30, 16))
    cases["ctc_loss/T50xN16xC20"] = (
        (ctc_in, *ctc_args),
        lambda F, a, t, il, tl: F.ctc_loss(F.log_softmax(a, 2), t, il, tl),
        lambda F, a, t, il, tl: F.ctc_loss(F.log_softmax(a, 2), t, il, tl),
    )
    cases["conv3d/k3/4x16x16x32x32"] = (
        (r(4, 16, 16, 32, 32), r(32, 16, 3, 3, 3)),
        lambda F, x, w: F.conv3d(x, w, padding=1),
        lambda F, x, w: F.conv3d(x, w, padding=1),
        None,
        (0, 1),
    )
    return cases


for _name in (
    "cross_entropy/64x10",
    "cross_entropy/256x1000",
    "cross_entropy/256x1000/label_smoothing0.1",
    "cross_entropy/4x21x64x64",
    "dropout/64x4096",
    "nll_loss/64x10",
    "mse_loss/64x4096",
    "huber_loss/64x4096",
    "silu/64x4096",
    "mish/64x4096",
    "hardswish/64x4096",
    "hardsigmoid/64x4096",
    "logsigmoid/64x4096",
    "batch_norm1d/256x512/train",
    "adaptive_avg_pool2d/32x512x7x7->1",
    "group_norm/32x64x16x16/g8",
    "pad/reflect2/16x64x32x32",
    "interpolate/bilinear_x2/16x64x32x32",
    "binary_cross_entropy_with_logits/64x4096",
    "kl_div/64x4096",
    "embedding_bag/mean/50000x256/256bags",
    "embedding_bag/max/50000x256/256bags",
    "grid_sample/bilinear/16x32x64x64",
    "adaptive_max_pool2d/16x256x14x14->4",
    "ctc_loss/T50xN16xC20",
    "conv3d/k3/4x16x16x32x32",
):
    workload(f"nnops/{_name}/fwd+bwd", "nnops")(lambda n=_name: _nnop_case(*_nnops_cases()[n]))


def _nnspeed37_cases():
    rng = _rng()
    r = lambda *s: rng.standard_normal(s).astype(np.float32)  # noqa: E731
    bag_i = rng.integers(0, 50000, 4096)
    return {
        "prelu/64x64x32x32": (
            (r(64, 64, 32, 32), np.full(64, 0.25, np.float32)),
            lambda F, a, w: F.prelu(a, w),
            lambda F, a, w: F.prelu(a, w),
            None,
            (0, 1),
        ),
        "glu/256x4096": ((r(256, 4096),), lambda F, a: F.glu(a), lambda F, a: F.glu(a)),
        "embedding_bag/sum/50000x256/256bags": (
            (r(50000, 256), bag_i, np.arange(0, 4096, 16)),
            lambda F, w, i, o: F.embedding_bag(i, w, o, mode="sum"),
            lambda F, w, i, o: F.embedding_bag(i, w, o, mode="sum"),
        ),
        "max_pool1d/k3s2/64x64x1024": (
            (r(64, 64, 1024),),
            lambda F, a: F.max_pool1d(a, 3, 2),
            lambda F, a: F.max_pool1d(a, 3, 2),
        ),
        "nll_loss/4096x10": (
            (r(4096, 10), rng.integers(0, 10, 4096)),
            lambda F, a, b: F.nll_loss(a, b),
            lambda F, a, b: F.nll_loss(a, b),
        ),
    }


def _nnop_forward_case(arrays: tuple, ours_f, theirs_f, *_) -> dict:
    """_nnop_case's inputs and functions, forward only, outside autograd."""
    import ember

    es = [ember.tensor(a) for a in arrays]

    def ours():
        with ember.no_grad():
            ours_f(ember.nn.functional, *es)

    impls = {"ember": ours}
    torch = _torch()
    if torch is not None:
        ts = [torch.from_numpy(a) for a in arrays]

        def theirs():
            with torch.no_grad():
                theirs_f(torch.nn.functional, *ts)

        impls["torch"] = theirs
    return impls


for _name in _nnspeed37_cases():  # (the rows nnspeed37 made faster)
    workload(f"nnspeed37/{_name}/fwd", "nnspeed37")(
        lambda n=_name: _nnop_forward_case(*_nnspeed37_cases()[n])
    )
    workload(f"nnspeed37/{_name}/fwd+bwd", "nnspeed37")(
        lambda n=_name: _nnop_case(*_nnspeed37_cases()[n])
    )

# ---- the table ----------------------------------------------------------------------------


def time_call(fn: Callable, min_time: float = 0.2, min_runs: int = 5, clock=time.perf_counter):
    """Best time of one call in seconds (after a warm-up call)."""
    return time_calls({"fn": fn}, min_time, min_runs, clock)["fn"]


def time_calls(
    impls: dict, min_time: float = 0.2, min_runs: int = 5, clock=time.perf_counter
) -> dict:
    """Best time of one call of each implementation, in seconds. The implementations take turns
    call by call, so a change in the machine's load hits them all alike (the machine is shared:
    minimum times are the ones to trust). Each gets about min_time seconds and min_runs calls."""
    if not impls:  # a workload without this library (--isolate times one library at a time)
        return {}
    # each sample repeats a call for >= ~0.2 ms: one microsecond call is below the CPU clock's
    # granularity (it read 0 s) and near the clock call's own cost
    reps = {}
    for name, fn in impls.items():
        t0 = time.perf_counter()
        fn()  # warm-up: first-touch pages, packing buffers, thread pools
        reps[name] = max(1, min(1000, int(2e-4 / max(time.perf_counter() - t0, 1e-9))))
    best = dict.fromkeys(impls, float("inf"))
    total = dict.fromkeys(impls, 0.0)
    runs = 0
    while runs < min_runs or min(total.values()) < min_time:
        for name, fn in impls.items():
            n = reps[name]
            t0 = clock()
            for _ in range(n):
                fn()
            dt = clock() - t0
            best[name] = min(best[name], dt / n)
            total[name] += dt
        runs += 1
    return best


def set_threads(n: int) -> object:
    """Give ember, NumPy's BLAS and PyTorch n threads; returns a handle keeping the limit."""
    import ember

    ember.set_num_threads(n)
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import sys

        print(
            "note: threadpoolctl is not installed, so NumPy's BLAS keeps its own thread count "
            '(pip install "ember[bench]")',
            file=sys.stderr,
        )
        return None
    return threadpool_limits(n)


CLOCKS = {"wall": time.perf_counter, "cpu": time.thread_time}


def run(
    only: str | None = None,
    threads: int | None = None,
    min_time: float = 0.2,
    impls: tuple = IMPLS,
    clock: str = "wall",
) -> list:
    """Time the selected workloads; returns rows of (name, {impl: seconds})."""
    limit = set_threads(threads) if threads else None
    rows = []
    for w in WORKLOADS:
        if only and only not in w.name and only != w.group:
            continue
        built = {k: f for k, f in w.build().items() if k in impls}
        rows.append((w.name, time_calls(built, min_time, clock=CLOCKS[clock])))
    del limit
    return rows


def run_isolated(
    only: str | None, threads: int | None, min_time: float, rounds: int, clock: str
) -> list:
    """Each library in its own Python process (so idle OpenBLAS / PyTorch / OpenMP threads
    spinning after their calls cannot slow the others), the processes taking turns for `rounds`
    rounds; each entry keeps its best time over all rounds."""
    import json
    import subprocess
    import sys

    best: dict = {}
    order: list = []
    for _ in range(rounds):
        for impl in IMPLS:
            cmd = [sys.executable, "-m", "ember", "bench", "--impl", impl, "--json"]
            cmd += ["--min-time", str(min_time), "--clock", clock]
            if only:
                cmd += ["--only", only]
            if threads:
                cmd += ["--threads", str(threads)]
            out = subprocess.run(cmd, capture_output=True, text=True)
            if out.returncode != 0:
                raise RuntimeError(f"{impl} benchmark process failed:\n{out.stderr}")
            for name, times in json.loads(out.stdout.splitlines()[-1]):
                if name not in best:
                    best[name] = {}
                    order.append(name)
                for k, t in times.items():
                    best[name][k] = min(t, best[name].get(k, float("inf")))
    return [(name, best[name]) for name in order]


def format_table(rows) -> str:
    head = f"{'workload':34} {'ember ms':>10} {'numpy ms':>10} {'torch ms':>10} "
    head += f"{'vs numpy':>9} {'vs torch':>9}"
    lines = [head, "-" * len(head)]
    for name, t in rows:
        cells = [f"{t[k] * 1e3:10.3f}" if k in t else f"{'-':>10}" for k in IMPLS]
        ratios = [
            f"{t[k] / t['ember']:8.2f}x" if k in t else f"{'-':>9}" for k in ("numpy", "torch")
        ]
        lines.append(f"{name:34} " + " ".join(cells) + " " + " ".join(ratios))
    lines.append("ratios: the other's time / ember's time (above 1: ember is faster)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ember bench", description=__doc__)
    p.add_argument(
        "--only",
        help="a workload group ("
        + ", ".join(sorted({w.group for w in WORKLOADS}))
        + ") or a part of a workload name",
    )
    p.add_argument("--threads", type=int, help="threads for ember, NumPy's BLAS and PyTorch")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds to time each entry")
    p.add_argument(
        "--clock",
        choices=sorted(CLOCKS),
        default="wall",
        help="wall: elapsed time; cpu: the calling thread's CPU time, which leaves out the time "
        "other processes hold the core (only with --threads 1, where every library computes in "
        "the calling thread)",
    )
    p.add_argument(
        "--isolate",
        action="store_true",
        help="run each library in its own process (they take turns, --rounds times)",
    )
    p.add_argument("--rounds", type=int, default=3, help="rounds of --isolate (best time wins)")
    p.add_argument("--impl", choices=IMPLS, help=argparse.SUPPRESS)  # one library (--isolate)
    p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # rows as JSON
    p.add_argument("--list", action="store_true", help="list the workloads and exit")
    args = p.parse_args(argv)
    if args.list:
        print("\n".join(f"{w.group:10} {w.name}" for w in WORKLOADS))
        return 0
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    if args.clock == "cpu" and args.threads != 1:
        p.error("--clock cpu needs --threads 1")
    if args.isolate:
        rows = run_isolated(args.only, args.threads, args.min_time, args.rounds, args.clock)
    else:
        impls = (args.impl,) if args.impl else IMPLS
        rows = run(args.only, args.threads, args.min_time, impls, args.clock)
    if not rows:
        p.error(f"no workload matches {args.only!r} (see --list)")
    if args.json:
        import json

        print(json.dumps(rows))
        return 0
    import ember

    mode = f"{args.clock} clock" + (
        f", isolated, best of {args.rounds} rounds" if args.isolate else ""
    )
    print(
        # --isolate measured in child processes: this one's setting is not theirs
        f"ember {ember.__version__}, {args.threads or ember.get_num_threads()} threads, "
        f"ISA {ember._C.gemm_isa()}, {mode}"
    )
    print(format_table(rows))
    return 0
