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
