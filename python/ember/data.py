"""Datasets, samplers and batching with PyTorch's names (torch.utils.data): map-style and
iterable datasets, the samplers, DataLoader (in this process, or in ``num_workers`` worker
processes as torch's), default_collate / default_convert. Every random draw comes from
ember's generator (``ember.manual_seed``) or from the NumPy ``generator`` given, so a seed
fixes every epoch's order, whatever the number of workers."""

from __future__ import annotations

import atexit
import bisect
import contextlib
import copy
import dataclasses
import functools
import glob
import io
import itertools
import math
import mmap
import multiprocessing
import multiprocessing.queues
import os
import pickle
import queue
import random
import sys
import time
import traceback
import warnings
import weakref
from collections.abc import Iterable, MutableMapping, MutableSequence, Sequence

import numpy as np

from ember import random as _random
from ember.nn.functional import _AssertionValueError
from ember.random import rng as _rng
from ember.tensor import Tensor, _extra_state, _rebuild_tensor, _strided_payload

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


@dataclasses.dataclass(frozen=True, slots=True)
class WorkerInfo:
    """What ``get_worker_info()`` tells a DataLoader worker process about itself (torch's
    fields): its ``id`` in [0, num_workers), ``num_workers``, the ``seed`` its random
    generators were seeded with (``base_seed + id``) and its own copy of the ``dataset``."""

    id: int
    num_workers: int
    seed: int
    dataset: object
    rng: object = None  # (torch's thread workers' generators; ember's workers are processes)
    worker_method: str | None = "multiprocessing"


_worker_info: WorkerInfo | None = None  # set once in each worker process


class _AssertionTypeError(TypeError, AssertionError):
    """A wrong type, where torch asserts (so ``except AssertionError`` catches it too)."""


def get_worker_info() -> WorkerInfo | None:
    """In a DataLoader worker process, its ``WorkerInfo`` (id, num_workers, seed, dataset);
    in the main process, None. An IterableDataset shards its stream by it (each worker
    runs its own copy of the dataset's ``__iter__``), and a ``worker_init_fn`` can use it
    to configure the worker's copy of the dataset."""
    return _worker_info


class Dataset:
    """Map-style dataset: ``__getitem__(i)`` and ``__len__()``; ``a + b`` concatenates."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __len__(self) -> int:  # (PyTorch's Dataset has none: len() is a TypeError)
        raise TypeError(f"object of type '{type(self).__name__}' has no len()")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset, Iterable):
    """A dataset that is a stream: ``__iter__()`` yields the samples (DataLoader batches
    them in order); ``a + b`` chains. Abstract, as torch's (an ``Iterable``): a subclass
    defines ``__iter__``, and ``IterableDataset()`` itself is a TypeError."""

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
                raise _AssertionTypeError("ConcatDataset does not support IterableDataset")
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
                raise _AssertionTypeError("ChainDataset only supports IterableDataset")
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

    def __getitems__(self, indices: list) -> list:
        """The samples at ``indices``, each dataset read through its own ``__getitems__``
        when it has one (DataLoader's batched read, as torch's)."""
        named = isinstance(self.datasets, dict)
        columns = {}
        for key, d in self.datasets.items() if named else enumerate(self.datasets):
            if callable(getattr(d, "__getitems__", None)):
                items = d.__getitems__(indices)
                if len(items) != len(indices):
                    raise ValueError(
                        "Nested dataset's output size mismatch. "
                        f"Expected {len(indices)}, got {len(items)}"
                    )
                columns[key] = items
            else:
                columns[key] = [d[i] for i in indices]
        if named:
            return [{k: col[j] for k, col in columns.items()} for j in range(len(indices))]
        return [tuple(col[j] for col in columns.values()) for j in range(len(indices))]

    def __len__(self) -> int:
        return self._length


# ---- samplers ----------------------------------------------------------------------------
def _check_generator(generator, who: str):
    if generator is None or generator is _random.default_generator:  # (the global stream)
        return
    if not isinstance(generator, np.random.Generator):
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
    ``weights`` (need not sum to one), with or without ``replacement``. As torch's, the
    weights' values (negative, infinite, NaN, all zero) are checked when it is iterated,
    with torch.multinomial's RuntimeErrors."""

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
        _check_generator(generator, "WeightedRandomSampler")
        self.weights = Tensor(w)
        self.num_samples = int(num_samples)
        self.replacement = replacement
        self.generator = generator

    def _indices(self):
        # the weights are checked here, as torch.multinomial checks them at iteration, with
        # its errors in its order
        w, n = self.weights.data, self.num_samples
        if not self.replacement and n > w.size:
            raise RuntimeError(
                "cannot sample n_sample > prob_dist.size(-1) samples without replacement"
            )
        ok = (w >= 0) & np.isfinite(w)  # (NaN fails w >= 0: torch's "< 0" message)
        if (not self.replacement or n == 1) and not ok.all():
            raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
        if not ok.all():
            bad = w[np.argmin(ok)]
            raise RuntimeError(
                "invalid multinomial distribution (encountering probability entry "
                + ("< 0)" if not bad >= 0 else "= infinity or NaN)")
            )
        if not (w.size and w.max() > 0):  # (the sum > 0 of non-negative weights)
            raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
        rng = _rng(self.generator)
        p = w / w.max()  # (scaled first: a sum of huge weights would overflow)
        p /= p.sum()
        nonzero = np.count_nonzero(w)
        if self.replacement or n <= nonzero:
            return rng.choice(w.size, size=n, replace=self.replacement, p=p)
        # without replacement and fewer positive weights than samples: torch gives every
        # positive-weight index (in weighted random order), then zero-weight ones (here in
        # index order; torch's order among them is its top-k's)
        first = rng.choice(w.size, size=nonzero, replace=False, p=p)
        return np.concatenate([first, np.flatnonzero(w == 0)[: n - nonzero]])

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
        idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
        if idx.size and idx.dtype.kind in "fc":  # (a cast read index 1.5 as 1)
            raise IndexError(f"Subset: indices must be integers, got {idx.dtype} {indices!r}")
        if idx.dtype.kind not in "iufcb":
            raise TypeError(f"Subset: indices must be a sequence of ints, got {indices!r}")
        self._idx = idx.astype(np.int64)

    def __getitem__(self, index):
        if isinstance(index, list | np.ndarray):
            return self.dataset[self._idx[index]]
        return self.dataset[int(self._idx[index])]

    def _get_batch(self, indices: np.ndarray):
        if hasattr(self.dataset, "_get_batch"):
            return self.dataset._get_batch(self._idx[indices])
        return None

    def __getitems__(self, indices: list) -> list:
        """The samples at ``indices`` (DataLoader's batched read), through the dataset's own
        ``__getitems__`` when it has one, as torch's."""
        if callable(getattr(self.dataset, "__getitems__", None)):
            return self.dataset.__getitems__([self.indices[i] for i in indices])
        return [self.dataset[self.indices[i]] for i in indices]

    def __len__(self) -> int:
        return len(self._idx)


