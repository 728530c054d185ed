"""``torch.profiler`` for ember: where a step's time goes, op by op and kernel by kernel.

While a ``profile`` is recording, three levels are timed, nested as they run:

- ``ember::<Op>``: each autograd ``Function`` (``Function.apply``), e.g. ``ember::Conv2d``;
- ``_C::<kernel>``: each C++ kernel call (every ``ember._C`` function), e.g. ``_C::gemm``;
- ``autograd::backward`` around each backward pass, and the ranges named by ``record_function``.

Timing is done by wrapping those entry points only while recording, so code outside a
``profile`` pays nothing. NumPy work between kernels counts in its op's self time. Ops that
skip ``Function.apply`` (reductions and arithmetic of tensors that need no grad) show as their
kernels.

    with ember.profiler.profile(record_shapes=True) as prof:
        with ember.profiler.record_function("train_step"):
            loss = model(x).sum(); loss.backward()
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=10))
    prof.export_chrome_trace("trace.json")  # chrome://tracing or ui.perfetto.dev
"""

from __future__ import annotations

import enum
import functools
import json
import os
import threading
import time
from collections import defaultdict

__all__ = [
    "ProfilerAction",
    "ProfilerActivity",
    "profile",
    "record_function",
    "schedule",
    "tensorboard_trace_handler",
]


class ProfilerActivity(enum.Enum):
    CPU = 0
    CUDA = 1  # accepted; ember has no GPU, so nothing is recorded for it


class ProfilerAction(enum.Enum):
    NONE = 0
    WARMUP = 1
    RECORD = 2
    RECORD_AND_SAVE = 3


def schedule(*, wait: int, warmup: int, active: int, repeat: int = 0, skip_first: int = 0):
    """torch's step schedule: after ``skip_first`` steps, cycles of ``wait`` idle, ``warmup``
    and ``active`` recorded steps (the last one saves), ``repeat`` times (0: forever)."""
    if wait < 0 or warmup < 0 or active <= 0 or repeat < 0 or skip_first < 0:
        raise ValueError("schedule: wait, warmup, repeat, skip_first >= 0 and active > 0")

    def action(step: int) -> ProfilerAction:
        if step < skip_first:
            return ProfilerAction.NONE
        step -= skip_first
        cycle = wait + warmup + active
        if repeat and step >= cycle * repeat:
            return ProfilerAction.NONE
        pos = step % cycle
        if pos < wait:
            return ProfilerAction.NONE
        if pos < wait + warmup:
            return ProfilerAction.WARMUP
        return ProfilerAction.RECORD if pos < cycle - 1 else ProfilerAction.RECORD_AND_SAVE

    return action


class _Event:
    __slots__ = ("name", "start", "end", "children_time", "shapes", "tid")

    def __init__(self, name: str, start: float, shapes):
        self.name, self.start, self.end = name, start, start
        self.children_time, self.shapes = 0.0, shapes
        self.tid = threading.get_ident()

    @property
    def cpu_time_total(self) -> float:  # microseconds, as torch reports
        return (self.end - self.start) * 1e6

    @property
    def self_cpu_time_total(self) -> float:
        return self.cpu_time_total - self.children_time * 1e6


_active: list = []  # the profiles recording now (innermost last)
_stack: list = []  # open events, for self time


def _shapes(args) -> list:
    out = []
    for a in args:
        shape = getattr(a, "shape", None)
        out.append(list(shape) if shape is not None else [])
    return out


def _open(name: str, args=()) -> _Event | None:
    if not _active:
        return None
    event = _Event(name, time.perf_counter(), _shapes(args) if _active[-1].record_shapes else [])
    _stack.append(event)
    return event


def _close(event: _Event | None) -> None:
    if event is None:
        return
    event.end = time.perf_counter()
    _stack.pop()
    if _stack:
        _stack[-1].children_time += event.end - event.start
    for prof in _active:
        prof._events.append(event)


def _timed(fn, name: str):
    @functools.wraps(fn)
    def timed(*args, **kwargs):
        event = _open(name, args)
        try:
            return fn(*args, **kwargs)
        finally:
            _close(event)

    return timed


class record_function:  # noqa: N801  (torch's name)
    """A named range in the profile: a context manager or a decorator."""

    def __init__(self, name: str, args: str | None = None):
        self.name = name
        self._event = None

    def __enter__(self):
        self._event = _open(self.name)
        return self

    def __exit__(self, *exc):
        _close(self._event)
        return False

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            with record_function(self.name):
                return fn(*args, **kwargs)

        return wrapped


