"""Channel and alpha dropout, Unflatten, ParameterList/ParameterDict, cosine similarity,
pairwise distance, normalize, one_hot and pad: against PyTorch (values and gradients),
float64 gradcheck, train/eval semantics and bad arguments."""

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import ember
from ember import nn, optim
from ember.autograd import gradcheck
from ember.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional


def _both(x, requires_grad=True):
    return ember.tensor(x, requires_grad=requires_grad), torch.tensor(
        x, requires_grad=requires_grad
    )


def _check_fn(fn, tfn, arrays, rtol=1e-10, atol=1e-12, **kw):
    """Values and gradients (for a random upstream gradient) of fn vs tfn on float64 arrays."""
    es, ts = zip(*(_both(a) for a in arrays))
    y, yt = fn(*es, **kw), tfn(*ts, **kw)
    np.testing.assert_allclose(y.numpy(), yt.detach().numpy(), rtol=rtol, atol=atol)
    g = np.random.default_rng(99).standard_normal(yt.shape)
    (y * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    for e, t in zip(es, ts):
        np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=rtol, atol=atol)


# ---- dropout variants ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn,shape,mask_dims",
    [
        (F.dropout1d, (8, 6, 5), 2),
        (F.dropout1d, (6, 5), 1),
        (F.dropout2d, (8, 6, 4, 3), 2),
        (F.dropout3d, (4, 6, 2, 3, 2), 2),
        (F.dropout3d, (6, 2, 3, 2), 1),
    ],
)
def test_channel_dropout_masks_whole_channels(fn, shape, mask_dims):
    ember.manual_seed(0)
    x = ember.tensor(np.random.default_rng(0).uniform(1, 2, shape), requires_grad=True)
    y = fn(x, p=0.4)
    ratio = (y.numpy() / x.numpy()).reshape(shape[:mask_dims] + (-1,))
    # every channel is wholly dropped (0) or wholly kept and scaled by 1 / (1 - p)
    assert np.all(np.isclose(ratio, 0) | np.isclose(ratio, 1 / 0.6))
    np.testing.assert_allclose(ratio.min(axis=-1), ratio.max(axis=-1))
    assert 0 < (ratio[..., 0] == 0).sum() < ratio[..., 0].size
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), y.numpy() / x.numpy())
    assert (fn(x, p=0.4, training=False) is x) == (
        mask_dims == 2
    )  # unbatched: a new view, as torch
    np.testing.assert_array_equal(fn(x, p=1.0).numpy(), 0)
    ember.manual_seed(5)
    a = fn(x, 0.5).numpy()
    ember.manual_seed(5)
    np.testing.assert_array_equal(fn(x, 0.5).numpy(), a)


def test_channel_dropout_rate():
    ember.manual_seed(1)
    y = F.dropout2d(ember.ones(200, 100, 2, 2), p=0.3)
    kept = (y.numpy()[:, :, 0, 0] != 0).mean()
    assert abs(kept - 0.7) < 0.01
    np.testing.assert_allclose(y.numpy().mean(), 1.0, rtol=0.02)


def test_dropout_modules_train_and_eval():
    x = ember.ones(4, 3, 5, 5)
    for cls in (nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout):
        m = cls(0.5)
        assert repr(m) == repr(getattr(torch.nn, cls.__name__)(0.5))
        xx = x if cls is not nn.Dropout1d else ember.ones(4, 3, 5)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Dropout3d on a 4-D input warns, as PyTorch
            assert not np.array_equal(m(xx).numpy(), xx.numpy())
            m.eval()
            assert m(xx) is xx or np.array_equal(m(xx).numpy(), xx.numpy())
    with pytest.raises(ValueError, match="between 0 and 1"):
        nn.Dropout2d(1.5)


def test_dropout_warnings_and_errors_follow_pytorch():
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        y = F.dropout2d(ember.ones(2, 3, 4), 0.5)
    r = y.numpy()
    assert np.all(r.min(axis=-1) == r.max(axis=-1))  # read as (N, C, L)
    with pytest.warns(UserWarning, match="2-D input to dropout2d"):
        F.dropout2d(ember.ones(2, 3), 0.5)
    with pytest.raises(ValueError, match="2D or 3D"):
        F.dropout1d(ember.ones(2, 3, 4, 5))
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.dropout1d(ember.ones(2, 3), p=-0.1)
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.alpha_dropout(ember.ones(2, 3), p=2, training=True)