def random_split(dataset, lengths: Sequence[int | float], generator=None) -> list[Subset]:
    """Split ``dataset`` into non-overlapping random Subsets of the given lengths (or
    fractions summing to 1, the remainder spread round-robin as PyTorch does).

    A negative length is a ValueError. (PyTorch 2.13 takes lengths that sum to len(dataset)
    with a negative one, ``[-1, 11]`` of 10, and slices its permutation with them: splits of
    9 and 1 indices, or ``[11, -1]`` gives all 10 and none, not the lengths asked for.)"""
    n = len(dataset)
    # (0-d integer tensors count as ints, as torch's)
    lengths = [
        int(k) if isinstance(k, Tensor) and k.ndim == 0 and k.data.dtype.kind in "iu" else k
        for k in lengths
    ]
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
    if any(isinstance(x, bool) or not isinstance(x, int | np.integer) for x in lengths):
        raise TypeError(  # (torch's randperm refuses a float length: TypeError)
            f"random_split: lengths must be non-negative ints or fractions, got {lengths}"
        )
    if any(x < 0 for x in lengths):
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
    """``items`` in a container of ``template``'s type, as PyTorch's collate keeps it: a
    mutable one copied and filled (so a defaultdict keeps its default), another built from
    the items, and a plain dict / list when that fails."""
    try:
        if isinstance(template, MutableMapping):
            clone = copy.copy(template)
            clone.update(items)
            return clone
        if isinstance(template, MutableSequence):
            clone = copy.copy(template)
            for i, item in enumerate(items):
                clone[i] = item
            return clone
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
    if all(isinstance(b, Tensor) for b in batch) and any(b.requires_grad for b in batch):
        from ember.ops import stack  # torch.stack outside workers: the batch keeps the graph

        return stack(batch)
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


