"""Regressions from a differential hunt against torch 2.13's OpInfo samples (op_db), wider than
session 22's: nn.functional ops, aliases, integer dtypes, non-contiguous inputs, gradgrad."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")
F = ember.nn.functional


def _e(t, grad=False):
    return ember.tensor(t.detach().numpy().copy(), requires_grad=grad)


def _close(e, t, tol=1e-10):
    t = t.detach().numpy()
    e = np.asarray(e.detach().numpy())
    assert e.dtype == t.dtype and e.shape == t.shape
    np.testing.assert_allclose(e, t, atol=tol, rtol=tol)


def _grads(lib, outs, leaves, cots, create):
    if lib is torch:
        return torch.autograd.grad(outs, leaves, cots, create_graph=create, allow_unused=True)
    return ember.autograd.grad(outs, leaves, cots, create_graph=create, allow_unused=True)


def _first_and_second(tfn, efn, shapes, seed):
    """torch's and ember's first and second (grad of a random-weighted first grad) gradients."""
    g = torch.Generator().manual_seed(seed)
    ts = [torch.randn(s, dtype=torch.float64, generator=g, requires_grad=True) for s in shapes]
    es = [_e(t, True) for t in ts]
    to, eo = tfn(*ts), efn(*es)
    _close(eo, to)
    c1 = torch.randn(to.shape, dtype=torch.float64, generator=g)
    tg = _grads(torch, to, ts, c1, True)
    eg = _grads(ember, eo, es, _e(c1), True)
    c2 = [torch.randn(s, dtype=torch.float64, generator=g) for s in shapes]
    # a first gradient constant in the inputs (a bias's) may have no graph: it adds nothing
    tl = [(v, c) for v, c in zip(tg, c2, strict=True) if v.requires_grad]
    el = [(v, _e(c)) for v, c in zip(eg, c2, strict=True) if v.requires_grad]
    tgg = _grads(torch, [v for v, _ in tl], ts, [c for _, c in tl], False)
    egg = _grads(ember, [v for v, _ in el], es, [c for _, c in el], False)
    tgg = [torch.zeros_like(t) if v is None else v for v, t in zip(tgg, ts, strict=True)]
    egg = [ember.zeros_like(e) if v is None else v for v, e in zip(egg, es, strict=True)]
    for a, b in zip(eg + tuple(egg), tg + tuple(tgg), strict=True):
        _close(a, b, 1e-9)


@pytest.mark.parametrize(
    "s1, s2, dim", [((1, 2, 3), (2, 1, 3), -2), ((2, 3), (2, 1, 3), -1), ((2, 1, 3), (2, 3), -1)]
)
def test_cosine_similarity_gradgrad_of_broadcast_inputs(s1, s2, dim):
    # the create_graph backward took norms of the unbroadcast inputs (wrong, or an IndexError)
    _first_and_second(
        lambda a, b: torch.nn.functional.cosine_similarity(a, b, dim),
        lambda a, b: F.cosine_similarity(a, b, dim),
        [s1, s2],
        0,
    )


@pytest.mark.parametrize(
    "name", ["softmax", "softmin", "log_softmax", "silu", "mish", "gelu", "elu", "softplus"]
)
def test_0d_gradient_summed_from_two_uses_reaches_the_kernel_as_an_array(name):
    # two 0-d gradients add to a NumPy scalar, which the _C backward kernels refused
    args = (0,) if "soft" in name and name != "softplus" else ()
    x = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    e = _e(x, True)
    z = getattr(torch.nn.functional, name)(x, *args)
    (z * z).backward()
    y = getattr(F, name)(e, *args)
    (y * y).backward()
    _close(e.grad, x.grad)


def test_softmin_of_a_0d_input_has_a_second_derivative():
    _first_and_second(
        lambda a: torch.nn.functional.softmin(a, 0), lambda a: F.softmin(a, 0), [()], 1
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8", "bool"])
@pytest.mark.parametrize(
    "shape, pad",
    [((2, 5), (1, 2)), ((2, 4, 3), (1, -1, 2, 1)), ((1, 2, 3, 3, 4), (1, 1, 1, 2, 1, 1))],
)
def test_pad_edge_modes_take_integer_inputs_as_torch(mode, dtype, shape, pad):
    g = torch.Generator().manual_seed(2)
    t = torch.randint(0, 9, shape, generator=g).to(getattr(torch, dtype))
    if dtype == "bool" and mode != "circular":  # torch has no bool reflect / replicate kernel
        with pytest.raises(TypeError, match="floating point"):
            F.pad(_e(t), pad, mode)
        return
    want = torch.nn.functional.pad(t, pad, mode)
    got = F.pad(_e(t), pad, mode)
    assert got.dtype == want.numpy().dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def _t(*shape, dtype=np.float32):
    return ember.tensor(np.ones(shape, dtype))


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: F.adaptive_avg_pool2d(_t(1, 2, 3, 4), []), "output_size"),
        (lambda: F.adaptive_max_pool3d(_t(1, 1, 1, 1, 1), [-1, 0, 2]), "non-negative"),
        (lambda: F.adaptive_max_pool1d(_t(1, 2, 3), []), "output_size"),
        (lambda: F.avg_pool3d(_t(3, 3, 3, 3), [2, 2, 2], divisor_override=0), "divisor"),
        (lambda: F.group_norm(_t(2, 7, 4), 2), "divisible"),
        (lambda: F.group_norm(_t(1), 1), "2-D"),
        (lambda: F.rms_norm(_t(1, 2, 3), [], None, 1e-5), "non-empty"),
        (lambda: F.rms_norm(_t(2, 2, 3), [2, 2], None, 1e-5), "normalized_shape"),
        (lambda: F.margin_ranking_loss(_t(5, 4), _t(5, 4), _t(5)), "number of dims"),
        (lambda: F.soft_margin_loss(_t(5, 4), _t(5)), "differ"),
        (lambda: F.gelu(_t(2), approximate="asdf"), "approximate"),
        (lambda: F.prelu(_t(2, 8, 3), _t(2, 4)), "1-D"),
        (lambda: F.linear_cross_entropy(_t(2, 3, 3), _t(2, 3), _t(3, 2)), "dimensionality"),
        (lambda: F.multi_margin_loss(_t(5, 3), _t(5)), "integers"),
        (lambda: F.multilabel_margin_loss(_t(5, 4), _t(5, 4)), "integer"),
    ],
)
def test_op_db_error_inputs_raise_runtime_errors_as_torch(call, match):
    # torch's error_inputs expect RuntimeError: ember's errors are both (ember._errors)
    with pytest.raises(RuntimeError, match=match):
        call()


@pytest.mark.parametrize("dtype", ["int64", "int32", "uint8"])
@pytest.mark.parametrize(
    "xs, ws, bs", [((2, 1, 2, 1, 2), (4, 2), (4,)), ((3,), (4, 3), None), ((5, 3), (3,), None)]
)
def test_linear_of_integer_tensors_as_torch(dtype, xs, ws, bs):
    g = torch.Generator().manual_seed(3)
    x, w = (torch.randint(0, 5, s, generator=g).to(getattr(torch, dtype)) for s in (xs, ws))
    b = None if bs is None else torch.randint(0, 5, bs, generator=g).to(x.dtype)
    want = torch.nn.functional.linear(x, w, b)
    got = F.linear(_e(x), _e(w), None if b is None else _e(b))
    assert got.dtype == want.numpy().dtype
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("xs, args", [((1, 2, 5, 5), (3,)), ((2, 5, 6), ((2, 3), 2, 1, 2))])
def test_unfold_of_a_bool_mask_as_torch(xs, args):
    x = torch.randint(0, 2, xs, generator=torch.Generator().manual_seed(4)).bool()
    got = F.unfold(_e(x), *args)
    want = torch.nn.functional.unfold(x, *args)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_frexp_mantissa_carries_a_gradient_as_torch(dtype):
    g = torch.Generator().manual_seed(5)
    x = torch.randn(20, dtype=dtype, generator=g) * 100
    x[0] = 0
    x.requires_grad_()
    c = torch.randn(20, dtype=dtype, generator=g)
    m, e = torch.frexp(x)
    (want,) = torch.autograd.grad(m, x, c)
    ex = _e(x, True)
    em, ee = ember.frexp(ex)
    np.testing.assert_array_equal(em.detach().numpy(), m.detach().numpy())
    np.testing.assert_array_equal(ee.numpy(), e.numpy())
    (got,) = ember.autograd.grad(em, ex, _e(c))
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ember.narrow(_t(), 0, 0, 1), "0-dim"),  # was an IndexError of a tuple index
        (lambda: ember.narrow_copy(_t(), 0, 0, 1), "0-dim"),
        (lambda: ember.cov(_t(5, 5, 5)), "1-D or 2-D"),
        (lambda: ember.cov(_t(5), fweights=_t(5)), "integers"),
        (lambda: ember.diag(_t(), 0), "1-D or 2-D"),
        (lambda: ember.diff(_t(1, 3), -1), "non-negative"),
        (lambda: ember.dot(_t(1), _t(3)), "1-D"),
        (lambda: ember.vdot(_t(1), _t(3)), "1-D"),
        (lambda: ember.fliplr(_t(1)), "2 dims"),
        (lambda: ember.flipud(_t()), "1 dim"),
        (lambda: ember.isclose(_t(), _t(), rtol=-0.4), "greater than or equal"),
        (lambda: ember.masked_fill(_t(2, 2), ember.tensor(True), _t(1)), "0-d"),
        (lambda: ember.masked_scatter(_t(1, 3), _t(1, 3), _t(3, 4)), "bool"),
        (lambda: ember.gradient(_t(3, 3), spacing=[0.1], dim=[1, 0]), "spacing"),
    ],
)
def test_op_db_error_inputs_of_tensor_ops_raise_runtime_errors_as_torch(call, match):
    with pytest.raises(RuntimeError, match=match):
        call()


_TF, _EF = torch.nn.functional, F
# (name, args after the tensors, tensor shapes): a seeded sample of op_db configurations that
# agree with torch in forward, first and second derivatives (float64)
_AGREE = [
    (
        "layer_norm",
        lambda m, x, w, b: m.layer_norm(x, [2, 3], w, b, eps=0.5),
        [(4, 2, 3), (2, 3), (2, 3)],
    ),
    ("group_norm", lambda m, x, w, b: m.group_norm(x, 2, w, b), [(3, 4, 5), (4,), (4,)]),
    (
        "conv2d",
        lambda m, x, w, b: m.conv2d(x, w, b, stride=(2, 1), padding=1, groups=2),
        [(2, 4, 5, 5), (4, 2, 3, 3), (4,)],
    ),
    (
        "conv_transpose1d",
        lambda m, x, w: m.conv_transpose1d(x, w, stride=2),
        [(2, 3, 4), (3, 2, 3)],
    ),
    ("pad_reflect", lambda m, x: m.pad(x, (1, 2, 2, 0), "reflect"), [(2, 3, 4, 5)]),
    ("softmin", lambda m, x: m.softmin(x, 1), [(3, 4)]),
    ("glu", lambda m, x: m.glu(x, -1), [(3, 4)]),
    ("bilinear", lambda m, a, b, w: m.bilinear(a, b, w), [(3, 2), (3, 4), (5, 2, 4)]),
    ("smooth_l1", lambda m, a, b: m.smooth_l1_loss(a, b, beta=0.5), [(4, 3), (4, 3)]),
    ("mish", lambda m, x: m.mish(x), [(4, 3)]),
    ("logsigmoid", lambda m, x: m.logsigmoid(x), [(4, 3)]),
    ("pairwise_distance", lambda m, a, b: m.pairwise_distance(a, b, 3.0), [(4, 3), (4, 3)]),
]


@pytest.mark.parametrize("name, fn, shapes", _AGREE, ids=[a[0] for a in _AGREE])
def test_op_db_sample_configurations_agree_to_second_order(name, fn, shapes):
    _first_and_second(lambda *a: fn(_TF, *a), lambda *a: fn(_EF, *a), shapes, len(name))


@pytest.mark.parametrize("name, fn, shapes", _AGREE, ids=[a[0] for a in _AGREE])
def test_op_db_sample_configurations_agree_on_strided_inputs(name, fn, shapes):
    g = torch.Generator().manual_seed(len(name) + 1)
    ts = [torch.randn(s, dtype=torch.float64, generator=g) for s in shapes]
    # every other element of a wider array: non-contiguous views of the same values
    es = [ember.tensor(np.stack([t.numpy(), np.zeros(t.shape)], -1))[..., 0] for t in ts]
    assert not es[0].is_contiguous()
    _close(fn(_EF, *es), fn(_TF, *ts))


@pytest.mark.parametrize("shape, group", [((2, 6, 3), 2), ((3, 4), 4), ((0, 2), 1)])
def test_native_group_norm_statistics_are_differentiable_outputs(shape, group):
    g = torch.Generator().manual_seed(6)
    n, c = shape[:2]
    hxw = int(np.prod(shape[2:], dtype=np.int64))
    ts = [
        torch.randn(s, dtype=torch.float64, generator=g, requires_grad=True)
        for s in (shape, (c,), (c,))
    ]
    es = [_e(t, True) for t in ts]
    to = torch.native_group_norm(*ts, n, c, hxw, group, 0.5)
    eo = ember.native_group_norm(*es, n, c, hxw, group, 0.5)
    cots = [torch.randn(o.shape, dtype=torch.float64, generator=g) for o in to]
    for a, b in zip(eo, to, strict=True):
        _close(a, b)
    tg = torch.autograd.grad(to, ts, cots)
    eg = ember.autograd.grad(eo, es, [_e(c) for c in cots])
    for a, b in zip(eg, tg, strict=True):
        _close(a, b)
