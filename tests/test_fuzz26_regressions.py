"""Regressions found by fuzz26's differential fuzz against torch 2.13 (module constructors,
nn.functional flags and creation functions given hostile arguments, each in a forked child):
where ember accepted what torch refuses, or refused with a class torch's callers do not catch."""

import numpy as np
import pytest
from conftest import refuses_alike as _both

import ember
from ember import nn
from ember._errors import BadDtype, BadShapeOrValue
from ember.nn import functional as F

torch = pytest.importorskip("torch")

X = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)


_TRAINING_FLAG = [
    ("dropout", lambda L, v: L.nn.functional.dropout(L.tensor(X), 0.5, training=v), "train"),
    ("alpha_dropout", lambda L, v: L.nn.functional.alpha_dropout(L.tensor(X), 0.5, v), "train"),
    (
        "feature_alpha_dropout",
        lambda L, v: L.nn.functional.feature_alpha_dropout(L.tensor(X), 0.5, v),
        "train",
    ),
    ("dropout1d", lambda L, v: L.nn.functional.dropout1d(L.tensor(X[0]), 0.5, v), "train"),
    ("dropout2d", lambda L, v: L.nn.functional.dropout2d(L.tensor(X), 0.5, v), "train"),
    ("dropout3d", lambda L, v: L.nn.functional.dropout3d(L.tensor(X), 0.5, v), "train"),
    (
        "batch_norm",
        lambda L, v: L.nn.functional.batch_norm(L.tensor(X), L.zeros(3), L.ones(3), training=v),
        "training",
    ),
    (
        "instance_norm",
        lambda L, v: L.nn.functional.instance_norm(L.tensor(X), use_input_stats=v),
        "use_input_stats",
    ),
    ("rrelu", lambda L, v: L.nn.functional.rrelu(L.tensor(X), training=v), "training"),
]


@pytest.mark.parametrize("value", ["x", 1, 0, None, 1.5, np.bool_(True)])
@pytest.mark.parametrize("name, call, arg", _TRAINING_FLAG, ids=[t[0] for t in _TRAINING_FLAG])
def test_functional_training_flags_take_a_bool_only(name, call, arg, value):
    # these flags went through truthiness: 1, "x" or np.True_ trained, 0 or None evaluated
    with pytest.raises(TypeError):
        call(torch, value)
    with pytest.raises(TypeError, match=f"argument '{arg}' must be bool"):
        call(ember, value)


@pytest.mark.parametrize("value", [True, False])
def test_functional_training_flags_still_take_bools(value):
    x = ember.tensor(X)
    assert F.dropout(x, 0.0, training=value) is x
    y = F.batch_norm(x, ember.zeros(3), ember.ones(3), training=value)
    t = torch.nn.functional.batch_norm(
        torch.tensor(X), torch.zeros(3), torch.ones(3), training=value
    )
    np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("bias", [1.0, 1, [1.0, 1.0, 1.0], np.float32(1.0)])
def test_linear_refuses_a_non_tensor_bias(bias):
    # a scalar bias was broadcast and added (torch: TypeError)
    def call(L):
        return L.nn.functional.linear(L.ones(4, 3), L.ones(3, 3), bias)

    with pytest.raises(TypeError):
        call(torch)
    with pytest.raises(TypeError, match="argument 'bias' must be Tensor"):
        call(ember)


def test_linear_tensor_bias_unchanged():
    y = F.linear(ember.ones(4, 3), ember.ones(3, 3), ember.full((3,), 2.0))
    np.testing.assert_array_equal(y.numpy(), np.full((4, 3), 5.0, np.float32))


@pytest.mark.parametrize(
    "make",
    [
        lambda L: L.nn.Linear(4, 3, device="bogus"),
        lambda L: L.nn.Conv2d(2, 4, 3, device="bogus"),
        lambda L: L.nn.BatchNorm1d(4, device="bogus"),
        lambda L: L.nn.LayerNorm(4, device="bogus"),
        lambda L: L.nn.MultiheadAttention(8, 2, device="bogus"),
        lambda L: L.nn.TransformerEncoderLayer(8, 2, 16, device="bogus"),
        lambda L: L.nn.PReLU(device="bogus"),
    ],
)
def test_module_constructors_refuse_a_bad_device(make):
    # Conv*, BatchNorm*, LayerNorm, GroupNorm, RMSNorm, Bilinear, MultiheadAttention,
    # Transformer* and PReLU built on the CPU whatever device was named
    with pytest.raises(RuntimeError):
        make(torch)
    with pytest.raises(RuntimeError, match="device 'bogus' is not available"):
        make(ember)


