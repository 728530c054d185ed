"""Autograd, view and stride behaviour matched to PyTorch 2.13: the refusal of a node whose
saved output (taken through a view) was written since, the in-place leaky_relu_ / elu_
refusals with a negative slope, _base of inference tensors' views, the addmm family's node
names, elementwise strides in the graph and through the broadcasting kernel, x[False] = v."""

import itertools

import numpy as np
import pytest

import ember

MODIFIED = "modified by an inplace operation"


def _torch():
    return pytest.importorskip("torch")


def _outcome(fn, L):
    """fn(L)'s value, or ("RuntimeError", its first words)."""
    try:
        return fn(L)
    except RuntimeError as e:
        return ("RuntimeError", str(e)[:60])


# ---- 1. a view's saved output shares its base's version counter ------------------------------


def _h(L):
    x = L.ones(3, 6, dtype=L.float64, requires_grad=True)
    return x, x * 1


def _no_grad_write(L, h, fn):
    with L.no_grad():
        fn(h)


SAVED_THROUGH_VIEW = {
    "relu_ then the base written": lambda L, h: (h[:, :4].relu_(), h.mul_(2)),
    "sigmoid_ then the base written": lambda L, h: (h[:, :4].sigmoid_(), h.mul_(2)),
    "exp_ then another row written": lambda L, h: (h[0].exp_(), h[1].mul_(2)),
    "relu_ then a view not overlapping": lambda L, h: (h[:, :4].relu_(), h[:, 4:].mul_(2)),
    "relu_ then an overlapping view": lambda L, h: (h[:, :4].relu_(), h[:, 2:].mul_(2)),
    "a view of a view": lambda L, h: (h[:, :4][1:].relu_(), h.mul_(2)),
    "a view of a view, then its sibling": lambda L, h: (
        (v := h[:, :4])[1:].relu_(),
        v[0].mul_(2),
    ),
    "relu_ then a no_grad write": lambda L, h: (
        h[:, :4].relu_(),
        _no_grad_write(L, h, lambda t: t.mul_(2)),
    ),
    "relu_ then a no_grad write elsewhere": lambda L, h: (
        h[:, :4].relu_(),
        _no_grad_write(L, h, lambda t: t[:, 5].zero_()),
    ),
    "relu_ then an index assignment": lambda L, h: (h[:, :4].relu_(), h.__setitem__((2, 5), 7.0)),
    "relu_ alone": lambda L, h: (h[:, :4].relu_(),),
    "relu_ of the whole, then a view written": lambda L, h: (h.relu_(), h[0].mul_(2)),
}


@pytest.mark.parametrize("case", list(SAVED_THROUGH_VIEW))
def test_a_write_after_an_in_place_op_through_a_view_refuses_as_torch(case):
    torch = _torch()

    def run(L):
        x, h = _h(L)
        SAVED_THROUGH_VIEW[case](L, h)
        h.sum().backward()
        return x.grad.numpy().tolist()

    got, want = _outcome(run, ember), _outcome(run, torch)
    assert got == want  # (a refusal: "one of the variables needed for gradient computation")


def test_a_view_consumer_after_relu_through_the_view_refuses():
    x, h = _h(ember)
    v = h[:, :4]
    v.relu_()
    y = v * 3
    h.mul_(2)  # torch: relu's saved output (v) shares h's version counter
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()
    x, h = _h(ember)
    h[:, :4].relu_()
    h.sum().backward()  # no later write: computes
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 6)))


# ---- 2. in-place leaky_relu_ / elu_ with a negative slope -------------------------------------

LEAKY = "In-place leakyReLu backward calculation is triggered with a negative slope"
ELU = "In-place elu backward calculation is triggered with a negative slope"

IN_PLACE = {
    "F.leaky_relu_(-0.3)": (lambda L, h: L.nn.functional.leaky_relu_(h, -0.3), LEAKY),
    "F.leaky_relu(inplace, -0.3)": (
        lambda L, h: L.nn.functional.leaky_relu(h, -0.3, inplace=True),
        LEAKY,
    ),
    "nn.LeakyReLU(-0.3, inplace)": (lambda L, h: L.nn.LeakyReLU(-0.3, inplace=True)(h), LEAKY),
    "leaky_relu_ of a view": (lambda L, h: L.nn.functional.leaky_relu_(h[:1], -0.3), LEAKY),
    "rrelu eval, negative": (
        lambda L, h: L.nn.functional.rrelu(h, -0.5, -0.1, training=False, inplace=True),
        LEAKY,
    ),
    "F.elu_(-0.5)": (lambda L, h: L.nn.functional.elu_(h, -0.5), ELU),
    "nn.ELU(-0.5, inplace)": (lambda L, h: L.nn.ELU(-0.5, inplace=True)(h), ELU),
    "F.celu(inplace, -0.5)": (lambda L, h: L.nn.functional.celu(h, -0.5, inplace=True), ELU),
    "leaky_relu_(0.0)": (lambda L, h: L.nn.functional.leaky_relu_(h, 0.0), None),
    "leaky_relu_(0.2)": (lambda L, h: L.nn.functional.leaky_relu_(h, 0.2), None),
    "elu_(0.0)": (lambda L, h: L.nn.functional.elu_(h, 0.0), None),
    "elu_(1.0)": (lambda L, h: L.nn.functional.elu_(h, 1.0), None),
}


