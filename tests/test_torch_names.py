"""PyTorch names a script reaches for: as_strided, window functions, gradient, histogramdd,
the top-level functional aliases (torch.conv2d, torch.batch_norm, ...), and small Tensor
methods. Values against NumPy and torch."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F

X = np.arange(12.0).reshape(3, 4)


def test_as_strided_values_gradient_and_errors():
    x = ember.tensor(X)
    win = ember.as_strided(x, (3, 3), (1, 1))  # sliding windows of the flat storage
    np.testing.assert_array_equal(win.numpy(), [[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    diag = x.as_strided((3,), (5,))
    np.testing.assert_array_equal(diag.numpy(), np.diag(X))
    np.testing.assert_array_equal(x.as_strided((2, 2), (1, 2), 1).numpy(), [[1, 3], [2, 4]])
    xg = ember.tensor(X, requires_grad=True)
    xg.as_strided((3, 3), (1, 1)).sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy().ravel()[:6], [1, 2, 3, 2, 1, 0])
    assert gradcheck(
        lambda a: a.as_strided((2, 3), (1, 2), 1), [ember.tensor(X, requires_grad=True)]
    )
    with pytest.raises(ValueError, match="out of bounds"):
        ember.as_strided(x, (4, 4), (4, 1))
    with pytest.raises(ValueError, match="length"):
        ember.as_strided(x, (2, 2), (1,))
    with pytest.raises(ValueError, match="negative"):
        ember.as_strided(x, (2, 2), (1, -1))


def test_window_functions():
    n = np.arange(5)
    np.testing.assert_allclose(
        ember.hann_window(5, periodic=False).numpy(), np.hanning(5), atol=1e-7
    )
    np.testing.assert_allclose(ember.hann_window(5).numpy(), np.hanning(6)[:5], atol=1e-7)
    np.testing.assert_allclose(ember.hamming_window(5, False).numpy(), np.hamming(5), atol=1e-7)
    np.testing.assert_allclose(ember.blackman_window(5, False).numpy(), np.blackman(5), atol=1e-7)
    np.testing.assert_allclose(ember.bartlett_window(5, False).numpy(), np.bartlett(5), atol=1e-7)
    np.testing.assert_allclose(
        ember.kaiser_window(5, False, 5.0).numpy(), np.kaiser(5, 5.0), rtol=1e-6
    )
    assert ember.hann_window(1).numpy().tolist() == [1.0] and ember.hann_window(0).shape == (0,)
    assert ember.hann_window(4, dtype=ember.float64).dtype == ember.float64
    assert n.size == 5
    with pytest.raises(ValueError, match="window_length"):
        ember.hann_window(-1)
    torch = pytest.importorskip("torch")
    for name in (
        "hann_window",
        "hamming_window",
        "blackman_window",
        "bartlett_window",
        "kaiser_window",
    ):
        for periodic in (True, False):
            np.testing.assert_allclose(
                getattr(ember, name)(7, periodic).numpy(),
                getattr(torch, name)(7, periodic).numpy(),
                atol=1e-6, err_msg=name,
            )  # fmt: skip


def test_gradient_matches_numpy_and_is_differentiable():
    f = np.array([[1.0, 2.0, 4.0, 7.0, 11.0], [2.0, 5.0, 9.0, 9.0, 1.0], [0.0, 3.0, 1.0, 4.0, 1.0]])
    for kw, np_kw in [({}, {}), ({"spacing": 2.0}, {"varargs": (2.0,)}),
                      ({"edge_order": 2}, {"edge_order": 2})]:  # fmt: skip
        spacing = np_kw.pop("varargs", ())
        ours = ember.gradient(ember.tensor(f), **kw)
        ref = np.gradient(f, *(spacing * 2), **np_kw)
        for a, b in zip(ours, ref):
            np.testing.assert_allclose(a.numpy(), b, rtol=1e-6)
    coords = np.array([0.0, 0.5, 1.5, 3.0, 3.2])
    (g,) = ember.gradient(ember.tensor(f), spacing=(ember.tensor(coords),), dim=1, edge_order=2)
    np.testing.assert_allclose(g.numpy(), np.gradient(f, coords, axis=1, edge_order=2), rtol=1e-6)
    x = ember.tensor(f, requires_grad=True)
    assert gradcheck(lambda a: ember.gradient(a, dim=1, edge_order=2)[0], [x])
    with pytest.raises(ValueError, match="edge_order"):
        ember.gradient(ember.tensor([1.0, 2.0]), edge_order=2)


def test_histogramdd_range_scalar_tensor():
    pts = np.random.default_rng(0).random((50, 2))
    h = ember.histogramdd(ember.tensor(pts), bins=[3, 4], range=[0.0, 1.0, 0.0, 1.0])
    ref, edges = np.histogramdd(pts, [3, 4], [(0, 1), (0, 1)])
    np.testing.assert_array_equal(h.hist.numpy(), ref)
    np.testing.assert_allclose(h.bin_edges[1].numpy(), edges[1])
    with pytest.warns(UserWarning, match="deprecated"):
        r = ember.range(0, 1, 0.25)
    np.testing.assert_allclose(r.numpy(), [0, 0.25, 0.5, 0.75, 1.0])
    s = ember.scalar_tensor(3)
    assert s.shape == () and s.dtype == ember.float32 and s.item() == 3.0


def test_top_level_functional_aliases():
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.standard_normal((2, 3, 5, 5)).astype(np.float32))
    w = ember.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32))
    np.testing.assert_array_equal(
        ember.conv2d(x, w, None, 1, 1).numpy(), F.conv2d(x, w, None, 1, 1).numpy()
    )
    mean, var = ember.zeros(3), ember.ones(3)
    g, b = ember.full((3,), 2.0), ember.full((3,), 0.5)
    np.testing.assert_allclose(
        ember.batch_norm(x, g, b, mean, var, False, 0.1, 1e-5, True).numpy(),
        F.batch_norm(x, mean, var, g, b, False, 0.1, 1e-5).numpy(),
    )
    table = ember.tensor(rng.standard_normal((5, 2)).astype(np.float32))
    idx = ember.tensor([0, 4, 4])
    np.testing.assert_array_equal(ember.embedding(table, idx).numpy(), table.numpy()[[0, 4, 4]])
    vals, where = ember.adaptive_max_pool1d(ember.tensor(X[None]), 2)
    np.testing.assert_array_equal(vals.numpy(), [[[1, 3], [5, 7], [9, 11]]])
    assert where.dtype == ember.int64
    np.testing.assert_array_equal(
        ember.constant_pad_nd(ember.ones(2, 2), (1, 1), 0.0).numpy(),
        np.pad(np.ones((2, 2)), ((0, 0), (1, 1))),
    )
    torch = pytest.importorskip("torch")
    tx, tw = torch.tensor(x.numpy()), torch.tensor(w.numpy())
    np.testing.assert_allclose(
        ember.conv2d(x, w, None, 2, 1).numpy(),
        torch.conv2d(tx, tw, None, 2, 1).numpy(),
        rtol=1e-5,
        atol=1e-5,
    )
    tg, tb = torch.full((3,), 2.0), torch.full((3,), 0.5)
    np.testing.assert_allclose(
        ember.batch_norm(x, g, b, mean, var, False, 0.1, 1e-5, True).numpy(),
        torch.batch_norm(tx, tg, tb, torch.zeros(3), torch.ones(3), False, 0.1, 1e-5, True),
        rtol=1e-6,
    )
    for name, args in [("selu", ()), ("celu", ()), ("hardshrink", ()), ("threshold", (0.1, 20.0)),
                       ("max_pool2d", (2,)), ("layer_norm", ((5,),))]:  # fmt: skip
        np.testing.assert_allclose(
            getattr(ember, name)(x, *args).numpy(), getattr(torch, name)(tx, *args).numpy(),
            rtol=1e-5, atol=1e-6, err_msg=name,
        )  # fmt: skip


def test_small_tensor_methods():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert x.share_memory_() is x and not x.is_shared() and x.get_device() == -1
    assert not x.is_sparse and not x.is_quantized and not x.is_meta and not x.is_inference()
    assert x.real is x and ember.real(x) is x and x.conj() is x and ember.resolve_conj(x) is x
    assert not ember.is_conj(x) and not ember.is_neg(x)
    with pytest.raises(RuntimeError, match="non-complex"):
        _ = x.imag
    assert x.new(2, 3).shape == (2, 3) and x.new([1, 2]).dtype == ember.float32
    y = ember.tensor([1.0, 2.0, 3.0])
    y.resize_(2, 2)
    np.testing.assert_array_equal(y.numpy(), [[1, 2], [3, 0]])
    y.resize_as_(ember.zeros(3))
    np.testing.assert_array_equal(y.numpy(), [1, 2, 3])
    with pytest.raises(RuntimeError, match="require grad"):
        ember.ones(2, requires_grad=True).resize_(3)
    z = ember.tensor([1.0, 2.0]).map_(ember.tensor([10.0, 20.0]), lambda a, b: a * b)
    np.testing.assert_array_equal(z.numpy(), [10, 40])
    np.testing.assert_array_equal(ember.fill(x, 7).numpy(), np.full((2, 2), 7.0))
    assert not ember.detach(ember.ones(2, requires_grad=True)).requires_grad
    np.testing.assert_allclose(
        ember.igamma(ember.tensor([1.0]), ember.tensor([2.0])).numpy(),
        [1 - np.exp(-2.0)],
        rtol=1e-6,
    )
    assert x.new_empty_strided((2, 2), (1, 2)).stride() == (1, 2)
    assert x.hardshrink(2.5).numpy().tolist() == [[0, 0], [3, 4]]


def test_jit_entry_points_run_eagerly():
    m = ember.nn.Linear(3, 2)
    assert ember.jit.script(m) is m and ember.jit.trace(m, ember.ones(1, 3)) is m
    assert ember.jit.freeze(m) is m and not ember.jit.is_scripting()

    @ember.jit.script
    def f(x):
        return x * 2 if x.sum() > 0 else -x  # data-dependent control flow keeps working

    assert f(ember.ones(2)).numpy().tolist() == [2.0, 2.0]
    assert f(-ember.ones(2)).numpy().tolist() == [1.0, 1.0]

    @ember.jit.ignore(drop=True)
    def g(x):
        return x + 1

    assert g(1) == 2 and ember.jit.unused(g) is g and ember.jit.annotate(int, 3) == 3
    assert ember.jit.Final[int] is int
    with pytest.raises(NotImplementedError, match="state_dict"):
        ember.jit.save(m, "m.pt")
    with pytest.raises(TypeError, match="function or module"):
        ember.jit.trace(3, None)


def test_module_paths_custom_layers_import():
    from ember.nn.attention import SDPBackend, sdpa_kernel
    from ember.nn.modules.utils import _pair, _quadruple, _reverse_repeat_tuple, _single
    from ember.nn.parameter import Buffer, Parameter

    assert _pair(3) == (3, 3) and _pair((1, 2)) == (1, 2) and _single([4]) == (4,)
    assert _quadruple(0) == (0, 0, 0, 0) and _reverse_repeat_tuple((1, 2), 2) == (2, 2, 1, 1)
    assert isinstance(ember.nn.Linear(2, 2).weight, Parameter) and Buffer is ember.nn.Buffer
    q = ember.randn(1, 2, 4, 8)
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION, SDPBackend.MATH]):
        inside = F.scaled_dot_product_attention(q, q, q)
    np.testing.assert_array_equal(inside.numpy(), F.scaled_dot_product_attention(q, q, q).numpy())
    with pytest.raises(TypeError, match="SDPBackend"):
        with sdpa_kernel("flash"):
            pass
    assert isinstance(ember.zeros(2).dtype, ember.dtype)
