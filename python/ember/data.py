"""Datasets, samplers and batching with PyTorch's names (torch.utils.data): map-style and
iterable datasets, the samplers, DataLoader, default_collate / default_convert. Every random
draw comes from ember's generator (``ember.manual_seed``) or from the NumPy ``generator``
given, so a seed fixes every epoch's order."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import warnings
from collections.abc import Iterable, Sequence

import numpy as np

from ember.nn.functional import _AssertionValueError
from ember.random import rng as _rng
from ember.tensor import Tensor

__all__ = [
    "BatchSampler",
    "ChainDataset",
    "ConcatDataset",
    "DataLoader",
    "Dataset",
    "DistributedSampler",
    "IterableDataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "StackDataset",
    "Subset",
    "SubsetRandomSampler",
    "TensorDataset",
    "WeightedRandomSampler",
    "default_collate",
    "default_convert",
    "get_worker_info",
    "random_split",
]


def get_worker_info():
    """None: as PyTorch's answer in the main process, where ember's DataLoader makes every
    batch (so an IterableDataset that shards by worker id yields everything once)."""
    return None


class Dataset:
    """Map-style dataset: ``__getitem__(i)`` and ``__len__()``; ``a + b`` concatenates."""

    def __getitem__(self, index):
        raise NotImplementedError

    def __len__(self) -> int:  # (PyTorch's Dataset has none: len() is a TypeError)
        raise TypeError(f"object of type '{type(self).__name__}' has no len()")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """A dataset that is a stream: ``__iter__()`` yields the samples (DataLoader batches
    them in order); ``a + b`` chains."""

    def __iter__(self):
        raise NotImplementedError

    def __add__(self, other):
        return ChainDataset([self, other])


class ConcatDataset(Dataset):
    """The map-style ``datasets`` one after another."""

    def __init__(self, datasets: Iterable):
        self.datasets = list(datasets)
        if not self.datasets:
            raise _AssertionValueError("datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = list(itertools.accumulate(len(d) for d in self.datasets))

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError("absolute value of index should not exceed dataset length")
            idx += len(self)
        if idx >= len(self):
            raise IndexError(f"ConcatDataset: index {idx} out of range for length {len(self)}")
        i = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[i][idx - (self.cumulative_sizes[i - 1] if i else 0)]


class ChainDataset(IterableDataset):
    """The iterable ``datasets`` one after another (chained lazily)."""

    def __init__(self, datasets: Iterable):
        self.datasets = datasets

    def __iter__(self):
        for d in self.datasets:
            if not isinstance(d, IterableDataset):
                raise TypeError("ChainDataset only supports IterableDataset")
            yield from d

    def __len__(self) -> int:
        return sum(len(d) for d in self.datasets)


class StackDataset(Dataset):
    """Sample ``i`` is ``(a[i], b[i], ...)`` for ``StackDataset(a, b)`` or
    ``{"x": a[i], ...}`` for ``StackDataset(x=a, ...)``; the datasets have one length."""

    def __init__(self, *args, **kwargs):
        if args and kwargs:
            raise ValueError(
                "Supported either ``tuple``- (via ``args``) or``dict``- (via ``kwargs``) like "
                "input/output, but both types are given."
            )
        if not args and not kwargs:
            raise ValueError("At least one dataset should be passed")
        self.datasets = args if args else kwargs
        sizes = {len(d) for d in (args or kwargs.values())}
        if len(sizes) != 1:
            raise ValueError("Size mismatch between datasets")
        self._length = sizes.pop()

    def __getitem__(self, index):
        if isinstance(self.datasets, dict):
            return {k: d[index] for k, d in self.datasets.items()}
        return tuple(d[index] for d in self.datasets)

    def __len__(self) -> int:
        return self._length


# ---- samplers ----------------------------------------------------------------------------
def _check_generator(generator, who: str):
    if generator is not None and not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"{who}: generator must be an ember.Generator (or a numpy.random.Generator)"
        )


def _positive_int(x) -> bool:
    return isinstance(x, int | np.integer) and not isinstance(x, bool) and x > 0


class Sampler:
    """Iterates over dataset indices. Samplers whose order is an array also give it whole
    through ``_indices()``, which DataLoader slices into batches without a Python loop."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError

    def _indices(self) -> np.ndarray:
        return np.fromiter((int(i) for i in self), dtype=np.int64)


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _indices(self):
        return np.arange(len(self.data_source))

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random order of the indices (a new one every epoch), or ``num_samples`` indices
    drawn uniformly with ``replacement``. Without replacement, ``num_samples`` larger than
    the dataset takes several permutations, as PyTorch."""

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.generator = generator
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        if not _positive_int(self.num_samples):
            raise ValueError(
                f"num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )
        _check_generator(generator, "RandomSampler")

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self):
        n, k = len(self.data_source), self.num_samples
        rng = _rng(self.generator)
        if self.replacement:
            return rng.integers(0, n, size=k, dtype=np.int64)
        perms = [rng.permutation(n) for _ in range(-(-k // n))]
        return np.concatenate(perms)[:k] if perms else np.zeros(0, np.int64)

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order."""

    def __init__(self, indices: Sequence[int], generator=None):
        self.indices = indices
        self.generator = generator
        _check_generator(generator, "SubsetRandomSampler")

    def _indices(self):
        rng = _rng(self.generator)
        return np.asarray(self.indices, dtype=np.int64)[rng.permutation(len(self.indices))]

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class DistributedSampler(Sampler):
    """Each of ``num_replicas`` processes reads its own 1/num_replicas of the dataset
    (``rank``-th of every ``num_replicas`` indices), shuffled by ``seed + epoch`` (call
    ``set_epoch`` each epoch) and padded by wrapping around (or cut, with ``drop_last``) so
    all ranks get the same count, as torch's. ember runs in one process with no process
    group, so num_replicas and rank default to 1 and 0."""

    def __init__(
        self,
        dataset,
        num_replicas: int | None = None,
        rank: int | None = None,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ):
        num_replicas = 1 if num_replicas is None else num_replicas
        rank = 0 if rank is None else rank
        if not _positive_int(num_replicas):
            raise ValueError(f"num_replicas must be a positive integer, got {num_replicas!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank < num_replicas:
            raise ValueError(
                f"Invalid rank {rank}, rank should be in the interval [0, {num_replicas - 1}]"
            )
        self.dataset, self.num_replicas, self.rank = dataset, num_replicas, rank
        self.shuffle, self.seed, self.drop_last, self.epoch = shuffle, seed, drop_last, 0
        n = len(dataset)
        if drop_last and n % num_replicas:
            self.num_samples = math.ceil((n - num_replicas) / num_replicas)
        else:
            self.num_samples = math.ceil(n / num_replicas)
        self.total_size = self.num_samples * num_replicas

    def __iter__(self):
        n = len(self.dataset)
        if self.shuffle:
            indices = np.random.default_rng(self.seed + self.epoch).permutation(n).tolist()
        else:
            indices = list(range(n))
        if self.drop_last:
            indices = indices[: self.total_size]
        elif indices:
            pad = self.total_size - n
            indices += (indices * math.ceil(pad / n))[:pad]
        return iter(indices[self.rank : self.total_size : self.num_replicas])

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices in [0, len(weights)) drawn with probabilities proportional to
    ``weights`` (need not sum to one), with or without ``replacement``."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        if not _positive_int(num_samples):
            raise ValueError(
                f"num_samples should be a positive integer value, but got num_samples={num_samples}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement}"
            )
        w = np.asarray(weights.data if isinstance(weights, Tensor) else weights, np.float64)
        if w.ndim != 1:
            raise ValueError(
                f"weights should be a 1d sequence but given weights have shape {w.shape}"
            )
        if w.size == 0 or not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise RuntimeError(
                "WeightedRandomSampler: weights must be finite, non-negative and not all zero"
            )
        if not replacement and num_samples > np.count_nonzero(w):
            raise RuntimeError(
                "WeightedRandomSampler: cannot sample n_sample > prob_dist.size(-1) samples "
                "without replacement"
            )
        _check_generator(generator, "WeightedRandomSampler")
        self.weights = Tensor(w)
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _indices(self):
        rng = _rng(self.generator)
        w = self.weights.data
        return rng.choice(w.size, size=self.num_samples, replace=self.replacement, p=w / w.sum())

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Groups the indices of ``sampler`` into lists of ``batch_size`` (the last one shorter
    unless ``drop_last``)."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if not _positive_int(batch_size):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler = sampler
        self.batch_size = int(batch_size)
        self.drop_last = drop_last

    def _batches(self):
        """The batches as index arrays."""
        if isinstance(self.sampler, Sampler):
            order = self.sampler._indices()
        else:
            order = np.fromiter((int(i) for i in self.sampler), dtype=np.int64)
        stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            yield order[start : start + self.batch_size]

    def __iter__(self):
        for b in self._batches():
            yield b.tolist()

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


def _as_array(x) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


class TensorDataset(Dataset):
    """Rows of Tensors (or arrays) of equal length: ``dataset[i] == (a[i], b[i], ...)``, as
    Tensors (views of the rows)."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: give at least one array")
        self._arrays = tuple(_as_array(t) for t in tensors)
        n = [len(t) if t.ndim else -1 for t in self._arrays]
        if n[0] < 0:
            raise IndexError("TensorDataset: Dimension specified as 0 but tensor has no dimensions")
        if len(set(n)) != 1:
            raise _AssertionValueError(f"Size mismatch between tensors (first dimensions {n})")
        self.tensors = tuple(
            t if isinstance(t, Tensor) else Tensor(a) for t, a in zip(tensors, self._arrays)
        )

    def __getitem__(self, index):
        return tuple(Tensor(t[index]) for t in self._arrays)

    def _get_batch(self, indices: np.ndarray):
        return tuple(t[indices] for t in self._arrays)

    def __len__(self) -> int:
        return len(self._arrays[0])


class Subset(Dataset):
    """The items of ``dataset`` at ``indices``."""

    def __init__(self, dataset, indices: Sequence[int]):
        self.dataset = dataset
        self.indices = indices  # as given (random_split gives a list of ints, as PyTorch)
        self._idx = np.asarray(indices, dtype=np.int64)

    def __getitem__(self, index):
        if isinstance(index, list | np.ndarray):
            return self.dataset[self._idx[index]]
        return self.dataset[int(self._idx[index])]

    def _get_batch(self, indices: np.ndarray):
        if hasattr(self.dataset, "_get_batch"):
            return self.dataset._get_batch(self._idx[indices])
        return None

    def __len__(self) -> int:
        return len(self._idx)


def random_split(dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random Subsets of the given lengths (or
    fractions summing to 1, the remainder spread round-robin as PyTorch does)."""
    n = len(dataset)
    lengths = list(lengths)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:  # fractions (PyTorch's test)
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
        counts = [int(math.floor(n * f)) for f in lengths]
        for i in range(n - sum(counts)):
            counts[i % len(counts)] += 1
        lengths = counts
        for i, k in enumerate(lengths):
            if k == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=2,
                )
    if sum(lengths) != n:
        raise ValueError(
            "Sum of input lengths does not equal the length of the input dataset! "
            f"({sum(lengths)} vs {n})"
        )
    if any(isinstance(x, bool) or not isinstance(x, int | np.integer) or x < 0 for x in lengths):
        raise ValueError(
            f"random_split: lengths must be non-negative ints or fractions, got {lengths}"
        )
    rng = _rng(generator)
    perm = rng.permutation(n).tolist()
    out, start = [], 0
    for k in lengths:
        out.append(Subset(dataset, perm[start : start + k]))
        start += k
    return out


