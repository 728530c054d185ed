"""scatter_reduce 'mean' in the C++ kernel and float16/bfloat16 sums read by _C.sum_dim16:
values against torch and NumPy references, bit for bit where the old path's bits are known,
edge cases, bad input at the C++ boundary, and 1 vs 2 threads."""

import ml_dtypes
import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")

BF16 = np.dtype(ml_dtypes.bfloat16)


@pytest.fixture
def threads():
    old = ember.get_num_threads()
    yield
    ember.set_num_threads(old)


# ---- scatter_reduce 'mean'


def _mean_ref(x, dim, index, src, include_self):
    """NumPy's: np.add.at sums and counts, the division in float64 rounded once (the old
    path's, and torch's float division of the float sum by the count)."""
    x = np.moveaxis(x, dim, -1)
    index = np.moveaxis(index, dim, -1)
    src = np.moveaxis(src, dim, -1)
    out = x.copy()
    count = np.zeros(x.shape, np.int64)
    lead = np.indices(index.shape)[:-1]
    key = (*lead, index)
    np.add.at(count, key, 1)
    if not include_self:
        out[count > 0] = 0
    np.add.at(out, key, src)
    out = (out / np.maximum(count + include_self, 1)).astype(x.dtype)
    return np.moveaxis(out, -1, dim)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("include_self", [True, False])
@pytest.mark.parametrize("shape,dim", [((7, 9), 1), ((7, 9), 0), ((3, 5, 4), 1), ((6,), 0)])
def test_scatter_reduce_mean_matches_numpy_and_torch(dtype, include_self, shape, dim):
    r = np.random.default_rng(0)
    x = r.standard_normal(shape).astype(dtype)
    index = r.integers(0, shape[dim], shape)
    src = r.standard_normal(shape).astype(dtype)
    got = ember.from_numpy(x).scatter_reduce(
        dim, ember.from_numpy(index), ember.from_numpy(src), "mean", include_self=include_self
    )
    np.testing.assert_array_equal(got.numpy(), _mean_ref(x, dim, index, src, include_self))
    want = torch.from_numpy(x).scatter_reduce(
        dim, torch.from_numpy(index), torch.from_numpy(src), "mean", include_self=include_self
    )
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_scatter_reduce_mean_nan_empty_and_strided():
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    src = np.full((3, 2), np.nan, np.float32)
    src[1] = [1.0, 2.0]
    index = np.array([[0, 0], [1, 1], [3, 3]])
    got = ember.from_numpy(x).scatter_reduce(
        1, ember.from_numpy(index), ember.from_numpy(src), "mean"
    )
    want = torch.from_numpy(x).scatter_reduce(
        1, torch.from_numpy(index), torch.from_numpy(src), "mean"
    )
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    # an empty index leaves x as it is
    e = ember.from_numpy(x).scatter_reduce(
        1, ember.zeros((3, 0), dtype=ember.int64), ember.zeros((3, 0)), "mean"
    )
    np.testing.assert_array_equal(e.numpy(), x)
    # a transposed (non-contiguous) x and src
    r = np.random.default_rng(1)
    xt = r.standard_normal((5, 6)).astype(np.float32).T
    st = r.standard_normal((5, 6)).astype(np.float32).T
    it = r.integers(0, 5, (6, 5))
    got = ember.from_numpy(xt).scatter_reduce(1, ember.from_numpy(it), ember.from_numpy(st), "mean")
    np.testing.assert_array_equal(got.numpy(), _mean_ref(xt, 1, it, st, True))


def test_scatter_reduce_mean_gradient_and_threads(threads):
    r = np.random.default_rng(2)
    x = r.standard_normal((4, 6))
    src = r.standard_normal((4, 6))
    index = r.integers(0, 6, (4, 6))
    xe = ember.tensor(x, requires_grad=True)
    se = ember.tensor(src, requires_grad=True)
    xe.scatter_reduce(1, ember.from_numpy(index), se, "mean").sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    st = torch.tensor(src, requires_grad=True)
    xt.scatter_reduce(1, torch.from_numpy(index), st, "mean").sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(se.grad.numpy(), st.grad.numpy(), rtol=1e-12)
    big = r.standard_normal((64, 2048)).astype(np.float32)
    bi = r.integers(0, 2048, big.shape)
    outs = []
    for n in (1, 2):
        ember.set_num_threads(n)
        outs.append(
            ember.from_numpy(big)
            .scatter_reduce(1, ember.from_numpy(bi), ember.from_numpy(big), "mean")
            .numpy()
        )
    np.testing.assert_array_equal(outs[0], outs[1])


def test_scatter_reduce_kernel_refuses_bad_input():
    x = np.zeros((2, 3), np.float32)
    i = np.zeros((2, 3), np.int64)
    with pytest.raises(ValueError, match="reduce must be"):
        _C.scatter_reduce(x, x, i, 1, "median", True, False)
    with pytest.raises(IndexError):
        _C.scatter_reduce(x, x, i + 3, 1, "mean", False, False)
    with pytest.raises(ValueError):
        _C.scatter_reduce(x, x[:, :2].copy(), i, 1, "mean", True, False)


