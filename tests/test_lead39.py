"""Lead fixes of session 39, each against PyTorch."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn as enn

torch = pytest.importorskip("torch")

LAYER_OPTIONS = [
    {},
    {"batch_first": True},
    {"batch_first": True, "norm_first": True},
    {"batch_first": True, "bias": False},
    {"batch_first": True, "activation": "tanh"},
    {"batch_first": True, "layer_norm_eps": 1e-6},
    {"batch_first": True, "nhead": 1},
]


def _notices(lib, options, **encoder_kw):
    opts = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, **options}
    if opts.get("activation") == "tanh":
        opts["activation"] = lib.tanh
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = lib.nn.TransformerEncoderLayer(**opts)
        if "layer_norm_eps" in options:  # torch checks norm1.eps against norm2.eps
            layer.norm2.eps = 1e-5
        encoder = lib.nn.TransformerEncoder(layer, 2, **encoder_kw)
    return [str(w.message) for w in caught], encoder.use_nested_tensor


@pytest.mark.parametrize("options", LAYER_OPTIONS)
@pytest.mark.parametrize("enable", [True, False])
def test_transformer_encoder_nested_tensor_notice_as_torch(options, enable):
    got, got_use = _notices(ember, options, enable_nested_tensor=enable)
    want, want_use = _notices(torch, options, enable_nested_tensor=enable)
    assert got == want
    assert got_use == want_use


def test_transformer_encoder_nested_notice_points_at_the_caller():
    layer = enn.TransformerEncoderLayer(8, 2, 16)
    with pytest.warns(UserWarning, match="batch_first was not True") as record:
        enn.TransformerEncoder(layer, 1)
    assert record[0].filename == __file__


@pytest.mark.parametrize("reduce", ["max", "min"])
def test_scatter_reduce_max_min_are_torchs_aliases(reduce):
    """torch 2.13 computes 'max'/'min' as 'amax'/'amin' (its backward then refuses them: not
    copied, ember's gradient is the 'amax'/'amin' one)."""
    rng = np.random.default_rng(0)
    src = rng.standard_normal((3, 4))
    index = rng.integers(0, 2, (3, 4))
    base = rng.standard_normal((2, 4))
    x = ember.tensor(src, requires_grad=True)
    got = ember.tensor(base).scatter_reduce(0, ember.tensor(index), x, reduce)
    want = torch.tensor(base).scatter_reduce(0, torch.tensor(index), torch.tensor(src), reduce)
    np.testing.assert_allclose(got.numpy(), want.numpy())
    assert got.grad_fn.name() == "ScatterReduceBackward0"
    tx = torch.tensor(src, requires_grad=True)
    full = torch.tensor(base).scatter_reduce(0, torch.tensor(index), tx, "a" + reduce)
    got.sum().backward()
    full.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize(
    "op",
    [
        lambda lib, a, b: lib.linalg.cross(a, b),
        lambda lib, a, b: lib.stack([a, b]),
        lambda lib, a, b: lib.cat([a, b], 1),
    ],
)
def test_empty_complex_stack_cross_backward(op):
    def run(lib):
        a = lib.zeros(0, 3, dtype=lib.complex128, requires_grad=True)
        b = lib.zeros(0, 3, dtype=lib.complex128)
        y = op(lib, a, b)
        y.abs().sum().backward()
        return tuple(y.shape), tuple(a.grad.shape), a.grad.dtype

    got, want = run(ember), run(torch)
    assert got[:2] == want[:2]
    assert str(got[2]).split(".")[-1] == str(want[2]).split(".")[-1]


def test_view_as_complex_of_empty_as_torch():
    for shape in [(0, 2), (3, 0, 2)]:
        got = ember.view_as_complex(ember.zeros(shape))
        want = torch.view_as_complex(torch.zeros(shape))
        assert tuple(got.shape) == tuple(want.shape)
        assert got.dtype == ember.complex64


@pytest.mark.parametrize("grad", [False, True])
def test_where_of_a_uint8_condition_computes_with_torchs_notice(grad):
    rng = np.random.default_rng(2)
    cond = rng.integers(0, 3, (3, 4)).astype(np.uint8)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((1, 4))
    x = ember.tensor(a, requires_grad=grad)
    with pytest.warns(UserWarning, match="uint8 condition tensor") as got:
        y = ember.where(ember.tensor(cond), x, ember.tensor(b))
    tx = torch.tensor(a, requires_grad=grad)
    with warnings.catch_warnings(record=True) as want:  # (torch warns once a process)
        warnings.simplefilter("always")
        ty = torch.where(torch.tensor(cond), tx, torch.tensor(b))
    assert all(str(got[0].message) in str(w.message) for w in want)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    if grad:
        y.sum().backward()
        ty.sum().backward()
        np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
    with pytest.raises(TypeError):
        ember.where(ember.tensor(cond.astype(np.int64)), x, ember.tensor(b))


@pytest.mark.parametrize("method", ["neg_", "abs_"])
def test_in_place_neg_abs_of_bool_refused_as_torch(method):
    x = ember.tensor([True, False])
    with pytest.raises(RuntimeError):
        getattr(torch.tensor([True, False]), method)()
    with pytest.raises(RuntimeError):
        getattr(x, method)()
    assert x.tolist() == [True, False]  # (unchanged)
    ints = ember.tensor([-2, 3])
    assert getattr(ints, method)().tolist() == getattr(torch.tensor([-2, 3]), method)().tolist()


NAN = float("nan")
CLAMP_BOUNDS = [(0, None), (None, 0.5), (-1, 1), (0.1, 0.2), (1, -1), (NAN, None), (None, NAN),
                (-0.0, None), (0.0, None), (None, -0.0), (True, None)]  # fmt: skip


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("lo, hi", CLAMP_BOUNDS)
def test_clamp_in_place_with_number_bounds_as_torch(dtype, lo, hi):
    a = np.random.default_rng(3).standard_normal(50).astype(dtype)
    a[:4] = [np.nan, -0.0, np.inf, 0.0]
    x, y = ember.tensor(a.copy()), torch.tensor(a.copy())
    assert x.clamp_(lo, hi) is x
    y.clamp_(lo, hi)
    np.testing.assert_array_equal(x.numpy(), y.numpy())
    np.testing.assert_array_equal(np.signbit(x.numpy()), np.signbit(y.numpy()))
    assert x._version == 1


def test_einsum_sublist_labels_ordered_as_torch():
    a = np.arange(24.0).reshape(2, 3, 4)
    for sub in ([0, 26, 1], [26, 0, 1], [51, 25, 0], [np.int64(3), 30, 2]):
        got = ember.einsum(ember.tensor(a), sub)
        want = torch.einsum(torch.tensor(a), [int(v) for v in sub])
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_slogdet_of_a_complex_nan_matrix_as_torch():
    a = np.array([[complex("nan"), 1.0], [1.0, 3.0]])
    sign, logabs = ember.linalg.slogdet(ember.tensor(a))
    tsign, tlogabs = torch.linalg.slogdet(torch.tensor(a))
    np.testing.assert_array_equal(sign.numpy(), tsign.numpy())
    np.testing.assert_array_equal(logabs.numpy(), tlogabs.numpy())


@pytest.mark.parametrize("upper", [False, True])
def test_cholesky_inverse_gradient_uses_all_of_l_as_torch(upper):
    lm = np.array([[2.0, 0.5, 0.2], [0.3, 1.5, -0.4], [0.1, 0.7, 1.2]])
    w = np.arange(9.0).reshape(3, 3)
    x, tx = ember.tensor(lm, requires_grad=True), torch.tensor(lm, requires_grad=True)
    y, ty = ember.cholesky_inverse(x, upper), torch.cholesky_inverse(tx, upper)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    assert y.grad_fn.name() == ty.grad_fn.name()
    (y * ember.tensor(w)).sum().backward()
    (ty * torch.tensor(w)).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16"])
def test_repeat_interleave_repeats_of_narrow_ints_refused_as_torch(dtype):
    with pytest.raises(NotImplementedError):
        torch.repeat_interleave(
            torch.tensor([5.0, 6.0]), torch.tensor([1, 2], dtype=getattr(torch, dtype))
        )
    with pytest.raises(NotImplementedError):
        ember.repeat_interleave(ember.tensor([5.0, 6.0]), ember.tensor(np.array([1, 2], dtype)))
