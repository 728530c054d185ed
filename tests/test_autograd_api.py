"""torch.autograd's graph API: grad_fn as Node objects (name, next_functions, metadata, node
hooks), saved-tensor hooks, forward-mode AD and Function extras, each against torch."""

import warnings

import numpy as np
import pytest

import ember
from ember.autograd import graph as eg

torch = pytest.importorskip("torch")


class Twice(ember.autograd.Function):  # a custom Function (no jvp)
    @staticmethod
    def forward(ctx, a):
        return a * 2

    @staticmethod
    def backward(ctx, g):
        return g * 2


def _walk(root):
    """The graph under ``root`` as torchviz walks it: (name, [child names]) per node, in DFS
    order, each node once (keyed by identity), leaves by the variable's label."""
    seen, out, stack = set(), [], [root]
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        kids = [f for f, _ in fn.next_functions]
        out.append((fn.name(), [None if f is None else f.name() for f in kids]))
        stack.extend(reversed(kids))
    return out


def _mlp(lib, x, params):
    w1, b1, w2, b2 = params
    h = lib.nn.functional.linear(x, w1, b1).relu()
    return (lib.nn.functional.linear(h, w2, b2).tanh() ** 2).sum()


def _params(rng):
    shapes = [(5, 3), (5,), (2, 5), (2,)]
    return [rng.standard_normal(s) for s in shapes]


def test_grad_fn_names_and_next_functions_match_torch_on_an_mlp():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3))
    arrays = _params(rng)
    ep = [ember.tensor(a, requires_grad=True) for a in arrays]
    tp = [torch.tensor(a, requires_grad=True) for a in arrays]
    ey = _mlp(ember, ember.tensor(x), ep)
    ty = _mlp(torch, torch.tensor(x), tp)

    # torch's addmm takes the weight through a TBackward0 node (ember's linear reads it
    # directly): compare with those dropped, and each addmm's inputs as a set
    def simplify(walk):
        out = []
        for name, kids in walk:
            if name == "TBackward0":
                continue
            kids = ["torch::autograd::AccumulateGrad" if k == "TBackward0" else k for k in kids]
            out.append((name, sorted(map(str, kids))))
        return sorted(out)

    assert simplify(_walk(ey.grad_fn)) == simplify(_walk(ty.grad_fn))
    names = [n for n, _ in _walk(ey.grad_fn)]
    assert names[:4] == ["SumBackward0", "PowBackward0", "TanhBackward0", "AddmmBackward0"]
    assert isinstance(ey.grad_fn, eg.Node) and isinstance(ey.grad_fn, ember.autograd.graph.Node)


def test_leaves_reach_accumulate_grad_with_the_variable_once():
    x = ember.randn(3, requires_grad=True)
    c = ember.randn(3)  # needs no grad: (None, 0)
    y = c * x + x
    add = y.grad_fn
    assert add.name() == "AddBackward0"
    (mul, i0), (acc, i1) = add.next_functions
    assert mul.name() == "MulBackward0" and (i0, i1) == (0, 0)
    assert acc.name() == "torch::autograd::AccumulateGrad" and acc.variable is x
    assert mul.next_functions[1][0] is acc  # one AccumulateGrad per leaf
    assert mul.next_functions[0] == (None, 0)
    assert isinstance(acc, eg.Node) and acc.next_functions == ()
    assert x.grad_fn is None and c.grad_fn is None and x.is_leaf
    t = torch.randn(3, requires_grad=True)
    tm = (torch.randn(3) * t).grad_fn
    assert tm.next_functions[0] == (None, 0) and tm.next_functions[1][0].variable is t


