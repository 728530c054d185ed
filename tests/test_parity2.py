"""PyTorch parity, bit for bit: tie order of the selection ops, prod's gradient at zeros and
NaNs, signed zeros and infinities in pow/sqrt/rsqrt/abs/sign gradients, and a sweep of
elementwise and reduction ops over inputs holding 0, -0, inf, -inf, nan, huge and tiny values."""

import itertools

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _same(e, t):
    """ember and torch results equal: shape, dtype and every value (NaN equal to NaN)."""
    a, b = np.asarray(e.numpy() if hasattr(e, "numpy") else e), t.detach().numpy()
    assert a.shape == b.shape, (a.shape, b.shape)
    assert a.dtype == b.dtype, (a.dtype, b.dtype)
    np.testing.assert_array_equal(a, b)


def _tied(rng, shape, dtype, nan=False):
    """Integer values from a few levels (so many ties), optionally some NaNs."""
    a = rng.integers(0, int(rng.choice([2, 4, 30])), shape).astype(dtype)
    if nan:
        a[rng.random(shape) < 0.2] = np.nan
    return a


SELECT_CASES = [  # (dtype, NaNs, shape)
    (np.float32, False, (5, 7)),
    (np.float64, True, (3, 4, 6)),
    (np.int64, False, (2, 9, 3)),
    (np.int32, False, (40,)),
    (np.float32, False, (2, 300)),  # topk's heap path (k * 64 <= n) and introsort's partitions
    (np.float64, True, (200, 3)),
    (np.int64, False, (3, 129)),
]


@pytest.mark.parametrize("dtype,nan,shape", SELECT_CASES, ids=str)
def test_topk_tie_order_matches_torch(dtype, nan, shape):
    rng = np.random.default_rng(len(shape) * 10 + shape[-1])
    a = _tied(rng, shape, dtype, nan)
    for dim in range(-len(shape), len(shape)):
        n = shape[dim]
        for k in sorted({0, 1, 2, 3, n // 64, n // 2, n - 1, n} & set(range(n + 1))):
            for largest, srt in itertools.product([True, False], [True, False]):
                e = ember.topk(ember.tensor(a), k, dim, largest, srt)
                t = torch.topk(torch.tensor(a), k, dim, largest, srt)
                _same(e.indices, t.indices)
                _same(e.values, t.values)


@pytest.mark.parametrize("dtype,nan,shape", SELECT_CASES, ids=str)
def test_sort_kthvalue_mode_tie_order_matches_torch(dtype, nan, shape):
    rng = np.random.default_rng(shape[-1])
    a = _tied(rng, shape, dtype, nan)
    e, t = ember.tensor(a), torch.tensor(a)
    for dim in range(-len(shape), len(shape)):
        n = shape[dim]
        for desc, stable in itertools.product([False, True], [False, True]):
            es, ts = (
                ember.sort(e, dim, desc, stable),
                torch.sort(t, dim=dim, descending=desc, stable=stable),
            )
            _same(es.indices, ts.indices)
            _same(es.values, ts.values)
            _same(
                ember.argsort(e, dim, desc, stable),
                torch.argsort(t, dim=dim, descending=desc, stable=stable),
            )
        for k in sorted({1, 2, n // 2 + 1, n} & set(range(1, n + 1))):
            _same(ember.kthvalue(e, k, dim).indices, torch.kthvalue(t, k, dim).indices)
        for name in ["max", "min", "median", "nanmedian", "mode", "cummax", "cummin"]:
            er, tr = getattr(ember, name)(e, dim), getattr(torch, name)(t, dim)
            _same(er[1], tr[1])
            _same(er[0], tr[0])
        _same(ember.argmax(e, dim), torch.argmax(t, dim))
        _same(ember.argmin(e, dim), torch.argmin(t, dim))


def test_long_1d_integer_sort_is_stable_as_torch_radix_sort():
    # PyTorch radix-sorts 1-D integer tensors of 2**15 entries or more (ascending): stable
    a = np.random.default_rng(0).integers(-50, 50, 40000)
    for desc in [False, True]:
        e = ember.sort(ember.tensor(a), descending=desc)
        _same(e.indices, torch.sort(torch.tensor(a), descending=desc).indices)
    two_d = a.reshape(1, -1)  # not 1-D: the unstable sort
    _same(ember.argsort(ember.tensor(two_d)), torch.argsort(torch.tensor(two_d)))


def test_selection_kernels_refuse_bad_input():
    from ember import _C

    x = np.zeros((2, 3), np.float32)
    with pytest.raises(TypeError, match="topk_indices"):
        _C.topk_indices(x.astype(np.int8), 1, True, True)
    with pytest.raises(ValueError, match="out of range"):
        _C.topk_indices(x, 4, True, True)
    with pytest.raises(ValueError, match="out of range"):
        _C.kthvalue_indices(x, 3)
    with pytest.raises(ValueError, match="2-D"):
        _C.mode_indices(x.reshape(-1))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.sort_indices(np.zeros((3, 2)).T, False)
    with pytest.raises(IndexError):
        ember.mode(ember.zeros(2, 0), 1)


# ---- prod's gradient -------------------------------------------------------------------------

PROD_INPUTS = [
    [[1.5, 0.0, 2.0], [3.0, -1.0, 0.5]],  # one zero
    [[0.0, 0.0, 2.0], [3.0, -1.0, 0.5]],  # two zeros in one row
    [[0.0, 4.0, 2.0], [3.0, -0.0, 0.5]],  # a zero in each row
    [[np.nan, 4.0, 2.0], [3.0, 2.0, 0.5]],  # NaN, no zero: NaN everywhere
    [[np.nan, 0.0, 2.0], [3.0, 2.0, 0.5]],  # NaN and a zero
    [[np.inf, 4.0, 2.0], [3.0, 2.0, 0.5]],  # inf / inf
    [[np.inf, 0.0, 2.0], [3.0, 2.0, 0.5]],
    [[1e200, 1e200, 1e-300], [3.0, 2.0, 0.5]],  # the product overflows
    [[-0.0, 1.0, 2.0], [3.0, 2.0, 0.5]],
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x", PROD_INPUTS, ids=str)
def test_prod_gradient_matches_torch(x, dtype):
    x = np.array(x, dtype)
    for dim, keepdim in [(None, False), (0, False), (1, False), (-1, True)]:
        grads = []
        for lib in (ember, torch):
            t = lib.tensor(x.copy(), requires_grad=True)
            y = lib.prod(t) if dim is None else lib.prod(t, dim, keepdim=keepdim)
            (y * lib.tensor(np.full(y.shape, 1.5, dtype))).sum().backward()
            grads.append((y, t.grad))
        _same(grads[0][0], grads[1][0])
        _same(grads[0][1], grads[1][1])


def test_prod_gradient_of_a_0d_tensor_is_the_incoming_gradient():
    for v in [0.0, np.inf, np.nan, 2.0]:
        t = ember.tensor(v, requires_grad=True)
        (ember.prod(t) * 3.0).backward()
        assert t.grad.item() == 3.0
