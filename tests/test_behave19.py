"""Behaviour matched to PyTorch 2.13: views made under no_grad whose memory is written after,
flatten of one dim, index_put's keys and layout, recorded losses and inference tensors."""

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")

REBASED = "A view was created in no_grad mode and its base or another view of its base"


def _no_grad_view(lib, write):
    """a, v = a[1:] made under no_grad, then ``write`` (base, other view, v) under no_grad."""
    a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with lib.no_grad():
        v, u = a[1:], a[:2]
    with lib.no_grad():
        {"base": a, "other": u, "self": v}[write].mul_(2)
    return a, v


@pytest.mark.parametrize("write", ["base", "other", "self"])
def test_no_grad_view_written_after_refuses_backward(write):
    for lib in (torch, ember):
        a, v = _no_grad_view(lib, write)
        with pytest.raises(RuntimeError, match=REBASED):
            (v * 2).sum().backward()
        a, v = _no_grad_view(lib, write)
        with pytest.raises(RuntimeError, match=REBASED):
            v.grad_fn  # noqa: B018
        # outside grad mode the view still reads (the values the write left)
        with lib.no_grad():
            np.testing.assert_allclose(
                np.asarray(v.sum().item()), 10.0 if write != "other" else 7.0
            )


def test_no_grad_view_unwritten_takes_no_gradient():
    for lib in (torch, ember):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with lib.no_grad():
            v = a[1:]
        other = lib.ones(3)
        other.mul_(2)  # a write elsewhere leaves v usable
        (v * 2).sum().backward()
        assert v.requires_grad and v.grad is None and a.grad is None


def test_inference_mode_view_written_after_refuses_backward():
    for lib in (torch, ember):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        a._version  # noqa: B018  (ember: tracking on, as a recorded node would turn it)
        with lib.inference_mode():
            v = a[1:]
        with lib.no_grad():
            a.mul_(2)
        with pytest.raises(RuntimeError, match="A view was created in inference mode"):
            (v * 2).sum().backward()


def test_no_grad_view_requires_grad_false_and_detach_():
    for lib in (torch, ember):
        a = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        with lib.no_grad():
            v = a[1:]
        v.requires_grad_(False)  # torch: the view requires grad through its base
        assert v.requires_grad
        with pytest.raises(RuntimeError, match="Can't detach views in-place"):
            v.detach_()


def test_flatten_of_one_dim_is_the_tensor():
    for lib in (torch, ember):
        x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
        assert x.flatten() is x and lib.flatten(x) is x
        y = lib.zeros(2, 3, 4)
        assert y.flatten(1, 1) is y and y.flatten(-1, -1) is y
        assert y.flatten(1, 2) is not y
        s = lib.tensor(1.0)
        assert s.flatten() is not s and tuple(s.flatten().shape) == (1,)


@pytest.mark.parametrize(
    "key", [lambda lib: (lib.tensor([0, 1]), 1), lambda lib: (1,), lambda lib: (None,)]
)
def test_index_put_refuses_non_tensor_index(key):
    for lib in (torch, ember):
        x = lib.zeros(3, 4)
        with pytest.raises(TypeError, match="expected Tensor as element"):
            x.index_put(key(lib), lib.tensor(5.0))
        with pytest.raises(TypeError, match="expected Tensor as element"):
            x.index_put_(key(lib), lib.tensor(5.0))


@pytest.mark.parametrize("k", [True, False])
def test_index_put_on_zero_dim_refuses_key(k):
    for lib in (torch, ember):
        s = lib.tensor(3.0)
        with pytest.raises(IndexError, match="too many indices for tensor of dimension 0"):
            s.index_put((lib.tensor(k),), lib.tensor(5.0))
        s[lib.tensor(k)] = 7.0  # (setitem with a 0-d mask is fine)
        assert s.item() == (7.0 if k else 3.0)


@pytest.mark.parametrize("accumulate", [False, True])
@pytest.mark.parametrize(
    "make",
    [
        lambda lib: lib.arange(12.0).reshape(3, 4).t(),
        lambda lib: lib.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1),
        lambda lib: lib.arange(24.0).reshape(2, 3, 4)[:, ::2],
    ],
)
def test_index_put_keeps_layout(make, accumulate):
    outs = []
    for lib in (torch, ember):
        x = make(lib).requires_grad_()
        y = x.index_put((lib.tensor([0, 1]),), lib.tensor(9.0), accumulate=accumulate)
        (y * lib.arange(float(y.numel())).reshape(y.shape)).sum().backward()
        outs.append((tuple(y.stride()), y.detach().numpy(), x.grad.numpy()))
    (ts, ty, tg), (es, ey, eg) = outs
    assert es == ts
    np.testing.assert_array_equal(ey, ty)
    np.testing.assert_array_equal(eg, tg)
    # NumPy: x with rows 0 and 1 set to (or plus) 9
    ref = np.array(make(ember).numpy())
    ref[[0, 1]] = ref[[0, 1]] + 9 if accumulate else 9
    np.testing.assert_array_equal(ey, ref)


def _loss_pair(lib):
    import importlib

    return importlib.import_module("torch.nn.functional" if lib is torch else "ember.nn.functional")


