"""ember.profiler: ops, kernels and named ranges timed as they nest, torch's table and trace."""

import json

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd.function import Function
from ember.profiler import ProfilerActivity, profile, record_function, schedule


def step(model, x):
    model(x).sum().backward()


@pytest.fixture
def model():
    ember.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 4))


def test_ops_kernels_and_ranges_are_recorded_nested(model):
    x = ember.rand(4, 3, 8, 8)
    with profile(activities=[ProfilerActivity.CPU], record_shapes=True) as prof:
        with record_function("train_step"):
            step(model, x)
    rows = {r.key: r for r in prof.key_averages()}
    for name in ("train_step", "ember::Conv2d", "_C::conv2d_forward", "_C::conv2d_backward"):
        assert rows[name].count == 1, name
    assert rows["autograd::backward"].count == 1 and rows["_C::gemm"].count >= 1
    # self times add up to the outermost range's total, which holds everything
    total = sum(r.self_cpu_time_total for r in rows.values())
    np.testing.assert_allclose(total, rows["train_step"].cpu_time_total, rtol=1e-6)
    conv = rows["ember::Conv2d"]
    assert conv.self_cpu_time_total <= conv.cpu_time_total
    by_shape = prof.key_averages(group_by_input_shape=True)
    kernel = next(r for r in by_shape if r.key == "_C::conv2d_forward")
    assert kernel.input_shapes[:3] == [[4, 3, 8, 8], [8, 3, 3, 3], [8]]


def test_table_and_chrome_trace(model, tmp_path):
    with profile() as prof:
        step(model, ember.rand(2, 3, 8, 8))
    table = prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=5)
    assert (
        "Self CPU time total" in table and len(table.splitlines()) == 5 + 5
    )  # 3 header lines, 2 footer
    with pytest.raises(ValueError, match="sort by"):
        prof.key_averages().table(sort_by="no_such_column")
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(path)
    events = json.loads(path.read_text())["traceEvents"]
    assert {"ember::Conv2d", "_C::conv2d_forward"} <= {e["name"] for e in events}
    assert all(e["ph"] == "X" and e["dur"] >= 0 for e in events)


def test_entry_points_are_restored_even_after_an_error(model):
    apply = Function.__dict__["apply"]
    gemm = ember._C.gemm
    with pytest.raises(RuntimeError, match="boom"), profile():
        step(model, ember.rand(1, 3, 8, 8))
        raise RuntimeError("boom")
    assert Function.__dict__["apply"] is apply and ember._C.gemm is gemm
    with profile() as outside:  # nothing recorded after the block
        pass
    step(model, ember.rand(1, 3, 8, 8))
    assert outside.events() == []


def test_record_function_as_a_decorator():
    @record_function("double")
    def double(t):
        return t * 2

    with profile() as prof:
        double(ember.ones(3))
        double(ember.ones(3))
    assert next(r for r in prof.key_averages() if r.key == "double").count == 2


def test_schedule_records_active_steps_and_hands_each_cycle_over(model, tmp_path):
    action = schedule(wait=1, warmup=1, active=2, repeat=2)
    assert [action(i).name for i in range(9)] == [
        "NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE",
        "NONE", "WARMUP", "RECORD", "RECORD_AND_SAVE", "NONE",
    ]  # fmt: skip
    counts = []
    x = ember.rand(1, 3, 8, 8)
    with profile(schedule=action, on_trace_ready=lambda p: counts.append(len(p.events()))) as p:
        for _ in range(10):
            step(model, x)
            p.step()
    with profile() as one:
        step(model, x)
    assert counts == [2 * len(one.events())] * 2  # two cycles, two recorded steps each
    handler = ember.profiler.tensorboard_trace_handler(str(tmp_path / "tb"), "worker")
    handler(one)
    assert (tmp_path / "tb" / "worker.1.pt.trace.json").exists()


def test_bad_arguments():
    with pytest.raises(TypeError, match="ProfilerActivity"):
        profile(activities=["cpu"])
    with pytest.raises(ValueError, match="active > 0"):
        schedule(wait=0, warmup=0, active=0)


def test_the_autograd_profiler_path(model):
    with ember.autograd.profiler.profile(record_shapes=True) as prof:
        with ember.autograd.profiler.record_function("step"):
            step(model, ember.rand(1, 3, 8, 8))
    assert {"step", "ember::Conv2d"} <= {r.key for r in prof.key_averages()}
    with ember.autograd.profiler.profile(enabled=False) as off:
        step(model, ember.rand(1, 3, 8, 8))
    assert off.events() == []
