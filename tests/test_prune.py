"""nn.utils.prune: masks by magnitude, norm, chance and hand; iterative and global pruning;
the reparametrisation's gradients and state_dict; remove; errors. Against torch when present."""

import numpy as np
import pytest

import ember
import ember.nn.utils.prune as prune

W = np.random.default_rng(0).standard_normal((6, 4)).astype(np.float32)


def linear():
    m = ember.nn.Linear(4, 6)
    m.weight.data[...] = W
    return m


def test_l1_unstructured_masks_the_smallest_magnitudes():
    m = prune.l1_unstructured(linear(), "weight", amount=0.25)
    mask = m.weight_mask.numpy()
    assert mask.sum() == 24 - 6
    cut = np.sort(np.abs(W).ravel())[5]
    np.testing.assert_array_equal(mask, (np.abs(W) > cut).astype(np.float32))
    np.testing.assert_array_equal(m.weight.numpy(), W * mask)
    assert sorted(n for n, _ in m.named_parameters()) == ["bias", "weight_orig"]
    assert list(m.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    assert prune.is_pruned(m) and not prune.is_pruned(ember.nn.Linear(2, 2))


def test_iterative_pruning_prunes_among_the_remaining():
    m = prune.l1_unstructured(linear(), "weight", amount=0.25)  # 6 of 24
    prune.l1_unstructured(m, "weight", amount=0.5)  # half of the 18 left
    assert m.weight_mask.numpy().sum() == 9
    hook = next(iter(m._forward_pre_hooks.values()))
    assert isinstance(hook, prune.PruningContainer) and len(hook) == 2
    kept = np.abs(W)[m.weight_mask.numpy() == 1]
    assert kept.min() >= np.sort(np.abs(W).ravel())[15]


def test_ln_structured_prunes_whole_rows():
    m = prune.ln_structured(linear(), "weight", amount=2, n=2, dim=0)
    mask = m.weight_mask.numpy()
    norms = np.linalg.norm(W, axis=1)
    dropped = np.argsort(norms)[:2]
    np.testing.assert_array_equal(mask.sum(1) == 0, np.isin(np.arange(6), dropped))
    assert set(np.unique(mask.sum(1))) == {0.0, 4.0}


def test_random_methods_prune_the_amount_and_follow_the_seed():
    ember.manual_seed(3)
    a = prune.random_unstructured(linear(), "weight", amount=10).weight_mask.numpy()
    ember.manual_seed(3)
    b = prune.random_unstructured(linear(), "weight", amount=10).weight_mask.numpy()
    np.testing.assert_array_equal(a, b)
    assert a.sum() == 14
    c = prune.random_structured(linear(), "weight", amount=0.5, dim=1).weight_mask.numpy()
    assert (c.sum(0) == 0).sum() == 2 and set(np.unique(c.sum(0))) == {0.0, 6.0}


def test_pruned_entries_get_no_gradient_and_stay_zero_in_training():
    ember.manual_seed(0)
    m = prune.l1_unstructured(linear(), "weight", amount=0.5)
    mask = m.weight_mask.numpy().copy()
    opt = ember.optim.SGD(m.parameters(), lr=0.1)
    x, y = ember.randn(16, 4), ember.randn(16, 6)
    for _ in range(5):
        opt.zero_grad()
        ember.nn.functional.mse_loss(m(x), y).backward()
        assert (m.weight_orig.grad.numpy()[mask == 0] == 0).all()
        opt.step()
    assert (m.weight.numpy()[mask == 0] == 0).all()
    assert not np.allclose(m.weight.numpy()[mask == 1], W[mask == 1])  # it trained


def test_remove_makes_it_permanent():
    m = prune.l1_unstructured(linear(), "weight", amount=0.5)
    expected = m.weight.numpy().copy()
    prune.remove(m, "weight")
    assert sorted(n for n, _ in m.named_parameters()) == ["bias", "weight"]
    assert isinstance(m.weight, ember.nn.Parameter)
    assert list(m.state_dict()) == ["bias", "weight"]  # re-registered last, as in PyTorch
    np.testing.assert_array_equal(m.weight.numpy(), expected)
    assert not prune.is_pruned(m)


def test_global_and_custom_masks():
    a, b = linear(), linear()
    prune.global_unstructured(
        [(a, "weight"), (b, "weight")], pruning_method=prune.L1Unstructured, amount=0.5
    )
    both = np.concatenate([a.weight_mask.numpy().ravel(), b.weight_mask.numpy().ravel()])
    assert both.sum() == 24  # half of the 48 entries, wherever they are
    mask = (np.arange(24).reshape(6, 4) % 3 == 0).astype(np.float32)
    m = prune.custom_from_mask(linear(), "weight", ember.tensor(mask))
    np.testing.assert_array_equal(m.weight.numpy(), W * mask)


def test_errors():
    with pytest.raises(ValueError, match="range"):
        prune.l1_unstructured(linear(), "weight", amount=1.5)
    with pytest.raises(ValueError, match="non-negative"):
        prune.l1_unstructured(linear(), "weight", amount=-1)
    with pytest.raises(ValueError, match="smaller than the number"):
        prune.l1_unstructured(linear(), "weight", amount=100)
    with pytest.raises(TypeError, match="amount"):
        prune.l1_unstructured(linear(), "weight", amount="a")
    with pytest.raises(ValueError, match="multidimensional"):
        prune.ln_structured(linear(), "bias", amount=1, n=2, dim=0)
    with pytest.raises(IndexError, match="Invalid index"):
        prune.ln_structured(linear(), "weight", amount=1, n=2, dim=3)
    with pytest.raises(ValueError, match="pruned before"):
        prune.remove(linear(), "weight")
    with pytest.raises(TypeError, match="unstructured"):
        prune.global_unstructured(
            [(linear(), "weight")], pruning_method=prune.LnStructured, amount=0.2, n=2, dim=0
        )
    with pytest.raises(TypeError, match="nn.Module"):
        prune.is_pruned(ember.ones(2))
    with pytest.raises(AttributeError, match="nope"):
        prune.l1_unstructured(linear(), "nope", amount=1)
    m = linear()
    with pytest.raises(ValueError, match="importance_scores"):
        prune.l1_unstructured(m, "weight", amount=1, importance_scores=ember.ones(3))
    assert not prune.is_pruned(m) and "weight" in dict(m.named_parameters())  # unchanged


def test_matches_torch():
    torch = pytest.importorskip("torch")
    tp = pytest.importorskip("torch.nn.utils.prune")

    def pair():
        e, t = linear(), torch.nn.Linear(4, 6)
        with torch.no_grad():
            t.weight.copy_(torch.tensor(W))
            t.bias.copy_(torch.from_numpy(e.bias.numpy().copy()))
        return e, t

    def same(e, t, name="weight"):
        np.testing.assert_array_equal(
            getattr(e, name + "_mask").numpy(), getattr(t, name + "_mask").numpy()
        )
        np.testing.assert_allclose(getattr(e, name).numpy(), getattr(t, name).detach().numpy())

    e, t = pair()
    for args in [("l1", 0.3), ("l1", 5), ("ln", 0.5, 2, 0), ("ln", 1, float("inf"), 1)]:
        if args[0] == "l1":
            prune.l1_unstructured(e, "weight", args[1])
            tp.l1_unstructured(t, "weight", args[1])
        else:
            prune.ln_structured(e, "weight", *args[1:])
            tp.ln_structured(t, "weight", *args[1:])
        same(e, t)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
    ye.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(ye.detach().numpy(), yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(e.weight_orig.grad.numpy(), t.weight_orig.grad.numpy())
    (e1, t1), (e2, t2) = pair(), pair()
    prune.l1_unstructured(e2, "bias", 2)
    tp.l1_unstructured(t2, "bias", 2)
    params = [("weight", 1), ("weight", 2), ("bias", 2)]
    mods_e, mods_t = {1: e1, 2: e2}, {1: t1, 2: t2}
    prune.global_unstructured(
        [(mods_e[i], n) for n, i in params], pruning_method=prune.L1Unstructured, amount=0.4
    )
    tp.global_unstructured(
        [(mods_t[i], n) for n, i in params], pruning_method=tp.L1Unstructured, amount=0.4
    )
    same(e1, t1)
    same(e2, t2)
    same(e2, t2, "bias")
