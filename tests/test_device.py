"""Devices as PyTorch code uses them: the CPU is accepted everywhere and changes nothing; any
other device is refused with a clear error."""

import numpy as np
import pytest

import ember
from ember import nn


def test_cpu_is_accepted_and_changes_nothing():
    cpu = ember.device("cpu")
    assert cpu == "cpu" and cpu == ember.device("cpu:0") and str(cpu) == "cpu"
    assert repr(cpu) == "device(type='cpu')"
    x = ember.randn(3, device="cpu")
    assert x.device == "cpu" and not x.is_cuda
    assert x.to("cpu") is x and x.cpu() is x and x.to(cpu) is x
    assert x.to("cpu", np.float64).dtype == np.float64
    assert x.to(device="cpu", dtype="float64").dtype == np.float64
    assert x.to(ember.zeros(1, dtype=np.float64)).dtype == np.float64  # another tensor's dtype
    assert x.to(np.float32, copy=True) is not x
    for make in (ember.zeros, ember.ones, ember.randn, ember.rand, ember.empty):
        assert make(2, 3, device=cpu).shape == (2, 3)
    assert ember.tensor([1.0], device="cpu").shape == (1,)
    m = nn.Linear(2, 3)
    assert m.to("cpu") is m and m.cpu() is m
    assert m.to(cpu, dtype=np.float64).weight.dtype == np.float64
    # layers take PyTorch's device= keyword
    assert nn.Linear(2, 3, device="cpu", dtype=np.float64).weight.dtype == np.float64
    assert nn.Embedding(4, 2, device=cpu).weight.shape == (4, 2)


@pytest.mark.parametrize("dev", ["cuda", "cuda:0", "mps"])
def test_other_devices_are_refused(dev):
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.randn(2).to(dev)
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2).to(dev)
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.zeros(2, device=dev)
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.device(dev)
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2, device=dev)
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Embedding(2, 2, device=dev)
    assert ember.device("cpu") != dev
