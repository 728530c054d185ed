"""Session 44's linalg / autograd / distributions / optim fuzzing against PyTorch 2.13: each
test pins a mismatch found and fixed here."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _pair(a):
    return ember.tensor(a), torch.tensor(a)


# ---- linalg layouts: torch's LAPACK results are column-major ------------------------------------


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (2, 3, 5), (2, 5, 3), (0, 3, 2)])
@pytest.mark.parametrize("mode", ["reduced", "complete", "r"])
def test_qr_strides_and_values_match_torch(shape, mode):
    a = np.random.default_rng(0).standard_normal(shape)
    e, t = _pair(a)
    eq, er = ember.linalg.qr(e, mode=mode)
    tq, tr = torch.linalg.qr(t, mode=mode)
    assert er.stride() == tr.stride() and eq.shape == tuple(tq.shape)
    if mode != "r":
        assert eq.stride() == tq.stride()
        np.testing.assert_allclose((eq @ er).numpy(), a, atol=1e-12)
    np.testing.assert_allclose(np.abs(er.numpy()), np.abs(tr.numpy()), atol=1e-12)


def test_qr_gradient_unchanged_by_layout():
    a = ember.tensor(np.random.default_rng(1).standard_normal((2, 5, 3)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x: ember.linalg.qr(x).R.sum(), (a,))


@pytest.mark.parametrize(
    "sa, sb", [((5, 3), (5, 2)), ((3, 5), (3, 2)), ((2, 5, 3), (2, 5, 2)), ((4, 5, 3), (4, 5))]
)
@pytest.mark.parametrize("driver", [None, "gels", "gelsd", "gelss"])
def test_lstsq_solution_strides_match_torch(sa, sb, driver):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    e = ember.linalg.lstsq(ember.tensor(a), ember.tensor(b), driver=driver).solution
    t = torch.linalg.lstsq(torch.tensor(a), torch.tensor(b), driver=driver).solution
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    np.testing.assert_allclose(e.numpy(), t.numpy(), atol=1e-10)


def test_lstsq_gradient_unchanged_by_layout():
    rng = np.random.default_rng(3)
    a = ember.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    b = ember.tensor(rng.standard_normal((5, 2)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, y: ember.linalg.lstsq(x, y).solution, (a, b))


# ---- autograd.grad with GradientEdge inputs -----------------------------------------------------


def test_grad_of_gradient_edges_matches_torch():
    from ember.autograd.graph import get_gradient_edge

    x = np.random.default_rng(4).standard_normal(3)
    a, ta = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    b, tb = a * 2, ta * 2
    c, tc = b.exp().sum(), tb.exp().sum()
    got = ember.autograd.grad(c, (get_gradient_edge(b), a), retain_graph=True)
    want = torch.autograd.grad(tc, (torch.autograd.graph.get_gradient_edge(tb), ta))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g.numpy(), w.numpy())
    (g,) = ember.autograd.grad(c, get_gradient_edge(a))  # a leaf's edge: its AccumulateGrad
    np.testing.assert_allclose(g.numpy(), want[1].numpy())


def test_grad_of_edge_of_tuple_output_and_backward_inputs():
    from ember.autograd.graph import get_gradient_edge

    x = np.arange(6.0).reshape(2, 3)
    a, ta = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    u, v = a.unbind(0)
    tu, tv = ta.unbind(0)
    (g,) = ember.autograd.grad((u * v).sum(), get_gradient_edge(v))
    (w,) = torch.autograd.grad((tu * tv).sum(), torch.autograd.graph.get_gradient_edge(tv))
    np.testing.assert_allclose(g.numpy(), w.numpy())
    y = (a * 3).sum()
    ember.autograd.backward(y, inputs=[get_gradient_edge(a)])  # a leaf's edge: into a.grad
    np.testing.assert_allclose(a.grad.numpy(), np.full((2, 3), 3.0))


# ---- custom Functions: Tensors passed by keyword are inputs, as torch's -------------------------


class _Old(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x, y=None, scale=1.0):
        return x * 2 * scale + (y if y is not None else 0)

    @staticmethod
    def backward(ctx, g):
        return g * 2, g, None


class _TOld(torch.autograd.Function):
    forward = _Old.forward

    @staticmethod
    def backward(ctx, g):
        return g * 2, g, None


def test_custom_function_keyword_tensor_gets_an_edge():
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal(3), rng.standard_normal(3)
    ex, ey = ember.tensor(x, requires_grad=True), ember.tensor(y, requires_grad=True)
    tx, ty = torch.tensor(x, requires_grad=True), torch.tensor(y, requires_grad=True)
    out = _Old.apply(ex, scale=2.0, y=ey)
    tout = _TOld.apply(tx, scale=2.0, y=ty)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy())
    assert len(out.grad_fn.next_functions) == len(tout.grad_fn.next_functions) == 2
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(ey.grad.numpy(), ty.grad.numpy())
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy())


def test_custom_function_keyword_errors_match_torch():
    x = ember.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match=r"missing required argument: 'y' \(position 1\)"):
        _Old.apply(x, scale=3.0)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        _Old.apply(x, z=1)
    with pytest.raises(TypeError, match="multiple values for argument 'x'"):
        _Old.apply(x, x=x)


class _New(ember.autograd.Function):
    @staticmethod
    def forward(x, y=None):
        return x * 2 + (y if y is not None else 0)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.n = len(inputs)

    @staticmethod
    def backward(ctx, g):
        return g * 2, g


def test_setup_context_function_keyword_tensor_gets_gradient():
    x, y = ember.ones(2, requires_grad=True), ember.ones(2, requires_grad=True)
    out = _New.apply(x, y=y)
    assert out.grad_fn.n == 2
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 2.0])
    np.testing.assert_allclose(y.grad.numpy(), [1.0, 1.0])


# ---- matrix_exp: no overflow warning from the scaling's norm; float16 right where torch is not --


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_matrix_exp_huge_entries_no_warning(dtype):
    big = float(np.finfo(dtype).max) / 2
    a = np.full((2, 2), big, dtype)  # the 1-norm overflows in the input's own dtype
    got = ember.linalg.matrix_exp(ember.tensor(a)).numpy()  # (warnings are errors here)
    assert got.dtype == dtype and not np.isfinite(got).any()


def test_matrix_exp_float16_values():
    # torch 2.13 computes float16 matrix_exp wrongly (exp(I) = -20896 I); ember's is exp in float16
    a = np.random.default_rng(6).standard_normal((2, 3, 3)) * 0.5
    got = ember.linalg.matrix_exp(ember.tensor(a.astype(np.float16)))
    want = torch.linalg.matrix_exp(torch.tensor(a.astype(np.float16).astype(np.float64)))
    assert got.dtype == ember.float16
    np.testing.assert_allclose(got.numpy().astype(np.float64), want.numpy(), rtol=5e-3, atol=5e-3)
    big = ember.linalg.matrix_exp(ember.tensor(np.full((3, 3), 1e4, np.float16))).numpy()
    assert np.isposinf(big).all()  # (torch: NaN; the exact result overflows to +inf)


# ---- ldl_factor / ldl_solve of size-0 matrices ---------------------------------------------------


@pytest.mark.parametrize("shape", [(2, 0, 0), (0, 2, 2), (0, 0)])
def test_ldl_of_empty_matrices_matches_torch(shape):
    e = ember.linalg.ldl_factor(ember.zeros(*shape, dtype=ember.float64))
    t = torch.linalg.ldl_factor(torch.zeros(*shape, dtype=torch.float64))
    assert e.LD.shape == tuple(t.LD.shape) and e.pivots.shape == tuple(t.pivots.shape)
    b = shape[:-1] + (3,)
    x = ember.linalg.ldl_solve(e.LD, e.pivots, ember.zeros(*b, dtype=ember.float64))
    assert x.shape == tuple(torch.linalg.ldl_solve(*t, torch.zeros(*b, dtype=torch.float64)).shape)


@pytest.mark.parametrize(
    "name, fn, shapes",
    [
        ("inv", lambda L, a: L.inv(a), [(2, 4, 4)]),
        ("inv_ex", lambda L, a: L.inv_ex(a), [(3, 3)]),
        ("solve", lambda L, a, b: L.solve(a, b), [(2, 4, 4), (2, 4, 3)]),
        ("solve_right", lambda L, a, b: L.solve(a, b, left=False), [(2, 4, 4), (2, 3, 4)]),
        ("cholesky", lambda L, a: L.cholesky(a @ a.mT + 4 * a[0, 0, 0] ** 2 + 4), [(2, 4, 4)]),
        ("eigh", lambda L, a: L.eigh(a + a.mT), [(2, 4, 4)]),
        ("eig", lambda L, a: L.eig(a), [(3, 3)]),
        ("svd", lambda L, a: L.svd(a), [(2, 5, 3)]),
        ("svd_reduced", lambda L, a: L.svd(a, full_matrices=False), [(3, 5)]),
        ("pinv", lambda L, a: L.pinv(a), [(2, 5, 3)]),
    ],
)
def test_lapack_results_strides_match_torch(name, fn, shapes):
    rng = np.random.default_rng(7)
    arrs = [rng.standard_normal(s) for s in shapes]
    e = fn(ember.linalg, *[ember.tensor(a) for a in arrs])
    t = fn(torch.linalg, *[torch.tensor(a) for a in arrs])
    e, t = (e, t) if isinstance(t, tuple) else ((e,), (t,))
    assert [x.stride() for x in e] == [x.stride() for x in t]
    if name in ("inv", "solve", "solve_right", "cholesky"):
        np.testing.assert_allclose(e[0].numpy(), t[0].numpy(), rtol=1e-10, atol=1e-12)
