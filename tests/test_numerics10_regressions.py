"""Regressions found by the tenth numerics sweep against PyTorch (special values, float32
accuracy on big inputs, integer dtypes): each row compares with an independent NumPy / float64
reference, and with torch when it is installed."""

import numpy as np
import pytest

import ember

nan, inf = float("nan"), float("inf")
RNG = np.random.default_rng(10)


# ---- searchsorted / bucketize of a sequence holding NaN ------------------------------------------


def _torch_bound(seq, v, right):
    """torch's binary search (aten's cus_lower_bound / cus_upper_bound), one value at a time:
    step right while !(mid >= v) (upper: !(mid > v)), so a NaN met sends the search right."""
    lo, hi = 0, len(seq)
    while lo < hi:
        mid = (lo + hi) // 2
        if not (seq[mid] > v if right else seq[mid] >= v):
            lo = mid + 1
        else:
            hi = mid
    return lo


SEARCH = [  # (sorted sequence (NaN last, where torch.sort puts them), values)
    ([-inf, -1.0, 0.0, 1.0, inf, nan], [nan, inf, -inf, 0.5, -0.0, 1.0]),
    ([0.0, 1.0, nan, nan], [inf, 1.0, 2.0, nan, -1.0]),
    ([nan], [0.0, nan]),
    ([1.0, 2.0, 3.0, nan, nan, nan, nan], [2.0, 3.0, 4.0, 100.0]),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("right", [False, True])
@pytest.mark.parametrize("seq,vals", SEARCH)
def test_searchsorted_nan_sequence_follows_torchs_binary_search(seq, vals, right, dtype):
    # NumPy orders NaN above everything: searchsorted([0, 1, nan, nan], inf) was 2, torch's 4
    s, v = np.array(seq, dtype), np.array(vals, dtype)
    want = np.array([_torch_bound(s, x, right) for x in v])
    got = ember.searchsorted(ember.tensor(s), ember.tensor(v), right=right)
    assert got.dtype == ember.int64
    np.testing.assert_array_equal(got.numpy(), want)
    b = ember.bucketize(ember.tensor(v), ember.tensor(s), right=right, out_int32=True)
    assert b.dtype == ember.int32
    np.testing.assert_array_equal(b.numpy(), want)


def test_searchsorted_nan_sequence_rows_sorter_and_torch():
    seq = np.array([[0.0, 1.0, nan, 2.0], [nan, -1.0, 3.0, nan]])
    sorter = np.argsort(seq, axis=1, kind="stable")  # NaN last, as torch.sort
    vals = np.array([[inf, 1.0, nan], [3.0, -2.0, inf]])
    srt = np.take_along_axis(seq, sorter, 1)
    for right in (False, True):
        want = np.array([[_torch_bound(r, x, right) for x in vr] for r, vr in zip(srt, vals)])
        got = ember.searchsorted(
            ember.tensor(seq), ember.tensor(vals), right=right, sorter=ember.tensor(sorter)
        )
        np.testing.assert_array_equal(got.numpy(), want)
        np.testing.assert_array_equal(
            ember.searchsorted(ember.tensor(srt), ember.tensor(vals), right=right).numpy(), want
        )
    torch = pytest.importorskip("torch")
    for right in (False, True):
        np.testing.assert_array_equal(
            ember.searchsorted(ember.tensor(srt), ember.tensor(vals), right=right).numpy(),
            torch.searchsorted(torch.from_numpy(srt), torch.from_numpy(vals), right=right).numpy(),
        )


# ---- cross_entropy / nll_loss: a certain prediction's loss is -0.0 ---------------------------


CE = [  # (logits, target): rows whose softmax saturates at the target
    ([[100.0, 0.0]], [0]),
    ([[2.0, -inf, -inf], [-inf, 0.0, 1.0]], [0, 1]),
    ([[5.0, -200.0, -300.0]] * 40, [0] * 40),  # (the small-C blocked path)
    (np.pad(np.array([[300.0]]), ((0, 0), (0, 39)), constant_values=-inf).tolist(), [0]),  # C > 32
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("x,t", CE)
def test_cross_entropy_none_is_minus_log_prob_with_its_sign(x, t, dtype):
    # the fused kernel computed (m - x_t) + lse: +0.0 where torch's -(x_t - lse) is -0.0
    x, t = np.array(x, dtype), np.array(t)
    m = x.max(1, keepdims=True)
    logp = (x - m) - np.log(np.exp(x - m).sum(1, keepdims=True))
    want = -logp[np.arange(len(t)), t]
    got = ember.nn.functional.cross_entropy(ember.tensor(x), ember.tensor(t), reduction="none")
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-6)
    np.testing.assert_array_equal(np.signbit(got.numpy()), np.signbit(want))
    # 3-d input: the (N, C, S) lanes path
    x3 = np.ascontiguousarray(x.T[None])  # (1, C, N)
    got3 = ember.nn.functional.cross_entropy(
        ember.tensor(x3), ember.tensor(t[None]), reduction="none"
    )
    np.testing.assert_array_equal(np.signbit(got3.numpy()[0]), np.signbit(want))
    nll = ember.nn.functional.nll_loss(
        ember.tensor(logp.astype(dtype)), ember.tensor(t), reduction="none"
    )
    np.testing.assert_array_equal(np.signbit(nll.numpy()), np.signbit(want))


def test_cross_entropy_signed_zero_matches_torch():
    torch = pytest.importorskip("torch")
    x = np.array([[100.0, 0.0], [0.0, 1.0], [3.0, -inf]], np.float32)
    t = np.array([0, 0, 0])
    for ls in (0.0, 0.1):
        got = ember.nn.functional.cross_entropy(
            ember.tensor(x), ember.tensor(t), reduction="none", label_smoothing=ls
        ).numpy()
        want = torch.nn.functional.cross_entropy(
            torch.from_numpy(x), torch.from_numpy(t), reduction="none", label_smoothing=ls
        ).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-6)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


