"""``torch.cuda``'s availability checks: ember runs on the CPU only, so there is never a GPU."""

from types import SimpleNamespace

from ember.amp import GradScaler, autocast


def is_available() -> bool:
    return False


def device_count() -> int:
    return 0


def manual_seed(seed: int) -> None:
    """No GPU generator to seed (``torch.cuda.manual_seed`` is a no-op without CUDA too)."""


manual_seed_all = manual_seed


def synchronize(device=None) -> None:
    """Nothing runs asynchronously on the CPU."""


def empty_cache() -> None:
    """No GPU memory to release (a no-op without CUDA in torch too)."""


def memory_allocated(device=None) -> int:
    """Bytes of GPU memory held by tensors: always 0 (torch's answer without CUDA)."""
    return 0


max_memory_allocated = memory_reserved = max_memory_reserved = memory_allocated


def current_device() -> int:
    raise RuntimeError("ember runs on the CPU only: there is no CUDA device")


def get_device_name(device=None) -> str:
    return current_device()


amp = SimpleNamespace(GradScaler=GradScaler, autocast=autocast)  # torch.cuda.amp's names
