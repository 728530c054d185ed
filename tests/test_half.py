"""float16 and bfloat16: stored as themselves, computed in float32 and rounded at each op, as
PyTorch's CPU build does. Values, output dtypes and gradient dtypes against torch."""

import numpy as np
import pytest

import ember
from ember import _C, nn

torch = pytest.importorskip("torch")
TF = torch.nn.functional

LOWP = [("float16", ember.float16, torch.float16), ("bfloat16", ember.bfloat16, torch.bfloat16)]
EPS = {"float16": 2.0**-10, "bfloat16": 2.0**-7}  # one unit in the last place, relative


def _name(dt) -> str:
    return str(dt).replace("torch.", "")


def _to(lib, a, dt):
    if lib is torch:
        return torch.from_numpy(np.array(a, order="C")).to(dt)
    return ember.tensor(a).to(dt)


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().float().numpy().astype(np.float64)
    return np.asarray(t.data, np.float32).astype(np.float64)


def _close(got, want, eps, ulps, what):
    """Within `ulps` units in the last place of the tensor's largest value (both libraries
    round the same float32 result; only the order of float32 sums differs)."""
    scale = max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-3)
    np.testing.assert_allclose(got, want, rtol=ulps * eps, atol=ulps * eps * scale, err_msg=what)


rng = np.random.default_rng(0)


def _F(L):  # noqa: N802 (the functional module's usual name)
    return L.nn.functional


def _r(*shape, lo=None):
    a = rng.standard_normal(shape).astype(np.float32)
    return np.abs(a) + lo if lo is not None else a


# (name, fn(lib, *tensors) -> tensor, input shapes, tolerance in units in the last place)
CASES = [
    ("linear", lambda L, x, w, b: _F(L).linear(x, w, b), [(4, 8), (5, 8), (5,)], 4),
    ("conv1d", lambda L, x, w, b: _F(L).conv1d(x, w, b, padding=1),
      [(2, 3, 9), (4, 3, 3), (4,)], 4),
    ("conv2d", lambda L, x, w, b: _F(L).conv2d(x, w, b, stride=2),
      [(2, 3, 7, 7), (4, 3, 3, 3), (4,)], 4),
    ("conv3d", lambda L, x, w: _F(L).conv3d(x, w), [(1, 2, 4, 4, 4), (3, 2, 2, 2, 2)], 4),
    ("conv_transpose2d", lambda L, x, w: _F(L).conv_transpose2d(x, w, stride=2),
      [(2, 3, 4, 4), (3, 2, 3, 3)], 4),
    ("max_pool2d", lambda L, x: _F(L).max_pool2d(x, 2), [(2, 3, 6, 6)], 1),
    ("avg_pool2d", lambda L, x: _F(L).avg_pool2d(x, 3, 1, 1), [(2, 3, 6, 6)], 2),
    ("adaptive_avg_pool2d", lambda L, x: _F(L).adaptive_avg_pool2d(x, 2), [(2, 3, 5, 5)], 2),
    ("layer_norm", lambda L, x, w, b: _F(L).layer_norm(x, (6,), w, b), [(4, 6), (6,), (6,)], 8),
    ("group_norm", lambda L, x: _F(L).group_norm(x, 2), [(2, 4, 5)], 8),
    ("batch_norm", lambda L, x, w, b: _F(L).batch_norm(x, None, None, w, b, training=True),
      [(8, 3), (3,), (3,)], 8),
    ("softmax", lambda L, x: _F(L).softmax(x, -1), [(4, 7)], 4),
    ("log_softmax", lambda L, x: _F(L).log_softmax(x, -1), [(4, 7)], 4),
    ("gelu", lambda L, x: _F(L).gelu(x), [(5, 6)], 2),
    ("silu", lambda L, x: _F(L).silu(x), [(5, 6)], 2),
    ("tanh", lambda L, x: L.tanh(x), [(5, 6)], 2),
    ("mse_loss", lambda L, x, y: _F(L).mse_loss(x, y), [(4, 5), (4, 5)], 8),
    ("smooth_l1_loss", lambda L, x, y: _F(L).smooth_l1_loss(x, y), [(4, 5), (4, 5)], 8),
    ("bce_with_logits", lambda L, x, y: _F(L).binary_cross_entropy_with_logits(x, y.sigmoid()),
      [(4, 5), (4, 5)], 8),
    ("sdpa", lambda L, q, k, v: _F(L).scaled_dot_product_attention(q, k, v, is_causal=True),
      [(2, 3, 5, 4)] * 3, 8),
    ("matmul", lambda L, a, b: a @ b, [(2, 3, 6), (6, 4)], 4),
    ("bmm", lambda L, a, b: L.bmm(a, b), [(2, 3, 6), (2, 6, 4)], 4),
    ("einsum", lambda L, a, b: L.einsum("ij,jk->ik", a, b), [(3, 6), (6, 4)], 4),
    ("sum_mean", lambda L, x: x.sum(0) + x.mean(1).sum(), [(20, 6)], 8),
    ("exp_mul_div", lambda L, x, y: x.exp() * y / 3.0 - 1.5, [(4, 5), (4, 5)], 4),
    ("cumsum", lambda L, x: x.cumsum(1), [(3, 8)], 8),
    # long reductions: summed in float32 (in 16 bits a sum of thousands stalls or overflows)
    ("long_sum", lambda L, x: x.sum(1) + x.sum(), [(4, 3000)], 4),
    ("long_mean", lambda L, x: x.mean(0) + x.mean(), [(3000, 3)], 4),
    ("long_norm", lambda L, x: (x * 30).norm(dim=1), [(4, 3000)], 4),
    ("long_logsumexp", lambda L, x: x.logsumexp(1), [(4, 3000)], 4),
    ("long_cumsum", lambda L, x: x.cumsum(1)[:, -5:], [(2, 3000)], 8),
    ("interpolate", lambda L, x: _F(L).interpolate(x, scale_factor=2, mode="bilinear"),
      [(1, 2, 3, 3)], 4),
]  # fmt: skip


