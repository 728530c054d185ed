"""``torch.utils.data.dataloader``: ``DataLoader`` and its collate functions from ``ember.data``."""

from ember.data import DataLoader, default_collate, default_convert, get_worker_info  # noqa: F401
