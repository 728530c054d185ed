"""``torch.cpu``: the device ember runs on."""

from __future__ import annotations

from ember.amp import GradScaler, autocast  # noqa: F401  (torch.cpu.amp's names)


def is_available() -> bool:
    return True


def device_count() -> int:
    return 1


def current_device() -> str:
    return "cpu"


def synchronize(device=None) -> None:
    """Nothing runs asynchronously on the CPU."""


__all__ = ["current_device", "device_count", "is_available", "synchronize"]
