"""PyTorch's memory formats. A tensor's layout is its NumPy array's strides, so
``channels_last`` is a real NHWC layout behind the same NCHW shape, as in torch. ember's kernels
work on NCHW-contiguous data and copy other layouts in, so channels_last changes no result, and
brings no speed here (it speeds up oneDNN and GPUs)."""

from __future__ import annotations

import numpy as np


class memory_format:  # noqa: N801  (PyTorch's name)
    __slots__ = ("name", "rank")

    def __init__(self, name: str, rank: int | None = None):
        self.name, self.rank = name, rank

    def __repr__(self) -> str:
        return f"ember.{self.name}"


class layout:  # noqa: N801  (PyTorch's name)
    """torch.layout: ember's tensors are all dense, strided arrays."""

    __slots__ = ("name",)

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return f"ember.{self.name}"


strided = layout("strided")


def check_layout(value, op: str) -> None:
    if value is not None and value is not strided:
        raise ValueError(f"{op}: ember has only the strided (dense) layout, got {value!r}")


contiguous_format = memory_format("contiguous_format")
preserve_format = memory_format("preserve_format")
channels_last = memory_format("channels_last", 4)
channels_last_3d = memory_format("channels_last_3d", 5)


def check_format(fmt) -> None:
    if not isinstance(fmt, memory_format):
        raise TypeError(f"memory_format must be an ember.memory_format, got {fmt!r}")


def _check(array: np.ndarray, fmt) -> None:
    check_format(fmt)
    if fmt.rank is not None and array.ndim != fmt.rank:
        raise RuntimeError(
            f"required rank {fmt.rank} tensor to use {fmt.name} format, got shape {array.shape}"
        )


def is_in(array: np.ndarray, fmt) -> bool:
    """Whether ``array`` is laid out densely in ``fmt`` (``Tensor.is_contiguous``)."""
    if fmt is contiguous_format or fmt is preserve_format:
        return array.flags.c_contiguous
    check_format(fmt)
    if array.ndim != fmt.rank:
        return False  # as torch: a 3-D tensor is not channels_last
    return np.moveaxis(array, 1, -1).flags.c_contiguous  # channels innermost


def relayout(array: np.ndarray, fmt) -> np.ndarray:
    """``array``'s values laid out in ``fmt`` (itself when it already is)."""
    _check(array, fmt)
    if fmt is preserve_format or is_in(array, fmt):
        return array
    if fmt is contiguous_format:
        return np.ascontiguousarray(array)
    return np.moveaxis(np.ascontiguousarray(np.moveaxis(array, 1, -1)), -1, 1)
