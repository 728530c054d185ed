"""Writes into multi-output views (split, chunk, unbind), views made under no_grad written with
a graph value, a plain tensor joining the graph through its view, torch's node names, movedim
on a 0-d tensor: PyTorch 2.13's behaviour, run side by side with torch."""

import numpy as np
import pytest

import ember

MULTI = "This view is the output of a function that returns multiple views"
NO_GRAD_VIEW = "A view was created in no_grad mode and is being modified inplace"
INDIRECT = "its base or another view of its base has been modified inplace"


def _torch():
    return pytest.importorskip("torch")


def _both():
    return (_torch(), ember)


def _run(lib, fn):
    """fn(lib) -> (the RuntimeError's message or None, the result)."""
    try:
        return None, fn(lib)
    except RuntimeError as e:
        return str(e), None


# ---- in-place writes into the outputs of multi-output view ops --------------------------------

_MULTI_WRITES = {
    "split, mul_": lambda L, y: y.split(2)[0].mul_(2),
    "chunk, add_": lambda L, y: y.chunk(2)[1].add_(1),
    "unbind, zero_": lambda L, y: y.unbind()[0].zero_(),
    "split sizes, copy_": lambda L, y: y.split([1, 3])[0].copy_(L.zeros(1, 3, dtype=L.float64)),
    "split, index assignment": lambda L, y: y.split(2)[0].__setitem__(0, 5.0),
    "torch.split, sigmoid_": lambda L, y: L.split(y, 2)[0].sigmoid_(),
    "a view of a chunk": lambda L, y: y.chunk(2)[0].view(-1).mul_(2),
    "a select of a split": lambda L, y: y.split(2)[0][0].mul_(2),
    "split, t_": lambda L, y: y.split(2)[0].t_(),
    "chunk along dim 1, clamp_": lambda L, y: y.chunk(3, 1)[2].clamp_(0, 1),
}


@pytest.mark.parametrize("case", list(_MULTI_WRITES))
@pytest.mark.parametrize("base", ["graph", "leaf"])
def test_in_place_write_into_a_multi_output_view_is_refused(case, base):
    # torch: "Output 0 of Split is a view and is being modified inplace. This view is the
    # output of a function that returns multiple views..." (before the leaf's own refusal)
    got = []
    for L in _both():
        x = L.ones(4, 3, dtype=L.float64, requires_grad=True)
        y = x * 1 if base == "graph" else x
        msg, _ = _run(L, lambda L, y=y: _MULTI_WRITES[case](L, y))
        assert msg is not None and MULTI in msg, (L.__name__, msg)
        got.append(msg.split(" is ")[0])
    if "assignment" not in case:  # (torch names the indexed view there, ember the piece)
        assert got[0] == got[1]  # ("Output 1 of Split", "Output 0 of SplitWithSizes", ...)


@pytest.mark.parametrize("case", list(_MULTI_WRITES))
def test_multi_output_views_are_written_freely_outside_the_graph(case):
    torch = _torch()
    vals = []
    for L in (torch, ember):
        y = L.arange(12.0, dtype=L.float64).reshape(4, 3)
        _MULTI_WRITES[case](L, y)  # nothing requires grad
        x = L.arange(12.0, dtype=L.float64).reshape(4, 3).requires_grad_()
        with L.no_grad():  # torch allows the write under no_grad
            _MULTI_WRITES[case](L, x)
        vals.append((y.numpy().copy(), x.detach().numpy().copy()))
    np.testing.assert_array_equal(vals[0][0], vals[1][0])
    np.testing.assert_array_equal(vals[0][1], vals[1][1])


def test_multi_output_views_of_a_plain_tensor_refuse_a_graph_value():
    for L in _both():
        w = L.ones(3, dtype=L.float64, requires_grad=True)
        a, _ = L.ones(4, 3, dtype=L.float64).split(2)
        with pytest.raises(RuntimeError, match=NO_GRAD_VIEW + ".*" + MULTI):
            a.add_(w)
        with pytest.raises(RuntimeError, match=NO_GRAD_VIEW + ".*" + MULTI):
            a[0] = w
        b = L.ones(4, 3, dtype=L.float64).unbind()[1]
        b.requires_grad_()
        with pytest.raises(RuntimeError, match=NO_GRAD_VIEW + ".*" + MULTI):
            b.mul_(2)
        a.add_(1)  # (no graph value: allowed)


