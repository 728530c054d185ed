import contextlib

import numpy as np
import pytest

import ember
from ember import _C


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state, and grad mode on."""
    ember.manual_seed(0)
    ember.set_grad_enabled(True)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(scope="module")
def torch_one_thread():
    """For training-parity files (pytestmark = usefixtures): their models are tiny, so torch's
    intra-op threads only fight ember's OpenMP threads for the two cores (and spin after each
    op), doubling a file's time under load."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# Context managers the conv test files import (one setting for a block, restored after).
@contextlib.contextmanager
def at_threads(n):
    """ember's thread count n inside the block."""
    old = _C.get_num_threads()
    _C.set_num_threads(n)
    try:
        yield
    finally:
        _C.set_num_threads(old)


@contextlib.contextmanager
def swapped(setter, value):
    """setter(value) inside the block; setter returns the setting it replaced, restored after."""
    old = setter(value)
    try:
        yield
    finally:
        setter(old)


def refuses_alike(call, torch_exc, ember_exc, match):
    """call(lib) refuses in torch with torch_exc and in ember with ember_exc (a subclass of
    torch's class, so code written for either catches both), its message matching ``match``."""
    torch = pytest.importorskip("torch")
    with pytest.raises(torch_exc):
        call(torch)
    with pytest.raises(ember_exc, match=match) as info:
        call(ember)
    assert isinstance(info.value, torch_exc)


def builtin_family(exc) -> type:
    """The builtin exception class a torch exception is (RuntimeError for LinAlgError...)."""
    return next(c for c in type(exc).__mro__ if c.__module__ == "builtins")


def same_error(fe, ft):
    """ft() (torch) raises, and fe() (ember) raises the same builtin family."""
    with pytest.raises(Exception) as et:
        ft()
    with pytest.raises(builtin_family(et.value)):
        fe()


def winograd(mode):
    """conv2d's Winograd choice ('always', 'never', 'auto') inside the block."""
    return swapped(_C.conv2d_set_winograd, mode)


def check_weight_grad(dy, x, w, pads, tol):
    """conv2d's weight gradient (stride and dilation 1, one group): the same bits at 1, 2 and 3
    threads, and torch's values within tol (assert_allclose's keywords); returns it."""
    torch = pytest.importorskip("torch")
    args = (dy, x, w, (1, 1), tuple(pads), (1, 1), 1, False, True, False)
    with at_threads(1):
        ref = _C.conv2d_backward(*args)[1]
    for nt in (2, 3):
        with at_threads(nt):
            np.testing.assert_array_equal(_C.conv2d_backward(*args)[1], ref)
    t = [torch.from_numpy(a) for a in (dy, x, w)]
    expect = torch.ops.aten.convolution_backward(
        *t, None, [1, 1], list(pads), [1, 1], False, [0, 0], 1, [False, True, False]
    )[1]
    np.testing.assert_allclose(ref, expect.numpy(), **tol)
    return ref


# tests/test_gemm.py and test_gemm512.py have a `threads` fixture of their own (one count per test)
@pytest.fixture
def threads():
    """Run a body at 1 and then 2 threads, restoring the setting."""
    before = ember.get_num_threads()

    def each():
        for n in (1, 2):
            ember.set_num_threads(n)
            yield n

    yield each
    ember.set_num_threads(before)


def _gemm_isas():
    """The GEMM micro-kernel families this CPU runs (the names _C.gemm_set_isa accepts);
    GEMM_ISAS below, which tests/test_gemm.py imports."""
    original = _C.gemm_isa()
    found = []
    for name in ("avx512", "avx2", "generic"):
        try:
            _C.gemm_set_isa(name)
            found.append(name)
        except ValueError:
            pass
    _C.gemm_set_isa(original)
    return found


GEMM_ISAS = _gemm_isas()


def check_gemm(got, a, b, trans_a=False, trans_b=False, alpha=1.0, beta=0.0, c0=None):
    """got == alpha * op(a) @ op(b) + beta * c0 within a rounding-error bound (gamma_K): the
    float64 NumPy oracle of tests/test_gemm.py and tests/test_gemm512.py."""
    a64 = np.asarray(a, np.float64)
    b64 = np.asarray(b, np.float64)
    a64, b64 = (a64.T if trans_a else a64), (b64.T if trans_b else b64)
    want = alpha * (a64 @ b64)
    size = abs(alpha) * (np.abs(a64) @ np.abs(b64))
    if beta != 0.0:
        want = want + beta * c0.astype(np.float64)
        size = size + abs(beta) * np.abs(c0.astype(np.float64))
    eps = np.finfo(got.dtype).eps
    bound = (a64.shape[1] + 3) * eps * size + np.finfo(got.dtype).tiny
    assert got.shape == want.shape
    assert got.dtype == np.dtype(a.dtype)
    err = np.abs(got.astype(np.float64) - want)
    assert np.all(err <= bound), f"max error {err.max()} (bound {bound.max()})"


@pytest.fixture(params=GEMM_ISAS)
def isa(request):
    """Run a test once on each GEMM micro-kernel family this CPU has, restoring the choice."""
    original = _C.gemm_isa()
    _C.gemm_set_isa(request.param)
    yield request.param
    _C.gemm_set_isa(original)
