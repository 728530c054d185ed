"""Softmax and activation kernels: ember vs NumPy vs torch (skipped when absent).

Run: pytest bench/test_bench_softmax.py --benchmark-enable --benchmark-group-by=group
(pin threads with OMP_NUM_THREADS=1 for the one-thread comparison; torch follows it too).
"""

import math

import numpy as np
import pytest

from ember import _C

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

SOFTMAX_CASES = {"last-4096x1000": ((4096, 1000), -1), "mid-32x1000x64": ((32, 1000, 64), 1)}
N_ACT = 1 << 22


def _np_softmax(x, dim):
    e = np.exp(x - x.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def _np_softmax_fb(x, dy, dim):
    y = _np_softmax(x, dim)
    return y * (dy - (dy * y).sum(axis=dim, keepdims=True))


def _impl(name, fns):
    if name == "torch" and torch is None:
        pytest.skip("torch not installed")
    return fns[name]


@pytest.fixture(autouse=True)
def _torch_threads():
    if torch is not None:
        torch.set_num_threads(_C.get_num_threads())


@pytest.mark.parametrize("impl", ["ember", "numpy", "torch"])
@pytest.mark.parametrize("case", sorted(SOFTMAX_CASES))
def test_softmax_forward(benchmark, case, impl):
    shape, dim = SOFTMAX_CASES[case]
    benchmark.group = f"softmax forward {case}"
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    fns = {
        "ember": lambda: _C.softmax_forward(x, dim),
        "numpy": lambda: _np_softmax(x, dim),
        "torch": lambda: torch.softmax(torch.from_numpy(x), dim) if torch else None,
    }
    benchmark(_impl(impl, fns))


@pytest.mark.parametrize("impl", ["ember", "numpy", "torch"])
@pytest.mark.parametrize("case", sorted(SOFTMAX_CASES))
def test_softmax_forward_backward(benchmark, case, impl):
    shape, dim = SOFTMAX_CASES[case]
    benchmark.group = f"softmax forward+backward {case}"
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)

    def ember_fb():
        return _C.softmax_backward(_C.softmax_forward(x, dim), dy, dim)

    def torch_fb():
        xt = torch.from_numpy(x)
        y = torch._softmax(xt, dim, False)
        return torch._softmax_backward_data(torch.from_numpy(dy), y, dim, xt.dtype)

    fns = {"ember": ember_fb, "numpy": lambda: _np_softmax_fb(x, dy, dim), "torch": torch_fb}
    benchmark(_impl(impl, fns))


def _np_gelu_fb(x, dy):
    erf = np.vectorize(math.erf, otypes=[np.float32])
    cdf = 0.5 * (1 + erf(x / np.float32(math.sqrt(2))))
    y = x * cdf
    return y, dy * (cdf + x * np.exp(-0.5 * x * x) / np.float32(math.sqrt(2 * math.pi)))


def _np_sigmoid_fb(x, dy):
    y = 1 / (1 + np.exp(-x))
    return y, dy * (1 - y) * y


@pytest.mark.parametrize("impl", ["ember", "numpy", "torch"])
@pytest.mark.parametrize("act", ["gelu", "sigmoid"])
def test_activation_forward_backward(benchmark, act, impl):
    benchmark.group = f"{act} forward+backward 4M float32"
    rng = np.random.default_rng(0)
    n = N_ACT if not (act == "gelu" and impl == "numpy") else N_ACT // 16  # math.erf is slow
    x = rng.standard_normal(n).astype(np.float32)
    dy = rng.standard_normal(n).astype(np.float32)

    def ember_fb():
        y = _C.activation_forward(act, x)
        return _C.activation_backward(act, dy, y if act == "sigmoid" else x)

    def torch_fb():
        xt, gt = torch.from_numpy(x), torch.from_numpy(dy)
        if act == "gelu":
            return torch.ops.aten.gelu_backward(gt, xt), torch.nn.functional.gelu(xt)
        y = torch.sigmoid(xt)
        return torch.ops.aten.sigmoid_backward(gt, y)

    fns = {
        "ember": ember_fb,
        "numpy": lambda: (_np_gelu_fb if act == "gelu" else _np_sigmoid_fb)(x, dy),
        "torch": torch_fb,
    }
    if impl == "numpy" and act == "gelu":
        benchmark.extra_info["note"] = "numpy gelu on N/16 elements (math.erf per element)"
    benchmark(_impl(impl, fns))
