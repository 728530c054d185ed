"""speed24's fast paths: cat / stack / flip, and x.t().contiguous(), take a full sum's gradient
unfilled (one value broadcast) and fill their inputs' gradients fresh. Gradients against torch
over dtypes, shapes (empty, one element, odd, non-contiguous, negative strides, expanded), with a
second consumer or a hook (the filled path), float64 gradcheck, and the .grad arrays private,
writeable and C-ordered for a C-ordered leaf."""

import numpy as np
import pytest
from conftest import at_threads

import ember

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(24)
DTYPES = ["float32", "float64", "float16", "bfloat16"]


def _pair(e, t, a, dtype):
    """a as an ember and a torch leaf of dtype, requiring grad."""
    x = ember.tensor(a).to(getattr(ember, dtype)).requires_grad_()
    y = torch.tensor(a).to(getattr(torch, dtype)).requires_grad_()
    return x, y


def _check_grads(es, ts):
    for e, t in zip(es, ts):
        assert (e.grad is None) == (t.grad is None)
        if e.grad is None:
            continue
        g = e.grad.numpy()
        want = t.grad.float().numpy() if t.grad.dtype == torch.bfloat16 else t.grad.numpy()
        got = g.astype(np.float32) if t.grad.dtype == torch.bfloat16 else g
        np.testing.assert_array_equal(got, want)
        assert g.flags.writeable and g.shape == tuple(t.grad.shape)
        assert g.flags.c_contiguous or not e.data.flags.c_contiguous  # (torch's layout contract)
    owners = [e.grad.numpy() for e in es if e.grad is not None]
    for i, a in enumerate(owners):  # each leaf's gradient its own memory
        for b in owners[i + 1 :]:
            assert not np.shares_memory(a, b)


