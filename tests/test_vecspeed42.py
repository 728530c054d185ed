"""Broadcast (zero-stride) operands of the fused addcmul / addcdiv / lerp / add-sub-alpha kernels
against torch's bits, their gradients, and torch's OverflowError for huge Python-int pow
operands."""

import numpy as np
import pytest

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")

# every broadcast form: leading, trailing, middle, 0-d, empty, equal
SHAPES = [
    ((64, 96), (96,), (64, 1)),
    ((64, 96), (64, 1), (96,)),
    ((3, 1, 40), (1, 4, 1), (40,)),
    ((5, 7, 3), (5, 1, 3), (1, 7, 1)),
    ((2, 3), (), (2, 1)),
    ((), (4, 5), ()),
    ((0, 3), (3,), (1, 3)),
    ((33,), (33,), (33,)),
]
DTYPES = [np.float32, np.float64]


def _draw(rng, shapes, dt):
    return [
        rng.standard_normal(s).astype(dt) + (0.0 if i < 2 else 3.0) for i, s in enumerate(shapes)
    ]


def _same(e, t):
    e, t = e.numpy(), t.numpy()
    assert e.shape == t.shape
    np.testing.assert_array_equal(e, t)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("shapes", SHAPES)
def test_addc_lerp_broadcast_bits(dt, shapes):
    rng = np.random.default_rng(42)
    arrs = _draw(rng, shapes, dt)
    E = [ember.tensor(a) for a in arrs]
    T = [torch.tensor(a) for a in arrs]
    _same(ember.addcmul(*E, value=0.37), torch.addcmul(*T, value=0.37))
    _same(ember.addcdiv(*E, value=-1.5), torch.addcdiv(*T, value=-1.5))
    _same(ember.lerp(*E), torch.lerp(*T))
    for w in (0.25, 0.75, -2):
        _same(ember.lerp(E[0], E[2], w), torch.lerp(T[0], T[2], w))


@pytest.mark.parametrize("dt", DTYPES)
def test_addc_lerp_strided_views(dt):
    rng = np.random.default_rng(7)
    a = rng.standard_normal((48, 80)).astype(dt)
    b = rng.standard_normal((80, 48)).astype(dt)
    x, y = ember.tensor(a), ember.tensor(b)
    xt, yt = torch.from_numpy(a), torch.from_numpy(b)
    _same(
        ember.addcmul(x, y.t(), x[:, :1], value=2.0),
        torch.addcmul(xt, yt.t(), xt[:, :1], value=2.0),
    )
    _same(
        ember.lerp(x[::2], y.t()[1::2], x[::2, 3:4]),
        torch.lerp(xt[::2], yt.t()[1::2], xt[::2, 3:4]),
    )
    e = ember.addcdiv(x.t(), y, y[:1] + 3)
    t = torch.addcdiv(xt.t(), yt, yt[:1] + 3)
    _same(e, t)
    assert e.stride() == t.stride()


# row lengths a multiple of torch's double vector width (no scalar epilogue: fused throughout)
@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize(
    "sa,sb", [((64, 64), (64,)), ((64, 64), (64, 1)), ((2, 64, 32), (2, 1, 32)), ((4, 64), ())]
)
@pytest.mark.parametrize("fn", ["add", "sub"])
def test_alpha_broadcast_and_graph_bits(dt, sa, sb, fn):
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(sa).astype(dt), rng.standard_normal(sb).astype(dt)
    _same(getattr(ember, fn)(ember.tensor(a), ember.tensor(b), alpha=0.3),
          getattr(torch, fn)(torch.from_numpy(a), torch.from_numpy(b), alpha=0.3))  # fmt: skip
    ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
    ta, tb = (torch.from_numpy(v.copy()).requires_grad_() for v in (a, b))
    ye, yt = getattr(ember, fn)(ea, eb, alpha=0.3), getattr(torch, fn)(ta, tb, alpha=0.3)
    _same(ye.detach(), yt.detach())
    assert ye.grad_fn.name() == yt.grad_fn.name()
    g = rng.standard_normal(ye.shape).astype(dt)
    ge = ember.autograd.grad(ye, [ea, eb], ember.tensor(g))
    gt = torch.autograd.grad(yt, [ta, tb], torch.from_numpy(g))
    for u, v in zip(ge, gt, strict=True):
        np.testing.assert_allclose(u.numpy(), v.numpy(), rtol=1e-5, atol=1e-5)


