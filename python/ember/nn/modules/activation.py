"""Activation modules: each holds its settings and calls nn.functional."""

from __future__ import annotations

import math
import warnings

import numpy as np

from ember import _lowp, ops
from ember.autograd.function import named as _named
from ember.nn import functional as F
from ember.nn import init
from ember.nn.modules.linear import NonDynamicallyQuantizableLinear
from ember.nn.modules.module import Module, Parameter, _check_size
from ember.tensor import get_default_dtype


class ReLU(Module):
    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, input):
        return F.relu(input, self.inplace)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Sigmoid(Module):
    def forward(self, input):
        return F.sigmoid(input)


class Tanh(Module):
    def forward(self, input):
        return F.tanh(input)


class Softmax(Module):
    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        # dim None: PyTorch's legacy implicit dim (0 for 0/1/3-D, else 1), with its warning
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    def __init__(self, dim: int | None = None):
        super().__init__()
        self.dim = dim

    def forward(self, input):
        # dim None: PyTorch's legacy implicit dim (0 for 0/1/3-D, else 1), with its warning
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01, inplace: bool = False):
        super().__init__()
        self.negative_slope = negative_slope
        self.inplace = inplace

    def forward(self, input):
        return F.leaky_relu(input, self.negative_slope, self.inplace)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}" + (", inplace=True" if self.inplace else "")


class ELU(Module):
    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha = alpha
        self.inplace = inplace

    def forward(self, input):
        return F.elu(input, self.alpha, self.inplace)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class GELU(Module):
    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise F.BadShapeOrValue(  # (torch: RuntimeError)
                f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}"
            )
        self.approximate = approximate

    def forward(self, input):
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Softplus(Module):
    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta = beta
        self.threshold = threshold

    def forward(self, input):
        return F.softplus(input, self.beta, self.threshold)

    def extra_repr(self) -> str:
        return f"beta={self.beta}, threshold={self.threshold}"


# ---- attention (attention branch) ---------------------------------------------------------


class _MaskTypeError(TypeError, AssertionError):
    """A mask neither bool nor float: torch asserts."""


class _MaskShapeError(F.BadShapeOrValue, AssertionError):
    """A mask of a rank MultiheadAttention does not take: torch asserts."""


def _mask_array(mask, name: str):
    """A MultiheadAttention mask as a NumPy array: bool (True = not allowed, PyTorch's MHA
    convention) or float (added to the logits) in its own dtype (see _float_masks)."""
    from ember.tensor import Tensor

    m = mask.data if isinstance(mask, Tensor) else np.asarray(mask)
    if m.dtype == np.bool_ or _lowp.is_float(m.dtype):
        return m
    raise _MaskTypeError(f"MultiheadAttention: {name} must be bool or float, got {m.dtype}")


def _float_masks(masks, dtype, need_weights: bool):
    """PyTorch's dtype rule for the masks, as arrays with the floats in ``dtype``. It adds its
    masks to the logits as they are: a bool mask becomes a float one of the query's dtype, the
    two are summed (promoting), and the sum must have the query's dtype (need_weights: baddbmm)
    or be float32 or the query's (scaled_dot_product_attention). A float32 causal mask with a
    float64 model works so; a NumPy array is converted as any other input."""
    from ember.tensor import Tensor

    q = np.dtype(dtype)
    seen = [
        m.dtype if isinstance(src, Tensor) and m.dtype != np.bool_ else q
        for src, m in masks
        if m is not None
    ]
    if seen:
        merged = seen[0] if len(seen) == 1 else ops.promote_types(*seen)
        if merged != q and (need_weights or merged != np.float32):
            names = " and ".join(f"{m.dtype}" for src, m in masks if m is not None)
            raise F.BadDtype(  # (torch: its matmul's RuntimeError)
                f"MultiheadAttention: float masks ({names}) add up to {merged}, which the "
                f"{q} logits do not take (PyTorch takes the query's dtype"
                f"{'' if need_weights else ' or float32'}"
                f"{' with need_weights=True' if need_weights else ''})"
            )
    return [m if m is None or m.dtype == np.bool_ else m.astype(q, copy=False) for _, m in masks]


