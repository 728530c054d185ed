"""fuzz18c: a differential hunt over overhead18's fast paths (rnn cells called directly, the
few-row weight product's thread split, nll_loss / cross_entropy outside the graph, index_put
with one integer index, median and outer outside the graph). The fixes found and guards for
the paths against NumPy and torch references."""

import contextlib

import numpy as np
import pytest

import ember
import ember.nn.functional as F


def _np(t):
    return t.data if isinstance(t, ember.Tensor) else t.detach().numpy()


# ---- nll_loss / cross_entropy: ignore_index is an int64 --------------------------------------


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
def test_ignore_index_float_refused_not_truncated(fn):
    # 1.5 was read as int(1.5) = 1: class 1 silently ignored; torch refuses a float
    x = ember.tensor(np.log(np.full((3, 4), 0.25, np.float32)))
    t = ember.tensor([0, 1, 2])
    with pytest.raises(TypeError, match="ignore_index"):
        getattr(F, fn)(x, t, ignore_index=1.5)
    with pytest.raises(ValueError, match="int64"):
        getattr(F, fn)(x, t, ignore_index=2**70)
    # numpy integers are ints, as torch takes them
    ref = getattr(F, fn)(x, t, ignore_index=1)
    np.testing.assert_array_equal(getattr(F, fn)(x, t, ignore_index=np.int64(1)).data, ref.data)


def test_ignore_index_float_refused_as_torch():
    torch = pytest.importorskip("torch")
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(TypeError):
        torch.nn.functional.nll_loss(torch.tensor(x), torch.tensor([0, 1, 2]), ignore_index=1.5)
    with pytest.raises(TypeError):
        F.nll_loss(ember.tensor(x), ember.tensor([0, 1, 2]), ignore_index=1.5)


# ---- median of an empty uint64 tensor ---------------------------------------------------------


@pytest.mark.parametrize("fn", ["median", "nanmedian"])
def test_empty_uint64_median_is_nan_converted(fn):
    # torch: NaN converted to uint64 as x86 converts it, 2^63 (ember gave 0)
    for shape in [(0,), (2, 0)]:
        y = getattr(ember.zeros(shape, dtype=ember.uint64), fn)()
        assert y.dtype == ember.uint64 and y.shape == ()
        assert int(y.item()) == 1 << 63


def test_empty_uint64_median_as_torch():
    torch = pytest.importorskip("torch")
    want = torch.zeros(0, dtype=torch.uint64).median()
    got = ember.zeros(0, dtype=ember.uint64).median()
    assert int(got.item()) == int(want.item())


# ---- guards for the fast paths ---------------------------------------------------------------


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_losses_outside_and_inside_graph_agree_with_torch(fn, reduction):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    cases = [
        (rng.standard_normal((6, 5)), rng.integers(0, 5, 6)),  # rows
        (rng.standard_normal((2, 5, 3)), rng.integers(0, 5, (2, 3))),  # K-dim
        (rng.standard_normal(5), np.array(3)),  # unbatched
        (np.array([np.inf, 1.0, -np.inf, 2.0, 0.0]), np.array(-100)),  # unbatched, ignored
    ]
    for xa, ta in cases:
        for tdt in (np.int64, np.uint8):
            if tdt is np.uint8 and ((ta < 0).any() or xa.ndim > 2):  # (torch refuses K-dim uint8)
                continue
            for ignore in (-100, 1, 5) if ta.min() >= 0 else (-100,):
                kw = dict(ignore_index=ignore, reduction=reduction)
                if fn == "cross_entropy":
                    kw["label_smoothing"] = 0.2 if xa.ndim == 2 and tdt is np.int64 else 0.0
                ref = getattr(torch.nn.functional, fn)(
                    torch.tensor(xa), torch.tensor(ta.astype(tdt)), **kw
                )
                outs = []
                for grad, nog in ((False, False), (True, True), (True, False)):
                    x = ember.tensor(xa, requires_grad=grad)
                    with ember.no_grad() if nog else contextlib.nullcontext():
                        y = getattr(F, fn)(x, ember.tensor(ta.astype(tdt)), **kw)
                    assert y.shape == tuple(ref.shape) and y.dtype == ember.float64
                    assert y.requires_grad == (grad and not nog)
                    outs.append(y.data)
                for o in outs:
                    np.testing.assert_allclose(o, ref.numpy(), rtol=1e-12, atol=1e-12)
                np.testing.assert_array_equal(outs[0], outs[1])


