"""Views that follow their base's requires_grad_, detach_() of views, forward-mode AD under
no_grad, and result strides: PyTorch 2.13's behaviour."""

import numpy as np
import pytest

import ember
from ember.autograd import forward_ad as fwad

DETACH_VIEW = "Can't detach views in-place"

_VIEWS = {
    "index": lambda a: a[0],
    "slice": lambda a: a[1:],
    "t": lambda a: a.t(),
    "reshape": lambda a: a.reshape(12),
    "view": lambda a: a.view(2, 6),
    "flatten": lambda a: a.flatten(),
    "unsqueeze": lambda a: a.unsqueeze(0),
    "expand": lambda a: a[:1].expand(5, 4),
    "permute": lambda a: a.permute(1, 0),
    "view_of_view": lambda a: a[0][1:],
    "unfold": lambda a: a.unfold(1, 2, 1),  # (NumPy's stride tricks: a longer base chain)
    "as_strided": lambda a: a.as_strided((2, 2), (1, 1)),
}


def _lib(x):
    return ember if isinstance(x, ember.Tensor) else pytest.importorskip("torch")


@pytest.mark.parametrize("name", list(_VIEWS))
def test_view_made_before_requires_grad_follows_its_base(name):
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        a = lib.ones(3, 4, dtype=lib.float64)
        v = _VIEWS[name](a)
        a.requires_grad_()
        # torch: the view requires grad through its base, a leaf without grad_fn
        assert v.requires_grad and v.is_leaf and v.grad_fn is None
        # ... whose gradient goes nowhere, and which refuses in-place writes
        (v * 2).sum().backward()
        assert v.grad is None and a.grad is None
        with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
            v.mul_(2)
        with pytest.raises(RuntimeError, match=DETACH_VIEW):
            v.detach_()


@pytest.mark.parametrize("off", ["detach_", "requires_grad_false"])
def test_views_follow_their_base_back_when_it_stops_requiring_grad(off):
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        a = lib.ones(3, 4)
        v = a.unsqueeze(0)
        w = v[0, 1:]  # (a view of the view follows too)
        a.requires_grad_()
        assert v.requires_grad and w.requires_grad
        a.detach_() if off == "detach_" else a.requires_grad_(False)
        assert not v.requires_grad and not w.requires_grad
        w.mul_(2)  # (plain views again: writable)
        assert a[1, 0].item() == 2


def test_a_view_of_a_view_links_its_root_and_holds_no_chain():
    import weakref

    a = ember.ones(3, 4)
    mid = a[0]
    ref = weakref.ref(mid)
    w = mid[1:].unsqueeze(0)
    del mid
    assert ref() is None  # (as torch's _base: the root, not the views between)
    a.requires_grad_()
    assert w.requires_grad


def test_views_of_a_tensor_that_is_not_made_to_require_grad_stay_plain():
    a = ember.ones(3, 4)
    v = a[0]
    b = ember.ones(3, 4).requires_grad_()  # (another tensor: no effect on a's views)
    assert not v.requires_grad and b.requires_grad
    v.mul_(2)  # (writable as before)
    assert a[0, 0].item() == 2
    w = a.detach()  # (a detached tensor is no view: detach_ allowed, as torch's)
    assert w.detach_() is w


@pytest.mark.parametrize("name", list(_VIEWS))
def test_detach_in_place_refuses_every_view_as_torch(name):
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        v = _VIEWS[name](lib.ones(3, 4))
        with pytest.raises(RuntimeError, match=DETACH_VIEW):
            v.detach_()
        x = lib.ones(3, 4)
        assert x.detach_() is x and (x + 1).detach_() is not None  # (not views: allowed)


