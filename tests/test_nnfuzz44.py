"""Round-44 fuzz of nn.functional against torch: integer operands of poisson_nll_loss and
bilinear, bool fold, embedding_bag's lone last offset, circular pads wrapping more than once.
Each compared value for value, dtype for dtype, or exception family for exception family."""

import numpy as np
import pytest
from conftest import same_error

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---- poisson_nll_loss: integer input and target compute in the default float dtype --------


@pytest.mark.parametrize("kinds", [("i", "i"), ("f", "i"), ("i", "f"), ("u", "i")])
@pytest.mark.parametrize("log_input", [True, False])
@pytest.mark.parametrize("full", [False, True])
def test_poisson_nll_loss_integer_operands_as_torch(kinds, log_input, full):
    rng = np.random.default_rng(44)
    dts = {"i": np.int64, "f": np.float32, "u": np.uint8}
    x, t = (rng.integers(0, 5, (3, 4)).astype(dts[k]) for k in kinds)
    kw = dict(log_input=log_input, full=full, reduction="none")
    want = TF.poisson_nll_loss(torch.tensor(x), torch.tensor(t), **kw)
    got = F.poisson_nll_loss(ember.tensor(x), ember.tensor(t), **kw)
    assert got.dtype == ember.float32 and want.dtype == torch.float32
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-6)


# ---- bilinear: integer tensors give an integer result; mixed dtypes are refused ------------


@pytest.mark.parametrize("dt", [np.int64, np.int32, np.int8, np.uint8])
@pytest.mark.parametrize("bias", [False, True])
@pytest.mark.parametrize("lead", [(2,), (), (2, 3)])
def test_bilinear_integer_tensors_as_torch(dt, bias, lead):
    rng = np.random.default_rng(7)
    shapes = [lead + (3,), lead + (2,), (4, 3, 2), (4,)]
    arrs = [rng.integers(0, 9, s).astype(dt) for s in shapes[: 3 + bias]]
    want = TF.bilinear(*map(torch.tensor, arrs))
    got = F.bilinear(*map(ember.tensor, arrs))
    assert got.dtype == dt and got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())  # (int8 wraps as torch's)


@pytest.mark.parametrize("dts", [("i8", "i8", "f4"), ("f4", "f4", "i8"), ("i8", "i4", "i8")])
def test_bilinear_mixed_integer_dtypes_refused_as_torch(dts):
    arrs = [np.ones(s, dt) for s, dt in zip([(2, 3), (2, 2), (4, 3, 2)], dts)]
    same_error(
        lambda: F.bilinear(*map(ember.tensor, arrs)), lambda: TF.bilinear(*map(torch.tensor, arrs))
    )
    with pytest.raises(TypeError, match="same dtype"):
        F.bilinear(*map(ember.tensor, arrs))


def test_bilinear_integer_bad_shapes_refused():
    a, b, w = np.ones((2, 3), np.int64), np.ones((2, 2), np.int64), np.ones((4, 2, 2), np.int64)
    same_error(
        lambda: F.bilinear(*map(ember.tensor, (a, b, w))),
        lambda: TF.bilinear(*map(torch.tensor, (a, b, w))),
    )
    with pytest.raises(ValueError, match=r"\(4, 2, 2\)"):
        F.bilinear(*map(ember.tensor, (a, b, w)))


# ---- fold of a bool input: overlapping blocks or-ed, as torch ------------------------------


@pytest.mark.parametrize("seed", range(6))
def test_fold_bool_as_torch(seed):
    rng = np.random.default_rng(seed)
    k, s, d, p = int(rng.integers(1, 3)), int(rng.integers(1, 3)), 1, int(rng.integers(0, 2))
    out = tuple(int(v) for v in rng.integers(k, 6, 2))
    blocks = [(o + 2 * p - d * (k - 1) - 1) // s + 1 for o in out]
    c = int(rng.integers(1, 3))
    shape = (2, c * k * k, blocks[0] * blocks[1])
    x = rng.random(shape) < 0.3
    if seed % 2:
        x = x[0]  # unbatched
    kw = dict(output_size=out, kernel_size=k, dilation=d, padding=p, stride=s)
    want = TF.fold(torch.tensor(x), **kw)
    got = F.fold(ember.tensor(x), **kw)
    assert got.dtype == ember.bool
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_fold_integer_still_refused_as_torch():
    x = np.ones((1, 4, 4), np.int64)
    same_error(
        lambda: F.fold(ember.tensor(x), (3, 3), 2), lambda: TF.fold(torch.tensor(x), (3, 3), 2)
    )


# ---- embedding_bag: include_last_offset with a last offset short of the input's end ------
# The last offset ends the last bag (torch's documented contract; the indices past it are
# unused). torch 2.13 is inconsistent there: float64 and 'max' run the last bag to the input's
# end, float32 'mean' divides by the bags' full length, and offsets [0] alone can segfault; so
# these short cases are checked against NumPy, the full ones against torch.


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("off", [[0], [0, 2], [0, 0], [0, 2, 3], [0, 4], [0, 2, 4]])
def test_embedding_bag_include_last_offset_short_offsets(mode, off):
    w = np.random.default_rng(3).standard_normal((10, 3))
    idx = np.array([1, 2, 3, 4])
    kw = dict(mode=mode, include_last_offset=True)
    got = F.embedding_bag(ember.tensor(idx), ember.tensor(w), ember.tensor(np.array(off)), **kw)
    assert got.shape == (len(off) - 1, 3) and got.dtype == ember.float64
    if off[-1] == len(idx):
        want = TF.embedding_bag(torch.tensor(idx), torch.tensor(w), torch.tensor(off), **kw)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)
        return
    reduce = {"sum": np.sum, "mean": np.mean, "max": np.max}[mode]
    want = [reduce(w[idx[a:b]], 0) if b > a else np.zeros(3) for a, b in zip(off, off[1:])]
    np.testing.assert_allclose(got.numpy(), np.reshape(want, (-1, 3)), rtol=1e-12)


