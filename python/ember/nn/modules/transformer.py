"""Transformer layers with PyTorch's arguments, defaults and state_dict keys: the encoder and
decoder layers (post-norm or ``norm_first`` pre-norm, relu or gelu), their stacks, the full
encoder-decoder ``Transformer``, and the causal-mask helper."""

from __future__ import annotations

import copy
import warnings

import numpy as np

from ember import _lowp
from ember._errors import BadShapeOrValue
from ember.autograd.function import is_grad_enabled
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.activation import GELU, MultiheadAttention, ReLU, _is_causal_mask
from ember.nn.modules.container import ModuleList
from ember.nn.modules.dropout import Dropout
from ember.nn.modules.linear import Linear
from ember.nn.modules.module import Module
from ember.nn.modules.normalization import LayerNorm
from ember.tensor import Tensor, get_default_dtype


def generate_square_subsequent_mask(sz: int, dtype=None) -> Tensor:
    """The (sz, sz) causal mask as PyTorch makes it: 0 on and below the diagonal, -inf above
    (float, added to the logits: position i may attend to positions j <= i)."""
    if sz < 0:
        raise ValueError(f"generate_square_subsequent_mask: sz must be >= 0, got {sz}")
    upper = np.triu(np.ones((sz, sz), dtype=bool), 1)
    return Tensor(np.where(upper, -np.inf, 0.0).astype(np.dtype(dtype or get_default_dtype())))


def _activation(activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    # (torch: RuntimeError, "activation should be relu/gelu, not ...")
    raise BadShapeOrValue(f"activation should be relu/gelu or a callable, not {activation!r}")


def _detect_causal(mask, is_causal, size: int) -> bool:
    """PyTorch's rule: an explicit is_causal wins; else a mask equal to the causal mask is one."""
    if is_causal is not None:
        return bool(is_causal)
    if mask is None:
        return False
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    return _is_causal_mask(m, size, size)


def _canonical_mask(mask, name: str, other, other_name: str, dtype):
    """PyTorch's F._canonical_mask, run by its encoder stack and layer before attention: warns
    once when the padding mask's dtype differs from the attention mask's (``other``), then
    turns a bool mask (True = not allowed) into the float one it means (-inf / 0) of ``dtype``,
    so the layers below see two float masks and do not warn again."""
    if mask is None:
        return None
    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype != np.bool_ and not _lowp.is_float(m.dtype):
        raise F._AssertionValueError(f"only bool and floating types of {name} are supported")
    if other is not None:
        od = other.data.dtype if isinstance(other, Tensor) else np.asarray(other).dtype
        if od != m.dtype:
            warnings.warn(
                f"Support for mismatched {name} and {other_name} is deprecated. Use same type "
                "for both instead.",
                stacklevel=3,
            )
    if m.dtype != np.bool_:
        return mask
    return Tensor(np.where(m, -np.inf, 0.0).astype(np.dtype(dtype)))


def _nonzero(mask):
    return None if mask is None else Tensor(np.asarray(getattr(mask, "data", mask)) != 0)


def _seq_len(x, batch_first: bool) -> int:
    shape = np.shape(x.data if isinstance(x, Tensor) else x)
    if not shape:
        return 0  # not a sequence: the attention layer names the error
    return shape[1] if (len(shape) == 3 and batch_first) else shape[0]


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward block, each with a residual connection and LayerNorm
    (after: the default, as in the paper; before: ``norm_first=True``).

    Args:
        d_model, nhead, dim_feedforward=2048, dropout=0.1, activation='relu' | 'gelu' |
        callable, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True.

    forward(src, src_mask=None, src_key_padding_mask=None, is_causal=False): masks as in
    MultiheadAttention (bool True = not allowed, or float added).

    Example::

        >>> layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
        >>> layer(ember.randn(2, 10, 32)).shape
        (2, 10, 32)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation="relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.activation = _activation(activation)
        # torch's fast-path tag: 1 for relu, 2 for gelu, 0 for any other activation
        act = self.activation
        self.activation_relu_or_gelu = (
            1 if act is F.relu or isinstance(act, ReLU) else 2 if _relu_or_gelu(act) else 0
        )
        self.batch_first = batch_first

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal: bool = False):
        dtype = self.linear1.weight.dtype
        src_key_padding_mask = _canonical_mask(
            src_key_padding_mask, "src_key_padding_mask", src_mask, "src_mask", dtype
        )
        src_mask = _canonical_mask(src_mask, "src_mask", None, "", dtype)
        fast = self._fast_path(src)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask, is_causal, fast)
            x = x + self._ff_block(self.norm2(x), fast)
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask, is_causal, fast))
            x = self.norm2(x + self._ff_block(x, fast))
        return x

    def _fast_path(self, src) -> bool:
        """PyTorch's conditions for its eval-mode fused layer
        (torch._transformer_encoder_layer_fwd), whose attention ignores is_causal and gives a
        query with no key left NaN (see MultiheadAttention._fast_path); its other values are
        the same."""
        attn = self.self_attn
        if self.training or np.ndim(getattr(src, "data", src)) != 3 or not attn.batch_first:
            return False
        if attn.in_proj_bias is None or not attn._qkv_same_embed_dim or attn.num_heads % 2:
            return False
        if not _relu_or_gelu(self.activation) or self.norm1.eps != self.norm2.eps:
            return False
        if any(m._forward_hooks or m._forward_pre_hooks for m in self.modules()):
            return False
        params = (src, *self.self_attn.parameters(), *self.linear1.parameters())
        params += (*self.linear2.parameters(), *self.norm1.parameters(), *self.norm2.parameters())
        return not (is_grad_enabled() and any(getattr(p, "requires_grad", False) for p in params))

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal, fast=False):
        if fast:  # (no hooks to run: the fast path requires none)
            # torch's fused layer reads its (canonical, float) masks as bool: any non-zero
            # entry masks its key out, -inf or not (a finite additive bias included)
            am, kpm = (_nonzero(m) for m in (attn_mask, key_padding_mask))
            x = self.self_attn._attend(x, x, x, kpm, False, am, True, False, True)
            return self.dropout1(x[0])
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x, fast=False):
        # torch's fused layer knows only relu and exact gelu: a GELU(approximate="tanh") module
        # runs there as the exact one
        act = F.gelu if fast and isinstance(self.activation, GELU) else self.activation
        x = self.linear2(self.dropout(act(self.linear1(x))))
        return self.dropout2(x)


