"""Regressions found by fuzzing the tspeed17 / convspeed17 merges against torch and with bad
input (each failed before its fix)."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("bins", [1, 3])
def test_histc_range_that_rounds_to_one_float32(bins):
    # [1, 1 + 1e-9] (and [1 - 1e-9, 1]) is one value in float32: torch counts the entries
    # equal to it in bin 0; ember raised NumPy's "Too many bins" ValueError
    a = np.array([1.0, 1.0, np.nextafter(1.0, 0.0), np.nextafter(1.0, 2.0), np.nan], np.float32)
    for lo, hi in [(1.0, 1.0 + 1e-9), (1.0 - 1e-9, 1.0), (1e8, 1e8 + 1)]:
        got = ember.histc(ember.from_numpy(a * np.float32(lo)), bins, lo, hi)
        want = torch.histc(torch.from_numpy(a * np.float32(lo)), bins, lo, hi)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.numpy().dtype == np.float32
