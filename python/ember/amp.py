"""``torch.amp``: autocast and GradScaler, as mixed-precision training scripts call them.

Inside ``autocast('cpu', dtype=ember.bfloat16)`` (or float16) the ops on torch's CPU autocast
lists compute as torch's do: matrix products, convolutions and attention in the autocast dtype,
losses and linear algebra in float32 (ember/_autocast.py). ``autocast('cuda')`` only answers
the state queries (ember has no GPU). GradScaler works as PyTorch's (scale the loss, unscale the
gradients, skip a step whose gradients overflowed, grow or back off the scale), so a script's
loop runs unchanged; with float32 gradients it only rarely has anything to do.
"""

from __future__ import annotations

import numpy as np

from ember import _autocast
from ember.autograd.function import no_grad

# What torch.is_autocast_enabled / get_autocast_dtype report, per device type: autocast blocks
# set it; the CPU entry is what ember/_autocast.py's wrappers read.
_autocast_state = {"cpu": [False, "bfloat16"], "cuda": [False, "float16"]}
_autocast_cache = [True]


def _state_of(device_type: str) -> list:
    return _autocast_state.setdefault(device_type, [False, "float16"])


class autocast:  # noqa: N801 (PyTorch's name)
    """A context manager and decorator (see the module docstring); inside it
    ``is_autocast_enabled`` and ``get_autocast_dtype`` answer as torch's."""

    def __init__(
        self, device_type: str = "cpu", dtype=None, enabled: bool = True, cache_enabled=None
    ):
        self.device_type, self.fast_dtype, self.enabled = device_type, dtype, enabled
        if device_type == "cpu" and enabled and not _autocast.check_dtype(dtype):
            self.enabled = False

    def __enter__(self):
        state = _state_of(self.device_type)
        self._prev = list(state)
        state[0] = bool(self.enabled)
        if self.fast_dtype is not None:
            state[1] = self.fast_dtype
        if self.device_type == "cpu":
            _autocast.enter()
        return self

    def __exit__(self, *exc):
        _state_of(self.device_type)[:] = self._prev
        if self.device_type == "cpu":
            _autocast.leave()
        return False

    def __call__(self, fn):
        import functools

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with autocast(self.device_type, self.fast_dtype, self.enabled):
                return fn(*args, **kwargs)

        return wrapper


def is_autocast_enabled(device_type: str | None = None) -> bool:
    return _state_of(device_type or "cuda")[0]


def get_autocast_dtype(device_type: str):
    return _dtype(_state_of(device_type)[1])


def set_autocast_enabled(device_type, enabled=None) -> None:
    if enabled is None:  # the legacy one-argument form: the CUDA flag
        device_type, enabled = "cuda", device_type
    _state_of(device_type)[0] = bool(enabled)


def set_autocast_dtype(device_type: str, dtype) -> None:
    _state_of(device_type)[1] = dtype


def is_autocast_cache_enabled() -> bool:
    return _autocast_cache[0]


def set_autocast_cache_enabled(enabled: bool) -> None:
    _autocast_cache[0] = bool(enabled)


def clear_autocast_cache() -> None:
    """No cast copies are kept."""


def _dtype(d):
    import ember

    return getattr(ember, d) if isinstance(d, str) else d


class GradScaler:
    """Dynamic loss scaling (PyTorch's defaults); ``enabled=False`` passes everything through."""

    def __init__(
        self,
        device: str = "cuda",
        init_scale: float = 65536.0,
        growth_factor: float = 2.0,
        backoff_factor: float = 0.5,
        growth_interval: int = 2000,
        enabled: bool = True,
    ):
        self._enabled = enabled
        self._scale = float(init_scale)
        self._growth_factor, self._backoff_factor = growth_factor, backoff_factor
        self._growth_interval = growth_interval
        self._growth_tracker = 0
        self._unscaled: dict[int, bool] = {}  # id(optimizer) -> found inf/nan in its grads
        self._found_inf = False

    def is_enabled(self) -> bool:
        return self._enabled

    def get_scale(self) -> float:
        return self._scale if self._enabled else 1.0

    def scale(self, outputs):
        if not self._enabled:
            return outputs
        if isinstance(outputs, list | tuple):
            return type(outputs)(self.scale(o) for o in outputs)
        return outputs * self._scale

    def unscale_(self, optimizer) -> None:
        if not self._enabled:
            return
        if id(optimizer) in self._unscaled:
            raise RuntimeError(
                "unscale_() has already been called on this optimizer since the last update()."
            )
        inv = 1.0 / self._scale
        found = False
        with no_grad():
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        p.grad.mul_(inv)
                        found = found or not bool(np.isfinite(p.grad.data).all())
        self._unscaled[id(optimizer)] = found

    def step(self, optimizer, *args, **kwargs):
        if not self._enabled:
            return optimizer.step(*args, **kwargs)
        if id(optimizer) not in self._unscaled:
            self.unscale_(optimizer)
        if self._unscaled[id(optimizer)]:
            self._found_inf = True
            return None  # skipped: the gradients overflowed
        return optimizer.step(*args, **kwargs)

    def update(self, new_scale=None) -> None:
        if not self._enabled:
            return
        if new_scale is not None:
            self._scale = float(new_scale)
        elif self._found_inf:
            self._scale *= self._backoff_factor
            self._growth_tracker = 0
        else:
            self._growth_tracker += 1
            if self._growth_tracker == self._growth_interval:
                self._scale *= self._growth_factor
                self._growth_tracker = 0
        self._unscaled.clear()
        self._found_inf = False

    def state_dict(self) -> dict:
        if not self._enabled:
            return {}
        return {
            "scale": self._scale,
            "growth_factor": self._growth_factor,
            "backoff_factor": self._backoff_factor,
            "growth_interval": self._growth_interval,
            "_growth_tracker": self._growth_tracker,
        }

    def load_state_dict(self, state: dict) -> None:
        self._scale = float(state["scale"])
        self._growth_factor, self._backoff_factor = state["growth_factor"], state["backoff_factor"]
        self._growth_interval, self._growth_tracker = (
            state["growth_interval"],
            state["_growth_tracker"],
        )
