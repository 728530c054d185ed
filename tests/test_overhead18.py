"""The cheaper per-call paths (RNN cells, nll_loss / cross_entropy, small autograd graphs and
small ops) give exactly the numbers and gradients of PyTorch and of the composed reference,
see in-place weight edits between calls, behave under no_grad and with any mix of inputs that
require grad, and still refuse bad input with the same errors."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.nn import functional as F

torch = pytest.importorskip("torch")

CELLS = ["LSTMCell", "GRUCell", "RNNCell"]


def _pair(kind, i=5, h=7, bias=True, dtype=np.float64):
    cell = getattr(nn, kind)(i, h, bias=bias, dtype=dtype)
    tcell = getattr(torch.nn, kind)(i, h, bias=bias, dtype=getattr(torch, np.dtype(dtype).name))
    with torch.no_grad():
        for name, p in tcell.named_parameters():
            p.copy_(torch.from_numpy(getattr(cell, name).numpy()))
    return cell, tcell


def _state(kind, s):
    return s if kind != "LSTMCell" or s is None else (s, s * 0.5)


def _flat(out):
    return out if isinstance(out, tuple) else (out,)


@pytest.mark.parametrize("kind", CELLS)
@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("with_hx", [True, False])
@pytest.mark.parametrize("grads", ["all", "input", "weights", "none"])
def test_cells_match_torch_values_and_grads(kind, batched, with_hx, grads, rng):
    cell, tcell = _pair(kind)
    shape_x, shape_h = ((3, 5), (3, 7)) if batched else ((5,), (7,))
    x = rng.standard_normal(shape_x)
    h = rng.standard_normal(shape_h)
    want_x = grads in ("all", "input")
    for p in cell.parameters():
        p.requires_grad_(grads in ("all", "weights"))
    for p in tcell.parameters():
        p.requires_grad_(grads in ("all", "weights"))
    xe = ember.tensor(x, requires_grad=want_x)
    he = ember.tensor(h, requires_grad=want_x)
    xt = torch.tensor(x, requires_grad=want_x)
    ht = torch.tensor(h, requires_grad=want_x)
    oe = _flat(cell(xe, _state(kind, he) if with_hx else None))
    ot = _flat(tcell(xt, _state(kind, ht) if with_hx else None))
    for a, b in zip(oe, ot):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=1e-12, atol=1e-12)
    if grads == "none":
        assert all(not o.requires_grad for o in oe)
        return
    sum(o.sum() * (k + 1) for k, o in enumerate(oe)).backward()
    sum(o.sum() * (k + 1) for k, o in enumerate(ot)).backward()
    pairs = list(zip(cell.parameters(), tcell.parameters()))
    if want_x:
        pairs += [(xe, xt)] + ([(he, ht)] if with_hx else [])
    for a, b in pairs:
        if b.grad is None:
            assert a.grad is None
        else:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_cells_see_in_place_weight_edits_and_new_arrays(kind, rng):
    cell, tcell = _pair(kind)
    x = rng.standard_normal((2, 5))
    for step in range(3):
        with ember.no_grad():
            oe = _flat(cell(ember.tensor(x)))
        with torch.no_grad():
            ot = _flat(tcell(torch.tensor(x)))
        for a, b in zip(oe, ot):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
        # edit every weight in place between calls (values only: the kernels read them anew)
        with ember.no_grad(), torch.no_grad():
            for p, tp in zip(cell.parameters(), tcell.parameters()):
                p.mul_(1.5 - step * 0.25)
                tp.mul_(1.5 - step * 0.25)
    # a new (non-contiguous) array in place of a weight is used, and a wrong shape refused
    w = rng.standard_normal(cell.weight_hh.shape[::-1]).T
    cell.weight_hh.data = w
    with torch.no_grad():
        tcell.weight_hh.copy_(torch.from_numpy(np.ascontiguousarray(w)))
    oe, ot = _flat(cell(ember.tensor(x))), _flat(tcell(torch.tensor(x)))
    for a, b in zip(oe, ot):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
    cell.weight_hh.data = np.zeros((3, 4))
    with pytest.raises(ValueError, match="w_hh must have shape"):
        cell(ember.tensor(x))


@pytest.mark.parametrize("kind", CELLS)
def test_cells_non_contiguous_inputs_and_states(kind, rng):
    cell, tcell = _pair(kind)
    x = rng.standard_normal((5, 4)).T  # (4, 5), a transposed view
    h = rng.standard_normal((7, 4)).T
    xe, he = ember.tensor(x, requires_grad=True), ember.tensor(h, requires_grad=True)
    xt = torch.tensor(np.ascontiguousarray(x), requires_grad=True)
    ht = torch.tensor(np.ascontiguousarray(h), requires_grad=True)
    xe2, he2 = xe.transpose(0, 1).transpose(0, 1), he.transpose(0, 1).transpose(0, 1)
    oe = _flat(cell(xe2, _state(kind, he2)))
    ot = _flat(tcell(xt, _state(kind, ht)))
    for a, b in zip(oe, ot):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
    oe[0].sum().backward()
    ot[0].sum().backward()
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(he.grad.numpy(), ht.grad.numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", CELLS)
def test_cells_refuse_bad_input(kind, rng):
    cell, _ = _pair(kind)
    with pytest.raises(ValueError, match="inconsistent input_size"):
        cell(ember.randn(2, 4, dtype=ember.float64))
    with pytest.raises(ValueError, match="1-D or 2-D"):
        cell(ember.randn(1, 2, 5, dtype=ember.float64))
    with pytest.raises(TypeError, match="expected float64"):
        cell(ember.randn(2, 5))  # float32 input, float64 weights
    with pytest.raises(TypeError, match="floating point"):
        cell(ember.tensor(np.ones((2, 5), np.int64)))
    bad_h = ember.randn(3, 7, dtype=ember.float64)
    with pytest.raises(ValueError, match="Expected h0 of shape"):
        cell(ember.randn(2, 5, dtype=ember.float64), _state(kind, bad_h))
    with pytest.raises(ValueError, match="state must be 1-D"):
        cell(
            ember.randn(5, dtype=ember.float64),
            _state(kind, ember.randn(1, 7, dtype=ember.float64)),
        )
    if kind == "LSTMCell":
        with pytest.raises(TypeError, match="hx must be"):
            F.lstm_cell(ember.randn(2, 5, dtype=ember.float64), ember.randn(2, 7), *cell._w())
        good = ember.randn(2, 7, dtype=ember.float64)
        with pytest.raises(ValueError, match="Expected c0 of shape"):
            cell(
                ember.randn(2, 5, dtype=ember.float64),
                (good, ember.randn(2, 6, dtype=ember.float64)),
            )
    with pytest.raises(ValueError, match="b_ih and b_hh"):
        w = cell._w()
        getattr(F, kind[:-4].lower() + "_cell")(
            ember.randn(2, 5, dtype=ember.float64), None, w[0], w[1], w[2], None
        )


@pytest.mark.parametrize(
    "dtype, nan",
    [(np.float32, False), (np.float32, True), (np.float64, True), (np.int64, False),
     (np.int32, False)],
)  # fmt: skip
def test_global_median_outside_and_inside_graph(dtype, nan, rng):
    a = (rng.standard_normal((8, 9)) * 10).astype(dtype)
    if nan:
        a[2, 3] = np.nan
    for fn in ("median", "nanmedian"):
        want = getattr(torch, fn)(torch.from_numpy(a))
        got = getattr(ember, fn)(ember.tensor(a))  # outside the graph
        assert got.dtype == want.numpy().dtype and got.shape == ()
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        with ember.no_grad():
            np.testing.assert_array_equal(getattr(ember, fn)(ember.tensor(a)).numpy(), want.numpy())
        if a.dtype.kind == "f":  # in the graph: the same value, ties share the gradient
            xe = ember.tensor(a, requires_grad=True)
            xt = torch.tensor(a, requires_grad=True)
            ye, yt = getattr(ember, fn)(xe), getattr(torch, fn)(xt)
            np.testing.assert_array_equal(ye.detach().numpy(), yt.detach().numpy())
            ye.backward()
            yt.backward()
            np.testing.assert_array_equal(xe.grad.numpy(), xt.grad.numpy())
    with pytest.raises(TypeError, match="bool"):
        ember.tensor(a > 0).median()


@pytest.mark.parametrize("n, m", [(5, 7), (0, 3), (4, 0)])
def test_outer_values_strides_and_grad(n, m, rng):
    a, b = rng.standard_normal(n).astype(np.float32), rng.standard_normal(m).astype(np.float32)
    got = ember.outer(ember.tensor(a), ember.tensor(b))
    want = torch.outer(torch.from_numpy(a), torch.from_numpy(b))
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert got.stride() == want.stride() and got.dtype == want.numpy().dtype
    xa = ember.tensor(a, requires_grad=True)
    ember.outer(xa, ember.tensor(b)).sum().backward()
    np.testing.assert_allclose(xa.grad.numpy(), np.full(n, b.sum()), rtol=1e-6)
    with pytest.raises(ValueError, match="1-D"):
        ember.outer(ember.tensor(np.ones((2, 2))), ember.tensor(b))


def test_index_put_and_scatter_in_place_still_refuse_overlap(rng):
    m = rng.standard_normal((6, 6))
    for make in (lambda t: t, lambda t: t.T, lambda t: t[:, ::2]):
        xe, xt = make(ember.tensor(m.copy())), make(torch.tensor(m.copy()))
        rows = np.array([0, 2])
        v = rng.standard_normal((2, xe.shape[1]))
        xe.index_put_((ember.tensor(rows),), ember.tensor(v))
        xt.index_put_((torch.from_numpy(rows),), torch.from_numpy(v))
        np.testing.assert_array_equal(xe.numpy(), xt.numpy())
    x = ember.tensor(m.copy())
    with pytest.raises(RuntimeError, match="single memory location"):
        x.scatter_(1, ember.tensor(np.zeros((6, 6), np.int64)), x)
    with pytest.raises(RuntimeError, match="single memory location"):
        x.T.scatter_(1, ember.tensor(np.zeros((6, 6), np.int64)), x)


@pytest.mark.parametrize("accumulate", [False, True])
def test_index_put_values_and_errors(accumulate, rng):
    m = rng.standard_normal((5, 4))
    cases = [
        ((np.array([0, 3, -1]),), rng.standard_normal((3, 4))),
        ((np.array([[1, 2], [0, 4]]),), rng.standard_normal((2, 2, 4))),
        ((np.array([1, 2]),), rng.standard_normal(4)),  # broadcast values
        ((np.array([1, 2]), np.array([0, 3])), rng.standard_normal(2)),
        ((np.array([True, False, True, False, False]),), rng.standard_normal((2, 4))),
    ]
    for key, v in cases:
        xe, xt = ember.tensor(m.copy()), torch.tensor(m.copy())
        xe.index_put_(tuple(ember.tensor(k) for k in key), ember.tensor(v), accumulate)
        xt.index_put_(tuple(torch.from_numpy(k) for k in key), torch.from_numpy(v), accumulate)
        np.testing.assert_allclose(xe.numpy(), xt.numpy(), rtol=1e-15)
        # out of place, in the graph: values' gradient
        ve = ember.tensor(v, requires_grad=True)
        vt = torch.tensor(v, requires_grad=True)
        ke = tuple(ember.tensor(k) for k in key)
        kt = tuple(torch.from_numpy(k) for k in key)
        (ember.tensor(m).index_put(ke, ve, accumulate) * 2).sum().backward()
        (torch.tensor(m).index_put(kt, vt, accumulate) * 2).sum().backward()
        np.testing.assert_allclose(ve.grad.numpy(), vt.grad.numpy())
    x = ember.tensor(m.copy())
    with pytest.raises(IndexError, match="index 5 is out of bounds"):
        x.index_put_((ember.tensor([0, 5]),), ember.ones(2, 4, dtype=ember.float64), accumulate)
    with pytest.raises(IndexError, match="index -6 is out of bounds"):
        x.index_put_((ember.tensor([-6]),), ember.ones(4, dtype=ember.float64), accumulate)
    with pytest.raises(ValueError, match="do not fit the indexed shape"):
        x.index_put_((ember.tensor([0, 1]),), ember.ones(3, 4, dtype=ember.float64), accumulate)
    with pytest.raises(ValueError, match="do not fit the indexed shape"):
        x.index_put_((ember.tensor([0, 1]),), ember.ones(1, 2, 4, dtype=ember.float64), accumulate)
    np.testing.assert_array_equal(x.numpy(), m)  # nothing written by a refused call


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("mode", ["grad", "no_grad", "plain"])
def test_class_losses_match_torch(fn, reduction, mode, rng):
    x = rng.standard_normal((6, 5)).astype(np.float32)
    y = rng.integers(0, 5, 6)
    y[2] = -100  # ignored
    w = rng.uniform(0.5, 2, 5).astype(np.float32)
    for kw in ({}, {"weight": w}):
        xe = ember.tensor(x, requires_grad=mode != "plain")
        xt = torch.tensor(x, requires_grad=mode != "plain")
        kwe = {k: ember.tensor(v) for k, v in kw.items()}
        kwt = {k: torch.from_numpy(v) for k, v in kw.items()}
        if mode == "no_grad":
            with ember.no_grad():
                le = getattr(F, fn)(xe, ember.tensor(y), reduction=reduction, **kwe)
            assert not le.requires_grad
        else:
            le = getattr(F, fn)(xe, ember.tensor(y), reduction=reduction, **kwe)
        lt = getattr(torch.nn.functional, fn)(xt, torch.from_numpy(y), reduction=reduction, **kwt)
        assert le.dtype == lt.detach().numpy().dtype and le.shape == tuple(lt.shape)
        np.testing.assert_allclose(le.numpy(), lt.detach().numpy(), rtol=1e-6, atol=1e-7)
        if mode == "grad":
            le.sum().backward()
            lt.sum().backward()
            np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("fn", ["nll_loss", "cross_entropy"])
def test_class_losses_target_dtypes_and_errors(fn, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    loss = getattr(F, fn)
    want = getattr(torch.nn.functional, fn)(torch.from_numpy(x), torch.tensor([0, 2, 1, 1]))
    got = loss(ember.tensor(x), ember.tensor(np.array([0, 2, 1, 1], np.uint8)))
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-6)
    with pytest.raises(TypeError, match="must be Tensor, not list"):  # (torch's error)
        loss(ember.tensor(x), [0, 2, 1, 1])
    with pytest.raises(TypeError, match="int64 or uint8"):
        loss(ember.tensor(x), ember.tensor(np.array([0, 2, 1, 1], np.int32)))
    with pytest.raises(TypeError, match="int64 or uint8"):
        loss(ember.tensor(x), ember.tensor(np.array([0, 1, 1, 1], bool)))
    with pytest.raises(IndexError, match="out of bounds"):
        loss(ember.tensor(x), ember.tensor([0, 3, 1, 1]))
    with ember.no_grad(), pytest.raises(IndexError, match="out of bounds"):
        loss(ember.tensor(x, requires_grad=True), ember.tensor([0, -2, 1, 1]))
    with pytest.raises(ValueError, match="target shape"):
        loss(ember.tensor(x), ember.tensor([0, 1, 1]))
    if fn == "nll_loss":
        with pytest.raises(TypeError, match="integers"):
            loss(ember.tensor(x), ember.tensor(np.array([0.0, 1, 1, 1])))


@pytest.mark.parametrize("kind", CELLS)
def test_cell_batch_one_same_bits_on_one_and_two_threads(kind, rng):
    # a batch-1 step's products split their output columns over the threads: every element
    # gets the same arithmetic, so the same bits (and torch's values)
    cell, tcell = _pair(kind, 128, 256, dtype=np.float32)
    x = rng.standard_normal((1, 128)).astype(np.float32)
    h = rng.standard_normal((1, 256)).astype(np.float32)
    prev = ember.get_num_threads()
    outs = []
    try:
        for nt in (1, 2):
            ember.set_num_threads(nt)
            with ember.no_grad():
                outs.append(
                    [o.numpy() for o in _flat(cell(ember.tensor(x), _state(kind, ember.tensor(h))))]
                )
    finally:
        ember.set_num_threads(prev)
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
    with torch.no_grad():
        want = _flat(tcell(torch.from_numpy(x), _state(kind, torch.from_numpy(h))))
    for a, b in zip(outs[0], want):
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("grad", [False, True])
def test_cross_entropy_label_smoothing_and_ignore_index(grad, rng):
    x = rng.standard_normal((7, 4, 3))  # (N, C, d1): positions
    y = rng.integers(0, 4, (7, 3))
    y[1, 2] = 2
    xe, xt = ember.tensor(x, requires_grad=grad), torch.tensor(x, requires_grad=grad)
    kw = dict(label_smoothing=0.15, ignore_index=2)
    le = F.cross_entropy(xe, ember.tensor(y), **kw)
    lt = torch.nn.functional.cross_entropy(xt, torch.from_numpy(y), **kw)
    np.testing.assert_allclose(le.detach().numpy(), lt.detach().numpy(), rtol=1e-12)
    if grad:
        le.backward()
        lt.backward()
        np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-10, atol=1e-14)