def _warn_mismatched(key_padding_mask, attn_mask) -> None:
    """PyTorch's deprecation warning for masks of different dtypes (a bool padding mask with a
    float causal mask, say); both still work."""
    kd, ad = (
        getattr(m, "dtype", None) or np.asarray(m).dtype for m in (key_padding_mask, attn_mask)
    )
    if kd != ad:
        warnings.warn(
            "Support for mismatched key_padding_mask and attn_mask is deprecated. Use same type "
            "for both instead.",
            stacklevel=3,
        )


def _is_causal_mask(m: np.ndarray, lq: int, lk: int) -> bool:
    """True when m (L, S) is exactly the causal mask in MHA terms (bool: True above the
    diagonal; float: -inf above it, 0 elsewhere)."""
    if m.ndim != 2 or m.shape != (lq, lk) or lq != lk:
        return False
    upper = np.triu(np.ones((lq, lk), dtype=bool), 1)
    if m.dtype == np.bool_:
        return bool(np.array_equal(m, upper))
    return bool(np.all(m[upper] == -np.inf) and np.all(m[~upper] == 0))


def _pad_keys(m, extra: int):
    """A mask (..., S) with ``extra`` columns of False / 0 appended (keys that take part)."""
    if m is None:
        return None
    return np.concatenate([m, np.zeros(m.shape[:-1] + (extra,), m.dtype)], axis=-1)


def _mask_delta(masks, extra: int):
    """The float masks that require grad, as a zero-valued Tensor to add to the logits: its
    gradient is the logits' (as PyTorch's, whose float masks are added to them), its value an
    exact 0 (the masks' values already enter as arrays). -inf entries get gradient 0."""
    from ember.tensor import Tensor

    delta = None
    for m, shape in masks:
        if not (isinstance(m, Tensor) and m.requires_grad and _lowp.is_float(m.data.dtype)):
            continue
        m = ops.where(np.isfinite(m.data), m, 0.0).reshape(shape)
        if extra:  # the extra keys' columns get no gradient
            m = ops.cat([m, np.zeros(m.shape[:-1] + (extra,), m.data.dtype)], -1)
        m = m - m.detach()
        delta = m if delta is None else delta + m
    return delta


def _additive(m: np.ndarray, dtype) -> np.ndarray:
    return np.where(m, -np.inf, 0.0).astype(dtype) if m.dtype == np.bool_ else m


def _nan_dead_rows(out, am, kpm, lq: int):
    """out (N, L, E) with NaN in the rows of queries that, in some head, may attend no key: as
    PyTorch's fast paths return them (no gradient flows there: they run without one)."""
    from ember.tensor import Tensor

    blocked = None
    for m in (am, kpm):
        if m is not None:
            b = m if m.dtype == np.bool_ else np.isneginf(m)
            blocked = b if blocked is None else blocked | b
    blocked = np.broadcast_to(blocked, blocked.shape[:-2] + (lq, blocked.shape[-1]))
    dead = blocked.all(-1)  # (L,), (N, H, L) or (N, 1, L)
    if dead.ndim == 3:  # out_proj mixes the heads: one dead head spoils the row
        dead = dead.any(1)
    if not dead.any():
        return out
    return Tensor(np.where(dead[..., None], np.nan, out.data).astype(out.dtype, copy=False))


