"""ember.summary: a layer-by-layer account of a model, with the course's numbers.

For each layer that runs (leaf modules, in call order) it gives the output shape, the parameter
count, the connection count, the FLOPs and the receptive field (size and jump) of one output
unit on the model's input. It also flags specs that do not add up (``issues``): a stated output
size that the layer's kernel, stride and padding do not give, and a layer that cannot take what
the previous one produced; and it remarks on strides that do not fit, leaving input rows or
columns unused (``remarks``).

Definitions (per sample; the batch dimension is left out everywhere):

- parameters: the layer's own parameter elements (weight and bias).
- connections: parameters x output positions (H*W of the output, 1 for a Linear), as the
  course (and LeNet-5's paper) counts them: C1 of LeNet-5, 6 filters 5x5 plus bias on a 28x28
  output, has 156 parameters and 122,304 connections. A pooling layer without parameters counts
  the inputs wired to each output: window area x output elements. Other layers: 0.
- FLOPs: a multiply and an add count as two; conv and linear 2 x weight elements per output
  position (+1 per output with a bias), pooling one per window element and output, activations
  one and batch norm two per element.
- receptive field: r_out = r_in + (dilation (k - 1)) j_in and j_out = j_in stride, from r = j = 1
  at the input; layers that mix all positions (Linear after Flatten) see the whole input and
  have no jump ("-").

Example::

    >>> m = nn.Sequential(nn.Conv2d(3, 15, 9, stride=2))
    >>> s = ember.summary(m, (3, 97, 97), verbose=False)
    >>> s.layers[0].output_shape, s.layers[0].params
    ((15, 45, 45), 3660)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ember.autograd.function import no_grad
from ember.nn import functional as F
from ember.nn.modules.activation import ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from ember.nn.modules.batchnorm import _BatchNorm
from ember.nn.modules.conv import Conv2d
from ember.nn.modules.linear import Identity, Linear
from ember.nn.modules.module import Module
from ember.nn.modules.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from ember.tensor import Tensor

_ELEMENTWISE = (ReLU, LeakyReLU, ELU, GELU, Sigmoid, Tanh, Softplus)


@dataclass
class LayerSummary:
    """One row: a leaf module's call."""

    name: str
    kind: str
    input_shape: tuple
    output_shape: tuple
    params: int
    trainable: int
    connections: int
    flops: int
    rf_size: tuple | None  # (h, w) on the model input, None when not spatial
    rf_jump: tuple | None  # (h, w), None once every position is mixed
    notes: list = field(default_factory=list)


@dataclass
class ModelSummary:
    """What ``ember.summary`` printed, as data. ``str()`` gives the table again."""

    input_shape: tuple
    layers: list
    total_params: int
    trainable_params: int
    total_connections: int
    total_flops: int
    issues: list  # what does not add up: stated shapes not produced, layers that cannot run
    remarks: list  # softer: strides that leave input rows/columns unused (the course's rule)

    def as_dicts(self) -> list[dict]:
        return [asdict(r) for r in self.layers]

    def __str__(self) -> str:
        return _format(self)


def _pairify(v) -> tuple[int, int]:
    if isinstance(v, tuple | list):
        return int(v[0]), int(v[1])
    return int(v), int(v)


def _positions(shape: tuple) -> int:
    """Output positions of one sample: H*W for (C, H, W), L for (C, L), 1 otherwise."""
    if len(shape) >= 2:
        return int(np.prod(shape[1:]))
    return 1


def _window(m):
    """(kernel, stride, padding (top, bottom, left, right), dilation, ceil_mode) of a windowed
    layer, or None."""
    if isinstance(m, Conv2d):
        pad = F._conv_padding(m.padding, m.kernel_size, m.stride, m.dilation, "summary")
        return m.kernel_size, m.stride, pad, m.dilation, False
    if isinstance(m, MaxPool2d | AvgPool2d):
        k = _pairify(m.kernel_size)
        s = _pairify(m.stride)
        p = _pairify(m.padding)
        d = _pairify(m.dilation) if isinstance(m, MaxPool2d) else (1, 1)
        return k, s, (p[0], p[0], p[1], p[1]), d, bool(m.ceil_mode)
    return None


