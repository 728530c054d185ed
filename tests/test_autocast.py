"""CPU autocast computes as torch's: the lower-precision list in the autocast dtype, the float32
list in float32, gradients reaching float32 parameters in float32."""

import warnings

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")

DTYPES = [("bfloat16", ember.bfloat16, torch.bfloat16), ("float16", ember.float16, torch.float16)]


def _np(t):
    if isinstance(t, torch.Tensor):
        return t.detach().float().numpy()
    return np.asarray(t.data, np.float32)


def _sync(em, tm):
    tm.load_state_dict({k: torch.from_numpy(np.array(v.data)) for k, v in em.state_dict().items()})
    return em, tm


MODELS = {
    "mlp": (lambda L: L.nn.Sequential(L.nn.Linear(6, 16), L.nn.ReLU(), L.nn.Linear(16, 3)), (8, 6)),
    "cnn": (lambda L: L.nn.Sequential(L.nn.Conv2d(2, 4, 3), L.nn.BatchNorm2d(4), L.nn.ReLU(),
                                      L.nn.MaxPool2d(2), L.nn.Flatten(), L.nn.Linear(16, 3)),
            (4, 2, 6, 6)),
    "transformer_layer": (lambda L: L.nn.TransformerEncoderLayer(8, 2, 16, dropout=0.0,
                                                                 batch_first=True), (2, 5, 8)),
}  # fmt: skip


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("dname,edt,tdt", DTYPES, ids=[d[0] for d in DTYPES])
def test_models_under_autocast_match_torch(name, dname, edt, tdt):
    make, shape = MODELS[name]
    ember.manual_seed(0)
    em, tm = _sync(make(ember), make(torch))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    res = {}
    for L, m, dt in ((ember, em, edt), (torch, tm, tdt)):
        with L.autocast("cpu", dtype=dt):
            y = m(L.tensor(x) if L is ember else torch.from_numpy(x))
            flat = y.reshape(-1, y.shape[-1])
            t = np.arange(flat.shape[0]) % 3
            loss = L.nn.functional.cross_entropy(flat, L.tensor(t) if L is ember else
                                                 torch.from_numpy(t))  # fmt: skip
        loss.backward()
        res[L] = (y, loss, dict(m.named_parameters()))
    (ye, le, pe), (yt, lt, pt) = res[ember], res[torch]
    assert np.dtype(ye.dtype).name == str(yt.dtype).replace("torch.", "")
    assert le.dtype == np.float32 and lt.dtype == torch.float32  # cross_entropy: float32 list
    eps = float(ember.finfo(edt).eps)
    scale = np.abs(_np(yt)).max()
    np.testing.assert_allclose(_np(ye), _np(yt), atol=8 * eps * scale, rtol=8 * eps)
    np.testing.assert_allclose(le.item(), lt.item(), rtol=4 * eps)
    gscale = max(np.abs(_np(p.grad)).max() for p in pt.values())
    for k, p in pe.items():
        assert p.dtype == np.float32 and p.grad.dtype == np.float32, k  # as torch's
        np.testing.assert_allclose(_np(p.grad), _np(pt[k].grad), atol=16 * eps * gscale, err_msg=k)


def _ops(L):
    x, w = L.ones(4, 8) * 0.5, L.ones(5, 8) * 0.25
    img, k = L.ones(2, 3, 6, 6), L.ones(4, 3, 3, 3) * 0.1
    t = L.zeros(4, dtype=L.int64)
    return {
        "linear": lambda: L.nn.functional.linear(x, w),
        "matmul": lambda: x @ w.T,
        "mm": lambda: L.mm(x, w.T),
        "bmm": lambda: L.bmm(x[None], w.T[None]),
        "addmm": lambda: L.addmm(L.zeros(4, 5), x, w.T),
        "baddbmm": lambda: L.baddbmm(L.zeros(1, 4, 5), x[None], w.T[None]),
        "einsum": lambda: L.einsum("ij,kj->ik", x, w),
        "conv1d": lambda: L.nn.functional.conv1d(img[:, :, 0], k[:, :, 0]),
        "conv2d": lambda: L.nn.functional.conv2d(img, k),
        "conv_transpose2d": lambda: L.nn.functional.conv_transpose2d(img, k.transpose(0, 1)),
        "prelu": lambda: L.nn.functional.prelu(x, L.ones(1) * 0.2),
        "sdpa": lambda: L.nn.functional.scaled_dot_product_attention(x[None], x[None], x[None]),
        "vecdot": lambda: L.linalg.vecdot(x, x),
        "lstm": lambda: L.nn.LSTM(8, 3)(x[None])[0] * 0,
        "lstm h_n": lambda: L.nn.LSTM(8, 3)(x[None])[1][0] * 0,
        "gru (kept)": lambda: L.nn.GRU(8, 3)(x[None])[0] * 0,
        "mv (kept)": lambda: L.mv(x, x[0]),
        "dot (kept)": lambda: L.dot(x[0], x[1]),
        "relu (kept)": lambda: L.nn.functional.relu(x),
        "softmax (kept)": lambda: L.nn.functional.softmax(x, -1),
        "layer_norm (kept)": lambda: L.nn.functional.layer_norm(x, (8,)),
        "mse_loss": lambda: L.nn.functional.mse_loss(x @ w.T, L.zeros(4, 5)),
        "cross_entropy": lambda: L.nn.functional.cross_entropy(x @ w.T, t),
        "nll_loss": lambda: L.nn.functional.nll_loss(x @ w.T, t),
        "l1_loss": lambda: L.nn.functional.l1_loss(x @ w.T, L.zeros(4, 5)),
        "bce_with_logits": lambda: L.nn.functional.binary_cross_entropy_with_logits(
            x @ w.T, L.zeros(4, 5)
        ),
        "kl_div": lambda: L.nn.functional.kl_div(x @ w.T, L.ones(4, 5) * 0.2, reduction="sum"),
        "prod": lambda: (x @ w.T).prod(),
        "cdist": lambda: L.cdist(x @ w.T, x @ w.T),
        "reflect pad": lambda: L.nn.functional.pad(img[0] @ L.ones(6, 6), (1, 1), mode="reflect"),
        "constant pad (kept)": lambda: L.nn.functional.pad(img[0] @ L.ones(6, 6), (1, 1)),
        "avg_pool3d": lambda: L.nn.functional.avg_pool3d((img @ L.ones(6, 6))[None], 2),
    }


