"""Shared benchmark settings: EMBER_BENCH_THREADS fixes the thread count of ember and PyTorch.

NumPy's OpenBLAS reads its thread count at import, so set it in the same command, and drop the
OpenBLAS tuning variables this environment may export (they slow NumPy down), e.g.:
    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE EMBER_BENCH_THREADS=1 OPENBLAS_NUM_THREADS=1 \
        python -m pytest bench --benchmark-enable
"""

import os

import pytest
from ember import _C


@pytest.fixture(autouse=True, scope="session")
def bench_threads():
    value = os.environ.get("EMBER_BENCH_THREADS")
    if not value:
        yield None
        return
    n = int(value)
    original = _C.get_num_threads()
    _C.set_num_threads(n)
    try:
        import torch
    except ImportError:
        torch = None
    torch_original = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(n)
    yield n
    _C.set_num_threads(original)
    if torch is not None:
        torch.set_num_threads(torch_original)