@pytest.mark.parametrize("write", ["base", "sibling under no_grad", "detached sibling"])
@pytest.mark.parametrize("use", ["op", "grad_fn", "is_leaf", "a view of it"])
def test_a_multi_output_view_whose_memory_was_written_refuses_use(write, use):
    for L in _both():
        x = L.ones(4, 3, dtype=L.float64, requires_grad=True)
        y = x * 1
        a, b = y.split(2)
        c = b[0]
        if write == "base":
            y.mul_(2)
        elif write == "sibling under no_grad":
            with L.no_grad():
                a.mul_(2)
        else:
            a.detach().mul_(2)
        assert b.requires_grad  # (reading requires_grad is fine)
        use_it = {
            "op": lambda b=b: b * 1,
            "grad_fn": lambda b=b: b.grad_fn,
            "is_leaf": lambda b=b: b.is_leaf,
            "a view of it": lambda c=c: c * 1,
        }[use]
        what = "Output 0 of Select" if use == "a view of it" else "Output 1 of Split"
        with pytest.raises(RuntimeError, match=what + " is a view and " + INDIRECT):
            use_it()


def test_a_multi_output_view_used_before_the_write_still_differentiates():
    grads = []
    for L in _both():
        x = L.arange(12.0, dtype=L.float64).reshape(4, 3).requires_grad_()
        y = x * 1
        a, _ = y.split(2)
        z = a * 3  # (a used before y's write: its graph is the one made then)
        y.mul_(2)
        (z.sum() + y.sum()).backward()
        grads.append(x.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_unsafe_split_pieces_are_not_views_for_autograd():
    res = []
    for L in _both():
        x = L.ones(4, 3, dtype=L.float64, requires_grad=True)
        y = x * 1
        a, _ = y.unsafe_chunk(2)
        assert a.grad_fn.name() == "UnsafeSplitBackward0"
        a.mul_(2)  # allowed, and y's graph does not see it (torch's "unsafe")
        y.sum().backward()
        res.append((a.grad_fn.name(), y.grad_fn.name(), x.grad.numpy()))
        assert L.unsafe_split_with_sizes(x * 1, [1, 3])[0].grad_fn.name() == (
            "UnsafeSplitWithSizesBackward0"
        )
    assert res[0][:2] == res[1][:2]
    np.testing.assert_array_equal(res[0][2], res[1][2])
    for L in _both():
        x = L.ones(4, 3, dtype=L.float64, requires_grad=True)
        with L.no_grad():
            piece = x.unsafe_split(2)[0]
        assert not piece.requires_grad and piece.is_leaf


# ---- views made outside the graph, written with a value that requires grad ---------------------


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
def test_a_view_made_in_a_no_grad_block_refuses_a_graph_value(mode):
    for L in _both():
        x = L.ones(4, 3, dtype=L.float64)
        w = L.ones(3, dtype=L.float64, requires_grad=True)
        with getattr(L, mode)():
            v = x[0]
        u = v[1:]  # (a view of it carries the mark on)
        words = "no_grad mode" if mode == "no_grad" else "inference mode"
        with pytest.raises(RuntimeError, match="A view was created in " + words):
            v.add_(w)
        with pytest.raises(RuntimeError, match="A view was created in " + words):
            u.add_(w[1:])
        v.add_(1)  # (no graph value: allowed)
        with getattr(L, mode)():
            v.add_(w)  # (inside the block: allowed, not recorded)
        assert not x.requires_grad


@pytest.mark.parametrize(
    "write",
    [
        lambda v, w: v.add_(w),
        lambda v, w: v.copy_(w * 3),
        lambda v, w: v.__setitem__(1, w[0]),
        lambda v, w: v.mul_(w),
    ],
)
def test_a_plain_tensor_joins_the_graph_through_its_written_view(write):
    res = []
    for L in _both():
        x = L.tensor(np.arange(12.0).reshape(4, 3))  # (x owns its memory: the view's base)
        w = L.tensor([1.0, 2.0, 3.0], dtype=L.float64, requires_grad=True)
        v = x[1]
        write(v, w)
        assert x.requires_grad and not x.is_leaf and v.requires_grad
        (x * x).sum().backward()
        res.append((x.detach().numpy().copy(), w.grad.numpy(), x.grad_fn.name(),
                    v.grad_fn.name()))  # fmt: skip
    np.testing.assert_allclose(res[1][0], res[0][0])
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12)
    assert res[1][2:] == res[0][2:] == ("torch::autograd::CopySlices", "AsStridedBackward0")


