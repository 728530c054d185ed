"""Lead's merge checks of session 41: node edges against torch 2.13."""

import numpy as np
import pytest

import ember


def _edges(node):
    return [None if fn is None else type(fn).__name__ for fn, _ in node.next_functions]


@pytest.mark.parametrize(
    "grads", [(True, False, False), (False, True, False), (False, False, True)]
)
@pytest.mark.parametrize("op", ["addcmul", "addcdiv", "lerp", "clamp"])
def test_three_operand_nodes_list_an_edge_per_operand(op, grads):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    arrays = [rng.uniform(1, 2, 3) for _ in range(3)]
    ours = [ember.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    theirs = [torch.tensor(a, requires_grad=g) for a, g in zip(arrays, grads)]
    got, want = getattr(ember, op)(*ours), getattr(torch, op)(*theirs)
    assert got.grad_fn.name() == want.grad_fn.name()
    assert len(got.grad_fn.next_functions) == len(want.grad_fn.next_functions) == 3
    assert [e is None for e in _edges(got.grad_fn)] == [e is None for e in _edges(want.grad_fn)]
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_cross_entropy_names_the_exact_value_out_of_range(dtype):
    above = np.nextafter(dtype(1), dtype(2))  # printed with 6 digits this read "got 1"
    x = ember.tensor(np.array([0.5, above], dtype))
    with pytest.raises(ValueError, match=r"input should be between 0 and 1 \(got 1\.0000001"):
        ember.nn.functional.binary_cross_entropy(x, ember.tensor(np.full(2, 0.5, dtype)))
