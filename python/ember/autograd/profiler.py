"""``torch.autograd.profiler``, the older path to the profiler: ``profile(enabled=True, ...)``
and ``record_function``, recording as ``ember.profiler.profile`` does."""

from ember.profiler import profile as _profile
from ember.profiler import record_function

__all__ = ["profile", "record_function"]


class profile(_profile):  # noqa: N801  (torch's name)
    def __init__(
        self, enabled: bool = True, *, use_cuda: bool = False, record_shapes: bool = False, **kw
    ):
        super().__init__(enabled=enabled, record_shapes=record_shapes)
