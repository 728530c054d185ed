"""ember.viz: the optimiser trajectories and the EWMA pictures are drawn (PNGs written) and
the trajectories behave as the course says."""

import numpy as np
import pytest

from ember import viz


def test_viz_writes_the_pngs(tmp_path):
    pytest.importorskip("matplotlib")
    written = viz.main([str(tmp_path)])
    assert len(written) == 4
    for p in written:
        with open(p, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_trajectories_converge_where_expected():
    for name in viz.OPTIMIZERS:
        tr = viz.trajectory("quadratic", name, steps=300)
        assert tr.shape[1] == 2 and np.all(np.isfinite(tr))
    # momentum goes further along the shallow valley than plain SGD in the same steps
    sgd, mom = viz.trajectory("quadratic", "SGD", 40), viz.trajectory("quadratic", "momentum", 40)
    assert np.linalg.norm(mom[-1]) < np.linalg.norm(sgd[-1])
    adam = viz.trajectory("rosenbrock", "Adam", 150)
    assert np.linalg.norm(adam[-1] - [1, 1]) < np.linalg.norm(adam[0] - [1, 1])


def test_every_optimiser_goes_down_the_rosenbrock_valley():
    """In the picture's step count each optimiser ends near the valley floor, past its bend at
    (0, 0) and at least halfway to the minimum (1, 1), without leaving the plotted area."""
    f, _, start, (xl, yl), _ = viz.FUNCTIONS["rosenbrock"]
    steps = viz.STEPS["rosenbrock"]
    d0 = np.linalg.norm(np.subtract(start, 1))
    ends = {}
    for name in viz.OPTIMIZERS:
        tr = viz.trajectory("rosenbrock", name, steps)
        assert len(tr) == steps + 1, name
        x, y = tr[-1]
        assert f(x, y) < 0.05 * f(*start) and x > 0.5, (name, tr[-1])
        assert np.linalg.norm(tr[-1] - 1) < 0.5 * d0, (name, tr[-1])
        assert xl[0] <= tr[:, 0].min() and tr[:, 0].max() <= xl[1], name
        assert yl[0] <= tr[:, 1].min() and tr[:, 1].max() <= yl[1], name
        ends[name] = np.linalg.norm(tr[-1] - 1)
    assert ends["Adam"] < ends["SGD"] and ends["momentum"] < ends["SGD"]


def test_ewma_bias_correction():
    x = np.full(20, 5.0)
    np.testing.assert_allclose(viz.ewma(x, 0.9, True), 5.0)  # corrected: right from the start
    raw = viz.ewma(x, 0.9, False)
    np.testing.assert_allclose(raw, 5.0 * (1 - 0.9 ** np.arange(1, 21)))
    with pytest.raises(ValueError, match="beta"):
        viz.ewma(x, 1.0)
    with pytest.raises(ValueError, match="unknown function"):
        viz.trajectory("himmelblau", "SGD")
