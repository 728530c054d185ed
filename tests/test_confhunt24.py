"""Pins from the confhunt24 configuration sweep against PyTorch: reductions, linalg and the
matmul family (addmm/baddbmm/einsum/tensordot), pooling and recurrent modules."""

import numpy as np
import pytest

import ember
from ember import nn

torch = pytest.importorskip("torch")


def _pair(make):
    return make(torch), make(ember)


def _close(got, want, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(got.numpy()), want.detach().numpy(), rtol, atol)


@pytest.mark.parametrize(
    "op, shapes",
    [
        ("addmm", [(3,), (2, 4), (4, 3)]),
        ("addmm", [(2, 3), (2, 4), (4, 3)]),
        ("addmv", [(1,), (2, 3), (3,)]),
        ("addr", [(), (2,), (3,)]),
        ("baddbmm", [(1, 3), (2, 2, 4), (2, 4, 3)]),
        ("addbmm", [(2, 3), (0, 2, 4), (0, 4, 3)]),
    ],
)
@pytest.mark.parametrize("alpha", [1, 0, 2.5])
def test_beta_zero_gives_input_a_zero_gradient(op, shapes, alpha):
    # beta = 0 ignores input's values (NaN included) but torch still gives it a gradient of
    # zeros in input's shape; ember left .grad None
    r = np.random.default_rng(0)
    arrs = [r.standard_normal(s) for s in shapes]
    arrs[0].flat[:1] = np.nan
    t = [torch.tensor(a, requires_grad=True) for a in arrs]
    e = [ember.tensor(a, requires_grad=True) for a in arrs]
    to, eo = (
        getattr(torch, op)(*t, beta=0, alpha=alpha),
        getattr(ember, op)(*e, beta=0, alpha=alpha),
    )
    _close(eo, to, 1e-12, 1e-12)
    g = r.standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    eo.backward(ember.tensor(g))
    for a, b in zip(t, e):
        assert b.grad is not None and b.grad.shape == tuple(a.grad.shape)
        _close(b.grad, a.grad, 1e-12, 1e-12)
    assert np.array_equal(e[0].grad.numpy(), np.zeros(shapes[0]))
    with ember.no_grad():  # outside the graph: the product, nothing recorded
        assert not getattr(ember, op)(*e, beta=0).requires_grad


@pytest.mark.parametrize("interpolation", ["linear", "lower", "higher", "midpoint", "nearest"])
@pytest.mark.parametrize("shape, dim", [((2, 1, 3), 1), ((4, 2), 0), ((3,), None)])
def test_quantile_of_a_slice_with_nan_sends_its_gradient_to_the_nan(shape, dim, interpolation):
    # torch ranks a slice holding NaN at its last sorted entry (the NaN): the output is NaN
    # and the gradient goes to that entry; ember masked the output and gave the slice 0
    x = np.arange(np.prod(shape), dtype=np.float64).reshape(shape)
    x.flat[0] = np.nan
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    kw = dict(dim=dim, interpolation=interpolation)
    to, eo = torch.quantile(tx, 0.3, **kw), ember.quantile(ex, 0.3, **kw)
    _close(eo, to, 0, 0)
    to.sum().backward()
    eo.sum().backward()
    _close(ex.grad, tx.grad, 0, 0)
    assert ex.grad.numpy().flat[0] == 1.0


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan, 0.0])
def test_cumprod_over_a_dim_of_one_passes_the_gradient_through(value):
    # a scan over one entry is the identity: torch's gradient is the incoming one, where
    # ember divided y by x (inf / inf = NaN) for an infinite entry
    x = np.array([[value, 2.0, -1.5]])
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    g = np.array([[0.5, -2.0, 3.0]])
    torch.cumprod(tx, 0).backward(torch.tensor(g))
    ember.cumprod(ex, 0).backward(ember.tensor(g))
    _close(ex.grad, tx.grad, 0, 0)
    assert np.array_equal(ex.grad.numpy(), g)
    (gg,) = ember.autograd.grad(ember.cumprod(ex, 0).sum(), ex, create_graph=True)
    assert np.array_equal(gg.numpy(), np.ones_like(x))