def test_alpha_dropout_keeps_selu_statistics():
    ember.manual_seed(2)
    x = ember.tensor(np.random.default_rng(2).standard_normal(400_000))
    assert F.alpha_dropout(x, 0.2) is x  # PyTorch's functional default: training=False
    for p in (0.1, 0.3, 0.5):
        y = F.alpha_dropout(x, p, training=True).numpy()
        assert abs(y.mean()) < 0.01 and abs(y.std() - 1) < 0.01
        t = TF.alpha_dropout(torch.tensor(x.numpy()), p, training=True).numpy()
        assert abs(t.mean()) < 0.01 and abs(t.std() - 1) < 0.01
    # dropped entries all take one value: a * (-SELU's saturation) + b
    y = F.alpha_dropout(ember.zeros(1000, dtype=np.float64), 0.5, training=True).numpy()
    alpha, p = 1.6732632423543772 * 1.0507009873554805, 0.5
    a = 1 / math.sqrt((alpha**2 * p + 1) * (1 - p))
    np.testing.assert_allclose(np.unique(y), sorted([-alpha * a + alpha * a * p, alpha * a * p]))
    np.testing.assert_array_equal(F.alpha_dropout(x, 1.0, training=True).numpy(), 0)


def test_alpha_dropout_gradient_and_feature_variant():
    alpha = 1.6732632423543772 * 1.0507009873554805
    a = 1 / math.sqrt((alpha**2 * 0.3 + 1) * 0.7)
    ember.manual_seed(3)
    x = ember.tensor(np.random.default_rng(3).standard_normal((6, 4, 3)), requires_grad=True)
    F.alpha_dropout(x, 0.3, training=True).sum().backward()
    grads = np.unique(x.grad.numpy())
    np.testing.assert_allclose(grads, [0.0, a])  # dropped: 0, kept: a
    x.grad = None
    F.feature_alpha_dropout(x, 0.3, training=True).sum().backward()
    g = x.grad.numpy()
    np.testing.assert_array_equal(g.min(axis=-1), g.max(axis=-1))  # whole channels
    assert set(np.unique(g)) == {0.0, a}


# ---- Unflatten, ParameterList, ParameterDict -----------------------------------------------


@pytest.mark.parametrize("dim,sizes", [(1, (2, 6)), (-1, (3, 2, 2)), (0, (1, 4)), (1, [3, -1])])
def test_unflatten(dim, sizes):
    x = np.arange(48.0).reshape(4, 12)
    m, mt = nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
    np.testing.assert_array_equal(m(ember.tensor(x)).numpy(), mt(torch.tensor(x)).numpy())
    assert repr(m) == repr(mt)
    xe = ember.tensor(x, requires_grad=True)
    m(xe).sum().backward()
    assert xe.grad.shape == (4, 12)


def test_unflatten_errors():
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, 6)
    with pytest.raises(TypeError, match="tuple of ints"):
        nn.Unflatten(1, (2.0, 3))
    with pytest.raises(ValueError):
        nn.Unflatten(1, (5, 5))(ember.ones(2, 6))
    with pytest.raises(IndexError, match="out of range"):
        nn.Unflatten(3, (2, 3))(ember.ones(2, 6))


def test_parameter_list():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.ps = nn.ParameterList([nn.Parameter(ember.ones(2)), ember.zeros(3)])
            self.ps.append(ember.ones(1))

    net = Net()
    assert [n for n, _ in net.named_parameters()] == ["ps.0", "ps.1", "ps.2"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.ps)
    assert len(net.ps) == 3 and net.ps[-1].shape == (1,)
    assert len(net.ps[1:]) == 2
    tnet = torch.nn.Module()
    tnet.ps = torch.nn.ParameterList([torch.ones(2), torch.zeros(3), torch.ones(1)])
    assert list(net.state_dict()) == list(tnet.state_dict())
    net.ps[0] = ember.full((2,), 5.0)
    assert np.all(net.ps[0].numpy() == 5) and isinstance(net.ps[0], nn.Parameter)
    opt = optim.SGD(net.parameters(), lr=1.0)
    (net.ps[0].sum() + net.ps[1].sum()).backward()
    opt.step()
    np.testing.assert_array_equal(net.ps[1].numpy(), -1)
    with pytest.raises(IndexError):
        net.ps[3]
    net.ps.append(3.0)  # as torch: a plain value is held, not made a parameter
    assert net.ps[3] == 3.0 and len(list(net.parameters())) == 3


