"""Session 29's review mends: views found through their root's weak list (no walk over the
collector), bfloat16 views following their base."""

import gc

import numpy as np
import pytest

import ember


def test_bfloat16_view_follows_its_base():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        x = lib.zeros(3, 4, dtype=lib.bfloat16)
        v = x[0:1]
        x.requires_grad_()
        assert v.requires_grad and v.is_leaf
        x.requires_grad_(False)
        assert not v.requires_grad


def test_dead_views_are_dropped_from_their_root():
    x = ember.zeros(16, 32)
    for i in range(5000):  # (a loader's x[i:i+8] per batch: the list must not grow with them)
        x[i % 16]
        x[i % 8 : i % 8 + 8].reshape(-1)
    assert len(x._views) < 128
    kept = [x[0], x[1:3]]
    gc.collect()
    x.requires_grad_()
    assert [w() for w in x._views] == kept  # (the live ones, once each)
    assert all(v.requires_grad for v in kept)


def test_requires_grad_toggle_does_not_walk_the_collector(monkeypatch):
    x = ember.zeros(4, 4)
    v = x[0]
    monkeypatch.setattr(gc, "get_referrers", lambda *a: pytest.fail("walked the collector"))
    x.requires_grad_()
    assert v.requires_grad


def test_full_refuses_a_numpy_float64_beyond_float32():
    torch = pytest.importorskip("torch")
    for lib in (torch, ember):
        with pytest.raises(RuntimeError, match="without overflow"):
            lib.full((2,), np.float64(1e300))
        assert lib.full((2,), np.float64(np.inf)).tolist() == [np.inf, np.inf]
