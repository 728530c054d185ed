"""API surfaces side by side with PyTorch: Module registration and traversal, nn.utils
(parameter vectors, weight / spectral norm, rnn packing), nn.init fans and statistics, and the
data pipeline (collate, DataLoader, samplers, splits). Each case runs the same call in both
libraries and compares results, or the fact of an error where ember is deliberately stricter."""

import numpy as np
import pytest

import ember
import ember.nn as enn

torch = pytest.importorskip("torch")
tnn = torch.nn


def _outcome(f):
    """'ok' or the exception class of calling f."""
    try:
        f()
    except Exception as ex:  # noqa: BLE001 - the class is the result
        return type(ex)
    return "ok"


# --------------------------------------------------------------------------------------------
# Module registration
# --------------------------------------------------------------------------------------------

_BAD_REGISTRATIONS = {
    "buffer dotted": lambda m, nn, lib: m.register_buffer("a.b", lib.zeros(1)),
    "buffer empty": lambda m, nn, lib: m.register_buffer("", lib.zeros(1)),
    "buffer over a parameter": lambda m, nn, lib: m.register_buffer("weight", lib.zeros(1)),
    "buffer over a method": lambda m, nn, lib: m.register_buffer("forward", lib.zeros(1)),
    "buffer over an attribute": lambda m, nn, lib: m.register_buffer("in_features", lib.ones(1)),
    "parameter dotted": lambda m, nn, lib: m.register_parameter("a.b", None),
    "parameter over a buffer": lambda m, nn, lib: (
        m.register_buffer("b", lib.zeros(1)),
        m.register_parameter("b", nn.Parameter(lib.zeros(1))),
    ),
    "module dotted": lambda m, nn, lib: m.add_module("a.b", nn.ReLU()),
    "module empty": lambda m, nn, lib: m.add_module("", nn.ReLU()),
    "module over a parameter": lambda m, nn, lib: m.add_module("weight", nn.ReLU()),
    "module int name": lambda m, nn, lib: m.add_module(3, nn.ReLU()),
    "buffer int name": lambda m, nn, lib: m.register_buffer(3, lib.zeros(1)),
}


@pytest.mark.parametrize("case", sorted(_BAD_REGISTRATIONS))
def test_register_rejects_names_pytorch_rejects(case):
    """A dotted or empty name would make a state_dict key that cannot be loaded back (and a
    name over an existing attribute silently replaced it): PyTorch raises KeyError / TypeError,
    and ember raises the same classes (its KeyError also a ValueError)."""
    f = _BAD_REGISTRATIONS[case]
    t = _outcome(lambda: f(tnn.Linear(2, 2), tnn, torch))
    e = _outcome(lambda: f(enn.Linear(2, 2), enn, ember))
    assert t in (KeyError, TypeError)
    assert e is not None and e != "ok" and issubclass(e, t), (t, e)
    if t is KeyError:
        assert issubclass(e, ValueError)


def test_register_accepts_what_pytorch_accepts():
    for nn, lib in ((tnn, torch), (enn, ember)):
        m = nn.Linear(2, 2, bias=False)  # bias is a registered None: a buffer may not take it
        m.register_buffer("b", lib.zeros(1))
        m.register_buffer("b", lib.ones(1))  # re-registering a buffer
        m.register_parameter("p", None)
        m.register_parameter("p", nn.Parameter(lib.zeros(1)))
        m.add_module("sub", nn.ReLU())
        m.add_module("sub", nn.Tanh())
        assert list(m.state_dict()) == ["weight", "p", "b"]
        assert isinstance(m.sub, nn.Tanh)
    # ember is more lenient in one place: a plain None attribute may become a buffer (PyTorch
    # raises KeyError), the ``self.bias = None; register_parameter("bias", None)`` pattern
    m = enn.Linear(2, 2)
    m.extra = None
    m.register_buffer("extra", ember.zeros(2))
    assert list(m.state_dict()) == ["weight", "bias", "extra"]


def test_assigning_a_plain_value_over_a_parameter_or_submodule_raises():
    """``m.weight = tensor`` used to drop the parameter silently (gone from parameters() and
    state_dict, so the optimiser stopped training it); PyTorch raises TypeError."""
    for nn, lib in ((tnn, torch), (enn, ember)):
        m = nn.Sequential(nn.Linear(2, 2))
        with pytest.raises(TypeError, match="weight"):
            m[0].weight = lib.zeros(2, 2)
        with pytest.raises(TypeError, match="'0'"):
            setattr(m, "0", lib.zeros(1))
        assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]
        m[0].weight = None  # None is allowed, and keeps the slot
        m[0].weight = nn.Parameter(lib.ones(2, 2))
        assert [n for n, _ in m.named_parameters()] == ["0.weight", "0.bias"]


