"""Reductions, sort and flip after speed25b's fast paths (the one-pass argmax/argmin/max(dim)
kernel, the trimmed fronts of argmax, norm() and sort): values and indices against NumPy and
PyTorch, first-index ties, NaN, -0.0/+0.0, empty and size-1 dims, non-contiguous inputs,
float64 and integer dtypes, and the same result at 1 and 2 threads."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _rows(shape, seed=0, dtype=np.float32, levels=None):
    """Random values; with levels, integers in [0, levels) (many ties)."""
    rng = np.random.default_rng(seed)
    if levels is not None:
        return rng.integers(0, levels, shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


# row lengths around the kernel's vector blocks (4 vectors of 8 float32 / 4 float64 lanes)
LENGTHS = [1, 2, 7, 31, 32, 33, 63, 64, 65, 100, 257, 1000]


@pytest.mark.parametrize("n", LENGTHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("levels", [None, 3])
def test_argmax_argmin_max_rows_match_torch(n, dtype, levels, threads):
    x = _rows((9, n), seed=n, dtype=dtype, levels=levels)
    t = torch.from_numpy(x)
    for _ in threads():
        e = ember.tensor(x)
        np.testing.assert_array_equal(e.argmax(1).numpy(), t.argmax(1).numpy())
        np.testing.assert_array_equal(e.argmin(1).numpy(), t.argmin(1).numpy())
        np.testing.assert_array_equal(e.argmax(-1).numpy(), np.argmax(x, -1))  # first index
        v, i = e.max(1)
        tv, ti = t.max(1)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_array_equal(v.numpy(), tv.numpy())
        v, i = e.min(1, keepdim=True)
        tv, ti = t.min(1, keepdim=True)
        np.testing.assert_array_equal(i.numpy(), ti.numpy())
        np.testing.assert_array_equal(v.numpy(), tv.numpy())


@pytest.mark.parametrize("n", [5, 40, 77, 1000])
def test_argmax_first_index_of_ties_across_lanes(n):
    # the extreme in several lanes and blocks: the lowest index wins, as torch's
    for spots in ([n - 1], [n // 2, n - 1], [3, n // 3, n - 2], [0, n - 1]):
        x = np.zeros((2, n), np.float32)
        x[:, sorted(set(spots))] = 5.0
        assert ember.tensor(x).argmax(1).tolist() == [min(spots)] * 2
        assert ember.tensor(-x).argmin(1).tolist() == [min(spots)] * 2
        assert torch.from_numpy(x).argmax(1).tolist() == [min(spots)] * 2


@pytest.mark.parametrize("n", [6, 40, 100, 1000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_argmax_nan_takes_the_first_nan(n, dtype):
    x = _rows((5, n), seed=1, dtype=dtype)
    x[0, n - 1] = np.nan  # in the tail
    x[1, 0] = np.nan  # in the first block
    x[2, [n // 2, n // 3]] = np.nan  # two: the first wins
    x[3, :] = np.nan
    t = torch.from_numpy(x)
    e = ember.tensor(x)
    for name in ("argmax", "argmin"):
        np.testing.assert_array_equal(getattr(e, name)(1).numpy(), getattr(t, name)(1).numpy())
    v, i = e.max(1)
    tv, ti = t.max(1)
    np.testing.assert_array_equal(i.numpy(), ti.numpy())
    np.testing.assert_array_equal(v.numpy(), tv.numpy())  # (NaN == NaN for assert_array_equal)


@pytest.mark.parametrize("n", [4, 64, 200])
def test_max_of_signed_zeros_keeps_the_first_and_its_sign(n):
    x = np.full((2, n), -1.0, np.float32)
    x[0, 1], x[0, n - 1] = -0.0, 0.0
    x[1, 2], x[1, n // 2] = 0.0, -0.0
    v, i = ember.tensor(x).max(1)
    tv, ti = torch.from_numpy(x).max(1)
    assert i.tolist() == ti.tolist() == [1, 2]
    np.testing.assert_array_equal(np.signbit(v.numpy()), np.signbit(tv.numpy()))


def test_argmax_noncontiguous_empty_size1_and_ints():
    x = _rows((40, 70), seed=2)
    t = torch.from_numpy(x)
    for view in (lambda a: a.T, lambda a: a[:, ::2], lambda a: a[::3]):
        np.testing.assert_array_equal(view(ember.tensor(x)).argmax(1).numpy(), view(t).argmax(1))
        np.testing.assert_array_equal(view(ember.tensor(x)).argmax(0).numpy(), view(t).argmax(0))
    assert ember.tensor(np.zeros((0, 5), np.float32)).argmax(1).shape == (0,)
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        ember.tensor(np.zeros((3, 0), np.float32)).argmax(1)
    one = ember.tensor(x[:, :1]).argmax(1, keepdim=True)
    assert one.shape == (40, 1) and not one.numpy().any()
    xi = _rows((6, 50), seed=3, dtype=np.int64, levels=4)
    ref = torch.from_numpy(xi).argmax(1)
    np.testing.assert_array_equal(ember.tensor(xi).argmax(1).numpy(), ref.numpy())
    assert ember.tensor(x).argmax().item() == int(np.argmax(x))
    assert ember.tensor(x).argmax(1).dtype == ember.int64


@pytest.mark.parametrize("shape", [(32, 32), (7, 150), (1000,), (3, 4, 100), (1,), ()])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norm_all_matches_torch_and_numpy(shape, dtype, threads):
    x = _rows(shape, seed=4, dtype=dtype)
    ref = torch.from_numpy(x).norm().item()
    for _ in threads():
        y = ember.tensor(x).norm()
        assert y.shape == () and y.dtype == ember.tensor(x).dtype
        np.testing.assert_allclose(y.item(), ref, rtol=1e-6 if dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(y.item(), np.linalg.norm(x.astype(np.float64)), rtol=1e-6)
    # the same bits as the checked path's reduction (norm over every dim named)
    e = ember.tensor(x)
    assert e.norm().item() == e.norm(dim=tuple(range(x.ndim)) or None).item()


def test_norm_all_edge_cases():
    assert ember.tensor(np.zeros((0, 3), np.float32)).norm().item() == 0.0
    big = np.full((40, 40), 1e30, np.float32)  # squares overflow float32: inf, as torch's
    assert ember.tensor(big).norm().item() == torch.from_numpy(big).norm().item()
    t = ember.tensor(_rows((32, 32), seed=5), requires_grad=True)
    t.norm().backward()  # (the graph path is unchanged)
    np.testing.assert_allclose(t.grad.numpy(), (t / t.norm()).detach().numpy(), rtol=1e-6)
    nc = _rows((64, 64), seed=6)[:, ::2]
    np.testing.assert_allclose(ember.tensor(nc).norm().item(), np.linalg.norm(nc), rtol=1e-6)
    with pytest.raises(TypeError, match="floating point"):
        ember.tensor(np.ones((40, 40), np.int64)).norm()


@pytest.mark.parametrize("shape", [(32, 32), (5, 1000), (3000,)])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("levels", [None, 7])
def test_sort_matches_torch_order(shape, descending, levels, threads):
    x = _rows(shape, seed=7, levels=levels)
    if levels is None:
        x.flat[3] = np.nan
        x.flat[5] = -0.0
        x.flat[9] = 0.0
    ref = torch.sort(torch.from_numpy(x), -1, descending=descending)
    for _ in threads():
        v, i = ember.tensor(x).sort(-1, descending=descending)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())
    if levels is None and not descending:
        assert np.isnan(ember.tensor(x).sort(-1)[0].numpy().reshape(-1, shape[-1])[0, -1])


def test_sort_float64_ints_noncontiguous_and_empty():
    x = _rows((20, 40), seed=8, dtype=np.float64, levels=5)
    for arr in (x, x.astype(np.int64), x.astype(np.int32)):
        ref = torch.sort(torch.from_numpy(arr), 1)
        v, i = ember.tensor(arr).sort(1)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())
    y = _rows((30, 50), seed=9)
    for view in (lambda a: a.T, lambda a: a[:, ::2]):
        ref = torch.sort(view(torch.from_numpy(y)), -1)
        v, i = view(ember.tensor(y)).sort(-1)
        np.testing.assert_array_equal(i.numpy(), ref.indices.numpy())
        np.testing.assert_array_equal(v.numpy(), ref.values.numpy())
    v, i = ember.tensor(np.zeros((3, 0), np.float32)).sort(-1)
    assert v.shape == i.shape == (3, 0)
    v, i = ember.tensor(np.float32([2.5])).sort()
    assert v.tolist() == [2.5] and i.tolist() == [0]


def test_sum_dim0_and_flip_match_torch(threads):
    x = _rows((300, 70), seed=10)
    t = torch.from_numpy(x)
    for _ in threads():
        np.testing.assert_allclose(
            ember.tensor(x).sum(0).numpy(), t.sum(0).numpy(), rtol=1e-5, atol=1e-5
        )
        e = ember.tensor(x, requires_grad=True)
        tg = t.clone().requires_grad_()
        w = _rows((300, 70), seed=11)
        (e.flip(0) * ember.tensor(w)).sum().backward()
        (tg.flip(0) * torch.from_numpy(w)).sum().backward()
        np.testing.assert_array_equal(e.flip(0).detach().numpy(), tg.flip(0).detach().numpy())
        np.testing.assert_array_equal(e.grad.numpy(), tg.grad.numpy())