def _layer_numbers(m, in_shape, out_shape, params):
    """(connections, flops) for one sample."""
    out_elems = int(np.prod(out_shape)) if out_shape else 1
    if isinstance(m, Conv2d):
        k = (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        flops = 2 * k * out_elems + (out_elems if m.bias is not None else 0)
        return params * _positions(out_shape), flops
    if isinstance(m, Linear):
        outs = out_elems  # (.., out_features): every leading position
        flops = 2 * m.in_features * outs + (outs if m.bias is not None else 0)
        lead = out_elems // max(m.out_features, 1)
        return params * lead, flops
    if isinstance(m, MaxPool2d | AvgPool2d):
        k = _pairify(m.kernel_size)
        area = k[0] * k[1]
        return area * out_elems + params * _positions(out_shape), area * out_elems
    if isinstance(m, AdaptiveAvgPool2d):
        h, w = in_shape[-2:]
        oh, ow = out_shape[-2:]
        area = -(-h // max(oh, 1)) * -(-w // max(ow, 1))
        return area * out_elems, area * out_elems
    if isinstance(m, _BatchNorm):
        return params * _positions(out_shape), 2 * out_elems
    if isinstance(m, _ELEMENTWISE):
        return 0, out_elems
    return params * _positions(out_shape) if params else 0, 0


def _check_window(name, m, in_shape, remarks, notes):
    """The course's fit rule: (W - K + 2P) / S + 1 should be an integer; when it is not,
    the layer floors (as PyTorch) and the last rows/columns of the padded input go unused."""
    win = _window(m)
    if win is None or len(in_shape) < 3:
        return
    (kh, kw), (sh, sw), (pt, pb, pl, pr), (dh, dw), ceil_mode = win
    if ceil_mode:
        return
    left = []
    for axis, size, k, s, d, p in (
        ("row", in_shape[-2], kh, sh, dh, pt + pb),
        ("column", in_shape[-1], kw, sw, dw, pl + pr),
    ):
        span = size + p - (d * (k - 1) + 1)
        if span >= 0 and span % s:
            left.append(f"{span % s} {axis}{'s' if span % s > 1 else ''}")
            remarks.append(
                f"{name} ({type(m).__name__}): (W - K + 2P) / S = ({size} - {d * (k - 1) + 1} "
                f"+ {p}) / {s} is not an integer: unused, the last {left[-1]} of the padded input"
            )
    if left:
        notes.append("stride does not fit: " + " and ".join(left) + " unused")


def _rf_step(m, rf, in_shape, out_shape, model_spatial):
    """Receptive field (size, jump) of m's output from its input's."""
    size, jump = rf
    if size is None:
        return None, None
    if jump is None:  # already global
        return size, None
    win = _window(m)
    if win is not None:
        (kh, kw), (sh, sw), _, (dh, dw), _ = win
        return (
            (size[0] + dh * (kh - 1) * jump[0], size[1] + dw * (kw - 1) * jump[1]),
            (jump[0] * sh, jump[1] * sw),
        )
    if isinstance(m, AdaptiveAvgPool2d) and len(in_shape) >= 2 and len(out_shape) >= 2:
        (h, w), (oh, ow) = in_shape[-2:], out_shape[-2:]
        kh, kw = -(-h // max(oh, 1)), -(-w // max(ow, 1))
        sh, sw = max(h // max(oh, 1), 1), max(w // max(ow, 1), 1)
        size = (min(size[0] + (kh - 1) * jump[0], model_spatial[0]),
                min(size[1] + (kw - 1) * jump[1], model_spatial[1]))  # fmt: skip
        return size, (jump[0] * sh, jump[1] * sw)
    if len(in_shape) == len(out_shape) and in_shape[1:] == out_shape[1:]:
        return size, jump  # elementwise, batch norm, channel-only maps
    return model_spatial, None  # Flatten, Linear, anything that mixes positions


def summary(
    model: Module,
    input_shape,
    expected=None,
    dtype=np.float32,
    verbose: bool = True,
    strict: bool = False,
) -> ModelSummary:
    """Print and return a per-layer summary of ``model`` on one input of ``input_shape``.

    Args:
        model: any Module; its leaf modules are reported in the order they run.
        input_shape: one sample's shape without the batch dimension, e.g. (3, 97, 97).
        expected: the output shapes the spec states, to check: a dict {layer name: shape}
            or a list with one shape (or None) per reported layer.
        dtype: the dtype of the probe input.
        verbose: print the table.
        strict: raise ValueError when the spec does not add up (any issue), instead of
            flagging it.

    Returns:
        ModelSummary with ``layers`` (LayerSummary rows: name, kind, input_shape,
        output_shape, params, trainable, connections, flops, rf_size, rf_jump, notes),
        totals, ``issues`` and ``remarks``.
    """
    if isinstance(input_shape, int):
        input_shape = (input_shape,)
    input_shape = tuple(int(s) for s in input_shape)
    if not input_shape or min(input_shape) < 1:
        raise ValueError(f"summary: input_shape must hold positive sizes, got {input_shape}")
    if not isinstance(model, Module):
        raise TypeError(f"summary: model must be an ember.nn.Module, got {type(model).__name__}")
    spatial = input_shape[-2:] if len(input_shape) >= 3 else None
    start_rf = ((1, 1), (1, 1)) if spatial else (None, None)

    rows: list[LayerSummary] = []
    issues: list[str] = []
    remarks: list[str] = []
    rf_of: dict[int, tuple] = {}
    keep: list = []  # tensors whose ids key rf_of stay alive
    seen_names: dict[str, int] = {}

    def known_rf(x):
        if id(x) in rf_of:
            return rf_of[id(x)]
        if not rf_of:
            return start_rf
        # A tensor made outside a layer (a residual sum, a concatenation): the widest field so
        # far, which is what such merges of parallel branches see.
        return max(rf_of.values(), key=lambda r: (0, 0) if r[0] is None else (r[0][0] * r[0][1], 1))

    class _Stop(Exception):
        pass

    def hook(name, m, orig):
        def run(*args, **kwargs):
            x = args[0] if args else None
            in_shape = tuple(x.shape[1:]) if isinstance(x, Tensor | np.ndarray) else ()
            try:
                out = orig(*args, **kwargs)
            except (ValueError, TypeError) as e:
                issues.append(f"{name} ({type(m).__name__}) cannot take input {in_shape}: {e}")
                raise _Stop from e
            y = out[0] if isinstance(out, tuple) else out
            out_shape = tuple(y.shape[1:])
            n = sum(int(p.data.size) for p in m.parameters())
            t = sum(int(p.data.size) for p in m.parameters() if p.requires_grad)
            conns, flops = _layer_numbers(m, in_shape, out_shape, n)
            notes: list[str] = []
            count = seen_names.get(name, 0)
            seen_names[name] = count + 1
            label = name if count == 0 else f"{name}#{count + 1}"
            _check_window(label, m, in_shape, remarks, notes)
            rf = _rf_step(m, known_rf(x), in_shape, out_shape, spatial)
            keep.append(y)
            rf_of[id(y)] = rf
            rows.append(
                LayerSummary(
                    label,
                    type(m).__name__,
                    in_shape,
                    out_shape,
                    n,
                    t,
                    conns,
                    flops,
                    rf[0],
                    rf[1],
                    notes,
                )  # fmt: skip
            )
            return out

        return run

    leaves = [
        (name or type(model).__name__, m)
        for name, m in model.named_modules()
        if not any(True for _ in m.children()) and not isinstance(m, Identity | type(None))
    ]
    modes = [(m, m.training) for m in model.modules()]
    for name, m in leaves:
        object.__setattr__(m, "forward", hook(name, m, m.forward))
    x = Tensor(np.zeros((1,) + input_shape, dtype=dtype))
    keep.append(x)
    rf_of[id(x)] = start_rf
    try:
        model.eval()
        with no_grad():
            model(x)
    except _Stop:
        pass
    finally:
        for _, m in leaves:
            m.__dict__.pop("forward", None)
        for m, mode in modes:
            object.__setattr__(m, "training", mode)

    _check_expected(expected, rows, issues)
    result = ModelSummary(
        input_shape=input_shape,
        layers=rows,
        total_params=sum(p.data.size for p in model.parameters()),
        trainable_params=sum(p.data.size for p in model.parameters() if p.requires_grad),
        total_connections=sum(r.connections for r in rows),
        total_flops=sum(r.flops for r in rows),
        issues=issues,
        remarks=remarks,
    )
    if verbose:
        print(_format(result))
    if strict and issues:
        raise ValueError("summary: the spec does not add up:\n  " + "\n  ".join(issues))
    return result


def _check_expected(expected, rows, issues) -> None:
    if expected is None:
        return
    if isinstance(expected, dict):
        by_name = {r.name: r for r in rows}
        pairs = []
        for name, shape in expected.items():
            if name not in by_name:
                issues.append(f"expected shape given for {name!r}, which is not a layer that ran")
                continue
            pairs.append((by_name[name], shape))
    else:
        expected = list(expected)
        if len(expected) != len(rows):
            issues.append(f"{len(expected)} expected shapes given for {len(rows)} layers")
        pairs = list(zip(rows, expected))
    for row, shape in pairs:
        if shape is None:
            continue
        shape = tuple(int(s) for s in shape)
        if shape != row.output_shape:
            msg = f"{row.name} ({row.kind}): the spec states output {shape}, but "
            msg += f"its kernel, stride and padding give {row.output_shape}"
            issues.append(msg)
            row.notes.append(f"stated {shape}")


def _fmt_pair(p) -> str:
    if p is None:
        return "-"
    return f"{p[0]}" if p[0] == p[1] else f"{p[0]}x{p[1]}"


def _format(s: ModelSummary) -> str:
    head = (
        f"{'layer':<22} {'output shape':<16} {'params':>10} {'connections':>13} "
        f"{'FLOPs':>13} {'RF':>7} {'jump':>5}"
    )
    lines = [f"input {s.input_shape}", head, "-" * len(head)]
    for r in s.layers:
        label = f"{r.name} ({r.kind})"
        if len(label) > 22:
            label = label[:21] + "~"
        lines.append(
            f"{label:<22} {str(r.output_shape):<16} {r.params:>10,} {r.connections:>13,} "
            f"{r.flops:>13,} {_fmt_pair(r.rf_size):>7} {_fmt_pair(r.rf_jump):>5}"
            + ("  ! " + "; ".join(r.notes) if r.notes else "")
        )
    lines.append("-" * len(head))
    lines.append(
        f"total params {s.total_params:,} (trainable {s.trainable_params:,}), "
        f"connections {s.total_connections:,}, FLOPs {s.total_flops:,} per sample"
    )
    for remark in s.remarks:
        lines.append(f"note: {remark}")
    for issue in s.issues:
        lines.append(f"! {issue}")
    return "\n".join(lines)


__all__ = ["LayerSummary", "ModelSummary", "summary"]
