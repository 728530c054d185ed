"""The lead's mends of session 33 (review26's findings), each against torch."""

import numpy as np
import pytest

import ember
import ember.nn.functional as F

torch = pytest.importorskip("torch")


@pytest.mark.parametrize("flag", [np.True_, np.False_])
def test_numpy_bool_flag_names_its_type_as_torch(flag):
    with pytest.raises(TypeError) as theirs:
        torch.nn.functional.dropout(torch.ones(3), training=flag)
    with pytest.raises(TypeError, match=r"must be bool, not numpy\.bool") as ours:
        F.dropout(ember.ones(3), training=flag)
    assert str(theirs.value).endswith("not numpy.bool") and str(ours.value).endswith("numpy.bool")
