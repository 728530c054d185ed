"""torch 2.13's call forms and dtype rules that ember used to refuse or get wrong: optional and
keyword parameters (torch's overloads), result and ``out=`` dtypes, and the autograd API's
hooks and inference tensors. Each row runs in torch and in ember and compares."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as EF

torch = pytest.importorskip("torch")
TF = torch.nn.functional

rng = np.random.default_rng(11)
X3 = rng.standard_normal((4, 6, 6))
A = rng.standard_normal((4, 3))
SQ = rng.standard_normal((3, 3))
SPD = SQ @ SQ.T + 3 * np.eye(3)


def _flat(r):
    if isinstance(r, tuple | list):
        return [a for v in r for a in _flat(v)]
    return [np.asarray(r.detach().numpy() if isinstance(r, torch.Tensor) else r.numpy())]


def same(t, e, atol=1e-7):
    """torch's result t and ember's e: the same structure, shapes, dtypes and values."""
    ft, fe = _flat(t), _flat(e)
    assert len(ft) == len(fe)
    for a, b in zip(ft, fe, strict=True):
        assert a.shape == b.shape
        assert str(a.dtype) == str(b.dtype)
        np.testing.assert_allclose(b, a, atol=atol, rtol=1e-6)


# (what, call): call(lib) runs in torch and in ember (lib is the module)
CALLS = [
    ("dropout(input, p, train)", lambda m: m.dropout(m.tensor(X3), 0.5, False)),
    ("dropout train= kw", lambda m: m.dropout(m.tensor(X3), p=0.0, train=True)),
    ("alpha_dropout", lambda m: m.alpha_dropout(m.tensor(X3), 0.3, False)),
    ("concatenate(tensors=)", lambda m: m.concatenate(tensors=[m.tensor(A), m.tensor(A)], dim=1)),
    ("concatenate axis=", lambda m: m.concatenate([m.tensor(A), m.tensor(A)], axis=1)),
    ("hsplit(sections=)", lambda m: m.hsplit(m.tensor(X3), sections=2)),
    ("hsplit(indices=)", lambda m: m.hsplit(m.tensor(X3), indices=[1, 3])),
    ("vsplit(sections=)", lambda m: m.vsplit(m.tensor(X3), sections=2)),
    ("vsplit(indices=)", lambda m: m.vsplit(m.tensor(X3), indices=[3])),
    ("dsplit(sections=)", lambda m: m.dsplit(m.tensor(X3), sections=3)),
    ("dsplit(indices=)", lambda m: m.dsplit(m.tensor(X3), indices=[1, 5])),
    ("Tensor.hsplit(sections=)", lambda m: m.tensor(X3).hsplit(sections=3)),
    ("tensor_split(sections=)", lambda m: m.tensor_split(m.tensor(X3), sections=4, dim=1)),
    ("tensor_split(indices=)", lambda m: m.tensor_split(m.tensor(X3), indices=[1, 4], dim=2)),
    (
        "tensor_split(tensor_indices_or_sections=)",
        lambda m: m.tensor_split(m.tensor(X3), tensor_indices_or_sections=m.tensor([1, 4]), dim=2),
    ),
    ("Tensor.tensor_split(indices=)", lambda m: m.tensor(X3).tensor_split(indices=[2], dim=1)),
    ("pinv(A, rcond)", lambda m: m.linalg.pinv(m.tensor(A), 0.5)),
    ("pinv(rcond=)", lambda m: m.linalg.pinv(m.tensor(A), rcond=0.3)),
    ("pinv(atol=)", lambda m: m.linalg.pinv(m.tensor(A), atol=1.0)),
    ("pinv(rtol=)", lambda m: m.linalg.pinv(m.tensor(A), rtol=0.5)),
    ("pinv(hermitian=True)", lambda m: m.linalg.pinv(m.tensor(SQ), hermitian=True)),
    ("pinv(A, rcond, hermitian)", lambda m: m.linalg.pinv(m.tensor(SPD), 0.2, True)),
    (
        "pinv(atol=tensor) batched",
        lambda m: m.linalg.pinv(m.tensor(np.stack([A, 2 * A])), atol=m.tensor([0.0, 3.0])),
    ),
    ("pinverse(rcond=)", lambda m: m.pinverse(m.tensor(A), rcond=0.4)),
    ("matrix_rank(A, tol)", lambda m: m.linalg.matrix_rank(m.tensor(A), 1.0)),
    ("matrix_rank(tol=)", lambda m: m.linalg.matrix_rank(m.tensor(A), tol=1.0)),
    ("matrix_rank(atol=, rtol=)", lambda m: m.linalg.matrix_rank(m.tensor(A), atol=0.1, rtol=0.5)),
    ("matrix_rank(hermitian=)", lambda m: m.linalg.matrix_rank(m.tensor(SQ), hermitian=True)),
    (
        "matrix_rank(hermitian, atol)",
        lambda m: m.linalg.matrix_rank(m.tensor(SPD), hermitian=True, atol=4.0),
    ),
    ("Tensor.resize_(size=)", lambda m: m.tensor(X3).resize_(size=(2, 3))),
    (
        "resize_(memory_format=)",
        lambda m: m.tensor(X3).resize_((1, 2, 3, 4), memory_format=m.channels_last).stride(),
    ),
    ("nuclear_norm(x, True)", lambda m: m.nuclear_norm(m.tensor(A), True)),
    ("nuclear_norm(x, dim, True)", lambda m: m.nuclear_norm(m.tensor(X3), (0, 2), True)),
    ("nuclear_norm(x, keepdim=)", lambda m: m.nuclear_norm(m.tensor(A), keepdim=True)),
]


@pytest.mark.parametrize("what,call", CALLS, ids=[c[0] for c in CALLS])
def test_torch_call_forms(what, call):
    with warnings.catch_warnings():  # (torch's nuclear_norm: deprecated, "left for JIT")
        warnings.simplefilter("ignore")
        t = call(torch)
    e = call(ember)
    if isinstance(t, tuple) and all(isinstance(v, int) for v in t):  # strides
        assert t == e
    else:
        same(t, e)


def _garbage(M, keep_lower):
    """M's triangle kept, the other filled with values a full read would use."""
    junk = np.full_like(M, 7.0)
    return np.tril(M) + np.triu(junk, 1) if keep_lower else np.triu(M) + np.tril(junk, -1)


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_inverse_reads_one_triangle(upper):
    L = np.linalg.cholesky(SPD)
    F = L.T if upper else L
    given = _garbage(F, keep_lower=not upper)
    want = torch.cholesky_inverse(torch.tensor(given), upper=upper)
    got = ember.cholesky_inverse(ember.tensor(given), upper=upper)
    same(want, got, atol=1e-10)
    np.testing.assert_allclose(got.numpy(), np.linalg.inv(SPD), atol=1e-10)


