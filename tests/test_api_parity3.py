"""API surfaces side by side with PyTorch: Module registration and traversal, nn.utils
(parameter vectors, weight / spectral norm, rnn packing), nn.init fans and statistics, and the
data pipeline (collate, DataLoader, samplers, splits). Each case runs the same call in both
libraries and compares results, or the fact of an error where ember is deliberately stricter."""

import copy

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


@pytest.mark.parametrize("flag", ["no", 0, None])
def test_module_requires_grad_takes_a_bool(flag):
    """requires_grad_("no") froze nothing before (a truthy string); PyTorch raises TypeError."""
    with pytest.raises(TypeError):
        tnn.Linear(2, 2).requires_grad_(flag)
    m = enn.Linear(2, 2)
    with pytest.raises(TypeError, match="requires_grad_"):
        m.requires_grad_(flag)
    assert all(p.requires_grad for p in m.parameters())


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
    torch.manual_seed(0)  # both draws seeded: a statistical comparison that cannot flake
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


@pytest.mark.parametrize("api", ["hook", "parametrization"])
@pytest.mark.parametrize(
    "layer, kw",
    [
        ("Linear", {}),
        ("Conv2d", {}),
        ("Linear", dict(n_power_iterations=3)),
        ("Linear", dict(dim=1)),
    ],
)
def test_spectral_norm_power_iterations_like_torch(layer, kw, api):
    """Training-mode forwards advance u / v as PyTorch's (u, v copied from torch: their start
    is random), eval forwards do not; outputs, gradients and buffers agree."""
    args = (3, 4) if layer == "Linear" else (2, 3, 3)
    torch.manual_seed(0)
    tm = getattr(tnn, layer)(*args).double()
    em = getattr(enn, layer)(*args)
    em.double()
    tf = tnn.utils.spectral_norm if api == "hook" else tnn.utils.parametrizations.spectral_norm
    ef = enn.utils.spectral_norm if api == "hook" else enn.utils.parametrizations.spectral_norm
    tf(tm, **kw)
    ef(em, **kw)
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    shape = (2, 3) if layer == "Linear" else (2, 2, 5, 5)
    x = np.random.default_rng(1).normal(size=shape)
    for _ in range(3):
        yt, ye = tm(torch.from_numpy(x)), em(ember.tensor(x))
        np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-10)
        (yt**2).sum().backward()
        (ye**2).sum().backward()
    tg = {n: p.grad.numpy() for n, p in tm.named_parameters()}
    for n, p in em.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), tg[n], rtol=1e-8, err_msg=n)
    tm.eval()
    em.eval()
    for _ in range(2):
        yt, ye = tm(torch.from_numpy(x)), em(ember.tensor(x))
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-10)
    for k, v in tm.state_dict().items():
        np.testing.assert_allclose(em.state_dict()[k].numpy(), v.numpy(), rtol=1e-10, err_msg=k)


def test_parameters_to_vector_and_back():
    torch.manual_seed(0)
    tm = tnn.Sequential(tnn.Linear(3, 4), tnn.Conv2d(2, 3, 2)).double()
    em = enn.Sequential(enn.Linear(3, 4), enn.Conv2d(2, 3, 2))
    em.double()
    em.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})
    vt = tnn.utils.parameters_to_vector(tm.parameters())
    ve = enn.utils.parameters_to_vector(em.parameters())
    np.testing.assert_array_equal(ve.numpy(), vt.detach().numpy())
    w = np.arange(ve.shape[0], dtype=np.float64)
    (ve * ember.tensor(w)).sum().backward()  # the vector is differentiable
    (vt * torch.from_numpy(w)).sum().backward()
    for (n, p), q in zip(em.named_parameters(), tm.parameters()):
        np.testing.assert_array_equal(p.grad.numpy(), q.grad.numpy(), err_msg=n)
    v = np.random.default_rng(0).normal(size=vt.shape[0])
    tnn.utils.vector_to_parameters(torch.from_numpy(v), tm.parameters())
    enn.utils.vector_to_parameters(ember.tensor(v), em.parameters())
    for k, t in tm.state_dict().items():
        np.testing.assert_array_equal(em.state_dict()[k].numpy(), t.numpy(), err_msg=k)
    with pytest.raises(RuntimeError):  # too short, as PyTorch
        enn.utils.vector_to_parameters(ember.tensor(v[:5]), em.parameters())
    # ember is stricter: a vector longer than the parameters is an error, PyTorch ignores the tail
    with pytest.raises(RuntimeError):
        enn.utils.vector_to_parameters(ember.tensor(np.zeros(1000)), em.parameters())


