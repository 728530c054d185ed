"""fuzz18d: dilated conv2d (dilation phases), conv3d depth taps and the two-pass float64
exp/log kernels against torch; bad input to the _C depth-tap kernels."""

import subprocess
import sys

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _conv_grads(fe, ft, x, w, b, g, **kw):
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    ye = fe(xe, we, be, **kw)
    ye.backward(ember.tensor(g))
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = ft(xt, wt, bt, **kw)
    yt.backward(torch.tensor(g))
    return (
        [ye.numpy(), xe.grad.numpy(), we.grad.numpy(), be.grad.numpy()],
        [yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()],
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "N,C,O,H,W,k,d,p",
    [
        (3, 5, 3, 12, 9, 3, 3, 3),  # H, W, padding divisible: phases
        (2, 3, 4, 13, 11, 3, 2, 1),  # not divisible
        (1, 7, 2, 16, 16, 5, 4, "same"),
        (8, 1, 1, 8, 12, 2, 2, 2),
    ],
)
def test_dilated_conv2d_matches_torch(dtype, N, C, O, H, W, k, d, p):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C, H, W)).astype(dtype)
    w = rng.standard_normal((O, C, k, k)).astype(dtype)
    b = rng.standard_normal(O).astype(dtype)
    shape = TF.conv2d(torch.tensor(x), torch.tensor(w), padding=p, dilation=d).shape
    g = rng.standard_normal(shape).astype(dtype)
    got, ref = _conv_grads(F.conv2d, TF.conv2d, x, w, b, g, padding=p, dilation=d)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for e, r, K in zip(got, ref, [C * k * k, O * k * k, N * H * W, N * H * W]):
        np.testing.assert_allclose(e, r, rtol=0, atol=tol * np.sqrt(K) * max(1.0, np.abs(r).max()))


def test_dilated_conv2d_nonfinite_and_threads():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 12, 12))
    x[0, 1, 5, 6], x[1, 2, 0, 0], x[1, 0, 11, 3] = np.nan, np.inf, -np.inf
    w = rng.standard_normal((4, 3, 3, 3))
    ref = TF.conv2d(torch.tensor(x), torch.tensor(w), padding=2, dilation=2).numpy()
    outs = []
    try:
        for t in (1, 2):
            ember.set_num_threads(t)
            outs.append(F.conv2d(ember.tensor(x), ember.tensor(w), padding=2, dilation=2).numpy())
    finally:
        ember.set_num_threads(2)
    np.testing.assert_array_equal(outs[0], outs[1])
    np.testing.assert_allclose(outs[0], ref, rtol=1e-12, atol=1e-12)


def test_conv3d_depth_stride_dilation_noncontiguous_gradcheck():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 6, 2, 4, 3)).transpose(0, 2, 1, 3, 4)  # (2, 2, 6, 4, 3) strided
    w = rng.standard_normal((3, 2, 2, 2, 2))
    b = rng.standard_normal(3)
    kw = dict(stride=(2, 1, 1), padding=(1, 0, 1), dilation=(2, 1, 1))
    g = rng.standard_normal(TF.conv3d(torch.tensor(x), torch.tensor(w), **kw).shape)
    got, ref = _conv_grads(F.conv3d, TF.conv3d, x, w, b, g, **kw)
    for e, r in zip(got, ref):
        np.testing.assert_allclose(e, r, rtol=1e-11, atol=1e-11)
    # finite differences on the input, float64
    eps, dx = 1e-6, got[1]
    for idx in [(0, 0, 0, 0, 0), (1, 1, 5, 3, 2), (0, 1, 3, 2, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[idx] += eps
        xm[idx] -= eps
        fp = (F.conv3d(ember.tensor(xp), ember.tensor(w), ember.tensor(b), **kw).numpy() * g).sum()
        fm = (F.conv3d(ember.tensor(xm), ember.tensor(w), ember.tensor(b), **kw).numpy() * g).sum()
        assert abs((fp - fm) / (2 * eps) - dx[idx]) < 1e-6


# ember's and torch's float64 exp/log are each within ~0.7 ulp of the true value, so they may
# differ by up to 2 ulp (torch's own path also varies with its thread count)
_TWO_ULP = 4.5e-16


@pytest.mark.parametrize("fn", ["exp", "log", "log2", "log10"])
def test_float64_exp_log_specials_at_block_edges(fn):
    rng = np.random.default_rng(3)
    x = np.abs(rng.standard_normal(4100)) * 50
    specials = [np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 5e-324, 709.8, -746.0, 1e308]
    for i, v in zip([0, 2046, 2047, 2048, 2049, 4095, 4096, 4099, 100, 3000], specials):
        x[i] = v
    ref = getattr(torch, fn)(torch.tensor(x)).numpy()
    np.testing.assert_allclose(
        getattr(ember, fn)(ember.tensor(x)).numpy(), ref, rtol=_TWO_ULP, atol=0
    )
    a = ember.tensor(x.copy())
    getattr(a, fn + "_")()
    np.testing.assert_allclose(a.numpy(), ref, rtol=_TWO_ULP, atol=0)
    big = ember.tensor(np.repeat(x, 2))
    getattr(big[::2], fn + "_")()
    np.testing.assert_allclose(big[::2].numpy(), ref, rtol=_TWO_ULP, atol=0)
    np.testing.assert_array_equal(big[1::2].numpy(), x)  # the other half untouched
    assert getattr(ember, fn)(ember.tensor(np.zeros(0))).shape == (0,)
    r0 = getattr(torch, fn)(torch.tensor(2.5, dtype=torch.float64)).item()
    assert getattr(ember, fn)(ember.tensor(np.float64(2.5))).item() == pytest.approx(
        r0, rel=_TWO_ULP
    )


@pytest.mark.parametrize("C", [3, 2047, 2049])
def test_float64_softmax_family_matches_torch(C):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, C)) * 300
    x[1, C - 1] = -np.inf
    xt = torch.tensor(x)
    for fe, ft in [(F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)]:
        np.testing.assert_allclose(
            fe(ember.tensor(x), dim=1).numpy(), ft(xt, dim=1).numpy(), rtol=1e-13, atol=1e-15
        )
    np.testing.assert_allclose(
        ember.logsumexp(ember.tensor(x), dim=1).numpy(),
        torch.logsumexp(xt, dim=1).numpy(),
        rtol=1e-14,
    )
    t = np.array([0, 1, C - 1])
    got = F.cross_entropy(ember.tensor(x), ember.tensor(t)).item()
    assert got == pytest.approx(TF.cross_entropy(xt, torch.tensor(t)).item(), rel=1e-13)


