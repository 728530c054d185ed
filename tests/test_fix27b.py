"""fix27b: review27's findings on round 27's merged work, each against torch 2.13: as_strided_'s
default offset, views made before the base's requires_grad_() in a process that never counted
writes, repeat_interleave's overflow check, ``t.data = array`` keeping t's version counter,
storage_offset through as_strided's wrappers, and eye's signature."""

import inspect
import subprocess
import sys

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue

torch = pytest.importorskip("torch")


# ---- F2: as_strided_ defaults to the input's own storage offset, as as_strided -------------


@pytest.mark.parametrize("call", ["method", "function"])
def test_as_strided_in_place_default_offset_is_the_inputs(call):
    def run(L):
        w = L.arange(12.0).reshape(3, 4)[1:]
        if call == "method":
            w.as_strided_((2, 2), (1, 2))
        else:
            L.as_strided_(w, (2, 2), (1, 2))
        return w.tolist(), w.storage_offset()

    assert run(ember) == run(torch) == ([[4.0, 6.0], [5.0, 7.0]], 4)


def test_as_strided_in_place_explicit_offset_is_absolute():
    for L in (ember, torch):
        w = L.arange(12.0).reshape(3, 4)[1:]
        w.as_strided_((2,), (3,), 1)
        assert w.tolist() == [1.0, 4.0]


# ---- F3: views made before requires_grad_() in a process that never counted writes ---------

_FRESH = """
import ember
a = ember.ones(4)
{make}
a.add_(1)
a.requires_grad_()
try:
    (v * 2).sum()
except RuntimeError as e:
    print(str(e).split(".")[0])
else:
    print("used")
"""
_MAKES = {
    "no_grad": "with ember.no_grad():\n    v = a[1:3]",
    "split": "v = a.split(2)[1]",
    "chunk": "v = a.chunk(2)[0]",
    "unbind": "v = a.unbind()[2]",
}


@pytest.mark.parametrize("make", list(_MAKES))
def test_view_made_before_requires_grad_refuses_in_a_fresh_process(make, capsys):
    # (a fresh interpreter: the test process counts writes since its first recorded node)
    code = _FRESH.format(make=_MAKES[make])
    got = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    exec(code.replace("import ember", "import torch as ember"), {})  # noqa: S102
    want = capsys.readouterr().out.strip()
    assert want.startswith("A view was created in no_grad mode and its base or another view")
    assert got == want


# ---- F4: repeat_interleave's overflow check, vectorised -----------------------------------


def test_repeat_interleave_counts_sum_exactly():
    counts = np.random.default_rng(0).integers(0, 4, 1000)
    for L in (ember, torch):
        out = L.repeat_interleave(L.tensor(counts))
        assert out.shape == (counts.sum(),)
    np.testing.assert_array_equal(
        ember.repeat_interleave(ember.tensor(counts)).numpy(),
        torch.repeat_interleave(torch.tensor(counts)).numpy(),
    )
    x = np.arange(6.0).reshape(2, 3)
    got = ember.tensor(x).repeat_interleave(ember.tensor([1, 0, 2]), dim=1)
    want = torch.tensor(x).repeat_interleave(torch.tensor([1, 0, 2]), dim=1)
    np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize(
    "call",
    [
        lambda: ember.repeat_interleave(ember.tensor([2**62, 2**62])),
        lambda: ember.repeat_interleave(ember.tensor([2**62, 2**62, 2**62, 1])),
        lambda: ember.tensor([1.0, 2.0]).repeat_interleave(ember.tensor([2**62, 2**62])),
        lambda: ember.tensor([1.0, 2.0, 3.0]).repeat_interleave(2**62),
        lambda: ember.zeros(4, 3).repeat_interleave(ember.tensor([2**61] * 3), dim=1),
    ],
)
def test_repeat_interleave_refuses_sums_past_int64(call):
    with pytest.raises(BadShapeOrValue, match="overflow"):
        call()


# ---- F5: ``a.data = b.data`` keeps a's version counter, as torch's set_data ------------------


def _data_swap(L):
    a, b = L.zeros(3), L.zeros(3)
    assert a._version == b._version == 0  # (ember counts writes from the first read on)
    a.add_(1)
    a.add_(1)
    b.add_(1)
    got = [(a._version, b._version)]
    a.data = b.data
    got.append((a._version, b._version))
    a.add_(1)
    got.append((a._version, b._version))
    b.add_(1)
    got.append((a._version, b._version))
    return got, a.tolist()


def test_data_set_to_an_array_keeps_the_version_counter():
    assert _data_swap(ember) == _data_swap(torch) == ([(2, 1), (2, 1), (3, 1), (3, 2)], [3.0] * 3)


# ---- F6: storage_offset through as_strided's NumPy wrappers --------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.arange(12.0).as_strided((2, 2), (4, 1), 5),
        lambda L: L.arange(24.0).reshape(4, 6)[1:, 2:].as_strided((2,), (3,)),
        lambda L: L.arange(24.0).reshape(4, 6).t()[2:, 1:],
        lambda L: L.arange(24.0).reshape(4, 6)[2].unsqueeze(0).expand(3, 6),
    ],
)
def test_storage_offset_as_torch(make):
    got, want = make(ember), make(torch)
    assert got.storage_offset() == want.storage_offset()
    assert got.tolist() == want.tolist()
    # the offset as_strided reads from by default
    assert ember.as_strided(got, (1,), (1,)).tolist() == torch.as_strided(want, (1,), (1,)).tolist()


# ---- F7: eye's signature reads well ----------------------------------------------------------


def test_eye_signature_has_no_object_address():
    text = str(inspect.signature(ember.eye))
    assert (
        "object at" not in text
        and repr(inspect.signature(ember.eye).parameters["m"].default) == "n"
    ), text
    assert ember.eye(2).tolist() == torch.eye(2).tolist()
    assert ember.eye(2, 3).tolist() == torch.eye(2, 3).tolist()
    with pytest.raises(TypeError, match="NoneType"):
        ember.eye(3, None)