OPS = {
    "cat0": lambda m, xs: m.cat(xs, 0),
    "cat1": lambda m, xs: m.cat(xs, -1),
    "stack0": lambda m, xs: m.stack(xs, 0),
    "stack2": lambda m, xs: m.stack(xs, 2),
    "flip0": lambda m, xs: xs[0].flip(0),
    "flip01": lambda m, xs: xs[1].flip((0, 1)),
    "flip1": lambda m, xs: xs[0].flip(-1),
    "t_contiguous": lambda m, xs: xs[0].t().contiguous(),
    "permute_contiguous": lambda m, xs: xs[1].unsqueeze(0).permute(2, 0, 1).contiguous(),
}
SHAPES = [(0, 3), (1, 1), (7, 13), (64, 130)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("op", list(OPS))
def test_full_sum_gradient_matches_torch(op, shape, dtype):
    f = OPS[op]
    a, b = RNG.standard_normal(shape), RNG.standard_normal(shape)
    (ea, ta), (eb, tb) = _pair(ember, torch, a, dtype), _pair(ember, torch, b, dtype)
    (f(ember, [ea, eb]).sum() * 3).backward()
    (f(torch, [ta, tb]).sum() * 3).backward()
    _check_grads([ea, eb], [ta, tb])


@pytest.mark.parametrize("op", list(OPS))
def test_second_consumer_and_hook_take_the_filled_path(op):
    f = OPS[op]
    a, b = RNG.standard_normal((9, 11)), RNG.standard_normal((9, 11))
    for how in ("two", "hook"):
        (ea, ta), (eb, tb) = _pair(ember, torch, a, "float64"), _pair(ember, torch, b, "float64")
        ye, yt = f(ember, [ea, eb]), f(torch, [ta, tb])
        if how == "two":
            w = RNG.standard_normal(tuple(yt.shape))
            (ye.sum() + (ye * ember.tensor(w)).sum()).backward()
            (yt.sum() + (yt * torch.tensor(w)).sum()).backward()
        else:
            seen = []
            ye.register_hook(lambda g, seen=seen: seen.append(np.array(g.numpy())))
            ye.sum().backward()
            yt.sum().backward()
            np.testing.assert_array_equal(seen[0], np.ones(tuple(yt.shape)))
        _check_grads([ea, eb], [ta, tb])


def test_strided_expanded_and_reversed_inputs():
    base = RNG.standard_normal((12, 10))
    views = [
        base[::-1],
        base[:, ::-1],
        np.broadcast_to(base[:1], (12, 10)),
        np.asfortranarray(base),
    ]
    for f in (OPS["cat0"], OPS["stack2"], OPS["flip01"], OPS["t_contiguous"]):
        for pair in (views[:2], views[2:]):
            es = [ember.tensor(v, requires_grad=True) for v in pair]
            ts = [torch.tensor(np.ascontiguousarray(v), requires_grad=True) for v in pair]
            f(ember, es).sum().backward()
            f(torch, ts).sum().backward()
            _check_grads(es, ts)
    # inputs that are themselves views in the graph (a reversed slice, an expand)
    x, tx = ember.tensor(base, requires_grad=True), torch.tensor(base, requires_grad=True)
    for m, v in ((ember, x), (torch, tx)):
        parts = [v.flip(0)[2:7], v[:1].expand(5, 10), v.t()[:5].flip(1)]
        (m.cat(parts, 1).sum() + m.stack(parts[:2]).flip(1).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


def test_cat_skips_legacy_empty_and_one_element_sums():
    x = ember.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    e = ember.zeros(0, requires_grad=True)
    ember.cat([e, x, e]).sum().backward()
    assert e.grad.shape == (0,)
    np.testing.assert_array_equal(x.grad.numpy(), np.ones((3, 4)))
    one = ember.tensor([2.5], requires_grad=True)
    ember.cat([one, one]).flip(0).sum().backward()
    np.testing.assert_array_equal(one.grad.numpy(), [2.0])


def test_integer_and_bool_cat_flip_values():
    for dtype in (np.int8, np.int32, np.int64, np.uint8, np.bool_):
        a = (RNG.standard_normal((5, 7)) * 9).astype(dtype)
        b = (RNG.standard_normal((5, 7)) * 9).astype(dtype)
        np.testing.assert_array_equal(ember.cat([a, b], 1).numpy(), np.concatenate([a, b], 1))
        np.testing.assert_array_equal(
            ember.stack([a, b]).flip(0, 2).numpy(), np.stack([b, a])[..., ::-1]
        )
        np.testing.assert_array_equal(ember.tensor(a).t().contiguous().numpy(), a.T)


@pytest.mark.parametrize("op", list(OPS))
def test_gradcheck_float64(op):
    f = OPS[op]
    a = ember.tensor(RNG.standard_normal((4, 5)), requires_grad=True)
    b = ember.tensor(RNG.standard_normal((4, 5)), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, y: f(ember, [x, y]).sum(), (a, b))
    assert ember.autograd.gradcheck(lambda x, y: (f(ember, [x, y]) ** 2).sum(), (a, b))


def test_create_graph_double_backward():
    a = ember.tensor(RNG.standard_normal((3, 4)), requires_grad=True)
    ta = torch.tensor(a.numpy(), requires_grad=True)
    for f in (OPS["cat0"], OPS["flip0"], OPS["t_contiguous"]):
        (g,) = ember.autograd.grad((f(ember, [a, a]) ** 3).sum(), a, create_graph=True)
        (tg,) = torch.autograd.grad((f(torch, [ta, ta]) ** 3).sum(), ta, create_graph=True)
        np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-12)
        (gg,) = ember.autograd.grad(g.sum(), a)
        (tgg,) = torch.autograd.grad(tg.sum(), ta)
        np.testing.assert_allclose(gg.numpy(), tgg.numpy(), rtol=1e-12)


def test_same_bits_on_one_and_two_threads():
    a = RNG.standard_normal((300, 700)).astype(np.float32)
    out = []
    for n in (1, 2):
        with at_threads(n):
            grads = []
            for f in OPS.values():
                x = ember.tensor(a, requires_grad=True)
                y = ember.tensor(a[::-1].copy(), requires_grad=True)
                (f(ember, [x, y]).sum() * 0.5).backward()
                grads += [t.grad.numpy() for t in (x, y) if t.grad is not None]
            out.append(grads)
    for g1, g2 in zip(*out):
        np.testing.assert_array_equal(g1, g2)


# x * row under a full sum: Mul's backward takes the sum's one value v (ops._row_grads) where
# it took a filled gradient; the same products, so the same bits as that path gave.
ROW_SHAPES = [
    ((300, 200), (200,)),
    ((200,), (300, 200)),
    ((300, 200), (1, 200)),
    ((300, 200), (300, 1)),
    ((3, 90, 70), (90, 1)),
    ((1, 20000), (20000,)),
    ((300, 200), ()),
    ((9, 7), (7,)),  # below the size the path starts at
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("sa", "sb"), ROW_SHAPES)
def test_mul_row_gradients_keep_the_filled_paths_bits(sa, sb, dtype):
    from ember.autograd.engine import unbroadcast

    a = RNG.standard_normal(sa).astype(dtype)
    b = RNG.standard_normal(sb).astype(dtype)
    for scale in (1.0, 3.0, 0.1, -2.5):
        ea, eb = ember.tensor(a, requires_grad=True), ember.tensor(b, requires_grad=True)
        ((ea * eb).sum() * scale).backward()
        g = np.full(np.broadcast_shapes(sa, sb), scale, dtype)  # the filled gradient
        for got, want in ((ea.grad, unbroadcast(g * b, sa)), (eb.grad, unbroadcast(g * a, sb))):
            assert got.dtype == ember.tensor(want).dtype
            np.testing.assert_array_equal(got.numpy(), want)
            assert got.numpy().flags.writeable
        ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
        ((ta * tb).sum() * scale).backward()
        tol = 1e-4 if dtype == np.float32 else 1e-12
        np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), rtol=tol, atol=tol)
        np.testing.assert_allclose(eb.grad.numpy(), tb.grad.numpy(), rtol=tol, atol=tol * 100)


