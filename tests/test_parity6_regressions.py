"""Regressions from a sixth sweep against PyTorch: tensor-level ops (indexing and index
assignment, scatter/gather/index_* ops, reductions, shape ops, matmul family) drawn at random,
values, dtypes, shapes, errors and float64 gradients compared; plus the known leftovers
(group_norm on empty groups, MultiheadAttention's fully masked rows, loss class weights of
another dtype, multinomial's dtype, manual_seed's range, exp_'s bits). Each test asserts the
expected behaviour directly and, where torch is installed, against torch."""

import operator
import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F


def _torch():
    return pytest.importorskip("torch")


def _same(e, t):
    t = t.detach()
    assert str(e.dtype) == str(t.dtype).replace("torch.", ""), (e.dtype, t.dtype)
    assert tuple(e.shape) == tuple(t.shape), (e.shape, t.shape)
    np.testing.assert_allclose(np.asarray(e.detach().numpy()), t.numpy(), rtol=1e-12, atol=1e-12)


# ---- indexing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index", [slice(None, None, -1), (0, slice(None, None, -2)), slice(0, 2, 0)]
)
def test_negative_or_zero_slice_steps_are_refused_as_torch(index):
    x = ember.arange(12.0).reshape(3, 4)
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[index]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        x[index] = 1.0
    # ember's own ops that reverse still work
    np.testing.assert_array_equal(ember.flip(x, (0,)).numpy(), np.arange(12.0).reshape(3, 4)[::-1])


def test_setitem_with_a_tensor_inside_a_tuple_key_keeps_its_dim():
    # a one-element integer Tensor was read through __index__ as a plain int (dim dropped), an
    # empty bool Tensor as an integer index
    x = ember.tensor(np.zeros((1, 4)), requires_grad=True)
    y = x * 1
    v = ember.tensor(np.arange(4.0).reshape(1, 4), requires_grad=True)
    y[ember.tensor([0]), 0:4] = v
    y.sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), np.arange(4.0).reshape(1, 4))
    np.testing.assert_array_equal(v.grad.numpy(), np.ones((1, 4)))
    z = ember.zeros(3, 2, 0)
    z[:, ember.tensor(np.zeros((2, 0), bool))] = ember.zeros(3, 0)  # no error
    w = ember.zeros(2, 2, 2)
    w[0:1, ember.tensor([0]), 1:] = ember.ones(1, 1, 1)
    assert w.numpy()[0, 0, 1] == 1 and w.numpy().sum() == 1


def test_bool_scalar_index_with_integers_follows_torch():
    x = ember.arange(24.0).reshape(2, 3, 4)
    assert x[-1, :-2, False].shape == (1, 0, 4)
    assert x[0, True, [0, 1]].shape == (2, 4)
    torch = _torch()
    t = torch.arange(24.0).reshape(2, 3, 4)
    assert tuple(t[-1, :-2, False].shape) == (1, 0, 4)


# ---- scatter / gather / index_* --------------------------------------------------------------


@pytest.mark.parametrize(
    "call",
    [
        lambda L, x, i2, i1: L.take(x, i1),
        lambda L, x, i2, i1: L.put(x, i1, x[0, :2]),
        lambda L, x, i2, i1: L.index_copy(x, 1, i1, x[:, :2]),
        lambda L, x, i2, i1: L.index_fill(x, 1, i1, 2.0),
        lambda L, x, i2, i1: L.take_along_dim(x, i2, 1),
    ],
)
def test_index_arguments_must_be_int64_where_torch_says_so(call):
    x = np.arange(6.0).reshape(2, 3)
    i2, i1 = np.array([[0, 1], [1, 0]], np.int32), np.array([0, 1], np.int32)
    with pytest.raises(TypeError, match="int64"):
        call(ember, ember.tensor(x), ember.tensor(i2), ember.tensor(i1))
    torch = pytest.importorskip("torch")
    with pytest.raises((RuntimeError, IndexError)):  # (index_fill's is an IndexError)
        call(torch, torch.tensor(x), torch.tensor(i2), torch.tensor(i1))


