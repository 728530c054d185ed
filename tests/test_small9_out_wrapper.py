"""The out= wrapper generated with each function's own parameters (_keywords._direct): every
call form still behaves as torch's function (and as before), only the no-out call is direct."""

import inspect

import numpy as np
import pytest

import ember
from ember import _keywords

torch = pytest.importorskip("torch")

A = np.random.default_rng(0).standard_normal((3, 4))


def _calls(lib):
    a = lib.tensor(A)
    return {
        "cat": lambda: lib.cat([a, a]),
        "cat_dim": lambda: lib.cat([a, a], 1),
        "cat_kw": lambda: lib.cat(tensors=[a, a], dim=-1),
        "cat_axis": lambda: lib.cat([a, a], axis=1),
        "stack": lambda: lib.stack([a, a], dim=2),
        "sum": lambda: lib.sum(a),
        "sum_dim": lambda: lib.sum(a, 1),
        "sum_keepdim": lambda: lib.sum(a, 1, True),
        "sum_kw": lambda: lib.sum(a, dim=0, keepdim=True),
        "sum_axis": lambda: lib.sum(a, axis=1, keepdims=True),
        "sum_keepdims_only": lambda: lib.sum(a, 0, keepdims=True),
        "mean_list": lambda: lib.mean(a, [0, 1]),
        "add_alpha": lambda: lib.add(a, a, alpha=2),
        "exp": lambda: lib.exp(a),
        "softmax": lambda: lib.softmax(a, 1),
        "clamp": lambda: lib.clamp(a, min=-0.5, max=0.5),
    }


@pytest.mark.parametrize("name", list(_calls(torch)))
def test_call_forms_match_torch(name):
    t, e = _calls(torch)[name](), _calls(ember)[name]()
    assert tuple(e.shape) == tuple(t.shape)
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=1e-12)


# (NumPy's names have no torch twin to compare an out= call with: covered above; torch
# refuses sum's out= without a dim, as ember now does: tests/test_fix28b.py)
_NO_OUT_FORM = ("cat_axis", "sum_axis", "sum_keepdims_only", "sum")


@pytest.mark.parametrize("name", [n for n in _calls(torch) if n not in _NO_OUT_FORM])
def test_out_forms_match_torch(name):
    expected = _calls(torch)[name]().numpy()
    out = ember.empty(expected.shape, dtype=ember.float64)
    a = ember.tensor(A)
    call = {
        "cat": lambda: ember.cat([a, a], out=out),
        "cat_dim": lambda: ember.cat([a, a], 1, out=out),
        "cat_kw": lambda: ember.cat(tensors=[a, a], dim=-1, out=out),
        "stack": lambda: ember.stack([a, a], dim=2, out=out),
        "sum_dim": lambda: ember.sum(a, 1, out=out),
        "sum_keepdim": lambda: ember.sum(a, 1, True, out=out),
        "sum_kw": lambda: ember.sum(a, dim=0, keepdim=True, out=out),
        "mean_list": lambda: ember.mean(a, [0, 1], out=out),
        "add_alpha": lambda: ember.add(a, a, alpha=2, out=out),
        "exp": lambda: ember.exp(a, out=out),
        "softmax": lambda: ember.softmax(a, 1, out=out),
        "clamp": lambda: ember.clamp(a, min=-0.5, max=0.5, out=out),
    }[name]
    assert call() is out
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)


def test_bad_calls_are_refused_as_before_and_as_torch():
    for lib in (torch, ember):
        a = lib.ones(2, 3)
        with pytest.raises(TypeError):
            lib.add(a, a, 2)  # alpha is keyword-only
        with pytest.raises(TypeError, match="unexpected keyword|invalid combination"):
            lib.cat([a, a], foo=1)
        with pytest.raises(TypeError):
            lib.sum(a, 1, dim=1)
        with pytest.raises(TypeError):
            lib.exp()
    a = ember.ones(2, 3)
    for call in (lambda: ember.cat([a], 1, axis=1), lambda: ember.sum(a, dim=0, axis=1)):
        with pytest.raises(TypeError, match="multiple values for argument 'dim'"):
            call()
    with pytest.raises(TypeError, match="multiple values for argument 'keepdim'"):
        ember.sum(a, 0, True, keepdims=True)
    with pytest.raises(TypeError, match="argument 'out' must be Tensor"):
        ember.cat([a, a], out=np.zeros((4, 3)))


def test_the_plain_call_is_direct_and_signatures_are_kept():
    # the wrappers of simple signatures take fn's own parameters: no *args/**kwargs to pack
    # on the common call (the point of _keywords._direct), and inspect still shows fn's
    direct = 0
    for module, names in [
        (ember, _keywords.TOP_LEVEL),
        (ember.linalg, _keywords.LINALG),
        (ember.special, _keywords.SPECIAL),
    ]:
        for name in names:
            f = getattr(module, name)
            sig = inspect.signature(f)
            assert sig == inspect.signature(f.__wrapped__), name
            if not f.__code__.co_flags & inspect.CO_VARARGS:
                direct += 1
                params = inspect.signature(f, follow_wrapped=False).parameters
                assert "out" in params, name
                kinds = {p.kind for p in params.values()}
                assert inspect.Parameter.VAR_KEYWORD not in kinds, name
    for name in ("cat", "stack", "sum", "mean", "exp", "add", "matmul", "softmax", "where"):
        assert not getattr(ember, name).__code__.co_flags & inspect.CO_VARARGS, name
    assert direct > 200
