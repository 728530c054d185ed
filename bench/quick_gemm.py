"""Quick GEMM timing table: ember vs NumPy (OpenBLAS) vs PyTorch, as ratios of best times.

Run with the thread count fixed for every library, and without the OpenBLAS tuning variables
that slow NumPy down on this machine, e.g.:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
        python bench/quick_gemm.py --threads 1
A ratio > 1 means ember is faster.
"""

import argparse
import time

import numpy as np
from ember import _C

try:
    import torch
except ImportError:  # pragma: no cover
    torch = None

# (name, dtype, M, N, K, trans_a, trans_b)
SHAPES = [
    ("f32 n=64", np.float32, 64, 64, 64),
    ("f32 n=128", np.float32, 128, 128, 128),
    ("f32 n=256", np.float32, 256, 256, 256),
    ("f32 n=512", np.float32, 512, 512, 512),
    ("f32 n=1024", np.float32, 1024, 1024, 1024),
    ("f32 n=2048", np.float32, 2048, 2048, 2048),
    ("f64 n=256", np.float64, 256, 256, 256),
    ("f64 n=1024", np.float64, 1024, 1024, 1024),
    ("mlp 64x784@784x256", np.float32, 64, 256, 784),
    ("mlp 64x256@256x10", np.float32, 64, 10, 256),
    ("mlp dX 64x256@(784x256)^T", np.float32, 64, 784, 256, False, True),
    ("mlp dW (64x784)^T@64x256", np.float32, 784, 256, 64, True, False),
    ("mlp dX 64x10@(256x10)^T", np.float32, 64, 256, 10, False, True),
    ("mlp dW (64x256)^T@64x10", np.float32, 256, 10, 64, True, False),
]


def best_interleaved(fns, budget=0.3, min_reps=5):
    """Best time of each function, calling them in turns so load from other processes on the
    machine hits all of them alike."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    start = time.perf_counter()
    while len(times[0]) < min_reps or time.perf_counter() - start < budget * len(fns):
        for fn, ts in zip(fns, times):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        if len(times[0]) > 2000:
            break
    return [min(ts) for ts in times]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--budget", type=float, default=0.3)
    args = ap.parse_args()
    _C.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    print(f"isa={_C.gemm_isa()} threads={args.threads}")
    cols = ["ember", "numpy", "torch"]
    print(f"{'workload':28s} " + " ".join(f"{c:>10s}" for c in cols) + "   np/em   th/em")
    rng = np.random.default_rng(0)
    for name, dt, m, n, k, *trans in SHAPES:
        ta, tb = trans or (False, False)
        if args.only and args.only not in name:
            continue
        a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
        b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
        op_a, op_b = (a.T if ta else a), (b.T if tb else b)
        fns = [
            lambda a=a, b=b, ta=ta, tb=tb: _C.gemm(a, b, None, ta, tb),
            lambda a=op_a, b=op_b: a @ b,
        ]
        if torch is not None:
            xa, xb = torch.from_numpy(a), torch.from_numpy(b)
            xa, xb = (xa.T if ta else xa), (xb.T if tb else xb)
            fns.append(lambda xa=xa, xb=xb: xa @ xb)
        te, tn, *rest = best_interleaved(fns, args.budget)
        tt = rest[0] if rest else float("nan")
        print(
            f"{name:28s} {te * 1e6:9.1f}u {tn * 1e6:9.1f}u {tt * 1e6:9.1f}u "
            f"{tn / te:7.2f} {tt / te:7.2f}"
        )


if __name__ == "__main__":
    main()