def test_losses_non_contiguous_input_and_target():
    rng = np.random.default_rng(1)
    xa = rng.standard_normal((5, 6))
    ta = rng.integers(0, 5, 12)
    x = ember.tensor(xa).T  # (6, 5), a transposed view
    t = ember.tensor(ta)[::2]
    # torch-free reference: log_softmax then pick
    lp = x.data - np.log(np.exp(x.data).sum(1, keepdims=True))
    want = -lp[np.arange(6), ta[::2]]
    for ctx in (contextlib.nullcontext(), ember.no_grad()):
        with ctx:
            y = F.cross_entropy(x, t, reduction="none")
        np.testing.assert_allclose(y.data, want, rtol=1e-12)
        with ctx:
            y = F.nll_loss(ember.tensor(lp).T.contiguous().T, t, reduction="sum")
        np.testing.assert_allclose(y.item(), want.sum(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cell_one_and_two_threads_bit_identical(kind):
    # a few-row weight product splits its columns over threads: the same bits on any count
    before = ember.get_num_threads()
    try:
        for h in (7, 65, 257):
            ember.manual_seed(h)
            cell = getattr(ember.nn, kind)(33, h, dtype="float64")
            for n in range(1, 6):
                x = ember.randn(n, 33, dtype=ember.float64)
                s = ember.randn(n, h, dtype=ember.float64)
                hx = (s, s * 0.5) if kind == "LSTMCell" else s
                outs = []
                for nt in (1, 2):
                    ember.set_num_threads(nt)
                    xg = x.detach().requires_grad_(True)
                    y = cell(xg, hx)
                    y = y[0] if isinstance(y, tuple) else y
                    (y * y).sum().backward()
                    outs.append([y.data, xg.grad.data] + [p.grad.data for p in cell.parameters()])
                    cell.zero_grad()
                for a, b in zip(*outs):
                    np.testing.assert_array_equal(a, b)
    finally:
        ember.set_num_threads(before)


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
@pytest.mark.parametrize("edit", ["data", "copy_", "load_state_dict", "transposed"])
def test_cell_weights_replaced_between_calls(kind, edit):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(2)
    tc = getattr(torch.nn, kind)(4, 5, dtype=torch.float64)
    ec = getattr(ember.nn, kind)(4, 5, dtype="float64")
    ec.load_state_dict(
        {k: ember.tensor(v.detach().numpy().copy()) for k, v in tc.state_dict().items()}
    )
    x = rng.standard_normal((3, 4))
    tc(torch.tensor(x)), ec(ember.tensor(x))  # a first call, then the edit
    new = {k: rng.standard_normal(tuple(v.shape)) for k, v in tc.state_dict().items()}
    if edit == "data":
        for k, v in new.items():
            getattr(tc, k).data = torch.tensor(v)
            getattr(ec, k).data = ember.tensor(v)
    elif edit == "copy_":
        with torch.no_grad():
            for k, v in new.items():
                getattr(tc, k).copy_(torch.tensor(v))
        with ember.no_grad():
            for k, v in new.items():
                getattr(ec, k).copy_(ember.tensor(v))
    elif edit == "load_state_dict":
        tc.load_state_dict({k: torch.tensor(v) for k, v in new.items()})
        ec.load_state_dict({k: ember.tensor(v) for k, v in new.items()})
    else:  # a non-contiguous parameter
        w = rng.standard_normal(tuple(tc.weight_hh.shape)[::-1])
        tc.weight_hh = torch.nn.Parameter(torch.tensor(w).T)
        ec.weight_hh = ember.nn.Parameter(ember.tensor(w).T)
    xt, xe = torch.tensor(x, requires_grad=True), ember.tensor(x, requires_grad=True)
    yt, ye = tc(xt), ec(xe)
    yt = yt if isinstance(yt, tuple) else (yt,)
    ye = ye if isinstance(ye, tuple) else (ye,)
    for a, b in zip(ye, yt):
        np.testing.assert_allclose(_np(a), _np(b), rtol=1e-12, atol=1e-12)
    sum((v * v).sum() for v in yt).backward()
    sum((v * v).sum() for v in ye).backward()
    np.testing.assert_allclose(xe.grad.data, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    for pe, pt in zip(ec.parameters(), tc.parameters()):
        np.testing.assert_allclose(pe.grad.data, pt.grad.numpy(), rtol=1e-10, atol=1e-12)


def _put_ref(xa, i, va, acc):
    out = xa.copy()
    if acc:
        np.add.at(out, i, va)
    else:
        out[i] = va
    return out


@pytest.mark.parametrize("acc", [False, True])
def test_index_put_one_integer_index_matches_numpy(acc):
    rng = np.random.default_rng(3)
    for shape in [(5,), (5, 3), (4, 2, 3)]:
        xa = rng.standard_normal(shape)
        for idx in ([0], [-1], [1, 1], [3, 0, 3], [], [[0, 1], [2, -3]]):
            i = np.array(idx, np.int64)
            kshape = i.shape + shape[1:]
            for vshape in (kshape, (), shape[1:]):
                va = rng.standard_normal(vshape)
                want = _put_ref(xa, i, np.broadcast_to(va, kshape), acc)
                for layout in ("c", "view"):
                    if layout == "view":
                        full = np.concatenate([xa, xa], axis=-1)
                        x = ember.tensor(full)[..., : shape[-1]]
                    else:
                        x = ember.tensor(xa)
                    y = x.index_put((ember.tensor(i),), ember.tensor(va), accumulate=acc)
                    if not (acc or len(set(np.ravel(i) % shape[0])) < i.size):
                        np.testing.assert_array_equal(y.data, want)
                    elif acc:
                        np.testing.assert_allclose(y.data, want, rtol=1e-12)
                    np.testing.assert_array_equal(x.data, xa)  # out of place


def test_index_put_one_integer_index_errors_leave_x_alone():
    x = ember.arange(15.0).reshape(5, 3)
    before = x.data.copy()
    for idx in ([5], [-6], [0, 7]):
        for acc in (False, True):
            with pytest.raises(IndexError):
                x.index_put((ember.tensor(idx),), ember.tensor(1.0), accumulate=acc)
            with pytest.raises(IndexError), ember.no_grad():
                x.index_put_((ember.tensor(idx),), ember.tensor(1.0), accumulate=acc)
    with pytest.raises((ValueError, RuntimeError)):
        x.index_put((ember.tensor([0, 1]),), ember.ones(2, 4))
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        x.index_put((ember.tensor([0]),), ember.ones(1, 3, dtype=ember.float64))
    np.testing.assert_array_equal(x.data, before)


def test_index_put_grad_of_values_with_duplicates():
    torch = pytest.importorskip("torch")
    xa, va = np.arange(10.0).reshape(5, 2), np.ones((3, 2))
    grads = []
    for lib in (torch, ember):
        v = lib.tensor(va, requires_grad=True)
        y = lib.tensor(xa).index_put((lib.tensor([1, -4, 3]),), v * 2)
        (y * lib.tensor(xa)).sum().backward()
        grads.append(_np(v.grad))
    np.testing.assert_array_equal(grads[0], grads[1])


def test_median_and_outer_outside_graph():
    rng = np.random.default_rng(4)
    for dt in (np.float32, np.float64, np.int8, np.int64, np.uint8):
        a = (rng.standard_normal((4, 5)) * 9).astype(dt)
        if dt == np.float32:
            a[1, 2] = np.nan
        want = np.sort(a.ravel())[(a.size - 1) // 2] if dt != np.float32 else np.float32("nan")
        for ctx in (contextlib.nullcontext(), ember.no_grad()):
            with ctx:
                y = ember.tensor(a).T.median()
            assert y.dtype == ember.tensor(a).dtype and y.shape == () and not y.requires_grad
            np.testing.assert_array_equal(y.data, want)
        if dt == np.float32:
            ok = np.sort(a[~np.isnan(a)])
            np.testing.assert_array_equal(ember.tensor(a).nanmedian().data, ok[(ok.size - 1) // 2])
    x, y = ember.tensor([1, 2, 3], dtype=ember.int32), ember.tensor([0.5, 1.5])
    o = ember.outer(x, y)
    assert o.dtype == ember.float32 and o.shape == (3, 2)
    np.testing.assert_array_equal(
        o.data, np.multiply.outer([1, 2, 3], [0.5, 1.5]).astype(np.float32)
    )
    assert ember.outer(ember.ones(0), ember.ones(3)).shape == (0, 3)
    with pytest.raises((ValueError, RuntimeError)):
        ember.outer(ember.tensor(1.0), ember.ones(3))


@pytest.mark.parametrize("fn, gates", [("lstm_cell", 4), ("gru_cell", 3), ("rnn_cell", 1)])
def test_cell_unbatched_array_state_cast_as_batched(fn, gates):
    # a float64 array or list state of a float32 cell is cast (as a batched one is); the
    # unbatched one was refused as float64
    rng = np.random.default_rng(5)
    w_ih = rng.standard_normal((gates * 4, 3)).astype(np.float32)
    w_hh = rng.standard_normal((gates * 4, 4)).astype(np.float32)
    x, h = rng.standard_normal(3).astype(np.float32), rng.standard_normal(4)
    hx = (h, h.tolist()) if fn == "lstm_cell" else h.tolist()
    hb = (h[None], h[None]) if fn == "lstm_cell" else h[None]
    got = getattr(F, fn)(x, hx, w_ih, w_hh)
    want = getattr(F, fn)(x[None], hb, w_ih, w_hh)
    got, want = (got, want) if fn == "lstm_cell" else ((got,), (want,))
    for g, w in zip(got, want):
        assert g.shape == (4,) and g.dtype == ember.float32
        np.testing.assert_array_equal(g.data, w.data[0])


@pytest.mark.parametrize("kind", ["LSTMCell", "GRUCell", "RNNCell"])
def test_cell_inference_state_refused_when_recorded(kind):
    # torch refuses to save an inference tensor for backward; the state reached the layer as a
    # bare array, so ember took it and recorded the step
    cell = getattr(ember.nn, kind)(3, 4)
    with ember.inference_mode():
        h = ember.ones(2, 4)
    hx = (h, h) if kind == "LSTMCell" else h
    with pytest.raises(RuntimeError, match="Inference tensors cannot be saved"):
        cell(ember.ones(2, 3), hx)
    with ember.no_grad():  # nothing recorded: fine, the same values as a plain state
        got = cell(ember.ones(2, 3), hx)
        want = cell(
            ember.ones(2, 3), (ember.ones(2, 4),) * 2 if kind == "LSTMCell" else ember.ones(2, 4)
        )
    for g, w in zip(
        got if isinstance(got, tuple) else (got,), want if isinstance(want, tuple) else (want,)
    ):
        np.testing.assert_array_equal(g.data, w.data)


def test_cell_inference_state_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        cell = lib.nn.GRUCell(3, 4)
        with lib.inference_mode():
            h = lib.ones(2, 4)
        with pytest.raises(RuntimeError):
            cell(lib.ones(2, 3), h)
