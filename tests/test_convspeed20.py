"""convspeed20: Winograd F(2x2, 3x3) with few tiles and many channels (ResNet's last stage at small
batch) runs task by task over output-channel rows, each task transforming its own rows of the
weights: against torch and the NumPy references, the same bits at any thread count, gradcheck."""

import numpy as np
import pytest
from conftest import at_threads, check_weight_grad, winograd
from reference_conv import conv2d_backward_ref, conv2d_ref

import ember
from ember import _C
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=2e-4, atol=2e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}

# (N, C, O, H, W, padding): each has O * C >= (C + O) * tiles, the rule of the row-task path (for
# the forward and for dx, whose roles of C and O swap)
SHAPES = [
    (1, 40, 37, 5, 5, 1),  # partial MR panel, one tile panel of 9 (half width), cropped tiles
    (2, 70, 150, 7, 9, 1),  # two row tasks, the second partial; two tile panels, the last of 8
    (2, 300, 20, 6, 6, 1),  # depth in two kc blocks (float), one short task
    (1, 64, 48, 4, 7, (0, 2)),  # asymmetric padding (dx padded 2 and 0)
]


def _run(x, w, b, dy, pad):
    y = _C.conv2d_forward(x, w, b, (1, 1), pad, (1, 1), 1)
    dx = _C.conv2d_backward(dy, x, w, (1, 1), pad, (1, 1), 1, True, False, False)[0]
    return y, dx


def _case(shape, dtype, seed=0):
    n, c, o, h, w_, pad = shape
    pads = (pad, pad) if isinstance(pad, int) else pad
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w_)).astype(dtype)
    w = (rng.standard_normal((o, c, 3, 3)) / np.sqrt(9 * c)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    oh, ow = h + 2 * pads[0] - 2, w_ + 2 * pads[1] - 2
    dy = rng.standard_normal((n, o, oh, ow)).astype(dtype)
    return x, w, b, dy, pads


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_winograd_rows_match_reference_and_threads(dtype, shape):
    x, w, b, dy, pads = _case(shape, dtype)
    with winograd("always"):
        with at_threads(1):
            ref = _run(x, w, b, dy, pads)
        for nt in (2, 3):
            with at_threads(nt):
                got = _run(x, w, b, dy, pads)
            np.testing.assert_array_equal(got[0], ref[0])
            np.testing.assert_array_equal(got[1], ref[1])
    x64, w64, b64, dy64 = (a.astype(np.float64) for a in (x, w, b, dy))
    np.testing.assert_allclose(ref[0], conv2d_ref(x64, w64, b64, padding=pads), **TOL[dtype])
    dx_ref = conv2d_backward_ref(dy64, x64, w64, padding=pads)[0]
    np.testing.assert_allclose(ref[1], dx_ref, **TOL[dtype])


@pytest.mark.parametrize("shape", SHAPES[:2])
def test_winograd_rows_match_torch(shape):
    torch = pytest.importorskip("torch")
    x, w, b, dy, pads = _case(shape, np.float32, seed=1)
    with winograd("always"):
        ex, ew = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
        y = F.conv2d(ex, ew, ember.tensor(b), padding=pads)
        y.backward(ember.tensor(dy))
    tx, tw = torch.from_numpy(x).requires_grad_(), torch.from_numpy(w).requires_grad_()
    ty = torch.nn.functional.conv2d(tx, tw, torch.from_numpy(b), padding=pads)
    ty.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL[np.float32])
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **TOL[np.float32])
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), **TOL[np.float32])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_resnet_last_stage_batch1_matches_torch_and_threads(dtype):
    # the shape the path is for, under the default rule: 512 -> 512 at 7x7, one image
    torch = pytest.importorskip("torch")
    x, w, b, dy, pads = _case((1, 512, 512, 7, 7, 1), dtype, seed=2)
    with at_threads(1):
        ref = _run(x, w, b, dy, pads)
    with at_threads(2):
        got = _run(x, w, b, dy, pads)
    np.testing.assert_array_equal(got[0], ref[0])
    np.testing.assert_array_equal(got[1], ref[1])
    tx, tw, tdy = (torch.from_numpy(a) for a in (x, w, dy))
    ty = torch.nn.functional.conv2d(tx, tw, torch.from_numpy(b), padding=pads)
    tdx = torch.ops.aten.convolution_backward(
        tdy, tx, tw, None, [1, 1], list(pads), [1, 1], False, [0, 0], 1, [True, False, False]
    )[0]
    np.testing.assert_allclose(ref[0], ty.numpy(), **TOL[dtype])
    np.testing.assert_allclose(ref[1], tdx.numpy(), **TOL[dtype])


def test_winograd_rows_gradcheck():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((1, 20, 3, 4)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((18, 20, 3, 3)) / 10, requires_grad=True)
    b = ember.tensor(rng.standard_normal(18), requires_grad=True)
    with winograd("always"):
        assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), (x, w, b))


def test_winograd_rows_inf_weight_falls_back_as_torch():
    # a non-finite weight keeps the transforms away (inf - inf): torch's infinities, no NaN
    torch = pytest.importorskip("torch")
    x, w, b, dy, pads = _case(SHAPES[0], np.float32, seed=4)
    w[3, 5, 1, 1] = np.inf
    with winograd("always"):
        y = _C.conv2d_forward(x, w, b, (1, 1), pads, (1, 1), 1)
    ty = torch.nn.functional.conv2d(
        torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), padding=pads
    )
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ty.numpy()))
    finite = np.isfinite(ty.numpy())
    np.testing.assert_allclose(y[finite], ty.numpy()[finite], **TOL[np.float32])


