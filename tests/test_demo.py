"""The digits data and the demo: an MLP reaches >= 0.95 test accuracy in seconds."""

import subprocess
import sys

import numpy as np
import pytest

import ember
from ember.datasets import load_digits, train_test_split
from ember.demo import train_digits


def test_digits_shapes_and_values():
    X, y = load_digits()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert y.shape == (1797,) and y.dtype == np.int64
    assert X.min() == 0 and X.max() == 16
    assert np.array_equal(np.bincount(y), [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])
    images, _ = load_digits(as_images=True)
    assert images.shape == (1797, 1, 8, 8)


def test_split_is_fixed_and_disjoint():
    X, y = load_digits()
    a = train_test_split(X, y)
    b = train_test_split(X, y)
    assert len(a[0]) == 1437 and len(a[1]) == 360
    np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError):
        train_test_split(X, y[:10])


def test_mlp_demo_reaches_95_percent():
    acc = train_digits("mlp", verbose=False)
    assert acc >= 0.95


def test_demo_command_runs():
    out = subprocess.run(
        [sys.executable, "-m", "ember", "demo", "--epochs", "2"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    assert "test accuracy" in out.stdout


def test_training_is_deterministic():
    a = train_digits("mlp", epochs=2, verbose=False)
    b = train_digits("mlp", epochs=2, verbose=False)
    assert a == b
    _ = ember
