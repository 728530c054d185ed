"""ember.save / ember.load (torch.save / torch.load for state dicts and checkpoints) and the
safetensors state_dict round trip, including the 0-d buffers BatchNorm keeps."""

import collections
import io
import pickle

import numpy as np
import pytest

import ember
import ember.nn as nn

pytest.importorskip("safetensors")


def _trained_model_and_optimizer():
    ember.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    opt = ember.optim.Adam(model.parameters(), lr=1e-2, amsgrad=True)
    for _ in range(2):
        opt.zero_grad()
        model(ember.randn(5, 3)).sum().backward()
        opt.step()
    return model, opt


def test_save_load_round_trips_a_checkpoint_dict(tmp_path):
    model, opt = _trained_model_and_optimizer()
    obj = {
        "model": model.state_dict(),
        "optimizer": opt.state_dict(),
        "epoch": 7,
        "note": ("run", 1.5, None, True),
        "counts": collections.Counter("aab"),
        "array": np.arange(6, dtype=np.int32).reshape(2, 3),
        3: [np.float64(2.5)],
    }
    path = tmp_path / "ckpt.pt"
    ember.save(obj, path)
    out = ember.load(path)

    assert out["epoch"] == 7 and out["note"] == ("run", 1.5, None, True)
    assert out["counts"] == collections.Counter("aab") and out[3] == [2.5]
    assert out["array"].dtype == np.int32 and np.array_equal(out["array"], obj["array"])
    assert list(out["model"]) == list(obj["model"])
    for k, v in obj["model"].items():
        assert isinstance(out["model"][k], ember.Tensor)
        assert out["model"][k].shape == v.shape and out["model"][k].dtype == v.dtype
        np.testing.assert_array_equal(out["model"][k].numpy(), v.numpy())

    model2 = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
    model2.load_state_dict(out["model"])
    opt2 = ember.optim.Adam(model2.parameters(), lr=1e-2, amsgrad=True)
    opt2.load_state_dict(out["optimizer"])
    x = ember.randn(5, 3)
    for m, o in ((model, opt), (model2, opt2)):  # the resumed pair takes the same step
        o.zero_grad()
        m(x).sum().backward()
        o.step()
    for a, b in zip(model.parameters(), model2.parameters()):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_save_load_through_a_file_object_keeps_requires_grad():
    buf = io.BytesIO()
    ember.save([ember.ones(2, requires_grad=True), ember.zeros(3, dtype=ember.float64)], buf)
    buf.seek(0)
    a, b = ember.load(buf, map_location="cpu", weights_only=True)
    assert a.requires_grad and not b.requires_grad and b.dtype == np.float64
    np.testing.assert_array_equal(a.numpy(), np.ones(2, np.float32))


def test_state_dict_file_round_trips_zero_dim_buffers_and_loads_in_torch(tmp_path):
    model = nn.BatchNorm2d(3)
    model(ember.randn(2, 3, 4, 4))
    path = tmp_path / "bn.safetensors"
    ember.io.save_state_dict(model.state_dict(), path)
    loaded = ember.io.load_state_dict(path)
    assert loaded["num_batches_tracked"].shape == ()
    fresh = nn.BatchNorm2d(3)
    fresh.load_state_dict(loaded)
    assert int(fresh.num_batches_tracked) == 1
    torch = pytest.importorskip("torch")
    import safetensors.torch

    tm = torch.nn.BatchNorm2d(3)
    tm.load_state_dict(safetensors.torch.load_file(str(path)))
    np.testing.assert_allclose(tm.running_mean.numpy(), model.running_mean.numpy())


def test_save_and_load_refuse_what_they_cannot_handle(tmp_path):
    with pytest.raises(TypeError, match="cannot save a function"):
        ember.save({"f": lambda: 1}, tmp_path / "x.pt")
    with pytest.raises(ValueError, match="not a file written by ember.save"):
        ember.load(io.BytesIO(b"not a safetensors file"))
    ember.io.save_state_dict({"w": np.ones(2)}, tmp_path / "w.safetensors")
    with pytest.raises(ValueError, match="not a file written by ember.save"):
        ember.load(tmp_path / "w.safetensors")
    ember.save({"w": ember.ones(1)}, tmp_path / "ok.pt")
    with pytest.raises((ValueError, RuntimeError)):
        ember.load(tmp_path / "ok.pt", map_location="cuda")


def test_a_whole_module_is_pickled_and_loads_only_with_weights_only_false(tmp_path):
    model = ember.nn.Sequential(ember.nn.Conv2d(1, 2, 3), ember.nn.BatchNorm2d(2), ember.nn.ReLU())
    model(ember.randn(2, 1, 5, 5))  # running statistics to carry over
    model.eval()
    ember.save(model, tmp_path / "model.pt")
    with pytest.raises(pickle.UnpicklingError, match="weights_only=False"):
        ember.load(tmp_path / "model.pt")
    loaded = ember.load(tmp_path / "model.pt", weights_only=False)
    x = ember.randn(2, 1, 5, 5)
    np.testing.assert_array_equal(loaded(x).detach().numpy(), model(x).detach().numpy())
    assert isinstance(loaded[0].weight, ember.nn.Parameter) and loaded[0].weight.requires_grad
    buf = io.BytesIO()
    ember.save({"model": model, "epoch": 3}, buf)  # a checkpoint dict holding the module
    buf.seek(0)
    assert ember.load(buf, weights_only=False)["epoch"] == 3
