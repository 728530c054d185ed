"""torch's keyword names: every argument given by keyword under torch's name, as PyTorch users
write ``torch.sum(input=x, dim=1)``, ``F.softmax(input=x, dim=-1)``, ``x.add(other=y, alpha=2)``.

One table of calls (ROWS) runs in torch and in ember and compares values, dtype and shape; the
core rows (CORE) also run without torch, against NumPy. ember/_keywords.py's TORCH_NAMES does
the renaming; the sweep that found the names is /work/scratch/kw10/sweep.py (every function in
both libraries, torch's names from its .pyi stubs and JIT schemas)."""

import inspect

import numpy as np
import pytest

import ember
from ember import _keywords

rng = np.random.default_rng(0)
X = rng.uniform(0.1, 0.9, (3, 4))
Y = rng.uniform(0.1, 0.9, (3, 4))
V = rng.uniform(0.1, 0.9, 4)
B = rng.uniform(0.1, 0.9, (2, 3, 4))
SPD = X.T @ X + 4 * np.eye(4)
MASK = X > 0.5
IDX = np.array([[0, 3, 1, 2]] * 3)
LABELS = np.array([0, 2, 1])

# (what, kwargs): "what" is a path in both libraries ("Tensor.add" is a method: kwargs["self"]
# is the receiver, passed positionally); arrays become tensors, lists of arrays lists of them.
ROWS = [
    # the first parameter, torch's input=
    ("exp", dict(input=X)),
    ("abs", dict(input=X - 0.5)),
    ("sin", dict(input=X)),
    ("acos", dict(input=X)),
    ("round", dict(input=X * 10, decimals=1)),
    ("trunc", dict(input=X * 10)),
    ("sqrt", dict(input=X)),
    ("neg", dict(input=X)),
    ("clone", dict(input=X)),
    ("flatten", dict(input=B, start_dim=1, end_dim=2)),
    ("squeeze", dict(input=X[:1], dim=0)),
    ("unsqueeze", dict(input=X, dim=1)),
    ("transpose", dict(input=X, dim0=0, dim1=1)),
    ("swapdims", dict(input=X, dim0=0, dim1=1)),
    ("swapaxes", dict(input=X, axis0=0, axis1=1)),
    ("permute", dict(input=B, dims=(2, 0, 1))),
    ("reshape", dict(input=X, shape=(4, 3))),
    ("clamp", dict(input=X, min=0.3, max=0.7)),
    ("where", dict(condition=MASK, input=X, other=Y)),
    ("masked_fill", dict(input=X, mask=MASK, value=0.0)),
    ("gather", dict(input=X, dim=1, index=IDX)),
    ("index_select", dict(input=X, dim=1, index=np.array([0, 2]))),
    ("zeros_like", dict(input=X)),
    ("ones_like", dict(input=X)),
    ("full_like", dict(input=X, fill_value=2.5)),
    ("view_copy", dict(input=X, size=(4, 3))),
    ("alias_copy", dict(input=X)),
    ("expand_copy", dict(input=X[:1], size=(2, 4))),
    ("split_copy", dict(input=X, split_size=2, dim=1)),
    # reductions and sorting
    ("sum", dict(input=X, dim=1, keepdim=True)),
    ("mean", dict(input=X, dim=0)),
    ("prod", dict(input=X, dim=1)),
    ("std", dict(input=X, dim=1, correction=0)),
    ("var_mean", dict(input=X, dim=1)),
    ("amax", dict(input=X, dim=1)),
    ("logsumexp", dict(input=X, dim=1)),
    ("max", dict(input=X, dim=1, keepdim=True)),
    ("min", dict(input=X, dim=0)),
    ("max", dict(input=X, other=Y)),
    ("argmax", dict(input=X, dim=1)),
    ("sort", dict(input=X, dim=1, descending=True)),
    ("argsort", dict(input=X, dim=0)),
    ("topk", dict(input=X, k=2, dim=1)),
    ("cumsum", dict(input=X, dim=1)),
    ("median", dict(input=X, dim=1)),
    ("norm", dict(input=X, p=2, dim=1)),
    ("nansum", dict(input=X)),
    # two operands
    ("add", dict(input=X, other=Y, alpha=2)),
    ("sub", dict(input=X, other=Y, alpha=0.5)),
    ("mul", dict(input=X, other=Y)),
    ("div", dict(input=X, other=Y, rounding_mode="floor")),
    ("pow", dict(input=X, exponent=2.0)),
    ("maximum", dict(input=X, other=Y)),
    ("fmod", dict(input=X, other=0.3)),
    ("copysign", dict(input=X, other=-Y)),
    ("atan2", dict(input=X, other=Y)),
    ("xlogy", dict(input=X, other=Y)),
    ("matmul", dict(input=X, other=Y.T)),
    ("mm", dict(input=X, mat2=Y.T)),
    ("bmm", dict(input=B, mat2=B.transpose(0, 2, 1))),
    ("dot", dict(input=V, tensor=V[::-1].copy())),
    ("outer", dict(input=V, vec2=V)),
    ("mv", dict(input=X, vec=V)),
    ("allclose", dict(input=X, other=X)),
    ("result_type", dict(tensor=X, other=2)),
    ("cat", dict(tensors=[X, Y], dim=0)),
    ("arange", dict(end=5)),
    ("arange", dict(start=1.0, end=7, step=2)),
    ("stack", dict(tensors=[X, Y], dim=1)),
    ("split", dict(tensor=X, split_size_or_sections=2, dim=1)),
    ("chunk", dict(input=X, chunks=2, dim=1)),
    # torch.linalg: ``input`` for most, ``A``/``B`` for inv, solve, det ...
    ("linalg.cholesky", dict(input=SPD)),
    ("linalg.eigvalsh", dict(input=SPD)),
    ("linalg.norm", dict(input=X, ord="fro")),
    ("linalg.vector_norm", dict(input=X, ord=3, dim=1)),
    ("linalg.matrix_norm", dict(input=SPD, ord=1)),
    ("linalg.cross", dict(input=X[:, :3], other=Y[:, :3])),
    ("linalg.inv", dict(A=SPD)),
    ("linalg.det", dict(A=SPD)),
    ("linalg.solve", dict(A=SPD, B=V)),
    ("cholesky_inverse", dict(input=np.linalg.cholesky(SPD))),
    ("cholesky_solve", dict(input=X.T, input2=np.linalg.cholesky(SPD))),
    ("det", dict(input=SPD)),
    ("inverse", dict(input=SPD)),
    # torch.special: ``input``, and ``x`` for the newer ones
    ("special.expm1", dict(input=X)),
    ("special.logsumexp", dict(input=X, dim=1)),
    ("special.erf", dict(input=X)),
    ("special.xlogy", dict(input=X, other=Y)),
    ("special.airy_ai", dict(x=X)),
    ("special.spherical_bessel_j0", dict(x=X)),
    ("special.chebyshev_polynomial_t", dict(x=X, n=3)),
    ("special.bessel_j0", dict(input=X)),
    ("fft.fft", dict(input=X, n=4, dim=-1, norm="ortho")),
    ("fft.rfft", dict(input=X, dim=0)),
    # torch.nn.functional
    ("nn.functional.softmax", dict(input=X, dim=-1)),
    ("nn.functional.log_softmax", dict(input=X, dim=0)),
    ("nn.functional.relu", dict(input=X - 0.5)),
    ("nn.functional.gelu", dict(input=X, approximate="tanh")),
    ("nn.functional.linear", dict(input=X, weight=Y, bias=V[:3])),
    ("nn.functional.one_hot", dict(input=LABELS, num_classes=4)),
    ("nn.functional.cross_entropy", dict(input=X, target=LABELS, reduction="sum")),
    ("nn.functional.mse_loss", dict(input=X, target=Y)),
    ("nn.functional.normalize", dict(input=X, p=1.0, dim=1)),
    # Tensor methods
    ("Tensor.add", dict(self=X, other=Y, alpha=2)),
    ("Tensor.masked_fill", dict(self=X, mask=MASK, value=0.0)),
    ("Tensor.where", dict(self=X, condition=MASK, other=Y)),
    ("Tensor.max", dict(self=X, other=Y)),
    ("Tensor.min", dict(self=X, dim=1, keepdim=True)),
    ("Tensor.sum", dict(self=X, dim=1, keepdim=True)),
    ("Tensor.clamp", dict(self=X, min=0.2, max=0.6)),
    ("Tensor.allclose", dict(self=X, other=Y)),
    ("Tensor.mm", dict(self=X, mat2=Y.T)),
    ("Tensor.pow", dict(self=X, exponent=3)),
    ("Tensor.gather", dict(self=X, dim=1, index=IDX)),
    ("Tensor.sort", dict(self=X, dim=0)),
    ("Tensor.transpose", dict(self=X, dim0=1, dim1=0)),
    ("Tensor.flatten", dict(self=B, start_dim=1)),
    ("Tensor.copysign", dict(self=X, other=-1.0)),
    # the methods whose sizes are varargs take them by torch's keyword too
    ("Tensor.reshape", dict(self=X, shape=(4, 3))),
    ("Tensor.view", dict(self=X, size=(2, 6))),
    ("Tensor.permute", dict(self=B, dims=(1, 2, 0))),
    ("Tensor.expand", dict(self=X[:1], size=(2, 3, 4))),
    ("Tensor.repeat", dict(self=X, repeats=(2, 1))),
    ("Tensor.new_zeros", dict(self=X, size=(2,))),
    ("Tensor.new_ones", dict(self=X, size=(2, 1))),
    ("Tensor.split", dict(self=X, split_size=3, dim=1)),
]

