"""speed23: normal_fill's short last block (only the pairs it needs), a leaf's C-order copy of
a transposed gradient by the tiled kernel. Values pinned bit for bit against the full paths."""

import numpy as np
import pytest

import ember
from ember import _C


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n", [1, 5, 63, 64, 65, 127, 128, 129, 200, 255, 256, 257, 300, 511])
def test_normal_fill_short_block_is_the_full_blocks_head(dtype, n):
    # a short last block computes only the Box-Muller pairs it needs: the same samples as the
    # head of a longer fill of the same stream (y[i] depends on the key and i alone)
    key = 987654321
    full = np.empty(1024, dtype)
    _C.normal_fill(full, key, 0.5, 2.0)
    out = np.empty(n, dtype)
    _C.normal_fill(out, key, 0.5, 2.0)
    np.testing.assert_array_equal(out, full[:n])
    assert np.isfinite(out).all()


def test_randn_small_matches_the_stream_head():
    ember.manual_seed(3)
    small = ember.randn(8, 8).numpy()
    ember.manual_seed(3)
    big = ember.randn(64 * 9).numpy()
    np.testing.assert_array_equal(small.reshape(-1), big[:64])


def test_normal_fill_errors_kept():
    with pytest.raises(ValueError, match="normal_fill: std must be >= 0"):
        _C.normal_fill(np.zeros(3, np.float32), 1, 0.0, -1.0)
    with pytest.raises(TypeError):
        _C.normal_fill(np.zeros(3, np.int32), 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transposed_gradient_lands_c_contiguous(dtype):
    # x.T.contiguous().sum() hands the leaf a transposed gradient: copied into C order (torch's
    # layout for a C-contiguous leaf) by the tiled kernel, values exactly NumPy's
    a = np.random.default_rng(0).standard_normal((256, 1024)).astype(dtype)
    w = np.random.default_rng(1).standard_normal((1024, 256)).astype(dtype)
    x = ember.tensor(a, requires_grad=True)
    (x.T.contiguous() * ember.tensor(w)).sum().backward()
    assert x.grad.data.flags.c_contiguous and x.grad.dtype == x.dtype
    np.testing.assert_array_equal(x.grad.numpy(), w.T)
    # a second backward adds into it
    (x.T.contiguous() * ember.tensor(w)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), w.T + w.T)


def test_transposed_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(2).standard_normal((300, 700)).astype(np.float32)
    x = ember.tensor(a, requires_grad=True)
    (x.T.contiguous() ** 2).sum().backward()
    t = torch.tensor(a, requires_grad=True)
    (t.T.contiguous() ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    assert x.grad.data.strides == tuple(s * 4 for s in t.grad.stride())


def test_transposed_gradient_of_another_dtype_is_cast():
    # a float64 gradient reaching a float32 leaf through a transpose: cast and C-ordered
    a = np.random.default_rng(3).standard_normal((600, 500)).astype(np.float32)
    w = np.random.default_rng(4).standard_normal((500, 600))
    x = ember.tensor(a, requires_grad=True)
    (x.T.double() * ember.tensor(w)).sum().backward()
    assert x.grad.dtype == ember.float32 and x.grad.data.flags.c_contiguous
    np.testing.assert_array_equal(x.grad.numpy(), w.T.astype(np.float32))


def _mul_grads(a, b, reduce="sum", hook=False):
    x, y = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    z = x * y
    if hook:  # a hook on the product: its gradient arrives filled in (the general path)
        z.register_hook(lambda g: g)
    getattr(z, reduce)().backward()
    return x.grad.numpy(), y.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_mul_backward_of_a_broadcast_gradient_same_bits(dtype, reduce):
    # (x * y).sum(): the gradient value broadcast, not filled; each product by the scalar kernel
    rng = np.random.default_rng(5)
    a = rng.standard_normal((300, 200)).astype(dtype)
    b = rng.standard_normal((300, 200)).astype(dtype)
    fast, general = _mul_grads(a, b, reduce), _mul_grads(a, b, reduce, hook=True)
    for f, gen in zip(fast, general, strict=True):
        assert f.dtype == dtype and f.flags.c_contiguous
        np.testing.assert_array_equal(f, gen)
    scale = dtype(1.0 / a.size) if reduce == "mean" else dtype(1)
    np.testing.assert_array_equal(fast[0], b * scale)
    np.testing.assert_array_equal(fast[1], a * scale)


def test_mul_backward_broadcast_gradient_matches_torch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    a, b = (rng.standard_normal((64, 96)).astype(np.float32) for _ in range(2))
    ea, eb = _mul_grads(a, b, "mean")
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    (ta * tb).mean().backward()
    np.testing.assert_array_equal(ea, ta.grad.numpy())
    np.testing.assert_array_equal(eb, tb.grad.numpy())


def test_mul_backward_other_shapes_and_given_gradients():
    # broadcasting operands, mixed dtypes, one operand without grad, an expanded gradient
    # passed by hand: the general path, values as NumPy's
    rng = np.random.default_rng(7)
    a = rng.standard_normal((40, 1)).astype(np.float32)
    b = rng.standard_normal((1, 30))
    x, y = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    (x * y).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full((40, 30), b).sum(1, keepdims=True), 1e-6)
    np.testing.assert_allclose(y.grad.numpy(), np.full((40, 30), a).sum(0, keepdims=True), 1e-6)
    c = rng.standard_normal((50, 60)).astype(np.float32)
    x, y = ember.tensor(c, requires_grad=True), ember.tensor(c + 1)
    g = ember.tensor(np.float32(2.5)).expand(50, 60)
    (x * y).backward(g)
    np.testing.assert_array_equal(x.grad.numpy(), np.float32(2.5) * (c + 1))
    assert y.grad is None