def _same_type(template, items):
    """``items`` in a container of ``template``'s type, as PyTorch's collate keeps it
    (a plain dict / list when that type cannot be built from one)."""
    try:
        return type(template)(items)
    except TypeError:
        return dict(items) if isinstance(items, dict) else list(items)


def default_convert(data):
    """What DataLoader does to each sample when ``batch_size=None``: NumPy arrays (not of
    strings or objects) become Tensors, inside lists, dicts and tuples too (a tuple becomes a
    list, as in PyTorch); the rest stays."""
    if isinstance(data, np.ndarray):
        return Tensor(data) if data.dtype.kind in "biufc" else data
    if isinstance(data, np.number | np.bool_):
        return Tensor(np.asarray(data))
    if isinstance(data, dict):
        return _same_type(data, {k: default_convert(v) for k, v in data.items()})
    if isinstance(data, tuple) and hasattr(data, "_fields"):  # namedtuple
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, list):
        return _same_type(data, [default_convert(d) for d in data])
    return data


_COLLATE_TYPES = "tensors, numpy arrays, numbers, dicts or lists"


def default_collate(batch):
    """Stack a list of samples into a batch as PyTorch does: arrays / numbers / Tensors
    into Tensors with a leading batch dimension, dicts key by key, sequences field by field
    (tuples into a list, namedtuples kept), strings left as they come (a sequence's field of
    strings is a tuple, as PyTorch's zip makes it)."""
    first = batch[0]
    if isinstance(first, str | bytes):
        return batch
    if isinstance(first, tuple) and hasattr(first, "_fields"):  # namedtuple
        return type(first)(*(default_collate(f) for f in zip(*batch)))
    if isinstance(first, tuple | list):
        if any(len(b) != len(first) for b in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        fields = [default_collate(f) for f in zip(*batch)]
        return fields if isinstance(first, tuple) else _same_type(first, fields)
    if isinstance(first, dict):
        return _same_type(first, {k: default_collate([b[k] for b in batch]) for k in first})
    if not isinstance(first, Tensor | np.ndarray | np.generic | int | float | bool):
        raise TypeError(
            f"default_collate: batch must contain {_COLLATE_TYPES}; found {type(first)}"
        )
    arrays = [_as_array(b) for b in batch]
    for a in arrays:
        if a.dtype.kind not in "biuf":
            raise TypeError(
                f"default_collate: batch must contain {_COLLATE_TYPES}; found {a.dtype}"
            )
        if a.shape != arrays[0].shape:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got "
                f"{list(arrays[0].shape)} at entry 0 and {list(a.shape)} at entry "
                f"{next(i for i, b in enumerate(arrays) if b.shape != arrays[0].shape)}"
            )
    if isinstance(first, Tensor) and len({a.dtype for a in arrays}) > 1:
        # torch.stack's type promotion (int64 with float32 is float32; NumPy's would be
        # float64)
        from ember.ops import promote_types

        dtype = functools.reduce(promote_types, (a.dtype for a in arrays))
        return Tensor(np.stack(arrays).astype(dtype, copy=False))
    if isinstance(first, int) and any(isinstance(b, float) for b in batch):
        # torch makes a batch that starts with a Python int with torch.tensor(batch): a float
        # among them gives the default float32 (one starting with a float is float64)
        return Tensor(np.array(batch, np.float32))
    return Tensor(np.stack(arrays))


