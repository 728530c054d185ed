"""Behaviour matched to PyTorch 2.13 (helper behave18): views made under no_grad /
inference_mode, convolutions whose zero padding meets inf/NaN weights, empty bool masks of
the wrong length, histc of a range that collapses to one value, and cummax/cummin and
scatter_reduce amax/amin of complex tensors with nothing to order."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F
from ember.nn.utils.rnn import pack_padded_sequence

# ---- 1. a view made with grad mode off of a tensor that requires grad ----------------------

_MODES = [("no_grad", "no_grad mode", "with grad mode enabled"),
          ("inference_mode", "inference mode", "in normal mode")]  # fmt: skip

_VIEWS = {
    "slice": lambda a: a[1:],
    "int": lambda a: a[0],
    "view": lambda a: a.view(12),
    "reshape": lambda a: a.reshape(12),
    "t": lambda a: a.t(),
    "transpose": lambda a: a.transpose(0, 1),
    "permute": lambda a: a.permute(1, 0),
    "unsqueeze": lambda a: a.unsqueeze(0),
    "expand": lambda a: a.expand(2, 4, 3),
    "narrow": lambda a: a.narrow(0, 1, 2),
    "select": lambda a: a.select(0, 1),
    "unbind": lambda a: a.unbind(0)[1],
    "split": lambda a: a.split(2)[1],
    "chunk": lambda a: a.chunk(2)[0],
    "diagonal": lambda a: a.diagonal(),
    "unfold": lambda a: a.unfold(0, 2, 1),
    "as_strided": lambda a: a.as_strided((2, 2), (1, 1)),
    "movedim": lambda a: a.movedim(0, 1),
}
_COPIES = {
    "add": lambda a: a + 1,
    "clone": lambda a: a.clone(),
    "gather": lambda a: a[[0, 1]],
    "mask": lambda a: a[a > 0],
    "flip": lambda a: a.flip(0),
    "double": lambda a: a.double(),
}


def _leaf(lib, rg=True):
    return lib.tensor(np.arange(12.0, dtype=np.float32).reshape(4, 3) - 5, requires_grad=rg)


@pytest.mark.parametrize("mode", ["no_grad", "inference_mode"])
@pytest.mark.parametrize("name", sorted(_VIEWS) + sorted(_COPIES))
def test_no_grad_view_flags_match_torch(mode, name):
    torch = pytest.importorskip("torch")
    fn = {**_VIEWS, **_COPIES}[name]
    got = []
    for lib in (ember, torch):
        a = _leaf(lib)
        with getattr(lib, mode)():
            v = fn(a)
        got.append((bool(v.requires_grad), v.is_leaf, v.grad_fn is None))
    assert got[0] == got[1]
    assert got[0] == ((True, True, True) if name in _VIEWS else (False, True, True))


@pytest.mark.parametrize("mode, made, grad", _MODES)
def test_no_grad_view_refuses_inplace_in_grad_mode(mode, made, grad):
    a = _leaf(ember)
    before = a.detach().numpy().copy()
    with getattr(ember, mode)():
        v = a[1:]
    assert v.requires_grad and v.is_leaf and v.grad_fn is None
    msg = f"A view was created in {made} and is being modified inplace {grad}"
    with pytest.raises(RuntimeError, match=msg):
        v.mul_(2)
    with pytest.raises(RuntimeError, match=msg):
        v += 1
    with pytest.raises(RuntimeError, match=msg):
        v.t_()
    with pytest.raises(RuntimeError, match=f"a view of a view which was created in {made}"):
        v[0] = 1.0
    w = v[1:]  # a view of it made in grad mode: in the graph, its in-place writes refused too
    assert w.requires_grad and w.grad_fn is not None
    with pytest.raises(RuntimeError, match=f"view of a view which was created in {made}"):
        w.zero_()
    np.testing.assert_array_equal(a.detach().numpy(), before)  # nothing was written
    with ember.no_grad():  # where it was made, the write goes through to its base
        v.mul_(2)
    np.testing.assert_array_equal(a.detach().numpy()[1:], 2 * before[1:])


def test_no_grad_view_inplace_errors_match_torch():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        a = _leaf(lib)
        with lib.no_grad():
            v = a[1:]
        with pytest.raises(RuntimeError, match="A view was created in no_grad mode"):
            v.add_(1)


def test_no_grad_view_takes_no_gradient():
    # as torch's: it requires grad, yet no gradient reaches it or its base; other leaves of
    # the same expression get theirs
    for lib in (ember, pytest.importorskip("torch")):
        a = _leaf(lib)
        w = lib.tensor(np.full((3, 3), 2.0, np.float32), requires_grad=True)
        with lib.no_grad():
            v = a[1:]
        y = (v * w).sum()
        assert y.requires_grad
        y.backward()
        assert v.grad is None and a.grad is None
        np.testing.assert_array_equal(w.grad.numpy(), a.detach().numpy()[1:])
        with lib.no_grad():
            v = a[1:]
        with pytest.raises(RuntimeError, match="not have been used in the graph"):
            lib.autograd.grad((v * 2).sum(), v)


def test_no_grad_view_of_plain_or_integer_tensor_stays_plain():
    a = _leaf(ember, rg=False)
    with ember.no_grad():
        v = a[1:]
    assert not v.requires_grad
    v.mul_(2)  # (a plain tensor's view: written in grad mode as before)
    b = _leaf(ember)
    with ember.no_grad():
        assert not b.view(ember.int32).requires_grad  # (integers never require grad)
        assert not b.detach()[1:].requires_grad


# ---- 2. zero padding against inf/NaN weights (float32: torch's oneDNN skips the padding) ---


def _conv_in_bounds(x, w, b, stride, pad, dil, groups):
    """float64 reference: y[n, o, p] = b[o] + the sum over the taps that land inside x (the
    zero padding is skipped, not multiplied). pad = (top, bottom, left, right)."""
    n, _, h, wd = x.shape
    o_n, cg, kh, kw = w.shape
    og = o_n // groups
    oh = (h + pad[0] + pad[1] - dil[0] * (kh - 1) - 1) // stride[0] + 1
    ow = (wd + pad[2] + pad[3] - dil[1] * (kw - 1) - 1) // stride[1] + 1
    y = np.zeros((n, o_n, oh, ow)) + (0.0 if b is None else b.reshape(1, -1, 1, 1))
    with np.errstate(invalid="ignore"):
        for o in range(o_n):
            for c in range(cg):
                ci = (o // og) * cg + c
                for i in range(kh):
                    for j in range(kw):
                        for r in range(oh):
                            ih = r * stride[0] + i * dil[0] - pad[0]
                            for q in range(ow):
                                iw = q * stride[1] + j * dil[1] - pad[2]
                                if 0 <= ih < h and 0 <= iw < wd:
                                    y[:, o, r, q] += w[o, c, i, j] * x[:, ci, ih, iw]
    return y


def _same_values(got, want, tol=1e-4):
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=tol, atol=tol)


def test_conv2d_nonfinite_weight_skips_padding_against_reference():
    rng = np.random.default_rng(7)
    checked = 0
    for trial in range(40):
        groups, cg, og = (int(v) for v in rng.integers(1, 3, 3))
        k = tuple(int(v) for v in rng.integers(1, 4, 2))
        s = tuple(int(v) for v in rng.integers(1, 3, 2))
        d = tuple(int(v) for v in rng.integers(1, 3, 2))
        x = rng.standard_normal((2, cg * groups, *rng.integers(3, 8, 2))).astype(np.float32)
        w = rng.standard_normal((og * groups, cg, *k)).astype(np.float32)
        bad = rng.random(w.shape) < 0.25
        w[bad] = rng.choice([np.nan, np.inf, -np.inf], bad.sum())
        b = rng.standard_normal(og * groups).astype(np.float32) if trial % 2 else None
        if trial % 5 == 0 and s == (1, 1):
            padding = "same"
            th, tw = d[0] * (k[0] - 1), d[1] * (k[1] - 1)
            pad = (th // 2, th - th // 2, tw // 2, tw - tw // 2)
        else:
            ph, pw = (int(v) for v in rng.integers(0, 3, 2))
            padding, pad = (ph, pw), (ph, ph, pw, pw)
        try:
            y = F.conv2d(
                ember.tensor(x), ember.tensor(w), None if b is None else ember.tensor(b),
                s, padding, d, groups,
            )  # fmt: skip
        except ValueError:  # (a kernel larger than the padded input)
            continue
        b64 = None if b is None else b.astype(np.float64)
        ref = _conv_in_bounds(x.astype(np.float64), w.astype(np.float64), b64, s, pad, d, groups)
        _same_values(y.numpy(), ref)
        checked += 1
    assert checked >= 20


def _torch_conv_case(torch, name, dtype, rng):
    """(ember op, torch op, x, w) with a NaN and an inf weight; batch 2 and kernels > 1 keep
    torch's float32 CPU convolutions on oneDNN (its float64 ones on im2col)."""
    dt = np.dtype(dtype)
    tf = torch.nn.functional
    if name == "repro":  # the reported case: (3, 1, 8, 1) input, dilated (1, 2) kernel
        x, w = rng.standard_normal((3, 1, 8, 1)), rng.standard_normal((12, 1, 1, 2))
        kw = {"padding": (0, 1), "dilation": (1, 2)}
        ops = (F.conv2d, tf.conv2d)
    elif name == "conv2d":
        x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 3))
        kw = {"padding": 2, "stride": 2}
        ops = (F.conv2d, tf.conv2d)
    elif name == "conv1d":
        x, w = rng.standard_normal((2, 3, 9)), rng.standard_normal((4, 3, 3))
        kw = {"padding": 1}
        ops = (F.conv1d, tf.conv1d)
    elif name == "conv3d":
        x, w = rng.standard_normal((2, 2, 4, 5, 5)), rng.standard_normal((3, 2, 3, 3, 3))
        kw = {"padding": 1}
        ops = (F.conv3d, tf.conv3d)
    else:  # conv_transpose2d: its input gradient is a padded convolution
        x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((3, 4, 3, 3))
        kw = {"padding": 1}
        ops = (F.conv_transpose2d, tf.conv_transpose2d)
    w.flat[0] = np.nan
    w.flat[w.size // 2 + 1] = np.inf
    return ops, x.astype(dt), w.astype(dt), kw


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", ["repro", "conv2d", "conv1d", "conv3d", "conv_transpose2d"])
def test_conv_nonfinite_weight_matches_torch(name, dtype):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    (e_op, t_op), x, w, kw = _torch_conv_case(torch, name, dtype, rng)
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    ty = t_op(tx, tw, **kw)
    ty.backward(torch.ones_like(ty))
    ex, ew = ember.tensor(x, requires_grad=True), ember.tensor(w, requires_grad=True)
    ey = e_op(ex, ew, **kw)
    ey.backward(ember.ones(*ey.shape, dtype=ey.dtype))
    _same_values(ey.detach().numpy(), ty.detach().numpy())
    _same_values(ex.grad.numpy(), tx.grad.numpy())
    _same_values(ew.grad.numpy(), tw.grad.numpy())
    if name == "repro" and dtype == "float32":
        assert np.isfinite(ey.detach().numpy()).all()  # (the padded taps alone met the NaN)


def test_conv_finite_path_unchanged_and_gradcheck():
    rng = np.random.default_rng(5)
    x = ember.tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True)
    w = ember.tensor(rng.standard_normal((3, 2, 3, 2)), requires_grad=True)
    b = ember.tensor(rng.standard_normal(3), requires_grad=True)
    assert ember.autograd.gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=1), (x, w, b))
    xs = rng.standard_normal((2, 2, 5, 4)).astype(np.float32)
    ws = rng.standard_normal((3, 2, 3, 2)).astype(np.float32)
    y = F.conv2d(ember.tensor(xs), ember.tensor(ws), padding=(1, 2)).numpy()
    ref = _conv_in_bounds(xs.astype(np.float64), ws.astype(np.float64), None, (1, 1),
                          (1, 1, 2, 2), (1, 1), 1)  # fmt: skip
    np.testing.assert_allclose(y, ref, rtol=1e-5, atol=1e-5)


