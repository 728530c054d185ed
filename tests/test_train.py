"""The fit loop: training on the digits, History and its plot, EarlyStopping, callbacks,
checkpoints (safetensors, PyTorch's keys) and exact resumption, the progress bar's silence,
and the errors."""

import numpy as np
import pytest

import ember
from ember import io, nn, optim
from ember.data import DataLoader, TensorDataset
from ember.datasets import load_digits, train_test_split
from ember.preprocessing import StandardScaler
from ember.train import Callback, EarlyStopping, History, Trainer, fit


def xent(logits, y):
    """Cross-entropy composed of primitives (independent of F.cross_entropy's kernels)."""
    y = np.asarray(y.data if isinstance(y, ember.Tensor) else y)
    z = logits - ember.tensor(logits.numpy().max(axis=1, keepdims=True))
    logp = z - z.exp().sum(dim=1, keepdim=True).log()
    return -logp[np.arange(len(y)), y].mean()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits()
    Xtr, Xte, ytr, yte = train_test_split(X, y)
    s = StandardScaler().fit(Xtr)
    return s.transform(Xtr), s.transform(Xte), ytr, yte


def _setup(digits, seed=0, dropout=0.0, opt="Adam", batch=64):
    Xtr, Xte, ytr, yte = digits
    ember.manual_seed(seed)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(dropout), nn.Linear(32, 10))
    o = (
        optim.Adam(model.parameters(), lr=0.01)
        if opt == "Adam"
        else optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    )
    tl = DataLoader(TensorDataset(Xtr, ytr), batch_size=batch, shuffle=True)
    vl = DataLoader(TensorDataset(Xte, yte), batch_size=256)
    return model, o, tl, vl


def test_fit_trains_the_digits_and_records_history(digits):
    model, o, tl, vl = _setup(digits, opt="SGD")
    sched = optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5)
    h = fit(model, xent, o, tl, vl, epochs=4, scheduler=sched, clip_grad_norm=5.0, verbose=0)
    assert isinstance(h, History) and h.epoch == [0, 1, 2, 3]
    assert set(h.history) == {"loss", "accuracy", "lr", "val_loss", "val_accuracy"}
    assert h["loss"][-1] < h["loss"][0]
    assert h["val_accuracy"][-1] > 0.9
    assert h["lr"] == [0.1, 0.1, 0.05, 0.05]  # the rate each epoch trained with
    assert model.training  # evaluation restored the mode


def test_fit_with_loss_modules_batch_schedules_and_value_clipping(digits):
    model, o, tl, vl = _setup(digits)
    sched = optim.lr_scheduler.OneCycleLR(o, max_lr=0.02, total_steps=2 * len(tl))
    h = fit(model, xent, o, tl, epochs=2, scheduler=sched, scheduler_interval="batch",
            clip_grad_value=0.5, verbose=0)  # fmt: skip
    assert len(h["loss"]) == 2 and "val_loss" not in h.history
    assert h["lr"][-1] < 1e-4  # annealed to the end of the cycle
    # regression: MSE on float targets, no accuracy
    X = np.random.default_rng(0).standard_normal((64, 3)).astype(np.float32)
    Y = X @ np.ones((3, 1), np.float32)
    lin = nn.Linear(3, 1)
    h = fit(lin, nn.MSELoss(), optim.SGD(lin.parameters(), lr=0.1),
            DataLoader(TensorDataset(X, Y), batch_size=16), epochs=30, verbose=0)  # fmt: skip
    assert "accuracy" not in h.history and h["loss"][-1] < 1e-3


def test_reduce_on_plateau_is_stepped_with_the_validation_loss(digits):
    model, o, tl, vl = _setup(digits)
    seen = []

    class Spy(optim.lr_scheduler.ReduceLROnPlateau):
        def step(self, metrics, epoch=None):
            seen.append(metrics)
            super().step(metrics, epoch)

    h = fit(model, xent, o, tl, vl, epochs=2, scheduler=Spy(o), verbose=0)
    assert seen == h["val_loss"]


def test_early_stopping_stops_and_restores_the_best_weights():
    class FakeModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(np.zeros(1))

    class Fake:
        model = FakeModel()
        stop_training = False

    t = Fake()
    es = EarlyStopping(monitor="val_loss", patience=2, min_delta=0.01)
    for epoch, v in enumerate([1.0, 0.8, 0.795, 0.81, 0.9]):
        t.model.w.data[...] = epoch
        es.on_epoch_end(t, epoch, {"val_loss": v})
        if t.stop_training:
            break
    assert epoch == 4 and es.best_epoch == 1 and es.stopped_epoch == 4
    es.on_train_end(t)
    assert t.model.w.numpy()[0] == 1.0
    acc = EarlyStopping(monitor="val_accuracy", patience=0)
    assert acc.mode == "max"
    with pytest.raises(KeyError, match="val_loss"):
        EarlyStopping().on_epoch_end(t, 0, {"loss": 1.0})


def test_early_stopping_in_fit(digits):
    model, o, tl, vl = _setup(digits)
    es = EarlyStopping(monitor="val_loss", patience=0, min_delta=10.0)  # nothing improves by 10
    h = fit(model, xent, o, tl, vl, epochs=5, callbacks=[es], verbose=0)
    assert h.epoch == [0, 1] and es.stopped_epoch == 1
    np.testing.assert_array_equal(
        model.state_dict()["0.weight"].numpy(), es.best_weights["0.weight"]
    )


