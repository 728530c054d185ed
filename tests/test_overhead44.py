"""overhead44: the small-op fast paths of this round (dot / vdot / inner through _C.fast_dot,
fill_ with a 0-d tensor, complex add / sub / mul, where(mask, x, number)) against torch and
against the general path they skip: values, dtypes, strides, version counters and errors;
and out= aliasing an input of the matrix products, as torch."""

import sys
import threading

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


def _rng(seed=0):
    return np.random.default_rng(seed)


def _vec(n, dtype, seed=0):
    return _rng(seed).standard_normal(n).astype(dtype)


# ---- dot / vdot / inner: _C.fast_dot -------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 7, 32, 1000])
@pytest.mark.parametrize("name", ["dot", "vdot", "inner"])
def test_dot_fast_path_same_bits_as_gemm(dtype, n, name):
    x, y = _vec(n, dtype, 1), _vec(n, dtype, 2)
    out = getattr(ember, name)(ember.tensor(x), ember.tensor(y))
    assert out.shape == () and out.dtype == dtype and not out.requires_grad
    assert out.grad_fn is None
    want = _C.gemm(x.reshape(1, n), y.reshape(n, 1)).reshape(())  # (the path it replaces)
    assert out.numpy().tobytes() == want.tobytes()
    ref = getattr(torch, name)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(
        out.numpy(), ref.numpy(), rtol=1e-5 if dtype == np.float32 else 1e-12
    )


def test_dot_fast_path_declines_others():
    x, y = ember.tensor(_vec(8, np.float32)), ember.tensor(_vec(8, np.float32, 1))
    if not sys.modules["ember.tensor"]._marking:  # (inference tensors made: all step aside)
        assert _C.fast_dot(x, y) is not None
    assert _C.fast_dot(x, ember.tensor(_vec(8, np.float64))) is None  # dtypes differ
    assert _C.fast_dot(x, ember.tensor(_vec(9, np.float32))) is None  # sizes differ
    assert _C.fast_dot(ember.zeros(0), ember.zeros(0)) is None  # empty
    assert _C.fast_dot(x, x.data) is None  # an array
    assert _C.fast_dot(ember.tensor(_vec(16, np.float32))[::2], y) is None  # strided
    assert _C.fast_dot(ember.ones(2, 4), ember.ones(2, 4)) is None  # 2-D
    assert _C.fast_dot(x.requires_grad_(), y) is None  # autograd: the node's path
    with pytest.raises(TypeError):
        _C.fast_dot(x)


def test_dot_strided_and_recorded_paths_agree_with_fast():
    a = _vec(64, np.float32, 3)
    y = _vec(32, np.float32, 4)
    fast = ember.dot(ember.tensor(np.ascontiguousarray(a[::2])), ember.tensor(y))
    strided = ember.dot(ember.tensor(a)[::2], ember.tensor(y))
    assert fast.numpy().tobytes() == strided.numpy().tobytes()
    x = ember.tensor(np.ascontiguousarray(a[::2]), requires_grad=True)
    rec = ember.dot(x, ember.tensor(y))
    assert rec.numpy().tobytes() == fast.numpy().tobytes()
    assert rec.grad_fn is not None
    rec.backward()
    np.testing.assert_array_equal(x.grad.numpy(), y)
    with ember.no_grad():
        nograd = ember.dot(x, ember.tensor(y))
    assert nograd.numpy().tobytes() == fast.numpy().tobytes() and nograd.grad_fn is None


def test_dot_refusals_unchanged():
    with pytest.raises(ValueError, match="1-D"):
        ember.dot(ember.ones(3), ember.ones(4))
    with pytest.raises(TypeError, match="dtype"):
        ember.dot(ember.ones(3), ember.ones(3, dtype=ember.float64))