# --------------------------------------------------------------------------------------------
# nn.utils.rnn
# --------------------------------------------------------------------------------------------

_LENS = [3, 5, 1, 4]


def _seqs():
    rng = np.random.default_rng(0)
    return [rng.normal(size=(n, 2)) for n in _LENS]


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_pad_sequence_like_torch(batch_first, side):
    s = _seqs()
    kw = dict(batch_first=batch_first, padding_value=-1.0, padding_side=side)
    t = tnn.utils.rnn.pad_sequence([torch.from_numpy(a) for a in s], **kw)
    e = enn.utils.rnn.pad_sequence([ember.tensor(a) for a in s], **kw)
    np.testing.assert_array_equal(e.numpy(), t.numpy())


def _idx(v):
    return None if v is None else np.asarray(v.numpy() if hasattr(v, "numpy") else v)


@pytest.mark.parametrize("enforce_sorted", [False, True])
def test_pack_pad_round_trips_like_torch(enforce_sorted):
    s = _seqs()
    if enforce_sorted:
        s = sorted(s, key=len, reverse=True)
    pt = tnn.utils.rnn.pack_sequence([torch.from_numpy(a) for a in s], enforce_sorted)
    pe = enn.utils.rnn.pack_sequence([ember.tensor(a) for a in s], enforce_sorted)
    np.testing.assert_array_equal(pe.data.numpy(), pt.data.numpy())
    for a, b in ((pt.batch_sizes, pe.batch_sizes), (pt.sorted_indices, pe.sorted_indices)):
        assert (_idx(a) is None) == (_idx(b) is None)
        if a is not None:
            np.testing.assert_array_equal(_idx(b), _idx(a))
    for bf in (False, True):
        for total in (None, 5, 7):
            t, tl = tnn.utils.rnn.pad_packed_sequence(pt, bf, 9.0, total)
            e, el = enn.utils.rnn.pad_packed_sequence(pe, bf, 9.0, total)
            np.testing.assert_array_equal(e.numpy(), t.numpy())
            np.testing.assert_array_equal(_idx(el), _idx(tl))
    with pytest.raises(ValueError, match="total_length"):
        enn.utils.rnn.pad_packed_sequence(pe, total_length=3)
    pad = np.stack([np.pad(a, ((0, 5 - len(a)), (0, 0))) for a in s])
    lens = [len(a) for a in s]
    for bf in (False, True):
        x = pad if bf else pad.transpose(1, 0, 2).copy()
        for ln in (lens, np.array(lens), ember.tensor(np.array(lens))):
            pe2 = enn.utils.rnn.pack_padded_sequence(ember.tensor(x), ln, bf, enforce_sorted)
            np.testing.assert_array_equal(pe2.data.numpy(), pt.data.numpy())
    for a, b in zip(tnn.utils.rnn.unpack_sequence(pt), enn.utils.rnn.unpack_sequence(pe)):
        np.testing.assert_array_equal(b.numpy(), a.numpy())


def test_pack_sequence_gradient_like_torch():
    s = _seqs()
    xs = [ember.tensor(a, requires_grad=True) for a in s]
    ts = [torch.tensor(a, requires_grad=True) for a in s]
    for lib, nn, v in ((ember, enn, xs), (torch, tnn, ts)):
        o, _ = nn.utils.rnn.pad_packed_sequence(nn.utils.rnn.pack_sequence(v, False), True)
        w = np.arange(int(np.prod(o.shape)), dtype=np.float64).reshape(tuple(o.shape))
        (o * (ember.tensor(w) if lib is ember else torch.from_numpy(w))).sum().backward()
    for a, b in zip(xs, ts):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


@pytest.mark.parametrize(
    "lengths, enforce_sorted",
    [([3, 5, 1, 4], True), ([0, 1, 1, 1], False), ([6, 1, 1, 1], False), ([1, 1, 1], False)],
    ids=["unsorted", "zero", "too-long", "too-few"],
)
def test_pack_padded_sequence_bad_lengths(lengths, enforce_sorted):
    """PyTorch raises RuntimeError for the first two and accepts the last two (a length past
    the padded time axis, fewer lengths than sequences); ember refuses all with ValueError."""
    with pytest.raises(ValueError, match="pack_padded_sequence"):
        enn.utils.rnn.pack_padded_sequence(ember.zeros(5, 4, 2), lengths, False, enforce_sorted)


