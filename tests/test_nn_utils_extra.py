"""nn.utils: parameter vectors, gradient norms, weight / spectral norm (hooks and
parametrizations), parametrize, conv/linear-bn fusion, functional_call, skip_init; against
PyTorch with copied weights, and gradcheck in float64."""

import warnings

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.nn import utils as U
from ember.nn.utils import parametrize

torch = pytest.importorskip("torch")
TU = torch.nn.utils


def _t(x):
    return torch.tensor(np.asarray(x.numpy() if isinstance(x, ember.Tensor) else x))


def _close(a, b, tol=1e-10):
    a = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a.numpy())
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b.numpy())
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


def _copy_to_torch(e_mod, t_mod):
    sd = {k: _t(v) for k, v in e_mod.state_dict().items()}
    t_mod.load_state_dict(sd)


# ---- parameter vectors and norms ---------------------------------------------------------
def test_parameters_vector_roundtrip_and_gradient():
    lin = nn.Linear(3, 2).double()
    vec = U.parameters_to_vector(lin.parameters())
    tl = torch.nn.Linear(3, 2).double()
    _copy_to_torch(lin, tl)
    _close(vec, TU.parameters_to_vector(tl.parameters()))
    vec.sum().backward()  # differentiable, as in PyTorch
    np.testing.assert_array_equal(lin.weight.grad.numpy(), np.ones((2, 3)))
    new = ember.tensor(np.arange(8.0))
    U.vector_to_parameters(new, lin.parameters())
    np.testing.assert_array_equal(lin.weight.numpy(), np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(lin.bias.numpy(), [6.0, 7.0])
    assert np.shares_memory(lin.bias.numpy(), new.numpy())
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        U.vector_to_parameters(np.zeros(8), lin.parameters())
    with pytest.raises(TypeError):
        TU.vector_to_parameters(np.zeros(8), tl.parameters())
    with pytest.raises(RuntimeError, match="elements"):
        U.vector_to_parameters(ember.zeros(5), lin.parameters())


@pytest.mark.parametrize("norm_type", [1.0, 2.0, 3.5, float("inf")])
def test_total_norm_and_clip_with_norm_as_torch(norm_type):
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(s) for s in [(3, 4), (5,)]]
    tot_e = U.get_total_norm([ember.tensor(g) for g in grads], norm_type)
    tot_t = TU.get_total_norm([torch.tensor(g) for g in grads], norm_type)
    _close(tot_e, tot_t)
    pe = [nn.Parameter(np.zeros_like(g)) for g in grads]
    pt = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, q, g in zip(pe, pt, grads):
        p.grad, q.grad = ember.tensor(g.copy()), torch.tensor(g.copy())
    U.clip_grads_with_norm_(pe, 0.5, tot_e)
    TU.clip_grads_with_norm_(pt, 0.5, tot_t)
    for p, q in zip(pe, pt):
        _close(p.grad, q.grad)
    with pytest.raises(RuntimeError, match="non-finite"):
        U.get_total_norm([ember.tensor([np.nan])], norm_type, error_if_nonfinite=True)


def test_clip_grad_norm_deprecated_alias_warns():
    p = nn.Parameter(np.ones(4))
    p.grad = ember.tensor(np.full(4, 3.0))
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        total = U.clip_grad_norm([p], 1.0, foreach=True)
    assert float(total.item()) == pytest.approx(6.0)
    np.testing.assert_allclose(p.grad.numpy(), np.full(4, 0.5), rtol=1e-6)


# ---- weight norm and spectral norm (hook-based) ------------------------------------------
@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches_torch(dim):
    ember.manual_seed(0)
    e = nn.Conv2d(2, 3, 3).double()
    t = torch.nn.Conv2d(2, 3, 3).double()
    _copy_to_torch(e, t)
    with pytest.warns(FutureWarning, match="parametrizations.weight_norm"):
        U.weight_norm(e, dim=dim)
    with pytest.warns(FutureWarning):
        TU.weight_norm(t, dim=dim)
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    _close(e.weight_g, t.weight_g)
    x = np.random.default_rng(1).standard_normal((2, 2, 5, 5))
    ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
    _close(ye, yt)
    (ye**2).sum().backward()
    (yt**2).sum().backward()
    _close(e.weight_g.grad, t.weight_g.grad)
    _close(e.weight_v.grad, t.weight_v.grad)
    U.remove_weight_norm(e)
    TU.remove_weight_norm(t)
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    _close(e.weight, t.weight)
    assert not e._hooked
    with pytest.raises(ValueError, match="weight_norm of 'weight' not found"):
        U.remove_weight_norm(e)


