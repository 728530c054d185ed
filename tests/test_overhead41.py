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


def _both(fn):
    """fn(lib) for ember and torch: (result, None) or (None, exception type)."""
    out = []
    for lib in (ember, torch):
        try:
            out.append((fn(lib), None))
        except Exception as e:  # noqa: BLE001  (the type is compared)
            out.append((None, e))
    return out


def _arange(lib, *shape):
    return lib.arange(float(np.prod(shape))).reshape(*shape)


OVERLAPS = {
    "add_flip": lambda lib, a: a.add_(a.flip(0)),
    "add_self": lambda lib, a: a.add_(a),
    "copy_shift_right": lambda lib, a: a[1:].copy_(a[:-1]),
    "copy_shift_left": lambda lib, a: a[:-1].copy_(a[1:]),
    "add_shift": lambda lib, a: a[1:].add_(a[:-1]),
    "mul_shift": lambda lib, a: a[1:].mul_(a[:-1]),
    "add_first": lambda lib, a: a.add_(a[0]),
    "add_first_slice": lambda lib, a: a.add_(a[:1]),
    "sub_alpha_first": lambda lib, a: a.sub_(a[0], alpha=2),
    "copy_self": lambda lib, a: a.copy_(a),
    "setitem_shift": lambda lib, a: a.__setitem__(slice(1, None), a[:-1]),
    "setitem_first": lambda lib, a: a.__setitem__(slice(1, None), a[0]),
    "setitem_self": lambda lib, a: a.__setitem__(Ellipsis, a),
    "iadd_shift": lambda lib, a: a[1:].__iadd__(a[:-1]),
    "copy_disjoint": lambda lib, a: a[:2].copy_(a[3:]),
}
OVERLAPS_2D = {
    "mul_t": lambda lib, a: a.mul_(a.t()),
    "add_t": lambda lib, a: a.add_(a.t()),
    "copy_t": lambda lib, a: a.copy_(a.t()),
    "imul_t": lambda lib, a: a.__imul__(a.t()),
    "iadd_self": lambda lib, a: a.__iadd__(a),
    "add_row_broadcast": lambda lib, a: a[1:].add_(a[0]),
}


@pytest.mark.parametrize("case", sorted(OVERLAPS) + sorted(OVERLAPS_2D))
def test_inplace_overlap_as_torch(case):
    fn = OVERLAPS.get(case) or OVERLAPS_2D[case]
    shape = (5,) if case in OVERLAPS else (3, 3)

    def run(lib):
        a = _arange(lib, *shape)
        fn(lib, a)
        return a.tolist()

    (e, ee), (t, te) = _both(run)
    if te is not None:
        assert isinstance(ee, RuntimeError), ee
        assert "single memory location" in str(ee)
    else:
        assert ee is None and e == t


def test_inplace_overlap_recorded_refused_as_torch():
    for lib in (ember, torch):
        a = lib.arange(5.0, requires_grad=True) * 1
        with pytest.raises(RuntimeError, match="single memory location"):
            a[1:].add_(a[:-1])


ELLIPSES = [
    (Ellipsis, Ellipsis),
    (Ellipsis, 0, Ellipsis),
    (None, Ellipsis, None, Ellipsis),
    (Ellipsis, None, Ellipsis),
    (0, Ellipsis, Ellipsis),
    (Ellipsis, Ellipsis, Ellipsis),
    (Ellipsis, 1, Ellipsis),
    (Ellipsis, Ellipsis, 0),
    (0, Ellipsis, Ellipsis, 0),
    (Ellipsis, slice(1, 3), Ellipsis),
]


@pytest.mark.parametrize("key", ELLIPSES, ids=str)
@pytest.mark.parametrize("rg", [False, True])
def test_several_ellipses_as_torch(key, rg):
    (e, ee), (t, te) = _both(lambda lib: _arange(lib, 2, 3, 4).requires_grad_(rg)[key])
    if te is not None:
        assert isinstance(ee, IndexError)
        return
    assert ee is None
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())
    if rg:
        assert e.grad_fn.name() == t.grad_fn.name()