# --------------------------------------------------------------------------------------------
# Module traversal, state_dict, hooks, deepcopy
# --------------------------------------------------------------------------------------------


def _zoo(nn, lib):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 4)
            self.b = self.a  # the same module twice
            self.seq = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.BatchNorm1d(4))
            self.seq.add_module("again", self.seq[0])
            self.register_buffer("buf", lib.ones(2))
            self.register_buffer("tmp", lib.zeros(2), persistent=False)
            self.register_buffer("none", None)
            self.register_parameter("p0", None)
            self.ml = nn.ModuleList([nn.Linear(2, 2)])
            self.md = nn.ModuleDict({"x": nn.Tanh(), "y": self.a})
            self.pl = nn.ParameterList([nn.Parameter(lib.zeros(2))])

    return M()


@pytest.mark.parametrize(
    "method, kw",
    [
        ("named_modules", {}),
        ("named_modules", dict(remove_duplicate=False)),
        ("named_modules", dict(prefix="pre")),
        ("named_parameters", {}),
        ("named_parameters", dict(remove_duplicate=False)),
        ("named_parameters", dict(recurse=False)),
        ("named_parameters", dict(prefix="z")),
        ("named_buffers", {}),
        ("named_buffers", dict(remove_duplicate=False)),
        ("named_children", {}),
    ],
)
def test_traversal_names_and_order_like_torch(method, kw):
    t, e = _zoo(tnn, torch), _zoo(enn, ember)
    assert [n for n, _ in getattr(e, method)(**kw)] == [n for n, _ in getattr(t, method)(**kw)]


def test_state_dict_apply_train_eval_requires_grad_like_torch():
    t, e = _zoo(tnn, torch), _zoo(enn, ember)
    assert list(e.state_dict()) == list(t.state_dict())  # no 'tmp', no None entries
    assert list(e.state_dict(prefix="p.")) == list(t.state_dict(prefix="p."))
    order = {}
    for m, k in ((t, "t"), (e, "e")):
        order[k] = []
        m.apply(lambda mod, k=k: order[k].append(type(mod).__name__))
    assert order["e"] == order["t"]
    for m in (t, e):
        m.eval()
        m.seq.train()
    assert [m.training for m in e.modules()] == [m.training for m in t.modules()]
    assert e.train(False) is e
    for m in (t, e):
        m.requires_grad_(False)
        m.a.requires_grad_()
    assert [p.requires_grad for p in e.parameters()] == [p.requires_grad for p in t.parameters()]


def test_load_state_dict_strict_false_reports_keys_like_torch():
    t = tnn.Sequential(tnn.Linear(2, 3), tnn.BatchNorm1d(3))
    e = enn.Sequential(enn.Linear(2, 3), enn.BatchNorm1d(3))
    sd = {k: v.numpy().copy() for k, v in t.state_dict().items()}
    del sd["0.bias"]
    sd["extra"] = np.zeros(1)
    sd["1.running_mean"] = np.ones(3)
    rt = t.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=False)
    re_ = e.load_state_dict(sd, strict=False)
    assert re_.missing_keys == rt.missing_keys == ["0.bias"]
    assert re_.unexpected_keys == rt.unexpected_keys == ["extra"]
    np.testing.assert_array_equal(e[1].running_mean.numpy(), np.ones(3))
    with pytest.raises(RuntimeError, match="Missing key"):
        e.load_state_dict(sd)
    with pytest.raises(RuntimeError, match="size mismatch"):
        e.load_state_dict({"0.weight": np.zeros((3, 3))}, strict=False)
    assert str(e.load_state_dict(e.state_dict())) == str(t.load_state_dict(t.state_dict()))


def _hook_log(nn, lib):
    log = []
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 2))
    m.register_forward_pre_hook(lambda mod, inp: log.append("pre1"))
    m.register_forward_pre_hook(lambda mod, inp: log.append("pre0"), prepend=True)
    m.register_forward_hook(lambda mod, inp, out: log.append("fwd1"))
    m.register_forward_hook(lambda mod, inp, out: log.append("fwd0"), prepend=True)
    m.register_forward_hook(lambda mod, a, kw, out: log.append("kw"), with_kwargs=True)
    m[0].register_forward_hook(lambda mod, inp, out: log.append("child"))
    m.register_forward_hook(lambda mod, inp, out: log.append("removed")).remove()
    m.register_full_backward_hook(lambda mod, gi, go: log.append("bwd"))
    m.register_full_backward_pre_hook(lambda mod, go: log.append("bwdpre"))
    m[0].register_full_backward_hook(lambda mod, gi, go: log.append(("bwd0", len(gi))))
    m(lib.ones(3, 2, requires_grad=True)).sum().backward()
    return log


