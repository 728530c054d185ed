"""Session 30's lead: x @ W^T for at most four rows of x reads W in place (the GEMM's dot_rows),
on every ISA: values against float64 NumPy, the same bits on any thread count and for any row
count, beta / alpha, and Linear at batch 1 against torch."""

import numpy as np
import pytest

import ember
from ember import _C

# (isa: conftest's fixture, each GEMM micro-kernel family this CPU runs)


@pytest.mark.parametrize("dtype, tol", [(np.float32, 2e-5), (np.float64, 1e-13)])
@pytest.mark.parametrize("m", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("k, n", [(1, 1), (7, 5), (16, 4), (33, 13), (300, 37), (784, 10)])
def test_few_rows_times_a_transposed_weight(isa, dtype, tol, m, k, n):
    rng = np.random.default_rng(m * 1000 + k * 10 + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    w = rng.standard_normal((n, k)).astype(dtype)
    want = a.astype(np.float64) @ w.astype(np.float64).T
    got = _C.gemm(a, w, trans_b=True)
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.sqrt(k))
    # a transposed view of W in memory is the same operand
    np.testing.assert_array_equal(_C.gemm(a, np.ascontiguousarray(w).T), got)
    # alpha, beta: c is read and scaled
    c = rng.standard_normal((m, n)).astype(dtype)
    got2 = _C.gemm(a, w, c.copy(), trans_b=True, alpha=0.5, beta=2.0)
    np.testing.assert_allclose(got2, 0.5 * want + 2.0 * c, rtol=tol, atol=tol * np.sqrt(k))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_each_row_has_the_same_bits_alone_on_any_thread_count(isa, dtype):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((4, 517)).astype(dtype)
    w = rng.standard_normal((1023, 517)).astype(dtype)
    before = ember.get_num_threads()
    try:
        ember.set_num_threads(1)
        one = _C.gemm(a, w, trans_b=True)
        ember.set_num_threads(2)
        np.testing.assert_array_equal(_C.gemm(a, w, trans_b=True), one)
        for i in range(4):  # (a row alone, or among 1-3 others: its dots are the same)
            np.testing.assert_array_equal(_C.gemm(a[i : i + 1], w, trans_b=True)[0], one[i])
            np.testing.assert_array_equal(_C.gemm(a[: i + 1], w, trans_b=True), one[: i + 1])
    finally:
        ember.set_num_threads(before)


def test_linear_at_batch_one_and_four_against_torch_with_gradients():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    for batch in (1, 4):
        x = rng.standard_normal((batch, 300))
        lin = ember.nn.Linear(300, 70).double()
        tl = torch.nn.Linear(300, 70).double()
        tl.load_state_dict({k: torch.tensor(v.numpy()) for k, v in lin.state_dict().items()})
        ex = ember.tensor(x, requires_grad=True)
        tx = torch.tensor(x, requires_grad=True)
        ey, ty = lin(ex), tl(tx)
        np.testing.assert_allclose(ey.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
        g = rng.standard_normal(ey.shape)
        ey.backward(ember.tensor(g))
        ty.backward(torch.tensor(g))
        np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
        np.testing.assert_allclose(lin.weight.grad.numpy(), tl.weight.grad.numpy(), rtol=1e-12)
    # and float64 finite differences through the batch-1 product
    w = ember.randn(6, 9, dtype=ember.float64, requires_grad=True)
    x = ember.randn(1, 9, dtype=ember.float64, requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, w: ember.nn.functional.linear(x, w), (x, w))


def test_a_stale_view_of_a_plain_tensor_refuses_backward_in_a_fresh_process():
    # review23b: views_join marked the view stale but not the flag Function.apply tests first,
    # so in a process that had made no no_grad view yet x.grad was silently None (torch
    # raises); a subprocess, because an earlier test's no_grad view hides it
    import subprocess
    import sys

    code = """
import ember
x = ember.ones(4, 3, requires_grad=True)
b = ember.zeros(4, 3)
u = b.unbind(0)[1]
b[1] = x[1] * 3
try:
    (u * 2).sum().backward()
except RuntimeError as e:
    assert "no_grad" in str(e) or "inplace" in str(e), e
else:
    raise SystemExit(f"no error; x.grad = {x.grad}")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_nonzero_as_tuple_gives_contiguous_index_tensors():
    # review23b: NumPy's per-dim indices are column views of one (n, ndim) array
    torch = pytest.importorskip("torch")
    a = [[0, 1, 0], [1, 1, 0.0]]
    for got, want in zip(
        ember.tensor(a).nonzero(as_tuple=True), torch.tensor(a).nonzero(as_tuple=True)
    ):
        assert got.is_contiguous() and got.stride() == want.stride() == (1,)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_size_factories_without_a_size_refuse_as_torch():
    # zeros() / randn() with no size at all: torch's TypeError; zeros(()) and zeros([]) are 0-d
    torch = pytest.importorskip("torch")
    for name in ("zeros", "ones", "empty", "rand", "randn"):
        with pytest.raises(TypeError):
            getattr(torch, name)()
        with pytest.raises(TypeError, match="missing 1 required positional arguments"):
            getattr(ember, name)()
        for size in ((), []):
            assert getattr(ember, name)(size).shape == tuple(getattr(torch, name)(size).shape) == ()
        assert getattr(ember, name)(size=()).shape == ()
    assert ember.empty_permuted((), ()).shape == ()
