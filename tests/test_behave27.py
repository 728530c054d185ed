"""Autograd and view behaviour matched to PyTorch 2.13: version counters that follow a tensor
through ``t.data = other`` and resize_ (torch's set_data keeps the tensor's counter), views
made under no_grad / inference_mode or by split / chunk / unbind before their base's
requires_grad_() and then written (refused at use, as torch's), torch's words for a write into
a view of such a view, empty stepped slices' strides, eye's refused m=None, xlogy / xlog1py
double backward where the incoming gradient is 0, broadcast errors as BadShapeOrValue."""

import random

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue


def _torch():
    return pytest.importorskip("torch")


# ---- 1. version counters: torch's per-tensor rules -------------------------------------------


def _data_swap(L):
    """q.data = src: q (and its views, old and new) keep q's counter; src's writes are src's."""
    src = L.ones(4)
    src.add_(1)
    src.add_(1)
    q = L.zeros(4)
    q.add_(1)
    old_view = q[:2]
    got = [(q._version, old_view._version, src._version)]
    q.data = src
    got.append((q._version, old_view._version, src._version))
    q.add_(1)
    got.append((q._version, old_view._version, src._version))
    src.add_(1)
    new_view = q[1:]
    got.append((q._version, old_view._version, src._version, new_view._version))
    new_view.mul_(2)
    q.detach().add_(1)
    got.append((q._version, old_view._version, src._version, new_view._version))
    old_view.zero_()  # (the old memory: still q's counter, as torch's)
    got.append((q._version, q.detach()._version, src._version, q.tolist()))
    return got


def test_data_swap_keeps_the_tensors_counter_as_torch():
    torch = _torch()
    assert _data_swap(ember) == _data_swap(torch)


def test_data_swap_hard_coded():
    got = _data_swap(ember)
    assert got[1] == (1, 1, 2)  # (q keeps its count, not src's)
    assert got[3] == (2, 2, 3, 2)


def _resize_and_writes(L):
    x = L.zeros(3)
    x.add_(1)
    v = x.view(3)
    out = [(x._version, v._version)]
    x.resize_(5)
    out.append(x._version)
    x.t_()
    x.unsqueeze_(0)
    out.append(x._version)
    y = L.zeros(3)
    y.requires_grad_()
    out.append(y._version)
    return out


def test_resize_and_view_ops_count_as_torch():
    torch = _torch()
    assert _resize_and_writes(ember) == _resize_and_writes(torch)


def _saved_then_swapped(L, write):
    """A node saved q; then q.data = other and a write through q (or through other)."""
    q = L.tensor([1.0, 2.0, 3.0], dtype=L.float64)
    w = L.tensor([0.5, 1.5, 2.5], dtype=L.float64, requires_grad=True)
    y = (w * q).sum()  # (mul saved q for w's gradient)
    other = L.tensor([4.0, 5.0, 6.0], dtype=L.float64)
    q.data = other
    {"q": lambda: q.add_(1), "view of q": lambda: q[1:].mul_(2)}[write]()
    try:
        y.backward()
    except RuntimeError as e:
        return "modified by an inplace operation" in str(e)
    return w.grad.tolist()


# (not compared: the swap alone, which torch's node reads through the saved tensor's swapped
# storage, new values, where ember's node kept the old array)
@pytest.mark.parametrize("write", ["q", "view of q"])
def test_saved_tensor_check_follows_the_swapped_counter(write):
    torch = _torch()
    assert _saved_then_swapped(ember, write) == _saved_then_swapped(torch, write)


def test_written_after_swap_refuses_nodes_that_saved_the_new_memory():
    # (ember also refuses a node that saved ``other`` itself when q writes it: torch's counter
    # would miss that write and differentiate with the new values)
    q, other = ember.zeros(3, dtype=ember.float64), ember.ones(3, dtype=ember.float64)
    w = ember.ones(3, dtype=ember.float64, requires_grad=True)
    q.data = other
    y = (w * q).sum()
    q.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


# ---- 2. views made before the base's requires_grad_(), written, then used --------------------


def _no_grad_view(L, x):
    with L.no_grad():
        return x[1]


def _inference_view(L, x):
    with L.inference_mode():
        return x[1]


MAKES = {
    "no_grad": _no_grad_view,
    "inference_mode": _inference_view,
    "split": lambda L, x: x.split(2)[0],
    "chunk": lambda L, x: x.chunk(2)[1],
    "unbind": lambda L, x: x.unbind()[1],
}


