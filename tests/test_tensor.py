"""Tensor creation, dtypes, interop with NumPy and PyTorch, indexing, errors."""

import os
import platform
import resource
import subprocess
import sys

import numpy as np
import pytest

import ember


def test_default_dtypes_follow_pytorch():
    assert ember.tensor([1.0, 2.0]).dtype == np.float32
    assert ember.tensor([1, 2]).dtype == np.int64
    assert ember.tensor([True]).dtype == np.bool_
    assert ember.tensor(np.zeros(2)).dtype == np.float64  # NumPy arrays keep theirs
    assert ember.zeros(2, 3).dtype == np.float32
    assert ember.randn(2, dtype=np.float64).dtype == np.float64
    assert ember.arange(5).dtype == np.int64
    assert ember.arange(0.0, 1.0, 0.25).dtype == np.float32


def test_tensor_copies_from_numpy_shares():
    a = np.zeros(3, np.float32)
    t = ember.tensor(a)
    f = ember.from_numpy(a)
    a[0] = 5
    assert t.numpy()[0] == 0 and f.numpy()[0] == 5


def test_numpy_views_are_zero_copy():
    t = ember.randn(3, 4)
    assert np.shares_memory(np.asarray(t), t.data)
    assert t.numpy() is t.data
    assert np.shares_memory(np.from_dlpack(t), t.data)


def test_dlpack_to_torch_is_zero_copy():
    torch = pytest.importorskip("torch")
    t = ember.randn(3, 4)
    tt = torch.from_dlpack(t)
    tt[0, 0] = 42.0
    assert t.numpy()[0, 0] == 42.0


def test_numpy_ufuncs_become_ember_ops():
    x = ember.tensor([1.0, 2.0], requires_grad=True)
    y = np.exp(x) + np.ones(2, np.float32)
    assert isinstance(y, ember.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    assert isinstance(np.ones(2) * x, ember.Tensor)


def test_factories_validate_sizes():
    with pytest.raises(ValueError, match="negative"):
        ember.zeros(-1, 3)
    with pytest.raises(ValueError, match="negative"):
        ember.randn(2, -2)
    with pytest.raises(TypeError):
        ember.ones("a")


def test_object_arrays_are_refused():
    with pytest.raises(TypeError):
        ember.tensor(np.array([object(), 1], dtype=object))
    with pytest.raises(TypeError):
        ember.tensor(["a", "b"])


def test_manual_seed_is_deterministic():
    ember.manual_seed(7)
    a = ember.randn(5).numpy().copy()
    ember.manual_seed(7)
    np.testing.assert_array_equal(a, ember.randn(5).numpy())


def test_item_and_errors():
    assert ember.tensor([3.5]).item() == 3.5
    with pytest.raises(ValueError, match="one-element"):
        ember.tensor([1.0, 2.0]).item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(ember.tensor([1.0, 2.0]))


def test_indexing_forms():
    x = ember.arange(12).reshape(3, 4)
    assert x[1, 2].item() == 6
    assert x[:, 1].tolist() == [1, 5, 9]
    assert x[ember.tensor([2, 0])].shape == (2, 4)
    assert x[x > 9].tolist() == [10, 11]
    with pytest.raises(IndexError):
        x[5]


def test_scatter_add_gradient_for_repeated_indices():
    x = ember.tensor([1.0, 2.0, 3.0], requires_grad=True)
    x[np.array([0, 0, 2])].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 0.0, 1.0])


def test_comparisons_give_bool_tensors():
    x = ember.tensor([1.0, 2.0, 3.0])
    assert (x > 1.5).tolist() == [False, True, True]
    assert (x == 2.0).dtype == np.bool_
    assert len({x, x}) == 1  # still hashable by identity


def test_reductions_shapes_and_values():
    x = ember.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert x.sum(dim=(0, 2)).shape == (3,)
    assert x.mean(dim=1, keepdim=True).shape == (2, 1, 4)
    v, i = x.max(dim=2)
    assert v.shape == (2, 3) and i.dtype == np.int64
    assert x.argmax().item() == 23
    np.testing.assert_allclose(x.var(dim=0).numpy(), np.var(x.numpy(), 0, ddof=1))
    with pytest.raises(IndexError):
        x.sum(dim=3)


def test_views_and_shapes():
    x = ember.randn(2, 3, 4)
    assert x.view(6, 4).shape == (6, 4)
    assert x.permute(2, 0, 1).shape == (4, 2, 3)
    assert x.flatten().shape == (24,)
    assert x.unsqueeze(0).squeeze().shape == (2, 3, 4)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.numel() == 24
    with pytest.raises(ValueError):
        x.reshape(5, 5)
    with pytest.raises(RuntimeError):  # (torch's class)
        x.permute(0, 0, 1)


def test_cat_stack_validate():
    a, b = ember.ones(2, 3), ember.zeros(2, 3)
    assert ember.cat([a, b]).shape == (4, 3)
    assert ember.stack([a, b], dim=2).shape == (2, 3, 2)
    with pytest.raises(ValueError):
        ember.cat([])
    with pytest.raises(ValueError):
        ember.stack([a, ember.ones(3, 2)])


