"""PyTorch's top-level names for nn.functional ops (``torch.conv2d``, ``torch.batch_norm``,
...). Most take F's arguments in F's order and are F's functions; the few whose top-level form
orders or spells its arguments differently are adapted here."""

from __future__ import annotations

import warnings

import numpy as np

from ember.nn import functional as F
from ember.tensor import Tensor

# the same function under the top-level name
conv1d, conv2d, conv3d = F.conv1d, F.conv2d, F.conv3d
conv_transpose1d, conv_transpose2d, conv_transpose3d = (
    F.conv_transpose1d,
    F.conv_transpose2d,
    F.conv_transpose3d,
)
avg_pool1d, max_pool1d, max_pool2d, max_pool3d = (
    F.avg_pool1d,
    F.max_pool1d,
    F.max_pool2d,
    F.max_pool3d,
)
adaptive_avg_pool1d = F.adaptive_avg_pool1d


# torch.dropout and kin take (input, p, train), all required: F's (p=0.5, training=True) names
def dropout(input, p: float, train: bool) -> Tensor:  # noqa: A002
    return F.dropout(input, p, train)


def alpha_dropout(input, p: float, train: bool) -> Tensor:  # noqa: A002
    return F.alpha_dropout(input, p, train)


def feature_alpha_dropout(input, p: float, train: bool) -> Tensor:  # noqa: A002
    return F.feature_alpha_dropout(input, p, train)


rms_norm = F.rms_norm


# torch.layer_norm and torch.group_norm take a last cudnn flag (ignored on the CPU)
def layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5, cudnn_enable=True):  # noqa: A002
    return F.layer_norm(input, normalized_shape, weight, bias, eps)


def group_norm(input, num_groups, weight=None, bias=None, eps=1e-5, cudnn_enabled=True):  # noqa: A002
    return F.group_norm(input, num_groups, weight, bias, eps)


bilinear, celu, selu, prelu = F.bilinear, F.celu, F.selu, F.prelu


def rrelu(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):  # noqa: A002
    """torch.rrelu: F.rrelu with torch's fifth argument, ``generator`` (not ``inplace``)."""
    return F._rrelu(input, lower, upper, training, False, generator)


def rrelu_(input, lower=1.0 / 8, upper=1.0 / 3, training=False, generator=None):  # noqa: A002
    """torch.rrelu_: rrelu in place, slopes drawn from ``generator``."""
    return F._rrelu(input, lower, upper, training, True, generator)


hardshrink, threshold = F.hardshrink, F.threshold
pixel_shuffle, pixel_unshuffle, channel_shuffle = (
    F.pixel_shuffle,
    F.pixel_unshuffle,
    F.channel_shuffle,
)
cosine_similarity, pairwise_distance = F.cosine_similarity, F.pairwise_distance


def adaptive_max_pool1d(input, output_size):  # noqa: A002
    """(values, indices), as torch.adaptive_max_pool1d."""
    return F.adaptive_max_pool1d(input, output_size, return_indices=True)


def max_pool1d_with_indices(
    input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False
):  # noqa: A002
    return F.max_pool1d(
        input, kernel_size, stride, padding, dilation, ceil_mode, return_indices=True
    )


def batch_norm(
    input, weight, bias, running_mean, running_var, training, momentum, eps, cudnn_enabled=True
):  # noqa: A002
    """torch.batch_norm's order: the affine parameters before the running statistics."""
    return F.batch_norm(input, running_mean, running_var, weight, bias, training, momentum, eps)


def instance_norm(
    input,
    weight,
    bias,
    running_mean,
    running_var,
    use_input_stats,
    momentum,
    eps,
    cudnn_enabled=True,
):  # noqa: A002
    return F.instance_norm(
        input, running_mean, running_var, weight, bias, use_input_stats, momentum, eps
    )


def embedding(
    weight, indices, padding_idx: int = -1, scale_grad_by_freq: bool = False, sparse: bool = False
):
    """torch.embedding's order (weight first); padding_idx -1 means none."""
    return F.embedding(
        indices, weight, None if padding_idx == -1 else padding_idx,
        scale_grad_by_freq=scale_grad_by_freq, sparse=sparse,
    )  # fmt: skip


def constant_pad_nd(input, pad, value=0):  # noqa: A002
    return F.pad(input, pad, mode="constant", value=value)


