"""speed27b: number - / tensor, abs, ** number, the comparisons and the in-place updates
(x op= y, add_, sub_, mul_, div_) run their no-autograd fast paths in C (_C.fast_methods,
csrc/bindings/bind_fast.cpp). Held here: the general path's bits, dtypes and results, the
version counter bumped once per write, and every other case (autograd, other dtypes,
broadcasting, overlap, expanded or inference tensors, subclasses) on the Python path with its
messages."""

import numpy as np
import pytest

import ember
from ember import ops

torch = pytest.importorskip("torch")


def _bits(t, ref):
    a = t.numpy() if isinstance(t, ember.Tensor) else t
    b = ref.numpy() if isinstance(ref, ember.Tensor | torch.Tensor) else ref
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(
        np.ascontiguousarray(a).view(np.uint8), np.ascontiguousarray(b).view(np.uint8)
    )


def _data(dtype, shape=(8, 8), seed=0):
    x = np.random.default_rng(seed).uniform(-3, 3, shape).astype(dtype)
    if x.size >= 8:
        x.flat[:6] = [0.0, -0.0, np.inf, -np.inf, np.nan, -np.nan]
    return x


NAMES = ["__rsub__", "__rtruediv__", "__abs__", "abs", "__pow__", "pow", "__lt__", "__le__",
         "__gt__", "__ge__", "__eq__", "__ne__", "__iadd__", "__isub__", "__imul__",
         "__itruediv__", "add_", "sub_", "mul_", "div_"]  # fmt: skip


def test_methods_are_c_descriptors():
    for name in NAMES:
        assert type(ember.Tensor.__dict__[name]).__name__ == "method_descriptor", name


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(8, 8), (3, 4), (), (32, 32)])
def test_number_ops_match_general_path_and_torch(dtype, shape):
    x = _data(dtype, shape)
    a, t = ember.tensor(x), torch.from_numpy(x.copy())
    with np.errstate(all="ignore"):
        for s in (1, 2.5, -3, 0.0, 1e-3):
            _bits(s - a, ops.sub(s, a))
            _bits(s - a, s - t)
            _bits(s / a, ops.mul(ops.reciprocal(a), s))
            _bits(s / a, s / t)
        _bits(abs(a), ops.abs(a))
        _bits(a.abs(), t.abs())
        for e in (2, 2.0, 0.5, -1, -0.5, 3, 1, 0.25, True):
            _bits(a**e, ops.pow(a, e))
            _bits(a.pow(e), ops.pow(a, e))
        for e in (2, 0.5, -1, -0.5):
            np.testing.assert_allclose((a**e).numpy(), (t**e).numpy(), rtol=1e-6, atol=0)
        for name in ("__lt__", "__le__", "__gt__", "__ge__", "__eq__", "__ne__"):
            for s in (0, 0.5, a, ember.tensor(np.flip(x).copy())):
                ref = getattr(t, name)(
                    s if not isinstance(s, ember.Tensor) else torch.from_numpy(s.numpy())
                )
                _bits(getattr(a, name)(s), ref)


def test_integer_and_bool_tensors_keep_their_paths():
    i = ember.tensor(np.arange(20).reshape(4, 5))
    ti = torch.arange(20).reshape(4, 5)
    _bits(1 - i, 1 - ti)
    _bits(2 / i[1:], 2 / ti[1:])
    _bits(i**2, ti**2)
    _bits(abs(-i), abs(-ti))
    _bits(i > 3, ti > 3)
    with pytest.raises(TypeError, match="abs: not implemented for bool"):
        abs(ember.tensor([True, False]))
    with pytest.raises(ValueError, match="integers to negative integer powers"):
        i**-1


