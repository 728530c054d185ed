"""Recurrent layers: RNN, LSTM, GRU (stacked, bidirectional, variable-length) and their cells.

PyTorch's API, defaults and parameter names (``weight_ih_l0``, ``bias_hh_l1_reverse``, ...), so a
torch state_dict loads as it is. Each layer and direction is one call of a whole-sequence C++
kernel (``F.lstm_layer`` / ``F.gru_layer`` / ``F.rnn_layer``); stacking, directions, dropout
between layers, ``batch_first`` and unbatched input are handled here.
"""

from __future__ import annotations

import math
import numbers
import operator
import warnings

import numpy as np

from ember import _device, _lowp, ops
from ember._errors import BadDtype, BadShapeOrValue
from ember.autograd.function import Function
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.module import Module, Parameter, _check_size
from ember.nn.utils.rnn import PackedSequence, _pack, _unpack
from ember.random import rng as _global_rng
from ember.tensor import Tensor, get_default_dtype


class _DtypeMismatch(BadDtype, ValueError):
    """An input whose dtype is not the parameters': torch's ValueError (still a BadDtype)."""


_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}
_PROJ_LSTM_ONLY = "proj_size argument is only supported for LSTM, not RNN or GRU"


class _LayerDropout(Function):
    # Inverted dropout between stacked layers: y = x * mask / (1 - p), mask ~ Bernoulli(1 - p)
    # from ember's seeded generator. Private to this file: the public F.dropout / nn.Dropout
    # live in their own module.
    @staticmethod
    def forward(ctx, x, p):
        mask = (_global_rng().random(x.shape) >= p).astype(x.dtype)
        if p < 1:  # p = 1 (allowed, as PyTorch): everything dropped, no 1 / 0
            mask *= 1.0 / (1.0 - p)
        ctx.mask = mask
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.mask, None

    @staticmethod
    def backward_graph(ctx, g):  # linear in g: the same product, recorded (double backward)
        return g * Tensor(ctx.mask), None


def _check_proj_size(cls: str, mode: str, v, hidden_size: int) -> int:
    # PyTorch's messages: an LSTM with projections needs 0 <= proj_size < hidden_size.
    if isinstance(v, bool) or not isinstance(v, numbers.Integral):
        raise TypeError(f"{cls}: proj_size must be an int, got {v!r}")
    if v < 0:
        raise ValueError(
            f"{cls}: proj_size should be a positive integer or zero to disable projections, got {v}"
        )
    if v >= hidden_size:
        raise ValueError(
            f"{cls}: proj_size has to be smaller than hidden_size, got proj_size={v}, "
            f"hidden_size={hidden_size}"
        )
    if v and mode != "LSTM":
        raise ValueError(f"{cls}: {_PROJ_LSTM_ONLY}")
    return int(v)