@pytest.mark.parametrize("name,fn,shapes,ulps", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_ops_forward_backward_match_torch(name, fn, shapes, ulps, dname, edt, tdt):
    arrays = [_r(*s) for s in shapes]
    outs, grads = {}, {}
    for lib, dt in ((ember, edt), (torch, tdt)):
        xs = [_to(lib, a, dt).requires_grad_() for a in arrays]
        y = fn(lib, *xs)
        g = _to(lib, np.random.default_rng(1).standard_normal(tuple(y.shape)), y.dtype)
        y.backward(g)
        outs[lib], grads[lib] = y, [x.grad for x in xs]
    assert outs[ember].dtype == edt and _name(outs[torch].dtype) == dname
    _close(_np(outs[ember]), _np(outs[torch]), EPS[dname], ulps, f"{name} forward")
    for k, (ge, gt) in enumerate(zip(grads[ember], grads[torch])):
        assert ge.dtype == edt and _name(gt.dtype) == dname
        _close(_np(ge), _np(gt), EPS[dname], 2 * ulps, f"{name} grad of input {k}")


def _sync(em, tm, edt, tdt):
    """The torch module gets the ember module's (float32) weights; both are cast after."""
    sd = {k: torch.from_numpy(np.array(v.data, np.float32)) for k, v in em.state_dict().items()}
    tm.load_state_dict(sd)
    return em.to(edt), tm.to(tdt)


MODULES = [
    ("lstm", lambda L: L.nn.LSTM(4, 5, batch_first=True), (2, 3, 4)),
    ("gru", lambda L: L.nn.GRU(4, 5, num_layers=2), (3, 2, 4)),
    ("rnn", lambda L: L.nn.RNN(4, 5), (3, 2, 4)),
    ("mha", lambda L: L.nn.MultiheadAttention(8, 2, batch_first=True), (2, 3, 8)),
    ("encoder_layer",
     lambda L: L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0, batch_first=True), (2, 3, 8)),
    ("conv_bn_relu", lambda L: L.nn.Sequential(L.nn.Conv2d(2, 4, 3, bias=False),
                                               L.nn.BatchNorm2d(4), L.nn.ReLU(), L.nn.MaxPool2d(2)),
      (2, 2, 6, 6)),
    ("embedding_bag", lambda L: L.nn.EmbeddingBag(10, 4, mode="mean"), None),
]  # fmt: skip