# ---- fill_ with a 0-d tensor ----------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, value", [(np.float32, 2.5), (np.float64, -1.25), (np.int64, 7), (np.float32, 0.0),
                     (np.float32, -0.0), (np.float64, np.inf), (np.float32, np.nan)]
)  # fmt: skip
def test_fill_zero_dim_tensor_as_torch(dtype, value):
    a = _rng().standard_normal((32, 32)).astype(dtype)
    e, t = ember.tensor(a), torch.tensor(a)
    v = np.array(value, dtype)
    ve, vt = ember.tensor(v), torch.tensor(v)
    before = e._version
    assert e.fill_(ve) is e
    t.fill_(vt)
    assert e._version == before + 1
    assert e.numpy().tobytes() == t.numpy().tobytes()  # (-0.0's sign bit too)
    assert e.dtype == dtype


def test_fill_zero_dim_tensor_other_paths_as_torch():
    # another dtype (cast), a 0-d value requiring grad (recorded), 1-element 1-D (refused)
    e, t = ember.zeros(4, 4), torch.zeros(4, 4)
    e.fill_(ember.tensor(3, dtype=ember.int64))
    t.fill_(torch.tensor(3))
    np.testing.assert_array_equal(e.numpy(), t.numpy())
    ve, vt = ember.tensor(2.0, requires_grad=True), torch.tensor(2.0, requires_grad=True)
    ye, yt = ember.zeros(3).fill_(ve * 1), torch.zeros(3).fill_(vt * 1)
    ye.sum().backward()
    yt.sum().backward()
    assert ve.grad.item() == vt.grad.item() == 3.0
    with pytest.raises((RuntimeError, ValueError), match="0-dimension"):
        ember.zeros(3).fill_(ember.ones(1))
    with pytest.raises(RuntimeError, match="0-dimension"):
        torch.zeros(3).fill_(torch.ones(1))


def test_fill_zero_dim_tensor_refused_in_graph_as_torch():
    e = ember.zeros(3, requires_grad=True)
    t = torch.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError):
        t.fill_(torch.tensor(1.0))
    with pytest.raises(RuntimeError):
        e.fill_(ember.tensor(1.0))


def test_fill_zero_dim_tensor_into_a_view():
    base_e, base_t = ember.zeros(4, 6), torch.zeros(4, 6)
    base_e[:, 1:3].fill_(ember.tensor(5.0))
    base_t[:, 1:3].fill_(torch.tensor(5.0))
    np.testing.assert_array_equal(base_e.numpy(), base_t.numpy())
    row_e, row_t = base_e[2], base_t[2]  # (a C-contiguous view: the fast path writes the base)
    row_e.fill_(ember.tensor(-1.0))
    row_t.fill_(torch.tensor(-1.0))
    np.testing.assert_array_equal(base_e.numpy(), base_t.numpy())


# ---- complex add / sub / mul ----------------------------------------------------------------


def _complex(shape, dtype, seed=0):
    r = _rng(seed)
    return (r.standard_normal(shape) + 1j * r.standard_normal(shape)).astype(dtype)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("op", ["add", "sub", "mul"])
@pytest.mark.parametrize("form", ["function", "operator"])
def test_complex_binary_as_torch(dtype, op, form):
    a, b = _complex((32, 32), dtype, 1), _complex((32, 32), dtype, 2)
    b[0, 0] = complex(np.inf, 1)  # (torch's a + (1 + 0j) * b: inf + nan j)
    b[1, 1] = complex(2, -np.inf)
    b[2, 2] = complex(np.nan, 0)
    ea, eb, ta, tb = ember.tensor(a), ember.tensor(b), torch.tensor(a), torch.tensor(b)
    if form == "function":
        ye, yt = getattr(ember, op)(ea, eb), getattr(torch, op)(ta, tb)
    else:
        sym = {"add": "__add__", "sub": "__sub__", "mul": "__mul__"}[op]
        ye, yt = getattr(ea, sym)(eb), getattr(ta, sym)(tb)
    assert ye.dtype == dtype and ye.grad_fn is None
    slow = getattr(ember, op)(ember.tensor(a)[:], ember.tensor(b)[:])  # (views: the general path)
    assert ye.numpy().tobytes() == slow.numpy().tobytes()
    if op == "mul":  # (NumPy's complex product rounds as it does, an ulp from torch's)
        np.testing.assert_allclose(
            ye.numpy(), yt.numpy(), rtol=1e-6 if dtype == np.complex64 else 1e-14
        )
    else:
        np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    assert ye.stride() == yt.stride()


