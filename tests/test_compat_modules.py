"""torch's small modules and switches that scripts and libraries call: anomaly detection,
autocast's queries, torch.compiler / torch.distributed / torch.cpu, and top-level helpers."""

import warnings

import numpy as np
import pytest

import ember


def test_detect_anomaly_names_the_node_that_made_a_nan_as_torch():
    torch = pytest.importorskip("torch")

    def message(lib):
        x = lib.tensor([1.0, 0.0], requires_grad=True)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with lib.autograd.detect_anomaly():
                y = (x / x).sum()
                with pytest.raises(RuntimeError) as err:
                    y.backward()
        return str(err.value), [str(w.message).split("\n")[0] for w in caught]

    (e_msg, e_warn), (t_msg, t_warn) = message(ember), message(torch)
    assert e_msg == t_msg == "Function 'DivBackward0' returned nan values in its 1th output."
    assert e_warn[0].startswith("Anomaly Detection has been enabled")
    assert (
        e_warn[1]
        == t_warn[1]
        == "Error detected in DivBackward0. Traceback of forward call that caused the error:"
    )
    assert not ember.is_anomaly_enabled()


def test_detect_anomaly_shows_the_forward_call_and_is_off_by_default():
    x = ember.tensor([1.0, 0.0], requires_grad=True)
    (x / x).sum().backward()  # without anomaly mode a NaN gradient is not an error
    assert np.isnan(x.grad.numpy()[1])

    @ember.autograd.detect_anomaly(check_nan=False)
    def run():
        y = (x / x).sum()
        y.backward()
        return ember.is_anomaly_enabled(), ember.is_anomaly_check_nan_enabled()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert run() == (True, False)
    assert not ember.is_anomaly_enabled()
    ember.set_anomaly_enabled(True)
    try:
        assert ember.is_anomaly_enabled()

        class Broken(ember.autograd.Function):
            @staticmethod
            def forward(ctx, x):
                return x * 2

            @staticmethod
            def backward(ctx, g):
                raise ValueError("broken backward")

        y = Broken.apply(ember.tensor([2.0], requires_grad=True))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match="broken backward"):
                y.sum().backward()
        assert "test_compat_modules.py" in str(caught[-1].message)  # the forward call's line
    finally:
        ember.set_anomaly_enabled(False)


def test_autocast_reports_its_state_as_torch():
    assert not ember.is_autocast_enabled("cpu")
    with ember.autocast("cpu"):
        assert ember.is_autocast_enabled("cpu") and ember.is_autocast_cpu_enabled()
        assert ember.get_autocast_dtype("cpu") is ember.bfloat16
        with ember.autocast("cpu", enabled=False):
            assert not ember.is_autocast_enabled("cpu")
        assert ember.is_autocast_enabled("cpu")
    assert not ember.is_autocast_enabled("cpu")

    @ember.autocast("cpu", dtype=ember.float16)
    def inside():
        return ember.get_autocast_cpu_dtype()

    assert inside() is ember.float16 and ember.get_autocast_dtype("cpu") is ember.bfloat16


def test_compiler_distributed_and_cpu_modules():
    fn = lambda x: x  # noqa: E731
    assert ember.compiler.disable(fn) is fn and ember.compiler.disable()(fn) is fn
    assert not ember.compiler.is_compiling()
    assert not ember.distributed.is_available() and not ember.distributed.is_initialized()
    with pytest.raises(ValueError, match="process group has not been initialized"):
        ember.distributed.get_rank()
    with pytest.raises(RuntimeError, match="one process"):
        ember.distributed.init_process_group("gloo")
    assert ember.cpu.is_available() and ember.cpu.device_count() == 1