# ---- torch's top-level loss forms: the reduction as an int (0 none, 1 mean, 2 sum) ----------
_REDUCTION = {0: "none", 1: "mean", 2: "sum"}


def _reduction(r) -> str:
    if r not in _REDUCTION:
        raise ValueError(f"reduction must be 0 (none), 1 (mean) or 2 (sum), got {r!r}")
    return _REDUCTION[r]


def binary_cross_entropy_with_logits(input, target, weight=None, pos_weight=None, reduction=1):  # noqa: A002
    return F.binary_cross_entropy_with_logits(
        input, target, weight, reduction=_reduction(reduction), pos_weight=pos_weight
    )


def kl_div(input, target, reduction=1, *, log_target=False):  # noqa: A002
    return F.kl_div(input, target, reduction=_reduction(reduction), log_target=log_target)


def margin_ranking_loss(input1, input2, target, margin=0.0, reduction=1):
    return F.margin_ranking_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def hinge_embedding_loss(input, target, margin=1.0, reduction=1):  # noqa: A002
    return F.hinge_embedding_loss(input, target, margin, reduction=_reduction(reduction))


def cosine_embedding_loss(input1, input2, target, margin=0.0, reduction=1):
    return F.cosine_embedding_loss(input1, input2, target, margin, reduction=_reduction(reduction))


def triplet_margin_loss(anchor, positive, negative, margin=1.0, p=2, eps=1e-6, swap=False,
                        reduction=1):  # fmt: skip
    return F.triplet_margin_loss(
        anchor, positive, negative, margin, p, eps, swap, reduction=_reduction(reduction)
    )


def poisson_nll_loss(input, target, log_input, full, eps, reduction):  # noqa: A002
    return F.poisson_nll_loss(
        input, target, log_input, full, eps=eps, reduction=_reduction(reduction)
    )


def ctc_loss(log_probs, targets, input_lengths, target_lengths, blank=0, reduction=1,
             zero_infinity=False):  # fmt: skip
    return F.ctc_loss(
        log_probs, targets, input_lengths, target_lengths, blank, _reduction(reduction),
        zero_infinity,
    )  # fmt: skip


# ---- torch's recurrent cells and native_* ops (the statistics returned beside the output) --
lstm_cell, gru_cell = F.lstm_cell, F.gru_cell


def rnn_tanh_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    return F.rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, "tanh")


def rnn_relu_cell(input, hx, w_ih, w_hh, b_ih=None, b_hh=None):  # noqa: A002
    return F.rnn_cell(input, hx, w_ih, w_hh, b_ih, b_hh, "relu")


def feature_dropout(input, p, train):  # noqa: A002
    """Whole channels (dim 1) dropped, as F.dropout2d/3d for any rank >= 2."""
    from ember import ops

    x = ops._float_operand(input, "feature_dropout")
    if not train or p == 0:
        return x
    if not 0 <= p <= 1:
        raise ValueError(f"feature_dropout: p must be in [0, 1], got {p}")
    from ember.random import rng

    keep = rng().random(x.shape[:2] + (1,) * (x.ndim - 2)) >= p
    return x * Tensor(keep.astype(x.dtype) / (1 - p) if p < 1 else keep.astype(x.dtype))


def native_dropout(input, p, train):  # noqa: A002
    """(output, mask): the mask is True where an element was kept."""
    from ember import ops
    from ember.random import rng

    x = ops._float_operand(input, "native_dropout")
    if not train:
        return x.clone(), Tensor(np.ones(x.shape, np.bool_))
    if not 0 <= p <= 1:
        raise ValueError(f"native_dropout: p must be in [0, 1], got {p}")
    keep = rng().random(x.shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1 - p)
    return x * Tensor(keep.astype(x.dtype) * x.dtype.type(scale)), Tensor(keep)


def native_layer_norm(input, normalized_shape, weight, bias, eps):  # noqa: A002
    """(output, mean, rstd), the statistics kept with size-1 normalised dims."""
    from ember import ops

    x = ops._float_operand(input, "native_layer_norm")
    dims = tuple(range(x.ndim - len(tuple(normalized_shape)), x.ndim))
    out = F.layer_norm(x, normalized_shape, weight, bias, eps)
    mean = x.mean(dims, keepdim=True)
    rstd = ops.rsqrt(x.var(dims, unbiased=False, keepdim=True) + eps)
    return out, mean.detach(), rstd.detach()