@pytest.mark.parametrize("op", ["add", "sub", "mul"])
def test_complex_binary_views_and_recorded_as_torch(op):
    a, b = _complex((8, 6), np.complex64, 3), _complex((6, 8), np.complex64, 4)
    ye = getattr(ember, op)(ember.tensor(a), ember.tensor(b).t())  # (a transposed view)
    yt = getattr(torch, op)(torch.tensor(a), torch.tensor(b).t())
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    assert ye.stride() == yt.stride()
    ea = ember.tensor(a.astype(np.complex128), requires_grad=True)
    ta = torch.tensor(a.astype(np.complex128), requires_grad=True)
    bb = b.T.astype(np.complex128).copy()
    ye = getattr(ember, op)(ea, ember.tensor(bb))
    yt = getattr(torch, op)(ta, torch.tensor(bb))
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy())
    ye.abs().sum().backward()
    yt.abs().sum().backward()
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=1e-12)


def test_complex_binary_mixed_dtypes_as_torch():
    a = _complex((4, 4), np.complex64)
    b = _complex((4, 4), np.complex128, 1)
    ye = ember.add(ember.tensor(a), ember.tensor(b))
    yt = torch.add(torch.tensor(a), torch.tensor(b))
    assert ye.dtype == np.complex128 and yt.dtype == torch.complex128
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    with pytest.raises((RuntimeError, ValueError)):
        ember.mul(ember.tensor(a), ember.tensor(_complex((3, 4), np.complex64)))


# ---- where(mask, x, number) -----------------------------------------------------------------


@pytest.mark.parametrize(
    "dtype, number", [(np.int64, 3), (np.int32, -7), (np.uint8, 200), (np.int8, -128),
                      (np.float32, 2.5), (np.float64, 3), (np.float16, 0.1), (np.float32, 0)]
)  # fmt: skip
def test_where_tensor_number_as_torch(dtype, number):
    r = _rng(5)
    x = (r.standard_normal((32, 32)) * 50).astype(dtype)
    mask = r.random((32, 32)) > 0.5
    ye = ember.where(ember.tensor(mask), ember.tensor(x), number)
    yt = torch.where(torch.tensor(mask), torch.tensor(x), number)
    assert str(ye.dtype) == str(yt.dtype).replace("torch.", "")
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    assert ye.grad_fn is None


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_where_tensor_number_views_as_torch(dtype):
    r = _rng(6)
    x = (r.standard_normal((6, 8)) * 10).astype(dtype)
    mask = r.random((8, 6)) > 0.5
    ye = ember.where(ember.tensor(mask).t(), ember.tensor(x), 3)
    yt = torch.where(torch.tensor(mask).t(), torch.tensor(x), 3)
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())
    assert ye.stride() == yt.stride()
    ye = ember.where(ember.tensor(mask.T.copy()), ember.tensor(x.T.copy()).t(), 3)
    yt = torch.where(torch.tensor(mask.T.copy()), torch.tensor(x.T.copy()).t(), 3)
    assert ye.stride() == yt.stride()


def test_where_tensor_number_graph_and_refusals_as_torch():
    mask = _rng().random((4, 4)) > 0.5
    x = _rng(1).standard_normal((4, 4))
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = ember.where(ember.tensor(mask), xe, 2.0), torch.where(torch.tensor(mask), xt, 2.0)
    assert ye.grad_fn is not None
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())
    # a number the int8 tensor cannot hold: torch's refusal, on the general path
    xi = ember.tensor(np.zeros((4, 4), np.int8))
    with pytest.raises(RuntimeError):
        torch.where(torch.tensor(mask), torch.zeros(4, 4, dtype=torch.int8), 1000)
    with pytest.raises(RuntimeError):
        ember.where(ember.tensor(mask), xi, 1000)
    # a float number beside an integer tensor: the default float dtype, as torch
    ye = ember.where(ember.tensor(mask), ember.tensor(np.arange(16).reshape(4, 4)), 0.5)
    yt = torch.where(torch.tensor(mask), torch.arange(16).reshape(4, 4), 0.5)
    assert ye.dtype == np.float32 and yt.dtype == torch.float32
    np.testing.assert_array_equal(ye.numpy(), yt.numpy())


