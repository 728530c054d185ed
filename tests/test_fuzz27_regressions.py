"""Regressions found by fuzz27's differential fuzz against torch 2.13 (Tensor methods, linalg,
losses, optimisers, LR schedulers and data utilities given hostile arguments, each in a forked
child): silent wrong numbers, refusals of a class torch's callers do not catch, and acceptance
differences."""

import numpy as np
import pytest
from conftest import refuses_alike as _both

import ember
from ember._errors import BadDtype, BadShapeOrValue
from ember.nn import functional as F
from ember.utils import data

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
NAN_MAT = [[float("nan"), 1.0], [1.0, 1.0]]


# ---- silent wrong numbers ----------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        lambda L, A: L.linalg.det(A),
        lambda L, A: A.det(),
        lambda L, A: L.logdet(A),
        lambda L, A: L.linalg.slogdet(A)[1],
        lambda L, A: L.linalg.det(L.stack([A, 2 * L.eye(2)])),
    ],
    ids=["det", "Tensor.det", "logdet", "slogdet", "batched"],
)
def test_det_of_a_matrix_holding_nan_is_nan(fn):
    # LAPACK's pivot search skipped the NaN column: det 0, log|det| -inf (torch: NaN)
    got = fn(ember, ember.tensor(NAN_MAT)).numpy()
    want = fn(torch, torch.tensor(NAN_MAT)).numpy()
    np.testing.assert_array_equal(got, want)
    assert np.isnan(got).any()


# ---- refusals of torch's class -----------------------------------------------------------

_LOSS_REFUSALS = [
    ("nll float target", lambda L: F_(L).nll_loss(L.tensor(X), L.tensor([0.0, 1, 2, 0])), BadDtype),
    (
        "ce int32 target",
        lambda L: F_(L).cross_entropy(L.tensor(X), L.tensor([0, 1, 2, 0], dtype=L.int32)),
        BadDtype,
    ),
    (
        "ce weight size",
        lambda L: F_(L).cross_entropy(L.tensor(X), L.tensor([0, 1, 2, 0]), weight=L.ones(2)),
        BadShapeOrValue,
    ),
    (
        "ce weight dtype",
        lambda L: F_(L).cross_entropy(
            L.tensor(X), L.tensor([0, 1, 2, 0]), weight=L.ones(3, dtype=L.float64)
        ),
        BadDtype,
    ),
    (
        "ce smoothing",
        lambda L: F_(L).cross_entropy(L.tensor(X), L.tensor([0, 1, 2, 0]), label_smoothing=1.5),
        BadShapeOrValue,
    ),
    (
        "ce prob ignore",
        lambda L: F_(L).cross_entropy(L.tensor(X), L.softmax(L.tensor(X), 1), ignore_index=1),
        BadShapeOrValue,
    ),
    (
        "ce 4d target",
        lambda L: F_(L).cross_entropy(L.zeros(2, 3, 4, 5), L.zeros(2, 5, 4, dtype=L.int64)),
        BadShapeOrValue,
    ),
    (
        "smooth_l1 int",
        lambda L: F_(L).smooth_l1_loss(L.ones(4, 3, dtype=L.int64), L.ones(4, 3, dtype=L.int64)),
        BadDtype,
    ),
    (
        "bce range",
        lambda L: F_(L).binary_cross_entropy(L.tensor([1.5, 0.5]), L.tensor([0.5, 0.5])),
        BadShapeOrValue,
    ),
    (
        "bce weight",
        lambda L: F_(L).binary_cross_entropy(
            L.full((4, 3), 0.5), L.full((4, 3), 0.5), weight=L.ones(2)
        ),
        BadShapeOrValue,
    ),
    (
        "multi_margin oob",
        lambda L: F_(L).multi_margin_loss(L.tensor(X), L.tensor([0, 3, 1, 2])),
        BadShapeOrValue,
    ),
    (
        "multilabel shape",
        lambda L: F_(L).multilabel_margin_loss(L.tensor(X), L.tensor([0, 1, 2, 0])),
        BadShapeOrValue,
    ),
    (
        "kl complex",
        lambda L: F_(L).kl_div(L.ones(2, dtype=L.complex64), L.ones(2, dtype=L.complex64)),
        BadDtype,
    ),
]


def F_(L):  # noqa: N802 (torch's and ember's nn.functional, as F)
    return L.nn.functional


@pytest.mark.parametrize("name, call, cls", _LOSS_REFUSALS, ids=[c[0] for c in _LOSS_REFUSALS])
def test_loss_refusals_are_runtime_errors(name, call, cls):
    # these raised plain ValueError / TypeError, which `except RuntimeError` (torch's) missed
    with pytest.raises(RuntimeError):
        call(torch)
    with pytest.raises(cls):
        call(ember)


def test_multi_margin_loss_takes_int64_targets_only():
    # int32 / uint8 / int16 class indices were accepted (torch: Long only)
    for dt in ("int32", "uint8", "int16"):

        def call(L, dt=dt):
            return L.nn.functional.multi_margin_loss(
                L.tensor(X), L.tensor([0, 2, 1, 2], dtype=getattr(L, dt))
            )

        _both(call, RuntimeError, BadDtype, "expected target dtype int64")
    got = F.multi_margin_loss(ember.tensor(X), ember.tensor([0, 2, 1, 2]))
    want = torch.nn.functional.multi_margin_loss(torch.tensor(X), torch.tensor([0, 2, 1, 2]))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_multi_margin_loss_module_refuses_a_2d_weight():
    with pytest.raises(ValueError):
        torch.nn.MultiMarginLoss(weight=torch.ones(3, 3))
    with pytest.raises(ValueError, match="1D tensor, got 2D"):
        ember.nn.MultiMarginLoss(weight=ember.ones(3, 3))


