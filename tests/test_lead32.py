"""The lead's mends after review25: rrelu_ in training computes with negative bounds, as
torch's; advanced indexing of a C-ordered tensor with C-contiguous indices lays out C order
without the stride rule's sort (torch's layout, checked over random keys); binary ops on views
with size-1 dims keep torch's strides after the cheaper test."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F


def test_rrelu_in_place_training_with_negative_bounds_computes():
    w = ember.tensor([1.0, -2.0], requires_grad=True)
    t = w * 1
    F.rrelu_(t, -0.5, -0.5, training=True)
    t.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, -0.5])
    w.grad = None
    t = w * 1
    F.rrelu_(t, -0.5, -0.3, training=False)  # (eval: one slope, negative, saved output only)
    with pytest.raises(RuntimeError, match="negative slope"):
        t.sum().backward()


def _random_key(rng, shape):
    key, d = [], 0
    while d < len(shape):
        kind = rng.integers(0, 6)
        if kind == 0:
            key.append(slice(None, None, int(rng.integers(1, 3))))
        elif kind == 1:
            key.append(None)
            continue
        elif kind == 2:
            key.append(rng.integers(0, shape[d], size=int(rng.integers(1, 4))))
        elif kind == 3:
            key.append(rng.integers(0, shape[d], size=(2, int(rng.integers(1, 3)))))
        elif kind == 4:
            key.append(rng.random(shape[d]) < 0.6)
        else:
            key.append(slice(1, None))
        d += 1
    if rng.random() < 0.3:
        key = key[: int(rng.integers(1, len(key) + 1))] + [Ellipsis]
    return tuple(key)


def test_advanced_index_of_c_ordered_tensor_has_torchs_strides():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(25)
    compared = 0
    for _ in range(400):
        shape = tuple(int(s) for s in rng.integers(2, 5, size=int(rng.integers(2, 4))))
        x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
        key = _random_key(rng, shape)
        if not any(type(k) is np.ndarray for k in key):
            continue
        try:
            tkey = tuple(torch.from_numpy(k) if type(k) is np.ndarray else k for k in key)
            want = torch.from_numpy(x)[tkey]
        except (IndexError, RuntimeError):
            continue
        got = ember.tensor(x)[tuple(ember.tensor(k) if type(k) is np.ndarray else k for k in key)]
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        if want.numel() > 1:
            assert got.stride() == want.stride(), (shape, key)
            compared += 1
    assert compared > 150


@pytest.mark.parametrize(
    "make",
    [
        lambda a: a[:, None],
        lambda a: a.reshape(3, 1, 4).transpose(0, 1),
        lambda a: a[:1],
        lambda a: a.reshape(3, 4)[:, :0],
    ],
)
def test_binary_of_size1_views_keeps_torchs_strides(make):
    torch = pytest.importorskip("torch")
    base = np.arange(12, dtype=np.float32)
    a, t = make(ember.tensor(base)), make(torch.from_numpy(base))
    for got, want in ((a + a, t + t), (a * a, t * t), (a - 1.0 * a, t - 1.0 * t)):
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        if want.numel() > 1:
            assert got.stride() == want.stride()


@pytest.mark.parametrize(
    "call",
    [
        lambda x: x.max(0, keepdim=1),
        lambda x: x.min(0, 1),
        lambda x: ember.max(x, 1, keepdim=np.int64(1)),
        lambda x: x.norm(dim=0, keepdim=1),
        lambda x: ember.norm(x, 2, 0, 1),
    ],
)
def test_max_min_norm_refuse_a_keepdim_that_is_not_bool(call):
    # (torch: "argument 'keepdim' must be bool, not int"; fix25 did the other reductions)
    with pytest.raises(TypeError, match="keepdim"):
        call(ember.randn((3, 4)))
    x = ember.randn((3, 4))
    assert x.max(0, True)[0].shape == (1, 4) and x.norm(dim=0, keepdim=True).shape == (1, 4)


@pytest.mark.parametrize(
    "call",
    [
        lambda: ember.zeros(3).narrow(0, 0, -1),
        lambda: ember.zeros((2, 3)).permute(0, 0),
        lambda: ember.zeros(6).split([2, 2]),
        lambda: ember.zeros(4).chunk(0),
        lambda: ember.gather(ember.zeros((2, 2)), 1, ember.zeros((3, 1), dtype=ember.int64)),
        lambda: ember.zeros(3).scatter_add(0, ember.zeros(2, dtype=ember.int64), ember.tensor(1.0)),
        lambda: ember.zeros((2, 3)).unflatten(1, (2, 2)),
        lambda: ember.zeros(3).repeat_interleave(ember.tensor([1, -1, 1])),
        lambda: ember.renorm(ember.ones((2, 2)), 2, 0, -1.0),
        lambda: ember.zeros((2, 3)).topk(4),
        lambda: ember.arange(0, 1, 0),
        lambda: ember.nn.utils.rnn.pad_sequence([]),
        lambda: F.cosine_embedding_loss(ember.ones((3, 2)), ember.ones((3, 2)), ember.ones(2)),
    ],
)
def test_bad_shapes_and_values_raise_both_valueerror_and_torchs_runtimeerror(call):
    # design.md: ValueError for a bad shape or value; torch: RuntimeError. One class is both.
    with pytest.raises(ValueError) as info:
        call()
    assert isinstance(info.value, RuntimeError)


def test_index_assignment_that_does_not_broadcast_is_both_classes():
    x = ember.zeros((2, 3))
    with pytest.raises(ValueError) as info:
        x[0] = ember.ones(4)
    assert isinstance(info.value, RuntimeError)


def _adafactor_complex_step():
    p = ember.tensor(np.ones((2, 2), np.complex64), requires_grad=True)
    p.grad = ember.tensor(np.ones((2, 2), np.complex64))
    ember.optim.Adafactor([p], lr=0.1).step()


@pytest.mark.parametrize(
    "call",
    [
        lambda: ember.nanmean(ember.tensor([1, 2])),
        lambda: ember.nanmean(ember.tensor([1.0, 2.0]), dtype=ember.int64),
        lambda: ember.where(ember.tensor([1.0, 0.0]), ember.ones(2), ember.zeros(2)),
        _adafactor_complex_step,
    ],
)
def test_dtype_refusals_raise_both_typeerror_and_torchs_runtimeerror(call):
    # design.md: TypeError for a bad dtype; torch: RuntimeError. One class is both.
    with pytest.raises(TypeError) as info:
        call()
    assert isinstance(info.value, RuntimeError)
