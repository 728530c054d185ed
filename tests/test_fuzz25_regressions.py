"""Regressions found by fuzz25's bad-input fuzz: the _C boundary (recorded calls, one argument
made hostile, each in a forked child) and the public API against torch 2.13's exception classes."""

import os
import signal

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


def _in_child(fn, timeout=20):
    """Run fn in a forked child: its exit code (0 when it returned or raised a Python error),
    or minus the signal that ended it (a crash, or SIGALRM after timeout seconds: a hang)."""
    pid = os.fork()
    if pid == 0:
        signal.alarm(timeout)
        try:
            fn()
        except Exception:
            pass
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_depth_taps_of_an_empty_huge_batch_return_at_once(dtype):
    # an empty (2**40, C, D, H, 0) input looped over its 2**40 (image, depth) rows (a hang)
    x = np.empty((2**40, 4, 5, 5, 0), dtype)
    assert _in_child(lambda: _C.conv3d_depth_taps(x, 2, 3, 1, 2, 0)) == 0
    y = _C.conv3d_depth_taps(x, 2, 3, 1, 2, 0)
    assert y.shape == (3 * 2**40, 8, 5, 0) and y.dtype == dtype
    g = np.empty((3 * 2**40, 8, 5, 0), dtype)
    dx = _C.conv3d_depth_taps_backward(g, [2**40, 4, 5, 5, 0], 2, 3, 1, 2, 0)
    assert dx.shape == (2**40, 4, 5, 5, 0)
    # a non-empty call still computes (depth taps with stride 1, dilation 2, no padding)
    x = np.arange(2 * 3 * 5 * 2 * 2, dtype=dtype).reshape(2, 3, 5, 2, 2)
    y = _C.conv3d_depth_taps(x, 2, 3, 1, 2, 0).reshape(2, 3, 3, 2, 2, 2)
    np.testing.assert_array_equal(y[:, :, :, 0], x[:, :, :3].transpose(0, 2, 1, 3, 4))
    np.testing.assert_array_equal(y[:, :, :, 1], x[:, :, 2:].transpose(0, 2, 1, 3, 4))


def _same_error(call, error, match):
    """call(torch) raises error; call(ember) raises the same class with ember's message."""
    with pytest.raises(error):
        call(torch)
    with pytest.raises(error, match=match):
        call(ember)


@pytest.mark.parametrize("dim", [(0, 0), (1, -1), [0, -2]])
@pytest.mark.parametrize("op", ["sum", "mean", "amax", "std", "logsumexp"])
def test_duplicate_reduction_dims_are_torchs_runtime_error(op, dim):
    # (was ValueError; torch: "dim 0 appears multiple times in the list of dims")
    _same_error(lambda L: getattr(L.ones(3, 4), op)(dim), RuntimeError, "names a dimension twice")


def test_roll_checks_as_torch():
    x, t = ember.arange(6).reshape(2, 3), torch.arange(6).reshape(2, 3)
    # dims=() rolls the flattened tensor, as no dims (was a ValueError)
    assert x.roll(1, ()).tolist() == t.roll(1, ()).tolist() == [[5, 0, 1], [2, 3, 4]]
    assert x.roll([2], []).tolist() == t.roll([2], []).tolist()
    # a shift count that does not match the dims: RuntimeError (was ValueError)
    _same_error(lambda L: L.ones(2, 3).roll((1, 1), 0), RuntimeError, "differ in length")
    _same_error(lambda L: L.ones(2, 3).roll((1, 1)), RuntimeError, "need as many dims")
    # shifts must be ints: a bool or float or str is a TypeError (True rolled by 1; "a" was
    # int()'s ValueError)
    for shift in (True, 1.5, "a", (1, 2.5)):
        dims = 0 if np.ndim(shift) == 0 else (0, 1)
        _same_error(lambda L, s=shift, d=dims: L.ones(2, 3).roll(s, d), TypeError, "must be an int")
    assert x.roll(ember.tensor(1), 1).tolist() == t.roll(torch.tensor(1), 1).tolist()


def test_narrow_length_out_of_range_is_a_runtime_error():
    for start, length in ((0, -1), (3, 2), (0, 7)):
        _same_error(
            lambda L, s=start, n=length: L.ones(3, 4).narrow(1, s, n),
            RuntimeError,
            "exceeds dim 1|length must be non-negative",
        )