@pytest.mark.parametrize("key", ELLIPSES[:7], ids=str)
def test_several_ellipses_setitem_as_torch(key):
    def run(lib):
        y = lib.zeros(2, 3, 4)
        y[key] = 7.0
        return y.numpy()

    (e, ee), (t, te) = _both(run)
    assert ee is None and te is None
    np.testing.assert_array_equal(e, t)


@pytest.mark.parametrize("shape", [(0, 3), (2, 0, 3), (0,), (3, 0)])
@pytest.mark.parametrize("key", [None, (slice(None), None), (Ellipsis, None), (None, Ellipsis)])
def test_empty_none_index_strides_as_torch(shape, key):
    e, t = ember.zeros(*shape)[key], torch.zeros(*shape)[key]
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()


SCALAR_LEFT = {
    "int_rsub": lambda x: 2 - x,
    "int_rpow": lambda x: 2**x,
    "np_mul": lambda x: np.float64(2) * x,
    "np_add": lambda x: np.float64(2) + x,
    "np_rsub": lambda x: np.float64(2) - x,
    "np_rpow": lambda x: np.float64(2) ** x,
    "np_div": lambda x: np.float64(2) / x,
    "np32_mul": lambda x: np.float32(2) * x,
    "int64_rpow": lambda x: np.int64(2) ** x,
}


@pytest.mark.parametrize("case", sorted(SCALAR_LEFT))
def test_number_on_the_left_nodes_as_torch(case):
    fn = SCALAR_LEFT[case]
    (xe, xt) = _pair((3,), np.float32, 5)
    ye, yt = fn(xe), fn(xt)
    assert isinstance(ye, ember.Tensor) and ye.dtype == ember.float32
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-6)
    assert ye.grad_fn.name() == yt.grad_fn.name()
    ne = [None if f is None else f.name() for f, _ in ye.grad_fn.next_functions]
    nt = [None if f is None else f.name() for f, _ in yt.grad_fn.next_functions]
    assert ne == nt
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-5)


def test_index_add_empty_self_as_torch():
    for shape, dim, src in (((0,), 0, (0,)), ((0, 3), 1, (0, 1))):
        idx = [] if src[dim] == 0 else [0]
        e = ember.zeros(*shape).index_add_(dim, ember.tensor(idx, dtype=ember.int64),
                                           ember.zeros(*src))  # fmt: skip
        t = torch.zeros(*shape).index_add_(dim, torch.tensor(idx, dtype=torch.int64),
                                           torch.zeros(*src))  # fmt: skip
        assert e.shape == tuple(t.shape)
    with pytest.raises(IndexError):
        ember.zeros(0).index_add_(0, ember.tensor([0]), ember.ones(1))


@pytest.mark.parametrize("value", [2**40, 70000.0, float("inf"), -65504.0, 1e-8])
def test_full_float16_value_as_torch(value):
    (e, ee), (t, te) = _both(lambda lib: lib.full((2,), value, dtype=lib.float16))
    if te is not None:
        assert isinstance(ee, RuntimeError)
    else:
        assert ee is None
        np.testing.assert_array_equal(e.numpy(), t.numpy())


@pytest.mark.parametrize(
    "shape,size", [((32,), (4, 32)), ((1, 3), (2, 4, 3)), ((2, 3), (5, 2, 3)), ((3, 1), (3, 4))]
)
@pytest.mark.parametrize("rg", [False, True])
def test_expand_as_torch(shape, size, rg):
    (e, t) = _pair(shape, np.float32, 6, rg)
    ye, yt = e.expand(*size), t.expand(*size)
    assert ye.shape == tuple(yt.shape) and ye.stride() == yt.stride()
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    assert ye.requires_grad == yt.requires_grad
    if rg:
        assert ye.grad_fn.name() == yt.grad_fn.name()
    for y in (ye, yt):  # (a write into repeated elements: torch's refusal)
        with pytest.raises(RuntimeError):
            y.detach().add_(1.0)


