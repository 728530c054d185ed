"""Differences fuzz36's survey of nn.functional and nn modules against torch 2.13 found and
fixed: refusals of a class torch's callers do not catch (a plain ValueError where torch raises
RuntimeError, a BadDtype where it raises NotImplementedError, a crash's ZeroDivisionError),
inputs ember accepted and torch refuses, and inputs torch accepts that ember refused. Each case
runs on both libraries: the same refusal family, or equal values and gradients."""

import warnings

import numpy as np
import pytest
from conftest import builtin_family

import ember
from ember.autograd import gradcheck

torch = pytest.importorskip("torch")

R = np.random.default_rng(36)
X = R.standard_normal((4, 3))
X4 = R.standard_normal((2, 2, 5, 6))
CLS = np.array([0, 2, 1, 2])


def F(L):
    return L.nn.functional


def t(L, a, **kw):
    return L.tensor(np.array(a), **kw)


# ---- refusals: ember's exception is an instance of the class torch raises -----------------

REFUSALS = {
    # plain ValueError where torch raises RuntimeError
    "pdist 3-D": lambda L: F(L).pdist(t(L, X4[0])),
    "rrelu lower > upper": lambda L: F(L).rrelu(t(L, X), 0.5, 0.1),
    "celu alpha 0": lambda L: F(L).celu(t(L, X), 0.0),
    "channel_shuffle groups 0": lambda L: F(L).channel_shuffle(t(L, X4), 0),
    "pixel_unshuffle factor 0": lambda L: F(L).pixel_unshuffle(t(L, X4), 0),
    "glu odd dim": lambda L: F(L).glu(t(L, X), 1),
    "local_response_norm size 0": lambda L: F(L).local_response_norm(t(L, X4), 0),
    "dropout1d 5-D": lambda L: F(L).dropout1d(t(L, X4[None]), 0.5),
    "layer_norm shape": lambda L: F(L).layer_norm(t(L, X4), (4,)),
    "instance_norm no stats": lambda L: F(L).instance_norm(t(L, X4), use_input_stats=False),
    # the C++ pooling checks (ValueError) and a ZeroDivisionError before any check
    "max_pool2d pad > k/2": lambda L: F(L).max_pool2d(t(L, X4), 2, padding=2),
    "avg_pool2d stride 0": lambda L: F(L).avg_pool2d(t(L, X4), 2, stride=0),
    "avg_pool1d pad > k/2": lambda L: F(L).avg_pool1d(t(L, X4[0]), 1, padding=1),
    "max_pool3d kernel 0": lambda L: F(L).max_pool3d(t(L, X4[None]), 0),
    "avg_pool3d stride 0": lambda L: F(L).avg_pool3d(t(L, X4[None]), 2, stride=0),
    "adaptive_avg_pool2d -1": lambda L: F(L).adaptive_avg_pool2d(t(L, X4), (1, -1)),
    # batch_norm running statistics of another dtype or shape
    "batch_norm stats dtype": lambda L: F(L).batch_norm(
        t(L, X), t(L, np.zeros(3), dtype=L.float32), t(L, np.ones(3), dtype=L.float32)
    ),
    "batch_norm stats shape": lambda L: F(L).batch_norm(
        t(L, X), t(L, np.zeros(2)), t(L, np.ones(3)), training=True
    ),
    # no kernel for the dtype: torch's NotImplementedError
    "elu int64": lambda L: F(L).elu(t(L, CLS)),
    "gelu complex": lambda L: F(L).gelu(t(L, X).to(L.complex64)),
    "cross_entropy int input": lambda L: F(L).cross_entropy(
        t(L, np.ones((4, 3), np.int64)), t(L, CLS)
    ),
    "layer_norm bool": lambda L: F(L).layer_norm(t(L, X > 0), (3,)),
    "max_pool2d bool": lambda L: F(L).max_pool2d(t(L, X4 > 0), 2),
    # NotImplementedError for an unknown mode or rank
    "interpolate mode foo": lambda L: F(L).interpolate(t(L, X4), scale_factor=2, mode="foo"),
    "interpolate bilinear 3-D": lambda L: F(L).interpolate(t(L, X4[0]), size=3, mode="bilinear"),
    "pad mode foo": lambda L: F(L).pad(t(L, X), (1, 1), mode="foo"),
    "pad mode foo odd pad": lambda L: F(L).pad(t(L, X), (1,), mode="foo"),
    "pad reflect 3 dims of 3-D": lambda L: F(L).pad(t(L, X4[0]), (1,) * 6, mode="reflect"),
    # a crash's error (NaN / inf to int) where torch raises RuntimeError
    "interpolate scale nan": lambda L: F(L).interpolate(t(L, X4), scale_factor=float("nan")),
    "interpolate scale inf": lambda L: F(L).interpolate(t(L, X4), scale_factor=float("inf")),
    "normalize inf empty dim": lambda L: F(L).normalize(t(L, np.zeros((2, 0))), p=float("inf")),
    # index and dtype checks of torch's class
    "max_unpool2d float indices": lambda L: F(L).max_unpool2d(
        t(L, X4[:, :, :2, :3]), t(L, np.zeros((2, 2, 2, 3))), 2
    ),
    "multilabel_margin target": lambda L: F(L).multilabel_margin_loss(
        t(L, X), t(L, np.full((4, 3), 3))
    ),
    "multilabel_soft_margin 0-D": lambda L: F(L).multilabel_soft_margin_loss(t(L, 0.5), t(L, 1.0)),
    "one_hot float": lambda L: F(L).one_hot(t(L, [1.0, 2.0])),
    "softmin bool": lambda L: F(L).softmin(t(L, X > 0), 1),
    "embedding float indices": lambda L: F(L).embedding(t(L, [0.0, 1.0]), t(L, X)),
    "embedding padding_idx": lambda L: F(L).embedding(t(L, [0, 1]), t(L, X), padding_idx=4),
    "embedding_bag index": lambda L: F(L).embedding_bag(
        t(L, [0, 1, 7]), t(L, X), t(L, [0, 2]), mode="sum"
    ),
    "sdpa int mask": lambda L: F(L).scaled_dot_product_attention(
        *(t(L, R.standard_normal((2, 3, 4))) for _ in range(3)),
        attn_mask=t(L, np.ones((3, 3), np.int64)),
    ),
    "l1_loss bool target": lambda L: F(L).l1_loss(t(L, X), t(L, X > 0)),
    "silu complex with grad": lambda L: F(L).silu(t(L, X + 1j, requires_grad=True)),
    "dropout1d complex p=0.5": lambda L: F(L).dropout1d(t(L, X + 1j), 0.5),
    # modules
    "MHA attn_mask shape": lambda L: L.nn.MultiheadAttention(4, 2).double()(
        *(t(L, R.standard_normal((3, 2, 4))) for _ in range(3)), attn_mask=t(L, np.zeros((3, 4)))
    ),
    "Transformer batch": lambda L: _transformer(L)(
        t(L, R.standard_normal((4, 2, 4))), t(L, R.standard_normal((3, 3, 4)))
    ),
    "Transformer d_model": lambda L: _transformer(L)(
        t(L, R.standard_normal((4, 2, 4))), t(L, R.standard_normal((3, 2, 5)))
    ),
    "Hardtanh max <= min": lambda L: L.nn.Hardtanh(1.0, -1.0)(t(L, X)),
    "RReLU lower > upper": lambda L: L.nn.RReLU(0.5, 0.1)(t(L, X)),
    "CELU alpha 0": lambda L: L.nn.CELU(0.0)(t(L, X)),
    "GELU approximate": lambda L: L.nn.GELU("foo")(t(L, X)),
    "Unflatten sizes": lambda L: L.nn.Unflatten(1, (2, 2))(t(L, X)),
    "Embedding padding_idx": lambda L: L.nn.Embedding(3, 2, padding_idx=3),
    "AdaptiveLogSoftmax target": lambda L: L.nn.AdaptiveLogSoftmaxWithLoss(3, 6, [2]).double()(
        t(L, X), t(L, [0, 1, 6, 2])
    ),
    # nn.init
    "kaiming_uniform_ int64": lambda L: L.nn.init.kaiming_uniform_(L.zeros(3, 2, dtype=L.int64)),
    "orthogonal_ bool": lambda L: L.nn.init.orthogonal_(L.zeros(3, 2, dtype=L.bool)),
    "constant_ nan into int64": lambda L: L.nn.init.constant_(L.zeros(3, dtype=L.int64), np.nan),
    "constant_ 300 into int8": lambda L: L.nn.init.constant_(L.zeros(3, dtype=L.int8), 300),
}