# ---- fetching batches (in the main process or in a worker) ---------------------------------
class _MapFetcher:
    """One batch of a map-style dataset from a batch of indices (auto-collation) or one
    sample from one index. TensorDatasets (and Subsets of them) under default_collate are
    batched by one fancy-indexing per array instead of item by item."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool):
        self.dataset, self.auto_collation, self.collate_fn = dataset, auto_collation, collate_fn
        self.fast = collate_fn is default_collate and hasattr(dataset, "_get_batch")
        # torch's batched read: a dataset's __getitems__(list of indices) -> list of samples
        getitems = getattr(dataset, "__getitems__", None)
        self.getitems = getitems if callable(getitems) else None

    def __call__(self, index):
        if not self.auto_collation:
            return self.collate_fn(self.dataset[index])
        if self.fast:
            batch = self.dataset._get_batch(index)
            if batch is not None:
                return _to_tensors(batch)
        if self.getitems is not None:
            return self.collate_fn(self.getitems(np.asarray(index).tolist()))
        return self.collate_fn([self.dataset[int(i)] for i in index])


class _StreamFetcher:
    """The next batch (``batch_size`` samples, or one sample when batch_size is None) of an
    IterableDataset's stream; StopIteration once it is spent (a short last batch is dropped
    with ``drop_last``)."""

    def __init__(self, dataset, auto_collation: bool, collate_fn, drop_last: bool, batch_size):
        self.it = iter(dataset)
        self.auto_collation, self.collate_fn = auto_collation, collate_fn
        self.drop_last, self.batch_size, self.ended = drop_last, batch_size, False

    def __call__(self, index=None):
        if self.ended:
            raise StopIteration
        if not self.auto_collation:
            return self.collate_fn(next(self.it))
        batch = list(itertools.islice(self.it, self.batch_size))
        if len(batch) < self.batch_size:
            self.ended = True
            if not batch or self.drop_last:
                raise StopIteration
        return self.collate_fn(batch)


def _make_fetcher(dataset, iterable, auto_collation, collate_fn, drop_last, batch_size):
    if iterable:
        return _StreamFetcher(dataset, auto_collation, collate_fn, drop_last, batch_size)
    return _MapFetcher(dataset, auto_collation, collate_fn, drop_last)


# ---- worker processes (torch.utils.data._utils.worker) -------------------------------------
# How long a blocked queue read waits before it looks whether the process at the other end
# is still alive (torch's MP_STATUS_CHECK_INTERVAL).
_STATUS_INTERVAL = 5.0
# How often the main process, waiting for a batch, looks whether a worker died.
_WORKER_POLL = 0.5
_python_exiting = False  # workers are left to multiprocessing's own exit handler then
_iterator_ids = itertools.count()
_live_shm_prefixes: set[str] = set()  # iterators whose workers may have files in flight


def _at_exit() -> None:
    global _python_exiting
    _python_exiting = True
    for prefix in list(_live_shm_prefixes):
        _sweep_shm(prefix)


atexit.register(_at_exit)


class _KeyErrorMessage(str):
    """A KeyError's message shown as written (KeyError repr()s its argument)."""

    def __repr__(self):
        return self


class _ExceptionWrapper:
    """An exception raised in a worker, carried to the main process as its type and its
    traceback's text and raised there again as torch's ExceptionWrapper does: the same type,
    with "Caught <Type> in DataLoader worker process <id>." and the original traceback as
    its message (a RuntimeError when the type cannot be built from one message)."""

    def __init__(self, where: str):
        exc_type, exc, tb = sys.exc_info()
        self.exc_msg = "".join(traceback.format_exception(exc_type, exc, tb))
        self.where = where
        try:  # (a class defined in a function cannot cross to the main process)
            multiprocessing.reduction.ForkingPickler.dumps(exc_type)
            self.exc_type = exc_type
        except Exception:
            self.exc_type = RuntimeError

    def reraise(self):
        msg = f"Caught {self.exc_type.__name__} {self.where}.\nOriginal {self.exc_msg}"
        if self.exc_type is KeyError:
            msg = _KeyErrorMessage(msg)
        try:
            exc = self.exc_type(msg)
        except Exception:
            raise RuntimeError(msg) from None
        raise exc


def _where(worker_id) -> str:
    return f"in DataLoader worker process {worker_id}"


# Large arrays in a worker's batch travel through shared-memory files rather than the pipe:
# pickled through a pipe, a batch is copied four times (into the pickle, through the
# kernel twice, out of the pickle); through /dev/shm once. Files are named by the main
# process's pid, the iterator and the worker, unlinked by the main process as it maps them,
# and any left over (batches in flight at shutdown) are swept when the workers stop.
_SHM_DIR = "/dev/shm"
_SHM_MIN_BYTES = 1 << 18  # (smaller arrays cost less through the pipe than a file)
_shm_names = itertools.count()  # (in a worker: its files' serial numbers)


def _shm_array(path: str, shape, dtype) -> np.ndarray:
    """The array a worker left in the shared-memory file ``path`` (the file is removed; the
    memory lives as long as the array)."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.unlink(path)
        # (mapping every page at once: a page fault each costs more than the copy saved)
        flags = mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0)
        buf = mmap.mmap(fd, math.prod(shape) * np.dtype(dtype).itemsize, flags=flags)
    finally:
        os.close(fd)
    return np.ndarray(shape, dtype, buffer=buf)


class _ShmPickler(pickle.Pickler):
    def __init__(self, file, prefix: str):
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.prefix = prefix

    def reducer_override(self, obj):
        if isinstance(obj, Tensor) and obj.data.base is not None:
            # a view crosses as its own elements, not its storage (a pickle's rule, as torch's):
            # a dataset's row would otherwise carry the whole dataset, sample after sample
            payload = _strided_payload(obj.data)
            return _rebuild_tensor, (type(obj), payload, obj._requires_grad, _extra_state(obj))
        if type(obj) is not np.ndarray or obj.nbytes < _SHM_MIN_BYTES or obj.dtype.hasobject:
            return NotImplemented
        path = f"{_SHM_DIR}/{self.prefix}{next(_shm_names)}"
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except OSError:
            return NotImplemented
        # written, not mapped: a write fills the file's pages several times faster than
        # page faults on a fresh mapping, and a full /dev/shm is an OSError, not a SIGBUS
        view = memoryview(np.ascontiguousarray(obj).reshape(-1).view(np.uint8))
        try:
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            os.unlink(path)
            return NotImplemented  # (through the pipe after all)
        finally:
            os.close(fd)
        return _shm_array, (path, obj.shape, obj.dtype)


class _Batch:
    """A worker's batch on its way to the main process (see _ShmPickler)."""

    __slots__ = ("data", "prefix")

    def __init__(self, data, prefix: str):
        self.data, self.prefix = data, prefix

    def __reduce__(self):
        f = io.BytesIO()
        _ShmPickler(f, self.prefix).dump(self.data)
        return pickle.loads, (f.getvalue(),)


