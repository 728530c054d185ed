"""``torch.utils.data.distributed``: ``DistributedSampler`` from ``ember.data``."""

from ember.data import DistributedSampler  # noqa: F401
