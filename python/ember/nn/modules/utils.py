"""torch.nn.modules.utils' tuple helpers, which custom layers import: ``_pair(3) == (3, 3)``,
``_pair((1, 2)) == (1, 2)``."""

from __future__ import annotations

import itertools
from collections.abc import Iterable


def _ntuple(n: int, name: str = "parse"):
    def parse(x):
        if isinstance(x, Iterable) and not isinstance(x, str):
            return tuple(x)
        return tuple(itertools.repeat(x, n))

    parse.__name__ = name
    return parse


_single = _ntuple(1, "_single")
_pair = _ntuple(2, "_pair")
_triple = _ntuple(3, "_triple")
_quadruple = _ntuple(4, "_quadruple")


def _reverse_repeat_tuple(t, n: int) -> tuple:
    """Each element of t repeated n times, in reverse order: F.pad's layout for per-dim
    padding, ``((1, 2), 2) -> (2, 2, 1, 1)``."""
    return tuple(x for x in reversed(t) for _ in range(n))
