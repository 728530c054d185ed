"""Tensor API edge cases found by a differential sweep against PyTorch, pinned with hand or NumPy
expectations (they run without torch; tests/test_tensor_fuzz_torch.py compares with torch live)."""

import numpy as np
import pytest

import ember


@pytest.mark.parametrize(
    ("op", "expect"),
    [
        ("__ifloordiv__", [3, -4]),
        ("__imod__", [1, 1]),
        ("__ipow__", [49, 49]),
        ("__iand__", [2, 0]),
        ("__ior__", [7, -5]),
        ("__ixor__", [5, -5]),
    ],
)
def test_augmented_assignments_write_in_place(op, expect):
    x = ember.tensor([7, -7])
    alias = x
    out = getattr(x, op)(2)
    assert out is x
    np.testing.assert_array_equal(alias.numpy(), expect)  # other references see the update
    assert x.dtype == np.int64


@pytest.mark.parametrize(
    "op", ["__iadd__", "__imul__", "__itruediv__", "__ifloordiv__", "__imod__"]
)
@pytest.mark.parametrize("other", [1.5, np.array([2.0, 3.0]), ember.tensor(2.0)])
def test_inplace_float_into_integer_tensor_is_refused(op, other):
    x = ember.tensor([7, -7])
    with pytest.raises(RuntimeError, match="can't be cast to the desired output type int64"):
        getattr(x, op)(other)
    np.testing.assert_array_equal(x.numpy(), [7, -7])


def test_inplace_true_division_of_integers_is_refused():
    x = ember.tensor([4, 6], dtype=np.int32)
    with pytest.raises(RuntimeError, match="float"):
        x /= 2
    with pytest.raises(RuntimeError, match="float"):
        x.div_(2)
    x //= 2  # floor division stays integral
    np.testing.assert_array_equal(x.numpy(), [2, 3])


def test_inplace_float64_into_float32_keeps_float32():
    x = ember.tensor([1.0, 2.0])
    x += np.array([0.5, 0.25])
    assert x.dtype == np.float32
    np.testing.assert_allclose(x.numpy(), [1.5, 2.25])


@pytest.mark.parametrize(
    "f",
    [
        lambda b, f: b - f,
        lambda b, f: f - b,
        lambda b, f: f - True,
        lambda b, f: True - f,
        lambda b, f: b - b,
        lambda b, f: ember.sub(f, b),
        lambda b, f: f.sub_(b),
        lambda b, f: f.__isub__(b),
    ],
)
def test_subtraction_with_bool_is_refused(f):
    b, x = ember.tensor([True, False]), ember.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match="bool"):
        f(b, x)


def test_comparison_with_none_is_a_plain_bool():
    x = ember.tensor([1.0])
    assert (x == None) is False  # noqa: E711 (the operator itself is under test)
    assert (x != None) is True  # noqa: E711


@pytest.mark.parametrize("op", ["__add__", "__mul__", "__floordiv__", "__and__", "__radd__"])
@pytest.mark.parametrize(("dt", "zero_dim_dt"), [(np.int8, np.int64), (np.int32, np.int64),
                                                  (np.uint8, np.int16)])  # fmt: skip
def test_zero_dim_integer_tensor_does_not_widen(op, dt, zero_dim_dt):
    """As for floats: a 0-d tensor of the same category keeps the dimensioned tensor's dtype."""
    x, s = ember.tensor(np.array([5, 6], dt)), ember.tensor(np.array(3, zero_dim_dt))
    out = getattr(x, op)(s)
    assert out.dtype == dt
    expect = getattr(np.array([5, 6], np.int64), op)(np.int64(3))
    np.testing.assert_array_equal(out.numpy(), expect)


def test_zero_dim_float_still_widens_integers():
    out = ember.tensor(np.array([1, 2], np.int32)) + ember.tensor(np.array(0.5))
    assert out.dtype == np.float64