def test_module_constructors_still_take_cpu_and_meta():
    assert nn.Conv2d(2, 4, 3, device="cpu").weight.shape == (4, 2, 3, 3)
    assert nn.LayerNorm(4, device="meta").weight.is_meta


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda L: L.nn.Linear(-1, 3), "in_features must be >= 0"),
        (lambda L: L.nn.Conv2d(2, -1, 3), "out_channels must be >= 1"),
        (lambda L: L.nn.LSTMCell(4, -1), "hidden_size must be >= 1"),
        (lambda L: L.nn.Embedding(-1, 3), "num_embeddings must be >= 0"),
        (lambda L: L.nn.BatchNorm2d(-1), "num_features must be >= 0"),
        (lambda L: L.nn.LayerNorm((4, -1)), "non-negative"),
        (lambda L: L.nn.PReLU(-1), "num_parameters must be positive"),
        (lambda L: L.nn.RMSNorm(-1), "RMSNorm: bad parameter size: negative dimensions"),
        (lambda L: L.nn.MultiheadAttention(8, 2, kdim=-1), "bad parameter size"),
        (lambda L: L.nn.Linear(2**62, 3), "Linear: bad parameter size: array is too big"),
        (lambda L: L.nn.Embedding(10, 2**62), "bad parameter size"),
        (lambda L: L.nn.GRUCell(2**62, 3), "bad parameter size"),
    ],
)
def test_negative_and_huge_module_sizes_raise_torchs_runtime_error(make, match):
    # a negative size raised a plain ValueError (torch: RuntimeError) and NumPy's own
    # ValueError on a size too large to allocate escaped as it was
    _both(make, RuntimeError, BadShapeOrValue, match)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda L: L.empty_permuted((2, 3), (0, 0)), "not a permutation"),
        (lambda L: L.empty_permuted((2, 3), (0,)), "not a permutation"),
        (lambda L: L.zeros(2, 3).reshape(4, 2), r"shape \(4, 2\) is invalid"),
        (lambda L: L.zeros(2, 3).reshape(-1, -1), "invalid shape"),
        (lambda L: L.zeros(2, 3).view(-2, 3), "invalid shape"),
        (lambda L: L.broadcast_shapes((2, 3), (4, 3)), "do not broadcast"),
        (lambda L: L.multinomial(L.tensor([0.5, -0.1]), 1), "finite and non-negative"),
        (lambda L: L.multinomial(L.tensor([0.5, float("nan")]), 1), "finite and non-negative"),
        (lambda L: L.multinomial(L.tensor([0.5, float("inf")]), 1), "finite"),
        (lambda L: L.multinomial(L.tensor([[0.0, 0.0], [1.0, 1.0]]), 1), "positive total"),
        (lambda L: L.multinomial(L.tensor([0.5, 0.5]), 0), "num_samples must be positive"),
    ],
)
def test_shape_and_value_refusals_are_runtime_errors_too(call, match):
    _both(call, RuntimeError, BadShapeOrValue, match)


def test_multinomial_without_replacement_past_the_nonzero_weights_matches_torch():
    # torch 2.13 draws the zero-weight categories last rather than refusing
    assert ember.multinomial(ember.tensor([0.5, 0.0, 0.0]), 2).tolist()[0] == 0
    assert torch.multinomial(torch.tensor([0.5, 0.0, 0.0]), 2).tolist()[0] == 0


@pytest.mark.parametrize("ends", [(0j, 1), (0, 1 + 1j), (1j, 2j)])
def test_linspace_with_complex_ends_is_complex(ends):
    # complex ends gave float32 (the imaginary parts dropped with a ComplexWarning)
    t = torch.linspace(*ends, 5)
    y = ember.linspace(*ends, 5)
    assert y.dtype == ember.complex64 and t.dtype == torch.complex64
    np.testing.assert_allclose(y.numpy(), t.numpy(), rtol=1e-6)
    ember.set_default_dtype(ember.float64)
    try:
        assert ember.linspace(*ends, 5).dtype == ember.complex128
    finally:
        ember.set_default_dtype(ember.float32)