class RNNBase(Module):
    """The shared machinery of RNN, LSTM and GRU (see those for the documentation)."""

    def __init__(
        self,
        mode: str,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
        proj_size: int = 0,
        device=None,
        dtype=None,
    ):
        super().__init__()
        _device.check(device)
        cls = type(self).__name__
        if mode not in _GATES:
            raise ValueError(f"{cls}: Unrecognized RNN mode: {mode}")
        self.mode = mode
        self.input_size = _check_size(cls, "input_size", input_size)
        self.hidden_size = _check_size(cls, "hidden_size", hidden_size)
        self.num_layers = _check_size(cls, "num_layers", num_layers)
        # PyTorch's checks, error types and messages.
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, numbers.Real)
            or not 0 <= dropout <= 1
        ):
            raise ValueError(
                f"{cls}: dropout should be a number in range [0, 1] representing the probability "
                f"of an element being zeroed, got {dropout!r}"
            )
        if dropout > 0 and num_layers == 1:
            warnings.warn(
                "dropout option adds dropout after all but last recurrent layer, so non-zero "
                f"dropout expects num_layers greater than 1, but got dropout={dropout} and "
                f"num_layers={num_layers}",
                stacklevel=3,
            )
        # (torch checks these two here; bidirectional=1 builds a layer that forward refuses)
        for name, v in (("bias", bias), ("batch_first", batch_first)):
            if not isinstance(v, bool):
                raise TypeError(f"{cls}: {name} should be of type bool, got: {type(v).__name__}")
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = _check_proj_size(cls, mode, proj_size, self.hidden_size)
        dtype = np.dtype(dtype or get_default_dtype())
        g = _GATES[mode] * self.hidden_size
        d = 2 if self.bidirectional else 1
        # The width of h and of each direction's output: proj_size with projections.
        out = self.proj_size or self.hidden_size
        self._flat_weights_names = []
        for layer in range(self.num_layers):
            in_size = self.input_size if layer == 0 else out * d
            for suffix in ("", "_reverse")[:d]:
                shapes = [("weight_ih", (g, in_size)), ("weight_hh", (g, out))]
                if self.bias:
                    shapes += [("bias_ih", (g,)), ("bias_hh", (g,))]
                if self.proj_size:
                    shapes.append(("weight_hr", (self.proj_size, self.hidden_size)))
                for base, shape in shapes:
                    name = f"{base}_l{layer}{suffix}"
                    setattr(self, name, Parameter(np.empty(shape, dtype)))
                    self._flat_weights_names.append(name)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Every weight and bias ~ U(-1/sqrt(hidden_size), 1/sqrt(hidden_size)), as PyTorch."""
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def flatten_parameters(self) -> None:
        """A no-op, as PyTorch's on CPU: the kernels read the parameters where they are. Kept
        so that code calling it (common after ``.to()`` / DataParallel) runs unchanged."""

    @property
    def _flat_weights(self):
        """The parameters in ``_flat_weights_names`` order (torch's attribute, which code
        reading the weights of a fused layer uses); always the current ones."""
        return [getattr(self, n, None) for n in self._flat_weights_names]

    @property
    def all_weights(self):
        d = 2 if self.bidirectional else 1
        names = self._flat_weights_names
        per = len(names) // (self.num_layers * d)
        return [
            [getattr(self, n) for n in names[i * per : (i + 1) * per]]
            for i in range(self.num_layers * d)
        ]

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.proj_size != 0:
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        if not self.bias:
            s += ", bias=False"
        if self.batch_first:
            s += ", batch_first=True"
        if self.dropout != 0:
            s += f", dropout={self.dropout}"
        if self.bidirectional is not False:  # as given, as torch: bidirectional=1 shows 1
            s += f", bidirectional={self.bidirectional}"
        return s

    # ---- forward --------------------------------------------------------------------------
    def _layer(self, x, h0, c0, weights, lengths, reverse, joined):
        """One layer and direction -> (y, h_n, c_n or None). joined: y goes only into the
        directions' cat, dropout or the next layer (F.lstm_layer's _joined: not copied)."""
        w_hr = weights[-1] if self.proj_size else None
        w = weights[:-1] if self.proj_size else weights
        w = w if self.bias else w + [None, None]
        if self.mode == "LSTM":
            y, (h, c) = F.lstm_layer(
                x, (h0, c0), *w, lengths=lengths, reverse=reverse, w_hr=w_hr, _joined=joined
            )
            return y, h, c
        if self.mode == "GRU":
            y, h = F.gru_layer(x, h0, *w, lengths=lengths, reverse=reverse, _joined=joined)
        else:
            act = "relu" if self.mode == "RNN_RELU" else "tanh"
            y, h = F.rnn_layer(
                x, h0, *w, lengths=lengths, reverse=reverse, nonlinearity=act, _joined=joined
            )
        return y, h, None

    def _check_hidden(self, h, name, expected):
        if not isinstance(h, Tensor):
            h = Tensor(np.asarray(h))
        if not _lowp.is_float(h.data.dtype):
            raise TypeError(f"{type(self).__name__}: {name} must be floating point, got {h.dtype}")
        if h.shape != expected:
            raise BadShapeOrValue(
                f"{type(self).__name__}: Expected hidden size {expected} for {name}, "
                f"got {tuple(h.shape)}"
            )
        return h

    def _check_hidden_dims(self, hx, unbatched, h_shape):
        # torch's check and text before the shapes: 2-D input takes 2-D states, 3-D input 3-D
        pair = self.mode == "LSTM" and isinstance(hx, tuple | list) and len(hx) == 2
        states = hx if pair else (hx,)
        dims = [getattr(h, "ndim", None) for h in states]
        want, kind = (2, "unbatched 2-D") if unbatched else (3, "batched 3-D")
        if None in dims or all(k == want for k in dims):
            return  # (not tensors: _check_hidden's errors)
        got = ", ".join(str(tuple(h.shape)) for h in states)
        if pair:
            which = f"hx and cx should also be {want}-D but got ({dims[0]}-D, {dims[1]}-D) tensors"
        else:
            which = f"hx should also be {want}-D but got {dims[0]}-D tensor"
        raise BadShapeOrValue(
            f"{type(self).__name__}: For {kind} input, {which} (h_0 should be {h_shape}; got {got})"
        )

    def forward(self, input, hx=None, lengths=None):
        cls = type(self).__name__
        if not isinstance(self.bidirectional, bool):  # torch builds the layer, its kernel refuses
            raise TypeError(
                f"{cls}: bidirectional should be of type bool, got: "
                f"{type(self.bidirectional).__name__}"
            )
        packed = isinstance(input, PackedSequence)
        if packed:
            if lengths is not None:
                raise ValueError(f"{cls}: pass lengths either in the PackedSequence or as lengths")
            # Unpacked in the packing's sorted order (longest first), as torch runs it: the
            # kernels' per-step products then skip the sequences already finished (their
            # rows are the last ones); the states are permuted in and out below.
            sorted_indices, unsorted_indices = input.sorted_indices, input.unsorted_indices
            input, lengths = _unpack(input._replace(sorted_indices=None), cls)
        dtype = self.weight_ih_l0.dtype
        if isinstance(input, Tensor) and input.dtype != dtype:  # torch's check and type
            raise _DtypeMismatch(
                f"{cls}: input dtype ({input.dtype}) does not match weight dtype ({dtype}); "
                f"convert the input or the model"
            )
        x = F._float_input(input, cls, "input", dtype)
        if x.ndim not in (2, 3):
            raise ValueError(
                f"{cls}: Expected input to be 2D (unbatched) or 3D, got {x.ndim}D "
                f"with shape {x.shape}"
            )
        if x.shape[-1] != self.input_size:
            raise BadShapeOrValue(
                f"{cls}: input.size(-1) must be equal to input_size. Expected "
                f"{self.input_size}, got {x.shape[-1]} (input shape {x.shape})"
            )
        unbatched = x.ndim == 2
        if unbatched:
            if lengths is not None:
                raise ValueError(f"{cls}: lengths needs batched (3-D) input")
            x = x.unsqueeze(1)
        elif self.batch_first and not packed:
            x = x.transpose(0, 1)
        t, n = x.shape[0], x.shape[1]
        if t < 1:  # an empty batch (N = 0) is fine, as in PyTorch
            raise BadShapeOrValue(f"{cls}: input must have at least one step (seq_len > 0)")
        lens = F._rnn_lengths(lengths, n, t, cls)

        d = 2 if self.bidirectional else 1
        ld = self.num_layers * d
        state_shape = (ld, self.hidden_size) if unbatched else (ld, n, self.hidden_size)
        h0 = c0 = None
        if hx is not None:
            h_shape = state_shape[:-1] + (self.proj_size or self.hidden_size,)
            self._check_hidden_dims(hx, unbatched, h_shape)
            if self.mode == "LSTM":
                if not isinstance(hx, tuple | list) or len(hx) != 2:
                    raise TypeError(f"{cls}: hx must be a tuple (h_0, c_0) or None")
                h0 = self._check_hidden(hx[0], "h_0", h_shape)
                c0 = self._check_hidden(hx[1], "c_0", state_shape)
            else:
                if isinstance(hx, tuple | list):
                    raise TypeError(f"{cls}: hx must be a Tensor (h_0) or None, not a tuple")
                h0 = self._check_hidden(hx, "h_0", state_shape)
            if unbatched:
                h0 = h0.unsqueeze(1)
                c0 = c0.unsqueeze(1) if c0 is not None else None

        if packed and sorted_indices is not None:
            si = np.asarray(
                sorted_indices.data if isinstance(sorted_indices, Tensor) else sorted_indices
            )
            h0 = None if h0 is None else h0[:, si]
            c0 = None if c0 is None else c0[:, si]

        weights = self.all_weights
        layer_in = x
        hs, cs = [], []
        for layer in range(self.num_layers):
            outs = []
            for direction in range(d):
                k = layer * d + direction
                y, h, c = self._layer(
                    layer_in,
                    None if h0 is None else h0[k],
                    None if c0 is None else c0[k],
                    weights[k],
                    lens,
                    direction == 1,
                    d == 2 or layer < self.num_layers - 1,
                )
                outs.append(y)
                hs.append(h)
                cs.append(c)
            layer_in = outs[0] if d == 1 else ops.cat(outs, dim=2)
            if self.dropout > 0 and self.training and layer < self.num_layers - 1:
                layer_in = _LayerDropout.apply(layer_in, self.dropout)

        output = layer_in
        # (stacked even for one state: a fresh tensor, not a view, as torch's h_n, which
        # training loops detach_())
        h_n = ops.stack(hs)
        c_n = None
        if self.mode == "LSTM":
            c_n = ops.stack(cs)
        if unbatched:
            output = output.squeeze(1)
            h_n = h_n.squeeze(1)
            c_n = c_n.squeeze(1) if c_n is not None else None
        elif packed:
            output = _pack(output, lengths, None)
            if sorted_indices is not None:
                output = PackedSequence(
                    output.data, output.batch_sizes, sorted_indices, unsorted_indices
                )
                ui = np.asarray(
                    unsorted_indices.data
                    if isinstance(unsorted_indices, Tensor)
                    else unsorted_indices
                )
                h_n = h_n[:, ui]
                c_n = None if c_n is None else c_n[:, ui]
        elif self.batch_first:
            output = output.transpose(0, 1)
        return output, ((h_n, c_n) if self.mode == "LSTM" else h_n)


class RNN(RNNBase):
    r"""Elman RNN: h_t = act(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh), act tanh or relu.

    Args:
        input_size, hidden_size: features of x and of h.
        num_layers: stacked layers (each takes the previous one's output).
        nonlinearity: 'tanh' (default) or 'relu'.
        bias: learn b_ih and b_hh.
        batch_first: input and output are (N, T, *) instead of (T, N, *) (not h_n).
        dropout: inverted dropout on each layer's output except the last, in training only;
            in [0, 1] (1 drops everything; non-zero with num_layers=1 warns, as PyTorch).
        bidirectional: a second direction per layer; outputs are concatenated.
        dtype: parameter dtype (float32 by default).

    Shape:
        input (T, N, input_size) (or (N, T, input_size) with batch_first, or unbatched
        (T, input_size)); h_0 (num_layers * D, N, H) or None for zeros, D = 2 if bidirectional.
        ``lengths`` (keyword, N ints in [1, T]) or a PackedSequence input: sequence n has
        lengths[n] valid steps; padded steps output zeros, leave h_n at each sequence's last
        valid step and get no gradient.
        -> (output (T, N, D * H), h_n (num_layers * D, N, H))

    Example::

        >>> rnn = nn.RNN(10, 20, 2)
        >>> output, h_n = rnn(ember.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        ((5, 3, 20), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False, device=None, dtype=None,
                 *, proj_size=None):  # fmt: skip
        if proj_size is not None:  # as PyTorch: even proj_size=0 is refused
            raise ValueError(f"RNN: {_PROJ_LSTM_ONLY}")
        if nonlinearity not in ("tanh", "relu"):  # torch's type and text
            raise ValueError(
                f"RNN: Unknown nonlinearity {nonlinearity!r}. Select from 'tanh' or 'relu'."
            )
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)  # fmt: skip
        self.nonlinearity = nonlinearity


class LSTM(RNNBase):
    r"""Long short-term memory, PyTorch's formulation and gate order (i, f, g, o)::

        i, f, g, o = sigma, sigma, tanh, sigma (x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
        c_t = f * c_{t-1} + i * g,   h_t = o * tanh(c_t)

    Args and shapes as :class:`RNN` (no nonlinearity), with the state a pair:
        hx = (h_0, c_0), each (num_layers * D, N, H), or None
        -> (output (T, N, D * H), (h_n, c_n))

    ``proj_size`` > 0 (and < hidden_size) makes an LSTM with projections, as PyTorch's: each
    layer and direction gets ``weight_hr_l{k}`` (proj_size, H) and h_t = (o * tanh(c_t)) W_hr^T,
    so h_0 / h_n are (num_layers * D, N, proj_size), the output (T, N, D * proj_size), and
    weight_hh is (4H, proj_size); c_0 / c_n keep H.

    Example::

        >>> lstm = nn.LSTM(10, 20, 2, batch_first=True)
        >>> output, (h_n, c_n) = lstm(ember.randn(3, 5, 10))
        >>> output.shape, h_n.shape, c_n.shape
        ((3, 5, 20), (2, 3, 20), (2, 3, 20))
        >>> lstm = nn.LSTM(10, 20, proj_size=5)
        >>> output, (h_n, c_n) = lstm(ember.randn(4, 3, 10))
        >>> output.shape, h_n.shape, c_n.shape
        ((4, 3, 5), (1, 3, 5), (1, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None):  # fmt: skip
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, proj_size, device, dtype)  # fmt: skip


class GRU(RNNBase):
    r"""Gated recurrent unit, PyTorch's formulation and gate order (r, z, n)::

        r = sigma(W_ir x + b_ir + W_hr h + b_hr),  z = sigma(W_iz x + b_iz + W_hz h + b_hz)
        n = tanh(W_in x + b_in + r * (W_hn h + b_hn)),  h' = (1 - z) * n + z * h

    Args and shapes as :class:`RNN` (no nonlinearity).

    Example::

        >>> gru = nn.GRU(10, 20, bidirectional=True)
        >>> output, h_n = gru(ember.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        ((5, 3, 40), (2, 3, 20))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, proj_size=None):  # fmt: skip
        if proj_size is not None:  # as PyTorch: even proj_size=0 is refused
            raise ValueError(f"GRU: {_PROJ_LSTM_ONLY}")
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, device=device, dtype=dtype)  # fmt: skip