@pytest.mark.parametrize("dims", [(0, -1), (1, 2), (0, 1), (-2, -1)])
def test_flatten_views_as_torch(dims):
    e = ember.arange(24.0).reshape(2, 3, 4)
    t = torch.arange(24.0).reshape(2, 3, 4)
    for a, b in ((e, t), (e.transpose(0, 2), t.transpose(0, 2)), (e[:, 1:], t[:, 1:])):
        ya, yb = a.flatten(*dims), b.flatten(*dims)
        assert ya.shape == tuple(yb.shape) and ya.stride() == yb.stride()
        np.testing.assert_array_equal(ya.numpy(), yb.numpy())
        assert (ya._base is None) == (yb._base is None)
        if yb._base is not None:  # (a view writes through, as torch's)
            ya.zero_()
            yb.zero_()
            np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("rg", [False, True])
def test_index_copy_out_of_place_as_torch(dim, rg):
    (xe, xt) = _pair((5, 4), np.float64, 7, rg)
    idx = [3, 0, 3] if dim == 0 else [1, 2, 1]
    shape = (3, 4) if dim == 0 else (5, 3)
    (se, st) = _pair(shape, np.float64, 8, rg)
    ye = xe.index_copy(dim, ember.tensor(idx), se)
    yt = xt.index_copy(dim, torch.tensor(idx), st)
    np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
    assert ye.stride() == yt.stride()
    np.testing.assert_array_equal(xe.detach().numpy(), xt.detach().numpy())  # (x unchanged)
    if rg:
        assert ye.grad_fn.name() == yt.grad_fn.name()
    with pytest.raises(IndexError):
        xe.detach().index_copy(dim, ember.tensor([9, 0, 1]), se.detach())
    with pytest.raises(IndexError):
        xt.detach().index_copy(dim, torch.tensor([9, 0, 1]), st.detach())


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize("idx", [[1, 1, 4], [0, -1], [3]])
@pytest.mark.parametrize("row", [False, True])
def test_index_put_rows_as_torch(accumulate, idx, row):
    out = []
    for lib in (ember, torch):
        x = lib.arange(15.0).reshape(5, 3)
        v = lib.arange(3.0) + 10 if row else lib.arange(3.0 * len(idx)).reshape(len(idx), 3)
        before = x._version
        r = x.index_put_((lib.tensor(idx),), v, accumulate=accumulate)
        assert r is x
        out.append((x.numpy().copy(), x._version - before))
        with pytest.raises(IndexError):
            x.index_put_((lib.tensor([7]),), v[..., :3] if row else v[:1], accumulate=accumulate)
    if accumulate or len(set(idx)) == len(idx):  # (repeats without accumulate: any one wins)
        np.testing.assert_array_equal(out[0][0], out[1][0])
    assert out[0][1] == out[1][1]


def test_index_put_rows_overlap_and_graph_as_before():
    x = ember.arange(15.0).reshape(5, 3)
    with pytest.raises(RuntimeError):  # (values sharing x's memory: refused as torch)
        x.index_put_((ember.tensor([0]),), x[1], accumulate=True)
    xe, xt = _pair((5, 3), np.float64, 9)
    ve, vt = _pair((2, 3), np.float64, 10)
    ye, yt = xe * 1, xt * 1
    ye.index_put_((ember.tensor([0, 0]),), ve, accumulate=True)
    yt.index_put_((torch.tensor([0, 0]),), vt, accumulate=True)
    assert ye.grad_fn.name() == yt.grad_fn.name()
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_array_equal(ve.grad.numpy(), vt.grad.numpy())


@pytest.mark.parametrize(
    "key",
    [(Ellipsis, 0), (0, Ellipsis), (Ellipsis, 1, 2), (1, Ellipsis, 3), (1, 2, 3, Ellipsis)],
    ids=str,
)
def test_one_ellipsis_views_as_torch(key):
    e, t = ember.arange(24.0).reshape(2, 3, 4), torch.arange(24.0).reshape(2, 3, 4)
    ye, yt = e[key], t[key]
    assert ye.shape == tuple(yt.shape) and ye.stride() == yt.stride()
    ye.add_(100)  # (a view: x changes, as torch's)
    yt.add_(100)
    np.testing.assert_array_equal(e.numpy(), t.numpy())