def test_parameter_dict_holds_plain_values_as_torch():
    # non-tensor values were refused (TypeError); torch keeps them as plain attributes
    for L in (torch, ember):
        d = L.nn.ParameterDict({"b": 3, "a": L.ones(2), "c": "x", "n": None})
        assert list(d.keys()) == ["a", "b", "c", "n"] and len(d) == 4
        assert d["b"] == 3 and d["c"] == "x" and d["n"] is None and "c" in d
        assert isinstance(d["a"], L.nn.Parameter) and list(d.state_dict()) == ["a"]
        d["b"] = L.zeros(1)  # a tensor over a plain value becomes a parameter
        assert sorted(d.state_dict()) == ["a", "b"]
        del d["c"]
        assert list(d) == ["a", "b", "n"] and tuple(d.pop("b").shape) == (1,)
        assert list(d) == ["a", "n"] and len(list(d.parameters())) == 1
        with pytest.raises(TypeError, match="cannot assign 'int' as parameter 'a'"):
            d["a"] = 5
    with pytest.raises(KeyError):
        ember.nn.ParameterDict({"a": 1})["zz"]
    assert "(q): Object of type: int" in repr(nn.ParameterDict({"q": 3, "w": ember.ones(2)}))


def test_module_to_complex_converts_floating_parameters_as_torch():
    # Module.to(complex64) was refused; torch casts floating and complex tensors, not integer
    for L in (torch, ember):
        m = L.nn.Linear(2, 2)
        m.register_buffer("ib", L.ones(2, dtype=L.int64))
        m.register_buffer("cb", L.ones(2, dtype=L.complex64))
        with pytest.warns(UserWarning, match="Complex modules are a new feature"):
            m.to(L.complex128)
        assert (m.weight.dtype, m.bias.dtype, m.cb.dtype) == (L.complex128,) * 3
        assert m.ib.dtype == L.int64
        with pytest.raises(TypeError, match="floating point or complex dtypes"):
            m.to(L.int64)
    w = nn.Linear(2, 2)
    before = w.weight.numpy().copy()
    with pytest.warns(UserWarning):
        w.to(ember.complex64)
    np.testing.assert_array_equal(w.weight.numpy(), before.astype(np.complex64))


@pytest.mark.parametrize(
    "call, arg",
    [
        (
            lambda L: L.nn.functional.scaled_dot_product_attention(
                L.ones(4, 3), L.ones(4, 3), L.ones(4, 3), is_causal="x"
            ),
            "is_causal",
        ),
        (
            lambda L: L.nn.functional.affine_grid(L.zeros(2, 2, 3), (2, 3, 4, 4), align_corners=1),
            "align_corners",
        ),
    ],
)
def test_attention_and_affine_grid_flags_take_a_bool_only(call, arg):
    with pytest.raises(TypeError):
        call(torch)
    with pytest.raises(TypeError, match=f"argument '{arg}' must be bool"):
        call(ember)


@pytest.mark.parametrize("value", ["x", 1, np.bool_(True)])
@pytest.mark.parametrize(
    "make",
    [
        lambda L, v: L.zeros(2, 3, requires_grad=v),
        lambda L, v: L.randn(2, requires_grad=v),
        lambda L, v: L.zeros_like(L.ones(2), requires_grad=v),
    ],
)
def test_factories_take_a_bool_requires_grad(make, value):
    # "x" or 1 went through truthiness and made a leaf that requires grad
    with pytest.raises(TypeError):
        make(torch, value)
    with pytest.raises(TypeError, match="argument 'requires_grad' must be bool"):
        make(ember, value)


def test_factories_read_requires_grad_none_as_false_as_torch():
    assert torch.zeros(2, requires_grad=None).requires_grad is False
    assert ember.zeros(2, requires_grad=None).requires_grad is False
    assert ember.full((2,), 1.0, requires_grad=None).requires_grad is False


def test_randint_refuses_complex_dtypes():
    # it drew real-valued complex numbers (torch: RuntimeError)
    with pytest.raises(RuntimeError):
        torch.randint(5, (3,), dtype=torch.complex64)
    with pytest.raises(BadDtype, match="cannot draw integers into dtype complex64"):
        ember.randint(5, (3,), dtype=ember.complex64)


@pytest.mark.parametrize("low, high", [(0, 5), (-1, 1)])
def test_randint_bool_refuses_bounds_past_0_and_1(low, high):
    # torch draws bools within [0, 2) and refuses other bounds (review26 F1: ember refused all)
    with pytest.raises(RuntimeError, match="out of bounds for bool"):
        torch.randint(low, high, (3,), dtype=torch.bool)
    with pytest.raises(RuntimeError, match="out of bounds for bool"):
        ember.randint(low, high, (3,), dtype=ember.bool)


def test_randint_bool_draws_both_values():
    ember.manual_seed(0)
    got = ember.randint(0, 2, (200,), dtype=ember.bool)
    assert got.dtype == ember.bool and 0 < got.numpy().sum() < 200
    assert ember.randint(1, 2, (3,), dtype=ember.bool).numpy().all()