# ---- torch's node names ------------------------------------------------------------------------

_NAMED = [
    "x.unsqueeze(0)", "x.squeeze()", "x.squeeze(0)", "x.squeeze((0, 1))", "x[0].t()",
    "x.flatten().t()", "x.transpose(0, 1)", "x.swapaxes(0, 2)", "x.mT", "x[0].H", "x[0].T",
    "x.permute(2, 0, 1)", "x.movedim(0, 1)", "x.view(-1)", "x.reshape(4, 3)", "x.split(2, 2)[0]",
    "x.split([1, 3], 2)[0]", "x.chunk(2, 2)[1]", "x.unbind(2)[0]", "x.repeat(2, 1, 1)",
    "x.max()", "x.min()", "x.median()", "x.max(2)[0]", "x.min(2)[0]", "x.amax(2)", "x.amin(0)",
    "x.cumprod(2)", "x.logcumsumexp(2)", "x.std()", "x.var(2)", "x.norm()", "x.sin()",
    "x.log1p()", "x.square()", "x.rsqrt()", "x.erf()", "x.exp2()", "x.nan_to_num()",
    "x.logit()", "x[0][0] @ x[0][0]", "x[0] @ x[0][0]", "x[0] @ x[0].t()", "x @ x.mT",
    "F.linear(x, x[0])", "F.linear(x[0], x[0], x[0][0][:1])", "F.linear(x, x[0], x[0][0][:1])",
    "F.mse_loss(x, x.detach())", "F.smooth_l1_loss(x, x.detach())", "F.l1_loss(x, x.detach())",
    "F.huber_loss(x, x.detach())", "F.logsigmoid(x)", "F.glu(x)", "F.pad(x, (1, 1))",
    "F.group_norm(x[None], 1)", "F.binary_cross_entropy_with_logits(x, x.detach().sigmoid())",
    "F.selu(x)", "F.celu(x)", "F.softsign(x)", "F.softshrink(x)", "F.hardshrink(x)",
    "F.threshold(x, 1.0, 0.0)",
    "1 - x", "L.rsub(x, 2.0)", "L.rsub(x, x * 2)", "x.sum(0)", "x[0][0].sum(0)",
    "x[0][0].mean(0)", "x.mean((0, 1, 2))", "x.narrow(1, 0, 1)", "x.masked_fill(x > 2, 0.0)",
    "x.masked_fill(x > 2, L.tensor(0.0, dtype=L.float64))", "x[0].triu()", "x[0].tril(1)",
    "x.index_fill(2, L.tensor([0]), 1.5)", "x.index_copy(2, L.tensor([0]), x[..., :1])",
    "x.index_add(2, L.tensor([0]), x[..., :1])", "x.scatter(2, L.zeros(3, 1, 1).long(), 1.0)",
    "x.scatter(2, L.zeros(3, 1, 1).long(), x)", "x.scatter_add(2, L.zeros(3, 1, 1).long(), x)",
    "x.masked_scatter(x > 2, x * 2)",
]  # fmt: skip


@pytest.mark.parametrize("expr", _NAMED)
def test_node_names_are_torchs(expr):
    names = []
    for L in _both():
        x = L.arange(1.0, 13.0, dtype=L.float64).reshape(3, 1, 4).requires_grad_()
        node = eval(expr, {"x": x, "L": L, "F": L.nn.functional})
        names.append(node.grad_fn.name())
    assert names[1] == names[0]


_IN_PLACE_NAMED = [
    "y[...] = 0.5", "y[:] = 0.5", "y[0] = 0.5", "y[0] = w", "y[...] = w", "y[y > 1] = 0.0",
    "y[[0, 1]] = 0.0", "y[:, 1:] = 2.0", "y.fill_(1.0)", "y.fill_(w.sum())", "y.zero_()",
    "y.copy_(w)", "y.masked_fill_(y > 1, 0.0)", "y.masked_fill_(y > 1, w.sum())", "y.normal_()",
    "y.uniform_()", "y.index_fill_(0, L.tensor([0]), 1.5)", "y.clamp_(0, 1)",
]  # fmt: skip


@pytest.mark.parametrize("stmt", _IN_PLACE_NAMED)
def test_in_place_nodes_are_named_as_torchs(stmt):
    names = []
    for L in _both():
        y = L.ones(3, 4, dtype=L.float64, requires_grad=True) * 1
        w = L.ones(4, dtype=L.float64, requires_grad=True)
        exec(stmt, {"L": L, "y": y, "w": w})
        names.append(y.grad_fn.name())
    assert names[1] == names[0]


