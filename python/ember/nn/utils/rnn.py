"""Variable-length batches for the recurrent layers.

``PackedSequence`` is PyTorch's: the valid steps of every sequence, time-major, longest sequence
first (``data``, ``batch_sizes``, ``sorted_indices``, ``unsorted_indices``), so code that reads
``packed.data`` or ``batch_sizes`` runs unchanged. ember's kernels take a padded (T, N, *) batch
plus lengths, so the recurrent layers unpack on entry and pack their output the same way (two
differentiable gathers). Passing ``lengths=`` to ``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` is the same
thing without the wrapper.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ember._errors import BadShapeOrValue
from ember.tensor import Tensor


class _PackedSequenceFields(NamedTuple):
    data: Tensor
    batch_sizes: Tensor
    sorted_indices: Tensor | None = None
    unsorted_indices: Tensor | None = None


class PackedSequence(_PackedSequenceFields):
    """A packed batch, as PyTorch's.

    Attributes:
        data: Tensor (sum(lengths), *): step t of the batch_sizes[t] longest sequences, for t in
            order; within a step, sequences in sorted_indices order.
        batch_sizes: int64 Tensor (T,): how many sequences have a step t.
        sorted_indices: int64 Tensor (N,), the batch order of ``data`` (longest first, ties in
            torch's order: see _sort_desc), or None when the batch was already sorted
            (``enforce_sorted=True``).
        unsorted_indices: the inverse permutation, or None.

    As torch's constructor: ``PackedSequence(data, batch_sizes, sorted_indices)`` computes
    unsorted_indices, and ``PackedSequence((data, batch_sizes))`` takes the pair.
    """

    __slots__ = ()

    def __new__(cls, data, batch_sizes=None, sorted_indices=None, unsorted_indices=None):
        if unsorted_indices is None:
            unsorted_indices = invert_permutation(sorted_indices)
        if batch_sizes is None:
            if not (isinstance(data, list | tuple) and len(data) == 2):
                raise TypeError("PackedSequence: give (data, batch_sizes), or data and batch_sizes")
            data, batch_sizes = data
        return super().__new__(cls, data, batch_sizes, sorted_indices, unsorted_indices)

    # PyTorch's conversions: they apply to data; the index fields stay as they are
    def _data_as(self, data) -> PackedSequence:
        # as torch: a conversion that leaves data as it is returns this PackedSequence
        return self if data is self.data else self._replace(data=data)

    def to(self, *args, **kwargs) -> PackedSequence:
        return self._data_as(self.data.to(*args, **kwargs))

    def cpu(self) -> PackedSequence:
        return self

    def cuda(self, *args, **kwargs) -> PackedSequence:
        return self._data_as(self.data.cuda(*args, **kwargs))  # (refuses: CPU only)

    def pin_memory(self) -> PackedSequence:
        return self

    def double(self) -> PackedSequence:
        return self._data_as(self.data.double())

    def float(self) -> PackedSequence:
        return self._data_as(self.data.float())

    def half(self) -> PackedSequence:
        return self._data_as(self.data.half())

    def long(self) -> PackedSequence:
        return self._data_as(self.data.long())

    def int(self) -> PackedSequence:
        return self._data_as(self.data.int())

    def short(self) -> PackedSequence:
        return self._data_as(self.data.short())

    def char(self) -> PackedSequence:
        return self._data_as(self.data.char())

    def byte(self) -> PackedSequence:
        return self._data_as(self.data.byte())

    @property
    def is_cuda(self) -> bool:
        return False

    def is_pinned(self) -> bool:
        return False


def _pack(x: Tensor, lens: np.ndarray, sorted_indices) -> PackedSequence:
    """x (T, N, *) time-major padded, lens (N,) -> PackedSequence; sorted_indices None means the
    batch is in decreasing length order already."""
    t, n = x.shape[0], x.shape[1]
    order = np.arange(n) if sorted_indices is None else np.asarray(sorted_indices)
    steps, j = np.nonzero(np.arange(t)[:, None] < lens[order][None, :])  # row-major: by step
    data = x.reshape(t * n, *x.shape[2:])[steps * n + order[j]]
    batch_sizes = Tensor(np.bincount(steps, minlength=int(lens.max())).astype(np.int64))
    if sorted_indices is None:
        return PackedSequence(data, batch_sizes)
    return PackedSequence(data, batch_sizes, Tensor(order), Tensor(np.argsort(order)))


def _unpack(sequence, op: str, total_length=None, padding_value=0.0) -> tuple[Tensor, np.ndarray]:
    """PackedSequence -> (padded (T, N, *) time-major, lengths (N,) in batch order); T =
    total_length or the longest length, padded steps hold ``padding_value``."""
    from ember import ops

    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: expected a PackedSequence, got {type(sequence).__name__}")
    total_length = _total_length(total_length, op)
    if not isinstance(padding_value, int | float | np.number):  # (a bool is a number)
        if not (isinstance(padding_value, Tensor) and padding_value.ndim == 0):
            raise TypeError(
                f"{op}: argument 'padding_value' must be a number, not "
                f"{type(padding_value).__name__}"
            )
        padding_value = padding_value.item()
    data, bs = sequence.data, np.asarray(sequence.batch_sizes).astype(np.int64)
    # a hand-made PackedSequence: batch_sizes must describe data (torch fails inside its kernel)
    if (
        bs.ndim != 1
        or bs.size == 0
        or bs.min() < 1
        or np.any(np.diff(bs) > 0)
        or data.ndim < 1
        or bs.sum() != data.shape[0]
    ):
        raise ValueError(
            f"{op}: batch_sizes {bs.tolist()} must be positive and non-increasing and sum to "
            f"the rows of data {tuple(data.shape)}"
        )
    t, n = bs.shape[0], int(bs[0])
    if total_length is not None:
        if total_length < t:
            raise ValueError(
                f"{op}: total_length ({total_length}) must be at least the longest sequence ({t})"
            )
        t = int(total_length)
    order = np.arange(n) if sequence.sorted_indices is None else np.asarray(sequence.sorted_indices)
    lens = np.empty(n, np.int64)
    lens[order] = (bs[None, :] > np.arange(n)[:, None]).sum(1)
    valid = np.arange(t)[:, None] < lens[None, :]  # (T, N) in batch order
    # row of data holding (step, sequence): packing order is by step, then by rank in `order`
    rank = np.empty(n, np.int64)
    rank[order] = np.arange(n)
    src = np.full((t, n), data.shape[0], np.int64)  # the padding row appended below
    steps, seqs = np.nonzero(valid)
    src[steps, seqs] = np.cumsum(np.r_[0, bs])[steps] + rank[seqs]
    pad = Tensor(np.full((1,) + tuple(data.shape[1:]), padding_value, dtype=data.dtype))
    padded = ops.cat([data, pad], dim=0)[src.reshape(-1)]
    return padded.reshape(t, n, *data.shape[1:]), lens


def _flag(v, op: str, name: str) -> bool:
    """A bool argument: torch's C++ functions refuse anything else (1, None) with TypeError."""
    if not isinstance(v, bool | np.bool_):
        raise TypeError(f"{op}: argument '{name}' must be bool, not {type(v).__name__}")
    return bool(v)


def _total_length(v, op: str):
    """None or an int (a 0-d integer Tensor too, as torch's argument parser takes it)."""
    if v is None:
        return None
    if isinstance(v, Tensor) and v.ndim == 0:
        v = v.data[()]
    if not isinstance(v, int | np.integer):
        raise TypeError(f"{op}: argument 'total_length' must be int, not {type(v).__name__}")
    return int(v)


def _lengths(lengths, op: str, floats: bool = False, least: int = 1) -> np.ndarray:
    """lengths -> int64 (N,), each >= least. floats: real lengths are truncated to int64 (as
    torch's pack_padded_sequence converts them with as_tensor(lengths, dtype=int64))."""
    arr = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in ("iuf" if floats else "iu"):
        raise TypeError(f"{op}: lengths must be integers, got {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise BadShapeOrValue(
            f"{op}: lengths must be a non-empty 1-D sequence, got shape {arr.shape}"
        )
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise BadShapeOrValue(f"{op}: lengths must be finite, got {arr.tolist()}")
        arr = np.trunc(arr)
    if arr.min() < least:
        raise BadShapeOrValue(f"{op}: every length must be >= {least}, got {int(arr.min())}")
    return arr.astype(np.int64)


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True):
    """Mark a padded batch with its lengths for an RNN.

    Args:
        input: (T, N, *) or (N, T, *) with batch_first.
        lengths: N ints in [1, T].
        enforce_sorted: require lengths in decreasing order, as PyTorch does (ember does not
            need it; pass False to accept any order).

    Returns: PackedSequence (PyTorch's layout; see the class).
    """
    op = "pack_padded_sequence"
    x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
    lens = _lengths(lengths, op, floats=True)
    batch_first = _flag(batch_first, op, "batch_first")
    if x.ndim < 2:  # (torch: dim 1 out of range, an IndexError)
        raise IndexError(f"{op}: input must have at least 2 dims, got shape {x.shape}")
    if batch_first:
        x = x.transpose(0, 1)
    t, n = x.shape[0], x.shape[1]
    if lens.shape[0] != n:
        raise BadShapeOrValue(f"{op}: got {lens.shape[0]} lengths for a batch of {n}")
    if lens.max() > t:
        raise BadShapeOrValue(f"{op}: length {int(lens.max())} exceeds the sequence length {t}")
    if enforce_sorted and np.any(np.diff(lens) > 0):
        raise BadShapeOrValue(
            f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` "
            "is True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
            "pack_sequence to sidestep this requirement if you do not need ONNX exportability."
        )
    return _pack(x, lens, None if enforce_sorted else _sort_desc(lens))


def _sort_desc(keys: np.ndarray) -> np.ndarray:
    """Indices sorting int keys in decreasing order with ties in exactly the order of torch's
    ``torch.sort(lengths, descending=True)`` (so ``sorted_indices`` and the row order of ``data``
    match torch's): on CPU that is libstdc++'s std::sort of (key, index) pairs compared by key,
    an introsort (median of three, heap sort past depth 2 log2 n, insertion sort below 16
    elements) that reorders ties beyond 16 elements. Up to 16 keys, or with no ties, the order
    is a stable sort's."""
    n = keys.shape[0]
    if n <= 16 or np.unique(keys).size == n:
        return np.argsort(-keys, kind="stable")
    from ember.ops import _libstdcxx_sort

    return np.asarray(_libstdcxx_sort(n, lambda i, j: keys[i] > keys[j]), np.int64)


def pad_packed_sequence(
    sequence, batch_first: bool = False, padding_value: float = 0.0, total_length=None
):
    """The inverse of pack_padded_sequence.

    Returns: (padded (T, N, *) or (N, T, *), lengths int64 Tensor (N,)); T = total_length or
    max(lengths); padded steps hold ``padding_value``.
    """
    op = "pad_packed_sequence"
    batch_first = _flag(batch_first, op, "batch_first")
    x, lens = _unpack(sequence, op, total_length, padding_value)
    if batch_first:
        x = x.transpose(0, 1)
    return x, Tensor(lens)


def pad_sequence(
    sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"
) -> Tensor:
    """Stack tensors (L_i, *) of different lengths into (max L, N, *) (or (N, max L, *)),
    padding with ``padding_value`` after each sequence (before it with padding_side="left").
    Differentiable with respect to each sequence."""
    from ember import ops

    op = "pad_sequence"
    batch_first = _flag(batch_first, op, "batch_first")
    if padding_side not in ("left", "right"):
        raise BadShapeOrValue(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = [s if isinstance(s, Tensor) else Tensor(np.asarray(s)) for s in sequences]
    if not seqs:
        raise BadShapeOrValue(f"{op}: expected a non-empty list of tensors")
    tail = tuple(seqs[0].shape[1:])
    for s in seqs:
        if s.ndim < 1 or tuple(s.shape[1:]) != tail:
            raise BadShapeOrValue(
                f"{op}: every sequence must have shape (L, *{tail}), got {s.shape}"
            )
    tmax = max(s.shape[0] for s in seqs)
    rows = []
    for s in seqs:
        if s.dtype != seqs[0].dtype:  # torch's output takes the first sequence's dtype
            s = s.to(seqs[0].dtype)
        if s.shape[0] < tmax:
            pad = Tensor(np.full((tmax - s.shape[0],) + tail, padding_value, dtype=s.dtype))
            s = ops.cat([s, pad] if padding_side == "right" else [pad, s], dim=0)
        rows.append(s)
    return ops.stack(rows, dim=0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list:
    """The inverse of pad_sequence: the list of tensors (lengths[i], *) from a padded batch."""
    lens = _lengths(lengths, "unpad_sequence", least=0)  # (an empty sequence, as torch)
    x = padded_sequences if batch_first else padded_sequences.transpose(0, 1)
    if lens.shape[0] != x.shape[0] or lens.max() > x.shape[1]:
        raise ValueError(
            f"unpad_sequence: lengths {lens.tolist()} do not fit a padded batch of shape "
            f"{tuple(padded_sequences.shape)} (batch_first={batch_first})"
        )
    return [x[i, : int(n)] for i, n in enumerate(lens)]


def pack_sequence(sequences, enforce_sorted: bool = True) -> PackedSequence:
    """pack_padded_sequence(pad_sequence(sequences), lengths) for a list of (L_i, *) tensors."""
    lens = np.array([s.shape[0] for s in sequences], dtype=np.int64)
    return pack_padded_sequence(pad_sequence(sequences), lens, enforce_sorted=enforce_sorted)


def unpack_sequence(packed_sequences: PackedSequence) -> list:
    """The inverse of pack_sequence: the list of tensors (L_i, *)."""
    padded, lengths = pad_packed_sequence(packed_sequences, batch_first=True)
    return unpad_sequence(padded, lengths, batch_first=True)


def invert_permutation(permutation):
    """The inverse of a permutation of 0..n-1 (int64), or None for None, as PyTorch's."""
    if permutation is None:
        return None
    p = np.asarray(permutation.data if isinstance(permutation, Tensor) else permutation)
    if p.ndim != 1 or p.dtype.kind not in "iu" or not np.array_equal(np.sort(p), np.arange(p.size)):
        raise ValueError(f"invert_permutation: expected a permutation of 0..n-1, got {p}")
    out = np.empty(p.size, np.int64)
    out[p] = np.arange(p.size)
    return Tensor(out)


__all__ = [
    "PackedSequence",
    "invert_permutation",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]
