"""The recurrent kernels of ember._C (one layer, one direction, whole sequence) against a NumPy
time loop, against torch.nn.LSTM/GRU/RNN (bidirectional: forward half and reverse half), and
against float64 finite differences; plus the bad inputs each binding must refuse."""

import numpy as np
import pytest
from reference_rnn import gru_ref, lstm_ref, rnn_ref

from ember import _C

KINDS = ["lstm", "gru", "rnn_tanh", "rnn_relu"]
GATES = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}
TOL = {np.float32: dict(rtol=2e-4, atol=2e-5), np.float64: dict(rtol=1e-9, atol=1e-11)}


def make_params(kind, T, N, I, H, dtype, bias, seed=0):
    rng = np.random.default_rng(seed)
    G = GATES[kind]
    s = 1.0 / np.sqrt(H)

    def u(*shape, scale=s):
        return rng.uniform(-scale, scale, size=shape).astype(dtype)

    p = dict(x=u(T, N, I, scale=1.0), h0=u(N, H, scale=0.5), w_ih=u(G * H, I), w_hh=u(G * H, H))
    if kind == "lstm":
        p["c0"] = u(N, H, scale=0.5)
    p["b_ih"] = u(G * H) if bias else None
    p["b_hh"] = u(G * H) if bias else None
    return p


def ember_forward(kind, p, lengths=None, reverse=False):
    """-> (outputs: y, h_n[, c_n]), saved tuple for backward."""
    args = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], lengths, reverse)
    if kind == "lstm":
        y, h_n, c_n, gates, cells, _ = _C.lstm_forward(p["x"], p["h0"], p["c0"], *args)
        return (y, h_n, c_n), (y, gates, cells)
    if kind == "gru":
        y, h_n, gates, hn = _C.gru_forward(p["x"], p["h0"], *args)
        return (y, h_n), (y, gates, hn)
    y, h_n = _C.rnn_forward(p["x"], p["h0"], *args, kind[4:])
    return (y, h_n), (y,)


def ember_backward(kind, p, saved, grads, lengths=None, reverse=False):
    """grads: (dy, dh_n[, dc_n]) -> dict of gradients keyed like p."""
    has_bias = p["b_ih"] is not None
    common = (p["w_ih"], p["w_hh"], has_bias, lengths, reverse)
    if kind == "lstm":
        out = _C.lstm_backward(*grads, p["x"], p["h0"], p["c0"], *common, *saved)
        names = ["x", "h0", "c0", "w_ih", "w_hh", "b_ih", "b_hh"]
    elif kind == "gru":
        out = _C.gru_backward(*grads, p["x"], p["h0"], *common, *saved)
        names = ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"]
    else:
        out = _C.rnn_backward(*grads, p["x"], p["h0"], *common, kind[4:], *saved)
        names = ["x", "h0", "w_ih", "w_hh", "b_ih", "b_hh"]
    return dict(zip(names, out))


def reference_forward(kind, p, lengths=None, reverse=False):
    args = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], lengths, reverse)
    if kind == "lstm":
        return lstm_ref(p["x"], p["h0"], p["c0"], *args)
    if kind == "gru":
        return gru_ref(p["x"], p["h0"], *args)
    return rnn_ref(p["x"], p["h0"], *args, nonlinearity=kind[4:])


def random_grads(outputs, seed=1):
    rng = np.random.default_rng(seed)
    return tuple(rng.standard_normal(o.shape).astype(o.dtype) for o in outputs)


# ---- forward against the NumPy loop ---------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_forward_matches_numpy(kind, dtype, reverse, bias, use_lengths):
    T, N, I, H = 7, 4, 5, 6
    p = make_params(kind, T, N, I, H, dtype, bias)
    lengths = np.array([3, 7, 1, 5], dtype=np.int64) if use_lengths else None
    outs, _ = ember_forward(kind, p, lengths, reverse)
    refs = reference_forward(kind, p, lengths, reverse)
    assert len(outs) == len(refs)
    for o, r in zip(outs, refs):
        assert o.dtype == dtype and o.shape == r.shape
        np.testing.assert_allclose(o, r, **TOL[dtype])
    if use_lengths:  # padded outputs are exact zeros
        for n, L in enumerate(lengths):
            assert not outs[0][L:, n].any()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T,N", [(1, 1), (1, 3), (4, 1), (3, 0)])  # N = 0: an empty batch
