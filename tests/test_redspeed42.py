"""Integer gather/scatter adding kernels, integer extremes, integer cumsum, count_nonzero and
topk's tie rows against torch: values, indices, dtypes, wrap-around, duplicates, bad indices,
empty dims; float64 gradcheck of scatter_reduce (its kernel's first-hit flags changed)."""

import numpy as np
import pytest
from conftest import at_threads, same_error

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")

INTS = ("int32", "int64")
REDUCES = ("sum", "prod", "mean", "amax", "amin")


def _ints(rng, dt, shape, wide):
    """Integers of dt: the whole range (sums and products wrap) or a small one (ties)."""
    if wide:
        info = np.iinfo(dt)
        return rng.integers(info.min, info.max, shape, dtype=dt, endpoint=True)
    return rng.integers(-4, 5, shape).astype(dt)


def _same(e, t):
    t = t.numpy()
    assert e.dtype == t.dtype and e.shape == t.shape
    np.testing.assert_array_equal(e, t)


@pytest.mark.parametrize("dt", INTS)
@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("wide", [True, False])
def test_int_scatter_reduce_matches_torch(dt, reduce, include_self, wide):
    rng = np.random.default_rng(hash((dt, reduce, include_self, wide)) % 2**32)
    for shape, dim, n in (((6, 9), 0, 4), ((6, 9), 1, 13), ((3, 5, 4), -2, 7), ((40,), 0, 90)):
        x = _ints(rng, dt, shape, wide)
        ishape = list(shape)
        ishape[dim] = n
        src = _ints(rng, dt, ishape, wide)
        idx = rng.integers(0, shape[dim], ishape)  # (many duplicates: n > shape[dim] too)
        got = ember.scatter_reduce(
            ember.tensor(x), dim, ember.tensor(idx), ember.tensor(src), reduce,
            include_self=include_self,
        ).numpy()  # fmt: skip
        want = torch.scatter_reduce(
            torch.from_numpy(x), dim, torch.from_numpy(idx), torch.from_numpy(src), reduce,
            include_self=include_self,
        )  # fmt: skip
        _same(got, want)


@pytest.mark.parametrize("dt", INTS)
def test_int_scatter_add_index_add_wrap_as_torch(dt):
    rng = np.random.default_rng(3)
    for shape, dim in (((7, 11), 0), ((7, 11), 1), ((4, 3, 130), -1), ((300, 5), 0)):
        x = _ints(rng, dt, shape, True)
        src = _ints(rng, dt, shape, True)
        idx = rng.integers(0, shape[dim], shape)
        e = ember.scatter_add(ember.tensor(x), dim, ember.tensor(idx), ember.tensor(src))
        t = torch.scatter_add(
            torch.from_numpy(x), dim, torch.from_numpy(idx), torch.from_numpy(src)
        )
        _same(e.numpy(), t)
        i1 = rng.integers(0, shape[dim], shape[dim])  # (repeats: their sums wrap)
        for alpha in (1, 3):
            e = ember.index_add(
                ember.tensor(x), dim, ember.tensor(i1), ember.tensor(src), alpha=alpha
            )
            t = torch.index_add(
                torch.from_numpy(x), dim, torch.from_numpy(i1), torch.from_numpy(src), alpha=alpha
            )
            _same(e.numpy(), t)
        # in place, through the same kernels
        a, b = ember.tensor(x.copy()), torch.from_numpy(x.copy())
        a.scatter_add_(dim, ember.tensor(idx), ember.tensor(src))
        b.scatter_add_(dim, torch.from_numpy(idx), torch.from_numpy(src))
        _same(a.numpy(), b)


def test_int_index_add_float_alpha_truncated_as_torch():
    x = np.arange(12, dtype=np.int64).reshape(4, 3)
    i = np.array([0, 0, 3, 1])
    for dt in INTS:
        for alpha in (1.5, -2.7, 0.5):
            e = ember.index_add(
                ember.tensor(x.astype(dt)), 0, ember.tensor(i), ember.tensor(x.astype(dt)),
                alpha=alpha,
            )  # fmt: skip
            t = torch.index_add(
                torch.from_numpy(x.astype(dt)), 0, torch.from_numpy(i),
                torch.from_numpy(x.astype(dt)), alpha=alpha,
            )  # fmt: skip
            _same(e.numpy(), t)


