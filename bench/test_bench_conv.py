"""conv2d / pooling / batch norm kernels: ember vs a NumPy im2col reference vs PyTorch.

Run: pytest bench/test_bench_conv.py --benchmark-enable --benchmark-group-by=group
Targets (with the fast GEMM): conv >= 0.7x torch and >= 5x NumPy; pooling/BN >= 1x torch.
"""

import numpy as np
import pytest

from ember import _C

# name: (N, C, H, W, O, k, stride, pad)
CONV = {
    "lenet_1to6_28_k5": (64, 1, 28, 28, 6, 5, 1, 0),
    "c64_32_k3": (32, 64, 32, 32, 64, 3, 1, 1),
    "c128_28_k3": (8, 128, 28, 28, 128, 3, 1, 1),
    "c3to32_32_k3_s2": (32, 3, 32, 32, 32, 3, 2, 1),
}
IMPLS = ["ember", "numpy", "torch"]


def _np_cols(x, k, s, p):
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
    k = w.shape[2]
    cols, (OH, OW), padded = _np_cols(x, k, s, p)
    N, O = dy.shape[:2]
    g = dy.reshape(N, O, -1)
    dw = np.einsum("nop,nkp->ok", g, cols, optimize=True).reshape(w.shape)
    dcols = np.matmul(w.reshape(O, -1).T, g).reshape(N, x.shape[1], k, k, OH, OW)
    dxp = np.zeros(padded, x.dtype)
    for i in range(k):
        for j in range(k):
            dxp[:, :, i : i + s * (OH - 1) + 1 : s, j : j + s * (OW - 1) + 1 : s] += dcols[
                :, :, i, j
            ]
    return dxp[:, :, p : p + x.shape[2], p : p + x.shape[3]], dw, g.sum((0, 2))


def _conv_data(name):
    N, C, H, W, O, k, s, p = CONV[name]
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(np.float32)
    w = (rng.standard_normal((O, C, k, k)) / np.sqrt(C * k * k)).astype(np.float32)
    b = rng.standard_normal(O).astype(np.float32)
    return x, w, b, s, p


def _conv_fn(impl, name, backward):
    x, w, b, s, p = _conv_data(name)
    if impl == "ember":
        y = _C.conv2d_forward(x, w, b, (s, s), (p, p))
        dy = np.ones_like(y)
        if not backward:
            return lambda: _C.conv2d_forward(x, w, b, (s, s), (p, p))
        return lambda: (
            _C.conv2d_forward(x, w, b, (s, s), (p, p)),
            _C.conv2d_backward(dy, x, w, (s, s), (p, p)),
        )
    if impl == "numpy":
        if not backward:
            return lambda: np_conv_forward(x, w, b, s, p)
        dy = np.ones_like(np_conv_forward(x, w, b, s, p))
        return lambda: (np_conv_forward(x, w, b, s, p), np_conv_backward(dy, x, w, s, p))
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=backward)
    wt = torch.tensor(w, requires_grad=backward)
    bt = torch.tensor(b, requires_grad=backward)
    if not backward:

        def fwd():
            with torch.no_grad():
                return F.conv2d(xt, wt, bt, s, p)

        return fwd

    def fwd_bwd():
        xt.grad = wt.grad = bt.grad = None
        F.conv2d(xt, wt, bt, s, p).sum().backward()

    return fwd_bwd


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(CONV))
def test_conv_forward(benchmark, name, impl):
    benchmark.group = f"conv2d forward {name}"
    benchmark(_conv_fn(impl, name, False))


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("name", list(CONV))
def test_conv_forward_backward(benchmark, name, impl):
    benchmark.group = f"conv2d forward+backward {name}"
    benchmark(_conv_fn(impl, name, True))


SHAPE = (32, 64, 32, 32)


def _pool_bn_fn(op, impl):
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SHAPE).astype(np.float32)
    C = SHAPE[1]
    w, b = np.ones(C, np.float32), np.zeros(C, np.float32)
    if impl == "ember":
        if op == "max_pool2d":
            y, idx = _C.max_pool2d_forward(x, (2, 2), (2, 2))
            dy = np.ones_like(y)
            return lambda: _C.max_pool2d_backward(
                dy, _C.max_pool2d_forward(x, (2, 2), (2, 2))[1], x.shape
            )
        if op == "avg_pool2d":
            dy = np.ones_like(_C.avg_pool2d_forward(x, (2, 2), (2, 2)))
            return lambda: (
                _C.avg_pool2d_forward(x, (2, 2), (2, 2)),
                _C.avg_pool2d_backward(dy, x.shape, (2, 2), (2, 2)),
            )
        rm, rv = np.zeros(C, np.float32), np.ones(C, np.float32)
        dy = np.ones_like(x)

        def bn():
            y, sm, si = _C.batch_norm_forward(x, w, b, rm, rv, True, 0.1, 1e-5)
            return _C.batch_norm_backward(dy, x, w, sm, si, True)

        return bn
    if impl == "numpy":
        if op == "max_pool2d":

            def mp():
                v = (
                    x.reshape(32, 64, 16, 2, 16, 2)
                    .transpose(0, 1, 2, 4, 3, 5)
                    .reshape(32, 64, 16, 16, 4)
                )
                a = v.argmax(-1)
                y = np.take_along_axis(v, a[..., None], -1)[..., 0]
                dv = np.zeros_like(v)
                np.put_along_axis(dv, a[..., None], 1.0, -1)
                return y, dv

            return mp
        if op == "avg_pool2d":
            return lambda: (
                x.reshape(32, 64, 16, 2, 16, 2).mean((3, 5)),
                np.repeat(np.repeat(np.full((32, 64, 16, 16), 0.25, np.float32), 2, 2), 2, 3),
            )

        def bn_np():
            m = x.mean((0, 2, 3), keepdims=True)
            v = x.var((0, 2, 3), keepdims=True)
            inv = 1 / np.sqrt(v + 1e-5)
            xhat = (x - m) * inv
            dy = np.ones_like(x)
            db = dy.sum((0, 2, 3), keepdims=True)
            dw = (dy * xhat).sum((0, 2, 3), keepdims=True)
            n = x.size // C
            return xhat, inv * (dy - db / n - xhat * dw / n)

        return bn_np
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    xt = torch.tensor(x, requires_grad=True)
    wt, bt = torch.tensor(w, requires_grad=True), torch.tensor(b, requires_grad=True)
    rmt, rvt = torch.zeros(C), torch.ones(C)

    def run():
        xt.grad = wt.grad = bt.grad = None
        if op == "max_pool2d":
            y = F.max_pool2d(xt, 2, 2)
        elif op == "avg_pool2d":
            y = F.avg_pool2d(xt, 2, 2)
        else:
            y = F.batch_norm(xt, rmt, rvt, wt, bt, True, 0.1, 1e-5)
        y.backward(torch.ones_like(y))

    return run


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("op", ["max_pool2d", "avg_pool2d", "batch_norm"])
def test_pool_bn_forward_backward(benchmark, op, impl):
    benchmark.group = f"{op} forward+backward {SHAPE}"
    benchmark(_pool_bn_fn(op, impl))