@pytest.mark.parametrize("name,make,shape", MODULES, ids=[m[0] for m in MODULES])
@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_modules_match_torch(name, make, shape, dname, edt, tdt):
    ember.manual_seed(0)
    em, tm = _sync(make(ember), make(torch), edt, tdt)
    if shape is None:
        idx = np.array([[1, 2, 3], [4, 5, 9]])
        ye, yt = em(ember.tensor(idx)), tm(torch.from_numpy(idx))
    else:
        x = _r(*shape)
        xe, xt = _to(ember, x, edt), _to(torch, x, tdt)
        args = (xe, xe, xe) if name == "mha" else (xe,)
        targs = (xt, xt, xt) if name == "mha" else (xt,)
        ye, yt = em(*args), tm(*targs)
    ye, yt = (ye[0], yt[0]) if isinstance(ye, tuple) else (ye, yt)
    assert ye.dtype == edt and _name(yt.dtype) == dname
    _close(_np(ye), _np(yt), EPS[dname], 16, f"{name} forward")
    g = np.random.default_rng(2).standard_normal(tuple(ye.shape))
    ye.backward(_to(ember, g, edt))
    yt.backward(_to(torch, g, tdt))
    tparams = dict(tm.named_parameters())
    for k, p in em.named_parameters():
        assert p.grad.dtype == edt and _name(tparams[k].grad.dtype) == dname, k
        _close(_np(p.grad), _np(tparams[k].grad), EPS[dname], 32, f"{name} grad {k}")


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_losses_with_class_targets_match_torch(dname, edt, tdt):
    x, t = _r(6, 5), np.array([0, 1, 4, 2, 3, 1])
    for name in ("cross_entropy", "nll_loss"):
        res = []
        for lib, dt in ((ember, edt), (torch, tdt)):
            xl = _to(lib, x, dt).requires_grad_()
            inp = lib.nn.functional.log_softmax(xl, -1) if name == "nll_loss" else xl
            y = getattr(lib.nn.functional, name)(inp, _to(lib, t, None) if lib is torch else
                                                 ember.tensor(t))  # fmt: skip
            y.backward()
            res.append((y, xl.grad))
        (ye, ge), (yt, gt) = res
        assert ye.dtype == edt and ge.dtype == edt and _name(yt.dtype) == dname
        _close(_np(ye), _np(yt), EPS[dname], 8, name)
        _close(_np(ge), _np(gt), EPS[dname], 8, name)


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_factories_and_init_draw_in_the_dtype(dname, edt, tdt):
    for t in (
        ember.randn(200, 50, dtype=edt),
        ember.rand(3, dtype=edt),
        ember.randint(0, 5, (3,), dtype=edt),
        ember.zeros(2, dtype=edt),
        ember.full((2,), 1.5, dtype=edt),
        ember.randn_like(ember.zeros(2, dtype=edt)),
        ember.rand_like(ember.zeros(2, dtype=edt)),
        ember.zeros(4, dtype=edt).normal_(),
        ember.zeros(4, dtype=edt).uniform_(),
        nn.init.kaiming_uniform_(ember.zeros(4, 4, dtype=edt)),
        nn.init.xavier_normal_(ember.zeros(4, 4, dtype=edt)),
        nn.init.trunc_normal_(ember.zeros(4, 4, dtype=edt)),
        nn.init.orthogonal_(ember.zeros(4, 4, dtype=edt)),
        nn.Linear(3, 2).to(edt).weight,
    ):
        assert t.dtype == edt and t.is_floating_point()
    z = np.asarray(ember.randn(200, 50, dtype=edt).data, np.float64)
    assert abs(z.mean()) < 0.05 and abs(z.std() - 1) < 0.05  # a standard normal, rounded
    u = np.asarray(ember.rand(10000, dtype=edt).data, np.float64)
    assert u.min() >= 0 and u.max() <= 1 and abs(u.mean() - 0.5) < 0.02


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_dtype_object_casts_and_finfo(dname, edt, tdt):
    x = ember.tensor([1.0, 2.5, -3.0])
    y = x.half() if dname == "float16" else x.bfloat16()
    assert y.dtype == edt and x.to(edt).dtype == edt and y.float().dtype == np.float32
    assert y.is_floating_point() and y.requires_grad_().requires_grad
    assert ember.tensor([0.1], dtype=edt).dtype == edt
    for attr in ("eps", "max", "tiny", "bits"):
        assert float(getattr(ember.finfo(edt), attr)) == float(getattr(torch.finfo(tdt), attr))
    assert f"dtype={dname}" in repr(y) and "1.0000" not in repr(ember.ones(1, dtype=edt))
    # the cast's gradient comes back in the source dtype
    a = ember.tensor([1.0, 2.0], requires_grad=True)
    a.to(edt).sum().backward()
    assert a.grad.dtype == np.float32