def test_parameter_dict():
    pd = nn.ParameterDict({"b": ember.ones(2), "a": nn.Parameter(ember.zeros(1))})
    assert list(pd.keys()) == ["a", "b"] and "a" in pd and len(pd) == 2  # a dict is sorted
    assert [n for n, _ in pd.named_parameters()] == ["a", "b"]
    od = nn.ParameterDict(OrderedDict([("b", ember.ones(2)), ("a", ember.zeros(1))]))
    assert list(od) == ["b", "a"]
    tpd = torch.nn.ParameterDict({"b": torch.ones(2), "a": torch.zeros(1)})
    assert list(pd.state_dict()) == list(tpd.state_dict())
    pd["c"] = ember.ones(3)
    pd.update([("d", ember.ones(1))])
    assert list(pd) == ["a", "b", "c", "d"]
    assert isinstance(pd.pop("c"), nn.Parameter) and "c" not in pd
    del pd["d"]
    assert [n for n, _ in pd.named_parameters()] == ["a", "b"]
    with pytest.raises(TypeError):
        pd[1] = ember.ones(1)
    with pytest.raises(KeyError):
        pd["zz"]


# ---- distances ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "s1,s2,dim",
    [
        ((5, 4), (5, 4), 1),
        ((3, 4, 5), (3, 4, 5), -1),
        ((3, 4), (1, 4), 1),
        ((6,), (6,), 0),
        ((2, 3, 4), (3, 4), 0),
    ],
)
def test_cosine_similarity(s1, s2, dim):
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal(s1), rng.standard_normal(s2)
    _check_fn(F.cosine_similarity, TF.cosine_similarity, (a, b), dim=dim)
    assert gradcheck(
        lambda x, y: F.cosine_similarity(x, y, dim),
        (ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)),
    )
    m, mt = nn.CosineSimilarity(dim), torch.nn.CosineSimilarity(dim)
    np.testing.assert_allclose(
        m(ember.tensor(a), ember.tensor(b)).numpy(),
        mt(torch.tensor(a), torch.tensor(b)).numpy(),
        rtol=1e-12,
    )


def test_cosine_similarity_of_zero_vectors_is_zero():
    z, x = np.zeros((2, 3)), np.ones((2, 3))
    np.testing.assert_array_equal(F.cosine_similarity(ember.tensor(z), ember.tensor(x)).numpy(), 0)
    assert F.cosine_similarity(ember.ones(2, 3), ember.ones(2, 3)).dtype == np.float32


@pytest.mark.parametrize("p", [2.0, 1.0, 3.0, 0.5, math.inf])
@pytest.mark.parametrize("keepdim", [False, True])
def test_pairwise_distance(p, keepdim):
    rng = np.random.default_rng(11)
    a, b = rng.standard_normal((5, 4)), rng.standard_normal((5, 4))
    _check_fn(F.pairwise_distance, TF.pairwise_distance, (a, b), p=p, keepdim=keepdim)
    assert gradcheck(
        lambda x, y: F.pairwise_distance(x, y, p, keepdim=keepdim),
        (ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)),
    )
    m, mt = nn.PairwiseDistance(p, 1e-3, keepdim), torch.nn.PairwiseDistance(p, 1e-3, keepdim)
    np.testing.assert_allclose(
        m(ember.tensor(a), ember.tensor(b)).numpy(),
        mt(torch.tensor(a), torch.tensor(b)).numpy(),
        rtol=1e-12,
    )


