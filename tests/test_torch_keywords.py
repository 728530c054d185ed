"""torch's ``out=`` keyword: written in place, resized, refused under autograd, cast-checked."""

import functools

import numpy as np
import pytest

import ember
from ember import _keywords as _out


def _arg(x):
    return np.random.default_rng(0).uniform(0.1, 0.9, x)


CASES = [  # name, arguments (NumPy arrays become tensors), keyword arguments
    ("add", [(3, 4), (3, 4)], {"alpha": 2}),
    ("mul", [(3, 4), (4,)], {}),
    ("matmul", [(3, 4), (4, 2)], {}),
    ("bmm", [(2, 3, 4), (2, 4, 5)], {}),
    ("addmm", [(3, 5), (3, 4), (4, 5)], {"beta": 0.5}),
    ("exp", [(5,)], {}),
    ("tanh", [(2, 3)], {}),
    ("clamp", [(4, 4)], {"min": 0.3, "max": 0.6}),
    ("cat", [[(2, 3), (1, 3)]], {}),
    ("stack", [[(2, 3), (2, 3)]], {"dim": 1}),
    ("sum", [(3, 4)], {"dim": 1}),
    ("mean", [(3, 4)], {"dim": 0}),
    ("cumsum", [(3, 4)], {"dim": 1}),
    ("where", [(3, 4), (3, 4)], {}),
    ("pow", [(3,), (3,)], {}),
    ("logsumexp", [(3, 4)], {"dim": 1}),
]


@pytest.mark.parametrize("name, shapes, kwargs", CASES, ids=[c[0] for c in CASES])
def test_out_matches_the_plain_result_and_is_returned(name, shapes, kwargs):
    torch = pytest.importorskip("torch")
    args = [[_arg(s) for s in a] if isinstance(a, list) else _arg(a) for a in shapes]
    if name == "where":
        args = [args[0] > 0.5, *args]

    def wrap(lib, a):
        return [wrap(lib, x) for x in a] if isinstance(a, list) else lib.tensor(a)

    expected = getattr(torch, name)(*[wrap(torch, a) for a in args], **kwargs)
    out = ember.empty(tuple(expected.shape), dtype=ember.float64)
    got = getattr(ember, name)(*[wrap(ember, a) for a in args], **kwargs, out=out)
    assert got is out
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-12)


def test_every_listed_function_takes_out():
    for module, names in [
        (ember, _out.TOP_LEVEL),
        (ember.linalg, _out.LINALG),
        (ember.special, _out.SPECIAL),
    ]:
        for name in names:
            assert hasattr(getattr(module, name), "__wrapped__"), name


def test_creation_linalg_and_special_write_into_out():
    out = ember.empty(0, dtype=ember.int64)
    assert ember.arange(5, out=out) is out
    np.testing.assert_array_equal(out.data, np.arange(5))
    a = ember.tensor([[2.0, 1.0], [1.0, 3.0]], dtype=ember.float64)
    inv = ember.empty(2, 2, dtype=ember.float64)
    ember.linalg.inv(a, out=inv)
    np.testing.assert_allclose(inv.data, np.linalg.inv(a.data), rtol=1e-14)
    s = ember.empty(2)
    ember.special.expit(ember.zeros(2), out=s)
    np.testing.assert_array_equal(s.data, [0.5, 0.5])