class _Patches:
    """The entry points timed while any profile records, wrapped on first use, restored last."""

    count = 0
    saved: list = []

    @classmethod
    def install(cls) -> None:
        cls.count += 1
        if cls.count > 1:
            return
        from ember import _C
        from ember.autograd import engine
        from ember.autograd.function import Function

        targets = [
            (_C, n, f"_C::{n}")
            for n in dir(_C)
            if not n.startswith("_")
            and callable(getattr(_C, n))
            and not isinstance(getattr(_C, n), type)
        ]
        targets.append((engine, "backward", "autograd::backward"))
        for owner, name, label in targets:
            original = getattr(owner, name)
            cls.saved.append((owner, name, original))
            setattr(owner, name, _timed(original, label))
        apply = Function.__dict__["apply"]
        cls.saved.append((Function, "apply", apply))

        def timed_apply(fn_cls, *args, **kwargs):
            event = _open(f"ember::{fn_cls.__name__}", args)
            try:
                return apply.__func__(fn_cls, *args, **kwargs)
            finally:
                _close(event)

        Function.apply = classmethod(timed_apply)

    @classmethod
    def remove(cls) -> None:
        cls.count -= 1
        if cls.count == 0:
            for owner, name, original in reversed(cls.saved):
                setattr(owner, name, original)
            cls.saved.clear()


class _Average:
    """torch's FunctionEventAvg: one row of ``key_averages()``."""

    def __init__(self, key: str, input_shapes):
        self.key, self.input_shapes = key, input_shapes
        self.count = 0
        self.cpu_time_total = self.self_cpu_time_total = 0.0

    def add(self, event: _Event) -> None:
        self.count += 1
        self.cpu_time_total += event.cpu_time_total
        self.self_cpu_time_total += event.self_cpu_time_total

    @property
    def cpu_time(self) -> float:
        return self.cpu_time_total / max(self.count, 1)

    def __repr__(self):
        return (
            f"<FunctionEventAvg key={self.key} self_cpu_time={self.self_cpu_time_total:.3f}us "
            f"cpu_time={self.cpu_time_total:.3f}us count={self.count}>"
        )


def _fmt(us: float) -> str:
    if us >= 1e6:
        return f"{us / 1e6:.3f}s"
    if us >= 1e3:
        return f"{us / 1e3:.3f}ms"
    return f"{us:.3f}us"


class EventList(list):
    def table(self, sort_by: str | None = None, row_limit: int = 100, header=None, **kwargs):
        rows = list(self)
        if sort_by is not None:
            if rows and not hasattr(rows[0], sort_by):
                raise ValueError(f"table: cannot sort by {sort_by!r}")
            rows.sort(key=lambda r: getattr(r, sort_by), reverse=True)
        if row_limit is not None and row_limit > 0:
            rows = rows[:row_limit]
        total = sum(r.self_cpu_time_total for r in self) or 1.0
        shapes = any(getattr(r, "input_shapes", None) for r in rows)
        width = max([len("Name")] + [len(r.key) for r in rows]) + 2
        cols = ["Self CPU %", "Self CPU", "CPU total %", "CPU total", "CPU time avg", "# of Calls"]
        line = "-" * width + "  " + "  ".join("-" * 12 for _ in cols)
        head = "Name".rjust(width) + "  " + "  ".join(c.rjust(12) for c in cols)
        if shapes:
            line += "  " + "-" * 40
            head += "  " + "Input Shapes".rjust(40)
        out = [header] if header else []
        out += [line, head, line]
        for r in rows:
            cells = [
                f"{100 * r.self_cpu_time_total / total:.2f}%",
                _fmt(r.self_cpu_time_total),
                f"{100 * r.cpu_time_total / total:.2f}%",
                _fmt(r.cpu_time_total),
                _fmt(r.cpu_time),
                str(r.count),
            ]
            text = r.key.rjust(width) + "  " + "  ".join(c.rjust(12) for c in cells)
            if shapes:
                text += "  " + str(r.input_shapes).rjust(40)
            out.append(text)
        out += [line, f"Self CPU time total: {_fmt(total)}", ""]
        return "\n".join(out)

    def total_average(self):
        avg = _Average("Total", None)
        for r in self:
            avg.count += r.count
            avg.cpu_time_total += r.cpu_time_total
            avg.self_cpu_time_total += r.self_cpu_time_total
        return avg


