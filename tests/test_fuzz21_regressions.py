"""Regressions found by fuzz21's differential hunt against PyTorch (optimisers, lr schedulers,
nn.init, Module API and containers, nn.utils, data, transformer/attention modules)."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

_OPTIMS = ["SGD", "Adam", "AdamW", "Adagrad", "Adadelta", "Adamax", "NAdam", "RAdam", "RMSprop"]
_OPTIMS += ["Rprop", "ASGD"]


@pytest.mark.parametrize("name", _OPTIMS)
def test_complex_0d_parameter_steps_as_torch(name):
    # a 0-d complex parameter: its (2,) real view (was: NumPy's "Changing the dtype of a 0d
    # array" ValueError, then a (1, 2) view the kernels refused)
    p0 = np.array(1.0 + 2.0j, np.complex128)
    v0 = np.array([0.5 - 1.0j, 2.0j], np.complex128)
    e = [ember.nn.Parameter(ember.tensor(p0.copy())), ember.nn.Parameter(ember.tensor(v0.copy()))]
    t = [torch.nn.Parameter(torch.tensor(p0.copy())), torch.nn.Parameter(torch.tensor(v0.copy()))]
    eo = getattr(ember.optim, name)(e, lr=0.1)
    to = getattr(torch.optim, name)(t, lr=0.1)
    for step in range(3):
        for ps, lib in ((e, ember), (t, torch)):
            ps[0].grad = lib.tensor(np.array(0.5 - 1.0j * step, np.complex128))
            ps[1].grad = lib.tensor(np.array([1.0 + 1.0j, -2.0 + step * 1j], np.complex128))
        eo.step()
        to.step()
    for a, b in zip(e, t):
        assert a.shape == tuple(b.shape)
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    # the state keeps the parameter's complex shape
    for k, v in eo.state[e[0]].items():
        tv = to.state[t[0]][k]
        assert tuple(v.shape) == tuple(tv.shape), k


def test_modulelist_repr_compresses_repeated_children():
    # torch's ModuleList repr: a run of equal children is one line "(a-b): n x ..."
    for lib in (ember, torch):
        nn = lib.nn
        m = nn.Sequential(
            nn.ModuleList([nn.ReLU(), nn.ReLU(), nn.Tanh(), nn.Linear(1, 1), nn.Linear(1, 1)]),
            nn.ModuleList(),
        )
        if lib is ember:
            got = repr(m)
        else:
            want = repr(m)
    assert got == want
    assert "(0-1): 2 x ReLU()" in got and "(3-4): 2 x Linear(" in got
    enc = ember.nn.TransformerEncoder(ember.nn.TransformerEncoderLayer(4, 2, 8), 3)
    assert "(layers): ModuleList(\n    (0-2): 3 x TransformerEncoderLayer(\n" in repr(enc)


def test_modulelist_setitem_out_of_range_raises():
    # was: l[5] = m wrapped round (5 % len) and silently replaced another entry
    for lib in (ember, torch):
        nn = lib.nn
        lst = nn.ModuleList([nn.ReLU(), nn.Tanh()])
        for idx in (2, 5, -3):
            with pytest.raises(IndexError, match="out of range"):
                lst[idx] = nn.GELU()
        assert [type(m).__name__ for m in lst] == ["ReLU", "Tanh"]
        lst[-1] = nn.GELU()
        assert [type(m).__name__ for m in lst] == ["ReLU", "GELU"]


@pytest.mark.parametrize(
    "lengths, enforce_sorted",
    [([3, 5, 1, 4], True), ([0, 1, 1, 1], False), ([2, 1, 1, 1, 1], False), ([[2, 1, 1, 1]], True)],
    ids=["unsorted", "zero", "too-many", "2-d"],
)
def test_pack_padded_sequence_bad_lengths_raise_runtime_error_too(lengths, enforce_sorted):
    # torch raises RuntimeError for these; ember's ValueError is now a RuntimeError as well, so
    # torch code catching RuntimeError still works
    pack = ember.nn.utils.rnn.pack_padded_sequence
    with pytest.raises(RuntimeError):
        torch.nn.utils.rnn.pack_padded_sequence(
            torch.zeros(5, 4, 2), lengths, False, enforce_sorted
        )
    with pytest.raises(RuntimeError, match="pack_padded_sequence"):
        pack(ember.zeros(5, 4, 2), lengths, False, enforce_sorted)
    with pytest.raises(ValueError, match="pack_padded_sequence"):
        pack(ember.zeros(5, 4, 2), lengths, False, enforce_sorted)


def test_load_state_dict_strict_message_is_torchs():
    # torch's wording to the character: double-quoted keys and a closing '. ' (was: repr quotes)
    msgs = []
    for lib in (ember, torch):
        nn = lib.nn
        m = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
        sd = dict(m.state_dict())
        del sd["0.bias"], sd["1.weight"]
        sd["extra"] = lib.zeros(1)
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict(sd)
        msgs.append(str(info.value))
    assert msgs[0] == msgs[1]
    assert 'Missing key(s) in state_dict: "0.bias", "1.weight". ' in msgs[0]
