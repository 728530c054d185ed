"""overhead38: the small ops' fast paths (view fronts, expand by _C.strided, recorded
masked_fill / where / cat / stack / chunk through Function.apply's C path, eye, the in-place
wrapper) give torch's values, shapes, strides, dtypes, gradients and node names on their fast
and general cases; Function.apply's C path refuses globals it cannot find."""

import types
import warnings
from contextlib import nullcontext

import numpy as np
import pytest

import ember
import ember.autograd.function as F
from ember import _C

torch = pytest.importorskip("torch")

rng = np.random.default_rng(38)
A = rng.standard_normal((4, 6))

# (name, layout): contiguous, transposed, a row slice, a column with a size-1 dim, an empty
# one and a 0-d one
_LAYOUTS = {
    "contiguous": lambda L: L.tensor(A),
    "transposed": lambda L: L.tensor(A).t(),
    "sliced": lambda L: L.tensor(A)[1:3],
    "column": lambda L: L.tensor(A)[:, 2:3],
    "empty": lambda L: L.tensor(A)[:0],
    "scalar": lambda L: L.tensor(A)[1, 2],
}


def _same(e, t, grad_fn=True):
    assert tuple(e.shape) == tuple(t.shape)
    assert e.stride() == t.stride()
    assert str(e.dtype).split(".")[-1] == str(t.dtype).split(".")[-1]
    np.testing.assert_array_equal(e.detach().numpy(), t.detach().numpy())
    assert e.requires_grad == t.requires_grad
    if grad_fn:
        assert (e.grad_fn is None) == (t.grad_fn is None)
        if t.grad_fn is not None:
            assert e.grad_fn.name() == t.grad_fn.name()


_VIEWS = {
    "transpose": lambda x: x.transpose(0, -1) if x.ndim else x.transpose(0, -1),
    "mT": lambda x: x.mT,
    "flatten": lambda x: x.flatten(),
    "flatten(1)": lambda x: x.flatten(1) if x.ndim else x.flatten(0),
    "squeeze": lambda x: x.squeeze(),
    "squeeze(-1)": lambda x: x.squeeze(-1),
    "unsqueeze(0)": lambda x: x.unsqueeze(0),
    "unsqueeze(1)": lambda x: x.unsqueeze(1) if x.ndim else x.unsqueeze(0),
    "unsqueeze(-1)": lambda x: x.unsqueeze(-1),
    "reshape(-1)": lambda x: x.reshape(-1),
    "reshape": lambda x: x.reshape(x.shape[::-1] if x.ndim else ()),
    "view(-1)": lambda x: x.contiguous().view(-1),
    "view": lambda x: x.contiguous().view(*x.shape[::-1]) if x.ndim else x.view(()),
    "view_as": lambda x: x.contiguous().view_as(x.contiguous()),
    "reshape_as": lambda x: x.reshape_as(x.contiguous()),
    "expand": lambda x: x.unsqueeze(0).expand(3, *x.shape),
    "expand(-1)": lambda x: x.unsqueeze(-1).expand(*x.shape, 2),
    "expand_as": lambda x: x.expand_as(x.unsqueeze(0).expand(2, *x.shape)),
    "expand same": lambda x: x.expand(tuple(x.shape)),
}


@pytest.mark.parametrize("layout", list(_LAYOUTS))
@pytest.mark.parametrize("op", list(_VIEWS))
@pytest.mark.parametrize("mode", ["plain", "recorded", "no_grad"])
def test_views_match_torch(op, layout, mode):
    out = []
    for L in (ember, torch):
        x = _LAYOUTS[layout](L)
        if mode != "plain":
            x = x.detach().requires_grad_()
        # (torch: mT of a 0-D tensor is the tensor itself, with a deprecation warning it gives
        # once per process: ember's is checked each time)
        deprecated = op == "mT" and layout == "scalar"
        warned = pytest.warns(UserWarning, match="deprecated on 0-D")
        if deprecated and L is torch:
            warned = warnings.catch_warnings(action="ignore")
        with warned if deprecated else nullcontext():
            with L.no_grad() if mode == "no_grad" else nullcontext():
                y = _VIEWS[op](x)
        out.append((x, y))
    (ex, e), (tx, t) = out
    assert (e is ex) == (t is tx)  # (torch returns an identity flatten or 0-D mT itself)
    _same(e, t)
    if mode == "recorded" and e.numel():
        w = rng.standard_normal(tuple(e.shape))
        (e * ember.tensor(w)).sum().backward()
        (t * torch.tensor(w)).sum().backward()
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy())