def _write_view(L, v, x):
    with L.no_grad():
        v.mul_(2)


def _write_base(L, v, x):
    with L.no_grad():
        x.mul_(2)


def _write_view_of_view(L, v, x):
    u = v[0]
    with L.no_grad():
        u.add_(1)


WRITES = {
    "view": _write_view,
    "base": _write_base,
    "view of view": _write_view_of_view,
    "detached": lambda L, v, x: v.detach().add_(1),
    "nothing": lambda L, v, x: None,
}


def _made_before_requires_grad(L, make, write):
    x = L.arange(8.0, dtype=L.float64).reshape(4, 2).clone()
    v = MAKES[make](L, x)
    x.requires_grad_()
    w = L.ones(2, dtype=L.float64, requires_grad=True)
    WRITES[write](L, v, x)
    try:
        out = (v * w).sum()
    except RuntimeError as e:
        return str(e).split(".")[0]
    out.backward()
    return v.requires_grad, v.is_leaf, x.grad, w.grad.tolist()


@pytest.mark.parametrize("make", list(MAKES))
@pytest.mark.parametrize("write", list(WRITES))
def test_views_made_before_requires_grad_then_written_as_torch(make, write):
    torch = _torch()
    want = _made_before_requires_grad(torch, make, write)
    got = _made_before_requires_grad(ember, make, write)
    assert got == want
    assert (write == "nothing") == (type(got) is tuple)  # (every write refuses the use)


def test_views_made_before_requires_grad_hard_coded():
    with pytest.raises(RuntimeError, match="created in no_grad mode and its base or another"):
        _made_before_requires_grad_raw("no_grad")
    with pytest.raises(RuntimeError, match="created in inference mode and its base or another"):
        _made_before_requires_grad_raw("inference_mode")


def _made_before_requires_grad_raw(make):
    x = ember.zeros(4, 2, dtype=ember.float64)
    v = MAKES[make](ember, x)
    x.requires_grad_()
    _write_view(ember, v, x)
    return v * 2


def test_requires_grad_off_again_frees_the_views():
    x = ember.zeros(4, 2)
    with ember.no_grad():
        v = x[1]
    x.requires_grad_()
    assert v.requires_grad
    x.requires_grad_(False)
    assert not v.requires_grad
    v.add_(1)  # (a plain view again: written, then used freely)
    assert (v * 2).tolist() == [2.0, 2.0]


def _write_into_view_of_view(L, make, how):
    x = L.zeros(4, 2, dtype=L.float64)
    v = MAKES[make](L, x)
    x.requires_grad_()
    w = L.ones(2, dtype=L.float64, requires_grad=True)
    u = v[0]
    try:
        if how == "mul_":
            u.mul_(w[0])
        else:
            u.add_(1)
    except RuntimeError as e:
        return str(e)
    return None


@pytest.mark.parametrize("make", list(MAKES))
@pytest.mark.parametrize("how", ["mul_", "add_"])
def test_write_into_a_view_of_such_a_view_has_torchs_words(make, how):
    torch = _torch()
    assert _write_into_view_of_view(ember, make, how) == _write_into_view_of_view(torch, make, how)


# ---- 3. empty stepped slices: torch's strides -------------------------------------------------


def _slice_key(r, shape):
    key = []
    for n in shape:
        c = r.random()
        if c < 0.15:
            key.append(None)
        if c < 0.35:
            key.append(r.randrange(-n, n))
        else:
            key.append(slice(r.choice([None, 0, 1, n]), r.choice([None, -1, 1, n]),
                             r.choice([None, 1, 2, 3])))  # fmt: skip
    return tuple(key)


def _sliced(L, seed):
    r = random.Random(seed)
    shape = [r.choice([1, 1, 2, 3, 4]) for _ in range(r.randint(1, 4))]
    x = L.tensor(np.arange(float(np.prod(shape))).reshape(shape).tolist())
    if r.random() < 0.5 and x.ndim >= 2:
        x = x.transpose(0, -1)
    if r.random() < 0.3:
        x = x[::2]
    y = x[_slice_key(r, x.shape)]
    return tuple(y.shape), y.stride(), y.tolist()


def test_random_basic_slices_strides_match_torch():
    torch = _torch()
    empty = 0
    for seed in range(600):
        want = _sliced(torch, seed)
        assert _sliced(ember, seed) == want, seed
        empty += 0 in want[0]
    assert empty > 50