def test_type_promotion_matches_torch():
    pairs = [("float16", "float32"), ("bfloat16", "float32"), ("float16", "bfloat16"),
             ("float16", "int64"), ("bfloat16", "int32"), ("bfloat16", "float64"),
             ("float16", "bool")]  # fmt: skip
    for a, b in pairs:
        xa, xb = (
            ember.ones(2, dtype=getattr(ember, a)),
            ember.ones(2).to(getattr(ember, b + ("_" if b == "bool" else ""))),
        )
        ta, tb = torch.ones(2, dtype=getattr(torch, a)), torch.ones(2).to(getattr(torch, b))
        for op in (lambda u, v: u + v, lambda u, v: u * v, lambda u, v: u / v):
            got, want = op(xa, xb).dtype, op(ta, tb).dtype
            assert np.dtype(got).name == _name(want), (a, b, got, want)
    for a in ("float16", "bfloat16"):
        x = ember.ones(2, dtype=getattr(ember, a))
        assert (x + 1.5).dtype == x.dtype and (2 * x).dtype == x.dtype and (x / 3).dtype == x.dtype
        assert ember.cat([x, ember.ones(2)]).dtype == np.float32  # as torch.cat


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_a_half_model_trains_as_torch(dname, edt, tdt):
    """Three steps of Adam and of SGD with momentum on a half MLP: the parameters stay in the
    dtype and track torch's within a few units in the last place."""
    x, y = _r(16, 6), np.random.default_rng(3).integers(0, 3, 16)
    # Adam's default eps (1e-8) is 0 in float16 (torch's half Adam then divides 0 by 0), and a
    # small eps turns rounding noise in tiny gradients into whole steps: eps=0.1 compares
    for opt_name, kw in (("SGD", {"lr": 0.1, "momentum": 0.9}), ("Adam", {"lr": 1e-2, "eps": 0.1})):
        ember.manual_seed(0)
        make = lambda L: L.nn.Sequential(L.nn.Linear(6, 8), L.nn.Tanh(), L.nn.Linear(8, 3))  # noqa: E731
        em, tm = _sync(make(ember), make(torch), edt, tdt)
        eo = getattr(ember.optim, opt_name)(em.parameters(), **kw)
        to = getattr(torch.optim, opt_name)(tm.parameters(), **kw)
        losses = []
        for _ in range(3):
            for m, o, L, dt in ((em, eo, ember, edt), (tm, to, torch, tdt)):
                o.zero_grad()
                loss = _F(L).cross_entropy(
                    m(_to(L, x, dt)), _to(L, y, None) if L is torch else ember.tensor(y)
                )
                loss.backward()
                o.step()
                if L is ember:
                    losses.append(loss.item())
        assert losses[-1] < losses[0]
        for (k, pe), pt in zip(em.named_parameters(), tm.parameters()):
            assert pe.dtype == edt, k
            _close(_np(pe), _np(pt), EPS[dname], 16, f"{opt_name} {k}")


