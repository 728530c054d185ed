"""float16 times or over a Python number is computed in float32 with the number unrounded, as
torch's mul/div: NumPy rounds the number to float16 first (x * 1e5 was inf everywhere)."""

import numpy as np
import pytest

import ember

VALS = [1e-4, 2.0, 0.0, -3.5, 65504.0, 6e-8, np.inf, np.nan, 0.3]
NUMBERS = [1e5, 1e30, 3.3333, -7, 70000, 0.0, 1e-10, np.inf, -0.1]


def _reference(op, x16, s):
    """op in float32 with the number as float32, rounded once to float16 (torch's opmath)."""
    with np.errstate(all="ignore"):
        return op(x16.astype(np.float32), np.float32(s)).astype(np.float16)


@pytest.mark.parametrize("s", NUMBERS)
def test_mul_div_by_number_in_float32(s):
    x16 = np.array(VALS, np.float16)
    x = ember.tensor(x16)
    with np.errstate(all="ignore"):
        cases = [
            ((x * s).numpy(), _reference(np.multiply, x16, s)),
            ((s * x).numpy(), _reference(np.multiply, x16, s)),
            ((x / s).numpy(), _reference(np.true_divide, x16, s)),
        ]
    for got, want in cases:
        assert got.dtype == np.float16
        np.testing.assert_array_equal(got, want)


def test_example_values():
    x = ember.tensor([1e-4, 0.3], dtype=ember.float16)
    np.testing.assert_array_equal((x * 1e5).numpy(), np.array([10.0, 30000.0], np.float16))
    np.testing.assert_array_equal((x / 1e5).numpy()[1], np.float16(3e-6))


@pytest.mark.parametrize("s", [1e5, 3.3333, -0.1])
def test_in_place_forms_agree(s):
    x16 = np.array(VALS, np.float16)
    want_mul, want_div = _reference(np.multiply, x16, s), _reference(np.true_divide, x16, s)
    for fn, want in [
        (lambda t: t.mul_(s), want_mul),
        (lambda t: t.div_(s), want_div),
    ]:
        t = ember.tensor(x16.copy())
        with np.errstate(all="ignore"):
            fn(t)
        np.testing.assert_array_equal(t.numpy(), want)
    t = ember.tensor(x16.copy())
    with np.errstate(all="ignore"):
        t *= s
    np.testing.assert_array_equal(t.numpy(), want_mul)


def test_gradient_by_number():
    x = ember.tensor([1e-4, 2.0], dtype=ember.float16, requires_grad=True)
    (x * 3.3333).sum().backward()
    np.testing.assert_array_equal(
        x.grad.numpy(), np.float16(np.float32(3.3333)) * np.ones(2, np.float16)
    )


@pytest.mark.parametrize("s", NUMBERS)
def test_matches_torch(s):
    torch = pytest.importorskip("torch")
    e = ember.tensor(VALS, dtype=ember.float16)
    t = torch.tensor(VALS, dtype=torch.float16)
    with np.errstate(all="ignore"):
        pairs = [
            (e * s, t * s),
            (s * e, s * t),
            (e / s, t / s),
            (e + s, t + s),  # (torch rounds the number first here, as NumPy)
            (e - s, t - s),
            (s / e, s / t),
        ]
    for a, b in pairs:
        np.testing.assert_array_equal(a.numpy().astype(np.float32), b.float().numpy())