def test_view_errors_match_torch():
    for call in (
        lambda L: L.tensor(A).transpose(0, 2),
        lambda L: L.tensor(A).flatten(1, 0),
        lambda L: L.tensor(A).unsqueeze(3),
        lambda L: L.tensor(A).view(5, -1),
        lambda L: L.tensor(A).reshape(7),
        lambda L: L.tensor(A).t().view(-1),
        lambda L: L.tensor(A).expand(3, 5),
        lambda L: L.tensor(A).expand(6, 4),
    ):
        with pytest.raises((RuntimeError, IndexError)) as want:
            call(torch)
        with pytest.raises(want.type):
            call(ember)


def test_expand_writes_through_as_torch():
    for L in (ember, torch):
        x = L.zeros(3)
        x.expand(1, 3).add_(1)  # (no entry repeats: a writeable view)
        assert x.tolist() == [1.0, 1.0, 1.0]
        with pytest.raises(RuntimeError):
            x.expand(2, 3).add_(1)  # (entries repeat: refused)


def test_strided_refuses_views_past_the_array():
    a = np.arange(4.0)
    np.testing.assert_array_equal(_C.strided(a, (2, 4), (0, 8), False), np.tile(a, (2, 1)))
    with pytest.raises(ValueError, match="outside"):
        _C.strided(a, (5,), (8,), False)
    with pytest.raises(ValueError, match="outside"):
        _C.strided(a[1:], (2,), (-8,), False)
    a.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _C.strided(a, (4,), (8,), True)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("grad", [False, True])
def test_masked_fill_and_where_match_torch(dtype, grad):
    a = rng.standard_normal((5, 7)).astype(dtype)
    b = rng.standard_normal((5, 7)).astype(dtype)
    m = rng.random((5, 7)) > 0.5
    res = {}
    for L in (ember, torch):
        x, y = L.tensor(a, requires_grad=grad), L.tensor(b, requires_grad=grad)
        mask = L.tensor(m)
        outs = (x.masked_fill(mask, 0.25), L.where(mask, x, y), x.masked_fill(mask, -3))
        if grad:
            sum(o.sum() * (k + 1) for k, o in enumerate(outs)).backward()
        res[L] = (outs, (x.grad, y.grad) if grad else None)
    for e, t in zip(res[ember][0], res[torch][0]):
        _same(e, t)
    if grad:
        for e, t in zip(res[ember][1], res[torch][1]):
            np.testing.assert_allclose(e.numpy(), t.numpy())


@pytest.mark.parametrize("stack", [False, True])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cat_and_stack_in_the_graph_match_torch(stack, dim):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    got = {}
    for L in (ember, torch):
        x, y = L.tensor(a, requires_grad=True), L.tensor(b)
        z = (L.stack if stack else L.cat)([x, y, x], dim)
        w = L.tensor(np.linspace(-1, 1, z.numel()).reshape(tuple(z.shape)))
        (z * w).sum().backward()
        got[L] = (z, x.grad, len(z.grad_fn.next_functions))
    _same(got[ember][0], got[torch][0])
    np.testing.assert_allclose(got[ember][1].numpy(), got[torch][1].numpy())
    assert got[ember][2] == got[torch][2]
    x = ember.tensor(a, requires_grad=True)
    join = ember.stack if stack else ember.cat
    assert ember.autograd.gradcheck(lambda x: join([x, x * x], dim), (x,))
    assert ember.autograd.gradgradcheck(lambda x: join([x * x, x], dim), (x,))


