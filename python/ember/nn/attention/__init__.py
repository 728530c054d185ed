"""torch.nn.attention: the ``sdpa_kernel`` context manager that picks PyTorch's attention
backends. ember has one CPU kernel (a flash-style tiled one, exact softmax), so every backend
gives its results; the choice is checked and recorded, as scripts written for PyTorch expect."""

from __future__ import annotations

import contextlib
import enum

__all__ = ["SDPBackend", "sdpa_kernel"]


class SDPBackend(enum.IntEnum):
    ERROR = -1
    MATH = 0
    FLASH_ATTENTION = 1
    EFFICIENT_ATTENTION = 2
    CUDNN_ATTENTION = 3
    OVERRIDEABLE = 4


_current: list = [list(SDPBackend)[1:]]


@contextlib.contextmanager
def sdpa_kernel(backends, set_priority: bool = False):
    """Run the block with ``backends`` (an SDPBackend or a list of them) allowed."""
    chosen = [backends] if isinstance(backends, SDPBackend) else list(backends)
    if not chosen or not all(isinstance(b, SDPBackend) for b in chosen):
        raise TypeError(f"sdpa_kernel: expected SDPBackend values, got {backends!r}")
    _current.append(chosen)
    try:
        yield
    finally:
        _current.pop()