# ---- out= aliasing an input -----------------------------------------------------------------
# torch 2.13's CPU mm / matmul / bmm / addmm / baddbmm with out= one of the product's operands
# write out before reading it (mm(a, b, out=a) of 2x2 gives zeros): a bug, not a contract.
# ember computes the product first, then writes it: the values NumPy gives. out= the added
# input (addmm(c, a, b, out=c)) is fine in torch too, and matches it.


@pytest.mark.parametrize("which", [0, 1])
@pytest.mark.parametrize("name", ["mm", "matmul", "bmm"])
def test_matrix_product_out_aliasing_an_operand(name, which):
    shape = (3, 5, 5) if name == "bmm" else (8, 8)
    a, b = _rng(7).standard_normal(shape), _rng(8).standard_normal(shape)
    e = [ember.tensor(a), ember.tensor(b)]
    r = getattr(ember, name)(*e, out=e[which])
    assert r is e[which]
    np.testing.assert_allclose(e[which].numpy(), a @ b, rtol=1e-12)
    np.testing.assert_array_equal(e[1 - which].numpy(), (a, b)[1 - which])  # (untouched)


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize("name", ["addmm", "baddbmm"])
def test_scaled_product_out_aliasing_an_input(name, which):
    shape = (8, 8) if name == "addmm" else (2, 8, 8)
    arrays = [_rng(i).standard_normal(shape) for i in range(3)]
    e = [ember.tensor(x) for x in arrays]
    getattr(ember, name)(*e, beta=0.5, alpha=2, out=e[which])
    want = 0.5 * arrays[0] + 2 * (arrays[1] @ arrays[2])
    np.testing.assert_allclose(e[which].numpy(), want, rtol=1e-12)
    if which == 0:  # (out the added input: torch's result too)
        t = [torch.tensor(x) for x in arrays]
        getattr(torch, name)(*t, beta=0.5, alpha=2, out=t[0])
        np.testing.assert_allclose(e[0].numpy(), t[0].numpy(), rtol=1e-12)


def test_matrix_product_out_apart_from_inputs_as_torch():
    a = _rng(11).standard_normal((8, 8))
    e, t = ember.tensor(a), torch.tensor(a)
    ye, yt = ember.zeros(4, 8, dtype=ember.float64), torch.zeros(4, 8, dtype=torch.float64)
    ember.mm(e[:4], e, out=ye)  # (out apart from the inputs)
    torch.mm(t[:4], t, out=yt)
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-12)


# ---- randperm's front ------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 32, 1000])
def test_randperm_front_same_stream_as_factory(n):
    ember.manual_seed(123)
    fast = ember.randperm(n)
    after_fast = ember.rand(3).numpy()
    ember.manual_seed(123)
    slow = ember.randperm(n, dtype=ember.int64)  # (a keyword: the factory's own path)
    after_slow = ember.rand(3).numpy()
    assert fast.dtype == np.int64 and fast.shape == (n,) and not fast.requires_grad
    np.testing.assert_array_equal(fast.numpy(), slow.numpy())
    np.testing.assert_array_equal(np.sort(fast.numpy()), np.arange(n))
    np.testing.assert_array_equal(after_fast, after_slow)  # (one draw taken, as before)


def test_randperm_front_refusals_as_torch():
    for bad, exc in ((True, TypeError), (2.0, TypeError), (-1, (ValueError, RuntimeError))):
        with pytest.raises(exc):
            torch.randperm(bad)
        with pytest.raises(exc):
            ember.randperm(bad)
    assert ember.randperm(np.int64(4)).shape == (4,)  # (a NumPy int: the factory's path)
    with ember.device("meta"):
        assert ember.randperm(4).device.type == "meta"