def test_mixed_dtypes_and_broadcasting_decline():
    rng = np.random.default_rng(1)
    f32 = ember.tensor(rng.standard_normal((6, 8)).astype(np.float32))
    f64 = ember.tensor(rng.standard_normal((6, 8)))
    row = ember.tensor(rng.standard_normal(8).astype(np.float32))
    t32, t64, trow = (torch.from_numpy(v.numpy().copy()) for v in (f32, f64, row))
    _bits(f32 > f64, t32 > t64)
    _bits(f32 == row, t32 == trow)
    with pytest.raises(ValueError, match="do not broadcast|broadcast"):
        _ = f32 > ember.tensor(np.ones((5, 8), np.float32))
    c = f32.clone()
    c += row  # (a row: the Python path)
    _bits(c, t32 + trow)
    c64 = f64.clone()
    c64 += f32  # (another dtype: the Python path's cast)
    _bits(c64, t64 + t32)
    c2 = f32.clone()
    with pytest.raises(RuntimeError, match="complex64 can't be cast to the desired output type"):
        c2 += f32 + 0.5j  # (torch refuses the cast as a RuntimeError)
    i = ember.tensor(np.ones((6, 8), np.int64))
    with pytest.raises((TypeError, RuntimeError)):
        i += f32
    c3 = row.clone()
    with pytest.raises(RuntimeError, match=r"output with shape \(8,\) doesn't match the broadcast"):
        c3 += f32  # (the result would not fit row's shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_inplace_bits_and_version_counter(dtype):
    x, y = _data(dtype, (8, 8), 2), _data(dtype, (8, 8), 3)
    ops_ = [
        (lambda a, b: a.__iadd__(b), lambda a, b: a.__iadd__(b)),
        (lambda a, b: a.__isub__(b), lambda a, b: a.__isub__(b)),
        (lambda a, b: a.__imul__(b), lambda a, b: a.__imul__(b)),
        (lambda a, b: a.__itruediv__(b), lambda a, b: a.__itruediv__(b)),
        (lambda a, b: a.add_(b), lambda a, b: a.add_(b)),
        (lambda a, b: a.sub_(b), lambda a, b: a.sub_(b)),
        (lambda a, b: a.mul_(b), lambda a, b: a.mul_(b)),
        (lambda a, b: a.div_(b), lambda a, b: a.div_(b)),
    ]
    with np.errstate(all="ignore"):
        for f, g in ops_:
            for other in ("tensor", 2.5, 3, "self"):
                a, t = ember.tensor(x.copy()), torch.from_numpy(x.copy())
                if other == "tensor":
                    b, tb = ember.tensor(y), torch.from_numpy(y.copy())
                elif other == "self":
                    b, tb = a, t
                else:
                    b = tb = other
                v = a._version
                out = f(a, b)
                g(t, tb)
                assert out is a and a._version == v + 1
                _bits(a, t)


def test_inplace_views_overlap_and_counter_shared():
    base = ember.tensor(np.arange(64, dtype=np.float32).reshape(8, 8))
    tbase = torch.arange(64, dtype=torch.float32).reshape(8, 8)
    view = base[2:6]
    v = base._version
    view += 1.0
    view.mul_(ember.tensor(np.full((4, 8), 2.0, np.float32)))
    tbase[2:6] += 1.0
    tbase[2:6].mul_(2.0)
    assert base._version == view._version == v + 2
    _bits(base, tbase)
    # partly overlapping operands: refused, as torch
    a = ember.tensor(np.arange(40, dtype=np.float64))
    with pytest.raises(RuntimeError, match="single memory location"):
        a[1:33] += a[0:32]
    ta = torch.arange(40, dtype=torch.float64)
    with pytest.raises(RuntimeError, match="single memory location"):
        ta[1:33] += ta[0:32]


