"""skip_init (PyTorch's torch.nn.utils.init)."""

from __future__ import annotations

from ember.nn.modules.module import Module


def skip_init(module_cls, *args, **kwargs):
    """An instance of ``module_cls(*args, **kwargs)`` whose parameters and buffers hold
    uninitialised memory (fill them yourself). ember has no meta device, so the module is
    built normally and its storage then replaced (``to_empty``)."""
    if not (isinstance(module_cls, type) and issubclass(module_cls, Module)):
        raise RuntimeError(f"Expected a Module; got {module_cls}")
    kwargs.pop("device", None)
    return module_cls(*args, **kwargs).to_empty(device="cpu")