def test_several_outputs_take_a_tuple_and_return_torchs_type():
    x = ember.tensor([[1.0, 5.0], [4.0, 2.0]])
    values, indices = ember.empty(0), ember.empty(0, dtype=ember.int64)
    r = ember.max(x, 1, out=(values, indices))
    assert r.values is values and r.indices is indices
    np.testing.assert_array_equal(values.data, [5.0, 4.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    s = ember.sort(x, 1, out=[ember.empty(2, 2), ember.empty(2, 2, dtype=ember.int64)])
    np.testing.assert_array_equal(s.values.data, [[1.0, 5.0], [2.0, 4.0]])
    with pytest.raises(TypeError, match="tuple of 2 Tensors"):
        ember.max(x, 1, out=values)


def test_out_may_alias_an_input():
    a = ember.ones(3)
    ember.add(a, a, out=a)
    np.testing.assert_array_equal(a.data, [2.0, 2.0, 2.0])


def test_out_of_another_shape_is_resized_with_torchs_warning():
    out = ember.ones(3)
    with pytest.warns(UserWarning, match=r"resized since it had shape \[3\]"):
        ember.add(ember.ones(2), 1, out=out)
    assert out.shape == (2,)
    empty = ember.empty(0)
    ember.add(ember.ones(2, 2), 1, out=empty)  # no elements: resized silently
    assert empty.shape == (2, 2)


def test_out_refuses_autograd_bad_casts_and_non_tensors():
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        ember.add(ember.ones(2, requires_grad=True), 1, out=ember.empty(2))
    leaf = ember.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        ember.add(ember.ones(2), 1, out=leaf)
    with ember.no_grad():
        ember.add(ember.ones(2), 1, out=leaf)  # as torch: allowed without recording
    np.testing.assert_array_equal(leaf.data, [2.0, 2.0])
    with pytest.raises(RuntimeError, match="can't be cast"):
        ember.add(ember.ones(2), 1.5, out=ember.empty(2, dtype=ember.int64))
    ints = ember.empty(2)
    ember.add(ember.tensor([1, 2]), 1, out=ints)  # int result into a float out: allowed
    np.testing.assert_array_equal(ints.data, [2.0, 3.0])
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        ember.add(ember.ones(2), 1, out=[ember.empty(2)])
    frozen = ember.from_numpy(np.zeros(2, np.float32))
    frozen.data.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        ember.add(ember.ones(2), 1, out=frozen)


@pytest.mark.parametrize(
    "name", ["sum", "mean", "max", "min", "amax", "amin", "std", "var", "prod", "logsumexp"]
)
def test_reductions_take_numpys_axis_and_keepdims(name):
    # makemore: P.sum(1, keepdims=True); torch maps NumPy's names onto dim/keepdim
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(1).uniform(0.5, 1.5, (3, 4))
    expected = getattr(torch.tensor(x), name)(axis=1, keepdims=True)
    expected = expected[0] if isinstance(expected, tuple) else expected  # max/min: values
    for got in (
        getattr(ember.tensor(x), name)(axis=1, keepdims=True),
        getattr(ember, name)(ember.tensor(x), axis=1, keepdims=True),
    ):
        got = got[0] if isinstance(got, tuple) else got
        np.testing.assert_allclose(got.data, expected.numpy(), rtol=1e-12)


def test_numpy_names_elsewhere_and_their_errors():
    x = ember.tensor([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(ember.cat([x, x], axis=1).data, np.concatenate([x.data] * 2, 1))
    np.testing.assert_array_equal(x.argmax(axis=0).data, [1, 1])
    np.testing.assert_array_equal(x.any(axis=1, keepdims=True).shape, (2, 1))
    with pytest.raises(TypeError, match="multiple values for argument 'dim'"):
        x.sum(0, axis=1)
    with pytest.raises(TypeError, match="multiple values for argument 'dim'"):
        ember.cat([x, x], dim=0, axis=1)


_DIM_METHODS = {
    "cumsum": (), "cumprod": (), "softmax": (), "log_softmax": (), "argsort": (), "sort": (),
    "squeeze": (), "unsqueeze": (), "unbind": (), "count_nonzero": (), "diff": (),
    "cummax": (), "cummin": (), "logcumsumexp": (), "topk": (2,), "chunk": (2,),
    "tensor_split": (2,), "repeat_interleave": (2,), "kthvalue": (2,), "median": (),
    "std": (), "all": (), "nansum": (), "take_along_dim": ("index",),
}  # fmt: skip


@pytest.mark.parametrize("name", list(_DIM_METHODS))
def test_every_dim_taking_method_and_function_takes_numpy_axis(name):
    # torch's argument parser takes axis= for dim= everywhere (d2l's A.cumsum(axis=0))
    torch = pytest.importorskip("torch")
    a = np.arange(1.0, 13.0).reshape(3, 4)

    def run(lib, method):
        t = lib.tensor(a)
        args = [lib.zeros((3, 4), dtype=lib.int64) if v == "index" else v
                for v in _DIM_METHODS[name]]  # fmt: skip
        call = getattr(t, name) if method else functools.partial(getattr(lib, name), t)
        out = call(*args, axis=0)
        return [np.asarray(o) for o in (out if isinstance(out, tuple | list) else [out])]

    for method in (True, False):
        try:
            want = run(torch, method)
        except (TypeError, AttributeError):  # a torch function written in Python: no axis=
            assert not method
            continue
        for e, t in zip(run(ember, method), want, strict=True):
            np.testing.assert_allclose(e, t)


def test_factories_take_size_layout_pin_memory_and_requires_grad():
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        t = getattr(ember, name)(size=(2, 3), layout=ember.strided, pin_memory=False)
        assert t.shape == (2, 3) and t.layout is ember.strided
        with pytest.raises(TypeError, match="multiple values for argument 'size'"):
            getattr(ember, name)(2, size=(3,))
    w = ember.normal(0, 0.01, size=(2, 1), requires_grad=True)
    assert w.requires_grad and w.shape == (2, 1)
    assert ember.tril_indices(3, 3, device="cpu").shape == (2, 6)
    with pytest.raises(ValueError, match="strided"):
        ember.zeros(2, layout="sparse")
    x = ember.randn(2, 3)
    assert x.softmax(-1, dtype=ember.float64).dtype == np.float64
    assert x.log_softmax(-1, dtype=ember.float64).dtype == np.float64