def test_tiny_shapes(kind, T, N):
    p = make_params(kind, T, N, 3, 2, np.float64, True)
    for reverse in (False, True):
        outs, saved = ember_forward(kind, p, None, reverse)
        for o, r in zip(outs, reference_forward(kind, p, None, reverse)):
            assert o.shape == r.shape
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-14)
        g = ember_backward(kind, p, saved, random_grads(outs), None, reverse)
        assert all(np.isfinite(v).all() for v in g.values())
        if N == 0:
            assert all(np.all(g[k] == 0) for k in ("w_ih", "w_hh", "b_ih", "b_hh"))


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_long_sequence(kind):
    # 1,000 steps: memory linear in T, state stays bounded, matches the loop.
    p = make_params(kind, 1000, 2, 3, 4, np.float64, True)
    outs, saved = ember_forward(kind, p)
    for o, r in zip(outs, reference_forward(kind, p)):
        np.testing.assert_allclose(o, r, rtol=1e-10, atol=1e-12)
    g = ember_backward(kind, p, saved, random_grads(outs))
    assert all(np.isfinite(v).all() for v in g.values())


@pytest.mark.parametrize("kind", KINDS)
def test_optional_output_grads_are_zeros(kind):
    p = make_params(kind, 5, 3, 4, 3, np.float64, True)
    outs, saved = ember_forward(kind, p)
    zeros = tuple(np.zeros_like(o) for o in outs)
    a = ember_backward(kind, p, saved, zeros)
    b = ember_backward(kind, p, saved, (None,) * len(outs))
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
        assert not a[k].any()
    # Only dh_n given: the same as zeros elsewhere.
    dh = np.ones_like(outs[1])
    c = ember_backward(kind, p, saved, (None, dh) + (None,) * (len(outs) - 2))
    d = ember_backward(kind, p, saved, (zeros[0], dh) + zeros[2:])
    for k in c:
        np.testing.assert_array_equal(c[k], d[k])


@pytest.mark.parametrize("kind", KINDS)
def test_deterministic_and_fresh_outputs(kind):
    # Large enough for the pointwise passes and column sums to run threaded.
    p = make_params(kind, 4, 64, 8, 300, np.float32, True)
    lengths = np.arange(64, dtype=np.int64) % 4 + 1
    x_before = p["x"].copy()
    o1, s1 = ember_forward(kind, p, lengths, True)
    o2, s2 = ember_forward(kind, p, lengths, True)
    for a, b in zip(o1 + s1, o2 + s2):
        np.testing.assert_array_equal(a, b)
    g = random_grads(o1)
    g1 = ember_backward(kind, p, s1, g, lengths, True)
    g2 = ember_backward(kind, p, s1, g, lengths, True)
    for k in g1:
        np.testing.assert_array_equal(g1[k], g2[k])
        assert not np.shares_memory(g1[k], g2[k])
    np.testing.assert_array_equal(p["x"], x_before)  # inputs untouched


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("N, H", [(48, 64), (6, 192)])
def test_same_results_on_one_and_two_threads(kind, dtype, N, H):
    # H a multiple of 64: whole GEMM panels for every ISA, and enough work per step for two
    # threads. N = 48 (several MR row blocks): the LSTM / GRU forward loops split by sequences,
    # the LSTM backward by hidden units; N = 6 (one row block): every loop splits by hidden
    # units. The results must not depend on the thread count.
    p = make_params(kind, 5, N, 8, H, dtype, True, seed=5)
    lengths = np.arange(N, dtype=np.int64) % 5 + 1
    old = _C.get_num_threads()
    res = []
    try:
        for threads in (1, 2):
            _C.set_num_threads(threads)
            for rev in (False, True):
                outs, saved = ember_forward(kind, p, lengths, rev)
                grads = ember_backward(kind, p, saved, random_grads(outs), lengths, rev)
                res.append((outs + saved, grads))
    finally:
        _C.set_num_threads(old)
    for (o1, g1), (o2, g2) in zip(res[:2], res[2:]):
        for a, b in zip(o1, o2):
            np.testing.assert_array_equal(a, b)
        for k in g1:
            np.testing.assert_array_equal(g1[k], g2[k])


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("threads", [1, 2])
def test_unsaved_forward_same_bits(kind, dtype, threads):
    # save=False (no gradient wanted) keeps gates / cells / hn in workspaces and returns None for
    # them: y and the final state must be the saving call's bits, padded steps included, and
    # the NumPy loop's values.
    p = make_params(kind, 6, 48, 8, 64, dtype, True, seed=7)  # (threaded loops, see above)
    lengths = np.arange(48, dtype=np.int64) % 6 + 1
    old = _C.get_num_threads()
    try:
        _C.set_num_threads(threads)
        for rev in (False, True):
            args = (p["w_ih"], p["w_hh"], p["b_ih"], p["b_hh"], lengths, rev)
            if kind == "lstm":
                full = _C.lstm_forward(p["x"], p["h0"], p["c0"], *args)
                bare = _C.lstm_forward(p["x"], p["h0"], p["c0"], *args, None, False)
                assert bare[3:] == (None, None, None)
                n_out = 3
            else:
                full = _C.gru_forward(p["x"], p["h0"], *args)
                bare = _C.gru_forward(p["x"], p["h0"], *args, save=False)
                assert bare[2:] == (None, None)
                n_out = 2
            for a, b in zip(full[:n_out], bare[:n_out]):
                np.testing.assert_array_equal(a, b)
            for o, r in zip(bare[:n_out], reference_forward(kind, p, lengths, rev)):
                np.testing.assert_allclose(o, r, **TOL[dtype])
    finally:
        _C.set_num_threads(old)


