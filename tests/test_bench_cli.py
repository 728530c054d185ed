"""The `python -m ember bench` command line, end to end on one tiny workload."""

import subprocess
import sys

import pytest


@pytest.mark.parametrize("isolate", [False, True])
def test_bench_reports_the_thread_count_it_measured_with(isolate):
    cmd = [sys.executable, "-m", "ember", "bench", "--only", "gemm/f32/64", "--threads", "1"]
    cmd += ["--min-time", "0.01"] + (["--isolate", "--rounds", "1"] if isolate else [])
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    header, *rows = out.stdout.splitlines()
    assert ", 1 threads," in header
    assert any(r.startswith("gemm/f32/64 ") for r in rows)
