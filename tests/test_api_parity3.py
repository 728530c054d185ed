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


# --------------------------------------------------------------------------------------------
# nn.init: fans, gains, statistics, and what they refuse
# --------------------------------------------------------------------------------------------

_NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d"]
_NONLINEARITIES += ["conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]


@pytest.mark.parametrize("nonlinearity", _NONLINEARITIES)
def test_calculate_gain_like_torch(nonlinearity):
    assert enn.init.calculate_gain(nonlinearity) == tnn.init.calculate_gain(nonlinearity)
    if nonlinearity == "leaky_relu":
        for p in (0.2, 1, 3.0):
            assert enn.init.calculate_gain("leaky_relu", p) == tnn.init.calculate_gain(
                "leaky_relu", p
            )


@pytest.mark.parametrize("shape", [(5,), (3, 4), (3, 4, 5), (6, 4, 3, 2), (2, 3, 1, 1, 4), (0, 3)])
def test_fans_like_torch(shape):
    f = "_calculate_fan_in_and_fan_out"
    t = _outcome(lambda: getattr(tnn.init, f)(torch.empty(shape)))
    e = _outcome(lambda: getattr(enn.init, f)(ember.empty(shape)))
    assert (t == "ok") == (e == "ok")
    if t == "ok":
        assert getattr(enn.init, f)(ember.empty(shape)) == getattr(tnn.init, f)(torch.empty(shape))


_INITS = {
    "xavier_uniform_": {},
    "xavier_normal_": dict(gain=2.0),
    "kaiming_uniform_": dict(a=0.1, mode="fan_out", nonlinearity="leaky_relu"),
    "kaiming_normal_": dict(nonlinearity="relu"),
    "kaiming_normal_-selu": dict(nonlinearity="selu"),
    "trunc_normal_": dict(mean=0.2, std=0.5, a=-0.3, b=1.0),
    "orthogonal_": dict(gain=1.5),
    "sparse_": dict(sparsity=0.3, std=0.1),
    "uniform_": dict(a=-2, b=3),
    "normal_": dict(mean=1, std=2),
}


@pytest.mark.parametrize("shape", [(300, 200), (64, 32, 5, 5), (2000,)])
@pytest.mark.parametrize("name", sorted(_INITS))
def test_init_statistics_like_torch(name, shape):
    """Same distribution (mean, std, range, share of zeros) as PyTorch's draw on a 1-D, 2-D
    and 4-D tensor, or the same refusal."""
    fn, kw = name.split("-")[0], _INITS[name]
    tt, et = torch.empty(shape, dtype=torch.float64), ember.empty(shape, dtype=ember.float64)
    t = _outcome(lambda: getattr(tnn.init, fn)(tt, **kw))
    e = _outcome(lambda: getattr(enn.init, fn)(et, **kw))
    assert (t == "ok") == (e == "ok"), (t, e)
    if t != "ok":
        return
    a, b = tt.numpy(), et.numpy()
    scale = max(a.std(), 1e-3)
    assert abs(a.mean() - b.mean()) < 0.05 * scale + 0.05 * abs(a.mean())
    assert abs(a.std() - b.std()) < 0.05 * scale
    assert abs((a == 0).mean() - (b == 0).mean()) < 0.02
    if fn in ("uniform_", "xavier_uniform_", "kaiming_uniform_", "trunc_normal_"):
        assert abs(a.min() - b.min()) < 0.02 * scale and abs(a.max() - b.max()) < 0.02 * scale
    if fn == "orthogonal_":
        q = b.reshape(shape[0], -1)
        qq = q @ q.T if q.shape[0] <= q.shape[1] else q.T @ q
        np.testing.assert_allclose(qq, 1.5**2 * np.eye(min(q.shape)), atol=1e-10)


@pytest.mark.parametrize("name", sorted(_INITS))
def test_random_init_of_an_integer_tensor_raises(name):
    """A random draw into an int tensor would truncate silently (PyTorch raises
    NotImplementedError; ember a TypeError)."""
    fn, kw = name.split("-")[0], _INITS[name]
    shape = (6, 4)
    with pytest.raises(NotImplementedError):
        getattr(tnn.init, fn)(torch.zeros(shape, dtype=torch.int64), **kw)
    t = ember.zeros(shape, dtype=ember.int64)
    with pytest.raises(TypeError, match="floating-point"):
        getattr(enn.init, fn)(t, **kw)
    assert not t.numpy().any()
    enn.init.constant_(t, 3)  # plain fills of an int tensor stay fine, as in PyTorch
    tnn.init.constant_(torch.zeros(shape, dtype=torch.int64), 3)
    assert (t.numpy() == 3).all()


# --------------------------------------------------------------------------------------------
# nn.utils: weight norm, spectral norm
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("api", ["hook", "parametrization"])
@pytest.mark.parametrize("dim", [-3, -2, -1, 0, 1, 2, None])
def test_weight_norm_dims_like_torch(dim, api):
    """weight_norm over every dim of a Linear weight: the same g / v parameters, forward and
    gradients, and IndexError (module unchanged) for a dim out of range (was wrapped around)."""
    torch.manual_seed(0)
    tm = tnn.Linear(3, 4).double()
    em = enn.Linear(3, 4)
    em.double()
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    tf = tnn.utils.weight_norm if api == "hook" else tnn.utils.parametrizations.weight_norm
    ef = enn.utils.weight_norm if api == "hook" else enn.utils.parametrizations.weight_norm
    with pytest.warns(FutureWarning) if api == "hook" else _nullcontext():
        t = _outcome(lambda: tf(tm, dim=dim))
    with pytest.warns(FutureWarning) if api == "hook" else _nullcontext():
        e = _outcome(lambda: ef(em, dim=dim))
    assert t == e, (t, e)
    if t != "ok":
        assert [n for n, _ in em.named_parameters()] == ["weight", "bias"]
        return
    tsd, esd = tm.state_dict(), em.state_dict()
    assert list(esd) == list(tsd)
    for k in tsd:
        np.testing.assert_allclose(esd[k].numpy(), tsd[k].numpy(), rtol=1e-12, err_msg=k)
    x = np.random.default_rng(1).normal(size=(2, 3))
    yt, ye = tm(torch.from_numpy(x)), em(ember.tensor(x))
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-12)
    (yt**2).sum().backward()
    (ye**2).sum().backward()
    tg = {n: p.grad.numpy() for n, p in tm.named_parameters()}
    for n, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tg[n], rtol=1e-10, atol=1e-14, err_msg=n)


def _nullcontext():
    import contextlib

    return contextlib.nullcontext()
