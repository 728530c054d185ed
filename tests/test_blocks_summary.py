"""nn.blocks (residual, Inception): shapes and gradients against PyTorch twins; ember.summary:
the course's numbers on the worked example and LeNet-5, receptive fields, spec checks."""

import numpy as np
import pytest

import ember
from ember import nn
from ember.autograd import gradcheck
from ember.benchmarks import torch_residual_block
from ember.nn import blocks

# ---- blocks -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cin,cout,stride,shape",
    [(4, 4, 1, (4, 4, 6, 6)), (4, 8, 2, (8, 8, 4, 4)), (4, 6, 1, (4, 6, 6, 6))],
)
def test_residual_block_shapes_and_shortcut(cin, cout, stride, shape):
    b = blocks.ResidualBlock(cin, cout, stride)
    assert (b.downsample is None) == (stride == 1 and cin == cout)
    assert b(ember.randn(4, cin, 6, 6)).shape == (4, cout, 6 // stride, 6 // stride)
    keys = list(b.state_dict())
    assert keys[:2] == ["conv1.weight", "bn1.weight"]
    if b.downsample is not None:
        assert "downsample.0.weight" in keys and "downsample.1.running_var" in keys


def _torch_inception(torch, cin, c1, c3r, c3, c5r, c5, pp):
    tnn = torch.nn

    def cr(i, o, k):
        return tnn.Sequential(tnn.Conv2d(i, o, k, padding=k // 2), tnn.ReLU())

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.branch1 = cr(cin, c1, 1)
            self.branch2 = tnn.Sequential(cr(cin, c3r, 1), cr(c3r, c3, 3))
            self.branch3 = tnn.Sequential(cr(cin, c5r, 1), cr(c5r, c5, 5))
            self.branch4 = tnn.Sequential(tnn.MaxPool2d(3, 1, 1), cr(cin, pp, 1))

        def forward(self, x):
            return torch.cat(
                [self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], 1
            )

    return Twin()


def _check_against_torch(torch, ours, theirs, x):
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict())
    xe, xt = ember.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ye, yt = ours(xe), theirs(xt)
    np.testing.assert_allclose(ye.numpy(), yt.detach().numpy(), rtol=1e-4, atol=1e-5)
    g = np.random.default_rng(1).standard_normal(ye.shape).astype(np.float32)
    ye.backward(g)
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(xe.grad.numpy(), xt.grad.numpy(), rtol=1e-4, atol=1e-5)
    tp = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(
            p.grad.numpy(), tp[name].grad.numpy(), rtol=1e-4, atol=1e-4, err_msg=name
        )
    for name, buf in theirs.named_buffers():
        np.testing.assert_allclose(
            dict(ours.named_buffers())[name].numpy(), buf.numpy(), rtol=1e-5, atol=1e-6
        )


@pytest.mark.parametrize("cin,cout,stride", [(4, 4, 1), (4, 8, 2)])
def test_residual_block_matches_pytorch(cin, cout, stride):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = np.random.default_rng(0).standard_normal((3, cin, 6, 6)).astype(np.float32)
    _check_against_torch(
        torch,
        blocks.ResidualBlock(cin, cout, stride),
        torch_residual_block(torch, cin, cout, stride),
        x,
    )


def test_inception_block_matches_pytorch():
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    spec = (6, 4, 3, 5, 2, 3, 2)
    ours = blocks.InceptionBlock(*spec)
    assert ours.out_channels == 4 + 5 + 3 + 2
    x = np.random.default_rng(0).standard_normal((2, 6, 7, 5)).astype(np.float32)
    _check_against_torch(torch, ours, _torch_inception(torch, *spec), x)


def test_inception_block_shapes_and_bn_variant():
    b = blocks.InceptionBlock(16, 8, 8, 12, 4, 6, 6, batch_norm=True)
    assert b(ember.randn(2, 16, 9, 9)).shape == (2, 32, 9, 9)
    assert any(isinstance(m, nn.BatchNorm2d) for m in b.modules())


@pytest.mark.parametrize(
    "block",
    [lambda: blocks.ResidualBlock(2, 3, 2), lambda: blocks.InceptionBlock(2, 1, 1, 2, 1, 1, 1)],
)
def test_blocks_gradcheck(block):
    m = block().double()
    x = ember.tensor(np.random.default_rng(2).standard_normal((2, 2, 5, 5)), requires_grad=True)
    params = list(m.parameters())
    assert gradcheck(lambda x, *ps: m(x), [x] + params[:3])


# ---- summary ------------------------------------------------------------------------------


def test_summary_worked_example(capsys):
    s = ember.summary(nn.Sequential(nn.Conv2d(3, 15, 9, stride=2)), (3, 97, 97))
    (row,) = s.layers
    assert row.output_shape == (15, 45, 45)
    assert row.params == 3660 == 15 * (9 * 9 * 3 + 1)
    assert row.connections == 3660 * 45 * 45
    assert row.flops == 2 * 9 * 9 * 3 * 15 * 45 * 45 + 15 * 45 * 45
    assert (row.rf_size, row.rf_jump) == ((9, 9), (2, 2))
    assert s.issues == [] and s.remarks == []
    out = capsys.readouterr().out
    assert out.strip() == str(s).strip()
    assert "(15, 45, 45)" in out and "3,660" in out


def lenet5():
    """LeCun et al. (1998) on 32x32 inputs (C3 fully connected, subsampling as avg pooling)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5), nn.Tanh(), nn.Flatten(),
        nn.Linear(120, 84), nn.Tanh(), nn.Linear(84, 10),
    )  # fmt: skip


def test_summary_lenet5():
    s = ember.summary(lenet5(), (1, 32, 32), verbose=False)
    rows = {r.name: r for r in s.layers}
    shapes = [r.output_shape for r in s.layers]
    assert shapes == [
        (6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5),
        (120, 1, 1), (120, 1, 1), (120,), (84,), (84,), (10,),
    ]  # fmt: skip
    # the paper's counts: C1 156 parameters / 122,304 connections, C5 48,120 / 48,120,
    # F6 10,164 parameters
    assert (rows["0"].params, rows["0"].connections) == (156, 122_304)
    assert (rows["6"].params, rows["6"].connections) == (48_120, 48_120)
    assert rows["9"].params == 10_164
    assert rows["3"].params == 16 * (6 * 25 + 1)
    assert rows["2"].connections == 4 * 6 * 14 * 14  # pooling: window x outputs
    assert s.total_params == sum(p.numel() for p in lenet5().parameters()) == 61_706
    assert s.total_connections == sum(r.connections for r in s.layers)
    # receptive fields: 5 -> pool 6 (jump 2) -> 14 -> 16 (jump 4) -> 32: C5 sees everything
    assert [r.rf_size[0] for r in s.layers[:7]] == [5, 5, 6, 14, 14, 16, 32]
    assert [r.rf_jump[0] for r in s.layers[:7]] == [1, 1, 2, 2, 2, 4, 4]
    assert rows["9"].rf_size == (32, 32) and rows["9"].rf_jump is None
    assert s.issues == [] and s.remarks == []
    d = s.as_dicts()
    assert d[0]["output_shape"] == (6, 28, 28) and d[0]["params"] == 156


def test_summary_modern_lenet_on_28x28_and_dilation():
    m = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
        nn.Linear(400, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(), nn.Linear(84, 10),
    )  # fmt: skip
    s = ember.summary(m, (1, 28, 28), verbose=False)
    assert s.layers[5].output_shape == (16, 5, 5)
    assert s.total_params == 61_706
    d = ember.summary(nn.Conv2d(1, 1, 3, dilation=2, stride=(1, 2)), (1, 9, 9), verbose=False)
    assert d.layers[0].rf_size == (5, 5) and d.layers[0].rf_jump == (1, 2)


def test_summary_flags_specs_that_do_not_add_up(capsys):
    m = nn.Sequential(nn.Conv2d(3, 8, 5, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(100, 10))
    # the spec says 14x14 after the conv (as if padded), and 100 features for the linear layer
    s = ember.summary(m, (3, 32, 32), expected={"0": (8, 14, 14)})
    assert s.layers[0].output_shape == (8, 14, 14)  # (32 - 5) // 2 + 1 = 14 ...
    assert any("not an integer" in r for r in s.remarks)  # ... but (32 - 5) / 2 does not fit
    assert any("Linear" in i and "cannot take input" in i for i in s.issues)
    assert len(s.layers) == 3  # the summary stops at the layer that cannot run
    out = capsys.readouterr().out
    assert "! 3 (Linear)" in out and "note:" in out
    s = ember.summary(
        nn.Sequential(nn.Conv2d(3, 8, 3), nn.MaxPool2d(2)), (3, 10, 10), [(8, 10, 10), (8, 4, 4)],
        verbose=False,
    )  # fmt: skip
    assert len(s.issues) == 1 and "states output (8, 10, 10)" in s.issues[0]
    assert "(8, 8, 8)" in s.issues[0]
    with pytest.raises(ValueError, match="does not add up"):
        ember.summary(nn.Conv2d(3, 8, 3), (3, 10, 10), [(8, 10, 10)], verbose=False, strict=True)


def test_summary_on_blocks_and_restores_state():
    m = nn.Sequential(
        blocks.ResidualBlock(3, 8, 2), blocks.InceptionBlock(8, 2, 2, 3, 2, 4, 5),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(14, 3),
    )  # fmt: skip
    m.train()
    before = {k: v.numpy().copy() for k, v in m.state_dict().items()}
    s = ember.summary(m, (3, 16, 16), verbose=False)
    assert s.layers[-1].output_shape == (3,)
    assert s.total_params == sum(p.numel() for p in m.parameters())
    rows = {r.name: r for r in s.layers}
    assert rows["1.branch3.1.0"].rf_size == (15, 15)  # 7 from the block, + 4 * jump 2
    assert all(mod.training for mod in m.modules())
    assert "forward" not in m[0].conv1.__dict__
    for k, v in m.state_dict().items():  # the probe pass changed no running statistics
        np.testing.assert_array_equal(v.numpy(), before[k], err_msg=k)


def test_summary_refuses_bad_arguments():
    with pytest.raises(ValueError):
        ember.summary(nn.Linear(3, 2), (0, 3), verbose=False)
    with pytest.raises(TypeError):
        ember.summary(lambda x: x, (3,), verbose=False)