@pytest.mark.parametrize("grad", [False, True])
@pytest.mark.parametrize("chunks,dim", [(4, 0), (3, 1), (2, -1)])
def test_chunk_matches_torch(grad, chunks, dim):
    got = {}
    for L in (ember, torch):
        x = L.tensor(A, requires_grad=grad)
        pieces = x.chunk(chunks, dim)
        if grad:
            sum(p.sum() * (k + 1) for k, p in enumerate(pieces)).backward()
        got[L] = (pieces, x.grad)
    assert len(got[ember][0]) == len(got[torch][0])
    for e, t in zip(got[ember][0], got[torch][0]):
        _same(e, t)
    if grad:
        np.testing.assert_allclose(got[ember][1].numpy(), got[torch][1].numpy())
        with pytest.raises(RuntimeError):  # (a multi-output view refuses in-place writes)
            ember.tensor(A, requires_grad=True).clone().chunk(2)[0].mul_(2)


@pytest.mark.parametrize("args", [(0,), (1,), (5,), (5, 2), (2, 5), (3, 0), (0, 3)])
@pytest.mark.parametrize("dtype", [None, "int64", "bool", "float64", "complex64"])
def test_eye_matches_torch(args, dtype):
    e = ember.eye(*args, dtype=getattr(ember, dtype) if dtype else None)
    t = torch.eye(*args, dtype=getattr(torch, dtype) if dtype else None)
    _same(e, t)


def test_eye_refusals_match_torch():
    for call in (lambda L: L.eye(-1), lambda L: L.eye(2, -3)):
        with pytest.raises(RuntimeError):
            call(torch)
        with pytest.raises(RuntimeError):
            call(ember)
    for call in (lambda L: L.eye(2.5), lambda L: L.eye(True), lambda L: L.eye(2, None)):
        with pytest.raises(TypeError):
            call(torch)
        with pytest.raises(TypeError):
            call(ember)


@pytest.mark.parametrize("grad", [False, True])
def test_inplace_index_copy_and_scatter_add_match_torch(grad):
    src = rng.standard_normal((4, 6))
    idx = np.array([3, 0])
    gi = rng.integers(0, 6, (4, 6))
    got = {}
    for L in (ember, torch):
        s = L.tensor(src, requires_grad=grad)
        x = L.tensor(A).clone()
        v0 = x._version
        x.index_copy_(0, L.tensor(idx), s[:2] * 1)
        x.scatter_add_(1, L.tensor(gi), s * 1)
        x.index_copy_(dim=1, index=L.tensor([5]), source=s[:, :1] * 1)  # (keywords)
        if grad:
            x.sum().backward()
        got[L] = (x, x._version - v0, s.grad)
    _same(got[ember][0], got[torch][0])
    assert got[ember][1] == got[torch][1]
    if grad:
        np.testing.assert_allclose(got[ember][2].numpy(), got[torch][2].numpy())


def test_fast_apply_refuses_unknown_or_changed_globals():
    common = {"_fw_level": None, "_inference_made": False, "_graph_writes": 0}
    common["_no_grad_views_made"] = False
    g = {**vars(F), **common}  # (this process wrote tensors: its counts are not 0)
    args = (F.Function.apply, F._recorded, F._unrecorded)
    objs = (F._new, F._state, F._anomaly, F._creation_order)
    renamed = dict(g)
    del renamed["_fw_level"]
    with pytest.raises(RuntimeError, match="_fw_level.*missing"):
        _C.make_fast_apply(*args, renamed, common, *objs)
    with pytest.raises(RuntimeError, match="_graph_writes.*another value"):
        _C.make_fast_apply(*args, {**g, "_graph_writes": 3}, common, *objs)
    with pytest.raises(ValueError, match="4 mode globals"):
        _C.make_fast_apply(*args, g, {"_fw_level": None}, *objs)
    not_bool = types.SimpleNamespace(enabled=1)
    with pytest.raises(TypeError, match="enabled"):
        _C.make_fast_apply(*args, g, common, F._new, not_bool, F._anomaly, F._creation_order)
    with pytest.raises(RuntimeError, match="installed already"):  # (all checks pass)
        _C.make_fast_apply(*args, g, common, *objs)


