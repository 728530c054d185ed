"""Higher-order gradients (create_graph=True): each op's graph backward against torch in float64
and against finite differences of its first gradient (gradgradcheck); a WGAN-GP step, MAML's
inner step, Hessians and their products against torch; user Functions; the refusals."""

import zlib

import numpy as np
import pytest

import ember
from ember.autograd import functional as AF

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(0)


def _lib_tensors(lib, arrays, requires_grad=True):
    if lib is torch:
        return [torch.tensor(a, requires_grad=requires_grad) for a in arrays]
    return [ember.tensor(a, requires_grad=requires_grad) for a in arrays]


def _np(t):
    if t is None:
        return None
    return t.detach().numpy(force=True) if isinstance(t, torch.Tensor) else t.numpy()


def _second_order(lib, fn, arrays, v, w):
    """The first gradients of <fn(xs), v> (recorded), and the gradients of <grads, w> with
    respect to the inputs and v: every second derivative of fn, projected."""
    xs = _lib_tensors(lib, arrays)
    (vt,) = _lib_tensors(lib, [v])
    grads = lib.autograd.grad(fn(lib, *xs), xs, vt, create_graph=True, allow_unused=True)
    total = None
    for g, wi in zip(grads, w):
        if g is not None and g.requires_grad:
            term = (g * _lib_tensors(lib, [wi], False)[0]).sum()
            total = term if total is None else total + term
    seconds = lib.autograd.grad(total, xs + [vt], allow_unused=True)
    return [_np(g) for g in grads], [_np(g) for g in seconds]


def _assert_close(got, want, rtol=1e-10, atol=1e-10, same_none=False):
    """None (no path to the tensor) equals zeros unless ``same_none``: where torch's graph of
    a gradient differs in shape from ember's (and a path carries zeros only)."""
    if want is None or got is None:
        assert (got is None) == (want is None) or not same_none
        assert not np.any(got) and not np.any(want)
        return
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)


def F(lib):
    return lib.nn.functional


_GRID = np.random.default_rng(4).uniform(-1.1, 1.1, (2, 3, 2, 2))
_ATTN_BIAS = np.random.default_rng(3).standard_normal((2, 1, 5))  # broadcast over the rows


def _svd_terms(L, a):
    """Functions of svd(a) that do not depend on the singular vectors' signs."""
    U, S, Vh = L.linalg.svd(a, full_matrices=False)
    return (U * S**2) @ Vh + (U**2) @ (Vh**2) * S.sum()


POS = "pos"  # inputs drawn in (0.5, 2)
UNIT = "unit"  # inputs drawn in (-0.9, 0.9)