@pytest.mark.parametrize("driver", [None, "gels", "gelsy", "gelsd", "gelss"])
@pytest.mark.parametrize("deficient", [False, True])
def test_lstsq_driver_outputs(driver, deficient):
    """Which of residuals / rank / singular_values torch fills in depends on the driver."""
    M = rng.standard_normal((2, 5, 3))
    if deficient:
        M[1, :, 2] = M[1, :, 1]
    B = rng.standard_normal((2, 5, 2))
    t = torch.linalg.lstsq(torch.tensor(M), torch.tensor(B), driver=driver)
    e = ember.linalg.lstsq(ember.tensor(M), ember.tensor(B), driver=driver)
    if deficient and driver == "gels":  # (gels assumes full rank: its numbers are garbage)
        assert t.residuals.shape == e.residuals.shape
        t, e = t[2:], e[2:]
    same(tuple(t), tuple(e), atol=1e-8)


def test_lstsq_rcond_and_bad_driver():
    t = torch.linalg.lstsq(torch.tensor(A), torch.tensor(A[:, :2]), 0.5, driver="gelsd")
    e = ember.linalg.lstsq(ember.tensor(A), ember.tensor(A[:, :2]), 0.5, driver="gelsd")
    same(tuple(t), tuple(e), atol=1e-8)
    with pytest.raises(ValueError, match="driver"):
        ember.linalg.lstsq(ember.tensor(A), ember.tensor(A), driver="gesv")