@pytest.mark.parametrize(
    "call",
    [
        lambda L, x, i2, i1: L.gather(x, 1, i2),
        lambda L, x, i2, i1: L.scatter_add(x, 1, i2, x[:, :2]),
        lambda L, x, i2, i1: L.index_select(x, 1, i1),
        lambda L, x, i2, i1: L.index_add(x, 1, i1, x[:, :2]),
    ],
)
def test_index_arguments_int64_or_int32_where_torch_takes_both(call):
    x = np.arange(6.0).reshape(2, 3)
    i2, i1 = np.array([[0, 1], [1, 0]]), np.array([0, 1])
    e = [
        call(ember, ember.tensor(x), ember.tensor(i2.astype(d)), ember.tensor(i1.astype(d)))
        for d in (np.int64, np.int32)
    ]
    np.testing.assert_array_equal(e[0].numpy(), e[1].numpy())
    with pytest.raises(TypeError, match="int64 or int32"):
        call(
            ember,
            ember.tensor(x),
            ember.tensor(i2.astype(np.int16)),
            ember.tensor(i1.astype(np.int16)),
        )
    torch = pytest.importorskip("torch")
    _same(
        e[1],
        call(
            torch,
            torch.tensor(x),
            torch.tensor(i2, dtype=torch.int32),
            torch.tensor(i1, dtype=torch.int32),
        ),
    )


def test_gather_takes_sparse_grad():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    y = x.gather(1, ember.tensor([[1], [0]]), sparse_grad=False)
    ember.gather(x, 1, ember.tensor([[1], [0]]), sparse_grad=True).sum().backward()
    np.testing.assert_array_equal(y.detach().numpy(), [[2.0], [3.0]])
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0], [1.0, 0.0]])


def test_masked_fill_with_a_0d_tensor_value_gives_it_a_gradient():
    x = ember.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    v = ember.tensor(5.0, dtype=ember.float64, requires_grad=True)
    mask = np.array([[True, False, True], [False, False, True]])
    w = np.arange(6.0).reshape(2, 3) + 1
    (ember.masked_fill(x, mask, v) * ember.tensor(w)).sum().backward()
    assert v.grad.item() == w[mask].sum()
    np.testing.assert_array_equal(x.grad.numpy(), np.where(mask, 0, w))
    with pytest.raises(ValueError, match="0-d"):
        ember.masked_fill(x, mask, ember.tensor([1.0, 2.0]))
    torch = _torch()
    tv = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    (
        torch.tensor(np.arange(6.0).reshape(2, 3)).masked_fill(torch.tensor(mask), tv)
        * torch.tensor(w)
    ).sum().backward()
    assert tv.grad.item() == v.grad.item()


def test_index_fill_value_gradient_counts_each_filled_entry_once():
    x = ember.tensor(np.ones((2, 3)), requires_grad=True)
    v = ember.tensor(2.0, dtype=ember.float64, requires_grad=True)
    w = np.arange(6.0).reshape(2, 3)
    y = ember.index_fill(x, 1, ember.tensor([0, 0, 2, -1]), v)
    (y * ember.tensor(w)).sum().backward()
    assert v.grad.item() == w[:, [0, 2]].sum()  # repeated (and negative) indices once
    np.testing.assert_array_equal(y.detach().numpy(), [[2, 1, 2], [2, 1, 2]])
    torch = _torch()
    tv = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    ty = torch.ones(2, 3, dtype=torch.float64).index_fill(1, torch.tensor([0, 0, 2]), tv)
    (ty * torch.tensor(w)).sum().backward()
    assert tv.grad.item() == v.grad.item()


