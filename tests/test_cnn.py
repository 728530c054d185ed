"""The CNN demo: conv-pool-conv-pool-linear on the 8x8 digits reaches >= 0.97 test accuracy
on the fixed split (PyTorch lands at about 0.974 with such a model)."""

import subprocess
import sys

import pytest

import ember
from ember.demo import MODELS, train_digits


def test_cnn_model_shapes():
    net = MODELS["cnn"][0]()
    assert net(ember.zeros(5, 1, 8, 8)).shape == (5, 10)
    s = ember.summary(net, (1, 8, 8), verbose=False)
    assert [r.output_shape for r in s.layers if r.kind == "MaxPool2d"] == [(8, 4, 4), (16, 2, 2)]
    assert s.issues == []


@pytest.mark.slow
def test_cnn_demo_reaches_97_percent():
    acc = train_digits("cnn", verbose=False)
    assert acc >= 0.97


def test_cnn_demo_command_runs():
    out = subprocess.run(
        [sys.executable, "-m", "ember", "demo", "--model", "cnn", "--epochs", "1"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "test accuracy" in out.stdout
