"""ember.func: grad, grad_and_value, vjp, jacrev/jacfwd, vmap; against finite differences,
explicit loops and torch.func."""

import numpy as np
import pytest

import ember
import ember.func as fn
from ember.nn import functional as F

rng = np.random.default_rng(0)
X = rng.standard_normal((5, 3))
Y = rng.integers(0, 4, 5)


def t(a):
    return ember.tensor(np.asarray(a))


def test_grad_matches_closed_form_and_finite_differences():
    g = fn.grad(lambda x: (x.sin() * x).sum())(t(X))
    np.testing.assert_allclose(g.numpy(), np.sin(X) + X * np.cos(X), rtol=1e-12)
    # two arguments, pytree (dict) argument, has_aux
    gx, gy = fn.grad(lambda x, y: (x * y.exp()).sum(), argnums=(0, 1))(t(X), t(X))
    np.testing.assert_allclose(gx.numpy(), np.exp(X))
    np.testing.assert_allclose(gy.numpy(), X * np.exp(X))
    gd = fn.grad(lambda p: (p["a"] ** 2).sum() + p["b"][0].sum())({"a": t(X), "b": [t(X[0])]})
    np.testing.assert_allclose(gd["a"].numpy(), 2 * X)
    np.testing.assert_allclose(gd["b"][0].numpy(), np.ones(3))
    g, aux = fn.grad(lambda x: ((x**2).sum(), "aux"), has_aux=True)(t(X))
    assert aux == "aux"
    g, (value, aux) = fn.grad_and_value(lambda x: ((x**2).sum(), 7), has_aux=True)(t(X))
    assert value.item() == pytest.approx((X**2).sum()) and aux == 7
    # unused inputs get zeros; inputs need not require grad and are not modified
    x = t(X)
    gz = fn.grad(lambda a, b: a.sum(), argnums=1)(x, t(X))
    assert (gz.numpy() == 0).all() and not x.requires_grad and x.grad is None


