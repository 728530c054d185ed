"""torch.stft and torch.istft, composed of ember's differentiable ops (padding by an index,
unfold into frames, window, ember.fft) plus one overlap-add Function for istft, so the
gradients with respect to the signal and the window are torch's."""

from __future__ import annotations

import warnings

import numpy as np

from ember import _complex, fft, ops
from ember._errors import BadDtype, BadShapeOrValue
from ember.autograd import graph as _graph
from ember.autograd.function import Function, named
from ember.tensor import Tensor

_PAD_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap", "constant": None}
_warned_window = False


def _window(window, n_fft: int, win_length: int, op: str, dtype) -> Tensor:
    """The window (ones when None, with torch's one-time warning), centred in n_fft points."""
    global _warned_window
    if window is None:
        if not _warned_window and op == "stft":
            _warned_window = True
            warnings.warn(
                "A window was not provided. A rectangular window will be applied, which is "
                "known to cause spectral leakage. To suppress this warning and use a "
                "rectangular window, explicitly set `window=torch.ones(n_fft)`.",
                UserWarning,
                stacklevel=3,
            )
        window = Tensor(np.ones(win_length, _complex.real_of(dtype)))
    window = ops._tensor_operand(window)
    if window.ndim != 1 or window.shape[0] != win_length:
        raise BadShapeOrValue(
            f"{op}: expected a 1-D window of size win_length={win_length}, got {window.shape}"
        )
    left = (n_fft - win_length) // 2
    if left or win_length < n_fft:
        z = Tensor(np.zeros(left, window.dtype))
        r = Tensor(np.zeros(n_fft - win_length - left, window.dtype))
        window = ops.cat([z, window, r])
    return window


def _sizes(op, n_fft, hop_length, win_length):
    if not isinstance(n_fft, int | np.integer) or n_fft < 1:
        raise BadShapeOrValue(f"{op}: expected 0 < n_fft, got n_fft={n_fft!r}")
    hop = n_fft // 4 if hop_length is None else hop_length
    win = n_fft if win_length is None else win_length
    if hop < 1:
        raise BadShapeOrValue(f"{op}: expected hop_length > 0, got {hop}")
    if not 0 < win <= n_fft:
        raise BadShapeOrValue(f"{op}: expected 0 < win_length <= n_fft, got win_length={win}")
    return int(n_fft), int(hop), int(win)


def stft(
    input,  # noqa: A002
    n_fft: int,
    hop_length=None,
    win_length=None,
    window=None,
    center: bool = True,
    pad_mode: str = "reflect",
    normalized: bool = False,
    onesided=None,
    return_complex=None,
) -> Tensor:
    """Short-time Fourier transform, as torch.stft: (B?, L) -> (B?, n_fft // 2 + 1 or n_fft,
    frames), frames = 1 + (L' - n_fft) // hop_length with L' the (centre-padded) length."""
    x = ops._tensor_operand(input)
    n_fft, hop, win = _sizes("stft", n_fft, hop_length, win_length)
    batched = x.ndim == 2
    if x.ndim not in (1, 2):
        raise BadShapeOrValue(f"stft: expected a 1-D or 2-D input, got shape {x.shape}")
    if x.data.dtype.kind in "biu":
        raise BadDtype(f"stft: expected a floating point or complex input, got {x.dtype}")
    is_complex = x.data.dtype.kind == "c"
    if return_complex is None:
        if not is_complex and not (window is not None and ops._kind(window) == "c"):
            raise BadShapeOrValue(
                "stft requires the return_complex parameter be given for real inputs, and "
                "will further require that return_complex=True in a future PyTorch release."
            )
        return_complex = True
    if pad_mode not in _PAD_MODES:
        raise NotImplementedError(
            f"stft: pad_mode must be one of {sorted(_PAD_MODES)}, got {pad_mode!r}"
        )
    w = _window(window, n_fft, win, "stft", x.dtype)
    if center:
        p = n_fft // 2
        n = x.shape[-1]
        if pad_mode == "reflect" and p >= n:
            raise BadShapeOrValue(f"stft: reflect padding of {p} needs an input longer than {n}")
        if pad_mode == "circular" and p > n:  # (torch's words)
            raise BadShapeOrValue(
                f"stft: Padding value causes wrapping around more than once (padding {p} of an "
                f"input of length {n})"
            )
        if pad_mode == "replicate" and n == 0:
            raise BadShapeOrValue("stft: replicate padding of an empty input (length 0)")
        if _PAD_MODES[pad_mode] is None:
            zeros = Tensor(np.zeros(x.shape[:-1] + (p,), x.dtype))
            x = ops.cat([zeros, x, zeros], -1)
        else:  # padding by an index: its gradient is the index's
            x = x[..., np.pad(np.arange(n), p, mode=_PAD_MODES[pad_mode])]
    if x.shape[-1] < n_fft:
        raise BadShapeOrValue(
            f"stft: n_fft={n_fft} is larger than the (padded) input {x.shape[-1]}"
        )
    frames = ops.unfold(x, -1, n_fft, hop) * w  # (B?, T, n_fft)
    twosided = onesided is False or is_complex or w.data.dtype.kind == "c"
    if onesided and twosided and (is_complex or w.data.dtype.kind == "c"):
        raise BadShapeOrValue("stft: onesided output is only possible for real input and window")
    spec = fft.fft(frames, dim=-1) if twosided else fft.rfft(frames, dim=-1)
    if normalized:
        spec = spec * float(n_fft) ** -0.5
    # torch's last node: the transpose of a batch, the squeeze of an unbatched input's
    spec = named(
        ops.transpose(spec, -1, -2), "TransposeBackward1" if batched else "SqueezeBackward4"
    )
    if not return_complex:
        warnings.warn(
            "stft with return_complex=False is deprecated. In a future pytorch release, stft "
            "will return complex tensors for all inputs, and return_complex=False will raise "
            "an error.",
            UserWarning,
            stacklevel=2,
        )
        return _complex.view_as_real(spec.contiguous())
    return spec


