"""torch.jit's entry points, for scripts written against PyTorch. ember has no TorchScript
compiler: ``script``, ``trace`` and ``freeze`` give back the function or module unchanged (it
runs eagerly, with the same results), the decorators are no-ops, and ``save`` / ``load`` of a
compiled program are refused (save the ``state_dict`` with ``ember.save`` instead)."""

from __future__ import annotations

__all__ = [
    "Final", "annotate", "export", "freeze", "ignore", "is_scripting", "is_tracing", "load",
    "optimize_for_inference", "save", "script", "trace", "trace_module", "unused",
]  # fmt: skip


def script(obj, optimize=None, _frames_up: int = 0, _rcb=None, example_inputs=None):
    """The function or module itself (run eagerly)."""
    return obj


def trace(func, example_inputs=None, *args, **kwargs):
    """The function or module itself: ember does not record a trace, so data-dependent control
    flow keeps working."""
    if not callable(func):
        raise TypeError(f"trace: expected a function or module, got {type(func).__name__}")
    return func


def trace_module(mod, inputs=None, *args, **kwargs):
    return mod


def freeze(mod, preserved_attrs=None, optimize_numerics: bool = True):
    return mod


def optimize_for_inference(mod, other_methods=None):
    return mod


def _decorator(fn=None, **kwargs):
    """Usable bare (``@ignore``) or called (``@ignore(drop=True)``)."""
    if fn is None or not callable(fn):
        return lambda f: f
    return fn


ignore = unused = export = _decorator


def is_scripting() -> bool:
    return False


def is_tracing() -> bool:
    return False


def annotate(the_type, the_value):
    return the_value


class _FinalMeta(type):
    def __getitem__(cls, item):
        return item


class Final(metaclass=_FinalMeta):
    """``Final[int]`` annotations on module attributes: the type itself."""


def save(m, f, _extra_files=None):
    raise NotImplementedError(
        "ember.jit.save: ember has no TorchScript programs to save; save the model's "
        "state_dict with ember.save(model.state_dict(), path) instead"
    )


def load(f, map_location=None, _extra_files=None):
    raise NotImplementedError(
        "ember.jit.load: ember cannot load TorchScript programs; build the model in Python and "
        "load its state_dict (ember.load)"
    )