# ---- float32 accuracy on big inputs -----------------------------------------------------------


def _rel(got, truth):
    return float(np.max(np.abs(np.asarray(got, np.float64) - truth) / np.abs(truth)))


def _lse64(x, axis):
    m = x.max(axis, keepdims=True)
    return (np.log(np.exp(x - m).sum(axis, keepdims=True)) + m).squeeze(axis)


ACCURACY = [
    # (name, float32 input, ember op, float64 truth, bound). The bounds sit well below what the
    # old code reached (running float32 sums in 16 lanes / row after row) and near torch's.
    (
        "logsumexp over 2^20 values",
        lambda: (RNG.random(2**20) * 50).astype(np.float32),
        lambda x: ember.logsumexp(ember.tensor(x), 0),
        lambda x: _lse64(x, 0),
        5e-8,  # was 3.7e-7; torch 1e-9
    ),
    (
        "logsumexp down 2^18-row columns",
        lambda: (RNG.random((2**18, 4)) * 50).astype(np.float32),
        lambda x: ember.logsumexp(ember.tensor(x), 0),
        lambda x: _lse64(x, 0),
        1e-7,  # was 1.5e-6
    ),
    (
        "sum of a transposed view",
        lambda: (1e4 + RNG.standard_normal((2000, 1000))).astype(np.float32).T,
        lambda x: ember.tensor(x).sum(1),
        lambda x: x.sum(1),
        4e-7,  # was 2.3e-6 (NumPy's strided reduction adds row after row); torch 2e-7
    ),
    (
        "mean of a permuted view",
        lambda: (1e4 + RNG.standard_normal((50, 40, 1000))).astype(np.float32).transpose(2, 0, 1),
        lambda x: ember.mean(ember.tensor(x), (1, 2)),
        lambda x: x.mean((1, 2)),
        4e-7,
    ),
]


@pytest.mark.parametrize("name,make,op,truth,bound", ACCURACY, ids=[a[0] for a in ACCURACY])
def test_float32_accuracy_on_big_inputs(name, make, op, truth, bound):
    x = make()
    got = op(x)
    assert got.dtype == ember.float32
    assert _rel(got.numpy(), truth(x.astype(np.float64))) < bound


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("perm", [(1, 0, 2), (2, 1, 0), (0, 2, 1), (2, 0, 1)])
def test_sum_of_permuted_views_shapes_and_values(perm, keepdim):
    x = RNG.standard_normal((8, 16, 24)).astype(np.float32).transpose(perm)
    for dim in [0, 1, 2, (0, 1), (1, 2), (0, 2), (0, 1, 2)]:
        got = ember.tensor(x).sum(dim, keepdim=keepdim).numpy()
        want = x.astype(np.float64).sum(dim, keepdims=keepdim)
        assert got.shape == want.shape and got.dtype == np.float32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_logsumexp_long_rows_keep_special_values():
    x = np.zeros((3, 5000), np.float32)
    x[0] = -inf
    x[1, 4321] = inf
    x[2, 17] = nan
    got = ember.logsumexp(ember.tensor(x), 1).numpy()
    assert got[0] == -inf and got[1] == inf and np.isnan(got[2])
    got0 = ember.logsumexp(ember.tensor(np.ascontiguousarray(x.T)), 0).numpy()
    np.testing.assert_array_equal(got0, got)


