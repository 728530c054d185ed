"""The global random state: every random draw in ember (init, dropout, randn, shuffling)
comes from one NumPy Generator, reset by ``ember.manual_seed``."""

from __future__ import annotations

import contextlib

import numpy as np

from ember import _C
from ember._device import device as _device


def _fresh_seed() -> int:
    """A non-deterministic 63-bit seed from the OS's entropy."""
    return int(np.random.SeedSequence().generate_state(1, np.uint64)[0] >> np.uint64(1))


_initial_seed = _fresh_seed()
_generator = np.random.default_rng(_initial_seed)


def _seed_bits(seed) -> int:
    """torch's seeds: ints in [-2**63, 2**64), a negative one read as its uint64 bits."""
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool | np.bool_):
        # (Generator.manual_seed's words; torch's RuntimeError)
        raise RuntimeError(f"manual_seed expected a long, but got {type(seed).__name__}")
    if not -(2**63) <= seed < 2**64:
        raise ValueError(f"manual_seed: seed must be an int in [-2**63, 2**64), got {seed}")
    return int(seed) % 2**64


def manual_seed(seed: int) -> _DefaultGenerator:
    """Seed ember's generator; the same seed gives the same draws. Returns
    ``ember.default_generator``, as torch.manual_seed returns torch.default_generator."""
    global _generator, _initial_seed
    _initial_seed = _seed_bits(int(seed))  # (torch's int(seed): 1.5 seeds as 1, "3" as 3)
    _generator = np.random.default_rng(_initial_seed)
    return default_generator


def seed() -> int:
    """Seed ember's generator from the OS's entropy and return that seed (torch.seed)."""
    s = _fresh_seed()
    manual_seed(s)
    return s


def initial_seed() -> int:
    """The seed ember's generator was last seeded with (torch.initial_seed)."""
    return _initial_seed


class _DefaultGenerator:
    """``torch.default_generator``: ember's global stream as an object with a Generator's
    methods; ``generator=ember.default_generator`` draws from the global stream."""

    device = _device("cpu")

    def manual_seed(self, seed: int) -> _DefaultGenerator:
        manual_seed(_seed_bits(seed))  # (a Generator's: an int, not int(seed))
        return self

    def seed(self) -> int:
        return seed()

    def initial_seed(self) -> int:
        return initial_seed()

    def get_state(self):
        return get_rng_state()

    def set_state(self, state) -> _DefaultGenerator:
        set_rng_state(state)
        return self

    def __repr__(self) -> str:
        return "ember.default_generator"


default_generator = _DefaultGenerator()


def rng(generator=None) -> np.random.Generator:
    """The stream a ``generator=`` argument names: that generator, or ember's global one."""
    if generator is None or generator is default_generator:
        return _generator
    if not isinstance(generator, np.random.Generator):
        raise TypeError(
            f"generator must be an ember.Generator (or a NumPy Generator), got "
            f"{type(generator).__name__}"
        )
    return generator


_NORMAL_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))  # _C.normal_fill's


def normal_samples(
    generator, shape: tuple, dtype, mean: float = 0.0, std: float = 1.0
) -> np.ndarray:
    """``shape`` samples of N(mean, std^2) in float32/float64 ``dtype`` from ``generator``'s
    stream (``rng(generator)``): one 64-bit draw from it keys the C++ sampler
    (_C.normal_fill: ~2x NumPy's speed on one thread, the same bits for any thread count), so
    manual_seed, get/set_rng_state and fork_rng govern these samples as every other draw.
    randn, randn_like, normal and nn.init.normal_ (Tensor.normal_) all draw here."""
    dt = np.dtype(dtype)
    if dt not in _NORMAL_DTYPES:
        if dt.kind not in "fV" or dt.itemsize != 2:  # (bfloat16's kind is "V")
            raise TypeError(f"normal_samples: needs a floating-point dtype, got {dt}")
        # float16 / bfloat16: drawn in float32 and rounded, as torch
        return normal_samples(generator, shape, np.float32, mean, std).astype(dt)
    key = rng(generator).bit_generator.random_raw()
    out = np.empty(shape, dt)
    _C.normal_fill(out, key, mean, std)
    return out