def test_unsaved_forward_with_projections_same_bits():
    # The projected LSTM's own loop (w_hr) with save=False: hid is still returned (the loop
    # writes each step's m_t there), gates / cells are not; y and the states keep their bits.
    p = make_params("lstm", 5, 6, 4, 8, np.float64, True, seed=3)
    rng = np.random.default_rng(4)
    w_hr = rng.uniform(-0.3, 0.3, (3, 8))
    h0 = rng.uniform(-0.5, 0.5, (6, 3))
    w_hh = rng.uniform(-0.3, 0.3, (32, 3))
    lengths = np.array([5, 2, 4, 1, 3, 5], dtype=np.int64)
    args = (p["x"], h0, p["c0"], p["w_ih"], w_hh, p["b_ih"], p["b_hh"], lengths, True, w_hr)
    full = _C.lstm_forward(*args)
    bare = _C.lstm_forward(*args, save=False)
    assert bare[3] is None and bare[4] is None and bare[5].shape == (5, 6, 8)
    for a, b in zip(full[:3] + full[5:], bare[:3] + bare[5:]):
        np.testing.assert_array_equal(a, b)


# ---- gradients against float64 finite differences -------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("reverse", [False, True])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_gradients_finite_differences(kind, reverse, use_lengths):
    T, N, I, H = 6, 3, 3, 4
    p = make_params(kind, T, N, I, H, np.float64, True, seed=3)
    lengths = np.array([4, 6, 2], dtype=np.int64) if use_lengths else None
    outs, saved = ember_forward(kind, p, lengths, reverse)
    grads = random_grads(outs, seed=4)
    got = ember_backward(kind, p, saved, grads, lengths, reverse)

    def loss():
        o, _ = ember_forward(kind, p, lengths, reverse)
        return sum(float(np.sum(a * g)) for a, g in zip(o, grads))

    eps = 1e-6
    for name, g in got.items():
        arr = p[name]
        num = np.empty_like(arr)
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            lp = loss()
            arr[idx] = old - eps
            lm = loss()
            arr[idx] = old
            num[idx] = (lp - lm) / (2 * eps)
        np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-8, err_msg=name)


# ---- against torch: both directions of a bidirectional layer, with and without lengths ------


def _torch_module(torch, kind, I, H, bias):
    nn = torch.nn
    if kind == "lstm":
        return nn.LSTM(I, H, bias=bias, bidirectional=True)
    if kind == "gru":
        return nn.GRU(I, H, bias=bias, bidirectional=True)
    return nn.RNN(I, H, nonlinearity=kind[4:], bias=bias, bidirectional=True)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("use_lengths", [False, True])
