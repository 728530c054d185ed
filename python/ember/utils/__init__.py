"""PyTorch's ``torch.utils`` namespace, for code written against it: ``ember.utils.data`` is
``ember.data``; ``ember.utils.checkpoint`` is activation checkpointing."""

from ember.utils import checkpoint, data

__all__ = ["checkpoint", "data"]
