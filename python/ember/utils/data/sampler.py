"""``torch.utils.data.sampler``: the samplers of ``ember.data``."""

from ember.data import (  # noqa: F401
    BatchSampler,
    DistributedSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)