# ---- Python int values written into integer tensors (torch's c10::overflows rule) -------------

INT_WRITES = [  # (dtype, value, expected stored value or None when torch refuses it)
    (np.uint8, -1, 255),
    (np.uint8, -255, 1),
    (np.uint8, -128, 128),
    (np.uint8, -256, None),
    (np.uint8, 256, None),
    (np.int8, 127, 127),
    (np.int8, 200, None),  # was wrapped to -56
    (np.int8, 255, None),
    (np.int8, -129, None),
    (np.int32, 2**31, None),
    (np.int64, -(2**63), -(2**63)),
]


def _writes(lib, dtype, value):
    dt = getattr(lib, np.dtype(dtype).name)

    def setitem():
        t = lib.zeros(3, dtype=dt)
        t[0] = value
        return t[:1]

    return {
        "setitem": setitem,
        "fill_": lambda: lib.zeros(1, dtype=dt).fill_(value),
        "full": lambda: lib.full((1,), value, dtype=dt),
        "clamp": lambda: lib.full((1,), 0, dtype=dt).clamp(min=value),
    }


@pytest.mark.parametrize("dtype,value,stored", INT_WRITES)
def test_int_scalar_writes_wrap_or_refuse_as_torch(dtype, value, stored):
    for name, write in _writes(ember, dtype, value).items():
        if stored is None:
            with pytest.raises((RuntimeError, ValueError, OverflowError)):
                write()
            continue
        got = write()
        assert got.dtype == np.dtype(dtype), name
        want = max(0, stored) if name == "clamp" else stored  # (clamps a 0)
        assert got.numpy()[0] == want, name


@pytest.mark.parametrize("dtype,value,stored", INT_WRITES)
def test_int_scalar_writes_match_torch(dtype, value, stored):
    torch = pytest.importorskip("torch")
    refs = _writes(torch, dtype, value)
    for name, write in _writes(ember, dtype, value).items():
        try:
            want = refs[name]().numpy()
        except RuntimeError:
            with pytest.raises((RuntimeError, ValueError, OverflowError)):
                write()
            continue
        np.testing.assert_array_equal(write().numpy(), want)


# ---- floating-only ops refuse integer and bool operands, as torch -------------------------------

FLOAT_ONLY = [  # (op, extra args); torch raises NotImplementedError ("not implemented for 'Char'")
    ("logaddexp", ()),
    ("logaddexp2", ()),
    ("hypot", ()),
    ("nextafter", ()),  # (it returned an int8 tensor)
    ("lerp", (0.5,)),
]
INT_PAIRS = [
    (np.array([1, 2], np.int8), np.array([2, 3], np.int8)),
    (np.array([1, 2], np.int64), np.array([2, 3], np.int32)),
    (np.array([True, False]), np.array([False, False])),
]


@pytest.mark.parametrize("op,extra", FLOAT_ONLY)
@pytest.mark.parametrize("a,b", INT_PAIRS)
def test_float_only_ops_refuse_integer_operands(op, extra, a, b):
    with pytest.raises(TypeError, match=op):
        getattr(ember, op)(ember.tensor(a), ember.tensor(b), *extra)
    # a floating operand makes the pair floating: computed, as in torch
    if op != "lerp":  # (torch's lerp wants one dtype)
        got = getattr(ember, op)(ember.tensor(a), ember.tensor(b.astype(np.float32)), *extra)
        assert got.dtype == ember.float32
        f = {
            "logaddexp": np.logaddexp,
            "logaddexp2": np.logaddexp2,
            "hypot": np.hypot,
            "nextafter": np.nextafter,
        }[op]
        wide = np.float64 if op.startswith("logaddexp") else np.float32  # (rounded once, as ember)
        want = f(a.astype(wide), b.astype(wide)).astype(np.float32)
        np.testing.assert_array_equal(got.numpy(), want)


