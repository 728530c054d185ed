"""Regressions from fuzz11's bad-input sweep of this session's conv/pool/norm, RNN, optim and
clip_grad changes, each against torch."""

import math

import numpy as np
import pytest

import ember
from ember.nn.utils import clip_grad_norm_

torch = pytest.importorskip("torch")


def _clip_both(grads, max_norm, norm_type):
    """clip_grad_norm_ on Tensors holding ``grads`` in torch and ember: (norms, grads) each."""
    out = []
    for lib in (torch, ember):
        ps = []
        for g in grads:
            p = lib.tensor(g).requires_grad_(True)
            p.grad = lib.tensor(g)
            ps.append(p)
        fn = torch.nn.utils.clip_grad_norm_ if lib is torch else clip_grad_norm_
        n = fn(ps, max_norm, norm_type=norm_type)
        out.append((np.asarray(n.detach().numpy()), [np.asarray(p.grad.numpy()) for p in ps]))
    return out


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, -math.inf, 0.5, -1.0])
@pytest.mark.parametrize(
    "grads",
    [
        [np.array(3.0, np.float32)],  # a 0-d gradient (was IndexError)
        [np.array([3.0, -4.0], np.float32)],
        [np.array([2.0], np.float32), np.array([1.0, 2.0], np.float64)],
        [np.array([0.1, -0.2, 0.05], np.float16)],
    ],
)
@pytest.mark.parametrize("max_norm", [1.0, 1e-8])
def test_clip_grad_norm_edge_cases_as_torch(grads, norm_type, max_norm):
    (tn, tg), (en, eg) = _clip_both(grads, max_norm, norm_type)
    assert en.dtype == tn.dtype
    np.testing.assert_allclose(en, tn, rtol=1e-6)
    for a, b in zip(eg, tg):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=0)


@pytest.mark.parametrize("norm_type", [math.inf, -math.inf])
def test_clip_grad_norm_inf_norm_of_empty_gradient_raises(norm_type):
    p = ember.zeros(0, requires_grad=True)
    p.grad = ember.zeros(0)
    tp = torch.zeros(0, requires_grad=True)
    tp.grad = torch.zeros(0)
    with pytest.raises(RuntimeError):
        torch.nn.utils.clip_grad_norm_([tp], 1.0, norm_type=norm_type)
    with pytest.raises(RuntimeError, match="empty"):
        clip_grad_norm_([p], 1.0, norm_type=norm_type)


@pytest.mark.parametrize(
    "name, lr_dtype",
    [
        (name, dt)
        for name in ["Adam", "AdamW", "Adamax", "NAdam", "ASGD", "RAdam"]
        for dt in ["int64", "float16", "float64"]
        if (name, dt) != ("NAdam", "float16")  # 1e-6 apart: torch mixes float32 state in
    ],
)
def test_optimizer_tensor_lr_of_other_dtypes_as_torch(name, lr_dtype):
    # an integer lr tensor is float32 arithmetic in torch (NAdam gave nan, ASGD drifted); a
    # float16 one rounds each step to float16 after computing in float32
    lr_value = 1 if lr_dtype == "int64" else 0.01
    w = np.random.default_rng(0).standard_normal((3, 2)).astype(np.float32)
    out = []
    for lib in (torch, ember):
        p = lib.nn.Parameter(lib.tensor(w.copy()))
        opt = getattr(lib.optim, name)([p], lr=lib.tensor(lr_value, dtype=getattr(lib, lr_dtype)))
        for i in range(3):
            p.grad = lib.tensor(np.full((3, 2), 0.1 * (i + 1), np.float32))
            opt.step()
        out.append(p.detach().numpy().copy() if lib is torch else p.numpy())
    assert np.isfinite(out[1]).all()
    np.testing.assert_allclose(out[1], out[0], rtol=2e-6, atol=1e-7)


@pytest.mark.parametrize(
    "name, x_shape, w_shape",
    [
        ("conv1d", (1, 2, 5), (0, 2, 2)),
        ("conv2d", (1, 2, 4, 4), (0, 2, 2, 2)),
        ("conv2d", (0, 2, 4, 4), (0, 2, 2, 2)),
        ("conv3d", (1, 2, 3, 3, 3), (0, 2, 2, 2, 2)),
        ("conv1d", (1, 0, 4), (0, 0, 2)),
    ],
)
def test_conv_weight_without_output_channels_raises_as_torch(name, x_shape, w_shape):
    # ember returned an empty output; torch refuses a weight with fewer than `groups` filters
    with pytest.raises(RuntimeError, match="at least 1 at dimension 0"):
        getattr(torch.nn.functional, name)(torch.ones(x_shape), torch.ones(w_shape))
    with pytest.raises(ValueError, match="at least 1 at dimension 0"):
        getattr(ember.nn.functional, name)(ember.ones(x_shape), ember.ones(w_shape))


