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


amp = SimpleNamespace(GradScaler=GradScaler, autocast=autocast)  # torch.cuda.amp's names