def test_hook_order_like_torch():
    assert _hook_log(enn, ember) == _hook_log(tnn, torch)


def test_deepcopy_keeps_sharing_and_copies_values():
    e = _zoo(enn, ember)
    lin = enn.Linear(2, 2)
    lin(ember.ones(1, 2)).sum().backward()
    e.ml[0] = lin
    c = copy.deepcopy(e)
    assert c.a is c.b and c.md["y"] is c.a and c.a is not e.a and c.seq.again is c.seq[0]
    assert len(list(c.parameters())) == len(list(e.parameters()))
    for p, q in zip(e.parameters(), c.parameters()):
        assert p is not q and isinstance(q, enn.Parameter)
        np.testing.assert_array_equal(p.numpy(), q.numpy())
    # torch's Parameter.__deepcopy__ leaves .grad behind (a copied model starts without grads)
    assert lin.weight.grad is not None and c.ml[0].weight.grad is None
    c.a.weight.data[...] = 5
    assert not (e.a.weight.numpy() == 5).any()


# --------------------------------------------------------------------------------------------
# DataLoader, samplers, splits, datasets
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kw",
    [dict(batch_size=5), dict(batch_size=5, drop_last=True), dict(batch_size=None), dict()],
    ids=["bs5", "drop_last", "no-batching", "default"],
)
def test_dataloader_batches_like_torch(kw):
    x = np.arange(46, dtype=np.float32).reshape(23, 2)
    y = np.arange(23)
    t = tdata.DataLoader(tdata.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)), **kw)
    e = ember.data.DataLoader(ember.data.TensorDataset(ember.tensor(x), ember.tensor(y)), **kw)
    assert len(e) == len(t)
    assert [_struct(b) for b in e] == [_struct(b) for b in t]


def test_dataloader_samplers_collate_fn_and_dicts_like_torch():
    data = list(range(10))
    for kw in (
        dict(batch_sampler=[[0, 3], [5, 1, 2], [7]]),
        dict(sampler=[3, 2, 1], batch_size=2),
        dict(batch_size=3, collate_fn=lambda b: b),
        dict(batch_size=4, drop_last=True),
    ):
        t = [_struct(b) for b in tdata.DataLoader(data, **kw)]
        assert [_struct(b) for b in ember.data.DataLoader(data, **kw)] == t, kw
    ds = [{"x": np.full(3, i, dtype=np.float64), "y": i, "name": f"s{i}"} for i in range(7)]
    t = [_struct(b) for b in tdata.DataLoader(ds, batch_size=3)]
    assert [_struct(b) for b in ember.data.DataLoader(ds, batch_size=3)] == t


def test_shuffle_with_generator_is_reproducible_and_a_permutation():
    def epoch(seed):
        g = ember.Generator().manual_seed(seed)
        loader = ember.data.DataLoader(list(range(10)), batch_size=4, shuffle=True, generator=g)
        return [b.tolist() for b in loader]

    a = epoch(3)
    assert (
        a == epoch(3)
        and sorted(sum(a, [])) == list(range(10))
        and [len(b) for b in a]
        == [
            4,
            4,
            2,
        ]
    )
    loader = ember.data.DataLoader(list(range(20)), batch_size=20, shuffle=True)
    assert next(iter(loader)).tolist() != next(iter(loader)).tolist()  # a new order each epoch