def test_grad_fn_of_views_and_multi_output_nodes():
    x = ember.randn(2, 3, requires_grad=True)
    assert x.view(3, 2).grad_fn.name() == "ViewBackward0"
    assert x.permute(1, 0).grad_fn.name() == "PermuteBackward0"
    assert x.sum(1).grad_fn.name() == "SumBackward1" and x.sum().grad_fn.name() == "SumBackward0"
    assert ember.cat([x, x]).grad_fn.name() == "CatBackward0"
    assert ember.stack([x, x]).grad_fn.name() == "StackBackward0"
    assert (x @ x.T).grad_fn.name() == "MmBackward0"
    a, b = x.split([1, 2], dim=1)
    assert a.grad_fn is b.grad_fn and eg.get_gradient_edge(b) == (b.grad_fn, 1)
    assert eg.get_gradient_edge(x).node.variable is x
    with pytest.raises(RuntimeError, match="does not require grad"):
        eg.get_gradient_edge(ember.randn(2))
    with pytest.raises(TypeError, match="expected a Tensor"):
        eg.get_gradient_edge([1.0])
    assert "grad_fn=<MulBackward0>" in repr(x * 2)
    assert repr(x.grad_fn) == "None" and "MulBackward0 object" in repr((x * 2).grad_fn)


def test_metadata_is_kept_on_the_node():
    x = ember.randn(2, requires_grad=True)
    y = x * 2
    y.grad_fn.metadata["tag"] = 7
    assert y.grad_fn.metadata == {"tag": 7}
    assert (x * 3).grad_fn.metadata == {}


def _hook_trace(lib):
    """The calls, with their gradients, of tensor hooks, node pre-hooks, node hooks and a
    post-accumulate hook on one small graph."""
    calls = []

    def arr(t):
        return None if t is None else np.asarray(t.detach().numpy()).round(6).tolist()

    x = lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64, requires_grad=True)
    w = lib.tensor([0.5, -1.0, 2.0], dtype=lib.float64, requires_grad=True)
    h = x * w
    y = (h.exp() * 3).sum()
    node = h.grad_fn
    h.register_hook(lambda g: calls.append(("tensor", arr(g))))
    node.register_prehook(lambda go: calls.append(("pre", [arr(g) for g in go])))
    node.register_hook(
        lambda gi, go: calls.append(("post", [arr(g) for g in gi], [arr(g) for g in go]))
    )
    x.register_post_accumulate_grad_hook(lambda t: calls.append(("acc", arr(t.grad))))
    removed = node.register_prehook(lambda go: calls.append("removed"))
    removed.remove()
    y.backward()
    return calls, x.grad.numpy(), w.grad.numpy()


def test_node_hooks_order_and_arguments_match_torch():
    ec, egx, egw = _hook_trace(ember)
    tc, tgx, tgw = _hook_trace(torch)
    assert ec == tc
    np.testing.assert_allclose(egx, tgx)
    np.testing.assert_allclose(egw, tgw)


def _replacing_hooks(lib):
    x = lib.tensor([1.0, -2.0], dtype=lib.float64, requires_grad=True)
    w = lib.tensor([3.0, 4.0], dtype=lib.float64, requires_grad=True)
    y = x * w
    y.grad_fn.register_prehook(lambda go: (go[0] * 10,))
    y.grad_fn.register_hook(lambda gi, go: (gi[0] + 1, None))  # drops w's gradient
    (y * y).sum().backward()
    return x.grad.numpy(), w.grad


def test_node_hooks_replace_gradients_as_torch():
    ex, ew = _replacing_hooks(ember)
    tx, tw = _replacing_hooks(torch)
    np.testing.assert_allclose(ex, tx)
    assert ew is None and tw is None


def test_node_hooks_under_create_graph():
    x = ember.tensor([1.0, 2.0], dtype=ember.float64, requires_grad=True)
    y = x**3
    y.grad_fn.register_prehook(lambda go: (go[0] * 2,))
    (g,) = ember.autograd.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.numpy(), 6 * x.numpy() ** 2)
    (gg,) = ember.autograd.grad(g.sum(), x)
    np.testing.assert_allclose(gg.numpy(), 12 * x.numpy())