def test_a_node_keeps_its_name_after_backward():
    x = ember.ones(3, 4, requires_grad=True)
    y = x @ x[0]
    assert y.grad_fn.name() == "MvBackward0"
    y.sum().backward()
    assert y.grad_fn.name() == "MvBackward0"


def test_unbind_is_one_node():
    x = ember.arange(6.0, dtype=ember.float64).reshape(2, 3).requires_grad_()
    parts = x.unbind(1)
    assert len({id(p.grad_fn) for p in parts}) == 1
    (parts[0] * 2 + parts[2]).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[2, 0, 1], [2, 0, 1]])
    assert ember.autograd.gradcheck(lambda t: t.unbind(0)[1] * t.unbind(1)[0][1], (x,))
    assert ember.ones(0, 3).unbind() == ()


# ---- movedim -----------------------------------------------------------------------------------


@pytest.mark.parametrize("src, dst", [(0, 1), (1, 0), (-2, 0), ((0,), (1,))])
def test_movedim_of_a_0d_tensor_checks_its_dims(src, dst):
    for L in _both():
        with pytest.raises(IndexError):
            L.tensor(1.0).movedim(src, dst)
    for L in _both():
        assert L.tensor(2.0).movedim(-1, 0).item() == 2.0


def test_movedim_takes_two_ints_or_two_sequences():
    for L in _both():
        with pytest.raises(TypeError):
            L.ones(2, 3).movedim(0, (1,))


# ---- result strides ----------------------------------------------------------------------------

_PERMS = [((2, 3), (1, 0)), ((2, 3, 4), (2, 0, 1)), ((2, 3, 4), (0, 2, 1)), ((2, 1, 3), (1, 2, 0))]


@pytest.mark.parametrize("op", ["relu", "sigmoid", "tanh", "exp", "sqrt", "log", "logsigmoid"])
@pytest.mark.parametrize("requires_grad", [False, True])
def test_unary_results_of_a_permuted_input_keep_torchs_strides(op, requires_grad):
    # torch's elementwise ops keep a dense input's layout (x.t().relu() is column-major), in
    # the graph too; log_sigmoid_forward's result is C order
    for shape, perm in _PERMS:
        base = np.random.default_rng(0).uniform(0.5, 2.0, shape)
        got = []
        for L in _both():
            x = L.tensor(base, requires_grad=requires_grad).permute(*perm)
            fn = getattr(L.nn.functional, op) if op == "logsigmoid" else getattr(x.__class__, op)
            y = fn(x)
            got.append((tuple(y.stride()), y.detach().numpy()))
        assert got[1][0] == got[0][0], (shape, perm)
        np.testing.assert_allclose(got[1][1], got[0][1], rtol=1e-12)


def test_activation_methods_of_graph_slices_and_chunks_keep_torchs_strides():
    # (a chunk or a row/column slice gives C order in torch too; a transposed one keeps its)
    got = []
    for L in _both():
        g = L.ones(8, 12, dtype=L.float64, requires_grad=True) * 1
        views = (*g.chunk(4, 1), g[:, 1:], g[1:], g.t()[1:], g.unsqueeze(0).transpose(0, 2))
        got.append([tuple(getattr(v, op)().stride()) for v in views for op in ("sigmoid", "exp")])
    assert got[1] == got[0]


@pytest.mark.parametrize(
    "make", [lambda L, x: x.clone(), lambda L, x: L.empty_like(x), lambda L, x: L.zeros_like(x)]
)
def test_copies_keep_the_strides_of_size_1_dims(make):
    # (3, 1).t() has strides (1, 1), a fresh (1, 3) tensor (3, 1): torch's preserve_format
    # copy keeps the input's own, NumPy's C flag passes over size-1 dims
    for shape, perm in [((3, 1), (1, 0)), ((2, 1, 3), (0, 2, 1)), ((1, 3, 4), (0, 2, 1))]:
        got = []
        for L in _both():
            x = L.ones(*shape, dtype=L.float64).permute(*perm)
            got.append(tuple(make(L, x).stride()))
        assert got[1] == got[0], (shape, perm)
    y = ember.ones(3, 1).t().clone()
    y.add_(1)  # (a strided copy is an ordinary tensor)
    np.testing.assert_array_equal(y.numpy(), [[2.0, 2.0, 2.0]])