# ---- 3. an empty bool mask of the wrong length --------------------------------------------


def test_empty_bool_mask_of_wrong_length_is_refused():
    x = ember.zeros(4, 3)
    empty = ember.tensor([], dtype=ember.bool)
    with pytest.raises(IndexError, match=r"shape of the mask \[0\] at index 0"):
        x[empty]
    with pytest.raises(IndexError, match="indexed tensor"):
        x[:, empty]
    with pytest.raises(IndexError, match="indexed tensor"):
        x[..., empty]
    with pytest.raises(IndexError, match="indexed tensor"):
        x[ember.zeros(4, 0, dtype=ember.bool)]
    with pytest.raises(IndexError, match="indexed tensor"):
        x[empty] = 1.0
    with pytest.raises(IndexError, match="indexed tensor"):
        x.index_put((empty,), ember.tensor(1.0))
    xr = ember.zeros(4, 3, requires_grad=True)
    with pytest.raises(IndexError, match="indexed tensor"):
        xr[empty]
    # masks whose shape is that of the dims they index (empty ones too) still work
    assert ember.zeros(0, 3)[empty].shape == (0, 3)
    assert x[:, ember.zeros(3, dtype=ember.bool)].shape == (4, 0)
    assert x[ember.zeros(4, 3, dtype=ember.bool)].shape == (0,)
    assert x[ember.tensor([], dtype=ember.int64)].shape == (0, 3)
    assert x[ember.tensor(True)].shape == (1, 4, 3)