# ---- float16 / bfloat16 sums


def _old_sum16(a, axes, keepdim):
    """The old path: the float32 copy's sum (the sum_dim kernel over a single run of dims)."""
    w = a.astype(np.float32)
    return _C.sum_dim(w, axes[0], axes[-1] + 1, keepdim, False)


@pytest.mark.parametrize("dt", [np.dtype(np.float16), BF16])
@pytest.mark.parametrize(
    "shape", [(1024,), (32, 32), (3, 5000), (300, 9, 40), (2, 1 << 17), (100001,)]
)
def test_sum_dim16_is_the_float32_copys_sum(dt, shape, threads):
    r = np.random.default_rng(3)
    a = (r.standard_normal(shape) * 8).astype(dt)
    bf = dt == BF16
    for n in (1, 2):
        ember.set_num_threads(n)
        for lo in range(len(shape)):
            for hi in range(lo + 1, len(shape) + 1):
                for sq in (False, True):
                    want = _C.sum_dim(a.astype(np.float32), lo, hi, False, sq)
                    got = _C.sum_dim16(a.view(np.uint16), lo, hi, False, sq, bf)
                    assert got.dtype == np.float32
                    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
@pytest.mark.parametrize("dim", [None, 0, 1, -1, (0, 2), (2, 0), (1, 2)])
def test_16bit_sum_against_torch(dt, dim):
    r = np.random.default_rng(4)
    x = r.standard_normal((8, 33, 40)).astype(np.float32)
    xe = ember.from_numpy(x).to(getattr(ember, dt))
    xt = torch.from_numpy(x).to(getattr(torch, dt))
    got = xe.sum() if dim is None else xe.sum(dim)
    want = xt.sum() if dim is None else xt.sum(dim)
    assert got.dtype == getattr(ember, dt) and tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(
        got.float().numpy(),
        want.float().numpy(),
        rtol=1e-2 if dt == "bfloat16" else 2e-3,
        atol=1e-2,
    )
    # bit for bit the old path's value: float32 copy, the kernel, one rounding
    if dim in (None, 0, 1, -1, (1, 2)):
        axes = tuple(range(3)) if dim is None else ((dim % 3,) if isinstance(dim, int) else dim)
        old = _old_sum16(xe.numpy(), axes, False).astype(xe.numpy().dtype)
        np.testing.assert_array_equal(got.numpy().view(np.uint16), old.view(np.uint16))


@pytest.mark.parametrize("dt", ["float16", "bfloat16"])
def test_16bit_sum_edges(dt):
    d = getattr(ember, dt)
    # special values: inf, NaN, subnormals, zeros of both signs
    vals = np.array([np.inf, 1.0, -0.0, 0.0, 6e-8, -3e-6, 2.0, np.nan] * 256, np.float32)
    x = ember.from_numpy(vals).to(d)
    got = x.sum()
    want = torch.from_numpy(vals).to(getattr(torch, dt)).sum()
    assert np.isnan(got.float().item()) and torch.isnan(want.float())
    no_nan = vals[~np.isnan(vals)].copy()
    got = ember.from_numpy(no_nan).to(d).sum().float().item()
    assert got == torch.from_numpy(no_nan).to(getattr(torch, dt)).sum().float().item() == np.inf
    small = np.array([6e-8, -3e-6, -0.0, 1e-5] * 512, np.float32)
    g = ember.from_numpy(small).to(d).sum(0)
    w = torch.from_numpy(small).to(getattr(torch, dt)).sum(0)
    np.testing.assert_allclose(g.float().item(), w.float().item(), rtol=1e-2)
    # empty, 0-d, non-contiguous (the widened copy's path)
    assert ember.zeros((0, 5), dtype=d).sum().float().item() == 0.0
    assert ember.tensor(3.5).to(d).sum().float().item() == 3.5
    r = np.random.default_rng(5).standard_normal((64, 48)).astype(np.float32)
    t = ember.from_numpy(r).to(d).T
    np.testing.assert_allclose(
        t.sum(1).float().numpy(),
        torch.from_numpy(r).to(getattr(torch, dt)).T.sum(1).float().numpy(),
        rtol=2e-2,
        atol=2e-2,
    )


def test_16bit_sum_gradient():
    x = ember.randn(40, 30).half().requires_grad_()
    x.sum(1).sum().backward()
    assert x.grad.dtype == ember.float16
    np.testing.assert_array_equal(x.grad.float().numpy(), np.ones((40, 30), np.float32))


def test_sum_dim16_refuses_bad_input():
    a = np.zeros((4, 300), np.float16)
    with pytest.raises(TypeError):
        _C.sum_dim16(a.astype(np.float32), 0, 2)
    with pytest.raises(TypeError):
        _C.sum_dim16(a.view(np.int16), 0, 2)
    with pytest.raises(ValueError, match="shape"):
        _C.sum_dim16(a.view(np.uint16), 1, 3)
    with pytest.raises(ValueError):
        _C.sum_dim16(a.view(np.uint16)[:, ::2], 0, 2)
