"""Round 42 fuzz against torch 2.13: custom Function nodes, the linalg *_ex partial results,
cholesky(upper=True), NAdam's low-precision steps, reentrant checkpoint, autograd corners and
linalg over random batched shapes (values, gradients by gradcheck)."""

import math
import warnings

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


def _np(x):
    if isinstance(x, torch.Tensor):
        return x.detach().resolve_conj().numpy()
    return x.detach().numpy()


def _same(t, e, tol=1e-8):
    """Equal shapes and dtypes; values close, NaN and inf in the same places."""
    t, e = _np(t), _np(e)
    assert t.shape == e.shape and t.dtype == e.dtype
    np.testing.assert_array_equal(np.isfinite(t), np.isfinite(e))
    np.testing.assert_array_equal(np.isnan(t), np.isnan(e))
    fin = np.isfinite(t)
    np.testing.assert_allclose(e[fin], t[fin], rtol=tol, atol=tol)
    inf = np.isinf(t)
    np.testing.assert_array_equal(e[inf], t[inf])


# ---- custom Functions ---------------------------------------------------------------------


def _double(lib):
    class Double(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g * 2

    return Double


def test_custom_function_node_class_is_named_as_torch():
    for lib in (torch, ember):
        F = _double(lib)
        y = F.apply(lib.ones(3, requires_grad=True))
        assert type(y.grad_fn).__name__ == "DoubleBackward"
        assert y.grad_fn.name() == "DoubleBackward"
        assert y.grad_fn._forward_cls is F
        assert type(y.grad_fn) is F._backward_cls
        y.sum().backward()


def test_custom_function_wrong_gradient_count_names_the_node():
    class Two(ember.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return g, g

    with pytest.raises(RuntimeError, match="function TwoBackward returned an incorrect number"):
        Two.apply(ember.ones(2, requires_grad=True)).sum().backward()


def test_calling_a_custom_function_instance_is_refused_as_torch():
    for lib in (torch, ember):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's DeprecationWarning on instantiation)
            f = _double(lib)()
        with pytest.raises(RuntimeError, match="^Legacy autograd function with non-static"):
            f(lib.ones(2))


# ---- cholesky(upper=True) and the *_ex partial results ---------------------------------------


def test_cholesky_upper_reads_the_upper_triangle_with_torchs_gradient():
    rng = np.random.default_rng(0)
    for cplx in (False, True):
        A = rng.standard_normal((2, 4, 4)) + (1j * rng.standard_normal((2, 4, 4)) if cplx else 0)
        S = A @ np.conj(np.swapaxes(A, -1, -2)) + 4 * np.eye(4)
        S[..., 0, 3] += 2  # the two triangles differ
        for upper in (False, True):
            t = torch.tensor(S, requires_grad=True)
            e = ember.tensor(S, requires_grad=True)
            lt, le = torch.linalg.cholesky(t, upper=upper), ember.linalg.cholesky(e, upper=upper)
            _same(lt, le, 1e-10)
            w = np.cos(np.arange(16.0)).reshape(4, 4)
            (lt * torch.tensor(w)).real.sum().backward()
            (le * ember.tensor(w)).real.sum().backward()
            _same(t.grad, e.grad, 1e-9)
    H = S + np.conj(np.swapaxes(S, -1, -2))
    x = ember.tensor(H[0] + 8 * np.eye(4), requires_grad=True)
    assert gradcheck(lambda a: ember.linalg.cholesky((a + a.mH) / 2, upper=True), (x,))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_cholesky_ex_partial_factor_where_it_fails_as_torch(dtype):
    rng = np.random.default_rng(1)
    for n in (1, 3, 6, 17):
        A = rng.standard_normal((5, n, n)) + (
            1j * rng.standard_normal((5, n, n)) if dtype == np.complex128 else 0
        )
        H = A @ np.conj(np.swapaxes(A, -1, -2)) + n * np.eye(n)
        for b in range(1, 5):  # a negative pivot somewhere in all but the first
            j = rng.integers(0, n)
            H[b, j, j] = -3.0 * n * rng.random()
        H[4, 0, 0] = np.nan
        H = H.astype(dtype)
        for upper in (False, True):
            t = torch.linalg.cholesky_ex(torch.tensor(H), upper=upper)
            e = ember.linalg.cholesky_ex(ember.tensor(H), upper=upper)
            _same(t.info, e.info, 0)
            _same(t.L, e.L, 1e-4 if dtype == np.float32 else 1e-10)


def _singular(rng, shape, dtype):
    A = rng.standard_normal(shape) + (1j * rng.standard_normal(shape) if dtype.kind == "c" else 0)
    flat = A.reshape(-1, *shape[-2:])
    for b in range(flat.shape[0]):
        if rng.random() < 0.8:  # an exact zero column or row: a zero pivot in any rounding
            i = rng.integers(0, shape[-1])
            if rng.random() < 0.5:
                flat[b][:, i] = 0
            else:
                flat[b][i] = 0
    return A.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.complex128])