def test_vjp_and_jacobians():
    a, b = t(X[0]), t(X[1])
    out, vjp_fn = fn.vjp(lambda u, v: (u * v).exp(), a, b)
    c = X[2]
    ga, gb = vjp_fn(t(c))
    e = np.exp(X[0] * X[1])
    np.testing.assert_allclose(out.numpy(), e)
    np.testing.assert_allclose(ga.numpy(), c * e * X[1])
    np.testing.assert_allclose(gb.numpy(), c * e * X[0])
    J = fn.jacrev(lambda u: u.tanh() * u.sum())(a)
    h = 1e-6
    f = lambda u: np.tanh(u) * u.sum()  # noqa: E731
    fd = np.stack([(f(X[0] + h * d) - f(X[0] - h * d)) / (2 * h) for d in np.eye(3)], axis=1)
    np.testing.assert_allclose(J.numpy(), fd, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(fn.jacfwd(lambda u: u.tanh() * u.sum())(a).numpy(), J.numpy())
    Jm = fn.jacrev(lambda m: m @ b)(t(X[:2]))
    assert Jm.shape == (2, 2, 3)


def test_vmap_is_a_loop():
    f = lambda x, w: (x * w).sum() + x.max()  # noqa: E731
    out = fn.vmap(f, in_dims=(0, None))(t(X), t(X[0]))
    np.testing.assert_allclose(out.numpy(), [(x * X[0]).sum() + x.max() for x in X])
    cols = fn.vmap(lambda c: c.sum(), in_dims=1)(t(X))
    np.testing.assert_allclose(cols.numpy(), X.sum(0))
    p, s = fn.vmap(lambda a, b: (a * b, a + b), in_dims=(0, None), out_dims=(0, 1))(t(X), t(X[0]))
    assert p.shape == (5, 3) and s.shape == (3, 5)
    d = fn.vmap(lambda z: {"double": z * 2})({"x": t(X)}["x"])
    np.testing.assert_allclose(d["double"].numpy(), 2 * X)


def test_vmap_randomness_and_errors():
    with pytest.raises(RuntimeError, match="randomness"):
        fn.vmap(lambda x: x + ember.randn(3))(t(X))
    same = fn.vmap(lambda x: x + ember.randn(3), randomness="same")(t(X)).numpy() - X
    assert np.allclose(same[0], same[1])
    diff = fn.vmap(lambda x: x + ember.randn(3), randomness="different")(t(X)).numpy() - X
    assert not np.allclose(diff[0], diff[1])
    with pytest.raises(ValueError, match="same size"):
        fn.vmap(lambda a, b: a + b)(t(X), t(X[:2]))
    with pytest.raises(ValueError, match="at least one"):
        fn.vmap(lambda a: a, in_dims=None)(t(X))
    with pytest.raises(ValueError, match="in_dim"):
        fn.vmap(lambda a: a, in_dims=2)(t(X))
    with pytest.raises(ValueError, match="must return Tensors"):
        fn.vmap(lambda a: 1.0)(t(X))
    with pytest.raises(ValueError, match="randomness"):
        fn.vmap(lambda a: a, randomness="maybe")
    with pytest.raises(RuntimeError, match="scalar"):
        fn.grad(lambda x: x * 2)(t(X))
    with pytest.raises(TypeError, match="floating"):
        fn.grad(lambda x: x.sum())(ember.tensor([1, 2]))
    with pytest.raises(ValueError, match="argnums"):
        fn.grad(lambda x: x.sum(), argnums=3)(t(X))


def test_per_sample_gradients_match_a_loop_and_torch():
    ember.manual_seed(0)
    model = ember.nn.Linear(3, 4).double()
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, x, y):
        return F.cross_entropy(fn.functional_call(model, p, (x[None],)), y[None])

    per = fn.vmap(fn.grad(loss), in_dims=(None, 0, 0))(params, t(X), t(Y))
    for i in range(5):
        model.zero_grad()
        F.cross_entropy(model(t(X[i : i + 1])), t(Y[i : i + 1])).backward()
        np.testing.assert_allclose(per["weight"][i].numpy(), model.weight.grad.numpy())
        np.testing.assert_allclose(per["bias"][i].numpy(), model.bias.grad.numpy())
    torch = pytest.importorskip("torch")
    tf = pytest.importorskip("torch.func")
    tm = torch.nn.Linear(3, 4).double()
    with torch.no_grad():
        tm.weight.copy_(torch.tensor(model.weight.numpy()))
        tm.bias.copy_(torch.tensor(model.bias.numpy()))
    tp = {k: v.detach() for k, v in tm.named_parameters()}

    def tloss(p, x, y):
        return torch.nn.functional.cross_entropy(tf.functional_call(tm, p, (x[None],)), y[None])

    tper = tf.vmap(tf.grad(tloss), in_dims=(None, 0, 0))(tp, torch.tensor(X), torch.tensor(Y))
    for k in per:
        np.testing.assert_allclose(per[k].numpy(), tper[k].numpy(), rtol=1e-12)


def test_vjp_refuses_non_tensor_cotangents():
    _, vjp_fn = fn.vjp(lambda u: u * 2, t(X[0]))
    with pytest.raises(TypeError, match="cotangents"):
        vjp_fn(1.0)
    with pytest.raises(ValueError, match="shape"):
        vjp_fn(t(X[:2]))


def test_transforms_compose_through_higher_order_gradients():
    x = t(X[0])
    H = fn.hessian(lambda u: (u.sin() * u**3).sum())(x)
    u = X[0]
    expected = np.diag(6 * u * np.sin(u) + 6 * u**2 * np.cos(u) - u**3 * np.sin(u))
    np.testing.assert_allclose(H.numpy(), expected, rtol=1e-10, atol=1e-12)
    g2 = fn.grad(lambda a: fn.grad(lambda b: (b.sin() * b).sum())(a).sum())(x)
    np.testing.assert_allclose(g2.numpy(), 2 * np.cos(u) - u * np.sin(u), rtol=1e-12)
    # an input that requires grad keeps the result differentiable, as torch.func
    w = t(X[0]).requires_grad_()
    g = fn.grad(lambda a: (a**3).sum())(w)
    assert g.requires_grad
    g.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), 6 * u)
    per_sample = fn.vmap(fn.hessian(lambda a: (a**3).sum()))(t(X[:2]))
    np.testing.assert_allclose(per_sample.numpy(), [np.diag(6 * r) for r in X[:2]])
    torch = pytest.importorskip("torch")
    th = torch.autograd.functional.hessian(lambda v: (v.sin() * v**3).sum(), torch.tensor(X[0]))
    np.testing.assert_allclose(H.numpy(), th, rtol=1e-10, atol=1e-12)
