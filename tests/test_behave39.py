"""Round 39 (behave39): tensor ops as a PyTorch user relies on them, against torch 2.13 --
grad_fn names, exception families, layouts and dtypes the probe found different."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _both(fn, *arrays):
    """fn(lib, *tensors) for torch and ember on copies of the same arrays."""
    return (
        fn(torch, *(torch.from_numpy(a.copy()) for a in arrays)),
        fn(ember, *(ember.from_numpy(a.copy()) for a in arrays)),
    )


def _same(t, e, strides=True):
    assert tuple(e.shape) == tuple(t.shape)
    assert str(e.dtype) == str(t.dtype).removeprefix("torch.")
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-5, atol=1e-6)
    if strides and t.numel() > 1:
        assert tuple(e.stride()) == t.stride()


def _raises_like(fn, *arrays):
    """fn raises in torch; ember's exception is of torch's class (and its message non-empty)."""
    with pytest.raises(Exception) as te:
        fn(torch, *(torch.from_numpy(a.copy()) for a in arrays))
    with pytest.raises(type(te.value)) as ee:
        fn(ember, *(ember.from_numpy(a.copy()) for a in arrays))
    assert str(ee.value)


# ---- grad_fn names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda L, x, y: x / y,
        lambda L, x, y: x.div(y),
        lambda L, x, y: x.div(y, rounding_mode=None),
        lambda L, x, y: L.div(x, y, rounding_mode=None),
        lambda L, x, y: L.divide(x, 2.0, rounding_mode=None),
        lambda L, x, y: x.div(2.0),
        lambda L, x, y: L.div(x, y, rounding_mode="floor"),
        lambda L, x, y: x.div(y, rounding_mode="trunc"),
        lambda L, x, y: L.sign(x),
        lambda L, x, y: x.t().unflatten(0, (2, 2)),
        lambda L, x, y: x.unflatten(1, (1, 4)),
    ],
)
def test_grad_fn_names_as_torch(call):
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((4, 4)), rng.standard_normal((4, 4)) + 3
    t = call(torch, torch.tensor(a, requires_grad=True), torch.tensor(b))
    e = call(ember, ember.tensor(a, requires_grad=True), ember.tensor(b))
    assert e.grad_fn.name() == t.grad_fn.name()
    _same(t, e)


def test_div_explicit_none_gradient():
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    y = ember.tensor(rng.standard_normal((3, 4)) + 3, requires_grad=True)
    assert gradcheck(lambda a, b: ember.div(a, b, rounding_mode=None), (x, y))
    assert gradcheck(lambda a: a.t().unflatten(0, (2, 2)), (x,))


# ---- exception families -----------------------------------------------------------------


def test_complex_refusals_are_torch_not_implemented():
    z = ember.ones(3, dtype=ember.complex64)
    for fn in (lambda: z.max(), lambda: ember.clamp(z, 0, 1), lambda: ember.sort(z)):
        with pytest.raises(RuntimeError, match="ComplexFloat"):  # (torch's family)
            fn()
        with pytest.raises(TypeError):  # (ember's dtype errors)
            fn()
    with pytest.raises(NotImplementedError):
        z.max()


def test_losses_in_torch_order():
    rng = np.random.default_rng(2)
    p = rng.random(3).astype(np.float32)
    for op in ("binary_cross_entropy", "binary_cross_entropy_with_logits"):
        # sizes are compared before the integer target's dtype: ValueError, as torch
        _raises_like(lambda L, x, t, op=op: getattr(L.nn.functional, op)(x, t), p, np.ones(4, int))
        _raises_like(lambda L, x, t, op=op: getattr(L.nn.functional, op)(x, t), p, np.ones(3, int))
    # a 0-d input: a 0-d integer target is refused as class probabilities, else dim 1 is missing
    _raises_like(lambda L, x, t: L.nn.functional.cross_entropy(x, t), np.array(1.0), np.array(0))
    for t in (np.array(0.5), np.array([0]), np.array([0.5])):
        with pytest.raises(IndexError):
            F.cross_entropy(ember.tensor(1.0), ember.tensor(t))
        with pytest.raises(IndexError):
            TF.cross_entropy(torch.tensor(1.0), torch.tensor(t))


@pytest.mark.parametrize("bools", [(False, True), (True, False), (True, True)])
def test_cosine_embedding_loss_bool_inputs(bools):
    rng = np.random.default_rng(3)
    xs = [rng.random((4, 3)) > 0.5 if b else rng.standard_normal((4, 3)) for b in bools]
    y = np.array([1, -1, 1, -1])
    t, e = _both(lambda L, a, b, y: L.nn.functional.cosine_embedding_loss(a, b, y), *xs, y)
    _same(t, e)


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, x: L.scatter(x, 0, L.zeros((1, 3), dtype=L.int64), x[:1], reduce="mean"),
        lambda L, x: L.scatter_reduce(x, 0, L.zeros((1, 3), dtype=L.int64), x[:1], "maximum"),
        lambda L, x: L.gather(x, 1, L.zeros((1, 1))),
        lambda L, x: L.take_along_dim(x, L.zeros((1, 1)), 1),
        lambda L, x: L.clamp(x),
        lambda L, x: x.clone().clamp_(),
        lambda L, x: L.clamp(x > 0, True),
        lambda L, x: L.allclose(x, x[:2, :2]),
        lambda L, x: L.pow(L.ones(3, dtype=L.int64), -1),
        lambda L, x: L.einsum("ij,jk->ik", x, L.ones(5, 5)),
        lambda L, x: L.einsum("ij->k", x),
        lambda L, x: L.einsum("ij->ii", x),
        lambda L, x: L.einsum("ij", x, x),
        lambda L, x: L.einsum("ij,jk->ik", x, L.ones(3, 3, dtype=L.float64)),
        lambda L, x: L.tensordot(x, x, dims=-1),
        lambda L, x: L.tril(x[0]),
        lambda L, x: L.diagonal(x[0]),
        lambda L, x: L.repeat_interleave(x, L.tensor([1, 2, 3]), 0, output_size=5),
        lambda L, x: L.repeat_interleave(x, 2, output_size=7),
        lambda L, x: L.repeat_interleave(L.tensor([[1, 2]])),
        lambda L, x: L.repeat_interleave(x, L.tensor([1.0, 2.0, 3.0]), 0),
        lambda L, x: L.meshgrid(x[0], x[0].double(), indexing="ij"),
        lambda L, x: L.meshgrid(indexing="ij"),
        lambda L, x: L.cartesian_prod(x[0], x[0].long()),
        lambda L, x: L.cdist(x, x, p=-1.0),
        lambda L, x: L.cdist(x, x[:, :2]),
        lambda L, x: L.cdist(x[0], x[0]),
        lambda L, x: L.cdist(x, x.double()),
        lambda L, x: L.tensor(1.0).unflatten(0, (1,)),
        lambda L, x: L.div(x, x, rounding_mode="round"),
        lambda L, x: x.clone().__setitem__(0, 1 + 2j),
    ],
)
def test_refusals_in_torch_family(fn):
    _raises_like(fn, np.arange(9, dtype=np.float32).reshape(3, 3) + 1)


def test_complex_value_into_real_tensor():
    for lib in (torch, ember):
        x = lib.zeros(3)
        x[0] = 2 + 0j  # (no imaginary part: written)
        b = lib.zeros(2, dtype=lib.bool)
        b[0] = 1 + 2j
        assert x.numpy()[0] == 2 and bool(b.numpy()[0])


# ---- values, dtypes and layouts ---------------------------------------------------------


@pytest.mark.parametrize("perm", [(0, 1, 2), (2, 0, 1), (1, 0, 2)])
@pytest.mark.parametrize(
    "key",
    [
        (slice(None), [1, 3]),
        (slice(None), None, [0, 1]),
        (slice(1, 3), [0, 1]),
        (Ellipsis, [1, 0]),
        (slice(None), [[0], [1]]),
        ([0, 1], slice(None), [1, 2]),
    ],
)
def test_list_index_layout_as_torch(perm, key):
    x = np.arange(120.0).reshape(4, 5, 6)
    t, e = _both(lambda L, a: a.permute(*perm)[key], x)
    _same(t, e)


@pytest.mark.parametrize("args", [(0, 0, 1), (1, 0, 1), (2, 0, 2), (-1, -2, -1)])
def test_diag_embed_contiguous(args):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4))
    t, e = _both(lambda L, a: L.diag_embed(a, *args), x)
    _same(t, e)
    xe = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: ember.diag_embed(a, *args), (xe,))


def test_block_diag_zero_dim_ranks_lower():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((2, 3)).astype(np.float32), np.array(3.0)
    t, e = _both(lambda L, a, b: L.block_diag(a, b), a, b)
    _same(t, e)
    t, e = _both(lambda L, a, b: L.block_diag(a, b), a.astype(np.int64), b)
    _same(t, e)


def test_einsum_sublist_form():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    for fn in (
        lambda L, a, b: L.einsum(a, [0, 1], b, [1, 2], [0, 2]),
        lambda L, a, b: L.einsum(a, [0, 1], b, [1, 2]),
        lambda L, a, b: L.einsum(a, [Ellipsis, 1], [1, Ellipsis]),
    ):
        t, e = _both(fn, a, b)
        _same(t, e, strides=False)
    xa = ember.tensor(a, requires_grad=True)
    xb = ember.tensor(b, requires_grad=True)
    assert gradcheck(lambda p, q: ember.einsum(p, [0, 1], q, [1, 2], [0, 2]), (xa, xb))


def test_tensordot_zero_dim_tensor_dims():
    rng = np.random.default_rng(8)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 5))
    t, e = _both(lambda L, a, b: L.tensordot(a, b, dims=L.tensor(1)), a, b)
    _same(t, e)


def test_repeat_interleave_output_size_matching():
    x = np.arange(6.0).reshape(3, 2)
    t, e = _both(lambda L, a: L.repeat_interleave(a, L.tensor([1, 2, 3]), 0, output_size=6), x)
    _same(t, e)
    t, e = _both(lambda L, a: L.repeat_interleave(L.tensor([1, 2]), output_size=3), x)
    _same(t, e)


@pytest.mark.parametrize("key", [((0, 1),), ((0, 1), 2), (0, (1, 2)), (slice(None), (3, 0))])
def test_tuple_inside_key_is_an_index_sequence(key):
    rng = np.random.default_rng(9)
    x = rng.standard_normal((4, 5))
    t, e = _both(lambda L, a: (a.requires_grad_() * 1)[key], x)
    _same(t, e)
    assert e.grad_fn.name() == t.grad_fn.name()
    xe = ember.tensor(x, requires_grad=True)
    assert gradcheck(lambda a: a[key], (xe,))
