"""torch.nn.utils.convert_conv2d_weight_memory_format / convert_conv3d_weight_memory_format:
the weights of a model's convolutions laid out in a memory format (channels_last), in place."""

from __future__ import annotations

from ember import _layout


def _convert(module, memory_format, kinds: tuple):
    from ember.nn.modules import conv

    wanted = tuple(getattr(conv, k) for k in kinds)
    if isinstance(module, wanted):
        w = module.weight
        w.data = _layout.relayout(w.data, memory_format)
    for child in module.children():
        _convert(child, memory_format, kinds)
    return module


def convert_conv2d_weight_memory_format(module, memory_format):
    """Every Conv2d / ConvTranspose2d weight in ``module`` in ``memory_format``; returns it."""
    _layout.check_format(memory_format)
    return _convert(module, memory_format, ("Conv2d", "ConvTranspose2d"))


def convert_conv3d_weight_memory_format(module, memory_format):
    """Every Conv3d / ConvTranspose3d weight in ``module`` in ``memory_format``; returns it."""
    _layout.check_format(memory_format)
    return _convert(module, memory_format, ("Conv3d", "ConvTranspose3d"))