def test_empty_stepped_slice_strides_hard_coded():
    x = ember.arange(4.0)
    assert x[1:1:2].stride() == (2,)
    assert x[::2][1::2][1:].stride() == (4,)  # (a size-1 dim's step, then an empty one)
    y = ember.zeros(3, 1, 2)
    assert y[None, 2, None, None, 1::3].stride() == (6, 2, 2, 6, 1)
    assert y[..., 2:2:3].stride() == (2, 2, 3)
    z = y[1:1:2]
    assert z.shape == (0, 1, 2) and z.stride() == (4, 2, 1)
    z2 = ember.zeros(2, 3).t()[1:1:2]  # (a strided base: step times its stride)
    assert z2.stride() == (2, 3)


# ---- 4. eye's m -------------------------------------------------------------------------------


def test_eye_refuses_m_none_as_torch():
    torch = _torch()
    for L in (torch, ember):
        with pytest.raises(TypeError):
            L.eye(3, None)
        with pytest.raises(TypeError):
            L.eye(3, m=None)
        assert tuple(L.eye(3).shape) == (3, 3)
        assert tuple(L.eye(3, 4).shape) == (3, 4)
        assert tuple(L.eye(3, m=2).shape) == (3, 2)
    assert ember.eye(2, dtype=ember.float64).dtype == ember.float64


# ---- 6. xlogy / xlog1py double backward where the incoming gradient is 0 --------------------


def _xlog_double(L, name):
    f = getattr(L.special, name)
    a = L.tensor([0.0, 1.0, 2.0, 0.0, 3.0, 0.0], dtype=L.float64, requires_grad=True)
    b = L.tensor([float("inf"), float("inf"), 2.0, 0.0, 0.5, -1.0], dtype=L.float64,
                 requires_grad=True)  # fmt: skip
    g = L.tensor([0.0, 0.0, 1.5, 2.0, 0.0, 1.0], dtype=L.float64, requires_grad=True)
    ga, gb = L.autograd.grad(f(a, b), (a, b), g, create_graph=True)
    out = [ga.tolist(), gb.tolist()]
    for t in (ga, gb):
        r = L.autograd.grad(t.sum(), (a, b, g), allow_unused=True, retain_graph=True)
        out += [np.zeros(6) if x is None else x.tolist() for x in r]
    return np.array(out, dtype=np.float64)


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_xlog_create_graph_zero_incoming_gradient_as_torch(name):
    torch = _torch()
    got, want = _xlog_double(ember, name), _xlog_double(torch, name)
    np.testing.assert_allclose(got, want, rtol=1e-14, atol=0, equal_nan=True)


@pytest.mark.parametrize("name", ["xlogy", "xlog1py"])
def test_xlog_create_graph_hard_coded(name):
    got = _xlog_double(ember, name)
    assert got[0, 0] == 0.0 and got[0, 1] == 0.0  # (0 * log(inf) was NaN)