@pytest.mark.parametrize("what", ["weight", "target"])
@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
def test_recorded_class_loss_refuses_inference_tensors(fn, what):
    x0 = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    for lib in (torch, ember):
        loss = getattr(_loss_pair(lib), fn)
        with lib.inference_mode():
            w, t = lib.ones(3), lib.tensor([0, 1, 2, 0])
        args = {"weight": (lib.tensor([0, 1, 2, 0]), w), "target": (t, None)}[what]
        x = lib.tensor(x0, requires_grad=True)
        with pytest.raises(RuntimeError, match="Inference tensors cannot be saved for backward"):
            loss(x, args[0], weight=args[1])
        with lib.no_grad():  # nothing recorded: the same values as with normal tensors
            got = loss(x, args[0], weight=args[1]).item()
        np.testing.assert_allclose(got, loss(x.detach(), lib.tensor([0, 1, 2, 0])).item())


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
def test_class_loss_target_types(fn):
    x0 = np.random.default_rng(1).standard_normal((2, 3, 4)).astype(np.float32)
    for lib in (torch, ember):
        loss = getattr(_loss_pair(lib), fn)
        with pytest.raises(TypeError, match="must be Tensor, not list"):
            loss(lib.tensor(x0[:, :, 0]), [0, 1])
        # uint8 class indices: (N, C) input only
        got = loss(lib.tensor(x0[:, :, 0]), lib.tensor([0, 2], dtype=lib.uint8)).item()
        want = loss(lib.tensor(x0[:, :, 0]), lib.tensor([0, 2])).item()
        np.testing.assert_allclose(got, want, rtol=1e-6)
        with pytest.raises((TypeError, RuntimeError), match="expected scalar type Long"):
            loss(lib.tensor(x0), lib.zeros(2, 4, dtype=lib.uint8))


@pytest.mark.parametrize("dtype", ["uint16", "uint32", "uint64"])
@pytest.mark.parametrize("op", ["median", "nanmedian"])
def test_median_of_wide_unsigned_refused(dtype, op):
    for lib in (torch, ember):
        x = lib.tensor([[3, 1, 2, 7]], dtype=getattr(lib, dtype))
        with pytest.raises((TypeError, NotImplementedError), match="not implemented for"):
            getattr(x, op)()
        with pytest.raises((TypeError, NotImplementedError), match="not implemented for"):
            getattr(x, op)(1)
    # uint8 still works (torch's kernels cover it): the lower median, as NumPy's sorted middle
    got = ember.tensor([3, 1, 2, 7], dtype=ember.uint8).median().item()
    assert got == np.sort([3, 1, 2, 7])[1] == torch.tensor([3, 1, 2, 7], dtype=torch.uint8).median()


@pytest.mark.parametrize("keepdim", [True, False])
@pytest.mark.parametrize("op", ["std", "var", "logsumexp", "norm", "norm1", "any", "all"])
def test_reduction_of_permuted_input_is_c_ordered(op, keepdim):
    outs = []
    for lib in (torch, ember):
        a = lib.arange(24.0).reshape(2, 3, 4).permute(2, 0, 1)
        if op in ("any", "all"):
            r = getattr(a > 3, op)(1, keepdim=keepdim)
        elif op == "norm1":
            r = a.norm(p=1, dim=1, keepdim=keepdim)
        elif op == "norm":
            r = a.norm(dim=1, keepdim=keepdim)
        else:
            r = getattr(a, op)(1, keepdim=keepdim)
        outs.append((tuple(r.shape), tuple(r.stride()), r.numpy()))
    assert outs[1][:2] == outs[0][:2]
    np.testing.assert_allclose(outs[1][2], outs[0][2], rtol=1e-6)
    # NumPy: the result's values follow a's, whatever its layout
    a = np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1)
    if op == "var":
        np.testing.assert_allclose(outs[1][2], a.var(1, ddof=1, keepdims=keepdim), rtol=1e-6)


@pytest.mark.parametrize("i", [-1, -12, -13, 12])
def test_take_along_dim_flat_refuses_negative_and_past_end(i):
    for lib in (torch, ember):
        x = lib.arange(12.0).reshape(3, 4)
        with pytest.raises((IndexError, RuntimeError), match="out of"):
            lib.take_along_dim(x, lib.tensor([i]))
    # in range: NumPy's flat pick
    got = ember.take_along_dim(ember.arange(12.0).reshape(3, 4), ember.tensor([11, 0])).numpy()
    np.testing.assert_array_equal(got, np.arange(12.0)[[11, 0]])


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_low_precision_logcumsumexp_bits(dtype):
    a = (np.random.default_rng(2).standard_normal((3, 64)) * 4).astype(np.float32)
    want = torch.logcumsumexp(torch.tensor(a).to(getattr(torch, dtype)), 1).float().numpy()
    got = ember.logcumsumexp(ember.tensor(a).to(getattr(ember, dtype)), 1).float().numpy()
    np.testing.assert_array_equal(got, want)
    # NumPy float64 reference on the rounded input, within the dtype's rounding
    a_low = ember.tensor(a).to(getattr(ember, dtype)).float().numpy().astype(np.float64)
    np.testing.assert_allclose(got, np.logaddexp.accumulate(a_low, 1), rtol=1e-2)


def test_complex_logcumsumexp_branch_on_tied_real_parts():
    c = np.array([1 + 3j, 1 - 3j, -2 + 3.1j, 0.5 - 3.1j, 0.5 + 2j])
    want = torch.logcumsumexp(torch.tensor(c), 0).numpy()
    got = ember.logcumsumexp(ember.tensor(c), 0).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # the same numbers up to the log's branch: exp of each is the running sum of exp(c)
    np.testing.assert_allclose(np.exp(got), np.cumsum(np.exp(c)), rtol=1e-12)
