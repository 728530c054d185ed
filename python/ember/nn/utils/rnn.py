"""Variable-length batches for the recurrent layers.

ember's kernels take a padded (T, N, *) batch plus per-sequence lengths directly, so a
``PackedSequence`` here simply holds the time-major padded data and the lengths (PyTorch's holds
the steps interleaved with ``batch_sizes``); ``pack_padded_sequence`` / ``pad_packed_sequence``
keep PyTorch's signatures, so code written for torch runs unchanged. Passing ``lengths=`` to
``nn.LSTM`` / ``nn.GRU`` / ``nn.RNN`` is the same thing without the wrapper.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ember.tensor import Tensor


class PackedSequence(NamedTuple):
    """A padded time-major batch and its lengths.

    Attributes:
        data: Tensor (T, N, *), T = max(lengths); steps t >= lengths[n] are padding.
        lengths: int64 array (N,), each in [1, T].
    """

    data: Tensor
    lengths: np.ndarray


def _lengths(lengths, op: str) -> np.ndarray:
    arr = np.asarray(lengths.data if isinstance(lengths, Tensor) else lengths)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{op}: lengths must be integers, got {arr.dtype}")
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{op}: lengths must be a non-empty 1-D sequence, got shape {arr.shape}")
    if arr.min() < 1:
        raise ValueError(f"{op}: every length must be >= 1, got {int(arr.min())}")
    return arr.astype(np.int64)


def pack_padded_sequence(input, lengths, batch_first: bool = False, enforce_sorted: bool = True):
    """Mark a padded batch with its lengths for an RNN.

    Args:
        input: (T, N, *) or (N, T, *) with batch_first.
        lengths: N ints in [1, T].
        enforce_sorted: require lengths in decreasing order, as PyTorch does (ember does not
            need it; pass False to accept any order).

    Returns: PackedSequence(data (max(lengths), N, *) time-major, lengths).
    """
    op = "pack_padded_sequence"
    x = input if isinstance(input, Tensor) else Tensor(np.asarray(input))
    lens = _lengths(lengths, op)
    if x.ndim < 2:
        raise ValueError(f"{op}: input must have at least 2 dims, got shape {x.shape}")
    if batch_first:
        x = x.transpose(0, 1)
    t, n = x.shape[0], x.shape[1]
    if lens.shape[0] != n:
        raise ValueError(f"{op}: got {lens.shape[0]} lengths for a batch of {n}")
    if lens.max() > t:
        raise ValueError(f"{op}: length {int(lens.max())} exceeds the sequence length {t}")
    if enforce_sorted and np.any(np.diff(lens) > 0):
        raise ValueError(
            f"{op}: `lengths` array must be sorted in decreasing order when `enforce_sorted` "
            "is True. You can pass `enforce_sorted=False` to pack_padded_sequence and/or "
            "pack_sequence to sidestep this requirement if you do not need ONNX exportability."
        )
    tmax = int(lens.max())
    if tmax < t:
        x = x[:tmax]
    return PackedSequence(x, lens)


def pad_packed_sequence(
    sequence, batch_first: bool = False, padding_value: float = 0.0, total_length=None
):
    """The inverse of pack_padded_sequence.

    Returns: (padded (T, N, *) or (N, T, *), lengths int64 Tensor (N,)); T = total_length or
    max(lengths); padded steps hold ``padding_value``.
    """
    op = "pad_packed_sequence"
    if not isinstance(sequence, PackedSequence):
        raise TypeError(f"{op}: expected a PackedSequence, got {type(sequence).__name__}")
    x, lens = sequence.data, sequence.lengths
    t = x.shape[0]
    if total_length is not None:
        if total_length < t:
            raise ValueError(
                f"{op}: total_length ({total_length}) must be at least the longest sequence ({t})"
            )
        if total_length > t:
            from ember import ops

            pad = np.zeros((total_length - t,) + tuple(x.shape[1:]), x.dtype)
            x = ops.cat([x, Tensor(pad)], dim=0)
            t = total_length
    if padding_value != 0:
        from ember import ops

        valid = (np.arange(t)[:, None] < lens[None, :]).reshape(
            (t, len(lens)) + (1,) * (x.ndim - 2)
        )
        x = ops.where(valid, x, Tensor(np.asarray(padding_value, dtype=x.dtype)))
    if batch_first:
        x = x.transpose(0, 1)
    return x, Tensor(lens.copy())


def pad_sequence(
    sequences, batch_first: bool = False, padding_value: float = 0.0, padding_side: str = "right"
) -> Tensor:
    """Stack tensors (L_i, *) of different lengths into (max L, N, *) (or (N, max L, *)),
    padding with ``padding_value`` after each sequence (before it with padding_side="left").
    Differentiable with respect to each sequence."""
    from ember import ops

    op = "pad_sequence"
    if padding_side not in ("left", "right"):
        raise ValueError(f"{op}: padding_side must be 'left' or 'right', got {padding_side!r}")
    seqs = [s if isinstance(s, Tensor) else Tensor(np.asarray(s)) for s in sequences]
    if not seqs:
        raise ValueError(f"{op}: expected a non-empty list of tensors")
    tail = tuple(seqs[0].shape[1:])
    for s in seqs:
        if s.ndim < 1 or tuple(s.shape[1:]) != tail:
            raise ValueError(f"{op}: every sequence must have shape (L, *{tail}), got {s.shape}")
    tmax = max(s.shape[0] for s in seqs)
    rows = []
    for s in seqs:
        if s.shape[0] < tmax:
            pad = Tensor(np.full((tmax - s.shape[0],) + tail, padding_value, dtype=s.dtype))
            s = ops.cat([s, pad] if padding_side == "right" else [pad, s], dim=0)
        rows.append(s)
    return ops.stack(rows, dim=0 if batch_first else 1)


def unpad_sequence(padded_sequences, lengths, batch_first: bool = False) -> list:
    """The inverse of pad_sequence: the list of tensors (lengths[i], *) from a padded batch."""
    lens = _lengths(lengths, "unpad_sequence")
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


__all__ = [
    "PackedSequence",
    "pack_padded_sequence",
    "pack_sequence",
    "pad_packed_sequence",
    "pad_sequence",
    "unpack_sequence",
    "unpad_sequence",
]