@pytest.mark.parametrize("reduce", ["sum", "prod", "amax", "amin"])
def test_scatter_reduce_on_bool_without_self(reduce):
    x = np.array([True, False, True])
    src = np.array([False, True])
    idx = np.array([0, 1])
    e = ember.scatter_reduce(
        ember.tensor(x), 0, ember.tensor(idx), ember.tensor(src), reduce, include_self=False
    )
    assert e.dtype == ember.bool
    with pytest.raises(TypeError, match="bool"):
        ember.scatter_reduce(ember.tensor(x), 0, ember.tensor(idx), ember.tensor(src), "mean")
    torch = _torch()
    t = torch.tensor(x).scatter_reduce(
        0, torch.tensor(idx), torch.tensor(src), reduce, include_self=False
    )
    _same(e, t)


@pytest.mark.parametrize("reduce", ["amax", "amin", "prod"])
@pytest.mark.parametrize("include_self", [True, False])
def test_scatter_reduce_gradients_through_nan_and_inf_as_torch(reduce, include_self):
    x = np.array([[1.0, np.nan, 3.0], [4.0, 5.0, -np.inf]])
    src = np.array([[2.0, np.nan], [7.0, 1.0]])
    idx = np.array([[0, 0], [1, 2]])
    g = np.arange(6.0).reshape(2, 3) + 1
    ex, es = ember.tensor(x, requires_grad=True), ember.tensor(src, requires_grad=True)
    y = ember.scatter_reduce(ex, 1, ember.tensor(idx), es, reduce, include_self=include_self)
    y.backward(ember.tensor(g))
    # a NaN (or, for prod, infinite) x that no value attains gets a NaN gradient, as in torch
    assert np.isnan(ex.grad.numpy()[0, 1])
    torch = _torch()
    tx, ts = torch.tensor(x, requires_grad=True), torch.tensor(src, requires_grad=True)
    ty = torch.scatter_reduce(tx, 1, torch.tensor(idx), ts, reduce, include_self=include_self)
    ty.backward(torch.tensor(g))
    _same(y, ty)
    _same(ex.grad, tx.grad)
    _same(es.grad, ts.grad)


# ---- shape ops and the matmul family --------------------------------------------------------


def test_squeeze_with_an_empty_dims_tuple_squeezes_nothing():
    x = ember.zeros(1, 3, 1)
    assert ember.squeeze(x, ()).shape == (1, 3, 1)
    assert ember.squeeze(x, (0,)).shape == (3, 1)


def test_narrow_refuses_a_start_at_the_end_with_a_length():
    x = ember.arange(3.0)
    with pytest.raises(RuntimeError, match="exceeds"):
        ember.narrow(x, 0, 3, 1)
    assert ember.narrow(x, 0, 3, 0).shape == (0,)
    np.testing.assert_array_equal(ember.narrow(x, 0, -1, 1).numpy(), [2.0])


@pytest.mark.parametrize("op", ["addmm", "addmv", "addbmm", "baddbmm", "addr"])
def test_alpha_zero_ignores_the_product_where_torch_does(op):
    shapes = {
        "addmm": ((2, 2), (2, 3), (3, 2)),
        "addmv": ((2,), (2, 3), (3,)),
        "addbmm": ((2, 2), (2, 2, 3), (2, 3, 2)),
        "baddbmm": ((2, 2, 2), (2, 2, 3), (2, 3, 2)),
        "addr": ((2, 3), (2,), (3,)),
    }[op]
    rng = np.random.default_rng(0)
    c, a, b = (rng.standard_normal(s) for s in shapes)
    a.reshape(-1)[0] = np.nan
    e = getattr(ember, op)(ember.tensor(c), ember.tensor(a), ember.tensor(b), alpha=0, beta=0.5)
    if op in ("addmm", "addmv", "addbmm"):  # (torch's BLAS calls; baddbmm and addr multiply)
        np.testing.assert_array_equal(e.numpy(), 0.5 * c)
    torch = _torch()
    t = getattr(torch, op)(torch.tensor(c), torch.tensor(a), torch.tensor(b), alpha=0, beta=0.5)
    _same(e, t)