def _transformer(L):
    kw = dict(num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=8, dropout=0.0)
    with warnings.catch_warnings():  # (torch's note that its nested-tensor path is off)
        warnings.simplefilter("ignore", UserWarning)
        return L.nn.Transformer(4, 2, **kw).double()


@pytest.mark.parametrize("call", REFUSALS.values(), ids=REFUSALS.keys())
def test_refused_as_torch_refuses(call):
    with pytest.raises(Exception) as want:  # noqa: B017 (the class is torch's, read below)
        call(torch)
    with pytest.raises(builtin_family(want.value)) as got:
        call(ember)
    assert str(got.value)  # a message, not a bare class


# ---- values: accepted as torch accepts them ------------------------------------------------

PROB = np.exp(X) / np.exp(X).sum(1, keepdims=True)
Q, K, V = (R.standard_normal((2, 3, 4)) for _ in range(3))

VALUES = {
    # PyTorch checks only label_smoothing <= 1: a negative or NaN one is no smoothing
    "ce smoothing -0.1": lambda L, g: F(L).cross_entropy(g(X), t(L, CLS), label_smoothing=-0.1),
    "ce smoothing nan": lambda L, g: F(L).cross_entropy(
        g(X), t(L, CLS), label_smoothing=float("nan"), reduction="none"
    ),
    "ce smoothing -1 probs": lambda L, g: F(L).cross_entropy(g(X), g(PROB), label_smoothing=-1.0),
    "CrossEntropyLoss smoothing -0.5": lambda L, g: L.nn.CrossEntropyLoss(label_smoothing=-0.5)(
        g(X), t(L, CLS)
    ),
    # dropout_p <= 0 is no dropout
    "sdpa dropout -0.5": lambda L, g: F(L).scaled_dot_product_attention(
        g(Q), g(K), g(V), dropout_p=-0.5
    ),
    # 0-D anchors, as torch's pairwise distance of scalars
    "triplet 0-D": lambda L, g: F(L).triplet_margin_loss(g(1.0), g(2.0), g(0.5)),
    "triplet 0-D swap": lambda L, g: F(L).triplet_margin_loss(g(1.0), g(2.5), g(0.5), swap=True),
    "triplet distance 0-D": lambda L, g: F(L).triplet_margin_with_distance_loss(
        g(0.3), g(2.0), g(-0.5), margin=2.0
    ),
    "normalize 0-D inf norm": lambda L, g: F(L).normalize(g(-0.7), p=float("inf"), dim=-1),
}


