"""Differences against torch left by the last hunts: complex exp2 and pow at the infinities,
zeta / gammainc gradients to q while x requires grad, creation arguments torch refuses, conv
and transformer constructor errors, Module.to(float64) of complex buffers."""

import warnings

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue

INF, NAN = float("inf"), float("nan")
_Z = [
    complex(INF, 0), complex(-INF, 0), complex(0, INF), complex(INF, INF), complex(NAN, INF),
    complex(1, 2), complex(0, 0), complex(-INF, INF), complex(-0.0, -0.0), complex(INF, NAN),
    complex(-2, -0.0), complex(NAN, 0),
]  # fmt: skip


def _torch():
    return pytest.importorskip("torch")


def _same_bits(got, want):
    """Equal values, NaNs in the same places and the same signs of zero."""
    assert got.dtype == want.dtype
    r = np.float32 if got.dtype == np.complex64 else np.float64
    g, w = got.view(r), want.view(r)
    np.testing.assert_array_equal(np.isnan(g), np.isnan(w))
    ok = ~np.isnan(w)
    np.testing.assert_array_equal(g[ok], w[ok])
    np.testing.assert_array_equal(np.signbit(g[ok]), np.signbit(w[ok]))


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_exp2_at_infinities_matches_torch(dtype):
    torch = _torch()
    z = np.array(_Z, dtype)
    _same_bits(ember.exp2(ember.tensor(z)).numpy(), torch.exp2(torch.from_numpy(z)).numpy())


def test_complex_exp2_gradient_matches_torch():
    torch = _torch()
    z = np.array([0.3 + 0.4j, -1.2 + 2.0j], np.complex128)
    x, t = ember.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
    w = np.array([1.0 - 0.5j, 0.25 + 2j])
    (ember.exp2(x) * ember.tensor(w)).real.sum().backward()
    (torch.exp2(t) * torch.tensor(w)).real.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("e", [0.5, -0.5, -1, 2, 3, -2, 1, 0, -1.0, 2.0, 0.5 + 0j])
@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
def test_complex_pow_number_at_infinities_matches_torch(e, dtype):
    # torch routes x ** 0.5, -0.5, -1 to sqrt / rsqrt / reciprocal and 2, 3, -2 to products
    torch = _torch()
    z = np.array(_Z, dtype)
    want = (torch.from_numpy(z) ** e).numpy()
    _same_bits((ember.tensor(z) ** e).numpy(), want)
    _same_bits(ember.pow(ember.tensor(z), e).numpy(), want)


def test_real_pow_unchanged_and_complex_pow_gradient():
    torch = _torch()
    x = np.array([-INF, -2.0, -0.0, 0.0, 0.5, 3.0, INF, NAN])
    for e in (0.5, -0.5, -1, 2, 3, -2):
        _same_bits(
            (ember.tensor(x) ** e).numpy().astype(np.complex128),
            (torch.from_numpy(x) ** e).numpy().astype(np.complex128),
        )
    z = np.array([0.3 + 0.4j, -1.2 + 2.0j], np.complex128)
    for e in (0.5, -1, 2):
        a, t = ember.tensor(z, requires_grad=True), torch.tensor(z, requires_grad=True)
        (a**e).abs().sum().backward()
        (t**e).abs().sum().backward()
        np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("name", ["zeta", "gammainc", "gammaincc"])
def test_gradient_to_q_while_x_requires_grad(name):
    torch = _torch()
    xv, qv = np.array([2.0, 3.0]), np.array([1.5, 2.0])
    x, q = ember.tensor(xv, requires_grad=True), ember.tensor(qv, requires_grad=True)
    tx, tq = torch.tensor(xv, requires_grad=True), torch.tensor(qv, requires_grad=True)
    f, tf = getattr(ember.special, name), getattr(torch.special, name)
    (gq,) = ember.autograd.grad(f(x, q).sum(), q)
    (tgq,) = torch.autograd.grad(tf(tx, tq).sum(), tq)
    np.testing.assert_allclose(gq.numpy(), tgq.numpy(), rtol=1e-12)
    # x's gradient asked for (grad or backward): refused, as torch
    with pytest.raises(NotImplementedError, match="not implemented"):
        ember.autograd.grad(f(x, q).sum(), x)
    with pytest.raises(NotImplementedError, match="not implemented"):
        f(x, q).sum().backward()
    # x made from w, q from v: grad to v only leaves x's node unrun
    w = ember.tensor(xv, requires_grad=True)
    (gv,) = ember.autograd.grad(f(w * 1.0, q * 1.0).sum(), q)
    np.testing.assert_allclose(gv.numpy(), tgq.numpy(), rtol=1e-12)
    assert ember.autograd.gradcheck(lambda q: f(x.detach(), q), (q,))


@pytest.mark.parametrize("name, kernel", [("gammainc", "igamma_cpu"), ("gammaincc", "igammac_cpu")])
def test_gammainc_refuses_integer_pairs(name, kernel):
    torch = _torch()
    tf, f = getattr(torch.special, name), getattr(ember.special, name)
    for a, b in [([1, 2], [1, 2]), ([True], [1])]:
        with pytest.raises(NotImplementedError, match=f'"{kernel}" not implemented for .Long.'):
            tf(torch.tensor(a), torch.tensor(b))
        with pytest.raises(NotImplementedError, match=f'"{kernel}" not implemented for .Long.'):
            f(ember.tensor(a), ember.tensor(b))
    want = tf(torch.tensor([1.0, 2.0]), torch.tensor([1, 2])).numpy()
    got = f(ember.tensor([1.0, 2.0]), ember.tensor([1, 2])).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_logspace_complex_ends():
    torch = _torch()
    for args, kw in [((0, 1 + 1j, 4), {}), ((1j, 2, 3), {"base": 2}), ((0, 1j, 3), {})]:
        want = torch.logspace(*args, **kw)
        got = ember.logspace(*args, **kw)
        assert got.dtype == np.complex64 and want.dtype == torch.complex64
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    want = torch.logspace(0, 1j, 3, dtype=torch.complex128)
    got = ember.logspace(0, 1j, 3, dtype=np.complex128)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