def _sweep_shm(prefix: str) -> None:
    """Remove the shared-memory files of batches that were never received."""
    if prefix:
        for path in glob.glob(f"{_SHM_DIR}/{glob.escape(prefix)}*"):
            with contextlib.suppress(OSError):
                os.unlink(path)


class _ResultQueue(multiprocessing.queues.Queue):
    """The workers' result queue. Queue.put pickles in a background thread, where a batch
    that cannot be pickled would vanish and leave the main process waiting for ever; here
    the pickling error goes back in its place, raised in the main process as any other
    worker exception."""

    def _on_queue_feeder_error(self, e, obj):
        if isinstance(obj, tuple) and len(obj) == 2 and not isinstance(obj[1], _ExceptionWrapper):
            wid = _worker_info.id if _worker_info is not None else "?"
            self.put((obj[0], _ExceptionWrapper(_where(wid))))
        else:
            super()._on_queue_feeder_error(e, obj)


class _ResumeIteration:
    """Sent to persistent workers at the start of each later epoch: begin the stream anew."""


@dataclasses.dataclass(frozen=True)
class _IterableDatasetStopIteration:
    worker_id: int


def _generate_state(base_seed: int, worker_id: int) -> list[int]:
    """The 4 x 32-bit seed torch's workers give ``numpy.random.seed`` (SeedSequence's hash
    of (worker_id, base_seed), written out in torch.utils.data._utils.worker), so NumPy's
    global draws in a worker differ between workers and follow the loader's seed."""
    mask = 0xFFFFFFFF
    entropy = [worker_id, base_seed & mask, base_seed >> 32, 0]
    hash_const = 0x43B0D7E5

    def hash_(value):
        nonlocal hash_const
        value = (value ^ hash_const) & mask
        hash_const = (hash_const * 0x931E8875) & mask
        value = (value * hash_const) & mask
        return (value ^ (value >> 16)) & mask

    def mix(x, y):
        r = ((0xCA01F9DD * x) - (0x4973F715 * y)) & mask
        return (r ^ (r >> 16)) & mask

    pool = [hash_(e) for e in entropy]
    for i_src in range(4):
        for i_dst in range(4):
            if i_src != i_dst:
                pool[i_dst] = mix(pool[i_dst], hash_(pool[i_src]))
    out, hash_b = [], 0x8B51F9DD
    for v in pool:
        v = (v ^ hash_b) & mask
        hash_b = (hash_b * 0x58F38DED) & mask
        v = (v * hash_b) & mask
        out.append((v ^ (v >> 16)) & mask)
    return out


def _worker_loop(
    iterable, dataset, index_queue, data_queue, done_event, auto_collation, collate_fn,
    drop_last, batch_size, base_seed, init_fn, worker_id, num_workers, shm_prefix,
):  # fmt: skip
    """A worker process: seeds its generators as torch's workers do (Python's ``random``
    and ember's with ``base_seed + worker_id``, NumPy's global one with _generate_state),
    calls ``init_fn(worker_id)``, then turns each (task number, indices) read from
    ``index_queue`` into (task number, batch) on ``data_queue`` until it reads None."""
    global _worker_info
    try:
        from ember import set_num_threads

        set_num_threads(1)  # (as torch: num_workers processes share the cores)
        seed = base_seed + worker_id
        random.seed(seed)
        _random.manual_seed(seed)
        np.random.seed(_generate_state(base_seed, worker_id))
        _worker_info = WorkerInfo(id=worker_id, num_workers=num_workers, seed=seed, dataset=dataset)
        init_error = None
        try:
            if init_fn is not None:
                init_fn(worker_id)
            fetch = _make_fetcher(
                dataset, iterable, auto_collation, collate_fn, drop_last, batch_size
            )
        except Exception:
            init_error = _ExceptionWrapper(_where(worker_id))  # (raised for the first task)
        iteration_end = False
        parent = os.getppid()
        while os.getppid() == parent:  # (an orphan stops: nobody would read its batches)
            try:
                r = index_queue.get(timeout=_STATUS_INTERVAL)
            except queue.Empty:
                continue
            if isinstance(r, _ResumeIteration):
                data_queue.put((r, None))
                iteration_end = False
                fetch = _make_fetcher(
                    dataset, iterable, auto_collation, collate_fn, drop_last, batch_size
                )
                continue
            if r is None:
                break
            if done_event.is_set() or iteration_end:
                continue
            idx, index = r
            if init_error is not None:
                data, init_error = init_error, None
            else:
                try:
                    data = fetch(index)
                except StopIteration:
                    if not iterable:
                        data = _ExceptionWrapper(_where(worker_id))
                    else:
                        data, iteration_end = _IterableDatasetStopIteration(worker_id), True
                except Exception:
                    data = _ExceptionWrapper(_where(worker_id))
            if shm_prefix and not isinstance(
                data, _ExceptionWrapper | _IterableDatasetStopIteration
            ):
                data = _Batch(data, f"{shm_prefix}{worker_id}-")
            data_queue.put((idx, data))
            del data, idx, index, r  # (the batch is not kept alive while waiting)
    except KeyboardInterrupt:
        pass  # (the main process handles Ctrl-C and shuts the workers down)
    if done_event.is_set():
        data_queue.cancel_join_thread()
        data_queue.close()