_SURVEYED = {
    "movedim": lambda L, x: L.movedim(x, 0, -1),
    "movedim back": lambda L, x: L.movedim(x, -1, 0),
    "unflatten": lambda L, x: x.unflatten(-1, (2, -1)),
    "select": lambda L, x: x.select(1, -1),
    "select(0)": lambda L, x: x.select(0, 1),
    "narrow": lambda L, x: x.narrow(1, 0, 1),
    "narrow(0)": lambda L, x: x.narrow(0, 1, 1),
    "sign": lambda L, x: L.sign(x),
}


@pytest.mark.parametrize("layout", ["contiguous", "transposed", "sliced", "column"])
@pytest.mark.parametrize("op", list(_SURVEYED))
@pytest.mark.parametrize("grad", [False, True])
def test_surveyed_fronts_match_torch(op, layout, grad):
    if op == "unflatten" and layout == "column":  # (a size-1 dim does not split in two)
        for L in (ember, torch):
            with pytest.raises(RuntimeError, match="unflatten"):
                _SURVEYED[op](L, _LAYOUTS[layout](L))
        return
    got = {}
    for L in (ember, torch):
        x = _LAYOUTS[layout](L).detach().requires_grad_(grad)
        got[L] = _SURVEYED[op](L, x)
    # (found, left as they were: ember names sign's node PiecewiseBackward0, and unflatten of
    # a non-contiguous tensor ReshapeAliasBackward0 where torch's is a View)
    _same(got[ember], got[torch], grad_fn=op != "sign" and op != "unflatten")


def test_sign_zero_at_nan_as_torch():
    a = np.array([[np.nan, -2.0, 0.0, -0.0], [3.0, np.inf, -np.inf, np.nan]], np.float32)
    for shape in ((2, 4), (8,), ()):
        v = a.reshape(-1)[:1].reshape(()) if shape == () else a.reshape(shape)
        _same(ember.sign(ember.tensor(v)), torch.sign(torch.tensor(v)))
    _same(ember.sign(ember.tensor([True, False])), torch.sign(torch.tensor([True, False])))


def test_from_numpy_shares_memory_as_its_own_owner():
    for a in (np.arange(6.0).reshape(2, 3), np.arange(12.0).reshape(3, 4)[:, ::2], np.ones(())):
        e, t = ember.from_numpy(a), torch.from_numpy(a)
        _same(e, t)
        assert np.shares_memory(e.numpy(), a)
        assert e.data.base is not a  # (no base chain to a: its own version counter)
    assert ember.from_numpy(np.zeros((0, 3))).shape == (0, 3)
    a = np.arange(3.0)
    e, t = ember.from_numpy(a), ember.from_numpy(a)
    e.add_(1)
    assert a.tolist() == [1.0, 2.0, 3.0] and (e._version, t._version) == (1, 0)
    with pytest.raises(TypeError):
        ember.from_numpy([1.0, 2.0])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("value", [0.1, -3, 1e30, float("nan")])
@pytest.mark.parametrize("n", [3, 40])
def test_masked_fill_inplace_matches_torch(dtype, value, n):
    a = (rng.standard_normal((n, 5)) * 10).astype(dtype)
    m = rng.random((n, 5)) > 0.5
    got = {}
    for L in (ember, torch):
        x = L.tensor(a)
        try:
            x.masked_fill_(L.tensor(m), value)
        except RuntimeError as e:
            got[L] = type(e)
        else:
            got[L] = x
    if isinstance(got[torch], type):
        assert got[ember] is got[torch] or issubclass(got[ember], RuntimeError)
    else:
        _same(got[ember], got[torch])
    with pytest.raises(RuntimeError):  # (a leaf that requires grad, as torch)
        ember.tensor(a.astype(float), requires_grad=True).masked_fill_(ember.tensor(m), 0.0)


