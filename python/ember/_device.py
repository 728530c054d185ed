"""Devices, for code written for PyTorch: ember runs on the CPU, so ``"cpu"`` (or
``ember.device("cpu")``) is accepted wherever PyTorch takes a device and changes nothing; any
other device is refused with a clear error rather than ignored."""

from __future__ import annotations


class device:  # noqa: N801  (PyTorch's name)
    """``ember.device("cpu")``: the one device ember has. Compares equal to ``"cpu"``."""

    __slots__ = ("type", "index")

    def __init__(self, type="cpu", index: int | None = None):  # noqa: A002
        spec = type.type if isinstance(type, device) else str(type)
        kind, _, idx = spec.partition(":")
        if kind != "cpu":
            raise RuntimeError(
                f"ember runs on the CPU only; device {spec!r} is not available (use 'cpu')"
            )
        self.type = "cpu"
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


CPU = device("cpu")


def is_device(x) -> bool:
    """Whether ``x`` names a device (a device or a string like 'cpu', 'cuda:0') rather than a
    dtype: the rule ``Tensor.to`` and ``Module.to`` use to read their arguments."""
    if isinstance(x, device):
        return True
    return isinstance(x, str) and x.partition(":")[0] in ("cpu", "cuda", "mps", "xpu", "meta")


def check(d) -> None:
    """Accept None or the CPU; refuse every other device (RuntimeError)."""
    if d is not None:
        device(d)


def parse_to(args, dtype=None, device_=None):
    """The dtype named by ``to(*args, dtype=, device=)`` (None: keep), after checking any
    device named is the CPU. A Tensor argument means its dtype, as in PyTorch."""
    from ember.tensor import Tensor

    check(device_)
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif is_device(a):
            check(a)
        elif a is not None:
            dtype = a
    return dtype


def set_default_device(d) -> None:
    """PyTorch's ``set_default_device``: the CPU (or None) is accepted and changes nothing;
    any other device is refused."""
    check(d)


def get_default_device() -> device:
    return CPU
