"""mathfuzz41: linalg / fft / stft / grad-mode and custom Function differences from torch 2.13
found by a randomised sweep, pinned against torch (values, gradients, exception families)."""

import warnings

import numpy as np
import pytest
from conftest import builtin_family, same_error

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")


# ---- grad mode -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["yes", 1, 0, None, 1.0, np.bool_(True)])
def test_set_grad_enabled_takes_a_bool_only(mode):
    with pytest.raises(TypeError):
        torch.set_grad_enabled(mode)
    with pytest.raises(TypeError, match="must be bool"):
        ember.set_grad_enabled(mode)
    assert ember.is_grad_enabled()


@pytest.mark.parametrize("inner", ["enable_grad", "set_grad_enabled"])
def test_enable_grad_inside_inference_mode_records_nothing(inner):
    got = []
    for lib in (torch, ember):
        x = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            with lib.enable_grad() if inner == "enable_grad" else lib.set_grad_enabled(True):
                y = x * 2
                on = lib.is_grad_enabled()
            off = lib.is_grad_enabled()
        got.append((y.requires_grad, y.is_inference(), on, off, lib.is_grad_enabled()))
        z = x * 2  # outside: recorded again
        assert z.requires_grad
    assert got[0] == got[1] == (False, True, True, False, True)


def test_inference_mode_false_inside_inference_mode_records():
    for lib in (torch, ember):
        x = lib.ones(2, requires_grad=True)
        with lib.inference_mode():
            with lib.inference_mode(False):
                y = x * 2
        assert y.requires_grad and not y.is_inference()


# ---- custom Function ------------------------------------------------------------------------