def _to_tensors(batch):
    return [Tensor(np.ascontiguousarray(b)) for b in batch]  # a list, as default_collate


class DataLoader:
    """Iterates over ``dataset`` in batches (PyTorch's arguments, in PyTorch's order).

    Args:
        dataset: a map-style Dataset (TensorDataset and Subsets of it are batched by fancy
            indexing, others item by item through ``collate_fn``) or an IterableDataset
            (batched in the order it yields).
        batch_size: samples per batch (>= 1), or None for no batching: each sample passes
            through ``collate_fn`` (default ``default_convert``) alone.
        shuffle: a new random order every epoch (a RandomSampler drawing from ``generator``,
            an ``ember.Generator`` or NumPy Generator, or else from ember's generator).
        sampler: a Sampler or any iterable of dataset indices giving the order (instead of
            ``shuffle``); iterated anew every epoch.
        batch_sampler: yields whole batches of indices (instead of batch_size, shuffle,
            sampler and drop_last).
        drop_last: drop the last, incomplete batch.
        collate_fn: turns a list of samples into a batch (default: ``default_collate``).
        num_workers, pin_memory, timeout, worker_init_fn, multiprocessing_context,
        prefetch_factor, persistent_workers, pin_memory_device, in_order: accepted for
            PyTorch compatibility; batches are always made in this process (the kernels are
            multi-threaded already, and there is no device memory to pin).

    Example::

        >>> loader = DataLoader(TensorDataset(X, y), batch_size=64, shuffle=True)
        >>> for xb, yb in loader: ...
    """

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn=None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator: np.random.Generator | None = None,
        *,
        prefetch_factor=None,
        persistent_workers: bool = False,
        pin_memory_device: str = "",
        in_order: bool = True,
    ):
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer)
        ):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if batch_size is not None and batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        _check_generator(generator, "DataLoader")
        if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable "
                f"multiprocessing (got {num_workers!r})"
            )
        if num_workers == 0 and prefetch_factor is not None:
            raise ValueError(
                "prefetch_factor option could only be specified in multiprocessing."
                "let num_workers > 0 to enable multiprocessing, otherwise set prefetch_factor "
                "to None."
            )
        if persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        if timeout < 0:
            raise ValueError("timeout option should be non-negative")
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            if shuffle not in (False, None):
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified shuffle option, "
                    f"but got shuffle={shuffle}"
                )
            if sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified sampler option, "
                    f"but got sampler={sampler}"
                )
            if batch_sampler is not None:
                raise ValueError(
                    "DataLoader with IterableDataset: expected unspecified batch_sampler "
                    f"option, but got batch_sampler={batch_sampler}"
                )
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
        if sampler is None and not self._iterable:
            sampler = (
                RandomSampler(dataset, generator=generator)
                if shuffle
                else SequentialSampler(dataset)
            )
        if batch_size is not None and batch_sampler is None and not self._iterable:
            batch_sampler = BatchSampler(sampler, batch_size, bool(drop_last))
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
        self.num_workers = num_workers
        self.timeout = timeout
        self.pin_memory = pin_memory
        self.prefetch_factor = prefetch_factor
        self.persistent_workers = persistent_workers
        self._auto_collation = batch_sampler is not None or (
            self._iterable and batch_size is not None
        )
        if collate_fn is None:
            collate_fn = default_collate if self._auto_collation else default_convert
        self.collate_fn = collate_fn
        self._initialized = True

    # as torch: what decides the batches is fixed once the loader is made
    _FROZEN = (
        "batch_size",
        "batch_sampler",
        "sampler",
        "drop_last",
        "dataset",
        "persistent_workers",
    )

    def __setattr__(self, name, value):
        if name in self._FROZEN and self.__dict__.get("_initialized"):
            raise ValueError(
                f"{name} attribute should not be set after {type(self).__name__} is initialized"
            )
        super().__setattr__(name, value)

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self):
        if self.pin_memory:  # as PyTorch without an accelerator (ember never has one)
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, then device "
                "pinned memory won't be used.",
                UserWarning,
                stacklevel=2,
            )
        return self._iter()

    def _iter(self):
        if self._iterable:
            yield from self._iter_stream()
            return
        if self.batch_sampler is None:  # batch_size=None: one sample at a time
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])
            return
        if isinstance(self.batch_sampler, BatchSampler):
            batches = self.batch_sampler._batches()
        else:
            batches = (np.asarray(b, dtype=np.int64) for b in self.batch_sampler)
        # (collate_fn may be replaced after the loader is made, as in torch)
        fast = self.collate_fn is default_collate and hasattr(self.dataset, "_get_batch")
        for idx in batches:
            if fast:
                batch = self.dataset._get_batch(idx)
                if batch is not None:
                    yield _to_tensors(batch)
                    continue
            yield self.collate_fn([self.dataset[int(i)] for i in idx])

    def _iter_stream(self):
        it = iter(self.dataset)
        if self.batch_size is None:
            for sample in it:
                yield self.collate_fn(sample)
            return
        while batch := list(itertools.islice(it, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield self.collate_fn(batch)