@pytest.mark.parametrize("n", [10, 11, 7, 1])
@pytest.mark.parametrize(
    "lengths", [[0.3, 0.7], [0.33, 0.33, 0.34], [0.1] * 10, [0.5, 0.5]], ids=str
)
def test_random_split_fraction_lengths_like_torch(lengths, n):
    """Fractions are floored and the remainder handed out round-robin, as PyTorch (which
    warns about empty splits, as ember does)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        t = [len(s) for s in tdata.random_split(range(n), lengths)]
        parts = ember.data.random_split(range(n), lengths)
    assert [len(s) for s in parts] == t
    assert sorted(i for s in parts for i in s) == list(range(n))


def test_concat_subset_weighted_sampler():
    a = tdata.ConcatDataset([list(range(3)), list(range(10, 15))])
    b = ember.data.ConcatDataset([list(range(3)), list(range(10, 15))])
    assert [b[i] for i in range(-8, 8)] == [a[i] for i in range(-8, 8)]
    assert b.cumulative_sizes == a.cumulative_sizes
    with pytest.raises(IndexError):
        b[8]
    s = ember.data.Subset(list(range(10)), [1, 5, 7])
    assert [s[i] for i in range(3)] == [1, 5, 7] and len(s) == 3
    w = [0.1, 0.0, 0.5, 0.4]
    draws = list(ember.data.WeightedRandomSampler(w, 20000, replacement=True))
    np.testing.assert_allclose(np.bincount(draws, minlength=4) / 20000, w, atol=0.02)
    assert sorted(ember.data.WeightedRandomSampler(w, 3, replacement=False)) == [0, 2, 3]
    for bad in (dict(num_samples=5, replacement=False), dict(num_samples=0)):
        t = _outcome(lambda bad=bad: list(tdata.WeightedRandomSampler(w, **bad)))
        e = _outcome(lambda bad=bad: list(ember.data.WeightedRandomSampler(w, **bad)))
        assert t != "ok" and e is t


def test_tensor_from_a_torch_tensor_copies_without_numpy_warning():
    """ember.tensor(torch_tensor) (copying torch weights by hand) used to raise NumPy 2's
    DeprecationWarning about __array__(copy=), an error under -W error; it copies, keeping
    the dtype."""
    import warnings

    a = torch.arange(6.0, dtype=torch.float64).reshape(2, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        e = ember.tensor(a)
        i = ember.tensor(torch.tensor([1, 2]))
        f = ember.tensor(a, dtype=ember.float32)
    a[0, 0] = 100
    assert e.dtype == ember.float64 and e.numpy()[0, 0] == 0
    assert i.dtype == ember.int64 and f.dtype == ember.float32


def test_clip_grad_norm_mixed_dtypes_promotes_like_torch():
    """float32 and float64 gradients together: the total norm is float64 (PyTorch stacks the
    per-tensor norms, promoting) and the float64 gradients are scaled by the float64 norm (was
    the first gradient's float32, rounding the float64 ones' coefficient)."""
    rng = np.random.default_rng(0)
    g32, g64 = rng.normal(size=5).astype(np.float32), rng.normal(size=(3, 4))
    tp = [tnn.Parameter(torch.zeros(5)), tnn.Parameter(torch.zeros(3, 4, dtype=torch.float64))]
    ep = [enn.Parameter(ember.zeros(5)), enn.Parameter(ember.zeros(3, 4, dtype=ember.float64))]
    for ps, lib in ((tp, torch), (ep, ember)):
        ps[0].grad, ps[1].grad = (
            lib.tensor(g32.copy()),
            lib.tensor(g64.copy()),
        )
    tn = tnn.utils.clip_grad_norm_(tp, 0.5)
    en = enn.utils.clip_grad_norm_(ep, 0.5)
    assert en.dtype == ember.float64 and tn.dtype == torch.float64
    np.testing.assert_allclose(en.numpy(), tn.numpy(), rtol=1e-7)
    # (PyTorch rounds the float32 gradient's own norm to float32 before stacking)
    np.testing.assert_allclose(ep[1].grad.numpy(), tp[1].grad.numpy(), rtol=1e-7)
    np.testing.assert_allclose(ep[0].grad.numpy(), tp[0].grad.numpy(), rtol=1e-6)


def test_get_worker_info_for_a_sharding_iterable_dataset():
    """The usual sharding IterableDataset (torch's docs' pattern) asks get_worker_info(); in
    the main process the answer is None, in each worker its id and count, in both libraries
    (so two workers interleave their shards' batches)."""

    def make(data_mod):
        class Shards(data_mod.IterableDataset):
            def __iter__(self):
                info = data_mod.get_worker_info()
                if info is None:
                    return iter(range(7))
                return iter(range(info.id, 7, info.num_workers))

        return Shards()

    for workers in (0, 2):
        t = [b.tolist() for b in tdata.DataLoader(make(tdata), batch_size=3, num_workers=workers)]
        e = ember.data.DataLoader(make(ember.data), batch_size=3, num_workers=workers)
        assert [b.tolist() for b in e] == t
    assert t == [[0, 2, 4], [1, 3, 5], [6]]
    assert ember.data.get_worker_info() is None and tdata.get_worker_info() is None
    import ember.utils.data as eud

    assert eud.get_worker_info is ember.data.get_worker_info
