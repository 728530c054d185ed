"""Differential hunt (round 25b) of the non-kernel API against PyTorch: Module state_dict,
registration and setattr rules, containers, nn.utils.rnn errors, data utilities and
creation functions. One regression test per fix, then a compact parametrised sample."""

import numpy as np
import pytest

import ember
import ember.utils.data as D
from ember import nn
from ember.nn.utils import rnn


def _outcome(lib, data, code):
    """Run ``code`` with ``tc``/``nn``/``D`` bound to ``lib``; its ``out`` or the error class."""
    ns = {"tc": lib, "nn": lib.nn, "D": data, "np": np}
    try:
        exec(code, ns)
    except Exception as e:  # noqa: BLE001 - the class is the outcome compared
        return e
    return ns.get("out")


def _value(v):
    """Compare-ready form: tensors as (dtype name, values rounded), dtypes by name."""
    if hasattr(v, "detach"):
        a = np.asarray(v.detach().numpy())
        return (_value(v.dtype), np.round(a.astype(np.float64), 5).tolist())
    if type(v).__module__ == "torch" or isinstance(v, np.dtype) or "DType" in type(v).__name__:
        return str(v).removeprefix("torch.")
    if isinstance(v, list | tuple):
        return [_value(x) for x in v]
    return v


# ---- fixes -------------------------------------------------------------------------------
def test_state_dict_positional_destination_is_filled_and_returned():
    m = nn.Sequential(nn.Linear(2, 1))
    d = {}
    got = m.state_dict(d)  # torch's deprecated positional form: (destination, prefix, ...)
    assert got is d and list(d) == ["0.weight", "0.bias"]
    assert list(m.state_dict({}, "p.")) == ["p.0.weight", "p.0.bias"]
    torch = pytest.importorskip("torch")
    td = {}
    with pytest.warns(FutureWarning):
        torch.nn.Sequential(torch.nn.Linear(2, 1)).state_dict(td)
    assert list(td) == list(d)


def test_assigning_a_module_over_a_parameter_name_is_refused():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="as parameter 'weight'"):
        lin.weight = nn.ReLU()
    assert isinstance(lin.weight, nn.Parameter) and "weight" not in lin._modules
    lin.weight = None  # None still keeps the slot, and a Module over a buffer is allowed
    bn = nn.BatchNorm1d(2)
    bn.running_mean = nn.ReLU()
    assert "running_mean" in bn._modules and "running_mean" not in bn.state_dict()
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        torch.nn.Linear(2, 2).weight = torch.nn.ReLU()


@pytest.mark.parametrize("factor, exc", [(1.5, TypeError), ("2", TypeError), (0, ValueError)])
def test_sequential_times_a_non_int_is_a_type_error(factor, exc):
    with pytest.raises(exc):
        nn.Sequential(nn.ReLU()) * factor
    torch = pytest.importorskip("torch")
    with pytest.raises(exc):
        torch.nn.Sequential(torch.nn.ReLU()) * factor


@pytest.mark.parametrize(
    "seqs, kw",
    [
        ([], {}),
        ([[1.0]], {"padding_side": "middle"}),
        ([np.ones((2, 3)), np.ones((1, 2))], {}),
    ],
)
def test_pad_sequence_errors_are_runtime_errors_as_torch(seqs, kw):
    with pytest.raises(RuntimeError):  # still a ValueError too (ember's convention)
        rnn.pad_sequence([ember.tensor(s) for s in seqs], **kw)
    with pytest.raises(ValueError):
        rnn.pad_sequence([ember.tensor(s) for s in seqs], **kw)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.nn.utils.rnn.pad_sequence([torch.tensor(s) for s in seqs], **kw)


@pytest.mark.parametrize(
    "call",
    [
        "tc.arange(0, 5, 0)",
        "tc.arange(5, 0)",
        "tc.arange(float('nan'))",
        "tc.zeros(-1)",
        "tc.ones(2, -3)",
        "tc.full((-1,), 3.0)",
        "tc.linspace(0, 1, -1)",
        "tc.eye(-1)",
        "tc.eye(2, -1)",
    ],
)
def test_creation_range_errors_are_runtime_errors_as_torch(call):
    with pytest.raises(RuntimeError):  # and still ValueError, ember's convention
        eval(call, {"tc": ember})
    with pytest.raises(ValueError):
        eval(call, {"tc": ember})
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        eval(call, {"tc": torch})


def test_linspace_refuses_a_bool_step_count():
    with pytest.raises(TypeError, match="bool"):
        ember.linspace(0, 1, True)
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError):
        torch.linspace(0, 1, True)


@pytest.mark.parametrize("name", ["tril_indices", "triu_indices"])
@pytest.mark.parametrize("dtype", ["float32", "bool", "int16"])
def test_tri_indices_take_int32_or_int64_only(name, dtype):
    with pytest.raises(NotImplementedError, match="not implemented"):
        getattr(ember, name)(3, 3, dtype=getattr(ember, dtype))
    assert getattr(ember, name)(3, 3, dtype=ember.int32).dtype == np.int32
    torch = pytest.importorskip("torch")
    with pytest.raises(NotImplementedError):
        getattr(torch, name)(3, 3, dtype=getattr(torch, dtype))


