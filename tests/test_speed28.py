"""speed28: Tensor.fill_ / zero_ / copy_ run their no-autograd paths in C (_C.fast_inplace_methods,
csrc/bindings/bind_fast.cpp). Held here: values and dtypes as torch's, one version bump per
write, and every other case (autograd, refused values, non-writeable / non-contiguous / inference
tensors, subclasses, tensor values, keywords) on the Python path with its messages."""

import numpy as np
import pytest

import ember
from ember._errors import BadShapeOrValue

torch = pytest.importorskip("torch")

DTYPES = [(np.float32, torch.float32), (np.float64, torch.float64), (np.int64, torch.int64)]


def _pair(npdt, shape=(8, 8), seed=0):
    x = np.random.default_rng(seed).uniform(-5, 5, shape).astype(npdt)
    return ember.tensor(x.copy()), torch.from_numpy(x.copy())


def _same(a, t):
    assert a.numpy().dtype == t.numpy().dtype and a.shape == tuple(t.shape)
    np.testing.assert_array_equal(
        a.numpy().reshape(-1).view(np.uint8), t.numpy().reshape(-1).view(np.uint8)
    )


def test_methods_are_c_descriptors():
    for name in ("fill_", "zero_", "copy_"):
        assert type(ember.Tensor.__dict__[name]).__name__ == "method_descriptor", name


@pytest.mark.parametrize("npdt, tdt", DTYPES)
@pytest.mark.parametrize("shape", [(8, 8), (), (0,), (3, 0, 2), (1000,)])
def test_fill_zero_values_and_version(npdt, tdt, shape):
    values = [0, -3, 7, 2**40] + (
        [1.5, -0.0, float("inf"), float("nan"), 2**60] if npdt != np.int64 else []
    )
    for value in values:
        a, t = _pair(npdt, shape)
        v = a._version
        assert a.fill_(value) is a
        t.fill_(value)
        _same(a, t)
        assert a._version == v + 1
        assert a.zero_() is a
        t.zero_()
        _same(a, t)
        assert a._version == v + 2


@pytest.mark.parametrize("npdt, tdt", DTYPES)
def test_fill_views_and_non_contiguous(npdt, tdt):
    a, t = _pair(npdt, (6, 8))
    v = a._version
    a[1:3].fill_(4)  # (a C-contiguous view: the C path; the counter is the base's)
    t[1:3].fill_(4)
    a[:, ::2].fill_(-2)  # (strided: the Python path)
    t[:, ::2].fill_(-2)
    a.t().zero_()
    t.t().zero_()
    _same(a, t)
    assert a._version == v + 3


def test_fill_refusals_and_other_paths_unchanged():
    f = ember.zeros(4, 4)
    with pytest.raises(BadShapeOrValue, match="cannot be converted to type float32"):
        f.fill_(1e39)
    i = ember.zeros(3, dtype=ember.int64)
    with pytest.raises(BadShapeOrValue, match="cannot be converted to type int64"):
        i.fill_(float("nan"))
    with pytest.raises(OverflowError):
        i.fill_(2**64)
    with pytest.raises(TypeError, match="fill value must be a number"):
        f.fill_("x")
    i.fill_(2.7)  # (a float into int64: the Python path, truncated as torch)
    assert i.tolist() == torch.zeros(3, dtype=torch.int64).fill_(2.7).tolist()
    i.fill_(True)
    assert i.tolist() == [1, 1, 1]
    f.fill_(ember.tensor(2.5))  # a 0-d tensor value
    assert f.sum().item() == 40.0
    h = ember.zeros(4, dtype=ember.float16)
    h.fill_(3)
    assert h.tolist() == [3.0] * 4
    with pytest.raises(TypeError):
        f.fill_()
    with pytest.raises(TypeError):
        f.zero_(1)
    assert f.fill_(value=1.0) is f and f.sum().item() == 16.0