class MultiheadAttention(Module):
    """Multi-head attention (Vaswani et al., 2017) with PyTorch's arguments, masks and
    parameter names (``in_proj_weight``, ``in_proj_bias``, ``out_proj.weight``/``bias``, or
    ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when kdim/vdim differ from embed_dim).

    Args:
        embed_dim: model width E (divisible by num_heads).
        num_heads: heads H; each has E // H dims.
        dropout: dropout on the attention weights (training only).
        bias: in_proj_bias and out_proj.bias.
        add_bias_kv: learn one extra key and value (``bias_k``, ``bias_v``, each (1, 1, E)),
            appended to every sequence after the projection (S grows by 1).
        add_zero_attn: append a zero key and value to every head (S grows by 1 more).
        kdim, vdim: key / value widths (default E).
        batch_first: inputs are (N, L, E) rather than (L, N, E).

    forward(query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None,
    average_attn_weights=True, is_causal=False) -> (output, weights or None).

    Masks follow PyTorch's MHA convention (the opposite of scaled_dot_product_attention's):
    a bool ``True`` means "may NOT attend"; float masks are added to the logits.
    ``key_padding_mask`` is (N, S) (or (S,) unbatched); ``attn_mask`` is (L, S) or
    (N * H, L, S). ``is_causal`` is a hint that ``attn_mask`` is the causal mask (which must
    then be given, as in PyTorch). Attention runs in the fused kernel; with ``need_weights``
    the weights (N, L, S) averaged over heads, or (N, H, L, S), are computed explicitly as well.

    With add_bias_kv / add_zero_attn the masks get a column per extra key that every query may
    attend (PyTorch pads them with 0 / False), and the weights are (N, L, S + extra).

    A query whose keys are all masked gets NaN weights and output with ``need_weights=True``
    and an output of 0 without (PyTorch's explicit and SDPA paths), except where PyTorch takes
    its eval-mode fast path (see ``_fast_path``), which gives NaN there too and ignores
    is_causal.

    Shape:
        query (L, N, E) / (N, L, E) with batch_first / (L, E) unbatched; key (S, N, kdim);
        value (S, N, vdim) -> output like query.

    Example::

        >>> mha = nn.MultiheadAttention(16, 4, batch_first=True)
        >>> x = ember.randn(2, 5, 16)
        >>> out, w = mha(x, x, x)
        >>> out.shape, w.shape
        ((2, 5, 16), (2, 5, 5))
    """

    _static_kv = (None, None)  # (set only by F.multi_head_attention_forward)

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        add_bias_kv: bool = False,
        add_zero_attn: bool = False,
        kdim: int | None = None,
        vdim: int | None = None,
        batch_first: bool = False,
        device=None,
        dtype=None,
    ):
        super().__init__()
        embed_dim = _check_size("MultiheadAttention", "embed_dim", embed_dim)
        num_heads = _check_size("MultiheadAttention", "num_heads", num_heads)
        if embed_dim % num_heads != 0:  # (PyTorch asserts these: AssertionError)
            raise F._AssertionValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by num_heads "
                f"({num_heads})"
            )
        dtype = np.dtype(dtype or get_default_dtype())
        self.embed_dim = embed_dim
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.batch_first = batch_first
        self.head_dim = embed_dim // num_heads
        e = embed_dim
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(np.empty((3 * e, e), dtype))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.register_parameter("in_proj_weight", None)
            self.q_proj_weight = Parameter(np.empty((e, e), dtype))
            self.k_proj_weight = Parameter(np.empty((e, self.kdim), dtype))
            self.v_proj_weight = Parameter(np.empty((e, self.vdim), dtype))
        if bias:
            self.in_proj_bias = Parameter(np.empty(3 * e, dtype))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = NonDynamicallyQuantizableLinear(e, e, bias=bias, dtype=dtype)
        if add_bias_kv:
            self.bias_k = Parameter(np.empty((1, 1, e), dtype))
            self.bias_v = Parameter(np.empty((1, 1, e), dtype))
        else:
            self.bias_k = self.bias_v = None
        self.add_zero_attn = add_zero_attn
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.zeros_(self.in_proj_bias)
            init.zeros_(self.out_proj.bias)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    reset_parameters = _reset_parameters

    # ---- projections ----------------------------------------------------------------------
    def _project(self, query, key, value):
        e = self.embed_dim
        b = self.in_proj_bias
        bq, bk, bv = (None, None, None) if b is None else (b[:e], b[e : 2 * e], b[2 * e :])
        if self._qkv_same_embed_dim:
            w = self.in_proj_weight
            if query is key and key is value:  # self-attention: one product
                qkv = F.linear(query, w, b)
                return qkv[..., :e], qkv[..., e : 2 * e], qkv[..., 2 * e :]
            wq, wk, wv = w[:e], w[e : 2 * e], w[2 * e :]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        return F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

    # ---- forward --------------------------------------------------------------------------
    def forward(
        self,
        query,
        key,
        value,
        key_padding_mask=None,
        need_weights: bool = True,
        attn_mask=None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ):
        fast = self._fast_path(query, key, value, key_padding_mask, attn_mask)
        return self._attend(
            query,
            key,
            value,
            key_padding_mask,
            need_weights,
            attn_mask,
            average_attn_weights,
            is_causal,
            fast,
        )

    def _fast_path(self, query, key, value, key_padding_mask, attn_mask) -> bool:
        """PyTorch's conditions for its eval-mode fast path (torch._native_multi_head_attention),
        which differs in two visible ways: it ignores is_causal (the mask, if any, runs as
        given; none is no error), and a query whose keys are all masked gets a NaN output row
        (also without need_weights, where the other path gives 0). Float masks keep torch off
        it."""
        from ember.autograd.function import is_grad_enabled
        from ember.tensor import Tensor

        def is_float(m):
            return m is not None and _lowp.is_float(np.asarray(getattr(m, "data", m)).dtype)

        if is_float(attn_mask) or is_float(key_padding_mask) or self.training:
            return False
        w, b = self.in_proj_weight, self.in_proj_bias
        if not (query is key and key is value and isinstance(query, Tensor)):
            return False
        if w is None or b is None or query.dtype != w.dtype or query.dtype != b.dtype:
            return False
        if query.ndim != 3 or self.num_heads % 2 or not self.batch_first:
            return False
        if self.bias_k is not None or self.add_zero_attn or not self._qkv_same_embed_dim:
            return False
        args = (query, w, b, self.out_proj.weight, self.out_proj.bias)
        return not (is_grad_enabled() and any(getattr(t, "requires_grad", False) for t in args))

    def _attend(
        self,
        query,
        key,
        value,
        key_padding_mask,
        need_weights,
        attn_mask,
        average_attn_weights,
        is_causal,
        fast,
    ):
        """forward, told whether PyTorch would take its fast path (see _fast_path; the encoder
        layer has its own conditions for it)."""
        op = "MultiheadAttention"
        dtype = self.out_proj.weight.dtype
        if fast:
            is_causal = False
        same_qk, same_kv = key is query, value is key
        query = F._float_input(query, op, "query", dtype)
        key = query if same_qk else F._float_input(key, op, "key", dtype)
        value = key if same_kv else F._float_input(value, op, "value", dtype)
        batched = query.ndim == 3
        if query.ndim not in (2, 3) or key.ndim != query.ndim or value.ndim != query.ndim:
            raise F._AssertionValueError(
                f"{op}: query, key and value must all be 3-D (batched) or 2-D (unbatched), got "
                f"{query.shape}, {key.shape}, {value.shape}"
            )
        # projected sequence-major, as torch: (L, E) -> (L, 1, E); (N, L, E) -> (L, N, E). The
        # projections keep their inputs as torch's do: a (L, N, E) input itself (a write into
        # it refuses), a batch_first one as the contiguous copy of its transpose (not refused)
        if not batched or self.batch_first:
            query = query.unsqueeze(1) if not batched else query.transpose(0, 1)
            key = query if same_qk else key.unsqueeze(1) if not batched else key.transpose(0, 1)
            value = key if same_kv else value.unsqueeze(1) if not batched else value.transpose(0, 1)
        lq, n, e = query.shape
        s = key.shape[0]
        if e != self.embed_dim:
            raise F._AssertionValueError(
                f"{op}: query's last dim is {e}, expected embed_dim {self.embed_dim}"
            )
        if key.shape[2] != self.kdim or value.shape[2] != self.vdim:
            raise ValueError(
                f"{op}: key/value last dims {key.shape[2]}/{value.shape[2]} must equal kdim/vdim "
                f"{self.kdim}/{self.vdim}"
            )
        if key.shape[:2] != (s, n) or value.shape[:2] != (s, n):
            raise F._AssertionValueError(
                f"{op}: key {key.shape} and value {value.shape} must share batch and length, and "
                f"the batch must match query {query.shape} (shapes as (length, batch, embed))"
            )
        h, hd = self.num_heads, self.head_dim
        static_k, static_v = self._static_kv
        if static_k is not None:  # the keys' length is the given keys' (the masks' S)
            s = static_k.shape[1]

        if key_padding_mask is not None and attn_mask is not None:
            _warn_mismatched(key_padding_mask, attn_mask)
        kpm = None
        if key_padding_mask is not None:
            kpm = _mask_array(key_padding_mask, "key_padding_mask")
            want = (n, s) if batched else (s,)
            if kpm.shape != want:
                raise F._AssertionValueError(
                    f"{op}: key_padding_mask must have shape {want} (batch, source length), got "
                    f"{kpm.shape}"
                )
            kpm = kpm.reshape(n, 1, 1, s)
        am = None
        if attn_mask is not None and is_causal and kpm is None and not need_weights:
            # PyTorch drops the hinted mask for its kernel's causal flag without checking its
            # shape (only its rank): the same causal mask in its place
            if _mask_array(attn_mask, "attn_mask").ndim not in (2, 3):
                raise _MaskShapeError(f"{op}: attn_mask must be 2-D or 3-D, got {attn_mask.shape}")
            attn_mask = np.triu(np.ones((lq, s), bool), 1)
        if attn_mask is not None:
            am = _mask_array(attn_mask, "attn_mask")
            if am.ndim == 2:
                if am.shape != (lq, s):
                    raise F.BadShapeOrValue(
                        f"{op}: 2-D attn_mask must have shape (L, S) = {(lq, s)}, got {am.shape}"
                    )
            elif am.ndim == 3:
                if am.shape != (n * h, lq, s):
                    raise F.BadShapeOrValue(
                        f"{op}: 3-D attn_mask must have shape (N * num_heads, L, S) = "
                        f"{(n * h, lq, s)}, got {am.shape}"
                    )
                am = am.reshape(n, h, lq, s)
            else:
                raise _MaskShapeError(f"{op}: attn_mask must be 2-D or 3-D, got shape {am.shape}")
        elif is_causal:
            raise F.BadShapeOrValue(
                f"{op}: is_causal is a hint that attn_mask is the causal mask: give attn_mask too "
                "(as PyTorch)"
            )
        am, kpm = _float_masks([(attn_mask, am), (key_padding_mask, kpm)], dtype, need_weights)

        # PyTorch runs the hinted causal mask as the kernel's causal flag (top-left aligned, also
        # over extra keys) unless key_padding_mask merges into it (then the mask itself runs,
        # causal or not); an unhinted mask is detected.
        extra = (self.bias_k is not None) + bool(self.add_zero_attn)
        hinted = is_causal and kpm is None
        causal = am is not None and (hinted or (not extra and _is_causal_mask(am, lq, s)))
        delta = _mask_delta(
            [(attn_mask, None if am is None else am.shape), (key_padding_mask, (n, 1, 1, s))],
            extra,
        )
        causal = causal and (delta is None or hinted)  # a learned mask runs as a mask

        q, k, v = self._project(query, key, value)
        if self.bias_k is not None:  # one learned key / value appended to every sequence
            k = ops.cat([k, self.bias_k.expand(1, n, e)], 0)
            v = ops.cat([v, self.bias_v.expand(1, n, e)], 0)
        q = q.reshape(lq, n, h, hd).permute(1, 2, 0, 3)
        k = k.reshape(k.shape[0], n, h, hd).permute(1, 2, 0, 3)  # not -1: n may be 0
        v = v.reshape(v.shape[0], n, h, hd).permute(1, 2, 0, 3)
        # F.multi_head_attention_forward's static keys / values, (N * H, S, head_dim), replace
        # the projected ones (which are still computed, as torch does, and left unused)
        if static_k is not None:
            k = static_k.reshape(n, h, static_k.shape[1], hd)
        if static_v is not None:
            v = static_v.reshape(n, h, static_v.shape[1], hd)
        if self.add_zero_attn:  # a zero key / value per head, after the head split
            zero = np.zeros((n, h, 1, hd), dtype)
            k, v = ops.cat([k, zero], 2), ops.cat([v, zero], 2)
        if extra:  # the extra keys take part everywhere: masks padded with 0 / False
            am, kpm = _pad_keys(am, extra), _pad_keys(kpm, extra)
        p = self.dropout if self.training else 0.0
        if not 0.0 <= p <= 1.0:  # (torch takes any at construction, refuses it in training)
            raise F.BadShapeOrValue(
                f"MultiheadAttention: dropout probability has to be between 0 and 1, but got {p}"
            )

        weights = None
        if need_weights:
            attn, weights = self._explicit(q, k, v, am, kpm, p, delta)
            if average_attn_weights:
                weights = weights.mean(dim=1)
            if not batched:
                weights = weights[0]
        else:
            mask = self._kernel_mask(None if causal else am, kpm, dtype)
            mask = mask if delta is None or causal else delta + mask
            attn = F._attention(q, k, v, mask, p, causal, None)
        out = attn.permute(0, 2, 1, 3).reshape(n, lq, e)
        out = self.out_proj(out)
        if fast and not need_weights and (am is not None or kpm is not None):
            out = _nan_dead_rows(out, am, kpm, lq)
        # the nodes named as torch's last ops: squeeze of the unbatched, the view of (L, N, E)
        # or its transpose for batch_first, and the per-head weights' view
        if not batched:
            out = _named(out[0], "SqueezeBackward1")
        elif not self.batch_first:
            out = _named(out.transpose(0, 1), "ViewBackward0")
        else:
            out = _named(out, "TransposeBackward0")
        if weights is not None and (not batched or not average_attn_weights):
            weights = _named(weights, "SqueezeBackward1" if not batched else "ViewBackward0")
        return out, weights

    @staticmethod
    def _kernel_mask(am, kpm, dtype):
        """Merge the MHA masks into one scaled_dot_product_attention mask (True = takes part),
        kept in its broadcast shape: (L, S), (N, H, L, S), (N, 1, 1, S) or their combination."""
        if am is None and kpm is None:
            return None
        if am is None or kpm is None:
            m = am if kpm is None else kpm
            return ~m if m.dtype == np.bool_ else m
        if am.dtype == np.bool_ and kpm.dtype == np.bool_:
            return ~(am | kpm)
        return _additive(am, dtype) + _additive(kpm, dtype)

    def _explicit(self, q, k, v, am, kpm, p, delta=None):
        """The attention with its weights materialised (need_weights=True)."""
        dtype = self.out_proj.weight.dtype
        # q scaled before the product, as torch's path: an (L, E) pass, not an (L, S) one
        # forward and backward (a few % of a training step). q, k, v are head views of the
        # projections: one contiguous copy each here, which the products (and their backward)
        # then read in place, where each product copied them itself, k by a transposing copy
        q = (q * (1.0 / math.sqrt(self.head_dim))).contiguous()
        k, v = k.contiguous(), v.contiguous()
        scores = q @ k.transpose(-2, -1)
        if delta is not None:
            scores = scores + delta
        add = None
        for m in (am, kpm):
            if m is not None:
                a = _additive(m, dtype)
                add = a if add is None else add + a
        if add is not None:
            # (a row with no key left softmaxes to NaN, as in torch's need_weights path)
            w = F.softmax(scores + np.asarray(add, dtype), dim=-1)
        else:
            w = F.softmax(scores, dim=-1)
        wd = F.dropout(w, p) if p > 0 else w
        return wd @ v, wd