def _values_and_grads(L, call):
    leaves = []

    def g(a):
        leaves.append(t(L, a, dtype=L.float64, requires_grad=True))
        return leaves[-1]

    out = call(L, g)
    out.backward(t(L, np.random.default_rng(1).standard_normal(tuple(out.shape))))
    return out.detach().numpy(), [a.grad.numpy() for a in leaves]


@pytest.mark.parametrize("call", VALUES.values(), ids=VALUES.keys())
def test_accepted_with_torch_values(call):
    got, got_grads = _values_and_grads(ember, call)
    want, want_grads = _values_and_grads(torch, call)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    for a, b in zip(got_grads, want_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


Z = (X + 1j * X[::-1]).astype(np.complex64)
IDS = np.arange(24).reshape(2, 3, 4)

NO_GRAD_VALUES = {
    # the identity dropouts (eval, or p = 0) return any dtype as is
    "dropout1d eval int64": lambda L: F(L).dropout1d(t(L, IDS), 0.5, training=False),
    "dropout2d p=0 bool": lambda L: F(L).dropout2d(t(L, IDS[None] > 5), 0.0),
    "dropout3d p=0 complex": lambda L: F(L).dropout3d(t(L, Z[None, None, None]), 0.0),
    "dropout eval complex": lambda L: F(L).dropout(t(L, Z), 0.3, training=False),
    # complex inputs torch computes
    "silu complex": lambda L: F(L).silu(t(L, Z)),
    "pad constant complex": lambda L: F(L).pad(t(L, Z), (1, -1, 2, 0)),
    "pad circular complex": lambda L: F(L).pad(t(L, Z[None]), (2, 1), mode="circular"),
}


@pytest.mark.parametrize("call", NO_GRAD_VALUES.values(), ids=NO_GRAD_VALUES.keys())
def test_accepted_with_torch_values_no_grad(call):
    got, want = call(ember), call(torch)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6, atol=1e-7)


def test_pad_complex_gradient():
    w = R.standard_normal((4, 6)) + 1j * R.standard_normal((4, 6))

    def grad(L):
        x = t(L, X + 0.5j, requires_grad=True)
        (F(L).pad(x, (2, 1)) * t(L, w)).sum().real.backward()
        return x.grad.numpy()

    np.testing.assert_allclose(grad(ember), grad(torch), rtol=1e-12)


def test_triplet_0d_gradcheck():
    a, p, n = (ember.tensor(v, dtype=ember.float64, requires_grad=True) for v in (0.3, 1.7, -0.4))
    assert gradcheck(lambda *xs: ember.nn.functional.triplet_margin_loss(*xs, swap=True), (a, p, n))