def _cpu_count() -> int | None:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count()


class _MultiProcessingDataLoaderIter:
    """Iterates over a DataLoader with ``num_workers`` worker processes, as torch's iterator
    of that name: the main process walks the sampler and deals the batches' indices to the
    workers in turn, keeping ``prefetch_factor`` tasks per worker in flight; each worker
    fetches and collates its batch and sends it back pickled (ember Tensors pickle as their
    NumPy arrays). Batches come back in the sampler's order (``in_order=True``) or as they
    are ready. The workers end with the epoch, or live on for the next one with
    ``persistent_workers``, and are shut down when the iterator is deleted."""

    def __init__(self, loader):
        self._workers, self._index_queues = [], []
        self._workers_status = [True] * loader.num_workers
        self._dataset = loader.dataset
        self._iterable = loader._iterable
        self._num_workers = loader.num_workers
        self._prefetch_factor = loader.prefetch_factor
        self._in_order = loader.in_order
        self._timeout = loader.timeout
        self._persistent_workers = loader.persistent_workers
        self._index_sampler = loader._index_sampler
        self._base_seed = loader._draw_base_seed()
        if self._prefetch_factor <= 0:
            raise _AssertionValueError(
                "prefetch_factor must be greater than 0 for MultiProcessingDataLoaderIter"
            )
        ctx = loader.multiprocessing_context or multiprocessing.get_context()
        self._worker_result_queue = _ResultQueue(ctx=ctx)
        self._workers_done_event = ctx.Event()
        # The workers are shut down when this iterator is collected, through a finalizer
        # rather than __del__: one that holds the queues itself runs before the garbage
        # collector finalizes anything, while __del__ in a reference cycle (an iterator held
        # by a worker exception's traceback) may run after the queues' pipes were closed,
        # and the workers would never read their stop message. Made before any worker
        # starts, so a failure to start one still stops the others.
        self._shm_prefix = (
            f"ember-dl-{os.getpid()}-{next(_iterator_ids)}-" if os.path.isdir(_SHM_DIR) else ""
        )
        self._shutdown_workers = weakref.finalize(
            self, _shutdown_workers, self._workers, self._index_queues,
            self._workers_done_event, self._workers_status, self._persistent_workers,
            self._shm_prefix,
        )  # fmt: skip
        _live_shm_prefixes.add(self._shm_prefix)
        self._shutdown_workers.atexit = False  # (multiprocessing ends daemonic workers then)
        for i in range(self._num_workers):
            index_queue = ctx.Queue()
            index_queue.cancel_join_thread()  # (indices still queued at exit are dropped)
            w = ctx.Process(
                target=_worker_loop,
                args=(
                    self._iterable, self._dataset, index_queue, self._worker_result_queue,
                    self._workers_done_event, loader._auto_collation, loader.collate_fn,
                    loader.drop_last, loader.batch_size, self._base_seed,
                    loader.worker_init_fn, i, self._num_workers, self._shm_prefix,
                ),
                daemon=True,
            )  # fmt: skip
            w.start()
            self._index_queues.append(index_queue)
            self._workers.append(w)
        self._data_queue = self._worker_result_queue
        self._reset(loader, first_iter=True)

    def __iter__(self):
        return self

    def __len__(self) -> int:
        return len(self._index_sampler)

    def __getstate__(self):
        raise NotImplementedError(f"{type(self).__name__} cannot be pickled")

    def _reset(self, loader, first_iter: bool = False) -> None:
        self._sampler_iter = loader._index_iter()
        self._num_yielded = 0
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._send_idx = 0  # the next task to send to a worker
        self._rcvd_idx = 0  # the next task to return
        self._task_info = {}  # task -> (worker,) while out, (worker, data) once back early
        self._tasks_outstanding = 0
        self._workers_status[:] = [True] * self._num_workers  # (the finalizer's list too)
        self._workers_num_tasks = [0] * self._num_workers
        self._worker_queue_idx_cycle = itertools.cycle(range(self._num_workers))
        if not first_iter:  # persistent workers: drain last epoch's batches, restart streams
            for q in self._index_queues:
                q.put(_ResumeIteration())
            resumed = 0
            while resumed < self._num_workers:
                idx, _ = self._get_data()
                resumed += isinstance(idx, _ResumeIteration)
        for _ in range(self._prefetch_factor * self._num_workers):
            self._try_put_index()

    def _try_get_data(self, timeout=None):
        try:
            return True, self._data_queue.get(timeout=timeout or _STATUS_INTERVAL)
        except Exception as e:
            # a worker that died (killed, segfault, os._exit) never answers: say so
            failed = [
                w
                for wid, w in enumerate(self._workers)
                if self._workers_status[wid] and not w.is_alive()
            ]
            for w in failed:
                self._mark_worker_as_unavailable(self._workers.index(w))
            if failed:
                pids = ", ".join(str(w.pid) for w in failed)
                raise RuntimeError(f"DataLoader worker (pid(s) {pids}) exited unexpectedly") from e
            if isinstance(e, queue.Empty):
                return False, None
            raise

    def _get_data(self):
        # read in slices of _WORKER_POLL seconds, looking after each whether a worker died,
        # so one that did is reported within that (torch's SIGCHLD handler tells at once),
        # not after _STATUS_INTERVAL or the loader's whole timeout
        deadline = time.monotonic() + self._timeout if self._timeout > 0 else None
        while True:
            wait = _WORKER_POLL
            if deadline is not None:
                wait = min(wait, max(deadline - time.monotonic(), 1e-3))
            ok, data = self._try_get_data(wait)
            if ok:
                return data
            if deadline is not None and time.monotonic() >= deadline:
                raise RuntimeError(f"DataLoader timed out after {self._timeout} seconds")

    def __next__(self):
        data = self._next_data()
        self._num_yielded += 1
        _check_stream_length(self, self._num_workers)
        return data

    def _next_data(self):
        while True:
            # skip tasks whose worker's stream ended (an IterableDataset replica ran out)
            while self._rcvd_idx < self._send_idx:
                info = self._task_info.get(self._rcvd_idx)
                if info and (len(info) == 2 or self._workers_status[info[0]]):
                    break
                self._task_info.pop(self._rcvd_idx, None)
                self._rcvd_idx += 1
            else:
                if not self._persistent_workers:
                    self._shutdown_workers()
                raise StopIteration
            if len(self._task_info[self._rcvd_idx]) == 2:  # it came back early
                worker_id, data = self._task_info.pop(self._rcvd_idx)
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)
            idx, data = self._get_data()
            self._tasks_outstanding -= 1
            if self._iterable and isinstance(data, _IterableDatasetStopIteration):
                if self._persistent_workers:
                    self._workers_status[data.worker_id] = False
                else:
                    self._mark_worker_as_unavailable(data.worker_id)
                self._try_put_index()
                continue
            if idx != self._rcvd_idx:
                if not self._in_order:
                    worker_id = self._task_info.pop(idx)[0]
                    return self._process_data(data, worker_id)
                self._task_info[idx] += (data,)  # hold it until its turn
            else:
                worker_id = self._task_info.pop(idx)[0]
                self._rcvd_idx += 1
                return self._process_data(data, worker_id)

    def _try_put_index(self) -> None:
        max_tasks = self._prefetch_factor * self._num_workers
        try:
            index = next(self._sampler_iter)
        except StopIteration:
            return
        for _ in range(self._num_workers):  # the next active worker (with room, out of order)
            worker = next(self._worker_queue_idx_cycle)
            if self._workers_status[worker] and (
                self._in_order
                or self._workers_num_tasks[worker] < max_tasks // sum(self._workers_status)
            ):
                break
        else:
            return
        self._index_queues[worker].put((self._send_idx, index))
        self._task_info[self._send_idx] = (worker,)
        self._workers_num_tasks[worker] += 1
        self._tasks_outstanding += 1
        self._send_idx += 1

    def _process_data(self, data, worker_id):
        self._workers_num_tasks[worker_id] -= 1
        self._try_put_index()
        if isinstance(data, _ExceptionWrapper):
            data.reraise()
        return data

    def _mark_worker_as_unavailable(self, worker_id: int) -> None:
        self._index_queues[worker_id].put(None)  # (the worker exits once it reads this)
        self._workers_status[worker_id] = False