def test_weight_norm_gradcheck_and_double_registration():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        m = U.weight_norm(nn.Linear(3, 2).double())
        with pytest.raises(RuntimeError, match="Cannot register two weight_norm hooks"):
            U.weight_norm(m)
    x = ember.tensor(np.random.default_rng(2).standard_normal((4, 3)))
    g = ember.tensor(m.weight_g.numpy().copy(), requires_grad=True)
    v = ember.tensor(m.weight_v.numpy().copy(), requires_grad=True)
    fn = lambda g, v: U.stateless.functional_call(m, {"weight_g": g, "weight_v": v}, (x,))  # noqa: E731
    assert gradcheck(fn, (g, v))


def _spectral_pair(train):
    ember.manual_seed(3)
    e = nn.Linear(4, 3).double()
    t = torch.nn.Linear(4, 3).double()
    _copy_to_torch(e, t)
    U.spectral_norm(e)
    TU.spectral_norm(t)
    assert sorted(e.state_dict()) == sorted(t.state_dict())
    _copy_to_torch(e, t)  # the same u and v
    e.train(train)
    t.train(train)
    return e, t


@pytest.mark.parametrize("train", [True, False])
def test_spectral_norm_matches_torch_given_same_u(train):
    e, t = _spectral_pair(train)
    x = np.random.default_rng(4).standard_normal((5, 4))
    for _ in range(2):  # the power iteration advances u and v on each training forward
        ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
        _close(ye, yt)
        _close(e.weight_u, t.weight_u)
        _close(e.weight_v, t.weight_v)
    ye.sum().backward()
    yt.sum().backward()
    _close(e.weight_orig.grad, t.weight_orig.grad)
    U.remove_spectral_norm(e)
    TU.remove_spectral_norm(t)
    _close(e.weight, t.weight)
    assert sorted(e.state_dict()) == sorted(t.state_dict())


def test_spectral_norm_gradcheck_and_errors():
    e, _ = _spectral_pair(False)
    x = ember.tensor(np.random.default_rng(5).standard_normal((2, 4)))
    w = ember.tensor(e.weight_orig.numpy().copy(), requires_grad=True)
    assert gradcheck(lambda w: U.stateless.functional_call(e, {"weight_orig": w}, x), (w,))
    with pytest.raises(RuntimeError, match="Cannot register two spectral_norm"):
        U.spectral_norm(e)
    with pytest.raises(ValueError, match="n_power_iterations"):
        U.spectral_norm(nn.Linear(2, 2), n_power_iterations=0)
    with pytest.raises(ValueError, match="not found"):
        U.remove_spectral_norm(nn.Linear(2, 2))
    ct = U.spectral_norm(nn.ConvTranspose2d(2, 5, 3))
    assert ct.weight_u.shape == (5,)  # dim=1 for transposed convolutions, as PyTorch


