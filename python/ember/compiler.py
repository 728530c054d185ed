"""``torch.compiler``'s switches, as libraries call them around code they compile: ember runs
everything eagerly (``ember.compile`` returns its model as it is), so nothing is ever being
compiled and each decorator returns its function unchanged."""

from __future__ import annotations


def is_compiling() -> bool:
    return False


is_dynamo_compiling = is_exporting = is_compiling


def disable(fn=None, recursive: bool = True, *, reason: str | None = None):
    """``@torch.compiler.disable`` (with or without arguments)."""
    return (lambda f: f) if fn is None else fn


def allow_in_graph(fn):
    return fn


def assume_constant_result(fn):
    return fn


def reset() -> None:
    """No compiled graphs to drop."""


def set_stance(
    stance: str = "default", *, skip_guard_eval_unsafe: bool = False, force_backend=None
):
    """Recorded nowhere: there is one stance, eager."""


__all__ = [
    "allow_in_graph", "assume_constant_result", "disable", "is_compiling",
    "is_dynamo_compiling", "is_exporting", "reset", "set_stance",
]  # fmt: skip