def test_alpha_fused_single_rounding():
    # float64 a + alpha * b with one rounding: checked with exact rationals
    from fractions import Fraction

    rng = np.random.default_rng(11)
    a = rng.standard_normal((16, 40))
    b = rng.standard_normal((16, 1))
    y = ember.add(ember.tensor(a, requires_grad=True), ember.tensor(b), alpha=0.1).detach().numpy()
    s = Fraction(0.1)
    for i in range(16):
        for j in range(40):
            assert y[i, j] == float(Fraction(a[i, j]) + s * Fraction(b[i, 0]))


@pytest.mark.parametrize("fn", ["add", "sub"])
def test_alpha_gradcheck(fn):
    rng = np.random.default_rng(5)
    a = ember.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((4,)), requires_grad=True)
    assert gradcheck(lambda x, y: getattr(ember, fn)(x, y, alpha=-2.5), (a, b))
    assert gradcheck(lambda x, y: getattr(ember, fn)(y, x, alpha=0.5), (a, b))


def test_addc_lerp_broadcast_gradcheck():
    rng = np.random.default_rng(6)
    x = ember.tensor(rng.standard_normal((3, 1, 4)), requires_grad=True)
    t1 = ember.tensor(rng.standard_normal((5, 1)), requires_grad=True)
    t2 = ember.tensor(rng.standard_normal((4,)) + 3, requires_grad=True)
    assert gradcheck(lambda a, b, c: ember.addcmul(a, b, c, value=0.7), (x, t1, t2))
    assert gradcheck(lambda a, b, c: ember.addcdiv(a, b, c, value=0.7), (x, t1, t2))
    assert gradcheck(lambda a, b, c: ember.lerp(a, b, c), (x, t1, t2))
    assert gradcheck(lambda a, b: ember.lerp(a, b, 0.8), (x, t1))


def test_broadcast_threads_equal():
    rng = np.random.default_rng(9)
    a = ember.tensor(rng.standard_normal((300, 700)).astype(np.float32))
    r = ember.tensor(rng.standard_normal((700,)).astype(np.float32))
    c = ember.tensor(rng.standard_normal((300, 1)).astype(np.float32))
    old = ember.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            ember.set_num_threads(nt)
            outs.append([ember.addcmul(a, r, c).numpy(), ember.lerp(a, c, r).numpy(),
                         ember.sub(a, c, alpha=3).numpy()])  # fmt: skip
    finally:
        ember.set_num_threads(old)
    for u, v in zip(*outs, strict=True):
        np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, x, y: m.addcmul(x, y, x),
        lambda m, x, y: m.lerp(x, y, 0.5),
        lambda m, x, y: m.add(x, y, alpha=2),
    ],
)
def test_broadcast_mismatch_errors(call):
    with pytest.raises(RuntimeError):
        call(torch, torch.ones(3, 4), torch.ones(5))
    with pytest.raises(RuntimeError):
        call(ember, ember.ones(3, 4), ember.ones(5))


@pytest.mark.parametrize("v", [2**64, 10**30, -(2**63) - 1])
@pytest.mark.parametrize("dt", ["float32", "float64", "int64"])
@pytest.mark.parametrize(
    "call",
    [lambda m, v, t: m.pow(v, t), lambda m, v, t: m.pow(t, v), lambda m, v, t: m.float_power(v, t)],
)
def test_pow_huge_int_overflow(v, dt, call):
    with pytest.raises(OverflowError):
        call(torch, v, torch.tensor([1.0, 2.0]).to(getattr(torch, dt)))
    with pytest.raises(OverflowError):
        call(ember, v, ember.tensor([1.0, 2.0]).to(getattr(ember, dt)))


def test_pow_int_range_edges_as_torch():
    for v in (2**63, 2**64 - 1, -(2**63)):
        t, e = torch.tensor([0.5, 1.0]), ember.tensor([0.5, 1.0])
        np.testing.assert_array_equal(ember.pow(v, e).numpy(), torch.pow(v, t).numpy())


@pytest.mark.parametrize("dt", DTYPES)
def test_sign_kernel_as_torch(dt):
    rng = np.random.default_rng(12)
    edge = [0.0, -0.0, np.nan, -np.nan, np.inf, -np.inf, 1e-45, -1e-45, 5e-324, -5e-324, 1.0, -2.5]
    x = np.concatenate([np.array(edge), rng.standard_normal(5000) * 1e3]).astype(dt)
    e, t = ember.sign(ember.tensor(x)).numpy(), torch.sign(torch.from_numpy(x)).numpy()
    np.testing.assert_array_equal(e, t)
    np.testing.assert_array_equal(np.signbit(e), np.signbit(t))  # (+0 for -0 and NaN)
    xg = ember.tensor(x[10:20], requires_grad=True)
    ember.sign(xg).sum().backward()
    np.testing.assert_array_equal(xg.grad.numpy(), np.zeros(10, dt))