@pytest.mark.parametrize("dt", ("int32", "int64", "float32", "float64"))
def test_bad_scatter_indices_raise_as_torch(dt):
    """Random shapes with an index value out of range or negative: torch's exception family
    from every adding kernel, never a crash, and x left as it was."""
    rng = np.random.default_rng(11)
    for trial in range(30):
        nd = int(rng.integers(1, 4))
        shape = tuple(int(s) for s in rng.integers(1, 6, nd))
        dim = int(rng.integers(-nd, nd))
        x = (rng.standard_normal(shape) * 9).astype(dt)
        idx = rng.integers(0, shape[dim], shape)
        idx.flat[int(rng.integers(0, idx.size))] = int(
            rng.choice([-1, -shape[dim] - 3, shape[dim], shape[dim] + 7, 2**40])
        )
        i1 = idx.reshape(-1)[: shape[dim]].copy()
        if (i1 >= 0).all() and (i1 < shape[dim]).all():
            i1[0] = shape[dim]
        red, inc = REDUCES[trial % 5], trial % 2 == 0
        e = _bad_index_calls(ember, ember.tensor(x), ember.tensor(idx), ember.tensor(i1), dim)
        t = _bad_index_calls(torch, torch.from_numpy(x.copy()), torch.from_numpy(idx),
                             torch.from_numpy(i1), dim)  # fmt: skip
        for fe, ft in zip(e(red, inc), t(red, inc)):
            same_error(fe, ft)
        np.testing.assert_array_equal(e.x.numpy(), x)


def _bad_index_calls(lib, x, idx, i1, dim):
    """The adding calls of lib (torch or ember) on x with index idx (i1: index_add's)."""

    def calls(red, inc):
        return (
            lambda: lib.scatter_add(x, dim, idx, x),
            lambda: lib.scatter_reduce(x, dim, idx, x, red, include_self=inc),
            lambda: lib.index_add(x, dim, i1, x),
            lambda: x.scatter_add_(dim, idx, x),
        )

    calls.x = x
    return calls


@pytest.mark.parametrize("dt", INTS)
def test_int_scatter_empty(dt):
    x = np.arange(12, dtype=dt).reshape(3, 4)
    idx = np.zeros((0, 4), np.int64)
    src = np.zeros((0, 4), dt)
    for reduce in REDUCES:
        e = ember.scatter_reduce(ember.tensor(x), 0, ember.tensor(idx), ember.tensor(src), reduce)
        t = torch.scatter_reduce(
            torch.from_numpy(x), 0, torch.from_numpy(idx), torch.from_numpy(src), reduce
        )
        _same(e.numpy(), t)
    e = ember.scatter_add(ember.tensor(x), 0, ember.tensor(idx), ember.tensor(src))
    _same(
        e.numpy(),
        torch.scatter_add(torch.from_numpy(x), 0, torch.from_numpy(idx), torch.from_numpy(src)),
    )


def test_int_scatter_reduce_same_at_threads():
    """Integer sums are exact: any thread count gives the same numbers (and torch's)."""
    rng = np.random.default_rng(5)
    x = _ints(rng, "int64", (64, 2048), True)
    idx = rng.integers(0, 2048, (64, 2048))
    want = torch.scatter_reduce(
        torch.from_numpy(x), 1, torch.from_numpy(idx), torch.from_numpy(x), "sum"
    )
    for nt in (1, 2):
        with at_threads(nt):
            e = ember.scatter_reduce(ember.tensor(x), 1, ember.tensor(idx), ember.tensor(x), "sum")
        _same(e.numpy(), want)