def test_kernels_take_16_bit_arrays_directly():
    """The one conversion point: a _C kernel given float16/bfloat16 arrays computes in float32
    and rounds; in-place kernels write back; mixed with float32 stays refused."""
    a, b = _r(5, 7), _r(7, 3)
    for dt in (np.float16, ember.bfloat16):
        c = _C.gemm(a.astype(dt), b.astype(dt))
        want = (a.astype(dt).astype(np.float32) @ b.astype(dt).astype(np.float32)).astype(dt)
        assert c.dtype == dt
        np.testing.assert_array_equal(c.astype(np.float32), want.astype(np.float32))
        out = np.zeros((5, 3), dt)
        _C.gemm(a.astype(dt), b.astype(dt), out, beta=1.0)  # in place through c
        np.testing.assert_array_equal(out.astype(np.float32), want.astype(np.float32))
        with pytest.raises(TypeError, match="gemm"):
            _C.gemm(a.astype(dt), b)
    with pytest.raises(TypeError, match="gemm"):
        _C.gemm(a.astype(np.int64), b.astype(np.int64))
    # float16 with bfloat16 stays refused too: one float32 run would read both alike and
    # round the result to the first's dtype (the Python layer promotes the pair to float32)
    with pytest.raises(TypeError, match="gemm"):
        _C.gemm(a.astype(np.float16), b.astype(ember.bfloat16))
    with pytest.raises(TypeError, match="cat: expected all tensors of dtype float16"):
        _C.concat([a.astype(np.float16), a.astype(ember.bfloat16)], 0)
    assert _C.gemm.__name__ == "gemm" and "gemm(" in _C.gemm.__doc__


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_what_torch_refuses_is_refused(dname, edt, tdt):
    a = np.eye(3, dtype=np.float32) * 2
    for name, args in (("inv", 1), ("det", 1), ("cholesky", 1), ("qr", 1), ("svd", 1),
                       ("eigh", 1), ("solve", 2), ("lstsq", 2), ("pinv", 1)):  # fmt: skip
        with pytest.raises(RuntimeError):
            getattr(torch.linalg, name)(*[_to(torch, a, tdt)] * args)
        with pytest.raises(TypeError, match=f"{name}: low-precision dtypes are not supported"):
            getattr(ember.linalg, name)(*[_to(ember, a, edt)] * args)
        with pytest.raises(RuntimeError):  # torch scripts catch RuntimeError
            getattr(ember.linalg, name)(*[_to(ember, a, edt)] * args)
    refused = (lambda L, x: L.quantile(x, 0.5), lambda L, x: L.cdist(x, x),
               lambda L, x: L.special.zeta(x + 1, x + 1))  # fmt: skip
    for L in (torch, ember):
        for f in refused:
            with pytest.raises(RuntimeError):
                f(L, _to(L, a, edt if L is ember else tdt))
    # what torch computes in the dtype, ember does too
    x = _to(ember, a, edt)
    assert ember.linalg.matrix_exp(x).dtype == edt and ember.linalg.norm(x).dtype == edt


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_weights_round_trip_with_torch(tmp_path, dname, edt, tdt):
    st = pytest.importorskip("safetensors.torch")
    w = _r(3, 4)
    path = tmp_path / "t.pt"
    torch.save({"w": _to(torch, w, tdt)}, path)
    got = ember.load(path)["w"]
    assert got.dtype == edt
    np.testing.assert_array_equal(_np(got), _np(_to(torch, w, tdt)))
    lin = nn.Linear(4, 3).to(edt)
    ember.io.save_state_dict(lin.state_dict(), tmp_path / "m.safetensors")
    sd = st.load_file(str(tmp_path / "m.safetensors"))
    assert _name(sd["weight"].dtype) == dname
    np.testing.assert_array_equal(_np(sd["weight"]), _np(lin.weight))
    back = ember.io.load_state_dict(tmp_path / "m.safetensors")
    assert np.asarray(back["weight"]).dtype == edt
    ember.save({"w": lin.weight}, tmp_path / "e.pt")
    assert ember.load(tmp_path / "e.pt")["w"].dtype == edt


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_default_dtype_can_be_16_bit_as_torchs(dname, edt, tdt):
    before, tbefore = ember.get_default_dtype(), torch.get_default_dtype()
    try:
        ember.set_default_dtype(edt)
        torch.set_default_dtype(tdt)
        for make in (lambda L: L.ones(2), lambda L: L.tensor([1.5]), lambda L: L.randn(2),
                     lambda L: L.arange(0.0, 3.0)):  # fmt: skip
            assert np.dtype(make(ember).dtype).name == _name(make(torch).dtype) == dname
    finally:
        ember.set_default_dtype(before)
        torch.set_default_dtype(tbefore)