def _div_grads(a, b, reduce="sum", hook=False):
    x, y = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    z = x / y
    if hook:
        z.register_hook(lambda g: g)
    getattr(z, reduce)().backward()
    return x.grad.numpy(), y.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_div_backward_of_a_broadcast_gradient_same_bits(dtype, reduce):
    rng = np.random.default_rng(8)
    a = rng.standard_normal((200, 300)).astype(dtype)
    b = (rng.standard_normal((200, 300)) + 3).astype(dtype)
    b[0, :3] = [1e-30, 1e30, 0]  # (a / b) / b, not a / (b * b): no underflow first; 0: inf
    with np.errstate(all="ignore"):
        fast, general = _div_grads(a, b, reduce), _div_grads(a, b, reduce, hook=True)
    for f, gen in zip(fast, general, strict=True):
        assert f.dtype == dtype and f.flags.c_contiguous
        np.testing.assert_array_equal(f, gen)
    torch = pytest.importorskip("torch")
    ta, tb = (torch.tensor(v, requires_grad=True) for v in (a, b))
    getattr(ta / tb, reduce)().backward()
    np.testing.assert_array_equal(fast[0], ta.grad.numpy())
    np.testing.assert_array_equal(fast[1], tb.grad.numpy())


def test_div_backward_one_input_needing_grad():
    rng = np.random.default_rng(9)
    a, b = rng.standard_normal((64, 64)), rng.standard_normal((64, 64)) + 3
    x, y = ember.tensor(a), ember.tensor(b, requires_grad=True)
    (x / y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), -1.0 * ((a / b) / b))
    x, y = ember.tensor(a, requires_grad=True), ember.tensor(b)
    (x / y).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), 1.0 / b)


@pytest.mark.parametrize("to", ["float64", "float16", "bfloat16"])
@pytest.mark.parametrize("reduce", ["sum", "mean"])
def test_cast_backward_of_a_broadcast_gradient(to, reduce):
    # x.to(dtype).sum(): the value cast back once and filled in, in x's dtype and C order
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(10).standard_normal((128, 160)).astype(np.float32)
    x = ember.tensor(a, requires_grad=True)
    getattr(x.to(getattr(ember, to)), reduce)().backward()
    t = torch.tensor(a, requires_grad=True)
    getattr(t.to(getattr(torch, to)), reduce)().backward()
    assert x.grad.dtype == ember.float32 and x.grad.data.flags.c_contiguous
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
    # the general path (a hook sees the filled gradient) gives the same bits
    x2 = ember.tensor(a, requires_grad=True)
    y2 = x2.to(getattr(ember, to))
    y2.register_hook(lambda g: g)
    getattr(y2, reduce)().backward()
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())


def test_cast_to_integer_and_back_keeps_errors():
    x = ember.tensor(np.ones((8, 8), np.float32), requires_grad=True)
    y = x.to(ember.int64)
    assert not y.requires_grad
    with pytest.raises(RuntimeError, match="grad"):
        y.sum().backward()


@pytest.mark.parametrize("shape,dim", [((257, 1031), None), ((257, 1031), 0), ((257, 1031), 1),
                                       ((3, 5, 1029), (1, 2)), ((4100,), 0)])  # fmt: skip
def test_float16_sums_widen_exactly(shape, dim):
    # the 16-bit sums widen float16 by F16C: the float32 copy's sums bit for bit, subnormals,
    # infinities and the largest values included (NaN stays NaN)
    rng = np.random.default_rng(11)
    a = (rng.standard_normal(shape) * 3).astype(np.float16)
    flat = a.reshape(-1)
    flat[:6] = [np.float16(6e-8), np.float16(-6e-5), np.float16(65504), np.float16(-65504), 0, -0.0]
    kw = {} if dim is None else {"dim": dim}
    with np.errstate(over="ignore", invalid="ignore"):  # (sums past float16's range: inf)
        _check_float16_sums(a, flat, kw)


def _check_float16_sums(a, flat, kw):
    got = ember.tensor(a).sum(**kw)
    want = ember.tensor(a.astype(np.float32)).sum(**kw).to(ember.float16)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    flat[7] = np.inf
    flat[8] = np.nan
    got = ember.tensor(a).sum(**kw).numpy().astype(np.float32)
    want = ember.tensor(a.astype(np.float32)).sum(**kw).numpy().astype(np.float16)
    np.testing.assert_array_equal(got, want.astype(np.float32))
    torch = pytest.importorskip("torch")
    tw = torch.from_numpy(a).sum(**kw).float().numpy()
    np.testing.assert_allclose(got, tw, rtol=2e-3, atol=1e-2)