def test_pinv_hermitian_gradient_is_torchs():
    """hermitian=True goes through eigh in torch: its gradient (not pinv's own) is matched."""
    W = rng.standard_normal((3, 3))
    ta = torch.tensor(SPD + 0.3 * SQ, requires_grad=True)
    (torch.linalg.pinv(ta, hermitian=True) * torch.tensor(W)).sum().backward()
    ea = ember.tensor(SPD + 0.3 * SQ, requires_grad=True)
    (ember.linalg.pinv(ea, hermitian=True) * ember.tensor(W)).sum().backward()
    np.testing.assert_allclose(ea.grad.numpy(), ta.grad.numpy(), atol=1e-9)


def test_call_form_refusals():
    x = ember.tensor(X3)
    with pytest.raises(TypeError):
        ember.linalg.pinv(ember.tensor(A), 0.5, atol=0.1)  # (no torch overload takes both)
    with pytest.raises(TypeError):
        ember.tensor_split(x, 2, sections=2)
    with pytest.raises(TypeError):
        ember.tensor_split(x, 2, tensor_indices_or_sections=ember.tensor([1]))
    with pytest.raises(TypeError):
        ember.hsplit(x)
    with pytest.raises(RuntimeError, match="divisible"):  # (torch's class)
        ember.hsplit(x, sections=4)
    with pytest.raises(TypeError):
        x.resize_((2, 3), size=(2, 3))
    with pytest.raises(TypeError):  # torch.dropout's p and train are required
        ember.dropout(x)
    with pytest.raises(TypeError):  # F.dropout's is training=, as torch's
        EF.dropout(x, 0.5, train=False)


# ---- torch parameters ember lacked (the sweep: /work/scratch/api11/sweep.py) -----------------
X4 = rng.standard_normal((2, 3, 4, 5))
IDX = np.array([[0, 2], [1, 0], [2, 2]])