def test_gather_and_scatter_shape_checks_are_runtime_errors():
    i = np.random.RandomState(0).randint(0, 3, (3, 4))
    _same_error(lambda L: L.zeros(3, 4).gather(1, L.tensor(i[0])), RuntimeError, "index has 1 dims")
    for op in ("scatter", "scatter_add"):
        _same_error(
            lambda L, op=op: getattr(L.zeros(3, 4), op)(1, L.tensor(i[0]), L.ones(3, 4)),
            RuntimeError,
            "index has 1 dims",
        )
        # a 0-d src of a 2-D index: NumPy's "too many indices" IndexError before
        for f in (op, op + "_"):
            _same_error(
                lambda L, f=f: getattr(L.zeros(3, 4), f)(1, L.tensor(i), L.tensor(1.5)),
                RuntimeError,
                r"index \(3, 4\) and src \(\) differ in dims",
            )
    _same_error(
        lambda L: L.zeros(3, 4).scatter_reduce(1, L.tensor(i), L.tensor(1.5), "sum"),
        RuntimeError,
        "differ in dims",
    )
    # a scalar value still scatters, as torch
    want = torch.zeros(3, 4).scatter(1, torch.tensor(i), 2.0)
    np.testing.assert_array_equal(ember.zeros(3, 4).scatter(1, ember.tensor(i), 2.0).numpy(), want)


@pytest.mark.parametrize(
    "call,match",
    [
        (lambda L: L.ones(3, 4).topk(5, 1), r"topk: k \(5\) out of range"),
        (lambda L: L.ones(3, 4).topk(-1, 1), r"topk: k \(-1\) out of range"),
        (lambda L: L.ones(3, 4).kthvalue(0, 1), r"kthvalue: k \(0\) out of range"),
        (lambda L: L.ones(3, 4).kthvalue(7, 1), r"kthvalue: k \(7\) out of range"),
        (lambda L: L.ones(3, 4).chunk(-1), "chunks must be positive"),
        (lambda L: L.ones(3, 4).split(-1, 1), "split_size must be positive"),
        (lambda L: L.ones(3, 4).split([0, -2], 1), "do not add up"),
        (lambda L: L.ones(3, 4).split([1, 1], 1), "do not add up"),
        (lambda L: L.ones(3, 4).tensor_split(-1, 1), "number of sections must be positive"),
        (lambda L: L.take_along_dim(L.ones(3, 4), L.zeros(2, dtype=L.int64), 1),
         "same number of dims"),
    ],
)  # fmt: skip
def test_value_checks_are_torchs_runtime_errors(call, match):
    # (each was a ValueError)
    _same_error(call, RuntimeError, match)


def test_interpolate_refuses_sizes_beyond_int64_and_non_bool_align_corners():
    import ember.nn.functional as F

    x = ember.ones(1, 1, 4, 4)
    t = torch.ones(1, 1, 4, 4)
    # a size of 2**63 gave an empty (1, 1, 5, 0) output
    for size in ((5, 2**63), 2**64):
        _same_error(
            lambda L, size=size: (F if L is ember else torch.nn.functional).interpolate(
                x if L is ember else t, size=size, mode="bilinear"
            ),
            TypeError,
            "does not fit in int64",
        )
    with pytest.raises(RuntimeError, match="cannot be converted to int64"):
        F.interpolate(x, scale_factor=1e30, mode="bilinear")  # (was NumPy's ValueError)
    # align_corners is a bool, as torch's (a str or number was read by its truth)
    for ac in ("yes", 1, (0, 0), np.bool_(True)):
        with pytest.raises(TypeError):
            torch.nn.functional.interpolate(t, size=3, mode="bilinear", align_corners=ac)
        with pytest.raises(TypeError, match="align_corners must be a bool or None"):
            F.interpolate(x, size=3, mode="bilinear", align_corners=ac)
    got = F.interpolate(x * 2, size=3, mode="bilinear", align_corners=True)
    want = torch.nn.functional.interpolate(t * 2, size=3, mode="bilinear", align_corners=True)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
