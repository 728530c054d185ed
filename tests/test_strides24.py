"""Strides of size-1 dims (elementwise results, casts, flip, views) and the in-place
activations' nodes (names, and the refusal once their saved result is written): PyTorch
2.13's behaviour, run side by side with torch."""

import numpy as np
import pytest

import ember

MODIFIED = "one of the variables needed for gradient computation has been modified by an inplace"


def _torch():
    return pytest.importorskip("torch")


# ---- elementwise results and copies of inputs whose size-1 dims have other strides ----------


def _inputs(L):
    """(name, tensor): C-contiguous by torch's rule (size-1 dims passed over) but with a
    size-1 dim's stride not the C-order one, or permuted around a size-1 dim."""
    return [
        ("(3, 1).t()", L.arange(3.0).reshape(3, 1).t()),
        ("(1, 3).t()", L.arange(3.0).reshape(1, 3).t()),
        ("(1, 3, 4) permuted", L.arange(12.0).reshape(3, 1, 4).permute(1, 0, 2)),
        ("(3, 1, 4) permuted", L.arange(12.0).reshape(3, 4, 1).permute(0, 2, 1)),
        ("(2, 1, 3, 1) permuted", L.arange(6.0).reshape(2, 3, 1, 1).permute(0, 2, 1, 3)),
        ("(1, 1) sliced", L.arange(4.0).reshape(2, 2)[:1, ::2]),
    ]


_OPS = {
    "x * 2": lambda L, x: x * 2,
    "x + 1": lambda L, x: x + 1,
    "x - y": lambda L, x: x - x.clone(),
    "x / 2": lambda L, x: x / 2,
    "where": lambda L, x: L.where(x > 1, x, 0.0),
    "flip": lambda L, x: x.flip(0),
    "double": lambda L, x: x.double(),
    "int": lambda L, x: x.int(),
    "to(float64)": lambda L, x: x.to(L.float64),
    "x + x": lambda L, x: x + x,
    "abs": lambda L, x: x.abs(),
    "clone": lambda L, x: x.clone(),
}


@pytest.mark.parametrize("op", list(_OPS))
def test_size1_dim_strides_of_elementwise_results_and_casts(op):
    torch = _torch()
    for (name, e), (_, t) in zip(_inputs(ember), _inputs(torch), strict=True):
        assert e.stride() == t.stride(), name
        got, want = _OPS[op](ember, e), _OPS[op](torch, t)
        assert got.stride() == want.stride(), name
        assert got.is_contiguous() == want.is_contiguous(), name
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_a_transposed_column_times_two_keeps_its_strides():
    torch = _torch()
    for L in (ember, torch):
        x = L.arange(3.0).reshape(3, 1).t()
        assert (x * 2).stride() == (1, 1) and x.float().double().stride() == (1, 1)
        assert (x + x).stride() == (3, 1)  # same shapes, all contiguous: C order


# ---- views of size-1 dims: torch's computeStride -------------------------------------------

_VIEWS = {
    "view(-1)": lambda x: x.view(-1),
    "reshape(-1)": lambda x: x.reshape(-1),
    "flatten": lambda x: x.flatten(),
    "reshape(1, *shape)": lambda x: x.reshape(1, *x.shape),
    "reshape(*shape, 1)": lambda x: x.reshape(*x.shape, 1),
    "unsqueeze(0)": lambda x: x.unsqueeze(0),
    "unsqueeze(-1)": lambda x: x.unsqueeze(-1),
    "squeeze()": lambda x: x.squeeze(),
}


def _view_inputs(L):
    return [
        ("(1,) of stride 3", L.arange(9.0)[::3][:1]),
        ("(3, 1).t()", L.arange(3.0).reshape(3, 1).t()),
        ("row slice", L.arange(12.0).reshape(3, 4)[:1, ::2]),
        ("column slice", L.arange(12.0).reshape(3, 4)[:, ::2]),
        ("None index", L.arange(6.0).reshape(2, 3)[:, None, :]),
    ]


@pytest.mark.parametrize("op", list(_VIEWS))
@pytest.mark.parametrize("grad", [False, True])
def test_view_strides_of_size1_dims(op, grad):
    torch = _torch()
    for (name, e), (_, t) in zip(_view_inputs(ember), _view_inputs(torch), strict=True):
        if grad:
            e, t = e.requires_grad_(), t.requires_grad_()
        got, want = _VIEWS[op](e), _VIEWS[op](t)
        assert (tuple(got.shape), got.stride()) == (tuple(want.shape), want.stride()), name


def test_view_of_a_size1_tensor_keeps_its_stride():
    torch = _torch()
    for L in (ember, torch):
        v = L.arange(9.0)[::3][:1]
        assert v.stride() == (3,) and v.view(-1).stride() == (3,)
        v.view(-1)[0] = 7.0  # still a view
        assert v.item() == 7.0