PARAMS = [
    (
        "new_zeros(device=, layout=)",
        lambda m: m.tensor(A).new_zeros(2, 3, device="cpu", layout=m.strided),
    ),
    ("new_ones(size=, device=)", lambda m: m.tensor(A).new_ones(size=(2,), device=m.device("cpu"))),
    ("new_full(pin_memory=)", lambda m: m.tensor(A).new_full((2,), 1.5, pin_memory=False)),
    (
        "new_empty(device=).shape",
        lambda m: tuple(m.tensor(A).new_empty((2, 1), device="cpu").shape),
    ),
    ("new_tensor(device=)", lambda m: m.tensor(A).new_tensor([1, 2], device="cpu")),
    (
        "new_empty_strided(device=).stride",
        lambda m: m.tensor(A).new_empty_strided((2, 3), (1, 2), device="cpu").stride(),
    ),
    ("sum_to_size(size=)", lambda m: m.tensor(X3).sum_to_size(size=(1, 6, 1))),
    ("type(dtype, non_blocking)", lambda m: m.tensor(A).type(m.float32, non_blocking=True)),
    (
        "cpu(memory_format=).stride",
        lambda m: m.tensor(X4).cpu(memory_format=m.channels_last).stride(),
    ),
    (
        "clone(memory_format=).stride",
        lambda m: m.clone(m.tensor(X4), memory_format=m.channels_last).stride(),
    ),
    (
        "zeros_like(memory_format=cl).stride",
        lambda m: m.zeros_like(m.tensor(X4), memory_format=m.channels_last).stride(),
    ),
    (
        "ones_like(preserve_format) of channels_last",
        lambda m: m.ones_like(m.tensor(X4).contiguous(memory_format=m.channels_last)).stride(),
    ),
    (
        "empty_like(preserve_format) of channels_last",
        lambda m: m.empty_like(
            m.tensor(X4).contiguous(memory_format=m.channels_last), memory_format=m.preserve_format
        ).stride(),
    ),
    (
        "empty(memory_format=).stride",
        lambda m: m.empty(2, 3, 4, 5, memory_format=m.channels_last).stride(),
    ),
    (
        "full_like(memory_format=contiguous)",
        lambda m: m.full_like(m.tensor(A), 2.0, memory_format=m.contiguous_format),
    ),
    (
        "vector_norm(dtype=)",
        lambda m: m.linalg.vector_norm(m.tensor(A, dtype=m.float16), dtype=m.float32),
    ),
    (
        "vector_norm(input=, dtype=)",
        lambda m: m.linalg.vector_norm(input=m.tensor(A), ord=1, dtype=m.float64),
    ),
    (
        "matrix_norm(dtype=)",
        lambda m: m.linalg.matrix_norm(m.tensor(A, dtype=m.float32), dtype=m.float64),
    ),
    (
        "linalg.norm(dtype=)",
        lambda m: m.linalg.norm(m.tensor(A, dtype=m.float32), dim=1, dtype=m.float64),
    ),
    ("svd(driver=None)", lambda m: m.linalg.svd(m.tensor(A), full_matrices=False, driver=None).S),
    ("svdvals(driver=None)", lambda m: m.linalg.svdvals(m.tensor(A), driver=None)),
    (
        "layer_norm(..., cudnn_enable)",
        lambda m: m.layer_norm(m.tensor(X3), (6,), m.ones(6, dtype=m.float64), None, 1e-5, False),
    ),
    (
        "group_norm(..., cudnn_enabled)",
        lambda m: m.group_norm(m.tensor(X4), 3, None, None, 1e-5, True),
    ),
    (
        "randint(dtype=float, requires_grad=)",
        lambda m: m.randint(0, 3, (2,), dtype=m.float32, requires_grad=True).requires_grad,
    ),
    ("randperm(requires_grad=False)", lambda m: m.randperm(4, requires_grad=False).shape),
    (
        "tril_indices(pin_memory, requires_grad)",
        lambda m: m.tril_indices(3, 3, pin_memory=False, requires_grad=False),
    ),
    ("isin(test_element=)", lambda m: m.isin(m.tensor([1.0, 2.0]), test_element=1.0)),
    ("isin(element=)", lambda m: m.isin(element=2.0, test_elements=m.tensor([1.0, 2.0]))),
    ("expand(implicit=)", lambda m: m.tensor([1.0, 2.0]).expand(3, 2, implicit=True)),
]


@pytest.mark.parametrize("what,call", PARAMS, ids=[c[0] for c in PARAMS])
def test_torch_parameters(what, call):
    t, e = call(torch), call(ember)
    if isinstance(t, tuple | bool):  # strides, shapes or flags
        assert t == e
    else:
        same(t, e, atol=1e-6)


def _out(m, dtype, shape=(1,)):
    return m.empty(shape, dtype=dtype)