def test_trace_refuses_bool_and_sums_integers_to_int64():
    with pytest.raises(TypeError, match="bool"):
        ember.trace(ember.tensor(np.eye(3, dtype=bool)))
    got = ember.trace(ember.tensor(np.full((3, 3), 200, np.uint8)))
    assert got.dtype == ember.int64 and got.item() == 600


# ---- comparisons take torch's result dtype (0-d tensors, NumPy scalars) ---------------------

COMPARE = [  # (tensor, other (array: a 0-d tensor; np.generic: a NumPy scalar))
    (np.array([0.1, 0.2], np.float32), np.array(0.1)),  # float64 0-d: compared in float32
    (np.array([0.1, 0.2], np.float32), np.float64(0.1)),  # a NumPy scalar is a number
    (np.array([1, 100, -24], np.int8), np.array(1000, np.int16)),  # 1000 -> int8 -24
    (np.array([1, 100, 0], np.int8), np.array(2**40)),  # 2**40 -> int8 0
    (np.array([1, 200, 44], np.uint8), np.int64(300)),  # 300 -> uint8 44
    (np.array([3.0, 0.5], np.float64), np.array(0.5, np.float32)),  # (already float64)
]


def _cast_like_torch(x, other):
    """other as torch casts it to x's dtype: a 0-d tensor or number of x's category."""
    return np.array(other).astype(x.dtype)


@pytest.mark.parametrize("x,other", COMPARE)
def test_comparisons_cast_zero_dim_and_numpy_scalars_to_the_result_dtype(x, other):
    o = _cast_like_torch(x, other)
    rhs = ember.tensor(other) if isinstance(other, np.ndarray) else other
    for name, f in [("eq", np.equal), ("lt", np.less), ("ge", np.greater_equal)]:
        got = getattr(ember, name)(ember.tensor(x), rhs)
        np.testing.assert_array_equal(got.numpy(), f(x, o), err_msg=name)
        if not isinstance(other, np.ndarray):  # a number first: torch wants a Tensor there,
            torch = pytest.importorskip("torch")  # design.md takes the 0-d tensor it makes
            want = getattr(torch, name)(torch.tensor(other), torch.from_numpy(x))
            got = getattr(ember, name)(rhs, ember.tensor(x))
            np.testing.assert_array_equal(got.numpy(), want.numpy(), err_msg=name)
            continue
        got = getattr(ember, name)(rhs, ember.tensor(x))  # the 0-d tensor first
        np.testing.assert_array_equal(got.numpy(), f(o, x), err_msg=name)
    np.testing.assert_array_equal((ember.tensor(x) == rhs).numpy(), x == o)


def test_comparisons_match_torch():
    torch = pytest.importorskip("torch")
    for x, other in COMPARE:
        t_other = torch.from_numpy(other) if isinstance(other, np.ndarray) else other
        e_other = ember.tensor(other) if isinstance(other, np.ndarray) else other
        for name in ("eq", "lt", "ge", "ne"):
            np.testing.assert_array_equal(
                getattr(ember, name)(ember.tensor(x), e_other).numpy(),
                getattr(torch, name)(torch.from_numpy(x), t_other).numpy(),
            )


@pytest.mark.parametrize("op", ["remainder", "fmod"])
@pytest.mark.parametrize(
    "divisor", [np.array(2**40), np.array(256, np.int16), np.array(-512, np.int32)]
)
def test_int_zero_dim_divisor_cast_to_zero_raises(op, divisor):
    # a 0-d integer divisor takes the int8 dividend's dtype (torch's result type): 2**40, 256
    # and -512 become 0, and torch raises ZeroDivisionError; ember checked the uncast value
    # and returned NumPy's silent 0
    x = ember.tensor(np.array([1, 2], np.int8))
    with pytest.raises(RuntimeError, match="ZeroDivisionError"):
        getattr(ember, op)(x, ember.tensor(divisor))
    # a 0-d divisor that stays nonzero: computed with its cast value, as torch
    got = getattr(ember, op)(ember.tensor(np.array([7, -7], np.int8)), ember.tensor(divisor + 3))
    d = np.array(divisor + 3).astype(np.int8)
    want = np.fmod([7, -7], d) if op == "fmod" else np.remainder([7, -7], d)
    assert got.dtype == ember.int8
    np.testing.assert_array_equal(got.numpy(), want)