# ---- in-place activations: torch's nodes, and their refusal once their result is written ---

_IN_PLACE = {
    "F.elu(inplace)": lambda L, h: L.nn.functional.elu(h, inplace=True),
    "F.elu_": lambda L, h: L.nn.functional.elu_(h),
    "nn.ELU(inplace)": lambda L, h: L.nn.ELU(inplace=True)(h),
    "F.leaky_relu(inplace)": lambda L, h: L.nn.functional.leaky_relu(h, 0.1, inplace=True),
    "F.leaky_relu_": lambda L, h: L.nn.functional.leaky_relu_(h, 0.1),
    "nn.LeakyReLU(inplace)": lambda L, h: L.nn.LeakyReLU(0.1, inplace=True)(h),
    "F.selu(inplace)": lambda L, h: L.nn.functional.selu(h, inplace=True),
    "nn.SELU(inplace)": lambda L, h: L.nn.SELU(inplace=True)(h),
    "F.celu_": lambda L, h: L.nn.functional.celu_(h),
    "F.rrelu(inplace, eval)": lambda L, h: L.nn.functional.rrelu(h, inplace=True, training=False),
    "F.rrelu_(eval)": lambda L, h: L.nn.functional.rrelu_(h, training=False),
    "F.hardtanh_": lambda L, h: L.nn.functional.hardtanh_(h),
    "nn.ReLU6(inplace)": lambda L, h: L.nn.ReLU6(inplace=True)(h),
    "F.threshold_": lambda L, h: L.nn.functional.threshold_(h, 0.1, 2.0),
    "F.relu(inplace)": lambda L, h: L.nn.functional.relu(h, inplace=True),
    "F.elu": lambda L, h: L.nn.functional.elu(h),
    "F.leaky_relu": lambda L, h: L.nn.functional.leaky_relu(h, 0.1),
    "tanh": lambda L, h: h.tanh(),
    "sigmoid": lambda L, h: h.sigmoid(),
    "softmax": lambda L, h: h.softmax(-1),
    "sin": lambda L, h: h.sin(),
}

_AFTER = {
    "nothing": lambda y: None,
    "mul_": lambda y: y.mul_(2),
    "y[0, 0] = 5": lambda y: y.__setitem__((0, 0), 5.0),
    "y[1] = 0": lambda y: y.__setitem__(1, 0.0),
}


def _run(L, op, after):
    x = L.tensor([[-1.0, 0.5, 2.0], [0.3, -0.2, 1.0]], dtype=L.float64, requires_grad=True)
    y = _IN_PLACE[op](L, x * 2)
    name = y.grad_fn.name()
    _AFTER[after](y)
    try:
        y.sum().backward()
    except RuntimeError as e:
        assert MODIFIED in str(e), str(e)
        return name, "refused"
    return name, np.round(x.grad.numpy(), 12).tolist()


@pytest.mark.parametrize("after", list(_AFTER))
@pytest.mark.parametrize("op", list(_IN_PLACE))
def test_in_place_activation_nodes_and_refusals_follow_torch(op, after):
    torch = _torch()
    assert _run(ember, op, after) == _run(torch, op, after)


def test_in_place_node_names():
    torch = _torch()
    want = {
        "F.elu(inplace)": "EluBackward1", "F.leaky_relu_": "LeakyReluBackward1",
        "F.selu(inplace)": "EluBackward1", "F.celu_": "CeluBackward1",
        "F.rrelu_(eval)": "RreluWithNoiseBackward1", "F.threshold_": "ThresholdBackward1",
        "F.hardtanh_": "HardtanhBackward0", "F.elu": "EluBackward0",
    }  # fmt: skip
    for op, name in want.items():
        assert _run(ember, op, "nothing")[0] == _run(torch, op, "nothing")[0] == name


def test_index_assignment_after_tanh_refuses_its_backward():
    for L in (ember, _torch()):
        x = L.tensor([[0.1, 0.2], [0.3, 0.4]], requires_grad=True)
        h = x.tanh()
        h[0, 0] = 5.0
        with pytest.raises(RuntimeError, match=MODIFIED):
            h.sum().backward()


def test_a_python_number_keeps_the_layout_of_a_transposed_column():
    # speed24c's short path for tensor-with-number (x * 2, 2 * x, x + 1) met strides24's layout
    # rule only through the general path: (20, 1).t() gave C strides there, (1, 1) in torch
    torch = pytest.importorskip("torch")
    for shape, perm in (((20, 1), (1, 0)), ((20, 1, 3), (1, 0, 2))):
        e = ember.zeros(*shape).permute(*perm)
        t = torch.zeros(*shape).permute(*perm)
        for f in (lambda x: x * 2, lambda x: 2 * x, lambda x: x + 1.5, lambda x: x - 1):
            assert f(e).stride() == f(t).stride()