def _fn(lib, kind):
    class F(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            if kind == "list":
                return [x, x * 2]
            if kind == "none":
                return None
            if kind == "int":
                return 3
            return (x * 2, [x * 3])

        @staticmethod
        def backward(ctx, *g):
            return g[0]

    return F


@pytest.mark.parametrize("kind", ["list", "none", "int", "nested"])
@pytest.mark.parametrize("grad", [True, False])
def test_custom_function_non_tensor_outputs_returned_as_is(kind, grad):
    res = []
    for lib in (torch, ember):
        x = lib.ones(2, requires_grad=grad)
        r = _fn(lib, kind).apply(x)
        if kind == "list":
            assert type(r) is list and r[0] is x  # (the caller's tensor itself, as torch)
            assert r[1].grad_fn is None and not r[1].requires_grad
            res.append(r[1].numpy().tolist())
        elif kind == "nested":
            assert type(r) is tuple and type(r[1]) is list
            assert r[0].requires_grad == grad and not r[1][0].requires_grad
            res.append(r[0].detach().numpy().tolist())
        else:
            res.append(r)
    assert res[0] == res[1]


def test_mark_dirty_input_not_returned_refused():
    for lib in (torch, ember):

        class F(lib.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                ctx.mark_dirty(x)
                return x * 2

            @staticmethod
            def backward(ctx, g):
                return g

        for grad in (False, True):
            with pytest.raises(RuntimeError, match="marked as dirty"):
                F.apply(lib.ones(3, requires_grad=grad) * 1)


def _dirty(lib, save):
    class Triple(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            x.mul_(3)
            if save:
                ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * ctx.saved_tensors[0] if save else g * 3

    return Triple


@pytest.mark.parametrize("view", ["row", "col", "chain", "t"])
@pytest.mark.parametrize("save", [False, True])
def test_mark_dirty_on_a_view_of_a_graph_tensor_copyslices(view, save):
    # torch moves the view's base onto the Function (CopySlices): the base's gradient runs
    # through the Function's backward for the view's elements
    rng = np.random.default_rng(4)
    a0, w = rng.standard_normal((3, 4)), np.arange(12.0).reshape(3, 4)
    grads = []
    for lib in (torch, ember):
        a = lib.tensor(a0, requires_grad=True)
        base = a * 1
        if view == "row":
            v = base[1]
        elif view == "col":
            v = base[:, 1]
        elif view == "chain":
            v = base[1:][:, ::2]
        else:
            v = base.t()[1:3]
        r = _dirty(lib, save).apply(v)
        assert r.grad_fn.name() == "AsStridedBackward0"
        ((base * lib.tensor(w)).sum() + (r**2).sum()).backward()
        grads.append((a.grad.numpy(), base.detach().numpy()))
    np.testing.assert_allclose(grads[1][1], grads[0][1])  # the base's values: the view tripled
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-12)


def test_mark_dirty_on_a_view_of_a_leaf_refused():
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="view of a leaf Variable"):
            _dirty(lib, False).apply(lib.ones(4, requires_grad=True)[:2])


# ---- linalg ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dt", [np.float32, np.float64, np.complex64, np.complex128])
@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("left", [True, False])
def test_solve_triangular_zero_diagonal_gives_inf_nan_no_error(dt, upper, left):
    rng = np.random.default_rng(2)
    for shape, bshape in [((3, 3), (3, 2)), ((2, 4, 4), (4, 1)), ((4, 4), (2, 4, 3))]:
        A = rng.standard_normal(shape) + (
            1j * rng.standard_normal(shape) if dt in (np.complex64, np.complex128) else 0
        )
        A = np.triu(A) if upper else np.tril(A)
        A[..., 1, 1] = 0
        B = rng.standard_normal(bshape).astype(dt)
        B = B if left else np.swapaxes(B, -1, -2).copy()
        A = A.astype(dt)
        xt = torch.linalg.solve_triangular(torch.tensor(A), torch.tensor(B), upper=upper, left=left)
        xe = ember.linalg.solve_triangular(ember.tensor(A), ember.tensor(B), upper=upper, left=left)
        np.testing.assert_allclose(xe.numpy(), xt.numpy(), rtol=1e-3, atol=1e-4, equal_nan=True)


def test_solve_triangular_zero_diagonal_gradient_pattern():
    rng = np.random.default_rng(3)
    A0 = np.triu(rng.standard_normal((3, 3))) + 3 * np.eye(3)
    A0[1, 1] = 0
    B0 = rng.standard_normal((3, 2))
    grads = []
    for lib in (torch, ember):
        A, B = lib.tensor(A0, requires_grad=True), lib.tensor(B0, requires_grad=True)
        lib.linalg.solve_triangular(A, B, upper=True).sum().backward()
        grads.append((A.grad.numpy(), B.grad.numpy()))
    for ge, gt in zip(grads[1], grads[0]):
        np.testing.assert_allclose(ge, gt, rtol=1e-10, equal_nan=True)
    # a regular triangular matrix: gradcheck
    A = ember.tensor(np.triu(A0) + np.eye(3), requires_grad=True)
    B = ember.tensor(B0, requires_grad=True)
    assert gradcheck(lambda a, b: ember.linalg.solve_triangular(a, b, upper=True), (A, B))


_NO_KERNEL = [
    ("det", lambda L, A: L.linalg.det(A)),
    ("cholesky", lambda L, A: L.linalg.cholesky(A)),
    ("eigh", lambda L, A: L.linalg.eigh(A)),
    ("svdvals", lambda L, A: L.linalg.svdvals(A)),
    ("qr", lambda L, A: L.linalg.qr(A)),
    ("lu_factor", lambda L, A: L.linalg.lu_factor(A)),
    ("solve", lambda L, A: L.linalg.solve(A, A)),
    ("solve_triangular", lambda L, A: L.linalg.solve_triangular(A, A, upper=True)),
    ("eig", lambda L, A: L.linalg.eig(A)),
    ("cholesky_solve", lambda L, A: L.cholesky_solve(A, A)),
    ("cholesky_inverse", lambda L, A: L.cholesky_inverse(A)),
    ("torch.cholesky", lambda L, A: L.cholesky(A)),
    ("householder_product", lambda L, A: L.linalg.householder_product(A, A[0])),
    ("slogdet", lambda L, A: L.linalg.slogdet(A)),
    ("inv", lambda L, A: L.linalg.inv(A)),
    ("pinv", lambda L, A: L.linalg.pinv(A)),
]


@pytest.mark.parametrize("name,f", _NO_KERNEL, ids=[n for n, _ in _NO_KERNEL])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "int64", "bool"])
def test_linalg_dtype_refusals_are_torchs_family(name, f, dtype):
    At = (torch.eye(3) * 2 + 0.1).to(getattr(torch, dtype))
    Ae = ember.tensor(np.eye(3) * 2 + 0.1).to(getattr(ember, dtype))
    with pytest.raises(Exception) as et:
        f(torch, At)
    with pytest.raises(builtin_family(et.value)):
        f(ember, Ae)