# ---- cells --------------------------------------------------------------------------------


class RNNCellBase(Module):
    def __init__(
        self, input_size: int, hidden_size: int, bias: bool, gates: int, device=None, dtype=None
    ):
        super().__init__()
        _device.check(device)
        cls = type(self).__name__
        self.input_size = _check_size(cls, "input_size", input_size)
        self.hidden_size = _check_size(cls, "hidden_size", hidden_size)
        self.bias = bias  # as given, as torch (bias=1 shows in the repr)
        dtype = np.dtype(dtype or get_default_dtype())
        g = gates * self.hidden_size
        self.weight_ih = Parameter(np.empty((g, self.input_size), dtype))
        self.weight_hh = Parameter(np.empty((g, self.hidden_size), dtype))
        if self.bias:
            self.bias_ih = Parameter(np.empty(g, dtype))
            self.bias_hh = Parameter(np.empty(g, dtype))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        stdv = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            init.uniform_(p, -stdv, stdv)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if self.bias is not True:
            s += f", bias={self.bias}"
        nl = getattr(self, "nonlinearity", "tanh")
        if nl != "tanh":
            s += f", nonlinearity={nl}"  # unquoted, as PyTorch
        return s

    def _w(self):
        return self.weight_ih, self.weight_hh, self.bias_ih, self.bias_hh

    def _checked_w(self, op: str, gates: int):
        """(w_ih, w_hh, b_ih, b_hh, hidden_size) as F._rnn_weights checks them: once while the
        parameters and their arrays stay the same objects (a decoder calls the cell every step;
        the checks were ~3 us of a call). A parameter replaced, or its array (``.data =``,
        ``.to()``), is checked again."""
        w = wi, wh, bi, bh = self._w()
        key = (*w, wi.data, wh.data, bi if bi is None else bi.data, bh if bh is None else bh.data)
        hit = self.__dict__.get("_w_checked")
        if hit is not None and all(map(operator.is_, hit[0], key)):
            return hit[1]
        w_ih, w_hh, b_ih, b_hh, _, h, _ = F._rnn_weights(op, *w, gates)
        checked = (w_ih, w_hh, b_ih, b_hh, h)
        # (not kept when a weight had to be made contiguous: that copy is a recorded op)
        if all(map(operator.is_, checked, w)):
            self._w_checked = (key, checked)
        return checked


