"""The one-node fronts of the small-call conv / pool paths (round 42): conv_transpose3d,
max_pool3d, max_pool1d, adaptive pools, max_unpool and fractional max pooling (C++ forward)
against torch, gradients by finite differences in float64, and their errors."""

import numpy as np
import pytest
from conftest import same_error

import ember
import ember.nn.functional as F
from ember.autograd import gradcheck, gradgradcheck

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _pair(rng, shape, dt, grad=True):
    x = rng.standard_normal(shape).astype(dt)
    return ember.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)


def _close(e, t, dt):
    tol = 1e-10 if dt == np.float64 else 2e-5
    np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=tol, atol=tol)


def _backward_both(rng, ey, ty):
    g = rng.standard_normal(ty.shape).astype(ty.detach().numpy().dtype)
    ey.backward(ember.tensor(g))
    ty.backward(torch.tensor(g))


def _distinct(rng, shape):
    """float64 values with no ties (max pools' finite differences need a unique argmax)."""
    return ember.tensor(
        rng.permutation(int(np.prod(shape))).reshape(shape) / 7.0, requires_grad=True
    )


# (x shape, Cout, groups, kernel, stride, padding, output_padding, dilation, bias)
CT3 = [
    ((1, 3, 4, 8, 8), 4, 1, 3, 2, 0, 0, 1, False),
    ((2, 4, 3, 5, 4), 6, 2, (2, 3, 2), (2, 1, 3), (1, 1, 0), (1, 0, 2), (1, 2, 1), True),
    ((1, 2, 2, 3, 3), 2, 1, 3, 1, 1, 0, 2, True),
    ((3, 2, 3, 3, 2), 4, 2, 1, (3, 2, 2), 0, (2, 1, 0), 1, True),
]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("case", CT3)
def test_conv_transpose3d_matches_torch(rng, dt, case):
    shape, cout, g, k, s, p, o, d, bias = case
    k3 = (k,) * 3 if isinstance(k, int) else k
    ex, tx = _pair(rng, shape, dt)
    ew, tw = _pair(rng, (shape[1], cout // g, *k3), dt)
    eb, tb = _pair(rng, (cout,), dt) if bias else (None, None)
    ey = F.conv_transpose3d(ex, ew, eb, s, p, o, g, d)
    ty = TF.conv_transpose3d(tx, tw, tb, s, p, o, g, d)
    _close(ey, ty, dt)
    assert ey.grad_fn.name() == ty.grad_fn.name()
    _backward_both(rng, ey, ty)
    for e, t in [(ex, tx), (ew, tw)] + ([(eb, tb)] if bias else []):
        _close(e.grad, t.grad, dt)
    with ember.no_grad():  # the no-graph call too
        _close(F.conv_transpose3d(ex, ew, eb, s, p, o, g, d), ty, dt)


@pytest.mark.parametrize("case", CT3[1:])
def test_conv_transpose3d_gradcheck(rng, case):
    shape, cout, g, k, s, p, o, d, bias = case
    k3 = (k,) * 3 if isinstance(k, int) else k
    x = ember.tensor(rng.standard_normal((1, shape[1], 2, 2, 2)), requires_grad=True)  # (batch 1)
    w = ember.tensor(rng.standard_normal((shape[1], cout // g, *k3)), requires_grad=True)
    args = (x, w) + ((ember.tensor(rng.standard_normal(cout), requires_grad=True),) if bias else ())

    def f(x, w, *b):
        return F.conv_transpose3d(x, w, b[0] if b else None, s, p, o, g, d)

    assert gradcheck(f, args)
    if case is CT3[1]:  # (the double backward's recorded composition: one case)
        assert gradgradcheck(f, args)


def test_conv_transpose3d_errors(rng):
    x = lambda lib: lib.tensor(rng.standard_normal((1, 3, 2, 3, 3)).astype(np.float32))  # noqa: E731
    w = lambda lib, c=3: lib.tensor(rng.standard_normal((c, 2, 2, 2, 2)).astype(np.float32))  # noqa: E731
    same_error(
        lambda: F.conv_transpose3d(x(ember), w(ember, 4)),
        lambda: TF.conv_transpose3d(x(torch), w(torch, 4)),
    )
    same_error(
        lambda: F.conv_transpose3d(x(ember), w(ember), stride=2, output_padding=2),
        lambda: TF.conv_transpose3d(x(torch), w(torch), stride=2, output_padding=2),
    )
    same_error(
        lambda: F.conv_transpose3d(x(ember), w(ember), stride=0),
        lambda: TF.conv_transpose3d(x(torch), w(torch), stride=0),
    )
    xd = lambda lib: x(lib).double()  # noqa: E731
    same_error(
        lambda: F.conv_transpose3d(xd(ember), w(ember)),
        lambda: TF.conv_transpose3d(xd(torch), w(torch)),
    )


# (shape, kernel, stride, padding, ceil_mode)
MP3 = [
    ((1, 3, 4, 8, 8), 2, None, 0, False),
    ((2, 2, 5, 7, 6), 3, 2, 1, True),
    ((3, 5, 6, 5), (2, 3, 1), (1, 2, 2), (1, 0, 0), False),
    ((1, 1, 3, 3, 3), 3, 2, 1, True),
    ((2, 3, 6, 20, 20), (3, 2, 3), (2, 2, 1), (1, 1, 0), True),  # (over 4096: two 2-D passes)
]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("case", MP3)
def test_max_pool3d_matches_torch(rng, dt, case):
    shape, k, s, p, cm = case
    ex, tx = _pair(rng, shape, dt)
    with torch.no_grad():
        tx[..., 0, 0] = tx[..., 0, 1]  # ties: the first in (d, h, w) order wins
    ex = ember.tensor(tx.detach().numpy(), requires_grad=True)
    ey, ei = F.max_pool3d(ex, k, s, p, 1, cm, True)
    ty, ti = TF.max_pool3d(tx, k, s, p, 1, cm, True)
    _close(ey, ty, dt)
    np.testing.assert_array_equal(ei.numpy(), ti.numpy())
    assert ey.grad_fn.name() == ty.grad_fn.name()
    _backward_both(rng, ey, ty)
    _close(ex.grad, tx.grad, dt)
    _close(F.max_pool3d(ember.tensor(tx.detach().numpy()), k, s, p, 1, cm), ty, dt)
    if np.prod(shape) > 4096:  # (torch's gradient above; finite differences on small cases)
        return
    x = _distinct(rng, shape)
    assert gradcheck(lambda a: F.max_pool3d(a, k, s, p, 1, cm), (x,))
    assert gradgradcheck(lambda a: F.max_pool3d(a, k, s, p, 1, cm), (x,))


def test_max_pool3d_errors(rng):
    x = lambda lib: lib.tensor(rng.standard_normal((1, 2, 3, 4, 4)).astype(np.float32))  # noqa: E731
    same_error(
        lambda: F.max_pool3d(x(ember), 2, padding=2), lambda: TF.max_pool3d(x(torch), 2, padding=2)
    )
    same_error(lambda: F.max_pool3d(x(ember), 4), lambda: TF.max_pool3d(x(torch), 4))
    same_error(
        lambda: F.max_pool3d(x(ember), 2, stride=0), lambda: TF.max_pool3d(x(torch), 2, stride=0)
    )
    same_error(lambda: F.max_pool3d(x(ember)[0, 0], 2), lambda: TF.max_pool3d(x(torch)[0, 0], 2))


POOLS = [  # (name, ember call, torch call, shapes)
    ("max_pool1d", lambda F_, a: F_.max_pool1d(a, 3, 2, 1, 1, True, True), [(2, 3, 9), (3, 7)]),
    ("max_pool1d_plain", lambda F_, a: F_.max_pool1d(a, 2), [(2, 3, 9), (3, 7)]),
    ("adaptive_avg_pool1d", lambda F_, a: F_.adaptive_avg_pool1d(a, 4), [(2, 3, 9), (3, 7)]),
    (
        "adaptive_max_pool2d",
        lambda F_, a: F_.adaptive_max_pool2d(a, (2, 3), True),
        [(2, 3, 7, 9), (3, 5, 4), (1, 1, 3, 3)],
    ),
    ("adaptive_max_pool2d_plain", lambda F_, a: F_.adaptive_max_pool2d(a, 3), [(2, 3, 7, 9)]),
    (
        "adaptive_avg_pool3d",
        lambda F_, a: F_.adaptive_avg_pool3d(a, (2, 3, 2)),
        [(2, 3, 5, 7, 6), (3, 4, 5, 3)],
    ),
    ("adaptive_avg_pool3d_1", lambda F_, a: F_.adaptive_avg_pool3d(a, 1), [(1, 2, 3, 3, 3)]),
    ("max_pool2d", lambda F_, a: F_.max_pool2d(a, 3, 2, 1, 1, True), [(2, 3, 7, 8), (3, 5, 5)]),
]


@pytest.mark.parametrize("dt", [np.float32, np.float64])
@pytest.mark.parametrize("name,call,shapes", POOLS, ids=[p[0] for p in POOLS])
def test_pool_fronts_match_torch(rng, dt, name, call, shapes):
    first = lambda r: r[0] if isinstance(r, tuple) else r  # noqa: E731
    for shape in shapes:
        ex, tx = _pair(rng, shape, dt)
        eo, to = call(F, ex), call(TF, tx)
        if isinstance(to, tuple):
            np.testing.assert_array_equal(eo[1].numpy(), to[1].numpy())
        ey, ty = first(eo), first(to)
        _close(ey, ty, dt)
        assert ey.grad_fn.name() == ty.grad_fn.name()
        _backward_both(rng, ey, ty)
        _close(ex.grad, tx.grad, dt)
        _close(first(call(F, ember.tensor(tx.detach().numpy()))), ty, dt)
        if dt == np.float64 and shape == shapes[0]:
            x = _distinct(rng, shape)
            assert gradcheck(lambda a: first(call(F, a)), (x,))
            assert gradgradcheck(lambda a: first(call(F, a)), (x,))


@pytest.mark.parametrize(
    "nd,shape,k,s,p,out",
    [
        (2, (2, 3, 7, 9), 3, 2, 1, None),
        (2, (3, 6, 6), 2, None, 0, (7, 7)),
        (1, (2, 3, 9), 2, None, 0, None),
        (3, (1, 2, 4, 6, 6), 2, None, 0, None),
    ],
)
def test_max_unpool_matches_torch(rng, nd, shape, k, s, p, out):
    pool, unpool = f"max_pool{nd}d", f"max_unpool{nd}d"
    ty0, ti = getattr(TF, pool)(
        torch.tensor(rng.standard_normal(shape)), k, s, p, return_indices=True
    )
    ei = ember.tensor(ti.numpy())
    for dt in (np.float32, np.float64):
        ey = ember.tensor(ty0.numpy().astype(dt), requires_grad=True)
        ty = torch.tensor(ty0.numpy().astype(dt), requires_grad=True)
        eo, to = getattr(F, unpool)(ey, ei, k, s, p, out), getattr(TF, unpool)(ty, ti, k, s, p, out)
        _close(eo, to, dt)
        assert eo.grad_fn.name() == to.grad_fn.name()
        _backward_both(rng, eo, to)
        _close(ey.grad, ty.grad, dt)
    if s is None:  # (no overlapping windows: each index once, so finite differences apply)
        y = ember.tensor(ty0.numpy(), requires_grad=True)
        f = lambda a: getattr(F, unpool)(a, ei, k, s, p, out)  # noqa: E731
        assert gradcheck(f, (y,)) and gradgradcheck(f, (y,))
    for bad in (-1, 10**6):
        idx = ti.numpy().copy()
        idx.flat[0] = bad
        with pytest.raises(ValueError, match=f"invalid max index {bad}"):
            getattr(F, unpool)(ember.tensor(ty0.numpy()), ember.tensor(idx), k, s, p, out)


@pytest.mark.parametrize(
    "nd,shape,k,out",
    [
        (2, (2, 3, 9, 7), (3, 2), (4, 3)),
        (2, (3, 6, 6), 2, 3),
        (3, (2, 2, 6, 7, 5), 2, (3, 4, 3)),
        (3, (2, 5, 5, 6), (2, 1, 3), (2, 3, 2)),
        (2, (0, 3, 5, 5), 2, 3),
        (2, (1, 1, 4, 4), 2, 0),
    ],
)
def test_fractional_max_pool_matches_torch(rng, nd, shape, k, out):
    x = rng.standard_normal(shape)
    if x.size:
        x.flat[3] = np.nan  # (a NaN wins its windows, as torch's)
    n, c = (1, shape[0]) if len(shape) == nd + 1 else shape[:2]
    u = rng.random((max(n, 1), c, nd))
    ef, tf = getattr(F, f"fractional_max_pool{nd}d"), getattr(TF, f"fractional_max_pool{nd}d")
    for dt in (np.float32, np.float64):
        ex, tx = (lib.tensor(x.astype(dt), requires_grad=True) for lib in (ember, torch))
        eu, tu = ember.tensor(u.astype(dt)), torch.tensor(u.astype(dt))
        ey, ei = ef(ex, k, output_size=out, return_indices=True, _random_samples=eu)
        ty, ti = tf(tx, k, output_size=out, return_indices=True, _random_samples=tu)
        np.testing.assert_array_equal(ey.detach().numpy(), ty.detach().numpy())
        np.testing.assert_array_equal(ei.numpy(), ti.numpy())
        assert ey.grad_fn.name() == ty.grad_fn.name()
        _backward_both(rng, ey, ty)
        _close(ex.grad, tx.grad, dt)
    if x.size:
        f = lambda a: ef(a, k, output_size=out, _random_samples=ember.tensor(u))  # noqa: E731
        assert gradcheck(f, (_distinct(rng, shape),))
        assert gradgradcheck(f, (_distinct(rng, shape),))


def test_fractional_max_pool_kernel_checks_starts():
    from ember import _C

    x = np.zeros((2, 5, 5), np.float32)
    ok = np.zeros((2, 2), np.int64)
    with pytest.raises(ValueError, match="start 4 out of"):
        _C.fractional_max_pool_forward(x, [ok, np.full((2, 2), 4, np.int64)], [2, 2])
    with pytest.raises(ValueError, match="rows"):
        _C.fractional_max_pool_forward(x, [ok, np.zeros((1, 2), np.int64)], [2, 2])
    with pytest.raises(ValueError, match="kernel size"):
        _C.fractional_max_pool_forward(x, [ok, ok], [2, 6])
    with pytest.raises(TypeError):
        _C.fractional_max_pool_forward(x.astype(np.int32), [ok, ok], [2, 2])


@pytest.mark.parametrize("dt", [np.float32, np.float64])
def test_fractional_intervals_match_numpy_reference(rng, dt):
    from ember import _C

    u = rng.random(257).astype(dt)
    for n_in, n_out, k in [(9, 4, 3), (100, 37, 2), (7, 1, 3), (13, 12, 2), (50, 3, 1)]:
        alpha = dt(n_in - k) / dt(n_out - 1) if n_out > 1 else dt(0)
        i = np.arange(n_out - 1, dtype=dt)
        ref = np.full((u.size, n_out), n_in - k, np.int64)  # PyTorch's formula, in dt
        ref[:, :-1] = ((i + u[:, None]) * alpha).astype(np.int64) - (u * alpha).astype(np.int64)[
            :, None
        ]
        np.testing.assert_array_equal(_C.fractional_intervals(u, n_in, n_out, k), ref)
    with pytest.raises(ValueError, match="kernel"):
        _C.fractional_intervals(u, 3, 2, 4)
