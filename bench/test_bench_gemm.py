"""GEMM workloads, ember vs NumPy (OpenBLAS) vs PyTorch side by side, one group per workload.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE EMBER_BENCH_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        python -m pytest bench/test_bench_gemm.py --benchmark-enable
"""

import ember  # noqa: F401  (the package under test; its kernels are ember._C)
import numpy as np
import pytest
from ember import _C

# (group, dtype, M, N, K, trans_a, trans_b): C (M, N) = op(A) (M, K) @ op(B) (K, N).
WORKLOADS = [
    ("f32 n=64", np.float32, 64, 64, 64, False, False),
    ("f32 n=128", np.float32, 128, 128, 128, False, False),
    ("f32 n=256", np.float32, 256, 256, 256, False, False),
    ("f32 n=512", np.float32, 512, 512, 512, False, False),
    ("f32 n=1024", np.float32, 1024, 1024, 1024, False, False),
    ("f32 n=2048", np.float32, 2048, 2048, 2048, False, False),
    ("f64 n=256", np.float64, 256, 256, 256, False, False),
    ("f64 n=1024", np.float64, 1024, 1024, 1024, False, False),
    # An MLP 784-256-10 at batch 64: forward x @ W, then dX = dY @ W^T and dW = X^T @ dY.
    ("mlp fwd 64x784@784x256", np.float32, 64, 256, 784, False, False),
    ("mlp fwd 64x256@256x10", np.float32, 64, 10, 256, False, False),
    ("mlp dX 64x256@(784x256)^T", np.float32, 64, 784, 256, False, True),
    ("mlp dW (64x784)^T@64x256", np.float32, 784, 256, 64, True, False),
    ("mlp dX 64x10@(256x10)^T", np.float32, 64, 256, 10, False, True),
    ("mlp dW (64x256)^T@64x10", np.float32, 256, 10, 64, True, False),
]


def operands(dtype, M, N, K, trans_a, trans_b):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M) if trans_a else (M, K)).astype(dtype)
    b = rng.standard_normal((N, K) if trans_b else (K, N)).astype(dtype)
    return a, b


def workload_id(w):
    return "".join(c if c.isalnum() else "_" for c in w[0])


@pytest.mark.parametrize("lib", ["ember", "numpy", "torch"])
@pytest.mark.parametrize("workload", WORKLOADS, ids=workload_id)
def test_gemm(benchmark, workload, lib):
    group, dtype, M, N, K, ta, tb = workload
    benchmark.group = f"gemm {group}"
    a, b = operands(dtype, M, N, K, ta, tb)
    if lib == "ember":
        result = benchmark(_C.gemm, a, b, None, ta, tb)
    elif lib == "numpy":
        op_a, op_b = (a.T if ta else a), (b.T if tb else b)
        result = benchmark(np.matmul, op_a, op_b)
    else:
        torch = pytest.importorskip("torch")
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        xa, xb = (xa.T if ta else xa), (xb.T if tb else xb)
        result = benchmark(torch.matmul, xa, xb).numpy()
    assert result.shape == (M, N)
