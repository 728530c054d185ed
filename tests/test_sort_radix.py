"""torch.sort's unstable order for float32 lines of distinct values by _C.sort_indices's key
paths (ranks up to 64, std::sort below 256, a radix sort from there) and by its pair sort for
lines with ties, NaN or -0/+0: the same indices as PyTorch, at 1 and 2 threads, small and big."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


def _lines(rows, n, seed=0):
    """float32 lines of distinct values (a permutation of spread-out numbers, signs mixed)."""
    rng = np.random.default_rng(seed)
    base = (np.arange(n, dtype=np.float64) - n / 2) * 1.37 + 0.25
    return np.stack([rng.permutation(base) for _ in range(rows)]).astype(np.float32)


@pytest.mark.parametrize("n", [2, 32, 64, 65, 100, 255, 256, 1000, 4096])
@pytest.mark.parametrize("descending", [False, True])
def test_distinct_lines_match_torch(n, descending, threads):
    x = _lines(8, n)
    ref = torch.sort(torch.from_numpy(x), 1, descending=descending)
    for _ in threads():
        idx = _C.sort_indices(x, descending)
        np.testing.assert_array_equal(idx, ref.indices.numpy())
        v, i = ember.tensor(x).sort(1, descending=descending)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


@pytest.mark.parametrize("n", [32, 100, 1000])
@pytest.mark.parametrize("descending", [False, True])
def test_lines_with_ties_nan_or_signed_zeros_take_torchs_order(n, descending):
    x = _lines(4, n)
    x[0, ::7] = 3.0  # ties
    x[1, 5] = np.nan  # a NaN: last ascending, first descending
    x[1, 9] = np.nan
    x[2, 3], x[2, 11] = -0.0, 0.0  # -0 ties +0
    x[3, 1] = x[3, 2]  # one tie
    ref = torch.sort(torch.from_numpy(x), 1, descending=descending)
    v, i = ember.tensor(x).sort(1, descending=descending)
    np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
    np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


def test_big_float32_sort_takes_c_and_matches_torch(threads):
    x = _lines(80, 1000, seed=1)  # 80,000 elements: above the 64K small-size bound
    x[7, :10] = 1.25  # and a line with ties
    for dim in (1, 0):
        ref = torch.sort(torch.from_numpy(x), dim)
        for _ in threads():
            v, i = ember.tensor(x).sort(dim)
            np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
            np.testing.assert_array_equal(v.numpy(), ref.values.numpy())