BAD_DEPTH_TAPS = [
    # i*stride - padding + a*dilation past int64 (wrapped to a negative index before the check)
    ("conv3d_depth_taps(np.ones((1, 1, 4, 1, 1)), 2, 3, 2**62, 2**62, 2**62)", "ValueError"),
    (
        "conv3d_depth_taps_backward(np.zeros((3, 2, 1, 1)), [1, 1, 4, 1, 1], 2, 3, 2**62, 1, 0)",
        "ValueError",
    ),
    ("conv3d_depth_taps(np.zeros((2, 3, 4, 5)), 1, 1, 1, 1, 0)", "ValueError"),
    ("conv3d_depth_taps(np.zeros((1, 1, 4, 2, 2), np.int32), 1, 1, 1, 1, 0)", "TypeError"),
    ("conv3d_depth_taps(np.zeros((1, 1, 4, 2, 2)), -1, 1, 1, 1, 0)", "ValueError"),
    ("conv3d_depth_taps(np.zeros((1, 1, 4, 2, 2)), 2, 3, 1, 1, -1)", "ValueError"),
    ("conv3d_depth_taps(np.zeros((1, 1, 4, 2, 2)), 2**40, 2**40, 1, 1, 0)", "ValueError"),
    ("conv3d_depth_taps(np.zeros((1, 1, 4, 2, 2))[..., ::2], 1, 1, 1, 1, 0)", "ValueError"),
    (
        "conv3d_depth_taps_backward(np.zeros((3, 2, 2, 2)), [1, 1, 4, 2], 2, 3, 1, 1, 0)",
        "ValueError",
    ),
    (
        "conv3d_depth_taps_backward(np.zeros((3, 2, 2, 2)), [1, -1, 4, 2, 2], 2, 3, 1, 1, 0)",
        "ValueError",
    ),
    (
        "conv3d_depth_taps_backward(np.zeros((3, 2, 2, 2)), [1, 1, 4, 2, 2], 2, 300, 1, 1, 0)",
        "ValueError",
    ),
    (
        "conv3d_depth_taps_backward(np.zeros((3, 2, 2, 2), np.int64), "
        "[1, 1, 4, 2, 2], 2, 3, 1, 1, 0)",
        "TypeError",
    ),
    (
        "conv3d_depth_taps_backward(np.zeros((3, 2, 2, 2)), "
        "[2**62, 2**62, 4, 2, 2], 2, 3, 1, 1, 0)",
        "ValueError",
    ),
]


@pytest.mark.parametrize("call,err", BAD_DEPTH_TAPS)
def test_depth_taps_bad_input_raises(call, err):
    code = (
        "import numpy as np\nfrom ember import _C\ntry:\n    _C." + call + "\n"
        "except (ValueError, TypeError) as e:\n"  # (BadShapeOrValue is a ValueError)
        "    print('ValueError' if isinstance(e, ValueError) else 'TypeError')\n"
    )
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == err


def test_depth_taps_huge_valid_stride():
    # the largest depth index still fits in int64: taps past the input read as zeros
    x = np.arange(1, 5.0).reshape(1, 1, 4, 1, 1)
    out = ember._C.conv3d_depth_taps(x, 2, 2, 2**61, 1, 0)
    np.testing.assert_array_equal(out.ravel(), [1, 2, 0, 0])
    dx = ember._C.conv3d_depth_taps_backward(
        np.ones((2, 2, 1, 1)), [1, 1, 4, 1, 1], 2, 2, 2**61, 1, 0
    )
    np.testing.assert_array_equal(dx.ravel(), [1, 1, 0, 0])
