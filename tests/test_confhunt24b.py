"""Pins from the confhunt24b configuration sweep against PyTorch: normalisation layers,
indexing, binary-op type promotion and the reductions' integer ``dtype=``."""

import functools

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _close(got, want, rtol=1e-9, atol=1e-11):
    np.testing.assert_allclose(np.asarray(got.detach().numpy()), want.detach().numpy(), rtol, atol)


@pytest.mark.parametrize("op", ["sum", "nansum", "prod", "cumsum", "cumprod"])
@pytest.mark.parametrize(
    "dtype, name",
    [("int64", "Long"), ("int32", "Int"), ("int16", "Short"), ("int8", "Char"), ("uint8", "Byte")],
)
@pytest.mark.parametrize("method", [False, True])
def test_integer_dtype_of_an_input_requiring_grad_is_refused(op, dtype, name, method):
    # no gradient could flow back through an integer result: torch refuses it, where ember
    # returned a result that silently dropped the graph
    kw = {"dim": 0} if op.startswith("cum") else {}
    outs = []
    for lib in (torch, ember):
        x = lib.tensor([1.5, 2.0, -3.0], requires_grad=True)
        f = getattr(x, op) if method else functools.partial(getattr(lib, op), x)
        with pytest.raises(RuntimeError, match=f"Autograd not support dtype: {name}"):
            f(dtype=getattr(lib, dtype), **kw)
        with lib.no_grad():  # outside the graph the cast result is fine
            outs.append(f(dtype=getattr(lib, dtype), **kw))
    assert str(outs[1].dtype) == dtype and not outs[1].requires_grad
    np.testing.assert_array_equal(outs[1].numpy(), outs[0].numpy())


@pytest.mark.parametrize("op", ["sum", "prod"])
def test_bool_dtype_of_an_input_requiring_grad_is_refused(op):
    for lib in (torch, ember):
        x = lib.tensor([1.5, 0.0], requires_grad=True)
        with pytest.raises(RuntimeError, match="Autograd not support dtype: Bool"):
            getattr(lib, op)(x, dtype=lib.bool)
    # a float dtype= keeps the graph
    x = ember.tensor([1.5, 2.0], requires_grad=True)
    ember.sum(x, dtype=ember.float32).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 1.0])


@pytest.mark.parametrize(
    "shape, index",
    [
        ((1, 2, 2, 4), (None, False, None)),
        ((3, 4), (slice(None), False, None)),
        ((2, 3, 4), (None, True, 1)),
        ((2, 3), (None, True, Ellipsis, 0)),
    ],
)
def test_bool_scalar_beside_none_in_an_index(shape, index):
    # a bool scalar adds a dim of size 1 or 0, as None does, and consumes none of x's: ember
    # counted it as an int (wrong Ellipsis width) and failed to squeeze its size-0 dim
    a = np.random.default_rng(0).standard_normal(shape)
    tx, ex = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)
    to, eo = tx[index], ex[index]
    assert eo.shape == tuple(to.shape)
    _close(eo, to, 0, 0)
    g = np.random.default_rng(1).standard_normal(tuple(to.shape))
    to.backward(torch.tensor(g))
    eo.backward(ember.tensor(g))
    _close(ex.grad, tx.grad, 0, 0)


@pytest.mark.parametrize("index", [(False, 1), (0, False), (True, 0), (False, Ellipsis)])
def test_setitem_with_a_bool_scalar_on_a_graph_tensor(index):
    # naming the node compared the key's parts with slice(None): a bool turned into an empty
    # array there, and `==` on it raised "truth value of an empty array is ambiguous"
    a = np.arange(8.0).reshape(4, 2)
    outs = []
    for lib in (torch, ember):
        x = lib.tensor(a, requires_grad=True)
        z = x * 1.0
        z[index] = 2.5
        (z * lib.tensor(np.arange(8.0).reshape(4, 2))).sum().backward()
        outs.append((z, x.grad))
    _close(outs[1][0], outs[0][0], 0, 0)
    _close(outs[1][1], outs[0][1], 0, 0)


@pytest.mark.parametrize(
    "dim_dtype, want",
    [("bfloat16", "complex64"), ("float32", "complex64"), ("float64", "complex128")],
)
def test_zero_dim_complex_meeting_a_dimensioned_float(dim_dtype, want):
    # torch: the complex of the dimensioned float's width; ember widened bfloat16 (NumPy kind
    # "V", not "f") to the 0-d operand's complex128
    a = torch.ones(2, dtype=getattr(torch, dim_dtype))
    b = torch.tensor(1 + 1j, dtype=torch.complex128)
    assert str(torch.result_type(a, b)) == f"torch.{want}"
    ea = ember.ones(2, dtype=getattr(ember, dim_dtype))
    eb = ember.tensor(1 + 1j, dtype=ember.complex128)
    assert str(ember.result_type(ea, eb)) == want
    assert str((ea * eb).dtype) == want and str((eb + ea).dtype) == want


