"""Regressions found by a differential sweep of ember.nn modules (constructor options, state_dict,
repr, forward and gradients, attention and transformers, bad input) against PyTorch."""

import numpy as np
import pytest

import ember
import ember.nn as nn
import ember.nn.functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize(
    "make",
    [
        lambda m: m.MultiheadAttention(4, 2),
        lambda m: m.MultiheadAttention(4, 2, kdim=3, vdim=2, bias=False, batch_first=True),
        lambda m: m.TransformerEncoderLayer(4, 2, 8),
        lambda m: m.TransformerDecoderLayer(4, 2, 8, norm_first=True),
    ],
)
def test_attention_modules_print_as_torch(make):
    # torch's MultiheadAttention has no extra_repr and its out_proj is a
    # NonDynamicallyQuantizableLinear; ember printed "embed_dim=..., num_heads=..." and Linear
    assert repr(make(nn)) == repr(make(torch.nn))


def test_mha_out_proj_is_still_a_linear():
    m = nn.MultiheadAttention(4, 2)
    assert isinstance(m.out_proj, nn.Linear)
    assert type(m.out_proj).__name__ == "NonDynamicallyQuantizableLinear"


def test_rms_norm_forward_takes_x_keyword():
    # torch.nn.RMSNorm.forward(x): a keyword call must work the same
    x = np.random.default_rng(0).standard_normal((3, 4))
    w = np.linspace(0.5, 2.0, 4)
    em, tm = nn.RMSNorm(4, eps=1e-6, dtype=np.float64), torch.nn.RMSNorm(4, eps=1e-6)
    em.weight.data[...] = w
    with torch.no_grad():
        tm.weight.copy_(torch.from_numpy(w))
    ref = x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-6) * w  # NumPy reference
    out = em(x=ember.tensor(x)).numpy()
    np.testing.assert_allclose(out, ref, rtol=1e-12)
    np.testing.assert_allclose(out, tm.double()(x=torch.from_numpy(x)).detach().numpy(), rtol=1e-12)


def test_adaptive_log_softmax_forward_takes_torch_keywords():
    torch.manual_seed(0)
    tm = torch.nn.AdaptiveLogSoftmaxWithLoss(6, 10, [4, 8], div_value=2.0).double()
    em = nn.AdaptiveLogSoftmaxWithLoss(6, 10, [4, 8], div_value=2.0, dtype=np.float64)
    em.load_state_dict({k: v.numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((5, 6))
    t = np.array([0, 3, 5, 9, 7])
    eo = em(input_=ember.tensor(x), target_=ember.tensor(t))
    to = tm(input_=torch.from_numpy(x), target_=torch.from_numpy(t))
    np.testing.assert_allclose(eo.output.numpy(), to.output.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(eo.loss.numpy(), to.loss.detach().numpy(), rtol=1e-12)


def test_sync_batch_norm_bias_false_as_torch():
    em, tm = nn.SyncBatchNorm(3, bias=False), torch.nn.SyncBatchNorm(3, bias=False)
    assert list(em.state_dict()) == list(tm.state_dict())
    assert repr(em) == repr(tm)
    # convert_sync_batchnorm keeps a BatchNorm's missing bias (it added a zero one)
    conv = nn.SyncBatchNorm.convert_sync_batchnorm(nn.BatchNorm2d(3, bias=False))
    ref = torch.nn.SyncBatchNorm.convert_sync_batchnorm(torch.nn.BatchNorm2d(3, bias=False))
    assert (
        list(conv.state_dict())
        == list(ref.state_dict())
        == [
            "weight",
            "running_mean",
            "running_var",
            "num_batches_tracked",
        ]
    )
    x = np.random.default_rng(2).standard_normal((4, 3, 2, 2))
    w = np.array([0.5, 1.0, 2.0])
    conv.weight.data[...] = w
    mean, var = x.mean((0, 2, 3), keepdims=True), x.var((0, 2, 3), keepdims=True)
    ref_out = (x - mean) / np.sqrt(var + 1e-5) * w.reshape(1, 3, 1, 1)  # NumPy reference
    np.testing.assert_allclose(
        conv.double()(ember.tensor(x)).numpy(), ref_out, rtol=1e-10, atol=1e-12
    )


def test_sdpa_scale_of_wrong_type_is_a_clear_type_error():
    q = ember.tensor(np.ones((2, 3, 4), np.float32))
    with pytest.raises(TypeError, match="scale must be a float"):
        F.scaled_dot_product_attention(q, q, q, scale="x")
    with pytest.raises(TypeError):
        torch.nn.functional.scaled_dot_product_attention(*(torch.ones(2, 3, 4),) * 3, scale="x")


def test_layer_norm_with_a_size_zero_dim_as_torch():
    # torch builds LayerNorm(0) and normalises an empty input to an empty output; ember refused
    em, tm = nn.LayerNorm((3, 0)), torch.nn.LayerNorm((3, 0))
    assert repr(em) == repr(tm)
    assert em.weight.shape == tuple(tm.weight.shape) == (3, 0)
    x = ember.tensor(np.zeros((2, 3, 0), np.float32), requires_grad=True)
    y = em(x)
    assert y.shape == tuple(tm(torch.zeros(2, 3, 0)).shape)
    y.sum().backward()
    assert x.grad.shape == (2, 3, 0)
    with pytest.raises(ValueError, match="non-negative"):
        nn.LayerNorm(-3)