@pytest.mark.parametrize("op", [lambda a, b: a // b, lambda a, b: a % b, ember.fmod])
def test_integer_division_of_two_bools_is_refused(op):
    b = ember.tensor([True, True])
    with pytest.raises(TypeError, match="bool"):
        op(b, b)


def _torch_index(a, first, rest):
    """PyTorch's rule, spelled in NumPy: the integer entries select first, the rest follows."""
    return a[first][rest]


@pytest.mark.parametrize(
    ("index", "first", "rest"),
    [
        ((0, slice(None), [1, 3]), 0, (slice(None), [1, 3])),
        ((slice(None), 1, [0, 4]), (slice(None), 1), (slice(None), [0, 4])),
        (([0, 2], slice(None), 1), (slice(None), slice(None), 1), ([0, 2], slice(None))),
        ((None, 0, slice(None), [1, 3]), (None, 0), (slice(None), slice(None), [1, 3])),
        ((0, Ellipsis, [1, 2]), (0, Ellipsis), (Ellipsis, [1, 2])),
        (([0, 1], 2, [1, 3]), (slice(None), 2), ([0, 1], [1, 3])),
        ((np.int64(1), slice(None), np.array([0, 2])), 1, (slice(None), np.array([0, 2]))),
    ],
)
def test_integers_mixed_with_advanced_indices_select_first(index, first, rest):
    a = np.arange(60.0).reshape(3, 4, 5)
    expect = _torch_index(a, first, rest)
    x = ember.tensor(a, requires_grad=True)
    y = x[index]
    np.testing.assert_array_equal(y.numpy(), expect)
    w = np.arange(float(expect.size)).reshape(expect.shape)
    (y * ember.tensor(w)).sum().backward()
    g = np.zeros_like(a)
    g[first][rest] = w  # the indices here are unique: each picked element gets its weight
    np.testing.assert_array_equal(x.grad.numpy(), g)


@pytest.mark.parametrize("graph", [False, True])
def test_setitem_with_integers_and_advanced_indices_uses_torch_layout(graph):
    a = np.arange(60.0).reshape(3, 4, 5)
    v = np.linspace(0.0, 1.0, 2)  # broadcasts along the (4, 2) torch result, not NumPy's (2, 4)
    expect = a.copy()
    expect[0][:, [1, 3]] = v
    x = ember.tensor(a, requires_grad=graph)
    y = x * 1 if graph else x
    vt = ember.tensor(v, requires_grad=graph)
    y[0, :, [1, 3]] = vt
    np.testing.assert_array_equal(y.numpy(), expect)
    if graph:
        y.sum().backward()
        g = np.ones_like(a)
        g[0][:, [1, 3]] = 0
        np.testing.assert_array_equal(x.grad.numpy(), g)
        np.testing.assert_array_equal(vt.grad.numpy(), [4.0, 4.0])


def test_view_never_copies():
    x = ember.tensor(np.arange(24.0).reshape(2, 3, 4))
    x.view(6, 4)[0, 0] = -1.0  # a view: the write shows through x
    assert x[0, 0, 0].item() == -1.0
    t = x.transpose(0, 1)  # (3, 2, 4), not contiguous
    split = t.view(3, 2, 2, 2)  # splitting the last dim keeps the strides: still a view
    assert np.shares_memory(split.numpy(), x.numpy())
    np.testing.assert_array_equal(split.numpy(), t.numpy().reshape(3, 2, 2, 2))
    for shape in [(-1,), (3, 8), (6, 4)]:
        with pytest.raises(RuntimeError, match="reshape"):
            t.view(*shape)
        np.testing.assert_array_equal(t.reshape(*shape).numpy(), t.numpy().reshape(shape))
    with pytest.raises(RuntimeError, match="reshape"):
        x.transpose(1, 2).view_as(ember.zeros(24))
    assert x[:, :0].view(-1, 4).shape == (0, 4)  # nothing to copy: any shape is a view


@pytest.mark.parametrize(
    ("shape", "expect"),
    [((-1, 5, -1), (2, 5, 4)), ((3, -1, -1, -1), (3, 2, 1, 4)), ((-1, 1, 4), (2, 1, 4))],
)
def test_expand_keeps_every_minus_one_dim(shape, expect):
    a = np.arange(8.0).reshape(2, 1, 4)
    x = ember.tensor(a, requires_grad=True)
    y = x.expand(*shape)
    assert y.shape == expect
    np.testing.assert_array_equal(y.numpy(), np.broadcast_to(a, expect))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(a.shape, np.prod(expect) / a.size))


def test_expand_refuses_minus_one_in_a_new_dim():
    with pytest.raises(ValueError, match="expand"):
        ember.zeros(2, 3).expand(-1, 2, 3)


@pytest.mark.parametrize("args", [(5, 0), (0, 5, -1), (0.0, -1.0, 0.5)])
def test_arange_refuses_a_step_pointing_away_from_end(args):
    with pytest.raises(ValueError, match="inconsistent with step sign"):
        ember.arange(*args)


def test_arange_and_linspace_take_zero_dim_tensors():
    r = ember.arange(ember.tensor(4))
    assert r.dtype == np.int64
    np.testing.assert_array_equal(r.numpy(), np.arange(4))
    assert ember.arange(ember.tensor(1.5)).dtype == np.float32
    np.testing.assert_allclose(ember.linspace(ember.tensor(0.0), 1, 3).numpy(), [0, 0.5, 1])
    assert ember.arange(3, 3).shape == (0,)  # empty is fine whichever the step


@pytest.mark.parametrize(
    ("args", "kw", "expect"),
    [((0, 2, 3), {}, [1.0, 10.0, 100.0]), ((0, 3, 4), {"base": 2}, [1.0, 2.0, 4.0, 8.0]),
     ((1, 1, 1), {}, [10.0]), ((0, 1, 0), {}, [])],
)  # fmt: skip
def test_logspace(args, kw, expect):
    out = ember.logspace(*args, **kw)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.numpy(), expect, rtol=1e-6)
    assert ember.logspace(*args, dtype=np.float64, **kw).dtype == np.float64
    with pytest.raises(ValueError, match="steps"):
        ember.logspace(0, 1, -1)