# the core rows, against NumPy (run without torch too)
CORE = [
    ("exp", dict(input=X), lambda: np.exp(X)),
    ("abs", dict(input=X - 0.5), lambda: np.abs(X - 0.5)),
    ("sum", dict(input=X, dim=1, keepdim=True), lambda: X.sum(1, keepdims=True)),
    ("mean", dict(input=X, dim=0), lambda: X.mean(0)),
    ("max", dict(input=X, dim=1, keepdim=True), lambda: (X.max(1, keepdims=True), None)),
    ("sort", dict(input=X, dim=1), lambda: (np.sort(X, 1), np.argsort(X, 1))),
    ("clamp", dict(input=X, min=0.3, max=0.7), lambda: np.clip(X, 0.3, 0.7)),
    ("flatten", dict(input=B, start_dim=1), lambda: B.reshape(2, 12)),
    ("squeeze", dict(input=X[:1], dim=0), lambda: X[0]),
    ("clone", dict(input=X), lambda: X),
    ("add", dict(input=X, other=Y, alpha=2), lambda: X + 2 * Y),
    ("cat", dict(tensors=[X, Y], dim=0), lambda: np.concatenate([X, Y])),
    ("nn.functional.softmax", dict(input=X, dim=-1), lambda: np.exp(X) / np.exp(X).sum(1)[:, None]),
    ("linalg.cholesky", dict(input=SPD), lambda: np.linalg.cholesky(SPD)),
    ("special.expm1", dict(input=X), lambda: np.expm1(X)),
    ("Tensor.add", dict(self=X, other=Y, alpha=2), lambda: X + 2 * Y),
    ("Tensor.masked_fill", dict(self=X, mask=MASK, value=0.0), lambda: np.where(MASK, 0.0, X)),
]


