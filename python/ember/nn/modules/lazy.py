"""LazyModuleMixin: layers whose input size is read from their first input, as PyTorch's
Lazy* modules (LazyLinear, LazyConv*, LazyConvTranspose*, LazyBatchNorm*, LazyInstanceNorm*)."""

from __future__ import annotations

import numpy as np

from ember.nn.modules.module import Parameter
from ember.tensor import Tensor


class _Uninitialized:
    """What UninitializedParameter and UninitializedBuffer share: an empty array until
    ``materialize(shape)`` gives it storage and the class it stands for (``cls_to_become``)."""

    __slots__ = ()
    cls_to_become: type

    def materialize(self, shape, device=None, dtype=None) -> None:
        self.data = np.empty(tuple(shape), np.dtype(dtype) if dtype else self.data.dtype)
        self.__class__ = self.cls_to_become

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


class UninitializedParameter(_Uninitialized, Parameter):
    """A lazy module's parameter before its first forward (torch's name, for ``isinstance``
    tests); a Parameter once materialised."""

    __slots__ = ()
    cls_to_become = Parameter


class UninitializedBuffer(_Uninitialized, Tensor):
    """A lazy module's buffer before its first forward; a Tensor once materialised."""

    __slots__ = ()
    cls_to_become = Tensor


class LazyModuleMixin:
    """Before the first forward the size-dependent parameters and buffers are empty (the lazy
    size is 0); the first forward reads the size from the input, allocates them, initialises
    them as the regular layer does, and turns the module into ``cls_to_become`` (so create
    optimisers after a first dry-run forward, as in PyTorch).

    Subclasses name the size attribute (``_lazy_attr``), how to read it from the input
    (``_lazy_size``) and the shapes it gives (``_lazy_shapes``)."""

    cls_to_become = None
    _lazy_attr = ""

    def has_uninitialized_params(self) -> bool:
        return True  # a materialised module has become cls_to_become

    def _lazy_resize(self, n: int) -> None:
        # replace in place in the registries: state_dict keeps PyTorch's key order
        object.__setattr__(self, self._lazy_attr, n)
        for name, shape in self._lazy_shapes(n).items():
            registry = self._parameters if name in self._parameters else self._buffers
            old = registry[name]
            if old is None:
                continue
            arr = np.zeros(shape, old.data.dtype)
            if isinstance(old, Parameter):
                new = (Parameter if n else UninitializedParameter)(arr)
            else:
                new = (Tensor if n else UninitializedBuffer)(arr)
            registry[name] = new
            object.__setattr__(self, name, new)

    def reset_parameters(self) -> None:
        # as PyTorch: nothing to initialise before the size is known (and no zero-element
        # warning from nn.init)
        if getattr(self, self._lazy_attr):
            super().reset_parameters()

    def initialize_parameters(self, input, *args, **kwargs) -> None:
        self._lazy_resize(int(self._lazy_size(input)))
        self.reset_parameters()

    def forward(self, *args, **kwargs):
        self.initialize_parameters(*args, **kwargs)
        self.__class__ = self.cls_to_become
        return self.forward(*args, **kwargs)