def test_matmul_shape_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(2, 3\)"):
        ember.randn(2, 3) @ ember.randn(2, 3)
    with pytest.raises(ValueError):
        ember.randn(2, 3, 4) @ ember.randn(3, 4, 2)


def test_threads_setting():
    n = ember.get_num_threads()
    ember.set_num_threads(1)
    assert ember.get_num_threads() == 1
    ember.set_num_threads(n)
    with pytest.raises(ValueError):
        ember.set_num_threads(0)


def test_show_config(capsys):
    ember.show_config()
    out = capsys.readouterr().out
    assert "ember" in out and "OpenMP" in out and "ISA" in out


_FAULTS_SCRIPT = """
import resource, numpy as np, ember
def cycle():  # a step's worth of fresh 8 MB activations, written, then freed
    a = [np.ones(1 << 21, np.float32) for _ in range(8)]
    del a
cycle()
f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(5):
    cycle()
print(ember._C.malloc_tuned, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0)
"""


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the tuning is glibc's mallopt")
def test_freed_activations_are_reused_without_page_faults():
    """With the malloc tuning, re-allocating freed MB-sized arrays touches no new pages; with
    EMBER_MALLOC_TUNING=0 (glibc's trim) each cycle faults its 64 MB in again."""

    def run(tuning):
        env = {**os.environ, "EMBER_MALLOC_TUNING": tuning}
        out = subprocess.run([sys.executable, "-c", _FAULTS_SCRIPT], env=env, check=True,
                             capture_output=True, text=True).stdout.split()  # fmt: skip
        return out[0], int(out[1])

    tuned, faults = run("1")
    default, default_faults = run("0")
    assert (tuned, default) == ("True", "False")
    pages = 5 * 8 * (8 << 20) // resource.getpagesize()
    assert faults < pages // 10 < default_faults


def test_repr():
    assert "requires_grad=True" in repr(ember.zeros(2, requires_grad=True))
    assert "grad_fn" in repr(ember.zeros(2, requires_grad=True) * 2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_named_inplace_updates_match_torch(dtype):
    """add_/sub_(alpha), mul_, div_, pow_, lerp_, addcmul_/addcdiv_(value), clamp_,
    masked_fill_ and the unary ones: the updates of EMA weights and hand-written optimiser steps."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4)).astype(dtype)
    b = rng.normal(size=(3, 4)).astype(dtype)
    c = (rng.random((3, 4)) + 0.5).astype(dtype)
    cases = [
        ("add_", (b,), dict(alpha=0.3)),
        ("add_", (b[0],), {}),
        ("sub_", (b,), dict(alpha=2)),
        ("mul_", (b,), {}),
        ("mul_", (2.5,), {}),
        ("div_", (c,), {}),
        ("pow_", (2,), {}),
        ("neg_", (), {}),
        ("abs_", (), {}),
        ("exp_", (), {}),
        ("clamp_", (), dict(min=-0.5, max=0.5)),
        ("clamp_", (), dict(min=0.1)),
        ("lerp_", (b, 0.3), {}),
        ("lerp_", (b, 0.9), {}),
        ("addcmul_", (b, c), dict(value=0.5)),
        ("addcdiv_", (b, c), dict(value=-2)),
        ("masked_fill_", (b > 0, 7.0), {}),
    ]
    for name, args, kw in cases:
        t, e = torch.tensor(a), ember.tensor(a)
        targs = [torch.tensor(x) if isinstance(x, np.ndarray) else x for x in args]
        eargs = [ember.tensor(x) if isinstance(x, np.ndarray) else x for x in args]
        getattr(t, name)(*targs, **kw)
        assert getattr(e, name)(*eargs, **kw) is e and e.dtype == dtype
        rtol = 1e-6 if dtype == np.float32 else 1e-15
        np.testing.assert_allclose(e.numpy(), t.numpy(), rtol=rtol, err_msg=name)
    e = ember.tensor(c).sqrt_()
    np.testing.assert_allclose(e.numpy(), np.sqrt(c), rtol=1e-6)


def test_named_inplace_updates_refuse_graph_tensors_and_fill_randomly():
    p = ember.nn.Parameter(ember.zeros(3))
    with pytest.raises(RuntimeError, match="in-place"):
        p.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        p.normal_()
    with ember.no_grad():
        p.add_(1.0).mul_(3.0)
    np.testing.assert_array_equal(p.numpy(), [3.0, 3.0, 3.0])
    with pytest.raises(RuntimeError, match="min or max"):
        ember.zeros(2).clamp_()
    with pytest.raises(TypeError, match="bool"):
        ember.zeros(2).masked_fill_(ember.tensor([1, 0]), 1.0)
    ember.manual_seed(0)
    x = ember.zeros(20000).normal_(2.0, 0.5).numpy()
    assert abs(x.mean() - 2.0) < 0.02 and abs(x.std() - 0.5) < 0.02
    u = ember.zeros(20000, dtype=np.float64).uniform_(-1.0, 3.0).numpy()
    assert u.dtype == np.float64 and -1.0 <= u.min() < -0.99 and 2.99 < u.max() <= 3.0