def test_xlogy_gradgradcheck():
    a = ember.tensor([0.5, 1.0, 2.0], dtype=ember.float64, requires_grad=True)
    b = ember.tensor([0.7, 1.5, 3.0], dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradgradcheck(ember.special.xlogy, (a, b))
    assert ember.autograd.gradgradcheck(ember.special.xlog1py, (a, b))


# ---- broadcast errors: torch's RuntimeError ----------------------------------------------------


def test_broadcast_error_is_bad_shape():
    with pytest.raises(BadShapeOrValue, match=r"\(3, 2, 2\) and \(3, 1\)"):
        ember.ones(3, 2, 2) * ember.ones(3, 1)
    with pytest.raises(RuntimeError):
        ember.ones(2) + ember.ones(3)


# ---- 7. as_strided reads the storage; reshape's node names ----------------------------------


def _strided(L):
    x = L.arange(12.0, dtype=L.float64).reshape(3, 4)
    out = [
        x.t().as_strided((2, 2), (1, 2)).tolist(),  # (not x.t()'s row-major copy)
        x[1].as_strided((2,), (1,)).tolist(),  # (from x[1]'s own offset)
        x[1].as_strided((2,), (1,), 0).tolist(),  # (an offset in the storage)
        x.unfold(1, 2, 1).as_strided((2, 2), (1, 2)).tolist(),
        x[:, 1:].t().as_strided((3,), (5,)).tolist(),
    ]
    x.requires_grad_()
    w = L.arange(6.0, dtype=L.float64).reshape(2, 3)
    for view in (
        lambda: x.t()[1:].as_strided((2, 3), (1, 2), 1),
        lambda: x[0:1].expand(3, 4).as_strided((2, 3), (1, 1)),  # (x's elements repeat)
        lambda: x.unfold(1, 2, 1).as_strided((2, 3), (1, 2)),  # (they overlap)
    ):
        x.grad = None
        (view() * w).sum().backward()
        out.append(x.grad.tolist())
    return out


def test_as_strided_views_the_storage_as_torch():
    torch = _torch()
    assert _strided(ember) == _strided(torch)


def test_as_strided_hard_coded():
    x = ember.arange(12.0).reshape(3, 4)
    y = x.t().as_strided((2, 2), (1, 2))
    assert y.tolist() == [[0.0, 2.0], [1.0, 3.0]]
    y.zero_()  # (a view: x changes)
    assert x[0].tolist() == [0.0, 0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="out of bounds for 12 elements"):
        x[2].as_strided((5,), (1,))  # (from x[2]'s offset 8, past the storage's end)
    assert x[2].as_strided((4,), (1,), 0).tolist() == [0.0] * 4
    e = ember.zeros(2, 3, dtype=ember.float64, requires_grad=True)
    (e[0:1].expand(2, 3).as_strided((2,), (1,)) * 2).sum().backward()
    # (2 per element read, shared by the expanded rows, then summed back by expand's node)
    assert e.grad.tolist() == [[2.0, 2.0, 0.0], [0.0, 0.0, 0.0]]
    assert ember.autograd.gradcheck(
        lambda t: t.t().as_strided((2, 2), (1, 2), 1), (ember.randn(3, 3, dtype=ember.float64,
                                                              requires_grad=True),)
    )  # fmt: skip


def _reshape_names(L):
    x = L.zeros(3, 4, requires_grad=True) * 1
    return [
        v.grad_fn.name()
        for v in (
            x.reshape(12),
            x.t().reshape(4, 3, 1),
            x.t().reshape(12),
            x[:, ::2].reshape(6),
            x.t().flatten(),
            x.flatten(),
            x.t().view(4, 3, 1),
            x[:1].expand(2, 4).reshape(8),
            x.t().reshape(-1, 3),
            x[1:].reshape(8),
        )
    ]


def test_reshape_node_names_as_torch():
    torch = _torch()
    assert _reshape_names(ember) == _reshape_names(torch)
    assert _reshape_names(ember)[1:3] == ["ReshapeAliasBackward0", "UnsafeViewBackward0"]


# ---- 7. random programs of views, in-place writes, detach, no_grad and backward -------------
# (Writes into views whose elements overlap (expand, unfold, as_strided windows) are left out:
# torch writes them element by element, ember refuses them as read-only.)

_VIEWS = ("view reshape transpose expand as_strided unfold diagonal narrow select detach "
          "getitem split unbind t permute squeeze unsqueeze").split()  # fmt: skip
_WRITES = "add_s mul_s add_w mul_w zero_ copy_ setitem iadd clamp_ sqrt_".split()


def _view_op(t, k, r):
    nd = t.dim()
    if k in ("view", "reshape"):
        return t.view(-1) if k == "view" and t.is_contiguous() else t.reshape(-1)
    if k == "transpose":
        return t.transpose(0, -1) if nd else t
    if k == "expand":
        return t.unsqueeze(0).expand(2, *t.shape)
    if k == "as_strided":
        return t.as_strided((2, 2), (1, 2)) if t.numel() >= 4 else t.as_strided((1,), (1,))
    if k == "unfold":
        return t.unfold(-1, 2, 1) if nd and t.shape[-1] >= 2 else t
    if k == "diagonal":
        return t.diagonal() if nd >= 2 else t
    if k == "narrow":
        return t.narrow(0, 1, 1) if nd and t.shape[0] >= 2 else t
    if k == "select":
        return t.select(0, -1) if nd else t
    if k == "detach":
        return t.detach()
    if k == "getitem":
        return t[..., ::2] if nd else t
    if k == "split":
        return t.split(1)[r.randrange(t.shape[0])] if nd and t.shape[0] else t
    if k == "unbind":
        return t.unbind(0)[0] if nd and t.shape[0] else t
    if k == "t":
        return t.t() if nd <= 2 else t
    if k == "permute":
        return t.permute(*reversed(range(nd)))
    return t.squeeze() if k == "squeeze" else t.unsqueeze(0)


def _write_op(L, t, k, w):
    plain = {"add_s": ("add_", 1.5), "mul_s": ("mul_", 2), "zero_": ("zero_",),
             "clamp_": ("clamp_", 0.2, 5.0), "sqrt_": ("sqrt_",)}  # fmt: skip
    if k in plain:
        name, *args = plain[k]
        getattr(t, name)(*args)
    elif k == "add_w":
        t.add_(w if t.shape[-1:] == (4,) else w.sum())
    elif k == "mul_w":
        t.mul_(w.sum())
    elif k == "copy_":
        t.copy_(t * 0 + w.sum())
    elif k == "setitem":
        if t.dim():
            t[0] = w.sum() * 2
        else:
            t.fill_(3.0)
    else:
        t += 1


def _state(t):
    def read(f):
        try:
            return f()
        except RuntimeError:
            return "RuntimeError"

    return tuple(
        read(f)
        for f in (
            lambda: tuple(t.shape),
            lambda: np.round(t.detach().numpy().astype(float), 6).tolist(),
            lambda: t.requires_grad,
            lambda: t.is_leaf,
            lambda: None if t.grad_fn is None else t.grad_fn.name(),
            lambda: t._version,
        )
    )


def _program(L, seed):
    r = random.Random(seed)
    x = L.arange(12.0, dtype=L.float64).reshape(3, 4).clone() / 7 + 0.5
    if r.random() < 0.4:
        x.requires_grad_()
    w = L.linspace(0.5, 1.5, 4, dtype=L.float64).requires_grad_()
    pool, overlaps = [x], [False]
    if not x.requires_grad and r.random() < 0.75:
        pool.append(x * w)
        overlaps.append(False)
    out = []
    for _ in range(r.randint(3, 10)):
        c, i = r.random(), r.randrange(len(pool))
        t = pool[i]
        off = r.random() < 0.2
        try:
            with L.no_grad() if off else L.enable_grad():
                if c < 0.5:
                    k = r.choice(_VIEWS)
                    pool.append(_view_op(t, k, r))
                    overlaps.append(overlaps[i] or k in ("expand", "unfold", "as_strided"))
                elif c < 0.9:
                    k = r.choice(_WRITES)
                    if not overlaps[i]:
                        _write_op(L, t, k, w)
                else:
                    k = "mul"
                    pool.append(t * 2 + w.sum())
                    overlaps.append(False)
        except RuntimeError:
            out.append((k, "RuntimeError"))
            continue
        out.append((k, [_state(p) for p in pool]))
    try:
        tot = sum((p * (j + 1)).sum() for j, p in enumerate(pool) if p.requires_grad)
        if not isinstance(tot, int):
            tot.backward()
        grads = [v.grad if v.is_leaf else None for v in (x, w)]  # (x may have joined the graph)
        out.append([None if g is None else np.round(g.numpy(), 6).tolist() for g in grads])
    except RuntimeError:
        out.append("backward: RuntimeError")
    return out


def test_random_view_and_inplace_programs_match_torch():
    torch = _torch()
    for seed in range(150):
        assert _program(ember, seed) == _program(torch, seed), seed


def _written_before_requires_grad(L, make):
    """A view made, its memory written, then the base's requires_grad_(): torch rebuilds the
    view's grad_fn (AsStridedBackward0) at its use, or refuses it (made under no_grad / by
    split / unbind)."""
    x = L.zeros(3, 4, dtype=L.float64)
    v = {"grad": lambda: x[1], "no_grad": lambda: _no_grad_view(L, x),
         "split": lambda: x.split(1)[1]}[make]()  # fmt: skip
    x.add_(1)
    x.requires_grad_()
    try:
        seen = (v.requires_grad, v.is_leaf, None if v.grad_fn is None else v.grad_fn.name())
        (v * L.arange(4.0, dtype=L.float64)).sum().backward()
    except RuntimeError as e:
        return str(e).split(".")[0]
    return seen, x.grad.tolist()


@pytest.mark.parametrize("make", ["grad", "no_grad", "split"])
def test_view_written_before_base_requires_grad_as_torch(make):
    torch = _torch()
    got = _written_before_requires_grad(ember, make)
    assert got == _written_before_requires_grad(torch, make)
    if make == "grad":
        assert got[0] == (True, False, "AsStridedBackward0")


def test_normalize_node_name_as_torch():
    # (its saved-tensor count stays 3, torch's 5: one fused node saving x, the norm and the
    # output, where torch's norm, clamp_min and div save 2 + 1 + 2)
    torch = _torch()
    names = [
        L.nn.functional.normalize(L.ones(2, 3, requires_grad=True)).grad_fn.name()
        for L in (ember, torch)
    ]
    assert names == ["DivBackward0", "DivBackward0"]
