"""Session 27's fixes from fuzz20's reproducers: each against torch."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("fn", ["gammainc", "gammaincc"])
@pytest.mark.parametrize("shapes", [((), ()), ((), (3,)), ((2, 1), ())])
def test_gammainc_keeps_the_broadcast_shape_of_0d_operands(fn, shapes):
    rng = np.random.default_rng(0)
    a, x = (rng.uniform(0.5, 3, s) for s in shapes)
    got = getattr(ember.special, fn)(ember.tensor(a), ember.tensor(x))
    want = getattr(torch.special, fn)(torch.tensor(a), torch.tensor(x))
    assert got.shape == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


@pytest.mark.parametrize("n", [1, 5000])  # (the Python path and the kernel's)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_clamp_backward_gives_clamped_entries_zero_even_for_an_infinite_gradient(n, dtype):
    x = np.full(n, 0.5, dtype)
    x[::2] = 3.0
    grads = []
    for lib in (ember, torch):
        a = lib.tensor(x, requires_grad=True)
        c = a.clamp(min=1)
        (c * 2 / (c - 1)).sum().backward()  # d/dc = -inf where c == 1
        grads.append(np.asarray(a.grad.detach().numpy() if lib is torch else a.grad.numpy()))
    np.testing.assert_array_equal(grads[0], grads[1])
    assert not np.isnan(grads[0]).any()


def test_mvlgamma_has_no_domain_check_as_torch():
    x = np.array([0.1, 0.5, -3.2, 2.0])
    for p in (1, 2, 3):
        got = ember.mvlgamma(ember.tensor(x), p).numpy()
        np.testing.assert_allclose(got, torch.mvlgamma(torch.tensor(x), p).numpy(), rtol=1e-12)


def test_pdist_and_cdist_p0_give_nan_for_nan_coordinates():
    a = np.array([[np.nan, 1.0], [2.0, 3.0], [2.0, 1.0]])
    np.testing.assert_array_equal(
        F.pdist(ember.tensor(a), p=0).numpy(),
        torch.nn.functional.pdist(torch.tensor(a), p=0).numpy(),
    )
    b = np.array([[2.0, 3.0], [np.inf, 1.0]])
    np.testing.assert_array_equal(
        ember.cdist(ember.tensor(a), ember.tensor(b), p=0).numpy(),
        torch.cdist(torch.tensor(a), torch.tensor(b), p=0).numpy(),
    )


@pytest.mark.parametrize("num_classes", [-1.0, 3.0, True])
def test_one_hot_refuses_a_non_int_num_classes_as_torch(num_classes):
    with pytest.raises(TypeError):
        torch.nn.functional.one_hot(torch.tensor([1]), num_classes)
    with pytest.raises(TypeError, match="num_classes must be int"):
        F.one_hot(ember.tensor([1]), num_classes)


@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1), -1])
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("p", [2, 2.0, "fro"])
def test_two_norm_fast_path_matches_torch(dim, keepdim, p):
    x = np.random.default_rng(1).standard_normal((5, 7)).astype(np.float32)
    x[0] = 0.0
    want = torch.norm(torch.tensor(x), p, dim, keepdim).numpy()
    np.testing.assert_allclose(ember.norm(ember.tensor(x), p, dim, keepdim).numpy(), want, 1e-6)
    if p != "fro":
        got = ember.linalg.vector_norm(ember.tensor(x), p, dim, keepdim).numpy()
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, 1e-6)
    with pytest.raises(IndexError):
        ember.linalg.vector_norm(ember.tensor(x), 2, 3)