# ---- known leftovers ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 4, 0), (2, 4, 0, 3), (0, 4, 3)])
def test_group_norm_on_empty_groups_gives_torchs_nan_weight_gradient(shape):
    x = ember.zeros(*shape, dtype=ember.float64, requires_grad=True)
    w = ember.ones(4, dtype=ember.float64, requires_grad=True)
    b = ember.zeros(4, dtype=ember.float64, requires_grad=True)
    y = F.group_norm(x, 2, w, b)
    y.sum().backward()
    assert y.shape == shape and x.grad.shape == shape
    assert np.isnan(w.grad.numpy()).all() == (shape[0] > 0)  # no sample: no group, grad 0
    np.testing.assert_array_equal(b.grad.numpy(), np.zeros(4))
    torch = _torch()
    tw = torch.ones(4, dtype=torch.float64, requires_grad=True)
    tb = torch.zeros(4, dtype=torch.float64, requires_grad=True)
    torch.nn.functional.group_norm(
        torch.zeros(*shape, dtype=torch.float64), 2, tw, tb
    ).sum().backward()
    _same(w.grad, tw.grad)
    _same(b.grad, tb.grad)


def test_multihead_attention_fully_masked_row_is_nan_with_weights_zero_without():
    mha = ember.nn.MultiheadAttention(4, 2, batch_first=True).double()
    x = ember.tensor(np.random.default_rng(0).standard_normal((1, 3, 4)))
    mask = np.zeros((3, 3), bool)
    mask[1] = True  # (MHA: True = masked) query 1 sees no key
    out, w = mha(x, x, x, attn_mask=ember.tensor(mask))
    assert np.isnan(out.numpy()[0, 1]).all() and np.isnan(w.numpy()[0, 1]).all()
    assert np.isfinite(out.numpy()[0, [0, 2]]).all()
    out, _ = mha(x, x, x, attn_mask=ember.tensor(mask), need_weights=False)
    np.testing.assert_array_equal(
        out.numpy()[0, 1], np.broadcast_to(mha.out_proj.bias.numpy(), (4,))
    )
    torch = _torch()
    tm = torch.nn.MultiheadAttention(4, 2, batch_first=True).double()
    tm.load_state_dict({k: torch.tensor(v.numpy()) for k, v in mha.state_dict().items()})
    tx = torch.tensor(x.numpy())
    for nw in (True, False):
        to = tm(tx, tx, tx, attn_mask=torch.tensor(mask), need_weights=nw)[0]
        eo = mha(x, x, x, attn_mask=ember.tensor(mask), need_weights=nw)[0]
        _same(eo, to)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("wdtype", [np.float32, np.float16, np.int64])
def test_class_index_losses_refuse_a_weight_of_another_dtype(loss, wdtype):
    x = ember.tensor(np.random.default_rng(0).standard_normal((3, 4)))
    t = ember.tensor([0, 1, 2])
    with pytest.raises(TypeError, match="weight"):
        getattr(F, loss)(x, t, weight=ember.tensor(np.ones(4, wdtype)))
    getattr(F, loss)(x, t, weight=ember.tensor(np.ones(4)))  # the same dtype works
    torch = _torch()
    with pytest.raises(RuntimeError, match="expected scalar type"):
        getattr(torch.nn.functional, loss)(
            torch.tensor(x.numpy()),
            torch.tensor([0, 1, 2]),
            weight=torch.ones(4, dtype=getattr(torch, np.dtype(wdtype).name)),
        )


def test_cross_entropy_probability_targets_promote_with_the_weight():
    rng = np.random.default_rng(1)
    x, p = rng.standard_normal((3, 4)).astype(np.float32), rng.random((3, 4)).astype(np.float32)
    w = np.arange(1.0, 5.0)
    e = F.cross_entropy(ember.tensor(x), ember.tensor(p), weight=ember.tensor(w))
    assert e.dtype == ember.float64
    torch = _torch()
    t = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(p), weight=torch.tensor(w))
    assert str(t.dtype) == "torch.float64"
    np.testing.assert_allclose(e.item(), t.item(), rtol=1e-6)


