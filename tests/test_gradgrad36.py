"""Second derivatives of the ops whose double backward gradgrad36 fixed or added: each against
torch's in float64 (the first gradients with create_graph=True, then the gradients of those
with respect to the inputs and the output gradient), and against finite differences of the
first gradients (gradgradcheck) where the function is smooth at the inputs."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings(r"ignore:index_reduce\(\) is in beta:UserWarning")


def F(lib):
    return lib.nn.functional


def _np(t):
    if t is None:
        return None
    return t.detach().numpy() if isinstance(t, torch.Tensor) else t.numpy()


def _second_order(lib, fn, arrays, seed):
    """First gradients of <fn(xs), v> (recorded) and the gradients of <grads, w> with respect
    to the inputs and v."""
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = fn(lib, *xs)
    rng = np.random.default_rng(seed)
    v = lib.tensor(rng.standard_normal(tuple(out.shape)), requires_grad=True)
    grads = lib.autograd.grad(out, xs, v, create_graph=True, allow_unused=True)
    total = None
    for g, a in zip(grads, arrays):
        if g is not None and g.requires_grad:
            term = (g * lib.tensor(rng.standard_normal(a.shape))).sum()
            total = term if total is None else total + term
    seconds = lib.autograd.grad(total, xs + [v], allow_unused=True)
    return [_np(g) for g in grads], [_np(s) for s in seconds]


def _close(got, want):
    if got is None or want is None:  # no path: zeros
        assert not np.any(got) and not np.any(want)
        return
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-10)


ZEROS = np.array([[0.0, 4.5, -2.1, 0.0], [0.9, 0.0, -6.0, 3.0], [-3.0, 0.0, 1.2, -0.3]])
TIES = np.array([[1.0, 3.0, 3.0, -2.0], [0.5, 0.5, 0.5, 0.5], [-1.0, 2.0, -1.0, 2.0]])
SINGULAR = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]])
GENERAL = np.array([[0.2, -1.0, 0.2], [1.0, 0.1, 0.3], [0.1, 0.2, 1.5]])  # complex eigenvalues
IDX = [[0, 0], [2, 3], [1, 1]]


def _rand(shape, seed, lo=None, hi=None):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape) if lo is None else rng.uniform(lo, hi, shape)


W = _rand((3, 4), 26, 0.5, 2.0)
T_HUBER = _rand((3, 4), 29)
X_HUBER = T_HUBER + np.array([[0.7, 0.0, -0.7, 2.0], [0.3, -1.5, 0.1, -0.2], [1.0, 0.5, -0.9, 0.0]])

NOT_TORCH = "gradgradcheck only"

# name: (fn(lib, *xs), input arrays, gradgradcheck at these inputs? / NOT_TORCH)
CASES = {
    # softplus'(0) was 0 (relu'(0) + abs'(0) in the recomputed forward), so logsigmoid's too,
    # and mish's second derivative at 0 half of torch's
    "softplus@zeros": (lambda L, x: F(L).softplus(x) * (x + 2), [ZEROS], False),
    "softplus_beta": (lambda L, x: F(L).softplus(x, 2.0, 3.0) * x, [_rand((3, 4), 1)], True),
    "logsigmoid@zeros": (lambda L, x: F(L).logsigmoid(x) * (x + 2), [ZEROS], False),
    "logsigmoid": (lambda L, x: F(L).logsigmoid(x) ** 2, [_rand((3, 4), 2)], True),
    "mish@zeros": (lambda L, x: F(L).mish(x) * (x + 2), [ZEROS], False),
    # hardswish' at +-3 was 1.5 / -0.5 (clamp's closed ends); torch's is 1 / 0
    "hardswish@3": (lambda L, x: F(L).hardswish(x) * (x + 2), [ZEROS], False),
    "hardswish": (lambda L, x: F(L).hardswish(x) ** 2, [_rand((3, 4), 3) * 2], True),
    # elu-family second derivative at 0 is 0 (torch's elu_double_backward reads x < 0)
    "elu@zeros": (lambda L, x: F(L).elu(x, 0.7) * (x + 2), [ZEROS], False),
    "celu@zeros": (lambda L, x: F(L).celu(x, 1.3) * (x + 2), [ZEROS], False),
    "selu@zeros": (lambda L, x: F(L).selu(x) * (x + 2), [ZEROS], False),
    "elu_selu_celu": (
        lambda L, x: F(L).elu(x) ** 2 + F(L).selu(x) * x + F(L).celu(x, 0.5) ** 3,
        [_rand((3, 4), 4)],
        True,
    ),  # fmt: skip
    # double backward refused before
    "nan_to_num": (lambda L, x: L.nan_to_num(x**3, posinf=1.0) * x, [_rand((3, 4), 5)], True),
    "gammainc": (
        lambda L, x: L.special.gammainc(L.tensor(np.array([0.7, 1.7, 2.5, 4.0])), x) * x,
        [_rand((3, 1), 6, 0.5, 2.0)],
        True,
    ),  # fmt: skip
    "gammaincc": (
        lambda L, x: L.special.gammaincc(L.tensor(np.full((3, 4), 2.3)), x) ** 2,
        [_rand((3, 4), 7, 0.5, 2.0)],
        True,
    ),  # fmt: skip
    "zeta": (
        lambda L, q: L.special.zeta(L.tensor(np.array([[2.0], [3.5]])), q) * q,
        [_rand((4,), 8, 0.5, 2.0)],
        True,
    ),  # fmt: skip
    "istft": (
        lambda L, a, b: L.istft(L.complex(a, b), 4, 2, window=L.hann_window(4, dtype=a.dtype)) ** 2,
        [_rand((3, 5), 9), _rand((3, 5), 10)],
        True,
    ),  # fmt: skip
    "scatter_reduce_amax": (
        lambda L, x, s: L.scatter_reduce(x, 1, L.tensor(IDX), s, "amax") ** 2,
        [_rand((3, 4), 11), _rand((3, 2), 12)],
        True,
    ),  # fmt: skip
    "scatter_reduce_amax@ties": (
        lambda L, x, s: L.scatter_reduce(x, 1, L.tensor(IDX), s, "amax") ** 2,
        [TIES, np.array([[3.0, 1.0], [0.5, 0.5], [2.0, 2.0]])],
        False,
    ),  # fmt: skip
    "scatter_reduce_amin_noself": (
        lambda L, x, s: (
            L.scatter_reduce(x, 0, L.tensor([[0, 0, 1, 2]]), s, "amin", include_self=False) * x
        ),
        [_rand((3, 4), 13), _rand((1, 4), 14)],
        True,
    ),  # fmt: skip
    "scatter_reduce_prod": (
        lambda L, x, s: L.scatter_reduce(x, 1, L.tensor(IDX), s, "prod") ** 2,
        [_rand((3, 4), 15), _rand((3, 2), 16)],
        True,
    ),  # fmt: skip
    "scatter_reduce_prod@zeros": (  # one zero per target: x's and src's
        lambda L, x, s: L.scatter_reduce(x, 1, L.tensor(IDX), s, "prod", include_self=False) * x,
        [ZEROS, np.array([[0.0, 1.5], [0.0, 2.0], [2.0, -0.5]])],
        True,
    ),  # fmt: skip
    "index_reduce_prod": (
        lambda L, x, s: L.index_reduce(x, 0, L.tensor([0, 0]), s, "prod") ** 2,
        [_rand((3, 4), 17), _rand((2, 4), 18)],
        True,
    ),  # fmt: skip
    "det@singular": (lambda L, a: L.linalg.det(a * a), [SINGULAR], True),
    # torch's own gradgradcheck fails on these two (its second derivative through det at a
    # singular matrix), so finite differences are the reference
    "det@singular_times_a": (lambda L, a: L.linalg.det(a) * a, [SINGULAR], NOT_TORCH),
    "det@singular_batched": (
        lambda L, a: L.linalg.det(a)[:, None, None] * a,
        [np.stack([SINGULAR, _rand((3, 3), 19)])],
        NOT_TORCH,
    ),  # fmt: skip
    "eig": (
        lambda L, a: (
            L.view_as_real(L.linalg.eigvals(a)) ** 2
            + (L.abs(L.linalg.eig(a)[1]) ** 2).sum(-1, keepdim=True)
        ),
        [GENERAL],
        True,
    ),  # fmt: skip
    "eig_batched": (
        lambda L, a: L.view_as_real(L.linalg.eigvals(a)) ** 3,
        [np.stack([GENERAL, _rand((3, 3), 20)])],
        True,
    ),  # fmt: skip
    "eig_complex_input": (
        lambda L, a, b: L.abs(L.linalg.eig(L.complex(a, b))[1]) ** 2,
        [GENERAL, _rand((3, 3), 21) * 0.3],
        True,
    ),  # fmt: skip
    # einsum with a letter repeated in an operand (a diagonal) refused double backward
    "einsum_trace": (lambda L, a: L.einsum("ii->", a) * a, [_rand((3, 3), 32)], True),
    "einsum_repeated": (
        lambda L, a, b: L.einsum("iij,jk->ik", a, b) ** 2,
        [_rand((3, 3, 2), 33), _rand((2, 4), 34)],
        True,
    ),  # fmt: skip
    "einsum_batched_diagonal": (
        lambda L, a: L.einsum("...ii->...i", a) ** 3,
        [_rand((2, 3, 3), 35)],
        True,
    ),  # fmt: skip
    # huber_loss with a weight (HuberLoss's own node) refused double backward; d = +-delta
    # and d = 0 at two elements
    "huber_loss_weight": (
        lambda L, x, t: (
            sum(
                F(L).huber_loss(x, t, reduction=r, delta=0.7, weight=L.tensor(W)) * k
                for r, k in (("mean", 1.0), ("sum", 0.5))
            )
            + F(L).huber_loss(x, t, reduction="none", delta=0.7, weight=L.tensor(W)) ** 2
        ),
        [X_HUBER, T_HUBER],
        False,
    ),  # fmt: skip
    "huber_loss_weight_smooth": (
        lambda L, x, t: F(L).huber_loss(x, t, reduction="none", delta=0.7, weight=L.tensor(W)),
        [_rand((3, 4), 27), _rand((3, 4), 28)],
        True,
    ),  # fmt: skip
    # the adjoint of the padding row's dropped gradient was the plain gather
    "embedding_padding_idx": (
        lambda L, w: F(L).embedding(L.tensor([[0, 2], [2, 1]]), w, padding_idx=2) ** 2,
        [_rand((3, 4), 22)],
        True,
    ),  # fmt: skip
    # torch's double backward leaves the frequency scaling out (no derivative to check)
    "embedding_scale_grad_by_freq": (
        lambda L, w: (
            F(L).embedding(L.tensor([[0, 2], [2, 2]]), w, padding_idx=0, scale_grad_by_freq=True)
            ** 2
        ),
        [_rand((3, 4), 23)],
        False,
    ),  # fmt: skip
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_match_torch_and_finite_differences(name):
    fn, arrays, smooth = CASES[name]
    seed = sorted(CASES).index(name)
    if smooth is not NOT_TORCH:
        got_first, got_second = _second_order(ember, fn, arrays, seed)
        want_first, want_second = _second_order(torch, fn, arrays, seed)
        for got, want in zip(got_first + got_second, want_first + want_second):
            _close(got, want)
    if smooth:
        xs = [ember.tensor(a, requires_grad=True) for a in arrays]
        assert ember.autograd.gradgradcheck(lambda *t: fn(ember, *t), xs)


@pytest.mark.parametrize("name", ["det@singular_times_a", "scatter_reduce_prod", "eig_batched"])
def test_forward_mode_matches_finite_differences(name):
    """Forward mode (from the double backward) along a random direction; torch's own jvp of
    det at a singular matrix and of scatter_reduce 'prod' fails its gradcheck, so the
    reference is finite differences."""
    fn, arrays, _ = CASES[name]
    xs = [ember.tensor(a, requires_grad=True) for a in arrays]
    assert ember.autograd.gradcheck(lambda *t: fn(ember, *t), xs, check_forward_ad=True)
    if name == "eig_batched":  # complex outputs, and a real function of them
        f = lambda a: ember.linalg.eigvals(a).abs() ** 3  # noqa: E731
        assert ember.autograd.gradcheck(f, xs, check_forward_ad=True)


def test_scatter_reduce_prod_two_zeros_at_a_target_refuses_only_the_next_order():
    """As torch: with create_graph the first gradient is computed, differentiating it raises."""
    x0, s0 = _rand((3, 4), 24), np.array([[0.0, 0.0], [1.0, 2.0], [3.0, 4.0]])
    x, s = (ember.tensor(a, requires_grad=True) for a in (x0, s0))
    out = ember.scatter_reduce(x, 1, ember.tensor(IDX), s, "prod")
    (gs,) = ember.autograd.grad(out.sum(), s, create_graph=True)
    xt, st = (torch.tensor(a, requires_grad=True) for a in (x0, s0))
    out_t = torch.scatter_reduce(xt, 1, torch.tensor(IDX), st, "prod")
    (want,) = torch.autograd.grad(out_t.sum(), st)
    np.testing.assert_allclose(gs.numpy(), want.numpy(), rtol=1e-12)
    with pytest.raises(NotImplementedError, match="more than one zero"):
        ember.autograd.grad((gs * gs).sum(), s)


def test_sinc_second_derivative_at_zero_is_minus_pi_squared_over_three():
    """sinc is smooth at 0: its first gradient there is torch's (0), its second -pi^2 / 3 by
    finite differences (torch's is NaN: its masked constant)."""
    x0 = np.array([0.0, 0.3, -0.7, 0.0, 1.0])
    x, xt = ember.tensor(x0, requires_grad=True), torch.tensor(x0, requires_grad=True)
    (g,) = ember.autograd.grad(ember.sinc(x).sum(), x, create_graph=True)
    (gt,) = torch.autograd.grad(torch.sinc(xt).sum(), xt, create_graph=True)
    np.testing.assert_allclose(g.numpy(), gt.detach().numpy(), rtol=1e-12, atol=1e-15)
    assert not np.signbit(g.numpy()[0])  # +0, as torch's
    (h,) = ember.autograd.grad(g.sum(), x)
    (ht,) = torch.autograd.grad(gt.sum(), xt)
    np.testing.assert_allclose(h.numpy()[[1, 2, 4]], ht.numpy()[[1, 2, 4]], rtol=1e-12)
    np.testing.assert_allclose(h.numpy()[[0, 3]], -(np.pi**2) / 3, rtol=1e-12)
    assert ember.autograd.gradgradcheck(lambda t: ember.sinc(t) * (t + 2), (x,))


def test_pow_exponent_gradient_at_a_zero_base_is_differentiable_in_the_output_gradient():
    """d(a^b)/db is 0 where a == 0 and b >= 0; its derivative in the output gradient is then
    0 (as torch), not the NaN of 0 * log(0)."""
    a0, b0 = np.array([0.0, 0.0, 0.5, 2.0]), np.array([0.5, 2.0, 1.5, -0.5])
    got = []
    for lib in (ember, torch):
        a, b = lib.tensor(a0, requires_grad=True), lib.tensor(b0, requires_grad=True)
        v = lib.tensor(np.array([1.0, -2.0, 0.5, 3.0]), requires_grad=True)
        (gb,) = lib.autograd.grad(lib.pow(a, b), b, v, create_graph=True)
        got.append([_np(gb), _np(lib.autograd.grad(gb.sum(), v)[0])])
    for e, t in zip(*got):
        np.testing.assert_allclose(e, t, rtol=1e-12)


def test_svdvals_gradient_at_repeated_singular_values_with_create_graph():
    """U diag(gS) Vh: defined at repeated singular values (the vectors' 0 / 0 terms made it
    NaN with create_graph=True)."""
    rot = np.array([[0.6, 0.8, 0.0], [-0.8, 0.6, 0.0], [0.0, 0.0, 1.0]])
    a0 = np.stack([np.diag([2.0, 2.0, 1.0]) @ rot, _rand((3, 3), 25)])
    got = []
    for lib in (ember, torch):
        a = lib.tensor(a0, requires_grad=True)
        (g,) = lib.autograd.grad((lib.linalg.svdvals(a) ** 3).sum(), a, create_graph=True)
        got.append(_np(g))
    assert np.isfinite(got[0]).all()
    np.testing.assert_allclose(*got, rtol=1e-10, atol=1e-12)
    a = ember.tensor(a0[1:], requires_grad=True)  # distinct values: second order by differences
    assert ember.autograd.gradgradcheck(lambda t: ember.linalg.svdvals(t) ** 3, (a,))


def test_smooth_l1_loss_double_backward_in_float16_matches_torch():
    """SmoothL1Loss's own node (a 16-bit input) is differentiated twice as torch's."""
    x0, t0 = _rand((3, 4), 30), _rand((3, 4), 31)
    got = []
    for lib in (ember, torch):
        x = lib.tensor(x0.astype(np.float16), requires_grad=True)
        t = lib.tensor(t0.astype(np.float16))
        loss = F(lib).smooth_l1_loss(x, t, beta=0.5, reduction="sum")
        (g,) = lib.autograd.grad(loss, x, create_graph=True)
        (h,) = lib.autograd.grad((g * g).sum(), x)
        got.append((_np(g).astype(np.float64), _np(h).astype(np.float64)))
    for e, t in zip(*got):
        np.testing.assert_allclose(e, t, rtol=2e-3, atol=1e-3)


def test_gammainc_x_gradient_differentiates_in_a_as_torch():
    """Only x's gradient exists (as torch), but it depends on a: its gradient in a is torch's."""
    a0, x0 = np.array([0.7, 1.7, 2.5]), np.array([0.5, 1.2, 3.0])
    got = []
    for lib in (ember, torch):
        a, x = lib.tensor(a0, requires_grad=True), lib.tensor(x0, requires_grad=True)
        (gx,) = lib.autograd.grad(lib.special.gammaincc(a, x).sum(), x, create_graph=True)
        got.append([_np(h) for h in lib.autograd.grad((gx * gx).sum(), [a, x])])
    for e, t in zip(*got):
        np.testing.assert_allclose(e, t, rtol=1e-10)
    with pytest.raises(NotImplementedError, match="first argument"):
        a = ember.tensor(a0, requires_grad=True)
        ember.autograd.grad(ember.special.gammainc(a, ember.tensor(x0)).sum(), a, create_graph=True)