def _overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    b, t, n = frames.shape
    y = np.zeros((b, (t - 1) * hop + n), frames.dtype)
    for i in range(t):  # one slice a frame (NumPy's add.at is ~10x slower)
        y[:, i * hop : i * hop + n] += frames[:, i]
    return y


class _OverlapAdd(Function):
    """frames (B, T, n) -> y (B, (T - 1) hop + n): y[t hop + k] += frames[t, k]."""

    @staticmethod
    def forward(ctx, frames, hop):
        ctx.meta = (hop,) + frames.shape[1:]
        return _overlap_add(frames, hop)

    @staticmethod
    def backward(ctx, g):
        hop, t, n = ctx.meta
        idx = np.arange(t)[:, None] * hop + np.arange(n)
        return g[:, idx], None

    @staticmethod
    def backward_graph(ctx, g):  # linear: the forward is the backward's adjoint
        return _graph.linear(ctx, g, lambda v: _overlap_add(v, ctx.meta[0])), None


def istft(
    input,  # noqa: A002
    n_fft: int,
    hop_length=None,
    win_length=None,
    window=None,
    center: bool = True,
    normalized: bool = False,
    onesided=None,
    length=None,
    return_complex: bool = False,
) -> Tensor:
    """Inverse short-time Fourier transform, as torch.istft: overlap-add of the windowed
    inverse FFTs of the frames, divided by the summed squared window."""
    z = ops._tensor_operand(input)
    n_fft, hop, win = _sizes("istft", n_fft, hop_length, win_length)
    if z.data.dtype.kind != "c":
        raise BadDtype(f"istft: requires a complex-valued input tensor, got {z.dtype}")
    if z.ndim not in (2, 3):
        raise IndexError(f"istft: expected a 2-D or 3-D input, got shape {z.shape}")
    batched = z.ndim == 3
    if not batched:
        z = ops.unsqueeze(z, 0)
    onesided = (z.shape[1] != n_fft) if onesided is None else onesided
    want = n_fft // 2 + 1 if onesided else n_fft
    if z.shape[1] != want:
        raise BadShapeOrValue(
            f"istft: expected the frequency dim of size {want} (n_fft={n_fft}, onesided="
            f"{onesided}), got {z.shape[1]}"
        )
    if onesided and return_complex:
        raise BadShapeOrValue("istft: cannot have onesided output if the output is complex")
    w = _window(window, n_fft, win, "istft", z.dtype)
    if not return_complex and w.data.dtype.kind == "c":
        raise RuntimeError("istft: complex windows are incompatible with return_complex=False")
    if normalized:
        z = z * float(n_fft) ** 0.5
    spec = ops.transpose(z, 1, 2)  # (B, T, freq)
    if return_complex:
        frames = fft.ifft(spec, n=n_fft, dim=-1)
    else:  # a real signal: torch reads only the first half of a two-sided spectrum
        frames = fft.irfft(spec if onesided else spec[..., : n_fft // 2 + 1], n=n_fft, dim=-1)
    t = frames.shape[1]
    y = _OverlapAdd.apply(frames * w, hop)
    wsq = w * w  # torch divides by window.pow(2) summed, complex for a complex window
    env = _OverlapAdd.apply(ops.expand(ops.reshape(wsq, (1, 1, n_fft)), (1, t, n_fft)), hop)[0]
    start = n_fft // 2 if center else 0
    end = y.shape[-1] - (n_fft // 2 if center else 0)
    if length is not None:
        end = start + int(length)
    end_avail = min(end, y.shape[-1])
    y, env = y[:, start:end_avail], env[start:end_avail]
    if np.any(np.abs(env.data) < 1e-11):
        raise BadShapeOrValue(
            "istft: the window overlap-add envelope has zeros (window^2 summed over the "
            "frames is < 1e-11 somewhere): choose a window and hop_length that overlap"
        )
    y = y / env  # (the envelope depends on the window: its gradient too, as torch's)
    if end > end_avail:  # length beyond the signal: zeros, with torch's warning
        warnings.warn(
            "The length of signal is shorter than the length parameter. Result is being "
            "padded with zeros in the tail. Please check your center and hop_length settings.",
            UserWarning,
            stacklevel=2,
        )
        y = ops.cat([y, Tensor(np.zeros((y.shape[0], end - end_avail), y.dtype))], -1)
    return y if batched else named(y[0], "SqueezeBackward1")


def _stft_method(self, *args, **kwargs):
    return stft(self, *args, **kwargs)


def _istft_method(self, *args, **kwargs):
    return istft(self, *args, **kwargs)


Tensor.stft = _stft_method
Tensor.istft = _istft_method