def _shutdown_workers(
    workers, index_queues, done_event, workers_status, persistent, shm_prefix
) -> None:
    """Stop a loader iterator's workers: each reads None and exits; one that does not
    within _STATUS_INTERVAL is terminated. (Skipped while Python exits: multiprocessing
    terminates daemonic processes itself then.)"""
    if _python_exiting:
        return
    try:
        done_event.set()  # (workers skip the tasks still queued)
        for worker_id, q in enumerate(index_queues):
            if persistent or workers_status[worker_id]:
                q.put(None)
                workers_status[worker_id] = False
        for w in workers:
            w.join(timeout=_STATUS_INTERVAL)
        for q in index_queues:
            q.cancel_join_thread()
            q.close()
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
                w.join(timeout=_STATUS_INTERVAL)
            if w.exitcode is not None:
                w.close()
        _sweep_shm(shm_prefix)
        _live_shm_prefixes.discard(shm_prefix)


def _check_stream_length(it, num_workers: int) -> None:
    """torch's warning when an IterableDataset yields more batches than len(DataLoader) said
    (with workers, usually replicas that each yield the whole stream)."""
    n = it._IterableDataset_len_called
    if it._iterable and n is not None and it._num_yielded > n:
        msg = (
            f"Length of IterableDataset {it._dataset} was reported to be {n}"
            f"(when accessing len(dataloader)), but {it._num_yielded} samples have been "
            "fetched. "
        )
        if num_workers > 0:
            msg += (
                "For multiprocessing data-loading, this could be caused by not properly "
                "configuring the IterableDataset replica at each worker (shard the stream "
                "by get_worker_info() in __iter__)."
            )
        warnings.warn(msg, stacklevel=3)


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
        num_workers: worker processes that make the batches (0: this process makes them).
            Each worker holds its own copy of the dataset, seeds Python's ``random`` and
            ember's generator with ``base_seed + worker_id`` and NumPy's global one from
            both (as torch's workers do), then calls ``worker_init_fn(worker_id)``;
            ``get_worker_info()`` describes the worker inside it. ``base_seed`` is drawn
            once per epoch from ``generator`` (else ember's generator), by every loader, so
            one seed gives the same order with any number of workers. An IterableDataset is
            run whole in every worker: shard it by ``get_worker_info()``.
        pin_memory: accepted; ember has no device memory to pin (torch's warning).
        timeout: seconds to wait for a worker's batch before a RuntimeError (0: no limit).
        worker_init_fn: called in each worker with its id before it makes any batch.
        multiprocessing_context: the start method ('fork', 'spawn', 'forkserver') or a
            multiprocessing context (default: multiprocessing's default start method).
            With 'spawn'/'forkserver' the dataset, collate_fn and worker_init_fn are
            pickled, so they must be importable (no lambdas, no local classes).
        generator: the stream for shuffling and for the workers' base seed.
        prefetch_factor: batches each worker works ahead (default 2 with workers).
        persistent_workers: keep the workers (and their dataset copies) between epochs.
        pin_memory_device: accepted (deprecated in torch).
        in_order: return the batches in the sampler's order (True) or as they are ready.

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
        if num_workers > 0 and prefetch_factor is None:
            prefetch_factor = 2
        elif prefetch_factor is not None and prefetch_factor < 0:
            raise ValueError("prefetch_factor option should be non-negative")
        self.num_workers = num_workers
        self.multiprocessing_context = multiprocessing_context  # (checked by its setter)
        self.worker_init_fn = worker_init_fn
        self.in_order = in_order
        self.pin_memory_device = pin_memory_device
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
            # (drop_last as given: BatchSampler refuses a non-bool, as torch's; None passed)
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset = dataset
        self.batch_size = None if batch_size is None else int(batch_size)
        self.drop_last = bool(drop_last)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        self.generator = generator
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
        self._IterableDataset_len_called = None  # len(loader) of a stream, for a warning
        self._iterator = None  # the iterator whose workers persist (persistent_workers)
        self._initialized = True
        self.check_worker_number_rationality()

    @property
    def multiprocessing_context(self):
        return self._multiprocessing_context

    @multiprocessing_context.setter
    def multiprocessing_context(self, ctx) -> None:
        # torch's checks: a start method's name or a context, and only with workers
        if ctx is not None:
            if self.num_workers == 0:
                raise ValueError(
                    "multiprocessing_context can only be used with multi-process loading "
                    f"(num_workers > 0), but got num_workers={self.num_workers}"
                )
            if isinstance(ctx, str):
                methods = multiprocessing.get_all_start_methods()
                if ctx not in methods:
                    raise ValueError(
                        "multiprocessing_context option should specify a valid start method "
                        f"in {methods!r}, but got multiprocessing_context={ctx!r}"
                    )
                ctx = multiprocessing.get_context(ctx)
            if not isinstance(ctx, multiprocessing.context.BaseContext):
                raise TypeError(
                    "multiprocessing_context option should be a valid context object or a "
                    f"string specifying the start method, but got multiprocessing_context={ctx}"
                )
        super().__setattr__("_multiprocessing_context", ctx)

    def check_worker_number_rationality(self) -> None:
        """torch's warning when there are more workers than CPUs this process may use."""
        if not self.num_workers:
            return
        cpus = _cpu_count()
        if cpus is None or self.num_workers > cpus:
            cpuset = (
                "" if hasattr(os, "sched_getaffinity") else " (`cpuset` is not taken into account)"
            )
            suggest = (
                f"Our suggested max number of worker in current system is {cpus}{cpuset}, "
                "which is smaller than what this DataLoader is going to create."
                if cpus is not None
                else "DataLoader is not able to compute a suggested max number of worker in "
                "current system."
            )
            warnings.warn(
                f"This DataLoader will create {self.num_workers} worker processes in total. "
                f"{suggest} Please be aware that excessive worker creation might get "
                "DataLoader running slow or even freeze, lower the worker number to avoid "
                "potential slowness/freeze if necessary.",
                stacklevel=2,
            )

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
            # (a stream that yields more than this gets torch's warning: see
            # _check_stream_length)
            n = self._IterableDataset_len_called = len(self.dataset)
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else -(-n // self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        return len(self.sampler)

    def __iter__(self):
        if self.pin_memory:  # as PyTorch without an accelerator (ember never has one)
            if self.pin_memory_device:
                warnings.warn(
                    "pin_memory_device is deprecated, the current accelerator will be used as "
                    f"the device,ignore pin_memory_device='{self.pin_memory_device}'.",
                    stacklevel=2,
                )
            warnings.warn(
                "'pin_memory' argument is set as true but no accelerator is found, then device "
                "pinned memory won't be used.",
                UserWarning,
                stacklevel=2,
            )
        if self.num_workers == 0:
            return _single_process_iter(self)
        if self.persistent_workers:
            if self._iterator is None:
                super().__setattr__("_iterator", _MultiProcessingDataLoaderIter(self))
            else:
                self._iterator._reset(self)
            return self._iterator
        self.check_worker_number_rationality()
        return _MultiProcessingDataLoaderIter(self)

    @property
    def _index_sampler(self):
        """What yields each fetch's index: the batch sampler (auto-collation), else the
        sampler; None for an IterableDataset (its fetches take no index)."""
        if self._iterable:
            return None
        return self.batch_sampler if self.batch_sampler is not None else self.sampler

    def _index_iter(self):
        """One epoch of fetch indices: index arrays per batch, single indices without
        batching, and for an IterableDataset None for ever (the stream decides the end)."""
        if self._iterable:
            return itertools.repeat(None)
        if self.batch_sampler is None:
            return iter(self.sampler)
        if isinstance(self.batch_sampler, BatchSampler):
            return self.batch_sampler._batches()
        return (np.asarray(b, dtype=np.int64) for b in self.batch_sampler)

    def _draw_base_seed(self) -> int:
        """The workers' base seed: one draw per epoch from the loader's generator (else
        ember's), made with or without workers, as torch's iterators do, so the same seed
        gives the same shuffle order at any num_workers."""
        return int(_rng(self.generator).integers(0, 2**63, dtype=np.int64))


def _single_process_iter(loader):
    """num_workers=0: the batches made in this process, lazily. For a map-style dataset
    a C-level ``map`` over the sampler's indices, so nothing of ours runs per batch besides
    the fetch itself."""
    if loader.timeout != 0:
        raise _AssertionValueError("_SingleProcessDataLoaderIter requires timeout == 0")
    loader._draw_base_seed()  # (drawn, as by torch's iterators, though no worker uses it)
    # (collate_fn may be replaced after the loader is made, as in torch: read it now)
    fetch = _make_fetcher(
        loader.dataset, loader._iterable, loader._auto_collation, loader.collate_fn,
        loader.drop_last, loader.batch_size,
    )  # fmt: skip
    if loader._iterable:
        return _StreamIter(loader, fetch)
    if not loader._auto_collation:  # batch_size=None: each sample through collate_fn alone
        it = _SingleProcessDataLoaderIter(
            loader.collate_fn, map(loader.dataset.__getitem__, loader._index_iter())
        )
    else:
        it = _SingleProcessDataLoaderIter(fetch, loader._index_iter())
    it._index_sampler = loader._index_sampler
    return it


class _SingleProcessDataLoaderIter(map):
    """A map-style dataset's batches in this process: a C-level ``map`` (nothing of ours
    runs per batch) with torch's ``len()``, the epoch's number of batches (the index
    sampler's length, however many were taken already)."""

    def __len__(self) -> int:
        return len(self._index_sampler)


class _StreamIter:
    """An IterableDataset's batches in this process, counted for torch's length warning."""

    def __init__(self, loader, fetch):
        self._dataset, self._iterable, self._fetch = loader.dataset, True, fetch
        self._IterableDataset_len_called = loader._IterableDataset_len_called
        self._num_yielded = 0

    def __iter__(self):
        return self

    def __next__(self):
        data = self._fetch()
        self._num_yielded += 1
        _check_stream_length(self, 0)
        return data
