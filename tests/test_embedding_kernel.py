"""The embedding weight-gradient kernel (csrc/ops/embedding.cpp): a scatter-add checked
against np.add.at, deterministic across threads, and its argument checks."""

import numpy as np
import pytest

import ember
from ember import _C


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_scatter_add_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 7, 500)
    g = rng.standard_normal((500, 130)).astype(dtype)
    expected = np.zeros((7, 130), dtype)
    np.add.at(expected, idx, g)
    np.testing.assert_allclose(_C.embedding_backward(idx, g, 7), expected, rtol=1e-5, atol=1e-5)
    expected[3] = 0
    np.testing.assert_allclose(_C.embedding_backward(idx, g, 7, 3), expected, rtol=1e-5, atol=1e-5)


def test_same_result_on_one_and_two_threads():
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 50, 4000)
    g = rng.standard_normal((4000, 256)).astype(np.float32)
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = _C.embedding_backward(idx, g, 50)
        ember.set_num_threads(2)
        two = _C.embedding_backward(idx, g, 50)
    finally:
        ember.set_num_threads(before)
    np.testing.assert_array_equal(one, two)


def test_bad_arguments():
    g = np.zeros((3, 2), np.float32)
    with pytest.raises(ValueError, match="index 5 is out of range for 4"):
        _C.embedding_backward(np.array([0, 5, 1]), g, 4)
    with pytest.raises(ValueError, match="index -1"):
        _C.embedding_backward(np.array([0, -1, 1]), g, 4)
    with pytest.raises(ValueError, match="3 indices"):
        _C.embedding_backward(np.array([0, 1, 2]), np.zeros((2, 2), np.float32), 4)
    with pytest.raises(TypeError, match="int64"):
        _C.embedding_backward(np.array([0, 1, 2], np.int32), g, 4)
    with pytest.raises(TypeError, match="float32 or float64"):
        _C.embedding_backward(np.array([0, 1, 2]), g.astype(np.int64), 4)
    with pytest.raises(ValueError, match="padding_idx"):
        _C.embedding_backward(np.array([0, 1, 2]), g, 4, 4)
    with pytest.raises(ValueError, match="C-contiguous"):
        _C.embedding_backward(np.array([0, 1, 2]), np.zeros((2, 3), np.float32).T, 4)


@pytest.mark.parametrize(
    "kw",
    [
        dict(max_norm=1.0),
        dict(max_norm=0.5, norm_type=1.0),
        dict(scale_grad_by_freq=True, padding_idx=0),
        dict(max_norm=2.0, scale_grad_by_freq=True),
    ],
)
def test_embedding_max_norm_and_scale_grad_by_freq_train_as_pytorch(kw):
    """max_norm renormalises the looked-up rows in place before the lookup; scale_grad_by_freq
    divides each row's gradient by its count in the batch. Four SGD steps, float64."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    t = torch.nn.Embedding(10, 4, **kw).double()
    e = ember.nn.Embedding(10, 4, **kw).double()
    assert repr(e) == repr(t)
    e.load_state_dict({k: v.numpy().copy() for k, v in t.state_dict().items()})
    topt = torch.optim.SGD(t.parameters(), lr=0.5)
    eopt = ember.optim.SGD(e.parameters(), lr=0.5)
    for _ in range(4):
        x, g = rng.integers(0, 10, (3, 5)), rng.normal(size=(3, 5, 4))
        topt.zero_grad()
        eopt.zero_grad()
        yt, ye = t(torch.tensor(x)), e(ember.tensor(x))
        np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-12)
        (yt * torch.tensor(g)).sum().backward()
        (ye * ember.tensor(g)).sum().backward()
        np.testing.assert_allclose(e.weight.grad.numpy(), t.weight.grad.numpy(), rtol=1e-12)
        topt.step()
        eopt.step()
    np.testing.assert_allclose(e.weight.numpy(), t.weight.detach().numpy(), rtol=1e-12)
    m = ember.nn.Embedding.from_pretrained(ember.ones(3, 2), max_norm=0.5)
    np.testing.assert_allclose(np.linalg.norm(m(ember.tensor([1])).numpy()), 0.5, rtol=1e-6)