# --------------------------------------------------------------------------------------------
# nn.utils: gradient clipping, parameter vectors
# --------------------------------------------------------------------------------------------


def _grads_pair(grads):
    tp = [tnn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    ep = [enn.Parameter(ember.zeros(g.shape, dtype=ember.float64)) for g in grads]
    for p, q, g in zip(tp, ep, grads):
        p.grad, q.grad = torch.from_numpy(g.copy()), ember.tensor(g.copy())
    return tp, ep


@pytest.mark.parametrize("bad", [None, np.nan, np.inf])
@pytest.mark.parametrize("norm_type", [2.0, 1, 0.5, 0, float("inf"), -float("inf")])
def test_clip_grad_norm_nonfinite_like_torch(norm_type, bad):
    """Non-finite gradients (an AMP overflow step) clip to exactly PyTorch's values, without
    NumPy's 'invalid value' RuntimeWarning for inf * 0 (an error under -W error)."""
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=(3, 4)), rng.normal(size=5)]
    if bad is not None:
        grads[1][2] = bad
    tp, ep = _grads_pair(grads)
    tn = tnn.utils.clip_grad_norm_(tp, 0.5, norm_type=norm_type)
    en = enn.utils.clip_grad_norm_(ep, 0.5, norm_type=norm_type)
    np.testing.assert_allclose(en.numpy(), tn.numpy(), rtol=1e-12)
    for p, q in zip(tp, ep):
        np.testing.assert_allclose(q.grad.numpy(), p.grad.numpy(), rtol=1e-12)
    if bad is not None:  # the total norm is non-finite, or not (norm_type 0 counts)
        t = _outcome(lambda: tnn.utils.clip_grad_norm_(tp, 0.5, norm_type, True))
        e = _outcome(lambda: enn.utils.clip_grad_norm_(ep, 0.5, norm_type, True))
        assert t == e


# --------------------------------------------------------------------------------------------
# data: collate, DataLoader, samplers, splits
# --------------------------------------------------------------------------------------------

tdata = pytest.importorskip("torch.utils.data")


def _struct(x):
    """A library-neutral description of a collated batch: container types, tensor dtypes,
    shapes and values."""
    if isinstance(x, torch.Tensor | ember.Tensor):
        return ("T", str(x.dtype).split(".")[-1], tuple(x.shape), x.numpy().tolist())
    if isinstance(x, dict):
        return {k: _struct(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return (type(x).__name__, [_struct(v) for v in x])
    return (type(x).__name__, x)


_COLLATE = {
    "ints": [1, 2, 3],
    "floats": [1.5, 2.5],
    "bools": [True, False],
    "np scalars": [np.float32(1), np.float32(2)],
    "np int64": [np.int64(3), np.int64(4)],
    "arrays": [np.array([1, 2]), np.array([3, 4])],
    "0-d arrays": [np.array(1.0), np.array(2.0)],
    "uint8": [np.array([1, 2], dtype=np.uint8)] * 2,
    "tuples": [(1, 2.0), (3, 4.0)],
    "lists": [[1, 2], [3, 4]],
    "dicts": [{"a": 1, "b": np.ones(2, np.float32)}, {"a": 2, "b": np.zeros(2, np.float32)}],
    "strings": ["x", "y"],
    "bytes": [b"a", b"b"],
    # a field of strings inside a tuple sample is a tuple in PyTorch (it zips the samples)
    "nested": [(np.ones((2, 2)), "s", {"k": [1, 2]}), (np.zeros((2, 2)), "t", {"k": [3, 4]})],
    "dict of strings": [{"name": "a", "x": 1.0}, {"name": "b", "x": 2.0}],
}


@pytest.mark.parametrize("case", sorted(_COLLATE))
def test_default_collate_like_torch(case):
    b = _COLLATE[case]
    assert _struct(ember.data.default_collate(b)) == _struct(tdata.default_collate(b))


def test_default_collate_namedtuple_of_strings():
    from collections import namedtuple

    P = namedtuple("P", "name x")
    b = [P("a", 1), P("b", 2)]
    e, t = ember.data.default_collate(b), tdata.default_collate(b)
    assert type(e) is P and _struct(tuple(e)) == _struct(tuple(t))
