"""overhead41: the fused addmm family (one node each, as torch's), mm/bmm fronts, and the
behaviour fixes of round 41, each against torch."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _pair(shape, dtype=np.float64, seed=0, rg=True):
    a = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return (
        ember.tensor(a, requires_grad=rg),
        torch.tensor(a, requires_grad=rg),
    )


SCALED = [  # op, input shape, operand shapes
    ("addmm", (3, 5), (3, 4), (4, 5)),
    ("addmm", (5,), (3, 4), (4, 5)),
    ("addmm", (), (3, 4), (4, 5)),
    ("addmm", (3, 1), (3, 4), (4, 5)),
    ("addmv", (3,), (3, 4), (4,)),
    ("addmv", (1,), (3, 4), (4,)),
    ("addr", (3, 5), (3,), (5,)),
    ("addr", (5,), (3,), (5,)),
    ("baddbmm", (2, 3, 5), (2, 3, 4), (2, 4, 5)),
    ("baddbmm", (3, 5), (2, 3, 4), (2, 4, 5)),
    ("addbmm", (3, 5), (2, 3, 4), (2, 4, 5)),
    ("addbmm", (5,), (2, 3, 4), (2, 4, 5)),
]


@pytest.mark.parametrize("op,cs,as_,bs", SCALED)
@pytest.mark.parametrize("beta,alpha", [(1, 1), (0.5, 2.0), (0, 1.5), (2, -1)])
@pytest.mark.parametrize("grads", ["all", "operands", "input", "none"])
def test_scaled_matmul_matches_torch(op, cs, as_, bs, beta, alpha, grads):
    rc = grads in ("all", "input")
    ro = grads in ("all", "operands")
    ce, ct = _pair(cs, seed=1, rg=rc)
    ae, at = _pair(as_, seed=2, rg=ro)
    be, bt = _pair(bs, seed=3, rg=ro)
    ye = getattr(ember, op)(ce, ae, be, beta=beta, alpha=alpha)
    yt = getattr(torch, op)(ct, at, bt, beta=beta, alpha=alpha)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    assert ye.shape == tuple(yt.shape) and ye.dtype == ember.float64
    assert ye.requires_grad == yt.requires_grad
    if not yt.requires_grad:
        return
    assert ye.grad_fn.name() == yt.grad_fn.name()
    kinds = [(f is None, None if f is None else f.name()) for f, _ in ye.grad_fn.next_functions]
    tkinds = [(f is None, None if f is None else f.name()) for f, _ in yt.grad_fn.next_functions]
    assert kinds == tkinds
    g = np.random.default_rng(4).standard_normal(tuple(yt.shape))
    ye.backward(ember.tensor(g))
    yt.backward(torch.tensor(g))
    for e, t in ((ce, ct), (ae, at), (be, bt)):
        if t.grad is None:
            assert e.grad is None
        else:
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("op,cs,as_,bs", SCALED[::2])
def test_scaled_matmul_gradcheck(op, cs, as_, bs):
    c, _ = _pair(cs, seed=1)
    a, _ = _pair(as_, seed=2)
    b, _ = _pair(bs, seed=3)
    fn = lambda c, a, b: getattr(ember, op)(c, a, b, beta=0.5, alpha=1.5)  # noqa: E731
    assert ember.autograd.gradcheck(fn, (c, a, b))
    assert ember.autograd.gradgradcheck(fn, (c, a, b))


def test_scaled_matmul_float32_noncontiguous_and_no_grad():
    ce, ct = _pair((5, 3), np.float32, 1, rg=False)
    ae, at = _pair((4, 3), np.float32, 2, rg=True)
    be, bt = _pair((5, 4), np.float32, 3, rg=True)
    ye = ember.addmm(ce.t(), ae.t(), be.t(), beta=0.25)
    yt = torch.addmm(ct.t(), at.t(), bt.t(), beta=0.25)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert ye.dtype == ember.float32 and ye.is_contiguous()
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(ae.grad.numpy(), at.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(be.grad.numpy(), bt.grad.numpy(), rtol=1e-5, atol=1e-5)
    with ember.no_grad():
        y2 = ember.addmm(ce.t(), ae.t(), be.t(), beta=0.25)
    assert y2.grad_fn is None and not y2.requires_grad
    np.testing.assert_array_equal(y2.numpy(), ye.detach().numpy())


def test_scaled_matmul_beta_zero_ignores_nan_input_and_keeps_input_version():
    c = ember.full((2, 2), float("nan"))
    a, b = ember.ones(2, 3), ember.ones(3, 2)
    np.testing.assert_array_equal(ember.addmm(c, a, b, beta=0).numpy(), np.full((2, 2), 3.0))
    # a write into input after the forward: input is not saved, backward stays valid (torch)
    ce, ct = _pair((2, 2), seed=1)
    ae, at = _pair((2, 3), seed=2)
    be, bt = _pair((3, 2), seed=3)
    outs = []
    for lib, c, a, b in ((ember, ce, ae, be), (torch, ct, at, bt)):
        c2 = c * 1
        y = lib.addmm(c2, a, b)
        with lib.no_grad():
            c2.add_(1)
        y.sum().backward()
        outs.append((a.grad.numpy(), b.grad.numpy(), c.grad.numpy()))
    for e, t in zip(*outs):
        np.testing.assert_allclose(e, t, rtol=1e-12)


@pytest.mark.parametrize("bad", ["shape", "input", "dtype"])
def test_scaled_matmul_bad_input_refused_as_torch(bad):
    c, a, b = np.zeros((3, 5)), np.zeros((3, 4)), np.zeros((4, 5))
    if bad == "shape":
        b = np.zeros((3, 5))
    elif bad == "input":
        c = np.zeros((2, 5))
    else:
        a = a.astype(np.float32)
    with pytest.raises(RuntimeError):
        torch.addmm(torch.tensor(c), torch.tensor(a), torch.tensor(b))
    with pytest.raises(RuntimeError):
        ember.addmm(ember.tensor(c), ember.tensor(a), ember.tensor(b))


@pytest.mark.parametrize("shapes", [((4, 3, 5), (4, 5, 2)), ((3, 5), (5, 2))])
@pytest.mark.parametrize("rg", [True, False])
def test_mm_bmm_fronts_match_torch(shapes, rg):
    (ae, at), (be, bt) = _pair(shapes[0], np.float32, 1, rg), _pair(shapes[1], np.float32, 2)
    op = "bmm" if len(shapes[0]) == 3 else "mm"
    ye, yt = getattr(ember, op)(ae, be), getattr(torch, op)(at, bt)
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-5, atol=1e-5)
    assert (ye.grad_fn is None) == (yt.grad_fn is None)
    if rg:
        assert ye.grad_fn.name() == yt.grad_fn.name()
        ye.sum().backward()
        yt.sum().backward()
        np.testing.assert_allclose(ae.grad.numpy(), at.grad.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(be.grad.numpy(), bt.grad.numpy(), rtol=1e-5, atol=1e-5)
    # strided operands
    ye = getattr(ember, op)(be.detach().transpose(-1, -2), ae.detach().transpose(-1, -2))
    yt = getattr(torch, op)(bt.detach().transpose(-1, -2), at.detach().transpose(-1, -2))
    np.testing.assert_allclose(ye.numpy(), yt.numpy(), rtol=1e-5, atol=1e-5)
