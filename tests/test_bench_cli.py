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


def test_training_step_workloads_train_the_same_model_in_both_libraries():
    """Each `steps` workload runs one step of ember's model; with torch installed, torch's
    copy of the model (the same code) has the same parameter count."""
    import ember
    from ember import benchmarks

    steps = [w for w in benchmarks.WORKLOADS if w.group == "steps"]
    assert len(steps) == 6
    for w in steps:
        impls = w.build()
        impls["ember"]()
        assert set(impls) <= {"ember", "torch"}
    torch = pytest.importorskip("torch")
    for make in (benchmarks._mobilenet, benchmarks._gpt, benchmarks._lstm_lm):
        sizes = [sum(p.numel() for p in make(lib)[0].parameters()) for lib in (ember, torch)]
        assert sizes[0] == sizes[1]
