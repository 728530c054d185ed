"""``torch.distributed`` as a single process sees it before ``init_process_group``: scripts
test ``is_available() and is_initialized()`` before they reduce across ranks. ember runs in one
process, so there is never a process group to join."""

from __future__ import annotations


def is_available() -> bool:
    return False


def is_initialized() -> bool:
    return False


def is_torchelastic_launched() -> bool:
    return False


def _no_group(*args, **kwargs):
    raise ValueError(
        "Default process group has not been initialized, please make sure to call "
        "init_process_group."
    )


get_rank = get_world_size = barrier = all_reduce = broadcast = all_gather = _no_group


def init_process_group(*args, **kwargs):
    raise RuntimeError(
        "ember runs in one process: there is no distributed backend to initialise "
        "(nn.DataParallel and DistributedSampler work with one rank)"
    )


__all__ = [
    "all_gather", "all_reduce", "barrier", "broadcast", "get_rank", "get_world_size",
    "init_process_group", "is_available", "is_initialized", "is_torchelastic_launched",
]  # fmt: skip
