"""Lead's session-34 tests: the C fast methods (csrc/bindings/bind_fast.cpp) hold the arrays they
read while their kernels run with the GIL released (review27 F1: another thread's `t.data = ...`
freed the array mid-kernel, a segfault)."""

import subprocess
import sys
import textwrap

import pytest

_SWAP = textwrap.dedent(
    """
    import threading, numpy as np, ember
    n = 1 << 22
    a = ember.tensor(np.ones(n, np.float32)); b = ember.tensor(np.ones(n, np.float32))
    c = ember.tensor(np.ones(n, np.float32))
    stop = False
    def swapper():
        while not stop:
            a.data = np.full(n, 2.0, np.float32)  # the old array is freed unless held
    t = threading.Thread(target=swapper); t.start()
    try:
        for _ in range(15):
            y = {op}
            v = y.numpy()
            assert (v == v.flat[0]).all(), "a result mixes two arrays"
    finally:
        stop = True; t.join()
    print("ok")
    """
)


@pytest.mark.parametrize(
    "op",
    [
        "a + b",
        "a * 3.0",
        "1 - a",
        "2 / a",
        "a ** 2",
        "a.exp()",
        "abs(a)",
        "a > 1.5",
        "a == b",
        "ember.add(a, b)",
        "a.sin()",
        "c.add_(a)",
    ],
)
def test_fast_methods_survive_another_thread_swapping_data(op):
    run = subprocess.run(
        [sys.executable, "-c", _SWAP.format(op=op)], capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", (run.returncode, run.stderr[-500:])


def test_schedulers_take_numpy_integer_periods_as_torch():
    torch = pytest.importorskip("torch")
    import numpy as np

    import ember

    def lrs(lib, period):
        opt = lib.optim.SGD([lib.nn.Parameter(lib.ones(2))], lr=1.0)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=period, gamma=0.5)
        out = []
        for _ in range(5):
            opt.step()
            sched.step()
            out.append(opt.param_groups[0]["lr"])
        return out

    assert lrs(ember, np.int64(2)) == lrs(torch, np.int64(2)) == [1.0, 0.5, 0.5, 0.25, 0.25]
    opt = ember.optim.SGD([ember.nn.Parameter(ember.ones(2))], lr=1.0)
    ember.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=np.int32(3))
    with pytest.raises(ValueError, match="step_size must be a positive int"):
        ember.optim.lr_scheduler.StepLR(opt, step_size=np.int64(0))