def test_empty_bool_mask_matches_torch():
    torch = pytest.importorskip("torch")
    for key in ([], [slice(None)]):
        for lib in (ember, torch):
            x = lib.zeros(4, 3)
            with pytest.raises(IndexError):
                x[(*key, lib.tensor([], dtype=lib.bool))]


# ---- 4. a packed sequence with an h0 of another batch size: refused, as torch ------------


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
@pytest.mark.parametrize("rows", [2, 5])
def test_packed_sequence_h0_batch_mismatch_is_refused(cell, rows):
    torch = pytest.importorskip("torch")
    x = np.random.default_rng(0).standard_normal((5, 3, 4)).astype(np.float32)
    for lib, errors in ((ember, ValueError), (torch, RuntimeError)):
        m = getattr(lib.nn, cell)(4, 6)
        packed = (
            pack_padded_sequence if lib is ember else torch.nn.utils.rnn.pack_padded_sequence
        )(lib.tensor(x), [5, 3, 2])
        h = lib.zeros(1, rows, 6)
        with pytest.raises(errors) as info:
            m(packed, (h, h) if cell == "LSTM" else h)
        if lib is ember:  # the message names the expected and the given shapes
            assert "(1, 3, 6)" in str(info.value) and f"(1, {rows}, 6)" in str(info.value)


