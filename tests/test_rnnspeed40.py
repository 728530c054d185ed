"""Round 40: the GEMM's transposed A read in place for narrow outputs (the RNN weight gradients
dW = dgates^T @ x) against a float64 NumPy oracle on every micro-kernel family, and the LSTM
weight gradients that use it against torch."""

import numpy as np
import pytest
from conftest import check_gemm as check

import ember
from ember import _C, nn


@pytest.fixture
def threads():
    original = _C.get_num_threads()
    yield _C.set_num_threads
    _C.set_num_threads(original)


# op(A) = A^T with A stored (K, M): M not a multiple of MR, N from one half panel to 8 panels
# (and past, where A is packed), K over several KC blocks, K = 0 / 1.
TRANS_A_SHAPES = [
    (1027, 128, 1600),
    (1021, 256, 613),
    (45, 37, 2051),
    (13, 7, 900),
    (260, 257, 300),  # 9 AVX-512 float panels: packed
    (100, 50, 1),
    (33, 20, 0),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("M,N,K", TRANS_A_SHAPES)
def test_trans_a_narrow_matches_numpy(isa, threads, dtype, M, N, K):
    rng = np.random.default_rng(M * 7 + N * 3 + K)
    a = rng.standard_normal((K, M)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    for nt in (1, 2):
        threads(nt)
        check(_C.gemm(a, b, trans_a=True), a, b, trans_a=True)
    c0 = rng.standard_normal((M, N)).astype(dtype)
    c = c0.copy()
    _C.gemm(a, b, c, trans_a=True, alpha=-1.5, beta=0.75)
    check(c, a, b, True, False, -1.5, 0.75, c0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_trans_a_strided_views(isa, dtype):
    # A's rows 1024 elements apart (4 KiB in float32) and 1030 apart (a column slice), B sliced
    rng = np.random.default_rng(40)
    whole = rng.standard_normal((700, 1024)).astype(dtype)
    wide = rng.standard_normal((700, 1030)).astype(dtype)
    b = rng.standard_normal((700, 300)).astype(dtype)[:, 7:140]
    for a in (whole, wide[:, 5:106]):
        check(_C.gemm(a, b, trans_a=True), a, b, trans_a=True)
        got = ember.matmul(ember.tensor(a).t(), ember.tensor(b)).numpy()
        check(got, a, b, trans_a=True)


@pytest.mark.parametrize("dtype,tol", [(np.float32, 2e-4), (np.float64, 1e-10)])
def test_lstm_weight_grads_match_torch(dtype, tol):
    torch = pytest.importorskip("torch")
    T, N, I, H = 40, 33, 24, 40  # T * N rows: dgates^T @ x over several KC blocks, 4H = 160
    rng = np.random.default_rng(5)
    x = rng.standard_normal((T, N, I)).astype(dtype)
    dy = rng.standard_normal((T, N, H)).astype(dtype)
    ours = nn.LSTM(I, H).to(ember.float32 if dtype == np.float32 else ember.float64)
    ref = torch.nn.LSTM(I, H).to(torch.float32 if dtype == np.float32 else torch.float64)
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(getattr(ours, name).detach().numpy()))
    xe = ember.tensor(x, requires_grad=True)
    (ours(xe)[0] * ember.tensor(dy)).sum().backward()
    xt = torch.from_numpy(x).requires_grad_()
    (ref(xt)[0] * torch.from_numpy(dy)).sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)
    for name, p in ref.named_parameters():
        got = getattr(ours, name).grad.numpy()
        np.testing.assert_allclose(got, p.grad.numpy(), rtol=tol, atol=tol * np.abs(got).max())


def test_lstm_weight_gradcheck_float64():
    # T * N = 400 rows: the weight-gradient products span several KC blocks
    rng = np.random.default_rng(6)
    m = nn.LSTM(3, 8).to(ember.float64)
    x = ember.tensor(rng.standard_normal((20, 20, 3)))
    params = list(m.parameters())
    assert ember.autograd.gradcheck(lambda *w: m(x)[0].sum() + m(x)[1][1].sum(), tuple(params))