# ---- found by random programs against torch ----------------------------------------------------


def test_unbind_of_a_1d_tensor_gives_views():
    # (NumPy's a[i] of a 1-d array is a scalar, not a view: unbind's 0-d pieces must be views)
    for L in _both():
        x = L.ones(4, dtype=L.float64)
        x.unbind()[1].mul_(3)
        assert x.tolist() == [1.0, 3.0, 1.0, 1.0]
        w = L.ones(4, dtype=L.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match=MULTI):
            w.unbind()[0].mul_(2)


def test_detach_in_place_after_an_index_assignment():
    # (the assignment's node takes x's own array as its base: x is not a view)
    for L in _both():
        x = L.ones(4, dtype=L.float64, requires_grad=True)
        y = x.pow(2)
        y[...] = 0.5
        assert y.detach_() is y and not y.requires_grad
        z = (x * 1).unsafe_chunk(2)[0]
        z.detach_()  # (unsafe_chunk's pieces are not views for autograd)


def test_detach_in_inference_mode_leaves_a_normal_tensor_normal():
    for L in _both():
        x = L.ones(3, dtype=L.float64)
        with L.inference_mode():
            x.add_(x.detach())
        v = x.t()
        assert not v.is_inference() and not x.is_inference()
        v.add_(1)  # (a normal tensor: writable outside the mode)


@pytest.mark.parametrize(
    "join",
    [
        lambda L, x, w: x.mul_(w.mean()),  # x itself
        lambda L, x, w: x.squeeze().copy_(w.mean().expand(4)),  # through a view of x
        lambda L, x, w: x.__setitem__(0, w.sum()),  # by an index assignment
    ],
)
def test_views_of_a_plain_tensor_follow_it_into_the_graph(join):
    # torch: a view regenerates its grad_fn from its base, so once x joins the graph through
    # an in-place write, x's views made before carry gradient to w; a view made under
    # no_grad then requires grad and refuses to be used
    res = []
    for L in _both():
        x = L.tensor(np.arange(1.0, 5.0).reshape(4, 1))
        w = L.tensor([2.0], dtype=L.float64, requires_grad=True)
        v = x[1:]
        with L.no_grad():
            u = x.view(-1)
        join(L, x, w)
        assert v.requires_grad and not v.is_leaf and u.requires_grad
        with pytest.raises(RuntimeError, match="created in no_grad mode and its base"):
            u * 1
        (v * v).sum().backward()
        res.append((v.detach().numpy().copy(), w.grad.numpy().copy()))
    np.testing.assert_allclose(res[1][0], res[0][0])
    np.testing.assert_allclose(res[1][1], res[0][1], rtol=1e-12)


# ---- custom autograd.Functions -----------------------------------------------------------------


def _functions(L):
    class Ident(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    class ViewOut(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.view(-1)

        @staticmethod
        def backward(ctx, g):
            return g.reshape(2, 3)

    class Dirty(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class NonTensor(L.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2, 7, "s"

        @staticmethod
        def backward(ctx, g, *rest):
            return g * 2

    return Ident, ViewOut, Dirty, NonTensor


CUSTOM = "This view was created inside a custom Function"


def test_a_custom_functions_view_of_an_input_refuses_in_place_writes():
    # torch: the view + in-place logic would override the custom backward (wrong gradients)
    for L in _both():
        Ident, ViewOut, _, _ = _functions(L)
        x = L.ones(2, 3, dtype=L.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="Output 0 of Ident is a view and is being " + "mod"):
            Ident.apply(x).mul_(2)
        with pytest.raises(RuntimeError, match=CUSTOM):
            ViewOut.apply(x * 1).add_(1)
        y = x * 1
        v = ViewOut.apply(y)
        y.mul_(2)
        with pytest.raises(RuntimeError, match="Output 0 of ViewOut is a view and " + INDIRECT):
            v * 1
        ViewOut.apply(L.ones(2, 3)).mul_(2)  # (outside the graph: allowed)
        (Ident.apply(x) * 1).sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 5.0))


def test_a_custom_function_may_return_objects_that_are_not_tensors():
    for L in _both():
        _, _, _, NonTensor = _functions(L)
        x = L.ones(2, 3, dtype=L.float64, requires_grad=True)
        y, n, s = NonTensor.apply(x)
        assert (n, s) == (7, "s") and y.grad_fn.name() == "NonTensorBackward"
        y.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), np.full((2, 3), 2.0))


