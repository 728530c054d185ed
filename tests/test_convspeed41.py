"""convspeed41: F.conv2d / F.conv1d take a fast front for the common call (float32/64 contiguous
Tensors, int or tuple arguments), conv1d as one node on (N, C, 1, L) views; avg_pool3d as one
node (two avg_pool2d passes and their backward). Values and gradients against PyTorch (float32
and float64), gradients by finite differences in float64, double backward too; the inputs the
fast front leaves to the full checks still get their errors."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck, gradgradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")

TOL = {np.float32: dict(rtol=1e-4, atol=1e-4), np.float64: dict(rtol=1e-10, atol=1e-10)}

# conv1d: (N, C, L, O, K, stride, padding, dilation, groups); padding may be a string
CONV1D = [
    (1, 3, 8, 4, 3, 1, 0, 1, 1),
    (2, 4, 11, 6, 3, 2, 1, 1, 2),
    (3, 6, 13, 6, 4, 3, 2, 2, 6),
    (2, 2, 9, 5, 3, 1, "same", 2, 1),
    (1, 3, 7, 2, 2, [2], (1,), [1], 1),  # 1-element lists / tuples as torch takes them
]
# conv2d: (N, C, (H, W), O, (KH, KW), stride, padding, dilation, groups)
CONV2D = [
    (1, 3, (8, 8), 4, (3, 3), 1, 0, 1, 1),
    (2, 4, (9, 7), 6, (3, 2), (2, 1), (1, 2), (1, 2), 2),
    (1, 6, (5, 11), 6, (3, 3), 3, [0, 1], 1, 3),
    (2, 2, (6, 6), 3, (2, 3), 1, "valid", 1, 1),
]


def _pair(case, nd, dtype, seed):
    n, c, size, o, k, *_, groups = case
    size, k = (size,) if nd == 1 else size, (k,) if nd == 1 else k
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *size)).astype(dtype)
    w = rng.standard_normal((o, c // groups, *k)).astype(dtype)
    b = rng.standard_normal(o).astype(dtype)
    return x, w, b


def _args(case):
    _, _, _, _, _, s, p, d, g = case
    return dict(stride=s, padding=p, dilation=d, groups=g)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("nd,case", [(1, c) for c in CONV1D] + [(2, c) for c in CONV2D])
@pytest.mark.parametrize("bias", [False, True])
def test_conv_values_and_grads_match_torch(nd, case, dtype, bias):
    x, w, b = _pair(case, nd, dtype, 41)
    kw = _args(case)
    name = f"conv{nd}d"
    ex, ew, eb = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = getattr(F, name)(ex, ew, eb if bias else None, **kw)
    ty = getattr(torch.nn.functional, name)(tx, tw, tb if bias else None, **kw)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL[dtype])
    assert y.grad_fn.name() == ty.grad_fn.name()
    g = np.random.default_rng(7).standard_normal(ty.shape).astype(dtype)
    (y * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for e, t in ((ex, tx), (ew, tw)) + (((eb, tb),) if bias else ()):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **TOL[dtype])
    with ember.no_grad():
        y0 = getattr(F, name)(ex, ew, eb if bias else None, **kw)
    assert not y0.requires_grad
    np.testing.assert_allclose(y0.numpy(), ty.detach().numpy(), **TOL[dtype])


@pytest.mark.parametrize("case", [CONV1D[1], CONV1D[2], CONV1D[3]])
def test_conv1d_gradcheck_and_double_backward(case):
    x, w, b = _pair(case, 1, np.float64, 5)
    kw = _args(case)
    ts = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    fn = lambda x, w, b: F.conv1d(x, w, b, **kw)  # noqa: E731
    assert gradcheck(fn, ts)
    assert gradgradcheck(fn, ts)


def test_conv1d_one_operand_needs_grad():
    x, w, b = _pair(CONV1D[2], 1, np.float64, 9)
    kw = _args(CONV1D[2])
    ex, ew = ember.tensor(x), ember.tensor(w, requires_grad=True)
    tx, tw = torch.tensor(x), torch.tensor(w, requires_grad=True)
    F.conv1d(ex, ew, None, **kw).sum().backward()
    torch.nn.functional.conv1d(tx, tw, None, **kw).sum().backward()
    assert ex.grad is None
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-10, atol=1e-10)


def test_fast_front_leaves_bad_input_to_the_full_checks():
    rng = np.random.default_rng(3)
    x = ember.tensor(rng.standard_normal((1, 4, 6, 6)).astype(np.float32))
    w = ember.tensor(rng.standard_normal((2, 3, 3, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="channels|groups"):
        F.conv2d(x, w)
    w4 = ember.tensor(rng.standard_normal((2, 4, 7, 3)).astype(np.float32))
    with pytest.raises(ValueError):  # kernel larger than the input
        F.conv2d(x, w4)
    w4 = ember.tensor(rng.standard_normal((2, 4, 3, 3)).astype(np.float32))
    with pytest.raises(ValueError):
        F.conv2d(x, w4, stride=0)
    with pytest.raises(ValueError):
        F.conv2d(x, w4, padding=-1)
    with pytest.raises(TypeError):
        F.conv2d(x, ember.tensor(w4.numpy().astype(np.float64)))
    x1 = ember.tensor(rng.standard_normal((2, 4, 9)).astype(np.float32))
    w1 = ember.tensor(rng.standard_normal((3, 2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        F.conv1d(x1, w1)
    with pytest.raises(ValueError):
        F.conv1d(x1, ember.tensor(rng.standard_normal((3, 4, 10)).astype(np.float32)))
    with pytest.raises(ValueError):
        F.conv1d(x1, ember.tensor(rng.standard_normal((3, 4, 3)).astype(np.float32)), groups=0)


# avg_pool3d: (shape, kernel, stride, padding, ceil_mode, count_include_pad, divisor_override)
POOL3D = [
    ((1, 2, 5, 6, 7), 2, None, 0, False, True, None),
    ((2, 3, 7, 5, 6), (3, 2, 3), (2, 1, 2), (1, 0, 1), True, False, None),
    ((2, 1, 6, 7, 5), (2, 3, 2), (3, 2, 1), (1, 1, 0), False, True, 5),
    ((3, 5, 6, 4), 3, 2, 1, True, True, None),  # unbatched
    ((1, 2, 7, 9, 8), (2, 2, 3), (3, 3, 3), 0, True, False, None),  # gaps, clipped last windows
    ((2, 2, 5, 8, 9), (1, 2, 2), (1, 2, 3), 0, False, True, 3),
]


# avg_pool2d with windows that do not overlap and reach no padding (the backward's row runs):
# (shape, kernel, stride, ceil_mode, count_include_pad, divisor_override)
@pytest.mark.parametrize(
    "case",
    [
        ((2, 3, 8, 8), 2, 2, False, True, None),
        ((1, 2, 9, 11), (2, 3), (3, 4), True, False, None),
        ((2, 1, 7, 5), (3, 1), (3, 2), True, True, 2),
        ((3, 10, 6), (1, 2), (2, 2), False, True, None),  # unbatched
    ],
)
def test_avg_pool2d_disjoint_windows_backward(case):
    shape, k, s, *rest = case
    x = np.random.default_rng(21).standard_normal(shape)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.avg_pool2d(ex, k, s, 0, *rest), torch.nn.functional.avg_pool2d(tx, k, s, 0, *rest)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(22).standard_normal(ty.shape)
    (y * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert gradcheck(
        lambda t: F.avg_pool2d(t, k, s, 0, *rest), [ember.tensor(x, requires_grad=True)]
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", POOL3D)
def test_avg_pool3d_matches_torch(case, dtype):
    shape, *args = case
    x = np.random.default_rng(13).standard_normal(shape).astype(dtype)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = F.avg_pool3d(ex, *args)
    ty = torch.nn.functional.avg_pool3d(tx, *args)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **TOL[dtype])
    g = np.random.default_rng(14).standard_normal(ty.shape).astype(dtype)
    (y * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), **TOL[dtype])


def test_avg_pool3d_noncontiguous_gradcheck_and_double_backward():
    x = np.random.default_rng(15).standard_normal((2, 2, 7, 6, 5))
    ex = ember.tensor(x, requires_grad=True)
    fn = lambda t: F.avg_pool3d(t.transpose(2, 4), (2, 3, 2), (1, 2, 2), (1, 1, 0), True)  # noqa: E731
    assert gradcheck(fn, [ex])
    assert gradgradcheck(fn, [ex])
    tx = torch.tensor(x)
    ty = torch.nn.functional.avg_pool3d(tx.transpose(2, 4), (2, 3, 2), (1, 2, 2), (1, 1, 0), True)
    np.testing.assert_allclose(fn(ex).detach().numpy(), ty.numpy(), rtol=1e-10, atol=1e-10)


def test_avg_pool3d_bad_input():
    x = ember.tensor(np.zeros((1, 2, 4, 4, 4), np.float32))
    with pytest.raises(TypeError):
        F.avg_pool3d(x, 2, ceil_mode=1)
    with pytest.raises(ValueError):
        F.avg_pool3d(x, 2, padding=2)
    with pytest.raises(ValueError):
        F.avg_pool3d(ember.tensor(np.zeros((1, 0, 4, 4, 4), np.float32)), 2)


# transposed: (nd, N, Cin, size, Cout/groups, kernel, stride, padding, output_padding, groups,
# dilation)
TRANSPOSED = [
    (1, 1, 3, (8,), 4, (3,), 1, 0, 0, 1, 1),
    (1, 2, 4, (7,), 3, (4,), 2, 1, 1, 2, 1),
    (1, 3, 6, (5,), 2, (3,), [3], (2,), [1], 3, (2,)),
    (2, 1, 3, (5, 6), 4, (4, 4), 2, 1, 0, 1, 1),  # DCGAN-like
    (2, 2, 4, (4, 5), 3, (3, 2), (2, 3), (1, 0), (1, 2), 2, (1, 2)),
    (2, 2, 2, (3, 3), 2, (2, 3), 1, 0, 0, 1, 3),
]


def _transposed_data(case, dtype, seed):
    nd, n, cin, size, cg, k, *_, groups, _ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin, *size)).astype(dtype)
    w = rng.standard_normal((cin, cg, *k)).astype(dtype)
    b = rng.standard_normal(cg * groups).astype(dtype)
    return x, w, b


def _transposed_args(case):
    *_, s, p, o, g, d = case
    return dict(stride=s, padding=p, output_padding=o, groups=g, dilation=d)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", TRANSPOSED)
@pytest.mark.parametrize("bias", [False, True])
def test_conv_transpose_matches_torch(case, dtype, bias):
    x, w, b = _transposed_data(case, dtype, 31)
    kw, name = _transposed_args(case), f"conv_transpose{case[0]}d"
    ex, ew, eb = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = getattr(F, name)(ex, ew, eb if bias else None, **kw)
    ty = getattr(torch.nn.functional, name)(tx, tw, tb if bias else None, **kw)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    assert y.grad_fn.name() == ty.grad_fn.name()
    g = np.random.default_rng(8).standard_normal(ty.shape).astype(dtype)
    (y * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for e, t in ((ex, tx), (ew, tw)) + (((eb, tb),) if bias else ()):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize(
    "case",
    [TRANSPOSED[1], TRANSPOSED[2], (2, 1, 4, (3, 4), 2, (3, 2), (2, 3), (1, 0), (1, 2), 2, (1, 2))],
)
def test_conv_transpose_gradcheck_and_double_backward(case):
    x, w, b = _transposed_data(case, np.float64, 6)
    kw, name = _transposed_args(case), f"conv_transpose{case[0]}d"
    ts = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    fn = lambda x, w, b: getattr(F, name)(x, w, b, **kw)  # noqa: E731
    assert gradcheck(fn, ts)
    assert gradgradcheck(fn, ts)


def test_conv_transpose_bad_input_keeps_its_errors():
    rng = np.random.default_rng(4)
    x = ember.tensor(rng.standard_normal((1, 4, 5)).astype(np.float32))
    w = ember.tensor(rng.standard_normal((3, 2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        F.conv_transpose1d(x, w)
    w = ember.tensor(rng.standard_normal((4, 2, 3)).astype(np.float32))
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose1d(x, w, stride=2, output_padding=2)
    with pytest.raises(ValueError):
        F.conv_transpose1d(x, w, groups=3)
    with pytest.raises(ValueError):
        F.conv_transpose1d(x, w, padding=5)  # negative output size
    with pytest.raises(TypeError):
        F.conv_transpose1d(x, ember.tensor(w.numpy().astype(np.float64)))


# conv3d's fast front: (N, C, (D, H, W), O, kernel, stride, padding, dilation)
CONV3D = [
    (1, 3, (8, 8, 8), 4, (3, 3, 3), 1, 0, 1),
    (2, 2, (5, 7, 6), 3, (2, 3, 1), (2, 1, 3), (1, 0, 1), (1, 2, 1)),
    (1, 4, (6, 5, 7), 17, (3, 2, 3), 2, [1, 2, 0], 1),  # the direct engine's
    (2, 3, (7, 6, 5), 5, (1, 1, 3), 1, (0, 0, 1), (1, 1, 2)),
    (1, 2, (4, 4, 4), 2, (3, 3, 3), 1, 2, 1),  # padding past the kernel's reach
]


def _conv3d_data(case, dtype, seed):
    n, c, size, o, k, *_ = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *size)).astype(dtype)
    w = rng.standard_normal((o, c, *k)).astype(dtype)
    return x, w, rng.standard_normal(o).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV3D)
def test_conv3d_matches_torch(case, dtype):
    x, w, b = _conv3d_data(case, dtype, 17)
    kw = dict(stride=case[5], padding=case[6], dilation=case[7])
    ex, ew, eb = (ember.tensor(a, requires_grad=True) for a in (x, w, b))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y, ty = F.conv3d(ex, ew, eb, **kw), torch.nn.functional.conv3d(tx, tw, tb, **kw)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), **TOL[dtype])
    assert y.grad_fn.name() == ty.grad_fn.name()
    g = np.random.default_rng(18).standard_normal(ty.shape).astype(dtype)
    (y * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    for e, t in ((ex, tx), (ew, tw), (eb, tb)):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), **TOL[dtype])


@pytest.mark.parametrize(
    "case",
    [
        (1, 2, (4, 5, 4), 2, (2, 3, 1), (2, 1, 3), (1, 0, 1), (1, 2, 1)),
        (1, 1, (3, 3, 3), 2, (3, 3, 3), 1, 2, 1),
        (1, 2, (3, 4, 3), 16, (2, 2, 2), 2, 1, 1),  # the direct engine's
    ],
)
def test_conv3d_gradcheck_and_double_backward(case):
    x, w, b = _conv3d_data(case, np.float64, 19)
    kw = dict(stride=case[5], padding=case[6], dilation=case[7])
    ts = [ember.tensor(a, requires_grad=True) for a in (x, w, b)]
    fn = lambda x, w, b: F.conv3d(x, w, b, **kw)  # noqa: E731
    assert gradcheck(fn, ts)
    assert gradgradcheck(fn, ts)


def test_conv3d_nonfinite_weight_as_the_recorded_composition():
    # (torch's result here depends on which of its kernels runs; ember's one-node path must
    # give what its recorded depth-tap composition gives, NaN and inf positions included)
    x, w, b = _conv3d_data(CONV3D[1], np.float32, 20)
    w[1, 0, 0, 1, 0] = np.inf
    w[2, 1, 1, 0, 0] = np.nan
    kw = dict(stride=CONV3D[1][5], padding=CONV3D[1][6], dilation=CONV3D[1][7])
    args = (ember.tensor(x), ember.tensor(w), ember.tensor(b))
    y = F.conv3d(*args, **kw).numpy()
    assert np.isnan(y).any() and np.isinf(y).any()
    np.testing.assert_allclose(y, F.conv3d(*args, **kw, _direct=False).numpy(), rtol=1e-6)


def test_conv3d_bad_input_keeps_its_errors():
    rng = np.random.default_rng(2)
    x = ember.tensor(rng.standard_normal((1, 3, 4, 4, 4)).astype(np.float32))
    with pytest.raises(ValueError, match="channels"):
        F.conv3d(x, ember.tensor(rng.standard_normal((2, 2, 3, 3, 3)).astype(np.float32)))
    with pytest.raises(ValueError, match="larger"):
        F.conv3d(x, ember.tensor(rng.standard_normal((2, 3, 5, 3, 3)).astype(np.float32)))
    with pytest.raises(ValueError):
        F.conv3d(x, ember.tensor(rng.standard_normal((2, 3, 3, 3, 3)).astype(np.float32)), stride=0)


# avg_pool1d as one node: (shape, kernel, stride, padding, ceil_mode, count_include_pad)
@pytest.mark.parametrize(
    "case",
    [
        ((2, 3, 17), 2, None, 0, False, True),
        ((1, 2, 21), 3, 2, 1, True, False),
        ((3, 19), 4, 3, 2, True, True),  # unbatched
    ],
)
def test_avg_pool1d_matches_torch(case):
    shape, *args = case
    x = np.random.default_rng(23).standard_normal(shape)[..., ::2]  # (non-contiguous)
    ex, tx = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.avg_pool1d(ex, *args), torch.nn.functional.avg_pool1d(tx, *args)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert y.grad_fn.name() == ty.grad_fn.name()
    g = np.random.default_rng(24).standard_normal(ty.shape)
    (y * ember.tensor(g)).sum().backward()
    (ty * torch.tensor(g)).sum().backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    fn = lambda t: F.avg_pool1d(t[..., 1:], *args)  # noqa: E731 (a non-contiguous input)
    assert gradcheck(fn, [ember.tensor(x, requires_grad=True)])
    assert gradgradcheck(fn, [ember.tensor(x, requires_grad=True)])
    with pytest.raises(TypeError):
        F.avg_pool1d(ex, 2, ceil_mode=1)