@pytest.mark.parametrize(
    "name, nd, dtype",
    [(f"conv{n}d", n, dt) for n in (1, 2, 3) for dt in (np.int64, np.int32)]
    + [("conv_transpose2d", 2, np.int64)],  # torch's transposed convolution: int64 only
)
def test_integer_conv_exact_beyond_2_to_53_as_torch(name, nd, dtype):
    # ember's float64 convolution rounded sums past 2**53 (2**53 + 1 came back as 2**53);
    # torch's integer kernels are exact and wrap modulo the dtype
    rng = np.random.default_rng(nd)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, (2, 2) + (4,) * nd, dtype=dtype, endpoint=True)
    w = rng.integers(info.min, info.max, (2, 2) + (2,) * nd, dtype=dtype, endpoint=True)
    b = rng.integers(info.min, info.max, (2,), dtype=dtype, endpoint=True)
    x.flat[0], w.flat[0] = 2**30 + 1, 3  # also a product that float64 alone gets right
    kw = {"stride": 2, "padding": 1}
    want = getattr(torch.nn.functional, name)(
        torch.tensor(x), torch.tensor(w), torch.tensor(b), **kw
    ).numpy()
    got = getattr(ember.nn.functional, name)(
        ember.tensor(x), ember.tensor(w), ember.tensor(b), **kw
    ).numpy()
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


def test_integer_conv1d_of_2_to_53_plus_1():
    x = np.array([[[2**53 + 1, 1, 2**53 + 1]]], np.int64)
    w = np.array([[[1, 1]]], np.int64)
    want = torch.nn.functional.conv1d(torch.tensor(x), torch.tensor(w)).numpy()
    got = ember.nn.functional.conv1d(ember.tensor(x), ember.tensor(w)).numpy()
    np.testing.assert_array_equal(got, want)  # 2**53 + 2 each, not 2**53


def test_save_checkpoint_with_a_tensor_lr(tmp_path):
    # a Tensor lr in param_groups made save_checkpoint fail (not JSON serializable); it comes
    # back as a Tensor of its dtype and the resumed run follows the uninterrupted one
    def run(steps, opt=None, model=None):
        ember.manual_seed(0)
        model = model or ember.nn.Linear(3, 2)
        opt = opt or ember.optim.Adam(model.parameters(), lr=ember.tensor(0.01))
        x = ember.tensor(np.linspace(-1, 1, 12, dtype=np.float32).reshape(4, 3))
        for _ in range(steps):
            opt.zero_grad()
            (model(x) ** 2).mean().backward()
            opt.step()
        return model, opt

    whole, _ = run(4)
    half, opt = run(2)
    path = tmp_path / "c.safetensors"
    ember.io.save_checkpoint(path, half, opt, epoch=2)
    ember.manual_seed(0)
    model = ember.nn.Linear(3, 2)
    opt2 = ember.optim.Adam(model.parameters(), lr=0.5)
    assert ember.io.load_checkpoint(path, model, opt2) == {"epoch": 2}
    lr = opt2.param_groups[0]["lr"]
    assert isinstance(lr, ember.Tensor) and lr.dtype == ember.float32
    run(2, opt2, model)
    for a, b in zip(whole.parameters(), model.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize(
    "dtypes, norm_type",
    [
        (("float16", "float32"), 2.0),  # sum_squares refused the float16 one (TypeError)
        (("float16", "float64"), 2.0),
        (("bfloat16",), 1.0),  # the coefficient was computed in float64, not bfloat16
        (("bfloat16", "bfloat16"), 3.0),
        (("float16", "bfloat16", "float32"), math.inf),  # float16 grads times a float32 coef
    ],
)
def test_clip_grad_norm_low_precision_and_mixed_dtypes_as_torch(dtypes, norm_type):
    rng = np.random.default_rng(len(dtypes))
    values = [rng.standard_normal(5) * 30 for _ in dtypes]
    out = []
    for lib in (torch, ember):
        ps = []
        for dt, v in zip(dtypes, values):
            p = lib.nn.Parameter(lib.tensor(v).to(getattr(lib, dt)))
            p.grad = lib.tensor(v).to(getattr(lib, dt))
            ps.append(p)
        fn = torch.nn.utils.clip_grad_norm_ if lib is torch else clip_grad_norm_
        n = fn(ps, 0.7, norm_type=norm_type)
        out.append((str(n.dtype).split(".")[-1], float(n), [p.grad.float().numpy() for p in ps]))
    assert out[1][0] == out[0][0]
    assert out[1][1] == pytest.approx(out[0][1], rel=1e-6)
    for dt, a, b in zip(dtypes, out[1][2], out[0][2]):
        # float16/bfloat16 grads bit for bit; float32/64 within an ulp of the total norm's
        np.testing.assert_allclose(a, b, rtol=0 if dt in ("float16", "bfloat16") else 3e-7)