def test_against_torch(kind, dtype, bias, use_lengths):
    torch = pytest.importorskip("torch")
    T, N, I, H = 9, 5, 4, 6
    pf = make_params(kind, T, N, I, H, dtype, bias, seed=10)
    pr = make_params(kind, T, N, I, H, dtype, bias, seed=11)
    pr["x"] = pf["x"]
    lengths = np.array([4, 9, 1, 7, 9], dtype=np.int64) if use_lengths else None

    tdtype = torch.float32 if dtype == np.float32 else torch.float64
    m = _torch_module(torch, kind, I, H, bias).to(tdtype)
    with torch.no_grad():
        for sfx, p in (("", pf), ("_reverse", pr)):
            for w in ("w_ih", "w_hh") + (("b_ih", "b_hh") if bias else ()):
                name = ("weight_" if w[0] == "w" else "bias_") + w[2:] + "_l0" + sfx
                getattr(m, name).copy_(torch.from_numpy(p[w]))
    x = torch.from_numpy(pf["x"].copy()).requires_grad_()
    h0 = torch.from_numpy(np.stack([pf["h0"], pr["h0"]])).requires_grad_()
    hx = h0
    if kind == "lstm":
        c0 = torch.from_numpy(np.stack([pf["c0"], pr["c0"]])).requires_grad_()
        hx = (h0, c0)
    inp = x
    if use_lengths:
        inp = torch.nn.utils.rnn.pack_padded_sequence(
            x, torch.from_numpy(lengths), enforce_sorted=False
        )
    out, hn = m(inp, hx)
    if use_lengths:
        out, _ = torch.nn.utils.rnn.pad_packed_sequence(out, total_length=T)
    touts = (out,) + (hn if kind == "lstm" else (hn,))

    of, sf = ember_forward(kind, pf, lengths, False)
    orv, sr = ember_forward(kind, pr, lengths, True)
    tol = TOL[dtype]
    t = [o.detach().numpy() for o in touts]
    np.testing.assert_allclose(of[0], t[0][..., :H], **tol)
    np.testing.assert_allclose(orv[0], t[0][..., H:], **tol)
    for k in range(1, len(t)):  # h_n, c_n: (2, N, H)
        np.testing.assert_allclose(of[k], t[k][0], **tol)
        np.testing.assert_allclose(orv[k], t[k][1], **tol)

    rng = np.random.default_rng(5)
    gy = rng.standard_normal((T, N, 2 * H)).astype(dtype)
    gs = [rng.standard_normal((2, N, H)).astype(dtype) for _ in range(1, len(t))]
    loss = (out * torch.from_numpy(gy)).sum()
    for o, g in zip(touts[1:], gs):
        loss = loss + (o * torch.from_numpy(g)).sum()
    loss.backward()

    gf = ember_backward(kind, pf, sf, (gy[..., :H].copy(), *[g[0] for g in gs]), lengths, False)
    gr = ember_backward(kind, pr, sr, (gy[..., H:].copy(), *[g[1] for g in gs]), lengths, True)
    gtol = dict(rtol=tol["rtol"] * 5, atol=tol["atol"] * 10)
    np.testing.assert_allclose(gf["x"] + gr["x"], x.grad.numpy(), **gtol)
    np.testing.assert_allclose(gf["h0"], h0.grad[0].numpy(), **gtol)
    np.testing.assert_allclose(gr["h0"], h0.grad[1].numpy(), **gtol)
    if kind == "lstm":
        np.testing.assert_allclose(gf["c0"], c0.grad[0].numpy(), **gtol)
        np.testing.assert_allclose(gr["c0"], c0.grad[1].numpy(), **gtol)
    for sfx, g in (("", gf), ("_reverse", gr)):
        for w in ("w_ih", "w_hh") + (("b_ih", "b_hh") if bias else ()):
            name = ("weight_" if w[0] == "w" else "bias_") + w[2:] + "_l0" + sfx
            np.testing.assert_allclose(g[w], getattr(m, name).grad.numpy(), **gtol, err_msg=name)
        if not bias:
            assert g["b_ih"] is None and g["b_hh"] is None


# ---- bad inputs -----------------------------------------------------------------------------


def _lstm_args(**over):
    p = make_params("lstm", 3, 2, 4, 5, np.float64, True)
    a = dict(
        x=p["x"],
        h0=p["h0"],
        c0=p["c0"],
        w_ih=p["w_ih"],
        w_hh=p["w_hh"],
        b_ih=p["b_ih"],
        b_hh=p["b_hh"],
        lengths=None,
        reverse=False,
    )
    a.update(over)
    return a