# name: (fn(lib, *xs), input shapes, domain)
OPS = {
    "add_broadcast": (lambda L, x, y: x * x + y, [(3, 4), (4,)], None),
    "sub_broadcast": (lambda L, x, y: (x - y) * x, [(3, 4), (3, 1)], None),
    "mul_broadcast": (lambda L, x, y: x * y * y, [(3, 4), (4,)], None),
    "div": (lambda L, x, y: x / y, [(3, 4), (3, 4)], POS),
    "neg_clone": (lambda L, x: -(x.clone() * x), [(3, 4)], None),
    "pow_int": (lambda L, x: x**3, [(3, 4)], None),
    "pow_float": (lambda L, x: x**2.5, [(3, 4)], POS),
    "pow_tensor": (lambda L, x, y: x**y, [(3, 4), (3, 4)], POS),
    "exp": (lambda L, x: L.exp(x), [(3, 4)], None),
    "log": (lambda L, x: L.log(x), [(3, 4)], POS),
    "sqrt": (lambda L, x: L.sqrt(x), [(3, 4)], POS),
    "abs": (lambda L, x: L.abs(x) * x, [(3, 4)], None),
    "clamp": (lambda L, x: L.clamp(x, -0.5, 0.7) * x, [(3, 4)], None),
    "where": (lambda L, x, y: L.where(x > 0, x * y, y * y), [(3, 4), (4,)], None),
    "floor_sign": (lambda L, x: L.floor(x) * x + L.sign(x) * x * x, [(3, 4)], None),
    "sin_cos_tan": (lambda L, x: L.sin(x) * L.cos(x) + L.tan(x), [(3, 4)], UNIT),
    "tanh_sigmoid": (lambda L, x: L.tanh(x) + L.sigmoid(x * 2), [(3, 4)], None),
    "sinh_cosh": (lambda L, x: L.sinh(x) * L.cosh(x), [(3, 4)], None),
    "asin_acos_atan": (lambda L, x: L.asin(x) * L.acos(x) + L.atan(x), [(3, 4)], UNIT),
    "asinh_atanh": (lambda L, x: L.asinh(x) + L.atanh(x), [(3, 4)], UNIT),
    "acosh": (lambda L, x: L.acosh(x + 1.5), [(3, 4)], POS),
    "log_family": (lambda L, x: L.log1p(x) + L.log2(x) * L.log10(x), [(3, 4)], POS),
    "expm1_exp2": (lambda L, x: L.expm1(x) * L.exp2(x), [(3, 4)], None),
    "rsqrt_reciprocal": (lambda L, x: L.rsqrt(x) + L.reciprocal(x) + L.square(x), [(3, 4)], POS),
    "erf_erfc": (lambda L, x: L.erf(x) * L.erfc(x), [(3, 4)], None),
    "sum_mean": (lambda L, x: (x.sum(1, keepdim=True) * x).mean(0) ** 2, [(3, 4)], None),
    "var_std": (lambda L, x: x.var(1) * x.std(0).sum() + x.var(), [(3, 4)], None),
    "norm2": (lambda L, x: x.norm(dim=1) ** 3 + x.norm(), [(3, 4)], None),
    "norm_p": (lambda L, x: L.norm(x, 3, 1) + L.norm(x * x, 1, 0).sum(), [(3, 4)], None),
    "norm_inf_fractional": (
        lambda L, x: (
            L.norm(x**3, float("inf"), 1)[:, None] * x.sum(0, keepdim=True)
            + L.norm(x, float("-inf")) * x
            + L.norm(x * x, 0.5, 0) ** 2
        ),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "logsumexp": (lambda L, x: L.logsumexp(x, 1) ** 2, [(3, 4)], None),
    "matmul_2d": (lambda L, x, y: (x @ y) ** 2, [(3, 4), (4, 2)], None),
    "matmul_1d": (lambda L, x, y: (x @ y) * (y @ y), [(3, 4), (4,)], None),
    "matmul_batched": (lambda L, x, y: L.tanh(x @ y), [(2, 3, 4), (4, 2)], None),
    "reshape_permute": (lambda L, x: x.reshape(4, 3).permute(1, 0) ** 3, [(3, 4)], None),
    "expand": (lambda L, x: x.expand(2, 3, 4) * x**2, [(1, 4)], None),
    "getitem": (lambda L, x: x[1:, ::2] ** 3 + x[[0, 0, 2]][:, 1:3].sum(), [(3, 4)], None),
    "cat_stack": (
        lambda L, x, y: (
            L.cat([x, y * x], 1) ** 2 + L.stack([x, y], 0).sum(0).sum(1, keepdim=True) ** 3
        ),
        [(3, 2), (3, 2)],
        None,
    ),  # fmt: skip
    "split": (lambda L, x: x.split([1, 3], 1)[1] ** 3 * x.split([1, 3], 1)[0], [(3, 4)], None),
    "gather": (lambda L, x: x.gather(1, L.tensor([[0, 1], [2, 2], [3, 0]])) ** 3, [(3, 4)], None),
    "max_min": (
        lambda L, x: x.max() * x + L.amax(x, (0, 1)) * x + L.amin(x, 1, keepdim=True) * x,
        [(3, 4)],
        None,
    ),  # fmt: skip
    "maximum_minimum": (
        lambda L, x, y: (
            L.maximum(x, y * y) * x
            + L.minimum(x, y.floor()) ** 2
            + L.maximum(x, L.tensor(0.5)) ** 3
        ),
        [(3, 4), (4,)],
        None,
    ),  # fmt: skip
    "max_dim": (lambda L, x: L.max(x, 1)[0] ** 2, [(3, 4)], None),
    "cumsum_roll": (
        lambda L, x: L.cumsum(x, 1) ** 2 + L.roll(x, (1, -1), (0, 1)) * x,
        [(3, 4)],
        None,
    ),  # fmt: skip
    "diagonal": (
        lambda L, x: L.diagonal(x, 1) ** 3 + (L.diag_embed(x[0]) ** 2).sum(),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "unfold_repeat": (
        lambda L, x: x.unfold(1, 2, 1) ** 3 + (L.repeat_interleave(x, 2, 0) ** 2).sum(),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "linear": (lambda L, x, w, b: F(L).linear(x, w, b) ** 2, [(5, 4), (3, 4), (3,)], None),
    "relu_leaky": (lambda L, x: F(L).relu(x) * x + F(L).leaky_relu(x, 0.2) ** 2, [(3, 4)], None),
    "elu_gelu": (
        lambda L, x: F(L).elu(x) * F(L).gelu(x) + F(L).gelu(x, approximate="tanh"),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "silu_softplus": (lambda L, x: F(L).silu(x) + F(L).softplus(x, 2.0) * x, [(3, 4)], None),
    "softmax": (lambda L, x: F(L).softmax(x, 1) * x, [(3, 4)], None),
    "log_softmax": (lambda L, x: F(L).log_softmax(x, 0) ** 2, [(3, 4)], None),
    "cross_entropy": (lambda L, x: F(L).cross_entropy(x * x, L.tensor([0, 3, 1])), [(3, 4)], None),
    "cross_entropy_smoothing": (
        lambda L, x: F(L).cross_entropy(x, L.tensor([0, 3, 1]), label_smoothing=0.2) * x.sum(),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "nll_loss": (
        lambda L, x: F(L).nll_loss(x**3, L.tensor([0, 3, 1]), reduction="sum"),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "mse_l1": (
        lambda L, x, t: F(L).mse_loss(x * x, t) + F(L).l1_loss(x, t) * x.sum(),
        [(3, 4), (3, 4)],
        None,
    ),  # fmt: skip
    "bce": (
        lambda L, x, t: F(L).binary_cross_entropy(F(L).sigmoid(x), t * 0.4 + 0.5),
        [(3, 4), (3, 4)],
        UNIT,
    ),  # fmt: skip
    "bce_logits": (
        lambda L, x, t: (
            F(L).binary_cross_entropy_with_logits(x, t * 0.4 + 0.5, reduction="none") * x
        ),
        [(3, 4), (3, 4)],
        UNIT,
    ),  # fmt: skip
    "layer_norm": (
        lambda L, x, w, b: F(L).layer_norm(x, (4,), w, b) ** 2,
        [(3, 4), (4,), (4,)],
        None,
    ),  # fmt: skip
    "conv2d": (
        lambda L, x, w: L.tanh(F(L).conv2d(x, w, padding=1, stride=(1, 2))),
        [(2, 2, 4, 5), (3, 2, 3, 2)],
        None,
    ),  # fmt: skip
    "pools": (
        lambda L, x: F(L).max_pool2d(x * x, 2) + F(L).avg_pool2d(x**3, 2),
        [(1, 2, 4, 4)],
        None,
    ),  # fmt: skip
    "pad": (lambda L, x: F(L).pad(x * x, (1, 2, 0, 1)) ** 2, [(3, 4)], None),
    "adaptive_avg_pool2d": (
        lambda L, x: F(L).adaptive_avg_pool2d(x * x, (2, 3)) ** 2,
        [(1, 2, 5, 4)],
        None,
    ),  # fmt: skip
    "embedding": (
        lambda L, x, w: F(L).embedding(L.tensor([[0, 2], [2, 1]]), w) ** 2 * x.sum(),
        [(2,), (3, 4)],
        None,
    ),  # fmt: skip
    "glu": (lambda L, x: F(L).glu(x, 1) ** 2, [(3, 4)], None),
    "group_norm": (
        lambda L, x, w, b: F(L).group_norm(x, 2, w, b) ** 2,
        [(2, 4, 3), (4,), (4,)],
        None,
    ),  # fmt: skip
    "prelu": (lambda L, x, w: F(L).prelu(x, w) ** 2 * x, [(2, 3, 2), (3,)], None),
    "conv_transpose2d": (
        lambda L, x, w, b: L.tanh(
            F(L).conv_transpose2d(x, w, b, stride=2, padding=1, output_padding=1, groups=2)
        ),
        [(2, 4, 3, 3), (4, 1, 3, 2), (2,)],
        None,
    ),  # fmt: skip
    "attention": (
        lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v) ** 2,
        [(2, 3, 4), (2, 5, 4), (2, 5, 3)],
        None,
    ),  # fmt: skip
    "attention_causal": (
        lambda L, q, k, v: F(L).scaled_dot_product_attention(q, k, v, is_causal=True) * q.sum(),
        [(2, 4, 4), (2, 4, 4), (2, 4, 3)],
        None,
    ),  # fmt: skip
    "attention_masks": (
        lambda L, q, k, v: (
            F(L).scaled_dot_product_attention(
                q, k, v, attn_mask=L.tensor([[True, False, True, True, False]] * 3)
            )
            ** 2
            + F(L).scaled_dot_product_attention(
                q, k, v, attn_mask=L.tensor(_ATTN_BIAS, dtype=q.dtype)
            )
            * q.sum()
        ),
        [(2, 3, 4), (2, 5, 4), (2, 5, 3)],
        None,
    ),  # fmt: skip
    "normalize": (
        lambda L, x: F(L).normalize(x, dim=1) * x + F(L).normalize(x, 3.0, 0) ** 2,
        [(3, 4)],
        None,
    ),  # fmt: skip
    "cosine_similarity": (
        lambda L, a, b: F(L).cosine_similarity(a, b, 1) * a.sum(),
        [(3, 4), (1, 4)],
        None,
    ),  # fmt: skip
    "kl_div": (
        lambda L, x, t: (
            F(L).kl_div(x, t.abs(), reduction="batchmean") * x.sum()
            + F(L).kl_div(x, t, reduction="sum", log_target=True)
        ),
        [(3, 4), (3, 4)],
        None,
    ),  # fmt: skip
    "batch_norm": (
        lambda L, x, w, b: F(L).batch_norm(x, None, None, w, b, training=True) ** 2,
        [(4, 3, 2, 2), (3,), (3,)],
        None,
    ),  # fmt: skip
    "selu_celu": (lambda L, x: F(L).selu(x) * x + F(L).celu(x, 2.0) ** 2, [(3, 4)], None),
    "softsign_tanhshrink": (
        lambda L, x: F(L).softsign(x) ** 2 + F(L).tanhshrink(x) * x,
        [(3, 4)],
        None,
    ),  # fmt: skip
    "shrink_threshold": (
        lambda L, x: (
            F(L).softshrink(x, 0.3) ** 2
            + F(L).hardshrink(x, 0.4) * x
            + F(L).threshold(x, 0.1, -2.0) ** 3
        ),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "atan2_hypot": (
        lambda L, x, y: L.atan2(x, y) * x + L.hypot(x, y) ** 2 + L.atan2(y, L.tensor(0.5)),
        [(3, 4), (4,)],
        None,
    ),  # fmt: skip
    "logaddexp": (
        lambda L, x, y: L.logaddexp(x, y) ** 2 + L.logaddexp2(x * y, y),
        [(3, 4), (3, 1)],
        None,
    ),  # fmt: skip
    "fmax_copysign_fmod": (
        lambda L, x, y: (
            L.fmax(x, y) * x
            + L.fmin(x * x, y) ** 2
            + L.copysign(x, y) ** 2
            + L.fmod(x * y, y) * x
            + L.remainder(x, 0.7) * x
        ),
        [(3, 4), (4,)],
        None,
    ),  # fmt: skip
    "xlogy": (
        lambda L, x, y: L.xlogy(x, y) * x + L.special.xlog1py(x, y) ** 2,
        [(3, 4), (3, 4)],
        POS,
    ),  # fmt: skip
    "lgamma_digamma": (
        lambda L, x: L.lgamma(x) * L.digamma(x) + L.polygamma(2, x),
        [(3, 4)],
        POS,
    ),  # fmt: skip
    "i0_sinc_logit": (
        lambda L, x: L.i0(x) ** 2 + L.sinc(x) * x + L.logit(x / 3) + L.logit(x - 1, 0.2),
        [(3, 4)],
        POS,
    ),  # fmt: skip
    "prod_cumprod": (
        lambda L, x: L.prod(x, 1, keepdim=True) ** 2 + x.prod() * x + L.cumprod(x, 0) ** 2,
        [(3, 4)],
        None,
    ),  # fmt: skip
    "logcumsumexp": (
        lambda L, x: L.logcumsumexp(x, 1) ** 2 + L.logcumsumexp(x, 0) * x,
        [(3, 4)],
        None,
    ),
    "einsum": (
        lambda L, x, y, z: L.einsum("ij,jk,k->ik", x, y, z) ** 2 + L.einsum("ij->", x * x),
        [(3, 4), (4, 2), (2,)],
        None,
    ),  # fmt: skip
    "inv_det": (
        lambda L, a: (
            L.linalg.inv(a + 3 * L.eye(3, dtype=a.dtype)) * L.linalg.det(a)[:, None, None]
            + L.linalg.slogdet(a * a + L.eye(3, dtype=a.dtype))[1][:, None, None]
        ),
        [(2, 3, 3)],
        None,
    ),  # fmt: skip
    "solve": (
        lambda L, a, b: L.linalg.solve(a + 3 * L.eye(3, dtype=a.dtype), b) ** 2,
        [(2, 3, 3), (3, 2)],
        None,
    ),  # fmt: skip
    "eigh": (
        lambda L, a: (
            L.linalg.eigh(a + a.mT)[0] ** 2 * a.sum(0)
            + (L.linalg.eigh(a @ a.mT)[1] ** 2).sum(0) * L.linalg.eigvalsh(a + a.mT)
        ),
        [(3, 3)],
        None,
    ),  # fmt: skip
    "pinv": (
        lambda L, a, b: (L.linalg.pinv(a) ** 2).sum(0) * b.sum() + (L.linalg.pinv(b) @ b).sum(),
        [(2, 3, 4), (4, 2)],
        None,
    ),  # fmt: skip
    "svd": (
        lambda L, a, b: _svd_terms(L, a) + _svd_terms(L, b).mT + L.linalg.svdvals(a).sum(),
        [(4, 3), (3, 4)],
        None,
    ),  # fmt: skip
    "qr": (  # even powers: free of the signs LAPACK picks
        lambda L, a, b: (
            (L.linalg.qr(a)[0] ** 4).sum(0) * (L.linalg.qr(a)[1] ** 2).sum()
            + (L.linalg.qr(b)[0] ** 4).sum() * (L.linalg.qr(b)[1] ** 2).sum(0)[:3]
        ),
        [(4, 3), (3, 4)],
        None,
    ),  # fmt: skip
    "cholesky": (
        lambda L, a: L.linalg.cholesky(a @ a.mT + L.eye(3, dtype=a.dtype)) ** 2,
        [(2, 3, 3)],
        None,
    ),  # fmt: skip
    "hinge": (
        lambda L, x: (
            F(L).hinge_embedding_loss(x, L.tensor([[1.0, -1, 1, -1]], dtype=x.dtype), 0.5) * x
            + F(L).hinge_embedding_loss(
                x * x, L.tensor([[-1.0, -1, 1, -1]], dtype=x.dtype), reduction="none"
            )
        ),
        [(3, 4)],
        None,
    ),  # fmt: skip
    "interpolate": (
        lambda L, x: (
            F(L).interpolate(x * x, scale_factor=2, mode="nearest") ** 2
            + F(L).interpolate(x, size=(8, 8), mode="bilinear", align_corners=False) ** 2
            + F(L).interpolate(x**3, size=(8, 8), mode="bicubic", align_corners=True) * x.sum()
        ),
        [(1, 2, 4, 4)],
        None,
    ),  # fmt: skip
    "unfold_fold_adaptive_max": (
        lambda L, x: (
            F(L).fold(F(L).unfold(x * x, 2) ** 2, (4, 4), 2) * x
            + F(L).adaptive_max_pool2d(x**3, 3).sum()
        ),
        [(1, 2, 4, 4)],
        None,
    ),  # fmt: skip
    "scatter_family": (
        lambda L, x, s: (
            x.scatter(1, L.tensor([[0, 2], [1, 3], [3, 0]]), s * s) ** 2
            + x.scatter_add(1, L.tensor([[0, 2], [1, 1], [3, 0]]), s**3) * x
            + (x * x).index_add(1, L.tensor([2, 0]), s, alpha=0.5) ** 2
            + x.index_copy(1, L.tensor([3, 1]), s * x[:, :2]) ** 3
            + x.index_put((L.tensor([0, 2]),), s[0].repeat(2) * x[1]) ** 2
            + x.masked_scatter(x > 0, (s * s).repeat(1, 2)) ** 2
            + x.scatter_reduce(1, L.tensor([[0, 2], [1, 1], [3, 0]]), s**2, "sum") ** 2
            + x.scatter_reduce(
                1, L.tensor([[0, 0], [1, 1], [3, 0]]), s * x[:, :2], "mean", include_self=False
            )
            ** 2
        ),
        [(3, 4), (3, 2)],
        None,
    ),  # fmt: skip
    "max_unpool": (
        lambda L, x: F(L).max_unpool2d(*F(L).max_pool2d(x**3, 2, return_indices=True), 2) ** 2,
        [(1, 2, 4, 4)],
        None,
    ),  # fmt: skip
    "grid_sample": (  # the grid fixed (its double backward refuses)
        lambda L, x: (
            F(L).grid_sample(x**3, L.tensor(_GRID, dtype=x.dtype), align_corners=False) ** 2
            + F(L).grid_sample(
                x * x, L.tensor(_GRID, dtype=x.dtype), "nearest", "border", align_corners=True
            )
            * x.sum()
            + F(L).grid_sample(
                x, L.tensor(_GRID, dtype=x.dtype), "bicubic", "reflection", align_corners=False
            )
            ** 2
        ),
        [(2, 2, 4, 5)],
        None,
    ),  # fmt: skip
    "edge_pad_entr": (
        lambda L, x: (
            F(L).pad(x * x, (1, 2, 2, 1), mode="reflect") ** 2
            + F(L).pad(x**3, (2, 1, 0, 3), mode="replicate").sum()
            + L.special.entr(x * x + 0.1).sum()
        ),
        [(1, 2, 4, 4)],
        None,
    ),  # fmt: skip
}


def _draw(shapes, domain, rng):
    if domain == POS:
        return [rng.uniform(0.5, 2.0, s) for s in shapes]
    if domain == UNIT:
        return [rng.uniform(-0.9, 0.9, s) for s in shapes]
    return [rng.standard_normal(s) for s in shapes]


@pytest.mark.parametrize("name", sorted(OPS))
def test_second_derivatives_match_torch_and_finite_differences(name):
    fn, shapes, domain = OPS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = _draw(shapes, domain, rng)
    with torch.no_grad():
        out_shape = tuple(fn(torch, *[torch.tensor(a) for a in arrays]).shape)
    v = rng.standard_normal(out_shape)
    w = [rng.standard_normal(s) for s in shapes]
    g_e, s_e = _second_order(ember, fn, arrays, v, w)
    g_t, s_t = _second_order(torch, fn, arrays, v, w)
    for got, want in zip(g_e + s_e, g_t + s_t):
        _assert_close(got, want, rtol=1e-9)
    xs = _lib_tensors(ember, arrays)
    assert ember.autograd.gradgradcheck(lambda *t: fn(ember, *t), xs)


@pytest.mark.parametrize("name", sorted(OPS))
def test_float32_gradients_of_gradients_stay_float32(name):
    fn, shapes, domain = OPS[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    xs = _lib_tensors(ember, [a.astype(np.float32) for a in _draw(shapes, domain, rng)])
    y = fn(ember, *xs)
    (v,) = _lib_tensors(ember, [rng.standard_normal(y.shape).astype(np.float32)])
    grads = ember.autograd.grad(y, xs, v, create_graph=True, allow_unused=True)
    total = sum((g * g).sum() for g in grads if g is not None and g.requires_grad)
    seconds = ember.autograd.grad(total, xs + [v], allow_unused=True)
    assert {g.dtype for g in grads + seconds if g is not None} == {np.dtype(np.float32)}


def _multi_margin_ref(L, x, y, p=1, margin=1.0, w=None, reduction="mean"):
    """torch's multi_margin_loss in Tensor ops (torch has no double backward for it)."""
    z = (margin - x.gather(1, y[:, None]) + x) * (1 - F(L).one_hot(y, x.shape[1]))
    h = F(L).relu(z) ** p * (1 if w is None else w[y][:, None])
    out = h.sum(1) / x.shape[1]
    return {"none": out, "mean": out.mean(), "sum": out.sum()}[reduction]


_BAG = [[0, 2], [1, 1]]
_W = [1.0, 2, 3, 0.5]
# name: (ember's op, torch's reference composed of ops with a double backward, input shapes):
# torch refuses double backward through embedding_bag and multi_margin_loss themselves
COMPOSED = {
    "embedding_bag": (
        lambda L, w: F(L).embedding_bag(L.tensor(_BAG), w * w, mode="sum") ** 2,
        lambda L, w: F(L).embedding(L.tensor(_BAG), w * w).sum(1) ** 2,
        [(3, 4)],
    ),
    "embedding_bag_max": (
        lambda L, w: F(L).embedding_bag(L.tensor(_BAG), w**3, mode="max") ** 2,
        lambda L, w: F(L).embedding(L.tensor(_BAG), w**3).amax(1) ** 2,
        [(3, 4)],
    ),
    "checkpoint": (
        lambda L, x, w: L.utils.checkpoint.checkpoint(
            lambda a, b: L.tanh(a @ b) * a.sum(), x, w, use_reentrant=False
        ),
        lambda L, x, w: L.tanh(x @ w) * x.sum(),
        [(3, 4), (4, 2)],
    ),
    "multi_margin": (
        lambda L, x: (
            F(L).multi_margin_loss(x, L.tensor([0, 3, 1]), reduction="sum") * x
            + F(L).multi_margin_loss(x, L.tensor([2, 3, 1]), 2, 1.5, L.tensor(_W, dtype=x.dtype))
            + F(L).multi_margin_loss(x, L.tensor([1, 1, 0]), reduction="none")[:, None] * x
        ),
        lambda L, x: (
            _multi_margin_ref(L, x, L.tensor([0, 3, 1]), reduction="sum") * x
            + _multi_margin_ref(L, x, L.tensor([2, 3, 1]), 2, 1.5, L.tensor(_W, dtype=x.dtype))
            + _multi_margin_ref(L, x, L.tensor([1, 1, 0]), reduction="none")[:, None] * x
        ),
        [(3, 4)],
    ),
}


@pytest.mark.parametrize("name", sorted(COMPOSED))
def test_second_derivatives_match_a_composed_torch_reference(name):
    fn, ref, shapes = COMPOSED[name]
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    arrays = _draw(shapes, None, rng)
    v = rng.standard_normal(tuple(fn(ember, *_lib_tensors(ember, arrays, False)).shape))
    w = [rng.standard_normal(s) for s in shapes]
    g_e, s_e = _second_order(ember, fn, arrays, v, w)
    g_t, s_t = _second_order(torch, ref, arrays, v, w)
    for got, want in zip(g_e + s_e, g_t + s_t):
        _assert_close(got, want, rtol=1e-9)
    assert ember.autograd.gradgradcheck(lambda *t: fn(ember, *t), _lib_tensors(ember, arrays))


@pytest.mark.parametrize("name", ["dropout2d", "alpha_dropout", "rrelu", "fractional_max_pool"])
def test_random_ops_second_derivatives(name):
    """Ops whose noise torch cannot reproduce: y = x * scale + shift, or a max pool of x, with
    the noise drawn once. For L = sum(y^3) the gradient of sum(dL/dx) is 6 y scale^2 (noise),
    or the pool's first-order gradient of sum(3 y^2) (it routes each maximum to one x)."""
    fns = {
        "dropout2d": lambda x: F(ember).dropout2d(x, 0.4),
        "alpha_dropout": lambda x: F(ember).alpha_dropout(x, 0.3, True),
        "rrelu": lambda x: F(ember).rrelu(x, training=True),
        "fractional_max_pool": lambda x: F(ember).fractional_max_pool2d(x, 2, output_size=(3, 3)),
    }
    (x,) = _lib_tensors(ember, [RNG.standard_normal((2, 3, 4, 4))])
    ember.manual_seed(7)
    y = fns[name](x)
    (g,) = ember.autograd.grad((y**3).sum(), x, create_graph=True)
    (gg,) = ember.autograd.grad(g.sum(), x, retain_graph=True)
    if name == "fractional_max_pool":
        (want,) = ember.autograd.grad((3 * y * y).sum(), x)
        want = want.numpy()
    else:
        (scale,) = ember.autograd.grad(y.sum(), x)
        want = 6 * y.numpy() * scale.numpy() ** 2
    np.testing.assert_allclose(gg.numpy(), want, rtol=1e-10, atol=1e-12)
    assert ember.autograd.gradgradcheck(lambda t: (ember.manual_seed(7), fns[name](t))[1], [x])


def test_wgan_gp_step_on_an_mlp_critic_matches_torch():
    sizes = [(16, 6), (16,), (8, 16), (8,), (1, 8), (1,)]
    params = [RNG.standard_normal(s) * 0.5 for s in sizes]
    real, fake = RNG.standard_normal((5, 6)), RNG.standard_normal((5, 6))
    eps = RNG.uniform(size=(5, 1))

    def step(lib):
        ps = _lib_tensors(lib, params)
        f = F(lib)

        def critic(x):
            h = f.leaky_relu(f.linear(x, ps[0], ps[1]), 0.2)
            h = f.leaky_relu(f.linear(h, ps[2], ps[3]), 0.2)
            return f.linear(h, ps[4], ps[5])

        r, fk, e = _lib_tensors(lib, [real, fake, eps], False)
        x = e * r + (1 - e) * fk
        x.requires_grad_(True)
        (g,) = lib.autograd.grad(critic(x).sum(), x, create_graph=True)
        penalty = ((g.norm(2, dim=1) - 1) ** 2).mean()
        loss = critic(fk).mean() - critic(r).mean() + 10 * penalty
        loss.backward()
        return [_np(p.grad) for p in ps]

    for got, want in zip(step(ember), step(torch)):
        _assert_close(got, want, same_none=True)


def test_wgan_gp_step_on_a_conv_critic_matches_torch():
    sizes = [(4, 2, 3, 3), (4,), (1, 16), (1,)]
    params = [RNG.standard_normal(s) * 0.5 for s in sizes]
    x0 = RNG.standard_normal((3, 2, 4, 4))

    def step(lib):
        ps = _lib_tensors(lib, params)
        f = F(lib)
        (x,) = _lib_tensors(lib, [x0])
        h = f.leaky_relu(f.conv2d(x, ps[0], ps[1], padding=1), 0.2)
        h = f.avg_pool2d(h, 2).reshape(3, 16)
        (g,) = lib.autograd.grad(f.linear(h, ps[2], ps[3]).sum(), x, create_graph=True)
        ((g.reshape(3, -1).norm(2, dim=1) - 1) ** 2).mean().backward()
        return [_np(p.grad) for p in ps] + [_np(x.grad)]

    for got, want in zip(step(ember), step(torch)):
        _assert_close(got, want, same_none=True)


def test_maml_inner_step_matches_torch():
    params = [RNG.standard_normal(s) * 0.5 for s in [(8, 4), (8,), (3, 8), (3,)]]
    xa, xb = RNG.standard_normal((6, 4)), RNG.standard_normal((6, 4))
    ya, yb = RNG.integers(0, 3, 6), RNG.integers(0, 3, 6)

    def step(lib):
        ps = _lib_tensors(lib, params)
        f = F(lib)

        def net(p, x):
            return f.linear(f.relu(f.linear(x, p[0], p[1])), p[2], p[3])

        x_a, x_b = _lib_tensors(lib, [xa, xb], False)
        loss = f.cross_entropy(net(ps, x_a), lib.tensor(ya))
        grads = lib.autograd.grad(loss, ps, create_graph=True)
        fast = [p - 0.1 * g for p, g in zip(ps, grads)]
        f.cross_entropy(net(fast, x_b), lib.tensor(yb)).backward()
        return [_np(p.grad) for p in ps]

    for got, want in zip(step(ember), step(torch)):
        _assert_close(got, want, atol=1e-12, same_none=True)


def test_hessian_hvp_vhp_match_torch():
    a, b = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    va, vb = RNG.standard_normal((2, 3)), RNG.standard_normal(3)
    te = tuple(_lib_tensors(ember, [a, b], False))
    tt = tuple(_lib_tensors(torch, [a, b], False))
    f_e = lambda x, y: (ember.sin(x) * y.sum()).sum() + ((x @ y) ** 2).sum() + ember.exp(y).sum()  # noqa: E731
    f_t = lambda x, y: (torch.sin(x) * y.sum()).sum() + ((x @ y) ** 2).sum() + torch.exp(y).sum()  # noqa: E731
    h_e = AF.hessian(f_e, te)
    h_t = torch.autograd.functional.hessian(f_t, tt)
    for i in range(2):
        for j in range(2):
            assert h_e[i][j].shape == tuple(h_t[i][j].shape)
            np.testing.assert_allclose(_np(h_e[i][j]), _np(h_t[i][j]), rtol=1e-10, atol=1e-12)
    single = AF.hessian(lambda x: (x**3).sum() * x.sum(), ember.tensor(b))
    want = torch.autograd.functional.hessian(lambda x: (x**3).sum() * x.sum(), torch.tensor(b))
    np.testing.assert_allclose(_np(single), _np(want), rtol=1e-10)
    v_e = tuple(_lib_tensors(ember, [va, vb], False))
    v_t = tuple(_lib_tensors(torch, [va, vb], False))
    for name in ("hvp", "vhp"):
        out_e, prod_e = getattr(AF, name)(f_e, te, v_e)
        out_t, prod_t = getattr(torch.autograd.functional, name)(f_t, tt, v_t)
        assert out_e.item() == pytest.approx(out_t.item(), rel=1e-12)
        assert not out_e.requires_grad and not prod_e[0].requires_grad
        for p, q in zip(prod_e, prod_t):
            np.testing.assert_allclose(_np(p), _np(q), rtol=1e-10, atol=1e-12)


def test_functional_create_graph_keeps_results_differentiable_in_the_inputs():
    x_e = ember.tensor(RNG.standard_normal(3), requires_grad=True)
    x_t = torch.tensor(x_e.numpy(), requires_grad=True)
    for lib, AFl, x in ((ember, AF, x_e), (torch, torch.autograd.functional, x_t)):
        jac = AFl.jacobian(lambda t, L=lib: L.sin(t) * t.sum(), x, create_graph=True)
        _, vj = AFl.vjp(lambda t, L=lib: L.exp(t) * t, x, x * 0 + 1, create_graph=True)
        _, jv = AFl.jvp(lambda t: t**3, x, x * 0 + 1, create_graph=True)
        h = AFl.hessian(lambda t: (t**4).sum(), x, create_graph=True)
        (jac.sum() + vj.sum() + jv.sum() + h.sum()).backward()
    np.testing.assert_allclose(x_e.grad.numpy(), _np(x_t.grad), rtol=1e-10)
    for AFl, x in ((AF, x_e), (torch.autograd.functional, x_t)):  # without it: no graph
        assert not any(r.requires_grad for r in AFl.jvp(lambda t: t**3, x, x))
        assert not AFl.vhp(lambda t: (t**3).sum(), x, x)[1].requires_grad
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.hessian(lambda x, y: (x**2).sum(), (x_e, x_e * 1), strict=True)


class _Cube(ember.autograd.Function):  # torch's contract: Tensors in and out
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x * x * g


class _ExpSavingOutput(ember.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class _WrongCube(_Cube):  # a first derivative right, its own gradient wrong
    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return 3 * x.detach() * x.detach() * g


def test_user_functions_record_their_backward():
    x = ember.tensor(RNG.standard_normal(4), requires_grad=True)
    assert ember.autograd.gradgradcheck(_Cube.apply, (x,))
    assert ember.autograd.gradgradcheck(_ExpSavingOutput.apply, (x,))
    (g,) = ember.autograd.grad(_Cube.apply(x).sum(), x, create_graph=True)
    (gg,) = ember.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 6 * x.numpy())
    assert ember.autograd.gradcheck(_WrongCube.apply, (x,))  # first derivative: right
    assert not ember.autograd.gradgradcheck(_WrongCube.apply, (x,), raise_exception=False)
    with pytest.raises(RuntimeError, match="gradcheck: gradient of input 0"):
        ember.autograd.gradgradcheck(_WrongCube.apply, (x,))


def test_backward_create_graph_leaves_a_grad_with_a_graph():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    np.testing.assert_allclose(x.grad.numpy(), 3 * x.numpy() ** 2)
    g = x.grad
    x.grad = None
    g.sum().backward()  # the graph was retained: d/dx sum(3 x^2) = 6 x
    np.testing.assert_allclose(x.grad.numpy(), 6 * x.numpy())
    y = ember.tensor([2.0], requires_grad=True)
    (y**2).sum().backward(create_graph=True)
    (y**2).sum().backward(create_graph=True)  # accumulates out of place, recorded
    np.testing.assert_allclose(y.grad.numpy(), [8.0])
    (gy,) = ember.autograd.grad(y.grad.sum(), y)
    np.testing.assert_allclose(gy.numpy(), [4.0])


def test_refusals_and_errors():
    x = ember.tensor(RNG.standard_normal(3), requires_grad=True)
    (g,) = ember.autograd.grad((x * 2).sum(), x, create_graph=True)
    assert not g.requires_grad  # a constant gradient has no graph, as torch
    with pytest.raises(RuntimeError, match="element 0 of tensors does not require grad"):
        ember.autograd.grad(g.sum(), x)
    # (prod / cumprod at zeros: test_fix28.py, as torch)
    # (einsum's repeated subscripts, det of a singular matrix and scatter_reduce 'amax' are
    # differentiated twice since gradgrad36: test_gradgrad36.py)


def test_grad_of_a_non_leaf_records_only_what_reaches_it():
    za, wa = RNG.standard_normal((4, 3)), RNG.standard_normal((3, 3))
    grads = []
    for lib in (ember, torch):
        z, w = _lib_tensors(lib, [za, wa])
        # prod and cumprod have no graph backward: grad with respect to `fake` never needs it
        fake = lib.cumprod(z @ w, 1).prod(1, keepdim=True) * z
        (g,) = lib.autograd.grad((lib.tanh(fake) ** 2).sum(), fake, create_graph=True)
        (g**2).sum().backward()
        grads.append(_np(z.grad))
    _assert_close(*grads)


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph=True:UserWarning")
def test_hooks_and_backward_inputs_under_create_graph():
    xa = RNG.standard_normal(4)
    out = []
    for lib in (ember, torch):
        x, y = _lib_tensors(lib, [xa, xa + 1])
        h = x * y
        h.register_hook(lambda g, h=h: g * h)  # a hook's Tensor ops are recorded too
        h.retain_grad()
        (lib.sin(h) ** 2).sum().backward(create_graph=True, inputs=[x])
        assert y.grad is None and x.grad.requires_grad and h.grad.requires_grad
        (x.grad.sum() + h.grad.sum()).backward(inputs=[y])
        out += [_np(x.grad), _np(h.grad), _np(y.grad)]
    for got, want in zip(out[:3], out[3:]):
        _assert_close(got, want)


@pytest.mark.parametrize(
    "name", ["relu", "leaky_relu", "hardtanh", "abs", "max_pool2d", "avg_pool2d", "nll_loss"]
)
def test_piecewise_linear_gradients_stay_in_the_graph_as_torch(name):
    """torch's relu / abs / pool backwards keep their input in the graph: the gradient requires
    grad even for a constant upstream gradient, and its gradient is zeros, not an error."""
    fns = {
        "relu": lambda L, x: F(L).relu(x),
        "leaky_relu": lambda L, x: F(L).leaky_relu(x, 0.1),
        "hardtanh": lambda L, x: F(L).hardtanh(x),
        "abs": lambda L, x: L.abs(x),
        "max_pool2d": lambda L, x: F(L).max_pool2d(x, 2),
        "avg_pool2d": lambda L, x: F(L).avg_pool2d(x, 2),
        "nll_loss": lambda L, x: F(L).nll_loss(x.reshape(2, 8), L.tensor([1, 5])),
    }
    xa = RNG.standard_normal((1, 1, 4, 4))
    for lib in (ember, torch):
        (x,) = _lib_tensors(lib, [xa])
        (g,) = lib.autograd.grad(fns[name](lib, x).sum(), x, create_graph=True)
        assert g.requires_grad
        (gg,) = lib.autograd.grad((g * g).sum(), x)
        assert gg.shape == x.shape and not np.any(_np(gg))