def test_fill_autograd_and_inference_unchanged():
    leaf = ember.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.fill_(2.0)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.zero_()
    with ember.no_grad():
        leaf.fill_(2.0)
    assert leaf.detach().tolist() == [2.0] * 4
    x = ember.ones(4, requires_grad=True)
    h = x * 2.0
    h.fill_(5.0)  # recorded: FillBackward
    assert h.grad_fn is not None
    (h * x).sum().backward()
    assert x.grad.tolist() == [5.0] * 4
    y = x * 1.0
    z = y.detach()
    w = (y * y).sum()
    z.zero_()  # the write the saved y's version sees
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.backward()
    with ember.inference_mode():
        inf = ember.ones(4)
    with pytest.raises(RuntimeError, match="[Ii]nference tensor"):
        inf.fill_(1.0)
    with pytest.raises(RuntimeError, match="[Ii]nference tensor"):
        inf.copy_(ember.ones(4))
    e = ember.ones(3).expand(2, 3)
    e.fill_(2.0)  # (expanded: torch fills the memory it views)
    assert e.tolist() == [[2.0] * 3] * 2


def test_subclass_keeps_python_path():
    class Sub(ember.Tensor):
        pass

    s = Sub(np.ones((4, 4), np.float32))
    v = s._version
    s.fill_(3)
    s.zero_()
    s.copy_(ember.ones(4))
    assert s._version == v + 3 and s.sum().item() == 16.0


@pytest.mark.parametrize("npdt, tdt", DTYPES)
def test_copy_values_dtypes_broadcast_and_version(npdt, tdt):
    for src_np, shape in [
        (np.float32, (8, 8)), (np.float64, (8, 8)), (np.int64, (8, 8)), (np.float32, (8,)),
        (np.float64, (1, 8)), (np.int64, ()), (np.bool_, (8, 1)),
    ]:  # fmt: skip
        a, t = _pair(npdt, (8, 8), 1)
        s = (np.random.default_rng(2).uniform(-50, 50, shape) > 0 if src_np is np.bool_
             else np.random.default_rng(2).uniform(-50, 50, shape).astype(src_np))  # fmt: skip
        v = a._version
        assert a.copy_(ember.tensor(s)) is a
        t.copy_(torch.from_numpy(np.array(s)))
        _same(a, t)
        assert a._version == v + 1
    a, t = _pair(npdt, (8, 8))
    with pytest.raises(RuntimeError, match="single memory location"):
        a.copy_(a.t())  # overlapping src: refused, as torch
    with pytest.raises(RuntimeError, match="single memory location"):
        t.copy_(t.t())
    e, te = _pair(npdt, (0, 3))
    e.copy_(ember.tensor(np.zeros(3, npdt)))
    assert e.shape == (0, 3)
    b, tb = _pair(npdt, (6, 8))
    b[:, 1:5].copy_(ember.tensor(np.arange(24).reshape(6, 4).astype(npdt)))  # strided self
    tb[:, 1:5].copy_(torch.arange(24).reshape(6, 4).to(tdt))
    _same(b, tb)