def test_node_hook_misuse_errors():
    x = ember.randn(3, requires_grad=True)
    y = x * 2
    with pytest.raises(TypeError, match="callable"):
        y.grad_fn.register_hook(3)
    y.grad_fn.register_prehook(lambda go: go[0])  # not a tuple
    with pytest.raises(RuntimeError, match="MulBackward0 pre-hook returned .*tuple of 1"):
        y.sum().backward()
    z = x * 3
    z.grad_fn.register_hook(lambda gi, go: (ember.ones(2), None))
    with pytest.raises(RuntimeError, match=r"shape \(2,\); expected \(3,\)"):
        z.sum().backward()


def test_accumulate_grad_prehook_and_user_function_name():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    acc = (x * 1).grad_fn.next_functions[0][0]
    seen = []
    acc.register_prehook(lambda go: (seen.append(go[0].numpy().tolist()), (go[0] * 0,))[1])
    (x * 5).sum().backward()
    assert seen == [[5.0, 5.0]] and x.grad.numpy().tolist() == [0.0, 0.0]

    assert Twice.apply(x).grad_fn.name() == "TwiceBackward"


# ---- saved-tensor hooks ------------------------------------------------------------------------


def _cube_fn(lib):
    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            out = x * x * x * y
            ctx.save_for_backward(x, y, out)
            return out

        @staticmethod
        def backward(ctx, g):
            x, y, out = ctx.saved_tensors
            return g * 3 * x * x * y, g * out / y

    return Cube


def _hooked_cube(lib, graph):
    log = []

    def pack(t):
        log.append(("pack", t.shape))
        return ("box", t.clone())  # a different, equal tensor comes back

    def unpack(box):
        log.append(("unpack", box[1].shape))
        return box[1]

    x = lib.tensor([1.0, 2.0, -1.5], dtype=lib.float64, requires_grad=True)
    y = lib.tensor([0.5, 3.0, 2.0], dtype=lib.float64, requires_grad=True)
    with graph.saved_tensors_hooks(pack, unpack):
        out = _cube_fn(lib).apply(x, y)
    (gx, gy) = lib.autograd.grad(out.sum(), (x, y), create_graph=True)
    (ggx,) = lib.autograd.grad(gx.sum(), x)
    return log, [t.detach().numpy() for t in (out, gx, gy, ggx)]


def test_saved_tensors_hooks_on_a_custom_function_match_torch():
    elog, evals = _hooked_cube(ember, eg)
    tlog, tvals = _hooked_cube(torch, torch.autograd.graph)
    assert [(k, tuple(s)) for k, s in elog] == [(k, tuple(s)) for k, s in tlog]
    assert [k for k, _ in elog] == ["pack"] * 3 + ["unpack"] * 3
    for e, t in zip(evals, tvals):
        np.testing.assert_allclose(e, t, rtol=1e-12)


def test_saved_tensors_hooks_cover_embers_own_ops_and_skip_no_grad():
    rng = np.random.default_rng(1)
    x = ember.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((5, 3)), requires_grad=True)
    counts = {"pack": 0, "unpack": 0}

    def pack(t):
        counts["pack"] += 1
        return t.numpy().astype(np.float16)  # a compressing hook

    def unpack(a):
        counts["unpack"] += 1
        return ember.tensor(a.astype(np.float64))

    def loss():
        return (ember.nn.functional.linear(x, w).tanh() * x.sum()).exp().mean()

    with eg.saved_tensors_hooks(pack, unpack):
        y = loss()
    assert counts["pack"] > 0 and counts["unpack"] == 0
    y.backward()
    assert counts["unpack"] == counts["pack"]  # each saved value read once
    gx, gw = x.grad.numpy(), w.grad.numpy()
    x.grad = w.grad = None
    loss().backward()
    np.testing.assert_allclose(gx, x.grad.numpy(), rtol=2e-2, atol=1e-3)
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=2e-2, atol=1e-3)
    counts["pack"] = 0
    with eg.saved_tensors_hooks(pack, unpack), ember.no_grad():
        loss()
    with eg.saved_tensors_hooks(pack, unpack):
        ember.randn(3) * ember.randn(3)  # no input requires grad: nothing saved
    assert counts["pack"] == 0


