"""Session 24 lead fixes: torch's refusals and behaviours found while reviewing."""

import numpy as np
import pytest

import ember


@pytest.mark.parametrize(
    "b_dtype", [ember.float64, ember.int64, ember.float16, ember.complex64, ember.bool]
)
def test_einsum_refuses_operands_of_different_dtypes(b_dtype):
    a = ember.ones(3, 3)
    b = ember.ones(3, 3, dtype=b_dtype)
    with pytest.raises(TypeError, match=r"einsum: expected operands of one dtype, got float32"):
        ember.einsum("ij,jk->ik", a, b)
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.einsum(
            "ij,jk->ik",
            torch.ones(3, 3),
            torch.ones(3, 3, dtype=getattr(torch, np.dtype(b_dtype).name)),
        )


def test_einsum_of_one_dtype_still_works_for_each_kind():
    rng = np.random.default_rng(0)
    for dt in (np.float32, np.float64, np.int64, np.complex128):
        a = (rng.standard_normal((3, 4)) * 3).astype(dt)
        b = (rng.standard_normal((4, 2)) * 3).astype(dt)
        out = ember.einsum("ij,jk->ik", ember.tensor(a), ember.tensor(b))
        assert out.dtype == np.dtype(dt)
        np.testing.assert_allclose(out.numpy(), a @ b, rtol=1e-5)


def test_ctc_kernel_refuses_an_even_extended_target_length():
    # 2 * S + 1 labels: blank, l1, blank, l2, blank; an even count is not such a target
    lp = np.log(np.full((4, 1, 3), 1 / 3, np.float32))
    ext = np.array([[0, 1, 0, 2, 0]], np.int64)
    in_len = np.array([4], np.int64)
    with pytest.raises(ValueError, match="ext_len 2 is even"):
        ember._C.ctc_loss_forward(lp, ext, in_len, np.array([2], np.int64))
    nll, _ = ember._C.ctc_loss_forward(lp, ext, in_len, np.array([5], np.int64))
    torch = pytest.importorskip("torch")
    want = torch.nn.functional.ctc_loss(
        torch.tensor(lp),
        torch.tensor([[1, 2]]),
        torch.tensor([4]),
        torch.tensor([2]),
        reduction="none",
    )
    np.testing.assert_allclose(nll, want.numpy(), rtol=1e-6)