def native_batch_norm(input, weight, bias, running_mean, running_var, training, momentum, eps):  # noqa: A002
    """(output, the batch mean, the batch 1/std): empty statistics in evaluation."""
    from ember import ops

    x = ops._float_operand(input, "native_batch_norm")
    out = F.batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps)
    if not training:
        return out, Tensor(np.empty(0, x.dtype)), Tensor(np.empty(0, x.dtype))
    dims = (0,) + tuple(range(2, x.ndim))
    mean = x.detach().mean(dims)
    rstd = ops.rsqrt(x.detach().var(dims, unbiased=False) + eps)
    return out, mean, rstd


def native_group_norm(input, weight, bias, N, C, HxW, group, eps):  # noqa: A002, N803
    """(output, mean, rstd), the statistics of shape (N, group)."""
    from ember import ops

    x = ops._float_operand(input, "native_group_norm")
    out = F.group_norm(x, group, weight, bias, eps)
    # the statistics are differentiable outputs too, as torch's (an explicit size: N may be 0)
    g = x.reshape(N, group, C // group * HxW)
    return out, g.mean(-1), ops.rsqrt(g.var(-1, unbiased=False) + eps)


def embedding_renorm_(input, indices, max_norm, norm_type):  # noqa: A002
    """Rescale, in place, the rows of ``input`` that ``indices`` name whose norm passes
    ``max_norm`` (what Embedding's max_norm does before each lookup)."""
    F.embedding(indices, input, max_norm=max_norm, norm_type=norm_type)
    return input


def binomial(count, prob, generator=None):
    """Binomial draws of ``count`` trials with success probability ``prob`` (tensors)."""
    from ember import _lowp, ops
    from ember.random import rng

    c, p = ops._tensor_operand(count), ops._tensor_operand(prob)
    if not (_lowp.is_float(c.dtype) and _lowp.is_float(p.dtype)):
        raise TypeError(f"binomial: count and prob must be float tensors, got {c.dtype}, {p.dtype}")
    if (p.data < 0).any() or (p.data > 1).any():
        raise ValueError("binomial: prob must be in [0, 1]")
    draws = rng(generator).binomial(c.data.astype(np.int64), p.data)
    return Tensor(draws.astype(np.result_type(c.dtype, p.dtype)))


# ---- the *_copy forms: the view op's result, always in memory of its own ------------------
_VIEWS = {
    "view": lambda input, *size, **kw: input.view(*size, **kw),  # noqa: A006
    "alias": lambda input: input,  # noqa: A006
    "expand": lambda input, size, *, implicit=False: input.expand(size),  # noqa: A006
    "split": lambda input, split_size, dim=0: input.split(split_size, dim),  # noqa: A006
}


def _copy_of(name: str):
    def op(*args, **kwargs):
        from ember import ops

        out = (_VIEWS.get(name) or getattr(ops, name))(*args, **kwargs)
        if isinstance(out, tuple | list):
            return type(out)(ops.clone(t) for t in out)
        return ops.clone(out)

    op.__name__ = f"{name}_copy"
    op.__doc__ = f"torch.{name}, as a copy."
    return op


(
    as_strided_copy, detach_copy, diagonal_copy, expand_copy, permute_copy, select_copy,
    split_copy, split_with_sizes_copy, squeeze_copy, t_copy, transpose_copy, unbind_copy,
    unsqueeze_copy, view_copy, unfold_copy, alias_copy,
) = (
    _copy_of(n) for n in (
        "as_strided", "detach", "diagonal", "expand", "permute", "select", "split",
        "split_with_sizes", "squeeze", "t", "transpose", "unbind", "unsqueeze", "view", "unfold",
        "alias",
    )
)  # fmt: skip


def slice_copy(input, dim=0, start=None, end=None, step=1):  # noqa: A002
    from ember import ops

    x = ops._tensor_operand(input)
    index = [slice(None)] * x.ndim
    index[ops._dim(dim, x.ndim, "slice_copy")] = slice(start, end, step)
    return ops.clone(x[tuple(index)])


# ---- the remaining everyday forms: convolution / grid sampling by ints, LU, low-rank SVD ----
def convolution(input, weight, bias, stride, padding, dilation, transposed, output_padding, groups):  # noqa: A002
    """torch.convolution: conv{1,2,3}d or conv_transpose{1,2,3}d by the weight's rank."""
    nd = np.ndim(weight.data if isinstance(weight, Tensor) else weight) - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"convolution: weight must be 3-D, 4-D or 5-D, got {nd + 2}-D")
    if transposed:
        f = (F.conv_transpose1d, F.conv_transpose2d, F.conv_transpose3d)[nd - 1]
        return f(input, weight, bias, stride, padding, output_padding, groups, dilation)
    f = (F.conv1d, F.conv2d, F.conv3d)[nd - 1]
    return f(input, weight, bias, stride, padding, dilation, groups)


