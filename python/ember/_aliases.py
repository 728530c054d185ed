"""PyTorch's top-level names for nn.functional ops (``torch.conv2d``, ``torch.batch_norm``,
...). Most take F's arguments in F's order and are F's functions; the few whose top-level form
orders or spells its arguments differently are adapted here."""

from __future__ import annotations

from ember.nn import functional as F

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
dropout, alpha_dropout, feature_alpha_dropout = F.dropout, F.alpha_dropout, F.feature_alpha_dropout
layer_norm, group_norm, rms_norm = F.layer_norm, F.group_norm, F.rms_norm
bilinear, celu, selu, prelu, rrelu = F.bilinear, F.celu, F.selu, F.prelu, F.rrelu
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
