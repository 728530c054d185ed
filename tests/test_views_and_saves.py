"""Which ops return views of their input and which copies, as torch's do (a write into the
result reaches the input exactly when torch's would), ``view(dtype)``, and ops whose backward
keeps only their result, so writing into their input afterwards is allowed, as in torch."""

import numpy as np
import pytest

import ember
from ember.nn import functional as F

COPIES = {  # ops torch answers with new memory, though NumPy would give a view
    "flip": lambda x: x.flip(0),
    "flip01": lambda x: ember.flip(x, (0, 1)),
    "fliplr": lambda x: ember.fliplr(x),
    "flipud": lambda x: ember.flipud(x),
    "rot90_k0": lambda x: ember.rot90(x, 0),
    "rot90_k1": lambda x: ember.rot90(x, 1),
    "rot90_k2": lambda x: ember.rot90(x, 2),
    "rot90_k3": lambda x: ember.rot90(x, 3),
    "repeat_ones": lambda x: x.repeat(1, 1),
    "repeat_lead_one": lambda x: x.repeat(1, 1, 1),
    "tile_ones": lambda x: ember.tile(x, (1,)),
    "diag": lambda x: ember.diag(x),
}


@pytest.mark.parametrize("name", sorted(COPIES))
def test_results_torch_copies_do_not_write_back(name):
    a = np.arange(9.0).reshape(3, 3)
    x = ember.tensor(a)
    y = COPIES[name](x)
    y.fill_(-1.0)
    np.testing.assert_array_equal(x.numpy(), a)
    assert not np.shares_memory(y.numpy(), x.numpy())


def test_flip_of_a_graph_tensor_keeps_its_gradient_after_the_input_is_written():
    leaf = ember.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    x = leaf * 1.0
    y = x.flip(0)
    x.mul_(2.0)  # y was taken before: neither its values nor its gradient see this
    np.testing.assert_array_equal(y.detach().numpy(), np.arange(6.0).reshape(2, 3)[::-1])
    (y * ember.tensor(np.arange(6.0).reshape(2, 3))).sum().backward()
    np.testing.assert_array_equal(leaf.grad.numpy(), np.arange(6.0).reshape(2, 3)[::-1])


@pytest.mark.parametrize(
    "offset, dim1, dim2", [(0, 0, 1), (1, 0, 1), (-1, 0, 1), (0, 1, 2), (1, -1, -2), (0, 0, 2)]
)
def test_diagonal_is_a_writable_view(offset, dim1, dim2):
    a = np.arange(24.0).reshape(2, 3, 4)
    x = ember.tensor(a)
    x.diagonal(offset, dim1, dim2).zero_()
    idx = np.indices(a.shape)
    want = np.where(idx[dim1] + offset == idx[dim2], 0.0, a)
    np.testing.assert_array_equal(x.numpy(), want)


def test_diagonal_idioms_match_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(0).standard_normal((4, 4))
    for op in (
        lambda m, x: x.diagonal().fill_(5.0),
        lambda m, x: x.diagonal(1).add_(1.0),
        lambda m, x: m.diagonal(x, -1).mul_(3.0),
    ):
        x, xt = ember.tensor(a), torch.tensor(a)
        op(ember, x)
        op(torch, xt)
        np.testing.assert_array_equal(x.numpy(), xt.numpy())


def test_writing_a_diagonal_of_a_graph_tensor_matches_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).standard_normal((3, 3))
    grads = []
    for m in (ember, torch):
        leaf = m.tensor(a, requires_grad=True)
        h = leaf * 2.0
        h.diagonal().mul_(3.0)
        (h * h).sum().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-12)


def test_diagonal_of_a_broadcast_tensor_fills_its_memory_and_refuses_other_writes():
    base = ember.ones(3, 3)
    x = base.expand(2, 3, 3)
    x.diagonal(0, 1, 2).zero_()  # torch fills the memory an expanded view sees
    np.testing.assert_array_equal(base.numpy(), 1 - np.eye(3, dtype=np.float32))
    with pytest.raises(RuntimeError, match="more than one element"):  # torch's words
        x.diagonal(0, 1, 2).add_(1)


def test_view_dtype_reinterprets_the_bytes():
    a = np.random.default_rng(2).standard_normal((2, 4)).astype(np.float32)
    x = ember.tensor(a, requires_grad=True)
    bits = x.view(ember.int32)
    assert bits.dtype == np.int32 and bits.shape == (2, 4) and not bits.requires_grad
    np.testing.assert_array_equal(bits.numpy(), a.view(np.int32))
    assert x.view(dtype=ember.float16).shape == (2, 8)
    assert x.detach().view(ember.float64).shape == (2, 2)
    np.testing.assert_array_equal(bits.view(ember.float32).numpy(), a)
    y = ember.tensor(a)
    y.view(ember.int32)[0, 0] = 0  # a view: the write reaches y
    assert y[0, 0].item() == 0.0