_LINALG_REFUSALS = [
    ("inv non-square", lambda L: L.linalg.inv(L.ones(2, 3)), BadShapeOrValue),
    ("inv int", lambda L: L.linalg.inv(L.eye(3, dtype=L.int64)), BadDtype),
    ("det vector", lambda L: L.linalg.det(L.ones(3)), BadShapeOrValue),
    ("eigh non-square", lambda L: L.linalg.eigh(L.ones(2, 3)), BadShapeOrValue),
    ("solve shapes", lambda L: L.linalg.solve(L.eye(3), L.ones(2, 3)), BadShapeOrValue),
    ("solve int", lambda L: L.linalg.solve(L.eye(3, dtype=L.int64), L.ones(3)), BadDtype),
    ("lstsq int", lambda L: L.linalg.lstsq(L.eye(3, dtype=L.int64), L.ones(3, 2)), BadDtype),
    ("matrix_norm ord", lambda L: L.linalg.matrix_norm(L.ones(2, 3), 3), BadShapeOrValue),
    ("matrix_norm 1-d", lambda L: L.linalg.matrix_norm(L.ones(3)), BadShapeOrValue),
    ("norm 3 dims", lambda L: L.linalg.norm(L.ones(2, 3), 2, (0, 1, 2)), BadShapeOrValue),
    ("cross length", lambda L: L.linalg.cross(L.ones(3, 2), L.ones(3, 2)), BadShapeOrValue),
    ("matrix_power non-square", lambda L: L.linalg.matrix_power(L.ones(2, 3), 2), BadShapeOrValue),
    (
        "vector_norm inf empty",
        lambda L: L.linalg.vector_norm(L.zeros(0, 3), float("inf"), 0),
        BadShapeOrValue,
    ),
]


@pytest.mark.parametrize("name, call, cls", _LINALG_REFUSALS, ids=[c[0] for c in _LINALG_REFUSALS])
def test_linalg_refusals_are_runtime_errors(name, call, cls):
    with pytest.raises((RuntimeError, IndexError)):
        call(torch)
    with pytest.raises(cls):
        call(ember)


# ---- data utilities ------------------------------------------------------------------------


def test_random_split_takes_0d_integer_tensor_lengths():
    parts = data.random_split(range(10), [ember.tensor(4), ember.tensor(6)])
    assert [len(p) for p in parts] == [4, 6]
    assert sorted(i for p in parts for i in p) == list(range(10))


def test_random_split_refuses_float_lengths_with_type_error():
    with pytest.raises(TypeError):
        torch.utils.data.random_split(range(10), [2.0, 8.0])
    with pytest.raises(TypeError, match="lengths must be"):
        data.random_split(range(10), [2.0, 8.0])
    with pytest.raises(ValueError, match="lengths must be"):  # (torch gives [10, 0]: named)
        data.random_split(range(10), [11, -1])


def test_subset_refuses_float_indices():
    # np.asarray(indices, int64) read 1.5 as 1: the item at index 1, silently
    ds = data.TensorDataset(ember.arange(10))
    with pytest.raises(IndexError):
        torch.utils.data.Subset(torch.utils.data.TensorDataset(torch.arange(10)), [1.5])[0]
    with pytest.raises(IndexError, match="indices must be integers"):
        data.Subset(ds, [1.5])
    assert data.Subset(ds, ember.tensor([3, 1]))[1][0].item() == 1
    assert len(data.Subset(ds, [])) == 0


@pytest.mark.parametrize("drop_last", [None, 1, "yes"])
def test_dataloader_drop_last_must_be_a_bool(drop_last):
    def call(L):
        return L.utils.data.DataLoader(L.utils.data.TensorDataset(L.arange(4)), drop_last=drop_last)

    _both(call, ValueError, ValueError, "drop_last should be a boolean")


# ---- crashes -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args", [(2**62,), (2**62, 1), ("tensor", 1)], ids=["flat", "dim", "per-entry"]
)
def test_repeat_interleave_refuses_an_overflowing_count(args):
    # np.repeat overflowed its output size: a segfault (torch: numel overflow RuntimeError)
    def call(L):
        x = L.arange(24, dtype=L.float32).reshape(2, 3, 4)
        a = (L.tensor([2**62, 2**62, 1]),) + args[1:] if args[0] == "tensor" else args
        return x.repeat_interleave(*a)

    with pytest.raises(RuntimeError):
        call(torch)
    with pytest.raises(BadShapeOrValue, match="overflow int64"):
        call(ember)
    with pytest.raises(BadShapeOrValue, match="overflows int64"):
        ember.repeat_interleave(ember.tensor([2**62, 2**62]))
    x = ember.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(
        x.repeat_interleave(ember.tensor([1, 0, 2]), 1).numpy(),
        torch.arange(6).reshape(2, 3).repeat_interleave(torch.tensor([1, 0, 2]), 1).numpy(),
    )
