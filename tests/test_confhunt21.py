"""Regressions from a module-level differential hunt against PyTorch (pooling, norms, RNNs)."""

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _load(em, tm):
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


@pytest.mark.parametrize("shape", [(2, 0, 3, 4), (0, 0, 3), (2, 0)])
@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_zero_channels_matches_torch(shape, affine):
    # torch builds GroupNorm(g, 0) and maps (N, 0, *) inputs to empty outputs; ember refused it
    tm = torch.nn.GroupNorm(1, 0, affine=affine, dtype=torch.float64)
    em = nn.GroupNorm(1, 0, affine=affine, dtype=np.float64)
    assert repr(em) == repr(tm)
    assert list(em.state_dict()) == list(tm.state_dict())
    x = ember.tensor(np.zeros(shape), requires_grad=True)
    y = em(x)
    assert y.shape == tuple(tm(torch.zeros(shape, dtype=torch.float64)).shape) == shape
    y.sum().backward()
    assert x.grad.shape == shape
    with pytest.raises(ValueError, match="num_groups must be >= 1"):
        nn.GroupNorm(0, 0)


def test_group_norm_zero_channels_rejects_channels():
    with pytest.raises((ValueError, RuntimeError)):
        torch.nn.GroupNorm(1, 0)(torch.zeros(2, 3, 4))
    with pytest.raises(ValueError):
        nn.GroupNorm(1, 0)(ember.zeros(2, 3, 4))


@pytest.mark.parametrize("nd", [2, 3])
def test_max_pool_window_all_padding_is_safe(nd):
    # a dilated window lying wholly in the padding: torch gives -inf with an index one past the
    # input (and its backward corrupts the heap); ember gives the same forward and zero gradient
    if nd == 2:
        m = nn.MaxPool2d((2, 3), stride=3, padding=(1, 0), dilation=2, return_indices=True)
        shape, want_idx = (1, 1, 1, 5), [5]
    else:
        m = nn.MaxPool3d((2, 4, 3), 3, (1, 2, 0), 2, return_indices=True)
        shape, want_idx = (1, 1, 1, 6, 9), [54, 57, 63, 66]
    x = ember.tensor(np.random.default_rng(0).standard_normal(shape), requires_grad=True)
    y, idx = m(x)
    assert np.all(np.isneginf(y.data))
    assert idx.data.ravel().tolist() == want_idx
    y.sum().backward()
    assert np.array_equal(x.grad.data, np.zeros(shape))


@pytest.mark.parametrize("momentum", [None, 0.3])
@pytest.mark.parametrize("cls", ["BatchNorm1d", "InstanceNorm1d"])
def test_norm_running_stats_over_steps_match_torch(cls, momentum):
    # ember's own buffers (not reloaded) across train/eval steps, cumulative average included
    kw = dict(momentum=momentum, affine=True, track_running_stats=True)
    tm = getattr(torch.nn, cls)(3, **kw, dtype=torch.float64)
    em = getattr(nn, cls)(3, **kw, dtype=np.float64)
    rng = np.random.default_rng(1)
    for step in range(5):
        training = step != 2
        tm.train(training), em.train(training)
        x = rng.standard_normal((4, 3, 5)) * 3 + 2
        np.testing.assert_allclose(em(ember.tensor(x)).data, tm(torch.tensor(x)).detach(), 1e-10)
    for k, v in tm.state_dict().items():
        got = em.state_dict()[k]
        np.testing.assert_allclose(getattr(got, "data", got), v.numpy(), 1e-12)
    # torch counts batches for BatchNorm only (InstanceNorm never touches the counter)
    assert int(np.asarray(em.num_batches_tracked.data)) == (4 if cls == "BatchNorm1d" else 0)


def test_lstm_proj_packed_unsorted_with_state_matches_torch():
    from torch.nn.utils import rnn as trnn

    from ember.nn.utils import rnn as ernn

    torch.manual_seed(0)
    kw = dict(num_layers=2, bidirectional=True, batch_first=True, proj_size=2)
    tm = torch.nn.LSTM(3, 4, **kw, dtype=torch.float64)
    em = nn.LSTM(3, 4, **kw, dtype=np.float64)
    _load(em, tm)
    rng = np.random.default_rng(2)
    x, h0, c0 = (
        rng.standard_normal((3, 5, 3)),
        rng.standard_normal((4, 3, 2)),
        rng.standard_normal((4, 3, 4)),
    )
    lengths = [2, 5, 3]
    tx, th, tc = (torch.tensor(a, requires_grad=True) for a in (x, h0, c0))
    ex, eh, ec = (ember.tensor(a, requires_grad=True) for a in (x, h0, c0))
    to, (thn, tcn) = tm(trnn.pack_padded_sequence(tx, lengths, True, False), (th, tc))
    eo, (ehn, ecn) = em(ernn.pack_padded_sequence(ex, lengths, True, False), (eh, ec))
    to, eo = trnn.pad_packed_sequence(to, True)[0], ernn.pad_packed_sequence(eo, True)[0]
    for a, b in ((to, eo), (thn, ehn), (tcn, ecn)):
        np.testing.assert_allclose(b.data, a.detach().numpy(), 1e-9, 1e-12)
    g = [rng.standard_normal(a.shape) for a in (to, thn, tcn)]
    sum((a * torch.tensor(w)).sum() for a, w in zip((to, thn, tcn), g)).backward()
    sum((a * ember.tensor(w)).sum() for a, w in zip((eo, ehn, ecn), g)).backward()
    for a, b in ((tx, ex), (th, eh), (tc, ec)):
        np.testing.assert_allclose(b.grad.data, a.grad.numpy(), 1e-8, 1e-10)
    ep = dict(em.named_parameters())
    for k, p in tm.named_parameters():
        np.testing.assert_allclose(ep[k].grad.data, p.grad.numpy(), 1e-8, 1e-10, err_msg=k)