@pytest.mark.parametrize(
    "over,exc,match",
    [
        (dict(x=np.zeros((3, 4))), ValueError, "x must be 3-D"),
        (dict(x=np.zeros((3, 2, 4), dtype=np.int64)), TypeError, "float32 or float64"),
        (dict(x=np.zeros((3, 2, 4), dtype=np.float32)), TypeError, "dtypes differ"),
        (dict(x=np.zeros((3, 2, 7))), ValueError, r"w_ih must have shape \(20, 7\)"),
        (dict(x=np.zeros((0, 2, 4))), ValueError, "at least one step"),
        (dict(x=np.zeros((4, 2, 3)).transpose(2, 1, 0)), ValueError, "C-contiguous"),
        (dict(h0=np.zeros((2, 4))), ValueError, r"h0 must have shape \(2, 5\)"),
        (dict(h0=np.zeros((2, 5), dtype=np.int32)), TypeError, "h0 must be float"),
        (dict(c0=np.zeros((3, 5))), ValueError, r"c0 must have shape \(2, 5\), got \(3, 5\)"),
        (dict(w_hh=np.zeros((20, 4))), ValueError, "w_hh must have shape"),
        (dict(w_hh=np.zeros((20,))), ValueError, "w_hh must have shape"),
        (dict(w_ih=np.zeros((16, 4))), ValueError, "w_ih must have shape"),
        (dict(b_ih=np.zeros(19)), ValueError, r"b_ih must have shape \(20,\)"),
        (dict(b_hh=None), ValueError, "both"),
        (dict(lengths=np.array([1, 4])), ValueError, r"lengths must lie in \[1, T\]"),
        (dict(lengths=np.array([0, 2])), ValueError, r"lengths\[0\] = 0"),
        (dict(lengths=np.array([1, 2, 3])), ValueError, r"lengths must have shape \(2,\)"),
        (dict(lengths=np.array([1, 2], dtype=np.int32)), TypeError, "lengths must be int64"),
        (dict(lengths=[1, 2]), TypeError, "lengths must be a NumPy int64 array"),
        (dict(b_ih=[0.0] * 20), TypeError, "b_ih must be a NumPy array"),
    ],
)
def test_lstm_forward_rejects(over, exc, match):
    with pytest.raises(exc, match=match):
        _C.lstm_forward(**_lstm_args(**over))


def test_backward_rejects():
    p = make_params("lstm", 3, 2, 4, 5, np.float64, True)
    (y, h_n, c_n), saved = ember_forward("lstm", p)
    base = (p["x"], p["h0"], p["c0"], p["w_ih"], p["w_hh"], True, None, False)
    with pytest.raises(ValueError, match=r"dy must have shape \(3, 2, 5\)"):
        _C.lstm_backward(np.zeros((3, 2, 4)), None, None, *base, *saved)
    with pytest.raises(ValueError, match=r"dc_n must have shape \(2, 5\)"):
        _C.lstm_backward(None, None, np.zeros((5, 2)), *base, *saved)
    with pytest.raises(TypeError):
        _C.lstm_backward(None, h_n.astype(np.float32), None, *base, *saved)
    with pytest.raises(ValueError, match=r"gates must have shape \(3, 2, 20\)"):
        _C.lstm_backward(None, None, None, *base, saved[0], saved[1][:, :, :10].copy(), saved[2])
    g = make_params("gru", 3, 2, 4, 5, np.float64, False)
    (gy, gh), gsaved = ember_forward("gru", g)
    with pytest.raises(ValueError, match=r"hn must have shape"):
        _C.gru_backward(
            None,
            None,
            g["x"],
            g["h0"],
            g["w_ih"],
            g["w_hh"],
            False,
            None,
            False,
            *gsaved[:2],
            gy[:1],
        )
    with pytest.raises(ValueError, match="w_hh must have shape"):  # LSTM weights given to a GRU
        _C.gru_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"])


def test_rnn_and_gru_reject():
    p = make_params("rnn_tanh", 3, 2, 4, 5, np.float32, True)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        _C.rnn_forward(p["x"], p["h0"], p["w_ih"], p["w_hh"], nonlinearity="sigmoid")
    with pytest.raises(ValueError, match=r"h0 must have shape \(2, 5\)"):
        _C.rnn_forward(p["x"], p["h0"][:1].copy(), p["w_ih"], p["w_hh"])
    with pytest.raises(TypeError):
        _C.rnn_forward(p["x"].astype(np.int32), p["h0"], p["w_ih"], p["w_hh"])
    g = make_params("gru", 3, 2, 4, 5, np.float32, True)
    with pytest.raises(ValueError, match=r"b_hh must have shape \(15,\)"):
        _C.gru_forward(g["x"], g["h0"], g["w_ih"], g["w_hh"], g["b_ih"], g["b_hh"][:5].copy())
    with pytest.raises(ValueError, match=r"lengths must lie"):
        _C.gru_forward(g["x"], g["h0"], g["w_ih"], g["w_hh"], lengths=np.array([3, 4]))
