"""PyTorch's everyday tensor extras (ember.ops, end of file): values and gradients against
NumPy / PyTorch, finite differences in float64, and the errors bad arguments get."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

SMOOTH = {  # name: (NumPy reference, a safe input domain)
    "sin": (np.sin, (-3, 3)),
    "cos": (np.cos, (-3, 3)),
    "tan": (np.tan, (-1, 1)),
    "log1p": (np.log1p, (-0.5, 3)),
    "expm1": (np.expm1, (-3, 3)),
    "log2": (np.log2, (0.1, 3)),
    "log10": (np.log10, (0.1, 3)),
    "rsqrt": (lambda x: 1 / np.sqrt(x), (0.1, 3)),
    "reciprocal": (lambda x: 1 / x, (0.5, 3)),
    "square": (np.square, (-3, 3)),
    "sinh": (np.sinh, (-2, 2)),
    "cosh": (np.cosh, (-2, 2)),
    "asin": (np.arcsin, (-0.9, 0.9)),
    "acos": (np.arccos, (-0.9, 0.9)),
    "atan": (np.arctan, (-3, 3)),
}


def _x(lo, hi, shape=(3, 4), dtype=np.float64, seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape).astype(dtype)


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_values_and_gradients(name):
    ref, (lo, hi) = SMOOTH[name]
    x = _x(lo, hi)
    out = getattr(ember, name)(ember.tensor(x))
    np.testing.assert_allclose(out.numpy(), ref(x), rtol=1e-12)
    t = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: getattr(a, name)(), [t])
    f32 = getattr(ember, name)(ember.tensor(x.astype(np.float32)))
    assert f32.dtype == np.float32


def test_integer_input_becomes_float32():
    out = ember.sin(ember.tensor([0, 1, 2]))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), np.sin([0, 1, 2]), rtol=1e-6)
    with pytest.raises(TypeError, match="bool, integer, float or complex"):
        ember.sin(np.array(["a"]))


@pytest.mark.parametrize("name", ["sign", "floor", "ceil", "trunc", "round"])
def test_piecewise_constant_have_zero_gradient(name):
    x = np.array([-2.5, -0.5, 0.0, 0.5, 1.5, 2.5])
    t = ember.tensor(x, requires_grad=True)
    out = getattr(t, name)()
    ref = {"round": np.round}.get(name, getattr(np, name))
    np.testing.assert_array_equal(out.numpy(), ref(x))
    out.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros_like(x))


def test_logsumexp_is_stable_and_differentiable():
    x = np.array([[1e4, 1e4 - 1, -1e4], [-np.inf, -np.inf, -np.inf]])
    out = ember.logsumexp(ember.tensor(x), dim=1)
    np.testing.assert_allclose(out.numpy()[0], 1e4 + np.log1p(np.exp(-1.0)), rtol=1e-12)
    assert out.numpy()[1] == -np.inf
    t = ember.tensor(_x(-2, 2, (3, 5)), requires_grad=True)
    assert gradcheck(lambda a: a.logsumexp(dim=(0, 1)), [t])
    assert gradcheck(lambda a: ember.logsumexp(a, -1, keepdim=True), [t])


def test_prod_gradient_exact_with_zeros():
    x = np.array([[2.0, 0.0, 3.0], [1.5, -2.0, 4.0], [0.0, 0.0, 1.0]])
    t = ember.tensor(x, requires_grad=True)
    ember.prod(t, dim=1).sum().backward()
    expected = np.array([[0.0, 6.0, 0.0], [-8.0, 6.0, -3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(t.grad.numpy(), expected)
    t2 = ember.tensor(_x(0.5, 2), requires_grad=True)
    assert gradcheck(lambda a: a.prod(), [t2])
    assert gradcheck(lambda a: a.prod(dim=0, keepdim=True), [t2])


def test_cumsum_values_and_gradient():
    x = _x(-1, 1, (3, 4))
    np.testing.assert_allclose(ember.cumsum(ember.tensor(x), 1).numpy(), np.cumsum(x, 1))
    t = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: a.cumsum(0) * ember.tensor(x), [t])


@pytest.mark.parametrize("p", ["fro", 1, 2, 3, float("inf"), float("-inf")])
@pytest.mark.parametrize("dim", [None, 1, (0, 1)])
def test_norm_matches_numpy(p, dim):
    x = _x(-2, 2, (3, 4))
    order = 2 if p == "fro" else p
    axes = (0, 1) if dim is None else dim
    flat = np.abs(x) if isinstance(axes, tuple) else np.abs(x)
    if isinstance(axes, tuple):
        if order == float("inf"):
            ref = flat.max()
        elif order == float("-inf"):
            ref = flat.min()
        else:
            ref = (flat**order).sum() ** (1 / order)
    else:
        ref = np.linalg.norm(x, ord=order, axis=axes)
    out = ember.norm(ember.tensor(x), p=p, dim=dim)
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-12)
    t = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: a.norm(p=p, dim=dim), [t])


def test_norm_of_zero_vector_has_zero_gradient():
    t = ember.zeros(4, dtype=np.float64, requires_grad=True)
    t.norm().backward()
    np.testing.assert_array_equal(t.grad.numpy(), np.zeros(4))
    with pytest.raises(ValueError, match="norm"):
        ember.norm(t, p="nuc")
    assert ember.norm(t, p=0).item() == 0  # p=0 counts non-zeros, as torch.norm


def test_triangles_flip_index_select_unbind():
    x = _x(-1, 1, (2, 3, 4))
    for d in (-1, 0, 2):
        np.testing.assert_array_equal(ember.tril(ember.tensor(x), d).numpy(), np.tril(x, d))
        np.testing.assert_array_equal(ember.triu(ember.tensor(x), d).numpy(), np.triu(x, d))
    np.testing.assert_array_equal(ember.flip(ember.tensor(x), (0, 2)).numpy(), x[::-1, :, ::-1])
    idx = np.array([2, 0, 2])
    np.testing.assert_array_equal(ember.index_select(ember.tensor(x), 1, idx).numpy(), x[:, idx])
    parts = ember.unbind(ember.tensor(x), 1)
    assert len(parts) == 3 and parts[1].shape == (2, 4)
    t = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: a.tril(1) * 2 + a.index_select(1, idx).sum() + a.flip(0), [t])
    with pytest.raises(ValueError, match="tril"):
        ember.tril(ember.tensor([1.0, 2.0]))
    with pytest.raises(IndexError, match="index_select"):
        ember.index_select(ember.tensor(x), 1, np.array([3]))
    with pytest.raises(TypeError, match="index_select"):
        ember.index_select(ember.tensor(x), 1, np.array([0.5]))


def test_sort_topk_match_pytorch():
    torch = pytest.importorskip("torch")
    x = np.array([[3.0, np.nan, 1.0, 2.0, 1.0], [0.5, -1.0, 7.0, np.nan, 0.0]], np.float32)
    for desc in (False, True):
        ours = ember.sort(ember.tensor(x), dim=1, descending=desc)
        theirs = torch.sort(torch.from_numpy(x), dim=1, descending=desc, stable=True)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    y = _x(-1, 1, (4, 6), np.float32, seed=3)
    for largest in (True, False):
        ours = ember.topk(ember.tensor(y), 3, dim=0, largest=largest)
        theirs = torch.topk(torch.from_numpy(y), 3, dim=0, largest=largest)
        np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
        np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    t = ember.tensor(y.astype(np.float64), requires_grad=True)
    assert gradcheck(lambda a: a.topk(2, dim=1).values, [t])
    with pytest.raises(RuntimeError, match="topk"):
        ember.topk(ember.tensor(y), 7)


def test_mm_bmm_shapes_and_errors():
    a, b = _x(-1, 1, (2, 3)), _x(-1, 1, (3, 4))
    np.testing.assert_allclose(ember.mm(ember.tensor(a), ember.tensor(b)).numpy(), a @ b)
    A, B = _x(-1, 1, (5, 2, 3)), _x(-1, 1, (5, 3, 4))
    np.testing.assert_allclose(ember.bmm(ember.tensor(A), ember.tensor(B)).numpy(), A @ B)
    with pytest.raises(ValueError, match=r"mm: expected 2-D"):
        ember.mm(ember.tensor(A), ember.tensor(b))
    with pytest.raises(ValueError, match=r"bmm: .*\(5, 2, 3\)"):
        ember.bmm(ember.tensor(A), ember.tensor(B[:4]))


def test_predicates_and_comparisons():
    x = ember.tensor([1.0, np.nan, np.inf, -np.inf])
    np.testing.assert_array_equal(ember.isnan(x).numpy(), [False, True, False, False])
    np.testing.assert_array_equal(ember.isinf(x).numpy(), [False, False, True, True])
    np.testing.assert_array_equal(x.isfinite().numpy(), [True, False, False, False])
    m = ember.tensor([[True, False], [True, True]])
    assert not ember.all(m).item() and ember.any(m).item()
    np.testing.assert_array_equal(m.all(dim=1).numpy(), [False, True])
    assert ember.allclose(ember.tensor([1.0]), ember.tensor([1.0 + 1e-9]))
    assert ember.equal(ember.tensor([1, 2]), ember.tensor([1, 2]))
    assert not ember.equal(ember.tensor([1, 2]), ember.tensor([1, 2, 3]))


def test_like_factories_and_sampling():
    base = ember.zeros(2, 3, dtype=np.float64)
    assert ember.full_like(base, 7).numpy().tolist() == [[7.0] * 3] * 2
    assert ember.empty_like(base).shape == (2, 3)
    ember.manual_seed(1)
    a = ember.randn_like(base)
    ember.manual_seed(1)
    np.testing.assert_array_equal(a.numpy(), ember.randn_like(base).numpy())
    assert a.dtype == np.float64 and ember.rand_like(base, dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="randn_like"):
        ember.randn_like(ember.tensor([1, 2]))
    s = ember.normal(2.0, 0.5, (20000,)).numpy()
    assert abs(s.mean() - 2.0) < 0.02 and abs(s.std() - 0.5) < 0.02
    b = ember.bernoulli(ember.full((20000,), 0.3)).numpy()
    assert set(np.unique(b)) <= {0.0, 1.0} and abs(b.mean() - 0.3) < 0.02
    with pytest.raises(ValueError, match="bernoulli"):
        ember.bernoulli(ember.tensor([1.5]))


def test_multinomial_follows_the_weights():
    ember.manual_seed(0)
    draws = ember.multinomial(ember.tensor([0.0, 1.0, 3.0]), 4000, replacement=True).numpy()
    assert draws.dtype == np.int64 and draws.shape == (4000,)
    assert (draws == 0).sum() == 0 and abs((draws == 2).mean() - 0.75) < 0.03
    rows = ember.multinomial(ember.tensor([[1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 5.0, 1.0]]), 2)
    assert rows.shape == (2, 2) and len(set(rows.numpy()[0])) == 2  # without replacement
    for bad, match, cls in [
        (([1.0, -1.0], 1), "non-negative", ValueError),
        (([0.0, 0.0], 1), "positive total", ValueError),
        (([1.0, 1.0], 3), "without replacement", RuntimeError),  # (torch's class)
        (([[[1.0]]], 1), "1-D or 2-D", ValueError),
        (([1.0], 0), "num_samples", ValueError),
    ]:
        with pytest.raises(cls, match=match):
            ember.multinomial(ember.tensor(bad[0]), bad[1])


def test_top_level_activations_match_functional():
    x = ember.tensor([[-1.0, 0.5, 2.0]])
    np.testing.assert_allclose(ember.tanh(x).numpy(), np.tanh(x.numpy()), rtol=1e-6)
    np.testing.assert_allclose(ember.relu(x).numpy(), np.maximum(x.numpy(), 0))
    np.testing.assert_allclose(ember.softmax(x, dim=1).numpy().sum(), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        ember.log_softmax(x, dim=1).numpy(), np.log(ember.softmax(x, dim=1).numpy()), rtol=1e-5
    )
    np.testing.assert_allclose(ember.sigmoid(x).numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-6)


def test_overflow_and_invalid_powers_are_silent_as_in_torch():
    # torch returns inf / nan without a warning; pytest runs with warnings as errors.
    x = ember.tensor([1000.0, -1.0, 0.0], dtype=ember.float64)
    np.testing.assert_array_equal(ember.exp(x).numpy(), np.array([np.inf, np.exp(-1.0), 1.0]))
    y = (x**0.5).numpy()
    assert np.isnan(y[1]) and y[0] == np.sqrt(1000.0) and y[2] == 0.0
    assert ember.pow(ember.tensor([2.0]), ember.tensor([1e4])).item() == float("inf")
    torch = pytest.importorskip("torch")
    t = torch.tensor([1000.0, -1.0, 0.0], dtype=torch.float64)
    np.testing.assert_array_equal(ember.exp(x).numpy(), torch.exp(t).numpy())
    np.testing.assert_array_equal((x**0.5).numpy(), (t**0.5).numpy())
