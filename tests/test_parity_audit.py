"""PyTorch parity on corner configurations found by the adversarial audit."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _both(fn, *arrays, grad=True):
    """fn on ember and torch tensors built from the same arrays: (outputs, grads) of each."""
    res = []
    for lib in (ember, torch):
        ts = [lib.tensor(a.copy(), requires_grad=grad and a.dtype.kind == "f") for a in arrays]
        out = fn(*ts)
        grads = None
        if grad:
            out.sum().backward()
            grads = [np.asarray(t.grad.numpy() if t.grad is not None else np.nan) for t in ts]
        res.append((out.detach().numpy(), grads))
    return res


@pytest.mark.filterwarnings("ignore:std|var:UserWarning")
@pytest.mark.parametrize("shape,dim", [((1,), 0), ((2, 1, 4), 1), ((0,), 0), ((3, 0), 1)])
@pytest.mark.parametrize("op", ["var", "std"])
def test_var_std_without_degrees_of_freedom(shape, dim, op):
    x = np.random.default_rng(0).standard_normal(shape)
    (ye, ge), (yt, gt) = _both(lambda t: getattr(t, op)(dim), x)
    np.testing.assert_allclose(ye, yt, equal_nan=True)
    np.testing.assert_allclose(ge[0], gt[0], equal_nan=True)


def test_pow_zero_exponent_gradient_is_zero():
    x = np.array([0.0, 1.0, -2.0])
    (ye, ge), (yt, gt) = _both(lambda t: t**0.0, x)
    np.testing.assert_array_equal(ge[0], gt[0])
    (ye, ge), (yt, gt) = _both(lambda a, b: a**b, x, np.array([0.0, 2.0, 3.0]))
    np.testing.assert_allclose(ge[0], gt[0])


@pytest.mark.parametrize(
    "fn",
    [
        lambda t, lib: t.max(0)[0],
        lambda t, lib: t.min(-1)[0],
        lambda t, lib: t.argmax(0),
        lambda t, lib: t.transpose(0, -1),
        lambda t, lib: t.sum([]),
    ],
)
def test_scalar_tensor_dims(fn):
    x = np.array(1.5)
    e = fn(ember.tensor(x), ember)
    t = fn(torch.tensor(x), torch)
    np.testing.assert_allclose(e.numpy(), t.numpy())


def test_reductions_over_a_nonempty_dim_of_an_empty_tensor():
    x = np.zeros((0, 3))
    for op in ("max", "min"):
        v, i = getattr(ember.tensor(x), op)(1)
        assert v.shape == (0,) and i.shape == (0,)
    assert ember.tensor(np.ones((2, 3))).sum([]).shape == ()


def test_gather_index_smaller_than_input():
    x = np.arange(12.0).reshape(3, 4)
    idx = np.array([[3, 0]])
    (ye, ge), (yt, gt) = _both(
        lambda t: (ember if isinstance(t, ember.Tensor) else torch).gather(
            t, 1, idx if isinstance(t, ember.Tensor) else torch.tensor(idx)
        ),
        x,
    )
    np.testing.assert_array_equal(ye, yt)
    np.testing.assert_array_equal(ge[0], gt[0])


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: a + b,
        lambda a, b: a * b,
        lambda a, b: b - a,
        lambda a, b: a / b,
        lambda a, b: b / b,
        lambda a, b: b * 2.5,
        lambda a, b: b / 2,
        lambda a, b: b.exp(),
        lambda a, b: b.sqrt(),
        lambda a, b: (b > 0).exp(),
        lambda a, b: a * np.float64(2.0),
        lambda a, b: a + b[0],
        lambda a, b: (ember if isinstance(a, ember.Tensor) else torch).cat([a, b]),
        lambda a, b: (ember if isinstance(a, ember.Tensor) else torch).stack([b, a], 1),
    ],
)
def test_torch_dtype_promotion(fn):
    a = np.arange(1.0, 7.0, dtype=np.float32).reshape(2, 3)
    b = np.arange(1, 7, dtype=np.int64).reshape(2, 3)
    e = fn(ember.tensor(a), ember.tensor(b))
    t = fn(torch.tensor(a), torch.tensor(b))
    assert e.dtype == t.numpy().dtype
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-6)


@pytest.mark.parametrize("xs,ws", [((3, 4), (0, 4)), ((3, 0), (5, 0)), ((0, 4), (5, 4))])
def test_linear_with_zero_features(xs, ws):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    (ye, ge), (yt, gt) = _both(
        lambda x, w, b: (
            ember.nn.functional if isinstance(x, ember.Tensor) else torch.nn.functional
        ).linear(x, w, b),
        x,
        w,
        b,
    )
    np.testing.assert_allclose(ye, yt)
    for a, c in zip(ge, gt):
        np.testing.assert_allclose(a, c)


def test_big_endian_data_becomes_native():
    x = ember.tensor(np.arange(4.0, dtype=">f4"))
    assert x.dtype.isnative
    np.testing.assert_allclose(ember.nn.functional.relu(x - 1).numpy(), [0, 0, 1, 2])


@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_all_targets_ignored_has_zero_gradient(label_smoothing, weighted):
    # A batch of pure padding must not poison training with NaN gradients (PyTorch gives 0).
    x = np.random.default_rng(0).standard_normal((3, 4))
    t = np.full(3, -100)
    w = np.arange(1.0, 5.0) if weighted else None
    out = []
    for lib in (ember, torch):
        xt = lib.tensor(x, requires_grad=True)
        kw = dict(label_smoothing=label_smoothing, weight=None if w is None else lib.tensor(w))
        loss = lib.nn.functional.cross_entropy(xt, lib.tensor(t), **kw)
        loss.backward()
        out.append((loss.detach().numpy(), xt.grad.numpy()))
    assert np.isnan(out[0][0]) and np.isnan(out[1][0])
    np.testing.assert_array_equal(out[0][1], out[1][1])


def test_mse_loss_of_empty_input():
    x = ember.tensor(np.zeros((0, 3)), requires_grad=True)
    loss = ember.nn.functional.mse_loss(x, np.zeros((0, 3)))
    loss.backward()
    assert np.isnan(loss.item()) and x.grad.shape == (0, 3)


def test_inplace_arithmetic_on_graph_tensors_is_recorded():
    # ResNet's `out += identity` and `acc += x` accumulate into the graph, as in PyTorch;
    # `acc += x` used to write into acc's array and drop x's gradient silently.
    grads = []
    for lib in (ember, torch):
        a = lib.tensor([1.0, 2.0], requires_grad=True)
        b = a * 2
        b += 1
        acc = lib.zeros(2)
        acc += b * 3
        acc *= a
        acc /= 2
        acc -= a
        acc.sum().backward()
        grads.append((acc.detach().numpy(), a.grad.numpy()))
    np.testing.assert_allclose(grads[0][0], grads[1][0])
    np.testing.assert_allclose(grads[0][1], grads[1][1])
    leaf = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        leaf += 1
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        b = leaf * 1
        b += ember.tensor(np.ones((2, 1)))


def test_index_assignment_of_a_graph_value_into_a_plain_tensor():
    # t[i] = x and t.copy_(x) wrote x's values but dropped its gradient silently.
    res = []
    for lib in (ember, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        t = lib.zeros(2, 3)
        t[:, 1:] = x * 2
        u = lib.zeros(2)
        u.copy_(x)
        ((t * t).sum() + (u * 3).sum()).backward()
        res.append((t.detach().numpy(), x.grad.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0])
    np.testing.assert_allclose(res[0][1], res[1][1])


@pytest.mark.parametrize("mode", ["constant", "reflect", "replicate", "circular"])
def test_pad_matches_torch(mode):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 6))
    w = np.arange(72.0).reshape(8, 9)
    res = []
    for lib in (ember, torch):
        t = lib.tensor(x, requires_grad=True)
        y = lib.nn.functional.pad(t, (1, 2, 3, 0), mode=mode)
        (y * lib.tensor(w)).sum().backward()
        res.append((y.detach().numpy(), t.grad.numpy()))
    np.testing.assert_allclose(res[0][0], res[1][0], rtol=1e-12)
    np.testing.assert_allclose(res[0][1], res[1][1], rtol=1e-12)
    if mode == "reflect":
        with pytest.raises(ValueError, match="must be at most 5"):  # reflect needs pad < size
            ember.nn.functional.pad(ember.tensor(x), (6, 0, 0, 0), mode=mode)


@pytest.mark.parametrize("padding_mode", ["reflect", "replicate", "circular"])
def test_conv2d_padding_modes(padding_mode):
    torch.manual_seed(0)
    tm = torch.nn.Conv2d(3, 4, (3, 2), padding=(2, 1), stride=2, padding_mode=padding_mode)
    em = ember.nn.Conv2d(3, 4, (3, 2), padding=(2, 1), stride=2, padding_mode=padding_mode)
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 5)).astype(np.float32)
    np.testing.assert_allclose(
        em(x).numpy(), tm(torch.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-6
    )


def test_embedding_max_norm_renormalises_looked_up_rows():
    torch.manual_seed(0)
    tm = torch.nn.Embedding(10, 3, max_norm=1.0, norm_type=1.5)
    em = ember.nn.Embedding(10, 3, max_norm=1.0, norm_type=1.5)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    idx = np.array([[0, 1, 9], [1, 1, 2]])
    a, b = tm(torch.tensor(idx)), em(idx)
    np.testing.assert_allclose(b.numpy(), a.detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(em.weight.numpy(), tm.weight.detach().numpy(), rtol=1e-6)


def test_device_arguments_and_inplace_methods_of_pytorch_code():
    x = ember.tensor([1.0, 2.0])
    assert x.to("cpu") is x and x.cpu() is x and x.to("cpu", ember.float64).dtype == np.float64
    m = ember.nn.Linear(2, 2).to("cpu").to(device="cpu").cpu()
    assert m.weight.dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        x.to("cuda")
    res = []
    for lib in (ember, torch):
        y = lib.tensor([1.0, 2.0])
        y.add_(lib.tensor([1.0, 1.0]), alpha=2).mul_(2).sub_(1).div_(2)
        res.append(y.numpy())
    np.testing.assert_allclose(res[0], res[1])
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(ember.mm(a, a.T).numpy(), a @ a.T)
    np.testing.assert_allclose(ember.softmax(a, 1).numpy(), torch.softmax(torch.tensor(a), 1))
    assert ember.allclose(ember.tensor(a), a)


@pytest.mark.parametrize(
    "kw", [{}, {"dim": 1}, {"dim": 0, "keepdim": True}, {"p": 1, "dim": 1}, {"p": 3, "dim": -1}]
)
def test_norm_with_a_zero_row(kw):
    a = np.random.default_rng(0).standard_normal((3, 4))
    a[1] = 0  # PyTorch's gradient there is 0, not NaN
    (ye, ge), (yt, gt) = _both(lambda t: t.norm(**kw), a)
    np.testing.assert_allclose(ye, yt, rtol=1e-12)
    np.testing.assert_allclose(ge[0], gt[0], rtol=1e-12)


def test_full_dtype_and_clamp_():
    assert ember.full((2,), 3).dtype == np.int64 and ember.full((2,), 1.5).dtype == np.float32
    x = ember.tensor([-2.0, 0.5, 3.0])
    np.testing.assert_allclose(x.clamp_(-1, 1).numpy(), [-1, 0.5, 1])