@pytest.mark.parametrize("w", [[1, 2, 3], [True, False, True]])
def test_multinomial_refuses_integer_and_bool_weights(w):
    with pytest.raises(TypeError, match="floating point"):
        ember.multinomial(ember.tensor(w), 1)
    torch = _torch()
    with pytest.raises(RuntimeError, match="floating-point"):
        torch.multinomial(torch.tensor(w), 1)


def test_manual_seed_range_is_torchs():
    for bad in (2**64, 2**70, -(2**63) - 1):
        with pytest.raises(ValueError, match="2\\*\\*64"):
            ember.manual_seed(bad)
    ember.manual_seed(-1)  # torch reads it as its uint64 bits
    assert ember.initial_seed() == 2**64 - 1
    a = ember.rand(3)
    ember.manual_seed(2**64 - 1)
    np.testing.assert_array_equal(a.numpy(), ember.rand(3).numpy())
    ember.manual_seed(0)
    torch = _torch()
    torch.manual_seed(-1)
    assert torch.initial_seed() == 2**64 - 1
    with pytest.raises(ValueError):
        torch.manual_seed(2**64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_exp_in_place_has_exp_bits(dtype):
    a = (np.random.default_rng(2).standard_normal(3000) * 30).astype(dtype)
    a[0] = 1000
    t = ember.tensor(a)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t.exp_()
    np.testing.assert_array_equal(t.numpy(), ember.exp(ember.tensor(a)).numpy())


# ---- second batch: quantile, searchsorted, vector_norm, pow/add promotion, split, einsum, linalg


def test_quantile_picks_keep_infinities_and_refuse_empty_inputs_and_mixed_q():
    x = ember.tensor([float("inf")])
    for interpolation in ("lower", "higher", "nearest"):
        assert ember.quantile(x, 0.0, interpolation=interpolation).item() == float("inf")
    y = ember.tensor([0.3, -1.2], dtype=ember.float64, requires_grad=True)
    q = ember.tensor([0.88, 0.30, 0.05], dtype=ember.float64)
    ember.quantile(y, q, dim=-1, interpolation="higher").sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [3.0, 0.0])
    with pytest.raises(IndexError, match="non-empty"):
        ember.quantile(ember.zeros(0, 3), 0.5, dim=1)
    with pytest.raises(TypeError, match="dtype"):
        ember.quantile(ember.zeros(3), ember.tensor([0.5], dtype=ember.float64))
    torch = _torch()
    assert torch.quantile(
        torch.tensor([float("inf")]), 0.0, interpolation="nearest"
    ).item() == float("inf")
    ty = torch.tensor([0.3, -1.2], dtype=torch.float64, requires_grad=True)
    torch.quantile(ty, torch.tensor(q.numpy()), dim=-1, interpolation="higher").sum().backward()
    _same(y.grad, ty.grad)


@pytest.mark.parametrize(
    "ss, vs", [((0, 4, 0), (0, 4, 3)), ((2, 0), (2, 3)), ((2, 3), (2, 0)), ((0, 0, 4), (0, 0, 2))]
)
def test_searchsorted_with_empty_rows_or_sequences(ss, vs):
    rng = np.random.default_rng(0)
    s, v = np.sort(rng.standard_normal(ss), -1), rng.standard_normal(vs)
    e = ember.searchsorted(ember.tensor(s), ember.tensor(v))
    assert e.shape == vs and e.dtype == ember.int64 and not e.numpy().any()
    torch = _torch()
    _same(e, torch.searchsorted(torch.tensor(s), torch.tensor(v)))


def test_searchsorted_bool_values_against_numbers():
    e = ember.searchsorted(ember.tensor([0.0, 1.0]), ember.tensor([True, False]))
    np.testing.assert_array_equal(e.numpy(), [1, 0])
    with pytest.raises(TypeError, match="bool"):
        ember.searchsorted(ember.tensor([False, True]), ember.tensor([True]))


