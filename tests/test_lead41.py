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
    with pytest.raises(
        ValueError, match=r"input should be between 0 and 1 \(got 1\.0000\d+ at flat index 1\)"
    ):
        ember.nn.functional.binary_cross_entropy(x, ember.tensor(np.full(2, 0.5, dtype)))


def test_addbmm_with_an_empty_output():
    torch = pytest.importorskip("torch")
    for shapes in [
        ((0, 5), (2, 0, 3), (2, 3, 5)),
        ((3, 0), (2, 3, 4), (2, 4, 0)),
        ((3, 5), (0, 3, 4), (0, 4, 5)),
    ]:
        arrays = [np.ones(s) for s in shapes]
        got = ember.addbmm(*map(ember.tensor, arrays))
        want = torch.addbmm(*map(torch.tensor, arrays))
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


@pytest.mark.parametrize("requires_grad", [False, True])
def test_fused_elementwise_results_keep_torchs_strides(requires_grad):
    torch = pytest.importorskip("torch")
    a = np.random.default_rng(1).uniform(1, 2, (3, 4))

    def cases(lib):
        x = lib.tensor(a, requires_grad=requires_grad).t()
        return [
            lib.addcmul(x, x, x, value=2),
            lib.addcdiv(x, x, x[:1]),
            lib.lerp(x, x, x[:, :1]),
            lib.lerp(x, x[:1], 0.3),
        ]

    for got, want in zip(cases(ember), cases(torch)):
        assert got.stride() == want.stride()
        np.testing.assert_array_equal(got.detach().numpy(), want.detach().numpy())


def test_finfo_iinfo_compare_by_dtype():
    assert ember.finfo(ember.float32) == ember.finfo(ember.float32)
    assert ember.finfo(ember.float32) != ember.finfo(ember.float64)
    assert ember.iinfo(ember.int32) == ember.iinfo(ember.int32)
    with pytest.raises(TypeError):
        hash(ember.finfo(ember.float32))  # unhashable, as torch's


def test_tensor_of_bfloat16_tensors():
    parts = [ember.tensor(1.0, dtype=ember.bfloat16), ember.tensor(2.5, dtype=ember.bfloat16)]
    out = ember.tensor(parts)
    assert out.dtype == ember.bfloat16 and out.shape == (2,)
    np.testing.assert_array_equal(out.float().numpy(), [1.0, 2.5])


@pytest.mark.parametrize("number", [np.float32(7), np.int64(7), np.float64(7), 7])
def test_number_over_tensor_as_torch(number):
    torch = pytest.importorskip("torch")
    for dtype in ("float32", "int32"):
        got = number / ember.tensor([3, 6], dtype=getattr(ember, dtype))
        want = number / torch.tensor([3, 6], dtype=getattr(torch, dtype))
        assert str(got.dtype) == str(want.dtype).replace("torch.", "")
        np.testing.assert_array_equal(got.numpy(), want.numpy())