@pytest.mark.parametrize(
    "low,high", [("bfloat16", "float32"), ("float16", "float32"), ("float32", "float64")]
)
def test_backward_through_a_promoting_op_as_torch(low, high):
    """A 16-bit layer's output added to a float32 residual: the gradient reaching the layer is
    cast back to its dtype, as torch's engine casts it (before, the layer's backward got a
    float32 gradient with 16-bit weights: 'gemm: dtypes differ')."""
    x, w, r = _r(3, 4), _r(5, 4), _r(5)
    res = []
    for L in (ember, torch):
        xl, wl = _to(L, x, None).requires_grad_(), _to(L, w, None).requires_grad_()
        dl, dh = getattr(L, low), getattr(L, high)
        y = _F(L).linear(xl.to(dl), wl.to(dl)) * 2 + _to(L, r, dh)
        y.sum().backward()
        res.append((y, xl.grad, wl.grad))
    for e, t in zip(*res):
        assert np.dtype(e.dtype).name == _name(t.dtype)
        _close(_np(e), _np(t), EPS.get(low, 2.0**-23), 4, "promoting op")


METHODS = """abs acos asin atan ceil cos cosh digamma erf erfc erfinv exp expm1 floor frac lgamma
log log1p log2 logit neg reciprocal relu round rsqrt sigmoid sign sin sinh sqrt square tanh trunc
sum mean std var prod amax argmax median nansum logsumexp:1 cumprod:1 logcumsumexp:1 cummax:1
softmax:1 norm flatten flip:0 roll:1 sort topk:2 kthvalue:2 unique msort""".split()
FUNCTIONAL = """relu6 elu selu celu gelu mish softplus softsign hardtanh hardswish hardsigmoid
logsigmoid leaky_relu hardshrink softshrink normalize local_response_norm:2 instance_norm
adaptive_max_pool1d:2 avg_pool1d:2 max_pool1d:2 lp_pool1d:2,2 glu softmin:1""".split()


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_method_and_functional_sweep_matches_torch(dname, edt, tdt):
    a = np.random.default_rng(4).uniform(0.1, 0.9, (2, 4, 6)).astype(np.float32)
    e, t = _to(ember, a, edt), _to(torch, a, tdt)
    calls = [(n, lambda L, x, n=n, args=args: getattr(x, n)(*args)) for n, args in
             ((s.partition(":")[0], [int(v) for v in s.partition(":")[2].split(",") if v])
              for s in METHODS)]  # fmt: skip
    calls += [(n, lambda L, x, n=n, args=args: getattr(_F(L), n)(x, *args)) for n, args in
              ((s.partition(":")[0], [int(v) for v in s.partition(":")[2].split(",") if v])
               for s in FUNCTIONAL)]  # fmt: skip
    for name, call in calls:
        ye, yt = call(ember, e), call(torch, t)
        ye, yt = (ye[0], yt[0]) if isinstance(yt, tuple) else (ye, yt)
        assert np.dtype(ye.dtype).name == _name(yt.dtype), name
        if yt.dtype.is_floating_point:
            _close(_np(ye), _np(yt), EPS[dname], 4, name)


OPTIMIZERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"lr": 0.01, "eps": 0.1, "amsgrad": True}),
    ("AdamW", {"lr": 0.01, "eps": 0.1}),
    ("Adagrad", {"lr": 0.1, "eps": 0.1}),
    ("Adadelta", {"lr": 1.0, "eps": 0.1}),
    ("RMSprop", {"lr": 0.01, "eps": 0.1, "centered": True, "momentum": 0.5}),
    ("Adamax", {"lr": 0.01, "eps": 0.1}),
    ("NAdam", {"lr": 0.01, "eps": 0.1}),
    ("RAdam", {"lr": 0.01, "eps": 0.1}),
    ("ASGD", {"lr": 0.01}),
    ("Rprop", {"lr": 0.01}),
]


@pytest.mark.parametrize("name,kw", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_optimizers_step_16_bit_parameters_as_torch(name, kw, dname, edt, tdt):
    """Three steps with given gradients (the fused kernels update 16-bit parameters and state
    in place through float32 copies): the parameters stay 16-bit and track torch's."""
    w0, grads = _r(4, 3), [_r(4, 3) for _ in range(3)]
    pe, pt = nn.Parameter(_to(ember, w0, edt)), torch.nn.Parameter(_to(torch, w0, tdt))
    oe, ot = getattr(ember.optim, name)([pe], **kw), getattr(torch.optim, name)([pt], **kw)
    for g in grads:
        pe.grad, pt.grad = _to(ember, g, edt), _to(torch, g, tdt)
        oe.step()
        ot.step()
    assert pe.dtype == edt
    _close(_np(pe), _np(pt), EPS[dname], 8, name)


def test_assert_close_uses_torchs_16_bit_tolerances():
    for close, far in ((1.01, 1.05), (1.0005, 1.004)):
        for L, dt in ((ember, ember.bfloat16), (torch, torch.bfloat16)) if close == 1.01 else (
            (ember, ember.float16), (torch, torch.float16)):  # fmt: skip
            one = L.ones(2).to(dt)
            L.testing.assert_close(one, (L.ones(2) * close).to(dt))
            with pytest.raises(AssertionError):
                L.testing.assert_close(one, (L.ones(2) * far).to(dt))


@pytest.mark.parametrize("dname,edt,tdt", LOWP, ids=[d[0] for d in LOWP])
def test_floor_division_and_remainder_follow_torchs_float_rules(dname, edt, tdt):
    a = np.array([-2.5, -0.0, 0.7, 3.0, np.inf, 5.0], np.float32)
    b = np.array([0.3, -0.4, 0.3, -0.7, 2.0, 0.0], np.float32)
    (xe, ye), (xt, yt) = [(_to(L, a, d), _to(L, b, d)) for L, d in ((ember, edt), (torch, tdt))]
    for name, f in (("floor_divide", lambda x, y: x // y), ("remainder", lambda x, y: x % y),
                    ("fmod", lambda x, y: x.fmod(y))):  # fmt: skip
        got, want = f(xe, ye), f(xt, yt)
        assert got.dtype == edt, name
        np.testing.assert_array_equal(_np(got), _np(want), err_msg=name)
    assert ember.testing.make_tensor((2,), dtype=edt, requires_grad=True).requires_grad