@pytest.mark.parametrize("off", [[0, 5], [0, 2, 5]])
def test_embedding_bag_include_last_offset_past_the_end_refused(off):
    w, idx = np.ones((10, 3)), np.array([1, 2, 3, 4])
    kw = dict(include_last_offset=True)
    same_error(
        lambda: F.embedding_bag(
            ember.tensor(idx), ember.tensor(w), ember.tensor(np.array(off)), **kw
        ),
        lambda: TF.embedding_bag(torch.tensor(idx), torch.tensor(w), torch.tensor(off), **kw),
    )


# ---- circular pad: at most one wrap, as torch -------------------------------------------


@pytest.mark.parametrize("pad", [(4, 0), (0, 4), (6, 1), (-1, 4), (4, -1), (7, 7), (3, 3), (0, 3)])
def test_circular_pad_wrapping_more_than_once(pad):
    x = np.arange(6.0).reshape(2, 1, 3)
    if max(pad) > 3:
        same_error(
            lambda: F.pad(ember.tensor(x), pad, mode="circular"),
            lambda: TF.pad(torch.tensor(x), pad, mode="circular"),
        )
        with pytest.raises(ValueError, match="more than once"):
            F.pad(ember.tensor(x), pad, mode="circular")
        return
    want = TF.pad(torch.tensor(x), pad, mode="circular").numpy()
    np.testing.assert_array_equal(F.pad(ember.tensor(x), pad, mode="circular").numpy(), want)


# ---- where torch 2.13 is wrong, ember keeps the consistent answer ------------------------


def test_interpolate_nearest_scale_factor_gradient_is_the_forward_adjoint():
    # torch's backward takes the scale from the sizes (4 -> 8: 2 each) while its forward used
    # 1 / 2.148 (source taps 0 0 0 1 1 2 2 3): ember's gradient counts the taps it read
    x = ember.tensor(np.arange(4.0).reshape(1, 1, 4), requires_grad=True)
    y = F.interpolate(x, scale_factor=2.148, mode="nearest")
    want = TF.interpolate(torch.arange(4.0).reshape(1, 1, 4), scale_factor=2.148, mode="nearest")
    np.testing.assert_array_equal(y.numpy(), want.numpy())
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[[3.0, 2.0, 2.0, 1.0]]])


def test_interpolate_antialias_scale_factor_gradcheck():
    # torch 2.13's own gradcheck fails on this call; ember's gradient is the true one
    x = ember.tensor(np.random.default_rng(0).standard_normal((1, 1, 5, 2)), requires_grad=True)
    kw = dict(mode="bilinear", scale_factor=1.458, align_corners=False, antialias=True)
    assert ember.autograd.gradcheck(lambda a: F.interpolate(a, **kw), [x])


def test_circular_pad_wrapping_past_a_crop_wraps_the_cropped_dim():
    # pad 5 on the left of a dim of 5 cropped to 4 on the right: torch 2.13 passes its
    # check (5 <= 5) and leaves a stale element; ember wraps what the crop leaves
    x = np.arange(10.0).reshape(2, 5)
    got = F.pad(ember.tensor(x), (5, -1), mode="circular").numpy()
    np.testing.assert_array_equal(got, x[:, :4][:, np.arange(-5, 4) % 4])


def test_pack_padded_sequence_length_past_the_end_refused():
    # torch 2.13 packs it, reading past the input; ember refuses
    with pytest.raises(ValueError, match="exceeds the sequence length 5"):
        ember.nn.utils.rnn.pack_padded_sequence(ember.zeros(5, 3, 2), [6, 2, 1])