@pytest.mark.parametrize("fn", ["vector_norm", "matrix_norm", "norm"])
@pytest.mark.parametrize("dt", [np.int64, np.bool_])
def test_norms_refuse_an_integer_input_even_with_dtype(fn, dt):
    # torch checks the input's dtype before casting to dtype=; ember cast ints and went on
    a = np.ones((2, 2), dt)
    with pytest.raises(RuntimeError, match="Expected a floating point"):
        getattr(torch.linalg, fn)(torch.tensor(a), dtype=torch.float64)
    with pytest.raises(TypeError, match="expected a floating point tensor"):
        getattr(ember.linalg, fn)(ember.tensor(a), dtype=ember.float64)


def _reduce_case(r):
    """One random reduction: (name, kwargs) over a float64 tensor with ties, NaN or inf."""
    nd = int(r.integers(1, 4))
    shape = tuple(int(s) for s in r.integers(1, 4, nd))
    x = np.round(r.standard_normal(shape) * (2 if r.random() < 0.5 else 10)) / 2
    if r.random() < 0.2:
        x.flat[0] = np.nan
    dim = int(r.integers(-nd, nd))
    dims = tuple(int(d) for d in r.permutation(nd)[: r.integers(1, nd + 1)])
    keep = bool(r.integers(0, 2))
    cases = [
        ("sum", dict(dim=dims, keepdim=keep)),
        ("mean", dict(dim=dims, keepdim=keep)),
        ("prod", dict(dim=dim, keepdim=keep)),
        (
            "var",
            dict(dim=dims, keepdim=keep, correction=int(np.prod([shape[d] for d in dims]) > 1)),
        ),
        ("std", dict(dim=dims, keepdim=keep, correction=0.5)),
        ("logsumexp", dict(dim=dims, keepdim=keep)),
        ("amax", dict(dim=dims, keepdim=keep)),
        ("median", dict(dim=dim, keepdim=keep)),
        ("nanmedian", dict(dim=dim, keepdim=keep)),
        ("quantile", dict(q=0.3, dim=dim, keepdim=keep, interpolation="midpoint")),
        ("nanquantile", dict(q=0.7, dim=dim, keepdim=keep, interpolation="nearest")),
        ("cumprod", dict(dim=dim)),
        ("logcumsumexp", dict(dim=dim)),
        ("cummax", dict(dim=dim)),
    ]
    name, kw = cases[int(r.integers(0, len(cases)))]
    return x, name, kw


@pytest.mark.parametrize("seed", range(40))
def test_reductions_sample_match_torch(seed):
    x, name, kw = _reduce_case(np.random.default_rng(seed))
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    to, eo = getattr(torch, name)(tx, **kw), getattr(ember, name)(ex, **kw)
    to, eo = (to, eo) if isinstance(to, torch.Tensor) else (to[0], eo[0])
    _close(eo, to)
    g = np.random.default_rng(seed + 1).standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    eo.backward(ember.tensor(g))
    _close(ex.grad, tx.grad, 1e-8, 1e-10)


@pytest.mark.parametrize("seed", range(12))
def test_matmul_family_sample_matches_torch(seed):
    r = np.random.default_rng(seed)
    n, m, k = (int(v) for v in r.integers(1, 4, 3))
    alpha, beta = float(r.choice([1, 0, 2.5])), float(r.choice([1, 0, 0.5]))
    calls = [
        (
            lambda L, a, b, c: L.baddbmm(a, b, c, beta=beta, alpha=alpha),
            [(1, m), (2, n, k), (2, k, m)],
        ),
        (lambda L, a, b, c: L.addmm(a, b, c, beta=beta, alpha=alpha), [(m,), (n, k), (k, m)]),
        (lambda L, a, b: L.einsum("...ij,...jk->...ik", a, b), [(2, n, k), (k, m)]),
        (lambda L, a, b: L.tensordot(a, b, dims=([1, 2], [1, 0])), [(n, k, 2), (2, k, m)]),
        (lambda L, a: L.linalg.solve(a + 4 * L.eye(n, dtype=a.dtype), a[..., 0]), [(2, n, n)]),
        (lambda L, a: L.linalg.slogdet(a + 4 * L.eye(n, dtype=a.dtype))[1], [(n, n)]),
    ]
    f, shapes = calls[seed % len(calls)]
    arrs = [r.standard_normal(s) for s in shapes]
    t = [torch.tensor(a, requires_grad=True) for a in arrs]
    e = [ember.tensor(a, requires_grad=True) for a in arrs]
    to, eo = f(torch, *t), f(ember, *e)
    _close(eo, to)
    g = r.standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    eo.backward(ember.tensor(g))
    for a, b in zip(t, e):
        _close(b.grad, a.grad, 1e-8, 1e-10)


