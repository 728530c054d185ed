"""Regressions from a differential fuzz (against torch 2.13) of the fast paths landed in round 21:
0-d results of the straight binary paths, and einsum's repeated subscripts."""

import operator

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


_CASES = [(op, "tensor") for op in (ember.pow, ember.float_power, ember.atan2)] + [
    (op, other)
    for op in (operator.pow, operator.lt, operator.ge, operator.eq, operator.ne)
    for other in ("tensor", "float")
]


@pytest.mark.parametrize("op, other", _CASES)
def test_zero_dim_fast_path_results_are_writable_arrays(op, other):
    # two 0-d arrays through a ufunc give a NumPy scalar: the straight paths wrapped it as the
    # tensor's data, so an in-place op on the result raised "in-place update of a read-only
    # tensor"; torch's 0-d results are ordinary tensors
    a, b = ember.tensor(2.0), (ember.tensor(3.0) if other == "tensor" else 3.0)
    ta, tb = torch.tensor(2.0), (torch.tensor(3.0) if other == "tensor" else 3.0)
    tname = {ember.pow: "pow", ember.float_power: "float_power", ember.atan2: "atan2"}
    r = op(a, b)
    t = getattr(torch, tname[op])(ta, tb) if op in tname else op(ta, tb)
    assert type(r.data) is np.ndarray and r.data.flags.writeable
    assert r.shape == () and np.asarray(r.data).dtype == t.numpy().dtype
    if r.dtype == ember.bool:
        r.logical_not_()
        t.logical_not_()
    else:
        r.mul_(2)
        t.mul_(2)
    np.testing.assert_allclose(r.numpy(), t.numpy(), rtol=1e-6)


def test_zero_dim_compare_under_float64_default():
    ember.set_default_dtype(ember.float64)
    try:
        r = ember.tensor(0.5) < ember.tensor(1.5)
    finally:
        ember.set_default_dtype(ember.float32)
    r[...] = False  # a writable 0-d bool array
    assert r.item() is False


@pytest.mark.parametrize(
    "eq, sa, sb",
    [
        ("e,dad", (3,), (3, 0, 1)),  # the size-1 repeat torch refuses too
        ("i,jj->ij", (2,), (2, 3)),
        ("ii,ij->j", (3, 2), (3, 4)),
    ],
)
def test_einsum_repeated_subscript_sizes_differ(eq, sa, sb):
    # a letter repeated within one operand over dims of different sizes: torch raises;
    # ember took NumPy's diagonal over the shorter one and returned values
    a, b = np.ones(sa, np.float32), np.ones(sb, np.float32)
    with pytest.raises(RuntimeError, match="repeated for operand 1|repeated for operand 0"):
        torch.einsum(eq, torch.tensor(a), torch.tensor(b))
    with pytest.raises(ValueError, match=r"subscript \w is repeated for operand \d.*sizes"):
        ember.einsum(eq, ember.tensor(a), ember.tensor(b))


def test_einsum_one_operand_repeated_subscript_sizes_differ():
    with pytest.raises(ValueError, match=r"subscript i is repeated for operand 0.*3 != 1"):
        ember.einsum("ii->i", ember.ones(3, 1))
    x = np.arange(9.0).reshape(3, 3)
    np.testing.assert_array_equal(
        ember.einsum("ii->i", ember.tensor(x)).numpy(), torch.einsum("ii->i", torch.tensor(x))
    )


@pytest.mark.parametrize(
    "call",
    ["zeros(True)", "ones((True,))", "full((True,), 0.5)", "randn([True])", "empty(True)"],
)
def test_factory_refuses_a_bool_first_size(call):
    # torch's size parser refuses a bool in the first position (ember's operator.index took
    # it as 1); torch.zeros(2, True) is (2, 1) in both
    with pytest.raises(TypeError, match="tuple of ints"):
        eval("torch." + call)
    with pytest.raises(TypeError, match="sizes must be ints"):
        eval("ember." + call)


def test_factory_takes_a_bool_later_size_as_torch():
    for call in ["zeros(2, True)", "ones([2, False])", "full((2, True), 0.5)"]:
        assert eval("ember." + call).shape == tuple(eval("torch." + call).shape)


@pytest.mark.parametrize("dtype", ["float32", "float16", "bfloat16"])
@pytest.mark.parametrize("value", [1e39, -1e300, 70000.0, 70000])
def test_fill_beyond_the_dtype_range_is_refused(dtype, value):
    # NumPy cast such a fill to inf (with a RuntimeWarning); torch refuses a finite value
    # beyond the range of a float32/float16/bfloat16 fill (inf and NaN fill as they are)
    tdt, edt = getattr(torch, dtype), getattr(ember, dtype)
    tm, em = torch.tensor([True, False]), ember.tensor([True, False])
    outcomes = []
    for fill in (
        lambda: torch.zeros(2, dtype=tdt).masked_fill(tm, value),
        lambda: torch.zeros(2, dtype=tdt).fill_(value),
    ):
        try:
            outcomes.append(fill().float().numpy())
        except RuntimeError as e:
            assert "without overflow" in str(e)
            outcomes.append(None)
    for fill, want in zip(
        (
            lambda: ember.zeros(2, dtype=edt).masked_fill(em, value),
            lambda: ember.zeros(2, dtype=edt).fill_(value),
        ),
        outcomes,
    ):
        if want is None:
            with pytest.raises(RuntimeError, match="without overflow"):
                fill()
        else:
            np.testing.assert_array_equal(fill().float().numpy(), want)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan"), 3.4e38])
def test_fill_of_inf_nan_and_in_range_values_still_fills(value):
    m = ember.tensor([True, False])
    got = ember.zeros(2).masked_fill(m, value).numpy()
    want = torch.zeros(2).masked_fill(torch.tensor([True, False]), value).numpy()
    np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(ember.full((2,), value).numpy(), torch.full((2,), value))


def test_full_float32_beyond_range_is_refused():
    for call in ("full((2,), 1e39)", "full((2,), -1e300, dtype={m}.float32)"):
        with pytest.raises(RuntimeError, match="without overflow"):
            eval("torch." + call.format(m="torch"))
        with pytest.raises(RuntimeError, match="without overflow"):
            eval("ember." + call.format(m="ember"))
    with pytest.raises(RuntimeError, match="without overflow"):
        ember.full_like(ember.zeros(2), 1e39)
    with pytest.raises(RuntimeError, match="without overflow"):
        ember.zeros(3).index_fill(0, ember.tensor([1]), 1e39)
    # float64 takes it; float16's full fills inf as torch's does
    assert ember.full((1,), 1e300, dtype=ember.float64).item() == 1e300
