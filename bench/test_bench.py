"""pytest-benchmark over ember's workload registry: each workload is a benchmark group with
ember, NumPy and PyTorch (when installed) side by side.

    python -m pytest bench --benchmark-enable [-k gemm] [--benchmark-group-by=group]

Set EMBER_BENCH_THREADS=n to give every library n threads.
"""

import os

import pytest

from ember import benchmarks

CASES = [(w, impl) for w in benchmarks.WORKLOADS for impl in benchmarks.IMPLS]


@pytest.fixture(scope="session", autouse=True)
def _threads():
    n = os.environ.get("EMBER_BENCH_THREADS")
    handle = benchmarks.set_threads(int(n)) if n else None
    yield handle


_built: dict = {}


@pytest.mark.parametrize("workload,impl", CASES, ids=[f"{w.name}[{i}]" for w, i in CASES])
def test_workload(benchmark, workload, impl):
    if workload.name not in _built:
        _built[workload.name] = workload.build()
    impls = _built[workload.name]
    if impl not in impls:
        pytest.skip(f"{impl} is not installed")
    benchmark.group = workload.name
    benchmark(impls[impl])