@pytest.mark.parametrize("graph", [False, True])
def test_mark_dirty_returns_the_input_and_counts_the_write(graph):
    got = []
    for L in _both():
        _, _, Dirty, _ = _functions(L)
        x = L.ones(2, 3, dtype=L.float64, requires_grad=True)
        t = x * 1 if graph else L.ones(2, 3, dtype=L.float64)
        v0 = t._version
        out = Dirty.apply(t)
        assert out is t
        got.append((t._version - v0, t.requires_grad, t.detach().numpy().tolist()))
    assert got[0] == got[1]


def test_a_dirty_output_written_again_differentiates_as_itself():
    # (its node's input is its own old array: not a view to write through)
    grads = []
    for L in _both():
        _, _, Dirty, _ = _functions(L)
        x = L.tensor(np.arange(1.0, 7.0).reshape(2, 3), requires_grad=True)
        y = Dirty.apply(x.clone())
        y.mul_(2)
        assert y.grad_fn.name() == "MulBackward0"
        z = Dirty.apply(y)  # (the first Dirty node saved nothing: its backward still runs)
        (z * z).sum().backward()
        grads.append(x.grad.numpy().copy())
    np.testing.assert_allclose(grads[1], grads[0], rtol=1e-12)


def test_mark_dirty_under_no_grad_of_an_input_that_requires_grad():
    for L in _both():
        _, _, Dirty, _ = _functions(L)
        x = L.ones(2, 3, dtype=L.float64, requires_grad=True)
        with L.no_grad():
            y = Dirty.apply(x)
        assert y is not x and not y.requires_grad and x.requires_grad


def test_overwriting_fills_save_nothing_and_give_constant_zero_gradients():
    # (copy_/fill_ save no tensor, as torch's CopyBackwards: no saved_tensors_hooks pack; the
    # old values' gradient is a constant zero, so a second derivative through it is refused)
    for L in _both():
        packed = []
        x = L.ones(3, dtype=L.float64, requires_grad=True)
        w = L.ones(1, dtype=L.float64, requires_grad=True)
        y = x * 1
        with L.autograd.graph.saved_tensors_hooks(
            lambda t, p=packed: p.append(1) or t, lambda t: t
        ):
            y.copy_(w.expand(3) * 2)
        assert packed == []
        (g,) = L.autograd.grad((y * x).sum(), x, create_graph=True)
        np.testing.assert_array_equal(g.detach().numpy(), [2.0, 2.0, 2.0])
        z = x * 1
        z.fill_(2.0)
        (g0,) = L.autograd.grad((z * z).sum(), x, create_graph=True)
        assert not g0.requires_grad


def test_hooks_and_retain_grad_follow_a_tensor_written_in_place():
    # torch: hooks registered before the write stay with the old node, those registered after
    # go to the new one, and retain_grad moves (y.grad is the new y's gradient)
    res = []
    for L in _both():
        x = L.ones(3, dtype=L.float64, requires_grad=True)
        y = x * 2
        log = []
        y.register_hook(lambda g, log=log: log.append(("before", g.tolist())))
        y.retain_grad()
        y.mul_(3)
        y.register_hook(lambda g, log=log: log.append(("after", g.tolist())))
        (y * 5).sum().backward()
        z = x * 2
        z.retain_grad()
        z[0] = 7.0
        (z * 5).sum().backward()
        res.append((sorted(log), y.grad.tolist(), z.grad.tolist(), x.grad.tolist()))
    assert res[1] == res[0]


def test_an_empty_view_is_a_view():
    # (NumPy says an empty slice shares no memory; torch's x[1:] of one row is still a view)
    for L in _both():
        x = L.ones(1, 3, dtype=L.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="a view of a leaf Variable"):
            x[1:].mul_(2)
        with pytest.raises(RuntimeError, match="Can't detach views in-place"):
            (x * 1)[1:].detach_()


def test_fill_and_zero_write_an_expanded_tensors_memory():
    for L in _both():
        x = L.ones(3, 1, dtype=L.float64)
        x.expand(2, 3, 1).zero_()
        assert x.tolist() == [[0.0], [0.0], [0.0]]
        x.expand(3, 4)[:, 1:].fill_(2.0)
        assert x.tolist() == [[2.0], [2.0], [2.0]]
        with pytest.raises(RuntimeError, match="single memory location"):
            x.expand(2, 3, 1).add_(1)