def test_pairwise_distance_broadcasts_and_1d():
    rng = np.random.default_rng(12)
    _check_fn(
        F.pairwise_distance,
        TF.pairwise_distance,
        (rng.standard_normal((3, 4)), rng.standard_normal(4)),
    )
    _check_fn(
        F.pairwise_distance, TF.pairwise_distance, (rng.standard_normal(4), rng.standard_normal(4))
    )


@pytest.mark.parametrize("p,dim", [(2.0, 1), (1.0, 1), (3.0, 0), (2.0, -1), (math.inf, 1)])
def test_normalize(p, dim):
    x = np.random.default_rng(13).standard_normal((4, 5, 3))
    _check_fn(F.normalize, TF.normalize, (x,), p=p, dim=dim)
    assert gradcheck(lambda t: F.normalize(t, p, dim), (ember.tensor(x, requires_grad=True),))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_normalize_rows_below_eps_match_torch(dtype, dim):
    # the fused p=2 node: rows of zeros, rows whose norm is under eps (clamped: no gradient
    # through the norm) and ordinary rows, values and gradients as torch's
    x = np.random.default_rng(5).standard_normal((4, 6)).astype(dtype)
    x[0], x[1] = 0, x[1] * 1e-14
    g = np.random.default_rng(6).standard_normal((4, 6)).astype(dtype)
    te, tt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = F.normalize(te, dim=dim), TF.normalize(tt, dim=dim)
    (ye * ember.tensor(g)).sum().backward()
    (yt * torch.tensor(g)).sum().backward()
    tol = 1e-6 if dtype == np.float32 else 1e-13
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(te.grad.numpy(), tt.grad.numpy(), rtol=10 * tol, atol=tol)


def test_normalize_zero_rows_and_errors():
    x = np.zeros((2, 3))
    x[1] = [3.0, 4.0, 0.0]
    _check_fn(F.normalize, TF.normalize, (x,))
    np.testing.assert_allclose(F.normalize(ember.tensor(x)).numpy()[1], [0.6, 0.8, 0])
    with pytest.raises(IndexError, match="out of range"):
        F.normalize(ember.ones(2, 3), dim=2)
    # p = 0 and p < 0 run as PyTorch: tests/test_audit2.py
    # mixed float dtypes compute in the wider, as PyTorch
    assert (
        F.cosine_similarity(ember.ones(2, 3), ember.ones(2, 3, dtype=np.float64)).dtype
        == np.float64
    )
    with pytest.raises(ValueError, match="broadcast"):
        F.pairwise_distance(ember.ones(2, 3), ember.ones(2, 4))


# ---- one_hot ------------------------------------------------------------------------------


@pytest.mark.parametrize("shape,c", [((5,), -1), ((3, 4), 7), ((), 3), ((2, 0), 4)])
def test_one_hot(shape, c):
    idx = np.random.default_rng(14).integers(0, 3, shape)
    y, yt = F.one_hot(ember.tensor(idx), c), TF.one_hot(torch.tensor(idx), c)
    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy(), yt.numpy())


def test_one_hot_errors():
    with pytest.raises(ValueError, match="non-negative"):
        F.one_hot(ember.tensor(np.array([-1, 2])))
    with pytest.raises(ValueError, match="smaller than num_classes"):
        F.one_hot(ember.tensor(np.array([1, 3])), 3)
    with pytest.raises(TypeError, match="integer"):
        F.one_hot(ember.tensor([1.0, 2.0]))
    with pytest.raises(ValueError, match="empty"):
        F.one_hot(ember.tensor(np.zeros(0, np.int64)))


# ---- pad ----------------------------------------------------------------------------------

