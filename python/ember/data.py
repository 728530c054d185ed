"""Datasets and batching with PyTorch's names: Dataset, TensorDataset, Subset, random_split,
DataLoader. Shuffling draws from ember's generator (``ember.manual_seed``) or from the NumPy
``generator`` given, so a seed fixes every epoch's order."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ember.random import default_generator
from ember.tensor import Tensor

__all__ = ["DataLoader", "Dataset", "Subset", "TensorDataset", "default_collate", "random_split"]


class Dataset:
    """Map-style dataset: ``__getitem__(i)`` and ``__len__()``."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


def _as_array(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Rows of arrays (or Tensors) of equal length: ``dataset[i] == (a[i], b[i], ...)``."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one array")
        self.tensors = tuple(_as_array(t) for t in tensors)
        n = [len(t) if t.ndim else -1 for t in self.tensors]
        if len(set(n)) != 1 or n[0] < 0:
            raise ValueError(f"TensorDataset: arrays must share their first dimension, got {n}")

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def _get_batch(self, indices: np.ndarray):
        return tuple(t[indices] for t in self.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index):
        if isinstance(index, list | np.ndarray):
            return self.dataset[self.indices[index]]
        return self.dataset[int(self.indices[index])]

    def _get_batch(self, indices: np.ndarray):
        if hasattr(self.dataset, "_get_batch"):
            return self.dataset._get_batch(self.indices[indices])
        return None

    def __len__(self) -> int:
        return len(self.indices)


def random_split(dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random Subsets of the given lengths (or
    fractions summing to 1, the remainder spread round-robin as PyTorch does)."""
    n = len(dataset)
    lengths = list(lengths)
    if lengths and all(isinstance(x, float) for x in lengths) and math.isclose(sum(lengths), 1):
        if any(x < 0 for x in lengths):
            raise ValueError(f"random_split: fractions must be >= 0, got {lengths}")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
    if any(isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 0 for x in lengths):
        raise ValueError(
            f"random_split: lengths must be non-negative ints or fractions, got {lengths}"
        )
    if sum(lengths) != n:
        raise ValueError(
            f"random_split: sum of input lengths ({sum(lengths)}) does not equal the length "
            f"of the input dataset ({n})"
        )
    rng = generator if generator is not None else default_generator()
    perm = rng.permutation(n)
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start : start + k]))
        start += k
    return out


def default_collate(batch):
    """Stack a list of samples into a batch: tuples field by field, arrays / numbers /
    Tensors into Tensors with a leading batch dimension, dicts key by key."""
    first = batch[0]
    if isinstance(first, tuple | list):
        if any(len(b) != len(first) for b in batch):
            raise ValueError("default_collate: samples have different numbers of fields")
        return type(first)(default_collate([b[i] for b in batch]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: default_collate([b[k] for b in batch]) for k in first}
    arrays = [_as_array(b) for b in batch]
    try:
        return Tensor(np.stack(arrays))
    except ValueError as e:
        shapes = sorted({a.shape for a in arrays})
        raise ValueError(f"default_collate: samples have different shapes {shapes}") from e


def _to_tensors(batch):
    return tuple(Tensor(np.ascontiguousarray(b)) for b in batch)


class DataLoader:
    """Iterates over ``dataset`` in batches.

    Args:
        dataset: a Dataset (TensorDataset and Subsets of it are batched by fancy indexing,
            others item by item through ``collate_fn``).
        batch_size: samples per batch (>= 1).
        shuffle: a new random order every epoch, drawn from ``generator`` (a
            ``numpy.random.Generator``) or else from ember's generator.
        drop_last: drop the last, incomplete batch.
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        sampler: an iterable of dataset indices giving the order (instead of ``shuffle``);
            iterated anew every epoch.
        num_workers, pin_memory, timeout, worker_init_fn, prefetch_factor, persistent_workers:
            accepted for PyTorch compatibility; batches are always made in this process (the
            kernels are multi-threaded already, and there is no device memory to pin).

    Example::

        >>> loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
        >>> for xb, yb in loader: ...
    """

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        collate_fn=None,
        generator: np.random.Generator | None = None,
        sampler=None,
        num_workers: int = 0,
        pin_memory: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        prefetch_factor=None,
        persistent_workers: bool = False,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"DataLoader: batch_size must be an int, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(
                f"DataLoader: batch_size should be a positive integer, got {batch_size}"
            )
        if generator is not None and not isinstance(generator, np.random.Generator):
            raise TypeError("DataLoader: generator must be a numpy.random.Generator")
        if sampler is not None and shuffle:
            raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                f"DataLoader: num_workers option should be non-negative, got {num_workers!r}"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.collate_fn = collate_fn
        self.generator = generator
        self.sampler = sampler
        self.num_workers = num_workers

    def __len__(self) -> int:
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        if self.sampler is not None:
            order = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        elif self.shuffle:
            rng = self.generator if self.generator is not None else default_generator()
            order = rng.permutation(len(self.dataset))
        else:
            order = np.arange(len(self.dataset))
        n = len(order)
        fast = self.collate_fn is None and hasattr(self.dataset, "_get_batch")
        for start in range(0, n, self.batch_size):
            idx = order[start : start + self.batch_size]
            if self.drop_last and len(idx) < self.batch_size:
                return
            if fast:
                batch = self.dataset._get_batch(idx)
                if batch is not None:
                    yield _to_tensors(batch)
                    continue
            samples = [self.dataset[int(i)] for i in idx]
            yield (self.collate_fn or default_collate)(samples)
