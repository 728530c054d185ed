"""Parity with torch 2.13 on inputs users produce but tests rarely list: the strides of copies
and elementwise results of strided inputs, views of inference tensors, rrelu's generator,
clamp's bounds on integer and bool tensors, float() of a tensor requiring grad."""

import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _pair(shape, perm=None, step=None, expand=None, dtype=np.float32):
    """The same strided view in ember and torch (a permute, a stepped slice, an expand)."""
    a = np.arange(int(np.prod(shape)), dtype=dtype).reshape(shape) - 3
    e, t = ember.tensor(a), torch.from_numpy(a.copy())
    if perm is not None:
        e, t = e.permute(*perm), t.permute(*perm)
    if step is not None:
        e, t = e[step], t[step]
    if expand is not None:
        e, t = e.expand(*expand), t.expand(*expand)
    assert e.stride() == t.stride()
    return e, t


LAYOUTS = {
    "transposed": dict(shape=(3, 4), perm=(1, 0)),
    "permuted": dict(shape=(2, 3, 4), perm=(0, 2, 1)),
    "reversed": dict(shape=(2, 3, 4), perm=(2, 1, 0)),
    "channels_last": dict(shape=(2, 3, 4, 5), perm=(0, 2, 3, 1)),
    "stepped": dict(shape=(4, 6), step=(slice(None), slice(None, None, 2))),
    "stepped_rows": dict(shape=(6, 4), step=(slice(None, None, 2),)),
    "expanded_col": dict(shape=(3, 1), expand=(3, 4)),
    "expanded_mid": dict(shape=(2, 1, 4), expand=(2, 3, 4)),
    "permuted_expanded": dict(shape=(4, 3, 1), perm=(2, 0, 1), expand=(5, 4, 3)),
    "size1_permuted": dict(shape=(3, 1, 4), perm=(2, 1, 0)),
    "permuted_stepped": dict(shape=(4, 6, 2), perm=(2, 0, 1), step=(slice(None), slice(0, 4, 2))),
}

COPIES = {
    "clone": lambda x, m: x.clone(),
    "contiguous": lambda x, m: x.contiguous(),
    "empty_like": lambda x, m: m.empty_like(x),
    "zeros_like": lambda x, m: m.zeros_like(x),
    "ones_like": lambda x, m: m.ones_like(x),
    "full_like": lambda x, m: m.full_like(x, 2.5),
    "rand_like": lambda x, m: m.rand_like(x),
    "randn_like": lambda x, m: m.randn_like(x),
    "randint_like": lambda x, m: m.randint_like(x, 5),
    "double": lambda x, m: x.double(),
    "to_int": lambda x, m: x.to(m.int32),
}

ELEMENTWISE = {
    "add_number": lambda x, m: x + 1,
    "mul_self": lambda x, m: x * x,
    "add_contiguous": lambda x, m: x + x.contiguous(),
    "neg": lambda x, m: -x,
    "exp": lambda x, m: x.exp(),
    "abs": lambda x, m: x.abs(),
    "relu": lambda x, m: m.relu(x),
    "sigmoid": lambda x, m: m.sigmoid(x),
    "clamp": lambda x, m: m.clamp(x, -1.0, 2.0),
    "pow": lambda x, m: x**2,
    "sub_row": lambda x, m: x - x[..., :1],
}

_RANDOM = ("empty_like", "rand_like", "randn_like", "randint_like")


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("op", [*COPIES, *ELEMENTWISE])
def test_strides_follow_torch(layout, op):
    e, t = _pair(**LAYOUTS[layout])
    fn = {**COPIES, **ELEMENTWISE}[op]
    got, want = fn(e, ember), fn(t, torch)
    assert got.shape == tuple(want.shape)
    assert got.stride() == want.stride()
    assert got.is_contiguous() == want.is_contiguous()
    assert got.is_contiguous(memory_format=ember.channels_last) == want.is_contiguous(
        memory_format=torch.channels_last
    )
    if op not in _RANDOM:  # (exp and sigmoid may differ from torch's by an ulp)
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


@pytest.mark.parametrize("layout", ["permuted", "expanded_mid", "stepped"])
def test_strided_copies_keep_gradients(layout):
    e, t = _pair(**LAYOUTS[layout], dtype=np.float64)
    base = ember.tensor(e.detach().numpy(), requires_grad=True)  # (a dense leaf)
    for f in (lambda v: v.clone(), lambda v: v.contiguous(), lambda v: (v * 3).exp()):
        base.grad = None
        x = base.permute(*range(base.ndim)) if layout != "permuted" else base
        y = f(x)
        (y * y).sum().backward()
        tb = torch.from_numpy(base.detach().numpy()).requires_grad_()
        (f(tb) ** 2).sum().backward()
        np.testing.assert_allclose(base.grad.numpy(), tb.grad.numpy(), rtol=1e-12)