PADS = [
    ((2, 3, 5), (1, 2), "constant"),
    ((2, 3, 5), (2, 1), "reflect"),
    ((2, 3, 5), (3, 0), "replicate"),
    ((2, 3, 5), (2, 5), "circular"),
    ((3, 5), (4, 4), "reflect"),
    ((3, 5), (1, 2), "replicate"),
    ((2, 3, 4, 5), (1, 2, 3, 0), "constant"),
    ((2, 3, 4, 5), (1, 2, 3, 1), "reflect"),
    ((2, 3, 4, 5), (2, 2, 1, 3), "replicate"),
    ((2, 3, 4, 5), (1, 2, 3, 4), "circular"),
    ((3, 4, 5), (1, 1, 2, 2), "reflect"),
    ((3, 4, 5), (0, 3, 1, 0), "replicate"),
    ((1, 2, 3, 4, 5), (1, 2, 2, 1, 1, 1), "reflect"),
    ((2, 3, 4, 5), (1, 1, 1, 1, 1, 1), "replicate"),
    ((2, 3, 4, 5), (1, 0, 2, 1, 0, 1), "circular"),
    ((2, 3, 4, 5), (1, 1, 1, 1, 1, 1, 1, 1), "constant"),
    ((2, 3, 4), (-1, 2, 1, -2), "constant"),
    ((4, 5), (0, 0), "reflect"),
]


@pytest.mark.parametrize("shape,padding,mode", PADS, ids=[f"{m}-{s}-{p}" for s, p, m in PADS])
def test_pad_matches_pytorch(shape, padding, mode):
    x = np.random.default_rng(15).standard_normal(shape)
    _check_fn(lambda t: F.pad(t, padding, mode), lambda t: TF.pad(t, padding, mode), (x,))
    assert gradcheck(lambda t: F.pad(t, padding, mode), (ember.tensor(x, requires_grad=True),))
    assert F.pad(ember.tensor(x.astype(np.float32)), padding, mode).dtype == np.float32


def test_pad_constant_value():
    x = np.arange(6.0).reshape(2, 3)
    y, yt = (
        F.pad(ember.tensor(x), (1, 1, 2, 0), value=-3.5),
        TF.pad(torch.tensor(x), (1, 1, 2, 0), value=-3.5),
    )
    np.testing.assert_array_equal(y.numpy(), yt.numpy())


def test_pad_of_empty_dims():
    x = ember.tensor(np.zeros((2, 0)), requires_grad=True)
    y = F.pad(x, (1, 2), value=4.0)
    np.testing.assert_array_equal(y.numpy(), TF.pad(torch.zeros(2, 0), (1, 2), value=4.0).numpy())
    y.sum().backward()
    assert x.grad.shape == (2, 0)


def test_pad_errors():
    x = ember.ones(2, 3, 4)
    with pytest.raises(ValueError, match="mode"):
        F.pad(x, (1, 1), mode="symmetric")
    with pytest.raises(ValueError, match="divisible by 2"):
        F.pad(x, (1, 1, 1))
    with pytest.raises(ValueError, match="more than twice"):
        F.pad(x, (1,) * 8)
    with pytest.raises(ValueError, match=r"reflect padding \(4, 0\) .* at most 3"):
        F.pad(x, (4, 0), mode="reflect")
    with pytest.raises(ValueError, match=r"circular padding \(5, 0\) .* at most 4"):
        F.pad(x, (5, 0), mode="circular")
    with pytest.raises(ValueError, match="value"):
        F.pad(x, (1, 1), mode="reflect", value=2.0)
    with pytest.raises(ValueError, match="pads the last 1 to 3 dims"):
        F.pad(ember.ones(4), (1, 1), mode="replicate")
    with pytest.raises(ValueError, match="pads the last 1 to 3 dims"):
        F.pad(ember.ones(2, 2, 2, 2), (1, 1), mode="reflect")
    with pytest.raises(ValueError, match=r"replicate padding \(-3, -1\)"):
        F.pad(x, (-3, -1), mode="replicate")  # crops to nothing
    with pytest.raises(ValueError, match="crops more than"):
        F.pad(x, (-3, -2))


def test_sync_batchnorm_is_batch_norm_in_one_process_and_converts_models():
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((6, 3, 4, 5))
    outs = []
    for m in (ember, torch):
        m.manual_seed(0)
        net = m.nn.Sequential(m.nn.Conv2d(3, 4, 3), m.nn.BatchNorm2d(4),
                              m.nn.Sequential(m.nn.Flatten(), m.nn.BatchNorm1d(24)))  # fmt: skip
        bn_weight = net[1].weight
        net = m.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        assert type(net[1]).__name__ == "SyncBatchNorm" and net[1].weight is bn_weight
        assert type(net[2][1]).__name__ == "SyncBatchNorm"
        net = net.double()
        m.nn.init.constant_(net[0].weight, 0.1)
        m.nn.init.constant_(net[0].bias, 0.2)
        y = net(m.tensor(x))
        y.square().sum().backward()
        outs.append((y.detach().numpy(), net[1].running_var.numpy(), net[1].weight.grad.numpy()))
    for mine, theirs in zip(*outs):
        np.testing.assert_allclose(mine, theirs, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="at least 2D"):
        ember.nn.SyncBatchNorm(3)(ember.randn(3))