def test_identity_hooks_give_identical_gradients_and_nest():
    x = ember.randn(3, 4, dtype=ember.float64, requires_grad=True)
    outer, inner = [], []
    with eg.saved_tensors_hooks(lambda t: outer.append(1) or t.clone(), lambda t: t):
        with eg.saved_tensors_hooks(lambda t: inner.append(1) or t.clone(), lambda t: t):
            a = (x * x).sigmoid()
        b = a.log_softmax(1)
    b.sum().backward()
    g = x.grad.numpy().copy()
    x.grad = None
    (x * x).sigmoid().log_softmax(1).sum().backward()
    np.testing.assert_array_equal(g, x.grad.numpy())
    assert inner and outer


def test_save_on_cpu_and_disable_saved_tensors_hooks():
    x = ember.randn(3, dtype=ember.float64, requires_grad=True)
    with eg.save_on_cpu(pin_memory=False):
        y = (x.exp() * x).sum()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp(x.numpy()) * (1 + x.numpy()))
    with eg.disable_saved_tensors_hooks("no hooks in here"):
        with pytest.raises(RuntimeError, match="no hooks in here"):
            with eg.saved_tensors_hooks(lambda t: t, lambda t: t):
                pass
    with eg.saved_tensors_hooks(lambda t: t, lambda t: t):  # usable again after
        pass
    with pytest.raises(TypeError, match="callable"):
        eg.saved_tensors_hooks(1, lambda t: t)
    with eg.saved_tensors_hooks(lambda t: t, lambda t: t.numpy()):
        z = _cube_fn(ember).apply(x, x)
    with pytest.raises(TypeError, match="unpack_hook must return a Tensor"):
        z.sum().backward()


# ---- forward-mode AD ---------------------------------------------------------------------------


def _fwd_ops():
    def F(lib):
        return lib.nn.functional

    return {
        "add_bcast": ([(3, 4), (4,)], lambda lib, a, b: a + b),
        "sub_mul_div": ([(3, 4), (3, 1)], lambda lib, a, b: (a - b) * a / (b * b + 1)),
        "pow_scalar": ([(3, 4)], lambda lib, a: (a * a + 1) ** 1.5),
        "pow_tensor": ([(3, 4), (3, 4)], lambda lib, a, b: (a * a + 1) ** b),
        "exp_log_sqrt": ([(5,)], lambda lib, a: (a.exp() + 1).log() * (a * a + 2).sqrt()),
        "tanh_sigmoid": ([(2, 3)], lambda lib, a: a.tanh() * a.sigmoid()),
        "sin_cos": ([(4,)], lambda lib, a: lib.sin(a) * lib.cos(2 * a)),
        "activations": (
            [(3, 5)],
            lambda lib, a: F(lib).gelu(a) + F(lib).softplus(a) + F(lib).silu(a) + F(lib).elu(a),
        ),
        "relu_abs": ([(3, 5)], lambda lib, a: F(lib).relu(a) * a.abs()),
        "matmul": ([(3, 4), (4, 2)], lambda lib, a, b: a @ b),
        "bmm": ([(2, 3, 4), (2, 4, 5)], lambda lib, a, b: lib.matmul(a, b)),
        "linear": (
            [(3, 4), (5, 4), (5,)],
            lambda lib, x, w, b: F(lib).linear(x, w, b),
        ),
        "reductions": (
            [(3, 4)],
            lambda lib, a: a.sum(1) * a.mean(0)[:3] + a.var(1) + lib.logsumexp(a, 1),
        ),
        "max_amax": ([(3, 4)], lambda lib, a: a.max(1)[0] + a.amax(0)[:3]),
        "views": (
            [(2, 3, 4)],
            lambda lib, a: (
                a.permute(2, 0, 1)
                .reshape(4, 6)
                .transpose(0, 1)[1:5, ::2]
                .unsqueeze(0)
                .expand(2, 4, 2)
            ),
        ),
        "cat_stack_split": (
            [(2, 3), (2, 3)],
            lambda lib, a, b: lib.stack([lib.cat([a, b], 1).split([3, 3], 1)[1], a * b], 0),
        ),
        "softmax": (
            [(3, 5)],
            lambda lib, a: F(lib).softmax(a, 1) + F(lib).log_softmax(a, 0),
        ),
        "layer_norm": (
            [(3, 6), (6,), (6,)],
            lambda lib, x, w, b: F(lib).layer_norm(x, (6,), w, b),
        ),
        "conv2d": (
            [(2, 3, 5, 5), (4, 3, 3, 3), (4,)],
            lambda lib, x, w, b: F(lib).conv2d(x, w, b, padding=1),
        ),
        "pooling": (
            [(1, 2, 4, 4)],
            lambda lib, x: F(lib).avg_pool2d(x, 2) + F(lib).max_pool2d(x * x, 2),
        ),
        "losses": (
            [(4, 5), (4, 5)],
            lambda lib, a, b: F(lib).mse_loss(a, b) + F(lib).cross_entropy(a, b.softmax(1)),
        ),
        "where_clamp": (
            [(3, 4)],
            lambda lib, a: lib.where(a > 0, a * a, -a).clamp(-0.5, 0.7),
        ),
        "cumsum_norm": ([(3, 4)], lambda lib, a: a.cumsum(1) * a.norm()),
        "einsum": ([(2, 3), (3, 4)], lambda lib, a, b: lib.einsum("ij,jk->ik", a, b)),
    }