@pytest.mark.parametrize("dtype", [None, "float64", "int64"])
@pytest.mark.parametrize("value", [0.5, 2, True])
def test_full_like_matches_torch(dtype, value):
    for layout in ("contiguous", "transposed", "scalar", "empty"):
        got = [
            L.full_like(_LAYOUTS[layout](L), value, dtype=getattr(L, dtype) if dtype else None)
            for L in (ember, torch)
        ]
        _same(*got)
    x = np.arange(4.0)
    assert ember.full_like(x, 3).tolist() == [3.0] * 4


@pytest.mark.parametrize("name", ["tril", "triu"])
@pytest.mark.parametrize("diagonal", [0, 1, -2, 40])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
def test_triangles_match_torch(name, diagonal, dtype):
    a = (rng.standard_normal((6, 9)) * 5).astype(dtype)
    for make in (lambda L: L.tensor(a), lambda L: L.tensor(a).t(), lambda L: L.tensor(a)[:2]):
        _same(*(getattr(L, name)(make(L), diagonal) for L in (ember, torch)))
    with pytest.raises(TypeError):
        ember.tril(ember.tensor(a), True)


def _links(t):
    return tuple(getattr(t, k, "unset") for k in ("_chained_view", "_view_of", "_made_at"))


def test_outside_view_links_views_as_mark_view():
    from ember import ops

    x = ember.ones(4, 6)
    for make in (
        lambda: x,
        lambda: x.t(),
        lambda: x[1:].t(),
        lambda: ember.tensor(np.ones((4, 6))[1:]),  # (a NumPy view: not linked to a root)
    ):
        src = make()
        a = src.data.T
        c, p = ops._outside_view(a, src), ops._outside_view_py(a, src)
        assert _links(c) == _links(p)
        assert c._view_of is (src._view_of if hasattr(src, "_view_of") else src)
    with ember.no_grad():  # (the Python path: marked as made under no_grad, as torch)
        v = x.t()
    assert v._chained_view is not None and v._chained_view[0] == "no_grad mode"
    y = ember.ones(3, requires_grad=True)
    with ember.no_grad():
        assert y[:2].requires_grad  # (a no_grad view of a tensor requiring grad, as torch)
    x = ember.ones(5)
    for _ in range(300):  # dead views' references pruned at each power of two
        x[1:].t()
    assert len(x._views) < 130 and all(w() is None for w in x._views[:-1])


def test_make_outside_view_refuses_missing_globals():
    from ember import ops

    g = {k: v for k, v in vars(F).items() if k != "_grad_off"}
    with pytest.raises(RuntimeError, match="_grad_off is missing"):
        _C.make_outside_view(ops._outside_view_py, ember.Tensor, g)
    with pytest.raises(KeyError):  # (a type without Tensor's slots)
        _C.make_outside_view(ops._outside_view_py, int, vars(F))


@pytest.mark.parametrize("dims", [(1, 0), (0, 1), (-1, 0), [1, 0], (np.int64(1), 0)])
@pytest.mark.parametrize("grad", [False, True])
def test_permute_matches_torch(dims, grad):
    for layout in ("contiguous", "transposed", "column"):
        got = []
        for L in (ember, torch):
            x = _LAYOUTS[layout](L).detach().requires_grad_(grad)
            got.append(x.permute(*dims) if type(dims) is tuple else x.permute(dims))
        _same(*got)
    for bad in ((0, 0), (0,), (True, 0), (0, 2)):
        with pytest.raises((RuntimeError, IndexError, TypeError)) as want:
            torch.ones(2, 3).permute(*bad)
        with pytest.raises(want.type):
            ember.ones(2, 3).permute(*bad)


def test_views_of_inference_tensors_stay_inference_tensors():
    for L in (ember, torch):
        with L.inference_mode():
            x = L.ones(4, 6)
        views = (x[0], x.t(), x.transpose(0, 1), x.reshape(-1), x.unsqueeze(0), *x.chunk(2))
        assert all(v.is_inference() for v in views)
        y = L.ones(4, 6)
        assert not any(v.is_inference() for v in (y.t(), y.view(-1), *y.chunk(2)))
