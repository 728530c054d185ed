"""Idioms from PyTorch's own tutorials that ember must run unchanged (DCGAN's init on
``.data``, ``nn.DataParallel``, ``torch.utils.data`` submodules, ``set_default_device``)."""

import numpy as np
import pytest

import ember
from ember import nn


@pytest.mark.parametrize(
    "init, args",
    [
        (nn.init.normal_, (0.0, 0.02)),
        (nn.init.uniform_, (-0.1, 0.1)),
        (nn.init.constant_, (0.5,)),
        (nn.init.zeros_, ()),
        (nn.init.ones_, ()),
        (nn.init.xavier_uniform_, ()),
        (nn.init.xavier_normal_, ()),
        (nn.init.kaiming_uniform_, ()),
        (nn.init.kaiming_normal_, ()),
        (nn.init.orthogonal_, ()),
        (nn.init.trunc_normal_, ()),
        (nn.init.dirac_, ()),
    ],
)
def test_init_fills_a_parameters_data_array_in_place(init, args):
    # DCGAN's weights_init: nn.init.normal_(m.weight.data, 0.0, 0.02)
    conv = nn.Conv2d(3, 4, 3)
    array = conv.weight.data
    ember.manual_seed(0)
    assert init(conv.weight.data, *args) is array
    ember.manual_seed(0)
    expected = init(ember.zeros(4, 3, 3, 3), *args)
    np.testing.assert_array_equal(conv.weight.data, expected.data)
    assert conv.weight.data is array


def test_init_on_arrays_keeps_its_errors():
    with pytest.raises(TypeError, match="floating-point"):
        nn.init.normal_(np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="2 dimensions"):
        nn.init.sparse_(np.zeros(3), 0.5)
    with pytest.raises(TypeError, match="expected a Tensor"):
        nn.init.normal_([0.0, 1.0])


def test_data_parallel_runs_its_module_with_torchs_keys():
    torch = pytest.importorskip("torch")
    inner = nn.Linear(3, 2)
    model = nn.DataParallel(inner, device_ids=[0, 1])
    assert model.module is inner
    x = ember.randn(4, 3)
    np.testing.assert_array_equal(model(x).data, inner(x).data)
    expected = list(torch.nn.DataParallel(torch.nn.Linear(3, 2)).state_dict())
    assert list(model.state_dict()) == expected == ["module.weight", "module.bias"]
    assert model.device_ids == []  # torch's value without GPUs
    out = nn.parallel.data_parallel(inner, x)
    np.testing.assert_array_equal(out.data, inner(x).data)
    with pytest.raises(TypeError, match="nn.Module"):
        nn.DataParallel(lambda x: x)


def test_utils_data_submodules_name_the_same_objects():
    from ember.utils.data import dataloader, dataset, sampler

    assert dataset.Dataset is ember.data.Dataset
    assert dataset.TensorDataset is ember.data.TensorDataset
    assert sampler.SubsetRandomSampler is ember.data.SubsetRandomSampler
    assert dataloader.DataLoader is ember.data.DataLoader
    assert dataloader.default_collate is ember.data.default_collate


def test_default_device_is_the_cpu():
    ember.set_default_device("cpu")
    ember.set_default_device(None)
    assert ember.get_default_device() == "cpu"
    with pytest.raises(RuntimeError, match="CPU only"):
        ember.set_default_device("cuda")


def test_channels_last_is_torchs_layout_with_the_same_values_and_gradients():
    torch = pytest.importorskip("torch")
    x = ember.rand(2, 3, 4, 5, requires_grad=True)
    y = x.to(memory_format=ember.channels_last)
    expected = torch.tensor(x.data).to(memory_format=torch.channels_last)
    assert y.stride() == expected.stride()
    assert y.is_contiguous(memory_format=ember.channels_last) and not y.is_contiguous()
    np.testing.assert_array_equal(y.data, x.data)
    (y * ember.arange(5.0)).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.broadcast_to(np.arange(5.0), x.shape))
    back = y.contiguous()
    assert back.is_contiguous() and back.stride() == expected.contiguous().stride()
    assert y.contiguous(memory_format=ember.channels_last) is y
    assert y.clone(memory_format=ember.contiguous_format).is_contiguous()

    conv = nn.Conv2d(3, 4, 3).to(memory_format=ember.channels_last)
    twin = torch.nn.Conv2d(3, 4, 3).to(memory_format=torch.channels_last)
    assert conv.weight.stride() == twin.weight.stride() and conv.bias.stride() == (1,)
    np.testing.assert_allclose(
        conv(y).data, nn.functional.conv2d(x, conv.weight, conv.bias).data, rtol=1e-6
    )
    assert not ember.rand(3).is_contiguous(memory_format=ember.channels_last)
    with pytest.raises(RuntimeError, match="required rank 4"):
        ember.rand(3).to(memory_format=ember.channels_last)
    with pytest.raises(TypeError, match="memory_format"):
        ember.rand(3).contiguous(memory_format="channels_last")