# ---- kron of two vectors, as_strided in the graph -------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kron_vectors_as_torch(dtype):
    x, y = _vec(7, dtype, 1), _vec(5, dtype, 2)
    ye = ember.kron(ember.tensor(x), ember.tensor(y))
    yt = torch.kron(torch.tensor(x), torch.tensor(y))
    assert ye.shape == (35,) and ye.dtype == dtype and ye.grad_fn is None
    assert ye.numpy().tobytes() == yt.numpy().tobytes()  # (one product per element)
    assert ye.stride() == yt.stride()


@pytest.mark.parametrize(
    "size, stride, offset", [((16, 16), (64, 2), None), ((3, 5), (8, 1), 7), ((5,), (3,), 2)]
)
def test_as_strided_recorded_node_and_gradients_as_torch(size, stride, offset):
    a = _rng(13).standard_normal((32, 32))
    e, t = ember.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
    ye, yt = e.as_strided(size, stride, offset), t.as_strided(size, stride, offset)
    assert ye.grad_fn.name() == yt.grad_fn.name()
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    assert ye.stride() == yt.stride() and ye.storage_offset() == yt.storage_offset()
    g = _rng(14).standard_normal(size)
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(e.grad.numpy(), t.grad.numpy())
    with pytest.raises(RuntimeError):  # (a view of a leaf in the graph: torch's refusal)
        t.as_strided(size, stride, offset).mul_(2)
    with pytest.raises(RuntimeError):
        e.as_strided(size, stride, offset).mul_(2)


# ---- randint's draws in C: NumPy's values and state -----------------------------------------


@pytest.mark.parametrize(
    "low, high", [(0, 10), (-5, 5), (0, 2), (0, 2**31), (0, 2**32 - 1), (-(2**40), -(2**40) + 999)]
)
@pytest.mark.parametrize("size", [(1,), (5,), (32, 32), (3, 0, 2)])
@pytest.mark.parametrize("odd", [False, True])
def test_integers_same_values_and_state_as_numpy(low, high, size, odd):
    g1, g2 = np.random.default_rng(7), np.random.default_rng(7)
    if odd:  # (a 32-bit half left in the bit generator's buffer)
        g1.integers(0, 5, 1)
        g2.integers(0, 5, 1)
    a = _C.integers(g1.bit_generator, low, high, size)
    b = g2.integers(low, high, size, dtype=np.int64)
    if a is None:  # (empty sizes: NumPy's own call)
        assert 0 in size
        return
    assert a.dtype == np.int64 and a.shape == b.shape
    np.testing.assert_array_equal(a, b)
    assert g1.bit_generator.state == g2.bit_generator.state


def test_integers_declines_what_it_does_not_take():
    bg = np.random.default_rng(0).bit_generator
    for low, high, size in [(0, 1, (4,)), (0, 2**32 + 1, (4,)), (3, 3, (4,)), (0, 5, (-1,)),
                            (0, 5, (2.0,)), (0, 5, (True,))]:  # fmt: skip
        assert _C.integers(bg, low, high, size) is None
    held, done = threading.Event(), threading.Event()

    def hold():  # (another thread drawing: NumPy's path, which waits for it)
        with bg.lock:
            held.set()
            done.wait(10)

    t = threading.Thread(target=hold)
    t.start()
    try:
        assert held.wait(10)
        assert _C.integers(bg, 0, 5, (4,)) is None
    finally:
        done.set()
        t.join()
    assert _C.integers(bg, 0, 5, (4,)) is not None


def test_randint_seeded_stream_unchanged():
    ember.manual_seed(2024)
    a = ember.randint(0, 10, (32, 32))
    b = ember.randint(3, (5,))
    c = ember.rand(2)
    g = np.random.default_rng(2024)  # (ember's generator: NumPy's PCG64 of the seed)
    np.testing.assert_array_equal(a.numpy(), g.integers(0, 10, (32, 32), dtype=np.int64))
    np.testing.assert_array_equal(b.numpy(), g.integers(0, 3, (5,), dtype=np.int64))
    np.testing.assert_array_equal(c.numpy(), g.random(2, dtype=np.float32))
    assert a.dtype == np.int64 and not a.requires_grad
