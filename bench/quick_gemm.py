"""Quick GEMM timing table: ember vs NumPy (OpenBLAS) vs PyTorch, as ratios of best times.

Run with the thread count fixed for every library, and without the OpenBLAS tuning variables
that slow NumPy down on this machine, e.g.:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE OPENBLAS_NUM_THREADS=1 \
        python bench/quick_gemm.py --threads 1
A ratio > 1 means ember is faster. With --threads 1 the libraries take turns in one process (so
load from other processes hits all alike); with more threads each library runs in its own
process.
"""

import argparse
import json
import subprocess
import sys
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


def make_fns(dt, m, n, k, ta, tb):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dt)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dt)
    op_a, op_b = (a.T if ta else a), (b.T if tb else b)
    fns = {
        "ember": lambda: _C.gemm(a, b, None, ta, tb),
        "numpy": lambda: op_a @ op_b,
    }
    if torch is not None:
        xa, xb = torch.from_numpy(a), torch.from_numpy(b)
        xa, xb = (xa.T if ta else xa), (xb.T if tb else xb)
        fns["torch"] = lambda: xa @ xb
    return fns


def selected(args):
    for name, dt, m, n, k, *trans in SHAPES:
        if not args.only or args.only in name:
            yield name, dt, m, n, k, *(trans or (False, False))


def worker(args):
    """One library in its own process: no other thread pool spins beside it."""
    times = {}
    for name, *shape in selected(args):
        fn = make_fns(*shape).get(args.worker)
        times[name] = best_interleaved([fn], args.budget)[0] if fn else float("nan")
    print(json.dumps(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--only", default="")
    ap.add_argument("--budget", type=float, default=0.3)
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    _C.set_num_threads(args.threads)
    if torch is not None:
        torch.set_num_threads(args.threads)
    if args.worker:
        return worker(args)
    print(f"isa={_C.gemm_isa()} threads={args.threads}")
    cols = ["ember", "numpy", "torch"]
    print(f"{'workload':28s} " + " ".join(f"{c:>10s}" for c in cols) + "   np/em   th/em")
    if args.threads > 1:
        # Libraries in separate processes: idle OpenBLAS / OpenMP pools keep spinning after a
        # call and would steal the cores from the next library's threads.
        res = {}
        for lib in cols:
            cmd = [sys.executable, __file__, "--worker", lib] + sys.argv[1:]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            res[lib] = json.loads(out.strip().splitlines()[-1])
        rows = [(name, *(res[lib][name] for lib in cols)) for name, *_ in selected(args)]
    else:
        rows = []
        for name, *shape in selected(args):
            fns = make_fns(*shape)
            t = best_interleaved(list(fns.values()), args.budget)
            rows.append((name, *t, *([float("nan")] * (3 - len(t)))))
    for name, te, tn, tt in rows:
        print(
            f"{name:28s} {te * 1e6:9.1f}u {tn * 1e6:9.1f}u {tt * 1e6:9.1f}u "
            f"{tn / te:7.2f} {tt / te:7.2f}"
        )


if __name__ == "__main__":
    main()