@pytest.mark.parametrize("dname,edt,tdt", DTYPES, ids=[d[0] for d in DTYPES])
def test_op_lists_give_torchs_dtypes(dname, edt, tdt):
    # (torch's oneDNN LSTM has no float16 autocast kernel: it raises there, ember computes)
    skip = ("lstm", "lstm h_n") if dname == "float16" else ()
    with ember.autocast("cpu", dtype=edt):
        got = {k: f() for k, f in _ops(ember).items() if k not in skip}
    want = {}
    with torch.autocast("cpu", dtype=tdt):
        for k, f in _ops(torch).items():
            try:
                want[k] = f()
            except (
                RuntimeError
            ):  # oneDNN has no such kernel on this CPU (bf16 LSTM without AVX512-BF16)
                pass
    for k in got.keys() & want.keys():
        assert np.dtype(got[k].dtype).name == str(want[k].dtype).replace("torch.", ""), k
        np.testing.assert_allclose(_np(got[k]), _np(want[k]), rtol=1e-2, atol=1e-2, err_msg=k)


def test_outside_autocast_nothing_changes_and_nesting_restores():
    linear, matmul, mm = F.linear, ember.ops.matmul, ember.Tensor.__matmul__
    x = ember.ones(2, 3)
    with ember.autocast("cpu"):  # torch's CPU default: bfloat16
        assert ember.amp.get_autocast_dtype("cpu") == ember.bfloat16
        assert (x @ x.T).dtype == ember.bfloat16
        with ember.autocast("cpu", enabled=False):
            assert (x @ x.T).dtype == np.float32
        with ember.autocast("cpu", dtype=ember.float16):
            assert F.linear(x, x).dtype == np.float16
        assert F.linear(x, x).dtype == ember.bfloat16
    assert (x @ x.T).dtype == np.float32 and F.linear(x, x).dtype == np.float32
    assert F.linear is linear and ember.ops.matmul is matmul and ember.Tensor.__matmul__ is mm
    with ember.autocast("cpu", dtype=ember.bfloat16):  # float64 is left alone, as torch's
        assert (x.double() @ x.double().T).dtype == np.float64
    with ember.autocast("cuda"):  # ember has no GPU: CPU ops are unchanged
        assert (x @ x.T).dtype == np.float32


def test_unsupported_cpu_dtype_warns_and_disables_as_torch():
    with pytest.warns(UserWarning, match="CPU autocast"):
        ac = ember.autocast("cpu", dtype=ember.float32)
    with ac:
        assert not ember.amp.is_autocast_enabled("cpu")
        assert (ember.ones(2, 2) @ ember.ones(2, 2)).dtype == np.float32
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.warns(UserWarning, match="CPU autocast"):  # torch warns the same
            torch.autocast("cpu", dtype=torch.float32)


def test_a_training_step_under_autocast_updates_float32_weights():
    ember.manual_seed(0)
    model = ember.nn.Sequential(ember.nn.Linear(4, 8), ember.nn.ReLU(), ember.nn.Linear(8, 2))
    opt = ember.optim.SGD(model.parameters(), lr=0.5)
    x, t = ember.randn(16, 4), (ember.randn(16) > 0).long()
    losses = []
    for _ in range(20):
        opt.zero_grad()
        with ember.autocast("cpu", dtype=ember.bfloat16):
            loss = F.cross_entropy(model(x), t)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert all(p.dtype == np.float32 for p in model.parameters())
    assert losses[-1] < 0.8 * losses[0]