@pytest.mark.parametrize(
    "f",
    [
        lambda a: a.reshape(3, 2),
        lambda a: a.t(),
        lambda a: a.flatten(),
        lambda a: a[1:],
        lambda a: (a * a).sum(1),
        lambda a: a.exp(),
        lambda a: a.chunk(3, dim=1)[1],
    ],
)
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_forward_ad_carries_tangents_under_no_grad_as_torch(f):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((2, 3))
    t = np.random.default_rng(1).standard_normal((2, 3))
    import torch.autograd.forward_ad as tfa

    got = []
    for lib, wrap, fw in ((torch, torch.tensor, tfa), (ember, ember.tensor, fwad)):
        with fw.dual_level():
            xd = fw.make_dual(wrap(x), wrap(t))
            with lib.no_grad():
                y = f(xd)
                z = y * 3  # (on: the tangent flows through the next op too)
            got.append(
                (fw.unpack_dual(y).tangent.numpy(), fw.unpack_dual(z).tangent.numpy(), y.numpy())
            )
    for a, b in zip(*got, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_forward_ad_under_no_grad_makes_no_graph_to_the_dual():
    x = ember.randn(2, 3)
    with fwad.dual_level():
        xd = fwad.make_dual(x, ember.ones(2, 3))
        with ember.no_grad():
            y = (xd * 2).sum()
        assert y.grad_fn is None
        assert fwad.unpack_dual(y).tangent.item() == 12.0


_REDUCTIONS = {
    "sum": lambda x, d, k: x.sum(d, keepdim=k),
    "nansum": lambda x, d, k: x.nansum(d, keepdim=k),
    "amax": lambda x, d, k: x.amax(d, keepdim=k),
    "amin": lambda x, d, k: x.amin(d, keepdim=k),
    "prod": lambda x, d, k: x.prod(d, keepdim=k),
    "var": lambda x, d, k: x.var(d, keepdim=k, correction=0),  # (no size-1 dof warning)
    "std": lambda x, d, k: x.std(d, keepdim=k, correction=0),
    "mean": lambda x, d, k: x.mean(d, keepdim=k),
}


@pytest.mark.parametrize("op", list(_REDUCTIONS))
@pytest.mark.parametrize("shape", [(2, 1, 3), (1, 3, 4), (2, 3, 1, 4)])
def test_reduction_strides_of_permuted_inputs_with_size_one_dims_are_torchs(op, shape):
    torch = pytest.importorskip("torch")
    import itertools

    base = np.random.default_rng(0).standard_normal(shape)
    for perm in itertools.permutations(range(len(shape))):
        t, e = torch.tensor(base).permute(perm), ember.tensor(base).permute(*perm)
        for d in range(len(shape)):
            for k in (False, True):
                want, got = _REDUCTIONS[op](t, d, k), _REDUCTIONS[op](e, d, k)
                assert got.stride() == want.stride(), (perm, d, k)
                np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-12)


_TRANSPOSED_GRADS = {
    "x @ w.t()": lambda x, w: x @ w.t(),
    "w.t() @ x": lambda x, w: w.t() @ x,
    "w.t() * x": lambda x, w: w.t() * x,
    "w.T.exp()": lambda x, w: w.T.exp() + x,
    "w.t()[0]": lambda x, w: w.t()[0] * x,
    "w.t().reshape": lambda x, w: w.t().reshape(2, 8) * x.reshape(2, 8),
}


@pytest.mark.parametrize("name", list(_TRANSPOSED_GRADS))
def test_leaf_grad_from_a_transposed_gradient_is_c_contiguous_as_torch(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((4, 4)), rng.standard_normal((4, 4))
    got = []
    for lib in (torch, ember):
        x, w = lib.tensor(xv), lib.tensor(wv, requires_grad=True)
        _TRANSPOSED_GRADS[name](x, w).sum().backward()
        got.append(w.grad)
    assert got[1].stride() == got[0].stride() and got[1].is_contiguous()
    np.testing.assert_allclose(got[1].numpy(), got[0].numpy(), rtol=1e-12)


_INDEXES = [
    (0,), (slice(1, None),), (slice(None),), (None,), (Ellipsis,), (0, slice(1, None)),
    (slice(1, None), 0), (slice(None), slice(None)), (slice(None), slice(0, 4)),
    (Ellipsis, None), (0, None, slice(None)), (1, Ellipsis, None, slice(None)),
    (Ellipsis, slice(1, 3)), (2, 3, 4), ([0, 1],), (slice(None), [0]), (0, [1]),
]  # fmt: skip


@pytest.mark.parametrize("index", _INDEXES, ids=repr)
def test_indexing_node_names_are_torchs(index):
    torch = pytest.importorskip("torch")
    index = index[0] if len(index) == 1 else index
    names = [lib.ones(3, 4, 5, requires_grad=True)[index].grad_fn.name() for lib in (torch, ember)]
    assert names[1] == names[0]


_WRITES = {
    "mul_": lambda y: y.mul_(2),
    "iadd": lambda y: y.__iadd__(1),
    "setitem": lambda y: y.__setitem__(0, 1.0),
    "copy_": lambda y: y.copy_(ember.zeros(2, 3)),
    "zero_": lambda y: y.zero_(),
    "relu_": lambda y: ember.nn.functional.relu_(y),
    "init": lambda y: ember.nn.init.ones_(y),
    "view": lambda y: y[0].mul_(2),
}


@pytest.mark.parametrize("name", list(_WRITES))
def test_forward_ad_in_place_write_under_no_grad_refuses_rather_than_keep_a_stale_tangent(name):
    # (torch updates the tangent; ember computes tangents from recorded nodes only)
    with fwad.dual_level():
        xd = fwad.make_dual(ember.ones(2, 3), ember.ones(2, 3))
        with ember.no_grad():
            y = xd * 1
            with pytest.raises(RuntimeError, match="in-place operation under no_grad on a dual"):
                _WRITES[name](y)
            z = ember.ones(2, 3)  # (a tensor without a tangent: written as before)
            _WRITES[name](z)
        assert fwad.unpack_dual(y).tangent.numpy().tolist() == [[1.0] * 3] * 2