def test_callbacks_are_called_in_order(digits):
    model, o, tl, vl = _setup(digits, batch=512)
    calls = []

    class Rec(Callback):
        def on_train_begin(self, tr):
            calls.append("begin")

        def on_epoch_begin(self, tr, e):
            calls.append(f"e{e}")

        def on_batch_end(self, tr, b, logs):
            calls.append("b")

        def on_epoch_end(self, tr, e, logs):
            calls.append(f"end{e}")
            tr.stop_training = e == 1

        def on_train_end(self, tr):
            calls.append("done")

    fit(model, xent, o, tl, epochs=9, callbacks=[Rec()], verbose=0)
    assert calls == ["begin", "e0", "b", "b", "b", "end0", "e1", "b", "b", "b", "end1", "done"]


def test_resumed_training_equals_an_uninterrupted_run(digits, tmp_path):
    pytest.importorskip("safetensors")

    def run(epochs, resume=None, ckpt=None):
        model, o, tl, vl = _setup(digits, seed=1, dropout=0.2)
        sched = optim.lr_scheduler.CosineAnnealingLR(o, T_max=4)
        es = EarlyStopping(patience=10)
        ember.manual_seed(99)  # shuffling and dropout draw from here (restored on resume)
        tr = Trainer(model, xent, o, scheduler=sched, callbacks=[es], verbose=0, checkpoint=ckpt)
        h = tr.fit(tl, vl, epochs=epochs, resume=resume)
        return model, o, h

    full_model, full_opt, full_h = run(4)
    ckpt = tmp_path / "run.safetensors"
    run(2, ckpt=ckpt)
    ember.manual_seed(12345)  # disturb the generator: the checkpoint must restore it
    model, o, h = run(4, resume=ckpt, ckpt=ckpt)
    for k, v in full_model.state_dict().items():
        np.testing.assert_array_equal(model.state_dict()[k].numpy(), v.numpy())
    assert h.history == full_h.history and h.epoch == [0, 1, 2, 3]
    sd, full_sd = o.state_dict(), full_opt.state_dict()
    for i, s in full_sd["state"].items():
        np.testing.assert_array_equal(sd["state"][i]["exp_avg_sq"], s["exp_avg_sq"])
    assert not list(tmp_path.glob(".tmp-*"))  # the temporary file was renamed


def test_checkpoint_files_use_pytorch_keys(tmp_path):
    torch = pytest.importorskip("torch")
    st = pytest.importorskip("safetensors.torch")
    model = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    o = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(np.ones((2, 4), np.float32)).sum().backward()
    o.step()
    io.save_state_dict(model.state_dict(), tmp_path / "w.safetensors")
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    tmodel.load_state_dict(st.load_file(str(tmp_path / "w.safetensors")))
    np.testing.assert_array_equal(tmodel[0].weight.detach().numpy(), model[0].weight.numpy())
    io.save_checkpoint(tmp_path / "c.safetensors", model, o, note="hi")
    keys = set(st.load_file(str(tmp_path / "c.safetensors")))
    assert {"0.weight", "0.bias", "2.weight", "optimizer.state.0.momentum_buffer"} <= keys
    m2 = nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))
    o2 = optim.SGD(m2.parameters(), lr=0.5)
    assert io.load_checkpoint(tmp_path / "c.safetensors", m2, o2) == {"note": "hi"}
    assert o2.param_groups[0]["lr"] == 0.1
    np.testing.assert_array_equal(
        o2.state_dict()["state"][0]["momentum_buffer"],
        o.state_dict()["state"][0]["momentum_buffer"],
    )
    with pytest.raises(ValueError, match="not an ember checkpoint"):
        io.load_checkpoint(tmp_path / "w.safetensors", m2)


def test_history_plot_writes_a_png(tmp_path):
    pytest.importorskip("matplotlib")
    h = History()
    for e in range(3):
        h.on_epoch_end(None, e, {"loss": 1 / (e + 1), "accuracy": 0.5 + e / 10, "lr": 0.1 / (e + 1),
                                 "val_loss": 1.1 / (e + 1)})  # fmt: skip
    h.plot(tmp_path / "h.png")
    assert (tmp_path / "h.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_quiet_when_not_a_tty(digits, capsys):
    model, o, tl, vl = _setup(digits, batch=512)
    fit(model, xent, o, tl, epochs=1, verbose=1)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_fit_refuses_bad_input(digits):
    model, o, tl, vl = _setup(digits)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, xent, o, tl, epochs=0)
    with pytest.raises(TypeError, match="train_loader"):
        fit(model, xent, o, 42, epochs=1)
    with pytest.raises(ValueError, match="scheduler_interval"):
        Trainer(model, xent, o, scheduler_interval="step")
    with pytest.raises(TypeError, match="loss_fn"):
        Trainer(model, "mse", o)
    with pytest.raises(ValueError, match="pair"):
        fit(model, xent, o, [(np.ones((2, 64), np.float32),)], epochs=1, verbose=0)
    with pytest.raises(ValueError, match="patience"):
        EarlyStopping(patience=-1)
    with pytest.raises(ValueError, match="min_delta"):
        EarlyStopping(min_delta=-0.1)
