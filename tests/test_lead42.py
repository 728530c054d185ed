"""Session 42's review mends: integer cumsum over an empty dim (wrote past the output), copy_'s
torch conversions in the C fast path (bfloat16 into integers, complex into real), and index
arrays written in place after index_copy / index_add / scatter_add were recorded."""

import warnings

import numpy as np
import pytest

import ember
from ember import _C

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
@pytest.mark.parametrize("shape,dim", [((2, 0, 4000), 1), ((0, 3), 0), ((3, 0), 1), ((2, 0, 1), 1)])
def test_integer_cumsum_over_an_empty_dim(dtype, shape, dim):
    for _ in range(5):
        y = ember.cumsum(ember.zeros(shape, dtype=getattr(ember, dtype)), dim)
    t = torch.cumsum(torch.zeros(shape, dtype=getattr(torch, dtype)), dim)
    assert y.shape == tuple(t.shape) and str(y.dtype).endswith(str(t.dtype).split(".")[-1])
    assert _C.icumsum(np.zeros((3, 0, 1000), np.dtype(dtype)), 1).shape == (3, 0, 1000)


@pytest.mark.parametrize("dst", ["uint8", "int8", "int32", "int64"])
def test_copy_bfloat16_into_integers_goes_through_float32(dst):
    vals = [-2.7, 300.5, 7.9, -129.0]
    got = ember.zeros(4, dtype=getattr(ember, dst)).copy_(ember.tensor(vals).bfloat16())
    want = torch.zeros(4, dtype=getattr(torch, dst)).copy_(torch.tensor(vals).bfloat16())
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_copy_complex_into_real_warns_as_torch():
    # torch's UserWarning (torch gives it once a process, so only its values are compared)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        out = ember.zeros(2).copy_(ember.tensor([1 + 2j, 3]))
    assert [type(m.message) for m in w] == [UserWarning]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = torch.zeros(2).copy_(torch.tensor([1 + 2j, 3]))
    np.testing.assert_array_equal(out.numpy(), want.numpy())


@pytest.mark.parametrize("op", ["index_copy", "index_add"])
def test_index_written_after_recording_keeps_the_recorded_gradient(op):
    rng = np.random.default_rng(0)
    X, S = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))

    def grads(change):
        x = ember.tensor(X, requires_grad=True)
        src = ember.tensor(S, requires_grad=True)
        idx = ember.tensor([1, 2])
        y = getattr(ember, op)(x * 1, 0, idx, src)
        if change:
            idx[0] = 3  # (torch refuses the backward; ember keeps the recorded index)
        (y * y).sum().backward()
        return x.grad.numpy(), src.grad.numpy()

    for a, b in zip(grads(True), grads(False)):
        np.testing.assert_array_equal(a, b)


def test_scatter_add_index_written_after_recording():
    rng = np.random.default_rng(1)
    X, S = rng.standard_normal((4, 3)), rng.standard_normal((2, 3))
    I = np.array([[1, 2, 0], [3, 0, 1]])

    def grad(change):
        src = ember.tensor(S, requires_grad=True)
        idx = ember.tensor(I)
        y = ember.scatter_add(ember.tensor(X), 0, idx, src)
        if change:
            idx[0, 0] = 3
        (y * y).sum().backward()
        return src.grad.numpy()

    np.testing.assert_array_equal(grad(True), grad(False))
    t = torch.tensor(S, requires_grad=True)
    y = torch.scatter_add(torch.tensor(X), 0, torch.tensor(I), t)
    (y * y).sum().backward()
    np.testing.assert_allclose(grad(False), t.grad.numpy(), rtol=1e-12)


def test_lerp_in_place_refuses_operands_broadcasting_beyond_self():
    cases = [((4,), (3, 4), None), ((4,), (3,), None), ((4,), (4,), (2, 4)), ((3, 4), (4,), (3, 1))]
    for shape, end, weight in cases:

        def call(lib, shape=shape, end=end, weight=weight):
            w = 0.5 if weight is None else lib.full(weight, 0.25)
            return lib.ones(shape).lerp_(lib.zeros(end), w)

        try:
            want = call(torch)
        except RuntimeError:
            with pytest.raises(RuntimeError):
                call(ember)
        else:
            np.testing.assert_array_equal(call(ember).numpy(), want.numpy())


def test_index_assignment_converts_as_torch():
    vals = [-2.7, 300.5, 7.9, 1.0]
    for lib_dt in ("uint8", "int8"):
        got = ember.zeros(2, 4, dtype=getattr(ember, lib_dt))
        got[0, :] = ember.tensor(vals).bfloat16()
        want = torch.zeros(2, 4, dtype=getattr(torch, lib_dt))
        want[0, :] = torch.tensor(vals).bfloat16()
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    x = ember.zeros(2, 2)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        x[0, :] = ember.tensor([1 + 1j, 2])
    assert [type(m.message) for m in w] == [UserWarning]
    np.testing.assert_array_equal(x.numpy(), [[1.0, 2.0], [0.0, 0.0]])
    with pytest.raises(RuntimeError, match=r"shape \(2,\)"):  # (torch's RuntimeError family)
        ember.zeros(2, 3)[0, 1] = ember.tensor([1.0, 2.0])
