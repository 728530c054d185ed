import numpy as np
import pytest

import ember


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same random state, and grad mode on."""
    ember.manual_seed(0)
    ember.set_grad_enabled(True)
    yield


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