@pytest.mark.parametrize("seed", range(12))
def test_pooling_sample_matches_torch(seed):
    r = np.random.default_rng(seed)
    nd = 1 + seed % 3
    x = r.standard_normal((2, 2) + tuple(int(s) for s in r.integers(3, 7, nd)))
    kind = ["AvgPool", "LPPool", "AdaptiveMaxPool", "MaxPool"][seed % 4]
    if kind == "AvgPool":
        kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
        if nd > 1:
            kw["divisor_override"] = 2
    elif kind == "LPPool":
        x = np.abs(x) + 0.1
        kw = dict(norm_type=float(r.choice([1.5, 3])), kernel_size=2, stride=1, ceil_mode=True)
    elif kind == "AdaptiveMaxPool":
        kw = dict(output_size=(3,) + (None,) * (nd - 1) if nd > 1 else 3, return_indices=True)
    else:
        kw = dict(kernel_size=2, stride=2, padding=1, dilation=2, ceil_mode=True)
    tm, em = getattr(torch.nn, f"{kind}{nd}d")(**kw), getattr(nn, f"{kind}{nd}d")(**kw)
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    to, eo = tm(tx), em(ex)
    if isinstance(to, tuple):
        assert np.array_equal(eo[1].numpy(), to[1].numpy())
        to, eo = to[0], eo[0]
    _close(eo, to)
    g = r.standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    eo.backward(ember.tensor(g))
    _close(ex.grad, tx.grad)


@pytest.mark.parametrize("seed", range(8))
def test_recurrent_sample_matches_torch(seed):
    from torch.nn.utils import rnn as trnn

    from ember.nn.utils import rnn as ernn

    r = np.random.default_rng(seed)
    kind = ["LSTM", "GRU", "RNN", "LSTM"][seed % 4]
    kw = dict(num_layers=1 + seed % 2, batch_first=bool(seed % 3), bidirectional=seed < 4)
    if seed == 3:
        kw["proj_size"] = 1
    torch.manual_seed(seed)
    tm = getattr(torch.nn, kind)(2, 3, **kw, dtype=torch.float64)
    em = getattr(nn, kind)(2, 3, **kw, dtype=np.float64)
    em.load_state_dict({k: v.detach().numpy().copy() for k, v in tm.state_dict().items()})
    lengths = [3, 1, 4]
    x = r.standard_normal((3, 4, 2) if kw["batch_first"] else (4, 3, 2))
    tx, ex = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    pk = dict(batch_first=kw["batch_first"], enforce_sorted=False)
    to, th = tm(trnn.pack_padded_sequence(tx, lengths, **pk))
    eo, eh = em(ernn.pack_padded_sequence(ex, lengths, **pk))
    to = trnn.pad_packed_sequence(to, kw["batch_first"], total_length=5)[0]
    eo = ernn.pad_packed_sequence(eo, kw["batch_first"], total_length=5)[0]
    th, eh = (th[0], eh[0]) if kind == "LSTM" else (th, eh)
    _close(eo, to)
    _close(eh, th)
    (to.sum() + (th * th).sum()).backward()
    (eo.sum() + (eh * eh).sum()).backward()
    _close(ex.grad, tx.grad, 1e-8, 1e-10)
    ep = dict(em.named_parameters())
    for name, p in tm.named_parameters():
        _close(ep[name].grad, p.grad, 1e-8, 1e-10)