OUTS = [
    ("argmax", lambda m, o: m.argmax(m.tensor(A), 1, out=o), "int64"),
    ("argmin", lambda m, o: m.argmin(m.tensor(A), dim=0, out=o), "int64"),
    ("argsort", lambda m, o: m.argsort(m.tensor(A), stable=True, dim=1, out=o), "int64"),
    (
        "scatter",
        lambda m, o: m.scatter(m.tensor(A), 1, m.tensor(IDX[:, :1]), 5.0, out=o),
        "float64",
    ),
    (
        "scatter_add",
        lambda m, o: m.scatter_add(m.tensor(A), 1, m.tensor(IDX), m.tensor(A), out=o),
        "float64",
    ),
    (
        "index_add",
        lambda m, o: m.index_add(m.tensor(A), 0, m.tensor([0, 0]), m.tensor(A[:2]), out=o),
        "float64",
    ),
    ("slogdet", lambda m, o: m.slogdet(m.tensor(SPD), out=o), ("float64", "float64")),
    ("polar", lambda m, o: m.polar(m.tensor(A), m.tensor(A), out=o), "complex128"),
    ("nuclear_norm", lambda m, o: m.nuclear_norm(m.tensor(A), out=o), "float64"),
]


@pytest.mark.parametrize("what,call,dtype", OUTS, ids=[c[0] for c in OUTS])
def test_more_out_functions(what, call, dtype):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # (the resize warning; nuclear_norm's deprecation)
        dts = dtype if isinstance(dtype, tuple) else (dtype,)
        to = tuple(_out(torch, getattr(torch, d), (0,)) for d in dts)
        eo = tuple(_out(ember, getattr(ember, d), (0,)) for d in dts)
        t = call(torch, to if isinstance(dtype, tuple) else to[0])
        e = call(ember, eo if isinstance(dtype, tuple) else eo[0])
    same(t, e, atol=1e-9)
    assert (e is eo[0]) if not isinstance(dtype, tuple) else all(a is b for a, b in zip(e, eo))


def test_eig_out():
    M = torch.tensor(SQ)
    to = (torch.empty(0, dtype=torch.complex128), torch.empty(0, dtype=torch.complex128))
    eo = (ember.empty(0, dtype=ember.complex128), ember.empty(0, dtype=ember.complex128))
    torch.linalg.eigvals(M, out=to[0])
    ember.linalg.eigvals(ember.tensor(SQ), out=eo[0])
    np.testing.assert_allclose(np.sort_complex(eo[0].numpy()), np.sort_complex(to[0].numpy()))
    ember.linalg.eig(ember.tensor(SQ), out=eo)
    np.testing.assert_allclose(SQ @ eo[1].numpy(), eo[1].numpy() * eo[0].numpy(), atol=1e-10)


def test_parameter_refusals():
    a32 = ember.tensor(A, dtype=ember.float64)
    with pytest.raises(ValueError, match="narrowing"):  # torch refuses float64 -> float32
        ember.linalg.vector_norm(a32, dtype=ember.float32)
    with pytest.raises(ValueError, match="driver"):
        ember.linalg.svd(a32, driver="gesvd")
    with pytest.raises(ValueError, match="layout"):
        a32.new_zeros(2, layout="sparse_coo")
    with pytest.raises(RuntimeError, match="rank 4"):  # as torch
        ember.zeros_like(a32, memory_format=ember.channels_last)
    with pytest.raises(TypeError):  # torch.zeros has no memory_format
        ember.zeros(2, memory_format=ember.contiguous_format)
    with pytest.raises(RuntimeError, match="floating point"):
        ember.randint(0, 3, (2,), requires_grad=True)


# ---- dtype rules ------------------------------------------------------------------------------
LOWP_VALUES = np.concatenate([[0.1, 100.1, 0.3, -2.9, 1e-3], np.linspace(0.5, 3, 301)])


@pytest.mark.parametrize("low", ["float16", "bfloat16"])
@pytest.mark.parametrize("scalar_dtype", ["float32", "float64"])
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
@pytest.mark.parametrize("scalar_first", [False, True])
def test_lowp_with_0d_float_tensor(low, scalar_dtype, op, scalar_first):
    """torch keeps the 16-bit dtype; mul and div with the 0-d operand second read it at
    float32 and round once, the other cases round it to 16 bits first: bit for bit."""

    def run(m):
        x = m.tensor(LOWP_VALUES).to(getattr(m, low))
        s = m.tensor(0.1, dtype=getattr(m, scalar_dtype))
        y = getattr(m, op)(*((s, x) if scalar_first else (x, s)))
        assert str(y.dtype).split(".")[-1] == low
        return y.float()

    same(run(torch), run(ember), atol=0)


