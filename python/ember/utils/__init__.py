"""PyTorch's ``torch.utils`` namespace, for code written against it: ``ember.utils.data`` is
``ember.data``."""

from ember.utils import data

__all__ = ["data"]