@pytest.mark.parametrize("dtype", ["int64", "bool", "float16", "float32"])
def test_lu_unpack_any_dtype(dtype):
    LU = np.arange(9).reshape(3, 3)
    piv = np.array([2, 3, 3], np.int32)
    out_t = torch.lu_unpack(torch.tensor(LU).to(getattr(torch, dtype)), torch.tensor(piv))
    out_e = ember.lu_unpack(ember.tensor(LU).to(getattr(ember, dtype)), ember.tensor(piv))
    for a, b in zip(out_e, out_t):
        assert str(a.dtype) == str(b.dtype).removeprefix("torch.")
        np.testing.assert_array_equal(a.float().numpy(), b.float().numpy())


def test_vander_refuses_half():
    for dt in ("float16", "bfloat16"):
        same_error(
            lambda dt=dt: ember.linalg.vander(ember.ones(3, dtype=getattr(ember, dt))),
            lambda dt=dt: torch.linalg.vander(torch.ones(3, dtype=getattr(torch, dt))),
        )


def test_norm_argument_errors():
    x2, x1 = np.ones((3, 3)), np.ones(3)
    cases = [
        (lambda L, x: L.linalg.matrix_norm(x, "fro", -1), x1),
        (lambda L, x: L.linalg.matrix_norm(x, 2, -1), x2),
        (lambda L, x: L.linalg.norm(x, None, (0, 1)), x1),
        (lambda L, x: L.linalg.norm(x, None, (-2, -1)), x1),
        (lambda L, x: L.linalg.vector_norm(x, dtype=L.complex128), x2),
        (lambda L, x: L.linalg.matrix_norm(x, dtype=L.complex128), x2),
        (lambda L, x: L.linalg.vector_norm(x.to(L.complex64), dtype=L.float64), x2),
        (lambda L, x: L.linalg.cross(x.bool(), x), x2),
        (lambda L, x: L.cross(x[:2], x[:2]), np.ones((2, 4))),
    ]
    for f, x in cases:
        same_error(
            lambda f=f, x=x: f(ember, ember.tensor(x)), lambda f=f, x=x: f(torch, torch.tensor(x))
        )


@pytest.mark.parametrize("dt", [np.float64, np.complex128])
@pytest.mark.parametrize("shape", [(4, 3), (3, 5), (2, 4, 3)])
def test_svd_full_matrices_extra_columns_gradient_ignored(dt, shape):
    rng = np.random.default_rng(5)
    A0 = rng.standard_normal(shape) + (
        1j * rng.standard_normal(shape) if dt == np.complex128 else 0
    )
    grads = []
    for lib in (torch, ember):
        A = lib.tensor(A0, requires_grad=True)
        U, S, Vh = lib.linalg.svd(A, full_matrices=True)
        (U.abs().sum() + Vh.abs().sum() + S.sum()).backward()
        grads.append(A.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-8, atol=1e-10)


def test_eigh_repeated_eigenvalue_gradients():
    D = np.diag([1.0, 1.0, 2.0])
    out = []
    for lib in (torch, ember):
        for part in (0, 1):
            A = lib.tensor(D, requires_grad=True)
            w, V = lib.linalg.eigh(A)
            (w.sum() if part == 0 else V.abs().sum()).backward()
            out.append(A.grad.numpy())
    np.testing.assert_allclose(out[2], out[0])  # eigenvalues alone: finite, as torch
    assert np.isnan(out[1]).all() and np.isnan(out[3]).all()  # vectors: NaN, as torch
    rng = np.random.default_rng(6)
    H = rng.standard_normal((4, 4))
    A = ember.tensor(H, requires_grad=True)  # (eigh reads one triangle: A + A^T is read)

    def f(a):
        s = a + a.transpose(-1, -2)
        return (ember.linalg.eigh(s)[1] ** 2).sum(-1) + ember.linalg.eigvalsh(s)

    assert gradcheck(f, (A,))


@pytest.mark.parametrize("shape", [(4, 3), (3, 4), (2, 3, 3), (0, 2)])
@pytest.mark.parametrize("some", [True, False])
def test_torch_svd_compute_uv_false(shape, some):
    A = np.random.default_rng(7).standard_normal(shape)
    rt = torch.svd(torch.tensor(A), some=some, compute_uv=False)
    re = ember.svd(ember.tensor(A), some=some, compute_uv=False)
    for a, b in zip(re, rt):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-12)