def test_copy_errors_and_autograd_unchanged():
    a = ember.zeros(4, 4)
    with pytest.raises(ValueError, match="could not be broadcast"):
        a.copy_(ember.ones(3))
    with pytest.raises(ValueError, match="could not be broadcast"):  # (BadShapeOrValue)
        a.copy_(ember.ones(1, 4, 4))
    leaf = ember.ones(4, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        leaf.copy_(ember.zeros(4))
    x = ember.ones(4, requires_grad=True)
    buf = ember.zeros(4)
    buf.copy_(x * 3.0)  # src in the graph: recorded, buf joins it
    assert buf.requires_grad and buf.grad_fn is not None
    buf.sum().backward()
    assert x.grad.tolist() == [3.0] * 4
    with ember.no_grad():
        leaf.copy_(ember.zeros(4))
    assert leaf.detach().tolist() == [0.0] * 4
    ro = ember.tensor(np.ones(3)).expand(2, 3)
    with pytest.raises(RuntimeError):
        ro.copy_(ember.zeros(2, 3))
    c = ember.zeros(3)
    c.copy_([1, 2, 3])  # (not a tensor: the Python path)
    assert c.tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize("npdt, tdt", DTYPES)
def test_index_copy_inplace_values_errors_and_version(npdt, tdt):
    rng = np.random.default_rng(5)
    for shape, dim in [((8, 6), 0), ((8, 6), 1), ((8, 6), -1), ((4, 3, 5), 1), ((5,), 0)]:
        a, t = _pair(npdt, shape, 3)
        n = shape[dim]
        index = rng.permutation(n)[: max(n // 2, 1)]
        sshape = list(shape)
        sshape[dim] = index.size
        src = rng.uniform(-9, 9, sshape).astype(npdt)
        v = a._version
        assert a.index_copy_(dim, ember.tensor(index), ember.tensor(src)) is a
        t.index_copy_(dim, torch.from_numpy(index), torch.from_numpy(src.copy()))
        _same(a, t)
        assert a._version == v + 1
    a, t = _pair(npdt, (6, 4))
    a.t().index_copy_(0, ember.tensor([1, 3]), ember.tensor(np.zeros((2, 6), npdt)))  # strided
    t.t().index_copy_(0, torch.tensor([1, 3]), torch.zeros((2, 6), dtype=tdt))
    _same(a, t)
    a.index_copy_(0, ember.tensor(np.zeros(0, np.int64)), ember.tensor(np.zeros((0, 4), npdt)))
    _same(a, t)
    with pytest.raises(IndexError, match="index_copy: index out of range for dim 0 of size 6"):
        a.index_copy_(0, ember.tensor([6]), ember.tensor(np.zeros((1, 4), npdt)))
    with pytest.raises(IndexError, match="index out of range"):
        a.index_copy_(0, ember.tensor([-1]), ember.tensor(np.zeros((1, 4), npdt)))
    with pytest.raises(TypeError, match="dtypes must match"):
        a.index_copy_(0, ember.tensor([1]), ember.tensor(np.zeros((1, 4), np.float16)))
    with pytest.raises(IndexError, match="source shape"):
        a.index_copy_(0, ember.tensor([1, 2]), ember.tensor(np.zeros((1, 4), npdt)))
    with pytest.raises(RuntimeError, match="refer to a single memory location"):
        a.index_copy_(0, ember.tensor([0]), a[1:2])
    _same(a, t)


def test_index_copy_autograd_unchanged():
    x = ember.tensor(np.zeros((4, 3)), requires_grad=True)
    s = ember.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    h = x * 1.0
    h.index_copy_(0, ember.tensor([0, 2]), s)  # recorded
    (h * ember.tensor(np.arange(12.0).reshape(4, 3))).sum().backward()
    np.testing.assert_array_equal(s.grad.numpy(), [[0, 1, 2], [6, 7, 8]])
    np.testing.assert_array_equal(x.grad.numpy()[[1, 3]], [[3, 4, 5], [9, 10, 11]])
    np.testing.assert_array_equal(x.grad.numpy()[[0, 2]], 0)
    with pytest.raises(RuntimeError, match="leaf"):
        x.index_copy_(0, ember.tensor([0]), ember.tensor(np.zeros((1, 3))))
    buf = ember.tensor(np.zeros((4, 3)))
    buf.index_copy_(0, ember.tensor([1]), s[:1] * 2.0)  # a graph source: recorded
    assert buf.requires_grad


@pytest.mark.parametrize("npdt", [np.float32, np.float64])
def test_scatter_add_inplace_range_errors(npdt):
    a, t = _pair(npdt, (5, 4))
    rng = np.random.default_rng(7)
    idx = rng.integers(0, 4, (5, 4))
    src = rng.uniform(-1, 1, (5, 4)).astype(npdt)
    a.scatter_add_(1, ember.tensor(idx), ember.tensor(src))
    t.scatter_add_(1, torch.from_numpy(idx), torch.from_numpy(src.copy()))
    np.testing.assert_allclose(a.numpy(), t.numpy(), rtol=1e-6)
    before = a.numpy().copy()
    for bad in (4, -1):
        idx2 = idx.copy()
        idx2[2, 1] = bad
        with pytest.raises(
            IndexError,
            match=r"scatter_add: index out of range \[0, 4\) for dim -?1 of shape \(5, 4\)",
        ):
            a.scatter_add_(-1, ember.tensor(idx2), ember.tensor(src))
        np.testing.assert_array_equal(a.numpy(), before)  # nothing written