@pytest.mark.parametrize(
    "make, match",
    [
        (lambda: ember.ones(2, 4).t().view(ember.float64), "stride 1"),
        (lambda: ember.ones(2, 3).view(ember.float64), "divisible by 2"),
        (lambda: ember.tensor(3.0).view(ember.float64), "0-d"),
    ],
)
def test_view_dtype_errors(make, match):
    with pytest.raises(RuntimeError, match=match):
        make()


SAVE_RESULT = {  # ops whose backward reads only their result, as torch's
    "relu": lambda x: F.relu(x),
    "relu_method": lambda x: x.relu(),
    "rsqrt": lambda x: x.rsqrt(),
    "reciprocal": lambda x: x.reciprocal(),
    "number_over": lambda x: 2.5 / x,
    "tan": lambda x: x.tan(),
    "expm1": lambda x: x.expm1(),
    "exp2": lambda x: ember.exp2(x),
    "erfinv": lambda x: ember.erfinv(x * 0.5),
    "frac": lambda x: ember.frac(x * 3),
    "deg2rad": lambda x: ember.deg2rad(x),
    "tanhshrink": lambda x: F.tanhshrink(x),
    "kl_div": lambda x: F.kl_div(x, ember.full(x.shape, 0.3, dtype=x.dtype), reduction="sum"),
}


@pytest.mark.parametrize("name", sorted(SAVE_RESULT))
def test_input_written_after_an_op_that_saves_its_result(name):
    """x.mul_(2) after y = f(x): y's gradient is f'(x) at the old x, computed without x."""
    a = np.random.default_rng(3).uniform(0.2, 0.9, (3, 4))
    f = SAVE_RESULT[name]
    leaf = ember.tensor(a, requires_grad=True)
    x = leaf * 1.0
    y = f(x)
    x.mul_(2.0)
    y.sum().backward()
    ref = ember.tensor(a, requires_grad=True)
    f(ref).sum().backward()  # the same without the write
    np.testing.assert_allclose(leaf.grad.numpy(), ref.grad.numpy(), rtol=1e-12)
    assert ember.autograd.gradcheck(lambda t: f(t), (ember.tensor(a, requires_grad=True),))


def test_inputs_still_needed_are_still_guarded():
    leaf = ember.tensor([0.5, 0.7], requires_grad=True)
    x = leaf * 1.0
    y = x.sin()  # cos(x) needs x
    x.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_number_over_tensor_rounds_as_torch():
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(4).uniform(0.1, 3.0, 4096).astype(np.float32)
    for num in (7.0, 3, 0.1):
        np.testing.assert_array_equal(
            (num / ember.tensor(a)).numpy(), (num / torch.tensor(a)).numpy()
        )
    ints = np.arange(1, 50)
    got, want = 7 / ember.tensor(ints), 7 / torch.tensor(ints)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_as_strided_of_a_contiguous_tensor_is_a_view():
    x = ember.arange(9.0).reshape(3, 3)
    x.as_strided((3,), (4,)).zero_()  # the diagonal, through strides
    np.testing.assert_array_equal(x.numpy(), np.where(np.eye(3), 0.0, np.arange(9.0).reshape(3, 3)))
    windows = x.as_strided((2, 3), (1, 1))  # overlapping windows: readable, not writable
    np.testing.assert_array_equal(windows.numpy(), [[0, 1, 2], [1, 2, 3]])
    with pytest.raises(RuntimeError, match="read-only"):
        windows.add_(1.0)
    y = x.t().as_strided((2,), (1,))  # a non-contiguous input: its storage, as torch's
    np.testing.assert_array_equal(y.numpy(), [0.0, 1.0])


def test_writing_through_as_strided_matches_torch():
    torch = pytest.importorskip("torch")
    grads = []
    for m in (ember, torch):
        leaf = m.arange(6.0, requires_grad=True)
        h = leaf * 1.0
        h.as_strided((2, 2), (3, 1)).mul_(m.tensor([[2.0, 3.0], [4.0, 5.0]]))
        (h * h).sum().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])


def test_unfold_windows_that_do_not_overlap_are_writable_views():
    x = ember.arange(8.0)
    x.unfold(0, 2, 2)[1].fill_(-1.0)
    np.testing.assert_array_equal(x.numpy(), [0, 1, -1, -1, 4, 5, 6, 7])
    x.unfold(0, 3, 1).fill_(0.0)  # overlapping windows: torch fills them too (behave28)
    assert x.tolist() == [0.0] * 8
    torch = pytest.importorskip("torch")
    grads = []
    for m in (ember, torch):
        leaf = m.arange(6.0, requires_grad=True)
        h = leaf * 1.0
        h.unfold(0, 2, 3).mul_(3.0)
        (h * h).sum().backward()
        grads.append(leaf.grad.numpy())
    np.testing.assert_array_equal(grads[0], grads[1])
