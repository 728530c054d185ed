"""Conv2d through the Python layer: F.conv2d and nn.Conv2d against PyTorch (copied weights,
outputs and every gradient, float32 and float64), the NumPy reference (hypothesis over valid and
invalid configurations), gradcheck, every padding mode, and the inputs it must refuse."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reference_conv import conv2d_backward_ref, conv2d_ref, conv2d_valid

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import functional as F

TOL = {np.float32: dict(rtol=1e-4, atol=1e-5), np.float64: dict(rtol=1e-10, atol=1e-10)}
DTYPES = [np.float32, np.float64]

# (in, out, kernel, stride, padding, dilation, groups, bias, input (N, H, W))
CONFIGS = [
    (1, 6, 5, 1, 0, 1, 1, True, (4, 12, 12)),
    (3, 4, 3, 1, 1, 1, 1, True, (2, 7, 9)),
    (3, 4, (2, 3), (2, 1), (1, 0), 1, 1, False, (2, 8, 7)),
    (4, 6, 3, 2, 1, 2, 2, True, (2, 9, 9)),
    (6, 6, 3, 1, 1, 1, 6, True, (2, 6, 6)),  # depthwise
    (4, 8, 1, 1, 0, 1, 1, True, (3, 5, 5)),  # 1x1
    (4, 8, 1, 2, 0, 1, 2, True, (3, 5, 5)),  # 1x1 strided, grouped
    (3, 5, 3, 1, "valid", 1, 1, True, (2, 6, 6)),
    (3, 5, 3, 1, "same", 1, 1, True, (2, 6, 7)),
    (3, 5, 4, 1, "same", 1, 1, True, (2, 6, 7)),  # even kernel: extra pad bottom/right
    (3, 5, (2, 5), 1, "same", (2, 1), 1, False, (2, 7, 6)),
    (2, 3, 3, 1, "full", 1, 1, True, (2, 5, 5)),
    (2, 3, 3, 1, "full", 2, 1, True, (1, 4, 6)),
]


def _torch_conv(torch, cfg, dtype):
    cin, cout, k, s, p, d, g, bias, _ = cfg
    tp = p
    if p == "full":
        kk = (k, k) if isinstance(k, int) else k
        dd = (d, d) if isinstance(d, int) else d
        tp = (dd[0] * (kk[0] - 1), dd[1] * (kk[1] - 1))
    m = torch.nn.Conv2d(cin, cout, k, s, tp, d, g, bias)
    return m.double() if dtype == np.float64 else m


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")  # torch's own note
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: str(c[:8]))
def test_conv2d_module_matches_pytorch(cfg, dtype):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    tm = _torch_conv(torch, cfg, dtype)
    cin, cout, k, s, p, d, g, bias, (n, h, w) = cfg
    m = nn.Conv2d(cin, cout, k, s, p, d, g, bias, dtype=dtype)
    assert list(m.state_dict()) == list(tm.state_dict())
    m.load_state_dict(tm.state_dict())
    x = np.random.default_rng(0).standard_normal((n, cin, h, w)).astype(dtype)
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = m(xe), tm(xt)
    assert ye.shape == tuple(yt.shape) and ye.dtype == dtype
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), **TOL[dtype])
    gy = np.random.default_rng(1).standard_normal(ye.shape).astype(dtype)
    ye.backward(gy)
    yt.backward(torch.from_numpy(gy))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), **TOL[dtype])
    np.testing.assert_allclose(m.weight.grad.numpy(), tm.weight.grad.numpy(), **TOL[dtype])
    if bias:
        np.testing.assert_allclose(m.bias.grad.numpy(), tm.bias.grad.numpy(), **TOL[dtype])
    else:
        assert m.bias is None


@pytest.mark.parametrize("padding", [0, 1, (2, 0), "valid", "same", "full"])
def test_conv2d_gradcheck_every_padding_mode(padding):
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((2, 4, 5, 6)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((4, 2, 3, 2)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(4), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.conv2d(x, w, b, 1, padding, 1, 2), [x, w, b])


def test_conv2d_gradcheck_strided_dilated():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((1, 3, 9, 8)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((2, 3, 3, 3)), requires_grad=True)
    assert gradcheck(lambda x, w: F.conv2d(x, w, None, (2, 3), 1, (2, 1)), [x, w])


def test_padding_modes_give_the_documented_sizes():
    x = ember.randn(1, 2, 7, 8)
    for k in (1, 2, 3, 4, 5):
        w = ember.randn(3, 2, k, k)
        assert F.conv2d(x, w, padding="valid").shape == (1, 3, 8 - k, 9 - k)
        assert F.conv2d(x, w, padding="same").shape == (1, 3, 7, 8)
        assert F.conv2d(x, w, padding="full").shape == (1, 3, 6 + k, 7 + k)
    # 'same' with an even kernel pads one more at the bottom/right, as PyTorch
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    w = np.ones((1, 1, 2, 2))
    y = F.conv2d(x, w, padding="same").numpy()
    np.testing.assert_allclose(y, conv2d_ref(x, w, padding=(0, 1, 0, 1)))


def test_full_padding_is_the_full_correlation():
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((1, 1, 4, 5)), rng.standard_normal((1, 1, 3, 2))
    # 'full' correlation: every partial overlap, as scipy.signal.correlate2d(mode='full')
    xp = np.pad(x[0, 0], ((2, 2), (1, 1)))
    expected = np.array(
        [[(xp[i : i + 3, j : j + 2] * w[0, 0]).sum() for j in range(6)] for i in range(6)]
    )
    np.testing.assert_allclose(F.conv2d(x, w, padding="full").numpy()[0, 0], expected)


def test_unbatched_input_as_pytorch():
    rng = np.random.default_rng(5)
    x, w, b = rng.standard_normal((3, 6, 6)), rng.standard_normal((4, 3, 3, 3)), np.ones(4)
    y = F.conv2d(x, w, b, padding=1)
    assert y.shape == (4, 6, 6)
    np.testing.assert_allclose(y.numpy(), conv2d_ref(x[None], w, b, padding=(1, 1))[0])
    xe = ember.tensor(x, requires_grad=True)
    F.conv2d(xe, w).sum().backward()
    assert xe.grad.shape == (3, 6, 6)


def test_empty_batch_works():
    m = nn.Conv2d(3, 4, 3, padding=1)
    x = ember.zeros((0, 3, 5, 5), requires_grad=True)
    y = m(x)
    assert y.shape == (0, 4, 5, 5)
    y.sum().backward()
    assert x.grad.shape == (0, 3, 5, 5)
    np.testing.assert_array_equal(m.weight.grad.numpy(), 0)
    np.testing.assert_array_equal(m.bias.grad.numpy(), 0)


def test_non_contiguous_input_and_integer_arrays():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((5, 5, 3, 2)).astype(np.float32).transpose(3, 2, 0, 1)
    w = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(
        F.conv2d(ember.tensor(x), w).numpy(), conv2d_ref(x, w), rtol=1e-5, atol=1e-5
    )


BAD = [
    # (input shape, weight shape, kwargs, exception)
    ((2, 3, 8, 8), (4, 2, 3, 3), {}, ValueError),  # channel mismatch
    ((2, 6, 8, 8), (4, 2, 3, 3), {"groups": 4}, ValueError),  # groups do not divide
    ((2, 6, 8, 8), (5, 2, 3, 3), {"groups": 3}, ValueError),  # out_channels % groups
    ((2, 3, 4, 4), (4, 3, 5, 5), {}, ValueError),  # kernel larger than the input
    ((2, 3, 4, 4), (4, 3, 7, 7), {"padding": 1}, ValueError),  # ... than the padded input
    ((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 0}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"stride": (1, -1)}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"dilation": 0}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"padding": -1}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"padding": (1, -2)}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"padding": "same", "stride": 2}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"padding": "circular"}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"padding": (1, 1, 1)}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"groups": 0}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3, 3), {"stride": 1.5}, TypeError),
    ((5, 8, 8), (4, 3, 3, 3), {}, ValueError),  # 3-D input whose C does not match
    ((3, 8), (4, 3, 3, 3), {}, ValueError),
    ((1, 2, 3, 8, 8), (4, 3, 3, 3), {}, ValueError),
    ((2, 3, 8, 8), (4, 3, 3), {}, ValueError),  # 3-D weight
    ((2, 3, 8, 8), (4, 3, 0, 3), {}, ValueError),  # empty kernel
]


@pytest.mark.parametrize("xs,ws,kw,exc", BAD, ids=[str(b[2]) + str(b[0]) for b in BAD])
def test_conv2d_refuses_bad_input(xs, ws, kw, exc):
    with pytest.raises(exc, match="conv2d"):
        F.conv2d(ember.zeros(xs), ember.zeros(ws), **kw)


def test_conv2d_refuses_integer_tensors_and_bad_bias():
    w = ember.zeros((4, 3, 3, 3))
    with pytest.raises(TypeError):
        F.conv2d(ember.tensor(np.ones((1, 3, 5, 5), np.int64)), w)
    with pytest.raises(TypeError):
        F.conv2d(ember.zeros((1, 3, 5, 5)), ember.tensor(np.ones((4, 3, 3, 3), np.int32)))
    with pytest.raises(ValueError, match="bias"):
        F.conv2d(ember.zeros((1, 3, 5, 5)), w, ember.zeros(3))
    with pytest.raises(TypeError):  # float64 input with float32 parameters
        F.conv2d(ember.zeros((1, 3, 5, 5), dtype=ember.float64), w)


def test_conv2d_module_refuses_bad_configuration():
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="groups"):
        nn.Conv2d(4, 6, 3, groups=0)
    with pytest.raises(ValueError, match="strided"):
        nn.Conv2d(4, 6, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding"):
        nn.Conv2d(4, 6, 3, padding="zeros")
    with pytest.raises(ValueError):
        nn.Conv2d(4, 6, 0)
    with pytest.raises(ValueError):
        nn.Conv2d(4, 6, 3, padding=-1)
    with pytest.raises(ValueError, match="padding_mode"):
        nn.Conv2d(4, 6, 3, padding_mode="mirror")
    with pytest.raises(ValueError, match="padding_mode"):
        nn.ConvTranspose2d(4, 6, 3, padding_mode="reflect")  # PyTorch refuses it too


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("nd", [1, 2])
def test_conv_padding_modes_match_torch(mode, nd):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for kw in [
        dict(padding=1),
        dict(padding=2, stride=2, groups=2),
        dict(padding="same", dilation=2, kernel_size=4),
        dict(padding="valid"),
    ]:
        kw = {"kernel_size": 3, **kw}
        tm = getattr(torch.nn, f"Conv{nd}d")(4, 6, padding_mode=mode, **kw).double()
        em = getattr(nn, f"Conv{nd}d")(4, 6, padding_mode=mode, **kw).double()
        em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
        assert repr(em).endswith(f"padding_mode={mode})")
        for shape in [(2, 4) + (7,) * nd, (4,) + (7,) * nd]:
            x = rng.normal(size=shape)
            xt = torch.tensor(x, requires_grad=True)
            xe = ember.tensor(x, requires_grad=True)
            yt, ye = tm(xt), em(xe)
            g = rng.normal(size=tuple(yt.shape))
            yt.backward(torch.tensor(g))
            ye.backward(ember.tensor(g))
            np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-10, atol=1e-12)
            np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
            for p in ("weight", "bias"):
                np.testing.assert_allclose(
                    getattr(em, p).grad.numpy(), getattr(tm, p).grad.numpy(), rtol=1e-10, atol=1e-12
                )


def test_conv2d_module_parameters_and_init():
    m = nn.Conv2d(6, 8, (3, 5), stride=2, groups=2)
    assert m.weight.shape == (8, 3, 3, 5) and m.bias.shape == (8,)
    assert m.weight.dtype == np.float32
    bound = 1 / np.sqrt(3 * 3 * 5)  # kaiming_uniform_(a=sqrt(5)) -> 1/sqrt(fan_in)
    assert np.abs(m.weight.numpy()).max() <= bound and np.abs(m.weight.numpy()).max() > bound / 2
    assert np.abs(m.bias.numpy()).max() <= bound
    assert [n for n, _ in m.named_parameters()] == ["weight", "bias"]
    assert repr(m) == "Conv2d(6, 8, kernel_size=(3, 5), stride=(2, 2), groups=2)"
    assert "bias=False" in repr(nn.Conv2d(1, 1, 1, bias=False))
    assert repr(nn.Conv2d(1, 1, 3, padding="same")).endswith("padding=same)")  # as PyTorch
    assert nn.Conv2d(1, 2, 3, dtype=np.float64).weight.dtype == np.float64


def test_conv2d_init_matches_pytorch_distribution():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    t = torch.nn.Conv2d(16, 32, 3).weight.detach().numpy()
    e = nn.Conv2d(16, 32, 3).weight.numpy()
    assert abs(t.std() - e.std()) < 0.05 * t.std()
    assert abs(np.abs(t).max() - np.abs(e).max()) < 0.01 * np.abs(t).max()


def test_torch_conv_net_weights_load():
    torch = pytest.importorskip("torch")
    tn = torch.nn.Sequential(
        torch.nn.Conv2d(1, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(36, 3),
    )  # fmt: skip
    en = nn.Sequential(
        nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(36, 3),
    )  # fmt: skip
    tn(torch.randn(8, 1, 8, 8))  # move the running statistics
    assert list(en.state_dict()) == list(tn.state_dict())
    en.load_state_dict({k: v.numpy() for k, v in tn.state_dict().items()})
    tn.eval()
    en.eval()
    x = np.random.default_rng(7).standard_normal((5, 1, 8, 8)).astype(np.float32)
    with torch.no_grad():
        expected = tn(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(en(x).numpy(), expected, rtol=1e-4, atol=1e-5)


# ---- property test: any configuration, valid or not, against the NumPy reference ----------


@st.composite
def conv_configs(draw):
    groups = draw(st.integers(0, 3))
    cg = draw(st.integers(1, 3))
    c = cg * max(groups, 1) + draw(st.sampled_from([0, 0, 0, 1]))  # sometimes mismatched
    o = max(groups, 1) * draw(st.integers(1, 2)) + draw(st.sampled_from([0, 0, 0, 1]))
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    stride = (draw(st.integers(0, 3)), draw(st.integers(1, 3)))
    dilation = (draw(st.integers(1, 3)), draw(st.integers(0, 2)) if draw(st.booleans()) else 1)
    padding = draw(
        st.one_of(
            st.tuples(st.integers(-1, 3), st.integers(0, 3)),
            st.sampled_from(["valid", "same", "full"]),
        )
    )
    n, h, w = draw(st.integers(0, 2)), draw(st.integers(1, 8)), draw(st.integers(1, 8))
    return (n, c, h, w), (o, cg, kh, kw), stride, padding, dilation, groups


def _pad4(padding, k, stride, dilation):
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        th, tw = dilation[0] * (k[0] - 1), dilation[1] * (k[1] - 1)
        return (th // 2, th - th // 2, tw // 2, tw - tw // 2)
    if padding == "full":
        return (dilation[0] * (k[0] - 1),) * 2 + (dilation[1] * (k[1] - 1),) * 2
    return (padding[0], padding[0], padding[1], padding[1])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(conv_configs())
def test_conv2d_property_against_numpy_reference(cfg):
    xs, ws, stride, padding, dilation, groups = cfg
    rng = np.random.default_rng(0)
    x = rng.standard_normal(xs)
    w = rng.standard_normal(ws)
    b = rng.standard_normal(ws[0])
    valid = (
        min(stride) >= 1
        and min(dilation) >= 1
        and not (padding == "same" and stride != (1, 1))
        and groups >= 1
    )
    if valid:
        pad = _pad4(padding, ws[2:], stride, dilation)
        valid = conv2d_valid(xs, ws, stride, pad, dilation, groups)
    if not valid:
        with pytest.raises(ValueError):
            F.conv2d(x, w, b, stride, padding, dilation, groups)
        return
    xe, we, be = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xe, we, be, stride, padding, dilation, groups)
    expected = conv2d_ref(x, w, b, stride, pad, dilation, groups)
    np.testing.assert_allclose(y.numpy(), expected, **TOL[np.float64])
    dy = rng.standard_normal(y.shape)
    y.backward(dy)
    dx, dw, db = conv2d_backward_ref(dy, x, w, stride, pad, dilation, groups)
    np.testing.assert_allclose(xe.grad.numpy(), dx, **TOL[np.float64])
    np.testing.assert_allclose(we.grad.numpy(), dw, **TOL[np.float64])
    np.testing.assert_allclose(be.grad.numpy(), db, **TOL[np.float64])