class RNNCell(RNNCellBase):
    """One Elman RNN step: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Shape: input (N, input_size) or (input_size,), hx (N, H) / (H,) or None -> h' like hx.

    Example::

        >>> cell = nn.RNNCell(10, 20)
        >>> cell(ember.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh", device=None, dtype=None):  # fmt: skip
        # (not checked here: torch builds the cell and refuses an unknown one in forward)
        super().__init__(input_size, hidden_size, bias, 1, device, dtype)
        self.nonlinearity = nonlinearity

    def forward(self, input, hx=None):
        nl = self.nonlinearity
        if nl not in ("tanh", "relu"):  # torch's RuntimeError (BadShapeOrValue is a ValueError too)
            raise BadShapeOrValue(
                f"rnn_cell: nonlinearity must be 'tanh' or 'relu' (Unknown nonlinearity: {nl})"
            )
        return F._h_cell("rnn_cell", input, hx, *self._checked_w("rnn_cell", 1), nl)


class LSTMCell(RNNCellBase):
    """One LSTM step (gate order i, f, g, o).

    Shape: input (N, input_size) or (input_size,), hx = (h, c) each (N, H) / (H,) or None
    -> (h', c').

    Example::

        >>> cell = nn.LSTMCell(10, 20)
        >>> h, c = cell(ember.randn(3, 10))
        >>> h.shape, c.shape
        ((3, 20), (3, 20))
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__(input_size, hidden_size, bias, 4, device, dtype)

    def forward(self, input, hx=None):
        if isinstance(hx, tuple | list) and (
            hx[0] is None or hx[1] is None if len(hx) == 2 else any(s is None for s in hx)
        ):
            # torch takes hx None or two tensors, never a pair holding None
            raise TypeError("LSTMCell: hx must be None or a tuple (h_0, c_0) of two tensors")
        return F._lstm_cell("lstm_cell", input, hx, *self._checked_w("lstm_cell", 4))


class GRUCell(RNNCellBase):
    """One GRU step (gate order r, z, n).

    Shape: input (N, input_size) or (input_size,), hx (N, H) / (H,) or None -> h'.

    Example::

        >>> cell = nn.GRUCell(10, 20)
        >>> cell(ember.randn(3, 10)).shape
        (3, 20)
    """

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__(input_size, hidden_size, bias, 3, device, dtype)

    def forward(self, input, hx=None):
        return F._h_cell("gru_cell", input, hx, *self._checked_w("gru_cell", 3), None)