FWD_OPS = _fwd_ops()


def _fwd(lib, fa, name, seed):
    shapes, fn = FWD_OPS[name]
    rng = np.random.default_rng(seed)
    prim = [rng.standard_normal(s) for s in shapes]
    tans = [rng.standard_normal(s) for s in shapes]
    with fa.dual_level():
        duals = [fa.make_dual(lib.tensor(p), lib.tensor(t)) for p, t in zip(prim, tans)]
        out = fn(lib, *duals)
        primal, tangent = fa.unpack_dual(out)
        return np.asarray(primal.detach().numpy()), np.asarray(tangent.numpy())


def _torch_fwd(name, seed):
    with warnings.catch_warnings():  # (torch's make_dual uses the deprecated torch.jit.script)
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch.autograd.forward_ad as tfa

        return _fwd(torch, tfa, name, seed)


@pytest.mark.parametrize("name", sorted(FWD_OPS))
def test_forward_ad_tangents_match_torch(name):
    from ember.autograd import forward_ad as efa

    ep, et = _fwd(ember, efa, name, 3)
    tp, tt = _torch_fwd(name, 3)
    np.testing.assert_allclose(ep, tp, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(et, tt, rtol=1e-10, atol=1e-10)


def test_forward_ad_misuse_and_refusals():
    from ember.autograd import forward_ad as fa

    x = ember.randn(3, dtype=ember.float64)
    with pytest.raises(RuntimeError, match="no forward AD level exists"):
        fa.make_dual(x, ember.randn(3, dtype=ember.float64))
    with fa.dual_level():
        with pytest.raises(ValueError, match=r"tangent has shape \(4,\) but the primal has shape"):
            fa.make_dual(x, ember.randn(4))
        with pytest.raises(TypeError, match="expected Tensors"):
            fa.make_dual(x, np.ones(3))
        with pytest.raises(ValueError, match="floating point"):
            fa.make_dual(ember.arange(3), ember.ones(3))
        with pytest.raises(RuntimeError, match="Nested forward mode AD"):
            fa.enter_dual_level()
        d = fa.make_dual(x, ember.ones(3, dtype=ember.float64))
        # an op without a double backward: refused by name, never a wrong tangent (as
        # torch's ctc_loss, which has no forward-mode derivative either)
        lp = d.reshape(3, 1, 1).log_softmax(2)
        with pytest.raises(NotImplementedError, match="forward-mode AD through CTCLoss"):
            ember.nn.functional.ctc_loss(lp, np.array([[0]]), [3], [1])
        with ember.no_grad():  # (carried, as torch's: behave22; ember refused it before)
            e = d.exp()
        np.testing.assert_allclose(fa.unpack_dual(e).tangent.numpy(), np.exp(x.numpy()))
        y = d * 2
        assert fa.unpack_dual(y).tangent.numpy().tolist() == [2.0, 2.0, 2.0]
        primal = fa.unpack_dual(y).primal  # carries no tangent, as torch's
        assert fa.unpack_dual(primal * 3).tangent is None
        assert fa.unpack_dual(x).tangent is None and fa.unpack_dual(x).primal is x
    assert fa.unpack_dual(y).tangent is None  # the level's tangents are gone
    with pytest.raises(RuntimeError, match="not the current forward-AD level"):
        fa.exit_dual_level()


def test_forward_ad_keeps_reverse_mode_and_gives_hvp():
    from ember.autograd import forward_ad as fa

    rng = np.random.default_rng(4)
    a, v = rng.standard_normal(4), rng.standard_normal(4)
    x = ember.tensor(a, requires_grad=True)
    with fa.dual_level():
        d = fa.make_dual(x, ember.tensor(v))
        (g,) = ember.autograd.grad((d**3).sum(), d, create_graph=True)
        hvp = fa.unpack_dual(g).tangent.numpy()  # forward over reverse: H v = 6 x v
        y = (d.sin() * d).sum()
        p = fa.unpack_dual(y).primal
        p.backward()  # the primal still gets its gradient through the dual and unpack_dual
    np.testing.assert_allclose(x.grad.numpy(), np.cos(a) * a + np.sin(a), rtol=1e-12)
    np.testing.assert_allclose(hvp, 6 * a * v, rtol=1e-12)


def _custom_jvp(lib, fa):
    class MulExp(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, y):
            out = x * y.exp()
            ctx.save_for_forward(x, y, out)
            return out

        @staticmethod
        def backward(ctx, g):
            raise AssertionError("not used")

        @staticmethod
        def jvp(ctx, tx, ty):
            x, y, out = ctx.saved_tensors
            return tx * y.exp() + out * ty

    x = lib.tensor([1.0, -2.0], dtype=lib.float64)
    y = lib.tensor([0.5, 0.25], dtype=lib.float64)
    with fa.dual_level():
        d = fa.make_dual(x, lib.tensor([1.0, 3.0], dtype=lib.float64))
        return fa.unpack_dual(MulExp.apply(d, y)).tangent.numpy()


def test_custom_function_jvp_as_torch_and_refused_without_one():
    from ember.autograd import forward_ad as fa

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch.autograd.forward_ad as tfa

        expected = _custom_jvp(torch, tfa)
    np.testing.assert_allclose(_custom_jvp(ember, fa), expected, rtol=1e-12)

    with fa.dual_level():
        d = fa.make_dual(ember.ones(2), ember.ones(2))
        with pytest.raises(NotImplementedError, match="Twice: it must define a jvp"):
            Twice.apply(d)


def test_func_jvp_matches_torch_and_jacfwd():
    import torch.func as tf

    rng = np.random.default_rng(5)
    a, b, ta, tb = (rng.standard_normal(s) for s in [(3, 4), (4,), (3, 4), (4,)])

    def f(lib):
        return lambda x, y: ((x * y).tanh().sum(1), x.exp() @ y, lib.ones(2))

    eo, et = ember.func.jvp(f(ember), *[tuple(map(ember.tensor, p)) for p in [(a, b), (ta, tb)]])
    with warnings.catch_warnings():  # (torch's forward AD uses the deprecated torch.jit.script)
        warnings.simplefilter("ignore", DeprecationWarning)
        to, tt = tf.jvp(f(torch), *[tuple(map(torch.tensor, p)) for p in [(a, b), (ta, tb)]])
    for e, t in zip(eo + et, to + tt):
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-10, atol=1e-12)
    assert not et[2].numpy().any()  # an output independent of the primals: zero tangent
    jx, jy = ember.func.jacfwd(lambda x, y: f(ember)(x, y)[1], argnums=(0, 1))(
        ember.tensor(a), ember.tensor(b)
    )
    np.testing.assert_allclose(
        jx.numpy().reshape(3, 12) @ ta.ravel() + jy.numpy() @ tb, et[1].numpy(), rtol=1e-10
    )
    with pytest.raises(TypeError, match="must be tuples"):
        ember.func.jvp(lambda x: x, ember.ones(2), ember.ones(2))
    with pytest.raises(ValueError, match="same structure"):
        ember.func.jvp(lambda x: x, (ember.ones(2),), (ember.ones(2), ember.ones(2)))