def test_tensor_of_tensors_keeps_their_dtype():
    a, b = ember.tensor(np.array(1.0)), ember.tensor(np.array(2.0))  # float64
    out = ember.tensor([a, b])
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out.numpy(), [1.0, 2.0])
    assert ember.tensor([ember.tensor(1), ember.tensor(2)]).dtype == np.int64
    assert ember.tensor([a, 3]).dtype == np.float64  # a float64 tensor keeps its dtype, as torch


def test_tensor_constructor_legacy_sizes():
    w = ember.Tensor(3, 4)
    assert w.shape == (3, 4) and w.dtype == np.float32
    assert ember.Tensor(5).shape == (5,)
    assert ember.Tensor().shape == (0,)
    assert ember.Tensor([1, 2]).dtype == np.float32  # data still works, positionally too
    t = ember.Tensor(np.array([1.0, 2.0]), True)
    assert t.requires_grad and t.dtype == np.float64
    with pytest.raises(ValueError, match="negative"):
        ember.Tensor(2, -1)


@pytest.mark.parametrize("name", ["sum", "prod", "nansum", "cumsum", "cumprod"])
@pytest.mark.parametrize("src", [np.int32, np.uint8, np.bool_, np.float32])
@pytest.mark.parametrize("dtype", [None, np.int32, np.int16, np.float64])
def test_integer_totals_are_int64_or_the_requested_dtype(name, src, dtype):
    a = (np.arange(1, 7).reshape(2, 3) % 4).astype(src)
    kw = {"dim": 1} if name.startswith("cum") else {}
    out = getattr(ember.tensor(a), name)(**kw, **({} if dtype is None else {"dtype": dtype}))
    want = dtype or (np.int64 if np.dtype(src).kind in "biu" else src)
    assert out.dtype == want
    ref = getattr(np, name)(a.astype(np.float64), **({"axis": 1} if kw else {}))
    np.testing.assert_allclose(out.numpy(), ref.astype(want))


def test_int32_total_wraps_like_torch_when_asked_for_int32():
    x = ember.tensor(np.full(3, 2**30, np.int32))
    assert x.sum().item() == 3 * 2**30  # int64 by default: no overflow
    assert x.sum(dtype=np.int32).item() == 3 * 2**30 - 2**32  # int32 accumulation wraps


@pytest.mark.parametrize("name", ["argmax", "argmin"])
def test_argmax_keepdim_without_dim_keeps_every_dim(name):
    a = np.array([[1.0, 5.0, 5.0], [0.0, 7.0, 7.0]])
    out = getattr(ember.tensor(a), name)(keepdim=True)
    assert out.shape == (1, 1)
    assert out.item() == getattr(np, name)(a)  # the first of tied extremes, as torch
