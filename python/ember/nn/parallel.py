"""``nn.DataParallel`` on a CPU-only package: PyTorch code that wraps its model for several GPUs
(``if ngpu > 1: net = nn.DataParallel(net)``) runs unchanged. There is one device, so the
wrapper runs its module on the whole batch, as torch's DataParallel does without GPUs; its
state_dict keys carry the ``module.`` prefix as torch's do."""

from __future__ import annotations

from ember.nn.modules.module import Module


class DataParallel(Module):
    def __init__(self, module: Module, device_ids=None, output_device=None, dim: int = 0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: expected an nn.Module, got {type(module).__name__}")
        self.module = module
        self.device_ids = []  # torch's value when no GPU is available
        self.output_device = None
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)


def data_parallel(module, inputs, device_ids=None, output_device=None, dim=0, module_kwargs=None):
    """Torch's functional form: ``module(*inputs, **module_kwargs)`` on the one device."""
    if not isinstance(inputs, tuple):
        inputs = (inputs,) if inputs is not None else ()
    return module(*inputs, **(module_kwargs or {}))
