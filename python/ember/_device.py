"""Devices, for code written for PyTorch: ember runs on the CPU, so ``"cpu"`` (or
``ember.device("cpu")``) is accepted wherever PyTorch takes a device and changes nothing. The
``"meta"`` device holds shapes without data, as torch's: a meta tensor's array is a read-only
broadcast of one NaN (no memory per element), so ``copy.deepcopy(model).to("meta")`` as the
skeleton of ``functional_call`` costs nothing. Ops on meta tensors compute on those NaNs
(torch's give meta results). Any other device is refused with a clear error."""

from __future__ import annotations

import numpy as np


class device:  # noqa: N801  (PyTorch's name)
    """``ember.device("cpu")``, the device ember computes on, or ``"meta"`` (shapes only).
    Compares equal to its name."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index: int | None = None):  # noqa: A002
        spec = type.type if isinstance(type, device) else str(type)
        kind, _, idx = spec.partition(":")
        if kind not in ("cpu", "meta"):
            raise RuntimeError(
                f"ember runs on the CPU only; device {spec!r} is not available (use 'cpu')"
            )
        self.type = kind
        self.index = index if index is not None else (int(idx) if idx else None)

    def __eq__(self, other) -> bool:
        try:
            return device(other).type == self.type
        except (RuntimeError, ValueError, TypeError):
            return False

    def __hash__(self) -> int:
        return hash(self.type)

    def __repr__(self) -> str:
        return f"device(type='{self.type}')"

    def __str__(self) -> str:
        return self.type

    # ``with ember.device("cpu"):`` is a no-op, as for torch on the CPU; inside
    # ``with ember.device("meta"):`` factories make meta tensors and modules are built on meta.
    def __enter__(self) -> device:
        _CONTEXT.append(self)
        return self

    def __exit__(self, *exc) -> None:
        _CONTEXT.pop()


CPU = device("cpu")
META = device("meta")
_CONTEXT: list[device] = []  # the devices of the enclosing ``with device(...)`` blocks
_META_VALUES: dict = {}  # dtype -> the one 0-d array every meta tensor of that dtype views


def is_meta_device(d) -> bool:
    return d is not None and device(d).type == "meta"


def meta_array(shape, dtype) -> np.ndarray:
    """A shape-only array: every element is the same read-only NaN (0 for integer dtypes)."""
    dtype = np.dtype(dtype)
    one = _META_VALUES.get(dtype)
    if one is None:
        one = _META_VALUES[dtype] = np.full((), np.nan if dtype.kind in "fc" else 0, dtype)
    return np.broadcast_to(one, tuple(shape))


def is_meta(a: np.ndarray) -> bool:
    one = _META_VALUES.get(a.dtype)
    return (
        one is not None
        and not any(a.strides)
        and a.__array_interface__["data"][0] == one.__array_interface__["data"][0]
    )


def is_device(x) -> bool:
    """Whether ``x`` names a device (a device or a string like 'cpu', 'cuda:0') rather than a
    dtype: the rule ``Tensor.to`` and ``Module.to`` use to read their arguments."""
    if isinstance(x, device):
        return True
    return isinstance(x, str) and x.partition(":")[0] in ("cpu", "cuda", "mps", "xpu", "meta")


def check(d) -> None:
    """Accept None, the CPU or meta; refuse every other device (RuntimeError)."""
    if d is not None:
        device(d)


def parse_to(args, dtype=None, device_=None):
    """The dtype named by ``to(*args, dtype=, device=)`` (None: keep), after checking any
    device named is the CPU or meta. A Tensor argument means its dtype, as in PyTorch."""
    return parse_to_device(args, dtype, device_)[0]


def parse_to_device(args, dtype=None, device_=None):
    """(dtype, device) named by ``to(*args, dtype=, device=)``; None where not named."""
    from ember.tensor import Tensor

    check(device_)
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif is_device(a):
            check(a)
            device_ = a
        elif a is not None:
            dtype = a
    return dtype, (None if device_ is None else device(device_))


def set_default_device(d) -> None:
    """PyTorch's ``set_default_device``: the CPU (or None) is accepted and changes nothing;
    any other device is refused."""
    if is_meta_device(d):
        raise RuntimeError("set_default_device: ember's default device is always the CPU")
    check(d)


def get_default_device() -> device:
    """The CPU, or meta inside ``with ember.device("meta"):``."""
    return _CONTEXT[-1] if _CONTEXT else CPU


def names_meta(d) -> bool:
    """True for the meta device (name or object); False for anything else, without raising."""
    if isinstance(d, device):
        return d.type == "meta"
    return isinstance(d, str) and d.partition(":")[0] == "meta"


def meta_by_default() -> bool:
    return bool(_CONTEXT) and _CONTEXT[-1].type == "meta"