_GRID_MODES = {0: "bilinear", 1: "nearest", 2: "bicubic"}
_GRID_PADDING = {0: "zeros", 1: "border", 2: "reflection"}


def grid_sampler(input, grid, interpolation_mode: int, padding_mode: int, align_corners: bool):  # noqa: A002
    """torch.grid_sampler: F.grid_sample with the modes as ints (0 bilinear / 1 nearest /
    2 bicubic; 0 zeros / 1 border / 2 reflection)."""
    if interpolation_mode not in _GRID_MODES or padding_mode not in _GRID_PADDING:
        raise ValueError(
            f"grid_sampler: interpolation_mode must be 0, 1 or 2 and padding_mode 0, 1 or 2, "
            f"got {interpolation_mode!r}, {padding_mode!r}"
        )
    return F.grid_sample(
        input, grid, _GRID_MODES[interpolation_mode], _GRID_PADDING[padding_mode], align_corners
    )


def affine_grid_generator(theta, size, align_corners: bool):
    return F.affine_grid(theta, size, align_corners)


def lu(A, pivot: bool = True, get_infos: bool = False):
    """torch.lu (deprecated there for linalg.lu_factor): (LU, pivots[, infos])."""
    from ember import linalg

    warnings.warn(
        "torch.lu is deprecated in favor of torch.linalg.lu_factor / torch.linalg.lu_factor_ex "
        "and will be removed in a future PyTorch release.",
        UserWarning,
        stacklevel=2,
    )
    if get_infos:
        return linalg.lu_factor_ex(A, pivot=pivot)
    return linalg.lu_factor(A, pivot=pivot)


def lu_solve(b, LU_data, LU_pivots):  # noqa: N803
    """torch.lu_solve: linalg.lu_solve with its arguments in the old order."""
    from ember import linalg

    warnings.warn(
        "torch.lu_solve is deprecated in favor of torch.linalg.lu_solve and will be removed in "
        "a future PyTorch release. Note that torch.linalg.lu_solve has its arguments reversed.",
        UserWarning,
        stacklevel=2,
    )
    return linalg.lu_solve(LU_data, LU_pivots, b)


def nuclear_norm(input, dim=None, keepdim: bool = False):  # noqa: A002
    """torch's two overloads: (input, keepdim=False) and (input, dim, keepdim=False)."""
    from ember import linalg

    if isinstance(dim, bool):  # nuclear_norm(x, True): the first overload's keepdim
        dim, keepdim = None, dim

    return linalg.matrix_norm(input, "nuc", (-2, -1) if dim is None else dim, keepdim)


def svd_lowrank(A, q: int | None = 6, niter: int = 2, M=None):
    """(U, S, V) of the rank-q approximation of A (- M): torch draws a randomised range
    finder; ember truncates the exact SVD, which is what that approximates."""
    from ember import linalg, ops

    A = ops._tensor_operand(A)
    if M is not None:
        A = A - M
    q = min(6 if q is None else q, *A.shape[-2:])
    U, S, Vh = linalg.svd(A, full_matrices=False)
    return U[..., :q], S[..., :q], Vh[..., :q, :].mT


def pca_lowrank(A, q: int | None = None, center: bool = True, niter: int = 2):
    """(U, S, V) of the rank-q PCA of A's rows (centred by column means when ``center``)."""
    from ember import ops

    A = ops._tensor_operand(A)
    q = min(6, *A.shape[-2:]) if q is None else q
    if not 0 <= q <= min(A.shape[-2:]):
        raise ValueError(f"pca_lowrank: q must be in [0, {min(A.shape[-2:])}], got {q}")
    return svd_lowrank(A, q, niter, A.mean(-2, keepdim=True) if center else None)


def as_strided_(input, size, stride, storage_offset=None):  # noqa: A002
    return input.as_strided_(size, stride, storage_offset)


def is_inference(input) -> bool:  # noqa: A002
    return input.is_inference()