class profile:  # noqa: N801  (torch's name)
    """Record ember's ops and kernels while the ``with`` block runs (see the module doc)."""

    def __init__(
        self,
        activities=None,
        *,
        schedule=None,
        on_trace_ready=None,
        record_shapes: bool = False,
        profile_memory: bool = False,
        with_stack: bool = False,
        with_flops: bool = False,
        with_modules: bool = False,
        experimental_config=None,
        execution_trace_observer=None,
        acc_events: bool = False,
        use_cuda=None,
        enabled: bool = True,
    ):
        for a in activities or ():
            if not isinstance(a, ProfilerActivity):
                raise TypeError(f"profile: activities must be ProfilerActivity, got {a!r}")
        self.record_shapes = record_shapes
        self.enabled = enabled
        self._schedule = schedule
        self._on_trace_ready = on_trace_ready
        self._events: list = []
        self._step = 0
        self._recording = False

    # -- recording --------------------------------------------------------------------------
    def _start(self) -> None:
        if not self._recording:
            self._recording = True
            _Patches.install()
            _active.append(self)

    def _stop(self) -> None:
        if self._recording:
            self._recording = False
            _active.remove(self)
            _Patches.remove()

    def _action(self) -> ProfilerAction:
        return self._schedule(self._step) if self._schedule else ProfilerAction.RECORD

    def start(self):
        if self.enabled and self._action() in (
            ProfilerAction.RECORD,
            ProfilerAction.RECORD_AND_SAVE,
        ):
            self._start()
        return self

    def stop(self) -> None:
        was = self._recording
        self._stop()
        if was and self._on_trace_ready is not None and self._schedule is None:
            self._on_trace_ready(self)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False

    def step(self) -> None:
        """The end of a training step, for ``schedule``: records or not, saves at cycle ends."""
        if self._schedule is None or not self.enabled:
            return
        finished = self._action()
        self._step += 1
        if finished is ProfilerAction.RECORD_AND_SAVE:
            self._stop()
            if self._on_trace_ready is not None:
                self._on_trace_ready(self)
        recording = self._action() in (ProfilerAction.RECORD, ProfilerAction.RECORD_AND_SAVE)
        if recording and not self._recording:
            self._events = []  # a new cycle's trace (the last one stays readable until then)
            self._start()

    # -- results ----------------------------------------------------------------------------
    def events(self) -> EventList:
        return EventList(self._events)

    def key_averages(self, group_by_input_shape: bool = False, **kwargs) -> EventList:
        groups: dict = {}
        for e in self._events:
            shapes = e.shapes if group_by_input_shape else None
            key = (e.name, str(shapes) if shapes is not None else None)
            if key not in groups:
                groups[key] = _Average(e.name, shapes)
            groups[key].add(e)
        return EventList(groups.values())

    def export_chrome_trace(self, path) -> None:
        """The events as Chrome trace JSON (chrome://tracing, ui.perfetto.dev)."""
        t0 = min((e.start for e in self._events), default=0.0)
        trace = [
            {
                "name": e.name,
                "ph": "X",
                "cat": "cpu_op",
                "ts": (e.start - t0) * 1e6,
                "dur": e.cpu_time_total,
                "pid": os.getpid(),
                "tid": e.tid,
                "args": {"Input Shapes": e.shapes} if e.shapes else {},
            }
            for e in self._events
        ]
        with open(os.fspath(path), "w") as f:
            json.dump({"traceEvents": trace, "displayTimeUnit": "ms"}, f)


def tensorboard_trace_handler(dir_name: str, worker_name: str | None = None):
    """An ``on_trace_ready`` that writes each trace as ``<worker>.<n>.pt.trace.json`` in
    ``dir_name``, where TensorBoard's profiler plugin finds it."""
    counter = defaultdict(int)

    def handler(prof: profile) -> None:
        os.makedirs(dir_name, exist_ok=True)
        name = worker_name or f"{os.uname().nodename}_{os.getpid()}"
        counter[name] += 1
        prof.export_chrome_trace(os.path.join(dir_name, f"{name}.{counter[name]}.pt.trace.json"))

    return handler