# ---- 5. histc of a data range that collapses to one value --------------------------------


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("value, bins", [(3e30, 39), (-3e30, 4), (1e20, 10), (3e30, 1)])
def test_histc_collapsed_data_range_uses_middle_bin(value, bins, dtype):
    x = ember.tensor(np.full(3, value, dtype))
    want = np.zeros(bins, dtype)
    want[bins // 2] = 3  # (value +- 1 is value again: torch's binning lands in the middle)
    np.testing.assert_array_equal(ember.histc(x, bins).numpy(), want)
    torch = pytest.importorskip("torch")
    got = torch.histc(torch.tensor(np.full(3, value, dtype)), bins).numpy()
    np.testing.assert_array_equal(ember.histc(x, bins).numpy(), got)


def test_histc_collapsed_given_range_still_uses_bin_zero():
    x = ember.tensor([1.0, 1.0, 2.0])
    np.testing.assert_array_equal(ember.histc(x, 4, min=1, max=1 + 1e-9).numpy(), [2, 0, 0, 0])
    np.testing.assert_array_equal(ember.histc(ember.tensor([1.5]), 4).numpy(), [0, 0, 1, 0])


# ---- 7. complex tensors with nothing to order ---------------------------------------------


@pytest.mark.parametrize("op", ["cummax", "cummin"])
def test_cummax_cummin_of_0d_or_empty_complex(op):
    v, i = getattr(ember, op)(ember.tensor(1 + 2j), 0)
    assert v.shape == () and v.item() == 1 + 2j and v.dtype == np.complex64
    assert i.shape == () and i.item() == 0 and i.dtype == np.int64
    for dim in (0, 1):
        v, i = getattr(ember, op)(ember.zeros(2, 0, dtype=ember.complex128), dim)
        assert v.shape == (2, 0) and v.dtype == np.complex128
        assert i.shape == (2, 0) and i.dtype == np.int64
    with pytest.raises(TypeError, match="complex"):
        getattr(ember, op)(ember.tensor([1 + 1j, 2 + 0j]), 0)
    torch = pytest.importorskip("torch")
    tv, ti = getattr(torch, op)(torch.tensor(1 + 2j), 0)
    assert tv.item() == 1 + 2j and ti.item() == 0


@pytest.mark.parametrize("reduce", ["amax", "amin"])
def test_scatter_reduce_complex_amax_amin_with_empty_index(reduce):
    x = ember.tensor([1 + 1j, 2 + 2j, 3 + 0j])
    idx, src = ember.zeros(0, dtype=ember.int64), ember.zeros(0, dtype=ember.complex64)
    out = x.scatter_reduce(0, idx, src, reduce)
    np.testing.assert_array_equal(out.numpy(), x.numpy())
    assert not np.shares_memory(out.numpy(), x.numpy())
    with pytest.raises(TypeError, match="complex"):
        x.scatter_reduce(0, ember.tensor([0]), ember.tensor([5 + 0j]), reduce)
    torch = pytest.importorskip("torch")
    t = torch.tensor([1 + 1j, 2 + 2j, 3 + 0j])
    got = t.scatter_reduce(0, torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=t.dtype),
                           reduce)  # fmt: skip
    np.testing.assert_array_equal(out.numpy(), got.numpy())