def _resolve(lib, what):
    obj = lib
    for part in what.split("."):
        obj = getattr(obj, part)
    return obj


def _call(lib, what, kwargs):
    tensor = lib.tensor if lib is ember else lib.as_tensor

    def conv(v):
        if isinstance(v, np.ndarray):
            return tensor(v)
        if isinstance(v, list):
            return [conv(u) for u in v]
        return v

    kw = {k: conv(v) for k, v in kwargs.items()}
    if "self" in kw:
        return getattr(kw.pop("self"), what.split(".")[1])(**kw)
    return _resolve(lib, what)(**kw)


def _arrays(r):
    """r as a list of (array, dtype name) pairs."""
    if isinstance(r, tuple | list):
        return [a for x in r for a in _arrays(x)]
    if hasattr(r, "detach"):  # a torch tensor
        return [(r.detach().numpy(), str(r.dtype).split(".")[-1])]
    if isinstance(r, ember.Tensor):
        return [(r.numpy(), str(r.dtype).split(".")[-1])]
    if hasattr(r, "itemsize") and not isinstance(r, np.ndarray):  # a dtype (result_type)
        return [(np.zeros(()), str(r).split(".")[-1])]
    return [(np.asarray(r), type(r).__name__)]


def _ids(rows):
    return [f"{r[0]}-{i}" for i, r in enumerate(rows)]


@pytest.mark.parametrize("row", ROWS, ids=_ids(ROWS))
def test_torch_keyword_names_as_torch(row):
    torch = pytest.importorskip("torch")
    what, kwargs = row
    want, got = _arrays(_call(torch, what, kwargs)), _arrays(_call(ember, what, kwargs))
    assert len(got) == len(want)
    for (g, gd), (w, wd) in zip(got, want, strict=True):
        assert gd == wd, what
        assert g.shape == w.shape, what
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-9, err_msg=what)


@pytest.mark.parametrize("row", CORE, ids=_ids(CORE))
def test_torch_keyword_names_against_numpy(row):
    what, kwargs, reference = row
    got, want = _call(ember, what, kwargs), reference()
    if isinstance(want, tuple):  # (values, indices or None)
        for g, w in zip(got, want, strict=True):
            if w is not None:
                np.testing.assert_allclose(g.numpy(), w, rtol=1e-12)
        return
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)