# ---- parametrize --------------------------------------------------------------------------
class _Sym(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(0, 1)

    def right_inverse(self, a):
        return a.triu()


class _TSym(torch.nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).transpose(0, 1)

    def right_inverse(self, a):
        return a.triu()


def test_register_parametrization_as_torch():
    e = nn.Linear(3, 3).double()
    t = torch.nn.Linear(3, 3).double()
    _copy_to_torch(e, t)
    parametrize.register_parametrization(e, "weight", _Sym())
    torch.nn.utils.parametrize.register_parametrization(t, "weight", _TSym())
    assert type(e).__name__ == type(t).__name__ == "ParametrizedLinear"
    assert list(e.state_dict()) == list(t.state_dict())
    assert parametrize.is_parametrized(e) and parametrize.is_parametrized(e, "weight")
    assert not parametrize.is_parametrized(e, "bias")
    assert parametrize.type_before_parametrizations(e) is nn.Linear
    _close(e.weight, t.weight)
    x = np.random.default_rng(6).standard_normal((2, 3))
    (e(ember.tensor(x)) ** 2).sum().backward()
    (t(torch.tensor(x)) ** 2).sum().backward()
    _close(e.parametrizations.weight.original.grad, t.parametrizations.weight.original.grad)
    new = np.arange(9.0).reshape(3, 3)
    e.weight = ember.tensor(new)  # through right_inverse
    t.weight = torch.tensor(new)
    _close(e.weight, t.weight)
    _close(e.parametrizations.weight.original, t.parametrizations.weight.original)
    with parametrize.cached():
        assert e.weight is e.weight
    assert e.weight is not e.weight
    import copy
    import pickle

    dup = copy.deepcopy(e)  # deepcopy works; pickling is refused, as in PyTorch
    assert type(dup) is type(e) and dup.parametrizations.weight is not e.parametrizations.weight
    _close(dup.weight, t.weight)
    with pytest.raises(RuntimeError, match="only supported through state_dict"):
        pickle.dumps(e)
    parametrize.remove_parametrizations(e, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(t, "weight")
    assert type(e) is nn.Linear and list(e.state_dict()) == list(t.state_dict())
    _close(e.weight, t.weight)
    assert isinstance(e.weight, nn.Parameter)


def test_parametrization_chain_remove_original_and_errors():
    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    m = nn.Linear(2, 2)
    w0 = m.weight.numpy().copy()
    parametrize.register_parametrization(m, "weight", Double())
    parametrize.register_parametrization(m, "weight", Double())
    np.testing.assert_allclose(m.weight.numpy(), 4 * w0, rtol=1e-6)
    with pytest.raises(RuntimeError, match="does not implement right_inverse"):
        m.weight = ember.zeros(2, 2)
    parametrize.remove_parametrizations(m, "weight", leave_parametrized=False)
    np.testing.assert_allclose(m.weight.numpy(), w0)

    class Shrink(nn.Module):
        def forward(self, x):
            return x[:1]

    with pytest.raises(ValueError, match="may not change the shape"):
        parametrize.register_parametrization(nn.Linear(2, 2), "weight", Shrink())
    with pytest.raises(ValueError, match="does not have a parameter, a buffer"):
        parametrize.register_parametrization(nn.Linear(2, 2), "nope", Double())
    with pytest.raises(ValueError, match="does not have a parametrization"):
        parametrize.remove_parametrizations(nn.Linear(2, 2), "weight")


def test_parametrizations_weight_norm_as_torch_and_gradcheck():
    e = nn.Linear(4, 3).double()
    t = torch.nn.Linear(4, 3).double()
    _copy_to_torch(e, t)
    U.parametrizations.weight_norm(e)
    TU.parametrizations.weight_norm(t)
    assert list(e.state_dict()) == list(t.state_dict())
    _close(e.parametrizations.weight.original0, t.parametrizations.weight.original0)
    _close(e.weight, t.weight)
    x = ember.tensor(np.random.default_rng(7).standard_normal((2, 4)))
    g = ember.tensor(e.parametrizations.weight.original0.numpy().copy(), requires_grad=True)
    v = ember.tensor(e.parametrizations.weight.original1.numpy().copy(), requires_grad=True)
    names = ("parametrizations.weight.original0", "parametrizations.weight.original1")
    fn = lambda g, v: U.stateless.functional_call(e, dict(zip(names, (g, v))), (x,))  # noqa: E731
    assert gradcheck(fn, (g, v))


def test_parametrizations_spectral_norm_as_torch_given_same_u():
    ember.manual_seed(8)
    e = nn.Conv2d(2, 3, 2).double()
    t = torch.nn.Conv2d(2, 3, 2).double()
    _copy_to_torch(e, t)
    U.parametrizations.spectral_norm(e)
    TU.parametrizations.spectral_norm(t)
    assert list(e.state_dict()) == list(t.state_dict())
    _copy_to_torch(e, t)
    x = np.random.default_rng(9).standard_normal((1, 2, 4, 4))
    ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
    _close(ye, yt)
    ye.sum().backward()
    yt.sum().backward()
    _close(e.parametrizations.weight.original.grad, t.parametrizations.weight.original.grad)
    sigma = np.linalg.svd(e.parametrizations.weight.original.numpy().reshape(3, -1))[1][0]
    for _ in range(30):  # converged power iteration: sigma is the top singular value
        _ = e.weight
    e.eval()
    np.testing.assert_allclose(
        e.weight.numpy(), e.parametrizations.weight.original.numpy() / sigma, rtol=1e-6
    )


# ---- fusion, functional_call, skip_init ---------------------------------------------------
@pytest.mark.parametrize("transpose", [False, True])
def test_fuse_conv_bn_eval_equals_conv_then_bn(transpose):
    rng = np.random.default_rng(10)
    conv = (nn.ConvTranspose2d(3, 4, 3) if transpose else nn.Conv2d(3, 4, 3)).double()
    bn = nn.BatchNorm2d(4).double()
    bn.running_mean.data[...] = rng.standard_normal(4)
    bn.running_var.data[...] = rng.uniform(0.5, 2.0, 4)
    bn.weight.data[...] = rng.standard_normal(4)
    conv.eval()
    bn.eval()
    fused = U.fuse_conv_bn_eval(conv, bn, transpose=transpose)
    x = ember.tensor(rng.standard_normal((2, 3, 6, 6)))
    _close(fused(x), bn(conv(x)))
    assert isinstance(fused.weight, nn.Parameter) and fused is not conv
    with pytest.raises(AssertionError, match="Fusion only for eval"):
        U.fuse_conv_bn_eval(conv, bn.train())


def test_fuse_linear_bn_as_torch():
    rng = np.random.default_rng(11)
    lin, bn = nn.Linear(3, 4).double(), nn.BatchNorm1d(4).double()
    bn.running_mean.data[...] = rng.standard_normal(4)
    bn.running_var.data[...] = rng.uniform(0.5, 2.0, 4)
    tl, tb = torch.nn.Linear(3, 4).double(), torch.nn.BatchNorm1d(4).double()
    _copy_to_torch(lin, tl)
    _copy_to_torch(bn, tb)
    lin.eval(), bn.eval(), tl.eval(), tb.eval()
    fe, ft = U.fuse_linear_bn_eval(lin, bn), TU.fuse_linear_bn_eval(tl, tb)
    _close(fe.weight, ft.weight)
    _close(fe.bias, ft.bias)
    with pytest.raises(AssertionError, match="out_features"):
        U.fuse_linear_bn_eval(lin, nn.BatchNorm1d(3).eval())


def test_functional_call_swaps_and_restores():
    lin = nn.Linear(2, 2).double()
    w = ember.tensor(np.eye(2), requires_grad=True)
    x = ember.tensor(np.array([[1.0, 2.0]]))
    y = U.stateless.functional_call(lin, {"weight": w}, x)
    np.testing.assert_allclose(y.numpy(), x.numpy() + lin.bias.numpy())
    y.sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [[1.0, 2.0], [1.0, 2.0]])
    assert isinstance(lin.weight, nn.Parameter) and lin._parameters["weight"] is lin.weight
    with pytest.raises(RuntimeError, match="Missing key"):
        U.stateless.functional_call(lin, {"weight": w}, x, strict=True)
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, shared)
    out = U.stateless.functional_call(net, {"0.weight": ember.zeros(2, 2)}, ember.ones(1, 2))
    b = shared.bias.numpy()
    np.testing.assert_allclose(out.numpy(), [b], rtol=1e-6)  # tied: both layers use zeros