def _in_place_run(L, op):
    x = L.tensor([-1.0, 2.0], dtype=L.float64, requires_grad=True)
    h = x * 1
    op(L, h)
    out = h.detach().numpy().tolist()  # (the forward computes, as torch's)
    h.sum().backward()
    return out, x.grad.numpy().tolist()


@pytest.mark.parametrize("case", list(IN_PLACE))
def test_in_place_negative_slope_refuses_backward(case):
    op, words = IN_PLACE[case]
    if words is None:
        _in_place_run(ember, op)
    else:
        with pytest.raises(RuntimeError, match=words):
            _in_place_run(ember, op)


@pytest.mark.parametrize("case", list(IN_PLACE))
def test_in_place_negative_slope_matches_torch(case):
    torch = _torch()
    op = IN_PLACE[case][0]
    got, want = (
        _outcome(lambda L: _in_place_run(L, op), ember),
        _outcome(lambda L: _in_place_run(L, op), torch),
    )
    if isinstance(want, tuple):
        assert got == want
    else:
        np.testing.assert_allclose(np.array(got[1]), np.array(want[1]), rtol=1e-12)
        np.testing.assert_allclose(np.array(got[0]), np.array(want[0]), rtol=1e-12)


def test_in_place_negative_slope_outside_the_graph_computes():
    x = ember.tensor([-1.0, 2.0], dtype=ember.float64)
    ember.nn.functional.leaky_relu(x, -0.1, inplace=True)
    np.testing.assert_allclose(x.numpy(), [0.1, 2.0])
    # and the out-of-place form differentiates
    w = ember.tensor([-1.0, 2.0], dtype=ember.float64, requires_grad=True)
    ember.nn.functional.leaky_relu(w * 1, -0.3).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), [-0.3, 1.0])


# ---- 3. _base of views made under inference_mode ----------------------------------------------


def test_base_under_inference_mode_as_torch():
    torch = _torch()

    def run(L):
        x = L.ones(3, 4)
        with L.inference_mode():
            v = x[0]  # a normal tensor's view: its base
            y = L.ones(3, 4)
            w, ww = y[0], y[0][1:]  # an inference tensor's views: none
        return v._base is x, w._base is None, ww._base is None, y._base is None

    assert run(ember) == run(torch) == (True, True, True, True)


# ---- 4. the addmm family's node names ----------------------------------------------------------

SHAPES = {
    "addmm": ((3, 4), (3, 2), (2, 4)),
    "addmv": ((3,), (3, 2), (2,)),
    "addbmm": ((3, 4), (5, 3, 2), (5, 2, 4)),
    "baddbmm": ((5, 3, 4), (5, 3, 2), (5, 2, 4)),
    "addr": ((3, 4), (3,), (4,)),
}
NAMES = {
    "addmm": "AddmmBackward0",
    "addmv": "AddmvBackward0",
    "addbmm": "AddbmmBackward0",
    "baddbmm": "BaddbmmBackward0",
    "addr": "AddrBackward0",
}


@pytest.mark.parametrize("op", list(SHAPES))
def test_addmm_family_node_names(op):
    for needs, (beta, alpha) in itertools.product(
        [(1, 1, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1)], [(1, 1), (0.5, 2), (0, 1), (1, 0)]
    ):
        args = [
            ember.ones(*s, dtype=ember.float64, requires_grad=bool(r))
            for s, r in zip(SHAPES[op], needs)
        ]
        out = getattr(ember, op)(*args, beta=beta, alpha=alpha)
        assert out.grad_fn.name() == NAMES[op], (needs, beta, alpha)
        out.sum().backward()  # (the gradients are those of the composition: test_linalg)


def test_addmm_family_node_names_match_torch():
    torch = _torch()
    for op, shapes in SHAPES.items():
        for L in (ember, torch):
            args = [L.ones(*s, dtype=L.float64, requires_grad=True) for s in shapes]
            assert getattr(L, op)(*args, beta=0.5, alpha=2).grad_fn.name() == NAMES[op]


# ---- 5. strides --------------------------------------------------------------------------------


@pytest.mark.parametrize("requires_grad", [False, True])
def test_transposed_column_by_a_number_keeps_its_strides_in_the_graph(requires_grad):
    x = ember.tensor(np.arange(3.0).reshape(3, 1), requires_grad=requires_grad).t()
    assert x.stride() == (1, 1)
    assert (x * 2).stride() == (1, 1) and (x + 1).stride() == (1, 1)
    assert (x * x).stride() == (3, 1)  # same shapes, all C-contiguous: C order


