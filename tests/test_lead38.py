"""Lead fixes of session 38, each against torch."""

import warnings

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("value", [2.5, 1 + 2j])
@pytest.mark.parametrize("name", ["mT", "mH", "adjoint"])
def test_matrix_transposes_of_a_0d_tensor_warn_and_give_torchs_value(name, value):
    def call(L, x):
        return L.adjoint(x) if name == "adjoint" else getattr(x, name)

    x = ember.tensor(value)
    with pytest.warns(UserWarning, match="deprecated on 0-D tensors"):
        y = call(ember, x)
    with warnings.catch_warnings(action="ignore"):  # (torch warns once per process)
        t = call(torch, torch.tensor(value))
    np.testing.assert_array_equal(y.numpy(), t.resolve_conj().numpy())
    assert (y is x) == (name == "mT" or isinstance(value, float))


@pytest.mark.parametrize("name", ["mT", "mH", "adjoint"])
def test_matrix_transposes_of_a_1d_tensor_refuse_as_torch(name):
    for L in (ember, torch):
        x = L.ones(3)
        with pytest.raises(RuntimeError, match="only supported on matrices or batches of matrices"):
            L.adjoint(x) if name == "adjoint" else getattr(x, name)
