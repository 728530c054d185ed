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


# tests/test_gemm.py has a `threads` fixture of its own (one count per test)
@pytest.fixture
def threads():
    """Run a body at 1 and then 2 threads, restoring the setting."""
    before = ember.get_num_threads()

    def each():
        for n in (1, 2):
            ember.set_num_threads(n)
            yield n

    yield each
    ember.set_num_threads(before)
