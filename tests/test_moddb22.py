"""Differences found by running torch's own op_db / module_db samples against ember.nn
(forward, float64 gradients, buffers, error inputs): each fixed one, checked against torch."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

torch = pytest.importorskip("torch")


def test_load_state_dict_takes_bfloat16():
    # torch's bfloat16 tensors (no .numpy()) and ember's own bfloat16 state_dict were refused
    # as "not numeric"
    tm = torch.nn.Linear(4, 3).to(torch.bfloat16)
    em = nn.Linear(4, 3).to(ember.bfloat16)
    em.load_state_dict(tm.state_dict())
    for k, v in tm.state_dict().items():
        np.testing.assert_array_equal(np.asarray(em.state_dict()[k], np.float32), v.float().numpy())
    em2 = nn.Linear(4, 3).to(ember.bfloat16)
    em2.load_state_dict(em.state_dict())  # a round trip through NumPy's (ml_dtypes) bfloat16
    np.testing.assert_array_equal(em2.weight.data, em.weight.data)
    em32 = nn.Linear(4, 3)
    em32.load_state_dict(tm.state_dict())  # into float32 parameters: cast, as torch's copy_
    assert em32.weight.dtype == ember.float32
    np.testing.assert_array_equal(em32.weight.numpy(), tm.weight.float().detach().numpy())


@pytest.mark.parametrize("dim", [0, 1])
def test_cosine_similarity_keeps_bfloat16(dim):
    # along the last dim np.vecdot of bfloat16 returned float32
    torch.manual_seed(dim)  # (unseeded draws were 3 bfloat16 ulps apart near 0.83 in some runs)
    a = torch.randn(5, 6, dtype=torch.bfloat16)
    b = torch.randn(5, 6, dtype=torch.bfloat16)
    want = torch.nn.functional.cosine_similarity(a, b, dim=dim)
    ea = ember.tensor(a.float().numpy()).to(ember.bfloat16)
    eb = ember.tensor(b.float().numpy()).to(ember.bfloat16)
    got = F.cosine_similarity(ea, eb, dim=dim)
    assert got.dtype == ember.bfloat16
    np.testing.assert_allclose(np.asarray(got, np.float32), want.float().numpy(), atol=2e-2)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("name", ["multi_margin_loss", "multilabel_margin_loss"])
def test_margin_losses_take_0d_input(name, reduction):
    # torch reads a 0-d input (and 0-d target) as one class; ember refused the shape
    x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    want = getattr(torch.nn.functional, name)(x, torch.tensor(0), reduction=reduction)
    (gw,) = torch.autograd.grad(want, x)
    ex = ember.tensor(0.3, dtype=ember.float64, requires_grad=True)
    got = getattr(F, name)(ex, ember.tensor(0), reduction=reduction)
    got.backward()
    assert got.shape == () and ex.grad.shape == ()
    assert got.item() == want.item() and ex.grad.item() == gw.item()


def test_huber_loss_refuses_complex_delta():
    # torch's HuberLoss refuses it in the constructor; ember's ran until forward
    with pytest.raises(TypeError, match="delta must be a float or int"):
        torch.nn.HuberLoss(delta=1 + 0j)
    with pytest.raises(TypeError, match="delta must be a float or int"):
        nn.HuberLoss(delta=1 + 0j)
    assert nn.HuberLoss(delta=2).delta == 2


@pytest.mark.parametrize("nd", [2, 3])
@pytest.mark.parametrize("batched", [False, True])
def test_fractional_max_pool_ignores_extra_sample_rows(nd, batched):
    # torch reads the first N rows of _random_samples (N = 1 unbatched); ember wanted exactly N
    g = torch.Generator().manual_seed(0)
    shape = ((2,) if batched else ()) + (4,) + (6,) * nd
    x = torch.randn(shape, dtype=torch.float64, generator=g)
    u = torch.rand(3, 4, nd, dtype=torch.float64, generator=g)
    fn = f"fractional_max_pool{nd}d"
    want, wi = getattr(torch.nn.functional, fn)(
        x, 2, output_ratio=(0.5,) * nd, return_indices=True, _random_samples=u
    )
    got, gi = getattr(F, fn)(
        ember.tensor(x.numpy()),
        2,
        output_ratio=(0.5,) * nd,
        return_indices=True,
        _random_samples=ember.tensor(u.numpy()),
    )
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    np.testing.assert_array_equal(gi.numpy(), wi.numpy())
    with pytest.raises(ValueError, match="_random_samples must have shape"):
        getattr(F, fn)(
            ember.tensor(x.numpy()), 2, output_ratio=(0.5,) * nd, _random_samples=u[:, :3].numpy()
        )