def test_lowp_with_0d_tensor_gradient():
    """The scalar's gradient flows through the float32 path (in its own dtype)."""
    tx = torch.tensor(LOWP_VALUES).half()
    ts = torch.tensor(0.1, requires_grad=True)
    (tx * ts).float().sum().backward()
    ex = ember.tensor(LOWP_VALUES).half()
    es = ember.tensor(0.1, requires_grad=True)
    (ex * es).float().sum().backward()
    assert es.grad.dtype == ember.float32
    np.testing.assert_allclose(es.grad.numpy(), ts.grad.numpy(), rtol=1e-3)


@pytest.mark.parametrize(
    "what,call",
    [
        ("int8 + np.bool_", lambda m: m.tensor([1, 2], dtype=m.int8) + np.bool_(True)),
        ("np.bool_ * int8", lambda m: np.bool_(True) * m.tensor([1, 2], dtype=m.int8)),
        ("bool * np.bool_", lambda m: m.tensor([True, False]) * np.bool_(True)),
        ("float16 + np.bool_", lambda m: m.tensor([1.5], dtype=m.float16) + np.bool_(True)),
        ("int8 + np.int64", lambda m: m.tensor([1], dtype=m.int8) + np.int64(300)),
        ("int8 == np.bool_", lambda m: m.tensor([1, 0], dtype=m.int8) == np.bool_(True)),
    ],
)
def test_numpy_scalar_operands(what, call):
    """torch 2.13 reads a NumPy bool scalar as a Python float (int8 + np.bool_ is float32)."""
    same(call(torch), call(ember))


@pytest.mark.parametrize("write", ["iadd", "add_"])
def test_numpy_bool_in_place_into_int_refused(write):
    for m in (torch, ember):
        t = m.tensor([1, 2], dtype=m.int8)
        with pytest.raises(RuntimeError, match="can't be cast"):
            if write == "iadd":
                t += np.bool_(True)
            else:
                t.add_(np.bool_(True))
    f = ember.tensor([1.0, 2.0])
    f += np.bool_(True)
    np.testing.assert_array_equal(f.numpy(), [2.0, 3.0])