# F.pad's edge modes build their backward's border maps only when a backward runs: values and
# gradients (a first and a recorded second one) against torch, odd sizes, 1 and 2 threads
@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("pads", [(2, 1, 0, 3), (1, 1), (3, 0, 1, 2, 1, 1)])
def test_edge_pad_matches_torch(mode, pads):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    shape = (2, 3, 5, 7, 6)[-(len(pads) // 2 + 2) :]
    x = rng.standard_normal(shape)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.functional.pad(tx, pads, mode=mode)
    dy = rng.standard_normal(tuple(ty.shape))
    (tg,) = torch.autograd.grad(ty, tx, torch.from_numpy(dy), create_graph=True)
    (tgg,) = torch.autograd.grad((tg * tx).sum(), tx)
    for nt in (1, 2):
        with at_threads(nt):
            ex = ember.tensor(x, requires_grad=True)
            y = F.pad(ex, pads, mode=mode)
            np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
            (g,) = ember.autograd.grad(y, ex, ember.tensor(dy), create_graph=True)
            np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
            (gg,) = ember.autograd.grad((g * ex).sum(), ex)
            np.testing.assert_allclose(gg.numpy(), tgg.numpy(), atol=1e-12)


# Pads whose borders read an input position several times now take EdgePad too (a replicate
# edge, reflect's overlapping sides): the backward adds those one border position at a time
@pytest.mark.parametrize(
    "mode, shape, pads",
    [
        ("reflect", (2, 3, 3), (2, 2)),
        ("replicate", (1, 2, 3, 4), (3, 4, 2, 5)),
        ("reflect", (1, 2, 3, 4), (3, 3, 2, 1)),
        ("circular", (1, 2, 3, 4), (4, 4, 3, 3)),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
def test_edge_pad_repeated_sources_match_torch(mode, shape, pads, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(6)
    x = rng.standard_normal(shape).astype(dtype)
    tx = torch.from_numpy(x).requires_grad_()
    ty = torch.nn.functional.pad(tx, pads, mode=mode)
    dy = rng.standard_normal(tuple(ty.shape)).astype(dtype)
    ty.backward(torch.from_numpy(dy))
    ex = ember.tensor(x, requires_grad=True)
    y = F.pad(ex, pads, mode=mode)
    y.backward(ember.tensor(dy))
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    tol = 1e-2 if dtype == np.float16 else 1e-5
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch1_weight_grad_gemm_matches_torch_and_threads(dtype):
    # one image of ResNet's last stage: dw by one GEMM that writes it (the batch engine's rule
    # now from batch 1), against torch, and the same bits at any thread count
    x, w, _, dy, pads = _case((1, 256, 512, 7, 7, 1), dtype, seed=7)
    check_weight_grad(dy, x, w, pads, TOL[dtype])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("batch_dw", ["always", "never"])
def test_weight_grad_one_image_and_groups_match_reference(dtype, batch_dw):
    # the batch engine at N = 1 ('always'), and the fused engine's per-thread partials reduced
    # a cache line of output channels at a time (groups, 21 channels a group: a partial line)
    rng = np.random.default_rng(8)
    for n, c, o, groups, h in ((1, 6, 20, 1, 9), (8, 12, 63, 3, 17)):  # (the second: 2 threads)
        x = rng.standard_normal((n, c, h, 8)).astype(dtype)
        w = rng.standard_normal((o, c // groups, 3, 3)).astype(dtype)
        dy = rng.standard_normal((n, o, h, 8)).astype(dtype)
        args = (dy, x, w, (1, 1), (1, 1), (1, 1), groups, True, True, True)
        old = _C.conv2d_set_batch_dw(batch_dw)
        try:
            for nt in (1, 2):
                with at_threads(nt):
                    dx, dw, db = _C.conv2d_backward(*args)
                ref = conv2d_backward_ref(dy, x, w, padding=(1, 1), groups=groups)
                np.testing.assert_allclose(dx, ref[0], **TOL[dtype])
                np.testing.assert_allclose(dw, ref[1], **TOL[dtype])
                np.testing.assert_allclose(db, dy.sum((0, 2, 3)), **TOL[dtype])
        finally:
            _C.conv2d_set_batch_dw(old)


@pytest.mark.parametrize(
    "mode, shape, pads",
    [("replicate", (2, 3, 6, 5), (3, 4, 2, 5)), ("reflect", (1, 2, 3, 4), (3, 3, 2, 2))],
)
def test_edge_pad_repeated_sources_same_bits_as_gather(mode, shape, pads):
    # each repeated source's sum in y's order: the bits of a gather per axis
    rng = np.random.default_rng(9)
    x = rng.standard_normal(shape).astype(np.float32)
    a = ember.tensor(x, requires_grad=True)
    y = F.pad(a, pads, mode=mode)
    g = ember.tensor(rng.standard_normal(y.shape).astype(np.float32))
    y.backward(g)
    b = ember.tensor(x, requires_grad=True)
    z = b
    for axis, (lo, hi) in ((2, pads[2:]), (3, pads[:2])):
        z = F._gather_axis(z, axis, F._pad_taps(z.shape[axis], lo, hi, mode))
    z.backward(g)
    np.testing.assert_array_equal(y.detach().numpy(), z.detach().numpy())
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