# ---- fixed-seed samples of each family ----------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_batchnorm_sample_several_steps(seed):
    r = np.random.default_rng(seed)
    cfg = dict(momentum=[0.1, None, 0.5][seed], affine=seed != 1, track_running_stats=True)
    shape = [(4, 3), (3, 3, 5), (2, 3, 2, 2)][seed]
    kind = ["BatchNorm1d", "BatchNorm1d", "BatchNorm2d"][seed]
    mods = [getattr(lib.nn, kind)(3, dtype=lib.float64, **cfg) for lib in (torch, ember)]
    for train in (True, True, False, True):
        x = r.standard_normal(shape) * 2 + 1
        g = r.standard_normal(shape)
        res = []
        for lib, m in zip((torch, ember), mods):
            m.train(train)
            xt = lib.tensor(x, requires_grad=True)
            (m(xt) * lib.tensor(g)).sum().backward()
            res.append((m(xt), xt.grad, m.running_mean, m.running_var))
        for e, t in zip(res[1], res[0]):
            _close(e, t, 1e-9, 1e-10)
        assert int(mods[1].num_batches_tracked) == int(mods[0].num_batches_tracked)
    if cfg["affine"]:
        _close(mods[1].weight.grad, mods[0].weight.grad, 1e-9, 1e-10)


@pytest.mark.parametrize(
    "kind, args, shape",
    [
        ("GroupNorm", (2, 4), (2, 4, 3)),
        ("InstanceNorm2d", (3,), (3, 2, 2)),  # unbatched
        ("LayerNorm", ((2, 3),), (4, 2, 3)),
        ("RMSNorm", (3,), (2, 3)),
    ],
)
def test_norm_module_sample(kind, args, shape):
    r = np.random.default_rng(5)
    x = r.standard_normal(shape)
    g = r.standard_normal(shape)
    res = []
    for lib in (torch, ember):
        m = getattr(lib.nn, kind)(*args, dtype=lib.float64)
        with lib.no_grad():
            for p in m.parameters():
                p.copy_(lib.tensor(np.random.default_rng(7).standard_normal(tuple(p.shape))))
        xt = lib.tensor(x, requires_grad=True)
        y = m(xt)
        (y * lib.tensor(g)).sum().backward()
        res.append([y, xt.grad] + [p.grad for p in m.parameters()])
    for e, t in zip(res[1], res[0]):
        _close(e, t, 1e-9, 1e-10)


@pytest.mark.parametrize(
    "index",
    [
        (slice(None, None, 2), [0, 2]),
        ([1, 0], slice(None), [2, 2]),  # advanced indices split by a slice: moved to the front
        (Ellipsis, -1, None),
        (np.array([[True, False, True], [False, True, True]]),),
    ],
)
def test_indexing_sample(index):
    a = np.random.default_rng(2).standard_normal((2, 3, 4))
    key = tuple(torch.tensor(k) if isinstance(k, np.ndarray) else k for k in index)
    ekey = tuple(ember.tensor(k) if isinstance(k, np.ndarray) else k for k in index)
    tx, ex = torch.tensor(a, requires_grad=True), ember.tensor(a, requires_grad=True)
    to, eo = tx[key], ex[ekey]
    _close(eo, to, 0, 0)
    to.sum().backward()
    eo.sum().backward()
    _close(ex.grad, tx.grad, 0, 0)


def test_index_put_accumulate_duplicates_sample():
    outs = []
    for lib in (torch, ember):
        x = lib.zeros(3, 2, dtype=lib.float64)
        v = lib.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=lib.float64, requires_grad=True)
        y = x.index_put((lib.tensor([0, 2, 0]),), v, accumulate=True)
        (y * lib.tensor([[1.0, -1.0], [2.0, 0.5], [3.0, 4.0]], dtype=lib.float64)).sum().backward()
        outs.append((y, v.grad))
    _close(outs[1][0], outs[0][0], 0, 0)
    _close(outs[1][1], outs[0][1], 0, 0)


@pytest.mark.parametrize(
    "a_dtype, b",
    [
        ("uint8", ("int8", ())),
        ("int16", ("float64", ())),
        ("bool", 2.5),
        ("float16", ("float32", (3,))),
        ("int32", True),
        ("bfloat16", ("int64", (3,))),
    ],
)
@pytest.mark.parametrize("op", ["add", "mul", "maximum", "floor_divide", "eq"])
def test_promotion_sample(a_dtype, b, op):
    outs = []
    for lib in (torch, ember):
        a = lib.tensor([1, 2, 3]).to(getattr(lib, a_dtype))
        bb = b if not isinstance(b, tuple) else lib.ones(b[1]).to(getattr(lib, b[0])) * 2
        if op == "maximum" and not isinstance(bb, lib.Tensor):
            bb = lib.tensor(bb)
        outs.append(getattr(lib, op)(a, bb))
    assert str(outs[1].dtype) == str(outs[0].dtype).replace("torch.", "")
    np.testing.assert_allclose(outs[1].float().numpy(), outs[0].float().numpy())
