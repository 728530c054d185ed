"""The lead's mends after session 35's review (review28 F1-F3, F7)."""

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue

torch = pytest.importorskip("torch")


def _grads(lib, x0, f):
    x = lib.tensor(x0, dtype=lib.float64, requires_grad=True)
    (g,) = lib.autograd.grad(f(lib, x).sum(), x, create_graph=True)
    (h,) = lib.autograd.grad(g.sum(), x)
    return g.detach().numpy(), h.numpy()


@pytest.mark.parametrize(
    "x0, f",
    [
        # prod's recorded backward through zeros: an inf first entry made its line NaN
        ([[3.0, 0.0, 2.0], [np.inf, 1.0, 2.0]], lambda L, x: x.prod(1)),
        ([[0.0, np.inf], [2.0, 5.0]], lambda L, x: x.prod(0)),
        # cumprod's: its j >= i mask was a 0/1 product (inf * 0 = NaN)
        ([np.inf, 0.0, 2.0], lambda L, x: L.cumprod(x, 0)),
        ([[1.0, 0.0, 5.0, 3.0], [2.0, 2.0, 0.0, 0.0]], lambda L, x: L.cumprod(x, 1)),
    ],
)
def test_prod_and_cumprod_double_backward_through_zeros_beside_inf_as_torch(x0, f):
    eg, eh = _grads(ember, x0, f)
    tg, th = _grads(torch, x0, f)
    np.testing.assert_array_equal(eg, tg)
    np.testing.assert_array_equal(eh, th)


def test_cumprod_double_backward_through_zeros_refuses_lines_past_its_n_squared_bound():
    x = ember.zeros(6000, dtype=ember.float64, requires_grad=True)  # 36M products
    (g,) = ember.autograd.grad(ember.cumprod(x, 0).sum(), x, create_graph=False)
    assert g.shape == (6000,)  # the first derivative alone is O(n)
    with pytest.raises(NotImplementedError, match="n\\^2 per line"):
        ember.autograd.grad(ember.cumprod(x, 0).sum(), x, create_graph=True)


def test_cosine_similarity_of_float32_vectors_whose_squares_all_underflow():
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((4, 3)).astype(np.float32) * 1e-23 for _ in range(2))
    e = ember.nn.functional.cosine_similarity(ember.tensor(a), ember.tensor(b))
    t = torch.nn.functional.cosine_similarity(torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-5, atol=0)
    assert np.abs(e.numpy()).min() > 0  # (a float32 pass gave 0: every square was 0)
    z = ember.nn.functional.cosine_similarity(ember.zeros(2, 3), ember.ones(2, 3))
    np.testing.assert_array_equal(z.numpy(), np.zeros(2, np.float32))


def test_copy_and_fill_refuse_bad_shapes_as_torch():
    with pytest.raises(BadShapeOrValue, match=r"\(2,\) could not be broadcast to \(2, 3\)"):
        ember.zeros(2, 3).copy_(ember.ones(2))
    with pytest.raises(BadShapeOrValue, match="could not be broadcast"):
        ember.zeros(()).copy_(ember.tensor([3.0]))
    with pytest.raises(BadShapeOrValue, match="0-dimension value tensor .* 1 dimensions"):
        ember.zeros(3).fill_(ember.tensor([1.0]))
    x = ember.zeros(3)
    assert x.copy_(ember.arange(3.0), non_blocking=True) is x
    np.testing.assert_array_equal(x.numpy(), [0.0, 1.0, 2.0])
    np.testing.assert_array_equal(x.fill_(ember.tensor(2.0)).numpy(), [2.0, 2.0, 2.0])