def test_skip_init():
    m = U.skip_init(nn.Linear, 3, 2)
    assert isinstance(m, nn.Linear) and m.weight.shape == (2, 3)
    with pytest.raises(RuntimeError, match="Expected a Module"):
        U.skip_init(int)


@pytest.mark.parametrize(
    "shape,orth_map",
    [
        ((4, 4), None),
        ((4, 4), "householder"),
        ((5, 3), None),
        ((3, 5), None),
        ((5, 3), "matrix_exp"),
    ],
)
def test_parametrizations_orthogonal_as_torch(shape, orth_map):
    e = nn.Linear(shape[1], shape[0]).double()
    t = torch.nn.Linear(shape[1], shape[0]).double()
    _copy_to_torch(e, t)
    U.parametrizations.orthogonal(e, orthogonal_map=orth_map)
    TU.parametrizations.orthogonal(t, orthogonal_map=orth_map)
    assert list(e.state_dict()) == list(t.state_dict())
    w = e.weight.numpy()
    gram = w @ w.T if shape[0] <= shape[1] else w.T @ w
    np.testing.assert_allclose(gram, np.eye(min(shape)), atol=1e-12)
    _close(e.weight, t.weight, 1e-9)  # the orthogonalised starting weight
    plist_e, plist_t = e.parametrizations.weight, t.parametrizations.weight
    rng = np.random.default_rng(12)
    moved = rng.standard_normal(shape) * 0.3
    plist_e.original.data[...] = moved
    with torch.no_grad():
        plist_t.original.copy_(torch.tensor(moved))
        plist_t[0].base.copy_(_t(plist_e[0].base))
    x = rng.standard_normal((2, shape[1]))
    ye, yt = e(ember.tensor(x)), t(torch.tensor(x))
    _close(ye, yt, 1e-9)
    (ye**2).sum().backward()
    (yt**2).sum().backward()
    _close(plist_e.original.grad, plist_t.original.grad, 1e-9)
    orig = ember.tensor(moved, requires_grad=True)
    name = "parametrizations.weight.original"
    assert gradcheck(lambda o: U.stateless.functional_call(e, {name: o}, ember.tensor(x)), (orig,))


def test_parametrizations_orthogonal_errors_and_assignment():
    e = U.parametrizations.orthogonal(nn.Linear(3, 3).double())
    q = np.linalg.qr(np.random.default_rng(13).standard_normal((3, 3)))[0]
    e.weight = ember.tensor(q)  # an orthogonal value is kept as it is
    np.testing.assert_allclose(e.weight.numpy(), q, atol=1e-12)
    with pytest.raises(ValueError, match="Expected a matrix"):
        U.parametrizations.orthogonal(nn.Linear(2, 2), "bias")
    with pytest.raises(ValueError, match="orthogonal_map has to be one of"):
        U.parametrizations.orthogonal(nn.Linear(2, 2), orthogonal_map="qr")
    m = U.parametrizations.orthogonal(nn.Linear(2, 2), use_trivialization=False)
    with pytest.raises(NotImplementedError, match="use_trivialization=False"):  # as torch
        m.weight = ember.eye(2)