def test_mul_row_one_side_strided_or_no_grad_and_gradcheck():
    a = RNG.standard_normal((200, 160))
    r = RNG.standard_normal(160)
    for x, needs in ((a, (True, False)), (a.T.copy().T, (True, True)), (a, (False, True))):
        ea = ember.tensor(x, requires_grad=needs[0])
        er = ember.tensor(r, requires_grad=needs[1])
        ta = torch.tensor(np.ascontiguousarray(x), requires_grad=needs[0])
        tr = torch.tensor(r, requires_grad=needs[1])
        (ea * er).sum().backward()
        (ta * tr).sum().backward()
        for e, t in ((ea, ta), (er, tr)):
            if t.requires_grad:
                np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=1e-12)
            else:
                assert e.grad is None
    x = ember.tensor(RNG.standard_normal((130, 130)), requires_grad=True)
    w = ember.tensor(RNG.standard_normal(130), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, w: (x * w).sum(), (x, w))
    assert ember.autograd.gradcheck(lambda x, w: (w * x).sum() * 2, (x, w))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("reduce", ["amax", "amin", "sum", "mean"])
@pytest.mark.parametrize("shape", [(6, 9), (3, 1, 17), (1, 1)])
def test_scatter_reduce_backward_gathers_by_the_kernel(shape, reduce, dtype):
    # (ScatterReduce's backward picks g and out at the index by _C.gather_forward)
    x = np.round(RNG.standard_normal(shape) * 2)  # whole values: ties between x and src
    src = np.round(RNG.standard_normal(shape) * 2)
    idx = RNG.integers(0, shape[-1], shape)
    w = RNG.standard_normal(shape)
    for include_self in (True, False):
        ex, tx = _pair(ember, torch, x, dtype)
        es, ts = _pair(ember, torch, src, dtype)
        ye = ex.scatter_reduce(-1, ember.tensor(idx), es, reduce, include_self=include_self)
        yt = tx.scatter_reduce(-1, torch.tensor(idx), ts, reduce, include_self=include_self)
        (ye * ember.tensor(w).to(ye.dtype)).sum().backward()
        (yt * torch.tensor(w).to(yt.dtype)).sum().backward()
        tol = 1e-6 if dtype == "float32" else 1e-12
        for e, t in ((ex, tx), (es, ts)):
            np.testing.assert_allclose(e.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)