def test_vector_norm_of_negative_order_over_an_empty_dim_is_refused():
    with pytest.raises(ValueError, match="empty"):
        ember.linalg.vector_norm(ember.zeros(3, 0), ord=-1, dim=1)
    assert ember.linalg.vector_norm(ember.zeros(3, 0), ord=-1, dim=0).shape == (0,)
    torch = _torch()
    with pytest.raises(RuntimeError, match="empty"):
        torch.linalg.vector_norm(torch.zeros(3, 0), ord=-1, dim=1)


@pytest.mark.parametrize(
    "da, db, b",
    [
        ("int8", "uint8", 255),
        ("uint8", "int32", 2**31 - 1),
        ("int16", "int64", -(2**63)),
        ("uint8", "int64", 300),
    ],
)
def test_integer_pow_casts_a_0d_exponent_to_the_result_dtype(da, db, b):
    a = np.array([2, 0, 3, -1]).astype(da)
    e = ember.tensor(a) ** ember.tensor(np.array(b).astype(db))
    assert e.dtype == np.dtype(da)
    torch = _torch()
    _same(e, torch.tensor(a) ** torch.tensor(np.array(b).astype(db)))


@pytest.mark.parametrize(
    "da, db", [("uint8", "int8"), ("bool", "bool"), ("int8", "bool"), ("int64", "int32")]
)
def test_add_alpha_scales_in_the_result_dtype(da, db):
    a, b = np.array([4, 0, 3]).astype(da), np.array([-128, 1, 0]).astype(db)
    e = ember.add(ember.tensor(a), ember.tensor(b), alpha=2)
    assert e.dtype == np.result_type(a, b) if da != db or da != "bool" else e.dtype == np.bool_
    torch = _torch()
    _same(e, torch.add(torch.tensor(a), torch.tensor(b), alpha=2))
    if "bool" not in (da, db):
        _same(
            ember.sub(ember.tensor(a), ember.tensor(b), alpha=3),
            torch.sub(torch.tensor(a), torch.tensor(b), alpha=3),
        )


@pytest.mark.parametrize("da", ["int8", "int64", "uint8"])
def test_add_alpha_with_a_python_float_keeps_it_weak(da):
    e = ember.add(ember.tensor(np.array([1, 0, 1]).astype(da)), 2.5, alpha=2)
    assert e.dtype == ember.float32  # the default dtype, as int tensor + 5.0
    np.testing.assert_array_equal(e.numpy(), [6.0, 5.0, 6.0])
    torch = _torch()
    _same(e, torch.add(torch.tensor(np.array([1, 0, 1]).astype(da)), 2.5, alpha=2))


def test_split_size_zero_splits_only_an_empty_dim_and_einsum_ellipsis_of_a_scalar():
    (piece,) = ember.split(ember.zeros(2, 0), 0, 1)
    assert piece.shape == (2, 0)
    with pytest.raises(RuntimeError, match="positive"):
        ember.split(ember.zeros(3), 0)
    assert ember.einsum("...->", ember.tensor(3.0)).item() == 3.0
    np.testing.assert_array_equal(
        ember.einsum("...,...->...", ember.tensor(2.0), ember.tensor([1.0, 2.0])).numpy(),
        [2.0, 4.0],
    )


@pytest.mark.parametrize("shape", [(0, 0), (2, 0, 0), (0, 2, 2)])
def test_lu_cholesky_and_inv_ex_of_empty_batches(shape):
    # (the shapes torch 2.13 gives)
    for f, want in [
        ("inv_ex", [shape, shape[:-2]]),
        ("cholesky_ex", [shape, shape[:-2]]),
        ("lu_factor", [shape, shape[:-1]]),
    ]:
        out = getattr(ember.linalg, f)(ember.zeros(*shape))
        assert [tuple(o.shape) for o in out] == want


@pytest.mark.parametrize("ord", [1, 2, float("inf")])
def test_matrix_norm_of_a_matrix_without_entries_is_zero(ord):
    a = ember.zeros(3, 2, 0, requires_grad=True)
    n = ember.linalg.matrix_norm(a, ord=ord)
    np.testing.assert_array_equal(n.detach().numpy(), [0.0, 0.0, 0.0])
    n.sum().backward()
    assert a.grad.shape == (3, 2, 0)