def test_version_and_numpy_force():
    assert ember.version.cuda is None and ember.version.__version__ == ember.__version__
    t = ember.ones(2, requires_grad=True)
    assert t.numpy(force=True) is t.data


def test_randint_takes_torchs_high_size_form():
    # nanoGPT: ix = torch.randint(len(data) - block_size, (batch_size,))
    ember.manual_seed(0)
    ix = ember.randint(7, (1000,))
    assert ix.shape == (1000,) and ix.dtype == np.int64
    assert ix.data.min() == 0 and ix.data.max() == 6
    ember.manual_seed(0)
    np.testing.assert_array_equal(ember.randint(0, 7, (1000,)).data, ix.data)
    with pytest.raises(ValueError, match="greater than low"):
        ember.randint(0, (3,))


def test_backend_flags_that_scripts_set():
    # nanoGPT's train.py sets these before building the model
    ember.backends.cuda.matmul.allow_tf32 = True
    ember.backends.cudnn.allow_tf32 = True
    assert not ember.backends.cuda.flash_sdp_enabled()
    assert ember.backends.openmp.is_available() and not ember.backends.mkldnn.is_available()


def test_numpy_in_place_update_of_data_by_a_gradient():
    # micrograd / makemore: p.data += -lr * p.grad
    w = ember.randn(3, 4, requires_grad=True)
    (w * ember.arange(4.0)).sum().backward()
    before = w.data.copy()
    array = w.data
    w.data += -0.1 * w.grad
    assert w.data is array  # written in place, not rebound
    np.testing.assert_allclose(w.data, before - 0.1 * np.arange(4.0), rtol=1e-6)
    acc = np.zeros((3, 4), np.float32)
    acc -= w
    np.testing.assert_array_equal(acc, -w.data)


def test_other_ufunc_uses_run_numpy_on_the_arrays():
    x = ember.tensor([[1.0, -2.0], [3.0, 0.5]])
    out = np.empty((2, 2), np.float32)
    assert np.exp(x, out=out) is out
    np.testing.assert_allclose(out, np.exp(x.data))
    np.testing.assert_array_equal(np.maximum.reduce(x), [3.0, 0.5])
    target = ember.zeros(2, 2)
    assert np.add(x, 1, out=target) is target  # a Tensor out gets the values
    np.testing.assert_array_equal(target.data, x.data + 1)
    assert isinstance(np.add(x, x), ember.Tensor)  # plain calls stay ember ops


def test_top_level_in_place_functions_and_small_torch_names():
    torch = pytest.importorskip("torch")
    x = ember.tensor([-1.0, 0.5, 2.0])
    assert ember.relu_(x) is x
    np.testing.assert_array_equal(x.data, [0.0, 0.5, 2.0])
    y = ember.tensor([0.25, 1.0])
    ember.clamp_(y, max=0.5)
    ember.sqrt_(y)
    np.testing.assert_allclose(y.data, [0.5, np.sqrt(0.5)], rtol=1e-6)
    shared = ember.from_dlpack(torch.arange(3.0))
    np.testing.assert_array_equal(shared.data, [0.0, 1.0, 2.0])
    assert ember.get_device(x) == torch.get_device(torch.ones(1)) == -1
    assert not ember.is_storage(x) and ember.set_flush_denormal(True) is False
    ember.set_num_interop_threads(2)
    assert ember.get_num_interop_threads() == 2


def test_set_default_tensor_type_is_torchs_deprecated_dtype_switch():
    try:
        with pytest.warns(UserWarning, match="deprecated"):
            ember.set_default_tensor_type("torch.DoubleTensor")
        assert ember.get_default_dtype() == np.float64 and ember.rand(1).dtype == np.float64
        with pytest.warns(UserWarning, match="deprecated"):
            ember.set_default_tensor_type(ember.FloatTensor)
        assert ember.get_default_dtype() == np.float32
        with pytest.warns(UserWarning), pytest.raises(TypeError, match="floating-point"):
            ember.set_default_tensor_type(ember.LongTensor)
    finally:
        ember.set_default_dtype(np.float32)


def test_new_entry_points_refuse_bad_input_clearly():
    with pytest.raises(TypeError, match="must be Tensor, not list"):
        ember.relu_([1.0, -1.0])
    with pytest.raises(TypeError, match="DLPack"):
        ember.from_dlpack([1, 2])
    import io

    with pytest.raises(ValueError, match="damaged zip"):
        ember.load(io.BytesIO(b"PK\x03\x04garbage"))