def test_inv_ex_and_solve_ex_values_through_a_zero_pivot_as_torch(dtype):
    rng = np.random.default_rng(2)
    dtype = np.dtype(dtype)
    tol = 1e-3 if dtype == np.float32 else 1e-8
    for n, batch in ((1, (3,)), (2, (2, 2)), (4, (5,)), (7, (3,))):
        S = _singular(rng, (*batch, n, n), dtype)
        t, e = torch.linalg.inv_ex(torch.tensor(S)), ember.linalg.inv_ex(ember.tensor(S))
        _same(t.info, e.info, 0)
        _same(t.inverse, e.inverse, tol)
        B = rng.standard_normal((*batch, n, 2)).astype(dtype)
        v = rng.standard_normal((*batch, n)).astype(dtype)
        for left, rhs in ((True, B), (False, np.swapaxes(B, -1, -2)), (True, v)):
            t = torch.linalg.solve_ex(torch.tensor(S), torch.tensor(rhs), left=left)
            e = ember.linalg.solve_ex(ember.tensor(S), ember.tensor(rhs), left=left)
            _same(t.info, e.info, 0)
            _same(t.result, e.result, tol)


def test_inv_ex_gradient_of_the_regular_matrices_in_a_singular_batch():
    S = np.array([[[2.0, 1], [1, 3]], [[1.0, 2], [2, 4]]])
    t, e = torch.tensor(S, requires_grad=True), ember.tensor(S, requires_grad=True)
    torch.linalg.inv_ex(t)[0][0].sum().backward()
    ember.linalg.inv_ex(e)[0][0].sum().backward()
    _same(t.grad[0], e.grad[0])  # (the singular matrix's: torch's NaN, ember's zero)


# ---- optimisers -------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
@pytest.mark.parametrize(
    "kwargs",
    [{}, {"weight_decay": 0.1}, {"weight_decay": 0.1, "decoupled_weight_decay": True},
     {"lr": 0.1, "maximize": True, "momentum_decay": 0.01}],
)  # fmt: skip
def test_nadam_low_precision_steps_match_torch_bit_for_bit(dtype, kwargs):
    # 64 elements: torch's vectorised loop covers them all (its tail rounds add's alpha apart)
    rng = np.random.default_rng(3)
    p0 = rng.standard_normal((8, 8)).astype(np.float32)
    tp = torch.nn.Parameter(torch.tensor(p0).to(getattr(torch, dtype)))
    ep = nn.Parameter(ember.tensor(p0).to(getattr(ember, dtype)))
    to, eo = torch.optim.NAdam([tp], **kwargs), ember.optim.NAdam([ep], **kwargs)
    for _ in range(6):
        g = rng.standard_normal((8, 8)).astype(np.float32)
        tp.grad, ep.grad = torch.tensor(g).to(tp.dtype), ember.tensor(g).to(ep.dtype)
        to.step()
        eo.step()
        np.testing.assert_array_equal(ep.detach().float().numpy(), tp.detach().float().numpy())
    for k in ("exp_avg", "exp_avg_sq"):
        got, want = eo.state[ep][k], to.state[tp][k]
        assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


# ---- checkpoint -------------------------------------------------------------------------------


def test_reentrant_checkpoint_without_grad_inputs_records_nothing_as_torch():
    for lib in (torch, ember):
        from importlib import import_module

        cp = import_module(lib.__name__ + ".utils.checkpoint")
        x, w = lib.tensor([1.0, 2.0]), lib.tensor([1.0, 1.0], requires_grad=True)
        with pytest.warns(UserWarning, match="None of the inputs have requires_grad=True"):
            out, k = cp.checkpoint(lambda a, w=w: ((a * w).exp(), 3), x, use_reentrant=True)
        assert not out.requires_grad and k == 3
        out, k = cp.checkpoint(lambda a, w=w: ((a * w).exp(), 3), x, use_reentrant=False)
        out.sum().backward()
        np.testing.assert_allclose(_np(w.grad), np.exp([1.0, 2.0]) * [1, 2], rtol=1e-6)


# ---- autograd corners against torch -----------------------------------------------------------


