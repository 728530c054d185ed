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


@pytest.fixture(autouse=True)
def _counting():
    # ember counts writes from the first recorded node or _version read on (pure inference
    # pays nothing before): read one, as a process that compares counters has
    ember.zeros(1)._version  # noqa: B018


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
