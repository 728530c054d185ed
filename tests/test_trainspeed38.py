"""Whole training steps of the train38 benchmark models against torch in lockstep: the same
weights (copied), the same batches; the losses of 20 steps (forward, loss, backward,
clip_grad_norm_, optimiser step, zero_grad) and the final weights must agree."""

import numpy as np
import pytest

import ember
from ember.benchmarks import TRAIN38, _t38_batch, train38_setup

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

# smaller batches and sequences than the benchmark's (the same code paths, a shorter suite)
# (resnet at 4: BatchNorm over 2 samples makes float32's rounding grow past 1e-4 in 20 steps)
SMALL = {"mlp_sgd": (8, None), "mlp_adam": (8, None), "resnet": (4, None), "char_lstm": (4, 8),
         "seq2seq": (3, 5), "transformer": (2, 8), "tiny_mlp": (32, None)}  # fmt: skip


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-9), (np.float32, 1e-4)], ids=["f64", "f32"])
@pytest.mark.parametrize("name", list(TRAIN38))
def test_loss_curve_matches_torch(name, dtype, tol):
    kw = {"dropout": 0.0} if name == "transformer" else {}  # (no shared random stream)
    ember.manual_seed(0)
    em, _, estep = train38_setup(ember, name, dtype, **kw)
    tm, _, tstep = train38_setup(torch, name, dtype, **kw)
    state = {k: torch.from_numpy(v.numpy().copy()) for k, v in em.state_dict().items()}
    tm.load_state_dict(state)
    rng = np.random.default_rng(1)
    n, t = SMALL[name]
    losses = []
    for _ in range(20):
        x, y = _t38_batch(rng, name, dtype, n, t)
        le = estep(ember.tensor(x), ember.tensor(y))
        lt = tstep(torch.tensor(x), torch.tensor(y))
        losses.append((le.item(), lt.item()))
    ours, theirs = np.array(losses).T
    np.testing.assert_allclose(ours, theirs, rtol=tol, atol=tol)
    assert not np.allclose(ours[0], ours[-1])  # (it trained: the curve moved)
    for k, v in tm.state_dict().items():
        got, want = em.state_dict()[k].numpy(), v.numpy()
        if k.endswith("in_proj_bias"):
            # The key bias's gradient is zero in exact arithmetic (softmax ignores a shift of
            # every score), so both libraries' gradients are rounding noise that AdamW scales
            # to steps of +-lr: only the lr-sized bound over the 20 steps holds there.
            e = got.size // 3
            np.testing.assert_allclose(got[e : 2 * e], want[e : 2 * e], atol=20 * 1e-3, rtol=0)
            got, want = np.delete(got, np.s_[e : 2 * e]), np.delete(want, np.s_[e : 2 * e])
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_train38_bench_group_runs_both_libraries():
    from ember import benchmarks

    cases = [w for w in benchmarks.WORKLOADS if w.group == "train38"]
    assert [w.name for w in cases] == [f"train38/{k}" for k in TRAIN38]
    for w in cases:
        impls = w.build()
        assert set(impls) == {"ember", "torch"}
        for step in impls.values():
            step()