def test_top_level_helpers_match_torch():
    torch = pytest.importorskip("torch")
    e, t = ember.empty_permuted((2, 3, 4), (0, 2, 1)), torch.empty_permuted((2, 3, 4), (0, 2, 1))
    assert e.shape == tuple(t.shape) and e.stride() == t.stride()
    with pytest.raises(ValueError, match="permutation"):
        ember.empty_permuted((2, 3), (0, 0))
    a = np.arange(10.0)
    for name, args in [("unsafe_chunk", (3,)), ("unsafe_split", (4,))]:
        got = getattr(ember, name)(ember.tensor(a), *args)
        want = getattr(torch, name)(torch.tensor(a), *args)
        assert [g.numpy().tolist() for g in got] == [w.numpy().tolist() for w in want]
    assert ember.sym_max(2, 3) == 3 and ember.sym_ite(False, 1, 2) == 2
    assert ember.typename(ember.ones(2)) == "ember.float32" and ember.typename(3) == "int"
    x = ember.tensor([1.0, -2.0])
    np.testing.assert_array_equal(ember.from_dlpack(ember.to_dlpack(x)).numpy(), x.numpy())
    ember.threshold_(x, 0.0, 5.0)
    np.testing.assert_array_equal(x.numpy(), [1.0, 5.0])
    ember.dropout_(x, 0.0, True)
    np.testing.assert_array_equal(x.numpy(), [1.0, 5.0])
    assert ember.GradScaler is ember.amp.GradScaler


def test_untyped_storage_dim_order_and_to_dense_as_torch():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        x = lib.arange(6.0).reshape(2, 3)
        shared = x[1].untyped_storage().data_ptr() == x.untyped_storage().data_ptr()
        apart = x.clone().untyped_storage().data_ptr() != x.untyped_storage().data_ptr()
        assert shared and apart and x.untyped_storage().nbytes() == 24
        assert x.t().dim_order() == (1, 0) and x.dim_order() == (0, 1)
        assert lib.ones(2, 3, 4).permute(2, 0, 1).dim_order() == (1, 2, 0)
        assert x.to_dense() is x


@pytest.mark.parametrize("upper", [True, False])
@pytest.mark.parametrize("transpose", [False, True])
def test_triangular_solve_matches_torch(upper, transpose):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    a = np.triu(rng.standard_normal((3, 3))) + 3 * np.eye(3)
    a = a if upper else a.T
    b = rng.standard_normal((2, 3, 2))  # a batch of right-hand sides
    got = ember.tensor(b).triangular_solve(ember.tensor(a), upper=upper, transpose=transpose)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's deprecation note
        want = torch.triangular_solve(torch.tensor(b), torch.tensor(a), upper, transpose)
    np.testing.assert_allclose(got.solution.numpy(), want.solution.numpy(), rtol=1e-12)
    # (2, 3, 3): broadcast to the solution's batch, as torch
    np.testing.assert_array_equal(got.cloned_coefficient.numpy(), want.cloned_coefficient.numpy())


def test_as_strided_in_place_and_unsafe_views():
    torch = pytest.importorskip("torch")
    for lib in (ember, torch):
        x = lib.arange(6.0)
        assert x.as_strided_((2, 2), (1, 2)) is x
        assert x.tolist() == [[0.0, 2.0], [1.0, 3.0]]
        assert [c.tolist() for c in lib.arange(5.0).unsafe_chunk(2)] == [[0, 1, 2], [3, 4]]
    w = ember.arange(6.0, requires_grad=True)
    h = w * 2
    h.as_strided_((3,), (2,))  # a graph tensor: recorded, the gradient reaches the viewed ones
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2, 0, 2, 0, 2, 0])


def test_assigning_a_tensor_to_a_parameters_data_as_torch():
    torch = pytest.importorskip("torch")
    w = np.arange(6.0, dtype=np.float32).reshape(3, 2)

    def run(lib):
        layer = lib.nn.Linear(2, 3)
        layer.weight.data = lib.tensor(w)  # weight surgery, as torch code writes it
        layer.bias.data = lib.zeros(3)
        out = layer(lib.ones(1, 2))
        out.sum().backward()
        return out.detach().numpy(), layer.weight.grad.numpy(), layer.weight.requires_grad

    (eo, eg, er), (to, tg, tr) = run(ember), run(torch)
    np.testing.assert_array_equal(eo, to)
    np.testing.assert_array_equal(eg, tg)
    assert er and tr
    p = ember.nn.Parameter(ember.zeros(2))
    p.data = np.ones(4, np.float32)  # an array, of another shape, as torch allows
    assert isinstance(p.data, np.ndarray) and p.shape == (4,)