def _corners(L):
    out = []
    x = L.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = L.tensor([3.0], requires_grad=True)
    out += L.autograd.grad((x * 2).sum(), [x, y], allow_unused=True)[:1]
    out += L.autograd.grad((x * 2).sum(), [x, y], materialize_grads=True)
    out += L.autograd.grad(x.sin(), x, L.eye(3), is_grads_batched=True)
    h = x * 3
    h.register_hook(lambda g: g * 10)
    out += L.autograd.grad((h * h).sum(), x)
    z = x * 2
    z.retain_grad()
    z.mul_(3)
    z.sum().backward()
    out += [z.grad, x.grad]
    a = x.clone()
    a.mul_(x)
    a.exp_()
    (g,) = L.autograd.grad(a.sum(), x, create_graph=True)
    out += [g, *L.autograd.grad(g.sum(), x)]
    with L.autograd.graph.saved_tensors_hooks(lambda t: t * 2, lambda t: t):
        s = (x * x).sum()
    out += L.autograd.grad(s, x)
    fa = L.autograd.forward_ad
    with fa.dual_level():
        d = fa.make_dual(L.tensor([0.5, 1.5]), L.tensor([1.0, 2.0]))
        for f in (
            lambda t: t.exp() * t.sin(),
            lambda t: t.softmax(0),
            lambda t: t.logsumexp(0),
            lambda t: t.atan2(t + 1),
            lambda t: t.pow(3) / (t + 1),
            lambda t: t.prod(),
            lambda t: t.std(),
        ):
            out.append(fa.unpack_dual(f(d)).tangent)
    return out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # (torch's forward AD internals)
def test_autograd_corners_match_torch():
    for t, e in zip(_corners(torch), _corners(ember), strict=True):
        _same(t, e, 1e-5)


@pytest.mark.parametrize(
    "fn,exc,match",
    [
        (lambda L, x: (x * x).exp().sum().backward() or None, None, None),
        (lambda L, x: (x * 2).backward(), RuntimeError, "implicitly created only for scalar"),
        (lambda L, x: L.autograd.grad((x * 2).sum(), [x, L.ones(1, requires_grad=True)]),
         RuntimeError, "Set allow_unused=True"),
        (lambda L, x: x.mul_(2), RuntimeError, "leaf Variable that requires grad"),
        (lambda L, x: (x * 2).register_post_accumulate_grad_hook(print), RuntimeError,
         "non-leaf|leaves"),
    ],
)  # fmt: skip
def test_autograd_errors_in_torchs_family(fn, exc, match):
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        if exc is None:
            fn(lib, x)
            continue
        with pytest.raises(exc, match=match):
            fn(lib, x)


def test_second_backward_refused_as_torch():
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        y = x.exp().sum()
        y.backward()
        with pytest.raises(RuntimeError, match="backward through the graph a second time"):
            y.backward()


# ---- linalg over random batched shapes --------------------------------------------------------


def _call(lib, f):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # (torch's casting warnings)
            return f(lib)
    except RuntimeError as err:  # (ember's errors are RuntimeErrors too)
        return err


