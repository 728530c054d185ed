"""float32 <-> float16/bfloat16 conversions by _C.cast16 (ember/_lowp.py's widen/narrow): torch's
rounding bit for bit, checked against NumPy's float16 cast, a NumPy bfloat16 reference and torch."""

import ml_dtypes
import numpy as np
import pytest

import ember
from ember import _C

ALL16 = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)


def _probe_floats() -> np.ndarray:
    """Random bit patterns, every half and bfloat16 rounding midpoint with its neighbours, and
    special values: the cases where rounding can go wrong."""
    rng = np.random.default_rng(0)
    rand = rng.integers(0, 1 << 32, 200_000, dtype=np.uint64).astype(np.uint32)
    k = np.arange(1 << 16, dtype=np.uint32)
    mids = np.concatenate([(k << 13) + 0x1000, (k << 16) + 0x8000])
    bits = np.concatenate([rand, mids, mids - 1, mids + 1])
    special = [0.0, -0.0, np.inf, -np.inf, 65504, 65519.99, 65520, 6e-8, 2.98e-8, 1e-45, 3.4e38]
    return np.concatenate([bits.view(np.float32), np.array(special, np.float32)])


def _bf16_reference(x: np.ndarray) -> np.ndarray:
    """Round to nearest even on the bits (c10::BFloat16's rule), NaN as 0x7FC0."""
    u = x.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    return np.where(np.isnan(x), np.uint16(0x7FC0), r)


@pytest.mark.parametrize("bf16", [False, True])
def test_widen_is_exact_for_every_bit_pattern(bf16):
    out = np.empty(ALL16.size, np.float32)
    _C.cast16(ALL16, out, bf16)
    ref = ALL16.view(ml_dtypes.bfloat16 if bf16 else np.float16).astype(np.float32)
    nan = np.isnan(ref)
    assert np.array_equal(np.isnan(out), nan)
    assert np.array_equal(out.view(np.uint32)[~nan], ref.view(np.uint32)[~nan])


def test_narrow_half_rounds_to_nearest_even():
    x = _probe_floats()
    y = np.empty(x.size, np.uint16)
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16)
    _C.cast16(x, y, False)
    nan = np.isnan(x)
    assert np.array_equal(y[~nan], ref.view(np.uint16)[~nan])
    assert np.isnan(y[nan].view(np.float16)).all()


def test_narrow_bfloat16_rounds_to_nearest_even():
    x = _probe_floats()
    y = np.empty(x.size, np.uint16)
    _C.cast16(x, y, True)
    assert np.array_equal(y, _bf16_reference(x))


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_narrow_matches_torch(dt):
    torch = pytest.importorskip("torch")
    x = _probe_floats()
    y = np.empty(x.size, np.uint16)
    _C.cast16(x, y, dt == "bfloat16")
    t = torch.from_numpy(x.copy()).to(getattr(torch, dt)).view(torch.int16).numpy()
    nan = np.isnan(x)  # (torch's own scalar and vector paths give NaN different bits)
    assert np.array_equal(y[~nan], t.view(np.uint16)[~nan])


@pytest.mark.parametrize("dt", [ember.float16, ember.bfloat16])
@pytest.mark.parametrize("shape", [(), (7,), (64, 129), (3, 40, 50)])
def test_tensor_casts_agree_at_every_size(dt, shape):
    # small arrays take NumPy's astype, large ones the kernel: the same values either way
    x = ember.randn(shape) * 300
    h = x.to(dt)
    ref = x.numpy().astype(dt)
    assert h.dtype == dt and h.shape == x.shape
    assert np.array_equal(h.numpy().view(np.uint16), ref.view(np.uint16))
    back = h.float()
    assert back.dtype == ember.float32
    assert np.array_equal(back.numpy(), ref.astype(np.float32))


def test_half_ops_and_gradients_through_the_kernel():
    x = ember.randn(80, 90, dtype=ember.bfloat16, requires_grad=True)
    y = (x.float() * 2).to(ember.bfloat16)
    y.sum().backward()
    assert x.grad.dtype == ember.bfloat16
    assert np.array_equal(x.grad.numpy().astype(np.float32), np.full((80, 90), 2, np.float32))
    h = ember.randn(100, 100).half()
    assert np.array_equal((h + h).numpy(), (h.numpy() + h.numpy()))


def test_strided_inputs_keep_their_layout():
    x = ember.randn(90, 70).t()
    h = x.half()
    assert h.stride() == x.stride()
    assert np.array_equal(h.numpy(), x.numpy().astype(np.float16))


def test_cast16_refuses_bad_arguments():
    x = np.zeros((4, 5), np.float32)
    with pytest.raises(TypeError, match="float32 x and uint16 y"):
        _C.cast16(x, np.zeros((4, 5), np.float64), False)
    with pytest.raises(TypeError, match="float32 x and uint16 y"):
        _C.cast16(x.astype(np.uint16), np.zeros((4, 5), np.uint16), True)
    with pytest.raises(ValueError, match="20 elements"):
        _C.cast16(x, np.zeros(19, np.uint16), False)
    with pytest.raises(ValueError):
        _C.cast16(np.zeros((5, 4), np.float32).T, np.zeros((4, 5), np.uint16), False)
    ro = np.zeros((4, 5), np.uint16)
    ro.flags.writeable = False
    with pytest.raises(ValueError):
        _C.cast16(x, ro, False)
