"""convspeed39: conv3d's direct forward engine (strided, one group, no graph) pads each image into
a per-thread copy just before its output-channel panels read it: the same values as PyTorch at
any thread count (odd sizes, batch 1, more images than threads, output channels that leave a
partial weight panel, padding, dilation); and gradients of small 3-D convolutions by finite
differences in float64 (grouped, strided, dilated, transposed with output_padding), whose
requires_grad forward takes the graph route."""

import numpy as np
import pytest
from conftest import at_threads

import ember
from ember.autograd import gradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}


# (N, C, (D, H, W), O, kernel, stride, padding, dilation)
CASES = [
    (1, 3, (7, 9, 5), 17, (3, 2, 3), (2, 3, 1), (1, 0, 2), (1, 2, 1)),
    (2, 5, (6, 6, 6), 40, (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1)),
    (3, 4, (5, 8, 7), 33, (2, 3, 1), (3, 1, 2), (0, 2, 1), (2, 1, 1)),
    (5, 6, (9, 7, 8), 64, (3, 3, 3), (2, 2, 2), (1, 1, 1), (1, 1, 1)),
]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_conv3d_direct_forward_matches_torch(case, dtype, threads):
    n, c, spatial, o, k, s, p, d = case
    rng = np.random.default_rng(39)
    x = rng.standard_normal((n, c, *spatial)).astype(dtype)
    w = (rng.standard_normal((o, c, *k)) / np.sqrt(c * np.prod(k))).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    with at_threads(threads):
        y = F.conv3d(ember.tensor(x), ember.tensor(w), ember.tensor(b), s, p, d).numpy()
        y_nb = F.conv3d(ember.tensor(x), ember.tensor(w), None, s, p, d).numpy()
    t = torch.nn.functional.conv3d(torch.from_numpy(x), torch.from_numpy(w), None, s, p, d)
    np.testing.assert_allclose(y_nb, t.numpy(), **TOL[dtype])
    np.testing.assert_allclose(
        y, (t + torch.from_numpy(b)[:, None, None, None]).numpy(), **TOL[dtype]
    )


def test_conv3d_direct_forward_repeated_calls_reuse_workspace():
    # a large call then a smaller one with other padding: the reused workspace's stale contents
    # must not leak into the second call's zero padding
    rng = np.random.default_rng(7)
    big = rng.standard_normal((2, 8, 10, 10, 10)).astype(np.float32)
    w1 = rng.standard_normal((32, 8, 3, 3, 3)).astype(np.float32)
    F.conv3d(ember.tensor(big), ember.tensor(w1), stride=2, padding=1)
    x = rng.standard_normal((1, 2, 5, 6, 4)).astype(np.float32)
    w = rng.standard_normal((20, 2, 3, 3, 3)).astype(np.float32)
    y = F.conv3d(ember.tensor(x), ember.tensor(w), stride=2, padding=2).numpy()
    t = torch.nn.functional.conv3d(torch.from_numpy(x), torch.from_numpy(w), stride=2, padding=2)
    np.testing.assert_allclose(y, t.numpy(), rtol=1e-4, atol=1e-4)


def test_conv3d_direct_forward_bad_input_raises():
    x = ember.tensor(np.zeros((1, 3, 4, 4, 4), np.float32))
    with pytest.raises(ValueError, match="channels"):
        F.conv3d(x, ember.tensor(np.zeros((16, 4, 3, 3, 3), np.float32)), stride=2)
    with pytest.raises(ValueError):
        F.conv3d(x, ember.tensor(np.zeros((16, 3, 7, 3, 3), np.float32)), stride=2)


def _t(a):
    return ember.tensor(a, requires_grad=True)


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=2, padding=1),  # the strided shape of the direct engine, through the graph
        dict(stride=(2, 1, 3), padding=(1, 0, 1), dilation=(1, 2, 1)),
        dict(stride=2, padding=1, groups=2),
    ],
)
def test_conv3d_gradcheck_float64(kw):
    rng = np.random.default_rng(5)
    g = kw.get("groups", 1)
    x = _t(rng.standard_normal((1, 2 * g, 5, 6, 5)))
    w = _t(rng.standard_normal((2 * g, 2, 3, 2, 3)))
    b = _t(rng.standard_normal(2 * g))
    assert gradcheck(lambda x, w, b: F.conv3d(x, w, b, **kw), (x, w, b))


@pytest.mark.parametrize(
    "kw",
    [
        dict(stride=2, padding=1, output_padding=1),
        dict(stride=(3, 2, 1), padding=(0, 1, 1), output_padding=(2, 0, 0), dilation=(1, 1, 2)),
        dict(stride=2, groups=2, output_padding=(0, 1, 1)),
    ],
)
def test_conv_transpose3d_gradcheck_float64(kw):
    rng = np.random.default_rng(6)
    g = kw.get("groups", 1)
    x = _t(rng.standard_normal((1, 2 * g, 3, 4, 3)))
    w = _t(rng.standard_normal((2 * g, 2, 3, 2, 3)))
    b = _t(rng.standard_normal(2 * g))
    assert gradcheck(lambda x, w, b: F.conv_transpose3d(x, w, b, **kw), (x, w, b))
    t = torch.nn.functional.conv_transpose3d(
        *(torch.from_numpy(a.detach().numpy()) for a in (x, w, b)), **kw
    )
    np.testing.assert_allclose(
        F.conv_transpose3d(x, w, b, **kw).detach().numpy(), t.numpy(), rtol=1e-10, atol=1e-10
    )