# ---- fft / stft -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["fft", "rfft", "ihfft", "fft2", "rfftn", "irfftn", "hfftn"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_fft_refuses_half(name, dtype):
    same_error(
        lambda: getattr(ember.fft, name)(ember.ones(4, 4, dtype=getattr(ember, dtype))),
        lambda: getattr(torch.fft, name)(torch.ones(4, 4, dtype=getattr(torch, dtype))),
    )


@pytest.mark.parametrize("name", ["fft", "ifft", "rfft", "irfft", "hfft", "ihfft"])
def test_fft_bad_dim_reported_before_bad_n(name):
    x = np.ones(8)
    for n, dim in [(0, 1), (-1, -3), (0, -1)]:
        same_error(
            lambda n=n, dim=dim: getattr(ember.fft, name)(ember.tensor(x), n=n, dim=dim),
            lambda n=n, dim=dim: getattr(torch.fft, name)(torch.tensor(x), n=n, dim=dim),
        )
    same_error(lambda: ember.fft.fftfreq(-1), lambda: torch.fft.fftfreq(-1))


@pytest.mark.parametrize("n,mode", [(10, "circular"), (0, "circular"), (0, "replicate")])
def test_stft_padding_wider_than_input_refused(n, mode):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        same_error(
            lambda: ember.stft(ember.ones(n), 32, return_complex=True, pad_mode=mode),
            lambda: torch.stft(torch.ones(n), 32, return_complex=True, pad_mode=mode),
        )
    x = np.random.default_rng(8).standard_normal(16)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st = torch.stft(torch.tensor(x), 32, return_complex=True, pad_mode="circular")
        se = ember.stft(ember.tensor(x), 32, return_complex=True, pad_mode="circular")
    np.testing.assert_allclose(se.numpy(), st.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    "sa,sb",
    [((3, 3), (2, 3, 2)), ((2, 1, 3, 3), (4, 3, 1)), ((1, 3, 3), (5, 3, 2)), ((3, 3, 3), (3, 3))],
)
def test_triangular_solves_broadcast_b_as_matrices(sa, sb):
    rng = np.random.default_rng(9)
    A = np.triu(rng.standard_normal(sa)) + 3 * np.eye(3)
    B = rng.standard_normal(sb)
    xt = torch.linalg.solve_triangular(torch.tensor(A), torch.tensor(B), upper=True)
    xe = ember.linalg.solve_triangular(ember.tensor(A), ember.tensor(B), upper=True)
    np.testing.assert_allclose(xe.numpy(), xt.numpy(), rtol=1e-10)
    with warnings.catch_warnings():  # (torch's deprecation warning, once)
        warnings.simplefilter("ignore")
        rt = torch.triangular_solve(torch.tensor(B), torch.tensor(A))
        re = ember.triangular_solve(ember.tensor(B), ember.tensor(A))
    for a, b in zip(re, rt):  # (the copy of A broadcast to the batch, as torch's)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-10)


def test_solve_shape_and_batch_errors_are_torchs_family():
    A, B = np.eye(3)[None].repeat(2, 0) * 2, np.ones((2, 3))
    same_error(
        lambda: ember.linalg.solve_triangular(ember.tensor(A), ember.tensor(B), upper=True),
        lambda: torch.linalg.solve_triangular(torch.tensor(A), torch.tensor(B), upper=True),
    )
    E = np.ones((0, 3, 2))
    cases = [
        lambda L, a, b: L.linalg.lu_solve(*L.linalg.lu_factor(a), b),
        lambda L, a, b: L.cholesky_solve(b, a),
        lambda L, a, b: L.linalg.solve_triangular(a, b, upper=False),
    ]
    for f in cases:
        same_error(
            lambda f=f: f(ember, ember.tensor(A), ember.tensor(E)),
            lambda f=f: f(torch, torch.tensor(A), torch.tensor(E)),
        )
    with pytest.raises(RuntimeError):  # (torch 2.13 crashes here: ember refuses)
        ember.linalg.ldl_solve(*ember.linalg.ldl_factor(ember.tensor(A)), ember.tensor(E))
