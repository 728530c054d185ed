"""ember.load reads torch.save's zip files as torch.load(weights_only=True) does."""

import io
import os
import pickle
import zipfile

import numpy as np
import pytest

import ember

torch = pytest.importorskip("torch")


def saved(obj, **kwargs) -> io.BytesIO:
    buf = io.BytesIO()
    torch.save(obj, buf, **kwargs)
    return io.BytesIO(buf.getvalue())


def test_a_torch_trained_model_and_optimiser_load_into_ember(tmp_path):
    torch.manual_seed(0)
    ref = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3),
        torch.nn.BatchNorm2d(4),
        torch.nn.Flatten(),
        torch.nn.Linear(144, 2),
    )
    opt = torch.optim.Adam(ref.parameters())
    ref(torch.rand(2, 3, 8, 8)).sum().backward()
    opt.step()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": ref.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, path)

    ckpt = ember.load(path, map_location="cpu")
    model = ember.nn.Sequential(
        ember.nn.Conv2d(3, 4, 3),
        ember.nn.BatchNorm2d(4),
        ember.nn.Flatten(),
        ember.nn.Linear(144, 2),
    )
    model.load_state_dict(ckpt["model"])
    ember.optim.Adam(model.parameters()).load_state_dict(ckpt["optimizer"])
    assert ckpt["epoch"] == 3
    x = np.random.default_rng(0).random((2, 3, 8, 8), np.float32)
    ref.eval()
    model.eval()
    expected = ref(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(model(ember.tensor(x)).data, expected, rtol=1e-5, atol=1e-6)


def test_views_dtypes_and_small_values_come_back_as_torch_saved_them():
    base = torch.arange(12.0, dtype=torch.float64).reshape(3, 4)
    obj = {
        "transposed": base.t(),
        "strided": torch.arange(10.0)[2:8:2],
        "param": torch.nn.Parameter(torch.ones(2)),
        "frozen": torch.ones(2, requires_grad=True),
        "bf16": torch.tensor([1.5, -2.25], dtype=torch.bfloat16),
        "ints": torch.tensor([1, -2], dtype=torch.int32),
        "mask": torch.tensor([True, False]),
        "empty": torch.empty(0, 3),
        "dtype": torch.float16,
        "device": torch.device("cpu"),
        "nested": [(1, 2.5, "a"), {"k": None}],
    }
    got = ember.load(saved(obj))
    np.testing.assert_array_equal(got["transposed"].data, base.t().numpy())
    np.testing.assert_array_equal(got["strided"].data, [2.0, 4.0, 6.0])
    assert isinstance(got["param"], ember.nn.Parameter) and got["param"].requires_grad
    assert got["frozen"].requires_grad
    np.testing.assert_array_equal(got["bf16"].data, [1.5, -2.25])
    assert got["bf16"].dtype == ember.bfloat16  # as torch.load gives it
    assert got["ints"].dtype == np.int32 and got["mask"].dtype == np.bool_
    assert got["empty"].shape == (0, 3)
    assert got["dtype"] == np.float16 and got["device"] == "cpu"
    assert got["nested"] == [(1, 2.5, "a"), {"k": None}]


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_code_in_a_torch_file_is_refused():
    clean = zipfile.ZipFile(saved({"x": 1}))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as evil:
        for name in clean.namelist():
            data = pickle.dumps(_Evil(), protocol=2) if name.endswith("data.pkl") else None
            evil.writestr(name, data or clean.read(name))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        ember.load(io.BytesIO(out.getvalue()))


def test_the_legacy_format_gets_a_clear_error():
    legacy = saved({"x": torch.ones(2)}, _use_new_zipfile_serialization=False)
    with pytest.raises(ValueError, match="legacy"):
        ember.load(legacy)
