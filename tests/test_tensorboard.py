"""ember.utils.tensorboard.SummaryWriter: what it writes, read back from the event files."""

import struct

import numpy as np
import pytest

import ember

tbx = pytest.importorskip("tensorboardX")
from tensorboardX.proto import event_pb2  # noqa: E402

from ember.utils.tensorboard import SummaryWriter  # noqa: E402


def _events(log_dir):
    """Every Event record in the TFRecord files under log_dir."""
    out = []
    for path in sorted(log_dir.rglob("events.out.tfevents.*")):
        data = path.read_bytes()
        i = 0
        while i < len(data):
            (n,) = struct.unpack("<Q", data[i : i + 8])
            event = event_pb2.Event()
            event.ParseFromString(data[i + 12 : i + 12 + n])
            out.append(event)
            i += 12 + n + 4  # length, its crc, the record, its crc
    return out


def test_scalars_histograms_images_and_text_are_written(tmp_path):
    with SummaryWriter(log_dir=str(tmp_path)) as writer:
        for step in range(3):
            writer.add_scalar("loss", ember.tensor(1.0 / (step + 1)), step)
        writer.add_scalars("acc", {"train": ember.tensor(0.5), "val": 0.25}, 0)
        writer.add_histogram("weights", ember.randn(100), 0)
        writer.add_image("img", ember.rand(3, 8, 8), 0)
        writer.add_images("batch", ember.rand(2, 3, 4, 4), 0)
        writer.add_text("note", "hello", 0)
    values = {}
    tags = set()
    for e in _events(tmp_path):
        for v in e.summary.value:
            tags.add(v.tag)
            if v.HasField("simple_value"):
                values.setdefault(v.tag, []).append((e.step, v.simple_value))
    assert values["loss"] == [(0, 1.0), (1, 0.5), (2, pytest.approx(1 / 3))]
    assert {"weights", "img", "batch"} <= tags
    assert any(t.startswith("note") for t in tags)
    scalars = [
        v.simple_value
        for e in _events(tmp_path)
        for v in e.summary.value
        if v.tag in ("acc", "acc_train", "acc_val", "acc/train", "acc/val")
    ]
    assert sorted(scalars) == [0.25, 0.5]


def test_histogram_counts_every_value(tmp_path):
    x = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    with SummaryWriter(str(tmp_path)) as writer:
        writer.add_histogram("h", ember.tensor(x), 7)
    (histo,) = [v.histo for e in _events(tmp_path) for v in e.summary.value if v.tag == "h"]
    assert histo.num == 1000
    assert histo.min == pytest.approx(x.min()) and histo.max == pytest.approx(x.max())
    assert histo.sum == pytest.approx(x.sum(), rel=1e-4, abs=1e-3)


def test_add_graph_is_refused(tmp_path):
    with SummaryWriter(str(tmp_path)) as writer:
        with pytest.raises(NotImplementedError, match="TorchScript"):
            writer.add_graph(ember.nn.Linear(2, 2), ember.randn(1, 2))