def test_creation_refuses_what_torch_refuses():
    torch = _torch()
    cases = [
        (lambda L: L.randint(1.5, (2,)), "must be int, not float"),
        (lambda L: L.randint(0, 1.5, (2,)), None),
        (lambda L: L.randint(True, (2,)), "must be int, not bool"),
        (lambda L: L.eye(3, 1.5), None),
        (lambda L: L.tril_indices(3, 3, 1.5), "argument 'offset' .*must be int, not float"),
        (lambda L: L.triu_indices(3.0, 3), "argument 'row' .*must be int, not float"),
        (lambda L: L.scalar_tensor(None), "argument 's' .*must be Number, not NoneType"),
    ]
    for make, match in cases:
        with pytest.raises(TypeError, match=match):
            make(torch)
        with pytest.raises(TypeError, match=match):
            make(ember)
    # what torch takes: a 0-d integer tensor as an int, a 0-d tensor as scalar_tensor's number
    assert ember.randint(ember.tensor(3), (4,)).numpy().max() < 3
    assert ember.eye(ember.tensor(2)).shape == (2, 2)
    assert ember.scalar_tensor(ember.tensor(2.5)).item() == 2.5


@pytest.mark.parametrize("args", [(0, 2**63), (2**63,), (0, 10, 2**63)])
def test_arange_past_int64_refused(args):
    torch = _torch()
    with pytest.raises(RuntimeError, match="without overflow"):
        torch.arange(*args)
    with pytest.raises(BadShapeOrValue, match="without overflow"):
        ember.arange(*args)


def test_tensor_negative_to_uint8_wraps_as_torch():
    torch = _torch()
    for data in ([-1], -1, [-1, 3, -255]):  # (two's complement, as torch's check allows)
        want = torch.tensor(data, dtype=torch.uint8).numpy()
        np.testing.assert_array_equal(ember.tensor(data, dtype=np.uint8).numpy(), want)
    for data in ([-256], [256]):
        with pytest.raises(RuntimeError, match="without overflow"):
            torch.tensor(data, dtype=torch.uint8)
        with pytest.raises(RuntimeError, match="overflow"):
            ember.tensor(data, dtype=np.uint8)


@pytest.mark.parametrize("cls", ["Conv1d", "Conv2d", "Conv3d", "ConvTranspose2d"])
def test_conv_negative_kernel_size_is_runtime_error(cls):
    torch = _torch()
    with pytest.raises(RuntimeError, match="negative dimension"):
        getattr(torch.nn, cls)(1, 1, kernel_size=-1)
    with pytest.raises(BadShapeOrValue, match="kernel_size must be >= 1"):
        getattr(ember.nn, cls)(1, 1, kernel_size=-1)


@pytest.mark.parametrize(
    "make",
    [
        lambda nn: nn.TransformerEncoderLayer(4, 2, activation="bogus"),
        lambda nn: nn.TransformerDecoderLayer(4, 2, activation="bogus"),
        lambda nn: nn.Transformer(4, 2, 1, 1, 8, activation="bogus"),
    ],
)
def test_transformer_bad_activation_is_runtime_error(make):
    torch = _torch()
    with pytest.raises(RuntimeError, match="activation should be relu/gelu"):
        make(torch.nn)
    with pytest.raises(BadShapeOrValue, match="activation should be relu/gelu"):
        make(ember.nn)


def _complex_module(L, dtype):
    m = L.nn.Module()
    m.register_buffer("b", L.tensor(np.array([1 + 2j], dtype)))
    m.p = L.nn.Parameter(L.tensor(np.array([3 - 1j], np.complex64)))
    return m


def test_module_to_real_dtype_casts_complex_like_torch():
    torch = _torch()
    for dt, tdt in [(np.float64, torch.float64), (np.float32, torch.float32)]:
        m, tm = _complex_module(ember, np.complex128), _complex_module(torch, np.complex128)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tm.to(tdt)
        with pytest.warns(UserWarning, match="discards the imaginary part"):
            m.to(dt)
        assert m.p.grad is None
        for name in ("b", "p"):
            got, want = getattr(m, name), getattr(tm, name)
            assert got.dtype == dt and want.dtype == tdt
            np.testing.assert_array_equal(got.numpy(), want.detach().numpy())
        assert isinstance(m.p, ember.nn.Parameter)
    m, tm = _complex_module(ember, np.complex128), _complex_module(torch, np.complex128)
    m.p.grad, tm.p.grad = ember.tensor(np.array([1 - 5j], np.complex64)), torch.tensor([1 - 5j])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        m.to(np.float64), tm.to(torch.float64)
    assert m.p.grad.dtype == np.float64 and tm.p.grad.dtype == torch.float64
    np.testing.assert_array_equal(m.p.grad.numpy(), tm.p.grad.numpy())
    # double() / float() / half() keep complex ones complex, as torch's
    for meth in ("double", "float", "half"):
        m, tm = _complex_module(ember, np.complex128), _complex_module(torch, np.complex128)
        getattr(m, meth)()
        getattr(tm, meth)()
        assert m.b.dtype == np.complex128 and tm.b.dtype == torch.complex128
        assert m.p.dtype == np.complex64 and tm.p.dtype == torch.complex64
