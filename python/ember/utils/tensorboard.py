"""torch.utils.tensorboard's ``SummaryWriter``, on the tensorboardX package (``pip install
ember[tensorboard]``), which writes the same event files TensorBoard reads. ember tensors
given to any ``add_*`` method are passed on as NumPy arrays; ``add_graph`` needs TorchScript
tracing, which ember does not have, and raises."""

from __future__ import annotations

import functools

from ember.tensor import Tensor

try:
    import tensorboardX as _tbx
except ImportError as e:  # as torch's, which needs the tensorboard package
    raise ImportError(
        "ember.utils.tensorboard needs the tensorboardX package: pip install tensorboardX "
        "(or pip install 'ember[tensorboard]')"
    ) from e

__all__ = ["SummaryWriter"]


def _numpy(x):
    """Tensors (also inside dicts, lists and tuples) as NumPy arrays."""
    if isinstance(x, Tensor):
        return x.detach().numpy()
    if isinstance(x, dict):
        return {k: _numpy(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return type(x)(_numpy(v) for v in x)
    return x


def _converting(name: str):
    base = getattr(_tbx.SummaryWriter, name)

    @functools.wraps(base)
    def method(self, *args, **kwargs):
        return base(self, *_numpy(args), **_numpy(kwargs))

    return method


class SummaryWriter(_tbx.SummaryWriter):
    """``SummaryWriter(log_dir=None, comment='', purge_step=None, max_queue=10,
    flush_secs=120, filename_suffix='')``: logs scalars, histograms, images, text,
    embeddings, hparams, ... under ``log_dir`` (default ``runs/<date>_<host><comment>``)."""

    def add_graph(self, model, input_to_model=None, verbose=False, use_strict_trace=True):
        raise NotImplementedError(
            "SummaryWriter.add_graph traces the model with TorchScript, which ember does not "
            "have; log scalars, histograms and images instead"
        )


for _name in dir(_tbx.SummaryWriter):
    if _name.startswith("add_") and _name != "add_graph":
        setattr(SummaryWriter, _name, _converting(_name))