# A generator's state as torch's: a uint8 Tensor (torch's is mt19937's 5056 bytes; ember's
# streams are NumPy's PCG64, whose state is these four little-endian fields)
_STATE_FIELDS = ((16, "state"), (16, "inc"), (8, "has_uint32"), (8, "uinteger"))
_STATE_SIZE = sum(n for n, _ in _STATE_FIELDS)


def _state_bytes(bit_generator):
    from ember.tensor import Tensor

    st = bit_generator.state
    if st.get("bit_generator") != "PCG64":  # (a NumPy generator passed in: its dict)
        return st
    values = (st["state"]["state"], st["state"]["inc"], st["has_uint32"], st["uinteger"])
    raw = b"".join(int(v).to_bytes(n, "little") for (n, _), v in zip(_STATE_FIELDS, values))
    return Tensor(np.frombuffer(raw, np.uint8).copy())


def _set_state_bytes(bit_generator, state) -> None:
    """Set ``bit_generator`` from get_state()'s uint8 Tensor, refused as torch refuses."""
    from ember.tensor import Tensor

    if not isinstance(state, Tensor):
        raise TypeError(f"expected an ember.ByteTensor, but got {type(state).__name__}")
    if state.dtype != np.uint8:
        raise TypeError("RNG state must be an ember.ByteTensor (dtype uint8)")
    raw = np.ascontiguousarray(state.data).reshape(-1).tobytes()
    if len(raw) != _STATE_SIZE:
        raise RuntimeError(
            f"Expected a generator state of size {_STATE_SIZE} but found the input RNG state "
            f"size to be {len(raw)}"
        )
    v, at = [], 0
    for n, _ in _STATE_FIELDS:
        v.append(int.from_bytes(raw[at : at + n], "little"))
        at += n
    if v[1] % 2 == 0 or v[2] > 1 or v[3] >= 2**32:  # (PCG64's increment is odd)
        raise RuntimeError("Invalid PCG64 state")
    bit_generator.state = {
        "bit_generator": "PCG64",
        "state": {"state": v[0], "inc": v[1]},
        "has_uint32": v[2],
        "uinteger": v[3],
    }


def get_rng_state():
    """The global stream's state: a uint8 Tensor, as torch.get_rng_state."""
    return _state_bytes(_generator.bit_generator)


def set_rng_state(state) -> None:
    """Restore the global stream from get_rng_state()'s uint8 Tensor."""
    _set_state_bytes(_generator.bit_generator, state)


@contextlib.contextmanager
def fork_rng(devices=None, enabled: bool = True, _caller="fork_rng", _devices_kw="devices",
             device_type: str = "cuda"):  # fmt: skip
    """Draws inside the block leave ember's global stream where it was (torch.random.fork_rng);
    ``devices`` name GPUs, which ember has none of."""
    if not enabled:
        yield
        return
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)


class Generator(np.random.Generator):
    """PyTorch's ``torch.Generator``: a random stream of its own, for the ``generator=``
    arguments (DataLoader, random_split, samplers, nn.init). It is a NumPy Generator, so
    NumPy's methods work on it too::

        >>> g = ember.Generator().manual_seed(42)
        >>> train, val = ember.data.random_split(ds, [0.8, 0.2], generator=g)

    ``get_state()`` / ``set_state()`` take a uint8 Tensor, as torch's (NumPy's PCG64 state in
    48 bytes, not torch's mt19937 bytes).
    """

    def __init__(self, device="cpu"):
        if str(device) != "cpu":
            raise RuntimeError(f"ember.Generator: only the CPU is supported, got {device!r}")
        self._initial_seed = _fresh_seed()
        super().__init__(np.random.PCG64(self._initial_seed))
        self.device = _device("cpu")

    def manual_seed(self, seed: int) -> Generator:
        self._initial_seed = _seed_bits(seed)
        self.bit_generator.state = np.random.PCG64(self._initial_seed).state
        return self

    def seed(self) -> int:
        s = _fresh_seed()
        self.manual_seed(s)
        return s

    def initial_seed(self) -> int:
        return self._initial_seed

    def get_state(self):
        return _state_bytes(self.bit_generator)

    def set_state(self, state) -> Generator:
        _set_state_bytes(self.bit_generator, state)
        return self