def _grid(L, requires_grad):
    """(x.permute(...) + y) and (y * x) strides over permuted inputs with size-1 dims and
    broadcast partners (the last two: the kernel's broadcast row or column path)."""
    out = []
    for shp in [(3, 1), (1, 3), (2, 1, 3), (3, 4, 1), (2, 3, 1, 4)]:
        base = np.arange(float(np.prod(shp))).reshape(shp)
        for perm in itertools.permutations(range(len(shp))):
            pshape = tuple(shp[p] for p in perm)
            others = {pshape[1:], (pshape[-1],), (1,) * len(pshape)}
            others |= {pshape[:k] + (1,) + pshape[k + 1 :] for k in range(len(pshape))}
            x = L.tensor(base, requires_grad=requires_grad).permute(*perm)
            for o in sorted(others):
                y = L.tensor(np.arange(1.0, 1 + np.prod(o)).reshape(o))
                out.append(((x + y).stride(), (y * x).stride()))
    return out


@pytest.mark.parametrize("requires_grad", [False, True])
def test_broadcast_strides_of_size1_views_match_torch(requires_grad):
    torch = _torch()
    assert _grid(ember, requires_grad) == _grid(torch, requires_grad)


def test_broadcast_row_over_a_permuted_size1_view_hard_coded():
    x = ember.tensor(np.arange(24.0).reshape(2, 3, 1, 4)).permute(0, 1, 3, 2)
    assert x.stride() == (12, 4, 1, 4)
    y = x + ember.tensor(np.ones((3, 4, 1)))
    assert y.stride() == (12, 4, 1, 4)
    np.testing.assert_array_equal(y.numpy(), x.numpy() + 1)


# ---- 6. x[False] = v ---------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["leaf copy", "w * 1", "clone"])
def test_setitem_false_writes_and_records_nothing(kind):
    w = ember.ones(2, 3, dtype=ember.float64, requires_grad=True)
    v = ember.full((5,), 2.0, dtype=ember.float64, requires_grad=True)  # (no broadcast check)
    x = {"leaf copy": ember.zeros(2, 3, dtype=ember.float64), "w * 1": w * 1, "clone": w.clone()}[
        kind
    ]
    name = x.grad_fn.name() if x.grad_fn is not None else None
    before = x._version
    x[False] = v
    assert x._version == before
    assert (x.grad_fn.name() if x.grad_fn is not None else None) == name
    if kind == "leaf copy":
        assert not x.requires_grad
        return
    (x * 3).sum().backward()
    assert v.grad is None
    np.testing.assert_array_equal(w.grad.numpy(), np.full((2, 3), 3.0))


def test_setitem_false_variants_match_torch():
    torch = _torch()

    def run(L, kind, key, vshape):
        w = L.ones(2, 3, dtype=L.float64, requires_grad=True)
        v = L.full(vshape, 2.0, dtype=L.float64, requires_grad=True)
        x = L.zeros(2, 3, dtype=L.float64) if kind == 0 else (w * 1 if kind == 1 else w.clone())
        x[key] = v
        if not x.requires_grad:
            return x.numpy().tolist(), None
        (x * 3).sum().backward()
        grads = [None if t.grad is None else t.grad.numpy().tolist() for t in (v, w)]
        return x.detach().numpy().tolist(), grads, x.grad_fn.name()

    for kind, key, vshape in itertools.product(
        range(3), [False, (Ellipsis, False), (0, False), (False, 0), True, None], [(), (1,), (3,)]
    ):
        case = lambda L, a=(kind, key, vshape): run(L, *a)  # noqa: E731
        got, want = _outcome(case, ember), _outcome(case, torch)
        # (a value that does not broadcast: torch's RuntimeError, its message differs)
        assert type(got) is type(want), (kind, key, vshape, got, want)
        if not isinstance(want, tuple) or want[0] != "RuntimeError":
            assert got == want, (kind, key, vshape)


def _index_strides(L):
    x = L.tensor(np.arange(60.0).reshape(3, 4, 5))
    i, j = L.tensor([0, 2]), L.tensor([1, 3])
    keys = [
        lambda: x[..., i], lambda: x[:, i, j], lambda: x[None, i], lambda: x[1:, j],
        lambda: x.transpose(0, 2)[:, i], lambda: x[:, i[:, None], j], lambda: x[i, :, j],
        lambda: x[i], lambda: x[:, i], lambda: x[x.sum((1, 2)) > 500],
    ]  # fmt: skip
    return [(tuple(f().shape), f().stride(), f().numpy().tolist()) for f in keys]


def test_advanced_index_strides_match_torch():
    torch = _torch()
    assert _index_strides(ember) == _index_strides(torch)


def test_advanced_index_strides_hard_coded():
    x = ember.tensor(np.arange(60.0).reshape(3, 4, 5))
    i = ember.tensor([0, 2])
    assert x[..., i].stride() == (8, 2, 1)  # (NumPy's own layout: (4, 1, 12))
    assert x.transpose(0, 2)[:, i].stride() == (1, 5, 10)  # (x's dim order, as torch)
    np.testing.assert_array_equal(x[..., i].numpy(), x.numpy()[..., [0, 2]])
