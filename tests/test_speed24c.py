"""speed24c's fast paths: a float tensor with a Python number straight from the operator
methods (tensor._by_number), and einsum's row dot products by _C.dot_rows."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember import _C
from ember.autograd import gradcheck

OPS = {
    "add": (lambda x, s: x + s, lambda x, s: s + x, np.add),
    "sub": (lambda x, s: x - s, lambda x, s: s - x, np.subtract),
    "mul": (lambda x, s: x * s, lambda x, s: s * x, np.multiply),
    "div": (lambda x, s: x / s, lambda x, s: s / x, np.true_divide),
}
NUMBERS = [0.1, -3, 7, 1e30, 2**53, 2**60, True, 1.5 + 2j]  # (torch refuses -(2**70))


def _torch_dtype(torch, dt):
    return {np.float32: torch.float32, np.float64: torch.float64}[np.dtype(dt).type]


@pytest.mark.parametrize("op", sorted(OPS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("s", NUMBERS)
def test_tensor_with_number_matches_torch(op, dtype, s):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(dtype) + 2
    fwd, rev, _ = OPS[op]
    for f in (fwd, rev):
        if op == "sub" and type(s) is bool:
            continue  # (ember refuses a bool in sub where torch takes it; not a fast path)
        got = f(ember.tensor(x), s)
        want = f(torch.tensor(x), s)
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert got.shape == tuple(want.shape)


@pytest.mark.parametrize("op", sorted(OPS))
def test_number_fast_path_bits_equal_general_path(op):
    # the fast path gives the bits of the general entry (ops.add etc.), which it skips
    x = ember.tensor(np.random.default_rng(1).standard_normal((8, 9)).astype(np.float32))
    fwd, rev, _ = OPS[op]
    general = getattr(ember, op)
    for s in (0.3, 3, -(2**53), 1e-45, 2**63 - 1, 1e30):
        np.testing.assert_array_equal(fwd(x, s).numpy(), general(x, s).numpy())
        if op in ("add", "mul"):  # (__rsub__ and __rtruediv__ keep their own paths)
            np.testing.assert_array_equal(rev(x, s).numpy(), general(s, x).numpy())
    for f in (lambda: fwd(x, -(2**70)), lambda: general(x, -(2**70))):  # torch's OverflowError
        with pytest.raises(OverflowError):
            f()


@pytest.mark.parametrize("dtype", [np.float16, np.int32, np.int64, np.bool_, np.complex64])
def test_number_other_dtypes_match_torch(dtype):
    torch = pytest.importorskip("torch")
    x = (np.arange(40).reshape(5, 8) % 3).astype(dtype)
    for s in (2, 0.5):
        for f in (lambda a, s: a + s, lambda a, s: s * a, lambda a, s: a * s, lambda a, s: s + a):
            got, want = f(ember.tensor(x), s), f(torch.tensor(x), s)
            assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
            np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3)


def test_number_views_zero_d_and_subclass():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((6, 8)).astype(np.float32)
    for x, tx in [
        (ember.tensor(a)[:, ::2], torch.tensor(a)[:, ::2]),
        (ember.tensor(a).flip(1), torch.tensor(a).flip(1)),
        (ember.tensor(a).t(), torch.tensor(a).t()),
        (ember.tensor(a)[1:3], torch.tensor(a)[1:3]),
        (ember.tensor(a)[0, 0], torch.tensor(a)[0, 0]),
    ]:
        for f in (lambda t: t * 3.0, lambda t: 2 + t, lambda t: t - 1):
            got, want = f(x), f(tx)
            np.testing.assert_array_equal(got.numpy(), want.numpy())
            assert got.shape == tuple(want.shape)
            assert got.stride() == tuple(want.stride())
    p = ember.nn.Parameter(ember.tensor(a))
    y = p * 2.0
    assert y.requires_grad and y.grad_fn is not None


def test_number_in_autograd_and_inplace():
    x = ember.tensor(np.random.default_rng(3).standard_normal((4, 5)), requires_grad=True)
    assert gradcheck(lambda t: (t * 3 + 2.5) / 1.5 - 1 + 2 * t + 0.5 * t, (x,))
    y = x * 2.0
    assert y.grad_fn is not None and y.requires_grad
    with ember.no_grad():
        z = x * 2.0
    assert z.grad_fn is None and not z.requires_grad
    np.testing.assert_array_equal(z.numpy(), y.detach().numpy())
    w = ember.ones(4, 5)
    v0 = w._version
    w += 2.0
    w *= 3
    assert w._version == v0 + 2
    np.testing.assert_array_equal(w.numpy(), np.full((4, 5), 9.0, np.float32))


def test_number_errors_unchanged():
    x = ember.ones(4, 5)
    with pytest.raises(TypeError):
        x + "a"
    with pytest.raises(TypeError):
        x * None
    b = ember.ones(4, 5, dtype=ember.bool)
    with pytest.raises(TypeError, match="subtraction with a bool tensor"):
        b - 1


# ---- einsum's 'ij,ij->i' by _C.dot_rows -------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1024), (3, 1000), (40, 37), (1000, 257), (2, 70000)])
def test_dot_rows_bits_of_sum_of_products(dtype, shape):
    rng = np.random.default_rng(4)
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    want = _C.sum_dim(a * b, 1, 2)
    for n in (1, 2):
        with at_threads(n):
            np.testing.assert_array_equal(_C.dot_rows(a, b), want)
    np.testing.assert_allclose(
        _C.dot_rows(a, b), np.einsum("ij,ij->i", a.astype(np.float64), b), rtol=1e-4, atol=1e-4
    )


def test_dot_rows_empty_and_errors():
    assert _C.dot_rows(np.ones((0, 5)), np.ones((0, 5))).shape == (0,)
    np.testing.assert_array_equal(_C.dot_rows(np.ones((3, 0)), np.ones((3, 0))), np.zeros(3))
    with pytest.raises(TypeError, match="dtypes differ"):
        _C.dot_rows(np.ones((2, 3)), np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.dot_rows(np.ones((2, 3), np.int64), np.ones((2, 3), np.int64))
    with pytest.raises(ValueError, match=r"must have shape \(2, 3\)"):
        _C.dot_rows(np.ones((2, 3)), np.ones((3, 2)))
    with pytest.raises(ValueError, match="2-D"):
        _C.dot_rows(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.dot_rows(np.ones((3, 4)).T, np.ones((4, 3)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_einsum_rowdot_matches_torch(dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    for shape in [(64, 64), (300, 20), (5, 3)]:
        a = rng.standard_normal(shape).astype(dtype)
        b = rng.standard_normal(shape).astype(dtype)
        got = ember.einsum("ij,ij->i", ember.tensor(a), ember.tensor(b))
        want = torch.einsum("ij,ij->i", torch.tensor(a), torch.tensor(b))
        assert got.dtype == ember.tensor(a).dtype
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
        # strided operands (a transposed view) and batched forms take the same route
        got = ember.einsum("ji,ji->i", ember.tensor(a.T.copy()), ember.tensor(b.T.copy()))
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)
    a = rng.standard_normal((4, 8, 40)).astype(dtype)
    b = rng.standard_normal((4, 8, 40)).astype(dtype)
    got = ember.einsum("bij,bij->bi", ember.tensor(a), ember.tensor(b))
    want = torch.einsum("bij,bij->bi", torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_einsum_rowdot_grad():
    rng = np.random.default_rng(6)
    a = ember.tensor(rng.standard_normal((40, 30)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((40, 30)), requires_grad=True)
    assert gradcheck(lambda x, y: ember.einsum("ij,ij->i", x, y), (a, b))