# ---- out= dtypes, op by op as torch: cast, refuse, or compute in out's dtype -----------------
OF = np.array([[0.5, 1.5], [2.5, -3.5]], np.float32)
OI = np.array([[1, 2], [3, -4]], np.int64)
OB = OF > 1
OUT_CALLS = {
    "add f": lambda m, o: m.add(m.tensor(OF), m.tensor(OF), out=o),
    "add i": lambda m, o: m.add(m.tensor(OI), m.tensor(OI), out=o),
    "sub i": lambda m, o: m.sub(m.tensor(OI), 1, out=o),
    "mul i": lambda m, o: m.mul(m.tensor(OI), 3, out=o),
    "div i": lambda m, o: m.div(m.tensor(OI), m.tensor(OI), out=o),
    "div floor": lambda m, o: m.div(m.tensor(OI), 2, rounding_mode="floor", out=o),
    "matmul f": lambda m, o: m.matmul(m.tensor(OF), m.tensor(OF), out=o),
    "mm i": lambda m, o: m.mm(m.tensor(OI), m.tensor(OI), out=o),
    "sum f": lambda m, o: m.sum(m.tensor(OF), 1, out=o),
    "sum i": lambda m, o: m.sum(m.tensor(OI), 1, out=o),
    "sum b": lambda m, o: m.sum(m.tensor(OB), 1, out=o),
    "prod i": lambda m, o: m.prod(m.tensor(OI), 1, out=o),
    "mean f": lambda m, o: m.mean(m.tensor(OF), 1, out=o),
    "exp f": lambda m, o: m.exp(m.tensor(OF), out=o),
    "exp i": lambda m, o: m.exp(m.tensor(OI), out=o),
    "cumsum f": lambda m, o: m.cumsum(m.tensor(OF), 1, out=o),
    "cumsum i": lambda m, o: m.cumsum(m.tensor(OI), 1, out=o),
    "clamp numbers": lambda m, o: m.clamp(m.tensor(OF), 0, 1, out=o),
    "clamp min=": lambda m, o: m.clamp(m.tensor(OI), min=0, out=o),
    "clamp tensors": lambda m, o: m.clamp(m.tensor(OF), m.tensor(0.0), m.tensor(1.0), out=o),
    "where": lambda m, o: m.where(m.tensor(OB), m.tensor(OF), m.tensor(OF) * 2, out=o),
    "cat i": lambda m, o: m.cat([m.tensor(OI), m.tensor(OI)], out=o),
    "stack f": lambda m, o: m.stack([m.tensor(OF), m.tensor(OF)], out=o),
    "abs i": lambda m, o: m.abs(m.tensor(OI), out=o),
    "neg f": lambda m, o: m.neg(m.tensor(OF), out=o),
    "floor f": lambda m, o: m.floor(m.tensor(OF), out=o),
    "argmax": lambda m, o: m.argmax(m.tensor(OF), 1, out=o),
    "amax": lambda m, o: m.amax(m.tensor(OF), 1, out=o),
    "maximum": lambda m, o: m.maximum(m.tensor(OF), m.tensor(OF), out=o),
    "eq": lambda m, o: m.eq(m.tensor(OF), 0.5, out=o),
    "tanh i": lambda m, o: m.tanh(m.tensor(OI), out=o),
}
OUT_DTYPES = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool", "complex64"]


@pytest.mark.parametrize("dtype", OUT_DTYPES)
@pytest.mark.parametrize("what", list(OUT_CALLS))
def test_out_dtype_rules(what, dtype):
    def run(m):
        o = m.empty(0, dtype=getattr(m, dtype))
        try:
            OUT_CALLS[what](m, o)
        except (RuntimeError, TypeError, ValueError, NotImplementedError) as e:
            return type(e)
        return o.to(m.complex128).numpy() if dtype != "complex64" else o.numpy()

    t, e = run(torch), run(ember)
    if isinstance(t, type):
        assert isinstance(e, type), f"torch refuses ({t.__name__}), ember wrote {e}"
    else:
        assert not isinstance(e, type), f"torch writes {t}, ember refused"
        np.testing.assert_array_equal(e, t)


def test_max_dim_out_is_strict_binary_max_casts():
    f64 = ember.empty(0, dtype=ember.float64)
    with pytest.raises(RuntimeError, match="dtype"):
        ember.max(ember.tensor(OF), 1, out=(f64, ember.empty(0, dtype=ember.int64)))
    ember.max(ember.tensor(OF), ember.tensor(OF), out=f64)
    np.testing.assert_array_equal(f64.numpy(), OF.astype(np.float64))


# ---- autograd API: multi-grad hooks, inference tensors -----------------------------------------
def _multi_hook_run(m, mode):
    a = m.tensor([1.0, 2.0], requires_grad=True)
    b = m.tensor([3.0, 4.0], requires_grad=True)
    c = m.tensor([5.0], requires_grad=True)
    seen = []

    def record(g):
        if mode == "all":
            seen.append(tuple(None if v is None else v.tolist() for v in g))
        else:
            seen.append(g.tolist())

    h = m.autograd.graph.register_multi_grad_hook((a, b, c), record, mode=mode)
    (a * b).sum().backward()
    (a * 2 + c).sum().backward()
    (c * 3).sum().backward()
    h.remove()
    (a * b).sum().backward()  # (removed: not seen)
    return seen, a.grad.tolist()