def test_where_and_comparison_of_strided_inputs():
    e, t = _pair(**LAYOUTS["size1_permuted"])
    for fn in (lambda x, m: m.where(x > 0.5, x, 0.0), lambda x, m: x > 0.5):
        got, want = fn(e, ember), fn(t, torch)
        assert got.stride() == want.stride()
        np.testing.assert_array_equal(got.numpy(), want.numpy())


# ---- inference tensors --------------------------------------------------------------------


def test_views_of_inference_tensors_are_inference_tensors():
    with ember.inference_mode():
        y = ember.ones(3, 4)
    with torch.inference_mode():
        ty = torch.ones(3, 4)
    views = {
        "view": lambda v: v.view(12),
        "slice": lambda v: v[1:],
        "index": lambda v: v[0],
        "t": lambda v: v.t(),
        "expand": lambda v: v.expand(2, 3, 4),
        "unsqueeze": lambda v: v.unsqueeze(0),
    }
    for name, f in views.items():
        assert f(y).is_inference() == f(ty).is_inference() is True, name
        with pytest.raises(RuntimeError, match="Inplace update to inference tensor outside"):
            f(y).add_(1)
        with pytest.raises(RuntimeError):  # (torch's expand: its overlap message instead)
            f(ty).add_(1)
    assert y.detach().is_inference() is ty.detach().is_inference() is True
    # results of ops on them (not views) are normal tensors, as torch's
    assert (y + 1).is_inference() is (ty + 1).is_inference() is False
    assert y.clone().is_inference() is ty.clone().is_inference() is False
    z = y.clone()
    z.add_(1)  # a normal tensor: in place is fine
    np.testing.assert_array_equal(z.numpy(), np.full((3, 4), 2.0, np.float32))


def test_normal_tensors_stay_normal_after_inference_mode():
    x = ember.ones(3)
    with ember.inference_mode():
        ember.ones(2)
    assert not x[1:].is_inference()
    x[1:].add_(1)  # no refusal on a normal tensor's view
    np.testing.assert_array_equal(x.numpy(), [1.0, 2.0, 2.0])


# ---- rrelu, vector_norm, clamp, float() -----------------------------------------------------


def test_rrelu_generator_forms():
    x = ember.full((64,), -1.0)
    g = ember.Generator().manual_seed(3)
    a = ember.rrelu(x, 0.1, 0.3, True, g)  # torch.rrelu's fifth argument: the generator
    b = ember.rrelu(x, 0.1, 0.3, True, generator=ember.Generator().manual_seed(3))
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert np.all((a.numpy() <= -0.1) & (a.numpy() >= -0.3))
    np.testing.assert_array_equal(x.numpy(), -1.0)  # not written in place
    y = ember.full((64,), -1.0)
    assert ember.rrelu_(y, 0.1, 0.3, True, generator=ember.Generator().manual_seed(3)) is y
    np.testing.assert_array_equal(y.numpy(), a.numpy())
    with pytest.raises(TypeError):  # F.rrelu's fifth is inplace: a generator is no flag
        ember.nn.functional.rrelu(x, 0.1, 0.3, True, g)
    # torch's forms run too
    tg = torch.Generator().manual_seed(3)
    assert torch.rrelu(torch.full((4,), -1.0), 0.1, 0.3, True, tg).shape == (4,)
    # the module and F.rrelu under a seed: reproducible, positive inputs unchanged
    z = ember.tensor([-2.0, 3.0, -1.0])
    ember.manual_seed(0)
    m1 = ember.nn.RReLU(0.1, 0.3)(z)
    ember.manual_seed(0)
    m2 = ember.nn.functional.rrelu(z, 0.1, 0.3, training=True)
    np.testing.assert_array_equal(m1.numpy(), m2.numpy())
    assert m1[1].item() == 3.0


def test_vector_norm_keywords():
    v = np.array([3.0, -4.0])
    want = torch.linalg.vector_norm(x=torch.from_numpy(v), ord=1).item()
    assert ember.linalg.vector_norm(x=ember.tensor(v), ord=1).item() == want
    assert ember.linalg.vector_norm(input=ember.tensor(v), ord=1).item() == want
    assert ember.linalg.vector_norm(ember.tensor(v)).item() == 5.0
    with pytest.raises(TypeError):
        ember.linalg.vector_norm(ember.tensor(v), input=ember.tensor(v))
    with pytest.raises(TypeError):
        ember.linalg.vector_norm()