def _linalg_cases(rng, trial):
    """One random configuration's calls, each f(lib)."""
    batch = tuple(int(s) for s in rng.integers(1, 3, size=trial % 3))
    m, k = int(rng.integers(1, 5)), int(rng.integers(1, 5))
    cplx = trial % 4 == 3
    A = rng.standard_normal((*batch, m, k)) + (
        1j * rng.standard_normal((*batch, m, k)) if cplx else 0
    )
    S = rng.standard_normal((*batch, m, m)) + (
        1j * rng.standard_normal((*batch, m, m)) if cplx else 0
    )
    H = S + np.conj(np.swapaxes(S, -1, -2))
    Hj = H.copy()
    Hj[..., 0, -1] += 3  # junk in the upper triangle: UPLO decides
    r = int(rng.integers(0, min(m, k) + 1))
    R = (rng.standard_normal((*batch, m, r)) @ rng.standard_normal((*batch, r, k))) + 0 * A
    Bm = rng.standard_normal((*batch, m, 2)) + 0 * A[..., :1]
    fs = []
    for o in ("fro", "nuc", math.inf, -math.inf, 1, -1, 2, -2):
        fs.append(lambda L, o=o: L.linalg.matrix_norm(L.tensor(A), ord=o, keepdim=True))
        if A.ndim >= 3:
            fs.append(lambda L, o=o: L.linalg.matrix_norm(L.tensor(A), ord=o, dim=(-1, -3)))
    for o in (2, 0, math.inf, -math.inf, 3.5):
        fs.append(
            lambda L, o=o: L.linalg.vector_norm(
                L.tensor(A.astype(np.complex64 if cplx else np.float32)), ord=o, dim=-1,
                dtype=L.complex128 if cplx else L.float64,
            )
        )  # fmt: skip
    for p in (None, "fro", "nuc", math.inf, 1, -1, 2, -2):
        fs.append(lambda L, p=p: L.linalg.cond(L.tensor(S), p=p))
    for kw in ({"atol": 0.5}, {"rtol": 0.3}, {"atol": 0.1, "rtol": 0.5}):
        fs.append(lambda L, kw=kw: L.linalg.pinv(L.tensor(A), **kw))
        fs.append(lambda L, kw=kw: L.linalg.pinv(L.tensor(H), hermitian=True, **kw))
    for drv in ("gelsy", "gelsd", "gelss"):
        fs.append(lambda L, d=drv: L.linalg.lstsq(L.tensor(R), L.tensor(Bm), driver=d)[0])
        fs.append(lambda L, d=drv: L.linalg.lstsq(L.tensor(R), L.tensor(Bm), driver=d)[2])
    scale = float(rng.choice([0.01, 1.0, 20.0]))
    fs.append(lambda L: L.linalg.matrix_exp(L.tensor(S * scale)))
    for up in ("L", "U"):
        fs.append(lambda L, up=up: L.linalg.eigvalsh(L.tensor(Hj), UPLO=up))
        fs.append(lambda L, up=up: L.linalg.eigh(L.tensor(Hj), UPLO=up)[1].abs())
    return fs


def test_linalg_random_shapes_match_torch():
    rng = np.random.default_rng(4)
    checked = 0
    for trial in range(12):
        fs = _linalg_cases(rng, trial)
        for f in fs:
            t, e = _call(torch, f), _call(ember, f)
            if isinstance(t, Exception):
                assert isinstance(e, RuntimeError), (t, e)
            else:
                _same(t, e, 1e-6)
            checked += 1
    assert checked > 400


def test_linalg_gradients_by_gradcheck():
    rng = np.random.default_rng(5)
    for cplx in (False, True):
        A = rng.standard_normal((2, 4, 3)) + (1j * rng.standard_normal((2, 4, 3)) if cplx else 0)
        tau = rng.standard_normal((2, 3)) + (1j * rng.standard_normal((2, 3)) if cplx else 0)
        S = rng.standard_normal((3, 3)) + (1j * rng.standard_normal((3, 3)) if cplx else 0)
        a, t, s = (ember.tensor(v, requires_grad=True) for v in (A, tau, S))
        assert gradcheck(ember.linalg.householder_product, (a, t))
        assert gradcheck(lambda m: ember.linalg.eigvalsh((m + m.mH) / 2, UPLO="U"), (s,))
        assert gradcheck(lambda m: ember.linalg.matrix_exp(2 * m), (s,))
        assert gradcheck(lambda m: ember.linalg.pinv((m + m.mH) / 2, hermitian=True), (s,))
        assert gradcheck(lambda m: ember.linalg.matrix_norm(m, ord=-2, dim=(0, 2)), (a,))
        assert gradcheck(lambda m: ember.linalg.cond(m, p="fro"), (s,))


@pytest.mark.parametrize(
    "a,b",
    [((2, 2, 2), (2, 3)), ((2, 3, 2), (2, 3)), ((1, 3, 2), (3, 5)), ((4, 3, 2), (4, 3)),
     ((3, 3, 2), (3, 3)), ((2, 1, 3, 2), (1, 3, 4)), ((3, 2), (3,)), ((4, 3, 2), (3, 5)),
     ((2, 3, 2), (1, 3)), ((3, 2), (2,)), ((2, 1, 3, 2), (2, 3))],
)  # fmt: skip
def test_lstsq_vector_and_broadcast_rules_as_torch(a, b):
    rng = np.random.default_rng(6)
    A, B = rng.standard_normal(a), rng.standard_normal(b)
    for driver in ("gelsy", "gelsd"):
        t = _call(torch, lambda L, d=driver: L.linalg.lstsq(L.tensor(A), L.tensor(B), driver=d))
        e = _call(ember, lambda L, d=driver: L.linalg.lstsq(L.tensor(A), L.tensor(B), driver=d))
        if isinstance(t, Exception):
            assert isinstance(e, RuntimeError), (t, e)
            continue
        for x, y in zip(t, e, strict=True):
            _same(x, y, 1e-10)
