"""sort's unstable order (torch.sort(stable=False): libstdc++'s std::sort permutation, ties
included) after _C's sort switched to a block partition that replays std::sort's swaps: the
same values and indices as PyTorch on lines long enough for the block path (over 2 blocks of
64 past the threshold of 16) with many ties, NaN, -0/+0, inf, all equal, sorted or reversed,
odd lengths, descending, other dims, non-contiguous input, float32/float64/int64, at 1 and 2
threads."""

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


def _edge(kind, n, dtype, rng):
    """A line of n values of one edge kind."""
    if kind == "ties":
        a = rng.integers(0, 7, n).astype(dtype)
    elif kind == "few_ties":
        a = rng.integers(0, n // 3 + 1, n).astype(dtype)
    elif kind == "equal":
        a = np.full(n, 2, dtype)
    elif kind == "sorted":
        a = np.sort(rng.integers(-50, 50, n)).astype(dtype)
    elif kind == "reversed":
        a = np.sort(rng.integers(-50, 50, n))[::-1].astype(dtype)
    elif kind == "organ":  # (median-of-3 killers push introsort toward its heap fallback)
        a = np.concatenate([np.arange(n // 2), np.arange(n - n // 2)[::-1]]).astype(dtype)
    else:  # "special": NaN, -0/+0, +-inf among a few values
        a = rng.choice(np.array([0.0, -0.0, 1.5, -1.5, np.inf, -np.inf, np.nan]), n)
        a = a.astype(dtype)
    return np.ascontiguousarray(a)


KINDS = ["ties", "few_ties", "equal", "sorted", "reversed", "organ", "special"]


def _check(x, dim, descending, threads):
    ref = torch.sort(torch.from_numpy(x.copy()), dim=dim, descending=descending, stable=False)
    for _ in threads():
        v, i = ember.tensor(x).sort(dim, descending=descending)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        # (bits: -0/+0 and NaN payloads in torch's places)
        vb, rb = v.numpy(), ref.values.numpy()
        assert vb.tobytes() == rb.tobytes()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("n", [1, 2, 17, 145, 146, 1000, 4099])
@pytest.mark.parametrize("descending", [False, True])
def test_float32_lines_match_torch(kind, n, descending, threads):
    rng = np.random.default_rng(n)
    x = np.stack([_edge(kind, n, np.float32, rng) for _ in range(3)])
    _check(x, -1, descending, threads)


@pytest.mark.parametrize(
    "kind, dtype",
    [(k, np.float64) for k in KINDS] + [(k, np.int64) for k in KINDS if k != "special"],
)  # (int64 has no NaN/inf)
@pytest.mark.parametrize("descending", [False, True])
def test_float64_int64_lines_match_torch(kind, dtype, descending, threads):
    rng = np.random.default_rng(7)
    x = np.stack([_edge(kind, n, dtype, rng) for n in (1001,) * 3])
    _check(x, 1, descending, threads)


@pytest.mark.parametrize("descending", [False, True])
def test_long_float32_line_with_ties_matches_torch(descending, threads):
    # one long line: its radix attempt meets a tie, then the key sort runs on 1e5 words
    rng = np.random.default_rng(3)
    x = rng.standard_normal(100_000).astype(np.float32)
    x[rng.integers(0, x.size, 2000)] = 0.5
    x[::977] = -0.0
    x[5::1231] = 0.0
    _check(x, 0, descending, threads)


def test_other_dim_and_noncontiguous_match_torch(threads):
    rng = np.random.default_rng(5)
    x = rng.integers(0, 9, (300, 4)).astype(np.float32)
    _check(x, 0, False, threads)  # dim other than last
    y = rng.integers(0, 9, (6, 800)).astype(np.float32)[:, ::2]  # strided lines of 400
    ref = torch.sort(torch.from_numpy(np.ascontiguousarray(y)), 1, descending=True)
    for _ in threads():
        v, i = ember.tensor(y).sort(1, descending=True)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())


def test_kernel_rows_equal_across_threads_and_torch():
    # many rows of heavy ties straight through _C.sort_indices, threaded over rows
    rng = np.random.default_rng(11)
    x = rng.integers(0, 20, (64, 700)).astype(np.float32)
    ref = torch.sort(torch.from_numpy(x), 1).indices.numpy()
    old = _C.get_num_threads()
    try:
        for nt in (1, 2):
            _C.set_num_threads(nt)
            np.testing.assert_array_equal(_C.sort_indices(x, False), ref)
    finally:
        _C.set_num_threads(old)


@pytest.mark.parametrize("descending", [False, True])
def test_long_float64_line_by_kernel_matches_torch(descending, threads):
    # a float64 line over 65536 now sorts in _C (was NumPy's argsort with tie checks)
    rng = np.random.default_rng(4)
    x = rng.integers(-300, 300, 70_001).astype(np.float64) / 7
    x[::1001] = np.nan
    x[3::997] = -0.0
    x[4::1003] = 0.0
    x[5::2003] = np.inf
    _check(x, 0, descending, threads)
    ember_x = ember.tensor(x, requires_grad=True)  # the graph's path takes the same order
    v, i = ember_x.sort(0, descending=descending)
    ref = torch.sort(torch.from_numpy(x), descending=descending)
    np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
    v.sum().backward()
    np.testing.assert_array_equal(ember_x.grad.numpy(), np.ones_like(x))


@pytest.mark.parametrize("where", ["none", "late", "early"])
def test_long_float32_line_tie_sample_paths_match_torch(where, threads):
    # the tie sample (first n / 16) finds a tie (early), misses it (late: the radix attempt
    # fails and the key sort runs) or there is none (the radix sort's order stands)
    rng = np.random.default_rng(9)
    x = (rng.permutation(40_000).astype(np.float32) - 20_000) * 0.5
    if where == "late":
        x[-1] = x[-2]
    elif where == "early":
        x[1] = x[2]
    for descending in (False, True):
        _check(x, 0, descending, threads)
