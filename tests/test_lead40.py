"""Lead fixes of session 40, each against torch."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def _draw(dtype, k, n=4099, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(n) * rng.uniform(0.1, 10)).astype(dtype) for _ in range(k)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "call",
    [
        ("add_", lambda b, c: ((b,), {"alpha": 0.3})),
        ("add_", lambda b, c: ((b,), {"alpha": -3})),
        ("sub_", lambda b, c: ((b,), {"alpha": 0.7})),
        ("addcmul_", lambda b, c: ((b, c), {"value": 0.7})),
        ("addcmul_", lambda b, c: ((b, c), {})),
        ("addcdiv_", lambda b, c: ((b, c), {"value": -1.3})),
        ("lerp_", lambda b, c: ((b, 0.8), {})),
        ("lerp_", lambda b, c: ((b, 1 / 3), {})),
        ("lerp_", lambda b, c: ((b, c), {})),
    ],
)
def test_inplace_fused_ops_are_torchs_bits(dtype, call):
    """The in-place forms round as their out-of-place ops and torch's kernels (one fma)."""
    name, args = call
    a, b, c = _draw(dtype, 3)
    c = np.abs(c) if name == "lerp_" else c
    x, xt = ember.tensor(a.copy()), torch.from_numpy(a.copy())
    ea, ek = args(ember.tensor(b), ember.tensor(c))
    ta, tk = args(torch.from_numpy(b), torch.from_numpy(c))
    v0 = x._version
    getattr(x, name)(*ea, **ek)
    getattr(xt, name)(*ta, **tk)
    np.testing.assert_array_equal(x.numpy(), xt.numpy())
    assert x._version == v0 + 1


def test_inplace_fused_ops_keep_their_checks_and_graph():
    a, b = _draw(np.float64, 2, n=5)
    x = ember.tensor(a, requires_grad=True)
    with pytest.raises(RuntimeError):  # a leaf that requires grad: torch's refusal
        x.add_(ember.tensor(b), alpha=0.5)
    y = ember.tensor(a, requires_grad=True) * 1
    y.addcmul_(ember.tensor(b), ember.tensor(b), value=0.5)  # in the graph: recorded
    y.sum().backward()
    with pytest.raises(TypeError):  # bool alpha on floats: torch's refusal
        ember.tensor(a).sub_(ember.tensor(b), alpha=True)
    with pytest.raises(RuntimeError):  # a broadcast result that does not fit self
        ember.tensor(a[:1]).addcdiv_(ember.tensor(b), ember.tensor(b))
