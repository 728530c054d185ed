"""Lead fixes of session 39, each against PyTorch."""

import warnings

import pytest

import ember
import ember.nn as enn

torch = pytest.importorskip("torch")

LAYER_OPTIONS = [
    {},
    {"batch_first": True},
    {"batch_first": True, "norm_first": True},
    {"batch_first": True, "bias": False},
    {"batch_first": True, "activation": "tanh"},
    {"batch_first": True, "layer_norm_eps": 1e-6},
    {"batch_first": True, "nhead": 1},
]


def _notices(lib, options, **encoder_kw):
    opts = {"d_model": 8, "nhead": 2, "dim_feedforward": 16, **options}
    if opts.get("activation") == "tanh":
        opts["activation"] = lib.tanh
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        layer = lib.nn.TransformerEncoderLayer(**opts)
        if "layer_norm_eps" in options:  # torch checks norm1.eps against norm2.eps
            layer.norm2.eps = 1e-5
        encoder = lib.nn.TransformerEncoder(layer, 2, **encoder_kw)
    return [str(w.message) for w in caught], encoder.use_nested_tensor


@pytest.mark.parametrize("options", LAYER_OPTIONS)
@pytest.mark.parametrize("enable", [True, False])
def test_transformer_encoder_nested_tensor_notice_as_torch(options, enable):
    got, got_use = _notices(ember, options, enable_nested_tensor=enable)
    want, want_use = _notices(torch, options, enable_nested_tensor=enable)
    assert got == want
    assert got_use == want_use


def test_transformer_encoder_nested_notice_points_at_the_caller():
    layer = enn.TransformerEncoderLayer(8, 2, 16)
    with pytest.warns(UserWarning, match="batch_first was not True") as record:
        enn.TransformerEncoder(layer, 1)
    assert record[0].filename == __file__