@pytest.mark.parametrize("dtype", ["int8", "uint8", "int16", "int64", "bool", "float16"])
@pytest.mark.parametrize(
    "bounds",
    [
        (2,),
        (2, 50),
        (None, 3),
        (1.5,),
        (0.5, 2.5),
        (np.int64(2),),
        (np.float32(1.5),),
        (np.float64(2.0),),
        (np.int8(3),),
        (np.bool_(True),),
        (True,),
        (False, True),
        (-1, 300),
        (None, -3),
    ],
)
def test_clamp_integer_and_bool_tensors(dtype, bounds):
    a = np.array([0, 1, 5, 100]).astype(dtype)
    try:
        want = torch.clamp(torch.from_numpy(a.copy()), *bounds)
    except (RuntimeError, NotImplementedError):
        with pytest.raises((ValueError, TypeError, RuntimeError, NotImplementedError)):
            ember.clamp(ember.tensor(a), *bounds)
        return
    got = ember.clamp(ember.tensor(a), *bounds)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_float_of_tensor_requiring_grad_warns_once(monkeypatch):
    import sys

    tensor_module = sys.modules["ember.tensor"]
    monkeypatch.setattr(tensor_module, "_FLOAT_OF_GRAD_WARNED", [False])
    t = ember.tensor(2.0, requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not under no_grad (an optimiser's step), as torch
        with ember.no_grad():
            assert float(t) == 2.0
        with ember.inference_mode():
            assert float(t * 1) == 2.0
        with torch.no_grad():
            assert float(torch.tensor(2.0, requires_grad=True)) == 2.0
    with pytest.warns(UserWarning, match="requires_grad=True to a scalar"):
        assert float(t) == 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert float(t) == 2.0  # once per process, as torch's TORCH_WARN_ONCE
        assert int(t) == 2 and t.item() == 2.0 and bool(t)  # these never warn in torch
        assert float(t.detach()) == 2.0


# ---- found by the differential fuzz (ember vs torch) ----------------------------------------


@pytest.mark.parametrize(
    "src,size", [((1, 1, 2), (3, 1, 2)), ((3, 1), (2, 3, 1)), ((1, 1, 1), (1, 3, 5)), ((1,), (1,))]
)
def test_expand_keeps_unexpanded_size1_strides(src, size):
    # NumPy's broadcast_to gives every size-1 dim stride 0; torch only the expanded ones
    e, t = ember.zeros(*src).expand(*size), torch.zeros(*src).expand(*size)
    assert e.stride() == t.stride()
    assert (e + 1).stride() == (t + 1).stride()
    if src == size:  # nothing expanded: a plain view, written through (as torch)
        e.add_(1)
        t.add_(1)
        assert e.numpy().tolist() == t.tolist()
        return
    with pytest.raises((ValueError, RuntimeError)):
        e.add_(1)  # still read-only memory shared across the expanded dims


@pytest.mark.parametrize("dtype", ["bfloat16", "float16"])
def test_xlogy_half_precision_with_numbers(dtype):
    a, b = np.array([0, 1.5, 2, 0.25]), np.array([2, 0.5, 3, 0])
    for x, y in [(a, 2), (2, b), (a, b), (a, 2.5)]:

        def mk(m, v):
            return v if np.isscalar(v) else m.tensor(v).to(getattr(m, dtype))

        got, want = ember.xlogy(mk(ember, x), mk(ember, y)), torch.xlogy(mk(torch, x), mk(torch, y))
        assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
        np.testing.assert_array_equal(got.float().numpy(), want.float().numpy())


def _same(got, want):
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_array_equal(
        got.float().numpy() if got.dtype == ember.bfloat16 else got.numpy(),
        want.float().numpy() if want.dtype == torch.bfloat16 else want.numpy(),
    )


@pytest.mark.parametrize("dtype", ["bool", "int8", "int32", "int64", "float16", "float32"])
@pytest.mark.parametrize("shape", [(), (3,)])
@pytest.mark.parametrize("b,alpha", [(True, 2), (False, 3), (True, -1)])
def test_add_python_bool_with_alpha_keeps_dtype(dtype, shape, b, alpha):
    a = (np.arange(3)[: shape[0]] if shape else np.array(2)).astype(dtype)
    t = torch.from_numpy(a.copy())
    try:
        want = torch.add(t, b, alpha=alpha)
    except RuntimeError:  # (torch refuses some: a bool tensor with alpha -1)
        return
    _same(ember.add(ember.tensor(a), b, alpha=alpha), want)


@pytest.mark.parametrize(
    "dtypes",
    [
        ("complex64", "float64"),
        ("float64", "complex64"),
        ("float16", "bfloat16"),
        ("bfloat16", "float16"),
        ("int64", "float32", "bool"),
        ("uint8", "int8"),
    ],
)
@pytest.mark.parametrize("join", ["cat", "stack"])
def test_cat_and_stack_promote_as_torch(dtypes, join):
    vals = np.array([1.5, -2.25, 3.0, 0.1])
    es = [ember.tensor(vals).to(getattr(ember, d)) for d in dtypes]
    ts = [torch.tensor(vals).to(getattr(torch, d)) for d in dtypes]
    _same(getattr(ember, join)(es), getattr(torch, join)(ts))


def test_masked_fill_of_strided_input_is_contiguous():
    a = np.arange(12.0).reshape(3, 4)
    e, t = ember.tensor(a).t(), torch.tensor(a).t()
    for fn in (
        lambda x, m: x.masked_fill(x > 3, 0.5),
        lambda x, m: x.masked_fill(x > 3, m.tensor(1.0)),
    ):
        got, want = fn(e, ember), fn(t, torch)
        assert got.stride() == want.stride()
        _same(got, want)
