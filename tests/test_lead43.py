"""Merge mends of session 43, against torch 2.13."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("src", ["complex64", "complex128"])
@pytest.mark.parametrize(
    "dst", ["float16", "float32", "float64", "complex64", "complex128", "int32", "bool"]
)
def test_complex_abs_out_dtypes(src, dst):
    x = np.array([3 + 4j, -1j, 0.5 - 0.5j], src)
    got = want = None
    try:
        want = torch.abs(torch.tensor(x), out=torch.zeros(3, dtype=getattr(torch, dst)))
    except RuntimeError as e:
        want = e
    try:
        got = ember.abs(ember.tensor(x), out=ember.zeros(3, dtype=getattr(ember, dst)))
    except RuntimeError as e:
        got = e
    if isinstance(want, Exception):
        assert isinstance(got, RuntimeError), got
    else:
        assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-3)


def test_real_abs_out_stays_strict():
    with pytest.raises(RuntimeError):
        ember.abs(ember.tensor([1.0, -2.0]), out=ember.zeros(2, dtype=ember.float64))


def test_block_diag_edges_as_torch():
    def edges(lib):
        a = lib.ones(2, 2, requires_grad=True)
        b = lib.ones(3)
        c = lib.ones(1, requires_grad=True)
        return [n is not None for n, _ in lib.block_diag(a, b, c).grad_fn.next_functions]

    assert edges(ember) == edges(torch) == [True, False, True]


@pytest.mark.parametrize(
    "make",
    [
        lambda lib, x: (x * 2).exp(),
        lambda lib, x: x.sum(),
        lambda lib, x: x[1],
        lambda lib, x: lib.block_diag(x.view(2, 2)),
        lambda lib, x: x.view(2, 2).t().tril(),
    ],
)
def test_node_class_names_as_torch(make):
    def names(lib):
        y = make(lib, lib.ones(4, requires_grad=True, dtype=lib.float64))
        first = y.grad_fn
        nxt = [type(n).__name__ for n, _ in first.next_functions if n is not None]
        return type(first).__name__, first.name(), nxt

    assert names(ember) == names(torch)
    y = make(ember, ember.ones(4, requires_grad=True, dtype=ember.float64))
    type(y.grad_fn)  # the renamed node still runs backward
    y.sum().backward() if y.ndim else y.backward()


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "relu", "silu", "gelu", "elu", "softplus"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_of_transposed_input_keeps_torch_layout(name, dtype):
    a = np.random.default_rng(3).standard_normal((30, 20)).astype(dtype)
    e = getattr(ember.nn.functional, name)(ember.tensor(a).t())
    t = getattr(torch.nn.functional, name)(torch.tensor(a).t())
    assert e.stride() == t.stride()
    tol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=tol, atol=tol)
    same = getattr(ember.nn.functional, name)(ember.tensor(np.ascontiguousarray(a.T)))
    np.testing.assert_array_equal(e.numpy(), same.numpy())  # the kernel's values, any layout


@pytest.mark.parametrize(
    "out_hw, words",
    [([-1, 5], r"output size must be >= 0, got \(-1, 5\)"), ([1, 2, 3], "two sizes, got 3")],
)
def test_conv_transpose2d_kernel_names_a_bad_output_size(out_hw, words):
    x, w = np.ones((1, 2, 3, 3), np.float32), np.ones((2, 2, 3, 3), np.float32)
    with pytest.raises(ValueError, match=words):
        ember._C.conv_transpose2d_forward(x, w, None, [1, 1], [0, 0], [1, 1], 1, out_hw)