# ---- custom Function extras --------------------------------------------------------------------


def _sort_fn(lib, materialize):
    class SortWithIndex(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(materialize)
            order = np.argsort(x.numpy(), kind="stable")
            ctx.save_for_backward(lib.tensor(order))
            idx = lib.tensor(order)
            ctx.mark_non_differentiable(idx)
            return x[idx], idx

        @staticmethod
        def backward(ctx, g, g_idx):
            ctx.seen = (None if g is None else g.numpy().tolist(), g_idx)
            (order,) = ctx.saved_tensors
            out = lib.zeros_like(g) if g is not None else None
            if out is not None:
                out[order] = g
            return out

    return SortWithIndex


@pytest.mark.parametrize("materialize", [True, False])
def test_mark_non_differentiable_and_set_materialize_grads_as_torch(materialize):
    def run(lib):
        x = lib.tensor([3.0, 1.0, 2.0], dtype=lib.float64, requires_grad=True)
        vals, idx = _sort_fn(lib, materialize).apply(x)
        assert not idx.requires_grad and vals.requires_grad
        assert x.grad is None
        (vals * lib.tensor([1.0, 2.0, 3.0], dtype=lib.float64)).sum().backward()
        g_idx = vals.grad_fn.seen[1]
        return x.grad.numpy().tolist(), vals.grad_fn.seen[0], g_idx is None

    assert run(ember) == run(torch)


def _needs_and_once(lib):
    from importlib import import_module

    once = import_module(f"{lib.__name__}.autograd.function").once_differentiable

    class Cube(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x, k):
            ctx.save_for_backward(x)
            ctx.needs = ctx.needs_input_grad
            return x**3 * k

        @staticmethod
        @once
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g, None

    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    y = Cube.apply(x, 2.0)
    (g,) = lib.autograd.grad(y.sum(), x, create_graph=True)
    v = lib.ones(2, dtype=lib.float64, requires_grad=True)
    (gv,) = lib.autograd.grad(y, x, v, create_graph=True)
    with pytest.raises(RuntimeError, match="differentiate twice a function that was marked"):
        gv.sum().backward()
    return y.grad_fn.needs, g.detach().numpy().tolist(), g.requires_grad, gv.requires_grad


def test_needs_input_grad_and_once_differentiable_as_torch():
    assert _needs_and_once(ember) == _needs_and_once(torch)


def _dirty(lib):
    class Double_(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            return x

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    w = lib.tensor([1.0, -3.0], dtype=lib.float64, requires_grad=True)
    h = w * w
    out = Double_.apply(h)
    same = out is h
    (out * w).sum().backward()
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        Double_.apply(lib.ones(2, requires_grad=True))
    return same, h.detach().numpy().tolist(), w.grad.numpy().tolist(), h.grad_fn.name()


def test_mark_dirty_as_torch():
    e, t = _dirty(ember), _dirty(torch)
    assert e[:3] == t[:3] and e[0]
    assert e[3] == "Double_Backward" == t[3]


def _in_place_tangents(lib, fa):
    with fa.dual_level():
        x = lib.tensor(np.arange(6.0).reshape(2, 3))
        d = fa.make_dual(x, lib.tensor(np.full((2, 3), 0.5)))
        y = d * 3
        y[0, 1] = 5.0  # a constant: zero tangent there
        y[1] = d[0] * d[1]
        z = lib.nn.functional.relu_(y - 4)
        return [fa.unpack_dual(t).tangent.numpy() for t in (y, z)]


def test_forward_ad_through_in_place_writes_as_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import torch.autograd.forward_ad as tfa

        expected = _in_place_tangents(torch, tfa)
    from ember.autograd import forward_ad as efa

    for e, t in zip(_in_place_tangents(ember, efa), expected):
        np.testing.assert_allclose(e, t, rtol=1e-12)


def test_a_graph_drawer_walks_a_cnn_and_reaches_every_parameter():
    nn = ember.nn
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
        nn.LogSoftmax(dim=1),
    )
    loss = ember.nn.functional.nll_loss(model(ember.randn(2, 1, 8, 8)), ember.tensor([1, 7]))
    seen, stack, leaves = set(), [loss.grad_fn], set()
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        assert isinstance(fn, eg.Node) and isinstance(fn.name(), str)
        if fn.name() == "torch::autograd::AccumulateGrad":
            leaves.add(id(fn.variable))
        stack.extend(f for f, _ in fn.next_functions if f is not None)
    assert leaves == {id(p) for p in model.parameters()}  # (walked by id: each node once)


def test_increment_version_invalidates_saved_values():
    x = ember.randn(3, requires_grad=True)
    h = x * 1
    y = h * h
    eg.increment_version(h)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_grad_takes_torch_full_signature():
    def run(lib):
        x = lib.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
        w = lib.tensor(np.linspace(-1, 1, 3), requires_grad=True)
        y = (x**2 * w).sum(1)
        batched = lib.autograd.grad(
            y, x, lib.eye(2, dtype=lib.float64), retain_graph=True, is_grads_batched=True
        )[0]
        named = lib.autograd.grad(y.sum(), {"x": x, "w": w}, retain_graph=True)
        it = lib.autograd.grad(y.sum(), {"x": x, "w": w}.values(), retain_graph=True)
        with pytest.warns(FutureWarning, match="only_inputs"):
            lib.autograd.grad(y.sum(), x, only_inputs=False)
        return [batched, named["x"], named["w"], *it]

    for e, t in zip(run(ember), run(torch)):
        np.testing.assert_allclose(e.detach().numpy(), t.detach().numpy(), rtol=1e-12)
    x = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="cannot be empty"):
        ember.autograd.grad(x * 2, [])
    with pytest.raises(ValueError, match="materialize_grads"):
        ember.autograd.grad(x * 2, x, allow_unused=False, materialize_grads=True)


def test_grad_for_one_network_leaves_the_other_networks_graph_intact():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    wg, wd, z = (
        rng.standard_normal((4, 3)),
        rng.standard_normal((1, 4)),
        rng.standard_normal((5, 3)),
    )
    results = []
    for lib in (ember, torch):
        g_w = lib.tensor(wg, requires_grad=True)
        d_w = lib.tensor(wd, requires_grad=True)
        fake = (lib.tensor(z) @ g_w.T).tanh()
        d_grads = lib.autograd.grad((fake @ d_w.T).sigmoid().mean(), [d_w])
        (-(fake @ d_w.T).sigmoid().log().mean()).backward()  # through the generator again
        results.append((d_grads[0].numpy(), g_w.grad.numpy()))
    for mine, theirs in zip(*results):
        np.testing.assert_allclose(mine, theirs, rtol=1e-12)