@pytest.mark.parametrize("mode", ["all", "any"])
def test_register_multi_grad_hook(mode):
    assert _multi_hook_run(ember, mode) == _multi_hook_run(torch, mode)


def test_register_multi_grad_hook_refusals():
    a = ember.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match="mode"):
        ember.autograd.graph.register_multi_grad_hook((a,), print, mode="some")
    with pytest.raises(RuntimeError, match="require grad"):
        ember.autograd.graph.register_multi_grad_hook((a, ember.tensor([1.0])), print)


INFERENCE_CASES = [
    ("requires_grad_", lambda m, x, w: x.requires_grad_()),
    ("requires_grad =", lambda m, x, w: setattr(x, "requires_grad", True)),
    ("saved by mul", lambda m, x, w: (w * x).sum().backward()),
    ("saved by matmul", lambda m, x, w: (x @ w).backward()),
    ("add saves nothing", lambda m, x, w: (w + x).sum().backward()),
    ("add_", lambda m, x, w: x.add_(1)),
    ("mul_ by a graph tensor", lambda m, x, w: x.mul_(w)),
    ("+=", lambda m, x, w: x.__iadd__(1)),
    ("index assignment", lambda m, x, w: x.__setitem__(0, 5.0)),
    ("clone is normal", lambda m, x, w: x.clone().requires_grad_()),
    ("detach stays inference", lambda m, x, w: x.detach().requires_grad_()),
    ("clone in a graph", lambda m, x, w: (w * x.clone()).sum().backward()),
    ("no_grad tensor is normal", lambda m, x, w: (m.ones(3) * 2).requires_grad_()),
]


@pytest.mark.parametrize("what,call", INFERENCE_CASES, ids=[c[0] for c in INFERENCE_CASES])
def test_inference_tensors(what, call):
    """Tensors made under inference_mode(): is_inference(), and what torch refuses for them
    outside the mode (RuntimeError with its message) or allows."""

    def run(m):
        with m.inference_mode():
            x = m.ones(3) * 2
        assert x.is_inference()
        w = m.ones(3, requires_grad=True)
        try:
            call(m, x, w)
        except RuntimeError as e:
            return str(e).split(".")[0]
        return None

    assert run(ember) == run(torch)


def test_inference_mode_inside():
    """Inside the mode the same tensors take in-place writes and requires_grad; tensors made
    under no_grad or inference_mode(False) are normal."""
    with ember.inference_mode():
        x = ember.ones(3)
        x.add_(1)
        with ember.inference_mode(False):
            y = ember.ones(2)
        lit = ember.tensor([1.0, 2.0])
    with ember.no_grad():
        z = ember.ones(2)
    np.testing.assert_array_equal(x.numpy(), [2, 2, 2])
    assert x.is_inference() and lit.is_inference()
    assert not y.is_inference() and not z.is_inference()
    assert not ember.ones(2).is_inference()  # (the block closed: nothing marked)


@pytest.mark.parametrize("symmetric", [True, False])
def test_eigh_gradient_is_torchs(symmetric):
    """eigh's backward projects V^T gV on the skew-symmetric matrices, as torch's: a symmetric
    gA (for any A: only its lower triangle was read)."""
    M = SQ @ SQ.T if symmetric else SQ
    W, W2 = rng.standard_normal((3, 3)), rng.standard_normal(3)
    grads = []
    for m in (torch, ember):
        a = m.tensor(M, requires_grad=True)
        w, V = m.linalg.eigh(a)
        ((V * m.tensor(W)).sum() + (w * m.tensor(W2)).sum()).backward()
        grads.append(a.grad.numpy())
    np.testing.assert_allclose(grads[1], grads[0], atol=1e-10)
    np.testing.assert_allclose(grads[1], grads[1].T, atol=1e-10)