def test_matrix_power_zero_stays_in_the_graph():
    a = ember.tensor(np.arange(4.0).reshape(2, 2), requires_grad=True)
    p = ember.linalg.matrix_power(a, 0)
    np.testing.assert_array_equal(p.detach().numpy(), np.eye(2))
    p.sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), np.zeros((2, 2)))


@pytest.mark.parametrize("db", ["int64", "int32", "int8"])
def test_integer_trunc_division_is_exact_beyond_2_to_the_53(db):
    a = np.array([-(2**62) - 1, 2**62 + 3, 7, -7, 0])
    b = np.array([3, -7, 2, 2, -5]).astype(db)
    e = ember.div(ember.tensor(a), ember.tensor(b), rounding_mode="trunc")
    want = [
        int(x / y) if abs(x) < 2**53 else -(-x // y) if (x < 0) != (y < 0) else x // y
        for x, y in zip(a.tolist(), b.tolist())
    ]
    assert e.numpy().tolist() == want and e.dtype == ember.int64
    torch = _torch()
    _same(e, torch.div(torch.tensor(a), torch.tensor(b), rounding_mode="trunc"))


@pytest.mark.parametrize(
    "op",
    [
        operator.floordiv,
        operator.mod,
        operator.lshift,
        operator.and_,
        operator.lt,
        operator.eq,
        operator.ge,
        operator.xor,
    ],
)
def test_a_numpy_scalar_on_the_left_of_an_operator_gives_a_tensor(op):
    r = op(np.int64(7), ember.tensor([3, 4]))
    assert isinstance(r, ember.Tensor)
    np.testing.assert_array_equal(r.numpy(), op(np.int64(7), np.array([3, 4])))
    torch = _torch()
    _same(r, op(np.int64(7), torch.tensor([3, 4])))


def test_lerp_gradients_with_infinite_weights_are_torchs_not_nan():
    a, b = np.array([1.0, 2.0, 3.0]), np.array([4.0, -1.0, 0.0])
    w = np.array([0.25, np.inf, -np.inf])
    xs = [ember.tensor(v, requires_grad=True) for v in (a, b, w)]
    ember.lerp(*xs).backward(ember.ones(3, dtype=ember.float64))  # (its sum is inf - inf)
    np.testing.assert_array_equal(xs[0].grad.numpy(), 1 - w)  # torch's g * (1 - w)
    np.testing.assert_array_equal(xs[1].grad.numpy(), w)  # g * w
    np.testing.assert_array_equal(xs[2].grad.numpy(), b - a)  # g * (end - input)
    torch = _torch()
    ts = [torch.tensor(v, requires_grad=True) for v in (a, b, w)]
    torch.lerp(*ts).backward(torch.ones(3, dtype=torch.float64))
    for e, t in zip(xs, ts):
        _same(e.grad, t.grad)


def test_clamp_below_equal_tensor_bounds_gives_no_gradient_as_torch():
    x = ember.tensor([-0.5, 0.5, 2.0], dtype=ember.float64, requires_grad=True)
    lo = ember.tensor([0.0, 0.0, 1.0], dtype=ember.float64, requires_grad=True)
    hi = ember.tensor([0.0, 1.0, 1.0], dtype=ember.float64, requires_grad=True)
    y = ember.clamp(x, lo, hi)
    y.backward(ember.ones(3, dtype=ember.float64))
    np.testing.assert_array_equal(y.detach().numpy(), [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1, 0])
    np.testing.assert_array_equal(lo.grad.numpy(), [0, 0, 0])  # torch: min's only where min < max
    np.testing.assert_array_equal(hi.grad.numpy(), [0, 0, 1])
    torch = _torch()
    ts = [torch.tensor(t.detach().numpy(), requires_grad=True) for t in (x, lo, hi)]
    torch.clamp(*ts).backward(torch.ones(3, dtype=torch.float64))
    for e, t in zip((x, lo, hi), ts):
        _same(e.grad, t.grad)