def _table():
    modules = {"ember": ember, "ember.linalg": ember.linalg, "ember.special": ember.special}
    for module, specs in _keywords.TORCH_NAMES.items():
        for spec, names in specs.items():
            renames = dict(pair.split("=") for pair in spec.split())
            for name in names.split():
                yield modules[module], name, renames


@pytest.mark.parametrize(
    "module, name, renames", list(_table()), ids=[f"{m.__name__}.{n}" for m, n, _ in _table()]
)
def test_renamed_signatures(module, name, renames):
    """Each TORCH_NAMES function shows torch's names, and refuses its old ones by keyword
    (TypeError, as torch refuses them)."""
    fn = getattr(module, name)
    params = inspect.signature(fn).parameters
    assert set(renames.values()) <= set(params), (name, list(params))
    old = set(renames) - set(renames.values())
    assert not old & set(params), (name, list(params))
    with pytest.raises(TypeError):
        fn(**{n: X for n in old})


def test_rename_keeps_closures_and_positional_calls():
    """_rename on a function whose renamed argument a closure and a comprehension use, behind
    a functools.wraps wrapper: the same results positionally and under the new names."""
    import functools

    def f(x, dim=None):
        def g():
            return x + 1

        return [x * k for k in range(2)], g(), dim

    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        return f(*args, **kwargs)

    _keywords._rename(wrapper, {"x": "input"})
    assert wrapper(3, 1) == ([0, 3], 4, 1)
    assert wrapper(input=3, dim=1) == ([0, 3], 4, 1)
    assert list(inspect.signature(wrapper).parameters) == ["input", "dim"]
    with pytest.raises(TypeError, match="x"):
        wrapper(x=3)
    # an entry naming parameters the function lacks is refused at import, not at a call
    with pytest.raises(RuntimeError, match="TORCH_NAMES"):
        _keywords._rename(wrapper, {"y": "other"})


def test_lstsq_keyword_names():
    """torch.linalg.lstsq(input, b): the solution (torch's default driver leaves
    singular_values empty, ember's fills them)."""
    torch = pytest.importorskip("torch")
    want = torch.linalg.lstsq(input=torch.as_tensor(SPD), b=torch.as_tensor(X.T)).solution
    got = ember.linalg.lstsq(input=ember.tensor(SPD), b=ember.tensor(X.T)).solution
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10)


@pytest.mark.parametrize("name", ["softmax", "log_softmax", "special.softmax"])
def test_softmax_dtype_third(name):
    """torch.softmax(input, dim, dtype) takes dtype third (F.softmax has _stacklevel there):
    ember.softmax, which is F.softmax, must not drop it."""
    fn = _resolve(ember, name)
    t = ember.tensor(X)
    got = fn(t, 1, ember.float32)
    assert got.dtype == ember.float32
    want = _resolve(ember, name)(t.float(), 1)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)


def test_randint_keyword_names():
    """torch.randint(high=, size=) and (low=, high=, size=): the range and the shape (the
    values are ember's own random stream)."""
    r = ember.randint(high=5, size=(200,))
    assert r.shape == (200,) and r.dtype == ember.int64
    assert 0 <= int(r.min()) and int(r.max()) < 5
    r = ember.randint(low=3, high=5, size=(2, 50))
    assert r.shape == (2, 50) and 3 <= int(r.min()) and int(r.max()) < 5


def test_keyword_errors():
    t = ember.tensor(X)
    with pytest.raises(TypeError, match="multiple values"):
        ember.exp(t, input=t)
    with pytest.raises(TypeError, match="unexpected keyword"):
        ember.sum(input=t, dims=1)
    with pytest.raises(TypeError):
        ember.add(t, other=t, input=t)
    with pytest.raises(TypeError, match="end"):
        ember.arange()


def test_out_and_numpy_names_with_torch_names():
    """The renamed functions keep out= and axis=/keepdims= (the wrappers _keywords builds)."""
    t = ember.tensor(X)
    out = ember.empty(3)
    r = ember.sum(input=t, dim=1, out=out)
    assert r is out
    np.testing.assert_allclose(out.numpy(), X.sum(1))
    np.testing.assert_allclose(ember.sum(input=t, axis=0, keepdims=True).numpy(), X.sum(0)[None])
    np.testing.assert_allclose(ember.exp(input=t, out=ember.empty(3, 4)).numpy(), np.exp(X))