class TransformerDecoderLayer(Module):
    """Masked self-attention, attention over the encoder's memory, and a feed-forward block,
    each with a residual connection and LayerNorm (after, or before with ``norm_first``).

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False).

    Example::

        >>> layer = nn.TransformerDecoderLayer(32, 4, 64, batch_first=True)
        >>> layer(ember.randn(2, 7, 32), ember.randn(2, 10, 32)).shape
        (2, 7, 32)
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation="relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kw = dict(dropout=dropout, bias=bias, batch_first=batch_first, dtype=dtype)
        self.self_attn = MultiheadAttention(d_model, nhead, **kw)
        self.multihead_attn = MultiheadAttention(d_model, nhead, **kw)
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype)
        self.dropout = Dropout(dropout)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype)
        self.norm_first = norm_first
        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout)
        self.dropout2 = Dropout(dropout)
        self.dropout3 = Dropout(dropout)
        self.activation = _activation(activation)
        self.batch_first = batch_first

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ):
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(
                self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal
            )
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(
                x
                + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            )
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal):
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout1(x)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal):
        x = self.multihead_attn(
            x,
            mem,
            mem,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            is_causal=is_causal,
            need_weights=False,
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x):
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)


def _clones(module: Module, n: int) -> ModuleList:
    if n < 0:
        raise ValueError(f"num_layers must be >= 0, got {n}")
    return ModuleList([copy.deepcopy(module) for _ in range(n)])


def _relu_or_gelu(activation) -> bool:
    return activation in (F.relu, F.gelu) or isinstance(activation, (ReLU, GELU))


def _why_not_nested(layer) -> str:
    """Why PyTorch's TransformerEncoder.__init__ turns its nested-tensor fast path off for
    ``layer`` (its checks and words, in its order); "" when the layer is eligible."""
    if not isinstance(layer, TransformerEncoderLayer):
        return "encoder_layer was not TransformerEncoderLayer"
    attn = layer.self_attn
    reasons = (
        (layer.norm_first, "encoder_layer.norm_first was True"),
        (
            not attn.batch_first,
            "encoder_layer.self_attn.batch_first was not True"
            "(use batch_first for better inference performance)",
        ),
        (not attn._qkv_same_embed_dim, "encoder_layer.self_attn._qkv_same_embed_dim was not True"),
        (attn.in_proj_bias is None, "encoder_layer.self_attn was passed bias=False"),
        (not _relu_or_gelu(layer.activation), "encoder_layer.activation_relu_or_gelu was not True"),
        (
            layer.norm1.eps != layer.norm2.eps,
            "encoder_layer.norm1.eps was not equal to encoder_layer.norm2.eps",
        ),
        (attn.num_heads % 2 == 1, "encoder_layer.self_attn.num_heads is odd"),
    )
    return next((why for failed, why in reasons if failed), "")


class TransformerEncoder(Module):
    """A stack of ``num_layers`` copies of ``encoder_layer`` (keys ``layers.0.self_attn...``),
    then an optional final ``norm``.

    forward(src, mask=None, src_key_padding_mask=None, is_causal=None): is_causal=None detects
    a causal ``mask`` (as PyTorch does) and runs the fused kernel in causal mode.
    """

    def __init__(
        self,
        encoder_layer: TransformerEncoderLayer,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ):
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm
        self.enable_nested_tensor = enable_nested_tensor
        self.mask_check = mask_check
        why_not = _why_not_nested(encoder_layer)
        if enable_nested_tensor and why_not:
            warnings.warn(  # PyTorch's notice, word for word
                "enable_nested_tensor is True, but self.use_nested_tensor is False because "
                + why_not,
                stacklevel=3,  # past Module's __init__ wrapper, to the caller
            )
        self.use_nested_tensor = enable_nested_tensor and not why_not

    def _nested_valid(self, src, mask, src_key_padding_mask):
        """PyTorch's inference fast path: in eval mode without gradients, with a (N, S, E) src,
        a left-aligned key padding mask and no attention mask, it runs the layers on a nested
        tensor and pads the result back with zeros, so padded positions come out 0 (before the
        final norm). Returns the (N, S) valid steps when that path applies, else None."""
        first = self.layers[0] if len(self.layers) else None
        if (
            first is None
            or not self.use_nested_tensor
            or first.training
            or src_key_padding_mask is None
            or mask is not None
            or len(src.shape) != 3
        ):
            return None
        if is_grad_enabled() and (
            getattr(src, "requires_grad", False) or any(p.requires_grad for p in first.parameters())
        ):
            return None
        kpm = np.asarray(getattr(src_key_padding_mask, "data", src_key_padding_mask))
        valid = kpm == 0  # bool True / float non-zero marks padding
        if valid.shape != tuple(src.shape[:2]):
            return None
        left_aligned = not np.any(~valid[:, :-1] & valid[:, 1:])  # no valid step after a pad
        if self.mask_check and not left_aligned:
            return None
        # unchecked, PyTorch takes each row's first count(valid) steps as the sequence
        return np.arange(valid.shape[1])[None, :] < valid.sum(1, keepdims=True)

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        first = self.layers[0] if len(self.layers) else None
        bf = getattr(first, "batch_first", False)
        # (the layers' dtype: MultiheadAttention computes in it and wants float masks in it)
        dtype = next((p.dtype for p in self.parameters()), get_default_dtype())
        src_key_padding_mask = _canonical_mask(
            src_key_padding_mask, "src_key_padding_mask", mask, "mask", dtype
        )
        mask = _canonical_mask(mask, "mask", None, "", dtype)
        causal = _detect_causal(mask, is_causal, _seq_len(src, bf))
        valid = self._nested_valid(src, mask, src_key_padding_mask)
        if valid is not None:
            if not valid.any():  # (torch's nested tensor of empty sequences cannot be padded)
                raise RuntimeError(
                    "to_padded_tensor: at least one constituent tensor should have non-zero "
                    f"numel (every sequence of src {tuple(src.shape)} is padding)"
                )
            src_key_padding_mask = Tensor(~valid)
        out = src
        for mod in self.layers:
            out = mod(
                out, src_mask=mask, is_causal=causal, src_key_padding_mask=src_key_padding_mask
            )
        if valid is not None:
            out = Tensor(np.where(valid[..., None], out.data, 0).astype(out.dtype, copy=False))
        if self.norm is not None:
            out = self.norm(out)
        return out


class TransformerDecoder(Module):
    """A stack of ``num_layers`` copies of ``decoder_layer``, then an optional final ``norm``.

    forward(tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None,
    memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False).
    """

    def __init__(self, decoder_layer: TransformerDecoderLayer, num_layers: int, norm=None):
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers)
        self.num_layers = num_layers
        self.norm = norm

    def forward(
        self,
        tgt,
        memory,
        tgt_mask=None,
        memory_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        tgt_is_causal=None,
        memory_is_causal: bool = False,
    ):
        first = self.layers[0] if len(self.layers) else None
        bf = getattr(first, "batch_first", False)
        causal = _detect_causal(tgt_mask, tgt_is_causal, _seq_len(tgt, bf))
        out = tgt
        for mod in self.layers:
            out = mod(
                out,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=causal,
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            out = self.norm(out)
        return out


class Transformer(Module):
    """The encoder-decoder Transformer (Vaswani et al., 2017) with PyTorch's arguments:
    d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048,
    dropout=0.1, activation='relu', layer_norm_eps=1e-5, batch_first=False, norm_first=False,
    bias=True. Parameters with more than one dim are re-initialised xavier_uniform_, as PyTorch.

    forward(src, tgt, src_mask=None, tgt_mask=None, memory_mask=None,
    src_key_padding_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None,
    src_is_causal=None, tgt_is_causal=None, memory_is_causal=False) -> (T, N, E).
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation="relu",
        custom_encoder=None,
        custom_decoder=None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = False,
        norm_first: bool = False,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kw = dict(
            dim_feedforward=dim_feedforward,
            dropout=dropout,
            activation=activation,
            layer_norm_eps=layer_norm_eps,
            batch_first=batch_first,
            norm_first=norm_first,
            bias=bias,
            dtype=dtype,
        )
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(d_model, nhead, **kw),
                num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype),
            )
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(d_model, nhead, **kw),
                num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype),
            )
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first
        for p in self.parameters():
            if p.ndim > 1:
                init.xavier_uniform_(p)

    def forward(
        self,
        src,
        tgt,
        src_mask=None,
        tgt_mask=None,
        memory_mask=None,
        src_key_padding_mask=None,
        tgt_key_padding_mask=None,
        memory_key_padding_mask=None,
        src_is_causal=None,
        tgt_is_causal=None,
        memory_is_causal: bool = False,
    ):
        # PyTorch's own checks (RuntimeError), before the encoder runs (other ranks and
        # non-tensors are the encoder's to refuse)
        ss, ts, b = np.shape(src), np.shape(tgt), 0 if self.batch_first else 1
        if len(ss) == 3 and len(ts) == 3 and ss[b] != ts[b]:
            raise BadShapeOrValue(f"the batch number of src {ss} and tgt {ts} must be equal")
        if ss and ts and (ss[-1] != self.d_model or ts[-1] != self.d_model):
            raise BadShapeOrValue(
                f"the feature number of src {ss} and tgt {ts} must be equal to "
                f"d_model={self.d_model}"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, device=None, dtype=None) -> Tensor:
        """The (sz, sz) float causal mask: 0 on and below the diagonal, -inf above."""
        return generate_square_subsequent_mask(sz, dtype)