@pytest.mark.parametrize("reduce", REDUCES)
@pytest.mark.parametrize("include_self", [True, False])
def test_float_scatter_reduce_gradcheck_and_values(reduce, include_self):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 5))
    src = rng.standard_normal((6, 5))
    src[1, 2] = src[0, 2]  # (a tie for amax / amin)
    idx = rng.integers(0, 4, (6, 5))
    for dim, s, i in ((0, src, idx), (1, src.T[:4].copy(), rng.integers(0, 5, (4, 6)))):
        xs = x if dim == 0 else rng.standard_normal((4, 5))
        a = ember.tensor(xs, requires_grad=True)
        b = ember.tensor(s, requires_grad=True)
        it = ember.tensor(i)
        got = ember.scatter_reduce(a, dim, it, b, reduce, include_self=include_self)
        want = torch.scatter_reduce(
            torch.from_numpy(xs), dim, torch.from_numpy(i), torch.from_numpy(s), reduce,
            include_self=include_self,
        )  # fmt: skip
        np.testing.assert_allclose(got.detach().numpy(), want.numpy(), rtol=1e-12, atol=1e-12)
        assert got.grad_fn.name() == "ScatterReduceBackward0"

        def f(p, q, dim=dim, it=it):
            return ember.scatter_reduce(p, dim, it, q, reduce, include_self=include_self)

        assert gradcheck(f, (a, b))
        nan = xs.copy()
        nan[0, 0] = np.nan
        e = ember.scatter_reduce(ember.tensor(nan), dim, it, ember.tensor(s), reduce,
                                 include_self=include_self).numpy()  # fmt: skip
        t = torch.scatter_reduce(torch.from_numpy(nan), dim, torch.from_numpy(i),
                                 torch.from_numpy(s), reduce,
                                 include_self=include_self)  # fmt: skip
        np.testing.assert_allclose(e, t.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dt", INTS)
@pytest.mark.parametrize("wide", [True, False])
def test_int_extremes_match_torch(dt, wide):
    rng = np.random.default_rng(13)
    for shape in ((1000, 300), (3, 7), (5, 300, 7), (1,), (9, 1), (2, 600)):
        a = _ints(rng, dt, shape, wide)
        views = [a] + ([a.T, a[:, ::2]] if a.ndim == 2 else [])
        for v in views:
            E, T = ember.tensor(v), torch.from_numpy(v.copy(order="C"))
            for d in range(-v.ndim, v.ndim):
                for k in (False, True):
                    for f in ("amax", "amin", "argmax", "argmin"):
                        _same(
                            getattr(ember, f)(E, d, keepdim=k).numpy(),
                            getattr(torch, f)(T, d, keepdim=k),
                        )
                    for f in ("max", "min"):
                        e, t = (
                            getattr(ember, f)(E, d, keepdim=k),
                            getattr(torch, f)(T, d, keepdim=k),
                        )
                        _same(e[0].numpy(), t[0])
                        _same(e[1].numpy(), t[1])  # (ties: the first index, as torch's)
            _same(ember.max(E).numpy(), torch.max(T))
            if v.ndim > 1:
                _same(ember.amin(E, (0, -1)).numpy(), torch.amin(T, (0, -1)))
    same_error(
        lambda: ember.amax(ember.tensor(np.zeros((0, 3), dt)), 0),
        lambda: torch.amax(torch.zeros((0, 3), dtype=getattr(torch, dt)), 0),
    )


@pytest.mark.parametrize("dt", ("int32", "int64", "bool"))
def test_int_cumsum_matches_torch(dt):
    rng = np.random.default_rng(17)
    for shape in ((300, 200), (3, 4, 5), (0, 3), (5,), (2, 0), ()):
        if dt == "bool":
            a = np.asarray(rng.random(shape) < 0.5)
        else:
            a = _ints(rng, dt, shape, True)  # (wraps: torch's int64 running sums)
        views = [a] + ([a.T, a[::2, 1:]] if a.ndim == 2 else [])
        for v in views:
            for d in range(-max(v.ndim, 1), max(v.ndim, 1)):
                e = ember.cumsum(ember.tensor(v), d).numpy()
                t = torch.cumsum(torch.from_numpy(v.copy(order="C")), d)
                _same(e, t)
    same_error(
        lambda: ember.cumsum(ember.tensor(np.zeros((2, 3), dt)), 2),
        lambda: torch.cumsum(torch.from_numpy(np.zeros((2, 3), dt)), 2),
    )


@pytest.mark.parametrize("dt", ("bool", "int64", "float32"))
def test_count_nonzero_matches_torch(dt):
    rng = np.random.default_rng(19)
    for shape in ((40, 30), (3, 4, 5), (0, 3), (2, 0, 3), (5,), ()):
        a = np.asarray(rng.random(shape) < 0.5).astype(dt)
        if dt == "float32" and a.size:
            a.flat[0] = -0.0
            a.flat[-1] = np.nan  # (NaN is nonzero)
        views = [a] + ([a.T] if a.ndim == 2 else [])
        for v in views:
            T = torch.from_numpy(v.copy(order="C"))
            E = ember.tensor(v)
            _same(ember.count_nonzero(E).numpy(), torch.count_nonzero(T))
            dims = list(range(-v.ndim, v.ndim)) + ([(0, -1)] if v.ndim > 1 else [])
            for d in dims:
                _same(ember.count_nonzero(E, d).numpy(), torch.count_nonzero(T, d))


@pytest.mark.parametrize("dt", ("int32", "int64", "float32"))
def test_topk_tie_rows_match_torch(dt):
    """Rows full of ties (the heap decides their order, as torch's) and rows without."""
    rng = np.random.default_rng(23)
    for hi in (3, 100, 10**6):
        for shape in ((50, 1000), (20, 2048), (3, 320)):
            a = rng.integers(-hi, hi, shape).astype(dt)
            if hi == 10**6:
                a[::3] = rng.integers(-2, 2, (len(a[::3]), shape[1]))  # (rows of both kinds)
            for k in (1, 10):
                for largest in (True, False):
                    for d in (1, 0)[: 1 + (shape[0] >= k)]:
                        e = ember.topk(ember.tensor(a), k, d, largest=largest)
                        t = torch.topk(torch.from_numpy(a), k, d, largest=largest)
                        _same(e[0].numpy(), t[0])
                        _same(e[1].numpy(), t[1])