def test_default_collate_keeps_the_graph_of_tensors_requiring_grad():
    t = ember.tensor([1.0, 2.0], requires_grad=True)
    batch = D.default_collate([t, t * 3])
    assert batch.requires_grad and batch.shape == (2, 2)
    batch.sum().backward()
    np.testing.assert_array_equal(t.grad.numpy(), [4.0, 4.0])
    assert not D.default_collate([ember.ones(2), ember.ones(2)]).requires_grad
    torch = pytest.importorskip("torch")
    tt = torch.tensor([1.0, 2.0], requires_grad=True)
    tb = torch.utils.data.default_collate([tt, tt * 3])
    tb.sum().backward()
    np.testing.assert_array_equal(tt.grad.numpy(), t.grad.numpy())


# ---- compact sample against torch -------------------------------------------------------
_M = """
class M(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)
        self.bn = nn.BatchNorm1d(2)
        self.register_buffer("tmp", tc.zeros(2), persistent=False)
        self.register_buffer("keep", tc.ones(1))
m = M()
"""
_SAMPLE = [
    _M + "out = list(m.state_dict(prefix='a.'))",
    _M + "sd = m.state_dict(); del sd['lin.weight']; sd['x'] = tc.ones(1)\n"
    "r = m.load_state_dict(sd, strict=False); out = (r.missing_keys, r.unexpected_keys)",
    _M + "sd = m.state_dict(); sd['lin.weight'] = tc.ones(3, 3); m.load_state_dict(sd)",
    _M + "sd = {k: tc.ones_like(v) * 2 for k, v in m.state_dict().items()}\n"
    "m.load_state_dict(sd, assign=True); out = (m.lin.weight, m.keep, m.lin.weight.requires_grad)",
    _M + "m.register_buffer('a.b', tc.zeros(1))",
    _M + "m.register_parameter('lin', nn.Parameter(tc.zeros(1)))",
    _M + "m.lin.weight = tc.zeros(2, 3)",
    _M + "m.l2 = m.lin; out = [n for n, _ in m.named_parameters(remove_duplicate=False)]",
    _M + "m.double(); out = (m.lin.weight.dtype, m.bn.num_batches_tracked.dtype)",
    _M + "m.get_parameter('keep')",
    _M + "m.eval(); out = [x.training for x in m.modules()]",
    "s = nn.Sequential(nn.ReLU(), nn.Tanh(), nn.Sigmoid()); del s[:2]\n"
    "out = [n for n, _ in s.named_children()]",
    "l = nn.ModuleList([nn.ReLU(), nn.Tanh()]); l.insert(1, nn.ELU()); l.pop(0)\n"
    "out = [type(x).__name__ for x in l]",
    "d = nn.ModuleDict({'b': nn.ReLU(), 'a': nn.Tanh()}); d.pop('b'); out = list(d)",
    "p = nn.ParameterList([tc.zeros(1)]); p.append(3); out = [n for n, _ in p.named_parameters()]",
    "ps = [nn.Parameter(tc.tensor([3.0, -4.0])), nn.Parameter(tc.tensor([1.0]))]\n"
    "for p in ps: p.grad = p.detach() * 2\n"
    "out = (nn.utils.clip_grad_norm_(ps, 1.0, norm_type=float('inf')), [p.grad for p in ps])",
    "R = nn.utils.rnn; a, b = tc.tensor([1.0, 2.0, 3.0]), tc.tensor([4.0])\n"
    "p = R.pack_sequence([b, a], enforce_sorted=False)\n"
    "out = (p.batch_sizes, p.sorted_indices, R.pad_packed_sequence(p, total_length=4)[0])",
    "ds = D.TensorDataset(tc.arange(10.0))\n"
    "out = [len(x) for x in D.random_split(ds, [0.33, 0.33, 0.34])]",
    "ds = D.TensorDataset(tc.arange(10.0))\n"
    "out = list(D.DataLoader(ds, batch_size=4, drop_last=True))",
    "ds = D.TensorDataset(tc.arange(4.0))\n"
    "D.DataLoader(ds, batch_size=2, batch_sampler=D.BatchSampler(range(4), 2, False))",
    "import collections; P = collections.namedtuple('P', 'a b')\n"
    "out = tuple(D.default_collate([P(1, 2.0), P(3, 4.0)]))",
    "out = (tc.arange(0, 1, 0.1), tc.arange(1, 0, -0.3), tc.arange(5.0).dtype)",
    "out = (tc.full((2,), True), tc.full((2,), 3), tc.linspace(0, 1, 1))",
    "out = tc.logspace(0, 2, 3, base=2)",
    "out = (tc.tril_indices(3, 4, 1), tc.triu_indices(4, 3, -1))",
]


@pytest.mark.parametrize("code", _SAMPLE, ids=[f"s{i}" for i in range(len(_SAMPLE))])
def test_api_sample_matches_torch(code):
    torch = pytest.importorskip("torch")
    import torch.utils.data as tdata

    want = _outcome(torch, tdata, code)
    got = _outcome(ember, D, code)
    if isinstance(want, Exception):
        assert isinstance(got, type(want)), (want, got)
    else:
        assert not isinstance(got, Exception), got
        assert _value(got) == _value(want)