def test_inplace_refusals_unchanged():
    leaf = ember.tensor(np.ones((8, 8), np.float32), requires_grad=True)
    for f in (lambda: leaf.__iadd__(1.0), lambda: leaf.add_(1.0), lambda: leaf.mul_(leaf)):
        with pytest.raises(RuntimeError, match="a leaf tensor that requires grad"):
            f()
    with pytest.raises(RuntimeError, match="leaf"):
        leaf[:4].add_(1.0)
    e = ember.tensor(np.ones(8, np.float32)).expand(4, 8)
    with pytest.raises(RuntimeError):
        e += ember.tensor(np.ones((4, 8), np.float32))
    with ember.inference_mode():
        inf = ember.tensor(np.ones((8, 8), np.float32))
    with pytest.raises(RuntimeError, match="[Ii]nference tensor"):
        inf += 1.0
    with pytest.raises(RuntimeError, match="[Ii]nference tensor"):
        inf.add_(inf)
    with ember.no_grad():
        leaf += 1.0  # allowed under no_grad
        leaf.mul_(2.0)
    np.testing.assert_array_equal(leaf.detach().numpy(), np.full((8, 8), 4.0, np.float32))
    p = ember.tensor(np.ones((8, 8), np.float32))
    with pytest.raises(TypeError):
        p.add_(1.0, 2.0)
    with pytest.raises(TypeError):
        p.__iadd__()
    _bits(p.add_(p, alpha=2), np.full((8, 8), 3.0, np.float32))
    _bits(p.div_(2.0, rounding_mode="floor"), np.full((8, 8), 1.0, np.float32))
    _bits(p.add_(other=p), np.full((8, 8), 2.0, np.float32))  # (keywords: the Python path)
    _bits(p.pow(exponent=2), np.full((8, 8), 4.0, np.float32))
    with pytest.raises(TypeError):
        p.pow(2, 3)


def test_inplace_saved_tensor_refuses_backward():
    x = ember.tensor(np.linspace(1, 2, 64).reshape(8, 8), requires_grad=True)
    y = x * 1.0
    z = y.detach()  # shares y's memory
    w = (y * y).sum()
    z += 1.0  # the write the version counter sees
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        w.backward()
    # recorded graph writes: the Python path
    x2 = ember.tensor(np.ones((8, 8)), requires_grad=True)
    h = x2 * 2.0
    h += x2
    h.mul_(3.0)
    h.sum().backward()
    np.testing.assert_array_equal(x2.grad.numpy(), np.full((8, 8), 9.0))


def test_autograd_results_unchanged():
    x = ember.tensor(np.linspace(0.5, 2, 32).reshape(4, 8), requires_grad=True)
    out = (1 - x) + 2 / x + abs(x) + x**2 + x**0.5
    assert out.grad_fn is not None
    names = set()
    node = (1 - x).grad_fn
    names.add(type(node).__name__ if not hasattr(node, "name") else node.name())
    assert "RsubBackward1" in str(names) or "Rsub" in repr((1 - x).grad_fn)
    out.sum().backward()
    xv = x.detach().numpy()
    np.testing.assert_allclose(x.grad.numpy(), -1 - 2 / xv**2 + 1 + 2 * xv + 0.5 / np.sqrt(xv))
    assert (x > 1).dtype == ember.bool and not (x > 1).requires_grad


def test_inference_mode_and_subclasses():
    a = ember.tensor(np.ones((8, 8), np.float32))
    with ember.inference_mode():
        outs = [1 - a, 2 / a, abs(a), a**2, a > 0, a == a]
    assert all(o.is_inference() for o in outs)

    class Sub(ember.Tensor):
        pass

    s = Sub(np.full((8, 8), 2.0, np.float32))
    for o, ref in [(1 - s, ops.sub(1, s)), (2 / s, ops.mul(ops.reciprocal(s), 2)),
                   (abs(s), ops.abs(s)), (s**2, ops.pow(s, 2)), (s > 1, ops.gt(s, 1))]:  # fmt: skip
        assert type(o) is type(ref)
        _bits(o, ref)
    _bits(1 - s, np.full((8, 8), -1.0, np.float32))
    v = s._version
    s += 1.0
    s.add_(a)
    assert s._version == v + 2
    _bits(s, np.full((8, 8), 4.0, np.float32))
    assert (a == None) is False and (a != None) is True  # noqa: E711