def test_lazy_parameters_are_uninitialized_until_the_first_forward():
    from ember.nn.parameter import UninitializedBuffer, UninitializedParameter

    lin, bn = ember.nn.LazyLinear(4), ember.nn.LazyBatchNorm1d()
    assert isinstance(lin.weight, UninitializedParameter)
    assert isinstance(lin.weight, ember.nn.Parameter)  # as torch's subclass
    assert isinstance(bn.running_mean, UninitializedBuffer)
    lin(ember.randn(2, 3))
    bn(ember.randn(5, 3))
    assert type(lin.weight) is ember.nn.Parameter and lin.weight.shape == (4, 3)
    assert type(bn.running_mean) is ember.Tensor and bn.running_mean.shape == (3,)
    p = UninitializedParameter()
    p.materialize((2, 3), dtype=ember.float64)
    assert type(p) is ember.nn.Parameter and p.shape == (2, 3) and p.dtype == np.float64


def test_convert_conv_weight_memory_format():
    m = ember.nn.Sequential(
        ember.nn.Conv2d(3, 4, 3), ember.nn.Sequential(ember.nn.ConvTranspose2d(4, 2, 2)),
        ember.nn.Linear(2, 2), ember.nn.Conv3d(1, 2, 2),
    )  # fmt: skip
    x = ember.randn(1, 3, 6, 6)
    before = m[1](m[0](x)).detach().numpy()
    assert ember.nn.utils.convert_conv2d_weight_memory_format(m, ember.channels_last) is m
    for w in (m[0].weight, m[1][0].weight):
        assert w.is_contiguous(memory_format=ember.channels_last) and not w.is_contiguous()
    np.testing.assert_allclose(m[1](m[0](x)).detach().numpy(), before, rtol=1e-6)
    assert m[3].weight.is_contiguous()  # 3-D convolutions untouched by the 2-D form
    ember.nn.utils.convert_conv3d_weight_memory_format(m, ember.channels_last_3d)
    assert m[3].weight.is_contiguous(memory_format=ember.channels_last_3d)
    with pytest.raises(TypeError, match="memory_format"):
        ember.nn.utils.convert_conv2d_weight_memory_format(m, "channels_last")


def test_layers_take_the_default_dtype():
    """As torch: set_default_dtype(float64) before building a model gives float64 weights."""
    layers = [
        lambda: ember.nn.Linear(3, 4), lambda: ember.nn.Conv2d(3, 4, 3),
        lambda: ember.nn.BatchNorm1d(3), lambda: ember.nn.LayerNorm(3),
        lambda: ember.nn.Embedding(5, 3), lambda: ember.nn.LSTM(3, 4), lambda: ember.nn.GRU(3, 4),
        lambda: ember.nn.MultiheadAttention(4, 2), lambda: ember.nn.PReLU(),
        lambda: ember.nn.GroupNorm(2, 4), lambda: ember.nn.RMSNorm(3),
        lambda: ember.nn.TransformerEncoderLayer(4, 2), lambda: ember.nn.Parameter(),
    ]  # fmt: skip
    old = ember.get_default_dtype()
    try:
        ember.set_default_dtype(ember.float64)
        for make in layers:
            m = make()
            params = [m] if isinstance(m, ember.nn.Parameter) else list(m.parameters())
            assert {p.dtype for p in params} == {np.dtype(np.float64)}, make
        assert ember.nn.Linear(2, 2, dtype=ember.float32).weight.dtype == np.float32
    finally:
        ember.set_default_dtype(old)
    assert ember.nn.Linear(2, 2).weight.dtype == np.float32
