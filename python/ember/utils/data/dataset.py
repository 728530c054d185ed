"""``torch.utils.data.dataset``: the dataset classes of ``ember.data``."""

from ember.data import (  # noqa: F401
    ChainDataset,
    ConcatDataset,
    Dataset,
    IterableDataset,
    StackDataset,
    Subset,
    TensorDataset,
    random_split,
)
